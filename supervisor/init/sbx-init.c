/* sbx-init - pid 1 inside every sandbox.
 *
 * Owns: reaping every process in the sandbox; starting processes on request
 * from sbxd (IP_EXEC on fd 3) with the requested user, no capabilities (or
 * the reduced root set) and a new session (setsid: no terminal to inject
 * into); no_new_privs and the seccomp program are installed in init itself
 * before READY, so every process in the sandbox inherits them;
 * signalling an exec's process group; reporting start, failure and exit.
 * Must never: be dumpable, let its control socket reach a child, or trust
 * anything but sbxd (the only peer of fd 3). Static; libc + libcap only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include "caps.h"
#include "initproto.h"

#define CTL 3
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct proc {
    pid_t pid;
    uint32_t id;
    struct proc *next;
};

static struct proc *procs;
static int seccomp_on;
static int ctl_open = 1;

static void send_simple(uint32_t type, uint32_t id, int with_u32, uint32_t v, const char *s)
{
    if (ctl_open && ip_send_simple(CTL, type, id, with_u32, v, s) < 0) ctl_open = 0;
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

static void handle_exec(uint32_t id, const uint8_t *payload, size_t len, int *fds, int nfds)
{
    struct ip_exec e;
    if (nfds != 3 || ip_exec_decode(payload, len, &e) < 0) {
        send_simple(IP_FAILED, id, 1, EINVAL, "malformed exec request");
        return;
    }
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0) {
        send_simple(IP_FAILED, id, 1, (uint32_t)errno, "pipe");
        ip_exec_free(&e);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(ep[0]);
        child(&e, fds, ep[1]);
    }
    int fork_errno = errno;
    ip_exec_free(&e);
    close(ep[1]);
    if (pid < 0) {
        close(ep[0]);
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
        send_simple(IP_FAILED, id, 1, (uint32_t)atoi(msg), sp ? sp + 1 : "exec");
        return; /* the child exits 127; reaped below, not reported */
    }
    struct proc *p = malloc(sizeof(*p));
    if (!p) {
        kill(-pid, SIGKILL);
        send_simple(IP_FAILED, id, 1, ENOMEM, "out of memory");
        return;
    }
    p->pid = pid;
    p->id = id;
    p->next = procs;
    procs = p;
    send_simple(IP_STARTED, id, 1, (uint32_t)pid, NULL);
}

static void handle_signal(uint32_t id, const uint8_t *payload, size_t len)
{
    struct ip_buf b;
    ip_buf_reader(&b, payload, len);
    uint32_t sig = ip_get_u32(&b);
    if (b.failed || sig == 0 || sig >= NSIG) return;
    for (struct proc *p = procs; p; p = p->next)
        if (p->id == id) kill(-p->pid, (int)sig); /* its process group (setsid) */
}

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (struct proc **pp = &procs; *pp; pp = &(*pp)->next) {
            if ((*pp)->pid == pid) {
                struct proc *p = *pp;
                send_simple(IP_EXITED, p->id, 1, (uint32_t)st, NULL);
                *pp = p->next;
                free(p);
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
    if (n == -EAGAIN || n == -EINTR) return;
    if (n <= 0) {
        /* sbxd went away: keep reaping; it may come back for us. */
        ctl_open = 0;
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
        struct pollfd p[2] = {{sfd, POLLIN, 0}, {ctl_open ? CTL : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) return 1;
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
            }
            reap();
        }
        if (ctl_open && p[1].revents) handle_ctl();
    }
}
