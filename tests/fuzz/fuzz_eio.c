/*
 * fuzz_eio.c - libFuzzer target for the Engine.IO codec.
 *
 * The first input byte picks the entry point: a WebSocket text frame, a
 * WebSocket binary frame, or a polling payload. For payloads it also checks
 * a round trip: re-encoding every accepted packet with eio_payload_append
 * must give back the input byte for byte (the parser only accepts canonical
 * base64, so there is exactly one encoding).
 */
#include <stdint.h>
#include <stdlib.h>

#include "gateway/server/eio.h"

static int rebuild_cb(void *ud, const eio_packet *pkt)
{
    rc_buf *out = ud;
    if (pkt->binary && pkt->type != EIO_MESSAGE)
        abort();
    if (eio_payload_append(out, pkt->type, pkt->binary, pkt->data.p,
                           pkt->data.len) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] % 3;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    eio_packet p;

    if (mode < 2) {
        if (eio_parse_packet(buf, len, mode, &p) == EIO_OK) {
            if ((unsigned)p.type > EIO_NOOP)
                abort();
            /* text data is the frame minus its type digit */
            if (!mode && (p.data.p != buf + 1 || p.data.len != len - 1))
                abort();
            if (mode && (p.type != EIO_MESSAGE || p.data.len != len))
                abort();
        }
        return 0;
    }
    rc_buf out = {0};
    int rc = eio_parse_payload(buf, len, rebuild_cb, &out);
    if (rc == EIO_OK && (out.len != len || memcmp(out.p, buf, len) != 0))
        abort();
    rc_buf_free(&out);
    return 0;
}
