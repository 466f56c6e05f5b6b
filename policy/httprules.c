/* httprules.c - method/path rules: syntax, request-target normalisation and
 * glob matching. Pure logic. See httprules.h. */
#include "httprules.h"

#include <string.h>
#include <strings.h>

const char *httprule_check_method(const char *m, size_t len)
{
    if (len == 1 && m[0] == '*') return NULL;
    if (len == 0) return "is empty";
    if (len > HTTPRULE_METHOD_MAX) return "is longer than 15 characters";
    for (size_t i = 0; i < len; i++) {
        char c = m[i];
        if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return "must be \"*\" (any method) or upper-case letters, '-' and '_' (e.g. \"GET\")";
    }
    return NULL;
}

/* "." or "..", also before a ';' parameter ("..;x", "..%3B"): servers that
 * strip parameters before resolving the path would climb out. */
static int dot_segment(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[k] != ';' &&
           !(s[k] == '%' && k + 2 < n && s[k + 1] == '3' && (s[k + 2] == 'b' || s[k + 2] == 'B')))
        k++;
    return (k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.');
}

const char *httprule_check_path(const char *path)
{
    if (path[0] != '/') return "the path must start with '/'";
    size_t n = strlen(path);
    if (n > HTTPRULE_PATH_MAX) return "the path is longer than 255 bytes";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x21 || c > 0x7e) return "the path may only hold printable ASCII, no spaces";
        if (c == '?') return "'?' is not allowed: rules match the path, never the query string";
        if (c == '#') return "'#' is not allowed: requests carry no fragment";
        if (c == '%')
            return "'%' is not allowed: write the path decoded (requests are matched after "
                   "decoding their %-escaped unreserved characters)";
        if (c == '\\') return "'\\' is not allowed (requests with a backslash are refused)";
    }
    const char *seg = path + 1;
    for (;;) {
        size_t sl = strcspn(seg, "/");
        int last = seg[sl] == '\0';
        /* as httprule_request_path sees segments: a rule that no request
         * can match would be dead weight, taken for a working rule */
        if (dot_segment(seg, sl))
            return "\".\" and \"..\" segments are not allowed, also before a ';' parameter "
                   "(requests with them are refused)";
        if (sl == 0 && !last) return "empty segment (\"//\"): not allowed";
        for (size_t i = 0; i + 1 < sl; i++)
            if (seg[i] == '*' && seg[i + 1] == '*' && sl != 2)
                return "\"**\" must be a whole segment (e.g. \"/v1/**\")";
        if (last) break;
        seg += sl + 1;
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

const char *httprule_request_path(const char *target, char *out, size_t cap)
{
    const char *p;
    if (!target || !*target) return "empty request target";
    if (strchr(target, '#')) return "'#' (a fragment) in the request target";
    if (target[0] == '/') {
        p = target;
    } else if (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0) {
        p = strstr(target, "://") + 3;
        p += strcspn(p, "/?");
    } else if (strcmp(target, "*") == 0) {
        return "asterisk-form request target (OPTIONS *): http rules match paths only";
    } else {
        return "the request target is neither a path nor an absolute http(s) URL";
    }
    size_t n = strcspn(p, "?");
    if (n > HTTPRULE_TARGET_MAX) return "the request path is longer than 8192 bytes";
    if (cap < 2 || cap < n + 1) return "the request path is too long";
    size_t o = 0;
    if (n == 0) out[o++] = '/'; /* "http://h" or "http://h?q" */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') return "a backslash in the request path";
        if (c < 0x21 || c > 0x7e) return "a control, space or non-ASCII byte in the request path";
        if (c != '%') {
            out[o++] = (char)c;
            continue;
        }
        int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = hi >= 0 ? hexval(p[i + 2]) : -1;
        if (hi < 0 || lo < 0) return "a malformed %-escape in the request path";
        int v = hi * 16 + lo;
        if (v == 0) return "%00 in the request path";
        if (v == '/') return "an encoded slash (%2F) in the request path";
        if (v == '\\') return "an encoded backslash (%5C) in the request path";
        if (unreserved(v)) {
            out[o++] = (char)v;
        } else {
            memcpy(out + o, p + i, 3);
            o += 3;
        }
        i += 2;
    }
    out[o] = '\0';
    for (const char *seg = out + 1;;) {
        size_t sl = strcspn(seg, "/");
        if (dot_segment(seg, sl)) return "a \".\" or \"..\" segment in the request path";
        if (!seg[sl]) break;
        seg += sl + 1;
    }
    return NULL;
}

/* One segment: '*' matches any run of bytes (the classic greedy match that
 * backtracks to the last star only: O(pl * sl) at worst). */
static int seg_match(const char *p, size_t pl, const char *s, size_t sl)
{
    if (pl == 1 && p[0] == '*') return sl > 0;
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    while (si < sl) {
        if (pi < pl && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pl && p[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pl && p[pi] == '*')
        pi++;
    return pi == pl;
}

/* A cursor over the '/'-separated segments of a string (after its leading
 * '/'): pos is the start of the current segment, or len + 1 at the end. */
struct segs {
    const char *s;
    size_t len;
};

static size_t seg_len(const struct segs *g, size_t pos)
{
    const char *e = memchr(g->s + pos, '/', g->len - pos);
    return e ? (size_t)(e - (g->s + pos)) : g->len - pos;
}

static size_t seg_next(const struct segs *g, size_t pos)
{
    return pos + seg_len(g, pos) + 1;
}

static int seg_is_globstar(const struct segs *g, size_t pos)
{
    return pos <= g->len && seg_len(g, pos) == 2 && g->s[pos] == '*' && g->s[pos + 1] == '*';
}

int httprule_path_match(const char *pattern, const char *path)
{
    if (!pattern || !path || pattern[0] != '/' || path[0] != '/') return 0;
    struct segs pg = {pattern + 1, strlen(pattern + 1)}, sg = {path + 1, strlen(path + 1)};
    size_t pi = 0, si = 0, star_p = 0, star_s = 0;
    int have_star = 0;
    /* Segments of the path are the "characters", "**" the star: the same
     * greedy match as seg_match, one level up. */
    while (si <= sg.len) {
        if (seg_is_globstar(&pg, pi)) {
            have_star = 1;
            star_p = pi = seg_next(&pg, pi);
            star_s = si;
        } else if (pi <= pg.len &&
                   seg_match(pg.s + pi, seg_len(&pg, pi), sg.s + si, seg_len(&sg, si))) {
            pi = seg_next(&pg, pi);
            si = seg_next(&sg, si);
        } else if (have_star) {
            star_s = seg_next(&sg, star_s);
            si = star_s;
            pi = star_p;
        } else {
            return 0;
        }
    }
    while (seg_is_globstar(&pg, pi))
        pi = seg_next(&pg, pi);
    return pi > pg.len;
}
