/*
 * frame.c - refcounted encoded packets and bounded frame queues.
 *
 * Implementation notes: a frame is one allocation, header then LWS_PRE bytes
 * of headroom then the payload and a NUL. The header is padded so that the
 * payload start keeps the alignment lws expects of its write buffers. The
 * queue ring doubles from 2 slots up to its hard capacity and is unwrapped
 * into the new allocation when it grows; a large ring is freed when the
 * queue drains, so memory follows the backlog rather than its peak.
 */
#include "gateway/server/frame.h"

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Ring slots kept allocated once a queue drains. */
#define GW_FRAME_QUEUE_KEEP 16
/* The largest hard capacity. */
#define GW_FRAME_QUEUE_MAX ((uint32_t)1 << 31)

struct gw_frame {
    atomic_uint refs;
    uint32_t delivery; /* a broadcast's frame (gw_frame_set_delivery) */
    size_t len;
    int64_t origin_ms; /* of a delivery; negative: unknown */
    /* LWS_PRE bytes of headroom, then len payload bytes, then a NUL. */
    _Alignas(16) unsigned char buf[];
};

gw_frame *gw_frame_new(const void *p, size_t len)
{
    if (len > SIZE_MAX - sizeof(gw_frame) - LWS_PRE - 1)
        return NULL;
    gw_frame *f = malloc(sizeof *f + LWS_PRE + len + 1);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->delivery = 0;
    f->origin_ms = -1;
    f->len = len;
    if (len)
        memcpy(f->buf + LWS_PRE, p, len);
    f->buf[LWS_PRE + len] = '\0';
    return f;
}

gw_frame *gw_frame_ref(gw_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void gw_frame_unref(gw_frame *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        free(f);
}

unsigned char *gw_frame_data(const gw_frame *f)
{
    return (unsigned char *)f->buf + LWS_PRE;
}

size_t gw_frame_len(const gw_frame *f)
{
    return f->len;
}

unsigned gw_frame_refs(const gw_frame *f)
{
    return atomic_load_explicit(&f->refs, memory_order_relaxed);
}

void gw_frame_set_delivery(gw_frame *f, int64_t origin_ms)
{
    f->delivery = 1;
    f->origin_ms = origin_ms;
}

int gw_frame_is_delivery(const gw_frame *f)
{
    return f->delivery != 0;
}

int64_t gw_frame_origin_ms(const gw_frame *f)
{
    return f->origin_ms;
}

void gw_frame_queue_init(gw_frame_queue *q, size_t max)
{
    memset(q, 0, sizeof *q);
    /* At most 2^31, so that head + count never wraps a uint32_t. */
    q->max = max == 0 ? 1 : max > GW_FRAME_QUEUE_MAX ? GW_FRAME_QUEUE_MAX : (uint32_t)max;
}

static int queue_grow(gw_frame_queue *q)
{
    /* Two slots first: an idle connection holds its ring for its life. */
    uint32_t cap = q->cap ? (q->cap > q->max / 2 ? q->max : q->cap * 2) : 2;
    if (cap > q->max)
        cap = q->max;
    gw_frame **ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (uint32_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->head = 0;
    q->cap = cap;
    return 0;
}

int gw_frame_queue_push(gw_frame_queue *q, gw_frame *f)
{
    if (q->count >= q->max)
        return GW_FRAME_QUEUE_FULL;
    if (q->count == q->cap && queue_grow(q) < 0)
        return GW_FRAME_QUEUE_NOMEM;
    q->ring[(q->head + q->count) % q->cap] = gw_frame_ref(f);
    q->count++;
    return 0;
}

gw_frame *gw_frame_queue_pop(gw_frame_queue *q)
{
    if (!q->count)
        return NULL;
    gw_frame *f = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    if (--q->count == 0 && q->cap > GW_FRAME_QUEUE_KEEP) {
        /* A burst is over: give the big ring back. */
        free(q->ring);
        q->ring = NULL;
        q->head = q->cap = 0;
    }
    return f;
}

gw_frame *gw_frame_queue_peek(const gw_frame_queue *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

size_t gw_frame_queue_clear(gw_frame_queue *q)
{
    gw_frame *f;
    size_t deliveries = 0;
    while ((f = gw_frame_queue_pop(q))) {
        deliveries += f->delivery;
        gw_frame_unref(f);
    }
    free(q->ring);
    q->ring = NULL;
    q->head = q->cap = 0;
    return deliveries;
}
