/* userns.h - per-session user namespaces and their host id ranges.
 * Slot n maps sandbox ids 0..65535 to host ids base + n*65536 ... */
#ifndef SBX_USERNS_H
#define SBX_USERNS_H

#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define USERNS_IDS_PER_SLOT 65536u

struct slot_alloc {
    uint32_t base;   /* first host id of slot 0 */
    uint32_t nslots;
    uint8_t *used;   /* bitmap */
};

int slots_init(struct slot_alloc *a, uint32_t base, uint32_t nslots, sbx_err *err);
void slots_free(struct slot_alloc *a);
/* Returns a free slot or -1 (503 "unavailable") if all are used. */
int slot_get(struct slot_alloc *a, sbx_err *err);
/* Mark a given slot used (a session taken over after a restart): 0, or -1
 * if it is out of range or already used. */
int slot_take(struct slot_alloc *a, int slot);
void slot_put(struct slot_alloc *a, int slot);
uid_t slot_host_base(const struct slot_alloc *a, int slot);

/* Create a user namespace mapping 0..count-1 to host base..base+count-1 and
 * return an fd to it (O_CLOEXEC). Must run as root in the initial user
 * namespace. Briefly forks a holder process that lives until the fd is open. */
int userns_create(uid_t base, uint32_t count, sbx_err *err);
/* The same with map as the text of both uid_map and gid_map (one or more
 * "inside outside count" lines), e.g. for an idmapped mount. */
int userns_create_map(const char *map, sbx_err *err);

#endif
