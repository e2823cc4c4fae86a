/*
 * hold.c - what the server offers an application that catches a socket up
 * from history while live events keep coming: holding the socket's share of
 * broadcasts, and the replay floor that keeps an event from reaching a
 * socket twice.
 *
 * Implementation notes. A socket has a gw_hold only while it is held or
 * floored, so idle sockets pay one pointer. While held, every broadcast
 * that reaches the socket (broadcast.c, after the per-broadcast
 * generation check, so an event in several of its rooms is kept once) is
 * kept as a reference to the shared frame with a copy of the event's
 * offset; the count is bounded by queue-max, beyond which the hold drops
 * what it kept and only remembers that it overflowed. The floor is the last
 * offset the replay covered, compared by the application
 * (gw_app.offset_covered): broadcasts come in offset order, so once one is
 * not covered no later one can be, and the floor is dropped.
 */
#include "gateway/server/server_private.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define FAC GW_FAC

typedef struct gw_held {
    gw_frame *f;                /* ref'd */
    char offset[GW_OFFSET_MAX]; /* "" for a transient event */
} gw_held;

typedef struct gw_hold {
    int holding;    /* broadcasts are kept, not sent */
    int overflowed; /* more than queue-max were due */
    gw_held *v;     /* owned array */
    size_t n, cap;
    int floored; /* skip broadcasts the floor covers */
    char floor[GW_OFFSET_MAX];
} gw_hold;

/* Forgets what h keeps; sent: how many of its frames were queued (the
 * rest are counted as dropped deliveries). */
static void held_clear(gw_server *gw, gw_hold *h, size_t sent)
{
    gw_count_dropped(gw, h->n - sent);
    for (size_t i = 0; i < h->n; i++)
        gw_frame_unref(h->v[i].f);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void gw_hold_free(gw_server *gw, gw_socket *sk)
{
    if (!sk->hold)
        return;
    held_clear(gw, sk->hold, 0);
    free(sk->hold);
    sk->hold = NULL;
}

/* 1 when the application says the floor covers offset. */
static int below_floor(const gw_socket *sk, const gw_hold *h, const char *offset)
{
    const gw_app *app = &sk->sess->gw->app;
    return offset[0] && app->offset_covered && app->offset_covered(app->ud, offset, h->floor);
}

size_t gw_hold_count(const gw_socket *sk)
{
    return sk->hold ? sk->hold->n : 0;
}

int gw_hold_offer(gw_socket *sk, gw_frame *f, const char *offset)
{
    gw_hold *h = sk->hold;
    gw_server *gw = sk->sess->gw;
    if (h->holding) {
        if (h->overflowed) {
            gw_count_dropped(gw, 1);
            return 1;
        }
        if (h->n >= (size_t)gw->opt.queue_max) {
            LOG_WARN(FAC,
                     "sid %s: socket %s: more than %d events arrived during its "
                     "catch-up",
                     sk->sess->sid, sk->id, gw->opt.queue_max);
            held_clear(gw, h, 0);
            gw_count_dropped(gw, 1);
            h->overflowed = 1;
            return 1;
        }
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 8;
            gw_held *v = realloc(h->v, cap * sizeof *v);
            if (!v) {
                held_clear(gw, h, 0);
                gw_count_dropped(gw, 1);
                h->overflowed = 1;
                return 1;
            }
            h->v = v;
            h->cap = cap;
        }
        gw_held *e = &h->v[h->n++];
        e->f = gw_frame_ref(f);
        snprintf(e->offset, sizeof e->offset, "%s", offset ? offset : "");
        return 1;
    }
    if (h->floored && offset && offset[0]) {
        if (below_floor(sk, h, offset))
            return 1;     /* the replay gave it already */
        gw_hold_free(gw, sk); /* past the floor: nothing older can follow */
    }
    return 0;
}

/* ---- app.h ---- */

int gw_hold_start(gw_socket *sk)
{
    if (sk->state == GW_SK_GONE)
        return -1;
    if (!sk->hold && !(sk->hold = calloc(1, sizeof *sk->hold)))
        return -1;
    if (sk->hold->holding)
        return -1;
    sk->hold->holding = 1;
    sk->hold->overflowed = 0;
    return 0;
}

int gw_hold_release(gw_socket *sk, const char *floor, int deliver)
{
    gw_hold *h = sk->hold;
    gw_session *s = sk->sess;
    int rc = 0;
    if (!h || !h->holding)
        return -1;
    h->holding = 0;
    h->floored = 0;
    if (floor && floor[0] && strlen(floor) < sizeof h->floor && s->gw->app.offset_covered) {
        memcpy(h->floor, floor, strlen(floor) + 1);
        h->floored = 1;
    }
    if (h->overflowed) {
        h->overflowed = 0;
        if (deliver && sk->state != GW_SK_GONE) {
            /* Too far behind already: like a slow client, it reconnects
             * and catches up again. */
            rc_counter_inc(&s->gw->counters.slow_disconnects);
            gw_session_close(s, "queue full", GW_CLOSE_POLICY, 0);
            rc = -1;
        }
    }
    /* A frame the floor covers is not a delivery lost: the replay gave it;
     * one gw_session_send() refuses it counts itself. */
    size_t done = 0;
    for (; done < h->n && rc == 0 && deliver; done++) {
        if (sk->state != GW_SK_CONNECTED)
            break;
        if (!(h->floored && below_floor(sk, h, h->v[done].offset)) &&
            gw_session_send(s, h->v[done].f) < 0)
            rc = -1;
    }
    if (done < h->n && rc == 0 && deliver)
        rc = -1;
    held_clear(s->gw, h, done);
    if (!h->floored || rc < 0)
        gw_hold_free(s->gw, sk);
    return rc;
}
