/* Unit tests: egress policy parsing and decisions (policy/policy.c). */
#include <arpa/inet.h>
#include <malloc.h>
#include <stdlib.h>

#include "cleanup.h"
#include "json.h"
#include "policy.h"
#include "unit.h"

static struct policy P, Q;

/* Parse JSON text as the "network" field of a request. */
/* P and Q are reused: free what the last parse left before parsing again
 * (policy_from_json overwrites; the leak checker of make SAN=1 unit would see
 * the rules it dropped). */
static int parse_into(struct json_object *o, const char *where, struct policy *p, sbx_err *err)
{
    policy_free(p);
    return policy_from_json(o, where, p, err);
}

static int load(const char *json, struct policy *p, sbx_err *err)
{
    struct json_object *o = NULL;
    if (json_parse_object(json, strlen(json), &o, err) < 0) {
        fprintf(stderr, "  test JSON does not parse: %s: %s\n", json, err->msg);
        abort();
    }
    int rc = parse_into(o, "network", p, err);
    json_object_put(o);
    return rc;
}

static void must_load(const char *json, struct policy *p)
{
    sbx_err err;
    if (load(json, p, &err) < 0) {
        fprintf(stderr, "  rejected %s: %s\n", json, err.msg);
        CHECK(0);
    }
}

static int host_ok(const struct policy *p, const char *host, uint16_t port)
{
    struct policy_decision d;
    policy_decide_host(p, host, port, &d);
    return d.verdict == POLICY_ALLOW;
}

static int name_ok(const struct policy *p, const char *host)
{
    struct policy_decision d;
    policy_decide_name(p, host, &d);
    return d.verdict == POLICY_ALLOW;
}

struct host_case {
    const char *host;
    uint16_t port;
    int allowed;
};

static void check_hosts(const struct policy *p, const struct host_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (host_ok(p, c[i].host, c[i].port) != c[i].allowed) {
            fprintf(stderr, "  %s:%u: expected %s\n", c[i].host, c[i].port,
                    c[i].allowed ? "allow" : "deny");
            CHECK(0);
        }
    }
}

static void test_empty_policy_allows_nothing(void)
{
    must_load("{}", &P);
    CHECK(P.mode == POLICY_ENFORCE && P.nallow == 0 && P.ndeny == 0 && P.ncidr == 0);
    CHECK(P.quotas.connections == 0 && P.quotas.bytes_out == 0);
    struct policy_decision d;
    policy_decide_host(&P, "example.com", 443, &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow && d.rule == NULL);
    CHECK_STR(d.reason, "no rule allows this host");
    policy_decide_name(&P, "example.com", &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow);

    policy_free(&Q);
    policy_init_deny_all(&Q);
    CHECK(Q.mode == POLICY_ENFORCE && Q.nallow == 0 && Q.ncidr == 0);
    CHECK(!host_ok(&Q, "example.com", 443) && !name_ok(&Q, "example.com"));

    sbx_err err;
    CHECK(parse_into(NULL, "network", &Q, &err) == 0 && Q.nallow == 0);
}

static void test_exact_names_and_default_ports(void)
{
    must_load("{\"allow\": [\"example.com\"]}", &P);
    static const struct host_case c[] = {
        {"example.com", 443, 1},   {"example.com", 80, 1},
        {"example.com", 8080, 0},  {"example.com", 22, 0},
        {"example.com", 1, 0},     {"example.com", 65535, 0},
        {"a.example.com", 443, 0}, {"xexample.com", 443, 0},
        {"example.co", 443, 0},    {"example.com.evil.org", 443, 0},
        {"evil.org", 443, 0},      {"com", 443, 0},
        {"example.com", 0, 0},
    };
    check_hosts(&P, c, SBX_ARRAY_SIZE(c));
    struct policy_decision d;
    policy_decide_host(&P, "example.com", 8080, &d);
    CHECK_STR(d.reason, "no rule allows this port on this host");
    policy_decide_host(&P, "example.com", 443, &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow);
    CHECK_STR(d.reason, "allowed by rule");
    CHECK_STR(d.rule, "example.com");
}

static void test_wildcards_match_strictly_below_the_domain(void)
{
    must_load("{\"allow\": [\"*.example.com\"]}", &P);
    CHECK(P.allow[0].wildcard == 1);
    CHECK_STR(P.allow[0].name, "example.com");
    static const struct host_case c[] = {
        {"a.example.com", 443, 1},
        {"a.b.example.com", 443, 1},
        {"www.example.com", 80, 1},
        {"A.Example.COM", 443, 1},
        {"a.example.com.", 443, 1},
        {"_acme.example.com", 443, 1},
        {"example.com", 443, 0},
        {"example.com.", 443, 0},
        {".example.com", 443, 0},
        {"xexample.com", 443, 0},
        {"a.xexample.com", 443, 0},
        {"example.com.evil.org", 443, 0},
        {"a.example.com.evil.org", 443, 0},
        {"example.org", 443, 0},
        {"com", 443, 0},
        {"a.example.com", 8443, 0},
    };
    check_hosts(&P, c, SBX_ARRAY_SIZE(c));
    CHECK(name_ok(&P, "a.example.com") && !name_ok(&P, "example.com"));
    CHECK(!name_ok(&P, "xexample.com") && !name_ok(&P, "example.com.evil.org"));

    /* A wildcard and its apex listed together. */
    must_load("{\"allow\": [\"*.example.com\", \"example.com\"]}", &P);
    CHECK(host_ok(&P, "example.com", 443) && host_ok(&P, "x.example.com", 443));
    /* Two labels below the star are enough: "*.co.uk" is accepted (no public suffix list). */
    must_load("{\"allow\": [\"*.co.uk\"]}", &P);
    CHECK(host_ok(&P, "bbc.co.uk", 443) && !host_ok(&P, "co.uk", 443));
}

static void test_case_and_trailing_dot_are_ignored(void)
{
    must_load("{\"allow\": [\"Registry.NPMJS.org.\"]}", &P);
    CHECK_STR(P.allow[0].name, "registry.npmjs.org");
    CHECK_STR(P.allow[0].text, "Registry.NPMJS.org.");
    CHECK(host_ok(&P, "registry.npmjs.org", 443));
    CHECK(host_ok(&P, "REGISTRY.npmjs.ORG.", 443));
    CHECK(name_ok(&P, "registry.npmjs.org."));
    CHECK(!host_ok(&P, "registry.npmjs.org..", 443));
}

static void test_ports_and_ranges(void)
{
    must_load("{\"allow\": [\"example.com:8000-8100\", \"api.example.com:443\", "
              "\"ssh.example.com:22\", \"all.example.com:1-65535\"]}",
              &P);
    CHECK(P.allow[0].port_lo == 8000 && P.allow[0].port_hi == 8100);
    CHECK(P.allow[1].port_lo == 443 && P.allow[1].port_hi == 443);
    static const struct host_case c[] = {
        {"example.com", 8000, 1},      {"example.com", 8050, 1},    {"example.com", 8100, 1},
        {"example.com", 7999, 0},      {"example.com", 8101, 0},    {"example.com", 443, 0},
        {"example.com", 80, 0},        {"api.example.com", 443, 1}, {"api.example.com", 80, 0},
        {"ssh.example.com", 22, 1},    {"ssh.example.com", 443, 0}, {"all.example.com", 1, 1},
        {"all.example.com", 65535, 1}, {"all.example.com", 0, 0},
    };
    check_hosts(&P, c, SBX_ARRAY_SIZE(c));
    CHECK(name_ok(&P, "example.com") && name_ok(&P, "ssh.example.com"));
}

static void test_deny_wins_over_allow(void)
{
    must_load("{\"allow\": [\"*.githubusercontent.com\", \"example.com:1-65535\", "
              "\"*.example.org\", \"both.example.net:8000-8100\"], "
              "\"deny\": [\"gist.githubusercontent.com\", \"example.com:22\", "
              "\"*.bad.example.org\", \"both.example.net:8000-8049\", "
              "\"both.example.net:8050-8100\"]}",
              &P);
    static const struct host_case c[] = {
        {"raw.githubusercontent.com", 443, 1},
        {"gist.githubusercontent.com", 443, 0},
        {"gist.githubusercontent.com", 80, 0},
        {"gist.githubusercontent.com", 8080, 0},  /* port-less deny: every port */
        {"a.gist.githubusercontent.com", 443, 1}, /* the deny is exact, not a wildcard */
        {"example.com", 21, 1},
        {"example.com", 22, 0},
        {"example.com", 23, 1},
        {"x.example.org", 443, 1},
        {"bad.example.org", 443, 1},
        {"x.bad.example.org", 443, 0},
        {"both.example.net", 8000, 0},
        {"both.example.net", 8100, 0},
    };
    check_hosts(&P, c, SBX_ARRAY_SIZE(c));
    struct policy_decision d;
    policy_decide_host(&P, "gist.githubusercontent.com", 443, &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow);
    CHECK_STR(d.reason, "denied by rule");
    CHECK_STR(d.rule, "gist.githubusercontent.com");

    /* DNS: a port-less deny kills the name; a deny of some ports does not. */
    policy_decide_name(&P, "gist.githubusercontent.com", &d);
    CHECK(d.verdict == POLICY_DENY);
    CHECK_STR(d.rule, "gist.githubusercontent.com");
    CHECK(name_ok(&P, "example.com"));
    CHECK(name_ok(&P, "raw.githubusercontent.com"));
    CHECK(!name_ok(&P, "x.bad.example.org"));
    /* ... unless the deny rules between them cover every port the allow gives. */
    policy_decide_name(&P, "both.example.net", &d);
    CHECK(d.verdict == POLICY_DENY);
    CHECK_STR(d.reason, "denied by rule");

    must_load("{\"allow\": [\"example.com\"], \"deny\": [\"example.com:80\"]}", &P);
    CHECK(name_ok(&P, "example.com")); /* 443 is left */
    CHECK(!host_ok(&P, "example.com", 80) && host_ok(&P, "example.com", 443));
    must_load("{\"allow\": [\"example.com\"], \"deny\": [\"example.com:80\", \"example.com:443\"]}",
              &P);
    CHECK(!name_ok(&P, "example.com"));
    must_load("{\"allow\": [\"example.com:1-100\"], \"deny\": [\"example.com:1-50\", "
              "\"example.com:52-100\"]}",
              &P);
    CHECK(name_ok(&P, "example.com") && host_ok(&P, "example.com", 51));
    must_load("{\"allow\": [\"example.com:1-65535\"], \"deny\": [\"example.com:1-65535\"]}", &P);
    CHECK(!name_ok(&P, "example.com"));
    /* a deny entry without ports denies every port, not just 80 and 443 */
    must_load("{\"allow\": [\"*.example.com:1-65535\"], \"deny\": [\"bad.example.com\"]}", &P);
    CHECK(!host_ok(&P, "bad.example.com", 8080) && !host_ok(&P, "bad.example.com", 22));
    CHECK(!host_ok(&P, "bad.example.com", 443) && host_ok(&P, "good.example.com", 8080));
    CHECK(!name_ok(&P, "bad.example.com") && host_ok(&P, "x.bad.example.com", 8080));
    must_load("{\"allow\": [\"example.com\"], \"deny\": [\"*.example.com\"]}", &P);
    CHECK(name_ok(&P, "example.com") && host_ok(&P, "example.com", 443));
}

static void test_report_mode_lets_denied_traffic_through(void)
{
    must_load(
        "{\"mode\": \"report\", \"allow\": [\"example.com\"], \"deny\": [\"bad.example.com\"], "
        "\"allow_cidrs\": [\"8.8.8.0/24:53\"]}",
        &P);
    CHECK(P.mode == POLICY_REPORT);
    struct policy_decision d;
    policy_decide_host(&P, "other.org", 443, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1);
    CHECK_STR(d.reason, "no rule allows this host");
    policy_decide_host(&P, "bad.example.com", 443, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1);
    CHECK_STR(d.rule, "bad.example.com");
    policy_decide_host(&P, "example.com", 443, &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow == 1);
    policy_decide_name(&P, "other.org", &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1);
    policy_decide_host(&P, "8.8.4.4", 53, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1);
    /* Forbidden addresses stay refused in report mode. */
    policy_decide_host(&P, "169.254.169.254", 80, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);
    CHECK_STR(d.reason, "cloud metadata");
    policy_decide_host(&P, "[::1]", 80, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);
    /* so do names that are not names, and port 0 */
    policy_decide_name(&P, "10.0.0.1", &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);
    policy_decide_name(&P, "bad name.example.com", &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);
    policy_decide_host(&P, "exa mple.com", 443, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);
    policy_decide_host(&P, "example.com", 0, &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 0);

    must_load("{\"mode\": \"enforce\"}", &P);
    CHECK(P.mode == POLICY_ENFORCE);
}

static const struct sockaddr *sa_of(const char *s, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
    } else {
        abort();
    }
    return (const struct sockaddr *)ss;
}

static int addr_ok(const struct policy *p, const char *a, uint16_t port)
{
    struct sockaddr_storage ss;
    struct policy_decision d;
    policy_decide_addr(p, sa_of(a, port, &ss), &d);
    return d.verdict == POLICY_ALLOW;
}

static void test_allow_cidrs(void)
{
    must_load("{\"allow_cidrs\": [\"8.8.8.0/24:53\", \"1.1.1.1\", \"9.9.9.0/25:8000-8100\", "
              "\"[2606:4700::]/32:443\", \"2a00:1450::/32\", \"[2001:4860::8888]:53\", "
              "\"0.0.0.0/0:9999\"]}",
              &P);
    CHECK(P.ncidr == 7);
    CHECK(P.cidr[1].prefix == 32 && P.cidr[1].port_lo == 0);
    CHECK(P.cidr[5].family == AF_INET6 && P.cidr[5].prefix == 128 && P.cidr[5].port_lo == 53);
    CHECK(addr_ok(&P, "8.8.8.8", 53));
    CHECK(addr_ok(&P, "8.8.8.255", 53));
    CHECK(!addr_ok(&P, "8.8.8.8", 443));
    CHECK(!addr_ok(&P, "8.8.9.8", 53));
    CHECK(addr_ok(&P, "1.1.1.1", 443) && addr_ok(&P, "1.1.1.1", 1));
    CHECK(!addr_ok(&P, "1.1.1.2", 443));
    CHECK(addr_ok(&P, "9.9.9.127", 8000) && !addr_ok(&P, "9.9.9.128", 8000));
    CHECK(!addr_ok(&P, "9.9.9.1", 8101));
    CHECK(addr_ok(&P, "2606:4700::1111", 443) && !addr_ok(&P, "2606:4700::1111", 80));
    CHECK(!addr_ok(&P, "2606:4701::1", 443));
    CHECK(addr_ok(&P, "2a00:1450:4001::1", 12345));
    CHECK(addr_ok(&P, "2001:4860::8888", 53) && !addr_ok(&P, "2001:4860::8844", 53));
    CHECK(addr_ok(&P, "4.4.4.4", 9999) && !addr_ok(&P, "4.4.4.4", 9998));
    /* Families do not cross: an IPv4-mapped address is forbidden, not matched. */
    CHECK(!addr_ok(&P, "::ffff:8.8.8.8", 53));
    /* 0.0.0.0/0 still does not reach forbidden classes. */
    struct sockaddr_storage ss;
    struct policy_decision d;
    policy_decide_addr(&P, sa_of("127.0.0.1", 9999, &ss), &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow && d.rule == NULL);
    CHECK_STR(d.reason, "loopback");
    policy_decide_addr(&P, sa_of("10.1.2.3", 9999, &ss), &d);
    CHECK_STR(d.reason, "private (RFC 1918)");
    policy_decide_addr(&P, sa_of("8.8.8.8", 53, &ss), &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow);
    CHECK_STR(d.rule, "8.8.8.0/24:53");
    CHECK_STR(d.reason, "allowed by rule");
    policy_decide_addr(&P, sa_of("5.5.5.5", 53, &ss), &d);
    CHECK_STR(d.reason, "no allow_cidrs rule allows this address");
    policy_decide_addr(&P, NULL, &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow);

    /* decide_host hands IP literals (any spelling) to the address rules. */
    CHECK(host_ok(&P, "8.8.8.8", 53));
    CHECK(host_ok(&P, "0x8080808", 53));
    CHECK(host_ok(&P, "8.8.8.8.", 53));
    CHECK(!host_ok(&P, "8.8.8.8", 443));
    CHECK(host_ok(&P, "[2606:4700::1111]", 443));
    CHECK(host_ok(&P, "2606:4700::1111", 443));
    policy_decide_host(&P, "0x7f.1", 9999, &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow);
    CHECK_STR(d.reason, "loopback");
    /* ... and a name rule cannot let a literal through. */
    must_load("{\"allow\": [\"example.com\"]}", &P);
    policy_decide_host(&P, "93.184.216.34", 443, &d);
    CHECK(d.verdict == POLICY_DENY);
    CHECK_STR(d.reason, "no allow_cidrs rule allows this address");
    policy_decide_name(&P, "93.184.216.34", &d);
    CHECK(d.verdict == POLICY_DENY);
    CHECK_STR(d.reason, "an IP address, not a name");
}

static void test_literal_spellings_never_match_name_rules(void)
{
    must_load("{\"allow\": [\"*.example.com\", \"localhost\"], \"allow_cidrs\": [\"0.0.0.0/0\", "
              "\"::/0\"]}",
              &P);
    static const char *const hosts[] = {"2130706433",
                                        "0x7f000001",
                                        "017700000001",
                                        "127.1",
                                        "0177.0.0.1",
                                        "127.0.0.1.",
                                        "[::ffff:7f00:1]",
                                        "[::1]",
                                        "0x7f.0x1",
                                        "169.254.169.254",
                                        "[fd00:ec2::254]",
                                        "0",
                                        "[::ffff:169.254.169.254]",
                                        "fe80::1%eth0"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(hosts); i++) {
        struct policy_decision d;
        policy_decide_host(&P, hosts[i], 80, &d);
        if (d.verdict != POLICY_DENY || d.enforced_allow) {
            fprintf(stderr, "  %s let through\n", hosts[i]);
            CHECK(0);
        }
    }
}

static void test_normalize_host(void)
{
    struct {
        const char *in, *out; /* out NULL = invalid */
    } c[] = {
        {"Example.COM", "example.com"},
        {"example.com.", "example.com"},
        {"a-b.c_d.example", "a-b.c_d.example"},
        {"_dmarc.example.com", "_dmarc.example.com"},
        {"localhost", "localhost"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"1.2.3.example", "1.2.3.example"},
        {"", NULL},
        {".", NULL},
        {"example..com", NULL},
        {".example.com", NULL},
        {"example.com..", NULL},
        {"exa mple.com", NULL},
        {"example.com:443", NULL},
        {"*.example.com", NULL},
        {"b\xc3\xbc"
         "cher.example",
         NULL},
        {"1.2.3.4", NULL},
        {"1.2.3.999", NULL},
        {"foo.0x7f", NULL},
        {"foo.123", NULL},
        {"[::1]", NULL},
        {"a/b.com", NULL},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        char out[POLICY_NAME_MAX + 1];
        int rc = policy_normalize_host(c[i].in, out, sizeof(out));
        if (c[i].out) {
            CHECK(rc == 0);
            if (rc == 0) CHECK_STR(out, c[i].out);
        } else if (rc != -1) {
            fprintf(stderr, "  \"%s\" accepted as \"%s\"\n", c[i].in, out);
            CHECK(0);
        }
    }
    char small[4];
    CHECK(policy_normalize_host("example.com", small, sizeof(small)) == -1);
    CHECK(policy_normalize_host(NULL, small, sizeof(small)) == -1);

    /* 63-byte labels and 253-byte names are the limits. */
    char name[300];
    memset(name, 'a', 63);
    strcpy(name + 63, ".com");
    CHECK(policy_normalize_host(name, name, sizeof(name)) == 0);
    memset(name, 'a', 64);
    strcpy(name + 64, ".com");
    char out[300];
    CHECK(policy_normalize_host(name, out, sizeof(out)) == -1);
    /* 4 x 63 + 1 = 253 with the dots */
    for (int i = 0; i < 4; i++) {
        memset(name + i * 64, 'a', 63);
        name[i * 64 + 63] = '.';
    }
    name[4 * 64 - 1] = '\0'; /* 255 bytes: too long */
    CHECK(policy_normalize_host(name, out, sizeof(out)) == -1);
    name[253] = '\0'; /* last label 61 bytes: 253 in all */
    CHECK(strlen(name) == 253 && policy_normalize_host(name, out, sizeof(out)) == 0);
    name[253] = '.'; /* a trailing dot does not count */
    name[254] = '\0';
    CHECK(policy_normalize_host(name, out, sizeof(out)) == 0 && strlen(out) == 253);
}

struct err_case {
    const char *json;
    const char *msg; /* substring of the error */
};

static void test_errors_name_the_field(void)
{
    static const struct err_case c[] = {
        {"{\"allow\": [\"a.com\", \"b.com\", \"*.com\"]}",
         "network.allow[2]: \"*.com\" is too broad: a wildcard needs at least two labels below "
         "it (e.g. \"*.example.com\")"},
        {"{\"allow\": [\"*.com.\"]}", "network.allow[0]: \"*.com.\" is too broad"},
        {"{\"allow\": [\"*.com:443\"]}", "network.allow[0]: \"*.com:443\" is too broad"},
        {"{\"allow\": [\"*\"]}", "network.allow[0]: \"*\" would match every host"},
        {"{\"allow\": [\"*:443\"]}", "network.allow[0]: \"*:443\" would match every host"},
        {"{\"allow\": [\"*.\"]}", "network.allow[0]: \"*.\" would match every host"},
        {"{\"deny\": [\"ok.com\", \"**.example.com\"]}",
         "network.deny[1]: \"**.example.com\" is not a valid host name: \"*\" is only allowed"},
        {"{\"allow\": [\"*.*.example.com\"]}", "\"*\" is only allowed as a whole leading label"},
        {"{\"allow\": [\"foo.*.example.com\"]}", "network.allow[0]: \"foo.*.example.com\""},
        {"{\"allow\": [\"*foo.example.com\"]}", "\"*\" is only allowed"},
        {"{\"allow\": [\"example.*\"]}", "\"*\" is only allowed"},
        {"{\"allow\": [\"a..b.com\"]}", "network.allow[0]: \"a..b.com\" is not a valid host name: "
                                        "empty label"},
        {"{\"allow\": [\".a.com\"]}", "empty label"},
        {"{\"allow\": [\"a.com..\"]}", "empty label"},
        {"{\"allow\": [\"*..a.com\"]}", "empty label"},
        {"{\"allow\": [\"exa mple.com\"]}", "invalid character ' '"},
        {"{\"allow\": [\"exa!mple.com\"]}", "network.allow[0]: \"exa!mple.com\" is not a valid "
                                            "host name: invalid character '!'"},
        {"{\"allow\": [\"a\\tb.com\"]}", "invalid character 0x09"},
        {"{\"allow\": [\"a/b.com\"]}", "invalid character '/'"},
        {"{\"allow\": [\"b\xc3\xbc"
         "cher.de\"]}",
         "punycode"},
        {"{\"allow\": [\"\"]}", "network.allow[0]: empty entry"},
        {"{\"allow\": [\":443\"]}", "network.allow[0]: \":443\" has an empty host name"},
        {"{\"allow\": [\"example.com:0\"]}",
         "network.allow[0]: \"example.com:0\": port 0 is out of range (1-65535)"},
        {"{\"allow\": [\"example.com:65536\"]}", "port 65536 is out of range"},
        {"{\"allow\": [\"example.com:99999\"]}", "port 99999 is out of range"},
        {"{\"allow\": [\"example.com:123456\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"example.com:8100-8000\"]}",
         "network.allow[0]: \"example.com:8100-8000\": port range 8100-8000 is backwards"},
        {"{\"allow\": [\"example.com:\"]}", "missing port after ':'"},
        {"{\"allow\": [\"example.com:https\"]}", "\"https\" is not a port or a port range"},
        {"{\"allow\": [\"example.com:80-\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"example.com:-80\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"example.com:1-2-3\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"example.com:+80\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"example.com: 80\"]}", "is not a port or a port range"},
        {"{\"allow\": [\"https://example.com/x\"]}",
         "network.allow[0]: \"https://example.com/x\" is a URL: write the host name only"},
        /* IP literals point at allow_cidrs */
        {"{\"allow\": [\"127.0.0.1\"]}",
         "network.allow[0]: \"127.0.0.1\" is an IP address: allow takes host names; put "
         "addresses in allow_cidrs"},
        {"{\"allow\": [\"127.0.0.1:8080\"]}", "\"127.0.0.1:8080\" is an IP address"},
        {"{\"allow\": [\"2130706433\"]}", "is an IP address"},
        {"{\"allow\": [\"0x7f.1\"]}", "is an IP address"},
        {"{\"allow\": [\"127.1\"]}", "is an IP address"},
        {"{\"allow\": [\"127.0.0.1.\"]}", "is an IP address"},
        {"{\"allow\": [\"10.0.0.0/8\"]}", "\"10.0.0.0/8\" is an IP address"},
        {"{\"allow\": [\"[::1]\"]}", "\"[::1]\" is an IP address"},
        {"{\"allow\": [\"[::1]:443\"]}", "is an IP address"},
        {"{\"allow\": [\"::1\"]}", "is an IP address"},
        {"{\"allow\": [\"2001:db8::1\"]}", "allow_cidrs"},
        {"{\"allow\": [\"fe80::1%eth0\"]}", "allow_cidrs"},
        {"{\"allow\": [\"1.2.3.999\"]}", "\"1.2.3.999\" looks like an IP address"},
        {"{\"allow\": [\"foo.0x10\"]}", "allow_cidrs"},
        {"{\"deny\": [\"169.254.169.254\"]}",
         "network.deny[0]: \"169.254.169.254\" is an IP address: deny takes host names"},
        {"{\"deny\": [\"169.254.169.254\"]}", "allow_cidrs"},
        /* types and structure */
        {"{\"allow\": \"example.com\"}", "field \"network.allow\" must be an array"},
        {"{\"allow\": [\"ok.com\", 42]}", "network.allow[1]: must be a string (got int)"},
        {"{\"allow\": [null]}", "network.allow[0]: must be a string (got null)"},
        {"{\"deny\": [[\"x.com\"]]}", "network.deny[0]: must be a string (got array)"},
        {"{\"allow\": [\"a\\u0000b.com\"]}", "network.allow[0]: must not contain NUL bytes"},
        {"{\"allow_cidrs\": {}}", "field \"network.allow_cidrs\" must be an array"},
        {"{\"mode\": \"block\"}",
         "network.mode: must be \"enforce\" or \"report\" (got \"block\")"},
        {"{\"mode\": \"Enforce\"}", "network.mode: must be"},
        {"{\"mode\": 1}", "field \"network.mode\" must be a string"},
        {"{\"alow\": []}", "unknown field \"network.alow\" (allowed: mode, allow, deny, "
                           "allow_cidrs, quotas, description, http)"},
        {"{\"description\": 5}", "field \"network.description\" must be a string"},
        {"{\"quotas\": []}", "field \"network.quotas\" must be an object"},
        {"{\"quotas\": {\"conections\": 1}}", "unknown field \"network.quotas.conections\""},
        {"{\"quotas\": {\"connections\": -1}}",
         "field \"network.quotas.connections\" must be between 0 and 1000000"},
        {"{\"quotas\": {\"connections\": 1000001}}", "network.quotas.connections"},
        {"{\"quotas\": {\"connections_per_minute\": 1.5}}",
         "field \"network.quotas.connections_per_minute\" must be an integer"},
        {"{\"quotas\": {\"requests_per_minute\": \"10\"}}", "network.quotas.requests_per_minute"},
        {"{\"quotas\": {\"bytes_out\": 1125899906842625}}",
         "field \"network.quotas.bytes_out\" must be between 0 and 1125899906842624"},
        {"{\"quotas\": {\"bytes_out\": -5}}", "network.quotas.bytes_out"},
        /* allow_cidrs */
        {"{\"allow_cidrs\": [\"8.8.8.8/32\", \"203.0.113.7/24\"]}",
         "network.allow_cidrs[1]: \"203.0.113.7/24\" has address bits set after the /24 prefix: "
         "write the network (203.0.113.0/24) or a single address (203.0.113.7/32)"},
        {"{\"allow_cidrs\": [\"[2001:db8::1]/32:443\"]}",
         "write the network (2001:db8::/32) or a single address (2001:db8::1/128)"},
        {"{\"allow_cidrs\": [\"10.0.0.0/33\"]}",
         "network.allow_cidrs[0]: \"10.0.0.0/33\": the prefix length must be a number from 0 "
         "to 32"},
        {"{\"allow_cidrs\": [\"2001:db8::/129\"]}", "from 0 to 128"},
        {"{\"allow_cidrs\": [\"10.0.0.0/\"]}", "the prefix length must be"},
        {"{\"allow_cidrs\": [\"10.0.0.0/x\"]}", "the prefix length must be"},
        {"{\"allow_cidrs\": [\"10.0.0.0/8:0\"]}", "port 0 is out of range"},
        {"{\"allow_cidrs\": [\"10.0.0.0/8:9-1\"]}", "backwards"},
        {"{\"allow_cidrs\": [\"example.com\"]}",
         "network.allow_cidrs[0]: \"example.com\" is not an address block"},
        {"{\"allow_cidrs\": [\"10.0.0\"]}", "write IPv4 addresses in dotted decimal"},
        {"{\"allow_cidrs\": [\"0x7f.0.0.1/32\"]}", "write IPv4 addresses in dotted decimal"},
        {"{\"allow_cidrs\": [\"010.0.0.0/8\"]}", "dotted decimal"},
        {"{\"allow_cidrs\": [\"300.0.0.0/8\"]}", "is not an address block"},
        {"{\"allow_cidrs\": [\"2001:db8::/32:443\"]}",
         "\"2001:db8::/32:443\": an IPv6 block with ports needs brackets"},
        {"{\"allow_cidrs\": [\"2001:db8::/32x\"]}", "unexpected \"x\" after the address block"},
        {"{\"allow_cidrs\": [\"[2001:db8::/32\"]}", "missing ']'"},
        {"{\"allow_cidrs\": [\"[2001:db8::]x\"]}", "unexpected \"x\""},
        {"{\"allow_cidrs\": [\"[1.2.3.4]/32\"]}", "brackets are for IPv6 addresses only"},
        {"{\"allow_cidrs\": [\"fe80::%eth0/64\"]}", "zone ids"},
        {"{\"allow_cidrs\": [\"\"]}", "network.allow_cidrs[0]: empty entry"},
        {"{\"allow_cidrs\": [\"8.8.8.8 \"]}", "\"8.8.8.8 \" is not an address block"},
        {"{\"allow_cidrs\": [3]}", "network.allow_cidrs[0]: must be a string"},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        sbx_err err;
        sbx_error_clear(&err);
        if (load(c[i].json, &P, &err) == 0) {
            fprintf(stderr, "  accepted: %s\n", c[i].json);
            CHECK(0);
            continue;
        }
        if (!strstr(err.msg, c[i].msg)) {
            fprintf(stderr, "  %s\n    got:  %s\n    want: %s\n", c[i].json, err.msg, c[i].msg);
            CHECK(0);
        }
        CHECK_STR(err.code, "invalid_policy");
        CHECK(err.kind == SBX_E_INVALID);
        /* never half a policy */
        CHECK(P.nallow == 0 && P.ndeny == 0 && P.ncidr == 0 && P.mode == POLICY_ENFORCE);
    }
}

static void test_where_prefix_is_optional(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    const char *j = "{\"deny\": [\"*.org\"]}";
    CHECK(json_parse_object(j, strlen(j), &o, &err) == 0);
    CHECK(parse_into(o, "", &P, &err) < 0);
    CHECK(strncmp(err.msg, "deny[0]: \"*.org\" is too broad", 29) == 0);
    CHECK(parse_into(o, NULL, &P, &err) < 0);
    CHECK(strncmp(err.msg, "deny[0]: ", 9) == 0);
    CHECK(parse_into(o, "request.network", &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "request.network.deny[0]: ");
    json_object_put(o);

    struct json_object *arr = json_object_new_array();
    CHECK(parse_into(arr, "network", &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "network: must be an object (got array)");
    CHECK_STR(err.code, "invalid_policy");
    json_object_put(arr);
}

static void test_accepts_valid_entries_and_limits(void)
{
    must_load("{\"description\": \"test\", \"mode\": \"enforce\", \"allow\": [\"a-b.example.com\", "
              "\"_srv._tcp.example.com\", \"xn--bcher-kva.example\", \"intranet\", "
              "\"example.com:1\", \"example.com:65535\", \"example.com:443-443\"], "
              "\"deny\": [], \"allow_cidrs\": [], \"quotas\": {\"connections\": 0, "
              "\"connections_per_minute\": 1000000, \"requests_per_minute\": 5, "
              "\"bytes_out\": 1125899906842624}}",
              &P);
    CHECK(P.nallow == 7 && P.ndeny == 0);
    CHECK(P.quotas.connections == 0 && P.quotas.connections_per_minute == 1000000);
    CHECK(P.quotas.requests_per_minute == 5 && P.quotas.bytes_out == (1ULL << 50));
    CHECK(host_ok(&P, "intranet", 443));
    /* null counts as absent */
    must_load("{\"mode\": null, \"allow\": null, \"quotas\": null, \"description\": null}", &P);
    CHECK(P.mode == POLICY_ENFORCE && P.nallow == 0);

    /* exactly POLICY_MAX_RULES entries are fine, one more is not */
    size_t cap = 64 + (POLICY_MAX_RULES + 1) * 32;
    _cleanup_free_ char *j = malloc(cap);
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{\"allow\": [");
        for (int i = 0; i < POLICY_MAX_RULES + extra; i++)
            n += (size_t)snprintf(j + n, cap - n, "%s\"h%d.example.com\"", i ? "," : "", i);
        snprintf(j + n, cap - n, "]}");
        sbx_err err;
        int rc = load(j, &P, &err);
        if (extra) {
            CHECK(rc < 0);
            CHECK_CONTAINS(err.msg, "network.allow: at most 256 entries (got 257)");
        } else {
            CHECK(rc == 0 && P.nallow == POLICY_MAX_RULES);
            CHECK(host_ok(&P, "h255.example.com", 443));
        }
    }

    /* 253 bytes is the longest name; a wildcard counts its "*." */
    char big[700], name[300];
    for (int i = 0; i < 4; i++) {
        memset(name + i * 64, 'a', 63);
        name[i * 64 + 63] = '.';
    }
    name[253] = '\0';
    snprintf(big, sizeof(big), "{\"allow\": [\"%s:443\"]}", name);
    must_load(big, &P);
    CHECK(host_ok(&P, name, 443));
    snprintf(big, sizeof(big), "{\"allow\": [\"%sa\"]}", name);
    sbx_err err;
    CHECK(load(big, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "longer than 253 characters");
    snprintf(big, sizeof(big), "{\"allow\": [\"*.%s\"]}", name + 1);
    CHECK(load(big, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "longer than 253 characters");
    snprintf(big, sizeof(big), "{\"allow\": [\"*.%s\"]}", name + 2); /* 253 in all */
    must_load(big, &P);
    snprintf(big, sizeof(big), "{\"allow\": [\"%s.%s\"]}", name, name);
    CHECK(load(big, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "is too long");
    CHECK_CONTAINS(err.msg, "network.allow[0]");
    /* a 64-byte label */
    memset(name, 'b', 64);
    name[64] = '\0';
    snprintf(big, sizeof(big), "{\"allow\": [\"%s.com\"]}", name);
    CHECK(load(big, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "a label is longer than 63 characters");
    name[63] = '\0';
    snprintf(big, sizeof(big), "{\"allow\": [\"%s.com\"]}", name);
    must_load(big, &P);

    /* description: at most 4096 bytes */
    _cleanup_free_ char *d = malloc(5000);
    int dl = snprintf(d, 5000, "{\"description\": \"");
    memset(d + dl, 'x', 4096);
    snprintf(d + dl + 4096, 100, "\"}");
    must_load(d, &P);
    memset(d + dl, 'x', 4097);
    snprintf(d + dl + 4097, 100, "\"}");
    CHECK(load(d, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "network.description: at most 4096 bytes");
}

static void test_canonical_json_round_trips(void)
{
    must_load("{\"mode\": \"report\", \"description\": \"dropped\", "
              "\"allow\": [\"Example.COM.\", \"*.Foo.example.org:8000-8100\", \"x.io:443-443\"], "
              "\"deny\": [\"bad.example.com\", \"x.io:22\"], "
              "\"allow_cidrs\": [\"8.8.8.0/24:53\", \"1.1.1.1\", \"[2606:4700:0::]/32:443\", "
              "\"2a00:1450::/32\"], "
              "\"quotas\": {\"connections\": 64, \"bytes_out\": 1073741824}}",
              &P);
    struct json_object *o = policy_to_json(&P);
    CHECK(o != NULL);
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    CHECK_STR(s, "{\"mode\":\"report\",\"allow\":[\"example.com\",\"*.foo.example.org:8000-8100\","
                 "\"x.io:443\"],\"deny\":[\"bad.example.com\",\"x.io:22\"],"
                 "\"allow_cidrs\":[\"8.8.8.0/24:53\",\"1.1.1.1/32\",\"[2606:4700::]/32:443\","
                 "\"2a00:1450::/32\"],\"quotas\":{\"connections\":64,"
                 "\"connections_per_minute\":0,\"requests_per_minute\":0,"
                 "\"bytes_out\":1073741824}}");
    sbx_err err;
    CHECK(parse_into(o, "network", &Q, &err) == 0);
    json_object_put(o);
    CHECK(Q.mode == P.mode && Q.nallow == P.nallow && Q.ndeny == P.ndeny && Q.ncidr == P.ncidr);
    for (int i = 0; i < P.nallow; i++) {
        CHECK_STR(Q.allow[i].name, P.allow[i].name);
        CHECK(Q.allow[i].wildcard == P.allow[i].wildcard);
        CHECK(Q.allow[i].port_lo == P.allow[i].port_lo && Q.allow[i].port_hi == P.allow[i].port_hi);
    }
    for (int i = 0; i < P.ncidr; i++) {
        CHECK(Q.cidr[i].family == P.cidr[i].family && Q.cidr[i].prefix == P.cidr[i].prefix);
        CHECK(memcmp(Q.cidr[i].addr, P.cidr[i].addr, 16) == 0);
        CHECK(Q.cidr[i].port_lo == P.cidr[i].port_lo && Q.cidr[i].port_hi == P.cidr[i].port_hi);
    }
    CHECK(memcmp(&Q.quotas, &P.quotas, sizeof(P.quotas)) == 0);

    policy_free(&Q);
    policy_init_deny_all(&Q);
    o = policy_to_json(&Q);
    CHECK_STR(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"mode\":\"enforce\",\"allow\":[],\"deny\":[],\"allow_cidrs\":[],\"quotas\":{"
        "\"connections\":0,\"connections_per_minute\":0,\"requests_per_minute\":0,"
        "\"bytes_out\":0}}");
    json_object_put(o);
}

static void test_decisions_reject_invalid_hosts(void)
{
    must_load("{\"allow\": [\"*.example.com\"]}", &P);
    static const char *const bad[] = {"",
                                      "a..example.com",
                                      "a b.example.com",
                                      "*.example.com",
                                      "a.example.com:443",
                                      "a.example.com/x",
                                      "a.example.com..",
                                      "\xff.example.com"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(bad); i++) {
        struct policy_decision d;
        policy_decide_host(&P, bad[i], 443, &d);
        CHECK(d.verdict == POLICY_DENY && !d.enforced_allow && d.rule == NULL);
        CHECK_STR(d.reason, "not a valid host name");
        policy_decide_name(&P, bad[i], &d);
        CHECK(d.verdict == POLICY_DENY);
        CHECK_STR(d.reason, "not a valid host name");
    }
    struct policy_decision d;
    policy_decide_host(&P, NULL, 443, &d);
    CHECK(d.verdict == POLICY_DENY);
    policy_decide_name(&P, NULL, &d);
    CHECK(d.verdict == POLICY_DENY);
}

static void test_example_policies_parse(void)
{
    /* tests/unit/run.sh runs from the repository root (make unit). */
    static const char *const files[] = {
        "policy/examples/npm-only.json", "policy/examples/pypi-only.json",
        "policy/examples/github-read-only.json", "policy/examples/llm-api.json"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(files); i++) {
        _cleanup_fclose_ FILE *f = fopen(files[i], "r");
        if (!f) {
            fprintf(stderr, "  cannot open %s (run from the repository root)\n", files[i]);
            CHECK(0);
            continue;
        }
        char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        CHECK(n > 0 && n < sizeof(buf));
        sbx_err err;
        struct json_object *o = NULL;
        if (json_parse_object(buf, n, &o, &err) < 0) {
            fprintf(stderr, "  %s: %s\n", files[i], err.msg);
            CHECK(0);
            continue;
        }
        CHECK(json_object_object_get_ex(o, "description", NULL));
        if (parse_into(o, files[i], &P, &err) < 0) {
            fprintf(stderr, "  %s\n", err.msg);
            CHECK(0);
        }
        CHECK(P.nallow > 0);
        json_object_put(o);
    }
    /* and they say what they mean */
    struct {
        const char *file, *host;
        uint16_t port;
        int allowed;
    } c[] = {
        {"policy/examples/npm-only.json", "registry.npmjs.org", 443, 1},
        {"policy/examples/npm-only.json", "registry.npmjs.org", 80, 0},
        {"policy/examples/npm-only.json", "evil.example", 443, 0},
        {"policy/examples/pypi-only.json", "files.pythonhosted.org", 443, 1},
        {"policy/examples/pypi-only.json", "upload.pypi.org", 443, 0},
        {"policy/examples/github-read-only.json", "codeload.github.com", 443, 1},
        {"policy/examples/github-read-only.json", "uploads.github.com", 443, 0},
        {"policy/examples/github-read-only.json", "gist.githubusercontent.com", 443, 0},
        {"policy/examples/github-read-only.json", "github.com", 22, 0},
        {"policy/examples/llm-api.json", "api.anthropic.com", 443, 1},
        {"policy/examples/llm-api.json", "api.anthropic.com", 80, 0},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        _cleanup_fclose_ FILE *f = fopen(c[i].file, "r");
        char buf[65536];
        size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
        sbx_err err;
        struct json_object *o = NULL;
        if (!n || json_parse_object(buf, n, &o, &err) < 0 || parse_into(o, "", &P, &err) < 0) {
            CHECK(0);
        } else if (host_ok(&P, c[i].host, c[i].port) != c[i].allowed) {
            fprintf(stderr, "  %s: %s:%u: expected %s\n", c[i].file, c[i].host, c[i].port,
                    c[i].allowed ? "allow" : "deny");
            CHECK(0);
        }
        if (o) json_object_put(o);
    }
}

/* A session's policy costs what its rules need: the struct holds no arrays,
 * each list is allocated to its length (less than one rule's slack), and an
 * empty list allocates nothing. (sbx-shim keeps one per session.) */
static void test_rules_are_allocated_to_exact_size(void)
{
    CHECK(sizeof(struct policy) < 256);
    must_load("{}", &P);
    CHECK(P.allow == NULL && P.deny == NULL && P.cidr == NULL && P.http == NULL);
    must_load("{\"allow\": [\"a.example.com\", \"b.example.com\", \"*.c.example.com:443\"], "
              "\"deny\": [\"x.example.com\"], \"allow_cidrs\": [\"203.0.113.0/24:443\"], "
              "\"http\": {\"a.example.com\": [\"GET /x/**\", \"POST /y\"], "
              "\"*.c.example.com\": [\"* /**\"]}}",
              &P);
    CHECK(P.nallow == 3 && P.ndeny == 1 && P.ncidr == 1 && P.nhttp == 3);
    CHECK(P.allow && malloc_usable_size(P.allow) >= 3 * sizeof(*P.allow) &&
          malloc_usable_size(P.allow) < 4 * sizeof(*P.allow));
    CHECK(P.deny && malloc_usable_size(P.deny) < 2 * sizeof(*P.deny));
    CHECK(P.cidr && malloc_usable_size(P.cidr) < 2 * sizeof(*P.cidr));
    CHECK(P.http && malloc_usable_size(P.http) >= 3 * sizeof(*P.http) &&
          malloc_usable_size(P.http) < 4 * sizeof(*P.http));
    /* and it still decides with them */
    CHECK(host_ok(&P, "a.example.com", 443) && host_ok(&P, "z.c.example.com", 443));
    CHECK(!host_ok(&P, "x.example.com", 443) && !host_ok(&P, "d.example.com", 443));
    CHECK(policy_http_inspected(&P, "a.example.com") &&
          !policy_http_inspected(&P, "b.example.com"));
    CHECK_STR(P.http[2].text, "*.c.example.com * /**");
    policy_free(&P);
    CHECK(P.allow == NULL && P.deny == NULL && P.cidr == NULL && P.http == NULL);
    CHECK(P.nallow == 0 && P.nhttp == 0 && P.mode == POLICY_ENFORCE);
    policy_free(&P); /* twice: fine */
    policy_free(NULL);
    policy_destroy(NULL);
}

/* A parse that fails after some lists were allocated frees them and leaves
 * deny-all (no half policy; make SAN=1 unit checks nothing leaks). */
static void test_failed_parse_frees_what_it_allocated(void)
{
    static const char *const bad[] = {
        "{\"allow\": [\"a.example.com\"], \"deny\": [\"b.example.com\", \"127.0.0.1\"]}",
        "{\"allow\": [\"a.example.com\"], \"allow_cidrs\": [\"10.1.2.3/8\"]}",
        "{\"allow\": [\"a.example.com\"], \"quotas\": {\"connections\": -1}}",
        "{\"allow\": [\"a.example.com\"], \"http\": {\"a.example.com\": [\"GET /x\", \"BAD\"]}}",
        "{\"allow\": [\"a.example.com\"], \"http\": {\"a.example.com\": [\"GET /x\"], "
        "\"b.example.com\": 7}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sbx_err err;
        must_load("{\"allow\": [\"keep.example.com\"]}", &P);
        CHECK(load(bad[i], &P, &err) < 0);
        CHECK(P.allow == NULL && P.deny == NULL && P.cidr == NULL && P.http == NULL);
        CHECK(P.nallow == 0 && P.ndeny == 0 && P.ncidr == 0 && P.nhttp == 0);
        CHECK(!host_ok(&P, "a.example.com", 443));
    }
}

/* A heap policy, as sbx-shim and sbxd hold them: parsed into calloc'd memory,
 * released whole by policy_destroy / _cleanup_policy_. */
static void test_heap_policy_is_destroyed_whole(void)
{
    _cleanup_policy_ struct policy *h = calloc(1, sizeof(*h));
    CHECK(h != NULL);
    if (!h) return;
    sbx_err err;
    CHECK(load("{\"allow\": [\"a.example.com\"], \"http\": {\"a.example.com\": [\"GET /**\"]}}", h,
               &err) == 0);
    CHECK(h->nallow == 1 && h->nhttp == 1 && host_ok(h, "a.example.com", 443));
    struct policy *h2 = malloc(sizeof(*h2)); /* uninitialised: policy_from_json overwrites */
    CHECK(h2 != NULL);
    if (!h2) return;
    struct json_object *o = NULL;
    const char *js = "{\"deny\": [\"b.example.com\"]}";
    CHECK(json_parse_object(js, strlen(js), &o, &err) == 0);
    CHECK(policy_from_json(o, "network", h2, &err) == 0 && h2->ndeny == 1 && h2->nallow == 0);
    json_object_put(o);
    policy_destroy(h2);
}

int main(void)
{
    RUN(test_empty_policy_allows_nothing);
    RUN(test_exact_names_and_default_ports);
    RUN(test_wildcards_match_strictly_below_the_domain);
    RUN(test_case_and_trailing_dot_are_ignored);
    RUN(test_ports_and_ranges);
    RUN(test_deny_wins_over_allow);
    RUN(test_report_mode_lets_denied_traffic_through);
    RUN(test_allow_cidrs);
    RUN(test_literal_spellings_never_match_name_rules);
    RUN(test_normalize_host);
    RUN(test_errors_name_the_field);
    RUN(test_where_prefix_is_optional);
    RUN(test_accepts_valid_entries_and_limits);
    RUN(test_canonical_json_round_trips);
    RUN(test_decisions_reject_invalid_hosts);
    RUN(test_example_policies_parse);
    RUN(test_rules_are_allocated_to_exact_size);
    RUN(test_failed_parse_frees_what_it_allocated);
    RUN(test_heap_policy_is_destroyed_whole);
    UNIT_MAIN_END();
}
