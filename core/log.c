/*
 * log.c - JSON-lines logger.
 *
 * The line is built in a stack buffer and written with a single write(2), so
 * lines from different threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "iso8601.h"

int rc_log_min_level = RC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int rc_log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            rc_log_min_level = i;
            return 0;
        }
    }
    return -1;
}

static size_t escape_into(char *o, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            o[n++] = '\\';
            o[n++] = (char)c;
        } else if (c == '\n') {
            o[n++] = '\\';
            o[n++] = 'n';
        } else if (c < 0x20) {
            o[n++] = '\\'; o[n++] = 'u'; o[n++] = '0'; o[n++] = '0';
            o[n++] = hex[c >> 4]; o[n++] = hex[c & 15];
        } else {
            o[n++] = (char)c;
        }
    }
    return n;
}

void rc_log_write(int level, const char *facility, const char *fmt, ...)
{
    char msg[2048], line[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char ts[RC_ISO8601_LEN + 1];
    if (rc_iso8601_format_ms(rc_clock_wall_ms(), ts) < 0)
        ts[0] = '\0'; /* a clock set beyond year 9999 */
    if (level < 0 || level > 3)
        level = RC_LOG_ERROR;
    int n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"mod\":\"%s\",\"msg\":\"",
                     ts, level_names[level], facility);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    size_t len = (size_t)n;
    len += escape_into(line + len, sizeof line - len - 3, msg);
    line[len++] = '"';
    line[len++] = '}';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
