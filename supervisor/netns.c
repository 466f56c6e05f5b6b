/* netns.c - network namespace plumbing (libnl route netlink). */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

int netns_loopback_up(sbx_err *err)
{
    struct nl_sock *sk = nl_socket_alloc();
    struct rtnl_link *lo = NULL, *change = NULL;
    int r, ret = -1;
    if (!sk) return sbx_error(err, ENOMEM, "netlink socket");
    if ((r = nl_connect(sk, NETLINK_ROUTE)) < 0) {
        sbx_error(err, 0, "netlink connect: %s", nl_geterror(r));
        goto out;
    }
    if ((r = rtnl_link_get_kernel(sk, 1, NULL, &lo)) < 0) { /* lo is always ifindex 1 */
        sbx_error(err, 0, "netlink get lo: %s", nl_geterror(r));
        goto out;
    }
    change = rtnl_link_alloc();
    if (!change) {
        sbx_error(err, ENOMEM, "netlink");
        goto out;
    }
    rtnl_link_set_flags(change, IFF_UP);
    if ((r = rtnl_link_change(sk, lo, change, 0)) < 0) {
        sbx_error(err, 0, "netlink set lo up: %s", nl_geterror(r));
        goto out;
    }
    ret = 0;
out:
    if (change) rtnl_link_put(change);
    if (lo) rtnl_link_put(lo);
    nl_socket_free(sk);
    return ret;
}

int netns_ipv6_default_off(sbx_err *err)
{
    /* /proc/sys/net is that of the opener's net namespace */
    int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : sbx_error(err, errno, "open ipv6 sysctl"); /* no IPv6 */
    int r = write(fd, "1", 1) == 1 ? 0 : sbx_error(err, errno, "disable IPv6 on new links");
    close(fd);
    return r;
}
