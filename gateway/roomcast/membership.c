/*
 * membership.c - user -> set of programs.
 *
 * Implementation notes: one hash map from user id to a struct user that owns
 * the id and a set of owned program ids (each program string is both the key
 * and the value of its slot, so removal gets the pointer back to free it).
 * A user whose last program is removed is freed.
 */
#include "gateway/roomcast/membership.h"

#include <stdlib.h>
#include <string.h>

#include "core/hmap.h"

struct user {
    char *id;      /* owned; the key in membership.users */
    hmap programs; /* program id (owned) -> the same pointer */
};

struct rc_membership {
    hmap users; /* user id -> struct user * (owned) */
};

rc_membership *rc_membership_new(void)
{
    rc_membership *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    hmap_init(&m->users, HMAP_STR);
    return m;
}

static void user_free(struct user *u)
{
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&u->programs, &pos)))
        free(s->val);
    hmap_clear(&u->programs);
    free(u->id);
    free(u);
}

void rc_membership_destroy(rc_membership *m)
{
    if (!m)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&m->users, &pos)))
        user_free(s->val);
    hmap_clear(&m->users);
    free(m);
}

static struct user *user_get(const rc_membership *m, const char *user)
{
    hmap_slot *s = hmap_find(&m->users, user);
    return s ? s->val : NULL;
}

int rc_membership_add(rc_membership *m, const char *user, const char *program)
{
    struct user *u = user_get(m, user);
    int created = 0;
    char *p = NULL;

    if (u && hmap_find(&u->programs, program))
        return 0;
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u)
            return -1;
        hmap_init(&u->programs, HMAP_STR);
        if (!(u->id = strdup(user)) || hmap_put(&m->users, u->id, u) < 0) {
            free(u->id);
            free(u);
            return -1;
        }
        created = 1;
    }
    if (!(p = strdup(program)) || hmap_put(&u->programs, p, p) < 0)
        goto fail;
    return 1;

fail:
    free(p);
    if (created) {
        hmap_del(&m->users, u->id, NULL);
        user_free(u);
    }
    return -1;
}

int rc_membership_remove(rc_membership *m, const char *user, const char *program)
{
    struct user *u = user_get(m, user);
    void *p = NULL;
    if (!u || !hmap_del(&u->programs, program, &p))
        return 0;
    free(p);
    if (!hmap_len(&u->programs)) {
        hmap_del(&m->users, u->id, NULL);
        user_free(u);
    }
    return 1;
}

int rc_membership_has(const rc_membership *m, const char *user, const char *program)
{
    struct user *u = user_get(m, user);
    return u && hmap_find(&u->programs, program) != NULL;
}

size_t rc_membership_count(const rc_membership *m, const char *user)
{
    struct user *u = user_get(m, user);
    return u ? hmap_len(&u->programs) : 0;
}

void rc_membership_foreach_program(const rc_membership *m, const char *user,
                                   void (*cb)(const char *program, void *ud), void *ud)
{
    struct user *u = user_get(m, user);
    if (!u)
        return;
    size_t pos = 0;
    hmap_slot *s;
    while ((s = hmap_next(&u->programs, &pos)))
        cb(s->val, ud);
}
