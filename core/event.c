/*
 * event.c - event lifetime.
 */
#include "event.h"

#include <stdlib.h>
#include <string.h>

rc_event *rc_event_new(void)
{
    rc_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    atomic_init(&ev->refs, 1);
    ev->kafka_ts_ms = -1;
    return ev;
}

rc_event *rc_event_ref(rc_event *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
    return ev;
}

void rc_event_unref(rc_event *ev)
{
    if (!ev || atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < ev->nrooms; i++)
        free(ev->rooms[i]);
    free(ev->rooms);
    free(ev->id);
    free(ev->name);
    free(ev->payload);
    free(ev->member_user);
    free(ev->member_program);
    free(ev);
}

int rc_event_in_room(const rc_event *ev, const char *room)
{
    for (size_t i = 0; i < ev->nrooms; i++)
        if (strcmp(ev->rooms[i], room) == 0)
            return 1;
    return 0;
}

int rc_event_add_room(rc_event *ev, const char *room)
{
    if (rc_event_in_room(ev, room))
        return 0;
    char **r = realloc(ev->rooms, (ev->nrooms + 1) * sizeof *r);
    if (!r)
        return -1;
    ev->rooms = r;
    if (!(r[ev->nrooms] = strdup(room)))
        return -1;
    ev->nrooms++;
    return 0;
}
