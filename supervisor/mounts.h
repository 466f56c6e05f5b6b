/* mounts.h - the sandbox's mount sequence, written top to bottom in the order
 * the kernel sees it (bubblewrap habit). */
#ifndef SBX_MOUNTS_H
#define SBX_MOUNTS_H

#include "error.h"
#include "sandbox.h"

/* In the setup child (initial userns, private mount ns): idmapped read-only
 * image at <ws>/lower (plain lower dir if !spec->idmap) and the overlay root
 * at <ws>/merged. */
int mounts_prepare_root(const struct sandbox_spec *spec, int userns_fd, sbx_err *err);
/* In the sandbox's pid 1 (session userns, own mount ns): proc, dev, tmp,
 * masked and read-only paths, pivot_root into rootfd (<ws>/merged, opened
 * by the setup child as host root: the workspace path itself stays 0700). */
int mounts_enter_root(int rootfd, const struct sandbox_spec *spec, sbx_err *err);

#endif
