/*
 * kafka_conf.c - librdkafka configurations per role.
 *
 * Implementation notes. Properties are set in increasing precedence:
 * bootstrap servers and client id, the role's defaults, then the
 * pass-through properties, so an operator can override any default
 * (including the bootstrap servers). Which pass-through properties a role
 * skips is decided by name: librdkafka warns about, or refuses, consumer
 * properties on a producer, and the reader must not inherit the group's
 * offset behaviour, while fetch.* and isolation.level still apply to it.
 */
#include "kafka_conf.h"

#include <string.h>

#include "core/config.h"
#include "core/errstr.h"
#include "core/log.h"

static void on_kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
    (void)rk;
    int lvl = level <= 3 ? RC_LOG_ERROR : level <= 4 ? RC_LOG_WARN
            : level <= 6 ? RC_LOG_INFO : RC_LOG_DEBUG;
    RC_LOG(lvl, "kafka", "%s: %s", fac, buf);
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
    (void)rk;
    (void)opaque;
    LOG_WARN("kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
}

/* Replaces every copy of secret (3 bytes or more) in text with "***". */
static void hide(char *text, const char *secret)
{
    size_t n = strlen(secret);
    char *p = text;
    if (n < 3)
        return;
    while ((p = strstr(p, secret)) != NULL) {
        memmove(p + 3, p + n, strlen(p + n) + 1);
        memcpy(p, "***", 3);
        p += 3;
    }
}

static int set_prop(rd_kafka_conf_t *conf, const char *k, const char *v,
                    char *errstr, size_t errlen)
{
    char kerr[256];
    if (rd_kafka_conf_set(conf, k, v, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
        /* librdkafka quotes some refused values: never a secret's. */
        if (rc_config_secret_property(k))
            hide(kerr, v);
        return rc_errf(errstr, errlen, "kafka property %s: %s", k, kerr);
    }
    return 0;
}

/* Group, offset, session and fetch settings: only consumers know them. */
static int consumer_only(const char *k)
{
    return !strcmp(k, "group.id") || !strncmp(k, "auto.", 5) ||
           !strncmp(k, "enable.auto", 11) ||
           !strcmp(k, "partition.assignment.strategy") ||
           !strncmp(k, "session.", 8) || !strncmp(k, "heartbeat.", 10) ||
           !strncmp(k, "max.poll", 8) || !strncmp(k, "fetch.", 6) ||
           !strcmp(k, "group.instance.id") || !strcmp(k, "isolation.level");
}

/* Each role's defaults; the group consumer's group.id comes from the
 * options. */
static const struct {
    enum rc_kafka_role role;
    const char *key, *value;
} defaults[] = {
    {RC_KAFKA_GROUP, "enable.auto.offset.store", "false"},
    {RC_KAFKA_GROUP, "enable.auto.commit", "true"},
    {RC_KAFKA_GROUP, "auto.offset.reset", "earliest"},
    {RC_KAFKA_GROUP, "partition.assignment.strategy", "range,roundrobin"},
    /* The per-partition lag of /metrics comes from librdkafka's
     * statistics (consumer.c). */
    {RC_KAFKA_GROUP, "statistics.interval.ms", RC_KAFKA_STATS_INTERVAL_MS},
    /* Assigned partitions only: the group id is never joined nor committed
     * to, but librdkafka's consumer API wants one. */
    {RC_KAFKA_READER, "group.id", "roomcast-reader"},
    {RC_KAFKA_READER, "enable.auto.commit", "false"},
    {RC_KAFKA_READER, "enable.auto.offset.store", "false"},
    {RC_KAFKA_READER, "enable.partition.eof", "true"},
    {RC_KAFKA_PRODUCER, "enable.idempotence", "true"},
    {RC_KAFKA_PRODUCER, "message.timeout.ms", "8000"},
    {RC_KAFKA_BULK, "linger.ms", "5"},
};

rd_kafka_conf_t *rc_kafka_conf_new(const rc_kafka_opts *opts,
                                   enum rc_kafka_role role, char *errstr,
                                   size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    if (set_prop(conf, "bootstrap.servers", opts->brokers ? opts->brokers : "",
                 errstr, errlen) < 0 ||
        set_prop(conf, "client.id", opts->client_id ? opts->client_id : "roomcast",
                 errstr, errlen) < 0)
        goto fail;
    if (role == RC_KAFKA_GROUP &&
        set_prop(conf, "group.id", opts->group_id ? opts->group_id : "", errstr,
                 errlen) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (defaults[i].role == role &&
            set_prop(conf, defaults[i].key, defaults[i].value, errstr, errlen) < 0)
            goto fail;
    if (opts->local_broker && (role == RC_KAFKA_GROUP || role == RC_KAFKA_READER) &&
        set_prop(conf, "fetch.wait.max.ms", RC_KAFKA_LOCAL_FETCH_WAIT_MS, errstr, errlen) < 0)
        goto fail;
    if (opts->local_broker && role == RC_KAFKA_GROUP &&
        (set_prop(conf, "session.timeout.ms", RC_KAFKA_LOCAL_SESSION_MS, errstr, errlen) < 0 ||
         set_prop(conf, "heartbeat.interval.ms", RC_KAFKA_LOCAL_HEARTBEAT_MS, errstr, errlen) < 0))
        goto fail;
    for (size_t i = 0; i < opts->nprops; i++) {
        const char *k = opts->props[i].key;
        int producer = role == RC_KAFKA_PRODUCER || role == RC_KAFKA_BULK;
        if (producer && consumer_only(k))
            continue;
        if (role == RC_KAFKA_READER && consumer_only(k) &&
            strcmp(k, "isolation.level") && strncmp(k, "fetch.", 6))
            continue;
        if (set_prop(conf, k, opts->props[i].value, errstr, errlen) < 0)
            goto fail;
    }
    if (!opts->native_log) {
        rd_kafka_conf_set_log_cb(conf, on_kafka_log);
        rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
