/*
 * cors.c - the cross-origin policy (cors.h).
 *
 * Implementation notes. A listed origin is checked first, so that a site
 * named in the list gets its credentials even when the list also has "*".
 * Same-origin is decided on the Host header alone, whatever the scheme: a
 * proxy that terminates TLS forwards https pages' requests over http, and
 * a page of the server's own host is the server's own page either way.
 */
#include "gateway/server/cors.h"

#include <string.h>
#include <strings.h>

int gw_cors_list_has(const char *list, const char *item, size_t ilen)
{
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == ilen && strncasecmp(p, item, ilen) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* Whether origin ("scheme://host[:port]") names the same host and port as
 * the Host header. */
static int same_origin(const char *origin, const char *host)
{
    const char *sep = strstr(origin, "://");
    if (!host || !host[0] || !sep)
        return 0;
    const char *auth = sep + 3;
    return auth[0] && strcasecmp(auth, host) == 0;
}

enum gw_cors gw_cors_check(const char *list, const char *origin, const char *host)
{
    if (!origin || !origin[0])
        return GW_CORS_PLAIN;
    if (gw_cors_list_has(list, origin, strlen(origin)))
        return GW_CORS_ECHO;
    if (same_origin(origin, host))
        return GW_CORS_PLAIN;
    if (gw_cors_list_has(list, "*", 1))
        return GW_CORS_ANY;
    return GW_CORS_REFUSED;
}
