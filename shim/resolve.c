/* resolve.c - hosts map or c-ares on libevent. See resolve.h. */
#include "resolve.h"

#include <ares.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts.h"
#include "log.h"
#include "shim.h"

struct resolve_req {
    resolve_cb cb;
    void *arg;
    int cancelled;
    int in_ares; /* c-ares still owns it (its callback frees or delivers) */
    struct event *deliver;
    char name[260];
    char error[160];
    struct sockaddr_storage addrs[RESOLVE_MAX_ADDRS];
    int n;
};

static int g_use_hosts;
static struct hosts g_hosts;
static ares_channel g_ch;
static int g_ares_up;
static struct event *g_ares_timer;

struct ares_sock {
    ares_socket_t fd;
    struct event *ev;
};
static struct ares_sock *g_socks;
static size_t g_nsocks;

static void req_free(struct resolve_req *r)
{
    if (r->deliver) event_free(r->deliver);
    free(r);
}

static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct resolve_req *r = arg;
    if (!r->cancelled) r->cb(r->arg, r->n ? NULL : r->error, r->addrs, r->n);
    req_free(r);
}

static void schedule(struct resolve_req *r)
{
    event_active(r->deliver, EV_TIMEOUT, 0);
}

/* ---- c-ares on libevent ---- */

static void ares_reschedule(void)
{
    struct timeval tv, *tvp = ares_timeout(g_ch, NULL, &tv);
    if (tvp)
        evtimer_add(g_ares_timer, tvp);
    else
        evtimer_del(g_ares_timer);
}

static void ares_io_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)arg;
    ares_process_fd(g_ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    ares_reschedule();
}

static void ares_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    ares_process_fd(g_ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ares_reschedule();
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    (void)data;
    size_t i;
    for (i = 0; i < g_nsocks; i++)
        if (g_socks[i].fd == fd) break;
    if (i < g_nsocks) {
        event_free(g_socks[i].ev);
        g_socks[i] = g_socks[--g_nsocks];
    }
    if (!readable && !writable) return;
    struct ares_sock *n = realloc(g_socks, (g_nsocks + 1) * sizeof(*n));
    if (!n) return; /* the query times out */
    g_socks = n;
    short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    struct event *ev = event_new(g_base, fd, what, ares_io_cb, NULL);
    if (!ev) return;
    event_add(ev, NULL);
    g_socks[g_nsocks].fd = fd;
    g_socks[g_nsocks].ev = ev;
    g_nsocks++;
}

static void add_family(struct resolve_req *r, const struct ares_addrinfo *ai, int family)
{
    for (const struct ares_addrinfo_node *nd = ai->nodes; nd; nd = nd->ai_next) {
        if (nd->ai_family != family || r->n >= RESOLVE_MAX_ADDRS) continue;
        size_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (nd->ai_addrlen < len) continue;
        memset(&r->addrs[r->n], 0, sizeof(r->addrs[r->n]));
        memcpy(&r->addrs[r->n], nd->ai_addr, len);
        r->n++;
    }
}

static void ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct resolve_req *r = arg;
    r->in_ares = 0;
    if (r->cancelled) {
        if (ai) ares_freeaddrinfo(ai);
        req_free(r);
        return;
    }
    if (status == ARES_SUCCESS && ai) {
        add_family(r, ai, AF_INET);
        add_family(r, ai, AF_INET6);
    }
    if (!r->n)
        snprintf(r->error, sizeof(r->error), "cannot resolve %s: %s", r->name,
                 status == ARES_SUCCESS ? "no addresses" : ares_strerror(status));
    if (ai) ares_freeaddrinfo(ai);
    schedule(r);
}

int resolve_init(const char *hosts_file, sbx_err *err)
{
    if (hosts_file) {
        g_use_hosts = 1;
        return hosts_load(&g_hosts, hosts_file, err);
    }
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) return sbx_error(err, 0, "c-ares: %s", ares_strerror(rc));
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    o.sock_state_cb = sock_state_cb;
    o.timeout = 2000; /* ms, per try */
    o.tries = 2;
    rc = ares_init_options(&g_ch, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) return sbx_error(err, 0, "c-ares init: %s", ares_strerror(rc));
    g_ares_timer = evtimer_new(g_base, ares_timer_cb, NULL);
    if (!g_ares_timer) return sbx_error(err, ENOMEM, "c-ares timer");
    g_ares_up = 1;
    return 0;
}

struct resolve_req *resolve_start(const char *name, resolve_cb cb, void *arg)
{
    struct resolve_req *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->cb = cb;
    r->arg = arg;
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->deliver = event_new(g_base, -1, 0, deliver_cb, r);
    if (!r->deliver) {
        free(r);
        return NULL;
    }
    if (g_use_hosts) {
        r->n = hosts_lookup(&g_hosts, name, r->addrs, RESOLVE_MAX_ADDRS);
        /* IPv4 first, like c-ares results */
        struct sockaddr_storage tmp[RESOLVE_MAX_ADDRS];
        int k = 0;
        for (int fam = 0; fam < 2; fam++)
            for (int i = 0; i < r->n; i++)
                if ((r->addrs[i].ss_family == AF_INET) == (fam == 0)) tmp[k++] = r->addrs[i];
        memcpy(r->addrs, tmp, sizeof(tmp[0]) * (size_t)k);
        if (!r->n)
            snprintf(r->error, sizeof(r->error), "cannot resolve %s: not in the hosts file", name);
        schedule(r);
        return r;
    }
    char abs[264];
    snprintf(abs, sizeof(abs), "%s.", name);
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    r->in_ares = 1;
    ares_getaddrinfo(g_ch, abs, NULL, &hints, ares_cb, r);
    ares_reschedule();
    return r;
}

void resolve_cancel(struct resolve_req *r)
{
    if (!r) return;
    r->cancelled = 1; /* whoever holds it (c-ares or the deliver event) frees it */
}
