/* proxy.c - TCP from sandboxes to the internet, one connection at a time.
 *
 * Life of a connection (accepted on a listener sbxd opened in the egress
 * namespace; getsockname() is the address:port the sandbox dialled, the peer
 * address names the session):
 *
 *   PEEK     read the client's first bytes: at most 16 KiB of a TLS
 *            ClientHello, 32 KiB of an HTTP request head. No byte within
 *            250 ms (a server-speaks-first protocol) or bytes that are neither
 *            TLS nor an HTTP request line: opaque TCP. A head still incomplete
 *            after 10 s is refused.
 *   decide   the name is the one the shim's DNS handed this fake address out
 *            for (an unknown fake address is refused); TLS: the SNI must equal
 *            it (a ClientHello without SNI is refused); HTTP: the Host header
 *            and an absolute-URI host must equal it. Then quotas and
 *            policy_decide_host(name, port). A destination outside the fake
 *            net is a literal address: addr_forbidden_reason() and
 *            policy_decide_addr() (allow_cidrs) decide.
 *   RESOLVE  resolve.c; every address addr_forbidden_reason() rejects is
 *            dropped; none left = refused.
 *   CONNECT  nonblocking connect to exactly a checked address (the next one
 *            on failure), 10 s each.
 *   RELAY    TLS and opaque: splice(2) through two pipes, both directions,
 *            half-closes passed on. Plain HTTP: read/write through buffers,
 *            EVERY request on the connection is parsed (httpflow.h) and
 *            decided again (Host, policy, requests_per_minute) before a byte
 *            of it goes upstream; responses are parsed too, to know each
 *            request's status and when the upstream is done answering.
 *
 * Refusals: a plain-HTTP client gets "403 Forbidden" with the one-line body
 * "sbx-shim: <reason>" and Connection: close, sent after the responses to the
 * requests already let through (a refused later request on a keep-alive
 * connection); everything else gets a reset (SO_LINGER 0). Upstream failures
 * (cannot resolve, cannot connect) give HTTP clients a 502.
 *
 * Report mode (policy "mode":"report") lets through what the policy's rules
 * would deny, audited as "report". It does not relax the invariants that are
 * not rules: the SNI / Host must match the name, forbidden addresses,
 * unknown fake addresses, malformed requests and quotas are always enforced.
 *
 * Policy replacement: each decision reads the session's current policy, so
 * new connections and later HTTP requests on open connections use it at once;
 * an open TLS/opaque connection is not cut.
 *
 * Quotas: a connection counts against "connections" from its first decision
 * to its close, and once against connections_per_minute and
 * requests_per_minute; every HTTP request counts once more against
 * requests_per_minute. bytes_out counts sandbox->upstream bytes; when the
 * session has none left, the connection is closed (reset).
 *
 * Audit (audit.h): TLS/opaque: one "connect" line per decision and, for an
 * allowed one, a "close" line with bytes and duration. Plain HTTP: one
 * "request" line per request (written when its response head arrives, so it
 * carries the status; refused ones at once with 403) and a "close" line. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "addr.h"
#include "audit.h"
#include "ca.h"
#include "cleanup.h"
#include "httpflow.h"
#include "log.h"
#include "policy.h"
#include "resolve.h"
#include "secrets.h"
#include "sessions.h"
#include "shim.h"
#include "sni.h"
#include "tlsterm.h"
#include "upstream.h"

#define FIRST_BYTE_MS 250
#define HEAD_DEADLINE_S 10
#define CONNECT_TIMEOUT_S 10
#define TLS_HELLO_MAX (16 * 1024)
#define CBUF_CAP (64 * 1024)
#define UBUF_CAP (64 * 1024)
#define PENDING_MAX 32
#define DENY_DRAIN_S 30
#define LINGER_S 2
#define LINGER_MAX_BYTES (1 << 20)
#define SPLICE_CHUNK (1 << 20)
#define STEP_ROUNDS 32
#define TLS_HEAD_ROOM (96 * 1024) /* cb room for heads that grow with injected secrets */

enum kind { K_UNKNOWN = 0, K_TLS, K_HTTP, K_OPAQUE };
enum phase { PH_PEEK = 0, PH_RESOLVE, PH_CONNECT, PH_RELAY, PH_RESPOND, PH_LINGER };

struct verdict {
    int allow; /* let it through (allow, or report mode) */
    const char *decision;
    char reason[256];
    char rule[POLICY_NAME_MAX + 16];
};

struct pending_req {
    char method[24];
    char path[HFLOW_PATH_MAX];
    char host[HFLOW_HOST_MAX];
    const char *decision; /* static: "allow" / "report" */
    char reason[160];
    char rule[POLICY_NAME_MAX + 16];
    double t;
    int is_head;
    char secrets[256]; /* names injected, "A,B" */
};

struct conn {
    uint64_t id;
    struct conn *snext, **sprev; /* the session's list */
    struct session *s;
    int cfd, ufd;
    struct event *cr, *cw, *ur, *uw, *timer;
    int cr_on, cw_on, ur_on, uw_on;
    int dead, stepping;
    uint32_t peer, dst; /* network byte order */
    uint16_t port;
    char peer_str[INET_ADDRSTRLEN], dst_str[INET_ADDRSTRLEN];
    char name[POLICY_NAME_MAX + 1]; /* the name behind the fake address, "" for a literal */
    enum kind kind;
    enum phase phase;
    int peek_stage; /* 0: waiting for a first byte, 1: for the rest of the head */
    double t0;
    char proto_host[HFLOW_HOST_MAX]; /* SNI / first Host, for audit lines */
    int admitted;                    /* counted against the session's quotas */
    struct verdict first;            /* the first decision (for the connect line) */
    int allowed;                     /* first decision allowed: gets a close line */
    struct resolve_req *rq;
    struct sockaddr_storage cand[RESOLVE_MAX_ADDRS];
    int ncand, icand;
    char resolved[INET6_ADDRSTRLEN];
    char fail[256]; /* why the last connect failed */
    /* client -> upstream bytes: [sent, ok) may go, [ok, parsed) wait for a decision */
    char *cb;
    size_t cb_len, cb_sent, cb_ok, cb_parsed;
    /* upstream -> client (HTTP) */
    char *ub;
    size_t ub_len, ub_sent, ub_parsed;
    int c_eof, u_eof, u_shut, c_shut;
    uint64_t bytes_in, bytes_out;
    /* splice */
    int p_c2u[2], p_u2c[2];
    size_t n_c2u, n_u2c, pipe_cap;
    /* splice into a pipe said EAGAIN while it held data: its slots may be
     * full (many small segments), so wait for the pipe to drain before
     * polling the source again (else a readable source spins) */
    int c2u_full, u2c_full;
    /* HTTP */
    struct hflow *hreq, *hresp;
    int msg_approved;
    struct pending_req *pend; /* ring of PENDING_MAX, HTTP only */
    int pend_head, pend_n;
    int deny_pending, deny_status;
    char deny_reason[256];
    int upgrade_wait, raw, resp_broken;
    /* a response of our own (403 / 502) */
    char resp[512];
    size_t resp_len, resp_off;
    size_t linger_bytes;
    char close_reason[256];
    /* TLS the shim terminates (docs/secrets.md): the sandbox speaks TLS to
     * tls, the upstream is a libcurl connection; in between it is plain HTTP */
    struct tlsterm *tls;
    struct upstream *up;
    int up_started;
    char inj[256]; /* secrets injected into the request being approved */
    int resp_notified;
};

static uint64_t g_next_id = 1;
static int g_conns;

static void conn_step(struct conn *c);
static void start_upstream(struct conn *c);
static void compact_cb(struct conn *c);

int proxy_conn_count(void)
{
    return g_conns;
}

/* ---- small helpers ---- */

static const char *proto_of(const struct conn *c)
{
    switch (c->kind) {
    case K_TLS:
        return "tls";
    case K_HTTP:
        return c->tls ? "https" : "http";
    default:
        return "tcp";
    }
}

static int64_t ms_since(double t)
{
    double d = (shim_now() - t) * 1000.0;
    return d < 0 ? 0 : (int64_t)d;
}

/* Reasons can carry client-chosen text (a Host header): keep them one line. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static void verdict_deny(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void verdict_deny(struct verdict *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
    one_line(v->reason);
    v->allow = 0;
    v->decision = "deny";
    v->rule[0] = '\0';
}

static void verdict_from(struct verdict *v, const struct policy_decision *d)
{
    v->allow = d->enforced_allow;
    v->decision = d->verdict == POLICY_ALLOW ? "allow" : d->enforced_allow ? "report" : "deny";
    snprintf(v->reason, sizeof(v->reason), "%s", d->reason ? d->reason : "");
    snprintf(v->rule, sizeof(v->rule), "%s", d->rule ? d->rule : "");
}

static void rec_init(struct conn *c, struct audit_rec *r, const char *event)
{
    memset(r, 0, sizeof(*r));
    r->port = -1;
    r->bytes_in = r->bytes_out = r->duration_ms = -1;
    r->event = event;
    r->conn = c->id;
    r->session = c->s ? c->s->id : NULL;
    r->labels = c->s ? c->s->labels : NULL;
    r->proto = proto_of(c);
    r->src = c->peer_str;
    r->requested_host = c->proto_host[0] ? c->proto_host : c->name;
    r->port = c->port;
    r->dst_addr = c->dst_str;
    r->resolved_addr = c->resolved;
}

static void audit_verdict(struct conn *c, const struct verdict *v)
{
    struct audit_rec r;
    rec_init(c, &r, "connect");
    r.decision = v->decision;
    r.reason = v->reason;
    r.rule = v->rule[0] ? v->rule : NULL;
    audit_write(&r);
}

/* ---- events ---- */

static void set_ev(struct event *ev, int *on, int want)
{
    if (!ev) return;
    if (want && !*on)
        event_add(ev, NULL);
    else if (!want && *on)
        event_del(ev);
    *on = want;
}

static void arm_timer(struct conn *c, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    evtimer_add(c->timer, &tv);
}

static int splice_mode(const struct conn *c)
{
    return c->kind == K_TLS || c->kind == K_OPAQUE;
}

static void update_events(struct conn *c)
{
    int cr = 0, cw = 0, ur = 0, uw = 0;
    switch (c->phase) {
    case PH_PEEK:
        cr = !c->c_eof;
        cw = c->tls && tlsterm_pending(c->tls);
        break;
    case PH_RESOLVE:
        break;
    case PH_CONNECT:
        uw = 1;
        break;
    case PH_RELAY:
        if (splice_mode(c)) {
            cr = !c->c_eof && c->n_c2u < c->pipe_cap && !c->c2u_full && c->cb_sent == c->cb_len;
            uw = c->cb_sent < c->cb_len || c->n_c2u > 0;
            ur = !c->u_eof && c->n_u2c < c->pipe_cap && !c->u2c_full;
            cw = c->n_u2c > 0;
        } else {
            cr = !c->c_eof && !c->deny_pending && c->cb_len - c->cb_sent < CBUF_CAP;
            uw = c->cb_sent < c->cb_ok;
            ur = !c->u_eof && c->ub_len - c->ub_sent < UBUF_CAP;
            cw = c->ub_sent < c->ub_len || (c->tls && tlsterm_pending(c->tls));
        }
        break;
    case PH_RESPOND:
        cw = c->resp_off < c->resp_len || (c->tls && tlsterm_pending(c->tls));
        break;
    case PH_LINGER:
        cr = 1;
        break;
    }
    set_ev(c->cr, &c->cr_on, cr);
    set_ev(c->cw, &c->cw_on, cw);
    set_ev(c->ur, &c->ur_on, ur);
    set_ev(c->uw, &c->uw_on, uw);
}

/* ---- teardown ---- */

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->tls && c->cb) explicit_bzero(c->cb, CBUF_CAP + TLS_HEAD_ROOM); /* injected values */
    free(c->cb);
    free(c->ub);
    free(c->pend);
    free(c->hreq);
    free(c->hresp);
    tlsterm_free(c->tls);
    free(c);
}

static void reset_fd(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static void pend_emit(struct conn *c, struct pending_req *p, const char *decision,
                      const char *reason, int status)
{
    struct audit_rec r;
    rec_init(c, &r, "request");
    r.requested_host = p->host;
    r.method = p->method;
    r.path = p->path;
    r.decision = decision ? decision : p->decision;
    r.reason = reason ? reason : p->reason;
    r.rule = p->rule[0] ? p->rule : NULL;
    r.status = status;
    r.duration_ms = ms_since(p->t);
    r.secrets = p->secrets[0] ? p->secrets : NULL;
    audit_write(&r);
}

/* Requests let through that will never see a response. */
static void pend_flush(struct conn *c, const char *decision, const char *reason, int status)
{
    while (c->pend_n) {
        pend_emit(c, &c->pend[c->pend_head], decision, reason, status);
        c->pend_head = (c->pend_head + 1) % PENDING_MAX;
        c->pend_n--;
    }
}

static void conn_close(struct conn *c, int rst, const char *reason)
{
    if (c->dead) return;
    c->dead = 1;
    if (reason && !c->close_reason[0])
        snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    if (c->rq) resolve_cancel(c->rq);
    c->rq = NULL;
    pend_flush(c, NULL, c->close_reason[0] ? c->close_reason : NULL, 0);
    if (c->allowed) {
        struct audit_rec r;
        rec_init(c, &r, "close");
        r.decision = "allow";
        r.reason = c->close_reason[0] ? c->close_reason : NULL;
        r.bytes_in = (int64_t)c->bytes_in;
        r.bytes_out = (int64_t)c->bytes_out;
        r.duration_ms = ms_since(c->t0);
        audit_write(&r);
    }
    if (c->admitted && c->s) quota_release_conn(&c->s->quota);
    if (c->sprev) {
        *c->sprev = c->snext;
        if (c->snext) c->snext->sprev = c->sprev;
        c->sprev = NULL;
    }
    struct event *evs[] = {c->cr, c->cw, c->ur, c->uw, c->timer};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(evs); i++)
        if (evs[i]) event_free(evs[i]);
    c->cr = c->cw = c->ur = c->uw = c->timer = NULL;
    if (c->up) { /* its socket is libcurl's */
        upstream_free(c->up);
        c->up = NULL;
        c->ufd = -1;
    }
    if (c->tls && c->cfd >= 0 && !rst) {
        tlsterm_close_notify(c->tls);
        tlsterm_flush(c->tls, c->cfd);
    }
    if (c->cfd >= 0) {
        if (rst)
            reset_fd(c->cfd);
        else
            close(c->cfd);
    }
    if (c->ufd >= 0) {
        if (rst)
            reset_fd(c->ufd);
        else
            close(c->ufd);
    }
    c->cfd = c->ufd = -1;
    for (int i = 0; i < 2; i++) {
        if (c->p_c2u[i] >= 0) close(c->p_c2u[i]);
        if (c->p_u2c[i] >= 0) close(c->p_u2c[i]);
    }
    g_conns--;
    event_base_once(g_base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
}

void proxy_close_session(struct session *s)
{
    while (s->conns)
        conn_close(s->conns, 1, "session removed");
}

/* ---- refusing ---- */

static void drop_upstream(struct conn *c)
{
    if (c->ur) event_free(c->ur);
    if (c->uw) event_free(c->uw);
    c->ur = c->uw = NULL;
    c->ur_on = c->uw_on = 0;
    if (c->up) {
        upstream_free(c->up);
        c->up = NULL;
    } else if (c->ufd >= 0) {
        reset_fd(c->ufd);
    }
    c->ufd = -1;
}

/* Our own HTTP response, then a lingering close. Upstream is dropped. */
static void respond(struct conn *c, int status, const char *reason)
{
    const char *text = status == 403 ? "Forbidden" : status == 502 ? "Bad Gateway" : "Error";
    char body[300];
    snprintf(body, sizeof(body), "sbx-shim: %s\n", reason);
    one_line(body + strlen("sbx-shim: "));
    body[strlen(body) - 1] = '\n';
    int n = snprintf(c->resp, sizeof(c->resp),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, text, strlen(body), body);
    c->resp_len = n < 0 ? 0 : (size_t)n >= sizeof(c->resp) ? sizeof(c->resp) - 1 : (size_t)n;
    c->resp_off = 0;
    if (c->rq) resolve_cancel(c->rq);
    c->rq = NULL;
    drop_upstream(c);
    if (!c->close_reason[0]) snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    c->phase = PH_RESPOND;
    arm_timer(c, LINGER_S);
}

/* The first decision refused the connection. */
static void refuse(struct conn *c, const struct verdict *v)
{
    if (c->kind == K_HTTP) {
        respond(c, 403, v->reason);
    } else {
        conn_close(c, 1, v->reason);
    }
}

/* ---- deciding ---- */

/* Session known, quotas, then the name behind the address against the hosts
 * the protocol named (SNI / Host / URI) and the policy. */
static void judge(struct conn *c, const char *const *hosts, const char *const *whats, int nhosts,
                  struct verdict *v)
{
    struct session *s = c->s;
    struct policy_decision d;
    if (!s) {
        verdict_deny(v, "unknown source address (no session)");
        return;
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    dst.sin_addr.s_addr = c->dst;
    uint32_t dh = ntohl(c->dst);
    if (fakenet_contains(&s->fake, dh)) {
        const char *name = fakenet_name(&s->fake, dh);
        if (!name) {
            verdict_deny(v, "address not handed out by the shim's DNS");
            return;
        }
        snprintf(c->name, sizeof(c->name), "%s", name);
        for (int i = 0; i < nhosts; i++) {
            char norm[POLICY_NAME_MAX + 1];
            if (policy_normalize_host(hosts[i], norm, sizeof(norm)) < 0 || strcmp(norm, c->name)) {
                verdict_deny(v, "%s \"%.100s\" does not match the name %s", whats[i], hosts[i],
                             c->name);
                return;
            }
        }
        policy_decide_host(s->pol, c->name, c->port, &d);
        verdict_from(v, &d);
        return;
    }
    if (c->dst == g_cfg.gateway.s_addr) {
        verdict_deny(v, "the gateway answers DNS (port 53) only");
        return;
    }
    const char *bad = addr_forbidden_reason((struct sockaddr *)&dst);
    if (bad) {
        verdict_deny(v, "destination %s is a forbidden address (%s)", c->dst_str, bad);
        return;
    }
    policy_decide_addr(s->pol, (struct sockaddr *)&dst, &d);
    verdict_from(v, &d);
}

/* First decision: the connection against the connection quotas. */
static int admit(struct conn *c, struct verdict *v)
{
    if (!c->s) {
        verdict_deny(v, "unknown source address (no session)");
        return 0;
    }
    char buf[160];
    const char *q =
        quota_admit_conn(&c->s->quota, &c->s->pol->quotas, (int64_t)shim_now(), buf, sizeof(buf));
    if (q) {
        verdict_deny(v, "%s", q);
        return 0;
    }
    c->admitted = 1;
    return 1;
}

/* Hosts whose every request the shim must see (and so whose TLS it
 * terminates): an http method/path rule names them, or a secret is bound to
 * them. */
static int inspected(const struct conn *c, const char *host)
{
    if (!c->s) return 0;
    if (policy_http_inspected(c->s->pol, host)) return 1;
    for (int i = 0; i < c->s->secrets.n; i++)
        if (secret_host_match(&c->s->secrets.v[i], host)) return 1;
    return 0;
}

/* The TLS connection was allowed to a host the shim inspects: answer the
 * ClientHello (already read into cb) with a leaf of the node CA, then handle
 * the requests inside as plain HTTP (http_head decides each). */
static void begin_terminate(struct conn *c)
{
    sbx_err err;
    if (!g_ca || !g_tls_ctx) {
        conn_close(c, 1, "TLS termination is not available (the shim has no CA)");
        return;
    }
    SSL *ssl = SSL_new(g_tls_ctx);
    if (!ssl || ca_ssl_use_host(g_ca, ssl, c->name, &err) < 0) {
        if (ssl) SSL_free(ssl);
        conn_close(c, 1, ssl ? err.msg : "out of memory");
        return;
    }
    /* cb grows first: with c->tls set, its free wipes CBUF_CAP + TLS_HEAD_ROOM bytes */
    char *big = realloc(c->cb, CBUF_CAP + TLS_HEAD_ROOM);
    if (!big) {
        SSL_free(ssl);
        conn_close(c, 1, "out of memory");
        return;
    }
    c->cb = big;
    c->tls = tlsterm_new(ssl, c->cb, c->cb_len);
    c->hreq = malloc(sizeof(*c->hreq));
    c->pend = calloc(PENDING_MAX, sizeof(*c->pend));
    if (!c->tls || !c->hreq || !c->pend) {
        if (!c->tls) SSL_free(ssl);
        conn_close(c, 1, "out of memory");
        return;
    }
    explicit_bzero(c->cb, c->cb_len);
    c->cb_len = c->cb_sent = c->cb_ok = c->cb_parsed = 0;
    hflow_init(c->hreq, HTTP_REQUEST);
    c->kind = K_HTTP;
    c->phase = PH_PEEK;
    double left = HEAD_DEADLINE_S - (shim_now() - c->t0);
    arm_timer(c, left > 1 ? left : 1);
}

/* TLS (sni: the SNI or NULL) and opaque connections: one decision. */
static void decide_stream(struct conn *c, enum sni_status st, const char *sni, const char *why)
{
    struct verdict v;
    evtimer_del(c->timer);
    if (sni) snprintf(c->proto_host, sizeof(c->proto_host), "%s", sni);
    if (!admit(c, &v)) goto deny;
    if (c->kind == K_TLS && st != SNI_FOUND) {
        if (st != SNI_ABSENT) {
            verdict_deny(&v, "%s", why ? why : sni_status_str(st));
            goto deny;
        }
        if (c->s && fakenet_contains(&c->s->fake, ntohl(c->dst))) {
            /* a named destination: the name must be in the hello */
            verdict_deny(&v, "TLS ClientHello without SNI");
            goto deny;
        }
        judge(c, NULL, NULL, 0, &v); /* a literal address: the address decides */
    } else {
        const char *hosts[1] = {sni};
        const char *whats[1] = {"SNI"};
        judge(c, hosts, whats, sni ? 1 : 0, &v);
    }
    if (!v.allow) goto deny;
    c->allowed = 1;
    c->first = v; /* the connect line is written once the address is known */
    if (c->kind == K_TLS && c->name[0] && inspected(c, c->name)) {
        begin_terminate(c);
        return;
    }
    start_upstream(c);
    return;
deny:
    audit_verdict(c, &v);
    refuse(c, &v);
}

static void pend_push(struct conn *c, const struct hflow_info *in, const struct verdict *v)
{
    struct pending_req *p = &c->pend[(c->pend_head + c->pend_n) % PENDING_MAX];
    c->pend_n++;
    snprintf(p->method, sizeof(p->method), "%s", in->method);
    snprintf(p->path, sizeof(p->path), "%s", in->path);
    snprintf(p->host, sizeof(p->host), "%s", in->host[0] ? in->host : in->uri_host);
    p->decision = v->decision;
    snprintf(p->reason, sizeof(p->reason), "%s", v->reason);
    snprintf(p->rule, sizeof(p->rule), "%s", v->rule);
    p->t = shim_now();
    p->is_head = in->is_head;
    snprintf(p->secrets, sizeof(p->secrets), "%s", c->inj);
    c->inj[0] = '\0';
}

/* A refused HTTP request: audited now; the 403 goes out once the responses
 * to the requests before it are through (conn_step). */
static void http_deny(struct conn *c, const struct hflow_info *in, const struct verdict *v)
{
    struct audit_rec r;
    rec_init(c, &r, "request");
    if (in) {
        r.requested_host = in->host[0] ? in->host : in->uri_host;
        r.method = in->method;
        r.path = in->path;
    }
    r.decision = v->decision;
    r.reason = v->reason;
    r.rule = v->rule[0] ? v->rule : NULL;
    r.status = 403;
    audit_write(&r);
    c->deny_pending = 1;
    c->deny_status = 403;
    snprintf(c->deny_reason, sizeof(c->deny_reason), "%s", v->reason);
    c->cb_len = c->cb_parsed = c->cb_ok; /* the refused bytes never go anywhere */
    c->msg_approved = 0;
    arm_timer(c, DENY_DRAIN_S);
}

/* Replace secret placeholders in the request head cb[cb_ok, cb_parsed]
 * (hflow stops on the head's last LF) for a terminated connection. */
static int inject(struct conn *c, struct verdict *v)
{
    compact_cb(c);
    size_t hs = c->cb_ok, he = c->cb_parsed + 1;
    if (he > c->cb_len) he = c->cb_len;
    char *out = NULL;
    size_t olen = 0;
    struct secrets_result res;
    memset(&res, 0, sizeof(res));
    int r = secrets_rewrite_head(&c->s->secrets, c->name, c->cb + hs, he - hs, &out, &olen, &res);
    if (r < 0 || res.deny || !out) {
        verdict_deny(v, "%s", res.deny && res.reason[0] ? res.reason : "cannot rewrite the request head");
        if (out) secrets_free_head(out, olen);
        return -1;
    }
    if (c->cb_len - (he - hs) + olen > CBUF_CAP + TLS_HEAD_ROOM) {
        secrets_free_head(out, olen);
        verdict_deny(v, "request head too large with the secrets injected");
        return -1;
    }
    memmove(c->cb + hs + olen, c->cb + he, c->cb_len - he);
    memcpy(c->cb + hs, out, olen);
    secrets_free_head(out, olen);
    c->cb_len = c->cb_len - (he - hs) + olen;
    c->cb_parsed = hs + olen - 1;
    size_t k = 0;
    c->inj[0] = '\0';
    for (int i = 0; i < res.ninjected; i++) {
        int w = snprintf(c->inj + k, sizeof(c->inj) - k, "%s%s", k ? "," : "", res.injected[i]);
        if (w < 0 || (size_t)w >= sizeof(c->inj) - k) break;
        k += (size_t)w;
    }
    return 0;
}

/* Method/path rules, then secrets: injected on terminated connections; a
 * placeholder in plain HTTP is refused (values only travel encrypted). */
static int inspect_request(struct conn *c, const struct hflow_info *in, struct verdict *v)
{
    if (!c->s) return 0;
    const char *host = c->name[0] ? c->name : in->host;
    char norm[POLICY_NAME_MAX + 1];
    if (!c->name[0] && policy_normalize_host(host, norm, sizeof(norm)) == 0) host = norm;
    struct policy_decision d;
    policy_decide_request(c->s->pol, host, in->method, c->hreq->url, &d);
    if (!d.enforced_allow) {
        verdict_from(v, &d);
        return -1;
    }
    if (d.verdict != POLICY_ALLOW)
        verdict_from(v, &d); /* report mode */
    else if (d.rule)
        snprintf(v->rule, sizeof(v->rule), "%s", d.rule);
    if (!c->s->secrets.n) return 0;
    if (c->tls) return inject(c, v);
    size_t he = c->cb_parsed + 1 > c->cb_len ? c->cb_len : c->cb_parsed + 1;
    const struct secret *sec = secrets_find_placeholder(&c->s->secrets, c->cb + c->cb_ok, he - c->cb_ok);
    if (sec) {
        verdict_deny(v,
                     "placeholder of secret %s in a plain-HTTP request to %s; secrets are only "
                     "injected into HTTPS requests to their hosts",
                     sec->name, host);
        return -1;
    }
    return 0;
}

/* An HTTP request head is complete: decide it. */
static void http_head(struct conn *c)
{
    const struct hflow_info *in = &c->hreq->info;
    struct verdict v;
    int first = !c->admitted;
    if (first) {
        evtimer_del(c->timer);
        snprintf(c->proto_host, sizeof(c->proto_host), "%s", in->host[0] ? in->host : in->uri_host);
        if (!admit(c, &v)) {
            http_deny(c, in, &v);
            return;
        }
    }
    char buf[160];
    const char *q = quota_admit_request(&c->s->quota, &c->s->pol->quotas, (int64_t)shim_now(), buf,
                                        sizeof(buf));
    if (q) {
        verdict_deny(&v, "%s", q);
        goto deny;
    }
    if (in->is_connect) {
        verdict_deny(&v, "CONNECT is not allowed (the shim is not a forward proxy)");
        goto deny;
    }
    if (in->url_bad) {
        verdict_deny(&v, "malformed HTTP request target");
        goto deny;
    }
    if (in->host_count > 1) {
        verdict_deny(&v, "several Host headers");
        goto deny;
    }
    if (in->host_too_long) {
        verdict_deny(&v, "Host header too long");
        goto deny;
    }
    const char *hosts[2];
    const char *whats[2];
    int n = 0;
    if (in->host_count) {
        hosts[n] = in->host;
        whats[n++] = "Host header";
    }
    if (in->uri_host[0]) {
        hosts[n] = in->uri_host;
        whats[n++] = "request URI host";
    }
    judge(c, hosts, whats, n, &v);
    if (v.allow && n == 0 && c->name[0]) verdict_deny(&v, "HTTP request without a Host header");
    if (!v.allow) goto deny;
    if (inspect_request(c, in, &v) < 0) goto deny;
    pend_push(c, in, &v);
    c->msg_approved = 1;
    if (!c->up_started) {
        c->up_started = 1;
        c->allowed = 1;
        evtimer_del(c->timer);
        start_upstream(c);
    }
    return;
deny:
    c->inj[0] = '\0';
    http_deny(c, in, &v);
}

/* Parse client bytes not parsed yet; approve or refuse each request. */
static void http_parse_client(struct conn *c)
{
    while (!c->dead && !c->deny_pending && !c->upgrade_wait && !c->raw &&
           c->cb_parsed < c->cb_len && c->phase != PH_RESPOND) {
        if (!c->hreq->in_message && c->pend_n >= PENDING_MAX) break; /* wait for responses */
        enum hflow_event ev;
        size_t n = hflow_feed(c->hreq, c->cb + c->cb_parsed, c->cb_len - c->cb_parsed, &ev);
        c->cb_parsed += n;
        if (c->msg_approved) c->cb_ok = c->cb_parsed;
        if (ev == HF_HEADERS) {
            http_head(c);
            if (c->msg_approved) c->cb_ok = c->cb_parsed;
        } else if (ev == HF_COMPLETE) {
            c->cb_ok = c->cb_parsed;
            c->msg_approved = 0;
            if (c->hreq->upgraded) c->upgrade_wait = 1; /* held until the answer */
        } else if (ev == HF_ERROR) {
            if (c->msg_approved) { /* inside a body already on its way: no sane answer left */
                conn_close(c, 1, c->hreq->err);
                return;
            }
            struct verdict v;
            verdict_deny(&v, "%s", c->hreq->err);
            http_deny(c, c->hreq->info.method[0] ? &c->hreq->info : NULL, &v);
        } else {
            break;
        }
    }
}

/* Response heads tell the status of the oldest pending request. */
static void http_parse_upstream(struct conn *c)
{
    while (!c->raw && !c->resp_broken && c->ub_parsed < c->ub_len) {
        c->hresp->head_next = c->pend_n && c->pend[c->pend_head].is_head;
        enum hflow_event ev;
        size_t n = hflow_feed(c->hresp, c->ub + c->ub_parsed, c->ub_len - c->ub_parsed, &ev);
        c->ub_parsed += n;
        if (ev == HF_HEADERS) {
            int st = c->hresp->info.status;
            if (st >= 200 || st == 101) {
                if (c->pend_n) {
                    pend_emit(c, &c->pend[c->pend_head], NULL, NULL, st);
                    c->pend_head = (c->pend_head + 1) % PENDING_MAX;
                    c->pend_n--;
                }
                if (c->upgrade_wait && st != 101) { /* upgrade declined: keep parsing */
                    c->upgrade_wait = 0;
                    hflow_init(c->hreq, HTTP_REQUEST);
                }
            }
        } else if (ev == HF_COMPLETE) {
            if (c->hresp->upgraded) { /* 101: the rest is another protocol, both ways */
                c->raw = 1;
                c->upgrade_wait = 0;
                c->cb_ok = c->cb_parsed = c->cb_len;
                c->ub_parsed = c->ub_len;
            }
        } else if (ev == HF_ERROR) {
            sbx_log(SBX_LOG_DEBUG, "proxy: unparsable response; passing it through", "error",
                    c->hresp->err, NULL);
            c->resp_broken = 1;
            pend_flush(c, NULL, NULL, 0);
        } else {
            break;
        }
    }
}

/* ---- upstream: resolve, filter, connect ---- */

static void connect_next(struct conn *c);

static void resolved_cb(void *arg, const char *error, const struct sockaddr_storage *addrs, int n)
{
    struct conn *c = arg;
    c->rq = NULL;
    struct verdict v;
    if (error) {
        verdict_deny(&v, "%s", error);
    } else {
        const char *why = NULL;
        char first_bad[INET6_ADDRSTRLEN] = "";
        c->ncand = 0;
        for (int i = 0; i < n; i++) {
            const char *bad = addr_forbidden_reason((const struct sockaddr *)&addrs[i]);
            if (bad) {
                if (!why) {
                    why = bad;
                    addr_to_str((const struct sockaddr *)&addrs[i], first_bad, sizeof(first_bad));
                }
                continue;
            }
            c->cand[c->ncand++] = addrs[i];
        }
        if (c->ncand) {
            c->icand = 0;
            connect_next(c);
            conn_step(c);
            return;
        }
        verdict_deny(&v, "%s resolves only to forbidden addresses (%s is %s)", c->name, first_bad,
                     why ? why : "?");
    }
    c->allowed = 0; /* refused after all: no close line */
    if (c->kind == K_HTTP) {
        pend_flush(c, "deny", v.reason, error ? 502 : 403);
        respond(c, error ? 502 : 403, v.reason);
    } else {
        audit_verdict(c, &v);
        conn_close(c, 1, v.reason);
        return;
    }
    conn_step(c);
}

static void start_upstream(struct conn *c)
{
    if (c->name[0]) {
        c->phase = PH_RESOLVE;
        c->rq = resolve_start(c->name, resolved_cb, c);
        if (!c->rq) conn_close(c, 1, "out of memory");
        return;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&c->cand[0];
    memset(&c->cand[0], 0, sizeof(c->cand[0]));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = c->dst;
    c->ncand = 1;
    c->icand = 0;
    connect_next(c);
}

static void connect_failed_all(struct conn *c)
{
    char why[300];
    snprintf(why, sizeof(why), "cannot connect to %s: %s", c->name[0] ? c->name : c->dst_str,
             c->fail);
    if (c->kind == K_HTTP) {
        pend_flush(c, NULL, why, 502);
        respond(c, 502, why);
    } else {
        conn_close(c, 1, why);
    }
}

static void conn_cb_u(evutil_socket_t fd, short what, void *arg);

static void connected(struct conn *c);

/* libcurl has the upstream TLS connection (or gave up). */
static void up_connected(void *arg, const char *error, int verify_failed)
{
    (void)verify_failed;
    struct conn *c = arg;
    if (c->dead) return;
    if (c->up) snprintf(c->resolved, sizeof(c->resolved), "%s", upstream_addr(c->up));
    if (error) {
        upstream_free(c->up);
        c->up = NULL;
        pend_flush(c, NULL, error, 502);
        respond(c, 502, error);
        conn_step(c);
        return;
    }
    c->ufd = upstream_fd(c->up);
    c->ur = event_new(g_base, c->ufd, EV_READ | EV_PERSIST, conn_cb_u, c);
    c->uw = event_new(g_base, c->ufd, EV_WRITE | EV_PERSIST, conn_cb_u, c);
    if (!c->ur || !c->uw) {
        conn_close(c, 1, "out of memory");
        return;
    }
    connected(c);
    if (!c->dead) conn_step(c);
}

/* Connect to cand[icand] (then the next ones on failure). */
static void connect_next(struct conn *c)
{
    if (c->tls) { /* libcurl connects, verifies and tries the next address itself */
        c->phase = PH_CONNECT;
        c->up = upstream_connect(c->name, c->port, c->cand, c->ncand, up_connected, c);
        if (!c->up) conn_close(c, 1, "out of memory");
        return;
    }
    if (c->ufd >= 0) {
        if (c->ur) event_free(c->ur);
        if (c->uw) event_free(c->uw);
        c->ur = c->uw = NULL;
        c->ur_on = c->uw_on = 0;
        close(c->ufd);
        c->ufd = -1;
    }
    for (; c->icand < c->ncand; c->icand++) {
        struct sockaddr_storage *ss = &c->cand[c->icand];
        socklen_t sl;
        if (ss->ss_family == AF_INET) {
            ((struct sockaddr_in *)ss)->sin_port = htons(c->port);
            sl = sizeof(struct sockaddr_in);
        } else {
            ((struct sockaddr_in6 *)ss)->sin6_port = htons(c->port);
            sl = sizeof(struct sockaddr_in6);
        }
        addr_to_str((struct sockaddr *)ss, c->resolved, sizeof(c->resolved));
        if (c->icand == 0 && splice_mode(c))
            audit_verdict(c, &c->first); /* decision taken, its address known */
        int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(c->fail, sizeof(c->fail), "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, (struct sockaddr *)ss, sl) < 0 && errno != EINPROGRESS) {
            snprintf(c->fail, sizeof(c->fail), "%s", strerror(errno));
            close(fd);
            continue;
        }
        c->ufd = fd;
        c->ur = event_new(g_base, fd, EV_READ | EV_PERSIST, conn_cb_u, c);
        c->uw = event_new(g_base, fd, EV_WRITE | EV_PERSIST, conn_cb_u, c);
        if (!c->ur || !c->uw) {
            conn_close(c, 1, "out of memory");
            return;
        }
        c->phase = PH_CONNECT;
        arm_timer(c, CONNECT_TIMEOUT_S);
        return;
    }
    connect_failed_all(c);
}

static int make_pipe(int p[2], size_t *cap)
{
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
    int sz = fcntl(p[0], F_GETPIPE_SZ);
    if (sz > 0 && (size_t)sz < *cap) *cap = (size_t)sz;
    return 0;
}

static void connected(struct conn *c)
{
    evtimer_del(c->timer);
    int one = 1;
    setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->phase = PH_RELAY;
    if (splice_mode(c)) {
        c->pipe_cap = 1 << 20;
        if (make_pipe(c->p_c2u, &c->pipe_cap) < 0 || make_pipe(c->p_u2c, &c->pipe_cap) < 0) {
            conn_close(c, 1, "cannot make a pipe");
            return;
        }
    } else {
        c->ub = malloc(UBUF_CAP);
        c->hresp = malloc(sizeof(*c->hresp));
        if (!c->ub || !c->hresp) {
            conn_close(c, 1, "out of memory");
            return;
        }
        hflow_init(c->hresp, HTTP_RESPONSE);
    }
}

static void check_connect(struct conn *c)
{
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &e, &el) < 0) e = errno;
    if (e == EINPROGRESS || e == EALREADY) return;
    if (e) {
        snprintf(c->fail, sizeof(c->fail), "%s", strerror(e));
        c->icand++;
        connect_next(c);
        return;
    }
    connected(c);
}

/* ---- relaying ---- */

static void fail_io(struct conn *c, const char *what, int e)
{
    char why[160];
    snprintf(why, sizeof(why), "%s: %s", what, strerror(e));
    conn_close(c, 1, why);
}

static void quota_close(struct conn *c)
{
    char why[160];
    snprintf(why, sizeof(why), "quota exceeded: bytes_out (%llu bytes)",
             (unsigned long long)c->s->pol->quotas.bytes_out);
    conn_close(c, 1, why);
}

/* Upstream I/O: a plain socket, or the libcurl TLS connection (-1 + errno). */
static ssize_t up_write(struct conn *c, const void *buf, size_t len)
{
    if (!c->up) return send(c->ufd, buf, len, MSG_NOSIGNAL);
    ssize_t n = upstream_send(c->up, buf, len);
    if (n < 0) errno = n == -EAGAIN ? EAGAIN : EIO;
    return n < 0 ? -1 : n;
}

static ssize_t up_read(struct conn *c, void *buf, size_t len)
{
    if (!c->up) return read(c->ufd, buf, len);
    ssize_t n = upstream_recv(c->up, buf, len);
    if (n < 0) errno = n == -EAGAIN ? EAGAIN : EIO;
    return n < 0 ? -1 : n;
}

/* Client writes: the socket, or through the TLS the shim terminates. */
static ssize_t cl_write(struct conn *c, const void *buf, size_t len)
{
    if (!c->tls) return send(c->cfd, buf, len, MSG_NOSIGNAL);
    ssize_t n = tlsterm_write(c->tls, c->cfd, buf, len);
    if (n < 0) errno = n == -EAGAIN ? EAGAIN : EPIPE;
    return n < 0 ? -1 : n;
}

/* Encrypted bytes still queued for the client (0 without TLS); -1: failed. */
static ssize_t cl_pending(struct conn *c)
{
    if (!c->tls) return 0;
    if (tlsterm_flush(c->tls, c->cfd) < 0) return -1;
    return (ssize_t)tlsterm_pending(c->tls);
}

/* Write cb[sent, limit) upstream, within the bytes_out quota. */
static int write_client_bytes(struct conn *c, size_t limit)
{
    int progress = 0;
    while (c->cb_sent < limit) {
        uint64_t left = quota_bytes_left(&c->s->quota, &c->s->pol->quotas);
        if (left == 0) {
            quota_close(c);
            return 1;
        }
        size_t want = limit - c->cb_sent;
        if (want > left) want = (size_t)left;
        ssize_t n = up_write(c, c->cb + c->cb_sent, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            fail_io(c, "upstream write", n < 0 ? errno : EPIPE);
            return 1;
        }
        c->cb_sent += (size_t)n;
        c->bytes_out += (uint64_t)n;
        quota_add_bytes_out(&c->s->quota, (uint64_t)n);
        progress = 1;
    }
    return progress;
}

static int pump_splice_dir(struct conn *c, int src, int dst, int p[2], size_t *inpipe, int *src_eof,
                           int *dst_shut, int *full, int is_out)
{
    int progress = 0;
    if (!*src_eof && *inpipe < c->pipe_cap && !*full) {
        size_t want = c->pipe_cap - *inpipe;
        if (want > SPLICE_CHUNK) want = SPLICE_CHUNK;
        int go = 1;
        if (is_out) {
            uint64_t left = quota_bytes_left(&c->s->quota, &c->s->pol->quotas);
            if (left == 0) {
                char b;
                ssize_t k = recv(src, &b, 1, MSG_PEEK | MSG_DONTWAIT);
                if (k > 0) {
                    quota_close(c);
                    return 1;
                }
                if (k == 0) {
                    *src_eof = 1;
                    progress = 1;
                }
                go = 0;
            } else if (want > left) {
                want = (size_t)left;
            }
        }
        if (go) {
            ssize_t n = splice(src, NULL, p[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            if (n > 0) {
                *inpipe += (size_t)n;
                if (is_out) quota_add_bytes_out(&c->s->quota, (uint64_t)n);
                progress = 1;
            } else if (n == 0) {
                *src_eof = 1;
                progress = 1;
            } else if (errno == EAGAIN) {
                if (*inpipe > 0) *full = 1;
            } else if (errno != EINTR) {
                fail_io(c, is_out ? "client read" : "upstream read", errno);
                return 1;
            }
        }
    }
    if (*inpipe > 0) {
        ssize_t n = splice(p[0], NULL, dst, NULL, *inpipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            *inpipe -= (size_t)n;
            *full = 0;
            if (is_out)
                c->bytes_out += (uint64_t)n;
            else
                c->bytes_in += (uint64_t)n;
            progress = 1;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            fail_io(c, is_out ? "upstream write" : "client write", errno);
            return 1;
        }
    }
    if (*src_eof && *inpipe == 0 && !*dst_shut) {
        shutdown(dst, SHUT_WR);
        *dst_shut = 1;
        progress = 1;
    }
    return progress;
}

static int relay_splice(struct conn *c)
{
    int progress = 0;
    if (c->cb_sent < c->cb_len) { /* the bytes read while deciding go first */
        progress |= write_client_bytes(c, c->cb_len);
        if (c->dead) return 1;
    }
    if (c->cb && c->cb_sent == c->cb_len) { /* not needed any more */
        free(c->cb);
        c->cb = NULL;
        c->cb_len = c->cb_sent = c->cb_ok = c->cb_parsed = 0;
    }
    if (c->cb_sent == c->cb_len) {
        progress |= pump_splice_dir(c, c->cfd, c->ufd, c->p_c2u, &c->n_c2u, &c->c_eof, &c->u_shut,
                                    &c->c2u_full, 1);
        if (c->dead) return 1;
    }
    progress |= pump_splice_dir(c, c->ufd, c->cfd, c->p_u2c, &c->n_u2c, &c->u_eof, &c->c_shut,
                                &c->u2c_full, 0);
    if (c->dead) return 1;
    if (c->u_shut && c->c_shut) {
        conn_close(c, 0, NULL);
        return 1;
    }
    return progress;
}

static void compact_cb(struct conn *c)
{
    if (!c->cb_sent) return;
    memmove(c->cb, c->cb + c->cb_sent, c->cb_len - c->cb_sent);
    c->cb_len -= c->cb_sent;
    c->cb_ok -= c->cb_sent;
    c->cb_parsed -= c->cb_sent;
    c->cb_sent = 0;
}

static void compact_ub(struct conn *c)
{
    if (!c->ub_sent) return;
    memmove(c->ub, c->ub + c->ub_sent, c->ub_len - c->ub_sent);
    c->ub_len -= c->ub_sent;
    c->ub_parsed -= c->ub_sent;
    c->ub_sent = 0;
}

/* Read the client into cb (up to cap); returns progress. */
static int read_client(struct conn *c, size_t cap)
{
    if (c->c_eof) return 0;
    if (c->cb_len == cap) compact_cb(c);
    if (c->cb_len >= cap) return 0;
    if (c->tls) {
        ssize_t t = tlsterm_read(c->tls, c->cfd, c->cb + c->cb_len, cap - c->cb_len);
        if (t == -EAGAIN) return 0;
        if (t < 0) {
            conn_close(c, 1, tlsterm_error(c->tls));
            return 1;
        }
        if (t == 0)
            c->c_eof = 1;
        else
            c->cb_len += (size_t)t;
        return 1;
    }
    ssize_t n = read(c->cfd, c->cb + c->cb_len, cap - c->cb_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n < 0) {
        fail_io(c, "client read", errno);
        return 1;
    }
    if (n == 0)
        c->c_eof = 1;
    else
        c->cb_len += (size_t)n;
    return 1;
}

static int relay_http(struct conn *c)
{
    int progress = 0;
    /* client -> upstream */
    if (!c->deny_pending) progress |= read_client(c, CBUF_CAP);
    if (c->dead) return 1;
    if (c->raw) c->cb_ok = c->cb_parsed = c->cb_len;
    http_parse_client(c);
    if (c->dead) return 1;
    if (c->phase != PH_RELAY) return 1;
    progress |= write_client_bytes(c, c->cb_ok);
    if (c->dead) return 1;
    if (c->c_eof && !c->u_shut && !c->upgrade_wait && c->cb_sent == c->cb_ok) {
        if (!c->up) shutdown(c->ufd, SHUT_WR); /* TLS upstream: no half-close */
        c->u_shut = 1;
        progress = 1;
    }
    /* upstream -> client */
    if (c->ub_len == UBUF_CAP) compact_ub(c);
    if (!c->u_eof && c->ub_len < UBUF_CAP) {
        ssize_t n = up_read(c, c->ub + c->ub_len, UBUF_CAP - c->ub_len);
        if (n > 0) {
            c->ub_len += (size_t)n;
            progress = 1;
        } else if (n == 0) {
            c->u_eof = 1;
            progress = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            fail_io(c, "upstream read", errno);
            return 1;
        }
    }
    http_parse_upstream(c);
    while (c->ub_sent < c->ub_len) {
        ssize_t n = cl_write(c, c->ub + c->ub_sent, c->ub_len - c->ub_sent);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            fail_io(c, "client write", n < 0 ? errno : EPIPE);
            return 1;
        }
        c->ub_sent += (size_t)n;
        c->bytes_in += (uint64_t)n;
        progress = 1;
    }
    int drained = c->ub_sent == c->ub_len;
    if (drained) c->ub_sent = c->ub_len = c->ub_parsed = 0;
    ssize_t queued = cl_pending(c);
    if (queued < 0) {
        fail_io(c, "client write", EPIPE);
        return 1;
    }
    if (queued > 0) drained = 0; /* encrypted, not out yet */
    if (c->cb_sent == c->cb_len) c->cb_sent = c->cb_len = c->cb_ok = c->cb_parsed = 0;
    /* a refused request: answer it once the upstream is done with the earlier ones */
    if (c->deny_pending && drained && c->cb_sent == c->cb_ok &&
        (c->u_eof || c->resp_broken || (c->pend_n == 0 && !c->hresp->in_message))) {
        if (c->resp_broken) {
            conn_close(c, 1, c->deny_reason);
            return 1;
        }
        pend_flush(c, NULL, NULL, 0);
        respond(c, c->deny_status, c->deny_reason);
        return 1;
    }
    /* a TLS upstream cannot be half-closed: once the client is gone and
     * every answer it asked for is through, the connection is done */
    if (c->up && c->c_eof && c->cb_sent == c->cb_ok && drained &&
        (c->raw || (c->pend_n == 0 && !c->hresp->in_message))) {
        conn_close(c, 0, NULL);
        return 1;
    }
    if (c->u_eof && drained && !c->c_shut) {
        if (c->tls) {
            tlsterm_close_notify(c->tls);
            if (cl_pending(c) != 0) return 1; /* out first, then the FIN */
        }
        shutdown(c->cfd, SHUT_WR);
        c->c_shut = 1;
        progress = 1;
    }
    if (c->c_shut && (c->u_shut || c->c_eof)) {
        conn_close(c, 0, NULL);
        return 1;
    }
    return progress;
}

/* ---- PEEK: what does the client speak? ---- */

static int peek_step(struct conn *c)
{
    size_t cap = c->kind == K_HTTP ? CBUF_CAP : TLS_HELLO_MAX;
    int progress = read_client(c, cap);
    if (c->dead) return 1;
    if (c->kind == K_UNKNOWN) {
        if (c->cb_len == 0) {
            if (c->c_eof) {
                c->kind = K_OPAQUE;
                decide_stream(c, SNI_INVALID, NULL, NULL);
                return 1;
            }
            return progress;
        }
        if (c->peek_stage == 0) { /* a first byte: now give the head its time */
            c->peek_stage = 1;
            double left = HEAD_DEADLINE_S - (shim_now() - c->t0);
            arm_timer(c, left > 0 ? left : 0);
        }
        if (sni_is_tls((const uint8_t *)c->cb, c->cb_len)) {
            c->kind = K_TLS;
        } else {
            int h = hflow_looks_like_request(c->cb, c->cb_len);
            if (h < 0 && !c->c_eof) return progress;
            if (h > 0) {
                c->kind = K_HTTP;
                c->hreq = malloc(sizeof(*c->hreq));
                c->pend = calloc(PENDING_MAX, sizeof(*c->pend));
                char *big = realloc(c->cb, CBUF_CAP); /* room for a whole request head */
                if (big) c->cb = big;
                if (!c->hreq || !c->pend || !big) {
                    conn_close(c, 1, "out of memory");
                    return 1;
                }
                hflow_init(c->hreq, HTTP_REQUEST);
            } else {
                c->kind = K_OPAQUE;
                decide_stream(c, SNI_INVALID, NULL, NULL);
                return 1;
            }
        }
    }
    if (c->kind == K_TLS) {
        char sni[HFLOW_HOST_MAX];
        enum sni_status st = sni_extract((const uint8_t *)c->cb, c->cb_len, sni, sizeof(sni));
        const char *why = NULL;
        if (st == SNI_MORE) {
            if (c->cb_len < TLS_HELLO_MAX && !c->c_eof) return progress;
            st = SNI_INVALID;
            why = c->c_eof ? "connection closed inside the TLS ClientHello"
                           : "TLS ClientHello larger than 16 KiB";
        }
        decide_stream(c, st, st == SNI_FOUND ? sni : NULL, why);
        return 1;
    }
    /* K_HTTP */
    http_parse_client(c);
    if (c->dead || c->phase != PH_PEEK) return 1;
    if (c->c_eof || c->cb_len >= CBUF_CAP) {
        struct verdict v;
        verdict_deny(&v, c->c_eof ? "connection closed inside the HTTP request head"
                                  : "HTTP request head too large");
        http_deny(c, NULL, &v);
        return 1;
    }
    return progress;
}

/* ---- the driver ---- */

static int respond_step(struct conn *c)
{
    int progress = 0;
    while (c->resp_off < c->resp_len) {
        ssize_t n = cl_write(c, c->resp + c->resp_off, c->resp_len - c->resp_off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return progress;
        if (n <= 0) {
            conn_close(c, 1, NULL);
            return 1;
        }
        c->resp_off += (size_t)n;
        c->bytes_in += (uint64_t)n;
        progress = 1;
    }
    if (c->tls) {
        if (!c->resp_notified) {
            tlsterm_close_notify(c->tls);
            c->resp_notified = 1;
        }
        ssize_t q = cl_pending(c);
        if (q < 0) {
            conn_close(c, 1, NULL);
            return 1;
        }
        if (q > 0) return progress;
    }
    /* all out: stop writing, read (and drop) what the client still sends so
     * that our answer is not destroyed by a reset */
    shutdown(c->cfd, SHUT_WR);
    c->phase = PH_LINGER;
    arm_timer(c, LINGER_S);
    return 1;
}

static int linger_step(struct conn *c)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(c->cfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0 || (c->linger_bytes += (size_t)n) > LINGER_MAX_BYTES) {
            conn_close(c, n < 0 || n > 0, NULL);
            return 1;
        }
    }
}

static void conn_step(struct conn *c)
{
    if (c->dead || c->stepping) return;
    c->stepping = 1;
    int rounds_out = 1;
    for (int round = 0; round < STEP_ROUNDS && !c->dead; round++) {
        int progress = 0;
        enum phase before = c->phase;
        switch (c->phase) {
        case PH_PEEK:
            progress = peek_step(c);
            break;
        case PH_RESOLVE:
            break;
        case PH_CONNECT: {
            /* a near upstream often accepts within connect() itself: go on
             * now instead of a trip through the event loop */
            struct pollfd pf = {c->ufd, POLLOUT, 0};
            if (c->ufd >= 0 && poll(&pf, 1, 0) == 1) check_connect(c);
            break;
        }
        case PH_RELAY:
            progress = splice_mode(c) ? relay_splice(c) : relay_http(c);
            break;
        case PH_RESPOND:
            progress = respond_step(c);
            break;
        case PH_LINGER:
            progress = linger_step(c);
            break;
        }
        if (c->dead) break;
        /* a refused HTTP request with nothing before it: answer now */
        if (c->deny_pending && c->phase != PH_RESPOND && c->phase != PH_LINGER &&
            c->phase != PH_RELAY && c->pend_n == 0) {
            respond(c, c->deny_status, c->deny_reason);
            progress = 1;
        }
        if (!progress && c->phase == before) {
            rounds_out = 0;
            break;
        }
    }
    c->stepping = 0;
    if (!c->dead) update_events(c);
    /* out of rounds while still moving: TLS may hold decrypted bytes the
     * socket no longer signals, so come back through the loop */
    if (!c->dead && c->up && c->ur && rounds_out) event_active(c->ur, EV_READ, 0);
}

static void conn_cb_c(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_step(arg);
}

static void conn_cb_u(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct conn *c = arg;
    if (c->phase == PH_CONNECT && (what & EV_WRITE)) {
        check_connect(c);
        if (c->dead) return;
    }
    conn_step(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    switch (c->phase) {
    case PH_PEEK:
        if (c->kind == K_UNKNOWN && (c->cb_len == 0 || c->peek_stage == 1)) {
            /* silent client (server speaks first), or bytes of no known protocol */
            c->kind = K_OPAQUE;
            decide_stream(c, SNI_INVALID, NULL, NULL);
        } else if (c->kind == K_TLS) {
            decide_stream(c, SNI_INVALID, NULL, "timed out waiting for the TLS ClientHello");
        } else if (c->kind == K_HTTP) {
            struct verdict v;
            verdict_deny(&v, "timed out waiting for the HTTP request head");
            http_deny(c, NULL, &v);
        } else {
            double left = HEAD_DEADLINE_S - (shim_now() - c->t0);
            c->peek_stage = 1;
            arm_timer(c, left > 0 ? left : 0);
        }
        break;
    case PH_CONNECT:
        snprintf(c->fail, sizeof(c->fail), "timed out");
        c->icand++;
        connect_next(c);
        break;
    case PH_RELAY:
        if (c->deny_pending) conn_close(c, 1, c->deny_reason);
        break;
    case PH_RESPOND:
    case PH_LINGER:
        conn_close(c, 1, NULL);
        break;
    default:
        break;
    }
    if (!c->dead) conn_step(c);
}

/* ---- accepting ---- */

static uint32_t v4_of(const struct sockaddr_storage *ss, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        if (port) *port = ntohs(s->sin_port);
        return s->sin_addr.s_addr;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        if (port) *port = ntohs(s6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            uint32_t v;
            memcpy(&v, &s6->sin6_addr.s6_addr[12], 4);
            return v;
        }
    }
    return 0;
}

static void new_conn(int fd)
{
    struct sockaddr_storage peer, local;
    socklen_t pl = sizeof(peer), ll = sizeof(local);
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
        getsockname(fd, (struct sockaddr *)&local, &ll) < 0) {
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c) c->cb = malloc(TLS_HELLO_MAX); /* grown to CBUF_CAP for plain HTTP */
    if (!c || !c->cb) {
        if (c) free(c);
        reset_fd(fd);
        return;
    }
    c->id = g_next_id++;
    c->cfd = fd;
    c->ufd = -1;
    c->p_c2u[0] = c->p_c2u[1] = c->p_u2c[0] = c->p_u2c[1] = -1;
    c->peer = v4_of(&peer, NULL);
    c->dst = v4_of(&local, &c->port);
    inet_ntop(AF_INET, &c->peer, c->peer_str, sizeof(c->peer_str));
    inet_ntop(AF_INET, &c->dst, c->dst_str, sizeof(c->dst_str));
    c->t0 = shim_now();
    c->s = c->peer ? session_by_addr(c->peer) : NULL;
    g_conns++;
    c->cr = event_new(g_base, fd, EV_READ | EV_PERSIST, conn_cb_c, c);
    c->cw = event_new(g_base, fd, EV_WRITE | EV_PERSIST, conn_cb_c, c);
    c->timer = evtimer_new(g_base, conn_timer_cb, c);
    if (c->s) {
        c->snext = c->s->conns;
        if (c->snext) c->snext->sprev = &c->snext;
        c->s->conns = c;
        c->sprev = &c->s->conns;
    }
    if (!c->cr || !c->cw || !c->timer) {
        conn_close(c, 1, "out of memory");
        return;
    }
    struct timeval tv = {0, FIRST_BYTE_MS * 1000};
    evtimer_add(c->timer, &tv);
    conn_step(c);
}

int proxy_add_listener(int fd, uint16_t port, sbx_err *err)
{
    (void)port; /* each connection reads its port from getsockname() */
    return acceptor_start(fd, "proxy", new_conn, err);
}
