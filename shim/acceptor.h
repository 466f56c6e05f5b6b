/* acceptor.h - a listening socket on the shim's event loop, shared by the
 * egress proxy (proxy.c) and the preview ingress (ingress.c): accepts up to 64
 * connections per wake-up, nonblocking and close-on-exec; when descriptors or
 * memory run out it stops listening for 100 ms (the backlog waits) instead of
 * spinning on a socket that stays readable. */
#ifndef SBX_SHIM_ACCEPTOR_H
#define SBX_SHIM_ACCEPTOR_H

#include "error.h"

typedef void (*acceptor_cb)(int fd);

/* Watch fd (listening, nonblocking); who: log context ("proxy", "ingress").
 * Lives as long as the shim. */
int acceptor_start(int fd, const char *who, acceptor_cb cb, sbx_err *err);

#endif
