/*
 * socket.c - the Socket.IO layer of a session: one socket per namespace,
 * CONNECT / DISCONNECT, events and acknowledgements in both directions,
 * binary attachments, the client event rate limit, rooms of sockets, and
 * the gw_socket_* functions of app.h.
 *
 * Implementation notes. Packets are dispatched as the reference server does
 * (socket.io's Client.ondecoded): a CONNECT opens a namespace that is not
 * open yet; any other packet needs an accepted socket on its namespace;
 * everything else (a second CONNECT, an event or ack before the CONNECT was
 * answered, a DISCONNECT of a namespace not open, a CONNECT_ERROR from the
 * client) is a protocol error that closes the session. One leniency on top
 * of sio.c's strict grammar: a CONNECT or DISCONNECT whose namespace runs to
 * the end of the packet ("40/custom", what socket.io's own compliance suite
 * sends) is read as if it ended with ','.
 *
 * A BINARY_EVENT / BINARY_ACK announcing n attachments is parked in
 * s->partial with its text and parsed JSON until n binary messages have
 * followed (WebSocket binary frames or polling 'b' packets); a text message
 * in between is a protocol error. The count is bounded by
 * GW_MAX_ATTACHMENTS and the packet plus its attachments by maxPayload.
 *
 * A socket that goes away is taken out of its session, its rooms and the
 * counters at once, but freed from gw->graveyard on the next wheel tick, so
 * that the application and the dispatch code may keep using the pointer
 * until their callback returns (every gw_socket_* function checks the
 * state first).
 *
 * Argument lists are handed to the application as the raw JSON text
 * between the brackets, cut out of the packet (already validated by
 * jansson, so a plain scan finds where the event name ends), so that
 * echoing them changes no byte.
 */
#include "gateway/server/server_private.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define FAC GW_FAC

/* Longest namespace accepted (and echoed in an "Invalid namespace"). */
#define GW_MAX_NSP_LEN 256
/* Longest room name. */
#define GW_MAX_ROOM_LEN 512

/* ---- raw JSON argument lists ---- */

static int json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The text between the brackets of a JSON array (valid JSON), trimmed. */
static rc_slice array_inner(rc_slice a)
{
    const char *p = a.p, *e = a.p + a.len;
    while (p < e && json_ws(*p))
        p++;
    while (e > p && json_ws(e[-1]))
        e--;
    if (p < e && *p == '[')
        p++;
    if (e > p && e[-1] == ']')
        e--;
    while (p < e && json_ws(*p))
        p++;
    while (e > p && json_ws(e[-1]))
        e--;
    return (rc_slice){p, (size_t)(e - p)};
}

/* The arguments after the event name of a valid event array. */
static rc_slice event_args(rc_slice data)
{
    rc_slice in = array_inner(data);
    const char *p = in.p, *e = in.p + in.len;
    if (p < e && *p == '"') {
        for (p++; p < e && *p != '"'; p++)
            if (*p == '\\')
                p++;
        p++;
    }
    while (p < e && json_ws(*p))
        p++;
    if (p < e && *p == ',')
        p++;
    while (p < e && json_ws(*p))
        p++;
    if (p > e)
        p = e;
    return (rc_slice){p, (size_t)(e - p)};
}

/* ---- encoding ---- */

/* "4" + the Socket.IO head of a packet: type, attachments, namespace, id. */
static int put_head(rc_buf *b, enum sio_type type, size_t natt, const char *nsp, long long id)
{
    rc_buf_reset(b);
    if (rc_buf_append(b, "4", 1) < 0)
        return -1;
    int rc = type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK
                 ? sio_encode_binary(b, type, (long)natt, nsp, id, NULL, 0)
                 : sio_encode(b, type, nsp, id, NULL, 0);
    return rc == SIO_OK ? 0 : -1;
}

static int send_attachments(gw_session *s, const rc_slice *att, size_t natt)
{
    rc_buf *b = &s->gw->scratch2;
    for (size_t i = 0; i < natt; i++) {
        rc_buf_reset(b);
        if (rc_buf_append(b, "b", 1) < 0 || rc_buf_append(b, att[i].p, att[i].len) < 0)
            return -1;
        if (gw_session_send_text(s, b->p, b->len) < 0)
            return -1;
    }
    return 0;
}

/* CONNECT_ERROR {"message":msg} on namespace nsp (a short literal). */
static int send_connect_error(gw_session *s, const char *nsp, const char *msg)
{
    rc_buf *b = &s->gw->scratch;
    if (put_head(b, SIO_CONNECT_ERROR, 0, nsp, -1) < 0 ||
        rc_buf_printf(b, "{\"message\":\"%s\"}", msg) < 0)
        return -1;
    return gw_session_send_text(s, b->p, b->len);
}

/* ---- socket lifetime ---- */

static void reap_cb(gw_timer *t)
{
    gw_socket_free_graveyard(((gw_server *)((char *)(t)-offsetof(gw_server, reap))));
}

char gw_socket_root_nsp[] = "/";

/* Frees a namespace name unless it is the shared root one. */
static void nsp_free(char *nsp)
{
    if (nsp != gw_socket_root_nsp)
        free(nsp);
}

void gw_socket_free_graveyard(gw_server *gw)
{
    while (gw->graveyard) {
        gw_socket *sk = gw->graveyard;
        gw->graveyard = sk->next;
        gw_hold_free(gw, sk);
        nsp_free(sk->nsp);
        free(sk);
    }
}

/* Cancels the socket's application timer and frees its extension. */
static void socket_ext_drop(gw_socket *sk)
{
    gw_server_disarm(sk->sess->gw, &sk->app_timer);
    sk->app_timer_cb = NULL;
    if (sk->ext && sk->free_ext)
        sk->free_ext(sk->ext);
    sk->ext = NULL;
    sk->free_ext = NULL;
}

/*
 * Takes sk out of its session, rooms and counters; fails its pending acks;
 * tells the application when notify is set; drops its timer and extension;
 * parks it on the graveyard.
 */
static void socket_gone(gw_socket *sk, const char *reason, int notify)
{
    gw_session *s = sk->sess;
    gw_server *gw = s->gw;
    if (sk->state == GW_SK_GONE)
        return;
    enum gw_socket_state was = sk->state;
    if (notify && was == GW_SK_CONNECTED && gw->app.on_disconnecting)
        gw->app.on_disconnecting(gw->app.ud, sk, reason);
    sk->state = GW_SK_GONE;
    gw_rooms_leave_all(gw->rooms, sk);
    if (was == GW_SK_CONNECTED) {
        s->nconnected--;
        gw->nsockets--;
    }
    for (gw_socket **pp = &s->socks; *pp; pp = &(*pp)->next) {
        if (*pp == sk) {
            *pp = sk->next;
            s->nsocks--;
            break;
        }
    }
    while (sk->acks) {
        gw_pending_ack *a = sk->acks;
        sk->acks = a->next;
        sk->nacks--;
        a->cb(a->ud, sk, NULL);
        free(a);
    }
    LOG_DEBUG(FAC, "sid %s: socket %s on %s gone: %s", s->sid, sk->id, sk->nsp, reason);
    if (notify && gw->app.on_disconnect)
        gw->app.on_disconnect(gw->app.ud, sk, reason);
    socket_ext_drop(sk);
    sk->next = gw->graveyard;
    gw->graveyard = sk;
    if (!gw->destroying)
        gw_server_arm(gw, &gw->reap, reap_cb, 0);
}

static void partial_free(gw_partial *pt)
{
    if (!pt)
        return;
    for (size_t i = 0; i < pt->natt; i++)
        free((char *)pt->att[i].p);
    free(pt->att);
    json_decref(pt->args);
    rc_buf_free(&pt->text);
    free(pt);
}

void gw_socket_close_all(gw_session *s, const char *reason)
{
    partial_free(s->partial);
    s->partial = NULL;
    while (s->socks) {
        s->socks->lost = 1; /* the client is expected back (recovery) */
        socket_gone(s->socks, reason, 1);
    }
}

static gw_socket *find_socket(gw_session *s, rc_slice nsp)
{
    for (gw_socket *sk = s->socks; sk; sk = sk->next)
        if (strlen(sk->nsp) == nsp.len && memcmp(sk->nsp, nsp.p, nsp.len) == 0)
            return sk;
    return NULL;
}

/* The abuse bucket's burst: 3 x the larger of the rate and the burst. */
static int abuse_burst(const gw_server *gw)
{
    return 3 * (gw->opt.client_events_per_minute > gw->opt.client_event_burst
                    ? gw->opt.client_events_per_minute
                    : gw->opt.client_event_burst);
}

/* ---- incoming packets ---- */

static int on_connect(gw_session *s, const sio_packet *pkt, json_t *args)
{
    gw_server *gw = s->gw;
    /* Every root socket shares one "/": nothing allocated for the usual
     * namespace. */
    int root = strnlen(pkt->nsp.p, pkt->nsp.len) == 1 && pkt->nsp.p[0] == '/';
    char *nsp = root ? gw_socket_root_nsp : strndup(pkt->nsp.p, pkt->nsp.len);
    if (!nsp)
        goto nomem;
    int allowed = gw->app.namespace_allowed ? gw->app.namespace_allowed(gw->app.ud, nsp)
                                            : strcmp(nsp, "/") == 0;
    if (!allowed) {
        LOG_DEBUG(FAC, "sid %s: CONNECT to an unknown namespace", s->sid);
        int rc = send_connect_error(s, nsp, "Invalid namespace");
        nsp_free(nsp);
        return rc < 0 && s->state != GW_SESSION_OPEN ? -1 : 0;
    }
    if (s->nsocks >= GW_MAX_SOCKETS) {
        int rc = send_connect_error(s, nsp, "Too many namespaces");
        nsp_free(nsp);
        return rc < 0 && s->state != GW_SESSION_OPEN ? -1 : 0;
    }
    gw_socket *sk = calloc(1, sizeof *sk);
    if (!sk || gw_session_random_id(sk->id) < 0) {
        free(sk);
        nsp_free(nsp);
        goto nomem;
    }
    int64_t now = gw_server_now(gw);
    sk->sess = s;
    sk->nsp = nsp;
    sk->root = (unsigned)root;
    sk->state = GW_SK_PENDING;
    gw_ratelimit_init(&sk->events, gw->opt.client_event_burst, now);
    gw_ratelimit_init(&sk->abuse, abuse_burst(gw), now);
    sk->next = s->socks;
    s->socks = sk;
    s->nsocks++;

    gw_handshake hs = {.nsp = nsp, .auth = args, .auth_raw = pkt->data, .bearer = s->bearer};
    gw->app.on_connect(gw->app.ud, sk, &hs);
    return s->state == GW_SESSION_OPEN ? 0 : -1;

nomem:
    LOG_ERROR(FAC, "sid %s: out of memory opening a namespace", s->sid);
    gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
    return -1;
}

static int on_event(gw_socket *sk, const sio_packet *pkt, json_t *args, const rc_slice *att,
                    size_t natt)
{
    gw_session *s = sk->sess;
    gw_server *gw = s->gw;
    /* The name is held while the array loses it. */
    json_t *name = json_incref(json_array_get(args, 0));
    json_array_remove(args, 0);
    gw_event ev = {
        .name = json_string_value(name),
        .args = args,
        .args_raw = event_args(pkt->data),
        .ack_id = pkt->id,
        .attachments = att,
        .nattachments = natt,
    };
    if (gw->opt.client_events_per_minute > 0) {
        int64_t now = gw_server_now(gw);
        int ok = gw_ratelimit_take(&sk->events, gw->opt.client_events_per_minute,
                                   gw->opt.client_event_burst, now);
        if (!gw_ratelimit_take(&sk->abuse, 3 * gw->opt.client_events_per_minute, abuse_burst(gw),
                               now)) {
            gw_count_error(gw, GW_ERR_FLOOD);
            LOG_WARN(FAC,
                     "sid %s: socket %s: client events over 3 x the rate limit "
                     "(%d per minute), disconnecting",
                     s->sid, sk->id, gw->opt.client_events_per_minute);
            gw_socket_disconnect(sk, "client event flood", 1);
            goto done;
        }
        if (!ok) {
            gw_count_error(gw, GW_ERR_RATE_LIMITED);
            if (!sk->rate_limited) {
                sk->rate_limited = 1;
                rc_counter_inc(&gw->counters.rate_limited_sockets);
            }
            if (gw->app.on_rate_limited)
                gw->app.on_rate_limited(gw->app.ud, sk, &ev);
            goto done;
        }
    }
    gw->app.on_event(gw->app.ud, sk, &ev);
done:
    json_decref(name);
    return s->state == GW_SESSION_OPEN ? 0 : -1;
}

static int on_ack(gw_socket *sk, const sio_packet *pkt, json_t *args, const rc_slice *att,
                  size_t natt)
{
    gw_session *s = sk->sess;
    gw_pending_ack **pp = &sk->acks, *a;
    while ((a = *pp) && a->id != pkt->id)
        pp = &a->next;
    if (!a) {
        /* Late or unknown: the reference server ignores it too. */
        LOG_DEBUG(FAC, "sid %s: ACK %lld matches no pending ack", s->sid, pkt->id);
        return 0;
    }
    *pp = a->next;
    sk->nacks--;
    gw_event ev = {
        .name = NULL,
        .args = args,
        .args_raw = array_inner(pkt->data),
        .ack_id = -1,
        .attachments = att,
        .nattachments = natt,
    };
    a->cb(a->ud, sk, &ev);
    free(a);
    return s->state == GW_SESSION_OPEN ? 0 : -1;
}

static int dispatch(gw_session *s, const sio_packet *pkt, json_t *args, const rc_slice *att,
                    size_t natt)
{
    gw_socket *sk = find_socket(s, pkt->nsp);
    switch (pkt->type) {
    case SIO_CONNECT:
        if (sk)
            return gw_session_fault(s, GW_ERR_PROTOCOL, "CONNECT to a namespace already open",
                                    GW_CLOSE_PROTOCOL);
        return on_connect(s, pkt, args);
    case SIO_DISCONNECT:
        if (!sk)
            return gw_session_fault(s, GW_ERR_PROTOCOL, "DISCONNECT from a namespace not open",
                                    GW_CLOSE_PROTOCOL);
        socket_gone(sk, "client namespace disconnect", 1);
        return 0;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (!sk || sk->state != GW_SK_CONNECTED)
            return gw_session_fault(s, GW_ERR_PROTOCOL, "packet for a namespace not connected",
                                    GW_CLOSE_PROTOCOL);
        return pkt->type == SIO_EVENT || pkt->type == SIO_BINARY_EVENT
                   ? on_event(sk, pkt, args, att, natt)
                   : on_ack(sk, pkt, args, att, natt);
    case SIO_CONNECT_ERROR:
    default:
        return gw_session_fault(s, GW_ERR_PROTOCOL, "unexpected Socket.IO packet type",
                                GW_CLOSE_PROTOCOL);
    }
}

/* Rebases a slice of src (or leaves a static literal alone) onto dst. */
static rc_slice rebase(rc_slice v, const char *src, size_t len, const char *dst)
{
    if (v.p >= src && v.p <= src + len)
        v.p = dst + (v.p - src);
    return v;
}

static int partial_start(gw_session *s, const char *p, size_t len, const sio_packet *pkt,
                         json_t *args)
{
    if (pkt->attachments > GW_MAX_ATTACHMENTS)
        return gw_session_fault(s, GW_ERR_TOO_LARGE, "too many binary attachments",
                                GW_CLOSE_POLICY);
    gw_partial *pt = calloc(1, sizeof *pt);
    if (!pt || rc_buf_append(&pt->text, p, len) < 0 ||
        !(pt->att = calloc((size_t)pkt->attachments, sizeof *pt->att))) {
        partial_free(pt);
        LOG_ERROR(FAC, "sid %s: out of memory holding a binary packet", s->sid);
        gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
        return -1;
    }
    pt->pkt = *pkt;
    pt->pkt.nsp = rebase(pkt->nsp, p, len, pt->text.p);
    pt->pkt.data = rebase(pkt->data, p, len, pt->text.p);
    pt->args = json_incref(args);
    pt->bytes = len;
    s->partial = pt;
    return 0;
}

int gw_socket_on_text(gw_session *s, const char *p, size_t len)
{
    char *fixed = NULL;
    if (s->partial)
        return gw_session_fault(s, GW_ERR_PROTOCOL, "text packet where a binary attachment was due",
                                GW_CLOSE_PROTOCOL);
    if (len >= 2 && (p[0] == '0' || p[0] == '1') && p[1] == '/' && !memchr(p, ',', len)) {
        if (!(fixed = malloc(len + 1))) {
            gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
            return -1;
        }
        memcpy(fixed, p, len);
        fixed[len++] = ',';
        p = fixed;
    }
    sio_packet pkt;
    json_t *args = NULL;
    int rc = sio_parse_packet(p, len, &pkt, &args);
    if (rc < 0) {
        char what[96];
        snprintf(what, sizeof what, "malformed Socket.IO packet: %s", sio_strerror(rc));
        free(fixed);
        return gw_session_fault(s, GW_ERR_MALFORMED, what, GW_CLOSE_PROTOCOL);
    }
    if (pkt.nsp.len > GW_MAX_NSP_LEN) {
        rc = gw_session_fault(s, GW_ERR_TOO_LARGE, "namespace too long", GW_CLOSE_POLICY);
    } else if ((pkt.type == SIO_BINARY_EVENT || pkt.type == SIO_BINARY_ACK) &&
               pkt.attachments > 0) {
        rc = partial_start(s, p, len, &pkt, args);
    } else {
        rc = dispatch(s, &pkt, args, NULL, 0);
    }
    json_decref(args);
    free(fixed);
    return rc;
}

int gw_socket_on_binary(gw_session *s, const char *p, size_t len)
{
    gw_partial *pt = s->partial;
    if (!pt)
        return gw_session_fault(s, GW_ERR_PROTOCOL,
                                "binary message without a binary packet announcing it",
                                GW_CLOSE_UNACCEPTABLE_OPCODE);
    if (len > (size_t)s->gw->opt.max_payload - pt->bytes)
        return gw_session_fault(s, GW_ERR_TOO_LARGE, "binary packet over maxPayload",
                                GW_CLOSE_TOO_LARGE);
    char *copy = malloc(len + 1);
    if (!copy) {
        gw_session_close(s, "out of memory", GW_CLOSE_UNEXPECTED, 0);
        return -1;
    }
    if (len)
        memcpy(copy, p, len);
    copy[len] = '\0';
    pt->att[pt->natt++] = (rc_slice){copy, len};
    pt->bytes += len;
    if (pt->natt < (size_t)pt->pkt.attachments)
        return 0;
    s->partial = NULL;
    int rc = dispatch(s, &pt->pkt, pt->args, pt->att, pt->natt);
    partial_free(pt);
    return rc;
}

/* ---- app.h: sockets ---- */

const char *gw_socket_id(const gw_socket *sk)
{
    return sk->id;
}

const char *gw_socket_nsp(const gw_socket *sk)
{
    return sk->nsp;
}

gw_server *gw_socket_server(const gw_socket *sk)
{
    return sk->sess->gw;
}

const char *gw_socket_sid(const gw_socket *sk)
{
    return sk->sess->sid;
}

void gw_socket_set_data(gw_socket *sk, void *data)
{
    sk->data = data;
}

void *gw_socket_data(const gw_socket *sk)
{
    return sk->data;
}

int gw_socket_accept(gw_socket *sk, const char *extra_members)
{
    gw_session *s = sk->sess;
    gw_server *gw = s->gw;
    rc_buf *b = &gw->scratch;
    if (sk->state != GW_SK_PENDING || s->state != GW_SESSION_OPEN)
        return -1;
    if (put_head(b, SIO_CONNECT, 0, sk->nsp, -1) < 0 ||
        rc_buf_printf(b, "{\"sid\":\"%s\"", sk->id) < 0 ||
        (extra_members && extra_members[0] &&
         (rc_buf_append(b, ",", 1) < 0 || rc_buf_puts(b, extra_members) < 0)) ||
        rc_buf_append(b, "}", 1) < 0)
        return -1;
    sk->state = GW_SK_CONNECTED;
    sk->since_ms = rc_clock_wall_ms();
    s->nconnected++;
    gw->nsockets++;
    gw_server_disarm(gw, &s->connect);
    LOG_DEBUG(FAC, "sid %s: socket %s connected to %s", s->sid, sk->id, sk->nsp);
    return gw_session_send_text(s, b->p, b->len) < 0 ? -1 : 0;
}

int gw_socket_reject(gw_socket *sk, const char *error_json)
{
    gw_session *s = sk->sess;
    rc_buf *b = &s->gw->scratch;
    if (sk->state != GW_SK_PENDING)
        return -1;
    int rc = -1;
    if (put_head(b, SIO_CONNECT_ERROR, 0, sk->nsp, -1) == 0 && rc_buf_puts(b, error_json) == 0)
        rc = gw_session_send_text(s, b->p, b->len);
    socket_gone(sk, "rejected", 0);
    return rc < 0 ? -1 : 0;
}

void gw_socket_disconnect(gw_socket *sk, const char *reason, int close_session)
{
    gw_session *s = sk->sess;
    rc_buf *b = &s->gw->scratch;
    if (sk->state == GW_SK_GONE)
        return;
    if (s->state == GW_SESSION_OPEN && put_head(b, SIO_DISCONNECT, 0, sk->nsp, -1) == 0)
        gw_session_send_text(s, b->p, b->len);
    socket_gone(sk, reason, 1);
    if (close_session)
        gw_session_close(s, reason, GW_CLOSE_NORMAL, 1);
}

static int emit(gw_socket *sk, const char *event, const char *args, size_t args_len,
                const rc_slice *att, size_t natt, long long id)
{
    gw_session *s = sk->sess;
    rc_buf *b = &s->gw->scratch;
    if (sk->state != GW_SK_CONNECTED || s->state != GW_SESSION_OPEN)
        return -1;
    if (put_head(b, natt ? SIO_BINARY_EVENT : SIO_EVENT, natt, sk->nsp, id) < 0 ||
        rc_buf_append(b, "[", 1) < 0 || rc_buf_json_string(b, event, strlen(event)) < 0 ||
        (args && args_len &&
         (rc_buf_append(b, ",", 1) < 0 || rc_buf_append(b, args, args_len) < 0)) ||
        rc_buf_append(b, "]", 1) < 0)
        return -1;
    if (gw_session_send_text(s, b->p, b->len) < 0)
        return -1;
    return send_attachments(s, att, natt);
}

int gw_socket_emit(gw_socket *sk, const char *event, const char *args, size_t args_len,
                   const rc_slice *att, size_t natt)
{
    return emit(sk, event, args, args_len, att, natt, -1);
}

int gw_socket_emit_ack(gw_socket *sk, const char *event, const char *args, size_t args_len,
                       const rc_slice *att, size_t natt, gw_ack_cb cb, void *ud)
{
    if (sk->state != GW_SK_CONNECTED || sk->nacks >= GW_MAX_PENDING_ACKS)
        return -1;
    gw_pending_ack *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->id = sk->next_ack++;
    a->cb = cb;
    a->ud = ud;
    if (emit(sk, event, args, args_len, att, natt, a->id) < 0) {
        free(a);
        return -1;
    }
    if (sk->state != GW_SK_CONNECTED) { /* the send closed the gw_session */
        free(a);
        return -1;
    }
    a->next = sk->acks;
    sk->acks = a;
    sk->nacks++;
    return 0;
}

int gw_socket_ack(gw_socket *sk, long long ack_id, const char *args, size_t args_len,
                  const rc_slice *att, size_t natt)
{
    gw_session *s = sk->sess;
    rc_buf *b = &s->gw->scratch;
    if (sk->state != GW_SK_CONNECTED || s->state != GW_SESSION_OPEN || ack_id < 0)
        return -1;
    if (put_head(b, natt ? SIO_BINARY_ACK : SIO_ACK, natt, sk->nsp, ack_id) < 0 ||
        rc_buf_append(b, "[", 1) < 0 ||
        (args && args_len && rc_buf_append(b, args, args_len) < 0) || rc_buf_append(b, "]", 1) < 0)
        return -1;
    if (gw_session_send_text(s, b->p, b->len) < 0)
        return -1;
    return send_attachments(s, att, natt);
}

/* ---- the socket's timer and extension ---- */

static void app_timer_cb(gw_timer *t)
{
    gw_socket *sk = ((gw_socket *)((char *)(t)-offsetof(gw_socket, app_timer)));
    void (*cb)(gw_socket * sk) = sk->app_timer_cb;
    if (cb && sk->state != GW_SK_GONE)
        cb(sk);
}

int gw_socket_set_timer(gw_socket *sk, int ms, void (*cb)(gw_socket *sk))
{
    if (sk->state == GW_SK_GONE || !cb)
        return -1;
    sk->app_timer_cb = cb;
    gw_server_arm(sk->sess->gw, &sk->app_timer, app_timer_cb, ms);
    return 0;
}

void gw_socket_cancel_timer(gw_socket *sk)
{
    if (sk->state != GW_SK_GONE) /* a gone socket's timer is already off */
        gw_server_disarm(sk->sess->gw, &sk->app_timer);
}

int gw_socket_set_ext(gw_socket *sk, void *ext, void (*free_ext)(void *ext))
{
    if (sk->state == GW_SK_GONE)
        return -1;
    if (sk->ext && sk->free_ext)
        sk->free_ext(sk->ext);
    sk->ext = ext;
    sk->free_ext = free_ext;
    return 0;
}

void *gw_socket_ext(const gw_socket *sk)
{
    return sk->ext;
}

/* ---- app.h: rooms ---- */

/* The rooms table key of a room of sk's namespace: the name itself on "/",
 * else nsp + 0x1F + name (room names hold no control characters). */
static int room_key(rc_buf *b, const gw_socket *sk, const char *room)
{
    size_t n = strlen(room);
    if (n == 0 || n > GW_MAX_ROOM_LEN)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)room[i] < 0x20 || room[i] == 0x7f)
            return -1;
    rc_buf_reset(b);
    if (!sk->root && (rc_buf_puts(b, sk->nsp) < 0 || rc_buf_append(b, "\x1f", 1) < 0))
        return -1;
    return rc_buf_puts(b, room);
}

int gw_socket_join(gw_socket *sk, const char *room)
{
    rc_buf key = {0};
    int rc = -1;
    if (sk->state != GW_SK_GONE && room_key(&key, sk, room) == 0)
        rc = gw_rooms_join(sk->sess->gw->rooms, key.p, sk);
    rc_buf_free(&key);
    return rc;
}

int gw_socket_leave(gw_socket *sk, const char *room)
{
    rc_buf key = {0};
    int rc = -1;
    if (sk->state != GW_SK_GONE && room_key(&key, sk, room) == 0)
        rc = gw_rooms_leave(sk->sess->gw->rooms, key.p, sk);
    rc_buf_free(&key);
    return rc;
}

struct collect_ctx {
    gw_server *gw;
    int failed;
};

static void collect_cb(void *member, void *ud)
{
    struct collect_ctx *c = ud;
    gw_server *gw = c->gw;
    gw_socket *sk = member;
    if (sk->state != GW_SK_CONNECTED || c->failed)
        return;
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
    gw->vec[gw->nvec++] = sk;
}

gw_socket **gw_socket_room_list(gw_server *gw, const char *room, size_t *n)
{
    struct collect_ctx c = {.gw = gw};
    gw->nvec = 0;
    *n = 0;
    /* Room names of "/" are the keys themselves; a name with a control
     * character cannot be one. */
    for (const char *p = room; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    gw_rooms_foreach_member(gw->rooms, room, collect_cb, &c);
    if (c.failed) {
        gw->nvec = 0;
        return NULL;
    }
    *n = gw->nvec;
    return gw->nvec ? gw->vec : NULL;
}

const char *gw_socket_transport(const gw_socket *sk)
{
    return sk->sess->transport == GW_TR_WEBSOCKET ? "websocket" : "polling";
}

const char *gw_socket_peer(const gw_socket *sk, char *buf, size_t cap)
{
    const gw_session *s = sk->sess;
    if (!s->peer_family || !inet_ntop(s->peer_family, s->peer, buf, (socklen_t)cap))
        return NULL;
    return buf;
}

int64_t gw_socket_since_ms(const gw_socket *sk)
{
    return sk->state == GW_SK_CONNECTED ? sk->since_ms : 0;
}

int gw_socket_attachment(const gw_event *ev, const json_t *v, rc_slice *out)
{
    if (!json_is_object(v) || !json_is_true(json_object_get(v, "_placeholder")))
        return 0;
    json_t *num = json_object_get(v, "num");
    if (!json_is_integer(num) || json_integer_value(num) < 0 ||
        (size_t)json_integer_value(num) >= ev->nattachments)
        return 0;
    *out = ev->attachments[json_integer_value(num)];
    return 1;
}

/* ---- what recovery needs ---- */

size_t gw_socket_queue_room(const gw_socket *sk)
{
    const gw_session *s = sk->sess;
    size_t max = (size_t)s->gw->opt.queue_max, used = gw_frame_queue_len(&s->q);
    used += gw_hold_count(sk);
    return used < max ? max - used : 0;
}

int gw_socket_set_id(gw_socket *sk, const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (sk->state != GW_SK_PENDING || n == 0 || n > GW_ID_LEN)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return -1;
    }
    memcpy(sk->id, id, n + 1);
    return 0;
}

struct room_walk {
    const gw_socket *sk;
    void (*cb)(const char *room, void *ud);
    void *ud;
};

static void room_walk_cb(const char *key, void *ud)
{
    struct room_walk *w = ud;
    if (!w->sk->root) {
        /* nsp + 0x1F + name (room_key) */
        const char *sep = strchr(key, '\x1f');
        if (!sep)
            return;
        key = sep + 1;
    }
    w->cb(key, w->ud);
}

void gw_socket_foreach_room(const gw_socket *sk, void (*cb)(const char *room, void *ud), void *ud)
{
    struct room_walk w = {.sk = sk, .cb = cb, .ud = ud};
    if (sk->state == GW_SK_GONE)
        return;
    gw_rooms_foreach_room(sk->sess->gw->rooms, sk, room_walk_cb, &w);
}

int gw_socket_lost(const gw_socket *sk)
{
    return sk->lost;
}

int gw_socket_send_event(gw_socket *sk, const char *name, const char *args, size_t args_len,
                         const char *offset)
{
    gw_session *s = sk->sess;
    if (sk->state != GW_SK_CONNECTED || !sk->root || !name ||
        gw_broadcast_encode(&s->gw->scratch, name, args, args_len, offset) < 0)
        return -1;
    return gw_session_send_text(s, s->gw->scratch.p, s->gw->scratch.len);
}
