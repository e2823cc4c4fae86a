/*
 * session.h - the gateway's internal state shared by its parts: gateway.c
 * (the lws context, HTTP routes, the WebSocket and long-polling transports,
 * the broadcast of published events), session.c (Engine.IO sessions and the
 * timing wheel) and sockets.c (the Socket.IO layer: one socket per
 * namespace of a session, packets, acks, binary attachments, and the
 * gw_socket_* functions of app.h).
 *
 * An Engine.IO session is independent of the connection that carries it: it
 * owns the bounded queue of frames waiting to be sent, the heartbeat and the
 * Socket.IO sockets, and points at its current transport (a WebSocket, or a
 * held long-polling GET) which only drains that queue. A session outlives a
 * transport while polling, and survives the switch from polling to WebSocket.
 *
 * Frames in a session's queue are Engine.IO packets as text ("4...", "2"),
 * or binary messages stored as 'b' followed by the raw bytes (no text packet
 * starts with 'b'): the WebSocket transport writes those bytes as a binary
 * frame, long-polling writes them as 'b' + base64, both as the protocol says.
 *
 * Not part of the public API; everything here runs on the gateway loop
 * thread, except the publish queue fields guarded by pub_mu.
 */
#ifndef RC_SESSION_H
#define RC_SESSION_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "app.h"
#include "eio.h"
#include "frame.h"
#include "gateway.h"
#include "../core/hmap.h"
#include "ratelimit.h"
#include "rooms.h"
#include "sio.h"

struct app_roomcast;

/* Session and socket ids: 15 random bytes as 20 base64url characters. */
#define GW_ID_LEN 20

typedef struct session session;

/*
 * A one-shot timer on the gateway's timing wheel. Sessions arm two each, and
 * they are re-armed on every ping, so they must be O(1): lws keeps its own
 * timers in one sorted list (linear insertion), which would cost a walk over
 * every session per heartbeat. A wheel of GW_WHEEL_SLOTS buckets, one per
 * GW_TICK_MS, is driven by a single lws timer; a deadline beyond one turn
 * stays in its bucket until its tick comes round. Precision is one tick.
 */
typedef struct gw_timer {
    struct gw_timer *prev, *next; /* circular bucket list; NULL when idle */
    uint64_t due;                 /* tick at which it fires */
    void (*cb)(struct gw_timer *t);
} gw_timer;

#define GW_TICK_MS 20
#define GW_WHEEL_SLOTS 1024

enum gw_transport {
    GW_TR_POLLING,
    GW_TR_WEBSOCKET,
};

enum session_state {
    SESSION_OPEN,    /* handshaken, exchanging packets */
    SESSION_CLOSING, /* out of every room and the sid table; the transport
                        flushes (or drops) the queue and then closes */
};

/* Sockets a session may have (one per namespace). */
#define GW_MAX_SOCKETS 16
/* Binary attachments one packet may announce. */
#define GW_MAX_ATTACHMENTS 256

enum gw_socket_state {
    GW_SK_PENDING,   /* CONNECT handed to the application, no answer yet */
    GW_SK_CONNECTED, /* accepted */
    GW_SK_GONE,      /* disconnected or rejected; on gw->graveyard */
};

/* A server event waiting for the client's ACK. */
typedef struct gw_pending_ack {
    long long id;
    gw_ack_cb cb;
    void *ud;
    struct gw_pending_ack *next;
} gw_pending_ack;

/* A Socket.IO socket: one namespace of one session (app.h). */
struct gw_socket {
    session *sess;          /* borrowed back pointer to the owning session */
    gw_socket *next;        /* the session's list, then gw->graveyard */
    char id[GW_ID_LEN + 1]; /* Socket.IO socket id (not the Engine.IO sid) */
    char *nsp;              /* owned */
    int root;               /* nsp is "/" */
    enum gw_socket_state state;
    void *data;             /* the application's, borrowed */
    uint64_t gen;           /* last broadcast that queued a frame here */
    long long next_ack;     /* id of the next server event with an ack */
    gw_pending_ack *acks;   /* owned list */
    size_t nacks;
    ratelimit events;       /* client event rate */
    ratelimit abuse;        /* 3 x the rate: beyond it, disconnect */
    struct gw_hold *hold;   /* owned (hold.c): while held or floored */
    int lost;               /* went away with its session (gw_socket_lost) */
    gw_timer app_timer;     /* gw_socket_set_timer(), cancelled when gone */
    void (*app_timer_cb)(gw_socket *sk);
    void *ext;              /* gw_socket_set_ext(), freed when gone */
    void (*free_ext)(void *ext);
};

/* A BINARY_EVENT / BINARY_ACK waiting for its attachments. */
typedef struct gw_partial {
    rc_buf text;            /* owned copy of the packet text */
    sio_packet pkt;         /* slices into text */
    json_t *args;           /* owned reference */
    rc_slice *att;          /* owned array of owned copies */
    size_t natt;            /* received so far (pkt.attachments expected) */
    size_t bytes;           /* text + attachments, bounded by maxPayload */
} gw_partial;

struct session {
    gateway *gw;                /* borrowed */
    char sid[GW_ID_LEN + 1];
    enum gw_transport transport;
    enum session_state state;
    struct lws *ws;    /* borrowed: the WebSocket carrying the session */
    struct lws *poll;  /* borrowed: a held long-polling GET, or NULL */
    struct lws *probe; /* borrowed: a WebSocket probing for an upgrade */
    int upgrading;     /* the probe said "2probe": polls get a noop */
    frame_queue q;     /* frames waiting for the transport */
    gw_timer hb;       /* next ping, pong deadline, then deferred free */
    gw_timer connect;  /* Socket.IO CONNECT deadline */
    int awaiting_pong;
    int64_t pong_due_ms;   /* when a ping without pong times out */
    int64_t ping_due_ms;   /* when the next ping is due */
    int overflowed;        /* queue overflowed; being disconnected */
    int close_code;        /* WebSocket close status once CLOSING */
    int flush_on_close;    /* send what is queued before closing */
    int listed;            /* in gw->sessions (findable by sid) */
    int by_client;         /* the client sent CLOSE: a last poll gets noop */
    int raw;               /* plain Engine.IO: messages go to the app */
    char *bearer;          /* owned: token from the handshake's
                              Authorization header, or NULL */
    gw_socket *socks;      /* owned list, one per namespace */
    size_t nsocks;
    size_t nconnected;     /* accepted sockets among them */
    gw_partial *partial;   /* owned: binary packet being reassembled */
    session *prev, *next;  /* gw->all: every live session object */
    struct gw_addr *addr;  /* borrowed: the per-address count holding this
                              open session (session_count_addr), or NULL */
};

struct gateway {
    const rc_config *cfg;         /* borrowed */
    gateway_hooks hooks;
    gw_app app;                   /* callbacks (copied table) */
    struct app_roomcast *own_app; /* owned: the roomcast application of
                                     gateway_new(), or NULL */
    char *sio_path;               /* owned: "/socket.io/" */
    char *engine_path;            /* owned: plain Engine.IO path, or NULL */
    int ev_rate, ev_burst;        /* client events per minute and burst */
    struct lws_context *ctx;      /* owned */
    struct lws_vhost *vh;         /* owned by ctx */
    int port;
    char host[64];

    rooms *rooms;                 /* owned: gw_socket * members */
    hmap sessions;                /* sid -> session: open sessions, and
                                     closing polling sessions waiting for
                                     their last poll */
    session *all;                 /* every session object, list head */
    size_t nsessions;             /* session objects alive */
    size_t nopen;                 /* sessions in SESSION_OPEN */
    size_t nsockets;              /* connected Socket.IO sockets */
    uint64_t gen;                 /* broadcast generation counter */
    hmap addrs;                   /* client address -> struct gw_addr:
                                     open sessions per address */

    /* Shared control frames (owned references). */
    frame *f_ping, *f_close, *f_pong_probe;

    /* Sessions whose queue overflowed during a broadcast (closing them
     * there would change rooms while they are walked). */
    session **doomed;             /* owned array, borrowed entries */
    size_t ndoomed, doomed_cap;
    int in_broadcast;

    /* Sockets collected from a room (gw_room_sockets). */
    gw_socket **vec;              /* owned array, borrowed entries */
    size_t nvec, vec_cap;

    /* Sockets gone during this loop iteration, freed on the next wheel
     * tick so that no caller holds a dangling pointer. */
    gw_socket *graveyard;         /* owned list */
    gw_timer reap;

    /* Tasks posted by other threads (gw_post), drained by the loop. */
    gw_task *tasks, *tasks_tail;  /* borrowed until run; under pub_mu */
    lws_sorted_usec_list_t app_tick; /* the application's on_tick */

    /* Publish queue: filled by any thread, drained by the loop. */
    pthread_mutex_t pub_mu;
    rc_event **pub;               /* owned array of owned references */
    size_t pub_len, pub_cap;

    atomic_int stop_requested;    /* set by gateway_stop() */
    atomic_int resync_requested;  /* set by gateway_resync() */
    int stopping;                 /* loop side: shutdown under way */
    int done;                     /* loop side: leave gateway_run() */
    int destroying;               /* gateway_destroy() in progress */
    size_t http_pending;          /* HTTP responses with a body to write */
    lws_sorted_usec_list_t stop_sul;

    /* Timing wheel (see gw_timer). */
    gw_timer wheel[GW_WHEEL_SLOTS]; /* bucket sentinels */
    uint64_t wheel_tick;            /* last tick processed */
    size_t wheel_armed;             /* timers armed */
    int wheel_running;              /* wheel_sul is scheduled */
    lws_sorted_usec_list_t wheel_sul;

    rc_buf scratch;               /* encoder scratch, loop thread */
    rc_buf scratch2;              /* second one (attachments, args) */
};

/* ---- session.c ---- */

/* Sets up the wheel (its buckets empty) before any timer is armed. */
void gw_wheel_init(gateway *gw);
/* Stops the wheel's lws timer (before lws_context_destroy()). */
void gw_wheel_stop(gateway *gw);
/* Arms t to call cb after ms (re-arming moves it). */
void gw_timer_arm(gateway *gw, gw_timer *t, void (*cb)(gw_timer *t), int ms);
/* Disarms t; no-op when idle. */
void gw_timer_cancel(gateway *gw, gw_timer *t);
/* Monotonic milliseconds. */
int64_t gw_now_ms(void);

/*
 * A new open session on transport tr: random sid, registered in the sid
 * table, OPEN packet queued, heartbeat and (unless raw) the CONNECT deadline
 * armed. bearer is copied (may be NULL). NULL when out of memory.
 */
session *session_new(gateway *gw, enum gw_transport tr, int raw, const char *bearer);

/* The session with that sid (open, or closing and waiting for its last
 * poll), or NULL. A session whose pong is overdue is closed here, so that
 * a late client finds it gone whatever the timer's precision. */
session *session_find(gateway *gw, const char *sid);

/*
 * Queues a new reference to f and wakes the transport. On a full queue the
 * session is disconnected as too slow (at once, or after the current
 * broadcast). Returns 0, or -1 when the frame was not queued.
 */
int session_send(session *s, frame *f);

/* Copies text into a new frame and sends it. */
int session_send_text(session *s, const char *text, size_t len);

/* Asks the current transport for a writable callback if frames wait. */
void session_kick(session *s);

/*
 * Ends the session: disconnects its sockets, leaves every room, stops its
 * timers. With flush the transport first sends what is queued (a polling
 * session without a held GET stays findable by sid for one more poll, at
 * most pingTimeout); the WebSocket is then closed with code. The object
 * itself is freed once no transport points at it (session_release()).
 * Idempotent. reason is logged.
 */
void session_close(session *s, const char *reason, int code, int flush);

/*
 * Detaches a transport that is going away (wsi is s->ws, s->poll or
 * s->probe, or NULL after answering the last poll of a closing session);
 * closes the session if it was its only transport, and frees the object
 * (on the next wheel tick) when nothing points at it any more.
 */
void session_release(session *s, struct lws *wsi);

/*
 * Handles one Engine.IO packet from transport wsi (NULL for a POST).
 * Returns 0, or -1 when the session was closed because of it (the caller
 * stops reading).
 */
int session_on_packet(session *s, struct lws *wsi, const eio_packet *pkt);

/* Counts a client error, logs it and closes the session (malformed input).
 * Returns -1. */
int session_fault(session *s, const char *what, int code);

/* Closes sessions queued on gw->doomed by overflows during a broadcast. */
void session_reap_doomed(gateway *gw);

/* Frees a session without touching lws (gateway_destroy, after its timers
 * were cancelled). */
void session_free(session *s);

/* 15 random bytes as 20 base64url characters into out[GW_ID_LEN + 1].
 * Returns 0 or -1 when the RNG fails. */
int gw_random_id(char out[GW_ID_LEN + 1]);

/* ---- sockets.c ---- */

/* One Socket.IO packet (a text message) / one binary message of a session
 * that is not raw. Return 0, or -1 when the session was closed. */
int sockets_on_text(session *s, const char *p, size_t len);
int sockets_on_binary(session *s, const char *p, size_t len);

/* Disconnects every socket of a closing session (on_disconnect with
 * reason) and drops a partial binary packet. */
void sockets_close_all(session *s, const char *reason);

/* Frees the sockets on the graveyard (now: gateway_destroy). */
void sockets_free_graveyard(gateway *gw);

/* ---- hold.c ---- */

/* Offers a broadcast frame f of an event with offset ("" when transient) to
 * a socket that has a hold: 1 when the socket must not be sent it now (kept
 * while held, or at or below the replay floor), 0 to send it as usual. */
int hold_offer(gw_socket *sk, frame *f, const char *offset);
/* Frees the socket's hold and what it kept. */
void hold_free(gw_socket *sk);

/* ---- connections per client address (session.c) ---- */

/* 1 when addr may open one more session (cfg->max_connections_per_ip;
 * 0 = no limit). */
int gw_addr_admit(gateway *gw, const char *addr);

/* Counts the open session s against addr (copied) when there is a limit;
 * the count drops when s leaves SESSION_OPEN. Returns 0, or -1 when out of
 * memory (s not counted). */
int session_count_addr(session *s, const char *addr);

/* The client address of wsi (the peer's IP; an IPv4-mapped IPv6 address as
 * plain IPv4) into buf, or NULL when unknown. */
const char *gw_peer_addr(struct lws *wsi, char *buf, size_t cap);

#endif
