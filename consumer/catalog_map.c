/*
 * catalog_map.c - a decoded record mapped to an event: the hot path.
 *
 * Implementation notes. rc_catalog_map walks the record with
 * avro_value_get_by_index only, along the compiled paths (no name lookups,
 * no JSON tree), and writes the payload straight into one rc_buf whose
 * storage becomes the event's payload; room names and membership ids are
 * built in a second buffer, reused for each.
 *
 * The value handed to rc_catalog_map comes from the codec, which parses the
 * same schema files itself, so field indices and enum numbers agree with
 * ours. That is checked cheaply per record (record name and field count,
 * enum symbol text) rather than assumed; a mismatch is an error, never a
 * wrong payload. Event ids and room parts must be valid UTF-8 without NUL,
 * like every string of the payload (catalog_value.c).
 */
#include "catalog.h"
#include "catalog_private.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/iso8601.h"
#include "core/slice.h"
#include "core/utf8.h"

#define EVENT_ID_MAX 256 /* bytes; longer ids fail the record */

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
        if (rc_cat_unwrap_value(&child, is_null) < 0)
            return rc_errf(err, errlen, "%s: bad union value", p->text);
        if (*is_null)
            return 0;
        cur = child;
    }
    *out = cur;
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
        return rc_cat_put_value(b, &v, n->path.text, err, errlen);
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
        if (rc_cat_get_text(&v, &s, &n) < 0)
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
    return rc_cat_find_record(cat, record, strlen(record), &ambiguous);
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
        rc_cat_get_text(&v, &s, &n) < 0) {
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
        if (rc_cat_put_value(&b, &v, id->path.text, err, errlen) < 0)
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
