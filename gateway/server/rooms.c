/*
 * rooms.c - room -> members and member -> rooms.
 *
 * Implementation notes: two hash maps. `rooms` maps a room name to a struct
 * room that owns the name and holds the set of member pointers; `members`
 * maps a member pointer to a struct mstate holding the set of its struct
 * room pointers. A member's room set is keyed by room address, so leaving
 * hashes the room name once and everything else is pointer hashing: join,
 * leave and is_member are O(1) whatever the room size, and leave_all is
 * O(rooms of the member). Rooms and member states are freed as soon as they
 * become empty, so the tables only hold live state.
 */
#include "gateway/server/rooms.h"

#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"

struct room {
    char *name;   /* owned; also the key in rooms.gw_rooms */
    hmap members; /* member pointer (borrowed) -> NULL */
};

struct mstate {
    void *member; /* borrowed; the key in rooms.members */
    hmap rooms;   /* struct room * -> struct room * (borrowed from rooms) */
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
    free(rm->name);
    free(rm);
}

static void mstate_free(struct mstate *ms)
{
    hmap_clear(&ms->rooms);
    free(ms);
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
        mstate_free(s->val);
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
    if (hmap_len(&ms->rooms))
        return;
    hmap_del(&r->members, ms->member, NULL);
    mstate_free(ms);
}

int gw_rooms_join(gw_rooms *r, const char *room, void *member)
{
    struct room *rm = room_get(r, room);
    struct mstate *ms = mstate_get(r, member);
    if (rm && ms && hmap_find(&rm->members, member))
        return 0;

    if (!rm) {
        rm = calloc(1, sizeof *rm);
        if (!rm)
            goto fail;
        hmap_init(&rm->members, HMAP_PTR);
        if (!(rm->name = strdup(room)) || hmap_put(&r->rooms, rm->name, rm) < 0) {
            free(rm->name);
            free(rm);
            rm = NULL;
            goto fail;
        }
    }
    if (!ms) {
        ms = calloc(1, sizeof *ms);
        if (!ms)
            goto fail;
        ms->member = member;
        hmap_init(&ms->rooms, HMAP_PTR);
        if (hmap_put(&r->members, member, ms) < 0) {
            free(ms);
            ms = NULL;
            goto fail;
        }
    }
    if (hmap_put(&rm->members, member, NULL) < 0)
        goto fail;
    if (hmap_put(&ms->rooms, rm, rm) < 0) {
        hmap_del(&rm->members, member, NULL);
        goto fail;
    }
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
    if (!ms || !hmap_del(&rm->members, member, NULL))
        return 0;
    hmap_del(&ms->rooms, rm, NULL);
    room_release_if_empty(r, rm);
    mstate_release_if_empty(r, ms);
    return 1;
}

void gw_rooms_leave_all(gw_rooms *r, void *member)
{
    struct mstate *ms = NULL;
    if (!hmap_del(&r->members, member, (void **)&ms))
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&ms->rooms, &pos))) {
        struct room *rm = s->val;
        hmap_del(&rm->members, member, NULL);
        room_release_if_empty(r, rm);
    }
    mstate_free(ms);
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
    if (!ms)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&ms->rooms, &pos)))
        cb(((struct room *)s->val)->name, ud);
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
