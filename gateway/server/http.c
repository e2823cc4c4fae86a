/*
 * http.c - HTTP requests and responses for the server: request headers,
 * the query string, the Authorization bearer, CORS, the response writer,
 * Engine.IO's error answers, the per-address admission check, and the
 * routing of a request to the Engine.IO paths or the application.
 *
 * Implementation notes. lws keeps the query arguments url-decoded, one
 * fragment each. A response's headers go out from the request callback,
 * its body (copied, with LWS_PRE headroom) from the next writable one.
 *
 * Persistence follows RFC 9112 9.3 and 9.6: the connection stays open for
 * the next request unless the client asked to close it (HTTP/1.0, or
 * "close" among its Connection options), a request body was left unread
 * (a refused POST), or the body was chunked. Every response on a
 * connection about to be closed says "Connection: close", so that a
 * keep-alive client never sends its next request into the closing socket,
 * and the close itself is ours (the writable callback returns -1), not
 * left to lws, whose own reading of the Connection header is narrower.
 *
 * A request whose body is refused before its end (413, 408, a malformed
 * chunked body, a POST answered without reading it) ends with a lingering
 * close (gw_http_linger), as nginx does: our side is shut down after the
 * answer and what the client still sends is read and dropped for a short
 * while, so that the client's kernel does not get a reset (the answer to
 * unread bytes) before the client has read the answer.
 *
 * lws 4.1 delimits request bodies by Content-Length only; a chunked body
 * (what Node's http client sends when it knows no length) reaches
 * LWS_CALLBACK_HTTP_BODY with its framing, which gw_http_body_feed()
 * decodes, bounded by maxPayload. lws still counts the body's bytes
 * against the 100 MB it assumes for a POST without a length, so the
 * connection cannot carry another request and is closed after the
 * response.
 */
#include "gateway/server/transport_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/slice.h"
#include "gateway/server/cors.h"

#define FAC GW_FAC

/* Longest chunk-size line (with its extensions), and longest trailer
 * section, of a chunked request body. */
#define GW_CHUNK_LINE_MAX 1024
#define GW_CHUNK_TRAILER_MAX 8192

/* Drops the response being sent, if any. */
void gw_http_resp_drop(gw_server *gw, gw_conn *c)
{
    if (c->resp_dlv) {
        gw_count_dropped(gw, c->resp_dlv->n);
        free(c->resp_dlv);
        c->resp_dlv = NULL;
    }
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    if (c->resp_pending) {
        c->resp_pending = 0;
        gw->http_pending--;
        gw_server_check_done(gw);
    }
}

void gw_http_conn_reset(gw_server *gw, gw_conn *c)
{
    gw_http_resp_drop(gw, c);
    rc_buf_free(&c->in);
    c->in_active = c->in_binary = c->in_too_big = c->in_chunked = c->in_bad = 0;
    memset(&c->chunk, 0, sizeof c->chunk);
    c->keep_alive = c->close_after = c->refused = c->head = 0;
    c->challenge = NULL;
    c->late_poll = c->noop_now = c->body_unread = 0;
    c->sid[0] = '\0';
    c->kind = GW_CONN_HTTP;
}

/* Copies header h (at most cap - 1 bytes) or returns NULL when absent/too long. */
const char *gw_http_header(struct lws *wsi, enum lws_token_indexes h, char *buf, size_t cap)
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
const char *gw_http_query_arg(struct lws *wsi, const char *name, char *buf, size_t cap)
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
char *gw_http_bearer(struct lws *wsi)
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

enum gw_cors gw_http_cors(gw_server *gw, struct lws *wsi, char *buf, size_t cap)
{
    char host[GW_MAX_ORIGIN];
    const char *origin = gw_http_header(wsi, WSI_TOKEN_ORIGIN, buf, cap);
    if (!origin) {
        /* Absent, or too long to be one of ours. */
        int present = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0;
        buf[0] = '\0';
        return present ? GW_CORS_REFUSED : GW_CORS_PLAIN;
    }
    return gw_cors_check(gw->opt.cors_origins, origin,
                         gw_http_header(wsi, WSI_TOKEN_HOST, host, sizeof host));
}

enum gw_method gw_http_method(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return GW_M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return GW_M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
        return GW_M_OPTIONS;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI))
        return GW_M_HEAD;
    return GW_M_OTHER;
}

int gw_http_list_has(const char *list, const char *tok)
{
    return gw_cors_list_has(list, tok, strlen(tok));
}

/* Whether the request line says HTTP/1.1 (lws keeps "HTTP/1.1" as a token). */
static int is_http11(struct lws *wsi)
{
    char v[16];
    return gw_http_header(wsi, WSI_TOKEN_HTTP, v, sizeof v) && strcmp(v, "HTTP/1.1") == 0;
}

int gw_http_keeps_alive(struct lws *wsi)
{
    char buf[256];
    if (!is_http11(wsi))
        return 0; /* HTTP/1.0 keep-alive is not offered */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
        return 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_CONNECTION) <= 0)
        return 1;
    /* A Connection list too long to read is not trusted to lack "close". */
    const char *conn = gw_http_header(wsi, WSI_TOKEN_CONNECTION, buf, sizeof buf);
    return conn && !gw_http_list_has(conn, "close");
}

/* ---- request bodies ---- */

enum {
    CH_SIZE,      /* first hex digit of a chunk size */
    CH_SIZE_MORE, /* more hex digits, an extension or CR */
    CH_EXT,       /* chunk extensions, up to CR */
    CH_SIZE_LF,   /* LF ending the size line */
    CH_DATA,      /* chunk data */
    CH_DATA_CR,   /* CRLF after the data */
    CH_DATA_LF,
    CH_TRAILER, /* start of a trailer field line, or CR of the end */
    CH_TRAILER_LINE,
    CH_TRAILER_LF,
    CH_END_LF, /* LF of the final empty line */
    CH_DONE,
};

int gw_http_body_begin(struct lws *wsi, gw_conn *c, size_t max)
{
    char buf[64];
    int has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    const char *cl = gw_http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, buf, sizeof buf);
    if (has_te) {
        /* Both a length and a coding is how requests are smuggled (RFC
         * 9112 6.3): refused, like a coding other than chunked alone. */
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
            return 400;
        const char *te = gw_http_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, buf, sizeof buf);
        if (!te || !gw_http_list_has(te, "chunked") || strcspn(te, ",") != strlen(te))
            return 501;
        c->in_chunked = 1;
        memset(&c->chunk, 0, sizeof c->chunk);
        c->chunk.state = CH_SIZE;
        c->close_after = 1;
        return 0;
    }
    if (!cl)
        return 400; /* a POST must say how long its body is */
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    if (*cl < '0' || *cl > '9' || *end)
        return 400;
    if (n > max)
        return 413;
    c->close_after = !c->keep_alive;
    return 0;
}

/* Decodes a chunked body: 1 complete (or refused), 0 more, -1 no memory. */
static int chunked_feed(gw_conn *c, const char *p, size_t len, size_t max)
{
    gw_http_chunked *k = &c->chunk;
    const char *e = p + len;
    while (p < e && k->state != CH_DONE) {
        char ch = *p;
        int h;
        switch (k->state) {
        case CH_SIZE:
        case CH_SIZE_MORE:
            if (++k->line > GW_CHUNK_LINE_MAX)
                goto bad;
            if ((h = rc_hex_digit((unsigned char)ch)) >= 0) {
                if (k->left > (max - c->in.len) / 16) {
                    c->in_too_big = 1;
                    return 1;
                }
                k->left = k->left * 16 + (size_t)h;
                k->state = CH_SIZE_MORE;
            } else if (k->state == CH_SIZE) {
                goto bad;
            } else if (ch == '\r') {
                k->state = CH_SIZE_LF;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                k->state = CH_EXT;
            } else {
                goto bad;
            }
            p++;
            break;
        case CH_EXT:
            if (++k->line > GW_CHUNK_LINE_MAX)
                goto bad;
            if (ch == '\r')
                k->state = CH_SIZE_LF;
            else if ((unsigned char)ch < 0x20 && ch != '\t')
                goto bad;
            p++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                goto bad;
            p++;
            k->line = 0;
            if (k->left > max - c->in.len) {
                c->in_too_big = 1;
                return 1;
            }
            k->state = k->left ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t n = (size_t)(e - p) < k->left ? (size_t)(e - p) : k->left;
            if (rc_buf_append(&c->in, p, n) < 0)
                return -1;
            p += n;
            k->left -= n;
            if (!k->left)
                k->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                goto bad;
            p++;
            k->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                goto bad;
            p++;
            k->state = CH_SIZE;
            break;
        case CH_TRAILER:
        case CH_TRAILER_LINE:
            /* Trailer fields are read past and ignored. */
            if (++k->line > GW_CHUNK_TRAILER_MAX)
                goto bad;
            if (ch == '\r')
                k->state = k->state == CH_TRAILER ? CH_END_LF : CH_TRAILER_LF;
            else if (ch == '\n')
                goto bad;
            else
                k->state = CH_TRAILER_LINE;
            p++;
            break;
        case CH_TRAILER_LF:
        case CH_END_LF:
            if (ch != '\n')
                goto bad;
            p++;
            k->state = k->state == CH_END_LF ? CH_DONE : CH_TRAILER;
            break;
        }
    }
    /* Bytes after the end would be a pipelined request: the connection
     * is closed after the response, and the client sends it again. */
    return k->state == CH_DONE;

bad:
    c->in_bad = 1;
    return 1;
}

int gw_http_body_feed(gw_conn *c, const char *in, size_t len, size_t max)
{
    int rc;
    if (c->in_too_big || c->in_bad)
        return 1;
    if (c->in_chunked)
        rc = chunked_feed(c, in, len, max);
    else if (len > max - c->in.len) /* lws stops at the declared length */
        rc = c->in_too_big = 1;
    else
        rc = rc_buf_append(&c->in, in, len) < 0 ? -1 : 0;
    if (c->in_too_big || c->in_bad)
        c->close_after = 1; /* the rest of the body is not read */
    return rc;
}

int gw_http_respond(struct lws *wsi, gw_conn *c, unsigned status, const char *ctype,
                    const char *body, size_t len, int now)
{
    gw_server *gw = gw_of(wsi);
    unsigned char hdr[LWS_PRE + 2048];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    char obuf[GW_MAX_ORIGIN];
    enum gw_cors cors = gw_http_cors(gw, wsi, obuf, sizeof obuf);
    const char *allow = cors == GW_CORS_ECHO ? obuf : cors == GW_CORS_ANY ? "*" : NULL;

    /* A HEAD response says the body's length and sends no body. */
    size_t send_len = c->head ? 0 : len;
    unsigned char *copy = malloc(LWS_PRE + send_len + 1);
    if (!copy)
        return -1;
    if (send_len)
        memcpy(copy + LWS_PRE, body, send_len);

    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end))
        goto fail;
    /* A connection closed after this response says so, or a keep-alive
     * client would send its next request into the closing socket. */
    if (c->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, &p, end))
        goto fail;
    /* A wildcard never comes with credentials; a listed origin does. */
    if (allow && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ACCESS_CONTROL_ALLOW_ORIGIN,
                                              (const unsigned char *)allow, (int)strlen(allow),
                                              &p, end))
        goto fail;
    if (cors == GW_CORS_ECHO &&
        (lws_add_http_header_by_name(wsi,
                                     (const unsigned char *)"access-control-allow-credentials:",
                                     (const unsigned char *)"true", 4, &p, end) ||
         lws_add_http_header_by_name(
             wsi, (const unsigned char *)"vary:", (const unsigned char *)"Origin", 6, &p, end)))
        goto fail;
    if (status == 204 && allow &&
        (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-methods:",
                                     (const unsigned char *)"GET, POST", 9, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-headers:",
                                     (const unsigned char *)"Authorization, Content-Type", 27, &p,
                                     end)))
        goto fail;
    if (c->challenge && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                                     (const unsigned char *)c->challenge,
                                                     (int)strlen(c->challenge), &p, end))
        goto fail;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        goto fail;

    if (now) {
        int rc = send_len ? lws_write(wsi, copy + LWS_PRE, send_len, LWS_WRITE_HTTP_FINAL) : 0;
        free(copy);
        return rc < 0 ? -1 : 0;
    }
    gw_http_resp_drop(gw, c);
    c->resp = copy;
    c->resp_len = send_len;
    c->resp_pending = 1;
    gw->http_pending++;
    lws_callback_on_writable(wsi);
    return 0;

fail:
    free(copy);
    return -1;
}

int gw_http_respond_str(struct lws *wsi, gw_conn *c, unsigned status, const char *ctype,
                        const char *body)
{
    return gw_http_respond(wsi, c, status, ctype, body, strlen(body), 0);
}

int gw_http_eio_error(struct lws *wsi, gw_conn *c, enum gw_eio_error code, int now)
{
    static const char *const msg[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version",
    };
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", (int)code, msg[code]);
    return gw_http_respond(wsi, c, code == GW_EIO_FORBIDDEN ? 403 : 400, "application/json", body,
                           (size_t)n, now);
}

const char *gw_http_peer_addr(struct lws *wsi, char *buf, size_t cap)
{
    const char *a = lws_get_peer_simple(wsi, buf, cap);
    if (!a || !a[0])
        return NULL;
    /* A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d. */
    if (strncasecmp(a, "::ffff:", 7) == 0 && strchr(a + 7, '.'))
        memmove(buf, a + 7, strlen(a + 7) + 1);
    else if (a != buf)
        snprintf(buf, cap, "%s", a);
    return buf;
}

int gw_http_admit(struct lws *wsi, char *addr, size_t cap)
{
    gw_server *gw = gw_of(wsi);
    if (!gw_http_peer_addr(wsi, addr, cap))
        addr[0] = '\0';
    if (gw_addr_admit(gw, addr[0] ? addr : NULL))
        return 1;
    gw_count_error(gw, GW_ERR_IP_LIMIT);
    LOG_INFO(FAC,
             "handshake from %s refused: %d sessions already open from that address "
             "(max-connections-per-ip)",
             addr, gw->opt.max_connections_per_ip);
    return 0;
}

/* Checks EIO=4 and the transport; 0 when the request may proceed, else -1
 * with the Engine.IO error to answer in *err. */
gw_session *gw_http_open_session(struct lws *wsi, enum gw_transport tr, int raw, const char *addr)
{
    char *bearer = gw_http_bearer(wsi);
    gw_session *s = gw_session_new(gw_of(wsi), tr, raw, bearer);
    free(bearer);
    if (s && gw_addr_count(s, addr[0] ? addr : NULL) < 0) {
        gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
        s = NULL;
    }
    if (s)
        gw_session_set_peer(s, addr);
    return s;
}

int gw_http_check_query(struct lws *wsi, const char *want_transport, enum gw_eio_error *err)
{
    /* In the reference server's order: the transport, then the version. */
    char buf[GW_MAX_ARG];
    const char *tr = gw_http_query_arg(wsi, "transport=", buf, sizeof buf);
    if (!tr || (strcmp(tr, "polling") != 0 && strcmp(tr, "websocket") != 0)) {
        *err = GW_EIO_TRANSPORT_UNKNOWN;
        return -1;
    }
    if (strcmp(tr, want_transport) != 0) {
        *err = GW_EIO_BAD_REQUEST;
        return -1;
    }
    const char *eio = gw_http_query_arg(wsi, "EIO=", buf, sizeof buf);
    if (!eio || strcmp(eio, "4") != 0) {
        *err = GW_EIO_UNSUPPORTED_PROTOCOL;
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
int gw_http_engine_route(const gw_server *gw, const char *path)
{
    if (path_is(path, gw->opt.socketio_path))
        return 0;
    if (gw->opt.engine_path && path_is(path, gw->opt.engine_path))
        return 1;
    return -1;
}

/* ---- the application's routes (app.h) ---- */

struct gw_http_request {
    struct lws *wsi;
    const char *path;
    enum gw_method method;
};

const char *gw_http_request_method(const gw_http_request *req)
{
    return req->method == GW_M_POST ? "POST" : req->method == GW_M_HEAD ? "HEAD" : "GET";
}

const char *gw_http_path(const gw_http_request *req)
{
    return req->path;
}

const char *gw_http_request_bearer(const gw_http_request *req, char *buf, size_t cap)
{
    char *t = gw_http_bearer(req->wsi);
    const char *rc = NULL;
    if (t && strlen(t) < cap) {
        memcpy(buf, t, strlen(t) + 1);
        rc = buf;
    }
    if (t) {
        memset(t, 0, strlen(t)); /* a credential: no copy left behind */
        free(t);
    }
    return rc;
}

const char *gw_http_request_peer(const gw_http_request *req, char *buf, size_t cap)
{
    return gw_http_peer_addr(req->wsi, buf, cap);
}

const char *gw_http_query(const gw_http_request *req, const char *name, char *buf, size_t cap)
{
    char key[64];
    size_t n = strlen(name);
    if (n + 2 > sizeof key || cap < n + 2)
        return NULL;
    memcpy(key, name, n);
    key[n] = '=';
    key[n + 1] = '\0';
    const char *v = gw_http_query_arg(req->wsi, key, buf, cap);
    if (!v)
        return NULL;
    memmove(buf, v, strlen(v) + 1);
    return buf;
}

static int app_route(struct lws *wsi, gw_conn *c, const char *path, enum gw_method m)
{
    gw_server *gw = gw_of(wsi);
    gw_http_request req = {.wsi = wsi, .path = path, .method = m};
    gw_http_response resp = {.status = 200, .content_type = "text/plain"};
    int rc;
    if (!gw->app.on_http || !gw->app.on_http(gw->app.ud, gw, &req, &resp)) {
        rc = gw_http_respond_str(wsi, c, 404, "text/plain", "Not Found\n");
    } else {
        c->challenge = resp.status == 401 ? resp.authenticate : NULL;
        rc = gw_http_respond(wsi, c, resp.status, resp.content_type, resp.body.p ? resp.body.p : "",
                             resp.body.len, 0);
    }
    rc_buf_free(&resp.body);
    return rc;
}

int gw_http_linger(struct lws *wsi, gw_conn *c)
{
    int fd = (int)lws_get_socket_fd(wsi);
    if (c->lingering)
        return 0;
    if (fd < 0 || lws_is_ssl(wsi) || lws_partial_buffered(wsi) || shutdown(fd, SHUT_WR) < 0)
        return -1;
    c->lingering = 1;
    lws_set_timer_usecs(wsi, (lws_usec_t)GW_LINGER_MS * LWS_US_PER_MS);
    return 0;
}

int gw_http_on_request(struct lws *wsi, gw_conn *c, const char *path)
{
    gw_http_conn_reset(gw_of(wsi), c);
    enum gw_method m = gw_http_method(wsi);
    c->keep_alive = gw_http_keeps_alive(wsi) != 0;
    c->body_unread = m == GW_M_POST;
    /* A request body that is not going to be read cannot be skipped
     * reliably: a POST closes the connection after its answer unless its
     * body is read (gw_http_body_begin()). */
    c->close_after = !c->keep_alive || m == GW_M_POST;
    int raw = gw_http_engine_route(gw_of(wsi), path);
    if (raw >= 0)
        return gw_polling_on_request(wsi, c, raw);
    /* HEAD is answered as GET is, without the body (RFC 9110 9.3.2). A
     * POST goes to an application that has routes, unread. */
    if (m != GW_M_GET && m != GW_M_HEAD && (m != GW_M_POST || !gw_of(wsi)->app.on_http))
        return gw_http_respond_str(wsi, c, 405, "text/plain", "Method Not Allowed\n");
    c->head = m == GW_M_HEAD;
    return app_route(wsi, c, path, m);
}

int gw_http_on_writable(struct lws *wsi, gw_conn *c)
{
    if (c->kind == GW_CONN_POLL && !c->resp_pending)
        return gw_polling_on_writable(wsi, c);
    if (!c->resp_pending)
        return 0;
    int rc = c->resp_len ? lws_write(wsi, c->resp + LWS_PRE, c->resp_len, LWS_WRITE_HTTP_FINAL) : 0;
    if (rc >= 0 && c->resp_dlv) {
        gw_server *gw = gw_of(wsi);
        int64_t now_us = 0;
        for (size_t i = 0; i < c->resp_dlv->n; i++)
            gw_count_written(gw, c->resp_dlv->origin_ms[i], &now_us);
        free(c->resp_dlv);
        c->resp_dlv = NULL;
    }
    gw_http_resp_drop(gw_of(wsi), c);
    if (rc >= 0 && c->close_after && c->body_unread)
        return gw_http_linger(wsi, c); /* the client may still be sending it */
    if (rc < 0 || c->close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
