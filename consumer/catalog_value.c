/*
 * catalog_value.c - Avro values written as JSON text, for payloads.
 *
 * Implementation notes. Values are appended straight to the caller's
 * rc_buf: unions unwrapped (a null branch is null), enums as their symbol,
 * records and maps as objects, arrays as arrays. Strings must be valid UTF-8
 * (a WebSocket text frame that is not would make browsers drop the
 * connection), so invalid text fails the record instead of reaching
 * clients. Floats and doubles take the shortest %g form that reads back to
 * the same value; NaN and the infinities, which JSON lacks, are null.
 */
#include "catalog_private.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/slice.h"
#include "core/utf8.h"

/* Text of a string value; the length excludes avro-c's terminator. */
int rc_cat_get_text(avro_value_t *v, const char **s, size_t *n)
{
    size_t size = 0;
    if (avro_value_get_string(v, s, &size) != 0 || !*s)
        return -1;
    if (size > 0 && (*s)[size - 1] == '\0')
        size--;
    *n = size;
    return 0;
}

/* Follows union branches; *is_null when the value is (or selects) null. */
int rc_cat_unwrap_value(avro_value_t *v, int *is_null)
{
    *is_null = 0;
    while (avro_value_get_type(v) == AVRO_UNION) {
        int disc = -1;
        avro_value_t branch;
        if (avro_value_get_discriminant(v, &disc) != 0 || disc < 0) {
            *is_null = 1;
            return 0;
        }
        if (avro_value_get_current_branch(v, &branch) != 0)
            return -1;
        *v = branch;
    }
    if (avro_value_get_type(v) == AVRO_NULL)
        *is_null = 1;
    return 0;
}

static int put_text(rc_buf *b, const char *s, size_t n, const char *what,
                    char *err, size_t errlen)
{
    if (!rc_utf8_valid(s, n))
        return rc_errf(err, errlen, "%s: string is not valid UTF-8", what);
    if (rc_buf_json_string(b, s, n) < 0)
        return rc_errf(err, errlen, "out of memory");
    return 0;
}

/* Shortest %g form that reads back to the same value. */
static int put_double(rc_buf *b, double d, int is_float)
{
    if (!isfinite(d))
        return rc_buf_puts(b, "null");
    char tmp[40];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (is_float ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
            break;
    }
    return rc_buf_puts(b, tmp);
}

/* Any supported Avro value as JSON. */
int rc_cat_put_value(rc_buf *b, avro_value_t *v, const char *what, char *err,
                     size_t errlen)
{
    int is_null = 0;
    if (rc_cat_unwrap_value(v, &is_null) < 0)
        return rc_errf(err, errlen, "%s: bad union value", what);
    if (is_null)
        return rc_buf_append(b, "null", 4) < 0 ? rc_errf(err, errlen, "out of memory")
                                               : 0;
    int rc = -1;
    switch (avro_value_get_type(v)) {
    case AVRO_BOOLEAN: {
        int x = 0;
        if (avro_value_get_boolean(v, &x) == 0)
            rc = rc_buf_puts(b, x ? "true" : "false");
        break;
    }
    case AVRO_INT32: {
        int32_t x = 0;
        if (avro_value_get_int(v, &x) == 0)
            rc = rc_buf_printf(b, "%" PRId32, x);
        break;
    }
    case AVRO_INT64: {
        int64_t x = 0;
        if (avro_value_get_long(v, &x) == 0)
            rc = rc_buf_printf(b, "%" PRId64, x);
        break;
    }
    case AVRO_FLOAT: {
        float x = 0;
        if (avro_value_get_float(v, &x) == 0)
            rc = put_double(b, x, 1);
        break;
    }
    case AVRO_DOUBLE: {
        double x = 0;
        if (avro_value_get_double(v, &x) == 0)
            rc = put_double(b, x, 0);
        break;
    }
    case AVRO_STRING: {
        const char *s;
        size_t n;
        if (rc_cat_get_text(v, &s, &n) < 0)
            break;
        return put_text(b, s, n, what, err, errlen);
    }
    case AVRO_ENUM: {
        int x = -1;
        const char *sym;
        if (avro_value_get_enum(v, &x) != 0 ||
            !(sym = avro_schema_enum_get(avro_value_get_schema(v), x)))
            break;
        rc = rc_buf_json_string(b, sym, strlen(sym));
        break;
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_RECORD: {
        avro_type_t t = avro_value_get_type(v);
        size_t n = 0;
        if (avro_value_get_size(v, &n) != 0)
            break;
        if (rc_buf_append(b, t == AVRO_ARRAY ? "[" : "{", 1) < 0)
            return rc_errf(err, errlen, "out of memory");
        for (size_t i = 0; i < n; i++) {
            avro_value_t el;
            const char *name = NULL;
            if (avro_value_get_by_index(v, i, &el, &name) != 0)
                return rc_errf(err, errlen, "%s: unreadable element", what);
            if (i && rc_buf_append(b, ",", 1) < 0)
                return rc_errf(err, errlen, "out of memory");
            if (t != AVRO_ARRAY) {
                if (!name)
                    return rc_errf(err, errlen, "%s: unnamed member", what);
                if (put_text(b, name, strlen(name), what, err, errlen) < 0)
                    return -1;
                if (rc_buf_append(b, ":", 1) < 0)
                    return rc_errf(err, errlen, "out of memory");
            }
            if (rc_cat_put_value(b, &el, what, err, errlen) < 0)
                return -1;
        }
        if (rc_buf_append(b, t == AVRO_ARRAY ? "]" : "}", 1) < 0)
            return rc_errf(err, errlen, "out of memory");
        return 0;
    }
    default:
        return rc_errf(err, errlen, "%s: Avro type %d has no JSON form", what,
                    (int)avro_value_get_type(v));
    }
    if (rc < 0)
        return rc_errf(err, errlen, "%s: cannot read value", what);
    return 0;
}
