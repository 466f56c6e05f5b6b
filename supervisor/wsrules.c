/* wsrules.c - workspace names and id mapping. See wsrules.h. */
#include "wsrules.h"

#include <stdio.h>
#include <string.h>

int ws_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > WS_NAME_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return 0;
    }
    return 1;
}

/* first..first+count-1 is a range of real ids other than root's */
static int usable_range(uint32_t first, uint32_t count)
{
    return first > 0 && count > 0 && (uint64_t)first + count - 1 <= 0xfffffffeULL;
}

int ws_idmap_text(uint32_t disk_base, uint32_t host_base, uint32_t count, char *buf, size_t cap)
{
    if (!usable_range(disk_base, count) || !usable_range(host_base, count)) return -1;
    /* uid_map lines are "inside outside count": for an idmapped mount,
     * "inside" is the id stored on disk, "outside" the id the mount shows. */
    int n = snprintf(buf, cap, "0 0 1\n%u %u %u\n", disk_base, host_base, count);
    if (n < 0 || (size_t)n >= cap) return -1;
    return n;
}
