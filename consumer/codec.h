/*
 * codec.h - Avro framings and schema resolution for Kafka record values.
 *
 * The codec loads every schema in the schemas directory once at start: the
 * current version of each record (the reader schema), its older versions
 * (schemas/history/), and the Confluent schema-id map (schemas/registry.json).
 * A payload is recognised by its first bytes:
 *   0x00 + 4-byte big-endian id        Confluent wire format (id -> writer)
 *   0xC3 0x01 + 8-byte LE fingerprint  Avro single-object encoding
 *                                      (CRC-64-AVRO of the writer's
 *                                      Parsing Canonical Form)
 *   anything else                      bare Avro binary, writer = reader
 * and decoded in place (no copy of the payload, no schema parsing per record)
 * into a value of the record's reader schema, resolving writer to reader
 * (fields added with a default, fields removed, int->long promotion, enum by
 * symbol). A bare record names no writer: when the current schema does not
 * read it exactly, the record's older versions are tried, newest first.
 * registry.json is optional; without it only ids added by rc_codec_register
 * are known. docs/schemas.md describes the files.
 *
 * Not thread-safe: one codec per thread.
 */
#ifndef RC_CODEC_H
#define RC_CODEC_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"

typedef struct rc_codec rc_codec;

enum rc_framing {
    RC_FRAMING_AUTO = 0, /* decode only: detect from the magic bytes */
    RC_FRAMING_BARE,
    RC_FRAMING_SINGLE_OBJECT,
    RC_FRAMING_CONFLUENT,
};

/* Loads schemas_dir; NULL with errstr set when a schema is missing or bad. */
rc_codec *rc_codec_new(const char *schemas_dir, char *errstr, size_t errlen);
void rc_codec_destroy(rc_codec *c);

/* "bare" | "single-object" | "confluent" -> framing, or -1. */
int rc_framing_parse(const char *name);
const char *rc_framing_name(enum rc_framing f);

/*
 * The reader schema of a record, by full name ("io.roomcast.mutations.JobEvent")
 * or short name ("JobEvent"); borrowed, NULL when unknown.
 */
avro_schema_t rc_codec_schema(rc_codec *c, const char *record);

/*
 * Decodes buf (borrowed, not copied) as record. On success returns 0 and sets
 * *out to a value of the record's reader schema, owned by the codec and
 * valid until the next decode of the same record; *framing_out (may be NULL)
 * tells which framing was found. On failure returns -1 and writes a one-line
 * reason to err ("unknown schema id 42", "truncated record", ...).
 */
int rc_codec_decode(rc_codec *c, const char *record, const void *buf,
                    size_t len, avro_value_t **out,
                    enum rc_framing *framing_out, char *err, size_t errlen);

/*
 * Adds a writer schema (JSON text, borrowed) under a Confluent schema id,
 * e.g. one fetched from a Schema Registry after rc_codec_unknown_id. Returns
 * 0 when added or when the id already names the same schema (same
 * fingerprint), -1 with err otherwise (bad schema, id taken by another).
 */
int rc_codec_register(rc_codec *c, int32_t id, const char *json, size_t len,
                      char *err, size_t errlen);

/*
 * Returns 1 and sets *id when buf (borrowed) is in Confluent framing with a
 * schema id the codec does not know yet, else 0.
 */
int rc_codec_unknown_id(const rc_codec *c, const void *buf, size_t len,
                        int32_t *id);

/*
 * Returns 1 when buf (borrowed) names its writer schema, by Confluent
 * schema id or single-object fingerprint, and the codec has no such
 * schema; else 0 (bare Avro never names one). Tells an unknown schema from
 * other decoding failures.
 */
int rc_codec_unknown_writer(const rc_codec *c, const void *buf, size_t len);

#endif
