/*
 * recovery.c - the CONNECT of roomcast's sockets after the token check:
 * Socket.IO connection state recovery, the explicit catch-up of older
 * clients, and the sessions kept in the history store for both.
 *
 * Implementation notes.
 *
 * Sessions. Every accepted socket (when a history is set and the window is
 * positive) gets a pid: 16 random bytes in hex, sent in the CONNECT reply
 * and never logged. Its session {sid, pid, sub, nsp, rooms, base} is
 * encoded (into a scratch buffer: nothing is kept per socket) and stored
 * with rc_history_session_put: at accept, whenever its rooms change, every
 * refresh interval while it is connected (so that it survives a node
 * killed with -9; only in a durable store, Redis: the memory store dies
 * with the node anyway), and when it goes away recoverably, while still in
 * its rooms (rc_recovery_disconnecting): gw_socket_lost (transport closed
 * or lost, ping timeout, full queue, shutdown), or a server-side
 * disconnect the client is expected back from (rc_recovery_keep_session).
 * Live puts use a TTL of window + 2 x the refresh interval, so a session outlives its node's death by at least the
 * window; the put at disconnect uses the window. A socket that leaves for
 * good (its DISCONNECT, a server-side kick) has its session deleted (a take
 * whose blob is dropped). `base` is the offset of the last event this node
 * had broadcast when the socket joined its rooms: the replay point of a
 * client that never received an event with an offset.
 *
 * Recovery, all or nothing. CONNECT {pid, offset}: take the session
 * (async), check it (same user, same namespace), rejoin its rooms (each
 * program room only if the user may still be in it), hold the socket's
 * broadcasts (gw_hold_start) and replay the rooms after the offset
 * (async). On RC_REPLAY_OK, and only if the replay fits in the socket's
 * queue and no membership event of the user is among the missed ones or
 * came meanwhile (the rooms could not be exact), the socket is accepted
 * with its old id and pid, the missed events are sent in offset order, and
 * the held broadcasts follow, except those the replay covered (floor = the
 * last replayed offset). Anything else gives a new socket (new id and pid,
 * the rooms of a new connection, nothing replayed): the client sees
 * recovered === false and refetches. A session taken for a socket that went
 * away meanwhile (recoverably) is stored again.
 *
 * Requests. One heap request per asynchronous step chain, owned by the
 * loop: the history's worker only writes its result fields and posts it
 * back with gw_post(); the client points at its request and the request at
 * its client, and a client that goes away clears the back pointer, so a
 * late answer finds no client and only cleans up.
 *
 * Refresh. Accepted clients are on a list in the order of their last put;
 * each tick refreshes at most REC_REFRESH_PER_TICK from its head, so a node
 * with many sockets spreads the puts over time and never floods the
 * history's job queue (a refused put is retried on the next tick).
 */
#include "gateway/roomcast/recovery.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hmap.h"
#include "core/iso8601.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/rand.h"

#define FAC "recovery"

/* pid: 16 random bytes in hex. */
#define REC_PID_BYTES 16
#define REC_PID_LEN (2 * REC_PID_BYTES)
/* Rooms a stored session may list. */
#define REC_MAX_ROOMS 4096
/* Sessions refreshed per tick at most. */
#define REC_REFRESH_PER_TICK 256

enum rec_list { LIST_NONE, LIST_LIVE, LIST_RECOVERING };

enum catchup_kind { CATCHUP_NONE, CATCHUP_OFFSET, CATCHUP_TIME, CATCHUP_BAD };

typedef struct request request;
typedef struct client client;

/* Where an explicit catch-up starts (what the auth payload asked for). */
typedef union catch_from {
    char offset[RC_OFFSET_MAX]; /* CATCHUP_OFFSET */
    int64_t since;              /* CATCHUP_TIME: ms since 1970 */
} catch_from;

/* The application data of each socket: one per client, so ordered by size
 * and with its flags in bits. */
struct client {
    rc_recovery *rec;
    gw_socket *sk;             /* borrowed */
    rc_auth_identity *id;      /* owned */
    client *prev, *next;       /* on rec's list */
    request *req;              /* in flight, or NULL */
    catch_from *catch_from;    /* owned: CATCHUP_OFFSET and CATCHUP_TIME */
    int64_t saved_ms;          /* last put (monotonic) */
    char pid[REC_PID_LEN + 1]; /* "" when sessions are off */
    char base[RC_OFFSET_MAX];
    enum rec_list list : 4;
    enum catchup_kind catchup : 4; /* what the auth payload asked for */
    unsigned indexed : 1;          /* in rec->by_pid */
    unsigned superseded : 1;       /* another socket recovered its pid */
    unsigned keep : 1;             /* keep the session at the disconnect */
    unsigned member_changed : 1;   /* a membership event of the user came
                                      while recovering */
};

enum req_kind { REQ_TAKE, REQ_RECOVER, REQ_CATCHUP };

struct request {
    gw_task task;     /* first: the posted task is the request */
    gw_server *gw;    /* borrowed */
    rc_recovery *rec; /* borrowed */
    client *c;        /* NULL once the socket went away */
    int putback;      /* it went away recoverably: store the
                                     taken session again */
    enum req_kind kind;
    char pid[REC_PID_LEN + 1]; /* the session taken (REQ_TAKE, REQ_RECOVER) */
    char after[RC_OFFSET_MAX]; /* replay point ("" = use the session's) */
    json_t *session;           /* owned: the taken session, decoded */
    /* Written by the history's worker before the post. */
    void *blob; /* owned, malloc'ed by the history */
    size_t len;
    int status;
    rc_event **evs; /* owned array of owned references */
    size_t n;
    int64_t replay_us; /* when the replay was asked for (monotonic) */
};

struct rc_recovery {
    rc_recovery_hooks hooks;
    rc_history *h; /* borrowed, or NULL */
    int window_ms;
    int refresh_ms;
    int64_t live_ttl_ms;
    char last_offset[RC_OFFSET_MAX]; /* last offset broadcast by this node */
    client *live_head, *live_tail;   /* accepted, by last put */
    client *rec_head, *rec_tail;     /* recovering */
    hmap by_pid;                     /* pid -> accepted client */
    rc_buf buf;                      /* scratch */
};

/* ---- small helpers ---- */

static int sessions_on(const rc_recovery *rec)
{
    return rec->h && rec->window_ms > 0;
}

static const char *status_name(int status)
{
    switch (status) {
    case RC_REPLAY_OK:
        return "ok";
    case RC_REPLAY_GAP:
        return "events missed beyond the history window";
    case RC_REPLAY_EPOCH:
        return "offset of another history epoch";
    case RC_REPLAY_INVALID:
        return "invalid offset";
    default:
        return "history unavailable";
    }
}

static void list_add(rc_recovery *rec, client *c, enum rec_list which)
{
    client **head = which == LIST_LIVE ? &rec->live_head : &rec->rec_head;
    client **tail = which == LIST_LIVE ? &rec->live_tail : &rec->rec_tail;
    c->list = which;
    c->next = NULL;
    c->prev = *tail;
    if (*tail)
        (*tail)->next = c;
    else
        *head = c;
    *tail = c;
}

static void list_remove(rc_recovery *rec, client *c)
{
    if (c->list == LIST_NONE)
        return;
    client **head = c->list == LIST_LIVE ? &rec->live_head : &rec->rec_head;
    client **tail = c->list == LIST_LIVE ? &rec->live_tail : &rec->rec_tail;
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        *tail = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

/* A pid from a client: 1..REC_PID_LEN lower-case hex digits. */
static int pid_valid(const char *p, size_t n)
{
    if (n == 0 || n > REC_PID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

/* lastEventTimestamp: an ISO 8601 string, or milliseconds (a number, or a
 * string of digits). */
static int parse_timestamp(json_t *v, int64_t *ms)
{
    if (json_is_integer(v)) {
        *ms = (int64_t)json_integer_value(v);
        return *ms >= 0 ? 0 : -1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 9e15))
            return -1;
        *ms = (int64_t)d;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 40)
        return -1;
    size_t i = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++;
    if (i == n && n <= 15) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    return strlen(s) == n ? rc_iso8601_parse_ms(s, n, ms) : -1;
}

/* ---- sessions ---- */

struct room_enc {
    rc_buf *b;
    int first, failed;
};

static void encode_room(const char *room, void *ud)
{
    struct room_enc *e = ud;
    if (e->failed)
        return;
    if ((!e->first && rc_buf_puts(e->b, ",") < 0) ||
        rc_buf_json_string(e->b, room, strlen(room)) < 0)
        e->failed = 1;
    e->first = 0;
}

/* The socket's session as JSON into b (while it is in its rooms). */
static int encode_session(client *c, rc_buf *b)
{
    gw_socket *sk = c->sk;
    const char *sid = gw_socket_id(sk), *nsp = gw_socket_nsp(sk);
    rc_buf_reset(b);
    if (rc_buf_puts(b, "{\"v\":1,\"sid\":") < 0 || rc_buf_json_string(b, sid, strlen(sid)) < 0 ||
        rc_buf_puts(b, ",\"pid\":") < 0 || rc_buf_json_string(b, c->pid, strlen(c->pid)) < 0 ||
        rc_buf_puts(b, ",\"sub\":") < 0 ||
        rc_buf_json_string(b, c->id->sub, strlen(c->id->sub)) < 0 ||
        rc_buf_puts(b, ",\"nsp\":") < 0 || rc_buf_json_string(b, nsp, strlen(nsp)) < 0 ||
        rc_buf_puts(b, ",\"base\":") < 0 || rc_buf_json_string(b, c->base, strlen(c->base)) < 0 ||
        rc_buf_puts(b, ",\"rooms\":[") < 0)
        return -1;
    struct room_enc e = {.b = b, .first = 1};
    gw_socket_foreach_room(sk, encode_room, &e);
    if (e.failed || rc_buf_puts(b, "]}") < 0)
        return -1;
    return 0;
}

/* Encodes and stores the socket's session for ttl_ms; moves the client to
 * the end of the refresh order. Returns 0 or -1 (not stored). */
static int put_session(rc_recovery *rec, client *c, int64_t ttl_ms)
{
    if (!sessions_on(rec) || !c->pid[0])
        return 0;
    if (encode_session(c, &rec->buf) < 0) {
        LOG_ERROR(FAC, "sid %s: out of memory encoding a session", gw_socket_sid(c->sk));
        return -1;
    }
    if (rc_history_session_put(rec->h, c->pid, rec->buf.p, rec->buf.len, ttl_ms) < 0) {
        LOG_WARN(FAC, "sid %s: socket %s: session not stored (history queue full)",
                 gw_socket_sid(c->sk), gw_socket_id(c->sk));
        return -1;
    }
    c->saved_ms = rc_clock_mono_ms();
    if (c->list == LIST_LIVE) {
        list_remove(rec, c);
        list_add(rec, c, LIST_LIVE);
    }
    return 0;
}

/* A live put (at accept, on a room change). A store that dies with this
 * process cannot help a client after this node's death: it is given the
 * session only when the socket is lost (rc_recovery_disconnecting). */
static void save_now(rc_recovery *rec, client *c)
{
    if (rc_history_durable(rec->h))
        put_session(rec, c, rec->live_ttl_ms);
}

static void discard_done(void *ud, void *blob, size_t len)
{
    (void)ud;
    (void)len;
    free(blob);
}

/* The taken session, checked: an object of this format whose pid, user and
 * namespace are the expected ones. NULL when not. */
static json_t *decode_session(const void *blob, size_t len, const char *pid, const char *sub,
                              const char *nsp)
{
    json_t *doc = json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *sid = json_object_get(doc, "sid"), *rooms = json_object_get(doc, "rooms");
    json_t *base = json_object_get(doc, "base");
    const char *p = json_string_value(json_object_get(doc, "pid"));
    const char *u = json_string_value(json_object_get(doc, "sub"));
    const char *n = json_string_value(json_object_get(doc, "nsp"));
    int ok = json_is_object(doc) && json_integer_value(json_object_get(doc, "v")) == 1 &&
             json_is_string(sid) && json_string_length(sid) > 0 && json_is_string(base) &&
             json_string_length(base) < RC_OFFSET_MAX && p && strcmp(p, pid) == 0 && u &&
             strcmp(u, sub) == 0 && n && strcmp(n, nsp) == 0 && json_is_array(rooms) &&
             json_array_size(rooms) <= REC_MAX_ROOMS;
    for (size_t i = 0; ok && i < json_array_size(rooms); i++)
        ok = json_is_string(json_array_get(rooms, i));
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- requests ---- */

static void request_free(request *r)
{
    for (size_t i = 0; i < r->n; i++)
        rc_event_unref(r->evs[i]);
    free(r->evs);
    free(r->blob);
    json_decref(r->session);
    free(r);
}

static void request_run(gw_task *t, gw_server *gw);

static request *request_new(client *c, enum req_kind kind)
{
    request *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->task.run = request_run;
    r->gw = gw_socket_server(c->sk);
    r->rec = c->rec;
    r->c = c;
    r->kind = kind;
    c->req = r;
    return r;
}

/* Drops the results of a step before the next one. */
static void request_reset_results(request *r)
{
    for (size_t i = 0; i < r->n; i++)
        rc_event_unref(r->evs[i]);
    free(r->evs);
    r->evs = NULL;
    r->n = 0;
    r->status = RC_REPLAY_UNAVAILABLE;
}

/* History worker threads: store the result, hand the request to the loop. */
static void take_done(void *ud, void *blob, size_t len)
{
    request *r = ud;
    r->blob = blob;
    r->len = len;
    gw_post(r->gw, &r->task);
}

static void replay_done(void *ud, int status, rc_event **evs, size_t n)
{
    request *r = ud;
    r->status = status;
    r->evs = evs;
    r->n = n;
    gw_post(r->gw, &r->task);
}

/* ---- rooms ---- */

struct room_vec {
    char **v; /* owned copies */
    size_t n, cap;
    int failed;
};

static void room_vec_add(const char *room, void *ud)
{
    struct room_vec *rv = ud;
    if (rv->failed)
        return;
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 8;
        char **v = realloc(rv->v, cap * sizeof *v);
        if (!v) {
            rv->failed = 1;
            return;
        }
        rv->v = v;
        rv->cap = cap;
    }
    if (!(rv->v[rv->n] = strdup(room)))
        rv->failed = 1;
    else
        rv->n++;
}

static void room_vec_free(struct room_vec *rv)
{
    for (size_t i = 0; i < rv->n; i++)
        free(rv->v[i]);
    free(rv->v);
    rv->v = NULL;
    rv->n = rv->cap = 0;
}

/* The socket's rooms, copied. -1 when out of memory. */
static int socket_rooms(gw_socket *sk, struct room_vec *rv)
{
    gw_socket_foreach_room(sk, room_vec_add, rv);
    if (rv->failed) {
        room_vec_free(rv);
        return -1;
    }
    return 0;
}

static void leave_all(gw_socket *sk)
{
    struct room_vec rv = {0};
    socket_rooms(sk, &rv);
    for (size_t i = 0; i < rv.n; i++)
        gw_socket_leave(sk, rv.v[i]);
    room_vec_free(&rv);
}

/* ---- accepting ---- */

static void client_free(client *c)
{
    rc_auth_identity_free(c->id);
    free(c->catch_from);
    free(c);
}

/* Sends CONNECT with the pid (when sessions are on). */
static int accept_socket(client *c)
{
    char extra[REC_PID_LEN + 16];
    if (c->pid[0])
        snprintf(extra, sizeof extra, "\"pid\":\"%s\"", c->pid);
    else
        extra[0] = '\0';
    return gw_socket_accept(c->sk, extra);
}

/* An accepted client: findable by pid, refreshed, its session stored. */
static void go_live(rc_recovery *rec, client *c)
{
    list_remove(rec, c);
    list_add(rec, c, LIST_LIVE);
    if (c->pid[0] && hmap_put(&rec->by_pid, c->pid, c) == 1)
        c->indexed = 1;
    save_now(rec, c);
}

static void emit_complete(client *c, size_t replayed, int truncated)
{
    char args[96];
    int n = snprintf(args, sizeof args, "{\"replayed\":%zu,\"truncated\":%s}", replayed,
                     truncated ? "true" : "false");
    gw_socket_emit(c->sk, "catchup:complete", args, (size_t)n, NULL, 0);
}

static void start_catchup(rc_recovery *rec, client *c);

/*
 * Accepts the socket as a new connection: new pid, the rooms of a new
 * connection, nothing replayed by recovery (an explicit catch-up follows if
 * asked for). why is logged when a recovery was attempted.
 */
static void accept_new(rc_recovery *rec, client *c, const char *why)
{
    gw_socket *sk = c->sk;
    if (why) {
        rc_counter_inc(&rc_metrics.recoveries[RC_M_NOT_RECOVERED]);
        LOG_INFO(FAC, "sid %s: connection state not recovered (%s): new socket %s",
                 gw_socket_sid(sk), why, gw_socket_id(sk));
    }
    leave_all(sk);
    gw_hold_release(sk, NULL, 0);
    list_remove(rec, c);
    c->pid[0] = '\0';
    if (sessions_on(rec) && rc_random_hex(c->pid, REC_PID_BYTES) < 0)
        c->pid[0] = '\0';
    if (rec->hooks.join_rooms(rec->hooks.ud, sk, c->id) < 0) {
        LOG_ERROR(FAC, "sid %s: cannot join the rooms of the token", gw_socket_sid(sk));
        gw_socket_set_data(sk, NULL);
        client_free(c);
        gw_socket_reject(sk, "{\"message\":\"Internal error\"}");
        return;
    }
    snprintf(c->base, sizeof c->base, "%s", rec->last_offset);
    if (accept_socket(c) < 0)
        return; /* the session is closing: on_disconnect follows */
    go_live(rec, c);
    if (c->catchup != CATCHUP_NONE)
        start_catchup(rec, c);
}

/* ---- explicit catch-up ---- */

static void start_catchup(rc_recovery *rec, client *c)
{
    gw_socket *sk = c->sk;
    struct room_vec rv = {0};
    request *r = NULL;
    int queued = -1;

    if (!rec->h || c->catchup == CATCHUP_BAD || socket_rooms(sk, &rv) < 0 ||
        gw_hold_start(sk) < 0 || !(r = request_new(c, REQ_CATCHUP)))
        goto fail;
    const char *const *rooms = (const char *const *)rv.v;
    r->replay_us = rc_clock_mono_us();
    if (c->catchup == CATCHUP_OFFSET)
        queued = rc_history_replay_async(rec->h, rooms, rv.n, c->catch_from->offset, replay_done,
                                         r);
    else
        queued = rc_history_replay_since_async(rec->h, rooms, rv.n, c->catch_from->since,
                                               replay_done, r);
    room_vec_free(&rv);
    if (queued == 0)
        return;
fail:
    room_vec_free(&rv);
    if (r) {
        c->req = NULL;
        request_free(r);
    }
    rc_counter_inc(&rc_metrics.recoveries[RC_M_CATCHUP_TRUNCATED]);
    LOG_INFO(FAC, "sid %s: socket %s: catch-up not possible", gw_socket_sid(sk), gw_socket_id(sk));
    emit_complete(c, 0, 1);
    gw_hold_release(sk, NULL, 1);
}

/* One replayed event, encoded as a broadcast encodes it. */
static void send_event(gw_socket *sk, const rc_event *ev)
{
    gw_socket_send_event(sk, ev->name, ev->payload, ev->payload_len, ev->offset);
}

static void on_caught_up(rc_recovery *rec, request *r)
{
    client *c = r->c;
    gw_socket *sk = c->sk;
    (void)rec;
    c->req = NULL;
    rc_prom_observe(&rc_metrics.replay_time[RC_M_REPLAY_CATCHUP],
                    rc_clock_mono_us() - r->replay_us);
    if (r->status == RC_REPLAY_OK && r->n < gw_socket_queue_room(sk)) {
        for (size_t i = 0; i < r->n; i++)
            send_event(sk, r->evs[i]);
        emit_complete(c, r->n, 0);
        rc_counter_inc(&rc_metrics.recoveries[RC_M_CATCHUP]);
        rc_counter_add(&rc_metrics.replayed, r->n);
        const char *floor = r->n                           ? r->evs[r->n - 1]->offset
                            : c->catchup == CATCHUP_OFFSET ? c->catch_from->offset
                                                           : NULL;
        LOG_DEBUG(FAC, "sid %s: socket %s caught up: %zu events", gw_socket_sid(sk),
                  gw_socket_id(sk), r->n);
        gw_hold_release(sk, floor, 1);
    } else {
        LOG_INFO(FAC, "sid %s: socket %s: catch-up truncated (%s)", gw_socket_sid(sk),
                 gw_socket_id(sk),
                 r->status == RC_REPLAY_OK ? "more missed events than the queue holds"
                                           : status_name(r->status));
        rc_counter_inc(&rc_metrics.recoveries[RC_M_CATCHUP_TRUNCATED]);
        emit_complete(c, 0, 1);
        gw_hold_release(sk, NULL, 1);
    }
    request_free(r);
}

/* ---- recovery ---- */

/* The session was taken: rejoin its rooms and replay what was missed. */
static void on_taken(rc_recovery *rec, request *r)
{
    client *c = r->c;
    gw_socket *sk = c->sk;
    const char *why = NULL;
    struct room_vec rv = {0};
    c->req = NULL;

    if (!r->blob) {
        why = "no session";
        goto fresh;
    }
    if (!(r->session = decode_session(r->blob, r->len, c->pid, c->id->sub, gw_socket_nsp(sk)))) {
        why = "session of another user or malformed";
        goto fresh;
    }
    const char *after =
        r->after[0] ? r->after : json_string_value(json_object_get(r->session, "base"));
    if (!after[0]) {
        why = "no offset";
        goto fresh;
    }
    if (after != r->after)
        snprintf(r->after, sizeof r->after, "%s", after);

    /* The rooms it had, each one it may still be in; user:{sub} always. */
    rc_buf *b = &rec->buf;
    rc_buf_reset(b);
    if (rc_buf_printf(b, "user:%s", c->id->sub) < 0 || gw_socket_join(sk, b->p) < 0) {
        why = "cannot join its rooms";
        goto fresh;
    }
    json_t *rooms = json_object_get(r->session, "rooms");
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        const char *room = json_string_value(json_array_get(rooms, i));
        if (strncmp(room, "program:", 8) == 0 &&
            rec->hooks.authorized(rec->hooks.ud, c->id, room + 8) && gw_socket_join(sk, room) < 0) {
            why = "cannot join its rooms";
            goto fresh;
        }
    }
    if (socket_rooms(sk, &rv) < 0 || gw_hold_start(sk) < 0) {
        why = "out of memory";
        goto fresh;
    }
    r->kind = REQ_RECOVER;
    request_reset_results(r);
    c->req = r;
    r->replay_us = rc_clock_mono_us();
    int queued =
        rc_history_replay_async(rec->h, (const char *const *)rv.v, rv.n, r->after, replay_done, r);
    room_vec_free(&rv);
    if (queued == 0)
        return;
    c->req = NULL;
    why = "history queue full";
fresh:
    room_vec_free(&rv);
    request_free(r);
    accept_new(rec, c, why);
}

/* 1 when a membership event of user is among evs. */
static int membership_moved(rc_event **evs, size_t n, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (evs[i]->member_op != RC_MEMBER_NONE && evs[i]->member_user &&
            strcmp(evs[i]->member_user, user) == 0)
            return 1;
    return 0;
}

static void on_replayed(rc_recovery *rec, request *r)
{
    client *c = r->c;
    gw_socket *sk = c->sk;
    const char *why = NULL;
    c->req = NULL;
    rc_prom_observe(&rc_metrics.replay_time[RC_M_REPLAY_RECOVERY],
                    rc_clock_mono_us() - r->replay_us);

    if (r->status != RC_REPLAY_OK)
        why = status_name(r->status);
    else if (c->member_changed || membership_moved(r->evs, r->n, c->id->sub))
        why = "its memberships changed meanwhile";
    else if (r->n >= gw_socket_queue_room(sk))
        why = "more missed events than the queue holds";
    else if (gw_socket_set_id(sk, json_string_value(json_object_get(r->session, "sid"))) < 0)
        why = "malformed session";
    if (why) {
        request_free(r);
        accept_new(rec, c, why);
        return;
    }

    /* The same pid still live here (its old transport not noticed gone
     * yet): that socket is superseded, quietly. */
    hmap_slot *slot = hmap_find(&rec->by_pid, c->pid);
    if (slot) {
        client *old = slot->val;
        old->superseded = 1;
        gw_socket_disconnect(old->sk, "session recovered on a new connection", 1);
    }

    list_remove(rec, c);
    if (accept_socket(c) < 0) {
        request_free(r);
        return; /* the session is closing: on_disconnect follows */
    }
    for (size_t i = 0; i < r->n; i++)
        send_event(sk, r->evs[i]);
    const char *floor = r->n ? r->evs[r->n - 1]->offset : r->after;
    snprintf(c->base, sizeof c->base, "%s", floor);
    rc_counter_inc(&rc_metrics.recoveries[RC_M_RECOVERED]);
    rc_counter_add(&rc_metrics.replayed, r->n);
    LOG_INFO(FAC, "sid %s: socket %s recovered: %zu missed events replayed", gw_socket_sid(sk),
             gw_socket_id(sk), r->n);
    request_free(r);
    /* Live (and stored) before the held events go out: if they overflow
     * the queue, the session is closed and stored for the next attempt. */
    go_live(rec, c);
    gw_hold_release(sk, c->base, 1);
}

/* A step's answer, on the loop (or gw NULL: the gateway is being destroyed). */
static void request_run(gw_task *t, gw_server *gw)
{
    request *r = (request *)t;
    rc_recovery *rec = r->rec;
    if (!gw) {
        request_free(r);
        return;
    }
    if (!r->c) {
        /* The socket went away meanwhile. A session taken for it is put
         * back, so that its client can still recover. */
        if (r->putback && r->blob && r->pid[0] && sessions_on(rec))
            rc_history_session_put(rec->h, r->pid, r->blob, r->len, rec->window_ms);
        request_free(r);
        return;
    }
    switch (r->kind) {
    case REQ_TAKE:
        on_taken(rec, r);
        break;
    case REQ_RECOVER:
        on_replayed(rec, r);
        break;
    case REQ_CATCHUP:
        on_caught_up(rec, r);
        break;
    }
}

/* ---- the interface ---- */

void rc_recovery_connect(rc_recovery *rec, gw_socket *sk, const gw_handshake *hs,
                         rc_auth_identity *id)
{
    client *c = calloc(1, sizeof *c);
    if (!c) {
        LOG_ERROR(FAC, "sid %s: out of memory accepting a socket", gw_socket_sid(sk));
        rc_auth_identity_free(id);
        gw_socket_reject(sk, "{\"message\":\"Internal error\"}");
        return;
    }
    c->rec = rec;
    c->sk = sk;
    c->id = id;
    gw_socket_set_data(sk, c);

    /* Explicit catch-up: lastOffset, else lastEventTimestamp. */
    json_t *auth = hs->auth;
    json_t *lo = json_object_get(auth, "lastOffset");
    json_t *lt = json_object_get(auth, "lastEventTimestamp");
    if ((lo && !json_is_null(lo)) || (lt && !json_is_null(lt))) {
        c->catchup = CATCHUP_BAD; /* also when out of memory: not possible */
        c->catch_from = calloc(1, sizeof *c->catch_from);
    }
    if (lo && !json_is_null(lo)) {
        if (c->catch_from && json_is_string(lo) && json_string_length(lo) > 0 &&
            json_string_length(lo) < RC_OFFSET_MAX) {
            snprintf(c->catch_from->offset, sizeof c->catch_from->offset, "%s",
                     json_string_value(lo));
            c->catchup = CATCHUP_OFFSET;
        }
    } else if (lt && !json_is_null(lt)) {
        if (c->catch_from && parse_timestamp(lt, &c->catch_from->since) == 0)
            c->catchup = CATCHUP_TIME;
    }

    /* Connection state recovery: {pid, offset} (offset absent when the
     * client has received no event with one). */
    json_t *pid = json_object_get(auth, "pid"), *off = json_object_get(auth, "offset");
    if (!sessions_on(rec) || !json_is_string(pid)) {
        accept_new(rec, c, NULL);
        return;
    }
    const char *why = NULL;
    if (!pid_valid(json_string_value(pid), json_string_length(pid)))
        why = "malformed pid";
    else if (off && !json_is_null(off) &&
             (!json_is_string(off) || json_string_length(off) == 0 ||
              json_string_length(off) >= RC_OFFSET_MAX))
        why = "malformed offset";
    if (why) {
        accept_new(rec, c, why);
        return;
    }
    snprintf(c->pid, sizeof c->pid, "%s", json_string_value(pid));
    request *r = request_new(c, REQ_TAKE);
    if (!r) {
        accept_new(rec, c, "out of memory");
        return;
    }
    snprintf(r->pid, sizeof r->pid, "%s", c->pid);
    if (json_is_string(off))
        snprintf(r->after, sizeof r->after, "%s", json_string_value(off));
    list_add(rec, c, LIST_RECOVERING);
    if (rc_history_session_take_async(rec->h, c->pid, take_done, r) < 0) {
        c->req = NULL;
        request_free(r);
        accept_new(rec, c, "history queue full");
    }
}

void rc_recovery_disconnect(rc_recovery *rec, gw_socket *sk)
{
    client *c = gw_socket_data(sk);
    if (!c)
        return;
    int lost = gw_socket_lost(sk);
    if (c->req) {
        c->req->c = NULL;
        c->req->putback = lost;
        c->req = NULL;
    }
    int live = c->list == LIST_LIVE;
    list_remove(rec, c);
    if (c->indexed)
        hmap_del(&rec->by_pid, c->pid, NULL);
    if (live && !c->superseded && sessions_on(rec) && c->pid[0]) {
        if (lost || c->keep) {
            /* stored by rc_recovery_disconnecting, rooms and all */
        } else if (rc_history_durable(rec->h)) {
            /* Gone for good: delete what the live puts stored (a store
             * that is not durable got none). */
            if (rc_history_session_take_async(rec->h, c->pid, discard_done, NULL) < 0)
                LOG_WARN(FAC, "sid %s: session of socket %s not deleted (history queue full)",
                         gw_socket_sid(sk), gw_socket_id(sk));
        }
    }
    gw_socket_set_data(sk, NULL);
    client_free(c);
}

void rc_recovery_disconnecting(rc_recovery *rec, gw_socket *sk)
{
    client *c = gw_socket_data(sk);
    if (c && c->list == LIST_LIVE && !c->superseded && (gw_socket_lost(sk) || c->keep))
        put_session(rec, c, rec->window_ms);
}

void rc_recovery_keep_session(rc_recovery *rec, gw_socket *sk)
{
    client *c = gw_socket_data(sk);
    (void)rec;
    if (c)
        c->keep = 1;
}

const rc_auth_identity *rc_recovery_identity(const gw_socket *sk)
{
    const client *c = gw_socket_data(sk);
    return c ? c->id : NULL;
}

void rc_recovery_rooms_changed(rc_recovery *rec, gw_socket *sk)
{
    client *c = gw_socket_data(sk);
    if (c && c->list == LIST_LIVE)
        save_now(rec, c);
}

void rc_recovery_on_publish(rc_recovery *rec, const rc_event *ev)
{
    if (ev->offset[0])
        snprintf(rec->last_offset, sizeof rec->last_offset, "%s", ev->offset);
    if (ev->member_op == RC_MEMBER_NONE || !ev->member_user)
        return;
    for (client *c = rec->rec_head; c; c = c->next)
        if (strcmp(c->id->sub, ev->member_user) == 0)
            c->member_changed = 1;
}

void rc_recovery_tick(rc_recovery *rec)
{
    if (!sessions_on(rec) || !rc_history_durable(rec->h))
        return;
    int64_t now = rc_clock_mono_ms();
    for (int i = 0; i < REC_REFRESH_PER_TICK; i++) {
        client *c = rec->live_head;
        if (!c || now - c->saved_ms < rec->refresh_ms)
            break;
        if (put_session(rec, c, rec->live_ttl_ms) < 0) {
            /* Not stored (queue full, out of memory): this one waits a
             * refresh interval, the others the next tick. */
            list_remove(rec, c);
            list_add(rec, c, LIST_LIVE);
            c->saved_ms = now;
            break;
        }
    }
}

rc_recovery *rc_recovery_new(const rc_recovery_hooks *hooks)
{
    rc_recovery *rec = calloc(1, sizeof *rec);
    if (!rec)
        return NULL;
    rec->hooks = *hooks;
    hmap_init(&rec->by_pid, HMAP_STR);
    return rec;
}

void rc_recovery_destroy(rc_recovery *rec)
{
    if (!rec)
        return;
    hmap_clear(&rec->by_pid);
    rc_buf_free(&rec->buf);
    free(rec);
}

void rc_recovery_set_history(rc_recovery *rec, rc_history *h, int window_ms)
{
    rec->h = h;
    rec->window_ms = window_ms > 0 ? window_ms : 0;
    int r = rec->window_ms / 2;
    rec->refresh_ms = r < 1000 ? 1000 : r > 60000 ? 60000 : r;
    rec->live_ttl_ms = (int64_t)rec->window_ms + 2 * (int64_t)rec->refresh_ms;
}

int rc_recovery_offset_covered(const char *offset, const char *floor)
{
    char epoch[RC_OFFSET_MAX], floor_epoch[RC_OFFSET_MAX];
    uint64_t seq, floor_seq;
    if (rc_offset_parse(offset, epoch, sizeof epoch, &seq) < 0 ||
        rc_offset_parse(floor, floor_epoch, sizeof floor_epoch, &floor_seq) < 0)
        return 0;
    return strcmp(epoch, floor_epoch) == 0 && seq <= floor_seq;
}
