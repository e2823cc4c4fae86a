/*
 * redis_url.h - the Redis history's address: a redis:// URL, parsed
 * strictly.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *
 * host is a name or IPv4 address of letters, digits, '.', '-' and '_', or
 * an IPv6 address in brackets; port 1..65535 (6379 by default); db a
 * number (0 by default). The password may contain '@' (the last '@' ends
 * the credentials); the user may be empty. Nothing else is accepted: no
 * query, no fragment, no rediss:// (TLS is not supported).
 */
#ifndef RC_REDIS_URL_H
#define RC_REDIS_URL_H

#include <stddef.h>

typedef struct rc_redis_url {
    char host[256]; /* without the brackets of an IPv6 address */
    int port;
    int db;
    char *user;     /* owned, NULL when none (ACL user "default") */
    char *pass;     /* owned, NULL when none */
} rc_redis_url;

/* Room for rc_redis_url_where's text. */
#define RC_REDIS_WHERE_MAX 300

/*
 * Parses url into *out. Returns 0 (free with rc_redis_url_free), or -1
 * with errstr set and nothing to free.
 */
int rc_redis_url_parse(const char *url, rc_redis_url *out, char *errstr,
                       size_t errlen);

/* Frees the credentials; *u can be parsed into again. */
void rc_redis_url_free(rc_redis_url *u);

/* "host:port/db" ("[host]:port/db" for IPv6), for logs: no credentials. */
void rc_redis_url_where(const rc_redis_url *u, char *buf, size_t len);

#endif
