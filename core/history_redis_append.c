/*
 * history_redis_append.c - rc_history_append on Redis: one Lua script per
 * event.
 *
 * Implementation notes. One Lua script (history_redis.lua) runs atomically
 * in Redis: epoch, dedupe, seq, the global log, the room streams with their
 * trimming bookkeeping, the membership sets, then PUBLISH. The eventId key
 * is written last, so a script that failed half-way is retried in full
 * rather than taken for a duplicate. The script is loaded once per
 * connection (SCRIPT LOAD) and run with EVALSHA, loaded again on NOSCRIPT.
 * Its keys and arguments are built as one argument vector (binary-safe, the
 * message among them), on the `app` connection under append_lock.
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

/* ---- append ---- */

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
        if (!rc_red_conn_get(r, rc) || (!rc->sha[0] && rc_red_load_script(r, rc) < 0))
            return NULL;
        memcpy(a->buf.p + a->off[1], rc->sha, 40); /* argv[1] is the sha */
        if (!(v = argv_ptrs(a)))
            return NULL;
        rep = redisCommandArgv(rc->c, (int)a->n, v, a->len);
        free(v);
        if (rc_red_conn_check(r, rc, rep) < 0)
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

int rc_red_append(rc_history *h, rc_event *ev)
{
    struct red *r = h->be;
    struct argv a = {0};
    rc_buf body = {0};
    char cand[33];
    redisReply *rep = NULL;
    int rc = -1;

    random_hex(cand, 8);
    if (rc_red_encode_body(ev, &body) < 0)
        goto oom;
    argv_str(&a, "EVALSHA");
    argv_add(&a, "0000000000000000000000000000000000000000", 40);
    argv_int(&a, 6 + 2 * (long long)ev->nrooms);
    argv_str(&a, RC_RED_K_EPOCH);
    argv_str(&a, RC_RED_K_EPOCH_START);
    argv_str(&a, RC_RED_K_SEQ);
    argv_key(&a, RC_RED_K_EID, ev->id);
    argv_str(&a, RC_RED_K_LOG);
    argv_key(&a, RC_RED_K_MEMBERS, ev->member_op != RC_MEMBER_NONE && ev->member_user
                                       ? ev->member_user : "");
    for (size_t i = 0; i < ev->nrooms; i++) {
        argv_key(&a, RC_RED_K_ROOM, ev->rooms[i]);
        argv_key(&a, RC_RED_K_LOST, ev->rooms[i]);
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
    argv_str(&a, RC_RED_BUS_CHANNEL);
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
