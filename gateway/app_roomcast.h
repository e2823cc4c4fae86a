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
 * and the rooms of the user's live sockets before they are broadcast.
 *
 * Loop thread only, except construction and destruction.
 */
#ifndef RC_APP_ROOMCAST_H
#define RC_APP_ROOMCAST_H

#include "app.h"
#include "auth.h"

typedef struct app_roomcast app_roomcast;

/* auth is borrowed and must outlive the application. NULL when out of
 * memory. */
app_roomcast *app_roomcast_new(const auth_verifier *auth);
/* After the gateway using it is destroyed. NULL is ignored. */
void app_roomcast_destroy(app_roomcast *a);

/* The callback table to give the gateway (borrowed from a). */
const gw_app *app_roomcast_app(app_roomcast *a);

/* Records a membership (1 added, 0 known, -1 out of memory). */
int app_roomcast_add_membership(app_roomcast *a, const char *user, const char *program);
/* Forgets one (before the gateway runs: live sockets are not moved). */
void app_roomcast_remove_membership(app_roomcast *a, const char *user, const char *program);

#endif
