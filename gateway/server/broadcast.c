/*
 * broadcast.c - encode-once broadcasts to rooms (gw_broadcast, server.h).
 *
 * Implementation notes. An event is encoded once into a refcounted frame
 * and every recipient's queue takes a reference. Its rooms are walked with
 * a per-broadcast generation number stamped on each socket, so a socket in
 * several of the rooms gets one copy. A socket being caught up has a hold
 * (hold.c) that keeps the frame, or skips those its replay already gave.
 * Queues that overflow during the walk are closed after it, since closing
 * a session changes the rooms being walked. The frame is marked a
 * delivery: each copy is counted once, as written by the transport that
 * writes it or as dropped wherever it is discarded (gw_counters).
 */
#include "gateway/server/server_private.h"

#include <string.h>

#include "core/log.h"

#define FAC GW_FAC

struct bcast {
    gw_frame *f;
    const char *offset; /* the event's ("" when transient) */
    uint64_t gen;
    long deliveries;
};

static void bcast_member(void *member, void *ud)
{
    gw_socket *sk = member;
    struct bcast *b = ud;
    if (sk->gen == b->gen || (sk->state != GW_SK_CONNECTED && !sk->hold))
        return; /* already reached through another of the event's rooms */
    sk->gen = b->gen;
    if (sk->hold && gw_hold_offer(sk, b->f, b->offset))
        return;
    if (sk->state != GW_SK_CONNECTED)
        return;
    if (gw_session_send(sk->sess, b->f) == 0)
        b->deliveries++;
}

int gw_broadcast_encode(rc_buf *b, const char *name, const char *args, size_t args_len,
                        const char *offset)
{
    rc_buf_reset(b);
    if (rc_buf_puts(b, "42[") < 0 || rc_buf_json_string(b, name, strlen(name)) < 0 ||
        rc_buf_puts(b, ",") < 0)
        return -1;
    if (args && args_len ? rc_buf_append(b, args, args_len) < 0 : rc_buf_puts(b, "{}") < 0)
        return -1;
    if (offset && offset[0] &&
        (rc_buf_puts(b, ",") < 0 ||
         rc_buf_json_string(b, offset, strnlen(offset, GW_OFFSET_MAX)) < 0))
        return -1;
    return rc_buf_puts(b, "]");
}

long gw_broadcast(gw_server *gw, const char *const *rooms, size_t nrooms, const char *name,
                  const char *args, size_t args_len, const char *offset, int64_t origin_ms)
{
    gw_frame *f = NULL;
    if (!name || !nrooms)
        return 0;
    if (gw_broadcast_encode(&gw->scratch, name, args, args_len, offset) < 0 ||
        !(f = gw_frame_new(gw->scratch.p, gw->scratch.len)))
        return -1;
    gw_frame_set_delivery(f, origin_ms);
    struct bcast b = {.f = f, .offset = offset ? offset : "", .gen = ++gw->gen};
    gw->in_broadcast = 1;
    gw->bcast_now_us = 0;
    int eager = gw->eager;
    gw->eager = 1;
    for (size_t i = 0; i < nrooms; i++)
        gw_rooms_foreach_member(gw->rooms, rooms[i], bcast_member, &b);
    gw->in_broadcast = 0;
    gw->bcast_now_us = 0;
    gw->eager = eager;
    gw_session_reap_doomed(gw);
    gw_frame_unref(f);
    return b.deliveries;
}
