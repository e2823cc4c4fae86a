/*
 * routes.h - roomcast's HTTP routes beside /socket.io/: /healthz, /readyz,
 * /metrics, the live page at / and, in demo mode, /demo/token; the admin
 * API's paths (/admin/...) go to the handler the gateway sets (admin.h).
 * The application (app.h) answers the server's on_http with them.
 */
#ifndef RC_ROUTES_H
#define RC_ROUTES_H

#include "core/slice.h"
#include "gateway/server/app.h"

typedef struct rc_routes_hooks {
    void *ud;
    /* Appends extra members to the /healthz object, e.g.
     * "\"kafka\":{\"embedded\":true}" without surrounding braces or leading
     * comma. Called on the loop. */
    void (*health)(void *ud, rc_buf *out);
    /* 1 when the node should receive traffic (started, consumer in its
     * group, history reachable); else 0, with each reason appended to why
     * by rc_routes_reason(). /readyz answers 200, or 503 with the reasons.
     * Called on the loop. */
    int (*ready)(void *ud, rc_buf *why);
} rc_routes_hooks;

/* Appends one reason for not being ready (printf-style) to why, as /readyz
 * lists them. 0, or -1 when out of memory. */
int rc_routes_reason(rc_buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Answers a request under /admin (admin.h: rc_admin_answer): 1, or 0 for
 * a 404. */
typedef int (*rc_routes_handler)(void *ud, gw_server *gw, const gw_http_request *req,
                                 gw_http_response *resp);

typedef struct rc_routes {
    rc_routes_hooks hooks;
    int demo;          /* demo mode: /demo/token exists (else 404) */
    char *demo_secret; /* owned: signs /demo/token's tokens; NULL when
                           there is no HS256 secret (503) */
    rc_routes_handler admin; /* "/admin" and below; NULL: 404 */
    void *admin_ud;
} rc_routes;

/* A GET, HEAD (the server drops the body) or POST on path req: fills
 * resp and returns 1, or 0 when no route has the path (the server answers
 * 404). Only the admin API takes POST; the other routes answer it 405.
 * Loop thread. */
int rc_routes_answer(const rc_routes *r, gw_server *gw, const gw_http_request *req,
                     gw_http_response *resp);

#endif
