/*
 * metrics.c - roomcast's families: the table, the registries of label
 * values, and their rendering.
 *
 * Implementation notes. The event names and topics are append-only arrays
 * of strings published with a release store of their count: a reader
 * (rc_metrics_event on any thread, a scrape) loads the count with acquire
 * and only reads entries below it, so lookups take no lock; registration
 * takes reg_mu so that two registrations cannot race. Event names are set
 * once at start-up, before any lookup; replacing them (tests) frees the
 * old names, so it must not race with lookups either. The partition table
 * changes on rebalances and statistics reports (the consumer thread) and
 * is read by scrapes (the loop): both under part_mu, neither on a hot
 * path.
 */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procstat.h"

#ifndef RC_VERSION
#define RC_VERSION "unknown"
#endif

rc_metrics_table rc_metrics;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static char *events[RC_METRICS_MAX_EVENTS]; /* owned */
static atomic_size_t nevents;

static char *topics[RC_METRICS_MAX_TOPICS]; /* owned, never freed */
static atomic_size_t ntopics;

static struct {
    char *name, *value; /* owned, never freed */
} build[RC_METRICS_MAX_BUILD_LABELS];
static size_t nbuild; /* under reg_mu */

struct part {
    char *topic; /* owned */
    int32_t partition;
    int known; /* a statistics report gave lag and fetch state */
    int64_t lag;
    int fetching;
};
static pthread_mutex_t part_mu = PTHREAD_MUTEX_INITIALIZER;
static struct part *parts; /* owned array, under part_mu */
static size_t nparts, parts_cap;

/* ---- label values ---- */

int rc_metrics_set_events(const char *const *names, size_t n)
{
    if (n > RC_METRICS_MAX_EVENTS)
        return -1;
    pthread_mutex_lock(&reg_mu);
    size_t old = atomic_load(&nevents);
    atomic_store(&nevents, 0);
    for (size_t i = 0; i < old; i++) {
        free(events[i]);
        events[i] = NULL;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!(events[i] = strdup(names[i])))
            rc = -1;
    if (rc == 0)
        atomic_store_explicit(&nevents, n, memory_order_release);
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

int rc_metrics_event(const char *name)
{
    size_t n = atomic_load_explicit(&nevents, memory_order_acquire);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(events[i], name) == 0)
            return (int)i;
    return RC_METRICS_MAX_EVENTS;
}

int rc_metrics_topic(const char *topic)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = atomic_load(&ntopics);
    int idx = -1;
    for (size_t i = 0; i < n && idx < 0; i++)
        if (strcmp(topics[i], topic) == 0)
            idx = (int)i;
    if (idx < 0 && n < RC_METRICS_MAX_TOPICS && (topics[n] = strdup(topic))) {
        idx = (int)n;
        atomic_store_explicit(&ntopics, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reg_mu);
    return idx;
}

int rc_metrics_build_label(const char *name, const char *value)
{
    int rc = -1;
    pthread_mutex_lock(&reg_mu);
    if (nbuild < RC_METRICS_MAX_BUILD_LABELS) {
        char *n = strdup(name), *v = strdup(value ? value : "");
        if (n && v) {
            build[nbuild].name = n;
            build[nbuild].value = v;
            nbuild++;
            rc = 0;
        } else {
            free(n);
            free(v);
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

/* ---- partitions ---- */

/* The entry of topic/partition, or NULL; under part_mu. */
static struct part *part_find(const char *topic, int32_t partition)
{
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].partition == partition && strcmp(parts[i].topic, topic) == 0)
            return &parts[i];
    return NULL;
}

int rc_metrics_partition_assign(const char *topic, int32_t partition)
{
    int rc = 0;
    pthread_mutex_lock(&part_mu);
    if (!part_find(topic, partition)) {
        if (nparts == parts_cap) {
            size_t cap = parts_cap ? parts_cap * 2 : 16;
            struct part *p = realloc(parts, cap * sizeof *p);
            if (!p) {
                rc = -1;
                goto out;
            }
            parts = p;
            parts_cap = cap;
        }
        char *t = strdup(topic);
        if (!t) {
            rc = -1;
            goto out;
        }
        parts[nparts++] = (struct part){.topic = t, .partition = partition};
    }
out:
    pthread_mutex_unlock(&part_mu);
    return rc;
}

void rc_metrics_partition_revoke(const char *topic, int32_t partition)
{
    pthread_mutex_lock(&part_mu);
    struct part *p = part_find(topic, partition);
    if (p) {
        free(p->topic);
        *p = parts[--nparts];
    }
    pthread_mutex_unlock(&part_mu);
}

void rc_metrics_partition_revoke_all(void)
{
    pthread_mutex_lock(&part_mu);
    for (size_t i = 0; i < nparts; i++)
        free(parts[i].topic);
    nparts = 0;
    pthread_mutex_unlock(&part_mu);
}

void rc_metrics_partition_update(const char *topic, int32_t partition, int64_t lag, int fetching)
{
    pthread_mutex_lock(&part_mu);
    struct part *p = part_find(topic, partition);
    if (p) {
        p->known = lag >= 0;
        p->lag = lag;
        p->fetching = fetching;
    }
    pthread_mutex_unlock(&part_mu);
}

size_t rc_metrics_partitions(void)
{
    pthread_mutex_lock(&part_mu);
    size_t n = nparts;
    pthread_mutex_unlock(&part_mu);
    return n;
}

static int part_cmp(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* One gauge family over the assigned partitions with known values. */
static int render_part_family(rc_buf *out, rc_buf *l, const char *name, const char *help,
                              int fetching)
{
    if (rc_prom_family(out, name, "gauge", help) < 0)
        return -1;
    for (size_t i = 0; i < nparts; i++) {
        char pbuf[16];
        if (!parts[i].known)
            continue;
        snprintf(pbuf, sizeof pbuf, "%" PRId32, parts[i].partition);
        rc_buf_reset(l);
        if (rc_prom_label(l, "topic", parts[i].topic) < 0 ||
            rc_prom_label(l, "partition", pbuf) < 0 ||
            rc_prom_i64(out, name, l->p, fetching ? parts[i].fetching : parts[i].lag) < 0)
            return -1;
    }
    return 0;
}

/* The partition families, in topic and partition order. */
static int render_partitions(rc_buf *out, rc_buf *l)
{
    int rc = -1;
    pthread_mutex_lock(&part_mu);
    if (nparts > 1)
        qsort(parts, nparts, sizeof *parts, part_cmp);
    if (rc_prom_family(out, "roomcast_kafka_assigned_partitions", "gauge",
                       "Partitions of the consumed topics assigned to this node") == 0 &&
        rc_prom_u64(out, "roomcast_kafka_assigned_partitions", NULL, nparts) == 0 &&
        render_part_family(out, l, "roomcast_kafka_consumer_lag",
                           "Records between the end of an assigned partition and the offset "
                           "the group resumes from (librdkafka statistics)",
                           0) == 0 &&
        render_part_family(out, l, "roomcast_kafka_partition_fetching",
                           "1 while librdkafka fetches an assigned partition (fetch state "
                           "active), else 0",
                           1) == 0)
        rc = 0;
    pthread_mutex_unlock(&part_mu);
    return rc;
}

/* ---- rendering ---- */

static const char *const bad_names[RC_M_BAD__COUNT] = {
    [RC_M_BAD_UNDECODABLE] = "undecodable",     [RC_M_BAD_UNKNOWN_SCHEMA] = "unknown_schema",
    [RC_M_BAD_UNMAPPABLE] = "unmappable",       [RC_M_BAD_EMPTY] = "empty",
    [RC_M_BAD_UNKNOWN_TOPIC] = "unknown_topic",
};
static const char *const recovery_names[RC_M_RECOVERY__COUNT] = {
    [RC_M_RECOVERED] = "recovered",
    [RC_M_NOT_RECOVERED] = "not_recovered",
    [RC_M_CATCHUP] = "catchup",
    [RC_M_CATCHUP_TRUNCATED] = "catchup_truncated",
};
static const char *const replay_names[RC_M_REPLAY__COUNT] = {
    [RC_M_REPLAY_RECOVERY] = "recovery",
    [RC_M_REPLAY_CATCHUP] = "catchup",
};
static const char *const auth_names[RC_M_AUTH__COUNT] = {
    [RC_M_AUTH_TOKEN_MISSING] = "TOKEN_MISSING",
    [RC_M_AUTH_TOKEN_INVALID] = "TOKEN_INVALID",
    [RC_M_AUTH_TOKEN_EXPIRED] = "TOKEN_EXPIRED",
    [RC_M_AUTH_FORBIDDEN] = "FORBIDDEN",
};

static const char *const client_error_names[RC_M_ERR__COUNT] = {
    [RC_M_ERR_UNKNOWN_EVENT] = "unknown_event",
    [RC_M_ERR_INVALID_ARGUMENT] = "invalid_argument",
    [RC_M_ERR_FORBIDDEN] = "forbidden",
    [RC_M_ERR_USER_CONNECTION_LIMIT] = "user_connection_limit",
};

const char *rc_metrics_client_error_name(enum rc_metrics_client_error e)
{
    return (unsigned)e < RC_M_ERR__COUNT ? client_error_names[e] : "unknown";
}

/* A family labelled by event: the catalog's events, then "other" when
 * anything was counted under it. */
static int render_by_event(rc_buf *out, rc_buf *l, const char *name, const char *help,
                           const rc_counter *c)
{
    size_t n = atomic_load_explicit(&nevents, memory_order_acquire);
    if (rc_prom_family(out, name, "counter", help) < 0)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        const rc_counter *v = i < n ? &c[i] : &c[RC_METRICS_MAX_EVENTS];
        if (i == n && !rc_counter_get(v))
            break;
        rc_buf_reset(l);
        if (rc_prom_label(l, "event", i < n ? events[i] : "other") < 0 ||
            rc_prom_u64(out, name, l->p, rc_counter_get(v)) < 0)
            return -1;
    }
    return 0;
}

static int render_consumer(rc_buf *out, rc_buf *l)
{
    const rc_metrics_table *m = &rc_metrics;
    size_t nt = atomic_load_explicit(&ntopics, memory_order_acquire);
    if (rc_prom_counters(out, "roomcast_records_consumed_total", "Kafka records received, by topic",
                         "topic", (const char *const *)topics, m->consumed, nt) < 0 ||
        rc_prom_counters(out, "roomcast_records_invalid_total",
                         "Records that could not be decoded or mapped, by reason", "reason",
                         bad_names, m->invalid, RC_M_BAD__COUNT) < 0 ||
        rc_prom_counters(out, "roomcast_records_dlq_total",
                         "Bad records written to the dead-letter topic (acknowledged), by "
                         "reason",
                         "reason", bad_names, m->dlq, RC_M_BAD__COUNT) < 0 ||
        rc_prom_family(out, "roomcast_kafka_consumer_paused", "gauge",
                       "1 while the consumer holds its partitions back because the history "
                       "refuses appends") < 0 ||
        rc_prom_i64(out, "roomcast_kafka_consumer_paused", NULL,
                    rc_gauge_get(&m->consumer_paused)) < 0)
        return -1;
    return render_partitions(out, l);
}

static int render_events(rc_buf *out, rc_buf *l)
{
    const rc_metrics_table *m = &rc_metrics;
    if (render_by_event(out, l, "roomcast_events_appended_total",
                        "Events appended to history, by event", m->appended) < 0 ||
        render_by_event(out, l, "roomcast_events_duplicate_total",
                        "Events dropped as duplicates by eventId, by event", m->duplicate) < 0 ||
        render_by_event(out, l, "roomcast_events_broadcast_total",
                        "Events broadcast by this node's gateway, by event", m->broadcast) < 0 ||
        rc_prom_family(out, "roomcast_history_append_duration_seconds", "histogram",
                       "Time an append to history took (consumer thread), failed ones "
                       "included") < 0 ||
        rc_prom_histogram(out, "roomcast_history_append_duration_seconds", NULL, &m->append_time) <
            0)
        return -1;
    return 0;
}

static int render_gateway(rc_buf *out, rc_buf *l)
{
    const rc_metrics_table *m = &rc_metrics;
    if (rc_prom_counters(out, "roomcast_recoveries_total",
                         "Reconnects and explicit catch-ups, by outcome", "outcome", recovery_names,
                         m->recoveries, RC_M_RECOVERY__COUNT) < 0 ||
        rc_prom_family(out, "roomcast_events_replayed_total", "counter",
                       "Events sent by recovery or catch-up") < 0 ||
        rc_prom_u64(out, "roomcast_events_replayed_total", NULL, rc_counter_get(&m->replayed)) <
            0 ||
        rc_prom_family(out, "roomcast_replay_duration_seconds", "histogram",
                       "From a replay's request to the history to its answer on the gateway "
                       "loop, by kind") < 0)
        return -1;
    for (int k = 0; k < RC_M_REPLAY__COUNT; k++) {
        rc_buf_reset(l);
        if (rc_prom_label(l, "kind", replay_names[k]) < 0 ||
            rc_prom_histogram(out, "roomcast_replay_duration_seconds", l->p, &m->replay_time[k]) <
                0)
            return -1;
    }
    return rc_prom_counters(out, "roomcast_auth_failures_total",
                            "Socket.IO CONNECTs and auth:refresh requests refused for their "
                            "token, by code",
                            "code", auth_names, m->auth_failures, RC_M_AUTH__COUNT);
}

static int render_build(rc_buf *out, rc_buf *l)
{
    rc_buf_reset(l);
    pthread_mutex_lock(&reg_mu);
    int rc = rc_prom_label(l, "version", RC_VERSION);
    for (size_t i = 0; i < nbuild && rc == 0; i++)
        rc = rc_prom_label(l, build[i].name, build[i].value);
    pthread_mutex_unlock(&reg_mu);
    if (rc < 0 ||
        rc_prom_family(out, "roomcast_build_info", "gauge",
                       "Always 1; the labels say which build and libraries run") < 0 ||
        rc_prom_u64(out, "roomcast_build_info", l->p, 1) < 0)
        return -1;
    return 0;
}

/* One unlabelled counter family. */
static int render_counter(rc_buf *out, const char *name, const char *help, const rc_counter *c)
{
    return rc_prom_family(out, name, "counter", help) < 0 ||
                   rc_prom_u64(out, name, NULL, rc_counter_get(c)) < 0
               ? -1
               : 0;
}

static int render_registry_admin(rc_buf *out)
{
    const rc_metrics_table *m = &rc_metrics;
    return render_counter(out, "roomcast_schema_registry_requests_total",
                          "Schema Registry requests for schema ids the local map lacks",
                          &m->registry_requests) < 0 ||
                   render_counter(out, "roomcast_schema_registry_failures_total",
                                  "Schema Registry requests without a usable answer "
                                  "(unreachable, timeout, 5xx, refused credentials)",
                                  &m->registry_failures) < 0 ||
                   rc_prom_family(out, "roomcast_schema_waits", "gauge",
                                  "Partitions paused until the Schema Registry answers for "
                                  "their next record") < 0 ||
                   rc_prom_i64(out, "roomcast_schema_waits", NULL,
                               rc_gauge_get(&m->schema_waits)) < 0 ||
                   render_counter(out, "roomcast_admin_requests_total",
                                  "Admin API requests that carried the admin token",
                                  &m->admin_requests) < 0 ||
                   render_counter(out, "roomcast_admin_unauthorized_total",
                                  "Admin API requests refused with 401: token missing or wrong",
                                  &m->admin_unauthorized) < 0
               ? -1
               : 0;
}

int rc_metrics_render(rc_buf *out)
{
    rc_buf l = {0};
    int rc = render_consumer(out, &l) < 0 || render_events(out, &l) < 0 ||
                     render_gateway(out, &l) < 0 || render_registry_admin(out) < 0 ||
                     render_build(out, &l) < 0 ||
                     rc_procstat_render(out) < 0
                 ? -1
                 : 0;
    rc_buf_free(&l);
    return rc;
}
