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

#endif
