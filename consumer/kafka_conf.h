/*
 * kafka_conf.h - every librdkafka client configuration, built in one place.
 *
 * The group consumer, the DLQ producer, the membership reader, the demo
 * producer and roomcast-produce all get their rd_kafka_conf_t here:
 * bootstrap servers and client id, roomcast's defaults for the client's
 * role, then the operator's pass-through properties (kafka.* keys, -X) that
 * apply to that role, and, unless the client keeps librdkafka's own logger,
 * librdkafka's logs and errors routed to roomcast's log.
 */
#ifndef RC_KAFKA_CONF_H
#define RC_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "core/kv.h"

#define RC_KAFKA_LOCAL_FETCH_WAIT_MS "5"
#define RC_KAFKA_LOCAL_SESSION_MS "6000"
#define RC_KAFKA_LOCAL_HEARTBEAT_MS "500"
/* How often the group consumer's statistics (partition lag) refresh. */
#define RC_KAFKA_STATS_INTERVAL_MS "5000"

enum rc_kafka_role {
    RC_KAFKA_GROUP,    /* the group consumer: manual offset store, auto
                          commit, earliest offset, range/roundrobin,
                          statistics every 5 s */
    RC_KAFKA_PRODUCER, /* the DLQ producer: idempotent, 8 s delivery timeout */
    RC_KAFKA_READER,   /* assigned partitions only: no group, no commits,
                          partition EOF events */
    RC_KAFKA_BULK,     /* producers of many records (the demo,
                          roomcast-produce): batches for 5 ms */
};

typedef struct rc_kafka_opts {
    /* bootstrap.servers, "host:port[,...]" (borrowed; required) */
    const char *brokers;
    /* client.id (borrowed); NULL: "roomcast" */
    const char *client_id;
    /* group.id of RC_KAFKA_GROUP (borrowed); the other roles ignore it */
    const char *group_id;
    /*
     * librdkafka properties set after the role's defaults, in order, so
     * they override them (borrowed array). A producer skips the ones only
     * consumers know (group, offset, session, fetch settings), the reader
     * the group and offset ones.
     */
    const rc_kv *props;
    size_t nprops;
    /* 1: keep librdkafka's own stderr logger (command-line tools);
     * 0: its logs and errors go to roomcast's log */
    int native_log;
    /* 1: the brokers are librdkafka's mock cluster (the embedded broker),
     * which answers a waiting fetch only when fetch.wait.max.ms expires:
     * consumers wait RC_KAFKA_LOCAL_FETCH_WAIT_MS at most, and a group
     * member's session times out after RC_KAFKA_LOCAL_SESSION_MS so that
     * a node that leaves hands its partitions on promptly. props still
     * override both. */
    int local_broker;
} rc_kafka_opts;

/*
 * A new configuration (transferred to the caller, who hands it to
 * rd_kafka_new or destroys it) for a client of the given role. NULL with
 * errstr set ("kafka property P: why") when librdkafka refuses a property.
 */
rd_kafka_conf_t *rc_kafka_conf_new(const rc_kafka_opts *opts,
                                   enum rc_kafka_role role, char *errstr,
                                   size_t errlen);

#endif
