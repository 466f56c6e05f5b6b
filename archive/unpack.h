/* unpack.h - tar entries onto disk under sbx's policy, into a fresh staging
 * directory (extract.c then moves them into place). Shared by sbx-archive
 * (PUT .../archive, as the sandbox's user inside the sandbox) and sbx (the
 * download side of sbx cp, on the host); the archive is untrusted in both.
 *
 * libarchive only reads and decompresses; every file, directory and link is
 * made by this code relative to the staging directory's fd, with openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV on every path:
 *
 *   - names: names.h (absolute names and ".." refused);
 *   - nothing is created through a symlink: an entry below an earlier
 *     symlink entry is refused, so each entry's name is its physical place;
 *   - symlinks: with contain_symlinks, targets must stay inside (names.h);
 *     without it (sbx cp downloads) any target is created, never followed;
 *   - hard links: only to a regular file that an earlier entry made;
 *   - device nodes, FIFOs, sockets: refused;
 *   - setuid and setgid bits: cleared (and counted); owners are not
 *     restored (everything belongs to whoever extracts); no xattrs or ACLs;
 *   - an entry over an existing one replaces it (a later entry wins, as in
 *     tar), except that a directory is never replaced by a non-directory;
 *   - directories are made 0700 while entries go into them; their modes and
 *     times are recorded (struct arc_dirs) and applied once they are in place;
 *   - limits: entries, and unpacked bytes (the sizes the headers declare).
 *
 * Refusals are SBX_E_INVALID "unsafe_entry" naming the entry and the reason;
 * an unreadable archive SBX_E_INVALID "invalid_archive"; a limit
 * SBX_E_TOOLARGE "archive_too_large"; system call failures carry their errno
 * (kind internal). */
#ifndef SBX_ARCHIVE_UNPACK_H
#define SBX_ARCHIVE_UNPACK_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "names.h"

struct archive;

struct arc_stats {
    uint64_t entries, bytes; /* bytes: of regular files */
    uint64_t files, dirs, symlinks, hardlinks;
    uint64_t setid_cleared; /* unpack: entries whose setuid/setgid bits were cleared */
    uint64_t skipped;       /* pack: sockets, FIFOs, devices, mount points not descended */
};

struct arc_dir {
    char *path; /* relative to the extraction's root */
    mode_t mode;
    struct timespec mtime; /* tv_nsec UTIME_OMIT: keep */
    size_t seq;            /* order of appearance: the last record of a path wins */
    int merged;            /* it already existed at the destination: left as it was */
};

struct arc_dirs {
    struct arc_dir *v;
    size_t n, cap;
    size_t path_bytes; /* bounded: ARC_DIRS_PATH_MAX */
};

#define ARC_DIRS_PATH_MAX ((size_t)64 << 20)
#define ARC_TRAILING_MAX ((size_t)1 << 20) /* bytes accepted after the end of the archive */

struct arc_unpack_opts {
    enum arc_format format;         /* ARC_AUTO: tar, plain or gzip/zstd/xz/bzip2-compressed */
    uint64_t max_bytes, max_entries;
    int contain_symlinks;           /* refuse symlinks whose target leaves the tree */
    const volatile sig_atomic_t *stop; /* non-NULL and set: give up at the next interrupted read */
};

/* A reader for o->format, with decoders built into libarchive only (never
 * an external program). Create it before entering a sandbox: nothing is
 * loaded from the filesystem afterwards. NULL with err on failure. */
struct archive *arc_reader_new(enum arc_format format, sbx_err *err);
void arc_reader_free(struct archive *reader); /* NULL is fine */

/* Read the archive from infd (a reader from arc_reader_new, freed here) and
 * create its entries in stagefd (an empty directory). Reads infd to its end
 * (at most ARC_TRAILING_MAX bytes after the archive). On failure what was
 * made stays in stagefd: the caller removes the directory. */
int arc_unpack(struct archive *reader, int infd, int stagefd, const struct arc_unpack_opts *o,
               struct arc_stats *st, struct arc_dirs *dirs, sbx_err *err);

void arc_dirs_free(struct arc_dirs *d);

#endif
