/*
 * rebuild.h - the membership table rebuilt from Kafka at start.
 *
 * Without Redis, memberships live in memory and die with the process. The
 * membership topic(s) (records of the catalog with member:* events) are the
 * table's changelog: at start, before serving, every partition is read from
 * its beginning to its high watermark, and each member:added / member:removed
 * is replayed in order. Offsets are neither read from nor committed to the
 * consumer group.
 */
#ifndef RC_REBUILD_H
#define RC_REBUILD_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/event.h"
#include "catalog.h"
#include "kafka_conf.h"
#include "registry.h"

/* Called for each membership change, in partition order; return 0 to go on. */
typedef int (*rc_rebuild_cb)(void *ud, enum rc_member_op op, const char *user,
                             const char *program);

typedef struct rc_rebuild_opts {
    /* the schemas directory the reader's codec loads (borrowed) */
    const char *schemas_dir;
    /* brokers and pass-through properties (borrowed); the reader joins no
     * group, so the group id is not used */
    rc_kafka_opts kafka;
    /* the whole rebuild, metadata and reading included, in ms */
    int timeout_ms;
    /* read while waiting: once nonzero, the rebuild stops within about
     * 250 ms (borrowed; may be NULL) */
    const atomic_int *stop;
    /* the Schema Registry for schema ids the local id map lacks, or NULL
     * (borrowed); while it is unavailable the rebuild waits for it (within
     * timeout_ms) */
    rc_registry *registry;
} rc_rebuild_opts;

/*
 * Reads the membership topics of cat (borrowed) within opts->timeout_ms.
 * Returns the number of changes replayed, or -1 with errstr set (brokers
 * unreachable, timeout, *opts->stop set). Undecodable records are skipped
 * with a warning (the live consumer sends them to the DLQ); so are records
 * whose schema id the registry does not have or whose schema it cannot
 * read.
 */
long rc_rebuild_memberships(const rc_rebuild_opts *opts, const rc_catalog *cat,
                            rc_rebuild_cb cb, void *ud, char *errstr,
                            size_t errlen);

#endif
