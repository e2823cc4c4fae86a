/*
 * history_redis_query.c - what the Redis history answers: replays by
 * offset and by time, sessions, stored memberships.
 *
 * Implementation notes. Replays and sessions run on the history's worker
 * thread, on its `work` connection. A replay is one round trip: MULTI, the
 * reads it needs (epoch, seq or epoch start, TIME, the log's first entry
 * after the offset, each room's existence, lost marker and entries), EXEC,
 * pipelined, so they see one snapshot; the all-or-nothing rules of
 * docs/history.md are then applied to the replies, and the room entries
 * are merged by seq, each once, and decoded (history_redis_msg.c), or taken
 * from the cache of decoded events (below). A stored
 * entry that cannot be read fails the whole replay as a gap. Memberships
 * are walked with SCAN and the SMEMBERS of each batch pipelined, on a
 * connection of their own (start-up, the calling thread).
 */
#include "history_redis_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "log.h"

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
            rc_red_conn_check(r, rc, NULL);
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
 * The replays' cache of decoded events. A reconnect storm replays the same
 * stored events to every client of a room, and decoding a stored message
 * (two JSON documents) costs far more than the rest of a replay; so each
 * decoded event is kept, shared by reference, in a direct-mapped table by
 * seq. A slot holds a copy of the stored message it was decoded from and is
 * used only for a byte-identical message: whatever a stream holds (an entry
 * of an older epoch with the same seq included), the event given is the
 * one its message decodes to. Only the current epoch's events are kept.
 * Worker thread only, like the connection the replays use.
 */
#define DECODED_SLOTS 4096
#define DECODED_MSG_MAX 4096 /* larger messages are decoded each time */

struct red_decoded {
    struct decoded_slot {
        uint64_t seq;
        char *m; /* owned copy of the stored message; NULL: empty */
        size_t mlen;
        rc_event *ev; /* owned reference */
    } slot[DECODED_SLOTS];
};

static void slot_clear(struct decoded_slot *sl)
{
    free(sl->m);
    rc_event_unref(sl->ev);
    sl->m = NULL;
    sl->ev = NULL;
}

void rc_red_decoded_free(struct red_decoded *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < DECODED_SLOTS; i++)
        slot_clear(&d->slot[i]);
    free(d);
}

/* A new reference to the event decoded from e's message, or NULL. */
static rc_event *decoded_get(struct red *r, const struct sentry *e)
{
    struct decoded_slot *sl = r->decoded ? &r->decoded->slot[e->seq % DECODED_SLOTS] : NULL;
    if (!sl || !sl->m || sl->seq != e->seq || sl->mlen != e->mlen || memcmp(sl->m, e->m, e->mlen))
        return NULL;
    return rc_event_ref(sl->ev);
}

/* Keeps ev (a reference is added) as what e's message decodes to. */
static void decoded_put(struct red *r, const struct sentry *e, rc_event *ev)
{
    if (e->mlen > DECODED_MSG_MAX ||
        (!r->decoded && !(r->decoded = calloc(1, sizeof *r->decoded))))
        return;
    struct decoded_slot *sl = &r->decoded->slot[e->seq % DECODED_SLOTS];
    slot_clear(sl);
    if (!(sl->m = malloc(e->mlen ? e->mlen : 1)))
        return;
    memcpy(sl->m, e->m, e->mlen);
    sl->mlen = e->mlen;
    sl->seq = e->seq;
    sl->ev = rc_event_ref(ev);
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
        rc_event *ev = decoded_get(r, &es[i]);
        if (ev) {
            evs[k++] = ev; /* kept only when of this epoch and seq */
            continue;
        }
        ev = rc_red_decode_msg(es[i].m, es[i].mlen, err, sizeof err);
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
        decoded_put(r, &es[i], ev);
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

int rc_red_replay(rc_history *h, const char *const *rooms, size_t nrooms,
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
    if (!rc_red_conn_get(r, rc))
        return RC_REPLAY_UNAVAILABLE;
    redisContext *c = rc->c;
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "GET " RC_RED_K_EPOCH);
    redisAppendCommand(c, "GET " RC_RED_K_SEQ);
    redisAppendCommand(c, "TIME");
    redisAppendCommand(c, "XRANGE " RC_RED_K_LOG " (%" PRIu64 "-0 + COUNT 1", seq);
    for (size_t i = 0; i < nrooms; i++) {
        redisAppendCommand(c, "EXISTS " RC_RED_K_ROOM "%s", rooms[i]);
        redisAppendCommand(c, "HMGET " RC_RED_K_LOST "%s seq ts", rooms[i]);
        redisAppendCommand(c, "XRANGE " RC_RED_K_ROOM "%s (%" PRIu64 "-0 +", rooms[i], seq);
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

int rc_red_replay_since(rc_history *h, const char *const *rooms, size_t nrooms,
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
    if (!rc_red_conn_get(r, rc))
        return RC_REPLAY_UNAVAILABLE;
    redisContext *c = rc->c;
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "GET " RC_RED_K_EPOCH);
    redisAppendCommand(c, "GET " RC_RED_K_EPOCH_START);
    redisAppendCommand(c, "TIME");
    for (size_t i = 0; i < nrooms; i++) {
        redisAppendCommand(c, "HMGET " RC_RED_K_LOST "%s seq ts", rooms[i]);
        redisAppendCommand(c, "XRANGE " RC_RED_K_ROOM "%s - +", rooms[i]);
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

void rc_red_session_put(rc_history *h, const char *pid, const void *blob, size_t len,
                        int64_t ttl_ms)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    if (!rc_red_conn_get(r, rc)) {
        LOG_WARN("history", "redis unreachable: session %s not kept", pid);
        return;
    }
    redisReply *rep = redisCommand(rc->c, "SET " RC_RED_K_SESSION "%s %b PX %lld", pid,
                                   blob, len, (long long)ttl_ms);
    if (rc_red_conn_check(r, rc, rep) < 0) {
        LOG_WARN("history", "redis unreachable: session %s not kept", pid);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        LOG_ERROR("history", "redis %s: SET session: %s", r->where, rep->str);
    freeReplyObject(rep);
}

void *rc_red_session_take(rc_history *h, const char *pid, size_t *len)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    void *blob = NULL;
    if (!rc_red_conn_get(r, rc))
        return NULL;
    redisReply *rep = redisCommand(rc->c, "GETDEL " RC_RED_K_SESSION "%s", pid);
    if (rc_red_conn_check(r, rc, rep) < 0)
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
int rc_red_memberships(rc_history *h,
                       int (*cb)(void *ud, const char *user, const char *program),
                       void *ud)
{
    struct red *r = h->be;
    char err[256], cursor[32] = "0";
    hmap seen;
    int status = -1, stop = 0;
    redisReply *scan = NULL;
    redisContext *c = rc_red_conn_open(r, err, sizeof err);
    if (!c) {
        LOG_ERROR("history", "redis %s: memberships: %s", r->where, err);
        return -1;
    }
    hmap_init(&seen, HMAP_STR);
    do {
        scan = redisCommand(c, "SCAN %s MATCH " RC_RED_K_MEMBERS "* COUNT 1000", cursor);
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
            const char *user = fresh[i] + strlen(RC_RED_K_MEMBERS);
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
