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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
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

/* Wait for GO from sbxd and fill in the request's part of spec. */
static int wait_go(int ctl, struct sandbox_spec *spec, sbx_err *err)
{
    static uint8_t buf[8192];
    int fds[IP_MAX_FDS], nfds = 0;
    ssize_t n = ip_recv(ctl, buf, sizeof(buf), fds, &nfds);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (n <= 0) return sbx_error(err, n < 0 ? (int)-n : 0, "waiting for the request");
    struct ip_hdr h;
    if ((size_t)n < sizeof(h)) return sbx_error(err, EPROTO, "short message");
    memcpy(&h, buf, sizeof(h));
    struct ip_buf b;
    ip_buf_reader(&b, buf + sizeof(h), (size_t)n - sizeof(h));
    spec->image_rootfs = ip_get_str(&b);
    spec->tmp_size = (uint64_t)ip_get_u32(&b) << 20;
    spec->idmap = (int)ip_get_u32(&b);
    spec->workspace = ip_get_str(&b);
    spec->workspace_id_base = (uid_t)ip_get_u32(&b);
    if (h.type != IP_SETUP_GO || b.failed) return sbx_error(err, EPROTO, "bad GO message");
    return 0;
}

/* Close every fd from 3 up but those in keep (n of them, -1 ignored). */
static void close_all_but(int *keep, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: a handful */
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)from) continue;
        if ((unsigned)keep[i] > from) syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

static __attribute__((noreturn)) void setup_main(struct sandbox_spec *spec, int ctl)
{
    sbx_err err;
    sbx_error_clear(&err);
    /* A warm setup child waiting for a request must not outlive sbxd. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(1);
    /* It is a fork of sbxd, and may wait a long time in the warm pool: it
     * must not keep copies of sbxd's fds (client connections, other
     * sessions' pipes and control sockets), which would hold back EOFs and
     * keep other sessions' namespaces alive. */
    int keep[2 + CGV1_N] = {ctl, spec->init_memfd};
    for (int i = 0; i < CGV1_N; i++) keep[2 + i] = spec->cg->v1procs[i];
    close_all_but(keep, 2 + CGV1_N);
    if (spec->cg_mode == CG_HYBRID) {
        for (int i = 0; i < CGV1_N; i++) {
            if (write(spec->cg->v1procs[i], "0", 1) != 1) {
                sbx_error(&err, errno, "join cgroup %s", spec->cg->v1[i]);
                child_fail(ctl, &err);
            }
        }
    }
    if (netns_loopback_up(&err) < 0 || netns_ipv6_default_off(&err) < 0) child_fail(ctl, &err);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        sbx_error(&err, errno, "make / private");
        child_fail(ctl, &err);
    }
    int userns = userns_create(spec->id_base, spec->id_count, &err);
    if (userns < 0) child_fail(ctl, &err);
    /* Everything above is request-independent: the warm pool stops here. */
    if (ip_send_simple(ctl, IP_SETUP_WARM, 0, 0, 0, NULL) < 0) _exit(1);
    if (wait_go(ctl, spec, &err) < 0) child_fail(ctl, &err);
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

static struct rlimit g_nofile;
static int g_nofile_set;

void sandbox_set_nofile(const struct rlimit *rl)
{
    g_nofile = *rl;
    g_nofile_set = 1;
}

int sandbox_prepare(const struct sandbox_spec *spec, struct sandbox *sb, sbx_err *err)
{
    sb->setup_pid = sb->init_pid = -1;
    sb->pidfd = sb->setup_pidfd = -1;
    sb->ctl_fd = -1;
    if (make_ws(spec, err) < 0) return sbx_error_wrap(err, "workspace");

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_error(err, errno, "socketpair");
    int sndbuf = 4 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
    int cpidfd = -1;
    pid_t c = clone3_fork(CLONE_NEWNET | CLONE_NEWNS | CLONE_INTO_CGROUP | CLONE_PIDFD,
                          spec->cg->v2fd, &cpidfd);
    if (c < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return sbx_error(err, e, "clone sandbox (network + mount namespaces, cgroup %s)",
                         spec->cg->v2);
    }
    if (c == 0) {
        /* In the child: the socket must survive into init's exec. */
        struct sandbox_spec copy = *spec;
        close(cpidfd);
        if (g_nofile_set) setrlimit(RLIMIT_NOFILE, &g_nofile);
        int fd = fcntl(sv[1], F_DUPFD, 3);
        setup_main(&copy, fd < 0 ? sv[1] : fd);
    }
    close(sv[1]);
    sb->setup_pid = c;
    sb->setup_pidfd = cpidfd;
    sb->ctl_fd = sv[0];
    return 0;
}

/* One message from the setup child (blocking recv). */
static int recv_setup(struct sandbox *sb, uint32_t *type, sbx_err *err)
{
    uint8_t buf[1024];
    int fds[IP_MAX_FDS], nfds = 0;
    ssize_t n = ip_recv(sb->ctl_fd, buf, sizeof(buf) - 1, fds, &nfds);
    if (n == -EAGAIN) return 0;
    if (n <= 0) return sbx_error(err, n < 0 ? (int)-n : 0, "sandbox setup ended without a word");
    struct ip_hdr h;
    if ((size_t)n < sizeof(h)) goto ignore;
    memcpy(&h, buf, sizeof(h));
    struct ip_buf rb;
    ip_buf_reader(&rb, buf + sizeof(h), (size_t)n - sizeof(h));
    *type = h.type;
    if (h.type == IP_SETUP_ERROR) {
        const char *m = ip_get_str(&rb);
        for (int i = 0; i < nfds; i++) close(fds[i]);
        return sbx_error(err, 0, "%s", m ? m : "unknown error");
    }
    if (h.type == IP_SETUP_PID && nfds == 1 && sb->pidfd < 0) {
        sb->init_pid = (pid_t)ip_get_u32(&rb);
        sb->pidfd = fds[0];
        return 1;
    }
    if (h.type == IP_SETUP_WARM || h.type == IP_READY) {
        for (int i = 0; i < nfds; i++) close(fds[i]);
        return 1;
    }
ignore:
    for (int i = 0; i < nfds; i++) close(fds[i]);
    *type = 0;
    return 1;
}

/* Wait (bounded) for a message of type `want`. */
static int wait_for(struct sandbox *sb, uint32_t want, sbx_err *err)
{
    double deadline = now_mono() + SETUP_TIMEOUT_MS / 1000.0;
    for (;;) {
        int left = (int)((deadline - now_mono()) * 1000);
        if (left <= 0)
            return sbx_error(err, ETIMEDOUT, "sandbox did not start within %d s",
                             SETUP_TIMEOUT_MS / 1000);
        struct pollfd pfd = {sb->ctl_fd, POLLIN, 0};
        int pr = poll(&pfd, 1, left);
        if (pr <= 0) continue;
        uint32_t type = 0;
        int r = recv_setup(sb, &type, err);
        if (r < 0) return -1;
        if (r > 0 && type == want) return 0;
    }
}

static void reap_setup(struct sandbox *sb)
{
    if (sb->setup_pidfd >= 0) {
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)sb->setup_pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
        close(sb->setup_pidfd);
    }
    sb->setup_pidfd = -1;
    sb->setup_pid = -1;
}

int sandbox_recv_warm(struct sandbox *sb, sbx_err *err)
{
    uint32_t type = 0;
    int r = recv_setup(sb, &type, err);
    if (r <= 0) return r;
    return type == IP_SETUP_WARM;
}

int sandbox_wait_warm(struct sandbox *sb, sbx_err *err)
{
    if (wait_for(sb, IP_SETUP_WARM, err) < 0) return sbx_error_wrap(err, "start sandbox");
    return 0;
}

int sandbox_launch(struct sandbox *sb, const struct sandbox_spec *spec, sbx_err *err)
{
    /* GO first: the setup child reads exactly one message; the seccomp
     * program queued behind it is for init. */
    struct ip_buf b;
    ip_buf_init(&b);
    struct ip_hdr h = {IP_SETUP_GO, 0};
    ip_put_bytes(&b, &h, sizeof(h));
    ip_put_str(&b, spec->image_rootfs);
    ip_put_u32(&b, (uint32_t)(spec->tmp_size >> 20));
    ip_put_u32(&b, (uint32_t)spec->idmap);
    ip_put_str(&b, spec->workspace ? spec->workspace : "");
    ip_put_u32(&b, (uint32_t)spec->workspace_id_base);
    int r = b.failed ? -ENOMEM : ip_send(sb->ctl_fd, b.data, b.len, NULL, 0);
    ip_buf_free(&b);
    if (r < 0) return sbx_error(err, -r, "start sandbox: send request to the setup child");

    size_t n = sizeof(struct ip_hdr) + spec->seccomp->len * sizeof(struct sock_filter);
    _cleanup_free_ uint8_t *m = malloc(n);
    if (!m) return sbx_error(err, ENOMEM, "seccomp message");
    struct ip_hdr sh = {IP_SECCOMP, 0};
    memcpy(m, &sh, sizeof(sh));
    memcpy(m + sizeof(sh), spec->seccomp->insns, n - sizeof(sh));
    r = ip_send(sb->ctl_fd, m, n, NULL, 0);
    if (r < 0) return sbx_error(err, -r, "start sandbox: send seccomp program");

    if (wait_for(sb, IP_SETUP_PID, err) < 0 || wait_for(sb, IP_READY, err) < 0)
        return sbx_error_wrap(err, "start sandbox");
    reap_setup(sb);
    int fl = fcntl(sb->ctl_fd, F_GETFL);
    fcntl(sb->ctl_fd, F_SETFL, fl | O_NONBLOCK);
    return 0;
}

void sandbox_abort(struct sandbox *sb)
{
    if (sb->setup_pidfd >= 0) syscall(SYS_pidfd_send_signal, sb->setup_pidfd, SIGKILL, NULL, 0);
    reap_setup(sb);
    if (sb->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)sb->pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
        close(sb->pidfd);
        sb->pidfd = -1;
    }
    if (sb->ctl_fd >= 0) close(sb->ctl_fd);
    sb->ctl_fd = -1;
}

int sandbox_starttime(pid_t pid, uint64_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0) return -EIO;
    buf[n] = '\0';
    /* after "pid (comm)": the comm may hold anything, so from the last ')' */
    char *p = strrchr(buf, ')');
    if (!p) return -EIO;
    p++;
    /* field 3 is the state; starttime is field 22 */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return -EIO;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (errno || end == p + 1) return -EIO;
    *out = v;
    return 0;
}

int sandbox_reattach(struct sandbox *sb, pid_t init_pid, uint64_t starttime, sbx_err *err)
{
    sb->setup_pid = -1;
    sb->setup_pidfd = -1;
    sb->init_pid = init_pid;
    sb->pidfd = sb->ctl_fd = -1;
    int pidfd = (int)syscall(SYS_pidfd_open, init_pid, 0);
    if (pidfd < 0) return sbx_error(err, errno, "init (pid %d) is gone", (int)init_pid);
    /* the pidfd pins the process: if its start time matches now, it is ours */
    uint64_t st = 0;
    if (sandbox_starttime(init_pid, &st) < 0 || st != starttime) {
        close(pidfd);
        return sbx_error(err, ESRCH, "init (pid %d) is gone (the pid now names another process)",
                         (int)init_pid);
    }
    /* init makes the rendezvous when it sees our predecessor's control
     * socket close: give it a moment */
    int ctl = -1;
    for (int i = 0; i < 200; i++) {
        ctl = (int)syscall(SYS_pidfd_getfd, pidfd, IP_REATTACH_FD, 0);
        if (ctl >= 0 || errno != EBADF) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (ctl < 0) {
        int e = errno;
        close(pidfd);
        return sbx_error(err, e, "take init's control socket over (pidfd_getfd)");
    }
    int r = ip_send_simple(ctl, IP_HELLO, 0, 0, 0, NULL);
    if (r < 0) {
        close(ctl);
        close(pidfd);
        return sbx_error(err, -r, "greet init");
    }
    sb->pidfd = pidfd;
    sb->ctl_fd = ctl;
    return 0;
}
