/*
 * file.h - reading a whole (small) file.
 *
 * For the files read once at start or on reload: the catalog and the Avro
 * schemas, PEM keys, JWKS. A size limit keeps a wrong path (a device, a
 * huge log) from being read into memory.
 */
#ifndef RC_FILE_H
#define RC_FILE_H

#include <stddef.h>

/*
 * Reads the file at path whole. Returns its content, NUL-terminated, in a
 * malloc'ed buffer transferred to the caller, with its length (the NUL not
 * counted) in *len; an empty file gives "" and 0. A file of more than max
 * bytes is refused. On failure returns NULL with errno set (the open or
 * read error, EFBIG when too large, ENOMEM) and errstr filled with one line
 * that names the file: what (may be NULL) says what it is for, as in
 * "cannot open JWKS file /etc/keys.json: No such file or directory".
 */
char *rc_file_read(const char *path, const char *what, size_t max, size_t *len,
                   char *errstr, size_t errlen);

#endif
