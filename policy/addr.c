/* addr.c - address classes the shim never connects to, and host names that
 * are IP literals. Pure logic: no I/O, no globals. See addr.h. */
#include "addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First match wins: more specific entries come first. */
struct v4_class {
    uint32_t net; /* host byte order */
    int prefix;
    const char *reason;
};

static const struct v4_class v4_classes[] = {
    {0xA9FEA9FE, 32, "cloud metadata"}, /* 169.254.169.254: AWS, GCP, Azure, OCI, ... */
    {0xA83F8110, 32, "cloud metadata"}, /* 168.63.129.16: Azure WireServer */
    {0x646464C8, 32, "cloud metadata"}, /* 100.100.100.200: Alibaba Cloud */
    {0xFFFFFFFF, 32, "broadcast"},
    {0x00000000, 32, "unspecified"},
    {0x00000000, 8, "\"this network\" (0.0.0.0/8)"}, /* Linux routes 0.x to the host itself */
    {0x0A000000, 8, "private (RFC 1918)"},
    {0x64400000, 10, "carrier-grade NAT (RFC 6598)"},
    {0x7F000000, 8, "loopback"},
    {0xA9FE0000, 16, "link-local"},
    {0xAC100000, 12, "private (RFC 1918)"},
    {0xC0000000, 24, "IETF protocol assignments"},
    {0xC0000200, 24, "documentation"}, /* TEST-NET-1 */
    {0xC0586300, 24, "6to4"},          /* 6to4 relay anycast */
    {0xC0A80000, 16, "private (RFC 1918)"},
    {0xC6120000, 15, "benchmarking (RFC 2544)"},
    {0xC6336400, 24, "documentation"}, /* TEST-NET-2 */
    {0xCB007100, 24, "documentation"}, /* TEST-NET-3 */
    {0xE0000000, 4, "multicast"},
    {0xF0000000, 4, "reserved"},
};

struct v6_class {
    uint8_t net[16];
    int prefix;
    const char *reason;
};

static const struct v6_class v6_classes[] = {
    {{0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54}, 128, "cloud metadata"}, /* fd00:ec2::254 */
    {{0}, 128, "unspecified"},                                                   /* :: */
    {{[15] = 1}, 128, "loopback"},                                               /* ::1 */
    {{[10] = 0xff, [11] = 0xff}, 96, "IPv4-mapped"},                             /* ::ffff:0:0/96 */
    {{0}, 96, "IPv4-compatible"},                                                /* ::/96 */
    {{0x00, 0x64, 0xff, 0x9b}, 96, "NAT64"},                                     /* 64:ff9b::/96 */
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "NAT64"},                   /* 64:ff9b:1::/48 */
    {{0x01, 0x00}, 64, "discard-only"},                                    /* 100::/64 */
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo"},                              /* 2001::/32 */
    {{0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48, "benchmarking (RFC 5180)"}, /* 2001:2::/48 */
    {{0x20, 0x01, 0x00, 0x10}, 28, "ORCHID"},                              /* 2001:10::/28 */
    {{0x20, 0x01, 0x00, 0x20}, 28, "ORCHIDv2"},                            /* 2001:20::/28 */
    {{0x20, 0x01}, 23, "IETF protocol assignments"},                       /* 2001::/23 */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},                       /* 2001:db8::/32 */
    {{0x3f, 0xff}, 20, "documentation"},                                   /* 3fff::/20 */
    {{0x20, 0x02}, 16, "6to4"},                                            /* 2002::/16 */
    {{0xfc}, 7, "unique local (fc00::/7)"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff}, 8, "multicast"},
};

static int prefix_match(const uint8_t *a, const uint8_t *net, int prefix)
{
    int full = prefix / 8, rem = prefix % 8;
    if (memcmp(a, net, (size_t)full) != 0) return 0;
    if (rem == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (a[full] & mask) == (net[full] & mask);
}

const char *addr_forbidden_reason(const struct sockaddr *sa)
{
    if (!sa) return "not an IP address";
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        for (size_t i = 0; i < sizeof(v4_classes) / sizeof(v4_classes[0]); i++) {
            const struct v4_class *c = &v4_classes[i];
            uint32_t mask = c->prefix ? 0xFFFFFFFFu << (32 - c->prefix) : 0;
            if ((a & mask) == c->net) return c->reason;
        }
        return NULL;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        for (size_t i = 0; i < sizeof(v6_classes) / sizeof(v6_classes[0]); i++)
            if (prefix_match(a, v6_classes[i].net, v6_classes[i].prefix))
                return v6_classes[i].reason;
        if ((a[0] & 0xe0) != 0x20) return "reserved"; /* outside 2000::/3 (global unicast) */
        return NULL;
    }
    return "not an IP address";
}

/* Zone ids as written after '%' ("eth0", "25eth0" from a URL's "%25eth0", "2"). */
static int zone_ok(const char *z)
{
    if (!*z) return 0;
    for (; *z; z++)
        if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') || (*z >= '0' && *z <= '9') ||
              *z == '_' || *z == '-' || *z == '.'))
            return 0;
    return 1;
}

int addr_host_is_literal(const char *host, struct sockaddr_storage *out)
{
    char buf[256];
    if (!host) return 0;
    size_t n = strlen(host);
    if (n == 0 || n >= sizeof(buf)) return 0;
    memcpy(buf, host, n + 1);
    if (buf[0] == '[') { /* "[::1]" as in URLs; "[127.0.0.1]" counts too */
        if (n < 3 || buf[n - 1] != ']') return 0;
        memmove(buf, buf + 1, n - 2);
        n -= 2;
        buf[n] = '\0';
    } else if (n > 1 && buf[n - 1] == '.' && buf[n - 2] != '.') {
        buf[--n] = '\0'; /* "127.0.0.1." resolves like "127.0.0.1" */
    }

    if (strchr(buf, ':')) {
        struct in6_addr a6;
        uint32_t scope = 0;
        char *pct = strchr(buf, '%');
        if (pct) {
            if (!zone_ok(pct + 1)) return 0;
            *pct = '\0';
            char *end;
            unsigned long z = strtoul(pct + 1, &end, 10);
            if (*end == '\0' && z <= UINT32_MAX) scope = (uint32_t)z;
        }
        if (inet_pton(AF_INET6, buf, &a6) != 1) return 0;
        if (out) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
            memset(out, 0, sizeof(*out));
            s6->sin6_family = AF_INET6;
            s6->sin6_addr = a6;
            s6->sin6_scope_id = scope;
        }
        return 1;
    }

    /* inet_aton's numbers-and-dots: decimal, octal (leading 0), hex (0x),
     * one to four parts. It stops at whitespace and ignores what follows
     * ("1.2.3.4 foo"): only strings made of nothing but number characters
     * count, so it always parses the full length. */
    struct in_addr a4;
    if (strspn(buf, "0123456789abcdefABCDEFxX.") != n) return 0;
    if (inet_aton(buf, &a4) == 0) return 0;
    if (out) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        memset(out, 0, sizeof(*out));
        s4->sin_family = AF_INET;
        s4->sin_addr = a4;
    }
    return 1;
}

const char *addr_to_str(const struct sockaddr *sa, char *buf, size_t cap)
{
    const void *a = NULL;
    if (!cap) return buf;
    if (sa && sa->sa_family == AF_INET) a = &((const struct sockaddr_in *)sa)->sin_addr;
    if (sa && sa->sa_family == AF_INET6) a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!a || !inet_ntop(sa->sa_family, a, buf, (socklen_t)cap))
        snprintf(buf, cap, "%s", a ? "?" : "(not an IP address)");
    return buf;
}
