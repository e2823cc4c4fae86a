/*
 * test_admin.c - the admin API's pure parts (gateway/roomcast/admin.c): the
 * token check, the routes of a path, query numbers, the control message
 * both ways; then what a control message does to roomcast's application
 * (gateway/roomcast/app.c) on the server library with a fake transport
 * (gw_fake.h): the sockets of the named user, connected or still being
 * recovered, get a Socket.IO DISCONNECT and lose their sessions, other
 * users keep theirs, a node's own message is not applied twice, and a ban
 * refuses the user's next CONNECT with FORBIDDEN until it ends. The HTTP
 * side is tests/integration/admin.test.mjs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/history.h"
#include "core/metrics.h"
#include "gateway/roomcast/admin.h"
#include "gateway/roomcast/app.h"
#include "gateway/roomcast/auth.h"
#include "tests/unit/check.h"
#include "tests/unit/gw_fake.h"

#define SECRET "test-secret-of-the-admin-tests-0123456789"
#define TOKEN "admin-token-0123456789abcdef"

/* ---- pure parts ---- */

static void test_token(void)
{
    rc_admin *adm = rc_admin_new(TOKEN, NULL, NULL);
    CHECK(adm != NULL);
    CHECK_INT(rc_admin_token_ok(adm, TOKEN), 1);
    CHECK_INT(rc_admin_token_ok(adm, TOKEN "x"), 0);
    CHECK_INT(rc_admin_token_ok(adm, "admin-token-0123456789abcdeF"), 0);
    CHECK_INT(rc_admin_token_ok(adm, "admin-token"), 0);
    CHECK_INT(rc_admin_token_ok(adm, ""), 0);
    CHECK_INT(rc_admin_token_ok(adm, NULL), 0);
    CHECK_INT(strlen(rc_admin_node(adm)), RC_ADMIN_NODE_LEN);
    /* Every process has a node id of its own. */
    rc_admin *other = rc_admin_new(TOKEN, NULL, NULL);
    CHECK(strcmp(rc_admin_node(adm), rc_admin_node(other)) != 0);
    rc_admin_destroy(other);
    rc_admin_destroy(adm);

    /* Without a token nothing matches, not even an empty one. */
    adm = rc_admin_new("", NULL, NULL);
    CHECK_INT(rc_admin_token_ok(adm, ""), 0);
    CHECK_INT(rc_admin_token_ok(adm, TOKEN), 0);
    rc_admin_destroy(adm);
    adm = rc_admin_new(NULL, NULL, NULL);
    CHECK_INT(rc_admin_token_ok(adm, ""), 0);
    rc_admin_destroy(adm);
    rc_admin_destroy(NULL);
}

static enum rc_admin_route route(const char *path, char *arg)
{
    const char *a;
    size_t n;
    enum rc_admin_route r = rc_admin_route_parse(path, &a, &n);
    arg[0] = '\0';
    if (a) {
        memcpy(arg, a, n);
        arg[n] = '\0';
    }
    return r;
}

static void test_routes(void)
{
    char arg[RC_ADMIN_ARG_MAX + 64];
    CHECK_INT(route("/admin/stats", arg), RC_ADMIN_STATS);
    CHECK_INT(route("/admin/rooms", arg), RC_ADMIN_ROOMS);
    CHECK_INT(route("/admin/rooms/", arg), RC_ADMIN_ROOMS);
    CHECK_INT(route("/admin/rooms/program:p1", arg), RC_ADMIN_ROOM);
    CHECK_STR(arg, "program:p1");
    /* A room is the rest of the path, slashes and all. */
    CHECK_INT(route("/admin/rooms/program:a/b", arg), RC_ADMIN_ROOM);
    CHECK_STR(arg, "program:a/b");
    CHECK_INT(route("/admin/users/u1", arg), RC_ADMIN_USER);
    CHECK_STR(arg, "u1");
    CHECK_INT(route("/admin/users/ada@example.com", arg), RC_ADMIN_USER);
    CHECK_STR(arg, "ada@example.com");
    CHECK_INT(route("/admin/users/u1/disconnect", arg), RC_ADMIN_DISCONNECT);
    CHECK_STR(arg, "u1");
    CHECK_INT(route("/admin/users/a/b/disconnect", arg), RC_ADMIN_DISCONNECT);
    CHECK_STR(arg, "a/b");
    CHECK_INT(route("/admin/users/\xc3\xa9t\xc3\xa9", arg), RC_ADMIN_USER);
    CHECK_STR(arg, "\xc3\xa9t\xc3\xa9");
    /* "disconnect" alone is a user; a rooms path has no disconnect. */
    CHECK_INT(route("/admin/users/disconnect", arg), RC_ADMIN_USER);
    CHECK_STR(arg, "disconnect");
    CHECK_INT(route("/admin/rooms/r/disconnect", arg), RC_ADMIN_ROOM);
    CHECK_STR(arg, "r/disconnect");

    const char *none[] = {"/admin", "/admin/", "/admin/stats/", "/admin/nope", "/admins/stats",
                          "/healthz", "/admin/user/u1", "/admin/roomsx", NULL};
    for (int i = 0; none[i]; i++)
        CHECK_INT(route(none[i], arg), RC_ADMIN_NOT_FOUND);

    /* Names that are empty, too long, not UTF-8, or with control characters. */
    char long_path[RC_ADMIN_ARG_MAX + 64];
    snprintf(long_path, sizeof long_path, "/admin/users/%0*d", RC_ADMIN_ARG_MAX + 1, 0);
    const char *bad[] = {"/admin/users/", "/admin/users//disconnect", "/admin/rooms/\x01",
                         "/admin/users/a\x7f", "/admin/users/\xc3", "/admin/users/\xff/disconnect",
                         long_path, NULL};
    for (int i = 0; bad[i]; i++)
        CHECK_INT(route(bad[i], arg), RC_ADMIN_BAD_ARG);
    long_path[strlen(long_path) - 1] = '\0'; /* RC_ADMIN_ARG_MAX exactly */
    CHECK_INT(route(long_path, arg), RC_ADMIN_USER);
}

static void test_uint(void)
{
    int64_t v = -1;
    CHECK_INT(rc_admin_parse_uint("0", 10, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(rc_admin_parse_uint("604800", RC_ADMIN_BAN_MAX_S, &v), 0);
    CHECK_INT(v, 604800);
    CHECK_INT(rc_admin_parse_uint("604801", RC_ADMIN_BAN_MAX_S, &v), -1);
    CHECK_INT(rc_admin_parse_uint("99999999999999999999999", INT64_MAX, &v), -1);
    const char *bad[] = {"", "-1", "+1", "1.5", " 1", "1 ", "0x10", "1e3", NULL};
    for (int i = 0; bad[i]; i++)
        CHECK_INT(rc_admin_parse_uint(bad[i], 1000000, &v), -1);
    CHECK_INT(rc_admin_parse_uint(NULL, 10, &v), -1);
}

static void test_messages(void)
{
    rc_buf b = {0};
    rc_admin_msg m;
    const char *err;
    CHECK_INT(rc_admin_encode_disconnect(&b, "0123456789abcdef", "u \"1\"\n", 5000), 0);
    CHECK_STR(b.p, "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u \\\"1\\\"\\n\","
                   "\"origin\":\"0123456789abcdef\",\"banMs\":5000}");
    /* A user with a control character is no user id: refused on the way in. */
    CHECK_INT(rc_admin_decode(b.p, b.len, &m, &err), -1);
    CHECK_INT(rc_admin_encode_disconnect(&b, "0123456789abcdef", "ada@example.com", 0), 0);
    CHECK_INT(rc_admin_decode(b.p, b.len, &m, &err), 0);
    CHECK_STR(m.user, "ada@example.com");
    CHECK_STR(m.origin, "0123456789abcdef");
    CHECK_INT(m.ban_ms, 0);

    const char *ok = "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"n1\"}";
    CHECK_INT(rc_admin_decode(ok, strlen(ok), &m, &err), 0);
    CHECK_INT(m.ban_ms, 0); /* banMs is optional */

    /* Another version or op: ignored, not an error. */
    const char *later[] = {"{\"v\":2,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"n1\"}",
                           "{\"v\":1,\"op\":\"ban-list\",\"users\":[]}", NULL};
    for (int i = 0; later[i]; i++)
        CHECK_INT(rc_admin_decode(later[i], strlen(later[i]), &m, &err), 1);

    const char *bad[] = {
        "", "null", "[]", "{\"v\":1}", "{\"op\":\"disconnect\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"origin\":\"n1\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"\",\"origin\":\"n1\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":7,\"origin\":\"n1\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"0123456789abcdef0\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"n1\",\"banMs\":-1}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"n1\",\"banMs\":\"5\"}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"n1\",\"banMs\":604800001}",
        "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"user\":\"u2\",\"origin\":\"n1\"}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        err = NULL;
        CHECK_INT(rc_admin_decode(bad[i], strlen(bad[i]), &m, &err), -1);
        CHECK(err != NULL);
    }
    rc_buf_free(&b);
}

/* ---- control messages on roomcast's application ---- */

static rc_app *app;
static rc_history *hist;

static gw_socket *last_socket(gw_server *gw, const char *user)
{
    size_t n = 0;
    gw_socket **v = rc_app_user_sockets(app, user, &n);
    (void)gw;
    return n ? v[n - 1] : NULL;
}

/* A session on conn whose CONNECT carries a token of user; its frames
 * (OPEN, CONNECT's answer) are popped. The answer goes to reply. */
static gw_session *client(gw_server *gw, fake_conn *conn, const char *user, char *reply,
                          size_t cap)
{
    char *tok = rc_auth_sign_hs256(SECRET, user, NULL, NULL, 0, (int64_t)time(NULL) + 3600);
    char pkt[1024];
    gw_session *s = fake_ws_session(gw, conn);
    snprintf(pkt, sizeof pkt, "40{\"token\":\"%s\"}", tok);
    free(tok);
    fake_feed(s, conn, pkt);
    gw_server_run_tasks(gw);
    const char *r = fake_pop(s);
    snprintf(reply, cap, "%s", r ? r : "");
    fake_drain(s);
    return s;
}

static void run_tasks_for(gw_server *gw, int ms)
{
    int64_t until = rc_clock_mono_ms() + ms;
    while (rc_clock_mono_ms() < until) {
        gw_server_run_tasks(gw);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static void test_control(void)
{
    char err[256], reply[512], msg[512];
    rc_auth_config ac = {.alg = "HS256", .secret = SECRET};
    rc_auth_verifier *v = rc_auth_verifier_new(&ac, err, sizeof err);
    CHECK(v != NULL);
    app = rc_app_new(v);
    rc_auth_verifier_unref(v);
    hist = rc_history_new_memory(100, 3600, err, sizeof err);
    rc_app_set_history(app, hist, 60000);
    gw_options o = fake_options(rc_app_callbacks(app));
    gw_server *gw = fake_server(&o);
    rc_admin *adm = rc_admin_new(TOKEN, app, NULL);

    fake_conn c1 = {0}, c2 = {0}, c3 = {0};
    gw_session *s1 = client(gw, &c1, "u1", reply, sizeof reply);
    CHECK(strncmp(reply, "40{\"sid\":", 9) == 0);
    gw_session *s2 = client(gw, &c2, "u1", reply, sizeof reply);
    gw_session *s3 = client(gw, &c3, "u2", reply, sizeof reply);
    CHECK(strncmp(reply, "40{\"sid\":", 9) == 0);
    size_t n = 0;
    CHECK(rc_app_user_sockets(app, "u1", &n) != NULL);
    CHECK_INT(n, 2);
    CHECK_INT(rc_app_user_count(app), 2);
    gw_socket *first = rc_app_user_sockets(app, "u1", &n)[0];
    CHECK_STR(gw_socket_sid(first), s1->sid); /* oldest first */
    CHECK_STR(rc_app_socket_user(first), "u1");

    /* This node's own message: applied when it was asked, not again. */
    snprintf(msg, sizeof msg,
             "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"%s\"}",
             rc_admin_node(adm));
    rc_admin_control(adm, msg, strlen(msg));
    rc_app_user_sockets(app, "u1", &n);
    CHECK_INT(n, 2);
    CHECK(fake_pop(s1) == NULL);

    /* Another node's: every socket of u1 gets a DISCONNECT and its
     * session closes; u2 keeps its own. */
    const char *other = "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u1\",\"origin\":\"feedfeedfeedfeed\","
                        "\"banMs\":60000}";
    long auth_failures = (long)rc_counter_get(&rc_metrics.auth_failures[RC_M_AUTH_FORBIDDEN]);
    rc_admin_control(adm, other, strlen(other));
    CHECK_STR(fake_pop(s1), "41");
    CHECK_STR(fake_pop(s2), "41");
    CHECK_INT(s1->state, GW_SESSION_CLOSING);
    CHECK_INT(s2->state, GW_SESSION_CLOSING);
    CHECK_INT(s3->state, GW_SESSION_OPEN);
    CHECK(fake_pop(s3) == NULL);
    CHECK(rc_app_user_sockets(app, "u1", &n) == NULL);
    CHECK_INT(n, 0);
    rc_app_user_sockets(app, "u2", &n);
    CHECK_INT(n, 1);
    CHECK_INT(rc_app_user_count(app), 1);
    int64_t until = rc_app_banned_until(app, "u1");
    CHECK(until > rc_clock_wall_ms() + 50000 && until <= rc_clock_wall_ms() + 60000);
    CHECK_INT(rc_app_banned_until(app, "u2"), 0);

    /* Banned: the next CONNECT of u1 is refused, u2's is not. */
    fake_conn c4 = {0}, c5 = {0};
    gw_session *s4 = client(gw, &c4, "u1", reply, sizeof reply);
    CHECK_STR(reply, "44{\"message\":\"Authentication error\",\"data\":{\"code\":\"FORBIDDEN\"}}");
    CHECK_INT((long)rc_counter_get(&rc_metrics.auth_failures[RC_M_AUTH_FORBIDDEN]), auth_failures + 1);
    gw_session *s5 = client(gw, &c5, "u2", reply, sizeof reply);
    CHECK(strncmp(reply, "40{\"sid\":", 9) == 0);

    /* A ban ends. */
    CHECK_INT(rc_app_ban(app, "u3", rc_clock_wall_ms() + 100), 0);
    CHECK(rc_app_banned_until(app, "u3") != 0);
    run_tasks_for(gw, 150);
    CHECK_INT(rc_app_banned_until(app, "u3"), 0);
    /* A shorter ban does not shorten one in force. */
    CHECK_INT(rc_app_ban(app, "u1", rc_clock_wall_ms() + 10), 0);
    CHECK_INT(rc_app_banned_until(app, "u1"), until);

    /* A socket still being recovered (pending, its session being taken
     * from the history) is disconnected too. */
    rc_admin_control(adm, "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u2\",\"origin\":\"x\"}",
                     strlen("{\"v\":1,\"op\":\"disconnect\",\"user\":\"u2\",\"origin\":\"x\"}"));
    CHECK_STR(fake_pop(s3), "41");
    CHECK_STR(fake_pop(s5), "41");
    fake_conn c6 = {0};
    char *tok = rc_auth_sign_hs256(SECRET, "u2", NULL, NULL, 0, (int64_t)time(NULL) + 3600);
    char pkt[1024];
    gw_session *s6 = fake_ws_session(gw, &c6);
    snprintf(pkt, sizeof pkt, "40{\"token\":\"%s\",\"pid\":\"%032d\",\"offset\":\"x-1\"}", tok, 7);
    free(tok);
    fake_feed(s6, &c6, pkt); /* the take is queued: the socket waits */
    gw_socket *pending = last_socket(gw, "u2");
    CHECK(pending != NULL);
    CHECK_INT(gw_socket_since_ms(pending), 0);
    rc_admin_control(adm, "{\"v\":1,\"op\":\"disconnect\",\"user\":\"u2\",\"origin\":\"x\"}",
                     strlen("{\"v\":1,\"op\":\"disconnect\",\"user\":\"u2\",\"origin\":\"x\"}"));
    CHECK_STR(fake_pop(s6), "41");
    CHECK(fake_pop(s6) == NULL);
    run_tasks_for(gw, 100); /* the late answer finds no socket */
    CHECK(fake_pop(s6) == NULL);
    CHECK_INT(s6->state, GW_SESSION_CLOSING);
    CHECK_INT(rc_app_user_count(app), 0);

    /* Junk and other ops change nothing. */
    rc_admin_control(adm, "not json", 8);
    rc_admin_control(adm, "{\"v\":9,\"op\":\"x\"}", 16);

    gw_session_release(s1, &c1);
    gw_session_release(s2, &c2);
    gw_session_release(s3, &c3);
    gw_session_release(s4, &c4);
    gw_session_release(s5, &c5);
    gw_session_release(s6, &c6);
    fake_advance(gw, GW_TICK_MS);
    gw_server_free_core(gw);
    rc_admin_destroy(adm);
    rc_app_set_history(app, NULL, 60000);
    rc_history_destroy(hist);
    rc_app_destroy(app);
}

int main(void)
{
    fake_quiet();
    test_token();
    test_routes();
    test_uint();
    test_messages();
    test_control();
    return CHECK_DONE();
}
