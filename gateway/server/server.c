/*
 * server.c - the server's lifecycle: options, the lws context and vhost,
 * the protocol callback that hands each connection event to its transport
 * (http.c, polling.c, websocket.c), the timing wheel's and the
 * application's timers, tasks posted by other threads, and shutdown.
 *
 * Implementation notes. The loop is libuv's (epoll), created here and
 * handed to lws as a foreign loop (LWS_SERVER_OPTION_LIBUV): the cost of a
 * wake-up follows the descriptors that are ready, not the number of
 * connections, as it would with lws' default poll() loop. A uv check
 * handle stops the loop once the shutdown is over. One protocol
 * (protocols[0], so WebSockets without a subprotocol land on it) serves
 * every HTTP request and WebSocket. Sessions
 * reach their transports through lws_io below, the only gw_io besides the
 * unit tests'. gw_server_stop() and gw_post() are the only entry points
 * from other threads: they touch the mutex-protected task queue or an
 * atomic flag and wake the loop with lws_cancel_service(); the loop runs
 * the tasks in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * With tls_cert and tls_key, the one vhost serves HTTPS and WSS (OpenSSL
 * through lws; HTTP/1.1 by ALPN); the files are checked here first so that
 * a bad one is a clear startup error.
 */
#include <uv.h>

#include "gateway/server/transport_private.h"

#include "gateway/server/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"

#define FAC GW_FAC

/* How long gw_server_stop() waits for clients to go before the loop ends. */
#define GW_STOP_GRACE_MS 3000
/* Seconds a connection may take to send its request headers (from its
 * first byte, or from the accept when it sends none): slow headers
 * ("slowloris") and silent connections are dropped after this. */
#define GW_HEADERS_TIMEOUT_S 10
/* Seconds a kept-alive HTTP connection may stay idle between requests. */
#define GW_KEEPALIVE_TIMEOUT_S 5
/* Seconds lws waits for each step of a request (a chunk of its body). */
#define GW_LWS_TIMEOUT_S 5

/* The lws side of a server. */
struct gw_loop {
    gw_server *gw;           /* back pointer */
    uv_loop_t uv;            /* the event loop (epoll), run by us */
    int uv_ready;            /* uv is initialised */
    uv_check_t done_check;   /* stops uv once gw->done is set */
    struct lws_context *ctx; /* owned */
    struct lws_vhost *vh;    /* owned by ctx */
    int port;
    char host[72];
    lws_sorted_usec_list_t wheel_sul; /* the wheel's next tick */
    lws_sorted_usec_list_t app_tick;  /* the application's on_tick */
    lws_sorted_usec_list_t stop_sul;  /* the shutdown's deadline */
};

/* ---- time and timers ---- */

static int64_t mono_ms(gw_server *gw)
{
    (void)gw;
    return rc_clock_mono_ms();
}

int64_t gw_server_now(gw_server *gw)
{
    return gw->io->now_ms(gw);
}

/* Asks io for a wake-up at the wheel's next tick while timers are armed. */
static void wheel_wake(gw_server *gw)
{
    int64_t next = gw_wheel_next_ms(&gw->wheel);
    if (gw->wheel_waking || next < 0 || gw->destroying)
        return;
    gw->wheel_waking = 1;
    gw->io->wake_at(gw, next);
}

void gw_server_arm(gw_server *gw, gw_timer *t, void (*cb)(gw_timer *t), int ms)
{
    gw_wheel_arm(&gw->wheel, t, cb, ms, gw_server_now(gw));
    wheel_wake(gw);
}

void gw_server_disarm(gw_server *gw, gw_timer *t)
{
    gw_wheel_cancel(&gw->wheel, t);
}

void gw_server_tick(gw_server *gw)
{
    gw->wheel_waking = 0;
    gw->eager = 1;
    gw_wheel_run(&gw->wheel, gw_server_now(gw));
    gw->eager = 0;
    wheel_wake(gw);
}

/* ---- the lws transports' io ---- */

static void lws_want_write(gw_server *gw, void *conn)
{
    (void)gw;
    lws_callback_on_writable(conn);
}

static void lws_close_within(gw_server *gw, void *conn, int secs)
{
    (void)gw;
    lws_set_timeout(conn, PENDING_TIMEOUT_USER_OK, secs > 0 ? secs : LWS_TO_KILL_ASYNC);
}

static int lws_write_now(gw_server *gw, void *conn, const void *p, size_t len)
{
    (void)gw;
    /* p is a frame's data: LWS_PRE bytes of headroom precede it. */
    return lws_write(conn, (unsigned char *)p, len, LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

static void wheel_sul_cb(lws_sorted_usec_list_t *sul)
{
    struct gw_loop *l = lws_container_of(sul, struct gw_loop, wheel_sul);
    gw_server_tick(l->gw);
}

static void lws_wake_at(gw_server *gw, int64_t ms)
{
    int64_t now = gw_server_now(gw);
    lws_usec_t us = ms > now ? (lws_usec_t)(ms - now) * LWS_US_PER_MS : 1;
    lws_sul_schedule(gw->loop->ctx, 0, &gw->loop->wheel_sul, wheel_sul_cb, us);
}

static const gw_io lws_io = {
    .want_write = lws_want_write,
    .flush = gw_ws_flush,
    .close_within = lws_close_within,
    .write_now = lws_write_now,
    .wake_at = lws_wake_at,
    .now_ms = mono_ms,
};

/* ---- tasks and shutdown ---- */

void gw_post(gw_server *gw, gw_task *t)
{
    pthread_mutex_lock(&gw->task_mu);
    int wake = !gw->tasks;
    t->next = NULL;
    if (gw->tasks_tail)
        gw->tasks_tail->next = t;
    else
        gw->tasks = t;
    gw->tasks_tail = t;
    pthread_mutex_unlock(&gw->task_mu);
    if (wake && gw->loop)
        lws_cancel_service(gw->loop->ctx);
}

/* Runs the posted tasks; with gone, only lets them release themselves. */
static void run_tasks(gw_server *gw, int gone)
{
    pthread_mutex_lock(&gw->task_mu);
    gw_task *t = gw->tasks;
    gw->tasks = gw->tasks_tail = NULL;
    pthread_mutex_unlock(&gw->task_mu);
    while (t) {
        gw_task *next = t->next;
        t->next = NULL;
        t->run(t, gone ? NULL : gw);
        t = next;
    }
}

void gw_server_run_tasks(gw_server *gw)
{
    run_tasks(gw, 0);
}

void gw_server_check_done(gw_server *gw)
{
    if (gw->stopping && gw->nsessions == 0 && gw->http_pending == 0)
        gw->done = 1;
}

size_t gw_server_reconnect_all(gw_server *gw, const char *reason)
{
    size_t n = 0;
    for (gw_session *s = gw->all; s; s = s->next) {
        if (s->state != GW_SESSION_OPEN)
            continue;
        n++;
        /* A transport close: socket.io-client reconnects after one (it
         * would not after a Socket.IO DISCONNECT). Over polling, an
         * Engine.IO CLOSE in a poll of its own (polling.c); over
         * WebSocket, the close frame after what was queued, as the
         * reference server does: a CLOSE packet read in the same chunk as
         * the events before it would overtake them in socket.io-client,
         * which delivers decoded packets a tick later. */
        if (s->transport == GW_TR_POLLING)
            gw_session_send(s, gw->f_close);
        gw_session_close(s, reason, GW_CLOSE_GOING_AWAY, 1);
    }
    return n;
}

static void stop_deadline_cb(lws_sorted_usec_list_t *sul)
{
    struct gw_loop *l = lws_container_of(sul, struct gw_loop, stop_sul);
    if (l->gw->nsessions)
        LOG_INFO(FAC, "%zu sessions still closing at the deadline", l->gw->nsessions);
    l->gw->done = 1;
}

static void begin_shutdown(gw_server *gw)
{
    gw->stopping = 1;
    size_t n = gw_server_reconnect_all(gw, "server shutdown");
    LOG_INFO(FAC, "stopping: closing %zu sessions", n);
    gw_server_check_done(gw);
    if (!gw->done)
        lws_sul_schedule(gw->loop->ctx, 0, &gw->loop->stop_sul, stop_deadline_cb,
                         (lws_usec_t)GW_STOP_GRACE_MS * LWS_US_PER_MS);
}

int gw_server_stopping(const gw_server *gw)
{
    return gw->stopping;
}

void gw_server_admit(gw_server *gw)
{
    if (gw->closed)
        LOG_INFO(FAC, "accepting clients");
    gw->closed = 0;
}

int gw_server_admitting(const gw_server *gw)
{
    return !gw->closed && !gw->stopping;
}

void gw_server_stats(const gw_server *gw, gw_stats *out)
{
    out->sessions = gw->nopen;
    for (int i = 0; i < GW_TR__COUNT; i++)
        out->by_transport[i] = gw->nopen_tr[i];
    out->sockets = gw->nsockets;
    out->rooms = gw_rooms_count(gw->rooms);
}

/* Rooms of "/" are the room table's keys as they are (socket.c:
 * room_key); another namespace's carry its name and 0x1F first. */
struct room_walk {
    void (*cb)(const char *room, size_t members, void *ud);
    void *ud;
};

static void room_walk_cb(const char *key, size_t members, void *ud)
{
    struct room_walk *w = ud;
    if (!strchr(key, '\x1f'))
        w->cb(key, members, w->ud);
}

void gw_server_foreach_room(const gw_server *gw,
                            void (*cb)(const char *room, size_t members, void *ud), void *ud)
{
    struct room_walk w = {cb, ud};
    gw_rooms_foreach(gw->rooms, room_walk_cb, &w);
}

const gw_counters *gw_server_counters(const gw_server *gw)
{
    return &gw->counters;
}

const char *gw_server_transport_name(enum gw_transport tr)
{
    return tr == GW_TR_WEBSOCKET ? "websocket" : "polling";
}

const char *gw_server_client_error_name(enum gw_client_error e)
{
    static const char *const names[GW_ERR__COUNT] = {
        [GW_ERR_MALFORMED] = "malformed",       [GW_ERR_TOO_LARGE] = "too_large",
        [GW_ERR_PROTOCOL] = "protocol",         [GW_ERR_IP_LIMIT] = "ip_connection_limit",
        [GW_ERR_RATE_LIMITED] = "rate_limited", [GW_ERR_FLOOD] = "flood",
        [GW_ERR_TIMEOUT] = "timeout",
    };
    return (unsigned)e < GW_ERR__COUNT ? names[e] : "unknown";
}

/* ---- the protocol callback ---- */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_server *gw = gw_of(wsi);
    gw_conn *c = user;

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (!gw || gw->destroying)
            return 0;
        run_tasks(gw, 0);
        if (!gw->stopping && atomic_load(&gw->stop_requested))
            begin_shutdown(gw);
        return 0;

    case LWS_CALLBACK_HTTP:
        if (c->lingering)
            return -1;
        return gw_http_on_request(wsi, c, in ? (const char *)in : "/") < 0 ? -1 : 0;

    case LWS_CALLBACK_HTTP_BODY: {
        if (c->kind != GW_CONN_POST)
            return 0; /* a body not read: the connection closes after the answer */
        int rc = gw_http_body_feed(c, in, len, (size_t)gw->opt.max_payload);
        if (rc <= 0)
            return rc;
        /* A chunked body's end, or a body refused before its end. */
        c->kind = GW_CONN_HTTP;
        if (!c->in_too_big && !c->in_bad)
            c->body_unread = 0;
        return gw_polling_on_body(wsi, c) < 0 ? -1 : 0;
    }

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* The end of a body of known length. */
        c->body_unread = 0;
        if (c->lingering)
            return -1; /* everything came: nothing left to discard */
        if (c->kind == GW_CONN_POST) {
            c->kind = GW_CONN_HTTP;
            return gw_polling_on_body(wsi, c) < 0 ? -1 : 0;
        }
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return gw_http_on_writable(wsi, c);

    case LWS_CALLBACK_TIMER:
        if (c && c->lingering)
            return -1; /* GW_LINGER_MS is over */
        if (c && c->kind == GW_CONN_POST)
            return gw_polling_on_body_timeout(wsi, c) < 0 ? -1 : 0;
        if (c && c->kind == GW_CONN_POLL && c->sess) {
            c->noop_now = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (!in || strcmp((const char *)in, "websocket") != 0)
            return -1;
        return gw_ws_confirm_upgrade(wsi);

    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (!c || c->kind == GW_CONN_WS)
            return 0;
        if (c->kind == GW_CONN_POLL && c->sess)
            gw_session_release(c->sess, wsi);
        c->sess = NULL;
        gw_http_conn_reset(gw, c);
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        return gw_ws_on_established(wsi, c);

    case LWS_CALLBACK_RECEIVE:
        return gw_ws_on_receive(wsi, c, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_ws_on_writable(wsi, c);

    case LWS_CALLBACK_CLOSED:
        if (c && c->sess)
            gw_session_release(c->sess, wsi);
        if (c) {
            c->sess = NULL;
            gw_http_conn_reset(gw, c);
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Receive buffer of a WebSocket, allocated by lws for each one and kept
 * for its life: lws' default (4 KiB) would be more than everything else an
 * idle client costs. 128 bytes is the least that holds a whole control
 * frame (lws buffers a ping's or close's payload, up to 125 bytes, before
 * acting on it). Clients send small packets (pongs, acks); a larger
 * message (a CONNECT with its token) arrives in several receive callbacks
 * and is reassembled (websocket.c), bounded by maxPayload. lws also reads
 * at most this much (plus LWS_PRE) per wake-up of a WebSocket. */
#define GW_WS_RX_BUFFER 128

/* The most lws hands the kernel in one send(). Left at 0, lws caps each
 * send at the receive buffer size plus LWS_PRE (532 bytes when the receive
 * buffer was 512), copies the rest of a larger write aside and sends it
 * one such piece per writable turn: a 20 KB event took 39 sends and as
 * many loop turns. With this cap a write goes to the kernel whole;
 * whatever its send buffer does not take is kept by lws and drained first
 * on the next writable turn. */
#define GW_TX_PACKET_MAX (1024 * 1024)

static const struct lws_protocols protocols[] = {
    {"gw", callback, sizeof(gw_conn), GW_WS_RX_BUFFER, 0, NULL, GW_TX_PACKET_MAX},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- lifecycle ---- */

/* After every loop iteration: leave uv_run() once the shutdown is over. */
static void done_check_cb(uv_check_t *h)
{
    gw_server *gw = h->data;
    if (gw->done)
        uv_stop(h->loop);
}

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    rc_log_write(level & LLL_ERR ? RC_LOG_ERROR : RC_LOG_WARN, "lws", "%.*s", (int)n, line);
}

static void app_tick_cb(lws_sorted_usec_list_t *sul)
{
    struct gw_loop *l = lws_container_of(sul, struct gw_loop, app_tick);
    l->gw->app.on_tick(l->gw->app.ud, l->gw);
    lws_sul_schedule(l->ctx, 0, &l->app_tick, app_tick_cb,
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
static int tls_check(const gw_options *cfg, char *errstr, size_t errlen)
{
    const char *cert = cfg->tls_cert ? cfg->tls_cert : "", *key = cfg->tls_key ? cfg->tls_key : "";
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    FILE *f = NULL;
    int rc = -1;
    if (!cert[0] && !key[0])
        return 0;
    if (!cert[0] || !key[0])
        return rc_errf(errstr, errlen,
                       "tls-cert and tls-key go together: set both (HTTPS and "
                       "WSS) or neither (HTTP and WS)");
    if (!(f = fopen(cert, "r"))) {
        rc_errf(errstr, errlen, "tls-cert %s: %s", cert, strerror(errno));
        goto done;
    }
    x = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!x) {
        rc_errf(errstr, errlen,
                "tls-cert %s: no PEM certificate (-----BEGIN CERTIFICATE-----) "
                "in it",
                cert);
        goto done;
    }
    if (!(f = fopen(key, "r"))) {
        rc_errf(errstr, errlen, "tls-key %s: %s", key, strerror(errno));
        goto done;
    }
    k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!k) {
        rc_errf(errstr, errlen, "tls-key %s: no unencrypted PEM private key in it", key);
        goto done;
    }
    if (X509_check_private_key(x, k) != 1) {
        rc_errf(errstr, errlen, "tls-key %s is not the private key of tls-cert %s", key, cert);
        goto done;
    }
    rc = 1;
done:
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

/* A copy of s (NULL stays NULL); -1 when out of memory. */
static int copy_opt(const char **dst, const char *s)
{
    *dst = NULL;
    return s && !(*dst = strdup(s)) ? -1 : 0;
}

/* The options' values and paths (what needs neither files nor sockets). */
static int check_values(const gw_options *opts, char *errstr, size_t errlen)
{
    static const struct {
        const char *name;
        size_t off;
    } positive[] = {
        {"ping-interval", offsetof(gw_options, ping_interval_ms)},
        {"ping-timeout", offsetof(gw_options, ping_timeout_ms)},
        {"queue-max", offsetof(gw_options, queue_max)},
        {"connect-timeout", offsetof(gw_options, connect_timeout_ms)},
    };
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++) {
        int v = *(const int *)((const char *)opts + positive[i].off);
        if (v <= 0)
            return rc_errf(errstr, errlen, "%s must be positive, got %d", positive[i].name, v);
    }
    if (opts->max_payload <= 0)
        return rc_errf(errstr, errlen, "max-payload must be positive, got %ld", opts->max_payload);
    char *sio = copy_path(opts->socketio_path ? opts->socketio_path : "/socket.io/");
    char *eng = opts->engine_path ? copy_path(opts->engine_path) : NULL;
    int bad = !sio || (opts->engine_path && !eng) || (eng && strcmp(eng, sio) == 0);
    free(sio);
    free(eng);
    if (bad)
        return rc_errf(errstr, errlen, "bad Socket.IO or Engine.IO path (\"/name/\", at most 48 "
                                       "bytes, the two distinct)");
    return 0;
}

gw_server *gw_server_new_core(const gw_options *opts, const gw_io *io, char *errstr, size_t errlen)
{
    gw_server *gw = calloc(1, sizeof *gw);
    if (!gw) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    gw->io = io;
    gw->opt = *opts;
    gw->opt.listen = gw->opt.tls_cert = gw->opt.tls_key = gw->opt.cors_origins = NULL;
    gw->opt.socketio_path = gw->opt.engine_path = NULL;
    if (gw->opt.client_events_per_minute < 0)
        gw->opt.client_events_per_minute = 0;
    if (gw->opt.client_event_burst < 1)
        gw->opt.client_event_burst = 1;
    pthread_mutex_init(&gw->task_mu, NULL);
    atomic_init(&gw->stop_requested, 0);
    gw->closed = opts->start_closed != 0;
    hmap_init(&gw->sessions, HMAP_STR);
    hmap_init(&gw->addrs, HMAP_STR);
    gw_wheel_init(&gw->wheel, gw_server_now(gw));

    if (!opts->app || !opts->app->on_connect || !opts->app->on_event) {
        rc_errf(errstr, errlen, "the application needs on_connect and on_event");
        goto fail;
    }
    gw->app = *opts->app;
    if (copy_opt(&gw->opt.listen, opts->listen) < 0 ||
        copy_opt(&gw->opt.tls_cert, opts->tls_cert) < 0 ||
        copy_opt(&gw->opt.tls_key, opts->tls_key) < 0 ||
        copy_opt(&gw->opt.cors_origins, opts->cors_origins ? opts->cors_origins : "") < 0) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (check_values(opts, errstr, errlen) < 0)
        goto fail;
    gw->opt.socketio_path = copy_path(opts->socketio_path ? opts->socketio_path : "/socket.io/");
    gw->opt.engine_path = opts->engine_path ? copy_path(opts->engine_path) : NULL;
    if (!gw->opt.socketio_path || (opts->engine_path && !gw->opt.engine_path)) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (!(gw->rooms = gw_rooms_new()) || !(gw->f_ping = gw_frame_new("2", 1)) ||
        !(gw->f_close = gw_frame_new("1", 1)) || !(gw->f_pong_probe = gw_frame_new("3probe", 6))) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    return gw;

fail:
    gw_server_free_core(gw);
    return NULL;
}

void gw_server_free_core(gw_server *gw)
{
    if (!gw)
        return;
    gw->destroying = 1;
    while (gw->all)
        gw_session_free(gw->all);
    gw_socket_free_graveyard(gw);
    run_tasks(gw, 1);
    free(gw->doomed);
    free(gw->vec);
    hmap_clear(&gw->sessions);
    hmap_clear(&gw->addrs); /* every session is gone: no entry left */
    gw_rooms_destroy(gw->rooms);
    free((char *)gw->opt.listen);
    free((char *)gw->opt.tls_cert);
    free((char *)gw->opt.tls_key);
    free((char *)gw->opt.cors_origins);
    free((char *)gw->opt.socketio_path);
    free((char *)gw->opt.engine_path);
    gw_frame_unref(gw->f_ping);
    gw_frame_unref(gw->f_close);
    gw_frame_unref(gw->f_pong_probe);
    rc_buf_free(&gw->scratch);
    rc_buf_free(&gw->scratch2);
    rc_buf_free(&gw->wsout);
    pthread_mutex_destroy(&gw->task_mu);
    free(gw);
}

int gw_server_check(const gw_options *opts, char *errstr, size_t errlen)
{
    char err[400];
    gw_listen_addr la;
    if (check_values(opts, errstr, errlen) < 0)
        return -1;
    if (gw_listen_parse(opts->listen, &la, err, sizeof err) < 0)
        return rc_errf(errstr, errlen, "listen %s", err);
    return tls_check(opts, errstr, errlen) < 0 ? -1 : 0;
}

gw_server *gw_server_new(const gw_options *opts, char *errstr, size_t errlen)
{
    char err[400];
    gw_listen_addr la;
    int tls;
    gw_server *gw = gw_server_new_core(opts, &lws_io, errstr, errlen);
    if (!gw)
        return NULL;
    struct gw_loop *l = gw->loop = calloc(1, sizeof *l);
    if (!l) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    l->gw = gw;
    if (uv_loop_init(&l->uv) != 0) {
        rc_errf(errstr, errlen, "cannot create the event loop");
        goto fail;
    }
    l->uv_ready = 1;
    uv_check_init(&l->uv, &l->done_check);
    l->done_check.data = gw;
    uv_check_start(&l->done_check, done_check_cb);
    if (gw_listen_parse(gw->opt.listen, &la, err, sizeof err) < 0) {
        rc_errf(errstr, errlen, "listen %s", err);
        goto fail;
    }
    snprintf(l->host, sizeof l->host, "%s", la.host);
    if ((tls = tls_check(&gw->opt, errstr, errlen)) < 0)
        goto fail;
    /* lws would only log "ERROR on binding fd N to port P (-1 98)". */
    if (gw_listen_probe(&la, err, sizeof err) != 0) {
        rc_errf(errstr, errlen, "listen %s: %s", gw->opt.listen, err);
        goto fail;
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign_loops[1] = {&l->uv};
    info.foreign_loops = foreign_loops;
    /* No LWS_SERVER_OPTION_VALIDATE_UTF8: eio_parse_packet() checks text
     * messages itself and closes with 1007, where lws would drop the
     * connection without a close frame (see websocket.c: ws_close_now). */
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV |
                   (la.ipv4_only ? LWS_SERVER_OPTION_DISABLE_IPV6 : 0) |
                   (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.user = gw;
    info.pcontext = &l->ctx; /* lws clears it once the context is gone */
    info.gid = -1;
    info.uid = -1;
    info.max_http_header_data2 = GW_MAX_AUTH_HEADER + 2048;
    /* What lws allows a client that is slow or silent (lws 4.1's defaults,
     * written down): the request headers, or a connection's first bytes,
     * within GW_HEADERS_TIMEOUT_S; the next request on a kept-alive
     * connection within GW_KEEPALIVE_TIMEOUT_S; each chunk of a request
     * body within GW_LWS_TIMEOUT_S (polling.c bounds the whole body). */
    info.timeout_secs = GW_LWS_TIMEOUT_S;
    info.timeout_secs_ah_idle = GW_HEADERS_TIMEOUT_S;
    info.keepalive_timeout = GW_KEEPALIVE_TIMEOUT_S;
    l->ctx = lws_create_context(&info);
    if (!l->ctx) {
        rc_errf(errstr, errlen, "libwebsockets context creation failed");
        goto fail;
    }
    info.port = la.port;
    info.iface = la.iface[0] ? la.iface : NULL;
    info.protocols = protocols;
    info.vhost_name = "gw";
    /* No lws idle validity timer per connection: Engine.IO's heartbeat
     * (wheel.c) already finds dead peers, and lws keeps those timers in
     * one sorted list, so each arm (every connection, every pong) walked
     * every open connection: handshakes cost grew with the connections
     * open. A policy whose hangup is 0 arms none. */
    static const lws_retry_bo_t no_validity_timer = {0};
    info.retry_and_idle_policy = &no_validity_timer;
    if (tls) {
        /* HTTPS and WSS on the one port. HTTP/1.1 only: long-polling and
         * the WebSocket upgrade are HTTP/1.1 exchanges. */
        info.ssl_cert_filepath = gw->opt.tls_cert;
        info.ssl_private_key_filepath = gw->opt.tls_key;
        info.alpn = "http/1.1";
    }
    l->vh = lws_create_vhost(l->ctx, &info);
    if (!l->vh) {
        if (tls)
            rc_errf(errstr, errlen, "cannot listen on %s with TLS (tls-cert %s, tls-key %s)",
                    gw->opt.listen, gw->opt.tls_cert, gw->opt.tls_key);
        else
            rc_errf(errstr, errlen, "listen %s: cannot listen there (the log has lws' reason)",
                    gw->opt.listen);
        goto fail;
    }
    l->port = lws_get_vhost_listen_port(l->vh);
    LOG_INFO(FAC, "listening on %s://%s:%d", tls ? "https" : "http", l->host, l->port);
    if (gw->app.on_tick)
        lws_sul_schedule(l->ctx, 0, &l->app_tick, app_tick_cb,
                         (lws_usec_t)GW_APP_TICK_MS * LWS_US_PER_MS);
    return gw;

fail:
    gw_server_destroy(gw);
    return NULL;
}

void gw_server_destroy(gw_server *gw)
{
    if (!gw)
        return;
    gw->destroying = 1;
    struct gw_loop *l = gw->loop;
    if (l && l->ctx) {
        /* Unhook our lws timers before lws frees its scheduler; the context
         * then closes every connection, whose close callbacks only detach
         * sessions from their transports. */
        lws_sul_cancel(&l->wheel_sul);
        lws_sul_cancel(&l->stop_sul);
        lws_sul_cancel(&l->app_tick);
        lws_context_destroy(l->ctx);
    }
    if (l && l->uv_ready) {
        /* With a foreign loop lws finishes destroying its context from the
         * close callbacks of its uv handles, which the loop must run; a
         * second destroy completes what those left. */
        uv_close((uv_handle_t *)&l->done_check, NULL);
        uv_run(&l->uv, UV_RUN_DEFAULT);
        if (l->ctx) {
            lws_context_destroy(l->ctx);
            uv_run(&l->uv, UV_RUN_DEFAULT);
        }
        if (uv_loop_close(&l->uv) != 0)
            LOG_WARN(FAC, "event loop closed with handles still open");
    }
    free(l);
    gw->loop = NULL;
    gw_server_free_core(gw);
}

int gw_server_port(const gw_server *gw)
{
    return gw->loop ? gw->loop->port : -1;
}

int gw_server_run(gw_server *gw)
{
    while (!gw->done)
        if (uv_run(&gw->loop->uv, UV_RUN_DEFAULT) == 0 && !gw->done)
            break; /* nothing left to wait for */
    return 0;
}

void gw_server_stop(gw_server *gw)
{
    atomic_store(&gw->stop_requested, 1);
    if (gw->loop)
        lws_cancel_service(gw->loop->ctx);
}
