/*
 * history_helpers.h - helpers shared by the two history test programs (the
 * memory backend's and the Redis backend's): waiting for asynchronous
 * replays and session takes, collecting memberships, freeing replays.
 * Included by one test file each, so static definitions are fine.
 */
#ifndef RC_TEST_HISTORY_HELPERS_H
#define RC_TEST_HISTORY_HELPERS_H

#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/history.h"

static void free_evs(rc_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);
}

/* Memberships seen by rc_history_memberships, as "user:program". */
static char pairs[64][64];
static int npairs;

static int on_pair(void *ud, const char *user, const char *program)
{
    (void)ud;
    if (npairs < 64)
        snprintf(pairs[npairs++], 64, "%s:%s", user, program);
    return 0;
}

static int has_pair(const char *p)
{
    for (int i = 0; i < npairs; i++)
        if (!strcmp(pairs[i], p))
            return 1;
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Completion of an asynchronous replay or session take. */
struct waiter {
    sem_t sem;
    int status;
    rc_event **evs;
    size_t n;
    void *blob;
    size_t len;
};

static void replay_done(void *ud, int status, rc_event **evs, size_t n)
{
    struct waiter *w = ud;
    w->status = status;
    w->evs = evs;
    w->n = n;
    sem_post(&w->sem);
}

static void session_done(void *ud, void *blob, size_t len)
{
    struct waiter *w = ud;
    w->blob = blob;
    w->len = len;
    sem_post(&w->sem);
}

#endif
