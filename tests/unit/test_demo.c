/*
 * test_demo.c - the demo producer against librdkafka's mock cluster: what it
 * writes must decode, map to events, start with the memberships, cover the
 * event families and all three framings, and stop promptly.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer/catalog.h"
#include "consumer/codec.h"
#include "consumer/demo.h"
#include "core/clock.h"
#include "tests/unit/check.h"

#define PARTITIONS 2
#define MAXREC 4096

static const char *schemas_dir(void)
{
    static char buf[1024];
    const char *src = getenv("RC_SOURCE_DIR");
    if (src && *src) {
        snprintf(buf, sizeof buf, "%s/schemas", src);
        return buf;
    }
    return RC_DEFAULT_SCHEMAS_DIR;
}

static double now_s(void)
{
    return (double)rc_clock_mono_ms() / 1000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What the consumer saw. */
struct seen {
    size_t n, bad_decode, bad_map;
    size_t framings[4];
    size_t requests, comments, attachments, members, jobs;
    char *ids[MAXREC];
    /* memberships in order of occurrence */
    struct {
        int64_t ms;
        char user[16], program[16];
        int add;
    } mem[256];
    size_t nmem;
    int64_t first_other_ms;
    /* jobs: per job id, the last event seen */
    struct {
        char id[16];
        char last[24];
        int started_first;
        int after_end;
    } job[256];
    size_t njob;
    size_t bad_uuid;
};

static int is_uuid_v4(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void note_job(struct seen *s, const rc_event *ev)
{
    /* payload has "jobId":"jN" in data */
    const char *p = strstr(ev->payload, "\"jobId\":\"");
    if (!p)
        return;
    p += 9;
    char id[16];
    size_t n = strcspn(p, "\"");
    if (n >= sizeof id)
        return;
    memcpy(id, p, n);
    id[n] = '\0';
    size_t i;
    for (i = 0; i < s->njob; i++)
        if (strcmp(s->job[i].id, id) == 0)
            break;
    if (i == s->njob) {
        if (s->njob == 256)
            return;
        s->njob++;
        snprintf(s->job[i].id, sizeof s->job[i].id, "%s", id);
        s->job[i].started_first = strcmp(ev->name, "job:started") == 0;
    } else if (strcmp(s->job[i].last, "job:completed") == 0 ||
               strcmp(s->job[i].last, "job:failed") == 0) {
        s->job[i].after_end = 1;
    }
    snprintf(s->job[i].last, sizeof s->job[i].last, "%s", ev->name);
}

static void note_event(struct seen *s, const rc_event *ev)
{
    if (s->n < MAXREC)
        s->ids[s->n] = strdup(ev->id);
    if (!is_uuid_v4(ev->id))
        s->bad_uuid++;
    if (strncmp(ev->name, "request:", 8) == 0)
        s->requests++;
    else if (strncmp(ev->name, "comment:", 8) == 0)
        s->comments++;
    else if (strncmp(ev->name, "attachment:", 11) == 0)
        s->attachments++;
    else if (strncmp(ev->name, "job:", 4) == 0) {
        s->jobs++;
        note_job(s, ev);
    }
    if (ev->member_op != RC_MEMBER_NONE) {
        s->members++;
        if (s->nmem < 256) {
            size_t k = s->nmem++;
            /* insertion by occurrence time */
            while (k > 0 && s->mem[k - 1].ms > ev->occurred_ms) {
                s->mem[k] = s->mem[k - 1];
                k--;
            }
            s->mem[k].ms = ev->occurred_ms;
            snprintf(s->mem[k].user, sizeof s->mem[k].user, "%s",
                     ev->member_user);
            snprintf(s->mem[k].program, sizeof s->mem[k].program, "%s",
                     ev->member_program);
            s->mem[k].add = ev->member_op == RC_MEMBER_ADD;
        }
    } else if (s->first_other_ms == 0 || ev->occurred_ms < s->first_other_ms) {
        s->first_other_ms = ev->occurred_ms;
    }
}

static int has_initial(const struct seen *s, const char *user,
                       const char *program)
{
    for (size_t i = 0; i < 4 && i < s->nmem; i++)
        if (s->mem[i].add && strcmp(s->mem[i].user, user) == 0 &&
            strcmp(s->mem[i].program, program) == 0)
            return 1;
    return 0;
}

/* Reads every topic of the catalog from the beginning until idle. */
static void consume_all(const char *bootstraps, const rc_catalog *cat,
                        rc_codec *codec, struct seen *s)
{
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "test-demo", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    CHECK(rk != NULL);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        for (int p = 0; p < PARTITIONS; p++)
            rd_kafka_topic_partition_list_add(parts, rc_catalog_topic(cat, i), p)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
    CHECK_INT(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    double deadline = now_s() + 20, idle_since = now_s();
    while (now_s() < deadline && now_s() - idle_since < 2.0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        idle_since = now_s();
        const char *topic = rd_kafka_topic_name(m->rkt);
        const char *record = rc_catalog_record_for_topic(cat, topic);
        avro_value_t *val = NULL;
        enum rc_framing fr = RC_FRAMING_AUTO;
        char err[256];
        rc_event *ev = NULL;
        if (!record ||
            rc_codec_decode(codec, record, m->payload, m->len, &val, &fr, err,
                            sizeof err) != 0) {
            s->bad_decode++;
            fprintf(stderr, "decode %s: %s\n", topic, record ? err : "?");
        } else if (rc_catalog_map(cat, record, val, &ev, err, sizeof err) != 0) {
            s->bad_map++;
            fprintf(stderr, "map %s: %s\n", topic, err);
        } else {
            if ((int)fr >= 0 && fr < 4)
                s->framings[fr]++;
            note_event(s, ev);
            rc_event_unref(ev);
        }
        s->n++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void test_stream(void)
{
    char err[512];
    const char *dir = schemas_dir();
    rd_kafka_conf_t *hc = rd_kafka_conf_new();
    rd_kafka_conf_set(hc, "log_level", "3", NULL, 0);
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, hc, err, sizeof err);
    CHECK(host != NULL);
    if (!host)
        return;
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(host, 1);
    CHECK(mc != NULL);
    rc_catalog *cat = rc_catalog_new(dir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    rc_codec *codec = rc_codec_new(dir, err, sizeof err);
    CHECK(codec != NULL);
    if (!mc || !cat || !codec) {
        fprintf(stderr, "setup: %s\n", err);
        goto out;
    }
    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        CHECK_INT(rd_kafka_mock_topic_create(mc, rc_catalog_topic(cat, i),
                                             PARTITIONS, 1),
                  0);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);

    rc_demo *demo = rc_demo_new(boot, cat, dir, 15, err, sizeof err);
    CHECK(demo != NULL);
    if (!demo) {
        fprintf(stderr, "demo: %s\n", err);
        goto out;
    }
    sleep_ms(2500);
    rc_demo_destroy(demo); /* flushes */

    struct seen *s = calloc(1, sizeof *s);
    consume_all(boot, cat, codec, s);
    printf("demo: %zu records: %zu requests, %zu comments, %zu attachments, "
           "%zu memberships, %zu jobs (%zu jobs); framings bare %zu, "
           "single-object %zu, confluent %zu\n",
           s->n, s->requests, s->comments, s->attachments, s->members, s->jobs,
           s->njob, s->framings[RC_FRAMING_BARE],
           s->framings[RC_FRAMING_SINGLE_OBJECT],
           s->framings[RC_FRAMING_CONFLUENT]);

    /* ~160 records at 15 ms; ask for a safe fraction of that. */
    CHECK(s->n >= 40);
    CHECK_INT(s->bad_decode, 0);
    CHECK_INT(s->bad_map, 0);
    CHECK_INT(s->bad_uuid, 0);

    /* Every framing is exercised, in roughly equal share. */
    for (int f = RC_FRAMING_BARE; f <= RC_FRAMING_CONFLUENT; f++)
        CHECK(s->framings[f] * 5 >= s->n);

    /* Several families, including the rarer ones. */
    CHECK(s->requests > 0);
    CHECK(s->comments > 0);
    CHECK(s->attachments > 0);
    CHECK(s->jobs > 0);
    CHECK(s->members >= 4);

    /* The four starting memberships come before anything else. */
    CHECK(s->nmem >= 4);
    CHECK(has_initial(s, "alice", "p1"));
    CHECK(has_initial(s, "alice", "p2"));
    CHECK(has_initial(s, "bob", "p2"));
    CHECK(has_initial(s, "carol", "p3"));
    CHECK(s->nmem >= 4 && s->mem[3].ms <= s->first_other_ms);

    /* Jobs are keyed by user, so each job's story arrives in order. */
    int jobs_ok = 1;
    for (size_t i = 0; i < s->njob; i++)
        if (!s->job[i].started_first || s->job[i].after_end)
            jobs_ok = 0;
    CHECK(jobs_ok);

    /* Event ids are unique. */
    size_t n = s->n < MAXREC ? s->n : MAXREC, dup = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (s->ids[i] && s->ids[j] && strcmp(s->ids[i], s->ids[j]) == 0)
                dup++;
    CHECK_INT(dup, 0);
    for (size_t i = 0; i < n; i++)
        free(s->ids[i]);
    free(s);

    /* A long interval does not delay shutdown. */
    demo = rc_demo_new(boot, cat, dir, 60000, err, sizeof err);
    CHECK(demo != NULL);
    if (demo) {
        sleep_ms(200);
        double t0 = now_s();
        rc_demo_destroy(demo);
        double took = now_s() - t0;
        printf("demo: destroy with a 60 s interval took %.3f s\n", took);
        CHECK(took < 5.0);
    }

out:
    rc_codec_destroy(codec);
    rc_catalog_destroy(cat);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(host);
}

static void test_bad_setup(void)
{
    char err[512] = "";
    const char *dir = schemas_dir();
    rc_catalog *cat = rc_catalog_new(dir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat)
        return;
    err[0] = '\0';
    rc_demo *d = rc_demo_new("127.0.0.1:9", cat, "/nonexistent/schemas", 100,
                             err, sizeof err);
    CHECK(d == NULL);
    CHECK(err[0] != '\0');
    rc_demo_destroy(NULL);
    rc_catalog_destroy(cat);
}

int main(void)
{
    test_bad_setup();
    test_stream();
    return CHECK_DONE();
}
