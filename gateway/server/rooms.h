/*
 * rooms.h - room membership of live sockets: room -> members and
 * member -> rooms, both hash maps, so join, leave and lookups are O(1) and a
 * broadcast walks only the members of the rooms it targets.
 *
 * Members are opaque pointers (the server's sockets), borrowed: the caller
 * calls gw_rooms_leave_all() before freeing one. Single-threaded (server loop).
 */
#ifndef GW_ROOMS_H
#define GW_ROOMS_H

#include <stddef.h>

typedef struct gw_rooms gw_rooms;

gw_rooms *gw_rooms_new(void);
void gw_rooms_destroy(gw_rooms *r);

/* 1 joined, 0 already a member, -1 out of memory. */
int gw_rooms_join(gw_rooms *r, const char *room, void *member);
/* 1 left, 0 was not a member. An emptied room is freed. */
int gw_rooms_leave(gw_rooms *r, const char *room, void *member);
void gw_rooms_leave_all(gw_rooms *r, void *member);

int gw_rooms_is_member(const gw_rooms *r, const char *room, const void *member);
size_t gw_rooms_size(const gw_rooms *r, const char *room); /* members in room */
size_t gw_rooms_count(const gw_rooms *r);                  /* non-empty gw_rooms */

/*
 * Calls cb for each member of room. cb must not join or leave rooms; collect
 * first if you need to.
 */
void gw_rooms_foreach_member(const gw_rooms *r, const char *room,
                             void (*cb)(void *member, void *ud), void *ud);
/* Calls cb for each room of member (same restriction). */
void gw_rooms_foreach_room(const gw_rooms *r, const void *member,
                           void (*cb)(const char *room, void *ud), void *ud);
/* Calls cb for each non-empty room with its number of members (same
 * restriction), in no particular order. */
void gw_rooms_foreach(const gw_rooms *r, void (*cb)(const char *room, size_t members, void *ud),
                      void *ud);

#endif
