/*
 * roomcast_main.c - the roomcast process: wires consumer, history and
 * gateway. The one file that includes from both consumer/ and gateway/.
 *
 * Threads: the main thread runs the gateway loop; the consumer, the demo
 * producer and the embedded broker run threads of their own; a signal thread
 * waits for SIGTERM/SIGINT and performs the orderly stop: stop consuming
 * (the record in flight is finished and stored offsets are committed), then
 * close clients with a reconnect hint and leave the loop, then exit 0. On
 * SIGHUP the same thread re-reads the JWT key files into a new verifier and
 * hands it to the gateway, keeping the old keys when that fails.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consumer/broker.h"
#include "consumer/catalog.h"
#include "consumer/consumer.h"
#include "consumer/demo.h"
#include "consumer/rebuild.h"
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/gateway.h"
#include "core/config.h"
#include "core/errstr.h"
#include "core/history.h"
#include "core/log.h"
#include "core/metrics.h"

#define DEV_SECRET "roomcast-development-secret"
#define REBUILD_TIMEOUT_MS 60000

struct app {
    rc_config cfg;
    rc_catalog *cat;
    rc_broker *broker;   /* NULL unless embedded */
    const char *brokers; /* borrowed: cfg or broker */
    rc_auth_verifier *auth;
    rc_history *history;
    rc_gateway *gw;
    rc_consumer *consumer;
    rc_demo *demo;
    sigset_t sigs;
};

/* The bus: on the appending thread (memory) or the bus thread (redis). */
static void on_history_event(void *ud, rc_event *ev)
{
    struct app *a = ud;
    if (rc_gateway_publish(a->gw, ev) < 0)
        LOG_ERROR("main", "out of memory publishing event %s", ev->id);
}

/* The bus may have lost events: make every client reconnect and catch up. */
static void on_history_gap(void *ud)
{
    struct app *a = ud;
    rc_gateway_resync(a->gw);
}

static int load_membership(void *ud, const char *user, const char *program)
{
    struct app *a = ud;
    return rc_gateway_add_membership(a->gw, user, program);
}

static int replay_membership(void *ud, enum rc_member_op op, const char *user, const char *program)
{
    struct app *a = ud;
    if (op == RC_MEMBER_REMOVE) {
        rc_gateway_remove_membership(a->gw, user, program);
        return 0;
    }
    return rc_gateway_add_membership(a->gw, user, program);
}

static int consumer_sink(void *ud, rc_event *ev)
{
    struct app *a = ud;
    int rc = rc_history_append(a->history, ev);
    if (rc == 1)
        rc_metric_inc(RC_M_EVENTS_APPENDED);
    else if (rc == 0)
        rc_metric_inc(RC_M_EVENTS_DUPLICATE);
    return rc < 0 ? -1 : 0;
}

static void health(void *ud, rc_buf *out)
{
    struct app *a = ud;
    rc_buf_printf(out, "\"kafka\":{\"embedded\":%s,\"bootstrap\":", a->broker ? "true" : "false");
    rc_buf_json_string(out, a->brokers, strlen(a->brokers));
    rc_buf_printf(out, ",\"group\":");
    rc_buf_json_string(out, a->cfg.group_id, strlen(a->cfg.group_id));
    rc_buf_printf(
        out,
        ",\"assigned\":%d,\"paused\":%s},\"history\":{\"backend\":\"%s\",\"ready\":%s,\"epoch\":",
        a->consumer ? rc_consumer_assigned(a->consumer) : 0,
        a->consumer && rc_consumer_paused(a->consumer) ? "true" : "false",
        rc_history_backend(a->history), rc_history_ready(a->history) ? "true" : "false");
    const char *epoch = rc_history_epoch(a->history);
    rc_buf_json_string(out, epoch, strlen(epoch));
    rc_buf_puts(out, "}");
}

static int ready(void *ud)
{
    struct app *a = ud;
    return a->consumer && !rc_consumer_paused(a->consumer) && rc_history_ready(a->history);
}

/* The Kafka clients' settings: brokers, group and kafka.* properties. */
static rc_kafka_opts kafka_opts(const struct app *a)
{
    return (rc_kafka_opts){.brokers = a->brokers,
                           .group_id = a->cfg.group_id,
                           .props = a->cfg.kafka_props,
                           .nprops = a->cfg.nkafka_props,
                           .local_broker = a->broker != NULL};
}

/* The verifier's settings: the same at start-up and on every reload. */
static rc_auth_config auth_settings(const rc_config *cfg)
{
    return (rc_auth_config){
        .alg = cfg->jwt_alg,
        .secret = cfg->jwt_secret,
        .public_key_file = cfg->jwt_public_key,
        .jwks_file = cfg->jwt_jwks,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway_s = cfg->jwt_leeway_s,
    };
}

/*
 * SIGHUP: a new verifier from the same settings, the key files (PEM, JWKS)
 * read again, handed to the gateway; connected sockets are not touched. On
 * any error the previous keys stay in force. Signal thread (the file I/O
 * stays off the gateway loop).
 */
static void reload_auth(struct app *a)
{
    char err[512] = "";
    rc_auth_config ac = auth_settings(&a->cfg);
    rc_auth_verifier *v = rc_auth_verifier_new(&ac, err, sizeof err);
    if (!v) {
        LOG_ERROR("main", "SIGHUP: keys not reloaded, the previous keys stay in force: %s", err);
        return;
    }
    if (rc_gateway_set_verifier(a->gw, v) < 0) {
        LOG_ERROR("main", "SIGHUP: keys not reloaded, the previous keys stay in force: "
                          "out of memory");
        rc_auth_verifier_unref(v);
        return;
    }
    rc_auth_verifier_unref(a->auth);
    a->auth = v;
    LOG_INFO("main", "SIGHUP: keys reloaded: %s", rc_auth_verifier_describe(v));
}

static void *signal_main(void *arg)
{
    struct app *a = arg;
    int sig = 0;
    while (sigwait(&a->sigs, &sig) == 0 && sig == SIGHUP)
        reload_auth(a);
    LOG_INFO("main", "%s received: stopping", strsignal(sig));
    rc_demo_destroy(a->demo);
    a->demo = NULL;
    rc_consumer_stop(a->consumer);
    rc_gateway_stop(a->gw);
    return NULL;
}

/* The secret /demo/token signs with: the HS256 secret, when there is one. */
static const char *demo_secret(const rc_config *cfg)
{
    if (!cfg->jwt_secret || !cfg->jwt_secret[0] ||
        (cfg->jwt_alg && strcasecmp(cfg->jwt_alg, "HS256") != 0))
        return NULL;
    return cfg->jwt_secret;
}

static int setup_auth(struct app *a, char *err, size_t errlen)
{
    rc_config *cfg = &a->cfg;
    if (!strcmp(cfg->jwt_alg, "HS256") && !*cfg->jwt_secret) {
        if (!cfg->demo) {
            rc_errf(err, errlen,
                    "no JWT key: set --jwt-secret (HS256) or --jwt-alg RS256|ES256 "
                    "with --jwt-public-key");
            return -1;
        }
        LOG_WARN("main", "demo mode without --jwt-secret: using the public "
                         "development secret; never do this in production");
        free(cfg->jwt_secret);
        cfg->jwt_secret = strdup(DEV_SECRET);
    }
    rc_auth_config ac = auth_settings(cfg);
    a->auth = rc_auth_verifier_new(&ac, err, errlen);
    if (!a->auth)
        return -1;
    LOG_INFO("main", "tokens: %s", rc_auth_verifier_describe(a->auth));
    return 0;
}

int main(int argc, char **argv)
{
    struct app a;
    char err[512] = "";
    pthread_t sigthread;
    int rc = 1, have_sigthread = 0;

    memset(&a, 0, sizeof a);
    int crc = rc_config_load(&a.cfg, argc, argv, err, sizeof err);
    if (crc != 0) {
        if (crc < 0)
            fprintf(stderr, "roomcast: %s\n", err);
        rc_config_free(&a.cfg);
        return crc < 0 ? 2 : 0;
    }
    rc_log_set_level(a.cfg.log_level);

    /* Signals are taken by the signal thread only. */
    sigemptyset(&a.sigs);
    sigaddset(&a.sigs, SIGTERM);
    sigaddset(&a.sigs, SIGINT);
    sigaddset(&a.sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &a.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!(a.cat = rc_catalog_new(a.cfg.schemas_dir, a.cfg.topics, err, sizeof err)))
        goto fail;
    if (setup_auth(&a, err, sizeof err) < 0)
        goto fail;
    if (*a.cfg.redis)
        a.history = rc_history_new_redis(a.cfg.redis, a.cfg.history_max, a.cfg.history_ttl_s, err,
                                         sizeof err);
    else
        a.history = rc_history_new_memory(a.cfg.history_max, a.cfg.history_ttl_s, err, sizeof err);
    if (!a.history)
        goto fail;

    if (*a.cfg.kafka_brokers) {
        a.brokers = a.cfg.kafka_brokers;
    } else {
        if (!(a.broker = rc_broker_new(a.cat, a.cfg.dlq_topic, a.cfg.embedded_partitions, err,
                                       sizeof err)))
            goto fail;
        a.brokers = rc_broker_bootstraps(a.broker);
    }

    rc_gateway_options gopts = {
        .server =
            {
                .listen = a.cfg.listen,
                .tls_cert = a.cfg.tls_cert,
                .tls_key = a.cfg.tls_key,
                .ping_interval_ms = a.cfg.ping_interval_ms,
                .ping_timeout_ms = a.cfg.ping_timeout_ms,
                .max_payload = a.cfg.max_payload,
                .queue_max = a.cfg.queue_max,
                .connect_timeout_ms = a.cfg.connect_timeout_ms,
                .cors_origins = a.cfg.cors_origins,
                .max_connections_per_ip = a.cfg.max_connections_per_ip,
                .client_events_per_minute = a.cfg.client_events_per_minute,
                .client_event_burst = a.cfg.client_event_burst,
            },
        .jwt_leeway_s = a.cfg.jwt_leeway_s,
        .auth_grace_ms = a.cfg.auth_grace_ms,
        .max_connections_per_user = a.cfg.max_connections_per_user,
        .recovery_window_ms = a.cfg.recovery_window_ms,
        .demo = a.cfg.demo,
        .demo_secret = demo_secret(&a.cfg),
        .hooks = {.ud = &a, .health = health, .ready = ready},
    };
    if (!(a.gw = rc_gateway_new(&gopts, a.auth, err, sizeof err)))
        goto fail;
    rc_gateway_set_history(a.gw, a.history);
    /* In memory, memberships died with the last process: the membership
     * topic is their changelog. */
    rc_rebuild_opts ro = {.schemas_dir = a.cfg.schemas_dir,
                          .kafka = kafka_opts(&a),
                          .timeout_ms = REBUILD_TIMEOUT_MS};
    if (!*a.cfg.redis &&
        rc_rebuild_memberships(&ro, a.cat, replay_membership, &a, err, sizeof err) < 0)
        goto fail;
    if (rc_history_memberships(a.history, load_membership, &a) < 0) {
        rc_errf(err, sizeof err,
                "cannot load memberships: the history store "
                "(%s) is unreachable",
                rc_history_backend(a.history));
        goto fail;
    }
    rc_history_on_gap(a.history, on_history_gap, &a);
    rc_history_subscribe(a.history, on_history_event, &a);

    rc_consumer_opts co = {
        .schemas_dir = a.cfg.schemas_dir, .dlq_topic = a.cfg.dlq_topic, .kafka = kafka_opts(&a)};
    if (!(a.consumer = rc_consumer_new(&co, a.cat, consumer_sink, &a, err, sizeof err)))
        goto fail;
    if (rc_consumer_start(a.consumer) < 0) {
        rc_errf(err, sizeof err, "cannot start the consumer thread");
        goto fail;
    }
    if (a.cfg.demo && !(a.demo = rc_demo_new(a.brokers, a.cat, a.cfg.schemas_dir,
                                             a.cfg.demo_interval_ms, err, sizeof err)))
        goto fail;
    if (pthread_create(&sigthread, NULL, signal_main, &a) != 0) {
        rc_errf(err, sizeof err, "cannot start the signal thread");
        goto fail;
    }
    have_sigthread = 1;

    LOG_INFO("main", "roomcast ready on port %d (kafka %s%s, history %s)", rc_gateway_port(a.gw),
             a.broker ? "embedded at " : "", a.brokers, rc_history_backend(a.history));
    rc_gateway_run(a.gw);
    rc = 0;
    goto done;

fail:
    LOG_ERROR("main", "%s", err);
    fprintf(stderr, "roomcast: %s\n", err);
done:
    if (have_sigthread) {
        /* The loop ended on its own (not by a signal): wake the thread. */
        pthread_kill(sigthread, SIGTERM);
        pthread_join(sigthread, NULL);
    }
    /* Producers of events first, so nothing calls into a freed gateway. */
    rc_demo_destroy(a.demo);
    rc_consumer_destroy(a.consumer);
    if (a.gw) /* sessions are no longer stored once the history is gone */
        rc_gateway_set_history(a.gw, NULL);
    rc_history_destroy(a.history);
    rc_gateway_destroy(a.gw);
    rc_broker_destroy(a.broker);
    rc_auth_verifier_unref(a.auth);
    rc_catalog_destroy(a.cat);
    rc_config_free(&a.cfg);
    if (rc == 0)
        LOG_INFO("main", "bye");
    return rc;
}
