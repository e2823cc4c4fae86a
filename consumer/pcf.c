/*
 * pcf.c - Parsing Canonical Form and CRC-64-AVRO.
 *
 * Implementation notes: one recursive walk over the jansson tree applies the
 * specification's transformations in a single pass:
 *   PRIMITIVES  {"type":"int"} -> "int" (also strips logicalType and friends)
 *   FULLNAMES   names and references are qualified with the namespace that
 *               applies (a dotted name, else "namespace", else the enclosing
 *               named type's namespace)
 *   STRIP/ORDER only name, type, fields, symbols, items, values, size, in
 *               that order
 *   STRINGS     names are validated against [A-Za-z_][A-Za-z0-9_]*, so they
 *               are written verbatim and never need escaping
 *   INTEGERS    fixed sizes come from jansson integers, printed in decimal
 *   WHITESPACE  nothing is emitted between tokens
 * Like the reference implementation, a named type is written in full the
 * first time it appears and as its quoted full name afterwards (this is what
 * makes recursive types finite). A reference to a name not yet defined is an
 * error. Nesting is limited to PCF_MAX_DEPTH so hostile schemas cannot
 * exhaust the stack.
 *
 * CRC-64-AVRO is computed bit by bit instead of with the usual 256-entry
 * table: fingerprints are computed when schemas are loaded, never per
 * record, and this keeps the function free of shared state.
 */
#include "pcf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/slice.h"

#define PCF_MAX_DEPTH 64

struct walk {
    rc_buf out;        /* owned; canonical text when emitting */
    char **names;      /* owned full names of the named types seen so far */
    size_t nnames, capnames;
    pcf_named_cb cb;   /* NULL when only emitting */
    void *ud;          /* borrowed, for cb */
    int cb_rc;         /* non-zero once cb stopped the walk */
    char *err;         /* borrowed */
    size_t errlen;
};

static const char *const primitives[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
};

static int is_primitive(const char *s)
{
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(s, primitives[i]) == 0)
            return 1;
    return 0;
}

static int fail(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc_verrf(w->err, w->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* One name component: [A-Za-z_][A-Za-z0-9_]*. */
static int valid_simple_name(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    ch == '_';
        int digit = ch >= '0' && ch <= '9';
        if (!alpha && !(digit && i > 0))
            return 0;
    }
    return 1;
}

/* A possibly dotted name: components separated by single dots. */
static int valid_full_name(const char *s)
{
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (!valid_simple_name(start, (size_t)(p - start)))
                return 0;
            if (*p == '\0')
                return 1;
            start = p + 1;
        }
    }
}

static int emit(struct walk *w, const char *s)
{
    if (rc_buf_puts(&w->out, s) < 0)
        return fail(w, "out of memory");
    return 0;
}

static int emit_quoted(struct walk *w, const char *s)
{
    if (emit(w, "\"") < 0 || emit(w, s) < 0 || emit(w, "\"") < 0)
        return -1;
    return 0;
}

static int seen(const struct walk *w, const char *fullname)
{
    for (size_t i = 0; i < w->nnames; i++)
        if (strcmp(w->names[i], fullname) == 0)
            return 1;
    return 0;
}

/* Takes ownership of fullname. */
static int remember(struct walk *w, char *fullname)
{
    if (w->nnames == w->capnames) {
        size_t cap = w->capnames ? w->capnames * 2 : 16;
        char **names = realloc(w->names, cap * sizeof *names);
        if (!names) {
            free(fullname);
            return fail(w, "out of memory");
        }
        w->names = names;
        w->capnames = cap;
    }
    w->names[w->nnames++] = fullname;
    return 0;
}

/*
 * Full name of name in namespace ns (NULL or "" = no namespace); sets *new_ns
 * (malloc'd, may be "") to the namespace the name lives in. Returns the
 * malloc'd full name or NULL.
 */
static char *qualify(const char *name, const char *ns, char **new_ns)
{
    char *full;
    const char *dot = strrchr(name, '.');
    if (dot) {
        full = strdup(name);
        if (new_ns)
            *new_ns = strndup(name, (size_t)(dot - name));
    } else if (ns && *ns) {
        if (asprintf(&full, "%s.%s", ns, name) < 0)
            full = NULL;
        if (new_ns)
            *new_ns = strdup(ns);
    } else {
        full = strdup(name);
        if (new_ns)
            *new_ns = strdup("");
    }
    if (!full || (new_ns && !*new_ns)) {
        free(full);
        if (new_ns) {
            free(*new_ns);
            *new_ns = NULL;
        }
        return NULL;
    }
    return full;
}

static int walk_schema(struct walk *w, const json_t *node, const char *ns,
                       int depth);

/* A type given by name: a primitive or a reference to a defined type. */
static int walk_name(struct walk *w, const char *name, const char *ns)
{
    if (is_primitive(name))
        return emit_quoted(w, name);
    if (!valid_full_name(name))
        return fail(w, "invalid type name \"%s\"", name);
    char *full = qualify(name, ns, NULL);
    if (!full)
        return fail(w, "out of memory");
    int rc = 0;
    if (!seen(w, full))
        rc = fail(w, "unknown type \"%s\"", full);
    else
        rc = emit_quoted(w, full);
    free(full);
    return rc;
}

static int walk_fields(struct walk *w, const json_t *fields, const char *ns,
                       const char *owner, int depth)
{
    if (!json_is_array(fields))
        return fail(w, "record %s: \"fields\" must be an array", owner);
    if (emit(w, ",\"fields\":[") < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *fname = json_string_value(json_object_get(f, "name"));
        const json_t *ftype = json_object_get(f, "type");
        if (!json_is_object(f) || !fname || !ftype)
            return fail(w, "record %s: field %zu needs a name and a type",
                        owner, i);
        if (!valid_simple_name(fname, strlen(fname)))
            return fail(w, "record %s: invalid field name \"%s\"", owner,
                        fname);
        if ((i && emit(w, ",") < 0) || emit(w, "{\"name\":") < 0 ||
            emit_quoted(w, fname) < 0 || emit(w, ",\"type\":") < 0 ||
            walk_schema(w, ftype, ns, depth + 1) < 0 || emit(w, "}") < 0)
            return -1;
    }
    return emit(w, "]");
}

static int walk_symbols(struct walk *w, const json_t *symbols,
                        const char *owner)
{
    if (!json_is_array(symbols))
        return fail(w, "enum %s: \"symbols\" must be an array", owner);
    if (emit(w, ",\"symbols\":[") < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(symbols); i++) {
        const char *sym = json_string_value(json_array_get(symbols, i));
        if (!sym || !valid_simple_name(sym, strlen(sym)))
            return fail(w, "enum %s: invalid symbol at index %zu", owner, i);
        if ((i && emit(w, ",") < 0) || emit_quoted(w, sym) < 0)
            return -1;
    }
    return emit(w, "]");
}

/* record, error, enum, fixed */
static int walk_named(struct walk *w, const json_t *node, const char *type,
                      const char *ns, int depth)
{
    const char *name = json_string_value(json_object_get(node, "name"));
    if (!name)
        return fail(w, "%s without a \"name\"", type);
    if (!valid_full_name(name))
        return fail(w, "invalid %s name \"%s\"", type, name);
    const char *own_ns = ns;
    const json_t *jns = json_object_get(node, "namespace");
    if (jns && !json_is_null(jns)) {
        own_ns = json_string_value(jns);
        if (!own_ns || (*own_ns && !valid_full_name(own_ns)))
            return fail(w, "%s %s: invalid namespace", type, name);
    }
    char *inner_ns = NULL;
    char *full = qualify(name, own_ns, &inner_ns);
    if (!full)
        return fail(w, "out of memory");
    int rc = -1;
    if (seen(w, full)) {
        /* Defined before. Listing the named types (a schema about to be
         * parsed), that is an error: Avro forbids it, and avro-c leaks the
         * schema it was building when it refuses one. For the canonical
         * form it is written as a reference, as the spec's reference
         * implementation does. */
        if (w->cb) {
            rc = fail(w, "%s %s is defined twice", type, full);
            free(full);
            free(inner_ns);
            return rc;
        }
        rc = emit_quoted(w, full);
        free(full);
        free(inner_ns);
        return rc;
    }
    if (remember(w, full) < 0) {
        free(inner_ns);
        return -1;
    }
    /* full is now owned by w->names */
    if (w->cb) {
        int cbrc = w->cb(w->ud, full, node);
        if (cbrc) {
            w->cb_rc = cbrc;
            goto done;
        }
    }
    if (emit(w, "{\"name\":") < 0 || emit_quoted(w, full) < 0)
        goto done;
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0) {
        if (emit(w, ",\"type\":\"record\"") < 0 ||
            walk_fields(w, json_object_get(node, "fields"), inner_ns, full,
                        depth) < 0)
            goto done;
    } else if (strcmp(type, "enum") == 0) {
        if (emit(w, ",\"type\":\"enum\"") < 0 ||
            walk_symbols(w, json_object_get(node, "symbols"), full) < 0)
            goto done;
    } else {
        const json_t *size = json_object_get(node, "size");
        char num[32];
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            fail(w, "fixed %s: \"size\" must be a non-negative integer", full);
            goto done;
        }
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(size));
        if (emit(w, ",\"type\":\"fixed\",\"size\":") < 0 || emit(w, num) < 0)
            goto done;
    }
    rc = emit(w, "}");
done:
    free(inner_ns);
    return rc;
}

static int walk_schema(struct walk *w, const json_t *node, const char *ns,
                       int depth)
{
    if (w->cb_rc)
        return -1;
    if (depth > PCF_MAX_DEPTH)
        return fail(w, "schema nested deeper than %d levels", PCF_MAX_DEPTH);
    if (json_is_string(node))
        return walk_name(w, json_string_value(node), ns);
    if (json_is_array(node)) {
        if (emit(w, "[") < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(node); i++)
            if ((i && emit(w, ",") < 0) ||
                walk_schema(w, json_array_get(node, i), ns, depth + 1) < 0)
                return -1;
        return emit(w, "]");
    }
    if (!json_is_object(node))
        return fail(w, "a schema must be a string, an object or an array");
    const char *type = json_string_value(json_object_get(node, "type"));
    if (!type)
        return fail(w, "schema object without a string \"type\"");
    if (is_primitive(type))
        return emit_quoted(w, type);
    if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
        strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)
        return walk_named(w, node, type, ns, depth);
    if (strcmp(type, "array") == 0) {
        const json_t *items = json_object_get(node, "items");
        if (!items)
            return fail(w, "array without \"items\"");
        if (emit(w, "{\"type\":\"array\",\"items\":") < 0 ||
            walk_schema(w, items, ns, depth + 1) < 0)
            return -1;
        return emit(w, "}");
    }
    if (strcmp(type, "map") == 0) {
        const json_t *values = json_object_get(node, "values");
        if (!values)
            return fail(w, "map without \"values\"");
        if (emit(w, "{\"type\":\"map\",\"values\":") < 0 ||
            walk_schema(w, values, ns, depth + 1) < 0)
            return -1;
        return emit(w, "}");
    }
    /* {"type":"SomeNamedType"} is a reference too. */
    return walk_name(w, type, ns);
}

static void walk_done(struct walk *w)
{
    for (size_t i = 0; i < w->nnames; i++)
        free(w->names[i]);
    free(w->names);
    rc_buf_free(&w->out);
}

char *rc_pcf_canonical_json(const json_t *schema, char *err, size_t errlen)
{
    struct walk w = {.err = err, .errlen = errlen};
    char *res = NULL;
    if (!schema) {
        fail(&w, "no schema");
        goto fail;
    }
    if (walk_schema(&w, schema, NULL, 0) < 0)
        goto fail;
    res = w.out.p; /* ownership moves to the caller */
    w.out.p = NULL;
    if (!res)
        res = strdup("");
fail:
    walk_done(&w);
    return res;
}

char *rc_pcf_canonical(const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        if (err && errlen)
            rc_errf(err, errlen, "invalid JSON at line %d: %s", jerr.line,
                     jerr.text);
        return NULL;
    }
    char *res = rc_pcf_canonical_json(root, err, errlen);
    json_decref(root);
    return res;
}

uint64_t rc_pcf_crc64(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t fp = RC_PCF_CRC64_EMPTY;
    for (size_t i = 0; i < len; i++) {
        fp ^= b[i];
        for (int bit = 0; bit < 8; bit++)
            fp = (fp >> 1) ^ (RC_PCF_CRC64_EMPTY & (0 - (fp & 1)));
    }
    return fp;
}

int rc_pcf_fingerprint_json(const json_t *schema, uint64_t *out, char *err,
                         size_t errlen)
{
    char *canon = rc_pcf_canonical_json(schema, err, errlen);
    if (!canon)
        return -1;
    *out = rc_pcf_crc64(canon, strlen(canon));
    free(canon);
    return 0;
}

int rc_pcf_fingerprint(const char *json, size_t len, uint64_t *out, char *err,
                    size_t errlen)
{
    char *canon = rc_pcf_canonical(json, len, err, errlen);
    if (!canon)
        return -1;
    *out = rc_pcf_crc64(canon, strlen(canon));
    free(canon);
    return 0;
}

int rc_pcf_named_types(const json_t *schema, pcf_named_cb cb, void *ud,
                    char *err, size_t errlen)
{
    struct walk w = {.cb = cb, .ud = ud, .err = err, .errlen = errlen};
    int rc = schema ? walk_schema(&w, schema, NULL, 0) : fail(&w, "no schema");
    if (w.cb_rc)
        rc = w.cb_rc;
    walk_done(&w);
    return rc;
}
