/*
 * session.h - the gateway's internal state shared by its two halves:
 * gateway.c (the lws context, HTTP routes, the WebSocket and long-polling
 * transports, the broadcast of published events) and session.c (Engine.IO
 * sessions and the Socket.IO socket each one carries).
 *
 * An Engine.IO session is independent of the connection that carries it: it
 * owns the bounded queue of frames waiting to be sent, the heartbeat and the
 * Socket.IO state, and points at its current transport (a WebSocket, or a
 * held long-polling GET) which only drains that queue. A session outlives a
 * transport while polling, and survives the switch from polling to WebSocket.
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

#include "auth.h"
#include "eio.h"
#include "frame.h"
#include "gateway.h"
#include "../core/hmap.h"
#include "membership.h"
#include "rooms.h"

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

/* The Socket.IO socket on namespace "/" (the only namespace served). */
typedef struct gw_socket {
    session *sess;          /* borrowed back pointer to the owning session */
    char id[GW_ID_LEN + 1]; /* Socket.IO socket id (not the Engine.IO sid) */
    auth_identity *ident;   /* owned; NULL until a successful CONNECT */
    uint64_t gen;           /* last broadcast that queued a frame here */
} gw_socket;

struct session {
    gateway *gw;                /* borrowed */
    char sid[GW_ID_LEN + 1];
    enum gw_transport transport;
    enum session_state state;
    struct lws *ws;    /* borrowed: the WebSocket carrying the session */
    struct lws *poll;  /* borrowed: a held long-polling GET, or NULL */
    struct lws *probe; /* borrowed: a WebSocket probing for an upgrade */
    int poll_noop;     /* answer the held poll with a noop (upgrade) */
    int probe_pong_due; /* the probe said "2probe": answer "3probe" */
    frame_queue q;     /* frames waiting for the transport */
    gw_timer hb;       /* next ping, pong deadline, then deferred free */
    gw_timer connect;  /* Socket.IO CONNECT deadline */
    int awaiting_pong;
    int overflowed;        /* queue overflowed; being disconnected */
    int close_code;        /* WebSocket close status once CLOSING */
    int flush_on_close;    /* send what is queued before closing */
    int listed;            /* in gw->sessions (findable by sid) */
    char *bearer;          /* owned: token from the handshake's
                              Authorization header, or NULL */
    gw_socket sock;        /* sock.ident != NULL when connected */
    session *prev, *next;  /* gw->all: every live session object */
};

struct gateway {
    const rc_config *cfg;         /* borrowed */
    const auth_verifier *auth;    /* borrowed */
    gateway_hooks hooks;
    struct lws_context *ctx;      /* owned */
    struct lws_vhost *vh;         /* owned by ctx */
    int port;
    char host[64];

    rooms *rooms;                 /* owned: gw_socket * members */
    membership *members;          /* owned */
    hmap sessions;                /* sid -> session: open sessions, and
                                     closing polling sessions waiting for
                                     their last poll */
    session *all;                 /* every session object, list head */
    size_t nsessions;             /* session objects alive */
    size_t nopen;                 /* sessions in SESSION_OPEN */
    size_t nsockets;              /* connected Socket.IO sockets */
    uint64_t gen;                 /* broadcast generation counter */

    /* Shared control frames (owned references). */
    frame *f_ping, *f_close, *f_pong_probe;

    /* Sessions whose queue overflowed during a broadcast (closing them
     * there would change rooms while they are walked). */
    session **doomed;             /* owned array, borrowed entries */
    size_t ndoomed, doomed_cap;
    int in_broadcast;

    /* Sockets collected from a room before changing rooms. */
    gw_socket **vec;              /* owned array, borrowed entries */
    size_t nvec, vec_cap;

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

/*
 * A new open session on transport tr: random sid, registered in the sid
 * table, OPEN packet queued, heartbeat and CONNECT deadline armed. bearer is
 * copied (may be NULL). NULL when out of memory.
 */
session *session_new(gateway *gw, enum gw_transport tr, const char *bearer);

/* The session with that sid (open, or closing and waiting for its last
 * poll), or NULL. */
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
 * Ends the session: leaves every room, disconnects its socket, stops its
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
 * Handles one Engine.IO packet from transport wsi. Returns 0, or -1 when the
 * session was closed because of it (the caller stops reading).
 */
int session_on_packet(session *s, struct lws *wsi, const eio_packet *pkt);

/* Closes sessions queued on gw->doomed by overflows during a broadcast. */
void session_reap_doomed(gateway *gw);

/* Frees a session without touching lws (gateway_destroy, after its timers
 * were cancelled). */
void session_free(session *s);

/* Applies a member:added / member:removed side effect to the membership
 * table and to the user's live sockets. */
void session_apply_member_op(gateway *gw, const rc_event *ev);

/* 15 random bytes as 20 base64url characters into out[GW_ID_LEN + 1].
 * Returns 0 or -1 when the RNG fails. */
int gw_random_id(char out[GW_ID_LEN + 1]);

#endif
