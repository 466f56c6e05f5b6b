/* escape - a static probe that tries, for real, to break out of an sbx
 * sandbox. Integration tests (tests/security/) copy it into a session and run
 * it as the default user "sandbox" and as "root" (root in the sandbox's user
 * namespace, reduced capabilities); see tests/security/README.md.
 *
 *   escape all               every attempt that needs no argument
 *   escape GROUP             one group: ns mount pivot chroot ptrace handle procfiles
 *                            keyctl bpf perf io_uring userfaultfd rawsock families netlink
 *                            module kernel tiocsti procsys sysfs cgroup rlimit fds unixguess
 *   escape connect HOST PORT [EXPECTED]
 *                            TCP connect (3 s bound), "GET / HTTP/1.0" when connected.
 *                            EXPECTED: errno names joined by commas (default ECONNREFUSED),
 *                            or SHIM403: sbx-shim took the connection and refused it with
 *                            HTTP 403 (its egress policy, on the ports it serves)
 *   escape unix PATH|@NAME... connect to Unix sockets (@: abstract)
 *   escape file PATH...      open and read (another session's files, host paths)
 *   escape pid PID...        signal 0, /proc/PID, ptrace of host pids
 *   escape fill PATH MIB     write PATH in 1 MiB blocks until an error or MIB MiB
 *   escape inodes DIR N      create empty files in DIR until an error or N files
 *
 * Output: one line per attempt,
 *   TRY <name>: <what it did> -> <result> (expected <errnos>): ok|ESCAPE|WRONG-REASON
 * where result is the errno name, "succeeded", or a description ("masked
 * (/dev/null)"). Exit status 0 when every attempt failed for the expected
 * reason, 1 when any did not, 2 on usage errors.
 *
 * The expected reasons (why each errno is the right one):
 *   - SECCOMP = EPERM: sbx's seccomp filter (supervisor/seccomp.c) is an
 *     allowlist whose default action is SCMP_ACT_ERRNO(EPERM); denied
 *     syscalls and denied arguments (clone with CLONE_NEW* flags, ioctl
 *     TIOCSTI/TIOCLINUX) return EPERM before the kernel looks at anything.
 *     clone3 is the one exception: ENOSYS, so that libc falls back to clone.
 *   - EPERM from a capability check: raw and packet sockets, netlink changes:
 *     the sandbox's user namespace does not own its network namespace, so
 *     even its root has no CAP_NET_RAW / CAP_NET_ADMIN there; setrlimit above
 *     the hard limit (no CAP_SYS_RESOURCE); capset beyond the bounding set.
 *   - EACCES: setpriority below 0 (no CAP_SYS_NICE); DAC on files owned by
 *     the host's root (the overflow uid "nobody" inside).
 *   - /proc/sys: EACCES first (its files belong to the host's root, and
 *     permission is checked before the mount flags); the read-only bind
 *     mount is the second lock (statvfs ST_RDONLY is checked).
 *   - ENOENT: the path does not exist in the sandbox's mount namespace (no
 *     /sys content, no cgroupfs, no host paths, no control sockets).
 *   - ECONNREFUSED: every address outside the sandbox routes to sbx's egress
 *     namespace, where nothing but sbx-shim's ports listen.
 *   - EAFNOSUPPORT: socket families other than unix, inet, inet6, netlink
 *     and packet, refused by sbx's filter with the answer of a kernel that
 *     lacks them (so that no protocol module is autoloaded).
 *   - ETIMEDOUT: another session's address; the egress namespace does not
 *     forward between its links and drops the packets.
 *   - ENOSPC / EDQUOT: the filesystem's (or the session's quota's) limit.
 *   - masked (/dev/null): Docker-style masking of /proc files: open works,
 *     reads return nothing, writes go nowhere. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <net/if.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int bad; /* attempts that succeeded or failed for the wrong reason */
static int is_root;

/* expected errno sets, 0-terminated */
#define E(...) ((const int[]){__VA_ARGS__, 0})
#define SECCOMP E(EPERM)
/* pseudo-errno: connected, and sbx-shim answered "HTTP/1.1 403" (its
 * egress policy refused the destination; the audit log says why) */
#define SHIM403 100403

static const char *ename(int e)
{
    if (e == SHIM403) return "SHIM403";
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static int in_set(const int *set, int e)
{
    for (; *set; set++)
        if (*set == e) return 1;
    return 0;
}

static void set_str(const int *set, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (size_t n = 0; *set; set++)
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s", n ? "|" : "", ename(*set));
}

/* One attempt's line. e: 0 = the attempt succeeded, else its errno. */
static void verdict(const char *name, const int *expected, int e, const char *fmt, ...)
{
    char what[512], exp[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    set_str(expected, exp, sizeof(exp));
    const char *v = e == 0 ? "ESCAPE" : in_set(expected, e) ? "ok" : "WRONG-REASON";
    if (e == 0 || !in_set(expected, e)) bad++;
    printf("TRY %s: %s -> %s (expected %s): %s\n", name, what, e ? ename(e) : "succeeded", exp, v);
    fflush(stdout);
}

/* An attempt that failed in a way that is not an errno but is still right. */
static void verdict_ok(const char *name, const char *result, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    printf("TRY %s: %s -> %s: ok\n", name, what, result);
    fflush(stdout);
}

static void verdict_bad(const char *name, const char *result, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    bad++;
    printf("TRY %s: %s -> %s: ESCAPE\n", name, what, result);
    fflush(stdout);
}

/* r < 0: errno; else success (and close r if fd) */
#define RES(r) ((r) < 0 ? errno : 0)

/* ------------------------------------------------------------ namespaces -- */

static const struct {
    int flag;
    const char *name;
} nsflags[] = {
    {CLONE_NEWNS, "CLONE_NEWNS"},     {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
    {CLONE_NEWUTS, "CLONE_NEWUTS"},   {CLONE_NEWIPC, "CLONE_NEWIPC"},
    {CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWPID, "CLONE_NEWPID"},
    {CLONE_NEWNET, "CLONE_NEWNET"},   {0x00000080 /* CLONE_NEWTIME */, "CLONE_NEWTIME"},
};

static void try_ns(void)
{
    for (size_t i = 0; i < sizeof(nsflags) / sizeof(nsflags[0]); i++) {
        int r = unshare(nsflags[i].flag);
        verdict("unshare", SECCOMP, RES(r), "unshare(%s)", nsflags[i].name);
    }
    /* clone(2) cannot ask for CLONE_NEWTIME: its bit (0x80) lies in the
     * exit-signal byte (CSIGNAL); only unshare and clone3 take it */
    for (size_t i = 0; i < sizeof(nsflags) / sizeof(nsflags[0]); i++) {
        if (nsflags[i].flag == 0x00000080) continue;
        long r = syscall(SYS_clone, (unsigned long)nsflags[i].flag | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid((pid_t)r, NULL, 0);
        verdict("clone", SECCOMP, r < 0 ? errno : 0, "clone(%s|SIGCHLD)", nsflags[i].name);
    }
    struct clone_args ca = {.flags = CLONE_NEWUSER | CLONE_NEWNS, .exit_signal = SIGCHLD};
    long r = syscall(SYS_clone3, &ca, sizeof(ca));
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    verdict("clone3", E(ENOSYS), r < 0 ? errno : 0, "clone3(CLONE_NEWUSER|CLONE_NEWNS)");
    static const char *const nss[] = {"mnt", "net", "user", "pid", "ipc", "uts", "cgroup"};
    for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++) {
        char p[64];
        /* pid 1's namespaces are the sandbox's own: setns is refused anyway */
        snprintf(p, sizeof(p), "/proc/self/ns/%s", nss[i]);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            verdict("setns", E(ENOENT), errno, "open %s for setns", p);
            continue;
        }
        int s = setns(fd, 0);
        verdict("setns", SECCOMP, RES(s), "setns(%s)", p);
        close(fd);
    }
}

/* ----------------------------------------------------------------- mounts -- */

static void try_mount(void)
{
    mkdir("/tmp/escape-mnt", 0755);
    static const struct {
        const char *src, *type, *data;
        unsigned long flags;
        const char *what;
    } m[] = {
        {"proc", "proc", NULL, 0, "proc"},
        {"tmpfs", "tmpfs", "size=1m", 0, "tmpfs"},
        {"sysfs", "sysfs", NULL, 0, "sysfs"},
        {"/", NULL, NULL, MS_BIND | MS_REC, "bind of /"},
        {"/proc", NULL, NULL, MS_BIND, "bind of /proc"},
        {"overlay", "overlay", "lowerdir=/bin:/etc", 0, "overlay"},
        {"cgroup2", "cgroup2", NULL, 0, "cgroup2"},
        {"cgroup", "cgroup", "memory", 0, "cgroup v1 (memory)"},
        {"devpts", "devpts", "newinstance", 0, "devpts"},
        {"mqueue", "mqueue", NULL, 0, "mqueue"},
        {"bpf", "bpf", NULL, 0, "bpf"},
        {"none", "debugfs", NULL, 0, "debugfs"},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        int r = mount(m[i].src, "/tmp/escape-mnt", m[i].type, m[i].flags, m[i].data);
        if (r == 0) umount2("/tmp/escape-mnt", MNT_DETACH);
        verdict("mount", SECCOMP, RES(r), "mount %s on /tmp/escape-mnt", m[i].what);
    }
    int r = mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL);
    verdict("mount", SECCOMP, RES(r), "remount /proc/sys read-write");
    r = mount(NULL, "/", NULL, MS_SHARED | MS_REC, NULL);
    verdict("mount", SECCOMP, RES(r), "make / shared (propagation change)");
    static const char *const um[] = {"/proc/keys", "/proc/sys", "/proc/acpi", "/tmp", "/dev/null"};
    for (size_t i = 0; i < sizeof(um) / sizeof(um[0]); i++) {
        r = umount2(um[i], MNT_DETACH);
        verdict("umount", SECCOMP, RES(r), "umount2(%s, MNT_DETACH) (unmask)", um[i]);
    }
    long l = syscall(SYS_fsopen, "tmpfs", 0);
    if (l >= 0) close((int)l);
    verdict("mount", SECCOMP, l < 0 ? errno : 0, "fsopen(tmpfs) (new mount API)");
    l = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC);
    if (l >= 0) close((int)l);
    verdict("mount", SECCOMP, l < 0 ? errno : 0, "open_tree(/, OPEN_TREE_CLONE)");
    l = syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/tmp/escape-mnt", 0);
    verdict("mount", SECCOMP, l < 0 ? errno : 0, "move_mount(/tmp -> /tmp/escape-mnt)");
    l = syscall(SYS_fsmount, 0, 0, 0);
    verdict("mount", SECCOMP, l < 0 ? errno : 0, "fsmount");
    l = syscall(SYS_mount_setattr, AT_FDCWD, "/proc/sys", 0, NULL, 0);
    verdict("mount", SECCOMP, l < 0 ? errno : 0, "mount_setattr(/proc/sys)");
    rmdir("/tmp/escape-mnt");
}

static void try_pivot(void)
{
    mkdir("/tmp/escape-old", 0755);
    long r = syscall(SYS_pivot_root, "/tmp", "/tmp/escape-old");
    verdict("pivot_root", SECCOMP, r < 0 ? errno : 0, "pivot_root(/tmp, /tmp/escape-old)");
    r = syscall(SYS_pivot_root, ".", ".");
    verdict("pivot_root", SECCOMP, r < 0 ? errno : 0, "pivot_root(., .)");
    rmdir("/tmp/escape-old");
}

/* chroot breakout: as root (CAP_SYS_CHROOT kept) chroot into a subdir, walk
 * .. past it, chroot there: must end at the sandbox's root, never above. */
static void try_chroot(void)
{
    struct stat root0;
    if (stat("/", &root0) < 0) return;
    mkdir("/tmp/escape-cb", 0755);
    int pfd[2];
    if (pipe(pfd) < 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        char msg[256];
        if (chroot("/tmp/escape-cb") < 0) {
            snprintf(msg, sizeof(msg), "E %d", errno);
        } else {
            for (int i = 0; i < 64; i++)
                if (chdir("..") < 0) break;
            struct stat st;
            if (chroot(".") < 0 || stat("/", &st) < 0)
                snprintf(msg, sizeof(msg), "E %d", errno);
            else
                snprintf(msg, sizeof(msg), "S %llu %llu %d", (unsigned long long)st.st_dev,
                         (unsigned long long)st.st_ino, access("/bin/sh", X_OK) == 0);
        }
        if (write(pfd[1], msg, strlen(msg)) < 0) _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    char buf[256] = {0};
    ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
    close(pfd[0]);
    waitpid(pid, NULL, 0);
    rmdir("/tmp/escape-cb");
    unsigned long long dev, ino;
    int sh;
    if (n > 2 && buf[0] == 'E') {
        /* the sandbox user has no CAP_SYS_CHROOT */
        verdict("chroot", E(EPERM), atoi(buf + 2), "chroot(/tmp/escape-cb)");
    } else if (n > 2 && sscanf(buf, "S %llu %llu %d", &dev, &ino, &sh) == 3) {
        if (dev == (unsigned long long)root0.st_dev && ino == (unsigned long long)root0.st_ino)
            verdict_ok("chroot", "at the sandbox's own root",
                       "chroot(/tmp/escape-cb), chdir(..) x64, chroot(.)");
        else
            verdict_bad("chroot", "a different root (dev/ino differ)",
                        "chroot(/tmp/escape-cb), chdir(..) x64, chroot(.)");
    } else {
        verdict_bad("chroot", "no answer from the child", "chroot breakout");
    }
}

/* ---------------------------------------------------------------- ptrace -- */

static void try_ptrace_pid(pid_t target, const char *who)
{
    long r = ptrace(PTRACE_ATTACH, target, 0, 0);
    if (r == 0) ptrace(PTRACE_DETACH, target, 0, 0);
    verdict("ptrace", SECCOMP, r < 0 ? errno : 0, "ptrace(PTRACE_ATTACH, %s %d)", who, target);
    r = ptrace(PTRACE_SEIZE, target, 0, 0);
    if (r == 0) ptrace(PTRACE_DETACH, target, 0, 0);
    verdict("ptrace", SECCOMP, r < 0 ? errno : 0, "ptrace(PTRACE_SEIZE, %s %d)", who, target);
    char buf[16];
    struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x400000, sizeof(buf)};
    ssize_t n = process_vm_readv(target, &local, 1, &remote, 1, 0);
    verdict("process_vm_readv", SECCOMP, n < 0 ? errno : 0, "process_vm_readv(%s %d)", who, target);
    n = process_vm_writev(target, &local, 1, &remote, 1, 0);
    verdict("process_vm_writev", SECCOMP, n < 0 ? errno : 0, "process_vm_writev(%s %d)", who,
            target);
    r = syscall(SYS_kcmp, getpid(), target, 0 /* KCMP_FILE */, 0, 0);
    verdict("kcmp", SECCOMP, r < 0 ? errno : 0, "kcmp(self, %s %d)", who, target);
    r = syscall(SYS_pidfd_getfd, -1, 0, 0);
    verdict("pidfd_getfd", SECCOMP, r < 0 ? errno : 0, "pidfd_getfd (steal another's fd)");
}

static void try_ptrace(void)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    try_ptrace_pid(child, "own child");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    try_ptrace_pid(1, "the sandbox's init");
    long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
    verdict("ptrace", SECCOMP, r < 0 ? errno : 0, "ptrace(PTRACE_TRACEME)");
    /* init runs as the sandbox's root and is not dumpable by others: its
     * memory is not the sandbox user's (EACCES); root keeps no
     * CAP_SYS_PTRACE, and init is not dumpable: EACCES too. */
    int fd = open("/proc/1/mem", O_RDWR | O_CLOEXEC);
    if (fd >= 0) close(fd);
    verdict("proc-mem", E(EACCES, EPERM), RES(fd), "open /proc/1/mem read-write");
}

/* ---------------------------------------------------- handles, /proc files -- */

static void try_handle(void)
{
    struct {
        struct file_handle fh;
        unsigned char data[MAX_HANDLE_SZ];
    } h;
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    int mnt = -1;
    int r = name_to_handle_at(AT_FDCWD, "/", &h.fh, &mnt, 0);
    if (r < 0) {
        /* allowed by seccomp; some filesystems have no handles: forge one */
        printf("# name_to_handle_at(/): %s; forging an ext4-style handle\n", ename(errno));
        h.fh.handle_bytes = 8;
        h.fh.handle_type = 1;
        memset(h.data, 0, 8);
        h.data[0] = 2; /* inode 2: the root of a host ext4 filesystem */
    }
    int mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY);
    if (fd >= 0) close(fd);
    verdict("open_by_handle_at", SECCOMP, RES(fd), "open_by_handle_at(handle of /)");
    /* the shocker exploit: inode 2 of the mount's filesystem */
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1;
    memset(h.data, 0, 8);
    h.data[0] = 2;
    fd = open_by_handle_at(mfd, &h.fh, O_RDONLY);
    if (fd >= 0) close(fd);
    verdict("open_by_handle_at", SECCOMP, RES(fd), "open_by_handle_at(forged handle, inode 2)");
    close(mfd);
}

/* open PATH and read: nothing may come out. */
static void try_read_masked(const char *name, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* ENOENT: absent in the sandbox's proc (this kernel has none, or
         * masked); EACCES: the host root's file */
        verdict(name, E(ENOENT, EACCES), errno, "open %s", path);
        return;
    }
    struct stat st;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    int e = errno;
    int masked = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
    close(fd);
    if (n > 0)
        verdict_bad(name, "read data", "open + read %s (%zd bytes)", path, n);
    else if (masked)
        verdict_ok(name, "masked (/dev/null), 0 bytes", "open + read %s", path);
    else if (n == 0)
        verdict_ok(name, "0 bytes", "open + read %s", path);
    else
        verdict(name, E(EACCES, EPERM, EIO), e, "read %s", path);
}

/* open PATH for writing and write: must fail or land in /dev/null. */
static void try_write(const char *name, const char *path, const char *data, const int *expected)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        verdict(name, expected, errno, "open %s for writing", path);
        return;
    }
    struct stat st;
    int masked = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
    ssize_t n = write(fd, data, strlen(data));
    int e = errno;
    close(fd);
    if (masked)
        verdict_ok(name, "masked (/dev/null)", "write %s", path);
    else
        verdict(name, expected, n < 0 ? e : 0, "write \"%s\" to %s", data, path);
}

static void try_procfiles(void)
{
    try_read_masked("kcore", "/proc/kcore");
    try_read_masked("keys", "/proc/keys");
    try_read_masked("timer_list", "/proc/timer_list");
    try_read_masked("sched_debug", "/proc/sched_debug");
    /* masked or absent: ENOENT; present and real: only root could open it and
     * is not host root (EACCES) */
    try_write("sysrq", "/proc/sysrq-trigger", "h", E(ENOENT, EACCES));
    try_write("kmsg", "/proc/kmsg", "x", E(ENOENT, EACCES, EPERM));
    try_read_masked("kmsg", "/dev/kmsg");
    try_read_masked("mem", "/dev/mem");
}

static void try_keyctl(void)
{
    long r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    verdict("keyctl", SECCOMP, r < 0 ? errno : 0, "keyctl(KEYCTL_GET_KEYRING_ID, session)");
    r = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "escape");
    verdict("keyctl", SECCOMP, r < 0 ? errno : 0, "keyctl(KEYCTL_JOIN_SESSION_KEYRING)");
    r = syscall(SYS_add_key, "user", "escape", "x", 1, KEY_SPEC_USER_KEYRING);
    verdict("keyctl", SECCOMP, r < 0 ? errno : 0, "add_key(user, escape)");
    r = syscall(SYS_request_key, "user", "escape", NULL, 0);
    verdict("keyctl", SECCOMP, r < 0 ? errno : 0, "request_key(user, escape)");
}

static void try_bpf(void)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    long r = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
    if (r >= 0) close((int)r);
    verdict("bpf", SECCOMP, r < 0 ? errno : 0, "bpf(BPF_MAP_CREATE)");
    struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    a.insns = (uintptr_t)insns;
    a.insn_cnt = 2;
    a.license = (uintptr_t) "GPL";
    r = syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
    if (r >= 0) close((int)r);
    verdict("bpf", SECCOMP, r < 0 ? errno : 0, "bpf(BPF_PROG_LOAD, socket filter)");
}

static void try_perf(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    long r = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    if (r >= 0) close((int)r);
    verdict("perf_event_open", SECCOMP, r < 0 ? errno : 0, "perf_event_open(sw cpu-clock, self)");
    a.type = PERF_TYPE_HARDWARE;
    a.config = PERF_COUNT_HW_CPU_CYCLES;
    r = syscall(SYS_perf_event_open, &a, -1, 0, -1, 0);
    if (r >= 0) close((int)r);
    verdict("perf_event_open", SECCOMP, r < 0 ? errno : 0, "perf_event_open(hw cycles, cpu 0)");
}

static void try_io_uring(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long r = syscall(SYS_io_uring_setup, 8, &p);
    if (r >= 0) close((int)r);
    verdict("io_uring", SECCOMP, r < 0 ? errno : 0, "io_uring_setup(8)");
    r = syscall(SYS_io_uring_enter, 0, 0, 0, 0, NULL, 0);
    verdict("io_uring", SECCOMP, r < 0 ? errno : 0, "io_uring_enter(fd 0)");
    r = syscall(SYS_io_uring_register, 0, 0, NULL, 0);
    verdict("io_uring", SECCOMP, r < 0 ? errno : 0, "io_uring_register(fd 0)");
}

static void try_userfaultfd(void)
{
    long r = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (r >= 0) close((int)r);
    verdict("userfaultfd", SECCOMP, r < 0 ? errno : 0, "userfaultfd(O_CLOEXEC)");
    r = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
    if (r >= 0) close((int)r);
    verdict("userfaultfd", SECCOMP, r < 0 ? errno : 0, "userfaultfd(UFFD_USER_MODE_ONLY)");
    /* no /dev/userfaultfd node in the sandbox's /dev */
    int fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (fd >= 0) close(fd);
    verdict("userfaultfd", E(ENOENT), RES(fd), "open /dev/userfaultfd");
}

/* ---------------------------------------------------------------- network -- */

static void try_rawsock(void)
{
    /* allowed by seccomp; the kernel wants CAP_NET_RAW in the user namespace
     * that owns the network namespace, which is not the sandbox's */
    static const struct {
        int af, type, proto;
        const char *what;
    } s[] = {
        {AF_INET, SOCK_RAW, IPPROTO_ICMP, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)"},
        {AF_INET, SOCK_RAW, IPPROTO_RAW, "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)"},
        {AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)"},
        {AF_PACKET, SOCK_RAW, 0x0300 /* htons(ETH_P_ALL) */,
         "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)"},
        {AF_PACKET, SOCK_DGRAM, 0x0300, "socket(AF_PACKET, SOCK_DGRAM, ETH_P_ALL)"},
    };
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        int fd = socket(s[i].af, s[i].type | SOCK_CLOEXEC, s[i].proto);
        if (fd >= 0) close(fd);
        verdict(s[i].af == AF_PACKET ? "packet-socket" : "raw-socket", E(EPERM), RES(fd), "%s",
                s[i].what);
    }
    /* AF_ALG, AF_VSOCK and the other families: the "families" group */
}

/* Socket families a sandbox has no use for. socket() of a family the
 * kernel has as a module loads it (request_module("net-pf-N"), no privilege
 * needed), exposing protocol code with a history of exploitable bugs (RDS,
 * TIPC, CAN BCM, X.25, AX.25, ATM, KCM, ...). sbx's filter answers
 * EAFNOSUPPORT, exactly what a kernel without the family answers. */
static void try_families(void)
{
    static const struct {
        int af;
        const char *name;
    } f[] = {
        {3, "AF_AX25"},       {4, "AF_IPX"},         {5, "AF_APPLETALK"}, {6, "AF_NETROM"},
        {7, "AF_BRIDGE"},     {8, "AF_ATMPVC"},      {9, "AF_X25"},       {11, "AF_ROSE"},
        {12, "AF_DECnet"},    {13, "AF_NETBEUI"},    {14, "AF_SECURITY"}, {15, "AF_KEY"},
        {19, "AF_ECONET"},    {20, "AF_ATMSVC"},     {21, "AF_RDS"},      {22, "AF_SNA"},
        {23, "AF_IRDA"},      {24, "AF_PPPOX"},      {25, "AF_WANPIPE"},  {26, "AF_LLC"},
        {27, "AF_IB"},        {28, "AF_MPLS"},       {29, "AF_CAN"},      {30, "AF_TIPC"},
        {31, "AF_BLUETOOTH"}, {32, "AF_IUCV"},       {33, "AF_RXRPC"},    {34, "AF_ISDN"},
        {35, "AF_PHONET"},    {36, "AF_IEEE802154"}, {37, "AF_CAIF"},     {38, "AF_ALG"},
        {39, "AF_NFC"},       {40, "AF_VSOCK"},      {41, "AF_KCM"},      {42, "AF_QIPCRTR"},
        {43, "AF_SMC"},       {44, "AF_XDP"},        {45, "AF_MCTP"},
    };
    static const int types[] = {SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, SOCK_RAW};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        int e_any = 0, e_family = 0, made = -1;
        for (size_t t = 0; t < 4 && made < 0; t++) {
            int fd = socket(f[i].af, types[t] | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                made = (int)t;
                close(fd);
                continue;
            }
            int en = errno;
            e_any = en;
            /* errors about the type or protocol say the family exists */
            if (!e_family && en != ESOCKTNOSUPPORT && en != EPROTONOSUPPORT && en != EINVAL &&
                en != EPROTOTYPE)
                e_family = en;
        }
        int e = e_family ? e_family : e_any;
        verdict("socket-family", E(EAFNOSUPPORT), made >= 0 ? 0 : e, "socket(%s, any type)",
                f[i].name);
    }
    int sv[2];
    int r = socketpair(30 /* AF_TIPC */, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
    if (r == 0) {
        close(sv[0]);
        close(sv[1]);
    }
    verdict("socket-family", E(EAFNOSUPPORT), RES(r), "socketpair(AF_TIPC)");
}

/* Send one rtnetlink request, return its ack's errno (0 = applied). */
static int rtnl(void *req, size_t len)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    struct nlmsghdr *h = req;
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    if (sendto(fd, req, len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) {
        close(fd);
        return ETIMEDOUT;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n < (ssize_t)sizeof(struct nlmsghdr)) return EIO;
    struct nlmsghdr *a = (struct nlmsghdr *)buf;
    if (a->nlmsg_type != NLMSG_ERROR) return EIO;
    struct nlmsgerr *er = NLMSG_DATA(a);
    return -er->error;
}

static void addattr(struct nlmsghdr *h, int type, const void *data, int alen)
{
    struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    rta->rta_type = (unsigned short)type;
    rta->rta_len = (unsigned short)RTA_LENGTH(alen);
    memcpy(RTA_DATA(rta), data, (size_t)alen);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static void try_netlink(void)
{
    static const char *const ifs[] = {"lo", "eth0"};
    for (size_t i = 0; i < 2; i++) {
        unsigned idx = if_nametoindex(ifs[i]);
        if (!idx) {
            printf("# no interface %s here\n", ifs[i]);
            continue;
        }
        struct {
            struct nlmsghdr h;
            struct ifinfomsg i;
            char attrs[64];
        } l;
        memset(&l, 0, sizeof(l));
        l.h.nlmsg_len = NLMSG_LENGTH(sizeof(l.i));
        l.h.nlmsg_type = RTM_NEWLINK;
        l.i.ifi_family = AF_UNSPEC;
        l.i.ifi_index = (int)idx;
        l.i.ifi_change = IFF_UP;
        l.i.ifi_flags = 0;
        verdict("netlink", E(EPERM), rtnl(&l, l.h.nlmsg_len), "RTM_NEWLINK %s down", ifs[i]);
        memset(&l, 0, sizeof(l));
        l.h.nlmsg_len = NLMSG_LENGTH(sizeof(l.i));
        l.h.nlmsg_type = RTM_NEWLINK;
        l.i.ifi_family = AF_UNSPEC;
        l.i.ifi_index = (int)idx;
        unsigned mtu = 1280;
        addattr(&l.h, IFLA_MTU, &mtu, 4);
        verdict("netlink", E(EPERM), rtnl(&l, l.h.nlmsg_len), "RTM_NEWLINK %s mtu 1280", ifs[i]);

        struct {
            struct nlmsghdr h;
            struct ifaddrmsg a;
            char attrs[64];
        } a;
        memset(&a, 0, sizeof(a));
        a.h.nlmsg_len = NLMSG_LENGTH(sizeof(a.a));
        a.h.nlmsg_type = RTM_NEWADDR;
        a.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
        a.a.ifa_family = AF_INET;
        a.a.ifa_prefixlen = 32;
        a.a.ifa_index = idx;
        struct in_addr ip;
        inet_pton(AF_INET, "10.66.77.88", &ip);
        addattr(&a.h, IFA_LOCAL, &ip, 4);
        addattr(&a.h, IFA_ADDRESS, &ip, 4);
        verdict("netlink", E(EPERM), rtnl(&a, a.h.nlmsg_len), "RTM_NEWADDR 10.66.77.88/32 on %s",
                ifs[i]);
    }
    struct {
        struct nlmsghdr h;
        struct rtmsg r;
        char attrs[64];
    } r;
    memset(&r, 0, sizeof(r));
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(r.r));
    r.h.nlmsg_type = RTM_NEWROUTE;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.r.rtm_family = AF_INET;
    r.r.rtm_dst_len = 8;
    r.r.rtm_table = RT_TABLE_MAIN;
    r.r.rtm_protocol = RTPROT_BOOT;
    r.r.rtm_scope = RT_SCOPE_LINK;
    r.r.rtm_type = RTN_UNICAST;
    struct in_addr dst;
    inet_pton(AF_INET, "10.0.0.0", &dst);
    addattr(&r.h, RTA_DST, &dst, 4);
    unsigned oif = if_nametoindex("lo");
    addattr(&r.h, RTA_OIF, &oif, 4);
    verdict("netlink", E(EPERM), rtnl(&r, r.h.nlmsg_len), "RTM_NEWROUTE 10.0.0.0/8 dev lo");
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[128];
    } d;
    memset(&d, 0, sizeof(d));
    d.h.nlmsg_len = NLMSG_LENGTH(sizeof(d.i));
    d.h.nlmsg_type = RTM_NEWLINK;
    d.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    addattr(&d.h, IFLA_IFNAME, "escape0", 8);
    struct rtattr *li = (struct rtattr *)((char *)&d.h + NLMSG_ALIGN(d.h.nlmsg_len));
    li->rta_type = IFLA_LINKINFO;
    d.h.nlmsg_len = NLMSG_ALIGN(d.h.nlmsg_len) + RTA_LENGTH(0);
    addattr(&d.h, IFLA_INFO_KIND, "dummy", 6);
    li->rta_len = (unsigned short)((char *)&d.h + d.h.nlmsg_len - (char *)li);
    verdict("netlink", E(EPERM), rtnl(&d, d.h.nlmsg_len), "RTM_NEWLINK create dummy escape0");

    /* root keeps CAP_AUDIT_WRITE, but the kernel takes audit messages only
     * from the initial user namespace: ECONNREFUSED (EPROTONOSUPPORT on a
     * kernel without audit) */
    int e;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 9 /* NETLINK_AUDIT */);
    if (fd < 0) {
        e = errno;
    } else {
        struct {
            struct nlmsghdr h;
            char text[32];
        } m;
        memset(&m, 0, sizeof(m));
        strcpy(m.text, "escape: forged audit record");
        m.h.nlmsg_len = (unsigned)NLMSG_LENGTH(strlen(m.text) + 1);
        m.h.nlmsg_type = 1107; /* AUDIT_USER_MSG */
        m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
        if (sendto(fd, &m, m.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            e = errno;
        } else {
            char buf[512];
            struct pollfd p = {fd, POLLIN, 0};
            ssize_t n = poll(&p, 1, 3000) == 1 ? recv(fd, buf, sizeof(buf), 0) : -1;
            struct nlmsghdr *a = (struct nlmsghdr *)buf;
            e = n >= (ssize_t)sizeof(*a) && a->nlmsg_type == NLMSG_ERROR
                    ? -((struct nlmsgerr *)NLMSG_DATA(a))->error
                    : (n < 0 ? errno : EIO);
        }
        close(fd);
    }
    verdict("netlink", E(ECONNREFUSED, EPROTONOSUPPORT), e, "NETLINK_AUDIT AUDIT_USER_MSG");
}

/* connect to HOST:PORT, bounded; expected: refused (the egress namespace
 * has nothing on that port) */
static void try_connect(const char *host, const char *port, const int *expected)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(port));
        sl = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(port));
        sl = sizeof(*s6);
    } else {
        fprintf(stderr, "escape: bad address %s\n", host);
        exit(2);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        verdict("connect", expected, errno, "socket for %s", host);
        return;
    }
    int e = 0;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 3000) != 1) {
                e = ETIMEDOUT;
            } else {
                socklen_t el = sizeof(e);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
            }
        }
    }
    if (e == 0) {
        /* connected (something in the egress namespace took it): say hello
         * so that a host listener would see it, report what came back */
        static const char req[] = "GET / HTTP/1.0\r\nHost: escape\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) < 0) e = errno;
        char buf[128] = {0};
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n = poll(&p, 1, 3000) == 1 ? read(fd, buf, sizeof(buf) - 1) : -1;
        printf("# connected to %s port %s; answer: %.60s\n", host, port,
               n > 0 ? strtok(buf, "\r\n") : "(none)");
        if (n > 0 && strncmp(buf, "HTTP/1.1 403 ", 13) == 0) e = SHIM403;
    }
    close(fd);
    verdict("connect", expected, e, "TCP connect to %s port %s", host, port);
}

static void try_unix(const char *path)
{
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    socklen_t sl;
    int abstract = path[0] == '@';
    if (strlen(path) >= sizeof(su.sun_path)) {
        fprintf(stderr, "escape: path too long %s\n", path);
        exit(2);
    }
    if (abstract) {
        memcpy(su.sun_path + 1, path + 1, strlen(path) - 1);
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    } else {
        strcpy(su.sun_path, path);
        sl = sizeof(su);
    }
    int r = -1, e = 0;
    static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    for (size_t i = 0; i < 3; i++) {
        int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        r = connect(fd, (struct sockaddr *)&su, sl);
        e = errno;
        close(fd);
        if (r == 0 || e != EPROTOTYPE) break; /* EPROTOTYPE: exists, other type */
    }
    /* a path: not in the sandbox's mount namespace (ENOENT); an abstract
     * name: abstract sockets are per network namespace (ECONNREFUSED) */
    verdict(abstract ? "unix-abstract" : "unix-path", abstract ? E(ECONNREFUSED) : E(ENOENT),
            r == 0 ? 0 : e, "connect to unix socket %s", path);
}

static void try_unixguess(void)
{
    static const char *const paths[] = {
        "/run/sbx/sbxd.sock",
        "/var/run/sbx/sbxd.sock",
        "/var/lib/sbx/sbxd.sock",
        "/run/sbx/shim.sock",
        "/var/lib/sbx/shim.sock",
        "/run/systemd/private",
        "/run/dbus/system_bus_socket",
        "/var/run/docker.sock",
        "@sbxd",
        "@sbx-shim",
        "@/org/freedesktop/systemd1/notify",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        try_unix(paths[i]);
    /* abstract sockets bound anywhere in this network namespace */
    FILE *f = fopen("/proc/net/unix", "re");
    int n = 0;
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f))
            if (strstr(line, " @")) n++;
        fclose(f);
    }
    if (n == 0)
        verdict_ok("unix-abstract", "none", "list abstract unix sockets in /proc/net/unix");
    else
        verdict_bad("unix-abstract", "some bound", "list abstract unix sockets (%d)", n);
}

/* fds this process inherited beyond 0, 1, 2 (a leaked control socket) */
static void try_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        verdict("fds", E(ENOENT), errno, "opendir /proc/self/fd");
        return;
    }
    int extra = 0, dfd = dirfd(d);
    struct dirent *de;
    char list[256] = "";
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        int fd = atoi(de->d_name);
        if (fd <= 2 || fd == dfd) continue;
        char p[64], t[128] = "";
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(p, t, sizeof(t) - 1);
        if (n > 0) t[n] = 0;
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, " %d=%s", fd, t);
        extra++;
    }
    closedir(d);
    if (extra)
        verdict_bad("fds", "inherited", "open fds beyond 0-2:%s", list);
    else
        verdict_ok("fds", "none", "open fds beyond 0-2 (a leaked sbxd or shim socket)");
}

/* ------------------------------------------------------ modules, ttys etc -- */

static void try_module(void)
{
    static const char img[] = "\177ELF";
    long r = syscall(SYS_init_module, img, sizeof(img), "");
    verdict("module", SECCOMP, r < 0 ? errno : 0, "init_module(4 bytes)");
    int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
    r = syscall(SYS_finit_module, fd, "", 0);
    verdict("module", SECCOMP, r < 0 ? errno : 0, "finit_module(/bin/busybox)");
    if (fd >= 0) close(fd);
    r = syscall(SYS_delete_module, "loop", O_NONBLOCK);
    verdict("module", SECCOMP, r < 0 ? errno : 0, "delete_module(loop)");
    r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
    verdict("kexec", SECCOMP, r < 0 ? errno : 0, "kexec_load");
    r = syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc /* POWER_OFF */, NULL);
    verdict("reboot", SECCOMP, r < 0 ? errno : 0, "reboot(POWER_OFF)");
    r = syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    verdict("syslog", SECCOMP, r < 0 ? errno : 0, "syslog(SIZE_BUFFER) (kernel log)");
}

/* Host-wide kernel state and devices: time, swap, accounting, port I/O,
 * device nodes, execution domains, the host's device inodes. */
static void try_kernel(void)
{
    struct timespec ts = {0, 0};
    long r = syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
    verdict("clock", SECCOMP, r < 0 ? errno : 0, "clock_settime(CLOCK_REALTIME, 1970)");
    r = syscall(SYS_settimeofday, NULL, NULL);
    verdict("clock", SECCOMP, r < 0 ? errno : 0, "settimeofday");
    /* adjtimex is allowed (reading the clock state); changing it needs
     * CAP_SYS_TIME in the initial user namespace */
    struct timex tx = {.modes = ADJ_FREQUENCY, .freq = 1};
    r = adjtimex(&tx);
    verdict("clock", E(EPERM), r < 0 ? errno : 0, "adjtimex(ADJ_FREQUENCY)");
    r = syscall(SYS_swapon, "/tmp/escape-swap", 0);
    verdict("swap", SECCOMP, r < 0 ? errno : 0, "swapon(/tmp/escape-swap)");
    r = syscall(SYS_acct, "/tmp/escape-acct");
    verdict("acct", SECCOMP, r < 0 ? errno : 0, "acct(/tmp/escape-acct)");
    r = syscall(SYS_iopl, 3);
    verdict("iopl", SECCOMP, r < 0 ? errno : 0, "iopl(3)");
    r = syscall(SYS_ioperm, 0x80, 1, 1);
    verdict("ioperm", SECCOMP, r < 0 ? errno : 0, "ioperm(0x80)");
    r = syscall(SYS_quotactl, 0, "/", 0, NULL);
    verdict("quotactl", SECCOMP, r < 0 ? errno : 0, "quotactl(/)");
    r = syscall(SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */);
    verdict("personality", SECCOMP, r < 0 ? errno : 0, "personality(READ_IMPLIES_EXEC)");
    r = syscall(SYS_vhangup);
    verdict("vhangup", SECCOMP, r < 0 ? errno : 0, "vhangup");
    /* device nodes: allowed by seccomp, refused by the kernel (no
     * CAP_MKNOD in a user namespace, which root does not keep anyway) */
    r = mknod("/tmp/escape-sda", S_IFBLK | 0600, makedev(8, 0));
    if (r == 0) unlink("/tmp/escape-sda");
    verdict("mknod", E(EPERM), r < 0 ? errno : 0, "mknod(/tmp/escape-sda, block 8:0)");
    r = mknod("/tmp/escape-mem", S_IFCHR | 0600, makedev(1, 1));
    if (r == 0) unlink("/tmp/escape-mem");
    verdict("mknod", E(EPERM), r < 0 ? errno : 0, "mknod(/tmp/escape-mem, char 1:1 /dev/mem)");
    /* /dev/null is the host's device inode (bind mount): it belongs to the
     * host's root, unmapped here, so nobody inside may change it */
    r = chmod("/dev/null", 0777);
    verdict("devnode", E(EPERM), r < 0 ? errno : 0, "chmod(/dev/null, 0777)");
    r = chown("/dev/null", 0, 0);
    verdict("devnode", E(EPERM), r < 0 ? errno : 0, "chown(/dev/null, 0, 0)");
    r = setxattr("/dev/null", "user.escape", "x", 1, 0);
    /* user.* xattrs are not allowed on device nodes at all */
    verdict("devnode", E(EPERM), r < 0 ? errno : 0, "setxattr(/dev/null, user.escape)");
    /* a well-formed file capability (VFS_CAP_REVISION_2, CAP_SYS_ADMIN) */
    uint32_t vfscap[5] = {0x02000000, 1u << 21, 0, 0, 0};
    r = setxattr("/dev/null", "security.capability", vfscap, sizeof(vfscap), 0);
    verdict("devnode", E(EPERM), r < 0 ? errno : 0, "setxattr(/dev/null, security.capability)");
}

static void try_tiocsti(void)
{
    char c = 'x';
    int tty = isatty(0);
    int r = ioctl(0, TIOCSTI, &c);
    verdict("tiocsti", SECCOMP, RES(r), "ioctl(stdin%s, TIOCSTI)", tty ? " (a tty)" : "");
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        /* no controlling terminal: the exec's own session has none */
        verdict("tiocsti", E(ENXIO), errno, "open /dev/tty");
    } else {
        r = ioctl(fd, TIOCSTI, &c);
        verdict("tiocsti", SECCOMP, RES(r), "ioctl(/dev/tty, TIOCSTI)");
        char sub[2] = {12 /* TIOCL_GETKMSGREDIRECT */, 0};
        r = ioctl(fd, TIOCLINUX, sub);
        verdict("tioclinux", SECCOMP, RES(r), "ioctl(/dev/tty, TIOCLINUX)");
        /* the upper 32 bits of the command are ignored by the kernel */
        r = (int)syscall(SYS_ioctl, fd, 0x100000000ULL | TIOCSTI, &c);
        verdict("tiocsti", SECCOMP, RES(r), "ioctl(/dev/tty, 1<<32 | TIOCSTI)");
        close(fd);
    }
}

static void try_procsys(void)
{
    /* Files of the host's root (uid 0 outside, unmapped: "nobody" inside):
     * permission is checked before the mount's read-only flag, and the
     * sandbox's root has no capability over unmapped owners: EACCES for
     * both users. The read-only bind mount is the second lock (below). */
    const int *exp = E(EACCES);
    try_write("procsys", "/proc/sys/kernel/hostname", "escape", exp);
    try_write("procsys", "/proc/sys/kernel/core_pattern", "|/tmp/x", exp);
    /* absent (ENOENT) on kernels built without module support */
    try_write("procsys", "/proc/sys/kernel/modprobe", "/tmp/x", E(EACCES, ENOENT));
    try_write("procsys", "/proc/sys/vm/drop_caches", "3", exp);
    try_write("procsys", "/proc/sys/net/ipv4/ip_forward", "1", exp);
    try_write("procsys", "/proc/sys/fs/protected_symlinks", "0", exp);
    struct statvfs sv;
    if (statvfs("/proc/sys", &sv) == 0 && (sv.f_flag & ST_RDONLY))
        verdict_ok("procsys", "read-only mount", "statvfs /proc/sys");
    else
        verdict_bad("procsys", "not a read-only mount", "statvfs /proc/sys");
    int r = sethostname("escape", 6);
    /* the uts namespace is the sandbox's own: root may (CAP_SYS_ADMIN is not
     * kept, so no); the sandbox user has no capability */
    verdict("sethostname", E(EPERM), RES(r), "sethostname(escape)");
}

static void try_sysfs(void)
{
    /* /sys is an empty directory in the sandbox: nothing of the host's sysfs */
    try_write("sysfs", "/sys/kernel/uevent_helper", "/tmp/x", E(ENOENT));
    try_write("sysfs", "/sys/kernel/mm/transparent_hugepage/enabled", "never", E(ENOENT));
    try_write("sysfs", "/sys/class/net/eth0/mtu", "1280", E(ENOENT));
    try_write("sysfs", "/sys/power/state", "mem", E(ENOENT));
    DIR *d = opendir("/sys");
    int n = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_name[0] != '.') n++;
        closedir(d);
    }
    if (n == 0)
        verdict_ok("sysfs", "empty", "list /sys");
    else
        verdict_bad("sysfs", "has entries", "list /sys (%d entries)", n);
}

static void try_cgroup(void)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", getpid());
    /* no cgroup filesystem in the sandbox (ENOENT); mounting one: seccomp */
    try_write("cgroup", "/sys/fs/cgroup/cgroup.procs", pid, E(ENOENT));
    try_write("cgroup", "/sys/fs/cgroup/unified/cgroup.procs", pid, E(ENOENT));
    try_write("cgroup", "/sys/fs/cgroup/memory/cgroup.procs", pid, E(ENOENT));
    try_write("cgroup", "/sys/fs/cgroup/memory.max", "max", E(ENOENT));
    try_write("cgroup", "/sys/fs/cgroup/pids.max", "max", E(ENOENT));
    mkdir("/tmp/escape-cg", 0755);
    int r = mount("cgroup2", "/tmp/escape-cg", "cgroup2", 0, NULL);
    if (r == 0) umount2("/tmp/escape-cg", MNT_DETACH);
    verdict("cgroup", SECCOMP, RES(r), "mount cgroup2 on /tmp/escape-cg");
    r = mount("cgroup", "/tmp/escape-cg", "cgroup", 0, "pids");
    if (r == 0) umount2("/tmp/escape-cg", MNT_DETACH);
    verdict("cgroup", SECCOMP, RES(r), "mount cgroup v1 pids on /tmp/escape-cg");
    rmdir("/tmp/escape-cg");
    /* CLONE_INTO_CGROUP needs clone3 */
    int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct clone_args ca = {
        .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)dfd};
    long l = syscall(SYS_clone3, &ca, sizeof(ca));
    if (l == 0) _exit(0);
    if (l > 0) waitpid((pid_t)l, NULL, 0);
    verdict("cgroup", E(ENOSYS), l < 0 ? errno : 0, "clone3(CLONE_INTO_CGROUP)");
    if (dfd >= 0) close(dfd);
    /* the cgroup namespace's root is the session's cgroup */
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[256];
    int others = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char *c = strrchr(line, ':');
        if (c && strcmp(c, ":/\n") != 0) others++;
    }
    if (f) fclose(f);
    if (others)
        verdict_bad("cgroup", "paths outside its namespace root",
                    "read /proc/self/cgroup (%d lines not at /)", others);
    else
        verdict_ok("cgroup", "all at / (the namespace root)", "read /proc/self/cgroup");
}

static void try_rlimit(void)
{
    static const struct {
        int res;
        const char *name;
    } rl[] = {{RLIMIT_NOFILE, "RLIMIT_NOFILE"},
              {RLIMIT_NPROC, "RLIMIT_NPROC"},
              {RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"},
              {RLIMIT_RTPRIO, "RLIMIT_RTPRIO"},
              {RLIMIT_CORE, "RLIMIT_CORE"}};
    for (size_t i = 0; i < sizeof(rl) / sizeof(rl[0]); i++) {
        struct rlimit l;
        if (getrlimit(rl[i].res, &l) < 0) continue;
        if (l.rlim_max == RLIM_INFINITY) {
            printf("# %s hard limit is unlimited: nothing to raise\n", rl[i].name);
            continue;
        }
        struct rlimit n = {l.rlim_max + 1, l.rlim_max + 1};
        /* above the hard limit needs CAP_SYS_RESOURCE, kept by nobody */
        int r = setrlimit(rl[i].res, &n);
        verdict("rlimit", E(EPERM), RES(r), "setrlimit(%s, hard %llu -> %llu)", rl[i].name,
                (unsigned long long)l.rlim_max, (unsigned long long)n.rlim_max);
        struct rlimit n1 = {RLIM_INFINITY, RLIM_INFINITY};
        r = prlimit(1, rl[i].res, &n1, NULL);
        /* pid 1 is root's: the sandbox user may not touch it (EPERM);
         * root may not raise it (EPERM, no CAP_SYS_RESOURCE) */
        verdict("rlimit", E(EPERM), RES(r), "prlimit(init, %s, unlimited)", rl[i].name);
    }
    /* a negative nice value needs CAP_SYS_NICE (or RLIMIT_NICE, which is 0) */
    int r = setpriority(PRIO_PROCESS, 0, -20);
    verdict("nice", E(EACCES), RES(r), "setpriority(self, -20)");
    struct sched_param sp = {.sched_priority = 50};
    r = sched_setscheduler(0, SCHED_FIFO, &sp);
    verdict("sched", E(EPERM), RES(r), "sched_setscheduler(self, SCHED_FIFO, 50)");
    /* capabilities beyond what the process holds (bounding set): capset */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0xff, sizeof(data));
    r = (int)syscall(SYS_capset, &hdr, data);
    verdict("capset", E(EPERM), RES(r), "capset(all capabilities)");
    r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0);
    verdict("capset", E(EPERM), RES(r), "prctl(PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN)");
    r = prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0);
    /* no_new_privs cannot be cleared: the kernel answers EINVAL */
    verdict("no_new_privs", E(EINVAL), RES(r), "prctl(PR_SET_NO_NEW_PRIVS, 0)");
    /* protection from the OOM killer: lowering oom_score_adj below its
     * current value needs CAP_SYS_RESOURCE (EACCES) */
    try_write("oom", "/proc/self/oom_score_adj", "-1000", E(EACCES));
    /* a second id map: the sandbox's map is written once, by sbxd (EPERM) */
    try_write("idmap", "/proc/self/uid_map", "0 0 4294967295", E(EPERM));
    try_write("idmap", "/proc/self/gid_map", "0 0 4294967295", E(EPERM));
    /* cgroup files are not there to write: memory.max */
    try_write("rlimit", "/sys/fs/cgroup/memory.max", "max", E(ENOENT));
}

/* ------------------------------------------------- other sessions, host --- */

static void try_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        verdict_bad("file", "readable", "open + read %s (%zd bytes)", path, n);
        return;
    }
    /* not in the sandbox's mount namespace */
    verdict("file", E(ENOENT), errno, "open %s", path);
}

static void try_pid(pid_t pid)
{
    /* a pid of the host or another session: not in this pid namespace */
    int r = kill(pid, 0);
    verdict("pid", E(ESRCH), RES(r), "kill(%d, 0)", pid);
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/environ", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) close(fd);
    verdict("pid", E(ENOENT), RES(fd), "open %s", p);
    long l = ptrace(PTRACE_ATTACH, pid, 0, 0);
    verdict("pid", SECCOMP, l < 0 ? errno : 0, "ptrace(PTRACE_ATTACH, %d)", pid);
    l = syscall(SYS_pidfd_open, pid, 0);
    if (l >= 0) close((int)l);
    verdict("pid", E(ESRCH), l < 0 ? errno : 0, "pidfd_open(%d)", pid);
}

/* ------------------------------------------------------------ disk, inodes -- */

static void try_fill(const char *path, long mib)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        verdict("fill", E(ENOSPC, EDQUOT), errno, "create %s", path);
        return;
    }
    static char block[1 << 20];
    memset(block, 'x', sizeof(block));
    long long total = 0;
    int e = 0;
    for (long i = 0; i < mib; i++) {
        size_t off = 0;
        while (off < sizeof(block)) {
            ssize_t n = write(fd, block + off, sizeof(block) - off);
            if (n < 0) {
                e = errno;
                break;
            }
            off += (size_t)n;
            total += n;
        }
        if (e) break;
    }
    if (!e && fsync(fd) < 0) e = errno;
    if (close(fd) < 0 && !e) e = errno;
    unlink(path);
    /* the filesystem's size (tmpfs size=) or the session's quota */
    verdict("fill", E(ENOSPC, EDQUOT), e, "write %s up to %ld MiB", path, mib);
    printf("# fill %s: %lld bytes written before the error\n", path, total);
}

static void try_inodes(const char *dir, long max)
{
    long i, made = 0;
    int e = 0;
    char p[4096];
    mkdir(dir, 0755);
    for (i = 0; i < max; i++) {
        snprintf(p, sizeof(p), "%s/f%ld", dir, i);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            e = errno;
            break;
        }
        close(fd);
        made++;
    }
    for (i = 0; i < made; i++) {
        snprintf(p, sizeof(p), "%s/f%ld", dir, i);
        unlink(p);
    }
    rmdir(dir);
    verdict("inodes", E(ENOSPC, EDQUOT), e, "create up to %ld files in %s", max, dir);
    printf("# inodes %s: %ld files created before the error\n", dir, made);
}

/* ------------------------------------------------------------------- main -- */

static const struct {
    const char *name;
    void (*fn)(void);
} groups[] = {
    {"ns", try_ns},
    {"mount", try_mount},
    {"pivot", try_pivot},
    {"chroot", try_chroot},
    {"ptrace", try_ptrace},
    {"handle", try_handle},
    {"procfiles", try_procfiles},
    {"keyctl", try_keyctl},
    {"bpf", try_bpf},
    {"perf", try_perf},
    {"io_uring", try_io_uring},
    {"userfaultfd", try_userfaultfd},
    {"rawsock", try_rawsock},
    {"families", try_families},
    {"netlink", try_netlink},
    {"module", try_module},
    {"kernel", try_kernel},
    {"tiocsti", try_tiocsti},
    {"procsys", try_procsys},
    {"sysfs", try_sysfs},
    {"cgroup", try_cgroup},
    {"rlimit", try_rlimit},
    {"fds", try_fds},
    {"unixguess", try_unixguess},
};

static int usage(void)
{
    fprintf(stderr, "usage: escape all | GROUP | connect HOST PORT | unix PATH... | file PATH... "
                    "| pid PID... | fill PATH MIB | inodes DIR N\ngroups:");
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
        fprintf(stderr, " %s", groups[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    is_root = geteuid() == 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# escape: uid %d euid %d pid %d\n", getuid(), geteuid(), getpid());
    const char *cmd = argv[1];
    if (strcmp(cmd, "all") == 0) {
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
            groups[i].fn();
    } else if (strcmp(cmd, "connect") == 0 && (argc == 4 || argc == 5)) {
        /* expected: ECONNREFUSED unless given (names joined by commas) */
        int exp[8] = {ECONNREFUSED, 0};
        if (argc == 5) {
            int k = 0;
            for (char *t = strtok(argv[4], ","); t && k < 7; t = strtok(NULL, ",")) {
                int v = strcmp(t, "SHIM403") == 0 ? SHIM403 : 0;
                for (int x = 1; !v && x < 200; x++)
                    if (strerrorname_np(x) && strcmp(strerrorname_np(x), t) == 0) v = x;
                if (!v) return usage();
                exp[k++] = v;
            }
            exp[k] = 0;
        }
        try_connect(argv[2], argv[3], exp);
    } else if (strcmp(cmd, "unix") == 0 && argc >= 3) {
        for (int i = 2; i < argc; i++)
            try_unix(argv[i]);
    } else if (strcmp(cmd, "file") == 0 && argc >= 3) {
        for (int i = 2; i < argc; i++)
            try_file(argv[i]);
    } else if (strcmp(cmd, "pid") == 0 && argc >= 3) {
        for (int i = 2; i < argc; i++)
            try_pid((pid_t)atoi(argv[i]));
    } else if (strcmp(cmd, "fill") == 0 && argc == 4) {
        try_fill(argv[2], atol(argv[3]));
    } else if (strcmp(cmd, "inodes") == 0 && argc == 4) {
        try_inodes(argv[2], atol(argv[3]));
    } else {
        size_t i;
        for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
            if (strcmp(cmd, groups[i].name) == 0) break;
        if (i == sizeof(groups) / sizeof(groups[0])) return usage();
        groups[i].fn();
    }
    printf("# escape: %d attempt(s) not refused for the expected reason\n", bad);
    return bad ? 1 : 0;
}
