/*
 * test_recovery.c - roomcast's connection state recovery
 * (gateway/roomcast/recovery.c) over the in-memory history, with the server
 * library on a fake transport (gw_fake.h). A socket accepted with a pid
 * loses its transport; a new session connecting with {pid, offset} gets the
 * old socket id and pid back and exactly the events it missed, in order,
 * also when an event is broadcast while its replay is under way (before or
 * after the replay read the history: a gate on the history's worker
 * orders them); without an offset it replays from where it joined. Recovery is refused (a new socket,
 * nothing replayed) for an unknown pid, another user's session, an offset
 * of another epoch, and a client that left for good. History answers come
 * back through gw_post(): the test runs the posted tasks with a bounded
 * wait, as the loop would.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/history.h"
#include "core/metrics.h"
#include "gateway/roomcast/recovery.h"
#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

static rc_recovery *rec;
static rc_history *hist;
static const char *next_user = "u1"; /* the identity of the next CONNECT */
static gw_socket *last_sk;
static int n_disc;

/* ---- the application: roomcast's recovery behind a token check that
 * always passes ---- */

static rc_auth_identity *identity(const char *sub)
{
    static const char *const programs[] = {"p1"};
    return rc_auth_identity_new(sub, NULL, programs, 1, 0);
}

static int join_rooms(void *ud, gw_socket *sk, const rc_auth_identity *id)
{
    char room[64];
    (void)ud;
    snprintf(room, sizeof room, "user:%s", id->sub);
    if (gw_socket_join(sk, room) < 0)
        return -1;
    for (size_t i = 0; i < id->nprograms; i++) {
        snprintf(room, sizeof room, "program:%s", id->programs[i]);
        if (gw_socket_join(sk, room) < 0)
            return -1;
    }
    return 0;
}

static int authorized(void *ud, const rc_auth_identity *id, const char *program)
{
    (void)ud;
    (void)id;
    return strcmp(program, "p1") == 0;
}

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    last_sk = sk;
    rc_recovery_connect(rec, sk, hs, identity(next_user));
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    (void)ev;
}

static void app_disconnecting(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    rc_recovery_disconnecting(rec, sk);
}

static void app_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    n_disc++;
    rc_recovery_disconnect(rec, sk);
}

static int app_covered(void *ud, const char *offset, const char *floor)
{
    (void)ud;
    return rc_recovery_offset_covered(offset, floor);
}

static const gw_app app = {
    .on_connect = app_connect,
    .on_event = app_event,
    .on_disconnecting = app_disconnecting,
    .on_disconnect = app_disconnect,
    .offset_covered = app_covered,
};

static gw_server *setup(void)
{
    char err[256];
    rc_recovery_hooks hooks = {.join_rooms = join_rooms, .authorized = authorized};
    hist = rc_history_new_memory(100, 3600, err, sizeof err);
    rec = rc_recovery_new(&hooks);
    rc_recovery_set_history(rec, hist, 60000);
    next_user = "u1";
    n_disc = 0;
    gw_options o = fake_options(&app);
    return fake_server(&o);
}

/* In the program's order: no more history answers, then the server. */
static void teardown(gw_server *gw)
{
    rc_recovery_set_history(rec, NULL, 0);
    rc_history_destroy(hist);
    gw_server_free_core(gw);
    rc_recovery_destroy(rec);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Runs posted tasks until s has something queued (at most 5 s). */
static int wait_queued(gw_server *gw, gw_session *s)
{
    for (int i = 0; i < 5000; i++) {
        gw_server_run_tasks(gw);
        if (gw_frame_queue_len(&s->q))
            return 1;
        sleep_ms(1);
    }
    return 0;
}

/* Runs posted tasks until sk has a hold (its replay is under way). */
static int wait_held(gw_server *gw, gw_socket *sk)
{
    for (int i = 0; i < 5000; i++) {
        gw_server_run_tasks(gw);
        if (sk->hold)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

/* A gate on the history's worker: a job whose completion waits until the
 * gate is opened, so that jobs queued after it wait too. Every gate closed
 * must be opened before the history is destroyed. */
static sem_t gate_sem;

static void gate_done(void *ud, void *blob, size_t len)
{
    (void)ud;
    (void)len;
    free(blob);
    while (sem_wait(&gate_sem) < 0 && errno == EINTR)
        ;
}

static void gate_close(void)
{
    CHECK_INT(rc_history_session_take_async(hist, "gate", gate_done, NULL), 0);
}

static void gate_open(void)
{
    sem_post(&gate_sem);
}

/* Waits until a task was posted for the loop (at most 5 s), without
 * running it. */
static int wait_posted(gw_server *gw)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&gw->task_mu);
        int posted = gw->tasks != NULL;
        pthread_mutex_unlock(&gw->task_mu);
        if (posted)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

/* Appends event n to room (durable unless transient), as the consumer
 * does, then publishes and broadcasts it, as the gateway does. The
 * frame a socket gets is left in want (when not NULL). */
static void publish(gw_server *gw, int n, const char *room, int transient, char *want,
                    size_t cap)
{
    char id[32], payload[32];
    rc_event *ev = rc_event_new();
    snprintf(id, sizeof id, "ev-%d", n);
    snprintf(payload, sizeof payload, "{\"n\":%d}", n);
    ev->id = strdup(id);
    ev->name = strdup("request:created");
    ev->payload = strdup(payload);
    ev->payload_len = strlen(payload);
    ev->transient = transient;
    rc_event_add_room(ev, room);
    CHECK_INT(rc_history_append(hist, ev), 1);
    rc_recovery_on_publish(rec, ev);
    gw_broadcast(gw, (const char *const *)ev->rooms, ev->nrooms, ev->name, ev->payload,
                 ev->payload_len, ev->offset, -1);
    if (want && ev->offset[0])
        snprintf(want, cap, "42[\"request:created\",%s,\"%s\"]", payload, ev->offset);
    else if (want)
        snprintf(want, cap, "42[\"request:created\",%s]", payload);
    rc_event_unref(ev);
}

/* The CONNECT reply popped from s: its sid and pid. */
static int connect_reply(gw_session *s, char *sid, char *pid)
{
    const char *f = fake_pop(s);
    if (!f || strncmp(f, "40{", 3) != 0)
        return -1;
    json_t *o = json_loads(f + 2, 0, NULL);
    const char *a = json_string_value(json_object_get(o, "sid"));
    const char *b = json_string_value(json_object_get(o, "pid"));
    snprintf(sid, 32, "%s", a ? a : "");
    snprintf(pid, 64, "%s", b ? b : "");
    json_decref(o);
    return a && b ? 0 : -1;
}

/* A first connection that receives event 2 (offset in off2) and then
 * loses its transport; events 3 and 4 follow while it is away. */
struct first {
    char sid[32], pid[64], off2[64], want[5][128];
};

static void first_connection(gw_server *gw, struct first *fc)
{
    fake_conn ws = {0};
    publish(gw, 1, "program:p1", 0, NULL, 0);
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, "40"), 0);
    CHECK_INT(connect_reply(s, fc->sid, fc->pid), 0);
    CHECK_INT(strlen(fc->pid), 32);
    publish(gw, 2, "program:p1", 0, fc->want[2], sizeof fc->want[2]);
    CHECK_STR(fake_pop(s), fc->want[2]);
    const char *o = strrchr(fc->want[2], ',') + 2;
    snprintf(fc->off2, sizeof fc->off2, "%.*s", (int)(strlen(o) - 2), o);
    gw_session_release(s, &ws); /* lost: its session is kept */
    CHECK_INT(n_disc, 1);
    fake_advance(gw, GW_TICK_MS);
    publish(gw, 3, "program:p1", 0, fc->want[3], sizeof fc->want[3]);
    publish(gw, 4, "user:u1", 0, fc->want[4], sizeof fc->want[4]);
    publish(gw, 5, "program:p2", 0, NULL, 0);     /* not its room */
    publish(gw, 6, "program:p1", 1, NULL, 0);     /* transient: not kept */
}

/*
 * Recovery after event 2, with event 7 broadcast while the replay is under
 * way. The history's worker is held at a gate so that both orders are
 * tested: with in_replay 0 the replay was read before event 7 was appended
 * (7 reaches the socket from its hold), with in_replay 1 after (7 is in the
 * replay, and the held copy is below the floor). Either way: once.
 */
static void recover_with_event_during_replay(int in_replay)
{
    gw_server *gw = setup();
    struct first fc;
    first_connection(gw, &fc);
    long recovered = (long)rc_counter_get(&rc_metrics.recoveries[RC_M_RECOVERED]);
    long replayed = (long)rc_counter_get(&rc_metrics.replayed);
    long timed = (long)rc_prom_histogram_count(&rc_metrics.replay_time[RC_M_REPLAY_RECOVERY]);

    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    char auth[256], sid[32], pid[64], want7[128], want8[128];
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\",\"offset\":\"%s\"}", fc.pid, fc.off2);
    gate_close();
    CHECK_INT(fake_feed(s, &ws, auth), 0);
    gw_socket *sk = last_sk;
    gate_open();
    gate_close(); /* after the session take: the replay waits */
    CHECK(wait_held(gw, sk));
    CHECK(fake_pop(s) == NULL); /* not answered yet */
    if (!in_replay) {
        gate_open();
        CHECK(wait_posted(gw));
    }
    publish(gw, 7, "program:p1", 0, want7, sizeof want7);
    CHECK(fake_pop(s) == NULL);
    if (in_replay)
        gate_open();
    CHECK(wait_queued(gw, s));
    CHECK_INT(connect_reply(s, sid, pid), 0);
    CHECK_STR(sid, fc.sid);
    CHECK_STR(pid, fc.pid);
    CHECK_STR(fake_pop(s), fc.want[3]);
    CHECK_STR(fake_pop(s), fc.want[4]);
    CHECK_STR(fake_pop(s), want7);
    CHECK(fake_pop(s) == NULL);
    CHECK_INT(rc_counter_get(&rc_metrics.recoveries[RC_M_RECOVERED]), recovered + 1);
    CHECK_INT(rc_counter_get(&rc_metrics.replayed), replayed + (in_replay ? 3 : 2));
    CHECK_INT(rc_prom_histogram_count(&rc_metrics.replay_time[RC_M_REPLAY_RECOVERY]), timed + 1);
    /* back in its rooms, live */
    size_t nr;
    gw_socket **v = gw_socket_room_list(gw, "program:p1", &nr);
    CHECK(nr == 1 && v && v[0] == sk);
    publish(gw, 8, "program:p1", 0, want8, sizeof want8);
    CHECK_STR(fake_pop(s), want8);
    CHECK(fake_pop(s) == NULL);
    teardown(gw);
}

static void test_recover_missed_events(void)
{
    recover_with_event_during_replay(0);
    recover_with_event_during_replay(1);
}

static void test_recover_from_base(void)
{
    gw_server *gw = setup();
    struct first fc;
    first_connection(gw, &fc);
    /* no offset: it replays from the last event broadcast when it joined
     * (event 1), so event 2, which it did get, comes again */
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    char auth[128], sid[32], pid[64];
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\"}", fc.pid);
    CHECK_INT(fake_feed(s, &ws, auth), 0);
    CHECK(wait_queued(gw, s));
    CHECK_INT(connect_reply(s, sid, pid), 0);
    CHECK_STR(sid, fc.sid);
    CHECK_STR(fake_pop(s), fc.want[2]);
    CHECK_STR(fake_pop(s), fc.want[3]);
    CHECK_STR(fake_pop(s), fc.want[4]);
    CHECK(fake_pop(s) == NULL);
    teardown(gw);
}

/* Connects with auth on a new session and expects a new socket: new sid
 * and pid, nothing replayed. */
static void expect_fresh(gw_server *gw, const char *auth, const struct first *fc)
{
    fake_conn ws = {0};
    char sid[32], pid[64];
    long not_recovered = (long)rc_counter_get(&rc_metrics.recoveries[RC_M_NOT_RECOVERED]);
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, auth), 0);
    CHECK(wait_queued(gw, s));
    CHECK_INT(connect_reply(s, sid, pid), 0);
    CHECK(strcmp(sid, fc->sid) != 0);
    CHECK(strcmp(pid, fc->pid) != 0);
    CHECK_INT(strlen(pid), 32);
    CHECK(fake_pop(s) == NULL);
    CHECK_INT(rc_counter_get(&rc_metrics.recoveries[RC_M_NOT_RECOVERED]), not_recovered + 1);
    /* the rooms of a new connection */
    size_t n;
    CHECK(gw_socket_room_list(gw, "program:p1", &n) && n == 1);
    gw_session_release(s, &ws);
    fake_advance(gw, GW_TICK_MS);
}

static void test_not_recovered(void)
{
    char auth[256];
    struct first fc;
    /* an unknown pid */
    gw_server *gw = setup();
    first_connection(gw, &fc);
    snprintf(auth, sizeof auth, "40{\"pid\":\"%032x\",\"offset\":\"%s\"}", 7, fc.off2);
    expect_fresh(gw, auth, &fc);
    teardown(gw);

    /* another user's session */
    gw = setup();
    first_connection(gw, &fc);
    next_user = "u2";
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\",\"offset\":\"%s\"}", fc.pid, fc.off2);
    fake_conn ws = {0};
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, auth), 0);
    CHECK(wait_queued(gw, s));
    char sid[32], pid[64];
    CHECK_INT(connect_reply(s, sid, pid), 0);
    CHECK(strcmp(sid, fc.sid) != 0);
    CHECK(fake_pop(s) == NULL);
    teardown(gw);

    /* an offset of another epoch */
    gw = setup();
    first_connection(gw, &fc);
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\",\"offset\":\"otherepoch-1\"}", fc.pid);
    expect_fresh(gw, auth, &fc);
    teardown(gw);
}

static void test_left_for_good(void)
{
    gw_server *gw = setup();
    fake_conn ws = {0};
    char sid[32], pid[64], auth[128];
    publish(gw, 1, "program:p1", 0, NULL, 0); /* its replay point */
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, "40"), 0);
    CHECK_INT(connect_reply(s, sid, pid), 0);
    /* the client leaves the namespace: its session is forgotten */
    CHECK_INT(fake_feed(s, &ws, "41"), 0);
    publish(gw, 2, "program:p1", 0, NULL, 0);
    struct first fc;
    snprintf(fc.sid, sizeof fc.sid, "%s", sid);
    snprintf(fc.pid, sizeof fc.pid, "%s", pid);
    snprintf(auth, sizeof auth, "40{\"pid\":\"%s\"}", pid);
    gw_session_release(s, &ws);
    fake_advance(gw, GW_TICK_MS);
    expect_fresh(gw, auth, &fc);
    teardown(gw);
}

/* What the store holds under pid now: 1 a session, 0 none (taken out). */
static sem_t probe_sem;
static int probe_found;

static void probe_done(void *ud, void *blob, size_t len)
{
    (void)ud;
    probe_found = blob != NULL && len > 0;
    free(blob);
    sem_post(&probe_sem);
}

static int stored(const char *pid)
{
    CHECK_INT(rc_history_session_take_async(hist, pid, probe_done, NULL), 0);
    while (sem_wait(&probe_sem) < 0 && errno == EINTR)
        ;
    return probe_found;
}

/*
 * The memory store dies with the node, so it is only given a session once
 * the socket is lost; while connected, nothing is stored (Redis gets live
 * puts so that a session outlives a node killed with -9).
 */
static void test_memory_store_keeps_only_lost(void)
{
    gw_server *gw = setup();
    fake_conn ws = {0};
    char sid[32], pid[64];
    CHECK_INT(rc_history_durable(hist), 0);
    gw_session *s = fake_ws_session(gw, &ws);
    CHECK_INT(fake_feed(s, &ws, "40"), 0);
    CHECK_INT(connect_reply(s, sid, pid), 0);
    CHECK_INT(stored(pid), 0);
    gw_session_release(s, &ws); /* lost: now the session is kept */
    fake_advance(gw, GW_TICK_MS);
    CHECK_INT(stored(pid), 1);
    teardown(gw);
}

int main(void)
{
    fake_quiet();
    sem_init(&gate_sem, 0, 0);
    sem_init(&probe_sem, 0, 0);
    test_recover_missed_events();
    test_recover_from_base();
    test_not_recovered();
    test_left_for_good();
    test_memory_store_keeps_only_lost();
    sem_destroy(&gate_sem);
    sem_destroy(&probe_sem);
    return CHECK_DONE();
}
