/*
 * consumer_batch.c - the consumer's records in batches: polled together,
 * decoded and mapped in order into items, settled in that order.
 *
 * Implementation notes. A poll batch is what librdkafka has ready, up to
 * max_batch records and about 256 KiB of payloads: the first poll waits, the
 * others do not. The records
 * become items (consumer.c decides about the Schema Registry first), and
 * the items are settled in poll order: a run of events goes to the sink in
 * one start/finish, a bad record to the DLQ. The last run of a batch is
 * left in flight (started, not finished) while the next batch is polled
 * and decoded; its finish comes before anything of the next batch is
 * settled, so offsets are stored in record order. What the sink took of a
 * run is stored once the next run is started, in one
 * rd_kafka_offsets_store (each partition's last offset). A refusal keeps
 * the refused item and every one after it (pending), and every partition
 * is paused; they are retried in order. Records of a partition revoked
 * while in flight are marked and never stored; others of a revoked
 * partition are dropped unstored at once. While records are pending, a
 * poll takes one record and puts it back (a seek to its offset, the first
 * of its partition in the batch): the poll keeps the group membership
 * alive, and librdkafka resumes a paused partition after the last record
 * it returned.
 */
#include "consumer_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"

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
void rc_cons_drop_pending(rc_consumer *c, const rd_kafka_topic_partition_list_t *list)
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

int64_t rc_cons_held_from(const rc_consumer *c, const char *topic, int32_t partition)
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
 * Decodes and maps m into a new item, last of c->items, or makes it a DLQ
 * write: with the reason bad (an answer of the Schema Registry, counted as
 * bad_why) when not NULL. Takes ownership of m. Room for it is there: the
 * items are never more than one poll batch.
 */
void rc_cons_item_add(rc_consumer *c, rd_kafka_message_t *m, const char *bad,
                     enum rc_metrics_bad_record bad_why)
{
    char err[512];
    struct item *it = &c->items[c->nitems++];
    *it = (struct item){.msg = m, .why = RC_M_BAD_UNDECODABLE};
    if (bad) {
        rc_errf(err, sizeof err, "undecodable: %s", bad);
        it->why = bad_why;
    } else {
        it->ev = rc_cons_to_event(c, m, err, sizeof err, &it->why);
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
        /* The usual next run: every item after the one in flight, all
         * events. The sink gets it ready while the run in flight ends. */
        size_t nb = c->nitems - c->ninflight;
        if (async && c->sink.prepare && nb && nb <= c->max_batch) {
            size_t k = 0;
            while (k < nb && c->items[c->ninflight + k].ev) {
                c->evs_next[k] = c->items[c->ninflight + k].ev;
                k++;
            }
            if (k == nb)
                c->sink.prepare(c->ud, c->evs_next, nb);
        }
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
            if (rc_cons_dlq_write(c, it->msg, it->err ? it->err : "", it->why) < 0) {
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
void rc_cons_settle(rc_consumer *c, int async)
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
    rc_cons_pause_all(c, 1);
}

/* Tries the pending records once more, in order. Returns 0 when they are
 * all settled (and the partitions resumed). */
int rc_cons_retry_pending(rc_consumer *c)
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
    rc_cons_pause_all(c, 0);
    return 0;
}

/* A poll batch also stops once its payloads reach this many bytes (one
 * record may be larger): the records a batch holds, and the run left in
 * flight, are memory on top of librdkafka's prefetch queue, which refills
 * as soon as they leave it. With 16 KiB records, 512 of them would be
 * 8 MiB twice over. */
#define BATCH_BYTES_MAX (256 * 1024)

/*
 * Polls a batch into c->polled: the first poll waits up to POLL_MS (not at
 * all while events are in flight: their outcome is due), the next ones
 * take what is ready, up to max_batch records or BATCH_BYTES_MAX bytes;
 * with records pending, one poll (they will be put back). The rebalance callback, which these polls
 * serve, drops the records of the partitions it revokes.
 */
void rc_cons_poll_batch(rc_consumer *c)
{
    size_t want = c->pending ? 1 : c->max_batch, bytes = 0;
    int timeout = c->ninflight ? 0 : POLL_MS;
    while (c->npolled < want && bytes < BATCH_BYTES_MAX && !atomic_load(&c->stop)) {
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
        bytes += m->len;
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
void rc_cons_take_polled(rc_consumer *c, int held)
{
    rd_kafka_topic_partition_list_t *back = NULL;
    for (size_t i = 0; i < c->npolled; i++) {
        rd_kafka_message_t *m = c->polled[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (!held && rc_cons_wait_find(c, topic, m->partition) < 0) {
            rc_cons_handle(c, m);
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

