/* seccomp.c - build the allowlist profile with libseccomp and export BPF.
 *
 * In the spirit of Docker's default profile (see shared anchors): default
 * EPERM; never allowed: namespaces (unshare/setns, clone with namespace
 * flags; clone3 gets ENOSYS so libc falls back to clone), mount family,
 * pivot_root, bpf, keyctl family, io_uring, userfaultfd, perf_event_open,
 * ptrace and cross-process memory access, kexec, module loading,
 * open_by_handle_at, clock/time setting, swap, reboot, quotactl, syslog.
 * Sockets: AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET; other families
 * EAFNOSUPPORT (no module autoloading from a sandbox). ioctl: TIOCSTI/TIOCLINUX refused
 * (compared on the low 32 bits the kernel uses). personality: Docker's values.
 * Other architectures (i386, x32) hit the bad-arch action: the process dies. */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"

static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chroot", "clock_getres", "clock_gettime",
    "clock_nanosleep", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
    "faccessat2", "fadvise64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
    "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock",
    "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
    "futex_requeue", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_mempolicy",
    "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64",
    "getegid", "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid",
    "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid",
    "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday",
    "getuid", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup",
    "io_submit", "ioprio_get", "ioprio_set", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat",
    "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat",
    "madvise", "map_shadow_stack", "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat",
    "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "modify_ldt", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
    "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
    "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto",
    "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsuid", "setgid",
    "setgroups", "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid",
    "setreuid", "setrlimit", "setsid", "setsockopt", "setuid", "setxattr", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
    "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
    "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime",
    "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
    "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
};

/* clone(2) flags that create namespaces: refused. */
#define NS_FLAGS 0x7E020000ULL

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
               const struct scmp_arg_cmp *cmp, sbx_err *err)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return 0; /* unknown to this libseccomp/arch: stays denied */
    int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (r < 0) return sbx_error(err, -r, "seccomp rule for %s", name);
    return 0;
}

/* Allow syscall `name` when its argument 1 is in [lo, hi]. */
static int allow_range(scmp_filter_ctx ctx, const char *name, uint64_t lo, uint64_t hi,
                       sbx_err *err)
{
    while (lo <= hi) {
        uint64_t size = 1;
        /* largest aligned power-of-two block starting at lo that fits */
        while ((lo & (size * 2 - 1)) == 0 && lo + size * 2 - 1 <= hi && size < (1ULL << 32))
            size *= 2;
        struct scmp_arg_cmp c[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, ~(size - 1), lo)};
        if (add(ctx, SCMP_ACT_ALLOW, name, 1, c, err) < 0) return -1;
        lo += size;
        if (lo == 0) break;
    }
    return 0;
}

int seccomp_build(struct seccomp_prog *p, sbx_err *err)
{
    memset(p, 0, sizeof(*p));
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx) return sbx_error(err, ENOMEM, "seccomp_init");
    int ret = -1;
    _cleanup_close_ int fd = -1;
    /* The kernel ignores the upper half of 32-bit arguments (ioctl cmd, socket
     * domain, personality): compare what it will use. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* init sets no_new_privs itself */
    for (size_t i = 0; i < SBX_ARRAY_SIZE(allowed); i++)
        if (add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL, err) < 0) goto out;

    /* clone: only without namespace flags. clone3: ENOSYS (libc falls back). */
    struct scmp_arg_cmp clone_cmp[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0)};
    if (add(ctx, SCMP_ACT_ALLOW, "clone", 1, clone_cmp, err) < 0) goto out;
    if (add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err) < 0) goto out;

    /* socket: only the families programs in a sandbox use. AF_PACKET stays
     * allowed here: the kernel refuses it without CAP_NET_RAW over the net
     * namespace, which the sandbox's user namespace does not own. Every other
     * family gets EAFNOSUPPORT, what a kernel without it answers: socket() of
     * a family the kernel has as a module loads that module (net-pf-N, no
     * privilege needed; on Debian's kernel an unprivileged process loads
     * appletalk, atm, af_key, llc2, pppoe, can, bluetooth, rxrpc, phonet,
     * af_alg, nfc, vsock, kcm, qrtr, smc this way), exposing protocol code
     * with a history of exploitable bugs. socketpair: AF_UNIX only (the other
     * family that has it is AF_TIPC). Family numbers from AF_MAX up get the
     * default EPERM, as before. */
    static const uint64_t ok_af[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET};
    for (unsigned af = 0; af < AF_MAX; af++) {
        int ok = 0;
        for (size_t j = 0; j < SBX_ARRAY_SIZE(ok_af); j++) ok |= (af == ok_af[j]);
        uint32_t act = ok ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT);
        struct scmp_arg_cmp c[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, af)};
        if (add(ctx, act, "socket", 1, c, err) < 0) goto out;
        if (add(ctx, af == AF_UNIX ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair",
                1, c, err) < 0)
            goto out;
    }

    /* ioctl: refuse terminal input injection (TIOCSTI, TIOCLINUX). The kernel
     * uses the low 32 bits of the command, so commands with high bits set are
     * refused too. libseccomp cannot AND two tests of one argument, so the
     * allowed set [0, 2^32) minus the two commands is written as a union of
     * aligned blocks, each one masked-equal rule. setsid() in init already
     * takes the controlling terminal away; this is the second lock. */
    if (allow_range(ctx, "ioctl", 0, TIOCSTI - 1, err) < 0 ||
        allow_range(ctx, "ioctl", TIOCSTI + 1, TIOCLINUX - 1, err) < 0 ||
        allow_range(ctx, "ioctl", TIOCLINUX + 1, 0xffffffffULL, err) < 0)
        goto out;

    static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    for (size_t j = 0; j < SBX_ARRAY_SIZE(personas); j++) {
        struct scmp_arg_cmp c[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, personas[j])};
        if (add(ctx, SCMP_ACT_ALLOW, "personality", 1, c, err) < 0) goto out;
    }

    /* Export to BPF through a memfd. */
    fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        sbx_error(err, errno, "memfd_create");
        goto out;
    }
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0) {
        sbx_error(err, -r, "seccomp_export_bpf");
        goto out;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 || size > 65536 * 8) {
        sbx_error(err, EINVAL, "seccomp: unexpected BPF size %lld", (long long)size);
        goto out;
    }
    p->insns = malloc((size_t)size);
    if (!p->insns || pread(fd, p->insns, (size_t)size, 0) != size) {
        sbx_error(err, errno ? errno : EIO, "seccomp: read BPF");
        free(p->insns);
        p->insns = NULL;
        goto out;
    }
    p->len = (size_t)size / sizeof(struct sock_filter);
    ret = 0;
out:
    if (ret < 0) sbx_error_wrap(err, "build seccomp profile");
    seccomp_release(ctx);
    return ret;
}

void seccomp_free(struct seccomp_prog *p)
{
    free(p->insns);
    p->insns = NULL;
    p->len = 0;
}
