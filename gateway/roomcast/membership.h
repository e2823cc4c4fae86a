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

typedef struct rc_membership rc_membership;

rc_membership *rc_membership_new(void);
void rc_membership_destroy(rc_membership *m);

/* 1 added, 0 already a member, -1 out of memory. */
int rc_membership_add(rc_membership *m, const char *user, const char *program);
/* 1 removed, 0 was not a member. */
int rc_membership_remove(rc_membership *m, const char *user, const char *program);
int rc_membership_has(const rc_membership *m, const char *user, const char *program);
size_t rc_membership_count(const rc_membership *m, const char *user);

void rc_membership_foreach_program(const rc_membership *m, const char *user,
                                   void (*cb)(const char *program, void *ud), void *ud);

#endif
