/*
 * test_rebuild.c - the membership table rebuilt from the membership topic:
 * changes replayed in order, other topics ignored, an empty topic is quick,
 * an unreachable broker is a clear error.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/broker.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/rebuild.h"
#include "tests/unit/check.h"

static char seen[16][64];
static int nseen;

static int on_change(void *ud, enum rc_member_op op, const char *user,
                     const char *program)
{
    (void)ud;
    if (nseen < 16)
        snprintf(seen[nseen++], 64, "%s %s %s", op == RC_MEMBER_ADD ? "+" : "-", user,
                 program);
    return 0;
}

static void produce(rd_kafka_t *p, rc_codec *c, const char *topic,
                    const char *record, const char *json)
{
    char err[256];
    rc_buf b = {0};
    CHECK_INT(rc_codec_encode_json(c, record, json, strlen(json),
                                   RC_FRAMING_SINGLE_OBJECT, &b, err, sizeof err), 0);
    /* One key: one partition, so the order is the log's. */
    CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("k", 1),
                                RD_KAFKA_V_VALUE(b.p, b.len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END), 0);
    rc_buf_free(&b);
}

#define MEMBER(id, action, user, prog)                                        \
    "{\"event_id\":\"" id "\",\"occurred_at\":1,\"performed_by\":{\"user_id\":" \
    "\"a\",\"name\":null},\"action\":\"" action "\",\"program_id\":\"" prog    \
    "\",\"user_id\":\"" user "\",\"role\":null}"

int main(void)
{
    char err[512];
    const char *dir = getenv("RC_SOURCE_DIR");
    char schemas[1024];
    snprintf(schemas, sizeof schemas, "%s/schemas", dir ? dir : ".");

    rc_catalog *cat = rc_catalog_new(schemas, NULL, err, sizeof err);
    CHECK(cat != NULL);
    rc_broker *b = rc_broker_new(cat, "roomcast.dlq", 3, err, sizeof err);
    CHECK(b != NULL);
    rc_rebuild_opts o = {.schemas_dir = schemas,
                         .kafka = {.brokers = rc_broker_bootstraps(b)},
                         .timeout_ms = 10000};

    /* Empty topic: nothing to replay. */
    nseen = 0;
    CHECK_INT(rc_rebuild_memberships(&o, cat, on_change, NULL, err, sizeof err), 0);

    rc_codec *c = rc_codec_new(schemas, err, sizeof err);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rc_broker_bootstraps(b), NULL, 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    produce(p, c, "program.memberships", "ProgramMembership", MEMBER("1", "ADDED", "u1", "p1"));
    produce(p, c, "program.memberships", "ProgramMembership", MEMBER("2", "ADDED", "u2", "p1"));
    produce(p, c, "program.memberships", "ProgramMembership", MEMBER("3", "REMOVED", "u1", "p1"));
    produce(p, c, "program.memberships", "ProgramMembership", MEMBER("4", "ADDED", "u1", "p2"));
    /* A job for u9 on another topic: not a membership. */
    produce(p, c, "jobs.events", "JobEvent",
            "{\"event_id\":\"5\",\"occurred_at\":1,\"state\":\"STARTED\",\"job_id\":\"j\","
            "\"user_id\":\"u9\",\"program_id\":\"p9\",\"progress\":null,\"message\":null}");
    /* Undecodable: skipped with a warning. */
    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("program.memberships"), RD_KAFKA_V_KEY("k", 1),
                      RD_KAFKA_V_VALUE("junk", 4), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                      RD_KAFKA_V_END);
    CHECK_INT(rd_kafka_flush(p, 10000), 0);

    nseen = 0;
    o.timeout_ms = 20000;
    CHECK_INT(rc_rebuild_memberships(&o, cat, on_change, NULL, err, sizeof err), 4);
    CHECK_INT(nseen, 4);
    CHECK_STR(seen[0], "+ u1 p1");
    CHECK_STR(seen[1], "+ u2 p1");
    CHECK_STR(seen[2], "- u1 p1");
    CHECK_STR(seen[3], "+ u1 p2");

    rd_kafka_destroy(p);
    rc_codec_destroy(c);
    rc_broker_destroy(b);

    /* Nobody listening: a clear error within the timeout. */
    o.kafka.brokers = "127.0.0.1:1";
    o.timeout_ms = 1500;
    CHECK_INT(rc_rebuild_memberships(&o, cat, on_change, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "membership rebuild") != NULL);
    printf("unreachable broker: %s\n", err);

    rc_catalog_destroy(cat);
    return CHECK_DONE();
}
