/*
 * roomcast_main.c - the roomcast process: wires consumer, history and
 * gateway. The one file that includes from both consumer/ and gateway/.
 *
 * Threads: the main thread starts everything, then runs the gateway loop;
 * the consumer, the demo producer and the embedded broker run threads of
 * their own; a signal thread, started first, waits for SIGTERM/SIGINT. Once
 * the process serves, it performs the orderly stop: stop consuming (the
 * record in flight is finished and stored offsets are committed), then
 * close clients with a reconnect hint and leave the loop, then exit 0.
 * During start-up it only raises `stopping`: the main thread checks it
 * between steps, the membership rebuild polls it, and start-up unwinds and
 * exits 0. On SIGHUP the same thread re-reads the JWT key files into a new
 * verifier and hands it to the gateway, keeping the old keys when that
 * fails.
 *
 * Shutdown is bounded: from the signal, the process exits within
 * SHUTDOWN_BOUND_MS whatever Kafka and Redis do. The consumer's group close
 * gets CONSUMER_CLOSE_MS of it and is abandoned after that (consumer.h); a
 * watchdog thread, armed by the signal, logs what the shutdown was still
 * waiting for when the bound passes and ends the process with status 0:
 * nothing is lost, the records handed over since the last commit are
 * delivered again and deduplicated by eventId.
 */
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "consumer/broker.h"
#include "consumer/catalog.h"
#include "consumer/consumer.h"
#include "consumer/demo.h"
#include "consumer/rebuild.h"
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/gateway.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/errstr.h"
#include "core/history.h"
#include "core/log.h"
#include "core/metrics.h"

#define DEV_SECRET "roomcast-development-secret"
#define REBUILD_TIMEOUT_MS 60000
#define SHUTDOWN_BOUND_MS 10000 /* from SIGTERM to exit, whatever the neighbours do */
#define CONSUMER_CLOSE_MS 5000  /* of which the group close may take */

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
    atomic_int stopping;   /* a stop signal arrived (or main asked to stop) */
    atomic_int self_wake;  /* the stop was main's, not a signal's */
    pthread_mutex_t mu;    /* guards serving and the gateway hand-over */
    int serving;           /* under mu: started; the signal thread stops it */
    rc_gateway *gw_reload; /* under mu: the gateway SIGHUP may reload */
};

/*
 * What the shutdown is waiting for, for the watchdog's last words. Globals:
 * the watchdog may outlive main()'s frame.
 */
static _Atomic(const char *) shutdown_step = "the start-up step in progress";
static atomic_llong shutdown_deadline;

static void shutdown_waits_for(const char *what)
{
    atomic_store(&shutdown_step, what);
}

/* Detached; ends the process if it is still there at the deadline. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    for (;;) {
        int64_t left = atomic_load(&shutdown_deadline) - rc_clock_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    LOG_ERROR("main",
              "shutdown did not finish within %d ms, still waiting for %s: exiting "
              "now; nothing is lost (records not yet committed are delivered again "
              "and deduplicated by eventId)",
              SHUTDOWN_BOUND_MS, atomic_load(&shutdown_step));
    _exit(0);
}

/* From here on the process exits within SHUTDOWN_BOUND_MS. */
static void arm_watchdog(void)
{
    pthread_t t;
    atomic_store(&shutdown_deadline, rc_clock_mono_ms() + SHUTDOWN_BOUND_MS);
    if (pthread_create(&t, NULL, watchdog_main, NULL) == 0)
        pthread_detach(t);
    else
        LOG_ERROR("main", "cannot start the shutdown watchdog: the shutdown is unbounded");
}

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
    int64_t t0 = rc_clock_mono_us();
    int rc = rc_history_append(a->history, ev);
    rc_prom_observe(&rc_metrics.append_time, rc_clock_mono_us() - t0);
    if (rc == 1)
        rc_counter_inc(&rc_metrics.appended[rc_metrics_event(ev->name)]);
    else if (rc == 0)
        rc_counter_inc(&rc_metrics.duplicate[rc_metrics_event(ev->name)]);
    return rc < 0 ? -1 : 0;
}

/* The label values and build labels of /metrics: the catalog's events,
 * the libraries' versions. */
static int setup_metrics(const rc_catalog *cat, char *err, size_t errlen)
{
    size_t n = rc_catalog_event_count(cat);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return rc_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = rc_catalog_event_name(cat, i);
    int rc = rc_metrics_set_events(names, n);
    free(names);
    if (rc < 0)
        return rc_errf(err, errlen,
                       "the catalog has %zu events; metrics label at most %d: raise "
                       "RC_METRICS_MAX_EVENTS in core/metrics.h",
                       n, RC_METRICS_MAX_EVENTS);
    /* lws says "4.1.6-<git hash>", or "4.1.6-" without one: the version. */
    char lws[32];
    snprintf(lws, sizeof lws, "%s", lws_get_library_version());
    lws[strcspn(lws, "- ")] = '\0';
    if (rc_metrics_build_label("librdkafka", rd_kafka_version_str()) < 0 ||
        rc_metrics_build_label("libwebsockets", lws) < 0)
        return rc_errf(err, errlen, "out of memory");
    return 0;
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
    pthread_mutex_lock(&a->mu);
    rc_gateway *gw = a->gw_reload;
    pthread_mutex_unlock(&a->mu);
    if (!gw) {
        LOG_WARN("main", "SIGHUP during start-up: ignored (the keys are read at start-up)");
        return;
    }
    rc_auth_config ac = auth_settings(&a->cfg);
    rc_auth_verifier *v = rc_auth_verifier_new(&ac, err, sizeof err);
    if (!v) {
        LOG_ERROR("main", "SIGHUP: keys not reloaded, the previous keys stay in force: %s", err);
        return;
    }
    if (rc_gateway_set_verifier(gw, v) < 0) {
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
    if (!atomic_load(&a->self_wake))
        LOG_INFO("main", "%s received: stopping", strsignal(sig));
    arm_watchdog();
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->stopping, 1);
    int serving = a->serving;
    pthread_mutex_unlock(&a->mu);
    if (!serving)
        return NULL; /* start-up unwinds on the main thread */
    shutdown_waits_for("the demo producer");
    rc_demo_destroy(a->demo);
    a->demo = NULL;
    shutdown_waits_for("the consumer's group close");
    rc_consumer_stop(a->consumer);
    shutdown_waits_for("the gateway closing its clients");
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

/* Between start-up steps: a stop signal ends start-up. */
#define STOP_POINT(a)                                                                              \
    do {                                                                                           \
        if (atomic_load(&(a)->stopping))                                                           \
            goto stopped;                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    struct app a;
    char err[512] = "";
    pthread_t sigthread;
    int rc = 1, have_sigthread = 0;

    memset(&a, 0, sizeof a);
    pthread_mutex_init(&a.mu, NULL);
    /* Signals are taken by the signal thread only, from the start: one that
     * comes before it runs waits for it. */
    sigemptyset(&a.sigs);
    sigaddset(&a.sigs, SIGTERM);
    sigaddset(&a.sigs, SIGINT);
    sigaddset(&a.sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &a.sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int crc = rc_config_load(&a.cfg, argc, argv, err, sizeof err);
    if (crc != 0) {
        if (crc < 0)
            fprintf(stderr, "roomcast: %s\n", err);
        rc_config_free(&a.cfg);
        return crc < 0 ? 2 : 0;
    }
    rc_log_set_level(a.cfg.log_level);
    if (pthread_create(&sigthread, NULL, signal_main, &a) != 0) {
        rc_errf(err, sizeof err, "cannot start the signal thread");
        goto fail;
    }
    have_sigthread = 1;

    shutdown_waits_for("the event catalog and the token keys");
    if (!(a.cat = rc_catalog_new(a.cfg.schemas_dir, a.cfg.topics, err, sizeof err)) ||
        setup_metrics(a.cat, err, sizeof err) < 0)
        goto fail;
    if (setup_auth(&a, err, sizeof err) < 0)
        goto fail;
    STOP_POINT(&a);
    shutdown_waits_for("the history store's first connection");
    if (*a.cfg.redis)
        a.history = rc_history_new_redis(a.cfg.redis, a.cfg.history_max, a.cfg.history_ttl_s, err,
                                         sizeof err);
    else
        a.history = rc_history_new_memory(a.cfg.history_max, a.cfg.history_ttl_s, err, sizeof err);
    if (!a.history)
        goto fail;
    STOP_POINT(&a);

    if (*a.cfg.kafka_brokers) {
        a.brokers = a.cfg.kafka_brokers;
    } else {
        shutdown_waits_for("the embedded broker's start");
        if (!(a.broker = rc_broker_new(a.cat, a.cfg.dlq_topic, a.cfg.embedded_partitions, err,
                                       sizeof err)))
            goto fail;
        a.brokers = rc_broker_bootstraps(a.broker);
    }
    STOP_POINT(&a);

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
    shutdown_waits_for("the gateway's start");
    if (!(a.gw = rc_gateway_new(&gopts, a.auth, err, sizeof err)))
        goto fail;
    pthread_mutex_lock(&a.mu);
    a.gw_reload = a.gw;
    pthread_mutex_unlock(&a.mu);
    rc_gateway_set_history(a.gw, a.history);
    /* In memory, memberships died with the last process: the membership
     * topic is their changelog. A stop signal cuts the rebuild short. */
    shutdown_waits_for("the membership rebuild");
    rc_rebuild_opts ro = {.schemas_dir = a.cfg.schemas_dir,
                          .kafka = kafka_opts(&a),
                          .timeout_ms = REBUILD_TIMEOUT_MS,
                          .stop = &a.stopping};
    if (!*a.cfg.redis &&
        rc_rebuild_memberships(&ro, a.cat, replay_membership, &a, err, sizeof err) < 0)
        goto fail;
    STOP_POINT(&a);
    shutdown_waits_for("the memberships stored in the history");
    if (rc_history_memberships(a.history, load_membership, &a) < 0) {
        rc_errf(err, sizeof err,
                "cannot load memberships: the history store "
                "(%s) is unreachable",
                rc_history_backend(a.history));
        goto fail;
    }
    STOP_POINT(&a);
    rc_history_on_gap(a.history, on_history_gap, &a);
    rc_history_subscribe(a.history, on_history_event, &a);

    shutdown_waits_for("the consumer's start");
    rc_consumer_opts co = {.schemas_dir = a.cfg.schemas_dir,
                           .dlq_topic = a.cfg.dlq_topic,
                           .kafka = kafka_opts(&a),
                           .close_timeout_ms = CONSUMER_CLOSE_MS};
    if (!(a.consumer = rc_consumer_new(&co, a.cat, consumer_sink, &a, err, sizeof err)))
        goto fail;
    if (rc_consumer_start(a.consumer) < 0) {
        rc_errf(err, sizeof err, "cannot start the consumer thread");
        goto fail;
    }
    if (a.cfg.demo && !(a.demo = rc_demo_new(a.brokers, a.cat, a.cfg.schemas_dir,
                                             a.cfg.demo_interval_ms, err, sizeof err)))
        goto fail;

    /* From here on the signal thread stops what runs. */
    pthread_mutex_lock(&a.mu);
    if (atomic_load(&a.stopping)) {
        pthread_mutex_unlock(&a.mu);
        goto stopped;
    }
    a.serving = 1;
    pthread_mutex_unlock(&a.mu);
    LOG_INFO("main", "roomcast ready on port %d (kafka %s%s, history %s)", rc_gateway_port(a.gw),
             a.broker ? "embedded at " : "", a.brokers, rc_history_backend(a.history));
    rc_gateway_run(a.gw);
    rc = 0;
    goto done;

fail:
    if (atomic_load(&a.stopping))
        goto stopped; /* the step failed because it was stopped */
    LOG_ERROR("main", "%s", err);
    fprintf(stderr, "roomcast: %s\n", err);
    goto done;
stopped:
    LOG_INFO("main", "stopped during start-up, in %s", atomic_load(&shutdown_step));
    rc = 0;
done:
    if (have_sigthread) {
        /* Not stopped by a signal (the loop ended on its own, or start-up
         * failed): wake the thread, which then stops what runs. */
        if (!atomic_load(&a.stopping)) {
            atomic_store(&a.self_wake, 1);
            pthread_kill(sigthread, SIGTERM);
        }
        pthread_join(sigthread, NULL);
    }
    /* Producers of events first, so nothing calls into a freed gateway. */
    shutdown_waits_for("the demo producer");
    rc_demo_destroy(a.demo);
    shutdown_waits_for("the consumer's group close");
    rc_consumer_destroy(a.consumer);
    shutdown_waits_for("the history store");
    if (a.gw) /* sessions are no longer stored once the history is gone */
        rc_gateway_set_history(a.gw, NULL);
    rc_history_destroy(a.history);
    shutdown_waits_for("the gateway");
    rc_gateway_destroy(a.gw);
    shutdown_waits_for("the embedded broker");
    rc_broker_destroy(a.broker);
    rc_auth_verifier_unref(a.auth);
    rc_catalog_destroy(a.cat);
    rc_config_free(&a.cfg);
    pthread_mutex_destroy(&a.mu);
    if (rc == 0)
        LOG_INFO("main", "bye");
    return rc;
}
