/*
 * json_check.h - is this text a JSON object? Answered without building it.
 *
 * For text that is passed on as it is and only has to be known good: the
 * payload of an event read back from the Redis history goes to clients
 * byte for byte, so the bus checks that it is a JSON object, and nothing
 * of it is needed in memory. RFC 8259 grammar, strictly: no comments, no
 * trailing commas, no leading zeros, no bare control characters in
 * strings, only the escapes the RFC lists; and, as jansson (which wrote the
 * text) refuses them, no \u0000 and no unpaired surrogate escapes. The
 * whole text is strict UTF-8 (core/utf8.h). Nesting deeper than
 * RC_JSON_CHECK_DEPTH is refused. Pure: any thread.
 */
#ifndef RC_JSON_CHECK_H
#define RC_JSON_CHECK_H

#include <stddef.h>

#define RC_JSON_CHECK_DEPTH 512

/* 1 when p[0..len) (borrowed; NULL only with len 0) is one JSON object,
 * with white space around it at most, else 0. */
int rc_json_check_object(const char *p, size_t len);

#endif
