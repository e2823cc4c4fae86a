/*
 * websocket.c - the WebSocket transport of Engine.IO sessions: the upgrade
 * check, new sessions and upgrade probes, message reassembly within
 * maxPayload, and the writer that drains a session's queue.
 *
 * Implementation notes. One queued text frame is written from the shared
 * frame itself (frames keep LWS_PRE bytes of headroom for lws' header);
 * several queued frames, or a binary message (whose bytes follow the 'b'
 * marker in its frame), are framed here back to back in one buffer and
 * written in one send() (drain). A message arrives in lws' receive chunks
 * (128 bytes, GW_WS_RX_BUFFER) and is refused with 1009 as soon as the
 * length its frame header declares, added to what the message holds
 * already, is over maxPayload: a client can make the server buffer at most
 * maxPayload per connection, whatever it announces. A
 * broadcast writes at once (gw_ws_flush) instead of asking for a writable
 * callback: that round trip (two epoll_ctl calls and a wake-up per
 * delivery) cost more than the write itself; only what the socket did not
 * take waits for the writable turn.
 */
#include "gateway/server/transport_private.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define FAC GW_FAC

/* lws' own opcode for a close frame (LWS_WRITE_CLOSE, private to lws since
 * 4.0 but accepted by lws_write()). */
#define GW_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

/* Decides whether a WebSocket upgrade may proceed: 0 yes, else the refusal
 * is written here (1) or the connection is to be dropped (-1). */
int gw_ws_confirm_upgrade(struct lws *wsi)
{
    static const char shutting_down[] = "{\"code\":3,\"message\":\"Server shutting down\"}";
    static const char starting[] = "{\"code\":3,\"message\":\"Server starting\"}";
    static const char not_found[] = "Not Found\n";
    gw_server *gw = gw_of(wsi);
    char path[64], obuf[GW_MAX_ORIGIN], sbuf[GW_MAX_ARG];
    gw_conn scratch = {0};
    enum gw_eio_error err;
    int rc;

    /* A refusal is a plain HTTP response: the connection stays for the
     * next request unless the client said otherwise. */
    scratch.close_after = !gw_http_keeps_alive(wsi);

    if (!gw_http_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path) ||
        gw_http_engine_route(gw, path) < 0) {
        rc = gw_http_respond(wsi, &scratch, 404, "text/plain", not_found, sizeof not_found - 1, 1);
    } else if (gw->stopping) {
        rc = gw_http_respond(wsi, &scratch, 503, "application/json", shutting_down,
                             sizeof shutting_down - 1, 1);
    } else if (gw_http_cors(gw, wsi, obuf, sizeof obuf) == GW_CORS_REFUSED) {
        rc = gw_http_eio_error(wsi, &scratch, GW_EIO_FORBIDDEN, 1);
    } else if (gw_http_check_query(wsi, "websocket", &err) < 0) {
        rc = gw_http_eio_error(wsi, &scratch, err, 1);
    } else {
        const char *sid = gw_http_query_arg(wsi, "sid=", sbuf, sizeof sbuf);
        gw_session *s = sid ? gw_session_find(gw, sid) : NULL;
        char addr[GW_ADDR_LEN];
        if (!sid && !gw->closed && gw_http_admit(wsi, addr, sizeof addr))
            return 0; /* a new gw_session */
        if (!sid && gw->closed)
            rc = gw_http_respond(wsi, &scratch, 503, "application/json", starting,
                                 sizeof starting - 1, 1);
        else if (!sid)
            rc = gw_http_respond(wsi, &scratch, 429, "application/json", GW_TOO_MANY_CONNECTIONS,
                                 sizeof GW_TOO_MANY_CONNECTIONS - 1, 1);
        else if (!s || s->raw != gw_http_engine_route(gw, path))
            rc = gw_http_eio_error(wsi, &scratch, GW_EIO_SID_UNKNOWN, 1);
        else if (s->state != GW_SESSION_OPEN)
            rc = gw_http_eio_error(wsi, &scratch, GW_EIO_BAD_REQUEST, 1);
        else
            return 0; /* an upgrade probe (refused once open if the session
                         is upgraded or already probing, as the reference
                         server does) */
    }
    int close_now = scratch.close_after;
    gw_http_conn_reset(gw, &scratch);
    return rc < 0 || close_now ? -1 : 1;
}

/* ---- WebSocket transport ---- */

static int ws_close_now(struct lws *wsi, int code);

int gw_ws_on_established(struct lws *wsi, gw_conn *c)
{
    gw_server *gw = gw_of(wsi);
    char sbuf[GW_MAX_ARG], path[64];
    gw_http_conn_reset(gw, c);
    c->kind = GW_CONN_WS;
    int raw = gw_http_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path)
                  ? gw_http_engine_route(gw, path)
                  : -1;
    if (raw < 0)
        return -1;
    const char *sid = gw_http_query_arg(wsi, "sid=", sbuf, sizeof sbuf);
    if (sid) {
        gw_session *s = gw_session_find(gw, sid);
        if (!s || s->state != GW_SESSION_OPEN || s->raw != raw)
            return -1;
        if (s->transport != GW_TR_POLLING || s->probe) {
            /* A second WebSocket for the session: closed with a close
             * frame rather than dropped. */
            c->refused = 1;
            lws_callback_on_writable(wsi);
            return 0;
        }
        s->probe = wsi;
        c->sess = s;
        return 0;
    }
    /* Checked at the upgrade already; again here, for upgrades that were
     * confirmed side by side. */
    char addr[GW_ADDR_LEN];
    if (!gw_http_admit(wsi, addr, sizeof addr))
        return ws_close_now(wsi, GW_CLOSE_POLICY);
    gw_session *s = gw_http_open_session(wsi, GW_TR_WEBSOCKET, raw, addr);
    if (!s)
        return ws_close_now(wsi, GW_CLOSE_UNEXPECTED);
    s->ws = wsi;
    c->sess = s;
    gw_session_kick(s);
    return 0;
}

/*
 * Writes a close frame with code, for the caller to return -1 so that lws
 * drops the connection. The frame is written here rather than left to lws
 * (lws_close_reason): the Debian build of lws 4.1 with its libuv event
 * library kills a connection closed from a callback a second time, before
 * the close frame it would send, so clients would see 1006.
 */
static int ws_close_now(struct lws *wsi, int code)
{
    unsigned char buf[LWS_PRE + 2];
    buf[LWS_PRE] = (unsigned char)(code >> 8);
    buf[LWS_PRE + 1] = (unsigned char)(code & 0xff);
    lws_write(wsi, buf + LWS_PRE, 2, GW_LWS_WRITE_CLOSE);
    return -1;
}

/* The rest of an oversized message is still coming: the close frame goes
 * out, then a lingering close (gw_http_linger), so that the client reads
 * 1009 rather than a reset. */
static int ws_too_large(struct lws *wsi, gw_conn *c, gw_session *s)
{
    gw_count_error(s->gw, GW_ERR_TOO_LARGE);
    LOG_INFO(FAC, "sid %s: closing: message over maxPayload (%ld bytes)", s->sid,
             gw_of(wsi)->opt.max_payload);
    if (wsi == s->ws) {
        gw_session_close(s, "message too large", GW_CLOSE_TOO_LARGE, 0);
    } else if (wsi == s->probe) {
        gw_session_release(s, wsi); /* the session may probe again at once */
        c->sess = NULL;
    }
    rc_buf_free(&c->in);
    c->in_active = 0;
    ws_close_now(wsi, GW_CLOSE_TOO_LARGE);
    return gw_http_linger(wsi, c);
}

int gw_ws_on_receive(struct lws *wsi, gw_conn *c, const char *in, size_t len)
{
    gw_server *gw = gw_of(wsi);
    gw_session *s = c->sess;
    if (c->lingering)
        return 0; /* refused: what still comes is dropped */
    if (!s)
        return -1;
    if (s->state != GW_SESSION_OPEN)
        return 0; /* closing: ignore what is still coming in */

    size_t max = gw->opt.max_payload > 0 ? (size_t)gw->opt.max_payload : 1;
    size_t rest = lws_remaining_packet_payload(wsi);
    int final = lws_is_final_fragment(wsi) && !rest;
    const char *msg = in;
    size_t mlen = len;
    /* A frame is refused by the length its header declares, at its first
     * bytes, not once maxPayload of it has been buffered. */
    size_t have = c->in_active ? c->in.len : 0;
    if (len > max || rest > max - len || have > max - len - rest)
        return ws_too_large(wsi, c, s);
    if (!c->in_active) {
        c->in_binary = lws_frame_is_binary(wsi) != 0;
        if (!final) {
            c->in_active = 1;
            rc_buf_reset(&c->in);
        }
    }
    if (c->in_active) {
        if (rc_buf_append(&c->in, in, len) < 0)
            return ws_close_now(wsi, GW_CLOSE_UNEXPECTED);
        if (!final)
            return 0;
        msg = c->in.p ? c->in.p : "";
        mlen = c->in.len;
        c->in_active = 0;
    }

    eio_packet pkt;
    int rc = eio_parse_packet(msg, mlen, c->in_binary, &pkt);
    if (rc < 0) {
        gw_count_error(gw, GW_ERR_MALFORMED);
        LOG_INFO(FAC, "sid %s: closing: malformed Engine.IO packet: %s", s->sid, eio_strerror(rc));
        if (wsi == s->ws)
            gw_session_close(s, "malformed packet", GW_CLOSE_PROTOCOL, 0);
        rc_buf_free(&c->in);
        return ws_close_now(wsi, rc == EIO_ERR_UTF8 ? GW_CLOSE_INVALID_PAYLOAD : GW_CLOSE_PROTOCOL);
    }
    rc = gw_session_on_packet(s, wsi, &pkt);
    rc_buf_free(&c->in); /* an idle connection keeps no reassembly buffer */
    if (rc < 0 && wsi != s->ws && wsi != s->probe)
        return -1;
    return 0; /* a closed session is closed from the writable callback */
}

/* Frames written per writable turn (or per flush) at most, so that one
 * busy connection cannot hold the loop. */
#define GW_WS_BATCH 32
/* Bytes of WebSocket frames coalesced into one write at most (a larger
 * frame goes alone), and the size beyond which the coalescing buffer is
 * given back after use. */
#define GW_WS_COALESCE_MAX (64 * 1024)
#define GW_WS_COALESCE_KEEP (128 * 1024)

/* Appends f's WebSocket frame to b: FIN, unmasked (server to client), text,
 * or binary for a 'b' message (its bytes follow the marker). 0 or -1. */
static int frame_append(rc_buf *b, const gw_frame *f)
{
    const unsigned char *p = gw_frame_data(f);
    size_t len = gw_frame_len(f), hl = 2;
    unsigned char h[10] = {0x81};
    if (len && p[0] == 'b') {
        h[0] = 0x82;
        p++;
        len--;
    }
    if (len < 126) {
        h[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    return rc_buf_append(b, h, hl) < 0 || rc_buf_append(b, p, len) < 0 ? -1 : 0;
}

/* Counts f as written (rc 0) or dropped, when it is a broadcast's. */
static void count_frame(gw_session *s, const gw_frame *f, int rc, int64_t *now_us)
{
    if (!gw_frame_is_delivery(f))
        return;
    if (rc < 0)
        gw_count_dropped(s->gw, 1);
    else
        gw_count_written(s->gw, gw_frame_origin_ms(f), now_us);
}

/*
 * Writes s's queued frames on wsi in one write, unless lws still holds what
 * a short write left (it drains that first on the next writable turn). One
 * text frame goes from the shared frame itself (lws puts the header in its
 * headroom); several, or a binary one, are framed back to back in the
 * server's coalescing buffer, at most GW_WS_BATCH frames and about
 * GW_WS_COALESCE_MAX bytes, and handed to lws as raw bytes: one send() for
 * the lot instead of one per frame, and no allocation per frame. A
 * broadcast's frame counts as a written delivery once lws_write() took it
 * (lws keeps what the socket did not take). 0, or -1 when a write failed.
 */
static int drain(struct lws *wsi, gw_session *s)
{
    static const unsigned char pre[LWS_PRE];
    gw_server *gw = s->gw;
    int64_t local_now = 0; /* read once per batch, when a delivery needs it */
    int64_t *now_us = gw->in_broadcast ? &gw->bcast_now_us : &local_now;
    size_t n = gw_frame_queue_len(&s->q);
    if (!n || lws_partial_buffered(wsi))
        return 0;
    gw_frame *f = gw_frame_queue_peek(&s->q);
    int rc;
    if (n == 1 && gw_frame_data(f)[0] != 'b') {
        f = gw_frame_queue_pop(&s->q);
        rc = lws_write(wsi, gw_frame_data(f), gw_frame_len(f), LWS_WRITE_TEXT) < 0 ? -1 : 0;
        count_frame(s, f, rc, now_us);
        gw_frame_unref(f);
        return rc;
    }
    gw_frame *taken[GW_WS_BATCH]; /* owned references */
    size_t k = 0;
    rc_buf *b = &gw->wsout;
    rc_buf_reset(b);
    rc = rc_buf_append(b, pre, sizeof pre);
    while (rc == 0 && k < GW_WS_BATCH && (f = gw_frame_queue_peek(&s->q)) &&
           (k == 0 || b->len - LWS_PRE + gw_frame_len(f) <= GW_WS_COALESCE_MAX)) {
        if ((rc = frame_append(b, f)) == 0)
            taken[k++] = gw_frame_queue_pop(&s->q);
    }
    /* LWS_WRITE_HTTP: lws sends the bytes as they are (lws_issue_raw). */
    if (rc == 0 && k)
        rc = lws_write(wsi, (unsigned char *)b->p + LWS_PRE, b->len - LWS_PRE, LWS_WRITE_HTTP) < 0
                 ? -1
                 : 0;
    for (size_t i = 0; i < k; i++) {
        count_frame(s, taken[i], rc, now_us);
        gw_frame_unref(taken[i]);
    }
    if (b->cap > GW_WS_COALESCE_KEEP)
        rc_buf_free(b);
    return rc;
}

int gw_ws_on_writable(struct lws *wsi, gw_conn *c)
{
    gw_session *s = c->sess;
    if (c->lingering)
        return 0; /* our side is shut down; the timer or the client ends it */
    if (c->refused)
        return ws_close_now(wsi, GW_CLOSE_POLICY);
    if (!s)
        return -1;
    if (wsi == s->probe) {
        if (s->state != GW_SESSION_OPEN)
            return ws_close_now(wsi, s->close_code ? s->close_code : GW_CLOSE_GOING_AWAY);
        return 0;
    }
    if (wsi != s->ws)
        return -1;
    if (gw_frame_queue_len(&s->q)) {
        if (drain(wsi, s) < 0)
            return -1;
        if (gw_frame_queue_len(&s->q) || s->state != GW_SESSION_OPEN)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->state == GW_SESSION_CLOSING)
        return ws_close_now(wsi, s->close_code);
    return 0;
}

void gw_ws_flush(gw_server *gw, void *conn)
{
    struct lws *wsi = conn;
    gw_conn *c = lws_wsi_user(wsi);
    gw_session *s = c ? c->sess : NULL;
    (void)gw;
    if (!s || wsi != s->ws || s->state != GW_SESSION_OPEN || lws_partial_buffered(wsi)) {
        lws_callback_on_writable(wsi);
        return;
    }
    if (drain(wsi, s) < 0) {
        /* Not inside a callback of wsi: lws closes it on its next turn. */
        gw_session_drop_queue(s);
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    if (gw_frame_queue_len(&s->q))
        lws_callback_on_writable(wsi);
}
