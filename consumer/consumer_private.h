/*
 * consumer_private.h - what consumer.c and consumer_batch.c share (private
 * to consumer/consumer*.c and unit tests; users include consumer.h).
 *
 *   consumer.c        the group consumer: configuration, rebalances,
 *                     offsets' statistics, the DLQ, the Schema Registry's
 *                     waits, the thread's loop, close
 *   consumer_batch.c  records in batches: polling, decoding and mapping
 *                     into items, settling them in order with the sink
 *                     (one run in flight) and the DLQ, pending records
 *
 * Everything here runs on the consumer thread (or the stopping thread
 * once it has been joined), but the atomics of struct rc_consumer.
 */
#ifndef RC_CONSUMER_PRIVATE_H
#define RC_CONSUMER_PRIVATE_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/metrics.h"
#include "codec.h"
#include "consumer.h"

#define POLL_MS 100
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

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
    rc_event **evs_next;             /* owned, max_batch: the next run, to prepare */
    int backoff_ms;
    int64_t retry_at_ms;
    struct wait *waits;   /* owned, in arrival order: one per partition at most */
    size_t nwaits, capwaits;
    int64_t wait_log_at;  /* next "still waiting" warning */
};

/* ---- consumer.c ---- */

/* Pauses (or resumes) every assigned partition, outside the rebalance
 * callback; resuming leaves the partitions that wait for the Schema
 * Registry paused. */
void rc_cons_pause_all(rc_consumer *c, int pause);
/* The wait of topic [partition], or -1. */
long rc_cons_wait_find(const rc_consumer *c, const char *topic, int32_t partition);
/* Makes one record (owned) an item (rc_cons_item_add), or a wait. */
void rc_cons_handle(rc_consumer *c, rd_kafka_message_t *m);
/* Decodes and maps m: the event, or NULL with err and *why set. */
rc_event *rc_cons_to_event(rc_consumer *c, const rd_kafka_message_t *m, char *err,
                           size_t errlen, enum rc_metrics_bad_record *why);
/* Produces m to the DLQ topic and waits for the broker's answer: 0, or -1. */
int rc_cons_dlq_write(rc_consumer *c, const rd_kafka_message_t *m, const char *reason,
                      enum rc_metrics_bad_record why);

/* ---- consumer_batch.c ---- */

/* Polls what librdkafka has ready into c->polled (see the file). */
void rc_cons_poll_batch(rc_consumer *c);
/* Makes c->polled items, or puts them back while held (records pending). */
void rc_cons_take_polled(rc_consumer *c, int held);
/* Decodes and maps m (owned) into a new item, or a DLQ write with the
 * reason bad (counted as bad_why) when not NULL. */
void rc_cons_item_add(rc_consumer *c, rd_kafka_message_t *m, const char *bad,
                      enum rc_metrics_bad_record bad_why);
/* Settles c->items in order, the last run of events left in flight with
 * async; a refusal makes what is left pending (every partition paused). */
void rc_cons_settle(rc_consumer *c, int async);
/* Tries the pending records again, in order: 0 when all are settled. */
int rc_cons_retry_pending(rc_consumer *c);
/* Drops, unstored, what is held of the partitions in list (NULL: all). */
void rc_cons_drop_pending(rc_consumer *c, const rd_kafka_topic_partition_list_t *list);
/* The offset of the first record of topic [partition] held unsettled, or -1. */
int64_t rc_cons_held_from(const rc_consumer *c, const char *topic, int32_t partition);

#endif
