/*
 * catalog_ts.c - the catalog as TypeScript declarations.
 *
 * Implementation notes. Every Avro type of a payload maps to one TypeScript
 * type on one line (records as inline object types, enums as unions of
 * string literals, unions with repeated branches such as int | long
 * collapsed, null last); catalog objects print as multi-line object types.
 * Output depends only on the catalog, in catalog order, so the committed
 * file can be compared byte for byte.
 */
#include "catalog_ts.h"

#include <stdlib.h>
#include <string.h>

#include "catalog_private.h"

static int ts_type(rc_buf *b, avro_schema_t s, int depth);

/* Branches joined by " | ", repeats dropped (int | long), null last. */
static int ts_union(rc_buf *b, avro_schema_t s, int depth)
{
    size_t n = avro_schema_union_size(s);
    rc_buf *parts = calloc(n + 1, sizeof *parts);
    size_t nparts = 0;
    int has_null = 0, rc = -1;
    if (!parts)
        return -1;
    for (size_t i = 0; i < n; i++) {
        avro_schema_t br = rc_cat_deref(avro_schema_union_branch(s, (int)i));
        if (is_avro_null(br)) {
            has_null = 1;
            continue;
        }
        rc_buf *one = &parts[nparts];
        if (ts_type(one, br, depth + 1) < 0 || !one->p)
            goto out;
        int dup = 0;
        for (size_t k = 0; k < nparts; k++)
            dup |= strcmp(parts[k].p, one->p) == 0;
        if (dup)
            rc_buf_free(one);
        else
            nparts++;
    }
    for (size_t k = 0; k < nparts; k++)
        if ((k && rc_buf_puts(b, " | ") < 0) || rc_buf_puts(b, parts[k].p) < 0)
            goto out;
    if (has_null && rc_buf_puts(b, nparts ? " | null" : "null") < 0)
        goto out;
    rc = 0;
out:
    for (size_t k = 0; k <= nparts && k < n + 1; k++)
        rc_buf_free(&parts[k]);
    free(parts);
    return rc;
}

/* The TypeScript type of an Avro type, on one line. */
static int ts_type(rc_buf *b, avro_schema_t s, int depth)
{
    s = rc_cat_deref(s);
    if (depth > RC_CATALOG_TYPE_DEPTH_MAX)
        return -1;
    switch (avro_typeof(s)) {
    case AVRO_STRING: return rc_buf_puts(b, "string");
    case AVRO_INT32: case AVRO_INT64: case AVRO_FLOAT: case AVRO_DOUBLE:
        return rc_buf_puts(b, "number");
    case AVRO_BOOLEAN: return rc_buf_puts(b, "boolean");
    case AVRO_NULL: return rc_buf_puts(b, "null");
    case AVRO_ENUM: {
        int n = avro_schema_enum_number_of_symbols(s);
        for (int i = 0; i < n; i++)
            if (rc_buf_printf(b, "%s\"%s\"", i ? " | " : "",
                              avro_schema_enum_get(s, i)) < 0)
                return -1;
        return 0;
    }
    case AVRO_ARRAY: {
        rc_buf items = {0};
        int rc = ts_type(&items, avro_schema_array_items(s), depth + 1);
        if (rc == 0)
            rc = strchr(items.p, '|') ? rc_buf_printf(b, "(%s)[]", items.p)
                                      : rc_buf_printf(b, "%s[]", items.p);
        rc_buf_free(&items);
        return rc;
    }
    case AVRO_MAP:
        return rc_buf_puts(b, "Record<string, ") < 0 ||
                       ts_type(b, avro_schema_map_values(s), depth + 1) < 0 ||
                       rc_buf_puts(b, ">") < 0
                   ? -1
                   : 0;
    case AVRO_RECORD: {
        if (rc_buf_puts(b, "{ ") < 0)
            return -1;
        for (size_t i = 0; i < avro_schema_record_size(s); i++)
            if (rc_buf_printf(b, "%s: ",
                              avro_schema_record_field_name(s, (int)i)) < 0 ||
                ts_type(b, avro_schema_record_field_get_by_index(s, (int)i),
                        depth + 1) < 0 ||
                rc_buf_puts(b, "; ") < 0)
                return -1;
        return rc_buf_puts(b, "}");
    }
    case AVRO_UNION:
        return ts_union(b, s, depth);
    default:
        return -1;
    }
}

/* Type of a field reference: its own type, "| null" when a record on the
 * way may be null. */
static int ts_path_type(rc_buf *b, const struct path *p)
{
    size_t start = b->len;
    if (ts_type(b, p->type, 0) < 0)
        return -1;
    int has_null = b->len - start >= 4 &&
                   (strcmp(b->p + start, "null") == 0 ||
                    (b->len - start >= 7 &&
                     strcmp(b->p + b->len - 7, " | null") == 0));
    if (p->nullable && !has_null && rc_buf_puts(b, " | null") < 0)
        return -1;
    return 0;
}

static int ts_indent(rc_buf *b, int level)
{
    for (int i = 0; i < level; i++)
        if (rc_buf_puts(b, "  ") < 0)
            return -1;
    return 0;
}

/* A catalog object as a multi-line TypeScript object type. */
static int ts_node(rc_buf *b, const struct node *n, int level)
{
    if (!n->is_object)
        return ts_path_type(b, &n->path);
    if (n->nmembers == 0)
        return rc_buf_puts(b, "Record<string, never>");
    if (rc_buf_puts(b, "{\n") < 0)
        return -1;
    for (size_t i = 0; i < n->nmembers; i++)
        if (ts_indent(b, level + 1) < 0 ||
            rc_buf_printf(b, "%s: ", n->members[i].key) < 0 ||
            ts_node(b, &n->members[i], level + 1) < 0 ||
            rc_buf_puts(b, ";\n") < 0)
            return -1;
    return ts_indent(b, level) < 0 ? -1 : rc_buf_puts(b, "}");
}

static int ts_event(rc_buf *b, const struct record_spec *r,
                    const struct event_spec *e)
{
    if (rc_buf_printf(b, "/**\n * %s (%s %s): rooms ", e->name, r->short_name,
                      e->symbol) < 0)
        return -1;
    for (size_t i = 0; i < e->nrooms; i++)
        if (rc_buf_printf(b, "%s%s", i ? ", " : "", e->rooms[i].text) < 0)
            return -1;
    if (rc_buf_puts(b, ".\n") < 0)
        return -1;
    if (e->transient &&
        rc_buf_puts(b, " * Transient: delivered live only, never replayed, "
                       "carries no offset.\n") < 0)
        return -1;
    if (e->doc && rc_buf_printf(b, " * %s\n", e->doc) < 0)
        return -1;
    if (rc_buf_printf(b, " */\nexport interface %s {\n  eventId: string;\n"
                         "  event: \"%s\";\n", e->ts_name, e->name) < 0)
        return -1;
    for (size_t i = 0; i < r->ids.nmembers; i++) {
        const struct node *id = &r->ids.members[i];
        int nullable = id->path.nullable;
        avro_schema_t t = rc_cat_unwrap_null(id->path.type, &nullable);
        if (rc_buf_printf(b, "  %s%s: ", id->key, nullable ? "?" : "") < 0 ||
            ts_type(b, t, 0) < 0 || rc_buf_puts(b, ";\n") < 0)
            return -1;
    }
    if (rc_buf_puts(b, "  data: ") < 0 || ts_node(b, &e->data, 1) < 0 ||
        rc_buf_puts(b, ";\n") < 0)
        return -1;
    if (r->has_performed_by &&
        (rc_buf_puts(b, "  performedBy: ") < 0 ||
         ts_node(b, &r->performed_by, 1) < 0 || rc_buf_puts(b, ";\n") < 0))
        return -1;
    return rc_buf_printf(b, "  /** %s as ISO-8601 UTC with milliseconds */\n"
                            "  timestamp: string;\n}\n\n",
                         r->timestamp.text);
}

int rc_catalog_typescript(const rc_catalog *cat, rc_buf *out)
{
    json_t *ts = cat->typescript;
    json_t *decl = ts ? json_object_get(ts, "declarations") : NULL;
    json_t *s2c = ts ? json_object_get(ts, "serverToClient") : NULL;
    json_t *c2s = ts ? json_object_get(ts, "clientToServer") : NULL;
    const char *key;
    json_t *v;
    size_t i;

    if (rc_buf_puts(out,
            "/*\n"
            " * roomcast-events.d.ts - the Socket.IO events of roomcast, for "
            "client apps.\n"
            " *\n"
            " * Generated from schemas/catalog.json and the Avro schemas by "
            "roomcast-catalog-ts;\n"
            " * do not edit: change the catalog and regenerate with\n"
            " *   build/roomcast-catalog-ts > schemas/roomcast-events.d.ts\n"
            " * (the docs.typescript test fails while this file is stale).\n"
            " *\n"
            " *   import { io, Socket } from \"socket.io-client\";\n"
            " *   const socket: Socket<ServerToClientEvents, "
            "ClientToServerEvents> =\n"
            " *     io(url, { auth: { token } });\n"
            " */\n\n") < 0)
        return -1;
    if (decl) {
        json_array_foreach(decl, i, v)
            if (rc_buf_printf(out, "%s\n", json_string_value(v)) < 0)
                return -1;
        if (json_array_size(decl) && rc_buf_puts(out, "\n") < 0)
            return -1;
    }
    for (size_t r = 0; r < cat->nrecs; r++)
        for (size_t e = 0; e < cat->recs[r].nevents; e++)
            if (ts_event(out, &cat->recs[r], &cat->recs[r].events[e]) < 0)
                return -1;

    if (rc_buf_puts(out, "/** Every catalog event payload; `event` tells "
                         "them apart. */\nexport type RoomcastEvent =\n") < 0)
        return -1;
    for (size_t r = 0; r < cat->nrecs; r++)
        for (size_t e = 0; e < cat->recs[r].nevents; e++)
            if (rc_buf_printf(out, "%s  | %s",
                              r || e ? "\n" : "",
                              cat->recs[r].events[e].ts_name) < 0)
                return -1;
    if (rc_buf_puts(out, ";\n\n/** Event name -> payload. */\n"
                         "export interface RoomcastEventMap {\n") < 0)
        return -1;
    for (size_t r = 0; r < cat->nrecs; r++)
        for (size_t e = 0; e < cat->recs[r].nevents; e++)
            if (rc_buf_printf(out, "  \"%s\": %s;\n",
                              cat->recs[r].events[e].name,
                              cat->recs[r].events[e].ts_name) < 0)
                return -1;
    if (rc_buf_puts(out,
            "}\n\n/**\n * Server -> client. Stored events carry their offset "
            "as the last argument\n * (connection state recovery); transient "
            "ones carry none.\n */\nexport interface ServerToClientEvents {\n") < 0)
        return -1;
    for (size_t r = 0; r < cat->nrecs; r++)
        for (size_t e = 0; e < cat->recs[r].nevents; e++) {
            const struct event_spec *ev = &cat->recs[r].events[e];
            if (rc_buf_printf(out, "  \"%s\": (payload: %s%s) => void;\n",
                              ev->name, ev->ts_name,
                              ev->transient ? "" : ", offset?: string") < 0)
                return -1;
        }
    if (s2c)
        json_object_foreach(s2c, key, v)
            if (rc_buf_printf(out, "  \"%s\": %s;\n", key,
                              json_string_value(v)) < 0)
                return -1;
    if (rc_buf_puts(out, "}\n\n/** Client -> server. */\n"
                         "export interface ClientToServerEvents {\n") < 0)
        return -1;
    if (c2s)
        json_object_foreach(c2s, key, v)
            if (rc_buf_printf(out, "  \"%s\": %s;\n", key,
                              json_string_value(v)) < 0)
                return -1;
    return rc_buf_puts(out, "}\n");
}
