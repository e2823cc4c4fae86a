/*
 * metrics.h - roomcast's process-wide metric families: what the consumer,
 * the history writer and the application count, and their rendering for
 * /metrics (Prometheus text, core/prom.h).
 *
 * Who counts what. The consumer counts records (by topic), bad records (by
 * reason), and keeps the per-partition lag table; the process wiring
 * counts history appends (by event) and their latency; the application
 * counts broadcasts (by event), recoveries, replays, auth failures and the
 * client errors it decides on. The Socket.IO server library does not count
 * here: it keeps library-level counters of its own (gw_counters,
 * gateway/server/server.h) that the application renders under roomcast's
 * names (gateway/roomcast/scrape.c).
 *
 * Hot path. Every counter is a relaxed atomic in one global table,
 * rc_metrics, updated at the call site with rc_counter_inc() and friends:
 * no lock, no allocation. Labels with a fixed set of values are array
 * indexes (an enum below, or an event's index from rc_metrics_event()).
 * Open-ended label values are registered off the hot path: the catalog's
 * topics and event names once at start, the assigned partitions by the
 * consumer thread on each rebalance, under a mutex that only registration
 * and rendering take.
 *
 * Threads: everything may be called from any thread, except the set-up
 * calls marked "start-up", which must come before the threads that count.
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "prom.h"
#include "slice.h"

/* Label values the tables have room for. */
#define RC_METRICS_MAX_EVENTS 64
#define RC_METRICS_MAX_TOPICS 64
#define RC_METRICS_MAX_BUILD_LABELS 8

/* Why a record went to the DLQ (label reason). */
enum rc_metrics_bad_record {
    RC_M_BAD_UNDECODABLE,    /* not Avro of a known schema (truncated, wrong schema) */
    RC_M_BAD_UNKNOWN_SCHEMA, /* a Confluent schema id or single-object fingerprint
                                no local schema has */
    RC_M_BAD_UNMAPPABLE,     /* decoded, but the catalog cannot make an event of it */
    RC_M_BAD_EMPTY,          /* no value */
    RC_M_BAD_UNKNOWN_TOPIC,  /* a topic without a catalog record */
    RC_M_BAD__COUNT
};

/* What a reconnect or explicit catch-up came to (label outcome). */
enum rc_metrics_recovery {
    RC_M_RECOVERED,         /* connection state recovered, missed events replayed */
    RC_M_NOT_RECOVERED,     /* recovery asked for, a new connection given */
    RC_M_CATCHUP,           /* explicit catch-up replayed */
    RC_M_CATCHUP_TRUNCATED, /* explicit catch-up beyond the window: nothing replayed */
    RC_M_RECOVERY__COUNT
};

/* Which replay a duration is of (label kind). */
enum rc_metrics_replay { RC_M_REPLAY_RECOVERY, RC_M_REPLAY_CATCHUP, RC_M_REPLAY__COUNT };

/* A refused token (label code): the codes of the connect_error data and
 * of auth:refresh's answer. */
enum rc_metrics_auth {
    RC_M_AUTH_TOKEN_MISSING,
    RC_M_AUTH_TOKEN_INVALID,
    RC_M_AUTH_TOKEN_EXPIRED,
    RC_M_AUTH_FORBIDDEN, /* auth:refresh with another user's token */
    RC_M_AUTH__COUNT
};

/* Client errors the application decides on (label reason); the server
 * library's own reasons are in gw_counters. */
enum rc_metrics_client_error {
    RC_M_ERR_UNKNOWN_EVENT,         /* a client event the application does not have */
    RC_M_ERR_INVALID_ARGUMENT,      /* bad arguments to a known event */
    RC_M_ERR_FORBIDDEN,             /* join:program without membership */
    RC_M_ERR_USER_CONNECTION_LIMIT, /* CONNECT over max-connections-per-user */
    RC_M_ERR__COUNT
};

typedef struct rc_metrics_table {
    /* consumer */
    rc_counter consumed[RC_METRICS_MAX_TOPICS]; /* by rc_metrics_topic() index */
    rc_counter invalid[RC_M_BAD__COUNT];
    rc_counter dlq[RC_M_BAD__COUNT];
    rc_gauge consumer_paused; /* 1 while the history refuses appends */
    /* history; by rc_metrics_event() index */
    rc_counter appended[RC_METRICS_MAX_EVENTS + 1];
    rc_counter duplicate[RC_METRICS_MAX_EVENTS + 1];
    rc_histogram append_time;
    /* application */
    rc_counter broadcast[RC_METRICS_MAX_EVENTS + 1];
    rc_counter recoveries[RC_M_RECOVERY__COUNT];
    rc_counter replayed;
    rc_histogram replay_time[RC_M_REPLAY__COUNT];
    rc_counter auth_failures[RC_M_AUTH__COUNT];
    /* rendered by the application, in one family with the server
     * library's reasons (gateway/roomcast/scrape.c) */
    rc_counter client_errors[RC_M_ERR__COUNT];
    /* Schema Registry (consumer/registry.c, consumer.c) */
    rc_counter registry_requests; /* for schema ids the local map lacks */
    rc_counter registry_failures; /* of which got no usable answer */
    rc_gauge schema_waits;        /* partitions paused for the registry */
    /* admin API (gateway/roomcast/admin.c) */
    rc_counter admin_requests;     /* with the right token */
    rc_counter admin_unauthorized; /* refused with 401 */
} rc_metrics_table;

/* The process's table. */
extern rc_metrics_table rc_metrics;

/*
 * Start-up: the event label's values, the catalog's event names (copied).
 * Returns 0, or -1 when there are more than RC_METRICS_MAX_EVENTS or memory
 * runs out. Called again, it replaces them (tests).
 */
int rc_metrics_set_events(const char *const *names, size_t n);

/*
 * The index of an event name in the event families. A name the catalog
 * does not have (an event from a node with a newer catalog) gets the last
 * index, exposed as event="other". A linear search over a few names: per
 * event, never per delivery.
 */
int rc_metrics_event(const char *name);

/*
 * The index of a topic in the consumed family, registered (copied) on its
 * first use; -1 when the table is full or memory runs out (not counted).
 * The consumer registers its topics at start and keeps the indexes.
 */
int rc_metrics_topic(const char *topic);

/*
 * Start-up: a label of roomcast_build_info (name and value copied; the
 * version is built in). -1 when full or out of memory.
 */
int rc_metrics_build_label(const char *name, const char *value);

/*
 * The assigned partitions, for the lag and fetch-state gauges and the
 * assigned count (consumer thread). An assigned partition has series once
 * librdkafka's statistics gave a value; a revoked one has none.
 * rc_metrics_partition_assign returns 0, or -1 when out of memory.
 */
int rc_metrics_partition_assign(const char *topic, int32_t partition);
void rc_metrics_partition_revoke(const char *topic, int32_t partition);
void rc_metrics_partition_revoke_all(void);
/* From a statistics report: lag in records (-1 unknown) and whether the
 * partition is being fetched. Ignored for a partition not assigned. */
void rc_metrics_partition_update(const char *topic, int32_t partition, int64_t lag, int fetching);
/* Partitions assigned now. */
size_t rc_metrics_partitions(void);

/*
 * Appends every family of this table but the client errors,
 * roomcast_build_info and the process_* families. 0 or -1 when out of
 * memory.
 */
int rc_metrics_render(rc_buf *out);

/* The label value of an application client error (its reason). */
const char *rc_metrics_client_error_name(enum rc_metrics_client_error e);

#endif
