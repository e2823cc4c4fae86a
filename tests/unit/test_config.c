/*
 * test_config.c - the configuration table's sources and what is settled
 * across them: Kafka properties from ROOMCAST_KAFKA_* variables, -X and
 * the file in their order, PROPERTY=@FILE, --jwt-secret-file (newline
 * stripped, exclusive with --jwt-secret), the Schema Registry settings and
 * --schema-registry-password-file likewise, the admin token (the same
 * ways, and its bounds), the secrets noticed on the
 * command line, --version and --check-config, the safe CORS default, and
 * error messages that name the option and never carry a secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/config.h"

static char dir[64];

static const char *put(const char *name, const char *text)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        perror(p);
        exit(2);
    }
    return p;
}

/* Loads argv (NULL-terminated, argv[0] included) into cfg. */
static int load(rc_config *cfg, char *err, size_t errlen, const char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    err[0] = '\0';
    return rc_config_load(cfg, argc, (char **)argv, err, errlen);
}

static const char *prop(const rc_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->nkafka_props; i++)
        if (!strcmp(cfg->kafka_props[i].key, key))
            return cfg->kafka_props[i].value;
    return NULL;
}

static void test_defaults(void)
{
    rc_config cfg;
    char err[512];
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.cors_origins, ""); /* same-origin only unless configured */
    CHECK_STR(cfg.jwt_secret, "");
    CHECK_INT(cfg.check_only, 0);
    CHECK(cfg.cmdline_secrets == NULL);
    CHECK_INT(cfg.nkafka_props, 0);
    rc_config_free(&cfg);
}

static void test_modes(void)
{
    rc_config cfg;
    char err[512];
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "--version", NULL}),
              RC_CONFIG_VERSION);
    rc_config_free(&cfg);
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--check-config", "--listen", ":9", NULL}),
              0);
    CHECK_INT(cfg.check_only, 1);
    CHECK_STR(cfg.listen, ":9");
    rc_config_free(&cfg);
    /* A -X value is never taken for a mode. */
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "-X", "client.id=--version", NULL}),
              0);
    CHECK_STR(prop(&cfg, "client.id"), "--version");
    rc_config_free(&cfg);
}

static void test_kafka_env(void)
{
    rc_config cfg;
    char err[512];
    setenv("ROOMCAST_KAFKA_SASL_PASSWORD", "from-env", 1);
    setenv("ROOMCAST_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("ROOMCAST_KAFKA_BROKERS", "k1:9092", 1); /* --kafka-brokers' own */
    const char *file = put("kafka.conf", "kafka.sasl.username = file-user\n"
                                         "kafka.security.protocol = PLAINTEXT\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--config", file, "-X",
                                    "sasl.username=flag-user", NULL}),
              0);
    CHECK_STR(prop(&cfg, "sasl.password"), "from-env");
    /* the environment wins over the file, -X over the environment */
    CHECK_STR(prop(&cfg, "security.protocol"), "SASL_SSL");
    CHECK_STR(prop(&cfg, "sasl.username"), "flag-user");
    CHECK_STR(cfg.kafka_brokers, "k1:9092");
    CHECK(prop(&cfg, "brokers") == NULL);
    CHECK(cfg.cmdline_secrets == NULL); /* nothing secret on the command line */
    rc_config_free(&cfg);
    unsetenv("ROOMCAST_KAFKA_SASL_PASSWORD");
    unsetenv("ROOMCAST_KAFKA_SECURITY_PROTOCOL");
    unsetenv("ROOMCAST_KAFKA_BROKERS");
}

static void test_kafka_value_files(void)
{
    rc_config cfg;
    char err[512], arg[256], line[256];
    const char *pw = put("kafka-password", "s3cret-from-file\n");
    snprintf(arg, sizeof arg, "sasl.password=@%s", pw);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "-X", arg, NULL}), 0);
    CHECK_STR(prop(&cfg, "sasl.password"), "s3cret-from-file");
    CHECK(cfg.cmdline_secrets == NULL); /* a file is not a secret on the command line */
    rc_config_free(&cfg);

    /* In the config file too, and CRLF is a newline. */
    put("ssl-password", "p4ss\r\n");
    snprintf(line, sizeof line, "kafka.ssl.key.password = @%s/ssl-password\n", dir);
    const char *file = put("at.conf", line);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "--config", file, NULL}),
              0);
    CHECK_STR(prop(&cfg, "ssl.key.password"), "p4ss");
    rc_config_free(&cfg);

    /* A file that is not there: the property and the path, no value. */
    snprintf(arg, sizeof arg, "sasl.password=@%s/missing", dir);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "-X", arg, NULL}), -1);
    CHECK(strstr(err, "sasl.password") != NULL);
    CHECK(strstr(err, "missing") != NULL);
    CHECK(strstr(err, "No such file") != NULL);
    rc_config_free(&cfg);

    /* A secret given literally is noted for the warning, by name. */
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "-X", "sasl.password=hunter2", "--kafka",
                                    "kafka.ssl.key.password=x", "-X", "acks=1", NULL}),
              0);
    CHECK_STR(cfg.cmdline_secrets, "-X sasl.password, --kafka ssl.key.password");
    CHECK(strstr(cfg.cmdline_secrets, "hunter2") == NULL);
    rc_config_free(&cfg);

    /* A malformed assignment is refused without echoing it. */
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "-X", "=hunter2", NULL}),
              -1);
    CHECK(strstr(err, "PROPERTY=VALUE") != NULL);
    CHECK(strstr(err, "hunter2") == NULL);
    rc_config_free(&cfg);
}

static void test_secret_file(void)
{
    rc_config cfg;
    char err[512];
    const char *f = put("jwt", "0123456789abcdef0123456789abcdef\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret-file", f, NULL}),
              0);
    CHECK_STR(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);

    /* Only one newline goes: a secret may end with spaces. */
    f = put("jwt-spaces", "secret  \n\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret-file", f, NULL}),
              0);
    CHECK_STR(cfg.jwt_secret, "secret  \n");
    rc_config_free(&cfg);

    /* From the environment as well. */
    setenv("ROOMCAST_JWT_SECRET_FILE", f, 1);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.jwt_secret, "secret  \n");
    rc_config_free(&cfg);

    /* Both ways at once: refused, whichever source each came from. */
    setenv("ROOMCAST_JWT_SECRET", "the-secret-in-env", 1);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), -1);
    CHECK(strstr(err, "--jwt-secret and --jwt-secret-file") != NULL);
    CHECK(strstr(err, "the-secret-in-env") == NULL);
    rc_config_free(&cfg);
    unsetenv("ROOMCAST_JWT_SECRET_FILE");

    /* The environment's secret is not a command-line one. */
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.jwt_secret, "the-secret-in-env");
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);
    unsetenv("ROOMCAST_JWT_SECRET");

    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret", "on-the-command-line", NULL}),
              0);
    CHECK_STR(cfg.cmdline_secrets, "--jwt-secret");
    rc_config_free(&cfg);

    f = put("jwt-empty", "\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret-file", f, NULL}),
              -1);
    CHECK(strstr(err, "--jwt-secret-file") != NULL);
    CHECK(strstr(err, "empty") != NULL);
    rc_config_free(&cfg);

    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret-file", missing, NULL}),
              -1);
    CHECK(strstr(err, "--jwt-secret-file") != NULL);
    CHECK(strstr(err, missing) != NULL);
    CHECK(strstr(err, "No such file") != NULL);
    rc_config_free(&cfg);
}

static void test_schema_registry(void)
{
    rc_config cfg;
    char err[512];
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.schema_registry, "");
    CHECK_STR(cfg.schema_registry_password, "");
    CHECK_INT(cfg.schema_registry_timeout_ms, 5000);
    rc_config_free(&cfg);

    /* The password from the environment, or from its file (one newline
     * stripped), which excludes it; neither is a command-line secret. */
    setenv("ROOMCAST_SCHEMA_REGISTRY_PASSWORD", "from-env", 1);
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--schema-registry", "https://reg:8081",
                                    "--schema-registry-user", "ops",
                                    "--schema-registry-timeout=750", NULL}),
              0);
    CHECK_STR(cfg.schema_registry, "https://reg:8081");
    CHECK_STR(cfg.schema_registry_user, "ops");
    CHECK_STR(cfg.schema_registry_password, "from-env");
    CHECK_INT(cfg.schema_registry_timeout_ms, 750);
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);
    const char *f = put("registry-password", "from-file\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--schema-registry-password-file", f, NULL}),
              -1);
    CHECK(strstr(err, "--schema-registry-password and --schema-registry-password-file") != NULL);
    CHECK(strstr(err, "from-env") == NULL);
    rc_config_free(&cfg);
    unsetenv("ROOMCAST_SCHEMA_REGISTRY_PASSWORD");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--schema-registry-password-file", f, NULL}),
              0);
    CHECK_STR(cfg.schema_registry_password, "from-file");
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);
    f = put("registry-empty", "\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--schema-registry-password-file", f, NULL}),
              -1);
    CHECK(strstr(err, "--schema-registry-password-file") && strstr(err, "empty") &&
          strstr(err, "the registry password"));
    rc_config_free(&cfg);

    /* As a flag it works, and is noted for the start-up warning. */
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret", "x",
                                    "--schema-registry-password=hunter2", NULL}),
              0);
    CHECK_STR(cfg.cmdline_secrets, "--jwt-secret, --schema-registry-password");
    rc_config_free(&cfg);
}

/* The admin token: from the environment, a file or (noticed) a flag; one
 * of --admin-token and --admin-token-file; long enough, header-safe, and
 * never in an error message. */
static void test_admin_token(void)
{
    rc_config cfg;
    char err[512];
    const char *good = "0123456789abcdef-admin";
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.admin_token, ""); /* no admin API unless configured */
    rc_config_free(&cfg);

    setenv("ROOMCAST_ADMIN_TOKEN", good, 1);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", NULL}), 0);
    CHECK_STR(cfg.admin_token, good);
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);

    const char *f = put("admin", "token-from-a-file-0123\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--admin-token-file", f, NULL}),
              -1); /* and the environment's: both set */
    CHECK(strstr(err, "--admin-token and --admin-token-file") != NULL);
    CHECK(strstr(err, good) == NULL);
    rc_config_free(&cfg);
    unsetenv("ROOMCAST_ADMIN_TOKEN");

    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--admin-token-file", f, NULL}),
              0);
    CHECK_STR(cfg.admin_token, "token-from-a-file-0123");
    CHECK(cfg.cmdline_secrets == NULL);
    rc_config_free(&cfg);

    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--jwt-secret", "x", "--admin-token", good, NULL}),
              0);
    CHECK_STR(cfg.cmdline_secrets, "--jwt-secret, --admin-token");
    rc_config_free(&cfg);

    /* Too short, or not what a header can carry: refused, never echoed. */
    const char *bad[] = {"short-token", "has a space in it 0123", "tab\tin-the-token-0123",
                         "caf\xc3\xa9-token-0123456789", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK_INT(load(&cfg, err, sizeof err,
                       (const char *[]){"roomcast", "--admin-token", bad[i], NULL}),
                  -1);
        CHECK(strstr(err, "admin token") != NULL);
        CHECK(strstr(err, "--admin-token") != NULL);
        CHECK(strstr(err, bad[i]) == NULL);
        rc_config_free(&cfg);
    }
    f = put("admin-short", "short\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--admin-token-file", f, NULL}),
              -1);
    CHECK(strstr(err, "5 characters long") != NULL);
    rc_config_free(&cfg);
    f = put("admin-empty", "\n");
    CHECK_INT(load(&cfg, err, sizeof err,
                   (const char *[]){"roomcast", "--admin-token-file", f, NULL}),
              -1);
    CHECK(strstr(err, "--admin-token-file") != NULL);
    CHECK(strstr(err, "empty") != NULL);
    rc_config_free(&cfg);
}

static void test_errors_name_the_option(void)
{
    rc_config cfg;
    char err[512];
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "--log-level", "loud", NULL}),
              -1);
    CHECK(strstr(err, "--log-level 'loud'") != NULL);
    rc_config_free(&cfg);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "--history-max", "x", NULL}),
              -1);
    CHECK(strstr(err, "--history-max") != NULL);
    rc_config_free(&cfg);
    CHECK_INT(load(&cfg, err, sizeof err, (const char *[]){"roomcast", "--no-such", NULL}), -1);
    CHECK(strstr(err, "--no-such") != NULL);
    rc_config_free(&cfg);
}

static void test_secret_properties(void)
{
    CHECK_INT(rc_config_secret_property("sasl.password"), 1);
    CHECK_INT(rc_config_secret_property("ssl.key.password"), 1);
    CHECK_INT(rc_config_secret_property("ssl.keystore.password"), 1);
    CHECK_INT(rc_config_secret_property("ssl.key.pem"), 1);
    CHECK_INT(rc_config_secret_property("sasl.oauthbearer.client.secret"), 1);
    CHECK_INT(rc_config_secret_property("sasl.oauthbearer.config"), 1);
    CHECK_INT(rc_config_secret_property("sasl.username"), 0);
    CHECK_INT(rc_config_secret_property("security.protocol"), 0);
    CHECK_INT(rc_config_secret_property("ssl.ca.location"), 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/rc-test-config-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    /* The tests set the variables they use; none may come from outside. */
    unsetenv("ROOMCAST_CONFIG");
    unsetenv("ROOMCAST_JWT_SECRET");
    unsetenv("ROOMCAST_JWT_SECRET_FILE");
    unsetenv("ROOMCAST_CORS_ORIGINS");
    unsetenv("ROOMCAST_SCHEMA_REGISTRY");
    unsetenv("ROOMCAST_SCHEMA_REGISTRY_PASSWORD");
    unsetenv("ROOMCAST_SCHEMA_REGISTRY_PASSWORD_FILE");
    test_defaults();
    test_modes();
    test_kafka_env();
    test_kafka_value_files();
    test_secret_file();
    test_schema_registry();
    test_admin_token();
    test_errors_name_the_option();
    test_secret_properties();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return CHECK_DONE();
}
