/*
 * history_redis.c - the Redis history backend: one Lua script per append,
 * pub/sub as the bus, pipelined replays, shared memberships and sessions.
 *
 * Implementation notes (docs/history.md has the key layout and the rules).
 *
 * Connections: three blocking hiredis connections, each used by one thread
 * only: `app` for appends (under append_lock; the consumer thread), `work`
 * for replays and sessions (the history's worker thread), and the bus
 * thread's own subscriber connection; rc_history_memberships opens a
 * short-lived fourth one on the calling thread. Each has 2 s connect and
 * command timeouts; after a failure the connection is dropped and the next
 * attempt waits for a backoff (100 ms doubling to 2 s), so a caller gets -1
 * at once instead of waiting for a dead server again.
 *
 * Append: one Lua script (history_redis.lua) runs atomically in Redis:
 * epoch, dedupe, seq, the global log, the room streams with their trimming
 * bookkeeping, the membership sets, then PUBLISH. The eventId key is
 * written last, so a script that failed half-way is retried in full rather
 * than taken for a duplicate. The script is loaded once per connection
 * (SCRIPT LOAD) and run with EVALSHA, loaded again on NOSCRIPT.
 *
 * Bus: the bus thread polls its socket and an eventfd (the stop signal),
 * sends PING after a second of silence and reconnects when no answer comes
 * within the timeout, so a stopped or unreachable server is noticed even
 * when nothing is published. Each message is decoded into a new event and
 * handed to the subscriber on that thread.
 *
 * Message format: the envelope, a one-line JSON object written by
 * encode_body() with "offset" prepended by the script, then "\n", then the
 * payload's JSON text as is (so the payload's bytes reach clients
 * unchanged). decode_msg() checks every field and the payload, and returns
 * NULL with a reason for anything else.
 */
#include "history_private.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "errstr.h"
#include "hmap.h"
#include "log.h"
#include "rand.h"
#include "redis_url.h"
#include "slice.h"

#define K_EPOCH "roomcast:epoch"
#define K_EPOCH_START "roomcast:epoch:start"
#define K_SEQ "roomcast:seq"
#define K_LOG "roomcast:log"
#define K_EID "roomcast:eid:"
#define K_MEMBERS "roomcast:members:"
#define K_ROOM "roomcast:room:"
#define K_LOST "roomcast:lost:"
#define K_SESSION "roomcast:session:"
#define BUS_CHANNEL "roomcast:bus"

#define TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define PING_IDLE_MS 1000
#define BUS_MSG_MAX (8u * 1024 * 1024)
#define BUS_ROOMS_MAX 256

/*
 * The append script, core/history_redis.lua (its header says what KEYS and
 * ARGV hold and what it returns), embedded at build time by rc_embed:
 * rc_history_append_lua_len bytes, then a NUL.
 */
extern const unsigned char rc_history_append_lua[];
extern const size_t rc_history_append_lua_len;

struct rconn {
    const char *name;   /* "append", "query": for logs */
    redisContext *c;    /* owned; NULL while disconnected */
    char sha[48];       /* the append script's, "" until loaded */
    int64_t retry_at;   /* no connection attempt before */
    int64_t backoff_ms; /* 0 while healthy */
};

struct red {
    rc_redis_url conf;
    char where[RC_REDIS_WHERE_MAX]; /* host:port/db, for logs (never credentials) */
    int max_per_room;
    int64_t ttl_ms;
    pthread_mutex_t append_lock;
    struct rconn app;         /* guarded by append_lock */
    struct rconn work;        /* worker thread only */
    atomic_int store_ok;      /* last command on app or work succeeded */
    atomic_int bus_up;        /* subscribed */
    atomic_int bus_wanted;    /* rc_history_subscribe was called */
    pthread_mutex_t bus_lock; /* guards starting the bus */
    int bus_started;
    pthread_t bus;
    int stop_fd;              /* eventfd, -1 until the bus starts */
};

/* ---- connections ---- */

static const struct timeval io_timeout = {TIMEOUT_MS / 1000, (TIMEOUT_MS % 1000) * 1000};

static int reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

/* A new connection with timeouts, authenticated, on the right db; or NULL. */
static redisContext *conn_open(struct red *r, char *err, size_t errlen)
{
    redisContext *c = redisConnectWithTimeout(r->conf.host, r->conf.port, io_timeout);
    redisReply *rep = NULL;
    if (!c) {
        rc_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->err) {
        rc_errf(err, errlen, "%s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, io_timeout) != REDIS_OK) {
        rc_errf(err, errlen, "cannot set timeouts");
        goto fail;
    }
    redisEnableKeepAlive(c);
    if (r->conf.pass) {
        rep = r->conf.user ? redisCommand(c, "AUTH %s %s", r->conf.user, r->conf.pass)
                           : redisCommand(c, "AUTH %s", r->conf.pass);
        if (!reply_ok(rep)) {
            rc_errf(err, errlen, "AUTH failed: %s", rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (r->conf.db) {
        rep = redisCommand(c, "SELECT %d", r->conf.db);
        if (!reply_ok(rep)) {
            rc_errf(err, errlen, "SELECT %d failed: %s", r->conf.db,
                     rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    return c;
fail:
    freeReplyObject(rep);
    redisFree(c);
    return NULL;
}

static void backoff_next(struct rconn *rc)
{
    rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (rc->backoff_ms > BACKOFF_MAX_MS)
        rc->backoff_ms = BACKOFF_MAX_MS;
    rc->retry_at = rc_clock_wall_ms() + rc->backoff_ms;
}

/* Drops rc's connection after a failure; the next attempt waits a backoff. */
static void conn_fail(struct red *r, struct rconn *rc, const char *why)
{
    if (!rc->backoff_ms)
        LOG_ERROR("history", "redis %s (%s connection): %s", r->where, rc->name, why);
    else
        LOG_DEBUG("history", "redis %s (%s connection): %s", r->where, rc->name, why);
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
    rc->sha[0] = '\0';
    backoff_next(rc);
    atomic_store(&r->store_ok, 0);
}

/* rc's connection, connecting when due; NULL while Redis is unreachable. */
static redisContext *conn_get(struct red *r, struct rconn *rc)
{
    char err[256];
    if (rc->c)
        return rc->c;
    if (rc_clock_wall_ms() < rc->retry_at)
        return NULL;
    if (!(rc->c = conn_open(r, err, sizeof err))) {
        conn_fail(r, rc, err);
        return NULL;
    }
    if (rc->backoff_ms)
        LOG_INFO("history", "redis %s (%s connection): connected again", r->where, rc->name);
    rc->backoff_ms = 0;
    return rc->c;
}

/* After a command's reply: NULL means the connection broke. */
static int conn_check(struct red *r, struct rconn *rc, redisReply *rep)
{
    if (!rep) {
        char why[160];
        /* hiredis reports a timeout as EAGAIN */
        if (strstr(rc->c->errstr, "temporarily unavailable"))
            rc_errf(why, sizeof why, "no answer within %d ms", TIMEOUT_MS);
        else
            rc_errf(why, sizeof why, "%s", rc->c->errstr[0] ? rc->c->errstr : "connection lost");
        conn_fail(r, rc, why);
        return -1;
    }
    atomic_store(&r->store_ok, 1);
    return 0;
}

/* ---- argument vectors ---- */

struct argv {
    rc_buf buf;   /* every argument, back to back */
    size_t *off;  /* owned */
    size_t *len;  /* owned */
    size_t n, cap;
    int oom;
};

static void argv_add(struct argv *a, const char *p, size_t len)
{
    if (a->oom)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        size_t *o = realloc(a->off, cap * sizeof *o);
        if (o)
            a->off = o;
        size_t *l = o ? realloc(a->len, cap * sizeof *l) : NULL;
        if (!l) {
            a->oom = 1;
            return;
        }
        a->len = l;
        a->cap = cap;
    }
    a->off[a->n] = a->buf.len;
    a->len[a->n] = len;
    if (rc_buf_append(&a->buf, p, len) < 0) {
        a->oom = 1;
        return;
    }
    a->n++;
}

static void argv_str(struct argv *a, const char *s)
{
    argv_add(a, s, strlen(s));
}

/* prefix + s as one argument. */
static void argv_key(struct argv *a, const char *prefix, const char *s)
{
    size_t pl = strlen(prefix), sl = strlen(s);
    argv_add(a, prefix, pl);
    if (a->oom)
        return;
    if (rc_buf_append(&a->buf, s, sl) < 0) {
        a->oom = 1;
        return;
    }
    a->len[a->n - 1] += sl;
}

static void argv_int(struct argv *a, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    argv_add(a, tmp, (size_t)n);
}

/* Pointers for hiredis; valid until the next change. NULL when out of memory. */
static const char **argv_ptrs(struct argv *a)
{
    if (a->oom)
        return NULL;
    const char **v = malloc((a->n ? a->n : 1) * sizeof *v);
    if (v)
        for (size_t i = 0; i < a->n; i++)
            v[i] = a->buf.p + a->off[i];
    return v;
}

static void argv_free(struct argv *a)
{
    rc_buf_free(&a->buf);
    free(a->off);
    free(a->len);
}

/* ---- messages ---- */

/* The envelope without "offset", "\n", the payload. */
static int encode_body(const rc_event *ev, rc_buf *b)
{
    int bad = 0;
    bad |= rc_buf_puts(b, "{\"id\":");
    bad |= rc_buf_json_string(b, ev->id, strlen(ev->id));
    bad |= rc_buf_puts(b, ",\"name\":");
    bad |= rc_buf_json_string(b, ev->name, strlen(ev->name));
    bad |= rc_buf_puts(b, ",\"rooms\":[");
    for (size_t i = 0; i < ev->nrooms; i++) {
        if (i)
            bad |= rc_buf_puts(b, ",");
        bad |= rc_buf_json_string(b, ev->rooms[i], strlen(ev->rooms[i]));
    }
    bad |= rc_buf_printf(b, "],\"ts\":%" PRId64, ev->occurred_ms);
    if (ev->kafka_ts_ms >= 0)
        bad |= rc_buf_printf(b, ",\"kts\":%" PRId64, ev->kafka_ts_ms);
    if (ev->transient)
        bad |= rc_buf_puts(b, ",\"transient\":true");
    if (ev->member_op != RC_MEMBER_NONE && ev->member_user && ev->member_program) {
        bad |= rc_buf_printf(b, ",\"member\":{\"op\":\"%s\",\"user\":",
                             ev->member_op == RC_MEMBER_ADD ? "add" : "remove");
        bad |= rc_buf_json_string(b, ev->member_user, strlen(ev->member_user));
        bad |= rc_buf_puts(b, ",\"program\":");
        bad |= rc_buf_json_string(b, ev->member_program, strlen(ev->member_program));
        bad |= rc_buf_puts(b, "}");
    }
    bad |= rc_buf_puts(b, "}\n");
    bad |= rc_buf_append(b, ev->payload ? ev->payload : "{}",
                         ev->payload ? ev->payload_len : 2);
    return bad ? -1 : 0;
}

static char *json_dup(json_t *s)
{
    return strndup(json_string_value(s), json_string_length(s));
}

/* A non-empty JSON string without NULs, or NULL. */
static json_t *get_str(json_t *obj, const char *key, int may_be_empty)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || (!may_be_empty && !json_string_length(v)))
        return NULL;
    return v;
}

/* Parses one bus message or stream entry into a new event, or NULL + err. */
static rc_event *decode_msg(const char *msg, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *env = NULL, *pl = NULL;
    rc_event *ev = NULL;
    const char *nl;

    if (len > BUS_MSG_MAX) {
        rc_errf(err, errlen, "message of %zu bytes is too large", len);
        return NULL;
    }
    if (!(nl = memchr(msg, '\n', len))) {
        rc_errf(err, errlen, "no payload line");
        return NULL;
    }
    if (!(env = json_loadb(msg, (size_t)(nl - msg), JSON_REJECT_DUPLICATES, &je)) ||
        !json_is_object(env)) {
        rc_errf(err, errlen, "envelope: %.120s", env ? "not an object" : je.text);
        goto fail;
    }
    const char *payload = nl + 1;
    size_t plen = len - (size_t)(payload - msg);
    if (!(pl = json_loadb(payload, plen, 0, &je)) || !json_is_object(pl)) {
        rc_errf(err, errlen, "payload: %.120s", pl ? "not an object" : je.text);
        goto fail;
    }
    json_t *off = get_str(env, "offset", 1), *id = get_str(env, "id", 0),
           *name = get_str(env, "name", 0), *rooms = json_object_get(env, "rooms"),
           *ts = json_object_get(env, "ts"), *kts = json_object_get(env, "kts"),
           *tr = json_object_get(env, "transient"), *mem = json_object_get(env, "member");
    if (!off || !id || !name || !json_is_array(rooms) || !json_is_integer(ts) ||
        (kts && !json_is_integer(kts)) || (tr && !json_is_boolean(tr)) ||
        (mem && !json_is_object(mem))) {
        rc_errf(err, errlen, "envelope: a field is missing or has the wrong type");
        goto fail;
    }
    int transient = tr && json_is_true(tr);
    size_t olen = json_string_length(off);
    char ep[RC_OFFSET_MAX];
    uint64_t seq;
    if (olen >= RC_OFFSET_MAX || (transient ? olen != 0 : olen == 0) ||
        (olen && rc_offset_parse(json_string_value(off), ep, sizeof ep, &seq) < 0)) {
        rc_errf(err, errlen, "envelope: bad offset");
        goto fail;
    }
    if (json_array_size(rooms) > BUS_ROOMS_MAX) {
        rc_errf(err, errlen, "envelope: too many rooms");
        goto fail;
    }
    if (!(ev = rc_event_new()))
        goto oom;
    memcpy(ev->offset, json_string_value(off), olen + 1);
    ev->transient = transient;
    ev->occurred_ms = (int64_t)json_integer_value(ts);
    ev->kafka_ts_ms = kts ? (int64_t)json_integer_value(kts) : -1;
    if (!(ev->id = json_dup(id)) || !(ev->name = json_dup(name)))
        goto oom;
    for (size_t i = 0; i < json_array_size(rooms); i++) {
        json_t *rm = json_array_get(rooms, i);
        if (!json_is_string(rm) || !json_string_length(rm)) {
            rc_errf(err, errlen, "envelope: bad room");
            goto fail;
        }
        if (rc_event_add_room(ev, json_string_value(rm)) < 0)
            goto oom;
    }
    if (mem) {
        json_t *op = get_str(mem, "op", 0), *user = get_str(mem, "user", 0),
               *prog = get_str(mem, "program", 0);
        if (!op || !user || !prog ||
            (strcmp(json_string_value(op), "add") && strcmp(json_string_value(op), "remove"))) {
            rc_errf(err, errlen, "envelope: bad member");
            goto fail;
        }
        ev->member_op = strcmp(json_string_value(op), "add") ? RC_MEMBER_REMOVE : RC_MEMBER_ADD;
        if (!(ev->member_user = json_dup(user)) || !(ev->member_program = json_dup(prog)))
            goto oom;
    }
    if (!(ev->payload = malloc(plen + 1)))
        goto oom;
    memcpy(ev->payload, payload, plen);
    ev->payload[plen] = '\0';
    ev->payload_len = plen;
    json_decref(env);
    json_decref(pl);
    return ev;
oom:
    rc_errf(err, errlen, "out of memory");
fail:
    json_decref(env);
    json_decref(pl);
    rc_event_unref(ev);
    return NULL;
}

/* ---- append ---- */

static int load_script(struct red *r, struct rconn *rc)
{
    redisReply *rep = redisCommand(rc->c, "SCRIPT LOAD %b", rc_history_append_lua,
                                   rc_history_append_lua_len);
    if (conn_check(r, rc, rep) < 0)
        return -1;
    if (rep->type != REDIS_REPLY_STRING || rep->len >= sizeof rc->sha) {
        LOG_ERROR("history", "redis %s: SCRIPT LOAD failed: %s", r->where,
                  rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        return -1;
    }
    memcpy(rc->sha, rep->str, rep->len);
    rc->sha[rep->len] = '\0';
    freeReplyObject(rep);
    return 0;
}

static void random_hex(char *out, size_t nbytes)
{
    if (rc_random_hex(out, nbytes) == 0)
        return;
    /* Never expected; the time still makes a fresh epoch unlikely to repeat. */
    uint64_t t = (uint64_t)rc_clock_wall_ms() ^ ((uint64_t)getpid() << 40);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(unsigned char)(t >> (8 * (i % 8))));
}

/* EVALSHA on rc (locked); loads the script when needed. NULL when unreachable. */
static redisReply *run_append(struct red *r, struct rconn *rc, struct argv *a)
{
    const char **v = NULL;
    redisReply *rep = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!conn_get(r, rc) || (!rc->sha[0] && load_script(r, rc) < 0))
            return NULL;
        memcpy(a->buf.p + a->off[1], rc->sha, 40); /* argv[1] is the sha */
        if (!(v = argv_ptrs(a)))
            return NULL;
        rep = redisCommandArgv(rc->c, (int)a->n, v, a->len);
        free(v);
        if (conn_check(r, rc, rep) < 0)
            return NULL;
        if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "NOSCRIPT", 8)) {
            freeReplyObject(rep);
            rep = NULL;
            rc->sha[0] = '\0';
            continue;
        }
        return rep;
    }
    return rep;
}

static int red_append(rc_history *h, rc_event *ev)
{
    struct red *r = h->be;
    struct argv a = {0};
    rc_buf body = {0};
    char cand[33];
    redisReply *rep = NULL;
    int rc = -1;

    random_hex(cand, 8);
    if (encode_body(ev, &body) < 0)
        goto oom;
    argv_str(&a, "EVALSHA");
    argv_add(&a, "0000000000000000000000000000000000000000", 40);
    argv_int(&a, 6 + 2 * (long long)ev->nrooms);
    argv_str(&a, K_EPOCH);
    argv_str(&a, K_EPOCH_START);
    argv_str(&a, K_SEQ);
    argv_key(&a, K_EID, ev->id);
    argv_str(&a, K_LOG);
    argv_key(&a, K_MEMBERS, ev->member_op != RC_MEMBER_NONE && ev->member_user
                                ? ev->member_user : "");
    for (size_t i = 0; i < ev->nrooms; i++) {
        argv_key(&a, K_ROOM, ev->rooms[i]);
        argv_key(&a, K_LOST, ev->rooms[i]);
    }
    argv_str(&a, cand);
    argv_int(&a, r->ttl_ms);
    argv_int(&a, r->max_per_room);
    argv_str(&a, ev->transient ? "1" : "0");
    argv_str(&a, ev->member_op == RC_MEMBER_ADD      ? "add"
                 : ev->member_op == RC_MEMBER_REMOVE ? "remove" : "");
    argv_str(&a, ev->member_program && ev->member_op != RC_MEMBER_NONE ? ev->member_program : "");
    argv_int(&a, ev->occurred_ms);
    argv_add(&a, body.p, body.len);
    argv_str(&a, BUS_CHANNEL);
    if (a.oom)
        goto oom;

    pthread_mutex_lock(&r->append_lock);
    rep = run_append(r, &r->app, &a);
    pthread_mutex_unlock(&r->append_lock);
    if (!rep)
        goto done;
    if (rep->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("history", "redis %s: append of event %s failed: %s", r->where, ev->id,
                  rep->str);
        goto done;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        rep->element[2]->type != REDIS_REPLY_STRING ||
        rep->element[2]->len >= sizeof ev->offset) {
        LOG_ERROR("history", "redis %s: unexpected reply to the append of event %s",
                  r->where, ev->id);
        goto done;
    }
    if (rc_hist_set_epoch(h, rep->element[1]->str) < 0)
        goto oom;
    if (rep->element[0]->integer == 0) {
        LOG_DEBUG("history", "duplicate event %s dropped", ev->id);
        rc = 0;
        goto done;
    }
    memcpy(ev->offset, rep->element[2]->str, rep->element[2]->len + 1);
    rc = 1;
    goto done;
oom:
    LOG_ERROR("history", "out of memory appending event %s", ev->id);
done:
    freeReplyObject(rep);
    rc_buf_free(&body);
    argv_free(&a);
    return rc;
}

/* ---- queries (worker thread) ---- */

/*
 * Runs the commands queued on c (after MULTI) as one round trip: reads the
 * replies of MULTI, of the ncmds commands and of EXEC. Returns the EXEC
 * reply (an array of ncmds replies) or NULL (logged).
 */
static redisReply *txn_finish(struct red *r, struct rconn *rc, size_t ncmds)
{
    redisReply *exec = NULL;
    for (size_t i = 0; i < ncmds + 2; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(rc->c, (void **)&rep) != REDIS_OK || !rep) {
            freeReplyObject(exec);
            conn_check(r, rc, NULL);
            return NULL;
        }
        if (i == ncmds + 1)
            exec = rep;
        else
            freeReplyObject(rep);
    }
    atomic_store(&r->store_ok, 1);
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != ncmds) {
        LOG_ERROR("history", "redis %s: transaction failed: %s", r->where,
                  exec->type == REDIS_REPLY_ERROR ? exec->str : "unexpected reply");
        freeReplyObject(exec);
        return NULL;
    }
    return exec;
}

/* A stream entry [id, [field, value, ...]] of ours. */
struct sentry {
    uint64_t seq;
    int64_t a;       /* append time */
    int64_t t;       /* occurred time */
    const char *m;   /* borrowed from the reply */
    size_t mlen;
};

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    char tmp[24], *end;
    if (!len || len >= sizeof tmp)
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/*
 * Parses a stream entry; log entries (need_m 0) have no "m". Returns 0 or -1.
 */
static int parse_entry_fields(const redisReply *e, struct sentry *out, int need_m)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    const char *id = e->element[0]->str;
    uint64_t seq = 0;
    const char *p = id;
    for (; *p >= '0' && *p <= '9'; p++)
        seq = seq * 10 + (uint64_t)(*p - '0');
    if (p == id || *p != '-')
        return -1;
    memset(out, 0, sizeof *out);
    out->seq = seq;
    const redisReply *f = e->element[1];
    int have = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len != 1)
            return -1;
        if (k->str[0] == 'a' && parse_i64(v->str, v->len, &out->a) == 0)
            have |= 1;
        else if (k->str[0] == 't' && parse_i64(v->str, v->len, &out->t) == 0)
            have |= 2;
        else if (k->str[0] == 'm') {
            out->m = v->str;
            out->mlen = v->len;
            have |= 4;
        }
    }
    return have == (need_m ? 7 : 3) ? 0 : -1;
}

static int parse_entry(const redisReply *e, struct sentry *out)
{
    return parse_entry_fields(e, out, 1);
}

static int cmp_sentry(const void *x, const void *y)
{
    const struct sentry *a = x, *b = y;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Sorts the entries, keeps each seq once, decodes them into *out. Entries of
 * another epoch than `epoch` are left out. Returns RC_REPLAY_OK, or GAP when
 * a stored entry cannot be decoded (nothing partial is given).
 */
static int entries_to_events(struct red *r, struct sentry *es, size_t n, const char *epoch,
                             rc_event ***out, size_t *nout)
{
    if (!n)
        return RC_REPLAY_OK;
    qsort(es, n, sizeof *es, cmp_sentry);
    rc_event **evs = malloc(n * sizeof *evs);
    size_t k = 0;
    char err[160], ep[RC_OFFSET_MAX];
    uint64_t seq;
    if (!evs)
        return RC_REPLAY_UNAVAILABLE;
    for (size_t i = 0; i < n; i++) {
        if (i && es[i].seq == es[i - 1].seq)
            continue;
        rc_event *ev = decode_msg(es[i].m, es[i].mlen, err, sizeof err);
        if (!ev || rc_offset_parse(ev->offset, ep, sizeof ep, &seq) < 0 ||
            seq != es[i].seq) {
            LOG_ERROR("history", "redis %s: stored event %" PRIu64 " is unreadable: %s",
                      r->where, es[i].seq, ev ? "offset mismatch" : err);
            rc_event_unref(ev);
            for (size_t j = 0; j < k; j++)
                rc_event_unref(evs[j]);
            free(evs);
            return RC_REPLAY_GAP;
        }
        if (strcmp(ep, epoch)) {
            rc_event_unref(ev); /* left from an older epoch */
            continue;
        }
        evs[k++] = ev;
    }
    if (!k) {
        free(evs);
        return RC_REPLAY_OK;
    }
    *out = evs;
    *nout = k;
    return RC_REPLAY_OK;
}

static int reply_i64(const redisReply *rep, int64_t *out)
{
    if (rep->type == REDIS_REPLY_INTEGER) {
        *out = rep->integer;
        return 0;
    }
    if (rep->type == REDIS_REPLY_STRING)
        return parse_i64(rep->str, rep->len, out);
    return -1;
}

/* TIME's reply in milliseconds. */
static int reply_time(const redisReply *rep, int64_t *ms)
{
    int64_t s, us;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        reply_i64(rep->element[0], &s) < 0 || reply_i64(rep->element[1], &us) < 0)
        return -1;
    *ms = s * 1000 + us / 1000;
    return 0;
}

/* Appends room's entries from an XRANGE reply to *es. */
static int collect_entries(const redisReply *xr, struct sentry **es, size_t *n, size_t *cap)
{
    if (xr->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < xr->elements; i++) {
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            struct sentry *ne = realloc(*es, c * sizeof *ne);
            if (!ne)
                return -1;
            *es = ne;
            *cap = c;
        }
        if (parse_entry(xr->element[i], &(*es)[*n]) < 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* HMGET lost seq ts: the room's marker (0, 0 when absent). */
static int reply_lost(const redisReply *rep, int64_t *seq, int64_t *ts)
{
    *seq = *ts = 0;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        return -1;
    if (rep->element[0]->type != REDIS_REPLY_NIL && reply_i64(rep->element[0], seq) < 0)
        return -1;
    if (rep->element[1]->type != REDIS_REPLY_NIL && reply_i64(rep->element[1], ts) < 0)
        return -1;
    return 0;
}

static int red_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    char epoch[RC_OFFSET_MAX];
    uint64_t seq;
    redisReply *x = NULL;
    struct sentry *es = NULL;
    size_t n = 0, cap = 0;
    int status = RC_REPLAY_UNAVAILABLE;

    *out = NULL;
    *nout = 0;
    if (rc_offset_parse(after, epoch, sizeof epoch, &seq) < 0)
        return RC_REPLAY_INVALID;
    if (!conn_get(r, rc))
        return RC_REPLAY_UNAVAILABLE;
    redisContext *c = rc->c;
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "GET " K_EPOCH);
    redisAppendCommand(c, "GET " K_SEQ);
    redisAppendCommand(c, "TIME");
    redisAppendCommand(c, "XRANGE " K_LOG " (%" PRIu64 "-0 + COUNT 1", seq);
    for (size_t i = 0; i < nrooms; i++) {
        redisAppendCommand(c, "EXISTS " K_ROOM "%s", rooms[i]);
        redisAppendCommand(c, "HMGET " K_LOST "%s seq ts", rooms[i]);
        redisAppendCommand(c, "XRANGE " K_ROOM "%s (%" PRIu64 "-0 +", rooms[i], seq);
    }
    redisAppendCommand(c, "EXEC");
    if (!(x = txn_finish(r, rc, 4 + 3 * nrooms)))
        return RC_REPLAY_UNAVAILABLE;

    redisReply **e = x->element;
    int64_t cur = 0, now;
    if (e[0]->type != REDIS_REPLY_STRING) {
        status = RC_REPLAY_EPOCH; /* the store was lost and nothing appended since */
        goto done;
    }
    rc_hist_set_epoch(h, e[0]->str);
    if (strcmp(e[0]->str, epoch)) {
        status = RC_REPLAY_EPOCH;
        goto done;
    }
    if ((e[1]->type != REDIS_REPLY_NIL && reply_i64(e[1], &cur) < 0) ||
        reply_time(e[2], &now) < 0 || e[3]->type != REDIS_REPLY_ARRAY)
        goto bad;
    if (seq > (uint64_t)cur) {
        status = RC_REPLAY_INVALID; /* from the future: not ours */
        goto done;
    }
    int64_t cutoff = now - r->ttl_ms;
    /* beyond: some event after `after` may have expired by TTL anywhere. */
    int beyond = 0;
    if (seq < (uint64_t)cur) {
        /* The log holds every seq until it expires: S+1 must be there, recent. */
        struct sentry first;
        beyond = !(e[3]->elements == 1 && parse_entry_fields(e[3]->element[0], &first, 0) == 0 &&
                   first.seq == seq + 1 && first.a >= cutoff);
    }
    for (size_t i = 0; i < nrooms; i++) {
        redisReply *ex = e[4 + 3 * i], *lost = e[5 + 3 * i], *xr = e[6 + 3 * i];
        int64_t lseq, lts;
        if (ex->type != REDIS_REPLY_INTEGER || reply_lost(lost, &lseq, &lts) < 0)
            goto bad;
        if (!ex->integer) {
            if (beyond) {
                status = RC_REPLAY_GAP; /* the room went away with events we cannot tell */
                goto done;
            }
            continue;
        }
        if ((uint64_t)lseq > seq) {
            status = RC_REPLAY_GAP;
            goto done;
        }
        size_t from = n;
        if (collect_entries(xr, &es, &n, &cap) < 0)
            goto bad;
        for (size_t k = from; k < n; k++)
            if (es[k].a < cutoff) {
                status = RC_REPLAY_GAP; /* expired, not trimmed yet */
                goto done;
            }
    }
    status = entries_to_events(r, es, n, epoch, out, nout);
    goto done;
bad:
    LOG_ERROR("history", "redis %s: unexpected reply to a replay", r->where);
    status = RC_REPLAY_UNAVAILABLE;
done:
    free(es);
    freeReplyObject(x);
    return status;
}

static int red_replay_since(rc_history *h, const char *const *rooms, size_t nrooms,
                            int64_t since_ms, rc_event ***out, size_t *nout)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    redisReply *x = NULL;
    struct sentry *es = NULL;
    size_t n = 0, cap = 0;
    int status = RC_REPLAY_UNAVAILABLE;

    *out = NULL;
    *nout = 0;
    if (!conn_get(r, rc))
        return RC_REPLAY_UNAVAILABLE;
    redisContext *c = rc->c;
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "GET " K_EPOCH);
    redisAppendCommand(c, "GET " K_EPOCH_START);
    redisAppendCommand(c, "TIME");
    for (size_t i = 0; i < nrooms; i++) {
        redisAppendCommand(c, "HMGET " K_LOST "%s seq ts", rooms[i]);
        redisAppendCommand(c, "XRANGE " K_ROOM "%s - +", rooms[i]);
    }
    redisAppendCommand(c, "EXEC");
    if (!(x = txn_finish(r, rc, 3 + 2 * nrooms)))
        return RC_REPLAY_UNAVAILABLE;

    redisReply **e = x->element;
    int64_t start, now;
    if (e[0]->type != REDIS_REPLY_STRING || e[1]->type == REDIS_REPLY_NIL) {
        status = RC_REPLAY_GAP; /* an empty store reaches back to nothing */
        goto done;
    }
    rc_hist_set_epoch(h, e[0]->str);
    if (reply_i64(e[1], &start) < 0 || reply_time(e[2], &now) < 0)
        goto bad;
    int64_t cutoff = now - r->ttl_ms;
    if (since_ms < start || since_ms < cutoff) {
        status = RC_REPLAY_GAP;
        goto done;
    }
    for (size_t i = 0; i < nrooms; i++) {
        int64_t lseq, lts;
        if (reply_lost(e[3 + 2 * i], &lseq, &lts) < 0)
            goto bad;
        if (lts > since_ms) {
            status = RC_REPLAY_GAP;
            goto done;
        }
        size_t from = n;
        if (collect_entries(e[4 + 2 * i], &es, &n, &cap) < 0)
            goto bad;
        /* keep the entries that occurred after since_ms */
        size_t k = from;
        for (size_t j = from; j < n; j++) {
            if (es[j].t <= since_ms)
                continue;
            if (es[j].a < cutoff) {
                status = RC_REPLAY_GAP;
                goto done;
            }
            es[k++] = es[j];
        }
        n = k;
    }
    status = entries_to_events(r, es, n, e[0]->str, out, nout);
    goto done;
bad:
    LOG_ERROR("history", "redis %s: unexpected reply to a replay", r->where);
    status = RC_REPLAY_UNAVAILABLE;
done:
    free(es);
    freeReplyObject(x);
    return status;
}

static void red_session_put(rc_history *h, const char *pid, const void *blob, size_t len,
                            int64_t ttl_ms)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    if (!conn_get(r, rc)) {
        LOG_WARN("history", "redis unreachable: session %s not kept", pid);
        return;
    }
    redisReply *rep = redisCommand(rc->c, "SET " K_SESSION "%s %b PX %lld", pid,
                                   blob, len, (long long)ttl_ms);
    if (conn_check(r, rc, rep) < 0) {
        LOG_WARN("history", "redis unreachable: session %s not kept", pid);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        LOG_ERROR("history", "redis %s: SET session: %s", r->where, rep->str);
    freeReplyObject(rep);
}

static void *red_session_take(rc_history *h, const char *pid, size_t *len)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    void *blob = NULL;
    if (!conn_get(r, rc))
        return NULL;
    redisReply *rep = redisCommand(rc->c, "GETDEL " K_SESSION "%s", pid);
    if (conn_check(r, rc, rep) < 0)
        return NULL;
    if (rep->type == REDIS_REPLY_STRING && (size_t)rep->len <= RC_SESSION_MAX) {
        if ((blob = malloc(rep->len ? rep->len : 1))) {
            memcpy(blob, rep->str, rep->len);
            *len = rep->len;
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("history", "redis %s: GETDEL session: %s", r->where, rep->str);
    }
    freeReplyObject(rep);
    return blob;
}

/* SCAN roomcast:members:* and SMEMBERS each (pipelined per batch). */
static int red_memberships(rc_history *h,
                           int (*cb)(void *ud, const char *user, const char *program),
                           void *ud)
{
    struct red *r = h->be;
    char err[256], cursor[32] = "0";
    hmap seen;
    int status = -1, stop = 0;
    redisReply *scan = NULL;
    redisContext *c = conn_open(r, err, sizeof err);
    if (!c) {
        LOG_ERROR("history", "redis %s: memberships: %s", r->where, err);
        return -1;
    }
    hmap_init(&seen, HMAP_STR);
    do {
        scan = redisCommand(c, "SCAN %s MATCH " K_MEMBERS "* COUNT 1000", cursor);
        if (!scan || scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
            scan->element[0]->type != REDIS_REPLY_STRING ||
            scan->element[1]->type != REDIS_REPLY_ARRAY ||
            scan->element[0]->len >= sizeof cursor)
            goto fail;
        memcpy(cursor, scan->element[0]->str, scan->element[0]->len + 1);
        redisReply *keys = scan->element[1];
        /* SCAN may return a key twice: ask for each once. */
        size_t asked = 0;
        char **fresh = calloc(keys->elements ? keys->elements : 1, sizeof *fresh);
        if (!fresh)
            goto fail;
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *k = keys->element[i];
            if (k->type != REDIS_REPLY_STRING || hmap_find(&seen, k->str))
                continue;
            char *dup = strdup(k->str);
            if (!dup || hmap_put(&seen, dup, dup) < 0) {
                free(dup);
                free(fresh);
                goto fail;
            }
            fresh[asked++] = dup;
            redisAppendCommand(c, "SMEMBERS %b", k->str, (size_t)k->len);
        }
        for (size_t i = 0; i < asked; i++) {
            redisReply *m = NULL;
            if (redisGetReply(c, (void **)&m) != REDIS_OK || !m) {
                free(fresh);
                goto fail;
            }
            const char *user = fresh[i] + strlen(K_MEMBERS);
            if (m->type == REDIS_REPLY_ARRAY)
                for (size_t j = 0; j < m->elements && !stop; j++)
                    if (m->element[j]->type == REDIS_REPLY_STRING && *user &&
                        cb(ud, user, m->element[j]->str))
                        stop = 1;
            freeReplyObject(m);
        }
        free(fresh);
        freeReplyObject(scan);
        scan = NULL;
    } while (strcmp(cursor, "0") && !stop);
    status = 0;
    goto done;
fail:
    LOG_ERROR("history", "redis %s: memberships: %s", r->where,
              c->err ? c->errstr : "unexpected reply");
done:
    freeReplyObject(scan);
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&seen, &pos)))
        free(s->val);
    hmap_clear(&seen);
    redisFree(c);
    return status;
}

/* ---- the bus ---- */

/* Waits until fd is readable (1), ms passed (0) or the stop signal (-1). */
static int bus_wait(struct red *r, int fd, int ms)
{
    struct pollfd p[2] = {{r->stop_fd, POLLIN, 0}, {fd, POLLIN, 0}};
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (p[0].revents)
        return -1;
    return n > 0 ? 1 : 0;
}

/* Next reply within ms: 1 got *out, 0 timeout, -1 broken, -2 stop. */
static int bus_read(struct red *r, redisContext *c, int ms, redisReply **out)
{
    int64_t until = rc_clock_wall_ms() + ms;
    *out = NULL;
    for (;;) {
        if (redisGetReplyFromReader(c, (void **)out) != REDIS_OK)
            return -1;
        if (*out)
            return 1;
        int64_t left = until - rc_clock_wall_ms();
        if (left <= 0)
            return 0;
        int w = bus_wait(r, c->fd, (int)left);
        if (w < 0)
            return -2;
        if (w == 0)
            continue;
        if (redisBufferRead(c) != REDIS_OK)
            return -1;
    }
}

static int bus_send(redisContext *c, const char *cmd)
{
    int done = 0;
    if (redisAppendCommand(c, cmd) != REDIS_OK)
        return -1;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

static int is_str(const redisReply *rep, const char *s)
{
    return rep->type == REDIS_REPLY_STRING && (size_t)rep->len == strlen(s) &&
           !memcmp(rep->str, s, rep->len);
}

static void bus_message(rc_history *h, const redisReply *rep)
{
    struct red *r = h->be;
    char err[160], ep[RC_OFFSET_MAX];
    uint64_t seq;
    rc_event *ev = decode_msg(rep->str, rep->len, err, sizeof err);
    if (!ev) {
        LOG_ERROR("history", "redis %s: malformed bus message dropped (%s)", r->where, err);
        return;
    }
    if (ev->offset[0] && rc_offset_parse(ev->offset, ep, sizeof ep, &seq) == 0)
        rc_hist_set_epoch(h, ep);
    rc_hist_deliver(h, ev);
    rc_event_unref(ev);
}

/* Subscribed: delivers until the connection breaks (-1) or stop (-2). */
static int bus_loop(rc_history *h, redisContext *c)
{
    struct red *r = h->be;
    int64_t last_rx = rc_clock_wall_ms(), ping_at = 0;
    for (;;) {
        redisReply *rep;
        int rc = bus_read(r, c, 250, &rep);
        if (rc < 0)
            return rc;
        int64_t now = rc_clock_wall_ms();
        if (rc == 0) {
            if (ping_at && now - ping_at > TIMEOUT_MS) {
                LOG_ERROR("history", "redis %s: the bus got no answer for %d ms", r->where,
                          TIMEOUT_MS);
                return -1;
            }
            if (!ping_at && now - last_rx >= PING_IDLE_MS) {
                if (bus_send(c, "PING") < 0)
                    return -1;
                ping_at = now;
            }
            continue;
        }
        last_rx = now;
        ping_at = 0;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
            is_str(rep->element[0], "message") && rep->element[2]->type == REDIS_REPLY_STRING)
            bus_message(h, rep->element[2]);
        freeReplyObject(rep);
    }
}

static void *bus_main(void *arg)
{
    rc_history *h = arg;
    struct red *r = h->be;
    char err[256];
    int was_down = 0;
    int64_t backoff = 0;

    for (;;) {
        redisContext *c = conn_open(r, err, sizeof err);
        redisReply *rep = NULL;
        int rc = -1;
        if (!c) {
            if (!was_down)
                LOG_ERROR("history", "redis %s: bus cannot connect: %s", r->where, err);
        } else if (bus_send(c, "SUBSCRIBE " BUS_CHANNEL) == 0 &&
                   (rc = bus_read(r, c, TIMEOUT_MS, &rep)) == 1 &&
                   rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
                   is_str(rep->element[0], "subscribe")) {
            freeReplyObject(rep);
            rep = NULL;
            atomic_store(&r->bus_up, 1);
            backoff = 0;
            if (was_down) {
                LOG_INFO("history", "redis %s: bus subscribed again; clients recover", r->where);
                rc_hist_gap(h);
            }
            rc = bus_loop(h, c);
            atomic_store(&r->bus_up, 0);
            if (rc == -1)
                LOG_ERROR("history", "redis %s: bus connection lost: %s", r->where,
                          c->errstr[0] ? c->errstr : "no answer");
        }
        freeReplyObject(rep);
        if (c)
            redisFree(c);
        if (rc == -2)
            break;
        was_down = 1;
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > BACKOFF_MAX_MS)
            backoff = BACKOFF_MAX_MS;
        if (bus_wait(r, -1, (int)backoff) < 0)
            break;
    }
    return NULL;
}

static void red_start_bus(rc_history *h)
{
    struct red *r = h->be;
    pthread_mutex_lock(&r->bus_lock);
    atomic_store(&r->bus_wanted, 1);
    if (!r->bus_started) {
        if ((r->stop_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
            pthread_create(&r->bus, NULL, bus_main, h) != 0) {
            LOG_ERROR("history", "redis %s: cannot start the bus thread", r->where);
            if (r->stop_fd >= 0)
                close(r->stop_fd);
            r->stop_fd = -1;
        } else {
            r->bus_started = 1;
        }
    }
    pthread_mutex_unlock(&r->bus_lock);
}

static int red_ready(const rc_history *h)
{
    struct red *r = h->be;
    return atomic_load(&r->store_ok) &&
           (!atomic_load(&r->bus_wanted) || atomic_load(&r->bus_up));
}

static void red_free(struct red *r)
{
    if (r->app.c)
        redisFree(r->app.c);
    if (r->work.c)
        redisFree(r->work.c);
    rc_redis_url_free(&r->conf);
    pthread_mutex_destroy(&r->append_lock);
    pthread_mutex_destroy(&r->bus_lock);
    free(r);
}

static void red_destroy(rc_history *h)
{
    struct red *r = h->be;
    if (r->bus_started) {
        uint64_t one = 1;
        if (write(r->stop_fd, &one, sizeof one) != sizeof one)
            LOG_ERROR("history", "cannot signal the bus thread");
        pthread_join(r->bus, NULL);
        close(r->stop_fd);
    }
    red_free(r);
}

static const struct rc_history_ops red_ops = {
    .name = "redis",
    .append = red_append,
    .replay = red_replay,
    .replay_since = red_replay_since,
    .session_put = red_session_put,
    .session_take = red_session_take,
    .memberships = red_memberships,
    .ready = red_ready,
    .start_bus = red_start_bus,
    .destroy = red_destroy,
};

rc_history *rc_history_new_redis(const char *url, int max_per_room, int ttl_s,
                                  char *errstr, size_t errlen)
{
    rc_history *h = calloc(1, sizeof *h);
    struct red *r = calloc(1, sizeof *r);
    if (!h || !r) {
        rc_errf(errstr, errlen, "out of memory");
        free(h);
        free(r);
        return NULL;
    }
    if (rc_redis_url_parse(url, &r->conf, errstr, errlen) < 0) {
        free(h);
        free(r);
        return NULL;
    }
    rc_redis_url_where(&r->conf, r->where, sizeof r->where);
    r->max_per_room = max_per_room > 0 ? max_per_room : 1;
    r->ttl_ms = (int64_t)(ttl_s > 0 ? ttl_s : 1) * 1000;
    r->app.name = "append";
    r->work.name = "query";
    r->stop_fd = -1;
    pthread_mutex_init(&r->append_lock, NULL);
    pthread_mutex_init(&r->bus_lock, NULL);
    if (rc_hist_init(h, &red_ops, r, errstr, errlen) < 0) {
        red_free(r);
        free(h);
        return NULL;
    }
    /* Learn the epoch now when Redis is up; being down is not fatal. */
    pthread_mutex_lock(&r->append_lock);
    if (conn_get(r, &r->app) && load_script(r, &r->app) == 0) {
        redisReply *rep = redisCommand(r->app.c, "GET " K_EPOCH);
        if (conn_check(r, &r->app, rep) == 0) {
            if (rep->type == REDIS_REPLY_STRING)
                rc_hist_set_epoch(h, rep->str);
            freeReplyObject(rep);
        }
    }
    pthread_mutex_unlock(&r->append_lock);
    if (errlen)
        errstr[0] = '\0';
    LOG_INFO("history", "redis history at %s, epoch %s, %d events per room, %d s%s",
             r->where, *rc_history_epoch(h) ? rc_history_epoch(h) : "(none yet)",
             r->max_per_room, ttl_s, atomic_load(&r->store_ok) ? "" : " (unreachable for now)");
    return h;
}
