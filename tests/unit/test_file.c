/*
 * test_file.c - whole-file reads: content and length (binary, empty, files
 * whose size stat does not know), the size limit at its edge, and the
 * errors with errno and a message naming the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/file.h"

static char dir[64];

static const char *put(const char *name, const void *data, size_t n)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(p);
        exit(2);
    }
    return p;
}

static void test_reads(void)
{
    char err[256] = "";
    size_t len = 99;
    const char *p = put("text", "hello\n", 6);
    char *s = rc_file_read(p, NULL, 100, &len, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(len, 6);
    CHECK_STR(s, "hello\n");
    free(s);

    /* binary, NULs included, NUL-terminated after the content */
    unsigned char bin[70000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    p = put("bin", bin, sizeof bin);
    s = rc_file_read(p, "binary", sizeof bin, &len, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(len, sizeof bin);
    CHECK(s && memcmp(s, bin, sizeof bin) == 0 && s[len] == '\0');
    free(s);

    p = put("empty", "", 0);
    s = rc_file_read(p, NULL, 0, &len, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(len, 0);
    CHECK_STR(s, "");
    free(s);

    /* stat says 0 bytes; the content is longer than the first buffer */
    s = rc_file_read("/proc/self/maps", NULL, 1 << 20, &len, err, sizeof err);
    CHECK(s != NULL);
    CHECK(len > 0 && strlen(s) == len);
    free(s);
    s = rc_file_read("/proc/self/maps", NULL, 10, &len, err, sizeof err);
    CHECK(s == NULL);
    CHECK_INT(errno, EFBIG);
}

static void test_limit(void)
{
    char err[256] = "";
    size_t len = 0;
    const char *p = put("ten", "0123456789", 10);
    char *s = rc_file_read(p, NULL, 10, &len, err, sizeof err);
    CHECK(s != NULL && len == 10);
    free(s);
    errno = 0;
    s = rc_file_read(p, NULL, 9, &len, err, sizeof err);
    CHECK(s == NULL);
    CHECK_INT(errno, EFBIG);
    char want[256];
    snprintf(want, sizeof want, "%s is larger than 9 bytes", p);
    CHECK_STR(err, want);
    s = rc_file_read(p, "JWKS", 9, &len, err, sizeof err);
    CHECK(s == NULL);
    snprintf(want, sizeof want, "JWKS file %s is larger than 9 bytes", p);
    CHECK_STR(err, want);
    s = rc_file_read(p, NULL, 0, &len, err, sizeof err);
    CHECK(s == NULL);
    CHECK_INT(errno, EFBIG);
}

static void test_errors(void)
{
    char err[256] = "", want[256];
    size_t len = 0;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    errno = 0;
    CHECK(rc_file_read(missing, "public key", 100, &len, err, sizeof err) == NULL);
    CHECK_INT(errno, ENOENT);
    snprintf(want, sizeof want, "cannot open public key file %s: %s", missing,
             strerror(ENOENT));
    CHECK_STR(err, want);
    CHECK(rc_file_read(missing, NULL, 100, &len, err, sizeof err) == NULL);
    snprintf(want, sizeof want, "cannot open %s: %s", missing, strerror(ENOENT));
    CHECK_STR(err, want);
    /* a directory opens but cannot be read */
    errno = 0;
    CHECK(rc_file_read(dir, "JWKS", 100, &len, err, sizeof err) == NULL);
    CHECK_INT(errno, EISDIR);
    snprintf(want, sizeof want, "cannot read JWKS file %s: %s", dir, strerror(EISDIR));
    CHECK_STR(err, want);
    /* no error buffer: still NULL and errno */
    CHECK(rc_file_read(missing, NULL, 100, &len, NULL, 0) == NULL);
    CHECK_INT(errno, ENOENT);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/rc-file-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_reads();
    test_limit();
    test_errors();
    const char *names[] = {"text", "bin", "empty", "ten"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return CHECK_DONE();
}
