/*
 * history.c - the in-memory history: per-room rings, eventId dedupe, the
 * in-process bus.
 *
 * Implementation notes. One mutex guards everything: appends come from the
 * consumer thread, replays from the gateway. Each room keeps a ring of the
 * last max_per_room (seq, time, event) entries; `lost` remembers the highest
 * seq that left the ring (by count or TTL), which is what makes replay all or
 * nothing: a client that asks for events after seq S in a room whose lost >
 * S would miss some, so it gets none. Rooms are kept after they empty so that
 * this knowledge survives. Dedupe remembers every eventId appended within the
 * TTL, at most DEDUPE_MAX of them, in a FIFO that also drives their expiry.
 * The epoch is random per process: the store is lost on restart, and a
 * client's offset from before can never match.
 */
#include "history.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "hmap.h"
#include "log.h"

#define DEDUPE_MAX 200000

struct entry {
    uint64_t seq;
    int64_t at_ms;
    rc_event *ev; /* ref'd */
};

struct room {
    char *name;         /* owned; the key in h->rooms */
    struct entry *ring; /* owned, cap entries */
    size_t cap, head, len;
    uint64_t lost;      /* highest seq evicted from this room */
};

struct rc_history {
    pthread_mutex_t lock;
    int max_per_room;
    int64_t ttl_ms;
    char epoch[24];
    uint64_t seq;
    hmap rooms;            /* name -> struct room * */
    hmap ids;              /* eventId (borrowed from the ref'd event) -> ev */
    struct entry *fifo;    /* dedupe FIFO, ring of cap fifo_cap */
    size_t fifo_cap, fifo_head, fifo_len;
    rc_history_subscriber sub;
    void *sub_ud;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rc_offset_parse(const char *offset, char *epoch, size_t epochlen,
                    uint64_t *seq)
{
    const char *dash = offset ? strrchr(offset, '-') : NULL;
    if (!dash || dash == offset || (size_t)(dash - offset) >= epochlen || !dash[1])
        return -1;
    uint64_t v = 0;
    for (const char *p = dash + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    memcpy(epoch, offset, (size_t)(dash - offset));
    epoch[dash - offset] = '\0';
    *seq = v;
    return 0;
}

rc_history *rc_history_new_memory(int max_per_room, int ttl_s, char *errstr,
                                  size_t errlen)
{
    unsigned char rnd[8];
    rc_history *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errstr, errlen, "out of memory");
        return NULL;
    }
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(errstr, errlen, "history: no randomness for the epoch");
        free(h);
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        snprintf(h->epoch + 2 * i, 3, "%02x", rnd[i]);
    pthread_mutex_init(&h->lock, NULL);
    h->max_per_room = max_per_room > 0 ? max_per_room : 1;
    h->ttl_ms = (int64_t)(ttl_s > 0 ? ttl_s : 1) * 1000;
    hmap_init(&h->rooms, HMAP_STR);
    hmap_init(&h->ids, HMAP_STR);
    LOG_INFO("history", "in-memory history, epoch %s, %d events per room, %d s",
             h->epoch, h->max_per_room, ttl_s);
    return h;
}

void rc_history_destroy(rc_history *h)
{
    if (!h)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&h->rooms, &pos))) {
        struct room *r = s->val;
        for (size_t i = 0; i < r->len; i++)
            rc_event_unref(r->ring[(r->head + i) % r->cap].ev);
        free(r->ring);
        free(r->name);
        free(r);
    }
    hmap_clear(&h->rooms);
    for (size_t i = 0; i < h->fifo_len; i++)
        rc_event_unref(h->fifo[(h->fifo_head + i) % h->fifo_cap].ev);
    free(h->fifo);
    hmap_clear(&h->ids);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void rc_history_subscribe(rc_history *h, rc_history_subscriber cb, void *ud)
{
    h->sub = cb;
    h->sub_ud = ud;
}

const char *rc_history_epoch(const rc_history *h)
{
    return h->epoch;
}

static void fifo_pop(rc_history *h)
{
    struct entry *e = &h->fifo[h->fifo_head];
    hmap_del(&h->ids, e->ev->id, NULL);
    rc_event_unref(e->ev);
    h->fifo_head = (h->fifo_head + 1) % h->fifo_cap;
    h->fifo_len--;
}

static int fifo_push(rc_history *h, rc_event *ev, int64_t now)
{
    while (h->fifo_len &&
           (h->fifo_len >= DEDUPE_MAX || h->fifo[h->fifo_head].at_ms + h->ttl_ms < now))
        fifo_pop(h);
    if (h->fifo_len == h->fifo_cap) {
        size_t cap = h->fifo_cap ? h->fifo_cap * 2 : 256;
        struct entry *f = malloc(cap * sizeof *f);
        if (!f)
            return -1;
        for (size_t i = 0; i < h->fifo_len; i++)
            f[i] = h->fifo[(h->fifo_head + i) % h->fifo_cap];
        free(h->fifo);
        h->fifo = f;
        h->fifo_cap = cap;
        h->fifo_head = 0;
    }
    if (hmap_put(&h->ids, ev->id, ev) < 0)
        return -1;
    h->fifo[(h->fifo_head + h->fifo_len) % h->fifo_cap] =
        (struct entry){0, now, rc_event_ref(ev)};
    h->fifo_len++;
    return 0;
}

/* Drops entries older than the TTL from the front of r. */
static void room_expire(rc_history *h, struct room *r, int64_t now)
{
    while (r->len && r->ring[r->head].at_ms + h->ttl_ms < now) {
        struct entry *e = &r->ring[r->head];
        r->lost = e->seq;
        rc_event_unref(e->ev);
        r->head = (r->head + 1) % r->cap;
        r->len--;
    }
}

static struct room *room_get(rc_history *h, const char *name)
{
    hmap_slot *s = hmap_find(&h->rooms, name);
    if (s)
        return s->val;
    struct room *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name)) || hmap_put(&h->rooms, r->name, r) < 0) {
        if (r)
            free(r->name);
        free(r);
        return NULL;
    }
    return r;
}

/* Rings start small and double up to max_per_room. */
static int room_reserve(rc_history *h, struct room *r)
{
    if (r->len < r->cap || r->cap >= (size_t)h->max_per_room)
        return 0;
    size_t cap = r->cap ? r->cap * 2 : 16;
    if (cap > (size_t)h->max_per_room)
        cap = (size_t)h->max_per_room;
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

static void room_push(struct room *r, uint64_t seq, int64_t now, rc_event *ev)
{
    if (r->len == r->cap) {
        struct entry *old = &r->ring[r->head];
        r->lost = old->seq;
        rc_event_unref(old->ev);
        r->head = (r->head + 1) % r->cap;
        r->len--;
    }
    r->ring[(r->head + r->len) % r->cap] = (struct entry){seq, now, rc_event_ref(ev)};
    r->len++;
}

int rc_history_append(rc_history *h, rc_event *ev)
{
    int64_t now = now_ms();
    struct room *rooms[64];
    pthread_mutex_lock(&h->lock);
    if (hmap_find(&h->ids, ev->id)) {
        pthread_mutex_unlock(&h->lock);
        LOG_DEBUG("history", "duplicate event %s dropped", ev->id);
        return 0;
    }
    if (!ev->transient) {
        if (ev->nrooms > sizeof rooms / sizeof rooms[0])
            goto oom;
        for (size_t i = 0; i < ev->nrooms; i++)
            if (!(rooms[i] = room_get(h, ev->rooms[i])) || room_reserve(h, rooms[i]) < 0)
                goto oom;
    }
    if (fifo_push(h, ev, now) < 0)
        goto oom;
    if (!ev->transient) {
        uint64_t seq = ++h->seq;
        snprintf(ev->offset, sizeof ev->offset, "%s-%" PRIu64, h->epoch, seq);
        for (size_t i = 0; i < ev->nrooms; i++) {
            room_expire(h, rooms[i], now);
            room_push(rooms[i], seq, now, ev);
        }
    }
    /* Published under the lock, so subscribers see history order. */
    if (h->sub)
        h->sub(h->sub_ud, ev);
    pthread_mutex_unlock(&h->lock);
    return 1;
oom:
    pthread_mutex_unlock(&h->lock);
    LOG_ERROR("history", "out of memory appending event %s", ev->id);
    return -1;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int rc_history_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout)
{
    char epoch[sizeof h->epoch];
    uint64_t seq;
    *out = NULL;
    *nout = 0;
    if (rc_offset_parse(after, epoch, sizeof epoch, &seq) < 0)
        return RC_REPLAY_INVALID;
    if (strcmp(epoch, h->epoch))
        return RC_REPLAY_EPOCH;

    int64_t now = now_ms();
    struct entry *all = NULL;
    size_t n = 0, cap = 0;
    int status = RC_REPLAY_OK;
    pthread_mutex_lock(&h->lock);
    if (seq > h->seq) {
        status = RC_REPLAY_INVALID; /* from the future: not ours */
        goto done;
    }
    for (size_t i = 0; i < nrooms; i++) {
        hmap_slot *s = hmap_find(&h->rooms, rooms[i]);
        if (!s)
            continue;
        struct room *r = s->val;
        room_expire(h, r, now);
        if (r->lost > seq) {
            status = RC_REPLAY_GAP;
            goto done;
        }
        for (size_t k = 0; k < r->len; k++) {
            struct entry *e = &r->ring[(r->head + k) % r->cap];
            if (e->seq <= seq)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                struct entry *a = realloc(all, cap * sizeof *a);
                if (!a) {
                    status = RC_REPLAY_UNAVAILABLE;
                    goto done;
                }
                all = a;
            }
            all[n++] = *e;
        }
    }
    qsort(all, n, sizeof *all, cmp_seq);
    if (n) {
        /* An event in several of the rooms appears once per room: keep one. */
        rc_event **evs = malloc(n * sizeof *evs);
        if (!evs) {
            status = RC_REPLAY_UNAVAILABLE;
            goto done;
        }
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (i == 0 || all[i].seq != all[i - 1].seq)
                evs[m++] = rc_event_ref(all[i].ev);
        *out = evs;
        *nout = m;
    }
done:
    pthread_mutex_unlock(&h->lock);
    free(all);
    return status;
}
