/*
 * loadgen.c - many Socket.IO v5 clients over Engine.IO v4 WebSocket, in one
 * thread on epoll, for roomcast's benchmarks.
 *
 * Each client opens ws://HOST:PORT/socket.io/?EIO=4&transport=websocket,
 * does the HTTP upgrade and the WebSocket framing itself (client frames are
 * masked), waits for the Engine.IO open packet, sends
 * 40{"token":"<JWT>"} with an HS256 token it signs itself (sub u<i>,
 * programs [p<i / per_room>]) and waits for 40{"sid"...}. It answers the
 * Engine.IO ping "2" with "3" and WebSocket pings with pongs.
 *
 * Modes:
 *   fanout  connect N clients, signal readiness (--ready-file), then count
 *           the request:created events a producer sends: event ids are
 *           "<run-id>-<seq>", event seq goes to program p<seq % rooms>, and
 *           the data.title holds the producer's send time in microseconds
 *           since the epoch (CLOCK_REALTIME). Every expected (client, event)
 *           delivery is checked off in a bitmap: missing and duplicates are
 *           counted; latency = receive time - send time.
 *   idle    connect N clients, then stay connected for --duration seconds
 *           answering pings; the server's CPU and RSS are sampled.
 *   churn   --concurrency slots each loop connect, CONNECT, disconnect
 *           ("41" and a close frame) for --duration seconds.
 *   storm   a reconnect storm with connection state recovery (storm.c):
 *           connect, receive some events, drop every connection, wait,
 *           reconnect all with {pid, offset}; recovery and replay checked
 *           per client.
 *
 * With --server-pid the server's CPU time (utime+stime of /proc/PID/stat,
 * all threads) and RSS (VmRSS) are read at the edges of the measured
 * window, and so is the user+system time of the CPU the server is pinned
 * to, so that CPU time other processes took there shows. The generator's
 * own CPU (getrusage) is reported for the same window, so that it is never
 * the hidden bottleneck. One JSON object is
 * written on stdout; progress goes to stderr.
 *
 * Traffic goes to loopback addresses only (127.0.0.0/8): anything else is
 * refused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

#define IN_MAX (4 << 20) /* largest buffered input per connection */

/* options */
enum mode g_mode = M_FANOUT;
static struct sockaddr_in g_addr;
static char g_host[64] = "127.0.0.1";
static int g_port = 8080;
int g_clients = 500;
int g_per_room = 100;
int g_concurrency = 256;
static const char *g_secret = "bench-secret";
static EVP_PKEY *g_rsa;       /* --rsa-key: RS256 tokens instead of HS256 */
static char **g_token_cache;  /* RS256: one token per connection slot, signed once */
const char *g_run_id = "run";
static long g_events = 0; /* fanout: events the producer sends */
static double g_duration = 30;
double g_timeout = 120; /* fanout: seconds after ready; storm: per phase */
static double g_settle = 2;    /* idle: seconds between ready and window */
double g_linger = 1;    /* fanout, storm: seconds after the last expected */
static double g_connect_timeout = 20;
static int g_src_ips = 1;
int g_server_pid = 0;
int g_server_cpu = 0; /* the CPU the server is pinned to, -1: unknown */
const char *g_ready_file = NULL;
const char *g_event_name = "request:created";
static int g_dump = 0; /* events to print to stderr, as received */
long g_prime_events, g_missed_events;
const char *g_away_file, *g_go_file;
int g_redis_pid;

/* state */
static int g_ep = -1;
struct conn *g_conns;
int g_nconns;
int g_rooms;
volatile sig_atomic_t g_stop;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

/* counters */
long n_started, n_ready, n_failed, n_connect_errors, n_server_closed;
long n_pings, n_events, n_stray, n_dups;
static long n_distinct, n_closed_ok;
static int64_t t_first_ready = -1, t_last_ready = -1;
int64_t *hs_lat; /* handshake durations, us */
size_t hs_n;
static size_t hs_cap;
static int64_t *ev_lat; /* delivery latencies, us */
static size_t ev_n, ev_cap;
static uint64_t *g_bits; /* fanout: one bitmap per client */
static size_t g_words;   /* 64-bit words per client */
static long g_per_client_max;
static int64_t t_last_delivery = -1;
#define SEC_MAX 3600
static int64_t g_t_ready_wall = -1;       /* wall clock at ready, us */
static int64_t g_lat_max_by_s[SEC_MAX]; /* worst latency per second of sending, us */
static long deliveries_since_tick;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

void lg_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

int64_t lg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t lg_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rng(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

void lg_push(int64_t **a, size_t *n, size_t *cap, int64_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 65536;
        int64_t *p = realloc(*a, nc * sizeof **a);
        if (!p)
            lg_die("out of memory");
        *a = p;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
}

/* ---- JWT (HS256) ---- */

static size_t b64(const unsigned char *in, size_t n, char *out, int url)
{
    static const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char *urls = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *t = url ? urls : std;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = t[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

/* Signs in (RS256 with g_rsa, else HS256 with g_secret) into sig; its length. */
static size_t sign(const char *in, size_t n, unsigned char *sig, size_t cap)
{
    if (!g_rsa) {
        unsigned int maclen = 0;
        HMAC(EVP_sha256(), g_secret, (int)strlen(g_secret), (const unsigned char *)in, n, sig,
             &maclen);
        return maclen;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t len = cap;
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_rsa) != 1 ||
        EVP_DigestSign(md, sig, &len, (const unsigned char *)in, n) != 1)
        lg_die("RS256 signing failed");
    EVP_MD_CTX_free(md);
    return len;
}

/* Writes a token for user u<idx> in program p<room>; returns its length.
 * RS256 tokens are signed once per slot (signing is the costly part, and
 * the server's cost, verifying, is what is measured). */
size_t lg_make_token(int idx, int room, char *out, size_t cap)
{
    if (g_rsa && g_token_cache && idx >= 0 && idx < g_nconns && g_token_cache[idx]) {
        size_t n = strlen(g_token_cache[idx]);
        if (n + 1 > cap)
            lg_die("token too long");
        memcpy(out, g_token_cache[idx], n + 1);
        return n;
    }
    char claims[256], sig_in[1024];
    unsigned char mac[1024];
    long now = (long)time(NULL);
    int cl = snprintf(claims, sizeof claims, "{\"sub\":\"u%d\",\"programs\":[\"p%d\"],\"iat\":%ld,\"exp\":%ld}",
                      idx, room, now, now + 86400);
    const char *hdr = g_rsa ? "{\"alg\":\"RS256\",\"typ\":\"JWT\"}" : "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t o = b64((const unsigned char *)hdr, strlen(hdr), sig_in, 1);
    sig_in[o++] = '.';
    o += b64((const unsigned char *)claims, (size_t)cl, sig_in + o, 1);
    size_t maclen = sign(sig_in, o, mac, sizeof mac);
    if (o + 2 + (maclen + 2) / 3 * 4 > cap)
        lg_die("token too long");
    memcpy(out, sig_in, o);
    out[o++] = '.';
    o += b64(mac, maclen, out + o, 1);
    out[o] = 0;
    if (g_rsa && g_token_cache && idx >= 0 && idx < g_nconns)
        g_token_cache[idx] = strdup(out);
    return o;
}

/* ---- connections ---- */

static void conn_want_out(struct conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_want_out(c, 1);
                return;
            }
            if (errno == EINTR)
                continue;
            return; /* the read side sees the error */
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    conn_want_out(c, 0);
}

static void conn_send_raw(struct conn *c, const void *p, size_t n)
{
    if (n > (size_t)IN_MAX || c->out_len > (size_t)IN_MAX)
        lg_die("output too large");
    char *q = realloc(c->out, c->out_len + n);
    if (!q)
        lg_die("out of memory");
    c->out = q;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

/* Queues one masked WebSocket frame and tries to write it. */
void lg_ws_send(struct conn *c, int op, const char *p, size_t n)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | op);
    if (n < 126)
        hdr[h++] = (unsigned char)(0x80 | n);
    else if (n < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    uint32_t m = (uint32_t)rng();
    unsigned char mask[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                             (unsigned char)(m >> 24)};
    memcpy(hdr + h, mask, 4);
    h += 4;
    size_t base = c->out_len;
    conn_send_raw(c, hdr, h);
    conn_send_raw(c, p, n);
    unsigned char *d = (unsigned char *)c->out + base + h;
    for (size_t i = 0; i < n; i++)
        d[i] ^= mask[i & 3];
    conn_flush(c);
}

static void conn_free_bufs(struct conn *c)
{
    free(c->in);
    free(c->msg);
    free(c->out);
    c->in = c->msg = c->out = NULL;
    c->in_len = c->in_cap = c->msg_len = c->msg_cap = c->out_len = c->out_off = 0;
}


/* Ends a connection. ok: a disconnect the generator meant (churn). */
static void conn_end(struct conn *c, int failed)
{
    if (g_mode == M_STORM)
        storm_on_end(c);
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    if (failed) {
        if (c->st == S_READY)
            n_server_closed++;
        else if (c->st != S_CLOSING)
            n_failed++;
    } else
        n_closed_ok++;
    c->st = S_FREE;
    conn_free_bufs(c);
    c->want_out = 0;
    if (g_mode == M_CHURN && !g_stop)
        lg_conn_start(c);
}

void lg_conn_drop(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = S_FREE;
    conn_free_bufs(c);
    c->want_out = 0;
}

void lg_conn_start(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
        n_failed++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (g_src_ips > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(n_started % g_src_ips));
        setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
            fprintf(stderr, "loadgen: bind: %s\n", strerror(errno));
    }
    c->fd = fd;
    c->st = S_TCP;
    c->t0 = lg_mono_us();
    c->deadline = c->t0 + (int64_t)(g_connect_timeout * 1e6);
    c->want_out = 1;
    n_started++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        lg_die("epoll_ctl: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) < 0 && errno != EINPROGRESS) {
        fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
        conn_end(c, 1);
    }
}

static void send_upgrade(struct conn *c)
{
    unsigned char key[16];
    char key64[32], req[512];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)rng();
    b64(key, 16, key64, 0);
    int n = snprintf(req, sizeof req,
                     "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     g_host, g_port, key64);
    conn_send_raw(c, req, (size_t)n);
    c->st = S_HTTP;
    conn_flush(c);
}

static void on_ready(struct conn *c)
{
    int64_t now = lg_mono_us();
    c->st = S_READY;
    c->was_ready = 1;
    n_ready++;
    lg_push(&hs_lat, &hs_n, &hs_cap, now - c->t0);
    if (t_first_ready < 0)
        t_first_ready = now;
    t_last_ready = now;
    if (g_mode == M_CHURN) {
        /* disconnect at once: Socket.IO DISCONNECT, then a close frame */
        static const unsigned char close_payload[2] = {0x03, 0xe8};
        lg_ws_send(c, 0x1, "41", 2);
        lg_ws_send(c, 0x8, (const char *)close_payload, 2);
        c->st = S_CLOSING;
        c->deadline = now + 2000000;
    }
}

static const char *find(const char *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle));
}

static void on_event(struct conn *c, const char *p, size_t n)
{
    int64_t now = lg_wall_us();
    n_events++;
    if (g_dump > 0) {
        g_dump--;
        fprintf(stderr, "loadgen: client %d received: %.*s\n", c->idx, (int)(n > 2000 ? 2000 : n), p);
    }
    long seq;
    if (lg_event_seq(p, n, &seq) < 0 || seq >= g_events || seq % g_rooms != c->room) {
        n_stray++;
        return;
    }
    const char *t = find(p, n, "\"title\":\"");
    if (t) {
        long long sent = strtoll(t + 9, NULL, 10);
        if (sent > 0) {
            lg_push(&ev_lat, &ev_n, &ev_cap, now - sent);
            if (g_t_ready_wall >= 0 && sent >= g_t_ready_wall) {
                int64_t sec = (sent - g_t_ready_wall) / 1000000;
                if (sec < SEC_MAX && now - sent > g_lat_max_by_s[sec])
                    g_lat_max_by_s[sec] = now - sent;
            }
        }
    }
    long k = seq / g_rooms;
    uint64_t *w = &g_bits[(size_t)c->idx * g_words + (size_t)(k >> 6)];
    uint64_t bit = 1ull << (k & 63);
    if (*w & bit)
        n_dups++;
    else {
        *w |= bit;
        n_distinct++;
    }
    t_last_delivery = lg_mono_us();
    deliveries_since_tick++;
}

int lg_event_seq(const char *p, size_t n, long *seq)
{
    char name[64];
    int nl = snprintf(name, sizeof name, "42[\"%s\"", g_event_name);
    if (nl >= (int)sizeof name || n < (size_t)nl || memcmp(p, name, (size_t)nl) != 0)
        return -1;
    const char *id = find(p, n, "\"eventId\":\"");
    if (!id)
        return -1;
    id += 11;
    size_t rl = strlen(g_run_id);
    const char *end = p + n;
    if ((size_t)(end - id) < rl + 2 || memcmp(id, g_run_id, rl) != 0 || id[rl] != '-')
        return -1;
    if (id[rl + 1] < '0' || id[rl + 1] > '9')
        return -1;
    char *q;
    long v = strtol(id + rl + 1, &q, 10);
    if (q >= end || *q != '"' || v < 0)
        return -1;
    *seq = v;
    return 0;
}

static void on_message(struct conn *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    switch (c->st) {
    case S_EIO:
        if (p[0] == '0') {
            char tok[1024], pkt[1300];
            lg_make_token(c->idx, c->room, tok, sizeof tok);
            size_t l = g_mode == M_STORM ? storm_connect_packet(c, tok, pkt, sizeof pkt)
                                         : (size_t)snprintf(pkt, sizeof pkt, "40{\"token\":\"%s\"}", tok);
            c->st = S_SIO;
            lg_ws_send(c, 0x1, pkt, l);
        }
        return;
    case S_SIO:
        if (n >= 3 && p[0] == '4' && p[1] == '0' && p[2] == '{') {
            on_ready(c);
            if (g_mode == M_STORM)
                storm_on_connect(c, p, n);
            return;
        }
        if (g_mode == M_STORM && n >= 2 && p[0] == '4' && p[1] == '2') {
            storm_on_early_event(c, p, n);
            return;
        }
        if (n >= 2 && p[0] == '4' && p[1] == '4') {
            if (n_connect_errors++ < 3)
                fprintf(stderr, "loadgen: CONNECT_ERROR: %.*s\n", (int)(n > 200 ? 200 : n), p);
            conn_end(c, 1);
            return;
        }
        break;
    case S_READY:
        if (p[0] == '4' && n >= 2 && p[1] == '2') {
            if (g_mode == M_FANOUT)
                on_event(c, p, n);
            else if (g_mode == M_STORM)
                storm_on_event(c, p, n);
            else
                n_events++;
            return;
        }
        break;
    default:
        break;
    }
    if (p[0] == '2' && n == 1) {
        n_pings++;
        lg_ws_send(c, 0x1, "3", 1);
    } else if (p[0] == '1') {
        conn_end(c, 1);
    } else if (n >= 2 && p[0] == '4' && p[1] == '1' && c->st == S_READY) {
        conn_end(c, 1);
    }
}

/* Parses HTTP then WebSocket frames from c->in. Returns -1 when c ended. */
static int conn_parse(struct conn *c)
{
    size_t off = 0;
    if (c->st == S_HTTP) {
        char *e = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!e)
            return 0;
        if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
            if (n_failed < 3)
                fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(strcspn(c->in, "\r")), c->in);
            conn_end(c, 1);
            return -1;
        }
        off = (size_t)(e - c->in) + 4;
        c->st = S_EIO;
    }
    for (;;) {
        unsigned char *b = (unsigned char *)c->in + off;
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        int fin = b[0] & 0x80, op = b[0] & 0x0f, masked = b[1] & 0x80;
        uint64_t len = b[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)b[2] << 8 | b[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
            h = 10;
        }
        if (masked)
            h += 4;
        if (len > IN_MAX) {
            fprintf(stderr, "loadgen: frame too large\n");
            conn_end(c, 1);
            return -1;
        }
        if (avail < h + len)
            break;
        char *pl = (char *)b + h;
        if (masked)
            for (uint64_t i = 0; i < len; i++)
                pl[i] ^= (char)b[h - 4 + (i & 3)];
        off += h + (size_t)len;
        if (op == 0x8) {
            conn_end(c, c->st != S_CLOSING);
            return -1;
        } else if (op == 0x9) {
            lg_ws_send(c, 0xA, pl, (size_t)len);
        } else if (op == 0xA) {
        } else if (op == 0x0 || !fin) {
            if (op != 0)
                c->msg_op = op, c->msg_len = 0;
            if (c->msg_len + len > IN_MAX) {
                conn_end(c, 1);
                return -1;
            }
            if (c->msg_len + len > c->msg_cap) {
                c->msg_cap = c->msg_len + (size_t)len + 256;
                c->msg = realloc(c->msg, c->msg_cap);
                if (!c->msg)
                    lg_die("out of memory");
            }
            memcpy(c->msg + c->msg_len, pl, (size_t)len);
            c->msg_len += (size_t)len;
            if (fin) {
                on_message(c, c->msg, c->msg_len);
                if (c->st == S_FREE)
                    return -1;
                c->msg_len = 0;
            }
        } else {
            on_message(c, pl, (size_t)len);
            if (c->st == S_FREE)
                return -1;
        }
        if (c->st == S_FREE)
            return -1;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

static void conn_readable(struct conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 2048) {
            size_t nc = c->in_cap ? c->in_cap * 2 : 4096;
            if (nc > IN_MAX + 4096) {
                conn_end(c, 1);
                return;
            }
            char *p = realloc(c->in, nc);
            if (!p)
                lg_die("out of memory");
            c->in = p;
            c->in_cap = nc;
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
        if (r > 0) {
            c->in_len += (size_t)r;
            c->in[c->in_len] = 0;
            if (conn_parse(c) < 0)
                return;
            continue;
        }
        if (r == 0) {
            conn_end(c, c->st != S_CLOSING);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            conn_end(c, c->st != S_CLOSING);
        return;
    }
}

static void conn_event(struct conn *c, uint32_t evs)
{
    if (c->st == S_TCP) {
        if (evs & (EPOLLERR | EPOLLHUP)) {
            conn_end(c, 1);
            return;
        }
        if (evs & EPOLLOUT) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                if (n_failed < 3)
                    fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
                conn_end(c, 1);
                return;
            }
            send_upgrade(c);
        }
        return;
    }
    if (evs & EPOLLOUT)
        conn_flush(c);
    if (evs & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_readable(c);
}

void lg_poll(int timeout_ms)
{
    static int64_t last_scan;
    struct epoll_event evs[512];
    int n = epoll_wait(g_ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++)
        conn_event(evs[i].data.ptr, evs[i].events);
    /* deadlines: connect and close */
    int64_t now = lg_mono_us();
    if (now - last_scan > 200000) {
        last_scan = now;
        for (int i = 0; i < g_nconns; i++) {
            struct conn *c = &g_conns[i];
            if (c->st != S_FREE && c->st != S_READY && now > c->deadline)
                conn_end(c, c->st != S_CLOSING);
        }
    }
}

void lg_touch(const char *path, long value)
{
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%ld\n", value) < 0 || fclose(f) != 0)
        lg_die("cannot write %s: %s", path, strerror(errno));
}

/* ---- output ---- */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct(int64_t *a, size_t n, double q)
{
    if (!n)
        return -1;
    size_t i = (size_t)(q * (double)n + 0.999999);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return (double)a[i] / 1000.0;
}

void lg_print_dist(const char *name, int64_t *a, size_t n)
{
    qsort(a, n, sizeof *a, cmp64);
    printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}", name, n, pct(a, n, 0.5),
           pct(a, n, 0.99), pct(a, n, 0.999), n ? (double)a[n - 1] / 1000.0 : -1.0);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --mode fanout|idle|churn|storm [options]\n"
            "  --url HOST:PORT        server (loopback only), default 127.0.0.1:8080\n"
            "  --clients N            clients (fanout, idle, storm) or slots (churn: see --concurrency)\n"
            "  --per-room N           clients per program room (default 100)\n"
            "  --concurrency N        handshakes in flight while connecting (default 256);\n"
            "                         in churn mode the number of looping clients\n"
            "  --secret S             HS256 secret (default bench-secret)\n"
            "  --rsa-key PEM          sign RS256 tokens with this private key instead\n"
            "                         (each connection slot's token is signed once)\n"
            "  --run-id ID            fanout, storm: event ids are ID-<seq>\n"
            "  --events N             fanout: events the producer sends (seq 0..N-1)\n"
            "  --event NAME           fanout, storm: event name (default request:created)\n"
            "  --timeout S            fanout: give up S seconds after ready (default 120);\n"
            "                         storm: S seconds for each phase\n"
            "  --linger S             fanout, storm: keep listening S seconds after the last\n"
            "                         expected delivery, for duplicates (default 1)\n"
            "  --duration S           idle, churn: measured window (default 30)\n"
            "  --settle S             idle: wait before the window (default 2)\n"
            "  --connect-timeout S    per connection (default 20)\n"
            "  --src-ips N            spread source addresses over 127.0.0.1..N (default 1)\n"
            "  --server-pid PID       sample the server's CPU and RSS\n"
            "  --server-cpu N         the CPU the server is pinned to (default 0, -1 none):\n"
            "                         reports how much of it other processes used\n"
            "  --ready-file PATH      fanout, idle, storm: created once every client is connected\n"
            "  --dump N               fanout: print the first N events received to stderr\n"
            "  --prime-events N       storm: events (seq 0..N-1) produced once connected\n"
            "  --missed-events M      storm: events (seq N..N+M-1) produced while away\n"
            "                         (N and M: multiples of the number of rooms)\n"
            "  --away-file PATH       storm: created once every client had its priming\n"
            "                         events and every connection was dropped\n"
            "  --go-file PATH         storm: reconnect everyone once this file exists\n"
            "  --redis-pid PID        storm: sample Redis's CPU as well\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", 1, 0, 'm'},        {"url", 1, 0, 'u'},         {"clients", 1, 0, 'n'},
        {"per-room", 1, 0, 'r'},    {"concurrency", 1, 0, 'c'}, {"secret", 1, 0, 's'},
        {"rsa-key", 1, 0, 'K'},
        {"run-id", 1, 0, 'i'},      {"events", 1, 0, 'e'},      {"timeout", 1, 0, 't'},
        {"duration", 1, 0, 'd'},    {"settle", 1, 0, 'S'},      {"linger", 1, 0, 'l'},
        {"src-ips", 1, 0, 'I'},     {"server-pid", 1, 0, 'p'},  {"ready-file", 1, 0, 'f'},
        {"event", 1, 0, 'E'},       {"connect-timeout", 1, 0, 'T'}, {"dump", 1, 0, 'D'},
        {"server-cpu", 1, 0, 'C'},  {"prime-events", 1, 0, 'P'}, {"missed-events", 1, 0, 'M'},
        {"away-file", 1, 0, 'A'},   {"go-file", 1, 0, 'G'},     {"redis-pid", 1, 0, 'R'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            if (!strcmp(optarg, "fanout"))
                g_mode = M_FANOUT;
            else if (!strcmp(optarg, "idle"))
                g_mode = M_IDLE;
            else if (!strcmp(optarg, "churn"))
                g_mode = M_CHURN;
            else if (!strcmp(optarg, "storm"))
                g_mode = M_STORM;
            else
                usage();
            break;
        case 'u': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof g_host)
                usage();
            memcpy(g_host, optarg, (size_t)(colon - optarg));
            g_host[colon - optarg] = 0;
            g_port = atoi(colon + 1);
            break;
        }
        case 'n': g_clients = atoi(optarg); break;
        case 'r': g_per_room = atoi(optarg); break;
        case 'c': g_concurrency = atoi(optarg); break;
        case 's': g_secret = optarg; break;
        case 'K': {
            FILE *f = fopen(optarg, "r");
            if (!f || !(g_rsa = PEM_read_PrivateKey(f, NULL, NULL, NULL)))
                lg_die("--rsa-key %s: cannot read a PEM private key", optarg);
            fclose(f);
            break;
        }
        case 'i': g_run_id = optarg; break;
        case 'e': g_events = atol(optarg); break;
        case 't': g_timeout = atof(optarg); break;
        case 'd': g_duration = atof(optarg); break;
        case 'S': g_settle = atof(optarg); break;
        case 'l': g_linger = atof(optarg); break;
        case 'I': g_src_ips = atoi(optarg); break;
        case 'p': g_server_pid = atoi(optarg); break;
        case 'f': g_ready_file = optarg; break;
        case 'E': g_event_name = optarg; break;
        case 'T': g_connect_timeout = atof(optarg); break;
        case 'D': g_dump = atoi(optarg); break;
        case 'C': g_server_cpu = atoi(optarg); break;
        case 'P': g_prime_events = atol(optarg); break;
        case 'M': g_missed_events = atol(optarg); break;
        case 'A': g_away_file = optarg; break;
        case 'G': g_go_file = optarg; break;
        case 'R': g_redis_pid = atoi(optarg); break;
        default: usage();
        }
    }
    if (g_clients <= 0 || g_per_room <= 0 || g_concurrency <= 0 || g_port <= 0 || g_port > 65535 ||
        g_src_ips < 1 || g_src_ips > 254 || g_duration <= 0 || g_timeout <= 0)
        usage();
    if (!strcmp(g_host, "localhost"))
        strcpy(g_host, "127.0.0.1");
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)g_port);
    if (inet_pton(AF_INET, g_host, &g_addr.sin_addr) != 1)
        lg_die("host must be an IPv4 literal: %s", g_host);
    if ((ntohl(g_addr.sin_addr.s_addr) >> 24) != 127)
        lg_die("refusing a non-loopback target %s: benchmarks stay on 127.0.0.0/8", g_host);

    /* descriptors: raise the soft limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    int nconns = g_mode == M_CHURN ? g_concurrency : g_clients;
    if ((rlim_t)nconns + 32 > rl.rlim_cur)
        lg_die("%d connections need more descriptors than the limit %llu", nconns, (unsigned long long)rl.rlim_cur);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    g_rng ^= (uint64_t)lg_wall_us() ^ ((uint64_t)getpid() << 32);

    g_nconns = nconns;
    if (g_rsa && !(g_token_cache = calloc((size_t)nconns, sizeof *g_token_cache)))
        lg_die("out of memory");
    g_conns = calloc((size_t)nconns, sizeof *g_conns);
    if (!g_conns)
        lg_die("out of memory");
    g_rooms = (g_clients + g_per_room - 1) / g_per_room;
    for (int i = 0; i < nconns; i++) {
        g_conns[i].fd = -1;
        g_conns[i].idx = i;
        g_conns[i].room = i / g_per_room;
    }
    if (g_mode == M_CHURN)
        g_rooms = (nconns + g_per_room - 1) / g_per_room;
    if (g_mode == M_FANOUT) {
        if (g_events <= 0)
            lg_die("fanout needs --events");
        g_per_client_max = (g_events + g_rooms - 1) / g_rooms;
        g_words = (size_t)(g_per_client_max + 63) / 64;
        g_bits = calloc((size_t)nconns * g_words, sizeof *g_bits);
        if (!g_bits)
            lg_die("out of memory");
    }
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g_ep < 0)
        lg_die("epoll_create1: %s", strerror(errno));
    if (g_mode == M_STORM)
        return storm_run();

    long rss_before = lg_proc_rss_kb(g_server_pid);
    double srv_cpu_before_connect = lg_proc_cpu_s(g_server_pid);
    int64_t t_begin = lg_mono_us();
    double self_begin = lg_self_cpu_s();

    /* measured window */
    int64_t w_start = -1, w_end = -1;
    double srv_w0 = -1, srv_w1 = -1, self_w0 = 0, self_w1 = 0;
    double srv_connect_cpu = -1;
    double cpu_w0 = -1, cpu_w1 = -1; /* g_server_cpu busy seconds */
    int64_t t_ready = -1, t_done = -1;
    long delivered_at_ready = 0;
    int next = 0; /* next client to start (fanout, idle) */
    int64_t next_tick = lg_mono_us() + 50000;
    long expected_total = 0;
    if (g_mode == M_FANOUT)
        for (int i = 0; i < nconns; i++) {
            long r = g_conns[i].room;
            expected_total += g_events / g_rooms + (r < g_events % g_rooms ? 1 : 0);
        }

    if (g_mode == M_CHURN) {
        w_start = lg_mono_us();
        srv_w0 = lg_proc_cpu_s(g_server_pid);
        cpu_w0 = lg_cpu_busy_s(g_server_cpu);
        self_w0 = lg_self_cpu_s();
        for (int i = 0; i < nconns; i++)
            lg_conn_start(&g_conns[i]);
    }

    for (;;) {
        int64_t now = lg_mono_us();
        /* start connections, at most g_concurrency handshakes in flight */
        if (g_mode != M_CHURN && t_ready < 0) {
            while (next < nconns && n_started - n_ready - n_failed < g_concurrency)
                lg_conn_start(&g_conns[next++]);
            if (next == nconns && n_ready + n_failed >= nconns) {
                t_ready = now;
                g_t_ready_wall = lg_wall_us();
                srv_connect_cpu = lg_proc_cpu_s(g_server_pid) - srv_cpu_before_connect;
                fprintf(stderr, "loadgen: %ld connected, %ld failed in %.2f s\n", n_ready, n_failed,
                        (now - t_begin) / 1e6);
                if (g_mode == M_FANOUT) {
                    w_start = now;
                    srv_w0 = lg_proc_cpu_s(g_server_pid);
                    cpu_w0 = lg_cpu_busy_s(g_server_cpu);
                    srv_w1 = srv_w0;
                    cpu_w1 = cpu_w0;
                    self_w0 = lg_self_cpu_s();
                    self_w1 = self_w0;
                    w_end = now;
                    delivered_at_ready = n_distinct;
                }
                if (g_ready_file)
                    lg_touch(g_ready_file, n_ready);
            }
        }
        if (g_mode == M_IDLE && t_ready >= 0) {
            if (w_start < 0 && now >= t_ready + (int64_t)(g_settle * 1e6)) {
                w_start = now;
                srv_w0 = lg_proc_cpu_s(g_server_pid);
                cpu_w0 = lg_cpu_busy_s(g_server_cpu);
                self_w0 = lg_self_cpu_s();
            }
            if (w_start >= 0 && now >= w_start + (int64_t)(g_duration * 1e6)) {
                w_end = now;
                srv_w1 = lg_proc_cpu_s(g_server_pid);
                cpu_w1 = lg_cpu_busy_s(g_server_cpu);
                self_w1 = lg_self_cpu_s();
                break;
            }
        }
        if (g_mode == M_CHURN && now >= w_start + (int64_t)(g_duration * 1e6)) {
            w_end = now;
            srv_w1 = lg_proc_cpu_s(g_server_pid);
            cpu_w1 = lg_cpu_busy_s(g_server_cpu);
            self_w1 = lg_self_cpu_s();
            break;
        }
        if (g_mode == M_FANOUT && t_ready >= 0) {
            if (now >= next_tick) {
                if (deliveries_since_tick) {
                    srv_w1 = lg_proc_cpu_s(g_server_pid);
                    cpu_w1 = lg_cpu_busy_s(g_server_cpu);
                    self_w1 = lg_self_cpu_s();
                    w_end = now;
                    deliveries_since_tick = 0;
                }
                next_tick = now + 50000;
            }
            if (t_done < 0 && n_distinct >= expected_total) {
                t_done = now;
                srv_w1 = lg_proc_cpu_s(g_server_pid);
                cpu_w1 = lg_cpu_busy_s(g_server_cpu);
                self_w1 = lg_self_cpu_s();
                w_end = now;
                deliveries_since_tick = 0;
            }
            if (t_done >= 0 && now >= t_done + (int64_t)(g_linger * 1e6))
                break;
            if (now >= t_ready + (int64_t)(g_timeout * 1e6)) {
                fprintf(stderr, "loadgen: timeout: %ld of %ld deliveries\n", n_distinct, expected_total);
                if (deliveries_since_tick) {
                    srv_w1 = lg_proc_cpu_s(g_server_pid);
                    cpu_w1 = lg_cpu_busy_s(g_server_cpu);
                    self_w1 = lg_self_cpu_s();
                    w_end = now;
                }
                break;
            }
        }
        if (g_stop)
            break;
        lg_poll(10);
    }

    /* report */
    long rss_after = lg_proc_rss_kb(g_server_pid);
    double self_total = lg_self_cpu_s() - self_begin;
    double wall_total = (lg_mono_us() - t_begin) / 1e6;
    double win = (w_start >= 0 && w_end > w_start) ? (w_end - w_start) / 1e6 : 0;
    double srv_cpu = (srv_w0 >= 0 && srv_w1 >= 0) ? srv_w1 - srv_w0 : -1;
    double self_cpu = self_w1 - self_w0;
    const char *mode = g_mode == M_FANOUT ? "fanout" : g_mode == M_IDLE ? "idle" : "churn";
    printf("{\"mode\":\"%s\",\"clients\":%d,\"per_room\":%d,\"rooms\":%d", mode,
           g_mode == M_CHURN ? g_concurrency : g_clients, g_per_room, g_rooms);
    printf(",\"connections_started\":%ld,\"connected\":%ld,\"connect_failed\":%ld,\"connect_errors\":%ld", n_started,
           n_ready, n_failed, n_connect_errors);
    if (g_mode != M_CHURN) {
        double cs = (t_first_ready >= 0 && t_last_ready >= 0) ? (t_last_ready - t_begin) / 1e6 : 0;
        printf(",\"connect_s\":%.3f,\"connects_per_s\":%.1f,\"server_connect_cpu_s\":%.2f", cs,
               cs > 0 ? n_ready / cs : 0, srv_connect_cpu);
    }
    printf(",");
    lg_print_dist("handshake_ms", hs_lat, hs_n);
    printf(",\"server_closed\":%ld,\"pings_answered\":%ld,\"events_received\":%ld", n_server_closed, n_pings,
           n_events);
    if (g_mode == M_FANOUT) {
        long missing = expected_total - n_distinct;
        printf(",\"events_sent\":%ld,\"deliveries_expected\":%ld,\"delivered\":%ld,\"missing\":%ld,"
               "\"duplicates\":%ld,\"stray\":%ld,\"delivered_pct\":%.4f,\"complete\":%s,",
               g_events, expected_total, n_distinct, missing, n_dups, n_stray,
               expected_total ? 100.0 * n_distinct / expected_total : 0, t_done >= 0 ? "true" : "false");
        lg_print_dist("latency_ms", ev_lat, ev_n);
        /* worst latency of the events sent in each second after ready */
        int last = -1;
        for (int i = 0; i < SEC_MAX; i++)
            if (g_lat_max_by_s[i])
                last = i;
        printf(",\"latency_max_ms_by_send_second\":[");
        for (int i = 0; i <= last; i++)
            printf("%s%.1f", i ? "," : "", g_lat_max_by_s[i] / 1000.0);
        printf("]");
        long in_win = n_distinct - delivered_at_ready;
        printf(",\"deliveries_per_s\":%.1f,\"deliveries_per_server_cpu_s\":%.1f", win > 0 ? in_win / win : 0,
               srv_cpu > 0 ? in_win / srv_cpu : 0);
    }
    if (g_mode == M_CHURN) {
        printf(",\"disconnects\":%ld,\"handshakes_per_s\":%.1f,\"handshakes_per_server_cpu_s\":%.1f", n_closed_ok,
               win > 0 ? n_ready / win : 0, srv_cpu > 0 ? n_ready / srv_cpu : 0);
    }
    printf(",\"window_s\":%.3f,\"server_cpu_s\":%.3f,\"server_cpu_pct\":%.2f", win, srv_cpu,
           win > 0 && srv_cpu >= 0 ? 100 * srv_cpu / win : -1);
    if (cpu_w0 >= 0 && cpu_w1 >= 0 && srv_cpu >= 0 && win > 0)
        printf(",\"server_cpu\":%d,\"server_cpu_other_pct\":%.2f", g_server_cpu,
               100 * (cpu_w1 - cpu_w0 - srv_cpu) / win);
    printf(",\"server_rss_kb_before\":%ld,\"server_rss_kb\":%ld", rss_before, rss_after);
    if (g_mode == M_IDLE && n_ready > 0 && rss_before > 0 && rss_after > 0)
        printf(",\"server_rss_kb_per_client\":%.2f", (double)(rss_after - rss_before) / n_ready);
    printf(",\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_pct\":%.2f,\"loadgen_total_cpu_s\":%.3f,\"wall_s\":%.3f}\n",
           self_cpu, win > 0 ? 100 * self_cpu / win : -1, self_total, wall_total);
    return 0;
}
