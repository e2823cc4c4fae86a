/*
 * test_history_redis.c - the Redis history against a real redis-server
 * started on a free loopback port: append, dedupe and offsets, the bus
 * (order across two writers, malformed messages, reconnection and the gap
 * handler), all-or-nothing replay by offset and by time (count, TTL, idle
 * rooms, epoch change after FLUSHALL), memberships, sessions, and a server
 * that stops answering or dies.
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

#include "core/history.h"
#include "tests/unit/history_helpers.h"
#include "tests/unit/check.h"

/* ---- the server ---- */

static pid_t redis_pid = -1;
static int redis_port;
static char redis_dir[64];
static char url[64];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* ---- events and the subscriber ---- */

static rc_event *mk(const char *id, const char *r1, const char *r2, int transient,
                    int64_t occurred)
{
    rc_event *ev = rc_event_new();
    char payload[128];
    ev->id = strdup(id);
    ev->name = strdup("request:created");
    snprintf(payload, sizeof payload, "{\"eventId\":\"%s\",\"data\":{\"n\": 1.50, \"s\":\"\\u00e9\"}}", id);
    ev->payload = strdup(payload);
    ev->payload_len = strlen(payload);
    ev->transient = transient;
    ev->occurred_ms = occurred;
    if (r1)
        rc_event_add_room(ev, r1);
    if (r2)
        rc_event_add_room(ev, r2);
    return ev;
}

static int append_at(rc_history *h, const char *id, const char *r1, const char *r2,
                     int transient, int64_t occurred, char *offset_out)
{
    rc_event *ev = mk(id, r1, r2, transient, occurred);
    int rc = rc_history_append(h, ev);
    if (offset_out)
        strcpy(offset_out, ev->offset);
    rc_event_unref(ev);
    return rc;
}

static int append(rc_history *h, const char *id, const char *r1, const char *r2,
                  int transient, char *offset_out)
{
    return append_at(h, id, r1, r2, transient, now_ms(), offset_out);
}

#define SINK_MAX 1024
struct sink {
    pthread_mutex_t mu;
    rc_event *evs[SINK_MAX];
    int n;
    atomic_int gaps;
};

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
}

static void sink_free(struct sink *s)
{
    for (int i = 0; i < s->n; i++)
        rc_event_unref(s->evs[i]);
    pthread_mutex_destroy(&s->mu);
}

static void on_event(void *ud, rc_event *ev)
{
    struct sink *s = ud;
    pthread_mutex_lock(&s->mu);
    if (s->n < SINK_MAX)
        s->evs[s->n++] = rc_event_ref(ev);
    pthread_mutex_unlock(&s->mu);
}

static void on_gap(void *ud)
{
    struct sink *s = ud;
    atomic_fetch_add(&s->gaps, 1);
}

static int sink_count(struct sink *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static int wait_count(struct sink *s, int n, int ms)
{
    int64_t until = now_ms() + ms;
    while (sink_count(s) < n && now_ms() < until)
        sleep_ms(10);
    return sink_count(s);
}

static int wait_ready(rc_history *h, int want, int ms)
{
    int64_t until = now_ms() + ms;
    while (rc_history_ready(h) != want && now_ms() < until)
        sleep_ms(20);
    return rc_history_ready(h);
}

static rc_history *open_sub(int max, int ttl, struct sink *s)
{
    char err[256] = "x";
    rc_history *h = rc_history_new_redis(url, max, ttl, err, sizeof err);
    CHECK(h != NULL);
    CHECK_STR(err, "");
    if (!h) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    if (s) {
        rc_history_on_gap(h, on_gap, s);
        rc_history_subscribe(h, on_event, s);
        CHECK_INT(wait_ready(h, 1, 3000), 1);
    }
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
        CHECK_INT(rc_history_ready(h), 0);
        CHECK_INT(append(h, "x", "program:p1", NULL, 0, NULL), -1);
        rc_history_destroy(h);
    }
}

static void test_append_and_bus(void)
{
    char o1[RC_OFFSET_MAX], o2[RC_OFFSET_MAX], o3[RC_OFFSET_MAX], want[96];
    struct sink s;
    flushall();
    sink_init(&s);
    rc_history *h = open_sub(10, 60, &s);
    CHECK_STR(rc_history_backend(h), "redis");
    CHECK_STR(rc_history_epoch(h), ""); /* an empty store has no epoch yet */

    rc_event *a = mk("a", "program:p1", NULL, 0, 1700000000123);
    a->kafka_ts_ms = 1700000000456;
    a->member_op = RC_MEMBER_ADD;
    a->member_user = strdup("u9");
    a->member_program = strdup("p1");
    CHECK_INT(rc_history_append(h, a), 1);
    strcpy(o1, a->offset);
    const char *epoch = rc_history_epoch(h);
    CHECK_INT(strlen(epoch), 16);
    snprintf(want, sizeof want, "%s-1", epoch);
    CHECK_STR(o1, want);

    CHECK_INT(append(h, "b", "program:p1", "user:u1", 0, o2), 1);
    snprintf(want, sizeof want, "%s-2", epoch);
    CHECK_STR(o2, want);
    /* Kafka redelivers a: nothing changes, nothing is published. */
    CHECK_INT(rc_history_append(h, a), 0);
    CHECK_INT(append(h, "b", "program:p9", NULL, 0, NULL), 0);
    CHECK_INT(redis_int("GET roomcast:seq", NULL), 2);
    CHECK_INT(redis_int("XLEN roomcast:room:program:p1", NULL), 2);
    CHECK_INT(redis_int("EXISTS roomcast:room:program:p9", NULL), 0);
    /* Transient: published, no offset, not stored. */
    CHECK_INT(append(h, "t", "user:u1", NULL, 1, o3), 1);
    CHECK_STR(o3, "");
    CHECK_INT(redis_int("XLEN roomcast:room:user:u1", NULL), 1);
    CHECK_INT(redis_int("GET roomcast:seq", NULL), 2);
    CHECK_INT(append(h, "t", "user:u1", NULL, 1, NULL), 0); /* deduped too */

    CHECK_INT(wait_count(&s, 3, 3000), 3);
    pthread_mutex_lock(&s.mu);
    if (s.n >= 3) {
        rc_event *e = s.evs[0];
        CHECK_STR(e->id, "a");
        CHECK_STR(e->offset, o1);
        CHECK_STR(e->name, "request:created");
        CHECK_INT(e->nrooms, 1);
        CHECK_STR(e->rooms[0], "program:p1");
        CHECK_STR(e->payload, a->payload); /* byte for byte */
        CHECK_INT(e->payload_len, a->payload_len);
        CHECK_INT(e->occurred_ms, 1700000000123);
        CHECK_INT(e->kafka_ts_ms, 1700000000456);
        CHECK_INT(e->member_op, RC_MEMBER_ADD);
        CHECK_STR(e->member_user, "u9");
        CHECK_STR(e->member_program, "p1");
        CHECK_INT(e->transient, 0);
        CHECK_STR(s.evs[1]->id, "b");
        CHECK_STR(s.evs[1]->offset, o2);
        CHECK_INT(s.evs[1]->nrooms, 2);
        CHECK_INT(s.evs[1]->member_op, RC_MEMBER_NONE);
        CHECK_INT(s.evs[1]->kafka_ts_ms, -1);
        CHECK_STR(s.evs[2]->id, "t");
        CHECK_STR(s.evs[2]->offset, "");
        CHECK_INT(s.evs[2]->transient, 1);
    }
    pthread_mutex_unlock(&s.mu);
    rc_event_unref(a);

    /* Malformed bus messages are dropped; the next good one still arrives. */
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
    CHECK_INT(wait_count(&s, 4, 3000), 4);
    sleep_ms(100);
    CHECK_INT(sink_count(&s), 4);
    pthread_mutex_lock(&s.mu);
    if (s.n == 4)
        CHECK_STR(s.evs[3]->id, "c");
    pthread_mutex_unlock(&s.mu);
    CHECK_INT(atomic_load(&s.gaps), 0);
    rc_history_destroy(h);
    sink_free(&s);
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

static void test_replay(void)
{
    char o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    flushall();
    rc_history *h = open_sub(3, 60, NULL);

    append(h, "e1", "program:p1", NULL, 0, o[1]);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    append(h, "e2", "program:p2", NULL, 0, o[2]);
    append(h, "e3", "program:p1", "user:u1", 0, o[3]);
    append(h, "e4", "user:u1", NULL, 1, o[4]); /* transient: never replayed */
    append(h, "e5", "user:u1", NULL, 0, o[5]);

    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3); /* e1, e3 once though in both rooms, e5 */
    if (n == 3) {
        CHECK_STR(evs[0]->id, "e1");
        CHECK_STR(evs[0]->offset, o[1]);
        CHECK_STR(evs[1]->id, "e3");
        CHECK_INT(evs[1]->nrooms, 2);
        CHECK_STR(evs[2]->id, "e5");
        CHECK_STR(evs[2]->offset, o[5]);
    }
    free_evs(evs, n);

    CHECK_INT(rc_history_replay(h, rooms, 2, o[3], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(evs[0]->id, "e5");
    free_evs(evs, n);
    CHECK_INT(rc_history_replay(h, rooms, 2, o[5], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    CHECK(evs == NULL);

    /* Asynchronous form: the same answer, on the worker. */
    struct waiter w;
    sem_init(&w.sem, 0, 0);
    CHECK_INT(rc_history_replay_async(h, rooms, 2, o[1], replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_OK);
    CHECK_INT(w.n, 2);
    if (w.n == 2) {
        CHECK_STR(w.evs[0]->id, "e3");
        CHECK_STR(w.evs[1]->id, "e5");
    }
    free_evs(w.evs, w.n);

    /* p1 keeps 3: after two more, e1 is lost; a replay from before it is a gap. */
    append(h, "e6", "program:p1", NULL, 0, o[6]);
    append(h, "e7", "program:p1", NULL, 0, o[7]);
    CHECK_INT(redis_int("XLEN roomcast:room:program:p1", NULL), 3);
    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_GAP);
    CHECK(evs == NULL && n == 0);
    CHECK_INT(rc_history_replay_async(h, rooms, 2, base, replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_GAP);
    CHECK(w.evs == NULL);
    CHECK_INT(rc_history_replay(h, rooms, 2, o[1], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 4); /* e3 e5 e6 e7 */
    if (n == 4) {
        CHECK_STR(evs[0]->id, "e3");
        CHECK_STR(evs[3]->id, "e7");
    }
    free_evs(evs, n);
    /* Only the room that lost matters. */
    const char *u1[] = {"user:u1"};
    CHECK_INT(rc_history_replay(h, u1, 1, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 2);
    free_evs(evs, n);

    /* Another epoch, malformed, from the future. */
    CHECK_INT(rc_history_replay(h, rooms, 2, "0000000000000000-1", &evs, &n), RC_REPLAY_EPOCH);
    CHECK_INT(rc_history_replay(h, rooms, 2, "garbage", &evs, &n), RC_REPLAY_INVALID);
    char future[64];
    snprintf(future, sizeof future, "%s-999", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, rooms, 2, future, &evs, &n), RC_REPLAY_INVALID);
    sem_destroy(&w.sem);
    rc_history_destroy(h);
}

static void test_ttl(void)
{
    char o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_event **evs;
    size_t n;
    const char *p1[] = {"program:p1"}, *p3[] = {"program:p3"}, *p5[] = {"program:p5"};
    flushall();
    rc_history *h = open_sub(100, 1, NULL);
    append(h, "e1", "program:p1", NULL, 0, o[1]);
    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    free_evs(evs, n);
    sleep_ms(1300);
    /* e1 is older than the TTL, trimmed or not: a gap; after it nothing was missed. */
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p1, 1, o[1], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    append(h, "e2", "program:p2", NULL, 0, o[2]);
    CHECK_INT(rc_history_replay(h, p1, 1, base, &evs, &n), RC_REPLAY_GAP);
    /* By time: a window of 1 s does not reach back 2 s. */
    CHECK_INT(rc_history_replay_since(h, p1, 1, now_ms() - 2000, &evs, &n), RC_REPLAY_GAP);

    /* A room that went idle expires as a whole; what it had is still known lost. */
    append(h, "e3", "program:p3", NULL, 0, o[3]);
    sleep_ms(2300);
    CHECK_INT(redis_int("EXISTS roomcast:room:program:p3", NULL), 0);
    append(h, "e4", "program:p4", NULL, 0, o[4]);
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    /* ...and when it comes back with new events. */
    append(h, "e5", "program:p3", NULL, 0, o[5]);
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p3, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    free_evs(evs, n);
    /* A room that never had events, with a recent offset: nothing missed. */
    CHECK_INT(rc_history_replay(h, p5, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    /* The log only keeps the TTL window. */
    CHECK(redis_int("XLEN roomcast:log", NULL) <= 2);
    rc_history_destroy(h);
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

static void test_since(void)
{
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    flushall();
    rc_history *h = open_sub(3, 60, NULL);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, now_ms(), &evs, &n), RC_REPLAY_GAP);
    append(h, "first", "program:p0", NULL, 0, NULL);
    long long start = redis_int("GET roomcast:epoch:start", NULL);
    CHECK(start > 0);
    int64_t t = start + 1000;
    /* occurred times t+10, t+20, ... out of append order for e3 */
    append_at(h, "e1", "program:p1", NULL, 0, t + 10, NULL);
    append_at(h, "e2", "user:u1", NULL, 0, t + 20, NULL);
    append_at(h, "e3", "program:p1", "user:u1", 0, t + 5, NULL);
    append_at(h, "e4", "program:p1", NULL, 0, t + 40, NULL);

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
    /* Older than the store itself. */
    CHECK_INT(rc_history_replay_since(h, rooms, 2, start - 1, &evs, &n), RC_REPLAY_GAP);
    /* p1 keeps 3: e5 evicts e1 (occurred t+10). */
    append_at(h, "e5", "program:p1", NULL, 0, t + 50, NULL);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, t + 9, &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, t + 10, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3); /* e2 e4 e5 */
    free_evs(evs, n);
    struct waiter w;
    sem_init(&w.sem, 0, 0);
    CHECK_INT(rc_history_replay_since_async(h, rooms, 2, t + 45, replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_OK);
    CHECK_INT(w.n, 1);
    if (w.n == 1)
        CHECK_STR(w.evs[0]->id, "e5");
    free_evs(w.evs, w.n);
    sem_destroy(&w.sem);
    rc_history_destroy(h);
}

static rc_event *member_ev(const char *id, enum rc_member_op op, const char *user,
                           const char *program)
{
    char room[64];
    rc_event *ev = mk(id, NULL, NULL, 0, now_ms());
    free(ev->name);
    ev->name = strdup(op == RC_MEMBER_ADD ? "member:added" : "member:removed");
    snprintf(room, sizeof room, "program:%s", program);
    rc_event_add_room(ev, room);
    snprintf(room, sizeof room, "user:%s", user);
    rc_event_add_room(ev, room);
    ev->member_op = op;
    ev->member_user = strdup(user);
    ev->member_program = strdup(program);
    return ev;
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

static void take(rc_history *h, const char *pid, struct waiter *w)
{
    w->blob = (void *)1;
    CHECK_INT(rc_history_session_take_async(h, pid, session_done, w), 0);
    sem_wait(&w->sem);
}

static void test_sessions(void)
{
    struct waiter w;
    const char blob[] = "{\"sid\":\"s1\",\"rooms\":[\"user:u1\"]}\0binary";
    flushall();
    sem_init(&w.sem, 0, 0);
    rc_history *h1 = open_sub(10, 60, NULL), *h2 = open_sub(10, 60, NULL);
    CHECK_INT(rc_history_session_put(h1, "pid1", blob, sizeof blob, 60000), 0);
    CHECK_INT(rc_history_session_put(h1, "pid2", "x", 1, 60000), 0);
    take(h1, "pid1", &w); /* queued after the put: sees it */
    CHECK(w.blob != NULL);
    CHECK_INT(w.len, sizeof blob);
    if (w.blob && w.len == sizeof blob)
        CHECK(memcmp(w.blob, blob, sizeof blob) == 0);
    free(w.blob);
    take(h1, "pid1", &w); /* taken once only */
    CHECK(w.blob == NULL);
    CHECK_INT(w.len, 0);
    take(h2, "pid2", &w); /* any node can take it */
    CHECK(w.blob != NULL && w.len == 1);
    free(w.blob);
    /* Expiry. */
    CHECK_INT(rc_history_session_put(h1, "pid3", "y", 1, 100), 0);
    take(h1, "nope", &w);
    CHECK(w.blob == NULL);
    sleep_ms(250);
    take(h1, "pid3", &w);
    CHECK(w.blob == NULL);
    /* Bad arguments. */
    CHECK_INT(rc_history_session_put(h1, "", "y", 1, 100), -1);
    CHECK_INT(rc_history_session_put(h1, "p", "y", 1, 0), -1);
    CHECK_INT(rc_history_session_put(h1, "p", "y", RC_SESSION_MAX + 1, 100), -1);
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
    int64_t t0 = now_ms();
    CHECK_INT(append(h, "d2", "program:p1", NULL, 0, NULL), -1);
    int64_t took = now_ms() - t0;
    CHECK(took < 3000);
    CHECK_INT(append(h, "d2", "program:p1", NULL, 0, NULL), -1); /* backoff: at once */
    CHECK_INT(rc_history_ready(h), 0);
    CHECK_INT(rc_history_replay(h, p1, 1, o1, &evs, &n), RC_REPLAY_UNAVAILABLE);
    kill(redis_pid, SIGCONT);

    /* It dies and comes back empty. */
    int gaps = atomic_load(&s.gaps);
    redis_kill();
    t0 = now_ms();
    CHECK_INT(append(h, "d3", "program:p1", NULL, 0, NULL), -1);
    CHECK(now_ms() - t0 < 3000);
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), -1);
    CHECK_INT(wait_ready(h, 0, 5000), 0);
    redis_start();
    int rc = -1;
    for (int64_t until = now_ms() + 8000; rc < 0 && now_ms() < until; sleep_ms(100))
        rc = append(h, "d3", "program:p1", NULL, 0, NULL);
    CHECK_INT(rc, 1);
    CHECK(strcmp(rc_history_epoch(h), e1) != 0); /* the store was lost: a new epoch */
    /* The bus subscribed again and said so; events flow again. */
    int64_t until = now_ms() + 8000;
    while (atomic_load(&s.gaps) <= gaps && now_ms() < until)
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

    test_url();
    test_append_and_bus();
    test_order();
    test_replay();
    test_ttl();
    test_epoch_flush();
    test_since();
    test_members();
    test_sessions();
    test_down();
    return CHECK_DONE();
}
