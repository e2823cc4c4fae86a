/*
 * prom.h - the Prometheus text exposition format (version 0.0.4) and the
 * lock-free primitives metrics are kept in: counters, gauges, histograms.
 *
 * Counters, gauges and histogram buckets are relaxed atomics: any thread
 * updates them without a lock or an allocation, and a scrape reads them as
 * they are. A labelled family with a small fixed set of label values is an
 * array of them, indexed at the call site. A scrape reads a histogram's
 * buckets one by one, so they may be a few observations apart from its sum;
 * its _count is the sum of the buckets it read, so _count always equals the
 * +Inf bucket of the same scrape.
 *
 * The writer appends to an rc_buf: a family's HELP and TYPE lines
 * (rc_prom_family), then its samples. Label values are escaped as the
 * format wants (backslash, double quote, newline); metric and label names
 * are the caller's literals. Every call returns 0, or -1 when out of
 * memory. Nothing here knows any metric of roomcast's.
 */
#ifndef RC_PROM_H
#define RC_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* A counter: only ever goes up. */
typedef struct rc_counter {
    atomic_ullong v;
} rc_counter;

static inline void rc_counter_add(rc_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

static inline void rc_counter_inc(rc_counter *c)
{
    rc_counter_add(c, 1);
}

static inline uint64_t rc_counter_get(const rc_counter *c)
{
    return atomic_load_explicit(&((rc_counter *)c)->v, memory_order_relaxed);
}

/* A gauge: set, or moved up and down. */
typedef struct rc_gauge {
    atomic_llong v;
} rc_gauge;

static inline void rc_gauge_set(rc_gauge *g, int64_t v)
{
    atomic_store_explicit(&g->v, v, memory_order_relaxed);
}

static inline void rc_gauge_add(rc_gauge *g, int64_t d)
{
    atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}

static inline int64_t rc_gauge_get(const rc_gauge *g)
{
    return atomic_load_explicit(&((rc_gauge *)g)->v, memory_order_relaxed);
}

/*
 * A latency histogram with fixed buckets, the same for every histogram:
 * upper bounds from 100 us to 10 s (rc_prom_bucket_us), plus +Inf. Values
 * are observed in microseconds and exposed in seconds.
 */
#define RC_PROM_BUCKETS 16 /* finite upper bounds */

typedef struct rc_histogram {
    atomic_ullong counts[RC_PROM_BUCKETS + 1]; /* per bucket, not cumulative;
                                                  the last one is +Inf */
    atomic_ullong sum_us;
} rc_histogram;

/* The finite upper bounds, in microseconds, ascending. */
extern const int64_t rc_prom_bucket_us[RC_PROM_BUCKETS];

/* Counts one observation of us microseconds (negative: 0). Any thread. */
void rc_prom_observe(rc_histogram *h, int64_t us);

/* Observations so far: the sum of the buckets (as a scrape would say). */
uint64_t rc_prom_histogram_count(const rc_histogram *h);

/* ---- the writer ---- */

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
int rc_prom_family(rc_buf *out, const char *name, const char *type, const char *help);

/*
 * Appends name="value" to a label list being built in b (a comma first
 * when b is not empty), value escaped. b then goes to the sample calls as
 * b->p (NULL or "" for no labels).
 */
int rc_prom_label(rc_buf *b, const char *name, const char *value);

/* One sample: name{labels} value. */
int rc_prom_u64(rc_buf *out, const char *name, const char *labels, uint64_t v);
int rc_prom_i64(rc_buf *out, const char *name, const char *labels, int64_t v);
/* A float value: finite numbers with 15 significant digits (%.15g), NaN
 * and +Inf/-Inf by name. */
int rc_prom_f64(rc_buf *out, const char *name, const char *labels, double v);

/*
 * A counter family with one label over a fixed set of values: the header,
 * then name{label="values[i]"} c[i] for i < n.
 */
int rc_prom_counters(rc_buf *out, const char *name, const char *help, const char *label,
                     const char *const *values, const rc_counter *c, size_t n);

/*
 * The samples of a histogram (its header is the caller's):
 * name_bucket{labels,le="..."} (cumulative), name_sum{labels} in seconds
 * and name_count{labels}.
 */
int rc_prom_histogram(rc_buf *out, const char *name, const char *labels, const rc_histogram *h);

#endif
