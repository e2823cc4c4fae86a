/*
 * codec_private.h - what the files of the codec share. Private to
 * consumer/codec*.c: users include codec.h and codec_json.h.
 *
 *   codec.c         framings, schema loading and lookups, rc_codec_decode
 *   codec_plan.c    resolution plans of (writer, reader) pairs
 *   codec_decode.c  the checked decoder that runs a plan over a payload
 *   codec_json.c    JSON into Avro values: reader defaults, the encoder
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

struct named_def; /* a named type's JSON definition, below */
struct pair;      /* a compiled (writer, reader) resolution, below */

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

/* A named type (record, enum, fixed) of an entry's schema, by full name. */
struct named_def {
    char *fullname;     /* owned */
    const json_t *def;  /* borrowed from the entry's JSON */
};

/* The definition of the named type fullname in e's schema, or NULL. */
const struct named_def *rc_codec_find_named(const struct entry *e,
                                            const char *fullname);

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
/* The schema with Confluent id id (registry.json or registered), or NULL. */
struct entry *rc_codec_find_id(const rc_codec *c, int32_t id);

/* ---- codec_plan.c ---- */

/*
 * A resolution plan is a graph of steps (with a cycle for a recursive
 * record); a pair owns every step of its plan (nodes) and points at the
 * root.
 */

/* What a step reads. */
enum op {
    RC_OP_PRIM,   /* primitive, with promotion wt -> rt */
    RC_OP_FIXED,
    RC_OP_ENUM,
    RC_OP_RECORD,
    RC_OP_ARRAY,
    RC_OP_MAP,
    RC_OP_WUNION, /* writer is a union: one plan per writer branch */
    RC_OP_RUNION, /* writer is not a union, reader is: one reader branch */
};

struct plan;

struct field_step {
    const char *name;  /* borrowed from the writer schema */
    int rindex;        /* reader field index, -1 to skip */
    struct plan *plan; /* borrowed from the pair */
};

struct default_step {
    const char *name;      /* borrowed from the reader schema */
    int rindex;
    avro_schema_t schema;  /* borrowed reader field schema */
    const json_t *value;   /* borrowed from the reader entry's JSON */
};

struct plan {
    enum op op;
    avro_schema_t w, r;  /* borrowed; memo key for records */
    avro_type_t wt, rt;  /* RC_OP_PRIM */
    size_t min_size;     /* fewest bytes one value takes in the payload */
    int64_t fixed_size;  /* RC_OP_FIXED */
    int *enum_map;       /* RC_OP_ENUM: writer index -> reader index or -1 */
    int nsymbols;
    struct field_step *fields; /* RC_OP_RECORD: writer fields in order */
    size_t nfields;
    struct default_step *defaults; /* RC_OP_RECORD: reader-only fields */
    size_t ndefaults;
    struct plan *items;  /* RC_OP_ARRAY, RC_OP_MAP values, RC_OP_RUNION branch */
    int branch;          /* RC_OP_RUNION: reader branch */
    int failed;          /* RC_OP_RECORD: compiling it failed; never used */
    struct plan **branches; /* RC_OP_WUNION: NULL when unreadable */
    char **branch_err;      /* RC_OP_WUNION: why */
    size_t nbranches;
};

struct pair {
    int state;          /* 0 not compiled, 1 ready, -1 failed */
    struct plan *root;  /* borrowed from nodes */
    struct plan **nodes; /* owned */
    size_t nnodes, capnodes;
    char *error;        /* owned, when state == -1 */
};

/* a + b, or SIZE_MAX when that overflows. */
static inline size_t rc_codec_sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/*
 * The plan for reading what w wrote as r's value, compiled on first use and
 * kept in w->pairs[r->reader]: state 1 and a root, or state -1 and the
 * reason in error.
 */
struct pair *rc_codec_get_pair(struct entry *w, struct entry *r);
/* Frees a pair's plans and error, and zeroes it. */
void rc_codec_pair_clear(struct pair *pr);

/* ---- codec_decode.c ---- */

/*
 * Decodes body[0..len) (borrowed) as written by w into r's cached value
 * (r->dec_value); the whole body must be used. Returns 0, or -1 with a
 * one-line reason in err.
 */
int rc_codec_decode_as(rc_codec *c, struct entry *w, struct entry *r,
                       const unsigned char *body, size_t len, char *err,
                       size_t errlen);

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
