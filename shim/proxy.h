/* proxy.h - TCP connections from sandboxes: accept, classify, decide,
 * resolve, connect, relay. The rules are in proxy.c's header comment and
 * docs/network.md. */
#ifndef SBX_SHIM_PROXY_H
#define SBX_SHIM_PROXY_H

#include <stdint.h>

#include "error.h"

struct session;

/* A listening TCP socket (nonblocking) from sbxd; port is what it listens on. */
int proxy_add_listener(int fd, uint16_t port, sbx_err *err);
/* Close every connection of s (audited, reason "session removed"). */
void proxy_close_session(struct session *s);
int proxy_conn_count(void);

#endif
