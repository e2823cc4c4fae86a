/*
 * test_slice.c - slices and the growable buffer: appends keep a NUL after
 * the content, printf and JSON strings, reset, and a reservation so large
 * that len + extra + 1 would wrap around is refused.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/slice.h"

int main(void)
{
    rc_buf b = {0};
    CHECK_INT(rc_buf_append(&b, "ab", 2), 0);
    CHECK_INT(rc_buf_puts(&b, "cd"), 0);
    CHECK_INT(rc_buf_printf(&b, "-%d-", 42), 0);
    CHECK_STR(b.p, "abcd-42-");
    CHECK_INT(b.len, 8);
    CHECK_INT(rc_buf_json_string(&b, "q\"\n\x01", 4), 0);
    CHECK_STR(b.p, "abcd-42-\"q\\\"\\n\\u0001\"");
    CHECK(rc_slice_eq(rc_slice_from("abc"), "abc"));
    CHECK(!rc_slice_eq(RC_SLICE_LIT("ab"), "abc"));

    size_t cap = b.cap, len = b.len;
    CHECK_INT(rc_buf_reserve(&b, SIZE_MAX), -1);
    CHECK_INT(rc_buf_reserve(&b, SIZE_MAX - b.len), -1);
    CHECK_INT(rc_buf_reserve(&b, SIZE_MAX - b.len - 1), -1); /* cannot be had */
    CHECK_INT(rc_buf_append(&b, "x", SIZE_MAX), -1);
    CHECK(b.cap == cap && b.len == len && strcmp(b.p, "abcd-42-\"q\\\"\\n\\u0001\"") == 0);

    rc_buf_reset(&b);
    CHECK_STR(b.p, "");
    CHECK_INT(b.len, 0);
    rc_buf_free(&b);
    CHECK(b.p == NULL && b.cap == 0);
    return CHECK_DONE();
}
