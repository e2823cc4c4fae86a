/*
 * scrape.c - the /metrics page (scrape.h).
 *
 * Implementation notes. Families are written whole, one after the other:
 * the process-wide table first (rc_metrics_render), then the server's.
 * The server's gauges (connections, sockets, rooms) are read from its
 * loop-thread state, which is why this runs on the loop (the /metrics
 * route); its counters are atomics and could be read anywhere.
 */
#include "gateway/roomcast/scrape.h"

#include "core/metrics.h"
#include "core/prom.h"

static int render_gauges(rc_buf *out, rc_buf *l, const gw_server *gw)
{
    gw_stats st;
    gw_server_stats(gw, &st);
    if (rc_prom_family(out, "roomcast_connections", "gauge",
                       "Open Engine.IO sessions, by current transport") < 0)
        return -1;
    for (int t = 0; t < GW_TR__COUNT; t++) {
        rc_buf_reset(l);
        if (rc_prom_label(l, "transport", gw_server_transport_name((enum gw_transport)t)) < 0 ||
            rc_prom_u64(out, "roomcast_connections", l->p, st.by_transport[t]) < 0)
            return -1;
    }
    if (rc_prom_family(out, "roomcast_sockets", "gauge", "Connected Socket.IO sockets") < 0 ||
        rc_prom_u64(out, "roomcast_sockets", NULL, st.sockets) < 0 ||
        rc_prom_family(out, "roomcast_rooms", "gauge", "Rooms with at least one member") < 0 ||
        rc_prom_u64(out, "roomcast_rooms", NULL, st.rooms) < 0)
        return -1;
    return 0;
}

static int render_counters(rc_buf *out, rc_buf *l, const gw_server *gw)
{
    const gw_counters *c = gw_server_counters(gw);
    const char *transports[GW_TR__COUNT], *reasons[GW_ERR__COUNT];
    for (int t = 0; t < GW_TR__COUNT; t++)
        transports[t] = gw_server_transport_name((enum gw_transport)t);
    for (int e = 0; e < GW_ERR__COUNT; e++)
        reasons[e] = gw_server_client_error_name((enum gw_client_error)e);
    static const char *const outcomes[GW_DELIVERY__COUNT] = {
        [GW_DELIVERY_WRITTEN] = "written",
        [GW_DELIVERY_DROPPED] = "dropped",
    };
    if (rc_prom_counters(out, "roomcast_handshakes_total",
                         "Engine.IO sessions opened, by first transport", "transport", transports,
                         c->handshakes, GW_TR__COUNT) < 0 ||
        rc_prom_family(out, "roomcast_transport_upgrades_total", "counter",
                       "Sessions upgraded from long-polling to WebSocket") < 0 ||
        rc_prom_u64(out, "roomcast_transport_upgrades_total", NULL, rc_counter_get(&c->upgrades)) <
            0 ||
        rc_prom_counters(out, "roomcast_deliveries_total",
                         "Event frames due to sockets by broadcasts, by outcome: written to the "
                         "socket, or dropped (queue full, connection closed or failed)",
                         "outcome", outcomes, c->deliveries, GW_DELIVERY__COUNT) < 0 ||
        rc_prom_family(out, "roomcast_delivery_latency_seconds", "histogram",
                       "From the Kafka record's timestamp to its event frame written to a "
                       "client") < 0 ||
        rc_prom_histogram(out, "roomcast_delivery_latency_seconds", NULL, &c->delivery_latency) <
            0 ||
        rc_prom_family(out, "roomcast_slow_disconnects_total", "counter",
                       "Connections closed because their queue was full") < 0 ||
        rc_prom_u64(out, "roomcast_slow_disconnects_total", NULL,
                    rc_counter_get(&c->slow_disconnects)) < 0 ||
        rc_prom_family(out, "roomcast_rate_limited_clients_total", "counter",
                       "Sockets that had a client event refused by the rate limit (each "
                       "counted once)") < 0 ||
        rc_prom_u64(out, "roomcast_rate_limited_clients_total", NULL,
                    rc_counter_get(&c->rate_limited_sockets)) < 0)
        return -1;

    /* One family: the server's reasons, then the application's. */
    if (rc_prom_family(out, "roomcast_client_errors_total", "counter",
                       "Client input refused: malformed or oversized packets, protocol "
                       "violations, limits, rejected client events, by reason") < 0)
        return -1;
    for (int e = 0; e < GW_ERR__COUNT; e++) {
        rc_buf_reset(l);
        if (rc_prom_label(l, "reason", reasons[e]) < 0 ||
            rc_prom_u64(out, "roomcast_client_errors_total", l->p,
                        rc_counter_get(&c->client_errors[e])) < 0)
            return -1;
    }
    for (int e = 0; e < RC_M_ERR__COUNT; e++) {
        rc_buf_reset(l);
        if (rc_prom_label(l, "reason",
                          rc_metrics_client_error_name((enum rc_metrics_client_error)e)) < 0 ||
            rc_prom_u64(out, "roomcast_client_errors_total", l->p,
                        rc_counter_get(&rc_metrics.client_errors[e])) < 0)
            return -1;
    }
    return 0;
}

int rc_scrape_render(rc_buf *out, const gw_server *gw, int ready)
{
    rc_buf l = {0};
    int rc = rc_metrics_render(out) < 0 || render_gauges(out, &l, gw) < 0 ||
                     render_counters(out, &l, gw) < 0 ||
                     rc_prom_family(out, "roomcast_ready", "gauge",
                                    "1 when /readyz answers 200 (consumer running, history "
                                    "reachable, not stopping), else 0") < 0 ||
                     rc_prom_u64(out, "roomcast_ready", NULL, ready ? 1 : 0) < 0
                 ? -1
                 : 0;
    rc_buf_free(&l);
    return rc;
}
