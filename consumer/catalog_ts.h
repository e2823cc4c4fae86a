/*
 * catalog_ts.h - the catalog's events as TypeScript declarations, for
 * client apps: what build/roomcast-catalog-ts prints and
 * schemas/roomcast-events.d.ts holds.
 */
#ifndef RC_CATALOG_TS_H
#define RC_CATALOG_TS_H

#include "core/slice.h"
#include "catalog.h"

/*
 * Appends TypeScript declarations to out: one interface per event payload
 * (data typed from the Avro fields, `| null` where a field is nullable,
 * optional top-level ids), RoomcastEvent (their union), RoomcastEventMap
 * (name -> payload), ServerToClientEvents and ClientToServerEvents for
 * socket.io-client's typed Socket, plus the catalog's "typescript"
 * declarations. The same catalog always yields the same text. Returns 0 or
 * -1 (out of memory).
 */
int rc_catalog_typescript(const rc_catalog *cat, rc_buf *out);

#endif
