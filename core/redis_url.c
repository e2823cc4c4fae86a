/*
 * redis_url.c - redis:// URLs.
 */
#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errstr.h"

static int parse_uint(const char *p, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
}

int rc_redis_url_parse(const char *url, rc_redis_url *cf, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    const char *p, *at, *slash, *hp_end, *colon = NULL;
    long v;

    memset(cf, 0, sizeof *cf);
    cf->port = 6379;
    if (!url || strncmp(url, scheme, sizeof scheme - 1)) {
        return rc_errf(err, errlen,
                       "redis url must start with redis:// (rediss:// is not supported)");
    }
    p = url + sizeof scheme - 1;
    if ((at = strrchr(p, '@'))) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        if (!c || at - c < 2) {
            return rc_errf(err, errlen, "redis url: credentials must be [user]:password@");
        }
        if (c > p && !(cf->user = strndup(p, (size_t)(c - p))))
            goto oom;
        if (!(cf->pass = strndup(c + 1, (size_t)(at - c - 1))))
            goto oom;
        p = at + 1;
    }
    slash = strchr(p, '/');
    hp_end = slash ? slash : p + strlen(p);
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hp_end - p));
        if (!rb || rb == p + 1 || (size_t)(rb - p - 1) >= sizeof cf->host) {
            rc_errf(err, errlen, "redis url: bad IPv6 host");
            goto fail;
        }
        for (const char *q = p + 1; q < rb; q++)
            if (!(host_char(*q) || *q == ':')) {
                rc_errf(err, errlen, "redis url: bad IPv6 host");
                goto fail;
            }
        memcpy(cf->host, p + 1, (size_t)(rb - p - 1));
        if (rb + 1 < hp_end) {
            if (rb[1] != ':') {
                rc_errf(err, errlen, "redis url: unexpected text after the host");
                goto fail;
            }
            colon = rb + 1;
        }
    } else {
        const char *q = p;
        while (q < hp_end && host_char(*q))
            q++;
        if (q == p || (q < hp_end && *q != ':') || (size_t)(q - p) >= sizeof cf->host) {
            rc_errf(err, errlen, "redis url: bad host");
            goto fail;
        }
        memcpy(cf->host, p, (size_t)(q - p));
        if (q < hp_end)
            colon = q;
    }
    if (colon) {
        if (parse_uint(colon + 1, (size_t)(hp_end - colon - 1), 65535, &v) < 0 || v == 0) {
            rc_errf(err, errlen, "redis url: bad port");
            goto fail;
        }
        cf->port = (int)v;
    }
    if (slash) {
        if (parse_uint(slash + 1, strlen(slash + 1), 1L << 20, &v) < 0) {
            rc_errf(err, errlen, "redis url: the database must be a number after /");
            goto fail;
        }
        cf->db = (int)v;
    }
    return 0;
oom:
    rc_errf(err, errlen, "out of memory");
fail:
    free(cf->user);
    free(cf->pass);
    cf->user = cf->pass = NULL;
    return -1;
}

void rc_redis_url_free(rc_redis_url *u)
{
    free(u->user);
    free(u->pass);
    u->user = u->pass = NULL;
}

void rc_redis_url_where(const rc_redis_url *u, char *buf, size_t len)
{
    snprintf(buf, len, strchr(u->host, ':') ? "[%s]:%d/%d" : "%s:%d/%d", u->host,
             u->port, u->db);
}
