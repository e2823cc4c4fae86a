/*
 * test_history.c - in-memory history: dedupe, offsets, per-room rings,
 * all-or-nothing replay by offset and by time, idle rooms, transient
 * events, publish order, asynchronous replays, memberships, sessions.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/history.h"
#include "tests/unit/history_helpers.h"
#include "tests/unit/check.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rc_event *mk(const char *id, const char *r1, const char *r2, int transient)
{
    rc_event *ev = rc_event_new();
    ev->occurred_ms = now_ms();
    ev->id = strdup(id);
    ev->name = strdup("request:created");
    ev->payload = strdup("{}");
    ev->payload_len = 2;
    ev->transient = transient;
    if (r1)
        rc_event_add_room(ev, r1);
    if (r2)
        rc_event_add_room(ev, r2);
    return ev;
}

static char published[64][64];
static int npublished;

static void on_event(void *ud, rc_event *ev)
{
    (void)ud;
    if (npublished < 64)
        snprintf(published[npublished++], 64, "%s@%s", ev->id, ev->offset);
}

static int append(rc_history *h, const char *id, const char *r1, const char *r2,
                  int transient, char *offset_out)
{
    rc_event *ev = mk(id, r1, r2, transient);
    int rc = rc_history_append(h, ev);
    if (offset_out)
        strcpy(offset_out, ev->offset);
    rc_event_unref(ev);
    return rc;
}

static void test_offsets_and_dedupe(void)
{
    char err[128], o1[RC_OFFSET_MAX], o2[RC_OFFSET_MAX], o3[RC_OFFSET_MAX];
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    CHECK(h != NULL);
    npublished = 0;
    rc_history_subscribe(h, on_event, NULL);
    const char *epoch = rc_history_epoch(h);
    CHECK(strlen(epoch) == 16);

    CHECK_INT(append(h, "a", "program:p1", NULL, 0, o1), 1);
    CHECK_INT(append(h, "b", "program:p1", "user:u1", 0, o2), 1);
    CHECK_INT(append(h, "a", "program:p1", NULL, 0, NULL), 0); /* duplicate */
    CHECK_INT(append(h, "t", "user:u1", NULL, 1, o3), 1);      /* transient */
    char want[64];
    snprintf(want, sizeof want, "%s-1", epoch);
    CHECK_STR(o1, want);
    snprintf(want, sizeof want, "%s-2", epoch);
    CHECK_STR(o2, want);
    CHECK_STR(o3, "");
    CHECK_INT(npublished, 3); /* the duplicate is not published */
    snprintf(want, sizeof want, "a@%s-1", epoch);
    CHECK_STR(published[0], want);
    CHECK_STR(published[2], "t@");

    char ep[32];
    uint64_t seq;
    CHECK_INT(rc_offset_parse(o2, ep, sizeof ep, &seq), 0);
    CHECK_STR(ep, epoch);
    CHECK_INT(seq, 2);
    CHECK(rc_offset_parse("nodash", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-12x", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-99999999999999999999999", ep, sizeof ep, &seq) < 0);
    rc_history_destroy(h);
}

static void test_replay(void)
{
    char err[128], o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_history *h = rc_history_new_memory(3, 60, err, sizeof err);
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};

    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    append(h, "e1", "program:p1", NULL, 0, o[1]);
    append(h, "e2", "program:p2", NULL, 0, o[2]);
    append(h, "e3", "program:p1", "user:u1", 0, o[3]);
    append(h, "e4", "user:u1", NULL, 1, o[4]); /* transient: never replayed */
    append(h, "e5", "user:u1", NULL, 0, o[5]);

    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3); /* e1, e3 once though in both rooms, e5 */
    if (n == 3) {
        CHECK_STR(evs[0]->id, "e1");
        CHECK_STR(evs[1]->id, "e3");
        CHECK_STR(evs[2]->id, "e5");
    }
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    CHECK_INT(rc_history_replay(h, rooms, 2, o[3], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(evs[0]->id, "e5");
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    /* Nothing missed: empty but OK. */
    CHECK_INT(rc_history_replay(h, rooms, 2, o[5], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);

    /* p1 keeps 3: after two more, e1 is lost; a replay from before it is a gap. */
    append(h, "e6", "program:p1", NULL, 0, o[6]);
    append(h, "e7", "program:p1", NULL, 0, o[7]);
    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_GAP);
    CHECK(evs == NULL && n == 0);
    CHECK_INT(rc_history_replay(h, rooms, 2, o[1], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 4); /* e3 e5 e6 e7 */
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    /* Another epoch, malformed, from the future. */
    CHECK_INT(rc_history_replay(h, rooms, 2, "0000000000000000-1", &evs, &n), RC_REPLAY_EPOCH);
    CHECK_INT(rc_history_replay(h, rooms, 2, "garbage", &evs, &n), RC_REPLAY_INVALID);
    char future[64];
    snprintf(future, sizeof future, "%s-999", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, rooms, 2, future, &evs, &n), RC_REPLAY_INVALID);
    rc_history_destroy(h);
}

static void test_many(void)
{
    char err[128], id[32];
    rc_history *h = rc_history_new_memory(1000, 60, err, sizeof err);
    for (int i = 0; i < 20000; i++) {
        char room[32];
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(room, sizeof room, "user:%d", i % 500);
        CHECK_INT(append(h, id, room, "program:all", 0, NULL), 1);
    }
    CHECK_INT(append(h, "id-19999", "program:all", NULL, 0, NULL), 0);
    rc_history_destroy(h);
}

static int append_at(rc_history *h, const char *id, const char *r1, const char *r2,
                     int64_t occurred)
{
    rc_event *ev = mk(id, r1, r2, 0);
    ev->occurred_ms = occurred;
    int rc = rc_history_append(h, ev);
    rc_event_unref(ev);
    return rc;
}

static atomic_int gaps;

static void on_gap(void *ud)
{
    (void)ud;
    atomic_fetch_add(&gaps, 1);
}

static void test_basics(void)
{
    char err[128] = "x";
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    CHECK_STR(err, "");
    CHECK_STR(rc_history_backend(h), "memory");
    CHECK_INT(rc_history_ready(h), 1);
    rc_history_on_gap(h, on_gap, NULL);
    npublished = 0;
    rc_history_subscribe(h, on_event, NULL);
    CHECK_INT(append(h, "a", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(npublished, 1);
    CHECK_INT(atomic_load(&gaps), 0); /* an in-process bus never misses */
    rc_history_destroy(h);
}

static void test_since(void)
{
    char err[128];
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    int64_t start = now_ms();
    rc_history *h = rc_history_new_memory(3, 60, err, sizeof err);
    int64_t t = start + 1000;
    append_at(h, "e1", "program:p1", NULL, t + 10);
    append_at(h, "e2", "user:u1", NULL, t + 20);
    append_at(h, "e3", "program:p1", "user:u1", t + 5);
    append_at(h, "e4", "program:p1", NULL, t + 40);

    CHECK_INT(rc_history_replay_since(h, rooms, 2, t + 15, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 2); /* e2, e4 in offset order */
    if (n == 2) {
        CHECK_STR(evs[0]->id, "e2");
        CHECK_STR(evs[1]->id, "e4");
    }
    free_evs(evs, n);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, t, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 4); /* e3 once */
    free_evs(evs, n);
    /* Older than the store, older than the TTL window. */
    CHECK_INT(rc_history_replay_since(h, rooms, 2, start - 1000, &evs, &n), RC_REPLAY_GAP);
    CHECK(evs == NULL && n == 0);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, now_ms() - 61000, &evs, &n), RC_REPLAY_GAP);
    /* p1 keeps 3: e5 evicts e1 (occurred t+10). */
    append_at(h, "e5", "program:p1", NULL, t + 50);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, t + 9, &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, t + 10, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3); /* e2 e4 e5 */
    free_evs(evs, n);
    rc_history_destroy(h);
}

static void test_idle_rooms(void)
{
    char err[128], o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_event **evs;
    size_t n;
    const char *p1[] = {"program:p1"}, *p3[] = {"program:p3"}, *p5[] = {"program:p5"};
    rc_history *h = rc_history_new_memory(100, 1, err, sizeof err);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    append(h, "e1", "program:p1", NULL, 0, o[1]);
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    free_evs(evs, n);
    sleep_ms(1300);
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p1, 1, o[1], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    append(h, "e2", "program:p2", NULL, 0, o[2]);
    append(h, "e3", "program:p3", NULL, 0, o[3]);
    sleep_ms(2300);
    append(h, "e4", "program:p4", NULL, 0, o[4]); /* sweeps the idle rooms away */
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    append(h, "e5", "program:p3", NULL, 0, o[5]); /* p3 again: e3 is still known lost */
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p3, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(evs[0]->id, "e5");
    free_evs(evs, n);
    CHECK_INT(rc_history_replay(h, p5, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    /* A dedupe entry expires with the TTL too. */
    CHECK_INT(append(h, "e1", "program:p1", NULL, 0, NULL), 1);
    rc_history_destroy(h);
}

static atomic_int done_calls, done_unavailable;

static void count_done(void *ud, int status, rc_event **evs, size_t n)
{
    (void)ud;
    atomic_fetch_add(&done_calls, 1);
    if (status == RC_REPLAY_UNAVAILABLE)
        atomic_fetch_add(&done_unavailable, 1);
    free_evs(evs, n);
}

static void test_async(void)
{
    char err[128], o1[RC_OFFSET_MAX];
    const char *rooms[] = {"program:p1"};
    struct waiter w;
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    sem_init(&w.sem, 0, 0);
    append(h, "a", "program:p1", NULL, 0, o1);
    append(h, "b", "program:p1", NULL, 0, NULL);
    CHECK_INT(rc_history_replay_async(h, rooms, 1, o1, replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_OK);
    CHECK_INT(w.n, 1);
    if (w.n == 1)
        CHECK_STR(w.evs[0]->id, "b");
    free_evs(w.evs, w.n);
    CHECK_INT(rc_history_replay_async(h, rooms, 1, "bad", replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_INVALID);
    CHECK_INT(rc_history_replay_since_async(h, rooms, 1, now_ms() - 120000, replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_GAP);
    sem_destroy(&w.sem);

    /* Every queued job gets its answer exactly once, even when destroyed. */
    int queued = 0;
    for (int i = 0; i < 2000; i++)
        queued += rc_history_replay_async(h, rooms, 1, o1, count_done, NULL) == 0;
    CHECK(queued > 0);
    rc_history_destroy(h);
    CHECK_INT(atomic_load(&done_calls), queued);
}


static int member(rc_history *h, const char *id, enum rc_member_op op, const char *user,
                  const char *program)
{
    rc_event *ev = mk(id, "program:x", NULL, 0);
    ev->member_op = op;
    ev->member_user = strdup(user);
    ev->member_program = strdup(program);
    int rc = rc_history_append(h, ev);
    rc_event_unref(ev);
    return rc;
}

/* The memory history keeps no memberships: a single node rebuilds them
 * from the membership topic. Member events are stored like any other. */
static void test_members(void)
{
    char err[128];
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    npairs = 0;
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), 0);
    CHECK_INT(npairs, 0);
    CHECK_INT(member(h, "m1", RC_MEMBER_ADD, "u1", "p1"), 1);
    CHECK_INT(member(h, "m2", RC_MEMBER_REMOVE, "u1", "p1"), 1);
    CHECK_INT(member(h, "m3", RC_MEMBER_ADD, "u2", "p1"), 1);
    CHECK_INT(member(h, "m3", RC_MEMBER_ADD, "u2", "p1"), 0); /* duplicate */
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), 0);
    CHECK_INT(npairs, 0);
    CHECK(!has_pair("u2:p1"));
    rc_history_destroy(h);
}

static void take(rc_history *h, const char *pid, struct waiter *w)
{
    w->blob = (void *)1;
    w->len = 99;
    CHECK_INT(rc_history_session_take_async(h, pid, session_done, w), 0);
    sem_wait(&w->sem);
}

static void test_sessions(void)
{
    char err[128];
    struct waiter w;
    const char blob[] = "{\"sid\":\"s1\"}\0binary";
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    sem_init(&w.sem, 0, 0);
    CHECK_INT(rc_history_session_put(h, "pid1", blob, sizeof blob, 60000), 0);
    take(h, "pid1", &w);
    CHECK(w.blob != NULL);
    CHECK_INT(w.len, sizeof blob);
    if (w.blob && w.len == sizeof blob)
        CHECK(memcmp(w.blob, blob, sizeof blob) == 0);
    free(w.blob);
    take(h, "pid1", &w); /* taken once only */
    CHECK(w.blob == NULL);
    CHECK_INT(w.len, 0);
    /* A later put replaces. */
    CHECK_INT(rc_history_session_put(h, "pid2", "old", 3, 60000), 0);
    CHECK_INT(rc_history_session_put(h, "pid2", "new!", 4, 60000), 0);
    take(h, "pid2", &w);
    CHECK(w.blob && w.len == 4 && !memcmp(w.blob, "new!", 4));
    free(w.blob);
    /* Expiry. */
    CHECK_INT(rc_history_session_put(h, "pid3", "y", 1, 100), 0);
    sleep_ms(250);
    take(h, "pid3", &w);
    CHECK(w.blob == NULL);
    /* Bad arguments. */
    char longpid[RC_SESSION_PID_MAX + 2];
    memset(longpid, 'p', sizeof longpid - 1);
    longpid[sizeof longpid - 1] = '\0';
    CHECK_INT(rc_history_session_put(h, "", "y", 1, 100), -1);
    CHECK_INT(rc_history_session_put(h, longpid, "y", 1, 100), -1);
    CHECK_INT(rc_history_session_put(h, "p", "y", 1, 0), -1);
    CHECK_INT(rc_history_session_put(h, "p", "y", RC_SESSION_MAX + 1, 100), -1);
    CHECK_INT(rc_history_session_take_async(h, longpid, session_done, &w), -1);
    /* Left for destroy to free. */
    CHECK_INT(rc_history_session_put(h, "pid4", "z", 1, 60000), 0);
    rc_history_destroy(h);
    sem_destroy(&w.sem);
}

int main(void)
{
    test_offsets_and_dedupe();
    test_replay();
    test_many();
    test_basics();
    test_since();
    test_idle_rooms();
    test_async();
    test_members();
    test_sessions();
    return CHECK_DONE();
}
