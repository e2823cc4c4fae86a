/*
 * test_broker.c - the embedded broker's fault-injection commands: each
 * command is parsed and applied to the mock cluster, bad ones are refused
 * with a reason, and a broker set down really refuses clients until up.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/broker.h"
#include "tests/unit/check.h"

static int ctl(rc_broker *b, const char *cmd, char *reply, size_t len)
{
    int rc = rc_broker_control(b, cmd, reply, len);
    printf("%-45.60s -> %d %s\n", cmd, rc, reply);
    return rc;
}

/* Metadata from the cluster within ms: 0, or the error. */
static rd_kafka_resp_err_t metadata(const char *bootstrap, int ms)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, ms);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return e;
}

int main(void)
{
    char err[512], r[512];
    const char *dir = getenv("RC_SOURCE_DIR");
    char schemas[1024];
    snprintf(schemas, sizeof schemas, "%s/schemas", dir ? dir : ".");

    rc_catalog *cat = rc_catalog_new(schemas, NULL, err, sizeof err);
    CHECK(cat != NULL);
    rc_broker_opts o = {.partitions = 2, .brokers = 3, .dlq_topic = "roomcast.dlq"};
    rc_broker *b = rc_broker_new_opts(cat, &o, err, sizeof err);
    CHECK(b != NULL);
    /* Three brokers, three bootstrap addresses. */
    const char *boot = rc_broker_bootstraps(b);
    CHECK(strchr(boot, ',') && strchr(strchr(boot, ',') + 1, ','));

    CHECK_INT(ctl(b, "help", r, sizeof r), 0);
    CHECK(strstr(r, "coordinator GROUP BROKER") != NULL);
    CHECK_INT(ctl(b, "errors Fetch NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT", r, sizeof r), 0);
    CHECK_INT(ctl(b, "errors offsetcommit 16 _TRANSPORT", r, sizeof r), 0);
    CHECK_INT(ctl(b, "errors 0 NOT_ENOUGH_REPLICAS", r, sizeof r), 0);
    CHECK_INT(ctl(b, "clear-errors Fetch", r, sizeof r), 0);
    CHECK_INT(ctl(b, "clear-errors OffsetCommit", r, sizeof r), 0);
    CHECK_INT(ctl(b, "clear-errors Produce", r, sizeof r), 0);
    CHECK_INT(ctl(b, "coordinator roomcast 2", r, sizeof r), 0);
    CHECK_INT(ctl(b, "leader requests.mutations 1 3", r, sizeof r), 0);
    CHECK_INT(ctl(b, "  rtt 1 0  ", r, sizeof r), 0);

    /* Refused, with the reason. */
    CHECK_INT(ctl(b, "", r, sizeof r), -1);
    CHECK_INT(ctl(b, "down 4", r, sizeof r), -1);
    CHECK(strstr(r, "no broker 4 (1..3)") != NULL);
    CHECK_INT(ctl(b, "down 0", r, sizeof r), -1);
    CHECK_INT(ctl(b, "down -1", r, sizeof r), -1);
    CHECK_INT(ctl(b, "down 1x", r, sizeof r), -1);
    CHECK_INT(ctl(b, "down", r, sizeof r), -1);
    CHECK_INT(ctl(b, "errors Fetch", r, sizeof r), -1);
    CHECK_INT(ctl(b, "errors Gossip NOT_COORDINATOR", r, sizeof r), -1);
    CHECK(strstr(r, "unknown API Gossip") != NULL);
    CHECK_INT(ctl(b, "errors Fetch NO_SUCH_ERROR", r, sizeof r), -1);
    CHECK(strstr(r, "unknown error NO_SUCH_ERROR") != NULL);
    CHECK_INT(ctl(b, "leader requests.mutations x 1", r, sizeof r), -1);
    CHECK_INT(ctl(b, "rtt 1 -5", r, sizeof r), -1);
    CHECK_INT(ctl(b, "reboot", r, sizeof r), -1);
    CHECK(strstr(r, "cannot parse") != NULL);
    char longcmd[2000];
    memset(longcmd, 'a', sizeof longcmd - 1);
    longcmd[sizeof longcmd - 1] = 0;
    CHECK_INT(ctl(b, longcmd, r, sizeof r), -1);

    /* Every broker down: nobody answers; one up again: metadata comes. */
    CHECK_INT(metadata(boot, 5000), 0);
    CHECK_INT(ctl(b, "down 1", r, sizeof r), 0);
    CHECK_INT(ctl(b, "down 2", r, sizeof r), 0);
    CHECK_INT(ctl(b, "down 3", r, sizeof r), 0);
    CHECK(metadata(boot, 1500) != 0);
    CHECK_INT(ctl(b, "up 2", r, sizeof r), 0);
    CHECK_INT(metadata(boot, 5000), 0);

    rc_broker_destroy(b);
    rc_catalog_destroy(cat);
    return CHECK_DONE();
}
