/*
 * utf8.h - strict UTF-8 validation.
 *
 * The one check for text that reaches clients, JSON parsers or Avro
 * strings: well-formed UTF-8 as RFC 3629 and Unicode's table 3-7 define it,
 * that is no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF and no truncated sequence. NUL (U+0000) is valid UTF-8; callers
 * that refuse it look for it themselves.
 */
#ifndef RC_UTF8_H
#define RC_UTF8_H

#include <stddef.h>

/* 1 when s[0..len) (borrowed; NULL only with len 0) is strictly valid UTF-8,
 * else 0. Pure: any thread. */
int rc_utf8_valid(const void *s, size_t len);

#endif
