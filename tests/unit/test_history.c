/*
 * test_history.c - in-memory history: dedupe, offsets, per-room rings,
 * all-or-nothing replay, transient events, publish order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/history.h"
#include "tests/unit/check.h"

static rc_event *mk(const char *id, const char *r1, const char *r2, int transient)
{
    rc_event *ev = rc_event_new();
    ev->id = strdup(id);
    ev->name = strdup("request:created");
    ev->payload = strdup("{}");
    ev->payload_len = 2;
    ev->transient = transient;
    if (r1)
        rc_event_add_room(ev, r1);
    if (r2)
        rc_event_add_room(ev, r2);
    return ev;
}

static char published[64][64];
static int npublished;

static void on_event(void *ud, rc_event *ev)
{
    (void)ud;
    if (npublished < 64)
        snprintf(published[npublished++], 64, "%s@%s", ev->id, ev->offset);
}

static int append(rc_history *h, const char *id, const char *r1, const char *r2,
                  int transient, char *offset_out)
{
    rc_event *ev = mk(id, r1, r2, transient);
    int rc = rc_history_append(h, ev);
    if (offset_out)
        strcpy(offset_out, ev->offset);
    rc_event_unref(ev);
    return rc;
}

static void test_offsets_and_dedupe(void)
{
    char err[128], o1[RC_OFFSET_MAX], o2[RC_OFFSET_MAX], o3[RC_OFFSET_MAX];
    rc_history *h = rc_history_new_memory(10, 60, err, sizeof err);
    CHECK(h != NULL);
    npublished = 0;
    rc_history_subscribe(h, on_event, NULL);
    const char *epoch = rc_history_epoch(h);
    CHECK(strlen(epoch) == 16);

    CHECK_INT(append(h, "a", "program:p1", NULL, 0, o1), 1);
    CHECK_INT(append(h, "b", "program:p1", "user:u1", 0, o2), 1);
    CHECK_INT(append(h, "a", "program:p1", NULL, 0, NULL), 0); /* duplicate */
    CHECK_INT(append(h, "t", "user:u1", NULL, 1, o3), 1);      /* transient */
    char want[64];
    snprintf(want, sizeof want, "%s-1", epoch);
    CHECK_STR(o1, want);
    snprintf(want, sizeof want, "%s-2", epoch);
    CHECK_STR(o2, want);
    CHECK_STR(o3, "");
    CHECK_INT(npublished, 3); /* the duplicate is not published */
    snprintf(want, sizeof want, "a@%s-1", epoch);
    CHECK_STR(published[0], want);
    CHECK_STR(published[2], "t@");

    char ep[32];
    uint64_t seq;
    CHECK_INT(rc_offset_parse(o2, ep, sizeof ep, &seq), 0);
    CHECK_STR(ep, epoch);
    CHECK_INT(seq, 2);
    CHECK(rc_offset_parse("nodash", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-12x", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-99999999999999999999999", ep, sizeof ep, &seq) < 0);
    rc_history_destroy(h);
}

static void test_replay(void)
{
    char err[128], o[8][RC_OFFSET_MAX], base[RC_OFFSET_MAX];
    rc_history *h = rc_history_new_memory(3, 60, err, sizeof err);
    rc_event **evs;
    size_t n;
    const char *rooms[] = {"program:p1", "user:u1"};

    snprintf(base, sizeof base, "%s-0", rc_history_epoch(h));
    append(h, "e1", "program:p1", NULL, 0, o[1]);
    append(h, "e2", "program:p2", NULL, 0, o[2]);
    append(h, "e3", "program:p1", "user:u1", 0, o[3]);
    append(h, "e4", "user:u1", NULL, 1, o[4]); /* transient: never replayed */
    append(h, "e5", "user:u1", NULL, 0, o[5]);

    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 3); /* e1, e3 once though in both rooms, e5 */
    if (n == 3) {
        CHECK_STR(evs[0]->id, "e1");
        CHECK_STR(evs[1]->id, "e3");
        CHECK_STR(evs[2]->id, "e5");
    }
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    CHECK_INT(rc_history_replay(h, rooms, 2, o[3], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(evs[0]->id, "e5");
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    /* Nothing missed: empty but OK. */
    CHECK_INT(rc_history_replay(h, rooms, 2, o[5], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 0);

    /* p1 keeps 3: after two more, e1 is lost; a replay from before it is a gap. */
    append(h, "e6", "program:p1", NULL, 0, o[6]);
    append(h, "e7", "program:p1", NULL, 0, o[7]);
    CHECK_INT(rc_history_replay(h, rooms, 2, base, &evs, &n), RC_REPLAY_GAP);
    CHECK(evs == NULL && n == 0);
    CHECK_INT(rc_history_replay(h, rooms, 2, o[1], &evs, &n), RC_REPLAY_OK);
    CHECK_INT(n, 4); /* e3 e5 e6 e7 */
    for (size_t i = 0; i < n; i++)
        rc_event_unref(evs[i]);
    free(evs);

    /* Another epoch, malformed, from the future. */
    CHECK_INT(rc_history_replay(h, rooms, 2, "0000000000000000-1", &evs, &n), RC_REPLAY_EPOCH);
    CHECK_INT(rc_history_replay(h, rooms, 2, "garbage", &evs, &n), RC_REPLAY_INVALID);
    char future[64];
    snprintf(future, sizeof future, "%s-999", rc_history_epoch(h));
    CHECK_INT(rc_history_replay(h, rooms, 2, future, &evs, &n), RC_REPLAY_INVALID);
    rc_history_destroy(h);
}

static void test_many(void)
{
    char err[128], id[32];
    rc_history *h = rc_history_new_memory(1000, 60, err, sizeof err);
    for (int i = 0; i < 20000; i++) {
        char room[32];
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(room, sizeof room, "user:%d", i % 500);
        CHECK_INT(append(h, id, room, "program:all", 0, NULL), 1);
    }
    CHECK_INT(append(h, "id-19999", "program:all", NULL, 0, NULL), 0);
    rc_history_destroy(h);
}

int main(void)
{
    test_offsets_and_dedupe();
    test_replay();
    test_many();
    return CHECK_DONE();
}
