/*
 * gateway.h - roomcast's gateway: the Socket.IO server (gateway/server/)
 * with roomcast's application (app.h), its HTTP routes (routes.h) and admin
 * API (admin.h), and the calls the rest of the process makes into it.
 *
 * The process (roomcast_main.c) builds one, hands it the history, publishes
 * every event the history's bus delivers, and stops it on SIGTERM. Every
 * rc_gateway_* call may come from any thread unless it says otherwise:
 * work is posted to the server's loop (gw_post), which runs it in order.
 */
#ifndef RC_GATEWAY_H
#define RC_GATEWAY_H

#include <stddef.h>

#include "core/event.h"
#include "core/history.h"
#include "core/slice.h"
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/membership.h"
#include "gateway/roomcast/routes.h"
#include "gateway/server/server.h"

typedef struct rc_gateway rc_gateway;

typedef struct rc_gateway_options {
    gw_options server;            /* listener, heartbeat, limits; .app and
                                   .socketio_path are set by the gateway */
    int jwt_leeway_s;             /* a token is past at exp + this */
    int auth_grace_ms;            /* time to refresh after auth:expired */
    int max_connections_per_user; /* sockets per user on a node; 0 = none */
    int recovery_window_ms;       /* how long a lost socket's session is kept */
    int demo;                     /* demo mode: /demo/token signs tokens */
    const char *demo_secret;      /* with this HS256 secret (copied); NULL
                                   when there is none */
    const char *admin_token;      /* the admin API's token (its digest is
                                   kept); NULL or "": no admin API */
    rc_routes_hooks hooks;        /* /healthz, /readyz and /admin/stats */
} rc_gateway_options;

/* Binds the listener; takes its own reference to auth. NULL with errstr
 * set when it cannot. */
rc_gateway *rc_gateway_new(const rc_gateway_options *opts, rc_auth_verifier *auth, char *errstr,
                           size_t errlen);
/* After rc_gateway_run() returned and the publishing threads stopped. NULL
 * is ignored. */
void rc_gateway_destroy(rc_gateway *g);

/* The bound port. */
int rc_gateway_port(const rc_gateway *g);
/* Runs the loop on the calling thread until rc_gateway_stop(). */
int rc_gateway_run(rc_gateway *g);
/* Closes clients with a reconnect hint and ends rc_gateway_run(). */
void rc_gateway_stop(rc_gateway *g);

/* Takes a new reference to ev and delivers it on the loop: membership side
 * effects first, then the broadcast to its rooms; events are delivered in
 * the order they are published. Returns 0 or -1 when out of memory. */
int rc_gateway_publish(rc_gateway *g, rc_event *ev);

/*
 * Every live client is sent an Engine.IO CLOSE (a reconnect hint) so that
 * it reconnects and catches up from history: for when the bus may have
 * lost events. Events published after this call are delivered after the
 * closes.
 */
void rc_gateway_resync(rc_gateway *g);

/* From its next loop iteration on, CONNECTs, recoveries and auth:refresh
 * are verified with v (a key reload); the gateway takes its own reference.
 * Returns 0 or -1 when out of memory. */
int rc_gateway_set_verifier(rc_gateway *g, rc_auth_verifier *v);

/*
 * The end of start-up, from any thread, once: on the loop, the history
 * (borrowed) is used for connection state recovery and catch-up, members
 * (taken; may be NULL) becomes the membership table, and new clients are
 * admitted (until then their handshakes are refused with 503, while
 * /healthz and /readyz answer). Returns 0, or -1 when out of memory
 * (members is then destroyed).
 */
int rc_gateway_open(rc_gateway *g, rc_history *h, rc_membership *members);

/* After rc_gateway_run() returned, before rc_history_destroy(): the
 * history is no longer used. */
void rc_gateway_forget_history(rc_gateway *g);

/* A control message from the history (rc_history_on_control; msg[0..len)
 * is copied), applied on the loop by the admin API's module (admin.h:
 * rc_admin_control). Returns 0 or -1 when out of memory. */
int rc_gateway_control(rc_gateway *g, const char *msg, size_t len);

/* This node's id in the admin API and its control messages. */
const char *rc_gateway_node(const rc_gateway *g);

#endif
