/*
 * storm.c - the load generator's reconnect storm (--mode storm): how many
 * clients get their session back when all of them dropped at once and came
 * back together, and whether each then gets exactly the events it missed,
 * once and in order. Phases, coordinated with the runner through files:
 *
 *  1. connect: every client connects (at most --concurrency handshakes in
 *     flight) and keeps the pid of its CONNECT reply; then --ready-file.
 *  2. prime: the runner produces --prime-events N events (seq 0..N-1, event
 *     seq to room seq % rooms). Each client keeps the last argument of the
 *     last event it received when that is a string (its offset), as
 *     socket.io-client does. Once every connected client had all of its
 *     room's priming events, every connection is closed at once: a TCP
 *     close, no Socket.IO DISCONNECT and no close frame, so that the server
 *     keeps the session for recovery. Then --away-file.
 *  3. away: the runner produces --missed-events M events (seq N..N+M-1),
 *     waits until the server has broadcast them all, and creates --go-file.
 *  4. storm: every client that had connected reconnects at once (at most
 *     --concurrency handshakes in flight) with
 *     40{"token":...,"pid":...,"offset":...}. It is recovered when the
 *     CONNECT reply carries the pid it sent (socket.io-client's rule for
 *     socket.recovered); it must then receive its room's M / rooms missed
 *     events, each once, in order. Its replay latency runs from sending that
 *     CONNECT to its last missed event, its catch-up latency from opening
 *     the TCP connection to that event. A client is settled once it has them
 *     all, or was not recovered, or failed (refused, closed, timed out). The
 *     storm's window runs from the first reconnection to the last client
 *     settled; the server's and Redis's CPU time are read at its edges.
 *
 * A phase that does not end within --timeout seconds ends the run with the
 * figures gathered so far and exit status 1.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

#define ID_MAX 96 /* longest pid or offset kept, NUL included */

enum phase { P_CONNECT, P_PRIME, P_AWAY, P_STORM };
enum cstate { C_IDLE, C_WAIT, C_REPLAY, C_DONE, C_NOT_RECOVERED, C_FAILED };

struct client {
    char pid[ID_MAX];    /* from the first CONNECT reply; "" none */
    char offset[ID_MAX]; /* the last string argument of the last event; "" none */
    uint64_t primed;     /* bit k: the room's k-th priming event arrived */
    int connected;       /* connected in phase 1 */
    int sent_pid;        /* the storm's CONNECT carried a pid */
    enum cstate st;      /* in the storm */
    long got;            /* distinct missed events received */
    long last_k;         /* index of the last missed event received, -1 none */
    int64_t t_sent;      /* the storm's CONNECT sent, us (monotonic) */
    char *early;         /* owned: events received before the CONNECT reply, */
    size_t early_len;    /* each as a size_t length and its bytes */
    size_t early_cap;
};

static enum phase g_phase = P_CONNECT;
static struct client *g_cl; /* owned, one per connection */
static uint64_t *g_missed;  /* owned: per client, bit k = the room's k-th missed event */
static size_t g_mwords;     /* 64-bit words per client in g_missed */
static long g_prime_per_room, g_missed_per_room;

static long n_no_pid, n_recovered, n_not_recovered, n_recovered_lost, n_settled;
static long n_delivered, n_out_of_order;
static int64_t t_last_settled = -1;
static int64_t *replay_lat; /* us, from the CONNECT sent to the last missed event */
static size_t replay_n, replay_cap;
static int64_t *catchup_lat; /* us, from the TCP connect to the last missed event */
static size_t catchup_n, catchup_cap;

/* c has every missed event (or there were none) */
static void caught_up(struct conn *c, struct client *cl)
{
    int64_t now = lg_mono_us();
    lg_push(&replay_lat, &replay_n, &replay_cap, now - cl->t_sent);
    lg_push(&catchup_lat, &catchup_n, &catchup_cap, now - c->t0);
}

static void settle(struct client *cl, enum cstate st)
{
    cl->st = st;
    n_settled++;
    t_last_settled = lg_mono_us();
}

/* Copies the string value of "key":"..." in p to out (cap bytes); 0, or -1
 * when absent, too long, or holding a quote, a backslash or a control
 * character (the values are echoed inside JSON). */
static int json_string(const char *p, size_t n, const char *key, char *out, size_t cap)
{
    const char *v = memmem(p, n, key, strlen(key));
    if (!v)
        return -1;
    v += strlen(key);
    const char *end = p + n;
    size_t len = 0;
    while (v + len < end && v[len] != '"') {
        if (v[len] == '\\' || (unsigned char)v[len] < 0x20 || len + 1 >= cap)
            return -1;
        len++;
    }
    if (v + len >= end || len == 0)
        return -1;
    memcpy(out, v, len);
    out[len] = 0;
    return 0;
}

/* The last argument of 42[...,"<s>"] when it is a plain string: copied to
 * out; otherwise out is left as it was (socket.io-client keeps its offset
 * when the last argument is not a string). */
static void last_string_arg(const char *p, size_t n, char *out, size_t cap)
{
    if (n < 6 || p[n - 1] != ']' || p[n - 2] != '"')
        return;
    size_t e = n - 2, b = e;
    while (b > 0 && p[b - 1] != '"') {
        if (p[b - 1] == '\\' || (unsigned char)p[b - 1] < 0x20)
            return;
        b--;
    }
    if (b < 2 || p[b - 2] != ',' || e - b == 0 || e - b >= cap)
        return;
    memcpy(out, p + b, e - b);
    out[e - b] = 0;
}

size_t storm_connect_packet(struct conn *c, const char *token, char *out, size_t cap)
{
    struct client *cl = &g_cl[c->idx];
    int l;
    if (g_phase == P_STORM && cl->pid[0]) {
        cl->sent_pid = 1;
        if (cl->offset[0])
            l = snprintf(out, cap, "40{\"token\":\"%s\",\"pid\":\"%s\",\"offset\":\"%s\"}", token,
                         cl->pid, cl->offset);
        else
            l = snprintf(out, cap, "40{\"token\":\"%s\",\"pid\":\"%s\"}", token, cl->pid);
    } else
        l = snprintf(out, cap, "40{\"token\":\"%s\"}", token);
    if (l < 0 || (size_t)l >= cap)
        lg_die("CONNECT packet too long");
    cl->t_sent = lg_mono_us();
    return (size_t)l;
}

void storm_on_early_event(struct conn *c, const char *p, size_t n)
{
    struct client *cl = &g_cl[c->idx];
    if (cl->early_len + sizeof n + n > cl->early_cap) {
        size_t cap = (cl->early_len + sizeof n + n) * 2;
        char *q = realloc(cl->early, cap);
        if (!q)
            lg_die("out of memory");
        cl->early = q;
        cl->early_cap = cap;
    }
    memcpy(cl->early + cl->early_len, &n, sizeof n);
    memcpy(cl->early + cl->early_len + sizeof n, p, n);
    cl->early_len += sizeof n + n;
}

static void early_free(struct client *cl)
{
    free(cl->early);
    cl->early = NULL;
    cl->early_len = cl->early_cap = 0;
}

/* The CONNECT reply of c: its pid kept (phase 1) or compared (the storm). */
static void connected(struct conn *c, const char *p, size_t n)
{
    struct client *cl = &g_cl[c->idx];
    char pid[ID_MAX];
    int has = json_string(p, n, "\"pid\":\"", pid, sizeof pid) == 0;
    if (g_phase != P_STORM) {
        cl->connected = 1;
        if (has)
            memcpy(cl->pid, pid, sizeof pid);
        else
            n_no_pid++;
        return;
    }
    if (cl->st != C_WAIT)
        return;
    if (cl->sent_pid && has && !strcmp(pid, cl->pid)) {
        n_recovered++;
        cl->st = C_REPLAY;
        if (g_missed_per_room == 0) {
            caught_up(c, cl);
            settle(cl, C_DONE);
        }
    } else {
        n_not_recovered++;
        settle(cl, C_NOT_RECOVERED);
    }
}

void storm_on_connect(struct conn *c, const char *p, size_t n)
{
    struct client *cl = &g_cl[c->idx];
    connected(c, p, n);
    /* then the events that came before the reply, in order */
    for (size_t off = 0; off < cl->early_len && c->st == S_READY;) {
        size_t len;
        memcpy(&len, cl->early + off, sizeof len);
        storm_on_event(c, cl->early + off + sizeof len, len);
        off += sizeof len + len;
    }
    early_free(cl);
}

void storm_on_event(struct conn *c, const char *p, size_t n)
{
    struct client *cl = &g_cl[c->idx];
    long seq;
    n_events++;
    last_string_arg(p, n, cl->offset, sizeof cl->offset);
    if (lg_event_seq(p, n, &seq) < 0 || seq % g_rooms != c->room ||
        seq >= g_prime_events + g_missed_events) {
        n_stray++;
        return;
    }
    if (seq < g_prime_events) {
        uint64_t bit = 1ull << (seq / g_rooms);
        if (g_phase == P_STORM || (cl->primed & bit))
            n_dups++; /* a priming event again: the client had it */
        else
            cl->primed |= bit;
        return;
    }
    /* a missed event: only a recovered client of the storm should get it */
    if (g_phase != P_STORM || (cl->st != C_REPLAY && cl->st != C_DONE)) {
        n_stray++;
        return;
    }
    long k = (seq - g_prime_events) / g_rooms;
    uint64_t *w = &g_missed[(size_t)c->idx * g_mwords + (size_t)(k >> 6)];
    uint64_t bit = 1ull << (k & 63);
    if (*w & bit) {
        n_dups++;
        return;
    }
    *w |= bit;
    n_delivered++;
    if (k < cl->last_k)
        n_out_of_order++;
    cl->last_k = k;
    if (++cl->got == g_missed_per_room && cl->st == C_REPLAY) {
        caught_up(c, cl);
        settle(cl, C_DONE);
    }
}

void storm_on_end(struct conn *c)
{
    struct client *cl = &g_cl[c->idx];
    early_free(cl);
    if (g_phase != P_STORM)
        return;
    if (cl->st == C_REPLAY)
        n_recovered_lost++;
    if (cl->st == C_WAIT || cl->st == C_REPLAY)
        settle(cl, C_FAILED);
}

static int all_primed(void)
{
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i].st == S_READY && __builtin_popcountll(g_cl[i].primed) < g_prime_per_room)
            return 0;
    return 1;
}

static long count_primed(void)
{
    long k = 0;
    for (int i = 0; i < g_nconns; i++)
        k += g_cl[i].connected && __builtin_popcountll(g_cl[i].primed) == g_prime_per_room;
    return k;
}

/* the measured figures, filled as the phases go */
struct figures {
    int64_t t_begin, t_ready, w_start, w_end;
    long connected, connect_failed, dropped, reconnecting;
    long started0, ready0, failed0, errors0, closed0;
    size_t hs0;
    double srv_connect_cpu, srv0, srv1, redis0, redis1, cpu0, cpu1, self0, self1, self_begin;
    long rss_before, rss_after;
};

static int report(struct figures *f, const char *failed_phase)
{
    int storm = g_phase == P_STORM;
    double win = storm && f->w_end > f->w_start ? (f->w_end - f->w_start) / 1e6 : 0;
    double srv = f->srv0 >= 0 && f->srv1 >= 0 ? f->srv1 - f->srv0 : -1;
    double redis = f->redis0 >= 0 && f->redis1 >= 0 ? f->redis1 - f->redis0 : -1;
    long expected = (long)g_clients * g_missed_per_room;
    double cs = f->t_ready > f->t_begin ? (f->t_ready - f->t_begin) / 1e6 : 0;
    printf("{\"mode\":\"storm\",\"clients\":%d,\"per_room\":%d,\"rooms\":%d", g_clients, g_per_room,
           g_rooms);
    printf(",\"connected\":%ld,\"connect_failed\":%ld,\"connect_s\":%.3f,\"connects_per_s\":%.1f,"
           "\"server_connect_cpu_s\":%.2f,\"no_pid\":%ld",
           f->connected, f->connect_failed, cs, cs > 0 ? f->connected / cs : 0, f->srv_connect_cpu,
           n_no_pid);
    printf(",\"prime_events\":%ld,\"primed\":%ld,\"dropped\":%ld,\"missed_events\":%ld,"
           "\"missed_per_client\":%ld",
           g_prime_events, count_primed(), f->dropped, g_missed_events, g_missed_per_room);
    printf(
        ",\"reconnecting\":%ld,\"reconnected\":%ld,\"reconnect_failed\":%ld,\"connect_errors\":%ld,"
        "\"server_closed\":%ld",
        f->reconnecting, storm ? n_ready - f->ready0 : 0, storm ? n_failed - f->failed0 : 0,
        storm ? n_connect_errors - f->errors0 : 0, storm ? n_server_closed - f->closed0 : 0);
    printf(",\"recovered\":%ld,\"not_recovered\":%ld,\"recovered_then_closed\":%ld,"
           "\"recovered_pct\":%.3f",
           n_recovered, n_not_recovered, n_recovered_lost,
           g_clients ? 100.0 * n_recovered / g_clients : 0);
    printf(",\"deliveries_expected\":%ld,\"delivered\":%ld,\"missing\":%ld,\"duplicates\":%ld,"
           "\"out_of_order\":%ld,\"stray\":%ld,\"events_received\":%ld,\"settled\":%ld,"
           "\"complete\":%s",
           expected, n_delivered, expected - n_delivered, n_dups, n_out_of_order, n_stray, n_events,
           n_settled, storm && n_settled == f->reconnecting && !failed_phase ? "true" : "false");
    if (failed_phase)
        printf(",\"failed_phase\":\"%s\"", failed_phase);
    printf(",");
    lg_print_dist("replay_ms", replay_lat, replay_n);
    printf(",");
    lg_print_dist("catchup_ms", catchup_lat, catchup_n);
    printf(",");
    lg_print_dist("reconnect_handshake_ms", hs_lat + f->hs0, storm ? hs_n - f->hs0 : 0);
    printf(
        ",\"storm_s\":%.3f,\"recoveries_per_s\":%.1f,\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.2f",
        win, win > 0 ? n_recovered / win : 0, srv, win > 0 && srv >= 0 ? 100 * srv / win : -1);
    printf(",\"recoveries_per_server_cpu_s\":%.1f", srv > 0 ? n_recovered / srv : 0);
    if (f->cpu0 >= 0 && f->cpu1 >= 0 && srv >= 0 && win > 0)
        printf(",\"server_cpu\":%d,\"server_cpu_other_pct\":%.2f", g_server_cpu,
               100 * (f->cpu1 - f->cpu0 - srv) / win);
    if (g_redis_pid > 0)
        printf(",\"redis_cpu_s\":%.3f,\"redis_cpu_pct\":%.2f", redis,
               win > 0 && redis >= 0 ? 100 * redis / win : -1);
    printf(",\"server_rss_kb_before\":%ld,\"server_rss_kb\":%ld", f->rss_before, f->rss_after);
    printf(",\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_pct\":%.2f,\"loadgen_total_cpu_s\":%.3f,"
           "\"wall_s\":%.3f}\n",
           f->self1 - f->self0, win > 0 ? 100 * (f->self1 - f->self0) / win : -1,
           lg_self_cpu_s() - f->self_begin, (lg_mono_us() - f->t_begin) / 1e6);
    fflush(stdout);
    return failed_phase || n_settled != f->reconnecting ? 1 : 0;
}

static void window_edge(double *srv, double *redis, double *cpu, double *self)
{
    *srv = lg_proc_cpu_s(g_server_pid);
    *redis = lg_proc_cpu_s(g_redis_pid);
    *cpu = lg_cpu_busy_s(g_server_cpu);
    *self = lg_self_cpu_s();
}

int storm_run(void)
{
    if (!g_away_file || !g_go_file)
        lg_die("storm needs --away-file and --go-file");
    if (g_prime_events <= 0 || g_prime_events % g_rooms || g_missed_events < 0 ||
        g_missed_events % g_rooms)
        lg_die("storm: --prime-events (> 0) and --missed-events must be multiples of the %d rooms",
               g_rooms);
    g_prime_per_room = g_prime_events / g_rooms;
    g_missed_per_room = g_missed_events / g_rooms;
    if (g_prime_per_room > 64)
        lg_die("storm: at most 64 priming events per room");
    g_mwords = (size_t)(g_missed_per_room + 63) / 64;
    g_cl = calloc((size_t)g_nconns, sizeof *g_cl);
    g_missed = calloc((size_t)g_nconns * (g_mwords ? g_mwords : 1), sizeof *g_missed);
    if (!g_cl || !g_missed)
        lg_die("out of memory");
    for (int i = 0; i < g_nconns; i++)
        g_cl[i].last_k = -1;

    struct figures f = {.t_begin = lg_mono_us(),
                        .srv0 = -1,
                        .srv1 = -1,
                        .redis0 = -1,
                        .redis1 = -1,
                        .cpu0 = -1,
                        .cpu1 = -1,
                        .self_begin = lg_self_cpu_s()};
    f.rss_before = lg_proc_rss_kb(g_server_pid);
    double srv_before = lg_proc_cpu_s(g_server_pid);

    /* 1. connect */
    int next = 0;
    while (!(next == g_nconns && n_ready + n_failed >= g_nconns)) {
        while (next < g_nconns && n_started - n_ready - n_failed < g_concurrency)
            lg_conn_start(&g_conns[next++]);
        if (g_stop)
            return report(&f, "connect");
        lg_poll(10);
    }
    f.t_ready = lg_mono_us();
    f.connected = n_ready;
    f.connect_failed = n_failed;
    f.srv_connect_cpu = lg_proc_cpu_s(g_server_pid) - srv_before;
    fprintf(stderr, "loadgen: %ld connected, %ld failed in %.2f s (%ld without a pid)\n", n_ready,
            n_failed, (f.t_ready - f.t_begin) / 1e6, n_no_pid);
    if (n_ready == 0)
        return report(&f, "connect");

    /* 2. prime, then drop every connection */
    g_phase = P_PRIME;
    if (g_ready_file)
        lg_touch(g_ready_file, n_ready);
    int64_t deadline = lg_mono_us() + (int64_t)(g_timeout * 1e6);
    while (!all_primed()) {
        if (g_stop || lg_mono_us() > deadline) {
            fprintf(stderr, "loadgen: priming: %ld of %ld clients had their events\n",
                    count_primed(), n_ready);
            return report(&f, "prime");
        }
        lg_poll(10);
    }
    for (int i = 0; i < g_nconns; i++) {
        if (g_conns[i].st == S_READY)
            f.dropped++;
        if (g_conns[i].st != S_FREE)
            lg_conn_drop(&g_conns[i]);
    }
    g_phase = P_AWAY;
    lg_touch(g_away_file, f.dropped);
    fprintf(stderr, "loadgen: primed; %ld connections dropped\n", f.dropped);

    /* 3. away, until the runner says go */
    deadline = lg_mono_us() + (int64_t)(g_timeout * 1e6);
    while (access(g_go_file, F_OK) != 0) {
        if (g_stop || lg_mono_us() > deadline)
            return report(&f, "away");
        usleep(10000);
    }

    /* 4. the storm */
    g_phase = P_STORM;
    f.started0 = n_started;
    f.ready0 = n_ready;
    f.failed0 = n_failed;
    f.hs0 = hs_n;
    f.errors0 = n_connect_errors;
    f.closed0 = n_server_closed;
    f.w_start = lg_mono_us();
    window_edge(&f.srv0, &f.redis0, &f.cpu0, &f.self0);
    for (int i = 0; i < g_nconns; i++)
        f.reconnecting += g_cl[i].connected;
    int64_t t_done = -1;
    deadline = f.w_start + (int64_t)(g_timeout * 1e6);
    next = 0;
    for (;;) {
        while (next < g_nconns &&
               (n_started - f.started0) - (n_ready - f.ready0) - (n_failed - f.failed0) <
                   g_concurrency) {
            struct client *cl = &g_cl[next];
            if (cl->connected) {
                cl->st = C_WAIT;
                lg_conn_start(&g_conns[next]);
                if (g_conns[next].st == S_FREE && cl->st == C_WAIT)
                    settle(cl, C_FAILED); /* no socket */
            }
            next++;
        }
        lg_poll(10);
        int64_t now = lg_mono_us();
        if (t_done < 0 && next == g_nconns && n_settled >= f.reconnecting) {
            t_done = now;
            f.w_end = t_last_settled;
            window_edge(&f.srv1, &f.redis1, &f.cpu1, &f.self1);
            fprintf(stderr, "loadgen: storm settled in %.2f s: %ld recovered, %ld not\n",
                    (f.w_end - f.w_start) / 1e6, n_recovered, n_not_recovered);
        }
        if (t_done >= 0 && now >= t_done + (int64_t)(g_linger * 1e6))
            break;
        if (t_done < 0 && (g_stop || now > deadline)) {
            fprintf(stderr, "loadgen: storm: %ld of %ld clients settled before the timeout\n",
                    n_settled, f.reconnecting);
            f.w_end = now;
            window_edge(&f.srv1, &f.redis1, &f.cpu1, &f.self1);
            break;
        }
    }
    f.rss_after = lg_proc_rss_kb(g_server_pid);
    return report(&f, NULL);
}
