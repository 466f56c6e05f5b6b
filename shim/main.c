/* main.c - sbx-shim: the network edge of sandboxes (docs/network.md).
 *
 *   sbx-shim [--ctl-fd N] [--audit-fd N | --audit PATH] [--hosts FILE]
 *            [--gateway ADDR] [--fake-net CIDR] [--sock-fd N] [--debug]
 *
 * Flags, the event loop, and the control channel with sbxd (shim/ctl.h):
 * one JSON object per SOCK_SEQPACKET packet, listeners ride along as
 * SCM_RIGHTS. Every message with a "seq" gets exactly one ack, sent after the
 * change took effect. {"op":"ready"} goes out once the loop can serve. When
 * the channel closes (sbxd gone or restarting us) the shim exits 0.
 * Logs are JSON lines on stderr (common/log.h); audit lines go to the audit
 * fd (audit.h; stdout when neither --audit-fd nor --audit is given). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ca.h"
#include "cleanup.h"
#include "ctl.h"
#include "dns.h"
#include "ingress.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "proxy.h"
#include "resolve.h"
#include "secrets.h"
#include "sessions.h"
#include "shim.h"
#include "upstream.h"

#define CTL_MAX_FDS 8

struct shim_config g_cfg;
struct event_base *g_base;
struct ca *g_ca;
SSL_CTX *g_tls_ctx;

static char *g_ctl_buf;

double shim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sbx-shim [--ctl-fd N] [--audit-fd N | --audit PATH] [--hosts FILE]\n"
               "                [--gateway ADDR] [--fake-net CIDR] [--ca-dir DIR]\n"
               "                [--upstream-ca FILE] [--sock-fd N] [--debug]\n"
               "  --ctl-fd N       control socket from sbxd (default 3)\n"
               "  --audit-fd N     append audit lines to fd N (default: stdout)\n"
               "  --audit PATH     append audit lines to PATH\n"
               "  --hosts FILE     resolve upstream names with this hosts file only\n"
               "  --gateway ADDR   the sandboxes' gateway (default 100.127.255.254)\n"
               "  --fake-net CIDR  addresses handed out by DNS (default 198.18.0.0/15)\n"
               "  --ca-dir DIR     the node CA (created there on first start) for TLS the\n"
               "                   shim terminates; without it, TLS passes through only\n"
               "  --upstream-ca F  PEM bundle for verifying upstream HTTPS servers instead of\n"
               "                   the system's trust store\n"
               "  --sock-fd N      sbxd's supply of egress-namespace sockets for previews\n"
               "  --debug          debug logging\n");
}

static int parse_fd(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > 1 << 20) return -1;
    *out = (int)v;
    return 0;
}

static int parse_cidr(const char *s, uint32_t *base, int *prefix)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf)) return -1;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1) return -1;
    char *end;
    long p = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1 || p < 8 || p > 24) return -1;
    uint32_t mask = 0xFFFFFFFFu << (32 - p);
    if (ntohl(a.s_addr) & ~mask) return -1; /* host bits set */
    *base = ntohl(a.s_addr);
    *prefix = (int)p;
    return 0;
}

/* ---- control channel ---- */

static void ctl_send(struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t n = strlen(s);
    for (int tries = 0; tries < 50; tries++) {
        ssize_t w = send(g_cfg.ctl_fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) return;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) break;
        struct pollfd p = {.fd = g_cfg.ctl_fd, .events = POLLOUT};
        poll(&p, 1, 100);
    }
    sbx_log(SBX_LOG_ERROR, "ctl: cannot send", "error", strerror(errno), NULL);
}

static void ack(int64_t seq, const char *error)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "op", json_object_new_string("ack"));
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    if (error) json_object_object_add(o, "error", json_object_new_string(error));
    ctl_send(o);
    json_object_put(o);
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

static int op_listen(struct json_object *m, int *fds, int nfds, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "proto", "port", NULL};
    const char *proto;
    int64_t port;
    int present;
    if (json_check_fields(m, "", fields, err) < 0 ||
        json_get_str(m, "", "proto", 1, &proto, err) < 0 ||
        json_get_int(m, "", "port", 1, 65535, &present, &port, err) < 0)
        return -1;
    if (!present) return sbx_error_kind(err, SBX_E_INVALID, "invalid", "port: missing");
    if (nfds != 1)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid",
                              "listen needs exactly one file descriptor, got %d", nfds);
    int udp = strcmp(proto, "udp") == 0;
    if (!udp && strcmp(proto, "tcp") != 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "proto: must be \"tcp\" or \"udp\"");
    int type = 0, listening = 0;
    socklen_t l = sizeof(type);
    if (getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &l) < 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "the descriptor is not a socket");
    l = sizeof(listening);
    getsockopt(fds[0], SOL_SOCKET, SO_ACCEPTCONN, &listening, &l);
    if (udp ? type != SOCK_DGRAM : (type != SOCK_STREAM || !listening))
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "the descriptor is not a %s",
                              udp ? "UDP socket" : "listening TCP socket");
    if (udp && port != 53)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "UDP is served on port 53 (DNS) only");
    int fl = fcntl(fds[0], F_GETFL);
    if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0)
        return sbx_error(err, errno, "fcntl");
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    int r = udp          ? dns_add_udp(fds[0], err)
            : port == 53 ? dns_add_tcp(fds[0], err)
                         : proxy_add_listener(fds[0], (uint16_t)port, err);
    if (r < 0) return r;
    fds[0] = -1; /* kept */
    sbx_log(SBX_LOG_INFO, "listening", "proto", proto, "port",
            json_object_get_string(json_object_object_get(m, "port")), NULL);
    return 0;
}

static int op_session(struct json_object *m, sbx_err *err)
{
    static const char *const fields[] = {"op",     "seq",    "id",      "addr",
                                         "labels", "policy", "secrets", NULL};
    const char *id, *addr;
    struct json_object *labels = NULL, *pj = NULL, *sj = NULL;
    if (json_check_fields(m, "", fields, err) < 0 || json_get_str(m, "", "id", 1, &id, err) < 0 ||
        json_get_str(m, "", "addr", 1, &addr, err) < 0 ||
        json_get_obj(m, "", "labels", &labels, err) < 0 ||
        json_get_obj(m, "", "policy", &pj, err) < 0 ||
        json_get_obj(m, "", "secrets", &sj, err) < 0)
        return -1;
    size_t idlen = strlen(id);
    if (idlen == 0 || idlen > SESSION_ID_MAX)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "id: must be 1 to %d characters",
                              SESSION_ID_MAX);
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid", "id: printable ASCII only");
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "addr: not an IPv4 address");
    if (!pj) return sbx_error_kind(err, SBX_E_INVALID, "invalid", "policy: missing");
    if (labels && json_check_str_map(labels, "labels", 64, 128, 256, err) < 0) return -1;
    struct policy *pol = calloc(1, sizeof(*pol));
    if (!pol) return sbx_error(err, ENOMEM, "policy");
    if (policy_from_json(pj, "policy", pol, err) < 0) {
        free(pol); /* holds nothing on error */
        return -1;
    }
    /* "secrets" absent: the session keeps what it holds (a policy change) */
    struct secret_set secrets = {0};
    if (sj && secrets_from_json(sj, &secrets, err) < 0) {
        policy_destroy(pol);
        return -1;
    }
    struct json_object *lab = labels ? json_object_get(labels) : json_object_new_object();
    if (session_put(id, a.s_addr, lab, pol, sj ? &secrets : NULL, err) < 0) {
        secrets_free(&secrets);
        return -1;
    }
    sbx_log(SBX_LOG_INFO, "session", "id", id, "addr", addr, NULL);
    return 0;
}

/* {"op":"trust","pem":"..."}: the CA bundle upstream HTTPS servers are
 * verified with, instead of the system's (sbxd --upstream-ca). */
static int op_trust(struct json_object *m, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "pem", NULL};
    const char *pem;
    if (json_check_fields(m, "", fields, err) < 0 || json_get_str(m, "", "pem", 1, &pem, err) < 0)
        return -1;
    return upstream_set_ca_pem(pem, strlen(pem), err);
}

static int op_remove(struct json_object *m, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "id", NULL};
    const char *id;
    if (json_check_fields(m, "", fields, err) < 0 || json_get_str(m, "", "id", 1, &id, err) < 0)
        return -1;
    struct session *s = session_by_id(id);
    if (s) session_remove(s); /* unknown: already gone, fine */
    ingress_session_removed(id);
    sbx_log(SBX_LOG_INFO, "session removed", "id", id, NULL);
    return 0;
}

static void handle(const char *buf, size_t len, int *fds, int nfds)
{
    sbx_err err;
    sbx_error_clear(&err);
    _cleanup_json_ struct json_object *m = NULL;
    int64_t seq = 0;
    int present = 0;
    const char *op;
    if (json_parse_object(buf, len, &m, &err) < 0 ||
        json_get_int(m, "", "seq", 0, INT64_MAX, &present, &seq, &err) < 0) {
        sbx_log(SBX_LOG_ERROR, "ctl: bad message", "error", err.msg, NULL);
        close_fds(fds, nfds);
        return;
    }
    if (json_get_str(m, "", "op", 1, &op, &err) < 0) {
        if (present) ack(seq, err.msg);
        close_fds(fds, nfds);
        return;
    }
    if (!present) {
        sbx_log(SBX_LOG_ERROR, "ctl: message without seq", "op", op, NULL);
        close_fds(fds, nfds);
        return;
    }
    int r;
    if (strcmp(op, "listen") == 0 && json_object_object_get_ex(m, "role", NULL)) {
        r = ingress_op_listen(m, fds, nfds, &err); /* the preview listener */
    } else if (strcmp(op, "listen") == 0) {
        r = op_listen(m, fds, nfds, &err);
    } else if (nfds) {
        r = sbx_error_kind(&err, SBX_E_INVALID, "invalid", "unexpected file descriptors with %s",
                           op);
    } else if (strcmp(op, "session") == 0) {
        r = op_session(m, &err);
    } else if (strcmp(op, "trust") == 0) {
        r = op_trust(m, &err);
    } else if (strcmp(op, "remove") == 0) {
        r = op_remove(m, &err);
    } else if (strcmp(op, "expose") == 0) {
        r = ingress_op_expose(m, &err);
    } else if (strcmp(op, "unexpose") == 0) {
        r = ingress_op_unexpose(m, &err);
    } else {
        r = sbx_error_kind(&err, SBX_E_INVALID, "invalid", "op: unknown \"%.64s\"", op);
    }
    close_fds(fds, nfds);
    if (r < 0) sbx_log(SBX_LOG_WARN, "ctl: refused", "op", op, "error", err.msg, NULL);
    ack(seq, r < 0 ? err.msg : NULL);
}

static void ctl_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (;;) {
        union {
            char b[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
            struct cmsghdr align;
        } cb;
        struct iovec iov = {.iov_base = g_ctl_buf, .iov_len = SHIM_CTL_MAX};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            sbx_log(SBX_LOG_INFO, "ctl: channel closed; exiting", NULL);
            event_base_loopbreak(g_base);
            return;
        }
        int fds[CTL_MAX_FDS], nfds = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k && nfds < CTL_MAX_FDS; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
            sbx_log(SBX_LOG_ERROR, "ctl: message or descriptors truncated; dropped", NULL);
            close_fds(fds, nfds);
            continue;
        }
        handle(g_ctl_buf, (size_t)n, fds, nfds);
        explicit_bzero(g_ctl_buf, (size_t)n); /* may have carried secret values */
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    sbx_logf(SBX_LOG_INFO, "signal %d; exiting", (int)sig);
    event_base_loopbreak(g_base);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ctl-fd", required_argument, NULL, 'c'},
        {"audit-fd", required_argument, NULL, 'a'},
        {"audit", required_argument, NULL, 'A'},
        {"hosts", required_argument, NULL, 'H'},
        {"gateway", required_argument, NULL, 'g'},
        {"fake-net", required_argument, NULL, 'f'},
        {"sock-fd", required_argument, NULL, 's'},
        {"debug", no_argument, NULL, 'd'},
        {"ca-dir", required_argument, NULL, 'C'},
        {"upstream-ca", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *audit_path = NULL;
    int sock_fd = -1;
    g_cfg.ctl_fd = SHIM_CTL_FD;
    g_cfg.audit_fd = -1;
    inet_pton(AF_INET, "100.127.255.254", &g_cfg.gateway);
    parse_cidr("198.18.0.0/15", &g_cfg.fake_base, &g_cfg.fake_prefix);
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            if (parse_fd(optarg, &g_cfg.ctl_fd) < 0) goto bad;
            break;
        case 'a':
            if (parse_fd(optarg, &g_cfg.audit_fd) < 0) goto bad;
            break;
        case 'A':
            audit_path = optarg;
            break;
        case 'H':
            g_cfg.hosts_file = optarg;
            break;
        case 'g':
            if (inet_pton(AF_INET, optarg, &g_cfg.gateway) != 1) goto bad;
            break;
        case 'f':
            if (parse_cidr(optarg, &g_cfg.fake_base, &g_cfg.fake_prefix) < 0) goto bad;
            break;
        case 's':
            if (parse_fd(optarg, &sock_fd) < 0) goto bad;
            break;
        case 'd':
            g_cfg.debug = 1;
            break;
        case 'C':
            g_cfg.ca_dir = optarg;
            break;
        case 'u':
            g_cfg.upstream_ca = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || (audit_path && g_cfg.audit_fd >= 0)) {
        usage(stderr);
        return 2;
    }
    sbx_log_init("sbx-shim", g_cfg.debug ? SBX_LOG_DEBUG : SBX_LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    /* it holds secret values and the CA key: no core dumps, no ptrace by
     * other processes of its user */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(g_cfg.ctl_fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET) {
        sbx_logf(SBX_LOG_ERROR, "--ctl-fd %d is not a SOCK_SEQPACKET socket", g_cfg.ctl_fd);
        return 1;
    }
    if (audit_path) {
        g_cfg.audit_fd = open(audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (g_cfg.audit_fd < 0) {
            sbx_log(SBX_LOG_ERROR, "cannot open the audit log", "path", audit_path, "error",
                    strerror(errno), NULL);
            return 1;
        }
    } else if (g_cfg.audit_fd < 0) {
        g_cfg.audit_fd = STDOUT_FILENO;
    } else if (fcntl(g_cfg.audit_fd, F_GETFL) < 0) {
        sbx_logf(SBX_LOG_ERROR, "--audit-fd %d is not open", g_cfg.audit_fd);
        return 1;
    }
    audit_init(g_cfg.audit_fd);

    g_ctl_buf = malloc(SHIM_CTL_MAX);
    g_base = event_base_new();
    if (!g_ctl_buf || !g_base) {
        log_error("out of memory");
        return 1;
    }
    sbx_err err;
    sbx_error_clear(&err);
    if (resolve_init(g_cfg.hosts_file, &err) < 0) {
        sbx_log(SBX_LOG_ERROR, "resolver", "error", err.msg, NULL);
        return 1;
    }
    /* the node CA for the TLS the shim terminates, libcurl for its upstreams */
    if (g_cfg.ca_dir) {
        if (ca_open(&g_ca, g_cfg.ca_dir, &err) < 0 || !(g_tls_ctx = ca_server_ctx(&err))) {
            sbx_log(SBX_LOG_ERROR, "node CA", "dir", g_cfg.ca_dir, "error", err.msg, NULL);
            return 1;
        }
    }
    if (upstream_init(g_cfg.upstream_ca, &err) < 0) {
        sbx_log(SBX_LOG_ERROR, "libcurl", "error", err.msg, NULL);
        return 1;
    }
    if (sock_fd >= 0 && ingress_set_sock_fd(sock_fd, &err) < 0) {
        sbx_log(SBX_LOG_ERROR, "socket supply", "error", err.msg, NULL);
        return 1;
    }
    int fl = fcntl(g_cfg.ctl_fd, F_GETFL);
    fcntl(g_cfg.ctl_fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(g_cfg.ctl_fd, F_SETFD, FD_CLOEXEC);
    struct event *ctl_ev = event_new(g_base, g_cfg.ctl_fd, EV_READ | EV_PERSIST, ctl_cb, NULL);
    struct event *sigterm = evsignal_new(g_base, SIGTERM, signal_cb, NULL);
    struct event *sigint = evsignal_new(g_base, SIGINT, signal_cb, NULL);
    if (!ctl_ev || !sigterm || !sigint || event_add(ctl_ev, NULL) < 0 ||
        event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
        log_error("cannot set up the event loop");
        return 1;
    }

    char fake[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], pfx[8];
    uint32_t fb = htonl(g_cfg.fake_base);
    inet_ntop(AF_INET, &fb, fake, sizeof(fake));
    inet_ntop(AF_INET, &g_cfg.gateway, gw, sizeof(gw));
    snprintf(pfx, sizeof(pfx), "%d", g_cfg.fake_prefix);
    sbx_log(SBX_LOG_INFO, "ready", "version", SBX_VERSION, "fake_net", fake, "fake_prefix", pfx,
            "gateway", gw, "resolver", g_cfg.hosts_file ? g_cfg.hosts_file : "c-ares", NULL);
    struct json_object *ready = json_object_new_object();
    json_object_object_add(ready, "op", json_object_new_string("ready"));
    if (g_ca) json_object_object_add(ready, "ca", json_object_new_string(ca_cert_pem(g_ca)));
    ctl_send(ready);
    json_object_put(ready);

    event_base_dispatch(g_base);
    return 0;

bad:
    fprintf(stderr, "sbx-shim: invalid value \"%s\"\n", optarg);
    usage(stderr);
    return 2;
}
