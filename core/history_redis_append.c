/*
 * history_redis_append.c - rc_history_append_start/_finish on Redis: one
 * Lua script call appends a batch of events.
 *
 * Implementation notes. One Lua script (history_redis.lua) runs atomically
 * in Redis and appends the events it is given in order, each as it would
 * alone: dedupe, the membership sets, seq, the global log, the room
 * streams, PUBLISH, and the eventId key last, so that an event that failed
 * half-way is retried in full rather than taken for a duplicate. It stops
 * at the first event that fails and answers with the results of those
 * before it; the caller retries from the failed one. What it does once
 * per call (TIME, epoch, dedupe lookups, the log's and rooms' trimming) is
 * what makes a batch cheaper in Redis than its events one by one, beside
 * the round trips.
 *
 * A call carries at most RC_HISTORY_BATCH_CALL events and about
 * CALL_BYTES of request; a longer batch takes several calls, each sent
 * after the previous one answered, so that nothing is appended after a
 * refused event. append_start sends the first call and returns; the
 * caller decodes its next records meanwhile; append_finish reads the
 * reply and makes the other calls. The history's append_lock is held in
 * between, so the call in flight (struct red's `call`) and the `app`
 * connection have one user.
 *
 * The request is written in RESP by hand into one buffer (keys and
 * arguments binary-safe, the messages among them) and handed to hiredis
 * as a formatted command: no argument vector, no per-argument formatting.
 * The buffers are kept from call to call. The script is loaded once per
 * connection (SCRIPT LOAD) and run with EVALSHA, loaded again on NOSCRIPT.
 */
#include "history_redis_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rand.h"
#include "slice.h"

/*
 * The append script, core/history_redis.lua (its header says what KEYS and
 * ARGV hold and what it returns), embedded at build time by rc_embed:
 * rc_history_append_lua_len bytes, then a NUL.
 */
extern const unsigned char rc_history_append_lua[];
extern const size_t rc_history_append_lua_len;

/* About this many bytes of request in one script call, beyond its first
 * event: a call runs alone in Redis, so its size bounds what other
 * clients wait for. */
#define CALL_BYTES (512 * 1024)

/* ---- the request, in RESP ---- */

/* One bulk string, p[0..pl) then s[0..sl), into b; *count grows by one. */
static void bulk2(struct red_req *c, rc_buf *b, size_t *count, const char *p, size_t pl,
                  const char *s, size_t sl)
{
    char head[32];
    size_t hl = 0;
    head[hl++] = '$';
    hl += rc_fmt_i64(head + hl, (int64_t)(pl + sl));
    head[hl++] = '\r';
    head[hl++] = '\n';
    if (rc_buf_reserve(b, hl + pl + sl + 2) < 0) {
        c->oom = 1;
        return;
    }
    memcpy(b->p + b->len, head, hl);
    memcpy(b->p + b->len + hl, p, pl);
    if (sl)
        memcpy(b->p + b->len + hl + pl, s, sl);
    memcpy(b->p + b->len + hl + pl + sl, "\r\n", 3);
    b->len += hl + pl + sl + 2;
    (*count)++;
}

static void bulk(struct red_req *c, rc_buf *b, size_t *count, const char *s, size_t len)
{
    bulk2(c, b, count, s, len, "", 0);
}

static void bulk_str(struct red_req *c, rc_buf *b, size_t *count, const char *s)
{
    bulk(c, b, count, s, strlen(s));
}

static void bulk_key(struct red_req *c, const char *prefix, const char *s)
{
    bulk2(c, &c->keys, &c->nkeys, prefix, strlen(prefix), s, strlen(s));
}

static void bulk_ll(struct red_req *c, rc_buf *b, size_t *count, long long v)
{
    char tmp[24];
    bulk(c, b, count, tmp, rc_fmt_i64(tmp, v));
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

/* ev's part of KEYS (eventId, member set of a member event, room and lost
 * marker per room) and of ARGV (shape, occurred time, body, member
 * program of a member event); history_redis.lua's header has the format. */
static void add_event(struct red_req *c, const rc_event *ev)
{
    int member = ev->member_op != RC_MEMBER_NONE && ev->member_user && ev->member_program;
    char shape[32];
    size_t sl = 0;
    c->body.len = 0;
    if (rc_red_encode_body(ev, &c->body) < 0) {
        c->oom = 1;
        return;
    }
    shape[sl++] = ev->transient ? 't' : 's';
    shape[sl++] = !member ? '-' : ev->member_op == RC_MEMBER_ADD ? 'a' : 'r';
    sl += rc_fmt_i64(shape + sl, (int64_t)ev->nrooms);
    bulk_key(c, RC_RED_K_EID, ev->id);
    if (member)
        bulk_key(c, RC_RED_K_MEMBERS, ev->member_user);
    for (size_t i = 0; i < ev->nrooms; i++) {
        bulk_key(c, RC_RED_K_ROOM, ev->rooms[i]);
        bulk_key(c, RC_RED_K_LOST, ev->rooms[i]);
    }
    bulk(c, &c->args, &c->nargs, shape, sl);
    bulk_ll(c, &c->args, &c->nargs, ev->occurred_ms);
    /* the script writes the "{" and the offset */
    bulk(c, &c->args, &c->nargs, c->body.p + 1, c->body.len - 1);
    if (member)
        bulk_str(c, &c->args, &c->nargs, ev->member_program);
}

/*
 * The call for evs[0..n) into c->req: as many of them as fit (at least
 * one, at most RC_HISTORY_BATCH_CALL, about CALL_BYTES). Returns how many
 * (c->m), or 0 when out of memory (logged).
 */
static size_t build_call(struct red *r, struct red_req *c, rc_event *const *evs, size_t n)
{
    char cand[33], head[64];
    size_t m = 0, nreq = 0;
    c->keys.len = c->args.len = c->req.len = 0;
    c->nkeys = c->nargs = 0;
    c->oom = 0;
    random_hex(cand, 8);
    bulk_str(c, &c->keys, &c->nkeys, RC_RED_K_EPOCH);
    bulk_str(c, &c->keys, &c->nkeys, RC_RED_K_EPOCH_START);
    bulk_str(c, &c->keys, &c->nkeys, RC_RED_K_SEQ);
    bulk_str(c, &c->keys, &c->nkeys, RC_RED_K_LOG);
    bulk_str(c, &c->args, &c->nargs, cand);
    bulk_ll(c, &c->args, &c->nargs, r->ttl_ms);
    bulk_ll(c, &c->args, &c->nargs, r->max_per_room);
    bulk_str(c, &c->args, &c->nargs, RC_RED_BUS_CHANNEL);
    while (m < n && m < RC_HISTORY_BATCH_CALL && !c->oom &&
           (m == 0 || c->keys.len + c->args.len < CALL_BYTES))
        add_event(c, evs[m++]);
    size_t hl = 0;
    head[hl++] = '*';
    hl += rc_fmt_i64(head + hl, (int64_t)(3 + c->nkeys + c->nargs));
    head[hl++] = '\r';
    head[hl++] = '\n';
    if (!c->oom && rc_buf_append(&c->req, head, hl) < 0)
        c->oom = 1;
    bulk_str(c, &c->req, &nreq, "EVALSHA");
    c->sha_off = c->req.len + 5; /* after "$40\r\n" */
    bulk_str(c, &c->req, &nreq, "0000000000000000000000000000000000000000");
    bulk_ll(c, &c->req, &nreq, (long long)c->nkeys);
    if (!c->oom && (rc_buf_append(&c->req, c->keys.p, c->keys.len) < 0 ||
                    rc_buf_append(&c->req, c->args.p, c->args.len) < 0))
        c->oom = 1;
    if (c->oom) {
        LOG_ERROR("history", "out of memory appending event %s", evs[0]->id);
        return c->m = 0;
    }
    return c->m = m;
}

/* ---- the script ---- */

int rc_red_load_script(struct red *r, struct rconn *rc)
{
    redisReply *rep = redisCommand(rc->c, "SCRIPT LOAD %b", rc_history_append_lua,
                                   rc_history_append_lua_len);
    if (rc_red_conn_check(r, rc, rep) < 0)
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

/* Sends c->req on rc, the script loaded first when needed. 0, or -1 when
 * Redis is unreachable (the connection is dropped). */
static int send_call(struct red *r, struct rconn *rc, struct red_req *c)
{
    int done = 0;
    if (!rc_red_conn_get(r, rc) || (!rc->sha[0] && rc_red_load_script(r, rc) < 0))
        return -1;
    memcpy(c->req.p + c->sha_off, rc->sha, 40);
    if (redisAppendFormattedCommand(rc->c, c->req.p, c->req.len) != REDIS_OK)
        return rc_red_conn_check(r, rc, NULL);
    while (!done)
        if (redisBufferWrite(rc->c, &done) != REDIS_OK)
            return rc_red_conn_check(r, rc, NULL);
    return 0;
}

/* The reply to the call sent; on NOSCRIPT (Redis lost its scripts) the
 * script is loaded again and the call sent once more. NULL when Redis is
 * unreachable. */
static redisReply *recv_call(struct red *r, struct rconn *rc, struct red_req *c)
{
    for (int attempt = 0;; attempt++) {
        void *v = NULL;
        if (redisGetReply(rc->c, &v) != REDIS_OK)
            v = NULL;
        redisReply *rep = v;
        if (rc_red_conn_check(r, rc, rep) < 0)
            return NULL;
        if (attempt > 0 || rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "NOSCRIPT", 8))
            return rep;
        freeReplyObject(rep);
        rc->sha[0] = '\0';
        if (send_call(r, rc, c) < 0)
            return NULL;
    }
}

/* The results of the call for evs[0..m) from rep: res and offsets of those
 * handled, how many they are (fewer than m after a refusal, logged). */
static size_t take_reply(rc_history *h, const redisReply *rep, rc_event *const *evs, size_t m,
                         int *res)
{
    struct red *r = h->be;
    size_t done = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        LOG_ERROR("history", "redis %s: append of event %s%s failed: %s", r->where, evs[0]->id,
                  m > 1 ? " and those after it" : "", rep->str);
        return 0;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 || rep->elements % 2 ||
        (rep->elements - 2) / 2 > m || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING ||
        ((rep->elements - 2) / 2 < m && !rep->element[1]->len)) {
        LOG_ERROR("history", "redis %s: unexpected reply to the append of event %s", r->where,
                  evs[0]->id);
        return 0;
    }
    if (rc_hist_set_epoch(h, rep->element[0]->str) < 0) {
        LOG_ERROR("history", "out of memory appending event %s", evs[0]->id);
        return 0;
    }
    const char *epoch = rep->element[0]->str;
    for (size_t i = 0; i < (rep->elements - 2) / 2; i++) {
        const redisReply *st = rep->element[2 + 2 * i], *seq = rep->element[3 + 2 * i];
        if (st->type != REDIS_REPLY_INTEGER || seq->type != REDIS_REPLY_INTEGER ||
            seq->integer < 0 || rep->element[0]->len + 22 > sizeof evs[i]->offset) {
            LOG_ERROR("history", "redis %s: unexpected reply to the append of event %s",
                      r->where, evs[i]->id);
            return done;
        }
        if (st->integer == 0) {
            LOG_DEBUG("history", "duplicate event %s dropped", evs[i]->id);
            res[i] = 0;
        } else {
            evs[i]->offset[0] = '\0';
            if (seq->integer > 0) { /* "<epoch>-<seq>": the length was checked above */
                size_t el = rep->element[0]->len;
                memcpy(evs[i]->offset, epoch, el);
                evs[i]->offset[el] = '-';
                evs[i]->offset[el + 1 + rc_fmt_i64(evs[i]->offset + el + 1, seq->integer)] = '\0';
            }
            res[i] = 1;
        }
        done++;
    }
    if (done < m)
        LOG_ERROR("history", "redis %s: append of event %s failed: %s", r->where, evs[done]->id,
                  rep->element[1]->str);
    return done;
}

/* ---- the operations ---- */

/* The request buffers not used by the call in flight. */
static struct red_req *spare(struct red_call *c)
{
    return c->q == &c->bufs[0] ? &c->bufs[1] : &c->bufs[0];
}

size_t rc_red_append_start(rc_history *h, rc_event *const *evs, size_t n, int *res)
{
    struct red *r = h->be;
    struct red_call *c = &r->call;
    struct red_req *next = c->next;
    c->evs = evs;
    c->n = n;
    c->res = res;
    c->next = NULL;
    if (next && next->built_n == n && next->m &&
        !memcmp(next->built.p, evs, n * sizeof *evs)) {
        c->q = next; /* prepared while the call before was in flight */
    } else {
        c->q = c->q ? c->q : &c->bufs[0];
        build_call(r, c->q, evs, n);
    }
    c->m = c->q->m;
    c->sent = c->m && send_call(r, &r->app, c->q) == 0;
    return 0;
}

void rc_red_append_prepare(rc_history *h, rc_event *const *evs, size_t n)
{
    struct red *r = h->be;
    struct red_call *c = &r->call;
    struct red_req *q = spare(c);
    c->next = NULL;
    q->built.len = 0;
    if (!build_call(r, q, evs, n) || rc_buf_append(&q->built, evs, n * sizeof *evs) < 0)
        return;
    q->built_n = n;
    c->next = q;
}

size_t rc_red_append_finish(rc_history *h)
{
    struct red *r = h->be;
    struct red_call *c = &r->call;
    size_t done = 0;
    while (c->sent) {
        redisReply *rep = recv_call(r, &r->app, c->q);
        if (!rep)
            break;
        size_t k = take_reply(h, rep, c->evs + done, c->m, c->res + done);
        freeReplyObject(rep);
        done += k;
        if (k < c->m || done == c->n)
            break;
        /* the rest of a batch longer than a call: the prepared one is
         * kept, in the other buffers */
        c->m = build_call(r, c->q, c->evs + done, c->n - done);
        c->sent = c->m && send_call(r, &r->app, c->q) == 0;
    }
    if (done < c->n)
        c->next = NULL; /* refused: the next start is not what was prepared */
    c->sent = 0;
    c->evs = NULL;
    c->res = NULL;
    return done;
}

void rc_red_call_free(struct red_call *c)
{
    for (int i = 0; i < 2; i++) {
        rc_buf_free(&c->bufs[i].keys);
        rc_buf_free(&c->bufs[i].args);
        rc_buf_free(&c->bufs[i].req);
        rc_buf_free(&c->bufs[i].body);
        rc_buf_free(&c->bufs[i].built);
    }
}
