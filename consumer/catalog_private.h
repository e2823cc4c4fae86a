/*
 * catalog_private.h - the compiled catalog, shared by catalog.c, which
 * builds it from catalog.json and maps records with it, and catalog_ts.c,
 * which prints it as TypeScript declarations. Private to consumer/catalog*.c:
 * users include catalog.h (and catalog_ts.h).
 *
 * Everything here is read-only once rc_catalog_new returned.
 */
#ifndef RC_CATALOG_PRIVATE_H
#define RC_CATALOG_PRIVATE_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>

#include "core/event.h"
#include "catalog.h"

/* Nested Avro types followed at most (catches recursive schemas). */
#define RC_CATALOG_TYPE_DEPTH_MAX 32

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

/* s with links followed; NULL stays NULL. */
avro_schema_t rc_cat_deref(avro_schema_t s);

/*
 * T for T, ["null",T] or [T,"null"] (setting *nullable); NULL for any other
 * union. Links are followed.
 */
avro_schema_t rc_cat_unwrap_null(avro_schema_t s, int *nullable);

#endif
