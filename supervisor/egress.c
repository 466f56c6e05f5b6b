/* egress.c - see egress.h. */
#include "egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/nsfs.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "netns.h"

static int nlerr(sbx_err *err, int r, const char *what)
{
    return sbx_error(err, 0, "netlink: %s: %s", what, nl_geterror(r));
}

static struct nl_addr *v4(in_addr_t a, int prefix)
{
    struct nl_addr *na = nl_addr_build(AF_INET, &a, 4);
    if (na) nl_addr_set_prefixlen(na, prefix);
    return na;
}

/* A netlink socket bound to the network namespace behind nsfd. */
static struct nl_sock *nl_in(int host_netns, int nsfd, sbx_err *err)
{
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        sbx_error(err, errno, "enter network namespace");
        return NULL;
    }
    struct nl_sock *sk = nl_socket_alloc();
    int r = sk ? nl_connect(sk, NETLINK_ROUTE) : -NLE_NOMEM;
    if (setns(host_netns, CLONE_NEWNET) < 0) { /* cannot happen; never stay elsewhere */
        log_error("egress: cannot return to the host network namespace: %s", strerror(errno));
        abort();
    }
    if (r < 0) {
        if (sk) nl_socket_free(sk);
        nlerr(err, r, "connect");
        return NULL;
    }
    return sk;
}

static int link_index(struct nl_sock *sk, const char *name, sbx_err *err)
{
    struct rtnl_link *l = NULL;
    int r = rtnl_link_get_kernel(sk, 0, name, &l);
    if (r < 0) return nlerr(err, r, name);
    int idx = rtnl_link_get_ifindex(l);
    rtnl_link_put(l);
    return idx;
}

static int link_up(struct nl_sock *sk, int ifindex, sbx_err *err)
{
    struct rtnl_link *l = rtnl_link_alloc(), *ch = rtnl_link_alloc();
    int r = -NLE_NOMEM;
    if (l && ch) {
        rtnl_link_set_ifindex(l, ifindex);
        rtnl_link_set_flags(ch, IFF_UP);
        r = rtnl_link_change(sk, l, ch, 0);
    }
    if (l) rtnl_link_put(l);
    if (ch) rtnl_link_put(ch);
    return r < 0 ? nlerr(err, r, "set link up") : 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, in_addr_t a, sbx_err *err)
{
    struct rtnl_addr *ad = rtnl_addr_alloc();
    struct nl_addr *na = v4(a, 32);
    int r = -NLE_NOMEM;
    if (ad && na) {
        rtnl_addr_set_ifindex(ad, ifindex);
        rtnl_addr_set_local(ad, na);
        rtnl_addr_set_prefixlen(ad, 32);
        r = rtnl_addr_add(sk, ad, 0);
    }
    if (na) nl_addr_put(na);
    if (ad) rtnl_addr_put(ad);
    return r < 0 ? nlerr(err, r, "add address") : 0;
}

/* dst/prefix via (gw, if gw != 0) on ifindex, of the given type and scope. */
static int route_add(struct nl_sock *sk, in_addr_t dst, int prefix, in_addr_t gw, int ifindex,
                     int type, int scope, int replace, sbx_err *err)
{
    struct rtnl_route *rt = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    struct nl_addr *d = v4(dst, prefix), *g = gw ? v4(gw, 32) : NULL;
    int r = -NLE_NOMEM;
    if (rt && nh && d && (!gw || g)) {
        rtnl_route_set_family(rt, AF_INET);
        rtnl_route_set_table(rt, RT_TABLE_MAIN);
        rtnl_route_set_type(rt, (uint8_t)type);
        rtnl_route_set_scope(rt, (uint8_t)scope);
        rtnl_route_set_protocol(rt, RTPROT_STATIC);
        rtnl_route_set_dst(rt, d);
        rtnl_route_nh_set_ifindex(nh, ifindex);
        if (g) rtnl_route_nh_set_gateway(nh, g);
        rtnl_route_add_nexthop(rt, nh);
        nh = NULL; /* owned by the route now */
        r = rtnl_route_add(sk, rt, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL));
    }
    if (nh) rtnl_route_nh_free(nh);
    if (d) nl_addr_put(d);
    if (g) nl_addr_put(g);
    if (rt) rtnl_route_put(rt);
    return r < 0 ? nlerr(err, r, "add route") : 0;
}

/* The link's hardware address (a new reference), or NULL. */
static struct nl_addr *link_lladdr(struct nl_sock *sk, int ifindex, sbx_err *err)
{
    struct rtnl_link *l = NULL;
    int r = rtnl_link_get_kernel(sk, ifindex, NULL, &l);
    if (r < 0) {
        nlerr(err, r, "get link");
        return NULL;
    }
    struct nl_addr *a = rtnl_link_get_addr(l);
    if (a) nl_addr_get(a);
    rtnl_link_put(l);
    if (!a) sbx_error(err, 0, "link %d has no hardware address", ifindex);
    return a;
}

/* A permanent neighbour entry: a on ifindex is at lladdr. Each end of a
 * session's veth knows the other's address from the start, so neither end
 * ever ARPs, and permanent entries are not counted against the neighbour
 * table's gc_thresh3 (net.ipv4.neigh.default.gc_thresh3, 1024 by default,
 * one count over every namespace of the host: two entries per session that
 * talks would overflow it at ~500 busy sessions). */
static int neigh_add(struct nl_sock *sk, int ifindex, in_addr_t a, struct nl_addr *lladdr,
                     sbx_err *err)
{
    struct rtnl_neigh *n = rtnl_neigh_alloc();
    struct nl_addr *dst = v4(a, 32);
    int r = -NLE_NOMEM;
    if (n && dst) {
        rtnl_neigh_set_family(n, AF_INET);
        rtnl_neigh_set_ifindex(n, ifindex);
        rtnl_neigh_set_dst(n, dst);
        rtnl_neigh_set_lladdr(n, lladdr);
        rtnl_neigh_set_state(n, NUD_PERMANENT);
        r = rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE);
    }
    if (dst) nl_addr_put(dst);
    if (n) rtnl_neigh_put(n);
    return r < 0 ? nlerr(err, r, "add neighbour") : 0;
}

static in_addr_t gw_addr(void)
{
    return inet_addr(EGRESS_GW);
}

in_addr_t egress_slot_addr(int slot)
{
    return htonl(EGRESS_SANDBOX_NET + (uint32_t)slot + 2);
}

void egress_unpin_stale(const char *pin_path)
{
    if (!pin_path || !*pin_path) return;
    if (umount2(pin_path, MNT_DETACH) == 0) log_info("removed a stale egress namespace pin %s", pin_path);
    unlink(pin_path);
}

static int forwarding_off(sbx_err *err);
static int forwarding_off_in(struct egress *e, sbx_err *err);

/* The namespace a previous sbxd pinned, if the pin still holds one: sessions
 * it left running are wired to it. */
static int open_pinned(const char *pin_path)
{
    if (!pin_path || !*pin_path) return -1;
    int fd = open(pin_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0 || sf.f_type != NSFS_MAGIC || ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
        close(fd);
        return -1;
    }
    return fd;
}

int egress_init(struct egress *e, const char *pin_path, sbx_err *err)
{
    memset(e, 0, sizeof(*e));
    e->host_netns = e->netns = -1;
    e->host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (e->host_netns < 0) return sbx_error(err, errno, "open own network namespace");
    e->netns = open_pinned(pin_path);
    if (e->netns >= 0) {
        e->reused = 1;
        snprintf(e->pin, sizeof(e->pin), "%s", pin_path);
        e->nl = nl_in(e->host_netns, e->netns, err);
        if (!e->nl) goto fail;
        /* AnyIP, as below; already there unless the namespace was emptied */
        if (route_add(e->nl, 0, 0, 0, 1, RTN_LOCAL, RT_SCOPE_HOST, 1, err) < 0) goto fail;
        if (forwarding_off_in(e, err) < 0) goto fail;
        log_info("egress: reusing the namespace pinned at %s", pin_path);
        return 0;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        sbx_error(err, errno, "create the egress network namespace");
        goto fail;
    }
    e->netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int r = e->netns < 0 ? sbx_error(err, errno, "open the egress network namespace") : 0;
    if (r == 0) r = netns_loopback_up(err);
    if (r == 0) r = netns_ipv6_default_off(err);
    if (r == 0) r = forwarding_off(err);
    if (setns(e->host_netns, CLONE_NEWNET) < 0) {
        log_error("egress: cannot return to the host network namespace: %s", strerror(errno));
        abort();
    }
    if (r < 0) goto fail;
    e->nl = nl_in(e->host_netns, e->netns, err);
    if (!e->nl) goto fail;
    /* AnyIP: every IPv4 destination is local here, so the shim's listeners
     * take connections to any address; /32 routes to sandboxes are longer. */
    if (route_add(e->nl, 0, 0, 0, 1, RTN_LOCAL, RT_SCOPE_HOST, 0, err) < 0) goto fail;
    if (pin_path && *pin_path) {
        egress_unpin_stale(pin_path);
        int fd = open(pin_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        if (fd < 0) {
            sbx_error(err, errno, "create %s", pin_path);
            goto fail;
        }
        close(fd);
        char src[64];
        snprintf(src, sizeof(src), "/proc/self/fd/%d", e->netns);
        if (mount(src, pin_path, NULL, MS_BIND, NULL) < 0) {
            sbx_error(err, errno, "pin the egress namespace at %s", pin_path);
            unlink(pin_path);
            goto fail;
        }
        snprintf(e->pin, sizeof(e->pin), "%s", pin_path);
    }
    return 0;
fail:
    sbx_error_wrap(err, "egress network");
    egress_fini(e, 0);
    return -1;
}

void egress_fini(struct egress *e, int keep_pin)
{
    if (e->pin[0] && !keep_pin && umount2(e->pin, MNT_DETACH) == 0) unlink(e->pin);
    e->pin[0] = '\0';
    if (e->nl) nl_socket_free(e->nl);
    e->nl = NULL;
    if (e->netns >= 0) close(e->netns);
    if (e->host_netns >= 0) close(e->host_netns);
    e->netns = e->host_netns = -1;
}

int egress_attach(struct egress *e, const char *id, int slot, pid_t pid, sbx_err *err)
{
    char name[IFNAMSIZ], nspath[64];
    snprintf(name, sizeof(name), "sbx%s", id);
    snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)pid);
    _cleanup_close_ int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return sbx_error(err, errno, "open %s", nspath);
    in_addr_t sa = egress_slot_addr(slot), gw = gw_addr();
    struct nl_sock *in = NULL;
    struct nl_addr *outer_mac = NULL, *inner_mac = NULL;

    /* the pair, created in the egress netns with its peer moved into the session's */
    struct rtnl_link *veth = rtnl_link_veth_alloc();
    if (!veth) return sbx_error(err, ENOMEM, "veth");
    struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
    rtnl_link_set_name(veth, name);
    rtnl_link_set_flags(veth, IFF_UP);
    rtnl_link_set_name(peer, "eth0");
    rtnl_link_set_ns_fd(peer, nsfd);
    int r = rtnl_link_add(e->nl, veth, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);
    rtnl_link_veth_release(veth);
    if (r == -NLE_EXIST) { /* a leftover of this id: replace it */
        egress_detach(e, id);
        veth = rtnl_link_veth_alloc();
        if (!veth) return sbx_error(err, ENOMEM, "veth");
        peer = rtnl_link_veth_get_peer(veth);
        rtnl_link_set_name(veth, name);
        rtnl_link_set_flags(veth, IFF_UP);
        rtnl_link_set_name(peer, "eth0");
        rtnl_link_set_ns_fd(peer, nsfd);
        r = rtnl_link_add(e->nl, veth, NLM_F_CREATE | NLM_F_EXCL);
        rtnl_link_put(peer);
        rtnl_link_veth_release(veth);
    }
    if (r < 0) return nlerr(err, r, "create veth pair");

    int idx = link_index(e->nl, name, err);
    if (idx < 0 || addr_add(e->nl, idx, gw, err) < 0 ||
        route_add(e->nl, sa, 32, 0, idx, RTN_UNICAST, RT_SCOPE_LINK, 1, err) < 0)
        goto fail;

    in = nl_in(e->host_netns, nsfd, err);
    if (!in) goto fail;
    int oidx = idx;
    idx = link_index(in, "eth0", err);
    if (idx < 0 || link_up(in, idx, err) < 0 || addr_add(in, idx, sa, err) < 0 ||
        route_add(in, gw, 32, 0, idx, RTN_UNICAST, RT_SCOPE_LINK, 0, err) < 0 ||
        route_add(in, 0, 0, gw, idx, RTN_UNICAST, RT_SCOPE_UNIVERSE, 0, err) < 0)
        goto fail;
    /* static ARP both ways (neigh_add) */
    if (!(outer_mac = link_lladdr(e->nl, oidx, err)) || !(inner_mac = link_lladdr(in, idx, err)) ||
        neigh_add(e->nl, oidx, sa, inner_mac, err) < 0 ||
        neigh_add(in, idx, gw, outer_mac, err) < 0)
        goto fail;
    nl_addr_put(outer_mac);
    nl_addr_put(inner_mac);
    nl_socket_free(in);
    return 0;
fail:
    if (outer_mac) nl_addr_put(outer_mac);
    if (inner_mac) nl_addr_put(inner_mac);
    if (in) nl_socket_free(in);
    egress_detach(e, id);
    return sbx_error_wrap(err, "session network (%s)", name);
}

void egress_detach(struct egress *e, const char *id)
{
    if (!e->nl) return;
    struct rtnl_link *l = rtnl_link_alloc();
    if (!l) return;
    char name[IFNAMSIZ];
    snprintf(name, sizeof(name), "sbx%s", id);
    rtnl_link_set_name(l, name);
    int r = rtnl_link_delete(e->nl, l);
    if (r < 0 && r != -NLE_NODEV && r != -NLE_OBJ_NOTFOUND)
        log_warn("egress: delete %s: %s", name, nl_geterror(r));
    rtnl_link_put(l);
}

int egress_sockets(struct egress *e, int *fds, int n, sbx_err *err)
{
    if (setns(e->netns, CLONE_NEWNET) < 0) return sbx_error(err, errno, "enter egress namespace");
    int i, saved = 0;
    for (i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0) {
            saved = errno;
            break;
        }
    }
    if (setns(e->host_netns, CLONE_NEWNET) < 0) {
        log_error("egress: cannot return to the host network namespace: %s", strerror(errno));
        abort();
    }
    if (i < n) {
        while (i > 0)
            close(fds[--i]);
        return sbx_error(err, saved, "socket in the egress namespace");
    }
    return 0;
}

/* In the egress netns: no forwarding between its links. A new namespace
 * inherits the host's IPv4 settings (net.core.devconf_inherit_init_net=0),
 * so on a host with ip_forward=1 one sandbox could otherwise reach another
 * sandbox's address through it. Writing ip_forward sets "all" and "default". */
static int forwarding_off(sbx_err *err)
{
    int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return sbx_error(err, errno, "open /proc/sys/net/ipv4/ip_forward");
    int r = write(fd, "0", 1) == 1 ? 0 : sbx_error(err, errno, "turn IPv4 forwarding off");
    close(fd);
    return r;
}

/* forwarding_off() inside the egress netns, from the host's. */
static int forwarding_off_in(struct egress *e, sbx_err *err)
{
    if (setns(e->netns, CLONE_NEWNET) < 0) return sbx_error(err, errno, "enter egress namespace");
    int r = forwarding_off(err);
    if (setns(e->host_netns, CLONE_NEWNET) < 0) {
        log_error("egress: cannot return to the host network namespace: %s", strerror(errno));
        abort();
    }
    return r;
}

int egress_listen(struct egress *e, int type, uint16_t port, sbx_err *err)
{
    if (setns(e->netns, CLONE_NEWNET) < 0) return sbx_error(err, errno, "enter egress namespace");
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int saved = errno;
    if (setns(e->host_netns, CLONE_NEWNET) < 0) {
        log_error("egress: cannot return to the host network namespace: %s", strerror(errno));
        abort();
    }
    if (fd < 0) return sbx_error(err, saved, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
        saved = errno;
        close(fd);
        return sbx_error(err, saved, "listen on %s port %u in the egress namespace",
                         type == SOCK_STREAM ? "TCP" : "UDP", port);
    }
    return fd;
}
