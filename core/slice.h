/*
 * slice.h - borrowed byte ranges and a small growable buffer.
 *
 * A slice never owns its bytes: it points into a buffer someone else keeps
 * alive (a Kafka message, a WebSocket frame, a parsed packet). rc_buf owns a
 * heap buffer that grows geometrically and is always NUL-terminated, so its
 * content can be handed to APIs that want C strings.
 */
#ifndef RC_SLICE_H
#define RC_SLICE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct rc_slice {
    const char *p; /* borrowed */
    size_t len;
} rc_slice;

#define RC_SLICE_LIT(s) ((rc_slice){(s), sizeof(s) - 1})

static inline rc_slice rc_slice_from(const char *s)
{
    return (rc_slice){s, s ? strlen(s) : 0};
}

static inline int rc_slice_eq(rc_slice a, const char *s)
{
    size_t n = strlen(s);
    return a.len == n && memcmp(a.p, s, n) == 0;
}

typedef struct rc_buf {
    char *p;    /* owned, NUL-terminated when non-NULL */
    size_t len; /* bytes used, not counting the terminator */
    size_t cap; /* bytes allocated */
} rc_buf;

/* All return 0, or -1 when memory is exhausted (the buffer is unchanged). */
int rc_buf_reserve(rc_buf *b, size_t extra);
int rc_buf_append(rc_buf *b, const void *p, size_t len);
int rc_buf_puts(rc_buf *b, const char *s);
int rc_buf_printf(rc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int rc_buf_json_string(rc_buf *b, const char *s, size_t len);
void rc_buf_reset(rc_buf *b);
void rc_buf_free(rc_buf *b);

/* v in decimal at out (room for 20 digits and a sign; no NUL written);
 * returns the length. No printf: for paths that run once per event. */
size_t rc_fmt_i64(char *out, int64_t v);
/* The value of hex digit c (either case), or -1. */
int rc_hex_digit(int c);

#endif
