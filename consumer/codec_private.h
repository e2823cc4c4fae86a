/*
 * codec_private.h - what codec.c (framings, loading, resolution, decoding)
 * and codec_json.c (JSON into Avro values, the JSON encoder) share. Private
 * to consumer/codec*.c: users include codec.h and codec_json.h.
 */
#ifndef RC_CODEC_PRIVATE_H
#define RC_CODEC_PRIVATE_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "codec.h"

/* Nesting of Avro values followed at most, decoding or storing JSON. */
#define RC_CODEC_MAX_DEPTH 64

struct named_def; /* codec.c: a named type's JSON definition */
struct pair;      /* codec.c: a compiled (writer, reader) resolution */

/* One schema file (or registered schema) of the codec. */
struct entry {
    char *label;        /* owned: file name, or "registry id N" */
    char *file;         /* owned, relative to the schemas dir; NULL if registered */
    char *fullname;     /* owned */
    json_t *json;       /* owned */
    avro_schema_t schema; /* owned reference */
    uint64_t fingerprint;
    int32_t id;
    int has_id;
    int reader;         /* index among readers, or -1 */
    struct named_def *named; /* owned */
    size_t nnamed;
    avro_value_iface_t *dec_iface; /* owned; readers only */
    avro_value_t dec_value;
    avro_value_iface_t *enc_iface; /* owned; created on first encode */
    avro_value_t enc_value;
    struct pair *pairs; /* owned, [nreaders]: this entry as writer */
};

struct rc_codec {
    struct entry **entries; /* owned */
    size_t nentries, capentries;
    struct entry **readers; /* borrowed from entries */
    size_t nreaders;
    rc_buf scratch;         /* string values being stored */
    rc_buf key;             /* map keys being stored */
    avro_writer_t writer;   /* owned; re-pointed per encode */
};

/* ---- codec.c ---- */

/* s with links followed; NULL stays NULL. */
avro_schema_t rc_avro_deref(avro_schema_t s);
/* 1 for record, enum and fixed: the types with a (full) name. */
int rc_avro_is_named(avro_type_t t);
/* "namespace.Name" of a named schema, into buf. */
void rc_avro_fullname(avro_schema_t s, char *buf, size_t len);
/* For messages: "int", "record Job", "null or string"... into buf. */
void rc_avro_describe(avro_schema_t s, char *buf, size_t len);

/*
 * The JSON "default" of field fname of record schema rec, as e's schema
 * file defines it (borrowed from e); NULL when the field has none.
 */
const json_t *rc_codec_field_default(const struct entry *e, avro_schema_t rec,
                                     const char *fname);

/* The current schema of record (full or short name), or NULL. */
struct entry *rc_codec_find_reader(const rc_codec *c, const char *record);
/* The schema loaded from file (relative to the schemas directory), or NULL. */
struct entry *rc_codec_find_file(const rc_codec *c, const char *file);

/* ---- codec_json.c ---- */

/*
 * Stores the JSON value v (borrowed) into dst, a value of schema s, by
 * rc_codec_encode_json's rules; fields v lacks get their default from e's
 * schema file. Uses c's scratch buffer. Returns 0, or -1 with a reason
 * naming the field path in err.
 */
int rc_codec_store_json(rc_codec *c, const struct entry *e, avro_value_t *dst,
                        avro_schema_t s, const json_t *v, char *err,
                        size_t errlen);

#endif
