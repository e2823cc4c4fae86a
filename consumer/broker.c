/*
 * broker.c - the embedded broker: librdkafka's mock cluster.
 *
 * Implementation notes: a mock cluster lives inside an rd_kafka_t; a bare
 * producer handle that never produces serves as its host. The cluster picks
 * free loopback ports itself. Topics are created explicitly so that the
 * consumer group sees every partition from the first metadata request.
 *
 * Control commands map one to one onto rdkafka_mock.h; each call posts to
 * the mock cluster's thread and waits for it, so any thread may call.
 * Protocol API keys are Kafka's (librdkafka does not install its protocol
 * header); error names are matched against rd_kafka_get_err_descs().
 */
#include "broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/errstr.h"
#include "core/log.h"

struct rc_broker {
    rd_kafka_t *rk;                 /* owned; hosts the cluster */
    rd_kafka_mock_cluster_t *mcluster; /* owned */
    int brokers;
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
    rc_broker_opts o = {.partitions = partitions, .brokers = 1, .dlq_topic = dlq_topic};
    return rc_broker_new_opts(cat, &o, errstr, errlen);
}

rc_broker *rc_broker_new_opts(const rc_catalog *cat, const rc_broker_opts *opts, char *errstr,
                              size_t errlen)
{
    const char *dlq_topic = opts->dlq_topic;
    int partitions = opts->partitions;
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
    b->brokers = opts->brokers < 1 ? 1 : opts->brokers;
    b->mcluster = rd_kafka_mock_cluster_new(b->rk, b->brokers);
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

/* ---- fault injection ---- */

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersion", 18},
    {"InitProducerId", 22},
};

/* A non-negative decimal number below limit, or -1. */
static long number(const char *s, long limit)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    return *end || errno || v >= limit ? -1 : v;
}

static int api_key(const char *s)
{
    for (size_t i = 0; i < sizeof apis / sizeof *apis; i++)
        if (!strcasecmp(s, apis[i].name))
            return apis[i].key;
    return (int)number(s, 100);
}

/* An error by name (NOT_COORDINATOR, or _TRANSPORT for local ones) or
 * number; 0 when unknown. */
static rd_kafka_resp_err_t error_code(const char *s)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end)
        return (rd_kafka_resp_err_t)v;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && !strcasecmp(descs[i].name, s))
            return descs[i].code;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static int broker_id(const rc_broker *b, const char *s)
{
    long id = number(s, 1000000);
    return id >= 1 && id <= b->brokers ? (int)id : -1;
}

#define CONTROL_HELP                                                                               \
    "commands: down BROKER | up BROKER | errors API ERR [ERR...] | clear-errors API "              \
    "| coordinator GROUP BROKER | leader TOPIC PARTITION BROKER | rtt BROKER MS | help"

int rc_broker_control(rc_broker *b, const char *line, char *reply, size_t replylen)
{
    char buf[1024], *w[40], *save = NULL;
    int n = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (strlen(line) >= sizeof buf)
        return rc_errf(reply, replylen, "command too long");
    strcpy(buf, line);
    for (char *t = strtok_r(buf, " \t\r\n", &save); t && n < 40;
         t = strtok_r(NULL, " \t\r\n", &save))
        w[n++] = t;
    if (n == 0)
        return rc_errf(reply, replylen, "empty command; " CONTROL_HELP);
    const char *cmd = w[0];

    if (!strcmp(cmd, "help")) {
        snprintf(reply, replylen, "%s", CONTROL_HELP);
        return 0;
    }
    if ((!strcmp(cmd, "down") || !strcmp(cmd, "up")) && n == 2) {
        int id = broker_id(b, w[1]);
        if (id < 0)
            return rc_errf(reply, replylen, "no broker %s (1..%d)", w[1], b->brokers);
        err = cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(b->mcluster, id)
                            : rd_kafka_mock_broker_set_up(b->mcluster, id);
    } else if (!strcmp(cmd, "errors") && n >= 3) {
        rd_kafka_resp_err_t errs[38];
        int key = api_key(w[1]);
        if (key < 0)
            return rc_errf(reply, replylen, "unknown API %s", w[1]);
        for (int i = 2; i < n; i++)
            if (!(errs[i - 2] = error_code(w[i])))
                return rc_errf(reply, replylen, "unknown error %s", w[i]);
        rd_kafka_mock_push_request_errors_array(b->mcluster, (int16_t)key, (size_t)(n - 2), errs);
    } else if (!strcmp(cmd, "clear-errors") && n == 2) {
        int key = api_key(w[1]);
        if (key < 0)
            return rc_errf(reply, replylen, "unknown API %s", w[1]);
        rd_kafka_mock_clear_request_errors(b->mcluster, (int16_t)key);
    } else if (!strcmp(cmd, "coordinator") && n == 3) {
        int id = broker_id(b, w[2]);
        if (id < 0)
            return rc_errf(reply, replylen, "no broker %s (1..%d)", w[2], b->brokers);
        err = rd_kafka_mock_coordinator_set(b->mcluster, "group", w[1], id);
    } else if (!strcmp(cmd, "leader") && n == 4) {
        long part = number(w[2], 100000);
        int id = broker_id(b, w[3]);
        if (part < 0 || id < 0)
            return rc_errf(reply, replylen, "leader TOPIC PARTITION BROKER (1..%d)", b->brokers);
        err = rd_kafka_mock_partition_set_leader(b->mcluster, w[1], (int32_t)part, id);
    } else if (!strcmp(cmd, "rtt") && n == 3) {
        int id = broker_id(b, w[1]);
        long ms = number(w[2], 600000);
        if (id < 0 || ms < 0)
            return rc_errf(reply, replylen, "rtt BROKER (1..%d) MS", b->brokers);
        err = rd_kafka_mock_broker_set_rtt(b->mcluster, id, (int)ms);
    } else {
        return rc_errf(reply, replylen, "cannot parse \"%s\"; " CONTROL_HELP, line);
    }
    if (err)
        return rc_errf(reply, replylen, "%s: %s", cmd, rd_kafka_err2str(err));
    snprintf(reply, replylen, "%s", cmd);
    LOG_INFO("broker", "control: %s", line);
    return 0;
}
