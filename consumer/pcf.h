/*
 * pcf.h - Avro Parsing Canonical Form and the CRC-64-AVRO fingerprint.
 *
 * The Avro specification defines a canonical text for every schema (the
 * Parsing Canonical Form: full names, only the attributes that matter for
 * reading data, a fixed attribute order, no whitespace) and a 64-bit Rabin
 * fingerprint of that text (CRC-64-AVRO). Single-object encoded records carry
 * the writer schema's fingerprint; the codec uses this module to compute the
 * fingerprint of every schema it knows, since avro-c has neither. The same
 * walk also reports each named type a schema defines, with its full name, so
 * callers can find attributes that avro-c drops (field defaults).
 *
 * Pure functions; safe from any thread.
 */
#ifndef RC_PCF_H
#define RC_PCF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The fingerprint of the empty input, also the polynomial of CRC-64-AVRO. */
#define RC_PCF_CRC64_EMPTY 0xc15d213aa4d7a795ULL

/*
 * Parsing Canonical Form of the schema in json[0..len) (any JSON value: a
 * type name, an object or a union array). Returns a NUL-terminated string
 * owned by the caller (free()), or NULL with a one-line reason in err (bad
 * JSON, unknown type name, invalid name, missing attribute...).
 */
char *rc_pcf_canonical(const char *json, size_t len, char *err, size_t errlen);

/* The same for an already parsed schema (borrowed). */
char *rc_pcf_canonical_json(const json_t *schema, char *err, size_t errlen);

/* CRC-64-AVRO of p[0..len): RC_PCF_CRC64_EMPTY for an empty input. */
uint64_t rc_pcf_crc64(const void *p, size_t len);

/*
 * Fingerprint of a schema: CRC-64-AVRO of its Parsing Canonical Form.
 * Returns 0 and sets *out, or -1 with err.
 */
int rc_pcf_fingerprint(const char *json, size_t len, uint64_t *out, char *err,
                    size_t errlen);
int rc_pcf_fingerprint_json(const json_t *schema, uint64_t *out, char *err,
                         size_t errlen);

/*
 * Calls cb once for every named type (record, error, enum, fixed) that the
 * schema defines, in document order, with its full name and its JSON
 * definition (both borrowed for the duration of the call). A non-zero return
 * from cb stops the walk and is returned. Returns 0, cb's value, or -1 with
 * err when the schema is invalid.
 */
typedef int (*pcf_named_cb)(void *ud, const char *fullname,
                            const json_t *definition);
int rc_pcf_named_types(const json_t *schema, pcf_named_cb cb, void *ud,
                    char *err, size_t errlen);

#endif
