/*
 * fuzz_codec.c - libFuzzer target for the Avro framings, the resolving
 * decoder, the JSON encoder and Parsing Canonical Form.
 *
 * The first input byte picks the record (low bits) and the operation (high
 * bits): decode the rest as a Kafka payload, encode the rest as a JSON
 * record and decode the result back (it must decode), or canonicalise the
 * rest as a schema. Build with clang:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -DRC_DEFAULT_SCHEMAS_DIR='"schemas"' -I. tests/fuzz/fuzz_codec.c \
 *     consumer/codec.c consumer/pcf.c core/slice.c \
 *     $(pkg-config --cflags --libs avro-c jansson) -o fuzz_codec
 * and run from the source tree (RC_SCHEMAS_DIR overrides the directory).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/pcf.h"

static const char *const records[] = {
    "RequestMutation", "CommentMutation", "AttachmentMutation",
    "ProgramMembership", "JobEvent",
};

static rc_codec *c;

/* avro-c packs some values at unaligned offsets, where LeakSanitizer does
 * not look for pointers: free everything at exit instead of relying on it
 * to find the live codec. */
static void codec_free(void)
{
    rc_codec_destroy(c);
    c = NULL;
}

static rc_codec *codec(void)
{
    if (!c) {
        char err[512];
        const char *dir = getenv("RC_SCHEMAS_DIR");
        c = rc_codec_new(dir ? dir : RC_DEFAULT_SCHEMAS_DIR, err, sizeof err);
        if (!c) {
            fprintf(stderr, "fuzz_codec: %s\n", err);
            abort();
        }
        atexit(codec_free);
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    codec();
    const char *record = records[data[0] % 5];
    int op = (data[0] >> 4) % 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char err[512];
    avro_value_t *v = NULL;

    if (op == 0) {
        if (rc_codec_decode(c, record, p, n, &v, NULL, err, sizeof err) == 0) {
            char *json = NULL;
            if (avro_value_to_json(v, 1, &json) == 0)
                free(json);
        } else if (!err[0]) {
            abort(); /* a failure always says why */
        }
    } else if (op == 1) {
        rc_buf out = {0};
        static const enum rc_framing fr[] = {
            RC_FRAMING_BARE, RC_FRAMING_SINGLE_OBJECT, RC_FRAMING_CONFLUENT};
        enum rc_framing f = fr[(data[0] >> 2) % 3];
        if (rc_codec_encode_json(c, record, (const char *)p, n, f, &out, err,
                                 sizeof err) == 0) {
            enum rc_framing got;
            /* What the encoder writes, the decoder reads (a bare record
             * whose first string is empty looks like Confluent framing). */
            if (rc_codec_decode(c, record, out.p, out.len, &v, &got, err,
                                sizeof err) != 0 &&
                !(f == RC_FRAMING_BARE && out.len && out.p[0] == 0))
                abort();
        }
        rc_buf_free(&out);
    } else {
        char *canon = rc_pcf_canonical((const char *)p, n, err, sizeof err);
        if (canon) {
            /* Canonical form is a fixed point. */
            char *again = rc_pcf_canonical(canon, strlen(canon), err, sizeof err);
            if (!again || strcmp(again, canon) != 0)
                abort();
            free(again);
            free(canon);
        }
    }
    return 0;
}
