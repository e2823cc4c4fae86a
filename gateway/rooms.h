/*
 * rooms.h - room membership of live sockets: room -> members and
 * member -> rooms, both hash maps, so join, leave and lookups are O(1) and a
 * broadcast walks only the members of the rooms it targets.
 *
 * Members are opaque pointers (the gateway's sockets), borrowed: the caller
 * calls rooms_leave_all() before freeing one. Single-threaded (gateway loop).
 */
#ifndef RC_ROOMS_H
#define RC_ROOMS_H

#include <stddef.h>

typedef struct rooms rooms;

rooms *rooms_new(void);
void rooms_destroy(rooms *r);

/* 1 joined, 0 already a member, -1 out of memory. */
int rooms_join(rooms *r, const char *room, void *member);
/* 1 left, 0 was not a member. An emptied room is freed. */
int rooms_leave(rooms *r, const char *room, void *member);
void rooms_leave_all(rooms *r, void *member);

int rooms_is_member(const rooms *r, const char *room, const void *member);
size_t rooms_size(const rooms *r, const char *room); /* members in room */
size_t rooms_count(const rooms *r);                  /* non-empty rooms */

/*
 * Calls cb for each member of room. cb must not join or leave rooms; collect
 * first if you need to.
 */
void rooms_foreach_member(const rooms *r, const char *room,
                          void (*cb)(void *member, void *ud), void *ud);
/* Calls cb for each room of member (same restriction). */
void rooms_foreach_room(const rooms *r, const void *member,
                        void (*cb)(const char *room, void *ud), void *ud);

#endif
