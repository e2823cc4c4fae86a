/*
 * frame.c - refcounted encoded packets and bounded frame queues.
 *
 * Implementation notes: a frame is one allocation, header then LWS_PRE bytes
 * of headroom then the payload and a NUL. The header is padded so that the
 * payload start keeps the alignment lws expects of its write buffers. The
 * queue ring doubles from 4 slots up to its hard capacity and is unwrapped
 * into the new allocation when it grows; a large ring is freed when the
 * queue drains, so memory follows the backlog rather than its peak.
 */
#include "frame.h"

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Ring slots kept allocated once a queue drains. */
#define FRAME_QUEUE_KEEP 16

struct frame {
    atomic_uint refs;
    size_t len;
    /* LWS_PRE bytes of headroom, then len payload bytes, then a NUL. */
    _Alignas(16) unsigned char buf[];
};

frame *frame_new(const void *p, size_t len)
{
    if (len > SIZE_MAX - sizeof(frame) - LWS_PRE - 1)
        return NULL;
    frame *f = malloc(sizeof *f + LWS_PRE + len + 1);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->len = len;
    if (len)
        memcpy(f->buf + LWS_PRE, p, len);
    f->buf[LWS_PRE + len] = '\0';
    return f;
}

frame *frame_ref(frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void frame_unref(frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

unsigned char *frame_data(const frame *f)
{
    return (unsigned char *)f->buf + LWS_PRE;
}

size_t frame_len(const frame *f)
{
    return f->len;
}

unsigned frame_refs(const frame *f)
{
    return atomic_load_explicit(&f->refs, memory_order_relaxed);
}

void frame_queue_init(frame_queue *q, size_t max)
{
    memset(q, 0, sizeof *q);
    q->max = max ? max : 1;
}

static int queue_grow(frame_queue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 4;
    if (cap > q->max)
        cap = q->max;
    frame **ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->head = 0;
    q->cap = cap;
    return 0;
}

int frame_queue_push(frame_queue *q, frame *f)
{
    if (q->count >= q->max)
        return FRAME_QUEUE_FULL;
    if (q->count == q->cap && queue_grow(q) < 0)
        return FRAME_QUEUE_NOMEM;
    q->ring[(q->head + q->count) % q->cap] = frame_ref(f);
    q->count++;
    return 0;
}

frame *frame_queue_pop(frame_queue *q)
{
    if (!q->count)
        return NULL;
    frame *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    if (--q->count == 0 && q->cap > FRAME_QUEUE_KEEP) {
        /* A burst is over: give the big ring back. */
        free(q->ring);
        q->ring = NULL;
        q->head = q->cap = 0;
    }
    return f;
}

frame *frame_queue_peek(const frame_queue *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

void frame_queue_clear(frame_queue *q)
{
    frame *f;
    while ((f = frame_queue_pop(q)))
        frame_unref(f);
    free(q->ring);
    q->ring = NULL;
    q->head = q->cap = 0;
}
