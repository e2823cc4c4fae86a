/*
 * test_sio.c - Socket.IO v5 codec: every packet type both ways, the protocol
 * spec's encoding tables, and malformed packets (each must fail cleanly).
 */
#include <stdlib.h>

#include "gateway/server/sio.h"
#include "tests/unit/check.h"

static int parse(const char *s, sio_packet *p, json_t **args)
{
    return sio_parse_packet(s, strlen(s), p, args);
}

/* Compact JSON text of j, in a static buffer (NULL -> "(none)"). */
static const char *dump(const json_t *j)
{
    static char buf[512];
    if (!j)
        return "(none)";
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, sizeof buf, "%s", s ? s : "(dump failed)");
    free(s);
    return buf;
}

static void test_parse_valid(void)
{
    static const struct {
        const char *in;
        enum sio_type type;
        const char *nsp;
        long attachments;
        long long id;
        const char *data; /* raw slice */
        const char *json; /* compact re-dump, or "(none)" */
    } ok[] = {
        /* the spec's encoding tables */
        {"0", SIO_CONNECT, "/", 0, -1, "", "(none)"},
        {"0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", SIO_CONNECT, "/", 0, -1,
         "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}"},
        {"0/admin,", SIO_CONNECT, "/admin", 0, -1, "", "(none)"},
        {"0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}", SIO_CONNECT, "/admin", 0,
         -1, "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
         "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"},
        {"4{\"message\":\"Not authorized\"}", SIO_CONNECT_ERROR, "/", 0, -1,
         "{\"message\":\"Not authorized\"}", "{\"message\":\"Not authorized\"}"},
        {"2[\"foo\"]", SIO_EVENT, "/", 0, -1, "[\"foo\"]", "[\"foo\"]"},
        {"2/admin,[\"bar\"]", SIO_EVENT, "/admin", 0, -1, "[\"bar\"]",
         "[\"bar\"]"},
        {"51-[\"baz\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT, "/",
         1, -1, "[\"baz\",{\"_placeholder\":true,\"num\":0}]",
         "[\"baz\",{\"_placeholder\":true,\"num\":0}]"},
        {"52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
         "{\"_placeholder\":true,\"num\":1}]",
         SIO_BINARY_EVENT, "/admin", 2, -1,
         "[\"baz\",{\"_placeholder\":true,\"num\":0},"
         "{\"_placeholder\":true,\"num\":1}]",
         "[\"baz\",{\"_placeholder\":true,\"num\":0},"
         "{\"_placeholder\":true,\"num\":1}]"},
        {"212[\"foo\"]", SIO_EVENT, "/", 0, 12, "[\"foo\"]", "[\"foo\"]"},
        {"312[]", SIO_ACK, "/", 0, 12, "[]", "[]"},
        {"2/admin,13[\"foo\"]", SIO_EVENT, "/admin", 0, 13, "[\"foo\"]",
         "[\"foo\"]"},
        {"3/admin,13[\"bar\"]", SIO_ACK, "/admin", 0, 13, "[\"bar\"]",
         "[\"bar\"]"},
        {"51-14[\"foo\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_EVENT,
         "/", 1, 14, "[\"foo\",{\"_placeholder\":true,\"num\":0}]",
         "[\"foo\",{\"_placeholder\":true,\"num\":0}]"},
        {"314[\"bar\"]", SIO_ACK, "/", 0, 14, "[\"bar\"]", "[\"bar\"]"},
        {"61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK, "/",
         1, 15, "[\"bar\",{\"_placeholder\":true,\"num\":0}]",
         "[\"bar\",{\"_placeholder\":true,\"num\":0}]"},
        {"1", SIO_DISCONNECT, "/", 0, -1, "", "(none)"},
        {"1/admin,", SIO_DISCONNECT, "/admin", 0, -1, "", "(none)"},
        /* sample gw_session */
        {"61-/admin,1[{\"_placeholder\":true,\"num\":0}]", SIO_BINARY_ACK,
         "/admin", 1, 1, "[{\"_placeholder\":true,\"num\":0}]",
         "[{\"_placeholder\":true,\"num\":0}]"},
        {"2/admin,1[\"tellme\"]", SIO_EVENT, "/admin", 0, 1, "[\"tellme\"]",
         "[\"tellme\"]"},
        /* more shapes */
        {"0{\"token\":\"abc\",\"pid\":\"p\",\"offset\":\"1-2\"}", SIO_CONNECT,
         "/", 0, -1, "{\"token\":\"abc\",\"pid\":\"p\",\"offset\":\"1-2\"}",
         "{\"token\":\"abc\",\"pid\":\"p\",\"offset\":\"1-2\"}"},
        {"0{}", SIO_CONNECT, "/", 0, -1, "{}", "{}"},
        {"4\"Not authorized\"", SIO_CONNECT_ERROR, "/", 0, -1,
         "\"Not authorized\"", "\"Not authorized\""},
        {"2[\"join:program\",{\"programId\":\"p1\"}]", SIO_EVENT, "/", 0, -1,
         "[\"join:program\",{\"programId\":\"p1\"}]",
         "[\"join:program\",{\"programId\":\"p1\"}]"},
        {"20[\"a\"]", SIO_EVENT, "/", 0, 0, "[\"a\"]", "[\"a\"]"},
        {"2007[\"a\"]", SIO_EVENT, "/", 0, 7, "[\"a\"]", "[\"a\"]"},
        {"29007199254740991[\"a\"]", SIO_EVENT, "/", 0, 9007199254740991LL,
         "[\"a\"]", "[\"a\"]"},
        {"2 [\"a\"] ", SIO_EVENT, "/", 0, -1, " [\"a\"] ", "[\"a\"]"},
        {"2[\"\\u00e9v\",null,true,1.5,{\"k\":[1,2]}]", SIO_EVENT, "/", 0, -1,
         "[\"\\u00e9v\",null,true,1.5,{\"k\":[1,2]}]",
         "[\"\xc3\xa9v\",null,true,1.5,{\"k\":[1,2]}]"},
        {"2/,[\"a\"]", SIO_EVENT, "/", 0, -1, "[\"a\"]", "[\"a\"]"},
        {"2/a/b c,5[\"x\"]", SIO_EVENT, "/a/b c", 0, 5, "[\"x\"]", "[\"x\"]"},
        {"50-[\"x\"]", SIO_BINARY_EVENT, "/", 0, -1, "[\"x\"]", "[\"x\"]"},
        {"5007-[\"x\",{\"_placeholder\":true,\"num\":6}]", SIO_BINARY_EVENT, "/",
         7, -1, "[\"x\",{\"_placeholder\":true,\"num\":6}]",
         "[\"x\",{\"_placeholder\":true,\"num\":6}]"},
        /* placeholders nested, and non-placeholder look-alikes */
        {"52-[\"x\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},"
         "{\"_placeholder\":false,\"num\":9},{\"_placeholder\":1}]",
         SIO_BINARY_EVENT, "/", 2, -1,
         "[\"x\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},"
         "{\"_placeholder\":false,\"num\":9},{\"_placeholder\":1}]",
         "[\"x\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},"
         "{\"_placeholder\":false,\"num\":9},{\"_placeholder\":1}]"},
        /* in a non-binary event a placeholder is plain data */
        {"2[\"x\",{\"_placeholder\":true,\"num\":5}]", SIO_EVENT, "/", 0, -1,
         "[\"x\",{\"_placeholder\":true,\"num\":5}]",
         "[\"x\",{\"_placeholder\":true,\"num\":5}]"},
        {"60-3[]", SIO_BINARY_ACK, "/", 0, 3, "[]", "[]"},
        {"3/x,0[null]", SIO_ACK, "/x", 0, 0, "[null]", "[null]"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sio_packet p;
        json_t *args = (json_t *)1;
        int rc = parse(ok[i].in, &p, &args);
        if (rc != SIO_OK)
            fprintf(stderr, "  case %zu: %s\n", i, ok[i].in);
        CHECK_INT(rc, SIO_OK);
        if (rc != SIO_OK)
            continue;
        CHECK_INT(p.type, ok[i].type);
        CHECK(rc_slice_eq(p.nsp, ok[i].nsp));
        CHECK_INT(p.attachments, ok[i].attachments);
        CHECK_INT(p.id, ok[i].id);
        CHECK(rc_slice_eq(p.data, ok[i].data));
        CHECK_STR(dump(args), ok[i].json);
        json_decref(args);

        /* args may be NULL */
        CHECK_INT(parse(ok[i].in, &p, NULL), SIO_OK);
    }
}

static void test_parse_malformed(void)
{
    static const struct {
        const char *in;
        size_t len; /* 0 = strlen */
        int err;
    } bad[] = {
        /* types */
        {"", 0, SIO_ERR_TYPE},
        {"7", 0, SIO_ERR_TYPE},
        {"9[\"a\"]", 0, SIO_ERR_TYPE},
        {"a", 0, SIO_ERR_TYPE},
        {"-1", 0, SIO_ERR_TYPE},
        {"/admin,", 0, SIO_ERR_TYPE},
        /* attachments */
        {"5-[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"5[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"51[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"51", 0, SIO_ERR_ATTACHMENTS},
        {"5", 0, SIO_ERR_ATTACHMENTS},
        {"5a-[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"5 1-[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"52147483648-[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"599999999999999999999999-[\"a\"]", 0, SIO_ERR_ATTACHMENTS},
        {"6/admin,1-1[]", 0, SIO_ERR_ATTACHMENTS},
        /* attachments on non-binary types: "1-" reads as an id then junk */
        {"21-[\"a\"]", 0, SIO_ERR_PAYLOAD},
        {"31-1[]", 0, SIO_ERR_PAYLOAD},
        {"01-{}", 0, SIO_ERR_ID},
        /* namespaces */
        {"0/admin", 0, SIO_ERR_NSP},
        {"2/admin[\"a\"]", 0, SIO_ERR_NSP},
        {"1/admin", 0, SIO_ERR_NSP},
        {"51-/admin[\"a\"]", 0, SIO_ERR_NSP},
        {"0admin,", 0, SIO_ERR_PAYLOAD},
        {"0/a\x1e" "b,", 0, SIO_ERR_NSP},
        {"0/a\nb,", 0, SIO_ERR_NSP},
        {"0/a\x7f,", 0, SIO_ERR_NSP},
        {"0/a\0b,", 6, SIO_ERR_NSP},
        /* ids */
        {"29007199254740992[\"a\"]", 0, SIO_ERR_ID},
        {"299999999999999999999999999[\"a\"]", 0, SIO_ERR_ID},
        {"2184467440737095516160[\"a\"]", 0, SIO_ERR_ID},
        {"3[]", 0, SIO_ERR_ID},          /* ACK without id */
        {"60-[]", 0, SIO_ERR_ID},
        {"3/admin,[\"x\"]", 0, SIO_ERR_ID},
        {"012", 0, SIO_ERR_ID},          /* id on CONNECT */
        {"0/a,1{}", 0, SIO_ERR_ID},
        {"11", 0, SIO_ERR_ID},
        {"41{\"message\":\"x\"}", 0, SIO_ERR_ID},
        {"2-1[\"a\"]", 0, SIO_ERR_PAYLOAD},
        /* JSON */
        {"2[\"a\"", 0, SIO_ERR_PAYLOAD},
        {"2[\"a\"]x", 0, SIO_ERR_PAYLOAD},
        {"2[\"a\"][]", 0, SIO_ERR_PAYLOAD},
        {"2['a']", 0, SIO_ERR_PAYLOAD},
        {"2[\"a\",]", 0, SIO_ERR_PAYLOAD},
        {"0{\"a\":1,\"a\":2}", 0, SIO_ERR_PAYLOAD},   /* duplicate key */
        {"2[\"a\\u0000b\"]", 0, SIO_ERR_PAYLOAD},      /* NUL in string */
        {"2[\"\xff\"]", 0, SIO_ERR_PAYLOAD},          /* invalid UTF-8 */
        {"2[\"a\"]\0", 7, SIO_ERR_PAYLOAD},
        {"2 ", 0, SIO_ERR_PAYLOAD},
        {"2[\"a\",1e999]", 0, SIO_ERR_PAYLOAD},
        /* payload per type */
        {"0[]", 0, SIO_ERR_PAYLOAD},
        {"0\"x\"", 0, SIO_ERR_PAYLOAD},
        {"0null", 0, SIO_ERR_PAYLOAD},
        {"1{}", 0, SIO_ERR_PAYLOAD},
        {"1[]", 0, SIO_ERR_PAYLOAD},
        {"4", 0, SIO_ERR_PAYLOAD},
        {"4[]", 0, SIO_ERR_PAYLOAD},
        {"4null", 0, SIO_ERR_PAYLOAD},
        {"2", 0, SIO_ERR_PAYLOAD},
        {"2[]", 0, SIO_ERR_PAYLOAD},
        {"2{}", 0, SIO_ERR_PAYLOAD},
        {"2\"a\"", 0, SIO_ERR_PAYLOAD},
        {"2[1]", 0, SIO_ERR_PAYLOAD},
        {"2[null]", 0, SIO_ERR_PAYLOAD},
        {"2[[\"a\"]]", 0, SIO_ERR_PAYLOAD},
        {"2[\"connect\"]", 0, SIO_ERR_PAYLOAD},
        {"2[\"connect_error\",1]", 0, SIO_ERR_PAYLOAD},
        {"2[\"disconnect\"]", 0, SIO_ERR_PAYLOAD},
        {"2[\"disconnecting\"]", 0, SIO_ERR_PAYLOAD},
        {"2[\"newListener\"]", 0, SIO_ERR_PAYLOAD},
        {"2[\"removeListener\"]", 0, SIO_ERR_PAYLOAD},
        {"212", 0, SIO_ERR_PAYLOAD},
        {"312", 0, SIO_ERR_PAYLOAD},
        {"31{}", 0, SIO_ERR_PAYLOAD},
        {"31\"a\"", 0, SIO_ERR_PAYLOAD},
        {"50-[]", 0, SIO_ERR_PAYLOAD},
        {"50-{}", 0, SIO_ERR_PAYLOAD},
        {"61-1{}", 0, SIO_ERR_PAYLOAD},
        /* placeholders out of range */
        {"51-[\"a\",{\"_placeholder\":true,\"num\":1}]", 0, SIO_ERR_PAYLOAD},
        {"50-[\"a\",{\"_placeholder\":true,\"num\":0}]", 0, SIO_ERR_PAYLOAD},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":-1}]", 0, SIO_ERR_PAYLOAD},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", 0, SIO_ERR_PAYLOAD},
        {"51-[\"a\",{\"_placeholder\":true,\"num\":0.0}]", 0, SIO_ERR_PAYLOAD},
        {"51-[\"a\",{\"_placeholder\":true}]", 0, SIO_ERR_PAYLOAD},
        {"61-1[{\"x\":{\"_placeholder\":true,\"num\":3}}]", 0, SIO_ERR_PAYLOAD},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sio_packet p;
        json_t *args = (json_t *)1;
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
        int rc = sio_parse_packet(bad[i].in, len, &p, &args);
        if (rc != bad[i].err)
            fprintf(stderr, "  case %zu: %s -> %d\n", i, bad[i].in, rc);
        CHECK_INT(rc, bad[i].err);
        CHECK(args == NULL);
    }

    /* Truncations of a valid packet: never read past len, never crash. */
    const char *full = "52-/admin,13[\"ev\",{\"_placeholder\":true,\"num\":1}]";
    size_t n = strlen(full);
    for (size_t len = 0; len < n; len++) {
        sio_packet p;
        json_t *args = NULL;
        char *copy = malloc(len ? len : 1); /* exact size for ASan */
        memcpy(copy, full, len);
        int rc = sio_parse_packet(copy, len, &p, &args);
        CHECK(rc < 0);
        CHECK(args == NULL);
        free(copy);
    }
    sio_packet p;
    CHECK_INT(sio_parse_packet(full, n, &p, NULL), SIO_OK);

    /* Deep nesting is refused by the JSON parser's depth limit. */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 9);
    size_t o = 0;
    memcpy(deep, "51-[\"a\",", 8);
    o = 8;
    for (size_t i = 0; i < depth; i++)
        deep[o++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[o++] = ']';
    deep[o++] = ']';
    CHECK_INT(sio_parse_packet(deep, o, &p, NULL), SIO_ERR_PAYLOAD);
    free(deep);

    for (int e = 0; e >= -7; e--)
        CHECK(sio_strerror(e) != NULL && sio_strerror(e)[0]);
}

static void test_encode(void)
{
    rc_buf b = {0};
    static const struct {
        enum sio_type type;
        const char *nsp;
        long long id;
        const char *data;
        const char *out;
    } ok[] = {
        {SIO_CONNECT, "/", -1, NULL, "0"},
        {SIO_CONNECT, "/", -1, "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
         "0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}"},
        {SIO_CONNECT, "/admin", -1, NULL, "0/admin,"},
        {SIO_CONNECT, "/admin", -1, "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
         "0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"},
        {SIO_CONNECT_ERROR, "/", -1, "{\"message\":\"Not authorized\"}",
         "4{\"message\":\"Not authorized\"}"},
        {SIO_EVENT, "/", -1, "[\"foo\"]", "2[\"foo\"]"},
        {SIO_EVENT, NULL, -1, "[\"foo\"]", "2[\"foo\"]"},
        {SIO_EVENT, "", -1, "[\"foo\"]", "2[\"foo\"]"},
        {SIO_EVENT, "/admin", -1, "[\"bar\"]", "2/admin,[\"bar\"]"},
        {SIO_EVENT, "/", 12, "[\"foo\"]", "212[\"foo\"]"},
        {SIO_ACK, "/", 12, "[]", "312[]"},
        {SIO_EVENT, "/admin", 13, "[\"foo\"]", "2/admin,13[\"foo\"]"},
        {SIO_ACK, "/admin", 13, "[\"bar\"]", "3/admin,13[\"bar\"]"},
        {SIO_ACK, "/", 0, "[{\"ok\":true}]", "30[{\"ok\":true}]"},
        {SIO_DISCONNECT, "/", -1, NULL, "1"},
        {SIO_DISCONNECT, "/admin", -1, NULL, "1/admin,"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        rc_buf_reset(&b);
        CHECK_INT(sio_encode(&b, ok[i].type, ok[i].nsp, ok[i].id, ok[i].data,
                             ok[i].data ? strlen(ok[i].data) : 0), SIO_OK);
        CHECK_STR(b.p, ok[i].out);
        /* and it parses back to the same fields */
        sio_packet p;
        CHECK_INT(sio_parse_packet(b.p, b.len, &p, NULL), SIO_OK);
        CHECK_INT(p.type, ok[i].type);
        CHECK_INT(p.id, ok[i].id);
        CHECK(rc_slice_eq(p.nsp, ok[i].nsp && ok[i].nsp[0] ? ok[i].nsp : "/"));
        CHECK(rc_slice_eq(p.data, ok[i].data ? ok[i].data : ""));
    }

    /* appends, does not reset */
    rc_buf_reset(&b);
    rc_buf_puts(&b, "4");
    CHECK_INT(sio_encode(&b, SIO_EVENT, "/", -1, "[\"hey\",\"Jude\"]", 14), 0);
    CHECK_STR(b.p, "42[\"hey\",\"Jude\"]");

    /* binary forms */
    rc_buf_reset(&b);
    const char *d1 = "[\"baz\",{\"_placeholder\":true,\"num\":0}]";
    CHECK_INT(sio_encode_binary(&b, SIO_BINARY_EVENT, 1, "/", -1, d1,
                                strlen(d1)), SIO_OK);
    CHECK_STR(b.p, "51-[\"baz\",{\"_placeholder\":true,\"num\":0}]");
    rc_buf_reset(&b);
    const char *d2 = "[\"baz\",{\"_placeholder\":true,\"num\":0},"
                     "{\"_placeholder\":true,\"num\":1}]";
    CHECK_INT(sio_encode_binary(&b, SIO_BINARY_EVENT, 2, "/admin", -1, d2,
                                strlen(d2)), SIO_OK);
    CHECK_STR(b.p, "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
                   "{\"_placeholder\":true,\"num\":1}]");
    rc_buf_reset(&b);
    const char *d3 = "[\"bar\",{\"_placeholder\":true,\"num\":0}]";
    CHECK_INT(sio_encode_binary(&b, SIO_BINARY_ACK, 1, "/", 15, d3,
                                strlen(d3)), SIO_OK);
    CHECK_STR(b.p, "61-15[\"bar\",{\"_placeholder\":true,\"num\":0}]");
    sio_packet p;
    CHECK_INT(sio_parse_packet(b.p, b.len, &p, NULL), SIO_OK);
    CHECK_INT(p.type, SIO_BINARY_ACK);
    CHECK_INT(p.attachments, 1);
    CHECK_INT(p.id, 15);

    /* refusals leave the buffer unchanged */
    rc_buf_reset(&b);
    rc_buf_puts(&b, "keep");
    CHECK_INT(sio_encode(&b, SIO_BINARY_EVENT, "/", -1, "[\"a\"]", 5),
              SIO_ERR_ATTACHMENTS);
    CHECK_INT(sio_encode(&b, (enum sio_type)7, "/", -1, NULL, 0), SIO_ERR_TYPE);
    CHECK_INT(sio_encode(&b, SIO_EVENT, "admin", -1, "[\"a\"]", 5), SIO_ERR_NSP);
    CHECK_INT(sio_encode(&b, SIO_EVENT, "/a,b", -1, "[\"a\"]", 5), SIO_ERR_NSP);
    CHECK_INT(sio_encode(&b, SIO_EVENT, "/", 9007199254740992LL, "[\"a\"]", 5),
              SIO_ERR_ID);
    CHECK_INT(sio_encode_binary(&b, SIO_EVENT, 1, "/", -1, "[\"a\"]", 5),
              SIO_ERR_TYPE);
    CHECK_INT(sio_encode_binary(&b, SIO_BINARY_EVENT, -1, "/", -1, "[\"a\"]", 5),
              SIO_ERR_ATTACHMENTS);
    CHECK_STR(b.p, "keep");
    rc_buf_free(&b);
}

int main(void)
{
    test_parse_valid();
    test_parse_malformed();
    test_encode();
    return CHECK_DONE();
}
