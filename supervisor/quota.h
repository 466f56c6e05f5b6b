/* quota.h - per-session disk quotas (bytes and inodes) with ext4/xfs project
 * quotas.
 *
 * Every session's writable layer (STATE/sessions/ID: upper/ and work/) and
 * every named workspace (STATE/workspaces/NAME) is a quota project: its
 * directories carry a project id with FS_XFLAG_PROJINHERIT (set by sbxd before
 * anything is written in them; everything created below inherits it), and
 * quotactl(Q_SETQUOTA, PRJQUOTA) gives the id a block and an inode hard limit.
 * Writes beyond them fail with EDQUOT (ENOSPC on some paths). Changing a
 * file's project id or the inherit flag needs the init user namespace, which
 * no sandbox is in.
 *
 * Project ids: a session's is its id slot + 1 (unique on the node while the
 * slot is held, reused with it; its limits are cleared when the session
 * goes); a named workspace's is QUOTA_WS_PROJID_BASE + n, kept in its
 * workspace.json. Nothing else needs recording: the ids follow from the
 * session records and workspace.json across sbxd restarts.
 *
 * Where the quotas live (quota_init, --disk-quota):
 *   - the filesystem of STATE/sessions already has project quotas on (ext4 or
 *     xfs mounted with prjquota): used as it is ("project");
 *   - else sbxd keeps its session data on a volume of its own: the sparse
 *     image STATE/volume.img (--disk-volume-size), formatted ext4 with the
 *     quota and project features once, loop-mounted with prjquota at
 *     STATE/volume, and bound onto STATE/sessions and STATE/workspaces so every
 *     path stays the same ("volume"). Its size also caps what all sessions
 *     together can write. It stays mounted when sbxd exits (the paths keep
 *     their files; sessions may outlive sbxd) and the next sbxd reuses it:
 *     it finds it mounted, or attaches it again (reusing a loop device that
 *     still has the image: never two mounts of one image). Unmount it by
 *     hand (umount STATE/sessions STATE/workspaces STATE/volume) with sbxd
 *     stopped and no session left; the loop device goes with the last
 *     unmount;
 *   - a kernel without quota support (CONFIG_QUOTA) still gets the volume:
 *     the host's disk is protected by its size, per-session limits are not
 *     enforced ("volume-total"), and requests that ask for disk limits get
 *     503 disk_quota_unsupported;
 *   - without loop devices or mkfs.ext4, or with --disk-quota off: no quota
 *     ("off"; the same 503). sbxd logs why at start-up. */
#ifndef SBX_QUOTA_H
#define SBX_QUOTA_H

#include <stdint.h>

#include "error.h"

#define QUOTA_WS_PROJID_BASE 0x01000000u

enum quota_mode { QUOTA_OFF = 0, QUOTA_VOLUME_TOTAL, QUOTA_PROJECT };

struct quota {
    enum quota_mode mode;
    int fsfd;      /* a directory on the quota filesystem (quotactl_fd) */
    int volume;    /* STATE/volume is in use */
    char why[256]; /* why not QUOTA_PROJECT */
    char volume_dir[4096];
    uint64_t volume_size; /* --disk-volume-size; 0 = default */
    int disabled;         /* --disk-quota off */
};

struct sbxd;

/* At start-up, after the state dir is locked and before STATE/sessions and
 * STATE/workspaces are used. Fails only on a broken existing volume. */
int quota_init(struct sbxd *d, sbx_err *err);
/* At exit (the volume stays mounted). */
void quota_fini(struct sbxd *d);
const char *quota_mode_name(enum quota_mode m);
/* Give directory path project id projid with the inherit flag. */
int quota_tag_dir(struct sbxd *d, const char *path, uint32_t projid, sbx_err *err);
/* Hard limits for projid (0, 0: none). */
int quota_set(struct sbxd *d, uint32_t projid, uint64_t bytes, uint64_t inodes, sbx_err *err);
/* Usage of projid; -1 if unknown. */
int quota_usage(struct sbxd *d, uint32_t projid, uint64_t *bytes, uint64_t *inodes);

#endif
