/*
 * test_pcf.c - Parsing Canonical Form and CRC-64-AVRO against the Avro
 * project's published vectors (share/test/data/schema-tests.txt), plus
 * namespace rules, error cases and the named-type walk.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/pcf.h"
#include "check.h"

struct vector {
    const char *input;
    const char *canonical;
    int has_fp;
    int64_t fingerprint; /* as the vectors print it: signed decimal */
};

/* Every case of schema-tests.txt (000..033), in order. */
static const struct vector vectors[] = {
    {"\"null\"", "\"null\"", 1, 7195948357588979594LL},
    {"{\"type\":\"null\"}", "\"null\"", 0, 0},
    {"\"boolean\"", "\"boolean\"", 1, -6970731678124411036LL},
    {"{\"type\":\"boolean\"}", "\"boolean\"", 0, 0},
    {"\"int\"", "\"int\"", 1, 8247732601305521295LL},
    {"{\"type\":\"int\"}", "\"int\"", 0, 0},
    {"\"long\"", "\"long\"", 1, -3434872931120570953LL},
    {"{\"type\":\"long\"}", "\"long\"", 0, 0},
    {"\"float\"", "\"float\"", 1, 5583340709985441680LL},
    {"{\"type\":\"float\"}", "\"float\"", 0, 0},
    {"\"double\"", "\"double\"", 1, -8181574048448539266LL},
    {"{\"type\":\"double\"}", "\"double\"", 0, 0},
    {"\"bytes\"", "\"bytes\"", 1, 5746618253357095269LL},
    {"{\"type\":\"bytes\"}", "\"bytes\"", 0, 0},
    {"\"string\"", "\"string\"", 1, -8142146995180207161LL},
    {"{\"type\":\"string\"}", "\"string\"", 0, 0},
    {"[  ]", "[]", 1, -1241056759729112623LL},
    {"[ \"int\"  ]", "[\"int\"]", 1, -5232228896498058493LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]", 1,
     5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1,
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", 1,
     5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", 1,
     -4616218487480524110LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"doc\":\"Useful info\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1,
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1,
     -4824392279771201922LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
     "\"aliases\":[\"foo\",\"bar\"]}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", 1,
     -4824392279771201922LL},
    {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], "
     "\"type\":\"record\", \"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"}]}",
     1, 7843277075252814651LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},\n"
     "            {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\","
     "\"type\":\"int\"}],\n"
     "  \"type\":\"record\", \"name\":\"foo\"\n}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"},{\"name\":\"f2\",\"type\":\"int\"}]}",
     1, -4860222112080293046LL},
    {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
     "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", 1,
     -6342190197741309591LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     1, -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", 1,
     1756455273707447556LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"size\":32}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", 1,
     -3064184465700546786LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", 1, -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}",
     "{\"type\":\"map\",\"values\":\"string\"}", 1, -8732877298790414990LL},
    {"  {\"name\":\"PigValue\",\"type\":\"record\",\n"
     "   \"fields\":[{\"name\":\"value\", \"type\":[\"null\", \"int\", "
     "\"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     1, -1759257747318642341LL},
};

static void test_vectors(void)
{
    size_t n = sizeof vectors / sizeof vectors[0];
    CHECK_INT(n, 34);
    for (size_t i = 0; i < n; i++) {
        const struct vector *v = &vectors[i];
        char err[256] = "";
        char *canon = rc_pcf_canonical(v->input, strlen(v->input), err, sizeof err);
        if (!canon)
            fprintf(stderr, "case %03zu: %s\n", i, err);
        CHECK_STR(canon, v->canonical);
        /* The fingerprint depends on the canonical form only. */
        uint64_t fp = 0;
        CHECK_INT(rc_pcf_fingerprint(v->input, strlen(v->input), &fp, err,
                                  sizeof err), 0);
        if (canon)
            CHECK(fp == rc_pcf_crc64(canon, strlen(canon)));
        if (v->has_fp) {
            if ((int64_t)fp != v->fingerprint)
                fprintf(stderr, "case %03zu: fingerprint %" PRId64
                        ", expected %" PRId64 "\n", i, (int64_t)fp,
                        v->fingerprint);
            CHECK((int64_t)fp == v->fingerprint);
        }
        /* Canonical form is a fixed point. */
        if (canon) {
            char *again = rc_pcf_canonical(canon, strlen(canon), err, sizeof err);
            CHECK_STR(again, canon);
            free(again);
        }
        free(canon);
    }
}

/* The textbook table-driven CRC-64-AVRO, to cross-check the bitwise one. */
static uint64_t crc64_table_driven(const unsigned char *p, size_t len)
{
    uint64_t table[256];
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (RC_PCF_CRC64_EMPTY & -(fp & 1));
        table[i] = fp;
    }
    uint64_t fp = RC_PCF_CRC64_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}

static void test_crc64(void)
{
    CHECK(rc_pcf_crc64("", 0) == RC_PCF_CRC64_EMPTY);
    CHECK((int64_t)rc_pcf_crc64("\"null\"", 6) == 7195948357588979594LL);
    CHECK((int64_t)rc_pcf_crc64("\"int\"", 5) == 8247732601305521295LL);
    unsigned char buf[1024];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t len = 0; len <= sizeof buf; len += 37)
        CHECK(rc_pcf_crc64(buf, len) == crc64_table_driven(buf, len));
    /* A one-bit change changes the fingerprint. */
    uint64_t a = rc_pcf_crc64(buf, 100);
    buf[50] ^= 1;
    CHECK(rc_pcf_crc64(buf, 100) != a);
}

static void check_canon(const char *in, const char *want)
{
    char err[256] = "";
    char *got = rc_pcf_canonical(in, strlen(in), err, sizeof err);
    if (!got)
        fprintf(stderr, "rc_pcf_canonical(%s): %s\n", in, err);
    CHECK_STR(got, want);
    free(got);
}

static void check_error(const char *in, const char *want_substr)
{
    char err[256] = "";
    char *got = rc_pcf_canonical(in, strlen(in), err, sizeof err);
    CHECK(got == NULL);
    if (!strstr(err, want_substr))
        fprintf(stderr, "error for %s: \"%s\", expected \"%s\"\n", in, err,
                want_substr);
    CHECK(strstr(err, want_substr) != NULL);
    free(got);
}

static void test_namespaces(void)
{
    /* Nested named types inherit the enclosing namespace; references are
     * qualified the same way; logicalType is stripped. */
    check_canon(
        "{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"a.b\","
        "\"fields\":["
        " {\"name\":\"in\",\"type\":{\"type\":\"record\",\"name\":\"Inner\","
        "   \"fields\":[{\"name\":\"e\",\"type\":{\"type\":\"enum\","
        "   \"name\":\"E\",\"symbols\":[\"X\",\"Y\"]}}]}},"
        " {\"name\":\"again\",\"type\":\"Inner\"},"
        " {\"name\":\"e2\",\"type\":\"a.b.E\"},"
        " {\"name\":\"other\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
        "   \"namespace\":\"c\",\"size\":4}},"
        " {\"name\":\"ts\",\"type\":{\"type\":\"long\","
        "   \"logicalType\":\"timestamp-millis\"}},"
        " {\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
        "   {\"type\":\"array\",\"items\":\"c.F\"}}}"
        "]}",
        "{\"name\":\"a.b.Outer\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"in\",\"type\":{\"name\":\"a.b.Inner\",\"type\":\"record\","
        "\"fields\":[{\"name\":\"e\",\"type\":{\"name\":\"a.b.E\","
        "\"type\":\"enum\",\"symbols\":[\"X\",\"Y\"]}}]}},"
        "{\"name\":\"again\",\"type\":\"a.b.Inner\"},"
        "{\"name\":\"e2\",\"type\":\"a.b.E\"},"
        "{\"name\":\"other\",\"type\":{\"name\":\"c.F\",\"type\":\"fixed\","
        "\"size\":4}},"
        "{\"name\":\"ts\",\"type\":\"long\"},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":"
        "\"array\",\"items\":\"c.F\"}}}]}");
    /* A dotted name sets the namespace for what it encloses. */
    check_canon(
        "{\"type\":\"record\",\"name\":\"p.q.R\",\"namespace\":\"ignored\","
        "\"fields\":[{\"name\":\"s\",\"type\":{\"type\":\"record\","
        "\"name\":\"S\",\"fields\":[]}}]}",
        "{\"name\":\"p.q.R\",\"type\":\"record\",\"fields\":[{\"name\":\"s\","
        "\"type\":{\"name\":\"p.q.S\",\"type\":\"record\",\"fields\":[]}}]}");
    /* An empty namespace means none. */
    check_canon("{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"\","
                "\"symbols\":[\"A\"]}",
                "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}");
    /* Error types are records. */
    check_canon("{\"type\":\"error\",\"name\":\"Oops\",\"fields\":[]}",
                "{\"name\":\"Oops\",\"type\":\"record\",\"fields\":[]}");
    /* Whitespace and escapes inside the input do not matter. */
    check_canon("  { \"type\" : \"enum\" , \"name\" : \"\\u0045\" ,"
                " \"symbols\" : [ \"\\u0041\" ] }  ",
                "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}");
}

static void test_errors(void)
{
    check_error("{\"type\":", "invalid JSON");
    check_error("\"Nope\"", "unknown type \"Nope\"");
    check_error("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\","
                "\"fields\":[{\"name\":\"f\",\"type\":\"Missing\"}]}",
                "unknown type \"n.Missing\"");
    check_error("{\"type\":\"record\",\"fields\":[]}", "without a \"name\"");
    check_error("{\"type\":\"record\",\"name\":\"9x\",\"fields\":[]}",
                "invalid record name");
    check_error("{\"type\":\"record\",\"name\":\"R\"}", "\"fields\"");
    check_error("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                "\"a-b\",\"type\":\"int\"}]}",
                "invalid field name");
    check_error("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"ok\",\"no "
                "pe\"]}",
                "invalid symbol");
    check_error("{\"type\":\"fixed\",\"name\":\"F\"}", "\"size\"");
    check_error("{\"type\":\"fixed\",\"name\":\"F\",\"size\":\"16\"}",
                "\"size\"");
    check_error("{\"type\":\"array\"}", "\"items\"");
    check_error("{\"type\":\"map\"}", "\"values\"");
    check_error("{\"items\":\"int\"}", "\"type\"");
    check_error("42", "must be a string, an object or an array");
    /* Deep nesting is refused, not recursed into without bound. */
    char deep[4096] = "";
    for (int i = 0; i < 200; i++)
        strcat(deep, "[");
    for (int i = 0; i < 200; i++)
        strcat(deep, "]");
    check_error(deep, "deeper than");
}

struct names {
    char got[8][128];
    int n;
};

static int collect(void *ud, const char *fullname, const json_t *def)
{
    struct names *nm = ud;
    if (nm->n < 8 && json_is_object(def))
        snprintf(nm->got[nm->n++], sizeof nm->got[0], "%s", fullname);
    return 0;
}

static int stop_at_second(void *ud, const char *fullname, const json_t *def)
{
    int *count = ud;
    (void)fullname;
    (void)def;
    return ++*count == 2 ? 7 : 0;
}

static json_t *load_schema(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", RC_DEFAULT_SCHEMAS_DIR, name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, jerr.text);
    return j;
}

static void test_named_types(void)
{
    json_t *schema = load_schema("request_mutation.avsc");
    CHECK(schema != NULL);
    if (!schema)
        return;
    struct names nm = {.n = 0};
    char err[256] = "";
    CHECK_INT(rc_pcf_named_types(schema, collect, &nm, err, sizeof err), 0);
    CHECK_INT(nm.n, 3);
    CHECK_STR(nm.got[0], "io.roomcast.mutations.RequestMutation");
    CHECK_STR(nm.got[1], "io.roomcast.mutations.Actor");
    CHECK_STR(nm.got[2], "io.roomcast.mutations.RequestAction");
    int count = 0;
    CHECK_INT(rc_pcf_named_types(schema, stop_at_second, &count, err, sizeof err),
              7);
    CHECK_INT(count, 2);

    /* The project's schemas: canonical form drops doc and logicalType and
     * the defaults, so v1 and current differ only by their fields. */
    char *canon = rc_pcf_canonical_json(schema, err, sizeof err);
    CHECK(canon != NULL);
    if (canon) {
        CHECK(strncmp(canon,
                      "{\"name\":\"io.roomcast.mutations.RequestMutation\","
                      "\"type\":\"record\",\"fields\":[{\"name\":\"event_id\","
                      "\"type\":\"string\"},{\"name\":\"occurred_at\","
                      "\"type\":\"long\"},{\"name\":\"performed_by\",\"type\":"
                      "{\"name\":\"io.roomcast.mutations.Actor\"",
                      200) == 0);
        CHECK(strstr(canon, "doc") == NULL);
        CHECK(strstr(canon, "default") == NULL);
        CHECK(strstr(canon, "\"previous_assignee_id\"") != NULL);
    }
    json_t *v1 = load_schema("history/request_mutation.v1.avsc");
    CHECK(v1 != NULL);
    uint64_t fp_cur = 0, fp_v1 = 0;
    CHECK_INT(rc_pcf_fingerprint_json(schema, &fp_cur, err, sizeof err), 0);
    CHECK_INT(rc_pcf_fingerprint_json(v1, &fp_v1, err, sizeof err), 0);
    CHECK(fp_cur != fp_v1);
    if (canon)
        CHECK(fp_cur == rc_pcf_crc64(canon, strlen(canon)));
    free(canon);
    json_decref(v1);
    json_decref(schema);

    /* A name defined twice: listing the named types refuses it (a schema
     * about to be parsed: avro-c would refuse it too, leaking), the
     * canonical form writes the second as a reference. */
    json_t *twice = json_loads(
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":["
        "{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"b\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"]}}]}",
        0, NULL);
    CHECK(twice != NULL);
    struct names nm2 = {.n = 0};
    err[0] = '\0';
    CHECK_INT(rc_pcf_named_types(twice, collect, &nm2, err, sizeof err), -1);
    CHECK(strstr(err, "enum n.E is defined twice") != NULL);
    uint64_t fp = 0;
    CHECK_INT(rc_pcf_fingerprint_json(twice, &fp, err, sizeof err), 0);
    json_decref(twice);
}

int main(void)
{
    test_vectors();
    test_crc64();
    test_namespaces();
    test_errors();
    test_named_types();
    return CHECK_DONE();
}
