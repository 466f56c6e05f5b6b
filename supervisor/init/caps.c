/* caps.c - what "root" inside a sandbox may keep; the default user keeps nothing.
 * Docker's default set minus NET_RAW and MKNOD. All of these act only on
 * objects owned by the sandbox's user namespace. */
#include "caps.h"

#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>

static const cap_value_t root_caps[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FOWNER,           CAP_FSETID,     CAP_KILL,
    CAP_SETGID, CAP_SETUID,       CAP_SETPCAP,          CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT, CAP_AUDIT_WRITE, CAP_SETFCAP,
};
#define NROOT (int)(sizeof(root_caps) / sizeof(root_caps[0]))

static int kept(cap_value_t c, int keep_root)
{
    if (!keep_root) return 0;
    for (int i = 0; i < NROOT; i++)
        if (root_caps[i] == c) return 1;
    return 0;
}

int caps_limit_bounding(int keep_root)
{
    if (cap_reset_ambient() < 0 && errno != EINVAL) return -errno;
    for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
        if (kept(c, keep_root)) continue;
        if (cap_drop_bound(c) < 0 && errno != EINVAL) return -errno;
    }
    return 0;
}

int caps_apply(int keep_root)
{
    cap_t caps = cap_init(); /* all clear */
    if (!caps) return -errno;
    int r = 0;
    if (keep_root) {
        if (cap_set_flag(caps, CAP_EFFECTIVE, NROOT, root_caps, CAP_SET) < 0 ||
            cap_set_flag(caps, CAP_PERMITTED, NROOT, root_caps, CAP_SET) < 0 ||
            cap_set_flag(caps, CAP_INHERITABLE, NROOT, root_caps, CAP_SET) < 0)
            r = -errno;
    }
    if (r == 0 && cap_set_proc(caps) < 0) r = -errno;
    cap_free(caps);
    return r;
}
