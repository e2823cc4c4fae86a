/*
 * rooms.c - room -> members and member -> rooms.
 *
 * Implementation notes: `rooms` maps a room name to a struct room, which
 * holds its name and the set of its members (a hash map); `members` maps a
 * member pointer to a struct mstate, which lists the member's rooms in a
 * small array. The room's map gives each member the index of the room in
 * that member's array, so leaving is O(1) too: the room is found by name,
 * the member's entry by pointer, and the last room of the array moves into
 * the hole (its own index is updated in its map). join, leave and
 * is_member are O(1) whatever the room size, and leave_all is O(rooms of
 * the member). An array of two pointers instead of a map of its own is
 * what most members have (a user's room and a program's), and is a third
 * of the memory. Rooms and member states are freed as soon as they become
 * empty, so the tables only hold live state.
 */
#include "gateway/server/rooms.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"

/* Rooms a member state has room for when it is created. */
#define MSTATE_MIN_CAP 2

struct room {
    hmap members; /* member pointer (borrowed) -> its index in the member's
                     mstate.rooms, as a uintptr_t */
    char name[];  /* also the key in gw_rooms.rooms */
};

struct mstate {
    void *member;       /* borrowed; the key in gw_rooms.members */
    uint32_t n, cap;    /* rooms[] used and allocated */
    struct room *rooms[]; /* borrowed from gw_rooms.rooms */
};

struct gw_rooms {
    hmap rooms;   /* name -> struct room * (owned) */
    hmap members; /* member -> struct mstate * (owned) */
};

gw_rooms *gw_rooms_new(void)
{
    gw_rooms *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    hmap_init(&r->rooms, HMAP_STR);
    hmap_init(&r->members, HMAP_PTR);
    return r;
}

static void room_free(struct room *rm)
{
    hmap_clear(&rm->members);
    free(rm);
}

void gw_rooms_destroy(gw_rooms *r)
{
    if (!r)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&r->rooms, &pos)))
        room_free(s->val);
    pos = 0;
    while ((s = hmap_next(&r->members, &pos)))
        free(s->val);
    hmap_clear(&r->rooms);
    hmap_clear(&r->members);
    free(r);
}

static struct room *room_get(const gw_rooms *r, const char *name)
{
    hmap_slot *s = hmap_find(&r->rooms, name);
    return s ? s->val : NULL;
}

static struct mstate *mstate_get(const gw_rooms *r, const void *member)
{
    hmap_slot *s = hmap_find(&r->members, member);
    return s ? s->val : NULL;
}

/* Drops rm from the room table and frees it if it has no member left. */
static void room_release_if_empty(gw_rooms *r, struct room *rm)
{
    if (hmap_len(&rm->members))
        return;
    hmap_del(&r->rooms, rm->name, NULL);
    room_free(rm);
}

static void mstate_release_if_empty(gw_rooms *r, struct mstate *ms)
{
    if (ms->n)
        return;
    hmap_del(&r->members, ms->member, NULL);
    free(ms);
}

/* Room for one more room in *msp (moved by realloc, its table entry
 * follows). 0, or -1 when out of memory (*msp unchanged). */
static int mstate_reserve(gw_rooms *r, struct mstate **msp)
{
    struct mstate *ms = *msp;
    if (ms->n < ms->cap)
        return 0;
    if (ms->cap > UINT32_MAX / 2)
        return -1;
    uint32_t cap = ms->cap * 2;
    struct mstate *grown = realloc(ms, sizeof *ms + cap * sizeof ms->rooms[0]);
    if (!grown)
        return -1;
    grown->cap = cap;
    hmap_find(&r->members, grown->member)->val = grown;
    *msp = grown;
    return 0;
}

int gw_rooms_join(gw_rooms *r, const char *room, void *member)
{
    struct room *rm = room_get(r, room);
    struct mstate *ms = mstate_get(r, member);
    if (rm && ms && hmap_find(&rm->members, member))
        return 0;

    if (!rm) {
        size_t n = strlen(room);
        rm = malloc(sizeof *rm + n + 1);
        if (!rm)
            goto fail;
        hmap_init(&rm->members, HMAP_PTR);
        memcpy(rm->name, room, n + 1);
        if (hmap_put(&r->rooms, rm->name, rm) < 0) {
            free(rm);
            rm = NULL;
            goto fail;
        }
    }
    if (!ms) {
        ms = malloc(sizeof *ms + MSTATE_MIN_CAP * sizeof ms->rooms[0]);
        if (!ms)
            goto fail;
        ms->member = member;
        ms->n = 0;
        ms->cap = MSTATE_MIN_CAP;
        if (hmap_put(&r->members, member, ms) < 0) {
            free(ms);
            ms = NULL;
            goto fail;
        }
    }
    if (mstate_reserve(r, &ms) < 0 ||
        hmap_put(&rm->members, member, (void *)(uintptr_t)ms->n) < 0)
        goto fail;
    ms->rooms[ms->n++] = rm;
    return 1;

fail:
    /* Undo whatever this call created; existing state is untouched. */
    if (rm)
        room_release_if_empty(r, rm);
    if (ms)
        mstate_release_if_empty(r, ms);
    return -1;
}

int gw_rooms_leave(gw_rooms *r, const char *room, void *member)
{
    struct room *rm = room_get(r, room);
    struct mstate *ms = rm ? mstate_get(r, member) : NULL;
    void *at;
    if (!ms || !hmap_del(&rm->members, member, &at))
        return 0;
    uint32_t i = (uint32_t)(uintptr_t)at;
    struct room *last = ms->rooms[--ms->n];
    if (i != ms->n) {
        /* The last room fills the hole; its index follows. */
        ms->rooms[i] = last;
        hmap_find(&last->members, member)->val = (void *)(uintptr_t)i;
    }
    room_release_if_empty(r, rm);
    mstate_release_if_empty(r, ms);
    return 1;
}

void gw_rooms_leave_all(gw_rooms *r, void *member)
{
    struct mstate *ms = NULL;
    if (!hmap_del(&r->members, member, (void **)&ms))
        return;
    for (uint32_t i = 0; i < ms->n; i++) {
        struct room *rm = ms->rooms[i];
        hmap_del(&rm->members, member, NULL);
        room_release_if_empty(r, rm);
    }
    free(ms);
}

int gw_rooms_is_member(const gw_rooms *r, const char *room, const void *member)
{
    struct room *rm = room_get(r, room);
    return rm && hmap_find(&rm->members, member) != NULL;
}

size_t gw_rooms_size(const gw_rooms *r, const char *room)
{
    struct room *rm = room_get(r, room);
    return rm ? hmap_len(&rm->members) : 0;
}

size_t gw_rooms_count(const gw_rooms *r)
{
    return hmap_len(&r->rooms);
}

void gw_rooms_foreach_member(const gw_rooms *r, const char *room,
                             void (*cb)(void *member, void *ud), void *ud)
{
    struct room *rm = room_get(r, room);
    if (!rm)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&rm->members, &pos)))
        cb((void *)s->key, ud);
}

void gw_rooms_foreach_room(const gw_rooms *r, const void *member,
                           void (*cb)(const char *room, void *ud), void *ud)
{
    struct mstate *ms = mstate_get(r, member);
    for (uint32_t i = 0; ms && i < ms->n; i++)
        cb(ms->rooms[i]->name, ud);
}

void gw_rooms_foreach(const gw_rooms *r, void (*cb)(const char *room, size_t members, void *ud),
                      void *ud)
{
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&r->rooms, &pos))) {
        const struct room *rm = s->val;
        cb(rm->name, hmap_len(&rm->members), ud);
    }
}
