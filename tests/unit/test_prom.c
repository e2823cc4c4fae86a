/*
 * test_prom.c - the exposition writer and the lock-free primitives
 * (core/prom.c): bucket boundaries (an upper bound is inclusive), the
 * cumulative buckets, _sum in seconds and _count equal to +Inf, label
 * escaping, float values, a labelled counter family, and histograms and
 * counters updated by several threads at once losing nothing.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "core/prom.h"
#include "tests/unit/check.h"

static void test_buckets(void)
{
    rc_histogram h = {0};
    rc_prom_observe(&h, 100);      /* on the first bound: in it */
    rc_prom_observe(&h, 101);      /* just above: the next */
    rc_prom_observe(&h, -5);       /* negative: 0, the first */
    rc_prom_observe(&h, 10000000); /* the last finite bound */
    rc_prom_observe(&h, 10000001); /* beyond: +Inf only */
    CHECK_INT(rc_prom_histogram_count(&h), 5);

    rc_buf out = {0};
    CHECK_INT(rc_prom_histogram(&out, "x_seconds", NULL, &h), 0);
    CHECK_STR(out.p, "x_seconds_bucket{le=\"0.0001\"} 2\n"
                     "x_seconds_bucket{le=\"0.00025\"} 3\n"
                     "x_seconds_bucket{le=\"0.0005\"} 3\n"
                     "x_seconds_bucket{le=\"0.001\"} 3\n"
                     "x_seconds_bucket{le=\"0.0025\"} 3\n"
                     "x_seconds_bucket{le=\"0.005\"} 3\n"
                     "x_seconds_bucket{le=\"0.01\"} 3\n"
                     "x_seconds_bucket{le=\"0.025\"} 3\n"
                     "x_seconds_bucket{le=\"0.05\"} 3\n"
                     "x_seconds_bucket{le=\"0.1\"} 3\n"
                     "x_seconds_bucket{le=\"0.25\"} 3\n"
                     "x_seconds_bucket{le=\"0.5\"} 3\n"
                     "x_seconds_bucket{le=\"1\"} 3\n"
                     "x_seconds_bucket{le=\"2.5\"} 3\n"
                     "x_seconds_bucket{le=\"5\"} 3\n"
                     "x_seconds_bucket{le=\"10\"} 4\n"
                     "x_seconds_bucket{le=\"+Inf\"} 5\n"
                     "x_seconds_sum 20.000202\n"
                     "x_seconds_count 5\n");

    /* with labels: le goes last, _sum and _count keep the labels */
    rc_buf_reset(&out);
    rc_histogram one = {0};
    rc_prom_observe(&one, 2500);
    CHECK_INT(rc_prom_histogram(&out, "y_seconds", "kind=\"a\"", &one), 0);
    CHECK(strstr(out.p, "y_seconds_bucket{kind=\"a\",le=\"0.001\"} 0\n"));
    CHECK(strstr(out.p, "y_seconds_bucket{kind=\"a\",le=\"0.0025\"} 1\n"));
    CHECK(strstr(out.p, "y_seconds_bucket{kind=\"a\",le=\"+Inf\"} 1\n"));
    CHECK(strstr(out.p, "y_seconds_sum{kind=\"a\"} 0.002500\n"));
    CHECK(strstr(out.p, "y_seconds_count{kind=\"a\"} 1\n"));
    rc_buf_free(&out);

    /* the bounds ascend, 100 us to 10 s */
    CHECK_INT(rc_prom_bucket_us[0], 100);
    CHECK_INT(rc_prom_bucket_us[RC_PROM_BUCKETS - 1], 10000000);
    for (int i = 1; i < RC_PROM_BUCKETS; i++)
        CHECK(rc_prom_bucket_us[i] > rc_prom_bucket_us[i - 1]);
}

static void test_labels_and_values(void)
{
    rc_buf l = {0}, out = {0};
    CHECK_INT(rc_prom_label(&l, "topic", "a\\b\"c\nd"), 0);
    CHECK_INT(rc_prom_label(&l, "partition", "3"), 0);
    CHECK_STR(l.p, "topic=\"a\\\\b\\\"c\\nd\",partition=\"3\"");
    CHECK_INT(rc_prom_u64(&out, "m", l.p, 18446744073709551615ULL), 0);
    CHECK_INT(rc_prom_i64(&out, "g", NULL, -7), 0);
    CHECK_INT(rc_prom_i64(&out, "g2", "", 0), 0);
    CHECK_INT(rc_prom_f64(&out, "f", NULL, 0.08), 0);
    CHECK_INT(rc_prom_f64(&out, "f", "k=\"1\"", NAN), 0);
    CHECK_INT(rc_prom_f64(&out, "f", "k=\"2\"", INFINITY), 0);
    CHECK_INT(rc_prom_f64(&out, "f", "k=\"3\"", -INFINITY), 0);
    CHECK_INT(rc_prom_f64(&out, "f", "k=\"4\"", 1796081951.97), 0);
    CHECK_STR(out.p, "m{topic=\"a\\\\b\\\"c\\nd\",partition=\"3\"} 18446744073709551615\n"
                     "g -7\n"
                     "g2 0\n"
                     "f 0.08\n"
                     "f{k=\"1\"} NaN\n"
                     "f{k=\"2\"} +Inf\n"
                     "f{k=\"3\"} -Inf\n"
                     "f{k=\"4\"} 1796081951.97\n");
    rc_buf_free(&l);
    rc_buf_free(&out);
}

static void test_family(void)
{
    rc_buf out = {0};
    rc_counter c[3] = {0};
    rc_counter_inc(&c[0]);
    rc_counter_add(&c[2], 41);
    rc_counter_inc(&c[2]);
    const char *const names[] = {"written", "dro\"pped", "other"};
    CHECK_INT(rc_prom_counters(&out, "d_total", "Frames, by outcome", "outcome", names, c, 3), 0);
    CHECK_STR(out.p, "# HELP d_total Frames, by outcome\n"
                     "# TYPE d_total counter\n"
                     "d_total{outcome=\"written\"} 1\n"
                     "d_total{outcome=\"dro\\\"pped\"} 0\n"
                     "d_total{outcome=\"other\"} 42\n");
    rc_buf_free(&out);

    rc_gauge g = {0};
    rc_gauge_set(&g, 5);
    rc_gauge_add(&g, -7);
    CHECK_INT(rc_gauge_get(&g), -2);
}

/* Several threads on one histogram and one counter: nothing is lost. */
#define THREADS 4
#define PER_THREAD 100000
static rc_histogram shared_h;
static rc_counter shared_c;

static void *hammer(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        rc_prom_observe(&shared_h, (k + 1) * 1000); /* 1, 2, 3, 4 ms */
        rc_counter_inc(&shared_c);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(rc_counter_get(&shared_c), THREADS * PER_THREAD);
    CHECK_INT(rc_prom_histogram_count(&shared_h), THREADS * PER_THREAD);
    /* 1 ms in le=0.001, 2 ms in le=0.0025, 3 and 4 ms in le=0.005 */
    CHECK_INT(atomic_load(&shared_h.counts[3]), PER_THREAD);
    CHECK_INT(atomic_load(&shared_h.counts[4]), PER_THREAD);
    CHECK_INT(atomic_load(&shared_h.counts[5]), 2 * PER_THREAD);
    CHECK_INT(atomic_load(&shared_h.sum_us), (1000 + 2000 + 3000 + 4000) * (long long)PER_THREAD);
}

int main(void)
{
    test_buckets();
    test_labels_and_values();
    test_family();
    test_threads();
    return CHECK_DONE();
}
