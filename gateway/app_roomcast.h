/*
 * app_roomcast.h - roomcast's application on the gateway (app.h): what a
 * Socket.IO client of the product can do.
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
 * a history (app_roomcast_set_history), a client that comes back gets what
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
 * "TOO_MANY_CONNECTIONS"}}.
 *
 * Loop thread only, except construction and destruction.
 */
#ifndef RC_APP_ROOMCAST_H
#define RC_APP_ROOMCAST_H

#include "../core/history.h"
#include "app.h"
#include "auth.h"

typedef struct app_roomcast app_roomcast;

/* Takes its own reference to auth. NULL when out of memory. Without
 * app_roomcast_set_limits(): no leeway, no grace, no per-user limit. */
app_roomcast *app_roomcast_new(auth_verifier *auth);
/* After the gateway using it is destroyed. NULL is ignored. */
void app_roomcast_destroy(app_roomcast *a);

/* The callback table to give the gateway (borrowed from a). */
const gw_app *app_roomcast_app(app_roomcast *a);

/* Records a membership (1 added, 0 known, -1 out of memory). */
int app_roomcast_add_membership(app_roomcast *a, const char *user, const char *program);
/* Forgets one (before the gateway runs: live sockets are not moved). */
void app_roomcast_remove_membership(app_roomcast *a, const char *user, const char *program);

/* The history for connection state recovery and catch-up (recovery.h:
 * recovery_set_history), or NULL to detach it. */
void app_roomcast_set_history(app_roomcast *a, rc_history *h, int recovery_window_ms);

/* Verifies from now on with v (a key reload): takes a reference to v and
 * drops the one to the previous verifier. Connected sockets are kept. */
void app_roomcast_set_verifier(app_roomcast *a, auth_verifier *v);

/* jwt-leeway (s), auth-grace (ms) and max-connections-per-user (0 = none);
 * before the gateway runs. */
void app_roomcast_set_limits(app_roomcast *a, int leeway_s, int auth_grace_ms,
                             int max_connections_per_user);

#endif
