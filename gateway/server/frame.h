/*
 * frame.h - immutable, refcounted encoded packets and the bounded per-session
 * queue that holds references to them.
 *
 * A frame is one Engine.IO packet as it goes on the wire ("42[...]", "2",
 * "0{...}"). It is built once and shared by every recipient: a broadcast
 * queues one reference per socket instead of one copy. The bytes sit after
 * LWS_PRE bytes of headroom, so lws_write() can put the WebSocket header in
 * front of them without a copy; that headroom is scratch space for the
 * writer, the payload itself never changes after gw_frame_new().
 *
 * A gw_frame_queue is a FIFO of frame references with a hard capacity: a push
 * onto a full queue fails instead of growing, so a slow reader can never make
 * the server buffer without limit. The ring starts small and grows up to the
 * capacity, so idle connections stay cheap. Queues are single-threaded (the
 * server loop); frame reference counts are atomic.
 */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_frame gw_frame;

/* A new frame holding a copy of p[0..len) (NUL-terminated after the last
 * byte), with one reference; NULL when out of memory. */
gw_frame *gw_frame_new(const void *p, size_t len);

/* Adds a reference and returns f. */
gw_frame *gw_frame_ref(gw_frame *f);
/* Drops a reference; the last one frees the frame. NULL is ignored. */
void gw_frame_unref(gw_frame *f);

/*
 * The payload bytes, preceded by at least LWS_PRE writable bytes that belong
 * to the frame (for lws_write). Callers must not change the payload.
 */
unsigned char *gw_frame_data(const gw_frame *f);
size_t gw_frame_len(const gw_frame *f);
/* Current reference count (for tests and assertions). */
unsigned gw_frame_refs(const gw_frame *f);

/*
 * Marks f as a broadcast's frame, whose copies are counted as deliveries
 * when written or dropped (gw_counters), with the wall-clock time its
 * message originated at (ms since the epoch, negative: unknown). Only
 * before f is shared: the mark is read without synchronisation.
 */
void gw_frame_set_delivery(gw_frame *f, int64_t origin_ms);
/* 1 when f was marked a delivery. */
int gw_frame_is_delivery(const gw_frame *f);
/* The origin time of a delivery frame (negative: unknown). */
int64_t gw_frame_origin_ms(const gw_frame *f);

typedef struct gw_frame_queue {
    gw_frame **ring; /* owned array; each slot holds one owned reference */
    uint32_t head;   /* index of the oldest entry */
    uint32_t count;  /* entries queued */
    uint32_t cap;    /* slots allocated */
    uint32_t max;    /* hard capacity */
} gw_frame_queue;

enum gw_frame_queue_err {
    GW_FRAME_QUEUE_FULL = -1, /* max entries already queued */
    GW_FRAME_QUEUE_NOMEM = -2,
};

/* An empty queue that will hold at most max (>= 1, at most 2^31) frames;
 * allocates nothing. */
void gw_frame_queue_init(gw_frame_queue *q, size_t max);

/* Queues a new reference to f. Returns 0, GW_FRAME_QUEUE_FULL or
 * GW_FRAME_QUEUE_NOMEM; on failure the queue and f are unchanged. */
int gw_frame_queue_push(gw_frame_queue *q, gw_frame *f);

/* The oldest frame, its reference transferred to the caller; NULL if empty. */
gw_frame *gw_frame_queue_pop(gw_frame_queue *q);

/* The oldest frame, borrowed; NULL if empty. */
gw_frame *gw_frame_queue_peek(const gw_frame_queue *q);

static inline size_t gw_frame_queue_len(const gw_frame_queue *q)
{
    return q->count;
}

/* Drops every queued reference and frees the ring; the queue stays usable.
 * Returns how many of the frames dropped were deliveries. */
size_t gw_frame_queue_clear(gw_frame_queue *q);

#endif
