/*
 * config.h - the one configuration table.
 *
 * Every setting is a row (name, type, default, description) in config.c.
 * The same table parses flags (--name VALUE or --name=VALUE), ROOMCAST_*
 * environment variables (name upper-cased, '-' and '.' as '_'), and an
 * optional config file of "name = value" lines; it prints --help and
 * generates docs/configuration.md. Precedence: flags > environment > file >
 * default. Keys "kafka.<property>" (file, or -X/--kafka PROP=VALUE) pass
 * through to librdkafka unchanged.
 */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "kv.h"

typedef struct rc_config {
    /* service */
    char *listen;             /* HOST:PORT of the HTTP/WebSocket listener */
    char *log_level;
    char *config_file;
    char *schemas_dir;
    int demo;                 /* run the demo producer and demo token route */
    int demo_interval_ms;
    int startup_timeout_ms; /* 0: start-up waits for its neighbours for ever */
    int drain_delay_ms;     /* from a stop signal to the stop */

    /* kafka */
    char *kafka_brokers;      /* "" = embedded broker */
    char *group_id;
    char *topics;             /* "Record=topic,..." overrides of the catalog */
    char *dlq_topic;
    int embedded_partitions;
    rc_kv *kafka_props;       /* kafka.* pass-through, owned (keys and values too) */
    size_t nkafka_props;

    /* history */
    char *redis;              /* "" = in-memory history and bus */
    int history_max;          /* events kept per room */
    int history_ttl_s;        /* seconds an event stays replayable */

    /* auth */
    char *jwt_secret;
    char *jwt_alg;
    char *jwt_public_key;     /* comma-separated PEM files */
    char *jwt_jwks;           /* JWKS file */
    char *jwt_issuer;
    char *jwt_audience;
    int jwt_leeway_s;
    int auth_grace_ms;        /* after token expiry, before disconnect */

    /* gateway */
    int ping_interval_ms;
    int ping_timeout_ms;
    long max_payload;
    int connect_timeout_ms;
    int queue_max;            /* frames queued per connection before it is cut */
    char *cors_origins;       /* comma-separated allow-list, "*" for any */
    int client_events_per_minute; /* token bucket rate per socket */
    int client_event_burst;   /* token bucket size */
    int max_connections_per_ip;   /* 0 = unlimited */
    int max_connections_per_user; /* 0 = unlimited */
    int recovery_window_ms;   /* connection state recovery window */
    char *tls_cert;           /* "" = plain HTTP */
    char *tls_key;
} rc_config;

/*
 * Fills cfg from defaults, the config file, environment and argv, in that
 * order of increasing precedence. Returns 0, 1 when --help or --config-docs
 * printed something and the process should exit 0, or -1 with errstr set.
 */
int rc_config_load(rc_config *cfg, int argc, char **argv, char *errstr,
                   size_t errlen);
void rc_config_free(rc_config *cfg);

/* Writes the --help text, or the Markdown reference, to f. */
void rc_config_print_help(FILE *f, const char *argv0);
void rc_config_print_markdown(FILE *f);

#endif
