/*
 * base64.h - base64 (RFC 4648), encoding and strict decoding.
 *
 * Two variants: the standard alphabet with '=' padding (section 4), as
 * Engine.IO's polling transport carries binary packets, and the URL-safe
 * alphabet without padding (section 5), as JWTs and JWKs carry their parts.
 * Decoding is strict and canonical: only the variant's alphabet, padding
 * exactly where and as much as the variant requires (standard: always to a
 * multiple of four; URL: never), no whitespace, and the unused low bits of
 * the last character zero, so every byte string has exactly one accepted
 * text.
 */
#ifndef RC_BASE64_H
#define RC_BASE64_H

#include <stddef.h>

enum rc_b64 {
    RC_B64_STD, /* "A-Za-z0-9+/", padded with '=' to a multiple of 4 */
    RC_B64_URL, /* "A-Za-z0-9-_", unpadded */
};

/* Characters rc_base64_encode writes for n bytes (not counting its NUL);
 * SIZE_MAX when that would not fit a size_t. */
size_t rc_base64_encoded_len(size_t n, enum rc_b64 v);

/* The most bytes that n characters can decode to: room enough for
 * rc_base64_decode's out. */
size_t rc_base64_decoded_max(size_t n, enum rc_b64 v);

/*
 * Encodes in[0..n) (borrowed) into out, which must have room for
 * rc_base64_encoded_len(n, v) + 1 characters, and NUL-terminates it.
 * Returns the length written, the NUL not counted.
 */
size_t rc_base64_encode(char *out, const void *in, size_t n, enum rc_b64 v);

/*
 * Decodes in[0..n) (borrowed) into out (room for cap bytes). Returns 0 with
 * the decoded length in *outlen, or -1 (out's content unspecified) when the
 * text is not the canonical encoding of some bytes in variant v, or when it
 * decodes to more than cap bytes. An empty text decodes to nothing.
 */
int rc_base64_decode(const char *in, size_t n, void *out, size_t cap,
                     size_t *outlen, enum rc_b64 v);

/* The 6-bit value of character c in variant v's alphabet, or -1 (padding
 * included). */
int rc_base64_value(unsigned char c, enum rc_b64 v);

#endif
