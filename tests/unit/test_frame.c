/*
 * test_frame.c - refcounted frames and bounded frame queues.
 */
#include "gateway/server/frame.h"

#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/unit/check.h"

static void test_frame_basics(void)
{
    gw_frame *f = gw_frame_new("42[\"a\",{}]", 10);
    CHECK(f != NULL);
    CHECK_INT(gw_frame_len(f), 10);
    CHECK_STR((const char *)gw_frame_data(f), "42[\"a\",{}]");
    CHECK_INT(gw_frame_refs(f), 1);

    CHECK(gw_frame_ref(f) == f);
    CHECK_INT(gw_frame_refs(f), 2);
    gw_frame_unref(f);
    CHECK_INT(gw_frame_refs(f), 1);
    gw_frame_unref(f); /* freed: ASan reports a leak or double free otherwise */
    gw_frame_unref(NULL);

    gw_frame *e = gw_frame_new(NULL, 0);
    CHECK(e != NULL);
    CHECK_INT(gw_frame_len(e), 0);
    CHECK_INT(gw_frame_data(e)[0], 0);
    gw_frame_unref(e);
}

static void test_frame_headroom(void)
{
    /* lws_write() writes up to LWS_PRE bytes in front of the payload: those
     * bytes must belong to the frame (ASan checks the bounds) and writing
     * them must leave the payload intact. */
    const char text[] = "2probe";
    gw_frame *f = gw_frame_new(text, sizeof text - 1);
    unsigned char *d = gw_frame_data(f);
    memset(d - LWS_PRE, 0xA5, LWS_PRE);
    CHECK(memcmp(d, text, sizeof text) == 0);
    CHECK_INT(((uintptr_t)d) % sizeof(void *), 0);

    /* The payload is a copy: changing the source afterwards is invisible. */
    char src[4] = "abc";
    gw_frame *g = gw_frame_new(src, 3);
    src[0] = 'X';
    CHECK_STR((const char *)gw_frame_data(g), "abc");
    gw_frame_unref(g);
    gw_frame_unref(f);
}

static void test_queue_order_and_bound(void)
{
    gw_frame_queue q;
    gw_frame_queue_init(&q, 3);
    CHECK(gw_frame_queue_pop(&q) == NULL);
    CHECK(gw_frame_queue_peek(&q) == NULL);

    gw_frame *a = gw_frame_new("a", 1), *b = gw_frame_new("b", 1), *c = gw_frame_new("c", 1);
    CHECK_INT(gw_frame_queue_push(&q, a), 0);
    CHECK_INT(gw_frame_queue_push(&q, b), 0);
    CHECK_INT(gw_frame_queue_push(&q, a), 0); /* the same frame twice is fine */
    CHECK_INT(gw_frame_refs(a), 3);
    CHECK_INT(gw_frame_queue_len(&q), 3);

    /* Full: the push fails and takes no reference. */
    CHECK_INT(gw_frame_queue_push(&q, c), GW_FRAME_QUEUE_FULL);
    CHECK_INT(gw_frame_refs(c), 1);
    CHECK_INT(gw_frame_queue_len(&q), 3);

    CHECK(gw_frame_queue_peek(&q) == a);
    gw_frame *x = gw_frame_queue_pop(&q);
    CHECK(x == a);
    CHECK_INT(gw_frame_refs(a), 3); /* the popped reference now belongs to us */
    gw_frame_unref(x);
    CHECK_INT(gw_frame_refs(a), 2);

    /* Wrap around the ring. */
    CHECK_INT(gw_frame_queue_push(&q, c), 0);
    x = gw_frame_queue_pop(&q);
    CHECK(x == b);
    gw_frame_unref(x);
    x = gw_frame_queue_pop(&q);
    CHECK(x == a);
    gw_frame_unref(x);
    x = gw_frame_queue_pop(&q);
    CHECK(x == c);
    gw_frame_unref(x);
    CHECK(gw_frame_queue_pop(&q) == NULL);
    CHECK_INT(gw_frame_refs(a), 1);
    CHECK_INT(gw_frame_refs(b), 1);
    CHECK_INT(gw_frame_refs(c), 1);

    gw_frame_queue_clear(&q);
    gw_frame_unref(a);
    gw_frame_unref(b);
    gw_frame_unref(c);
}

static void test_queue_growth_and_clear(void)
{
    enum { N = 1000 };
    gw_frame_queue q;
    gw_frame_queue_init(&q, N);
    gw_frame *f = gw_frame_new("x", 1);
    /* Interleave pushes and pops so the ring wraps while it grows. */
    size_t pushed = 0, popped = 0;
    while (pushed < N) {
        CHECK_INT(gw_frame_queue_push(&q, f), 0);
        pushed++;
        if (pushed % 3 == 0) {
            gw_frame_unref(gw_frame_queue_pop(&q));
            popped++;
        }
    }
    CHECK_INT(gw_frame_queue_len(&q), pushed - popped);
    CHECK_INT(gw_frame_refs(f), 1 + pushed - popped);
    while (gw_frame_queue_len(&q) < N)
        CHECK_INT(gw_frame_queue_push(&q, f), 0);
    CHECK_INT(gw_frame_queue_push(&q, f), GW_FRAME_QUEUE_FULL);
    CHECK_INT(gw_frame_refs(f), 1 + N);

    /* Draining a large ring releases it; the queue keeps working. */
    while (gw_frame_queue_len(&q))
        gw_frame_unref(gw_frame_queue_pop(&q));
    CHECK(q.ring == NULL);
    CHECK_INT(gw_frame_queue_push(&q, f), 0);
    CHECK_INT(gw_frame_refs(f), 2);

    /* clear drops every queued reference. */
    CHECK_INT(gw_frame_queue_push(&q, f), 0);
    CHECK_INT(gw_frame_refs(f), 3);
    gw_frame_queue_clear(&q);
    CHECK_INT(gw_frame_refs(f), 1);
    CHECK_INT(gw_frame_queue_len(&q), 0);
    CHECK(q.ring == NULL);
    CHECK_INT(gw_frame_queue_push(&q, f), 0);
    gw_frame_queue_clear(&q);
    CHECK_INT(gw_frame_refs(f), 1);
    gw_frame_unref(f);

    /* A zero capacity is clamped to one slot. */
    gw_frame_queue_init(&q, 0);
    gw_frame *g = gw_frame_new("g", 1);
    CHECK_INT(gw_frame_queue_push(&q, g), 0);
    CHECK_INT(gw_frame_queue_push(&q, g), GW_FRAME_QUEUE_FULL);
    gw_frame_queue_clear(&q);
    gw_frame_unref(g);
}

int main(void)
{
    test_frame_basics();
    test_frame_headroom();
    test_queue_order_and_bound();
    test_queue_growth_and_clear();
    return CHECK_DONE();
}
