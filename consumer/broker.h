/*
 * broker.h - the embedded Kafka-protocol broker.
 *
 * When no brokers are configured, roomcast runs librdkafka's mock cluster
 * in-process, with every catalog topic and the DLQ topic created, so that the
 * service, kcat, kafkajs and roomcast-produce can all talk to it over its
 * bootstrap address. It keeps data in memory only.
 *
 * The mock cluster also injects faults: rc_broker_control() takes one
 * command line (brokers down and up, errors for the next requests of an
 * API, a new group coordinator or partition leader, a round-trip delay);
 * roomcast-broker reads them on its stdin. Any thread.
 */
#ifndef RC_BROKER_H
#define RC_BROKER_H

#include <stddef.h>

#include "catalog.h"

typedef struct rc_broker rc_broker;

typedef struct rc_broker_opts {
    int partitions;        /* per topic; < 1: 1 */
    int brokers;           /* in the cluster, ids 1..N; < 1: 1 */
    const char *dlq_topic; /* also created, when not NULL or empty (borrowed) */
} rc_broker_opts;

/* cat borrowed; NULL with errstr set on failure. */
rc_broker *rc_broker_new_opts(const rc_catalog *cat, const rc_broker_opts *opts, char *errstr,
                              size_t errlen);
/* One broker: rc_broker_new_opts() with {partitions, 1, dlq_topic}. */
rc_broker *rc_broker_new(const rc_catalog *cat, const char *dlq_topic,
                         int partitions, char *errstr, size_t errlen);
void rc_broker_destroy(rc_broker *b);

/* "127.0.0.1:PORT[,...]", owned by the broker. */
const char *rc_broker_bootstraps(const rc_broker *b);

/*
 * Runs one fault-injection command (words separated by blanks):
 *
 *   down BROKER              the broker closes its connections and refuses
 *   up BROKER                  new ones / serves again (leaders stay put)
 *   errors API ERR [ERR...]  the next requests of API (name or number:
 *                            Produce, Fetch, OffsetCommit, Heartbeat...) on
 *                            any broker fail with these errors, one each
 *                            (name as rd_kafka_err2name, or number)
 *   clear-errors API         forgets the errors not yet used
 *   coordinator GROUP BROKER GROUP's coordinator moves to BROKER
 *   leader TOPIC PART BROKER the partition's leader moves to BROKER
 *   rtt BROKER MS            BROKER answers MS ms late (0: at once)
 *   help                     lists the commands
 *
 * Returns 0 and a short confirmation in reply, or -1 and the reason.
 */
int rc_broker_control(rc_broker *b, const char *line, char *reply, size_t replylen);

#endif
