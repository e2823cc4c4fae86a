/*
 * consumer.c - Kafka records to typed events, at least once.
 *
 * Implementation notes.
 *
 * Offsets: enable.auto.offset.store is off, so librdkafka commits (auto
 * commit, on revoke, on close) only what rd_kafka_offsets_store() was given,
 * and we give it a record's offset + 1 only after the sink accepted the
 * record's event, or after the record went to the DLQ.
 *
 * Batches: the thread polls what librdkafka has ready, up to max_batch
 * records (the first poll waits, the others do not), decodes and maps them
 * in poll order into `items`, and settles the items in that order: a run
 * of events goes to the sink in one call (the history appends them in few
 * round trips), a bad record to the DLQ. Each item's offset is stored
 * once it is settled, so the order of stores per partition is the order of
 * its records. A rebalance served by one of those polls drops the records
 * polled so far from the partitions it revoked, unstored.
 *
 * Back-pressure: when the sink refuses an event (history unreachable), the
 * items from that one on are kept (`pending`: items left), every assigned
 * partition is paused, and they are retried, in order, with exponential
 * backoff while the thread keeps polling (so the group membership stays
 * alive and rebalances are served). The sink took the events before the
 * refused one: their offsets are stored. librdkafka resumes a paused
 * partition at the position after the last record poll returned, so the
 * pending records are never refetched: they are retried from memory, and
 * only when all are settled are the partitions resumed. Pausing discards
 * records fetched but not yet returned (version barrier), so nothing is
 * skipped. Pending records of a partition that is revoked are dropped
 * unstored; the next owner reads them again.
 *
 * Schema Registry waits: a Confluent-framed record whose schema id neither
 * the codec nor the registry's cache knows is resolved through the registry
 * before it is decoded (registry.h). When the registry does not answer, the
 * record is kept as a `wait` and its partition alone is paused: other
 * partitions go on, and since librdkafka resumes a partition after the last
 * record poll returned, the partition's later records follow the waiting
 * one in order. There is at most one wait per partition. Waits are retried
 * when the registry's backoff allows (one request per backoff period
 * whatever the number of waits), oldest first; while a sink refusal is
 * pending they are left alone (everything is paused then), and resuming
 * after it skips the partitions that still wait. A revoked partition's wait
 * is dropped unstored, like a pending record. The request blocks this
 * thread for at most --schema-registry-timeout; librdkafka's heartbeats run
 * on its own threads, and max.poll.interval.ms (300 s) is far off.
 *
 * DLQ: an undecodable or unmappable record is produced, unchanged (key,
 * value), to the DLQ topic with headers roomcast.error, roomcast.topic,
 * roomcast.partition, roomcast.offset, roomcast.timestamp; its offset is
 * stored only once the DLQ write was acknowledged. A DLQ write that fails is
 * handled like a refused sink: paused and retried.
 *
 * Rebalances: the callback keeps the assignment itself (parts), from the
 * assign and revoke lists it is given, and calls nothing that waits on
 * librdkafka's queues besides the (un)assign it must make: no
 * rd_kafka_assignment(), no rd_kafka_rebalance_protocol() (the protocol
 * follows from partition.assignment.strategy, read once at start), no
 * synchronous commit. During close, once the unassign lets the group
 * terminate, librdkafka purges its cgrp op queue, which is forwarded to the
 * main ops queue: a request such as GET_ASSIGNMENT enqueued there at that
 * moment is destroyed unanswered, and its caller waits forever. A
 * synchronous commit with the coordinator gone is deferred for
 * session.timeout.ms. The commit on revoke is librdkafka's own: with
 * enable.auto.commit (the default) it commits the stored offsets of the
 * partitions it removes, before the member rejoins; with auto commit
 * turned off, the callback asks for an asynchronous commit. Resuming the
 * remaining partitions after a revoke is left to the consumer loop.
 *
 * Metrics: records are counted by topic (the catalog's topics are
 * registered at start, so the count is an array index), bad records by
 * reason. The partition table of core/metrics follows the assignment as
 * the rebalance callback changes it, and librdkafka's statistics
 * (statistics.interval.ms, kafka_conf.c) fill in each assigned
 * partition's lag and fetch state; the callback runs on this thread from
 * poll, so it reads the assignment without a lock.
 *
 * Close: rd_kafka_consumer_close_queue() and our own polling of the queue
 * as events (close_event), so that the wait has a deadline
 * (rd_kafka_consumer_close() can wait about session.timeout.ms for a
 * coordinator that is gone). The partitions are paused first, so that no
 * fetched record reaches that queue (see close_group). A close abandoned at
 * the deadline leaves the handle undestroyed (see consumer.h).
 */
#include "consumer.h"

#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "core/metrics.h"
#include "codec.h"
#include "kafka_conf.h"

#define POLL_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define DLQ_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_MS 5000
#define WAIT_LOG_MS 5000 /* a warning this often while records wait for the registry */

/* A record in hand, decoded and mapped, to settle: its event to the sink,
 * or (ev NULL) the record to the DLQ with its reason. */
struct item {
    rd_kafka_message_t *msg;        /* owned */
    rc_event *ev;                   /* owned; NULL: a DLQ write */
    char *err;                      /* owned: the DLQ reason; NULL with ev */
    enum rc_metrics_bad_record why; /* of a DLQ write */
    int revoked;                    /* its partition was revoked while it was in flight */
};

/* A record whose partition waits for the Schema Registry. */
struct wait {
    rd_kafka_message_t *msg; /* owned */
    int32_t id;              /* the schema id it needs */
};

struct rc_consumer {
    char *dlq_topic;        /* owned */
    const rc_catalog *cat;  /* borrowed */
    rc_consumer_sink sink;  /* copied */
    void *ud;
    rc_codec *codec;        /* owned; used on the consumer thread only */
    rc_registry *registry;  /* borrowed, or NULL; the consumer thread's once started */
    rd_kafka_t *rk;         /* owned consumer */
    rd_kafka_t *dlq;        /* owned producer for the DLQ topic */
    pthread_t thread;
    int started;
    int stopped;     /* rc_consumer_stop was called */
    int stop_result; /* and returned this */
    int cooperative; /* the rebalance protocol is COOPERATIVE */
    int auto_commit; /* enable.auto.commit */
    int read_committed; /* isolation.level: lag is measured to the LSO */
    int *topic_idx;     /* owned: rc_metrics_topic() of each catalog topic */
    int close_timeout_ms;
    atomic_int stop;
    atomic_int assigned;
    atomic_int joined; /* a first assignment came (possibly empty) */
    atomic_int paused;
    atomic_int abandoned; /* the group close did not finish in time */
    atomic_int nwaiting;  /* nwaits, for other threads */

    /* consumer thread only */
    rd_kafka_topic_partition_list_t *parts; /* owned: the assignment */
    int closing;                            /* in the group close: no new requests to librdkafka */
    int resume_needed;                      /* resume parts once the rebalance callback returned */
    size_t max_batch;                /* records in one poll batch at most */
    rd_kafka_message_t **polled;     /* owned, max_batch: polled, not looked at yet */
    size_t npolled;
    struct item *items;              /* owned, 2 * max_batch: in poll order, unsettled;
                                      * left after a refusal, they are pending */
    size_t nitems;
    size_t ninflight;                /* the first ninflight items' events are with the
                                      * sink, started and not finished */
    int pending;                     /* the items were refused: every partition is
                                      * paused, they are retried with backoff */
    rc_event **evs;                  /* owned, max_batch: a run of events for the sink */
    int backoff_ms;
    int64_t retry_at_ms;
    struct wait *waits;   /* owned, in arrival order: one per partition at most */
    size_t nwaits, capwaits;
    int64_t wait_log_at;  /* next "still waiting" warning */
};

/* DLQ delivery outcome, written by the delivery report callback. */
struct dlq_wait {
    int done;
    rd_kafka_resp_err_t err;
};


static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                            void *opaque)
{
    (void)rk;
    (void)opaque;
    struct dlq_wait *w = m->_private;
    if (w) {
        w->err = m->err;
        w->done = 1;
    }
}

/* The wait of topic [partition], or -1. */
static long wait_find(const rc_consumer *c, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < c->nwaits; i++)
        if (c->waits[i].msg->partition == partition &&
            strcmp(rd_kafka_topic_name(c->waits[i].msg->rkt), topic) == 0)
            return (long)i;
    return -1;
}

/* Pauses (or resumes) the one partition topic [partition]. */
static void pause_one(rd_kafka_t *rk, const char *topic, int32_t partition, int pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition);
    if (pause)
        rd_kafka_pause_partitions(rk, l);
    else
        rd_kafka_resume_partitions(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Resumes the partitions of list that wait for no schema. */
static void resume_free(rc_consumer *c, rd_kafka_t *rk,
                        const rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(list->cnt);
    for (int i = 0; i < list->cnt; i++)
        if (wait_find(c, list->elems[i].topic, list->elems[i].partition) < 0)
            rd_kafka_topic_partition_list_add(l, list->elems[i].topic, list->elems[i].partition);
    if (l->cnt)
        rd_kafka_resume_partitions(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Takes wait i out (keeping the order of the others); returns its record. */
static rd_kafka_message_t *wait_take(rc_consumer *c, size_t i)
{
    rd_kafka_message_t *m = c->waits[i].msg;
    memmove(&c->waits[i], &c->waits[i + 1], (c->nwaits - i - 1) * sizeof *c->waits);
    c->nwaits--;
    atomic_store(&c->nwaiting, (int)c->nwaits);
    rc_gauge_add(&rc_metrics.schema_waits, -1);
    return m;
}

/* Drops the waits of the partitions in list (all of them when NULL),
 * unstored: their next owner, or this member later, reads them again. */
static void drop_waits(rc_consumer *c, const rd_kafka_topic_partition_list_t *list)
{
    for (size_t i = c->nwaits; i-- > 0;) {
        const rd_kafka_message_t *w = c->waits[i].msg;
        if (list && !rd_kafka_topic_partition_list_find(list, rd_kafka_topic_name(w->rkt),
                                                        w->partition))
            continue;
        if (list)
            LOG_WARN("consumer",
                     "%s [%d] revoked while offset %" PRId64 " waited for schema id %" PRId32
                     "; its next owner reads it again",
                     rd_kafka_topic_name(w->rkt), w->partition, w->offset, c->waits[i].id);
        rd_kafka_message_destroy(wait_take(c, i));
    }
}

static void set_paused(rc_consumer *c, int paused)
{
    atomic_store(&c->paused, paused);
    rc_gauge_set(&rc_metrics.consumer_paused, paused);
}

/* Pauses or resumes every assigned partition (consumer thread, outside the
 * rebalance callback); resuming leaves the partitions that wait for the
 * Schema Registry paused. */
static void pause_all(rc_consumer *c, int pause)
{
    if (c->parts->cnt) {
        if (pause)
            rd_kafka_pause_partitions(c->rk, c->parts);
        else
            resume_free(c, c->rk, c->parts);
    }
    set_paused(c, pause);
    c->resume_needed = 0;
}

/* The assignment's bookkeeping: parts gets add, or loses del; the
 * metrics' partition table follows. */
static void parts_add(rc_consumer *c, const rd_kafka_topic_partition_list_t *add)
{
    for (int i = 0; i < add->cnt; i++) {
        if (!rd_kafka_topic_partition_list_find(c->parts, add->elems[i].topic,
                                                add->elems[i].partition))
            rd_kafka_topic_partition_list_add(c->parts, add->elems[i].topic,
                                              add->elems[i].partition);
        if (rc_metrics_partition_assign(add->elems[i].topic, add->elems[i].partition) < 0)
            LOG_WARN("consumer", "out of memory: no lag metrics for %s [%d]", add->elems[i].topic,
                     add->elems[i].partition);
    }
}

static void parts_clear(rc_consumer *c)
{
    rd_kafka_topic_partition_list_destroy(c->parts);
    c->parts = rd_kafka_topic_partition_list_new(0);
    rc_metrics_partition_revoke_all();
}

static void parts_del(rc_consumer *c, const rd_kafka_topic_partition_list_t *del)
{
    for (int i = 0; i < del->cnt; i++) {
        rd_kafka_topic_partition_list_del(c->parts, del->elems[i].topic, del->elems[i].partition);
        rc_metrics_partition_revoke(del->elems[i].topic, del->elems[i].partition);
    }
}

static void item_free(struct item *it)
{
    rd_kafka_message_destroy(it->msg);
    rc_event_unref(it->ev);
    free(it->err);
}

/* 1 when m is of a partition in list (every partition when NULL). */
static int in_list(const rd_kafka_message_t *m, const rd_kafka_topic_partition_list_t *list)
{
    return !list || rd_kafka_topic_partition_list_find(list, rd_kafka_topic_name(m->rkt),
                                                       m->partition) != NULL;
}

/* Drops, unstored, the items and the polled records of the partitions in
 * list (all of them when NULL): their next owner, or this member later,
 * reads them again. Items in flight are only marked: the sink has their
 * events until its finish, and their offsets are not stored. */
static void drop_pending(rc_consumer *c, const rd_kafka_topic_partition_list_t *list)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < c->nitems; i++) {
        struct item *it = &c->items[i];
        if (!in_list(it->msg, list) || i < c->ninflight) {
            if (i < c->ninflight && in_list(it->msg, list))
                it->revoked = 1;
            c->items[kept++] = *it;
            continue;
        }
        if (list && !dropped++)
            LOG_WARN("consumer",
                     "%s [%d] revoked while offset %" PRId64
                     " was pending; its next owner reads it again",
                     rd_kafka_topic_name(it->msg->rkt), it->msg->partition, it->msg->offset);
        item_free(it);
    }
    c->nitems = kept;
    if (!c->nitems)
        c->pending = 0;
    kept = 0;
    for (size_t i = 0; i < c->npolled; i++) {
        if (in_list(c->polled[i], list))
            rd_kafka_message_destroy(c->polled[i]);
        else
            c->polled[kept++] = c->polled[i];
    }
    c->npolled = kept;
}

/*
 * Rebalance callback (consumer thread, from poll or from the close). See the
 * notes at the top: the only librdkafka calls that wait are the (un)assign.
 */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    rc_consumer *c = opaque;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (c->cooperative) {
            error = rd_kafka_incremental_assign(rk, parts);
        } else {
            aerr = rd_kafka_assign(rk, parts);
            parts_clear(c);
        }
        parts_add(c, parts);
        /* Pending records keep every partition paused, new ones too.
         * Without them, resume them: librdkafka keeps a partition's
         * application pause across unassign and assign, so a partition
         * paused for earlier pending records and given back to us would
         * otherwise never be fetched again. */
        if (parts->cnt && !c->closing) {
            if (c->pending)
                rd_kafka_pause_partitions(rk, parts);
            else
                resume_free(c, rk, parts);
        }
        LOG_INFO("consumer", "assigned %d partition(s)", parts->cnt);
        atomic_store(&c->joined, 1);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        drop_pending(c, parts);
        drop_waits(c, parts);
        /* With auto commit, librdkafka commits the stored offsets of the
         * partitions it removes; without, ask for it, asynchronously. */
        if (!c->auto_commit && !rd_kafka_assignment_lost(rk))
            rd_kafka_commit(rk, NULL, 1);
        if (c->cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
            parts_del(c, parts);
        } else {
            aerr = rd_kafka_assign(rk, NULL);
            parts_clear(c);
        }
        if (!c->pending && atomic_load(&c->paused)) {
            if (c->parts->cnt)
                c->resume_needed = 1; /* by the loop, outside this callback */
            else
                set_paused(c, 0);
        }
        LOG_INFO("consumer", "revoked %d partition(s)", parts->cnt);
    } else {
        /* A failed rebalance: drop the assignment, the group starts over. */
        LOG_ERROR("consumer", "rebalance failed: %s", rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
        parts_clear(c);
        drop_pending(c, NULL);
        drop_waits(c, NULL);
        set_paused(c, 0);
    }
    if (error) {
        LOG_ERROR("consumer", "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
    if (aerr && aerr != RD_KAFKA_RESP_ERR__DESTROY)
        LOG_ERROR("consumer", "rebalance: %s", rd_kafka_err2str(aerr));
    atomic_store(&c->assigned, c->parts->cnt);
}

/* An integer member of a statistics object, or -1001 (librdkafka's
 * invalid offset) when absent. */
static int64_t stat_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : RD_KAFKA_OFFSET_INVALID;
}

/* The offset of the first record of topic [partition] that this consumer
 * holds unsettled (polled, in a batch, in flight, pending, or waiting for
 * the Schema Registry), or -1. */
static int64_t held_min(int64_t first, const rd_kafka_message_t *m, const char *topic,
                        int32_t partition)
{
    if (m->partition != partition || (first >= 0 && m->offset >= first) ||
        strcmp(rd_kafka_topic_name(m->rkt), topic) != 0)
        return first;
    return m->offset;
}

static int64_t held_from(const rc_consumer *c, const char *topic, int32_t partition)
{
    int64_t first = -1;
    for (size_t i = 0; i < c->npolled; i++)
        first = held_min(first, c->polled[i], topic, partition);
    for (size_t i = 0; i < c->nitems; i++)
        first = held_min(first, c->items[i].msg, topic, partition);
    for (size_t i = 0; i < c->nwaits; i++)
        first = held_min(first, c->waits[i].msg, topic, partition);
    return first;
}

/*
 * The lag of one partition from its statistics object: records between
 * its end (the high watermark, or the last stable offset when reading
 * committed) and where the group resumes from: the offset stored after the
 * last record handled, else the committed one; with neither (nothing
 * handled since the assignment, and nothing committed ever), the first
 * record this consumer holds unsettled, else the next record handed over,
 * else the partition's start, where an earliest reset begins. -1 when the
 * end is not known yet.
 */
static int64_t partition_lag(const rc_consumer *c, const rd_kafka_topic_partition_t *tp,
                             json_t *p)
{
    int64_t end = stat_int(p, c->read_committed ? "ls_offset" : "hi_offset");
    if (end < 0)
        end = stat_int(p, "hi_offset");
    if (end < 0)
        return -1;
    const char *from[] = {"stored_offset", "committed_offset", NULL, "app_offset", "lo_offset"};
    for (size_t i = 0; i < sizeof from / sizeof *from; i++) {
        int64_t pos = from[i] ? stat_int(p, from[i]) : held_from(c, tp->topic, tp->partition);
        if (pos >= 0)
            return pos < end ? end - pos : 0;
    }
    return -1;
}

/*
 * librdkafka's statistics (every statistics.interval.ms, consumer thread):
 * the lag and fetch state of every assigned partition, for the metrics.
 * Returns 0: librdkafka frees the JSON.
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    rc_consumer *c = opaque;
    (void)rk;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = root ? json_object_get(root, "topics") : NULL;
    for (int i = 0; topics && i < c->parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &c->parts->elems[i];
        char key[16];
        snprintf(key, sizeof key, "%" PRId32, tp->partition);
        json_t *p =
            json_object_get(json_object_get(json_object_get(topics, tp->topic), "partitions"), key);
        if (!p)
            continue;
        const char *state = json_string_value(json_object_get(p, "fetch_state"));
        rc_metrics_partition_update(tp->topic, tp->partition, partition_lag(c, tp, p),
                                    state && strcmp(state, "active") == 0);
    }
    json_decref(root);
    return 0;
}

/* Offset commit results (auto commit, revoke, close): failures are logged. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        LOG_WARN("consumer",
                 "offset commit failed: %s; records since the last commit may be "
                 "delivered again (the history drops them as duplicates)",
                 rd_kafka_err2str(err));
}

/* Produces m to the DLQ topic and waits for the broker's answer; why is
 * the metrics' label of reason. */
static int dlq_write(rc_consumer *c, const rd_kafka_message_t *m, const char *reason,
                     enum rc_metrics_bad_record why)
{
    char part[16], off[24], ts[24];
    rd_kafka_timestamp_type_t tstype;
    snprintf(part, sizeof part, "%d", m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    snprintf(ts, sizeof ts, "%" PRId64, rd_kafka_message_timestamp(m, &tstype));
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct dlq_wait w = {0, RD_KAFKA_RESP_ERR_NO_ERROR};

    rd_kafka_resp_err_t err = rd_kafka_producev(
        c->dlq, RD_KAFKA_V_TOPIC(c->dlq_topic),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_HEADER("roomcast.error", reason, -1),
        RD_KAFKA_V_HEADER("roomcast.topic", topic, -1),
        RD_KAFKA_V_HEADER("roomcast.partition", part, -1),
        RD_KAFKA_V_HEADER("roomcast.offset", off, -1),
        RD_KAFKA_V_HEADER("roomcast.timestamp", ts, -1),
        RD_KAFKA_V_OPAQUE(&w), RD_KAFKA_V_END);
    if (err) {
        LOG_ERROR("consumer", "DLQ write for %s [%d] %" PRId64 " failed: %s",
                  topic, m->partition, m->offset, rd_kafka_err2str(err));
        return -1;
    }
    /* Stopping cuts the wait short: the record stays unstored. */
    int64_t deadline = rc_clock_mono_ms() + DLQ_TIMEOUT_MS;
    while (!w.done && rc_clock_mono_ms() < deadline && !atomic_load(&c->stop))
        rd_kafka_poll(c->dlq, 50);
    if (!w.done) {
        /* The report will still come; it must not write to our stack. */
        rd_kafka_purge(c->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(c->dlq, 0);
        if (!w.done)
            rd_kafka_flush(c->dlq, 1000);
        LOG_ERROR("consumer", "DLQ write for %s [%d] %" PRId64 " %s", topic, m->partition,
                  m->offset, atomic_load(&c->stop) ? "given up: stopping" : "timed out");
        return -1;
    }
    if (w.err) {
        LOG_ERROR("consumer", "DLQ write for %s [%d] %" PRId64 " failed: %s",
                  topic, m->partition, m->offset, rd_kafka_err2str(w.err));
        return -1;
    }
    rc_counter_inc(&rc_metrics.dlq[why]);
    return 0;
}

/* Decodes and maps m. Returns the event, or NULL with err and *why set. */
static rc_event *to_event(rc_consumer *c, const rd_kafka_message_t *m, char *err, size_t errlen,
                          enum rc_metrics_bad_record *why_out)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    const char *record = rc_catalog_record_for_topic(c->cat, topic);
    avro_value_t *value;
    rc_event *ev = NULL;
    char why[200];

    if (!record) {
        *why_out = RC_M_BAD_UNKNOWN_TOPIC;
        rc_errf(err, errlen, "no catalog record for topic %s", topic);
        return NULL;
    }
    if (!m->payload || !m->len) {
        *why_out = RC_M_BAD_EMPTY;
        rc_errf(err, errlen, "empty record value");
        return NULL;
    }
    if (rc_codec_decode(c->codec, record, m->payload, m->len, &value, NULL, why,
                        sizeof why) < 0) {
        *why_out = rc_codec_unknown_writer(c->codec, m->payload, m->len) ? RC_M_BAD_UNKNOWN_SCHEMA
                                                                         : RC_M_BAD_UNDECODABLE;
        rc_errf(err, errlen, "undecodable: %s", why);
        return NULL;
    }
    if (rc_catalog_map(c->cat, record, value, &ev, why, sizeof why) < 0) {
        *why_out = RC_M_BAD_UNMAPPABLE;
        rc_errf(err, errlen, "unmappable: %s", why);
        return NULL;
    }
    rd_kafka_timestamp_type_t tstype;
    ev->kafka_ts_ms = rd_kafka_message_timestamp(m, &tstype);
    return ev;
}

/* The consumed family's index of topic: the catalog's topics were
 * registered at start; another (never subscribed to) on first sight. */
static int topic_index(const rc_consumer *c, const char *topic)
{
    for (size_t i = 0; i < rc_catalog_count(c->cat); i++)
        if (strcmp(rc_catalog_topic(c->cat, i), topic) == 0)
            return c->topic_idx[i];
    return rc_metrics_topic(topic);
}

/*
 * Decodes and maps m into a new item, last of c->items, or makes it a DLQ
 * write: with the reason bad (an answer of the Schema Registry, counted as
 * bad_why) when not NULL. Takes ownership of m. Room for it is there: the
 * items are never more than one poll batch.
 */
static void item_add(rc_consumer *c, rd_kafka_message_t *m, const char *bad,
                     enum rc_metrics_bad_record bad_why)
{
    char err[512];
    struct item *it = &c->items[c->nitems++];
    *it = (struct item){.msg = m, .why = RC_M_BAD_UNDECODABLE};
    if (bad) {
        rc_errf(err, sizeof err, "undecodable: %s", bad);
        it->why = bad_why;
    } else {
        it->ev = to_event(c, m, err, sizeof err, &it->why);
    }
    if (it->ev)
        return;
    rc_counter_inc(&rc_metrics.invalid[it->why]);
    LOG_WARN("consumer", "bad record %s [%d] offset %" PRId64 ": %s; sent to %s",
             rd_kafka_topic_name(m->rkt), m->partition, m->offset, err, c->dlq_topic);
    if (!(it->err = strdup(err)))
        LOG_ERROR("consumer", "out of memory: the DLQ write of %s [%d] offset %" PRId64
                  " goes without its reason", rd_kafka_topic_name(m->rkt), m->partition,
                  m->offset);
}

/* Drops, unstored, the items of partitions revoked while they were in
 * flight: the sink refused them, their next owner reads them again. */
static void drop_revoked(rc_consumer *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->nitems; i++) {
        if (c->items[i].revoked)
            item_free(&c->items[i]);
        else
            c->items[kept++] = c->items[i];
    }
    c->nitems = kept;
}

/* Stores the offsets of items[i..i+n) (those of partitions still ours),
 * in one call: each partition's last, and frees them. */
static void settled(rc_consumer *c, size_t i, size_t n)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t k = i; k < i + n; k++) {
        const rd_kafka_message_t *m = c->items[k].msg;
        if (!c->items[k].revoked) {
            const char *topic = rd_kafka_topic_name(m->rkt);
            if (!l)
                l = rd_kafka_topic_partition_list_new(4);
            rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic,
                                                                               m->partition);
            if (!tp)
                tp = rd_kafka_topic_partition_list_add(l, topic, m->partition);
            tp->offset = m->offset + 1;
        }
        item_free(&c->items[k]);
    }
    if (!l)
        return;
    rd_kafka_offsets_store(c->rk, l);
    for (int k = 0; k < l->cnt; k++)
        if (l->elems[k].err)
            LOG_WARN("consumer", "cannot store offset %s [%d] %" PRId64 ": %s", l->elems[k].topic,
                     l->elems[k].partition, l->elems[k].offset - 1,
                     rd_kafka_err2str(l->elems[k].err));
    rd_kafka_topic_partition_list_destroy(l);
}

/*
 * Settles c->items in order, from the first: the run of events in flight
 * first (the sink's finish), then each run of events with the sink, each
 * bad record with its DLQ write, storing the offset of every item settled.
 * With async, a run that ends the items is only started: it stays in
 * flight (c->ninflight, first in c->items) until the next call. Stops at
 * the first refusal and keeps the items from there on, first at
 * c->items[0], none in flight. Returns 0, or -1 when some were refused.
 */
static int settle_items(rc_consumer *c, int async)
{
    size_t i = 0, done = 0; /* items[done..i) settled, offsets not stored yet */
    int refused = 0;
    if (c->ninflight) {
        size_t n = c->ninflight, took = c->sink.finish(c->ud);
        c->ninflight = 0;
        if (took > n)
            took = n;
        i = took;
        refused = took < n;
    }
    /* What the run in flight took is stored once the next run is started
     * (the store works while the sink does), before anything else. */
    while (!refused && i < c->nitems) {
        struct item *it = &c->items[i];
        if (!it->ev) {
            settled(c, done, i - done);
            if (dlq_write(c, it->msg, it->err ? it->err : "", it->why) < 0) {
                done = i;
                refused = 1;
                break;
            }
            settled(c, i++, 1);
            done = i;
            continue;
        }
        size_t n = 0; /* a run, of max_batch events at most */
        while (i + n < c->nitems && n < c->max_batch && c->items[i + n].ev) {
            c->evs[n] = c->items[i + n].ev;
            n++;
        }
        c->sink.start(c->ud, c->evs, n);
        settled(c, done, i - done);
        done = i;
        if (async && i + n == c->nitems) {
            c->ninflight = n;
            break;
        }
        size_t took = c->sink.finish(c->ud);
        if (took > n)
            took = n;
        settled(c, i, took);
        i += took;
        done = i;
        refused = took < n;
    }
    settled(c, done, i - done);
    memmove(c->items, c->items + i, (c->nitems - i) * sizeof *c->items);
    c->nitems -= i;
    if (!refused)
        return 0;
    drop_revoked(c);
    return c->nitems ? -1 : 0;
}

/* Settles c->items (see settle_items); what is refused becomes pending:
 * every partition is paused, to be retried from memory. */
static void settle(rc_consumer *c, int async)
{
    if (settle_items(c, async) == 0)
        return;
    const rd_kafka_message_t *m = c->items[0].msg;
    LOG_WARN("consumer", "pausing: %s [%d] offset %" PRId64 " could not be %s",
             rd_kafka_topic_name(m->rkt), m->partition, m->offset,
             c->items[0].ev ? "appended to history" : "written to the DLQ");
    c->pending = 1;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->retry_at_ms = rc_clock_mono_ms() + c->backoff_ms;
    pause_all(c, 1);
}

/* Tries the pending records once more, in order. Returns 0 when they are
 * all settled (and the partitions resumed). */
static int retry_pending(rc_consumer *c)
{
    char first[320];
    snprintf(first, sizeof first, "%s [%d] offset %" PRId64,
             rd_kafka_topic_name(c->items[0].msg->rkt), c->items[0].msg->partition,
             c->items[0].msg->offset);
    size_t n = c->nitems;
    if (settle_items(c, 0) < 0) {
        c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                           : c->backoff_ms * 2;
        c->retry_at_ms = rc_clock_mono_ms() + c->backoff_ms;
        return -1;
    }
    LOG_INFO("consumer", "resuming: %s%s handed over", first,
             n > 1 ? " and the records pending after it" : "");
    c->pending = 0;
    pause_all(c, 0);
    return 0;
}

/* Keeps m (owned) until the registry answers for schema id, pausing its
 * partition. */
static void wait_add(rc_consumer *c, rd_kafka_message_t *m, int32_t id, const char *why)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (c->nwaits == c->capwaits) {
        size_t cap = c->capwaits ? c->capwaits * 2 : 8;
        struct wait *v = realloc(c->waits, cap * sizeof *v);
        if (!v) {
            /* Nothing is lost: the offset is not stored, the record comes
             * again after the restart. */
            LOG_ERROR("consumer", "out of memory keeping %s [%d] offset %" PRId64
                      " until the schema registry answers: aborting", topic, m->partition,
                      m->offset);
            abort();
        }
        c->waits = v;
        c->capwaits = cap;
    }
    c->waits[c->nwaits++] = (struct wait){m, id};
    atomic_store(&c->nwaiting, (int)c->nwaits);
    rc_gauge_add(&rc_metrics.schema_waits, 1);
    pause_one(c->rk, topic, m->partition, 1);
    LOG_WARN("consumer",
             "pausing %s [%d] at offset %" PRId64 ": schema id %" PRId32
             " is not known here and the schema registry is unavailable (%s); the "
             "record waits and is retried, nothing is skipped",
             topic, m->partition, m->offset, id, why);
    c->wait_log_at = rc_clock_mono_ms() + WAIT_LOG_MS;
}

/* Makes one record an item, or a wait; takes ownership of m. */
static void handle(rc_consumer *c, rd_kafka_message_t *m)
{
    char why[384];
    int32_t id;
    int ti = topic_index(c, rd_kafka_topic_name(m->rkt));
    if (ti >= 0)
        rc_counter_inc(&rc_metrics.consumed[ti]);
    if (c->registry && m->payload && rc_codec_unknown_id(c->codec, m->payload, m->len, &id)) {
        int rc = rc_registry_resolve(c->registry, c->codec, id, rc_clock_mono_ms(), why,
                                     sizeof why);
        if (rc == RC_REGISTRY_UNAVAILABLE) {
            wait_add(c, m, id, why);
            return;
        }
        if (rc != RC_REGISTRY_OK) {
            item_add(c, m, why, rc == RC_REGISTRY_NOT_FOUND ? RC_M_BAD_UNKNOWN_SCHEMA
                                                            : RC_M_BAD_UNDECODABLE);
            return;
        }
    }
    item_add(c, m, NULL, RC_M_BAD_UNDECODABLE);
}

/*
 * Retries the waits, oldest first, once the registry's backoff allows:
 * each settled record is handled and its partition resumed. Stops at the
 * first the registry still cannot answer, or when a record becomes pending.
 */
static void retry_waits(rc_consumer *c)
{
    int64_t now = rc_clock_mono_ms();
    if (!c->nwaits || c->pending || now < rc_registry_retry_at(c->registry))
        return;
    while (c->nwaits && !c->pending && !atomic_load(&c->stop)) {
        char why[384], topic[256];
        const rd_kafka_message_t *w = c->waits[0].msg;
        int32_t id = c->waits[0].id;
        int rc = rc_registry_resolve(c->registry, c->codec, id, rc_clock_mono_ms(), why,
                                     sizeof why);
        if (rc == RC_REGISTRY_UNAVAILABLE) {
            if (now >= c->wait_log_at) {
                LOG_WARN("consumer",
                         "the schema registry is still unavailable (%s): %zu partition(s) "
                         "paused, the first %s [%d] at offset %" PRId64
                         " waiting for schema id %" PRId32 "; retrying",
                         why, c->nwaits, rd_kafka_topic_name(w->rkt), w->partition, w->offset,
                         id);
                c->wait_log_at = now + WAIT_LOG_MS;
            }
            return;
        }
        int32_t partition = w->partition;
        snprintf(topic, sizeof topic, "%s", rd_kafka_topic_name(w->rkt));
        LOG_INFO("consumer", "resuming %s [%d] at offset %" PRId64 ": schema id %" PRId32 " %s",
                 topic, partition, w->offset, id,
                 rc == RC_REGISTRY_OK ? "resolved through the schema registry" : why);
        item_add(c, wait_take(c, 0), rc == RC_REGISTRY_OK ? NULL : why,
                 rc == RC_REGISTRY_NOT_FOUND ? RC_M_BAD_UNKNOWN_SCHEMA : RC_M_BAD_UNDECODABLE);
        settle(c, 1);
        if (!c->pending)
            pause_one(c->rk, topic, partition, 0);
    }
}

/*
 * One event of the close queue. Events, not callbacks: the queue the close
 * forwards to also gets what was fetched meanwhile, which the callback
 * mode of rd_kafka_queue_poll_callback() cannot hand back (librdkafka
 * asserts); rd_kafka_consumer_close() itself drops such ops.
 */
static void close_event(rc_consumer *c, rd_kafka_event_t *ev)
{
    switch (rd_kafka_event_type(ev)) {
    case RD_KAFKA_EVENT_REBALANCE:
        on_rebalance(c->rk, rd_kafka_event_error(ev),
                     (rd_kafka_topic_partition_list_t *)rd_kafka_event_topic_partition_list(ev), c);
        break;
    case RD_KAFKA_EVENT_OFFSET_COMMIT:
        on_commit(c->rk, rd_kafka_event_error(ev),
                  (rd_kafka_topic_partition_list_t *)rd_kafka_event_topic_partition_list(ev), c);
        break;
    default: /* records fetched before the close, errors: not ours any more */
        break;
    }
    rd_kafka_event_destroy(ev);
}

/*
 * Closes the group within close_timeout_ms: the revoke (and librdkafka's
 * commit of the stored offsets), then LeaveGroup. Returns 0 when closed,
 * -1 when abandoned at the deadline.
 */
static int close_group(rc_consumer *c)
{
    int64_t deadline = rc_clock_mono_ms() + c->close_timeout_ms;
    c->closing = 1;
    /* Records fetched but not returned yet move to the close queue with
     * the consumer queue (close_event drops them; served as callbacks they
     * made librdkafka abort). Pausing first (synchronous) bumps the
     * partitions' fetch version: such records are then outdated and
     * dropped unserved, and nothing more is fetched. They were not stored:
     * the next owner reads them. */
    if (c->parts->cnt)
        rd_kafka_pause_partitions(c->rk, c->parts);
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, q);
    if (error) {
        /* Already closed, or a fatal error: destroying does the rest. */
        LOG_WARN("consumer", "close: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        rd_kafka_queue_destroy(q);
        return 0;
    }
    int rc = 0;
    while (!rd_kafka_consumer_closed(c->rk)) {
        int64_t left = deadline - rc_clock_mono_ms();
        if (left <= 0) {
            LOG_WARN("consumer",
                     "the group close did not finish within %d ms (the group "
                     "coordinator is unreachable or slow): abandoned; offsets "
                     "stored since the last commit are not committed, their "
                     "records will be delivered again and dropped as duplicates",
                     c->close_timeout_ms);
            atomic_store(&c->abandoned, 1);
            rc = -1;
            break;
        }
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < POLL_MS ? (int)left : POLL_MS);
        if (ev)
            close_event(c, ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

/*
 * Polls a batch into c->polled: the first poll waits up to POLL_MS (not at
 * all while events are in flight: their outcome is due), the next ones
 * take what is ready, up to max_batch records; with records pending, one
 * poll (they will be put back). The rebalance callback, which these polls
 * serve, drops the records of the partitions it revokes.
 */
static void poll_batch(rc_consumer *c)
{
    size_t want = c->pending ? 1 : c->max_batch;
    int timeout = c->ninflight ? 0 : POLL_MS;
    while (c->npolled < want && !atomic_load(&c->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout);
        if (!m)
            return;
        timeout = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                LOG_WARN("consumer", "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        c->polled[c->npolled++] = m;
    }
}

/*
 * Takes c->polled in order: a record of a partition that is held (every
 * partition while records are pending, `held`; one whose own record waits
 * for the Schema Registry) is put back, the others become items (or
 * waits). The first record put back of a partition is the position it
 * resumes from: the partition's later records in the batch are dropped,
 * they come again after it.
 */
static void take_polled(rc_consumer *c, int held)
{
    rd_kafka_topic_partition_list_t *back = NULL;
    for (size_t i = 0; i < c->npolled; i++) {
        rd_kafka_message_t *m = c->polled[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (!held && wait_find(c, topic, m->partition) < 0) {
            handle(c, m);
            continue;
        }
        /* Fetched before the pause took effect: put it back. */
        if (!back)
            back = rd_kafka_topic_partition_list_new(4);
        if (!rd_kafka_topic_partition_list_find(back, topic, m->partition)) {
            rd_kafka_topic_partition_list_add(back, topic, m->partition);
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, topic, m->partition)->offset = m->offset;
            rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, l, 1000);
            if (e)
                rd_kafka_error_destroy(e);
            rd_kafka_topic_partition_list_destroy(l);
        }
        rd_kafka_message_destroy(m);
    }
    c->npolled = 0;
    if (back)
        rd_kafka_topic_partition_list_destroy(back);
}

static void *consumer_main(void *arg)
{
    rc_consumer *c = arg;
    while (!atomic_load(&c->stop)) {
        if (c->pending && rc_clock_mono_ms() >= c->retry_at_ms)
            retry_pending(c);
        else if (c->resume_needed && !c->pending)
            pause_all(c, 0);
        retry_waits(c);
        poll_batch(c);
        int held = c->pending; /* what was polled goes back */
        take_polled(c, held);
        /* The run in flight is finished, the new items settled; the last
         * run of events stays in flight while the next batch is polled. */
        if (!held && c->nitems)
            settle(c, 1);
    }
    if (c->ninflight)
        settle(c, 0); /* its offsets are stored, the group close commits them */
    drop_pending(c, NULL);
    drop_waits(c, NULL);
    if (close_group(c) == 0)
        LOG_INFO("consumer", "left the group");
    return NULL;
}

/* 1 when the configuration property name's value contains word. */
static int conf_has(const rd_kafka_conf_t *conf, const char *name, const char *word)
{
    char v[256];
    size_t n = sizeof v;
    return rd_kafka_conf_get(conf, name, v, &n) == RD_KAFKA_CONF_OK && strstr(v, word);
}

rc_consumer *rc_consumer_new(const rc_consumer_opts *opts, const rc_catalog *cat,
                             const rc_consumer_sink *sink, void *ud, char *errstr,
                             size_t errlen)
{
    char kerr[512];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    rc_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    c->cat = cat;
    c->registry = opts->registry;
    c->sink = *sink;
    c->ud = ud;
    c->close_timeout_ms = opts->close_timeout_ms > 0 ? opts->close_timeout_ms : CLOSE_TIMEOUT_MS;
    c->max_batch = opts->max_batch > 0 && opts->max_batch < RC_CONSUMER_BATCH_MAX
                       ? (size_t)opts->max_batch
                       : RC_CONSUMER_BATCH_MAX;
    c->parts = rd_kafka_topic_partition_list_new(0);
    c->polled = calloc(c->max_batch, sizeof *c->polled);
    c->items = calloc(2 * c->max_batch, sizeof *c->items);
    c->evs = calloc(c->max_batch, sizeof *c->evs);
    if (!c->polled || !c->items || !c->evs) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (!(c->dlq_topic = strdup(opts->dlq_topic ? opts->dlq_topic : ""))) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (!(c->codec = rc_codec_new(opts->schemas_dir, errstr, errlen)))
        goto fail;
    if (!(c->topic_idx = calloc(rc_catalog_count(cat) + 1, sizeof *c->topic_idx))) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        c->topic_idx[i] = rc_metrics_topic(rc_catalog_topic(cat, i));

    if (!(conf = rc_kafka_conf_new(&opts->kafka, RC_KAFKA_GROUP, errstr, errlen)))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_opaque(conf, c);
    /* Read once here, so that the rebalance callback never asks. */
    c->cooperative = conf_has(conf, "partition.assignment.strategy", "cooperative");
    c->auto_commit = conf_has(conf, "enable.auto.commit", "true");
    c->read_committed = conf_has(conf, "isolation.level", "read_committed");
    if (!(c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr))) {
        rc_errf(errstr, errlen, "kafka consumer: %s", kerr);
        goto fail;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(c->rk);

    if (!(conf = rc_kafka_conf_new(&opts->kafka, RC_KAFKA_PRODUCER, errstr, errlen)))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_dlq_delivery);
    if (!(c->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr))) {
        rc_errf(errstr, errlen, "kafka DLQ producer: %s", kerr);
        goto fail;
    }
    conf = NULL;

    topics = rd_kafka_topic_partition_list_new((int)rc_catalog_count(cat));
    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        rd_kafka_topic_partition_list_add(topics, rc_catalog_topic(cat, i),
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, topics);
    if (err) {
        rc_errf(errstr, errlen, "kafka subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(topics);
    LOG_INFO("consumer", "consuming %zu topic(s) from %s as group %s",
             rc_catalog_count(cat), opts->kafka.brokers, opts->kafka.group_id);
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (topics)
        rd_kafka_topic_partition_list_destroy(topics);
    rc_consumer_destroy(c);
    return NULL;
}

int rc_consumer_start(rc_consumer *c)
{
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0)
        return -1;
    c->started = 1;
    return 0;
}

int rc_consumer_stop(rc_consumer *c)
{
    if (!c || c->stopped)
        return c ? c->stop_result : 0;
    c->stopped = 1;
    if (c->started) {
        atomic_store(&c->stop, 1);
        pthread_join(c->thread, NULL);
        c->started = 0;
    } else if (c->rk && close_group(c) == 0) {
        /* Never started (start-up cut short): the rebalance callback, if
         * any, runs on this thread. */
        LOG_INFO("consumer", "left the group");
    }
    c->stop_result = atomic_load(&c->abandoned) ? -1 : 0;
    return c->stop_result;
}

void rc_consumer_destroy(rc_consumer *c)
{
    if (!c)
        return;
    rc_consumer_stop(c);
    /* An abandoned close: rd_kafka_destroy() would wait for it. The handle
     * and its threads are left to the process's exit. */
    if (c->rk && !atomic_load(&c->abandoned))
        rd_kafka_destroy(c->rk);
    if (c->dlq) {
        rd_kafka_flush(c->dlq, 2000);
        rd_kafka_destroy(c->dlq);
    }
    drop_pending(c, NULL);
    drop_waits(c, NULL);
    free(c->waits);
    free(c->polled);
    free(c->items);
    free(c->evs);
    if (c->parts) {
        rd_kafka_topic_partition_list_destroy(c->parts);
        rc_metrics_partition_revoke_all();
    }
    rc_codec_destroy(c->codec);
    free(c->topic_idx);
    free(c->dlq_topic);
    free(c);
}

int rc_consumer_assigned(const rc_consumer *c)
{
    return atomic_load(&((rc_consumer *)c)->assigned);
}

int rc_consumer_joined(const rc_consumer *c)
{
    return atomic_load(&((rc_consumer *)c)->joined);
}

int rc_consumer_paused(const rc_consumer *c)
{
    return atomic_load(&((rc_consumer *)c)->paused);
}

int rc_consumer_schema_waits(const rc_consumer *c)
{
    return atomic_load(&((rc_consumer *)c)->nwaiting);
}
