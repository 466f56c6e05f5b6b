/* dns.h - the DNS server every sandbox uses (its resolv.conf names the
 * gateway; queries to any address on port 53 land here too).
 *
 * Per question (libldns parses and builds every message):
 *   unknown source address       REFUSED                 (audited, session null)
 *   IP literal / invalid name    NXDOMAIN
 *   over requests_per_minute     REFUSED
 *   class other than IN          NOTIMP
 *   policy_decide_name() denies  NXDOMAIN; nothing goes upstream, ever
 *   allowed (or report mode):    A     -> one fake address (fakenet.h), TTL 60
 *                                AAAA  -> NOERROR, no answer (no IPv6 in sandboxes)
 *                                other -> NOERROR, no answer
 *   fake address table full      SERVFAIL
 * One audit line per question. Malformed packets, and responses, are dropped
 * (logged at debug level). UDP replies leave from the address the query was
 * sent to (IP_PKTINFO); TCP is length-prefixed, pipelined, 10 s idle. */
#ifndef SBX_SHIM_DNS_H
#define SBX_SHIM_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

int dns_add_udp(int fd, sbx_err *err);
int dns_add_tcp(int fd, sbx_err *err);

/* Answer one query from peer sent to dst (both network byte order). Returns
 * a malloc'd wire message (*len bytes), or NULL to stay silent. Audits. */
uint8_t *dns_answer(const uint8_t *q, size_t qlen, uint32_t peer, uint32_t dst, const char *via,
                    size_t *len);

#endif
