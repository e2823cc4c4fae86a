/*
 * fuzz_socket.c - libFuzzer target for the Socket.IO layer of a session
 * (gateway/server/session.c and socket.c): packets dispatched to
 * namespaces, and BINARY_EVENT / BINARY_ACK packets reassembled with the
 * binary messages that follow them, bounded by maxPayload.
 *
 * A session runs on the unit tests' fake transport (tests/unit/gw_fake.h),
 * without lws. Byte 0: bit 0 picks the transport, bit 1 maxPayload (64 or
 * 100000 bytes). The rest is what the client sends:
 *  - WebSocket: messages separated by 0x1E; one starting with 'b' is a
 *    binary message of the bytes after the 'b', any other a text message;
 *  - polling: POST bodies separated by 0xFF, each an Engine.IO payload
 *    (binary packets 'b' + base64), read as gw_polling_on_body() does.
 * A message or body over maxPayload is refused by the transport and ends
 * the input, as it ends the session.
 *
 * The application accepts "/", rejects "/admin", leaves "/pending"
 * unanswered and knows no other namespace; it emits "hello" with an ack
 * on each accepted socket, echoes every event (with its attachments) and
 * answers every ack request. Checked:
 *  - an event or ack carries exactly the binary messages received since
 *    its packet, in order, and packet plus attachments fit in maxPayload;
 *  - the raw arguments are the JSON arguments: "[" + args_raw + "]" parses
 *    to ev->args; every placeholder resolves; names are strings, never
 *    reserved; ack ids within 0 .. 2^53 - 1;
 *  - everything the server queues is a valid Engine.IO packet carrying a
 *    valid Socket.IO packet, fit for a polling payload (no 0x1E), and the
 *    echoes carry the same arguments and attachments back;
 *  - on_disconnect comes exactly once for every socket accepted or left
 *    pending, and a closed session holds no partial packet.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/gw_fake.h"

#define MAX_SEEN GW_MAX_ATTACHMENTS

/* Binary messages received since the last text message. */
static rc_buf seen[MAX_SEEN + 1];
static size_t nseen, seen_bytes, text_len;
static long cur_max; /* maxPayload */

/* What the application emitted, in order, to compare with the queue. */
typedef struct expect {
    int ack;      /* an ACK (args without a name) rather than an event */
    json_t *args; /* owned: the JSON array sent */
    rc_buf *att;  /* owned copies */
    size_t natt;
    struct expect *next;
} expect;
static expect *exp_head, **exp_tail = &exp_head;

static int n_accepted, n_pending, n_disconnects;

static void expect_push(int ack, json_t *args, const rc_slice *att, size_t natt)
{
    expect *e = calloc(1, sizeof *e);
    e->ack = ack;
    e->args = args;
    e->natt = natt;
    e->att = calloc(natt + 1, sizeof *e->att);
    for (size_t i = 0; i < natt; i++)
        rc_buf_append(&e->att[i], att[i].p, att[i].len);
    *exp_tail = e;
    exp_tail = &e->next;
}

static void expect_free(expect *e)
{
    json_decref(e->args);
    for (size_t i = 0; i < e->natt; i++)
        rc_buf_free(&e->att[i]);
    free(e->att);
    free(e);
}

static expect *expect_pop(void)
{
    expect *e = exp_head;
    if (e && !(exp_head = e->next))
        exp_tail = &exp_head;
    return e;
}

static void expect_clear(void)
{
    expect *e;
    while ((e = expect_pop()))
        expect_free(e);
}

/* ---- the application ---- */

static int app_nsp(void *ud, const char *nsp)
{
    (void)ud;
    return !strcmp(nsp, "/") || !strcmp(nsp, "/admin") || !strcmp(nsp, "/pending");
}

static void on_hello_ack(void *ud, gw_socket *sk, const gw_event *ev);

static void app_connect(void *ud, gw_socket *sk, const gw_handshake *hs)
{
    (void)ud;
    if (!hs->nsp || hs->nsp[0] != '/' || (hs->auth && !json_is_object(hs->auth)))
        abort();
    if ((hs->auth_raw.len == 0) != (hs->auth == NULL))
        abort();
    if (!strcmp(hs->nsp, "/admin")) {
        if (gw_socket_reject(sk, "{\"message\":\"no\"}") != 0)
            abort();
        return;
    }
    if (!strcmp(hs->nsp, "/pending")) {
        n_pending++;
        return;
    }
    if (gw_socket_accept(sk, NULL) != 0)
        abort();
    n_accepted++;
    if (gw_socket_emit_ack(sk, "hello", "1", 1, NULL, 0, on_hello_ack, NULL) == 0)
        expect_push(0, json_pack("[si]", "hello", 1), NULL, 0);
}

/* Checks what an event or ack hands the application. */
static void check_event(const gw_event *ev, int is_ack)
{
    if (is_ack != (ev->name == NULL))
        abort();
    if (ev->ack_id < -1 || ev->ack_id > 9007199254740991LL || (is_ack && ev->ack_id != -1))
        abort();
    if (!json_is_array(ev->args))
        abort();
    /* exactly the binary messages since the packet, in order */
    if (ev->nattachments != nseen || (nseen && !ev->attachments))
        abort();
    size_t bytes = 0;
    for (size_t i = 0; i < nseen; i++) {
        const rc_slice *a = &ev->attachments[i];
        if (a->len != seen[i].len || (a->len && memcmp(a->p, seen[i].p, a->len) != 0))
            abort();
        bytes += a->len;
    }
    if (nseen && text_len + bytes > (size_t)cur_max)
        abort();
    /* the raw arguments say what the parsed ones do */
    rc_buf raw = {0};
    rc_buf_append(&raw, "[", 1);
    rc_buf_append(&raw, ev->args_raw.p, ev->args_raw.len);
    rc_buf_append(&raw, "]", 1);
    json_t *again = json_loadb(raw.p, raw.len, JSON_DECODE_ANY, NULL);
    if (!again || !json_equal(again, ev->args))
        abort();
    json_decref(again);
    rc_buf_free(&raw);
    /* placeholders resolve */
    size_t i;
    json_t *v;
    json_array_foreach(ev->args, i, v)
    {
        rc_slice a;
        json_t *num = json_object_get(v, "num");
        if (nseen && json_is_true(json_object_get(v, "_placeholder")) &&
            (!gw_socket_attachment(ev, v, &a) || a.p != ev->attachments[json_integer_value(num)].p))
            abort();
    }
    if (!is_ack) {
        static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                               "disconnecting", "newListener",   "removeListener"};
        for (size_t k = 0; k < sizeof reserved / sizeof *reserved; k++)
            if (!strcmp(ev->name, reserved[k]))
                abort();
    }
}

static void on_hello_ack(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    (void)sk;
    if (ev)
        check_event(ev, 1);
}

static void app_event(void *ud, gw_socket *sk, const gw_event *ev)
{
    (void)ud;
    check_event(ev, 0);
    /* echo it, attachments included */
    if (gw_socket_emit(sk, ev->name, ev->args_raw.p, ev->args_raw.len, ev->attachments,
                       ev->nattachments) == 0) {
        json_t *all = json_deep_copy(ev->args);
        json_array_insert_new(all, 0, json_string(ev->name));
        expect_push(0, all, ev->attachments, ev->nattachments);
    }
    if (ev->ack_id >= 0 && gw_socket_ack(sk, ev->ack_id, ev->args_raw.p, ev->args_raw.len,
                                         ev->attachments, ev->nattachments) == 0)
        expect_push(1, json_deep_copy(ev->args), ev->attachments, ev->nattachments);
}

static void app_disconnect(void *ud, gw_socket *sk, const char *reason)
{
    (void)ud;
    (void)sk;
    if (!reason || !reason[0])
        abort();
    n_disconnects++;
}

static const gw_app app = {
    .namespace_allowed = app_nsp,
    .on_connect = app_connect,
    .on_event = app_event,
    .on_disconnect = app_disconnect,
};

/* ---- what the server queued ---- */

/* Checks every queued frame; the application's emits must come out as
 * they were made (unless the queue overflowed and the session is being
 * dropped). */
static void drain(gw_session *s)
{
    gw_frame *f;
    while ((f = gw_frame_queue_pop(&s->q))) {
        const char *d = (const char *)gw_frame_data(f);
        size_t len = gw_frame_len(f);
        eio_packet ep;
        sio_packet sp;
        json_t *args = NULL;
        if (len == 0 || d[0] == 'b' ||
            eio_parse_packet(d, len, 0, &ep) != EIO_OK) /* binary only after its packet */
            abort();
        /* whatever the transport, it must fit in a polling payload */
        rc_buf payload = {0};
        if (eio_payload_append_encoded(&payload, d, len) != EIO_OK)
            abort();
        rc_buf_free(&payload);
        if (ep.type != EIO_MESSAGE) {
            gw_frame_unref(f);
            continue;
        }
        if (sio_parse_packet(ep.data.p, ep.data.len, &sp, &args) != SIO_OK)
            abort();
        int binary = sp.type == SIO_BINARY_EVENT || sp.type == SIO_BINARY_ACK;
        int is_emit = sp.type == SIO_EVENT || sp.type == SIO_BINARY_EVENT;
        int is_ack = sp.type == SIO_ACK || sp.type == SIO_BINARY_ACK;
        expect *e = (is_emit || is_ack) ? expect_pop() : NULL;
        if ((is_emit || is_ack) && !s->overflowed) {
            if (!e || e->ack != is_ack || !json_equal(e->args, args) ||
                (size_t)sp.attachments != (binary ? e->natt : 0))
                abort();
        }
        json_decref(args);
        gw_frame_unref(f);
        /* its attachments follow at once, as binary frames */
        for (long i = 0; binary && i < sp.attachments; i++) {
            gw_frame *b = gw_frame_queue_pop(&s->q);
            if (!b) {
                if (s->overflowed)
                    break;
                abort();
            }
            const char *bd = (const char *)gw_frame_data(b);
            size_t bl = gw_frame_len(b);
            if (bl < 1 || bd[0] != 'b')
                abort();
            if (e && !s->overflowed &&
                (bl - 1 != e->att[i].len || (bl > 1 && memcmp(bd + 1, e->att[i].p, bl - 1))))
                abort();
            gw_frame_unref(b);
        }
        if (e)
            expect_free(e);
    }
}

/* ---- feeding ---- */

static void seen_reset(void)
{
    for (size_t i = 0; i < nseen; i++)
        rc_buf_reset(&seen[i]);
    nseen = seen_bytes = 0;
}

/* Records a message the session is about to receive. */
static void seen_note(const eio_packet *pkt)
{
    if (pkt->type != EIO_MESSAGE)
        return;
    if (!pkt->binary) {
        seen_reset();
        text_len = pkt->data.len;
        return;
    }
    if (nseen < MAX_SEEN) {
        rc_buf_reset(&seen[nseen]);
        rc_buf_append(&seen[nseen], pkt->data.p, pkt->data.len);
    }
    nseen++;
    seen_bytes += pkt->data.len;
}

static int feed_packet(gw_session *s, void *conn, const eio_packet *pkt)
{
    seen_note(pkt);
    int rc = gw_session_on_packet(s, conn, pkt);
    if (rc < 0 && s->state == GW_SESSION_OPEN)
        abort();
    drain(s);
    /* after a complete binary packet, the next one starts afresh */
    if (!s->partial && pkt->binary)
        seen_reset();
    return rc;
}

static int post_cb(void *ud, const eio_packet *pkt)
{
    return feed_packet(ud, NULL, pkt) < 0 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int polling = data[0] & 1;
    long max = (data[0] & 2) ? 64 : 100000;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;

    rc_log_min_level = RC_LOG_ERROR; /* faults are routine here */
    cur_max = max;
    gw_options o = fake_options(&app);
    o.max_payload = max;
    o.queue_max = 4 * GW_MAX_ATTACHMENTS;
    gw_server *gw = fake_server(&o);
    if (!gw)
        abort();
    fake_conn ws = {0};
    gw_session *s = gw_session_new(gw, polling ? GW_TR_POLLING : GW_TR_WEBSOCKET, 0, "bearer");
    if (!s)
        abort();
    if (!polling)
        s->ws = &ws;
    drain(s);
    n_accepted = n_pending = n_disconnects = 0;
    seen_reset();
    text_len = 0;

    int open = 1;
    while (open && p < end) {
        const char *sep = memchr(p, polling ? 0xFF : EIO_RECORD_SEP, (size_t)(end - p));
        size_t len = sep ? (size_t)(sep - p) : (size_t)(end - p);
        int rc = 0;
        if ((long)len > max) /* the transport refuses it */
            break;
        if (polling) {
            rc = eio_parse_payload(p, len, post_cb, s);
            if (rc < 0)
                break; /* a malformed payload closes the session */
            open = rc == 0;
        } else {
            eio_packet pkt;
            int bin = len > 0 && p[0] == 'b';
            if (eio_parse_packet(bin ? p + 1 : p, bin ? len - 1 : len, bin, &pkt) != EIO_OK)
                break;
            open = feed_packet(s, &ws, &pkt) == 0;
        }
        p = sep ? sep + 1 : end;
    }
    if (s->state == GW_SESSION_OPEN)
        gw_session_close(s, "end of input", GW_CLOSE_NORMAL, 0);
    if (s->partial)
        abort();
    if (n_disconnects != n_accepted + n_pending)
        abort();
    if (gw->nsockets != 0)
        abort();
    drain(s);
    expect_clear();
    if (!polling)
        gw_session_release(s, &ws);
    gw_server_free_core(gw);
    return 0;
}
