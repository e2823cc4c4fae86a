/*
 * codec_json.h - JSON objects encoded as Avro records, for producers of
 * test and demo data (the demo producer, roomcast-produce, the tests).
 *
 * The schemas, framings and Confluent ids are the codec's (codec.h); the
 * rules by which JSON values become Avro values are docs/schemas.md's
 * "JSON records". Not thread-safe: one codec per thread.
 */
#ifndef RC_CODEC_JSON_H
#define RC_CODEC_JSON_H

#include <stddef.h>

#include "core/slice.h"
#include "codec.h"

/*
 * Encodes a JSON object (field names as in the schema; unions given as plain
 * values or null; enums as symbol strings; timestamp-millis as a number) as
 * record in the given framing (not AUTO), appending the bytes to out. For
 * single-object and Confluent framing the current schema is the writer; the
 * Confluent id is the one registry.json maps to it. Returns 0 or -1 with err.
 */
int rc_codec_encode_json(rc_codec *c, const char *record, const char *json,
                         size_t len, enum rc_framing framing, rc_buf *out,
                         char *err, size_t errlen);

/*
 * Like rc_codec_encode_json, but with the schema file schema_file (relative
 * to the schemas directory, e.g. "history/request_mutation.v1.avsc") as the
 * writer, so records can be produced as an older writer would have written
 * them. Confluent framing uses the id registry.json gives that file.
 */
int rc_codec_encode_json_as(rc_codec *c, const char *schema_file,
                            const char *json, size_t len,
                            enum rc_framing framing, rc_buf *out, char *err,
                            size_t errlen);

/*
 * Encodes like rc_codec_encode_json, in Confluent framing with schema id id
 * in the header, as a producer whose Schema Registry handed out that id
 * would: the writer is writer_json (schema text, borrowed, writer_len
 * bytes), which is added to c under id (refused when id already names
 * another schema), or with writer_json NULL the record's current schema.
 * The writer must define record (same full name).
 */
int rc_codec_encode_json_id(rc_codec *c, const char *record, int32_t id,
                            const char *writer_json, size_t writer_len,
                            const char *json, size_t len, rc_buf *out,
                            char *err, size_t errlen);

#endif
