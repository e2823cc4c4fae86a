/*
 * test_membership.c - the user -> programs table.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/roomcast/membership.h"
#include "tests/unit/check.h"

typedef struct progs {
    char list[8][32];
    size_t n;
} progs;

static void on_program(const char *program, void *ud)
{
    progs *p = ud;
    if (p->n < 8)
        snprintf(p->list[p->n], sizeof p->list[0], "%s", program);
    p->n++;
}

static int progs_has(const progs *p, const char *program)
{
    for (size_t i = 0; i < p->n && i < 8; i++)
        if (strcmp(p->list[i], program) == 0)
            return 1;
    return 0;
}

static void test_basic(void)
{
    rc_membership *m = rc_membership_new();
    CHECK(m != NULL);

    CHECK_INT(rc_membership_has(m, "alice", "p1"), 0);
    CHECK_INT(rc_membership_count(m, "alice"), 0);

    CHECK_INT(rc_membership_add(m, "alice", "p1"), 1);
    CHECK_INT(rc_membership_add(m, "alice", "p2"), 1);
    CHECK_INT(rc_membership_add(m, "alice", "p1"), 0); /* idempotent */
    CHECK_INT(rc_membership_add(m, "bob", "p2"), 1);
    CHECK_INT(rc_membership_count(m, "alice"), 2);
    CHECK_INT(rc_membership_count(m, "bob"), 1);
    CHECK_INT(rc_membership_count(m, "carol"), 0);
    CHECK_INT(rc_membership_has(m, "alice", "p1"), 1);
    CHECK_INT(rc_membership_has(m, "alice", "p2"), 1);
    CHECK_INT(rc_membership_has(m, "alice", "p3"), 0);
    CHECK_INT(rc_membership_has(m, "bob", "p1"), 0);
    CHECK_INT(rc_membership_has(m, "bob", "p2"), 1);
    CHECK_INT(rc_membership_has(m, "carol", "p2"), 0);
    /* Ids are compared whole. */
    CHECK_INT(rc_membership_has(m, "alic", "p1"), 0);
    CHECK_INT(rc_membership_has(m, "alice", "p"), 0);
    CHECK_INT(rc_membership_has(m, "alice", "p10"), 0);

    progs p = {0};
    rc_membership_foreach_program(m, "alice", on_program, &p);
    CHECK_INT(p.n, 2);
    CHECK(progs_has(&p, "p1"));
    CHECK(progs_has(&p, "p2"));
    p.n = 0;
    rc_membership_foreach_program(m, "carol", on_program, &p);
    CHECK_INT(p.n, 0);

    /* Removing what is not there changes nothing. */
    CHECK_INT(rc_membership_remove(m, "bob", "p1"), 0);
    CHECK_INT(rc_membership_remove(m, "carol", "p1"), 0);
    CHECK_INT(rc_membership_count(m, "bob"), 1);

    CHECK_INT(rc_membership_remove(m, "alice", "p1"), 1);
    CHECK_INT(rc_membership_remove(m, "alice", "p1"), 0);
    CHECK_INT(rc_membership_has(m, "alice", "p1"), 0);
    CHECK_INT(rc_membership_has(m, "alice", "p2"), 1);
    CHECK_INT(rc_membership_count(m, "alice"), 1);

    /* A user whose last program goes is gone, and can come back. */
    CHECK_INT(rc_membership_remove(m, "bob", "p2"), 1);
    CHECK_INT(rc_membership_count(m, "bob"), 0);
    CHECK_INT(rc_membership_has(m, "bob", "p2"), 0);
    CHECK_INT(rc_membership_add(m, "bob", "p1"), 1);
    CHECK_INT(rc_membership_has(m, "bob", "p1"), 1);

    /* Strings are copied. */
    char user[16], prog[16];
    snprintf(user, sizeof user, "dave");
    snprintf(prog, sizeof prog, "p9");
    CHECK_INT(rc_membership_add(m, user, prog), 1);
    snprintf(user, sizeof user, "erin");
    snprintf(prog, sizeof prog, "p8");
    CHECK_INT(rc_membership_has(m, "dave", "p9"), 1);
    CHECK_INT(rc_membership_has(m, "erin", "p8"), 0);

    rc_membership_destroy(m); /* with live entries: ASan checks the frees */
    rc_membership_destroy(NULL);
}

static void test_many(void)
{
    rc_membership *m = rc_membership_new();
    char user[32], prog[32];
    int fails = 0;
    /* 10,000 users in 5 programs each, out of 1,000 programs. */
    for (int u = 0; u < 10000; u++) {
        snprintf(user, sizeof user, "user-%d", u);
        for (int k = 0; k < 5; k++) {
            snprintf(prog, sizeof prog, "prog-%d", (u + k * 200) % 1000);
            fails += rc_membership_add(m, user, prog) != 1;
        }
    }
    CHECK_INT(fails, 0);
    int ok = 1;
    for (int u = 0; u < 10000; u++) {
        snprintf(user, sizeof user, "user-%d", u);
        if (rc_membership_count(m, user) != 5)
            ok = 0;
        snprintf(prog, sizeof prog, "prog-%d", (u + 400) % 1000);
        if (!rc_membership_has(m, user, prog))
            ok = 0;
        snprintf(prog, sizeof prog, "prog-%d", (u + 100) % 1000);
        if (rc_membership_has(m, user, prog))
            ok = 0;
    }
    CHECK(ok);

    /* One user in many programs. */
    for (int k = 0; k < 5000; k++) {
        snprintf(prog, sizeof prog, "big-%d", k);
        fails += rc_membership_add(m, "busy", prog) != 1;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(rc_membership_count(m, "busy"), 5000);
    progs p = {0};
    rc_membership_foreach_program(m, "busy", on_program, &p);
    CHECK_INT(p.n, 5000);
    for (int k = 0; k < 5000; k += 2) {
        snprintf(prog, sizeof prog, "big-%d", k);
        fails += rc_membership_remove(m, "busy", prog) != 1;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(rc_membership_count(m, "busy"), 2500);
    CHECK_INT(rc_membership_has(m, "busy", "big-4999"), 1);
    CHECK_INT(rc_membership_has(m, "busy", "big-4998"), 0);

    /* Drain half the users completely. */
    for (int u = 0; u < 10000; u += 2) {
        snprintf(user, sizeof user, "user-%d", u);
        for (int k = 0; k < 5; k++) {
            snprintf(prog, sizeof prog, "prog-%d", (u + k * 200) % 1000);
            fails += rc_membership_remove(m, user, prog) != 1;
        }
    }
    CHECK_INT(fails, 0);
    CHECK_INT(rc_membership_count(m, "user-0"), 0);
    CHECK_INT(rc_membership_count(m, "user-1"), 5);
    rc_membership_destroy(m);
}

int main(void)
{
    test_basic();
    test_many();
    return CHECK_DONE();
}
