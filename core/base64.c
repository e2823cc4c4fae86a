/*
 * base64.c - RFC 4648 base64, standard and URL-safe.
 *
 * Implementation notes. Decoding first takes off the padding the variant
 * requires, then reads groups of four characters into three bytes; a final
 * group of two or three characters yields one or two bytes, and the bits of
 * its last character below those bytes must be zero (otherwise several
 * texts would decode to the same bytes). A final group of one character
 * cannot carry a byte and is refused.
 */
#include "base64.h"

#include <stdint.h>

static const char alphabet_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char alphabet_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int rc_base64_value(unsigned char c, enum rc_b64 v)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (v == RC_B64_URL ? '-' : '+'))
        return 62;
    if (c == (v == RC_B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

size_t rc_base64_encoded_len(size_t n, enum rc_b64 v)
{
    if (n / 3 > (SIZE_MAX - 4) / 4)
        return SIZE_MAX;
    size_t len = n / 3 * 4;
    if (n % 3)
        len += v == RC_B64_URL ? n % 3 + 1 : 4;
    return len;
}

size_t rc_base64_decoded_max(size_t n, enum rc_b64 v)
{
    (void)v; /* padding only makes the standard form decode to less */
    return n / 4 * 3 + (n % 4 > 1 ? n % 4 - 1 : 0);
}

size_t rc_base64_encode(char *out, const void *in, size_t n, enum rc_b64 v)
{
    const char *a = v == RC_B64_URL ? alphabet_url : alphabet_std;
    const unsigned char *p = in;
    char *o = out;
    size_t i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = a[w >> 18 & 63];
        *o++ = a[w >> 12 & 63];
        *o++ = a[w >> 6 & 63];
        *o++ = a[w & 63];
    }
    if (n - i) {
        uint32_t w = (uint32_t)p[i] << 16;
        if (n - i == 2)
            w |= (uint32_t)p[i + 1] << 8;
        *o++ = a[w >> 18 & 63];
        *o++ = a[w >> 12 & 63];
        if (n - i == 2)
            *o++ = a[w >> 6 & 63];
        else if (v == RC_B64_STD)
            *o++ = '=';
        if (v == RC_B64_STD)
            *o++ = '=';
    }
    *o = '\0';
    return (size_t)(o - out);
}

int rc_base64_decode(const char *in, size_t n, void *out, size_t cap,
                     size_t *outlen, enum rc_b64 v)
{
    unsigned char *o = out;
    size_t len = n, need, k = 0;
    if (v == RC_B64_STD) {
        if (n % 4)
            return -1;
        /* at most two '=', and only where the last group ends */
        if (len && in[len - 1] == '=')
            len--;
        if (len && in[len - 1] == '=' && len % 4 == 3)
            len--;
        if (n - len != (4 - len % 4) % 4)
            return -1;
    }
    if (len % 4 == 1)
        return -1;
    need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > cap)
        return -1;
    size_t i = 0;
    for (; len - i >= 4; i += 4) {
        int a = rc_base64_value((unsigned char)in[i], v);
        int b = rc_base64_value((unsigned char)in[i + 1], v);
        int c = rc_base64_value((unsigned char)in[i + 2], v);
        int d = rc_base64_value((unsigned char)in[i + 3], v);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                     (uint32_t)d;
        o[k++] = (unsigned char)(w >> 16);
        o[k++] = (unsigned char)(w >> 8);
        o[k++] = (unsigned char)w;
    }
    if (len - i) {
        int a = rc_base64_value((unsigned char)in[i], v);
        int b = rc_base64_value((unsigned char)in[i + 1], v);
        int c = len - i == 3 ? rc_base64_value((unsigned char)in[i + 2], v) : 0;
        if ((a | b | c) < 0)
            return -1;
        /* non-canonical: bits below the last whole byte must be zero */
        if (len - i == 2 ? (b & 0x0F) : (c & 0x03))
            return -1;
        uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        o[k++] = (unsigned char)(w >> 16);
        if (len - i == 3)
            o[k++] = (unsigned char)(w >> 8);
    }
    *outlen = k;
    return 0;
}
