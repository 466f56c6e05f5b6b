/* fakenet.h - a session's map between host names and fake IPv4 addresses.
 *
 * The shim's DNS answers an allowed name with an address from the fake net
 * (default 198.18.0.0/15); a later connection to that address is mapped back
 * to the name. Per session, so the same address may mean different names in
 * two sessions. Stable: once handed out, an address keeps its name for the
 * session's lifetime (never reused, never evicted); when the table is full
 * (cap names) new names are refused, which the DNS server answers SERVFAIL.
 * Addresses are handed out in order of first query from a starting offset
 * (random per session in sessions.c: a shim restarted by sbxd then hands out
 * different addresses than its predecessor, so an answer a sandbox cached
 * before the restart is most likely "not handed out" rather than another
 * name), wrapping around the net; the network address and the last address
 * of the net are never handed out. Pure logic, no I/O. */
#ifndef SBX_SHIM_FAKENET_H
#define SBX_SHIM_FAKENET_H

#include <stdint.h>

#define FAKENET_DEFAULT_CAP 65536

struct fakenet {
    uint32_t base;   /* host byte order */
    uint32_t mask;   /* host byte order netmask */
    uint32_t cap;    /* most names held */
    uint32_t usable; /* addresses in the net minus network and last */
    uint32_t start;  /* the first name gets base + 1 + start */
    uint32_t count;
    char **names; /* names[i] belongs to base + 1 + (start + i) % usable */
    uint32_t names_cap;
    uint32_t *slots; /* open addressing on the name: index + 1, 0 = empty */
    uint32_t nslots; /* power of two */
};

/* base: host byte order (bits outside the prefix are cleared); prefix 8..30.
 * cap is lowered to what the net holds; start is taken modulo the usable
 * addresses. Returns 0 or -1 (bad prefix). */
int fakenet_init(struct fakenet *f, uint32_t base, int prefix, uint32_t cap, uint32_t start);
void fakenet_free(struct fakenet *f);
/* The address (host byte order) of name, handing out the next one for a new
 * name. name must already be normalised. Returns 0, or -1 with errno ENOSPC
 * (table full) or ENOMEM. */
int fakenet_get(struct fakenet *f, const char *name, uint32_t *addr);
/* The name behind addr (host byte order), or NULL when not handed out. */
const char *fakenet_name(const struct fakenet *f, uint32_t addr);
/* 1 when addr (host byte order) lies in the net. */
int fakenet_contains(const struct fakenet *f, uint32_t addr);

#endif
