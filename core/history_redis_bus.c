/*
 * history_redis_bus.c - the Redis history's bus: the thread that receives
 * every appended event, and every control message, through pub/sub; and
 * the publishing of control messages.
 *
 * Implementation notes. The bus thread polls its socket and an eventfd (the
 * stop signal), sends PING after a second of silence and reconnects when no
 * answer comes within the timeout, so a stopped or unreachable server is
 * noticed even when nothing is published. Each message is decoded into a
 * new event and handed to the subscriber on that thread. Pub/sub keeps
 * nothing for a subscriber that was away, so each time the bus subscribed
 * again after being down it calls the gap handler (clients then recover
 * from the history). The thread starts with the first rc_history_subscribe
 * and is stopped by rc_history_destroy (history_redis.c).
 *
 * Control messages travel on a channel of their own, roomcast:control, to
 * which the same connection subscribes: a node that does not know them
 * (an older version during a rolling upgrade) is not subscribed and never
 * sees them, and the event channel carries events only. They are published
 * by the worker thread on its connection (rc_red_control_publish), so the
 * gateway loop that asks for one never waits for Redis.
 */
#include "history_redis_private.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define PING_IDLE_MS 1000

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

static void bus_control(rc_history *h, const redisReply *rep)
{
    struct red *r = h->be;
    if (rep->len <= 0 || (size_t)rep->len > RC_CONTROL_MAX) {
        LOG_ERROR("history", "redis %s: control message of %lld bytes dropped (1 to %d)",
                  r->where, (long long)rep->len, RC_CONTROL_MAX);
        return;
    }
    rc_hist_control(h, rep->str, (size_t)rep->len);
}

static void bus_message(rc_history *h, const redisReply *rep)
{
    struct red *r = h->be;
    char err[160], ep[RC_OFFSET_MAX];
    uint64_t seq;
    rc_event *ev = rc_red_decode_msg(rep->str, rep->len, err, sizeof err);
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
            if (ping_at && now - ping_at > RC_RED_TIMEOUT_MS) {
                LOG_ERROR("history", "redis %s: the bus got no answer for %d ms", r->where,
                          RC_RED_TIMEOUT_MS);
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
            is_str(rep->element[0], "message") && rep->element[2]->type == REDIS_REPLY_STRING) {
            if (is_str(rep->element[1], RC_RED_CONTROL_CHANNEL))
                bus_control(h, rep->element[2]);
            else
                bus_message(h, rep->element[2]);
        }
        freeReplyObject(rep);
    }
}

/* Reads the confirmations of a SUBSCRIBE of two channels: how many came
 * (2 when subscribed); *rc gets bus_read's last status. */
static int bus_subscribed(struct red *r, redisContext *c, int *rc)
{
    int n = 0;
    while (n < 2) {
        redisReply *rep = NULL;
        if ((*rc = bus_read(r, c, RC_RED_TIMEOUT_MS, &rep)) != 1)
            break;
        int ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
                 is_str(rep->element[0], "subscribe");
        freeReplyObject(rep);
        if (!ok)
            break;
        n++;
    }
    if (n < 2 && *rc == 1)
        *rc = -1; /* an answer other than the confirmation */
    return n;
}

static void *bus_main(void *arg)
{
    rc_history *h = arg;
    struct red *r = h->be;
    char err[256];
    int was_down = 0;
    int64_t backoff = 0;

    for (;;) {
        redisContext *c = rc_red_conn_open(r, err, sizeof err);
        int rc = -1;
        if (!c) {
            if (!was_down)
                LOG_ERROR("history", "redis %s: bus cannot connect: %s", r->where, err);
        } else if (bus_send(c, "SUBSCRIBE " RC_RED_BUS_CHANNEL " " RC_RED_CONTROL_CHANNEL) == 0 &&
                   bus_subscribed(r, c, &rc) == 2) {
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
        if (c)
            redisFree(c);
        if (rc == -2)
            break;
        was_down = 1;
        backoff = backoff ? backoff * 2 : RC_RED_BACKOFF_MIN_MS;
        if (backoff > RC_RED_BACKOFF_MAX_MS)
            backoff = RC_RED_BACKOFF_MAX_MS;
        if (bus_wait(r, -1, (int)backoff) < 0)
            break;
    }
    return NULL;
}

void rc_red_start_bus(rc_history *h)
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

void rc_red_control_publish(rc_history *h, const char *msg, size_t len)
{
    struct red *r = h->be;
    struct rconn *rc = &r->work;
    if (!rc_red_conn_get(r, rc)) {
        LOG_ERROR("history", "redis %s: control message not published: Redis is unreachable",
                  r->where);
        return;
    }
    redisReply *rep = redisCommand(rc->c, "PUBLISH " RC_RED_CONTROL_CHANNEL " %b", msg, len);
    if (rc_red_conn_check(r, rc, rep) < 0) {
        LOG_ERROR("history", "redis %s: control message not published: the connection failed",
                  r->where);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        LOG_ERROR("history", "redis %s: PUBLISH control: %s", r->where, rep->str);
    freeReplyObject(rep);
}
