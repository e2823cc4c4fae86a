/*
 * test_kafka_conf.c - the one librdkafka configuration builder: each
 * role's defaults, the operator's properties overriding them and skipped
 * where a role does not know them, and the prompt settings for the
 * embedded (mock cluster) broker.
 */
#include <string.h>

#include "consumer/kafka_conf.h"
#include "tests/unit/check.h"

static const char *get(rd_kafka_conf_t *c, const char *k, char *buf, size_t cap)
{
    size_t n = cap;
    if (rd_kafka_conf_get(c, k, buf, &n) != RD_KAFKA_CONF_OK)
        return "?";
    return buf;
}

static void test_roles(void)
{
    char err[256], b[256];
    rc_kafka_opts o = {.brokers = "127.0.0.1:1", .group_id = "g"};
    rd_kafka_conf_t *c = rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "group.id", b, sizeof b), "g");
    CHECK_STR(get(c, "enable.auto.offset.store", b, sizeof b), "false");
    CHECK_STR(get(c, "bootstrap.servers", b, sizeof b), "127.0.0.1:1");
    /* librdkafka's own defaults stay for a real cluster */
    CHECK_STR(get(c, "fetch.wait.max.ms", b, sizeof b), "500");
    rd_kafka_conf_destroy(c);

    rc_kv props[] = {{"fetch.wait.max.ms", "42"}, {"acks", "1"}};
    o.props = props;
    o.nprops = 2;
    c = rc_kafka_conf_new(&o, RC_KAFKA_PRODUCER, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "enable.idempotence", b, sizeof b), "true");
    rd_kafka_conf_destroy(c);

    rc_kv bad[] = {{"no.such.property", "1"}};
    o.props = bad;
    o.nprops = 1;
    CHECK(rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err) == NULL);
    CHECK(strstr(err, "no.such.property") != NULL);
}

static void test_local_broker(void)
{
    char err[256], b[256];
    rc_kafka_opts o = {.brokers = "127.0.0.1:1", .group_id = "g", .local_broker = 1};
    rd_kafka_conf_t *c = rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "fetch.wait.max.ms", b, sizeof b), RC_KAFKA_LOCAL_FETCH_WAIT_MS);
    CHECK_STR(get(c, "session.timeout.ms", b, sizeof b), RC_KAFKA_LOCAL_SESSION_MS);
    CHECK_STR(get(c, "heartbeat.interval.ms", b, sizeof b), RC_KAFKA_LOCAL_HEARTBEAT_MS);
    rd_kafka_conf_destroy(c);

    c = rc_kafka_conf_new(&o, RC_KAFKA_READER, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "fetch.wait.max.ms", b, sizeof b), RC_KAFKA_LOCAL_FETCH_WAIT_MS);
    rd_kafka_conf_destroy(c);

    /* what the operator set wins */
    rc_kv props[] = {{"fetch.wait.max.ms", "100"}, {"session.timeout.ms", "30000"}};
    o.props = props;
    o.nprops = 2;
    c = rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "fetch.wait.max.ms", b, sizeof b), "100");
    CHECK_STR(get(c, "session.timeout.ms", b, sizeof b), "30000");
    CHECK_STR(get(c, "heartbeat.interval.ms", b, sizeof b), RC_KAFKA_LOCAL_HEARTBEAT_MS);
    rd_kafka_conf_destroy(c);
}

int main(void)
{
    test_roles();
    test_local_broker();
    return CHECK_DONE();
}
