/*
 * errstr.h - filling a caller's error buffer.
 *
 * Constructors and parsers report failures as one line of text in a buffer
 * the caller owns (errstr, errlen). rc_errf formats into it and returns -1,
 * so that a failure path is a single `return rc_errf(...)`; rc_verrf is the
 * same for helpers that take a format and its arguments themselves.
 */
#ifndef RC_ERRSTR_H
#define RC_ERRSTR_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into err (may be NULL or errlen 0: nothing is written); -1. */
int rc_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with a va_list (consumed); -1. */
int rc_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
