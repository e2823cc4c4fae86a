/*
 * test_redis_url.c - redis:// URLs: hosts (names, IPv4, IPv6 in brackets),
 * ports, databases and credentials as parsed, the defaults, the log form
 * without credentials, and every malformed URL refused with a reason.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/redis_url.h"

static void good(const char *url, const char *host, int port, int db,
                 const char *user, const char *pass, const char *where)
{
    rc_redis_url u;
    char err[256] = "", w[RC_REDIS_WHERE_MAX];
    int rc = rc_redis_url_parse(url, &u, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "  %s refused: %s\n", url, err);
    CHECK_INT(rc, 0);
    if (rc != 0)
        return;
    CHECK_STR(u.host, host);
    CHECK_INT(u.port, port);
    CHECK_INT(u.db, db);
    CHECK(user ? u.user && !strcmp(u.user, user) : u.user == NULL);
    CHECK(pass ? u.pass && !strcmp(u.pass, pass) : u.pass == NULL);
    rc_redis_url_where(&u, w, sizeof w);
    CHECK_STR(w, where);
    rc_redis_url_free(&u);
    CHECK(u.user == NULL && u.pass == NULL);
}

int main(void)
{
    good("redis://localhost", "localhost", 6379, 0, NULL, NULL, "localhost:6379/0");
    good("redis://127.0.0.1:6380", "127.0.0.1", 6380, 0, NULL, NULL, "127.0.0.1:6380/0");
    good("redis://cache-1.internal_x:1/15", "cache-1.internal_x", 1, 15, NULL, NULL,
         "cache-1.internal_x:1/15");
    good("redis://h:65535/0", "h", 65535, 0, NULL, NULL, "h:65535/0");
    good("redis://h/1048576", "h", 6379, 1048576, NULL, NULL, "h:6379/1048576");
    good("redis://:secret@h", "h", 6379, 0, NULL, "secret", "h:6379/0");
    good("redis://ann:secret@h:7000/2", "h", 7000, 2, "ann", "secret", "h:7000/2");
    good("redis://ann:p@ss:w@h", "h", 6379, 0, "ann", "p@ss:w", "h:6379/0");
    good("redis://[::1]", "::1", 6379, 0, NULL, NULL, "[::1]:6379/0");
    good("redis://[fe80::1]:6390/4", "fe80::1", 6390, 4, NULL, NULL, "[fe80::1]:6390/4");

    static const char *const bad[] = {
        "", "http://x:1", "redis:/h", "REDIS://h", "rediss://h:1", "redis://",
        "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:12x",
        "redis://h:", "redis://h:1/", "redis://h:1/a", "redis://h:1/0?x=1",
        "redis://h:1/1048577", "redis://h h:1", "redis://h:1:2", "redis://[::1",
        "redis://[]:1", "redis://[::1]x", "redis://[::1 ]", "redis://u@h:1",
        "redis://u:@h", "redis://h#frag", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        rc_redis_url u;
        char err[256] = "";
        int rc = rc_redis_url_parse(bad[i], &u, err, sizeof err);
        if (rc == 0)
            fprintf(stderr, "  %s accepted\n", bad[i]);
        CHECK_INT(rc, -1);
        CHECK(err[0] != '\0');
        CHECK(u.user == NULL && u.pass == NULL); /* nothing to free */
    }
    rc_redis_url u;
    char err[256] = "";
    CHECK_INT(rc_redis_url_parse(NULL, &u, err, sizeof err), -1);
    char host[300] = "redis://";
    memset(host + 8, 'h', 256);
    host[8 + 256] = '\0';
    CHECK_INT(rc_redis_url_parse(host, &u, err, sizeof err), -1); /* host too long */
    host[8 + 255] = '\0';
    CHECK_INT(rc_redis_url_parse(host, &u, err, sizeof err), 0);
    rc_redis_url_free(&u);
    return CHECK_DONE();
}
