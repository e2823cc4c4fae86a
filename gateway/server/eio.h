/*
 * eio.h - Engine.IO v4 packet codec (no I/O).
 *
 * A packet is a type digit followed by data. Over WebSocket one frame is one
 * packet; a binary frame is a MESSAGE whose data is the frame itself. Over
 * HTTP long-polling a payload is packets joined by the record separator
 * 0x1E, a binary packet being 'b' + base64(data).
 */
#ifndef GW_EIO_H
#define GW_EIO_H

#include <stddef.h>

#include "core/slice.h"

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
};

#define EIO_RECORD_SEP '\x1e'

typedef struct eio_packet {
    enum eio_type type;
    int binary;    /* 1 for binary data (always a MESSAGE) */
    rc_slice data; /* borrowed from the input (or from a decode buffer) */
} eio_packet;

enum eio_err {
    EIO_OK = 0,
    EIO_ERR_EMPTY = -1,  /* zero-length packet */
    EIO_ERR_TYPE = -2,   /* unknown packet type */
    EIO_ERR_BASE64 = -3, /* bad base64 in a polling binary packet */
    EIO_ERR_NOMEM = -4,
    EIO_ERR_DATA = -5, /* data not allowed for the type (e.g. "5x", "2ping") */
    EIO_ERR_UTF8 = -6, /* text packet that is not valid UTF-8 */
};
const char *eio_strerror(int err);

/*
 * One WebSocket frame (binary says which opcode it came with). A binary frame
 * is a MESSAGE (possibly empty); a text frame must be "<0-6>[data]", valid
 * UTF-8, with no data for CLOSE/UPGRADE/NOOP and nothing or "probe" for
 * PING/PONG. out->data points into buf.
 */
int eio_parse_packet(const char *buf, size_t len, int binary, eio_packet *out);

/*
 * Splits a polling payload (an HTTP POST body) and calls cb for each packet in
 * order; binary packets are base64-decoded into a scratch buffer valid only
 * during the callback. Stops at the first error or the first non-zero cb
 * return and returns it.
 */
int eio_parse_payload(const char *buf, size_t len, int (*cb)(void *ud, const eio_packet *pkt),
                      void *ud);

/*
 * Appends one packet to a polling payload being built in out, inserting the
 * separator if out is not empty; binary data is written as 'b' + base64.
 * For text, data is the packet *without* its type digit when type is given
 * separately; see eio_payload_append_encoded for packets that already carry
 * the digit. Text containing the separator is refused (EIO_ERR_DATA), binary
 * is only allowed for EIO_MESSAGE. On error out is unchanged.
 */
int eio_payload_append(rc_buf *out, enum eio_type type, int binary, const char *data, size_t len);

/* Appends an already-encoded text packet ("4..." etc.) to a polling payload. */
int eio_payload_append_encoded(rc_buf *out, const char *pkt, size_t len);

/* The OPEN packet: 0{"sid":...,"upgrades":[...],"pingInterval":..,...}. */
int eio_encode_open(rc_buf *out, const char *sid, int allow_upgrade, int ping_interval_ms,
                    int ping_timeout_ms, long max_payload);

#endif
