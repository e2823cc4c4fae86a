/*
 * catalog_record.c - one entry of catalog.json's "records", compiled.
 *
 * Implementation notes. An entry is compiled against the record schema it
 * names, which is read here from the schemas directory: eventId, timestamp
 * and action become paths of a required type (the timestamp must be a
 * top-level long with logicalType timestamp-millis, read from the schema's
 * JSON because avro-c drops logical types), "ids" and "performedBy" become
 * object mappings, and each event its room templates, data mapping and
 * membership paths. Events sit in a table ordered like the action enum
 * (by_symbol), so mapping finds a record's event by the enum number; every
 * symbol must have one. Each event also gets its name as a ready-made JSON
 * literal and its TypeScript interface name, which catalog.c checks for
 * uniqueness across records.
 */
#include "catalog_private.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/slice.h"

static const char *get_string(struct loader *ld, json_t *obj, const char *key,
                              int required)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            rc_cat_fail(ld, "missing \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        rc_cat_fail(ld, "\"%s\" must be a non-empty string", key);
        return NULL;
    }
    return json_string_value(v);
}

static void event_free(struct event_spec *e)
{
    free(e->symbol);
    free(e->name);
    free(e->name_lit);
    free(e->ts_name);
    free(e->doc);
    for (size_t i = 0; i < e->nrooms; i++)
        rc_cat_tmpl_free(&e->rooms[i]);
    free(e->rooms);
    rc_cat_node_free(&e->data);
    rc_cat_path_free(&e->member_user);
    rc_cat_path_free(&e->member_program);
}

void rc_cat_record_free(struct record_spec *r)
{
    free(r->full_name);
    free(r->topic);
    if (r->schema)
        avro_schema_decref(r->schema);
    rc_cat_path_free(&r->event_id);
    rc_cat_path_free(&r->timestamp);
    rc_cat_path_free(&r->action);
    rc_cat_node_free(&r->ids);
    rc_cat_node_free(&r->performed_by);
    for (size_t i = 0; i < r->nevents; i++)
        event_free(&r->events[i]);
    free(r->events);
    free(r->by_symbol);
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
    rc_cat_fail(ld, "out of memory");
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
    if (!(e->symbol = rc_cat_strdup(ld, symbol)))
        return -1;
    if (!json_is_object(spec))
        return rc_cat_fail(ld, "must be an object");
    if (rc_cat_check_keys(ld, spec, NULL, keys) < 0)
        return -1;
    if (!(name = get_string(ld, spec, "event", 1)))
        return -1;
    if (!rc_cat_valid_event_name(name))
        return rc_cat_fail(ld, "event name \"%s\" must match [A-Za-z][A-Za-z0-9:_.-]* "
                           "(at most %d bytes)", name, RC_CATALOG_EVENT_NAME_MAX);
    if (rc_cat_reserved_event_name(name))
        return rc_cat_fail(ld, "event name \"%s\" is reserved by Socket.IO", name);
    if (!(e->name = rc_cat_strdup(ld, name)) ||
        !(e->ts_name = ts_interface_name(ld, name)))
        return -1;
    rc_buf lit = {0};
    if (rc_buf_json_string(&lit, name, strlen(name)) < 0)
        return rc_cat_fail(ld, "out of memory");
    e->name_lit = lit.p;
    if (json_object_get(spec, "doc")) {
        if (!(doc = get_string(ld, spec, "doc", 1)))
            return -1;
        if (strstr(doc, "*/"))
            return rc_cat_fail(ld, "doc must not contain \"*/\"");
        if (!(e->doc = rc_cat_strdup(ld, doc)))
            return -1;
    }

    rooms = json_object_get(spec, "rooms");
    if (!json_is_array(rooms) || json_array_size(rooms) == 0)
        return rc_cat_fail(ld, "\"rooms\" must be a non-empty array of templates");
    if (!(e->rooms = calloc(json_array_size(rooms), sizeof *e->rooms)))
        return rc_cat_fail(ld, "out of memory");
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *t = json_array_get(rooms, i);
        char what[32];
        snprintf(what, sizeof what, "rooms[%zu]", i);
        if (!json_is_string(t) || json_string_length(t) == 0)
            return rc_cat_fail(ld, "%s must be a non-empty string", what);
        e->nrooms++;
        if (rc_cat_compile_tmpl(ld, r, what, json_string_value(t), &e->rooms[i]) < 0)
            return -1;
    }

    data = json_object_get(spec, "data");
    if (!data)
        return rc_cat_fail(ld, "missing \"data\"");
    if (rc_cat_compile_object(ld, r, "data", data, 0, NULL, &e->data) < 0)
        return -1;

    tr = json_object_get(spec, "transient");
    if (tr && !json_is_boolean(tr))
        return rc_cat_fail(ld, "\"transient\" must be true or false");
    e->transient = tr && json_is_true(tr);

    mem = json_object_get(spec, "membership");
    if (mem) {
        static const char *const mkeys[] = {"op", "user", "program", NULL};
        if (!json_is_object(mem))
            return rc_cat_fail(ld, "\"membership\" must be an object");
        if (rc_cat_check_keys(ld, mem, "membership", mkeys) < 0)
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
            return rc_cat_fail(ld, "membership.op must be \"add\" or \"remove\", not "
                               "\"%s\"", op);
        if (rc_cat_compile_typed_path(ld, r, "membership.user", user,
                                      RC_CATALOG_TYPE_BIT(AVRO_STRING), 1, &e->member_user) < 0 ||
            rc_cat_compile_typed_path(ld, r, "membership.program", prog,
                                      RC_CATALOG_TYPE_BIT(AVRO_STRING), 1,
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
            return rc_cat_fail(ld, "timestamp: field \"%s\" in %s is not a long with "
                               "logicalType timestamp-millis", field, file);
        return 0;
    }
    return rc_cat_fail(ld, "timestamp: \"%s\" must be a top-level field", field);
}

static int load_schema(struct loader *ld, struct record_spec *r,
                       const char *record, const char *file,
                       json_t **schema_json)
{
    size_t len = 0;
    char *text = rc_cat_read_file(ld, file, &len);
    if (!text)
        return -1;
    json_error_t jerr;
    *schema_json = json_loadb(text, len, 0, &jerr);
    if (avro_schema_from_json_length(text, len, &r->schema) != 0) {
        r->schema = NULL;
        free(text);
        return rc_cat_fail(ld, "schema %s: %s", file, avro_strerror());
    }
    free(text);
    if (!*schema_json)
        return rc_cat_fail(ld, "schema %s: %s", file, jerr.text);
    if (!is_avro_record(r->schema))
        return rc_cat_fail(ld, "schema %s is not a record", file);
    const char *ns = avro_schema_namespace(r->schema);
    char full[512];
    snprintf(full, sizeof full, "%s%s%s", ns && *ns ? ns : "",
             ns && *ns ? "." : "", avro_schema_name(r->schema));
    if (strcmp(full, record) != 0)
        return rc_cat_fail(ld, "schema %s defines %s, not %s", file, full, record);
    r->nfields = avro_schema_record_size(r->schema);
    return 0;
}

int rc_cat_compile_record(struct loader *ld, json_t *spec, size_t pos,
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
        rc_cat_fail(ld, "must be an object");
        goto out;
    }
    if (!(record = get_string(ld, spec, "record", 1)))
        goto out;
    snprintf(ld->ctx, sizeof ld->ctx, "record %s", record);
    if (rc_cat_check_keys(ld, spec, NULL, keys) < 0)
        goto out;
    if (!(r->full_name = rc_cat_strdup(ld, record)))
        goto out;
    const char *dot = strrchr(r->full_name, '.');
    r->short_name = dot ? dot + 1 : r->full_name;
    if (!(file = get_string(ld, spec, "schema", 1)) ||
        !(topic = get_string(ld, spec, "topic", 1)))
        goto out;
    if (file[0] == '/' || strstr(file, "..")) {
        rc_cat_fail(ld, "schema \"%s\" must be a path inside the schemas directory",
                    file);
        goto out;
    }
    if (!rc_cat_valid_topic(topic, strlen(topic))) {
        rc_cat_fail(ld, "topic \"%s\" is not a valid Kafka topic name", topic);
        goto out;
    }
    if (!(r->topic = rc_cat_strdup(ld, topic)))
        goto out;
    if (load_schema(ld, r, record, file, &schema_json) < 0)
        goto out;

    if (!(event_id = get_string(ld, spec, "eventId", 1)) ||
        rc_cat_compile_typed_path(ld, r, "eventId", event_id, RC_CATALOG_TYPE_BIT(AVRO_STRING),
                                  1, &r->event_id) < 0)
        goto out;
    if (!(ts = get_string(ld, spec, "timestamp", 1)) ||
        rc_cat_compile_typed_path(ld, r, "timestamp", ts, RC_CATALOG_TYPE_BIT(AVRO_INT64), 0,
                                  &r->timestamp) < 0 ||
        check_timestamp_millis(ld, schema_json, ts, file) < 0)
        goto out;
    if (!(action = get_string(ld, spec, "action", 1)) ||
        rc_cat_compile_typed_path(ld, r, "action", action, RC_CATALOG_TYPE_BIT(AVRO_ENUM), 0,
                                  &r->action) < 0)
        goto out;

    ids = json_object_get(spec, "ids");
    if (ids) {
        if (rc_cat_compile_object(ld, r, "ids", ids, 0, id_reserved, &r->ids) < 0)
            goto out;
        for (size_t i = 0; i < r->ids.nmembers; i++) {
            struct node *m = &r->ids.members[i];
            int nullable = 0;
            avro_schema_t t = m->is_object ? NULL
                                           : rc_cat_unwrap_null(m->path.type, &nullable);
            if (!t || !(RC_CATALOG_SCALAR_ID_TYPES & RC_CATALOG_TYPE_BIT(avro_typeof(t)))) {
                rc_cat_fail(ld, "ids.%s must name a string, int, long or enum field",
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
        if (rc_cat_compile_object(ld, r, "performedBy", pb, 0, NULL,
                                  &r->performed_by) < 0)
            goto out;
    }

    enum_schema = rc_cat_deref(r->action.type);
    r->nsymbols = (size_t)avro_schema_enum_number_of_symbols(enum_schema);
    events = json_object_get(spec, "events");
    if (!json_is_object(events) || json_object_size(events) == 0) {
        rc_cat_fail(ld, "\"events\" must be an object of enum symbol -> event");
        goto out;
    }
    if (!(r->events = calloc(json_object_size(events), sizeof *r->events)) ||
        !(r->by_symbol = calloc(r->nsymbols + 1, sizeof *r->by_symbol))) {
        rc_cat_fail(ld, "out of memory");
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
            rc_cat_fail(ld, "events: \"%s\" is not a symbol of enum %s (%s)", sym,
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
            rc_cat_fail(ld, "events: enum symbol %s of %s has no event",
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
