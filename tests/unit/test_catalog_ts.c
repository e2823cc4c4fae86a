/*
 * test_catalog_ts.c - the catalog's TypeScript declarations: the shapes of
 * a few payloads and of the Socket.IO event maps, one interface per event,
 * and the same bytes on every run. (That the committed
 * schemas/roomcast-events.d.ts is this text is the docs.typescript test.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "consumer/catalog.h"
#include "consumer/catalog_ts.h"

static void test_typescript(const rc_catalog *cat)
{
    rc_buf ts = {0};
    CHECK_INT(rc_catalog_typescript(cat, &ts), 0);
    if (!ts.p)
        return;

    /* a few shapes, so a wrong generator cannot pass by regeneration */
    static const char *const want[] = {
        "export interface RequestAssignedEvent {\n"
        "  eventId: string;\n"
        "  event: \"request:assigned\";\n"
        "  programId: string;\n"
        "  requestId: string;\n"
        "  data: {\n"
        "    assigneeId: string | null;\n"
        "    previousAssigneeId: string | null;\n"
        "  };\n"
        "  performedBy: {\n"
        "    userId: string;\n"
        "    name: string | null;\n"
        "  };\n",
        "    changedFields: string[] | null;\n",
        "    sizeBytes: number | null;\n",
        "export interface JobProgressEvent {\n"
        "  eventId: string;\n"
        "  event: \"job:progress\";\n"
        "  programId?: string;\n"
        "  data: {\n"
        "    jobId: string;\n"
        "    progress: number | null;\n"
        "    message: string | null;\n"
        "  };\n"
        "  /** occurred_at as ISO-8601 UTC with milliseconds */\n"
        "  timestamp: string;\n"
        "}\n",
        "  \"job:progress\": (payload: JobProgressEvent) => void;\n",
        "  \"request:created\": (payload: RequestCreatedEvent, offset?: string) "
        "=> void;\n",
        "  \"member:removed\": MemberRemovedEvent;\n",
        "  | AttachmentDeletedEvent\n",
        "export interface ClientToServerEvents {\n"
        "  \"join:program\": (programId: string, ack?: (response: RoomcastAck) "
        "=> void) => void;\n"
        "  \"leave:program\": (programId: string, ack?: (response: RoomcastAck) "
        "=> void) => void;\n"
        "  \"auth:refresh\": (payload: { token: string } | string, ack?: "
        "(response: AuthRefreshAck) => void) => void;\n}\n",
        "export type RoomcastAck = { ok: true } | { ok: false; error: { code: "
        "RoomcastErrorCode } };\n",
        "\"FORBIDDEN\" | \"INVALID_ARGUMENT\" | \"RATE_LIMITED\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(ts.p, want[i])) {
            check_failed++;
            fprintf(stderr, "generated TypeScript lacks:\n%s\n", want[i]);
        } else {
            check_passed++;
        }
    /* 14 payload interfaces, each once in the union */
    size_t n = 0;
    for (const char *p = ts.p; (p = strstr(p, "export interface ")); p++)
        n++;
    CHECK_INT(n, 14 + 5); /* + map, server, client, CatchupComplete, AuthExpired */
    /* stable: a second run yields the same bytes */
    rc_buf again = {0};
    CHECK_INT(rc_catalog_typescript(cat, &again), 0);
    CHECK(again.p && strcmp(again.p, ts.p) == 0);
    rc_buf_free(&again);

    rc_buf_free(&ts);
}

int main(void)
{
    char schemas_dir[4096], err[512] = "";
    const char *src = getenv("RC_SOURCE_DIR");
    if (src && *src)
        snprintf(schemas_dir, sizeof schemas_dir, "%s/schemas", src);
    else
        snprintf(schemas_dir, sizeof schemas_dir, "%s", RC_DEFAULT_SCHEMAS_DIR);
    rc_catalog *cat = rc_catalog_new(schemas_dir, NULL, err, sizeof err);
    CHECK(cat != NULL);
    if (!cat) {
        fprintf(stderr, "catalog: %s\n", err);
        return CHECK_DONE();
    }
    test_typescript(cat);
    rc_catalog_destroy(cat);
    return CHECK_DONE();
}
