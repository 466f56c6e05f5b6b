/* ctl.h - the control channel between sbxd and sbx-shim.
 *
 * A SOCK_SEQPACKET socketpair made by sbxd; the shim gets its end as fd 3
 * (--ctl-fd). Nobody else holds either end. One JSON object per packet
 * (at most SHIM_CTL_MAX bytes), file descriptors ride along with SCM_RIGHTS.
 *
 * sbxd -> shim (every message has "seq"; the shim answers each with an ack)
 *   {"op":"listen","seq":1,"proto":"tcp"|"udp","port":443}    + 1 fd: a socket
 *       bound (and for TCP listening) in the egress namespace, nonblocking.
 *   {"op":"session","seq":2,"id":"3f2a...","addr":"100.100.0.7",
 *    "labels":{"team":"data"},"policy":{...policy.h JSON...}}
 *       add a session or replace its policy (PATCH): connections accepted after
 *       the ack follow the new policy.
 *   {"op":"remove","seq":3,"id":"3f2a..."}   forget a session (close its connections,
 *       its exposed ports and their preview connections)
 *   {"op":"listen","seq":4,"role":"preview","proto":"tcp","port":8080,
 *    "domain":"preview.localhost"}                                  + 1 fd: the preview
 *       listener (ingress.h), listening in sbxd's own network namespace;
 *       previews are http://PORT-ID.<domain>:<port>/
 *   {"op":"expose","seq":5,"id":"3f2a...","port":5173,"token":"<64 hex>"}
 *       let previews reach port 5173 of a known session with that token
 *       (again with another token: connections opened with the old one close)
 *   {"op":"unexpose","seq":6,"id":"3f2a...","port":5173}
 *       no more: open preview connections to it are closed
 * shim -> sbxd
 *   {"op":"ready"}                            once, at start, before anything else
 *   {"op":"ack","seq":2}                      done
 *   {"op":"ack","seq":2,"error":"message"}    refused (e.g. invalid policy)
 *
 * If the channel closes, the shim exits (sbxd is gone or restarting it).
 *
 * The socket supply (--sock-fd, fd 5): a second SOCK_SEQPACKET socketpair,
 * so that it never interleaves with the acks sbxd waits for here. The shim
 * asks when its pool of sockets runs low; sbxd answers from its event loop
 * with unconnected, nonblocking TCP sockets made inside the egress namespace
 * (the shim, without capabilities and outside it, cannot make them), which
 * the shim connects to a session's address for a preview:
 *   shim -> sbxd  {"want":16}                 (at most 64 are made per request)
 *   sbxd -> shim  {"fds":8}  + 8 fds          (at most 8 a packet), or
 *                 {"error":"message"}         none could be made */
#ifndef SBX_SHIM_CTL_H
#define SBX_SHIM_CTL_H

#define SHIM_CTL_MAX (1 << 20)
#define SHIM_CTL_FD 3
#define SHIM_SOCK_FD 5 /* the socket supply, when sbxd serves previews */

#endif
