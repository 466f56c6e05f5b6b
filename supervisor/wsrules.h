/* wsrules.h - the pure logic of named workspaces (unit-tested): what a
 * workspace name may be, and the id mapping that shows a workspace's files to
 * whichever session attaches it.
 *
 * A workspace's files keep, on disk, the host ids of the range they were first
 * written in (its "disk base", recorded in its workspace.json). A session on
 * another range sees them through an idmapped mount of the workspace that maps
 * disk base + i to the session's base + i: a file its sandbox uid 1000 wrote
 * in one session is uid 1000 in every later one, and nothing on disk is ever
 * rewritten (see supervisor/workspace.c for why not a chown walk). */
#ifndef SBX_WSRULES_H
#define SBX_WSRULES_H

#include <stddef.h>
#include <stdint.h>

#define WS_NAME_MAX 63

/* [a-z0-9][a-z0-9._-]{0,62} */
int ws_name_valid(const char *name);

/* The uid_map/gid_map text of the user namespace that idmaps a workspace for
 * a session: disk ids disk_base..disk_base+count-1 appear as
 * host_base..host_base+count-1, and host root (overlayfs's mounter, which
 * creates its work files and whiteouts) stays itself. Both ranges must lie in
 * 1..2^32-2 (0 is root's, 2^32-1 is no id). Returns the text's length, or -1
 * if a range is unusable or buf is too small. */
int ws_idmap_text(uint32_t disk_base, uint32_t host_base, uint32_t count, char *buf, size_t cap);

#endif
