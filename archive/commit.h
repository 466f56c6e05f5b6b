/* commit.h - move an extracted tree from its staging directory into the
 * destination directory (see extract.h for the whole flow).
 *
 * Merging, as cp -r or tar would: an entry the destination lacks is renamed
 * into it; a file or link replaces what is there (rename(2), atomic per
 * entry; a directory there is never replaced: 409 conflict); a directory
 * merges into an existing directory, entry by entry, and replaces a file or
 * symlink of its name (never followed). Existing directories keep their mode;
 * directories that were moved in get the mode and time the archive gave them
 * (struct arc_dirs), once all their entries are in.
 *
 * All or nothing: every move is checked first (conflicts, mount points,
 * directories the user may not write to), and only then are the moves made,
 * so a refused commit changes nothing. What can still fail half way is a
 * rename the check could not predict (a race with other writers, a full
 * disk's metadata): the error then says so. No path is followed through a
 * symlink (openat2 RESOLVE_NO_SYMLINKS below the destination). */
#ifndef SBX_ARCHIVE_COMMIT_H
#define SBX_ARCHIVE_COMMIT_H

#include "error.h"
#include "unpack.h"

/* Merge stagefd's entries into dstfd (a directory on the same filesystem;
 * label: its path, for messages). dirs: sorted and marked here. */
int arc_commit(int stagefd, int dstfd, const char *label, struct arc_dirs *dirs, sbx_err *err);
/* rm -r of name in dirfd: never follows symlinks, at most ARC_DEPTH_MAX + 8 levels. */
int arc_rmtree(int dirfd, const char *name, sbx_err *err);

#endif
