/*
 * history.h - the event history and the bus.
 *
 * history_append() is the one place an event becomes durable: it drops a
 * duplicate (same eventId), assigns the next offset "<epoch>-<seq>", keeps the
 * event in every one of its rooms (last history-max events, history-ttl
 * seconds) and publishes it on the bus, which hands every event, in history
 * order, to every subscriber on every node. Transient events are published
 * without being stored and carry no offset.
 *
 * This build has the in-memory implementation (single node): appends happen
 * on the consumer thread and subscribers are called on it synchronously.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef struct rc_history rc_history;

/* Receives a borrowed event; take a reference to keep it. */
typedef void (*rc_history_subscriber)(void *ud, rc_event *ev);

rc_history *rc_history_new_memory(int max_per_room, int ttl_s, char *errstr,
                                  size_t errlen);
void rc_history_destroy(rc_history *h);

/* Only one subscriber in this build; set before the first append. */
void rc_history_subscribe(rc_history *h, rc_history_subscriber cb, void *ud);

/*
 * Appends ev (borrowed; a reference is kept while stored) and sets
 * ev->offset. Returns 1 when appended, 0 when it was a duplicate (nothing
 * published), -1 when the store is unreachable (retry later).
 */
int rc_history_append(rc_history *h, rc_event *ev);

/* The current epoch ("" until known). */
const char *rc_history_epoch(const rc_history *h);

enum rc_replay_status {
    RC_REPLAY_OK = 0,      /* every missed event is in *out */
    RC_REPLAY_GAP = 1,     /* some were evicted (count or TTL): nothing given */
    RC_REPLAY_EPOCH = 2,   /* the offset is from another epoch: nothing given */
    RC_REPLAY_INVALID = 3, /* the offset is malformed: nothing given */
    RC_REPLAY_UNAVAILABLE = -1, /* the store is unreachable */
};

/*
 * The stored events of any of rooms[0..nrooms) with an offset after `after`
 * ("<epoch>-<seq>"), in offset order, each once. All or nothing: when any
 * room lost an event after `after`, or the epoch differs, returns a non-zero
 * status and no events. On RC_REPLAY_OK, *out is a malloc'ed array of *nout
 * new references (the caller unrefs each and frees the array).
 */
int rc_history_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout);

/* Splits "<epoch>-<seq>"; returns 0 or -1 when malformed. */
int rc_offset_parse(const char *offset, char *epoch, size_t epochlen,
                    uint64_t *seq);

#endif
