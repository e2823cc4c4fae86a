/*
 * test_catalog.c - the event catalog: payloads, rooms and flags of every
 * event, catalog validation, topic overrides, and a new event family added
 * with a schema and a catalog entry only (its TypeScript included).
 *
 * Records are built as reader-schema values with avro-c's generic API from
 * the schema files, independently of the codec.
 */
#include <avro.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "consumer/catalog.h"
#include "consumer/catalog_ts.h"

#define NS "io.roomcast.mutations."
#define T0 INT64_C(1795255200000) /* 2026-11-21T10:00:00.000Z */

static char schemas_dir[4096];

/* ------------------------------------------------------------------ */
/* Files                                                               */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

static int spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    return fclose(f) == 0 ? rc : -1;
}

static char *catalog_text(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/catalog.json", schemas_dir);
    return slurp(path, NULL);
}

/* A temporary schemas directory holding copies of the record schemas. */
static const char *const avsc_files[] = {
    "request_mutation.avsc", "comment_mutation.avsc",
    "attachment_mutation.avsc", "program_membership.avsc", "job_event.avsc",
    NULL};

static char tmpdir[64];

static void tmpdir_make(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rc_catalog_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(2);
    }
    for (size_t i = 0; avsc_files[i]; i++) {
        char src[4200], dst[200];
        snprintf(src, sizeof src, "%s/%s", schemas_dir, avsc_files[i]);
        snprintf(dst, sizeof dst, "%s/%s", tmpdir, avsc_files[i]);
        char *text = slurp(src, NULL);
        if (!text || spit(dst, text) < 0) {
            fprintf(stderr, "cannot copy %s\n", src);
            exit(2);
        }
        free(text);
    }
}

static void tmpdir_remove(void)
{
    const char *extra[] = {"catalog.json", "program_mutation.avsc", NULL};
    char p[200];
    for (size_t i = 0; avsc_files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, avsc_files[i]);
        unlink(p);
    }
    for (size_t i = 0; extra[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, extra[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* text with the first occurrence of from replaced by to (NULL if absent). */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at)
        return NULL;
    size_t a = (size_t)(at - text), f = strlen(from), t = strlen(to);
    size_t n = strlen(text) - f + t;
    char *out = malloc(n + 1);
    memcpy(out, text, a);
    memcpy(out + a, to, t);
    strcpy(out + a + t, at + f);
    return out;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */

struct rec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
};

static void rec_init_from(struct rec *r, const char *dir, const char *file)
{
    char path[4200];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = slurp(path, &len);
    if (!text || avro_schema_from_json_length(text, len, &r->schema) != 0) {
        fprintf(stderr, "cannot load %s: %s\n", path, avro_strerror());
        exit(2);
    }
    free(text);
    r->iface = avro_generic_class_from_schema(r->schema);
    if (!r->iface || avro_generic_value_new(r->iface, &r->v) != 0) {
        fprintf(stderr, "cannot make a value of %s\n", path);
        exit(2);
    }
}

static void rec_init(struct rec *r, const char *file)
{
    rec_init_from(r, schemas_dir, file);
}

static void rec_free(struct rec *r)
{
    avro_value_decref(&r->v);
    avro_value_iface_decref(r->iface);
    avro_schema_decref(r->schema);
}

static avro_value_t field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0) {
        fprintf(stderr, "no field %s\n", name);
        exit(2);
    }
    return f;
}

/* For a ["null", T] field: selects null (want_null) or T into *out. */
static void branch(avro_value_t *f, int want_null, avro_value_t *out)
{
    avro_schema_t u = avro_value_get_schema(f);
    for (size_t i = 0; i < avro_schema_union_size(u); i++) {
        int is_null = is_avro_null(avro_schema_union_branch(u, (int)i));
        if (is_null == want_null) {
            avro_value_set_branch(f, (int)i, out);
            return;
        }
    }
    fprintf(stderr, "no such branch\n");
    exit(2);
}

/* Sets a string or ["null","string"] field; val NULL selects null. */
static void set_str(avro_value_t *rec, const char *name, const char *val)
{
    avro_value_t f = field(rec, name), b;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        branch(&f, val == NULL, &b);
        if (val)
            avro_value_set_string(&b, val);
        else
            avro_value_set_null(&b);
    } else {
        avro_value_set_string(&f, val);
    }
}

static void set_str_len(avro_value_t *rec, const char *name, const char *val,
                        size_t len)
{
    avro_value_t f = field(rec, name), b;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        branch(&f, 0, &b);
        f = b;
    }
    avro_value_set_string_len(&f, val, len + 1);
}

static void set_null(avro_value_t *rec, const char *name)
{
    avro_value_t f = field(rec, name), b;
    branch(&f, 1, &b);
    avro_value_set_null(&b);
}

static void set_long(avro_value_t *rec, const char *name, int64_t x)
{
    avro_value_t f = field(rec, name), b;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        branch(&f, 0, &b);
        avro_value_set_long(&b, x);
    } else {
        avro_value_set_long(&f, x);
    }
}

static void set_int(avro_value_t *rec, const char *name, int32_t x)
{
    avro_value_t f = field(rec, name), b;
    branch(&f, 0, &b);
    avro_value_set_int(&b, x);
}

static void set_enum(avro_value_t *rec, const char *name, const char *sym)
{
    avro_value_t f = field(rec, name);
    int i = avro_schema_enum_get_by_name(avro_value_get_schema(&f), sym);
    if (i < 0) {
        fprintf(stderr, "no symbol %s\n", sym);
        exit(2);
    }
    avro_value_set_enum(&f, i);
}

static void set_actor(avro_value_t *rec, const char *user, const char *name)
{
    avro_value_t a = field(rec, "performed_by");
    set_str(&a, "user_id", user);
    set_str(&a, "name", name);
}

/* changed_fields: ["null", {"type":"array","items":"string"}]. */
static void set_list(avro_value_t *rec, const char *name,
                     const char *const *items, size_t n)
{
    avro_value_t f = field(rec, name), arr, el;
    branch(&f, 0, &arr);
    avro_value_reset(&arr);
    for (size_t i = 0; i < n; i++) {
        avro_value_append(&arr, &el, NULL);
        avro_value_set_string(&el, items[i]);
    }
}

/* The common fields of a mutation. */
static void set_common(avro_value_t *rec, const char *id, int64_t ts,
                       const char *action)
{
    set_str(rec, "event_id", id);
    set_long(rec, "occurred_at", ts);
    set_enum(rec, "action", action);
    set_actor(rec, "u1", "Ada");
}

/* ------------------------------------------------------------------ */
/* Mapping helpers                                                     */

static rc_event *map_ok(const rc_catalog *cat, const char *record,
                        avro_value_t *v)
{
    char err[256] = "";
    rc_event *ev = NULL;
    int rc = rc_catalog_map(cat, record, v, &ev, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  map failed: %s\n", err);
        return NULL;
    }
    CHECK(ev != NULL);
    if (ev)
        CHECK_INT(ev->payload_len, strlen(ev->payload));
    return ev;
}

/* Expects failure with err containing want. */
static void map_fails(const rc_catalog *cat, const char *record,
                      avro_value_t *v, const char *want)
{
    char err[256] = "";
    rc_event *ev = (rc_event *)1;
    int rc = rc_catalog_map(cat, record, v, &ev, err, sizeof err);
    CHECK_INT(rc, -1);
    CHECK(ev == NULL);
    if (!strstr(err, want)) {
        check_failed++;
        fprintf(stderr, "map error \"%s\" lacks \"%s\"\n", err, want);
    } else {
        check_passed++;
    }
    if (rc == 0)
        rc_event_unref(ev);
}

/* Checks name, payload, rooms (NULL-terminated, in order), transient. */
static void expect(rc_event *ev, const char *name, const char *payload,
                   int transient, const char *const *rooms)
{
    if (!ev) {
        check_failed++;
        fprintf(stderr, "no event for %s\n", name);
        return;
    }
    CHECK_STR(ev->name, name);
    CHECK_STR(ev->payload, payload);
    CHECK_INT(ev->transient, transient);
    size_t n = 0;
    while (rooms[n])
        n++;
    CHECK_INT(ev->nrooms, n);
    for (size_t i = 0; i < n && i < ev->nrooms; i++)
        CHECK_STR(ev->rooms[i], rooms[i]);
    CHECK_STR(ev->offset, "");
    CHECK_INT(ev->kafka_ts_ms, -1);
}

static void expect_no_member(const rc_event *ev)
{
    if (!ev)
        return;
    CHECK_INT(ev->member_op, RC_MEMBER_NONE);
    CHECK(ev->member_user == NULL);
    CHECK(ev->member_program == NULL);
}

#define ROOMS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define PB_ADA "\"performedBy\":{\"userId\":\"u1\",\"name\":\"Ada\"}"
#define TS0 "\"timestamp\":\"2026-11-21T10:00:00.000Z\""

/* ------------------------------------------------------------------ */
/* The 14 events                                                       */

static void test_requests(const rc_catalog *cat)
{
    struct rec r;
    rc_event *ev;
    rec_init(&r, "request_mutation.avsc");

    /* created, with text that needs escaping */
    set_common(&r.v, "e-created", T0, "CREATED");
    set_str(&r.v, "program_id", "p1");
    set_str(&r.v, "request_id", "r1");
    set_str(&r.v, "title", "Fix \"pump\"\n\x01 caf\xc3\xa9");
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    expect(ev, "request:created",
           "{\"eventId\":\"e-created\",\"event\":\"request:created\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"title\":\"Fix \\\"pump\\\"\\n\\u0001 caf\xc3\xa9\"},"
           PB_ADA "," TS0 "}",
           0, ROOMS("program:p1"));
    if (ev) {
        CHECK_STR(ev->id, "e-created");
        CHECK_INT(ev->occurred_ms, T0);
    }
    expect_no_member(ev);
    rc_event_unref(ev);

    /* updated: changedFields array, then null, then empty */
    static const char *const changed[] = {"title", "priority"};
    set_common(&r.v, "e-updated", T0 + 123, "UPDATED");
    set_str(&r.v, "title", "T2");
    set_list(&r.v, "changed_fields", changed, 2);
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    expect(ev, "request:updated",
           "{\"eventId\":\"e-updated\",\"event\":\"request:updated\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"title\":\"T2\",\"changedFields\":[\"title\","
           "\"priority\"]}," PB_ADA
           ",\"timestamp\":\"2026-11-21T10:00:00.123Z\"}",
           0, ROOMS("program:p1"));
    rc_event_unref(ev);
    set_null(&r.v, "changed_fields");
    set_null(&r.v, "title");
    ev = map_ok(cat, "RequestMutation", &r.v); /* short name works too */
    expect(ev, "request:updated",
           "{\"eventId\":\"e-updated\",\"event\":\"request:updated\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"title\":null,\"changedFields\":null}," PB_ADA
           ",\"timestamp\":\"2026-11-21T10:00:00.123Z\"}",
           0, ROOMS("program:p1"));
    rc_event_unref(ev);
    set_list(&r.v, "changed_fields", changed, 0);
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    CHECK(ev && strstr(ev->payload, "\"changedFields\":[]}"));
    rc_event_unref(ev);

    /* status_changed */
    set_common(&r.v, "e-status", T0, "STATUS_CHANGED");
    set_str(&r.v, "from_status", "open");
    set_str(&r.v, "to_status", "closed");
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    expect(ev, "request:status_changed",
           "{\"eventId\":\"e-status\",\"event\":\"request:status_changed\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"from\":\"open\",\"to\":\"closed\"}," PB_ADA "," TS0 "}",
           0, ROOMS("program:p1"));
    expect_no_member(ev);
    rc_event_unref(ev);

    /* assigned: the contract's example, to the letter */
    set_common(&r.v, "e-assigned", T0, "ASSIGNED");
    set_str(&r.v, "assignee_id", "u2");
    set_null(&r.v, "previous_assignee_id");
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    expect(ev, "request:assigned",
           "{\"eventId\":\"e-assigned\",\"event\":\"request:assigned\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"assigneeId\":\"u2\",\"previousAssigneeId\":null},"
           "\"performedBy\":{\"userId\":\"u1\",\"name\":\"Ada\"},"
           "\"timestamp\":\"2026-11-21T10:00:00.000Z\"}",
           0, ROOMS("program:p1", "user:u2"));
    expect_no_member(ev);
    rc_event_unref(ev);

    /* unassigned: null assignee yields no user room; actor without name */
    set_str(&r.v, "assignee_id", NULL);
    set_str(&r.v, "previous_assignee_id", "u2");
    set_actor(&r.v, "u1", NULL);
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    expect(ev, "request:assigned",
           "{\"eventId\":\"e-assigned\",\"event\":\"request:assigned\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"assigneeId\":null,\"previousAssigneeId\":\"u2\"},"
           "\"performedBy\":{\"userId\":\"u1\",\"name\":null}," TS0 "}",
           0, ROOMS("program:p1"));
    rc_event_unref(ev);

    /* an empty assignee is no room either */
    set_str(&r.v, "assignee_id", "");
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    if (ev) {
        CHECK_INT(ev->nrooms, 1);
        CHECK(strstr(ev->payload, "\"assigneeId\":\"\"") != NULL);
    }
    rc_event_unref(ev);
    rec_free(&r);
}

static void test_comments_attachments(const rc_catalog *cat)
{
    struct rec c, a;
    rc_event *ev;
    rec_init(&c, "comment_mutation.avsc");
    rec_init(&a, "attachment_mutation.avsc");

    set_common(&c.v, "e-c1", T0, "ADDED");
    set_str(&c.v, "program_id", "p1");
    set_str(&c.v, "request_id", "r1");
    set_str(&c.v, "comment_id", "c1");
    set_str(&c.v, "body_preview", "Looks good \xe2\x9c\x93");
    ev = map_ok(cat, NS "CommentMutation", &c.v);
    expect(ev, "comment:added",
           "{\"eventId\":\"e-c1\",\"event\":\"comment:added\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"commentId\":\"c1\",\"bodyPreview\":\"Looks good "
           "\xe2\x9c\x93\"}," PB_ADA "," TS0 "}",
           0, ROOMS("program:p1"));
    expect_no_member(ev);
    rc_event_unref(ev);

    set_common(&c.v, "e-c2", T0, "DELETED"); /* body_preview still set */
    ev = map_ok(cat, NS "CommentMutation", &c.v);
    expect(ev, "comment:deleted",
           "{\"eventId\":\"e-c2\",\"event\":\"comment:deleted\","
           "\"programId\":\"p1\",\"requestId\":\"r1\","
           "\"data\":{\"commentId\":\"c1\"}," PB_ADA "," TS0 "}",
           0, ROOMS("program:p1"));
    rc_event_unref(ev);

    set_common(&a.v, "e-a1", T0, "UPLOADED");
    set_str(&a.v, "program_id", "p2");
    set_str(&a.v, "request_id", "r9");
    set_str(&a.v, "attachment_id", "a1");
    set_str(&a.v, "file_name", "report.pdf");
    set_str(&a.v, "content_type", "application/pdf");
    set_long(&a.v, "size_bytes", INT64_C(1234567890123));
    ev = map_ok(cat, NS "AttachmentMutation", &a.v);
    expect(ev, "attachment:uploaded",
           "{\"eventId\":\"e-a1\",\"event\":\"attachment:uploaded\","
           "\"programId\":\"p2\",\"requestId\":\"r9\","
           "\"data\":{\"attachmentId\":\"a1\",\"fileName\":\"report.pdf\","
           "\"contentType\":\"application/pdf\",\"sizeBytes\":1234567890123},"
           PB_ADA "," TS0 "}",
           0, ROOMS("program:p2"));
    expect_no_member(ev);
    rc_event_unref(ev);

    set_null(&a.v, "size_bytes");
    set_null(&a.v, "content_type");
    ev = map_ok(cat, NS "AttachmentMutation", &a.v);
    CHECK(ev && strstr(ev->payload, "\"contentType\":null,\"sizeBytes\":null}"));
    rc_event_unref(ev);

    set_common(&a.v, "e-a2", T0, "DELETED");
    ev = map_ok(cat, NS "AttachmentMutation", &a.v);
    expect(ev, "attachment:deleted",
           "{\"eventId\":\"e-a2\",\"event\":\"attachment:deleted\","
           "\"programId\":\"p2\",\"requestId\":\"r9\","
           "\"data\":{\"attachmentId\":\"a1\"}," PB_ADA "," TS0 "}",
           0, ROOMS("program:p2"));
    rc_event_unref(ev);
    rec_free(&c);
    rec_free(&a);
}

static void test_members(const rc_catalog *cat)
{
    struct rec m;
    rc_event *ev;
    rec_init(&m, "program_membership.avsc");

    set_common(&m.v, "e-m1", T0, "ADDED");
    set_str(&m.v, "program_id", "p1");
    set_str(&m.v, "user_id", "u3");
    set_str(&m.v, "role", "editor");
    ev = map_ok(cat, NS "ProgramMembership", &m.v);
    expect(ev, "member:added",
           "{\"eventId\":\"e-m1\",\"event\":\"member:added\","
           "\"programId\":\"p1\",\"data\":{\"userId\":\"u3\",\"role\":\"editor\"},"
           PB_ADA "," TS0 "}",
           0, ROOMS("program:p1", "user:u3"));
    if (ev) {
        CHECK_INT(ev->member_op, RC_MEMBER_ADD);
        CHECK_STR(ev->member_user, "u3");
        CHECK_STR(ev->member_program, "p1");
    }
    rc_event_unref(ev);

    set_common(&m.v, "e-m2", T0, "REMOVED");
    set_str(&m.v, "role", NULL);
    ev = map_ok(cat, NS "ProgramMembership", &m.v);
    expect(ev, "member:removed",
           "{\"eventId\":\"e-m2\",\"event\":\"member:removed\","
           "\"programId\":\"p1\",\"data\":{\"userId\":\"u3\",\"role\":null},"
           PB_ADA "," TS0 "}",
           0, ROOMS("program:p1", "user:u3"));
    if (ev) {
        CHECK_INT(ev->member_op, RC_MEMBER_REMOVE);
        CHECK_STR(ev->member_user, "u3");
        CHECK_STR(ev->member_program, "p1");
    }
    rc_event_unref(ev);

    /* a membership change without a user is an error, not a silent no-op */
    set_str(&m.v, "user_id", "");
    map_fails(cat, NS "ProgramMembership", &m.v, "user_id is null or empty");
    rec_free(&m);
}

static void set_job(avro_value_t *v, const char *id, const char *state)
{
    set_str(v, "event_id", id);
    set_long(v, "occurred_at", T0);
    set_enum(v, "state", state);
    set_str(v, "job_id", "j1");
    set_str(v, "user_id", "u1");
}

static void test_jobs(const rc_catalog *cat)
{
    struct rec j;
    rc_event *ev;
    rec_init(&j, "job_event.avsc");

    set_job(&j.v, "e-j1", "STARTED");
    set_str(&j.v, "program_id", "p1");
    set_null(&j.v, "progress");
    set_null(&j.v, "message");
    ev = map_ok(cat, NS "JobEvent", &j.v);
    expect(ev, "job:started",
           "{\"eventId\":\"e-j1\",\"event\":\"job:started\",\"programId\":\"p1\","
           "\"data\":{\"jobId\":\"j1\",\"progress\":null,\"message\":null},"
           TS0 "}",
           0, ROOMS("user:u1"));
    expect_no_member(ev);
    rc_event_unref(ev);

    /* no program: no programId key at all; progress is transient */
    set_job(&j.v, "e-j2", "PROGRESS");
    set_str(&j.v, "program_id", NULL);
    set_int(&j.v, "progress", 42);
    set_str(&j.v, "message", "halfway");
    ev = map_ok(cat, "JobEvent", &j.v);
    expect(ev, "job:progress",
           "{\"eventId\":\"e-j2\",\"event\":\"job:progress\","
           "\"data\":{\"jobId\":\"j1\",\"progress\":42,\"message\":\"halfway\"},"
           TS0 "}",
           1, ROOMS("user:u1"));
    expect_no_member(ev);
    rc_event_unref(ev);

    set_job(&j.v, "e-j3", "COMPLETED");
    set_int(&j.v, "progress", 100);
    set_null(&j.v, "message");
    ev = map_ok(cat, NS "JobEvent", &j.v);
    expect(ev, "job:completed",
           "{\"eventId\":\"e-j3\",\"event\":\"job:completed\","
           "\"data\":{\"jobId\":\"j1\",\"progress\":100,\"message\":null},"
           TS0 "}",
           0, ROOMS("user:u1"));
    rc_event_unref(ev);

    set_job(&j.v, "e-j4", "FAILED");
    set_str(&j.v, "program_id", "p3");
    set_int(&j.v, "progress", -1);
    set_str(&j.v, "message", "disk full");
    ev = map_ok(cat, NS "JobEvent", &j.v);
    expect(ev, "job:failed",
           "{\"eventId\":\"e-j4\",\"event\":\"job:failed\",\"programId\":\"p3\","
           "\"data\":{\"jobId\":\"j1\",\"progress\":-1,\"message\":\"disk full\"},"
           TS0 "}",
           0, ROOMS("user:u1"));
    rc_event_unref(ev);
    rec_free(&j);
}

/* ------------------------------------------------------------------ */
/* Timestamps and bad records                                          */

static void expect_ts(const rc_catalog *cat, struct rec *j, int64_t ms,
                      const char *want)
{
    char needle[64];
    set_long(&j->v, "occurred_at", ms);
    rc_event *ev = map_ok(cat, NS "JobEvent", &j->v);
    snprintf(needle, sizeof needle, "\"timestamp\":\"%s\"}", want);
    CHECK(ev && strstr(ev->payload, needle) != NULL);
    if (ev && !strstr(ev->payload, needle))
        fprintf(stderr, "  %s lacks %s\n", ev->payload, needle);
    if (ev)
        CHECK_INT(ev->occurred_ms, ms);
    rc_event_unref(ev);
}

static void test_timestamps_and_errors(const rc_catalog *cat)
{
    struct rec j, r;
    rec_init(&j, "job_event.avsc");
    rec_init(&r, "request_mutation.avsc");
    set_job(&j.v, "e-t", "STARTED");

    expect_ts(cat, &j, 0, "1970-01-01T00:00:00.000Z");
    expect_ts(cat, &j, -1, "1969-12-31T23:59:59.999Z");
    expect_ts(cat, &j, INT64_C(951868799999), "2000-02-29T23:59:59.999Z");
    expect_ts(cat, &j, INT64_C(1709251199001), "2024-02-29T23:59:59.001Z");
    expect_ts(cat, &j, INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z");
    expect_ts(cat, &j, INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
    set_long(&j.v, "occurred_at", INT64_C(253402300800000));
    map_fails(cat, NS "JobEvent", &j.v, "outside years 0000..9999");
    set_long(&j.v, "occurred_at", INT64_C(-62167219200001));
    map_fails(cat, NS "JobEvent", &j.v, "outside years 0000..9999");
    set_long(&j.v, "occurred_at", T0);

    /* event ids: empty, too long, not UTF-8 */
    set_str(&j.v, "event_id", "");
    map_fails(cat, NS "JobEvent", &j.v, "event_id: event id must be");
    char longid[300];
    memset(longid, 'x', 257);
    longid[257] = '\0';
    set_str(&j.v, "event_id", longid);
    map_fails(cat, NS "JobEvent", &j.v, "event id must be 1..256 bytes");
    longid[256] = '\0';
    set_str(&j.v, "event_id", longid);
    rc_event *ev = map_ok(cat, NS "JobEvent", &j.v);
    rc_event_unref(ev);
    set_str(&j.v, "event_id", "e-\xc3");
    map_fails(cat, NS "JobEvent", &j.v, "event id must be");
    set_str(&j.v, "event_id", "e-ok");

    /* a string that is not UTF-8 never reaches a client */
    set_str(&j.v, "message", "bad \xff byte");
    map_fails(cat, NS "JobEvent", &j.v, "message: string is not valid UTF-8");
    set_str(&j.v, "message", "overlong \xc0\xaf");
    map_fails(cat, NS "JobEvent", &j.v, "not valid UTF-8");
    set_str(&j.v, "message", "surrogate \xed\xa0\x80");
    map_fails(cat, NS "JobEvent", &j.v, "not valid UTF-8");
    /* an embedded NUL is data, escaped like any control character */
    set_str_len(&j.v, "message", "a\0b", 3);
    ev = map_ok(cat, NS "JobEvent", &j.v);
    CHECK(ev && strstr(ev->payload, "\"message\":\"a\\u0000b\"") != NULL);
    rc_event_unref(ev);
    /* ... but not in a room name */
    set_str_len(&j.v, "user_id", "u\0x", 3);
    map_fails(cat, NS "JobEvent", &j.v, "user_id: not a valid identifier");
    set_str(&j.v, "user_id", "u1");
    set_str(&j.v, "message", NULL);

    /* wrong record for the value, unknown record */
    map_fails(cat, NS "RequestMutation", &j.v, "is not a RequestMutation");
    map_fails(cat, NS "Nope", &j.v, "not in the catalog");

    /* a value whose union was never set reads as null */
    set_common(&r.v, "e-x", T0, "CREATED");
    set_str(&r.v, "program_id", "p1");
    set_str(&r.v, "request_id", "r1");
    ev = map_ok(cat, NS "RequestMutation", &r.v);
    CHECK(ev && strstr(ev->payload, "\"data\":{\"title\":null}") != NULL);
    rc_event_unref(ev);
    rec_free(&j);
    rec_free(&r);
}

/* ------------------------------------------------------------------ */
/* Catalog validation                                                  */

static void load_fails(const char *text, const char *want)
{
    char path[200], err[512] = "";
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    if (!text || spit(path, text) < 0) {
        check_failed++;
        fprintf(stderr, "cannot write test catalog for \"%s\"\n", want);
        return;
    }
    rc_catalog *cat = rc_catalog_new(tmpdir, NULL, err, sizeof err);
    CHECK(cat == NULL);
    if (!strstr(err, want)) {
        check_failed++;
        fprintf(stderr, "errstr \"%s\" lacks \"%s\"\n", err, want);
    } else {
        check_passed++;
    }
    rc_catalog_destroy(cat);
}

/* Loads base with from replaced by to; expects an error containing want. */
static void mutation_fails(const char *base, const char *from, const char *to,
                           const char *want)
{
    char *text = replace(base, from, to);
    if (!text) {
        check_failed++;
        fprintf(stderr, "catalog has no \"%s\"\n", from);
        return;
    }
    load_fails(text, want);
    free(text);
}

static void test_validation(void)
{
    char *base = catalog_text();
    char path[200], err[512] = "";
    CHECK(base != NULL);
    if (!base)
        return;

    /* the unmodified copy loads, so each failure below is the edit's */
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    CHECK_INT(spit(path, base), 0);
    rc_catalog *cat = rc_catalog_new(tmpdir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat)
        fprintf(stderr, "  %s\n", err);
    rc_catalog_destroy(cat);

    mutation_fails(base, "\"previous_assignee_id\"", "\"previous_assignee\"",
                   "record io.roomcast.mutations.RequestMutation, event "
                   "ASSIGNED: data.previousAssigneeId: no field "
                   "\"previous_assignee\" in RequestMutation");
    mutation_fails(base, "\"STATUS_CHANGED\": {", "\"STATUS_CHANGE\": {",
                   "record io.roomcast.mutations.RequestMutation: events: "
                   "\"STATUS_CHANGE\" is not a symbol of enum RequestAction "
                   "(CREATED, UPDATED, STATUS_CHANGED, ASSIGNED)");
    mutation_fails(base, "\"user:{assignee_id}\"", "\"user:{assignee}\"",
                   "event ASSIGNED: rooms[1] \"user:{assignee}\": no field "
                   "\"assignee\" in RequestMutation");
    mutation_fails(base, "\"user:{assignee_id}\"", "\"user:{assignee_id\"",
                   "unmatched '{'");
    mutation_fails(base, "\"user:{assignee_id}\"", "\"user:assignee_id}\"",
                   "unmatched '}'");
    mutation_fails(base, "\"user:{assignee_id}\"", "\"user:{changed_fields}\"",
                   "room templates take string, int, long or enum fields");
    mutation_fails(base, "\"transient\": true", "\"transiant\": true",
                   "event PROGRESS: unknown key \"transiant\"");
    mutation_fails(base, "\"transient\": true", "\"transient\": 1",
                   "\"transient\" must be true or false");
    mutation_fails(base, "\"performed_by.name\"", "\"performed_by.nom\"",
                   "performedBy.name: no field \"nom\" in Actor");
    mutation_fails(base, "\"performed_by.name\"", "\"program_id.name\"",
                   "field \"program_id\" of RequestMutation is string, not a "
                   "record");
    mutation_fails(base, "\"timestamp\": \"occurred_at\"",
                   "\"timestamp\": \"event_id\"",
                   "timestamp: field \"event_id\" has type string");
    mutation_fails(base, "\"eventId\": \"event_id\"",
                   "\"eventId\": \"changed_fields\"",
                   "eventId: field \"changed_fields\" has type union, which "
                   "cannot be used here");
    mutation_fails(base, "\"action\": \"state\"", "\"action\": \"job_id\"",
                   "record io.roomcast.mutations.JobEvent: action: field "
                   "\"job_id\" has type string, which cannot be used here");
    mutation_fails(base, "\"schema\": \"job_event.avsc\"",
                   "\"schema\": \"comment_mutation.avsc\"",
                   "defines io.roomcast.mutations.CommentMutation, not "
                   "io.roomcast.mutations.JobEvent");
    mutation_fails(base, "\"schema\": \"job_event.avsc\"",
                   "\"schema\": \"missing.avsc\"", "cannot open");
    mutation_fails(base, "\"event\": \"job:failed\"", "\"event\": \"disconnect\"",
                   "event name \"disconnect\" is reserved by Socket.IO");
    mutation_fails(base, "\"event\": \"job:failed\"", "\"event\": \"job failed\"",
                   "event name \"job failed\" must match");
    mutation_fails(base, "\"event\": \"job:failed\"",
                   "\"event\": \"job:completed\"",
                   "event job:completed is defined twice");
    mutation_fails(base, "\"event\": \"job:failed\"", "\"event\": \"job.completed\"",
                   "both map to the TypeScript name JobCompletedEvent");
    mutation_fails(base, "\"FAILED\": {", "\"PROGRESS\": {", "duplicate");
    mutation_fails(base, "\"op\": \"add\"", "\"op\": \"join\"",
                   "membership.op must be \"add\" or \"remove\"");
    mutation_fails(base, "\"topic\": \"jobs.events\"",
                   "\"topic\": \"comments.mutations\"",
                   "share topic comments.mutations");
    mutation_fails(base, "\"topic\": \"jobs.events\"", "\"topic\": \"jobs events\"",
                   "topic \"jobs events\" is not a valid Kafka topic name");
    mutation_fails(base, "\"ids\": {\"programId\": \"program_id\"}",
                   "\"ids\": {\"event\": \"program_id\"}",
                   "ids: key \"event\" is reserved");
    mutation_fails(base, "\"data\": {\"title\": \"title\"}",
                   "\"data\": {\"ti-tle\": \"title\"}",
                   "key \"ti-tle\" is not an identifier");
    mutation_fails(base, "\"records\": [", "\"records\": [,", "line ");
    mutation_fails(base, "\"serverToClient\": {",
                   "\"serverToClient\": {\"job:failed\": \"() => void\",",
                   "\"job:failed\" is already a catalog event");

    /* eventId must name a string field */
    load_fails("{\"records\":[{\"record\":\"io.roomcast.mutations.JobEvent\","
               "\"schema\":\"job_event.avsc\",\"topic\":\"jobs.events\","
               "\"eventId\":\"progress\",\"timestamp\":\"occurred_at\","
               "\"action\":\"state\",\"events\":{}}]}",
               "eventId: field \"progress\" has type union");
    /* every enum symbol needs an event */
    load_fails("{\"records\":[{\"record\":\"io.roomcast.mutations.JobEvent\","
               "\"schema\":\"job_event.avsc\",\"topic\":\"jobs.events\","
               "\"eventId\":\"event_id\",\"timestamp\":\"occurred_at\","
               "\"action\":\"state\",\"events\":{\"STARTED\":{\"event\":"
               "\"job:started\",\"rooms\":[\"user:{user_id}\"],\"data\":{}}}}]}",
               "enum symbol PROGRESS of JobState has no event");
    load_fails("{\"records\":[]}", "\"records\" must be a non-empty array");
    load_fails("[]", "top level must be an object");
    free(base);
}

/* ------------------------------------------------------------------ */
/* Topic overrides                                                     */

static void override_fails(const char *spec, const char *want)
{
    char err[512] = "";
    rc_catalog *cat = rc_catalog_new(schemas_dir, spec, err, sizeof err);
    CHECK(cat == NULL);
    if (!strstr(err, want)) {
        check_failed++;
        fprintf(stderr, "override \"%s\": errstr \"%s\" lacks \"%s\"\n", spec,
                err, want);
    } else {
        check_passed++;
    }
    rc_catalog_destroy(cat);
}

static void test_topics(void)
{
    char err[512] = "";
    rc_catalog *cat = rc_catalog_new(schemas_dir, "", err, sizeof err);
    CHECK(cat != NULL);
    if (cat) {
        static const char *const names[] = {
            NS "RequestMutation", NS "CommentMutation", NS "AttachmentMutation",
            NS "ProgramMembership", NS "JobEvent"};
        static const char *const topics[] = {
            "requests.mutations", "comments.mutations", "attachments.mutations",
            "program.memberships", "jobs.events"};
        CHECK_INT(rc_catalog_count(cat), 5);
        for (size_t i = 0; i < 5; i++) {
            CHECK_STR(rc_catalog_record(cat, i), names[i]);
            CHECK_STR(rc_catalog_topic(cat, i), topics[i]);
            CHECK_STR(rc_catalog_record_for_topic(cat, topics[i]), names[i]);
        }
        CHECK(rc_catalog_record(cat, 5) == NULL);
        CHECK(rc_catalog_record_for_topic(cat, "nope") == NULL);
        rc_catalog_destroy(cat);
    }

    cat = rc_catalog_new(schemas_dir,
                         "RequestMutation=x, io.roomcast.mutations.JobEvent = y,",
                         err, sizeof err);
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "  %s\n", err);
    } else {
        CHECK_STR(rc_catalog_topic(cat, 0), "x");
        CHECK_STR(rc_catalog_topic(cat, 4), "y");
        CHECK_STR(rc_catalog_topic(cat, 1), "comments.mutations");
        CHECK_STR(rc_catalog_record_for_topic(cat, "x"), NS "RequestMutation");
        CHECK_STR(rc_catalog_record_for_topic(cat, "y"), NS "JobEvent");
        CHECK(rc_catalog_record_for_topic(cat, "requests.mutations") == NULL);
        CHECK(rc_catalog_record_for_topic(cat, "jobs.events") == NULL);
        rc_catalog_destroy(cat);
    }
    /* swapping two topics is fine: uniqueness is checked after overrides */
    cat = rc_catalog_new(schemas_dir,
                         "JobEvent=requests.mutations,RequestMutation=jobs.events",
                         err, sizeof err);
    CHECK(cat != NULL);
    if (cat) {
        CHECK_STR(rc_catalog_record_for_topic(cat, "jobs.events"),
                  NS "RequestMutation");
        rc_catalog_destroy(cat);
    }

    override_fails("Nope=x", "topic override \"Nope=x\": unknown record \"Nope\"");
    override_fails("RequestMutation", "expected Record=topic");
    override_fails("RequestMutation=", "\"\" is not a valid Kafka topic name");
    override_fails("RequestMutation=a b", "\"a b\" is not a valid Kafka topic");
    override_fails("=x", "unknown record \"\"");
    override_fails("RequestMutation=x,RequestMutation=y", "given twice");
    override_fails("RequestMutation=jobs.events",
                   "topic overrides: records io.roomcast.mutations.RequestMutation "
                   "and io.roomcast.mutations.JobEvent would share topic "
                   "jobs.events");
    override_fails("io.roomcast.mutations.Request=x", "unknown record");
}

/* ------------------------------------------------------------------ */
/* A new event family: a schema and a catalog entry, no C code          */

static const char program_avsc[] =
    "{\"type\":\"record\",\"name\":\"ProgramMutation\","
    "\"namespace\":\"io.roomcast.mutations\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\","
    "\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"performed_by\",\"type\":{\"type\":\"record\",\"name\":\"Actor\","
    "\"fields\":[{\"name\":\"user_id\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null}]}},"
    "{\"name\":\"change\",\"type\":{\"type\":\"enum\",\"name\":\"ProgramChange\","
    "\"symbols\":[\"RENAMED\",\"ARCHIVED\"]}},"
    "{\"name\":\"program_id\",\"type\":\"string\"},"
    "{\"name\":\"owner_id\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"name\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"visible\",\"type\":\"boolean\"},"
    "{\"name\":\"score\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"labels\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
    "{\"name\":\"stage\",\"type\":\"ProgramChange\"}]}";

static const char program_entry[] =
    "\"records\": [{\"record\": \"io.roomcast.mutations.ProgramMutation\","
    "\"schema\": \"program_mutation.avsc\", \"topic\": \"programs.mutations\","
    "\"eventId\": \"event_id\", \"timestamp\": \"occurred_at\","
    "\"action\": \"change\", \"ids\": {\"programId\": \"program_id\"},"
    "\"performedBy\": {\"userId\": \"performed_by.user_id\"},"
    "\"events\": {"
    "\"RENAMED\": {\"event\": \"program:renamed\","
    "\"rooms\": [\"program:{program_id}\", \"owner:{owner_id}:{stage}\"],"
    "\"data\": {\"name\": \"name\", \"flags\": {\"visible\": \"visible\","
    "\"score\": \"score\"}, \"labels\": \"labels\", \"actor\": \"performed_by\"}},"
    "\"ARCHIVED\": {\"event\": \"program:archived\", \"transient\": false,"
    "\"rooms\": [\"program:{program_id}\"], \"data\": {}}}},";

static void test_new_family(void)
{
    char path[200], err[512] = "";
    char *base = catalog_text();
    char *text = base ? replace(base, "\"records\": [", program_entry) : NULL;
    CHECK(text != NULL);
    snprintf(path, sizeof path, "%s/program_mutation.avsc", tmpdir);
    CHECK_INT(spit(path, program_avsc), 0);
    snprintf(path, sizeof path, "%s/catalog.json", tmpdir);
    CHECK_INT(text ? spit(path, text) : -1, 0);
    free(base);
    free(text);

    rc_catalog *cat = rc_catalog_new(tmpdir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_INT(rc_catalog_count(cat), 6);
    CHECK_STR(rc_catalog_record_for_topic(cat, "programs.mutations"),
              NS "ProgramMutation");

    struct rec p;
    rec_init_from(&p, tmpdir, "program_mutation.avsc");
    set_str(&p.v, "event_id", "e-p1");
    set_long(&p.v, "occurred_at", T0);
    set_enum(&p.v, "change", "RENAMED");
    set_enum(&p.v, "stage", "ARCHIVED");
    set_actor(&p.v, "u1", "Ada");
    set_str(&p.v, "program_id", "p7");
    set_str(&p.v, "owner_id", "u9");
    set_str(&p.v, "name", "Apollo");
    avro_value_t f = field(&p.v, "visible"), b, el;
    avro_value_set_boolean(&f, 1);
    f = field(&p.v, "score");
    branch(&f, 0, &b);
    avro_value_set_double(&b, 0.1);
    f = field(&p.v, "labels");
    avro_value_add(&f, "gold", &el, NULL, NULL);
    avro_value_set_int(&el, 3);
    rc_event *ev = map_ok(cat, NS "ProgramMutation", &p.v);
    expect(ev, "program:renamed",
           "{\"eventId\":\"e-p1\",\"event\":\"program:renamed\","
           "\"programId\":\"p7\",\"data\":{\"name\":\"Apollo\","
           "\"flags\":{\"visible\":true,\"score\":0.1},\"labels\":{\"gold\":3},"
           "\"actor\":{\"user_id\":\"u1\",\"name\":\"Ada\"}},"
           "\"performedBy\":{\"userId\":\"u1\"}," TS0 "}",
           0, ROOMS("program:p7", "owner:u9:ARCHIVED"));
    expect_no_member(ev);
    rc_event_unref(ev);

    set_str(&p.v, "owner_id", NULL);
    set_enum(&p.v, "change", "ARCHIVED");
    ev = map_ok(cat, NS "ProgramMutation", &p.v);
    expect(ev, "program:archived",
           "{\"eventId\":\"e-p1\",\"event\":\"program:archived\","
           "\"programId\":\"p7\",\"data\":{},"
           "\"performedBy\":{\"userId\":\"u1\"}," TS0 "}",
           0, ROOMS("program:p7"));
    rc_event_unref(ev);

    /* the older records still map in the extended catalog */
    struct rec j;
    rec_init(&j, "job_event.avsc");
    set_job(&j.v, "e-j", "COMPLETED");
    ev = map_ok(cat, NS "JobEvent", &j.v);
    CHECK(ev && strcmp(ev->name, "job:completed") == 0);
    rc_event_unref(ev);
    rec_free(&j);

    rc_buf ts = {0};
    CHECK_INT(rc_catalog_typescript(cat, &ts), 0);
    CHECK(ts.p && strstr(ts.p,
                         "export interface ProgramRenamedEvent {\n"
                         "  eventId: string;\n"
                         "  event: \"program:renamed\";\n"
                         "  programId: string;\n"
                         "  data: {\n"
                         "    name: string | null;\n"
                         "    flags: {\n"
                         "      visible: boolean;\n"
                         "      score: number | null;\n"
                         "    };\n"
                         "    labels: Record<string, number>;\n"
                         "    actor: { user_id: string; name: string | null; };\n"
                         "  };\n"
                         "  performedBy: {\n"
                         "    userId: string;\n"
                         "  };\n"));
    CHECK(ts.p && strstr(ts.p, "  data: Record<string, never>;\n"));
    CHECK(ts.p && strstr(ts.p, "  \"program:archived\": (payload: "
                               "ProgramArchivedEvent, offset?: string) => void;\n"));
    rc_buf_free(&ts);
    rec_free(&p);
    rc_catalog_destroy(cat);
}

/* roomcast-produce's check: the record a topic carries, overrides included. */
static void test_check_topic(void)
{
    char err[512] = "";
    rc_catalog *cat = rc_catalog_new(schemas_dir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat)
        return;
    CHECK_INT(rc_catalog_check_topic(cat, "requests.mutations", "RequestMutation", err,
                                     sizeof err),
              0);
    CHECK_INT(rc_catalog_check_topic(cat, "requests.mutations",
                                     "io.roomcast.mutations.RequestMutation", err, sizeof err),
              0);
    /* a topic roomcast does not consume: nothing to compare */
    CHECK_INT(rc_catalog_check_topic(cat, "elsewhere", "CommentMutation", err, sizeof err), 0);
    err[0] = '\0';
    CHECK_INT(rc_catalog_check_topic(cat, "requests.mutations", "CommentMutation", err,
                                     sizeof err),
              -1);
    CHECK(strstr(err, "topic requests.mutations carries RequestMutation records") != NULL);
    CHECK(strstr(err, "produce CommentMutation records to comments.mutations") != NULL);
    CHECK_INT(rc_catalog_check_topic(cat, "jobs.events", "NoSuchRecord", err, sizeof err), -1);
    CHECK(strstr(err, "NoSuchRecord is not a catalog record") != NULL);
    rc_catalog_destroy(cat);

    cat = rc_catalog_new(schemas_dir, "RequestMutation=prod.requests", err, sizeof err);
    CHECK(cat != NULL);
    if (!cat)
        return;
    CHECK_INT(rc_catalog_check_topic(cat, "prod.requests", "RequestMutation", err, sizeof err),
              0);
    CHECK_INT(rc_catalog_check_topic(cat, "prod.requests", "JobEvent", err, sizeof err), -1);
    CHECK(strstr(err, "JobEvent records to jobs.events") != NULL);
    rc_catalog_destroy(cat);
}

int main(void)
{
    const char *src = getenv("RC_SOURCE_DIR");
    if (src && *src)
        snprintf(schemas_dir, sizeof schemas_dir, "%s/schemas", src);
    else
        snprintf(schemas_dir, sizeof schemas_dir, "%s", RC_DEFAULT_SCHEMAS_DIR);

    char err[512] = "";
    rc_catalog *cat = rc_catalog_new(schemas_dir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "catalog: %s\n", err);
        return CHECK_DONE();
    }
    test_requests(cat);
    test_comments_attachments(cat);
    test_members(cat);
    test_jobs(cat);
    test_timestamps_and_errors(cat);
    rc_catalog_destroy(cat);

    test_check_topic();
    tmpdir_make();
    test_validation();
    test_topics();
    test_new_family();
    tmpdir_remove();
    return CHECK_DONE();
}
