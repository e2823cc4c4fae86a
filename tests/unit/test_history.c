/*
 * test_history.c - the in-memory history: the cases every backend shares
 * (history_cases.h: offsets and dedupe, replay by offset and by time, TTL
 * and idle rooms, asynchronous replays, sessions), then what is the memory
 * backend's own: a synchronous in-process bus that never reports a gap, an
 * epoch known at once, many rooms, no stored memberships.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/history.h"
#include "tests/unit/check.h"
#include "tests/unit/history_helpers.h"
#include "tests/unit/history_cases.h"

static int64_t opened_ms; /* just before the last open: <= its start */

static rc_history *open_memory(int max_per_room, int ttl_s, struct sink *s)
{
    char err[128] = "x";
    opened_ms = rc_clock_wall_ms();
    return opened(rc_history_new_memory(max_per_room, ttl_s, err, sizeof err), err, s);
}

static int64_t memory_start(rc_history *h)
{
    (void)h;
    return opened_ms;
}

static void memory_probe(rc_history *h, const char *point)
{
    if (!strcmp(point, "new store")) {
        CHECK_STR(rc_history_backend(h), "memory");
        CHECK_INT(rc_history_durable(h), 0);
        CHECK_INT(strlen(rc_history_epoch(h)), 16); /* random per process, at once */
        CHECK_INT(rc_history_ready(h), 1);
    }
}

static const struct backend memory = {open_memory, memory_start, memory_probe};

/* The subscriber runs on the appending thread, before append returns. */
static void test_sync_bus(void)
{
    struct sink s;
    sink_init(&s);
    rc_history *h = open_memory(10, 60, &s);
    CHECK_INT(append(h, "a", "program:p1", NULL, 0, NULL), 1);
    CHECK_INT(s.n, 1);
    CHECK_INT(append(h, "t", "program:p1", NULL, 1, NULL), 1);
    CHECK_INT(s.n, 2);
    CHECK_INT(atomic_load(&s.gaps), 0); /* an in-process bus never misses */
    rc_history_destroy(h);
    sink_free(&s);
}

static void test_offset_parse(void)
{
    char ep[32];
    uint64_t seq;
    CHECK_INT(rc_offset_parse("0123456789abcdef-2", ep, sizeof ep, &seq), 0);
    CHECK_STR(ep, "0123456789abcdef");
    CHECK_INT(seq, 2);
    CHECK(rc_offset_parse("nodash", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-12x", ep, sizeof ep, &seq) < 0);
    CHECK(rc_offset_parse("abc-99999999999999999999999", ep, sizeof ep, &seq) < 0);
}

static void test_many(void)
{
    char id[32];
    rc_history *h = open_memory(1000, 60, NULL);
    for (int i = 0; i < 20000; i++) {
        char room[32];
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(room, sizeof room, "user:%d", i % 500);
        CHECK_INT(append(h, id, room, "program:all", 0, NULL), 1);
    }
    CHECK_INT(append(h, "id-19999", "program:all", NULL, 0, NULL), 0);
    rc_history_destroy(h);
}

/* The memory history keeps no memberships: a single node rebuilds them
 * from the membership topic. Member events are stored like any other. */
static void test_members(void)
{
    struct {
        const char *id;
        enum rc_member_op op;
        const char *u, *p;
        int rc;
    } m[] = {
        {"m1", RC_MEMBER_ADD, "u1", "p1", 1}, {"m2", RC_MEMBER_REMOVE, "u1", "p1", 1},
        {"m3", RC_MEMBER_ADD, "u2", "p1", 1}, {"m3", RC_MEMBER_ADD, "u2", "p1", 0},
    };
    rc_history *h = open_memory(10, 60, NULL);
    npairs = 0;
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), 0);
    CHECK_INT(npairs, 0);
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        rc_event *ev = member_ev(m[i].id, m[i].op, m[i].u, m[i].p);
        CHECK_INT(rc_history_append(h, ev), m[i].rc);
        rc_event_unref(ev);
    }
    CHECK_INT(rc_history_memberships(h, on_pair, NULL), 0);
    CHECK_INT(npairs, 0);
    CHECK(!has_pair("u2:p1"));
    rc_history_destroy(h);
}

int main(void)
{
    run_history_cases(&memory);
    test_sync_bus();
    test_offset_parse();
    test_many();
    test_members();
    return CHECK_DONE();
}
