/*
 * test_metrics.c - roomcast's families (core/metrics.c): event and topic
 * label values, "other" for an event the catalog does not have, the
 * partition table (series only for assigned partitions with a statistics
 * value, gone once revoked, in topic and partition order), build info,
 * the process_* families, and a page whose every sample follows its
 * family's HELP and TYPE, families not interleaved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/metrics.h"
#include "core/procstat.h"
#include "tests/unit/check.h"

static char *render(void)
{
    rc_buf out = {0};
    if (rc_metrics_render(&out) < 0)
        return NULL;
    return out.p;
}

static void test_events(void)
{
    const char *names[] = {"request:created", "job:progress"};
    CHECK_INT(rc_metrics_set_events(names, 2), 0);
    CHECK_INT(rc_metrics_event("request:created"), 0);
    CHECK_INT(rc_metrics_event("job:progress"), 1);
    CHECK_INT(rc_metrics_event("job:new"), RC_METRICS_MAX_EVENTS);
    CHECK_INT(rc_metrics_event(NULL), RC_METRICS_MAX_EVENTS);

    rc_counter_add(&rc_metrics.appended[rc_metrics_event("request:created")], 3);
    rc_counter_inc(&rc_metrics.broadcast[rc_metrics_event("job:progress")]);
    char *page = render();
    CHECK(page && strstr(page, "roomcast_events_appended_total{event=\"request:created\"} 3\n"));
    CHECK(page && strstr(page, "roomcast_events_appended_total{event=\"job:progress\"} 0\n"));
    CHECK(page && strstr(page, "roomcast_events_broadcast_total{event=\"job:progress\"} 1\n"));
    /* "other" only once something was counted under it */
    CHECK(page && !strstr(page, "event=\"other\""));
    free(page);
    rc_counter_inc(&rc_metrics.appended[rc_metrics_event("job:new")]);
    page = render();
    CHECK(page && strstr(page, "roomcast_events_appended_total{event=\"other\"} 1\n"));
    CHECK(page && !strstr(page, "roomcast_events_duplicate_total{event=\"other\"}"));
    free(page);

    /* more names than labels have room for */
    const char *many[RC_METRICS_MAX_EVENTS + 1];
    for (int i = 0; i <= RC_METRICS_MAX_EVENTS; i++)
        many[i] = "x";
    CHECK_INT(rc_metrics_set_events(many, RC_METRICS_MAX_EVENTS + 1), -1);
    CHECK_INT(rc_metrics_set_events(names, 2), 0);
}

static void test_topics(void)
{
    int a = rc_metrics_topic("requests.mutations");
    int b = rc_metrics_topic("jobs.events");
    CHECK(a >= 0 && b >= 0 && a != b);
    CHECK_INT(rc_metrics_topic("requests.mutations"), a);
    rc_counter_add(&rc_metrics.consumed[b], 5);
    rc_counter_inc(&rc_metrics.dlq[RC_M_BAD_UNKNOWN_SCHEMA]);
    char *page = render();
    CHECK(page && strstr(page, "roomcast_records_consumed_total{topic=\"requests.mutations\"} 0\n"));
    CHECK(page && strstr(page, "roomcast_records_consumed_total{topic=\"jobs.events\"} 5\n"));
    CHECK(page && strstr(page, "roomcast_records_dlq_total{reason=\"unknown_schema\"} 1\n"));
    CHECK(page && strstr(page, "roomcast_records_dlq_total{reason=\"unmappable\"} 0\n"));
    free(page);
}

static void test_partitions(void)
{
    CHECK_INT(rc_metrics_partition_assign("t.b", 1), 0);
    CHECK_INT(rc_metrics_partition_assign("t.b", 0), 0);
    CHECK_INT(rc_metrics_partition_assign("t.a", 7), 0);
    CHECK_INT(rc_metrics_partition_assign("t.a", 7), 0); /* once */
    CHECK_INT(rc_metrics_partitions(), 3);
    /* no statistics yet: counted as assigned, no lag series */
    char *page = render();
    CHECK(page && strstr(page, "roomcast_kafka_assigned_partitions 3\n"));
    CHECK(page && !strstr(page, "roomcast_kafka_consumer_lag{"));
    free(page);

    rc_metrics_partition_update("t.b", 1, 12, 1);
    rc_metrics_partition_update("t.b", 0, 0, 1);
    rc_metrics_partition_update("t.a", 7, 3, 0);
    rc_metrics_partition_update("t.z", 0, 99, 1); /* not assigned: ignored */
    page = render();
    const char *want = "# TYPE roomcast_kafka_consumer_lag gauge\n"
                       "roomcast_kafka_consumer_lag{topic=\"t.a\",partition=\"7\"} 3\n"
                       "roomcast_kafka_consumer_lag{topic=\"t.b\",partition=\"0\"} 0\n"
                       "roomcast_kafka_consumer_lag{topic=\"t.b\",partition=\"1\"} 12\n"
                       "# HELP roomcast_kafka_partition_fetching";
    CHECK(page && strstr(page, want));
    CHECK(page && strstr(page, "roomcast_kafka_partition_fetching{topic=\"t.a\",partition=\"7\"} 0\n"));
    CHECK(page && strstr(page, "roomcast_kafka_partition_fetching{topic=\"t.b\",partition=\"1\"} 1\n"));
    CHECK(page && !strstr(page, "t.z"));
    free(page);

    /* an unknown lag (-1) hides the partition's series again */
    rc_metrics_partition_update("t.b", 0, -1, 0);
    page = render();
    CHECK(page && !strstr(page, "topic=\"t.b\",partition=\"0\""));
    free(page);

    rc_metrics_partition_revoke("t.b", 1);
    CHECK_INT(rc_metrics_partitions(), 2);
    page = render();
    CHECK(page && strstr(page, "roomcast_kafka_assigned_partitions 2\n"));
    CHECK(page && !strstr(page, "partition=\"1\""));
    CHECK(page && strstr(page, "roomcast_kafka_consumer_lag{topic=\"t.a\",partition=\"7\"} 3\n"));
    free(page);

    rc_metrics_partition_revoke_all();
    CHECK_INT(rc_metrics_partitions(), 0);
    page = render();
    CHECK(page && strstr(page, "roomcast_kafka_assigned_partitions 0\n"));
    CHECK(page && !strstr(page, "roomcast_kafka_consumer_lag{"));
    free(page);
}

static void test_build_and_process(void)
{
    CHECK_INT(rc_metrics_build_label("librdkafka", "2.0.2"), 0);
    CHECK_INT(rc_metrics_build_label("odd", "a\"b"), 0);
    char *page = render();
    char want[128];
    snprintf(want, sizeof want, "roomcast_build_info{version=\"%s\",librdkafka=\"2.0.2\",odd=\"a\\\"b\"} 1\n",
             RC_VERSION);
    CHECK(page && strstr(page, want));
    CHECK(page && strstr(page, "# TYPE process_cpu_seconds_total counter\n"));
    CHECK(page && strstr(page, "\nprocess_resident_memory_bytes "));
    CHECK(page && strstr(page, "\nprocess_open_fds "));
    CHECK(page && strstr(page, "\nprocess_max_fds "));
    CHECK(page && strstr(page, "\nprocess_start_time_seconds "));
    free(page);

    rc_procstat st;
    CHECK_INT(rc_procstat_read(&st), 0);
    CHECK(st.cpu_seconds >= 0 && st.cpu_seconds < 3600);
    CHECK(st.resident_bytes > 100 * 1024 && st.resident_bytes < st.virtual_bytes);
    CHECK(st.open_fds >= 3); /* stdin, stdout, stderr at least */
    FILE *f = fopen("/dev/null", "r");
    rc_procstat st2;
    CHECK_INT(rc_procstat_read(&st2), 0);
    CHECK_INT(st2.open_fds, st.open_fds + 1);
    fclose(f);
    CHECK(st.max_fds == -1 || st.max_fds >= st.open_fds);
    double now = (double)time(NULL);
    CHECK(st.start_time_s <= now + 1 && st.start_time_s > now - 600);
}

/* Every sample line belongs to the family of the last TYPE line (a
 * histogram's _bucket, _sum and _count included), each family has HELP
 * then TYPE, and no family comes back after another one started. */
static void test_page_shape(void)
{
    char *page = render();
    CHECK(page != NULL);
    char family[160] = "", type[16] = "";
    char seen[8192] = " ";
    int bad = 0, families = 0;
    for (char *line = page, *nl; page && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        char name[160];
        if (sscanf(line, "# HELP %159s", name) == 1) {
            char key[170];
            snprintf(key, sizeof key, " %s ", name);
            if (strstr(seen, key))
                bad++; /* a family twice */
            if (strlen(seen) + strlen(key) < sizeof seen)
                strcat(seen, key + 1);
            snprintf(family, sizeof family, "%s", name);
            families++;
        } else if (sscanf(line, "# TYPE %159s %15s", name, type) == 2) {
            bad += strcmp(name, family) != 0;
        } else {
            size_t n = strcspn(line, "{ ");
            size_t fl = strlen(family);
            int ok = n == fl && strncmp(line, family, n) == 0;
            if (!ok && strcmp(type, "histogram") == 0 && n > fl && strncmp(line, family, fl) == 0)
                ok = !strncmp(line + fl, "_bucket", n - fl) || !strncmp(line + fl, "_sum", n - fl) ||
                     !strncmp(line + fl, "_count", n - fl);
            if (!ok)
                fprintf(stderr, "not of family %s: %s\n", family, line);
            bad += !ok;
        }
    }
    CHECK_INT(bad, 0);
    CHECK(families > 20);
    free(page);
}

int main(void)
{
    test_events();
    test_topics();
    test_partitions();
    test_build_and_process();
    test_page_shape();
    return CHECK_DONE();
}
