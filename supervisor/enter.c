/* enter.c - see enter.h. */
#include "enter.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "init/caps.h"

int sandbox_enter(int pidfd, int root, sbx_err *err)
{
    /* The network too: a helper that parses untrusted input must not be able
     * to reach the host's network, only the sandbox's (which sbx-shim
     * guards). One setns for all three: the user namespace is joined first. */
    if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) < 0)
        return sbx_error(err, errno, "enter the sandbox");
    gid_t g = root ? 0 : SBX_SANDBOX_GID;
    uid_t u = root ? 0 : SBX_SANDBOX_UID;
    int r = caps_limit_bounding(root);
    if (r == 0 && (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0))
        r = -errno;
    if (r == 0) r = caps_apply(root);
    /* (the uid change cleared the parent-death signal: set it again) */
    if (r == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
                   prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                   prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || chdir("/") < 0))
        r = -errno;
    if (r < 0) return sbx_error(err, -r, "become the sandbox's user");
    return 0;
}
