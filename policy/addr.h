/* addr.h - which addresses the shim must never connect to, and host names that
 * are really IP literals. Pure logic (no I/O), unit-tested case by case. */
#ifndef SBX_ADDR_H
#define SBX_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* NULL when sa is a global unicast address the shim may connect to; else a
 * static reason naming the class: "loopback", "private (RFC 1918)",
 * "link-local", "cloud metadata", "carrier-grade NAT (RFC 6598)",
 * "unspecified", "multicast", "broadcast", "reserved", "documentation",
 * "benchmarking (RFC 2544)", "NAT64", "6to4", "Teredo", "IPv4-mapped",
 * "unique local (fc00::/7)", "site-local", "discard-only", "ORCHID", ...
 * IPv4-mapped/compatible/NAT64/6to4/Teredo IPv6 addresses are denied outright
 * (they smuggle an IPv4 address past an IPv6 check). */
const char *addr_forbidden_reason(const struct sockaddr *sa);

/* 1 when host (as written in a URL, Host header, SNI or DNS question) is an
 * IP address literal in any spelling libc or a browser would accept:
 * dotted decimal, octal ("0177.0.0.1"), hex ("0x7f.1"), short forms
 * ("127.1", "2130706433"), bracketed IPv6, IPv6 with zone id. When it is and
 * out != NULL, the address is stored there (sin/sin6, port 0). */
int addr_host_is_literal(const char *host, struct sockaddr_storage *out);

/* "1.2.3.4" / "2001:db8::1" */
const char *addr_to_str(const struct sockaddr *sa, char *buf, size_t cap);

#endif
