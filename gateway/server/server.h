/*
 * server.h - an Engine.IO v4 / Socket.IO v5 server on libwebsockets: the
 * library's lifecycle, its options and the calls other threads may make.
 *
 * One lws context and vhost serve the Socket.IO path (WebSocket and
 * long-polling, with the upgrade between them), optionally a plain
 * Engine.IO path, and whatever other HTTP routes the application answers
 * (app.h: on_http). What a CONNECT means and what client events do belongs
 * to the application (app.h); the server knows nothing of any product.
 *
 * Threads. Everything runs on the thread that calls gw_server_run(), except
 * gw_server_stop() and gw_post(), which may be called from any thread: they
 * queue work and wake the loop.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stddef.h>

#include "gateway/server/app.h"

typedef struct gw_options {
    const gw_app *app;          /* borrowed, must outlive the server */
    const char *listen;         /* "HOST:PORT" (port 0: a free one) */
    const char *tls_cert;       /* PEM files: HTTPS and WSS when both are */
    const char *tls_key;        /* set, plain HTTP and WS when neither is */
    int ping_interval_ms;       /* Engine.IO pingInterval (> 0) */
    int ping_timeout_ms;        /* Engine.IO pingTimeout (> 0) */
    long max_payload;           /* Engine.IO maxPayload in bytes (> 0) */
    int queue_max;              /* frames a session may have queued (> 0);
                                     beyond, it is disconnected as too slow */
    int connect_timeout_ms;     /* time a session has to send CONNECT (> 0) */
    const char *cors_origins;   /* cross-origin policy (cors.h): a
                                     comma-separated allow-list of origins,
                                     "*" for any origin without credentials;
                                     NULL or "" = same-origin only */
    int max_connections_per_ip; /* open sessions per client address; 0 = no
                                     limit */
    /* Per-socket token bucket for client events: sustained rate and burst;
     * 0 = no limit. A socket whose events exceed 3 x the rate (burst
     * 3 x max(rate, burst)) is disconnected. */
    int client_events_per_minute;
    int client_event_burst;
    /* Path of Engine.IO + Socket.IO ("/socket.io/" when NULL). */
    const char *socketio_path;
    /* Path of plain Engine.IO sessions without the Socket.IO layer, whose
     * messages go to app->on_engine_message; NULL for none. */
    const char *engine_path;
    /* Nonzero: new Engine.IO sessions are refused (503, "Server starting")
     * until gw_server_admit(); the other HTTP routes answer meanwhile. */
    int start_closed;
} gw_options;

/*
 * Checks the options as gw_server_new() does, without binding or starting
 * anything: the values, the paths, the listen address (a host name is
 * resolved) and the TLS files. 0, or -1 with errstr set, naming the option
 * by its field's name with dashes ("listen ...", "tls-key ..."). Blocking
 * file I/O: at start-up only.
 */
int gw_server_check(const gw_options *opts, char *errstr, size_t errlen);

/*
 * Checks the options, binds the listener and sets up the loop. Everything
 * in opts is copied except opts->app. NULL with errstr set when it cannot
 * (bad option, unreadable or mismatched TLS files, address in use).
 */
gw_server *gw_server_new(const gw_options *opts, char *errstr, size_t errlen);

/* Closes whatever is still open and frees everything, posted tasks
 * included (run with gw NULL). Call it once gw_server_run() has returned
 * (or if it never ran), after the threads that post have stopped. NULL is
 * ignored. */
void gw_server_destroy(gw_server *gw);

/* The bound port (useful with port 0). */
int gw_server_port(const gw_server *gw);

/* Runs the loop until the shutdown that gw_server_stop() starts is over;
 * returns 0. */
int gw_server_run(gw_server *gw);

/* Thread-safe: closes every session with an Engine.IO CLOSE (clients
 * reconnect elsewhere), lets them flush for a few seconds at most, and
 * ends gw_server_run(). */
void gw_server_stop(gw_server *gw);

/* Loop thread: 1 once the shutdown has begun. */
int gw_server_stopping(const gw_server *gw);

/* Loop thread: from now on new Engine.IO sessions are accepted (a server
 * built with start_closed). */
void gw_server_admit(gw_server *gw);

/* Loop thread: 1 while new sessions are accepted (open and not stopping). */
int gw_server_admitting(const gw_server *gw);

/* What the server carries now (loop thread). */
typedef struct gw_stats {
    size_t sessions;  /* open Engine.IO sessions */
    size_t websocket; /* of which carried by a WebSocket */
    size_t polling;   /* and by long-polling (not upgraded, or never) */
    size_t sockets;   /* connected Socket.IO sockets */
    size_t rooms;     /* non-empty rooms, every namespace's */
} gw_stats;
void gw_server_stats(const gw_server *gw, gw_stats *out);

/*
 * Loop thread: calls cb with each non-empty room of namespace "/" and its
 * number of members (sockets accepted or being accepted), in no particular
 * order. O(rooms); cb must not join or leave rooms.
 */
void gw_server_foreach_room(const gw_server *gw,
                            void (*cb)(const char *room, size_t members, void *ud), void *ud);

/*
 * Loop thread: every open session is sent an Engine.IO CLOSE and closed
 * once it is flushed, so that its client reconnects (socket.io-client does
 * after a transport close, not after a Socket.IO DISCONNECT). Returns how
 * many were. reason is logged.
 */
size_t gw_server_reconnect_all(gw_server *gw, const char *reason);

/*
 * Loop thread: emits event name with args (JSON text without the array's
 * brackets, "" for none) and, when offset is not empty, offset as a last
 * string argument, to every accepted socket of namespace "/" in any of the
 * rooms, once per socket whatever the number of its rooms. The packet is
 * encoded once and shared by every recipient's queue. A socket under a hold
 * (gw_hold_start) keeps it or skips it as app.h says. Returns the number of
 * sockets it was queued on, or -1 when out of memory.
 */
long gw_broadcast(gw_server *gw, const char *const *rooms, size_t nrooms, const char *name,
                  const char *args, size_t args_len, const char *offset);

#endif
