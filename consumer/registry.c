/*
 * registry.c - Confluent Schema Registry client over libcurl.
 *
 * Implementation notes.
 *
 * URLs. Each comma-separated URL is split into what libcurl is given (scheme,
 * host, port and path prefix, without user info: libcurl never sees the
 * password in a URL, so it cannot end up in one of its messages) and what
 * logs show (the same with the password replaced by ***). User info is
 * percent-decoded into the URL's own basic auth credentials; URLs without
 * it use --schema-registry-user and its password. Redirects are not
 * followed (they would carry the credentials elsewhere) and only http and
 * https are allowed.
 *
 * One easy handle is kept for the registry's life, so connections (and TLS
 * sessions) are reused between requests. Every request sets its URL and
 * credentials; the TLS files and timeouts are set once. libcurl's progress
 * callback checks the stop flag, which cuts a slow request short when the
 * process stops.
 *
 * Cache. A small array of ids with what the registry said: the schema text
 * (kept for the process, so a second codec, e.g. the consumer's after the
 * membership rebuild's, gets it without a request), "invalid" with its
 * reason (for the process), or "not found" until a deadline. "Not found"
 * entries are capped (RC_REGISTRY_MAX_NEGATIVE, the earliest to expire goes
 * first): a producer writing random bytes after a 0x00 names a new id per
 * record. Lookups are linear: a deployment has tens of schema ids.
 *
 * Backoff. Failures to get any answer double the wait before the next
 * request (RC_REGISTRY_BACKOFF_MIN_MS to _MAX_MS); any answer from the
 * registry, "not found" included, resets it.
 */
#include "registry.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/errstr.h"
#include "core/metrics.h"
#include "core/slice.h"

#define RC_REGISTRY_MAX_NEGATIVE 1024
#define RC_REGISTRY_TIMEOUT_MS 5000
#define ACCEPT "Accept: application/vnd.schemaregistry.v1+json, application/json"

struct url {
    char *url;      /* owned: scheme://host[:port][/prefix], no user info */
    char *shown;    /* owned: for logs, the password redacted */
    char *user;     /* owned, or NULL: no basic auth */
    char *password; /* owned, or NULL */
};

enum kind { KNOWN_SCHEMA, KNOWN_MISSING, KNOWN_INVALID };

struct known {
    int32_t id;
    enum kind kind;
    int64_t until_ms; /* KNOWN_MISSING: forgotten at this time */
    char *text;       /* owned: KNOWN_SCHEMA's schema, KNOWN_INVALID's reason */
    size_t len;
};

struct rc_registry {
    struct url *urls; /* owned */
    size_t nurls;
    size_t current;   /* the URL asked first */
    char *ca, *cert, *key; /* owned, or NULL */
    int timeout_ms;
    const atomic_int *stop; /* borrowed, or NULL */
    CURL *curl;       /* owned */
    struct curl_slist *headers; /* owned */
    struct known *known; /* owned */
    size_t nknown, capknown, nmissing;
    int64_t retry_at_ms;
    int backoff_ms;
    long requests;
    char last_err[384];  /* why the last attempt got no answer */
};

/* ------------------------------------------------------------------ */
/* Answers                                                              */

static const char *json_message(const json_t *root)
{
    const char *m = json_string_value(json_object_get(root, "message"));
    return m ? m : "";
}

int rc_registry_parse_answer(long status, const char *body, size_t len,
                             int32_t id, char **schema, size_t *schema_len,
                             char *err, size_t errlen)
{
    *schema = NULL;
    *schema_len = 0;
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    int rc;
    if (status == 200) {
        const json_t *s = json_object_get(root, "schema");
        const char *type = json_string_value(json_object_get(root, "schemaType"));
        const json_t *refs = json_object_get(root, "references");
        if (!json_is_string(s)) {
            rc = RC_REGISTRY_UNAVAILABLE;
            rc_errf(err, errlen, "HTTP 200 without a \"schema\" string: not a Schema "
                                 "Registry answer (is the URL the registry's?)");
        } else if (type && strcmp(type, "AVRO") != 0) {
            rc = RC_REGISTRY_INVALID;
            rc_errf(err, errlen, "schema id %" PRId32 " from the registry is a %s "
                                 "schema, not Avro", id, type);
        } else if (json_array_size(refs) > 0) {
            rc = RC_REGISTRY_INVALID;
            rc_errf(err, errlen, "schema id %" PRId32 " from the registry refers to "
                                 "other schemas (references), which roomcast does "
                                 "not resolve", id);
        } else if (!(*schema = malloc(json_string_length(s) + 1))) {
            rc = RC_REGISTRY_UNAVAILABLE;
            rc_errf(err, errlen, "out of memory");
        } else {
            /* All of it, NULs included: the schema parser refuses those. */
            *schema_len = json_string_length(s);
            memcpy(*schema, json_string_value(s), *schema_len);
            (*schema)[*schema_len] = '\0';
            rc = RC_REGISTRY_OK;
        }
    } else if (status == 404 &&
               json_integer_value(json_object_get(root, "error_code")) == 40403) {
        rc = RC_REGISTRY_NOT_FOUND;
        rc_errf(err, errlen, "schema id %" PRId32 " not found in the registry", id);
    } else if (status == 404) {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "HTTP 404 without the registry's error 40403 (is the "
                             "URL the registry's base URL?)");
    } else if (status == 401 || status == 403) {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "HTTP %ld, credentials refused: check "
                             "--schema-registry-user and its password%s%s",
                status, root ? ": " : "", root ? json_message(root) : "");
    } else {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "HTTP %ld%s%s", status, root ? ": " : "",
                root ? json_message(root) : "");
    }
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Options                                                              */

/* s[0..n) percent-decoded into a new string; NULL on a bad escape or %00
 * (*oom tells the two apart). */
static char *pct_decode(const char *s, size_t n, int *oom)
{
    char *out = malloc(n + 1), *o = out;
    *oom = !out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? rc_hex_digit((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < n ? rc_hex_digit((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static void url_free(struct url *u)
{
    free(u->url);
    free(u->shown);
    free(u->user);
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
}

/* One URL of the list, s[0..n) with blanks trimmed, into u. */
static int parse_url(struct url *u, const char *s, size_t n, char *errstr,
                     size_t errlen)
{
    size_t slen;
    if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
        slen = 8;
    else if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
        slen = 7;
    else
        return rc_errf(errstr, errlen, "--schema-registry: '%.*s' is not an http:// or "
                                       "https:// URL", (int)n, s);
    const char *auth = s + slen, *end = s + n;
    const char *path = auth;
    while (path < end && *path != '/' && *path != '?' && *path != '#')
        path++;
    for (const char *p = path; p < end; p++)
        if (*p == '?' || *p == '#' || isspace((unsigned char)*p))
            return rc_errf(errstr, errlen, "--schema-registry: '%.*s' has a query, "
                                           "fragment or blank: give the registry's "
                                           "base URL", (int)n, s);
    const char *at = NULL;
    for (const char *p = auth; p < path; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    if (host == path)
        return rc_errf(errstr, errlen, "--schema-registry: '%.*s' has no host", (int)n, s);
    size_t plen = (size_t)(end - path);
    while (plen && path[plen - 1] == '/')
        plen--;
    int oom = 0;
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (!colon || colon == auth)
            return rc_errf(errstr, errlen, "--schema-registry: the user info of a URL "
                                           "must be user:password (percent-encoded)");
        u->user = pct_decode(auth, (size_t)(colon - auth), &oom);
        if (u->user)
            u->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &oom);
        if (!u->user || !u->password)
            return rc_errf(errstr, errlen, oom ? "out of memory"
                                               : "--schema-registry: bad percent-encoding "
                                                 "in a URL's user info");
    }
    size_t hlen = (size_t)(path - host);
    if (asprintf(&u->url, "%.*s%.*s%.*s", (int)slen, s, (int)hlen, host, (int)plen, path) < 0)
        u->url = NULL;
    int shown;
    if (at)
        shown = asprintf(&u->shown, "%.*s%.*s:***@%.*s%.*s", (int)slen, s,
                         (int)(strchr(auth, ':') - auth), auth, (int)hlen, host, (int)plen, path);
    else
        shown = (u->shown = u->url ? strdup(u->url) : NULL) ? 0 : -1;
    if (!u->url || shown < 0) {
        if (shown < 0)
            u->shown = NULL;
        return rc_errf(errstr, errlen, "out of memory");
    }
    return 0;
}

static int parse_urls(rc_registry *r, const char *list, char *errstr, size_t errlen)
{
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    if (!(r->urls = calloc(cap, sizeof *r->urls)))
        return rc_errf(errstr, errlen, "out of memory");
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *b = p;
        while (b < e && isspace((unsigned char)*b))
            b++;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (b == e)
            return rc_errf(errstr, errlen, "--schema-registry: empty URL in '%s'", list);
        if (parse_url(&r->urls[r->nurls++], b, (size_t)(e - b), errstr, errlen) < 0)
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static int set(const char *s)
{
    return s && *s;
}

static int readable(const char *path, const char *option, char *errstr, size_t errlen)
{
    if (access(path, R_OK) == 0)
        return 0;
    return rc_errf(errstr, errlen, "%s: cannot read %s: %s", option, path, strerror(errno));
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = set(s) ? strdup(s) : NULL;
    if (set(s) && !d)
        *oom = 1;
    return d;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    rc_buf *b = ud;
    size_t len = size * n;
    if (b->len + len > RC_REGISTRY_MAX_ANSWER || rc_buf_append(b, data, len) < 0)
        return 0; /* libcurl fails the transfer: CURLE_WRITE_ERROR */
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const rc_registry *r = ud;
    (void)dt, (void)dn, (void)ut, (void)un;
    return r->stop && atomic_load(r->stop) ? 1 : 0;
}

rc_registry *rc_registry_new(const rc_registry_opts *o, char *errstr, size_t errlen)
{
    int oom = 0;
    rc_registry *r = calloc(1, sizeof *r);
    if (!r) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    if (!set(o->urls)) {
        rc_errf(errstr, errlen, "--schema-registry: no URL");
        goto fail;
    }
    if (parse_urls(r, o->urls, errstr, errlen) < 0)
        goto fail;
    int with_userinfo = 0;
    for (size_t i = 0; i < r->nurls; i++)
        with_userinfo |= r->urls[i].user != NULL;
    if (set(o->user)) {
        if (with_userinfo) {
            rc_errf(errstr, errlen, "the registry credentials are given twice: in a "
                                    "--schema-registry URL and with "
                                    "--schema-registry-user; keep one");
            goto fail;
        }
        if (!set(o->password)) {
            rc_errf(errstr, errlen, "--schema-registry-user needs a password: set "
                                    "--schema-registry-password-file or "
                                    "ROOMCAST_SCHEMA_REGISTRY_PASSWORD");
            goto fail;
        }
        for (size_t i = 0; i < r->nurls; i++)
            if (!(r->urls[i].user = strdup(o->user)) ||
                !(r->urls[i].password = strdup(o->password))) {
                rc_errf(errstr, errlen, "out of memory");
                goto fail;
            }
    } else if (set(o->password)) {
        rc_errf(errstr, errlen, "a registry password is set but no "
                                "--schema-registry-user: set both or neither");
        goto fail;
    }
    if (set(o->key_file) && !set(o->cert_file)) {
        rc_errf(errstr, errlen, "--schema-registry-key needs --schema-registry-cert");
        goto fail;
    }
    if ((set(o->ca_file) && readable(o->ca_file, "--schema-registry-ca", errstr, errlen) < 0) ||
        (set(o->cert_file) &&
         readable(o->cert_file, "--schema-registry-cert", errstr, errlen) < 0) ||
        (set(o->key_file) && readable(o->key_file, "--schema-registry-key", errstr, errlen) < 0))
        goto fail;
    r->ca = dup_or_null(o->ca_file, &oom);
    r->cert = dup_or_null(o->cert_file, &oom);
    r->key = dup_or_null(o->key_file, &oom);
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : RC_REGISTRY_TIMEOUT_MS;
    r->stop = o->stop;
    if (oom) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(r->curl = curl_easy_init()) ||
        !(r->headers = curl_slist_append(NULL, ACCEPT))) {
        rc_errf(errstr, errlen, "cannot initialise libcurl");
        goto fail;
    }
    CURL *h = r->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "roomcast");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    if (r->ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca);
    if (r->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert);
    if (r->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, r->key);
    return r;
fail:
    rc_registry_destroy(r);
    return NULL;
}

void rc_registry_destroy(rc_registry *r)
{
    if (!r)
        return;
    if (r->curl) {
        curl_easy_cleanup(r->curl);
        curl_global_cleanup();
    }
    curl_slist_free_all(r->headers);
    for (size_t i = 0; i < r->nurls; i++)
        url_free(&r->urls[i]);
    free(r->urls);
    for (size_t i = 0; i < r->nknown; i++)
        free(r->known[i].text);
    free(r->known);
    free(r->ca);
    free(r->cert);
    free(r->key);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Requests                                                             */

/* GET {u}/schemas/ids/{id}: an rc_registry_result, *schema on OK. */
static int fetch_one(rc_registry *r, const struct url *u, int32_t id, char **schema,
                     size_t *schema_len, char *err, size_t errlen)
{
    char target[4096], curlerr[CURL_ERROR_SIZE] = "";
    rc_buf body = {0};
    long status = 0;
    snprintf(target, sizeof target, "%s/schemas/ids/%" PRId32, u->url, id);
    CURL *h = r->curl;
    curl_easy_setopt(h, CURLOPT_URL, target);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, u->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, u->password);
    r->requests++;
    rc_counter_inc(&rc_metrics.registry_requests);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    int rc;
    if (cc == CURLE_WRITE_ERROR) {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "answer larger than %d bytes", RC_REGISTRY_MAX_ANSWER);
    } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "request abandoned: stopping");
    } else if (cc != CURLE_OK) {
        rc = RC_REGISTRY_UNAVAILABLE;
        rc_errf(err, errlen, "%s", *curlerr ? curlerr : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        rc = rc_registry_parse_answer(status, body.p, body.len, id, schema, schema_len, err,
                                      errlen);
    }
    rc_buf_free(&body);
    if (rc == RC_REGISTRY_UNAVAILABLE)
        rc_counter_inc(&rc_metrics.registry_failures);
    return rc;
}

/* Asks the URLs in turn, the one that last answered first. */
static int fetch(rc_registry *r, int32_t id, char **schema, size_t *schema_len, char *err,
                 size_t errlen)
{
    char why[384];
    size_t used = 0;
    err[0] = '\0';
    for (size_t k = 0; k < r->nurls; k++) {
        size_t i = (r->current + k) % r->nurls;
        int rc = fetch_one(r, &r->urls[i], id, schema, schema_len, why, sizeof why);
        if (rc != RC_REGISTRY_UNAVAILABLE) {
            r->current = i;
            rc_errf(err, errlen, "%s", why);
            return rc;
        }
        int n = snprintf(err + used, errlen - used, "%s%s: %s", used ? "; " : "",
                         r->urls[i].shown, why);
        if (n > 0)
            used = (size_t)n >= errlen - used ? errlen - 1 : used + (size_t)n;
        if (r->stop && atomic_load(r->stop))
            break;
    }
    return RC_REGISTRY_UNAVAILABLE;
}

/* ------------------------------------------------------------------ */
/* Cache                                                                */

static struct known *find_known(rc_registry *r, int32_t id)
{
    for (size_t i = 0; i < r->nknown; i++)
        if (r->known[i].id == id)
            return &r->known[i];
    return NULL;
}

static void drop_known(rc_registry *r, struct known *k)
{
    if (k->kind == KNOWN_MISSING)
        r->nmissing--;
    free(k->text);
    *k = r->known[--r->nknown];
}

/* Adds an entry; takes text (may be NULL). Returns 0 or -1 (text freed). */
static int add_known(rc_registry *r, int32_t id, enum kind kind, int64_t until_ms, char *text,
                     size_t len, int64_t now_ms)
{
    if (kind == KNOWN_MISSING && r->nmissing >= RC_REGISTRY_MAX_NEGATIVE) {
        struct known *first = NULL;
        for (size_t i = r->nknown; i-- > 0;) {
            struct known *k = &r->known[i];
            if (k->kind != KNOWN_MISSING)
                continue;
            if (k->until_ms <= now_ms)
                drop_known(r, k);
            else if (!first || k->until_ms < first->until_ms)
                first = k;
        }
        if (r->nmissing >= RC_REGISTRY_MAX_NEGATIVE && first)
            drop_known(r, first);
    }
    if (r->nknown == r->capknown) {
        size_t cap = r->capknown ? r->capknown * 2 : 16;
        struct known *v = realloc(r->known, cap * sizeof *v);
        if (!v) {
            free(text);
            return -1;
        }
        r->known = v;
        r->capknown = cap;
    }
    r->known[r->nknown++] = (struct known){id, kind, until_ms, text, len};
    if (kind == KNOWN_MISSING)
        r->nmissing++;
    return 0;
}

/* What a cached answer means for codec. */
static int answer_known(const struct known *k, rc_codec *codec, char *err, size_t errlen)
{
    char why[384];
    switch (k->kind) {
    case KNOWN_MISSING:
        rc_errf(err, errlen, "schema id %" PRId32 " not found in the registry", k->id);
        return RC_REGISTRY_NOT_FOUND;
    case KNOWN_INVALID:
        rc_errf(err, errlen, "%s", k->text);
        return RC_REGISTRY_INVALID;
    case KNOWN_SCHEMA:
        break;
    }
    if (rc_codec_register(codec, k->id, k->text, k->len, why, sizeof why) < 0) {
        rc_errf(err, errlen, "schema id %" PRId32 " from the registry: %s", k->id, why);
        return RC_REGISTRY_INVALID;
    }
    return RC_REGISTRY_OK;
}

int rc_registry_resolve(rc_registry *r, rc_codec *codec, int32_t id, int64_t now_ms,
                        char *err, size_t errlen)
{
    struct known *k = find_known(r, id);
    if (k && k->kind == KNOWN_MISSING && k->until_ms <= now_ms) {
        drop_known(r, k);
        k = NULL;
    }
    if (k)
        return answer_known(k, codec, err, errlen);
    if (now_ms < r->retry_at_ms) {
        rc_errf(err, errlen, "%s (next attempt in %" PRId64 " ms)", r->last_err,
                r->retry_at_ms - now_ms);
        return RC_REGISTRY_UNAVAILABLE;
    }
    char *text = NULL, why[384];
    size_t len = 0;
    int rc = fetch(r, id, &text, &len, err, errlen);
    if (rc == RC_REGISTRY_UNAVAILABLE) {
        r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : RC_REGISTRY_BACKOFF_MIN_MS;
        if (r->backoff_ms > RC_REGISTRY_BACKOFF_MAX_MS)
            r->backoff_ms = RC_REGISTRY_BACKOFF_MAX_MS;
        r->retry_at_ms = now_ms + r->backoff_ms;
        rc_errf(r->last_err, sizeof r->last_err, "%s", err);
        return rc;
    }
    r->backoff_ms = 0;
    r->retry_at_ms = 0;
    if (rc == RC_REGISTRY_OK) {
        /* Parsed now: a schema the codec refuses is remembered as such. */
        if (rc_codec_register(codec, id, text, len, why, sizeof why) == 0) {
            /* Kept for other codecs; should that fail, only the cache is
             * lost: this codec has the schema. */
            add_known(r, id, KNOWN_SCHEMA, 0, text, len, now_ms);
            return RC_REGISTRY_OK;
        }
        free(text);
        rc = RC_REGISTRY_INVALID;
        rc_errf(err, errlen, "schema id %" PRId32 " from the registry: %s", id, why);
    }
    if (rc == RC_REGISTRY_INVALID) {
        char *reason = strdup(err);
        if (reason)
            add_known(r, id, KNOWN_INVALID, 0, reason, strlen(reason), now_ms);
    } else {
        add_known(r, id, KNOWN_MISSING, now_ms + RC_REGISTRY_NEGATIVE_TTL_MS, NULL, 0, now_ms);
    }
    return rc;
}

int64_t rc_registry_retry_at(const rc_registry *r)
{
    return r->retry_at_ms;
}

size_t rc_registry_url_count(const rc_registry *r)
{
    return r->nurls;
}

const char *rc_registry_url(const rc_registry *r, size_t i)
{
    return i < r->nurls ? r->urls[i].shown : NULL;
}

const char *rc_registry_user(const rc_registry *r, size_t i)
{
    return i < r->nurls ? r->urls[i].user : NULL;
}

long rc_registry_requests(const rc_registry *r)
{
    return r->requests;
}
