/*
 * codec_plan.c - resolution plans: how a writer schema's bytes are read as
 * a reader schema's value.
 *
 * Implementation notes. avro-c 1.11.1 cannot be used for untrusted payloads
 * or for resolution: its binary reader allocates whatever length a string
 * header claims before checking the input (a 9-byte payload can ask for 64
 * GiB), and its resolved writer refuses a reader field that the writer lacks
 * even when the field has a default (and maps enums by index, not by
 * symbol). So the codec compiles, once per (writer, reader) pair and on
 * first use, a resolution plan: a tree of steps that says what to read from
 * the writer's bytes and where to store it in the reader's value (which
 * reader field, which promotion, which enum symbol, which union branch),
 * which writer fields to skip and which reader fields to fill from their
 * defaults. Each step knows the fewest bytes one value takes, which bounds
 * the counts the decoder accepts. Recursive schemas compile to cyclic plans
 * (records are memoised per pair). A pair that cannot be resolved keeps the
 * reason, not a partial plan. codec_decode.c runs the plans.
 */
#include "codec_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"

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

void rc_codec_pair_clear(struct pair *pr)
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
        if (q->op == RC_OP_RECORD && q->w == w && q->r == r) {
            if (!q->failed)
                return q; /* complete, or in progress: a recursive type */
            rc_errf(cc->err, cc->errlen, "record %s cannot be read",
                 avro_schema_name(w));
            return NULL;
        }
    }
    struct plan *p = plan_new(cc, RC_OP_RECORD, w, r);
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
        p->min_size = rc_codec_sat_add(p->min_size, fp->min_size);
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
        struct plan *p = plan_new(cc, RC_OP_WUNION, w, r);
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
                struct plan *p = plan_new(cc, RC_OP_RUNION, w, r);
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
        p = plan_new(cc, RC_OP_ENUM, w, r);
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
        const struct named_def *nd = rc_codec_find_named(cc->reader, full);
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
        p = plan_new(cc, RC_OP_FIXED, w, r);
        if (!p)
            return NULL;
        p->fixed_size = avro_schema_fixed_size(w);
        p->min_size = (size_t)p->fixed_size;
        return p;
    case AVRO_ARRAY:
    case AVRO_MAP: {
        if (rt != wt)
            break;
        p = plan_new(cc, wt == AVRO_ARRAY ? RC_OP_ARRAY : RC_OP_MAP, w, r);
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
        p = plan_new(cc, RC_OP_PRIM, w, r);
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
struct pair *rc_codec_get_pair(struct entry *w, struct entry *r)
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
