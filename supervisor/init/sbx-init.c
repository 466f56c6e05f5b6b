/* sbx-init - pid 1 inside every sandbox.
 *
 * Owns: reaping every process in the sandbox; starting processes on request
 * from sbxd (IP_EXEC on fd 3) with the requested user, no capabilities (or
 * the reduced root set) and a new session (setsid: no terminal to inject
 * into); no_new_privs and the seccomp program are installed in init itself
 * before READY, so every process in the sandbox inherits them;
 * signalling an exec's process group; reporting start, failure and exit;
 * making a pty for tty execs; holding the fds that keep each process alive
 * and reachable while sbxd is away, and handing them to the sbxd that takes
 * over (initproto.h, "Surviving sbxd").
 * Must never: be dumpable, let its control socket or a kept fd reach a
 * child, or trust anything but sbxd (the only peer of fd 3). Static; libc +
 * libcap only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <termios.h>

#include "caps.h"
#include "initproto.h"

#define CTL 3
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct proc {
    pid_t pid;
    uint32_t id, flags;
    uint32_t keep;           /* IP_KEEP_* present in kept[] */
    int kept[5];             /* by bit index of IP_KEEP_*; -1 if none */
    char *meta;
    int exited, status;      /* reaped while sbxd was away: reported at HELLO */
    struct proc *next;
};

static struct proc *procs;
static int seccomp_on;
static int ctl_dead; /* no control socket could be made again: reap only */
/* An sbxd holds the other end of CTL. Cleared when the control socket
 * reaches EOF (detach), set again by HELLO. A failed send changes nothing:
 * EOF follows and is handled where it is read. */
static int attached = 1;

static void send_simple(uint32_t type, uint32_t id, int with_u32, uint32_t v, const char *s)
{
    if (attached) ip_send_simple(CTL, type, id, with_u32, v, s);
}

static void proc_drop_fds(struct proc *p)
{
    for (int i = 0; i < 5; i++)
        if (p->kept[i] >= 0) {
            close(p->kept[i]);
            p->kept[i] = -1;
        }
    p->keep = 0;
}

static void proc_free(struct proc *p)
{
    proc_drop_fds(p);
    free(p->meta);
    free(p);
}

/* sbxd is gone: make the rendezvous a new sbxd takes with pidfd_getfd. */
static int detach(void)
{
    attached = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    int r = (dup3(sv[1], IP_REATTACH_FD, O_CLOEXEC) < 0 || dup3(sv[0], CTL, O_CLOEXEC) < 0) ? -1 : 0;
    close(sv[0]);
    close(sv[1]);
    return r;
}

static int adopt_send(struct proc *p)
{
    struct ip_buf b;
    ip_buf_init(&b);
    struct ip_hdr h = {IP_ADOPT, p->id};
    ip_put_bytes(&b, &h, sizeof(h));
    ip_put_u32(&b, (uint32_t)p->pid);
    ip_put_u32(&b, p->flags);
    ip_put_u32(&b, p->keep);
    ip_put_u32(&b, (uint32_t)p->exited);
    ip_put_u32(&b, (uint32_t)p->status);
    ip_put_str(&b, p->meta ? p->meta : "");
    int fds[5], n = 0;
    for (int i = 0; i < 5; i++)
        if (p->keep & (1u << i)) fds[n++] = p->kept[i];
    int r = b.failed ? -ENOMEM : ip_send(CTL, b.data, b.len, fds, n);
    ip_buf_free(&b);
    return r;
}

/* A new sbxd holds the control socket: tell it everything we hold. */
static void handle_hello(void)
{
    close(IP_REATTACH_FD);
    attached = 1;
    for (struct proc **pp = &procs; *pp;) {
        struct proc *p = *pp;
        if (adopt_send(p) < 0) return; /* gone again: EOF follows */
        if (p->exited) { /* reported: sbxd owns its fds now */
            *pp = p->next;
            proc_free(p);
            continue;
        }
        pp = &p->next;
    }
    send_simple(IP_ADOPT_DONE, 0, 0, 0, NULL);
}

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return NULL;
}

/* execvpe with PATH taken from the new environment (glibc uses ours). */
static int exec_search(const char *file, char **argv, char **env)
{
    if (strchr(file, '/')) {
        execve(file, argv, env);
        return errno;
    }
    const char *path = env_get(env, "PATH");
    if (!path) path = DEFAULT_PATH;
    int saw_eacces = 0;
    char buf[4096];
    for (const char *p = path;;) {
        const char *end = strchrnul(p, ':');
        size_t dl = (size_t)(end - p);
        if (dl == 0) {
            dl = 1;
            p = ".";
        }
        if (dl + strlen(file) + 2 <= sizeof(buf)) {
            memcpy(buf, p, dl);
            buf[dl] = '/';
            strcpy(buf + dl + 1, file);
            execve(buf, argv, env);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR)
                return errno;
        }
        if (*end == '\0') break;
        p = end + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

static void __attribute__((noreturn)) child_fail(int errfd, int e, const char *stage)
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "%d %s", e, stage);
    if (write(errfd, msg, (size_t)n) < 0) {
    }
    _exit(127);
}

static void __attribute__((noreturn)) child(struct ip_exec *e, int *fds, int errfd)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    if (setsid() < 0) child_fail(errfd, errno, "setsid");
    /* the pty slave (fds[0..2]) becomes the controlling terminal of this new session */
    if ((e->flags & IP_EXEC_TTY) && ioctl(fds[0], TIOCSCTTY, 0) < 0)
        child_fail(errfd, errno, "set controlling terminal");
    /* errfd first out of the way of 0..2 */
    int ef = fcntl(errfd, F_DUPFD_CLOEXEC, 10);
    if (ef < 0) child_fail(errfd, errno, "dup");
    errfd = ef;
    int moved[3];
    for (int i = 0; i < 3; i++) {
        moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (moved[i] < 0) child_fail(errfd, errno, "dup");
    }
    for (int i = 0; i < 3; i++)
        if (dup2(moved[i], i) < 0) child_fail(errfd, errno, "dup2");
    /* nothing but 0..2 and the error pipe survives */
    syscall(SYS_close_range, 3, (unsigned)errfd - 1, 0);
    syscall(SYS_close_range, (unsigned)errfd + 1, ~0U, 0);

    int root = (e->flags & IP_EXEC_ROOT_CAPS) != 0;
    int r = caps_limit_bounding(root);
    if (r < 0) child_fail(errfd, -r, "drop capability bounding set");
    gid_t g = e->gid;
    if (setgroups(1, &g) < 0) child_fail(errfd, errno, "setgroups");
    if (setresgid(e->gid, e->gid, e->gid) < 0) child_fail(errfd, errno, "setgid");
    if (setresuid(e->uid, e->uid, e->uid) < 0) child_fail(errfd, errno, "setuid");
    r = caps_apply(root);
    if (r < 0) child_fail(errfd, -r, "set capabilities");
    if (chdir(e->cwd) < 0) child_fail(errfd, errno, "chdir");
    /* no_new_privs and the seccomp filter are inherited from init. */
    int err = exec_search(e->argv[0], (char **)e->argv, (char **)e->env);
    child_fail(errfd, err, "execve");
}

static int popcount5(uint32_t m)
{
    int n = 0;
    for (int i = 0; i < 5; i++) n += (m >> i) & 1;
    return n;
}

/* A pty for a tty exec: master (kept, sent to sbxd) and the slave, owned by
 * the exec's user like a login terminal. Returns 0 or an errno. */
static int make_pty(const struct ip_exec *e, int *master, int *slave)
{
    *master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0) return errno;
    int unlock = 0;
    struct winsize ws = {.ws_row = (unsigned short)(e->rows ? e->rows : 24),
                         .ws_col = (unsigned short)(e->cols ? e->cols : 80)};
    if (ioctl(*master, TIOCSPTLCK, &unlock) < 0 || ioctl(*master, TIOCSWINSZ, &ws) < 0) goto fail;
    *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) goto fail;
    if (fchown(*slave, e->uid, e->gid) < 0 || fchmod(*slave, 0620) < 0) {
        int er = errno;
        close(*slave);
        close(*master);
        return er;
    }
    return 0;
fail:;
    int er = errno;
    close(*master);
    return er;
}

static void handle_exec(uint32_t id, const uint8_t *payload, size_t len, int *fds, int nfds)
{
    struct ip_exec e;
    if (ip_exec_decode(payload, len, &e) < 0) {
        send_simple(IP_FAILED, id, 1, EINVAL, "malformed exec request");
        return;
    }
    int tty = (e.flags & IP_EXEC_TTY) != 0;
    int nchild = tty ? 0 : 3;
    if (nfds != nchild + popcount5(e.keep)) {
        ip_exec_free(&e);
        send_simple(IP_FAILED, id, 1, EINVAL, "malformed exec request");
        return;
    }
    struct proc *p = calloc(1, sizeof(*p));
    char *meta = p ? strdup(e.meta) : NULL;
    if (!p || !meta) {
        free(p);
        ip_exec_free(&e);
        send_simple(IP_FAILED, id, 1, ENOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < 5; i++) p->kept[i] = -1;
    p->meta = meta;
    p->id = id;
    p->flags = e.flags;
    /* the kept fds are ours from here on (the caller closes fds[]) */
    for (int i = 0, k = nchild; i < 5; i++)
        if (e.keep & (1u << i)) {
            p->kept[i] = fcntl(fds[k++], F_DUPFD_CLOEXEC, 10);
            if (p->kept[i] >= 0) p->keep |= 1u << i;
        }
    int master = -1, slave = -1, cfds[3];
    if (tty) {
        int r = make_pty(&e, &master, &slave);
        if (r) {
            ip_exec_free(&e);
            proc_free(p);
            send_simple(IP_FAILED, id, 1, (uint32_t)r, "open a pty");
            return;
        }
        cfds[0] = cfds[1] = cfds[2] = slave;
        p->kept[4] = master;
        p->keep |= IP_KEEP_PTY;
    } else {
        memcpy(cfds, fds, sizeof(cfds));
    }
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0) {
        send_simple(IP_FAILED, id, 1, (uint32_t)errno, "pipe");
        if (slave >= 0) close(slave);
        ip_exec_free(&e);
        proc_free(p);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(ep[0]);
        child(&e, cfds, ep[1]);
    }
    int fork_errno = errno;
    ip_exec_free(&e);
    close(ep[1]);
    if (slave >= 0) close(slave);
    if (pid < 0) {
        close(ep[0]);
        proc_free(p);
        send_simple(IP_FAILED, id, 1, (uint32_t)fork_errno, "fork");
        return;
    }
    char msg[128];
    ssize_t n;
    do {
        n = read(ep[0], msg, sizeof(msg) - 1);
    } while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n > 0) {
        msg[n] = '\0';
        char *sp = strchr(msg, ' ');
        proc_free(p);
        send_simple(IP_FAILED, id, 1, (uint32_t)atoi(msg), sp ? sp + 1 : "exec");
        return; /* the child exits 127; reaped below, not reported */
    }
    p->pid = pid;
    p->next = procs;
    procs = p;
    if (!attached) return;
    uint8_t m[sizeof(struct ip_hdr) + 4];
    struct ip_hdr h = {IP_STARTED, id};
    memcpy(m, &h, sizeof(h));
    uint8_t le[4] = {(uint8_t)pid, (uint8_t)(pid >> 8), (uint8_t)(pid >> 16), (uint8_t)(pid >> 24)};
    memcpy(m + sizeof(h), le, 4);
    ip_send(CTL, m, sizeof(m), tty ? &master : NULL, tty ? 1 : 0);
}

static void handle_signal(uint32_t id, const uint8_t *payload, size_t len)
{
    struct ip_buf b;
    ip_buf_reader(&b, payload, len);
    uint32_t sig = ip_get_u32(&b);
    if (b.failed || sig == 0 || sig >= NSIG) return;
    for (struct proc *p = procs; p; p = p->next)
        if (p->id == id && !p->exited) kill(-p->pid, (int)sig); /* its process group (setsid) */
}

static void handle_stdin_close(uint32_t id)
{
    for (struct proc *p = procs; p; p = p->next)
        if (p->id == id && p->kept[0] >= 0) {
            close(p->kept[0]);
            p->kept[0] = -1;
            p->keep &= ~IP_KEEP_STDIN;
        }
}

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (struct proc **pp = &procs; *pp; pp = &(*pp)->next) {
            if ((*pp)->pid == pid && !(*pp)->exited) {
                struct proc *p = *pp;
                if (!attached) {
                    /* nobody to tell: keep it (and what is left in its
                     * pipes) for the next sbxd */
                    p->exited = 1;
                    p->status = st;
                    p->keep &= ~(IP_KEEP_STDIN | IP_KEEP_CONN);
                    if (p->kept[0] >= 0) close(p->kept[0]);
                    if (p->kept[3] >= 0) close(p->kept[3]);
                    p->kept[0] = p->kept[3] = -1;
                    break;
                }
                /* the kept fds go before sbxd hears of the exit: the client
                 * connection must not outlive the stream sbxd ends now */
                proc_drop_fds(p);
                send_simple(IP_EXITED, p->id, 1, (uint32_t)st, NULL);
                *pp = p->next;
                proc_free(p);
                break;
            }
        }
    }
}

static void handle_ctl(void)
{
    static uint8_t buf[IP_MAX_MSG];
    int fds[IP_MAX_FDS], nfds = 0;
    ssize_t n = ip_recv(CTL, buf, sizeof(buf), fds, &nfds);
    if (n < 0 && n != -ECONNRESET) return; /* EAGAIN, EINTR, a truncated record */
    if (n <= 0) {
        /* sbxd went away: keep reaping, and wait for the next one. */
        if (detach() < 0) ctl_dead = 1;
        return;
    }
    struct ip_hdr h;
    if ((size_t)n < sizeof(h)) goto out;
    memcpy(&h, buf, sizeof(h));
    const uint8_t *pl = buf + sizeof(h);
    size_t pn = (size_t)n - sizeof(h);
    switch (h.type) {
    case IP_SECCOMP:
        /* Installed once, here, in init itself: every process it starts
         * inherits the filter and no_new_privs (installing per exec cost
         * ~0.3 ms each). Init needs nothing the filter refuses. */
        if (!seccomp_on && pn % sizeof(struct sock_filter) == 0 && pn > 0 &&
            pn / sizeof(struct sock_filter) <= BPF_MAXINSNS) {
            struct sock_fprog prog = {.len = (unsigned short)(pn / sizeof(struct sock_filter)),
                                      .filter = (struct sock_filter *)(uintptr_t)pl};
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
                seccomp_on = 1;
        }
        if (seccomp_on) send_simple(IP_READY, 0, 0, 0, NULL);
        break;
    case IP_EXEC:
        if (!seccomp_on) {
            send_simple(IP_FAILED, h.id, 1, EPERM, "no seccomp program");
            break;
        }
        handle_exec(h.id, pl, pn, fds, nfds);
        break;
    case IP_SIGNAL: handle_signal(h.id, pl, pn); break;
    case IP_STDIN_CLOSE: handle_stdin_close(h.id); break;
    case IP_HELLO: handle_hello(); break;
    default: break;
    }
out:
    for (int i = 0; i < nfds; i++) close(fds[i]);
}

int main(void)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fcntl(CTL, F_SETFD, FD_CLOEXEC) < 0 || sfd < 0) return 1;
    for (;;) {
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {ctl_dead ? -1 : CTL, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) return 1;
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
            }
            reap();
        }
        if (!ctl_dead && p[1].revents) handle_ctl();
    }
}
