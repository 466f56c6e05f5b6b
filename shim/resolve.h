/* resolve.h - upstream name resolution for allowed connections.
 *
 * With --hosts FILE only that map is used (hosts.h): a name not in it does
 * not resolve. Otherwise c-ares (ares_getaddrinfo, A and AAAA) with the
 * system's resolv.conf, on the shim's event loop; names are looked up as
 * absolute names (a trailing dot: no search-list expansion). Results come
 * back IPv4 first, then IPv6, at most RESOLVE_MAX_ADDRS. The caller filters
 * them (addr_forbidden_reason) before connecting.
 *
 * The callback always runs later from the event loop, never inside
 * resolve_start(); after resolve_cancel() it never runs. */
#ifndef SBX_SHIM_RESOLVE_H
#define SBX_SHIM_RESOLVE_H

#include <sys/socket.h>

#include "error.h"

#define RESOLVE_MAX_ADDRS 16

struct resolve_req;
/* error: NULL on success (n >= 1), else why the name did not resolve. */
typedef void (*resolve_cb)(void *arg, const char *error, const struct sockaddr_storage *addrs,
                           int n);

int resolve_init(const char *hosts_file, sbx_err *err);
/* NULL only when out of memory. */
struct resolve_req *resolve_start(const char *name, resolve_cb cb, void *arg);
void resolve_cancel(struct resolve_req *r);

#endif
