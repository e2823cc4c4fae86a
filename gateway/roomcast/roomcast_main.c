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
 * Before anything starts, the whole configuration is checked without
 * connecting anywhere (check_config: values, combinations, key, secret and
 * TLS files, schemas and catalog, Kafka properties, the listen address,
 * the Redis URL); --check-config stops there. Exit statuses: 0 a clean
 * stop (or what was asked was printed), 1 the process could not start or
 * run (a port in use, Kafka or Redis unreachable at start), 2 a
 * configuration or usage error, whichever check found it.
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
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
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
#include "gateway/roomcast/auth.h"
#include "gateway/roomcast/gateway.h"
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
    if (setup_auth(a, err, errlen) < 0)
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
             "tokens %s, cors %s%s",
             *cfg->tls_cert ? "https://" : "http://", cfg->listen,
             *cfg->kafka_brokers ? cfg->kafka_brokers : "embedded", cfg->group_id,
             rc_catalog_count(a->cat), *cfg->redis ? "redis" : "memory",
             rc_auth_verifier_describe(a->auth),
             *cfg->cors_origins ? cfg->cors_origins : "same-origin only",
             cfg->demo ? ", demo" : "");
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
    int rc = EXIT_START_FAILED, have_sigthread = 0;

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
        else if (crc == RC_CONFIG_VERSION)
            print_versions();
        rc_config_free(&a.cfg);
        return crc < 0 ? EXIT_CONFIG : 0;
    }
    rc_log_set_level(a.cfg.log_level);
    if (a.cfg.cmdline_secrets)
        LOG_WARN("main",
                 "secret given on the command line, where every local user can read it "
                 "(ps, /proc): %s; use --jwt-secret-file or ROOMCAST_JWT_SECRET, and "
                 "-X PROPERTY=@FILE or ROOMCAST_KAFKA_<PROPERTY>",
                 a.cfg.cmdline_secrets);
    if (a.cfg.check_only) {
        char summary[1024];
        rc = check_config(&a, summary, sizeof summary, err, sizeof err) < 0 ? EXIT_CONFIG : 0;
        if (rc)
            fprintf(stderr, "roomcast: %s\n", err);
        else
            printf("roomcast %s: %s\n", RC_VERSION, summary);
        rc_auth_verifier_unref(a.auth);
        rc_catalog_destroy(a.cat);
        rc_config_free(&a.cfg);
        return rc;
    }
    if (pthread_create(&sigthread, NULL, signal_main, &a) != 0) {
        rc_errf(err, sizeof err, "cannot start the signal thread");
        goto fail;
    }
    have_sigthread = 1;

    shutdown_waits_for("the configuration check");
    {
        char summary[1024];
        if (check_config(&a, summary, sizeof summary, err, sizeof err) < 0) {
            rc = EXIT_CONFIG;
            goto fail;
        }
        LOG_INFO("main", "roomcast %s, %s", RC_VERSION, summary);
    }
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

    rc_gateway_options gopts = gateway_options(&a);
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
