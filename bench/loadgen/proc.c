/*
 * proc.c - what the load generator reads of processes and CPUs: a
 * process's CPU time and RSS from /proc/<pid>, a CPU's busy time from
 * /proc/stat, and its own CPU time. Each call reads the files afresh; the
 * modes take differences at the edges of their windows.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loadgen.h"

double lg_proc_cpu_s(int pid)
{
    char path[64], buf[4096];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p += 2; /* field 3, the state */
    unsigned long long ut = 0, st = 0;
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 14)
            ut = strtoull(tok, NULL, 10);
        else if (field == 15) {
            st = strtoull(tok, NULL, 10);
            break;
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long lg_proc_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* user+nice+system+irq+softirq seconds of one CPU in /proc/stat: what ran
 * there, in any process. A task's stime may include softirq work done in
 * its context, hence irq and softirq here too; the difference with the
 * server's own CPU time is therefore approximate. */
double lg_cpu_busy_s(int cpu)
{
    char line[512], name[16];
    double r = -1;
    if (cpu < 0)
        return -1;
    snprintf(name, sizeof name, "cpu%d ", cpu);
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, strlen(name))) {
            unsigned long long u = 0, n = 0, sy = 0, id = 0, io = 0, irq = 0, sirq = 0;
            if (sscanf(line + strlen(name), "%llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy, &id,
                       &io, &irq, &sirq) == 7)
                r = (double)(u + n + sy + irq + sirq) / (double)sysconf(_SC_CLK_TCK);
            break;
        }
    fclose(f);
    return r;
}

double lg_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}
