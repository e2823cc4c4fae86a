/*
 * history_memory.c - the in-memory history backend: per-room rings, eventId
 * dedupe, the in-process bus and sessions of one node. It keeps no
 * memberships: a node without Redis rebuilds them from the membership topic
 * at start (consumer/rebuild.c), and its store starts empty anyway.
 *
 * Implementation notes. One mutex guards everything: appends come from the
 * consumer thread, queries from the history's worker. Each room keeps a ring
 * of its last max_per_room (seq, times, event) entries; `lost` remembers the
 * highest seq that left the ring (by count or TTL) and `lost_ts` the latest
 * occurred time among them, which is what makes replay all or nothing: a
 * client that asks for events after seq S in a room whose lost > S would
 * miss some, so it gets none.
 *
 * A global log of (seq, append time) for the TTL window gives `expired`, the
 * highest seq older than the TTL. It lets rooms go away once all their
 * events expired (a sweep every SWEEP_MS at most), with the same rule as the
 * Redis backend: a room that does not exist counts as having lost
 * everything up to `expired`, and a room created anew starts with lost =
 * `expired`. Dedupe remembers every eventId appended within the TTL, at most
 * DEDUPE_MAX of them, in a FIFO that also drives their expiry. The epoch is
 * random per process: the store is lost on restart, and a client's offset
 * from before can never match.
 */
#include "history_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errstr.h"
#include "hmap.h"
#include "log.h"
#include "rand.h"

#define DEDUPE_MAX 200000
#define SESSIONS_MAX 100000
#define SESSION_BYTES_MAX (256u * 1024 * 1024)
#define SWEEP_MS 1000

struct entry {
    uint64_t seq;
    int64_t at_ms;       /* append time */
    int64_t occurred_ms; /* the event's occurred time */
    rc_event *ev;        /* ref'd; NULL in the log */
};

/* A FIFO of entries that grows by doubling. */
struct fifo {
    struct entry *e; /* owned, cap entries */
    size_t cap, head, len;
};

struct room {
    char *name;         /* owned; the key in m->rooms */
    struct entry *ring; /* owned, cap entries */
    size_t cap, head, len;
    uint64_t lost;      /* highest seq evicted from this room */
    int64_t lost_ts;    /* latest occurred time evicted from this room */
};

struct session {
    char *pid;  /* owned; the key in m->sessions */
    void *blob; /* owned */
    size_t len;
    int64_t expires_ms;
};

struct mem {
    pthread_mutex_t lock;
    int max_per_room;
    int64_t ttl_ms;
    int64_t start_ms;
    int64_t swept_ms;
    char epoch[24];
    uint64_t seq;
    uint64_t expired;   /* highest seq appended before the TTL window */
    hmap rooms;         /* name -> struct room * */
    hmap ids;           /* eventId (borrowed from the ref'd event) -> ev */
    struct fifo dedupe; /* entries with ev */
    struct fifo log;    /* stored events' (seq, at_ms), no ev */
    hmap sessions;      /* pid -> struct session * */
    size_t session_bytes;
};

/* ---- helpers ---- */

static int fifo_push(struct fifo *f, struct entry e)
{
    if (f->len == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        struct entry *n = malloc(cap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < f->len; i++)
            n[i] = f->e[(f->head + i) % f->cap];
        free(f->e);
        f->e = n;
        f->cap = cap;
        f->head = 0;
    }
    f->e[(f->head + f->len) % f->cap] = e;
    f->len++;
    return 0;
}

static struct entry *fifo_front(struct fifo *f)
{
    return f->len ? &f->e[f->head] : NULL;
}

static void fifo_pop(struct fifo *f)
{
    f->head = (f->head + 1) % f->cap;
    f->len--;
}

static void dedupe_pop(struct mem *m)
{
    struct entry *e = fifo_front(&m->dedupe);
    hmap_del(&m->ids, e->ev->id, NULL);
    rc_event_unref(e->ev);
    fifo_pop(&m->dedupe);
}

/* Advances m->expired past every logged seq older than the TTL window. */
static void log_expire(struct mem *m, int64_t now)
{
    struct entry *e;
    while ((e = fifo_front(&m->log)) && e->at_ms + m->ttl_ms < now) {
        m->expired = e->seq;
        fifo_pop(&m->log);
    }
}

static void room_drop_front(struct room *r)
{
    struct entry *e = &r->ring[r->head];
    if (e->seq > r->lost)
        r->lost = e->seq;
    if (e->occurred_ms > r->lost_ts)
        r->lost_ts = e->occurred_ms;
    rc_event_unref(e->ev);
    r->head = (r->head + 1) % r->cap;
    r->len--;
}

/* Drops entries older than the TTL from the front of r. */
static void room_expire(struct mem *m, struct room *r, int64_t now)
{
    while (r->len && r->ring[r->head].at_ms + m->ttl_ms < now)
        room_drop_front(r);
}

static void room_free(struct room *r)
{
    for (size_t i = 0; i < r->len; i++)
        rc_event_unref(r->ring[(r->head + i) % r->cap].ev);
    free(r->ring);
    free(r->name);
    free(r);
}

static struct room *room_get(struct mem *m, const char *name)
{
    hmap_slot *s = hmap_find(&m->rooms, name);
    if (s)
        return s->val;
    struct room *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name)) || hmap_put(&m->rooms, r->name, r) < 0) {
        if (r)
            free(r->name);
        free(r);
        return NULL;
    }
    /* What a room had before it (re)appeared is unknown up to `expired`. */
    r->lost = m->expired;
    return r;
}

/* Rings start small and double up to max_per_room. */
static int room_reserve(struct mem *m, struct room *r)
{
    if (r->len < r->cap || r->cap >= (size_t)m->max_per_room)
        return 0;
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > (size_t)m->max_per_room)
        cap = (size_t)m->max_per_room;
    struct entry *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < r->len; i++)
        ring[i] = r->ring[(r->head + i) % r->cap];
    free(r->ring);
    r->ring = ring;
    r->cap = cap;
    r->head = 0;
    return 0;
}

static void room_push(struct room *r, struct entry e)
{
    if (r->len == r->cap)
        room_drop_front(r);
    r->ring[(r->head + r->len) % r->cap] = e;
    r->len++;
}

/* Frees rooms whose events all expired: they count as lost up to `expired`. */
static void rooms_sweep(struct mem *m, int64_t now)
{
    if (now - m->swept_ms < SWEEP_MS || !hmap_len(&m->rooms))
        return;
    m->swept_ms = now;
    log_expire(m, now);
    struct room **gone = malloc(hmap_len(&m->rooms) * sizeof *gone);
    if (!gone)
        return; /* try again at the next sweep */
    size_t pos = 0, n = 0;
    hmap_slot *s;
    while ((s = hmap_next(&m->rooms, &pos))) {
        struct room *r = s->val;
        room_expire(m, r, now);
        if (r->len == 0 && r->lost <= m->expired)
            gone[n++] = r;
    }
    for (size_t i = 0; i < n; i++) {
        hmap_del(&m->rooms, gone[i]->name, NULL);
        room_free(gone[i]);
    }
    free(gone);
}

/* ---- operations ---- */

static int mem_append(rc_history *h, rc_event *ev)
{
    struct mem *m = h->be;
    int64_t now = rc_clock_wall_ms();
    struct room *stack[64], **rooms = stack;
    int rc = -1;

    if (ev->nrooms > sizeof stack / sizeof stack[0] &&
        !(rooms = malloc(ev->nrooms * sizeof *rooms))) {
        LOG_ERROR("history", "out of memory appending event %s", ev->id);
        return -1;
    }
    pthread_mutex_lock(&m->lock);
    if (hmap_find(&m->ids, ev->id)) {
        LOG_DEBUG("history", "duplicate event %s dropped", ev->id);
        rc = 0;
        goto done;
    }
    rooms_sweep(m, now);
    log_expire(m, now);
    if (!ev->transient) {
        for (size_t i = 0; i < ev->nrooms; i++)
            if (!(rooms[i] = room_get(m, ev->rooms[i])) || room_reserve(m, rooms[i]) < 0)
                goto oom;
        if (fifo_push(&m->log, (struct entry){m->seq + 1, now, ev->occurred_ms, NULL}) < 0)
            goto oom;
    }
    while (m->dedupe.len && (m->dedupe.len >= DEDUPE_MAX ||
                             fifo_front(&m->dedupe)->at_ms + m->ttl_ms < now))
        dedupe_pop(m);
    if (hmap_put(&m->ids, ev->id, ev) < 0)
        goto oom_log;
    if (fifo_push(&m->dedupe, (struct entry){0, now, 0, rc_event_ref(ev)}) < 0) {
        rc_event_unref(ev);
        hmap_del(&m->ids, ev->id, NULL);
        goto oom_log;
    }
    if (!ev->transient) {
        uint64_t seq = ++m->seq;
        snprintf(ev->offset, sizeof ev->offset, "%s-%" PRIu64, m->epoch, seq);
        for (size_t i = 0; i < ev->nrooms; i++) {
            room_expire(m, rooms[i], now);
            room_push(rooms[i], (struct entry){seq, now, ev->occurred_ms, rc_event_ref(ev)});
        }
    } else {
        ev->offset[0] = '\0';
    }
    /* Published under the lock, so the subscriber sees history order. */
    rc_hist_deliver(h, ev);
    rc = 1;
    goto done;
oom_log:
    if (!ev->transient)
        m->log.len--; /* the entry pushed above, last in the FIFO */
oom:
    LOG_ERROR("history", "out of memory appending event %s", ev->id);
done:
    pthread_mutex_unlock(&m->lock);
    if (rooms != stack)
        free(rooms);
    return rc;
}

/* One event after the other: nothing here is worth sharing between them. */
static size_t mem_append_batch(rc_history *h, rc_event *const *evs, size_t n, int *res)
{
    for (size_t i = 0; i < n; i++) {
        int rc = mem_append(h, evs[i]);
        if (rc < 0)
            return i;
        res[i] = rc;
    }
    return n;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Collects the entries of rooms accepted by keep() into *out (sorted by seq,
 * each once, new references). Called with the lock held, after the checks.
 */
static int collect(struct mem *m, const char *const *rooms, size_t nrooms,
                   uint64_t after_seq, int64_t since_ms, int by_time,
                   rc_event ***out, size_t *nout)
{
    struct entry *all = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < nrooms; i++) {
        hmap_slot *s = hmap_find(&m->rooms, rooms[i]);
        if (!s)
            continue;
        struct room *r = s->val;
        for (size_t k = 0; k < r->len; k++) {
            struct entry *e = &r->ring[(r->head + k) % r->cap];
            if (by_time ? e->occurred_ms <= since_ms : e->seq <= after_seq)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                struct entry *a = realloc(all, cap * sizeof *a);
                if (!a)
                    goto oom;
                all = a;
            }
            all[n++] = *e;
        }
    }
    if (n) {
        qsort(all, n, sizeof *all, cmp_seq);
        /* An event in several of the rooms appears once per room: keep one. */
        rc_event **evs = malloc(n * sizeof *evs);
        if (!evs)
            goto oom;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || all[i].seq != all[i - 1].seq)
                evs[k++] = rc_event_ref(all[i].ev);
        *out = evs;
        *nout = k;
    }
    free(all);
    return RC_REPLAY_OK;
oom:
    free(all);
    LOG_ERROR("history", "out of memory replaying");
    return RC_REPLAY_UNAVAILABLE;
}

static int mem_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout)
{
    struct mem *m = h->be;
    char epoch[sizeof m->epoch];
    uint64_t seq;
    int status = RC_REPLAY_OK;
    *out = NULL;
    *nout = 0;
    if (rc_offset_parse(after, epoch, sizeof epoch, &seq) < 0)
        return RC_REPLAY_INVALID;
    if (strcmp(epoch, m->epoch))
        return RC_REPLAY_EPOCH;

    int64_t now = rc_clock_wall_ms();
    pthread_mutex_lock(&m->lock);
    log_expire(m, now);
    if (seq > m->seq) {
        status = RC_REPLAY_INVALID; /* from the future: not ours */
        goto done;
    }
    for (size_t i = 0; i < nrooms; i++) {
        hmap_slot *s = hmap_find(&m->rooms, rooms[i]);
        uint64_t lost = m->expired; /* a room that went away lost up to there */
        if (s) {
            struct room *r = s->val;
            room_expire(m, r, now);
            lost = r->lost;
        }
        if (lost > seq) {
            status = RC_REPLAY_GAP;
            goto done;
        }
    }
    status = collect(m, rooms, nrooms, seq, 0, 0, out, nout);
done:
    pthread_mutex_unlock(&m->lock);
    return status;
}

static int mem_replay_since(rc_history *h, const char *const *rooms, size_t nrooms,
                            int64_t since_ms, rc_event ***out, size_t *nout)
{
    struct mem *m = h->be;
    int64_t now = rc_clock_wall_ms();
    int status = RC_REPLAY_OK;
    *out = NULL;
    *nout = 0;
    /* The window must reach back to since_ms: in time and to the start. */
    if (since_ms < now - m->ttl_ms || since_ms < m->start_ms)
        return RC_REPLAY_GAP;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < nrooms; i++) {
        hmap_slot *s = hmap_find(&m->rooms, rooms[i]);
        if (!s)
            continue; /* gone: every event it had expired, so none is after since_ms */
        struct room *r = s->val;
        room_expire(m, r, now);
        if (r->lost_ts > since_ms) {
            status = RC_REPLAY_GAP;
            goto done;
        }
    }
    status = collect(m, rooms, nrooms, 0, since_ms, 1, out, nout);
done:
    pthread_mutex_unlock(&m->lock);
    return status;
}

static void session_free(struct mem *m, struct session *s)
{
    m->session_bytes -= s->len;
    free(s->blob);
    free(s->pid);
    free(s);
}

static void sessions_sweep(struct mem *m, int64_t now)
{
    if (!hmap_len(&m->sessions))
        return;
    struct session **gone = malloc(hmap_len(&m->sessions) * sizeof *gone);
    if (!gone)
        return;
    size_t pos = 0, n = 0;
    hmap_slot *sl;
    while ((sl = hmap_next(&m->sessions, &pos))) {
        struct session *s = sl->val;
        if (s->expires_ms <= now)
            gone[n++] = s;
    }
    for (size_t i = 0; i < n; i++) {
        hmap_del(&m->sessions, gone[i]->pid, NULL);
        session_free(m, gone[i]);
    }
    free(gone);
}

static void mem_session_put(rc_history *h, const char *pid, const void *blob,
                            size_t len, int64_t ttl_ms)
{
    struct mem *m = h->be;
    int64_t now = rc_clock_wall_ms();
    void *old = NULL;
    pthread_mutex_lock(&m->lock);
    if (hmap_del(&m->sessions, pid, &old))
        session_free(m, old);
    if (hmap_len(&m->sessions) >= SESSIONS_MAX || m->session_bytes + len > SESSION_BYTES_MAX)
        sessions_sweep(m, now);
    if (hmap_len(&m->sessions) >= SESSIONS_MAX || m->session_bytes + len > SESSION_BYTES_MAX) {
        pthread_mutex_unlock(&m->lock);
        LOG_WARN("history", "session store full: session %s not kept", pid);
        return;
    }
    struct session *s = calloc(1, sizeof *s);
    if (!s || !(s->pid = strdup(pid)) || !(s->blob = malloc(len ? len : 1)) ||
        hmap_put(&m->sessions, s->pid, s) < 0) {
        if (s) {
            free(s->blob);
            free(s->pid);
            free(s);
        }
        pthread_mutex_unlock(&m->lock);
        LOG_ERROR("history", "out of memory keeping session %s", pid);
        return;
    }
    if (len)
        memcpy(s->blob, blob, len);
    s->len = len;
    s->expires_ms = now + ttl_ms;
    m->session_bytes += len;
    pthread_mutex_unlock(&m->lock);
}

static void *mem_session_take(rc_history *h, const char *pid, size_t *len)
{
    struct mem *m = h->be;
    void *v = NULL, *blob = NULL;
    pthread_mutex_lock(&m->lock);
    if (hmap_del(&m->sessions, pid, &v)) {
        struct session *s = v;
        if (s->expires_ms > rc_clock_wall_ms()) {
            blob = s->blob;
            *len = s->len;
            s->blob = NULL;
        }
        session_free(m, s);
    }
    pthread_mutex_unlock(&m->lock);
    return blob;
}

static int mem_ready(const rc_history *h)
{
    (void)h;
    return 1;
}

static void mem_destroy(rc_history *h)
{
    struct mem *m = h->be;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&m->rooms, &pos)))
        room_free(s->val);
    hmap_clear(&m->rooms);
    while (m->dedupe.len)
        dedupe_pop(m);
    free(m->dedupe.e);
    free(m->log.e);
    hmap_clear(&m->ids);
    pos = 0;
    while ((s = hmap_next(&m->sessions, &pos))) {
        struct session *ss = s->val;
        free(ss->blob);
        free(ss->pid);
        free(ss);
    }
    hmap_clear(&m->sessions);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const struct rc_history_ops mem_ops = {
    .name = "memory",
    .durable = 0,
    .append_start = mem_append_batch,
    .replay = mem_replay,
    .replay_since = mem_replay_since,
    .session_put = mem_session_put,
    .session_take = mem_session_take,
    .control_publish = rc_hist_control, /* one node: it hears itself */
    .memberships = NULL, /* none kept: rc_history_memberships walks nothing */
    .ready = mem_ready,
    .start_bus = NULL,
    .destroy = mem_destroy,
};

rc_history *rc_history_new_memory(int max_per_room, int ttl_s, char *errstr,
                                  size_t errlen)
{
    rc_history *h = calloc(1, sizeof *h);
    struct mem *m = calloc(1, sizeof *m);
    if (!h || !m) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (rc_random_hex(m->epoch, 8) < 0) {
        rc_errf(errstr, errlen, "history: no randomness for the epoch");
        goto fail;
    }
    m->max_per_room = max_per_room > 0 ? max_per_room : 1;
    m->ttl_ms = (int64_t)(ttl_s > 0 ? ttl_s : 1) * 1000;
    m->start_ms = m->swept_ms = rc_clock_wall_ms();
    hmap_init(&m->rooms, HMAP_STR);
    hmap_init(&m->ids, HMAP_STR);
    hmap_init(&m->sessions, HMAP_STR);
    pthread_mutex_init(&m->lock, NULL);
    if (rc_hist_init(h, &mem_ops, m, errstr, errlen) < 0) {
        pthread_mutex_destroy(&m->lock);
        goto fail;
    }
    if (rc_hist_set_epoch(h, m->epoch) < 0) {
        rc_history_destroy(h);
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    if (errlen)
        errstr[0] = '\0';
    LOG_INFO("history", "in-memory history, epoch %s, %d events per room, %d s",
             m->epoch, m->max_per_room, ttl_s);
    return h;
fail:
    free(m);
    free(h);
    return NULL;
}
