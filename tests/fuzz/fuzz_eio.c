/*
 * fuzz_eio.c - libFuzzer target for the Engine.IO codec
 * (gateway/server/eio.c): eio_parse_packet and eio_parse_payload, against
 * their encoders eio_payload_append and eio_payload_append_encoded.
 *
 * Byte 0 % 3 picks the entry point for the rest:
 *  0: a WebSocket text frame. An accepted packet is a type 0-6 whose data
 *     is the frame after its digit (a slice of the input, no copy), obeys
 *     the type's rules (nothing for CLOSE, UPGRADE and NOOP; nothing or
 *     "probe" for PING and PONG) and encodes back to the frame (or is
 *     refused by the polling encoder exactly when it holds 0x1E).
 *  1: a WebSocket binary frame: always a MESSAGE of the frame's bytes.
 *  2: a polling payload. An accepted payload re-encodes to the same bytes
 *     (the parser only accepts canonical base64, so each has one text),
 *     has one packet per 0x1E plus one, and each packet is what parsing
 *     its piece alone gives (eio_parse_packet for text, base64 for 'b').
 *     A refused payload is refused for its first bad piece.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base64.h"
#include "gateway/server/eio.h"

/* The pieces a payload splits into, and what is rebuilt from its packets. */
typedef struct walk {
    const char *buf; /* the payload */
    size_t len;
    size_t pos; /* where the current piece starts */
    rc_buf out; /* re-encoded */
    size_t n;   /* packets seen */
} walk;

static size_t piece_len(const walk *w)
{
    const char *p = w->buf + w->pos;
    const char *sep = memchr(p, EIO_RECORD_SEP, w->len - w->pos);
    return sep ? (size_t)(sep - p) : w->len - w->pos;
}

/* Parses one piece alone: text with eio_parse_packet, 'b' with base64.
 * The decoded bytes of a binary piece go to bin. */
static int parse_piece(const char *p, size_t len, eio_packet *out, rc_buf *bin)
{
    if (len > 0 && p[0] == 'b') {
        size_t cap = rc_base64_decoded_max(len - 1, RC_B64_STD), n = 0;
        rc_buf_reset(bin);
        if (rc_buf_reserve(bin, cap + 1) < 0)
            abort();
        if (rc_base64_decode(p + 1, len - 1, bin->p, cap, &n, RC_B64_STD) < 0)
            return EIO_ERR_BASE64;
        bin->len = n;
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = (rc_slice){bin->p, n};
        return EIO_OK;
    }
    return eio_parse_packet(p, len, 0, out);
}

static int payload_cb(void *ud, const eio_packet *pkt)
{
    walk *w = ud;
    if (w->pos > w->len)
        abort(); /* more packets than pieces */
    const char *piece = w->buf + w->pos;
    size_t len = piece_len(w);
    if ((unsigned)pkt->type > EIO_NOOP || (pkt->binary && pkt->type != EIO_MESSAGE))
        abort();
    /* what the piece says when parsed alone */
    eio_packet alone;
    rc_buf bin = {0};
    if (parse_piece(piece, len, &alone, &bin) != EIO_OK || alone.type != pkt->type ||
        alone.binary != pkt->binary || alone.data.len != pkt->data.len ||
        (pkt->data.len && memcmp(alone.data.p, pkt->data.p, pkt->data.len) != 0))
        abort();
    rc_buf_free(&bin);
    if (pkt->binary) {
        if (pkt->data.len > (len - 1) / 4 * 3)
            abort();
    } else if (pkt->data.p != piece + 1 || pkt->data.len != len - 1) {
        abort(); /* text is a slice of the payload */
    }
    if (eio_payload_append(&w->out, pkt->type, pkt->binary, pkt->data.p, pkt->data.len) != 0)
        abort();
    w->pos += len + 1;
    w->n++;
    return 0;
}

static void fuzz_text(const char *buf, size_t len)
{
    eio_packet p;
    int rc = eio_parse_packet(buf, len, 0, &p);
    if (rc != EIO_OK) {
        if (rc >= 0 || !eio_strerror(rc)[0])
            abort();
        return;
    }
    if ((unsigned)p.type > EIO_NOOP || p.binary)
        abort();
    /* text data is the frame minus its type digit */
    if (len < 1 || buf[0] != '0' + (int)p.type || p.data.p != buf + 1 || p.data.len != len - 1)
        abort();
    switch (p.type) {
    case EIO_CLOSE:
    case EIO_UPGRADE:
    case EIO_NOOP:
        if (p.data.len)
            abort();
        break;
    case EIO_PING:
    case EIO_PONG:
        if (p.data.len && !(p.data.len == 5 && !memcmp(p.data.p, "probe", 5)))
            abort();
        break;
    default:
        break;
    }
    /* the polling encoders give the frame back, or refuse a separator */
    rc_buf a = {0}, b = {0};
    int has_sep = memchr(buf, EIO_RECORD_SEP, len) != NULL;
    int ra = eio_payload_append(&a, p.type, 0, p.data.p, p.data.len);
    int rb = eio_payload_append_encoded(&b, buf, len);
    if (has_sep) {
        if (ra != EIO_ERR_DATA || rb != EIO_ERR_DATA || a.len || b.len)
            abort();
    } else if (ra || rb || a.len != len || b.len != len || memcmp(a.p, buf, len) ||
               memcmp(b.p, buf, len)) {
        abort();
    }
    rc_buf_free(&a);
    rc_buf_free(&b);
}

static void fuzz_binary(const char *buf, size_t len)
{
    eio_packet p;
    if (eio_parse_packet(buf, len, 1, &p) != EIO_OK || p.type != EIO_MESSAGE || !p.binary ||
        p.data.len != len || (len && p.data.p != buf))
        abort();
}

static void fuzz_payload(const char *buf, size_t len)
{
    walk w = {.buf = buf, .len = len};
    int rc = eio_parse_payload(buf, len, payload_cb, &w);
    if (rc == EIO_OK) {
        size_t seps = 0;
        for (size_t i = 0; i < len; i++)
            seps += buf[i] == EIO_RECORD_SEP;
        if (w.n != seps + 1 || w.out.len != len || memcmp(w.out.p, buf, len) != 0)
            abort();
    } else if (len == 0) {
        if (rc != EIO_ERR_EMPTY)
            abort();
    } else {
        /* the pieces before the current one were fine: it is the bad one */
        eio_packet alone;
        rc_buf bin = {0};
        if (w.pos > len || rc == EIO_ERR_NOMEM ||
            parse_piece(buf + w.pos, piece_len(&w), &alone, &bin) != rc)
            abort();
        rc_buf_free(&bin);
    }
    rc_buf_free(&w.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_text(buf, len);
        break;
    case 1:
        fuzz_binary(buf, len);
        break;
    default:
        fuzz_payload(buf, len);
        break;
    }
    return 0;
}
