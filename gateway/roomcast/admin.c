/*
 * admin.c - roomcast's admin API and its control messages (admin.h).
 *
 * Implementation notes. Everything runs on the gateway loop, in the
 * request's callback: what the node carries is read where it lives (the
 * server's counts and room table, the application's per-user socket lists
 * and membership table, the process hooks of /healthz), so an answer costs
 * what it lists (a room list is O(rooms log rooms), a user's sockets
 * O(their rooms)) and nothing is kept between requests. Only the token's
 * SHA-256 is kept; a request's token is hashed the same way and the two
 * digests compared with CRYPTO_memcmp, so neither the comparison's time
 * nor the token's length tells anything. Refusals are logged at most once
 * a second (with a count of those not logged), so a scan cannot flood the
 * log; each is counted.
 *
 * A disconnect acts here at once (the count is this node's), then, for
 * scope=cluster, publishes a control message that every node, this one
 * included, receives from the bus; a node recognises its own by the
 * random node id it put in "origin" and skips it. Bans are per node, in
 * memory (app.h: rc_app_ban), and last the same time on every node: each
 * counts ban_ms from when the message reached it.
 */
#include "gateway/roomcast/admin.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/iso8601.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "gateway/roomcast/membership.h"

#define FAC "admin"

/* Longest bearer token read from a request (the configuration's bound). */
#define ADMIN_TOKEN_READ_MAX 4096
/* The reason given to the sockets an operator disconnects. */
#define REASON_HERE "disconnected by an operator"
#define REASON_CLUSTER "disconnected by an operator on another node"

struct rc_admin {
    int have_token;
    unsigned char digest[32];          /* SHA-256 of the token */
    char node[RC_ADMIN_NODE_LEN + 1];  /* random per process */
    char host[256];                    /* gethostname(), for /admin/stats */
    int64_t started_wall, started_mono;
    rc_app *app;                       /* borrowed */
    rc_routes_hooks hooks;             /* /healthz's members */
    rc_history *h;                     /* borrowed, or NULL */
    rc_buf msg;                        /* a control message being built */
    int64_t warn_next;                 /* no refusal logged before (mono) */
    size_t warn_skipped;               /* refusals not logged since */
};

/* ---- pure parts ---- */

static int digest(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

int rc_admin_token_ok(const rc_admin *adm, const char *given)
{
    unsigned char d[32];
    if (!adm->have_token || !given || digest(given, strlen(given), d) < 0)
        return 0;
    return CRYPTO_memcmp(d, adm->digest, sizeof d) == 0;
}

/* A room or user named in a path: 1 to RC_ADMIN_ARG_MAX bytes of UTF-8
 * without control characters. */
static int arg_ok(const char *s, size_t n)
{
    if (n == 0 || n > RC_ADMIN_ARG_MAX || !rc_utf8_valid(s, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

enum rc_admin_route rc_admin_route_parse(const char *path, const char **arg, size_t *arglen)
{
    static const char suffix[] = "/disconnect";
    const size_t slen = sizeof suffix - 1;
    *arg = NULL;
    *arglen = 0;
    if (strncmp(path, "/admin/", 7) != 0)
        return RC_ADMIN_NOT_FOUND;
    const char *p = path + 7;
    if (!strcmp(p, "stats"))
        return RC_ADMIN_STATS;
    if (!strcmp(p, "rooms") || !strcmp(p, "rooms/"))
        return RC_ADMIN_ROOMS;
    enum rc_admin_route r;
    if (!strncmp(p, "rooms/", 6))
        r = RC_ADMIN_ROOM;
    else if (!strncmp(p, "users/", 6))
        r = RC_ADMIN_USER;
    else
        return RC_ADMIN_NOT_FOUND;
    const char *a = p + 6;
    size_t n = strlen(a);
    if (r == RC_ADMIN_USER && n >= slen && !strcmp(a + n - slen, suffix)) {
        n -= slen;
        r = RC_ADMIN_DISCONNECT;
    }
    if (!arg_ok(a, n))
        return RC_ADMIN_BAD_ARG;
    *arg = a;
    *arglen = n;
    return r;
}

int rc_admin_parse_uint(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

int rc_admin_encode_disconnect(rc_buf *b, const char *node, const char *user, int64_t ban_ms)
{
    rc_buf_reset(b);
    if (rc_buf_puts(b, "{\"v\":1,\"op\":\"disconnect\",\"user\":") < 0 ||
        rc_buf_json_string(b, user, strlen(user)) < 0 || rc_buf_puts(b, ",\"origin\":") < 0 ||
        rc_buf_json_string(b, node, strlen(node)) < 0 ||
        rc_buf_printf(b, ",\"banMs\":%lld}", (long long)ban_ms) < 0)
        return -1;
    return 0;
}

int rc_admin_decode(const char *msg, size_t len, rc_admin_msg *out, const char **err)
{
    json_error_t jerr;
    int rc = -1;
    *err = NULL;
    json_t *o = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(o)) {
        *err = "not a JSON object";
        goto done;
    }
    json_t *v = json_object_get(o, "v"), *op = json_object_get(o, "op");
    if (!json_is_integer(v) || !json_is_string(op)) {
        *err = "no version or no op";
        goto done;
    }
    if (json_integer_value(v) != 1 || strcmp(json_string_value(op), "disconnect") != 0) {
        rc = 1; /* a newer node's message: not ours to understand */
        goto done;
    }
    json_t *user = json_object_get(o, "user"), *origin = json_object_get(o, "origin"),
           *ban = json_object_get(o, "banMs");
    if (!json_is_string(user) ||
        !arg_ok(json_string_value(user), json_string_length(user))) {
        *err = "user missing or not a user id";
        goto done;
    }
    if (!json_is_string(origin) || json_string_length(origin) == 0 ||
        json_string_length(origin) > RC_ADMIN_NODE_LEN) {
        *err = "origin missing or not a node id";
        goto done;
    }
    if (ban && (!json_is_integer(ban) || json_integer_value(ban) < 0 ||
                json_integer_value(ban) > (json_int_t)RC_ADMIN_BAN_MAX_S * 1000)) {
        *err = "banMs not an integer from 0 to a week";
        goto done;
    }
    memcpy(out->user, json_string_value(user), json_string_length(user) + 1);
    memcpy(out->origin, json_string_value(origin), json_string_length(origin) + 1);
    out->ban_ms = ban ? (int64_t)json_integer_value(ban) : 0;
    rc = 0;
done:
    json_decref(o);
    return rc;
}

/* ---- answers ---- */

/* {"error":code,"message":...} with status; always 1 (answered). */
static int fail(gw_http_response *resp, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(gw_http_response *resp, unsigned status, const char *code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    rc_buf *b = &resp->body;
    rc_buf_reset(b);
    resp->status = status;
    resp->content_type = "application/json";
    if (rc_buf_printf(b, "{\"error\":\"%s\",\"message\":", code) < 0 ||
        rc_buf_json_string(b, text, strlen(text)) < 0 || rc_buf_puts(b, "}") < 0) {
        rc_buf_reset(b);
        rc_buf_puts(b, "{\"error\":\"internal\"}");
    }
    return 1;
}

static int jstr(rc_buf *b, const char *s)
{
    return rc_buf_json_string(b, s, strlen(s));
}

/* An ISO 8601 time, or null for 0. */
static int jtime(rc_buf *b, int64_t ms)
{
    char iso[RC_ISO8601_LEN + 1];
    if (!ms || rc_iso8601_format_ms(ms, iso) < 0)
        return rc_buf_puts(b, "null");
    return rc_buf_printf(b, "\"%s\"", iso);
}

/* A growable vector of borrowed strings, sorted on demand. */
struct strvec {
    const char **v;
    size_t n, cap;
    int failed;
};

static void strvec_push(struct strvec *sv, const char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        const char **v = realloc(sv->v, cap * sizeof *v);
        if (!v) {
            sv->failed = 1;
            return;
        }
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
}

static void strvec_push_cb(const char *s, void *ud)
{
    strvec_push(ud, s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted strings as a JSON array; frees sv. */
static int strvec_json(rc_buf *b, struct strvec *sv)
{
    int bad = sv->failed;
    if (sv->n)
        qsort(sv->v, sv->n, sizeof *sv->v, cmp_str);
    bad |= rc_buf_puts(b, "[") < 0;
    for (size_t i = 0; i < sv->n && !bad; i++)
        bad |= (i && rc_buf_puts(b, ",") < 0) || jstr(b, sv->v[i]) < 0;
    bad |= rc_buf_puts(b, "]") < 0;
    free(sv->v);
    memset(sv, 0, sizeof *sv);
    return bad ? -1 : 0;
}

/* ---- GET /admin/stats ---- */

/* The sum of n counters. */
static uint64_t sum(const rc_counter *v, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += rc_counter_get(&v[i]);
    return t;
}

static int route_stats(rc_admin *adm, gw_server *gw, rc_buf *b)
{
    const rc_metrics_table *m = &rc_metrics;
    const gw_counters *gc = gw_server_counters(gw);
    const struct {
        const char *name;
        uint64_t v;
    } counters[] = {
        {"recordsConsumed", sum(m->consumed, RC_METRICS_MAX_TOPICS)},
        {"recordsDlq", sum(m->dlq, RC_M_BAD__COUNT)},
        {"eventsAppended", sum(m->appended, RC_METRICS_MAX_EVENTS + 1)},
        {"eventsBroadcast", sum(m->broadcast, RC_METRICS_MAX_EVENTS + 1)},
        {"deliveries", rc_counter_get(&gc->deliveries[GW_DELIVERY_WRITTEN])},
        {"deliveriesDropped", rc_counter_get(&gc->deliveries[GW_DELIVERY_DROPPED])},
        {"slowDisconnects", rc_counter_get(&gc->slow_disconnects)},
        {"handshakes", sum(gc->handshakes, GW_TR__COUNT)},
        {"authFailures", sum(m->auth_failures, RC_M_AUTH__COUNT)},
        {"clientErrors", sum(gc->client_errors, GW_ERR__COUNT) +
                             sum(m->client_errors, RC_M_ERR__COUNT)},
        {"recoveries", rc_counter_get(&m->recoveries[RC_M_RECOVERED])},
        {"recoveriesFailed", rc_counter_get(&m->recoveries[RC_M_NOT_RECOVERED])},
        {"eventsReplayed", rc_counter_get(&m->replayed)},
        {"adminRequests", rc_counter_get(&m->admin_requests)},
        {"adminUnauthorized", rc_counter_get(&m->admin_unauthorized)},
    };
    gw_stats st;
    gw_server_stats(gw, &st);
    int bad = rc_buf_printf(b, "{\"node\":{\"id\":\"%s\",\"host\":", adm->node) < 0 ||
              jstr(b, adm->host) < 0 ||
              rc_buf_printf(b, ",\"port\":%d},\"startedAt\":", gw_server_port(gw)) < 0 ||
              jtime(b, adm->started_wall) < 0 ||
              rc_buf_printf(b,
                            ",\"uptimeSeconds\":%lld,\"admitting\":%s,"
                            "\"connections\":{\"total\":%zu,\"websocket\":%zu,\"polling\":%zu},"
                            "\"sockets\":%zu,\"rooms\":%zu,\"users\":%zu",
                            (long long)((rc_clock_mono_ms() - adm->started_mono) / 1000),
                            gw_server_admitting(gw) ? "true" : "false", st.sessions,
                            st.by_transport[GW_TR_WEBSOCKET], st.by_transport[GW_TR_POLLING], st.sockets, st.rooms,
                            rc_app_user_count(adm->app)) < 0;
    if (!bad && adm->hooks.health) {
        /* started, kafka {..., assigned, paused}, history {backend, ready} */
        size_t mark = b->len;
        bad |= rc_buf_puts(b, ",") < 0;
        adm->hooks.health(adm->hooks.ud, b);
        if (b->len == mark + 1) /* the hook had nothing to add */
            b->p[--b->len] = '\0';
    }
    bad |= rc_buf_puts(b, ",\"counters\":{") < 0;
    for (size_t i = 0; i < sizeof counters / sizeof counters[0] && !bad; i++)
        bad |= rc_buf_printf(b, "%s\"%s\":%llu", i ? "," : "", counters[i].name,
                             (unsigned long long)counters[i].v) < 0;
    bad |= rc_buf_puts(b, "}}") < 0;
    return bad ? -1 : 0;
}

/* ---- GET /admin/rooms ---- */

struct room_row {
    const char *name; /* borrowed from the room table, for this request */
    size_t members;
};

struct room_list {
    const char *prefix;
    size_t plen;
    struct room_row *v;
    size_t n, cap;
    int failed;
};

static void room_collect(const char *room, size_t members, void *ud)
{
    struct room_list *rl = ud;
    if (rl->failed || strncmp(room, rl->prefix, rl->plen) != 0)
        return;
    if (rl->n == rl->cap) {
        size_t cap = rl->cap ? rl->cap * 2 : 64;
        struct room_row *v = realloc(rl->v, cap * sizeof *v);
        if (!v) {
            rl->failed = 1;
            return;
        }
        rl->v = v;
        rl->cap = cap;
    }
    rl->v[rl->n++] = (struct room_row){room, members};
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct room_row *)a)->name, ((const struct room_row *)b)->name);
}

static int route_rooms(rc_admin *adm, gw_server *gw, const char *prefix, size_t limit, rc_buf *b)
{
    struct room_list rl = {.prefix = prefix, .plen = strlen(prefix)};
    gw_server_foreach_room(gw, room_collect, &rl);
    int bad = rl.failed;
    if (!bad && rl.n)
        qsort(rl.v, rl.n, sizeof *rl.v, cmp_row);
    size_t shown = rl.n < limit ? rl.n : limit;
    bad |= rc_buf_printf(b, "{\"node\":\"%s\",\"prefix\":", adm->node) < 0 || jstr(b, prefix) < 0 ||
           rc_buf_printf(b, ",\"total\":%zu,\"limit\":%zu,\"truncated\":%s,\"rooms\":[", rl.n,
                         limit, shown < rl.n ? "true" : "false") < 0;
    for (size_t i = 0; i < shown && !bad; i++)
        bad |= rc_buf_puts(b, i ? ",{\"room\":" : "{\"room\":") < 0 || jstr(b, rl.v[i].name) < 0 ||
               rc_buf_printf(b, ",\"members\":%zu}", rl.v[i].members) < 0;
    bad |= rc_buf_puts(b, "]}") < 0;
    free(rl.v);
    return bad ? -1 : 0;
}

/* ---- GET /admin/rooms/{room} ---- */

static int route_room(rc_admin *adm, gw_server *gw, const char *name, size_t limit, rc_buf *b)
{
    size_t n = 0;
    gw_socket **v = gw_socket_room_list(gw, name, &n);
    size_t shown = n < limit ? n : limit;
    int bad = rc_buf_printf(b, "{\"node\":\"%s\",\"room\":", adm->node) < 0 || jstr(b, name) < 0 ||
              rc_buf_printf(b, ",\"members\":%zu,\"truncated\":%s,\"sockets\":[", n,
                            shown < n ? "true" : "false") < 0;
    for (size_t i = 0; i < shown && !bad; i++) {
        const char *user = rc_app_socket_user(v[i]);
        bad |= rc_buf_printf(b, "%s{\"id\":\"%s\",\"sid\":\"%s\",\"user\":", i ? "," : "",
                             gw_socket_id(v[i]), gw_socket_sid(v[i])) < 0 ||
               (user ? jstr(b, user) : rc_buf_puts(b, "null")) < 0 || rc_buf_puts(b, "}") < 0;
    }
    bad |= rc_buf_puts(b, "]}") < 0;
    return bad ? -1 : 0;
}

/* ---- GET /admin/users/{user} ---- */

static int route_user(rc_admin *adm, const char *sub, rc_buf *b)
{
    size_t n = 0;
    gw_socket **v = rc_app_user_sockets(adm->app, sub, &n);
    struct strvec sv = {0};
    int bad = rc_buf_printf(b, "{\"node\":\"%s\",\"user\":", adm->node) < 0 || jstr(b, sub) < 0 ||
              rc_buf_puts(b, ",\"sockets\":[") < 0;
    for (size_t i = 0; i < n && !bad; i++) {
        gw_socket *sk = v[i];
        char pbuf[64];
        const char *peer = gw_socket_peer(sk, pbuf, sizeof pbuf);
        int64_t since = gw_socket_since_ms(sk);
        bad |= rc_buf_printf(b,
                             "%s{\"id\":\"%s\",\"sid\":\"%s\",\"state\":\"%s\","
                             "\"transport\":\"%s\",\"address\":",
                             i ? "," : "", gw_socket_id(sk), gw_socket_sid(sk),
                             since ? "connected" : "connecting", gw_socket_transport(sk)) < 0 ||
               (peer ? jstr(b, peer) : rc_buf_puts(b, "null")) < 0 ||
               rc_buf_puts(b, ",\"connectedAt\":") < 0 || jtime(b, since) < 0 ||
               rc_buf_puts(b, ",\"rooms\":") < 0;
        if (!bad) {
            gw_socket_foreach_room(sk, strvec_push_cb, &sv);
            bad |= strvec_json(b, &sv) < 0 || rc_buf_puts(b, "}") < 0;
        }
    }
    bad |= rc_buf_puts(b, "],\"programs\":") < 0;
    if (!bad) {
        rc_membership_foreach_program(rc_app_members(adm->app), sub, strvec_push_cb, &sv);
        bad |= strvec_json(b, &sv) < 0;
    }
    bad |= rc_buf_puts(b, ",\"bannedUntil\":") < 0 ||
           jtime(b, rc_app_banned_until(adm->app, sub)) < 0 || rc_buf_puts(b, "}") < 0;
    free(sv.v);
    return bad ? -1 : 0;
}

/* ---- POST /admin/users/{user}/disconnect ---- */

/* Publishes the disconnect to the other nodes: 1 queued, 0 not. */
static int publish(rc_admin *adm, const char *sub, int64_t ban_ms)
{
    if (!adm->h) {
        LOG_WARN(FAC, "disconnect of user %s not sent to the other nodes: the history is not "
                      "open yet (start-up)", sub);
        return 0;
    }
    if (!rc_history_ready(adm->h)) {
        LOG_WARN(FAC, "disconnect of user %s not sent to the other nodes: the %s store is "
                      "unreachable; retry once /readyz answers 200", sub,
                 rc_history_backend(adm->h));
        return 0;
    }
    if (rc_admin_encode_disconnect(&adm->msg, adm->node, sub, ban_ms) < 0 ||
        rc_history_control_publish(adm->h, adm->msg.p, adm->msg.len) < 0) {
        LOG_WARN(FAC, "disconnect of user %s not sent to the other nodes: the history's queue "
                      "is full or memory ran out; retry", sub);
        return 0;
    }
    return 1;
}

static int route_disconnect(rc_admin *adm, const gw_http_request *req, const char *sub,
                      gw_http_response *resp)
{
    char buf[256], peer[64]; /* query values this long are not ours */
    const char *scope = gw_http_query(req, "scope", buf, sizeof buf);
    int cluster = 1;
    if (scope && !strcmp(scope, "node"))
        cluster = 0;
    else if (scope && strcmp(scope, "cluster") != 0)
        return fail(resp, 400, "invalid_argument", "scope: expected cluster (the default) or node");
    const char *bs = gw_http_query(req, "ban_seconds", buf, sizeof buf);
    int64_t ban_s = 0, until = 0;
    if (bs && rc_admin_parse_uint(bs, RC_ADMIN_BAN_MAX_S, &ban_s) < 0)
        return fail(resp, 400, "invalid_argument",
                    "ban_seconds: expected a whole number of seconds from 0 to %d",
                    RC_ADMIN_BAN_MAX_S);
    if (ban_s) {
        until = rc_clock_wall_ms() + ban_s * 1000;
        if (rc_app_ban(adm->app, sub, until) < 0)
            return fail(resp, 503, "unavailable",
                        "cannot ban: %d users are banned already, or memory ran out; nothing "
                        "was done",
                        RC_MAX_BANS);
    }
    size_t n = rc_app_disconnect_user(adm->app, sub, REASON_HERE);
    int published = cluster && publish(adm, sub, ban_s * 1000);
    const char *from = gw_http_request_peer(req, peer, sizeof peer);
    LOG_INFO(FAC, "user %s disconnected at the request of %s: %zu sockets on this node, scope %s%s%s",
             sub, from ? from : "an unknown address", n, cluster ? "cluster" : "node",
             cluster ? (published ? " (sent to the other nodes)" : " (NOT sent to the other nodes)")
                     : "",
             ban_s ? ", banned" : "");
    rc_buf *b = &resp->body;
    rc_buf_reset(b);
    resp->status = 200;
    resp->content_type = "application/json";
    int bad = rc_buf_printf(b, "{\"node\":\"%s\",\"user\":", adm->node) < 0 || jstr(b, sub) < 0 ||
              rc_buf_printf(b, ",\"scope\":\"%s\",\"disconnected\":%zu,\"published\":%s,"
                               "\"bannedUntil\":",
                            cluster ? "cluster" : "node", n, published ? "true" : "false") < 0 ||
              jtime(b, ban_s ? rc_app_banned_until(adm->app, sub) : 0) < 0 ||
              rc_buf_puts(b, "}") < 0;
    return bad ? -1 : 1;
}

/* ---- the handler ---- */

/* Logs a refusal, at most once a second. */
static void log_refused(rc_admin *adm, const gw_http_request *req, const char *why)
{
    int64_t now = rc_clock_mono_ms();
    if (now < adm->warn_next) {
        adm->warn_skipped++;
        return;
    }
    char peer[64];
    const char *from = gw_http_request_peer(req, peer, sizeof peer);
    LOG_WARN(FAC, "%s %.200s from %s refused (401): %s%s", gw_http_request_method(req),
             gw_http_path(req), from ? from : "an unknown address", why,
             adm->warn_skipped ? " (and more since the last such line, not logged)" : "");
    adm->warn_next = now + 1000;
    adm->warn_skipped = 0;
}

/* ?limit, or the default; -1 when malformed. */
static int64_t limit_arg(const gw_http_request *req)
{
    char buf[256];
    int64_t v;
    const char *s = gw_http_query(req, "limit", buf, sizeof buf);
    if (!s)
        return RC_ADMIN_LIMIT_DEFAULT;
    return rc_admin_parse_uint(s, RC_ADMIN_LIMIT_MAX, &v) < 0 || v == 0 ? -1 : v;
}

int rc_admin_answer(void *ud, gw_server *gw, const gw_http_request *req, gw_http_response *resp)
{
    rc_admin *adm = ud;
    if (!adm || !adm->have_token)
        return 0; /* no admin API: a 404 like any unknown path */
    char *token = malloc(ADMIN_TOKEN_READ_MAX + 1);
    if (!token)
        return fail(resp, 500, "internal", "out of memory");
    const char *given = gw_http_request_bearer(req, token, ADMIN_TOKEN_READ_MAX + 1);
    int ok = rc_admin_token_ok(adm, given);
    memset(token, 0, ADMIN_TOKEN_READ_MAX + 1);
    free(token);
    if (!ok) {
        rc_counter_inc(&rc_metrics.admin_unauthorized);
        log_refused(adm, req, given ? "wrong admin token" : "no admin token");
        fail(resp, 401, "unauthorized",
             "this API needs the admin token: Authorization: Bearer <token>");
        resp->authenticate = "Bearer realm=\"roomcast admin\"";
        return 1;
    }
    rc_counter_inc(&rc_metrics.admin_requests);

    const char *path = gw_http_path(req), *method = gw_http_request_method(req);
    const char *arg;
    size_t arglen;
    enum rc_admin_route r = rc_admin_route_parse(path, &arg, &arglen);
    if (r == RC_ADMIN_NOT_FOUND)
        return fail(resp, 404, "not_found",
                    "no admin route %.200s: /admin/stats, /admin/rooms, /admin/rooms/{room}, "
                    "/admin/users/{user}, /admin/users/{user}/disconnect",
                    path);
    if (r == RC_ADMIN_BAD_ARG)
        return fail(resp, 400, "invalid_argument",
                    "the room or user in the path must be 1 to %d bytes of UTF-8 without "
                    "control characters (percent-encoded)",
                    RC_ADMIN_ARG_MAX);
    int post = !strcmp(method, "POST");
    if (post != (r == RC_ADMIN_DISCONNECT))
        return fail(resp, 405, "method_not_allowed", "%s takes %s only", path,
                    r == RC_ADMIN_DISCONNECT ? "POST" : "GET and HEAD");

    char name[RC_ADMIN_ARG_MAX + 1] = "";
    if (arg) {
        memcpy(name, arg, arglen);
        name[arglen] = '\0';
    }
    int64_t limit = RC_ADMIN_LIMIT_DEFAULT;
    if ((r == RC_ADMIN_ROOMS || r == RC_ADMIN_ROOM) && (limit = limit_arg(req)) < 0)
        return fail(resp, 400, "invalid_argument", "limit: expected 1 to %d", RC_ADMIN_LIMIT_MAX);

    rc_buf *b = &resp->body;
    rc_buf_reset(b);
    resp->status = 200;
    resp->content_type = "application/json";
    int rc = 0;
    switch (r) {
    case RC_ADMIN_STATS:
        rc = route_stats(adm, gw, b);
        break;
    case RC_ADMIN_ROOMS: {
        char prefix[4096]; /* what lws lets a request line hold */
        const char *p = gw_http_query(req, "prefix", prefix, sizeof prefix);
        rc = route_rooms(adm, gw, p ? p : "", (size_t)limit, b);
        break;
    }
    case RC_ADMIN_ROOM:
        rc = route_room(adm, gw, name, (size_t)limit, b);
        break;
    case RC_ADMIN_USER:
        rc = route_user(adm, name, b);
        break;
    case RC_ADMIN_DISCONNECT:
        rc = route_disconnect(adm, req, name, resp) < 0 ? -1 : 0;
        break;
    default:
        break;
    }
    if (rc < 0)
        return fail(resp, 500, "internal", "out of memory");
    return 1;
}

/* ---- control messages ---- */

void rc_admin_control(rc_admin *adm, const char *msg, size_t len)
{
    rc_admin_msg *m = malloc(sizeof *m);
    const char *err = NULL;
    if (!m) {
        LOG_ERROR(FAC, "control message dropped: out of memory");
        return;
    }
    int rc = rc_admin_decode(msg, len, m, &err);
    if (rc < 0)
        LOG_WARN(FAC, "malformed control message dropped: %s", err);
    else if (rc > 0)
        LOG_DEBUG(FAC, "control message of another version or op ignored");
    if (rc != 0 || !strcmp(m->origin, adm->node)) { /* our own: applied already */
        free(m);
        return;
    }
    if (m->ban_ms && rc_app_ban(adm->app, m->user, rc_clock_wall_ms() + m->ban_ms) < 0)
        LOG_ERROR(FAC, "user %s not banned as node %s asked: %d users are banned already, or "
                       "memory ran out",
                  m->user, m->origin, RC_MAX_BANS);
    size_t n = rc_app_disconnect_user(adm->app, m->user, REASON_CLUSTER);
    LOG_INFO(FAC, "user %s disconnected at the request of node %s: %zu sockets on this node%s",
             m->user, m->origin, n, m->ban_ms ? ", banned" : "");
    free(m);
}

/* ---- lifetime ---- */

rc_admin *rc_admin_new(const char *token, rc_app *app, const rc_routes_hooks *hooks)
{
    rc_admin *adm = calloc(1, sizeof *adm);
    if (!adm)
        return NULL;
    if (token && token[0]) {
        if (digest(token, strlen(token), adm->digest) < 0)
            goto fail;
        adm->have_token = 1;
    }
    if (rc_random_hex(adm->node, RC_ADMIN_NODE_LEN / 2) < 0)
        goto fail;
    if (gethostname(adm->host, sizeof adm->host - 1) < 0)
        snprintf(adm->host, sizeof adm->host, "unknown");
    adm->started_wall = rc_clock_wall_ms();
    adm->started_mono = rc_clock_mono_ms();
    adm->app = app;
    if (hooks)
        adm->hooks = *hooks;
    return adm;
fail:
    free(adm);
    return NULL;
}

void rc_admin_destroy(rc_admin *adm)
{
    if (!adm)
        return;
    rc_buf_free(&adm->msg);
    OPENSSL_cleanse(adm->digest, sizeof adm->digest);
    free(adm);
}

const char *rc_admin_node(const rc_admin *adm)
{
    return adm->node;
}

void rc_admin_set_history(rc_admin *adm, rc_history *h)
{
    adm->h = h;
}
