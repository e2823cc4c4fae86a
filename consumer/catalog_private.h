/*
 * catalog_private.h - the compiled catalog and what the files of the
 * catalog module share. Private to consumer/catalog*.c: users include
 * catalog.h (and catalog_ts.h).
 *
 *   catalog.c         reads catalog.json, checks the whole catalog, topics
 *   catalog_record.c  compiles one entry of "records" and its events
 *   catalog_field.c   compiles field references, object mappings and room
 *                     templates against a record schema
 *   catalog_map.c     maps a decoded record to an event (the hot path)
 *   catalog_value.c   writes Avro values as JSON text
 *   catalog_ts.c      prints the catalog as TypeScript declarations
 *
 * Everything here is read-only once rc_catalog_new returned.
 */
#ifndef RC_CATALOG_PRIVATE_H
#define RC_CATALOG_PRIVATE_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

#include "core/event.h"
#include "core/slice.h"
#include "catalog.h"

/* Nested Avro types followed at most (catches recursive schemas). */
#define RC_CATALOG_TYPE_DEPTH_MAX 32
/* Longest event name, in bytes. */
#define RC_CATALOG_EVENT_NAME_MAX 64

/* Avro types as a bit mask (bit per avro_type_t), for the types a field
 * may have. */
#define RC_CATALOG_TYPE_BIT(t) (1u << (t))
#define RC_CATALOG_SCALAR_ID_TYPES                                            \
    (RC_CATALOG_TYPE_BIT(AVRO_STRING) | RC_CATALOG_TYPE_BIT(AVRO_INT32) |     \
     RC_CATALOG_TYPE_BIT(AVRO_INT64) | RC_CATALOG_TYPE_BIT(AVRO_ENUM))

/* A field reference compiled to indices into the record schema. */
struct path {
    char *text;         /* as written in the catalog, owned */
    int *idx;           /* field index per step, owned */
    size_t n;
    avro_schema_t type; /* schema of the last field; borrowed from the record */
    int nullable;       /* the field or a record on the way may be null */
};

/* A JSON value of the payload: one field, or an object of named nodes. */
struct node {
    char *key;      /* member name, owned; NULL for the root of data */
    char *key_lit;  /* `"key":` ready to append, owned */
    size_t key_lit_len;
    int is_object;
    struct path path;       /* when !is_object */
    struct node *members;   /* when is_object, owned array */
    size_t nmembers;
};

/* "program:{program_id}" as literal and field parts. */
struct tmpl_part {
    char *lit;          /* owned, may be "" */
    size_t lit_len;
    int has_path;
    struct path path;   /* when has_path */
};

struct tmpl {
    char *text;         /* as written, owned */
    struct tmpl_part *parts; /* owned */
    size_t nparts;
};

struct event_spec {
    char *symbol;       /* enum symbol, owned */
    char *name;         /* "request:assigned", owned */
    char *name_lit;     /* `"request:assigned"` JSON literal, owned */
    char *ts_name;      /* "RequestAssignedEvent", owned */
    char *doc;          /* owned, may be NULL */
    struct tmpl *rooms; /* owned array */
    size_t nrooms;
    struct node data;   /* object */
    int transient;
    enum rc_member_op member_op;
    struct path member_user, member_program; /* when member_op != NONE */
};

struct record_spec {
    char *full_name;    /* "io.roomcast.mutations.JobEvent", owned */
    const char *short_name; /* points into full_name */
    char *topic;        /* owned */
    avro_schema_t schema; /* owned reference */
    size_t nfields;     /* top-level fields of the schema */
    struct path event_id, timestamp, action;
    struct node ids;    /* object: top-level id keys, omitted when null */
    int has_performed_by;
    struct node performed_by; /* object */
    struct event_spec *events; /* owned, catalog order */
    size_t nevents;
    int *by_symbol;     /* enum number -> index in events, owned */
    size_t nsymbols;
};

struct rc_catalog {
    struct record_spec *recs; /* owned */
    size_t nrecs;
    json_t *typescript;       /* owned reference, may be NULL */
};

/* One rc_catalog_new at work: where its errors go and what they name. */
struct loader {
    const char *dir;
    char *errstr;
    size_t errlen;
    char ctx[256]; /* "record RequestMutation, event ASSIGNED" */
    int failed;
};

/* ---- catalog.c ---- */

/*
 * Fills errstr with "<dir>/catalog.json: <ctx>: <message>" unless an error
 * is there already (the first one is kept). Returns -1.
 */
int rc_cat_fail(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* dir/name, read whole (malloc'ed, transferred), or NULL after rc_cat_fail. */
char *rc_cat_read_file(struct loader *ld, const char *name, size_t *len);

/* Fails on a member of obj not in allowed (NULL-terminated); where (may be
 * NULL) names obj in the message. Returns 0 or -1. */
int rc_cat_check_keys(struct loader *ld, json_t *obj, const char *where,
                      const char *const *allowed);

/* 1 when s is an event name the catalog may use; 1 when socket.io-client
 * reserves it; 1 when s[0..n) is a valid Kafka topic name. */
int rc_cat_valid_event_name(const char *s);
int rc_cat_reserved_event_name(const char *s);
int rc_cat_valid_topic(const char *s, size_t n);

/*
 * The record named name[0..len), full name first, then short name; NULL
 * when unknown or, setting *ambiguous, when the short name is not unique.
 */
struct record_spec *rc_cat_find_record(const rc_catalog *cat, const char *name,
                                       size_t len, int *ambiguous);

/* ---- catalog_record.c ---- */

/* Compiles records[pos] (spec, borrowed) into r. Returns 0 or -1. */
int rc_cat_compile_record(struct loader *ld, json_t *spec, size_t pos,
                          struct record_spec *r);
/* Frees what r owns (r itself is not freed); fine on a partial record. */
void rc_cat_record_free(struct record_spec *r);

/* ---- catalog_field.c ---- */

/* s with links followed; NULL stays NULL. */
avro_schema_t rc_cat_deref(avro_schema_t s);

/*
 * T for T, ["null",T] or [T,"null"] (setting *nullable); NULL for any other
 * union. Links are followed.
 */
avro_schema_t rc_cat_unwrap_null(avro_schema_t s, int *nullable);

/* strdup, or NULL after rc_cat_fail. */
char *rc_cat_strdup(struct loader *ld, const char *s);

/*
 * Compiles the field reference text ("a.b.c") of r's schema into p: its
 * type, nulls aside, must be one of mask (RC_CATALOG_TYPE_BIT), and it may
 * be nullable only with allow_null. what names the place in messages.
 */
int rc_cat_compile_typed_path(struct loader *ld, struct record_spec *r,
                              const char *what, const char *text,
                              unsigned mask, int allow_null, struct path *p);

/*
 * Compiles an object mapping {"key": "field.path" | {...}} into n. reserved
 * lists keys the object may not use (NULL-terminated, may be NULL).
 */
int rc_cat_compile_object(struct loader *ld, struct record_spec *r,
                          const char *what, json_t *obj, int depth,
                          const char *const *reserved, struct node *n);

/* Compiles the room template text ("program:{program_id}") into t. */
int rc_cat_compile_tmpl(struct loader *ld, struct record_spec *r,
                        const char *what, const char *text, struct tmpl *t);

/* Free what they own; each is fine on a partly compiled one. */
void rc_cat_path_free(struct path *p);
void rc_cat_node_free(struct node *n);
void rc_cat_tmpl_free(struct tmpl *t);

/* ---- catalog_value.c ---- */

/* Text of a string value; the length excludes avro-c's terminator. */
int rc_cat_get_text(avro_value_t *v, const char **s, size_t *n);

/* Follows union branches; *is_null when the value is (or selects) null. */
int rc_cat_unwrap_value(avro_value_t *v, int *is_null);

/*
 * Appends v (any supported Avro value) to b as JSON. Returns 0, or -1 with a
 * one-line reason naming what in err.
 */
int rc_cat_put_value(rc_buf *b, avro_value_t *v, const char *what, char *err,
                     size_t errlen);

#endif
