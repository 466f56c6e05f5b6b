/* preview.c - preview ingress logic without I/O. See preview.h. */
#include "preview.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int preview_parse_host(const char *host, const char *domain, uint16_t *port,
                       char id[PREVIEW_ID_LEN + 1])
{
    const char *p = host;
    unsigned v = 0;
    int digits = 0;
    if (*p == '0') return -1; /* no leading zeros: one spelling per preview */
    for (; *p >= '0' && *p <= '9'; p++) {
        if (++digits > 5) return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (!digits || v == 0 || v > 65535 || *p != '-') return -1;
    p++;
    for (int i = 0; i < PREVIEW_ID_LEN; i++) {
        if (!is_hex(p[i])) return -1;
        id[i] = lower(p[i]);
    }
    id[PREVIEW_ID_LEN] = '\0';
    p += PREVIEW_ID_LEN;
    if (*p != '.' || strcasecmp(p + 1, domain) != 0) return -1;
    *port = (uint16_t)v;
    return 0;
}

int preview_token_eq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) return 0; /* the length is no secret: every token has the same */
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int preview_token_valid(const char *t)
{
    size_t n = strlen(t);
    if (n < 16 || n > PREVIEW_TOKEN_MAX) return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '-' || *t == '_'))
            return 0;
    return 1;
}

int preview_query_token(const char *url, size_t url_len, char *out, size_t cap, const char **tok,
                        size_t *tok_len)
{
    const char *q = memchr(url, '?', url_len);
    if (!q || cap < url_len + 1) return 0;
    const char *end = url + url_len;
    int found = 0;
    size_t o = (size_t)(q - url);
    memcpy(out, url, o);
    int first = 1;
    for (const char *s = q + 1; s <= end;) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        size_t nlen = (size_t)((eq ? eq : e) - s);
        if (nlen == 9 && memcmp(s, "sbx_token", 9) == 0) {
            if (!found) {
                *tok = eq ? eq + 1 : e;
                *tok_len = eq ? (size_t)(e - eq - 1) : 0;
            }
            found = 1;
        } else if (e > s) { /* kept (empty parameters "a&&b" are dropped) */
            out[o++] = first ? '?' : '&';
            first = 0;
            memcpy(out + o, s, (size_t)(e - s));
            o += (size_t)(e - s);
        }
        s = e + 1;
    }
    if (!found) return 0;
    out[o] = '\0';
    return 1;
}

/* ---- the head ---- */

static int name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static const char *trim(const char *s, const char *e, const char **end)
{
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *end = e;
    return s;
}

/* A Cookie header's value [v, ve): checks for the token, writes what stays
 * ("a=1; b=2") to out; returns its length. */
static size_t filter_cookies(const char *v, const char *ve, uint16_t port, const char *token,
                             char *out, struct preview_head *ph)
{
    char mine[32];
    size_t mine_len = (size_t)snprintf(mine, sizeof(mine), "sbx_preview_%u", (unsigned)port);
    size_t o = 0;
    for (const char *s = v; s < ve;) {
        const char *semi = memchr(s, ';', (size_t)(ve - s));
        const char *e = semi ? semi : ve;
        const char *pe;
        const char *ps = trim(s, e, &pe);
        if (pe > ps) {
            const char *eq = memchr(ps, '=', (size_t)(pe - ps));
            const char *ne;
            const char *ns = trim(ps, eq ? eq : pe, &ne);
            size_t nlen = (size_t)(ne - ns);
            if (nlen >= 12 && strncmp(ns, "sbx_preview_", 12) == 0) {
                if (token && eq && nlen == mine_len && memcmp(ns, mine, nlen) == 0) {
                    const char *ve2;
                    const char *vs = trim(eq + 1, pe, &ve2);
                    if (preview_token_eq(vs, (size_t)(ve2 - vs), token)) ph->cookie_ok = 1;
                }
            } else {
                if (o) {
                    memcpy(out + o, "; ", 2);
                    o += 2;
                }
                memcpy(out + o, ps, (size_t)(pe - ps));
                o += (size_t)(pe - ps);
            }
        }
        s = e + 1;
    }
    return o;
}

size_t preview_rewrite_head(const char *head, size_t len, uint16_t port, const char *token,
                            char *out, struct preview_head *ph)
{
    memset(ph, 0, sizeof(*ph));
    const char *p = head, *end = head + len;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    size_t o = 0;
    int line_no = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r') le--;
        if (le == p) break;   /* the empty line: the end of the head */
        if (line_no++ == 0) { /* the request line */
            memcpy(out + o, p, (size_t)(le - p));
            o += (size_t)(le - p);
            memcpy(out + o, "\r\n", 2);
            o += 2;
            p = next;
            continue;
        }
        if (*p == ' ' || *p == '\t') {
            ph->folded = 1;
            p = next;
            continue;
        }
        const char *colon = memchr(p, ':', (size_t)(le - p));
        const char *ne;
        const char *ns = trim(p, colon ? colon : le, &ne);
        size_t nlen = (size_t)(ne - ns);
        const char *ve;
        const char *vs = colon ? trim(colon + 1, le, &ve) : (ve = le);
        if (colon && name_is(ns, nlen, "Cookie")) {
            size_t start = o;
            memcpy(out + o, "Cookie: ", 8);
            o += 8;
            size_t k = filter_cookies(vs, ve, port, token, out + o, ph);
            if (k == 0) {
                o = start; /* nothing left: no header */
            } else {
                o += k;
                memcpy(out + o, "\r\n", 2);
                o += 2;
            }
        } else if (colon && (name_is(ns, nlen, "X-Forwarded-Host") ||
                             name_is(ns, nlen, "X-Forwarded-Proto"))) {
            /* ours replace them */
        } else {
            if (colon && name_is(ns, nlen, "Host")) {
                ph->host_headers++;
                size_t hl = (size_t)(ve - vs);
                if (hl >= sizeof(ph->host_raw)) hl = 0; /* too long: no preview has such a name */
                memcpy(ph->host_raw, vs, hl);
                ph->host_raw[hl] = '\0';
            }
            memcpy(out + o, p, (size_t)(le - p));
            o += (size_t)(le - p);
            memcpy(out + o, "\r\n", 2);
            o += 2;
        }
        p = next;
    }
    if (ph->host_raw[0]) {
        size_t hl = strlen(ph->host_raw);
        memcpy(out + o, "X-Forwarded-Host: ", 18);
        o += 18;
        memcpy(out + o, ph->host_raw, hl);
        o += hl;
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    static const char proto[] = "X-Forwarded-Proto: http\r\n\r\n";
    memcpy(out + o, proto, sizeof(proto) - 1);
    o += sizeof(proto) - 1;
    return o;
}
