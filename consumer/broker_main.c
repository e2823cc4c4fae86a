/*
 * broker_main.c - roomcast-broker: the embedded Kafka-protocol broker as a
 * process of its own.
 *
 * For development and tests with several roomcast nodes, which need one
 * broker that outlives any of them. It creates the catalog's topics and the
 * DLQ topic, prints its bootstrap address on stdout (one line) and in the
 * log, and runs until SIGTERM or SIGINT. Data lives in memory only.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "broker.h"
#include "catalog.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: roomcast-broker [--partitions N] [--schemas-dir DIR] [--dlq-topic T]\n\n"
            "Runs librdkafka's mock cluster (a Kafka-protocol broker in memory) with\n"
            "the event catalog's topics and the DLQ topic created, prints its\n"
            "bootstrap address on stdout and serves until SIGTERM/SIGINT.\n"
            "Defaults: 3 partitions, schemas in %s, DLQ topic roomcast.dlq.\n",
            RC_DEFAULT_SCHEMAS_DIR);
}

int main(int argc, char **argv)
{
    const char *schemas = RC_DEFAULT_SCHEMAS_DIR, *dlq = "roomcast.dlq";
    int partitions = 3;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "roomcast-broker: %s needs a value (see --help)\n", a);
            return 2;
        }
        if (!strcmp(a, "--partitions"))
            partitions = atoi(argv[++i]);
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

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    rc_catalog *cat = rc_catalog_new(schemas, NULL, err, sizeof err);
    if (!cat) {
        fprintf(stderr, "roomcast-broker: %s\n", err);
        return 1;
    }
    rc_broker *b = rc_broker_new(cat, dlq, partitions, err, sizeof err);
    if (!b) {
        fprintf(stderr, "roomcast-broker: %s\n", err);
        rc_catalog_destroy(cat);
        return 1;
    }
    printf("%s\n", rc_broker_bootstraps(b));
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    LOG_INFO("broker", "%s received: stopping", strsignal(sig));
    rc_broker_destroy(b);
    rc_catalog_destroy(cat);
    return 0;
}
