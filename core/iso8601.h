/*
 * iso8601.h - ISO 8601 date-times <-> milliseconds since the epoch.
 *
 * The format roomcast writes (payload "timestamp", log lines) is what
 * JavaScript's Date.prototype.toISOString() writes, "2026-11-21T10:00:00.000Z",
 * in the proleptic Gregorian calendar and UTC. The parser takes what
 * clients send back (a last event's timestamp): that form, or with another
 * fraction or an offset.
 */
#ifndef RC_ISO8601_H
#define RC_ISO8601_H

#include <stddef.h>
#include <stdint.h>

/* Length of a formatted date-time, the NUL not counted. */
#define RC_ISO8601_LEN 24

/*
 * Parses s[0..n) (borrowed; the whole of it) as
 *   YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}](Z|z|+HH:MM|-HH:MM)
 * with month 1..12, day 1..31 (not checked against the month: Feb 31 is
 * Mar 3 or 2), hour 0..23, minute 0..59, second 0..60 and an offset of at
 * most 23:59. Digits of the fraction beyond milliseconds are dropped.
 * Returns 0 with the time in *ms, or -1 when s is anything else.
 */
int rc_iso8601_parse_ms(const char *s, size_t n, int64_t *ms);

/*
 * Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL into out. Returns 0, or
 * -1 (out untouched) when the year is not 0000..9999, which four digits
 * cannot write.
 */
int rc_iso8601_format_ms(int64_t ms, char out[RC_ISO8601_LEN + 1]);

/* The range rc_iso8601_format_ms writes: 0000-01-01 .. 9999-12-31. */
#define RC_ISO8601_MIN_MS INT64_C(-62167219200000)
#define RC_ISO8601_MAX_MS INT64_C(253402300799999)

#endif
