/*
 * fuzz_registry.c - libFuzzer target for Schema Registry answers
 * (consumer/registry.c: rc_registry_parse_answer) and for the schemas they
 * carry, registered in a codec over schemas/ (RC_SCHEMAS_DIR overrides the
 * directory), as rc_registry_resolve does with what a registry sends.
 *
 * Byte 0 picks the HTTP status (% 8: 200, 404, 401, 403, 500, 503, 302,
 * 400); the rest is the answer's body. Invariants: the result is one of
 * the four; only a 200 yields a schema, and then exactly the bytes of the
 * body's "schema" string, NUL-terminated; "not found" only for a 404; any
 * other result says why and yields nothing. A schema yielded is given to
 * rc_codec_register under a fresh id: accepted, the id is known to the
 * codec afterwards, and registering the same text again under that id is
 * accepted too (same fingerprint); refused, the refusal says why.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/codec.h"
#include "consumer/registry.h"

static const long statuses[8] = {200, 404, 401, 403, 500, 503, 302, 400};
static rc_codec *c;
static int32_t next_id = 1000000;

static void codec_free(void)
{
    rc_codec_destroy(c);
    c = NULL;
}

/* A codec over schemas/, renewed now and then: registered ids stay. */
static rc_codec *codec(void)
{
    static int registered;
    if (c && ++registered % 256 == 0)
        codec_free();
    if (c)
        return c;
    char err[512];
    const char *dir = getenv("RC_SCHEMAS_DIR");
    c = rc_codec_new(dir ? dir : RC_DEFAULT_SCHEMAS_DIR, err, sizeof err);
    if (!c) {
        fprintf(stderr, "fuzz_registry: %s\n", err);
        abort();
    }
    static int once;
    if (!once++)
        atexit(codec_free);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    long status = statuses[data[0] % 8];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char err[512] = "", *schema = (char *)"untouched";
    size_t slen = 12345;
    int rc = rc_registry_parse_answer(status, body, len, 42, &schema, &slen, err, sizeof err);
    if (rc != RC_REGISTRY_OK && rc != RC_REGISTRY_NOT_FOUND && rc != RC_REGISTRY_INVALID &&
        rc != RC_REGISTRY_UNAVAILABLE)
        abort();
    if (rc != RC_REGISTRY_OK) {
        if (schema || slen || !err[0])
            abort(); /* nothing yielded, and a reason given */
        if (rc == RC_REGISTRY_NOT_FOUND && status != 404)
            abort();
        return 0;
    }
    if (status != 200 || !schema || schema[slen] != '\0')
        abort();
    json_t *root = json_loadb(body, len, 0, NULL);
    const json_t *s = json_object_get(root, "schema");
    if (!json_is_string(s) || json_string_length(s) != slen ||
        memcmp(json_string_value(s), schema, slen) != 0)
        abort(); /* exactly the "schema" string */
    json_decref(root);

    rc_codec *k = codec();
    int32_t id = next_id++, known;
    unsigned char framed[6] = {0, (unsigned char)(id >> 24), (unsigned char)(id >> 16),
                               (unsigned char)(id >> 8), (unsigned char)id, 0};
    if (!rc_codec_unknown_id(k, framed, sizeof framed, &known) || known != id)
        abort();
    err[0] = '\0';
    if (rc_codec_register(k, id, schema, slen, err, sizeof err) == 0) {
        if (rc_codec_unknown_id(k, framed, sizeof framed, &known))
            abort(); /* registered ids are known */
        if (rc_codec_register(k, id, schema, slen, err, sizeof err) != 0)
            abort(); /* the same schema again is fine */
    } else if (!err[0]) {
        abort(); /* a refusal says why */
    }
    free(schema);
    return 0;
}
