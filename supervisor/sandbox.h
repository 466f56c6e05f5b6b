/* sandbox.h - start a sandbox: namespaces, root filesystem, init.
 *
 * Order (each step in the process the kernel needs it in):
 *   sbxd     clone3(NEWNET|NEWNS|INTO_CGROUP) -> setup child C   (root, initial userns)
 *   C        join v1 cgroups (hybrid), lo up, make / private,
 *            create the session userns (ids mapped to the slot's host range),
 *            idmapped read-only image + overlay (upper = workspace) at <ws>/merged
 *            (a named workspace: idmapped from its ids to the session's first),
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
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "error.h"
#include "seccomp.h"

struct sandbox_spec {
    /* known before the request (sandbox_prepare) */
    const char *id;
    const char *hostname;
    const char *ws_dir; /* <state>/sessions/<id>: upper, work, lower, merged */
    uid_t id_base;      /* host id of sandbox id 0 */
    uint32_t id_count;
    const struct cg *cg;
    enum cg_mode cg_mode;
    int init_memfd; /* sealed memfd holding sbx-init */
    const struct seccomp_prog *seccomp;
    const char *resolv_conf; /* written to /etc/resolv.conf when set (egress DNS) */
    const char *ca_pem;      /* the node CA, installed in /etc/ssl/certs when set */
    /* from the request (sandbox_launch) */
    const char *image_rootfs; /* read-only lower layer */
    uint64_t tmp_size;
    int idmap; /* image filesystem supports idmapped mounts */
    /* a named workspace (supervisor/workspace.h): its dir, with upper/ and
     * work/, replaces <ws_dir>/upper and work; NULL or "": the session's own */
    const char *workspace;
    uid_t workspace_id_base; /* host id of sandbox id 0 in the workspace's files */
};

struct sandbox {
    pid_t setup_pid; /* the setup child C while it waits for GO */
    int setup_pidfd; /* signalled and reaped through this: never a recycled pid */
    pid_t init_pid;  /* host pid of the sandbox's init, once launched */
    int pidfd;
    int ctl_fd; /* SOCK_SEQPACKET to C, then to sbx-init; CLOEXEC */
};

/* Create the workspace dirs and fork the setup child, which does every step
 * that does not depend on the request and then reports IP_SETUP_WARM on
 * sb->ctl_fd (blocking socket). Does not wait. */
int sandbox_prepare(const struct sandbox_spec *spec, struct sandbox *sb, sbx_err *err);
/* Block (bounded) until the setup child reports WARM. */
int sandbox_wait_warm(struct sandbox *sb, sbx_err *err);
/* Handle one message while waiting asynchronously: 1 = warm, 0 = not yet,
 * <0 = the setup failed (err says why). */
int sandbox_recv_warm(struct sandbox *sb, sbx_err *err);
/* Send the request's part (image, /tmp size) and wait (bounded) for init's
 * READY; the control socket is then nonblocking. */
int sandbox_launch(struct sandbox *sb, const struct sandbox_spec *spec, sbx_err *err);
/* Kill and reap whatever was started (setup child or init); close fds. */
void sandbox_abort(struct sandbox *sb);
/* Start time of a process (clock ticks since boot, /proc/PID/stat field 22):
 * with the pid, it names one process for good. 0 or -errno. */
int sandbox_starttime(pid_t pid, uint64_t *out);
/* After an sbxd restart: pin the sandbox's init (it must still be the
 * process that started at starttime), take its control socket over with
 * pidfd_getfd and greet it (IP_HELLO). init answers with IP_ADOPT records
 * and IP_ADOPT_DONE on sb->ctl_fd (blocking). */
int sandbox_reattach(struct sandbox *sb, pid_t init_pid, uint64_t starttime, sbx_err *err);
/* The open files limit sandboxes start with (sbxd raises its own soft limit:
 * main.c); set in the setup child, inherited by init and every exec. */
void sandbox_set_nofile(const struct rlimit *rl);
/* Probe once whether dir's filesystem supports idmapped mounts. */
int sandbox_probe_idmap(const char *dir);

#endif
