/*
 * test_errstr.c - error buffers: rc_errf and rc_verrf write one truncated,
 * NUL-terminated line, tolerate a missing buffer, and return -1.
 */
#include <stdarg.h>
#include <string.h>

#include "check.h"
#include "core/errstr.h"

static int via_va(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rc_verrf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

int main(void)
{
    char err[16];
    CHECK_INT(rc_errf(err, sizeof err, "bad %s %d", "port", 70000), -1);
    CHECK_STR(err, "bad port 70000");
    CHECK_INT(rc_errf(err, sizeof err, "%s", "a line longer than the buffer"), -1);
    CHECK_STR(err, "a line longer t");
    CHECK_INT(via_va(err, sizeof err, "%s: %d", "x", 1), -1);
    CHECK_STR(err, "x: 1");
    CHECK_INT(via_va(err, 4, "%s", "truncated"), -1);
    CHECK_STR(err, "tru");
    strcpy(err, "kept");
    CHECK_INT(rc_errf(err, 0, "ignored"), -1);
    CHECK_STR(err, "kept");
    CHECK_INT(rc_errf(NULL, 100, "ignored"), -1);
    CHECK_INT(via_va(NULL, 0, "ignored"), -1);
    return CHECK_DONE();
}
