/* A string-keyed open-addressing hash map (keys copied, values are void pointers or
 * integers). Used for cloid -> order, symbol -> instrument, trade id dedup. */
#ifndef KS_STRMAP_H
#define KS_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_strmap_slot {
    char *key; /* NULL: empty; KS_STRMAP_TOMB: deleted */
    uint64_t hash;
    void *val;
} ks_strmap_slot_t;

typedef struct ks_strmap {
    ks_strmap_slot_t *slots;
    size_t cap;   /* power of two, or 0 */
    size_t count; /* live keys */
    size_t used;  /* live + tombstones */
} ks_strmap_t;

#define KS_STRMAP_INIT                                                                             \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Frees keys and slots (not the values). */
void ks_strmap_free(ks_strmap_t *m);
/* Inserts or replaces; the key is copied. KS_OK or KS_ENOMEM. */
int ks_strmap_put(ks_strmap_t *m, const char *key, void *val);
/* Looks up; returns true and sets *val when found (val may be NULL). */
bool ks_strmap_get(const ks_strmap_t *m, const char *key, void **val);
bool ks_strmap_del(ks_strmap_t *m, const char *key);
/* Iterates: start with *it = 0; returns false at the end. */
bool ks_strmap_next(const ks_strmap_t *m, size_t *it, const char **key, void **val);

/* A uint64-keyed open-addressing map (key 0 is reserved). */
typedef struct ks_u64map_slot {
    uint64_t key; /* 0: empty, UINT64_MAX: deleted */
    void *val;
} ks_u64map_slot_t;

typedef struct ks_u64map {
    ks_u64map_slot_t *slots;
    size_t cap, count, used;
} ks_u64map_t;

void ks_u64map_free(ks_u64map_t *m);
int ks_u64map_put(ks_u64map_t *m, uint64_t key, void *val);
bool ks_u64map_get(const ks_u64map_t *m, uint64_t key, void **val);
bool ks_u64map_del(ks_u64map_t *m, uint64_t key);
bool ks_u64map_next(const ks_u64map_t *m, size_t *it, uint64_t *key, void **val);

#endif
