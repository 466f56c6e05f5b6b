/* ingress.h - preview ingress: a person's browser opens the app a sandbox
 * serves (docs/network.md "Preview ingress"). sbxd hands the shim a
 * listening socket in the host's network namespace ("listen" with role
 * "preview"), the exposed ports with their tokens ("expose", "unexpose"),
 * and, on a socketpair of its own (--sock-fd), unconnected TCP sockets made
 * inside the egress namespace: the only way the shim, which has no
 * capabilities, can reach a sandbox's address. The rules are in ingress.c's
 * header comment. */
#ifndef SBX_SHIM_INGRESS_H
#define SBX_SHIM_INGRESS_H

#include <json-c/json.h>

#include "error.h"

/* {"op":"listen","role":"preview","proto":"tcp","port":P,"domain":"preview.localhost"}
 * with one listening TCP socket. */
int ingress_op_listen(struct json_object *m, int *fds, int nfds, sbx_err *err);
/* {"op":"expose","id":ID,"port":P,"token":T}: (re)expose a port of a known session. */
int ingress_op_expose(struct json_object *m, sbx_err *err);
/* {"op":"unexpose","id":ID,"port":P}: forget it and close its preview connections. */
int ingress_op_unexpose(struct json_object *m, sbx_err *err);
/* A session is gone ("remove"): its exposures and preview connections too. */
void ingress_session_removed(const char *id);
/* The socket supply channel (--sock-fd): a SOCK_SEQPACKET socket to sbxd. */
int ingress_set_sock_fd(int fd, sbx_err *err);
int ingress_conn_count(void);

#endif
