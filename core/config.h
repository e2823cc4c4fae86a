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

    /* schema registry */
    char *schema_registry;    /* comma-separated base URLs, "" = local id map only */
    char *schema_registry_user;
    char *schema_registry_password; /* after rc_config_load: from the flag,
                                       its environment variable or the file */
    char *schema_registry_password_file;
    char *schema_registry_ca;
    char *schema_registry_cert;
    char *schema_registry_key;
    int schema_registry_timeout_ms;

    /* history */
    char *redis;              /* "" = in-memory history and bus */
    int history_max;          /* events kept per room */
    int history_ttl_s;        /* seconds an event stays replayable */

    /* auth */
    char *jwt_secret;         /* after rc_config_load: from --jwt-secret,
                                 its environment variable or the file */
    char *jwt_secret_file;
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
    char *cors_origins;       /* comma-separated allow-list, "*" for any
                                 origin without credentials, "" same-origin */
    int client_events_per_minute; /* token bucket rate per socket */
    int client_event_burst;   /* token bucket size */
    int max_connections_per_ip;   /* 0 = unlimited */
    int max_connections_per_user; /* 0 = unlimited */
    int recovery_window_ms;   /* connection state recovery window */
    char *tls_cert;           /* "" = plain HTTP */
    char *tls_key;

    /* admin */
    char *admin_token;        /* after rc_config_load: from --admin-token,
                                 its environment variable or the file; ""
                                 = no admin API */
    char *admin_token_file;

    /* Not settings: what the command line asked for and noticed. */
    int check_only;           /* --check-config: validate, report, exit */
    char *cmdline_secrets;    /* owned: secrets given as flags, for a
                                 warning ("--jwt-secret, -X sasl.password",
                                 "--schema-registry-password");
                                 NULL when none */
} rc_config;

/* rc_config_load's results besides 0 and -1. */
#define RC_CONFIG_PRINTED 1 /* --help or --config-docs printed: exit 0 */
#define RC_CONFIG_VERSION 2 /* --version asked: the program prints it */

/*
 * Fills cfg from defaults, the config file, environment and argv, in that
 * order of increasing precedence, then settles what depends on several
 * sources: --jwt-secret-file is read into jwt_secret (and excludes
 * --jwt-secret), --schema-registry-password-file into
 * schema_registry_password (and excludes --schema-registry-password),
 * --admin-token-file into admin_token (and excludes --admin-token), and an
 * admin token is checked (16 to 4096 printable characters, no spaces).
 * Kafka properties come, in increasing precedence, from
 * kafka.* lines of the file, ROOMCAST_KAFKA_<PROPERTY> variables (property
 * upper-cased, '.' as '_': ROOMCAST_KAFKA_SASL_PASSWORD is sasl.password;
 * the variables of the table's own options, ROOMCAST_KAFKA_BROKERS, are
 * not properties) and -X/--kafka. A -X or file value "@PATH" is read from
 * the file PATH (one trailing newline stripped). Returns 0,
 * RC_CONFIG_PRINTED, RC_CONFIG_VERSION, or -1 with errstr set: one line
 * naming the option (and where it was set) and the fix, never a secret's
 * value. Reads the process environment and files: start-up only.
 */
int rc_config_load(rc_config *cfg, int argc, char **argv, char *errstr,
                   size_t errlen);
void rc_config_free(rc_config *cfg);

/*
 * For programs with flags of their own (roomcast-produce), the Kafka
 * properties alone, into cfg->kafka_props (cfg zeroed first, freed with
 * rc_config_free): the ROOMCAST_KAFKA_* variables, then each -X argument
 * "PROPERTY=VALUE" or "PROPERTY=@FILE" (origin names the flag in errors);
 * a later one replaces an earlier one. 0, or -1 with errstr set.
 */
int rc_config_kafka_env(rc_config *cfg, char *errstr, size_t errlen);
int rc_config_kafka_arg(rc_config *cfg, const char *arg, const char *origin, char *errstr,
                        size_t errlen);

/* 1 when the librdkafka property name holds a secret (sasl.password,
 * ssl.key.password, ssl.key.pem, *secret*, sasl.jaas.config...): its value
 * is never printed. */
int rc_config_secret_property(const char *name);

/* Writes the --help text, or the Markdown reference, to f. */
void rc_config_print_help(FILE *f, const char *argv0);
void rc_config_print_markdown(FILE *f);

#endif
