/*
 * test_history_redis.c - the Redis history against a real redis-server
 * started on a free loopback port: the cases every backend shares
 * (history_cases.h: offsets and dedupe, replay by offset and by time, TTL
 * and idle rooms, asynchronous replays, sessions), with the keys they leave
 * in Redis, then what is Redis's own: URLs, malformed bus messages, one
 * order across two writers, control messages heard by every node, the
 * epoch after FLUSHALL, memberships and
 * sessions shared by nodes, and a server that stops answering or dies.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/history.h"
#include "tests/unit/check.h"
#include "tests/unit/history_helpers.h"
#include "tests/unit/history_cases.h"

/* ---- the server ---- */

static pid_t redis_pid = -1;
static int redis_port;
static char redis_dir[64];
static char url[64];

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        perror("free port");
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *cli(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void redis_start(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    if (redis_pid < 0) {
        perror("fork");
        exit(2);
    }
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port,
               "--save", "", "--appendonly", "no", "--dir", redis_dir,
               "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        redisContext *c = cli();
        if (c) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            redisFree(c);
            if (ok)
                return;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "redis-server did not start on port %d\n", redis_port);
    exit(2);
}

static void redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGCONT);
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

static void cleanup(void)
{
    redis_kill();
    if (redis_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", redis_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", redis_dir);
    }
}

static redisReply *cmd(const char *fmt, const char *arg)
{
    redisContext *c = cli();
    if (!c)
        return NULL;
    redisReply *r = redisCommand(c, fmt, arg);
    redisFree(c);
    return r;
}

static void flushall(void)
{
    freeReplyObject(cmd("FLUSHALL", NULL));
}

static long long redis_int(const char *fmt, const char *arg)
{
    redisReply *r = cmd(fmt, arg);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    freeReplyObject(r);
    return v;
}

/* ---- histories ---- */

static int wait_ready(rc_history *h, int want, int ms)
{
    int64_t until = rc_clock_wall_ms() + ms;
    while (rc_history_ready(h) != want && rc_clock_wall_ms() < until)
        sleep_ms(20);
    return rc_history_ready(h);
}

static rc_history *open_sub(int max, int ttl, struct sink *s)
{
    char err[256] = "x";
    rc_history *h = opened(rc_history_new_redis(url, max, ttl, err, sizeof err), err, s);
    if (s)
        CHECK_INT(wait_ready(h, 1, 3000), 1); /* the bus is subscribed */
    return h;
}

/* ---- tests ---- */

static void test_url(void)
{
    char err[256];
    const char *bad[] = {"", "http://x:1", "redis://", "redis://:6379", "redis://h:0",
                         "redis://h:65536", "redis://h:12x", "redis://h:1/", "redis://h:1/a",
                         "redis://h:1/0?x=1", "redis://h h:1", "redis://[::1", "redis://u@h:1",
                         "rediss://h:1", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        rc_history *h = rc_history_new_redis(bad[i], 10, 60, err, sizeof err);
        CHECK(h == NULL);
        CHECK(err[0] != '\0');
        rc_history_destroy(h);
    }
    /* Well-formed, nothing listening there: still a history, not ready. */
    rc_history *h = rc_history_new_redis("redis://127.0.0.1:1/3", 10, 60, err, sizeof err);
    CHECK(h != NULL);
    if (h) {
        CHECK_STR(err, "");
        CHECK_STR(rc_history_backend(h), "redis");
        CHECK_INT(rc_history_durable(h), 1);
        CHECK_INT(rc_history_ready(h), 0);
        CHECK_INT(append(h, "x", "program:p1", NULL, 0, NULL), -1);
        rc_history_destroy(h);
    }
}

/* The backend the shared cases run against: a flushed store each time. */
static rc_history *open_redis(int max, int ttl, struct sink *s)
{
    flushall();
    return open_sub(max, ttl, s);
}

static int64_t redis_store_start(rc_history *h)
{
    (void)h;
    return redis_int("GET roomcast:epoch:start", NULL);
}

/* What the shared cases leave in Redis. */
static void redis_probe(rc_history *h, const char *point)
{
    if (!strcmp(point, "new store")) {
        CHECK_STR(rc_history_backend(h), "redis");
        CHECK_STR(rc_history_epoch(h), ""); /* an empty store has no epoch yet */
    } else if (!strcmp(point, "two stored, duplicates dropped")) {
        CHECK_INT(redis_int("GET roomcast:seq", NULL), 2);
        CHECK_INT(redis_int("XLEN roomcast:room:program:p1", NULL), 2);
        CHECK_INT(redis_int("EXISTS roomcast:room:program:p9", NULL), 0);
    } else if (!strcmp(point, "transient not stored")) {
        CHECK_INT(redis_int("XLEN roomcast:room:user:u1", NULL), 1);
        CHECK_INT(redis_int("GET roomcast:seq", NULL), 2);
    } else if (!strcmp(point, "p1 trimmed to 3")) {
        CHECK_INT(redis_int("XLEN roomcast:room:program:p1", NULL), 3);
    } else if (!strcmp(point, "idle room gone")) {
        CHECK_INT(redis_int("EXISTS roomcast:room:program:p3", NULL), 0);
    } else if (!strcmp(point, "log keeps the TTL window")) {
        CHECK(redis_int("XLEN roomcast:log", NULL) <= 2);
    }
}

static const struct backend redis = {open_redis, redis_store_start, redis_probe};

/* Malformed bus messages are dropped; the next good one still arrives. */
static void test_bus_junk(void)
{
    struct sink s;
    flushall();
    sink_init(&s);
    rc_history *h = open_sub(10, 60, &s);
    const char *junk[] = {"garbage", "{\"offset\":\"\"}\n{}", "{}\n{}",
                          "{\"offset\":\"x-1\",\"id\":\"j\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\nnot json",
                          "{\"offset\":\"x-1\",\"id\":\"j\",\"name\":\"n\",\"rooms\":[1],\"ts\":1}\n{}",
                          "{\"offset\":\"\",\"id\":\"j\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}", /* stored without offset */
                          "{\"offset\":\"x-1\",\"id\":\"j\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"member\":{\"op\":\"x\",\"user\":\"u\",\"program\":\"p\"}}\n{}",
                          NULL};
    redisContext *c = cli();
    for (int i = 0; junk[i]; i++)
        freeReplyObject(redisCommand(c, "PUBLISH roomcast:bus %s", junk[i]));
    redisFree(c);
    CHECK_INT(append(h, "c", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(wait_count(&s, 1, 3000), 1);
    sleep_ms(100);
    CHECK_INT(sink_count(&s), 1);
    pthread_mutex_lock(&s.mu);
    if (s.n == 1)
        CHECK_STR(s.evs[0]->id, "c");
    pthread_mutex_unlock(&s.mu);
    CHECK_INT(atomic_load(&s.gaps), 0);
    rc_history_destroy(h);
    sink_free(&s);
}

/*
 * A batch whose second event the script refuses (a room key holding a
 * string, so XADD fails): the first is appended and answered, the refused
 * one is half-way (its first room has it, its eventId is not recorded),
 * the third is not touched. Retried once the key is fixed, from the
 * refused one: each is appended in full and published once, in order.
 */
static void test_batch_refused(void)
{
    struct sink s;
    int res[3] = {-1, -1, -1};
    rc_event *evs[3];
    flushall();
    sink_init(&s);
    rc_history *h = open_sub(10, 60, &s);
    CHECK_INT(append(h, "x0", "program:p0", NULL, 0, NULL), 1); /* the seq key exists */
    freeReplyObject(cmd("SET roomcast:room:program:bad %s", "not a stream"));
    evs[0] = mk("x1", "program:p1", NULL, 0, rc_clock_wall_ms());
    evs[1] = mk("x2", "program:p3", "program:bad", 0, rc_clock_wall_ms());
    evs[2] = mk("x3", "program:p1", NULL, 0, rc_clock_wall_ms());
    CHECK_INT(rc_history_append_batch(h, evs, 3, res), 1);
    CHECK_INT(res[0], 1);
    CHECK_INT(res[1], -1); /* untouched */
    CHECK_STR(evs[1]->offset, "");
    CHECK_STR(evs[2]->offset, "");
    CHECK_INT(redis_int("EXISTS roomcast:eid:x1", NULL), 1);
    CHECK_INT(redis_int("EXISTS roomcast:eid:x2", NULL), 0);
    CHECK_INT(redis_int("EXISTS roomcast:eid:x3", NULL), 0);
    CHECK_INT(redis_int("XLEN roomcast:room:program:p1", NULL), 1);
    CHECK_INT(redis_int("XLEN roomcast:room:program:p3", NULL), 1); /* half-way */
    CHECK_INT(wait_count(&s, 2, 3000), 2);
    sleep_ms(100);
    CHECK_INT(sink_count(&s), 2); /* neither x2 nor x3 was published */
    /* The store refuses again: nothing more. */
    CHECK_INT(rc_history_append_batch(h, evs + 1, 2, res + 1), 0);
    CHECK_INT(redis_int("EXISTS roomcast:eid:x3", NULL), 0);

    freeReplyObject(cmd("DEL roomcast:room:program:bad", NULL));
    CHECK_INT(rc_history_append_batch(h, evs + 1, 2, res + 1), 2);
    CHECK_INT(res[1], 1);
    CHECK_INT(res[2], 1);
    char e[32];
    uint64_t s0, s1, s2;
    CHECK_INT(rc_offset_parse(evs[0]->offset, e, sizeof e, &s0), 0);
    CHECK_INT(rc_offset_parse(evs[1]->offset, e, sizeof e, &s1), 0);
    CHECK_INT(rc_offset_parse(evs[2]->offset, e, sizeof e, &s2), 0);
    CHECK(s0 < s1 && s1 < s2);
    CHECK_INT(redis_int("XLEN roomcast:room:program:bad", NULL), 1);
    CHECK_INT(redis_int("GET roomcast:seq", NULL), (long long)s2);
    CHECK_INT(wait_count(&s, 4, 3000), 4);
    /* All three again, as Kafka would redeliver them: duplicates. */
    CHECK_INT(rc_history_append_batch(h, evs, 3, res), 3);
    CHECK(res[0] == 0 && res[1] == 0 && res[2] == 0);
    sleep_ms(100);
    pthread_mutex_lock(&s.mu);
    CHECK_INT(s.n, 4);
    for (int i = 0; i < 3 && i + 1 < s.n; i++)
        CHECK_STR(s.evs[i + 1]->id, evs[i]->id);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 3; i++)
        rc_event_unref(evs[i]);
    rc_history_destroy(h);
    sink_free(&s);
}

/* The seq key and the log lost between batches: the seq of each event is
 * still above the last id of the rooms it goes to, so no XADD fails, and
 * the key is written again. */
static void test_seq_lost(void)
{
    int res[2];
    rc_event *evs[2];
    flushall();
    rc_history *h = open_sub(10, 60, NULL);
    CHECK_INT(append(h, "q1", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(append(h, "q2", "program:p2", NULL, 0, NULL), 1);
    freeReplyObject(cmd("DEL roomcast:seq", NULL));
    freeReplyObject(cmd("DEL roomcast:log", NULL));
    evs[0] = mk("q3", "program:p3", NULL, 0, rc_clock_wall_ms());
    evs[1] = mk("q4", "program:p2", NULL, 0, rc_clock_wall_ms());
    CHECK_INT(rc_history_append_batch(h, evs, 2, res), 2);
    char want[64];
    snprintf(want, sizeof want, "%s-3", rc_history_epoch(h));
    CHECK_STR(evs[1]->offset, want); /* above q2's 2 in program:p2 */
    CHECK_INT(redis_int("GET roomcast:seq", NULL), 3);
    rc_event_unref(evs[0]);
    rc_event_unref(evs[1]);
    rc_history_destroy(h);
}

struct writer {
    rc_history *h;
    int base;
    int rc_sum;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char id[32], room[32];
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof id, "w%d-%d", w->base, i);
        snprintf(room, sizeof room, "program:p%d", i % 7);
        w->rc_sum += append(w->h, id, room, i % 3 ? NULL : "user:u1", 0, NULL);
    }
    return NULL;
}

static void test_order(void)
{
    struct sink s1, s2;
    flushall();
    sink_init(&s1);
    sink_init(&s2);
    rc_history *h1 = open_sub(1000, 60, &s1), *h2 = open_sub(1000, 60, &s2);
    struct writer w1 = {h1, 1, 0}, w2 = {h2, 2, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, writer_main, &w1);
    pthread_create(&t2, NULL, writer_main, &w2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_INT(w1.rc_sum, 150);
    CHECK_INT(w2.rc_sum, 150);
    CHECK_INT(wait_count(&s1, 300, 5000), 300);
    CHECK_INT(wait_count(&s2, 300, 5000), 300);
    int in_order = 1, same = 1, from1 = 0;
    for (int i = 0; i < 300 && i < s1.n && i < s2.n; i++) {
        char ep[32];
        uint64_t seq;
        if (rc_offset_parse(s1.evs[i]->offset, ep, sizeof ep, &seq) < 0 || seq != (uint64_t)i + 1)
            in_order = 0;
        if (strcmp(s1.evs[i]->offset, s2.evs[i]->offset) || strcmp(s1.evs[i]->id, s2.evs[i]->id))
            same = 0;
        from1 += s1.evs[i]->id[1] == '1';
    }
    CHECK(in_order); /* the bus order is the offset order */
    CHECK(same);     /* and every node sees the same one */
    CHECK_INT(from1, 150);
    rc_history_destroy(h1);
    rc_history_destroy(h2);
    sink_free(&s1);
    sink_free(&s2);
}

/* A control message reaches every node's handler, the publisher's too;
 * what arrives on the control channel is never taken for an event, nor
 * is junk on it a problem. */
static void test_control_nodes(void)
{
    struct sink s1, s2;
    struct heard c1, c2;
    flushall();
    sink_init(&s1);
    sink_init(&s2);
    heard_init(&c1);
    heard_init(&c2);
    rc_history *h1 = open_sub(10, 60, &s1), *h2 = open_sub(10, 60, &s2);
    rc_history_on_control(h1, on_control, &c1);
    rc_history_on_control(h2, on_control, &c2);
    CHECK_INT(rc_history_control_publish(h1, "from-1", 6), 0);
    CHECK_INT(heard_count(&c1, 1, 3000), 1);
    CHECK_INT(heard_count(&c2, 1, 3000), 1);
    CHECK(c2.lens[0] == 6 && memcmp(c2.msgs[0], "from-1", 6) == 0);
    /* An event published meanwhile goes to the subscribers only. */
    CHECK_INT(append(h2, "ctl-ev", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(wait_count(&s1, 1, 3000), 1);
    CHECK_INT(wait_count(&s2, 1, 3000), 1);
    freeReplyObject(cmd("PUBLISH roomcast:control %s", "by-hand"));
    CHECK_INT(heard_count(&c1, 2, 3000), 2);
    CHECK_INT(heard_count(&c2, 2, 3000), 2);
    sleep_ms(100);
    CHECK_INT(heard_count(&c1, 3, 0), 2);
    CHECK_INT(sink_count(&s1), 1);
    CHECK_INT(atomic_load(&s1.gaps), 0);
    rc_history_destroy(h1);
    rc_history_destroy(h2);
    sink_free(&s1);
    sink_free(&s2);
    pthread_mutex_destroy(&c1.mu);
    pthread_mutex_destroy(&c2.mu);
}

static void test_epoch_flush(void)
{
    char o1[RC_OFFSET_MAX], o2[RC_OFFSET_MAX], e1[32], base[64];
    rc_event **evs;
    size_t n;
    const char *p1[] = {"program:p1"};
    flushall();
    rc_history *h = open_sub(10, 60, NULL);
    append(h, "a", "program:p1", NULL, 0, o1);
    snprintf(e1, sizeof e1, "%s", rc_history_epoch(h));
    const char *old_epoch = rc_history_epoch(h);
    flushall(); /* the store is lost */
    CHECK_INT(rc_history_replay(h, p1, 1, o1, &evs, &n), RC_REPLAY_EPOCH);
    /* The same event again after the loss is new to the new store. */
    CHECK_INT(append(h, "a", "program:p1", NULL, 0, o2), 1);
    CHECK(strcmp(rc_history_epoch(h), e1) != 0);
    CHECK_STR(old_epoch, e1); /* handed-out strings stay valid */
    char want[64];
    snprintf(want, sizeof want, "%s-1", rc_history_epoch(h));
    CHECK_STR(o2, want); /* seq restarted */
    CHECK_INT(rc_history_replay(h, p1, 1, o1, &evs, &n), RC_REPLAY_EPOCH);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    free_evs(evs, n);
    rc_history_destroy(h);
}

/* Replays share decoded events (a reconnect storm replays the same ones to
 * every client of a room), and a shared event is never given for another
 * stored message: after the store is lost, seq 1 is another event. */
static void test_replay_shares_decoded(void)
{
    char base[64];
    rc_event **a, **b, **c;
    size_t na, nb, nc;
    const char *p1[] = {"program:p1"};
    flushall();
    rc_history *h = open_sub(10, 60, NULL);
    CHECK_INT(append(h, "first", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(append(h, "second", "program:p1", NULL, 0, NULL), 1);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, p1, 1, base, &a, &na), RC_REPLAY_OK);
    CHECK_INT(rc_history_replay(h, p1, 1, base, &b, &nb), RC_REPLAY_OK);
    CHECK_INT(na, 2);
    CHECK_INT(nb, 2);
    if (na == 2 && nb == 2) {
        CHECK(a[0] == b[0] && a[1] == b[1]); /* decoded once */
        CHECK_STR(b[0]->id, "first");
        CHECK_STR(b[1]->id, "second");
    }
    free_evs(a, na);
    free_evs(b, nb);

    flushall(); /* a new epoch: its seq 1 is "third" */
    CHECK_INT(append(h, "third", "program:p1", NULL, 0, NULL), 1);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, p1, 1, base, &c, &nc), RC_REPLAY_OK);
    CHECK_INT(nc, 1);
    if (nc == 1)
        CHECK_STR(c[0]->id, "third");
    free_evs(c, nc);
    rc_history_destroy(h);
}

/* An empty store reaches back to nothing: a replay by time is a gap. */
static void test_since_empty(void)
{
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    flushall();
    rc_history *h = open_sub(3, 60, NULL);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, rc_clock_wall_ms(), &evs, &n),
              RC_REPLAY_GAP);
    rc_history_destroy(h);
}

static int stop_after_one(void *ud, const char *user, const char *program)
{
    (void)user;
    (void)program;
    (*(int *)ud)++;
    return 1;
}

static void test_members(void)
{
    struct { const char *id; enum rc_member_op op; const char *u, *p; } m[] = {
        {"m1", RC_MEMBER_ADD, "u1", "p1"}, {"m2", RC_MEMBER_ADD, "u1", "p2"},
        {"m3", RC_MEMBER_ADD, "u2", "p1"}, {"m4", RC_MEMBER_REMOVE, "u1", "p2"},
        {"m5", RC_MEMBER_ADD, "u3", "p3"}, {"m6", RC_MEMBER_REMOVE, "u3", "p3"},
    };
    flushall();
    rc_history *h = open_sub(10, 60, NULL);
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        rc_event *ev = member_ev(m[i].id, m[i].op, m[i].u, m[i].p);
        CHECK_INT(rc_history_append(h, ev), 1);
        rc_event_unref(ev);
    }
    rc_history_destroy(h);
    /* A node that starts later learns them from the store. */
    h = open_sub(10, 60, NULL);
    npairs = 0;
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), 0);
    CHECK_INT(npairs, 2);
    CHECK(has_pair("u1:p1"));
    CHECK(has_pair("u2:p1"));
    int calls = 0;
    CHECK_INT(rc_history_memberships(h, stop_after_one, &calls), 0);
    CHECK_INT(calls, 1);
    rc_history_destroy(h);
}

/* A session put by one node is taken by another. */
static void test_sessions_any_node(void)
{
    struct waiter w;
    flushall();
    sem_init(&w.sem, 0, 0);
    rc_history *h1 = open_sub(10, 60, NULL), *h2 = open_sub(10, 60, NULL);
    CHECK_INT(rc_history_session_put(h1, "pid2", "x", 1, 60000), 0);
    take(h1, "nope", &w); /* queued after the put: the put is written */
    CHECK(w.blob == NULL);
    take(h2, "pid2", &w);
    CHECK(w.blob != NULL && w.len == 1);
    free(w.blob);
    take(h1, "pid2", &w); /* taken once, whichever node took it */
    CHECK(w.blob == NULL);
    rc_history_destroy(h1);
    rc_history_destroy(h2);
    sem_destroy(&w.sem);
}

static void test_down(void)
{
    struct sink s;
    char o1[RC_OFFSET_MAX], e1[32];
    rc_event **evs;
    size_t n;
    const char *p1[] = {"program:p1"};
    flushall();
    sink_init(&s);
    rc_history *h = open_sub(10, 60, &s);
    CHECK_INT(append(h, "d1", "program:p1", NULL, 0, o1), 1);
    snprintf(e1, sizeof e1, "%s", rc_history_epoch(h));
    CHECK_INT(wait_count(&s, 1, 3000), 1);

    /* The server stops answering: append fails within the timeout. */
    kill(redis_pid, SIGSTOP);
    int64_t t0 = rc_clock_wall_ms();
    CHECK_INT(append(h, "d2", "program:p1", NULL, 0, NULL), -1);
    int64_t took = rc_clock_wall_ms() - t0;
    CHECK(took < 3000);
    CHECK_INT(append(h, "d2", "program:p1", NULL, 0, NULL), -1); /* backoff: at once */
    CHECK_INT(rc_history_ready(h), 0);
    CHECK_INT(rc_history_replay(h, p1, 1, o1, &evs, &n), RC_REPLAY_UNAVAILABLE);
    kill(redis_pid, SIGCONT);

    /* It dies and comes back empty. */
    int gaps = atomic_load(&s.gaps);
    redis_kill();
    t0 = rc_clock_wall_ms();
    CHECK_INT(append(h, "d3", "program:p1", NULL, 0, NULL), -1);
    CHECK(rc_clock_wall_ms() - t0 < 3000);
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), -1);
    CHECK_INT(wait_ready(h, 0, 5000), 0);
    redis_start();
    int rc = -1;
    for (int64_t until = rc_clock_wall_ms() + 8000; rc < 0 && rc_clock_wall_ms() < until; sleep_ms(100))
        rc = append(h, "d3", "program:p1", NULL, 0, NULL);
    CHECK_INT(rc, 1);
    CHECK(strcmp(rc_history_epoch(h), e1) != 0); /* the store was lost: a new epoch */
    /* The bus subscribed again and said so; events flow again. */
    int64_t until = rc_clock_wall_ms() + 8000;
    while (atomic_load(&s.gaps) <= gaps && rc_clock_wall_ms() < until)
        sleep_ms(20);
    CHECK(atomic_load(&s.gaps) > gaps);
    CHECK_INT(wait_ready(h, 1, 5000), 1);
    int before = sink_count(&s);
    CHECK_INT(append(h, "d4", "program:p1", NULL, 0, NULL), 1);
    CHECK(wait_count(&s, before + 1, 3000) >= before + 1);
    pthread_mutex_lock(&s.mu);
    CHECK_STR(s.evs[s.n - 1]->id, "d4");
    pthread_mutex_unlock(&s.mu);
    CHECK_INT(rc_history_replay(h, p1, 1, o1, &evs, &n), RC_REPLAY_EPOCH);
    rc_history_destroy(h);
    sink_free(&s);
}

/* Readiness comes back with Redis by itself, without a command from
 * traffic: an idle node behind a load balancer must not stay out. */
static void test_ready_without_traffic(void)
{
    flushall();
    rc_history *h = open_sub(10, 60, NULL);
    CHECK_INT(wait_ready(h, 1, 5000), 1);
    redis_kill();
    CHECK_INT(append(h, "r1", "program:p1", NULL, 0, NULL), -1);
    CHECK_INT(wait_ready(h, 0, 5000), 0);
    redis_start();
    CHECK_INT(wait_ready(h, 1, 10000), 1);
    rc_history_destroy(h);
}

int main(void)
{
    char tmpl[] = "/tmp/rc-redis-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(redis_dir, sizeof redis_dir, "%s", tmpl);
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);
    redis_port = free_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_port);
    redis_start();

    run_history_cases(&redis);
    test_url();
    test_bus_junk();
    test_batch_refused();
    test_seq_lost();
    test_order();
    test_control_nodes();
    test_epoch_flush();
    test_replay_shares_decoded();
    test_since_empty();
    test_members();
    test_sessions_any_node();
    test_down();
    test_ready_without_traffic();
    return CHECK_DONE();
}
