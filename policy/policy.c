/* policy.c - egress policy: strict parsing, canonical form, and the shim's
 * decisions. Pure logic: no I/O, no globals. See policy.h. */
#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "httprules.h"
#include "json.h"

#define POLICY_ERR_CODE "invalid_policy"
#define POLICY_DESCRIPTION_MAX 4096
#define QUOTA_RATE_MAX 1000000
#define QUOTA_BYTES_MAX (1LL << 50)

#define BAD(err, ...) sbx_error_kind((err), SBX_E_INVALID, POLICY_ERR_CODE, __VA_ARGS__)

/* The json.h getters say "invalid_request": a policy error is "invalid_policy". */
static int recode(sbx_err *err)
{
    err->kind = SBX_E_INVALID;
    err->code = POLICY_ERR_CODE;
    return -1;
}

void policy_init_deny_all(struct policy *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = POLICY_ENFORCE;
}

void policy_free(struct policy *p)
{
    if (!p) return;
    free(p->allow);
    free(p->deny);
    free(p->cidr);
    free(p->http);
    policy_init_deny_all(p);
}

void policy_destroy(struct policy *p)
{
    policy_free(p);
    free(p);
}

/* ---- host names ---- */

enum name_err {
    NAME_OK = 0,
    NAME_EMPTY,
    NAME_TOO_LONG,
    NAME_EMPTY_LABEL,
    NAME_LONG_LABEL,
    NAME_BAD_CHAR,
    NAME_NON_ASCII,
    NAME_STAR,
    NAME_NUMERIC,
};

/* A label that a resolver or a URL parser reads as a number: "1", "0177",
 * "0x7f", "0x". No top-level domain is numeric, so a name ending in one is an
 * IP literal in disguise (or garbage). */
static int numeric_label(const char *l)
{
    if (l[0] == '0' && (l[1] == 'x' || l[1] == 'X'))
        return strspn(l + 2, "0123456789abcdefABCDEF") == strlen(l + 2);
    return *l && strspn(l, "0123456789") == strlen(l);
}

/* Check the DNS name `in` and write it lower-cased, without one trailing dot,
 * to out (cap bytes). Letters, digits, '-' and '_' in labels of 1..63 bytes,
 * at most POLICY_NAME_MAX bytes in all. *badc gets the offending byte. */
static enum name_err check_name(const char *in, char *out, size_t cap, int *badc)
{
    size_t n = strlen(in);
    if (n && in[n - 1] == '.') n--;
    if (n == 0) return NAME_EMPTY;
    if (n > POLICY_NAME_MAX || n >= cap) return NAME_TOO_LONG;
    size_t label = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0) return NAME_EMPTY_LABEL;
            label = 0;
            last = i + 1;
            out[i] = '.';
            continue;
        }
        if (c >= 0x80) return NAME_NON_ASCII;
        if (c == '*') return NAME_STAR;
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            *badc = c;
            return NAME_BAD_CHAR;
        }
        if (++label > 63) return NAME_LONG_LABEL;
        out[i] = (char)c;
    }
    if (label == 0) return NAME_EMPTY_LABEL; /* "a.." */
    out[n] = '\0';
    if (numeric_label(out + last)) return NAME_NUMERIC;
    return NAME_OK;
}

int policy_normalize_host(const char *in, char *out, size_t cap)
{
    char tmp[POLICY_NAME_MAX + 1];
    int badc;
    if (!in || !out || check_name(in, tmp, sizeof(tmp), &badc) != NAME_OK) return -1;
    size_t n = strlen(tmp);
    if (n >= cap) return -1;
    memcpy(out, tmp, n + 1);
    return 0;
}

static int name_error(sbx_err *err, const char *path, const char *entry, enum name_err e, int badc)
{
    const char *why = "is not a valid host name";
    switch (e) {
    case NAME_OK:
        break;
    case NAME_EMPTY:
        why = "has an empty host name";
        break;
    case NAME_TOO_LONG:
        why = "is not a valid host name: longer than 253 characters";
        break;
    case NAME_EMPTY_LABEL:
        why = "is not a valid host name: empty label (a leading dot or \"..\")";
        break;
    case NAME_LONG_LABEL:
        why = "is not a valid host name: a label is longer than 63 characters";
        break;
    case NAME_NON_ASCII:
        why = "is not a valid host name: non-ASCII characters (write internationalised names "
              "in their punycode form, \"xn--...\")";
        break;
    case NAME_STAR:
        why = "is not a valid host name: \"*\" is only allowed as a whole leading label "
              "(\"*.example.com\")";
        break;
    case NAME_NUMERIC:
        why = "looks like an IP address (its last label is a number): host rules take names; "
              "put addresses in allow_cidrs";
        break;
    case NAME_BAD_CHAR:
        if (badc >= 0x20 && badc < 0x7f)
            return BAD(err,
                       "%s: \"%s\" is not a valid host name: invalid character '%c' (names take "
                       "letters, digits, '-', '_' and '.')",
                       path, entry, badc);
        return BAD(err,
                   "%s: \"%s\" is not a valid host name: invalid character 0x%02x (names take "
                   "letters, digits, '-', '_' and '.')",
                   path, entry, badc);
    }
    return BAD(err, "%s: \"%s\" %s", path, entry, why);
}

/* ---- ports ---- */

/* "443" or "8000-8100" (decimal, 1..65535, LO <= HI). */
static int parse_ports(const char *s, const char *path, const char *entry, uint16_t *lo,
                       uint16_t *hi, sbx_err *err)
{
    unsigned long v[2] = {0, 0};
    int nv = 0;
    const char *q = s;
    if (!*s) return BAD(err, "%s: \"%s\": missing port after ':'", path, entry);
    for (;;) {
        size_t d = strspn(q, "0123456789");
        if (d == 0 || d > 5) {
            return BAD(err, "%s: \"%s\": \"%s\" is not a port or a port range LO-HI", path, entry,
                       s);
        }
        unsigned long x = 0;
        for (size_t i = 0; i < d; i++)
            x = x * 10 + (unsigned long)(q[i] - '0');
        if (x < 1 || x > 65535)
            return BAD(err, "%s: \"%s\": port %lu is out of range (1-65535)", path, entry, x);
        v[nv++] = x;
        q += d;
        if (*q == '\0') break;
        if (*q != '-' || nv == 2)
            return BAD(err, "%s: \"%s\": \"%s\" is not a port or a port range LO-HI", path, entry,
                       s);
        q++;
    }
    if (nv == 1) v[1] = v[0];
    if (v[0] > v[1])
        return BAD(err, "%s: \"%s\": port range %lu-%lu is backwards (LO must not exceed HI)", path,
                   entry, v[0], v[1]);
    *lo = (uint16_t)v[0];
    *hi = (uint16_t)v[1];
    return 0;
}

/* ---- allow / deny entries, host patterns ---- */

/* What a host entry is for: an allow or deny entry (NAME[:PORTS]), or a host
 * pattern without ports ("http" keys, secrets' hosts). */
enum host_kind { HOST_ALLOW, HOST_DENY, HOST_PATTERN };

static int ip_entry_error(sbx_err *err, const char *path, const char *entry, enum host_kind kind)
{
    if (kind == HOST_PATTERN)
        return BAD(err,
                   "%s: \"%s\" is an IP address: write a host name (\"example.com\" or "
                   "\"*.example.com\")",
                   path, entry);
    if (kind == HOST_DENY)
        return BAD(err,
                   "%s: \"%s\" is an IP address: deny takes host names; literal addresses are "
                   "refused anyway unless allow_cidrs lists them",
                   path, entry);
    return BAD(err,
               "%s: \"%s\" is an IP address: allow takes host names; put addresses in "
               "allow_cidrs (e.g. \"203.0.113.7/32:443\")",
               path, entry);
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static int parse_host_rule(const char *s, const char *path, enum host_kind kind,
                           struct policy_host_rule *r, sbx_err *err)
{
    char name[sizeof(r->text)];
    memset(r, 0, sizeof(*r));
    size_t n = strlen(s);
    if (n == 0)
        return BAD(err,
                   "%s: empty entry (expected a host name like \"example.com\" or "
                   "\"example.com:443\")",
                   path);
    if (n >= sizeof(r->text))
        return BAD(err, "%s: \"%.40s...\" is too long (a host name has at most 253 characters)",
                   path, s);
    memcpy(r->text, s, n + 1);

    if (strstr(s, "://"))
        return BAD(err, "%s: \"%s\" is a URL: write the host name only (e.g. \"example.com\")",
                   path, s);
    /* IP literals in any spelling, with or without a port, belong in allow_cidrs. */
    if (addr_host_is_literal(s, NULL) || s[0] == '[' || count_char(s, ':') >= 2)
        return ip_entry_error(err, path, s, kind);
    const char *colon = strchr(s, ':');
    size_t nl = colon ? (size_t)(colon - s) : n;
    memcpy(name, s, nl);
    name[nl] = '\0';
    char *slash = strchr(name, '/');
    if (slash) *slash = '\0';
    int literal = addr_host_is_literal(name, NULL);
    if (slash) *slash = '/';
    if (literal) return ip_entry_error(err, path, s, kind);

    if (colon && kind == HOST_PATTERN)
        return BAD(err, "%s: \"%s\": no port here: write the host name only (\"%s\")", path, s,
                   name);
    if (colon && parse_ports(colon + 1, path, s, &r->port_lo, &r->port_hi, err) < 0) return -1;

    const char *domain = name;
    if (strcmp(name, "*") == 0 || strcmp(name, "*.") == 0)
        return BAD(err, "%s: \"%s\" would match every host: list the names the sandbox needs", path,
                   s);
    if (name[0] == '*' && name[1] == '.') {
        r->wildcard = 1;
        domain = name + 2;
    }
    int badc = 0;
    enum name_err e = check_name(domain, r->name, sizeof(r->name), &badc);
    if (e != NAME_OK) return name_error(err, path, s, e, badc);
    if (r->wildcard) {
        if (strlen(r->name) + 2 > POLICY_NAME_MAX)
            return name_error(err, path, s, NAME_TOO_LONG, 0);
        if (!strchr(r->name, '.'))
            return BAD(err,
                       "%s: \"%s\" is too broad: a wildcard needs at least two labels below it "
                       "(e.g. \"*.example.com\")",
                       path, s);
    }
    return 0;
}

int policy_parse_host_pattern(const char *s, const char *path, char *name, size_t cap,
                              int *wildcard, sbx_err *err)
{
    struct policy_host_rule r;
    if (parse_host_rule(s, path, HOST_PATTERN, &r, err) < 0) return -1;
    size_t n = strlen(r.name);
    if (n >= cap) return BAD(err, "%s: \"%s\" is too long", path, s);
    memcpy(name, r.name, n + 1);
    *wildcard = r.wildcard;
    return 0;
}

/* ---- allow_cidrs entries ---- */

static void mask_prefix(uint8_t *a, int len, int prefix)
{
    for (int i = 0; i < len; i++) {
        int bits = prefix - 8 * i;
        if (bits >= 8) continue;
        a[i] &= bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
    }
}

static int parse_cidr_rule(const char *s, const char *path, struct policy_cidr_rule *r,
                           sbx_err *err)
{
    char addr[64];
    const char *rest;
    memset(r, 0, sizeof(*r));
    size_t n = strlen(s);
    if (n == 0)
        return BAD(err,
                   "%s: empty entry (expected an address block like \"203.0.113.0/24\" or "
                   "\"203.0.113.0/24:443\")",
                   path);
    if (n >= sizeof(r->text)) return BAD(err, "%s: \"%.40s...\" is too long", path, s);
    memcpy(r->text, s, n + 1);

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close) return BAD(err, "%s: \"%s\": missing ']' after the IPv6 address", path, s);
        size_t al = (size_t)(close - s - 1);
        memcpy(addr, s + 1, al);
        addr[al] = '\0';
        rest = close + 1;
        r->family = AF_INET6;
    } else if (count_char(s, ':') >= 2) { /* bare IPv6: "2001:db8::/32", no port */
        size_t al = strcspn(s, "/");
        memcpy(addr, s, al);
        addr[al] = '\0';
        rest = s + al;
        r->family = AF_INET6;
    } else {
        size_t al = strcspn(s, "/:");
        memcpy(addr, s, al);
        addr[al] = '\0';
        rest = s + al;
        r->family = AF_INET;
    }

    int alen = r->family == AF_INET ? 4 : 16, maxp = alen * 8;
    if (strchr(addr, '%'))
        return BAD(err, "%s: \"%s\": zone ids (\"%%eth0\") are not allowed here", path, s);
    if (inet_pton(r->family, addr, r->addr) != 1) {
        if (r->family == AF_INET && addr_host_is_literal(addr, NULL))
            return BAD(err, "%s: \"%s\": write IPv4 addresses in dotted decimal (a.b.c.d)", path,
                       s);
        if (r->family == AF_INET6 && s[0] == '[' && addr_host_is_literal(addr, NULL))
            return BAD(err, "%s: \"%s\": brackets are for IPv6 addresses only", path, s);
        return BAD(err,
                   "%s: \"%s\" is not an address block (allow_cidrs takes \"203.0.113.0/24:443\", "
                   "\"[2001:db8::]/32:443\" or \"2001:db8::/32\"; host names go in allow)",
                   path, s);
    }

    r->prefix = maxp;
    if (*rest == '/') {
        rest++;
        size_t d = strspn(rest, "0123456789");
        int pfx = 0;
        for (size_t i = 0; i < d && i < 4; i++)
            pfx = pfx * 10 + (rest[i] - '0');
        if (d == 0 || d > 3 || pfx > maxp)
            return BAD(err, "%s: \"%s\": the prefix length must be a number from 0 to %d", path, s,
                       maxp);
        r->prefix = pfx;
        rest += d;
    }
    if (*rest == ':') {
        if (r->family == AF_INET6 && s[0] != '[')
            return BAD(err,
                       "%s: \"%s\": an IPv6 block with ports needs brackets "
                       "(\"[2001:db8::]/32:443\")",
                       path, s);
        if (parse_ports(rest + 1, path, s, &r->port_lo, &r->port_hi, err) < 0) return -1;
    } else if (*rest) {
        return BAD(err, "%s: \"%s\": unexpected \"%s\" after the address block", path, s, rest);
    }

    /* Bits set below the prefix: a typo more often than not ("10.1.2.3/8"
     * meant /32?), so it is refused rather than silently widened. */
    uint8_t net[16];
    memcpy(net, r->addr, sizeof(net));
    mask_prefix(net, alen, r->prefix);
    if (memcmp(net, r->addr, (size_t)alen) != 0) {
        char ns[INET6_ADDRSTRLEN];
        inet_ntop(r->family, net, ns, sizeof(ns));
        return BAD(err,
                   "%s: \"%s\" has address bits set after the /%d prefix: write the network "
                   "(%s/%d) or a single address (%s/%d)",
                   path, s, r->prefix, ns, r->prefix, addr, maxp);
    }
    return 0;
}

/* ---- the policy object ---- */

static int entry_string(struct json_object *v, const char *path, const char **out, sbx_err *err)
{
    if (!v || !json_object_is_type(v, json_type_string))
        return BAD(err, "%s: must be a string (got %s)", path,
                   v ? json_type_to_name(json_object_get_type(v)) : "null");
    *out = json_object_get_string(v);
    if (strlen(*out) != (size_t)json_object_get_string_len(v))
        return BAD(err, "%s: must not contain NUL bytes", path);
    return 0;
}

enum list_kind { LIST_ALLOW, LIST_DENY, LIST_CIDR };

static int parse_list(struct json_object *obj, const char *where, const char *key,
                      enum list_kind kind, struct policy *p, sbx_err *err)
{
    struct json_object *arr;
    char apath[256], epath[300];
    if (json_get_arr(obj, where, key, 0, &arr, err) < 0) return recode(err);
    if (!arr) return 0;
    json_path(apath, sizeof(apath), where, key);
    size_t len = json_object_array_length(arr);
    if (len > POLICY_MAX_RULES)
        return BAD(err, "%s: at most %d entries (got %zu)", apath, POLICY_MAX_RULES, len);
    if (len == 0) return 0;
    /* exactly len rules, owned by p from here (policy_free on error) */
    void *mem = calloc(len, kind == LIST_CIDR ? sizeof(struct policy_cidr_rule)
                                              : sizeof(struct policy_host_rule));
    if (!mem) return sbx_error(err, ENOMEM, "%s", apath);
    switch (kind) {
    case LIST_ALLOW:
        p->allow = mem;
        break;
    case LIST_DENY:
        p->deny = mem;
        break;
    default:
        p->cidr = mem;
        break;
    }
    for (size_t i = 0; i < len; i++) {
        const char *s = NULL;
        snprintf(epath, sizeof(epath), "%s[%zu]", apath, i);
        if (entry_string(json_object_array_get_idx(arr, i), epath, &s, err) < 0) return -1;
        int rc;
        switch (kind) {
        case LIST_ALLOW:
            rc = parse_host_rule(s, epath, HOST_ALLOW, &p->allow[i], err);
            break;
        case LIST_DENY:
            rc = parse_host_rule(s, epath, HOST_DENY, &p->deny[i], err);
            break;
        default:
            rc = parse_cidr_rule(s, epath, &p->cidr[i], err);
            break;
        }
        if (rc < 0) return -1;
    }
    switch (kind) {
    case LIST_ALLOW:
        p->nallow = (int)len;
        break;
    case LIST_DENY:
        p->ndeny = (int)len;
        break;
    default:
        p->ncidr = (int)len;
        break;
    }
    return 0;
}

static int parse_quotas(struct json_object *obj, const char *where, struct policy_quotas *q,
                        sbx_err *err)
{
    static const char *const fields[] = {"connections", "connections_per_minute",
                                         "requests_per_minute", "bytes_out", NULL};
    struct json_object *qo;
    char qpath[256];
    int present;
    int64_t v;
    if (json_get_obj(obj, where, "quotas", &qo, err) < 0) return recode(err);
    if (!qo) return 0;
    json_path(qpath, sizeof(qpath), where, "quotas");
    if (json_check_fields(qo, qpath, fields, err) < 0) return recode(err);
    if (json_get_int(qo, qpath, "connections", 0, QUOTA_RATE_MAX, &present, &v, err) < 0)
        return recode(err);
    if (present) q->connections = (uint32_t)v;
    if (json_get_int(qo, qpath, "connections_per_minute", 0, QUOTA_RATE_MAX, &present, &v, err) < 0)
        return recode(err);
    if (present) q->connections_per_minute = (uint32_t)v;
    if (json_get_int(qo, qpath, "requests_per_minute", 0, QUOTA_RATE_MAX, &present, &v, err) < 0)
        return recode(err);
    if (present) q->requests_per_minute = (uint32_t)v;
    if (json_get_int(qo, qpath, "bytes_out", 0, QUOTA_BYTES_MAX, &present, &v, err) < 0)
        return recode(err);
    if (present) q->bytes_out = (uint64_t)v;
    return 0;
}

/* One "METHOD PATH" of network.http[KEY] into r (host already set). */
static int parse_http_rule(const char *s, const char *path, const char *key,
                           struct policy_http_rule *r, sbx_err *err)
{
    const char *sp = strchr(s, ' ');
    if (!sp || sp == s || sp[1] == '\0')
        return BAD(err, "%s: rule \"%.300s\" must be METHOD /PATH, e.g. \"GET /repos/**\"", path,
                   s);
    if (sp[1] == ' ' || strchr(sp + 1, ' '))
        return BAD(err,
                   "%s: rule \"%.300s\": write exactly one space, between METHOD and PATH "
                   "(e.g. \"GET /repos/**\"); PATH has no spaces",
                   path, s);
    size_t ml = (size_t)(sp - s);
    const char *why = httprule_check_method(s, ml);
    if (why)
        return BAD(err, "%s: rule \"%.300s\": the method \"%.*s\" %s", path, s,
                   ml > 32 ? 32 : (int)ml, s, why);
    if (sp[1] != '/')
        return BAD(err, "%s: rule \"%.300s\" must be METHOD /PATH, e.g. \"GET /repos/**\"", path,
                   s);
    if ((why = httprule_check_path(sp + 1)))
        return BAD(err, "%s: rule \"%.300s\": %s", path, s, why);
    memcpy(r->method, s, ml);
    r->method[ml] = '\0';
    snprintf(r->path, sizeof(r->path), "%s", sp + 1);
    snprintf(r->text, sizeof(r->text), "%s %s", key, s);
    return 0;
}

/* "http": {"PATTERN": ["METHOD /PATH", ...], ...}, flat into p->http. */
static int parse_http(struct json_object *obj, const char *where, struct policy *p, sbx_err *err)
{
    struct json_object *ho;
    char hpath[256], kpath[600], epath[640];
    if (json_get_obj(obj, where, "http", &ho, err) < 0) return recode(err);
    if (!ho) return 0;
    json_path(hpath, sizeof(hpath), where, "http");
    int nkeys = json_object_object_length(ho);
    if (nkeys > POLICY_MAX_HTTP_HOSTS)
        return BAD(err, "%s: at most %d host patterns (got %d)", hpath, POLICY_MAX_HTTP_HOSTS,
                   nkeys);
    /* room for exactly the rules written (no more than the maximum: past it,
     * the loop below stops with an error before storing one) */
    size_t total = 0;
    json_object_object_foreach(ho, k0, v0)
    {
        (void)k0;
        if (v0 && json_object_is_type(v0, json_type_array)) total += json_object_array_length(v0);
    }
    if (total > POLICY_MAX_HTTP_RULES) total = POLICY_MAX_HTTP_RULES;
    if (total > 0 && !(p->http = calloc(total, sizeof(*p->http))))
        return sbx_error(err, ENOMEM, "%s", hpath);
    json_object_object_foreach(ho, key, val)
    {
        char name[POLICY_NAME_MAX + 1];
        int wildcard = 0, first = p->nhttp;
        snprintf(kpath, sizeof(kpath), "%s[\"%.280s\"]", hpath, key);
        if (policy_parse_host_pattern(key, kpath, name, sizeof(name), &wildcard, err) < 0)
            return -1;
        for (int i = 0; i < p->nhttp; i++) {
            const struct policy_http_rule *o = &p->http[i];
            if (o->wildcard == wildcard && strcmp(o->host, name) == 0)
                return BAD(err,
                           "%s: the same host pattern as %s[\"%.*s\"]: put all its rules in one "
                           "list",
                           kpath, hpath, (int)strcspn(o->text, " "), o->text);
        }
        if (!val || !json_object_is_type(val, json_type_array))
            return BAD(err,
                       "%s: must be a list of rules (got %s), e.g. [\"GET /repos/**\", "
                       "\"POST /repos/*/issues\"]",
                       kpath, val ? json_type_to_name(json_object_get_type(val)) : "null");
        size_t len = json_object_array_length(val);
        if (len == 0)
            return BAD(err,
                       "%s: empty list: give at least one rule (\"* /**\" allows every request)",
                       kpath);
        for (size_t i = 0; i < len; i++) {
            const char *s = NULL;
            snprintf(epath, sizeof(epath), "%s[%zu]", kpath, i);
            if (entry_string(json_object_array_get_idx(val, i), epath, &s, err) < 0) return -1;
            if (p->nhttp >= POLICY_MAX_HTTP_RULES)
                return BAD(err, "%s: at most %d http rules in all (over every host pattern)", epath,
                           POLICY_MAX_HTTP_RULES);
            if ((size_t)p->nhttp >= total) /* cannot happen: total counted every rule */
                return BAD(err, "%s: internal error: more http rules than counted", epath);
            struct policy_http_rule *r = &p->http[p->nhttp];
            memset(r, 0, sizeof(*r));
            memcpy(r->host, name, sizeof(name));
            r->wildcard = wildcard;
            if (parse_http_rule(s, epath, key, r, err) < 0) return -1;
            for (int j = first; j < p->nhttp; j++)
                if (strcmp(p->http[j].method, r->method) == 0 &&
                    strcmp(p->http[j].path, r->path) == 0)
                    return BAD(err, "%s: rule \"%s\" is there twice (also [%d])", epath, s,
                               j - first);
            p->nhttp++;
        }
    }
    return 0;
}

static int parse_policy(struct json_object *obj, const char *where, struct policy *p, sbx_err *err)
{
    static const char *const fields[] = {"mode",   "allow",       "deny", "allow_cidrs",
                                         "quotas", "description", "http", NULL};
    char path[256];
    const char *s;
    if (!json_object_is_type(obj, json_type_object))
        return BAD(err, "%s: must be an object (got %s)", *where ? where : "policy",
                   json_type_to_name(json_object_get_type(obj)));
    if (json_check_fields(obj, where, fields, err) < 0) return recode(err);

    if (json_get_str(obj, where, "description", 0, &s, err) < 0) return recode(err);
    if (s && strlen(s) > POLICY_DESCRIPTION_MAX)
        return BAD(err, "%s: at most %d bytes", json_path(path, sizeof(path), where, "description"),
                   POLICY_DESCRIPTION_MAX);

    if (json_get_str(obj, where, "mode", 0, &s, err) < 0) return recode(err);
    if (s) {
        if (strcmp(s, "enforce") == 0)
            p->mode = POLICY_ENFORCE;
        else if (strcmp(s, "report") == 0)
            p->mode = POLICY_REPORT;
        else
            return BAD(err, "%s: must be \"enforce\" or \"report\" (got \"%.64s\")",
                       json_path(path, sizeof(path), where, "mode"), s);
    }
    if (parse_list(obj, where, "allow", LIST_ALLOW, p, err) < 0) return -1;
    if (parse_list(obj, where, "deny", LIST_DENY, p, err) < 0) return -1;
    if (parse_list(obj, where, "allow_cidrs", LIST_CIDR, p, err) < 0) return -1;
    if (parse_quotas(obj, where, &p->quotas, err) < 0) return -1;
    return parse_http(obj, where, p, err);
}

int policy_from_json(struct json_object *obj, const char *where, struct policy *p, sbx_err *err)
{
    policy_init_deny_all(p);
    if (!obj) return 0;
    if (parse_policy(obj, where ? where : "", p, err) < 0) {
        policy_free(p); /* never half a policy */
        return -1;
    }
    return 0;
}

/* ---- canonical form ---- */

static void ports_str(char *buf, size_t cap, uint16_t lo, uint16_t hi)
{
    if (lo == 0 && hi == 0)
        buf[0] = '\0';
    else if (lo == hi)
        snprintf(buf, cap, ":%u", (unsigned)lo);
    else
        snprintf(buf, cap, ":%u-%u", (unsigned)lo, (unsigned)hi);
}

static struct json_object *host_list(const struct policy_host_rule *r, int n)
{
    struct json_object *arr = json_object_new_array();
    for (int i = 0; arr && i < n; i++) {
        char ports[16], buf[POLICY_NAME_MAX + 32];
        ports_str(ports, sizeof(ports), r[i].port_lo, r[i].port_hi);
        snprintf(buf, sizeof(buf), "%s%s%s", r[i].wildcard ? "*." : "", r[i].name, ports);
        json_object_array_add(arr, json_object_new_string(buf));
    }
    return arr;
}

struct json_object *policy_to_json(const struct policy *p)
{
    struct json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "mode",
                           json_object_new_string(p->mode == POLICY_REPORT ? "report" : "enforce"));
    json_object_object_add(o, "allow", host_list(p->allow, p->nallow));
    json_object_object_add(o, "deny", host_list(p->deny, p->ndeny));
    struct json_object *cidrs = json_object_new_array();
    for (int i = 0; cidrs && i < p->ncidr; i++) {
        const struct policy_cidr_rule *c = &p->cidr[i];
        char a[INET6_ADDRSTRLEN], ports[16], buf[96];
        inet_ntop(c->family, c->addr, a, sizeof(a));
        ports_str(ports, sizeof(ports), c->port_lo, c->port_hi);
        if (c->family == AF_INET6 && ports[0])
            snprintf(buf, sizeof(buf), "[%s]/%d%s", a, c->prefix, ports);
        else
            snprintf(buf, sizeof(buf), "%s/%d%s", a, c->prefix, ports);
        json_object_array_add(cidrs, json_object_new_string(buf));
    }
    json_object_object_add(o, "allow_cidrs", cidrs);
    struct json_object *q = json_object_new_object();
    if (q) {
        json_object_object_add(q, "connections", json_object_new_int64(p->quotas.connections));
        json_object_object_add(q, "connections_per_minute",
                               json_object_new_int64(p->quotas.connections_per_minute));
        json_object_object_add(q, "requests_per_minute",
                               json_object_new_int64(p->quotas.requests_per_minute));
        json_object_object_add(q, "bytes_out", json_object_new_int64((int64_t)p->quotas.bytes_out));
    }
    json_object_object_add(o, "quotas", q);
    if (p->nhttp > 0) {
        struct json_object *h = json_object_new_object(), *arr = NULL;
        for (int i = 0; h && i < p->nhttp; i++) {
            const struct policy_http_rule *r = &p->http[i];
            if (i == 0 || r->wildcard != r[-1].wildcard || strcmp(r->host, r[-1].host) != 0) {
                char key[POLICY_NAME_MAX + 3];
                snprintf(key, sizeof(key), "%s%s", r->wildcard ? "*." : "", r->host);
                arr = json_object_new_array();
                json_object_object_add(h, key, arr);
            }
            char rule[POLICY_HTTP_METHOD_MAX + POLICY_HTTP_PATH_MAX + 2];
            snprintf(rule, sizeof(rule), "%s %s", r->method, r->path);
            if (arr) json_object_array_add(arr, json_object_new_string(rule));
        }
        json_object_object_add(o, "http", h);
    }
    return o;
}

/* ---- decisions ---- */

static void decide(const struct policy *p, struct policy_decision *d, enum policy_verdict v,
                   const char *reason, const char *rule)
{
    d->verdict = v;
    d->enforced_allow = v == POLICY_ALLOW || p->mode == POLICY_REPORT;
    d->reason = reason;
    d->rule = rule;
}

/* A refusal that report mode does not lift (see policy_decide_addr). */
static void refuse(struct policy_decision *d, const char *reason)
{
    d->verdict = POLICY_DENY;
    d->enforced_allow = 0;
    d->reason = reason;
    d->rule = NULL;
}

int policy_host_pattern_match(const char *pat, int wildcard, const char *name)
{
    if (!pat || !name) return 0;
    if (!wildcard) return strcmp(pat, name) == 0;
    size_t nl = strlen(name), rl = strlen(pat);
    return nl > rl + 1 && name[nl - rl - 1] == '.' && strcmp(name + nl - rl, pat) == 0;
}

/* name is normalised. "*.D" matches names strictly below D. */
static int name_matches(const struct policy_host_rule *r, const char *name)
{
    return policy_host_pattern_match(r->name, r->wildcard, name);
}

static int allow_port_matches(const struct policy_host_rule *r, unsigned port)
{
    if (r->port_lo == 0 && r->port_hi == 0) return port == 80 || port == 443;
    return port >= r->port_lo && port <= r->port_hi;
}

static int deny_port_matches(const struct policy_host_rule *r, unsigned port)
{
    if (r->port_lo == 0 && r->port_hi == 0) return 1;
    return port >= r->port_lo && port <= r->port_hi;
}

static const struct policy_host_rule *deny_for(const struct policy *p, const char *name,
                                               unsigned port)
{
    for (int i = 0; i < p->ndeny; i++)
        if (name_matches(&p->deny[i], name) && deny_port_matches(&p->deny[i], port))
            return &p->deny[i];
    return NULL;
}

/* The deny rule that takes away every port allow rule r gives name, or NULL
 * when at least one of them survives. */
static const struct policy_host_rule *
all_ports_denied(const struct policy *p, const struct policy_host_rule *r, const char *name)
{
    const struct policy_host_rule *dr = NULL;
    if (r->port_lo == 0 && r->port_hi == 0) {
        if (!(dr = deny_for(p, name, 80))) return NULL;
        return deny_for(p, name, 443);
    }
    for (unsigned port = r->port_lo; port <= r->port_hi;) {
        if (!(dr = deny_for(p, name, port))) return NULL;
        if (dr->port_lo == 0 && dr->port_hi == 0) return dr;
        port = (unsigned)dr->port_hi + 1; /* covered up to the end of that deny range */
    }
    return dr;
}

void policy_decide_name(const struct policy *p, const char *host, struct policy_decision *d)
{
    char name[POLICY_NAME_MAX + 1];
    if (host && addr_host_is_literal(host, NULL)) {
        refuse(d, "an IP address, not a name");
        return;
    }
    if (policy_normalize_host(host, name, sizeof(name)) < 0) {
        refuse(d, "not a valid host name");
        return;
    }
    for (int i = 0; i < p->ndeny; i++) {
        const struct policy_host_rule *r = &p->deny[i];
        if (name_matches(r, name) && r->port_lo == 0 && r->port_hi == 0) {
            decide(p, d, POLICY_DENY, "denied by rule", r->text);
            return;
        }
    }
    const struct policy_host_rule *denied_by = NULL;
    for (int i = 0; i < p->nallow; i++) {
        if (!name_matches(&p->allow[i], name)) continue;
        const struct policy_host_rule *dr = all_ports_denied(p, &p->allow[i], name);
        if (!dr) {
            decide(p, d, POLICY_ALLOW, "allowed by rule", p->allow[i].text);
            return;
        }
        if (!denied_by) denied_by = dr;
    }
    if (denied_by)
        decide(p, d, POLICY_DENY, "denied by rule", denied_by->text);
    else
        decide(p, d, POLICY_DENY, "no rule allows this host", NULL);
}

void policy_decide_host(const struct policy *p, const char *host, uint16_t port,
                        struct policy_decision *d)
{
    char name[POLICY_NAME_MAX + 1];
    struct sockaddr_storage ss;
    if (host && addr_host_is_literal(host, &ss)) { /* "http://0x7f.1/": no name to match */
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        policy_decide_addr(p, (const struct sockaddr *)&ss, d);
        return;
    }
    if (policy_normalize_host(host, name, sizeof(name)) < 0) {
        refuse(d, "not a valid host name");
        return;
    }
    if (port == 0) {
        refuse(d, "port 0 is not a port");
        return;
    }
    const struct policy_host_rule *dr = deny_for(p, name, port);
    if (dr) {
        decide(p, d, POLICY_DENY, "denied by rule", dr->text);
        return;
    }
    int name_allowed = 0;
    for (int i = 0; i < p->nallow; i++) {
        if (!name_matches(&p->allow[i], name)) continue;
        if (allow_port_matches(&p->allow[i], port)) {
            decide(p, d, POLICY_ALLOW, "allowed by rule", p->allow[i].text);
            return;
        }
        name_allowed = 1;
    }
    decide(p, d, POLICY_DENY,
           name_allowed ? "no rule allows this port on this host" : "no rule allows this host",
           NULL);
}

static int cidr_matches(const struct policy_cidr_rule *c, const uint8_t *a)
{
    int full = c->prefix / 8, rem = c->prefix % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0) return 0;
    if (rem == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (c->addr[full] & mask);
}

void policy_decide_addr(const struct policy *p, const struct sockaddr *sa,
                        struct policy_decision *d)
{
    const uint8_t *a;
    unsigned port;
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
        refuse(d, "not an IP address");
        return;
    }
    const char *why = addr_forbidden_reason(sa);
    if (why) {
        refuse(d, why);
        return;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a = (const uint8_t *)&s4->sin_addr;
        port = ntohs(s4->sin_port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a = s6->sin6_addr.s6_addr;
        port = ntohs(s6->sin6_port);
    }
    for (int i = 0; i < p->ncidr; i++) {
        const struct policy_cidr_rule *c = &p->cidr[i];
        if (c->family != sa->sa_family || !cidr_matches(c, a)) continue;
        if ((c->port_lo == 0 && c->port_hi == 0) || (port >= c->port_lo && port <= c->port_hi)) {
            decide(p, d, POLICY_ALLOW, "allowed by rule", c->text);
            return;
        }
    }
    decide(p, d, POLICY_DENY, "no allow_cidrs rule allows this address", NULL);
}

/* ---- HTTP requests ---- */

int policy_http_inspected(const struct policy *p, const char *host)
{
    char name[POLICY_NAME_MAX + 1];
    if (p->nhttp == 0 || policy_normalize_host(host, name, sizeof(name)) < 0) return 0;
    for (int i = 0; i < p->nhttp; i++)
        if (policy_host_pattern_match(p->http[i].host, p->http[i].wildcard, name)) return 1;
    return 0;
}

void policy_decide_request(const struct policy *p, const char *host, const char *method,
                           const char *target, struct policy_decision *d)
{
    char name[POLICY_NAME_MAX + 1], path[HTTPRULE_TARGET_MAX + 1];
    if (!policy_http_inspected(p, host)) {
        decide(p, d, POLICY_ALLOW, "no http rules for this host", NULL);
        return;
    }
    policy_normalize_host(host, name, sizeof(name)); /* cannot fail: inspected */
    if (!method || !*method) {
        refuse(d, "no request method");
        return;
    }
    const char *why = httprule_request_path(target, path, sizeof(path));
    if (why) {
        decide(p, d, POLICY_DENY, why, NULL);
        return;
    }
    for (int i = 0; i < p->nhttp; i++) {
        const struct policy_http_rule *r = &p->http[i];
        if (!policy_host_pattern_match(r->host, r->wildcard, name)) continue;
        if (strcmp(r->method, "*") != 0 && strcmp(r->method, method) != 0) continue;
        if (httprule_path_match(r->path, path)) {
            decide(p, d, POLICY_ALLOW, "allowed by http rule", r->text);
            return;
        }
    }
    decide(p, d, POLICY_DENY, "no http rule allows this method and path", NULL);
}
