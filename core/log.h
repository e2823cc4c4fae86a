/*
 * log.h - the one logging macro: JSON lines on stderr.
 *
 * Every line is a JSON object {"ts","level","mod","msg"} so that log
 * shippers need no parsing rules. Modules pass a short facility name
 * ("consumer", "gateway", ...) and refer to things by id (sid, topic/
 * partition/offset), never by pointer. Tokens and payloads are never logged.
 * Safe to call from any thread.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

enum rc_log_level { RC_LOG_DEBUG = 0, RC_LOG_INFO, RC_LOG_WARN, RC_LOG_ERROR };

extern int rc_log_min_level;

/* Parses "debug" | "info" | "warn" | "error"; returns 0 or -1. */
int rc_log_set_level(const char *name);

void rc_log_write(int level, const char *facility, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define RC_LOG(level, facility, ...)                                          \
    do {                                                                      \
        if ((level) >= rc_log_min_level)                                      \
            rc_log_write((level), (facility), __VA_ARGS__);                   \
    } while (0)

#define LOG_DEBUG(fac, ...) RC_LOG(RC_LOG_DEBUG, fac, __VA_ARGS__)
#define LOG_INFO(fac, ...) RC_LOG(RC_LOG_INFO, fac, __VA_ARGS__)
#define LOG_WARN(fac, ...) RC_LOG(RC_LOG_WARN, fac, __VA_ARGS__)
#define LOG_ERROR(fac, ...) RC_LOG(RC_LOG_ERROR, fac, __VA_ARGS__)

#endif
