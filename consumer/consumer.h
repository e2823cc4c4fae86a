/*
 * consumer.h - the Kafka consumer: records in, typed events out.
 *
 * A librdkafka high-level consumer in the options' group, subscribed to every
 * topic of the catalog, on a thread of its own. Each record is decoded
 * (codec.h), mapped (catalog.h) and handed to the sink, with the records
 * one poll finds ready, in order; its offset is stored only once the sink
 * accepted its event (at-least-once), and committed by librdkafka's
 * auto-commit, on partition revoke and on close.
 *
 * Stopping is bounded: the group close (final commit, LeaveGroup) is given
 * opts->close_timeout_ms. A close that cannot finish in time (the group
 * coordinator is unreachable) is abandoned: nothing is lost, the records
 * handed over since the last commit are delivered again to the partition's
 * next owner and the history drops them as duplicates (by eventId).
 *
 * A record that cannot be decoded or mapped is logged with topic, partition,
 * offset and reason, counted, written to the DLQ topic with its error and
 * source coordinates in headers, and its offset stored: it never blocks the
 * partition and is never silently dropped.
 *
 * It counts what it sees in core/metrics: records by topic, bad records by
 * reason, and each assigned partition's lag from librdkafka's statistics.
 *
 * When the sink refuses an event (history unreachable) the consumer pauses
 * its partitions, keeps that event and the records after it in its batch,
 * retries them in order with backoff and resumes when the sink accepted
 * them: nothing is skipped, nothing is buffered without bound (one batch).
 *
 * With a Schema Registry (opts->registry), a Confluent-framed record whose
 * schema id the codec does not know is resolved through it first
 * (registry.h). An id the registry does not have, or a schema it cannot
 * read, sends the record to the DLQ with that reason; a registry that does
 * not answer pauses the record's partition alone, keeps the record and
 * retries (the registry's backoff) until it answers: other partitions go
 * on, and the partition resumes in order.
 */
#ifndef RC_CONSUMER_H
#define RC_CONSUMER_H

#include <librdkafka/rdkafka.h>

#include "core/event.h"
#include "catalog.h"
#include "kafka_conf.h"
#include "registry.h"

typedef struct rc_consumer rc_consumer;

/*
 * Where events go, in two steps so that the consumer decodes its next
 * records while the sink works; both are called on the consumer thread,
 * a finish after each start before the next start.
 *
 * start: starts handing over evs[0..n) (1 <= n <= max_batch; the array and
 * the events are borrowed until the finish): the events of consecutive
 * records, in poll order. It may do all the work at once.
 *
 * finish: waits for the hand-over started last and returns how many of
 * its events, from the first on, were durably handed over (appended to
 * history, or found duplicates): n, or fewer when evs[k] (k the value
 * returned) could not be, in which case evs[k..n) are retried later, in
 * order, from evs[k]. Nothing after a refused event may have been handed
 * over.
 */
typedef struct rc_consumer_sink {
    void (*start)(void *ud, rc_event *const *evs, size_t n);
    size_t (*finish)(void *ud);
    /* Optional (NULL: none): called between a start and its finish with
     * the events the next start will likely have (the array is borrowed
     * for the call only), so that the sink gets them ready meanwhile. It
     * hands nothing over. */
    void (*prepare)(void *ud, rc_event *const *evs, size_t n);
} rc_consumer_sink;

/* Records handed over in one batch at most (rc_consumer_opts.max_batch). */
#define RC_CONSUMER_BATCH_MAX 512

typedef struct rc_consumer_opts {
    /* the schemas directory the consumer's codec loads (borrowed; read by
     * rc_consumer_new only) */
    const char *schemas_dir;
    /* the topic undecodable and unmappable records are written to (copied) */
    const char *dlq_topic;
    /* brokers, group id and pass-through properties of the group consumer
     * and of the DLQ producer (borrowed; read by rc_consumer_new only) */
    rc_kafka_opts kafka;
    /* how long rc_consumer_stop waits for the group close before it gives
     * up on it, in ms; 0: 5000 */
    int close_timeout_ms;
    /* the Schema Registry for schema ids the local id map lacks, or NULL
     * (borrowed; must outlive the consumer; used on the consumer thread
     * only once started) */
    rc_registry *registry;
    /* records taken from one poll batch at most (what librdkafka has
     * ready; the sink gets their events in one call, or a few around bad
     * records); 0 or more than RC_CONSUMER_BATCH_MAX: that */
    int max_batch;
} rc_consumer_opts;

/*
 * A consumer of every topic of cat (borrowed; must outlive the consumer)
 * handing events to sink, not started yet. NULL with errstr set when the
 * schemas cannot be loaded or librdkafka refuses the configuration.
 */
rc_consumer *rc_consumer_new(const rc_consumer_opts *opts, const rc_catalog *cat,
                             const rc_consumer_sink *sink, void *ud, char *errstr,
                             size_t errlen);

/* Starts the consumer thread. Returns 0 or -1. */
int rc_consumer_start(rc_consumer *c);

/*
 * Stops consuming, waits for the record in flight, closes the group (the
 * stored offsets are committed and the member leaves) and joins the thread,
 * all within about opts->close_timeout_ms. Returns 0 when the group was
 * closed, -1 when the close was abandoned at the deadline (logged; the
 * offsets stored since the last commit were not committed). Idempotent: a
 * later call returns the first call's result.
 */
int rc_consumer_stop(rc_consumer *c);
/*
 * Stops (as above) and frees. After an abandoned close, librdkafka's handle
 * is left to the process's exit instead of being destroyed: destroying it
 * would wait for the close it could not finish.
 */
void rc_consumer_destroy(rc_consumer *c);

/* Partitions currently assigned to this member (any thread). */
int rc_consumer_assigned(const rc_consumer *c);

/* 1 once the group gave this member its first assignment, even an empty
 * one (more members than partitions): it is in the group (any thread). */
int rc_consumer_joined(const rc_consumer *c);

/* 1 while paused because the sink refused an event (any thread). */
int rc_consumer_paused(const rc_consumer *c);

/* Partitions paused waiting for the Schema Registry (any thread). */
int rc_consumer_schema_waits(const rc_consumer *c);

#endif
