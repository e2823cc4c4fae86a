/*
 * catalog.c - interprets schemas/catalog.json: records to typed events.
 *
 * Implementation notes. The catalog is compiled once at load against the
 * record schemas it names, so that mapping a record (catalog_map.c) needs no
 * name lookup and no JSON tree. This file reads catalog.json and drives that
 * compilation: each entry of "records" is compiled by catalog_record.c, its
 * field references, objects and room templates by catalog_field.c. The
 * checks that need the whole catalog run here once every record is
 * compiled: records, event names and TypeScript names unique, the optional
 * "typescript" section, then one record per topic after the topic
 * overrides. Every loader error names the file and, through the loader's
 * ctx, the record and event being compiled; only the first one is kept.
 */
#include "catalog.h"
#include "catalog_private.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"
#include "core/file.h"
#include "core/log.h"

#define CATALOG_FILE "catalog.json"
#define FILE_MAX (1024 * 1024) /* catalog and schema files */
#define TOPIC_MAX 249          /* Kafka's limit */

/* ------------------------------------------------------------------ */
/* Loader context and errors                                           */

int rc_cat_fail(struct loader *ld, const char *fmt, ...)
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

/* Reads dir/name whole (at most FILE_MAX bytes). */
char *rc_cat_read_file(struct loader *ld, const char *name, size_t *len)
{
    char path[4096], why[512];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", ld->dir, name) >=
        sizeof path) {
        rc_cat_fail(ld, "path too long: %s/%s", ld->dir, name);
        return NULL;
    }
    char *text = rc_file_read(path, NULL, FILE_MAX, len, why, sizeof why);
    if (!text)
        rc_cat_fail(ld, "%s", why);
    return text;
}

/* Rejects members of obj not in the NULL-terminated list allowed; where
 * (may be NULL) names obj in the message. */
int rc_cat_check_keys(struct loader *ld, json_t *obj, const char *where,
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
            return where ? rc_cat_fail(ld, "%s: unknown key \"%s\"", where, key)
                         : rc_cat_fail(ld, "unknown key \"%s\"", key);
    }
    return 0;
}

/* Socket.IO event names the catalog may use: [A-Za-z][A-Za-z0-9:_.-]*. */
int rc_cat_valid_event_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RC_CATALOG_EVENT_NAME_MAX ||
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
int rc_cat_reserved_event_name(const char *s)
{
    static const char *const reserved[] = {
        "connect", "connect_error", "disconnect", "disconnecting",
        "newListener", "removeListener", NULL};
    for (size_t i = 0; reserved[i]; i++)
        if (strcmp(s, reserved[i]) == 0)
            return 1;
    return 0;
}

int rc_cat_valid_topic(const char *s, size_t n)
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
/* The catalog as a whole                                              */

/* Checks the optional "typescript" section; kept as JSON for generation. */
static int check_typescript(struct loader *ld, json_t *ts, rc_catalog *cat)
{
    static const char *const keys[] = {"declarations", "serverToClient",
                                       "clientToServer", NULL};
    snprintf(ld->ctx, sizeof ld->ctx, "typescript");
    if (!json_is_object(ts))
        return rc_cat_fail(ld, "must be an object");
    if (rc_cat_check_keys(ld, ts, "typescript", keys) < 0)
        return -1;
    json_t *decl = json_object_get(ts, "declarations");
    if (decl) {
        size_t i;
        json_t *d;
        if (!json_is_array(decl))
            return rc_cat_fail(ld, "declarations must be an array of lines");
        json_array_foreach(decl, i, d)
            if (!json_is_string(d))
                return rc_cat_fail(ld, "declarations[%zu] must be a string", i);
    }
    static const char *const sections[] = {"serverToClient", "clientToServer"};
    for (size_t s = 0; s < 2; s++) {
        json_t *obj = json_object_get(ts, sections[s]);
        const char *name;
        json_t *sig;
        if (!obj)
            continue;
        if (!json_is_object(obj))
            return rc_cat_fail(ld, "%s must be an object of event -> signature",
                               sections[s]);
        json_object_foreach(obj, name, sig) {
            if (!rc_cat_valid_event_name(name) || rc_cat_reserved_event_name(name))
                return rc_cat_fail(ld, "%s: bad event name \"%s\"", sections[s], name);
            if (!json_is_string(sig) || json_string_length(sig) == 0)
                return rc_cat_fail(ld, "%s.%s must be a TypeScript signature string",
                                   sections[s], name);
            if (s == 0)
                for (size_t r = 0; r < cat->nrecs; r++)
                    for (size_t e = 0; e < cat->recs[r].nevents; e++)
                        if (strcmp(cat->recs[r].events[e].name, name) == 0)
                            return rc_cat_fail(ld, "serverToClient: \"%s\" is already "
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
                return rc_cat_fail(ld, "record %s is listed twice", ra->full_name);
        for (size_t e = 0; e < ra->nevents; e++) {
            struct event_spec *ea = &ra->events[e];
            for (size_t i = 0; ts_reserved[i]; i++)
                if (strcmp(ea->ts_name, ts_reserved[i]) == 0)
                    return rc_cat_fail(ld, "event %s: its TypeScript name %s is "
                                       "reserved", ea->name, ea->ts_name);
            for (size_t b = a; b < cat->nrecs; b++)
                for (size_t f = b == a ? e + 1 : 0; f < cat->recs[b].nevents;
                     f++) {
                    struct event_spec *eb = &cat->recs[b].events[f];
                    if (strcmp(ea->name, eb->name) == 0)
                        return rc_cat_fail(ld, "event %s is defined twice", ea->name);
                    if (strcmp(ea->ts_name, eb->ts_name) == 0)
                        return rc_cat_fail(ld, "events %s and %s both map to the "
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
                return rc_cat_fail(ld, "records %s and %s share topic %s",
                                   ra->full_name, rb->full_name, ra->topic);
            return rc_errf(ld->errstr, ld->errlen, "topic overrides: records %s "
                        "and %s would share topic %s", ra->full_name,
                        rb->full_name, ra->topic);
        }
    return 0;
}

struct record_spec *rc_cat_find_record(const rc_catalog *cat, const char *name,
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
            rc_cat_find_record(cat, na, (size_t)(nz - na), &ambiguous);
        if (!r) {
            rc_errf(errstr, errlen, "topic override \"%.*s\": %s record \"%.*s\"",
                 (int)(z - a), a, ambiguous ? "ambiguous" : "unknown",
                 (int)(nz - na), na);
            goto out;
        }
        if (!rc_cat_valid_topic(ta, (size_t)(tz - ta))) {
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
        rc_cat_fail(&ld, "no schemas directory given");
        goto fail;
    }
    if (!(cat = calloc(1, sizeof *cat))) {
        rc_cat_fail(&ld, "out of memory");
        goto fail;
    }
    if (!(text = rc_cat_read_file(&ld, CATALOG_FILE, &len)))
        goto fail;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr))) {
        rc_cat_fail(&ld, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        rc_cat_fail(&ld, "top level must be an object");
        goto fail;
    }
    if (rc_cat_check_keys(&ld, root, NULL, keys) < 0)
        goto fail;
    json_t *records = json_object_get(root, "records");
    if (!json_is_array(records) || json_array_size(records) == 0) {
        rc_cat_fail(&ld, "\"records\" must be a non-empty array");
        goto fail;
    }
    if (!(cat->recs = calloc(json_array_size(records), sizeof *cat->recs))) {
        rc_cat_fail(&ld, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(records); i++) {
        cat->nrecs++;
        if (rc_cat_compile_record(&ld, json_array_get(records, i), i,
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
        rc_cat_record_free(&cat->recs[i]);
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

size_t rc_catalog_event_count(const rc_catalog *cat)
{
    size_t n = 0;
    for (size_t i = 0; i < cat->nrecs; i++)
        n += cat->recs[i].nevents;
    return n;
}

const char *rc_catalog_event_name(const rc_catalog *cat, size_t i)
{
    for (size_t r = 0; r < cat->nrecs; r++) {
        if (i < cat->recs[r].nevents)
            return cat->recs[r].events[i].name;
        i -= cat->recs[r].nevents;
    }
    return NULL;
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

int rc_catalog_check_topic(const rc_catalog *cat, const char *topic, const char *record,
                           char *errstr, size_t errlen)
{
    const struct record_spec *want = NULL;
    for (size_t i = 0; i < cat->nrecs; i++)
        if (strcmp(cat->recs[i].topic, topic) == 0)
            want = &cat->recs[i];
    if (!want)
        return 0; /* not a topic roomcast consumes: nothing to compare */
    int ambiguous = 0;
    const struct record_spec *got = rc_cat_find_record(cat, record, strlen(record), &ambiguous);
    if (got == want)
        return 0;
    if (got)
        return rc_errf(errstr, errlen,
                       "topic %s carries %s records (schemas/catalog.json), not %s: roomcast "
                       "would send them to its DLQ; produce %s records to %s, or %s records "
                       "to %s",
                       topic, want->short_name, got->short_name, got->short_name, got->topic,
                       want->short_name, topic);
    return rc_errf(errstr, errlen,
                   "topic %s carries %s records (schemas/catalog.json), and %s is not a "
                   "catalog record: roomcast would send them to its DLQ",
                   topic, want->short_name, record);
}
