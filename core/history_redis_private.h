/*
 * history_redis_private.h - what the files of the Redis history backend
 * share (private to core/history_redis*.c; history.c reaches the backend
 * through its rc_history_ops only).
 *
 *   history_redis.c         connections, the ops table, new and destroy
 *   history_redis_append.c  the append: one Lua script call per batch of events
 *   history_redis_bus.c     the bus thread (pub/sub)
 *   history_redis_query.c   replays, sessions, stored memberships
 *   history_redis_msg.c     the message format, both directions
 *
 * The backend's state, struct red, is h->be; which thread may use which of
 * its fields is said at each.
 */
#ifndef RC_HISTORY_REDIS_PRIVATE_H
#define RC_HISTORY_REDIS_PRIVATE_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "history_private.h"
#include "redis_url.h"
#include "slice.h"

/* The key layout (docs/history.md) and the bus channel. */
#define RC_RED_K_EPOCH "roomcast:epoch"
#define RC_RED_K_EPOCH_START "roomcast:epoch:start"
#define RC_RED_K_SEQ "roomcast:seq"
#define RC_RED_K_LOG "roomcast:log"
#define RC_RED_K_EID "roomcast:eid:"
#define RC_RED_K_MEMBERS "roomcast:members:"
#define RC_RED_K_ROOM "roomcast:room:"
#define RC_RED_K_LOST "roomcast:lost:"
#define RC_RED_K_SESSION "roomcast:session:"
#define RC_RED_BUS_CHANNEL "roomcast:bus"
#define RC_RED_CONTROL_CHANNEL "roomcast:control"

/* Connect and command timeout; backoff between connection attempts. */
#define RC_RED_TIMEOUT_MS 2000
#define RC_RED_BACKOFF_MIN_MS 100
#define RC_RED_BACKOFF_MAX_MS 2000

/* One script call's request, built in RESP, and what it was built for;
 * its buffers are kept from call to call. */
struct red_req {
    rc_buf keys, args;    /* owned: KEYS and ARGV, RESP bulk strings */
    size_t nkeys, nargs;
    rc_buf req;           /* owned: the EVALSHA request */
    size_t sha_off;       /* where its sha is */
    rc_buf body;          /* owned: one event's message */
    int oom;
    size_t m;             /* the events it carries (0: out of memory) */
    rc_buf built;         /* owned: the event pointers it was prepared for */
    size_t built_n;
};

/* The append in flight, from append_start to append_finish, and a
 * request prepared meanwhile for the next start (under the history's
 * append_lock). */
struct red_call {
    rc_event *const *evs; /* borrowed: the batch */
    size_t n;
    int *res;             /* borrowed: its results */
    size_t m;             /* events in the call sent, from the first not done */
    int sent;             /* a call was sent: its reply is due */
    struct red_req bufs[2];
    struct red_req *q;    /* bufs[0] or [1]: the call sent; NULL before the first */
    struct red_req *next; /* the other, prepared for the next start, or NULL */
};

/* A connection of one thread, dropped on failure and made again when due. */
struct rconn {
    const char *name;   /* "append", "query": for logs */
    redisContext *c;    /* owned; NULL while disconnected */
    char sha[48];       /* the append script's, "" until loaded */
    int64_t retry_at;   /* no connection attempt before */
    int64_t backoff_ms; /* 0 while healthy */
};

struct red {
    rc_redis_url conf;
    char where[RC_REDIS_WHERE_MAX]; /* host:port/db, for logs (never credentials) */
    int max_per_room;
    int64_t ttl_ms;
    struct rconn app;         /* the history's append_lock */
    struct red_call call;     /* the history's append_lock */
    struct rconn work;        /* worker thread only */
    struct red_decoded *decoded; /* owned, made at the first replay; worker
                                    thread only (history_redis_query.c) */
    atomic_int store_ok;      /* last command on app or work succeeded */
    atomic_int bus_up;        /* subscribed */
    atomic_int bus_wanted;    /* rc_history_subscribe was called */
    pthread_mutex_t bus_lock; /* guards starting the bus */
    int bus_started;
    pthread_t bus;
    int stop_fd;              /* eventfd, -1 until the bus starts */
};

/* ---- history_redis.c ---- */

/* A new connection with timeouts, authenticated, on the right db; or NULL
 * with err filled. Any thread; the caller owns it. */
redisContext *rc_red_conn_open(struct red *r, char *err, size_t errlen);
/* rc's connection, connecting when due; NULL while Redis is unreachable. */
redisContext *rc_red_conn_get(struct red *r, struct rconn *rc);
/* After a command's reply rep (NULL: the connection broke, it is dropped):
 * 0, or -1 when rep is NULL. Keeps store_ok. */
int rc_red_conn_check(struct red *r, struct rconn *rc, redisReply *rep);

/* ---- history_redis_query.c ---- */

/* Frees the replays' cache of decoded events (NULL is ignored). */
void rc_red_decoded_free(struct red_decoded *d);

/* ---- history_redis_msg.c ---- */

/* Appends ev's message without "offset" (the script prepends it) to b.
 * Returns 0, or -1 when out of memory. */
int rc_red_encode_body(const rc_event *ev, rc_buf *b);
/* Parses one bus message or stream entry (msg[0..len), borrowed) into a new
 * event (one reference, transferred), or NULL with a reason in err. */
rc_event *rc_red_decode_msg(const char *msg, size_t len, char *err, size_t errlen);

/* ---- history_redis_append.c ---- */

/* SCRIPT LOAD of the append script on rc (connected), keeping its sha.
 * Returns 0 or -1 (logged). */
int rc_red_load_script(struct red *r, struct rconn *rc);
/* rc_history_ops.append_start: sends the batch's first script call. */
size_t rc_red_append_start(rc_history *h, rc_event *const *evs, size_t n, int *res);
/* rc_history_ops.append_finish: its reply, then the batch's other calls,
 * one after the other, stopping at a refusal. */
size_t rc_red_append_finish(rc_history *h);
/* rc_history_ops.append_prepare: builds the next start's request. */
void rc_red_append_prepare(rc_history *h, rc_event *const *evs, size_t n);
/* Frees the call's buffers. */
void rc_red_call_free(struct red_call *c);

/* ---- history_redis_query.c: rc_history_ops on the worker thread ---- */

int rc_red_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                  const char *after, rc_event ***out, size_t *nout);
int rc_red_replay_since(rc_history *h, const char *const *rooms, size_t nrooms,
                        int64_t since_ms, rc_event ***out, size_t *nout);
void rc_red_session_put(rc_history *h, const char *pid, const void *blob, size_t len,
                        int64_t ttl_ms);
void *rc_red_session_take(rc_history *h, const char *pid, size_t *len);
/* rc_history_ops.control_publish: PUBLISH on the control channel. */
void rc_red_control_publish(rc_history *h, const char *msg, size_t len);
/* rc_history_ops.memberships: on the calling thread, its own connection. */
int rc_red_memberships(rc_history *h,
                       int (*cb)(void *ud, const char *user, const char *program),
                       void *ud);

/* ---- history_redis_bus.c ---- */

/* rc_history_ops.start_bus: starts the bus thread once (any thread). */
void rc_red_start_bus(rc_history *h);

#endif
