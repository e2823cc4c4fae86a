/*
 * hmap.h - a small open-addressing hash map for roomcast's tables.
 *
 * Keys are either NUL-terminated strings (compared by content, hashed with
 * SipHash-2-4 under a per-process random key, so a peer who chooses names
 * cannot force collisions) or pointers (compared by identity, hashed by
 * address). Values are untyped pointers. Lookup, insert and delete are O(1)
 * on average; the table grows at 3/4 load and shrinks below 1/8, so a set
 * that once held 10,000 entries does not keep that memory once drained.
 *
 * The struct is transparent only so that it can be embedded by value in
 * other structs (one allocation less per room or member); its fields are
 * private to hmap.c. Keys and values are borrowed: the map never copies or
 * frees them. Not thread-safe.
 */
#ifndef RC_HMAP_H
#define RC_HMAP_H

#include <stddef.h>
#include <stdint.h>

enum hmap_kind {
    HMAP_STR, /* key is a NUL-terminated string */
    HMAP_PTR, /* key is an address */
};

typedef struct hmap_slot {
    const void *key; /* borrowed; NULL marks an empty slot */
    void *val;       /* borrowed */
} hmap_slot;

typedef struct hmap {
    hmap_slot *slots; /* owned, cap entries (then, for HMAP_STR, their
                         hashes), NULL while empty */
    uint32_t cap;     /* 0 or a power of two */
    uint32_t len;
    enum hmap_kind kind;
} hmap;

/* An empty map allocates nothing. */
void hmap_init(hmap *m, enum hmap_kind kind);
/* Frees the table (not the keys or values); the map is empty afterwards. */
void hmap_clear(hmap *m);

static inline size_t hmap_len(const hmap *m) { return m->len; }

/* The slot holding key, or NULL. The slot is valid until the next change. */
hmap_slot *hmap_find(const hmap *m, const void *key);

/*
 * Inserts key (non-NULL) with val. Returns 1 inserted, 0 key already present
 * (its value is left unchanged), -1 out of memory (map unchanged).
 */
int hmap_put(hmap *m, const void *key, void *val);

/*
 * Removes key. Returns 1 and stores the removed value in *val_out (may be
 * NULL), or 0 when the key was absent.
 */
int hmap_del(hmap *m, const void *key, void **val_out);

/*
 * Iteration: start with *pos = 0; each call returns the next occupied slot
 * or NULL at the end. The map must not change during an iteration.
 */
hmap_slot *hmap_next(const hmap *m, size_t *pos);

#endif
