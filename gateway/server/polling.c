/*
 * polling.c - the long-polling transport of Engine.IO sessions and the
 * Engine.IO path over HTTP: handshakes, held GETs, POSTed payloads.
 *
 * Implementation notes. A long-polling GET is held until its session has
 * frames (or a ping, every pingInterval) and answers them joined by 0x1E,
 * binary frames as 'b' + base64. During an upgrade probe a held GET is
 * released with a noop; a GET arriving during the probe gets its noop
 * after a grace period, and any GET still held when the upgrade completes
 * is refused, like every later request of the session. A handshake from an
 * address that already has max-connections-per-ip open sessions is refused
 * with HTTP 429.
 *
 * A POST's body must be complete within pingInterval + pingTimeout of its
 * headers (gw_polling_body_deadline_ms), else it is answered 408 and its
 * session closed: a client whose POST takes longer could not have had its
 * pong arrive in time anyway (it sends one POST at a time), and lws alone
 * would keep a body that trickles in a byte every few seconds for ever.
 */
#include "gateway/server/transport_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define FAC GW_FAC

/* How long a GET that arrives during an upgrade probe is held before its
 * noop, so that an upgrade completing meanwhile refuses it instead (the
 * reference server checks every 100 ms). */
#define GW_LATE_POLL_US (100 * 1000)
/* Bytes of queued frames put in one long-polling response (at least one
 * frame always goes, whatever its size). */
#define GW_POLL_BATCH (256 * 1024)
/* The body of the 413 and 501 answers to a POST. */
#define GW_BAD_REQUEST "{\"code\":3,\"message\":\"Bad request\"}"
/* The body of the 408 answer to a POST whose body came too slowly. */
#define GW_BODY_TIMEOUT "{\"code\":3,\"message\":\"Request body timeout\"}"

/* Notes the origin of a delivery frame going into a response. 0 or -1. */
static int dlv_add(gw_resp_dlv **dlv, size_t *cap, int64_t origin_ms)
{
    if (!*dlv || (*dlv)->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        gw_resp_dlv *d = realloc(*dlv, sizeof *d + ncap * sizeof d->origin_ms[0]);
        if (!d)
            return -1;
        if (!*dlv)
            d->n = 0;
        *dlv = d;
        *cap = ncap;
    }
    (*dlv)->origin_ms[(*dlv)->n++] = origin_ms;
    return 0;
}

/*
 * Moves what the session has for its polling client into a payload: the
 * queued frames (up to GW_POLL_BATCH bytes), a noop releasing a poll that
 * an upgrade made obsolete, or a close packet for a session that ended.
 * The deliveries among the frames go to *dlv (NULL when none), for the
 * response to count once written.
 */
static int poll_take(gw_session *s, rc_buf *body, gw_resp_dlv **dlv)
{
    size_t cap = 0;
    *dlv = NULL;
    if (s->transport == GW_TR_WEBSOCKET ||
        (s->upgrading && !gw_frame_queue_len(&s->q) && s->state == GW_SESSION_OPEN))
        return eio_payload_append_encoded(body, "6", 1);
    gw_frame *f;
    while ((f = gw_frame_queue_peek(&s->q)) &&
           (body->len == 0 || body->len + gw_frame_len(f) / 3 * 4 + 8 < GW_POLL_BATCH)) {
        /* The reconnect hint goes alone, in a poll of its own: socket.io-
         * client hands decoded packets to its sockets a tick later
         * (nextTick), so events batched before a CLOSE would reach a
         * socket already disconnected, which buffers them for after its
         * reconnect without counting them in the offset it recovers from:
         * they would arrive twice. */
        if (f == s->gw->f_close && body->len)
            break;
        const char *d = (const char *)gw_frame_data(f);
        int rc = d[0] == 'b' ? eio_payload_append(body, EIO_MESSAGE, 1, d + 1, gw_frame_len(f) - 1)
                             : eio_payload_append_encoded(body, d, gw_frame_len(f));
        if (rc < 0 || (gw_frame_is_delivery(f) && dlv_add(dlv, &cap, gw_frame_origin_ms(f)) < 0))
            return -1;
        gw_frame_unref(gw_frame_queue_pop(&s->q));
    }
    /* A session that ended: CLOSE, or a noop when the client closed it. */
    if (s->state == GW_SESSION_CLOSING && body->len == 0)
        return eio_payload_append_encoded(body, s->by_client ? "6" : "1", 1);
    return 0;
}

static int poll_respond(struct lws *wsi, gw_conn *c, gw_session *s)
{
    rc_buf body = {0};
    gw_resp_dlv *dlv = NULL;
    int rc = poll_take(s, &body, &dlv);
    if (rc == 0)
        rc = gw_http_respond(wsi, c, 200, "text/plain; charset=UTF-8", body.p, body.len, 0);
    if (rc == 0) {
        c->resp_dlv = dlv; /* counted when the body is written */
    } else if (dlv) {
        gw_count_dropped(s->gw, dlv->n);
        free(dlv);
    }
    rc_buf_free(&body);
    return rc;
}

/* A held poll became writable: answer it if there is something to say. */
int gw_polling_on_writable(struct lws *wsi, gw_conn *c)
{
    gw_session *s = c->sess;
    if (!s)
        return -1;
    if (s->state == GW_SESSION_OPEN && s->transport == GW_TR_POLLING &&
        !gw_frame_queue_len(&s->q) && (!s->upgrading || (c->late_poll && !c->noop_now)))
        return 0; /* spurious: keep holding */
    /* A GET still held when the upgrade completes is refused like any
     * request after it: a client pauses polling before it sends "5" (it
     * waits for its GET to return), so none of a well-behaved client's
     * polls can be left. */
    int late_refused = s->state == GW_SESSION_OPEN && s->transport == GW_TR_WEBSOCKET;
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
    c->sess = NULL;
    c->kind = GW_CONN_HTTP;
    c->late_poll = c->noop_now = 0;
    int rc =
        late_refused ? gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0) : poll_respond(wsi, c, s);
    gw_session_release(s, wsi);
    if (s->state == GW_SESSION_OPEN && s->transport == GW_TR_POLLING)
        gw_session_kick(s); /* frames left beyond the batch wait for the next poll */
    return rc;
}

/* One packet of a POSTed payload; stops the payload once the session closed. */
static int post_packet_cb(void *ud, const eio_packet *pkt)
{
    return gw_session_on_packet(ud, NULL, pkt) < 0 ? 1 : 0;
}

int gw_polling_body_deadline_ms(const gw_server *gw)
{
    return gw->opt.ping_interval_ms + gw->opt.ping_timeout_ms;
}

int gw_polling_on_body_timeout(struct lws *wsi, gw_conn *c)
{
    gw_server *gw = gw_of(wsi);
    gw_session *s = gw_session_find(gw, c->sid);
    c->kind = GW_CONN_HTTP;
    c->close_after = 1; /* the rest of the body is not read */
    rc_buf_free(&c->in);
    rc_counter_inc(&gw->counters.client_errors[GW_ERR_TIMEOUT]);
    LOG_INFO(FAC, "sid %s: POST body not complete within %d ms (pingInterval + pingTimeout)",
             c->sid, gw_polling_body_deadline_ms(gw));
    if (s && s->state == GW_SESSION_OPEN)
        gw_session_close(s, "POST body too slow", GW_CLOSE_POLICY, 0);
    return gw_http_respond_str(wsi, c, 408, "application/json", GW_BODY_TIMEOUT);
}

int gw_polling_on_body(struct lws *wsi, gw_conn *c)
{
    gw_server *gw = gw_of(wsi);
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
    gw_session *s = gw_session_find(gw, c->sid);
    if (!s)
        return gw_http_eio_error(wsi, c, GW_EIO_SID_UNKNOWN, 0);
    if (s->state != GW_SESSION_OPEN) /* closing: its last poll tells the client */
        return gw_http_respond_str(wsi, c, 200, "text/html", "ok");
    if (s->transport != GW_TR_POLLING)
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    if (c->in_too_big) {
        gw_count_error(gw, GW_ERR_TOO_LARGE);
        gw_session_close(s, "POST body over maxPayload", GW_CLOSE_TOO_LARGE, 0);
        return gw_http_respond_str(wsi, c, 413, "application/json", GW_BAD_REQUEST);
    }
    if (c->in_bad) {
        rc_buf_free(&c->in);
        gw_count_error(gw, GW_ERR_MALFORMED);
        LOG_INFO(FAC, "sid %s: closing: malformed chunked POST body", s->sid);
        gw_session_close(s, "malformed chunked body", GW_CLOSE_PROTOCOL, 0);
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    }
    int rc = eio_parse_payload(c->in.p ? c->in.p : "", c->in.len, post_packet_cb, s);
    rc_buf_free(&c->in);
    if (rc < 0) {
        gw_count_error(gw, GW_ERR_MALFORMED);
        LOG_INFO(FAC, "sid %s: closing: malformed polling payload: %s", s->sid, eio_strerror(rc));
        gw_session_close(s, "malformed payload", GW_CLOSE_PROTOCOL, 0);
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    }
    /* A packet of the payload made the session end (the object lives until
     * the next wheel tick): 400, unless the client closed it itself. */
    if (s->state != GW_SESSION_OPEN && !s->by_client)
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    return gw_http_respond_str(wsi, c, 200, "text/html", "ok");
}

int gw_polling_on_request(struct lws *wsi, gw_conn *c, int raw)
{
    gw_server *gw = gw_of(wsi);
    char obuf[GW_MAX_ORIGIN], sbuf[GW_MAX_ARG];
    enum gw_method m = gw_http_method(wsi);

    if (m == GW_M_OPTIONS)
        return gw_http_respond(wsi, c, 204, "text/plain", "", 0, 0);
    if (gw_http_cors(gw, wsi, obuf, sizeof obuf) == GW_CORS_REFUSED)
        return gw_http_eio_error(wsi, c, GW_EIO_FORBIDDEN, 0);
    enum gw_eio_error err;
    if (gw_http_check_query(wsi, "polling", &err) < 0)
        return gw_http_eio_error(wsi, c, err, 0);

    const char *sid = gw_http_query_arg(wsi, "sid=", sbuf, sizeof sbuf);
    if (!sid) {
        if (m != GW_M_GET)
            return gw_http_eio_error(wsi, c, GW_EIO_BAD_HANDSHAKE_METHOD, 0);
        if (gw->stopping) /* existing sessions still get their last polls */
            return gw_http_respond_str(wsi, c, 503, "application/json",
                                       "{\"code\":3,\"message\":\"Server shutting down\"}");
        if (gw->closed)
            return gw_http_respond_str(wsi, c, 503, "application/json",
                                       "{\"code\":3,\"message\":\"Server starting\"}");
        char addr[GW_ADDR_LEN];
        if (!gw_http_admit(wsi, addr, sizeof addr))
            return gw_http_respond_str(wsi, c, 429, "application/json", GW_TOO_MANY_CONNECTIONS);
        gw_session *s = gw_http_open_session(wsi, GW_TR_POLLING, raw, addr);
        if (!s)
            return gw_http_respond_str(wsi, c, 503, "application/json",
                                       "{\"code\":3,\"message\":\"Server busy\"}");
        return poll_respond(wsi, c, s);
    }

    gw_session *s = gw_session_find(gw, sid);
    if (!s || s->raw != raw)
        return gw_http_eio_error(wsi, c, GW_EIO_SID_UNKNOWN, 0);
    if (s->state != GW_SESSION_OPEN && m == GW_M_GET) {
        /* A closed session's last poll: what was left to flush, or CLOSE. */
        int rc = poll_respond(wsi, c, s);
        gw_session_release(s, NULL);
        return rc;
    }
    if (m == GW_M_POST) {
        if (s->transport != GW_TR_POLLING && s->state == GW_SESSION_OPEN)
            return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
        /* The body is read when its length is known or it is chunked;
         * a refused one is not read, and the connection is closed once
         * the answer is out. */
        int status = gw_http_body_begin(wsi, c, (size_t)gw->opt.max_payload);
        if (status == 413) {
            gw_count_error(gw, GW_ERR_TOO_LARGE);
            if (s->state == GW_SESSION_OPEN)
                gw_session_close(s, "POST body over maxPayload", GW_CLOSE_TOO_LARGE, 0);
            return gw_http_respond_str(wsi, c, 413, "application/json", GW_BAD_REQUEST);
        }
        if (status == 501)
            return gw_http_respond_str(wsi, c, 501, "application/json", GW_BAD_REQUEST);
        if (status)
            return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
        c->kind = GW_CONN_POST;
        snprintf(c->sid, sizeof c->sid, "%s", s->sid);
        /* lws restarts its own body timeout at every chunk: a body sent a
         * byte at a time would hold the connection for ever. */
        lws_set_timer_usecs(wsi, (lws_usec_t)gw_polling_body_deadline_ms(gw) * LWS_US_PER_MS);
        return 0; /* the body arrives in LWS_CALLBACK_HTTP_BODY */
    }
    if (m != GW_M_GET)
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_HANDSHAKE_METHOD, 0);
    if (s->transport != GW_TR_POLLING)
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    if (s->poll) {
        /* Two GETs at once: the reference server treats it as an error. */
        gw_count_error(gw, GW_ERR_PROTOCOL);
        gw_session_close(s, "overlapping polls", GW_CLOSE_PROTOCOL, 0);
        return gw_http_eio_error(wsi, c, GW_EIO_BAD_REQUEST, 0);
    }
    if (gw_frame_queue_len(&s->q))
        return poll_respond(wsi, c, s);
    /* Hold the request until the session has something to send. */
    c->kind = GW_CONN_POLL;
    c->sess = s;
    s->poll = wsi;
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    if (s->upgrading) {
        /* A real client pauses polling during a probe; a GET now is answered
         * with a noop after a grace period, or refused if the upgrade
         * completes first. */
        c->late_poll = 1;
        lws_set_timer_usecs(wsi, GW_LATE_POLL_US);
    }
    return 0;
}
