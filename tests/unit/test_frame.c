/*
 * test_frame.c - refcounted frames and bounded frame queues.
 */
#include "gateway/frame.h"

#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/unit/check.h"

static void test_frame_basics(void)
{
    frame *f = frame_new("42[\"a\",{}]", 10);
    CHECK(f != NULL);
    CHECK_INT(frame_len(f), 10);
    CHECK_STR((const char *)frame_data(f), "42[\"a\",{}]");
    CHECK_INT(frame_refs(f), 1);

    CHECK(frame_ref(f) == f);
    CHECK_INT(frame_refs(f), 2);
    frame_unref(f);
    CHECK_INT(frame_refs(f), 1);
    frame_unref(f); /* freed: ASan reports a leak or double free otherwise */
    frame_unref(NULL);

    frame *e = frame_new(NULL, 0);
    CHECK(e != NULL);
    CHECK_INT(frame_len(e), 0);
    CHECK_INT(frame_data(e)[0], 0);
    frame_unref(e);
}

static void test_frame_headroom(void)
{
    /* lws_write() writes up to LWS_PRE bytes in front of the payload: those
     * bytes must belong to the frame (ASan checks the bounds) and writing
     * them must leave the payload intact. */
    const char text[] = "2probe";
    frame *f = frame_new(text, sizeof text - 1);
    unsigned char *d = frame_data(f);
    memset(d - LWS_PRE, 0xA5, LWS_PRE);
    CHECK(memcmp(d, text, sizeof text) == 0);
    CHECK_INT(((uintptr_t)d) % sizeof(void *), 0);

    /* The payload is a copy: changing the source afterwards is invisible. */
    char src[4] = "abc";
    frame *g = frame_new(src, 3);
    src[0] = 'X';
    CHECK_STR((const char *)frame_data(g), "abc");
    frame_unref(g);
    frame_unref(f);
}

static void test_queue_order_and_bound(void)
{
    frame_queue q;
    frame_queue_init(&q, 3);
    CHECK(frame_queue_pop(&q) == NULL);
    CHECK(frame_queue_peek(&q) == NULL);

    frame *a = frame_new("a", 1), *b = frame_new("b", 1), *c = frame_new("c", 1);
    CHECK_INT(frame_queue_push(&q, a), 0);
    CHECK_INT(frame_queue_push(&q, b), 0);
    CHECK_INT(frame_queue_push(&q, a), 0); /* the same frame twice is fine */
    CHECK_INT(frame_refs(a), 3);
    CHECK_INT(frame_queue_len(&q), 3);

    /* Full: the push fails and takes no reference. */
    CHECK_INT(frame_queue_push(&q, c), FRAME_QUEUE_FULL);
    CHECK_INT(frame_refs(c), 1);
    CHECK_INT(frame_queue_len(&q), 3);

    CHECK(frame_queue_peek(&q) == a);
    frame *x = frame_queue_pop(&q);
    CHECK(x == a);
    CHECK_INT(frame_refs(a), 3); /* the popped reference now belongs to us */
    frame_unref(x);
    CHECK_INT(frame_refs(a), 2);

    /* Wrap around the ring. */
    CHECK_INT(frame_queue_push(&q, c), 0);
    x = frame_queue_pop(&q);
    CHECK(x == b);
    frame_unref(x);
    x = frame_queue_pop(&q);
    CHECK(x == a);
    frame_unref(x);
    x = frame_queue_pop(&q);
    CHECK(x == c);
    frame_unref(x);
    CHECK(frame_queue_pop(&q) == NULL);
    CHECK_INT(frame_refs(a), 1);
    CHECK_INT(frame_refs(b), 1);
    CHECK_INT(frame_refs(c), 1);

    frame_queue_clear(&q);
    frame_unref(a);
    frame_unref(b);
    frame_unref(c);
}

static void test_queue_growth_and_clear(void)
{
    enum { N = 1000 };
    frame_queue q;
    frame_queue_init(&q, N);
    frame *f = frame_new("x", 1);
    /* Interleave pushes and pops so the ring wraps while it grows. */
    size_t pushed = 0, popped = 0;
    while (pushed < N) {
        CHECK_INT(frame_queue_push(&q, f), 0);
        pushed++;
        if (pushed % 3 == 0) {
            frame_unref(frame_queue_pop(&q));
            popped++;
        }
    }
    CHECK_INT(frame_queue_len(&q), pushed - popped);
    CHECK_INT(frame_refs(f), 1 + pushed - popped);
    while (frame_queue_len(&q) < N)
        CHECK_INT(frame_queue_push(&q, f), 0);
    CHECK_INT(frame_queue_push(&q, f), FRAME_QUEUE_FULL);
    CHECK_INT(frame_refs(f), 1 + N);

    /* Draining a large ring releases it; the queue keeps working. */
    while (frame_queue_len(&q))
        frame_unref(frame_queue_pop(&q));
    CHECK(q.ring == NULL);
    CHECK_INT(frame_queue_push(&q, f), 0);
    CHECK_INT(frame_refs(f), 2);

    /* clear drops every queued reference. */
    CHECK_INT(frame_queue_push(&q, f), 0);
    CHECK_INT(frame_refs(f), 3);
    frame_queue_clear(&q);
    CHECK_INT(frame_refs(f), 1);
    CHECK_INT(frame_queue_len(&q), 0);
    CHECK(q.ring == NULL);
    CHECK_INT(frame_queue_push(&q, f), 0);
    frame_queue_clear(&q);
    CHECK_INT(frame_refs(f), 1);
    frame_unref(f);

    /* A zero capacity is clamped to one slot. */
    frame_queue_init(&q, 0);
    frame *g = frame_new("g", 1);
    CHECK_INT(frame_queue_push(&q, g), 0);
    CHECK_INT(frame_queue_push(&q, g), FRAME_QUEUE_FULL);
    frame_queue_clear(&q);
    frame_unref(g);
}

int main(void)
{
    test_frame_basics();
    test_frame_headroom();
    test_queue_order_and_bound();
    test_queue_growth_and_clear();
    return CHECK_DONE();
}
