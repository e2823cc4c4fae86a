/*
 * sio.h - Socket.IO v5 packet codec (no I/O), carried in Engine.IO MESSAGEs.
 *
 * <type>[<attachments>-][<nsp>,][<ack id>][JSON]
 * e.g. 2["hello",1]   40{"token":"..."}   2/admin,13["x"]   451-["b",{"_placeholder":true,"num":0}]
 */
#ifndef GW_SIO_H
#define GW_SIO_H

#include <jansson.h>
#include <stddef.h>

#include "core/slice.h"

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

typedef struct sio_packet {
    enum sio_type type;
    rc_slice nsp;     /* "/" when absent; borrowed */
    long attachments; /* BINARY_* only, else 0 */
    long long id;     /* ack id, -1 when absent */
    rc_slice data;    /* raw JSON text, possibly empty; borrowed */
} sio_packet;

enum sio_err {
    SIO_OK = 0,
    SIO_ERR_TYPE = -1,        /* unknown type */
    SIO_ERR_ATTACHMENTS = -2, /* bad attachment count */
    SIO_ERR_NSP = -3,         /* bad namespace */
    SIO_ERR_ID = -4,          /* bad ack id */
    SIO_ERR_PAYLOAD = -5,     /* payload not valid for the type */
    SIO_ERR_NOMEM = -6,       /* encoding only */
};
const char *sio_strerror(int err);

/*
 * Parses the text of one Socket.IO packet and checks the payload shape for
 * the type: CONNECT an object or nothing, CONNECT_ERROR an object or a
 * string, EVENT and BINARY_EVENT a non-empty array starting with a string
 * that is not a reserved name ("connect", "disconnect", ...), ACK an array,
 * DISCONNECT nothing. A namespace must be "/..." followed by ',', without
 * control characters. Ack ids (0 .. 2^53-1) only on EVENT/ACK types, and
 * required on ACK/BINARY_ACK. BINARY_* placeholders
 * {"_placeholder":true,"num":n} have 0 <= n < attachments. When args is not
 * NULL, *args gets the parsed JSON (a new reference) or NULL when there is no
 * payload; on error *args is NULL.
 */
int sio_parse_packet(const char *buf, size_t len, sio_packet *out, json_t **args);

/*
 * Appends an encoded packet (the Socket.IO text only, without the Engine.IO
 * '4'): type, namespace (omitted when NULL, "" or "/"; otherwise it must
 * start with '/' and hold no ','), ack id (omitted when < 0), and data (raw
 * JSON text, may be NULL). Binary types need sio_encode_binary
 * (SIO_ERR_ATTACHMENTS here). Returns 0 or a SIO_ERR_*; out is unchanged on
 * error.
 */
int sio_encode(rc_buf *out, enum sio_type type, const char *nsp, long long id, const char *data,
               size_t data_len);

/*
 * Same for SIO_BINARY_EVENT / SIO_BINARY_ACK: "<type><attachments>-..."; the
 * attachments themselves are sent by the caller as the following binary
 * Engine.IO messages.
 */
int sio_encode_binary(rc_buf *out, enum sio_type type, long attachments, const char *nsp,
                      long long id, const char *data, size_t data_len);

#endif
