/*
 * codec_decode.c - the checked decoder: Avro binary read by a resolution
 * plan (codec_plan.c) into the reader's value.
 *
 * Implementation notes. One pass over the borrowed payload decodes it
 * straight into the reader value cached for the record: no copy of the
 * payload, no intermediate writer value, no schema work per record. The
 * payload comes from Kafka and is not trusted: every length and count is
 * checked against the bytes left before anything is allocated (a count
 * against the fewest bytes its items take), strings and map keys must be
 * UTF-8 without NUL, varints must fit 64 bits, and the payload must be
 * consumed exactly. Decoding depth is bounded (recursive schemas). Errors
 * say where they happened (" at field 'a.b'"). Reader fields missing from
 * the writer get their JSON default through codec_json.c.
 */
#include "codec_private.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/errstr.h"
#include "core/slice.h"
#include "core/utf8.h"

/* Items of zero encoded size (null) per array block. */
#define RC_CODEC_MAX_EMPTY_ITEMS 65536

/* Text an Avro string may carry here: strict UTF-8 without NUL. */
static int text_ok(const unsigned char *s, size_t len)
{
    return !memchr(s, '\0', len) && rc_utf8_valid(s, len);
}

struct dec {
    const unsigned char *p, *end; /* borrowed payload cursor */
    rc_codec *c;
    const struct entry *reader;   /* for defaults */
    const char *path[RC_CODEC_MAX_DEPTH + 2];
    int depth;
    char *err;
    size_t errlen;
};

static int dfail(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The reason, then " at field 'a.b'" when inside a named field. */
static int dfail(struct dec *d, const char *fmt, ...)
{
    if (!d->err || !d->errlen)
        return -1;
    char msg[384], where[512] = "";
    size_t used = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (int i = 0; i < d->depth && used < sizeof where; i++) {
        if (!d->path[i])
            continue;
        int n = snprintf(where + used, sizeof where - used, "%s%s",
                         used ? "." : " at field '", d->path[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return rc_errf(d->err, d->errlen, "%s%s%s", msg, where, used ? "'" : "");
}

static size_t left(const struct dec *d)
{
    return (size_t)(d->end - d->p);
}

static int read_long(struct dec *d, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end)
            return dfail(d, "truncated record");
        unsigned char b = *d->p++;
        if (shift == 63 && (b & 0x7e))
            return dfail(d, "invalid varint");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return dfail(d, "invalid varint");
}

static int read_int(struct dec *d, int32_t *out)
{
    int64_t v;
    if (read_long(d, &v) < 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return dfail(d, "int out of range");
    *out = (int32_t)v;
    return 0;
}

/* Reads a length-prefixed byte string; *p and *len are written on failure
 * too (NULL, 0), so no caller can read them uninitialised. */
static int read_len(struct dec *d, const unsigned char **p, size_t *len)
{
    int64_t n;
    *p = NULL;
    *len = 0;
    if (read_long(d, &n) < 0)
        return -1;
    if (n < 0)
        return dfail(d, "negative length %" PRId64, n);
    if ((uint64_t)n > left(d))
        return dfail(d, "truncated record (%" PRId64 " bytes announced, %zu "
                     "left)", n, left(d));
    *p = d->p;
    *len = (size_t)n;
    d->p += n;
    return 0;
}

/* Count of the next array/map block, 0 at the end; checked against input. */
static int read_block(struct dec *d, size_t min_item, size_t *count)
{
    int64_t n;
    if (read_long(d, &n) < 0)
        return -1;
    if (n < 0) {
        int64_t bytes;
        if (n == INT64_MIN)
            return dfail(d, "invalid block count");
        n = -n;
        if (read_long(d, &bytes) < 0)
            return -1;
        if (bytes < 0 || (uint64_t)bytes > left(d))
            return dfail(d, "truncated record (block of %" PRId64 " bytes, "
                         "%zu left)", bytes, left(d));
    }
    uint64_t max = min_item ? left(d) / min_item : RC_CODEC_MAX_EMPTY_ITEMS;
    if ((uint64_t)n > max)
        return dfail(d, "truncated record (block of %" PRId64 " items, %zu "
                     "bytes left)", n, left(d));
    *count = (size_t)n;
    return 0;
}

static int store_string(struct dec *d, avro_value_t *dst,
                        const unsigned char *p, size_t len)
{
    if (!text_ok(p, len))
        return dfail(d, "string is not valid UTF-8 or contains NUL");
    rc_buf *s = &d->c->scratch;
    rc_buf_reset(s);
    if (rc_buf_append(s, p, len) < 0 || !s->p)
        return dfail(d, "out of memory");
    if (avro_value_set_string_len(dst, s->p, len + 1) != 0)
        return dfail(d, "cannot store string: %s", avro_strerror());
    return 0;
}

static int decode(struct dec *d, const struct plan *p, avro_value_t *dst);

static int decode_prim(struct dec *d, const struct plan *p, avro_value_t *dst)
{
    int rc = 0;
    switch (p->wt) {
    case AVRO_NULL:
        if (dst)
            rc = avro_value_set_null(dst);
        break;
    case AVRO_BOOLEAN: {
        if (d->p >= d->end)
            return dfail(d, "truncated record");
        unsigned char b = *d->p++;
        if (b > 1)
            return dfail(d, "invalid boolean %u", b);
        if (dst)
            rc = avro_value_set_boolean(dst, b);
        break;
    }
    case AVRO_INT32:
    case AVRO_INT64: {
        int64_t v;
        if (p->wt == AVRO_INT32) {
            int32_t i = 0;
            if (read_int(d, &i) < 0)
                return -1;
            v = i;
        } else if (read_long(d, &v) < 0) {
            return -1;
        }
        if (!dst)
            break;
        switch (p->rt) {
        case AVRO_INT32: rc = avro_value_set_int(dst, (int32_t)v); break;
        case AVRO_INT64: rc = avro_value_set_long(dst, v); break;
        case AVRO_FLOAT: rc = avro_value_set_float(dst, (float)v); break;
        default: rc = avro_value_set_double(dst, (double)v); break;
        }
        break;
    }
    case AVRO_FLOAT: {
        if (left(d) < 4)
            return dfail(d, "truncated record");
        uint32_t u = (uint32_t)d->p[0] | (uint32_t)d->p[1] << 8 |
                     (uint32_t)d->p[2] << 16 | (uint32_t)d->p[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        d->p += 4;
        if (dst)
            rc = p->rt == AVRO_FLOAT ? avro_value_set_float(dst, f)
                                     : avro_value_set_double(dst, f);
        break;
    }
    case AVRO_DOUBLE: {
        if (left(d) < 8)
            return dfail(d, "truncated record");
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | d->p[i];
        double x;
        memcpy(&x, &u, sizeof x);
        d->p += 8;
        if (dst)
            rc = avro_value_set_double(dst, x);
        break;
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        const unsigned char *s;
        size_t len;
        if (read_len(d, &s, &len) < 0)
            return -1;
        if (!dst)
            break;
        if (p->rt == AVRO_STRING)
            return store_string(d, dst, s, len);
        rc = avro_value_set_bytes(dst, (void *)s, len);
        break;
    }
    default:
        return dfail(d, "unsupported type");
    }
    if (rc != 0)
        return dfail(d, "cannot store value: %s", avro_strerror());
    return 0;
}

static int decode_record(struct dec *d, const struct plan *p,
                         avro_value_t *dst)
{
    for (size_t i = 0; i < p->nfields; i++) {
        const struct field_step *f = &p->fields[i];
        avro_value_t child, *cp = NULL;
        if (dst && f->rindex >= 0) {
            if (avro_value_get_by_index(dst, (size_t)f->rindex, &child,
                                        NULL) != 0)
                return dfail(d, "cannot access field %s", f->name);
            cp = &child;
        }
        d->path[d->depth - 1] = f->name;
        if (decode(d, f->plan, cp) < 0)
            return -1;
    }
    d->path[d->depth - 1] = NULL;
    if (!dst)
        return 0;
    for (size_t i = 0; i < p->ndefaults; i++) {
        const struct default_step *df = &p->defaults[i];
        avro_value_t child;
        char err[256] = "";
        if (avro_value_get_by_index(dst, (size_t)df->rindex, &child, NULL) ||
            rc_codec_store_json(d->c, d->reader, &child, df->schema, df->value,
                                err, sizeof err))
            return dfail(d, "bad default for field '%s': %s", df->name, err);
    }
    return 0;
}

static int decode(struct dec *d, const struct plan *p, avro_value_t *dst)
{
    if (d->depth > RC_CODEC_MAX_DEPTH)
        return dfail(d, "record nested deeper than %d levels",
                     RC_CODEC_MAX_DEPTH);
    int rc = 0;
    d->path[d->depth++] = NULL;
    switch (p->op) {
    case RC_OP_PRIM:
        rc = decode_prim(d, p, dst);
        break;
    case RC_OP_FIXED:
        if (left(d) < (size_t)p->fixed_size) {
            rc = dfail(d, "truncated record");
            break;
        }
        if (dst && avro_value_set_fixed(dst, (void *)d->p,
                                        (size_t)p->fixed_size) != 0)
            rc = dfail(d, "cannot store fixed: %s", avro_strerror());
        d->p += p->fixed_size;
        break;
    case RC_OP_ENUM: {
        int32_t i = 0;
        if ((rc = read_int(d, &i)) < 0)
            break;
        if (i < 0 || i >= p->nsymbols) {
            rc = dfail(d, "enum index %" PRId32 " out of range", i);
            break;
        }
        if (p->enum_map[i] < 0) {
            rc = dfail(d, "enum symbol %s unknown to the reader",
                       avro_schema_enum_get(p->w, i));
            break;
        }
        if (dst && avro_value_set_enum(dst, p->enum_map[i]) != 0)
            rc = dfail(d, "cannot store enum: %s", avro_strerror());
        break;
    }
    case RC_OP_RECORD:
        rc = decode_record(d, p, dst);
        break;
    case RC_OP_ARRAY:
    case RC_OP_MAP: {
        if (dst && avro_value_reset(dst) != 0) {
            rc = dfail(d, "cannot reset value");
            break;
        }
        size_t min_item = p->op == RC_OP_MAP ? rc_codec_sat_add(p->items->min_size, 1)
                                             : p->items->min_size;
        for (;;) {
            size_t count = 0;
            if ((rc = read_block(d, min_item, &count)) < 0 || count == 0)
                break;
            for (size_t k = 0; k < count && rc == 0; k++) {
                avro_value_t child, *cp = dst ? &child : NULL;
                if (p->op == RC_OP_MAP) {
                    const unsigned char *key;
                    size_t klen;
                    if ((rc = read_len(d, &key, &klen)) < 0)
                        break;
                    if (dst) {
                        if (!text_ok(key, klen)) {
                            rc = dfail(d, "map key is not valid UTF-8");
                            break;
                        }
                        rc_buf_reset(&d->c->key);
                        if (rc_buf_append(&d->c->key, key, klen) < 0 ||
                            !d->c->key.p ||
                            avro_value_add(dst, d->c->key.p, &child, NULL,
                                           NULL) != 0) {
                            rc = dfail(d, "cannot store map entry");
                            break;
                        }
                    }
                } else if (dst && avro_value_append(dst, &child, NULL) != 0) {
                    rc = dfail(d, "cannot store array item");
                    break;
                }
                rc = decode(d, p->items, cp);
            }
            if (rc < 0)
                break;
        }
        break;
    }
    case RC_OP_WUNION: {
        int64_t i;
        if ((rc = read_long(d, &i)) < 0)
            break;
        if (i < 0 || (uint64_t)i >= p->nbranches) {
            rc = dfail(d, "union branch %" PRId64 " out of range", i);
            break;
        }
        if (!p->branches[i]) {
            rc = dfail(d, "union branch %" PRId64 " unreadable: %s", i,
                       p->branch_err[i]);
            break;
        }
        d->depth--; /* the branch is the same value */
        rc = decode(d, p->branches[i], dst);
        d->depth++;
        break;
    }
    case RC_OP_RUNION: {
        avro_value_t branch, *bp = NULL;
        if (dst) {
            if (avro_value_set_branch(dst, p->branch, &branch) != 0) {
                rc = dfail(d, "cannot select union branch");
                break;
            }
            bp = &branch;
        }
        d->depth--;
        rc = decode(d, p->items, bp);
        d->depth++;
        break;
    }
    }
    d->depth--;
    return rc;
}

/* Decodes body as written by w into r's value; the whole body must be used. */
int rc_codec_decode_as(rc_codec *c, struct entry *w, struct entry *r,
                       const unsigned char *body, size_t len, char *err,
                       size_t errlen)
{
    struct pair *pr = rc_codec_get_pair(w, r);
    if (pr->state < 0)
        return rc_errf(err, errlen, "writer schema %s cannot be read as %s: %s",
                    w->label, r->fullname, pr->error ? pr->error : "?");
    struct dec d = {
        .p = body, .end = body + len, .c = c, .reader = r,
        .err = err, .errlen = errlen,
    };
    if (decode(&d, pr->root, &r->dec_value) < 0)
        return -1;
    if (d.p != d.end)
        return rc_errf(err, errlen, "%zu trailing byte(s) after the record",
                    (size_t)(d.end - d.p));
    return 0;
}
