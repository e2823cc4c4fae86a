/*
 * test_kafka_conf.c - the Kafka client configurations: each role's defaults,
 * bootstrap servers and client id, pass-through properties overriding
 * defaults, the properties each role skips, refused properties, and which
 * logger is set.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "consumer/kafka_conf.h"

/* The value of property k in conf, "" when unset or unknown. */
static const char *get(rd_kafka_conf_t *conf, const char *k)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    size_t len = 512;
    if (rd_kafka_conf_get(conf, k, b, &len) != RD_KAFKA_CONF_OK)
        b[0] = '\0';
    return b;
}

static void test_roles(void)
{
    char err[256] = "";
    rc_kafka_opts o = {.brokers = "k1:9092,k2:9092", .group_id = "g1"};

    rd_kafka_conf_t *c = rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "bootstrap.servers"), "k1:9092,k2:9092");
    CHECK_STR(get(c, "client.id"), "roomcast");
    CHECK_STR(get(c, "group.id"), "g1");
    CHECK_STR(get(c, "enable.auto.offset.store"), "false");
    CHECK_STR(get(c, "enable.auto.commit"), "true");
    CHECK_STR(get(c, "auto.offset.reset"), "smallest"); /* librdkafka's name for earliest */
    CHECK_STR(get(c, "partition.assignment.strategy"), "range,roundrobin");
    rd_kafka_conf_destroy(c);

    c = rc_kafka_conf_new(&o, RC_KAFKA_READER, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "group.id"), "roomcast-reader"); /* never the group's */
    CHECK_STR(get(c, "enable.auto.commit"), "false");
    CHECK_STR(get(c, "enable.auto.offset.store"), "false");
    CHECK_STR(get(c, "enable.partition.eof"), "true");
    rd_kafka_conf_destroy(c);

    c = rc_kafka_conf_new(&o, RC_KAFKA_PRODUCER, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "enable.idempotence"), "true");
    CHECK_STR(get(c, "message.timeout.ms"), "8000");
    CHECK(strcmp(get(c, "group.id"), "g1") != 0);
    rd_kafka_conf_destroy(c);

    o.client_id = "roomcast-demo";
    c = rc_kafka_conf_new(&o, RC_KAFKA_BULK, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "client.id"), "roomcast-demo");
    CHECK_STR(get(c, "linger.ms"), "5");
    CHECK_STR(get(c, "enable.idempotence"), "false");
    rd_kafka_conf_destroy(c);
}

static void test_props(void)
{
    char err[256] = "";
    rc_kv props[] = {
        {"security.protocol", "plaintext"}, {"auto.offset.reset", "latest"},
        {"session.timeout.ms", "7000"},     {"fetch.wait.max.ms", "50"},
        {"isolation.level", "read_uncommitted"}, {"message.timeout.ms", "9000"},
        {"bootstrap.servers", "other:1"}, {"enable.auto.commit", "true"},
    };
    rc_kafka_opts o = {.brokers = "k:1", .group_id = "g", .props = props,
                       .nprops = sizeof props / sizeof *props};

    /* the group consumer takes everything, after its defaults */
    rd_kafka_conf_t *c = rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "security.protocol"), "plaintext");
    CHECK_STR(get(c, "auto.offset.reset"), "largest"); /* latest */
    CHECK_STR(get(c, "session.timeout.ms"), "7000");
    CHECK_STR(get(c, "bootstrap.servers"), "other:1");
    rd_kafka_conf_destroy(c);

    /* the reader: fetch and isolation settings, not the group's offsets */
    c = rc_kafka_conf_new(&o, RC_KAFKA_READER, err, sizeof err);
    CHECK(c != NULL);
    CHECK_STR(get(c, "fetch.wait.max.ms"), "50");
    CHECK_STR(get(c, "isolation.level"), "read_uncommitted");
    CHECK_STR(get(c, "enable.auto.commit"), "false");
    CHECK(strcmp(get(c, "session.timeout.ms"), "7000") != 0);
    CHECK_STR(get(c, "security.protocol"), "plaintext");
    rd_kafka_conf_destroy(c);

    /* producers: no consumer setting at all; their own defaults overridden */
    for (int r = RC_KAFKA_PRODUCER; r <= RC_KAFKA_BULK; r += RC_KAFKA_BULK - RC_KAFKA_PRODUCER) {
        c = rc_kafka_conf_new(&o, (enum rc_kafka_role)r, err, sizeof err);
        CHECK(c != NULL);
        CHECK(strcmp(get(c, "fetch.wait.max.ms"), "50") != 0);
        CHECK(strcmp(get(c, "session.timeout.ms"), "7000") != 0);
        CHECK(strcmp(get(c, "isolation.level"), "read_uncommitted") != 0);
        CHECK_STR(get(c, "message.timeout.ms"), "9000");
        CHECK_STR(get(c, "security.protocol"), "plaintext");
        rd_kafka_conf_destroy(c);
    }

    /* a property librdkafka refuses */
    rc_kv bad[] = {{"no.such.property", "1"}};
    o.props = bad;
    o.nprops = 1;
    CHECK(rc_kafka_conf_new(&o, RC_KAFKA_GROUP, err, sizeof err) == NULL);
    CHECK(strstr(err, "kafka property no.such.property") != NULL);
    rc_kv badval[] = {{"linger.ms", "soon"}};
    o.props = badval;
    CHECK(rc_kafka_conf_new(&o, RC_KAFKA_BULK, err, sizeof err) == NULL);
    CHECK(strstr(err, "kafka property linger.ms") != NULL);
}

static void test_logger(void)
{
    char err[256] = "";
    rc_kafka_opts o = {.brokers = "k:1"};
    rd_kafka_conf_t *mine = rc_kafka_conf_new(&o, RC_KAFKA_PRODUCER, err, sizeof err);
    o.native_log = 1;
    rd_kafka_conf_t *native = rc_kafka_conf_new(&o, RC_KAFKA_PRODUCER, err, sizeof err);
    rd_kafka_conf_t *plain = rd_kafka_conf_new();
    CHECK(mine && native && plain);
    /* librdkafka shows callbacks as addresses */
    CHECK(strcmp(get(mine, "log_cb"), get(plain, "log_cb")) != 0);
    CHECK(strcmp(get(mine, "error_cb"), get(plain, "error_cb")) != 0);
    CHECK_STR(get(native, "log_cb"), get(plain, "log_cb"));
    CHECK_STR(get(native, "error_cb"), get(plain, "error_cb"));
    rd_kafka_conf_destroy(mine);
    rd_kafka_conf_destroy(native);
    rd_kafka_conf_destroy(plain);
}

int main(void)
{
    test_roles();
    test_props();
    test_logger();
    return CHECK_DONE();
}
