/*
 * event.h - a typed Socket.IO event produced from one Kafka record.
 *
 * The catalog builds an event (name, rooms, JSON payload); the history
 * assigns its offset; the bus hands it to the gateway, which encodes it once
 * into a frame shared by every recipient. An event is immutable once it has
 * been published and is shared between threads by reference count.
 */
#ifndef RC_EVENT_H
#define RC_EVENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum rc_member_op {
    RC_MEMBER_NONE = 0,
    RC_MEMBER_ADD,    /* member:added: user joins the program */
    RC_MEMBER_REMOVE, /* member:removed: user leaves the program */
};

#define RC_OFFSET_MAX 48 /* "<epoch>-<seq>" with room to spare */

typedef struct rc_event {
    atomic_int refs;
    char *id;              /* eventId, owned */
    char *name;            /* "request:assigned", owned */
    char **rooms;          /* owned array of owned strings, no duplicates */
    size_t nrooms;
    char *payload;         /* JSON object text (first argument), owned */
    size_t payload_len;
    int transient;         /* delivered live only: never stored, no offset */
    enum rc_member_op member_op;
    char *member_user;     /* owned, set when member_op != NONE */
    char *member_program;  /* owned, set when member_op != NONE */
    int64_t occurred_ms;   /* occurred_at of the record (ms since epoch) */
    int64_t kafka_ts_ms;   /* Kafka message timestamp, -1 if unknown */
    char offset[RC_OFFSET_MAX]; /* set by the history; "" for transient */
} rc_event;

/* A zeroed event with one reference, or NULL when out of memory. */
rc_event *rc_event_new(void);
rc_event *rc_event_ref(rc_event *ev);
void rc_event_unref(rc_event *ev);

/* Adds a room unless already present. Returns 0 or -1 (out of memory). */
int rc_event_add_room(rc_event *ev, const char *room);

/* 1 if the event is addressed to room. */
int rc_event_in_room(const rc_event *ev, const char *room);

#endif
