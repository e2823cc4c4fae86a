/*
 * test_registry.c - the Schema Registry client: how answers are read, how
 * URLs, credentials and TLS options are checked, and, against a small
 * registry-compatible HTTP server on loopback (a thread of this test), what
 * is requested (path, Accept, basic auth), what is cached (schemas for the
 * process, "not found" for a while, invalid schemas), the backoff while the
 * registry fails, several URLs, the timeout, and that a fetched evolved
 * writer schema decodes records into the reader schema.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/registry.h"
#include "core/clock.h"
#include "tests/unit/check.h"

/* ------------------------------------------------------------------ */
/* A registry-compatible server: GET /schemas/ids/{id} from a table     */

/* RequestMutation as a newer producer writes it: title gone (the reader
 * fills its default, null), a field the reader lacks (channel). */
#define EVOLVED                                                                                   \
    "{\"type\":\"record\",\"name\":\"RequestMutation\",\"namespace\":\"io.roomcast.mutations\","  \
    "\"fields\":[{\"name\":\"event_id\",\"type\":\"string\"},"                                    \
    "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}," \
    "{\"name\":\"performed_by\",\"type\":{\"type\":\"record\",\"name\":\"Actor\",\"fields\":["      \
    "{\"name\":\"user_id\",\"type\":\"string\"},{\"name\":\"name\",\"type\":[\"null\",\"string\"]," \
    "\"default\":null}]}},"                                                                       \
    "{\"name\":\"action\",\"type\":{\"type\":\"enum\",\"name\":\"RequestAction\",\"symbols\":["     \
    "\"CREATED\",\"UPDATED\",\"STATUS_CHANGED\",\"ASSIGNED\"]}},"                                 \
    "{\"name\":\"program_id\",\"type\":\"string\"},{\"name\":\"request_id\",\"type\":\"string\"},"  \
    "{\"name\":\"channel\",\"type\":\"string\",\"default\":\"web\"}]}"

/* A RequestMutation of event_id alone: the reader's occurred_at has no
 * default. */
#define ONLY_EVENT_ID                                                                             \
    "{\"type\":\"record\",\"name\":\"RequestMutation\",\"namespace\":\"io.roomcast.mutations\","  \
    "\"fields\":[{\"name\":\"event_id\",\"type\":\"string\"}]}"

struct server {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    atomic_int requests;
    atomic_int delay_ms;
    pthread_mutex_t mu;
    char path[256];   /* of the last request */
    char accept[256]; /* its Accept header */
    char auth[256];   /* its Authorization header, "" without */
};

static void json_string_into(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    out[n++] = '"';
    for (; *s && n + 3 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* The answer for a path: status and body. */
static int answer(const char *path, char *body, size_t cap)
{
    char q[4096];
    int id = -1;
    if (sscanf(path, "/schemas/ids/%d", &id) != 1) {
        snprintf(body, cap, "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
        return 404;
    }
    switch (id) {
    case 7:
        json_string_into(q, sizeof q, EVOLVED);
        snprintf(body, cap, "{\"schema\":%s}", q);
        return 200;
    case 9:
        snprintf(body, cap, "{\"error_code\":50001,\"message\":\"Error in the backend store\"}");
        return 500;
    case 10:
        snprintf(body, cap, "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}");
        return 200;
    case 11:
        snprintf(body, cap, "{\"schema\":\"\\\"string\\\"\"}");
        return 200;
    case 12:
        json_string_into(q, sizeof q, ONLY_EVENT_ID);
        snprintf(body, cap, "{\"schema\":%s}", q);
        return 200;
    case 13:
        json_string_into(q, sizeof q, EVOLVED);
        snprintf(body, cap, "{\"schema\":%s,\"references\":[{\"name\":\"x\",\"subject\":\"x\","
                            "\"version\":1}]}", q);
        return 200;
    default:
        snprintf(body, cap, "{\"error_code\":40403,\"message\":\"Schema %d not found\"}", id);
        return 404;
    }
}

/* The value of header name in the request head req, into out. */
static void header(const char *req, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = strstr(req, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            return;
        }
    }
}

static void serve_one(struct server *s, int cfd)
{
    char req[8192], body[8192], head[512];
    size_t n = 0;
    while (n + 1 < sizeof req) {
        struct pollfd p = {cfd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            return;
        ssize_t r = read(cfd, req + n, sizeof req - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    atomic_fetch_add(&s->requests, 1);
    pthread_mutex_lock(&s->mu);
    sscanf(req, "GET %255s", s->path);
    header(req, "Accept", s->accept, sizeof s->accept);
    header(req, "Authorization", s->auth, sizeof s->auth);
    char path[256];
    snprintf(path, sizeof path, "%s", s->path);
    pthread_mutex_unlock(&s->mu);
    int delay = atomic_load(&s->delay_ms);
    if (delay) {
        struct timespec ts = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int status = answer(path, body, sizeof body);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, strlen(body));
    if (send(cfd, head, (size_t)hl, MSG_NOSIGNAL) < 0 || send(cfd, body, strlen(body), MSG_NOSIGNAL) < 0)
        return;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            continue;
        serve_one(s, cfd);
        close(cfd);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = listen_loopback(&s->port);
    CHECK(s->fd >= 0);
    CHECK_INT(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->mu);
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int port = 0, fd = listen_loopback(&port);
    close(fd);
    return port;
}

static const char *last(struct server *s, char *field, char *out, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, cap, "%s", field);
    pthread_mutex_unlock(&s->mu);
    return out;
}

/* ------------------------------------------------------------------ */
/* Cases                                                                */

static void test_answers(void)
{
    char err[512], *schema;
    size_t len;
    const char *ok = "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\"}";
    CHECK_INT(rc_registry_parse_answer(200, ok, strlen(ok), 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_OK);
    CHECK_STR(schema, "{\"type\":\"string\"}");
    CHECK_INT(len, strlen("{\"type\":\"string\"}"));
    free(schema);
    const char *avro = "{\"schemaType\":\"AVRO\",\"schema\":\"\\\"int\\\"\",\"references\":[]}";
    CHECK_INT(rc_registry_parse_answer(200, avro, strlen(avro), 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_OK);
    CHECK_STR(schema, "\"int\"");
    free(schema);

    const char *missing = "{\"error_code\":40403,\"message\":\"Schema 5 not found\"}";
    CHECK_INT(rc_registry_parse_answer(404, missing, strlen(missing), 5, &schema, &len, err,
                                       sizeof err),
              RC_REGISTRY_NOT_FOUND);
    CHECK(schema == NULL);
    CHECK_STR(err, "schema id 5 not found in the registry");

    /* A 404 that is not the registry's: a wrong base URL, not a missing id. */
    CHECK_INT(rc_registry_parse_answer(404, "<html>", 6, 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);
    CHECK(strstr(err, "base URL") != NULL);
    const char *other404 = "{\"error_code\":40401,\"message\":\"Subject not found\"}";
    CHECK_INT(rc_registry_parse_answer(404, other404, strlen(other404), 5, &schema, &len, err,
                                       sizeof err),
              RC_REGISTRY_UNAVAILABLE);

    const char *down = "{\"error_code\":50003,\"message\":\"Error while forwarding\"}";
    CHECK_INT(rc_registry_parse_answer(503, down, strlen(down), 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);
    CHECK_STR(err, "HTTP 503: Error while forwarding");
    CHECK_INT(rc_registry_parse_answer(502, NULL, 0, 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);
    CHECK_STR(err, "HTTP 502");
    CHECK_INT(rc_registry_parse_answer(401, "{\"error_code\":401,\"message\":\"Unauthorized\"}",
                                       44, 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);
    CHECK(strstr(err, "credentials refused") && strstr(err, "--schema-registry-user"));
    CHECK_INT(rc_registry_parse_answer(403, NULL, 0, 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);

    /* 200 without a schema: a proxy's page, not the registry. */
    CHECK_INT(rc_registry_parse_answer(200, "<html>", 6, 5, &schema, &len, err, sizeof err),
              RC_REGISTRY_UNAVAILABLE);
    CHECK_INT(rc_registry_parse_answer(200, "{\"schema\":1}", 12, 5, &schema, &len, err,
                                       sizeof err),
              RC_REGISTRY_UNAVAILABLE);

    const char *proto = "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}";
    CHECK_INT(rc_registry_parse_answer(200, proto, strlen(proto), 5, &schema, &len, err,
                                       sizeof err),
              RC_REGISTRY_INVALID);
    CHECK_STR(err, "schema id 5 from the registry is a PROTOBUF schema, not Avro");
    const char *refs = "{\"schema\":\"\\\"int\\\"\",\"references\":[{\"name\":\"a\"}]}";
    CHECK_INT(rc_registry_parse_answer(200, refs, strlen(refs), 5, &schema, &len, err,
                                       sizeof err),
              RC_REGISTRY_INVALID);
    CHECK(strstr(err, "references") != NULL);
    CHECK(schema == NULL);
}

/* rc_registry_new's verdict on opts: NULL with err, or the registry. */
static rc_registry *try_new(rc_registry_opts o, char *err, size_t errlen)
{
    err[0] = '\0';
    return rc_registry_new(&o, err, errlen);
}

static void test_options(void)
{
    char err[512];
    rc_registry *r;

    CHECK(!try_new((rc_registry_opts){.urls = "ftp://reg:8081"}, err, sizeof err));
    CHECK_STR(err, "--schema-registry: 'ftp://reg:8081' is not an http:// or https:// URL");
    CHECK(!try_new((rc_registry_opts){.urls = "reg:8081"}, err, sizeof err));
    CHECK(strstr(err, "not an http:// or https:// URL") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = "http://a:1,,http://b:2"}, err, sizeof err));
    CHECK(strstr(err, "empty URL") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = ""}, err, sizeof err));
    CHECK(!try_new((rc_registry_opts){.urls = "http:///x"}, err, sizeof err));
    CHECK(strstr(err, "no host") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = "http://reg:8081/?x=1"}, err, sizeof err));
    CHECK(strstr(err, "query") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = "http://ops@reg:8081"}, err, sizeof err));
    CHECK(strstr(err, "user:password") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = "http://ops:%zz@reg:8081"}, err, sizeof err));
    CHECK(strstr(err, "percent-encoding") != NULL);

    /* Credentials: a user needs a password, from one place; a password
     * needs a user; URL user info and --schema-registry-user exclude each
     * other. */
    CHECK(!try_new((rc_registry_opts){.urls = "http://reg", .user = "ops"}, err, sizeof err));
    CHECK(strstr(err, "ROOMCAST_SCHEMA_REGISTRY_PASSWORD") &&
          strstr(err, "--schema-registry-password-file"));
    CHECK(!try_new((rc_registry_opts){.urls = "http://reg", .password = "x"}, err, sizeof err));
    CHECK(strstr(err, "no --schema-registry-user") != NULL);
    CHECK(!try_new((rc_registry_opts){.urls = "http://a:b@reg", .user = "ops", .password = "x"},
                   err, sizeof err));
    CHECK(strstr(err, "twice") != NULL);

    /* TLS files must be there; a key needs its certificate. */
    CHECK(!try_new((rc_registry_opts){.urls = "https://reg", .ca_file = "/nonexistent/ca.pem"},
                   err, sizeof err));
    CHECK(strstr(err, "--schema-registry-ca") && strstr(err, "/nonexistent/ca.pem"));
    CHECK(!try_new((rc_registry_opts){.urls = "https://reg", .key_file = "/etc/hostname"}, err,
                   sizeof err));
    CHECK_STR(err, "--schema-registry-key needs --schema-registry-cert");

    /* Good lists: blanks and trailing slashes go, passwords are redacted. */
    r = try_new((rc_registry_opts){.urls = " https://ops:p%40ss@reg.example:8081/base/ , "
                                           "HTTP://b:8081"},
                err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK_INT(rc_registry_url_count(r), 2);
        CHECK_STR(rc_registry_url(r, 0), "https://ops:***@reg.example:8081/base");
        CHECK_STR(rc_registry_url(r, 1), "HTTP://b:8081");
        CHECK_STR(rc_registry_user(r, 0), "ops");
        CHECK(rc_registry_user(r, 1) == NULL);
        CHECK(rc_registry_url(r, 2) == NULL);
        rc_registry_destroy(r);
    }
    r = try_new((rc_registry_opts){.urls = "http://a,http://b", .user = "ops", .password = "x"},
                err, sizeof err);
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(rc_registry_user(r, 0), "ops");
        CHECK_STR(rc_registry_user(r, 1), "ops");
        CHECK_STR(rc_registry_url(r, 1), "http://b");
        rc_registry_destroy(r);
    }
}

/* Encodes a RequestMutation as written by schema id 7's producer. */
static int evolved_record(const char *schemas, rc_buf *out)
{
    char err[512];
    const char *json = "{\"event_id\":\"e1\",\"occurred_at\":5,\"performed_by\":{\"user_id\":"
                       "\"u1\",\"name\":null},\"action\":\"CREATED\",\"program_id\":\"p1\","
                       "\"request_id\":\"r1\",\"channel\":\"mobile\"}";
    rc_codec *w = rc_codec_new(schemas, err, sizeof err);
    int rc = w ? rc_codec_encode_json_id(w, "RequestMutation", 7, EVOLVED, strlen(EVOLVED), json,
                                         strlen(json), out, err, sizeof err)
               : -1;
    if (rc < 0)
        fprintf(stderr, "encode: %s\n", err);
    rc_codec_destroy(w);
    return rc;
}

static void test_requests(const char *schemas)
{
    char err[512], url[256], buf[256];
    struct server s;
    server_start(&s);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s.port);
    rc_registry *r = try_new((rc_registry_opts){.urls = url, .user = "ops",
                                                .password = "s3cret", .timeout_ms = 2000},
                             err, sizeof err);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "registry: %s\n", err);
        server_stop(&s);
        return;
    }
    rc_codec *c = rc_codec_new(schemas, err, sizeof err);
    rc_codec *c2 = rc_codec_new(schemas, err, sizeof err);
    CHECK(c && c2);
    int64_t t = rc_clock_mono_ms();
    int32_t id;
    rc_buf rec = {0};
    CHECK_INT(evolved_record(schemas, &rec), 0);
    CHECK_INT(rc_codec_unknown_id(c, rec.p, rec.len, &id), 1);
    CHECK_INT(id, 7);

    /* An evolved writer: fetched with the registry's media type and basic
     * auth, then read as the current RequestMutation. */
    CHECK_INT(rc_registry_resolve(r, c, 7, t, err, sizeof err), RC_REGISTRY_OK);
    CHECK_INT(atomic_load(&s.requests), 1);
    CHECK_STR(last(&s, s.path, buf, sizeof buf), "/schemas/ids/7");
    CHECK(strstr(last(&s, s.accept, buf, sizeof buf), "application/vnd.schemaregistry.v1+json"));
    CHECK_STR(last(&s, s.auth, buf, sizeof buf), "Basic b3BzOnMzY3JldA==");
    CHECK_INT(rc_codec_unknown_id(c, rec.p, rec.len, &id), 0);
    avro_value_t *v, field, branch;
    enum rc_framing f;
    CHECK_INT(rc_codec_decode(c, "RequestMutation", rec.p, rec.len, &v, &f, err, sizeof err), 0);
    CHECK_INT(f, RC_FRAMING_CONFLUENT);
    const char *str = NULL;
    size_t slen = 0;
    CHECK_INT(avro_value_get_by_name(v, "request_id", &field, NULL), 0);
    avro_value_get_string(&field, &str, &slen);
    CHECK_STR(str, "r1");
    int disc = -1;
    CHECK_INT(avro_value_get_by_name(v, "title", &field, NULL), 0);
    avro_value_get_discriminant(&field, &disc);
    avro_value_get_current_branch(&field, &branch);
    CHECK_INT(disc, 0); /* the reader's default: null */
    CHECK(avro_value_get_by_name(v, "channel", &field, NULL) != 0); /* dropped */

    /* The schema is cached for the process: another codec gets it without
     * a request. */
    CHECK_INT(rc_registry_resolve(r, c2, 7, t, err, sizeof err), RC_REGISTRY_OK);
    CHECK_INT(rc_codec_unknown_id(c2, rec.p, rec.len, &id), 0);
    CHECK_INT(atomic_load(&s.requests), 1);

    /* Not found: remembered for RC_REGISTRY_NEGATIVE_TTL_MS, then asked
     * again. */
    CHECK_INT(rc_registry_resolve(r, c, 100023, t, err, sizeof err), RC_REGISTRY_NOT_FOUND);
    CHECK_STR(err, "schema id 100023 not found in the registry");
    CHECK_INT(atomic_load(&s.requests), 2);
    CHECK_INT(rc_registry_resolve(r, c, 100023, t + RC_REGISTRY_NEGATIVE_TTL_MS - 1, err,
                                  sizeof err),
              RC_REGISTRY_NOT_FOUND);
    CHECK_INT(atomic_load(&s.requests), 2);
    CHECK_INT(rc_registry_resolve(r, c, 100023, t + RC_REGISTRY_NEGATIVE_TTL_MS, err, sizeof err),
              RC_REGISTRY_NOT_FOUND);
    CHECK_INT(atomic_load(&s.requests), 3);

    /* Schemas roomcast cannot take: said why, remembered for good. */
    CHECK_INT(rc_registry_resolve(r, c, 10, t, err, sizeof err), RC_REGISTRY_INVALID);
    CHECK(strstr(err, "PROTOBUF") != NULL);
    CHECK_INT(rc_registry_resolve(r, c, 11, t, err, sizeof err), RC_REGISTRY_INVALID);
    CHECK_STR(err, "schema id 11 from the registry: registry id 11: top-level schema must be a "
                   "record");
    CHECK_INT(rc_registry_resolve(r, c, 13, t, err, sizeof err), RC_REGISTRY_INVALID);
    CHECK(strstr(err, "references") != NULL);
    int before = atomic_load(&s.requests);
    CHECK_INT(rc_registry_resolve(r, c, 11, t + 3600000, err, sizeof err), RC_REGISTRY_INVALID);
    CHECK_INT(rc_registry_resolve(r, c, 10, t + 3600000, err, sizeof err), RC_REGISTRY_INVALID);
    CHECK_INT(atomic_load(&s.requests), before);

    /* A schema that parses but cannot be read as the reader: the codec
     * says why when a record comes. */
    CHECK_INT(rc_registry_resolve(r, c, 12, t, err, sizeof err), RC_REGISTRY_OK);
    const unsigned char r12[] = {0, 0, 0, 0, 12, 2, 'x'};
    CHECK_INT(rc_codec_decode(c, "RequestMutation", r12, sizeof r12, &v, NULL, err, sizeof err),
              -1);
    CHECK_STR(err, "writer schema registry id 12 cannot be read as "
                   "io.roomcast.mutations.RequestMutation: field 'occurred_at': not in the "
                   "writer and no default in the reader");

    /* A failing registry: unavailable, then held back by the backoff (no
     * request), which doubles per failure; any answer resets it. */
    before = atomic_load(&s.requests);
    CHECK_INT(rc_registry_resolve(r, c, 9, t, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK(strstr(err, "HTTP 500: Error in the backend store") != NULL);
    CHECK(strstr(err, url) != NULL || strstr(err, "http://127.0.0.1") != NULL);
    CHECK_INT(rc_registry_retry_at(r), t + RC_REGISTRY_BACKOFF_MIN_MS);
    CHECK_INT(rc_registry_resolve(r, c, 9, t + 1, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK(strstr(err, "next attempt in") != NULL);
    CHECK_INT(atomic_load(&s.requests), before + 1);
    /* The backoff holds back other ids too, cached answers excepted. */
    CHECK_INT(rc_registry_resolve(r, c, 424242, t + 1, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK_INT(rc_registry_resolve(r, c2, 7, t + 1, err, sizeof err), RC_REGISTRY_OK);
    CHECK_INT(atomic_load(&s.requests), before + 1);
    int64_t t2 = t + RC_REGISTRY_BACKOFF_MIN_MS;
    CHECK_INT(rc_registry_resolve(r, c, 9, t2, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK_INT(rc_registry_retry_at(r), t2 + 2 * RC_REGISTRY_BACKOFF_MIN_MS);
    CHECK_INT(atomic_load(&s.requests), before + 2);
    CHECK_INT(rc_registry_resolve(r, c, 424242, t2 + 2 * RC_REGISTRY_BACKOFF_MIN_MS, err,
                                  sizeof err),
              RC_REGISTRY_NOT_FOUND);
    CHECK_INT(rc_registry_retry_at(r), 0);
    CHECK(rc_registry_requests(r) == atomic_load(&s.requests));

    /* Too slow an answer is a timeout: unavailable, within the limit. */
    rc_registry *quick = try_new((rc_registry_opts){.urls = url, .timeout_ms = 300}, err,
                                 sizeof err);
    CHECK(quick != NULL);
    atomic_store(&s.delay_ms, 1500);
    int64_t t0 = rc_clock_mono_ms();
    CHECK_INT(rc_registry_resolve(quick, c, 77, t0, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK(rc_clock_mono_ms() - t0 < 1200);
    CHECK(strstr(err, "imed out") != NULL);
    /* The stop flag cuts a slow request short. */
    atomic_int stop = 1;
    rc_registry *stopped = try_new((rc_registry_opts){.urls = url, .stop = &stop}, err, sizeof err);
    CHECK(stopped != NULL);
    t0 = rc_clock_mono_ms();
    CHECK_INT(rc_registry_resolve(stopped, c, 78, t0, err, sizeof err), RC_REGISTRY_UNAVAILABLE);
    CHECK(rc_clock_mono_ms() - t0 < 1400);
    CHECK(strstr(err, "stopping") != NULL);
    atomic_store(&s.delay_ms, 0);
    rc_registry_destroy(stopped);
    rc_registry_destroy(quick);

    /* Several URLs: a dead one is skipped; the answer is the live one's,
     * with that URL's own credentials. */
    char urls[512];
    snprintf(urls, sizeof urls, "http://127.0.0.1:%d,http://ops:p%%40ss@127.0.0.1:%d",
             closed_port(), s.port);
    rc_registry *two = try_new((rc_registry_opts){.urls = urls}, err, sizeof err);
    CHECK(two != NULL);
    if (two) {
        rc_codec *c3 = rc_codec_new(schemas, err, sizeof err);
        CHECK_INT(rc_registry_resolve(two, c3, 7, rc_clock_mono_ms(), err, sizeof err),
                  RC_REGISTRY_OK);
        CHECK_STR(last(&s, s.auth, buf, sizeof buf), "Basic b3BzOnBAc3M=");
        CHECK_INT(rc_registry_requests(two), 2);
        /* The one that answered is asked first from now on. */
        CHECK_INT(rc_registry_resolve(two, c3, 8, rc_clock_mono_ms(), err, sizeof err),
                  RC_REGISTRY_NOT_FOUND);
        CHECK_INT(rc_registry_requests(two), 3);
        rc_codec_destroy(c3);
        rc_registry_destroy(two);
    }

    server_stop(&s);
    /* Nobody listening: unavailable, the redacted URL in the reason. */
    snprintf(urls, sizeof urls, "http://ops:secret@127.0.0.1:%d", closed_port());
    rc_registry *dead = try_new((rc_registry_opts){.urls = urls}, err, sizeof err);
    CHECK(dead != NULL);
    if (dead) {
        CHECK_INT(rc_registry_resolve(dead, c, 99, rc_clock_mono_ms(), err, sizeof err),
                  RC_REGISTRY_UNAVAILABLE);
        CHECK(strstr(err, "http://ops:***@127.0.0.1:") != NULL);
        CHECK(strstr(err, "secret") == NULL);
        rc_registry_destroy(dead);
    }
    rc_buf_free(&rec);
    rc_codec_destroy(c);
    rc_codec_destroy(c2);
    rc_registry_destroy(r);
}

int main(void)
{
    const char *dir = getenv("RC_SOURCE_DIR");
    char schemas[1024];
    snprintf(schemas, sizeof schemas, "%s/schemas", dir ? dir : ".");
    test_answers();
    test_options();
    test_requests(schemas);
    return CHECK_DONE();
}
