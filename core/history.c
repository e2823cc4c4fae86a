/*
 * history.c - the history's public interface: dispatch to a backend
 * (history_memory.c, history_redis.c), the worker thread that runs
 * asynchronous replays and session jobs, and the epoch strings.
 *
 * Implementation notes. The worker is one thread per history with a FIFO
 * of at most JOB_MAX jobs: replays and session puts/takes run there in the
 * order they were queued (so a put is seen by a later take), and the
 * blocking forms of the queries are a queued job plus a semaphore, so a
 * backend's query connection is only ever used by the worker. A blocking
 * call made on the worker itself (from a callback) runs inline instead of
 * waiting for itself. Epoch strings are interned in a list that lives as
 * long as the history, so rc_history_epoch() can hand out a pointer that
 * stays valid while another thread learns a new epoch.
 */
#include "history_private.h"

#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errstr.h"
#include "log.h"

#define JOB_MAX 4096

struct hist_epoch {
    struct hist_epoch *next;
    char s[];
};

enum job_kind { JOB_REPLAY, JOB_REPLAY_SINCE, JOB_SESSION_PUT, JOB_SESSION_TAKE, JOB_CONTROL };

struct hist_job {
    struct hist_job *next;
    enum job_kind kind;
    char **rooms; /* owned array of owned strings */
    size_t nrooms;
    char *after;  /* owned */
    int64_t since_ms;
    char *pid;    /* owned */
    void *blob;   /* owned */
    size_t len;
    int64_t ttl_ms;
    rc_history_replay_done replay_done;
    rc_history_session_done session_done;
    void *ud;
};

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

/* ---- subscriber, gap handler, epoch ---- */

void rc_history_subscribe(rc_history *h, rc_history_subscriber cb, void *ud)
{
    pthread_mutex_lock(&h->sub_lock);
    h->sub = cb;
    h->sub_ud = ud;
    pthread_mutex_unlock(&h->sub_lock);
    if (h->ops->start_bus)
        h->ops->start_bus(h);
}

void rc_history_on_gap(rc_history *h, rc_history_gap_handler gap, void *ud)
{
    pthread_mutex_lock(&h->sub_lock);
    h->gap = gap;
    h->gap_ud = ud;
    pthread_mutex_unlock(&h->sub_lock);
}

void rc_hist_deliver(rc_history *h, rc_event *ev)
{
    pthread_mutex_lock(&h->sub_lock);
    rc_history_subscriber cb = h->sub;
    void *ud = h->sub_ud;
    pthread_mutex_unlock(&h->sub_lock);
    if (cb)
        cb(ud, ev);
}

void rc_hist_gap(rc_history *h)
{
    pthread_mutex_lock(&h->sub_lock);
    rc_history_gap_handler cb = h->gap;
    void *ud = h->gap_ud;
    pthread_mutex_unlock(&h->sub_lock);
    if (cb)
        cb(ud);
}

void rc_history_on_control(rc_history *h, rc_history_control_handler cb, void *ud)
{
    pthread_mutex_lock(&h->sub_lock);
    h->control = cb;
    h->control_ud = ud;
    pthread_mutex_unlock(&h->sub_lock);
}

void rc_hist_control(rc_history *h, const char *msg, size_t len)
{
    pthread_mutex_lock(&h->sub_lock);
    rc_history_control_handler cb = h->control;
    void *ud = h->control_ud;
    pthread_mutex_unlock(&h->sub_lock);
    if (cb)
        cb(ud, msg, len);
}

const char *rc_history_epoch(const rc_history *h)
{
    return atomic_load(&h->epoch);
}

int rc_hist_set_epoch(rc_history *h, const char *epoch)
{
    if (!strcmp(atomic_load(&h->epoch), epoch))
        return 0;
    pthread_mutex_lock(&h->epoch_lock);
    struct hist_epoch *e;
    for (e = h->epochs; e; e = e->next)
        if (!strcmp(e->s, epoch))
            break;
    if (!e) {
        size_t n = strlen(epoch);
        if (!(e = malloc(sizeof *e + n + 1))) {
            pthread_mutex_unlock(&h->epoch_lock);
            return -1;
        }
        memcpy(e->s, epoch, n + 1);
        e->next = h->epochs;
        h->epochs = e;
    }
    atomic_store(&h->epoch, e->s);
    pthread_mutex_unlock(&h->epoch_lock);
    return 0;
}

const char *rc_history_backend(const rc_history *h)
{
    return h->ops->name;
}

int rc_history_durable(const rc_history *h)
{
    return h->ops->durable;
}

int rc_history_ready(const rc_history *h)
{
    return h->ops->ready(h);
}

int rc_history_append(rc_history *h, rc_event *ev)
{
    int res = -1;
    return rc_history_append_batch(h, &ev, 1, &res) == 1 ? res : -1;
}

size_t rc_history_append_batch(rc_history *h, rc_event *const *evs, size_t n, int *res)
{
    if (!n)
        return 0;
    rc_history_append_start(h, evs, n, res);
    return rc_history_append_finish(h);
}

void rc_history_append_start(rc_history *h, rc_event *const *evs, size_t n, int *res)
{
    pthread_mutex_lock(&h->append_lock);
    h->appending = 1;
    h->append_done = h->ops->append_start(h, evs, n, res);
}

size_t rc_history_append_finish(rc_history *h)
{
    size_t done = h->ops->append_finish ? h->ops->append_finish(h) : h->append_done;
    h->appending = 0;
    pthread_mutex_unlock(&h->append_lock);
    return done;
}

void rc_history_append_prepare(rc_history *h, rc_event *const *evs, size_t n)
{
    /* The caller holds append_lock between its start and its finish. */
    if (h->appending && n && h->ops->append_prepare)
        h->ops->append_prepare(h, evs, n);
}

int rc_history_memberships(rc_history *h,
                           int (*cb)(void *ud, const char *user, const char *program),
                           void *ud)
{
    return h->ops->memberships ? h->ops->memberships(h, cb, ud) : 0;
}

/* ---- the worker ---- */

static void job_free(struct hist_job *j)
{
    for (size_t i = 0; i < j->nrooms; i++)
        free(j->rooms[i]);
    free(j->rooms);
    free(j->after);
    free(j->pid);
    free(j->blob);
    free(j);
}

/*
 * Runs j on the current thread and frees it. unavailable (the history is
 * being destroyed): queries answer "unavailable" without asking the store.
 */
static void job_run(rc_history *h, struct hist_job *j, int unavailable)
{
    rc_event **evs = NULL;
    size_t n = 0;
    int st = RC_REPLAY_UNAVAILABLE;
    void *blob = NULL;
    size_t len = 0;

    switch (j->kind) {
    case JOB_REPLAY:
        if (!unavailable)
            st = h->ops->replay(h, (const char *const *)j->rooms, j->nrooms, j->after,
                                &evs, &n);
        j->replay_done(j->ud, st, evs, n);
        break;
    case JOB_REPLAY_SINCE:
        if (!unavailable)
            st = h->ops->replay_since(h, (const char *const *)j->rooms, j->nrooms,
                                      j->since_ms, &evs, &n);
        j->replay_done(j->ud, st, evs, n);
        break;
    case JOB_SESSION_PUT:
        /* Run even while stopping: sessions stored by clients closed at
         * shutdown are what lets them recover on another node. */
        h->ops->session_put(h, j->pid, j->blob, j->len, j->ttl_ms);
        break;
    case JOB_SESSION_TAKE:
        if (!unavailable)
            blob = h->ops->session_take(h, j->pid, &len);
        j->session_done(j->ud, blob, blob ? len : 0);
        break;
    case JOB_CONTROL:
        if (!unavailable)
            h->ops->control_publish(h, j->blob, j->len);
        break;
    }
    job_free(j);
}

static void *worker_main(void *arg)
{
    rc_history *h = arg;
    pthread_mutex_lock(&h->qlock);
    for (;;) {
        while (!h->qhead && !h->stopping) {
            if (!h->ops->probe) {
                pthread_cond_wait(&h->qcond, &h->qlock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&h->qcond, &h->qlock, &until) == ETIMEDOUT &&
                !h->qhead && !h->stopping) {
                pthread_mutex_unlock(&h->qlock);
                h->ops->probe(h);
                pthread_mutex_lock(&h->qlock);
            }
        }
        struct hist_job *j = h->qhead;
        if (!j)
            break; /* stopping and drained */
        h->qhead = j->next;
        if (!h->qhead)
            h->qtail = NULL;
        h->qlen--;
        int stopping = h->stopping;
        pthread_mutex_unlock(&h->qlock);
        job_run(h, j, stopping);
        pthread_mutex_lock(&h->qlock);
    }
    pthread_mutex_unlock(&h->qlock);
    return NULL;
}

/* Queues j (transferred). Returns 0, or -1 when full or stopping (j freed). */
static int job_queue(rc_history *h, struct hist_job *j)
{
    pthread_mutex_lock(&h->qlock);
    if (h->stopping || h->qlen >= JOB_MAX) {
        pthread_mutex_unlock(&h->qlock);
        LOG_WARN("history", "worker queue full: job refused");
        job_free(j);
        return -1;
    }
    if (h->qtail)
        h->qtail->next = j;
    else
        h->qhead = j;
    h->qtail = j;
    h->qlen++;
    pthread_cond_signal(&h->qcond);
    pthread_mutex_unlock(&h->qlock);
    return 0;
}

static struct hist_job *job_new(enum job_kind kind, const char *const *rooms,
                                size_t nrooms)
{
    struct hist_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    if (nrooms) {
        if (!(j->rooms = calloc(nrooms, sizeof *j->rooms)))
            goto fail;
        for (; j->nrooms < nrooms; j->nrooms++)
            if (!(j->rooms[j->nrooms] = strdup(rooms[j->nrooms])))
                goto fail;
    }
    return j;
fail:
    job_free(j);
    return NULL;
}

int rc_hist_init(rc_history *h, const struct rc_history_ops *ops, void *be,
                 char *errstr, size_t errlen)
{
    h->ops = ops;
    h->be = be;
    atomic_init(&h->epoch, "");
    pthread_mutex_init(&h->append_lock, NULL);
    pthread_mutex_init(&h->sub_lock, NULL);
    pthread_mutex_init(&h->epoch_lock, NULL);
    pthread_mutex_init(&h->qlock, NULL);
    pthread_cond_init(&h->qcond, NULL);
    if (pthread_create(&h->worker, NULL, worker_main, h) != 0) {
        rc_errf(errstr, errlen, "history: cannot start the worker thread");
        pthread_cond_destroy(&h->qcond);
        pthread_mutex_destroy(&h->qlock);
        pthread_mutex_destroy(&h->epoch_lock);
        pthread_mutex_destroy(&h->sub_lock);
        pthread_mutex_destroy(&h->append_lock);
        return -1;
    }
    h->worker_started = 1;
    return 0;
}

void rc_history_destroy(rc_history *h)
{
    if (!h)
        return;
    if (h->worker_started) {
        pthread_mutex_lock(&h->qlock);
        h->stopping = 1;
        pthread_cond_signal(&h->qcond);
        pthread_mutex_unlock(&h->qlock);
        pthread_join(h->worker, NULL);
    }
    h->ops->destroy(h);
    while (h->epochs) {
        struct hist_epoch *e = h->epochs;
        h->epochs = e->next;
        free(e);
    }
    pthread_cond_destroy(&h->qcond);
    pthread_mutex_destroy(&h->qlock);
    pthread_mutex_destroy(&h->epoch_lock);
    pthread_mutex_destroy(&h->sub_lock);
    pthread_mutex_destroy(&h->append_lock);
    free(h);
}

/* ---- replays ---- */

struct sync_wait {
    sem_t sem;
    int status;
    rc_event **evs;
    size_t n;
};

static void sync_replay_done(void *ud, int status, rc_event **evs, size_t n)
{
    struct sync_wait *w = ud;
    w->status = status;
    w->evs = evs;
    w->n = n;
    sem_post(&w->sem);
}

/* Queues j and waits for it, or runs it inline on the worker itself. */
static int replay_wait(rc_history *h, struct hist_job *j, rc_event ***out,
                       size_t *nout)
{
    struct sync_wait w = {.status = RC_REPLAY_UNAVAILABLE};
    *out = NULL;
    *nout = 0;
    j->replay_done = sync_replay_done;
    j->ud = &w;
    if (pthread_equal(pthread_self(), h->worker)) {
        job_run(h, j, 0);
    } else {
        sem_init(&w.sem, 0, 0);
        if (job_queue(h, j) < 0) {
            sem_destroy(&w.sem);
            return RC_REPLAY_UNAVAILABLE;
        }
        while (sem_wait(&w.sem) < 0)
            ; /* EINTR */
        sem_destroy(&w.sem);
    }
    *out = w.evs;
    *nout = w.n;
    return w.status;
}

int rc_history_replay(rc_history *h, const char *const *rooms, size_t nrooms,
                      const char *after, rc_event ***out, size_t *nout)
{
    struct hist_job *j = job_new(JOB_REPLAY, rooms, nrooms);
    if (!j || !(j->after = strdup(after ? after : ""))) {
        if (j)
            job_free(j);
        *out = NULL;
        *nout = 0;
        return RC_REPLAY_UNAVAILABLE;
    }
    return replay_wait(h, j, out, nout);
}

int rc_history_replay_since(rc_history *h, const char *const *rooms,
                            size_t nrooms, int64_t since_ms, rc_event ***out,
                            size_t *nout)
{
    struct hist_job *j = job_new(JOB_REPLAY_SINCE, rooms, nrooms);
    if (!j) {
        *out = NULL;
        *nout = 0;
        return RC_REPLAY_UNAVAILABLE;
    }
    j->since_ms = since_ms;
    return replay_wait(h, j, out, nout);
}

int rc_history_replay_async(rc_history *h, const char *const *rooms,
                            size_t nrooms, const char *after,
                            rc_history_replay_done done, void *ud)
{
    struct hist_job *j = job_new(JOB_REPLAY, rooms, nrooms);
    if (!j || !(j->after = strdup(after ? after : ""))) {
        if (j)
            job_free(j);
        return -1;
    }
    j->replay_done = done;
    j->ud = ud;
    return job_queue(h, j);
}

int rc_history_replay_since_async(rc_history *h, const char *const *rooms,
                                  size_t nrooms, int64_t since_ms,
                                  rc_history_replay_done done, void *ud)
{
    struct hist_job *j = job_new(JOB_REPLAY_SINCE, rooms, nrooms);
    if (!j)
        return -1;
    j->since_ms = since_ms;
    j->replay_done = done;
    j->ud = ud;
    return job_queue(h, j);
}

/* ---- sessions ---- */

static int pid_ok(const char *pid)
{
    size_t n = pid ? strnlen(pid, RC_SESSION_PID_MAX + 1) : 0;
    return n > 0 && n <= RC_SESSION_PID_MAX;
}

int rc_history_session_put(rc_history *h, const char *pid, const void *blob,
                           size_t len, int64_t ttl_ms)
{
    if (!pid_ok(pid) || len > RC_SESSION_MAX || ttl_ms <= 0 || (len && !blob))
        return -1;
    struct hist_job *j = job_new(JOB_SESSION_PUT, NULL, 0);
    if (!j || !(j->pid = strdup(pid)) || !(j->blob = malloc(len ? len : 1))) {
        if (j)
            job_free(j);
        return -1;
    }
    if (len)
        memcpy(j->blob, blob, len);
    j->len = len;
    j->ttl_ms = ttl_ms;
    return job_queue(h, j);
}

int rc_history_session_take_async(rc_history *h, const char *pid,
                                  rc_history_session_done done, void *ud)
{
    if (!pid_ok(pid))
        return -1;
    struct hist_job *j = job_new(JOB_SESSION_TAKE, NULL, 0);
    if (!j || !(j->pid = strdup(pid))) {
        if (j)
            job_free(j);
        return -1;
    }
    j->session_done = done;
    j->ud = ud;
    return job_queue(h, j);
}

/* ---- control messages ---- */

int rc_history_control_publish(rc_history *h, const char *msg, size_t len)
{
    if (!msg || !len || len > RC_CONTROL_MAX)
        return -1;
    struct hist_job *j = job_new(JOB_CONTROL, NULL, 0);
    if (!j || !(j->blob = malloc(len))) {
        if (j)
            job_free(j);
        return -1;
    }
    memcpy(j->blob, msg, len);
    j->len = len;
    return job_queue(h, j);
}
