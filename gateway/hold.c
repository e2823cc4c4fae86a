/*
 * hold.c - what the gateway offers an application that catches a socket up
 * from history while live events keep coming: holding the socket's share of
 * broadcasts, the replay floor that keeps an event from reaching a socket
 * twice, and the other gw_socket_* functions of app.h that connection state
 * recovery needs (a given socket id, the socket's rooms, room left in its
 * queue, why it went away).
 *
 * Implementation notes. A socket has a gw_hold only while it is held or
 * floored, so idle sockets pay one pointer. While held, every broadcast
 * that reaches the socket (gateway.c: bcast_member, after the per-broadcast
 * generation check, so an event in several of its rooms is kept once) is
 * kept as a reference to the shared frame with a copy of the event's
 * offset; the count is bounded by queue-max, beyond which the hold drops
 * what it kept and only remembers that it overflowed. The floor is the last
 * offset the replay covered: the bus delivers events in history order, so
 * once a broadcast carries an offset past the floor (or of another epoch)
 * no later one can be at or below it, and the floor is dropped.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "../core/history.h"
#include "../core/log.h"
#include "../core/metrics.h"

#define FAC "gateway"

typedef struct gw_held {
    frame *f;                    /* ref'd */
    char offset[RC_OFFSET_MAX];  /* "" for a transient event */
} gw_held;

typedef struct gw_hold {
    int holding;                 /* broadcasts are kept, not sent */
    int overflowed;              /* more than queue-max were due */
    gw_held *v;                  /* owned array */
    size_t n, cap;
    int floored;                 /* skip broadcasts at or below the floor */
    char floor_epoch[RC_OFFSET_MAX];
    uint64_t floor_seq;
} gw_hold;

static void held_clear(gw_hold *h)
{
    for (size_t i = 0; i < h->n; i++)
        frame_unref(h->v[i].f);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void hold_free(gw_socket *sk)
{
    if (!sk->hold)
        return;
    held_clear(sk->hold);
    free(sk->hold);
    sk->hold = NULL;
}

/* 1 when offset is of the floor's epoch and at or below it. */
static int below_floor(const gw_hold *h, const char *offset)
{
    char epoch[RC_OFFSET_MAX];
    uint64_t seq;
    if (!offset[0] || rc_offset_parse(offset, epoch, sizeof epoch, &seq) < 0)
        return 0;
    return strcmp(epoch, h->floor_epoch) == 0 && seq <= h->floor_seq;
}

int hold_offer(gw_socket *sk, frame *f, const char *offset)
{
    gw_hold *h = sk->hold;
    gateway *gw = sk->sess->gw;
    if (h->holding) {
        if (h->overflowed)
            return 1;
        if (h->n >= (size_t)gw->cfg->queue_max) {
            LOG_WARN(FAC, "sid %s: socket %s: more than %d events arrived during its "
                          "catch-up", sk->sess->sid, sk->id, gw->cfg->queue_max);
            held_clear(h);
            h->overflowed = 1;
            return 1;
        }
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 8;
            gw_held *v = realloc(h->v, cap * sizeof *v);
            if (!v) {
                held_clear(h);
                h->overflowed = 1;
                return 1;
            }
            h->v = v;
            h->cap = cap;
        }
        gw_held *e = &h->v[h->n++];
        e->f = frame_ref(f);
        snprintf(e->offset, sizeof e->offset, "%s", offset ? offset : "");
        return 1;
    }
    if (h->floored && offset && offset[0]) {
        if (below_floor(h, offset))
            return 1; /* the replay gave it already */
        hold_free(sk); /* past the floor: nothing older can follow */
    }
    return 0;
}

/* ---- app.h ---- */

int gw_socket_hold(gw_socket *sk)
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

int gw_socket_release(gw_socket *sk, const char *floor, int deliver)
{
    gw_hold *h = sk->hold;
    session *s = sk->sess;
    int rc = 0;
    if (!h || !h->holding)
        return -1;
    h->holding = 0;
    h->floored = 0;
    if (floor && floor[0] &&
        rc_offset_parse(floor, h->floor_epoch, sizeof h->floor_epoch, &h->floor_seq) == 0)
        h->floored = 1;
    if (h->overflowed) {
        h->overflowed = 0;
        if (deliver && sk->state != GW_SK_GONE) {
            /* Too far behind already: like a slow client, it reconnects
             * and catches up again. */
            rc_metric_inc(RC_M_SLOW_DISCONNECTS);
            session_close(s, "queue full", LWS_CLOSE_STATUS_POLICY_VIOLATION, 0);
            rc = -1;
        }
    }
    for (size_t i = 0; i < h->n && rc == 0 && deliver; i++) {
        if (sk->state != GW_SK_CONNECTED)
            rc = -1;
        else if (!(h->floored && below_floor(h, h->v[i].offset)) && session_send(s, h->v[i].f) < 0)
            rc = -1;
    }
    held_clear(h);
    if (!h->floored || rc < 0)
        hold_free(sk);
    return rc;
}

size_t gw_socket_queue_room(const gw_socket *sk)
{
    const session *s = sk->sess;
    size_t max = (size_t)s->gw->cfg->queue_max, used = frame_queue_len(&s->q);
    if (sk->hold)
        used += sk->hold->n;
    return used < max ? max - used : 0;
}

int gw_socket_set_id(gw_socket *sk, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (sk->state != GW_SK_PENDING || n == 0 || n > GW_ID_LEN)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return -1;
    }
    memcpy(sk->id, id, n + 1);
    return 0;
}

struct room_walk {
    const gw_socket *sk;
    void (*cb)(const char *room, void *ud);
    void *ud;
};

static void room_walk_cb(const char *key, void *ud)
{
    struct room_walk *w = ud;
    if (!w->sk->root) {
        /* nsp + 0x1F + name (sockets.c: room_key) */
        const char *sep = strchr(key, '\x1f');
        if (!sep)
            return;
        key = sep + 1;
    }
    w->cb(key, w->ud);
}

void gw_socket_foreach_room(const gw_socket *sk, void (*cb)(const char *room, void *ud), void *ud)
{
    struct room_walk w = {.sk = sk, .cb = cb, .ud = ud};
    if (sk->state == GW_SK_GONE)
        return;
    rooms_foreach_room(sk->sess->gw->rooms, sk, room_walk_cb, &w);
}

int gw_socket_lost(const gw_socket *sk)
{
    return sk->lost;
}
