/*
 * catalog.h - the event catalog: which record and action becomes which
 * Socket.IO event, in which rooms, with which payload.
 *
 * schemas/catalog.json is the single source of truth; this module only
 * interprets it, so a new event family needs a schema and a catalog entry,
 * no C code. Payload shape (first argument of every event):
 *   {"eventId","event","programId"?,"requestId"?,"data":{...},
 *    "performedBy"?:{"userId","name"},"timestamp":"<ISO-8601 UTC ms>"}
 * Top-level ids whose value is null or absent are omitted; null values
 * inside data are JSON null.
 *
 * Read-only after construction: safe to share between threads.
 */
#ifndef RC_CATALOG_H
#define RC_CATALOG_H

#include <avro.h>
#include <stddef.h>

#include "../core/event.h"

typedef struct rc_catalog rc_catalog;

/*
 * Loads schemas_dir/catalog.json. topic_overrides is "Record=topic,..." (may
 * be NULL or ""), Record being the short or full record name. NULL with
 * errstr set on any inconsistency (unknown record, bad room template...).
 */
rc_catalog *rc_catalog_new(const char *schemas_dir, const char *topic_overrides,
                           char *errstr, size_t errlen);
void rc_catalog_destroy(rc_catalog *cat);

/* Records in catalog order: full name and the topic it is consumed from. */
size_t rc_catalog_count(const rc_catalog *cat);
const char *rc_catalog_record(const rc_catalog *cat, size_t i);
const char *rc_catalog_topic(const rc_catalog *cat, size_t i);

/* Full record name consumed from topic, or NULL. */
const char *rc_catalog_record_for_topic(const rc_catalog *cat, const char *topic);

/*
 * Maps a decoded value of record (reader schema, see codec.h) to a new event
 * with one reference transferred to the caller: id, name, rooms, payload,
 * transient flag, membership side effect, occurred_ms. Returns 0, or -1 with
 * a one-line reason in err (unknown action, required field null...).
 */
int rc_catalog_map(const rc_catalog *cat, const char *record,
                   avro_value_t *value, rc_event **out, char *err,
                   size_t errlen);

#endif
