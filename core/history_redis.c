/*
 * history_redis.c - the Redis history backend: one Lua script call per
 * batch of appends, pub/sub as the bus, pipelined replays, shared
 * memberships and sessions.
 *
 * Implementation notes (docs/history.md has the key layout and the rules).
 * This file holds the backend's connections and its life cycle; the
 * append is in history_redis_append.c, the bus thread in
 * history_redis_bus.c, the queries (replays, sessions, memberships) in
 * history_redis_query.c, and the message format both directions share in
 * history_redis_msg.c.
 *
 * Connections: three blocking hiredis connections, each used by one thread
 * only: `app` for appends (under the history's append_lock; the consumer
 * thread), `work` for replays and sessions (the history's worker thread),
 * and the bus thread's own subscriber connection; rc_history_memberships opens a
 * short-lived fourth one on the calling thread. Each has 2 s connect and
 * command timeouts; after a failure the connection is dropped and the next
 * attempt waits for a backoff (100 ms doubling to 2 s), so a caller gets -1
 * at once instead of waiting for a dead server again. store_ok says whether
 * the last command on `app` or `work` succeeded; with bus_up it makes
 * rc_history_ready.
 */
#include "history_redis_private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errstr.h"
#include "log.h"

/* ---- connections ---- */

static const struct timeval io_timeout = {RC_RED_TIMEOUT_MS / 1000,
                                          (RC_RED_TIMEOUT_MS % 1000) * 1000};

static int reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

/* A new connection with timeouts, authenticated, on the right db; or NULL. */
redisContext *rc_red_conn_open(struct red *r, char *err, size_t errlen)
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
    rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : RC_RED_BACKOFF_MIN_MS;
    if (rc->backoff_ms > RC_RED_BACKOFF_MAX_MS)
        rc->backoff_ms = RC_RED_BACKOFF_MAX_MS;
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
redisContext *rc_red_conn_get(struct red *r, struct rconn *rc)
{
    char err[256];
    if (rc->c)
        return rc->c;
    if (rc_clock_wall_ms() < rc->retry_at)
        return NULL;
    if (!(rc->c = rc_red_conn_open(r, err, sizeof err))) {
        conn_fail(r, rc, err);
        return NULL;
    }
    if (rc->backoff_ms)
        LOG_INFO("history", "redis %s (%s connection): connected again", r->where, rc->name);
    rc->backoff_ms = 0;
    return rc->c;
}

/* After a command's reply: NULL means the connection broke. */
int rc_red_conn_check(struct red *r, struct rconn *rc, redisReply *rep)
{
    if (!rep) {
        char why[160];
        /* hiredis reports a timeout as EAGAIN */
        if (strstr(rc->c->errstr, "temporarily unavailable"))
            rc_errf(why, sizeof why, "no answer within %d ms", RC_RED_TIMEOUT_MS);
        else
            rc_errf(why, sizeof why, "%s", rc->c->errstr[0] ? rc->c->errstr : "connection lost");
        conn_fail(r, rc, why);
        return -1;
    }
    atomic_store(&r->store_ok, 1);
    return 0;
}

/* ---- the backend ---- */

static int red_ready(const rc_history *h)
{
    struct red *r = h->be;
    return atomic_load(&r->store_ok) &&
           (!atomic_load(&r->bus_wanted) || atomic_load(&r->bus_up));
}

/* Once a second while idle and not ready: a PING on the worker's
 * connection (within its backoff), so that readiness comes back when Redis
 * does, not with the next command that traffic brings. */
static void red_probe(rc_history *h)
{
    struct red *r = h->be;
    if (atomic_load(&r->store_ok))
        return;
    redisContext *c = rc_red_conn_get(r, &r->work);
    if (!c)
        return;
    redisReply *rep = redisCommand(c, "PING");
    if (rc_red_conn_check(r, &r->work, rep) == 0)
        freeReplyObject(rep);
}

static void red_free(struct red *r)
{
    if (r->app.c)
        redisFree(r->app.c);
    if (r->work.c)
        redisFree(r->work.c);
    rc_red_decoded_free(r->decoded);
    rc_redis_url_free(&r->conf);
    rc_red_call_free(&r->call);
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
    .durable = 1,
    .append_start = rc_red_append_start,
    .append_finish = rc_red_append_finish,
    .append_prepare = rc_red_append_prepare,
    .replay = rc_red_replay,
    .replay_since = rc_red_replay_since,
    .session_put = rc_red_session_put,
    .session_take = rc_red_session_take,
    .control_publish = rc_red_control_publish,
    .memberships = rc_red_memberships,
    .ready = red_ready,
    .probe = red_probe,
    .start_bus = rc_red_start_bus,
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
    pthread_mutex_init(&r->bus_lock, NULL);
    if (rc_hist_init(h, &red_ops, r, errstr, errlen) < 0) {
        red_free(r);
        free(h);
        return NULL;
    }
    /* Learn the epoch now when Redis is up; being down is not fatal. No
     * other thread has h yet: `app` is ours without the append_lock. */
    if (rc_red_conn_get(r, &r->app) && rc_red_load_script(r, &r->app) == 0) {
        redisReply *rep = redisCommand(r->app.c, "GET " RC_RED_K_EPOCH);
        if (rc_red_conn_check(r, &r->app, rep) == 0) {
            if (rep->type == REDIS_REPLY_STRING)
                rc_hist_set_epoch(h, rep->str);
            freeReplyObject(rep);
        }
    }
    if (errlen)
        errstr[0] = '\0';
    LOG_INFO("history", "redis history at %s, epoch %s, %d events per room, %d s%s",
             r->where, *rc_history_epoch(h) ? rc_history_epoch(h) : "(none yet)",
             r->max_per_room, ttl_s, atomic_load(&r->store_ok) ? "" : " (unreachable for now)");
    return h;
}
