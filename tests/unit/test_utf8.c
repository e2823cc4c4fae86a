/*
 * test_utf8.c - strict UTF-8 validation: the classic boundary and
 * malformation cases, every sequence of up to three bytes and a sweep of
 * four-byte ones checked against a code-point decoder, and invalid bytes at
 * every position around the eight-byte ASCII fast path.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/utf8.h"

/* The reference: decode each sequence to its code point and check it. */
static int oracle(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

#define V(lit) {lit, sizeof(lit) - 1}
static const struct {
    const char *s;
    size_t n;
} valid[] = {
    V(""), V("a"), V("plain ASCII, longer than eight bytes"), V("\0"),
    V("a\0b"), V("\xc2\x80"), V("\xdf\xbf"), V("\xe0\xa0\x80"),
    V("\xed\x9f\xbf"), V("\xee\x80\x80"), V("\xef\xbf\xbd"), V("\xef\xbf\xbf"),
    V("\xf0\x90\x80\x80"), V("\xf4\x8f\xbf\xbf"), V("caf\xc3\xa9"),
    V("\xf0\x9f\x98\x80 smile"), V("12345678\xc3\xa9"), V("1234567\xc3\xa9"),
}, invalid[] = {
    V("\x80"), V("\xbf"), V("\xc0\x80"), V("\xc1\xbf"), V("\xc2"),
    V("\xc2\x7f"), V("\xc2\xc0"), V("\xe0\x80\x80"), V("\xe0\x9f\xbf"),
    V("\xed\xa0\x80"), V("\xed\xbf\xbf"), V("\xe2\x82"), V("\xe2\x28\xa1"),
    V("\xf0\x80\x80\x80"), V("\xf0\x8f\xbf\xbf"), V("\xf4\x90\x80\x80"),
    V("\xf5\x80\x80\x80"), V("\xf8\x88\x80\x80\x80"), V("\xfe"), V("\xff"),
    V("abc\xf0\x9f\x98"), V("1234567\xc3"), V("12345678\x80"),
    V("\xed\xa0\x80\xed\xb0\x80"), /* a surrogate pair, CESU-8 style */
};

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        if (!rc_utf8_valid(valid[i].s, valid[i].n))
            fprintf(stderr, "  valid case %zu refused\n", i);
        CHECK_INT(rc_utf8_valid(valid[i].s, valid[i].n), 1);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        if (rc_utf8_valid(invalid[i].s, invalid[i].n))
            fprintf(stderr, "  invalid case %zu accepted\n", i);
        CHECK_INT(rc_utf8_valid(invalid[i].s, invalid[i].n), 0);
    }
    CHECK_INT(rc_utf8_valid(NULL, 0), 1);
    /* the length is what counts, not a terminator */
    CHECK_INT(rc_utf8_valid("\xc3\xa9", 1), 0);
    CHECK_INT(rc_utf8_valid("ok\xff", 2), 1);
}

/* Every string of one, two and three bytes, and four-byte ones with every
 * lead and second byte: the same verdict as the decoder. */
static void test_exhaustive(void)
{
    unsigned char b[4];
    long wrong = 0, total = 0;
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        wrong += rc_utf8_valid(b, 1) != oracle(b, 1);
        total++;
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            wrong += rc_utf8_valid(b, 2) != oracle(b, 2);
            total++;
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                wrong += rc_utf8_valid(b, 3) != oracle(b, 3);
                total++;
                if (x >= 0xF0) {
                    static const unsigned char last[] = {0x00, 0x7F, 0x80,
                                                         0xA5, 0xBF, 0xC0};
                    for (size_t k = 0; k < sizeof last; k++) {
                        b[3] = last[k];
                        wrong += rc_utf8_valid(b, 4) != oracle(b, 4);
                        total++;
                    }
                }
            }
        }
    }
    if (wrong)
        fprintf(stderr, "  %ld of %ld short strings judged wrongly\n", wrong, total);
    CHECK_INT(wrong, 0);
}

/* A bad byte, or a sequence cut by the end, at each offset around the
 * eight-byte steps. */
static void test_positions(void)
{
    unsigned char buf[40];
    for (size_t len = 1; len <= sizeof buf; len++) {
        for (size_t at = 0; at < len; at++) {
            memset(buf, 'x', len);
            buf[at] = 0xFF;
            CHECK_INT(rc_utf8_valid(buf, len), 0);
            buf[at] = 0xC3; /* a lead byte before 'x', or cut by the end */
            CHECK_INT(rc_utf8_valid(buf, len), 0);
            if (at + 1 < len) {
                buf[at + 1] = 0xA9;
                CHECK_INT(rc_utf8_valid(buf, len), 1);
            }
        }
    }
}

int main(void)
{
    test_vectors();
    test_exhaustive();
    test_positions();
    return CHECK_DONE();
}
