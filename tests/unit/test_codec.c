/*
 * test_codec.c - framings and schema resolution of the codec (records made
 * with the JSON encoder), on the project's schemas and on a scratch schemas directory that exercises
 * every resolution rule; malformed payloads must fail with a reason.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/pcf.h"
#include "check.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* A decoded value as plain JSON: unions unwrapped, enums as symbols. */
static json_t *to_plain(avro_value_t *v)
{
    switch (avro_value_get_type(v)) {
    case AVRO_NULL: return json_null();
    case AVRO_BOOLEAN: {
        int b = 0;
        avro_value_get_boolean(v, &b);
        return json_boolean(b);
    }
    case AVRO_INT32: {
        int32_t i = 0;
        avro_value_get_int(v, &i);
        return json_integer(i);
    }
    case AVRO_INT64: {
        int64_t l = 0;
        avro_value_get_long(v, &l);
        return json_integer(l);
    }
    case AVRO_FLOAT: {
        float f = 0;
        avro_value_get_float(v, &f);
        return json_real(f);
    }
    case AVRO_DOUBLE: {
        double d = 0;
        avro_value_get_double(v, &d);
        return json_real(d);
    }
    case AVRO_STRING: {
        const char *s = NULL;
        size_t n = 0;
        avro_value_get_string(v, &s, &n);
        return json_stringn(s, n ? n - 1 : 0);
    }
    case AVRO_ENUM: {
        int e = -1;
        avro_value_get_enum(v, &e);
        return json_string(avro_schema_enum_get(avro_value_get_schema(v), e));
    }
    case AVRO_RECORD: {
        json_t *o = json_object();
        size_t n = 0;
        avro_value_get_size(v, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t ch;
            const char *name = NULL;
            avro_value_get_by_index(v, i, &ch, &name);
            json_object_set_new(o, name, to_plain(&ch));
        }
        return o;
    }
    case AVRO_ARRAY: {
        json_t *a = json_array();
        size_t n = 0;
        avro_value_get_size(v, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t ch;
            avro_value_get_by_index(v, i, &ch, NULL);
            json_array_append_new(a, to_plain(&ch));
        }
        return a;
    }
    case AVRO_MAP: {
        json_t *o = json_object();
        size_t n = 0;
        avro_value_get_size(v, &n);
        for (size_t i = 0; i < n; i++) {
            avro_value_t ch;
            const char *key = NULL;
            avro_value_get_by_index(v, i, &ch, &key);
            json_object_set_new(o, key, to_plain(&ch));
        }
        return o;
    }
    case AVRO_UNION: {
        avro_value_t b;
        if (avro_value_get_current_branch(v, &b) != 0)
            return json_string("<no branch>");
        return to_plain(&b);
    }
    default: return json_string("<unsupported>");
    }
}

/* Checks that the decoded value equals the JSON text want. */
static void check_value(avro_value_t *v, const char *want, int line)
{
    json_t *got = to_plain(v);
    json_t *exp = json_loads(want, 0, NULL);
    CHECK(exp != NULL);
    int eq = exp && json_equal(got, exp);
    if (!eq) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
        char *e = exp ? json_dumps(exp, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        fprintf(stderr, "line %d: decoded value differs\n  got:      %s\n"
                "  expected: %s\n", line, g, e ? e : want);
        free(g);
        free(e);
    }
    CHECK(eq);
    json_decref(got);
    json_decref(exp);
}

static int contains(const char *s, const char *sub)
{
    if (!strstr(s, sub)) {
        fprintf(stderr, "  \"%s\" does not contain \"%s\"\n", s, sub);
        return 0;
    }
    return 1;
}

static const enum rc_framing framings[] = {
    RC_FRAMING_BARE, RC_FRAMING_SINGLE_OBJECT, RC_FRAMING_CONFLUENT,
};

static uint64_t file_fingerprint(const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *j = json_load_file(path, 0, NULL);
    uint64_t fp = 0;
    char err[256];
    CHECK(j != NULL);
    CHECK_INT(rc_pcf_fingerprint_json(j, &fp, err, sizeof err), 0);
    json_decref(j);
    return fp;
}

/* Checks the framing header of an encoded record. */
static void check_header(const rc_buf *b, enum rc_framing f, int32_t id,
                         uint64_t fp)
{
    const unsigned char *p = (const unsigned char *)b->p;
    if (f == RC_FRAMING_CONFLUENT) {
        CHECK(b->len > 5);
        CHECK_INT(p[0], 0);
        CHECK_INT((int32_t)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 8 | p[4]),
                  id);
    } else if (f == RC_FRAMING_SINGLE_OBJECT) {
        CHECK(b->len > 10);
        CHECK_INT(p[0], 0xC3);
        CHECK_INT(p[1], 0x01);
        uint64_t got = 0;
        for (int i = 9; i >= 2; i--)
            got = got << 8 | p[i];
        CHECK(got == fp);
    } else {
        CHECK(b->len > 0 && p[0] != 0x00 && p[0] != 0xC3);
    }
}

/* ------------------------------------------------------------------ */
/* The project's records                                                */

struct sample {
    const char *record;
    const char *file;
    int32_t id;
    const char *json;
};

static const struct sample samples[] = {
    {"RequestMutation", "request_mutation.avsc", 1,
     "{\"event_id\":\"e-1\",\"occurred_at\":1763719200000,"
     "\"performed_by\":{\"user_id\":\"u1\",\"name\":\"Ada\"},"
     "\"action\":\"ASSIGNED\",\"program_id\":\"p1\",\"request_id\":\"r1\","
     "\"title\":\"Fix the roof\",\"changed_fields\":[\"title\",\"assignee\"],"
     "\"from_status\":\"open\",\"to_status\":\"in_progress\","
     "\"assignee_id\":\"u2\",\"previous_assignee_id\":\"u3\"}"},
    {"io.roomcast.mutations.CommentMutation", "comment_mutation.avsc", 2,
     "{\"event_id\":\"e-2\",\"occurred_at\":1763719200001,"
     "\"performed_by\":{\"user_id\":\"u1\",\"name\":null},"
     "\"action\":\"ADDED\",\"program_id\":\"p1\",\"request_id\":\"r1\","
     "\"comment_id\":\"c1\",\"body_preview\":\"Looks good \\u2713 \\u00e9\"}"},
    {"AttachmentMutation", "attachment_mutation.avsc", 3,
     "{\"event_id\":\"e-3\",\"occurred_at\":1763719200002,"
     "\"performed_by\":{\"user_id\":\"u4\",\"name\":\"Grace\"},"
     "\"action\":\"UPLOADED\",\"program_id\":\"p1\",\"request_id\":\"r1\","
     "\"attachment_id\":\"a1\",\"file_name\":\"plan.pdf\","
     "\"content_type\":\"application/pdf\",\"size_bytes\":5000000000}"},
    {"ProgramMembership", "program_membership.avsc", 4,
     "{\"event_id\":\"e-4\",\"occurred_at\":1763719200003,"
     "\"performed_by\":{\"user_id\":\"admin\",\"name\":\"Root\"},"
     "\"action\":\"REMOVED\",\"program_id\":\"p2\",\"user_id\":\"u9\","
     "\"role\":\"viewer\"}"},
    {"JobEvent", "job_event.avsc", 5,
     "{\"event_id\":\"e-5\",\"occurred_at\":-5,\"state\":\"PROGRESS\","
     "\"job_id\":\"j1\",\"user_id\":\"u1\",\"program_id\":null,"
     "\"progress\":42,\"message\":\"halfway\"}"},
};
#define NSAMPLES (sizeof samples / sizeof samples[0])

static void test_lookup(rc_codec *c)
{
    avro_schema_t s = rc_codec_schema(c, "RequestMutation");
    CHECK(s != NULL);
    CHECK(rc_codec_schema(c, "io.roomcast.mutations.RequestMutation") == s);
    CHECK(rc_codec_schema(c, "JobEvent") != NULL);
    CHECK(rc_codec_schema(c, "JobEvent") != s);
    CHECK(rc_codec_schema(c, "Nope") == NULL);
    CHECK(rc_codec_schema(c, "mutations.JobEvent") == NULL);
    CHECK(s && avro_schema_record_field_get(s, "previous_assignee_id"));
    CHECK_INT(rc_framing_parse("bare"), RC_FRAMING_BARE);
    CHECK_INT(rc_framing_parse("single-object"), RC_FRAMING_SINGLE_OBJECT);
    CHECK_INT(rc_framing_parse("confluent"), RC_FRAMING_CONFLUENT);
    CHECK_INT(rc_framing_parse("avro"), -1);
    CHECK_INT(rc_framing_parse(NULL), -1);
    CHECK_STR(rc_framing_name(RC_FRAMING_SINGLE_OBJECT), "single-object");
    CHECK_STR(rc_framing_name(RC_FRAMING_CONFLUENT), "confluent");
    CHECK_STR(rc_framing_name(RC_FRAMING_BARE), "bare");
}

static void test_round_trip(rc_codec *c)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *s = &samples[i];
        uint64_t fp = file_fingerprint(RC_DEFAULT_SCHEMAS_DIR, s->file);
        for (size_t k = 0; k < 3; k++) {
            rc_buf b = {0};
            char err[512] = "";
            avro_value_t *v = NULL;
            enum rc_framing got = RC_FRAMING_AUTO;
            int rc = rc_codec_encode_json(c, s->record, s->json,
                                          strlen(s->json), framings[k], &b,
                                          err, sizeof err);
            if (rc)
                fprintf(stderr, "%s/%s: %s\n", s->record,
                        rc_framing_name(framings[k]), err);
            CHECK_INT(rc, 0);
            check_header(&b, framings[k], s->id, fp);
            rc = rc_codec_decode(c, s->record, b.p, b.len, &v, &got, err,
                                 sizeof err);
            if (rc)
                fprintf(stderr, "%s/%s: %s\n", s->record,
                        rc_framing_name(framings[k]), err);
            CHECK_INT(rc, 0);
            CHECK_INT(got, framings[k]);
            if (rc == 0)
                check_value(v, s->json, __LINE__);
            rc_buf_free(&b);
        }
    }
}

static void test_defaults_and_reuse(rc_codec *c)
{
    char err[512] = "";
    rc_buf b = {0};
    avro_value_t *v = NULL;
    /* Optional fields left out come back null; encoding appends. */
    const char *full = samples[0].json;
    const char *minimal =
        "{\"event_id\":\"e-9\",\"occurred_at\":1,\"performed_by\":"
        "{\"user_id\":\"u1\"},\"action\":\"CREATED\",\"program_id\":\"p1\","
        "\"request_id\":\"r9\"}";
    CHECK_INT(rc_codec_encode_json(c, "RequestMutation", full, strlen(full),
                                   RC_FRAMING_CONFLUENT, &b, err, sizeof err),
              0);
    size_t first = b.len;
    CHECK_INT(rc_codec_encode_json(c, "RequestMutation", minimal,
                                   strlen(minimal), RC_FRAMING_CONFLUENT, &b,
                                   err, sizeof err),
              0);
    CHECK(b.len > first);
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b.p, first, &v, NULL, err,
                              sizeof err),
              0);
    avro_value_t *again = NULL;
    /* The second record: the cached value is reused, its array emptied. */
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b.p + first, b.len - first,
                              &again, NULL, err, sizeof err),
              0);
    CHECK(again == v);
    if (again)
        check_value(again,
                    "{\"event_id\":\"e-9\",\"occurred_at\":1,\"performed_by\":"
                    "{\"user_id\":\"u1\",\"name\":null},\"action\":\"CREATED\","
                    "\"program_id\":\"p1\",\"request_id\":\"r9\",\"title\":null,"
                    "\"changed_fields\":null,\"from_status\":null,"
                    "\"to_status\":null,\"assignee_id\":null,"
                    "\"previous_assignee_id\":null}",
                    __LINE__);
    rc_buf_reset(&b);
    /* Arrays shrink when reused. */
    const char *three = "{\"event_id\":\"a\",\"occurred_at\":1,\"performed_by\":"
                        "{\"user_id\":\"u\"},\"action\":\"UPDATED\","
                        "\"program_id\":\"p\",\"request_id\":\"r\","
                        "\"changed_fields\":[\"x\",\"y\",\"z\"]}";
    const char *one = "{\"event_id\":\"b\",\"occurred_at\":1,\"performed_by\":"
                      "{\"user_id\":\"u\"},\"action\":\"UPDATED\","
                      "\"program_id\":\"p\",\"request_id\":\"r\","
                      "\"changed_fields\":{\"array\":[\"w\"]}}";
    rc_buf b2 = {0};
    CHECK_INT(rc_codec_encode_json(c, "RequestMutation", three, strlen(three),
                                   RC_FRAMING_BARE, &b, err, sizeof err),
              0);
    CHECK_INT(rc_codec_encode_json(c, "RequestMutation", one, strlen(one),
                                   RC_FRAMING_BARE, &b2, err, sizeof err),
              0);
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b.p, b.len, &v, NULL, err,
                              sizeof err),
              0);
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b2.p, b2.len, &v, NULL,
                              err, sizeof err),
              0);
    avro_value_t cf, arr;
    size_t n = 99;
    CHECK_INT(avro_value_get_by_name(v, "changed_fields", &cf, NULL), 0);
    CHECK_INT(avro_value_get_current_branch(&cf, &arr), 0);
    CHECK_INT(avro_value_get_size(&arr, &n), 0);
    CHECK_INT(n, 1);
    rc_buf_free(&b);
    rc_buf_free(&b2);
}

/* Request v1 (legacy_priority, no previous_assignee_id) read as current. */
static void test_request_v1(rc_codec *c)
{
    uint64_t fp_v1 = file_fingerprint(RC_DEFAULT_SCHEMAS_DIR,
                                      "history/request_mutation.v1.avsc");
    uint64_t fp_cur = file_fingerprint(RC_DEFAULT_SCHEMAS_DIR,
                                       "request_mutation.avsc");
    CHECK(fp_v1 != fp_cur);
    const char *priorities[] = {"7", "0", "-300"};
    for (size_t pi = 0; pi < 3; pi++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"event_id\":\"old-1\",\"occurred_at\":1600000000000,"
                 "\"performed_by\":{\"user_id\":\"u1\",\"name\":\"Ada\"},"
                 "\"action\":\"ASSIGNED\",\"program_id\":\"p1\","
                 "\"request_id\":\"r1\",\"changed_fields\":[\"assignee\"],"
                 "\"assignee_id\":\"u2\",\"legacy_priority\":%s}",
                 priorities[pi]);
        for (size_t k = 0; k < 3; k++) {
            rc_buf b = {0};
            char err[512] = "";
            avro_value_t *v = NULL;
            enum rc_framing got = RC_FRAMING_AUTO;
            int rc = rc_codec_encode_json_as(
                c, "history/request_mutation.v1.avsc", json, strlen(json),
                framings[k], &b, err, sizeof err);
            if (rc)
                fprintf(stderr, "v1 encode: %s\n", err);
            CHECK_INT(rc, 0);
            check_header(&b, framings[k], 101, fp_v1);
            rc = rc_codec_decode(c, "RequestMutation", b.p, b.len, &v, &got,
                                 err, sizeof err);
            if (rc)
                fprintf(stderr, "v1 decode (%s): %s\n",
                        rc_framing_name(framings[k]), err);
            CHECK_INT(rc, 0);
            CHECK_INT(got, framings[k]);
            if (rc == 0)
                check_value(
                    v,
                    "{\"event_id\":\"old-1\",\"occurred_at\":1600000000000,"
                    "\"performed_by\":{\"user_id\":\"u1\",\"name\":\"Ada\"},"
                    "\"action\":\"ASSIGNED\",\"program_id\":\"p1\","
                    "\"request_id\":\"r1\",\"title\":null,"
                    "\"changed_fields\":[\"assignee\"],\"from_status\":null,"
                    "\"to_status\":null,\"assignee_id\":\"u2\","
                    "\"previous_assignee_id\":null}",
                    __LINE__);
            rc_buf_free(&b);
        }
    }
    /* The v1 schema requires nothing new: legacy_priority has a default. */
    rc_buf b = {0};
    char err[512] = "";
    const char *cur_only = "{\"event_id\":\"x\",\"occurred_at\":1,"
                           "\"performed_by\":{\"user_id\":\"u\"},"
                           "\"action\":\"CREATED\",\"program_id\":\"p\","
                           "\"request_id\":\"r\",\"previous_assignee_id\":\"u\"}";
    CHECK_INT(rc_codec_encode_json_as(c, "history/request_mutation.v1.avsc",
                                      cur_only, strlen(cur_only),
                                      RC_FRAMING_BARE, &b, err, sizeof err),
              -1);
    CHECK(contains(err, "unknown field 'previous_assignee_id'"));
    CHECK_INT(rc_codec_encode_json_as(c, "history/nope.avsc", cur_only,
                                      strlen(cur_only), RC_FRAMING_BARE, &b,
                                      err, sizeof err),
              -1);
    CHECK(contains(err, "unknown schema file history/nope.avsc"));
    rc_buf_free(&b);
}

static int decode_fails(rc_codec *c, const char *record, const void *p,
                        size_t len, const char *want)
{
    char err[512] = "";
    avro_value_t *v = NULL;
    int rc = rc_codec_decode(c, record, p, len, &v, NULL, err, sizeof err);
    if (rc == 0) {
        fprintf(stderr, "  decoding %zu bytes succeeded, expected \"%s\"\n",
                len, want ? want : "an error");
        return 0;
    }
    return err[0] && (!want || contains(err, want));
}

static void test_decode_errors(rc_codec *c)
{
    static const unsigned char unknown_id[] = {0x00, 0x00, 0x00, 0x00, 0x2A,
                                               0x02, 0x61};
    static const unsigned char unknown_fp[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6,
                                               7, 8, 0x02, 0x61};
    CHECK(decode_fails(c, "RequestMutation", unknown_id, sizeof unknown_id,
                       "unknown schema id 42"));
    CHECK(decode_fails(c, "RequestMutation", unknown_fp, sizeof unknown_fp,
                       "unknown schema fingerprint 0x0807060504030201"));
    CHECK(decode_fails(c, "RequestMutation", "", 0, "empty payload"));
    CHECK(decode_fails(c, "RequestMutation", NULL, 0, "empty payload"));
    CHECK(decode_fails(c, "RequestMutation", unknown_id, 3,
                       "truncated Confluent header"));
    CHECK(decode_fails(c, "RequestMutation", unknown_fp, 6,
                       "truncated single-object header"));
    CHECK(decode_fails(c, "Nope", unknown_id, sizeof unknown_id,
                       "unknown record Nope"));
    /* Hostile lengths are checked before anything is allocated. */
    static const unsigned char huge_string[] = {0xfe, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0x7f, 'a'};
    CHECK(decode_fails(c, "RequestMutation", huge_string, sizeof huge_string,
                       "truncated record"));
    static const unsigned char negative_len[] = {0x01, 'a'};
    CHECK(decode_fails(c, "RequestMutation", negative_len,
                       sizeof negative_len, "negative length"));
    static const unsigned char long_varint[] = {0x02, 'e', 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff, 0xff, 0xff,
                                                0xff, 0xff, 0x01};
    CHECK(decode_fails(c, "RequestMutation", long_varint, sizeof long_varint,
                       "invalid varint at field 'occurred_at'"));

    /* Build bare payloads by hand around a valid prefix. */
    char err[512] = "";
    rc_buf good = {0};
    const char *base = "{\"event_id\":\"e\",\"occurred_at\":1,"
                       "\"performed_by\":{\"user_id\":\"u\"},"
                       "\"action\":\"UPDATED\",\"program_id\":\"p\","
                       "\"request_id\":\"r\"}";
    CHECK_INT(rc_codec_encode_json(c, "RequestMutation", base, strlen(base),
                                   RC_FRAMING_BARE, &good, err, sizeof err),
              0);
    /* The last seven bytes are the six null unions and... the tail is
     * title, changed_fields, from, to, assignee, previous: 6 x 0x00. */
    CHECK(good.len > 6);
    size_t head = good.len - 6;
    for (size_t i = head; i < good.len; i++)
        CHECK_INT((unsigned char)good.p[i], 0);
    unsigned char buf[256];
    CHECK(good.len + 40 < sizeof buf);
    memcpy(buf, good.p, head);

    /* title: union branch 5 does not exist */
    memcpy(buf + head, "\x0a\x00\x00\x00\x00\x00", 6);
    CHECK(decode_fails(c, "RequestMutation", buf, head + 6,
                       "union branch 5 out of range at field 'title'"));
    /* title: invalid UTF-8 */
    memcpy(buf + head, "\x02\x04\xc3\x28\x00\x00\x00\x00\x00", 9);
    CHECK(decode_fails(c, "RequestMutation", buf, head + 9,
                       "not valid UTF-8"));
    /* title: embedded NUL */
    memcpy(buf + head, "\x02\x04\x61\x00\x00\x00\x00\x00\x00", 9);
    CHECK(decode_fails(c, "RequestMutation", buf, head + 9, "NUL"));
    /* changed_fields: a block claiming 2^40 items */
    size_t n = head;
    buf[n++] = 0x00;                 /* title null */
    buf[n++] = 0x02;                 /* changed_fields: array branch */
    memcpy(buf + n, "\x80\x80\x80\x80\x80\x80\x02", 7); /* 2^40 zigzag */
    n += 7;
    memcpy(buf + n, "\x02\x61\x00\x00\x00\x00\x00\x00", 8);
    n += 8;
    CHECK(decode_fails(c, "RequestMutation", buf, n,
                       "at field 'changed_fields'"));
    /* changed_fields: negative count with a byte size beyond the input */
    n = head;
    buf[n++] = 0x00;
    buf[n++] = 0x02;
    buf[n++] = 0x01;                 /* count -1 */
    buf[n++] = 0x7e;                 /* 63 bytes follow (they don't) */
    buf[n++] = 0x02;
    buf[n++] = 0x61;
    buf[n++] = 0x00;
    CHECK(decode_fails(c, "RequestMutation", buf, n, "truncated record"));
    /* changed_fields: negative count with a correct byte size works */
    n = head;
    buf[n++] = 0x00;
    buf[n++] = 0x02;
    buf[n++] = 0x03;                 /* count -2 */
    buf[n++] = 0x08;                 /* 4 bytes */
    memcpy(buf + n, "\x02\x61\x02\x62", 4);
    n += 4;
    buf[n++] = 0x00;                 /* end of array */
    memcpy(buf + n, "\x00\x00\x00\x00", 4);
    n += 4;
    avro_value_t *v = NULL;
    CHECK_INT(rc_codec_decode(c, "RequestMutation", buf, n, &v, NULL, err,
                              sizeof err),
              0);
    if (v)
        check_value(v,
                    "{\"event_id\":\"e\",\"occurred_at\":1,\"performed_by\":"
                    "{\"user_id\":\"u\",\"name\":null},\"action\":\"UPDATED\","
                    "\"program_id\":\"p\",\"request_id\":\"r\",\"title\":null,"
                    "\"changed_fields\":[\"a\",\"b\"],\"from_status\":null,"
                    "\"to_status\":null,\"assignee_id\":null,"
                    "\"previous_assignee_id\":null}",
                    __LINE__);
    /* An enum index beyond the symbols. */
    rc_buf job = {0};
    CHECK_INT(rc_codec_encode_json(c, "JobEvent", samples[4].json,
                                   strlen(samples[4].json), RC_FRAMING_BARE,
                                   &job, err, sizeof err),
              0);
    /* event_id "e-5" (4 bytes), occurred_at -5 (1 byte), then the state. */
    CHECK_INT((unsigned char)job.p[5], 2); /* PROGRESS = 1, zigzag 2 */
    job.p[5] = 0x10;
    CHECK(decode_fails(c, "JobEvent", job.p, job.len,
                       "enum index 8 out of range at field 'state'"));
    rc_buf_free(&job);

    /* Truncation and trailing bytes, every record, every framing. A bare
     * record names no writer, so a cut-off current RequestMutation whose
     * last field is a string could read as a complete v1 record (its last
     * field is an int): the request sample used here ends in null, which
     * no prefix can be mistaken for. docs/schemas.md explains. */
    for (size_t i = 0; i < NSAMPLES; i++) {
        const char *json = samples[i].json;
        if (i == 0)
            json = "{\"event_id\":\"e-1\",\"occurred_at\":1763719200000,"
                   "\"performed_by\":{\"user_id\":\"u1\",\"name\":\"Ada\"},"
                   "\"action\":\"ASSIGNED\",\"program_id\":\"p1\","
                   "\"request_id\":\"r1\",\"title\":\"Fix the roof\","
                   "\"changed_fields\":[\"title\"],\"assignee_id\":\"u2\"}";
        for (size_t k = 0; k < 3; k++) {
            rc_buf b = {0};
            CHECK_INT(rc_codec_encode_json(c, samples[i].record, json,
                                           strlen(json), framings[k], &b, err,
                                           sizeof err),
                      0);
            int all_fail = 1;
            for (size_t len = 1; len < b.len; len++)
                if (!decode_fails(c, samples[i].record, b.p, len,
                                  "truncated"))
                    all_fail = 0;
            CHECK(all_fail);
            CHECK(rc_buf_append(&b, "X", 1) == 0);
            CHECK(decode_fails(c, samples[i].record, b.p, b.len,
                               "1 trailing byte(s) after the record"));
            rc_buf_free(&b);
        }
    }
    /* A writer for another record, found by id, is refused. */
    rc_buf b = {0};
    CHECK_INT(rc_codec_encode_json(c, "CommentMutation", samples[1].json,
                                   strlen(samples[1].json),
                                   RC_FRAMING_CONFLUENT, &b, err, sizeof err),
              0);
    CHECK(decode_fails(c, "RequestMutation", b.p, b.len,
                       "writer schema comment_mutation.avsc cannot be read as "
                       "io.roomcast.mutations.RequestMutation: it is "
                       "io.roomcast.mutations.CommentMutation"));
    rc_buf_free(&b);
    rc_buf_free(&good);

    /* Garbage: deterministic pseudo-random payloads never crash. */
    uint32_t x = 2463534242u;
    unsigned char junk[64];
    int failures = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + (size_t)(iter % 64);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            junk[i] = (unsigned char)x;
        }
        if (iter % 3 == 1)
            junk[0] = 0x00;
        if (iter % 3 == 2 && len > 1) {
            junk[0] = 0xC3;
            junk[1] = 0x01;
        }
        char e2[256] = "";
        avro_value_t *out = NULL;
        const char *rec = samples[iter % NSAMPLES].record;
        if (rc_codec_decode(c, rec, junk, len, &out, NULL, e2, sizeof e2) != 0)
            failures += e2[0] != '\0';
        else
            failures++; /* a valid record by chance is fine too */
    }
    CHECK_INT(failures, 20000);
}

static void test_register(rc_codec *c)
{
    char err[512] = "";
    rc_buf b = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/history/request_mutation.v1.avsc",
             RC_DEFAULT_SCHEMAS_DIR);
    json_t *j = json_load_file(path, 0, NULL);
    char *text = json_dumps(j, JSON_COMPACT);
    CHECK(text != NULL);
    const char *json = "{\"event_id\":\"r-1\",\"occurred_at\":2,"
                       "\"performed_by\":{\"user_id\":\"u\"},"
                       "\"action\":\"CREATED\",\"program_id\":\"p\","
                       "\"request_id\":\"r\",\"legacy_priority\":3}";
    CHECK_INT(rc_codec_encode_json_as(c, "history/request_mutation.v1.avsc",
                                      json, strlen(json), RC_FRAMING_CONFLUENT,
                                      &b, err, sizeof err),
              0);
    /* Re-label the record with id 500. */
    b.p[1] = 0;
    b.p[2] = 0;
    b.p[3] = 0x01;
    b.p[4] = (char)0xF4;
    int32_t id = 0;
    CHECK_INT(rc_codec_unknown_id(c, b.p, b.len, &id), 1);
    CHECK_INT(id, 500);
    CHECK(decode_fails(c, "RequestMutation", b.p, b.len,
                       "unknown schema id 500"));
    CHECK_INT(rc_codec_register(c, 500, text, strlen(text), err, sizeof err),
              0);
    CHECK_INT(rc_codec_unknown_id(c, b.p, b.len, &id), 0);
    avro_value_t *v = NULL;
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b.p, b.len, &v, NULL, err,
                              sizeof err),
              0);
    avro_value_t f;
    const char *s = NULL;
    size_t n = 0;
    CHECK(v && avro_value_get_by_name(v, "event_id", &f, NULL) == 0 &&
          avro_value_get_string(&f, &s, &n) == 0 && strcmp(s, "r-1") == 0);
    /* Same schema again: fine. Another schema under a taken id: refused. */
    CHECK_INT(rc_codec_register(c, 500, text, strlen(text), err, sizeof err),
              0);
    CHECK_INT(rc_codec_register(c, 1, text, strlen(text), err, sizeof err),
              -1);
    CHECK(contains(err, "schema id 1 is already request_mutation.avsc"));
    CHECK_INT(rc_codec_register(c, 501, "{\"type\":", 8, err, sizeof err), -1);
    CHECK(contains(err, "registry id 501: invalid JSON"));
    CHECK_INT(rc_codec_register(c, 502, "\"string\"", 8, err, sizeof err), -1);
    CHECK(contains(err, "must be a record"));
    CHECK_INT(rc_codec_unknown_id(c, "\x00\x00\x00\x00\x01", 5, &id), 0);
    CHECK_INT(rc_codec_unknown_id(c, "\x00\x00\x00", 3, &id), 0);
    CHECK_INT(rc_codec_unknown_id(c, "\x02\x00\x00\x00\x09", 5, &id), 0);
    free(text);
    json_decref(j);
    rc_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Resolution rules on a scratch schemas directory                      */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static const char thing_reader[] =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"count\",\"type\":\"long\"},"
    "{\"name\":\"ratio\",\"type\":\"double\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    " \"symbols\":[\"BLUE\",\"RED\",\"OTHER\"],\"default\":\"OTHER\"}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"maybe\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"blob\",\"type\":\"string\"},"
    "{\"name\":\"added\",\"type\":\"string\",\"default\":\"fresh\"},"
    "{\"name\":\"inner\",\"type\":{\"type\":\"record\",\"name\":\"Inner\","
    " \"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
    " {\"name\":\"b\",\"type\":\"string\",\"default\":\"bee\"}]}},"
    "{\"name\":\"added_rec\",\"type\":\"Inner\",\"default\":{\"a\":5}},"
    "{\"name\":\"added_list\",\"type\":{\"type\":\"array\",\"items\":\"int\"},"
    " \"default\":[1,2]}"
    "]}";

static const char thing_v1[] =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"dropped\",\"type\":{\"type\":\"record\",\"name\":\"Gone\","
    " \"fields\":[{\"name\":\"x\",\"type\":{\"type\":\"array\","
    " \"items\":\"long\"}},{\"name\":\"y\",\"type\":[\"null\",\"string\"]},"
    " {\"name\":\"z\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    " {\"name\":\"w\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\","
    " \"size\":4}}]}},"
    "{\"name\":\"count\",\"type\":\"int\"},"
    "{\"name\":\"ratio\",\"type\":\"float\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    " \"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
    "{\"name\":\"maybe\",\"type\":\"int\"},"
    "{\"name\":\"blob\",\"type\":\"bytes\"},"
    "{\"name\":\"inner\",\"type\":{\"type\":\"record\",\"name\":\"Inner\","
    " \"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}},"
    "{\"name\":\"dropped2\",\"type\":\"double\"}"
    "]}";

/* Lacks id, which the reader needs and has no default for. */
static const char thing_v0[] =
    "{\"type\":\"record\",\"name\":\"Thing\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"count\",\"type\":\"int\"}]}";

/* The first field is a non-empty string, so a bare record never starts
 * with a framing's magic byte (0x00, 0xC3). */
static const char mood_reader[] =
    "{\"type\":\"record\",\"name\":\"Mood\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"m\",\"type\":{\"type\":\"enum\",\"name\":\"M\","
    " \"symbols\":[\"HAPPY\",\"SAD\"]}},"
    "{\"name\":\"n\",\"type\":[\"null\",\"string\"],\"default\":null}]}";

static const char mood_v1[] =
    "{\"type\":\"record\",\"name\":\"Mood\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"m\",\"type\":{\"type\":\"enum\",\"name\":\"M\","
    " \"symbols\":[\"SAD\",\"ANGRY\",\"HAPPY\"]}},"
    "{\"name\":\"n\",\"type\":[\"string\",\"int\",\"null\"]}]}";

static void test_resolution_rules(void)
{
    char dir[] = "/tmp/rc-codec-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char hist[1100];
    snprintf(hist, sizeof hist, "%s/history", dir);
    CHECK_INT(mkdir(hist, 0700), 0);
    write_file(dir, "thing.avsc", thing_reader);
    write_file(dir, "mood.avsc", mood_reader);
    write_file(dir, "history/thing.v1.avsc", thing_v1);
    write_file(dir, "history/thing.v0.avsc", thing_v0);
    write_file(dir, "history/mood.v1.avsc", mood_v1);
    write_file(dir, "registry.json",
               "{\"schemas\":[{\"id\":1,\"file\":\"thing.avsc\"},"
               "{\"id\":2,\"file\":\"history/thing.v1.avsc\"},"
               "{\"id\":3,\"file\":\"history/thing.v0.avsc\"},"
               "{\"id\":4,\"file\":\"history/mood.v1.avsc\"}]}");
    char err[512] = "";
    rc_codec *c = rc_codec_new(dir, err, sizeof err);
    if (!c)
        fprintf(stderr, "rc_codec_new: %s\n", err);
    CHECK(c != NULL);
    if (!c)
        return;

    const char *colors[][2] = {
        {"RED", "RED"}, {"GREEN", "OTHER"}, {"BLUE", "BLUE"},
    };
    for (size_t ci = 0; ci < 3; ci++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"id\":\"t1\",\"dropped\":{\"x\":[1,2,3],\"y\":\"zz\","
                 "\"z\":{\"k\":1.5},\"w\":\"abcd\"},"
                 "\"count\":42,\"ratio\":0.5,\"color\":\"%s\","
                 "\"tags\":[\"a\",\"b\"],\"attrs\":{\"k\":7,\"j\":-1},"
                 "\"maybe\":9,\"blob\":\"hi\",\"inner\":{\"a\":1},"
                 "\"dropped2\":2.5}",
                 colors[ci][0]);
        char want[1024];
        snprintf(want, sizeof want,
                 "{\"id\":\"t1\",\"count\":42,\"ratio\":0.5,\"color\":\"%s\","
                 "\"tags\":[\"a\",\"b\"],\"attrs\":{\"k\":7,\"j\":-1},"
                 "\"maybe\":9,\"blob\":\"hi\",\"added\":\"fresh\","
                 "\"inner\":{\"a\":1,\"b\":\"bee\"},"
                 "\"added_rec\":{\"a\":5,\"b\":\"bee\"},"
                 "\"added_list\":[1,2]}",
                 colors[ci][1]);
        for (size_t k = 0; k < 3; k++) {
            rc_buf b = {0};
            avro_value_t *v = NULL;
            int rc = rc_codec_encode_json_as(c, "history/thing.v1.avsc", json,
                                             strlen(json), framings[k], &b,
                                             err, sizeof err);
            if (rc)
                fprintf(stderr, "thing v1 encode: %s\n", err);
            CHECK_INT(rc, 0);
            rc = rc_codec_decode(c, "t.Thing", b.p, b.len, &v, NULL, err,
                                 sizeof err);
            if (rc)
                fprintf(stderr, "thing v1 decode (%s): %s\n",
                        rc_framing_name(framings[k]), err);
            CHECK_INT(rc, 0);
            if (rc == 0)
                check_value(v, want, __LINE__);
            rc_buf_free(&b);
        }
    }

    /* A writer lacking a field without default: a clear error. */
    rc_buf b = {0};
    CHECK_INT(rc_codec_encode_json_as(c, "history/thing.v0.avsc",
                                      "{\"count\":1}", 11, RC_FRAMING_CONFLUENT,
                                      &b, err, sizeof err),
              0);
    CHECK(decode_fails(c, "Thing", b.p, b.len,
                       "writer schema history/thing.v0.avsc cannot be read as "
                       "t.Thing: field 'id': not in the writer and no default "
                       "in the reader"));
    /* The failure is remembered: same answer the second time. */
    CHECK(decode_fails(c, "Thing", b.p, b.len, "field 'id'"));
    rc_buf_reset(&b);

    /* Enums by symbol; a symbol the reader lacks (no default) fails only
     * when it occurs. Writer union branches map to reader branches by type;
     * a branch the reader lacks (int) fails only when it occurs. */
    struct {
        const char *json, *want, *error;
    } moods[] = {
        {"{\"id\":\"m1\",\"m\":\"SAD\",\"n\":\"x\"}",
         "{\"id\":\"m1\",\"m\":\"SAD\",\"n\":\"x\"}", NULL},
        {"{\"id\":\"m2\",\"m\":\"HAPPY\",\"n\":null}",
         "{\"id\":\"m2\",\"m\":\"HAPPY\",\"n\":null}", NULL},
        {"{\"id\":\"m3\",\"m\":\"ANGRY\",\"n\":null}", NULL,
         "enum symbol ANGRY unknown to the reader at field 'm'"},
        {"{\"id\":\"m4\",\"m\":\"SAD\",\"n\":3}", NULL,
         "union branch 1 unreadable: writer int matches no branch of null or "
         "string at field 'n'"},
    };
    for (size_t i = 0; i < sizeof moods / sizeof moods[0]; i++) {
        for (size_t k = 0; k < 3; k++) {
            avro_value_t *v = NULL;
            rc_buf_reset(&b);
            CHECK_INT(rc_codec_encode_json_as(c, "history/mood.v1.avsc",
                                              moods[i].json,
                                              strlen(moods[i].json),
                                              framings[k], &b, err,
                                              sizeof err),
                      0);
            if (moods[i].want) {
                int rc = rc_codec_decode(c, "Mood", b.p, b.len, &v, NULL, err,
                                         sizeof err);
                if (rc)
                    fprintf(stderr, "mood %zu: %s\n", i, err);
                CHECK_INT(rc, 0);
                if (rc == 0)
                    check_value(v, moods[i].want, __LINE__);
            } else if (framings[k] != RC_FRAMING_BARE) {
                CHECK(decode_fails(c, "Mood", b.p, b.len, moods[i].error));
            } else {
                /* Bare: the current schema's reason is reported. */
                CHECK(decode_fails(c, "Mood", b.p, b.len, NULL));
            }
        }
    }
    /* Confluent framing needs an id: mood.avsc has none. */
    rc_buf_reset(&b);
    const char *mood = "{\"id\":\"m5\",\"m\":\"SAD\"}";
    CHECK_INT(rc_codec_encode_json(c, "Mood", mood, strlen(mood),
                                   RC_FRAMING_CONFLUENT, &b, err, sizeof err),
              -1);
    CHECK(contains(err, "mood.avsc has no schema id in registry.json"));
    CHECK_INT(rc_codec_encode_json(c, "Mood", mood, strlen(mood),
                                   RC_FRAMING_SINGLE_OBJECT, &b, err,
                                   sizeof err),
              0);
    avro_value_t *mv = NULL;
    CHECK_INT(rc_codec_decode(c, "Mood", b.p, b.len, &mv, NULL, err,
                              sizeof err),
              0);
    if (mv)
        check_value(mv, "{\"id\":\"m5\",\"m\":\"SAD\",\"n\":null}",
                    __LINE__);
    rc_buf_free(&b);
    rc_codec_destroy(c);

    /* Loading errors name the file and the problem. */
    write_file(dir, "registry.json",
               "{\"schemas\":[{\"id\":1,\"file\":\"missing.avsc\"}]}");
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "id 1: no schema file missing.avsc"));
    write_file(dir, "registry.json",
               "{\"schemas\":[{\"id\":1,\"file\":\"thing.avsc\"},"
               "{\"id\":1,\"file\":\"mood.avsc\"}]}");
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "id 1 used twice"));
    write_file(dir, "registry.json", "{\"schemas\":{}}");
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "\"schemas\" must be an array"));
    write_file(dir, "registry.json", "{\"schemas\":[]}");
    write_file(dir, "broken.avsc", "{\"type\":\"record\",\"name\":\"B\"}");
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "broken.avsc: record B: \"fields\" must be an array"));
    write_file(dir, "broken.avsc", mood_reader);
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "both define Mood"));
    char path[1200];
    snprintf(path, sizeof path, "%s/broken.avsc", dir);
    unlink(path);
    /* No registry.json at all: loads, no ids. */
    snprintf(path, sizeof path, "%s/registry.json", dir);
    unlink(path);
    c = rc_codec_new(dir, err, sizeof err);
    CHECK(c != NULL);
    rc_codec_destroy(c);
    c = rc_codec_new("/nonexistent/schemas", err, sizeof err);
    CHECK(c == NULL);
    CHECK(contains(err, "/nonexistent/schemas"));

    const char *files[] = {"thing.avsc", "mood.avsc", "history/thing.v1.avsc",
                           "history/thing.v0.avsc", "history/mood.v1.avsc"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(hist);
    rmdir(dir);
}

int main(void)
{
    char err[512] = "";
    rc_codec *c = rc_codec_new(RC_DEFAULT_SCHEMAS_DIR, err, sizeof err);
    if (!c)
        fprintf(stderr, "rc_codec_new: %s\n", err);
    CHECK(c != NULL);
    if (c) {
        test_lookup(c);
        test_round_trip(c);
        test_defaults_and_reuse(c);
        test_request_v1(c);
        test_decode_errors(c);
        test_register(c);
        rc_codec_destroy(c);
    }
    test_resolution_rules();
    return CHECK_DONE();
}
