/*
 * test_eio.c - Engine.IO v4 codec: frames, polling payloads, OPEN packet,
 * the protocol spec's examples and malformed input.
 */
#include <jansson.h>
#include <stdlib.h>

#include "gateway/server/eio.h"
#include "tests/unit/check.h"

/* Collects the packets of a payload as "<type>:<data>" / "b:<hex>" lines. */
typedef struct collect {
    rc_buf out;
    int n;
    int stop_at; /* return 7 from the callback at this packet, 0 = never */
} collect;

static int collect_cb(void *ud, const eio_packet *pkt)
{
    collect *c = ud;
    c->n++;
    if (c->out.len)
        rc_buf_append(&c->out, "|", 1);
    if (pkt->binary) {
        rc_buf_printf(&c->out, "b%d:", (int)pkt->type);
        for (size_t i = 0; i < pkt->data.len; i++)
            rc_buf_printf(&c->out, "%02x", (unsigned char)pkt->data.p[i]);
    } else {
        rc_buf_printf(&c->out, "%d:", (int)pkt->type);
        rc_buf_append(&c->out, pkt->data.p, pkt->data.len);
    }
    return c->n == c->stop_at ? 7 : 0;
}

static int parse_payload(const char *s, size_t len, collect *c)
{
    rc_buf_reset(&c->out);
    c->n = 0;
    return eio_parse_payload(s, len, collect_cb, c);
}

#define PAYLOAD(c, lit) parse_payload((lit), sizeof(lit) - 1, (c))

static void test_ws_frames(void)
{
    eio_packet p;
    static const struct {
        const char *in;
        enum eio_type type;
        const char *data;
    } ok[] = {
        {"0{\"sid\":\"x\"}", EIO_OPEN, "{\"sid\":\"x\"}"},
        {"1", EIO_CLOSE, ""},
        {"2", EIO_PING, ""},
        {"2probe", EIO_PING, "probe"},
        {"3", EIO_PONG, ""},
        {"3probe", EIO_PONG, "probe"},
        {"4hello", EIO_MESSAGE, "hello"},
        {"4", EIO_MESSAGE, ""},
        {"42[\"foo\"]", EIO_MESSAGE, "2[\"foo\"]"},
        {"4\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", EIO_MESSAGE,
         "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"},
        {"4\xf0\x9f\x98\x80", EIO_MESSAGE, "\xf0\x9f\x98\x80"},
        {"5", EIO_UPGRADE, ""},
        {"6", EIO_NOOP, ""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        memset(&p, 0xAA, sizeof p);
        CHECK_INT(eio_parse_packet(ok[i].in, strlen(ok[i].in), 0, &p), EIO_OK);
        CHECK_INT(p.type, ok[i].type);
        CHECK_INT(p.binary, 0);
        CHECK(rc_slice_eq(p.data, ok[i].data));
        /* data is borrowed from the input */
        CHECK(p.data.p == ok[i].in + 1);
    }

    /* A binary frame is a MESSAGE whose data is the whole frame. */
    const char bin[] = {0x01, 0x02, 0x03, 0x04};
    CHECK_INT(eio_parse_packet(bin, sizeof bin, 1, &p), EIO_OK);
    CHECK_INT(p.type, EIO_MESSAGE);
    CHECK_INT(p.binary, 1);
    CHECK_INT(p.data.len, 4);
    CHECK(p.data.p == bin);
    /* even if it starts with a digit or 'b' */
    CHECK_INT(eio_parse_packet("2probe", 6, 1, &p), EIO_OK);
    CHECK_INT(p.type, EIO_MESSAGE);
    CHECK_INT(p.data.len, 6);
    /* empty binary frame: an empty attachment */
    CHECK_INT(eio_parse_packet(NULL, 0, 1, &p), EIO_OK);
    CHECK_INT(p.type, EIO_MESSAGE);
    CHECK_INT(p.binary, 1);
    CHECK_INT(p.data.len, 0);
}

static void test_ws_malformed(void)
{
    eio_packet p;
    static const struct {
        const char *in;
        size_t len;
        int err;
    } bad[] = {
        {"", 0, EIO_ERR_EMPTY},
        {"7", 1, EIO_ERR_TYPE},
        {"9hello", 6, EIO_ERR_TYPE},
        {"abc", 3, EIO_ERR_TYPE},
        {"/", 1, EIO_ERR_TYPE},
        {":", 1, EIO_ERR_TYPE},
        {"bAQID", 5, EIO_ERR_TYPE},   /* 'b' only in polling payloads */
        {" 4hello", 7, EIO_ERR_TYPE},
        {"\x1e", 1, EIO_ERR_TYPE},
        {"\0" "4", 2, EIO_ERR_TYPE},
        {"1x", 2, EIO_ERR_DATA},
        {"5probe", 6, EIO_ERR_DATA},
        {"6 ", 2, EIO_ERR_DATA},
        {"2ping", 5, EIO_ERR_DATA},
        {"3probeX", 7, EIO_ERR_DATA},
        {"2prob", 5, EIO_ERR_DATA},
        {"4\xff", 2, EIO_ERR_UTF8},
        {"4\xc0\x80", 3, EIO_ERR_UTF8},          /* overlong NUL */
        {"4\xe0\x80\xaf", 4, EIO_ERR_UTF8},      /* overlong '/' */
        {"4\xed\xa0\x80", 4, EIO_ERR_UTF8},      /* surrogate */
        {"4\xf4\x90\x80\x80", 5, EIO_ERR_UTF8},  /* > U+10FFFF */
        {"4\xe2\x82", 3, EIO_ERR_UTF8},          /* truncated sequence */
        {"4abc\xf0\x9f\x98", 8, EIO_ERR_UTF8},   /* truncated at the end */
        {"4\x80", 2, EIO_ERR_UTF8},              /* lone continuation */
        {"0\xfe", 2, EIO_ERR_UTF8},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = eio_parse_packet(bad[i].in, bad[i].len, 0, &p);
        if (rc != bad[i].err)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_INT(rc, bad[i].err);
    }
    /* Truncation never reads past len: a prefix of a valid frame. */
    const char *full = "2probe";
    CHECK_INT(eio_parse_packet(full, 3, 0, &p), EIO_ERR_DATA);
    CHECK_INT(eio_parse_packet(full, 0, 0, &p), EIO_ERR_EMPTY);
    CHECK_INT(eio_parse_packet(full, 1, 0, &p), EIO_OK);
    CHECK_INT(p.type, EIO_PING);
    CHECK_INT(p.data.len, 0);

    for (int e = 0; e >= -7; e--)
        CHECK(eio_strerror(e) != NULL && eio_strerror(e)[0]);
    CHECK_STR(eio_strerror(EIO_ERR_BASE64), "bad base64 in binary packet");
}

static void test_payload_parse(void)
{
    collect c = {0};

    /* The spec's examples. */
    CHECK_INT(PAYLOAD(&c, "4hello\x1e" "2\x1e" "4world"), 0);
    CHECK_INT(c.n, 3);
    CHECK_STR(c.out.p, "4:hello|2:|4:world");

    CHECK_INT(PAYLOAD(&c, "4hello\x1e" "bAQIDBA=="), 0);
    CHECK_INT(c.n, 2);
    CHECK_STR(c.out.p, "4:hello|b4:01020304");

    /* engine.io-parser's v4 changelog examples */
    CHECK_INT(PAYLOAD(&c, "4hello\x1e" "4\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"),
              0);
    CHECK_STR(c.out.p, "4:hello|4:\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
    CHECK_INT(PAYLOAD(&c, "4hello\x1e" "bAQID"), 0);
    CHECK_STR(c.out.p, "4:hello|b4:010203");

    /* socket.io-protocol sample gw_session */
    CHECK_INT(PAYLOAD(&c, "42[\"hello\"]\x1e" "42[\"world\"]"), 0);
    CHECK_STR(c.out.p, "4:2[\"hello\"]|4:2[\"world\"]");

    /* single packet, no separator */
    CHECK_INT(PAYLOAD(&c, "40"), 0);
    CHECK_INT(c.n, 1);
    CHECK_STR(c.out.p, "4:0");

    /* every base64 length class, several binaries (the scratch is reused) */
    CHECK_INT(PAYLOAD(&c, "bAA==\x1e" "bAAE=\x1e" "bAAEC\x1e" "b\x1e"
                          "bAAECAwQFBgcICQ==\x1e" "bAQ=="), 0);
    CHECK_INT(c.n, 6);
    CHECK_STR(c.out.p,
              "b4:00|b4:0001|b4:000102|b4:|b4:00010203040506070809|b4:01");

    /* binary with all 64 alphabet symbols */
    CHECK_INT(PAYLOAD(&c, "b+/+/"), 0);
    CHECK_STR(c.out.p, "b4:fbffbf");

    /* stop on a non-zero callback return, returning it */
    c.stop_at = 2;
    CHECK_INT(PAYLOAD(&c, "4a\x1e" "4b\x1e" "4c"), 7);
    CHECK_INT(c.n, 2);
    c.stop_at = 0;

    rc_buf_free(&c.out);
}

static void test_payload_malformed(void)
{
    collect c = {0};
    static const struct {
        const char *in;
        size_t len;
        int err;
        int delivered; /* packets handed to the callback before the error */
    } bad[] = {
        {"", 0, EIO_ERR_EMPTY, 0},
        {"\x1e", 1, EIO_ERR_EMPTY, 0},
        {"4a\x1e", 3, EIO_ERR_EMPTY, 1},          /* trailing separator */
        {"\x1e" "4a", 3, EIO_ERR_EMPTY, 0},
        {"4a\x1e\x1e" "4b", 5, EIO_ERR_EMPTY, 1},
        {"4a\x1e" "8", 4, EIO_ERR_TYPE, 1},
        {"abc", 3, EIO_ERR_TYPE, 0},             /* the test suite's probe */
        {"6:4hello", 8, EIO_ERR_DATA, 0},        /* a v3 payload: NOOP + data */
        {"9:4hello", 8, EIO_ERR_TYPE, 0},
        {"bAQI", 4, EIO_ERR_BASE64, 0},          /* length not a multiple of 4 */
        {"bAQIDB", 6, EIO_ERR_BASE64, 0},
        {"bAQ=D", 5, EIO_ERR_BASE64, 0},         /* data after padding */
        {"bA===", 5, EIO_ERR_BASE64, 0},
        {"b====", 5, EIO_ERR_BASE64, 0},
        {"bAR==", 5, EIO_ERR_BASE64, 0},         /* non-canonical bits */
        {"bAAF=", 5, EIO_ERR_BASE64, 0},
        {"bAQ-_", 5, EIO_ERR_BASE64, 0},         /* base64url alphabet */
        {"bAQI D", 6, EIO_ERR_BASE64, 0},
        {"bAQ==\x1e" "bAQ=A", 11, EIO_ERR_BASE64, 1},
        {"bAQ\0=", 5, EIO_ERR_BASE64, 0},
        {"4ok\x1e" "4\xc3", 6, EIO_ERR_UTF8, 1},
        {"2\x1e" "5x", 4, EIO_ERR_DATA, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = parse_payload(bad[i].in, bad[i].len, &c);
        if (rc != bad[i].err || c.n != bad[i].delivered)
            fprintf(stderr, "  case %zu\n", i);
        CHECK_INT(rc, bad[i].err);
        CHECK_INT(c.n, bad[i].delivered);
    }

    /* A packet cut at the buffer end is parsed only up to len. */
    const char *s = "4hello\x1e" "bAQIDBA==";
    CHECK_INT(parse_payload(s, 11, &c), EIO_ERR_BASE64); /* "bAQI" */
    CHECK_INT(c.n, 1);
    CHECK_INT(parse_payload(s, 12, &c), EIO_OK);         /* "bAQID" */
    CHECK_STR(c.out.p, "4:hello|b4:010203");
    CHECK_INT(parse_payload(s, 3, &c), EIO_OK);
    CHECK_STR(c.out.p, "4:he");

    rc_buf_free(&c.out);
}

static void test_payload_encode(void)
{
    rc_buf b = {0};
    collect c = {0};

    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "hello", 5), 0);
    CHECK_STR(b.p, "4hello");
    CHECK_INT(eio_payload_append(&b, EIO_PING, 0, NULL, 0), 0);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "world", 5), 0);
    CHECK_STR(b.p, "4hello\x1e" "2\x1e" "4world");

    rc_buf_reset(&b);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "hello", 5), 0);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4), 0);
    CHECK_STR(b.p, "4hello\x1e" "bAQIDBA==");

    /* every tail length, and round trip through the parser */
    rc_buf_reset(&b);
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "", 0), 0);
    CHECK_STR(b.p, "b");
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "\x01", 1), 0);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "\x01\x02", 2), 0);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, "\x01\x02\x03", 3), 0);
    CHECK_STR(b.p, "b\x1e" "bAQ==\x1e" "bAQI=\x1e" "bAQID");
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 1, (char *)bytes, 256), 0);
    CHECK_INT(parse_payload(b.p, b.len, &c), 0);
    CHECK_INT(c.n, 5);
    rc_buf expect = {0};
    rc_buf_puts(&expect, "b4:|b4:01|b4:0102|b4:010203|b4:");
    for (int i = 0; i < 256; i++)
        rc_buf_printf(&expect, "%02x", bytes[i]);
    CHECK_STR(c.out.p, expect.p);
    rc_buf_free(&expect);

    /* pre-encoded packets */
    rc_buf_reset(&b);
    CHECK_INT(eio_payload_append_encoded(&b, "40{\"sid\":\"a\"}", 13), 0);
    CHECK_INT(eio_payload_append_encoded(&b, "42[\"x\",1]", 9), 0);
    CHECK_STR(b.p, "40{\"sid\":\"a\"}\x1e" "42[\"x\",1]");

    /* refusals leave the buffer unchanged */
    size_t before = b.len;
    CHECK_INT(eio_payload_append(&b, EIO_PING, 1, "x", 1), EIO_ERR_TYPE);
    CHECK_INT(eio_payload_append(&b, (enum eio_type)7, 0, "x", 1),
              EIO_ERR_TYPE);
    CHECK_INT(eio_payload_append(&b, EIO_MESSAGE, 0, "a\x1e" "b", 3),
              EIO_ERR_DATA);
    CHECK_INT(eio_payload_append_encoded(&b, "", 0), EIO_ERR_EMPTY);
    CHECK_INT(eio_payload_append_encoded(&b, "x", 1), EIO_ERR_TYPE);
    CHECK_INT(eio_payload_append_encoded(&b, "4a\x1e" "4b", 5), EIO_ERR_DATA);
    CHECK_INT(b.len, before);
    CHECK_STR(b.p, "40{\"sid\":\"a\"}\x1e" "42[\"x\",1]");

    rc_buf_free(&b);
    rc_buf_free(&c.out);
}

static void test_open(void)
{
    rc_buf b = {0};
    eio_packet p;

    CHECK_INT(eio_encode_open(&b, "lv_VI97HAXpY6yYWAAAC", 1, 25000, 20000,
                              1000000), 0);
    CHECK_STR(b.p, "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":"
                   "[\"websocket\"],\"pingInterval\":25000,"
                   "\"pingTimeout\":20000,\"maxPayload\":1000000}");
    CHECK_INT(eio_parse_packet(b.p, b.len, 0, &p), 0);
    CHECK_INT(p.type, EIO_OPEN);
    json_error_t err;
    json_t *j = json_loadb(p.data.p, p.data.len, 0, &err);
    CHECK(j != NULL);
    CHECK_INT(json_object_size(j), 5);
    CHECK_STR(json_string_value(json_object_get(j, "sid")),
              "lv_VI97HAXpY6yYWAAAC");
    CHECK_INT(json_integer_value(json_object_get(j, "maxPayload")), 1000000);
    json_decref(j);

    /* no upgrade (a WebSocket-only session), sid escaped */
    rc_buf_reset(&b);
    CHECK_INT(eio_encode_open(&b, "a\"b", 0, 300, 200, 1000000), 0);
    CHECK_STR(b.p, "0{\"sid\":\"a\\\"b\",\"upgrades\":[],\"pingInterval\":300,"
                   "\"pingTimeout\":200,\"maxPayload\":1000000}");
    j = json_loads(b.p + 1, 0, &err);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "sid")), "a\"b");
    CHECK_INT(json_array_size(json_object_get(j, "upgrades")), 0);
    json_decref(j);
    rc_buf_free(&b);
}

int main(void)
{
    test_ws_frames();
    test_ws_malformed();
    test_payload_parse();
    test_payload_malformed();
    test_payload_encode();
    test_open();
    return CHECK_DONE();
}
