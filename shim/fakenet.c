/* fakenet.c - name <-> fake address map of one session. See fakenet.h. */
#include "fakenet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

int fakenet_init(struct fakenet *f, uint32_t base, int prefix, uint32_t cap, uint32_t start)
{
    memset(f, 0, sizeof(*f));
    if (prefix < 8 || prefix > 30) return -1;
    f->mask = 0xFFFFFFFFu << (32 - prefix);
    f->base = base & f->mask;
    f->usable = (~f->mask) - 1; /* minus network and last address */
    f->cap = cap < f->usable ? cap : f->usable;
    f->start = start % f->usable;
    return 0;
}

static uint32_t addr_of(const struct fakenet *f, uint32_t i)
{
    return f->base + 1 + (uint32_t)(((uint64_t)f->start + i) % f->usable);
}

void fakenet_free(struct fakenet *f)
{
    for (uint32_t i = 0; i < f->count; i++)
        free(f->names[i]);
    free(f->names);
    free(f->slots);
    f->names = NULL;
    f->slots = NULL;
    f->count = f->names_cap = f->nslots = 0;
}

/* Slot holding name, or the empty slot where it would go. */
static uint32_t find_slot(const struct fakenet *f, const char *name)
{
    uint32_t m = f->nslots - 1;
    for (uint32_t i = hash_name(name) & m;; i = (i + 1) & m) {
        uint32_t v = f->slots[i];
        if (v == 0 || strcmp(f->names[v - 1], name) == 0) return i;
    }
}

static int grow_slots(struct fakenet *f)
{
    uint32_t n = f->nslots ? f->nslots * 2 : 64;
    uint32_t *s = calloc(n, sizeof(*s));
    if (!s) return -1;
    free(f->slots);
    f->slots = s;
    f->nslots = n;
    for (uint32_t i = 0; i < f->count; i++)
        f->slots[find_slot(f, f->names[i])] = i + 1;
    return 0;
}

int fakenet_get(struct fakenet *f, const char *name, uint32_t *addr)
{
    if (f->nslots) {
        uint32_t v = f->slots[find_slot(f, name)];
        if (v) {
            *addr = addr_of(f, v - 1);
            return 0;
        }
    }
    if (f->count >= f->cap) {
        errno = ENOSPC;
        return -1;
    }
    if ((f->count + 1) * 2 > f->nslots && grow_slots(f) < 0) {
        errno = ENOMEM;
        return -1;
    }
    if (f->count == f->names_cap) {
        uint32_t n = f->names_cap ? f->names_cap * 2 : 64;
        char **nn = realloc(f->names, n * sizeof(*nn));
        if (!nn) {
            errno = ENOMEM;
            return -1;
        }
        f->names = nn;
        f->names_cap = n;
    }
    char *copy = strdup(name);
    if (!copy) {
        errno = ENOMEM;
        return -1;
    }
    f->names[f->count] = copy;
    f->count++;
    f->slots[find_slot(f, name)] = f->count;
    *addr = addr_of(f, f->count - 1);
    return 0;
}

int fakenet_contains(const struct fakenet *f, uint32_t addr)
{
    return (addr & f->mask) == f->base;
}

const char *fakenet_name(const struct fakenet *f, uint32_t addr)
{
    if (!fakenet_contains(f, addr)) return NULL;
    uint32_t off = addr - f->base;
    if (off == 0 || off > f->usable) return NULL; /* network or last address */
    uint32_t i = (uint32_t)(((uint64_t)off - 1 + f->usable - f->start) % f->usable);
    return i < f->count ? f->names[i] : NULL;
}
