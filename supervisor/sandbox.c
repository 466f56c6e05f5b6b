/* sandbox.c - the clone/unshare sequence and the parent/child handshake.
 * See sandbox.h for the order. Code after fork runs in sbxd's children: it
 * reports failures as IP_SETUP_ERROR on the control socket and _exit()s;
 * it never returns into sbxd's event loop. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "initproto.h"
#include "log.h"
#include "mounts.h"
#include "netns.h"
#include "userns.h"
#include "util.h"

#define SETUP_TIMEOUT_MS 10000

static pid_t clone3_fork(uint64_t flags, int cgroup_fd, int *pidfd)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags;
    args.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
    if (flags & CLONE_INTO_CGROUP) args.cgroup = (uint64_t)cgroup_fd;
    if (flags & CLONE_PIDFD) args.pidfd = (uint64_t)(uintptr_t)pidfd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

static __attribute__((noreturn)) void child_fail(int ctl, sbx_err *err)
{
    ip_send_simple(ctl, IP_SETUP_ERROR, 0, 0, 0, err->msg);
    _exit(1);
}

/* Move fd to >= 100 (CLOEXEC), closing the original. */
static int move_high(int fd)
{
    int n = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    if (n >= 0) close(fd);
    return n;
}

static __attribute__((noreturn)) void pid1_main(const struct sandbox_spec *spec, int ctl)
{
    sbx_err err;
    sbx_error_clear(&err);
    int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        sbx_error(&err, errno, "open the new root");
        child_fail(ctl, &err);
    }
    if (mounts_enter_root(rootfd, spec, &err) < 0) child_fail(ctl, &err);
    close(rootfd);
    if (sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        sbx_error(&err, errno, "sethostname");
        child_fail(ctl, &err);
    }
    /* fds: 0-2 /dev/null, 3 control socket, 4 the init binary; nothing else. */
    int memfd = move_high(dup(spec->init_memfd));
    ctl = move_high(ctl);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (memfd < 0 || ctl < 0 || null < 0) {
        sbx_error(&err, errno, "prepare init fds");
        child_fail(ctl >= 0 ? ctl : 3, &err);
    }
    for (int i = 0; i < 3; i++) dup2(null, i);
    if (dup2(ctl, 3) < 0 || dup2(memfd, 4) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) < 0) {
        sbx_error(&err, errno, "prepare init fds");
        child_fail(ctl, &err);
    }
    syscall(SYS_close_range, 5, ~0U, 0);
    char *const argv[] = {(char *)"sbx-init", NULL};
    char *const envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
    sbx_error(&err, errno, "exec sbx-init");
    child_fail(3, &err);
}

static __attribute__((noreturn)) void setup_main(const struct sandbox_spec *spec, int ctl)
{
    sbx_err err;
    sbx_error_clear(&err);
    /* sbxd's other fds are all CLOEXEC; still, this child must not keep
     * the daemon's stdio tied to a client: keep only stderr for panics. */
    if (spec->cg_mode == CG_HYBRID) {
        for (int i = 0; i < CGV1_N; i++) {
            if (write(spec->cg->v1procs[i], "0", 1) != 1) {
                sbx_error(&err, errno, "join cgroup %s", spec->cg->v1[i]);
                child_fail(ctl, &err);
            }
        }
    }
    if (netns_loopback_up(&err) < 0) child_fail(ctl, &err);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        sbx_error(&err, errno, "make / private");
        child_fail(ctl, &err);
    }
    int userns = userns_create(spec->id_base, spec->id_count, &err);
    if (userns < 0) child_fail(ctl, &err);
    if (mounts_prepare_root(spec, userns, &err) < 0) child_fail(ctl, &err);
    /* Enter the new root while still host root (the workspace path is 0700).
     * unshare(CLONE_NEWNS) below moves the cwd to the copy of this mount in
     * the sandbox's mount namespace; pid 1 opens "." from there. */
    char merged[4096];
    snprintf(merged, sizeof(merged), "%s/merged", spec->ws_dir);
    if (chdir(merged) < 0) {
        sbx_error(&err, errno, "chdir %s", merged);
        child_fail(ctl, &err);
    }
    if (setns(userns, CLONE_NEWUSER) < 0) {
        sbx_error(&err, errno, "enter user namespace");
        child_fail(ctl, &err);
    }
    close(userns);
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
        sbx_error(&err, errno, "become root in the user namespace");
        child_fail(ctl, &err);
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0) {
        sbx_error(&err, errno, "unshare mount/ipc/uts/cgroup namespaces");
        child_fail(ctl, &err);
    }
    int pidfd = -1;
    pid_t p1 = clone3_fork(CLONE_NEWPID | CLONE_PARENT | CLONE_PIDFD, -1, &pidfd);
    if (p1 < 0) {
        sbx_error(&err, errno, "clone pid namespace");
        child_fail(ctl, &err);
    }
    if (p1 == 0) pid1_main(spec, ctl);
    uint8_t msg[sizeof(struct ip_hdr) + 4];
    struct ip_buf b;
    ip_buf_init(&b);
    struct ip_hdr h = {IP_SETUP_PID, 0};
    ip_put_bytes(&b, &h, sizeof(h));
    ip_put_u32(&b, (uint32_t)p1);
    memcpy(msg, b.data, sizeof(msg));
    ip_buf_free(&b);
    int r = ip_send(ctl, msg, sizeof(msg), &pidfd, 1);
    _exit(r < 0 ? 1 : 0);
}

int sandbox_probe_idmap(const char *dir)
{
    /* open_tree + mount_setattr(IDMAP) on a detached clone: no visible effect. */
    sbx_err err;
    int userns = userns_create(0x7fff0000u, 1, &err);
    if (userns < 0) return 0;
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    int ok = 0;
    if (tree >= 0) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
        ok = syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) == 0;
        close(tree);
    }
    close(userns);
    return ok;
}

static int make_ws(const struct sandbox_spec *spec, sbx_err *err)
{
    static const char *const sub[] = {"upper", "work", "lower", "merged"};
    if (mkdir(spec->ws_dir, 0700) < 0) return sbx_error(err, errno, "create %s", spec->ws_dir);
    for (size_t i = 0; i < SBX_ARRAY_SIZE(sub); i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", spec->ws_dir, sub[i]);
        if (mkdir(p, 0755) < 0) return sbx_error(err, errno, "create %s", p);
    }
    /* The overlay root takes the upper dir's owner: the sandbox's root. */
    char up[4096];
    snprintf(up, sizeof(up), "%s/upper", spec->ws_dir);
    if (chown(up, spec->id_base, spec->id_base) < 0) return sbx_error(err, errno, "chown %s", up);
    return 0;
}

int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, sbx_err *err)
{
    sb->init_pid = -1;
    sb->pidfd = -1;
    sb->ctl_fd = -1;
    if (make_ws(spec, err) < 0) return sbx_error_wrap(err, "workspace");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_error(err, errno, "socketpair");
    _cleanup_close_ int ctl = sv[0];
    int child_ctl = sv[1];

    /* Queue the seccomp program for init before it starts. */
    {
        size_t n = sizeof(struct ip_hdr) + spec->seccomp->len * sizeof(struct sock_filter);
        _cleanup_free_ uint8_t *m = malloc(n);
        if (!m) {
            close(child_ctl);
            return sbx_error(err, ENOMEM, "seccomp message");
        }
        struct ip_hdr h = {IP_SECCOMP, 0};
        memcpy(m, &h, sizeof(h));
        memcpy(m + sizeof(h), spec->seccomp->insns, n - sizeof(h));
        int sndbuf = 4 << 20;
        setsockopt(ctl, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
        setsockopt(child_ctl, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
        int r = ip_send(ctl, m, n, NULL, 0);
        if (r < 0) {
            close(child_ctl);
            return sbx_error(err, -r, "send seccomp program");
        }
    }

    pid_t c = clone3_fork(CLONE_NEWNET | CLONE_NEWNS | CLONE_INTO_CGROUP, spec->cg->v2fd, NULL);
    if (c < 0) {
        int e = errno;
        close(child_ctl);
        return sbx_error(err, e, "clone sandbox (network + mount namespaces, cgroup %s)",
                         spec->cg->v2);
    }
    if (c == 0) {
        /* In the child: the socket must survive into init's exec. */
        int fd = fcntl(child_ctl, F_DUPFD, 3);
        setup_main(spec, fd < 0 ? child_ctl : fd);
    }
    close(child_ctl);

    /* Handshake: SETUP_PID (from C) then READY (from init); or an error/EOF. */
    int ret = -1;
    int pidfd = -1;
    pid_t p1 = -1;
    uint8_t buf[1024];
    double deadline = now_mono() + SETUP_TIMEOUT_MS / 1000.0;
    for (;;) {
        int left = (int)((deadline - now_mono()) * 1000);
        if (left <= 0) {
            sbx_error(err, ETIMEDOUT, "sandbox did not start within %d s", SETUP_TIMEOUT_MS / 1000);
            break;
        }
        struct pollfd pfd = {ctl, POLLIN, 0};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        int fds[IP_MAX_FDS], nfds = 0;
        ssize_t n = ip_recv(ctl, buf, sizeof(buf) - 1, fds, &nfds);
        if (n <= 0) {
            sbx_error(err, n < 0 ? (int)-n : 0, "sandbox setup ended without a word");
            break;
        }
        struct ip_hdr h;
        if ((size_t)n < sizeof(h)) continue;
        memcpy(&h, buf, sizeof(h));
        struct ip_buf rb;
        ip_buf_reader(&rb, buf + sizeof(h), (size_t)n - sizeof(h));
        if (h.type == IP_SETUP_PID && nfds == 1) {
            p1 = (pid_t)ip_get_u32(&rb);
            pidfd = fds[0];
        } else if (h.type == IP_SETUP_ERROR) {
            const char *m = ip_get_str(&rb);
            sbx_error(err, 0, "%s", m ? m : "unknown error");
            for (int i = 0; i < nfds; i++) close(fds[i]);
            break;
        } else if (h.type == IP_READY && pidfd >= 0) {
            ret = 0;
            break;
        } else {
            for (int i = 0; i < nfds; i++) close(fds[i]);
        }
    }
    while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {
    }
    if (ret < 0) {
        if (pidfd >= 0) {
            syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
            siginfo_t si;
            waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
            close(pidfd);
        }
        return sbx_error_wrap(err, "start sandbox");
    }
    int fl = fcntl(ctl, F_GETFL);
    fcntl(ctl, F_SETFL, fl | O_NONBLOCK);
    sb->init_pid = p1;
    sb->pidfd = pidfd;
    sb->ctl_fd = steal_fd(&ctl);
    return 0;
}
