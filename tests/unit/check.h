/*
 * check.h - the unit tests' assertion macros.
 *
 * Each test binary runs its cases, counts checks, prints a closing line
 * "N passed, N failed" and exits non-zero if any check failed.
 */
#ifndef RC_CHECK_H
#define RC_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (cond) {                                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                   \
        }                                                                     \
    } while (0)

#define CHECK_INT(a, b)                                                       \
    do {                                                                      \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);       \
        if (check_a_ == check_b_) {                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n",       \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_);          \
        }                                                                     \
    } while (0)

#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *check_a_ = (a), *check_b_ = (b);                          \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) {        \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s\n  got:      %s\n  expected: %s\n",    \
                    __FILE__, __LINE__, #a, check_a_ ? check_a_ : "(null)",   \
                    check_b_ ? check_b_ : "(null)");                          \
        }                                                                     \
    } while (0)

#define CHECK_DONE()                                                          \
    (printf("%d passed, %d failed\n", check_passed, check_failed),           \
     check_failed ? 1 : 0)

#endif
