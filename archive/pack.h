/* pack.h - a tar (plain, gzip or zstd) of a directory tree, written to an fd
 * as it is read: GET .../archive in sbx-archive (as the sandbox's user), the
 * upload side of sbx cp and sbx image import of a layout directory (on the
 * host).
 *
 * Entries are relative to the directory, in a stable order (names sorted in
 * each directory), pax format where ustar does not fit. Directories, regular
 * files and symlinks (never followed: archived as links) are archived, hard
 * links as hard links to the first name seen; sockets, FIFOs and device nodes
 * are skipped (counted), and so is what is below a mount point (the mount
 * point itself is archived as a directory). Numeric owners only (no name
 * lookups), no xattrs or ACLs. A file is read with a fresh open (O_NOFOLLOW,
 * never blocking) checked against what was listed, and exactly the size it
 * had then is archived: a file that grows meanwhile is cut there, one that
 * shrinks, or is replaced, is an error. Nothing is loaded from the
 * filesystem once arc_pack_begin returned. */
#ifndef SBX_ARCHIVE_PACK_H
#define SBX_ARCHIVE_PACK_H

#include "error.h"
#include "names.h"
#include "unpack.h"

struct archive;
struct archive_entry_linkresolver;

struct arc_pack_opts {
    enum arc_format format; /* ARC_TAR, ARC_TAR_GZ or ARC_TAR_ZST */
    int zero_owners;        /* uid/gid 0 in the archive (else the files' own) */
};

struct arc_packer {
    struct archive *w;
    struct archive_entry_linkresolver *lr;
    int zero_owners;
    char *buf;
};

/* Set up the writer on outfd (nothing is written yet). Encoders built into
 * libarchive only (never an external program). */
int arc_pack_begin(struct arc_packer *p, int outfd, const struct arc_pack_opts *o, sbx_err *err);
/* Archive the tree of dirfd (label: its path, for messages) and end the
 * archive. Errors writing outfd carry their errno (EPIPE: the reader left). */
int arc_pack_tree(struct arc_packer *p, int dirfd, const char *label, struct arc_stats *st,
                  sbx_err *err);
void arc_pack_free(struct arc_packer *p);

#endif
