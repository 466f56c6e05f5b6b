/* shim.h - what every part of sbx-shim shares: the command-line
 * configuration and the event base. See docs/network.md for the picture and
 * main.c for the flags. */
#ifndef SBX_SHIM_H
#define SBX_SHIM_H

#include <event2/event.h>
#include <netinet/in.h>
#include <stdint.h>

struct shim_config {
    int ctl_fd;
    int audit_fd;
    const char *hosts_file; /* NULL: resolve upstream with c-ares + resolv.conf */
    struct in_addr gateway; /* the egress address the sandbox's routes point at */
    uint32_t fake_base;     /* host byte order: first address of --fake-net */
    int fake_prefix;
    const char *ca_dir;      /* the node CA (ca.h); NULL: no TLS termination */
    const char *upstream_ca; /* trust for upstream HTTPS instead of the system's */
    int debug;
};

extern struct shim_config g_cfg;
extern struct event_base *g_base;
struct ca;
extern struct ca *g_ca;                 /* NULL without --ca-dir */
extern struct ssl_ctx_st *g_tls_ctx;    /* SSL_CTX for terminated connections */

/* Seconds on CLOCK_MONOTONIC (for quotas and durations). */
double shim_now(void);

#endif
