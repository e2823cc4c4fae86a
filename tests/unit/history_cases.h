/*
 * history_cases.h - the history's behaviour that both backends share, as
 * one set of cases that test_history.c (memory) and test_history_redis.c
 * (Redis) run against their own backend: offsets and dedupe with what the
 * bus delivers, all-or-nothing replay by offset and by time, rooms that
 * expire, asynchronous replays, sessions, control messages. Each program
 * adds the cases only
 * its backend has. Included by one test file each, so static definitions
 * are fine; include check.h and history_helpers.h first.
 */
#ifndef RC_TEST_HISTORY_CASES_H
#define RC_TEST_HISTORY_CASES_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/history.h"

/* ---- the subscriber: what the bus delivered, and the gaps it reported ---- */

#define SINK_MAX 1024
struct sink {
    pthread_mutex_t mu;
    rc_event *evs[SINK_MAX]; /* references */
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

/* Waits up to ms for n events; returns how many arrived. */
static int wait_count(struct sink *s, int n, int ms)
{
    int64_t until = rc_clock_mono_ms() + ms;
    while (sink_count(s) < n && rc_clock_mono_ms() < until)
        sleep_ms(10);
    return sink_count(s);
}

/*
 * h just made: checks that it exists with its errstr cleared (exits when it
 * does not, nothing else could run), then hands its events and gaps to s
 * (may be NULL).
 */
static rc_history *opened(rc_history *h, const char *err, struct sink *s)
{
    CHECK(h != NULL);
    CHECK_STR(err, "");
    if (!h) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    if (s) {
        rc_history_on_gap(h, on_gap, s);
        rc_history_subscribe(h, on_event, s);
    }
    return h;
}

/* What a case needs from the program that runs it. */
struct backend {
    /*
     * A history on a new, empty store: events per room, TTL in seconds.
     * With a sink (may be NULL), its subscriber and gap handler are set and
     * the bus is up when this returns.
     */
    rc_history *(*open)(int max_per_room, int ttl_s, struct sink *s);
    /* When the store began (ms), after its first append: no later than
     * the start of the TTL window it first had. */
    int64_t (*store_start)(rc_history *h);
    /* Checks of the backend's own at the named point of a case; NULL when
     * it has none. */
    void (*probe)(rc_history *h, const char *point);
};

static void probe(const struct backend *b, rc_history *h, const char *point)
{
    if (b->probe)
        b->probe(h, point);
}

/* ---- events ---- */

static rc_event *mk(const char *id, const char *r1, const char *r2, int transient,
                    int64_t occurred)
{
    rc_event *ev = rc_event_new();
    char payload[128];
    ev->id = strdup(id);
    ev->name = strdup("request:created");
    snprintf(payload, sizeof payload,
             "{\"eventId\":\"%s\",\"data\":{\"n\": 1.50, \"s\":\"\\u00e9\"}}", id);
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
    return append_at(h, id, r1, r2, transient, rc_clock_wall_ms(), offset_out);
}

/* A member:added or member:removed event in the program's and user's rooms. */
static rc_event *member_ev(const char *id, enum rc_member_op op, const char *user,
                           const char *program)
{
    char room[64];
    rc_event *ev = mk(id, NULL, NULL, 0, rc_clock_wall_ms());
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

/* ---- cases ---- */

/* Offsets, dedupe (stored and transient), and what the subscriber gets. */
static void case_offsets_and_dedupe(const struct backend *b)
{
    char o1[RC_OFFSET_MAX], o2[RC_OFFSET_MAX], o3[RC_OFFSET_MAX], want[96];
    struct sink s;
    sink_init(&s);
    rc_history *h = b->open(10, 60, &s);
    probe(b, h, "new store");

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
    probe(b, h, "two stored, duplicates dropped");
    /* Transient: published, no offset, not stored. */
    CHECK_INT(append(h, "t", "user:u1", NULL, 1, o3), 1);
    CHECK_STR(o3, "");
    probe(b, h, "transient not stored");
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
    sleep_ms(100);
    CHECK_INT(sink_count(&s), 3); /* the duplicates were not published */
    CHECK_INT(atomic_load(&s.gaps), 0);
    rc_event_unref(a);
    rc_history_destroy(h);
    sink_free(&s);
}

/* Replay by offset: in offset order, each once, all or nothing. */
static void case_replay(const struct backend *b)
{
    char o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    rc_history *h = b->open(3, 60, NULL);

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
    /* Nothing missed: empty but OK. */
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
    probe(b, h, "p1 trimmed to 3");
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

/* Replay by time: occurred after since_ms, in offset order, all or nothing. */
static void case_since(const struct backend *b)
{
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};
    rc_history *h = b->open(3, 60, NULL);
    append(h, "first", "program:p0", NULL, 0, NULL);
    int64_t start = b->store_start(h);
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
    /* Older than the store itself, older than the TTL window. */
    CHECK_INT(rc_history_replay_since(h, rooms, 2, start - 1, &evs, &n), RC_REPLAY_GAP);
    CHECK(evs == NULL && n == 0);
    CHECK_INT(rc_history_replay_since(h, rooms, 2, rc_clock_wall_ms() - 61000, &evs, &n),
              RC_REPLAY_GAP);
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

/* A TTL of 1 s: events, rooms that went idle and eventIds expire. */
static void case_ttl(const struct backend *b)
{
    char o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_event **evs;
    size_t n;
    const char *p1[] = {"program:p1"}, *p3[] = {"program:p3"}, *p5[] = {"program:p5"};
    rc_history *h = b->open(100, 1, NULL);
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
    CHECK_INT(rc_history_replay_since(h, p1, 1, rc_clock_wall_ms() - 2000, &evs, &n),
              RC_REPLAY_GAP);

    /* A room that went idle expires as a whole; what it had is still known lost. */
    append(h, "e3", "program:p3", NULL, 0, o[3]);
    sleep_ms(2300);
    probe(b, h, "idle room gone");
    append(h, "e4", "program:p4", NULL, 0, o[4]);
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    /* ...and when it comes back with new events. */
    append(h, "e5", "program:p3", NULL, 0, o[5]);
    CHECK_INT(rc_history_replay(h, p3, 1, o[2], &evs, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p3, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(evs[0]->id, "e5");
    free_evs(evs, n);
    /* A room that never had events, with a recent offset: nothing missed. */
    CHECK_INT(rc_history_replay(h, p5, 1, o[4], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);
    probe(b, h, "log keeps the TTL window");
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

/* Asynchronous replays; every queued job answered once, even at destroy. */
static void case_async(const struct backend *b)
{
    char o1[RC_OFFSET_MAX];
    const char *rooms[] = {"program:p1"};
    struct waiter w;
    rc_history *h = b->open(10, 60, NULL);
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
    CHECK_INT(rc_history_replay_since_async(h, rooms, 1, rc_clock_wall_ms() - 120000,
                                            replay_done, &w), 0);
    sem_wait(&w.sem);
    CHECK_INT(w.status, RC_REPLAY_GAP);
    sem_destroy(&w.sem);

    atomic_store(&done_calls, 0);
    int queued = 0;
    for (int i = 0; i < 2000; i++)
        queued += rc_history_replay_async(h, rooms, 1, o1, count_done, NULL) == 0;
    CHECK(queued > 0);
    rc_history_destroy(h);
    CHECK_INT(atomic_load(&done_calls), queued);
}

static void take(rc_history *h, const char *pid, struct waiter *w)
{
    w->blob = (void *)1;
    w->len = 99;
    CHECK_INT(rc_history_session_take_async(h, pid, session_done, w), 0);
    sem_wait(&w->sem);
}

/* Sessions: put, taken once, replaced, expired, refused arguments. */
static void case_sessions(const struct backend *b)
{
    struct waiter w;
    const char blob[] = "{\"sid\":\"s1\",\"rooms\":[\"user:u1\"]}\0binary";
    rc_history *h = b->open(10, 60, NULL);
    sem_init(&w.sem, 0, 0);
    CHECK_INT(rc_history_session_put(h, "pid1", blob, sizeof blob, 60000), 0);
    take(h, "pid1", &w); /* queued after the put: sees it */
    CHECK(w.blob != NULL);
    CHECK_INT(w.len, sizeof blob);
    if (w.blob && w.len == sizeof blob)
        CHECK(memcmp(w.blob, blob, sizeof blob) == 0);
    free(w.blob);
    take(h, "pid1", &w); /* taken once only */
    CHECK(w.blob == NULL);
    CHECK_INT(w.len, 0);
    take(h, "nope", &w);
    CHECK(w.blob == NULL);
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
    /* Left for destroy to free (memory) or to write (redis). */
    CHECK_INT(rc_history_session_put(h, "pid4", "z", 1, 60000), 0);
    rc_history_destroy(h);
    sem_destroy(&w.sem);
}

/* What a control handler heard (history.h: control messages). */
struct heard {
    pthread_mutex_t mu;
    char msgs[8][64];
    size_t lens[8];
    int n;
};

static void heard_init(struct heard *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static void on_control(void *ud, const char *msg, size_t len)
{
    struct heard *c = ud;
    pthread_mutex_lock(&c->mu);
    if (c->n < 8 && len <= sizeof c->msgs[0]) {
        memcpy(c->msgs[c->n], msg, len);
        c->lens[c->n++] = len;
    }
    pthread_mutex_unlock(&c->mu);
}

static int heard_count(struct heard *c, int want, int ms)
{
    int64_t until = rc_clock_mono_ms() + ms;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int n = c->n;
        pthread_mutex_unlock(&c->mu);
        if (n >= want || rc_clock_mono_ms() >= until)
            return n;
        sleep_ms(10);
    }
}

/* Control messages: heard by the node that published them, bytes as they
 * were (a NUL included), in the order published, never as events. */
static void case_control(const struct backend *b)
{
    struct sink s;
    struct heard c;
    sink_init(&s);
    heard_init(&c);
    rc_history *h = b->open(10, 60, &s);
    rc_history_on_control(h, on_control, &c);
    static const char one[] = "{\"op\":\"disconnect\"}\0tail";
    CHECK_INT(rc_history_control_publish(h, one, sizeof one), 0);
    CHECK_INT(rc_history_control_publish(h, "two", 3), 0);
    CHECK_INT(heard_count(&c, 2, 3000), 2);
    CHECK_INT(c.lens[0], sizeof one);
    CHECK(memcmp(c.msgs[0], one, sizeof one) == 0);
    CHECK_INT(c.lens[1], 3);
    CHECK(memcmp(c.msgs[1], "two", 3) == 0);
    CHECK_INT(sink_count(&s), 0); /* not an event */
    /* Sizes out of range are refused at once. */
    static char big[RC_CONTROL_MAX + 1];
    CHECK_INT(rc_history_control_publish(h, big, sizeof big), -1);
    CHECK_INT(rc_history_control_publish(h, "x", 0), -1);
    CHECK_INT(rc_history_control_publish(h, NULL, 1), -1);
    sleep_ms(100);
    CHECK_INT(heard_count(&c, 3, 0), 2);
    rc_history_destroy(h);
    sink_free(&s);
    pthread_mutex_destroy(&c.mu);
}

/*
 * Batches: each event as if appended alone, in order, with dedupe within a
 * batch and across batches; a batch longer than one Redis call; the two
 * steps; what a batch leaves in a room that overflows (the same as one
 * event at a time: the oldest dropped, the lost marker raised).
 */
static void case_batch(const struct backend *b)
{
    enum { LONG = RC_HISTORY_BATCH_CALL + 9 }; /* two calls */
    char want[96], base[RC_OFFSET_MAX];
    int res[LONG];
    rc_event *evs[LONG];
    rc_event **got;
    size_t n;
    struct sink s;
    sink_init(&s);
    rc_history *h = b->open(3, 60, &s);

    /* a, b, a again, a transient, c: the second a is a duplicate of the
     * first, in the same batch. */
    evs[0] = mk("ba", "program:p1", NULL, 0, 1);
    evs[1] = mk("bb", "program:p1", "user:u1", 0, 2);
    evs[2] = mk("ba", "program:p9", NULL, 0, 3);
    evs[3] = mk("bt", "user:u1", NULL, 1, 4);
    evs[4] = mk("bc", "program:p2", NULL, 0, 5);
    for (int i = 0; i < 5; i++)
        res[i] = -1;
    CHECK_INT(rc_history_append_batch(h, evs, 5, res), 5);
    const char *epoch = rc_history_epoch(h);
    int want_res[] = {1, 1, 0, 1, 1};
    const char *want_seq[] = {"1", "2", NULL, NULL, "3"};
    for (int i = 0; i < 5; i++) {
        CHECK_INT(res[i], want_res[i]);
        snprintf(want, sizeof want, "%s-%s", epoch, want_seq[i] ? want_seq[i] : "");
        CHECK_STR(evs[i]->offset, want_seq[i] ? want : "");
    }
    snprintf(base, sizeof base, "%s-0", epoch);
    for (int i = 0; i < 5; i++)
        rc_event_unref(evs[i]);

    /* Across batches: b again is a duplicate, d is new; in two steps, the
     * next batch prepared meanwhile (and a prepared one not used). */
    evs[0] = mk("bb", "program:p1", NULL, 0, 6);
    evs[1] = mk("bd", "program:p1", NULL, 0, 7);
    rc_event *next = mk("be", "program:p2", NULL, 0, 8), *other = mk("bf", "program:p2", NULL, 0, 9);
    rc_history_append_prepare(h, &other, 1); /* outside: nothing */
    rc_history_append_start(h, evs, 2, res);
    rc_history_append_prepare(h, &next, 1);
    CHECK_INT(rc_history_append_finish(h), 2);
    CHECK_INT(res[0], 0);
    CHECK_INT(res[1], 1);
    snprintf(want, sizeof want, "%s-4", epoch);
    CHECK_STR(evs[1]->offset, want);
    rc_history_append_start(h, &next, 1, res);
    rc_history_append_prepare(h, &other, 1);
    CHECK_INT(rc_history_append_finish(h), 1);
    snprintf(want, sizeof want, "%s-5", epoch);
    CHECK_STR(next->offset, want);
    rc_history_append_start(h, evs + 1, 1, res); /* not what was prepared */
    CHECK_INT(rc_history_append_finish(h), 1);
    CHECK_INT(res[0], 0);
    CHECK_STR(other->offset, "");
    rc_event_unref(evs[0]);
    rc_event_unref(evs[1]);
    rc_event_unref(next);
    rc_event_unref(other);

    /* The bus got every event appended once, in history order. */
    const char *order[] = {"ba", "bb", "bt", "bc", "bd", "be"};
    CHECK_INT(wait_count(&s, 6, 3000), 6);
    sleep_ms(100);
    CHECK_INT(sink_count(&s), 6);
    pthread_mutex_lock(&s.mu);
    for (int i = 0; i < 6 && i < s.n; i++)
        CHECK_STR(s.evs[i]->id, order[i]);
    pthread_mutex_unlock(&s.mu);

    /* Longer than a call: in order, one seq each; the last, in the second
     * call, a duplicate of one in the first, dropped. */
    for (int i = 0; i < LONG; i++) {
        char id[32];
        snprintf(id, sizeof id, "bl%d", i == LONG - 1 ? 3 : i);
        evs[i] = mk(id, i % 2 ? "program:p3" : "program:p4", NULL, 0, 10 + i);
        res[i] = -1;
    }
    CHECK_INT(rc_history_append_batch(h, evs, LONG, res), LONG);
    int in_order = 1;
    for (int i = 0; i < LONG - 1; i++) {
        snprintf(want, sizeof want, "%s-%d", epoch, 6 + i);
        in_order &= res[i] == 1 && strcmp(evs[i]->offset, want) == 0;
    }
    CHECK(in_order);
    CHECK_INT(res[LONG - 1], 0);
    for (int i = 0; i < LONG; i++)
        rc_event_unref(evs[i]);
    CHECK_INT(wait_count(&s, 6 + LONG - 1, 5000), 6 + LONG - 1);
    pthread_mutex_lock(&s.mu);
    in_order = s.n == 6 + LONG - 1;
    for (int i = 6; i < s.n; i++) {
        char ep[32];
        uint64_t seq;
        in_order &= rc_offset_parse(s.evs[i]->offset, ep, sizeof ep, &seq) == 0 &&
                    seq == (uint64_t)i;
    }
    pthread_mutex_unlock(&s.mu);
    CHECK(in_order);

    /* p1 keeps 3 of ba, bb, bd: none lost yet. Five more in one batch:
     * the oldest five go, and a replay from before them is a gap. */
    const char *p1[] = {"program:p1"};
    CHECK_INT(rc_history_replay(h, p1, 1, base, &got, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3);
    free_evs(got, n);
    char mid[RC_OFFSET_MAX];
    int64_t t0 = rc_clock_wall_ms();
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "bp%d", i);
        evs[i] = mk(id, "program:p1", NULL, 0, t0 + i);
    }
    CHECK_INT(rc_history_append_batch(h, evs, 5, res), 5);
    snprintf(mid, sizeof mid, "%s", evs[1]->offset);
    CHECK_INT(rc_history_replay(h, p1, 1, base, &got, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p1, 1, evs[0]->offset, &got, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay(h, p1, 1, mid, &got, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(got[0]->id, "bp2");
        CHECK_STR(got[2]->id, "bp4");
    }
    free_evs(got, n);
    /* By time: bp1, lost, occurred after t0; nothing lost after t0 + 1. */
    CHECK_INT(rc_history_replay_since(h, p1, 1, t0, &got, &n), RC_REPLAY_GAP);
    CHECK_INT(rc_history_replay_since(h, p1, 1, t0 + 1, &got, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3);
    free_evs(got, n);
    for (int i = 0; i < 5; i++)
        rc_event_unref(evs[i]);
    CHECK_INT(atomic_load(&s.gaps), 0);
    rc_history_destroy(h);
    sink_free(&s);
}

/* Every shared case, in order. */
static void run_history_cases(const struct backend *b)
{
    case_offsets_and_dedupe(b);
    case_batch(b);
    case_replay(b);
    case_since(b);
    case_ttl(b);
    case_async(b);
    case_sessions(b);
    case_control(b);
}

#endif
