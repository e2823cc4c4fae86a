/*
 * server_private.h - the server library's internal state, shared by its
 * files and by its unit tests; not part of the API (server.h, app.h).
 *
 *   server.c     the lws context and vhost, the protocol callback, listen
 *                and TLS checks, the loop, cross-thread tasks, shutdown
 *   http.c       HTTP requests and responses: headers, query, CORS, errors
 *   polling.c    the long-polling transport and the Socket.IO HTTP route
 *   websocket.c  the WebSocket transport
 *   session.c    Engine.IO sessions: lifetime, queue, heartbeat, upgrade
 *   addr.c       open sessions per client address
 *   socket.c     Socket.IO sockets: packets, acks, attachments, rooms
 *   hold.c       holds and replay floors of sockets being caught up
 *   broadcast.c  encode-once broadcasts
 *   wheel.c, frame.c, rooms.c, ratelimit.c, eio.c, sio.c: self-contained
 *
 * An Engine.IO session is independent of the connection that carries it: it
 * owns the bounded queue of frames waiting to be sent, the heartbeat and the
 * Socket.IO sockets, and points at its current transport (a WebSocket, or a
 * held long-polling GET) which only drains that queue. A session outlives a
 * transport while polling, and survives the switch from polling to WebSocket.
 * Sessions reach their transports only through gw_io (below), which server.c
 * implements on lws and the unit tests implement on their own.
 *
 * Frames in a session's queue are Engine.IO packets as text ("4...", "2"),
 * or binary messages stored as 'b' followed by the raw bytes (no text packet
 * starts with 'b'): the WebSocket transport writes those bytes as a binary
 * frame, long-polling writes them as 'b' + base64, both as the protocol says.
 *
 * Everything here runs on the loop thread, except the task queue fields
 * guarded by task_mu.
 */
#ifndef GW_SERVER_PRIVATE_H
#define GW_SERVER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/hmap.h"
#include "gateway/server/app.h"
#include "gateway/server/eio.h"
#include "gateway/server/frame.h"
#include "gateway/server/ratelimit.h"
#include "gateway/server/rooms.h"
#include "gateway/server/server.h"
#include "gateway/server/sio.h"
#include "gateway/server/wheel.h"

/* Log facility of the library. */
#define GW_FAC "gw"

/* Session and socket ids: 15 random bytes as 20 base64url characters. */
#define GW_ID_LEN 20

/* WebSocket close codes (RFC 6455) the sessions use. */
enum gw_close {
    GW_CLOSE_NORMAL = 1000,
    GW_CLOSE_GOING_AWAY = 1001,
    GW_CLOSE_PROTOCOL = 1002,
    GW_CLOSE_INVALID_PAYLOAD = 1007,
    GW_CLOSE_POLICY = 1008,
    GW_CLOSE_TOO_LARGE = 1009,
    GW_CLOSE_UNACCEPTABLE_OPCODE = 1003,
    GW_CLOSE_UNEXPECTED = 1011,
};

/*
 * What sessions ask of the connections that carry them and of the loop.
 * A conn is a transport's opaque handle (an lws wsi in server.c).
 */
typedef struct gw_io {
    /* Ask for a writable callback on conn. */
    void (*want_write)(gw_server *gw, void *conn);
    /* Write what the session carried by WebSocket conn has queued, now
     * (during a broadcast); NULL: want_write instead. */
    void (*flush)(gw_server *gw, void *conn);
    /* Cut conn if it has not closed within secs (0: at once). */
    void (*close_within)(gw_server *gw, void *conn, int secs);
    /* Write a text message on WebSocket conn now, from its receive
     * callback (the upgrade probe's "3probe"). 0 or -1. */
    int (*write_now)(gw_server *gw, void *conn, const void *p, size_t len);
    /* The wheel has work at monotonic ms: call gw_server_tick() then. */
    void (*wake_at)(gw_server *gw, int64_t ms);
    /* Monotonic milliseconds. */
    int64_t (*now_ms)(gw_server *gw);
} gw_io;

enum gw_session_state {
    GW_SESSION_OPEN,    /* handshaken, exchanging packets */
    GW_SESSION_CLOSING, /* out of every room and the sid table; the transport
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

/* A Socket.IO socket: one namespace of one session (app.h). Fields are
 * ordered by size so that the struct has no holes (one is allocated per
 * client). */
struct gw_socket {
    gw_session *sess;     /* borrowed back pointer to the owning session */
    gw_socket *next;      /* the session's list, then gw->graveyard */
    char *nsp;            /* owned, or gw_socket_root_nsp when root */
    void *data;           /* the application's, borrowed */
    uint64_t gen;         /* last broadcast that queued a frame here */
    long long next_ack;   /* id of the next server event with an ack */
    gw_pending_ack *acks; /* owned list */
    struct gw_hold *hold; /* owned (hold.c): while held or floored */
    gw_ratelimit events;  /* client event rate */
    gw_ratelimit abuse;   /* 3 x the rate: beyond it, disconnect */
    gw_timer app_timer;   /* gw_socket_set_timer(), cancelled when gone */
    void (*app_timer_cb)(gw_socket *sk);
    void *ext; /* gw_socket_set_ext(), freed when gone */
    void (*free_ext)(void *ext);
    int64_t since_ms;       /* wall clock at gw_socket_accept(), 0 before */
    uint16_t nacks;         /* in acks, at most GW_MAX_PENDING_ACKS */
    char id[GW_ID_LEN + 1]; /* Socket.IO socket id (not the Engine.IO sid) */
    unsigned state : 2;        /* enum gw_socket_state */
    unsigned root : 1;         /* nsp is "/" */
    unsigned rate_limited : 1; /* an event was refused by the rate limit once */
    unsigned lost : 1;         /* went away with its session (gw_socket_lost) */
};

/* The nsp of every root socket (not allocated). */
extern char gw_socket_root_nsp[];

/* A BINARY_EVENT / BINARY_ACK waiting for its attachments. */
typedef struct gw_partial {
    rc_buf text;    /* owned copy of the packet text */
    sio_packet pkt; /* slices into text */
    json_t *args;   /* owned reference */
    rc_slice *att;  /* owned array of owned copies */
    size_t natt;    /* received so far (pkt.attachments expected) */
    size_t bytes;   /* text + attachments, bounded by maxPayload */
} gw_partial;

/* Fields are ordered by size so that the struct has no holes (one is
 * allocated per client). */
struct gw_session {
    gw_server *gw;           /* borrowed */
    gw_session *prev, *next; /* gw->all: every live session object */
    void *ws;                /* borrowed conn: the WebSocket carrying the session */
    void *poll;              /* borrowed conn: a held long-polling GET, or NULL */
    void *probe;             /* borrowed conn: a WebSocket probing for an upgrade */
    gw_socket *socks;        /* owned list, one per namespace */
    gw_partial *partial;     /* owned: binary packet being reassembled */
    struct gw_addr *addr;    /* borrowed: the per-address count holding this
                                open session (gw_addr_count), or NULL */
    char *bearer;            /* owned: token from the handshake's
                                Authorization header, or NULL */
    gw_frame_queue q;        /* frames waiting for the transport */
    gw_timer hb;             /* next ping, pong deadline, then deferred free */
    gw_timer connect;        /* Socket.IO CONNECT deadline */
    int64_t pong_due_ms;     /* when a ping without pong times out */
    int64_t ping_due_ms;     /* when the next ping is due */
    char sid[GW_ID_LEN + 1];
    enum gw_transport transport : 8;
    enum gw_session_state state : 8;
    uint16_t close_code;      /* WebSocket close status once CLOSING */
    uint8_t nsocks;           /* in socks, at most GW_MAX_SOCKETS */
    uint8_t nconnected;       /* accepted sockets among them */
    unsigned upgrading : 1;   /* the probe said "2probe": polls get a noop */
    unsigned awaiting_pong : 1;
    unsigned overflowed : 1;     /* queue overflowed; being disconnected */
    unsigned flush_on_close : 1; /* send what is queued before closing */
    unsigned listed : 1;         /* in gw->sessions (findable by sid) */
    unsigned by_client : 1;      /* the client sent CLOSE: a last poll gets noop */
    unsigned raw : 1;            /* plain Engine.IO: messages go to the app */
    /* The client address the handshake came from (gw_socket_peer()):
     * AF_INET or AF_INET6 with its bytes, or 0 when unknown. */
    uint8_t peer_family;
    unsigned char peer[16];
};

struct gw_loop; /* server.c: the lws context, vhost and lws timers */

struct gw_server {
    gw_options opt;       /* strings owned (copies) */
    gw_app app;           /* callbacks (copied table) */
    const gw_io *io;      /* borrowed: static table */
    struct gw_loop *loop; /* owned by server.c; NULL in unit tests */

    gw_rooms *rooms;  /* owned: gw_socket * members */
    hmap sessions;    /* sid -> session: open sessions, and
                                     closing polling sessions waiting for
                                     their last poll */
    gw_session *all;  /* every session object, list head */
    size_t nsessions; /* session objects alive */
    size_t nopen;     /* sessions in GW_SESSION_OPEN */
    size_t nopen_tr[GW_TR__COUNT]; /* the same, by current transport */
    size_t nsockets;  /* connected Socket.IO sockets */
    uint64_t gen;     /* broadcast generation counter */
    hmap addrs;       /* client address -> struct gw_addr:
                                     open sessions per address */

    /* Shared control frames (owned references). */
    gw_frame *f_ping, *f_close, *f_pong_probe;

    /* Sessions whose queue overflowed during a broadcast (closing them
     * there would change rooms while they are walked). */
    gw_session **doomed; /* owned array, borrowed entries */
    size_t ndoomed, doomed_cap;
    int in_broadcast;
    /* Frames queued now may be written at once (gw_io.flush): set while a
     * broadcast or the wheel's timers run, outside any connection's
     * callback. */
    int eager;

    /* Sockets collected from a room (gw_socket_room_list). */
    gw_socket **vec; /* owned array, borrowed entries */
    size_t nvec, vec_cap;

    /* Sockets gone during this loop iteration, freed on the next wheel
     * tick so that no caller holds a dangling pointer. */
    gw_socket *graveyard; /* owned list */
    gw_timer reap;

    /* Tasks posted by other threads (gw_post), drained by the loop. */
    pthread_mutex_t task_mu;
    gw_task *tasks, *tasks_tail; /* borrowed until run; under task_mu */
    atomic_int stop_requested;   /* set by gw_server_stop() */

    int stopping;        /* loop side: shutdown under way */
    int closed;          /* loop side: new sessions refused until gw_server_admit() */
    int done;            /* loop side: leave gw_server_run() */
    int destroying;      /* gw_server_destroy() in progress */
    size_t http_pending; /* HTTP responses with a body to write */

    gw_wheel wheel;   /* session, socket and app timers */
    int wheel_waking; /* io->wake_at() is pending */

    rc_buf scratch;  /* encoder scratch, loop thread */
    rc_buf scratch2; /* second one (attachments, args) */
    rc_buf wsout;    /* WebSocket frames coalesced into one write (websocket.c) */
    /* Wall clock (us) read once per broadcast for the delivery latency
     * histogram (gw_count_written); 0 when not read yet. */
    int64_t bcast_now_us;

    gw_counters counters; /* gw_server_counters() */
};

/* ---- counting (gw_counters) ---- */

static inline void gw_count_error(gw_server *gw, enum gw_client_error why)
{
    rc_counter_inc(&gw->counters.client_errors[why]);
}

/* n delivery frames were dropped. */
static inline void gw_count_dropped(gw_server *gw, size_t n)
{
    if (n)
        rc_counter_add(&gw->counters.deliveries[GW_DELIVERY_DROPPED], n);
}

/*
 * A delivery frame originated at origin_ms was written; *now_us is the
 * wall clock in microseconds, read on first need (0: not yet) so that a
 * batch of writes reads it once.
 */
static inline void gw_count_written(gw_server *gw, int64_t origin_ms, int64_t *now_us)
{
    rc_counter_inc(&gw->counters.deliveries[GW_DELIVERY_WRITTEN]);
    if (origin_ms >= 0) {
        if (!*now_us)
            *now_us = rc_clock_wall_us();
        rc_prom_observe(&gw->counters.delivery_latency, *now_us - origin_ms * 1000);
    }
}

/* ---- server.c ---- */

/*
 * The transport-independent state of a server (options, tables, wheel,
 * control frames) with io for its transports and clock; no listener.
 * gw_server_new() builds on it; unit tests use it directly with an io of
 * their own. NULL with errstr set.
 */
gw_server *gw_server_new_core(const gw_options *opts, const gw_io *io, char *errstr, size_t errlen);
/* Frees what gw_server_new_core() made (after the sessions' transports are
 * gone). */
void gw_server_free_core(gw_server *gw);
/* Runs the timers that are due (io->wake_at() asked for it). */
void gw_server_tick(gw_server *gw);
/* Runs the tasks posted so far (the loop's wake-up; tests call it too). */
void gw_server_run_tasks(gw_server *gw);
/* Ends gw_server_run() once a shutdown has nothing left to send. */
void gw_server_check_done(gw_server *gw);

/* Arms t on the server's wheel to call cb after ms; re-arming moves it. */
void gw_server_arm(gw_server *gw, gw_timer *t, void (*cb)(gw_timer *t), int ms);
/* Disarms t; no-op when idle. */
void gw_server_disarm(gw_server *gw, gw_timer *t);
/* Monotonic milliseconds, from io. */
int64_t gw_server_now(gw_server *gw);

/* ---- session.c ---- */

/*
 * A new open session on transport tr: random sid, registered in the sid
 * table, OPEN packet queued, heartbeat and (unless raw) the CONNECT deadline
 * armed. bearer is copied (may be NULL). NULL when out of memory.
 */
gw_session *gw_session_new(gw_server *gw, enum gw_transport tr, int raw, const char *bearer);

/* The session with that sid (open, or closing and waiting for its last
 * poll), or NULL. A session whose pong is overdue is closed here, so that
 * a late client finds it gone whatever the timer's precision. */
gw_session *gw_session_find(gw_server *gw, const char *sid);

/*
 * Queues a new reference to f and wakes the transport. On a full queue the
 * session is disconnected as too slow (at once, or after the current
 * broadcast). Returns 0, or -1 when the frame was not queued.
 */
int gw_session_send(gw_session *s, gw_frame *f);

/* Records the client address the session was opened from, a numeric IPv4
 * or IPv6 address (NULL, "" or anything else: unknown), for
 * gw_socket_peer(). */
void gw_session_set_peer(gw_session *s, const char *addr);

/* Copies text into a new frame and sends it. */
int gw_session_send_text(gw_session *s, const char *text, size_t len);

/* Asks the current transport for a writable callback if frames wait. */
void gw_session_kick(gw_session *s);

/*
 * Ends the session: disconnects its sockets, leaves every room, stops its
 * timers. With flush the transport first sends what is queued (a polling
 * session without a held GET stays findable by sid for one more poll, at
 * most pingTimeout); the WebSocket is then closed with code. The object
 * itself is freed once no transport points at it (gw_session_release()).
 * Idempotent. reason is logged.
 */
void gw_session_close(gw_session *s, const char *reason, int code, int flush);

/*
 * Detaches a transport that is going away (conn is s->ws, s->poll or
 * s->probe, or NULL after answering the last poll of a closing session);
 * closes the session if it was its only transport, and frees the object
 * (on the next wheel tick) when nothing points at it any more.
 */
void gw_session_release(gw_session *s, void *conn);

/*
 * Handles one Engine.IO packet from transport conn (NULL for a POST).
 * Returns 0, or -1 when the session was closed because of it (the caller
 * stops reading).
 */
int gw_session_on_packet(gw_session *s, void *conn, const eio_packet *pkt);

/* Counts a client error (why), logs it (what) and closes the session
 * (malformed input). Returns -1. */
int gw_session_fault(gw_session *s, enum gw_client_error why, const char *what, int code);

/* Drops what s has queued, counting the deliveries among it as dropped. */
void gw_session_drop_queue(gw_session *s);

/* Closes sessions queued on gw->doomed by overflows during a broadcast. */
void gw_session_reap_doomed(gw_server *gw);

/* Frees a session without touching its transports (gw_server_destroy,
 * after its timers were cancelled). */
void gw_session_free(gw_session *s);

/* 15 random bytes as 20 base64url characters into out[GW_ID_LEN + 1].
 * Returns 0 or -1 when the RNG fails. */
int gw_session_random_id(char out[GW_ID_LEN + 1]);

/* ---- addr.c: open sessions per client address ---- */

/* 1 when addr may open one more session (max_connections_per_ip; 0 = no
 * limit). */
int gw_addr_admit(gw_server *gw, const char *addr);

/* Counts the open session s against addr (copied) when there is a limit;
 * the count drops at gw_addr_release(). Returns 0, or -1 when out of memory
 * (s not counted). */
int gw_addr_count(gw_session *s, const char *addr);

/* The session left GW_SESSION_OPEN: it stops counting. */
void gw_addr_release(gw_session *s);

/* ---- socket.c ---- */

/* One Socket.IO packet (a text message) / one binary message of a session
 * that is not raw. Return 0, or -1 when the session was closed. */
int gw_socket_on_text(gw_session *s, const char *p, size_t len);
int gw_socket_on_binary(gw_session *s, const char *p, size_t len);

/* Disconnects every socket of a closing session (on_disconnect with
 * reason) and drops a partial binary packet. */
void gw_socket_close_all(gw_session *s, const char *reason);

/* Frees the sockets on the graveyard (now: gw_server_destroy). */
void gw_socket_free_graveyard(gw_server *gw);

/* ---- hold.c ---- */

/* Offers a broadcast frame f of an event with offset ("" when transient) to
 * a socket that has a hold: 1 when the socket must not be sent it now (kept
 * while held, or covered by the replay floor), 0 to send it as usual. */
int gw_hold_offer(gw_socket *sk, gw_frame *f, const char *offset);
/* Frees the socket's hold and what it kept (counted as dropped
 * deliveries); sk->sess is not used (it may be gone). */
void gw_hold_free(gw_server *gw, gw_socket *sk);
/* Frames the socket's hold keeps. */
size_t gw_hold_count(const gw_socket *sk);

/* ---- broadcast.c ---- */

/* 42["<name>",<args>(,"<offset>")] into b (reset first). 0 or -1. */
int gw_broadcast_encode(rc_buf *b, const char *name, const char *args, size_t args_len,
                        const char *offset);

#endif
