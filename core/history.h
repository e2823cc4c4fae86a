/*
 * history.h - the event history and the bus.
 *
 * rc_history_append() is the one place an event becomes durable: it drops a
 * duplicate (same eventId), assigns the next offset "<epoch>-<seq>", keeps
 * the event in every one of its rooms (last history-max events, history-ttl
 * seconds) and publishes it on the bus, which hands every event, in history
 * order, to the subscriber of every node. Transient events are published
 * without being stored and carry no offset. The history also keeps what a
 * node needs to learn from the others: program memberships (redis), and
 * the Socket.IO sessions of disconnected clients for connection state
 * recovery.
 *
 * Two backends behind one interface (docs/history.md has the details):
 *  - memory (rc_history_new_memory): single node; the bus is in-process and
 *    the subscriber is called synchronously on the appending thread, under
 *    the history's lock, in history order.
 *  - redis (rc_history_new_redis): every node appends to one Redis (a Lua
 *    script per call, for one event or a batch) and receives every event, its own included, through
 *    Redis pub/sub on a bus thread owned by the history; the subscriber is
 *    called on that thread, in history order. After the bus lost its
 *    connection (pub/sub drops what it misses meanwhile) and got it back, the
 *    gap handler is called on the bus thread.
 *
 * Threads: append may be called from any thread (the consumer's), as may the
 * blocking queries; none of the blocking calls may run on the gateway loop.
 * The *_async calls never block: they queue a job for the history's worker
 * thread, which calls `done` on that thread. Callbacks must not call the
 * blocking functions of the same history.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef struct rc_history rc_history;

/* Receives a borrowed event; take a reference to keep it. */
typedef void (*rc_history_subscriber)(void *ud, rc_event *ev);

/* The bus may have missed events: every client should recover from history. */
typedef void (*rc_history_gap_handler)(void *ud);

/*
 * The in-memory history: max_per_room events per room, kept ttl_s seconds.
 * Its epoch is random per process.
 */
rc_history *rc_history_new_memory(int max_per_room, int ttl_s, char *errstr,
                                  size_t errlen);

/*
 * The Redis history at url: "redis://[[user]:password@]host[:port][/db]"
 * (port 6379 and db 0 by default; an IPv6 host in brackets). Fails only on
 * a malformed url or when out of memory: Redis being down at start is not
 * an error (appends return -1 until it is back; rc_history_ready says so).
 * Connections use 2 s connect and command timeouts. errstr is cleared on
 * success.
 */
rc_history *rc_history_new_redis(const char *url, int max_per_room, int ttl_s,
                                  char *errstr, size_t errlen);

/*
 * Stops the bus and the worker threads, calls the `done` of every job still
 * queued with RC_REPLAY_UNAVAILABLE (or no session), and frees everything.
 * Whatever those callbacks and the subscriber use must outlive this call.
 */
void rc_history_destroy(rc_history *h);

/* "memory" or "redis". */
const char *rc_history_backend(const rc_history *h);

/* 1 when what the store keeps outlives this process (Redis: another node,
 * or this one restarted, finds it), 0 when it dies with it (memory). */
int rc_history_durable(const rc_history *h);

/*
 * 1 when the store is reachable (memory: always; redis: the last command
 * succeeded and, once subscribed, the bus is connected), else 0. Any thread.
 */
int rc_history_ready(const rc_history *h);

/*
 * Sets the gap handler (redis: called on the bus thread each time the bus
 * subscribed again after having been down, including a first connection
 * that did not succeed at once; memory: never called). Set it before
 * rc_history_subscribe.
 */
void rc_history_on_gap(rc_history *h, rc_history_gap_handler gap, void *ud);

/*
 * Sets the one subscriber (set it once, before the first append). With the
 * redis backend this starts the bus thread.
 */
void rc_history_subscribe(rc_history *h, rc_history_subscriber cb, void *ud);

/*
 * Appends ev (borrowed; the memory backend keeps a reference while stored)
 * and sets ev->offset. Returns 1 when appended, 0 when it was a duplicate
 * (nothing stored or published), -1 when the store is unreachable or failed
 * (logged; retry later: the redis backend reconnects on a later call, with
 * backoff, and never blocks longer than its timeouts).
 */
int rc_history_append(rc_history *h, rc_event *ev);

/*
 * Appends evs[0..n) (each borrowed, as above) in order: what n calls of
 * rc_history_append one after the other would do, in fewer round trips
 * (redis: one script call per RC_HISTORY_BATCH_CALL events at most, each
 * sent once the one before answered). Returns k, how many were handled
 * from the first on, each with its result in res[i] (1 appended and
 * ev->offset set, 0 a duplicate): n when all were. k < n when the store
 * refused evs[k] (unreachable, or a Redis error; logged): evs[0..k) are
 * durable and published, evs[k..n) are to be retried later, in order from
 * evs[k]. Any of those the store did take (a reply lost with the
 * connection) is then dropped as a duplicate, and one it took half-way
 * (its eventId not recorded) is appended in full. Nothing after a refused
 * event is appended, so the order holds.
 */
#define RC_HISTORY_BATCH_CALL 512
size_t rc_history_append_batch(rc_history *h, rc_event *const *evs, size_t n, int *res);

/*
 * rc_history_append_batch in two steps, so that the caller can work while
 * the store does: rc_history_append_start starts appending evs[0..n)
 * (n >= 1; evs, the events and res borrowed until the finish) and returns
 * (redis: once the first script call is sent; memory: once it is all
 * done); rc_history_append_finish waits for the outcome and returns what
 * rc_history_append_batch would have, res filled in. Both from the same
 * thread; one append is in flight per history at a time (an append from
 * another thread waits for the finish).
 */
void rc_history_append_start(rc_history *h, rc_event *const *evs, size_t n, int *res);
size_t rc_history_append_finish(rc_history *h);

/*
 * Between a start and its finish, on the same thread: prepares what the
 * next rc_history_append_start(h, evs, n, ...) will send (redis: builds
 * its first script call while the one before runs), so that the start
 * after the finish only sends. Nothing is appended here. What was
 * prepared is used only by a start with the same events in the same
 * order, after a finish that handled all its events; otherwise it is
 * dropped. Outside a start and its finish, and with the memory backend,
 * it does nothing.
 */
void rc_history_append_prepare(rc_history *h, rc_event *const *evs, size_t n);

/*
 * The current epoch ("" until known). The string stays valid until
 * rc_history_destroy; with redis it changes when the store was lost.
 */
const char *rc_history_epoch(const rc_history *h);

enum rc_replay_status {
    RC_REPLAY_OK = 0,      /* every missed event is in *out */
    RC_REPLAY_GAP = 1,     /* some were evicted (count or TTL): nothing given */
    RC_REPLAY_EPOCH = 2,   /* the offset is from another epoch: nothing given */
    RC_REPLAY_INVALID = 3, /* the offset is malformed: nothing given */
    RC_REPLAY_UNAVAILABLE = -1, /* the store is unreachable */
};

/*
 * Receives a replay's result on the worker thread: on RC_REPLAY_OK, evs is a
 * malloc'ed array of n new references, transferred to the callee (unref each,
 * free the array); otherwise evs is NULL and n 0.
 */
typedef void (*rc_history_replay_done)(void *ud, int status, rc_event **evs,
                                       size_t n);

/*
 * The stored events of any of rooms[0..nrooms) with an offset after `after`
 * ("<epoch>-<seq>"), in offset order, each once. All or nothing: when any
 * room lost an event after `after` (count or TTL), the epoch differs, or the
 * offset is malformed or from the future, returns a non-zero status and no
 * events. On RC_REPLAY_OK, *out is a malloc'ed array of *nout new references
 * (the caller unrefs each and frees the array; NULL when *nout is 0).
 * Blocking (a Redis round trip): never call it on the gateway loop.
 */
int rc_history_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout);

/*
 * The same, asynchronous: rooms and after are copied; done is called once,
 * on the worker thread. Returns 0 when queued, -1 when not (queue full or
 * out of memory; done is then not called).
 */
int rc_history_replay_async(rc_history *h, const char *const *rooms,
                            size_t nrooms, const char *after,
                            rc_history_replay_done done, void *ud);

/*
 * Replay by time, for clients that only know the timestamp of the last
 * event they saw: the stored events of the rooms whose occurred time
 * (rc_event.occurred_ms, the record's occurred_at, which is the payload's
 * "timestamp") is after since_ms, in offset order, each once. All or
 * nothing: RC_REPLAY_GAP when the window no longer reaches back to since_ms,
 * i.e. since_ms is older than the TTL window or than the store itself (a
 * restart or a lost Redis), or a room evicted an event that occurred after
 * since_ms. Blocking, like rc_history_replay.
 */
int rc_history_replay_since(rc_history *h, const char *const *rooms,
                            size_t nrooms, int64_t since_ms, rc_event ***out,
                            size_t *nout);
int rc_history_replay_since_async(rc_history *h, const char *const *rooms,
                                  size_t nrooms, int64_t since_ms,
                                  rc_history_replay_done done, void *ud);

/*
 * Walks every stored membership (user in program): redis, the shared sets
 * every node's appends maintain; memory, none (a single node rebuilds its
 * memberships from the membership topic, consumer/rebuild.h). cb returns 0
 * to go on, non-zero to stop, and is called on the calling thread. Blocking
 * (redis: SCAN + SMEMBERS on a connection of its own), meant for start-up.
 * Returns 0 when the walk ended or was stopped, -1 when the store is
 * unreachable (cb may have been called for some).
 */
int rc_history_memberships(rc_history *h,
                           int (*cb)(void *ud, const char *user,
                                     const char *program),
                           void *ud);

/*
 * Session store for Socket.IO connection state recovery, shared by every
 * node (redis) and kept across a node's restart (redis).
 *
 * rc_history_session_put keeps a copy of blob[0..len) under pid (a
 * NUL-terminated id of at most RC_SESSION_PID_MAX bytes) for ttl_ms,
 * replacing any previous one. It never blocks: the write is queued for the
 * worker thread, in order with later takes. Returns 0 when queued, -1 when
 * the arguments are out of range (len > RC_SESSION_MAX, ttl_ms <= 0) or the
 * queue is full.
 *
 * rc_history_session_take_async removes and hands over the blob stored under
 * pid: done gets a malloc'ed blob (transferred: the callee frees it) and its
 * length, or NULL and 0 when there is none, it expired, it was taken
 * already, or the store is unreachable. done runs on the worker thread.
 * Returns 0 when queued, -1 when not (done is then not called).
 */
#define RC_SESSION_PID_MAX 256
#define RC_SESSION_MAX (1024 * 1024)
typedef void (*rc_history_session_done)(void *ud, void *blob, size_t len);
int rc_history_session_put(rc_history *h, const char *pid, const void *blob,
                           size_t len, int64_t ttl_ms);
int rc_history_session_take_async(rc_history *h, const char *pid,
                                  rc_history_session_done done, void *ud);

/*
 * Control messages: short texts between the nodes that share a store,
 * beside the events: what an operator asks of every node (disconnect a
 * user's sockets). Not stored and in no order with the events; a node
 * whose bus is down when one is published never gets it (no replay).
 *
 * rc_history_on_control sets the one handler (before rc_history_subscribe):
 * called with every control message any node published, this node's own
 * included; msg[0..len) is borrowed for the call (not NUL-terminated).
 * Redis: on the bus thread, from channel roomcast:control; memory: on the
 * worker thread (a single node hears itself).
 *
 * rc_history_control_publish copies msg[0..len) (1 to RC_CONTROL_MAX
 * bytes) and never blocks: the PUBLISH is queued for the worker thread.
 * Returns 0 when queued, -1 when not (size out of range, queue full, out of
 * memory). A PUBLISH that fails later (Redis unreachable) is logged.
 */
#define RC_CONTROL_MAX (64 * 1024)
typedef void (*rc_history_control_handler)(void *ud, const char *msg, size_t len);
void rc_history_on_control(rc_history *h, rc_history_control_handler cb, void *ud);
int rc_history_control_publish(rc_history *h, const char *msg, size_t len);

/* Splits "<epoch>-<seq>"; returns 0 or -1 when malformed. */
int rc_offset_parse(const char *offset, char *epoch, size_t epochlen,
                    uint64_t *seq);

#endif
