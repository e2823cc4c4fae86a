/*
 * codec.c - Avro framings, schema loading and lookups, decoding.
 *
 * Implementation notes.
 *
 * Schemas. Every *.avsc of the schemas directory (readers) and of history/
 * (older writers) becomes an entry: its JSON (jansson, kept for field
 * defaults, which avro-c drops), its avro-c schema, its CRC-64-AVRO
 * fingerprint (pcf.c) and, from registry.json, its Confluent id. Lookups by
 * id or fingerprint are linear: a codec holds tens of schemas, not thousands.
 *
 * Decoding. A payload's first bytes say its framing, and the framing which
 * entry wrote it (a Confluent id, a single-object fingerprint, or for a bare
 * record the reader itself). The payload is then decoded in place into the
 * value cached for the record's reader, without avro-c's reader (codec_plan.c
 * says why): codec_plan.c compiles the resolution plan of the (writer,
 * reader) pair on first use, and codec_decode.c runs it over the payload. A
 * bare record that the current schema does not read exactly is tried with
 * the record's older versions, newest first.
 */
#include "codec.h"
#include "codec_private.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/errstr.h"
#include "core/file.h"
#include "pcf.h"

#define RC_CODEC_MAX_SCHEMA_BYTES (1024 * 1024)

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

const struct named_def *rc_codec_find_named(const struct entry *e,
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
    const struct named_def *nd = rc_codec_find_named(e, full);
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
/* Loading                                                              */

static void entry_free(struct entry *e, size_t nreaders)
{
    if (!e)
        return;
    if (e->pairs) {
        for (size_t i = 0; i < nreaders; i++)
            rc_codec_pair_clear(&e->pairs[i]);
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

struct entry *rc_codec_find_id(const rc_codec *c, int32_t id)
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
        if (rc_codec_find_id(c, id)) {
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
    struct entry *old = rc_codec_find_id(c, id);
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
    if (u > INT32_MAX || rc_codec_find_id(c, (int32_t)u))
        return 0;
    *id = (int32_t)u;
    return 1;
}

int rc_codec_unknown_writer(const rc_codec *c, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 5 && b[0] == 0x00) {
        uint32_t u = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
        return u > INT32_MAX || !rc_codec_find_id(c, (int32_t)u);
    }
    if (len >= 10 && b[0] == 0xC3 && b[1] == 0x01) {
        uint64_t fp = 0;
        for (int i = 9; i >= 2; i--)
            fp = fp << 8 | b[i];
        return find_fingerprint(c, fp) == NULL;
    }
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
        writer = id <= INT32_MAX ? rc_codec_find_id(c, (int32_t)id) : NULL;
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
    if (rc_codec_decode_as(c, writer, reader, b + hdr, len - hdr, err, errlen) == 0) {
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
        if (rc_codec_decode_as(c, e, reader, b, len, ignored, sizeof ignored) == 0) {
            *out = &reader->dec_value;
            return 0;
        }
    }
    return -1;
}
