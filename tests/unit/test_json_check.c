/*
 * test_json_check.c - the JSON object recogniser: RFC 8259's cases one by
 * one (objects, nesting, strings and escapes, numbers, literals, white
 * space, UTF-8), the depth limit, and the same verdict as jansson's
 * json_loadb on every mutation of a few payloads (one byte changed,
 * inserted or removed, many times over), numbers jansson cannot hold aside.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/json_check.h"

static int ok(const char *s)
{
    return rc_json_check_object(s, strlen(s));
}

static void test_cases(void)
{
    const char *good[] = {
        "{}", " {} ", "\t\r\n{\n}\n", "{\"a\":1}", "{\"a\":[]}", "{\"a\":{}}",
        "{\"a\":[1,2,{\"b\":[true,false,null]}]}", "{\"\":\"\"}", "{\"a\":1,\"a\":2}",
        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}", "{\"u\":\"\\u00e9\\u20AC\"}",
        "{\"pair\":\"\\ud83d\\ude00\"}", "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
        "{\"n\":0}", "{\"n\":-0}", "{\"n\":1.50}", "{\"n\":-12.5e+3}", "{\"n\":1E-2}",
        "{\"n\":10e0}", "{\"a\" : 1 , \"b\" : [ 1 , 2 ] }",
        "{\"eventId\":\"evt-1\",\"data\":{\"n\": 1.50, \"s\":\"\\u00e9\"}}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (!ok(good[i]))
            fprintf(stderr, "refused: %s\n", good[i]);
        CHECK(ok(good[i]));
    }
    const char *bad[] = {
        "", " ", "[]", "1", "\"s\"", "null", "{", "}", "{}}", "{} {}", "{}x", "{,}",
        "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "{\"a\":[1,]}",
        "{\"a\":[1 2]}", "{\"a\":[}", "{\"a\":tru}", "{\"a\":True}", "{\"a\":nul}",
        "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":1e+}",
        "{\"a\":+1}", "{\"a\":0x1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":\"x}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\ud800x\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":\"tab\there\"}", "{\"a\":\"nl\nhere\"}",
        "{\"a\":1}//", "/**/{}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}",
        "{\"a\":\"\xc0\xaf\"}", "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (ok(bad[i]))
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(!ok(bad[i]));
    }
    /* A NUL byte, in a string or between tokens; a length that cuts. */
    CHECK(!rc_json_check_object("{\"a\":\"\0\"}", 8));
    CHECK(!rc_json_check_object("{}\0", 3));
    CHECK(rc_json_check_object("{}xyz", 2));
    CHECK(!rc_json_check_object("{\"a\":1}", 6));
    CHECK(!rc_json_check_object(NULL, 0));
}

/* Objects nested `depth` deep: {"a":{"a":...{}...}}. */
static char *nested(int depth)
{
    size_t len = (size_t)depth * 6 + 3;
    char *s = malloc(len), *o = s;
    for (int i = 0; i < depth; i++)
        o += sprintf(o, "{\"a\":");
    *o++ = '{';
    *o++ = '}';
    for (int i = 0; i < depth; i++)
        *o++ = '}';
    *o = '\0';
    return s;
}

static void test_depth(void)
{
    char *s = nested(RC_JSON_CHECK_DEPTH - 1);
    CHECK(ok(s));
    free(s);
    s = nested(RC_JSON_CHECK_DEPTH);
    CHECK(!ok(s));
    free(s);
    s = nested(100000); /* refused at the limit, not by the stack */
    CHECK(!ok(s));
    free(s);
}

static uint64_t rnd = 88172645463325252ull;
static uint64_t next(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return rnd;
}

/* jansson's verdict, or -1 when it refused for a reason of its own: a
 * number it cannot hold, which RFC 8259 allows. */
static int jansson(const char *s, size_t len)
{
    json_error_t e;
    json_t *v = json_loadb(s, len, 0, &e);
    int r = v && json_is_object(v);
    json_decref(v);
    if (!v && (strstr(e.text, "too big") || strstr(e.text, "overflow")))
        return -1;
    return r;
}

static void test_against_jansson(void)
{
    const char *seeds[] = {
        "{\"eventId\":\"evt-1\",\"event\":\"request:created\",\"timestamp\":"
        "\"2026-12-01T04:21:02.106Z\",\"data\":{\"title\":\"t\\u00e9\",\"n\":-1.5e3,"
        "\"ok\":true,\"none\":null,\"list\":[1,[2],{}]}}",
        "{\"a\":\"\\ud83d\\ude00\\n\",\"b\":[0,-0.25,1E+2,false]}",
        "{\"u\":\"\xc3\xa9\xe2\x82\xac\"}",
    };
    const char alphabet[] = "{}[]:,\"\\ u0123456789abcdefE+-.ntrl\xc3\xa9\x80\xff\t\n";
    int agree = 1, runs = 0;
    char buf[512];
    for (size_t si = 0; si < sizeof seeds / sizeof *seeds; si++) {
        size_t len0 = strlen(seeds[si]);
        CHECK_INT(jansson(seeds[si], len0), 1);
        CHECK(ok(seeds[si]));
        for (int round = 0; round < 20000; round++) {
            size_t len = len0;
            memcpy(buf, seeds[si], len);
            int edits = 1 + (int)(next() % 3);
            for (int e = 0; e < edits; e++) {
                size_t at = len ? next() % len : 0;
                char c = alphabet[next() % (sizeof alphabet - 1)];
                switch (next() % 3) {
                case 0: /* change */
                    if (len)
                        buf[at] = c;
                    break;
                case 1: /* insert */
                    if (len < sizeof buf - 1) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = c;
                        len++;
                    }
                    break;
                default: /* remove */
                    if (len) {
                        memmove(buf + at, buf + at + 1, len - at - 1);
                        len--;
                    }
                }
            }
            int want = jansson(buf, len);
            if (want < 0)
                continue;
            runs++;
            int got = rc_json_check_object(buf, len);
            if (got != want) {
                if (agree)
                    fprintf(stderr, "differs from jansson (%d, jansson %d): %.*s\n", got, want,
                            (int)len, buf);
                agree = 0;
            }
        }
    }
    CHECK(agree);
    CHECK(runs > 50000);
}

int main(void)
{
    test_cases();
    test_depth();
    test_against_jansson();
    return CHECK_DONE();
}
