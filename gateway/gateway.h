/*
 * gateway.h - the Engine.IO/Socket.IO server on libwebsockets.
 *
 * One lws context and vhost serve /socket.io/ (WebSocket and long-polling),
 * /healthz, /readyz, /metrics, the live page at / and, in demo mode,
 * /demo/token. Everything runs on the thread that calls gateway_run(); other
 * threads talk to it only through gateway_publish(), gateway_resync(),
 * gateway_stop(), gateway_set_verifier() and gw_post() (app.h), which queue
 * work and wake the loop with lws_cancel_service().
 *
 * Each published event is encoded once into a refcounted frame; every
 * recipient's bounded queue holds a reference. Membership events are applied
 * to the membership table and to live sockets before any later event is
 * delivered.
 */
#ifndef RC_GATEWAY_H
#define RC_GATEWAY_H

#include "../core/config.h"
#include "../core/event.h"
#include "../core/history.h"
#include "../core/slice.h"
#include "app.h"
#include "auth.h"

typedef struct gateway gateway;

typedef struct gateway_hooks {
    void *ud;
    /* Appends extra members to the /healthz object, e.g.
     * "\"kafka\":{\"embedded\":true,\"bootstrap\":\"127.0.0.1:9092\"}"
     * without surrounding braces or leading comma. Called on the loop. */
    void (*health)(void *ud, rc_buf *out);
    /* 1 when the node should receive traffic (consumer assigned, history
     * reachable); /readyz answers 200 or 503. Called on the loop. */
    int (*ready)(void *ud);
} gateway_hooks;

/*
 * roomcast's gateway: the roomcast application (app_roomcast.h: JWT at
 * CONNECT, token expiry and auth:refresh, rooms, join:program /
 * leave:program, connections per user) on "/socket.io/", with the client
 * event rate limit. cfg is borrowed and must outlive the gateway; the
 * gateway takes its own reference to auth. Binds the listener (cfg->listen;
 * HTTPS and WSS when cfg->tls_cert and cfg->tls_key are set); NULL with
 * errstr set when it cannot.
 */
gateway *gateway_new(const rc_config *cfg, auth_verifier *auth,
                     const gateway_hooks *hooks, char *errstr, size_t errlen);

typedef struct gateway_options {
    const gw_app *app;          /* borrowed, must outlive the gateway */
    /* Path of Engine.IO + Socket.IO ("/socket.io/" when NULL). */
    const char *socketio_path;
    /* Path of plain Engine.IO sessions without the Socket.IO layer, whose
     * messages go to app->on_engine_message; NULL for none. */
    const char *engine_path;
    /* Per-socket token bucket for client events: sustained rate and burst;
     * 0 = no limit. A socket whose events exceed 3 x the rate (burst
     * 3 x max(rate, burst)) is disconnected. */
    int client_events_per_minute;
    int client_event_burst;
} gateway_options;

/*
 * A gateway serving another application with the same transports, routes
 * and limits (cfg: listener, heartbeat, maxPayload, CORS, queue bound,
 * connect timeout). cfg and opts->app are borrowed and must outlive the
 * gateway; the other option strings are copied.
 */
gateway *gateway_new_app(const rc_config *cfg, const gateway_options *opts,
                         const gateway_hooks *hooks, char *errstr, size_t errlen);
/* Closes whatever is still open and frees everything, queued events
 * included. Call it once gateway_run() has returned (or if it never ran),
 * and after the threads that publish have stopped. NULL is ignored. */
void gateway_destroy(gateway *gw);

/* The bound port (useful with --listen 127.0.0.1:0). */
int gateway_port(const gateway *gw);

/* Runs the loop until gateway_stop(); returns 0. */
int gateway_run(gateway *gw);

/* Thread-safe: closes clients with a reconnect hint and ends gateway_run. */
void gateway_stop(gateway *gw);

/*
 * Records that user is a member of program (memberships already in the
 * history store when the node starts). Only before gateway_run(), and only
 * for a gateway made by gateway_new(). Returns 0 or -1 when out of memory
 * (or for another application).
 */
int gateway_add_membership(gateway *gw, const char *user, const char *program);
/* The reverse, also only before gateway_run(). */
void gateway_remove_membership(gateway *gw, const char *user, const char *program);

/*
 * Thread-safe: every live client is sent an Engine.IO CLOSE (a reconnect
 * hint) so that it reconnects and catches up from history. For when the bus
 * may have lost events (history reconnected to Redis); events published
 * after this call are delivered after the closes.
 */
void gateway_resync(gateway *gw);

/*
 * Thread-safe: from its next loop iteration on, the roomcast application
 * verifies CONNECTs, recoveries and auth:refresh with v (a key reload);
 * the gateway takes its own reference to v (the caller keeps its own) and
 * drops the one to the verifier it replaces. Sockets already connected are
 * not touched. Returns 0, or -1 when out of memory or when gw is not made
 * by gateway_new().
 */
int gateway_set_verifier(gateway *gw, auth_verifier *v);

/*
 * The history (borrowed) that keeps the sessions of disconnected sockets
 * and replays what they missed: connection state recovery (window:
 * cfg->recovery_window_ms) and catch-up by lastOffset / lastEventTimestamp
 * (docs/protocol.md, "Reconnect and catch-up"). Without one, sockets get no
 * pid and catch-up answers truncated. Call it before gateway_run(), and
 * with NULL once gateway_run() has returned and before rc_history_destroy().
 * Only for a gateway made by gateway_new() (ignored otherwise).
 */
void gateway_set_history(gateway *gw, rc_history *h);

/* Thread-safe: takes a new reference to ev; events are delivered in the
 * order they are published. Returns 0 or -1 when out of memory. */
int gateway_publish(gateway *gw, rc_event *ev);

/* ---- per-socket timer and extension, for applications (app.h) ---- */

/*
 * The socket's one application timer: cb(sk) runs on the loop after ms
 * (precision GW_TICK_MS, O(1) on the gateway's timing wheel); arming it
 * again moves it. It is cancelled when the socket goes away. Returns 0, or
 * -1 when the socket is gone.
 */
int gw_socket_set_timer(gw_socket *sk, int ms, void (*cb)(gw_socket *sk));
void gw_socket_cancel_timer(gw_socket *sk);

/*
 * A second application slot, independent of gw_socket_set_data(): ext is
 * owned by the socket from then on, and free_ext(ext) is called once when
 * the socket goes away, whichever way (rejected, disconnected, its session
 * closed), after on_disconnect. A previous ext is freed first. Returns 0, or
 * -1 when the socket is gone (ext stays the caller's).
 */
int gw_socket_set_ext(gw_socket *sk, void *ext, void (*free_ext)(void *ext));
void *gw_socket_ext(const gw_socket *sk);

#endif
