/* ports.c - preview ingress, sbxd's side. See ports.h. */
#include "ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "egress.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "shimctl.h"
#include "state.h"
#include "util.h"

#define SUPPLY_MAX 64  /* sockets per request of the shim */
#define SUPPLY_BATCH 8 /* sockets per packet */

/* ---- the listener ---- */

static int valid_domain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '.' || s[n - 1] == '.' || s[0] == '-' || strstr(s, ".."))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

int preview_config(struct sbxd *d, sbx_err *err)
{
    struct preview_state *p = &d->preview;
    p->lfd = p->sock = -1;
    const char *spec = d->cfg.preview_listen ? d->cfg.preview_listen : "127.0.0.1:8080";
    const char *domain = d->cfg.preview_domain ? d->cfg.preview_domain : "preview.localhost";
    if (!valid_domain(domain))
        return sbx_error(err, 0,
                         "--preview-domain \"%.80s\": a DNS name (letters, digits, '-' and '.')",
                         domain);
    size_t i = 0;
    for (; domain[i]; i++)
        p->domain[i] = domain[i] >= 'A' && domain[i] <= 'Z' ? (char)(domain[i] + 32) : domain[i];
    p->domain[i] = '\0';
    if (strcmp(spec, "off") == 0) {
        p->off = 1;
        return 0;
    }
    const char *colon = strrchr(spec, ':');
    char addr[INET_ADDRSTRLEN];
    char *end = NULL;
    errno = 0;
    unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
    struct in_addr ia;
    if (!colon || (size_t)(colon - spec) >= sizeof(addr) || colon[1] < '0' || colon[1] > '9' ||
        errno || *end || port > 65535)
        goto bad;
    memcpy(addr, spec, (size_t)(colon - spec));
    addr[colon - spec] = '\0';
    if (inet_pton(AF_INET, addr, &ia) != 1) goto bad;
    p->bind_addr = ia.s_addr;
    p->bind_port = (uint16_t)port;
    return 0;
bad:
    return sbx_error(err, 0,
                     "--preview-listen \"%.80s\": ADDR:PORT with an IPv4 address and a port "
                     "0..65535 (0: any free one), or off",
                     spec);
}

int preview_init(struct sbxd *d, sbx_err *err)
{
    struct preview_state *p = &d->preview;
    p->lfd = p->sock = -1;
    if (!d->cfg.network || p->off) return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p->bind_port)};
    sa.sin_addr.s_addr = p->bind_addr;
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return sbx_error(err, errno, "preview listener: socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        close(fd);
        return sbx_error(err, e,
                         "preview listener on %s:%u (pass --preview-listen ADDR:PORT, or "
                         "--preview-listen off)",
                         addr, (unsigned)p->bind_port);
    }
    p->lfd = fd;
    p->port = ntohs(sa.sin_port);
    snprintf(p->listen, sizeof(p->listen), "%s:%u", addr, (unsigned)p->port);
    sbx_log(SBX_LOG_INFO, "preview ingress listening", "listen", p->listen, "domain", p->domain,
            NULL);
    return 0;
}

void preview_fini(struct sbxd *d)
{
    preview_shim_gone(d);
    if (d->preview.lfd >= 0) close(d->preview.lfd);
    d->preview.lfd = -1;
}

struct json_object *preview_health(struct sbxd *d)
{
    if (d->preview.lfd < 0) return NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "listen", json_object_new_string(d->preview.listen));
    json_object_object_add(o, "port", json_object_new_int(d->preview.port));
    json_object_object_add(o, "domain", json_object_new_string(d->preview.domain));
    return o;
}

/* ---- the socket supply ---- */

static void supply_send(int fd, const char *msg, const int *fds, int n)
{
    struct iovec iov = {(void *)msg, strlen(msg)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * SUPPLY_BATCH)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n > 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    }
    if (sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EPIPE)
        log_warn("preview: cannot hand sockets to sbx-shim: %s", strerror(errno));
}

static void supply(struct sbxd *d, int n)
{
    int fds[SUPPLY_MAX];
    sbx_err err;
    if (egress_sockets(&d->egress, fds, n, &err) < 0) {
        log_warn("preview: %s", err.msg);
        _cleanup_json_ struct json_object *m = json_object_new_object();
        json_object_object_add(m, "error", json_object_new_string(err.msg));
        supply_send(d->preview.sock, json_object_to_json_string(m), NULL, 0);
        return;
    }
    for (int i = 0; i < n; i += SUPPLY_BATCH) {
        int k = n - i < SUPPLY_BATCH ? n - i : SUPPLY_BATCH;
        char msg[32];
        snprintf(msg, sizeof(msg), "{\"fds\":%d}", k);
        supply_send(d->preview.sock, msg, fds + i, k);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]); /* the shim has its copies */
}

static void supply_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct sbxd *d = arg;
    for (int budget = 0; budget < 16; budget++) {
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { /* the shim is gone: shimctl notices and restarts it */
            event_del(d->preview.sock_ev);
            return;
        }
        buf[n] = '\0';
        _cleanup_json_ struct json_object *m = json_tokener_parse(buf);
        struct json_object *w;
        if (!m || !json_object_object_get_ex(m, "want", &w) ||
            !json_object_is_type(w, json_type_int)) {
            log_warn("preview: sbx-shim sent an unknown request on the socket channel");
            continue;
        }
        int64_t want = json_object_get_int64(w);
        if (want < 1) continue;
        supply(d, want > SUPPLY_MAX ? SUPPLY_MAX : (int)want);
    }
}

int preview_shim_prespawn(struct sbxd *d, int *child_fd, sbx_err *err)
{
    *child_fd = -1;
    if (d->preview.lfd < 0) return 0;
    preview_shim_gone(d);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sbx_error(err, errno, "socketpair for sbx-shim's sockets");
    d->preview.sock = sv[0];
    *child_fd = sv[1];
    return 0;
}

void preview_shim_spawned(struct sbxd *d, int child_fd)
{
    if (child_fd >= 0) close(child_fd);
    if (d->preview.sock < 0) return;
    fcntl(d->preview.sock, F_SETFL, fcntl(d->preview.sock, F_GETFL) | O_NONBLOCK);
    d->preview.sock_ev = event_new(d->base, d->preview.sock, EV_READ | EV_PERSIST, supply_cb, d);
    if (d->preview.sock_ev) event_add(d->preview.sock_ev, NULL);
}

void preview_shim_gone(struct sbxd *d)
{
    if (d->preview.sock_ev) event_free(d->preview.sock_ev);
    d->preview.sock_ev = NULL;
    if (d->preview.sock >= 0) close(d->preview.sock);
    d->preview.sock = -1;
}

static struct json_object *expose_msg(struct session *s, const struct port_expo *e)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("expose"));
    json_object_object_add(m, "id", json_object_new_string(s->id));
    json_object_object_add(m, "port", json_object_new_int(e->port));
    json_object_object_add(m, "token", json_object_new_string(e->token));
    return m;
}

int preview_shim_ready(struct sbxd *d, sbx_err *err)
{
    if (d->preview.lfd < 0) return 0;
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("listen"));
    json_object_object_add(m, "role", json_object_new_string("preview"));
    json_object_object_add(m, "proto", json_object_new_string("tcp"));
    json_object_object_add(m, "port", json_object_new_int(d->preview.port));
    json_object_object_add(m, "domain", json_object_new_string(d->preview.domain));
    if (shimctl_call(d, m, d->preview.lfd, err) < 0) return sbx_error_wrap(err, "preview listener");
    for (struct session *s = d->sessions; s; s = s->next) {
        if (s->state != S_RUNNING) continue;
        for (unsigned i = 0; i < s->nports; i++)
            if (shimctl_call(d, expose_msg(s, &s->ports[i]), -1, err) < 0)
                return sbx_error_wrap(err, "expose port %u of session %s", s->ports[i].port, s->id);
    }
    return 0;
}

/* ---- the API ---- */

static struct json_object *expo_json(struct sbxd *d, struct session *s, const struct port_expo *e)
{
    char host[300], url[600], lp[8] = "";
    snprintf(host, sizeof(host), "%u-%s.%s", (unsigned)e->port, s->id, d->preview.domain);
    if (d->preview.port != 80) snprintf(lp, sizeof(lp), ":%u", (unsigned)d->preview.port);
    snprintf(url, sizeof(url), "http://%s%s/?sbx_token=%s", host, lp, e->token);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "port", json_object_new_int(e->port));
    json_object_object_add(o, "url", json_object_new_string(url));
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "token", json_object_new_string(e->token));
    json_object_object_add(o, "created_at", json_time_utc(e->created));
    return o;
}

static struct port_expo *find(struct session *s, uint16_t port)
{
    for (unsigned i = 0; i < s->nports; i++)
        if (s->ports[i].port == port) return &s->ports[i];
    return NULL;
}

static void remove_at(struct session *s, struct port_expo *e)
{
    size_t i = (size_t)(e - s->ports);
    explicit_bzero(e->token, sizeof(e->token));
    memmove(e, e + 1, (s->nports - i - 1) * sizeof(*e));
    s->nports--;
}

/* Tell the shim the port is gone. If it cannot be told, it must not go on
 * serving it: it is restarted, and gets the exposures there are. */
static void shim_unexpose(struct sbxd *d, struct session *s, uint16_t port)
{
    if (!shimctl_running(d)) return;
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("unexpose"));
    json_object_object_add(m, "id", json_object_new_string(s->id));
    json_object_object_add(m, "port", json_object_new_int(port));
    sbx_err err;
    if (shimctl_call(d, m, -1, &err) < 0) {
        log_error("preview: sbx-shim: unexpose port %u of session %s: %s; restarting it",
                  (unsigned)port, s->id, err.msg);
        shimctl_kill(d);
    }
}

static void expose(struct conn *c, struct sbxd *d, struct session *s)
{
    _cleanup_json_ struct json_object *body = NULL;
    if (conn_body_json(c, &body) < 0) return;
    static const char *const fields[] = {"port", NULL};
    sbx_err err;
    int present;
    int64_t port;
    if (json_check_fields(body, "", fields, &err) < 0 ||
        json_get_int(body, "", "port", 1, 65535, &present, &port, &err) < 0)
        return conn_respond_error(c, &err);
    if (!present)
        return conn_respond_error3(c, 400, "invalid_request",
                                   "field \"port\" is missing: the TCP port the app listens on "
                                   "in the sandbox, 1..65535 ({\"port\": 5173})");
    if (d->preview.lfd < 0)
        return conn_respond_error3(
            c, 409, "preview_disabled",
            d->cfg.network ? "previews are off: start sbxd with --preview-listen ADDR:PORT"
                           : "previews need the network: sbxd runs with --no-network");
    if (s->state != S_RUNNING) {
        char msg[200];
        snprintf(msg, sizeof(msg), "session %s is not running; create a new one", s->id);
        return conn_respond_error3(c, 409, "conflict", msg);
    }
    struct port_expo *e = find(s, (uint16_t)port);
    if (e) return conn_respond(c, 200, expo_json(d, s, e)); /* already: same token */
    if (s->nports >= PORTS_PER_SESSION_MAX) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "session %s already exposes %d ports, the most it may; unexpose one with DELETE "
                 "/v1/sessions/%s/ports/PORT (sbx expose --rm %s PORT)",
                 s->id, PORTS_PER_SESSION_MAX, s->id, s->id);
        return conn_respond_error3(c, 409, "too_many_ports", msg);
    }
    struct port_expo ne = {.port = (uint16_t)port, .created = time(NULL)};
    if (random_hex(ne.token, PREVIEW_TOKEN_HEX / 2, &err) < 0) return conn_respond_error(c, &err);
    struct port_expo *grown = realloc(s->ports, (s->nports + 1) * sizeof(*grown));
    if (!grown) return conn_respond_error3(c, 500, "internal", "out of memory");
    s->ports = grown;
    s->ports[s->nports++] = ne;
    e = &s->ports[s->nports - 1];
    if (shimctl_running(d) && shimctl_call(d, expose_msg(s, e), -1, &err) < 0) {
        remove_at(s, e);
        shim_unexpose(d, s, (uint16_t)port); /* it may have taken it before failing to say so */
        sbx_error_wrap(&err, "expose port %u: sbx-shim", (unsigned)port);
        return conn_respond_error3(c, 500, "internal", err.msg);
    }
    if (state_save(d, s, &err) < 0) {
        remove_at(s, e);
        shim_unexpose(d, s, (uint16_t)port);
        sbx_error_wrap(&err, "expose port %u: session record", (unsigned)port);
        return conn_respond_error(c, &err);
    }
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", (unsigned)port);
    sbx_log(SBX_LOG_INFO, "port exposed", "session", s->id, "port", ps, NULL);
    conn_respond(c, 201, expo_json(d, s, e));
}

static void unexpose(struct conn *c, struct sbxd *d, struct session *s, uint16_t port)
{
    struct port_expo *e = find(s, port);
    struct port_expo saved = *e;
    size_t at = (size_t)(e - s->ports);
    remove_at(s, e);
    sbx_err err;
    if (state_save(d, s, &err) < 0) { /* still exposed: put it back where it was */
        memmove(&s->ports[at + 1], &s->ports[at], (s->nports - at) * sizeof(*s->ports));
        s->ports[at] = saved;
        s->nports++;
        sbx_error_wrap(&err, "unexpose port %u: session record", (unsigned)port);
        return conn_respond_error(c, &err);
    }
    explicit_bzero(saved.token, sizeof(saved.token));
    shim_unexpose(d, s, port);
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", (unsigned)port);
    sbx_log(SBX_LOG_INFO, "port unexposed", "session", s->id, "port", ps, NULL);
    conn_respond(c, 204, NULL);
}

static void method_not_allowed(struct conn *c, const char *allowed)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "method %s not allowed here; use %s",
             http_method_str((enum http_method)c->req.method), allowed);
    conn_respond_error3(c, 405, "method_not_allowed", msg);
}

void ports_dispatch(struct conn *c, struct session *s, const char *port_seg)
{
    struct sbxd *d = g_sbxd;
    int m = c->req.method;
    if (!port_seg) {
        if (m == HTTP_POST) return expose(c, d, s);
        if (m != HTTP_GET) return method_not_allowed(c, "GET or POST");
        struct json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < s->nports; i++)
            json_object_array_add(arr, expo_json(d, s, &s->ports[i]));
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ports", arr);
        json_object_object_add(o, "preview", preview_health(d));
        return conn_respond(c, 200, o);
    }
    if (m != HTTP_GET && m != HTTP_DELETE) return method_not_allowed(c, "GET or DELETE");
    char *end;
    errno = 0;
    unsigned long port = strtoul(port_seg, &end, 10);
    if (errno || *end || end == port_seg || port_seg[0] < '1' || port_seg[0] > '9' || port == 0 ||
        port > 65535) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "\"%.40s\" in the path is not a port: use a number 1..65535 "
                 "(/v1/sessions/ID/ports/5173)",
                 port_seg);
        return conn_respond_error3(c, 400, "invalid_request", msg);
    }
    struct port_expo *e = find(s, (uint16_t)port);
    if (!e) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "port %lu of session %s is not exposed (GET /v1/sessions/%s/ports lists them)",
                 port, s->id, s->id);
        return conn_respond_error3(c, 404, "not_exposed", msg);
    }
    if (m == HTTP_GET) return conn_respond(c, 200, expo_json(d, s, e));
    unexpose(c, d, s, (uint16_t)port);
}

/* ---- records ---- */

struct json_object *ports_to_record(struct session *s)
{
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < s->nports; i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "port", json_object_new_int(s->ports[i].port));
        json_object_object_add(o, "token", json_object_new_string(s->ports[i].token));
        json_object_object_add(o, "created", json_object_new_int64((int64_t)s->ports[i].created));
        json_object_array_add(arr, o);
    }
    return arr;
}

static int hex_token(const char *t)
{
    if (!t || strlen(t) != PREVIEW_TOKEN_HEX) return 0;
    for (; *t; t++)
        if (!((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f'))) return 0;
    return 1;
}

void ports_from_record(struct session *s, struct json_object *arr)
{
    if (!arr || !json_object_is_type(arr, json_type_array)) return;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i), *p, *t, *cr;
        int64_t port = -1;
        const char *tok = NULL;
        if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "port", &p) &&
            json_object_is_type(p, json_type_int) && json_object_object_get_ex(o, "token", &t) &&
            json_object_is_type(t, json_type_string)) {
            port = json_object_get_int64(p);
            tok = json_object_get_string(t);
        }
        if (port < 1 || port > 65535 || !hex_token(tok) || find(s, (uint16_t)port) ||
            s->nports >= PORTS_PER_SESSION_MAX) {
            log_warn("session %s: record: ports[%zu] is not an exposed port: skipped", s->id, i);
            continue;
        }
        struct port_expo *grown = realloc(s->ports, (s->nports + 1) * sizeof(*grown));
        if (!grown) return;
        s->ports = grown;
        struct port_expo *e = &s->ports[s->nports++];
        memset(e, 0, sizeof(*e));
        e->port = (uint16_t)port;
        snprintf(e->token, sizeof(e->token), "%s", tok);
        e->created = json_object_object_get_ex(o, "created", &cr)
                         ? (time_t)json_object_get_int64(cr)
                         : time(NULL);
    }
}

void ports_free(struct session *s)
{
    if (s->ports) explicit_bzero(s->ports, s->nports * sizeof(*s->ports));
    free(s->ports);
    s->ports = NULL;
    s->nports = 0;
}
