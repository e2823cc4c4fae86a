/*
 * fuzz_sio.c - libFuzzer target for the Socket.IO packet parser
 * (gateway/server/sio.c), with binary placeholders. The input is one
 * packet's text. For an accepted packet:
 *  - the fields are within the protocol's bounds: attachments only on the
 *    binary types (0 .. 2^31 - 1), ack ids 0 .. 2^53 - 1, only on the event
 *    and ack types and always on the ack types, a namespace "/..." without
 *    control characters, slices of the input (data is its tail);
 *  - the payload has the type's shape, and in a binary packet every
 *    {"_placeholder":true} has an integer "num" below the attachment count
 *    (checked here by a walk of its own);
 *  - parsing without asking for the JSON gives the same fields;
 *  - it re-encodes from its fields (sio_encode, sio_encode_binary) to text
 *    that parses to the same fields, and so does the packet with its JSON
 *    re-serialised by jansson.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/server/sio.h"

static int same(const sio_packet *a, const sio_packet *b)
{
    return a->type == b->type && a->attachments == b->attachments && a->id == b->id &&
           a->nsp.len == b->nsp.len && !memcmp(a->nsp.p, b->nsp.p, a->nsp.len);
}

/* Every placeholder of j is {"_placeholder":true,"num":<0..n-1>}. */
static int placeholders_ok(json_t *j, long n)
{
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (!placeholders_ok(v, n))
                return 0;
        }
        return 1;
    }
    if (!json_is_object(j))
        return 1;
    if (json_is_true(json_object_get(j, "_placeholder"))) {
        json_t *num = json_object_get(j, "num");
        return json_is_integer(num) && json_integer_value(num) >= 0 && json_integer_value(num) < n;
    }
    json_object_foreach(j, k, v)
    {
        if (!placeholders_ok(v, n))
            return 0;
    }
    return 1;
}

static int shape_ok(const sio_packet *p, json_t *j)
{
    static const char *const reserved[] = {"connect",       "connect_error", "disconnect",
                                           "disconnecting", "newListener",   "removeListener"};
    switch (p->type) {
    case SIO_CONNECT:
        return !j || json_is_object(j);
    case SIO_DISCONNECT:
        return !j;
    case SIO_CONNECT_ERROR:
        return json_is_object(j) || json_is_string(j);
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        const char *name = json_string_value(json_array_get(j, 0));
        if (!name)
            return 0;
        for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
            if (!strcmp(name, reserved[i]))
                return 0;
        return 1;
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(j);
    }
    return 0;
}

/* Encodes p's fields with data (len bytes); the result must parse to the
 * same fields and data, and to *args' JSON when args is given. */
static void reencode(const sio_packet *p, const char *nsp, const char *data, size_t len,
                     json_t **args)
{
    sio_packet q_, *q = &q_;
    rc_buf out = {0};
    int rc;
    if (p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK)
        rc = sio_encode_binary(&out, p->type, p->attachments, nsp, p->id, data, len);
    else
        rc = sio_encode(&out, p->type, nsp, p->id, data, len);
    if (rc != SIO_OK)
        abort();
    if (sio_parse_packet(out.p, out.len, q, args) != SIO_OK || !same(p, q) || q->data.len != len ||
        memcmp(q->data.p, data, len))
        abort();
    rc_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    sio_packet p, q;
    json_t *args = NULL;

    int rc = sio_parse_packet(buf, size, &p, &args);
    if (rc != SIO_OK) {
        if (args || rc >= 0 || sio_parse_packet(buf, size, &q, NULL) != rc)
            abort();
        return 0;
    }
    if (sio_parse_packet(buf, size, &q, NULL) != SIO_OK || !same(&p, &q) || q.data.p != p.data.p ||
        q.data.len != p.data.len)
        abort();

    /* bounds */
    int binary = p.type == SIO_BINARY_EVENT || p.type == SIO_BINARY_ACK;
    int acks = p.type == SIO_ACK || p.type == SIO_BINARY_ACK;
    int may_id = acks || p.type == SIO_EVENT || p.type == SIO_BINARY_EVENT;
    if ((unsigned)p.type > SIO_BINARY_ACK || p.attachments < 0 || p.attachments > 0x7fffffffL ||
        (!binary && p.attachments) || p.id < -1 || p.id > 9007199254740991LL ||
        (!may_id && p.id >= 0) || (acks && p.id < 0))
        abort();
    if (p.data.p + p.data.len != buf + size || (p.data.len == 0) != (args == NULL))
        abort();
    if (p.nsp.len == 0 || p.nsp.p[0] != '/')
        abort();
    /* a namespace is cut from the input before the data, or is the default */
    uintptr_t ns = (uintptr_t)p.nsp.p, in = (uintptr_t)buf;
    if (ns >= in && ns < in + size ? ns + p.nsp.len > (uintptr_t)p.data.p : p.nsp.len != 1)
        abort();
    for (size_t i = 0; i < p.nsp.len; i++)
        if ((unsigned char)p.nsp.p[i] < 0x20 || p.nsp.p[i] == 0x7f)
            abort();
    if (!shape_ok(&p, args) || (binary && !placeholders_ok(args, p.attachments)))
        abort();

    char *nsp = strndup(p.nsp.p, p.nsp.len);
    /* encoded from its fields, it parses to the same packet */
    reencode(&p, nsp, p.data.p, p.data.len, NULL);
    /* and so with jansson's serialisation of its JSON */
    if (args) {
        json_t *again = NULL;
        char *text = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            abort();
        reencode(&p, nsp, text, strlen(text), &again);
        if (!json_equal(args, again))
            abort();
        json_decref(again);
        free(text);
    }
    json_decref(args);
    free(nsp);
    return 0;
}
