/*
 * hmap.c - open addressing with linear probing.
 *
 * Implementation notes: the capacity is a power of two. A slot is a key
 * and a value (16 bytes). A string map keeps each key's hash (its low 32
 * bits) in an array after the slots, in the same allocation, so probing
 * compares hashes before strings and resizing never rehashes a string; a
 * pointer map keeps none, since comparing the keys costs what comparing
 * hashes would, and its hash (the murmur3 finaliser, which spreads the
 * low, aligned bits of heap addresses) is recomputed when an entry moves.
 * Every live socket is in several of these tables, so their slot size is
 * most of what they cost. Deletion shifts the following entries of the
 * probe run back (no tombstones), so a table that sees endless joins and
 * leaves never degrades. String hashes use SipHash-2-4 with a key drawn
 * once per process from getrandom().
 */
#include "hmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* The smallest table: two slots hold one entry (a room of one socket) at
 * the 3/4 load limit. */
#define HMAP_MIN_CAP 2
/* The largest: capacities and counts are 32-bit. */
#define HMAP_MAX_CAP ((size_t)1 << 31)

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_init(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        /* No entropy yet (very early boot): fall back to the clock. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
        k[1] = (uint64_t)(uintptr_t)&ts * 0xC2B2AE3D27D4EB4Full;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);             \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);             \
    } while (0)

static uint64_t siphash24(const unsigned char *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ull ^ sip_k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ sip_k0;
    uint64_t v3 = 0x7465646279746573ull ^ sip_k1;
    uint64_t b = (uint64_t)len << 56;
    size_t full = len & ~(size_t)7;

    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = 0;
        for (int j = 7; j >= 0; j--)
            m = (m << 8) | in[i + (size_t)j];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t j = 0; j < (len & 7); j++)
        b |= (uint64_t)in[full + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint32_t hash_key(const hmap *m, const void *key)
{
    if (m->kind == HMAP_PTR)
        return (uint32_t)hash_ptr(key);
    pthread_once(&sip_once, sip_init);
    return (uint32_t)siphash24(key, strlen(key));
}

/* The hashes of a string map's slots (after them), or NULL. */
static uint32_t *hashes(const hmap *m)
{
    return m->kind == HMAP_STR && m->slots ? (uint32_t *)(m->slots + m->cap) : NULL;
}

/* The hash of the entry in slot i. */
static uint32_t slot_hash(const hmap *m, size_t i)
{
    uint32_t *hs = hashes(m);
    return hs ? hs[i] : (uint32_t)hash_ptr(m->slots[i].key);
}

static int key_eq(const hmap *m, size_t i, const void *key, uint32_t h)
{
    if (m->kind == HMAP_PTR)
        return m->slots[i].key == key;
    return hashes(m)[i] == h && strcmp(m->slots[i].key, key) == 0;
}

void hmap_init(hmap *m, enum hmap_kind kind)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
    m->kind = kind;
}

void hmap_clear(hmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

/* Moves every entry into a table of newcap slots (a power of two). */
static int resize(hmap *m, size_t newcap)
{
    size_t per = sizeof(hmap_slot) + (m->kind == HMAP_STR ? sizeof(uint32_t) : 0);
    if (newcap > HMAP_MAX_CAP || newcap > ((size_t)-1) / per)
        return -1;
    hmap_slot *ns = calloc(newcap, per);
    if (!ns)
        return -1;
    uint32_t *nh = m->kind == HMAP_STR ? (uint32_t *)(ns + newcap) : NULL;
    size_t mask = newcap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        uint32_t h = slot_hash(m, i);
        size_t j = (size_t)h & mask;
        while (ns[j].key)
            j = (j + 1) & mask;
        ns[j] = m->slots[i];
        if (nh)
            nh[j] = h;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = (uint32_t)newcap;
    return 0;
}

/* The index of key's slot, or -1. */
static long find_index(const hmap *m, const void *key, uint32_t h)
{
    size_t mask = (size_t)m->cap - 1;
    for (size_t i = (size_t)h & mask; m->slots[i].key; i = (i + 1) & mask)
        if (key_eq(m, i, key, h))
            return (long)i;
    return -1;
}

hmap_slot *hmap_find(const hmap *m, const void *key)
{
    if (!m->len)
        return NULL;
    long i = find_index(m, key, hash_key(m, key));
    return i < 0 ? NULL : &m->slots[i];
}

int hmap_put(hmap *m, const void *key, void *val)
{
    uint32_t h = hash_key(m, key);
    if (m->len && find_index(m, key, h) >= 0)
        return 0;
    /* Keep the load at or under 3/4 after this insert. */
    if (((size_t)m->len + 1) * 4 > (size_t)m->cap * 3) {
        size_t newcap = m->cap ? (size_t)m->cap * 2 : HMAP_MIN_CAP;
        if (resize(m, newcap) < 0)
            return -1;
    }
    size_t mask = (size_t)m->cap - 1;
    size_t i = (size_t)h & mask;
    while (m->slots[i].key)
        i = (i + 1) & mask;
    m->slots[i].key = key;
    m->slots[i].val = val;
    if (hashes(m))
        hashes(m)[i] = h;
    m->len++;
    return 1;
}

int hmap_del(hmap *m, const void *key, void **val_out)
{
    if (!m->len)
        return 0;
    long at = find_index(m, key, hash_key(m, key));
    if (at < 0)
        return 0;
    if (val_out)
        *val_out = m->slots[at].val;
    uint32_t *hs = hashes(m);
    size_t mask = (size_t)m->cap - 1;
    size_t i = (size_t)at;
    /* Backward shift: pull later entries of the run into the hole when
     * their home slot is not strictly between the hole and themselves. */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = (size_t)slot_hash(m, j) & mask;
        int keep = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!keep) {
            m->slots[i] = m->slots[j];
            if (hs)
                hs[i] = hs[j];
            i = j;
        }
    }
    m->slots[i].key = NULL;
    m->slots[i].val = NULL;
    m->len--;
    if (!m->len) {
        hmap_clear(m);
    } else if (m->cap > HMAP_MIN_CAP && (size_t)m->len * 8 < m->cap) {
        size_t newcap = HMAP_MIN_CAP;
        while (newcap < (size_t)m->len * 2)
            newcap *= 2;
        (void)resize(m, newcap); /* on failure the larger table stays valid */
    }
    return 1;
}

hmap_slot *hmap_next(const hmap *m, size_t *pos)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].key) {
            *pos = i + 1;
            return &m->slots[i];
        }
    }
    *pos = m->cap;
    return NULL;
}
