/*
 * file.c - whole-file reads.
 *
 * Implementation notes. The buffer starts at the size fstat reports (plus
 * one byte, to see the end without another call) and grows by doubling for
 * files whose size is not known in advance (pipes, /proc), never beyond
 * max + 1 bytes: reading one byte more than max is how a file that is too
 * large is told apart from one of exactly max bytes.
 */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errstr.h"

char *rc_file_read(const char *path, const char *what, size_t max, size_t *len,
                   char *errstr, size_t errlen)
{
    const char *sp = what ? " " : "", *file = what ? " file" : "";
    const char *w = what ? what : "";
    char *buf = NULL;
    size_t n = 0, cap;
    struct stat st;
    int err;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        rc_errf(errstr, errlen, "cannot open%s%s%s %s: %s", sp, w, file, path,
                strerror(err));
        errno = err;
        return NULL;
    }
    if (max == (size_t)-1)
        max--;
    cap = fstat(fd, &st) == 0 && st.st_size > 0 && (uintmax_t)st.st_size <= max
              ? (size_t)st.st_size + 1
              : (max < 4096 ? max + 1 : 4096);
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break; /* read max + 1 bytes: too large */
            size_t ncap = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb)
                goto oom;
            buf = nb;
            cap = ncap;
        } else if (!buf && !(buf = malloc(cap))) {
            goto oom;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            rc_errf(errstr, errlen, "cannot read%s%s%s %s: %s", sp, w, file,
                    path, strerror(err));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        err = EFBIG;
        rc_errf(errstr, errlen, "%s%s%s%s is larger than %zu bytes", w, file,
                what ? " " : "", path, max);
        goto fail;
    }
    buf[n] = '\0'; /* n < cap here: the loop ends on a short read */
    close(fd);
    *len = n;
    return buf;
oom:
    err = ENOMEM;
    rc_errf(errstr, errlen, "out of memory reading %s", path);
fail:
    close(fd);
    free(buf);
    errno = err;
    return NULL;
}
