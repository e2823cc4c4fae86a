/*
 * catalog.c - interprets schemas/catalog.json: records to typed events.
 *
 * Implementation notes. The catalog is compiled once at load against the
 * record schemas it names: every field reference ("program_id",
 * "performed_by.name") becomes a list of field indices into the reader
 * schema, every room template a list of literal and field parts, every JSON
 * key a ready-made `"key":` literal, and every action symbol an index into a
 * table ordered like the enum. rc_catalog_map then walks the record with
 * avro_value_get_by_index only (no name lookups, no JSON tree) and writes the
 * payload straight into one rc_buf whose storage becomes the event's payload.
 *
 * The value handed to rc_catalog_map comes from the codec, which parses the
 * same schema files itself, so field indices and enum numbers agree with
 * ours. That is checked cheaply per record (record name and field count,
 * enum symbol text) rather than assumed; a mismatch is an error, never a
 * wrong payload. Strings must be valid UTF-8 (a WebSocket text frame that is
 * not would make browsers drop the connection), so invalid text fails the
 * record instead of reaching clients.
 */
#include "catalog.h"
#include "catalog_private.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/file.h"
#include "core/iso8601.h"
#include "core/log.h"
#include "core/slice.h"
#include "core/utf8.h"

#define CATALOG_FILE "catalog.json"
#define FILE_MAX (1024 * 1024) /* catalog and schema files */
#define EVENT_ID_MAX 256       /* bytes; longer ids fail the record */
#define EVENT_NAME_MAX 64
#define TOPIC_MAX 249          /* Kafka's limit */
#define NEST_MAX 8             /* nested objects in a catalog mapping */

/* ------------------------------------------------------------------ */
/* Loader context and errors                                           */

struct loader {
    const char *dir;
    char *errstr;
    size_t errlen;
    char ctx[256]; /* "record RequestMutation, event ASSIGNED" */
    int failed;
};

__attribute__((format(printf, 2, 3)))
static int lfail(struct loader *ld, const char *fmt, ...)
{
    if (ld->failed)
        return -1;
    ld->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ld->ctx[0])
        return rc_errf(ld->errstr, ld->errlen, "%s/%s: %s: %s", ld->dir,
                       CATALOG_FILE, ld->ctx, msg);
    return rc_errf(ld->errstr, ld->errlen, "%s/%s: %s", ld->dir, CATALOG_FILE,
                   msg);
}

static char *xstrdup(struct loader *ld, const char *s)
{
    char *d = strdup(s);
    if (!d)
        lfail(ld, "out of memory");
    return d;
}

/* Reads dir/name whole (at most FILE_MAX bytes). */
static char *read_file(struct loader *ld, const char *name, size_t *len)
{
    char path[4096], why[512];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", ld->dir, name) >=
        sizeof path) {
        lfail(ld, "path too long: %s/%s", ld->dir, name);
        return NULL;
    }
    char *text = rc_file_read(path, NULL, FILE_MAX, len, why, sizeof why);
    if (!text)
        lfail(ld, "%s", why);
    return text;
}

/* Rejects members of obj not in the NULL-terminated list allowed; where
 * (may be NULL) names obj in the message. */
static int check_keys(struct loader *ld, json_t *obj, const char *where,
                      const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i;
        for (i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (!allowed[i])
            return where ? lfail(ld, "%s: unknown key \"%s\"", where, key)
                         : lfail(ld, "unknown key \"%s\"", key);
    }
    return 0;
}

static const char *get_string(struct loader *ld, json_t *obj, const char *key,
                              int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            lfail(ld, "missing \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        lfail(ld, "\"%s\" must be a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
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

/* Socket.IO event names the catalog may use: [A-Za-z][A-Za-z0-9:_.-]*. */
static int valid_event_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EVENT_NAME_MAX ||
        !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == ':' || *s == '_' ||
              *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* Names socket.io-client reserves for itself. */
static int reserved_event_name(const char *s)
{
    static const char *const reserved[] = {
        "connect", "connect_error", "disconnect", "disconnecting",
        "newListener", "removeListener", NULL};
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return 1;
    return 0;
}

static int valid_topic(const char *s, size_t n)
{
    if (n == 0 || n > TOPIC_MAX)
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
              s[i] == '-'))
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
        return lfail(ld, "%s: recursive types are not supported", what);
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
        return lfail(ld, "%s: Avro type %s has no JSON form in payloads", what,
                     type_name(s));
    }
}

/* ------------------------------------------------------------------ */
/* Compiling                                                           */

static void path_free(struct path *p)
{
    free(p->text);
    free(p->idx);
    memset(p, 0, sizeof *p);
}

static void node_free(struct node *n)
{
    free(n->key);
    free(n->key_lit);
    path_free(&n->path);
    for (size_t i = 0; i < n->nmembers; i++)
        node_free(&n->members[i]);
    free(n->members);
    memset(n, 0, sizeof *n);
}

static void tmpl_free(struct tmpl *t)
{
    free(t->text);
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].lit);
        path_free(&t->parts[i].path);
    }
    free(t->parts);
}

static void event_free(struct event_spec *e)
{
    free(e->symbol);
    free(e->name);
    free(e->name_lit);
    free(e->ts_name);
    free(e->doc);
    for (size_t i = 0; i < e->nrooms; i++)
        tmpl_free(&e->rooms[i]);
    free(e->rooms);
    node_free(&e->data);
    path_free(&e->member_user);
    path_free(&e->member_program);
}

static void record_free(struct record_spec *r)
{
    free(r->full_name);
    free(r->topic);
    if (r->schema)
        avro_schema_decref(r->schema);
    path_free(&r->event_id);
    path_free(&r->timestamp);
    path_free(&r->action);
    node_free(&r->ids);
    node_free(&r->performed_by);
    for (size_t i = 0; i < r->nevents; i++)
        event_free(&r->events[i]);
    free(r->events);
    free(r->by_symbol);
}

/* Compiles "a.b.c" (len bytes of text) against the record schema. */
static int compile_path(struct loader *ld, struct record_spec *r,
                        const char *what, const char *text, size_t len,
                        struct path *p)
{
    memset(p, 0, sizeof *p);
    if (!(p->text = strndup(text, len)))
        return lfail(ld, "out of memory");
    size_t steps = 1;
    for (size_t i = 0; i < len; i++)
        steps += text[i] == '.';
    if (!(p->idx = calloc(steps, sizeof *p->idx)))
        return lfail(ld, "out of memory");
    avro_schema_t cur = r->schema;
    const char *owner = r->short_name;
    const char *s = p->text;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        char name[128];
        if (n == 0 || n >= sizeof name)
            return lfail(ld, "%s: bad field reference \"%s\"", what, p->text);
        memcpy(name, s, n);
        name[n] = '\0';
        int idx = avro_schema_record_field_get_index(cur, name);
        if (idx < 0)
            return lfail(ld, "%s: no field \"%s\" in %s", what, name, owner);
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
            return lfail(ld, "%s: field \"%s\" of %s is %s, not a record", what,
                         name, owner, type_name(t));
        p->nullable |= nullable;
        owner = avro_schema_name(inner);
        cur = inner;
        s = dot + 1;
    }
}

/* A path whose value, nulls aside, is one of the types in mask (bit per
 * avro_type_t). */
static int compile_typed_path(struct loader *ld, struct record_spec *r,
                              const char *what, const char *text,
                              unsigned mask, int allow_null, struct path *p)
{
    if (compile_path(ld, r, what, text, strlen(text), p) < 0)
        return -1;
    int nullable = 0;
    avro_schema_t t = rc_cat_unwrap_null(p->type, &nullable);
    if (!t || !(mask & (1u << avro_typeof(t))))
        return lfail(ld, "%s: field \"%s\" has type %s, which cannot be used "
                     "here", what, text, type_name(p->type));
    if (!allow_null && (nullable || p->nullable))
        return lfail(ld, "%s: field \"%s\" must not be nullable", what, text);
    return 0;
}

#define TYPE_BIT(t) (1u << (t))
#define SCALAR_ID_TYPES                                                       \
    (TYPE_BIT(AVRO_STRING) | TYPE_BIT(AVRO_INT32) | TYPE_BIT(AVRO_INT64) |   \
     TYPE_BIT(AVRO_ENUM))

static char *key_literal(struct loader *ld, const char *key)
{
    rc_buf b = {0};
    if (rc_buf_json_string(&b, key, strlen(key)) < 0 ||
        rc_buf_append(&b, ":", 1) < 0) {
        rc_buf_free(&b);
        lfail(ld, "out of memory");
        return NULL;
    }
    return b.p;
}

/*
 * Compiles an object mapping {"key": "field.path" | {...}} into n. reserved
 * lists keys the object may not use (NULL-terminated, may be NULL).
 */
static int compile_object(struct loader *ld, struct record_spec *r,
                          const char *what, json_t *obj, int depth,
                          const char *const *reserved, struct node *n)
{
    memset(n, 0, sizeof *n);
    n->is_object = 1;
    if (!json_is_object(obj))
        return lfail(ld, "%s must be an object", what);
    if (depth > NEST_MAX)
        return lfail(ld, "%s: objects nested too deeply", what);
    size_t count = json_object_size(obj);
    if (count && !(n->members = calloc(count, sizeof *n->members)))
        return lfail(ld, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", what, key);
        if (!is_ident(key))
            return lfail(ld, "%s: key \"%s\" is not an identifier", what, key);
        for (size_t i = 0; reserved && reserved[i]; i++)
            if (strcmp(key, reserved[i]) == 0)
                return lfail(ld, "%s: key \"%s\" is reserved", what, key);
        struct node *m = &n->members[n->nmembers];
        if (json_is_object(v)) {
            if (compile_object(ld, r, sub, v, depth + 1, NULL, m) < 0) {
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
            return lfail(ld, "%s must be a field name or an object", sub);
        }
        n->nmembers++;
        if (!(m->key = xstrdup(ld, key)) || !(m->key_lit = key_literal(ld, key)))
            return -1;
        m->key_lit_len = strlen(m->key_lit);
    }
    return 0;
}

/* "program:{program_id}" -> parts. */
static int compile_tmpl(struct loader *ld, struct record_spec *r,
                        const char *what, const char *text, struct tmpl *t)
{
    memset(t, 0, sizeof *t);
    if (!(t->text = xstrdup(ld, text)))
        return -1;
    size_t max = 1;
    for (const char *c = text; *c; c++)
        max += *c == '{';
    if (!(t->parts = calloc(max, sizeof *t->parts)))
        return lfail(ld, "out of memory");
    const char *s = text;
    while (*s) {
        const char *open = strchr(s, '{');
        const char *close = strchr(s, '}');
        if (close && (!open || close < open))
            return lfail(ld, "%s \"%s\": unmatched '}'", what, text);
        size_t lit = open ? (size_t)(open - s) : strlen(s);
        struct tmpl_part *p = &t->parts[t->nparts++];
        if (!(p->lit = strndup(s, lit)))
            return lfail(ld, "out of memory");
        p->lit_len = lit;
        if (!open)
            break;
        if (!close)
            return lfail(ld, "%s \"%s\": unmatched '{'", what, text);
        const char *inner = open + 1;
        if (memchr(inner, '{', (size_t)(close - inner)))
            return lfail(ld, "%s \"%s\": nested '{'", what, text);
        char sub[256];
        snprintf(sub, sizeof sub, "%s \"%s\"", what, text);
        if (compile_path(ld, r, sub, inner, (size_t)(close - inner), &p->path) < 0)
            return -1;
        p->has_path = 1;
        int nullable = 0;
        avro_schema_t ty = rc_cat_unwrap_null(p->path.type, &nullable);
        if (!ty || !(SCALAR_ID_TYPES & TYPE_BIT(avro_typeof(ty))))
            return lfail(ld, "%s: field \"%s\" has type %s; room templates take "
                         "string, int, long or enum fields", sub, p->path.text,
                         type_name(p->path.type));
        s = close + 1;
    }
    if (t->nparts == 0)
        return lfail(ld, "%s: empty room template", what);
    return 0;
}

/* "request:status_changed" -> "RequestStatusChangedEvent". */
static char *ts_interface_name(struct loader *ld, const char *event)
{
    rc_buf b = {0};
    int up = 1;
    for (const char *c = event; *c; c++) {
        int alnum = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                    (*c >= '0' && *c <= '9');
        if (!alnum) {
            up = 1;
            continue;
        }
        char ch = *c;
        if (up && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        up = 0;
        if (rc_buf_append(&b, &ch, 1) < 0)
            goto oom;
    }
    if (rc_buf_puts(&b, "Event") < 0)
        goto oom;
    return b.p;
oom:
    rc_buf_free(&b);
    lfail(ld, "out of memory");
    return NULL;
}

static int compile_event(struct loader *ld, struct record_spec *r,
                         const char *symbol, json_t *spec,
                         struct event_spec *e)
{
    static const char *const keys[] = {"event", "doc", "rooms", "data",
                                       "transient", "membership", NULL};
    const char *name, *doc;
    json_t *rooms, *data, *tr, *mem;
    memset(e, 0, sizeof *e);
    if (!(e->symbol = xstrdup(ld, symbol)))
        return -1;
    if (!json_is_object(spec))
        return lfail(ld, "must be an object");
    if (check_keys(ld, spec, NULL, keys) < 0)
        return -1;
    if (!(name = get_string(ld, spec, "event", 1)))
        return -1;
    if (!valid_event_name(name))
        return lfail(ld, "event name \"%s\" must match [A-Za-z][A-Za-z0-9:_.-]* "
                     "(at most %d bytes)", name, EVENT_NAME_MAX);
    if (reserved_event_name(name))
        return lfail(ld, "event name \"%s\" is reserved by Socket.IO", name);
    if (!(e->name = xstrdup(ld, name)) ||
        !(e->ts_name = ts_interface_name(ld, name)))
        return -1;
    rc_buf lit = {0};
    if (rc_buf_json_string(&lit, name, strlen(name)) < 0)
        return lfail(ld, "out of memory");
    e->name_lit = lit.p;
    if (json_object_get(spec, "doc")) {
        if (!(doc = get_string(ld, spec, "doc", 1)))
            return -1;
        if (strstr(doc, "*/"))
            return lfail(ld, "doc must not contain \"*/\"");
        if (!(e->doc = xstrdup(ld, doc)))
            return -1;
    }

    rooms = json_object_get(spec, "rooms");
    if (!json_is_array(rooms) || json_array_size(rooms) == 0)
        return lfail(ld, "\"rooms\" must be a non-empty array of templates");
    if (!(e->rooms = calloc(json_array_size(rooms), sizeof *e->rooms)))
        return lfail(ld, "out of memory");
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *t = json_array_get(rooms, i);
        char what[32];
        snprintf(what, sizeof what, "rooms[%zu]", i);
        if (!json_is_string(t) || json_string_length(t) == 0)
            return lfail(ld, "%s must be a non-empty string", what);
        e->nrooms++;
        if (compile_tmpl(ld, r, what, json_string_value(t), &e->rooms[i]) < 0)
            return -1;
    }

    data = json_object_get(spec, "data");
    if (!data)
        return lfail(ld, "missing \"data\"");
    if (compile_object(ld, r, "data", data, 0, NULL, &e->data) < 0)
        return -1;

    tr = json_object_get(spec, "transient");
    if (tr && !json_is_boolean(tr))
        return lfail(ld, "\"transient\" must be true or false");
    e->transient = tr && json_is_true(tr);

    mem = json_object_get(spec, "membership");
    if (mem) {
        static const char *const mkeys[] = {"op", "user", "program", NULL};
        if (!json_is_object(mem))
            return lfail(ld, "\"membership\" must be an object");
        if (check_keys(ld, mem, "membership", mkeys) < 0)
            return -1;
        const char *op = get_string(ld, mem, "op", 1);
        const char *user = get_string(ld, mem, "user", 1);
        const char *prog = get_string(ld, mem, "program", 1);
        if (!op || !user || !prog)
            return -1;
        if (strcmp(op, "add") == 0)
            e->member_op = RC_MEMBER_ADD;
        else if (strcmp(op, "remove") == 0)
            e->member_op = RC_MEMBER_REMOVE;
        else
            return lfail(ld, "membership.op must be \"add\" or \"remove\", not "
                         "\"%s\"", op);
        if (compile_typed_path(ld, r, "membership.user", user,
                               TYPE_BIT(AVRO_STRING), 1, &e->member_user) < 0 ||
            compile_typed_path(ld, r, "membership.program", prog,
                               TYPE_BIT(AVRO_STRING), 1,
                               &e->member_program) < 0)
            return -1;
    }
    return 0;
}

/* The timestamp must be a top-level long with logicalType timestamp-millis;
 * avro-c drops logical types, so the schema JSON is read for it. */
static int check_timestamp_millis(struct loader *ld, json_t *schema_json,
                                  const char *field, const char *file)
{
    json_t *fields = json_object_get(schema_json, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        json_t *name = json_object_get(f, "name");
        if (!json_is_string(name) || strcmp(json_string_value(name), field))
            continue;
        json_t *type = json_object_get(f, "type");
        json_t *lt = json_object_get(type, "logicalType");
        if (!json_is_object(type) || !json_is_string(lt) ||
            strcmp(json_string_value(lt), "timestamp-millis") != 0)
            return lfail(ld, "timestamp: field \"%s\" in %s is not a long with "
                         "logicalType timestamp-millis", field, file);
        return 0;
    }
    return lfail(ld, "timestamp: \"%s\" must be a top-level field", field);
}

static int load_schema(struct loader *ld, struct record_spec *r,
                       const char *record, const char *file,
                       json_t **schema_json)
{
    size_t len = 0;
    char *text = read_file(ld, file, &len);
    if (!text)
        return -1;
    json_error_t jerr;
    *schema_json = json_loadb(text, len, 0, &jerr);
    if (avro_schema_from_json_length(text, len, &r->schema) != 0) {
        r->schema = NULL;
        free(text);
        return lfail(ld, "schema %s: %s", file, avro_strerror());
    }
    free(text);
    if (!*schema_json)
        return lfail(ld, "schema %s: %s", file, jerr.text);
    if (!is_avro_record(r->schema))
        return lfail(ld, "schema %s is not a record", file);
    const char *ns = avro_schema_namespace(r->schema);
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", ns && *ns ? ns : "",
             ns && *ns ? "." : "", avro_schema_name(r->schema));
    if (strcmp(full, record) != 0)
        return lfail(ld, "schema %s defines %s, not %s", file, full, record);
    r->nfields = avro_schema_record_size(r->schema);
    return 0;
}

static int compile_record(struct loader *ld, json_t *spec, size_t pos,
                          struct record_spec *r)
{
    static const char *const keys[] = {"record", "doc", "schema", "topic",
                                       "eventId", "timestamp", "action", "ids",
                                       "performedBy", "events", NULL};
    static const char *const id_reserved[] = {"eventId", "event", "data",
                                              "performedBy", "timestamp", NULL};
    json_t *schema_json = NULL;
    const char *record, *file, *topic, *event_id, *ts, *action;
    json_t *ids, *pb, *events;
    avro_schema_t enum_schema;
    int rc = -1;

    snprintf(ld->ctx, sizeof ld->ctx, "records[%zu]", pos);
    if (!json_is_object(spec)) {
        lfail(ld, "must be an object");
        goto out;
    }
    if (!(record = get_string(ld, spec, "record", 1)))
        goto out;
    snprintf(ld->ctx, sizeof ld->ctx, "record %s", record);
    if (check_keys(ld, spec, NULL, keys) < 0)
        goto out;
    if (!(r->full_name = xstrdup(ld, record)))
        goto out;
    const char *dot = strrchr(r->full_name, '.');
    r->short_name = dot ? dot + 1 : r->full_name;
    if (!(file = get_string(ld, spec, "schema", 1)) ||
        !(topic = get_string(ld, spec, "topic", 1)))
        goto out;
    if (file[0] == '/' || strstr(file, "..")) {
        lfail(ld, "schema \"%s\" must be a path inside the schemas directory",
              file);
        goto out;
    }
    if (!valid_topic(topic, strlen(topic))) {
        lfail(ld, "topic \"%s\" is not a valid Kafka topic name", topic);
        goto out;
    }
    if (!(r->topic = xstrdup(ld, topic)))
        goto out;
    if (load_schema(ld, r, record, file, &schema_json) < 0)
        goto out;

    if (!(event_id = get_string(ld, spec, "eventId", 1)) ||
        compile_typed_path(ld, r, "eventId", event_id, TYPE_BIT(AVRO_STRING),
                           1, &r->event_id) < 0)
        goto out;
    if (!(ts = get_string(ld, spec, "timestamp", 1)) ||
        compile_typed_path(ld, r, "timestamp", ts, TYPE_BIT(AVRO_INT64), 0,
                           &r->timestamp) < 0 ||
        check_timestamp_millis(ld, schema_json, ts, file) < 0)
        goto out;
    if (!(action = get_string(ld, spec, "action", 1)) ||
        compile_typed_path(ld, r, "action", action, TYPE_BIT(AVRO_ENUM), 0,
                           &r->action) < 0)
        goto out;

    ids = json_object_get(spec, "ids");
    if (ids) {
        if (compile_object(ld, r, "ids", ids, 0, id_reserved, &r->ids) < 0)
            goto out;
        for (size_t i = 0; i < r->ids.nmembers; i++) {
            struct node *m = &r->ids.members[i];
            int nullable = 0;
            avro_schema_t t = m->is_object ? NULL
                                           : rc_cat_unwrap_null(m->path.type, &nullable);
            if (!t || !(SCALAR_ID_TYPES & TYPE_BIT(avro_typeof(t)))) {
                lfail(ld, "ids.%s must name a string, int, long or enum field",
                      m->key);
                goto out;
            }
        }
    } else {
        r->ids.is_object = 1;
    }

    pb = json_object_get(spec, "performedBy");
    if (pb) {
        r->has_performed_by = 1;
        if (compile_object(ld, r, "performedBy", pb, 0, NULL,
                           &r->performed_by) < 0)
            goto out;
    }

    enum_schema = rc_cat_deref(r->action.type);
    r->nsymbols = (size_t)avro_schema_enum_number_of_symbols(enum_schema);
    events = json_object_get(spec, "events");
    if (!json_is_object(events) || json_object_size(events) == 0) {
        lfail(ld, "\"events\" must be an object of enum symbol -> event");
        goto out;
    }
    if (!(r->events = calloc(json_object_size(events), sizeof *r->events)) ||
        !(r->by_symbol = calloc(r->nsymbols + 1, sizeof *r->by_symbol))) {
        lfail(ld, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nsymbols; i++)
        r->by_symbol[i] = -1;
    const char *sym;
    json_t *ev;
    json_object_foreach(events, sym, ev) {
        snprintf(ld->ctx, sizeof ld->ctx, "record %s", record);
        int num = avro_schema_enum_get_by_name(enum_schema, sym);
        if (num < 0) {
            rc_buf list = {0};
            for (size_t i = 0; i < r->nsymbols; i++)
                if (rc_buf_printf(&list, "%s%s", i ? ", " : "",
                                  avro_schema_enum_get(enum_schema, (int)i)) < 0)
                    break;
            lfail(ld, "events: \"%s\" is not a symbol of enum %s (%s)", sym,
                  avro_schema_name(enum_schema), list.p ? list.p : "");
            rc_buf_free(&list);
            goto out;
        }
        snprintf(ld->ctx, sizeof ld->ctx, "record %s, event %s", record, sym);
        r->nevents++;
        if (compile_event(ld, r, sym, ev, &r->events[r->nevents - 1]) < 0)
            goto out;
        r->by_symbol[num] = (int)(r->nevents - 1);
    }
    snprintf(ld->ctx, sizeof ld->ctx, "record %s", record);
    for (size_t i = 0; i < r->nsymbols; i++)
        if (r->by_symbol[i] < 0) {
            lfail(ld, "events: enum symbol %s of %s has no event",
                  avro_schema_enum_get(enum_schema, (int)i),
                  avro_schema_name(enum_schema));
            goto out;
        }
    rc = 0;
out:
    if (schema_json)
        json_decref(schema_json);
    return rc;
}

/* Checks the optional "typescript" section; kept as JSON for generation. */
static int check_typescript(struct loader *ld, json_t *ts, rc_catalog *cat)
{
    static const char *const keys[] = {"declarations", "serverToClient",
                                       "clientToServer", NULL};
    snprintf(ld->ctx, sizeof ld->ctx, "typescript");
    if (!json_is_object(ts))
        return lfail(ld, "must be an object");
    if (check_keys(ld, ts, "typescript", keys) < 0)
        return -1;
    json_t *decl = json_object_get(ts, "declarations");
    if (decl) {
        size_t i;
        json_t *d;
        if (!json_is_array(decl))
            return lfail(ld, "declarations must be an array of lines");
        json_array_foreach(decl, i, d)
            if (!json_is_string(d))
                return lfail(ld, "declarations[%zu] must be a string", i);
    }
    static const char *const sections[] = {"serverToClient", "clientToServer"};
    for (size_t s = 0; s < 2; s++) {
        json_t *obj = json_object_get(ts, sections[s]);
        const char *name;
        json_t *sig;
        if (!obj)
            continue;
        if (!json_is_object(obj))
            return lfail(ld, "%s must be an object of event -> signature",
                         sections[s]);
        json_object_foreach(obj, name, sig) {
            if (!valid_event_name(name) || reserved_event_name(name))
                return lfail(ld, "%s: bad event name \"%s\"", sections[s], name);
            if (!json_is_string(sig) || json_string_length(sig) == 0)
                return lfail(ld, "%s.%s must be a TypeScript signature string",
                             sections[s], name);
            if (s == 0)
                for (size_t r = 0; r < cat->nrecs; r++)
                    for (size_t e = 0; e < cat->recs[r].nevents; e++)
                        if (strcmp(cat->recs[r].events[e].name, name) == 0)
                            return lfail(ld, "serverToClient: \"%s\" is already "
                                         "a catalog event", name);
        }
    }
    return 0;
}

/* Cross-record checks: unique records, event names and interface names. */
static int check_unique(struct loader *ld, rc_catalog *cat)
{
    static const char *const ts_reserved[] = {
        "RoomcastEvent", "RoomcastEventMap", "ServerToClientEvents",
        "ClientToServerEvents", NULL};
    ld->ctx[0] = '\0';
    for (size_t a = 0; a < cat->nrecs; a++) {
        struct record_spec *ra = &cat->recs[a];
        for (size_t b = a + 1; b < cat->nrecs; b++)
            if (strcmp(ra->full_name, cat->recs[b].full_name) == 0)
                return lfail(ld, "record %s is listed twice", ra->full_name);
        for (size_t e = 0; e < ra->nevents; e++) {
            struct event_spec *ea = &ra->events[e];
            for (size_t i = 0; ts_reserved[i]; i++)
                if (strcmp(ea->ts_name, ts_reserved[i]) == 0)
                    return lfail(ld, "event %s: its TypeScript name %s is "
                                 "reserved", ea->name, ea->ts_name);
            for (size_t b = a; b < cat->nrecs; b++)
                for (size_t f = b == a ? e + 1 : 0; f < cat->recs[b].nevents;
                     f++) {
                    struct event_spec *eb = &cat->recs[b].events[f];
                    if (strcmp(ea->name, eb->name) == 0)
                        return lfail(ld, "event %s is defined twice", ea->name);
                    if (strcmp(ea->ts_name, eb->ts_name) == 0)
                        return lfail(ld, "events %s and %s both map to the "
                                     "TypeScript name %s", ea->name, eb->name,
                                     ea->ts_name);
                }
        }
    }
    return 0;
}

/* Two records on one topic would make the topic ambiguous. overridden: the
 * topics include overrides, which then are the likely cause. */
static int topics_unique(struct loader *ld, rc_catalog *cat, int overridden)
{
    ld->ctx[0] = '\0';
    for (size_t a = 0; a < cat->nrecs; a++)
        for (size_t b = a + 1; b < cat->nrecs; b++) {
            struct record_spec *ra = &cat->recs[a], *rb = &cat->recs[b];
            if (strcmp(ra->topic, rb->topic) != 0)
                continue;
            if (!overridden)
                return lfail(ld, "records %s and %s share topic %s",
                             ra->full_name, rb->full_name, ra->topic);
            return rc_errf(ld->errstr, ld->errlen, "topic overrides: records %s "
                        "and %s would share topic %s", ra->full_name,
                        rb->full_name, ra->topic);
        }
    return 0;
}

static struct record_spec *find_record(const rc_catalog *cat, const char *name,
                                       size_t len, int *ambiguous)
{
    struct record_spec *found = NULL;
    *ambiguous = 0;
    for (size_t i = 0; i < cat->nrecs; i++) {
        struct record_spec *r = &cat->recs[i];
        if (strlen(r->full_name) == len && memcmp(r->full_name, name, len) == 0)
            return r;
    }
    for (size_t i = 0; i < cat->nrecs; i++) {
        struct record_spec *r = &cat->recs[i];
        if (strlen(r->short_name) == len &&
            memcmp(r->short_name, name, len) == 0) {
            if (found)
                *ambiguous = 1;
            found = r;
        }
    }
    return *ambiguous ? NULL : found;
}

/* "Record=topic,..." on top of the catalog's default topics. */
static int apply_overrides(rc_catalog *cat, const char *spec, char *errstr,
                           size_t errlen)
{
    int *seen = calloc(cat->nrecs + 1, sizeof *seen);
    if (!seen)
        return rc_errf(errstr, errlen, "out of memory");
    const char *s = spec;
    int rc = -1;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *a = s, *z = s + n;
        s = end ? end + 1 : s + n;
        while (a < z && (*a == ' ' || *a == '\t'))
            a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
            z--;
        if (a == z)
            continue;
        const char *eq = memchr(a, '=', (size_t)(z - a));
        if (!eq) {
            rc_errf(errstr, errlen, "topic override \"%.*s\": expected Record=topic",
                 (int)(z - a), a);
            goto out;
        }
        const char *na = a, *nz = eq, *ta = eq + 1, *tz = z;
        while (nz > na && (nz[-1] == ' ' || nz[-1] == '\t'))
            nz--;
        while (ta < tz && (*ta == ' ' || *ta == '\t'))
            ta++;
        int ambiguous = 0;
        struct record_spec *r =
            find_record(cat, na, (size_t)(nz - na), &ambiguous);
        if (!r) {
            rc_errf(errstr, errlen, "topic override \"%.*s\": %s record \"%.*s\"",
                 (int)(z - a), a, ambiguous ? "ambiguous" : "unknown",
                 (int)(nz - na), na);
            goto out;
        }
        if (!valid_topic(ta, (size_t)(tz - ta))) {
            rc_errf(errstr, errlen, "topic override \"%.*s\": \"%.*s\" is not a "
                 "valid Kafka topic name", (int)(z - a), a, (int)(tz - ta), ta);
            goto out;
        }
        size_t idx = (size_t)(r - cat->recs);
        if (seen[idx]) {
            rc_errf(errstr, errlen, "topic override: record %s given twice",
                 r->full_name);
            goto out;
        }
        seen[idx] = 1;
        char *t = strndup(ta, (size_t)(tz - ta));
        if (!t) {
            rc_errf(errstr, errlen, "out of memory");
            goto out;
        }
        free(r->topic);
        r->topic = t;
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

rc_catalog *rc_catalog_new(const char *schemas_dir, const char *topic_overrides,
                           char *errstr, size_t errlen)
{
    struct loader ld = {.dir = schemas_dir ? schemas_dir : "",
                        .errstr = errstr,
                        .errlen = errlen};
    static const char *const keys[] = {"doc", "records", "typescript", NULL};
    rc_catalog *cat = NULL;
    json_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;

    if (errstr && errlen)
        errstr[0] = '\0';
    if (!schemas_dir || !*schemas_dir) {
        lfail(&ld, "no schemas directory given");
        goto fail;
    }
    if (!(cat = calloc(1, sizeof *cat))) {
        lfail(&ld, "out of memory");
        goto fail;
    }
    if (!(text = read_file(&ld, CATALOG_FILE, &len)))
        goto fail;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        lfail(&ld, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        lfail(&ld, "top level must be an object");
        goto fail;
    }
    if (check_keys(&ld, root, NULL, keys) < 0)
        goto fail;
    json_t *records = json_object_get(root, "records");
    if (!json_is_array(records) || json_array_size(records) == 0) {
        lfail(&ld, "\"records\" must be a non-empty array");
        goto fail;
    }
    if (!(cat->recs = calloc(json_array_size(records), sizeof *cat->recs))) {
        lfail(&ld, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(records); i++) {
        cat->nrecs++;
        if (compile_record(&ld, json_array_get(records, i), i,
                           &cat->recs[i]) < 0)
            goto fail;
    }
    if (check_unique(&ld, cat) < 0)
        goto fail;
    json_t *ts = json_object_get(root, "typescript");
    if (ts) {
        if (check_typescript(&ld, ts, cat) < 0)
            goto fail;
        cat->typescript = json_incref(ts);
    }
    if (topic_overrides && *topic_overrides &&
        apply_overrides(cat, topic_overrides, errstr, errlen) < 0)
        goto fail;
    if (topics_unique(&ld, cat, topic_overrides && *topic_overrides) < 0)
        goto fail;
    json_decref(root);
    free(text);
    size_t nevents = 0;
    for (size_t i = 0; i < cat->nrecs; i++) {
        nevents += cat->recs[i].nevents;
        LOG_DEBUG("catalog", "record %s from topic %s: %zu events",
                  cat->recs[i].full_name, cat->recs[i].topic,
                  cat->recs[i].nevents);
    }
    LOG_INFO("catalog", "event catalog: %zu records, %zu events", cat->nrecs,
             nevents);
    return cat;
fail:
    if (root)
        json_decref(root);
    free(text);
    rc_catalog_destroy(cat);
    return NULL;
}

void rc_catalog_destroy(rc_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->nrecs; i++)
        record_free(&cat->recs[i]);
    free(cat->recs);
    if (cat->typescript)
        json_decref(cat->typescript);
    free(cat);
}

size_t rc_catalog_count(const rc_catalog *cat)
{
    return cat->nrecs;
}

const char *rc_catalog_record(const rc_catalog *cat, size_t i)
{
    return i < cat->nrecs ? cat->recs[i].full_name : NULL;
}

const char *rc_catalog_topic(const rc_catalog *cat, size_t i)
{
    return i < cat->nrecs ? cat->recs[i].topic : NULL;
}

int rc_catalog_has_membership(const rc_catalog *cat, size_t i)
{
    if (i >= cat->nrecs)
        return 0;
    for (size_t k = 0; k < cat->recs[i].nevents; k++)
        if (cat->recs[i].events[k].member_op != RC_MEMBER_NONE)
            return 1;
    return 0;
}

const char *rc_catalog_record_for_topic(const rc_catalog *cat, const char *topic)
{
    for (size_t i = 0; i < cat->nrecs; i++)
        if (strcmp(cat->recs[i].topic, topic) == 0)
            return cat->recs[i].full_name;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Mapping                                                             */

/* Text of a string value; the length excludes avro-c's terminator. */
static int get_text(avro_value_t *v, const char **s, size_t *n)
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
static int unwrap_value(avro_value_t *v, int *is_null)
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

/* Reads the field p of rec: *out (unions unwrapped) or *is_null. */
static int path_get(const struct path *p, const avro_value_t *rec,
                    avro_value_t *out, int *is_null, char *err, size_t errlen)
{
    avro_value_t cur = *rec;
    for (size_t i = 0; i < p->n; i++) {
        avro_value_t child;
        if (avro_value_get_type(&cur) != AVRO_RECORD ||
            avro_value_get_by_index(&cur, (size_t)p->idx[i], &child, NULL) != 0)
            return rc_errf(err, errlen, "%s: value does not match the schema",
                        p->text);
        if (unwrap_value(&child, is_null) < 0)
            return rc_errf(err, errlen, "%s: bad union value", p->text);
        if (*is_null)
            return 0;
        cur = child;
    }
    *out = cur;
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
static int put_value(rc_buf *b, avro_value_t *v, const char *what, char *err,
                     size_t errlen)
{
    int is_null = 0;
    if (unwrap_value(v, &is_null) < 0)
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
        if (get_text(v, &s, &n) < 0)
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
            if (put_value(b, &el, what, err, errlen) < 0)
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

static int put_node(rc_buf *b, const struct node *n, const avro_value_t *rec,
                    char *err, size_t errlen)
{
    if (!n->is_object) {
        avro_value_t v;
        int is_null = 0;
        if (path_get(&n->path, rec, &v, &is_null, err, errlen) < 0)
            return -1;
        if (is_null)
            return rc_buf_append(b, "null", 4) < 0
                       ? rc_errf(err, errlen, "out of memory")
                       : 0;
        return put_value(b, &v, n->path.text, err, errlen);
    }
    if (rc_buf_append(b, "{", 1) < 0)
        return rc_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < n->nmembers; i++) {
        if ((i && rc_buf_append(b, ",", 1) < 0) ||
            rc_buf_append(b, n->members[i].key_lit, n->members[i].key_lit_len) < 0)
            return rc_errf(err, errlen, "out of memory");
        if (put_node(b, &n->members[i], rec, err, errlen) < 0)
            return -1;
    }
    if (rc_buf_append(b, "}", 1) < 0)
        return rc_errf(err, errlen, "out of memory");
    return 0;
}

/* A scalar field as text for rooms and membership: string, int, long or
 * enum. *is_null for null and for "". */
static int scalar_text(const struct path *p, const avro_value_t *rec,
                       rc_buf *out, int *is_null, char *err, size_t errlen)
{
    avro_value_t v;
    if (path_get(p, rec, &v, is_null, err, errlen) < 0)
        return -1;
    if (*is_null)
        return 0;
    switch (avro_value_get_type(&v)) {
    case AVRO_STRING: {
        const char *s;
        size_t n;
        if (get_text(&v, &s, &n) < 0)
            break;
        if (memchr(s, '\0', n) || !rc_utf8_valid(s, n))
            return rc_errf(err, errlen, "%s: not a valid identifier string",
                        p->text);
        *is_null = n == 0;
        return rc_buf_append(out, s, n) < 0 ? rc_errf(err, errlen, "out of memory")
                                            : 0;
    }
    case AVRO_INT32: {
        int32_t x;
        if (avro_value_get_int(&v, &x) != 0)
            break;
        return rc_buf_printf(out, "%" PRId32, x) < 0
                   ? rc_errf(err, errlen, "out of memory")
                   : 0;
    }
    case AVRO_INT64: {
        int64_t x;
        if (avro_value_get_long(&v, &x) != 0)
            break;
        return rc_buf_printf(out, "%" PRId64, x) < 0
                   ? rc_errf(err, errlen, "out of memory")
                   : 0;
    }
    case AVRO_ENUM: {
        int x;
        const char *sym;
        if (avro_value_get_enum(&v, &x) != 0 ||
            !(sym = avro_schema_enum_get(avro_value_get_schema(&v), x)))
            break;
        return rc_buf_puts(out, sym) < 0 ? rc_errf(err, errlen, "out of memory")
                                         : 0;
    }
    default:
        break;
    }
    return rc_errf(err, errlen, "%s: value does not match the schema", p->text);
}

static const struct record_spec *record_by_name(const rc_catalog *cat,
                                                const char *record)
{
    for (size_t i = 0; i < cat->nrecs; i++)
        if (cat->recs[i].full_name == record)
            return &cat->recs[i];
    int ambiguous;
    return find_record(cat, record, strlen(record), &ambiguous);
}

static const struct event_spec *event_for(const struct record_spec *r,
                                          const avro_value_t *value,
                                          char *err, size_t errlen)
{
    avro_value_t v;
    int is_null = 0, num = -1;
    if (path_get(&r->action, value, &v, &is_null, err, errlen) < 0)
        return NULL;
    if (is_null || avro_value_get_type(&v) != AVRO_ENUM ||
        avro_value_get_enum(&v, &num) != 0) {
        rc_errf(err, errlen, "%s: value does not match the schema", r->action.text);
        return NULL;
    }
    const char *sym = avro_schema_enum_get(avro_value_get_schema(&v), num);
    if (!sym) {
        rc_errf(err, errlen, "%s: enum value %d out of range", r->action.text, num);
        return NULL;
    }
    /* Fast path: the value's enum numbers its symbols like ours. */
    if (num >= 0 && (size_t)num < r->nsymbols) {
        const struct event_spec *e = &r->events[r->by_symbol[num]];
        if (strcmp(e->symbol, sym) == 0)
            return e;
    }
    for (size_t i = 0; i < r->nevents; i++)
        if (strcmp(r->events[i].symbol, sym) == 0)
            return &r->events[i];
    rc_errf(err, errlen, "%s: unknown action %s", r->action.text, sym);
    return NULL;
}

int rc_catalog_map(const rc_catalog *cat, const char *record,
                   avro_value_t *value, rc_event **out, char *err,
                   size_t errlen)
{
    rc_buf b = {0}, room = {0};
    rc_event *ev = NULL;
    const struct record_spec *r;
    const struct event_spec *e;
    avro_value_t v;
    int is_null = 0;
    size_t n;
    const char *s;
    char ts[RC_ISO8601_LEN + 1];

    *out = NULL;
    if (!(r = record_by_name(cat, record))) {
        rc_errf(err, errlen, "record %s is not in the catalog", record);
        goto fail;
    }
    /* The value must be of our reader schema: same record, same fields. */
    avro_schema_t vs = avro_value_get_schema(value);
    if (avro_value_get_type(value) != AVRO_RECORD || !vs ||
        strcmp(avro_schema_name(vs), r->short_name) != 0 ||
        avro_value_get_size(value, &n) != 0 || n != r->nfields) {
        rc_errf(err, errlen, "value is not a %s of the catalog's schema",
             r->short_name);
        goto fail;
    }
    if (!(e = event_for(r, value, err, errlen)))
        goto fail;

    /* eventId */
    if (path_get(&r->event_id, value, &v, &is_null, err, errlen) < 0)
        goto fail;
    if (is_null || avro_value_get_type(&v) != AVRO_STRING ||
        get_text(&v, &s, &n) < 0) {
        rc_errf(err, errlen, "%s: missing event id", r->event_id.text);
        goto fail;
    }
    if (n == 0 || n > EVENT_ID_MAX || memchr(s, '\0', n) ||
        !rc_utf8_valid(s, n)) {
        rc_errf(err, errlen, "%s: event id must be 1..%d bytes of UTF-8 text",
             r->event_id.text, EVENT_ID_MAX);
        goto fail;
    }
    if (!(ev = rc_event_new()) || !(ev->id = strndup(s, n)) ||
        !(ev->name = strdup(e->name)))
        goto oom;

    /* timestamp */
    int64_t ms = 0;
    if (path_get(&r->timestamp, value, &v, &is_null, err, errlen) < 0)
        goto fail;
    if (is_null || avro_value_get_long(&v, &ms) != 0) {
        rc_errf(err, errlen, "%s: value does not match the schema",
             r->timestamp.text);
        goto fail;
    }
    if (rc_iso8601_format_ms(ms, ts) < 0) {
        rc_errf(err, errlen, "%s: %" PRId64 " is outside years 0000..9999",
             r->timestamp.text, ms);
        goto fail;
    }
    ev->occurred_ms = ms;

    /* payload */
    if (rc_buf_reserve(&b, 256) < 0 || rc_buf_puts(&b, "{\"eventId\":") < 0 ||
        rc_buf_json_string(&b, ev->id, n) < 0 ||
        rc_buf_puts(&b, ",\"event\":") < 0 || rc_buf_puts(&b, e->name_lit) < 0)
        goto oom;
    for (size_t i = 0; i < r->ids.nmembers; i++) {
        const struct node *id = &r->ids.members[i];
        if (path_get(&id->path, value, &v, &is_null, err, errlen) < 0)
            goto fail;
        if (is_null)
            continue;
        if (rc_buf_append(&b, ",", 1) < 0 ||
            rc_buf_append(&b, id->key_lit, id->key_lit_len) < 0)
            goto oom;
        if (put_value(&b, &v, id->path.text, err, errlen) < 0)
            goto fail;
    }
    if (rc_buf_puts(&b, ",\"data\":") < 0)
        goto oom;
    if (put_node(&b, &e->data, value, err, errlen) < 0)
        goto fail;
    if (r->has_performed_by) {
        if (rc_buf_puts(&b, ",\"performedBy\":") < 0)
            goto oom;
        if (put_node(&b, &r->performed_by, value, err, errlen) < 0)
            goto fail;
    }
    if (rc_buf_puts(&b, ",\"timestamp\":\"") < 0 || rc_buf_puts(&b, ts) < 0 ||
        rc_buf_puts(&b, "\"}") < 0)
        goto oom;

    /* rooms: a template with a null or empty field yields no room */
    for (size_t i = 0; i < e->nrooms; i++) {
        const struct tmpl *t = &e->rooms[i];
        int skip = 0;
        rc_buf_reset(&room);
        for (size_t k = 0; k < t->nparts && !skip; k++) {
            const struct tmpl_part *p = &t->parts[k];
            if (rc_buf_append(&room, p->lit, p->lit_len) < 0)
                goto oom;
            if (p->has_path &&
                scalar_text(&p->path, value, &room, &skip, err, errlen) < 0)
                goto fail;
        }
        if (!skip && rc_event_add_room(ev, room.p ? room.p : "") < 0)
            goto oom;
    }
    if (ev->nrooms == 0) {
        rc_errf(err, errlen, "%s: every room template has a null field", e->name);
        goto fail;
    }

    /* membership side effect */
    ev->transient = e->transient;
    if (e->member_op != RC_MEMBER_NONE) {
        const struct path *ps[2] = {&e->member_user, &e->member_program};
        char **dst[2] = {&ev->member_user, &ev->member_program};
        for (size_t i = 0; i < 2; i++) {
            rc_buf_reset(&room);
            if (scalar_text(ps[i], value, &room, &is_null, err, errlen) < 0)
                goto fail;
            if (is_null) {
                rc_errf(err, errlen, "%s: %s is null or empty", e->name,
                     ps[i]->text);
                goto fail;
            }
            if (!(*dst[i] = strdup(room.p)))
                goto oom;
        }
        ev->member_op = e->member_op;
    }

    ev->payload = b.p;
    ev->payload_len = b.len;
    rc_buf_free(&room);
    *out = ev;
    return 0;
oom:
    rc_errf(err, errlen, "out of memory");
fail:
    rc_buf_free(&b);
    rc_buf_free(&room);
    rc_event_unref(ev);
    return -1;
}
