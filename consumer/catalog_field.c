/*
 * catalog_field.c - field references compiled against a record schema.
 *
 * Implementation notes. Every field reference of the catalog ("program_id",
 * "performed_by.name") becomes a list of field indices into the reader
 * schema, with the schema of its last field and whether a null may be met on
 * the way; every room template a list of literal and field parts; every
 * JSON key a ready-made `"key":` literal. Types are checked where they are
 * compiled (room templates take string, int, long or enum fields, payload
 * values anything with a JSON form, and recursive types are refused), so
 * that mapping never meets a value it cannot write.
 */
#include "catalog_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/slice.h"

#define NEST_MAX 8 /* nested objects in a catalog mapping */

char *rc_cat_strdup(struct loader *ld, const char *s)
{
    char *d = strdup(s);
    if (!d)
        rc_cat_fail(ld, "out of memory");
    return d;
}

static int is_ident(const char *s)
{
    if (!*s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                 *s == '_' || *s == '$'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '$'))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Schema helpers                                                      */

avro_schema_t rc_cat_deref(avro_schema_t s)
{
    while (s && is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

avro_schema_t rc_cat_unwrap_null(avro_schema_t s, int *nullable)
{
    s = rc_cat_deref(s);
    if (!is_avro_union(s))
        return s;
    size_t n = avro_schema_union_size(s);
    avro_schema_t t = NULL;
    int has_null = 0;
    for (size_t i = 0; i < n; i++) {
        avro_schema_t b = rc_cat_deref(avro_schema_union_branch(s, (int)i));
        if (is_avro_null(b))
            has_null = 1;
        else if (t)
            return NULL;
        else
            t = b;
    }
    if (!has_null)
        return t;
    *nullable = 1;
    return t ? t : avro_schema_null();
}

/* Type names for errors: "string", "[\"null\",\"string\"]"-ish. */
static const char *type_name(avro_schema_t s)
{
    s = rc_cat_deref(s);
    return s ? avro_schema_type_name(s) : "?";
}

/* Every type a payload value can have: anything but bytes, fixed, recursion. */
static int check_json_type(struct loader *ld, const char *what,
                           avro_schema_t s, int depth)
{
    s = rc_cat_deref(s);
    if (depth > RC_CATALOG_TYPE_DEPTH_MAX)
        return rc_cat_fail(ld, "%s: recursive types are not supported", what);
    switch (avro_typeof(s)) {
    case AVRO_STRING: case AVRO_INT32: case AVRO_INT64: case AVRO_FLOAT:
    case AVRO_DOUBLE: case AVRO_BOOLEAN: case AVRO_NULL: case AVRO_ENUM:
        return 0;
    case AVRO_ARRAY:
        return check_json_type(ld, what, avro_schema_array_items(s), depth + 1);
    case AVRO_MAP:
        return check_json_type(ld, what, avro_schema_map_values(s), depth + 1);
    case AVRO_RECORD:
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (check_json_type(ld, what,
                                avro_schema_record_field_get_by_index(s, (int)i),
                                depth + 1) < 0)
                return -1;
        return 0;
    case AVRO_UNION:
        for (size_t i = 0; i < avro_schema_union_size(s); i++)
            if (check_json_type(ld, what, avro_schema_union_branch(s, (int)i),
                                depth + 1) < 0)
                return -1;
        return 0;
    default:
        return rc_cat_fail(ld, "%s: Avro type %s has no JSON form in payloads", what,
                           type_name(s));
    }
}

/* ------------------------------------------------------------------ */
/* Compiling                                                           */

void rc_cat_path_free(struct path *p)
{
    free(p->text);
    free(p->idx);
    memset(p, 0, sizeof *p);
}

void rc_cat_node_free(struct node *n)
{
    free(n->key);
    free(n->key_lit);
    rc_cat_path_free(&n->path);
    for (size_t i = 0; i < n->nmembers; i++)
        rc_cat_node_free(&n->members[i]);
    free(n->members);
    memset(n, 0, sizeof *n);
}

void rc_cat_tmpl_free(struct tmpl *t)
{
    free(t->text);
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].lit);
        rc_cat_path_free(&t->parts[i].path);
    }
    free(t->parts);
}

/* Compiles "a.b.c" (len bytes of text) against the record schema. */
static int compile_path(struct loader *ld, struct record_spec *r,
                        const char *what, const char *text, size_t len,
                        struct path *p)
{
    memset(p, 0, sizeof *p);
    if (!(p->text = strndup(text, len)))
        return rc_cat_fail(ld, "out of memory");
    size_t steps = 1;
    for (size_t i = 0; i < len; i++)
        steps += text[i] == '.';
    if (!(p->idx = calloc(steps, sizeof *p->idx)))
        return rc_cat_fail(ld, "out of memory");
    avro_schema_t cur = r->schema;
    const char *owner = r->short_name;
    const char *s = p->text;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        char name[128];
        if (n == 0 || n >= sizeof name)
            return rc_cat_fail(ld, "%s: bad field reference \"%s\"", what, p->text);
        memcpy(name, s, n);
        name[n] = '\0';
        int idx = avro_schema_record_field_get_index(cur, name);
        if (idx < 0)
            return rc_cat_fail(ld, "%s: no field \"%s\" in %s", what, name, owner);
        p->idx[p->n++] = idx;
        avro_schema_t t = avro_schema_record_field_get_by_index(cur, idx);
        if (!dot) {
            p->type = t;
            int nullable = 0;
            if (rc_cat_unwrap_null(t, &nullable) && nullable)
                p->nullable = 1;
            return 0;
        }
        int nullable = 0;
        avro_schema_t inner = rc_cat_unwrap_null(t, &nullable);
        if (!inner || !is_avro_record(inner))
            return rc_cat_fail(ld, "%s: field \"%s\" of %s is %s, not a record", what,
                               name, owner, type_name(t));
        p->nullable |= nullable;
        owner = avro_schema_name(inner);
        cur = inner;
        s = dot + 1;
    }
}

/* A path whose value, nulls aside, is one of the types in mask (bit per
 * avro_type_t). */
int rc_cat_compile_typed_path(struct loader *ld, struct record_spec *r,
                              const char *what, const char *text,
                              unsigned mask, int allow_null, struct path *p)
{
    if (compile_path(ld, r, what, text, strlen(text), p) < 0)
        return -1;
    int nullable = 0;
    avro_schema_t t = rc_cat_unwrap_null(p->type, &nullable);
    if (!t || !(mask & (1u << avro_typeof(t))))
        return rc_cat_fail(ld, "%s: field \"%s\" has type %s, which cannot be used "
                           "here", what, text, type_name(p->type));
    if (!allow_null && (nullable || p->nullable))
        return rc_cat_fail(ld, "%s: field \"%s\" must not be nullable", what, text);
    return 0;
}

static char *key_literal(struct loader *ld, const char *key)
{
    rc_buf b = {0};
    if (rc_buf_json_string(&b, key, strlen(key)) < 0 ||
        rc_buf_append(&b, ":", 1) < 0) {
        rc_buf_free(&b);
        rc_cat_fail(ld, "out of memory");
        return NULL;
    }
    return b.p;
}

/*
 * Compiles an object mapping {"key": "field.path" | {...}} into n. reserved
 * lists keys the object may not use (NULL-terminated, may be NULL).
 */
int rc_cat_compile_object(struct loader *ld, struct record_spec *r,
                          const char *what, json_t *obj, int depth,
                          const char *const *reserved, struct node *n)
{
    memset(n, 0, sizeof *n);
    n->is_object = 1;
    if (!json_is_object(obj))
        return rc_cat_fail(ld, "%s must be an object", what);
    if (depth > NEST_MAX)
        return rc_cat_fail(ld, "%s: objects nested too deeply", what);
    size_t count = json_object_size(obj);
    if (count && !(n->members = calloc(count, sizeof *n->members)))
        return rc_cat_fail(ld, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", what, key);
        if (!is_ident(key))
            return rc_cat_fail(ld, "%s: key \"%s\" is not an identifier", what, key);
        for (size_t i = 0; reserved && reserved[i]; i++)
            if (strcmp(key, reserved[i]) == 0)
                return rc_cat_fail(ld, "%s: key \"%s\" is reserved", what, key);
        struct node *m = &n->members[n->nmembers];
        if (json_is_object(v)) {
            if (rc_cat_compile_object(ld, r, sub, v, depth + 1, NULL, m) < 0) {
                n->nmembers++;
                return -1;
            }
        } else if (json_is_string(v)) {
            if (compile_path(ld, r, sub, json_string_value(v),
                             json_string_length(v), &m->path) < 0 ||
                check_json_type(ld, sub, m->path.type, 0) < 0) {
                n->nmembers++;
                return -1;
            }
        } else {
            return rc_cat_fail(ld, "%s must be a field name or an object", sub);
        }
        n->nmembers++;
        if (!(m->key = rc_cat_strdup(ld, key)) || !(m->key_lit = key_literal(ld, key)))
            return -1;
        m->key_lit_len = strlen(m->key_lit);
    }
    return 0;
}

/* "program:{program_id}" -> parts. */
int rc_cat_compile_tmpl(struct loader *ld, struct record_spec *r,
                        const char *what, const char *text, struct tmpl *t)
{
    memset(t, 0, sizeof *t);
    if (!(t->text = rc_cat_strdup(ld, text)))
        return -1;
    size_t max = 1;
    for (const char *c = text; *c; c++)
        max += *c == '{';
    if (!(t->parts = calloc(max, sizeof *t->parts)))
        return rc_cat_fail(ld, "out of memory");
    const char *s = text;
    while (*s) {
        const char *open = strchr(s, '{');
        const char *close = strchr(s, '}');
        if (close && (!open || close < open))
            return rc_cat_fail(ld, "%s \"%s\": unmatched '}'", what, text);
        size_t lit = open ? (size_t)(open - s) : strlen(s);
        struct tmpl_part *p = &t->parts[t->nparts++];
        if (!(p->lit = strndup(s, lit)))
            return rc_cat_fail(ld, "out of memory");
        p->lit_len = lit;
        if (!open)
            break;
        if (!close)
            return rc_cat_fail(ld, "%s \"%s\": unmatched '{'", what, text);
        const char *inner = open + 1;
        if (memchr(inner, '{', (size_t)(close - inner)))
            return rc_cat_fail(ld, "%s \"%s\": nested '{'", what, text);
        char sub[256];
        snprintf(sub, sizeof sub, "%s \"%s\"", what, text);
        if (compile_path(ld, r, sub, inner, (size_t)(close - inner), &p->path) < 0)
            return -1;
        p->has_path = 1;
        int nullable = 0;
        avro_schema_t ty = rc_cat_unwrap_null(p->path.type, &nullable);
        if (!ty || !(RC_CATALOG_SCALAR_ID_TYPES & RC_CATALOG_TYPE_BIT(avro_typeof(ty))))
            return rc_cat_fail(ld, "%s: field \"%s\" has type %s; room templates take "
                               "string, int, long or enum fields", sub, p->path.text,
                               type_name(p->path.type));
        s = close + 1;
    }
    if (t->nparts == 0)
        return rc_cat_fail(ld, "%s: empty room template", what);
    return 0;
}
