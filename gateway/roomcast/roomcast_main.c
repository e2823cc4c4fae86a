/*
 * roomcast_main.c - the roomcast process: wires consumer, history and
 * gateway. The one file that includes from both consumer/ and gateway/.
 *
 * Threads: the main thread reads the configuration, loads the catalog and
 * the token keys, binds the gateway and runs its loop from then on, so
 * /healthz answers from the first moment. The start-up thread does what may
 * wait on the neighbours: the history store, the embedded broker, the
 * membership rebuild (memory) or load (Redis), the consumer and the demo
 * producer; it retries what is unreachable, logging what it waits for every
 * few seconds (and /readyz says it), up to --startup-timeout when set. The
 * gateway admits clients once the history and the memberships are handed
 * over (rc_gateway_open). The consumer, the demo producer and the embedded
 * broker run threads of their own; a signal thread, started first, waits
 * for SIGTERM/SIGINT.
 *
 * Before anything starts, the whole configuration is checked without
 * connecting anywhere (check_config: values, combinations, key, secret and
 * TLS files, schemas and catalog, Kafka properties, the listen address,
 * the Redis URL); --check-config stops there. Exit statuses: 0 a clean
 * stop (or what was asked was printed), 1 the process could not start or
 * run (a port in use, Kafka or Redis unreachable at start), 2 a
 * configuration or usage error, whichever check found it.
 *
 * Stop: the signal thread raises `stopping` (start-up steps poll it and
 * unwind), makes /readyz answer 503 and, once serving, waits --drain-delay
 * while clients are still served; then it waits for the start-up thread,
 * stops consuming (the record in flight is finished and stored offsets are
 * committed), closes clients with a reconnect hint and ends the loop; main
 * frees everything and exits 0. On SIGHUP the same thread re-reads the JWT
 * key files into a new verifier and hands it to the gateway, keeping the
 * old keys when that fails.
 *
 * Shutdown is bounded: from the signal (and the drain delay), the process
 * exits within SHUTDOWN_BOUND_MS whatever Kafka and Redis do. The consumer's group close
 * gets CONSUMER_CLOSE_MS of it and is abandoned after that (consumer.h); a
 * watchdog thread, armed by the signal, logs what the shutdown was still
 * waiting for when the bound passes and ends the process with status 0:
 * nothing is lost, the records handed over since the last commit are
 * delivered again and deduplicated by eventId.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "consumer/broker.h"
#include "consumer/catalog.h"
#include "consumer/codec.h"
#include "consumer/consumer.h"
#include "consumer/demo.h"
#include "consumer/kafka_conf.h"
#include "consumer/rebuild.h"
#include "consumer/registry.h"
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/gateway.h"
#include "gateway/roomcast/membership.h"
#include "gateway/server/listen.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/errstr.h"
#include "core/history.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/redis_url.h"

#ifndef RC_VERSION
#define RC_VERSION "unknown"
#endif
#ifndef RC_AVRO_VERSION
#define RC_AVRO_VERSION "unknown"
#endif
#ifndef RC_JWT_VERSION
#define RC_JWT_VERSION "unknown"
#endif

#define DEV_SECRET "roomcast-development-secret"
/* Shorter HS256 secrets are warned about (RFC 7518 3.2: at least the
 * hash's size). */
#define MIN_SECRET_BYTES 32
/* Exit statuses (docs/operations.md). */
#define EXIT_START_FAILED 1
#define EXIT_CONFIG 2
#define SHUTDOWN_BOUND_MS 10000 /* from SIGTERM (and the drain) to exit, whatever the neighbours do */
#define CONSUMER_CLOSE_MS 5000  /* of which the group close may take */
#define RETRY_MS 1000           /* start-up: between two attempts at an unreachable neighbour */
#define RETRY_LOG_MS 5000       /* start-up: between two log lines about it */

struct app {
    rc_config cfg;
    rc_catalog *cat;
    rc_auth_verifier *auth;
    rc_registry *registry; /* NULL without --schema-registry; made by the check,
                              used by the membership rebuild (start-up thread),
                              then by the consumer thread */
    rc_gateway *gw;
    sigset_t sigs;
    atomic_int stopping;   /* a stop signal arrived (or main asked to stop) */
    atomic_int self_wake;  /* the stop was main's, not a signal's */
    atomic_int draining;   /* stopping, and /readyz says so */
    atomic_int exit_code;  /* what the process exits with */
    int64_t startup_deadline; /* monotonic ms; 0: none */

    /* Written by the start-up thread; read elsewhere only once the flag
     * after them is set (release/acquire through the atomics). */
    rc_history *history;
    rc_broker *broker;   /* NULL unless embedded */
    const char *brokers; /* borrowed: cfg or broker */
    atomic_int have_history;
    rc_consumer *consumer;
    rc_demo *demo;
    atomic_int started; /* start-up finished: consumer and demo running */
    /* The consumer thread's append in flight (sink_start to sink_finish). */
    rc_event *const *sink_evs;            /* borrowed from the consumer */
    size_t sink_n;
    int64_t sink_t0;
    int sink_res[RC_CONSUMER_BATCH_MAX]; /* its results */
    rc_membership *members; /* start-up thread: the table being built */

    pthread_mutex_t mu;    /* guards what follows */
    int have_starter;      /* the start-up thread exists; joined by the signal thread */
    pthread_t starter;
    rc_gateway *gw_reload; /* the gateway once it runs: SIGHUP reloads its
                              keys, the stop stops it */
    char step[256];        /* start-up: what it is doing or waiting for */
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

/* A control message (an operator's disconnect) from any node: the bus
 * thread (redis) or the history's worker (memory). */
static void on_history_control(void *ud, const char *msg, size_t len)
{
    struct app *a = ud;
    if (rc_gateway_control(a->gw, msg, len) < 0)
        LOG_ERROR("main", "out of memory: a control message was dropped");
}

/* The bus may have lost events: make every client reconnect and catch up. */
static void on_history_gap(void *ud)
{
    struct app *a = ud;
    rc_gateway_resync(a->gw);
}

/* Start-up thread: what it does or waits for, for /readyz and the logs. */
static void set_step(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_step(struct app *a, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&a->mu);
    va_start(ap, fmt);
    vsnprintf(a->step, sizeof a->step, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&a->mu);
}

/* Memberships known at start, into the table handed to the gateway. */
static int load_membership(void *ud, const char *user, const char *program)
{
    struct app *a = ud;
    return rc_membership_add(a->members, user, program) < 0 ? -1 : 0;
}

static int replay_membership(void *ud, enum rc_member_op op, const char *user, const char *program)
{
    struct app *a = ud;
    if (op == RC_MEMBER_REMOVE) {
        rc_membership_remove(a->members, user, program);
        return 0;
    }
    return load_membership(a, user, program);
}

/* The consumer's records, in batches, into the history (consumer
 * thread). Each event's append time is the time of the append that took
 * it, from start to finish. */
static void sink_start(void *ud, rc_event *const *evs, size_t n)
{
    struct app *a = ud;
    a->sink_evs = evs;
    a->sink_n = n;
    a->sink_t0 = rc_clock_mono_us();
    rc_history_append_start(a->history, evs, n, a->sink_res);
}

static size_t sink_finish(void *ud)
{
    struct app *a = ud;
    size_t k = rc_history_append_finish(a->history);
    int64_t us = rc_clock_mono_us() - a->sink_t0;
    for (size_t i = 0; i < k; i++) {
        rc_prom_observe(&rc_metrics.append_time, us);
        const char *name = a->sink_evs[i]->name;
        if (a->sink_res[i] == 1)
            rc_counter_inc(&rc_metrics.appended[rc_metrics_event(name)]);
        else
            rc_counter_inc(&rc_metrics.duplicate[rc_metrics_event(name)]);
    }
    if (k < a->sink_n)
        rc_prom_observe(&rc_metrics.append_time, us); /* the refused one */
    return k;
}

static void sink_prepare(void *ud, rc_event *const *evs, size_t n)
{
    struct app *a = ud;
    rc_history_append_prepare(a->history, evs, n);
}

static const rc_consumer_sink consumer_sink = {sink_start, sink_finish, sink_prepare};

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
    int started = atomic_load(&a->started);
    rc_buf_printf(out, "\"started\":%s,", started ? "true" : "false");
    if (!started) {
        pthread_mutex_lock(&a->mu);
        rc_buf_puts(out, "\"startup\":");
        rc_buf_json_string(out, a->step, strlen(a->step));
        pthread_mutex_unlock(&a->mu);
        rc_buf_puts(out, ",");
    }
    rc_buf_printf(out, "\"kafka\":{\"embedded\":%s,\"bootstrap\":",
                  !*a->cfg.kafka_brokers ? "true" : "false");
    const char *bs = started ? a->brokers : *a->cfg.kafka_brokers ? a->cfg.kafka_brokers : NULL;
    if (bs)
        rc_buf_json_string(out, bs, strlen(bs));
    else
        rc_buf_puts(out, "null"); /* the embedded broker is not up yet */
    rc_buf_printf(out, ",\"group\":");
    rc_buf_json_string(out, a->cfg.group_id, strlen(a->cfg.group_id));
    rc_buf_printf(out, ",\"joined\":%s,\"assigned\":%d,\"paused\":%s,\"schema_waits\":%d}",
                  started && rc_consumer_joined(a->consumer) ? "true" : "false",
                  started ? rc_consumer_assigned(a->consumer) : 0,
                  started && rc_consumer_paused(a->consumer) ? "true" : "false",
                  started ? rc_consumer_schema_waits(a->consumer) : 0);
    if (!atomic_load(&a->have_history)) {
        rc_buf_printf(out, ",\"history\":{\"backend\":\"%s\",\"ready\":false}",
                      *a->cfg.redis ? "redis" : "memory");
        return;
    }
    rc_buf_printf(out, ",\"history\":{\"backend\":\"%s\",\"ready\":%s,\"epoch\":",
                  rc_history_backend(a->history), rc_history_ready(a->history) ? "true" : "false");
    const char *epoch = rc_history_epoch(a->history);
    rc_buf_json_string(out, epoch, strlen(epoch));
    rc_buf_puts(out, "}");
}

static int ready(void *ud, rc_buf *why)
{
    struct app *a = ud;
    if (atomic_load(&a->draining)) {
        rc_routes_reason(why, "stopping: draining for %d ms before the stop", a->cfg.drain_delay_ms);
        return 0;
    }
    if (!atomic_load(&a->started)) {
        pthread_mutex_lock(&a->mu);
        rc_routes_reason(why, "starting: %s", a->step);
        pthread_mutex_unlock(&a->mu);
        return 0;
    }
    int ok = 1;
    if (!rc_consumer_joined(a->consumer)) {
        rc_routes_reason(why, "kafka: waiting for the consumer group %s to assign partitions "
                              "(brokers %s)", a->cfg.group_id, a->brokers);
        ok = 0;
    }
    if (!rc_history_ready(a->history)) {
        rc_routes_reason(why, "history: the %s store is unreachable", rc_history_backend(a->history));
        ok = 0;
    }
    if (rc_consumer_paused(a->consumer)) {
        rc_routes_reason(why, "kafka: consumption paused: a record could not be stored; retrying");
        ok = 0;
    }
    return ok;
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

/* Sleeps ms, or less once a stop is requested. 1 when stopping. */
static int nap(struct app *a, int ms)
{
    for (int64_t end = rc_clock_mono_ms() + ms; !atomic_load(&a->stopping);) {
        int64_t left = end - rc_clock_mono_ms();
        if (left <= 0)
            return 0;
        struct timespec ts = {0, (left < 100 ? left : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 1;
}

static void *signal_main(void *arg)
{
    struct app *a = arg;
    int sig = 0;
    while (sigwait(&a->sigs, &sig) == 0 && sig == SIGHUP)
        reload_auth(a);
    int self = atomic_load(&a->self_wake);
    if (!self)
        LOG_INFO("main", "%s received: stopping", strsignal(sig));
    /* The drain: /readyz says 503 while clients are still served, so that
     * load balancers take the node out before it stops. Only once serving:
     * during start-up no client is there to drain. */
    int drain = !self && atomic_load(&a->started) && a->cfg.drain_delay_ms > 0;
    if (drain) {
        atomic_store(&a->draining, 1);
        LOG_INFO("main", "draining for %d ms before the stop (/readyz answers 503)",
                 a->cfg.drain_delay_ms);
        struct timespec ts = {a->cfg.drain_delay_ms / 1000, (a->cfg.drain_delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    arm_watchdog();
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->stopping, 1);
    int have_starter = a->have_starter;
    a->have_starter = 0;
    pthread_mutex_unlock(&a->mu);
    if (have_starter) /* shutdown_step names its step meanwhile */
        pthread_join(a->starter, NULL);
    /* What start-up made, if it got that far (it has ended: no race). */
    shutdown_waits_for("the demo producer");
    rc_demo_destroy(a->demo);
    a->demo = NULL;
    shutdown_waits_for("the consumer's group close");
    rc_consumer_stop(a->consumer);
    shutdown_waits_for("the gateway closing its clients");
    pthread_mutex_lock(&a->mu);
    rc_gateway *gw = a->gw_reload;
    pthread_mutex_unlock(&a->mu);
    if (gw)
        rc_gateway_stop(gw);
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

/* roomcast's version and its libraries', as each reports it (avro-c and
 * libjwt report none: the version the build found). */
static void print_versions(void)
{
    printf("roomcast %s\n", RC_VERSION);
    printf("librdkafka %s\n", rd_kafka_version_str());
    printf("libwebsockets %s\n", lws_get_library_version());
    printf("avro-c %s (build)\n", RC_AVRO_VERSION);
    printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    printf("libjwt %s (build)\n", RC_JWT_VERSION);
    printf("jansson %s\n", jansson_version_str());
    printf("libuv %s\n", uv_version_string());
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
}

static int has(const char *s)
{
    return s && s[0];
}

/* The JWT keys: none at all is an error, except with --demo. */
static int setup_auth(struct app *a, char *err, size_t errlen)
{
    rc_config *cfg = &a->cfg;
    if (!has(cfg->jwt_secret) && !has(cfg->jwt_public_key) && !has(cfg->jwt_jwks)) {
        if (!cfg->demo)
            return rc_errf(err, errlen,
                           "no JWT key: set --jwt-secret-file PATH or ROOMCAST_JWT_SECRET "
                           "(HS256; --jwt-secret on the command line works but every local "
                           "user can read it), --jwt-public-key or --jwt-jwks with --jwt-alg "
                           "RS256/ES256, or run with --demo for a development secret");
        if (strcmp(cfg->jwt_alg, "HS256") != 0)
            return rc_errf(err, errlen,
                           "--demo signs its tokens with HS256, but --jwt-alg is %s and no "
                           "key is set: set --jwt-public-key or --jwt-jwks, or leave "
                           "--jwt-alg at HS256",
                           cfg->jwt_alg);
        LOG_WARN("main", "demo mode without a JWT key: using the public development "
                         "secret; never do this in production");
        free(cfg->jwt_secret);
        cfg->jwt_secret = strdup(DEV_SECRET);
        if (!cfg->jwt_secret)
            return rc_errf(err, errlen, "out of memory");
    } else if (!strcmp(cfg->jwt_alg, "HS256") && has(cfg->jwt_secret) &&
               strlen(cfg->jwt_secret) < MIN_SECRET_BYTES) {
        LOG_WARN("main",
                 "the HS256 secret is %zu bytes long, shorter than %d: a short secret can be "
                 "guessed offline from any token; use at least %d random bytes, e.g. "
                 "`openssl rand -base64 48 > FILE` with --jwt-secret-file FILE",
                 strlen(cfg->jwt_secret), MIN_SECRET_BYTES, MIN_SECRET_BYTES);
    }
    rc_auth_config ac = auth_settings(cfg);
    char aerr[480];
    a->auth = rc_auth_verifier_new(&ac, aerr, sizeof aerr);
    if (!a->auth)
        return rc_errf(err, errlen, "%s", aerr);
    return 0;
}

/*
 * The Schema Registry client, when --schema-registry is set: its options
 * are checked (and a password file read) without connecting. Without it,
 * its other options are a mistake worth saying.
 */
static int setup_registry(struct app *a, char *err, size_t errlen)
{
    const rc_config *cfg = &a->cfg;
    if (!*cfg->schema_registry) {
        const char *stray = *cfg->schema_registry_user       ? "--schema-registry-user"
                            : *cfg->schema_registry_password ? "--schema-registry-password"
                            : *cfg->schema_registry_ca       ? "--schema-registry-ca"
                            : *cfg->schema_registry_cert     ? "--schema-registry-cert"
                            : *cfg->schema_registry_key      ? "--schema-registry-key"
                                                             : NULL;
        if (stray)
            return rc_errf(err, errlen, "%s is set but --schema-registry is not: set the "
                                        "registry's URL, or drop %s", stray, stray);
        return 0;
    }
    rc_registry_opts ro = {.urls = cfg->schema_registry,
                           .user = cfg->schema_registry_user,
                           .password = cfg->schema_registry_password,
                           .ca_file = cfg->schema_registry_ca,
                           .cert_file = cfg->schema_registry_cert,
                           .key_file = cfg->schema_registry_key,
                           .timeout_ms = cfg->schema_registry_timeout_ms,
                           .stop = &a->stopping};
    if (!(a->registry = rc_registry_new(&ro, err, errlen)))
        return -1;
    for (size_t i = 0; i < rc_registry_url_count(a->registry); i++) {
        const char *user = rc_registry_user(a->registry, i);
        LOG_INFO("main", "schema ids the local id map lacks are resolved through %s%s%s",
                 rc_registry_url(a->registry, i), user ? ", basic auth as " : "",
                 user ? user : "");
    }
    return 0;
}

/* The gateway's options, the same for the check and the start. */
static rc_gateway_options gateway_options(struct app *a)
{
    return (rc_gateway_options){
        .server =
            {
                .listen = a->cfg.listen,
                .tls_cert = a->cfg.tls_cert,
                .tls_key = a->cfg.tls_key,
                .ping_interval_ms = a->cfg.ping_interval_ms,
                .ping_timeout_ms = a->cfg.ping_timeout_ms,
                .max_payload = a->cfg.max_payload,
                .queue_max = a->cfg.queue_max,
                .connect_timeout_ms = a->cfg.connect_timeout_ms,
                .cors_origins = a->cfg.cors_origins,
                .max_connections_per_ip = a->cfg.max_connections_per_ip,
                .client_events_per_minute = a->cfg.client_events_per_minute,
                .client_event_burst = a->cfg.client_event_burst,
            },
        .jwt_leeway_s = a->cfg.jwt_leeway_s,
        .auth_grace_ms = a->cfg.auth_grace_ms,
        .max_connections_per_user = a->cfg.max_connections_per_user,
        .recovery_window_ms = a->cfg.recovery_window_ms,
        .demo = a->cfg.demo,
        .demo_secret = demo_secret(&a->cfg),
        .admin_token = a->cfg.admin_token,
        .hooks = {.ud = a, .health = health, .ready = ready},
    };
}

/* Every Kafka client's configuration is built (and dropped): librdkafka
 * checks each property's name and value without connecting. */
static int check_kafka(struct app *a, char *err, size_t errlen)
{
    static const enum rc_kafka_role roles[] = {RC_KAFKA_GROUP, RC_KAFKA_PRODUCER, RC_KAFKA_READER,
                                               RC_KAFKA_BULK};
    rc_kafka_opts ko = {.brokers = *a->cfg.kafka_brokers ? a->cfg.kafka_brokers : "127.0.0.1:9092",
                        .group_id = a->cfg.group_id,
                        .props = a->cfg.kafka_props,
                        .nprops = a->cfg.nkafka_props,
                        .local_broker = !*a->cfg.kafka_brokers};
    char kerr[400];
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        rd_kafka_conf_t *conf = rc_kafka_conf_new(&ko, roles[i], kerr, sizeof kerr);
        if (!conf)
            return rc_errf(err, errlen,
                           "%s (set by -X, ROOMCAST_KAFKA_<PROPERTY> or kafka.* in the config "
                           "file; names and values: librdkafka's CONFIGURATION.md)",
                           kerr);
        rd_kafka_conf_destroy(conf);
    }
    return 0;
}

/*
 * Everything that can be checked without connecting to anything. Leaves
 * the catalog and the token verifier in a for the start; writes a one-line
 * description to summary. -1 with err naming the option and the fix.
 */
static int check_config(struct app *a, char *summary, size_t slen, char *err, size_t errlen)
{
    rc_config *cfg = &a->cfg;
    char e[480];
    if (cfg->embedded_partitions < 1 || cfg->embedded_partitions > 1000)
        return rc_errf(err, errlen, "--embedded-partitions %d: expected 1 to 1000",
                       cfg->embedded_partitions);
    if (cfg->history_max < 1)
        return rc_errf(err, errlen, "--history-max 0: keep at least 1 event per room");
    if (cfg->history_ttl_s < 1)
        return rc_errf(err, errlen, "--history-ttl 0: events must stay replayable for at "
                                    "least 1 second");
    if (cfg->demo && cfg->demo_interval_ms < 10)
        return rc_errf(err, errlen, "--demo-interval-ms %d: expected 10 or more",
                       cfg->demo_interval_ms);
    if (!*cfg->group_id)
        return rc_errf(err, errlen, "--group-id is empty: name the consumer group every node "
                                    "shares (default roomcast)");
    if (!*cfg->dlq_topic)
        return rc_errf(err, errlen, "--dlq-topic is empty: name the topic for records that "
                                    "cannot be decoded (default roomcast.dlq)");

    rc_codec *codec = rc_codec_new(cfg->schemas_dir, e, sizeof e);
    if (!codec)
        return rc_errf(err, errlen, "--schemas-dir %s: %s", cfg->schemas_dir, e);
    rc_codec_destroy(codec);
    if (!(a->cat = rc_catalog_new(cfg->schemas_dir, NULL, e, sizeof e)))
        return rc_errf(err, errlen, "--schemas-dir %s: %s", cfg->schemas_dir, e);
    if (*cfg->topics) {
        rc_catalog_destroy(a->cat);
        if (!(a->cat = rc_catalog_new(cfg->schemas_dir, cfg->topics, e, sizeof e)))
            return rc_errf(err, errlen, "--topics '%s': %s (Record=topic,...; records: see "
                                        "schemas/catalog.json)",
                           cfg->topics, e);
    }
    if (setup_auth(a, err, errlen) < 0 || setup_registry(a, err, errlen) < 0)
        return -1;
    if (check_kafka(a, err, errlen) < 0)
        return -1;
    if (*cfg->redis) {
        rc_redis_url u;
        if (rc_redis_url_parse(cfg->redis, &u, e, sizeof e) < 0)
            return rc_errf(err, errlen, "--redis: %s (redis://[[user]:password@]host[:port][/db]; "
                                        "keep a password in ROOMCAST_REDIS, off the command "
                                        "line)",
                           e);
        rc_redis_url_free(&u);
    }
    gw_listen_addr la;
    if (gw_listen_parse(cfg->listen, &la, e, sizeof e) < 0)
        return rc_errf(err, errlen, "--listen %s", e);
    rc_gateway_options go = gateway_options(a);
    if (gw_server_check(&go.server, e, sizeof e) < 0)
        return rc_errf(err, errlen, "%s", e);

    snprintf(summary, slen,
             "configuration OK: listen %s%s, kafka %s, group %s, %zu topics, history %s, "
             "tokens %s, cors %s, admin API %s%s%s",
             *cfg->tls_cert ? "https://" : "http://", cfg->listen,
             *cfg->kafka_brokers ? cfg->kafka_brokers : "embedded", cfg->group_id,
             rc_catalog_count(a->cat), *cfg->redis ? "redis" : "memory",
             rc_auth_verifier_describe(a->auth),
             *cfg->cors_origins ? cfg->cors_origins : "same-origin only",
             *cfg->admin_token ? "on" : "off", a->registry ? ", schema registry" : "",
             cfg->demo ? ", demo" : "");
    return 0;
}

/* Between start-up steps: a stop signal ends start-up. */
#define STOP_POINT(a)                                                                              \
    do {                                                                                           \
        if (atomic_load(&(a)->stopping))                                                           \
            goto stopped;                                                                          \
    } while (0)

/* Start-up thread: ms left before --startup-timeout (INT_MAX when none). */
static int startup_left(const struct app *a)
{
    if (!a->startup_deadline)
        return INT_MAX;
    int64_t left = a->startup_deadline - rc_clock_mono_ms();
    return left > 0 ? (int)left : 0;
}

/*
 * Start-up thread: the memberships stored in the history (Redis), retried
 * while the store is unreachable. 0, or -1 when stopped or out of time.
 */
static int load_memberships(struct app *a, char *err, size_t errlen)
{
    int64_t next_log = 0;
    for (;;) {
        if (rc_history_memberships(a->history, load_membership, a) == 0)
            return 0;
        rc_membership_destroy(a->members); /* a partial load: start over */
        if (!(a->members = rc_membership_new()))
            return rc_errf(err, errlen, "out of memory");
        set_step(a, "loading the memberships: the history store (%s) is unreachable; retrying",
                 rc_history_backend(a->history));
        if (rc_clock_mono_ms() >= next_log) {
            LOG_WARN("main", "start-up: cannot load the memberships, the history store (%s) is "
                             "unreachable; retrying (/readyz answers 503 meanwhile)",
                     rc_history_backend(a->history));
            next_log = rc_clock_mono_ms() + RETRY_LOG_MS;
        }
        int left = startup_left(a);
        if (left == 0)
            return rc_errf(err, errlen,
                           "start-up gave up after --startup-timeout %d ms: the history store "
                           "(%s at %s) is unreachable",
                           a->cfg.startup_timeout_ms, rc_history_backend(a->history),
                           a->cfg.redis);
        if (nap(a, left < RETRY_MS ? left : RETRY_MS))
            return -1;
    }
}

/* Start-up thread: the membership table rebuilt from Kafka (memory). */
static int rebuild_memberships(struct app *a, char *err, size_t errlen)
{
    set_step(a, "rebuilding the memberships from Kafka (%s)", a->brokers);
    rc_rebuild_opts ro = {.schemas_dir = a->cfg.schemas_dir,
                          .kafka = kafka_opts(a),
                          .timeout_ms = startup_left(a),
                          .stop = &a->stopping,
                          .registry = a->registry};
    if (rc_rebuild_memberships(&ro, a->cat, replay_membership, a, err, errlen) >= 0)
        return 0;
    if (a->startup_deadline && startup_left(a) == 0) {
        char why[256];
        rc_errf(why, sizeof why, "%s", err);
        rc_errf(err, errlen, "start-up gave up after --startup-timeout %d ms: %s (Kafka at %s)",
                a->cfg.startup_timeout_ms, why, a->brokers);
    }
    return -1;
}

/*
 * The start-up steps that wait on the neighbours. On failure: logged, the
 * exit code set to 1 and the gateway stopped. On a stop signal: unwinds.
 */
static void *starter_main(void *arg)
{
    struct app *a = arg;
    char err[512] = "";

#define STEP(what)                                                                                 \
    do {                                                                                           \
        if (atomic_load(&a->stopping))                                                             \
            goto stopped;                                                                          \
        shutdown_waits_for(what);                                                                  \
        set_step(a, "%s", what);                                                                   \
    } while (0)

    STEP("the history store's first connection");
    if (*a->cfg.redis)
        a->history = rc_history_new_redis(a->cfg.redis, a->cfg.history_max, a->cfg.history_ttl_s,
                                          err, sizeof err);
    else
        a->history = rc_history_new_memory(a->cfg.history_max, a->cfg.history_ttl_s, err,
                                           sizeof err);
    if (!a->history)
        goto fail;
    atomic_store(&a->have_history, 1);

    if (*a->cfg.kafka_brokers) {
        a->brokers = a->cfg.kafka_brokers;
    } else {
        STEP("the embedded broker's start");
        if (!(a->broker = rc_broker_new(a->cat, a->cfg.dlq_topic, a->cfg.embedded_partitions, err,
                                        sizeof err)))
            goto fail;
        a->brokers = rc_broker_bootstraps(a->broker);
    }

    if (!(a->members = rc_membership_new())) {
        rc_errf(err, sizeof err, "out of memory");
        goto fail;
    }
    /* In memory, memberships died with the last process: the membership
     * topic is their changelog. A stop signal cuts the rebuild short. */
    if (!*a->cfg.redis) {
        STEP("the membership rebuild");
        if (rebuild_memberships(a, err, sizeof err) < 0)
            goto fail;
    }
    STEP("the memberships stored in the history");
    if (load_memberships(a, err, sizeof err) < 0)
        goto fail;

    /* Clients are admitted from here on. */
    STEP("the gateway's opening");
    rc_membership *members = a->members;
    a->members = NULL;
    if (rc_gateway_open(a->gw, a->history, members) < 0) {
        rc_errf(err, sizeof err, "out of memory");
        goto fail;
    }
    rc_history_on_gap(a->history, on_history_gap, a);
    rc_history_on_control(a->history, on_history_control, a);
    rc_history_subscribe(a->history, on_history_event, a);

    STEP("the consumer's start");
    rc_consumer_opts co = {.schemas_dir = a->cfg.schemas_dir,
                           .dlq_topic = a->cfg.dlq_topic,
                           .kafka = kafka_opts(a),
                           .close_timeout_ms = CONSUMER_CLOSE_MS,
                           .registry = a->registry};
    if (!(a->consumer = rc_consumer_new(&co, a->cat, &consumer_sink, a, err, sizeof err)))
        goto fail;
    if (rc_consumer_start(a->consumer) < 0) {
        rc_errf(err, sizeof err, "cannot start the consumer thread");
        goto fail;
    }
    if (a->cfg.demo) {
        STEP("the demo producer's start");
        if (!(a->demo = rc_demo_new(a->brokers, a->cat, a->cfg.schemas_dir,
                                    a->cfg.demo_interval_ms, err, sizeof err)))
            goto fail;
    }
    atomic_store(&a->started, 1);
    set_step(a, "started");
    LOG_INFO("main", "roomcast started on port %d (kafka %s%s, history %s)", rc_gateway_port(a->gw),
             a->broker ? "embedded at " : "", a->brokers, rc_history_backend(a->history));
    return NULL;
#undef STEP

fail:
    if (atomic_load(&a->stopping))
        goto stopped; /* the step failed because it was stopped */
    LOG_ERROR("main", "%s", err);
    fprintf(stderr, "roomcast: %s\n", err);
    atomic_store(&a->exit_code, EXIT_START_FAILED);
    rc_gateway_stop(a->gw);
    return NULL;
stopped:
    LOG_INFO("main", "stopped during start-up, in %s", atomic_load(&shutdown_step));
    return NULL;
}

int main(int argc, char **argv)
{
    struct app a;
    char err[512] = "";
    pthread_t sigthread;
    int have_sigthread = 0;

    memset(&a, 0, sizeof a);
    pthread_mutex_init(&a.mu, NULL);
    atomic_init(&a.exit_code, EXIT_START_FAILED);
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
        else if (crc == RC_CONFIG_VERSION)
            print_versions();
        rc_config_free(&a.cfg);
        return crc < 0 ? EXIT_CONFIG : 0;
    }
    rc_log_set_level(a.cfg.log_level);
    if (a.cfg.cmdline_secrets)
        LOG_WARN("main",
                 "secret given on the command line, where every local user can read it "
                 "(ps, /proc): %s; use --jwt-secret-file or ROOMCAST_JWT_SECRET, "
                 "-X PROPERTY=@FILE or ROOMCAST_KAFKA_<PROPERTY>, "
                 "--schema-registry-password-file or ROOMCAST_SCHEMA_REGISTRY_PASSWORD, and "
                 "--admin-token-file or ROOMCAST_ADMIN_TOKEN",
                 a.cfg.cmdline_secrets);
    if (a.cfg.check_only) {
        char summary[1024];
        int rc = check_config(&a, summary, sizeof summary, err, sizeof err) < 0 ? EXIT_CONFIG : 0;
        if (rc)
            fprintf(stderr, "roomcast: %s\n", err);
        else
            printf("roomcast %s: %s\n", RC_VERSION, summary);
        rc_auth_verifier_unref(a.auth);
        rc_registry_destroy(a.registry);
        rc_catalog_destroy(a.cat);
        rc_config_free(&a.cfg);
        return rc;
    }
    if (a.cfg.startup_timeout_ms > 0)
        a.startup_deadline = rc_clock_mono_ms() + a.cfg.startup_timeout_ms;
    if (pthread_create(&sigthread, NULL, signal_main, &a) != 0) {
        rc_errf(err, sizeof err, "cannot start the signal thread");
        goto fail;
    }
    have_sigthread = 1;

    shutdown_waits_for("the configuration check");
    {
        char summary[1024];
        if (check_config(&a, summary, sizeof summary, err, sizeof err) < 0) {
            atomic_store(&a.exit_code, EXIT_CONFIG);
            goto fail;
        }
        LOG_INFO("main", "roomcast %s, %s", RC_VERSION, summary);
    }
    if (setup_metrics(a.cat, err, sizeof err) < 0)
        goto fail;
    /* A port in use is said in words before anything starts (lws would
     * only log the errno); the configuration is fine, the place is not. */
    {
        gw_listen_addr la;
        char e[400];
        if (gw_listen_parse(a.cfg.listen, &la, e, sizeof e) == 0 &&
            gw_listen_probe(&la, e, sizeof e) != 0) {
            rc_errf(err, sizeof err, "--listen %s: %s", a.cfg.listen, e);
            goto fail;
        }
    }

    rc_gateway_options gopts = gateway_options(&a);
    shutdown_waits_for("the gateway's start");
    if (atomic_load(&a.stopping))
        goto stopped;
    if (!(a.gw = rc_gateway_new(&gopts, a.auth, err, sizeof err)))
        goto fail;
    set_step(&a, "starting");

    /* The rest of start-up runs beside the loop; the signal thread joins it. */
    pthread_mutex_lock(&a.mu);
    if (atomic_load(&a.stopping)) {
        pthread_mutex_unlock(&a.mu);
        goto stopped;
    }
    a.gw_reload = a.gw;
    if (pthread_create(&a.starter, NULL, starter_main, &a) != 0) {
        pthread_mutex_unlock(&a.mu);
        rc_errf(err, sizeof err, "cannot start the start-up thread");
        goto fail;
    }
    a.have_starter = 1;
    atomic_store(&a.exit_code, 0);
    pthread_mutex_unlock(&a.mu);
    rc_gateway_run(a.gw);
    goto done;

fail:
    if (atomic_load(&a.stopping))
        goto stopped; /* the step failed because it was stopped */
    LOG_ERROR("main", "%s", err);
    fprintf(stderr, "roomcast: %s\n", err);
    goto done;
stopped:
    LOG_INFO("main", "stopped during start-up, in %s", atomic_load(&shutdown_step));
    atomic_store(&a.exit_code, 0);
done:
    if (have_sigthread) {
        /* Not stopped by a signal (the loop ended on its own, or start-up
         * failed): wake the thread, which then stops what runs and joins
         * the start-up thread. */
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
    rc_registry_destroy(a.registry);
    shutdown_waits_for("the history store");
    if (a.gw) /* sessions are no longer stored once the history is gone */
        rc_gateway_forget_history(a.gw);
    rc_history_destroy(a.history);
    shutdown_waits_for("the gateway");
    rc_gateway_destroy(a.gw);
    shutdown_waits_for("the embedded broker");
    rc_broker_destroy(a.broker);
    rc_membership_destroy(a.members);
    rc_auth_verifier_unref(a.auth);
    rc_catalog_destroy(a.cat);
    rc_config_free(&a.cfg);
    pthread_mutex_destroy(&a.mu);
    int rc = atomic_load(&a.exit_code);
    if (rc == 0)
        LOG_INFO("main", "bye");
    return rc;
}
