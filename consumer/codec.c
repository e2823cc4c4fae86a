/*
 * codec.c - Avro framings, schema resolution and decoding.
 *
 * Implementation notes.
 *
 * Schemas. Every *.avsc of the schemas directory (readers) and of history/
 * (older writers) becomes an entry: its JSON (jansson, kept for field
 * defaults, which avro-c drops), its avro-c schema, its CRC-64-AVRO
 * fingerprint (pcf.c) and, from registry.json, its Confluent id. Lookups by
 * id or fingerprint are linear: a codec holds tens of schemas, not thousands.
 *
 * Decoding. avro-c 1.11.1 cannot be used for untrusted payloads or for
 * resolution: its binary reader allocates whatever length a string header
 * claims before checking the input (a 9-byte payload can ask for 64 GiB),
 * and its resolved writer refuses a reader field that the writer lacks even
 * when the field has a default (and maps enums by index, not by symbol). So
 * the codec compiles, once per (writer, reader) pair and on first use, a
 * resolution plan: a tree of steps that says what to read from the writer's
 * bytes and where to store it in the reader's value (which reader field,
 * which promotion, which enum symbol, which union branch), which writer
 * fields to skip and which reader fields to fill from their defaults. One
 * pass over the borrowed payload then decodes it straight into the reader
 * value cached for the record: no copy of the payload, no intermediate
 * writer value, no schema work per record. Every length and count is checked
 * against the bytes left before anything is allocated; strings must be
 * UTF-8 without NUL; the payload must be consumed exactly. Recursive schemas
 * compile to cyclic plans (records are memoised per pair) and decoding
 * depth is bounded. Reader fields missing from the writer get their JSON
 * default through codec_json.c.
 */
#include "codec.h"
#include "codec_private.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errstr.h"
#include "core/file.h"
#include "core/utf8.h"
#include "pcf.h"

#define RC_CODEC_MAX_SCHEMA_BYTES (1024 * 1024)
/* Items of zero encoded size (null) per array block. */
#define RC_CODEC_MAX_EMPTY_ITEMS 65536

/* ------------------------------------------------------------------ */
/* Types                                                                */

enum op {
    OP_PRIM,   /* primitive, with promotion wt -> rt */
    OP_FIXED,
    OP_ENUM,
    OP_RECORD,
    OP_ARRAY,
    OP_MAP,
    OP_WUNION, /* writer is a union: one plan per writer branch */
    OP_RUNION, /* writer is not a union, reader is: one reader branch */
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
    avro_type_t wt, rt;  /* OP_PRIM */
    size_t min_size;     /* fewest bytes one value takes in the payload */
    int64_t fixed_size;  /* OP_FIXED */
    int *enum_map;       /* OP_ENUM: writer index -> reader index or -1 */
    int nsymbols;
    struct field_step *fields; /* OP_RECORD: writer fields in order */
    size_t nfields;
    struct default_step *defaults; /* OP_RECORD: reader-only fields */
    size_t ndefaults;
    struct plan *items;  /* OP_ARRAY, OP_MAP values, OP_RUNION branch */
    int branch;          /* OP_RUNION: reader branch */
    int failed;          /* OP_RECORD: compiling it failed; never used */
    struct plan **branches; /* OP_WUNION: NULL when unreadable */
    char **branch_err;      /* OP_WUNION: why */
    size_t nbranches;
};

struct pair {
    int state;          /* 0 not compiled, 1 ready, -1 failed */
    struct plan *root;  /* borrowed from nodes */
    struct plan **nodes; /* owned */
    size_t nnodes, capnodes;
    char *error;        /* owned, when state == -1 */
};

struct named_def {
    char *fullname;     /* owned */
    const json_t *def;  /* borrowed from the entry's JSON */
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

avro_schema_t rc_avro_deref(avro_schema_t s)
{
    while (s && avro_typeof(s) == AVRO_LINK)
        s = avro_schema_link_target(s);
    return s;
}

int rc_avro_is_named(avro_type_t t)
{
    return t == AVRO_RECORD || t == AVRO_ENUM || t == AVRO_FIXED;
}

void rc_avro_fullname(avro_schema_t s, char *buf, size_t len)
{
    const char *ns = avro_schema_namespace(s);
    const char *name = avro_schema_name(s);
    if (ns && *ns)
        snprintf(buf, len, "%s.%s", ns, name ? name : "");
    else
        snprintf(buf, len, "%s", name ? name : "");
}

void rc_avro_describe(avro_schema_t s, char *buf, size_t len)
{
    s = rc_avro_deref(s);
    switch (avro_typeof(s)) {
    case AVRO_NULL: snprintf(buf, len, "null"); break;
    case AVRO_BOOLEAN: snprintf(buf, len, "boolean"); break;
    case AVRO_INT32: snprintf(buf, len, "int"); break;
    case AVRO_INT64: snprintf(buf, len, "long"); break;
    case AVRO_FLOAT: snprintf(buf, len, "float"); break;
    case AVRO_DOUBLE: snprintf(buf, len, "double"); break;
    case AVRO_STRING: snprintf(buf, len, "string"); break;
    case AVRO_BYTES: snprintf(buf, len, "bytes"); break;
    case AVRO_ARRAY: snprintf(buf, len, "array"); break;
    case AVRO_MAP: snprintf(buf, len, "map"); break;
    case AVRO_RECORD:
        snprintf(buf, len, "record %s", avro_schema_name(s));
        break;
    case AVRO_ENUM: snprintf(buf, len, "enum %s", avro_schema_name(s)); break;
    case AVRO_FIXED:
        snprintf(buf, len, "fixed %s", avro_schema_name(s));
        break;
    case AVRO_UNION: {
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < avro_schema_union_size(s) && used < len; i++) {
            char b[128];
            rc_avro_describe(avro_schema_union_branch(s, (int)i), b, sizeof b);
            int n = snprintf(buf + used, len - used, "%s%s", i ? " or " : "",
                             b);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        break;
    }
    default: snprintf(buf, len, "unknown type"); break;
    }
}

/* Text an Avro string may carry here: strict UTF-8 without NUL. */
static int text_ok(const unsigned char *s, size_t len)
{
    return !memchr(s, '\0', len) && rc_utf8_valid(s, len);
}

static const struct named_def *find_named(const struct entry *e,
                                          const char *fullname)
{
    for (size_t i = 0; i < e->nnamed; i++)
        if (strcmp(e->named[i].fullname, fullname) == 0)
            return &e->named[i];
    return NULL;
}

const json_t *rc_codec_field_default(const struct entry *e, avro_schema_t rec,
                                     const char *fname)
{
    char full[512];
    rc_avro_fullname(rec, full, sizeof full);
    const struct named_def *nd = find_named(e, full);
    if (!nd)
        return NULL;
    const json_t *fields = json_object_get(nd->def, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *f = json_array_get(fields, i);
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, fname) == 0)
            return json_object_get(f, "default");
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Resolution plans                                                     */

struct compile {
    struct pair *pair;           /* borrowed: owns the nodes */
    const struct entry *reader;  /* borrowed: reader defaults */
    char *err;
    size_t errlen;
};

static void plan_free(struct plan *p)
{
    if (!p)
        return;
    free(p->enum_map);
    free(p->fields);
    free(p->defaults);
    for (size_t i = 0; i < p->nbranches; i++)
        free(p->branch_err ? p->branch_err[i] : NULL);
    free(p->branch_err);
    free(p->branches);
    free(p);
}

static void pair_clear(struct pair *pr)
{
    for (size_t i = 0; i < pr->nnodes; i++)
        plan_free(pr->nodes[i]);
    free(pr->nodes);
    free(pr->error);
    memset(pr, 0, sizeof *pr);
}

static struct plan *plan_new(struct compile *cc, enum op op, avro_schema_t w,
                             avro_schema_t r)
{
    struct pair *pr = cc->pair;
    if (pr->nnodes == pr->capnodes) {
        size_t cap = pr->capnodes ? pr->capnodes * 2 : 16;
        struct plan **nodes = realloc(pr->nodes, cap * sizeof *nodes);
        if (!nodes)
            goto oom;
        pr->nodes = nodes;
        pr->capnodes = cap;
    }
    struct plan *p = calloc(1, sizeof *p);
    if (!p)
        goto oom;
    p->op = op;
    p->w = w;
    p->r = r;
    pr->nodes[pr->nnodes++] = p;
    return p;
oom:
    rc_errf(cc->err, cc->errlen, "out of memory");
    return NULL;
}

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static int same_name(avro_schema_t w, avro_schema_t r)
{
    const char *a = avro_schema_name(w), *b = avro_schema_name(r);
    return a && b && strcmp(a, b) == 0;
}

static int promotable(avro_type_t wt, avro_type_t rt)
{
    if (wt == rt)
        return 1;
    switch (wt) {
    case AVRO_INT32:
        return rt == AVRO_INT64 || rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
    case AVRO_INT64: return rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
    case AVRO_FLOAT: return rt == AVRO_DOUBLE;
    case AVRO_STRING: return rt == AVRO_BYTES;
    case AVRO_BYTES: return rt == AVRO_STRING;
    default: return 0;
    }
}

static struct plan *compile(struct compile *cc, avro_schema_t w,
                            avro_schema_t r, int depth);

static struct plan *compile_record(struct compile *cc, avro_schema_t w,
                                   avro_schema_t r, int depth)
{
    /* Memoised, so recursive types compile to a cycle. */
    for (size_t i = 0; i < cc->pair->nnodes; i++) {
        struct plan *q = cc->pair->nodes[i];
        if (q->op == OP_RECORD && q->w == w && q->r == r) {
            if (!q->failed)
                return q; /* complete, or in progress: a recursive type */
            rc_errf(cc->err, cc->errlen, "record %s cannot be read",
                 avro_schema_name(w));
            return NULL;
        }
    }
    struct plan *p = plan_new(cc, OP_RECORD, w, r);
    if (!p)
        return NULL;
    size_t nw = avro_schema_record_size(w), nr = avro_schema_record_size(r);
    p->fields = calloc(nw ? nw : 1, sizeof *p->fields);
    p->defaults = calloc(nr ? nr : 1, sizeof *p->defaults);
    if (!p->fields || !p->defaults) {
        rc_errf(cc->err, cc->errlen, "out of memory");
        p->failed = 1;
        return NULL;
    }
    for (size_t i = 0; i < nw; i++) {
        const char *name = avro_schema_record_field_name(w, (int)i);
        avro_schema_t wf = avro_schema_record_field_get_by_index(w, (int)i);
        int ri = avro_schema_record_field_get_index(r, name);
        struct plan *fp;
        if (ri >= 0)
            fp = compile(cc, wf, avro_schema_record_field_get_by_index(r, ri),
                         depth + 1);
        else /* writer-only: read and drop */
            fp = compile(cc, wf, wf, depth + 1);
        if (!fp) {
            if (cc->err && cc->errlen) {
                char inner[384];
                snprintf(inner, sizeof inner, "%s", cc->err);
                rc_errf(cc->err, cc->errlen, "field '%s': %s", name, inner);
            }
            p->failed = 1;
            return NULL;
        }
        p->fields[i] = (struct field_step){name, ri, fp};
        p->min_size = sat_add(p->min_size, fp->min_size);
    }
    p->nfields = nw;
    for (size_t k = 0; k < nr; k++) {
        const char *name = avro_schema_record_field_name(r, (int)k);
        if (avro_schema_record_field_get_index(w, name) >= 0)
            continue;
        const json_t *dv = rc_codec_field_default(cc->reader, r, name);
        if (!dv) {
            rc_errf(cc->err, cc->errlen,
                 "field '%s': not in the writer and no default in the reader",
                 name);
            p->failed = 1;
            return NULL;
        }
        p->defaults[p->ndefaults++] = (struct default_step){
            name, (int)k, avro_schema_record_field_get_by_index(r, (int)k),
            dv};
    }
    return p;
}

static struct plan *compile(struct compile *cc, avro_schema_t w,
                            avro_schema_t r, int depth)
{
    w = rc_avro_deref(w);
    r = rc_avro_deref(r);
    if (!w || !r) {
        rc_errf(cc->err, cc->errlen, "unresolved schema reference");
        return NULL;
    }
    if (depth > RC_CODEC_MAX_DEPTH) {
        rc_errf(cc->err, cc->errlen, "schema nested deeper than %d levels",
             RC_CODEC_MAX_DEPTH);
        return NULL;
    }
    avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
    char wd[256], rd[256];

    if (wt == AVRO_UNION) {
        struct plan *p = plan_new(cc, OP_WUNION, w, r);
        if (!p)
            return NULL;
        size_t n = avro_schema_union_size(w), ok = 0;
        p->branches = calloc(n ? n : 1, sizeof *p->branches);
        p->branch_err = calloc(n ? n : 1, sizeof *p->branch_err);
        if (!p->branches || !p->branch_err) {
            rc_errf(cc->err, cc->errlen, "out of memory");
            return NULL;
        }
        p->nbranches = n;
        p->min_size = 1;
        for (size_t i = 0; i < n; i++) {
            p->branches[i] = compile(
                cc, avro_schema_union_branch(w, (int)i), r, depth + 1);
            if (p->branches[i])
                ok++;
            else if (!(p->branch_err[i] = strdup(cc->err ? cc->err : "?"))) {
                rc_errf(cc->err, cc->errlen, "out of memory");
                return NULL;
            }
        }
        if (!ok) {
            rc_avro_describe(w, wd, sizeof wd);
            rc_avro_describe(r, rd, sizeof rd);
            rc_errf(cc->err, cc->errlen, "no branch of %s can be read as %s", wd,
                 rd);
            return NULL;
        }
        return p;
    }

    if (rt == AVRO_UNION) {
        size_t n = avro_schema_union_size(r);
        /* First the branch of the same type, then one it promotes to. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                avro_schema_t b = rc_avro_deref(avro_schema_union_branch(r, (int)i));
                avro_type_t bt = avro_typeof(b);
                int exact = bt == wt && (!rc_avro_is_named(wt) || same_name(w, b));
                if (pass == 0 ? !exact : exact)
                    continue;
                if (pass == 1 && !promotable(wt, bt))
                    continue;
                struct plan *inner = compile(cc, w, b, depth + 1);
                if (!inner)
                    continue;
                struct plan *p = plan_new(cc, OP_RUNION, w, r);
                if (!p)
                    return NULL;
                p->branch = (int)i;
                p->items = inner;
                p->min_size = inner->min_size;
                return p;
            }
        }
        rc_avro_describe(w, wd, sizeof wd);
        rc_avro_describe(r, rd, sizeof rd);
        rc_errf(cc->err, cc->errlen, "writer %s matches no branch of %s", wd, rd);
        return NULL;
    }

    if (rc_avro_is_named(wt) || rc_avro_is_named(rt)) {
        if (wt != rt || !same_name(w, r)) {
            rc_avro_describe(w, wd, sizeof wd);
            rc_avro_describe(r, rd, sizeof rd);
            rc_errf(cc->err, cc->errlen, "writer %s cannot be read as %s", wd, rd);
            return NULL;
        }
    }

    struct plan *p;
    switch (wt) {
    case AVRO_RECORD:
        return compile_record(cc, w, r, depth);
    case AVRO_ENUM: {
        p = plan_new(cc, OP_ENUM, w, r);
        if (!p)
            return NULL;
        int nw = avro_schema_enum_number_of_symbols(w);
        p->enum_map = calloc(nw > 0 ? (size_t)nw : 1, sizeof *p->enum_map);
        if (!p->enum_map) {
            rc_errf(cc->err, cc->errlen, "out of memory");
            return NULL;
        }
        p->nsymbols = nw;
        p->min_size = 1;
        /* A symbol the reader lacks maps to the reader enum's default. */
        int dflt = -1;
        char full[512];
        rc_avro_fullname(r, full, sizeof full);
        const struct named_def *nd = find_named(cc->reader, full);
        const char *dsym =
            nd ? json_string_value(json_object_get(nd->def, "default")) : NULL;
        if (dsym)
            dflt = avro_schema_enum_get_by_name(r, dsym);
        for (int i = 0; i < nw; i++) {
            int ri = avro_schema_enum_get_by_name(r, avro_schema_enum_get(w, i));
            p->enum_map[i] = ri >= 0 ? ri : dflt;
        }
        return p;
    }
    case AVRO_FIXED:
        if (avro_schema_fixed_size(w) != avro_schema_fixed_size(r)) {
            rc_errf(cc->err, cc->errlen, "fixed %s: size %" PRId64
                 " cannot be read as size %" PRId64, avro_schema_name(w),
                 avro_schema_fixed_size(w), avro_schema_fixed_size(r));
            return NULL;
        }
        p = plan_new(cc, OP_FIXED, w, r);
        if (!p)
            return NULL;
        p->fixed_size = avro_schema_fixed_size(w);
        p->min_size = (size_t)p->fixed_size;
        return p;
    case AVRO_ARRAY:
    case AVRO_MAP: {
        if (rt != wt)
            break;
        p = plan_new(cc, wt == AVRO_ARRAY ? OP_ARRAY : OP_MAP, w, r);
        if (!p)
            return NULL;
        p->items = wt == AVRO_ARRAY
                       ? compile(cc, avro_schema_array_items(w),
                                 avro_schema_array_items(r), depth + 1)
                       : compile(cc, avro_schema_map_values(w),
                                 avro_schema_map_values(r), depth + 1);
        if (!p->items)
            return NULL;
        p->min_size = 1;
        return p;
    }
    default:
        if (!promotable(wt, rt))
            break;
        p = plan_new(cc, OP_PRIM, w, r);
        if (!p)
            return NULL;
        p->wt = wt;
        p->rt = rt;
        p->min_size = wt == AVRO_NULL ? 0 : wt == AVRO_FLOAT ? 4
                    : wt == AVRO_DOUBLE ? 8 : 1;
        return p;
    }
    rc_avro_describe(w, wd, sizeof wd);
    rc_avro_describe(r, rd, sizeof rd);
    rc_errf(cc->err, cc->errlen, "writer %s cannot be read as %s", wd, rd);
    return NULL;
}

/* The plan for (writer, reader), compiled on first use. */
static struct pair *get_pair(struct entry *w, struct entry *r)
{
    struct pair *pr = &w->pairs[r->reader];
    if (pr->state)
        return pr;
    char err[512] = "";
    struct compile cc = {pr, r, err, sizeof err};
    struct plan *root = NULL;
    char wn[512], rn[512];
    rc_avro_fullname(w->schema, wn, sizeof wn);
    rc_avro_fullname(r->schema, rn, sizeof rn);
    if (strcmp(wn, rn) != 0)
        rc_errf(err, sizeof err, "it is %s", wn);
    else
        root = compile(&cc, w->schema, r->schema, 0);
    if (root) {
        pr->state = 1;
        pr->root = root;
    } else {
        /* Keep the reason, drop the partial plan. */
        for (size_t i = 0; i < pr->nnodes; i++)
            plan_free(pr->nodes[i]);
        free(pr->nodes);
        pr->nodes = NULL;
        pr->nnodes = pr->capnodes = 0;
        pr->state = -1;
        pr->error = strdup(err);
    }
    return pr;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */

struct dec {
    const unsigned char *p, *end; /* borrowed payload cursor */
    rc_codec *c;
    const struct entry *reader;   /* for defaults */
    const char *path[RC_CODEC_MAX_DEPTH + 2];
    int depth;
    char *err;
    size_t errlen;
};

static int dfail(struct dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The reason, then " at field 'a.b'" when inside a named field. */
static int dfail(struct dec *d, const char *fmt, ...)
{
    if (!d->err || !d->errlen)
        return -1;
    char msg[384], where[512] = "";
    size_t used = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (int i = 0; i < d->depth && used < sizeof where; i++) {
        if (!d->path[i])
            continue;
        int n = snprintf(where + used, sizeof where - used, "%s%s",
                         used ? "." : " at field '", d->path[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return rc_errf(d->err, d->errlen, "%s%s%s", msg, where, used ? "'" : "");
}

static size_t left(const struct dec *d)
{
    return (size_t)(d->end - d->p);
}

static int read_long(struct dec *d, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end)
            return dfail(d, "truncated record");
        unsigned char b = *d->p++;
        if (shift == 63 && (b & 0x7e))
            return dfail(d, "invalid varint");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return dfail(d, "invalid varint");
}

static int read_int(struct dec *d, int32_t *out)
{
    int64_t v;
    if (read_long(d, &v) < 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return dfail(d, "int out of range");
    *out = (int32_t)v;
    return 0;
}

/* Reads a length-prefixed byte string; *p and *len are written on failure
 * too (NULL, 0), so no caller can read them uninitialised. */
static int read_len(struct dec *d, const unsigned char **p, size_t *len)
{
    int64_t n;
    *p = NULL;
    *len = 0;
    if (read_long(d, &n) < 0)
        return -1;
    if (n < 0)
        return dfail(d, "negative length %" PRId64, n);
    if ((uint64_t)n > left(d))
        return dfail(d, "truncated record (%" PRId64 " bytes announced, %zu "
                     "left)", n, left(d));
    *p = d->p;
    *len = (size_t)n;
    d->p += n;
    return 0;
}

/* Count of the next array/map block, 0 at the end; checked against input. */
static int read_block(struct dec *d, size_t min_item, size_t *count)
{
    int64_t n;
    if (read_long(d, &n) < 0)
        return -1;
    if (n < 0) {
        int64_t bytes;
        if (n == INT64_MIN)
            return dfail(d, "invalid block count");
        n = -n;
        if (read_long(d, &bytes) < 0)
            return -1;
        if (bytes < 0 || (uint64_t)bytes > left(d))
            return dfail(d, "truncated record (block of %" PRId64 " bytes, "
                         "%zu left)", bytes, left(d));
    }
    uint64_t max = min_item ? left(d) / min_item : RC_CODEC_MAX_EMPTY_ITEMS;
    if ((uint64_t)n > max)
        return dfail(d, "truncated record (block of %" PRId64 " items, %zu "
                     "bytes left)", n, left(d));
    *count = (size_t)n;
    return 0;
}

static int store_string(struct dec *d, avro_value_t *dst,
                        const unsigned char *p, size_t len)
{
    if (!text_ok(p, len))
        return dfail(d, "string is not valid UTF-8 or contains NUL");
    rc_buf *s = &d->c->scratch;
    rc_buf_reset(s);
    if (rc_buf_append(s, p, len) < 0 || !s->p)
        return dfail(d, "out of memory");
    if (avro_value_set_string_len(dst, s->p, len + 1) != 0)
        return dfail(d, "cannot store string: %s", avro_strerror());
    return 0;
}

static int decode(struct dec *d, const struct plan *p, avro_value_t *dst);

static int decode_prim(struct dec *d, const struct plan *p, avro_value_t *dst)
{
    int rc = 0;
    switch (p->wt) {
    case AVRO_NULL:
        if (dst)
            rc = avro_value_set_null(dst);
        break;
    case AVRO_BOOLEAN: {
        if (d->p >= d->end)
            return dfail(d, "truncated record");
        unsigned char b = *d->p++;
        if (b > 1)
            return dfail(d, "invalid boolean %u", b);
        if (dst)
            rc = avro_value_set_boolean(dst, b);
        break;
    }
    case AVRO_INT32:
    case AVRO_INT64: {
        int64_t v;
        if (p->wt == AVRO_INT32) {
            int32_t i = 0;
            if (read_int(d, &i) < 0)
                return -1;
            v = i;
        } else if (read_long(d, &v) < 0) {
            return -1;
        }
        if (!dst)
            break;
        switch (p->rt) {
        case AVRO_INT32: rc = avro_value_set_int(dst, (int32_t)v); break;
        case AVRO_INT64: rc = avro_value_set_long(dst, v); break;
        case AVRO_FLOAT: rc = avro_value_set_float(dst, (float)v); break;
        default: rc = avro_value_set_double(dst, (double)v); break;
        }
        break;
    }
    case AVRO_FLOAT: {
        if (left(d) < 4)
            return dfail(d, "truncated record");
        uint32_t u = (uint32_t)d->p[0] | (uint32_t)d->p[1] << 8 |
                     (uint32_t)d->p[2] << 16 | (uint32_t)d->p[3] << 24;
        float f;
        memcpy(&f, &u, sizeof f);
        d->p += 4;
        if (dst)
            rc = p->rt == AVRO_FLOAT ? avro_value_set_float(dst, f)
                                     : avro_value_set_double(dst, f);
        break;
    }
    case AVRO_DOUBLE: {
        if (left(d) < 8)
            return dfail(d, "truncated record");
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | d->p[i];
        double x;
        memcpy(&x, &u, sizeof x);
        d->p += 8;
        if (dst)
            rc = avro_value_set_double(dst, x);
        break;
    }
    case AVRO_STRING:
    case AVRO_BYTES: {
        const unsigned char *s;
        size_t len;
        if (read_len(d, &s, &len) < 0)
            return -1;
        if (!dst)
            break;
        if (p->rt == AVRO_STRING)
            return store_string(d, dst, s, len);
        rc = avro_value_set_bytes(dst, (void *)s, len);
        break;
    }
    default:
        return dfail(d, "unsupported type");
    }
    if (rc != 0)
        return dfail(d, "cannot store value: %s", avro_strerror());
    return 0;
}

static int decode_record(struct dec *d, const struct plan *p,
                         avro_value_t *dst)
{
    for (size_t i = 0; i < p->nfields; i++) {
        const struct field_step *f = &p->fields[i];
        avro_value_t child, *cp = NULL;
        if (dst && f->rindex >= 0) {
            if (avro_value_get_by_index(dst, (size_t)f->rindex, &child,
                                        NULL) != 0)
                return dfail(d, "cannot access field %s", f->name);
            cp = &child;
        }
        d->path[d->depth - 1] = f->name;
        if (decode(d, f->plan, cp) < 0)
            return -1;
    }
    d->path[d->depth - 1] = NULL;
    if (!dst)
        return 0;
    for (size_t i = 0; i < p->ndefaults; i++) {
        const struct default_step *df = &p->defaults[i];
        avro_value_t child;
        char err[256] = "";
        if (avro_value_get_by_index(dst, (size_t)df->rindex, &child, NULL) ||
            rc_codec_store_json(d->c, d->reader, &child, df->schema, df->value,
                                err, sizeof err))
            return dfail(d, "bad default for field '%s': %s", df->name, err);
    }
    return 0;
}

static int decode(struct dec *d, const struct plan *p, avro_value_t *dst)
{
    if (d->depth > RC_CODEC_MAX_DEPTH)
        return dfail(d, "record nested deeper than %d levels",
                     RC_CODEC_MAX_DEPTH);
    int rc = 0;
    d->path[d->depth++] = NULL;
    switch (p->op) {
    case OP_PRIM:
        rc = decode_prim(d, p, dst);
        break;
    case OP_FIXED:
        if (left(d) < (size_t)p->fixed_size) {
            rc = dfail(d, "truncated record");
            break;
        }
        if (dst && avro_value_set_fixed(dst, (void *)d->p,
                                        (size_t)p->fixed_size) != 0)
            rc = dfail(d, "cannot store fixed: %s", avro_strerror());
        d->p += p->fixed_size;
        break;
    case OP_ENUM: {
        int32_t i = 0;
        if ((rc = read_int(d, &i)) < 0)
            break;
        if (i < 0 || i >= p->nsymbols) {
            rc = dfail(d, "enum index %" PRId32 " out of range", i);
            break;
        }
        if (p->enum_map[i] < 0) {
            rc = dfail(d, "enum symbol %s unknown to the reader",
                       avro_schema_enum_get(p->w, i));
            break;
        }
        if (dst && avro_value_set_enum(dst, p->enum_map[i]) != 0)
            rc = dfail(d, "cannot store enum: %s", avro_strerror());
        break;
    }
    case OP_RECORD:
        rc = decode_record(d, p, dst);
        break;
    case OP_ARRAY:
    case OP_MAP: {
        if (dst && avro_value_reset(dst) != 0) {
            rc = dfail(d, "cannot reset value");
            break;
        }
        size_t min_item = p->op == OP_MAP ? sat_add(p->items->min_size, 1)
                                          : p->items->min_size;
        for (;;) {
            size_t count = 0;
            if ((rc = read_block(d, min_item, &count)) < 0 || count == 0)
                break;
            for (size_t k = 0; k < count && rc == 0; k++) {
                avro_value_t child, *cp = dst ? &child : NULL;
                if (p->op == OP_MAP) {
                    const unsigned char *key;
                    size_t klen;
                    if ((rc = read_len(d, &key, &klen)) < 0)
                        break;
                    if (dst) {
                        if (!text_ok(key, klen)) {
                            rc = dfail(d, "map key is not valid UTF-8");
                            break;
                        }
                        rc_buf_reset(&d->c->key);
                        if (rc_buf_append(&d->c->key, key, klen) < 0 ||
                            !d->c->key.p ||
                            avro_value_add(dst, d->c->key.p, &child, NULL,
                                           NULL) != 0) {
                            rc = dfail(d, "cannot store map entry");
                            break;
                        }
                    }
                } else if (dst && avro_value_append(dst, &child, NULL) != 0) {
                    rc = dfail(d, "cannot store array item");
                    break;
                }
                rc = decode(d, p->items, cp);
            }
            if (rc < 0)
                break;
        }
        break;
    }
    case OP_WUNION: {
        int64_t i;
        if ((rc = read_long(d, &i)) < 0)
            break;
        if (i < 0 || (uint64_t)i >= p->nbranches) {
            rc = dfail(d, "union branch %" PRId64 " out of range", i);
            break;
        }
        if (!p->branches[i]) {
            rc = dfail(d, "union branch %" PRId64 " unreadable: %s", i,
                       p->branch_err[i]);
            break;
        }
        d->depth--; /* the branch is the same value */
        rc = decode(d, p->branches[i], dst);
        d->depth++;
        break;
    }
    case OP_RUNION: {
        avro_value_t branch, *bp = NULL;
        if (dst) {
            if (avro_value_set_branch(dst, p->branch, &branch) != 0) {
                rc = dfail(d, "cannot select union branch");
                break;
            }
            bp = &branch;
        }
        d->depth--;
        rc = decode(d, p->items, bp);
        d->depth++;
        break;
    }
    }
    d->depth--;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */

static void entry_free(struct entry *e, size_t nreaders)
{
    if (!e)
        return;
    if (e->pairs) {
        for (size_t i = 0; i < nreaders; i++)
            pair_clear(&e->pairs[i]);
        free(e->pairs);
    }
    if (e->dec_iface) {
        avro_value_decref(&e->dec_value);
        avro_value_iface_decref(e->dec_iface);
    }
    if (e->enc_iface) {
        avro_value_decref(&e->enc_value);
        avro_value_iface_decref(e->enc_iface);
    }
    for (size_t i = 0; i < e->nnamed; i++)
        free(e->named[i].fullname);
    free(e->named);
    if (e->schema)
        avro_schema_decref(e->schema);
    json_decref(e->json);
    free(e->fullname);
    free(e->file);
    free(e->label);
    free(e);
}

static int collect_named(void *ud, const char *fullname, const json_t *def)
{
    struct entry *e = ud;
    struct named_def *n =
        realloc(e->named, (e->nnamed + 1) * sizeof *e->named);
    if (!n)
        return ENOMEM;
    e->named = n;
    if (!(n[e->nnamed].fullname = strdup(fullname)))
        return ENOMEM;
    n[e->nnamed++].def = def;
    return 0;
}

/* Builds an entry from schema text; label is used in messages. */
static struct entry *entry_new(const char *label, const char *text,
                               size_t len, char *err, size_t errlen)
{
    char why[384] = "";
    json_error_t jerr;
    struct entry *e = calloc(1, sizeof *e);
    if (!e || !(e->label = strdup(label))) {
        rc_errf(err, errlen, "out of memory");
        goto fail;
    }
    e->reader = -1;
    e->json = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!e->json) {
        rc_errf(err, errlen, "%s: invalid JSON at line %d: %s", label, jerr.line,
             jerr.text);
        goto fail;
    }
    if (rc_pcf_fingerprint_json(e->json, &e->fingerprint, why, sizeof why) < 0) {
        rc_errf(err, errlen, "%s: %s", label, why);
        goto fail;
    }
    int rc = rc_pcf_named_types(e->json, collect_named, e, why, sizeof why);
    if (rc != 0) {
        rc_errf(err, errlen, "%s: %s", label, rc > 0 ? "out of memory" : why);
        goto fail;
    }
    if (avro_schema_from_json_length(text, len, &e->schema) != 0) {
        e->schema = NULL;
        rc_errf(err, errlen, "%s: %s", label, avro_strerror());
        goto fail;
    }
    if (avro_typeof(e->schema) != AVRO_RECORD) {
        rc_errf(err, errlen, "%s: top-level schema must be a record", label);
        goto fail;
    }
    char full[512];
    rc_avro_fullname(e->schema, full, sizeof full);
    if (!(e->fullname = strdup(full))) {
        rc_errf(err, errlen, "out of memory");
        goto fail;
    }
    return e;
fail:
    entry_free(e, 0);
    return NULL;
}

static int add_entry(rc_codec *c, struct entry *e)
{
    if (c->nentries == c->capentries) {
        size_t cap = c->capentries ? c->capentries * 2 : 16;
        struct entry **v = realloc(c->entries, cap * sizeof *v);
        if (!v)
            return -1;
        c->entries = v;
        c->capentries = cap;
    }
    c->entries[c->nentries++] = e;
    return 0;
}

/* Version order: x.v2.avsc before x.v10.avsc. */
static int cmp_str(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* Loads dir/sub*.avsc ("" or "history/") in name order. */
static int load_dir(rc_codec *c, const char *dir, const char *sub,
                    int optional, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *dh = opendir(path);
    if (!dh) {
        if (optional && errno == ENOENT)
            return 0;
        return rc_errf(err, errlen, "%s: %s", path, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0;
    int rc = -1;
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t l = strlen(de->d_name);
        if (l <= 5 || strcmp(de->d_name + l - 5, ".avsc") != 0 ||
            de->d_name[0] == '.')
            continue;
        char **v = realloc(names, (n + 1) * sizeof *names);
        if (!v || !(v[n] = strdup(de->d_name))) {
            names = v ? v : names;
            rc_errf(err, errlen, "out of memory");
            goto done;
        }
        names = v;
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char rel[1024], *text = NULL;
        size_t len = 0;
        snprintf(rel, sizeof rel, "%s%s", sub, names[i]);
        snprintf(path, sizeof path, "%s/%s", dir, rel);
        if (!(text = rc_file_read(path, NULL, RC_CODEC_MAX_SCHEMA_BYTES, &len,
                                  err, errlen)))
            goto done;
        struct entry *e = entry_new(rel, text, len, err, errlen);
        free(text);
        if (!e)
            goto done;
        if (!(e->file = strdup(rel)) || add_entry(c, e) < 0) {
            entry_free(e, 0);
            rc_errf(err, errlen, "out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dh);
    return rc;
}

struct entry *rc_codec_find_file(const rc_codec *c, const char *file)
{
    for (size_t i = 0; i < c->nentries; i++)
        if (c->entries[i]->file && strcmp(c->entries[i]->file, file) == 0)
            return c->entries[i];
    return NULL;
}

static struct entry *find_id(const rc_codec *c, int32_t id)
{
    for (size_t i = 0; i < c->nentries; i++)
        if (c->entries[i]->has_id && c->entries[i]->id == id)
            return c->entries[i];
    return NULL;
}

static struct entry *find_fingerprint(const rc_codec *c, uint64_t fp)
{
    for (size_t i = 0; i < c->nentries; i++)
        if (c->entries[i]->fingerprint == fp)
            return c->entries[i];
    return NULL;
}

static int load_registry(rc_codec *c, const char *dir, char *err,
                         size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/registry.json", dir);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0; /* no ids: Confluent framing needs rc_codec_register */
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return rc_errf(err, errlen, "%s: line %d: %s", path, jerr.line,
                    jerr.text);
    int rc = -1;
    json_t *list = json_object_get(root, "schemas");
    if (!json_is_array(list)) {
        rc_errf(err, errlen, "%s: \"schemas\" must be an array", path);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *item = json_array_get(list, i);
        json_t *jid = json_object_get(item, "id");
        const char *file = json_string_value(json_object_get(item, "file"));
        if (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
            json_integer_value(jid) > INT32_MAX || !file) {
            rc_errf(err, errlen, "%s: entry %zu needs an \"id\" (0..2147483647) "
                 "and a \"file\"", path, i);
            goto done;
        }
        int32_t id = (int32_t)json_integer_value(jid);
        struct entry *e = rc_codec_find_file(c, file);
        if (!e) {
            rc_errf(err, errlen, "%s: id %" PRId32 ": no schema file %s", path,
                 id, file);
            goto done;
        }
        if (find_id(c, id)) {
            rc_errf(err, errlen, "%s: id %" PRId32 " used twice", path, id);
            goto done;
        }
        if (e->has_id) {
            rc_errf(err, errlen, "%s: %s has two ids", path, file);
            goto done;
        }
        e->id = id;
        e->has_id = 1;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

rc_codec *rc_codec_new(const char *schemas_dir, char *errstr, size_t errlen)
{
    rc_codec *c = calloc(1, sizeof *c);
    if (!c) {
        rc_errf(errstr, errlen, "out of memory");
        return NULL;
    }
    if (!schemas_dir || !*schemas_dir) {
        rc_errf(errstr, errlen, "no schemas directory");
        goto fail;
    }
    if (load_dir(c, schemas_dir, "", 0, errstr, errlen) < 0)
        goto fail;
    size_t ncurrent = c->nentries;
    if (ncurrent == 0) {
        rc_errf(errstr, errlen, "%s: no *.avsc schema", schemas_dir);
        goto fail;
    }
    c->readers = calloc(ncurrent, sizeof *c->readers);
    if (!c->readers) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ncurrent; i++) {
        struct entry *e = c->entries[i];
        for (size_t k = 0; k < c->nreaders; k++)
            if (strcmp(c->readers[k]->fullname, e->fullname) == 0) {
                rc_errf(errstr, errlen, "%s and %s both define %s",
                     c->readers[k]->file, e->file, e->fullname);
                goto fail;
            }
        e->reader = (int)c->nreaders;
        c->readers[c->nreaders++] = e;
    }
    if (load_dir(c, schemas_dir, "history/", 1, errstr, errlen) < 0 ||
        load_registry(c, schemas_dir, errstr, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < c->nentries; i++) {
        struct entry *e = c->entries[i];
        e->pairs = calloc(c->nreaders, sizeof *e->pairs);
        if (!e->pairs) {
            rc_errf(errstr, errlen, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < c->nreaders; i++) {
        struct entry *e = c->readers[i];
        e->dec_iface = avro_generic_class_from_schema(e->schema);
        if (!e->dec_iface ||
            avro_generic_value_new(e->dec_iface, &e->dec_value) != 0) {
            if (e->dec_iface)
                avro_value_iface_decref(e->dec_iface);
            e->dec_iface = NULL;
            rc_errf(errstr, errlen, "%s: %s", e->file, avro_strerror());
            goto fail;
        }
    }
    static const char dummy[1];
    c->writer = avro_writer_memory(dummy, 0);
    if (!c->writer) {
        rc_errf(errstr, errlen, "out of memory");
        goto fail;
    }
    return c;
fail:
    rc_codec_destroy(c);
    return NULL;
}

void rc_codec_destroy(rc_codec *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nentries; i++)
        entry_free(c->entries[i], c->nreaders);
    free(c->entries);
    free(c->readers);
    rc_buf_free(&c->scratch);
    rc_buf_free(&c->key);
    if (c->writer)
        avro_writer_free(c->writer);
    free(c);
}

int rc_codec_register(rc_codec *c, int32_t id, const char *json, size_t len,
                      char *err, size_t errlen)
{
    if (id < 0)
        return rc_errf(err, errlen, "invalid schema id %" PRId32, id);
    char label[64];
    snprintf(label, sizeof label, "registry id %" PRId32, id);
    struct entry *e = entry_new(label, json, len, err, errlen);
    if (!e)
        return -1;
    struct entry *old = find_id(c, id);
    if (old) {
        int same = old->fingerprint == e->fingerprint;
        entry_free(e, 0);
        if (same)
            return 0;
        return rc_errf(err, errlen, "schema id %" PRId32 " is already %s", id,
                    old->label);
    }
    e->id = id;
    e->has_id = 1;
    e->pairs = calloc(c->nreaders ? c->nreaders : 1, sizeof *e->pairs);
    if (!e->pairs || add_entry(c, e) < 0) {
        entry_free(e, c->nreaders);
        return rc_errf(err, errlen, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */

int rc_framing_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "bare") == 0)
        return RC_FRAMING_BARE;
    if (strcmp(name, "single-object") == 0)
        return RC_FRAMING_SINGLE_OBJECT;
    if (strcmp(name, "confluent") == 0)
        return RC_FRAMING_CONFLUENT;
    return -1;
}

const char *rc_framing_name(enum rc_framing f)
{
    switch (f) {
    case RC_FRAMING_BARE: return "bare";
    case RC_FRAMING_SINGLE_OBJECT: return "single-object";
    case RC_FRAMING_CONFLUENT: return "confluent";
    default: return "auto";
    }
}

struct entry *rc_codec_find_reader(const rc_codec *c, const char *record)
{
    if (!record)
        return NULL;
    for (size_t i = 0; i < c->nreaders; i++) {
        const char *full = c->readers[i]->fullname;
        const char *dot = strrchr(full, '.');
        if (strcmp(full, record) == 0 ||
            (dot && strcmp(dot + 1, record) == 0))
            return c->readers[i];
    }
    return NULL;
}

avro_schema_t rc_codec_schema(rc_codec *c, const char *record)
{
    struct entry *e = rc_codec_find_reader(c, record);
    return e ? e->schema : NULL;
}

int rc_codec_unknown_id(const rc_codec *c, const void *buf, size_t len,
                        int32_t *id)
{
    const unsigned char *b = buf;
    if (len < 5 || b[0] != 0x00)
        return 0;
    uint32_t u = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 8 | b[4];
    if (u > INT32_MAX || find_id(c, (int32_t)u))
        return 0;
    *id = (int32_t)u;
    return 1;
}

/* Decodes body as written by w into r's value; the whole body must be used. */
static int decode_as(rc_codec *c, struct entry *w, struct entry *r,
                     const unsigned char *body, size_t len, char *err,
                     size_t errlen)
{
    struct pair *pr = get_pair(w, r);
    if (pr->state < 0)
        return rc_errf(err, errlen, "writer schema %s cannot be read as %s: %s",
                    w->label, r->fullname, pr->error ? pr->error : "?");
    struct dec d = {
        .p = body, .end = body + len, .c = c, .reader = r,
        .err = err, .errlen = errlen,
    };
    if (decode(&d, pr->root, &r->dec_value) < 0)
        return -1;
    if (d.p != d.end)
        return rc_errf(err, errlen, "%zu trailing byte(s) after the record",
                    (size_t)(d.end - d.p));
    return 0;
}

int rc_codec_decode(rc_codec *c, const char *record, const void *buf,
                    size_t len, avro_value_t **out,
                    enum rc_framing *framing_out, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    struct entry *reader = rc_codec_find_reader(c, record);
    struct entry *writer = reader;
    enum rc_framing framing = RC_FRAMING_BARE;
    size_t hdr = 0;
    if (!reader)
        return rc_errf(err, errlen, "unknown record %s", record ? record : "");
    if (len == 0 || !buf)
        return rc_errf(err, errlen, "empty payload");
    if (b[0] == 0x00) {
        framing = RC_FRAMING_CONFLUENT;
        if (len < 5)
            return rc_errf(err, errlen, "truncated Confluent header (%zu bytes)",
                        len);
        uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                      (uint32_t)b[3] << 8 | b[4];
        writer = id <= INT32_MAX ? find_id(c, (int32_t)id) : NULL;
        if (!writer)
            return rc_errf(err, errlen, "unknown schema id %" PRIu32, id);
        hdr = 5;
    } else if (b[0] == 0xC3 && len >= 2 && b[1] == 0x01) {
        framing = RC_FRAMING_SINGLE_OBJECT;
        if (len < 10)
            return rc_errf(err, errlen,
                        "truncated single-object header (%zu bytes)", len);
        uint64_t fp = 0;
        for (int i = 9; i >= 2; i--)
            fp = fp << 8 | b[i];
        writer = find_fingerprint(c, fp);
        if (!writer)
            return rc_errf(err, errlen,
                        "unknown schema fingerprint 0x%016" PRIx64, fp);
        hdr = 10;
    }
    if (framing_out)
        *framing_out = framing;
    if (decode_as(c, writer, reader, b + hdr, len - hdr, err, errlen) == 0) {
        *out = &reader->dec_value;
        return 0;
    }
    if (framing != RC_FRAMING_BARE)
        return -1;
    /* Bare records do not say who wrote them: try the record's older
     * versions, newest first, and keep the first that reads the payload
     * exactly. The error reported is the current schema's. */
    for (size_t i = c->nentries; i-- > 0;) {
        struct entry *e = c->entries[i];
        char ignored[256];
        if (e->reader >= 0 || !e->file ||
            strcmp(e->fullname, reader->fullname) != 0)
            continue;
        if (decode_as(c, e, reader, b, len, ignored, sizeof ignored) == 0) {
            *out = &reader->dec_value;
            return 0;
        }
    }
    return -1;
}
