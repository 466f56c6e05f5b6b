/* egress.h - the node's egress network namespace and each session's link to
 * it (docs/network.md). All netlink work is done with libnl.
 *
 *   egress netns   lo up, "local 0.0.0.0/0 dev lo" (AnyIP), no other route,
 *                  IPv4 forwarding off (nothing passes from one session's
 *                  link to another's, whatever the host's ip_forward);
 *                  per session "sbx<id>" with EGRESS_GW/32 and a /32 route
 *                  back to the session's address; listeners for sbx-shim.
 * A session's pair goes away with its net namespace, which the kernel tears
 * down asynchronously once the sandbox's last process is gone (deleting a
 * link synchronously costs an RCU grace period: tens of ms under load). Names
 * are per session id, and the route back is replaced, so a new session never
 * waits for its predecessor's teardown.
 *   session netns  "eth0" with 100.100.0.0 + slot + 2 /32, a link route to
 *                  EGRESS_GW and a default route via it.
 * The session netns is owned by the initial user namespace, so nothing in
 * the sandbox can change any of this. */
#ifndef SBX_EGRESS_H
#define SBX_EGRESS_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define EGRESS_GW "100.127.255.254"
#define EGRESS_SANDBOX_NET 0x64640000u /* 100.100.0.0/16 */
#define EGRESS_MAX_SLOTS 65000u

struct egress {
    int host_netns; /* sbxd's own netns */
    int netns;      /* the egress netns */
    void *nl;       /* struct nl_sock * connected inside the egress netns */
    char pin[4096]; /* bind mount of the egress netns (for tools and tests) */
    int reused;     /* the namespace a previous sbxd pinned (its sessions live on) */
};

/* Create the egress namespace and pin it at pin_path (bind mount) when set;
 * or reuse the one pinned there by a previous sbxd. */
int egress_init(struct egress *e, const char *pin_path, sbx_err *err);
/* keep_pin: sessions live on for the next sbxd; leave the namespace pinned. */
void egress_fini(struct egress *e, int keep_pin);
/* Remove a namespace pin a dead sbxd left (at start-up). */
void egress_unpin_stale(const char *pin_path);

/* The sandbox address of a slot (network byte order). */
in_addr_t egress_slot_addr(int slot);

/* Wire the session's net namespace (that of process pid) to the egress one. */
int egress_attach(struct egress *e, const char *id, int slot, pid_t pid, sbx_err *err);
/* Remove the session's link now (both ends). Missing link = fine. */
void egress_detach(struct egress *e, const char *id);

/* A socket inside the egress netns: SOCK_STREAM listening or SOCK_DGRAM bound
 * to 0.0.0.0:port, nonblocking, CLOEXEC. Returns the fd or < 0. */
int egress_listen(struct egress *e, int type, uint16_t port, sbx_err *err);

/* n unconnected, nonblocking, CLOEXEC IPv4 TCP sockets made inside the
 * egress netns (a socket keeps the namespace it was made in): the shim
 * connects them to sandboxes for previews. 0 and fds[0..n), or < 0. */
int egress_sockets(struct egress *e, int *fds, int n, sbx_err *err);

#endif
