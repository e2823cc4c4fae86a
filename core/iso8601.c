/*
 * iso8601.c - ISO 8601 date-times.
 *
 * Implementation notes. Days and civil dates convert with H. Hinnant's
 * algorithms (days_from_civil, civil_from_days), exact for the proleptic
 * Gregorian calendar without tables or time zone state. The formatter
 * writes its digits by hand: it runs for every record's payload, and
 * snprintf would be its slowest part.
 */
#include "iso8601.h"

#include <string.h>

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at *p (before end) into *out; advances *p. */
static int digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    if (end - *p < n)
        return -1;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* The next character is c (or c2); advances past it. */
static int expect(const char **p, const char *end, char c, char c2)
{
    if (*p == end || (**p != c && **p != c2))
        return -1;
    (*p)++;
    return 0;
}

int rc_iso8601_parse_ms(const char *s, size_t n, int64_t *ms)
{
    int Y, M, D, h, m, sec, frac = 0, tzh = 0, tzm = 0, sign = 0;
    const char *p = s, *end = s + n;
    if (digits(&p, end, 4, &Y) || expect(&p, end, '-', '-') ||
        digits(&p, end, 2, &M) || expect(&p, end, '-', '-') ||
        digits(&p, end, 2, &D))
        return -1;
    if (p == end || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, end, 2, &h) || expect(&p, end, ':', ':') ||
        digits(&p, end, 2, &m) || expect(&p, end, ':', ':') ||
        digits(&p, end, 2, &sec))
        return -1;
    if (p < end && *p == '.') {
        int nd = 0;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                frac = frac * 10 + (*p - '0');
        if (nd == 0 || nd > 9)
            return -1;
        for (; nd < 3; nd++)
            frac *= 10;
    }
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, end, 2, &tzh) || expect(&p, end, ':', ':') ||
            digits(&p, end, 2, &tzm) || tzh > 23 || tzm > 59)
            return -1;
    } else {
        return -1;
    }
    if (p != end || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 ||
        sec > 60)
        return -1;
    int64_t days = days_from_civil(Y, M, D);
    int64_t secs = days * 86400 + h * 3600 + m * 60 + sec -
                   sign * (tzh * 3600 + tzm * 60);
    *ms = secs * 1000 + frac;
    return 0;
}

int rc_iso8601_format_ms(int64_t ms, char out[RC_ISO8601_LEN + 1])
{
    if (ms < RC_ISO8601_MIN_MS || ms > RC_ISO8601_MAX_MS)
        return -1;
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    /* civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    static const char pattern[] = "0000-00-00T00:00:00.000Z";
    const struct { int64_t v; int pos, width; } f[] = {
        {y, 0, 4}, {m, 5, 2}, {d, 8, 2}, {rem / 3600000, 11, 2},
        {rem / 60000 % 60, 14, 2}, {rem / 1000 % 60, 17, 2},
        {rem % 1000, 20, 3}};
    memcpy(out, pattern, sizeof pattern);
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        int64_t x = f[i].v;
        for (int k = f[i].width - 1; k >= 0; k--, x /= 10)
            out[f[i].pos + k] = (char)('0' + x % 10);
    }
    return 0;
}
