/*
 * test_history_redis_msg.c - the Redis history's message, both ways: what
 * rc_red_encode_body writes (with the offset the script adds) reads back
 * as the same event, and rc_red_decode_msg gives the same answer (the
 * event, field by field, or the same error) as the decoder it replaced,
 * which read every envelope with jansson, on real envelopes and on many
 * thousands of mutations of them.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/errstr.h"
#include "core/history_redis_private.h"

/* ---- the reference: the jansson decoder, as it was ---- */

static json_t *get_str(json_t *obj, const char *key, int may_be_empty)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || (!may_be_empty && !json_string_length(v)))
        return NULL;
    return v;
}

/* The event as text, or "error: ..." (what rc_red_decode_msg says). */
static void describe(const rc_event *ev, const char *err, char *out, size_t outlen)
{
    if (!ev) {
        snprintf(out, outlen, "error: %s", err);
        return;
    }
    size_t n = (size_t)snprintf(out, outlen, "off=%s id=%s name=%s tr=%d ts=%lld kts=%lld m=%d",
                                ev->offset, ev->id, ev->name, ev->transient,
                                (long long)ev->occurred_ms, (long long)ev->kafka_ts_ms,
                                (int)ev->member_op);
    if (ev->member_op != RC_MEMBER_NONE && n < outlen)
        n += (size_t)snprintf(out + n, outlen - n, " u=%s p=%s", ev->member_user,
                              ev->member_program);
    for (size_t i = 0; i < ev->nrooms && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, " room=%s", ev->rooms[i]);
    if (n < outlen)
        snprintf(out + n, outlen - n, " payload=%.*s", (int)ev->payload_len, ev->payload);
}

static void reference(const char *msg, size_t len, char *out, size_t outlen)
{
    char err[160];
    json_error_t je;
    json_t *env = NULL;
    rc_event *ev = NULL;
    const char *nl = memchr(msg, '\n', len);
    if (!nl) {
        rc_errf(err, sizeof err, "no payload line");
        goto fail;
    }
    if (!(env = json_loadb(msg, (size_t)(nl - msg), JSON_REJECT_DUPLICATES, &je)) ||
        !json_is_object(env)) {
        rc_errf(err, sizeof err, "envelope: %.120s", env ? "not an object" : je.text);
        goto fail;
    }
    const char *payload = nl + 1;
    size_t plen = len - (size_t)(payload - msg);
    json_t *pl = json_loadb(payload, plen, 0, &je);
    int obj = pl && json_is_object(pl);
    json_decref(pl);
    if (!obj) {
        rc_errf(err, sizeof err, "payload: not a JSON object");
        goto fail;
    }
    json_t *off = get_str(env, "offset", 1), *id = get_str(env, "id", 0),
           *name = get_str(env, "name", 0), *rooms = json_object_get(env, "rooms"),
           *ts = json_object_get(env, "ts"), *kts = json_object_get(env, "kts"),
           *tr = json_object_get(env, "transient"), *mem = json_object_get(env, "member");
    if (!off || !id || !name || !json_is_array(rooms) || !json_is_integer(ts) ||
        (kts && !json_is_integer(kts)) || (tr && !json_is_boolean(tr)) ||
        (mem && !json_is_object(mem))) {
        rc_errf(err, sizeof err, "envelope: a field is missing or has the wrong type");
        goto fail;
    }
    int transient = tr && json_is_true(tr);
    size_t olen = json_string_length(off);
    char ep[RC_OFFSET_MAX];
    uint64_t seq;
    if (olen >= RC_OFFSET_MAX || (transient ? olen != 0 : olen == 0) ||
        (olen && rc_offset_parse(json_string_value(off), ep, sizeof ep, &seq) < 0)) {
        rc_errf(err, sizeof err, "envelope: bad offset");
        goto fail;
    }
    if (json_array_size(rooms) > 256) {
        rc_errf(err, sizeof err, "envelope: too many rooms");
        goto fail;
    }
    ev = rc_event_new();
    memcpy(ev->offset, json_string_value(off), olen + 1);
    ev->transient = transient;
    ev->occurred_ms = (int64_t)json_integer_value(ts);
    ev->kafka_ts_ms = kts ? (int64_t)json_integer_value(kts) : -1;
    ev->id = strdup(json_string_value(id));
    ev->name = strdup(json_string_value(name));
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *rm = json_array_get(rooms, i);
        if (!json_is_string(rm) || !json_string_length(rm)) {
            rc_errf(err, sizeof err, "envelope: bad room");
            goto fail;
        }
        rc_event_add_room(ev, json_string_value(rm));
    }
    if (mem) {
        json_t *op = get_str(mem, "op", 0), *user = get_str(mem, "user", 0),
               *prog = get_str(mem, "program", 0);
        if (!op || !user || !prog ||
            (strcmp(json_string_value(op), "add") && strcmp(json_string_value(op), "remove"))) {
            rc_errf(err, sizeof err, "envelope: bad member");
            goto fail;
        }
        ev->member_op = strcmp(json_string_value(op), "add") ? RC_MEMBER_REMOVE : RC_MEMBER_ADD;
        ev->member_user = strdup(json_string_value(user));
        ev->member_program = strdup(json_string_value(prog));
    }
    ev->payload = strndup(payload, plen);
    ev->payload_len = plen;
    describe(ev, NULL, out, outlen);
    json_decref(env);
    rc_event_unref(ev);
    return;
fail:
    describe(NULL, err, out, outlen);
    json_decref(env);
    rc_event_unref(ev);
}

static int same(const char *msg, size_t len, int verbose)
{
    char want[4096], got[4096], err[160] = "";
    reference(msg, len, want, sizeof want);
    rc_event *ev = rc_red_decode_msg(msg, len, err, sizeof err);
    describe(ev, err, got, sizeof got);
    rc_event_unref(ev);
    if (strcmp(want, got) && verbose)
        fprintf(stderr, "differs on %.*s\n  reference: %s\n  decoder:   %s\n", (int)len, msg, want,
                got);
    return strcmp(want, got) == 0;
}

/* ---- cases ---- */

static const char *seeds[] = {
    "{\"offset\":\"8dbeb2fc6e3432fa-42\",\"id\":\"evt-1\",\"name\":\"member:added\",\"rooms\":"
    "[\"program:p1\",\"user:u2\"],\"ts\":1763719200000,\"kts\":1763719200123,\"member\":"
    "{\"op\":\"add\",\"user\":\"u2\",\"program\":\"p1\"}}\n{\"eventId\":\"evt-1\"}",
    "{\"offset\":\"\",\"id\":\"j\\u00e9\\n\\\"q\\\"\",\"name\":\"job:progress\",\"rooms\":"
    "[\"user:\\ud83d\\ude00\"],\"ts\":-5,\"transient\":true}\n{\"p\":[1,2.5,{\"x\":null}]}",
    " { \"rooms\" : [ ] , \"ts\" : 0 , \"name\" : \"n\" , \"id\" : \"i\" , \"offset\" : \"e-1\" , "
    "\"transient\" : false } \n{}",
    "{\"offset\":\"e-7\",\"id\":\"x\",\"name\":\"n\",\"rooms\":[\"a\",\"b\",\"a\"],\"ts\":1,"
    "\"member\":{\"op\":\"remove\",\"user\":\"u\",\"program\":\"p\"},\"extra\":[1,{\"k\":2}]}\n{}",
};

static void test_round_trip(void)
{
    rc_event *ev = rc_event_new();
    ev->id = strdup("evt-\"1\"\\\xc3\xa9");
    ev->name = strdup("member:removed");
    rc_event_add_room(ev, "program:p1");
    rc_event_add_room(ev, "user:u\t2");
    ev->occurred_ms = 1763719200000;
    ev->kafka_ts_ms = 1763719200123;
    ev->member_op = RC_MEMBER_REMOVE;
    ev->member_user = strdup("u\t2");
    ev->member_program = strdup("p1");
    ev->payload = strdup("{\"eventId\":\"evt-1\",\"data\":{\"n\": 1.50}}");
    ev->payload_len = strlen(ev->payload);
    rc_buf b = {0}, msg = {0};
    CHECK_INT(rc_red_encode_body(ev, &b), 0);
    /* what the append script writes in front */
    rc_buf_puts(&msg, "{\"offset\":\"8dbeb2fc6e3432fa-42\",");
    rc_buf_append(&msg, b.p + 1, b.len - 1);
    char err[160];
    rc_event *back = rc_red_decode_msg(msg.p, msg.len, err, sizeof err);
    CHECK(back != NULL);
    if (back) {
        CHECK_STR(back->offset, "8dbeb2fc6e3432fa-42");
        CHECK_STR(back->id, ev->id);
        CHECK_STR(back->name, ev->name);
        CHECK_INT(back->nrooms, 2);
        CHECK_STR(back->rooms[1], "user:u\t2");
        CHECK_INT(back->occurred_ms, ev->occurred_ms);
        CHECK_INT(back->kafka_ts_ms, ev->kafka_ts_ms);
        CHECK_INT(back->member_op, RC_MEMBER_REMOVE);
        CHECK_STR(back->member_user, "u\t2");
        CHECK_STR(back->payload, ev->payload);
    }
    CHECK(same(msg.p, msg.len, 1));
    rc_event_unref(back);
    rc_event_unref(ev);
    rc_buf_free(&b);
    rc_buf_free(&msg);
}

static void test_cases(void)
{
    const char *cases[] = {
        "{}\n{}", "[]\n{}", "{\"offset\":\"e-1\"}\n{}", "no newline",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n[]",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1.0}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1e3}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":01}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":-0}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":9223372036854775807}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":92233720368547758070}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"ts\":2}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[\"\"],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[1],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":\"r\",\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"kts\":null}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"transient\":1}\n{}",
        "{\"offset\":\"\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"transient\":true}\n{}",
        "{\"offset\":\"x\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\\u0000\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\\ud800\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\\udc00\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"\xc3\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"member\":{}}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"member\":"
        "{\"op\":\"x\",\"user\":\"u\",\"program\":\"p\"}}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1,\"member\":"
        "{\"op\":\"add\",\"user\":\"u\",\"program\":\"p\",\"op\":\"add\"}}\n{}",
        "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1} x\n{}",
        "{\"off\\u0073et\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"rooms\":[],\"ts\":1}\n{}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK(same(cases[i], strlen(cases[i]), 1));
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        CHECK(same(seeds[i], strlen(seeds[i]), 1));
    /* 256 rooms, then 257. */
    rc_buf b = {0};
    for (int n = 256; n <= 257; n++) {
        b.len = 0;
        rc_buf_puts(&b, "{\"offset\":\"e-1\",\"id\":\"i\",\"name\":\"n\",\"ts\":1,\"rooms\":[");
        for (int i = 0; i < n; i++)
            rc_buf_printf(&b, "%s\"r%d\"", i ? "," : "", i);
        rc_buf_puts(&b, "]}\n{}");
        CHECK(same(b.p, b.len, 1));
    }
    rc_buf_free(&b);
}

static uint64_t rnd = 88172645463325252ull;
static uint64_t next(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return rnd;
}

static void test_mutations(void)
{
    const char alphabet[] = "{}[]:,\"\\ u0123456789abcdefE+-.ntrl\xc3\xa9\x80\xff\t\nxdD";
    char buf[1024];
    int agree = 1, runs = 0;
    for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++) {
        size_t len0 = strlen(seeds[si]);
        for (int round = 0; round < 30000; round++) {
            size_t len = len0;
            memcpy(buf, seeds[si], len);
            int edits = 1 + (int)(next() % 3);
            for (int e = 0; e < edits; e++) {
                size_t at = len ? next() % len : 0;
                char c = alphabet[next() % (sizeof alphabet - 1)];
                switch (next() % 3) {
                case 0:
                    if (len)
                        buf[at] = c;
                    break;
                case 1:
                    if (len < sizeof buf - 1) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = c;
                        len++;
                    }
                    break;
                default:
                    if (len) {
                        memmove(buf + at, buf + at + 1, len - at - 1);
                        len--;
                    }
                }
            }
            runs++;
            if (!same(buf, len, agree))
                agree = 0;
        }
    }
    CHECK(agree);
    CHECK_INT(runs, 120000);
}

int main(void)
{
    test_round_trip();
    test_cases();
    test_mutations();
    return CHECK_DONE();
}
