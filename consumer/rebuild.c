/*
 * rebuild.c - replaying the membership changelog at start.
 *
 * Implementation notes: a consumer with assigned partitions only (never
 * subscribed, so it joins no group and commits nothing) starts every
 * partition of the membership topics at its low watermark and reads until
 * the high watermark observed at start; records produced meanwhile are left
 * to the group consumer, which will deliver them as live events. Empty
 * partitions are not assigned at all.
 *
 * Every wait on librdkafka (metadata, watermarks, poll) is cut into slices
 * of at most SLICE_MS and retried until the deadline, so that a stop request
 * is seen promptly even while the brokers are unreachable. The same holds
 * for a record that waits for the Schema Registry: it is retried (as the
 * registry's backoff allows) until the deadline, in slices.
 */
#include "rebuild.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/errstr.h"
#include "core/log.h"
#include "codec.h"
#include "kafka_conf.h"

#define SLICE_MS 250
#define WAIT_LOG_MS 5000 /* between two log lines while the brokers do not answer */

struct part {
    const char *topic; /* borrowed from the catalog */
    int32_t partition;
    int64_t high;      /* read up to high - 1 */
    int done;
};


static int remaining(int64_t deadline)
{
    int64_t left = deadline - rc_clock_mono_ms();
    return left > 0 ? (int)left : 0;
}

/* The next wait: what is left, at most a slice. */
static int slice(int64_t deadline)
{
    int left = remaining(deadline);
    return left < SLICE_MS ? left : SLICE_MS;
}

static int stopping(const atomic_int *stop)
{
    return stop && atomic_load(stop);
}

/*
 * Makes the Confluent schema id of m known to codec through the registry,
 * waiting while it is unavailable. Returns 0 (known, or not Confluent), 1
 * when the record is to be skipped (reason in why), -1 at the deadline or
 * on a stop (errstr set).
 */
static int await_schema(const rc_rebuild_opts *o, rc_codec *codec, const rd_kafka_message_t *m,
                        int64_t deadline, char *why, size_t whylen, char *errstr,
                        size_t errlen)
{
    int32_t id;
    int64_t warn_at = 0;
    if (!o->registry || !m->payload || !rc_codec_unknown_id(codec, m->payload, m->len, &id))
        return 0;
    for (;;) {
        int64_t now = rc_clock_mono_ms();
        int rc = rc_registry_resolve(o->registry, codec, id, now, why, whylen);
        if (rc == RC_REGISTRY_OK)
            return 0;
        if (rc != RC_REGISTRY_UNAVAILABLE)
            return 1;
        if (now >= warn_at) {
            LOG_WARN("rebuild", "offset %" PRId64 " of %s [%d] waits for schema id %" PRId32
                     ": the schema registry is unavailable (%s); retrying",
                     m->offset, rd_kafka_topic_name(m->rkt), m->partition, id, why);
            warn_at = now + 5000;
        }
        if (stopping(o->stop))
            return rc_errf(errstr, errlen, "membership rebuild: stopped");
        if (remaining(deadline) == 0)
            return rc_errf(errstr, errlen, "membership rebuild: timed out waiting for the "
                                           "schema registry (%s)", why);
        int64_t wait = rc_registry_retry_at(o->registry) - rc_clock_mono_ms();
        int ms = slice(deadline);
        if (wait < ms)
            ms = wait > 0 ? (int)wait : 0;
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Errors that mean "not yet": the broker is unreachable or slow. */
static int retriable(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
           err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
}

/* Appends every non-empty partition of topic to parts/list. */
static int add_topic(rd_kafka_t *rk, const char *topic, int64_t deadline, const atomic_int *stop,
                     struct part **parts, size_t *nparts, rd_kafka_topic_partition_list_t *list,
                     char *errstr, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err;
    int64_t next_log = rc_clock_mono_ms() + WAIT_LOG_MS;
    while (retriable(err = rd_kafka_metadata(rk, 0, rkt, &md, slice(deadline))) &&
           remaining(deadline) && !stopping(stop)) {
        if (rc_clock_mono_ms() >= next_log) {
            LOG_WARN("rebuild", "waiting for Kafka to describe %s: %s; retrying", topic,
                     rd_kafka_err2str(err));
            next_log = rc_clock_mono_ms() + WAIT_LOG_MS;
        }
    }
    rd_kafka_topic_destroy(rkt);
    if (stopping(stop)) {
        if (md)
            rd_kafka_metadata_destroy(md);
        return rc_errf(errstr, errlen, "membership rebuild: stopped");
    }
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        rc_errf(errstr, errlen, "membership rebuild: no metadata for %s: %s", topic,
                rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < md->topics[0].partition_cnt && rc == 0; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        while (retriable(err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                                slice(deadline))) &&
               remaining(deadline) && !stopping(stop))
            ;
        if (stopping(stop)) {
            rc = rc_errf(errstr, errlen, "membership rebuild: stopped");
            break;
        }
        if (err) {
            rc = rc_errf(errstr, errlen, "membership rebuild: watermarks of %s [%d]: %s",
                         topic, p, rd_kafka_err2str(err));
            break;
        }
        if (hi <= lo)
            continue;
        struct part *np = realloc(*parts, (*nparts + 1) * sizeof *np);
        if (!np) {
            rc = rc_errf(errstr, errlen, "out of memory");
            break;
        }
        *parts = np;
        np[*nparts] = (struct part){topic, p, hi, 0};
        (*nparts)++;
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = lo;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

long rc_rebuild_memberships(const rc_rebuild_opts *opts, const rc_catalog *cat,
                            rc_rebuild_cb cb, void *ud, char *errstr,
                            size_t errlen)
{
    int timeout_ms = opts->timeout_ms;
    char kerr[512], why[384];
    int64_t deadline = rc_clock_mono_ms() + timeout_ms;
    long changes = -1, records = 0;
    struct part *parts = NULL;
    size_t nparts = 0, pending;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
    rc_codec *codec = rc_codec_new(opts->schemas_dir, errstr, errlen);
    rd_kafka_conf_t *conf =
        codec ? rc_kafka_conf_new(&opts->kafka, RC_KAFKA_READER, errstr, errlen) : NULL;
    if (!conf)
        goto done;
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr))) {
        rd_kafka_conf_destroy(conf);
        rc_errf(errstr, errlen, "membership rebuild: %s", kerr);
        goto done;
    }
    rd_kafka_poll_set_consumer(rk);

    for (size_t i = 0; i < rc_catalog_count(cat); i++)
        if (rc_catalog_has_membership(cat, i) &&
            add_topic(rk, rc_catalog_topic(cat, i), deadline, opts->stop, &parts, &nparts, list,
                      errstr, errlen) < 0)
            goto done;
    changes = 0;
    if (nparts == 0)
        goto done;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list);
    if (err) {
        changes = rc_errf(errstr, errlen, "membership rebuild: assign: %s",
                          rd_kafka_err2str(err));
        goto done;
    }

    for (pending = nparts; pending > 0;) {
        if (stopping(opts->stop)) {
            changes = rc_errf(errstr, errlen, "membership rebuild: stopped");
            goto done;
        }
        if (remaining(deadline) == 0) {
            changes = rc_errf(errstr, errlen,
                              "membership rebuild: timed out after %d ms with %zu "
                              "partition(s) unread", timeout_ms, pending);
            goto done;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        int at_end = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (m->err && !at_end) {
            LOG_WARN("rebuild", "%s", rd_kafka_message_errstr(m));
        } else if (!m->err) {
            records++;
            const char *record = rc_catalog_record_for_topic(cat, topic);
            avro_value_t *value;
            rc_event *ev = NULL;
            int skip = record ? await_schema(opts, codec, m, deadline, why, sizeof why, errstr,
                                             errlen)
                              : 0;
            if (skip < 0) {
                rd_kafka_message_destroy(m);
                changes = -1;
                goto done;
            }
            if (!record || skip ||
                rc_codec_decode(codec, record, m->payload, m->len, &value, NULL, why,
                                sizeof why) < 0 ||
                rc_catalog_map(cat, record, value, &ev, why, sizeof why) < 0) {
                LOG_WARN("rebuild", "skipping %s [%d] offset %" PRId64 ": %s", topic,
                         m->partition, m->offset, record ? why : "no catalog record");
            } else if (ev->member_op != RC_MEMBER_NONE) {
                if (cb(ud, ev->member_op, ev->member_user, ev->member_program) != 0) {
                    rc_event_unref(ev);
                    rd_kafka_message_destroy(m);
                    changes = rc_errf(errstr, errlen, "membership rebuild: stopped");
                    goto done;
                }
                changes++;
            }
            rc_event_unref(ev);
        }
        for (size_t i = 0; i < nparts; i++) {
            struct part *p = &parts[i];
            if (!p->done && p->partition == m->partition && !strcmp(p->topic, topic) &&
                (at_end || m->offset + 1 >= p->high)) {
                p->done = 1;
                pending--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    LOG_INFO("rebuild", "membership rebuilt from %zu partition(s): %ld record(s), "
                        "%ld change(s)", nparts, records, changes);
done:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    rd_kafka_topic_partition_list_destroy(list);
    free(parts);
    rc_codec_destroy(codec);
    return changes;
}
