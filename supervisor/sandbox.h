/* sandbox.h - start a sandbox: namespaces, root filesystem, init.
 *
 * Order (each step in the process the kernel needs it in):
 *   sbxd     clone3(NEWNET|NEWNS|INTO_CGROUP) -> setup child C   (root, initial userns)
 *   C        join v1 cgroups (hybrid), lo up, make / private,
 *            create the session userns (ids mapped to the slot's host range),
 *            idmapped read-only image + overlay (upper = workspace) at <ws>/merged,
 *            setns(userns), become ns root, unshare(NEWNS|NEWIPC|NEWUTS|NEWCGROUP),
 *            clone3(NEWPID|PARENT|PIDFD) -> P1, send P1's pid + pidfd to sbxd, exit
 *   P1       (pid 1) proc, dev, tmp, masked/read-only paths, pivot_root,
 *            hostname, exec sbx-init from a sealed memfd
 *   sbx-init sends READY on the control socket.
 * So the net namespace is owned by the initial user namespace; pid, mount,
 * ipc, uts and cgroup namespaces by the session's. */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "error.h"
#include "seccomp.h"

struct sandbox_spec {
    const char *id;
    const char *hostname;
    const char *image_rootfs; /* read-only lower layer */
    const char *ws_dir;       /* <state>/sessions/<id>: upper, work, lower, merged */
    uid_t id_base;            /* host id of sandbox id 0 */
    uint32_t id_count;
    const struct cg *cg;
    enum cg_mode cg_mode;
    uint64_t tmp_size;
    int init_memfd; /* sealed memfd holding sbx-init */
    int idmap;      /* image filesystem supports idmapped mounts */
    const struct seccomp_prog *seccomp;
};

struct sandbox {
    pid_t init_pid; /* host pid */
    int pidfd;
    int ctl_fd; /* SOCK_SEQPACKET to sbx-init, nonblocking, CLOEXEC */
};

/* Create the workspace dirs, start the sandbox and wait (bounded) for init's
 * READY. On failure every process started is gone (the caller removes the
 * cgroup and workspace). */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, sbx_err *err);
/* Probe once whether dir's filesystem supports idmapped mounts. */
int sandbox_probe_idmap(const char *dir);

#endif
