/*
 * test_rooms.c - the room tables and the hash map under them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"
#include "gateway/server/rooms.h"
#include "tests/unit/check.h"

#define NSOCK 20000

static char socks[NSOCK]; /* their addresses are the members */

/* foreach collectors */
typedef struct seen {
    int *count; /* per socket index */
    size_t calls;
} seen;

static void on_member(void *member, void *ud)
{
    seen *s = ud;
    s->calls++;
    ptrdiff_t i = (char *)member - socks;
    if (i >= 0 && i < NSOCK)
        s->count[i]++;
}

typedef struct names {
    char list[16][32];
    size_t n;
} names;

static void on_room(const char *room, void *ud)
{
    names *n = ud;
    if (n->n < 16)
        snprintf(n->list[n->n], sizeof n->list[0], "%s", room);
    n->n++;
}

static int names_has(const names *n, const char *room)
{
    for (size_t i = 0; i < n->n && i < 16; i++)
        if (strcmp(n->list[i], room) == 0)
            return 1;
    return 0;
}

static void test_basic(void)
{
    gw_rooms *r = gw_rooms_new();
    CHECK(r != NULL);
    void *a = &socks[0], *b = &socks[1];

    CHECK_INT(gw_rooms_count(r), 0);
    CHECK_INT(gw_rooms_size(r, "program:p1"), 0);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", a), 0);

    CHECK_INT(gw_rooms_join(r, "program:p1", a), 1);
    CHECK_INT(gw_rooms_join(r, "program:p1", a), 0); /* idempotent */
    CHECK_INT(gw_rooms_join(r, "program:p1", b), 1);
    CHECK_INT(gw_rooms_join(r, "user:alice", a), 1);
    CHECK_INT(gw_rooms_count(r), 2);
    CHECK_INT(gw_rooms_size(r, "program:p1"), 2);
    CHECK_INT(gw_rooms_size(r, "user:alice"), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", a), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "user:alice", b), 0);
    CHECK_INT(gw_rooms_is_member(r, "program:p2", a), 0);

    /* Leaving what one is not in changes nothing. */
    CHECK_INT(gw_rooms_leave(r, "user:alice", b), 0);
    CHECK_INT(gw_rooms_leave(r, "program:nope", a), 0);
    CHECK_INT(gw_rooms_leave(r, "program:p1", &socks[2]), 0);
    CHECK_INT(gw_rooms_count(r), 2);
    CHECK_INT(gw_rooms_size(r, "user:alice"), 1);

    CHECK_INT(gw_rooms_leave(r, "program:p1", a), 1);
    CHECK_INT(gw_rooms_leave(r, "program:p1", a), 0);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", a), 0);
    CHECK_INT(gw_rooms_is_member(r, "user:alice", a), 1);
    CHECK_INT(gw_rooms_size(r, "program:p1"), 1);

    /* An emptied room disappears. */
    CHECK_INT(gw_rooms_leave(r, "user:alice", a), 1);
    CHECK_INT(gw_rooms_count(r), 1);
    CHECK_INT(gw_rooms_size(r, "user:alice"), 0);

    /* Re-joining after leaving works. */
    CHECK_INT(gw_rooms_join(r, "user:alice", a), 1);
    CHECK_INT(gw_rooms_count(r), 2);

    /* Room names are copied: the caller's buffer may change. */
    char buf[32];
    snprintf(buf, sizeof buf, "program:tmp");
    CHECK_INT(gw_rooms_join(r, buf, b), 1);
    snprintf(buf, sizeof buf, "program:xxx");
    CHECK_INT(gw_rooms_is_member(r, "program:tmp", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:xxx", b), 0);

    /* Names differing only in length or a late byte are distinct. */
    CHECK_INT(gw_rooms_join(r, "program:p", b), 1);
    CHECK_INT(gw_rooms_join(r, "program:p10", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p10", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p100", b), 0);
    CHECK_INT(gw_rooms_is_member(r, "", b), 0);

    gw_rooms_destroy(r); /* with live state: ASan checks it is all freed */
    gw_rooms_destroy(NULL);
}

struct room_sizes {
    int calls;
    size_t p1, alice;
};

static void on_any_room(const char *room, size_t members, void *ud)
{
    struct room_sizes *all = ud;
    all->calls++;
    if (!strcmp(room, "program:p1"))
        all->p1 = members;
    if (!strcmp(room, "user:alice"))
        all->alice = members;
}

static void test_leave_all_and_foreach(void)
{
    gw_rooms *r = gw_rooms_new();
    void *a = &socks[0], *b = &socks[1], *c = &socks[2];
    const char *five[] = {"user:alice", "program:p1", "program:p2",
                          "program:p3", "program:p4"};
    for (size_t i = 0; i < 5; i++)
        CHECK_INT(gw_rooms_join(r, five[i], a), 1);
    CHECK_INT(gw_rooms_join(r, "program:p1", b), 1);
    CHECK_INT(gw_rooms_join(r, "user:bob", b), 1);
    CHECK_INT(gw_rooms_count(r), 6);

    names n = {0};
    gw_rooms_foreach_room(r, a, on_room, &n);
    CHECK_INT(n.n, 5);
    for (size_t i = 0; i < 5; i++)
        CHECK(names_has(&n, five[i]));

    int count[NSOCK] = {0};
    seen s = {count, 0};
    gw_rooms_foreach_member(r, "program:p1", on_member, &s);
    CHECK_INT(s.calls, 2);
    CHECK_INT(count[0], 1);
    CHECK_INT(count[1], 1);

    /* Every room with its size. */
    struct room_sizes all = {0};
    gw_rooms_foreach(r, on_any_room, &all);
    CHECK_INT(all.calls, 6);
    CHECK_INT(all.p1, 2);
    CHECK_INT(all.alice, 1);

    /* Unknown member or room: no callback. */
    n.n = 0;
    gw_rooms_foreach_room(r, c, on_room, &n);
    CHECK_INT(n.n, 0);
    s.calls = 0;
    gw_rooms_foreach_member(r, "program:none", on_member, &s);
    CHECK_INT(s.calls, 0);

    gw_rooms_leave_all(r, a);
    CHECK_INT(gw_rooms_count(r), 2); /* p2, p3, p4, user:alice emptied */
    CHECK_INT(gw_rooms_size(r, "program:p1"), 1);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", a), 0);
    CHECK_INT(gw_rooms_is_member(r, "program:p1", b), 1);
    CHECK_INT(gw_rooms_is_member(r, "user:bob", b), 1);
    n.n = 0;
    gw_rooms_foreach_room(r, a, on_room, &n);
    CHECK_INT(n.n, 0);

    gw_rooms_leave_all(r, a); /* twice is harmless */
    gw_rooms_leave_all(r, c); /* never joined */
    CHECK_INT(gw_rooms_count(r), 2);

    gw_rooms_leave_all(r, b);
    CHECK_INT(gw_rooms_count(r), 0);
    CHECK_INT(gw_rooms_size(r, "program:p1"), 0);
    gw_rooms_destroy(r);
}

/* 20,000 sockets, each in its user room, one shared big room and 3 of 300
 * program rooms: 100,000 memberships, the target scale of one node. */
static void test_scale(void)
{
    gw_rooms *r = gw_rooms_new();
    char room[32];
    int fails = 0;
    static int per_prog[300];
    memset(per_prog, 0, sizeof per_prog);

    for (int i = 0; i < NSOCK; i++) {
        snprintf(room, sizeof room, "user:u%d", i);
        fails += gw_rooms_join(r, room, &socks[i]) != 1;
        fails += gw_rooms_join(r, "program:big", &socks[i]) != 1;
        for (int k = 0; k < 3; k++) {
            int p = (i * 7 + k * 101) % 300;
            snprintf(room, sizeof room, "program:p%d", p);
            fails += gw_rooms_join(r, room, &socks[i]) != 1;
            per_prog[p]++;
        }
    }
    CHECK_INT(fails, 0);
    CHECK_INT(gw_rooms_count(r), NSOCK + 1 + 300);
    CHECK_INT(gw_rooms_size(r, "program:big"), NSOCK);

    int sizes_ok = 1;
    for (int p = 0; p < 300; p++) {
        snprintf(room, sizeof room, "program:p%d", p);
        if (gw_rooms_size(r, room) != (size_t)per_prog[p])
            sizes_ok = 0;
    }
    CHECK(sizes_ok);

    /* foreach over the big room visits every socket exactly once. */
    static int count[NSOCK];
    memset(count, 0, sizeof count);
    seen s = {count, 0};
    gw_rooms_foreach_member(r, "program:big", on_member, &s);
    CHECK_INT(s.calls, NSOCK);
    int once = 1;
    for (int i = 0; i < NSOCK; i++)
        if (count[i] != 1)
            once = 0;
    CHECK(once);

    /* Every socket sees its five rooms. */
    names n = {0};
    gw_rooms_foreach_room(r, &socks[12345], on_room, &n);
    CHECK_INT(n.n, 5);
    CHECK(names_has(&n, "user:u12345"));
    CHECK(names_has(&n, "program:big"));

    /* Even sockets leave the big room one by one, odd ones disconnect. */
    for (int i = 0; i < NSOCK; i += 2)
        fails += gw_rooms_leave(r, "program:big", &socks[i]) != 1;
    CHECK_INT(fails, 0);
    CHECK_INT(gw_rooms_size(r, "program:big"), NSOCK / 2);
    int member_ok = 1;
    for (int i = 0; i < NSOCK; i++)
        if (gw_rooms_is_member(r, "program:big", &socks[i]) != (i & 1))
            member_ok = 0;
    CHECK(member_ok);

    for (int i = 1; i < NSOCK; i += 2)
        gw_rooms_leave_all(r, &socks[i]);
    CHECK_INT(gw_rooms_size(r, "program:big"), 0);
    CHECK_INT(gw_rooms_is_member(r, "program:big", &socks[0]), 0);
    CHECK_INT(gw_rooms_size(r, "user:u2"), 1);
    CHECK_INT(gw_rooms_size(r, "user:u3"), 0);
    /* Left: user rooms of even sockets, program rooms with an even member. */
    static char even_prog[300];
    size_t nprog = 0;
    for (int i = 0; i < NSOCK; i += 2)
        for (int k = 0; k < 3; k++)
            even_prog[(i * 7 + k * 101) % 300] = 1;
    for (int p = 0; p < 300; p++)
        nprog += even_prog[p];
    CHECK_INT(gw_rooms_count(r), NSOCK / 2 + nprog);

    for (int i = 0; i < NSOCK; i += 2)
        gw_rooms_leave_all(r, &socks[i]);
    CHECK_INT(gw_rooms_count(r), 0);
    gw_rooms_destroy(r);
}

/* 50,000 rooms of one member each, then joins and leaves interleaved. */
static void test_many_rooms(void)
{
    gw_rooms *r = gw_rooms_new();
    char room[32];
    int fails = 0;
    for (int i = 0; i < 50000; i++) {
        snprintf(room, sizeof room, "room-%d", i);
        fails += gw_rooms_join(r, room, &socks[i % 4]) != 1;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(gw_rooms_count(r), 50000);
    CHECK_INT(gw_rooms_size(r, "room-49999"), 1);
    CHECK_INT(gw_rooms_is_member(r, "room-49999", &socks[3]), 1);
    CHECK_INT(gw_rooms_is_member(r, "room-49999", &socks[2]), 0);

    for (int i = 0; i < 50000; i += 3) {
        snprintf(room, sizeof room, "room-%d", i);
        fails += gw_rooms_leave(r, room, &socks[i % 4]) != 1;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(gw_rooms_count(r), 50000 - 16667);
    int ok = 1;
    for (int i = 0; i < 50000; i++) {
        snprintf(room, sizeof room, "room-%d", i);
        if (gw_rooms_is_member(r, room, &socks[i % 4]) != (i % 3 != 0))
            ok = 0;
    }
    CHECK(ok);

    gw_rooms_leave_all(r, &socks[0]);
    gw_rooms_leave_all(r, &socks[1]);
    CHECK_INT(gw_rooms_is_member(r, "room-2", &socks[2]), 1);
    gw_rooms_leave_all(r, &socks[2]);
    gw_rooms_leave_all(r, &socks[3]);
    CHECK_INT(gw_rooms_count(r), 0);
    gw_rooms_destroy(r);
}

/* Joins and leaves in random order against a plain matrix: a leave moves
 * the member's last room into the hole, whose index has to follow, and the
 * member's room list grows past its first allocation. */
static void test_rooms_random(void)
{
    enum { MEMBERS = 6, ROOMS = 12, STEPS = 20000 };
    gw_rooms *r = gw_rooms_new();
    int in[MEMBERS][ROOMS] = {{0}};
    char room[32];
    unsigned seed = 12345;
    int bad = 0, fails = 0;
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 1103515245u + 12345u;
        int m = (int)((seed >> 8) % MEMBERS), k = (int)((seed >> 16) % ROOMS);
        int join = (seed >> 28) & 1;
        snprintf(room, sizeof room, "program:%d", k);
        if (join) {
            fails += gw_rooms_join(r, room, &socks[m]) != !in[m][k];
            in[m][k] = 1;
        } else if ((seed >> 29) % 8 == 0) {
            gw_rooms_leave_all(r, &socks[m]);
            memset(in[m], 0, sizeof in[m]);
        } else {
            fails += gw_rooms_leave(r, room, &socks[m]) != in[m][k];
            in[m][k] = 0;
        }
        for (int mm = 0; mm < MEMBERS; mm++) {
            names n = {0};
            int want = 0;
            gw_rooms_foreach_room(r, &socks[mm], on_room, &n);
            for (int kk = 0; kk < ROOMS; kk++) {
                snprintf(room, sizeof room, "program:%d", kk);
                want += in[mm][kk];
                if (gw_rooms_is_member(r, room, &socks[mm]) != in[mm][kk] ||
                    names_has(&n, room) != in[mm][kk])
                    bad++;
            }
            if ((int)n.n != want)
                bad++;
        }
    }
    CHECK_INT(fails, 0);
    CHECK_INT(bad, 0);
    size_t rooms = 0;
    for (int k = 0; k < ROOMS; k++) {
        size_t members = 0;
        for (int m = 0; m < MEMBERS; m++)
            members += (size_t)in[m][k];
        snprintf(room, sizeof room, "program:%d", k);
        CHECK_INT(gw_rooms_size(r, room), members);
        rooms += members > 0;
    }
    CHECK_INT(gw_rooms_count(r), rooms);
    gw_rooms_destroy(r); /* with live state: ASan checks it is all freed */
}

/* The hash map against a plain array, with a small key space so that probe
 * runs wrap around the table and deletions shift entries back; a string
 * map moves its stored hashes with its entries, and is looked up with
 * copies of its keys. */
static void hmap_random(enum hmap_kind kind)
{
    enum { KEYS = 600 };
    static char keys[KEYS];
    static char skeys[KEYS][8], probe[8];
    int present[KEYS] = {0};
    hmap m;
    hmap_init(&m, kind);
    for (int i = 0; i < KEYS; i++)
        snprintf(skeys[i], sizeof skeys[i], "k%d", i);
    uint64_t x = 88172645463325252ull;
    int bad = 0;
    size_t len = 0;

    for (int step = 0; step < 200000; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = (int)(x % KEYS);
        const void *key = kind == HMAP_PTR ? (const void *)&keys[k] : skeys[k];
        /* Drift between mostly-inserting and mostly-deleting phases so
         * the table grows and shrinks repeatedly. */
        int insert = ((x >> 20) % 100) < ((step / 5000) % 2 ? 25u : 75u);
        if (insert) {
            int rc = hmap_put(&m, key, &keys[k]);
            bad += rc != (present[k] ? 0 : 1);
            len += !present[k];
            present[k] = 1;
        } else {
            void *v = NULL;
            if (kind == HMAP_STR)
                key = memcpy(probe, skeys[k], sizeof probe);
            int rc = hmap_del(&m, key, &v);
            bad += rc != present[k];
            bad += present[k] && v != &keys[k];
            len -= present[k];
            present[k] = 0;
        }
        if (step % 997 == 0) {
            for (int i = 0; i < KEYS; i++) {
                if (kind == HMAP_STR)
                    memcpy(probe, skeys[i], sizeof probe);
                hmap_slot *sl = hmap_find(&m, kind == HMAP_PTR ? (const void *)&keys[i] : probe);
                bad += (sl != NULL) != present[i];
                bad += sl && sl->val != &keys[i];
            }
            size_t pos = 0, n = 0;
            while (hmap_next(&m, &pos))
                n++;
            bad += n != len;
        }
    }
    CHECK_INT(bad, 0);
    CHECK_INT(hmap_len(&m), len);
    hmap_clear(&m);
    CHECK_INT(hmap_len(&m), 0);
    CHECK(hmap_find(&m, kind == HMAP_PTR ? (const void *)&keys[0] : skeys[0]) == NULL);
}

static void test_hmap_random(void)
{
    hmap_random(HMAP_PTR);
    hmap_random(HMAP_STR);

    /* String keys compare by content, not address. */
    hmap s;
    hmap_init(&s, HMAP_STR);
    char k1[] = "program:p1", k2[] = "program:p1";
    CHECK_INT(hmap_put(&s, k1, k1), 1);
    CHECK_INT(hmap_put(&s, k2, k2), 0);
    hmap_slot *sl = hmap_find(&s, "program:p1");
    CHECK(sl != NULL && sl->val == k1);
    CHECK(hmap_find(&s, "program:p2") == NULL);
    CHECK_INT(hmap_del(&s, "program:p1", NULL), 1);
    CHECK_INT(hmap_del(&s, "program:p1", NULL), 0);
    CHECK_INT(hmap_len(&s), 0);
    hmap_clear(&s);
}

int main(void)
{
    test_basic();
    test_leave_all_and_foreach();
    test_scale();
    test_many_rooms();
    test_rooms_random();
    test_hmap_random();
    return CHECK_DONE();
}
