/*
 * history_private.h - what history.c shares with its backends (private to
 * core/history*.c; users include history.h only).
 *
 * history.c owns what both backends have in common: the subscriber and gap
 * handler, the epoch strings handed out by rc_history_epoch(), and the
 * worker thread with its bounded job queue that runs replays and session
 * jobs. A backend supplies the operations below and keeps its state in
 * h->be.
 */
#ifndef RC_HISTORY_PRIVATE_H
#define RC_HISTORY_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "history.h"

struct rc_history_ops {
    const char *name;
    /* 1 when what the store keeps outlives the process (rc_history_durable). */
    int durable;
    /* rc_history_append_start and _finish, under append_lock (the memory
     * backend calls the subscriber from here). A backend that does the
     * work in start leaves finish NULL and returns the count from start;
     * one that sends in start returns 0 there. */
    size_t (*append_start)(rc_history *h, rc_event *const *evs, size_t n, int *res);
    size_t (*append_finish)(rc_history *h);
    /* rc_history_append_prepare, under append_lock; NULL: nothing to do. */
    void (*append_prepare)(rc_history *h, rc_event *const *evs, size_t n);
    /* Worker thread only: the blocking queries behind the public API. */
    int (*replay)(rc_history *h, const char *const *rooms, size_t nrooms,
                  const char *after, rc_event ***out, size_t *nout);
    int (*replay_since)(rc_history *h, const char *const *rooms, size_t nrooms,
                        int64_t since_ms, rc_event ***out, size_t *nout);
    void (*session_put)(rc_history *h, const char *pid, const void *blob,
                        size_t len, int64_t ttl_ms);
    /* A malloc'ed blob (transferred) or NULL. */
    void *(*session_take)(rc_history *h, const char *pid, size_t *len);
    /* Hands msg to every node's control handler (rc_hist_control). */
    void (*control_publish)(rc_history *h, const char *msg, size_t len);
    /* Calling thread; NULL when the backend keeps no memberships. */
    int (*memberships)(rc_history *h,
                       int (*cb)(void *ud, const char *user, const char *program),
                       void *ud);
    int (*ready)(const rc_history *h);
    /* Worker thread, after a second without jobs: lets a store that is
     * not ready find out that it is again without waiting for traffic.
     * NULL: none. */
    void (*probe)(rc_history *h);
    /* Called by rc_history_subscribe; NULL when there is nothing to start. */
    void (*start_bus)(rc_history *h);
    /* Stops the backend's threads and frees h->be (the worker is stopped). */
    void (*destroy)(rc_history *h);
};

struct hist_epoch;
struct hist_job;

struct rc_history {
    const struct rc_history_ops *ops; /* borrowed, static */
    void *be;                         /* owned by the backend */

    pthread_mutex_t append_lock;      /* held from an append's start to its finish */
    size_t append_done;               /* what append_start returned */
    int appending;                    /* between a start and its finish */

    pthread_mutex_t sub_lock;         /* guards the six fields below */
    rc_history_subscriber sub;
    void *sub_ud;
    rc_history_gap_handler gap;
    void *gap_ud;
    rc_history_control_handler control;
    void *control_ud;

    _Atomic(const char *) epoch;      /* points into `epochs` */
    pthread_mutex_t epoch_lock;
    struct hist_epoch *epochs;        /* owned list, freed by destroy */

    pthread_mutex_t qlock;            /* guards the queue */
    pthread_cond_t qcond;
    struct hist_job *qhead, *qtail;   /* owned */
    size_t qlen;
    int stopping;
    int worker_started;
    pthread_t worker;
};

/*
 * Initialises the common part and starts the worker thread. Returns 0, or -1
 * with errstr filled (h is then to be freed by the caller, nothing leaked).
 */
int rc_hist_init(rc_history *h, const struct rc_history_ops *ops, void *be,
                 char *errstr, size_t errlen);

/* Hands ev (borrowed) to the subscriber, if any. */
void rc_hist_deliver(rc_history *h, rc_event *ev);

/* Calls the gap handler, if any. */
void rc_hist_gap(rc_history *h);

/* Hands a control message (borrowed) to the control handler, if any. */
void rc_hist_control(rc_history *h, const char *msg, size_t len);

/* Makes epoch the current one (copied). Returns 0 or -1 (out of memory). */
int rc_hist_set_epoch(rc_history *h, const char *epoch);

#endif
