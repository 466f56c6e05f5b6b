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
 *   {"op":"remove","seq":3,"id":"3f2a..."}   forget a session (close its connections)
 * shim -> sbxd
 *   {"op":"ready"}                            once, at start, before anything else
 *   {"op":"ack","seq":2}                      done
 *   {"op":"ack","seq":2,"error":"message"}    refused (e.g. invalid policy)
 *
 * If the channel closes, the shim exits (sbxd is gone or restarting it). */
#ifndef SBX_SHIM_CTL_H
#define SBX_SHIM_CTL_H

#define SHIM_CTL_MAX (1 << 20)
#define SHIM_CTL_FD 3

#endif
