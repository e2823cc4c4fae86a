/*
 * broker.c - the embedded broker: librdkafka's mock cluster.
 *
 * Implementation notes: a mock cluster lives inside an rd_kafka_t; a bare
 * producer handle that never produces serves as its host. The cluster picks
 * free loopback ports itself. Topics are created explicitly so that the
 * consumer group sees every partition from the first metadata request.
 */
#include "broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/errstr.h"
#include "core/log.h"

struct rc_broker {
    rd_kafka_t *rk;                 /* owned; hosts the cluster */
    rd_kafka_mock_cluster_t *mcluster; /* owned */
};

static int create_topic(rc_broker *b, const char *topic, int partitions,
                        char *errstr, size_t errlen)
{
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(b->mcluster, topic, partitions, 1);
    if (err) {
        rc_errf(errstr, errlen, "embedded broker: cannot create topic %s: %s",
                 topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

rc_broker *rc_broker_new(const rc_catalog *cat, const char *dlq_topic,
                         int partitions, char *errstr, size_t errlen)
{
    char kerr[512];
    rc_broker *b = calloc(1, sizeof *b);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!b || !conf) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!b->rk) {
        rc_errf(errstr, errlen, "embedded broker: %s", kerr);
        conf = NULL; /* rd_kafka_new frees it only on success */
        goto fail;
    }
    conf = NULL;
    b->mcluster = rd_kafka_mock_cluster_new(b->rk, 1);
    if (!b->mcluster) {
        rc_errf(errstr, errlen, "embedded broker: cannot start mock cluster");
        goto fail;
    }
    if (partitions < 1)
        partitions = 1;
    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        if (create_topic(b, rc_catalog_topic(cat, i), partitions, errstr,
                         errlen) < 0)
            goto fail;
    if (dlq_topic && *dlq_topic &&
        create_topic(b, dlq_topic, partitions, errstr, errlen) < 0)
        goto fail;
    LOG_INFO("broker", "embedded Kafka broker listening on %s",
             rc_broker_bootstraps(b));
    return b;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    rc_broker_destroy(b);
    return NULL;
}

void rc_broker_destroy(rc_broker *b)
{
    if (!b)
        return;
    if (b->mcluster)
        rd_kafka_mock_cluster_destroy(b->mcluster);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b);
}

const char *rc_broker_bootstraps(const rc_broker *b)
{
    return rd_kafka_mock_cluster_bootstraps(b->mcluster);
}
