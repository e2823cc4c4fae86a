/*
 * procstat.h - the process_* metrics every Prometheus client exports,
 * read from /proc/self when a scrape asks: CPU time, resident and virtual
 * memory, open and maximum file descriptors, start time.
 *
 * Linux only. The reads are of procfs (memory, never a disk), cheap enough
 * for the gateway loop that serves /metrics; counting the descriptors
 * walks /proc/self/fd, one entry per open connection. Any thread.
 */
#ifndef RC_PROCSTAT_H
#define RC_PROCSTAT_H

#include <stdint.h>

#include "slice.h"

typedef struct rc_procstat {
    double cpu_seconds;     /* user + system CPU time */
    int64_t resident_bytes; /* resident set size */
    int64_t virtual_bytes;  /* virtual memory size */
    int64_t open_fds;       /* entries of /proc/self/fd, -1 unknown */
    int64_t max_fds;        /* RLIMIT_NOFILE's soft limit, -1 unlimited */
    double start_time_s;    /* since the epoch */
} rc_procstat;

/* Reads the figures now. 0, or -1 when /proc/self/stat cannot be read or
 * parsed (then nothing is filled). */
int rc_procstat_read(rc_procstat *out);

/* Appends the process_* families; nothing when they cannot be read. 0 or
 * -1 when out of memory. */
int rc_procstat_render(rc_buf *out);

#endif
