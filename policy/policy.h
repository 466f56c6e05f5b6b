/* policy.h - a session's egress policy: parsing (strict, every error names the
 * exact field), and the decisions sbx-shim takes with it. Pure logic: no I/O,
 * no globals; shared by sbxd (validates a request's "network"), sbx-shim
 * (decides) and `sbx policy check` (validates a file).
 *
 * JSON form (policy/schema.json is the reference):
 *   {
 *     "description": "free text, for people", optional, at most 4096 bytes;
 *                                             checked, then dropped (not in the
 *                                             canonical form)
 *     "mode":  "enforce" | "report",          default "enforce"
 *     "allow": ["registry.npmjs.org", "*.githubusercontent.com:443", "example.com:8000-8100"],
 *     "deny":  ["gist.githubusercontent.com"],
 *     "allow_cidrs": ["203.0.113.0/24:443"],   literal-address connects (off unless listed)
 *     "quotas": {"connections": 64, "connections_per_minute": 600,
 *                "requests_per_minute": 1200, "bytes_out": 1073741824}
 *   }
 * A host entry is NAME[:PORTS]; PORTS is a port or a range LO-HI; no ports
 * means 80 and 443. NAME is a DNS name (letters, digits, '-', '.'; matched
 * case-insensitively, a trailing dot ignored) or "*.DOMAIN", which matches any
 * name strictly below DOMAIN, never DOMAIN itself. "*" alone, and wildcards
 * over a public suffix-like single label ("*.com") are rejected. '_' is
 * tolerated anywhere in a label ("_dmarc.example.com"), '-' too; a name whose
 * last label is a number ("1.2.3.999", "0x7f.1") is taken for an IP address.
 * IP literals are refused in allow/deny: addresses go in allow_cidrs.
 * A deny entry wins over every allow; a deny entry without ports denies every
 * port. An empty policy ({}) allows nothing.
 *
 * allow_cidrs entries: "203.0.113.0/24", "203.0.113.0/24:443",
 * "203.0.113.7:8000-8100" (no prefix = one address), "[2001:db8::]/32:443",
 * "2001:db8::/32" (bare IPv6 takes no ports); no ports = every port. IPv4 in
 * dotted decimal only. Address bits set below the prefix ("10.1.2.3/8") are
 * refused, not masked: such an entry is a typo more often than not.
 *
 * Addresses of the classes addr.h forbids (loopback, private, metadata, ...)
 * are never allowed, whatever allow_cidrs says, in report mode too. The shim
 * must check every address it connects to (an allowed name can resolve to
 * one); policy_decide_addr refuses them as well, as a second line. */
#ifndef SBX_POLICY_H
#define SBX_POLICY_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

#define POLICY_MAX_RULES 256
#define POLICY_NAME_MAX 253

enum policy_mode { POLICY_ENFORCE = 0, POLICY_REPORT };

struct policy_host_rule {
    char name[POLICY_NAME_MAX + 1]; /* lower case, no trailing dot, no "*." */
    int wildcard;                   /* "*.name": strictly below name */
    uint16_t port_lo, port_hi;      /* 0,0 = the default ports 80 and 443 (allow),
                                       every port (deny) */
    char text[POLICY_NAME_MAX + 16]; /* the entry as written (for "rule" in audit lines) */
};

struct policy_cidr_rule {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
    uint16_t port_lo, port_hi; /* 0,0 = any port */
    char text[64];
};

struct policy_quotas { /* 0 = no limit */
    uint32_t connections;            /* open at once */
    uint32_t connections_per_minute;
    uint32_t requests_per_minute;    /* DNS queries + connections + HTTP requests seen */
    uint64_t bytes_out;              /* sandbox -> internet, whole session */
};

struct policy {
    enum policy_mode mode;
    int nallow, ndeny, ncidr;
    struct policy_host_rule allow[POLICY_MAX_RULES];
    struct policy_host_rule deny[POLICY_MAX_RULES];
    struct policy_cidr_rule cidr[POLICY_MAX_RULES];
    struct policy_quotas quotas;
};

/* Parse obj (a JSON object) into *p. `where` prefixes field names in error
 * messages ("network.allow[2]: ..."). Errors are SBX_E_INVALID, code
 * "invalid_policy". Unknown fields are rejected. obj NULL (absent) gives the
 * deny-all policy; on error *p is left deny-all too, never half parsed. */
int policy_from_json(struct json_object *obj, const char *where, struct policy *p, sbx_err *err);
/* The canonical JSON form (what GET /v1/sessions/{id} shows). */
struct json_object *policy_to_json(const struct policy *p);
/* An empty policy: enforce, nothing allowed. */
void policy_init_deny_all(struct policy *p);

/* Normalise a host name as the shim sees it (SNI, Host, DNS question): lower
 * case, trailing dot removed, syntax checked. Returns 0, or -1 when it is not
 * a valid DNS name (then it can never match a rule). */
int policy_normalize_host(const char *in, char *out, size_t cap);

enum policy_verdict { POLICY_DENY = 0, POLICY_ALLOW = 1 };

struct policy_decision {
    enum policy_verdict verdict; /* what the policy says (before report mode) */
    int enforced_allow;          /* what to do: 1 = let it through (allow, or report mode) */
    const char *reason;          /* static text: "allowed by rule", "denied by rule",
                                    "no rule allows this host", "not a valid host name", ... */
    const char *rule;            /* the matching rule's text, or NULL (points into p) */
};

/* DNS question: is the name allowed on any port? (Used to answer or NXDOMAIN.)
 * Allowed when an allow rule matches the name and the deny rules leave it at
 * least one of that rule's ports. */
void policy_decide_name(const struct policy *p, const char *host, struct policy_decision *d);
/* A connection to host:port (host from SNI / Host / the DNS mapping). */
void policy_decide_host(const struct policy *p, const char *host, uint16_t port,
                        struct policy_decision *d);
/* A connection to a literal address (no name): only allow_cidrs can allow it.
 * Forbidden classes (addr_forbidden_reason) are refused with that class as the
 * reason and enforced_allow 0 even in report mode. policy_decide_host hands a
 * host that is an IP literal ("0x7f.1", "[::1]") to this function. */
void policy_decide_addr(const struct policy *p, const struct sockaddr *sa,
                        struct policy_decision *d);

#endif
