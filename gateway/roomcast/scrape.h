/*
 * scrape.h - the /metrics page: roomcast's families (core/metrics.h), the
 * server library's counters and gauges under roomcast's names, and
 * roomcast_ready.
 *
 * The server library counts in its own terms (gw_counters, gw_stats:
 * transports, deliveries, its reasons for refusing input); this is where
 * they become roomcast_* families, the library's client error reasons and
 * the application's in one family.
 */
#ifndef RC_SCRAPE_H
#define RC_SCRAPE_H

#include "core/slice.h"
#include "gateway/server/server.h"

/* Appends the page to out; ready is what /readyz would answer (1: 200).
 * Loop thread. 0, or -1 when out of memory. */
int rc_scrape_render(rc_buf *out, const gw_server *gw, int ready);

#endif
