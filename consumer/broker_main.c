/*
 * broker_main.c - roomcast-broker: the embedded Kafka-protocol broker as a
 * process of its own.
 *
 * For development and tests with several roomcast nodes, which need one
 * broker that outlives any of them. It creates the catalog's topics and the
 * DLQ topic, prints its bootstrap address on stdout (one line) and in the
 * log, and runs until SIGTERM or SIGINT. Data lives in memory only.
 *
 * Fault injection: every line on stdin is a control command (broker.h:
 * rc_broker_control); each gets one line on stdout, "ok ..." or
 * "error ...". End of input only ends the reading, not the broker.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "broker.h"
#include "catalog.h"

#ifndef RC_VERSION
#define RC_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: roomcast-broker [--partitions N] [--brokers N] [--schemas-dir DIR]\n"
            "                       [--dlq-topic T]\n\n"
            "Runs librdkafka's mock cluster (a Kafka-protocol broker in memory) with\n"
            "the event catalog's topics and the DLQ topic created, prints its\n"
            "bootstrap address on stdout and serves until SIGTERM/SIGINT.\n"
            "Defaults: 3 partitions, 1 broker, schemas in %s, DLQ topic roomcast.dlq.\n\n"
            "Fault injection: each line on stdin is a command, answered by one line on\n"
            "stdout (\"ok CMD\" or \"error WHY\"):\n"
            "  down BROKER | up BROKER            broker BROKER (1..N) unreachable / back\n"
            "  errors API ERR [ERR...]            next requests of API (Produce, Fetch,\n"
            "                                     OffsetCommit, Heartbeat, JoinGroup...) fail\n"
            "                                     with ERR (e.g. NOT_COORDINATOR), one each\n"
            "  clear-errors API\n"
            "  coordinator GROUP BROKER           move GROUP's coordinator\n"
            "  leader TOPIC PARTITION BROKER      move a partition's leader\n"
            "  rtt BROKER MS                      delay BROKER's answers\n\n"
            "  -V, --version   versions of this program and librdkafka\n"
            "Exit status: 0 after SIGTERM/SIGINT, 1 when the broker cannot start, 2 on\n"
            "usage or configuration errors.\n",
            RC_DEFAULT_SCHEMAS_DIR);
}

/* The broker, shared with the control thread until main destroys it. */
static pthread_mutex_t control_mu = PTHREAD_MUTEX_INITIALIZER;
static rc_broker *control_broker; /* under control_mu; NULL once destroyed */

/* Reads commands on stdin until its end, answers on stdout. */
static void *control_main(void *arg)
{
    (void)arg;
    char line[1024], reply[512];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        pthread_mutex_lock(&control_mu);
        int rc = control_broker ? rc_broker_control(control_broker, line, reply, sizeof reply) : -1;
        if (!control_broker)
            snprintf(reply, sizeof reply, "stopping");
        pthread_mutex_unlock(&control_mu);
        printf("%s %s\n", rc == 0 ? "ok" : "error", reply);
        fflush(stdout);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *schemas = RC_DEFAULT_SCHEMAS_DIR, *dlq = "roomcast.dlq";
    int partitions = 3, brokers = 1;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("roomcast-broker %s\nlibrdkafka %s\njansson %s\n", RC_VERSION,
                   rd_kafka_version_str(), jansson_version_str());
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "roomcast-broker: %s needs a value (see --help)\n", a);
            return 2;
        }
        if (!strcmp(a, "--partitions"))
            partitions = atoi(argv[++i]);
        else if (!strcmp(a, "--brokers"))
            brokers = atoi(argv[++i]);
        else if (!strcmp(a, "--schemas-dir"))
            schemas = argv[++i];
        else if (!strcmp(a, "--dlq-topic"))
            dlq = argv[++i];
        else {
            fprintf(stderr, "roomcast-broker: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (partitions < 1 || partitions > 1000) {
        fprintf(stderr, "roomcast-broker: --partitions must be 1..1000\n");
        return 2;
    }
    if (brokers < 1 || brokers > 16) {
        fprintf(stderr, "roomcast-broker: --brokers must be 1..16\n");
        return 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    rc_catalog *cat = rc_catalog_new(schemas, NULL, err, sizeof err);
    if (!cat) {
        fprintf(stderr, "roomcast-broker: --schemas-dir %s: %s\n", schemas, err);
        return 2;
    }
    rc_broker_opts bo = {.partitions = partitions, .brokers = brokers, .dlq_topic = dlq};
    rc_broker *b = rc_broker_new_opts(cat, &bo, err, sizeof err);
    if (!b) {
        fprintf(stderr, "roomcast-broker: %s\n", err);
        rc_catalog_destroy(cat);
        return 1;
    }
    printf("%s\n", rc_broker_bootstraps(b));
    fflush(stdout);

    /* Detached: it may stay blocked reading stdin until the process ends. */
    pthread_t control;
    control_broker = b;
    if (pthread_create(&control, NULL, control_main, NULL) == 0)
        pthread_detach(control);
    else
        LOG_WARN("broker", "cannot start the control thread: no fault injection");

    int sig = 0;
    sigwait(&sigs, &sig);
    LOG_INFO("broker", "%s received: stopping", strsignal(sig));
    pthread_mutex_lock(&control_mu);
    control_broker = NULL;
    pthread_mutex_unlock(&control_mu);
    rc_broker_destroy(b);
    rc_catalog_destroy(cat);
    return 0;
}
