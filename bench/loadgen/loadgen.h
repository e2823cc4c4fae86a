/*
 * loadgen.h - what the load generator's modes share: the client
 * connections (Engine.IO v4 over WebSocket, Socket.IO v5 CONNECT, one epoll
 * loop), the options and counters, and the measurements read from /proc.
 * loadgen.c implements it together with the fanout, idle and churn modes,
 * proc.c the measurements; storm.c is the reconnect storm. One thread:
 * nothing here is locked.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>

enum mode { M_FANOUT, M_IDLE, M_CHURN, M_STORM };
enum state { S_FREE, S_TCP, S_HTTP, S_EIO, S_SIO, S_READY, S_CLOSING };

/* One client connection. The buffers are owned by it and freed when it
 * ends; idx and room stay across reconnections of the same client. */
struct conn {
    int fd;
    enum state st;
    int idx;          /* client index: user u<idx> */
    int room;         /* program p<room> */
    int64_t t0;       /* connect start, us (monotonic) */
    int64_t deadline; /* state deadline, us (monotonic) */
    char *in;         /* bytes read, not yet parsed */
    size_t in_len, in_cap;
    char *msg; /* fragmented message being assembled */
    size_t msg_len, msg_cap;
    int msg_op;
    char *out; /* bytes not yet written */
    size_t out_len, out_off;
    int want_out;
    int was_ready;
};

/* options (set by main before any mode runs) */
extern enum mode g_mode;
extern int g_clients, g_per_room, g_concurrency;
extern const char *g_run_id;
extern const char *g_event_name;
extern double g_timeout, g_linger;
extern int g_server_pid, g_server_cpu;
extern const char *g_ready_file;
extern long g_prime_events, g_missed_events; /* storm */
extern const char *g_away_file, *g_go_file;  /* storm */
extern int g_redis_pid;                      /* storm: sample its CPU too */

/* state: the connections, indexed by client */
extern struct conn *g_conns;
extern int g_nconns;
extern int g_rooms;
extern volatile sig_atomic_t g_stop;

/* counters, over the whole run; a mode takes differences for its phases */
extern long n_started, n_ready, n_failed, n_connect_errors, n_server_closed;
extern long n_pings, n_events, n_stray, n_dups;
extern int64_t *hs_lat; /* handshake durations (TCP connect to CONNECT reply), us */
extern size_t hs_n;

/* Prints "loadgen: <message>" to stderr and exits 2. */
void lg_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int64_t lg_mono_us(void);
int64_t lg_wall_us(void);
/* Appends v to the growing array *a (*n used, *cap allocated). */
void lg_push(int64_t **a, size_t *n, size_t *cap, int64_t v);

/* ---- proc.c ---- */

/* utime+stime of a process (all threads), seconds; -1 when unknown. */
double lg_proc_cpu_s(int pid);
/* VmRSS of a process, KiB; -1 when unknown. */
long lg_proc_rss_kb(int pid);
/* Busy seconds (user, nice, system, irq, softirq) of one CPU; -1 unknown. */
double lg_cpu_busy_s(int cpu);
/* This process's user+system CPU, seconds. */
double lg_self_cpu_s(void);

/* Starts connecting c (TCP, then the upgrade, the Engine.IO open and the
 * Socket.IO CONNECT follow in the loop). */
void lg_conn_start(struct conn *c);
/* Closes c's socket at once, without a Socket.IO DISCONNECT or a close
 * frame (the server sees the TCP connection end), counting nothing. */
void lg_conn_drop(struct conn *c);
/* Queues one masked WebSocket frame (op 0x1 text) and tries to write it. */
void lg_ws_send(struct conn *c, int op, const char *p, size_t n);
/* Writes a token for user u<idx> in program p<room> to out; its length. */
size_t lg_make_token(int idx, int room, char *out, size_t cap);
/* Waits up to timeout_ms for socket events and handles them; ends the
 * connections past their connect or close deadline. */
void lg_poll(int timeout_ms);
/* When p (a Socket.IO packet) is an EVENT named g_event_name whose payload
 * has "eventId":"<g_run_id>-<seq>": 0 and *seq; else -1. */
int lg_event_seq(const char *p, size_t n, long *seq);
/* Creates path with one line holding value (the runner polls for it). */
void lg_touch(const char *path, long value);
/* Prints "name":{"n":..,"p50":..,"p99":..,"p999":..,"max":..} in ms; sorts a. */
void lg_print_dist(const char *name, int64_t *a, size_t n);

/* ---- storm.c ---- */

/* The CONNECT packet for c (40{"token":...}, with "pid" and "offset" when
 * c reconnects after the storm's disconnect); its length. */
size_t storm_connect_packet(struct conn *c, const char *token, char *out, size_t cap);
/* c's CONNECT was answered with 40{...} (p, n: the packet). */
void storm_on_connect(struct conn *c, const char *p, size_t n);
/* c received an EVENT (42...). */
void storm_on_event(struct conn *c, const char *p, size_t n);
/* c received an EVENT before the CONNECT reply (socket.io writes a
 * recovered socket's missed events first): kept, and handled after the
 * reply, as socket.io-client does with its receive buffer. */
void storm_on_early_event(struct conn *c, const char *p, size_t n);
/* c is ending: closed by the server, refused, or timed out. */
void storm_on_end(struct conn *c);
/* Runs the whole storm and writes its JSON on stdout; the exit status. */
int storm_run(void);

#endif
