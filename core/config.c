/*
 * config.c - the configuration table and its parsers.
 *
 * Implementation notes: values are parsed into the rc_config struct through
 * offsetof, so adding a setting is one row here plus one field in config.h.
 * Strings are always heap copies owned by the config, so a later source
 * (flag over env over file) frees the earlier value.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errstr.h"
#include "file.h"

#ifndef RC_DEFAULT_SCHEMAS_DIR
#define RC_DEFAULT_SCHEMAS_DIR "schemas"
#endif

enum opt_type { OPT_STR, OPT_INT, OPT_LONG, OPT_BOOL };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    const char *def;
    const char *section;
    const char *help;
};

#define O(f) offsetof(rc_config, f)

static const struct opt opts[] = {
    {"listen", OPT_STR, O(listen), "0.0.0.0:8080", "Service",
     "HOST:PORT for HTTP, Socket.IO (WebSocket and long-polling), /healthz, "
     "/readyz, /metrics and the live page"},
    {"log-level", OPT_STR, O(log_level), "info", "Service",
     "debug, info, warn or error; logs are JSON lines on stderr"},
    {"config", OPT_STR, O(config_file), "", "Service",
     "optional file of `name = value` lines (same names as the flags; "
     "`kafka.*` keys pass through to librdkafka)"},
    {"schemas-dir", OPT_STR, O(schemas_dir), RC_DEFAULT_SCHEMAS_DIR, "Service",
     "directory holding the Avro schemas, their older versions, the schema id "
     "map and the event catalog (default: the build's schemas/, or the "
     "installed copy)"},
    {"demo", OPT_BOOL, O(demo), "false", "Service",
     "produce plausible demo mutations and serve demo tokens at /demo/token"},
    {"demo-interval-ms", OPT_INT, O(demo_interval_ms), "1500", "Service",
     "pause between two demo records"},
    {"startup-timeout", OPT_INT, O(startup_timeout_ms), "0", "Service",
     "ms start-up may wait for Kafka and the history store before giving up "
     "(exit 1, naming what is unreachable); 0 waits for ever, /readyz saying why"},
    {"drain-delay", OPT_INT, O(drain_delay_ms), "0", "Service",
     "ms between a stop signal and the stop itself: /readyz answers 503 at "
     "once while clients are still served, so load balancers can take the "
     "node out first"},

    {"kafka-brokers", OPT_STR, O(kafka_brokers), "", "Kafka",
     "bootstrap servers; empty runs an embedded Kafka-protocol broker "
     "in-process and reports its address in the log and /healthz"},
    {"group-id", OPT_STR, O(group_id), "roomcast", "Kafka",
     "consumer group shared by every roomcast node"},
    {"topics", OPT_STR, O(topics), "", "Kafka",
     "topic overrides, `Record=topic,...` (e.g. "
     "`RequestMutation=prod.requests`); unnamed records use the catalog's "
     "default topic"},
    {"dlq-topic", OPT_STR, O(dlq_topic), "roomcast.dlq", "Kafka",
     "topic receiving records that cannot be decoded or mapped"},
    {"embedded-partitions", OPT_INT, O(embedded_partitions), "3", "Kafka",
     "partitions per topic on the embedded broker"},

    {"schema-registry", OPT_STR, O(schema_registry), "", "Schema Registry",
     "Confluent Schema Registry base URL(s), `http://` or `https://`, "
     "comma-separated to try in turn: Confluent-framed records whose schema id "
     "the local id map (schemas/registry.json) lacks are resolved there "
     "(`GET /schemas/ids/{id}`). `user:password@` in a URL is accepted and "
     "redacted in logs. Empty: the local id map only"},
    {"schema-registry-user", OPT_STR, O(schema_registry_user), "", "Schema Registry",
     "basic auth user name for the registry; with --schema-registry-password "
     "or --schema-registry-password-file"},
    {"schema-registry-password", OPT_STR, O(schema_registry_password), "",
     "Schema Registry",
     "basic auth password for the registry; give it through the environment "
     "or --schema-registry-password-file, never as a flag (every local user "
     "sees a command line)"},
    {"schema-registry-password-file", OPT_STR, O(schema_registry_password_file), "",
     "Schema Registry",
     "file holding the registry password (one trailing newline is stripped; "
     "e.g. a systemd credential or a Kubernetes secret volume); excludes "
     "--schema-registry-password; read at start-up"},
    {"schema-registry-ca", OPT_STR, O(schema_registry_ca), "", "Schema Registry",
     "PEM CA certificate(s) that verify an https registry (default: the "
     "system's CA store); the registry's certificate and host name are always "
     "verified"},
    {"schema-registry-cert", OPT_STR, O(schema_registry_cert), "", "Schema Registry",
     "PEM client certificate for a registry that asks for one (mutual TLS)"},
    {"schema-registry-key", OPT_STR, O(schema_registry_key), "", "Schema Registry",
     "PEM private key for --schema-registry-cert"},
    {"schema-registry-timeout", OPT_INT, O(schema_registry_timeout_ms), "5000",
     "Schema Registry",
     "milliseconds one registry request may take, connecting included; a "
     "registry that does not answer in time counts as unavailable (the "
     "record's partition waits)"},

    {"redis", OPT_STR, O(redis), "", "History",
     "redis://host:port/db for shared history, membership and the bus; empty "
     "keeps them in memory (single node)"},
    {"history-max", OPT_INT, O(history_max), "1000", "History",
     "events kept per room for catch-up"},
    {"history-ttl", OPT_INT, O(history_ttl_s), "600", "History",
     "seconds an event stays replayable"},

    {"jwt-secret", OPT_STR, O(jwt_secret), "", "Auth",
     "HS256 shared secret, at least 32 bytes; give it through the environment "
     "or --jwt-secret-file, never as a flag (every local user sees a command "
     "line); with --demo and no key, a public development secret is used and "
     "a warning logged"},
    {"jwt-secret-file", OPT_STR, O(jwt_secret_file), "", "Auth",
     "file holding the HS256 secret (one trailing newline is stripped; e.g. "
     "a systemd credential or a Kubernetes secret volume); excludes "
     "--jwt-secret; read at start-up"},
    {"jwt-alg", OPT_STR, O(jwt_alg), "HS256", "Auth",
     "accepted algorithm(s): HS256, or RS256 and/or ES256 (comma-separated); "
     "a token naming any other algorithm is refused"},
    {"jwt-public-key", OPT_STR, O(jwt_public_key), "", "Auth",
     "PEM public key file(s) for RS256/ES256, comma-separated for rotation; "
     "a key's kid is its file name without directory and extension"},
    {"jwt-jwks", OPT_STR, O(jwt_jwks), "", "Auth",
     "JSON Web Key Set file (as Auth0 or Keycloak publish); keys selected by "
     "kid; reloaded with the other keys on SIGHUP"},
    {"jwt-issuer", OPT_STR, O(jwt_issuer), "", "Auth",
     "required `iss` claim when set"},
    {"jwt-audience", OPT_STR, O(jwt_audience), "", "Auth",
     "required `aud` claim when set"},
    {"jwt-leeway", OPT_INT, O(jwt_leeway_s), "30", "Auth",
     "seconds of clock skew tolerated on exp and nbf"},
    {"auth-grace", OPT_INT, O(auth_grace_ms), "30000", "Auth",
     "milliseconds a socket whose token expired has to send auth:refresh "
     "with a new token before it is disconnected"},

    {"ping-interval", OPT_INT, O(ping_interval_ms), "25000", "Gateway",
     "Engine.IO pingInterval in milliseconds"},
    {"ping-timeout", OPT_INT, O(ping_timeout_ms), "20000", "Gateway",
     "Engine.IO pingTimeout in milliseconds"},
    {"max-payload", OPT_LONG, O(max_payload), "1000000", "Gateway",
     "largest Engine.IO packet or HTTP body accepted from a client, bytes"},
    {"connect-timeout", OPT_INT, O(connect_timeout_ms), "45000", "Gateway",
     "milliseconds a client has to send its Socket.IO CONNECT"},
    {"queue-max", OPT_INT, O(queue_max), "1024", "Gateway",
     "frames queued for one connection before it is disconnected as too slow"},
    {"cors-origins", OPT_STR, O(cors_origins), "", "Gateway",
     "origins of other sites whose pages may connect (polling and "
     "WebSocket), comma-separated, e.g. `https://app.example.com`: each is "
     "answered with its own origin and credentials allowed; `*` lets any "
     "origin in without credentials; empty: same-origin pages only, no CORS "
     "headers (docs/protocol.md)"},
    {"client-events-per-minute", OPT_INT, O(client_events_per_minute), "100",
     "Gateway",
     "events a socket may emit per minute (token bucket); more are refused "
     "with RATE_LIMITED, and a socket that keeps flooding is disconnected"},
    {"client-event-burst", OPT_INT, O(client_event_burst), "20", "Gateway",
     "events a socket may emit at once before the per-minute rate applies"},
    {"max-connections-per-ip", OPT_INT, O(max_connections_per_ip), "100",
     "Gateway", "open Engine.IO sessions per client address, 0 for no limit"},
    {"max-connections-per-user", OPT_INT, O(max_connections_per_user), "20",
     "Gateway", "connected sockets per user (JWT sub), 0 for no limit"},
    {"recovery-window", OPT_INT, O(recovery_window_ms), "120000", "Gateway",
     "milliseconds a disconnected socket's session is kept for Socket.IO "
     "connection state recovery (socket.io's maxDisconnectionDuration); 0 "
     "turns recovery off (no pid is given)"},
    {"tls-cert", OPT_STR, O(tls_cert), "", "Gateway",
     "PEM certificate (chain) file: serve HTTPS and WSS instead of HTTP and WS"},
    {"tls-key", OPT_STR, O(tls_key), "", "Gateway",
     "PEM private key file for --tls-cert"},

    {"admin-token", OPT_STR, O(admin_token), "", "Admin",
     "bearer token of the admin API under `/admin/` (docs/operations.md), "
     "16 to 4096 printable characters without spaces, e.g. `openssl rand "
     "-hex 32`; not a client JWT; empty: no admin API (404). Give it "
     "through the environment or --admin-token-file, never as a flag"},
    {"admin-token-file", OPT_STR, O(admin_token_file), "", "Admin",
     "file holding the admin token (one trailing newline is stripped); "
     "excludes --admin-token; read at start-up"},
};

#define NOPTS (sizeof opts / sizeof opts[0])

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int set_value(rc_config *cfg, const struct opt *o, const char *v,
                     const char *origin, char *errstr, size_t errlen)
{
    char *base = (char *)cfg;
    char *end;
    switch (o->type) {
    case OPT_STR: {
        char **dst = (char **)(base + o->off);
        char *copy = strdup(v);
        if (!copy) {
            rc_errf(errstr, errlen, "out of memory");
            return -1;
        }
        free(*dst);
        *dst = copy;
        return 0;
    }
    case OPT_INT:
    case OPT_LONG: {
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 0 ||
            (o->type == OPT_INT && n > INT_MAX)) {
            rc_errf(errstr, errlen, "%s: --%s expects a non-negative integer, got '%s'",
                    origin, o->name, v);
            return -1;
        }
        if (o->type == OPT_INT)
            *(int *)(base + o->off) = (int)n;
        else
            *(long *)(base + o->off) = n;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") ||
            !strcmp(v, "on")) {
            *(int *)(base + o->off) = 1;
        } else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") ||
                   !strcmp(v, "off")) {
            *(int *)(base + o->off) = 0;
        } else {
            rc_errf(errstr, errlen, "%s: --%s expects true or false, got '%s'",
                    origin, o->name, v);
            return -1;
        }
        return 0;
    }
    return -1;
}

static int add_kafka_prop(rc_config *cfg, const char *kv, size_t keylen,
                          const char *value, char *errstr, size_t errlen)
{
    for (size_t i = 0; i < cfg->nkafka_props; i++) {
        if (strlen(cfg->kafka_props[i].key) == keylen &&
            !memcmp(cfg->kafka_props[i].key, kv, keylen)) {
            char *v = strdup(value);
            if (!v)
                goto oom;
            free(cfg->kafka_props[i].value);
            cfg->kafka_props[i].value = v;
            return 0;
        }
    }
    rc_kv *p = realloc(cfg->kafka_props, (cfg->nkafka_props + 1) * sizeof *p);
    if (!p)
        goto oom;
    cfg->kafka_props = p;
    p[cfg->nkafka_props].key = strndup(kv, keylen);
    p[cfg->nkafka_props].value = strdup(value);
    if (!p[cfg->nkafka_props].key || !p[cfg->nkafka_props].value) {
        free(p[cfg->nkafka_props].key);
        free(p[cfg->nkafka_props].value);
        goto oom;
    }
    cfg->nkafka_props++;
    return 0;
oom:
    rc_errf(errstr, errlen, "out of memory");
    return -1;
}

static void env_name(const struct opt *o, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "ROOMCAST_");
    for (const char *s = o->name; *s && n + 1 < cap; s++)
        buf[n++] = (*s == '-' || *s == '.') ? '_' : (char)toupper((unsigned char)*s);
    buf[n] = '\0';
}

/* Longest value read from a -X PROPERTY=@FILE file. */
#define KAFKA_VALUE_FILE_MAX (64 * 1024)
/* Longest HS256 secret read from --jwt-secret-file. */
#define SECRET_FILE_MAX (64 * 1024)
/* Bounds of an admin token: long enough not to be guessed, short enough
 * for an Authorization header. */
#define ADMIN_TOKEN_MIN 16
#define ADMIN_TOKEN_MAX 4096

int rc_config_secret_property(const char *name)
{
    static const char *const parts[] = {"password", "secret", ".key.pem", "jaas",
                                        "oauthbearer.config"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(name, parts[i]))
            return 1;
    return 0;
}

/* Strips one trailing "\n" or "\r\n" (what editors and echo add). */
static void strip_newline(char *s, size_t *len)
{
    if (*len && s[*len - 1] == '\n')
        s[--*len] = '\0';
    if (*len && s[*len - 1] == '\r')
        s[--*len] = '\0';
}

/* Appends "what" to the comma-separated list of secrets given as flags. */
static int note_cmdline_secret(rc_config *cfg, const char *what, size_t len)
{
    size_t have = cfg->cmdline_secrets ? strlen(cfg->cmdline_secrets) : 0;
    char *p = realloc(cfg->cmdline_secrets, have + len + 3);
    if (!p)
        return -1;
    if (have)
        memcpy(p + have, ", ", 2), have += 2;
    memcpy(p + have, what, len);
    p[have + len] = '\0';
    cfg->cmdline_secrets = p;
    return 0;
}

/*
 * Sets kafka property key (keylen bytes) from value as written in origin:
 * "@PATH" is read from the file PATH. Error messages name the property,
 * never the value.
 */
static int set_kafka_value(rc_config *cfg, const char *key, size_t keylen,
                           const char *value, const char *origin,
                           char *errstr, size_t errlen)
{
    if (value[0] != '@')
        return add_kafka_prop(cfg, key, keylen, value, errstr, errlen);
    char what[160], err[512];
    size_t len;
    snprintf(what, sizeof what, "kafka property %.*s", (int)keylen, key);
    char *text = rc_file_read(value + 1, what, KAFKA_VALUE_FILE_MAX, &len, err,
                              sizeof err);
    if (!text)
        return rc_errf(errstr, errlen, "%s: %s (PROPERTY=@FILE reads the value "
                       "from FILE: check the path and its permissions)",
                       origin, err);
    strip_newline(text, &len);
    int rc = 0;
    if (strlen(text) != len)
        rc = rc_errf(errstr, errlen, "%s: the file of kafka property %.*s (%s) "
                     "holds a NUL byte: it must be text", origin, (int)keylen,
                     key, value + 1);
    else
        rc = add_kafka_prop(cfg, key, keylen, text, errstr, errlen);
    memset(text, 0, len);
    free(text);
    return rc;
}

/* "prop=value" from -X / --kafka. */
static int parse_kafka_assignment(rc_config *cfg, const char *arg,
                                  const char *origin, char *errstr,
                                  size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        /* The argument is not echoed: it may be a secret. */
        rc_errf(errstr, errlen, "%s: expected PROPERTY=VALUE (e.g. -X "
                "security.protocol=SASL_SSL, or PROPERTY=@FILE to read the "
                "value from a file)", origin);
        return -1;
    }
    const char *key = arg;
    size_t keylen = (size_t)(eq - arg);
    if (keylen > 6 && !strncmp(key, "kafka.", 6)) {
        key += 6;
        keylen -= 6;
    }
    char note[200];
    int n = snprintf(note, sizeof note, "%s %.*s", origin, (int)keylen, key);
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)keylen, key);
    if (eq[1] != '@' && rc_config_secret_property(name) && n > 0 &&
        note_cmdline_secret(cfg, note, (size_t)n < sizeof note ? (size_t)n : sizeof note - 1) < 0)
        return rc_errf(errstr, errlen, "out of memory");
    return set_kafka_value(cfg, key, keylen, eq + 1, origin, errstr, errlen);
}

/*
 * ROOMCAST_KAFKA_<PROPERTY> variables: the property lower-cased, '_' as
 * '.'. The variables of the table's own options are theirs.
 */
static int load_kafka_env(rc_config *cfg, char *errstr, size_t errlen)
{
    static const char prefix[] = "ROOMCAST_KAFKA_";
    char name[128], prop[128];
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t nlen = eq ? (size_t)(eq - *e) : 0;
        if (!eq || nlen <= sizeof prefix - 1 || strncmp(*e, prefix, sizeof prefix - 1) != 0)
            continue;
        int own = 0;
        for (size_t i = 0; i < NOPTS && !own; i++) {
            env_name(&opts[i], name, sizeof name);
            own = strlen(name) == nlen && !strncmp(name, *e, nlen);
        }
        if (own)
            continue;
        size_t plen = nlen - (sizeof prefix - 1);
        if (plen >= sizeof prop)
            return rc_errf(errstr, errlen, "%.*s: name too long for a librdkafka "
                           "property", (int)nlen, *e);
        for (size_t i = 0; i < plen; i++) {
            char c = (*e)[sizeof prefix - 1 + i];
            prop[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        if (add_kafka_prop(cfg, prop, plen, eq + 1, errstr, errlen) < 0)
            return -1;
    }
    return 0;
}

int rc_config_kafka_env(rc_config *cfg, char *errstr, size_t errlen)
{
    return load_kafka_env(cfg, errstr, errlen);
}

int rc_config_kafka_arg(rc_config *cfg, const char *arg, const char *origin, char *errstr,
                        size_t errlen)
{
    return parse_kafka_assignment(cfg, arg, origin, errstr, errlen);
}

/*
 * The secret of option name from --name-file (file: its path, "" when
 * unset) into *value, which the file excludes; what names the secret in
 * messages.
 */
static int secret_file(char **value, const char *file, const char *name, const char *what,
                       char *errstr, size_t errlen)
{
    if (!file[0])
        return 0;
    if ((*value)[0])
        return rc_errf(errstr, errlen, "--%s and --%s-file are both set: keep one "
                       "(--%s-file keeps the secret out of the environment and the "
                       "command line)", name, name, name);
    size_t len;
    char err[512];
    char *text = rc_file_read(file, name, SECRET_FILE_MAX, &len, err, sizeof err);
    if (!text)
        return rc_errf(errstr, errlen, "--%s-file: %s (check the path and that this "
                       "user may read it)", name, err);
    strip_newline(text, &len);
    if (!len || strlen(text) != len) {
        memset(text, 0, len);
        free(text);
        return rc_errf(errstr, errlen, "--%s-file %s: %s%s%s", name, file,
                       len ? "the secret holds a NUL byte: it must be text"
                           : "the file is empty: write ", len ? "" : what,
                       len ? "" : " in it");
    }
    free(*value);
    *value = text;
    return 0;
}

/*
 * What depends on several sources, once all are read: the secret files,
 * and the values the table cannot check one by one.
 */
/* An admin token travels in an Authorization header and must not be
 * guessable: 16 to 4096 printable ASCII characters, no spaces. */
static int check_admin_token(const char *t, char *errstr, size_t errlen)
{
    size_t n = strlen(t);
    if (!n)
        return 0;
    if (n < ADMIN_TOKEN_MIN || n > ADMIN_TOKEN_MAX)
        return rc_errf(errstr, errlen, "the admin token (--admin-token, ROOMCAST_ADMIN_TOKEN "
                       "or --admin-token-file) is %zu characters long: expected %d to %d; "
                       "make one with `openssl rand -hex 32`",
                       n, ADMIN_TOKEN_MIN, ADMIN_TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return rc_errf(errstr, errlen, "the admin token (--admin-token, "
                           "ROOMCAST_ADMIN_TOKEN or --admin-token-file) holds a space, a "
                           "control or a non-ASCII character at position %zu: it travels in "
                           "an Authorization header; make one with `openssl rand -hex 32`",
                           i + 1);
    return 0;
}

static int settle(rc_config *cfg, char *errstr, size_t errlen)
{
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
        strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error"))
        return rc_errf(errstr, errlen, "--log-level '%s': expected debug, info, "
                       "warn or error", cfg->log_level);
    if (secret_file(&cfg->jwt_secret, cfg->jwt_secret_file, "jwt-secret",
                    "the HS256 secret", errstr, errlen) < 0 ||
        secret_file(&cfg->schema_registry_password, cfg->schema_registry_password_file,
                    "schema-registry-password", "the registry password", errstr,
                    errlen) < 0 ||
        secret_file(&cfg->admin_token, cfg->admin_token_file, "admin-token",
                    "the admin token", errstr, errlen) < 0)
        return -1;
    return check_admin_token(cfg->admin_token, errstr, errlen);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(rc_config *cfg, const char *path, char *errstr,
                     size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        rc_errf(errstr, errlen, "--config %s: cannot open it: %s (check the path, "
                "or unset ROOMCAST_CONFIG)", path, strerror(errno));
        return -1;
    }
    char line[4096], origin[512];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        char *eq = strchr(s, '=');
        if (!eq) {
            rc_errf(errstr, errlen, "%s: expected `name = value`", origin);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (!strncmp(key, "kafka.", 6) && key[6]) {
            if ((rc = set_kafka_value(cfg, key + 6, strlen(key + 6), val, origin,
                                      errstr, errlen)) < 0)
                break;
            continue;
        }
        const struct opt *o = find_opt(key, strlen(key));
        if (!o || o->off == O(config_file)) {
            rc_errf(errstr, errlen, "%s: unknown setting '%s' (names are the flags' "
                    "without --, see --help; kafka.PROPERTY for librdkafka)",
                    origin, key);
            rc = -1;
            break;
        }
        if ((rc = set_value(cfg, o, val, origin, errstr, errlen)) < 0)
            break;
    }
    fclose(f);
    return rc;
}

int rc_config_load(rc_config *cfg, int argc, char **argv, char *errstr,
                   size_t errlen)
{
    char name[128];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < NOPTS; i++)
        if (set_value(cfg, &opts[i], opts[i].def, "default", errstr, errlen) < 0)
            return -1;

    /* First pass over argv: help, version, and where the config file is. */
    const char *file = getenv("ROOMCAST_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-X") || !strcmp(argv[i], "--kafka")) {
            i++; /* a property, whatever it looks like */
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            rc_config_print_help(stdout, argv[0]);
            return RC_CONFIG_PRINTED;
        }
        if (!strcmp(argv[i], "--config-docs")) {
            rc_config_print_markdown(stdout);
            return RC_CONFIG_PRINTED;
        }
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V"))
            return RC_CONFIG_VERSION;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file && *file && load_file(cfg, file, errstr, errlen) < 0)
        return -1;

    for (size_t i = 0; i < NOPTS; i++) {
        env_name(&opts[i], name, sizeof name);
        const char *v = getenv(name);
        if (v && set_value(cfg, &opts[i], v, name, errstr, errlen) < 0)
            return -1;
    }
    if (load_kafka_env(cfg, errstr, errlen) < 0)
        return -1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-X") || !strcmp(a, "--kafka")) {
            if (i + 1 >= argc)
                return rc_errf(errstr, errlen, "%s needs PROPERTY=VALUE (or "
                               "PROPERTY=@FILE)", a);
            if (parse_kafka_assignment(cfg, argv[++i], a, errstr, errlen) < 0)
                return -1;
            continue;
        }
        if (!strcmp(a, "--check-config")) {
            cfg->check_only = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return rc_errf(errstr, errlen, "unexpected argument '%s': options start "
                           "with -- (see --help)", a);
        const char *nm = a + 2, *eq = strchr(nm, '=');
        size_t nlen = eq ? (size_t)(eq - nm) : strlen(nm);
        const struct opt *o = find_opt(nm, nlen);
        if (!o)
            return rc_errf(errstr, errlen, "unknown option '%.*s' (see --help)",
                           (int)(nlen + 2), a);
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == OPT_BOOL)
            v = "true";
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return rc_errf(errstr, errlen, "option --%s needs a value", o->name);
        if (set_value(cfg, o, v, "command line", errstr, errlen) < 0)
            return -1;
        if ((o->off == O(jwt_secret) || o->off == O(schema_registry_password) ||
             o->off == O(admin_token)) && v[0]) {
            char note[96];
            int n = snprintf(note, sizeof note, "--%s", o->name);
            if (note_cmdline_secret(cfg, note, (size_t)n) < 0)
                return rc_errf(errstr, errlen, "out of memory");
        }
    }
    return settle(cfg, errstr, errlen);
}

void rc_config_free(rc_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STR) {
            char **p = (char **)((char *)cfg + opts[i].off);
            free(*p);
            *p = NULL;
        }
    for (size_t i = 0; i < cfg->nkafka_props; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->kafka_props);
    cfg->kafka_props = NULL;
    cfg->nkafka_props = 0;
    free(cfg->cmdline_secrets);
    cfg->cmdline_secrets = NULL;
}

static const char *type_name(enum opt_type t)
{
    switch (t) {
    case OPT_STR: return "string";
    case OPT_INT: return "int";
    case OPT_LONG: return "int";
    case OPT_BOOL: return "bool";
    }
    return "";
}

void rc_config_print_help(FILE *f, const char *argv0)
{
    char env[128];
    const char *section = "";
    fprintf(f,
            "Usage: %s [OPTIONS]\n\n"
            "roomcast consumes Avro mutation records from Kafka and broadcasts "
            "them as\nSocket.IO events to authenticated clients in their "
            "rooms.\n\n"
            "Every option is also read from the environment variable shown, "
            "and from\nthe --config file. Flags win over the environment, "
            "which wins over the file.\n",
            argv0);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(section, o->section)) {
            section = o->section;
            fprintf(f, "\n%s:\n", section);
        }
        env_name(o, env, sizeof env);
        fprintf(f, "  --%s %s\n      %s\n      [env %s] (default: %s)\n", o->name,
                o->type == OPT_BOOL ? "" : (o->type == OPT_STR ? "STR" : "N"),
                o->help, env, *o->def ? o->def : "\"\"");
    }
    fprintf(f, "\nKafka client properties:\n"
               "  -X, --kafka PROPERTY=VALUE\n"
               "      passed to librdkafka as is (security.protocol, sasl.*, "
               "ssl.*,\n      partition.assignment.strategy, ...); repeatable. "
               "In the config\n      file: kafka.PROPERTY = VALUE\n"
               "  -X PROPERTY=@FILE\n"
               "      the value is read from FILE (one trailing newline "
               "stripped): for\n      secrets, which never belong on a "
               "command line\n"
               "  [env ROOMCAST_KAFKA_<PROPERTY>]\n"
               "      the property upper-cased, '.' as '_' "
               "(ROOMCAST_KAFKA_SASL_PASSWORD\n      is sasl.password); "
               "-X wins over the environment, which wins over\n      the "
               "file\n"
               "\nOther:\n"
               "      --check-config  validate the whole configuration "
               "without connecting\n"
               "                      to anything, print one line, exit 0 "
               "(2 on an error)\n"
               "  -V, --version       the versions of roomcast and its "
               "libraries\n"
               "  -h, --help          this text\n"
               "      --config-docs   the configuration reference in "
               "Markdown\n"
               "\nExit status: 0 stopped cleanly (or printed what was asked), "
               "1 could not start\nor run (address in use, Kafka or Redis "
               "unreachable at start), 2 configuration\nor usage error "
               "(docs/operations.md).\n");
}

void rc_config_print_markdown(FILE *f)
{
    char env[128];
    const char *section = "";
    fprintf(f,
            "# Configuration\n\n"
            "<!-- Generated by `roomcast --config-docs` from the configuration "
            "table in core/config.c. Do not edit by hand. -->\n\n"
            "Every setting can be given as a flag (`--name VALUE` or "
            "`--name=VALUE`), as an environment variable, or as a `name = "
            "value` line in the file named by `--config`. Flags win over the "
            "environment, which wins over the file.\n\n"
            "Kafka client properties pass through to librdkafka unchanged: "
            "`-X PROPERTY=VALUE` (or `--kafka PROPERTY=VALUE`) on the command "
            "line, `ROOMCAST_KAFKA_<PROPERTY>` in the environment (the property "
            "upper-cased, dots as underscores: `ROOMCAST_KAFKA_SASL_PASSWORD` "
            "sets `sasl.password`), `kafka.PROPERTY = VALUE` in the file; `-X` "
            "wins over the environment, which wins over the file. Use them for "
            "`security.protocol`, `sasl.*`, `ssl.*`, "
            "`partition.assignment.strategy` and the like. A value written "
            "`@PATH` (`-X sasl.password=@/run/secrets/kafka`, or in the file) "
            "is read from the file PATH, one trailing newline stripped; a value "
            "that really starts with `@` goes through the environment.\n\n"
            "**Secrets** never belong on a command line, which every local user "
            "can read (`ps`): give the JWT secret as `--jwt-secret-file PATH` "
            "or `ROOMCAST_JWT_SECRET`, the admin token as "
            "`--admin-token-file PATH` or `ROOMCAST_ADMIN_TOKEN`, Kafka passwords as "
            "`-X PROPERTY=@PATH` or `ROOMCAST_KAFKA_<PROPERTY>`, a Redis "
            "password inside `ROOMCAST_REDIS`. roomcast warns at start about a "
            "secret given as a flag, and never logs a secret's value.\n\n"
            "`roomcast --check-config` (with the same flags, environment and "
            "file) checks everything that can be checked without connecting "
            "to Kafka or Redis: every value and combination, the key, secret "
            "and TLS files, the schemas and the catalog, the Kafka properties, "
            "the listen address and the Redis URL; it prints one line and "
            "exits 0, or names the first problem and exits 2, the exit status "
            "of every configuration error (exit statuses: "
            "[operations.md](operations.md#exit-status)). `roomcast --version` "
            "prints the versions of roomcast and its libraries.\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(section, o->section)) {
            section = o->section;
            fprintf(f, "\n## %s\n\n| flag | environment | type | default | "
                       "description |\n|---|---|---|---|---|\n",
                    section);
        }
        env_name(o, env, sizeof env);
        /* A path baked in at build time would differ from build to build. */
        const char *def = o->off == O(schemas_dir) ? "" : o->def;
        fprintf(f, "| `--%s` | `%s` | %s | %s%s%s | %s |\n", o->name, env,
                type_name(o->type), *def ? "`" : "",
                *def ? def : o->off == O(schemas_dir) ? "(see description)" : "(empty)",
                *def ? "`" : "", o->help);
    }
}
