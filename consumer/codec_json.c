/*
 * codec_json.c - JSON values into Avro values, and the JSON encoder.
 *
 * Implementation notes. A JSON value is stored into an avro-c generic value
 * by walking the schema: records take their fields by name (a missing one
 * gets its default from the schema file, an unknown key is an error),
 * unions take the first branch whose kind matches (or Avro's {"type": v}
 * form), bytes and fixed are strings of code points 0..255. Errors name the
 * field path. The decoder uses the same walk for the defaults of reader
 * fields a writer lacks. Encoding stores a JSON object into a generic value
 * of the writer schema (cached per schema), then avro-c writes it into the
 * caller's buffer after the framing header.
 */
#include "codec_json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/errstr.h"
#include "codec_private.h"

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* ------------------------------------------------------------------ */
/* JSON -> Avro value                                                   */

struct jctx {
    const struct entry *e; /* borrowed: the schema file, for defaults */
    char path[256];        /* dotted field path of the value being stored */
    size_t pathlen;
    char *err;             /* borrowed; NULL while trying union branches */
    size_t errlen;
};

static int jfail(struct jctx *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int jfail(struct jctx *j, const char *fmt, ...)
{
    if (!j->err || !j->errlen)
        return -1;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->pathlen)
        return rc_errf(j->err, j->errlen, "field '%s': %s", j->path, msg);
    return rc_errf(j->err, j->errlen, "%s", msg);
}

static size_t jpush(struct jctx *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t jpush(struct jctx *j, const char *fmt, ...)
{
    size_t old = j->pathlen;
    if (j->pathlen < sizeof j->path - 1) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(j->path + j->pathlen, sizeof j->path - j->pathlen,
                          fmt, ap);
        va_end(ap);
        if (n > 0)
            j->pathlen += (size_t)n;
        if (j->pathlen >= sizeof j->path)
            j->pathlen = sizeof j->path - 1;
    }
    return old;
}

static void jpop(struct jctx *j, size_t old)
{
    j->pathlen = old;
    j->path[old] = '\0';
}

static int kind_matches(avro_schema_t s, const json_t *v)
{
    switch (avro_typeof(rc_avro_deref(s))) {
    case AVRO_NULL: return json_is_null(v);
    case AVRO_BOOLEAN: return json_is_boolean(v);
    case AVRO_INT32:
    case AVRO_INT64: return json_is_integer(v);
    case AVRO_FLOAT:
    case AVRO_DOUBLE: return json_is_number(v);
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_ENUM:
    case AVRO_FIXED: return json_is_string(v);
    case AVRO_ARRAY: return json_is_array(v);
    case AVRO_MAP:
    case AVRO_RECORD: return json_is_object(v);
    default: return 0;
    }
}

/* JSON string (code points 0..255, one byte each) -> bytes into buf. */
static int latin1_bytes(const char *s, size_t len, rc_buf *buf)
{
    const unsigned char *p = (const unsigned char *)s;
    rc_buf_reset(buf);
    for (size_t i = 0; i < len;) {
        unsigned char b;
        if (p[i] < 0x80) {
            b = p[i];
            i++;
        } else if ((p[i] == 0xC2 || p[i] == 0xC3) && i + 1 < len) {
            b = (unsigned char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F));
            i += 2;
        } else {
            return -1;
        }
        if (rc_buf_append(buf, &b, 1) < 0)
            return -1;
    }
    return 0;
}

static int set_json(struct jctx *j, rc_buf *scratch, avro_value_t *dst,
                    avro_schema_t s, const json_t *v, int depth);

static int set_json_union(struct jctx *j, rc_buf *scratch, avro_value_t *dst,
                          avro_schema_t s, const json_t *v, int depth)
{
    size_t n = avro_schema_union_size(s);
    char first_err[384] = "";
    char *saved_err = j->err;
    size_t saved_len = j->errlen;
    /* A plain value: the first branch that takes it. The reason the first
     * branch of the right kind refused it is what gets reported. */
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = avro_schema_union_branch(s, (int)i);
        if (!kind_matches(b, v))
            continue;
        avro_value_t bv;
        if (avro_value_set_branch(dst, (int)i, &bv) != 0)
            return jfail(j, "cannot select union branch");
        j->err = first_err[0] ? NULL : first_err;
        j->errlen = sizeof first_err;
        int rc = set_json(j, scratch, &bv, b, v, depth + 1);
        j->err = saved_err;
        j->errlen = saved_len;
        if (rc == 0)
            return 0;
    }
    /* Avro's JSON encoding: {"<branch type name>": value}. */
    if (json_is_object(v) && json_object_size(v) == 1) {
        const char *key = json_object_iter_key(json_object_iter((json_t *)v));
        const json_t *inner = json_object_iter_value(
            json_object_iter((json_t *)v));
        for (size_t i = 0; i < n; i++) {
            avro_schema_t b = rc_avro_deref(avro_schema_union_branch(s, (int)i));
            char name[512];
            if (rc_avro_is_named(avro_typeof(b))) {
                rc_avro_fullname(b, name, sizeof name);
                if (strcmp(key, name) != 0 &&
                    strcmp(key, avro_schema_name(b)) != 0)
                    continue;
            } else {
                rc_avro_describe(b, name, sizeof name);
                if (strcmp(key, name) != 0)
                    continue;
            }
            avro_value_t bv;
            if (avro_value_set_branch(dst, (int)i, &bv) != 0)
                return jfail(j, "cannot select union branch");
            return set_json(j, scratch, &bv, b, inner, depth + 1);
        }
    }
    if (first_err[0])
        return rc_errf(j->err, j->errlen, "%s", first_err);
    char desc[256];
    rc_avro_describe(s, desc, sizeof desc);
    return jfail(j, "expected %s, got %s", desc, json_kind(v));
}

static int set_json_record(struct jctx *j, rc_buf *scratch, avro_value_t *dst,
                           avro_schema_t s, const json_t *v, int depth)
{
    if (!json_is_object(v))
        return jfail(j, "expected object (record %s), got %s",
                     avro_schema_name(s), json_kind(v));
    size_t nf = avro_schema_record_size(s);
    for (size_t i = 0; i < nf; i++) {
        const char *fname = avro_schema_record_field_name(s, (int)i);
        avro_schema_t fs = avro_schema_record_field_get_by_index(s, (int)i);
        const json_t *fv = json_object_get(v, fname);
        size_t old = jpush(j, "%s%s", j->pathlen ? "." : "", fname);
        if (!fv) {
            fv = rc_codec_field_default(j->e, s, fname);
            if (!fv) {
                int rc = j->err ? rc_errf(j->err, j->errlen,
                                       "missing required field '%s'", j->path)
                                : -1;
                jpop(j, old);
                return rc;
            }
        }
        avro_value_t child;
        int rc = avro_value_get_by_index(dst, i, &child, NULL);
        if (rc == 0)
            rc = set_json(j, scratch, &child, fs, fv, depth + 1);
        else
            jfail(j, "cannot access field");
        jpop(j, old);
        if (rc != 0)
            return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        if (avro_schema_record_field_get_index(s, key) < 0) {
            size_t old = jpush(j, "%s%s", j->pathlen ? "." : "", key);
            int rc = j->err ? rc_errf(j->err, j->errlen,
                                   "unknown field '%s' (not in record %s)",
                                   j->path, avro_schema_name(s))
                            : -1;
            jpop(j, old);
            return rc;
        }
    }
    return 0;
}

static int set_json(struct jctx *j, rc_buf *scratch, avro_value_t *dst,
                    avro_schema_t s, const json_t *v, int depth)
{
    s = rc_avro_deref(s);
    if (depth > RC_CODEC_MAX_DEPTH)
        return jfail(j, "value nested deeper than %d levels",
                     RC_CODEC_MAX_DEPTH);
    avro_type_t t = avro_typeof(s);
    if (t == AVRO_UNION)
        return set_json_union(j, scratch, dst, s, v, depth);
    if (t == AVRO_RECORD)
        return set_json_record(j, scratch, dst, s, v, depth);
    if (!kind_matches(s, v)) {
        char desc[256];
        rc_avro_describe(s, desc, sizeof desc);
        return jfail(j, "expected %s, got %s", desc, json_kind(v));
    }
    int rc = 0;
    switch (t) {
    case AVRO_NULL: rc = avro_value_set_null(dst); break;
    case AVRO_BOOLEAN: rc = avro_value_set_boolean(dst, json_is_true(v)); break;
    case AVRO_INT32: {
        json_int_t x = json_integer_value(v);
        if (x < INT32_MIN || x > INT32_MAX)
            return jfail(j, "%" JSON_INTEGER_FORMAT " out of range for int",
                         x);
        rc = avro_value_set_int(dst, (int32_t)x);
        break;
    }
    case AVRO_INT64: rc = avro_value_set_long(dst, json_integer_value(v)); break;
    case AVRO_FLOAT: rc = avro_value_set_float(dst, (float)json_number_value(v)); break;
    case AVRO_DOUBLE: rc = avro_value_set_double(dst, json_number_value(v)); break;
    case AVRO_STRING: {
        const char *str = json_string_value(v);
        size_t len = json_string_length(v);
        if (memchr(str, '\0', len))
            return jfail(j, "string contains a NUL character");
        rc = avro_value_set_string_len(dst, str, len + 1);
        break;
    }
    case AVRO_BYTES:
    case AVRO_FIXED:
        if (latin1_bytes(json_string_value(v), json_string_length(v),
                         scratch) < 0)
            return jfail(j, "bytes must be a string of code points 0-255");
        if (t == AVRO_FIXED) {
            if ((int64_t)scratch->len != avro_schema_fixed_size(s))
                return jfail(j, "expected %" PRId64 " bytes, got %zu",
                             avro_schema_fixed_size(s), scratch->len);
            rc = avro_value_set_fixed(dst, scratch->p, scratch->len);
        } else {
            rc = avro_value_set_bytes(dst, scratch->p, scratch->len);
        }
        break;
    case AVRO_ENUM: {
        int idx = avro_schema_enum_get_by_name(s, json_string_value(v));
        if (idx < 0) {
            char syms[256] = "";
            size_t used = 0;
            int ns = avro_schema_enum_number_of_symbols(s);
            for (int i = 0; i < ns && used < sizeof syms; i++) {
                int n = snprintf(syms + used, sizeof syms - used, "%s%s",
                                 i ? ", " : "", avro_schema_enum_get(s, i));
                if (n < 0)
                    break;
                used += (size_t)n;
            }
            return jfail(j, "unknown symbol '%s' (expected one of %s)",
                         json_string_value(v), syms);
        }
        rc = avro_value_set_enum(dst, idx);
        break;
    }
    case AVRO_ARRAY: {
        avro_schema_t items = avro_schema_array_items(s);
        rc = avro_value_reset(dst);
        for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
            avro_value_t child;
            if (avro_value_append(dst, &child, NULL) != 0)
                return jfail(j, "out of memory");
            size_t old = jpush(j, "[%zu]", i);
            rc = set_json(j, scratch, &child, items, json_array_get(v, i),
                          depth + 1);
            jpop(j, old);
            if (rc != 0)
                return -1;
        }
        break;
    }
    case AVRO_MAP: {
        avro_schema_t values = avro_schema_map_values(s);
        const char *key;
        json_t *val;
        rc = avro_value_reset(dst);
        json_object_foreach((json_t *)v, key, val) {
            avro_value_t child;
            if (avro_value_add(dst, key, &child, NULL, NULL) != 0)
                return jfail(j, "out of memory");
            size_t old = jpush(j, "%s%s", j->pathlen ? "." : "", key);
            rc = set_json(j, scratch, &child, values, val, depth + 1);
            jpop(j, old);
            if (rc != 0)
                return -1;
        }
        break;
    }
    default:
        return jfail(j, "unsupported schema type");
    }
    if (rc != 0)
        return jfail(j, "cannot store value: %s", avro_strerror());
    return 0;
}

int rc_codec_store_json(rc_codec *c, const struct entry *e, avro_value_t *dst,
                        avro_schema_t s, const json_t *v, char *err,
                        size_t errlen)
{
    struct jctx j = {.e = e, .err = err, .errlen = errlen};
    return set_json(&j, &c->scratch, dst, s, v, 0);
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

/* id: the Confluent id written, or -1 for e's own. */
static int encode_with(rc_codec *c, struct entry *e, const char *json,
                       size_t len, enum rc_framing framing, int64_t id,
                       rc_buf *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    int rc = -1;
    if (framing != RC_FRAMING_BARE && framing != RC_FRAMING_SINGLE_OBJECT &&
        framing != RC_FRAMING_CONFLUENT)
        return rc_errf(err, errlen, "no framing given");
    if (framing == RC_FRAMING_CONFLUENT && id < 0 && !e->has_id)
        return rc_errf(err, errlen, "%s has no schema id in registry.json",
                    e->label);
    if (!e->enc_iface) {
        e->enc_iface = avro_generic_class_from_schema(e->schema);
        if (!e->enc_iface ||
            avro_generic_value_new(e->enc_iface, &e->enc_value) != 0) {
            if (e->enc_iface)
                avro_value_iface_decref(e->enc_iface);
            e->enc_iface = NULL;
            return rc_errf(err, errlen, "%s: %s", e->label, avro_strerror());
        }
    }
    root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        rc_errf(err, errlen, "invalid JSON: %s", jerr.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc_errf(err, errlen, "expected a JSON object, got %s", json_kind(root));
        goto done;
    }
    struct jctx j = {.e = e, .err = err, .errlen = errlen};
    avro_value_reset(&e->enc_value);
    if (set_json(&j, &c->scratch, &e->enc_value, e->schema, root, 0) < 0)
        goto done;
    size_t size = 0;
    if (avro_value_sizeof(&e->enc_value, &size) != 0) {
        rc_errf(err, errlen, "cannot size record: %s", avro_strerror());
        goto done;
    }
    unsigned char hdr[10];
    size_t hlen = 0;
    if (framing == RC_FRAMING_CONFLUENT) {
        uint32_t u = (uint32_t)(id < 0 ? e->id : id);
        hdr[0] = 0x00;
        hdr[1] = (unsigned char)(u >> 24);
        hdr[2] = (unsigned char)(u >> 16);
        hdr[3] = (unsigned char)(u >> 8);
        hdr[4] = (unsigned char)u;
        hlen = 5;
    } else if (framing == RC_FRAMING_SINGLE_OBJECT) {
        hdr[0] = 0xC3;
        hdr[1] = 0x01;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)(e->fingerprint >> (8 * i));
        hlen = 10;
    }
    if (rc_buf_reserve(out, hlen + size) < 0) {
        rc_errf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(out->p + out->len, hdr, hlen);
    avro_writer_memory_set_dest(c->writer, out->p + out->len + hlen,
                                (int64_t)size);
    if (avro_value_write(c->writer, &e->enc_value) != 0 ||
        avro_writer_tell(c->writer) != (int64_t)size) {
        out->p[out->len] = '\0';
        rc_errf(err, errlen, "cannot write record: %s", avro_strerror());
        goto done;
    }
    out->len += hlen + size;
    out->p[out->len] = '\0';
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int rc_codec_encode_json(rc_codec *c, const char *record, const char *json,
                         size_t len, enum rc_framing framing, rc_buf *out,
                         char *err, size_t errlen)
{
    struct entry *e = rc_codec_find_reader(c, record);
    if (!e)
        return rc_errf(err, errlen, "unknown record %s", record ? record : "");
    return encode_with(c, e, json, len, framing, -1, out, err, errlen);
}

int rc_codec_encode_json_as(rc_codec *c, const char *schema_file,
                            const char *json, size_t len,
                            enum rc_framing framing, rc_buf *out, char *err,
                            size_t errlen)
{
    struct entry *e = schema_file ? rc_codec_find_file(c, schema_file) : NULL;
    if (!e)
        return rc_errf(err, errlen, "unknown schema file %s",
                    schema_file ? schema_file : "");
    return encode_with(c, e, json, len, framing, -1, out, err, errlen);
}

int rc_codec_encode_json_id(rc_codec *c, const char *record, int32_t id,
                            const char *writer_json, size_t writer_len,
                            const char *json, size_t len, rc_buf *out,
                            char *err, size_t errlen)
{
    struct entry *r = rc_codec_find_reader(c, record);
    if (!r)
        return rc_errf(err, errlen, "unknown record %s", record ? record : "");
    if (id < 0)
        return rc_errf(err, errlen, "invalid schema id %" PRId32, id);
    struct entry *w = r;
    if (writer_json) {
        if (rc_codec_register(c, id, writer_json, writer_len, err, errlen) < 0)
            return -1;
        w = rc_codec_find_id(c, id);
        if (!w)
            return rc_errf(err, errlen, "schema id %" PRId32 " was not registered", id);
        if (strcmp(w->fullname, r->fullname) != 0)
            return rc_errf(err, errlen, "the writer schema is %s, not %s",
                           w->fullname, r->fullname);
    }
    return encode_with(c, w, json, len, RC_FRAMING_CONFLUENT, id, out, err,
                       errlen);
}
