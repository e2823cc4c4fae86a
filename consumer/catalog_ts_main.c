/*
 * catalog_ts_main.c - roomcast-catalog-ts: prints the TypeScript
 * declarations of the catalog's events on stdout.
 *
 *   build/roomcast-catalog-ts [--schemas-dir DIR] > schemas/roomcast-events.d.ts
 *
 * A build-time tool: the docs.typescript test compares its output with the
 * committed schemas/roomcast-events.d.ts.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "catalog.h"
#include "catalog_ts.h"

#define PROG "roomcast-catalog-ts"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [--schemas-dir DIR]\n"
            "Prints the TypeScript declarations of the events of DIR/catalog.json\n"
            "(default %s).\n",
            RC_DEFAULT_SCHEMAS_DIR);
}

int main(int argc, char **argv)
{
    const char *dir = RC_DEFAULT_SCHEMAS_DIR;
    char err[512] = "";
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--schemas-dir")) {
        dir = argv[2];
    } else if (argc != 1) {
        usage(stderr);
        return 2;
    }
    rc_log_set_level("warn"); /* stdout is the file; stderr only for trouble */
    rc_catalog *cat = rc_catalog_new(dir, NULL, err, sizeof err);
    if (!cat) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    rc_buf ts = {0};
    int rc = rc_catalog_typescript(cat, &ts);
    rc_catalog_destroy(cat);
    if (rc < 0 || fwrite(ts.p, 1, ts.len, stdout) != ts.len || fflush(stdout) != 0) {
        fprintf(stderr, PROG ": %s\n", rc < 0 ? "out of memory" : "cannot write");
        rc_buf_free(&ts);
        return 1;
    }
    rc_buf_free(&ts);
    return 0;
}
