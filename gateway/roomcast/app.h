/*
 * app.h - roomcast's application on the Socket.IO server (gateway/server/app.h):
 * what a Socket.IO client of the product can do.
 *
 * CONNECT on "/" (the only namespace) needs a JWT, from the auth payload's
 * "token" or the handshake's "Authorization: Bearer" header; a refusal is
 * CONNECT_ERROR {"message":"Authentication error","data":{"code":...}} with
 * TOKEN_MISSING, TOKEN_INVALID or TOKEN_EXPIRED. An accepted socket joins
 * user:{sub} and program:{id} for every program of its token's "programs"
 * claim and of the membership table. Client events: join:program and
 * leave:program (a program id: string, integer, or {"programId": ...});
 * joining needs a membership. Answers are acks {ok:true} or
 * {ok:false,error:{code,message?}} with FORBIDDEN, INVALID_ARGUMENT or
 * RATE_LIMITED; an event without an ack id gets the refusal as an "error"
 * event. member:added / member:removed events update the membership table
 * and the rooms of the user's live sockets before they are broadcast. With
 * a history (rc_app_set_history), a client that comes back gets what
 * it missed: connection state recovery and catch-up (recovery.h).
 *
 * A live socket's token keeps mattering: when its exp (plus the leeway)
 * passes, the socket gets "auth:expired" {"exp","graceMs"} and is
 * disconnected (Socket.IO DISCONNECT) after the grace period unless it sends
 * "auth:refresh" {token} with a valid token of the same sub (ack
 * {ok:true,exp}; refused with TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED or
 * FORBIDDEN); a refresh replaces the socket's identity, its programs claim
 * (rooms only the old claim gave are left, new ones joined) and its expiry,
 * at any time. A user holds at most max-connections-per-user sockets on a
 * node: beyond, CONNECT_ERROR {"message":"Connection limit","data":{"code":
 * "TOO_MANY_CONNECTIONS"}}. A user an operator banned for a while
 * (rc_app_ban) is refused with the code FORBIDDEN.
 *
 * Loop thread only, except construction and destruction.
 */
#ifndef RC_APP_H
#define RC_APP_H

#include <stdint.h>

#include "core/history.h"
#include "gateway/server/app.h"
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/membership.h"
#include "gateway/roomcast/routes.h"

typedef struct rc_app rc_app;

/* Takes its own reference to auth. NULL when out of memory. Without
 * rc_app_set_limits(): no leeway, no grace, no per-user limit. */
rc_app *rc_app_new(rc_auth_verifier *auth);
/* After the gateway using it is destroyed. NULL is ignored. */
void rc_app_destroy(rc_app *a);

/* The callback table to give the server (borrowed from a). */
const gw_app *rc_app_callbacks(rc_app *a);

/* An event about to be broadcast (loop thread): a member:added or
 * member:removed updates the membership table and moves the user's live
 * sockets on gw first, and recovery notes the offset. */
void rc_app_publish(rc_app *a, gw_server *gw, const rc_event *ev);

/* Takes m as the membership table in place of the current one (at the end
 * of start-up, before clients are admitted: live sockets are not moved). */
void rc_app_adopt_members(rc_app *a, rc_membership *m);

/* The history for connection state recovery and catch-up (recovery.h:
 * rc_recovery_set_history), or NULL to detach it. */
void rc_app_set_history(rc_app *a, rc_history *h, int recovery_window_ms);

/* Verifies from now on with v (a key reload): takes a reference to v and
 * drops the one to the previous verifier. Connected sockets are kept. */
void rc_app_set_verifier(rc_app *a, rc_auth_verifier *v);

/* jwt-leeway (s), auth-grace (ms) and max-connections-per-user (0 = none);
 * before the gateway runs. */
void rc_app_set_limits(rc_app *a, int leeway_s, int auth_grace_ms, int max_connections_per_user);

/* The HTTP routes the application answers beside /socket.io/ (borrowed;
 * NULL: none). */
void rc_app_set_routes(rc_app *a, const rc_routes *routes);

/* ---- what operators ask (admin.h) ---- */

/* Users with at least one socket on this node. */
size_t rc_app_user_count(const rc_app *a);

/* The sockets of user sub on this node, accepted or being accepted (their
 * token verified, a recovery under way), oldest first, in a vector owned
 * by a that stays valid until the next call; *n gets the count. NULL with
 * *n = 0 when there is none (or out of memory). */
gw_socket **rc_app_user_sockets(rc_app *a, const char *sub, size_t *n);

/* The user (JWT sub) of a socket of the application, or NULL. */
const char *rc_app_socket_user(const gw_socket *sk);

/* The membership table (borrowed: valid until the next loop task). */
const rc_membership *rc_app_members(const rc_app *a);

/*
 * Disconnects every socket of user sub on this node, accepted or being
 * accepted, with a Socket.IO DISCONNECT and its session closed
 * (gw_socket_disconnect(sk, reason, 1): the client sees "io server
 * disconnect" and does not reconnect by itself). Their recovery sessions
 * are deleted, not kept. Returns how many sockets there were.
 */
size_t rc_app_disconnect_user(rc_app *a, const char *sub, const char *reason);

/* Users banned at once at most (rc_app_ban). */
#define RC_MAX_BANS 100000

/*
 * Until until_ms (wall clock), CONNECTs of user sub are refused with
 * CONNECT_ERROR {"message":"Authentication error","data":{"code":
 * "FORBIDDEN"}} (a later ban than one in force extends it; an earlier one
 * changes nothing). In memory: forgotten at a restart. 0, or -1 when out of
 * memory or RC_MAX_BANS users are banned already.
 */
int rc_app_ban(rc_app *a, const char *sub, int64_t until_ms);
/* When user sub's ban ends (wall clock, ms), or 0 when not banned. */
int64_t rc_app_banned_until(rc_app *a, const char *sub);

#endif
