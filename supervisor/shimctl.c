/* shimctl.c - see shimctl.h. */
#include "shimctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "../shim/ctl.h"
#include "egress.h"
#include "helper.h"
#include "log.h"
#include "ports.h"
#include "sbxd.h"
#include "secrets.h"
#include "session.h"
#include "util.h"

#define SHIM_ACK_TIMEOUT_MS 3000
#define SHIM_MAX_LISTENERS 1024

static void shim_died_cb(evutil_socket_t fd, short ev, void *arg);
static void restart_cb(evutil_socket_t fd, short ev, void *arg);

int shimctl_running(struct sbxd *d)
{
    return d->shim.ctl >= 0;
}

/* Send one message (+ an fd); 0 or -1. */
static int ctl_send(struct sbxd *d, struct json_object *msg, int fd, sbx_err *err)
{
    size_t len;
    const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &len);
    struct iovec iov = {(void *)s, len};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    int r = sendmsg(d->shim.ctl, &mh, MSG_NOSIGNAL) < 0 ? sbx_error(err, errno, "send to sbx-shim") : 0;
    explicit_bzero((char *)s, len); /* it may carry secret values */
    return r;
}

/* {"op":"ready","ca":PEM}: the node CA sandboxes trust (written to
 * STATE/ca.pem for people and tools, 0644). */
static int take_ca(struct sbxd *d, struct json_object *ready, sbx_err *err)
{
    struct json_object *v;
    if (!json_object_object_get_ex(ready, "ca", &v) || !json_object_is_type(v, json_type_string))
        return sbx_error(err, EPROTO, "sbx-shim reported no CA certificate");
    const char *pem = json_object_get_string(v);
    if (d->shim.ca_pem && strcmp(d->shim.ca_pem, pem) == 0) return 0;
    char *copy = strdup(pem);
    if (!copy) return sbx_error(err, ENOMEM, "CA");
    free(d->shim.ca_pem);
    d->shim.ca_pem = copy;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/ca.pem", d->cfg.state_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    size_t len = strlen(pem);
    if (fd < 0 || write(fd, pem, len) != (ssize_t)len || rename(tmp, path) < 0)
        log_warn("cannot write %s: %s", path, strerror(errno));
    return 0;
}

const char *shimctl_ca_pem(struct sbxd *d)
{
    return d->shim.ca_pem;
}

/* Wait for {"op":want} (with seq when seq > 0); 0, or -1 with the shim's error. */
static int ctl_wait(struct sbxd *d, const char *want, uint64_t seq, sbx_err *err)
{
    double deadline = now_mono() + SHIM_ACK_TIMEOUT_MS / 1000.0;
    static char buf[65536];
    for (;;) {
        int left = (int)((deadline - now_mono()) * 1000);
        if (left <= 0) return sbx_error(err, ETIMEDOUT, "sbx-shim did not answer");
        struct pollfd p = {d->shim.ctl, POLLIN, 0};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = recv(d->shim.ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) return sbx_error(err, n < 0 ? errno : EPIPE, "sbx-shim closed its control channel");
        buf[n] = '\0';
        struct json_object *m = json_tokener_parse(buf);
        if (!m) continue;
        struct json_object *v;
        const char *op = json_object_object_get_ex(m, "op", &v) ? json_object_get_string(v) : "";
        uint64_t mseq = json_object_object_get_ex(m, "seq", &v) ? (uint64_t)json_object_get_int64(v) : 0;
        int match = op && strcmp(op, want) == 0 && (seq == 0 || mseq == seq);
        int ret = 0;
        if (match && strcmp(want, "ready") == 0) ret = take_ca(d, m, err);
        if (match && json_object_object_get_ex(m, "error", &v) && json_object_is_type(v, json_type_string))
            ret = sbx_error_kind(err, SBX_E_INVALID, "invalid_policy", "sbx-shim refused: %s",
                                 json_object_get_string(v));
        json_object_put(m);
        if (match) return ret;
    }
}

static int ctl_call(struct sbxd *d, struct json_object *msg, int fd, sbx_err *err)
{
    uint64_t seq = ++d->shim.seq;
    json_object_object_add(msg, "seq", json_object_new_int64((int64_t)seq));
    int r = ctl_send(d, msg, fd, err);
    json_object_put(msg);
    if (r < 0) return -1;
    return ctl_wait(d, "ack", seq, err);
}

int shimctl_call(struct sbxd *d, struct json_object *msg, int fd, sbx_err *err)
{
    if (!shimctl_running(d)) {
        json_object_put(msg);
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, "unavailable", "sbx-shim is not running");
    }
    return ctl_call(d, msg, fd, err);
}

void shimctl_kill(struct sbxd *d)
{
    if (d->shim.pidfd >= 0) syscall(SYS_pidfd_send_signal, d->shim.pidfd, SIGKILL, NULL, 0);
}

static int send_listener(struct sbxd *d, int i, sbx_err *err)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("listen"));
    json_object_object_add(m, "proto",
                           json_object_new_string(d->shim.lis[i].type == SOCK_STREAM ? "tcp" : "udp"));
    json_object_object_add(m, "port", json_object_new_int(d->shim.lis[i].port));
    return ctl_call(d, m, d->shim.lis[i].fd, err);
}

static int add_listener(struct sbxd *d, int type, uint16_t port, sbx_err *err)
{
    for (int i = 0; i < d->shim.nlis; i++)
        if (d->shim.lis[i].type == type && d->shim.lis[i].port == port) return 0;
    if (d->shim.nlis >= SHIM_MAX_LISTENERS)
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, "too_many_ports",
                              "the node already listens on %d egress ports; use fewer distinct "
                              "ports or port ranges",
                              SHIM_MAX_LISTENERS);
    if (!d->shim.lis) {
        d->shim.lis = calloc(SHIM_MAX_LISTENERS, sizeof(*d->shim.lis));
        if (!d->shim.lis) return sbx_error(err, ENOMEM, "listeners");
    }
    int fd = egress_listen(&d->egress, type, port, err);
    if (fd < 0) return -1;
    int i = d->shim.nlis++;
    d->shim.lis[i].type = type;
    d->shim.lis[i].port = port;
    d->shim.lis[i].fd = fd;
    if (shimctl_running(d) && send_listener(d, i, err) < 0) {
        log_warn("sbx-shim: %s", err->msg);
        sbx_error_clear(err); /* the shim gets it again when it restarts */
    }
    return 0;
}

int shimctl_ensure_ports(struct sbxd *d, struct json_object *policy, sbx_err *err)
{
    struct json_object *allow;
    if (!d->cfg.network || !policy || !json_object_object_get_ex(policy, "allow", &allow)) return 0;
    size_t n = json_object_array_length(allow);
    for (size_t i = 0; i < n; i++) {
        const char *e = json_object_get_string(json_object_array_get_idx(allow, i));
        const char *colon = e ? strrchr(e, ':') : NULL;
        if (!colon) continue;
        unsigned lo, hi;
        if (sscanf(colon + 1, "%u-%u", &lo, &hi) != 2) {
            if (sscanf(colon + 1, "%u", &lo) != 1) continue;
            hi = lo;
        }
        if (hi - lo + 1 > 256)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_policy",
                                  "network.allow: port range %u-%u spans more than 256 ports", lo, hi);
        for (unsigned p = lo; p <= hi && p <= 65535; p++)
            if (add_listener(d, SOCK_STREAM, (uint16_t)p, err) < 0) return -1;
    }
    return 0;
}

/* secrets: the "secrets" field to send (taken), or NULL: none sent, the shim
 * keeps what it holds */
static struct json_object *session_msg(struct session *s, struct json_object *secrets)
{
    char a[INET_ADDRSTRLEN];
    struct in_addr ia = {egress_slot_addr(s->slot)};
    inet_ntop(AF_INET, &ia, a, sizeof(a));
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("session"));
    json_object_object_add(m, "id", json_object_new_string(s->id));
    json_object_object_add(m, "addr", json_object_new_string(a));
    json_object_object_add(m, "labels", json_object_get(s->labels));
    json_object_object_add(m, "policy", json_object_get(s->policy));
    if (secrets) json_object_object_add(m, "secrets", secrets);
    return m;
}

int shimctl_session_set(struct sbxd *d, struct session *s, sbx_err *err)
{
    if (!d->cfg.network || !shimctl_running(d)) return 0; /* sent when it (re)starts */
    if (ctl_call(d, session_msg(s, NULL), -1, err) < 0)
        return sbx_error_wrap(err, "apply network policy");
    return 0;
}

int shimctl_session_create(struct sbxd *d, struct session *s, struct json_object *secrets,
                           sbx_err *err)
{
    if (!d->cfg.network) return 0;
    if (!shimctl_running(d)) {
        if (!secrets) return 0; /* sent when it (re)starts */
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, "network_unavailable",
                              "sbx-shim (the network edge) is restarting and secrets can only be "
                              "handed to it; retry in a few seconds");
    }
    struct json_object *m = session_msg(s, secrets ? json_object_get(secrets) : NULL);
    int r = ctl_call(d, m, -1, err);
    if (r < 0) return sbx_error_wrap(err, "apply network policy");
    return 0;
}

void shimctl_session_remove(struct sbxd *d, struct session *s)
{
    if (!d->cfg.network || !shimctl_running(d)) return;
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("remove"));
    json_object_object_add(m, "id", json_object_new_string(s->id));
    sbx_err err;
    if (ctl_call(d, m, -1, &err) < 0) log_warn("sbx-shim: remove session %s: %s", s->id, err.msg);
}

/* In the child: become the shim (never returns). */
static void exec_shim(struct sbxd *d, const char *path, int ctl, int audit, int netns, int sock)
{
    if (netns >= 0 && setns(netns, CLONE_NEWNET) < 0) _exit(120);
    /* the socket supply (ports.h) goes to fd 5: first out of the way of 3 and 4 */
    if (sock >= 0 && (sock = fcntl(sock, F_DUPFD_CLOEXEC, 10)) < 0) _exit(121);
    if (dup2(ctl, SHIM_CTL_FD) < 0 || dup2(audit, 4) < 0) _exit(121);
    if (sock >= 0 && dup2(sock, SHIM_SOCK_FD) < 0) _exit(121);
    /* drop to the shim user: no supplementary groups, no capabilities left */
    if (setgroups(0, NULL) < 0 || setresgid(d->shim.gid, d->shim.gid, d->shim.gid) < 0 ||
        setresuid(d->shim.uid, d->shim.uid, d->shim.uid) < 0)
        _exit(122);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) _exit(123);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) _exit(124);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    const char *argv[24];
    int i = 0;
    argv[i++] = "sbx-shim";
    argv[i++] = "--ctl-fd";
    argv[i++] = "3";
    argv[i++] = "--audit-fd";
    argv[i++] = "4";
    argv[i++] = "--gateway";
    argv[i++] = EGRESS_GW;
    if (d->cfg.shim_hosts) {
        argv[i++] = "--hosts";
        argv[i++] = d->cfg.shim_hosts;
    }
    char cadir[PATH_MAX];
    snprintf(cadir, sizeof(cadir), "%s/ca", d->cfg.state_dir);
    argv[i++] = "--ca-dir";
    argv[i++] = cadir;

    if (sock >= 0) {
        argv[i++] = "--sock-fd";
        argv[i++] = "5"; /* SHIM_SOCK_FD */
    }
    if (d->cfg.debug) argv[i++] = "--debug";
    argv[i] = NULL;
    execv(path, (char *const *)argv);
    _exit(127);
}

static int spawn(struct sbxd *d, sbx_err *err)
{
    char path[PATH_MAX];
    if (helper_exe_path(d->cfg.shim_path, "sbx-shim", path, sizeof(path)) < 0 ||
        access(path, X_OK) != 0)
        return sbx_error(err, errno ? errno : ENOENT, "sbx-shim at %s (pass --shim)", path);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_error(err, errno, "socketpair");
    int sz = SHIM_CTL_MAX + 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    _cleanup_close_ int netns = -1;
    if (d->cfg.shim_netns) {
        netns = open(d->cfg.shim_netns, O_RDONLY | O_CLOEXEC);
        if (netns < 0) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            return sbx_error(err, e, "open --shim-netns %s", d->cfg.shim_netns);
        }
    }
    int sock = -1; /* the shim's end of the socket supply channel (ports.h) */
    if (preview_shim_prespawn(d, &sock, err) < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    int pidfd = -1;
    struct clone_args ca = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd,
                            .exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        preview_shim_gone(d);
        if (sock >= 0) close(sock);
        return sbx_error(err, e, "clone sbx-shim");
    }
    if (pid == 0) exec_shim(d, path, sv[1], d->shim.audit_fd, netns, sock);
    close(sv[1]);
    preview_shim_spawned(d, sock);
    d->shim.ctl = sv[0];
    d->shim.pid = (pid_t)pid;
    d->shim.pidfd = pidfd;
    d->shim.died_ev = event_new(d->base, pidfd, EV_READ, shim_died_cb, d);
    if (d->shim.died_ev) event_add(d->shim.died_ev, NULL);
    if (ctl_wait(d, "ready", 0, err) < 0) return sbx_error_wrap(err, "start sbx-shim");
    if (d->shim.upstream_ca_pem) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "op", json_object_new_string("trust"));
        json_object_object_add(m, "pem", json_object_new_string(d->shim.upstream_ca_pem));
        if (ctl_call(d, m, -1, err) < 0) return sbx_error_wrap(err, "start sbx-shim: --upstream-ca");
    }
    for (int i = 0; i < d->shim.nlis; i++)
        if (send_listener(d, i, err) < 0) return sbx_error_wrap(err, "start sbx-shim");
    for (struct session *s = d->sessions; s; s = s->next)
        if (s->state == S_RUNNING &&
            ctl_call(d, session_msg(s, secrets_without_values(s->secrets)), -1, err) < 0)
            return sbx_error_wrap(err, "start sbx-shim");
    if (preview_shim_ready(d, err) < 0) return sbx_error_wrap(err, "start sbx-shim");
    log_info("sbx-shim running (pid %ld, %d listeners, %u sessions)", pid, d->shim.nlis, d->nsessions);
    d->shim.backoff_ms = 0;
    return 0;
}

static void reap(struct sbxd *d)
{
    if (d->shim.died_ev) event_free(d->shim.died_ev);
    d->shim.died_ev = NULL;
    if (d->shim.ctl >= 0) close(d->shim.ctl);
    d->shim.ctl = -1;
    preview_shim_gone(d);
    if (d->shim.pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, d->shim.pidfd, SIGKILL, NULL, 0);
        siginfo_t si;
        waitid(P_PIDFD, (id_t)d->shim.pidfd, &si, WEXITED);
        close(d->shim.pidfd);
    }
    d->shim.pidfd = -1;
    d->shim.pid = -1;
}

static void schedule_restart(struct sbxd *d)
{
    if (d->shutting_down) return;
    d->shim.backoff_ms = d->shim.backoff_ms ? d->shim.backoff_ms * 2 : 100;
    if (d->shim.backoff_ms > 5000) d->shim.backoff_ms = 5000;
    if (!d->shim.restart_ev) d->shim.restart_ev = evtimer_new(d->base, restart_cb, d);
    struct timeval tv = {d->shim.backoff_ms / 1000, (d->shim.backoff_ms % 1000) * 1000};
    if (d->shim.restart_ev) evtimer_add(d->shim.restart_ev, &tv);
}

static void shim_died_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct sbxd *d = arg;
    log_warn("sbx-shim (pid %d) died: sandboxes have no egress until it is back", (int)d->shim.pid);
    reap(d);
    schedule_restart(d);
}

static void restart_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct sbxd *d = arg;
    sbx_err err;
    if (spawn(d, &err) < 0) {
        log_error("sbx-shim: %s (retrying)", err.msg);
        reap(d);
        schedule_restart(d);
    }
}

int shimctl_start(struct sbxd *d, sbx_err *err)
{
    d->shim.ctl = d->shim.pidfd = -1;
    d->shim.pid = -1;
    d->shim.audit_fd = -1;
    const char *user = d->cfg.shim_user ? d->cfg.shim_user : "sbx-shim";
    struct passwd *pw = getpwnam(user);
    if (!pw && !d->cfg.shim_user) pw = getpwnam("nobody");
    if (!pw) return sbx_error(err, ENOENT, "user %s for sbx-shim (pass --shim-user)", user);
    if (pw->pw_uid == 0) return sbx_error(err, EPERM, "sbx-shim must not run as root");
    d->shim.uid = pw->pw_uid;
    d->shim.gid = pw->pw_gid;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", d->cfg.audit_log);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir_p(dir, 0750, err) < 0) return sbx_error_wrap(err, "audit log");
    }
    /* the node CA's key lives here: the shim's alone (it creates the key) */
    char cadir[PATH_MAX];
    snprintf(cadir, sizeof(cadir), "%s/ca", d->cfg.state_dir);
    if (mkdir(cadir, 0700) < 0 && errno != EEXIST) return sbx_error(err, errno, "mkdir %s", cadir);
    struct stat cst;
    if (lstat(cadir, &cst) < 0 || !S_ISDIR(cst.st_mode))
        return sbx_error(err, ENOTDIR, "%s must be a directory", cadir);
    if ((cst.st_uid != d->shim.uid || cst.st_gid != d->shim.gid || (cst.st_mode & 07777) != 0700) &&
        (chown(cadir, d->shim.uid, d->shim.gid) < 0 || chmod(cadir, 0700) < 0))
        return sbx_error(err, errno, "give %s to the shim user", cadir);
    d->shim.audit_fd = open(d->cfg.audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (d->shim.audit_fd < 0) return sbx_error(err, errno, "open audit log %s", d->cfg.audit_log);
    if (d->cfg.upstream_ca) { /* read as root: the shim user need not reach the file */
        _cleanup_free_ char *pem = malloc((1 << 20) + 1);
        if (!pem) return sbx_error(err, ENOMEM, "--upstream-ca");
        ssize_t len = read_file(d->cfg.upstream_ca, pem, 1 << 20, err);
        if (len < 0) return sbx_error_wrap(err, "--upstream-ca");
        pem[len] = '\0';
        if (!strstr(pem, "-----BEGIN CERTIFICATE-----"))
            return sbx_error(err, EINVAL, "--upstream-ca %s holds no PEM certificate",
                             d->cfg.upstream_ca);
        d->shim.upstream_ca_pem = steal_pointer(&pem);
    }
    if (add_listener(d, SOCK_DGRAM, 53, err) < 0 || add_listener(d, SOCK_STREAM, 53, err) < 0 ||
        add_listener(d, SOCK_STREAM, 80, err) < 0 || add_listener(d, SOCK_STREAM, 443, err) < 0)
        return sbx_error_wrap(err, "egress listeners");
    if (spawn(d, err) < 0) {
        reap(d);
        return -1;
    }
    return 0;
}

void shimctl_stop(struct sbxd *d)
{
    if (d->shim.restart_ev) event_free(d->shim.restart_ev);
    d->shim.restart_ev = NULL;
    reap(d);
    for (int i = 0; i < d->shim.nlis; i++) close(d->shim.lis[i].fd);
    free(d->shim.lis);
    d->shim.lis = NULL;
    d->shim.nlis = 0;
    if (d->shim.audit_fd >= 0) close(d->shim.audit_fd);
    d->shim.audit_fd = -1;
}
