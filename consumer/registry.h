/*
 * registry.h - Confluent Schema Registry client: writer schemas for the
 * Confluent schema ids the local id map (schemas/registry.json) lacks.
 *
 * A record in Confluent framing names its writer schema by a 4-byte id. The
 * codec knows the ids of schemas/registry.json; for any other id,
 * rc_registry_resolve() asks the registry (GET {url}/schemas/ids/{id},
 * Accept: application/vnd.schemaregistry.v1+json, over libcurl, basic auth
 * and TLS as configured), parses the answer and adds the writer schema to
 * the codec (rc_codec_register), where the codec resolves it against the
 * reader schema of the record like any local writer.
 *
 * Answers are cached: a schema for the life of the process (an id names one
 * schema forever), a schema that is not one the codec can take (not Avro,
 * references, not a record) for the life of the process too, and "no such
 * id" for RC_REGISTRY_NEGATIVE_TTL_MS only (it may be registered a moment
 * later). A registry that does not answer (connection refused, timeout,
 * 5xx, refused credentials, an answer that is not the registry's) is
 * RC_REGISTRY_UNAVAILABLE: nothing is cached, and requests are held back
 * with exponential backoff (rc_registry_retry_at) so that a caller retrying
 * a record does not hammer it. With several URLs each is tried in turn, and
 * the one that answered is asked first next time.
 *
 * Threads: one thread at a time (the membership rebuild on the main thread,
 * then the consumer thread). A request blocks its caller for at most the
 * configured timeout (connecting included), less when *opts->stop is set.
 */
#ifndef RC_REGISTRY_H
#define RC_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"

/* How long "no such id" is remembered. */
#define RC_REGISTRY_NEGATIVE_TTL_MS 30000
/* Backoff between attempts while the registry is unavailable. */
#define RC_REGISTRY_BACKOFF_MIN_MS 200
#define RC_REGISTRY_BACKOFF_MAX_MS 5000
/* Largest answer read; a schema is far smaller. */
#define RC_REGISTRY_MAX_ANSWER (1024 * 1024)

typedef struct rc_registry rc_registry;

typedef struct rc_registry_opts {
    /* comma-separated base URLs, http:// or https://, each optionally with
     * user:password@ (percent-encoded) and a path prefix */
    const char *urls;
    /* basic auth for URLs without user info (the configuration reads
     * --schema-registry-password-file into password); NULL or "" when
     * unset */
    const char *user;
    const char *password;
    /* TLS: CA bundle (NULL: the system's), client certificate and key */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    /* one request, connecting included, in ms; 0: 5000 */
    int timeout_ms;
    /* when nonzero, a request in progress is abandoned (borrowed; may be
     * NULL) */
    const atomic_int *stop;
} rc_registry_opts;

enum rc_registry_result {
    RC_REGISTRY_OK = 0,           /* the codec knows the id now */
    RC_REGISTRY_NOT_FOUND = -1,   /* the registry has no schema with this id */
    RC_REGISTRY_INVALID = -2,     /* it has, but not one roomcast can read */
    RC_REGISTRY_UNAVAILABLE = -3, /* no usable answer: try again later */
};

/*
 * Checks the options (URLs, credentials, TLS files); connects to nothing
 * yet. NULL with errstr naming the option at fault.
 * All strings are copied.
 */
rc_registry *rc_registry_new(const rc_registry_opts *opts, char *errstr,
                             size_t errlen);
void rc_registry_destroy(rc_registry *r);

/*
 * Makes Confluent schema id known to codec: from the cache, else from the
 * registry (unless it is unavailable and its backoff runs until after
 * now_ms, a monotonic time). Returns an rc_registry_result; anything but OK
 * comes with a one-line reason in err: "schema id 7 not found in the
 * registry", "schema id 7 from the registry: ...", or for UNAVAILABLE the
 * URL (redacted) and what went wrong.
 */
int rc_registry_resolve(rc_registry *r, rc_codec *codec, int32_t id,
                        int64_t now_ms, char *err, size_t errlen);

/* When (monotonic ms) the next request may go out; 0 when at once. */
int64_t rc_registry_retry_at(const rc_registry *r);

/* The URLs, user info redacted ("https://ops:***@host:8081"): for logs. */
size_t rc_registry_url_count(const rc_registry *r);
const char *rc_registry_url(const rc_registry *r, size_t i);
/* The basic auth user of URL i, or NULL without basic auth. */
const char *rc_registry_user(const rc_registry *r, size_t i);
/* HTTP requests made so far (answered or not). */
long rc_registry_requests(const rc_registry *r);

/*
 * What an HTTP answer (status, body of len bytes, borrowed) to
 * GET /schemas/ids/{id} means: OK with *schema set to the schema text
 * (malloc'ed, NUL-terminated, the caller frees it) and *schema_len, or
 * another result with a reason in err. Exposed for the unit tests.
 */
int rc_registry_parse_answer(long status, const char *body, size_t len,
                             int32_t id, char **schema, size_t *schema_len,
                             char *err, size_t errlen);

#endif
