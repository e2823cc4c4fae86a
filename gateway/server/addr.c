/*
 * addr.c - open sessions per client address, for max-connections-per-ip.
 *
 * Implementation notes. An open session counts against the address of the
 * connection that opened it (gw->addrs: address -> count) from the
 * handshake until it leaves GW_SESSION_OPEN; an address whose count drops
 * to zero is forgotten, so the table holds only addresses with open
 * sessions. Without a limit nothing is counted.
 */
#include "gateway/server/server_private.h"

#include <stdlib.h>
#include <string.h>

/* One client address and its open sessions; the hmap key is addr. */
struct gw_addr {
    size_t n;
    char addr[];
};

int gw_addr_admit(gw_server *gw, const char *addr)
{
    int max = gw->opt.max_connections_per_ip;
    if (max <= 0 || !addr)
        return 1;
    hmap_slot *slot = hmap_find(&gw->addrs, addr);
    return !slot || ((struct gw_addr *)slot->val)->n < (size_t)max;
}

int gw_addr_count(gw_session *s, const char *addr)
{
    gw_server *gw = s->gw;
    if (s->addr || s->state != GW_SESSION_OPEN || !addr || gw->opt.max_connections_per_ip <= 0)
        return 0; /* already counted, closed, unknown address, or no limit */
    hmap_slot *slot = hmap_find(&gw->addrs, addr);
    struct gw_addr *e = slot ? slot->val : NULL;
    if (!e) {
        size_t n = strlen(addr);
        if (!(e = malloc(sizeof *e + n + 1)))
            return -1;
        e->n = 0;
        memcpy(e->addr, addr, n + 1);
        if (hmap_put(&gw->addrs, e->addr, e) != 1) {
            free(e);
            return -1;
        }
    }
    e->n++;
    s->addr = e;
    return 0;
}

void gw_addr_release(gw_session *s)
{
    struct gw_addr *e = s->addr;
    if (!e)
        return;
    s->addr = NULL;
    if (--e->n == 0) {
        hmap_del(&s->gw->addrs, e->addr, NULL);
        free(e);
    }
}
