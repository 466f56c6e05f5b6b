/* dns.c - the shim's DNS server (libldns). See dns.h. */
#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "audit.h"
#include "log.h"
#include "policy.h"
#include "sessions.h"
#include "shim.h"

#define DNS_TTL 60
#define DNS_TCP_IDLE_S 10
#define DNS_TCP_MAX_CONNS 256
#define DNS_TCP_OUT_MAX (64 * 1024)

/* Peer address of a socket as IPv4 (v4-mapped IPv6 included); 0 when not IPv4. */
static uint32_t v4_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) return ((const struct sockaddr_in *)ss)->sin_addr.s_addr;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            uint32_t v;
            memcpy(&v, &a->s6_addr[12], 4);
            return v;
        }
    }
    return 0;
}

static void ip_str(uint32_t a, char *buf, size_t cap)
{
    struct in_addr in = {.s_addr = a};
    if (!inet_ntop(AF_INET, &in, buf, (socklen_t)cap)) snprintf(buf, cap, "?");
}

struct verdict {
    ldns_pkt_rcode rcode;
    const char *decision;
    const char *reason;
    const char *rule;
    uint32_t answer; /* network byte order, 0 = none */
    char buf[160];
};

static void decide(struct session *s, const char *raw, char *norm, size_t normcap,
                   ldns_rr_type type, ldns_rr_class cls, struct verdict *v)
{
    v->decision = "deny";
    v->rule = NULL;
    v->answer = 0;
    snprintf(norm, normcap, "%s", raw);
    size_t n = strlen(norm);
    if (n > 1 && norm[n - 1] == '.') norm[n - 1] = '\0'; /* as audited when not a valid name */
    if (!s) {
        v->rcode = LDNS_RCODE_REFUSED;
        v->reason = "unknown source address (no session)";
        return;
    }
    if (addr_host_is_literal(raw, NULL)) {
        v->rcode = LDNS_RCODE_NXDOMAIN;
        v->reason = "name is an IP address literal";
        return;
    }
    if (policy_normalize_host(raw, norm, normcap) < 0) {
        v->rcode = LDNS_RCODE_NXDOMAIN;
        v->reason = "not a valid host name";
        return;
    }
    const char *q = quota_admit_request(&s->quota, &s->pol->quotas, (int64_t)shim_now(), v->buf,
                                        sizeof(v->buf));
    if (q) {
        v->rcode = LDNS_RCODE_REFUSED;
        v->reason = q;
        return;
    }
    if (cls != LDNS_RR_CLASS_IN) {
        v->rcode = LDNS_RCODE_NOTIMPL;
        v->reason = "only class IN is served";
        return;
    }
    struct policy_decision d;
    policy_decide_name(s->pol, norm, &d);
    v->reason = d.reason;
    v->rule = d.rule;
    if (!d.enforced_allow) {
        v->rcode = LDNS_RCODE_NXDOMAIN;
        return;
    }
    v->decision = d.verdict == POLICY_ALLOW ? "allow" : "report";
    v->rcode = LDNS_RCODE_NOERROR;
    if (type != LDNS_RR_TYPE_A) return;
    uint32_t a;
    if (fakenet_get(&s->fake, norm, &a) < 0) {
        v->rcode = LDNS_RCODE_SERVFAIL;
        v->decision = "deny";
        snprintf(v->buf, sizeof(v->buf), "%s",
                 errno == ENOSPC ? "fake address table of the session is full" : "out of memory");
        v->reason = v->buf;
        v->rule = NULL;
        return;
    }
    v->answer = htonl(a);
}

uint8_t *dns_answer(const uint8_t *q, size_t qlen, uint32_t peer, uint32_t dst, const char *via,
                    size_t *len)
{
    ldns_pkt *qp = NULL;
    if (ldns_wire2pkt(&qp, q, qlen) != LDNS_STATUS_OK) {
        sbx_log(SBX_LOG_DEBUG, "dns: dropped a malformed message", "via", via, NULL);
        return NULL;
    }
    if (ldns_pkt_qr(qp)) {
        ldns_pkt_free(qp);
        return NULL;
    }
    ldns_pkt *rp = ldns_pkt_new();
    if (!rp) {
        ldns_pkt_free(qp);
        return NULL;
    }
    ldns_pkt_set_id(rp, ldns_pkt_id(qp));
    ldns_pkt_set_qr(rp, true);
    ldns_pkt_set_opcode(rp, ldns_pkt_get_opcode(qp));
    ldns_pkt_set_rd(rp, ldns_pkt_rd(qp));
    ldns_pkt_set_cd(rp, ldns_pkt_cd(qp));
    ldns_pkt_set_ra(rp, true);
    if (ldns_pkt_edns(qp)) ldns_pkt_set_edns_udp_size(rp, 1232);

    ldns_rr_list *ql = ldns_pkt_question(qp);
    ldns_rr *qrr = ql && ldns_rr_list_rr_count(ql) == 1 ? ldns_rr_list_rr(ql, 0) : NULL;
    if (ldns_pkt_get_opcode(qp) != LDNS_PACKET_QUERY) {
        ldns_pkt_set_rcode(rp, LDNS_RCODE_NOTIMPL);
    } else if (!qrr) {
        ldns_pkt_set_rcode(rp, LDNS_RCODE_FORMERR);
    } else {
        ldns_pkt_push_rr(rp, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
        ldns_rdf *owner = ldns_rr_owner(qrr);
        char *raw = owner ? ldns_rdf2str(owner) : NULL;
        char *qtype = ldns_rr_type2str(ldns_rr_get_type(qrr));
        char norm[POLICY_NAME_MAX + 2];
        struct session *s = session_by_addr(peer);
        struct verdict v;
        decide(s, raw ? raw : "", norm, sizeof(norm), ldns_rr_get_type(qrr), ldns_rr_get_class(qrr),
               &v);
        ldns_pkt_set_rcode(rp, (uint8_t)v.rcode);
        char ans[INET_ADDRSTRLEN] = "";
        if (v.answer) {
            ldns_rr *rr = ldns_rr_new();
            if (rr) {
                ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
                ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
                ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
                ldns_rr_set_ttl(rr, DNS_TTL);
                ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &v.answer));
                ldns_pkt_push_rr(rp, LDNS_SECTION_ANSWER, rr);
            }
            ip_str(v.answer, ans, sizeof(ans));
        }
        char src[INET_ADDRSTRLEN], dsts[INET_ADDRSTRLEN];
        ip_str(peer, src, sizeof(src));
        ip_str(dst, dsts, sizeof(dsts));
        struct audit_rec r = AUDIT_REC_INIT;
        r.event = "query";
        r.session = s ? s->id : NULL;
        r.labels = s ? s->labels : NULL;
        r.proto = "dns";
        r.src = src;
        r.requested_host = norm;
        r.port = 53;
        r.dst_addr = dsts;
        r.qtype = qtype;
        r.answer = ans[0] ? ans : NULL;
        r.decision = v.decision;
        r.reason = v.reason;
        r.rule = v.rule;
        audit_write(&r);
        free(raw);
        free(qtype);
    }
    uint8_t *wire = NULL;
    if (ldns_pkt2wire(&wire, rp, len) != LDNS_STATUS_OK) wire = NULL;
    ldns_pkt_free(rp);
    ldns_pkt_free(qp);
    return wire;
}

/* ---- UDP ---- */

static void udp_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (int i = 0; i < 64; i++) {
        uint8_t buf[4096];
        struct sockaddr_storage peer;
        union {
            char b[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
            struct cmsghdr align;
        } cb;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_name = &peer,
                            .msg_namelen = sizeof(peer),
                            .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cb.b,
                            .msg_controllen = sizeof(cb.b)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                sbx_log(SBX_LOG_DEBUG, "dns: recvmsg", "error", strerror(errno), NULL);
            if (errno == EINTR) continue;
            return;
        }
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) continue;
        struct in_pktinfo pi;
        int have_pi = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                have_pi = 1;
            }
        uint32_t p = v4_of(&peer);
        if (!have_pi || !p) continue;
        size_t rlen = 0;
        uint8_t *resp = dns_answer(buf, (size_t)n, p, pi.ipi_addr.s_addr, "udp", &rlen);
        if (!resp) continue;
        union {
            char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ob;
        memset(&ob, 0, sizeof(ob));
        struct iovec oiov = {.iov_base = resp, .iov_len = rlen};
        struct msghdr om = {.msg_name = &peer,
                            .msg_namelen = mh.msg_namelen,
                            .msg_iov = &oiov,
                            .msg_iovlen = 1,
                            .msg_control = ob.b,
                            .msg_controllen = sizeof(ob.b)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&om);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo opi = {.ipi_ifindex = 0, .ipi_spec_dst = pi.ipi_addr};
        memcpy(CMSG_DATA(c), &opi, sizeof(opi));
        if (sendmsg(fd, &om, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            sbx_log(SBX_LOG_DEBUG, "dns: sendmsg", "error", strerror(errno), NULL);
        free(resp);
    }
}

int dns_add_udp(int fd, sbx_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return sbx_error(err, errno, "getsockname");
    if (ss.ss_family != AF_INET)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid", "the UDP DNS socket must be IPv4");
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
        return sbx_error(err, errno, "setsockopt IP_PKTINFO");
    struct event *ev = event_new(g_base, fd, EV_READ | EV_PERSIST, udp_cb, NULL);
    if (!ev || event_add(ev, NULL) < 0) return sbx_error(err, ENOMEM, "event");
    return 0;
}

/* ---- TCP ---- */

struct dns_tcp {
    int fd;
    uint32_t peer, dst;
    struct event *rev, *wev, *timer;
    uint8_t in[2 + 65535];
    size_t in_len;
    uint8_t *out;
    size_t out_len, out_off;
    int eof;
};

static int g_tcp_conns;

static void tcp_free(struct dns_tcp *c)
{
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->timer);
    close(c->fd);
    free(c->out);
    free(c);
    g_tcp_conns--;
}

static void tcp_touch(struct dns_tcp *c)
{
    struct timeval tv = {DNS_TCP_IDLE_S, 0};
    evtimer_add(c->timer, &tv);
}

/* Write what we can; returns -1 when the connection is gone. */
static int tcp_flush(struct dns_tcp *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            tcp_free(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        event_del(c->wev);
        if (c->eof) {
            tcp_free(c);
            return -1;
        }
    } else {
        event_add(c->wev, NULL);
    }
    if (c->out_len - c->out_off > DNS_TCP_OUT_MAX)
        event_del(c->rev);
    else if (!c->eof)
        event_add(c->rev, NULL);
    return 0;
}

static int tcp_append(struct dns_tcp *c, const uint8_t *msg, size_t n)
{
    if (c->out_off) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    uint8_t *o = realloc(c->out, c->out_len + n + 2);
    if (!o) return -1;
    c->out = o;
    o[c->out_len] = (uint8_t)(n >> 8);
    o[c->out_len + 1] = (uint8_t)n;
    memcpy(o + c->out_len + 2, msg, n);
    c->out_len += n + 2;
    return 0;
}

static void tcp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct dns_tcp *c = arg;
    ssize_t n = read(fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        c->eof = 1;
        event_del(c->rev);
        if (c->out_off == c->out_len) {
            tcp_free(c);
            return;
        }
        return;
    }
    c->in_len += (size_t)n;
    tcp_touch(c);
    size_t off = 0;
    while (c->in_len - off >= 2) {
        size_t mlen = (size_t)c->in[off] << 8 | c->in[off + 1];
        if (c->in_len - off < 2 + mlen) break;
        size_t rlen = 0;
        uint8_t *resp = dns_answer(c->in + off + 2, mlen, c->peer, c->dst, "tcp", &rlen);
        off += 2 + mlen;
        if (resp) {
            int r = tcp_append(c, resp, rlen);
            free(resp);
            if (r < 0) {
                tcp_free(c);
                return;
            }
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    tcp_flush(c);
}

static void tcp_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tcp_flush(arg);
}

static void tcp_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tcp_free(arg);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (int i = 0; i < 32; i++) {
        struct sockaddr_storage peer, local;
        socklen_t pl = sizeof(peer), ll = sizeof(local);
        int fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (g_tcp_conns >= DNS_TCP_MAX_CONNS ||
            getsockname(fd, (struct sockaddr *)&local, &ll) < 0 || !v4_of(&peer)) {
            close(fd);
            continue;
        }
        struct dns_tcp *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->peer = v4_of(&peer);
        c->dst = v4_of(&local);
        c->rev = event_new(g_base, fd, EV_READ | EV_PERSIST, tcp_read_cb, c);
        c->wev = event_new(g_base, fd, EV_WRITE | EV_PERSIST, tcp_write_cb, c);
        c->timer = evtimer_new(g_base, tcp_timeout_cb, c);
        g_tcp_conns++;
        if (!c->rev || !c->wev || !c->timer) {
            if (c->rev) event_free(c->rev);
            if (c->wev) event_free(c->wev);
            if (c->timer) event_free(c->timer);
            close(fd);
            free(c);
            g_tcp_conns--;
            continue;
        }
        event_add(c->rev, NULL);
        tcp_touch(c);
    }
}

int dns_add_tcp(int fd, sbx_err *err)
{
    struct event *ev = event_new(g_base, fd, EV_READ | EV_PERSIST, accept_cb, NULL);
    if (!ev || event_add(ev, NULL) < 0) return sbx_error(err, ENOMEM, "event");
    return 0;
}
