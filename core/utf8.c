/*
 * utf8.c - strict UTF-8 validation.
 *
 * Implementation notes. ASCII is skipped eight bytes at a time (text on the
 * wire is mostly ASCII); a multi-byte sequence is checked against Unicode's
 * table of well-formed byte sequences, where the lead byte fixes the range
 * of the second byte (E0: A0..BF against overlongs, ED: 80..9F against
 * surrogates, F0: 90..BF against overlongs, F4: 80..8F against > U+10FFFF)
 * and every later byte is 80..BF. C0, C1 and F5..FF never lead.
 */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

int rc_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, sizeof w);
            if (!(w & UINT64_C(0x8080808080808080))) {
                i += 8;
                continue;
            }
        }
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i - 1 < n)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF)
                return 0;
        i += n + 1;
    }
    return 1;
}
