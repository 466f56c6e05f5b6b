/* layer.h - unpack one filesystem layer (a tar stream) into a directory with
 * libarchive, under sbx's image policy:
 *
 *   - entry names are relative to the layer root: a leading "/" or "./" is
 *     dropped (as tar does); a ".." component refuses the whole import;
 *   - nothing is ever written through a symlink (ARCHIVE_EXTRACT_SECURE_SYMLINKS):
 *     an archive that plants "etc -> /etc" and then writes "etc/x" is refused;
 *   - hard links must point inside the same layer (same ".." rule);
 *   - block and character devices (and sockets) are skipped and counted: a
 *     sandbox gets its own /dev;
 *   - setuid bits are cleared everywhere, setgid on everything but directories;
 *   - extended attributes and ACLs are not restored (no file capabilities, no
 *     overlayfs control attributes smuggled in);
 *   - numeric owners are kept (the sandbox sees them through an idmapped mount);
 *   - entry count and unpacked size are bounded per import.
 * With whiteouts on, OCI/docker whiteouts become overlayfs ones: ".wh.NAME" a
 * 0/0 character device NAME, ".wh..wh..opq" the trusted.overlay.opaque xattr. */
#ifndef SBX_IMPORT_LAYER_H
#define SBX_IMPORT_LAYER_H

#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>

#include "error.h"

struct imp_limits {
    uint64_t max_bytes;   /* unpacked file bytes, all layers of one import */
    uint64_t max_entries; /* archive entries, all layers of one import */
};

struct imp_totals {
    uint64_t bytes, entries;
    uint64_t devices_skipped, setid_cleared, whiteouts;
};

/* Unpack src into dir (absolute path, an existing empty directory). pre: entries
 * already read (directories only, no data) to apply first; cur: the entry src
 * is positioned on (its data not yet read), or NULL to start with the next
 * header. The process's working directory is changed to dir. */
int layer_extract(struct archive *src, struct archive_entry **pre, int npre,
                  struct archive_entry *cur, const char *dir, int whiteouts,
                  const struct imp_limits *lim, struct imp_totals *tot, sbx_err *err);

#endif
