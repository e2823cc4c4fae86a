/*
 * admin.h - roomcast's admin API for operators, under /admin/ on the
 * gateway's port, and the control messages that carry an operator's
 * disconnect of a user to every node.
 *
 * Authentication: a token of its own (--admin-token-file, never a client
 * JWT) in "Authorization: Bearer <token>", compared in constant time (the
 * SHA-256 digests of both, with CRYPTO_memcmp); only its digest is kept.
 * Without a token the API does not exist (404). A missing or wrong token is
 * answered 401 {"error":"unauthorized","message":...} with
 * "WWW-Authenticate: Bearer", counted (roomcast_admin_unauthorized_total)
 * and logged at warn, never with what the request carried.
 *
 * Routes (JSON answers; docs/operations.md, "Admin API", has the fields):
 *   GET  /admin/stats                  what the node carries and counts
 *   GET  /admin/rooms?prefix=&limit=   rooms by name, with their sizes
 *   GET  /admin/rooms/{room}           a room's size and sockets
 *   GET  /admin/users/{user}           a user's sockets here and programs
 *   POST /admin/users/{user}/disconnect?scope=cluster|node&ban_seconds=N
 *        disconnects the user's sockets with a Socket.IO DISCONNECT (the
 *        client does not reconnect by itself); with scope=cluster, the
 *        default, every other node does too, through a control message on
 *        the history (rc_history_control_publish).
 *
 * Control messages, one JSON object:
 *   {"v":1,"op":"disconnect","user":"<sub>","origin":"<node id>","banMs":N}
 * Every node applies one to its own sockets (rc_admin_control), whether or
 * not it has an admin token itself; the node that published it applied it
 * already and recognises its own id.
 *
 * Loop thread only, except construction and destruction.
 */
#ifndef RC_ADMIN_H
#define RC_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/history.h"
#include "gateway/roomcast/app.h"
#include "gateway/roomcast/routes.h"
#include "gateway/server/server.h"

typedef struct rc_admin rc_admin;

/* A node id: 16 hex digits, random per process. */
#define RC_ADMIN_NODE_LEN 16
/* Longest user id or room name in an admin path. */
#define RC_ADMIN_ARG_MAX 1024
/* Default and largest ?limit of the lists. */
#define RC_ADMIN_LIMIT_DEFAULT 1000
#define RC_ADMIN_LIMIT_MAX 100000
/* Longest ?ban_seconds (a week). */
#define RC_ADMIN_BAN_MAX_S 604800

/*
 * token: the admin token (its digest is kept; NULL or "": no HTTP API, the
 * control messages are still applied); app: the application whose sockets
 * it acts on (borrowed, outlives it); hooks: /healthz's members, repeated
 * by /admin/stats (copied). NULL when out of memory or without randomness.
 */
rc_admin *rc_admin_new(const char *token, rc_app *app, const rc_routes_hooks *hooks);
void rc_admin_destroy(rc_admin *adm);

/* This node's id (RC_ADMIN_NODE_LEN hex digits). */
const char *rc_admin_node(const rc_admin *adm);

/* The history control messages are published on (borrowed), or NULL. */
void rc_admin_set_history(rc_admin *adm, rc_history *h);

/* rc_routes_handler for /admin and below: 1 answered, 0 for a 404 (no
 * token configured). ud is the rc_admin. */
int rc_admin_answer(void *ud, gw_server *gw, const gw_http_request *req, gw_http_response *resp);

/* A control message from the bus (msg[0..len), borrowed): applied to this
 * node's sockets unless it is this node's own; a malformed or unknown one
 * is logged and dropped. */
void rc_admin_control(rc_admin *adm, const char *msg, size_t len);

/* ---- pure parts, exposed for the unit tests ---- */

enum rc_admin_route {
    RC_ADMIN_NOT_FOUND,
    RC_ADMIN_BAD_ARG, /* a room or user that is empty, too long, not
                         UTF-8 or with control characters */
    RC_ADMIN_STATS,
    RC_ADMIN_ROOMS,
    RC_ADMIN_ROOM,
    RC_ADMIN_USER,
    RC_ADMIN_DISCONNECT,
};

/*
 * The route of a decoded request path, and in *arg / *arglen the room or
 * user it names (a slice of path; rest of the path, '/' included, except
 * the "/disconnect" suffix). "/admin/rooms/" is the list, like
 * "/admin/rooms".
 */
enum rc_admin_route rc_admin_route_parse(const char *path, const char **arg, size_t *arglen);

/* 1 when given is the admin token, 0 otherwise (or when there is none),
 * in time independent of where they differ. */
int rc_admin_token_ok(const rc_admin *adm, const char *given);

/* A non-negative decimal integer of at most max: 0 with *out set, -1 when
 * s is empty, has anything but digits, or is above max. */
int rc_admin_parse_uint(const char *s, int64_t max, int64_t *out);

/* The control message of a disconnect into b (reset first). 0 or -1. */
int rc_admin_encode_disconnect(rc_buf *b, const char *node, const char *user, int64_t ban_ms);

/* A control message parsed: op "disconnect" fills user (NUL-terminated,
 * at most RC_ADMIN_ARG_MAX bytes), origin and ban_ms and returns 0; -1
 * when malformed (err says why); 1 for a well-formed message of another
 * op or version (ignored: a newer node's). */
typedef struct rc_admin_msg {
    char user[RC_ADMIN_ARG_MAX + 1];
    char origin[RC_ADMIN_NODE_LEN + 1];
    int64_t ban_ms;
} rc_admin_msg;
int rc_admin_decode(const char *msg, size_t len, rc_admin_msg *out, const char **err);

#endif
