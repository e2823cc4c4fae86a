/*
 * session.c - Engine.IO sessions and their Socket.IO socket, and the timing
 * wheel that drives their timers.
 *
 * Implementation notes. A session never frees itself synchronously: closing
 * it takes it out of rooms, timers and (usually) the sid table at once, but
 * the object is released on the next wheel tick once no transport points at
 * it, so that no caller (a broadcast walking a room, a packet handler, a
 * transport callback) is left holding a dangling pointer. Overflows during a
 * broadcast are parked on gw->doomed and closed after the walk.
 *
 * The heartbeat is one timer per session that alternates between "send the
 * next ping" (pingInterval after the last pong) and "the pong is late"
 * (pingTimeout after the ping), as the Engine.IO v4 reference server does.
 *
 * The wheel is a ring of bucket lists (circular, with sentinels) indexed by
 * tick; arming and cancelling are O(1), and one lws timer visits the bucket
 * of each elapsed tick. Due timers are moved to a local list before any
 * callback runs, so callbacks may arm or cancel anything, the session's
 * other timer included.
 *
 * Replies built here (OPEN, CONNECT results, acks) are small frames of their
 * own and go through the same bounded queue as broadcast frames, so packet
 * order on the wire is queue order.
 */
#include "session.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/log.h"
#include "../core/metrics.h"
#include "sio.h"

#define FAC "gateway"

/* Longest program id accepted from a client event. */
#define GW_MAX_PROGRAM_ID 256
/* Longest namespace echoed back in an "Invalid namespace" error. */
#define GW_MAX_NSP_ECHO 256

static void session_schedule_free(session *s, int linger_ms);

int gw_random_id(char out[GW_ID_LEN + 1])
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[15];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < sizeof r; i += 3) {
        unsigned long v = (unsigned long)r[i] << 16 | (unsigned long)r[i + 1] << 8 | r[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
    return 0;
}

/* ---- timing wheel ---- */

static const lws_usec_t tick_us = (lws_usec_t)GW_TICK_MS * LWS_US_PER_MS;

static lws_usec_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (lws_usec_t)ts.tv_sec * LWS_US_PER_SEC + ts.tv_nsec / 1000;
}

static uint64_t now_tick(void)
{
    return (uint64_t)(mono_us() / tick_us);
}

void gw_wheel_init(gateway *gw)
{
    for (size_t i = 0; i < GW_WHEEL_SLOTS; i++)
        gw->wheel[i].prev = gw->wheel[i].next = &gw->wheel[i];
    gw->wheel_tick = now_tick();
}

static void timer_unlink(gw_timer *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void timer_push(gw_timer *head, gw_timer *t)
{
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
}

static void wheel_cb(lws_sorted_usec_list_t *sul);

/* Keeps the one lws timer ticking while any wheel timer is armed. */
static void wheel_schedule(gateway *gw)
{
    if (gw->wheel_running || !gw->wheel_armed || gw->destroying)
        return;
    lws_usec_t now = mono_us(), next = (lws_usec_t)(gw->wheel_tick + 1) * tick_us;
    gw->wheel_running = 1;
    lws_sul_schedule(gw->ctx, 0, &gw->wheel_sul, wheel_cb, next > now ? next - now : 1);
}

static void wheel_cb(lws_sorted_usec_list_t *sul)
{
    gateway *gw = lws_container_of(sul, gateway, wheel_sul);
    uint64_t now = now_tick();
    gw_timer due = {.prev = &due, .next = &due};

    gw->wheel_running = 0;
    if (now - gw->wheel_tick > GW_WHEEL_SLOTS)
        gw->wheel_tick = now - GW_WHEEL_SLOTS; /* stalled: each bucket once */
    while (gw->wheel_tick < now) {
        gw->wheel_tick++;
        gw_timer *b = &gw->wheel[gw->wheel_tick % GW_WHEEL_SLOTS], *t, *nx;
        for (t = b->next; t != b; t = nx) {
            nx = t->next;
            if (t->due <= gw->wheel_tick) {
                timer_unlink(t);
                timer_push(&due, t);
            }
        }
    }
    /* A callback may cancel or re-arm any timer, including others on the
     * due list: take them one at a time from its head. */
    while (due.next != &due) {
        gw_timer *t = due.next;
        timer_unlink(t);
        gw->wheel_armed--;
        t->cb(t);
    }
    wheel_schedule(gw);
}

void gw_wheel_stop(gateway *gw)
{
    lws_sul_cancel(&gw->wheel_sul);
    gw->wheel_running = 0;
}

void gw_timer_cancel(gateway *gw, gw_timer *t)
{
    if (!t->next)
        return;
    timer_unlink(t);
    gw->wheel_armed--;
}

void gw_timer_arm(gateway *gw, gw_timer *t, void (*cb)(gw_timer *t), int ms)
{
    gw_timer_cancel(gw, t);
    if (!gw->wheel_armed && !gw->wheel_running)
        gw->wheel_tick = now_tick(); /* idle wheel: nothing to catch up on */
    lws_usec_t at = mono_us() + (lws_usec_t)(ms > 0 ? ms : 0) * LWS_US_PER_MS;
    uint64_t due = (uint64_t)((at + tick_us - 1) / tick_us);
    if (due <= gw->wheel_tick)
        due = gw->wheel_tick + 1;
    t->due = due;
    t->cb = cb;
    timer_push(&gw->wheel[due % GW_WHEEL_SLOTS], t);
    gw->wheel_armed++;
    wheel_schedule(gw);
}

/* ---- lifetime ---- */

static void hb_cb(gw_timer *t);
static void connect_cb(gw_timer *t);

session *session_new(gateway *gw, enum gw_transport tr, const char *bearer)
{
    const rc_config *cfg = gw->cfg;
    session *s = calloc(1, sizeof *s);
    frame *open = NULL;
    if (!s)
        return NULL;
    s->gw = gw;
    s->transport = tr;
    s->state = SESSION_OPEN;
    s->sock.sess = s;
    frame_queue_init(&s->q, cfg->queue_max > 0 ? (size_t)cfg->queue_max : 1);
    if (gw_random_id(s->sid) < 0)
        goto fail;
    if (bearer && !(s->bearer = strdup(bearer)))
        goto fail;

    rc_buf_reset(&gw->scratch);
    if (eio_encode_open(&gw->scratch, s->sid, tr == GW_TR_POLLING,
                        cfg->ping_interval_ms, cfg->ping_timeout_ms,
                        cfg->max_payload) < 0 ||
        !(open = frame_new(gw->scratch.p, gw->scratch.len)) ||
        frame_queue_push(&s->q, open) < 0)
        goto fail;
    frame_unref(open);
    open = NULL;
    if (hmap_put(&gw->sessions, s->sid, s) != 1)
        goto fail; /* out of memory, or a 90-bit collision */
    s->listed = 1;

    s->next = gw->all;
    if (gw->all)
        gw->all->prev = s;
    gw->all = s;
    gw->nsessions++;
    gw->nopen++;
    rc_metric_inc(RC_M_CONNECTIONS);
    rc_metric_inc(RC_M_HANDSHAKES);

    gw_timer_arm(gw, &s->hb, hb_cb, cfg->ping_interval_ms);
    gw_timer_arm(gw, &s->connect, connect_cb, cfg->connect_timeout_ms);
    LOG_DEBUG(FAC, "sid %s: opened (%s)", s->sid,
              tr == GW_TR_POLLING ? "polling" : "websocket");
    return s;

fail:
    frame_unref(open);
    frame_queue_clear(&s->q);
    free(s->bearer);
    free(s);
    return NULL;
}

session *session_find(gateway *gw, const char *sid)
{
    hmap_slot *slot = hmap_find(&gw->sessions, sid);
    return slot ? slot->val : NULL;
}

/* Leaves every room and forgets the identity; no-op when not connected. */
static void socket_disconnect(session *s)
{
    gateway *gw = s->gw;
    if (!s->sock.ident)
        return;
    rooms_leave_all(gw->rooms, &s->sock);
    auth_identity_free(s->sock.ident);
    s->sock.ident = NULL;
    gw->nsockets--;
    rc_metric_add(RC_M_SOCKETS, -1);
}

static void unlist(session *s)
{
    if (s->listed) {
        hmap_del(&s->gw->sessions, s->sid, NULL);
        s->listed = 0;
    }
}

void session_free(session *s)
{
    gateway *gw = s->gw;
    if (s->state == SESSION_OPEN) {
        gw->nopen--;
        rc_metric_add(RC_M_CONNECTIONS, -1);
    }
    unlist(s);
    socket_disconnect(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->all = s->next;
    if (s->next)
        s->next->prev = s->prev;
    gw->nsessions--;
    gw_timer_cancel(gw, &s->hb);
    gw_timer_cancel(gw, &s->connect);
    frame_queue_clear(&s->q);
    free(s->bearer);
    free(s);
}

static void free_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, hb);
    gateway *gw = s->gw;
    LOG_DEBUG(FAC, "sid %s: freed", s->sid);
    session_free(s);
    if (gw->stopping && gw->nsessions == 0 && gw->http_pending == 0)
        gw->done = 1;
}

/* Once closed and detached from every transport, the session is freed on
 * the next tick, or after linger_ms (the heartbeat timer is reused: it is
 * idle once the session is closed). */
static void session_schedule_free(session *s, int linger_ms)
{
    if (s->state != SESSION_CLOSING || s->ws || s->poll || s->probe ||
        s->gw->destroying)
        return;
    if (!linger_ms)
        unlist(s);
    gw_timer_arm(s->gw, &s->hb, free_cb, linger_ms);
}

void session_close(session *s, const char *reason, int code, int flush)
{
    gateway *gw = s->gw;
    if (s->state != SESSION_OPEN)
        return;
    s->state = SESSION_CLOSING;
    s->close_code = code;
    s->flush_on_close = flush;
    LOG_DEBUG(FAC, "sid %s: closing: %s", s->sid, reason);
    socket_disconnect(s);
    gw->nopen--;
    rc_metric_add(RC_M_CONNECTIONS, -1);
    if (gw->destroying)
        return;
    gw_timer_cancel(gw, &s->hb);
    gw_timer_cancel(gw, &s->connect);
    if (!flush)
        frame_queue_clear(&s->q);
    /* The transports notice CLOSING in their next writable callback; a
     * peer that never lets us write is cut after a grace period. */
    if (s->ws) {
        lws_callback_on_writable(s->ws);
        lws_set_timeout(s->ws, PENDING_TIMEOUT_USER_OK, 3);
    }
    if (s->probe) {
        lws_callback_on_writable(s->probe);
        lws_set_timeout(s->probe, PENDING_TIMEOUT_USER_OK, 3);
    }
    if (s->poll)
        lws_callback_on_writable(s->poll);
    /* A polling client between two GETs gets its last frames (the close
     * packet on shutdown) from the next one. */
    int linger = flush && s->transport == GW_TR_POLLING && frame_queue_len(&s->q);
    if (!linger)
        unlist(s);
    session_schedule_free(s, linger ? gw->cfg->ping_timeout_ms : 0);
}

void session_release(session *s, struct lws *wsi)
{
    if (!wsi) {
        /* nothing to detach: the last poll of a closed session was answered */
    } else if (wsi == s->ws) {
        s->ws = NULL;
        if (s->state == SESSION_OPEN && s->transport == GW_TR_WEBSOCKET)
            session_close(s, "transport closed", LWS_CLOSE_STATUS_NORMAL, 0);
    } else if (wsi == s->probe) {
        s->probe = NULL;
        s->probe_pong_due = 0;
    } else if (wsi == s->poll) {
        s->poll = NULL;
        s->poll_noop = 0;
    }
    session_schedule_free(s, 0);
}

/* ---- sending ---- */

void session_kick(session *s)
{
    if (s->gw->destroying)
        return;
    if (!frame_queue_len(&s->q) && s->state == SESSION_OPEN && !s->poll_noop)
        return;
    if (s->transport == GW_TR_WEBSOCKET) {
        if (s->ws)
            lws_callback_on_writable(s->ws);
        if (s->poll) /* a poll left over from before the upgrade */
            lws_callback_on_writable(s->poll);
    } else if (s->poll) {
        lws_callback_on_writable(s->poll);
    }
}

static void session_overflow(session *s)
{
    gateway *gw = s->gw;
    if (s->overflowed)
        return;
    s->overflowed = 1;
    rc_metric_inc(RC_M_SLOW_DISCONNECTS);
    LOG_WARN(FAC, "sid %s: %zu frames queued, disconnecting a slow client",
             s->sid, frame_queue_len(&s->q));
    if (!gw->in_broadcast) {
        session_close(s, "queue full", LWS_CLOSE_STATUS_POLICY_VIOLATION, 0);
        return;
    }
    if (gw->ndoomed == gw->doomed_cap) {
        size_t cap = gw->doomed_cap ? gw->doomed_cap * 2 : 16;
        session **d = realloc(gw->doomed, cap * sizeof *d);
        if (!d) {
            /* Cannot defer: let lws cut the transport; its close callback
             * closes the session outside the broadcast. */
            frame_queue_clear(&s->q);
            if (s->ws)
                lws_set_timeout(s->ws, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return;
        }
        gw->doomed = d;
        gw->doomed_cap = cap;
    }
    gw->doomed[gw->ndoomed++] = s;
}

void session_reap_doomed(gateway *gw)
{
    for (size_t i = 0; i < gw->ndoomed; i++)
        session_close(gw->doomed[i], "queue full",
                      LWS_CLOSE_STATUS_POLICY_VIOLATION, 0);
    gw->ndoomed = 0;
}

int session_send(session *s, frame *f)
{
    if (s->state != SESSION_OPEN || s->overflowed)
        return -1;
    int rc = frame_queue_push(&s->q, f);
    if (rc < 0) {
        if (rc == FRAME_QUEUE_NOMEM)
            LOG_ERROR(FAC, "sid %s: out of memory queueing a frame", s->sid);
        session_overflow(s);
        return -1;
    }
    /* A queue that was already non-empty has a writable callback pending
     * (or no transport to write to yet): only the first frame wakes it. */
    if (frame_queue_len(&s->q) == 1)
        session_kick(s);
    return 0;
}

int session_send_text(session *s, const char *text, size_t len)
{
    frame *f = frame_new(text, len);
    if (!f) {
        LOG_ERROR(FAC, "sid %s: out of memory building a frame", s->sid);
        session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        return -1;
    }
    int rc = session_send(s, f);
    frame_unref(f);
    return rc;
}

/* ---- timers ---- */

static void hb_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, hb);
    gateway *gw = s->gw;
    if (s->state != SESSION_OPEN)
        return;
    if (s->awaiting_pong) {
        session_close(s, "ping timeout", LWS_CLOSE_STATUS_NORMAL, 0);
        return;
    }
    s->awaiting_pong = 1;
    gw_timer_arm(gw, &s->hb, hb_cb, gw->cfg->ping_timeout_ms);
    session_send(s, gw->f_ping);
}

static void connect_cb(gw_timer *t)
{
    session *s = lws_container_of(t, session, connect);
    if (s->state == SESSION_OPEN && !s->sock.ident)
        session_close(s, "no Socket.IO CONNECT in time", LWS_CLOSE_STATUS_NORMAL, 0);
}

/* ---- Socket.IO ---- */

/* Counts a client error and closes the session (malformed input). */
static int client_fault(session *s, const char *what, int code)
{
    rc_metric_inc(RC_M_CLIENT_ERRORS);
    LOG_INFO(FAC, "sid %s: closing: %s", s->sid, what);
    session_close(s, what, code, 0);
    return -1;
}

static int room_name(rc_buf *b, const char *prefix, const char *id)
{
    rc_buf_reset(b);
    return rc_buf_puts(b, prefix) < 0 || rc_buf_puts(b, id) < 0 ? -1 : 0;
}

static int identity_claims_program(const auth_identity *id, const char *program)
{
    for (size_t i = 0; id && i < id->nprograms; i++)
        if (strcmp(id->programs[i], program) == 0)
            return 1;
    return 0;
}

struct join_ctx {
    gw_socket *sock;
    rc_buf name;
    int failed;
};

static void join_program_cb(const char *program, void *ud)
{
    struct join_ctx *j = ud;
    gateway *gw = j->sock->sess->gw;
    if (room_name(&j->name, "program:", program) < 0 ||
        rooms_join(gw->rooms, j->name.p, j->sock) < 0)
        j->failed = 1;
}

/* Sends 4 + the Socket.IO packet in gw->scratch. */
static int send_scratch(session *s)
{
    return session_send_text(s, s->gw->scratch.p, s->gw->scratch.len);
}

static int connect_refused(session *s, int code, const char *reason)
{
    gateway *gw = s->gw;
    rc_metric_inc(RC_M_AUTH_FAILURES);
    LOG_INFO(FAC, "sid %s: CONNECT refused: %s (%s)", s->sid,
             auth_code_name(code), reason ? reason : "no detail");
    rc_buf *b = &gw->scratch;
    rc_buf_reset(b);
    if (rc_buf_printf(b, "44{\"message\":\"Authentication error\","
                         "\"data\":{\"code\":\"%s\"}}",
                      auth_code_name(code)) < 0)
        return -1;
    return send_scratch(s);
}

static int on_connect(session *s, json_t *args)
{
    gateway *gw = s->gw;
    const char *token = NULL;
    size_t len = 0;
    int bad_token = 0;

    if (s->sock.ident) {
        /* Already connected on "/": confirm again, nothing changes. */
        rc_buf_reset(&gw->scratch);
        if (rc_buf_printf(&gw->scratch, "40{\"sid\":\"%s\"}", s->sock.id) < 0)
            return -1;
        return send_scratch(s);
    }
    json_t *t = args ? json_object_get(args, "token") : NULL;
    if (t && json_is_string(t)) {
        token = json_string_value(t);
        len = json_string_length(t);
    } else if (t && !json_is_null(t)) {
        bad_token = 1;
    } else if (s->bearer) {
        token = s->bearer;
        len = strlen(token);
    }

    auth_identity *id = NULL;
    const char *reason = NULL;
    int code = bad_token ? AUTH_TOKEN_INVALID
                         : auth_verify(gw->auth, token, len, (int64_t)time(NULL), &id, &reason);
    if (bad_token)
        reason = "token is not a string";
    if (code != AUTH_OK)
        return connect_refused(s, code, reason);

    if (gw_random_id(s->sock.id) < 0) {
        auth_identity_free(id);
        session_close(s, "RNG failure", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        return -1;
    }
    s->sock.ident = id;
    gw->nsockets++;
    rc_metric_inc(RC_M_SOCKETS);

    struct join_ctx j = {.sock = &s->sock};
    if (room_name(&j.name, "user:", id->sub) < 0 ||
        rooms_join(gw->rooms, j.name.p, &s->sock) < 0)
        j.failed = 1;
    for (size_t i = 0; i < id->nprograms && !j.failed; i++)
        join_program_cb(id->programs[i], &j);
    if (!j.failed)
        membership_foreach_program(gw->members, id->sub, join_program_cb, &j);
    rc_buf_free(&j.name);
    if (j.failed) {
        LOG_ERROR(FAC, "sid %s: out of memory joining rooms", s->sid);
        session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        return -1;
    }
    gw_timer_cancel(gw, &s->connect);
    LOG_DEBUG(FAC, "sid %s: socket %s connected", s->sid, s->sock.id);

    rc_buf_reset(&gw->scratch);
    if (rc_buf_printf(&gw->scratch, "40{\"sid\":\"%s\"}", s->sock.id) < 0)
        return -1;
    return send_scratch(s);
}

/* Acknowledges an event: 43<id>[{"ok":true}]. Nothing without an ack id. */
static int reply_ok(session *s, long long ack)
{
    if (ack < 0)
        return 0;
    rc_buf_reset(&s->gw->scratch);
    if (rc_buf_printf(&s->gw->scratch, "43%lld[{\"ok\":true}]", ack) < 0)
        return -1;
    return send_scratch(s);
}

/*
 * Refuses an event: as its ack when it has an ack id, else as an "error"
 * event; both carry {"ok":false,"error":{"code":..,"message":..}} (message
 * omitted when NULL).
 */
static int reply_error(session *s, long long ack, const char *code, const char *message)
{
    rc_buf *b = &s->gw->scratch;
    rc_metric_inc(RC_M_CLIENT_ERRORS);
    rc_buf_reset(b);
    int rc = ack >= 0 ? rc_buf_printf(b, "43%lld[", ack) : rc_buf_puts(b, "42[\"error\",");
    if (rc < 0 || rc_buf_printf(b, "{\"ok\":false,\"error\":{\"code\":\"%s\"", code) < 0)
        return -1;
    if (message && (rc_buf_puts(b, ",\"message\":") < 0 ||
                    rc_buf_json_string(b, message, strlen(message)) < 0))
        return -1;
    if (rc_buf_puts(b, "}}]") < 0)
        return -1;
    return send_scratch(s);
}

/*
 * The program id argument of join:program / leave:program: a string, an
 * integer, or an object {"programId": string|integer}. Returns the id in buf
 * or NULL when absent or malformed.
 */
static const char *program_arg(json_t *a, char *buf, size_t cap)
{
    if (json_is_object(a))
        a = json_object_get(a, "programId");
    if (json_is_string(a)) {
        size_t n = json_string_length(a);
        const char *v = json_string_value(a);
        if (n == 0 || n >= cap || memchr(v, '\0', n))
            return NULL;
        memcpy(buf, v, n + 1);
        return buf;
    }
    if (json_is_integer(a)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(a));
        return buf;
    }
    return NULL;
}

static int on_event(session *s, const sio_packet *pkt, json_t *args)
{
    gateway *gw = s->gw;
    const char *name = json_string_value(json_array_get(args, 0));
    int join = name && strcmp(name, "join:program") == 0;
    int leave = name && strcmp(name, "leave:program") == 0;
    if (!join && !leave)
        return reply_error(s, pkt->id, "INVALID_ARGUMENT", "unknown event");

    char pid[GW_MAX_PROGRAM_ID + 1];
    if (!program_arg(json_array_get(args, 1), pid, sizeof pid))
        return reply_error(s, pkt->id, "INVALID_ARGUMENT", NULL);
    const char *sub = s->sock.ident->sub;
    if (join && !membership_has(gw->members, sub, pid) &&
        !identity_claims_program(s->sock.ident, pid))
        return reply_error(s, pkt->id, "FORBIDDEN", NULL);

    rc_buf room = {0};
    int rc = room_name(&room, "program:", pid);
    if (rc == 0)
        rc = join ? rooms_join(gw->rooms, room.p, &s->sock)
                  : rooms_leave(gw->rooms, room.p, &s->sock);
    rc_buf_free(&room);
    if (rc < 0) {
        LOG_ERROR(FAC, "sid %s: out of memory joining a room", s->sid);
        session_close(s, "out of memory", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, 0);
        return -1;
    }
    return reply_ok(s, pkt->id);
}

static int on_invalid_namespace(session *s, rc_slice nsp)
{
    if (nsp.len > GW_MAX_NSP_ECHO)
        return 0;
    rc_buf *b = &s->gw->scratch;
    rc_buf_reset(b);
    if (rc_buf_puts(b, "44") < 0 || rc_buf_append(b, nsp.p, nsp.len) < 0 ||
        rc_buf_puts(b, ",{\"message\":\"Invalid namespace\"}") < 0)
        return -1;
    return send_scratch(s);
}

static int on_message(session *s, const char *p, size_t len)
{
    sio_packet pkt;
    json_t *args = NULL;
    int rc = sio_parse_packet(p, len, &pkt, &args);
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "malformed Socket.IO packet: %s", sio_strerror(rc));
        return client_fault(s, what, LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }
    if (!rc_slice_eq(pkt.nsp, "/")) {
        /* Only "/" is served; packets for other namespaces are ignored. */
        if (pkt.type == SIO_CONNECT)
            rc = on_invalid_namespace(s, pkt.nsp);
        json_decref(args);
        return rc < 0 ? -1 : 0;
    }
    switch (pkt.type) {
    case SIO_CONNECT:
        rc = on_connect(s, args);
        break;
    case SIO_DISCONNECT:
        if (s->sock.ident)
            LOG_DEBUG(FAC, "sid %s: socket %s disconnected by the client", s->sid, s->sock.id);
        socket_disconnect(s);
        rc = 0;
        break;
    case SIO_EVENT:
        /* Events before a successful CONNECT are ignored, as the reference
         * server does for namespaces a client has not joined. */
        rc = s->sock.ident ? on_event(s, &pkt, args) : 0;
        break;
    case SIO_ACK:
        rc = 0; /* the server never asks for acks */
        break;
    default:
        rc = client_fault(s, "unexpected Socket.IO packet type", LWS_CLOSE_STATUS_PROTOCOL_ERR);
        break;
    }
    json_decref(args);
    return rc < 0 ? -1 : 0;
}

/* ---- Engine.IO ---- */

static void upgrade(session *s)
{
    s->transport = GW_TR_WEBSOCKET;
    s->ws = s->probe;
    s->probe = NULL;
    s->probe_pong_due = 0;
    if (s->poll) {
        s->poll_noop = 1; /* release the old transport's pending GET */
        lws_callback_on_writable(s->poll);
    }
    LOG_DEBUG(FAC, "sid %s: upgraded to websocket", s->sid);
    if (frame_queue_len(&s->q))
        lws_callback_on_writable(s->ws);
}

int session_on_packet(session *s, struct lws *wsi, const eio_packet *pkt)
{
    gateway *gw = s->gw;
    int probing = wsi && wsi == s->probe;
    if (s->state != SESSION_OPEN)
        return -1;

    if (probing) {
        /* A probing WebSocket may only say "2probe" and then "5". */
        if (pkt->type == EIO_PING && rc_slice_eq(pkt->data, "probe")) {
            s->probe_pong_due = 1;
            lws_callback_on_writable(wsi);
            if (s->poll) {
                s->poll_noop = 1;
                lws_callback_on_writable(s->poll);
            }
            return 0;
        }
        if (pkt->type == EIO_UPGRADE) {
            upgrade(s);
            return 0;
        }
        if (pkt->type == EIO_NOOP)
            return 0;
        return client_fault(s, "unexpected packet during upgrade", LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }

    switch (pkt->type) {
    case EIO_PONG:
        if (s->awaiting_pong) {
            s->awaiting_pong = 0;
            gw_timer_arm(gw, &s->hb, hb_cb, gw->cfg->ping_interval_ms);
        }
        return 0;
    case EIO_PING:
        /* Clients of protocol v4 do not ping, but answering is harmless. */
        if (pkt->data.len)
            return session_send(s, gw->f_pong_probe) < 0 ? -1 : 0;
        return session_send_text(s, "3", 1) < 0 ? -1 : 0;
    case EIO_MESSAGE:
        if (pkt->binary)
            return client_fault(s, "binary message (no binary events are served)",
                                LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
        return on_message(s, pkt->data.p, pkt->data.len);
    case EIO_CLOSE:
        session_close(s, "closed by the client", LWS_CLOSE_STATUS_NORMAL, 0);
        return -1;
    case EIO_NOOP:
        return 0;
    default:
        return client_fault(s, "unexpected Engine.IO packet type", LWS_CLOSE_STATUS_PROTOCOL_ERR);
    }
}

/* ---- membership side effects ---- */

struct collect_ctx {
    gateway *gw;
    int failed;
};

static void collect_cb(void *member, void *ud)
{
    struct collect_ctx *c = ud;
    gateway *gw = c->gw;
    if (gw->nvec == gw->vec_cap) {
        size_t cap = gw->vec_cap ? gw->vec_cap * 2 : 16;
        gw_socket **v = realloc(gw->vec, cap * sizeof *v);
        if (!v) {
            c->failed = 1;
            return;
        }
        gw->vec = v;
        gw->vec_cap = cap;
    }
    gw->vec[gw->nvec++] = member;
}

void session_apply_member_op(gateway *gw, const rc_event *ev)
{
    const char *user = ev->member_user, *program = ev->member_program;
    if (!user || !program)
        return;
    int add = ev->member_op == RC_MEMBER_ADD;
    if (add ? membership_add(gw->members, user, program) < 0
            : (membership_remove(gw->members, user, program), 0)) {
        LOG_ERROR(FAC, "out of memory recording a membership");
        return;
    }

    rc_buf room = {0};
    struct collect_ctx c = {.gw = gw};
    gw->nvec = 0;
    if (room_name(&room, "user:", user) == 0)
        rooms_foreach_member(gw->rooms, room.p, collect_cb, &c);
    if (c.failed || room_name(&room, "program:", program) < 0) {
        LOG_ERROR(FAC, "out of memory applying a membership to live sockets");
        rc_buf_free(&room);
        return;
    }
    for (size_t i = 0; i < gw->nvec; i++) {
        gw_socket *sk = gw->vec[i];
        if (add) {
            if (rooms_join(gw->rooms, room.p, sk) < 0)
                LOG_ERROR(FAC, "sid %s: out of memory joining a room", sk->sess->sid);
        } else if (!identity_claims_program(sk->ident, program)) {
            rooms_leave(gw->rooms, room.p, sk);
        }
    }
    gw->nvec = 0;
    rc_buf_free(&room);
}
