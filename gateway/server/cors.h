/*
 * cors.h - the cross-origin policy: whether a request that names an
 * Origin may use the server, and which CORS headers its response carries.
 *
 * The policy is a comma-separated list (gw_options.cors_origins):
 *   - exact origins ("https://app.example.com"): such an origin is answered
 *     with itself in Access-Control-Allow-Origin and
 *     Access-Control-Allow-Credentials: true;
 *   - "*": any other origin may use the server, answered with
 *     Access-Control-Allow-Origin: * and never with credentials (a wildcard
 *     with credentials would let every site act with a visitor's cookies);
 *   - empty: no other site at all.
 * A request without Origin (not a browser) and a same-origin request (its
 * Origin's host and port are the request's Host, as for the page the
 * server itself serves) are always allowed and get no CORS headers.
 * Anything else is refused: no CORS headers, and the transports answer
 * 403. Pure: no I/O, any thread.
 */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <stddef.h>

enum gw_cors {
    GW_CORS_PLAIN,   /* no Origin, or same-origin: allowed, no CORS headers */
    GW_CORS_ECHO,    /* a listed origin: echo it, with credentials */
    GW_CORS_ANY,     /* allowed by "*": "*", without credentials */
    GW_CORS_REFUSED, /* another origin: refused, no CORS headers */
};

/*
 * The verdict for a request with this Origin (NULL or "" when it has
 * none) and Host header (NULL when it has none) under policy list (NULL
 * or "" = same-origin only). Origins compare case-insensitively, as whole
 * list entries (spaces around commas are ignored).
 */
enum gw_cors gw_cors_check(const char *list, const char *origin, const char *host);

/* Whether the comma-separated list holds item (ilen bytes) as a whole
 * entry, compared without case, spaces and tabs around entries ignored.
 * The same rule serves header value lists (Connection, Transfer-Encoding:
 * http.c). list may be NULL. */
int gw_cors_list_has(const char *list, const char *item, size_t ilen);

#endif
