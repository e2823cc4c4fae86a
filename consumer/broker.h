/*
 * broker.h - the embedded Kafka-protocol broker.
 *
 * When no brokers are configured, roomcast runs librdkafka's mock cluster
 * in-process, with every catalog topic and the DLQ topic created, so that the
 * service, kcat, kafkajs and roomcast-produce can all talk to it over its
 * bootstrap address. It keeps data in memory only.
 */
#ifndef RC_BROKER_H
#define RC_BROKER_H

#include <stddef.h>

#include "catalog.h"

typedef struct rc_broker rc_broker;

/* cat borrowed; NULL with errstr set on failure. */
rc_broker *rc_broker_new(const rc_catalog *cat, const char *dlq_topic,
                         int partitions, char *errstr, size_t errlen);
void rc_broker_destroy(rc_broker *b);

/* "127.0.0.1:PORT[,...]", owned by the broker. */
const char *rc_broker_bootstraps(const rc_broker *b);

#endif
