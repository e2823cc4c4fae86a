/*
 * prom.c - the exposition writer and histogram observations.
 *
 * Implementation notes. The bucket of an observation is found by a linear
 * scan of the 16 bounds: latencies cluster in the first few buckets, so
 * the scan usually stops within a handful of compares, and it needs no
 * table beyond the bounds. Each observation is two relaxed atomic adds (its
 * bucket and the sum); the count is not kept apart but summed from the
 * buckets at render time, which keeps _count and the +Inf bucket equal.
 * The le values are written from literals, so a scrape never formats a
 * float for them.
 */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

const int64_t rc_prom_bucket_us[RC_PROM_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

static const char *const bucket_le[RC_PROM_BUCKETS + 1] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf",
};

void rc_prom_observe(rc_histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t i = 0;
    while (i < RC_PROM_BUCKETS && us > rc_prom_bucket_us[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)us, memory_order_relaxed);
}

uint64_t rc_prom_histogram_count(const rc_histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= RC_PROM_BUCKETS; i++)
        n += atomic_load_explicit(&((rc_histogram *)h)->counts[i], memory_order_relaxed);
    return n;
}

int rc_prom_family(rc_buf *out, const char *name, const char *type, const char *help)
{
    /* HELP text escapes backslash and newline; ours are literals without. */
    return rc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int rc_prom_label(rc_buf *b, const char *name, const char *value)
{
    if ((b->len && rc_buf_puts(b, ",") < 0) || rc_buf_puts(b, name) < 0 ||
        rc_buf_puts(b, "=\"") < 0)
        return -1;
    for (const char *p = value ? value : ""; *p; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (esc ? rc_buf_puts(b, esc) < 0 : rc_buf_append(b, p, 1) < 0)
            return -1;
    }
    return rc_buf_puts(b, "\"");
}

/* name or name{labels}, then a space. */
static int head(rc_buf *out, const char *name, const char *labels)
{
    if (labels && labels[0])
        return rc_buf_printf(out, "%s{%s} ", name, labels);
    return rc_buf_printf(out, "%s ", name);
}

int rc_prom_u64(rc_buf *out, const char *name, const char *labels, uint64_t v)
{
    if (head(out, name, labels) < 0)
        return -1;
    return rc_buf_printf(out, "%" PRIu64 "\n", v);
}

int rc_prom_i64(rc_buf *out, const char *name, const char *labels, int64_t v)
{
    if (head(out, name, labels) < 0)
        return -1;
    return rc_buf_printf(out, "%" PRId64 "\n", v);
}

int rc_prom_f64(rc_buf *out, const char *name, const char *labels, double v)
{
    if (head(out, name, labels) < 0)
        return -1;
    if (isnan(v))
        return rc_buf_puts(out, "NaN\n");
    if (isinf(v))
        return rc_buf_puts(out, v > 0 ? "+Inf\n" : "-Inf\n");
    return rc_buf_printf(out, "%.15g\n", v);
}

int rc_prom_counters(rc_buf *out, const char *name, const char *help, const char *label,
                     const char *const *values, const rc_counter *c, size_t n)
{
    rc_buf l = {0};
    int rc = rc_prom_family(out, name, "counter", help);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc_buf_reset(&l);
        rc = rc_prom_label(&l, label, values[i]) < 0 ||
                     rc_prom_u64(out, name, l.p, rc_counter_get(&c[i])) < 0
                 ? -1
                 : 0;
    }
    rc_buf_free(&l);
    return rc;
}

int rc_prom_histogram(rc_buf *out, const char *name, const char *labels, const rc_histogram *h)
{
    const char *sep = labels && labels[0] ? "," : "";
    const char *lb = labels ? labels : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= RC_PROM_BUCKETS; i++) {
        cum += atomic_load_explicit(&((rc_histogram *)h)->counts[i], memory_order_relaxed);
        if (rc_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, lb, sep,
                          bucket_le[i], cum) < 0)
            return -1;
    }
    unsigned long long sum =
        atomic_load_explicit(&((rc_histogram *)h)->sum_us, memory_order_relaxed);
    if (rc_buf_printf(out, "%s_sum%s%s%s %llu.%06llu\n", name, lb[0] ? "{" : "", lb,
                      lb[0] ? "}" : "", sum / 1000000, sum % 1000000) < 0)
        return -1;
    return rc_buf_printf(out, "%s_count%s%s%s %" PRIu64 "\n", name, lb[0] ? "{" : "", lb,
                         lb[0] ? "}" : "", cum);
}
