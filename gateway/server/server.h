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
#include <stdint.h>

#include "core/prom.h"
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

/* The transports of an Engine.IO session. */
enum gw_transport { GW_TR_POLLING, GW_TR_WEBSOCKET, GW_TR__COUNT };
/* "polling" or "websocket". */
const char *gw_server_transport_name(enum gw_transport tr);

/* What the server carries now (loop thread). */
typedef struct gw_stats {
    size_t sessions;                   /* open Engine.IO sessions */
    size_t by_transport[GW_TR__COUNT]; /* the same, by current transport */
    size_t sockets;                    /* connected Socket.IO sockets */
    size_t rooms;                      /* non-empty rooms */
} gw_stats;
void gw_server_stats(const gw_server *gw, gw_stats *out);

/* What became of a broadcast frame queued for a socket (gw_counters). */
enum gw_delivery {
    GW_DELIVERY_WRITTEN, /* handed to the socket: lws_write() took the
                            WebSocket frame, or the long-polling response
                            carrying it was written */
    GW_DELIVERY_DROPPED, /* never written: the queue was full (slow
                            client), or the session or connection closed
                            or failed first */
    GW_DELIVERY__COUNT
};

/* Why the server refused a client's input (gw_counters). */
enum gw_client_error {
    GW_ERR_MALFORMED,    /* an Engine.IO or Socket.IO packet or payload that
                             does not parse */
    GW_ERR_TOO_LARGE,    /* over maxPayload, or too many attachments, or a
                             namespace too long */
    GW_ERR_PROTOCOL,     /* a packet the protocol does not allow then */
    GW_ERR_IP_LIMIT,     /* a handshake over max_connections_per_ip */
    GW_ERR_RATE_LIMITED, /* a client event over the token bucket */
    GW_ERR_FLOOD,        /* events over 3 x the rate: disconnected */
    GW_ERR_TIMEOUT,      /* a request (a POST body) not complete in time */
    GW_ERR__COUNT
};
/* The label value of a reason: "malformed", "too_large", ... */
const char *gw_server_client_error_name(enum gw_client_error e);

/*
 * Cumulative counters of a server, for the application to export under
 * its own names. Updated on the loop thread without locks (relaxed
 * atomics, core/prom.h); any thread may read them.
 */
typedef struct gw_counters {
    rc_counter handshakes[GW_TR__COUNT]; /* sessions opened, by first transport */
    rc_counter upgrades;                 /* sessions upgraded to WebSocket */
    rc_counter deliveries[GW_DELIVERY__COUNT];
    rc_counter slow_disconnects; /* sessions closed for a full queue
                                            (or a catch-up that fell behind) */
    rc_counter client_errors[GW_ERR__COUNT];
    rc_counter rate_limited_sockets; /* sockets refused an event by the
                                            rate limit, each counted once */
    /* From the origin time given to gw_broadcast() to the frame written
     * (GW_DELIVERY_WRITTEN), for frames that have one. */
    rc_histogram delivery_latency;
} gw_counters;
const gw_counters *gw_server_counters(const gw_server *gw);

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
 * (gw_hold_start) keeps it or skips it as app.h says. origin_ms is when the
 * message came to be (wall clock, ms since the epoch; negative: unknown):
 * the delivery latency histogram measures from it. Returns the number of
 * sockets it was queued on, or -1 when out of memory.
 */
long gw_broadcast(gw_server *gw, const char *const *rooms, size_t nrooms, const char *name,
                  const char *args, size_t args_len, const char *offset, int64_t origin_ms);

#endif
