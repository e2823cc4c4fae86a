/*
 * errstr.c - error buffers.
 */
#include "errstr.h"

#include <stdio.h>

int rc_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    return -1;
}

int rc_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc_verrf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
