/*
 * test_consumer.c - the group consumer's lifecycle against the in-process
 * mock cluster: two members split the partitions and one takes them all
 * when the other leaves (the rebalance callback's own bookkeeping), a stop
 * with the broker up closes the group at once, a stop with the broker gone
 * gives up at the close deadline instead of waiting session.timeout.ms, and
 * the membership rebuild stops when asked while the broker is unreachable,
 * a stop with records fetched but not yet handed over drops them unstored
 * instead of aborting, and a sink that refuses in the middle of a batch
 * gets the refused event again first, nothing skipped, no offset stored
 * past it.
 */
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/broker.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/consumer.h"
#include "consumer/rebuild.h"
#include "core/clock.h"
#include "tests/unit/check.h"

/* Events the sink accepted, by the number in their id "uc-N": a record
 * may come twice (at least once), so tests count distinct ones. */
static atomic_int seen[64];
static atomic_int distinct;
static atomic_int sink_ms; /* how long the sink takes per event */

static void sleep_ms(int ms);

static size_t sink_n;

static void sink_start(void *ud, rc_event *const *evs, size_t n)
{
    (void)ud;
    for (size_t k = 0; k < n; k++) {
        if (atomic_load(&sink_ms))
            sleep_ms(atomic_load(&sink_ms));
        int i = atoi(evs[k]->id + 3);
        if (i >= 0 && i < 64 && atomic_exchange(&seen[i], 1) == 0)
            atomic_fetch_add(&distinct, 1);
    }
    sink_n = n;
}

static size_t sink_finish(void *ud)
{
    (void)ud;
    return sink_n;
}

static const rc_consumer_sink sink = {.start = sink_start, .finish = sink_finish};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to ms for *cond (an expression) to hold. */
#define WAIT_FOR(cond, ms)                                                                         \
    do {                                                                                           \
        int64_t wait_until_ = rc_clock_mono_ms() + (ms);                                           \
        while (!(cond) && rc_clock_mono_ms() < wait_until_)                                        \
            sleep_ms(50);                                                                          \
    } while (0)

static rc_kv props[] = {
    /* The mock coordinator waits session.timeout.ms - 1 s for members to
     * rejoin: short sessions, short rebalances. */
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "500"},
    {"auto.commit.interval.ms", "60000"}, /* stored offsets stay uncommitted */
};

/* A started consumer in group "unit"; max_batch 0: the default. */
static rc_consumer *consumer(const char *schemas, const char *boot, const rc_catalog *cat,
                             int max_batch)
{
    char err[512];
    rc_consumer_opts o = {.schemas_dir = schemas,
                          .dlq_topic = "roomcast.dlq",
                          .kafka = {.brokers = boot,
                                    .group_id = "unit",
                                    .props = props,
                                    .nprops = sizeof props / sizeof *props},
                          .close_timeout_ms = 1500,
                          .max_batch = max_batch};
    rc_consumer *c = rc_consumer_new(&o, cat, &sink, NULL, err, sizeof err);
    if (!c)
        fprintf(stderr, "consumer: %s\n", err);
    CHECK(c != NULL);
    CHECK_INT(rc_consumer_start(c), 0);
    return c;
}

static void produce(const char *schemas, const char *boot, int first, int count)
{
    char err[512], json[512];
    rc_codec *codec = rc_codec_new(schemas, err, sizeof err);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, NULL, 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    for (int i = first; i < first + count; i++) {
        rc_buf b = {0};
        int n = snprintf(json, sizeof json,
                         "{\"event_id\":\"uc-%d\",\"occurred_at\":1,\"performed_by\":{\"user_id\":"
                         "\"a\",\"name\":null},\"action\":\"ADDED\",\"program_id\":\"p\","
                         "\"request_id\":\"r\",\"comment_id\":\"c%d\",\"body_preview\":null}",
                         i, i);
        CHECK_INT(rc_codec_encode_json(codec, "CommentMutation", json, (size_t)n, RC_FRAMING_BARE,
                                       &b, err, sizeof err),
                  0);
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("comments.mutations"),
                                    RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(b.p, b.len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  0);
        rc_buf_free(&b);
    }
    CHECK_INT(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
    rc_codec_destroy(codec);
}

/* ---- a sink that refuses: events "ur-N" of one partition ---- */

static int taken[128];       /* the N of each event the sink took, in order */
static atomic_int ntaken;
static atomic_int refuse_at = -1; /* refuse event N when it comes... */
static atomic_int refusals;       /* ...this many times (-1: always) */
static size_t refusing_took;

static void refusing_start(void *ud, rc_event *const *evs, size_t n)
{
    (void)ud;
    size_t k = 0;
    for (; k < n; k++) {
        int i = atoi(evs[k]->id + 3);
        if (i == atomic_load(&refuse_at) && atomic_load(&refusals) != 0) {
            if (atomic_load(&refusals) > 0)
                atomic_fetch_sub(&refusals, 1);
            break;
        }
        int at = atomic_load(&ntaken);
        if (at < 128)
            taken[at] = i;
        atomic_store(&ntaken, at + 1);
    }
    refusing_took = k;
}

static size_t refusing_finish(void *ud)
{
    (void)ud;
    return refusing_took;
}

static const rc_consumer_sink refusing = {.start = refusing_start, .finish = refusing_finish};

static rc_consumer *refusing_consumer(const char *schemas, const char *boot, const rc_catalog *cat)
{
    char err[512];
    rc_consumer_opts o = {.schemas_dir = schemas,
                          .dlq_topic = "roomcast.dlq",
                          .kafka = {.brokers = boot,
                                    .group_id = "unit-refusing",
                                    .props = props,
                                    .nprops = sizeof props / sizeof *props},
                          .close_timeout_ms = 1500};
    rc_consumer *c = rc_consumer_new(&o, cat, &refusing, NULL, err, sizeof err);
    if (!c)
        fprintf(stderr, "consumer: %s\n", err);
    CHECK(c != NULL);
    CHECK_INT(rc_consumer_start(c), 0);
    return c;
}

/* count records "ur-<first>".. with one key: one partition, in order. */
static void produce_one_key(const char *schemas, const char *boot, int first, int count)
{
    char err[512], json[512];
    rc_codec *codec = rc_codec_new(schemas, err, sizeof err);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, NULL, 0);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    for (int i = first; i < first + count; i++) {
        rc_buf b = {0};
        int n = snprintf(json, sizeof json,
                         "{\"event_id\":\"ur-%d\",\"occurred_at\":1,\"performed_by\":{\"user_id\":"
                         "\"a\",\"name\":null},\"action\":\"ADDED\",\"program_id\":\"p\","
                         "\"request_id\":\"r\",\"comment_id\":\"c%d\",\"body_preview\":null}",
                         i, i);
        CHECK_INT(rc_codec_encode_json(codec, "CommentMutation", json, (size_t)n, RC_FRAMING_BARE,
                                       &b, err, sizeof err),
                  0);
        CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC("comments.mutations"),
                                    RD_KAFKA_V_KEY("one", 3), RD_KAFKA_V_VALUE(b.p, b.len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  0);
        rc_buf_free(&b);
    }
    CHECK_INT(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
    rc_codec_destroy(codec);
}

/* 1 when taken[from..to) is first, first + 1, ... */
static int taken_in_order(int from, int to, int first)
{
    for (int i = from; i < to; i++)
        if (i >= 128 || taken[i] != first + (i - from))
            return 0;
    return 1;
}

/*
 * A sink that refuses an event in the middle of a batch: the events before
 * it were taken and are not handed over again, the refused one comes
 * again first, then the rest, in order, nothing skipped. A consumer
 * stopped while its sink refuses stores no offset past the refused event:
 * the group's next member starts there.
 */
static void test_refusals(const char *schemas, const rc_catalog *cat)
{
    char err[512];
    rc_broker *b = rc_broker_new(cat, "roomcast.dlq", 3, err, sizeof err);
    CHECK(b != NULL);
    const char *boot = rc_broker_bootstraps(b);
    produce_one_key(schemas, boot, 0, 40);
    atomic_store(&refuse_at, 25);
    atomic_store(&refusals, 2);
    rc_consumer *c = refusing_consumer(schemas, boot, cat);
    WAIT_FOR(atomic_load(&ntaken) >= 40, 20000);
    CHECK_INT(atomic_load(&ntaken), 40);
    CHECK(taken_in_order(0, 40, 0));
    CHECK_INT(atomic_load(&refusals), 0);
    CHECK_INT(rc_consumer_paused(c), 0);

    /* Refused for good from ur-45 on: the consumer pauses and retries. */
    atomic_store(&refuse_at, 45);
    atomic_store(&refusals, -1);
    produce_one_key(schemas, boot, 40, 10);
    WAIT_FOR(atomic_load(&ntaken) >= 45 && rc_consumer_paused(c), 20000);
    CHECK_INT(rc_consumer_paused(c), 1);
    sleep_ms(300);
    CHECK_INT(atomic_load(&ntaken), 45);
    CHECK(taken_in_order(40, 45, 40));
    CHECK_INT(rc_consumer_stop(c), 0);
    rc_consumer_destroy(c);

    /* The next member of the group starts at the refused record. */
    atomic_store(&refusals, 0);
    c = refusing_consumer(schemas, boot, cat);
    WAIT_FOR(atomic_load(&ntaken) >= 50, 20000);
    CHECK_INT(atomic_load(&ntaken), 50);
    CHECK(taken_in_order(45, 50, 45));
    CHECK_INT(rc_consumer_stop(c), 0);
    rc_consumer_destroy(c);
    rc_broker_destroy(b);
}

static int stop_timed(rc_consumer *c, int64_t *ms)
{
    int64_t t0 = rc_clock_mono_ms();
    int rc = rc_consumer_stop(c);
    *ms = rc_clock_mono_ms() - t0;
    return rc;
}

static int on_change(void *ud, enum rc_member_op op, const char *user, const char *program)
{
    (void)ud, (void)op, (void)user, (void)program;
    return 0;
}

int main(void)
{
    char err[512], r[256];
    const char *dir = getenv("RC_SOURCE_DIR");
    char schemas[1024];
    snprintf(schemas, sizeof schemas, "%s/schemas", dir ? dir : ".");
    int64_t ms;

    rc_catalog *cat = rc_catalog_new(schemas, NULL, err, sizeof err);
    CHECK(cat != NULL);
    rc_broker *b = rc_broker_new(cat, "roomcast.dlq", 3, err, sizeof err);
    CHECK(b != NULL);
    const char *boot = rc_broker_bootstraps(b);
    const int all = (int)rc_catalog_count(cat) * 3;

    /* Two members split the partitions; when one leaves, the other gets
     * them all, and both count what the rebalance callback gave them. */
    rc_consumer *c1 = consumer(schemas, boot, cat, 0);
    WAIT_FOR(rc_consumer_assigned(c1) == all, 20000);
    CHECK_INT(rc_consumer_assigned(c1), all);
    rc_consumer *c2 = consumer(schemas, boot, cat, 0);
    WAIT_FOR(rc_consumer_assigned(c2) > 0 &&
                 rc_consumer_assigned(c1) + rc_consumer_assigned(c2) == all,
             20000);
    CHECK(rc_consumer_assigned(c2) > 0 && rc_consumer_assigned(c1) > 0);
    CHECK_INT(rc_consumer_assigned(c1) + rc_consumer_assigned(c2), all);
    produce(schemas, boot, 0, 20);
    WAIT_FOR(atomic_load(&distinct) == 20, 10000);
    CHECK_INT(atomic_load(&distinct), 20);

    /* The broker is up: the close commits, leaves, and is quick. */
    CHECK_INT(stop_timed(c2, &ms), 0);
    printf("stop with the broker up: %lld ms\n", (long long)ms);
    CHECK(ms < 1500);
    CHECK_INT(rc_consumer_stop(c2), 0); /* idempotent */
    rc_consumer_destroy(c2);
    WAIT_FOR(rc_consumer_assigned(c1) == all, 20000);
    CHECK_INT(rc_consumer_assigned(c1), all);
    CHECK_INT(rc_consumer_paused(c1), 0);

    /* Records consumed, offsets stored and not committed, then the broker
     * goes away: the close gives up at its deadline (1.5 s), where
     * librdkafka alone would wait session.timeout.ms (6 s). */
    produce(schemas, boot, 20, 10);
    WAIT_FOR(atomic_load(&distinct) == 30, 10000);
    CHECK_INT(atomic_load(&distinct), 30);
    CHECK_INT(rc_broker_control(b, "down 1", r, sizeof r), 0);
    sleep_ms(300);
    CHECK_INT(stop_timed(c1, &ms), -1);
    printf("stop with the broker gone: %lld ms\n", (long long)ms);
    CHECK(ms >= 1400 && ms < 3000);
    CHECK_INT(rc_consumer_stop(c1), -1);
    rc_consumer_destroy(c1); /* leaves librdkafka's handle to the exit */

    /* The rebuild, with nobody answering, stops when asked. */
    atomic_int stop = 0;
    rc_rebuild_opts ro = {
        .schemas_dir = schemas, .kafka = {.brokers = boot}, .timeout_ms = 30000, .stop = &stop};
    atomic_store(&stop, 1);
    int64_t t0 = rc_clock_mono_ms();
    CHECK_INT(rc_rebuild_memberships(&ro, cat, on_change, NULL, err, sizeof err), -1);
    ms = rc_clock_mono_ms() - t0;
    printf("rebuild stopped: %s after %lld ms\n", err, (long long)ms);
    CHECK(strstr(err, "stopped") != NULL);
    CHECK(ms < 2000);

    rc_broker_destroy(b);

    /* Stopped while records are fetched and not yet handed over (a slow
     * sink): they are dropped unstored, for the partition's next owner.
     * The close queue hands them back too: served with callbacks,
     * librdkafka 2.0.2 aborts there (rd_kafka_q_serve: res !=
     * RD_KAFKA_OP_RES_PASS); the consumer serves it as events. One record
     * per batch, so that the slow sink leaves records in librdkafka's
     * queue rather than in the consumer's batch. */
    rc_broker *b2 = rc_broker_new(cat, "roomcast.dlq", 3, err, sizeof err);
    CHECK(b2 != NULL);
    atomic_store(&sink_ms, 50);
    rc_consumer *c3 = consumer(schemas, rc_broker_bootstraps(b2), cat, 1);
    produce(schemas, rc_broker_bootstraps(b2), 30, 34);
    WAIT_FOR(atomic_load(&distinct) >= 33, 20000);
    CHECK(atomic_load(&distinct) >= 33);
    CHECK_INT(stop_timed(c3, &ms), 0);
    printf("stop with records queued: %lld ms, %d of 34 handed over\n", (long long)ms,
           atomic_load(&distinct) - 30);
    CHECK(atomic_load(&distinct) < 64); /* some were still queued */
    rc_consumer_destroy(c3);
    rc_broker_destroy(b2);

    test_refusals(schemas, cat);
    rc_catalog_destroy(cat);
    return CHECK_DONE();
}
