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

#include "core/base64.h"
#include "core/utf8.h"

const char *eio_strerror(int err)
{
    switch (err) {
    case EIO_OK:
        return "ok";
    case EIO_ERR_EMPTY:
        return "empty packet";
    case EIO_ERR_TYPE:
        return "unknown packet type";
    case EIO_ERR_BASE64:
        return "bad base64 in binary packet";
    case EIO_ERR_NOMEM:
        return "out of memory";
    case EIO_ERR_DATA:
        return "data not valid for the packet type";
    case EIO_ERR_UTF8:
        return "text packet is not valid UTF-8";
    default:
        return "unknown error";
    }
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
    if (!rc_utf8_valid(data, len))
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

/* ---- polling payloads ---- */

int eio_parse_payload(const char *buf, size_t len, int (*cb)(void *ud, const eio_packet *pkt),
                      void *ud)
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
            size_t b64len = plen - 1, n;
            size_t need = rc_base64_decoded_max(b64len, RC_B64_STD);
            if (need > scratch_cap) {
                unsigned char *p = realloc(scratch, need);
                if (!p) {
                    rc = EIO_ERR_NOMEM;
                    goto done;
                }
                scratch = p;
                scratch_cap = need;
            }
            if (rc_base64_decode(start + 1, b64len, scratch, scratch_cap, &n, RC_B64_STD) < 0) {
                rc = EIO_ERR_BASE64;
                goto done;
            }
            pkt.type = EIO_MESSAGE;
            pkt.binary = 1;
            pkt.data = (rc_slice){n ? (const char *)scratch : "", n};
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

int eio_payload_append(rc_buf *out, enum eio_type type, int binary, const char *data, size_t len)
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
        size_t n = rc_base64_encoded_len(len, RC_B64_STD);
        if (n == SIZE_MAX || rc_buf_reserve(out, n) < 0)
            goto nomem;
        out->len += rc_base64_encode(out->p + out->len, data, len, RC_B64_STD);
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

int eio_encode_open(rc_buf *out, const char *sid, int allow_upgrade, int ping_interval_ms,
                    int ping_timeout_ms, long max_payload)
{
    size_t old = out->len;
    if (rc_buf_puts(out, "0{\"sid\":") < 0 || rc_buf_json_string(out, sid, strlen(sid)) < 0 ||
        rc_buf_printf(out,
                      ",\"upgrades\":%s,\"pingInterval\":%d,"
                      "\"pingTimeout\":%d,\"maxPayload\":%ld}",
                      allow_upgrade ? "[\"websocket\"]" : "[]", ping_interval_ms, ping_timeout_ms,
                      max_payload) < 0) {
        out->len = old;
        if (out->p)
            out->p[old] = '\0';
        return EIO_ERR_NOMEM;
    }
    return EIO_OK;
}
