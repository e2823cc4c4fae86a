/*
 * metrics.c - the metric table.
 */
#include "metrics.h"

#include <stdatomic.h>

static atomic_long values[RC_M__COUNT];

static const struct {
    const char *name;
    const char *type;
    const char *help;
} defs[RC_M__COUNT] = {
    [RC_M_RECORDS_CONSUMED] = {"roomcast_records_consumed_total", "counter", "Kafka records received"},
    [RC_M_RECORDS_INVALID] = {"roomcast_records_invalid_total", "counter", "Records that could not be decoded or mapped"},
    [RC_M_RECORDS_DLQ] = {"roomcast_records_dlq_total", "counter", "Records written to the dead-letter topic"},
    [RC_M_EVENTS_APPENDED] = {"roomcast_events_appended_total", "counter", "Events appended to history"},
    [RC_M_EVENTS_DUPLICATE] = {"roomcast_events_duplicate_total", "counter", "Events dropped as duplicates by eventId"},
    [RC_M_EVENTS_BROADCAST] = {"roomcast_events_broadcast_total", "counter", "Events broadcast by this node"},
    [RC_M_DELIVERIES] = {"roomcast_deliveries_total", "counter", "Event frames queued to sockets"},
    [RC_M_SLOW_DISCONNECTS] = {"roomcast_slow_disconnects_total", "counter", "Connections closed because their queue was full"},
    [RC_M_CONNECTIONS] = {"roomcast_connections", "gauge", "Open Engine.IO sessions"},
    [RC_M_SOCKETS] = {"roomcast_sockets", "gauge", "Connected Socket.IO sockets"},
    [RC_M_HANDSHAKES] = {"roomcast_handshakes_total", "counter", "Engine.IO sessions opened"},
    [RC_M_AUTH_FAILURES] = {"roomcast_auth_failures_total", "counter", "Socket.IO CONNECTs and auth:refresh requests refused for a token"},
    [RC_M_CLIENT_ERRORS] = {"roomcast_client_errors_total", "counter", "Malformed client packets and rejected client events"},
    [RC_M_RECOVERED] = {"roomcast_recoveries_total", "counter", "Reconnects whose Socket.IO connection state was recovered"},
    [RC_M_NOT_RECOVERED] = {"roomcast_recoveries_failed_total", "counter", "Recovery attempts answered with a fresh connection (gap, epoch, no session)"},
    [RC_M_CATCHUPS] = {"roomcast_catchups_total", "counter", "Explicit catch-ups (lastOffset, lastEventTimestamp) completed"},
    [RC_M_CATCHUPS_TRUNCATED] = {"roomcast_catchups_truncated_total", "counter", "Explicit catch-ups beyond the window: nothing replayed"},
    [RC_M_EVENTS_REPLAYED] = {"roomcast_events_replayed_total", "counter", "Events sent by recovery or catch-up"},
    [RC_M_REGISTRY_REQUESTS] = {"roomcast_schema_registry_requests_total", "counter", "Schema Registry requests for unknown schema ids"},
    [RC_M_REGISTRY_FAILURES] = {"roomcast_schema_registry_failures_total", "counter", "Schema Registry requests without a usable answer (unreachable, timeout, 5xx, refused credentials)"},
    [RC_M_SCHEMA_WAITS] = {"roomcast_schema_waits", "gauge", "Partitions paused until the Schema Registry answers for their next record"},
    [RC_M_ADMIN_REQUESTS] = {"roomcast_admin_requests_total", "counter", "Admin API requests that carried the admin token"},
    [RC_M_ADMIN_REFUSED] = {"roomcast_admin_unauthorized_total", "counter", "Admin API requests refused with 401: token missing or wrong"},
};

void rc_metric_add(enum rc_metric m, long delta)
{
    atomic_fetch_add_explicit(&values[m], delta, memory_order_relaxed);
}

long rc_metric_get(enum rc_metric m)
{
    return atomic_load_explicit(&values[m], memory_order_relaxed);
}

int rc_metrics_render(rc_buf *out)
{
    for (int i = 0; i < RC_M__COUNT; i++)
        if (rc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %ld\n", defs[i].name,
                          defs[i].help, defs[i].name, defs[i].type, defs[i].name,
                          rc_metric_get((enum rc_metric)i)) < 0)
            return -1;
    return 0;
}
