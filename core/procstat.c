/*
 * procstat.c - process_* from /proc/self/stat, /proc/self/fd,
 * getrlimit() and /proc/stat.
 *
 * Implementation notes. /proc/self/stat's second field is the command in
 * parentheses and may itself hold spaces and parentheses, so the fields
 * are counted from the last ')'. utime and stime (fields 14, 15) and
 * starttime (22) are in clock ticks, starttime since boot: the start time
 * adds the boot time (btime of /proc/stat, read once). rss (24) is in
 * pages. A file that cannot be read leaves the families out rather than
 * exporting a wrong value.
 */
#include "procstat.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "prom.h"

/* Reads a small procfs file into buf (NUL-terminated). Bytes read or -1. */
static long read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* The boot time in seconds since the epoch, read once; -1 unknown. */
static long long boot_time_s(void)
{
    static atomic_llong cached = -1;
    long long t = atomic_load(&cached);
    if (t >= 0)
        return t;
    /* Line by line: the intr line before it can be many kilobytes. */
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0 && strncmp(line, "btime ", 6) != 0)
        ;
    t = line && strncmp(line, "btime ", 6) == 0 ? strtoll(line + 6, NULL, 10) : -1;
    free(line);
    fclose(f);
    if (t < 0)
        return -1;
    atomic_store(&cached, t);
    return t;
}

static int64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor opendir() itself holds */
}

int rc_procstat_read(rc_procstat *out)
{
    char buf[1024];
    if (read_small("/proc/self/stat", buf, sizeof buf) <= 0)
        return -1;
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    /* f[k] is field k as proc(5) numbers them, from 4 on (3 is the state,
     * one character); some are negative (priority, nice): strtoull takes
     * them, and they are not used. */
    unsigned long long f[25] = {0};
    char *end;
    p += 3;
    for (int k = 4; k <= 24; k++) {
        f[k] = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    long long btime = boot_time_s();
    if (ticks <= 0 || page <= 0 || btime < 0)
        return -1;
    /* utime 14, stime 15, starttime 22, vsize 23, rss 24. */
    out->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
    out->start_time_s = (double)btime + (double)f[22] / (double)ticks;
    out->virtual_bytes = (int64_t)f[23];
    out->resident_bytes = (int64_t)f[24] * page;
    out->open_fds = count_fds();
    struct rlimit rl;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (int64_t)rl.rlim_cur
                       : -1;
    return 0;
}

int rc_procstat_render(rc_buf *out)
{
    rc_procstat st;
    if (rc_procstat_read(&st) < 0)
        return 0;
    if (rc_prom_family(out, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.") < 0 ||
        rc_prom_f64(out, "process_cpu_seconds_total", NULL, st.cpu_seconds) < 0 ||
        rc_prom_family(out, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.") < 0 ||
        rc_prom_i64(out, "process_resident_memory_bytes", NULL, st.resident_bytes) < 0 ||
        rc_prom_family(out, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes.") < 0 ||
        rc_prom_i64(out, "process_virtual_memory_bytes", NULL, st.virtual_bytes) < 0 ||
        rc_prom_family(out, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.") < 0 ||
        rc_prom_f64(out, "process_start_time_seconds", NULL, st.start_time_s) < 0)
        return -1;
    if (st.open_fds >= 0 &&
        (rc_prom_family(out, "process_open_fds", "gauge", "Number of open file descriptors.") < 0 ||
         rc_prom_i64(out, "process_open_fds", NULL, st.open_fds) < 0))
        return -1;
    if (st.max_fds >= 0 && (rc_prom_family(out, "process_max_fds", "gauge",
                                           "Maximum number of open file descriptors.") < 0 ||
                            rc_prom_i64(out, "process_max_fds", NULL, st.max_fds) < 0))
        return -1;
    return 0;
}
