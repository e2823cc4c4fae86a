/*
 * test_iso8601.c - ISO 8601 date-times: the forms clients send (fraction
 * lengths, offsets, 't' and ' ' separators, leap seconds), everything
 * around them that must be refused, formatting checked against the C
 * library's gmtime_r, the four-digit year range, and round trips.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "core/iso8601.h"

#define T0 INT64_C(1795255200000) /* 2026-11-21T10:00:00.000Z */

static int parses(const char *s, int64_t want)
{
    int64_t ms = 12345;
    if (rc_iso8601_parse_ms(s, strlen(s), &ms) < 0) {
        fprintf(stderr, "  \"%s\" refused\n", s);
        return 0;
    }
    if (ms != want)
        fprintf(stderr, "  \"%s\" -> %lld, expected %lld\n", s, (long long)ms,
                (long long)want);
    return ms == want;
}

static int refused(const char *s, size_t n)
{
    int64_t ms;
    int ok = rc_iso8601_parse_ms(s, n, &ms) < 0;
    if (!ok)
        fprintf(stderr, "  \"%.*s\" accepted\n", (int)n, s);
    return ok;
}

static void test_parse(void)
{
    CHECK(parses("2026-11-21T10:00:00.000Z", T0));
    CHECK(parses("2026-11-21T10:00:00Z", T0));
    CHECK(parses("2026-11-21t10:00:00z", T0));
    CHECK(parses("2026-11-21 10:00:00Z", T0));
    CHECK(parses("2026-11-21T10:00:00.5Z", T0 + 500));
    CHECK(parses("2026-11-21T10:00:00.05Z", T0 + 50));
    CHECK(parses("2026-11-21T10:00:00.123Z", T0 + 123));
    CHECK(parses("2026-11-21T10:00:00.123456789Z", T0 + 123)); /* truncated */
    CHECK(parses("2026-11-21T10:00:00.999999Z", T0 + 999));
    CHECK(parses("2026-11-21T11:30:00.000+01:30", T0));
    CHECK(parses("2026-11-21T04:59:00-05:01", T0));
    CHECK(parses("2026-11-21T10:00:00+00:00", T0));
    CHECK(parses("2026-11-21T10:00:00-00:00", T0));
    CHECK(parses("2026-11-21T23:59:00+23:59", T0 - 10 * 3600 * INT64_C(1000)));
    CHECK(parses("1970-01-01T00:00:00.000Z", 0));
    CHECK(parses("1969-12-31T23:59:59.999Z", -1));
    CHECK(parses("2026-11-21T09:59:60Z", T0)); /* a leap second is the next one */
    CHECK(parses("2026-02-31T00:00:00Z", INT64_C(1772496000000))); /* March 3rd */
    CHECK(parses("0000-01-01T00:00:00.000Z", RC_ISO8601_MIN_MS));
    CHECK(parses("9999-12-31T23:59:59.999Z", RC_ISO8601_MAX_MS));

    static const char *const bad[] = {
        "", "2026", "2026-11-21", "2026-11-21T10:00", "2026-11-21T10:00:00",
        "2026-11-21T10:00:00.Z", "2026-11-21T10:00:00.1234567890Z",
        "2026-11-21T10:00:00.000", "2026-11-21T10:00:00.000ZZ",
        "2026-11-21T10:00:00.000Z ", " 2026-11-21T10:00:00.000Z",
        "2026-11-21X10:00:00Z", "2026/11/21T10:00:00Z", "26-11-21T10:00:00Z",
        "2026-1-21T10:00:00Z", "2026-11-2T10:00:00Z", "2026-11-21T1:00:00Z",
        "2026-00-21T10:00:00Z", "2026-13-21T10:00:00Z", "2026-11-00T10:00:00Z",
        "2026-11-32T10:00:00Z", "2026-11-21T24:00:00Z", "2026-11-21T10:60:00Z",
        "2026-11-21T10:00:61Z", "2026-11-21T10:00:00+24:00",
        "2026-11-21T10:00:00+01:60", "2026-11-21T10:00:00+0100",
        "2026-11-21T10:00:00+01", "2026-11-21T10:00:00 +01:00",
        "2026-11-21T10:00:00UTC", "+2026-11-21T10:00:00Z", "-2026-11-21T10:00:00Z",
        "2026-11-21T10:00:00,000Z", "2026-11-21T10:00:0aZ", "2026-11-21T10:00:00.0a0Z",
        "1795255200000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(refused(bad[i], strlen(bad[i])));

    /* every proper prefix of a valid text, and text after a NUL */
    const char *full = "2026-11-21T10:00:00.123+01:00";
    for (size_t n = 0; n < strlen(full); n++)
        CHECK(refused(full, n));
    CHECK(refused("2026-11-21T10:00:00Z\0junk", 25));
    CHECK(refused("2026-11-21T10:00\0:00Z", 21));
    /* only s[0..n) is read */
    int64_t ms = 0;
    CHECK_INT(rc_iso8601_parse_ms("2026-11-21T10:00:00Zjunk", 20, &ms), 0);
    CHECK_INT(ms, T0);
}

static void check_format(int64_t ms)
{
    char out[RC_ISO8601_LEN + 1], want[64];
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, (int)frac);
    memset(out, 'x', sizeof out);
    CHECK_INT(rc_iso8601_format_ms(ms, out), 0);
    CHECK_STR(out, want);
    int64_t back = 0;
    CHECK_INT(rc_iso8601_parse_ms(out, strlen(out), &back), 0);
    CHECK_INT(back, ms);
}

static void test_format(void)
{
    char out[RC_ISO8601_LEN + 1];
    CHECK_INT(rc_iso8601_format_ms(T0, out), 0);
    CHECK_STR(out, "2026-11-21T10:00:00.000Z");
    CHECK_INT(strlen(out), RC_ISO8601_LEN);
    CHECK_INT(rc_iso8601_format_ms(0, out), 0);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    CHECK_INT(rc_iso8601_format_ms(-1, out), 0);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    CHECK_INT(rc_iso8601_format_ms(951782400000, out), 0); /* a 400-year leap day */
    CHECK_STR(out, "2000-02-29T00:00:00.000Z");
    CHECK_INT(rc_iso8601_format_ms(RC_ISO8601_MIN_MS, out), 0);
    CHECK_STR(out, "0000-01-01T00:00:00.000Z");
    CHECK_INT(rc_iso8601_format_ms(RC_ISO8601_MAX_MS, out), 0);
    CHECK_STR(out, "9999-12-31T23:59:59.999Z");
    strcpy(out, "untouched");
    CHECK_INT(rc_iso8601_format_ms(RC_ISO8601_MIN_MS - 1, out), -1);
    CHECK_INT(rc_iso8601_format_ms(RC_ISO8601_MAX_MS + 1, out), -1);
    CHECK_INT(rc_iso8601_format_ms(INT64_MIN, out), -1);
    CHECK_INT(rc_iso8601_format_ms(INT64_MAX, out), -1);
    CHECK_STR(out, "untouched");

    /* against gmtime_r, across the whole range */
    static const int64_t fixed[] = {
        0, 1, 999, 1000, 86399999, 86400000, -86400000, -86400001, T0,
        951868799999, 951868800000, 4107542399999, 4107542400000,
        -2208988800000, -62135596800000, RC_ISO8601_MIN_MS, RC_ISO8601_MAX_MS,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_format(fixed[i]);
    srand(11);
    for (int i = 0; i < 20000; i++) {
        uint64_t r = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
        int64_t span = RC_ISO8601_MAX_MS - RC_ISO8601_MIN_MS + 1;
        check_format(RC_ISO8601_MIN_MS + (int64_t)(r % (uint64_t)span));
    }
}

int main(void)
{
    test_parse();
    test_format();
    return CHECK_DONE();
}
