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

#include "core/event.h"
#include "core/slice.h"

typedef struct rc_catalog rc_catalog;

/*
 * Loads schemas_dir/catalog.json and the record schemas it names, and checks
 * one against the other (format: docs/events.md). topic_overrides is
 * "Record=topic,..." (may be NULL or ""), Record being the short or full
 * record name. NULL with errstr set on any inconsistency, naming the record,
 * event and field (unknown field or enum symbol, bad room template, two
 * records on one topic...).
 */
rc_catalog *rc_catalog_new(const char *schemas_dir, const char *topic_overrides,
                           char *errstr, size_t errlen);
void rc_catalog_destroy(rc_catalog *cat);

/* Records in catalog order: full name and the topic it is consumed from. */
size_t rc_catalog_count(const rc_catalog *cat);
const char *rc_catalog_record(const rc_catalog *cat, size_t i);
const char *rc_catalog_topic(const rc_catalog *cat, size_t i);

/* Every event of every record, in catalog order: how many, and the name
 * of the i-th ("request:created"); NULL beyond. */
size_t rc_catalog_event_count(const rc_catalog *cat);
const char *rc_catalog_event_name(const rc_catalog *cat, size_t i);

/* 1 if some event of record i joins or removes members (member:*). */
int rc_catalog_has_membership(const rc_catalog *cat, size_t i);

/* Full record name consumed from topic, or NULL. */
const char *rc_catalog_record_for_topic(const rc_catalog *cat, const char *topic);

/*
 * Whether records of record (short or full name) belong on topic: 0 when
 * the catalog consumes topic as that record, or does not consume topic at
 * all; -1 with errstr naming the record the topic carries and the topic of
 * record, when roomcast would dead-letter them.
 */
int rc_catalog_check_topic(const rc_catalog *cat, const char *topic, const char *record,
                           char *errstr, size_t errlen);

/*
 * Maps a decoded value of record (reader schema, see codec.h; borrowed, only
 * read) to a new event with one reference transferred to the caller: id,
 * name, rooms, payload, transient flag, membership side effect, occurred_ms.
 * record is the full or short name; the pointer returned by
 * rc_catalog_record() or rc_catalog_record_for_topic() is found fastest.
 * Returns 0, or -1 with a one-line reason in err (unknown action, value not
 * of the catalog's schema, empty event id, text not UTF-8, no room...).
 * Thread-safe.
 */
int rc_catalog_map(const rc_catalog *cat, const char *record,
                   avro_value_t *value, rc_event **out, char *err,
                   size_t errlen);

#endif
