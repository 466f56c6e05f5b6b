/* ingress.c - preview ingress: HTTP from a person's browser to a port a
 * sandbox serves (ingress.h, docs/network.md).
 *
 * A connection accepted on the preview listener (host network namespace):
 *
 *   HEAD    each request head is parsed with httpflow (exact offsets) and
 *           decided before a byte of it goes anywhere:
 *           - Host "<port>-<id>.<domain>[:anyport]" names the preview
 *             (preview.h); the first request binds the connection to it,
 *             a later request with another Host gets 400 and the close.
 *             Unknown name, or a port not exposed: 404.
 *           - ?sbx_token=<token> in the URL: a good token gets 302 to the
 *             same URL without it, with the cookie
 *             "sbx_preview_<port>=<token>; Path=/; HttpOnly; SameSite=Lax"
 *             (host-only: no Domain, so it belongs to this preview alone);
 *             a wrong one 401.
 *           - otherwise the cookie sbx_preview_<port> must carry the token,
 *             else 401. Tokens are compared in constant time.
 *           No socket is connected for a request that is not let through.
 *   FORWARD the head, rewritten (preview_rewrite_head: the sbx_preview_*
 *           cookies removed, X-Forwarded-Host/-Proto set), then the body
 *           bytes as they come, on a socket sbxd made in the egress
 *           namespace, connected to exactly (the address of the session
 *           named by Host, the exposed port). Every later request on the
 *           connection goes through HEAD again. Responses are relayed
 *           unchanged; they are parsed only to know each request's status
 *           (audit), to find the end of a response to HEAD, and to see a
 *           101 Switching Protocols.
 *   RAW     after a request with Upgrade gets 101 (WebSocket: a dev
 *           server's hot reload), bytes go both ways as they are, half-closes
 *           passed on.
 *
 * Our own answers (302, 400, 401, 404, 502, 503) are short text/plain
 * responses with Connection: close, sent after the responses to requests
 * already forwarded on the connection; the connection then closes (lingering:
 * what the client still sends is read and dropped for a moment).
 *
 * Sockets: the shim keeps a pool of sbxd's unconnected egress sockets and
 * asks for more ({"want":N} on the supply channel) when it runs low; a
 * request waits at most SOCK_WAIT_S for one (then 503). Nothing listening
 * in the sandbox: 502 naming the port.
 *
 * Audit: one "preview" line per request decided (audit.h), when its
 * response head arrives (with its status) or at once for our own answers.
 * Never the token: paths are written without their query. */
#include "ingress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "acceptor.h"
#include "audit.h"
#include "httpflow.h"
#include "json.h"
#include "log.h"
#include "preview.h"
#include "sessions.h"
#include "shim.h"

#define CONNS_MAX 1024
#define CB_INIT (16 * 1024)
#define CB_CAP (64 * 1024) /* a whole request head (httpflow: 8 KiB URI + 32 KiB) */
#define OUT_HIGH (256 * 1024)
#define PEND_MAX 16
#define SOCK_WAIT_S 5
#define CONNECT_TIMEOUT_S 10
#define HEAD_TIMEOUT_S 30
#define IDLE_TIMEOUT_S 120
#define BUSY_TIMEOUT_S 300 /* a request forwarded, no answer yet (a dev server's first build) */
#define RAW_IDLE_S 3600
#define REFUSE_WAIT_S 30
#define LINGER_S 2
#define LINGER_MAX_BYTES (1 << 20)
#define STEP_ROUNDS 32
#define POOL_CAP 64
#define POOL_TARGET 16
#define POOL_LOW 8
#define SOCK_BATCH_MAX 8
#define ASK_TIMEOUT_S 2.0
#define EXPO_BUCKETS 256
#define EXPO_PER_SESSION_MAX 256
#define CONN_ID_BASE (1ull << 40) /* apart from the egress proxy's connection numbers */

/* ---- exposures ---- */

struct expo {
    char id[PREVIEW_ID_LEN + 1];
    uint16_t port;
    char token[PREVIEW_TOKEN_MAX + 1];
    struct expo *next;
};

static struct expo *g_expo[EXPO_BUCKETS];
static char g_domain[PREVIEW_DOMAIN_MAX + 1] = "preview.localhost";

static unsigned expo_bucket(const char *id, uint16_t port)
{
    unsigned h = port;
    for (const char *p = id; *p; p++)
        h = h * 31 + (unsigned char)*p;
    return h % EXPO_BUCKETS;
}

static struct expo *expo_find(const char *id, uint16_t port)
{
    for (struct expo *e = g_expo[expo_bucket(id, port)]; e; e = e->next)
        if (e->port == port && strcmp(e->id, id) == 0) return e;
    return NULL;
}

/* ---- connections ---- */

enum ist {
    IS_HEAD = 0, /* waiting for (or reading) a request head */
    IS_BODY,     /* forwarding a request's body */
    IS_UPWAIT,   /* an upgrade request forwarded: what follows waits for the answer */
    IS_RAW,      /* 101: bytes both ways */
    IS_RESPOND,  /* our own answer going out */
    IS_LINGER,   /* answered: dropping what the client still sends */
};

enum ust { US_NONE = 0, US_WAIT_SOCK, US_CONNECTING, US_OPEN };

struct pend {
    char method[24];
    char path[HFLOW_PATH_MAX];
    char host[HFLOW_HOST_MAX];
    int is_head;
    double t;
};

struct iconn {
    uint64_t id;
    struct iconn *next, **pprev; /* every connection */
    struct iconn *wnext;         /* waiting for a socket */
    int waiting;
    int cfd, ufd;
    struct event *cr, *cw, *ur, *uw, *timer;
    int cr_on, cw_on, ur_on, uw_on;
    int dead, stepping;
    char peer[INET6_ADDRSTRLEN];
    /* the preview the connection is bound to (by its first request let through) */
    int bound;
    char host[HFLOW_HOST_MAX];
    char sid[PREVIEW_ID_LEN + 1];
    uint16_t port;
    uint32_t addr; /* network byte order */
    char addr_str[INET_ADDRSTRLEN];
    enum ist st;
    enum ust us;
    struct hflow *hreq, *hresp;
    char *cb;
    size_t cb_cap, cb_len, cb_parsed, msg_start, fwd;
    double head_t0; /* the current head's first byte */
    struct evbuffer *to_u, *to_c;
    struct pend pend[PEND_MAX];
    int pend_head, pend_n;
    int c_eof, u_eof, u_shut, c_shut, resp_broken;
    /* our own answer, sent once the requests before it are answered */
    int refusing;
    char *answer;
    size_t answer_len;
    size_t linger_bytes;
};

static struct iconn *g_conns;
static int g_nconns;
static uint64_t g_next_id = CONN_ID_BASE;
static int g_nlis; /* preview listeners (at most 4) */

/* the socket supply */
static int g_sock_fd = -1;
static struct event *g_sock_ev;
static int g_pool[POOL_CAP];
static int g_npool;
static int g_asked;
static double g_asked_at;
static struct iconn *g_wait_head, **g_wait_tail = &g_wait_head;
static int g_nwaiting;

static void istep(struct iconn *c);
static void pool_want(void);

int ingress_conn_count(void)
{
    return g_nconns;
}

static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

static int64_t ms_since(double t)
{
    double d = (shim_now() - t) * 1000.0;
    return d < 0 ? 0 : (int64_t)d;
}

static void audit_preview(struct iconn *c, const char *host, int port, const char *method,
                          const char *path, const char *decision, const char *reason, int status,
                          double t)
{
    struct audit_rec r = AUDIT_REC_INIT;
    struct session *s = c->sid[0] ? session_by_id(c->sid) : NULL;
    r.event = "preview";
    r.conn = c->id;
    r.session = c->sid[0] ? c->sid : NULL;
    r.labels = s ? s->labels : NULL;
    r.proto = "http";
    r.src = c->peer;
    r.requested_host = host;
    r.port = port;
    r.dst_addr = c->addr_str[0] ? c->addr_str : NULL;
    r.method = method;
    r.path = path;
    r.decision = decision;
    r.reason = reason;
    r.status = status;
    r.duration_ms = t > 0 ? ms_since(t) : -1;
    audit_write(&r);
}

/* Requests let through whose responses will never come. */
static void pend_flush(struct iconn *c, const char *reason, int status)
{
    while (c->pend_n) {
        struct pend *p = &c->pend[c->pend_head];
        audit_preview(c, p->host, c->port, p->method, p->path, "allow", reason, status, p->t);
        c->pend_head = (c->pend_head + 1) % PEND_MAX;
        c->pend_n--;
    }
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

static void arm_timer(struct iconn *c, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    evtimer_add(c->timer, &tv);
}

static size_t out_len(struct evbuffer *b)
{
    return b ? evbuffer_get_length(b) : 0;
}

/* cb's bytes before this are done with (cb_make_room drops them). */
static size_t cb_keep(const struct iconn *c)
{
    size_t keep = c->st == IS_HEAD ? c->msg_start : c->fwd;
    return c->cb_parsed < keep ? c->cb_parsed : keep;
}

/* read_client() can put something in cb (after making room). */
static int cb_has_room(const struct iconn *c)
{
    return c->cb_len < c->cb_cap || c->cb_cap < CB_CAP || cb_keep(c) > 0;
}

static void update_events(struct iconn *c)
{
    int cr = 0, cw = out_len(c->to_c) > 0, ur = 0, uw = 0;
    switch (c->st) {
    case IS_HEAD:
    case IS_BODY:
        cr = !c->c_eof && !c->refusing && !c->resp_broken && cb_has_room(c) &&
             out_len(c->to_u) < OUT_HIGH;
        break;
    case IS_UPWAIT:
        break;
    case IS_RAW:
        cr = !c->c_eof && out_len(c->to_u) < OUT_HIGH;
        break;
    case IS_RESPOND:
        break;
    case IS_LINGER:
        cr = 1;
        break;
    }
    if (c->us == US_CONNECTING) uw = 1;
    if (c->us == US_OPEN) {
        ur = !c->u_eof && out_len(c->to_c) < OUT_HIGH && c->st != IS_RESPOND && c->st != IS_LINGER;
        uw = out_len(c->to_u) > 0;
    }
    set_ev(c->cr, &c->cr_on, cr);
    set_ev(c->cw, &c->cw_on, cw);
    set_ev(c->ur, &c->ur_on, ur);
    set_ev(c->uw, &c->uw_on, uw);
}

/* ---- teardown ---- */

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct iconn *c = arg;
    if (c->to_u) evbuffer_free(c->to_u);
    if (c->to_c) evbuffer_free(c->to_c);
    free(c->hreq);
    free(c->hresp);
    free(c->cb);
    free(c->answer);
    free(c);
}

static void reset_fd(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static void unwait(struct iconn *c)
{
    if (!c->waiting) return;
    for (struct iconn **pp = &g_wait_head; *pp; pp = &(*pp)->wnext)
        if (*pp == c) {
            *pp = c->wnext;
            if (g_wait_tail == &c->wnext) g_wait_tail = pp;
            break;
        }
    c->waiting = 0;
    c->wnext = NULL;
    g_nwaiting--;
}

static void drop_upstream(struct iconn *c, int rst)
{
    if (c->ur) event_free(c->ur);
    if (c->uw) event_free(c->uw);
    c->ur = c->uw = NULL;
    c->ur_on = c->uw_on = 0;
    if (c->ufd >= 0) {
        if (rst)
            reset_fd(c->ufd);
        else
            close(c->ufd);
    }
    c->ufd = -1;
    unwait(c);
    c->us = US_NONE;
}

static void ic_close(struct iconn *c, int rst, const char *reason)
{
    if (c->dead) return;
    c->dead = 1;
    pend_flush(c, reason ? reason : "connection closed before the response", 0);
    unwait(c);
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next) c->next->pprev = c->pprev;
        c->pprev = NULL;
    }
    struct event *evs[] = {c->cr, c->cw, c->timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i]) event_free(evs[i]);
    c->cr = c->cw = c->timer = NULL;
    drop_upstream(c, rst);
    if (c->cfd >= 0) {
        if (rst)
            reset_fd(c->cfd);
        else
            close(c->cfd);
    }
    c->cfd = -1;
    g_nconns--;
    event_base_once(g_base, -1, EV_TIMEOUT, free_cb, c, NULL);
}

/* ---- our own answers ---- */

static const char *status_text(int status)
{
    switch (status) {
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* Answer status (body "sbx preview: <text>"), with extra header lines
 * (each ending in CR LF, or NULL), once the requests forwarded before are
 * answered; then close. Audited by the caller. A later call replaces the
 * answer (a request forwarded before the refused one failed: it is owed its
 * 502 first, and the connection ends there). */
static void refuse(struct iconn *c, int status, const char *text, const char *extra)
{
    char body[400];
    snprintf(body, sizeof(body), "sbx preview: %s", text);
    one_line(body);
    size_t bl = strlen(body);
    body[bl++] = '\n';
    body[bl] = '\0';
    free(c->answer);
    c->answer = NULL;
    int n = asprintf(&c->answer,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
                     "%sConnection: close\r\n\r\n%s",
                     status, status_text(status), bl, extra ? extra : "", body);
    if (n < 0) {
        c->answer = NULL;
        ic_close(c, 1, "out of memory");
        return;
    }
    c->answer_len = (size_t)n;
    c->refusing = 1;
    arm_timer(c, REFUSE_WAIT_S);
}

/* The answer goes out when nothing forwarded is still being answered. */
static int answer_ready(struct iconn *c)
{
    if (c->us == US_NONE) return 1;
    if (c->us == US_WAIT_SOCK || c->us == US_CONNECTING) return c->pend_n == 0;
    return c->u_eof || c->resp_broken || (c->pend_n == 0 && !c->hresp->in_message);
}

static void send_answer(struct iconn *c)
{
    drop_upstream(c, 1);
    pend_flush(c, "answered by the shim", 0);
    if (c->to_u) evbuffer_drain(c->to_u, out_len(c->to_u));
    evbuffer_add(c->to_c, c->answer, c->answer_len);
    c->st = IS_RESPOND;
    arm_timer(c, LINGER_S * 5);
}

/* ---- upstream ---- */

static void cb_u(evutil_socket_t fd, short what, void *arg);

static void upstream_failed(struct iconn *c, int e)
{
    char why[300];
    if (e == ECONNREFUSED)
        snprintf(why, sizeof(why),
                 "nothing listens on port %u in session %s (the app must listen on 0.0.0.0 or the "
                 "session's address, not only on 127.0.0.1)",
                 (unsigned)c->port, c->sid);
    else if (e == ETIMEDOUT)
        snprintf(why, sizeof(why), "port %u in session %s did not answer the connection",
                 (unsigned)c->port, c->sid);
    else
        snprintf(why, sizeof(why), "cannot connect to port %u in session %s: %s", (unsigned)c->port,
                 c->sid, strerror(e));
    pend_flush(c, why, 502);
    drop_upstream(c, 1);
    refuse(c, 502, why, NULL);
}

static void connected(struct iconn *c)
{
    c->us = US_OPEN;
    int one = 1;
    setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evtimer_del(c->timer);
    arm_timer(c, BUSY_TIMEOUT_S);
}

static void start_connect(struct iconn *c, int fd)
{
    c->ufd = fd;
    c->ur = event_new(g_base, fd, EV_READ | EV_PERSIST, cb_u, c);
    c->uw = event_new(g_base, fd, EV_WRITE | EV_PERSIST, cb_u, c);
    if (!c->ur || !c->uw) {
        ic_close(c, 1, "out of memory");
        return;
    }
    /* the destination: the session's address and the exposed port, nothing else */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    sa.sin_addr.s_addr = c->addr;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        connected(c);
        return;
    }
    if (errno != EINPROGRESS) {
        upstream_failed(c, errno);
        return;
    }
    c->us = US_CONNECTING;
    arm_timer(c, CONNECT_TIMEOUT_S);
}

static void check_connect(struct iconn *c)
{
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &e, &el) < 0) e = errno;
    if (e == EINPROGRESS || e == EALREADY) return;
    if (e) {
        upstream_failed(c, e);
        return;
    }
    connected(c);
}

static int pool_take(void)
{
    int fd = g_npool ? g_pool[--g_npool] : -1;
    pool_want();
    return fd;
}

static void ensure_upstream(struct iconn *c)
{
    if (c->us != US_NONE) return;
    int fd = pool_take();
    if (fd >= 0) {
        start_connect(c, fd);
        return;
    }
    c->us = US_WAIT_SOCK;
    c->waiting = 1;
    c->wnext = NULL;
    *g_wait_tail = c;
    g_wait_tail = &c->wnext;
    g_nwaiting++;
    arm_timer(c, SOCK_WAIT_S);
    pool_want();
}

/* ---- requests ---- */

static void pend_push(struct iconn *c, const struct hflow_info *in)
{
    struct pend *p = &c->pend[(c->pend_head + c->pend_n) % PEND_MAX];
    c->pend_n++;
    snprintf(p->method, sizeof(p->method), "%s", in->method);
    snprintf(p->path, sizeof(p->path), "%s", in->path);
    snprintf(p->host, sizeof(p->host), "%s", in->host);
    p->is_head = in->is_head;
    p->t = c->head_t0;
}

/* Refuse the request whose head is in hreq: audit it, answer status. */
static void deny(struct iconn *c, int port, int status, const char *reason, const char *extra)
{
    const struct hflow_info *in = &c->hreq->info;
    audit_preview(c, in->host[0] ? in->host : NULL, port, in->method[0] ? in->method : NULL,
                  in->path[0] ? in->path : NULL, status == 302 ? "allow" : "deny", reason, status,
                  c->head_t0);
    refuse(c, status, reason, extra);
}

/* host_raw is the Host header as sent: the name httpflow saw, then nothing
 * or ":port". Anything else is not one of our names. */
static int host_raw_ok(const char *raw, const char *host)
{
    size_t n = strlen(host);
    if (strncmp(raw, host, n) != 0) return 0;
    const char *p = raw + n;
    if (!*p) return 1;
    if (*p++ != ':' || !*p || strlen(p) > 5) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* A request head [msg_start, head_end) is complete: decide it. */
static void on_head(struct iconn *c, size_t head_end)
{
    const struct hflow_info *in = &c->hreq->info;
    char why[300];
    if (in->is_connect) return deny(c, -1, 405, "CONNECT is not served here", "Allow: GET\r\n");
    if (in->host_count != 1)
        return deny(c, -1, 400, "a request needs exactly one Host header", NULL);
    if (in->host_too_long) return deny(c, -1, 400, "Host header too long", NULL);
    if (in->url_bad || in->uri_host[0])
        return deny(c, -1, 400, "the request target must be a path (\"/...\")", NULL);
    if (!c->bound) {
        uint16_t port;
        char id[PREVIEW_ID_LEN + 1];
        if (preview_parse_host(in->host, g_domain, &port, id) < 0) {
            snprintf(why, sizeof(why), "no preview is called \"%.100s\" (previews are PORT-ID.%s)",
                     in->host, g_domain);
            return deny(c, -1, 404, why, NULL);
        }
        struct session *s = session_by_id(id);
        if (!s || !expo_find(id, port)) {
            snprintf(why, sizeof(why), "port %u of session %s is not exposed", (unsigned)port, id);
            return deny(c, port, 404, why, NULL);
        }
        c->bound = 1;
        snprintf(c->host, sizeof(c->host), "%s", in->host);
        snprintf(c->sid, sizeof(c->sid), "%s", id);
        c->port = port;
        c->addr = s->addr;
        snprintf(c->addr_str, sizeof(c->addr_str), "%s", s->addr_str);
    } else if (strcasecmp(in->host, c->host) != 0) {
        snprintf(why, sizeof(why),
                 "Host \"%.100s\" on a connection to %.100s: one connection serves one preview",
                 in->host, c->host);
        return deny(c, c->port, 400, why, NULL);
    }
    struct expo *e = expo_find(c->sid, c->port);
    if (!e) {
        snprintf(why, sizeof(why), "port %u of session %s is not exposed", (unsigned)c->port,
                 c->sid);
        return deny(c, c->port, 404, why, NULL);
    }
    const char *head = c->cb + c->msg_start;
    size_t hlen = head_end - c->msg_start;
    char *out = malloc(2 * hlen + PREVIEW_HEAD_EXTRA);
    char *url = malloc(c->hreq->url_len + 1);
    if (!out || !url) {
        free(out);
        free(url);
        ic_close(c, 1, "out of memory");
        return;
    }
    struct preview_head ph;
    size_t olen = preview_rewrite_head(head, hlen, c->port, e->token, out, &ph);
    const char *tok;
    size_t tok_len;
    if (ph.folded) {
        deny(c, c->port, 400, "a header folded over several lines (obsolete, refused)", NULL);
    } else if (ph.host_headers != 1 || !host_raw_ok(ph.host_raw, in->host)) {
        deny(c, c->port, 400, "malformed Host header", NULL);
    } else if (preview_query_token(c->hreq->url, c->hreq->url_len, url, c->hreq->url_len + 1, &tok,
                                   &tok_len)) {
        if (!preview_token_eq(tok, tok_len, e->token)) {
            deny(c, c->port, 401, "sbx_token is not this preview's token", NULL);
        } else {
            char *extra = NULL;
            if (asprintf(&extra,
                         "Location: http://%s%s\r\nSet-Cookie: sbx_preview_%u=%s; Path=/; "
                         "HttpOnly; SameSite=Lax\r\n",
                         ph.host_raw, url, (unsigned)c->port, e->token) < 0) {
                ic_close(c, 1, "out of memory");
            } else {
                deny(c, c->port, 302, "sbx_token accepted: cookie set", extra);
                free(extra);
            }
        }
    } else if (!ph.cookie_ok) {
        snprintf(why, sizeof(why),
                 "no cookie sbx_preview_%u with this preview's token: open the URL `sbx expose` "
                 "printed (with ?sbx_token=...)",
                 (unsigned)c->port);
        deny(c, c->port, 401, why, NULL);
    } else {
        /* let through: the rewritten head, then the body as it comes */
        evbuffer_add(c->to_u, out, olen);
        c->fwd = head_end;
        c->st = IS_BODY;
        pend_push(c, in);
        ensure_upstream(c);
    }
    free(out);
    free(url);
}

static void cb_make_room(struct iconn *c)
{
    size_t keep = cb_keep(c);
    if (keep) {
        memmove(c->cb, c->cb + keep, c->cb_len - keep);
        c->cb_len -= keep;
        c->cb_parsed -= keep;
        c->msg_start = c->msg_start > keep ? c->msg_start - keep : 0;
        c->fwd = c->fwd > keep ? c->fwd - keep : 0;
    }
    if (c->cb_len == c->cb_cap && c->cb_cap < CB_CAP) {
        char *big = realloc(c->cb, CB_CAP);
        if (big) {
            c->cb = big;
            c->cb_cap = CB_CAP;
        }
    }
}

/* Parse what the client sent; decide each head, forward what was let through. */
static int parse_client(struct iconn *c)
{
    int progress = 0;
    while (!c->dead && !c->refusing && !c->resp_broken && c->cb_parsed < c->cb_len &&
           (c->st == IS_HEAD || c->st == IS_BODY)) {
        if (c->st == IS_HEAD && c->pend_n >= PEND_MAX) break; /* wait for responses */
        if (c->st == IS_HEAD && c->msg_start == c->cb_parsed) c->head_t0 = shim_now();
        enum hflow_event ev;
        size_t n = hflow_feed(c->hreq, c->cb + c->cb_parsed, c->cb_len - c->cb_parsed, &ev);
        c->cb_parsed += n;
        progress = 1;
        if (c->st == IS_BODY && c->cb_parsed > c->fwd) {
            evbuffer_add(c->to_u, c->cb + c->fwd, c->cb_parsed - c->fwd);
            c->fwd = c->cb_parsed;
        }
        if (ev == HF_HEADERS) {
            /* httpflow stops on the head's last LF, before consuming it */
            size_t head_end =
                c->cb_parsed + (c->cb_parsed < c->cb_len && c->cb[c->cb_parsed] == '\n' ? 1 : 0);
            on_head(c, head_end);
        } else if (ev == HF_COMPLETE) {
            if (c->st != IS_BODY) continue; /* cannot be: a head comes first */
            if (c->fwd < c->cb_parsed) c->fwd = c->cb_parsed;
            if (c->hreq->upgraded) {
                c->cb_parsed = c->fwd; /* held until the answer */
                c->st = IS_UPWAIT;
            } else {
                c->st = IS_HEAD;
                c->msg_start = c->cb_parsed = c->fwd;
            }
        } else if (ev == HF_ERROR) {
            if (c->st == IS_BODY) { /* inside a body already on its way: no sane answer */
                ic_close(c, 1, c->hreq->err);
                return 1;
            }
            deny(c, c->bound ? c->port : -1, 400, c->hreq->err, NULL);
        } else {
            break;
        }
    }
    if (!c->dead && c->st == IS_HEAD && !c->refusing && c->cb_len - c->msg_start >= CB_CAP)
        deny(c, c->bound ? c->port : -1, 400, "HTTP request head too large", NULL);
    return progress;
}

/* Response heads: the status of the oldest request; a 101 turns the
 * connection raw; a refused upgrade lets the client's requests go on. */
static void parse_upstream(struct iconn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (!c->resp_broken && c->st != IS_RAW && off < len) {
        c->hresp->head_next = c->pend_n && c->pend[c->pend_head].is_head;
        enum hflow_event ev;
        off += hflow_feed(c->hresp, data + off, len - off, &ev);
        if (ev == HF_HEADERS) {
            int st = c->hresp->info.status;
            if ((st >= 200 || st == 101) && c->pend_n) {
                struct pend *p = &c->pend[c->pend_head];
                audit_preview(c, p->host, c->port, p->method, p->path, "allow", NULL, st, p->t);
                c->pend_head = (c->pend_head + 1) % PEND_MAX;
                c->pend_n--;
            }
            if (st == 101 && c->st != IS_UPWAIT) { /* unasked: never let requests pass unread */
                sbx_log(SBX_LOG_DEBUG, "ingress: 101 to a request that asked for no upgrade", NULL);
                c->resp_broken = 1;
                pend_flush(c, "the app switched protocols unasked", 101);
                break;
            }
            if (c->st == IS_UPWAIT && st >= 200) { /* upgrade declined: go on parsing */
                c->st = IS_HEAD;
                hflow_init(c->hreq, HTTP_REQUEST);
                c->msg_start = c->cb_parsed = c->fwd;
            }
        } else if (ev == HF_COMPLETE) {
            if (c->hresp->upgraded) { /* 101: the rest is another protocol, both ways */
                c->st = IS_RAW;
                if (c->cb_len > c->fwd) evbuffer_add(c->to_u, c->cb + c->fwd, c->cb_len - c->fwd);
                c->cb_len = c->cb_parsed = c->fwd = c->msg_start = 0;
            }
        } else if (ev == HF_ERROR) {
            sbx_log(SBX_LOG_DEBUG, "ingress: unparsable response; passing it through", "error",
                    c->hresp->err, NULL);
            c->resp_broken = 1;
            pend_flush(c, NULL, 0);
        } else {
            break;
        }
    }
}

/* ---- the driver ---- */

static int read_client(struct iconn *c)
{
    if (c->c_eof) return 0;
    if (c->st == IS_RAW) {
        if (out_len(c->to_u) >= OUT_HIGH) return 0;
        int n = evbuffer_read(c->to_u, c->cfd, 64 * 1024);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        if (n <= 0) c->c_eof = 1;
        if (n < 0) {
            ic_close(c, 1, "client read failed");
            return 1;
        }
        return 1;
    }
    if (c->st != IS_HEAD && c->st != IS_BODY) return 0;
    if (c->refusing || c->resp_broken || out_len(c->to_u) >= OUT_HIGH) return 0;
    if (c->cb_len == c->cb_cap) cb_make_room(c);
    if (c->cb_len == c->cb_cap) return 0;
    ssize_t n = read(c->cfd, c->cb + c->cb_len, c->cb_cap - c->cb_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n < 0) {
        ic_close(c, 1, "client read failed");
        return 1;
    }
    if (n == 0)
        c->c_eof = 1;
    else
        c->cb_len += (size_t)n;
    return 1;
}

static int read_upstream(struct iconn *c)
{
    if (c->us != US_OPEN || c->u_eof || out_len(c->to_c) >= OUT_HIGH) return 0;
    char buf[32 * 1024];
    ssize_t n = read(c->ufd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) { /* a reset is an end too: what was not answered gets its 502 */
        c->u_eof = 1;
        return 1;
    }
    if (c->st != IS_RAW) parse_upstream(c, buf, (size_t)n);
    evbuffer_add(c->to_c, buf, (size_t)n);
    return 1;
}

/* Write b to fd: 1 progress, 0 none, -1 the peer is gone. */
static int write_out(struct evbuffer *b, int fd)
{
    int progress = 0;
    while (out_len(b) > 0) {
        int n = evbuffer_write(b, fd);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) return -1;
        progress = 1;
    }
    return progress;
}

static int write_client(struct iconn *c)
{
    int r = write_out(c->to_c, c->cfd);
    if (r < 0) ic_close(c, 1, "client write failed");
    return r != 0;
}

/* The app went away while we wrote to it: an end like any other. */
static int write_upstream(struct iconn *c)
{
    int r = write_out(c->to_u, c->ufd);
    if (r < 0) {
        evbuffer_drain(c->to_u, out_len(c->to_u));
        c->u_eof = 1;
    }
    return r != 0;
}

static int linger_step(struct iconn *c)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(c->cfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0 || (c->linger_bytes += (size_t)n) > LINGER_MAX_BYTES) {
            ic_close(c, n != 0, NULL);
            return 1;
        }
    }
}

/* The connection is at rest in state st: arm its timeout. */
static void arm_idle(struct iconn *c)
{
    if (c->refusing || c->us == US_WAIT_SOCK || c->us == US_CONNECTING) return;
    switch (c->st) {
    case IS_HEAD:
        if (c->cb_len > c->msg_start) {
            double left = HEAD_TIMEOUT_S - (shim_now() - c->head_t0);
            arm_timer(c, left > 0 ? left : 0);
        } else {
            arm_timer(c, c->pend_n ? BUSY_TIMEOUT_S : IDLE_TIMEOUT_S);
        }
        break;
    case IS_BODY:
    case IS_UPWAIT:
        arm_timer(c, BUSY_TIMEOUT_S);
        break;
    case IS_RAW:
        arm_timer(c, RAW_IDLE_S);
        break;
    default:
        break;
    }
}

static int step_once(struct iconn *c)
{
    int progress = 0;
    if (c->st == IS_LINGER) return linger_step(c);
    if (c->st == IS_RESPOND) {
        progress |= write_client(c);
        if (c->dead) return 1;
        if (out_len(c->to_c) == 0) {
            shutdown(c->cfd, SHUT_WR);
            c->st = IS_LINGER;
            arm_timer(c, LINGER_S);
            return 1;
        }
        return progress;
    }
    progress |= read_client(c);
    if (c->dead) return 1;
    progress |= parse_client(c);
    if (c->dead) return 1;
    if (c->us == US_OPEN) {
        progress |= write_upstream(c);
        progress |= read_upstream(c);
        if (c->dead) return 1;
    }
    if (c->refusing && answer_ready(c) && out_len(c->to_c) == 0) {
        send_answer(c);
        return 1;
    }
    progress |= write_client(c);
    if (c->dead) return 1;
    int flushed_c = out_len(c->to_c) == 0, flushed_u = out_len(c->to_u) == 0;
    if (c->st == IS_RAW) {
        if (c->c_eof && flushed_u && !c->u_shut && c->us == US_OPEN) {
            shutdown(c->ufd, SHUT_WR);
            c->u_shut = 1;
            progress = 1;
        }
        if (c->u_eof && flushed_c && !c->c_shut) {
            shutdown(c->cfd, SHUT_WR);
            c->c_shut = 1;
            progress = 1;
        }
        if (c->c_shut && c->u_shut) {
            ic_close(c, 0, NULL);
            return 1;
        }
        return progress;
    }
    if (c->refusing) return progress;
    /* the app closed before it began to answer a request: 502 for it */
    if (c->u_eof && flushed_c && c->pend_n && !c->hresp->in_message) {
        char why[200];
        snprintf(why, sizeof(why), "the app on port %u closed the connection without answering",
                 (unsigned)c->port);
        pend_flush(c, why, 502);
        refuse(c, 502, why, NULL);
        return 1;
    }
    /* the upstream is done: so is the connection, once its bytes are out */
    if (c->u_eof && flushed_c) {
        pend_flush(c, "the app closed the connection before answering", 502);
        drop_upstream(c, 0);
        shutdown(c->cfd, SHUT_WR);
        c->st = IS_LINGER;
        arm_timer(c, LINGER_S);
        return 1;
    }
    /* the client is done sending: close once every answer is out */
    if (c->c_eof) {
        int rest = 0; /* bytes after the last request but CR/LF (which may trail one) */
        for (size_t i = c->msg_start; i < c->cb_len; i++)
            rest |= c->cb[i] != '\r' && c->cb[i] != '\n';
        if (c->st != IS_HEAD || rest) { /* a request cut short */
            ic_close(c, 1, "the client closed in the middle of a request");
            return 1;
        }
        if (c->pend_n == 0 && flushed_c && (c->us != US_OPEN || !c->hresp->in_message)) {
            ic_close(c, 0, NULL);
            return 1;
        }
    }
    return progress;
}

static void istep(struct iconn *c)
{
    if (c->dead || c->stepping) return;
    c->stepping = 1;
    for (int round = 0; round < STEP_ROUNDS && !c->dead; round++) {
        enum ist before = c->st;
        int progress = step_once(c);
        if (c->dead) break;
        if (progress && c->st != IS_RESPOND && c->st != IS_LINGER) arm_idle(c);
        if (!progress && c->st == before) break;
    }
    c->stepping = 0;
    if (!c->dead) update_events(c);
}

static void cb_c(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    istep(arg);
}

static void cb_u(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct iconn *c = arg;
    if (c->us == US_CONNECTING && (what & EV_WRITE)) {
        check_connect(c);
        if (c->dead) return;
    }
    istep(c);
}

static void cb_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct iconn *c = arg;
    if (c->st == IS_RESPOND || c->st == IS_LINGER) {
        ic_close(c, 1, NULL);
        return;
    }
    if (c->refusing) {
        ic_close(c, 1, "timed out waiting for the app's earlier answers");
        return;
    }
    if (c->us == US_WAIT_SOCK) {
        char why[200];
        snprintf(why, sizeof(why),
                 "no socket to reach the sandbox within %d s (sbxd did not supply one)",
                 SOCK_WAIT_S);
        pend_flush(c, why, 503);
        drop_upstream(c, 1);
        refuse(c, 503, why, NULL);
    } else if (c->us == US_CONNECTING) {
        upstream_failed(c, ETIMEDOUT);
    } else {
        ic_close(c, 1,
                 c->st == IS_HEAD && c->cb_len > c->msg_start
                     ? "timed out waiting for the request head"
                     : "idle timeout");
        return;
    }
    istep(c);
}

/* ---- accepting ---- */

static void new_conn(int fd)
{
    if (g_nconns >= CONNS_MAX) {
        reset_fd(fd);
        return;
    }
    struct iconn *c = calloc(1, sizeof(*c));
    if (c) {
        c->cb = malloc(CB_INIT);
        c->hreq = malloc(sizeof(*c->hreq));
        c->hresp = malloc(sizeof(*c->hresp));
        c->to_u = evbuffer_new();
        c->to_c = evbuffer_new();
    }
    if (!c || !c->cb || !c->hreq || !c->hresp || !c->to_u || !c->to_c) {
        if (c) {
            c->cfd = c->ufd = -1;
            free_cb(-1, 0, c);
        }
        reset_fd(fd);
        return;
    }
    c->id = g_next_id++;
    c->cfd = fd;
    c->ufd = -1;
    c->cb_cap = CB_INIT;
    hflow_init(c->hreq, HTTP_REQUEST);
    hflow_init(c->hresp, HTTP_RESPONSE);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof(peer);
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) {
        if (peer.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, c->peer, sizeof(c->peer));
        else if (peer.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, c->peer,
                      sizeof(c->peer));
    }
    g_nconns++;
    c->next = g_conns;
    if (c->next) c->next->pprev = &c->next;
    g_conns = c;
    c->pprev = &g_conns;
    c->cr = event_new(g_base, fd, EV_READ | EV_PERSIST, cb_c, c);
    c->cw = event_new(g_base, fd, EV_WRITE | EV_PERSIST, cb_c, c);
    c->timer = evtimer_new(g_base, cb_timer, c);
    if (!c->cr || !c->cw || !c->timer) {
        ic_close(c, 1, "out of memory");
        return;
    }
    c->head_t0 = shim_now();
    arm_timer(c, HEAD_TIMEOUT_S);
    istep(c);
}

/* ---- the socket supply ---- */

static void sock_ask(int want)
{
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "{\"want\":%d}", want);
    if (send(g_sock_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        sbx_log(SBX_LOG_WARN, "ingress: cannot ask sbxd for sockets", "error", strerror(errno),
                NULL);
        return;
    }
    g_asked += want;
    g_asked_at = shim_now();
}

static void pool_want(void)
{
    if (g_sock_fd < 0) return;
    if (g_asked && shim_now() - g_asked_at > ASK_TIMEOUT_S) g_asked = 0; /* lost: ask again */
    int need = POOL_TARGET + g_nwaiting;
    if (need > POOL_CAP) need = POOL_CAP;
    int have = g_npool + g_asked;
    if (have >= POOL_LOW + g_nwaiting || have >= need) return;
    sock_ask(need - have);
}

/* A socket from sbxd must be what it says: an unconnected IPv4 TCP socket. */
static int sock_usable(int fd)
{
    int dom = 0, type = 0, lis = 1;
    socklen_t l = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 || dom != AF_INET) return 0;
    l = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM) return 0;
    l = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &lis, &l) < 0 || lis) return 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 || errno != ENOTCONN) return 0;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static void serve_waiters(void)
{
    while (g_wait_head && g_npool) {
        struct iconn *c = g_wait_head;
        unwait(c);
        c->us = US_NONE;
        evtimer_del(c->timer);
        start_connect(c, g_pool[--g_npool]);
        if (!c->dead) istep(c);
    }
}

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (;;) {
        char buf[256];
        union {
            char b[CMSG_SPACE(sizeof(int) * SOCK_BATCH_MAX)];
            struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            sbx_log(SBX_LOG_WARN, "ingress: the socket supply channel closed", NULL);
            event_free(g_sock_ev);
            g_sock_ev = NULL;
            close(g_sock_fd);
            g_sock_fd = -1;
            return;
        }
        buf[n] = '\0';
        int got = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int sfd;
                memcpy(&sfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                got++;
                if (g_npool < POOL_CAP && sock_usable(sfd))
                    g_pool[g_npool++] = sfd;
                else
                    close(sfd);
            }
        }
        g_asked = got >= g_asked ? 0 : g_asked - got;
        if (strstr(buf, "\"error\"")) {
            sbx_log(SBX_LOG_WARN, "ingress: sbxd could not make sockets", "answer", buf, NULL);
            g_asked = 0;
        }
    }
    serve_waiters();
    pool_want();
}

int ingress_set_sock_fd(int fd, sbx_err *err)
{
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET)
        return sbx_error(err, 0, "--sock-fd %d is not a SOCK_SEQPACKET socket", fd);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    g_sock_ev = event_new(g_base, fd, EV_READ | EV_PERSIST, sock_cb, NULL);
    if (!g_sock_ev || event_add(g_sock_ev, NULL) < 0) return sbx_error(err, ENOMEM, "event");
    g_sock_fd = fd;
    return 0;
}

/* ---- control operations ---- */

static int get_port(struct json_object *m, int64_t *port, sbx_err *err)
{
    int present;
    if (json_get_int(m, "", "port", 1, 65535, &present, port, err) < 0) return -1;
    if (!present) return sbx_error_kind(err, SBX_E_INVALID, "invalid", "port: missing");
    return 0;
}

static int get_id(struct json_object *m, const char **id, sbx_err *err)
{
    if (json_get_str(m, "", "id", 1, id, err) < 0) return -1;
    if (strlen(*id) != PREVIEW_ID_LEN)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "id: must be %d hex digits",
                              PREVIEW_ID_LEN);
    for (const char *p = *id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid", "id: must be %d hex digits",
                                  PREVIEW_ID_LEN);
    return 0;
}

int ingress_op_listen(struct json_object *m, int *fds, int nfds, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "proto", "role", "port", "domain", NULL};
    const char *proto, *role, *domain;
    int64_t port;
    if (json_check_fields(m, "", fields, err) < 0 ||
        json_get_str(m, "", "proto", 1, &proto, err) < 0 ||
        json_get_str(m, "", "role", 1, &role, err) < 0 ||
        json_get_str(m, "", "domain", 1, &domain, err) < 0 || get_port(m, &port, err) < 0)
        return -1;
    if (strcmp(role, "preview") != 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "role: must be \"preview\"");
    if (strcmp(proto, "tcp") != 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "proto: previews are TCP");
    size_t dl = strlen(domain);
    if (dl == 0 || dl > PREVIEW_DOMAIN_MAX)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "domain: 1 to %d characters",
                              PREVIEW_DOMAIN_MAX);
    for (const char *p = domain; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid",
                                  "domain: lowercase letters, digits, '-' and '.' only");
    if (nfds != 1)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid",
                              "listen needs exactly one file descriptor, got %d", nfds);
    int type = 0, listening = 0;
    socklen_t l = sizeof(type);
    if (getsockopt(fds[0], SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "the descriptor is not a TCP socket");
    l = sizeof(listening);
    if (getsockopt(fds[0], SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0 || !listening)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "the descriptor is not listening");
    if (g_nlis >= 4)
        return sbx_error_kind(err, SBX_E_CONFLICT, "conflict", "too many preview listeners");
    int fl = fcntl(fds[0], F_GETFL);
    if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0)
        return sbx_error(err, errno, "fcntl");
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    if (acceptor_start(fds[0], "ingress", new_conn, err) < 0) return -1;
    g_nlis++;
    snprintf(g_domain, sizeof(g_domain), "%s", domain);
    fds[0] = -1; /* kept */
    char ps[16];
    snprintf(ps, sizeof(ps), "%lld", (long long)port);
    sbx_log(SBX_LOG_INFO, "preview listening", "port", ps, "domain", g_domain, NULL);
    pool_want(); /* warm the pool before the first visitor */
    return 0;
}

static void close_matching(const char *id, int port, const char *why)
{
    for (struct iconn *c = g_conns, *next; c; c = next) {
        next = c->next;
        if (c->bound && strcmp(c->sid, id) == 0 && (port < 0 || c->port == port))
            ic_close(c, 1, why);
    }
}

int ingress_op_expose(struct json_object *m, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "id", "port", "token", NULL};
    const char *id, *token;
    int64_t port;
    if (json_check_fields(m, "", fields, err) < 0 || get_id(m, &id, err) < 0 ||
        get_port(m, &port, err) < 0 || json_get_str(m, "", "token", 1, &token, err) < 0)
        return -1;
    if (!preview_token_valid(token))
        return sbx_error_kind(err, SBX_E_INVALID, "invalid",
                              "token: 16 to %d characters of A-Z a-z 0-9 - _", PREVIEW_TOKEN_MAX);
    if (!session_by_id(id))
        return sbx_error_kind(err, SBX_E_NOTFOUND, "not_found", "no session %s", id);
    struct expo *e = expo_find(id, (uint16_t)port);
    if (e) { /* a new token: connections opened with the old one go */
        if (strcmp(e->token, token) != 0) close_matching(id, (int)port, "preview token changed");
        snprintf(e->token, sizeof(e->token), "%s", token);
        return 0;
    }
    int n = 0;
    for (int b = 0; b < EXPO_BUCKETS; b++)
        for (struct expo *x = g_expo[b]; x; x = x->next)
            n += strcmp(x->id, id) == 0;
    if (n >= EXPO_PER_SESSION_MAX)
        return sbx_error_kind(err, SBX_E_CONFLICT, "conflict", "session %s exposes %d ports", id,
                              n);
    e = calloc(1, sizeof(*e));
    if (!e) return sbx_error(err, ENOMEM, "exposure");
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->port = (uint16_t)port;
    snprintf(e->token, sizeof(e->token), "%s", token);
    unsigned b = expo_bucket(id, e->port);
    e->next = g_expo[b];
    g_expo[b] = e;
    char ps[16];
    snprintf(ps, sizeof(ps), "%u", (unsigned)e->port);
    sbx_log(SBX_LOG_INFO, "preview exposed", "session", id, "port", ps, NULL);
    return 0;
}

static void expo_remove(const char *id, int port)
{
    for (int b = 0; b < EXPO_BUCKETS; b++)
        for (struct expo **pp = &g_expo[b]; *pp;) {
            struct expo *e = *pp;
            if (strcmp(e->id, id) == 0 && (port < 0 || e->port == port)) {
                *pp = e->next;
                explicit_bzero(e->token, sizeof(e->token));
                free(e);
            } else {
                pp = &e->next;
            }
        }
}

int ingress_op_unexpose(struct json_object *m, sbx_err *err)
{
    static const char *const fields[] = {"op", "seq", "id", "port", NULL};
    const char *id;
    int64_t port;
    if (json_check_fields(m, "", fields, err) < 0 || get_id(m, &id, err) < 0 ||
        get_port(m, &port, err) < 0)
        return -1;
    expo_remove(id, (int)port);
    close_matching(id, (int)port, "preview removed (port unexposed)");
    char ps[16];
    snprintf(ps, sizeof(ps), "%lld", (long long)port);
    sbx_log(SBX_LOG_INFO, "preview unexposed", "session", id, "port", ps, NULL);
    return 0;
}

void ingress_session_removed(const char *id)
{
    expo_remove(id, -1);
    close_matching(id, -1, "session removed");
}
