/*
 * eio.c - Engine.IO v4 packet codec: WebSocket frames, polling payloads and
 * the OPEN packet.
 *
 * Implementation notes. Parsing never copies text: packets are slices of the
 * caller's buffer. The only allocation is the scratch buffer a polling
 * payload's binary packets are base64-decoded into; it is reused for every
 * binary packet of the payload and never exceeds 3/4 of the largest one, so
 * its size is bounded by the payload the caller already holds.
 *
 * Strictness, beyond the type digit: text packets must be valid UTF-8 (the
 * spec says text is UTF-8; every JSON consumer downstream assumes it), CLOSE,
 * UPGRADE and NOOP carry no data, PING and PONG carry nothing or "probe"
 * (the only data the v4 heartbeat and upgrade use), base64 must be canonical
 * RFC 4648 with padding (what Buffer.toString("base64") and FileReader
 * produce). The 'b' prefix exists only in polling payloads; a WebSocket text
 * frame starting with 'b' is an unknown type. An empty binary WebSocket
 * frame is a MESSAGE with no bytes (an empty Socket.IO attachment), not an
 * empty packet.
 */
#include "gateway/server/eio.h"

#include <stdint.h>
#include <stdlib.h>

const char *eio_strerror(int err)
{
    switch (err) {
    case EIO_OK: return "ok";
    case EIO_ERR_EMPTY: return "empty packet";
    case EIO_ERR_TYPE: return "unknown packet type";
    case EIO_ERR_BASE64: return "bad base64 in binary packet";
    case EIO_ERR_NOMEM: return "out of memory";
    case EIO_ERR_DATA: return "data not valid for the packet type";
    case EIO_ERR_UTF8: return "text packet is not valid UTF-8";
    default: return "unknown error";
    }
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += n + 1;
    }
    return 1;
}

/* Checks the data of a text packet of the given type. */
static int check_text(enum eio_type type, const char *data, size_t len)
{
    switch (type) {
    case EIO_CLOSE:
    case EIO_UPGRADE:
    case EIO_NOOP:
        if (len != 0)
            return EIO_ERR_DATA;
        break;
    case EIO_PING:
    case EIO_PONG:
        if (len != 0 && !(len == 5 && memcmp(data, "probe", 5) == 0))
            return EIO_ERR_DATA;
        break;
    case EIO_OPEN:
    case EIO_MESSAGE:
        break;
    }
    if (!utf8_valid((const unsigned char *)data, len))
        return EIO_ERR_UTF8;
    return EIO_OK;
}

/* Parses one text packet "<digit>[data]" (already split from a payload). */
static int parse_text(const char *buf, size_t len, eio_packet *out)
{
    if (len == 0)
        return EIO_ERR_EMPTY;
    if (buf[0] < '0' || buf[0] > '6')
        return EIO_ERR_TYPE;
    enum eio_type type = (enum eio_type)(buf[0] - '0');
    int rc = check_text(type, buf + 1, len - 1);
    if (rc < 0)
        return rc;
    out->type = type;
    out->binary = 0;
    out->data = (rc_slice){buf + 1, len - 1};
    return EIO_OK;
}

int eio_parse_packet(const char *buf, size_t len, int binary, eio_packet *out)
{
    if (binary) {
        out->type = EIO_MESSAGE;
        out->binary = 1;
        out->data = (rc_slice){len ? buf : "", len};
        return EIO_OK;
    }
    return parse_text(buf, len, out);
}

/* ---- base64 (RFC 4648 section 4, padded) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decodes canonical padded base64 into out (room for len / 4 * 3 bytes);
 * returns the decoded length or -1.
 */
static long b64_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) /* data after padding */
                return -1;
            v[k] = b64_value(c);
            if (v[k] < 0)
                return -1;
        }
        /* Non-canonical: bits below the last full byte must be zero. */
        if (pad == 2 && (v[1] & 0x0F))
            return -1;
        if (pad == 1 && (v[2] & 0x03))
            return -1;
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) |
                     ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    return (long)o;
}

static int b64_append(rc_buf *out, const unsigned char *in, size_t len)
{
    if (len > ((size_t)-1 - 8) / 4 * 3)
        return -1;
    size_t n = (len + 2) / 3 * 4;
    if (rc_buf_reserve(out, n) < 0)
        return -1;
    char *o = out->p + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) |
                     in[i + 2];
        *o++ = b64_alphabet[(w >> 18) & 63];
        *o++ = b64_alphabet[(w >> 12) & 63];
        *o++ = b64_alphabet[(w >> 6) & 63];
        *o++ = b64_alphabet[w & 63];
    }
    if (len - i == 1) {
        uint32_t w = (uint32_t)in[i] << 16;
        *o++ = b64_alphabet[(w >> 18) & 63];
        *o++ = b64_alphabet[(w >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t w = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        *o++ = b64_alphabet[(w >> 18) & 63];
        *o++ = b64_alphabet[(w >> 12) & 63];
        *o++ = b64_alphabet[(w >> 6) & 63];
        *o++ = '=';
    }
    out->len += n;
    out->p[out->len] = '\0';
    return 0;
}

/* ---- polling payloads ---- */

int eio_parse_payload(const char *buf, size_t len,
                      int (*cb)(void *ud, const eio_packet *pkt), void *ud)
{
    unsigned char *scratch = NULL; /* owned, reused across binary packets */
    size_t scratch_cap = 0;
    int rc = EIO_OK;

    if (len == 0)
        return EIO_ERR_EMPTY;
    size_t pos = 0;
    for (;;) {
        const char *start = buf + pos;
        const char *sep = memchr(start, EIO_RECORD_SEP, len - pos);
        size_t plen = sep ? (size_t)(sep - start) : len - pos;
        eio_packet pkt;

        if (plen > 0 && start[0] == 'b') {
            size_t b64len = plen - 1;
            size_t need = b64len / 4 * 3;
            if (need > scratch_cap) {
                unsigned char *p = realloc(scratch, need);
                if (!p) {
                    rc = EIO_ERR_NOMEM;
                    goto done;
                }
                scratch = p;
                scratch_cap = need;
            }
            long n = b64_decode(start + 1, b64len, scratch);
            if (n < 0) {
                rc = EIO_ERR_BASE64;
                goto done;
            }
            pkt.type = EIO_MESSAGE;
            pkt.binary = 1;
            pkt.data = (rc_slice){n ? (const char *)scratch : "", (size_t)n};
        } else {
            rc = parse_text(start, plen, &pkt);
            if (rc < 0)
                goto done;
        }
        rc = cb(ud, &pkt);
        if (rc != 0 || !sep)
            goto done;
        pos += plen + 1;
    }
done:
    free(scratch);
    return rc;
}

int eio_payload_append(rc_buf *out, enum eio_type type, int binary,
                       const char *data, size_t len)
{
    if ((unsigned)type > EIO_NOOP)
        return EIO_ERR_TYPE;
    if (binary && type != EIO_MESSAGE)
        return EIO_ERR_TYPE;
    if (!binary && len && memchr(data, EIO_RECORD_SEP, len))
        return EIO_ERR_DATA;
    size_t old = out->len;
    if (old && rc_buf_append(out, "\x1e", 1) < 0)
        return EIO_ERR_NOMEM;
    char head = binary ? 'b' : (char)('0' + type);
    if (rc_buf_append(out, &head, 1) < 0)
        goto nomem;
    if (binary) {
        if (b64_append(out, (const unsigned char *)data, len) < 0)
            goto nomem;
    } else if (rc_buf_append(out, data, len) < 0) {
        goto nomem;
    }
    return EIO_OK;
nomem:
    out->len = old;
    if (out->p)
        out->p[old] = '\0';
    return EIO_ERR_NOMEM;
}

int eio_payload_append_encoded(rc_buf *out, const char *pkt, size_t len)
{
    if (len == 0)
        return EIO_ERR_EMPTY;
    if (pkt[0] < '0' || pkt[0] > '6')
        return EIO_ERR_TYPE;
    if (memchr(pkt, EIO_RECORD_SEP, len))
        return EIO_ERR_DATA;
    size_t old = out->len;
    if (old && rc_buf_append(out, "\x1e", 1) < 0)
        return EIO_ERR_NOMEM;
    if (rc_buf_append(out, pkt, len) < 0) {
        out->len = old;
        if (out->p)
            out->p[old] = '\0';
        return EIO_ERR_NOMEM;
    }
    return EIO_OK;
}

int eio_encode_open(rc_buf *out, const char *sid, int allow_upgrade,
                    int ping_interval_ms, int ping_timeout_ms, long max_payload)
{
    size_t old = out->len;
    if (rc_buf_puts(out, "0{\"sid\":") < 0 ||
        rc_buf_json_string(out, sid, strlen(sid)) < 0 ||
        rc_buf_printf(out,
                      ",\"upgrades\":%s,\"pingInterval\":%d,"
                      "\"pingTimeout\":%d,\"maxPayload\":%ld}",
                      allow_upgrade ? "[\"websocket\"]" : "[]",
                      ping_interval_ms, ping_timeout_ms, max_payload) < 0) {
        out->len = old;
        if (out->p)
            out->p[old] = '\0';
        return EIO_ERR_NOMEM;
    }
    return EIO_OK;
}
