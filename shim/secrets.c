/* secrets.c - secret placeholders: parsing the control message's secrets and
 * rewriting request heads. Pure logic. See secrets.h. */
#include "secrets.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "policy.h"
#include "util.h"

#define SECRETS_ERR_CODE "invalid_secret"
#define BAD(err, ...) sbx_error_kind((err), SBX_E_INVALID, SECRETS_ERR_CODE, __VA_ARGS__)

#define PREFIX_LEN (sizeof(SECRET_PLACEHOLDER_PREFIX) - 1)

static int recode(sbx_err *err)
{
    err->kind = SBX_E_INVALID;
    err->code = SECRETS_ERR_CODE;
    return -1;
}

static void wipe_free(void *p, size_t n)
{
    if (!p) return;
    explicit_bzero(p, n);
    free(p);
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int secret_placeholder_valid(const char *s)
{
    if (!s || strlen(s) != SECRET_PLACEHOLDER_LEN) return 0;
    if (memcmp(s, SECRET_PLACEHOLDER_PREFIX, PREFIX_LEN) != 0) return 0;
    for (size_t i = PREFIX_LEN; i < SECRET_PLACEHOLDER_LEN; i++)
        if (!is_lower_hex(s[i])) return 0;
    return 1;
}

/* ---- parsing ---- */

static int valid_env_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SECRET_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

static int parse_hosts(struct json_object *o, const char *where, struct secret *s, sbx_err *err)
{
    struct json_object *arr;
    char apath[256], epath[300];
    if (json_get_arr(o, where, "hosts", 1, &arr, err) < 0) return recode(err);
    json_path(apath, sizeof(apath), where, "hosts");
    size_t n = json_object_array_length(arr);
    if (n == 0)
        return BAD(err, "%s: list at least one host (\"api.example.com\" or \"*.example.com\")",
                   apath);
    if (n > SECRET_HOSTS_MAX)
        return BAD(err, "%s: at most %d hosts (got %zu)", apath, SECRET_HOSTS_MAX, n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        snprintf(epath, sizeof(epath), "%s[%zu]", apath, i);
        if (!v || !json_object_is_type(v, json_type_string))
            return BAD(err, "%s: must be a string (a host name)", epath);
        const char *h = json_object_get_string(v);
        if (strlen(h) != (size_t)json_object_get_string_len(v))
            return BAD(err, "%s: must not contain NUL bytes", epath);
        struct secret_host *sh = &s->hosts[i];
        if (policy_parse_host_pattern(h, epath, sh->name, sizeof(sh->name), &sh->wildcard, err) < 0)
            return recode(err);
        for (size_t j = 0; j < i; j++)
            if (s->hosts[j].wildcard == sh->wildcard && strcmp(s->hosts[j].name, sh->name) == 0)
                return BAD(err, "%s: \"%s\" is listed twice (also [%zu])", epath, h, j);
    }
    s->nhosts = (int)n;
    return 0;
}

static int parse_secret(const char *name, struct json_object *o, const struct secret_set *set,
                        struct secret *s, sbx_err *err)
{
    static const char *const fields[] = {"placeholder", "value", "hosts", "query", "require", NULL};
    char where[128], path[256];
    const char *ph;
    snprintf(where, sizeof(where), "secrets[\"%.80s\"]", name);
    if (!valid_env_name(name))
        return BAD(err,
                   "%s: not a valid environment variable name (a letter or '_', then letters, "
                   "digits and '_'; at most %d characters)",
                   where, SECRET_NAME_MAX);
    if (!o || !json_object_is_type(o, json_type_object))
        return BAD(err,
                   "%s: must be an object ({\"placeholder\": ..., \"value\": ..., "
                   "\"hosts\": [...]})",
                   where);
    if (json_check_fields(o, where, fields, err) < 0) return recode(err);
    snprintf(s->name, sizeof(s->name), "%s", name);

    if (json_get_str(o, where, "placeholder", 1, &ph, err) < 0) return recode(err);
    if (!secret_placeholder_valid(ph))
        return BAD(err, "%s: not a placeholder (\"%s\" and 40 lower-case hex digits)",
                   json_path(path, sizeof(path), where, "placeholder"), SECRET_PLACEHOLDER_PREFIX);
    for (int i = 0; i < set->n; i++)
        if (strcmp(set->v[i].placeholder, ph) == 0)
            return BAD(err, "%s: the same placeholder as secrets[\"%s\"]",
                       json_path(path, sizeof(path), where, "placeholder"), set->v[i].name);
    memcpy(s->placeholder, ph, SECRET_PLACEHOLDER_LEN + 1);

    struct json_object *v = NULL;
    json_object_object_get_ex(o, "value", &v);
    if (v) {
        json_path(path, sizeof(path), where, "value");
        if (!json_object_is_type(v, json_type_string))
            return BAD(err, "%s: must be a string, or null when the value is not available", path);
        const char *val = json_object_get_string(v);
        size_t n = (size_t)json_object_get_string_len(v);
        if (n > SECRET_VALUE_MAX)
            return BAD(err, "%s: at most %d bytes (got %zu)", path, SECRET_VALUE_MAX, n);
        if (memchr(val, '\r', n) || memchr(val, '\n', n) || memchr(val, '\0', n))
            return BAD(err, "%s: must not contain CR, LF or NUL (it goes into header values)",
                       path);
        s->value = malloc(n + 1);
        if (!s->value) return sbx_error(err, ENOMEM, "%s", path);
        memcpy(s->value, val, n);
        s->value[n] = '\0';
        s->value_len = n;
    }
    if (parse_hosts(o, where, s, err) < 0) return -1;
    if (json_get_bool(o, where, "query", &s->query, err) < 0) return recode(err);
    if (json_get_bool(o, where, "require", &s->require, err) < 0) return recode(err);
    return 0;
}

static void wipe_json_values(struct json_object *obj)
{
    if (!obj || !json_object_is_type(obj, json_type_object)) return;
    json_object_object_foreach(obj, k, o)
    {
        (void)k;
        struct json_object *v = NULL;
        if (!o || !json_object_is_type(o, json_type_object)) continue;
        if (!json_object_object_get_ex(o, "value", &v) || !v) continue;
        if (!json_object_is_type(v, json_type_string)) continue;
        explicit_bzero((char *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
    }
}

static int parse_set(struct json_object *obj, struct secret_set *out, sbx_err *err)
{
    if (!obj) return 0;
    if (!json_object_is_type(obj, json_type_object))
        return BAD(err, "secrets: must be an object ({\"NAME\": {...}})");
    int n = json_object_object_length(obj);
    if (n > SECRETS_MAX) return BAD(err, "secrets: at most %d secrets (got %d)", SECRETS_MAX, n);
    if (n == 0) return 0;
    out->v = calloc((size_t)n, sizeof(*out->v));
    if (!out->v) return sbx_error(err, ENOMEM, "secrets");
    json_object_object_foreach(obj, name, o)
    {
        struct secret *s = &out->v[out->n];
        if (parse_secret(name, o, out, s, err) < 0) {
            wipe_free(s->value, s->value_len);
            s->value = NULL;
            return -1;
        }
        out->n++;
    }
    return 0;
}

int secrets_from_json(struct json_object *obj, struct secret_set *out, sbx_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = parse_set(obj, out, err);
    wipe_json_values(obj);
    if (rc < 0) secrets_free(out);
    return rc;
}

void secrets_free(struct secret_set *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        wipe_free(s->v[i].value, s->v[i].value_len);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* ---- matching ---- */

static int host_match_norm(const struct secret *s, const char *norm)
{
    if (!norm) return 0;
    for (int i = 0; i < s->nhosts; i++)
        if (policy_host_pattern_match(s->hosts[i].name, s->hosts[i].wildcard, norm)) return 1;
    return 0;
}

int secret_host_match(const struct secret *s, const char *host)
{
    char norm[POLICY_NAME_MAX + 1];
    if (!s || policy_normalize_host(host, norm, sizeof(norm)) < 0) return 0;
    return host_match_norm(s, norm);
}

/* The secret whose placeholder starts at p (avail bytes there), or NULL. */
static const struct secret *known_at(const struct secret_set *set, const char *p, size_t avail)
{
    if (avail < SECRET_PLACEHOLDER_LEN) return NULL;
    for (int i = 0; i < set->n; i++)
        if (memcmp(p, set->v[i].placeholder, SECRET_PLACEHOLDER_LEN) == 0) return &set->v[i];
    return NULL;
}

/* The first known placeholder in [p, p + n): its secret, *at its offset. */
static const struct secret *next_known(const struct secret_set *set, const char *p, size_t n,
                                       size_t *at)
{
    size_t i = 0;
    while (set && set->n > 0 && i < n) {
        const char *q = memmem(p + i, n - i, SECRET_PLACEHOLDER_PREFIX, PREFIX_LEN);
        if (!q) break;
        size_t off = (size_t)(q - p);
        const struct secret *s = known_at(set, q, n - off);
        if (s) {
            *at = off;
            return s;
        }
        i = off + 1;
    }
    return NULL;
}

const struct secret *secrets_find_placeholder(const struct secret_set *set, const void *buf,
                                              size_t len)
{
    size_t at;
    if (!buf) return NULL;
    return next_known(set, buf, len, &at);
}

/* ---- growing buffers that never leave a copy behind ---- */

struct wbuf {
    char *p;
    size_t len, cap;
    int oom, toobig;
};

static int wb_reserve(struct wbuf *b, size_t extra)
{
    if (b->oom || b->toobig) return -1;
    if (extra > SECRETS_HEAD_OUT_MAX - b->len) {
        b->toobig = 1;
        return -1;
    }
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = malloc(cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    if (b->len) memcpy(p, b->p, b->len);
    wipe_free(b->p, b->cap); /* no realloc: it would leave the old bytes in the heap */
    b->p = p;
    b->cap = cap;
    return 0;
}

static int wb_put(struct wbuf *b, const void *d, size_t n)
{
    if (wb_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static void wb_wipe(struct wbuf *b)
{
    wipe_free(b->p, b->cap);
    memset(b, 0, sizeof(*b));
}

/* ---- base64 and percent-encoding ---- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with the padding optional (clients send Basic credentials
 * without it; common/util.c's b64_decode insists on it). Decoded bytes to out (n * 3 / 4 + 3
 * bytes are enough); returns their count, or -1 when in is not base64. */
static long b64_decode_loose(const char *in, size_t n, unsigned char *out)
{
    size_t m = n;
    if (n % 4 == 0 && n >= 4 && in[n - 1] == '=') m -= in[n - 2] == '=' ? 2 : 1;
    if (m % 4 == 1) return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < m; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static int b64_encode_into(struct wbuf *b, const unsigned char *in, size_t n)
{
    if (wb_reserve(b, (n + 2) / 3 * 4) < 0) return -1;
    b->len += b64_encode(in, n, b->p + b->len); /* NUL-terminated: wb_reserve kept room */
    return 0;
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int pct_encode_into(struct wbuf *b, const unsigned char *in, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (wb_reserve(b, n * 3) < 0) return -1;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++) {
        if (unreserved(in[i])) {
            *o++ = (char)in[i];
        } else {
            *o++ = '%';
            *o++ = hex[in[i] >> 4];
            *o++ = hex[in[i] & 15];
        }
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

/* ---- rewriting a head ---- */

enum where_in_head {
    AT_HEADER_VALUE,
    AT_BASIC, /* inside decoded Basic credentials: a header value too */
    AT_QUERY,
    AT_PATH,         /* the request-target outside the query string */
    AT_REQUEST_LINE, /* method or version */
    AT_HEADER_NAME,
};

struct rewrite {
    const struct secret_set *set;
    const char *host; /* as given, for messages */
    const char *norm; /* normalised, or NULL: no secret matches */
    const char *in;
    size_t len;
    size_t pos;     /* input copied to out up to here */
    size_t handled; /* placeholder occurrences in the input seen by a region scan */
    struct wbuf out;
    struct secrets_result *res;
};

static void deny(struct secrets_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void deny(struct secrets_result *res, const char *fmt, ...)
{
    if (res->deny) return; /* the first reason stands */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    res->deny = 1;
}

static void mark_injected(struct secrets_result *res, const struct secret *s)
{
    for (int i = 0; i < res->ninjected; i++)
        if (res->injected[i] == s->name) return;
    if (res->ninjected < SECRETS_MAX) res->injected[res->ninjected++] = s->name;
}

static int was_injected(const struct secrets_result *res, const struct secret *s)
{
    for (int i = 0; i < res->ninjected; i++)
        if (res->injected[i] == s->name) return 1;
    return 0;
}

/* May s's placeholder be replaced here? Denies (and returns 0) when not. */
static int may_inject(struct rewrite *w, const struct secret *s, enum where_in_head at)
{
    if (!host_match_norm(s, w->norm)) {
        deny(w->res, "placeholder of secret %s sent to %.120s, which is not one of its hosts",
             s->name, w->host ? w->host : "(no host)");
        return 0;
    }
    switch (at) {
    case AT_HEADER_VALUE:
    case AT_BASIC:
        break;
    case AT_QUERY:
        if (!s->query) {
            deny(w->res,
                 "placeholder of secret %s in the query string; the secret does not allow that "
                 "(\"query\": true)",
                 s->name);
            return 0;
        }
        break;
    case AT_PATH:
        deny(w->res,
             "placeholder of secret %s in the request path; placeholders are replaced in header "
             "values only (and in the query string with \"query\": true)",
             s->name);
        return 0;
    case AT_REQUEST_LINE:
        deny(w->res, "placeholder of secret %s in the request line (method or version)", s->name);
        return 0;
    case AT_HEADER_NAME:
        deny(w->res, "placeholder of secret %s in a header name", s->name);
        return 0;
    }
    if (!s->value) {
        deny(w->res,
             "secret %s is not held by the shim any more (it restarted); create a new session",
             s->name);
        return 0;
    }
    if (at == AT_HEADER_VALUE &&
        (memchr(s->value, '\r', s->value_len) || memchr(s->value, '\n', s->value_len) ||
         memchr(s->value, '\0', s->value_len))) {
        deny(w->res, "secret %s has a value that cannot go into a header (CR, LF or NUL)", s->name);
        return 0;
    }
    return 1;
}

/* Copy the input up to `to` into the output. */
static int copy_upto(struct rewrite *w, size_t to)
{
    if (to <= w->pos) return 0;
    if (wb_put(&w->out, w->in + w->pos, to - w->pos) < 0) return -1;
    w->pos = to;
    return 0;
}

/* Replace every known placeholder in the input's [a, b), or deny. Returns -1
 * when the request is denied (or the output failed). */
static int scan_region(struct rewrite *w, size_t a, size_t b, enum where_in_head at)
{
    size_t i = a, off;
    const struct secret *s;
    while (i < b && (s = next_known(w->set, w->in + i, b - i, &off))) {
        size_t start = i + off;
        w->handled++;
        if (!may_inject(w, s, at)) return -1;
        if (copy_upto(w, start) < 0) return -1;
        int rc = at == AT_QUERY ? pct_encode_into(&w->out, s->value, s->value_len)
                                : wb_put(&w->out, s->value, s->value_len);
        if (rc < 0) return -1;
        w->pos = start + SECRET_PLACEHOLDER_LEN;
        mark_injected(w->res, s);
        i = w->pos;
    }
    return 0;
}

/* The Basic credentials in the input's [a, b): when they decode and hold
 * placeholders, replace those and re-encode. *done = 0 when they do not
 * decode (then the caller scans the raw value). */
static int rewrite_basic(struct rewrite *w, size_t a, size_t b, int *done)
{
    size_t n = b - a;
    unsigned char *dec = malloc(n / 4 * 3 + 4);
    *done = 0;
    if (!dec) {
        w->out.oom = 1;
        return -1;
    }
    long dl = b64_decode_loose(w->in + a, n, dec);
    if (dl < 0) {
        wipe_free(dec, n / 4 * 3 + 4);
        return 0;
    }
    *done = 1;
    const struct secret *s;
    size_t i = 0, off, from = 0, k = 0;
    struct wbuf nb = {0};
    int rc = 0;
    while ((s = next_known(w->set, (const char *)dec + i, (size_t)dl - i, &off))) {
        size_t start = i + off;
        k++;
        if (!may_inject(w, s, AT_BASIC) || wb_put(&nb, dec + from, start - from) < 0 ||
            wb_put(&nb, s->value, s->value_len) < 0) {
            rc = -1;
            break;
        }
        mark_injected(w->res, s);
        from = i = start + SECRET_PLACEHOLDER_LEN;
    }
    if (rc == 0 && k > 0) {
        if (wb_put(&nb, dec + from, (size_t)dl - from) < 0 || copy_upto(w, a) < 0 ||
            b64_encode_into(&w->out, (const unsigned char *)nb.p, nb.len) < 0)
            rc = -1;
        else
            w->pos = b;
    }
    if (nb.oom) w->out.oom = 1;
    if (nb.toobig) w->out.toobig = 1;
    wb_wipe(&nb);
    wipe_free(dec, n / 4 * 3 + 4);
    return rc;
}

static int tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_auth_header(const char *name, size_t n)
{
    return (n == 13 && strncasecmp(name, "Authorization", 13) == 0) ||
           (n == 19 && strncasecmp(name, "Proxy-Authorization", 19) == 0);
}

/* A header line [a, e) (no line end). */
static int header_line(struct rewrite *w, size_t a, size_t e)
{
    const char *in = w->in;
    if (in[a] == ' ' || in[a] == '\t') {
        deny(w->res, "obsolete line folding (a header line starting with a space or tab)");
        return -1;
    }
    const char *colon = memchr(in + a, ':', e - a);
    if (!colon) {
        deny(w->res, "a header line without ':'");
        return -1;
    }
    size_t c = (size_t)(colon - in);
    if (scan_region(w, a, c, AT_HEADER_NAME) < 0) return -1;
    if (c == a) {
        deny(w->res, "a header line with an empty name");
        return -1;
    }
    for (size_t i = a; i < c; i++) {
        if (!tchar((unsigned char)in[i])) {
            deny(w->res, "a header name with a character that is not allowed there");
            return -1;
        }
    }
    size_t v = c + 1, ve = e;
    while (v < ve && (in[v] == ' ' || in[v] == '\t'))
        v++;
    while (ve > v && (in[ve - 1] == ' ' || in[ve - 1] == '\t'))
        ve--;
    if (is_auth_header(in + a, c - a) && ve - v > 6 && strncasecmp(in + v, "basic ", 6) == 0) {
        size_t t = v + 6;
        while (t < ve && in[t] == ' ')
            t++;
        if (t < ve && !memchr(in + t, ' ', ve - t) && !memchr(in + t, '\t', ve - t)) {
            int done = 0;
            if (rewrite_basic(w, t, ve, &done) < 0) return -1;
            if (done) return 0;
        }
    }
    return scan_region(w, c + 1, e, AT_HEADER_VALUE);
}

/* The request line [0, e). */
static int request_line(struct rewrite *w, size_t e)
{
    const char *in = w->in;
    const char *sp1 = memchr(in, ' ', e);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(in + e - sp1 - 1)) : NULL;
    if (!sp1 || sp1 == in || !sp2 || sp2 == sp1 + 1 || sp2 + 1 >= in + e ||
        memchr(sp2 + 1, ' ', (size_t)(in + e - sp2 - 1))) {
        deny(w->res, "a malformed request line (expected METHOD TARGET HTTP/1.x)");
        return -1;
    }
    size_t t = (size_t)(sp1 + 1 - in), te = (size_t)(sp2 - in);
    const char *q = memchr(in + t, '?', te - t);
    size_t pe = q ? (size_t)(q - in) : te; /* path: [t, pe) */
    const char *h = memchr(in + pe, '#', te - pe);
    size_t qe = h ? (size_t)(h - in) : te; /* query: (pe, qe); fragment: [qe, te) */
    if (scan_region(w, 0, t, AT_REQUEST_LINE) < 0 || scan_region(w, t, pe, AT_PATH) < 0 ||
        (q && scan_region(w, pe + 1, qe, AT_QUERY) < 0) || scan_region(w, qe, te, AT_PATH) < 0 ||
        scan_region(w, te, e, AT_REQUEST_LINE) < 0)
        return -1;
    return 0;
}

/* Line [a, *e) ending at the LF at *next - 1 (a CR before it is not part of
 * the line). -1 when there is no LF. */
static int next_line(const char *in, size_t len, size_t a, size_t *e, size_t *next)
{
    const char *lf = memchr(in + a, '\n', len - a);
    if (!lf) return -1;
    size_t l = (size_t)(lf - in);
    *next = l + 1;
    *e = l > a && in[l - 1] == '\r' ? l - 1 : l;
    return 0;
}

/* Denies what is malformed; the scans deny misplaced placeholders. */
static void walk_head(struct rewrite *w)
{
    const char *in = w->in;
    size_t len = w->len, e, next;
    if (memchr(in, '\0', len)) {
        deny(w->res, "a NUL byte in the request head");
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r' && (i + 1 >= len || in[i + 1] != '\n')) {
            deny(w->res, "a bare CR in the request head");
            return;
        }
    }
    if (next_line(in, len, 0, &e, &next) < 0 || e == 0) {
        deny(w->res, "an incomplete request head (no request line)");
        return;
    }
    if (request_line(w, e) < 0) return;
    for (size_t a = next;; a = next) {
        if (a >= len || next_line(in, len, a, &e, &next) < 0) {
            deny(w->res, "an incomplete request head (no empty line at its end)");
            return;
        }
        if (e == a) break; /* the empty line */
        if (header_line(w, a, e) < 0) return;
    }
    if (next != len) deny(w->res, "bytes after the empty line that ends the request head");
}

int secrets_rewrite_head(const struct secret_set *set, const char *host, const char *head,
                         size_t len, char **out, size_t *outlen, struct secrets_result *res)
{
    static const struct secret_set none = {0, NULL};
    char norm[POLICY_NAME_MAX + 1];
    struct rewrite w = {.set = set ? set : &none, .host = host, .in = head, .len = len, .res = res};
    memset(res, 0, sizeof(*res));
    *out = NULL;
    *outlen = 0;
    if (host && policy_normalize_host(host, norm, sizeof(norm)) == 0) w.norm = norm;
    if (!head || len == 0) {
        deny(res, "an empty request head");
        return 0;
    }
    if (len > SECRETS_HEAD_OUT_MAX) {
        deny(res, "the request head is longer than %d bytes", SECRETS_HEAD_OUT_MAX);
        return 0;
    }
    if (wb_reserve(&w.out, len + 256 < SECRETS_HEAD_OUT_MAX ? len + 256 : len) < 0) goto fail;
    walk_head(&w);
    if (w.out.oom) goto fail;
    if (w.out.toobig)
        deny(res, "the request head would be longer than %d bytes with the secrets put in",
             SECRETS_HEAD_OUT_MAX);
    if (!res->deny) {
        for (int i = 0; i < w.set->n; i++) {
            const struct secret *s = &w.set->v[i];
            if (s->require && host_match_norm(s, w.norm) && !was_injected(res, s)) {
                deny(res,
                     "secret %s is required for host %.120s but the request carries no "
                     "placeholder for it",
                     s->name, host);
                break;
            }
        }
    }
    if (!res->deny) {
        /* Every placeholder in the head went through a region scan above:
         * anything else is a bug here, refused rather than sent. */
        size_t total = 0, i = 0, off;
        while (i < len && next_known(w.set, head + i, len - i, &off)) {
            total++;
            i += off + SECRET_PLACEHOLDER_LEN;
        }
        if (total != w.handled)
            deny(res, "a placeholder in an unexpected place in the request head");
    }
    if (!res->deny && copy_upto(&w, len) < 0) {
        if (w.out.oom) goto fail;
        deny(res, "the request head would be longer than %d bytes with the secrets put in",
             SECRETS_HEAD_OUT_MAX);
    }
    if (res->deny) {
        wb_wipe(&w.out);
        res->ninjected = 0;
        return 0;
    }
    *out = w.out.p;
    *outlen = w.out.len;
    return 0;
fail:
    wb_wipe(&w.out);
    res->deny = 1;
    res->ninjected = 0;
    snprintf(res->reason, sizeof(res->reason), "out of memory");
    errno = ENOMEM;
    return -1;
}

void secrets_free_head(char *head, size_t len)
{
    wipe_free(head, len);
}
