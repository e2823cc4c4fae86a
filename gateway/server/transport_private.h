/*
 * transport_private.h - the lws side of the server library, shared by
 * server.c (the protocol callback), http.c, polling.c and websocket.c:
 * per-connection state and the functions of each transport. Not part of the
 * API; loop thread only.
 *
 * One lws protocol serves every HTTP request and WebSocket; its
 * per-connection struct gw_conn says what the connection is doing. HTTP
 * responses are written as lws wants them: headers from the request
 * callback (or from a writable callback for held polls), the body from the
 * next writable one.
 */
#ifndef GW_TRANSPORT_PRIVATE_H
#define GW_TRANSPORT_PRIVATE_H

#include <libwebsockets.h>

#include "gateway/server/cors.h"
#include "gateway/server/server_private.h"

/* Bounds on strings read from request headers and query strings. */
#define GW_MAX_ARG 128
#define GW_MAX_AUTH_HEADER 8192
#define GW_MAX_ORIGIN 512
#define GW_MAX_QUERY_ARGS 32
/* The body of a 429 answer to a handshake over max_connections_per_ip. */
#define GW_TOO_MANY_CONNECTIONS                                                                    \
    "{\"code\":3,\"message\":\"Too many connections from this address\"}"
/* Room for a client address (gw_http_peer_addr). */
#define GW_ADDR_LEN 64

enum gw_conn_kind {
    GW_CONN_HTTP, /* plain request/response (also between keep-alive requests) */
    GW_CONN_POLL, /* a held long-polling GET of c->sess */
    GW_CONN_POST, /* a long-polling POST being received */
    GW_CONN_WS,   /* a WebSocket carrying (or probing for) c->sess */
};

/* Where a chunked request body's decoder is (RFC 9112 7.1); http.c. */
typedef struct gw_http_chunked {
    int state;
    size_t left; /* bytes of the current chunk still to come */
    size_t line; /* bytes of the current size line, or of the trailer section */
} gw_http_chunked;

/* The broadcast frames a long-polling response carries: counted as
 * written deliveries once its body is written, as dropped if it never is
 * (gw_counters). */
typedef struct gw_resp_dlv {
    size_t n;
    int64_t origin_ms[]; /* n of them, each frame's (negative: unknown) */
} gw_resp_dlv;

/* Per-connection state, allocated and zeroed by lws (per_session_data) and
 * kept for the connection's life, a WebSocket's too: fields are ordered by
 * size, flags are bits. */
typedef struct gw_conn {
    gw_session *sess;      /* borrowed: GW_CONN_POLL and GW_CONN_WS */
    unsigned char *resp;   /* owned: LWS_PRE headroom + response body */
    size_t resp_len;
    gw_resp_dlv *resp_dlv; /* owned: deliveries in resp, or NULL */
    rc_buf in;             /* owned: POST body / WebSocket message */
    gw_http_chunked chunk; /* GW_CONN_POST: the chunked decoder */
    const char *challenge; /* static: the WWW-Authenticate of a 401 from
                              the application's routes, or NULL */
    char sid[GW_ID_LEN + 1]; /* GW_CONN_POST: target session */
    enum gw_conn_kind kind : 8;
    unsigned resp_pending : 1; /* headers sent, body due on the next writable */
    unsigned in_active : 1;    /* a WebSocket message is being reassembled */
    unsigned in_binary : 1;
    unsigned in_too_big : 1;   /* GW_CONN_POST: the body outgrew maxPayload */
    unsigned in_chunked : 1;   /* GW_CONN_POST: the body is chunked */
    unsigned in_bad : 1;       /* GW_CONN_POST: its chunked framing is malformed */
    unsigned keep_alive : 1;   /* the client lets the connection carry another
                                  request after this one */
    unsigned close_after : 1;  /* close the connection after this response */
    unsigned refused : 1;      /* GW_CONN_WS: close it at the first writable */
    unsigned head : 1;         /* a HEAD request: its response has headers only */
    unsigned late_poll : 1;    /* GW_CONN_POLL: arrived while an upgrade probe
                                  was under way */
    unsigned noop_now : 1;     /* GW_CONN_POLL: its grace period is over */
    unsigned body_unread : 1;  /* a POST whose body was not read to its end */
    unsigned lingering : 1;    /* refused: our side is shut down, what comes in
                                  is discarded until the client closes, or
                                  GW_LINGER_MS (gw_http_linger) */
} gw_conn;

/* The server of a connection. */
static inline gw_server *gw_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* ---- http.c ---- */

enum gw_method { GW_M_GET, GW_M_POST, GW_M_OPTIONS, GW_M_HEAD, GW_M_OTHER };

/* Engine.IO's error answers: HTTP 400 (403 for FORBIDDEN) with
 * {"code":N,"message":"..."}. */
enum gw_eio_error {
    GW_EIO_TRANSPORT_UNKNOWN = 0,
    GW_EIO_SID_UNKNOWN = 1,
    GW_EIO_BAD_HANDSHAKE_METHOD = 2,
    GW_EIO_BAD_REQUEST = 3,
    GW_EIO_FORBIDDEN = 4,
    GW_EIO_UNSUPPORTED_PROTOCOL = 5,
};

enum gw_method gw_http_method(struct lws *wsi);
/* Copies header h (at most cap - 1 bytes); NULL when absent or too long. */
const char *gw_http_header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t cap);
/* The value of query argument name (given with its '=', e.g. "sid="), or
 * NULL. */
const char *gw_http_query_arg(struct lws *wsi, const char *name, char *buf, size_t cap);
/* The token of an "Authorization: Bearer <token>" header, heap-allocated,
 * or NULL. */
char *gw_http_bearer(struct lws *wsi);
/* The request's cross-origin verdict (cors.h) under the server's policy;
 * buf receives its Origin ("" when none). An Origin too long to read is
 * refused. */
enum gw_cors gw_http_cors(gw_server *gw, struct lws *wsi, char *buf, size_t cap);
/* The client address of wsi (an IPv4-mapped IPv6 address as plain IPv4),
 * or NULL when unknown. */
const char *gw_http_peer_addr(struct lws *wsi, char *buf, size_t cap);
/* Whether the comma-separated list of a header's value (Connection,
 * Transfer-Encoding) holds tok, compared without case, spaces and tabs
 * around items ignored. Pure. */
int gw_http_list_has(const char *list, const char *tok);
/* Whether the client of the request lets the connection stay open after
 * it (RFC 9112 9.3): HTTP/1.1 without "close" among its Connection options
 * and without a Transfer-Encoding (lws does not delimit such a body). */
int gw_http_keeps_alive(struct lws *wsi);
/* Whether wsi's client may open one more session (max_connections_per_ip);
 * its address goes to addr ("" when unknown). A refusal is counted and
 * logged. */
int gw_http_admit(struct lws *wsi, char *addr, size_t cap);
/* A new session for the handshake on wsi: its bearer token, and counted
 * against addr (from gw_http_admit). NULL when out of memory. */
gw_session *gw_http_open_session(struct lws *wsi, enum gw_transport tr, int raw, const char *addr);

/*
 * Writes the status line and headers of a response; the body (copied) goes
 * out from the next writable callback. With now, the body is written at
 * once too (for LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, which completes the
 * transaction itself). Returns 0 or -1 (close the connection).
 */
int gw_http_respond(struct lws *wsi, gw_conn *c, unsigned status, const char *ctype,
                    const char *body, size_t len, int now);
int gw_http_respond_str(struct lws *wsi, gw_conn *c, unsigned status, const char *ctype,
                        const char *body);
int gw_http_eio_error(struct lws *wsi, gw_conn *c, enum gw_eio_error code, int now);

/*
 * Prepares c to receive the body of the current request: delimited by its
 * Content-Length (at most max bytes) or chunked. Returns 0 when the body
 * is to be read (LWS_CALLBACK_HTTP_BODY, gw_http_on_body), else the status
 * the request is to be refused with: 400 (no length, or both a length and
 * a transfer coding), 413 (a length over max), 501 (a transfer coding
 * other than chunked). A chunked body closes the connection after the
 * response: lws would look for the next request where the body's length
 * says, and a chunked body has none.
 */
int gw_http_body_begin(struct lws *wsi, gw_conn *c, size_t max);
/*
 * Takes len bytes of the body as lws hands them over, into c->in. Returns
 * 1 when the body is complete: the end of a chunked body, or a body that
 * cannot be completed (c->in_too_big: over max; c->in_bad: malformed
 * chunked framing); 0 while more is to come (lws reports the end of a
 * body of known length with LWS_CALLBACK_HTTP_BODY_COMPLETION); -1 when
 * out of memory.
 */
int gw_http_body_feed(gw_conn *c, const char *in, size_t len, size_t max);

/* Checks EIO=4 and transport=want; 0, or -1 with the error in *err. */
int gw_http_check_query(struct lws *wsi, const char *want, enum gw_eio_error *err);
/* 0: path is the Socket.IO path, 1: the plain Engine.IO path, -1: neither. */
int gw_http_engine_route(const gw_server *gw, const char *path);

/*
 * Ends a connection whose client may still be sending (a refused request
 * body, an oversized WebSocket frame) once the refusal is written: shuts
 * down our side, so the client reads the answer and then the end, and
 * discards what still comes in until the client closes or GW_LINGER_MS
 * passed. Closing at once would make the kernel answer the unread bytes
 * with a reset, which can destroy the answer before the client reads it.
 * Returns 0 (lingering), or -1 when the connection is to be closed now (TLS,
 * or part of the answer not written yet).
 */
#define GW_LINGER_MS 2000
int gw_http_linger(struct lws *wsi, gw_conn *c);

/* Forgets the response being sent and what was being received. */
void gw_http_conn_reset(gw_server *gw, gw_conn *c);
/* Drops the response being sent, if any (its deliveries count as
 * dropped). */
void gw_http_resp_drop(gw_server *gw, gw_conn *c);

/* LWS_CALLBACK_HTTP: routes one request. */
int gw_http_on_request(struct lws *wsi, gw_conn *c, const char *path);
/* LWS_CALLBACK_HTTP_WRITEABLE. */
int gw_http_on_writable(struct lws *wsi, gw_conn *c);

/* ---- polling.c ---- */

/* A request on an Engine.IO path over HTTP (raw: the plain path). */
int gw_polling_on_request(struct lws *wsi, gw_conn *c, int raw);
/* A held poll became writable: answers it if there is something to say. */
int gw_polling_on_writable(struct lws *wsi, gw_conn *c);
/* A POSTed payload is complete. */
int gw_polling_on_body(struct lws *wsi, gw_conn *c);
/* How long a POST's body may take after its headers: pingInterval +
 * pingTimeout, in ms. */
int gw_polling_body_deadline_ms(const gw_server *gw);
/* A POST's body did not arrive within that: answers 408 and closes the
 * connection after it, and the session. */
int gw_polling_on_body_timeout(struct lws *wsi, gw_conn *c);

/* ---- websocket.c ---- */

/* Whether a WebSocket upgrade may proceed: 0 yes, else the refusal is
 * written (1) or the connection is to be dropped (-1). */
int gw_ws_confirm_upgrade(struct lws *wsi);
int gw_ws_on_established(struct lws *wsi, gw_conn *c);
int gw_ws_on_receive(struct lws *wsi, gw_conn *c, const char *in, size_t len);
int gw_ws_on_writable(struct lws *wsi, gw_conn *c);
/* gw_io.flush: writes what the session of WebSocket conn has queued now,
 * from outside its callbacks; asks for a writable turn for the rest. */
void gw_ws_flush(gw_server *gw, void *conn);

#endif
