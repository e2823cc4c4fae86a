/*
 * metrics.h - process-wide counters and gauges, exported as Prometheus text.
 *
 * A fixed set of metrics, each a relaxed atomic, so any thread can update
 * them without locks. /metrics renders them with rc_metrics_render().
 */
#ifndef RC_METRICS_H
#define RC_METRICS_H

#include "slice.h"

enum rc_metric {
    RC_M_RECORDS_CONSUMED,   /* Kafka records received */
    RC_M_RECORDS_INVALID,    /* undecodable or unmappable records */
    RC_M_RECORDS_DLQ,        /* records written to the DLQ topic */
    RC_M_EVENTS_APPENDED,    /* events stored in history */
    RC_M_EVENTS_DUPLICATE,   /* events dropped by eventId dedupe */
    RC_M_EVENTS_BROADCAST,   /* events broadcast by this node */
    RC_M_DELIVERIES,         /* frames queued to sockets */
    RC_M_SLOW_DISCONNECTS,   /* connections cut for a full queue */
    RC_M_CONNECTIONS,        /* gauge: open Engine.IO sessions */
    RC_M_SOCKETS,            /* gauge: connected Socket.IO sockets */
    RC_M_HANDSHAKES,         /* Engine.IO sessions opened */
    RC_M_AUTH_FAILURES,      /* CONNECT or auth:refresh refused for a token */
    RC_M_CLIENT_ERRORS,      /* malformed packets and rejected client events */
    RC_M_RECOVERED,          /* reconnects whose connection state was recovered */
    RC_M_NOT_RECOVERED,      /* recovery attempts that got a fresh connection */
    RC_M_CATCHUPS,           /* explicit catch-ups completed */
    RC_M_CATCHUPS_TRUNCATED, /* explicit catch-ups beyond the window */
    RC_M_EVENTS_REPLAYED,    /* events sent by recovery or catch-up */
    RC_M_REGISTRY_REQUESTS,  /* Schema Registry requests made */
    RC_M_REGISTRY_FAILURES,  /* of which got no usable answer */
    RC_M_SCHEMA_WAITS,       /* gauge: partitions paused waiting for the registry */
    RC_M_ADMIN_REQUESTS,     /* admin API requests with the right token */
    RC_M_ADMIN_REFUSED,      /* admin API requests refused: token missing or wrong */
    RC_M__COUNT
};

void rc_metric_add(enum rc_metric m, long delta);
static inline void rc_metric_inc(enum rc_metric m) { rc_metric_add(m, 1); }
long rc_metric_get(enum rc_metric m);

/* Appends every metric in Prometheus text exposition format. */
int rc_metrics_render(rc_buf *out);

#endif
