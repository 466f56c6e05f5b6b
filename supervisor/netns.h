/* netns.h - the sandbox's network namespace. Created by sbxd as root before
 * the user namespace, so it is owned by the initial user namespace and
 * nothing inside can change its links, addresses or routes. For now it has
 * loopback only (egress through sbx-shim is a later issue). */
#ifndef SBX_NETNS_H
#define SBX_NETNS_H

#include "error.h"

/* Bring up "lo" in the calling process's (new) network namespace. */
int netns_loopback_up(sbx_err *err);
/* Links created from now on in the calling process's net namespace get no
 * IPv6 (the egress link is IPv4 only; lo keeps ::1). */
int netns_ipv6_default_off(sbx_err *err);

#endif
