/*
 * gateway.c - the lws context, HTTP routes, the WebSocket and long-polling
 * transports of Engine.IO sessions, and the broadcast of published events.
 *
 * Implementation notes. One protocol (protocols[0], so WebSockets without a
 * subprotocol land on it) serves every HTTP request and WebSocket; its
 * per-connection struct conn says what the connection is doing. Transports
 * only move frames: a WebSocket writes one queued frame per writable
 * callback; a long-polling GET is held until its session has frames (or a
 * ping, every pingInterval) and answers them joined by 0x1E. HTTP responses
 * are written as lws wants them: headers from the request callback (or from
 * a writable callback for held polls), the body from the next writable one.
 * Binary messages ('b' frames, see session.h) go out as binary WebSocket
 * frames or as 'b' + base64 in a polling payload.
 *
 * Two paths may be served: the Socket.IO one, and (for the conformance
 * server) a plain Engine.IO one whose sessions are "raw"; a session is only
 * found through the path that created it. During an upgrade probe a held
 * GET is released with a noop; a GET arriving during the probe gets its noop
 * after a grace period, and any GET still held when the upgrade completes
 * is refused, like every later request of the session.
 *
 * The application (app.h) sees none of this: the roomcast application is
 * built by gateway_new(); gateway_new_app() takes any other.
 *
 * With tls-cert and tls-key, the one vhost serves HTTPS and WSS (OpenSSL
 * through lws; HTTP/1.1 by ALPN); the files are checked here first so that
 * a bad one is a clear startup error. A handshake (the first polling GET, or
 * a WebSocket upgrade without sid) from an address that already has
 * max-connections-per-ip open sessions is refused with HTTP 429; the
 * address is the TCP peer's (a proxy's, behind one).
 *
 * gateway_publish(), gateway_resync(), gateway_stop() and gw_post() are the
 * only entry points from other threads: they touch the mutex-protected
 * publish and task queues or an atomic flag and wake the loop with
 * lws_cancel_service(); the loop drains the queues (events first, then
 * tasks) in LWS_CALLBACK_EVENT_WAIT_CANCELLED. Each event is encoded once
 * into a frame, and its rooms are walked with a per-broadcast generation
 * number stamped on each socket, so a socket in several of the rooms gets
 * one copy. A socket being caught up from history has a hold (hold.c) that
 * keeps its frames, or skips those its replay already gave.
 */
#include "gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "app_roomcast.h"
#include "session.h"

#define FAC "gateway"

/* The live page, embedded at build time. */
extern const unsigned char rc_page_index[];
extern const size_t rc_page_index_len;

/* How long a GET that arrives during an upgrade probe is held before its
 * noop, so that an upgrade completing meanwhile refuses it instead (the
 * reference server checks every 100 ms). */
#define GW_LATE_POLL_US (100 * 1000)
/* Bytes of queued frames put in one long-polling response (at least one
 * frame always goes, whatever its size). */
#define GW_POLL_BATCH (256 * 1024)
/* Bounds on strings read from request headers and query strings. */
#define GW_MAX_ARG 128
#define GW_MAX_AUTH_HEADER 8192
#define GW_MAX_ORIGIN 512
#define GW_MAX_QUERY_ARGS 32
/* How long gateway_stop() waits for clients to go before the loop ends. */
#define GW_STOP_GRACE_MS 3000

enum conn_kind {
    CONN_HTTP,  /* plain request/response (also between keep-alive requests) */
    CONN_POLL,  /* a held long-polling GET of c->sess */
    CONN_POST,  /* a long-polling POST being received */
    CONN_WS,    /* a WebSocket carrying (or probing for) c->sess */
};

/* Per-connection state, allocated and zeroed by lws (per_session_data). */
struct conn {
    enum conn_kind kind;
    session *sess;          /* borrowed: CONN_POLL and CONN_WS */
    unsigned char *resp;    /* owned: LWS_PRE headroom + response body */
    size_t resp_len;
    int resp_pending;       /* headers sent, body due on the next writable */
    rc_buf in;              /* owned: POST body / WebSocket message */
    int in_active;          /* a WebSocket message is being reassembled */
    int in_binary;
    int in_too_big;
    int close_after;        /* close the connection after this response */
    int refused;            /* CONN_WS: close it at the first writable */
    int late_poll;          /* CONN_POLL: arrived while an upgrade probe
                               was under way */
    int noop_now;           /* CONN_POLL: its grace period is over */
    char sid[GW_ID_LEN + 1]; /* CONN_POST: target session */
};

static gateway *gw_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- HTTP helpers ---- */

/* Ends gateway_run() once a shutdown has nothing left to send. */
static void check_done(gateway *gw)
{
    if (gw->stopping && gw->nsessions == 0 && gw->http_pending == 0)
        gw->done = 1;
}

/* Drops the response being sent, if any. */
static void resp_drop(gateway *gw, struct conn *c)
{
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    if (c->resp_pending) {
        c->resp_pending = 0;
        gw->http_pending--;
        check_done(gw);
    }
}

static void conn_reset(gateway *gw, struct conn *c)
{
    resp_drop(gw, c);
    rc_buf_free(&c->in);
    c->in_active = c->in_binary = c->in_too_big = c->close_after = c->refused = 0;
    c->late_poll = c->noop_now = 0;
    c->sid[0] = '\0';
    c->kind = CONN_HTTP;
}

/* Copies header h (at most cap - 1 bytes) or returns NULL when absent/too long. */
static const char *header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t cap)
{
    int n = lws_hdr_total_length(wsi, h);
    if (n <= 0 || (size_t)n >= cap || lws_hdr_copy(wsi, buf, (int)cap, h) < 0)
        return NULL;
    return buf;
}

/*
 * The value of query argument name (given with its '=', e.g. "sid="), or
 * NULL. lws keeps the arguments url-decoded, one fragment each; fragments
 * too long for buf are skipped rather than ending the search, and only the
 * first GW_MAX_QUERY_ARGS are looked at.
 */
static const char *query_arg(struct lws *wsi, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    /* Absent and empty fragments both have length 0: look at a bounded
     * number of them rather than stopping at the first empty one. */
    for (int i = 0; i < GW_MAX_QUERY_ARGS; i++) {
        int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (flen <= 0 || (size_t)flen >= cap || (size_t)flen < nl)
            continue;
        if (lws_hdr_copy_fragment(wsi, buf, (int)cap, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            continue;
        if (strncmp(buf, name, nl) == 0)
            return buf + nl;
    }
    return NULL;
}

/* The token of an "Authorization: Bearer <token>" header, heap-allocated. */
static char *bearer_token(struct lws *wsi)
{
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || n >= GW_MAX_AUTH_HEADER)
        return NULL;
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return NULL;
    if (lws_hdr_copy(wsi, buf, n + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
        strncasecmp(buf, "Bearer ", 7) != 0) {
        free(buf);
        return NULL;
    }
    char *t = buf + 7;
    while (*t == ' ')
        t++;
    memmove(buf, t, strlen(t) + 1);
    if (!buf[0]) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The request's Origin when it is allowed to see responses ("" when absent);
 * NULL when an Origin is present and not on the allow-list. */
static const char *allowed_origin(gateway *gw, struct lws *wsi, char *buf, size_t cap)
{
    const char *origin = header(wsi, WSI_TOKEN_ORIGIN, buf, cap);
    const char *list = gw->cfg->cors_origins ? gw->cfg->cors_origins : "*";
    if (!origin) {
        buf[0] = '\0';
        return buf;
    }
    size_t olen = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((t - p == 1 && *p == '*') ||
            ((size_t)(t - p) == olen && strncasecmp(p, origin, olen) == 0))
            return origin;
        p = e;
    }
    return NULL;
}

enum method { M_GET, M_POST, M_OPTIONS, M_OTHER };

static enum method request_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return M_OPTIONS;
    return M_OTHER;
}

/*
 * Writes the status line and headers of a response; the body (copied) goes
 * out from the next writable callback. With now, the body is written at
 * once too (for LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, which completes the
 * transaction itself). Returns 0 or -1 (close the connection).
 */
static int http_respond(struct lws *wsi, struct conn *c, unsigned status,
                        const char *ctype, const char *body, size_t len, int now)
{
    gateway *gw = gw_of(wsi);
    unsigned char hdr[LWS_PRE + 2048];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    char obuf[GW_MAX_ORIGIN];
    const char *origin = allowed_origin(gw, wsi, obuf, sizeof obuf);

    unsigned char *copy = malloc(LWS_PRE + len + 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy + LWS_PRE, body, len);

    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end))
        goto fail;
    /* A connection closed after this response says so, or a keep-alive
     * client would send its next request into the closing socket. */
    if (c->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end))
        goto fail;
    if (origin && origin[0] &&
        (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCESS_CONTROL_ALLOW_ORIGIN,
                                      (const unsigned char *)origin,
                                      (int)strlen(origin), &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-credentials:",
                                     (const unsigned char *)"true", 4, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:",
                                     (const unsigned char *)"Origin", 6, &p, end)))
        goto fail;
    if (status == 204 &&
        (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                     (const unsigned char *)"GET, POST", 9, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                     (const unsigned char *)"Authorization, Content-Type", 27,
                                     &p, end)))
        goto fail;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        goto fail;

    if (now) {
        int rc = len ? lws_write(wsi, copy + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) : 0;
        free(copy);
        return rc < 0 ? -1 : 0;
    }
    resp_drop(gw, c);
    c->resp = copy;
    c->resp_len = len;
    c->resp_pending = 1;
    gw->http_pending++;
    lws_callback_on_writable(wsi);
    return 0;

fail:
    free(copy);
    return -1;
}

static int http_respond_str(struct lws *wsi, struct conn *c, unsigned status,
                            const char *ctype, const char *body)
{
    return http_respond(wsi, c, status, ctype, body, strlen(body), 0);
}

/* Engine.IO's error answer: HTTP 400 (or 403) {"code":N,"message":"..."}. */
enum eio_http_error {
    EIO_HE_TRANSPORT_UNKNOWN = 0,
    EIO_HE_SID_UNKNOWN = 1,
    EIO_HE_BAD_HANDSHAKE_METHOD = 2,
    EIO_HE_BAD_REQUEST = 3,
    EIO_HE_FORBIDDEN = 4,
    EIO_HE_UNSUPPORTED_PROTOCOL = 5,
};

static int eio_http_error(struct lws *wsi, struct conn *c, enum eio_http_error code, int now)
{
    static const char *const msg[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request", "Forbidden", "Unsupported protocol version",
    };
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", (int)code, msg[code]);
    return http_respond(wsi, c, code == EIO_HE_FORBIDDEN ? 403 : 400,
                        "application/json", body, (size_t)n, now);
}

/* ---- plain routes ---- */

static int route_healthz(struct lws *wsi, struct conn *c)
{
    gateway *gw = gw_of(wsi);
    rc_buf b = {0};
    size_t mark;
    int rc = -1;
    if (rc_buf_printf(&b, "{\"status\":\"ok\",\"connections\":%zu,\"sockets\":%zu,\"rooms\":%zu",
                      gw->nopen, gw->nsockets, rooms_count(gw->rooms)) < 0)
        goto done;
    if (gw->hooks.health) {
        if (rc_buf_puts(&b, ",") < 0)
            goto done;
        mark = b.len;
        gw->hooks.health(gw->hooks.ud, &b);
        if (b.len == mark) /* the hook had nothing to add */
            b.p[--b.len] = '\0';
    }
    if (rc_buf_puts(&b, "}") < 0)
        goto done;
    rc = http_respond(wsi, c, 200, "application/json", b.p, b.len, 0);
done:
    rc_buf_free(&b);
    return rc;
}

static int route_readyz(struct lws *wsi, struct conn *c)
{
    gateway *gw = gw_of(wsi);
    int ready = gw->stopping ? 0 : gw->hooks.ready ? gw->hooks.ready(gw->hooks.ud) : 1;
    return http_respond_str(wsi, c, ready ? 200 : 503, "application/json",
                            ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}");
}

static int route_metrics(struct lws *wsi, struct conn *c)
{
    rc_buf b = {0};
    int rc = -1;
    if (rc_metrics_render(&b) == 0)
        rc = http_respond(wsi, c, 200, "text/plain; version=0.0.4; charset=utf-8",
                          b.p ? b.p : "", b.len, 0);
    rc_buf_free(&b);
    return rc;
}

static int route_demo_token(struct lws *wsi, struct conn *c)
{
    gateway *gw = gw_of(wsi);
    const rc_config *cfg = gw->cfg;
    char buf[GW_MAX_ARG + 8];
    if (!cfg->demo)
        return http_respond_str(wsi, c, 404, "text/plain", "Not Found\n");
    const char *sub = query_arg(wsi, "sub=", buf, sizeof buf);
    if (!sub || !sub[0])
        return http_respond_str(wsi, c, 400, "application/json",
                                "{\"error\":\"query parameter sub is required\"}");
    if (!cfg->jwt_secret || !cfg->jwt_secret[0] ||
        (cfg->jwt_alg && strcasecmp(cfg->jwt_alg, "HS256") != 0))
        return http_respond_str(wsi, c, 503, "application/json",
                                "{\"error\":\"demo tokens need an HS256 secret\"}");
    char *tok = auth_sign_hs256(cfg->jwt_secret, sub, sub, NULL, 0, (int64_t)time(NULL) + 3600);
    if (!tok)
        return http_respond_str(wsi, c, 500, "application/json",
                                "{\"error\":\"could not sign a token\"}");
    rc_buf b = {0};
    int rc = -1;
    if (rc_buf_puts(&b, "{\"token\":") == 0 && rc_buf_json_string(&b, tok, strlen(tok)) == 0 &&
        rc_buf_puts(&b, "}") == 0)
        rc = http_respond(wsi, c, 200, "application/json", b.p, b.len, 0);
    rc_buf_free(&b);
    free(tok);
    return rc;
}

/* ---- long-polling ---- */

/*
 * Moves what the session has for its polling client into a payload: the
 * queued frames (up to GW_POLL_BATCH bytes), a noop releasing a poll that
 * an upgrade made obsolete, or a close packet for a session that ended.
 */
static int poll_take(session *s, rc_buf *body)
{
    if (s->transport == GW_TR_WEBSOCKET ||
        (s->upgrading && !frame_queue_len(&s->q) && s->state == SESSION_OPEN))
        return eio_payload_append_encoded(body, "6", 1);
    frame *f;
    while ((f = frame_queue_peek(&s->q)) &&
           (body->len == 0 || body->len + frame_len(f) / 3 * 4 + 8 < GW_POLL_BATCH)) {
        const char *d = (const char *)frame_data(f);
        int rc = d[0] == 'b' ? eio_payload_append(body, EIO_MESSAGE, 1, d + 1, frame_len(f) - 1)
                             : eio_payload_append_encoded(body, d, frame_len(f));
        if (rc < 0)
            return -1;
        frame_unref(frame_queue_pop(&s->q));
    }
    /* A session that ended: CLOSE, or a noop when the client closed it. */
    if (s->state == SESSION_CLOSING && body->len == 0)
        return eio_payload_append_encoded(body, s->by_client ? "6" : "1", 1);
    return 0;
}

static int poll_respond(struct lws *wsi, struct conn *c, session *s)
{
    rc_buf body = {0};
    int rc = poll_take(s, &body);
    if (rc == 0)
        rc = http_respond(wsi, c, 200, "text/plain; charset=UTF-8", body.p, body.len, 0);
    rc_buf_free(&body);
    return rc;
}

/* A held poll became writable: answer it if there is something to say. */
static int poll_writable(struct lws *wsi, struct conn *c)
{
    session *s = c->sess;
    if (!s)
        return -1;
    if (s->state == SESSION_OPEN && s->transport == GW_TR_POLLING &&
        !frame_queue_len(&s->q) && (!s->upgrading || (c->late_poll && !c->noop_now)))
        return 0; /* spurious: keep holding */
    /* A GET still held when the upgrade completes is refused like any
     * request after it: a client pauses polling before it sends "5" (it
     * waits for its GET to return), so none of a well-behaved client's
     * polls can be left. */
    int late_refused = s->state == SESSION_OPEN && s->transport == GW_TR_WEBSOCKET;
    lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
    c->sess = NULL;
    c->kind = CONN_HTTP;
    c->late_poll = c->noop_now = 0;
    int rc = late_refused ? eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0) : poll_respond(wsi, c, s);
    session_release(s, wsi);
    if (s->state == SESSION_OPEN && s->transport == GW_TR_POLLING)
        session_kick(s); /* frames left beyond the batch wait for the next poll */
    return rc;
}

/* One packet of a POSTed payload; stops the payload once the session closed. */
static int post_packet_cb(void *ud, const eio_packet *pkt)
{
    return session_on_packet(ud, NULL, pkt) < 0 ? 1 : 0;
}

static int post_complete(struct lws *wsi, struct conn *c)
{
    gateway *gw = gw_of(wsi);
    session *s = session_find(gw, c->sid);
    if (!s)
        return eio_http_error(wsi, c, EIO_HE_SID_UNKNOWN, 0);
    if (s->state != SESSION_OPEN) /* closing: its last poll tells the client */
        return http_respond_str(wsi, c, 200, "text/html", "ok");
    if (s->transport != GW_TR_POLLING)
        return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
    if (c->in_too_big) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        session_close(s, "POST body over maxPayload", LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, 0);
        return http_respond_str(wsi, c, 413, "application/json",
                                "{\"code\":3,\"message\":\"Bad request\"}");
    }
    int rc = eio_parse_payload(c->in.p ? c->in.p : "", c->in.len, post_packet_cb, s);
    rc_buf_free(&c->in);
    if (rc < 0) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        LOG_INFO(FAC, "sid %s: closing: malformed polling payload: %s", s->sid, eio_strerror(rc));
        session_close(s, "malformed payload", LWS_CLOSE_STATUS_PROTOCOL_ERR, 0);
        return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
    }
    /* A packet of the payload made the session end (the object lives until
     * the next wheel tick): 400, unless the client closed it itself. */
    if (s->state != SESSION_OPEN && !s->by_client)
        return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
    return http_respond_str(wsi, c, 200, "text/html", "ok");
}

/* ---- connections per client address ---- */

/* Room for an address from gw_peer_addr(). */
#define GW_ADDR_LEN 64

static const char too_many_connections[] =
    "{\"code\":3,\"message\":\"Too many connections from this address\"}";

/*
 * Whether the client of wsi may open one more Engine.IO session
 * (max-connections-per-ip); its address goes to addr ("" when unknown,
 * which is never limited). A refusal is counted and logged.
 */
static int addr_admit(struct lws *wsi, char *addr, size_t cap)
{
    gateway *gw = gw_of(wsi);
    if (!gw_peer_addr(wsi, addr, cap))
        addr[0] = '\0';
    if (gw_addr_admit(gw, addr[0] ? addr : NULL))
        return 1;
    rc_metric_inc(RC_M_CLIENT_ERRORS);
    LOG_INFO(FAC, "handshake from %s refused: %d sessions already open from that address "
                  "(max-connections-per-ip)", addr, gw->cfg->max_connections_per_ip);
    return 0;
}

/* ---- /socket.io/ over HTTP ---- */

/* Checks EIO=4 and the transport; 0 when the request may proceed, else -1
 * with the Engine.IO error to answer in *err. */
static int eio_check_query(struct lws *wsi, const char *want_transport,
                           enum eio_http_error *err)
{
    /* In the reference server's order: the transport, then the version. */
    char buf[GW_MAX_ARG];
    const char *tr = query_arg(wsi, "transport=", buf, sizeof buf);
    if (!tr || (strcmp(tr, "polling") != 0 && strcmp(tr, "websocket") != 0)) {
        *err = EIO_HE_TRANSPORT_UNKNOWN;
        return -1;
    }
    if (strcmp(tr, want_transport) != 0) {
        *err = EIO_HE_BAD_REQUEST;
        return -1;
    }
    const char *eio = query_arg(wsi, "EIO=", buf, sizeof buf);
    if (!eio || strcmp(eio, "4") != 0) {
        *err = EIO_HE_UNSUPPORTED_PROTOCOL;
        return -1;
    }
    return 0;
}

/* 1 when path is p with or without its trailing slash. */
static int path_is(const char *path, const char *p)
{
    size_t n = strlen(p);
    if (!p[0])
        return 0;
    if (p[n - 1] == '/' && strlen(path) == n - 1)
        return strncmp(path, p, n - 1) == 0;
    return strcmp(path, p) == 0;
}

/* 0: the Socket.IO path, 1: the plain Engine.IO path, -1: neither. */
static int engine_route(const gateway *gw, const char *path)
{
    if (path_is(path, gw->sio_path))
        return 0;
    if (gw->engine_path && path_is(path, gw->engine_path))
        return 1;
    return -1;
}

static int route_socketio(struct lws *wsi, struct conn *c, int raw)
{
    gateway *gw = gw_of(wsi);
    char obuf[GW_MAX_ORIGIN], sbuf[GW_MAX_ARG];
    enum method m = request_method(wsi);

    if (m == M_OPTIONS)
        return http_respond(wsi, c, 204, "text/plain", "", 0, 0);
    if (!allowed_origin(gw, wsi, obuf, sizeof obuf))
        return eio_http_error(wsi, c, EIO_HE_FORBIDDEN, 0);
    enum eio_http_error err;
    if (eio_check_query(wsi, "polling", &err) < 0)
        return eio_http_error(wsi, c, err, 0);

    const char *sid = query_arg(wsi, "sid=", sbuf, sizeof sbuf);
    if (!sid) {
        if (m != M_GET)
            return eio_http_error(wsi, c, EIO_HE_BAD_HANDSHAKE_METHOD, 0);
        if (gw->stopping) /* existing sessions still get their last polls */
            return http_respond_str(wsi, c, 503, "application/json",
                                    "{\"code\":3,\"message\":\"Server shutting down\"}");
        char addr[GW_ADDR_LEN];
        if (!addr_admit(wsi, addr, sizeof addr))
            return http_respond_str(wsi, c, 429, "application/json", too_many_connections);
        char *bearer = bearer_token(wsi);
        session *s = session_new(gw, GW_TR_POLLING, raw, bearer);
        free(bearer);
        if (s && session_count_addr(s, addr[0] ? addr : NULL) < 0) {
            session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
            s = NULL;
        }
        if (!s)
            return http_respond_str(wsi, c, 503, "application/json",
                                    "{\"code\":3,\"message\":\"Server busy\"}");
        return poll_respond(wsi, c, s);
    }

    session *s = session_find(gw, sid);
    if (!s || s->raw != raw)
        return eio_http_error(wsi, c, EIO_HE_SID_UNKNOWN, 0);
    if (s->state != SESSION_OPEN && m == M_GET) {
        /* A closed session's last poll: what was left to flush, or CLOSE. */
        int rc = poll_respond(wsi, c, s);
        session_release(s, NULL);
        return rc;
    }
    if (m == M_POST) {
        if (s->transport != GW_TR_POLLING && s->state == SESSION_OPEN)
            return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
        char lbuf[24];
        const char *cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, lbuf, sizeof lbuf);
        if (!cl) /* bodies of unknown length are not accepted */
            return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
        if (strtoull(cl, NULL, 10) > (unsigned long long)gw->cfg->max_payload) {
            /* Refuse without reading the body; the connection is closed
             * once the answer is out. */
            rc_metric_inc(RC_M_CLIENT_ERRORS);
            if (s->state == SESSION_OPEN)
                session_close(s, "POST body over maxPayload", LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, 0);
            return http_respond_str(wsi, c, 413, "application/json",
                                    "{\"code\":3,\"message\":\"Bad request\"}");
        }
        c->kind = CONN_POST;
        c->close_after = 0;
        snprintf(c->sid, sizeof c->sid, "%s", s->sid);
        return 0; /* the body arrives in LWS_CALLBACK_HTTP_BODY */
    }
    if (m != M_GET)
        return eio_http_error(wsi, c, EIO_HE_BAD_HANDSHAKE_METHOD, 0);
    if (s->transport != GW_TR_POLLING)
        return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
    if (s->poll) {
        /* Two GETs at once: the reference server treats it as an error. */
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        session_close(s, "overlapping polls", LWS_CLOSE_STATUS_PROTOCOL_ERR, 0);
        return eio_http_error(wsi, c, EIO_HE_BAD_REQUEST, 0);
    }
    if (frame_queue_len(&s->q))
        return poll_respond(wsi, c, s);
    /* Hold the request until the session has something to send. */
    c->kind = CONN_POLL;
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

static int on_http(struct lws *wsi, struct conn *c, const char *path)
{
    conn_reset(gw_of(wsi), c);
    enum method m = request_method(wsi);
    /* A request body that is not going to be read cannot be skipped
     * reliably: answer, then close the connection. */
    c->close_after = m == M_POST;
    int raw = engine_route(gw_of(wsi), path);
    if (raw >= 0)
        return route_socketio(wsi, c, raw);
    if (m != M_GET)
        return http_respond_str(wsi, c, 405, "text/plain", "Method Not Allowed\n");
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        return http_respond(wsi, c, 200, "text/html; charset=utf-8",
                            (const char *)rc_page_index, rc_page_index_len, 0);
    if (strcmp(path, "/healthz") == 0)
        return route_healthz(wsi, c);
    if (strcmp(path, "/readyz") == 0)
        return route_readyz(wsi, c);
    if (strcmp(path, "/metrics") == 0)
        return route_metrics(wsi, c);
    if (strcmp(path, "/demo/token") == 0)
        return route_demo_token(wsi, c);
    return http_respond_str(wsi, c, 404, "text/plain", "Not Found\n");
}

static int on_http_writable(struct lws *wsi, struct conn *c)
{
    if (c->kind == CONN_POLL && !c->resp_pending)
        return poll_writable(wsi, c);
    if (!c->resp_pending)
        return 0;
    int rc = c->resp_len ? lws_write(wsi, c->resp + LWS_PRE, c->resp_len, LWS_WRITE_HTTP_FINAL) : 0;
    resp_drop(gw_of(wsi), c);
    if (rc < 0 || c->close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Decides whether a WebSocket upgrade may proceed: 0 yes, else the refusal
 * is written here (1) or the connection is to be dropped (-1). */
static int on_confirm_upgrade(struct lws *wsi)
{
    static const char shutting_down[] = "{\"code\":3,\"message\":\"Server shutting down\"}";
    static const char not_found[] = "Not Found\n";
    gateway *gw = gw_of(wsi);
    char path[64], obuf[GW_MAX_ORIGIN], sbuf[GW_MAX_ARG];
    struct conn scratch = {0};
    enum eio_http_error err;
    int rc;

    if (!header(wsi, WSI_TOKEN_GET_URI, path, sizeof path) || engine_route(gw, path) < 0) {
        rc = http_respond(wsi, &scratch, 404, "text/plain", not_found, sizeof not_found - 1, 1);
    } else if (gw->stopping) {
        rc = http_respond(wsi, &scratch, 503, "application/json", shutting_down,
                          sizeof shutting_down - 1, 1);
    } else if (!allowed_origin(gw, wsi, obuf, sizeof obuf)) {
        rc = eio_http_error(wsi, &scratch, EIO_HE_FORBIDDEN, 1);
    } else if (eio_check_query(wsi, "websocket", &err) < 0) {
        rc = eio_http_error(wsi, &scratch, err, 1);
    } else {
        const char *sid = query_arg(wsi, "sid=", sbuf, sizeof sbuf);
        session *s = sid ? session_find(gw, sid) : NULL;
        char addr[GW_ADDR_LEN];
        if (!sid && addr_admit(wsi, addr, sizeof addr))
            return 0; /* a new session */
        if (!sid)
            rc = http_respond(wsi, &scratch, 429, "application/json", too_many_connections,
                              sizeof too_many_connections - 1, 1);
        else if (!s || s->raw != engine_route(gw, path))
            rc = eio_http_error(wsi, &scratch, EIO_HE_SID_UNKNOWN, 1);
        else if (s->state != SESSION_OPEN)
            rc = eio_http_error(wsi, &scratch, EIO_HE_BAD_REQUEST, 1);
        else
            return 0; /* an upgrade probe (refused once open if the session
                         is upgraded or already probing, as the reference
                         server does) */
    }
    conn_reset(gw, &scratch);
    return rc < 0 ? -1 : 1;
}

/* ---- WebSocket transport ---- */

static int on_ws_established(struct lws *wsi, struct conn *c)
{
    gateway *gw = gw_of(wsi);
    char sbuf[GW_MAX_ARG], path[64];
    conn_reset(gw, c);
    c->kind = CONN_WS;
    int raw = header(wsi, WSI_TOKEN_GET_URI, path, sizeof path) ? engine_route(gw, path) : -1;
    if (raw < 0)
        return -1;
    const char *sid = query_arg(wsi, "sid=", sbuf, sizeof sbuf);
    if (sid) {
        session *s = session_find(gw, sid);
        if (!s || s->state != SESSION_OPEN || s->raw != raw)
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
    if (!addr_admit(wsi, addr, sizeof addr)) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
        return -1;
    }
    char *bearer = bearer_token(wsi);
    session *s = session_new(gw, GW_TR_WEBSOCKET, raw, bearer);
    free(bearer);
    if (s && session_count_addr(s, addr[0] ? addr : NULL) < 0) {
        session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        s = NULL;
    }
    if (!s) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, NULL, 0);
        return -1;
    }
    s->ws = wsi;
    c->sess = s;
    session_kick(s);
    return 0;
}

/* Sets the close code; the caller returns -1 so that lws closes at once. */
static int ws_close_now(struct lws *wsi, int code)
{
    lws_close_reason(wsi, (enum lws_close_status)code, NULL, 0);
    return -1;
}

static int ws_too_large(struct lws *wsi, session *s)
{
    rc_metric_inc(RC_M_CLIENT_ERRORS);
    LOG_INFO(FAC, "sid %s: closing: message over maxPayload (%ld bytes)", s->sid,
             gw_of(wsi)->cfg->max_payload);
    if (wsi == s->ws)
        session_close(s, "message too large", LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, 0);
    return ws_close_now(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
}

static int on_ws_receive(struct lws *wsi, struct conn *c, const char *in, size_t len)
{
    gateway *gw = gw_of(wsi);
    session *s = c->sess;
    if (!s)
        return -1;
    if (s->state != SESSION_OPEN)
        return 0; /* closing: ignore what is still coming in */

    size_t max = gw->cfg->max_payload > 0 ? (size_t)gw->cfg->max_payload : 1;
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    const char *msg = in;
    size_t mlen = len;
    if (!c->in_active) {
        c->in_binary = lws_frame_is_binary(wsi);
        if (!final) {
            c->in_active = 1;
            rc_buf_reset(&c->in);
        }
    }
    if (c->in_active) {
        if (c->in.len + len > max)
            return ws_too_large(wsi, s);
        if (rc_buf_append(&c->in, in, len) < 0)
            return ws_close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        if (!final)
            return 0;
        msg = c->in.p ? c->in.p : "";
        mlen = c->in.len;
        c->in_active = 0;
    } else if (len > max) {
        return ws_too_large(wsi, s);
    }

    eio_packet pkt;
    int rc = eio_parse_packet(msg, mlen, c->in_binary, &pkt);
    if (rc < 0) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        LOG_INFO(FAC, "sid %s: closing: malformed Engine.IO packet: %s", s->sid, eio_strerror(rc));
        if (wsi == s->ws)
            session_close(s, "malformed packet", LWS_CLOSE_STATUS_PROTOCOL_ERR, 0);
        rc_buf_free(&c->in);
        return ws_close_now(wsi, rc == EIO_ERR_UTF8 ? LWS_CLOSE_STATUS_INVALID_PAYLOAD
                                                       : LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }
    rc = session_on_packet(s, wsi, &pkt);
    if (c->in.cap > 4096)
        rc_buf_free(&c->in); /* do not keep a large reassembly buffer around */
    if (rc < 0 && wsi != s->ws && wsi != s->probe)
        return -1;
    return 0; /* a closed session is closed from the writable callback */
}

static int on_ws_writable(struct lws *wsi, struct conn *c)
{
    session *s = c->sess;
    if (c->refused)
        return ws_close_now(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION);
    if (!s)
        return -1;
    if (wsi == s->probe) {
        if (s->state != SESSION_OPEN)
            return ws_close_now(wsi, s->close_code ? s->close_code : LWS_CLOSE_STATUS_GOINGAWAY);
        return 0;
    }
    if (wsi != s->ws)
        return -1;
    frame *f = frame_queue_pop(&s->q);
    if (f) {
        int n;
        if (frame_data(f)[0] == 'b') {
            /* A binary message: its bytes follow the 'b' marker, and the
             * frame's payload is shared, so the WebSocket header goes in
             * front of a copy. */
            size_t len = frame_len(f) - 1;
            unsigned char *buf = malloc(LWS_PRE + len + 1);
            if (!buf) {
                frame_unref(f);
                return ws_close_now(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
            }
            memcpy(buf + LWS_PRE, frame_data(f) + 1, len);
            n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_BINARY);
            free(buf);
        } else {
            n = lws_write(wsi, frame_data(f), frame_len(f), LWS_WRITE_TEXT);
        }
        frame_unref(f);
        if (n < 0)
            return -1;
        if (frame_queue_len(&s->q) || s->state != SESSION_OPEN)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (s->state == SESSION_CLOSING)
        return ws_close_now(wsi, s->close_code);
    return 0;
}

/* ---- broadcast ---- */

struct bcast {
    frame *f;
    const char *offset;     /* the event's ("" when transient) */
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
    /* A socket being caught up (hold.c) keeps the frame for later, or
     * skips what its replay already gave. */
    if (sk->hold && hold_offer(sk, b->f, b->offset))
        return;
    if (sk->state != GW_SK_CONNECTED)
        return;
    if (session_send(sk->sess, b->f) == 0)
        b->deliveries++;
}

/* 42["<name>",<payload>(,"<offset>")] */
static int encode_event(rc_buf *b, const rc_event *ev)
{
    rc_buf_reset(b);
    if (rc_buf_puts(b, "42[") < 0 || rc_buf_json_string(b, ev->name, strlen(ev->name)) < 0 ||
        rc_buf_puts(b, ",") < 0)
        return -1;
    if (ev->payload && ev->payload_len ? rc_buf_append(b, ev->payload, ev->payload_len) < 0
                                       : rc_buf_puts(b, "{}") < 0)
        return -1;
    if (ev->offset[0] && (rc_buf_puts(b, ",") < 0 ||
                          rc_buf_json_string(b, ev->offset, strnlen(ev->offset, RC_OFFSET_MAX)) < 0))
        return -1;
    return rc_buf_puts(b, "]");
}

int gw_socket_send_event(gw_socket *sk, const rc_event *ev)
{
    session *s = sk->sess;
    if (sk->state != GW_SK_CONNECTED || !sk->root || !ev->name ||
        encode_event(&s->gw->scratch, ev) < 0)
        return -1;
    return session_send_text(s, s->gw->scratch.p, s->gw->scratch.len);
}

static void broadcast(gateway *gw, rc_event *ev)
{
    if (gw->app.on_publish)
        gw->app.on_publish(gw->app.ud, gw, ev);
    if (!ev->name || !ev->nrooms)
        return;
    frame *f = NULL;
    if (encode_event(&gw->scratch, ev) < 0 || !(f = frame_new(gw->scratch.p, gw->scratch.len))) {
        LOG_ERROR(FAC, "out of memory encoding event %s", ev->id ? ev->id : "?");
        return;
    }
    struct bcast b = {.f = f, .offset = ev->offset, .gen = ++gw->gen};
    gw->in_broadcast = 1;
    for (size_t i = 0; i < ev->nrooms; i++)
        rooms_foreach_member(gw->rooms, ev->rooms[i], bcast_member, &b);
    gw->in_broadcast = 0;
    session_reap_doomed(gw);
    frame_unref(f);
    rc_metric_inc(RC_M_EVENTS_BROADCAST);
    rc_metric_add(RC_M_DELIVERIES, b.deliveries);
}

static void drain_published(gateway *gw)
{
    pthread_mutex_lock(&gw->pub_mu);
    rc_event **batch = gw->pub;
    size_t n = gw->pub_len;
    gw->pub = NULL;
    gw->pub_len = gw->pub_cap = 0;
    pthread_mutex_unlock(&gw->pub_mu);
    for (size_t i = 0; i < n; i++) {
        if (!gw->stopping)
            broadcast(gw, batch[i]);
        rc_event_unref(batch[i]);
    }
    free(batch);
}

/* Runs the tasks posted by other threads (gw_post); with gw_gone, only
 * lets them release themselves (gateway_destroy). */
static void drain_tasks(gateway *gw, int gw_gone)
{
    pthread_mutex_lock(&gw->pub_mu);
    gw_task *t = gw->tasks;
    gw->tasks = gw->tasks_tail = NULL;
    pthread_mutex_unlock(&gw->pub_mu);
    while (t) {
        gw_task *next = t->next;
        t->next = NULL;
        t->run(t, gw_gone ? NULL : gw);
        t = next;
    }
}

/* ---- shutdown ---- */

static void stop_deadline_cb(lws_sorted_usec_list_t *sul)
{
    gateway *gw = lws_container_of(sul, gateway, stop_sul);
    if (gw->nsessions)
        LOG_INFO(FAC, "%zu sessions still closing at the deadline", gw->nsessions);
    gw->done = 1;
}

static void begin_shutdown(gateway *gw)
{
    size_t n = 0;
    gw->stopping = 1;
    for (session *s = gw->all; s; s = s->next) {
        if (s->state != SESSION_OPEN)
            continue;
        n++;
        /* An Engine.IO CLOSE: socket.io-client reconnects after a transport
         * close (it would not after a Socket.IO DISCONNECT). */
        session_send(s, gw->f_close);
        session_close(s, "server shutdown", LWS_CLOSE_STATUS_GOINGAWAY, 1);
    }
    LOG_INFO(FAC, "stopping: closing %zu sessions", n);
    check_done(gw);
    if (!gw->done)
        lws_sul_schedule(gw->ctx, 0, &gw->stop_sul, stop_deadline_cb,
                         (lws_usec_t)GW_STOP_GRACE_MS * LWS_US_PER_MS);
}

/*
 * The bus lost messages (history reconnected to Redis): live sockets may have
 * missed events. Each gets an Engine.IO CLOSE, so socket.io-client
 * reconnects and catches up from history, like after a node restart.
 */
static void resync_sessions(gateway *gw)
{
    size_t n = 0;
    for (session *s = gw->all; s; s = s->next) {
        if (s->state != SESSION_OPEN)
            continue;
        n++;
        session_send(s, gw->f_close);
        session_close(s, "bus gap: reconnect to catch up", LWS_CLOSE_STATUS_GOINGAWAY, 1);
    }
    LOG_WARN(FAC, "bus gap: %zu sessions asked to reconnect and catch up", n);
}

/* ---- the protocol callback ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gateway *gw = gw_of(wsi);
    struct conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!gw || gw->destroying)
            return 0;
        /* A gap is handled before what was published after it. */
        if (!gw->stopping && atomic_exchange(&gw->resync_requested, 0))
            resync_sessions(gw);
        drain_published(gw);
        drain_tasks(gw, 0);
        if (!gw->stopping && atomic_load(&gw->stop_requested))
            begin_shutdown(gw);
        return 0;

    case LWS_CALLBACK_HTTP:
        return on_http(wsi, c, in ? (const char *)in : "/") < 0 ? -1 : 0;

    case LWS_CALLBACK_HTTP_BODY:
        if (c->kind == CONN_POST && !c->in_too_big) {
            if (c->in.len + len > (size_t)gw->cfg->max_payload)
                c->in_too_big = 1;
            else if (rc_buf_append(&c->in, in, len) < 0)
                return -1;
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->kind == CONN_POST) {
            c->kind = CONN_HTTP;
            return post_complete(wsi, c) < 0 ? -1 : 0;
        }
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_http_writable(wsi, c);

    case LWS_CALLBACK_TIMER:
        if (c && c->kind == CONN_POLL && c->sess) {
            c->noop_now = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket") != 0)
            return -1;
        return on_confirm_upgrade(wsi);

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!c || c->kind == CONN_WS)
            return 0;
        if (c->kind == CONN_POLL && c->sess)
            session_release(c->sess, wsi);
        c->sess = NULL;
        conn_reset(gw, c);
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        return on_ws_established(wsi, c);

    case LWS_CALLBACK_RECEIVE:
        return on_ws_receive(wsi, c, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_ws_writable(wsi, c);

    case LWS_CALLBACK_CLOSED:
        if (c && c->sess)
            session_release(c->sess, wsi);
        if (c) {
            c->sess = NULL;
            conn_reset(gw, c);
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"roomcast", callback, sizeof(struct conn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}
};

/* ---- lifecycle ---- */

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    rc_log_write(level & LLL_ERR ? RC_LOG_ERROR : RC_LOG_WARN, "lws", "%.*s", (int)n, line);
}

/*
 * Splits cfg->listen into what lws wants: iface (an IP literal, or NULL for
 * every address), the port and whether IPv6 must be off. Host names are
 * resolved here, once, before the loop exists.
 */
static int parse_listen(gateway *gw, const char *listen, char *iface, size_t cap, int *port,
                        int *ipv4_only, char *errstr, size_t errlen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon) {
        snprintf(errstr, errlen, "listen address '%s' is not HOST:PORT", listen ? listen : "");
        return -1;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || p < 0 || p > 65535) {
        snprintf(errstr, errlen, "bad port in listen address '%s'", listen);
        return -1;
    }
    *port = (int)p;
    size_t hl = (size_t)(colon - listen);
    char host[256];
    if (hl >= sizeof host) {
        snprintf(errstr, errlen, "host too long in listen address");
        return -1;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    snprintf(gw->host, sizeof gw->host, strchr(host, ':') ? "[%s]" : "%s",
             host[0] ? host : "0.0.0.0");

    unsigned char addr[16];
    *ipv4_only = 0;
    iface[0] = '\0';
    if (!host[0] || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        *ipv4_only = 1;
    } else if (strcmp(host, "::") == 0) {
        /* every address, IPv6 and (dual-stack) IPv4 */
    } else if (inet_pton(AF_INET, host, addr) == 1) {
        *ipv4_only = 1;
        snprintf(iface, cap, "%.63s", host); /* an IP literal: short */
    } else if (inet_pton(AF_INET6, host, addr) == 1) {
        snprintf(iface, cap, "%.63s", host); /* an IP literal: short */
    } else {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
            snprintf(errstr, errlen, "cannot resolve listen host '%s'", host);
            return -1;
        }
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, iface, (socklen_t)cap);
        freeaddrinfo(res);
        *ipv4_only = 1;
    }
    return 0;
}

static void app_tick_cb(lws_sorted_usec_list_t *sul)
{
    gateway *gw = lws_container_of(sul, gateway, app_tick);
    gw->app.on_tick(gw->app.ud, gw);
    lws_sul_schedule(gw->ctx, 0, &gw->app_tick, app_tick_cb,
                     (lws_usec_t)GW_APP_TICK_MS * LWS_US_PER_MS);
}

/* A path option: "/name/" (a trailing slash is added); NULL when invalid. */
static char *copy_path(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || p[0] != '/' || n > 48 || strpbrk(p, "?# "))
        return NULL;
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    memcpy(out, p, n + 1);
    if (p[n - 1] != '/') {
        out[n] = '/';
        out[n + 1] = '\0';
    }
    return out;
}

/* A passphrase callback that has none: an encrypted key is refused rather
 * than prompted for on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/*
 * Checks tls-cert and tls-key before lws loads them, for a clear startup
 * error: both or neither, readable, a PEM certificate, an unencrypted PEM
 * private key, and the key of that certificate. Returns 1 (TLS on), 0 (off)
 * or -1 with errstr set. Blocking file I/O: at startup only.
 */
static int tls_check(const rc_config *cfg, char *errstr, size_t errlen)
{
    const char *cert = cfg->tls_cert ? cfg->tls_cert : "", *key = cfg->tls_key ? cfg->tls_key : "";
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    FILE *f = NULL;
    int rc = -1;
    if (!cert[0] && !key[0])
        return 0;
    if (!cert[0] || !key[0]) {
        snprintf(errstr, errlen, "tls-cert and tls-key go together: set both (HTTPS and WSS) "
                                 "or neither (HTTP and WS)");
        return -1;
    }
    if (!(f = fopen(cert, "r"))) {
        snprintf(errstr, errlen, "tls-cert %s: %s", cert, strerror(errno));
        goto done;
    }
    x = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!x) {
        snprintf(errstr, errlen, "tls-cert %s: no PEM certificate (-----BEGIN CERTIFICATE-----) "
                                 "in it", cert);
        goto done;
    }
    if (!(f = fopen(key, "r"))) {
        snprintf(errstr, errlen, "tls-key %s: %s", key, strerror(errno));
        goto done;
    }
    k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!k) {
        snprintf(errstr, errlen, "tls-key %s: no unencrypted PEM private key in it", key);
        goto done;
    }
    if (X509_check_private_key(x, k) != 1) {
        snprintf(errstr, errlen, "tls-key %s is not the private key of tls-cert %s", key, cert);
        goto done;
    }
    rc = 1;
done:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

gateway *gateway_new(const rc_config *cfg, auth_verifier *auth, const gateway_hooks *hooks,
                     char *errstr, size_t errlen)
{
    app_roomcast *app = app_roomcast_new(auth);
    if (!app) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    app_roomcast_set_limits(app, cfg->jwt_leeway_s, cfg->auth_grace_ms,
                            cfg->max_connections_per_user);
    gateway_options opts = {
        .app = app_roomcast_app(app),
        .socketio_path = "/socket.io/",
        .client_events_per_minute = cfg->client_events_per_minute,
        .client_event_burst = cfg->client_event_burst,
    };
    gateway *gw = gateway_new_app(cfg, &opts, hooks, errstr, errlen);
    if (!gw) {
        app_roomcast_destroy(app);
        return NULL;
    }
    gw->own_app = app;
    return gw;
}

gateway *gateway_new_app(const rc_config *cfg, const gateway_options *opts,
                         const gateway_hooks *hooks, char *errstr, size_t errlen)
{
    char iface[64];
    int port, ipv4_only, tls;
    gateway *gw = calloc(1, sizeof *gw);
    if (!gw) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    gw->cfg = cfg;
    if (hooks)
        gw->hooks = *hooks;
    gw->app = *opts->app;
    gw->ev_rate = opts->client_events_per_minute > 0 ? opts->client_events_per_minute : 0;
    gw->ev_burst = opts->client_event_burst > 0 ? opts->client_event_burst : 1;
    pthread_mutex_init(&gw->pub_mu, NULL);
    atomic_init(&gw->stop_requested, 0);
    atomic_init(&gw->resync_requested, 0);
    hmap_init(&gw->sessions, HMAP_STR);
    hmap_init(&gw->addrs, HMAP_STR);
    gw_wheel_init(gw);

    if (!opts->app->on_connect || !opts->app->on_event) {
        snprintf(errstr, errlen, "the application needs on_connect and on_event");
        goto fail;
    }
    if (!(gw->sio_path = copy_path(opts->socketio_path ? opts->socketio_path : "/socket.io/")) ||
        (opts->engine_path && !(gw->engine_path = copy_path(opts->engine_path))) ||
        (gw->engine_path && strcmp(gw->engine_path, gw->sio_path) == 0)) {
        snprintf(errstr, errlen, "bad Socket.IO or Engine.IO path");
        goto fail;
    }
    if (parse_listen(gw, cfg->listen, iface, sizeof iface, &port, &ipv4_only, errstr, errlen) < 0)
        goto fail;
    if (cfg->ping_interval_ms <= 0 || cfg->ping_timeout_ms <= 0 || cfg->max_payload <= 0 ||
        cfg->queue_max <= 0 || cfg->connect_timeout_ms <= 0) {
        snprintf(errstr, errlen, "ping-interval, ping-timeout, max-payload, queue-max and "
                                 "connect-timeout must be positive");
        goto fail;
    }
    if ((tls = tls_check(cfg, errstr, errlen)) < 0)
        goto fail;
    if (!(gw->rooms = rooms_new()) ||
        !(gw->f_ping = frame_new("2", 1)) ||
        !(gw->f_close = frame_new("1", 1)) || !(gw->f_pong_probe = frame_new("3probe", 6))) {
        snprintf(errstr, errlen, "out of memory");
        goto fail;
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   (ipv4_only ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0) |
                   (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.user = gw;
    info.gid = -1;
    info.uid = -1;
    info.max_http_header_data2 = GW_MAX_AUTH_HEADER + 2048;
    gw->ctx = lws_create_context(&info);
    if (!gw->ctx) {
        snprintf(errstr, errlen, "libwebsockets context creation failed");
        goto fail;
    }
    info.port = port;
    info.iface = iface[0] ? iface : NULL;
    info.protocols = protocols;
    info.vhost_name = "roomcast";
    if (tls) {
        /* HTTPS and WSS on the one port. HTTP/1.1 only: long-polling and
         * the WebSocket upgrade are HTTP/1.1 exchanges. */
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        info.alpn = "http/1.1";
    }
    gw->vh = lws_create_vhost(gw->ctx, &info);
    if (!gw->vh) {
        if (tls)
            snprintf(errstr, errlen, "cannot listen on %s with TLS (tls-cert %s, tls-key %s)",
                     cfg->listen, cfg->tls_cert, cfg->tls_key);
        else
            snprintf(errstr, errlen, "cannot listen on %s", cfg->listen);
        goto fail;
    }
    gw->port = lws_get_vhost_listen_port(gw->vh);
    LOG_INFO(FAC, "listening on %s://%s:%d", tls ? "https" : "http", gw->host, gw->port);
    if (gw->app.on_tick)
        lws_sul_schedule(gw->ctx, 0, &gw->app_tick, app_tick_cb,
                         (lws_usec_t)GW_APP_TICK_MS * LWS_US_PER_MS);
    return gw;

fail:
    gateway_destroy(gw);
    return NULL;
}

void gateway_destroy(gateway *gw)
{
    if (!gw)
        return;
    gw->destroying = 1;
    if (gw->ctx) {
        /* Unhook our lws timers before lws frees its scheduler; the context
         * then closes every connection, whose close callbacks only detach
         * sessions from their transports. */
        gw_wheel_stop(gw);
        lws_sul_cancel(&gw->stop_sul);
        lws_sul_cancel(&gw->app_tick);
        lws_context_destroy(gw->ctx);
        gw->ctx = NULL;
    }
    while (gw->all)
        session_free(gw->all);
    sockets_free_graveyard(gw);
    drain_tasks(gw, 1);
    for (size_t i = 0; i < gw->pub_len; i++)
        rc_event_unref(gw->pub[i]);
    free(gw->pub);
    free(gw->doomed);
    free(gw->vec);
    hmap_clear(&gw->sessions);
    hmap_clear(&gw->addrs); /* every session is gone: no entry left */
    rooms_destroy(gw->rooms);
    app_roomcast_destroy(gw->own_app);
    free(gw->sio_path);
    free(gw->engine_path);
    frame_unref(gw->f_ping);
    frame_unref(gw->f_close);
    frame_unref(gw->f_pong_probe);
    rc_buf_free(&gw->scratch);
    rc_buf_free(&gw->scratch2);
    pthread_mutex_destroy(&gw->pub_mu);
    free(gw);
}

int gateway_port(const gateway *gw)
{
    return gw->port;
}

int gateway_run(gateway *gw)
{
    while (!gw->done) {
        if (lws_service(gw->ctx, 0) < 0)
            break;
    }
    return 0;
}

int gateway_add_membership(gateway *gw, const char *user, const char *program)
{
    if (!gw->own_app)
        return -1;
    return app_roomcast_add_membership(gw->own_app, user, program) < 0 ? -1 : 0;
}

void gateway_remove_membership(gateway *gw, const char *user, const char *program)
{
    if (gw->own_app)
        app_roomcast_remove_membership(gw->own_app, user, program);
}

void gateway_resync(gateway *gw)
{
    atomic_store(&gw->resync_requested, 1);
    lws_cancel_service(gw->ctx);
}

void gateway_stop(gateway *gw)
{
    atomic_store(&gw->stop_requested, 1);
    lws_cancel_service(gw->ctx);
}

/* A verifier on its way to the loop (gateway_set_verifier). */
struct verifier_task {
    gw_task task;       /* first: the posted task */
    auth_verifier *v;   /* ref'd */
};

static void verifier_task_run(gw_task *t, gateway *gw)
{
    struct verifier_task *vt = (struct verifier_task *)t;
    if (gw && gw->own_app)
        app_roomcast_set_verifier(gw->own_app, vt->v);
    auth_verifier_destroy(vt->v);
    free(vt);
}

int gateway_set_verifier(gateway *gw, auth_verifier *v)
{
    if (!gw->own_app || !v)
        return -1;
    struct verifier_task *vt = calloc(1, sizeof *vt);
    if (!vt)
        return -1;
    vt->task.run = verifier_task_run;
    vt->v = auth_verifier_ref(v);
    gw_post(gw, &vt->task);
    return 0;
}

void gw_post(gateway *gw, gw_task *t)
{
    pthread_mutex_lock(&gw->pub_mu);
    int wake = !gw->tasks;
    t->next = NULL;
    if (gw->tasks_tail)
        gw->tasks_tail->next = t;
    else
        gw->tasks = t;
    gw->tasks_tail = t;
    pthread_mutex_unlock(&gw->pub_mu);
    if (wake)
        lws_cancel_service(gw->ctx);
}

void gateway_set_history(gateway *gw, rc_history *h)
{
    if (gw->own_app)
        app_roomcast_set_history(gw->own_app, h, gw->cfg->recovery_window_ms);
}

int gateway_publish(gateway *gw, rc_event *ev)
{
    pthread_mutex_lock(&gw->pub_mu);
    if (gw->pub_len == gw->pub_cap) {
        size_t cap = gw->pub_cap ? gw->pub_cap * 2 : 64;
        rc_event **p = realloc(gw->pub, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&gw->pub_mu);
            return -1;
        }
        gw->pub = p;
        gw->pub_cap = cap;
    }
    int wake = gw->pub_len == 0;
    gw->pub[gw->pub_len++] = rc_event_ref(ev);
    pthread_mutex_unlock(&gw->pub_mu);
    /* A non-empty queue already has a wake-up pending: the loop takes the
     * whole queue at once. */
    if (wake)
        lws_cancel_service(gw->ctx);
    return 0;
}
