/* String-keyed open-addressing hash map with linear probing (see strmap.h). */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include <kestrel/error.h>

static char tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void ks_strmap_free(ks_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static int grow(ks_strmap_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->count * 4 < m->cap) /* mostly tombstones: rehash at the same size */
        ncap = m->cap;
    ks_strmap_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return KS_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        ks_strmap_slot_t *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->count;
    return KS_OK;
}

static ks_strmap_slot_t *find(const ks_strmap_t *m, const char *key, uint64_t h)
{
    if (!m->cap)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        ks_strmap_slot_t *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

int ks_strmap_put(ks_strmap_t *m, const char *key, void *val)
{
    uint64_t h = hash_str(key);
    ks_strmap_slot_t *s = find(m, key, h);
    if (s) {
        s->val = val;
        return KS_OK;
    }
    if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) != KS_OK)
        return KS_ENOMEM;
    char *k = strdup(key);
    if (!k)
        return KS_ENOMEM;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (ks_strmap_slot_t){k, h, val};
    m->count++;
    return KS_OK;
}

bool ks_strmap_get(const ks_strmap_t *m, const char *key, void **val)
{
    ks_strmap_slot_t *s = find(m, key, hash_str(key));
    if (s && val)
        *val = s->val;
    return s != NULL;
}

bool ks_strmap_del(ks_strmap_t *m, const char *key)
{
    ks_strmap_slot_t *s = find(m, key, hash_str(key));
    if (!s)
        return false;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->count--;
    return true;
}

bool ks_strmap_next(const ks_strmap_t *m, size_t *it, const char **key, void **val)
{
    for (; *it < m->cap; (*it)++) {
        ks_strmap_slot_t *s = &m->slots[*it];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            (*it)++;
            return true;
        }
    }
    return false;
}

#define U64_TOMB UINT64_MAX

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

void ks_u64map_free(ks_u64map_t *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static int u64_grow(ks_u64map_t *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (m->count * 4 < m->cap)
        ncap = m->cap;
    ks_u64map_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return KS_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        ks_u64map_slot_t *s = &m->slots[i];
        if (!s->key || s->key == U64_TOMB)
            continue;
        size_t j = mix64(s->key) & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->count;
    return KS_OK;
}

static ks_u64map_slot_t *u64_find(const ks_u64map_t *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        ks_u64map_slot_t *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key == key)
            return s;
    }
}

int ks_u64map_put(ks_u64map_t *m, uint64_t key, void *val)
{
    if (key == 0 || key == U64_TOMB)
        return KS_EINVAL;
    ks_u64map_slot_t *s = u64_find(m, key);
    if (s) {
        s->val = val;
        return KS_OK;
    }
    if ((m->used + 1) * 4 >= m->cap * 3 && u64_grow(m) != KS_OK)
        return KS_ENOMEM;
    size_t i = mix64(key) & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != U64_TOMB)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (ks_u64map_slot_t){key, val};
    m->count++;
    return KS_OK;
}

bool ks_u64map_get(const ks_u64map_t *m, uint64_t key, void **val)
{
    ks_u64map_slot_t *s = u64_find(m, key);
    if (s && val)
        *val = s->val;
    return s != NULL;
}

bool ks_u64map_del(ks_u64map_t *m, uint64_t key)
{
    ks_u64map_slot_t *s = u64_find(m, key);
    if (!s)
        return false;
    s->key = U64_TOMB;
    s->val = NULL;
    m->count--;
    return true;
}

bool ks_u64map_next(const ks_u64map_t *m, size_t *it, uint64_t *key, void **val)
{
    for (; *it < m->cap; (*it)++) {
        ks_u64map_slot_t *s = &m->slots[*it];
        if (s->key && s->key != U64_TOMB) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            (*it)++;
            return true;
        }
    }
    return false;
}
