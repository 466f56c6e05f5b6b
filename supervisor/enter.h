/* enter.h - become "code in the sandbox": join a session's namespaces
 * through its init's pidfd and drop to the sandbox's user. Shared by the
 * file API's workers (files.c) and sbx-archive (supervisor/archive/), so
 * that both reach exactly what sandboxed code could reach.
 *
 * Must be called by root in the host's namespaces, single-threaded. After
 * it, paths resolve in the sandbox's own filesystem (its mount namespace,
 * cwd "/"), the network is the sandbox's (never the host's), and the
 * process is uid/gid 1000 with no capabilities, or (root = 1) uid 0 of the
 * sandbox's user namespace with its reduced capability set
 * (supervisor/init/caps.c); no_new_privs and not dumpable either way. */
#ifndef SBX_ENTER_H
#define SBX_ENTER_H

#include "error.h"

#define SBX_SANDBOX_UID 1000 /* the sandbox's default user ("sandbox") */
#define SBX_SANDBOX_GID 1000

/* Join the user, mount and network namespaces of the process behind pidfd
 * and become the sandbox's user (or root). 0, or <0 with err set (the
 * process is then in an unspecified state: it must only report and exit). */
int sandbox_enter(int pidfd, int root, sbx_err *err);

#endif
