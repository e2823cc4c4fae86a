/*
 * fuzz_codec.c - libFuzzer target for the Avro framings, the resolving
 * decoder, the JSON encoder and Parsing Canonical Form
 * (consumer/codec.c, codec_json.c, pcf.c), over the schemas of schemas/
 * (RC_SCHEMAS_DIR overrides the directory).
 *
 * Byte 0: the high nibble (% 4) picks the operation, the low one n the
 * record (n % 5: RequestMutation, CommentMutation, AttachmentMutation,
 * ProgramMembership, JobEvent) and, for encoding, the framing (n / 5 % 3:
 * bare, single-object, Confluent). The rest is:
 *  0: a Kafka payload, decoded as the record. A refusal says why. A
 *     decoded value is of the reader schema, the framing reported is the
 *     one its first bytes announce (0x00: Confluent, C3 01: single-object,
 *     else bare), and it is a fixed point: written by avro-c and decoded
 *     again (single-object framing with the reader's fingerprint, writer
 *     = reader), it writes the same bytes.
 *  1: a JSON record encoded with the current schema as writer, in the
 *     framing: what the encoder writes, the decoder reads, with that
 *     framing, and avro-c writes the decoded value back to the very bytes
 *     after the header (a bare record starting with 0x00 reads as a
 *     Confluent header and is skipped).
 *  2: a schema put in Parsing Canonical Form, which must be a fixed point
 *     and have the fingerprint of the original.
 *  3: a JSON RequestMutation encoded with an older writer schema
 *     (history/request_mutation.v1.avsc) in the framing, then decoded with
 *     the current one as reader: schema resolution must read it, with the
 *     writer's event_id, and with previous_assignee_id (absent from v1)
 *     at its default, null, when the framing names the writer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/pcf.h"

#define NRECORDS 5
static const char *const records[NRECORDS] = {
    "RequestMutation", "CommentMutation", "AttachmentMutation", "ProgramMembership", "JobEvent",
};
static const enum rc_framing framings[] = {
    RC_FRAMING_BARE,
    RC_FRAMING_SINGLE_OBJECT,
    RC_FRAMING_CONFLUENT,
};
static const char *const old_writer = "history/request_mutation.v1.avsc";

static rc_codec *c;
static unsigned char so_header[NRECORDS][10]; /* single-object, reader as writer */

/* avro-c packs some values at unaligned offsets, where LeakSanitizer does
 * not look for pointers: free everything at exit instead of relying on it
 * to find the live codec. */
static void codec_free(void)
{
    rc_codec_destroy(c);
    c = NULL;
}

/* The single-object header of each reader schema, from its canonical form. */
static void headers_init(void)
{
    for (int r = 0; r < NRECORDS; r++) {
        char err[256], buf[65536];
        avro_writer_t w = avro_writer_memory(buf, sizeof buf - 1);
        uint64_t fp;
        if (avro_schema_to_json(rc_codec_schema(c, records[r]), w) != 0 ||
            rc_pcf_fingerprint(buf, (size_t)avro_writer_tell(w), &fp, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_codec: fingerprint of %s: %s\n", records[r], err);
            abort();
        }
        avro_writer_free(w);
        so_header[r][0] = 0xC3;
        so_header[r][1] = 0x01;
        for (int i = 0; i < 8; i++)
            so_header[r][2 + i] = (unsigned char)(fp >> (8 * i));
    }
}

static void codec(void)
{
    if (c)
        return;
    char err[512];
    const char *dir = getenv("RC_SCHEMAS_DIR");
    c = rc_codec_new(dir ? dir : RC_DEFAULT_SCHEMAS_DIR, err, sizeof err);
    if (!c) {
        fprintf(stderr, "fuzz_codec: %s\n", err);
        abort();
    }
    atexit(codec_free);
    headers_init();
}

/* avro-c's binary encoding of v, appended to out. */
static void write_value(avro_value_t *v, rc_buf *out)
{
    size_t size;
    if (avro_value_sizeof(v, &size) != 0 || rc_buf_reserve(out, size + 1) < 0)
        abort();
    avro_writer_t w = avro_writer_memory(out->p + out->len, (int64_t)size);
    if (avro_value_write(w, v) != 0 || avro_writer_tell(w) != (int64_t)size)
        abort();
    avro_writer_free(w);
    out->len += size;
}

static enum rc_framing announced(const unsigned char *p, size_t n)
{
    if (n && p[0] == 0x00)
        return RC_FRAMING_CONFLUENT;
    if (n >= 2 && p[0] == 0xC3 && p[1] == 0x01)
        return RC_FRAMING_SINGLE_OBJECT;
    return RC_FRAMING_BARE;
}

static void check_reader(int r, avro_value_t *v)
{
    const char *name = avro_schema_name(avro_value_get_schema(v));
    if (!name || strcmp(name, records[r]) != 0)
        abort();
}

/* Decodes p as record r; on success checks the value and that it is a
 * fixed point of write + decode. */
static void fuzz_decode(int r, const unsigned char *p, size_t n)
{
    char err[512] = "";
    avro_value_t *v = NULL;
    enum rc_framing got = RC_FRAMING_AUTO;
    if (rc_codec_decode(c, records[r], p, n, &v, &got, err, sizeof err) != 0) {
        if (!err[0])
            abort(); /* a failure always says why */
        return;
    }
    if (!v || got != announced(p, n))
        abort();
    check_reader(r, v);
    char *json = NULL;
    if (avro_value_to_json(v, 1, &json) != 0)
        abort();
    free(json);

    rc_buf a = {0}, b = {0};
    rc_buf_append(&a, so_header[r], 10);
    write_value(v, &a);
    /* v belongs to the codec until the next decode of the record */
    if (rc_codec_decode(c, records[r], a.p, a.len, &v, &got, err, sizeof err) != 0 ||
        got != RC_FRAMING_SINGLE_OBJECT)
        abort();
    rc_buf_append(&b, so_header[r], 10);
    write_value(v, &b);
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
        abort();
    rc_buf_free(&a);
    rc_buf_free(&b);
}

static size_t header_len(enum rc_framing f)
{
    return f == RC_FRAMING_CONFLUENT ? 5 : f == RC_FRAMING_SINGLE_OBJECT ? 10 : 0;
}

static void fuzz_encode(int r, enum rc_framing f, const char *json, size_t n)
{
    char err[512];
    rc_buf out = {0};
    if (rc_codec_encode_json(c, records[r], json, n, f, &out, err, sizeof err) != 0) {
        rc_buf_free(&out);
        return;
    }
    size_t hlen = header_len(f);
    if (out.len < hlen || announced((unsigned char *)out.p, out.len) != f) {
        /* a bare record whose first string is empty looks like a Confluent
         * header: the one ambiguity of the framings */
        if (!(f == RC_FRAMING_BARE && out.len && out.p[0] == 0))
            abort();
        rc_buf_free(&out);
        return;
    }
    avro_value_t *v = NULL;
    enum rc_framing got;
    if (rc_codec_decode(c, records[r], out.p, out.len, &v, &got, err, sizeof err) != 0 || got != f)
        abort();
    check_reader(r, v);
    rc_buf back = {0};
    write_value(v, &back);
    if (back.len != out.len - hlen || memcmp(back.p, out.p + hlen, back.len) != 0)
        abort();
    rc_buf_free(&back);
    rc_buf_free(&out);
}

static void fuzz_old_writer(enum rc_framing f, const char *json, size_t n)
{
    char err[512];
    rc_buf out = {0};
    if (rc_codec_encode_json_as(c, old_writer, json, n, f, &out, err, sizeof err) != 0) {
        rc_buf_free(&out);
        return;
    }
    if (f == RC_FRAMING_BARE && out.len && out.p[0] == 0) {
        rc_buf_free(&out); /* reads as a Confluent header */
        return;
    }
    avro_value_t *v = NULL;
    enum rc_framing got;
    if (rc_codec_decode(c, "RequestMutation", out.p, out.len, &v, &got, err, sizeof err) != 0 ||
        got != f) {
        fprintf(stderr, "fuzz_codec: v1 record not read: %s\n", err);
        abort();
    }
    check_reader(0, v);
    /* the event id is the writer's */
    json_t *in = json_loadb(json, n, JSON_ALLOW_NUL, NULL);
    const char *want = json_string_value(json_object_get(in, "event_id"));
    size_t want_len = json_string_length(json_object_get(in, "event_id"));
    avro_value_t field, branch;
    const char *id = NULL;
    size_t id_size = 0;
    if (!want || avro_value_get_by_name(v, "event_id", &field, NULL) != 0 ||
        avro_value_get_string(&field, &id, &id_size) != 0 || id_size != want_len + 1 ||
        memcmp(id, want, want_len) != 0)
        abort();
    /* a field the writer lacks gets the reader's default */
    int disc = -1;
    if (f != RC_FRAMING_BARE &&
        (avro_value_get_by_name(v, "previous_assignee_id", &field, NULL) != 0 ||
         avro_value_get_discriminant(&field, &disc) != 0 || disc != 0 ||
         avro_value_get_current_branch(&field, &branch) != 0 ||
         avro_value_get_type(&branch) != AVRO_NULL))
        abort();
    json_decref(in);
    rc_buf_free(&out);
}

static void fuzz_pcf(const char *p, size_t n)
{
    char err[512];
    char *canon = rc_pcf_canonical(p, n, err, sizeof err);
    if (!canon)
        return;
    /* canonical form is a fixed point, and the fingerprint is its CRC */
    char *again = rc_pcf_canonical(canon, strlen(canon), err, sizeof err);
    uint64_t fp;
    if (!again || strcmp(again, canon) != 0 || rc_pcf_fingerprint(p, n, &fp, err, sizeof err) ||
        fp != rc_pcf_crc64(canon, strlen(canon)))
        abort();
    free(again);
    free(canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    codec();
    int op = (data[0] >> 4) % 4;
    int r = (data[0] & 0x0f) % NRECORDS;
    enum rc_framing f = framings[(data[0] & 0x0f) / NRECORDS % 3];
    const unsigned char *p = data + 1;
    size_t n = size - 1;

    switch (op) {
    case 0:
        fuzz_decode(r, p, n);
        break;
    case 1:
        fuzz_encode(r, f, (const char *)p, n);
        break;
    case 2:
        fuzz_pcf((const char *)p, n);
        break;
    default:
        fuzz_old_writer(f, (const char *)p, n);
        break;
    }
    return 0;
}
