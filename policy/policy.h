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
 *                "requests_per_minute": 1200, "bytes_out": 1073741824},
 *     "http": {"api.github.com": [...], "*.example.com": [...]}   see below
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
 * one); policy_decide_addr refuses them as well, as a second line.
 *
 * "http": method/path rules, see the // comment below. */
// (A line comment: its globs would end a block comment.)
//   "http": {"api.github.com": ["GET /repos/**", "POST /repos/*/issues"],
//            "*.example.com": ["* /v1/**"]}
//
// "http": method/path rules, per host pattern (the NAME syntax of allow
// entries, no ports; "*.DOMAIN" strictly below DOMAIN). They narrow what the
// connection rules allow, never widen it: a host must still be allowed. For a
// host that some pattern matches, the shim looks at every request (it
// terminates TLS for it) and lets one through only when a rule of a matching
// pattern allows its method and path. At most 64 patterns, 256 rules in all;
// each pattern has a non-empty list. A rule is "METHOD PATH" with exactly one
// space: METHOD is "*" (any) or 1-15 of 'A'-'Z', '-', '_' (compared exactly);
// PATH starts with '/', at most 255 bytes of printable ASCII without spaces,
// '?', '#', '%' or '\', no "." or ".." segment (also not before a ';': "..;x"),
// no empty segment but a trailing '/'. PATH is a glob over '/'-separated
// segments: a segment "**" matches zero or more whole segments ("/repos/**" matches "/repos",
// "/repos/", "/repos/a/b"), "*" alone exactly one non-empty segment, '*' inside
// a segment any run of characters but '/' ("/v1/*.json"), the rest itself,
// case-sensitively. A request's path (query dropped) is matched after
// decoding %-escapes of unreserved characters; requests whose path holds an
// encoded slash or backslash, a backslash, %00, a malformed escape or a "." /
// ".." segment (raw or encoded) are refused (httprules.h).
#ifndef SBX_POLICY_H
#define SBX_POLICY_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

#define POLICY_MAX_RULES 256
#define POLICY_NAME_MAX 253
#define POLICY_MAX_HTTP_RULES 256 /* "http" rules, over every host pattern */
#define POLICY_MAX_HTTP_HOSTS 64  /* "http" host patterns */
#define POLICY_HTTP_METHOD_MAX 15
#define POLICY_HTTP_PATH_MAX 255

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

/* One "http" rule, with its host pattern (rules of one pattern are adjacent,
 * in the order written). */
struct policy_http_rule {
    char host[POLICY_NAME_MAX + 1];          /* lower case, no trailing dot, no "*." */
    int wildcard;                            /* "*.host": strictly below host */
    char method[POLICY_HTTP_METHOD_MAX + 1]; /* "*" = any method */
    char path[POLICY_HTTP_PATH_MAX + 1];     /* the glob */
    /* "PATTERN METHOD PATH" as written (for "rule" in audit lines) */
    char text[POLICY_NAME_MAX + 4 + POLICY_HTTP_METHOD_MAX + 1 + POLICY_HTTP_PATH_MAX + 1];
};

struct policy_quotas { /* 0 = no limit */
    uint32_t connections;            /* open at once */
    uint32_t connections_per_minute;
    uint32_t requests_per_minute;    /* DNS queries + connections + HTTP requests seen */
    uint64_t bytes_out;              /* sandbox -> internet, whole session */
};

/* The rule arrays are heap-allocated to exactly the number of rules (NULL
 * when there are none): a deny-all policy is this struct alone (~100 bytes),
 * where fixed arrays of the maxima cost ~557 KiB per session in sbx-shim.
 * policy_free releases them. */
struct policy {
    enum policy_mode mode;
    int nallow, ndeny, ncidr;
    struct policy_host_rule *allow; /* [nallow] */
    struct policy_host_rule *deny;  /* [ndeny] */
    struct policy_cidr_rule *cidr;  /* [ncidr] */
    struct policy_quotas quotas;
    int nhttp;
    struct policy_http_rule *http; /* [nhttp] */
};

/* Parse obj (a JSON object) into *p. `where` prefixes field names in error
 * messages ("network.allow[2]: ..."). Errors are SBX_E_INVALID, code
 * "invalid_policy". Unknown fields are rejected. obj NULL (absent) gives the
 * deny-all policy; on error *p is left deny-all too, never half parsed (and
 * holds no memory). *p is overwritten, not freed: it may be uninitialised;
 * policy_free a policy that holds rules before parsing into it again. */
int policy_from_json(struct json_object *obj, const char *where, struct policy *p, sbx_err *err);
/* The canonical JSON form (what GET /v1/sessions/{id} shows). "http" is there
 * only when the policy has http rules. */
struct json_object *policy_to_json(const struct policy *p);
/* An empty policy: enforce, nothing allowed. An initialiser: whatever *p held
 * is overwritten, not freed (policy_free does both). */
void policy_init_deny_all(struct policy *p);
/* Free the rules *p holds and leave it deny-all. p NULL, or a policy that holds
 * nothing (deny-all, all zero), is fine; so is calling it twice. */
void policy_free(struct policy *p);
/* A heap policy (malloc'd struct policy): policy_free, then free(p). NULL ok. */
void policy_destroy(struct policy *p);
static inline void policy_destroyp(struct policy **p)
{
    policy_destroy(*p);
}
/* _cleanup_policy_ struct policy *p = calloc(1, sizeof(*p));  destroyed at scope exit */
#define _cleanup_policy_ __attribute__((cleanup(policy_destroyp)))

/* Normalise a host name as the shim sees it (SNI, Host, DNS question): lower
 * case, trailing dot removed, syntax checked. Returns 0, or -1 when it is not
 * a valid DNS name (then it can never match a rule). */
int policy_normalize_host(const char *in, char *out, size_t cap);

/* A host pattern without ports, as in the allow list: "example.com" or
 * "*.example.com". name gets the normalised name without "*." (cap bytes,
 * POLICY_NAME_MAX + 1 is enough), *wildcard whether it had one. Errors name
 * `path` ("secrets.X.hosts[1]: ..."; SBX_E_INVALID, "invalid_policy"). */
int policy_parse_host_pattern(const char *s, const char *path, char *name, size_t cap,
                              int *wildcard, sbx_err *err);
/* Does the pattern (name, wildcard) match host? host is normalised
 * (policy_normalize_host); "*.D" matches names strictly below D. */
int policy_host_pattern_match(const char *name, int wildcard, const char *host);

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

/* 1 when an "http" rule's pattern matches host (normalised here too): the
 * shim must then inspect every request to it (and terminate TLS for it). */
int policy_http_inspected(const struct policy *p, const char *host);
/* One HTTP request to host (an allowed connection): method as sent ("GET"),
 * target the request-target as received (origin-form "/p?q", absolute-form
 * "http://h/p?q", or "*"). Not inspected: allowed ("no http rules for this
 * host"). Else the path is normalised (httprules.h; a refused one is denied
 * with why as the reason) and allowed by the first rule of a matching
 * pattern whose method is "*" or method and whose glob matches ("allowed by
 * http rule", rule = its text), or denied ("no http rule allows this method
 * and path"). Report mode lets denied requests through, as elsewhere. */
void policy_decide_request(const struct policy *p, const char *host, const char *method,
                           const char *target, struct policy_decision *d);

#endif
