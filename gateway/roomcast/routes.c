/*
 * routes.c - roomcast's HTTP routes (routes.h).
 *
 * Implementation notes. /healthz is always 200 with what the node carries
 * and what the process hooks add (Kafka, history); /readyz is 503 while the
 * hooks say the node is not ready and once the server is stopping, so a
 * load balancer stops sending it clients first. /demo/token signs a token
 * for any sub, which is why it exists only with a demo secret. Paths under
 * /admin are the admin API's (admin.c), whatever their method; the other
 * routes are read-only and refuse POST.
 */
#include "gateway/roomcast/routes.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/scrape.h"
#include "gateway/server/server.h"

/* The live page, embedded at build time. */
extern const unsigned char rc_page_index[];
extern const size_t rc_page_index_len;

/* Longest sub accepted by /demo/token. */
#define RC_MAX_DEMO_SUB 128

static int answer(gw_http_response *resp, unsigned status, const char *ctype, const char *body,
                  size_t len)
{
    resp->status = status;
    resp->content_type = ctype;
    rc_buf_reset(&resp->body);
    return rc_buf_append(&resp->body, body, len) < 0 ? -1 : 1;
}

static int answer_str(gw_http_response *resp, unsigned status, const char *ctype, const char *body)
{
    return answer(resp, status, ctype, body, strlen(body));
}

static int route_healthz(const rc_routes *r, gw_server *gw, gw_http_response *resp)
{
    rc_buf *b = &resp->body;
    gw_stats st;
    gw_server_stats(gw, &st);
    rc_buf_reset(b);
    resp->status = 200;
    resp->content_type = "application/json";
    if (rc_buf_printf(b, "{\"status\":\"ok\",\"connections\":%zu,\"sockets\":%zu,\"rooms\":%zu",
                      st.sessions, st.sockets, st.rooms) < 0)
        return -1;
    if (r->hooks.health) {
        if (rc_buf_puts(b, ",") < 0)
            return -1;
        size_t mark = b->len;
        r->hooks.health(r->hooks.ud, b);
        if (b->len == mark) /* the hook had nothing to add */
            b->p[--b->len] = '\0';
    }
    return rc_buf_puts(b, "}") < 0 ? -1 : 1;
}

int rc_routes_reason(rc_buf *why, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (why->len && rc_buf_puts(why, ",") < 0)
        return -1;
    return rc_buf_json_string(why, text, strlen(text));
}

/* What /readyz answers: 1 for 200; the reasons (when why) otherwise. */
static int is_ready(const rc_routes *r, gw_server *gw, rc_buf *why)
{
    rc_buf scratch = {0};
    rc_buf *w = why ? why : &scratch;
    int ready = 1;
    if (gw_server_stopping(gw)) {
        ready = 0;
        rc_routes_reason(w, "stopping: clients are told to reconnect elsewhere");
    } else if (r->hooks.ready) {
        ready = r->hooks.ready(r->hooks.ud, w);
    }
    rc_buf_free(&scratch);
    return ready;
}

static int route_readyz(const rc_routes *r, gw_server *gw, gw_http_response *resp)
{
    rc_buf why = {0};
    int ready = is_ready(r, gw, &why);
    resp->status = ready ? 200 : 503;
    resp->content_type = "application/json";
    rc_buf_reset(&resp->body);
    int rc = ready ? rc_buf_puts(&resp->body, "{\"status\":\"ready\"}")
                   : rc_buf_printf(&resp->body, "{\"status\":\"not ready\",\"reasons\":[%.*s]}",
                                   (int)why.len, why.len ? why.p : "");
    rc_buf_free(&why);
    return rc < 0 ? -1 : 1;
}

static int route_metrics(const rc_routes *r, gw_server *gw, gw_http_response *resp)
{
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rc_buf_reset(&resp->body);
    return rc_scrape_render(&resp->body, gw, is_ready(r, gw, NULL)) < 0 ? -1 : 1;
}

static int route_demo_token(const rc_routes *r, const gw_http_request *req, gw_http_response *resp)
{
    char buf[RC_MAX_DEMO_SUB + 8];
    if (!r->demo)
        return 0;
    if (!r->demo_secret)
        return answer_str(resp, 503, "application/json",
                          "{\"error\":\"demo tokens need an HS256 secret\"}");
    const char *sub = gw_http_query(req, "sub", buf, sizeof buf);
    if (!sub || !sub[0])
        return answer_str(resp, 400, "application/json",
                          "{\"error\":\"query parameter sub is required\"}");
    char *tok = rc_auth_sign_hs256(r->demo_secret, sub, sub, NULL, 0, (int64_t)time(NULL) + 3600);
    if (!tok)
        return answer_str(resp, 500, "application/json", "{\"error\":\"could not sign a token\"}");
    resp->status = 200;
    resp->content_type = "application/json";
    rc_buf_reset(&resp->body);
    int rc = rc_buf_puts(&resp->body, "{\"token\":") == 0 &&
                     rc_buf_json_string(&resp->body, tok, strlen(tok)) == 0 &&
                     rc_buf_puts(&resp->body, "}") == 0
                 ? 1
                 : -1;
    free(tok);
    return rc;
}

int rc_routes_answer(const rc_routes *r, gw_server *gw, const gw_http_request *req,
                     gw_http_response *resp)
{
    const char *path = gw_http_path(req);
    int rc = 0;
    if (strncmp(path, "/admin", 6) == 0 && (path[6] == '/' || !path[6]))
        return r->admin ? r->admin(r->admin_ud, gw, req, resp) : 0;
    if (strcmp(gw_http_request_method(req), "POST") == 0)
        return answer_str(resp, 405, "text/plain", "Method Not Allowed\n");
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        rc = answer(resp, 200, "text/html; charset=utf-8", (const char *)rc_page_index,
                    rc_page_index_len);
    else if (strcmp(path, "/healthz") == 0)
        rc = route_healthz(r, gw, resp);
    else if (strcmp(path, "/readyz") == 0)
        rc = route_readyz(r, gw, resp);
    else if (strcmp(path, "/metrics") == 0)
        rc = route_metrics(r, gw, resp);
    else if (strcmp(path, "/demo/token") == 0)
        rc = route_demo_token(r, req, resp);
    if (rc < 0)
        return answer_str(resp, 500, "text/plain", "Out of memory\n");
    return rc;
}
