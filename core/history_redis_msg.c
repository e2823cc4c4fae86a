/*
 * history_redis_msg.c - the Redis history's message: one event as it goes
 * on the bus and into the room streams.
 *
 * Implementation notes. The message is the envelope, a one-line JSON object
 * written by rc_red_encode_body() with "offset" prepended by the append
 * script, then "\n", then the payload's JSON text as is (so the payload's
 * bytes reach clients unchanged). rc_red_decode_msg() reads what comes back,
 * from the bus or from a stored stream entry, which may have been written
 * by any node or version: it checks the size, every field of the envelope
 * and the payload, and returns NULL with a reason for anything else. The
 * envelope is parsed (jansson); the payload, copied as it is, is only
 * recognised as a JSON object (core/json_check.h), which costs a fraction
 * of building it.
 */
#include "history_redis_private.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"
#include "json_check.h"
#include "slice.h"

#define BUS_MSG_MAX (8u * 1024 * 1024)
#define BUS_ROOMS_MAX 256

/* The envelope without "offset", "\n", the payload. */
int rc_red_encode_body(const rc_event *ev, rc_buf *b)
{
    int bad = 0;
    bad |= rc_buf_puts(b, "{\"id\":");
    bad |= rc_buf_json_string(b, ev->id, strlen(ev->id));
    bad |= rc_buf_puts(b, ",\"name\":");
    bad |= rc_buf_json_string(b, ev->name, strlen(ev->name));
    bad |= rc_buf_puts(b, ",\"rooms\":[");
    for (size_t i = 0; i < ev->nrooms; i++) {
        if (i)
            bad |= rc_buf_puts(b, ",");
        bad |= rc_buf_json_string(b, ev->rooms[i], strlen(ev->rooms[i]));
    }
    bad |= rc_buf_printf(b, "],\"ts\":%" PRId64, ev->occurred_ms);
    if (ev->kafka_ts_ms >= 0)
        bad |= rc_buf_printf(b, ",\"kts\":%" PRId64, ev->kafka_ts_ms);
    if (ev->transient)
        bad |= rc_buf_puts(b, ",\"transient\":true");
    if (ev->member_op != RC_MEMBER_NONE && ev->member_user && ev->member_program) {
        bad |= rc_buf_printf(b, ",\"member\":{\"op\":\"%s\",\"user\":",
                             ev->member_op == RC_MEMBER_ADD ? "add" : "remove");
        bad |= rc_buf_json_string(b, ev->member_user, strlen(ev->member_user));
        bad |= rc_buf_puts(b, ",\"program\":");
        bad |= rc_buf_json_string(b, ev->member_program, strlen(ev->member_program));
        bad |= rc_buf_puts(b, "}");
    }
    bad |= rc_buf_puts(b, "}\n");
    bad |= rc_buf_append(b, ev->payload ? ev->payload : "{}",
                         ev->payload ? ev->payload_len : 2);
    return bad ? -1 : 0;
}

static char *json_dup(json_t *s)
{
    return strndup(json_string_value(s), json_string_length(s));
}

/* A non-empty JSON string without NULs, or NULL. */
static json_t *get_str(json_t *obj, const char *key, int may_be_empty)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || (!may_be_empty && !json_string_length(v)))
        return NULL;
    return v;
}

/* Parses one bus message or stream entry into a new event, or NULL + err. */
rc_event *rc_red_decode_msg(const char *msg, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *env = NULL;
    rc_event *ev = NULL;
    const char *nl;

    if (len > BUS_MSG_MAX) {
        rc_errf(err, errlen, "message of %zu bytes is too large", len);
        return NULL;
    }
    if (!(nl = memchr(msg, '\n', len))) {
        rc_errf(err, errlen, "no payload line");
        return NULL;
    }
    if (!(env = json_loadb(msg, (size_t)(nl - msg), JSON_REJECT_DUPLICATES, &je)) ||
        !json_is_object(env)) {
        rc_errf(err, errlen, "envelope: %.120s", env ? "not an object" : je.text);
        goto fail;
    }
    const char *payload = nl + 1;
    size_t plen = len - (size_t)(payload - msg);
    if (!rc_json_check_object(payload, plen)) {
        rc_errf(err, errlen, "payload: not a JSON object");
        goto fail;
    }
    json_t *off = get_str(env, "offset", 1), *id = get_str(env, "id", 0),
           *name = get_str(env, "name", 0), *rooms = json_object_get(env, "rooms"),
           *ts = json_object_get(env, "ts"), *kts = json_object_get(env, "kts"),
           *tr = json_object_get(env, "transient"), *mem = json_object_get(env, "member");
    if (!off || !id || !name || !json_is_array(rooms) || !json_is_integer(ts) ||
        (kts && !json_is_integer(kts)) || (tr && !json_is_boolean(tr)) ||
        (mem && !json_is_object(mem))) {
        rc_errf(err, errlen, "envelope: a field is missing or has the wrong type");
        goto fail;
    }
    int transient = tr && json_is_true(tr);
    size_t olen = json_string_length(off);
    char ep[RC_OFFSET_MAX];
    uint64_t seq;
    if (olen >= RC_OFFSET_MAX || (transient ? olen != 0 : olen == 0) ||
        (olen && rc_offset_parse(json_string_value(off), ep, sizeof ep, &seq) < 0)) {
        rc_errf(err, errlen, "envelope: bad offset");
        goto fail;
    }
    if (json_array_size(rooms) > BUS_ROOMS_MAX) {
        rc_errf(err, errlen, "envelope: too many rooms");
        goto fail;
    }
    if (!(ev = rc_event_new()))
        goto oom;
    memcpy(ev->offset, json_string_value(off), olen + 1);
    ev->transient = transient;
    ev->occurred_ms = (int64_t)json_integer_value(ts);
    ev->kafka_ts_ms = kts ? (int64_t)json_integer_value(kts) : -1;
    if (!(ev->id = json_dup(id)) || !(ev->name = json_dup(name)))
        goto oom;
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *rm = json_array_get(rooms, i);
        if (!json_is_string(rm) || !json_string_length(rm)) {
            rc_errf(err, errlen, "envelope: bad room");
            goto fail;
        }
        if (rc_event_add_room(ev, json_string_value(rm)) < 0)
            goto oom;
    }
    if (mem) {
        json_t *op = get_str(mem, "op", 0), *user = get_str(mem, "user", 0),
               *prog = get_str(mem, "program", 0);
        if (!op || !user || !prog ||
            (strcmp(json_string_value(op), "add") && strcmp(json_string_value(op), "remove"))) {
            rc_errf(err, errlen, "envelope: bad member");
            goto fail;
        }
        ev->member_op = strcmp(json_string_value(op), "add") ? RC_MEMBER_REMOVE : RC_MEMBER_ADD;
        if (!(ev->member_user = json_dup(user)) || !(ev->member_program = json_dup(prog)))
            goto oom;
    }
    if (!(ev->payload = malloc(plen + 1)))
        goto oom;
    memcpy(ev->payload, payload, plen);
    ev->payload[plen] = '\0';
    ev->payload_len = plen;
    json_decref(env);
    return ev;
oom:
    rc_errf(err, errlen, "out of memory");
fail:
    json_decref(env);
    rc_event_unref(ev);
    return NULL;
}
