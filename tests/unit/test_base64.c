/*
 * test_base64.c - RFC 4648 base64, both variants: the RFC's test vectors,
 * the alphabets, the texts the polling transport and the JWT parser refused
 * (non-canonical bits, misplaced or missing padding, foreign characters),
 * output room, round trips, and every short text accepted exactly when it
 * is the encoding of what it decodes to.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/base64.h"

static const char *const rfc[][3] = {
    /* bytes, section 4, section 5 */
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static int decodes_to(const char *text, enum rc_b64 v, const void *want, size_t n)
{
    unsigned char out[256];
    size_t len = 999;
    if (rc_base64_decode(text, strlen(text), out, sizeof out, &len, v) < 0)
        return 0;
    return len == n && memcmp(out, want, n) == 0;
}

static int refused(const char *text, enum rc_b64 v)
{
    unsigned char out[256];
    size_t len;
    int ok = rc_base64_decode(text, strlen(text), out, sizeof out, &len, v) < 0;
    if (!ok)
        fprintf(stderr, "  \"%s\" accepted (%s)\n", text, v == RC_B64_STD ? "std" : "url");
    return ok;
}

static void test_vectors(void)
{
    char out[64];
    for (size_t i = 0; i < sizeof rfc / sizeof *rfc; i++) {
        size_t n = strlen(rfc[i][0]);
        CHECK_INT(rc_base64_encoded_len(n, RC_B64_STD), strlen(rfc[i][1]));
        CHECK_INT(rc_base64_encoded_len(n, RC_B64_URL), strlen(rfc[i][2]));
        memset(out, 'x', sizeof out);
        CHECK_INT(rc_base64_encode(out, rfc[i][0], n, RC_B64_STD), strlen(rfc[i][1]));
        CHECK_STR(out, rfc[i][1]);
        memset(out, 'x', sizeof out);
        CHECK_INT(rc_base64_encode(out, rfc[i][0], n, RC_B64_URL), strlen(rfc[i][2]));
        CHECK_STR(out, rfc[i][2]);
        CHECK(decodes_to(rfc[i][1], RC_B64_STD, rfc[i][0], n));
        CHECK(decodes_to(rfc[i][2], RC_B64_URL, rfc[i][0], n));
        CHECK(rc_base64_decoded_max(strlen(rfc[i][1]), RC_B64_STD) >= n);
        CHECK_INT(rc_base64_decoded_max(strlen(rfc[i][2]), RC_B64_URL), n);
        /* each variant refuses the other's form when they differ */
        if (strcmp(rfc[i][1], rfc[i][2])) {
            CHECK(refused(rfc[i][1], RC_B64_URL));
            CHECK(refused(rfc[i][2], RC_B64_STD));
        }
    }
    /* the two alphabets */
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    rc_base64_encode(out, hi, 3, RC_B64_STD);
    CHECK_STR(out, "+/+/");
    rc_base64_encode(out, hi, 3, RC_B64_URL);
    CHECK_STR(out, "-_-_");
    CHECK(decodes_to("+/+/", RC_B64_STD, hi, 3));
    CHECK(decodes_to("-_-_", RC_B64_URL, hi, 3));
    CHECK(refused("-_-_", RC_B64_STD));
    CHECK(refused("+/+/", RC_B64_URL));
    CHECK_INT(rc_base64_value('A', RC_B64_STD), 0);
    CHECK_INT(rc_base64_value('/', RC_B64_STD), 63);
    CHECK_INT(rc_base64_value('_', RC_B64_URL), 63);
    CHECK_INT(rc_base64_value('-', RC_B64_STD), -1);
    CHECK_INT(rc_base64_value('=', RC_B64_STD), -1);
    CHECK_INT(rc_base64_value('=', RC_B64_URL), -1);
}

/* What Engine.IO's polling parser and the JWT parser refused before. */
static void test_refused(void)
{
    static const char *const std_bad[] = {
        "Zh==", "Zm9=", "Zm9vYh==",     /* non-zero bits after the last byte */
        "Zg", "Zg=", "Zm8", "Z", "Zg===", /* length not a multiple of 4 */
        "Z===", "====", "=Zg=", "Z=g=", "Zg=A", "Zg==Zg==", "Zm8=Zm8=",
        " Zg==", "Zg==\n", "Zg ==", "Zm9v\r\n", "Zm9v!A==", "Zm\0v",
        "Zm-v", "Zm_v",                   /* the URL alphabet */
        NULL,
    };
    static const char *const url_bad[] = {
        "Zh", "Zm9", "Zm9vYh",            /* non-zero bits after the last byte */
        "Z", "Zm9vY",                     /* a lone last character */
        "Zg==", "Zm8=", "Zg=", "=",       /* padding */
        "Zm+v", "Zm/v", "Zm9v.", " Zm9v", "Zm9v ", "Zm\tv",
        NULL,
    };
    for (size_t i = 0; std_bad[i]; i++)
        CHECK(refused(std_bad[i], RC_B64_STD));
    for (size_t i = 0; url_bad[i]; i++)
        CHECK(refused(url_bad[i], RC_B64_URL));
    /* a NUL inside the length is just a bad character */
    unsigned char out[8];
    size_t len;
    CHECK_INT(rc_base64_decode("Zm\0v", 4, out, sizeof out, &len, RC_B64_STD), -1);
    /* "A" + c: only the characters whose low four bits are zero */
    int accepted = 0;
    for (int c = 0; c < 256; c++) {
        char t[3] = {'A', (char)c, 0};
        accepted += rc_base64_decode(t, 2, out, sizeof out, &len, RC_B64_URL) == 0;
    }
    CHECK_INT(accepted, 4); /* A Q g w */
}

static void test_room(void)
{
    unsigned char out[8];
    size_t len = 99;
    CHECK_INT(rc_base64_decode("Zm9vYmFy", 8, out, 6, &len, RC_B64_STD), 0);
    CHECK_INT(len, 6);
    CHECK_INT(rc_base64_decode("Zm9vYmFy", 8, out, 5, &len, RC_B64_STD), -1);
    CHECK_INT(rc_base64_decode("Zm9vYg==", 8, out, 4, &len, RC_B64_STD), 0);
    CHECK_INT(rc_base64_decode("Zm9vYg==", 8, out, 3, &len, RC_B64_STD), -1);
    CHECK_INT(rc_base64_decode("Zm9vYmE", 7, out, 5, &len, RC_B64_URL), 0);
    CHECK_INT(rc_base64_decode("Zm9vYmE", 7, out, 4, &len, RC_B64_URL), -1);
    CHECK_INT(rc_base64_decode("", 0, NULL, 0, &len, RC_B64_STD), 0);
    CHECK_INT(len, 0);
    CHECK_INT(rc_base64_decode("", 0, NULL, 0, &len, RC_B64_URL), 0);
    CHECK(rc_base64_encoded_len(SIZE_MAX, RC_B64_STD) == SIZE_MAX);
    CHECK(rc_base64_encoded_len(SIZE_MAX / 4 * 3, RC_B64_URL) == SIZE_MAX);
    CHECK(rc_base64_encoded_len(SIZE_MAX / 4 * 3 - 3, RC_B64_STD) < SIZE_MAX);
}

static void test_round_trips(void)
{
    unsigned char in[300], back[300];
    char text[420];
    srand(7);
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (unsigned char)rand();
        for (int v = RC_B64_STD; v <= RC_B64_URL; v++) {
            size_t tl = rc_base64_encode(text, in, n, (enum rc_b64)v);
            CHECK_INT(tl, rc_base64_encoded_len(n, (enum rc_b64)v));
            CHECK_INT(strlen(text), tl);
            size_t len = 0;
            CHECK_INT(rc_base64_decode(text, tl, back, rc_base64_decoded_max(tl, (enum rc_b64)v),
                                       &len, (enum rc_b64)v), 0);
            CHECK(len == n && memcmp(in, back, n) == 0);
        }
    }
}

/* Every text of up to three characters over the alphabet, '=' and a
 * stranger, and four-character ones over a sample: accepted exactly when
 * encoding what it decodes to gives the text back. */
static long canonical_mismatches(const char *chars, size_t maxlen, enum rc_b64 v)
{
    size_t nc = strlen(chars);
    long bad = 0;
    char t[8], again[16];
    unsigned char out[8];
    size_t idx[8] = {0};
    for (size_t len = 0; len <= maxlen; len++) {
        memset(idx, 0, sizeof idx);
        for (;;) {
            for (size_t i = 0; i < len; i++)
                t[i] = chars[idx[i]];
            size_t n = 0;
            int ok = rc_base64_decode(t, len, out, sizeof out, &n, v) == 0;
            if (ok) {
                size_t al = rc_base64_encode(again, out, n, v);
                bad += al != len || memcmp(again, t, len) != 0;
            }
            size_t k = 0;
            while (k < len && ++idx[k] == nc)
                idx[k++] = 0;
            if (k == len)
                break;
        }
    }
    return bad;
}

static void test_canonical(void)
{
    char all[80];
    snprintf(all, sizeof all, "%s=*",
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    CHECK_INT(canonical_mismatches(all, 3, RC_B64_STD), 0);
    all[62] = '-';
    all[63] = '_';
    CHECK_INT(canonical_mismatches(all, 3, RC_B64_URL), 0);
    CHECK_INT(canonical_mismatches("AQgwBhZ9/+=*", 4, RC_B64_STD), 0);
    CHECK_INT(canonical_mismatches("AQgwBhZ9_-=*", 4, RC_B64_URL), 0);

    /* and the text of every byte string of up to two bytes is accepted, so
     * what is accepted is exactly the encodings */
    unsigned char in[2], out[4];
    char text[8];
    long missing = 0;
    for (unsigned x = 0; x < 65536 + 256 + 1; x++) {
        size_t n = x == 0 ? 0 : x <= 256 ? 1 : 2;
        unsigned y = x == 0 ? 0 : x <= 256 ? x - 1 : x - 257;
        in[0] = (unsigned char)(n == 2 ? y >> 8 : y);
        in[1] = (unsigned char)y;
        for (int v = RC_B64_STD; v <= RC_B64_URL; v++) {
            size_t tl = rc_base64_encode(text, in, n, (enum rc_b64)v), len = 9;
            missing += rc_base64_decode(text, tl, out, sizeof out, &len, (enum rc_b64)v) != 0 ||
                       len != n || memcmp(out, in, n) != 0;
        }
    }
    CHECK_INT(missing, 0);
}

int main(void)
{
    test_vectors();
    test_refused();
    test_room();
    test_round_trips();
    test_canonical();
    return CHECK_DONE();
}
