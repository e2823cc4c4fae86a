/*
 * sio.c - Socket.IO v5 packet codec: parsing and payload checks of one
 * packet's text, and encoding.
 *
 * Implementation notes. The grammar is the one socket.io-parser v4 decodes
 * (type digit, "<n>-" for binary types, "/nsp," when the next character is
 * '/', ack id digits, JSON), read strictly where the reference is lax:
 *  - the attachment count needs at least one digit and fits 31 bits (the
 *    reference reads "5-[...]" as 0 attachments because Number("") is 0);
 *  - a namespace must end with ',' (the reference takes "0/admin" to the end
 *    of the string; socket.io-client always writes the comma) and holds no
 *    control characters (so it can be echoed in a reply, even in a polling
 *    payload where 0x1E is the separator);
 *  - ack ids are ASCII digits up to 2^53 - 1, the largest integer a
 *    JavaScript peer represents exactly (the reference accepts " " as a
 *    digit, Number(" ") being 0);
 *  - ack ids only on EVENT, ACK and their binary forms, and required on the
 *    two ACK types (an ACK acknowledges an id);
 *  - EVENT and ACK payloads are mandatory, as the protocol spec says (the
 *    reference decoder lets "2" through and the server treats it as []);
 *  - an event name must be a string: the reference also takes a number, but
 *    every client API emits strings and the server dispatches on the name;
 *  - JSON is jansson's strict RFC 8259 decoder with duplicate keys and
 *    \u0000 refused, so that no C string read from it can be truncated or
 *    ambiguous;
 *  - in BINARY_* payloads, every {"_placeholder":true} must carry an integer
 *    "num" below the attachment count (the reference throws at
 *    reconstruction; checking here lets the receiver index buffers blindly).
 * Reserved event names are refused like the reference does.
 */
#include "gateway/server/sio.h"

#include <stdint.h>
#include <stdio.h>

#define SIO_MAX_ACK_ID 9007199254740991LL /* 2^53 - 1 */
#define SIO_MAX_ATTACHMENTS 0x7fffffffL

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

const char *sio_strerror(int err)
{
    switch (err) {
    case SIO_OK:
        return "ok";
    case SIO_ERR_TYPE:
        return "unknown packet type";
    case SIO_ERR_ATTACHMENTS:
        return "bad attachment count";
    case SIO_ERR_NSP:
        return "bad namespace";
    case SIO_ERR_ID:
        return "bad ack id";
    case SIO_ERR_PAYLOAD:
        return "payload not valid for the packet type";
    case SIO_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_binary_type(enum sio_type t)
{
    return t == SIO_BINARY_EVENT || t == SIO_BINARY_ACK;
}

/*
 * Checks the placeholders of a binary packet's payload. Recursion depth is
 * bounded by jansson's parser depth limit.
 */
static int placeholders_valid(const json_t *j, long attachments)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (!placeholders_valid(v, attachments))
                return 0;
        }
        return 1;
    }
    if (!json_is_object(j))
        return 1;
    if (json_is_true(json_object_get(j, "_placeholder"))) {
        json_t *num = json_object_get(j, "num");
        return json_is_integer(num) && json_integer_value(num) >= 0 &&
               json_integer_value(num) < attachments;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        if (!placeholders_valid(v, attachments))
            return 0;
    }
    return 1;
}

static int event_name_valid(const json_t *args)
{
    if (!json_is_array(args) || json_array_size(args) == 0)
        return 0;
    const json_t *name = json_array_get(args, 0);
    if (!json_is_string(name))
        return 0;
    const char *s = json_string_value(name);
    for (size_t i = 0; i < sizeof reserved_events / sizeof *reserved_events; i++)
        if (strcmp(s, reserved_events[i]) == 0)
            return 0;
    return 1;
}

/* isPayloadValid of the reference, with payload absence handled here. */
static int payload_valid(enum sio_type type, const json_t *j)
{
    switch (type) {
    case SIO_CONNECT:
        return j == NULL || json_is_object(j);
    case SIO_DISCONNECT:
        return j == NULL;
    case SIO_CONNECT_ERROR:
        return json_is_object(j) || json_is_string(j);
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        return event_name_valid(j);
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(j);
    }
    return 0;
}

int sio_parse_packet(const char *buf, size_t len, sio_packet *out, json_t **args)
{
    size_t i = 0;
    json_t *j = NULL;
    int rc;

    if (args)
        *args = NULL;
    if (len == 0 || buf[0] < '0' || buf[0] > '6')
        return SIO_ERR_TYPE;
    out->type = (enum sio_type)(buf[0] - '0');
    out->nsp = RC_SLICE_LIT("/");
    out->attachments = 0;
    out->id = -1;
    out->data = (rc_slice){buf + len, 0};
    i = 1;

    if (is_binary_type(out->type)) {
        long n = 0;
        size_t start = i;
        while (i < len && is_digit(buf[i])) {
            n = n * 10 + (buf[i] - '0');
            if (n > SIO_MAX_ATTACHMENTS)
                return SIO_ERR_ATTACHMENTS;
            i++;
        }
        if (i == start || i == len || buf[i] != '-')
            return SIO_ERR_ATTACHMENTS;
        out->attachments = n;
        i++;
    }

    if (i < len && buf[i] == '/') {
        const char *comma = memchr(buf + i, ',', len - i);
        if (!comma)
            return SIO_ERR_NSP;
        for (const char *c = buf + i; c < comma; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return SIO_ERR_NSP;
        out->nsp = (rc_slice){buf + i, (size_t)(comma - (buf + i))};
        i = (size_t)(comma - buf) + 1;
    }

    if (i < len && is_digit(buf[i])) {
        long long id = 0;
        while (i < len && is_digit(buf[i])) {
            id = id * 10 + (buf[i] - '0');
            if (id > SIO_MAX_ACK_ID)
                return SIO_ERR_ID;
            i++;
        }
        out->id = id;
    }
    switch (out->type) {
    case SIO_CONNECT:
    case SIO_DISCONNECT:
    case SIO_CONNECT_ERROR:
        if (out->id >= 0)
            return SIO_ERR_ID;
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        if (out->id < 0)
            return SIO_ERR_ID;
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        break;
    }

    out->data = (rc_slice){buf + i, len - i};
    if (i < len) {
        json_error_t err;
        j = json_loadb(buf + i, len - i, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
        if (!j)
            return SIO_ERR_PAYLOAD;
    }
    if (!payload_valid(out->type, j)) {
        rc = SIO_ERR_PAYLOAD;
        goto fail;
    }
    if (is_binary_type(out->type) && !placeholders_valid(j, out->attachments)) {
        rc = SIO_ERR_PAYLOAD;
        goto fail;
    }
    if (args)
        *args = j;
    else
        json_decref(j);
    return SIO_OK;
fail:
    json_decref(j);
    return rc;
}

static int encode(rc_buf *out, enum sio_type type, long attachments, const char *nsp, long long id,
                  const char *data, size_t data_len)
{
    int custom_nsp = nsp && nsp[0] && strcmp(nsp, "/") != 0;
    if (custom_nsp && (nsp[0] != '/' || strchr(nsp, ',')))
        return SIO_ERR_NSP;
    if (id > SIO_MAX_ACK_ID)
        return SIO_ERR_ID;

    size_t old = out->len;
    char head[48];
    int n;
    if (is_binary_type(type))
        n = snprintf(head, sizeof head, "%d%ld-", (int)type, attachments);
    else
        n = snprintf(head, sizeof head, "%d", (int)type);
    if (rc_buf_append(out, head, (size_t)n) < 0)
        goto nomem;
    if (custom_nsp && (rc_buf_puts(out, nsp) < 0 || rc_buf_append(out, ",", 1) < 0))
        goto nomem;
    if (id >= 0 && rc_buf_printf(out, "%lld", id) < 0)
        goto nomem;
    if (data && data_len && rc_buf_append(out, data, data_len) < 0)
        goto nomem;
    return SIO_OK;
nomem:
    out->len = old;
    if (out->p)
        out->p[old] = '\0';
    return SIO_ERR_NOMEM;
}

int sio_encode(rc_buf *out, enum sio_type type, const char *nsp, long long id, const char *data,
               size_t data_len)
{
    if ((unsigned)type > SIO_BINARY_ACK)
        return SIO_ERR_TYPE;
    if (is_binary_type(type))
        return SIO_ERR_ATTACHMENTS;
    return encode(out, type, 0, nsp, id, data, data_len);
}

int sio_encode_binary(rc_buf *out, enum sio_type type, long attachments, const char *nsp,
                      long long id, const char *data, size_t data_len)
{
    if (!is_binary_type(type))
        return SIO_ERR_TYPE;
    if (attachments < 0 || attachments > SIO_MAX_ATTACHMENTS)
        return SIO_ERR_ATTACHMENTS;
    return encode(out, type, attachments, nsp, id, data, data_len);
}
