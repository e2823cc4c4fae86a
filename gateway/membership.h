/*
 * membership.h - which users belong to which programs, as learned from
 * member:added / member:removed events (the program.memberships topic).
 * JWT `programs` claims are not stored here; they are per-socket.
 *
 * user -> set of programs, hash maps. Single-threaded (gateway loop).
 */
#ifndef RC_MEMBERSHIP_H
#define RC_MEMBERSHIP_H

#include <stddef.h>

typedef struct membership membership;

membership *membership_new(void);
void membership_destroy(membership *m);

/* 1 added, 0 already a member, -1 out of memory. */
int membership_add(membership *m, const char *user, const char *program);
/* 1 removed, 0 was not a member. */
int membership_remove(membership *m, const char *user, const char *program);
int membership_has(const membership *m, const char *user, const char *program);
size_t membership_count(const membership *m, const char *user);

void membership_foreach_program(const membership *m, const char *user,
                                void (*cb)(const char *program, void *ud),
                                void *ud);

#endif
