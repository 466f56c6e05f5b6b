/* Unit tests: forbidden address classes and IP-literal host names (policy/addr.c). */
#include <arpa/inet.h>
#include <stdlib.h>

#include "addr.h"
#include "cleanup.h"
#include "unit.h"

/* "1.2.3.4" or "2001:db8::1" (strict inet_pton) into a sockaddr. */
static const struct sockaddr *sa_of(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
    } else {
        fprintf(stderr, "  bad test address %s\n", s);
        abort();
    }
    return (const struct sockaddr *)ss;
}

struct class_case {
    const char *addr;
    const char *reason; /* NULL = global unicast, allowed */
};

static void check_classes(const struct class_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage ss;
        const char *got = addr_forbidden_reason(sa_of(c[i].addr, &ss));
        int ok = c[i].reason ? got && strcmp(got, c[i].reason) == 0 : got == NULL;
        if (!ok) {
            fprintf(stderr, "  %s: expected %s, got %s\n", c[i].addr,
                    c[i].reason ? c[i].reason : "(allowed)", got ? got : "(allowed)");
            CHECK(0);
        }
    }
}

static void test_ipv4_classes(void)
{
    static const struct class_case c[] = {
        {"0.0.0.0", "unspecified"},
        {"0.1.2.3", "\"this network\" (0.0.0.0/8)"},
        {"0.255.255.255", "\"this network\" (0.0.0.0/8)"},
        {"10.0.0.0", "private (RFC 1918)"},
        {"10.255.255.255", "private (RFC 1918)"},
        {"172.16.0.1", "private (RFC 1918)"},
        {"172.31.255.255", "private (RFC 1918)"},
        {"192.168.0.1", "private (RFC 1918)"},
        {"192.168.255.255", "private (RFC 1918)"},
        {"127.0.0.1", "loopback"},
        {"127.255.255.254", "loopback"},
        {"169.254.0.1", "link-local"},
        {"169.254.169.254", "cloud metadata"},
        {"169.254.169.253", "link-local"},
        {"168.63.129.16", "cloud metadata"},
        {"100.100.100.200", "cloud metadata"},
        {"100.64.0.0", "carrier-grade NAT (RFC 6598)"},
        {"100.127.255.255", "carrier-grade NAT (RFC 6598)"},
        {"192.0.0.1", "IETF protocol assignments"},
        {"192.0.0.255", "IETF protocol assignments"},
        {"192.0.2.1", "documentation"},
        {"198.51.100.7", "documentation"},
        {"203.0.113.255", "documentation"},
        {"198.18.0.0", "benchmarking (RFC 2544)"},
        {"198.19.255.255", "benchmarking (RFC 2544)"},
        {"192.88.99.1", "6to4"},
        {"224.0.0.1", "multicast"},
        {"239.255.255.250", "multicast"},
        {"240.0.0.1", "reserved"},
        {"255.255.255.254", "reserved"},
        {"255.255.255.255", "broadcast"},
        /* just outside each class: global unicast */
        {"1.0.0.0", NULL},
        {"1.1.1.1", NULL},
        {"8.8.8.8", NULL},
        {"9.255.255.255", NULL},
        {"11.0.0.0", NULL},
        {"100.63.255.255", NULL},
        {"100.128.0.0", NULL},
        {"126.255.255.255", NULL},
        {"128.0.0.0", NULL},
        {"168.63.129.17", NULL},
        {"169.253.255.255", NULL},
        {"169.255.0.0", NULL},
        {"172.15.255.255", NULL},
        {"172.32.0.0", NULL},
        {"192.0.1.0", NULL},
        {"192.0.3.0", NULL},
        {"192.88.98.255", NULL},
        {"192.88.100.0", NULL},
        {"192.167.255.255", NULL},
        {"192.169.0.0", NULL},
        {"198.17.255.255", NULL},
        {"198.20.0.0", NULL},
        {"198.51.99.255", NULL},
        {"203.0.112.255", NULL},
        {"203.0.114.0", NULL},
        {"223.255.255.255", NULL},
    };
    check_classes(c, SBX_ARRAY_SIZE(c));
}

static void test_ipv6_classes(void)
{
    static const struct class_case c[] = {
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"::ffff:127.0.0.1", "IPv4-mapped"},
        {"::ffff:8.8.8.8", "IPv4-mapped"}, /* denied outright: an IPv4 address in disguise */
        {"::ffff:0:0", "IPv4-mapped"},
        {"::8.8.8.8", "IPv4-compatible"},
        {"::127.0.0.1", "IPv4-compatible"},
        {"::2", "IPv4-compatible"},
        {"64:ff9b::7f00:1", "NAT64"},
        {"64:ff9b::808:808", "NAT64"},
        {"64:ff9b:1::1", "NAT64"},
        {"64:ff9b:1:ffff::1", "NAT64"},
        {"64:ff9b:2::1", "reserved"},
        {"2002:7f00:1::1", "6to4"},
        {"2002:ffff::", "6to4"},
        {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
        {"2001:db8::1", "documentation"},
        {"2001:db8:ffff::", "documentation"},
        {"3fff::1", "documentation"},
        {"2001:10::1", "ORCHID"},
        {"2001:1f:ffff::1", "ORCHID"},
        {"2001:20::1", "ORCHIDv2"},
        {"2001:2f::1", "ORCHIDv2"},
        {"2001:2::1", "benchmarking (RFC 5180)"},
        {"2001:1::1", "IETF protocol assignments"},
        {"2001:1ff::1", "IETF protocol assignments"},
        {"100::1", "discard-only"},
        {"100::ffff:ffff:ffff:ffff", "discard-only"},
        {"100:0:0:1::", "reserved"},
        {"fc00::1", "unique local (fc00::/7)"},
        {"fdff:ffff::1", "unique local (fc00::/7)"},
        {"fd00:ec2::254", "cloud metadata"},
        {"fd00:ec2::253", "unique local (fc00::/7)"},
        {"fe80::1", "link-local"},
        {"febf:ffff::1", "link-local"},
        {"fec0::1", "site-local"},
        {"feff::1", "site-local"},
        {"ff02::1", "multicast"},
        {"ff0e::101", "multicast"},
        {"fbff::1", "reserved"},
        {"fe00::1", "reserved"},
        {"4000::1", "reserved"},
        {"e000::1", "reserved"},
        {"1fff:ffff::1", "reserved"},
        /* global unicast */
        {"2000::1", NULL},
        {"2001:200::1", NULL}, /* just past 2001::/23 */
        {"2001:4860:4860::8888", NULL},
        {"2001:db7:ffff::1", NULL},
        {"2001:db9::1", NULL},
        {"2003::1", NULL},
        {"2606:4700:4700::1111", NULL},
        {"2a00:1450:4001::1", NULL},
        {"3ffe::1", NULL},
        {"3fff:1000::1", NULL}, /* just past 3fff::/20 */
    };
    check_classes(c, SBX_ARRAY_SIZE(c));
}

static void test_other_families_are_not_addresses(void)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    CHECK_STR(addr_forbidden_reason((struct sockaddr *)&ss), "not an IP address");
    CHECK_STR(addr_forbidden_reason(NULL), "not an IP address");
}

struct literal_case {
    const char *host;
    const char *addr; /* what it parses to; NULL = not a literal */
};

static void test_host_literals_in_every_spelling(void)
{
    static const struct literal_case c[] = {
        {"127.0.0.1", "127.0.0.1"},
        {"2130706433", "127.0.0.1"},
        {"0x7f000001", "127.0.0.1"},
        {"0X7F000001", "127.0.0.1"},
        {"017700000001", "127.0.0.1"},
        {"127.1", "127.0.0.1"},
        {"127.0.1", "127.0.0.1"},
        {"0177.0.0.1", "127.0.0.1"},
        {"0x7f.0x1", "127.0.0.1"},
        {"0x7f.1", "127.0.0.1"},
        {"0x7f.0.0.1", "127.0.0.1"},
        {"127.0.0.1.", "127.0.0.1"},
        {"2130706433.", "127.0.0.1"},
        {"1.2.3.04", "1.2.3.4"},
        {"169.254.169.254", "169.254.169.254"},
        {"0xa9fea9fe", "169.254.169.254"},
        {"0", "0.0.0.0"},
        {"[127.0.0.1]", "127.0.0.1"},
        {"[::ffff:7f00:1]", "::ffff:127.0.0.1"},
        {"::ffff:127.0.0.1", "::ffff:127.0.0.1"},
        {"[::1]", "::1"},
        {"::1", "::1"},
        {"[2001:db8::1]", "2001:db8::1"},
        {"fe80::1%eth0", "fe80::1"},
        {"[fe80::1%25eth0]", "fe80::1"},
        {"fe80::1%2", "fe80::1"},
        /* not literals */
        {"", NULL},
        {"example.com", NULL},
        {"localhost", NULL},
        {"1.2.3.4 foo", NULL}, /* inet_aton stops at the space; not the full string */
        {"1.2.3.4\n", NULL},
        {" 1.2.3.4", NULL},
        {"1.2.3.4.5", NULL},
        {"256.1.1.1", NULL},
        {"1.2.3.256", NULL},
        {"0x1ffffffff", NULL},
        {"08.1.1.1", NULL}, /* 08 is not octal */
        {"0x7g.1", NULL},
        {"deadbeef", NULL},
        {"beef.cafe", NULL},
        {"127.0.0.1..", NULL},
        {".", NULL},
        {"[example.com]", NULL},
        {"[::1", NULL},
        {"::1]", NULL},
        {"[]", NULL},
        {"fe80::1%", NULL},
        {"fe80::1%eth0 x", NULL},
        {":::1", NULL},
        {"1.2.3.4:80", NULL},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        struct sockaddr_storage ss;
        char buf[64];
        int lit = addr_host_is_literal(c[i].host, &ss);
        if (lit != (c[i].addr != NULL)) {
            fprintf(stderr, "  \"%s\": expected %s\n", c[i].host,
                    c[i].addr ? "a literal" : "not a literal");
            CHECK(0);
            continue;
        }
        if (!lit) continue;
        CHECK_STR(addr_to_str((struct sockaddr *)&ss, buf, sizeof(buf)), c[i].addr);
        CHECK(addr_host_is_literal(c[i].host, NULL) == 1);
        if (ss.ss_family == AF_INET) CHECK(((struct sockaddr_in *)&ss)->sin_port == 0);
    }
    CHECK(addr_host_is_literal(NULL, NULL) == 0);
}

static void test_literals_agree_with_inet_aton(void)
{
    /* Every IPv4 spelling we call literal is one inet_aton parses on its full
     * length, to the same address. */
    static const char *const v4[] = {"2130706433", "0x7f000001", "017700000001", "127.1",
                                     "0177.0.0.1", "0x7f.0x1",   "1.2.3.04",     "10.0x10.0.1"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(v4); i++) {
        struct in_addr a;
        struct sockaddr_storage ss;
        CHECK(inet_aton(v4[i], &a) == 1);
        CHECK(addr_host_is_literal(v4[i], &ss) == 1);
        CHECK(ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_addr.s_addr == a.s_addr);
    }
}

static void test_zone_id_is_kept_when_numeric(void)
{
    struct sockaddr_storage ss;
    CHECK(addr_host_is_literal("fe80::1%3", &ss) == 1);
    CHECK(ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_scope_id == 3);
    CHECK(addr_host_is_literal("fe80::1%eth0", &ss) == 1);
    CHECK(((struct sockaddr_in6 *)&ss)->sin6_scope_id == 0);
}

static void test_literal_spellings_of_loopback_are_all_forbidden(void)
{
    static const char *const hosts[] = {"2130706433", "0x7f000001",   "017700000001",    "127.1",
                                        "0177.0.0.1", "127.0.0.1.",   "[::ffff:7f00:1]", "[::1]",
                                        "0x7f.1",     "[::127.0.0.1]"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(hosts); i++) {
        struct sockaddr_storage ss;
        CHECK(addr_host_is_literal(hosts[i], &ss) == 1);
        const char *why = addr_forbidden_reason((struct sockaddr *)&ss);
        if (!why) fprintf(stderr, "  %s is not forbidden\n", hosts[i]);
        CHECK(why != NULL);
    }
}

static void test_addr_to_str(void)
{
    struct sockaddr_storage ss;
    char buf[INET6_ADDRSTRLEN], tiny[4];
    CHECK_STR(addr_to_str(sa_of("1.2.3.4", &ss), buf, sizeof(buf)), "1.2.3.4");
    CHECK_STR(addr_to_str(sa_of("2001:0db8:0000::0001", &ss), buf, sizeof(buf)), "2001:db8::1");
    CHECK_STR(addr_to_str(sa_of("::ffff:1.2.3.4", &ss), buf, sizeof(buf)), "::ffff:1.2.3.4");
    CHECK_STR(addr_to_str(sa_of("1.2.3.4", &ss), tiny, sizeof(tiny)), "?");
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    CHECK_STR(addr_to_str((struct sockaddr *)&ss, buf, sizeof(buf)), "(not an IP address)");
}

int main(void)
{
    RUN(test_ipv4_classes);
    RUN(test_ipv6_classes);
    RUN(test_other_families_are_not_addresses);
    RUN(test_host_literals_in_every_spelling);
    RUN(test_literals_agree_with_inet_aton);
    RUN(test_zone_id_is_kept_when_numeric);
    RUN(test_literal_spellings_of_loopback_are_all_forbidden);
    RUN(test_addr_to_str);
    UNIT_MAIN_END();
}
