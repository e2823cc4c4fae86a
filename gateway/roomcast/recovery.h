/*
 * recovery.h - how roomcast's sockets connect and catch up after a
 * disconnection, on the history store (core/history.h): Socket.IO
 * connection state recovery (the CONNECT reply carries a private session id
 * "pid"; a client that comes back with {pid, offset} gets its socket id and
 * rooms back and exactly the events it missed) and the explicit catch-up of
 * older clients (auth {lastOffset} or {lastEventTimestamp}: the missed
 * events, then "catchup:complete" {replayed, truncated}). Part of the
 * roomcast application (rc_app.c): the application checks the token
 * and then hands the CONNECT over. docs/protocol.md ("Reconnect and
 * catch-up") describes what clients see.
 *
 * Each socket of the application carries a recovery client as its
 * application data (gw_socket_data). Everything runs on the gateway loop;
 * history answers come back through gw_post().
 */
#ifndef RC_RECOVERY_H
#define RC_RECOVERY_H

#include "core/event.h"
#include "core/history.h"
#include "gateway/server/app.h"
#include "gateway/roomcast/auth.h"

typedef struct rc_recovery rc_recovery;

typedef struct rc_recovery_hooks {
    void *ud;
    /* Joins the rooms of a new connection of id: user:{sub}, and
     * program:{id} of the token's claim and of the membership table.
     * Returns 0, or -1 when it could not (out of memory, bad ids). */
    int (*join_rooms)(void *ud, gw_socket *sk, const rc_auth_identity *id);
    /* 1 when id may be in program:{program} now (membership or claim). */
    int (*authorized)(void *ud, const rc_auth_identity *id, const char *program);
} rc_recovery_hooks;

/* hooks is copied. NULL when out of memory. */
rc_recovery *rc_recovery_new(const rc_recovery_hooks *hooks);
/* After the gateway using it is destroyed. NULL is ignored. */
void rc_recovery_destroy(rc_recovery *rec);

/*
 * The history (borrowed) that keeps sessions and replays events, and the
 * recovery window in ms (how long a disconnected socket's session is kept;
 * <= 0 turns connection state recovery off: no pid). NULL turns both
 * recovery and catch-up off: call it with NULL before rc_history_destroy.
 */
void rc_recovery_set_history(rc_recovery *rec, rc_history *h, int window_ms);

/*
 * A CONNECT whose token verified: id is transferred. Recovers the socket's
 * session when the auth payload has a pid, else (or when that fails)
 * accepts it as a new socket with the hooks' rooms, then replays what an
 * explicit catch-up asks for. Answers the socket now or later.
 */
void rc_recovery_connect(rc_recovery *rec, gw_socket *sk, const gw_handshake *hs,
                         rc_auth_identity *id);

/* An accepted socket is about to go away, still in its rooms (the
 * application's on_disconnecting): its session is stored when the client
 * is expected back (gw_socket_lost, or rc_recovery_keep_session). */
void rc_recovery_disconnecting(rc_recovery *rec, gw_socket *sk);

/* The socket is going away (the application's on_disconnect): forgets its
 * session unless it was kept, and frees the socket's data. */
void rc_recovery_disconnect(rc_recovery *rec, gw_socket *sk);

/* The server is about to disconnect an accepted socket whose client is
 * expected back (an expired token: it reconnects with a fresh one): its
 * session is kept at the disconnect, as for a lost transport. */
void rc_recovery_keep_session(rc_recovery *rec, gw_socket *sk);

/* The verified identity of a socket handed to rc_recovery_connect (borrowed),
 * or NULL. */
const rc_auth_identity *rc_recovery_identity(const gw_socket *sk);

/* The rooms of an accepted socket changed: its session is saved again. */
void rc_recovery_rooms_changed(rc_recovery *rec, gw_socket *sk);

/* Every published event, before it is broadcast (the application's
 * on_publish). */
void rc_recovery_on_publish(rc_recovery *rec, const rc_event *ev);

/* Periodic work (the application's on_tick): refreshes the stored
 * sessions of connected sockets. */
void rc_recovery_tick(rc_recovery *rec);

/*
 * For the server's holds (gw_app.offset_covered): 1 when an event of offset
 * is at or before floor in the same epoch, i.e. a replay up to floor gave
 * it already; 0 otherwise (another epoch, later, or not an offset).
 */
int rc_recovery_offset_covered(const char *offset, const char *floor);

#endif
