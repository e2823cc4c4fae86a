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
#include "utf8.h"

#define BUS_MSG_MAX (8u * 1024 * 1024)
#define BUS_ROOMS_MAX 256

/* v in decimal after s, into b (no printf: this runs for every event). */
static int put_int(rc_buf *b, const char *s, int64_t v)
{
    char out[24];
    size_t len = rc_fmt_i64(out, v);
    return rc_buf_puts(b, s) | rc_buf_append(b, out, len);
}

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
    bad |= put_int(b, "],\"ts\":", ev->occurred_ms);
    if (ev->kafka_ts_ms >= 0)
        bad |= put_int(b, ",\"kts\":", ev->kafka_ts_ms);
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

/* ---- what an envelope says, whichever way it was read ---- */

enum { ABSENT = 0, OK = 1, WRONG = 2 }; /* a field: not there, of its type, of another */

struct str {
    const char *p; /* borrowed, NUL-terminated */
    size_t len;
    int type;
};

struct envelope {
    struct str off, id, name;
    int rooms_type;
    size_t nrooms; /* more than BUS_ROOMS_MAX: too many (not all kept) */
    struct str rooms[BUS_ROOMS_MAX];
    int ts_type, kts_type, tr_type, mem_type;
    int64_t ts, kts;
    int tr;
    struct str op, user, program;
};

/* ---- the usual envelope, read by hand ---- */

/*
 * The envelopes roomcast writes are one flat shape: the eight fields
 * below, strings, integers, a boolean, an array of strings and a
 * three-string object. This reader takes exactly that shape, with any
 * white space and string escapes, in one pass, its strings unescaped into
 * one buffer; anything else (another field, another type, a number with a
 * fraction, a repeated field, \u0000, a lone surrogate, bad UTF-8) it
 * leaves to jansson, which decides as it always did. So what it accepts,
 * jansson would have read the same.
 */
struct reader {
    const unsigned char *p, *end;
    rc_buf buf;       /* the strings, each NUL-terminated */
    size_t at[3 + BUS_ROOMS_MAX + 3]; /* where each string starts in buf */
    size_t nat;
};

static void r_ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int r_char(struct reader *r, unsigned char c)
{
    r_ws(r);
    if (r->p >= r->end || *r->p != c)
        return 0;
    r->p++;
    return 1;
}

static int r_hex4(struct reader *r, unsigned *v)
{
    *v = 0;
    if (r->end - r->p < 4)
        return 0;
    for (int i = 0; i < 4; i++) {
        int d = rc_hex_digit((unsigned char)*r->p++);
        if (d < 0)
            return 0;
        *v = *v << 4 | (unsigned)d;
    }
    return 1;
}

/* The string at r->p, unescaped and NUL-terminated at the end of r->buf;
 * its start in *start. 0, or -1 when out of memory or not the usual. */
static int r_string(struct reader *r, size_t *start)
{
    *start = r->buf.len;
    if (!r_char(r, '"'))
        return -1;
    const unsigned char *run = r->p;
    while (r->p < r->end) {
        unsigned char c = *r->p;
        if (c == '"' || c == '\\') {
            if (rc_buf_append(&r->buf, run, (size_t)(r->p - run)) < 0)
                return -1;
            r->p++;
            if (c == '"')
                return rc_buf_append(&r->buf, "", 1) < 0 ? -1 : 0; /* the NUL kept */
            if (r->p >= r->end)
                return -1;
            char out[4];
            size_t n = 1;
            switch ((c = *r->p++)) {
            case '"': case '\\': case '/': out[0] = (char)c; break;
            case 'b': out[0] = '\b'; break;
            case 'f': out[0] = '\f'; break;
            case 'n': out[0] = '\n'; break;
            case 'r': out[0] = '\r'; break;
            case 't': out[0] = '\t'; break;
            case 'u': {
                unsigned u, lo;
                if (!r_hex4(r, &u) || u == 0 || (u >= 0xdc00 && u <= 0xdfff))
                    return -1;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                        return -1;
                    r->p += 2;
                    if (!r_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff)
                        return -1;
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (u < 0x80) {
                    out[0] = (char)u;
                } else if (u < 0x800) {
                    out[0] = (char)(0xc0 | u >> 6), out[1] = (char)(0x80 | (u & 0x3f)), n = 2;
                } else if (u < 0x10000) {
                    out[0] = (char)(0xe0 | u >> 12), out[1] = (char)(0x80 | (u >> 6 & 0x3f));
                    out[2] = (char)(0x80 | (u & 0x3f)), n = 3;
                } else {
                    out[0] = (char)(0xf0 | u >> 18), out[1] = (char)(0x80 | (u >> 12 & 0x3f));
                    out[2] = (char)(0x80 | (u >> 6 & 0x3f)), out[3] = (char)(0x80 | (u & 0x3f));
                    n = 4;
                }
                break;
            }
            default:
                return -1;
            }
            if (rc_buf_append(&r->buf, out, n) < 0)
                return -1;
            run = r->p;
        } else if (c < 0x20) {
            return -1;
        } else {
            r->p++;
        }
    }
    return -1;
}

/* A string field: its value noted for later (r->at), *type set. */
static int r_str_field(struct reader *r, int *type)
{
    if (*type != ABSENT || r->nat == sizeof r->at / sizeof *r->at ||
        r_string(r, &r->at[r->nat]) < 0)
        return -1;
    r->nat++;
    *type = OK;
    return 0;
}

/* An integer of at most 18 digits (no fraction, no exponent). */
static int r_int(struct reader *r, int *type, int64_t *v)
{
    int64_t acc = 0;
    int neg = 0, digits = 0;
    r_ws(r);
    if (*type != ABSENT)
        return -1;
    if (r->p < r->end && *r->p == '-')
        neg = 1, r->p++;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        if (++digits > 18 || (digits == 2 && acc == 0))
            return -1; /* long, or a leading zero */
        acc = acc * 10 + (*r->p++ - '0');
    }
    if (!digits || (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E')))
        return -1;
    *v = neg ? -acc : acc;
    *type = OK;
    return 0;
}

static int r_key_is(const struct reader *r, size_t at, const char *name)
{
    return strcmp(r->buf.p + at, name) == 0;
}

/* The member object: op, user, program, strings, each once. */
static int r_member(struct reader *r, struct envelope *e, size_t at[3])
{
    int types[3] = {ABSENT, ABSENT, ABSENT};
    if (e->mem_type != ABSENT || !r_char(r, '{'))
        return -1;
    if (r_char(r, '}'))
        goto done;
    do {
        size_t key;
        if (r_string(r, &key) < 0 || !r_char(r, ':'))
            return -1;
        int i = r_key_is(r, key, "op") ? 0 : r_key_is(r, key, "user") ? 1
                : r_key_is(r, key, "program") ? 2 : -1;
        r->buf.len = key;
        if (i < 0 || r_str_field(r, &types[i]) < 0)
            return -1;
        at[i] = r->nat - 1;
    } while (r_char(r, ','));
    if (!r_char(r, '}'))
        return -1;
done:
    e->mem_type = OK;
    e->op.type = types[0], e->user.type = types[1], e->program.type = types[2];
    return 0;
}

/* s, when read, points at the i-th string read. */
static void r_point(const struct reader *r, struct str *s, size_t i)
{
    if (s->type == OK) {
        s->p = r->buf.p + r->at[i];
        s->len = strlen(s->p);
    }
}

/* Reads env[0..len) the usual way into e (its strings in r->buf, which
 * the caller frees). 0, or -1: leave it to jansson. */
static int read_usual(struct reader *r, const char *env, size_t len, struct envelope *e)
{
    size_t off_at = 0, id_at = 0, name_at = 0, mem_at[3] = {0, 0, 0}, rooms_at = 0;
    if (!rc_utf8_valid(env, len))
        return -1;
    r->p = (const unsigned char *)env;
    r->end = r->p + len;
    if (!r_char(r, '{'))
        return -1;
    if (r_char(r, '}'))
        return -1; /* no field: jansson says which is missing */
    do {
        size_t key;
        if (r_string(r, &key) < 0 || !r_char(r, ':'))
            return -1;
        int rc = 0;
        if (r_key_is(r, key, "offset")) {
            r->buf.len = key;
            rc = r_str_field(r, &e->off.type);
            off_at = r->nat - 1;
        } else if (r_key_is(r, key, "id")) {
            r->buf.len = key;
            rc = r_str_field(r, &e->id.type);
            id_at = r->nat - 1;
        } else if (r_key_is(r, key, "name")) {
            r->buf.len = key;
            rc = r_str_field(r, &e->name.type);
            name_at = r->nat - 1;
        } else if (r_key_is(r, key, "rooms")) {
            r->buf.len = key;
            if (e->rooms_type != ABSENT || !r_char(r, '['))
                return -1;
            rooms_at = r->nat;
            if (!r_char(r, ']')) {
                do {
                    int t = ABSENT;
                    if (e->nrooms == BUS_ROOMS_MAX || r_str_field(r, &t) < 0)
                        return -1;
                    e->nrooms++;
                } while (r_char(r, ','));
                if (!r_char(r, ']'))
                    return -1;
            }
            e->rooms_type = OK;
        } else if (r_key_is(r, key, "ts")) {
            r->buf.len = key;
            rc = r_int(r, &e->ts_type, &e->ts);
        } else if (r_key_is(r, key, "kts")) {
            r->buf.len = key;
            rc = r_int(r, &e->kts_type, &e->kts);
        } else if (r_key_is(r, key, "transient")) {
            r->buf.len = key;
            r_ws(r);
            if (e->tr_type != ABSENT)
                return -1;
            const unsigned char *p = r->p;
            if (r->end - p >= 4 && !memcmp(p, "true", 4))
                e->tr = 1, r->p += 4;
            else if (r->end - p >= 5 && !memcmp(p, "false", 5))
                e->tr = 0, r->p += 5;
            else
                return -1;
            e->tr_type = OK;
        } else if (r_key_is(r, key, "member")) {
            r->buf.len = key;
            rc = r_member(r, e, mem_at);
        } else {
            return -1;
        }
        if (rc < 0)
            return -1;
    } while (r_char(r, ','));
    if (!r_char(r, '}'))
        return -1;
    r_ws(r);
    if (r->p != r->end)
        return -1;
    /* The buffer grows no more: the strings can be pointed at. */
    r_point(r, &e->off, off_at);
    r_point(r, &e->id, id_at);
    r_point(r, &e->name, name_at);
    for (size_t i = 0; i < e->nrooms; i++) {
        e->rooms[i].type = OK;
        r_point(r, &e->rooms[i], rooms_at + i);
    }
    r_point(r, &e->op, mem_at[0]);
    r_point(r, &e->user, mem_at[1]);
    r_point(r, &e->program, mem_at[2]);
    return 0;
}

/* ---- or by jansson ---- */

static struct str jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return (struct str){NULL, 0, ABSENT};
    if (!json_is_string(v))
        return (struct str){NULL, 0, WRONG};
    return (struct str){json_string_value(v), json_string_length(v), OK};
}

static int jint(json_t *obj, const char *key, int64_t *v)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return ABSENT;
    if (!json_is_integer(j))
        return WRONG;
    *v = (int64_t)json_integer_value(j);
    return OK;
}

/* e from env (borrowed: e points into it). */
static void read_json(json_t *env, struct envelope *e)
{
    e->off = jstr(env, "offset");
    e->id = jstr(env, "id");
    e->name = jstr(env, "name");
    json_t *rooms = json_object_get(env, "rooms");
    e->rooms_type = !rooms ? ABSENT : json_is_array(rooms) ? OK : WRONG;
    if (e->rooms_type == OK) {
        e->nrooms = json_array_size(rooms);
        for (size_t i = 0; i < e->nrooms && i < BUS_ROOMS_MAX; i++) {
            json_t *rm = json_array_get(rooms, i);
            e->rooms[i] = json_is_string(rm)
                              ? (struct str){json_string_value(rm), json_string_length(rm), OK}
                              : (struct str){NULL, 0, WRONG};
        }
    }
    e->ts_type = jint(env, "ts", &e->ts);
    e->kts_type = jint(env, "kts", &e->kts);
    json_t *tr = json_object_get(env, "transient");
    e->tr_type = !tr ? ABSENT : json_is_boolean(tr) ? OK : WRONG;
    e->tr = tr && json_is_true(tr);
    json_t *mem = json_object_get(env, "member");
    e->mem_type = !mem ? ABSENT : json_is_object(mem) ? OK : WRONG;
    if (e->mem_type == OK) {
        e->op = jstr(mem, "op");
        e->user = jstr(mem, "user");
        e->program = jstr(mem, "program");
    }
}

/* ---- the event ---- */

/* Parses one bus message or stream entry into a new event, or NULL + err. */
rc_event *rc_red_decode_msg(const char *msg, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *env = NULL;
    rc_event *ev = NULL;
    const char *nl;
    struct reader r = {0};
    struct envelope e = {0};

    if (len > BUS_MSG_MAX) {
        rc_errf(err, errlen, "message of %zu bytes is too large", len);
        return NULL;
    }
    if (!(nl = memchr(msg, '\n', len))) {
        rc_errf(err, errlen, "no payload line");
        return NULL;
    }
    if (read_usual(&r, msg, (size_t)(nl - msg), &e) < 0) {
        memset(&e, 0, sizeof e);
        if (!(env = json_loadb(msg, (size_t)(nl - msg), JSON_REJECT_DUPLICATES, &je)) ||
            !json_is_object(env)) {
            rc_errf(err, errlen, "envelope: %.120s", env ? "not an object" : je.text);
            goto fail;
        }
        read_json(env, &e);
    }
    const char *payload = nl + 1;
    size_t plen = len - (size_t)(payload - msg);
    if (!rc_json_check_object(payload, plen)) {
        rc_errf(err, errlen, "payload: not a JSON object");
        goto fail;
    }
    if (e.off.type != OK || e.id.type != OK || !e.id.len || e.name.type != OK ||
        !e.name.len || e.rooms_type != OK || e.ts_type != OK || e.kts_type == WRONG ||
        e.tr_type == WRONG || e.mem_type == WRONG) {
        rc_errf(err, errlen, "envelope: a field is missing or has the wrong type");
        goto fail;
    }
    int transient = e.tr_type == OK && e.tr;
    char ep[RC_OFFSET_MAX];
    uint64_t seq;
    if (e.off.len >= RC_OFFSET_MAX || (transient ? e.off.len != 0 : e.off.len == 0) ||
        (e.off.len && rc_offset_parse(e.off.p, ep, sizeof ep, &seq) < 0)) {
        rc_errf(err, errlen, "envelope: bad offset");
        goto fail;
    }
    if (e.nrooms > BUS_ROOMS_MAX) {
        rc_errf(err, errlen, "envelope: too many rooms");
        goto fail;
    }
    if (!(ev = rc_event_new()))
        goto oom;
    memcpy(ev->offset, e.off.p, e.off.len + 1);
    ev->transient = transient;
    ev->occurred_ms = e.ts;
    ev->kafka_ts_ms = e.kts_type == OK ? e.kts : -1;
    if (!(ev->id = strndup(e.id.p, e.id.len)) || !(ev->name = strndup(e.name.p, e.name.len)))
        goto oom;
    for (size_t i = 0; i < e.nrooms; i++) {
        if (e.rooms[i].type != OK || !e.rooms[i].len) {
            rc_errf(err, errlen, "envelope: bad room");
            goto fail;
        }
        if (rc_event_add_room(ev, e.rooms[i].p) < 0)
            goto oom;
    }
    if (e.mem_type == OK) {
        if (e.op.type != OK || !e.op.len || e.user.type != OK || !e.user.len ||
            e.program.type != OK || !e.program.len ||
            (strcmp(e.op.p, "add") && strcmp(e.op.p, "remove"))) {
            rc_errf(err, errlen, "envelope: bad member");
            goto fail;
        }
        ev->member_op = strcmp(e.op.p, "add") ? RC_MEMBER_REMOVE : RC_MEMBER_ADD;
        if (!(ev->member_user = strndup(e.user.p, e.user.len)) ||
            !(ev->member_program = strndup(e.program.p, e.program.len)))
            goto oom;
    }
    if (!(ev->payload = malloc(plen + 1)))
        goto oom;
    memcpy(ev->payload, payload, plen);
    ev->payload[plen] = '\0';
    ev->payload_len = plen;
    json_decref(env);
    rc_buf_free(&r.buf);
    return ev;
oom:
    rc_errf(err, errlen, "out of memory");
fail:
    json_decref(env);
    rc_buf_free(&r.buf);
    rc_event_unref(ev);
    return NULL;
}
