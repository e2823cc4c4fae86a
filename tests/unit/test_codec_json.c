/*
 * test_codec_json.c - JSON objects encoded as Avro records: the errors that
 * name the field path, nothing appended on failure, the framings' headers,
 * Avro's own JSON form of unions, records appended one after the other,
 * and older writer schemas by file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#define JOB                                                                   \
    "{\"event_id\":\"e-5\",\"occurred_at\":-5,\"state\":\"PROGRESS\","          \
    "\"job_id\":\"j1\",\"user_id\":\"u1\",\"program_id\":null,"                 \
    "\"progress\":42,\"message\":\"halfway\"}"

static int contains(const char *s, const char *sub)
{
    if (!strstr(s, sub)) {
        fprintf(stderr, "  \"%s\" does not contain \"%s\"\n", s, sub);
        return 0;
    }
    return 1;
}

static void test_encode_errors(rc_codec *c)
{
    struct {
        const char *record, *json, *want;
    } cases[] = {
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"program_id\":7,\"request_id\":\"r\"}",
         "field 'program_id': expected string, got number"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"request_id\":\"r\"}",
         "missing required field 'program_id'"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":5},\"action\":\"CREATED\","
         "\"program_id\":\"p\",\"request_id\":\"r\"}",
         "field 'performed_by.user_id': expected string, got number"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"EXPLODED\","
         "\"program_id\":\"p\",\"request_id\":\"r\"}",
         "field 'action': unknown symbol 'EXPLODED' (expected one of CREATED, "
         "UPDATED, STATUS_CHANGED, ASSIGNED)"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"program_id\":\"p\",\"request_id\":\"r\",\"title\":3}",
         "field 'title': expected null or string, got number"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"program_id\":\"p\",\"request_id\":\"r\","
         "\"changed_fields\":[\"a\",2]}",
         "field 'changed_fields[1]': expected string, got number"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":\"now\","
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"program_id\":\"p\",\"request_id\":\"r\"}",
         "field 'occurred_at': expected long, got string"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\"},\"action\":\"CREATED\","
         "\"program_id\":\"p\",\"request_id\":\"r\",\"colour\":\"red\"}",
         "unknown field 'colour' (not in record RequestMutation)"},
        {"RequestMutation", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"performed_by\":{\"user_id\":\"u\",\"nick\":1},"
         "\"action\":\"CREATED\",\"program_id\":\"p\",\"request_id\":\"r\"}",
         "unknown field 'performed_by.nick'"},
        {"JobEvent", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"state\":\"PROGRESS\",\"job_id\":\"j\",\"user_id\":\"u\","
         "\"progress\":1099511627776}",
         "field 'progress': 1099511627776 out of range for int"},
        {"JobEvent", "{\"event_id\":\"e\",\"occurred_at\":1,"
         "\"state\":\"PROGRESS\",\"job_id\":\"j\",\"user_id\":\"u\","
         "\"message\":\"a\\u0000b\"}",
         "field 'message': string contains a NUL character"},
        {"JobEvent", "[1,2]", "expected a JSON object, got array"},
        {"JobEvent", "{\"event_id\":", "invalid JSON"},
        {"Nope", "{}", "unknown record Nope"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc_buf b = {0};
        char err[512] = "";
        int rc = rc_codec_encode_json(c, cases[i].record, cases[i].json,
                                      strlen(cases[i].json),
                                      RC_FRAMING_CONFLUENT, &b, err,
                                      sizeof err);
        CHECK_INT(rc, -1);
        CHECK(contains(err, cases[i].want));
        CHECK_INT(b.len, 0); /* nothing appended on failure */
        rc_buf_free(&b);
    }
    /* AUTO is not a framing to encode with. */
    rc_buf b = {0};
    char err[256] = "";
    CHECK_INT(rc_codec_encode_json(c, "JobEvent", JOB, strlen(JOB), RC_FRAMING_AUTO,
                                   &b, err, sizeof err),
              -1);
    CHECK(contains(err, "framing"));
    rc_buf_free(&b);
}

static void test_encode(rc_codec *c)
{
    char err[512] = "";
    rc_buf b = {0};
    avro_value_t *v = NULL;
    /* each framing's header, then the record; records append */
    CHECK_INT(rc_codec_encode_json(c, "JobEvent", JOB, strlen(JOB),
                                   RC_FRAMING_CONFLUENT, &b, err, sizeof err), 0);
    CHECK(b.len > 5 && b.p[0] == 0x00);
    size_t first = b.len;
    CHECK_INT(rc_codec_encode_json(c, "JobEvent", JOB, strlen(JOB),
                                   RC_FRAMING_SINGLE_OBJECT, &b, err, sizeof err), 0);
    CHECK(b.len > first + 10 && (unsigned char)b.p[first] == 0xC3 &&
          b.p[first + 1] == 0x01);
    CHECK_INT(b.len - first - 10, first - 5); /* the same body */
    CHECK(memcmp(b.p + 5, b.p + first + 10, first - 5) == 0);
    enum rc_framing f = RC_FRAMING_AUTO;
    CHECK_INT(rc_codec_decode(c, "JobEvent", b.p + first, b.len - first, &v, &f,
                              err, sizeof err), 0);
    CHECK_INT(f, RC_FRAMING_SINGLE_OBJECT);
    rc_buf_free(&b);

    /* Avro's JSON form of a union branch, {"string": ...} */
    const char *tagged = "{\"event_id\":\"e\",\"occurred_at\":1,\"state\":\"STARTED\","
                         "\"job_id\":\"j\",\"user_id\":\"u\","
                         "\"program_id\":{\"string\":\"p7\"}}";
    CHECK_INT(rc_codec_encode_json(c, "JobEvent", tagged, strlen(tagged),
                                   RC_FRAMING_BARE, &b, err, sizeof err), 0);
    CHECK_INT(rc_codec_decode(c, "JobEvent", b.p, b.len, &v, NULL, err, sizeof err), 0);
    avro_value_t pid, br;
    const char *s = NULL;
    size_t n = 0;
    CHECK_INT(avro_value_get_by_name(v, "program_id", &pid, NULL), 0);
    CHECK_INT(avro_value_get_current_branch(&pid, &br), 0);
    CHECK_INT(avro_value_get_string(&br, &s, &n), 0);
    CHECK_STR(s, "p7");
    rc_buf_free(&b);

    /* an older writer, by file */
    const char *v1 = "{\"event_id\":\"e\",\"occurred_at\":1,\"performed_by\":"
                     "{\"user_id\":\"u\"},\"action\":\"CREATED\","
                     "\"program_id\":\"p\",\"request_id\":\"r\"}";
    CHECK_INT(rc_codec_encode_json_as(c, "history/request_mutation.v1.avsc", v1,
                                      strlen(v1), RC_FRAMING_SINGLE_OBJECT, &b,
                                      err, sizeof err), 0);
    CHECK_INT(rc_codec_decode(c, "RequestMutation", b.p, b.len, &v, NULL, err,
                              sizeof err), 0);
    rc_buf_free(&b);
    CHECK_INT(rc_codec_encode_json_as(c, "history/nope.avsc", v1, strlen(v1),
                                      RC_FRAMING_BARE, &b, err, sizeof err), -1);
    CHECK(contains(err, "unknown schema file history/nope.avsc"));
    CHECK_INT(b.len, 0);
    rc_buf_free(&b);
}

int main(void)
{
    char err[512] = "";
    rc_codec *c = rc_codec_new(RC_DEFAULT_SCHEMAS_DIR, err, sizeof err);
    if (!c)
        fprintf(stderr, "rc_codec_new: %s\n", err);
    CHECK(c != NULL);
    if (c) {
        test_encode_errors(c);
        test_encode(c);
        rc_codec_destroy(c);
    }
    return CHECK_DONE();
}
