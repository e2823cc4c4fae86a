/*
 * rc_app.c - roomcast's application: JWT at CONNECT, automatic rooms,
 * join:program / leave:program, the error shapes of the client contract,
 * and memberships.
 *
 * Implementation notes. Once its token verified, a CONNECT is handed to
 * recovery.c, which accepts the socket (recovering its previous session, or
 * with the rooms of join_rooms() below) and whose client, holding the
 * verified identity, is the socket's application data until on_disconnect.
 * Room changes are reported to it so that the stored session follows. The membership
 * table holds what the program.memberships topic said (and what the
 * history store had at start); a token's "programs" claim is per socket and
 * never stored. Answers are built in one scratch buffer: every callback runs
 * on the gateway loop, one at a time.
 *
 * The token's life after CONNECT is kept apart from recovery's data, in the
 * socket's extension (gw_socket_set_ext: a live_token, freed by the gateway
 * however the socket goes, a refusal by recovery included): the socket's
 * count in its user's entry of a->users (max-connections-per-user), the
 * identity of the last auth:refresh (socket_identity() prefers it to the
 * CONNECT's), and the expiry state. One timer per socket on the gateway's
 * wheel (gw_socket_set_timer) fires at exp + leeway (auth:expired) and at
 * the end of the grace period (DISCONNECT). The verifier is ref'd: a key
 * reload (rc_app_set_verifier) swaps it between two callbacks.
 */
#include "gateway/roomcast/app.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hmap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "gateway/server/server.h"
#include "gateway/roomcast/membership.h"
#include "gateway/roomcast/recovery.h"
#include "gateway/roomcast/routes.h"

#define FAC "app"

/* Longest program id accepted from a client event. */
#define RC_MAX_PROGRAM_ID 256

struct rc_app {
    gw_app app;
    rc_auth_verifier *auth;  /* ref'd; replaced by a key reload */
    rc_membership *members;  /* owned */
    int leeway_s;            /* jwt-leeway: a token is past at exp + it */
    int grace_ms;            /* auth-grace */
    int max_per_user;        /* max-connections-per-user, 0 = none */
    hmap users;              /* sub -> struct user_count (owned) */
    hmap bans;               /* sub -> struct ban (owned) */
    gw_socket **vec;         /* owned: rc_app_user_sockets' answer */
    size_t vec_cap;
    rc_recovery *rec;        /* owned */
    const rc_routes *routes; /* borrowed: HTTP routes, or NULL */
    rc_buf buf;              /* answers being built */
    rc_buf room;             /* room names being built */
};

static const char *room_name(rc_app *a, const char *prefix, const char *id)
{
    rc_buf_reset(&a->room);
    if (rc_buf_puts(&a->room, prefix) < 0 || rc_buf_puts(&a->room, id) < 0)
        return NULL;
    return a->room.p;
}

static int claims_program(const rc_auth_identity *id, const char *program)
{
    for (size_t i = 0; id && i < id->nprograms; i++)
        if (strcmp(id->programs[i], program) == 0)
            return 1;
    return 0;
}

/* The token of a live socket (below). */
static int64_t wall_ms(void);
static int token_admit(rc_app *a, gw_socket *sk, const rc_auth_identity *id);
static void on_refresh(rc_app *a, gw_socket *sk, const gw_event *ev);
static const rc_auth_identity *socket_identity(const gw_socket *sk);

/* ---- CONNECT ---- */

struct join_ctx {
    rc_app *a;
    gw_socket *sk;
    int failed;
};

static void join_program_cb(const char *program, void *ud)
{
    struct join_ctx *j = ud;
    const char *room = room_name(j->a, "program:", program);
    if (!room || gw_socket_join(j->sk, room) < 0)
        j->failed = 1;
}

/* The auth failures family's label of an rc_auth code. */
static enum rc_metrics_auth auth_metric(int code)
{
    switch (code) {
    case RC_AUTH_TOKEN_MISSING:
        return RC_M_AUTH_TOKEN_MISSING;
    case RC_AUTH_TOKEN_EXPIRED:
        return RC_M_AUTH_TOKEN_EXPIRED;
    default:
        return RC_M_AUTH_TOKEN_INVALID;
    }
}

static void refuse(rc_app *a, gw_socket *sk, int code, const char *reason)
{
    rc_counter_inc(&rc_metrics.auth_failures[auth_metric(code)]);
    LOG_INFO(FAC, "sid %s: CONNECT refused: %s (%s)", gw_socket_sid(sk), rc_auth_code_name(code),
             reason ? reason : "no detail");
    rc_buf_reset(&a->buf);
    if (rc_buf_printf(&a->buf, "{\"message\":\"Authentication error\",\"data\":{\"code\":\"%s\"}}",
                      rc_auth_code_name(code)) < 0)
        gw_socket_reject(sk, "{\"message\":\"Authentication error\"}");
    else
        gw_socket_reject(sk, a->buf.p);
}

static void on_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    rc_app *a = ud;
    const char *token = NULL;
    size_t len = 0;
    int bad_token = 0;

    json_t *t = hs->auth ? json_object_get(hs->auth, "token") : NULL;
    if (t && json_is_string(t)) {
        token = json_string_value(t);
        len = json_string_length(t);
    } else if (t && !json_is_null(t)) {
        bad_token = 1;
    } else if (hs->bearer) {
        token = hs->bearer;
        len = strlen(token);
    }
    if (bad_token) {
        refuse(a, sk, RC_AUTH_TOKEN_INVALID, "token is not a string");
        return;
    }
    rc_auth_identity *id = NULL;
    const char *reason = NULL;
    int code = rc_auth_verify(a->auth, token, len, (int64_t)time(NULL), &id, &reason);
    if (code != RC_AUTH_OK) {
        refuse(a, sk, code, reason);
        return;
    }
    int64_t until = rc_app_banned_until(a, id->sub);
    if (until) {
        rc_counter_inc(&rc_metrics.auth_failures[RC_M_AUTH_FORBIDDEN]);
        LOG_INFO(FAC, "sid %s: CONNECT refused: FORBIDDEN (user %s is banned for %lld more s)",
                 gw_socket_sid(sk), id->sub, (long long)((until - wall_ms() + 999) / 1000));
        rc_auth_identity_free(id);
        gw_socket_reject(sk, "{\"message\":\"Authentication error\",\"data\":"
                             "{\"code\":\"FORBIDDEN\"}}");
        return;
    }
    if (token_admit(a, sk, id) < 0) { /* refused: the user's sockets, or memory */
        rc_auth_identity_free(id);
        return;
    }
    /* The token is checked on every CONNECT, a recovery's included. */
    rc_recovery_connect(a->rec, sk, hs, id);
}

/* rc_recovery_hooks: the rooms of a new connection. Out of memory, or ids no
 * room name can hold (control characters): -1, and recovery refuses the
 * socket rather than half-join it. */
static int join_rooms(void *ud, gw_socket *sk, const rc_auth_identity *id)
{
    rc_app *a = ud;
    struct join_ctx j = {.a = a, .sk = sk};
    const char *room = room_name(a, "user:", id->sub);
    if (!room || gw_socket_join(sk, room) < 0)
        j.failed = 1;
    for (size_t i = 0; i < id->nprograms && !j.failed; i++)
        join_program_cb(id->programs[i], &j);
    if (!j.failed)
        rc_membership_foreach_program(a->members, id->sub, join_program_cb, &j);
    return j.failed ? -1 : 0;
}

/* rc_recovery_hooks: whether a recovered socket may be in a program's room. */
static int authorized(void *ud, const rc_auth_identity *id, const char *program)
{
    rc_app *a = ud;
    return rc_membership_has(a->members, id->sub, program) || claims_program(id, program);
}

static void on_disconnecting(void *ud, gw_socket *sk, const char *reason)
{
    rc_app *a = ud;
    (void)reason;
    rc_recovery_disconnecting(a->rec, sk);
}

static void on_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    rc_app *a = ud;
    (void)reason;
    rc_recovery_disconnect(a->rec, sk);
}

/* ---- client events ---- */

static void reply_ok(rc_app *a, gw_socket *sk, long long ack)
{
    (void)a;
    static const char ok[] = "{\"ok\":true}";
    if (ack >= 0)
        gw_socket_ack(sk, ack, ok, sizeof ok - 1, NULL, 0);
}

/*
 * Refuses an event: as its ack when it has an ack id, else as an "error"
 * event; both carry {"ok":false,"error":{"code":..,"message":..}} (message
 * omitted when NULL).
 */
static void reply_error(rc_app *a, gw_socket *sk, long long ack, const char *code,
                        const char *message)
{
    rc_buf *b = &a->buf;
    rc_buf_reset(b);
    if (rc_buf_printf(b, "{\"ok\":false,\"error\":{\"code\":\"%s\"", code) < 0 ||
        (message && (rc_buf_puts(b, ",\"message\":") < 0 ||
                     rc_buf_json_string(b, message, strlen(message)) < 0)) ||
        rc_buf_puts(b, "}}") < 0)
        return;
    if (ack >= 0)
        gw_socket_ack(sk, ack, b->p, b->len, NULL, 0);
    else
        gw_socket_emit(sk, "error", b->p, b->len, NULL, 0);
}

/*
 * The program id argument of join:program / leave:program: a string, an
 * integer, or an object {"programId": string|integer}. Returns the id in buf
 * or NULL when absent or malformed (empty, too long, control characters).
 */
static const char *program_arg(json_t *v, char *buf, size_t cap)
{
    if (json_is_object(v))
        v = json_object_get(v, "programId");
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (n == 0 || n >= cap)
            return NULL;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return NULL;
        memcpy(buf, s, n + 1);
        return buf;
    }
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

static void on_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    rc_app *a = ud;
    if (strcmp(ev->name, "auth:refresh") == 0) {
        on_refresh(a, sk, ev);
        return;
    }
    int join = strcmp(ev->name, "join:program") == 0;
    int leave = strcmp(ev->name, "leave:program") == 0;
    if (!join && !leave) {
        rc_counter_inc(&rc_metrics.client_errors[RC_M_ERR_UNKNOWN_EVENT]);
        reply_error(a, sk, ev->ack_id, "INVALID_ARGUMENT", "unknown event");
        return;
    }
    char pid[RC_MAX_PROGRAM_ID + 1];
    if (ev->nattachments || !program_arg(json_array_get(ev->args, 0), pid, sizeof pid)) {
        rc_counter_inc(&rc_metrics.client_errors[RC_M_ERR_INVALID_ARGUMENT]);
        reply_error(a, sk, ev->ack_id, "INVALID_ARGUMENT", NULL);
        return;
    }
    const rc_auth_identity *id = socket_identity(sk);
    if (join && !rc_membership_has(a->members, id->sub, pid) && !claims_program(id, pid)) {
        rc_counter_inc(&rc_metrics.client_errors[RC_M_ERR_FORBIDDEN]);
        reply_error(a, sk, ev->ack_id, "FORBIDDEN", NULL);
        return;
    }
    const char *room = room_name(a, "program:", pid);
    int rc = room ? (join ? gw_socket_join(sk, room) : gw_socket_leave(sk, room)) : -1;
    if (rc < 0) {
        LOG_ERROR(FAC, "sid %s: out of memory joining a room", gw_socket_sid(sk));
        gw_socket_disconnect(sk, "out of memory", 1);
        return;
    }
    if (rc > 0)
        rc_recovery_rooms_changed(a->rec, sk);
    reply_ok(a, sk, ev->ack_id);
}

static void on_rate_limited(void *ud, gw_socket *sk, const gw_event *ev)
{
    reply_error(ud, sk, ev->ack_id, "RATE_LIMITED", NULL);
}

/* ---- the token of a live socket: expiry, auth:refresh, sockets per user ---- */

/* Longest single wait of the expiry timer; a later expiry takes steps. */
#define TOKEN_MAX_WAIT_MS (1 << 30)

typedef struct live_token live_token;

/* The sockets of one user (accepted or being accepted); key: sub. */
struct user_count {
    size_t n;
    live_token *head; /* borrowed: their tokens, newest first */
    char sub[];
};

/*
 * What the application keeps about the token of a socket that passed
 * CONNECT: its extension (gw_socket_ext), freed by the gateway whichever
 * way the socket goes.
 */
struct live_token {
    rc_app *a;               /* borrowed */
    gw_socket *sk;           /* borrowed: the socket whose extension it is */
    struct user_count *user; /* borrowed: counts this socket */
    live_token *prev, *next; /* on user->head's list */
    rc_auth_identity *id;    /* owned: the identity of the last accepted
                                 auth:refresh, NULL before one */
    int64_t exp;             /* the current token's exp, 0 = none */
    int expired;             /* auth:expired sent: the grace period runs */
};

static void live_token_free(void *p)
{
    live_token *lt = p;
    struct user_count *u = lt->user;
    if (u) {
        if (lt->prev)
            lt->prev->next = lt->next;
        else
            u->head = lt->next;
        if (lt->next)
            lt->next->prev = lt->prev;
    }
    if (u && --u->n == 0) {
        hmap_del(&lt->a->users, u->sub, NULL);
        free(u);
    }
    rc_auth_identity_free(lt->id);
    free(lt);
}

/* The socket's identity: the last refreshed one, else the CONNECT's. */
static const rc_auth_identity *socket_identity(const gw_socket *sk)
{
    const live_token *lt = gw_socket_ext(sk);
    return lt && lt->id ? lt->id : rc_recovery_identity(sk);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* When the current token stops being valid (wall clock, ms). */
static int64_t token_deadline_ms(const live_token *lt)
{
    /* exp is whatever the token says, up to INT64_MAX: saturate, do not
     * overflow. A token past already has a deadline in the past. */
    int64_t lim = INT64_MAX / 1000 - lt->a->leeway_s;
    if (lt->exp >= lim)
        return INT64_MAX;
    if (lt->exp <= -lim)
        return INT64_MIN;
    return (lt->exp + lt->a->leeway_s) * 1000;
}

static void token_timer_cb(gw_socket *sk);

/* Arms the socket's timer for its token's expiry, or cancels it for a
 * token without exp. */
static void token_watch(gw_socket *sk, live_token *lt)
{
    if (!lt->exp) {
        gw_socket_cancel_timer(sk);
        return;
    }
    int64_t left = token_deadline_ms(lt) - wall_ms();
    if (left < 0)
        left = 0;
    if (left > TOKEN_MAX_WAIT_MS)
        left = TOKEN_MAX_WAIT_MS;
    gw_socket_set_timer(sk, (int)left, token_timer_cb);
}

/*
 * The socket's timer: at the token's expiry, auth:expired and the grace
 * period; at the end of the grace period, a Socket.IO DISCONNECT.
 */
static void token_timer_cb(gw_socket *sk)
{
    live_token *lt = gw_socket_ext(sk);
    if (!lt)
        return;
    rc_app *a = lt->a;
    const char *sub = socket_identity(sk) ? socket_identity(sk)->sub : "?";
    if (lt->expired) {
        LOG_INFO(FAC,
                 "sid %s: socket %s of user %s: token expired %d ms ago and not "
                 "refreshed: disconnecting",
                 gw_socket_sid(sk), gw_socket_id(sk), sub, a->grace_ms);
        rc_recovery_keep_session(a->rec, sk); /* it comes back with a new token */
        gw_socket_disconnect(sk, "token expired", 1);
        return; /* lt is gone with the socket */
    }
    if (wall_ms() < token_deadline_ms(lt)) { /* a long wait, in steps */
        token_watch(sk, lt);
        return;
    }
    lt->expired = 1;
    char args[96];
    int n = snprintf(args, sizeof args, "{\"exp\":%lld,\"graceMs\":%d}", (long long)lt->exp,
                     a->grace_ms > 0 ? a->grace_ms : 0);
    gw_socket_emit(sk, "auth:expired", args, (size_t)n, NULL, 0);
    LOG_INFO(FAC,
             "sid %s: socket %s of user %s: token expired: auth:expired sent, %d ms to "
             "refresh",
             gw_socket_sid(sk), gw_socket_id(sk), sub, a->grace_ms);
    if (a->grace_ms > 0) {
        gw_socket_set_timer(sk, a->grace_ms, token_timer_cb);
    } else {
        rc_recovery_keep_session(a->rec, sk);
        gw_socket_disconnect(sk, "token expired", 1);
    }
}

/*
 * Once a CONNECT's token verified: refuses the socket with
 * TOO_MANY_CONNECTIONS (-1) when its user already has max-connections-per-
 * user sockets on this node; else counts it and watches its token's expiry.
 * Also -1 (refused as an internal error) when out of memory.
 */
static int token_admit(rc_app *a, gw_socket *sk, const rc_auth_identity *id)
{
    hmap_slot *slot = hmap_find(&a->users, id->sub);
    struct user_count *u = slot ? slot->val : NULL;
    live_token *lt = NULL;
    if (a->max_per_user > 0 && u && u->n >= (size_t)a->max_per_user) {
        rc_counter_inc(&rc_metrics.client_errors[RC_M_ERR_USER_CONNECTION_LIMIT]);
        LOG_INFO(FAC,
                 "sid %s: CONNECT refused: TOO_MANY_CONNECTIONS (user %s has %zu sockets, "
                 "max-connections-per-user)",
                 gw_socket_sid(sk), id->sub, u->n);
        gw_socket_reject(sk, "{\"message\":\"Connection limit\",\"data\":"
                             "{\"code\":\"TOO_MANY_CONNECTIONS\"}}");
        return -1;
    }
    if (!(lt = calloc(1, sizeof *lt)))
        goto nomem;
    if (!u) {
        size_t n = strlen(id->sub);
        if (!(u = malloc(sizeof *u + n + 1)))
            goto nomem;
        u->n = 0;
        u->head = NULL;
        memcpy(u->sub, id->sub, n + 1);
        if (hmap_put(&a->users, u->sub, u) != 1) {
            free(u);
            goto nomem;
        }
    }
    u->n++;
    lt->a = a;
    lt->sk = sk;
    lt->user = u;
    lt->next = u->head;
    if (u->head)
        u->head->prev = lt;
    u->head = lt;
    lt->exp = id->exp;
    if (gw_socket_set_ext(sk, lt, live_token_free) < 0) {
        live_token_free(lt);
        return -1;
    }
    token_watch(sk, lt);
    return 0;

nomem:
    free(lt);
    LOG_ERROR(FAC, "sid %s: out of memory accepting a socket", gw_socket_sid(sk));
    gw_socket_reject(sk, "{\"message\":\"Internal error\"}");
    return -1;
}

/* 1 when every program id of id can name a room. */
static int programs_roomable(const rc_auth_identity *id)
{
    for (size_t i = 0; i < id->nprograms; i++) {
        const char *p = id->programs[i];
        size_t n = strlen(p);
        if (n == 0 || n > RC_MAX_PROGRAM_ID)
            return 0;
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)p[k] < 0x20 || p[k] == 0x7f)
                return 0;
    }
    return 1;
}

/*
 * A refreshed token's programs claim replaces the old one's: leaves the
 * rooms that only the old claim gave (not a membership, not in the new
 * claim), joins those of programs new to the claim. Returns 1 when a room
 * changed, 0 when none did, -1 when out of memory.
 */
static int swap_claims(rc_app *a, gw_socket *sk, const rc_auth_identity *old,
                       const rc_auth_identity *nw)
{
    int changed = 0;
    for (size_t i = 0; old && i < old->nprograms; i++) {
        const char *p = old->programs[i];
        if (claims_program(nw, p) || rc_membership_has(a->members, nw->sub, p))
            continue;
        const char *room = room_name(a, "program:", p);
        int rc = room ? gw_socket_leave(sk, room) : -1;
        if (rc < 0)
            return -1;
        changed |= rc;
    }
    for (size_t i = 0; i < nw->nprograms; i++) {
        const char *p = nw->programs[i];
        if (claims_program(old, p))
            continue;
        const char *room = room_name(a, "program:", p);
        int rc = room ? gw_socket_join(sk, room) : -1;
        if (rc < 0)
            return -1;
        changed |= rc;
    }
    return changed;
}

static void refresh_refused(rc_app *a, gw_socket *sk, long long ack, enum rc_metrics_auth m,
                            const char *code, const char *reason)
{
    rc_counter_inc(&rc_metrics.auth_failures[m]);
    LOG_INFO(FAC, "sid %s: auth:refresh refused: %s (%s)", gw_socket_sid(sk), code, reason);
    reply_error(a, sk, ack, code, NULL);
}

/*
 * auth:refresh ({token} or the token as a string): the new token is
 * verified like a CONNECT's and must name the same sub; it then replaces
 * the socket's identity, programs claim and expiry. Refused: the ack
 * carries TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED or FORBIDDEN (another
 * sub), and whatever timer runs keeps running.
 */
static void on_refresh(rc_app *a, gw_socket *sk, const gw_event *ev)
{
    live_token *lt = gw_socket_ext(sk);
    const rc_auth_identity *cur = socket_identity(sk);
    json_t *arg = json_array_get(ev->args, 0);
    json_t *t = json_is_object(arg) ? json_object_get(arg, "token") : arg;
    if (!lt || !cur || ev->nattachments || !json_is_string(t)) {
        rc_counter_inc(&rc_metrics.client_errors[RC_M_ERR_INVALID_ARGUMENT]);
        reply_error(a, sk, ev->ack_id, "INVALID_ARGUMENT", "expected {token}");
        return;
    }
    rc_auth_identity *id = NULL;
    const char *reason = NULL;
    int code = rc_auth_verify(a->auth, json_string_value(t), json_string_length(t),
                              (int64_t)time(NULL), &id, &reason);
    if (code != RC_AUTH_OK) {
        refresh_refused(a, sk, ev->ack_id, auth_metric(code), rc_auth_code_name(code),
                        reason ? reason : "no detail");
        return;
    }
    if (strcmp(id->sub, cur->sub) != 0) {
        rc_auth_identity_free(id);
        refresh_refused(a, sk, ev->ack_id, RC_M_AUTH_FORBIDDEN, "FORBIDDEN",
                        "token of another user");
        return;
    }
    if (!programs_roomable(id)) {
        rc_auth_identity_free(id);
        refresh_refused(a, sk, ev->ack_id, RC_M_AUTH_TOKEN_INVALID, "TOKEN_INVALID",
                        "programs holds an id no room can hold");
        return;
    }
    int changed = swap_claims(a, sk, cur, id);
    if (changed < 0) {
        rc_auth_identity_free(id);
        LOG_ERROR(FAC, "sid %s: out of memory changing rooms", gw_socket_sid(sk));
        gw_socket_disconnect(sk, "out of memory", 1);
        return;
    }
    rc_auth_identity_free(lt->id);
    lt->id = id; /* cur is no longer used: it may have been the old lt->id */
    lt->exp = id->exp;
    lt->expired = 0;
    token_watch(sk, lt);
    if (changed)
        rc_recovery_rooms_changed(a->rec, sk);
    LOG_INFO(FAC, "sid %s: socket %s of user %s: token refreshed", gw_socket_sid(sk),
             gw_socket_id(sk), id->sub);
    if (ev->ack_id >= 0) {
        char ok[64];
        int n = id->exp ? snprintf(ok, sizeof ok, "{\"ok\":true,\"exp\":%lld}", (long long)id->exp)
                        : snprintf(ok, sizeof ok, "{\"ok\":true,\"exp\":null}");
        gw_socket_ack(sk, ev->ack_id, ok, (size_t)n, NULL, 0);
    }
}

/* ---- what operators ask (admin.c) ---- */

/* A user banned until a wall-clock time; key: sub. */
struct ban {
    int64_t until_ms;
    char sub[];
};

size_t rc_app_user_count(const rc_app *a)
{
    return hmap_len(&a->users);
}

gw_socket **rc_app_user_sockets(rc_app *a, const char *sub, size_t *n)
{
    hmap_slot *slot = hmap_find(&a->users, sub);
    const struct user_count *u = slot ? slot->val : NULL;
    *n = 0;
    if (!u)
        return NULL;
    if (u->n > a->vec_cap) {
        gw_socket **v = realloc(a->vec, u->n * sizeof *v);
        if (!v)
            return NULL;
        a->vec = v;
        a->vec_cap = u->n;
    }
    /* Oldest first: the list is newest first. */
    size_t i = u->n;
    for (const live_token *lt = u->head; lt && i > 0; lt = lt->next)
        a->vec[--i] = lt->sk;
    *n = u->n - i;
    return a->vec + i;
}

const char *rc_app_socket_user(const gw_socket *sk)
{
    const rc_auth_identity *id = socket_identity(sk);
    return id ? id->sub : NULL;
}

const rc_membership *rc_app_members(const rc_app *a)
{
    return a->members;
}

size_t rc_app_disconnect_user(rc_app *a, const char *sub, const char *reason)
{
    hmap_slot *slot = hmap_find(&a->users, sub);
    size_t n = 0, had = slot ? ((struct user_count *)slot->val)->n : 0;
    /* Each disconnect frees its socket's token, the last one the user's
     * entry; the bound is a guard, never reached. */
    while (n < had && (slot = hmap_find(&a->users, sub))) {
        gw_socket *sk = ((struct user_count *)slot->val)->head->sk;
        LOG_INFO(FAC, "sid %s: socket %s of user %s: disconnected (%s)", gw_socket_sid(sk),
                 gw_socket_id(sk), sub, reason);
        gw_socket_disconnect(sk, reason, 1);
        n++;
    }
    return n;
}

/* Drops the bans that are over. */
static void bans_sweep(rc_app *a, int64_t now)
{
    size_t pos = 0;
    for (hmap_slot *slot; (slot = hmap_next(&a->bans, &pos));) {
        struct ban *b = slot->val;
        if (b->until_ms <= now) {
            hmap_del(&a->bans, b->sub, NULL);
            free(b);
            pos = 0; /* the table changed: walk it again */
        }
    }
}

int rc_app_ban(rc_app *a, const char *sub, int64_t until_ms)
{
    int64_t now = wall_ms();
    bans_sweep(a, now);
    hmap_slot *slot = hmap_find(&a->bans, sub);
    struct ban *b = slot ? slot->val : NULL;
    if (b) {
        if (until_ms > b->until_ms)
            b->until_ms = until_ms;
        return 0;
    }
    if (until_ms <= now)
        return 0;
    if (hmap_len(&a->bans) >= RC_MAX_BANS)
        return -1;
    size_t n = strlen(sub);
    if (!(b = malloc(sizeof *b + n + 1)))
        return -1;
    b->until_ms = until_ms;
    memcpy(b->sub, sub, n + 1);
    if (hmap_put(&a->bans, b->sub, b) != 1) {
        free(b);
        return -1;
    }
    return 0;
}

int64_t rc_app_banned_until(rc_app *a, const char *sub)
{
    hmap_slot *slot = hmap_len(&a->bans) ? hmap_find(&a->bans, sub) : NULL;
    struct ban *b = slot ? slot->val : NULL;
    if (!b)
        return 0;
    if (b->until_ms > wall_ms())
        return b->until_ms;
    hmap_del(&a->bans, b->sub, NULL);
    free(b);
    return 0;
}

/* ---- memberships ---- */

void rc_app_publish(rc_app *a, gw_server *gw, const rc_event *ev)
{
    const char *user = ev->member_user, *program = ev->member_program;
    rc_recovery_on_publish(a->rec, ev);
    if (ev->member_op == RC_MEMBER_NONE || !user || !program)
        return;
    int add = ev->member_op == RC_MEMBER_ADD;
    if (add ? rc_membership_add(a->members, user, program) < 0
            : (rc_membership_remove(a->members, user, program), 0)) {
        LOG_ERROR(FAC, "out of memory recording a membership");
        return;
    }
    const char *uroom = room_name(a, "user:", user);
    size_t n = 0;
    gw_socket **v = uroom ? gw_socket_room_list(gw, uroom, &n) : NULL;
    const char *proom = room_name(a, "program:", program);
    if (!proom)
        return;
    for (size_t i = 0; i < n; i++) {
        int rc = 0;
        if (add) {
            if ((rc = gw_socket_join(v[i], proom)) < 0)
                LOG_ERROR(FAC, "sid %s: cannot join room of program", gw_socket_sid(v[i]));
        } else if (!claims_program(socket_identity(v[i]), program)) {
            rc = gw_socket_leave(v[i], proom);
        }
        if (rc > 0)
            rc_recovery_rooms_changed(a->rec, v[i]);
    }
}

static int on_http(void *ud, gw_server *gw, const gw_http_request *req, gw_http_response *resp)
{
    rc_app *a = ud;
    return a->routes ? rc_routes_answer(a->routes, gw, req, resp) : 0;
}

static int offset_covered(void *ud, const char *offset, const char *floor)
{
    (void)ud;
    return rc_recovery_offset_covered(offset, floor);
}

static void on_tick(void *ud, gw_server *gw)
{
    rc_app *a = ud;
    (void)gw;
    rc_recovery_tick(a->rec);
}

/* ---- lifetime ---- */

rc_app *rc_app_new(rc_auth_verifier *auth)
{
    rc_app *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    rc_recovery_hooks hooks = {.ud = a, .join_rooms = join_rooms, .authorized = authorized};
    if (!(a->members = rc_membership_new()) || !(a->rec = rc_recovery_new(&hooks))) {
        rc_membership_destroy(a->members);
        free(a);
        return NULL;
    }
    a->auth = rc_auth_verifier_ref(auth);
    hmap_init(&a->users, HMAP_STR);
    hmap_init(&a->bans, HMAP_STR);
    a->app = (gw_app){
        .ud = a,
        .namespace_allowed = NULL, /* "/" only */
        .on_connect = on_connect,
        .on_event = on_event,
        .on_rate_limited = on_rate_limited,
        .on_disconnecting = on_disconnecting,
        .on_disconnect = on_disconnect,
        .on_tick = on_tick,
        .on_http = on_http,
        .offset_covered = offset_covered,
    };
    return a;
}

void rc_app_destroy(rc_app *a)
{
    if (!a)
        return;
    rc_membership_destroy(a->members);
    rc_recovery_destroy(a->rec);
    rc_auth_verifier_unref(a->auth);
    /* Every socket is gone (the gateway went first), so users is empty;
     * whatever is left is freed all the same. */
    size_t pos = 0;
    for (hmap_slot *slot; (slot = hmap_next(&a->users, &pos));)
        free(slot->val);
    hmap_clear(&a->users);
    pos = 0;
    for (hmap_slot *slot; (slot = hmap_next(&a->bans, &pos));)
        free(slot->val);
    hmap_clear(&a->bans);
    free(a->vec);
    rc_buf_free(&a->buf);
    rc_buf_free(&a->room);
    free(a);
}

const gw_app *rc_app_callbacks(rc_app *a)
{
    return &a->app;
}

void rc_app_adopt_members(rc_app *a, rc_membership *m)
{
    rc_membership_destroy(a->members);
    a->members = m;
}

void rc_app_set_history(rc_app *a, rc_history *h, int recovery_window_ms)
{
    rc_recovery_set_history(a->rec, h, recovery_window_ms);
}

void rc_app_set_verifier(rc_app *a, rc_auth_verifier *v)
{
    rc_auth_verifier *old = a->auth;
    a->auth = rc_auth_verifier_ref(v);
    rc_auth_verifier_unref(old);
}

void rc_app_set_limits(rc_app *a, int leeway_s, int auth_grace_ms, int max_connections_per_user)
{
    a->leeway_s = leeway_s > 0 ? leeway_s : 0;
    a->grace_ms = auth_grace_ms > 0 ? auth_grace_ms : 0;
    a->max_per_user = max_connections_per_user > 0 ? max_connections_per_user : 0;
}

void rc_app_set_routes(rc_app *a, const rc_routes *routes)
{
    a->routes = routes;
}
