/*
 * app.h - the interface between the server's Socket.IO layer and the
 * application that decides what sockets do.
 *
 * The server speaks Engine.IO and Socket.IO: transports, heartbeats,
 * namespaces, packet codecs, acknowledgements, binary attachments, rate
 * limits. What a CONNECT means (check a token, join rooms), what an event
 * does (join a program, echo it back) and what other HTTP routes answer
 * belongs to an application: a gw_app table of callbacks given to
 * gw_server_new() (server.h). roomcast's product (gateway/roomcast/) and
 * the protocol conformance server (gateway/conformance/) are two
 * applications over the same server.
 *
 * Everything here runs on the server's loop thread: callbacks are called
 * from it and the functions declared here may only be called from it,
 * except gw_post().
 *
 * Socket lifetime. A gw_socket is one client's connection to one namespace
 * of one Engine.IO session. It is created when a CONNECT for an allowed
 * namespace arrives and handed to on_connect, which must answer it with
 * gw_socket_accept() or gw_socket_reject(), during the call or later (an
 * asynchronous check); until then it is pending and receives nothing.
 * on_disconnect is called exactly once for every socket that was accepted
 * or that went away while pending (never after gw_socket_reject()); the
 * pointer is invalid once it returns. Every other callback only sees
 * accepted sockets.
 *
 * Argument lists travel as JSON text, exactly as received or to be sent:
 * the elements of the array without its brackets ("1,\"2\",{\"3\":[true]}",
 * "" for none), so that an application can pass arguments through without
 * re-encoding them (numbers and key order survive unchanged). Binary
 * attachments are rc_slices indexed by the "num" of the
 * {"_placeholder":true,"num":n} objects that stand for them in the JSON;
 * gw_socket_attachment() resolves one. An application that emits binary data
 * writes the placeholders itself and passes the attachments in order.
 */
#ifndef GW_APP_H
#define GW_APP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

/* Longest offset (gw_broadcast, holds), terminator included. */
#define GW_OFFSET_MAX 48

typedef struct gw_server gw_server;
typedef struct gw_socket gw_socket;
typedef struct gw_session gw_session;

/* What a CONNECT carried. Everything is borrowed for the duration of
 * on_connect only. */
typedef struct gw_handshake {
    const char *nsp;    /* "/" or "/name" */
    json_t *auth;       /* the CONNECT payload (an object), or NULL */
    rc_slice auth_raw;  /* its JSON text as received ("" when none) */
    const char *bearer; /* token of the handshake's "Authorization:
                             Bearer" header, or NULL */
} gw_handshake;

/* A client event (EVENT or BINARY_EVENT), or a client's ACK of a server
 * event. Everything is borrowed for the duration of the callback. */
typedef struct gw_event {
    const char *name;            /* event name; NULL for an ACK */
    json_t *args;                /* the arguments as a JSON array (name
                                  excluded), placeholders unresolved */
    rc_slice args_raw;           /* the same arguments as received, without
                                  the array brackets */
    long long ack_id;            /* ack requested by the client, or -1 */
    const rc_slice *attachments; /* binary attachments, by placeholder num */
    size_t nattachments;
} gw_event;

/* An HTTP request on a path the server does not serve itself (neither the
 * Socket.IO nor the Engine.IO path). Opaque; borrowed for on_http. */
typedef struct gw_http_request gw_http_request;

/* The request's method: "GET", "HEAD" or "POST". */
const char *gw_http_request_method(const gw_http_request *req);
/* The request's path, without the query string. */
const char *gw_http_path(const gw_http_request *req);
/* The url-decoded value of query argument name ("sub" for ?sub=x) copied
 * into buf, or NULL when absent or longer than cap - 1. */
const char *gw_http_query(const gw_http_request *req, const char *name, char *buf, size_t cap);
/* The token of an "Authorization: Bearer <token>" header (scheme without
 * case, spaces after it skipped) copied into buf; NULL when there is no
 * such header, its scheme is another, the token is empty, or it is longer
 * than cap - 1. */
const char *gw_http_request_bearer(const gw_http_request *req, char *buf, size_t cap);
/* The client address of the connection (an IPv4-mapped IPv6 address as
 * plain IPv4; a proxy's own behind one) copied into buf, or NULL when
 * unknown. */
const char *gw_http_request_peer(const gw_http_request *req, char *buf, size_t cap);

/* The answer on_http fills: status, content type (static) and body. */
typedef struct gw_http_response {
    unsigned status;
    const char *content_type;
    rc_buf body;              /* owned by the server */
    const char *authenticate; /* a 401's WWW-Authenticate challenge
                                 (static, e.g. "Bearer"), or NULL */
} gw_http_response;

/* The callback that receives the client's ACK of gw_socket_emit_ack():
 * ev is the acknowledgement (name NULL, ack_id -1), or NULL when the socket
 * went away before it came. */
typedef void (*gw_ack_cb)(void *ud, gw_socket *sk, const gw_event *ev);

typedef struct gw_app {
    void *ud;
    /* 1 when the namespace exists. NULL: only "/". A CONNECT to any other
     * namespace gets CONNECT_ERROR {"message":"Invalid namespace"}. */
    int (*namespace_allowed)(void *ud, const char *nsp);
    /* A CONNECT: answer with gw_socket_accept() or gw_socket_reject(), now
     * or later. Required. */
    void (*on_connect)(void *ud, gw_socket *sk, const gw_handshake *hs);
    /* A client event on an accepted socket. Required. */
    void (*on_event)(void *ud, gw_socket *sk, const gw_event *ev);
    /* A client event refused by the per-socket rate limit (the server
     * counts it: gw_counters, GW_ERR_RATE_LIMITED). NULL: dropped
     * silently. */
    void (*on_rate_limited)(void *ud, gw_socket *sk, const gw_event *ev);
    /* An accepted socket is about to go away, still in its rooms
     * (gw_socket_foreach_room, gw_socket_lost work; it must not emit, join
     * or leave). on_disconnect follows. NULL: nothing. */
    void (*on_disconnecting)(void *ud, gw_socket *sk, const char *reason);
    /* The socket is going away (reason is a short static string). */
    void (*on_disconnect)(void *ud, gw_socket *sk, const char *reason);
    /* Sessions on the plain Engine.IO path (gw_options.engine_path):
     * one Engine.IO message, text or binary, borrowed for the call. */
    void (*on_engine_message)(void *ud, gw_session *s, const char *data, size_t len, int binary);
    /* A GET, HEAD or POST on another path (gw_http_request_method): fill
     * resp and return 1, or return 0 for a 404; a route that does not take
     * the method answers 405 itself. The server sends a HEAD response
     * without its body (the headers, Content-Length included, are GET's).
     * A POST's body is not read: the connection is closed after the
     * answer. Other methods on other paths get 405. NULL: GET and HEAD on
     * every such path are a 404, other methods a 405. */
    int (*on_http)(void *ud, gw_server *gw, const gw_http_request *req, gw_http_response *resp);
    /* For holds with a floor (gw_hold_release): 1 when an event of offset
     * was already covered by a replay up to floor (same epoch, at or
     * before it), 0 when it comes after (from then on nothing at or below
     * the floor can follow). NULL: holds take no floor. */
    int (*offset_covered)(void *ud, const char *offset, const char *floor);
    /* Periodic work, every GW_APP_TICK_MS. NULL: none. */
    void (*on_tick)(void *ud, gw_server *gw);
} gw_app;

#define GW_APP_TICK_MS 250

/* ---- sockets ---- */

/* The socket's Socket.IO id, its namespace, and its server. */
const char *gw_socket_id(const gw_socket *sk);
const char *gw_socket_nsp(const gw_socket *sk);
gw_server *gw_socket_server(const gw_socket *sk);
/* The Engine.IO session id carrying the socket (for log lines). */
const char *gw_socket_sid(const gw_socket *sk);

/* Application data attached to the socket (borrowed by the server; the
 * application frees it in on_disconnect). */
void gw_socket_set_data(gw_socket *sk, void *data);
void *gw_socket_data(const gw_socket *sk);

/*
 * Accepts a pending socket: sends CONNECT {"sid":"<id>"...}, with
 * extra_members (JSON object members without braces, e.g. "\"pid\":\"x\"",
 * or NULL) appended. The socket then receives broadcasts to its rooms and
 * its events. Returns 0, or -1 when the socket is not pending or the
 * session is closing (on_disconnect follows in that case).
 */
int gw_socket_accept(gw_socket *sk, const char *extra_members);

/*
 * Refuses a pending socket: sends CONNECT_ERROR with error_json (a JSON
 * object, e.g. {"message":"Authentication error","data":{...}}) and forgets
 * the socket. Returns 0 or -1 (not pending).
 */
int gw_socket_reject(gw_socket *sk, const char *error_json);

/*
 * Server-side disconnect: sends DISCONNECT for the namespace, calls
 * on_disconnect and forgets the socket; with close_session the Engine.IO
 * session is then closed too (after what is queued has been sent).
 */
void gw_socket_disconnect(gw_socket *sk, const char *reason, int close_session);

/*
 * Emits an event: args is the argument list without brackets (may be NULL
 * or ""), trusted to be valid JSON; natt attachments make it a BINARY_EVENT
 * whose args hold placeholders 0..natt-1. Returns 0, or -1 when it was not
 * queued (socket not accepted, queue full, out of memory).
 */
int gw_socket_emit(gw_socket *sk, const char *event, const char *args, size_t args_len,
                   const rc_slice *att, size_t natt);

/*
 * Same, asking the client to acknowledge: cb(ud, sk, ack) is called once
 * with the client's ACK, or with NULL when the socket goes away first.
 * At most GW_MAX_PENDING_ACKS acknowledgements may be outstanding per
 * socket; beyond that -1 (and cb is not called).
 */
#define GW_MAX_PENDING_ACKS 256
int gw_socket_emit_ack(gw_socket *sk, const char *event, const char *args, size_t args_len,
                       const rc_slice *att, size_t natt, gw_ack_cb cb, void *ud);

/* Answers a client event that asked for an ack (ack_id >= 0): ACK, or
 * BINARY_ACK with attachments. Returns 0 or -1. */
int gw_socket_ack(gw_socket *sk, long long ack_id, const char *args, size_t args_len,
                  const rc_slice *att, size_t natt);

/* Room membership of an accepted or pending socket. Rooms are per
 * namespace; broadcasts (gw_broadcast) go to rooms of "/". A room
 * name holds no control characters. 1 joined/left, 0 already/not a member,
 * -1 bad name or out of memory. */
int gw_socket_join(gw_socket *sk, const char *room);
int gw_socket_leave(gw_socket *sk, const char *room);

/*
 * The accepted sockets of room (namespace "/") at the time of the call, in a
 * vector owned by the server that stays valid until the next call (so the
 * caller may join or leave rooms while walking it). *n gets the count.
 * NULL with *n = 0 when the room is empty or out of memory.
 */
gw_socket **gw_socket_room_list(gw_server *gw, const char *room, size_t *n);

/* The transport carrying the socket's session now: "websocket" or
 * "polling" (a polling session that upgraded is "websocket"). */
const char *gw_socket_transport(const gw_socket *sk);
/* The client address the socket's session was opened from (a proxy's,
 * behind one), written into buf (INET6_ADDRSTRLEN bytes are enough), or
 * NULL when unknown. */
const char *gw_socket_peer(const gw_socket *sk, char *buf, size_t cap);
/* When the socket was accepted (wall clock, ms since 1970); 0 while it is
 * pending. */
int64_t gw_socket_since_ms(const gw_socket *sk);

/* 1 when the attachment stands for a placeholder object v of ev, with its
 * bytes in *out. */
int gw_socket_attachment(const gw_event *ev, const json_t *v, rc_slice *out);

/* ---- plain Engine.IO sessions ---- */

/* Sends one message, text (valid UTF-8) or binary, on a session of the
 * plain Engine.IO path. Returns 0 or -1. */
int gw_session_send_message(gw_session *s, const char *data, size_t len, int binary);

/* ---- catching a socket up from history ---- */

/*
 * Sends one socket of "/" an event as gw_broadcast() encodes it:
 * 42["<name>",<args>,"<offset>"] (no offset when offset is ""). Returns 0,
 * or -1 when it was not queued (socket not accepted, another namespace,
 * queue full, out of memory).
 */
int gw_socket_send_event(gw_socket *sk, const char *name, const char *args, size_t args_len,
                         const char *offset);

/*
 * Holds the socket's share of broadcasts (gw_broadcast) instead of
 * sending it, for an accepted socket or a pending one that joined rooms:
 * frames are kept in order, at most queue-max (beyond, the hold
 * overflows), until gw_hold_release(). For replaying history to a socket
 * while live events keep coming. Returns 0, or -1 when already held (or
 * gone, or out of memory).
 */
int gw_hold_start(gw_socket *sk);

/*
 * Ends a hold. With deliver, the kept frames are sent, except those of
 * events whose offset the floor covers (app->offset_covered; NULL or ""
 * for none); later broadcasts are checked against floor too,
 * until one is past it, so an event that the replay already gave is not
 * sent twice. Without deliver, they are dropped. Returns 0, or -1 when
 * there was no hold, or when the hold overflowed or the frames did not fit
 * in the queue (with deliver, the session is then closed as too slow: the
 * client reconnects).
 */
int gw_hold_release(gw_socket *sk, const char *floor, int deliver);

/* Frames the socket's session can still take (queue-max minus what is
 * queued and held). */
size_t gw_socket_queue_room(const gw_socket *sk);

/*
 * Gives a pending socket another id (a recovered socket keeps the id it
 * had): 1 to 20 characters of [A-Za-z0-9_-]. Returns 0, or -1 when the
 * socket is not pending or the id is not valid.
 */
int gw_socket_set_id(gw_socket *sk, const char *id);

/* Calls cb with each room of the socket (names as given to
 * gw_socket_join). cb must not join or leave rooms. */
void gw_socket_foreach_room(const gw_socket *sk, void (*cb)(const char *room, void *ud), void *ud);

/*
 * During on_disconnect: 1 when the socket went away with its Engine.IO
 * session (transport closed or lost, ping timeout, a full queue, the
 * server's shutdown, a bus gap, a protocol error): socket.io-client
 * reconnects by itself. 0 when the client left the namespace or the server
 * disconnected the socket (gw_socket_disconnect).
 */
int gw_socket_lost(const gw_socket *sk);

/*
 * The socket's one application timer: cb(sk) runs on the loop after ms
 * (precision GW_TICK_MS, O(1) on the server's timing wheel); arming it
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

/* ---- tasks for the loop ---- */

/* A unit of work handed to the loop by another thread (embed it). */
typedef struct gw_task {
    struct gw_task *next;                          /* the server's */
    void (*run)(struct gw_task *t, gw_server *gw); /* set by the poster */
} gw_task;

/*
 * Thread-safe: t->run(t, gw) is called on the loop thread, tasks in the
 * order they were posted; or with gw NULL from gw_server_destroy() for a
 * task still queued then (release it only). t is borrowed until run is called and
 * must not be posted again before. Never fails.
 */
void gw_post(gw_server *gw, gw_task *t);

#endif
