/*
 * app_roomcast.c - roomcast's application: JWT at CONNECT, automatic rooms,
 * join:program / leave:program, the error shapes of the client contract,
 * and memberships.
 *
 * Implementation notes. Each accepted socket carries its auth_identity as
 * application data (owned here, freed in on_disconnect). The membership
 * table holds what the program.memberships topic said (and what the
 * history store had at start); a token's "programs" claim is per socket and
 * never stored. Answers are built in one scratch buffer: every callback runs
 * on the gateway loop, one at a time.
 */
#include "app_roomcast.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "membership.h"

#define FAC "gateway"

/* Longest program id accepted from a client event. */
#define RC_MAX_PROGRAM_ID 256

struct app_roomcast {
    gw_app app;
    const auth_verifier *auth; /* borrowed */
    membership *members;       /* owned */
    rc_buf buf;                /* answers being built */
    rc_buf room;               /* room names being built */
};

static const char *room_name(app_roomcast *a, const char *prefix, const char *id)
{
    rc_buf_reset(&a->room);
    if (rc_buf_puts(&a->room, prefix) < 0 || rc_buf_puts(&a->room, id) < 0)
        return NULL;
    return a->room.p;
}

static int claims_program(const auth_identity *id, const char *program)
{
    for (size_t i = 0; id && i < id->nprograms; i++)
        if (strcmp(id->programs[i], program) == 0)
            return 1;
    return 0;
}

/* ---- CONNECT ---- */

struct join_ctx {
    app_roomcast *a;
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

static void refuse(app_roomcast *a, gw_socket *sk, int code, const char *reason)
{
    rc_metric_inc(RC_M_AUTH_FAILURES);
    LOG_INFO(FAC, "sid %s: CONNECT refused: %s (%s)", gw_socket_sid(sk), auth_code_name(code),
             reason ? reason : "no detail");
    rc_buf_reset(&a->buf);
    if (rc_buf_printf(&a->buf, "{\"message\":\"Authentication error\",\"data\":{\"code\":\"%s\"}}",
                      auth_code_name(code)) < 0)
        gw_socket_reject(sk, "{\"message\":\"Authentication error\"}");
    else
        gw_socket_reject(sk, a->buf.p);
}

static void on_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    app_roomcast *a = ud;
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
        refuse(a, sk, AUTH_TOKEN_INVALID, "token is not a string");
        return;
    }
    auth_identity *id = NULL;
    const char *reason = NULL;
    int code = auth_verify(a->auth, token, len, (int64_t)time(NULL), &id, &reason);
    if (code != AUTH_OK) {
        refuse(a, sk, code, reason);
        return;
    }

    struct join_ctx j = {.a = a, .sk = sk};
    const char *room = room_name(a, "user:", id->sub);
    if (!room || gw_socket_join(sk, room) < 0)
        j.failed = 1;
    for (size_t i = 0; i < id->nprograms && !j.failed; i++)
        join_program_cb(id->programs[i], &j);
    if (!j.failed)
        membership_foreach_program(a->members, id->sub, join_program_cb, &j);
    if (j.failed) {
        /* Out of memory, or ids no room name can hold (control
         * characters): refuse rather than half-join. */
        LOG_ERROR(FAC, "sid %s: cannot join the rooms of the token", gw_socket_sid(sk));
        auth_identity_free(id);
        gw_socket_reject(sk, "{\"message\":\"Internal error\"}");
        return;
    }
    gw_socket_set_data(sk, id);
    gw_socket_accept(sk, NULL);
}

static void on_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)reason;
    auth_identity_free(gw_socket_data(sk));
    gw_socket_set_data(sk, NULL);
}

/* ---- client events ---- */

static void reply_ok(app_roomcast *a, gw_socket *sk, long long ack)
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
static void reply_error(app_roomcast *a, gw_socket *sk, long long ack, const char *code,
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
    app_roomcast *a = ud;
    int join = strcmp(ev->name, "join:program") == 0;
    int leave = strcmp(ev->name, "leave:program") == 0;
    if (!join && !leave) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        reply_error(a, sk, ev->ack_id, "INVALID_ARGUMENT", "unknown event");
        return;
    }
    char pid[RC_MAX_PROGRAM_ID + 1];
    if (ev->nattachments || !program_arg(json_array_get(ev->args, 0), pid, sizeof pid)) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
        reply_error(a, sk, ev->ack_id, "INVALID_ARGUMENT", NULL);
        return;
    }
    const auth_identity *id = gw_socket_data(sk);
    if (join && !membership_has(a->members, id->sub, pid) && !claims_program(id, pid)) {
        rc_metric_inc(RC_M_CLIENT_ERRORS);
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
    reply_ok(a, sk, ev->ack_id);
}

static void on_rate_limited(void *ud, gw_socket *sk, const gw_event *ev)
{
    reply_error(ud, sk, ev->ack_id, "RATE_LIMITED", NULL);
}

/* ---- memberships ---- */

static void on_publish(void *ud, gateway *gw, const rc_event *ev)
{
    app_roomcast *a = ud;
    const char *user = ev->member_user, *program = ev->member_program;
    if (ev->member_op == RC_MEMBER_NONE || !user || !program)
        return;
    int add = ev->member_op == RC_MEMBER_ADD;
    if (add ? membership_add(a->members, user, program) < 0
            : (membership_remove(a->members, user, program), 0)) {
        LOG_ERROR(FAC, "out of memory recording a membership");
        return;
    }
    const char *uroom = room_name(a, "user:", user);
    size_t n = 0;
    gw_socket **v = uroom ? gw_room_sockets(gw, uroom, &n) : NULL;
    const char *proom = room_name(a, "program:", program);
    if (!proom)
        return;
    for (size_t i = 0; i < n; i++) {
        if (add) {
            if (gw_socket_join(v[i], proom) < 0)
                LOG_ERROR(FAC, "sid %s: cannot join room of program", gw_socket_sid(v[i]));
        } else if (!claims_program(gw_socket_data(v[i]), program)) {
            gw_socket_leave(v[i], proom);
        }
    }
}

/* ---- lifetime ---- */

app_roomcast *app_roomcast_new(const auth_verifier *auth)
{
    app_roomcast *a = calloc(1, sizeof *a);
    if (!a || !(a->members = membership_new())) {
        free(a);
        return NULL;
    }
    a->auth = auth;
    a->app = (gw_app){
        .ud = a,
        .namespace_allowed = NULL, /* "/" only */
        .on_connect = on_connect,
        .on_event = on_event,
        .on_rate_limited = on_rate_limited,
        .on_disconnect = on_disconnect,
        .on_publish = on_publish,
    };
    return a;
}

void app_roomcast_destroy(app_roomcast *a)
{
    if (!a)
        return;
    membership_destroy(a->members);
    rc_buf_free(&a->buf);
    rc_buf_free(&a->room);
    free(a);
}

const gw_app *app_roomcast_app(app_roomcast *a)
{
    return &a->app;
}

int app_roomcast_add_membership(app_roomcast *a, const char *user, const char *program)
{
    return membership_add(a->members, user, program);
}

void app_roomcast_remove_membership(app_roomcast *a, const char *user, const char *program)
{
    membership_remove(a->members, user, program);
}
