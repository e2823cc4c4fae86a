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
 * Batches (consumer_batch.c): the thread polls what librdkafka has ready,
 * up to max_batch records, decodes and maps them in poll order into
 * `items`, and settles the items in that order: a run of events goes to
 * the sink in one start/finish (the history appends them in few round
 * trips; the last run stays in flight while the next batch is polled), a
 * bad record to the DLQ. Each item's offset is stored once it is settled,
 * so the order of stores per partition is the order of its records. A
 * rebalance served by one of those polls drops the records polled so far
 * from the partitions it revoked, unstored (in flight: never stored).
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
#include "consumer_private.h"

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

#define DLQ_TIMEOUT_MS 10000
#define CLOSE_TIMEOUT_MS 5000
#define WAIT_LOG_MS 5000 /* a warning this often while records wait for the registry */

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
long rc_cons_wait_find(const rc_consumer *c, const char *topic, int32_t partition)
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
        if (rc_cons_wait_find(c, list->elems[i].topic, list->elems[i].partition) < 0)
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
void rc_cons_pause_all(rc_consumer *c, int pause)
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
        rc_cons_drop_pending(c, parts);
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
        rc_cons_drop_pending(c, NULL);
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
        int64_t pos = from[i] ? stat_int(p, from[i]) : rc_cons_held_from(c, tp->topic, tp->partition);
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
int rc_cons_dlq_write(rc_consumer *c, const rd_kafka_message_t *m, const char *reason,
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
rc_event *rc_cons_to_event(rc_consumer *c, const rd_kafka_message_t *m, char *err, size_t errlen,
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
void rc_cons_handle(rc_consumer *c, rd_kafka_message_t *m)
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
            rc_cons_item_add(c, m, why, rc == RC_REGISTRY_NOT_FOUND ? RC_M_BAD_UNKNOWN_SCHEMA
                                                            : RC_M_BAD_UNDECODABLE);
            return;
        }
    }
    rc_cons_item_add(c, m, NULL, RC_M_BAD_UNDECODABLE);
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
        rc_cons_item_add(c, wait_take(c, 0), rc == RC_REGISTRY_OK ? NULL : why,
                 rc == RC_REGISTRY_NOT_FOUND ? RC_M_BAD_UNKNOWN_SCHEMA : RC_M_BAD_UNDECODABLE);
        rc_cons_settle(c, 1);
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

static void *consumer_main(void *arg)
{
    rc_consumer *c = arg;
    while (!atomic_load(&c->stop)) {
        if (c->pending && rc_clock_mono_ms() >= c->retry_at_ms)
            rc_cons_retry_pending(c);
        else if (c->resume_needed && !c->pending)
            rc_cons_pause_all(c, 0);
        retry_waits(c);
        rc_cons_poll_batch(c);
        int held = c->pending; /* what was polled goes back */
        rc_cons_take_polled(c, held);
        /* The run in flight is finished, the new items settled; the last
         * run of events stays in flight while the next batch is polled. */
        if (!held && c->nitems)
            rc_cons_settle(c, 1);
    }
    if (c->ninflight)
        rc_cons_settle(c, 0); /* its offsets are stored, the group close commits them */
    rc_cons_drop_pending(c, NULL);
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
    c->evs_next = calloc(c->max_batch, sizeof *c->evs_next);
    if (!c->polled || !c->items || !c->evs || !c->evs_next) {
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
    rc_cons_drop_pending(c, NULL);
    drop_waits(c, NULL);
    free(c->waits);
    free(c->polled);
    free(c->items);
    free(c->evs);
    free(c->evs_next);
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
