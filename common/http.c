/* http.c - request parsing with http-parser; see http.h. */
#include "http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { H_OTHER, H_ACCEPT, H_EXPECT };

static struct http_req *REQ(http_parser *p)
{
    return (struct http_req *)p->data;
}

static int fail(struct http_req *r, int status, const char *code, const char *msg)
{
    r->err_status = status;
    r->err_code = code;
    snprintf(r->err_msg, sizeof(r->err_msg), "%s", msg);
    return -1;
}

static int hexval(char c);

int http_query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= klen && strncmp(p, key, klen) == 0 && (n == klen || p[klen] == '=')) {
            const char *v = n == klen ? p + n : p + klen + 1;
            size_t vn = n == klen ? 0 : n - klen - 1, o = 0;
            for (size_t i = 0; i < vn; i++) {
                char c = v[i];
                if (c == '%') {
                    int a = i + 2 < vn ? hexval(v[i + 1]) : -1;
                    int b = i + 2 < vn ? hexval(v[i + 2]) : -1;
                    if (a < 0 || b < 0 || (a == 0 && b == 0)) return -1;
                    c = (char)(a << 4 | b);
                    i += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= cap) return -1;
                out[o++] = c;
            }
            if (cap) out[o] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

int http_req_fail(struct http_req *r, int status, const char *code, const char *msg)
{
    return fail(r, status, code, msg);
}

int http_req_failf(struct http_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r->err_status = status;
    r->err_code = code;
    vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
    va_end(ap);
    return -1;
}

static int count_header(struct http_req *r, size_t n)
{
    r->header_bytes += n;
    if (r->header_bytes > HTTP_MAX_HEADER_BYTES)
        return fail(r, 431, "headers_too_large", "request headers exceed 64 KiB");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    REQ(p)->started = 1;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = REQ(p);
    if (count_header(r, n)) return -1;
    if (r->url_len + n > HTTP_MAX_URL) return fail(r, 414, "uri_too_long", "request URI exceeds 8 KiB");
    char *u = realloc(r->url, r->url_len + n + 1);
    if (!u) return fail(r, 500, "internal", "out of memory");
    memcpy(u + r->url_len, at, n);
    r->url = u;
    r->url_len += n;
    u[r->url_len] = '\0';
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = REQ(p);
    if (count_header(r, n)) return -1;
    if (r->in_value) {
        r->in_value = 0;
        r->hname_len = 0;
    }
    size_t room = sizeof(r->hname) - 1 - r->hname_len;
    size_t k = n < room ? n : room;
    memcpy(r->hname + r->hname_len, at, k);
    r->hname_len += k;
    r->hname[r->hname_len] = '\0';
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = REQ(p);
    if (count_header(r, n)) return -1;
    /* http-parser lets a NUL through as a value's first byte (RFC 9110 5.5:
     * invalid); the value would be cut there, differently per read */
    if (memchr(at, '\0', n)) return fail(r, 400, "bad_request", "NUL byte in a header value");
    if (!r->in_value) {
        r->in_value = 1;
        r->hdr_which = strcasecmp(r->hname, "Accept") == 0   ? H_ACCEPT
                       : strcasecmp(r->hname, "Expect") == 0 ? H_EXPECT
                                                             : H_OTHER;
        r->expect_matched = 0;
    }
    if (r->hdr_which == H_EXPECT) {
        /* the value may come in pieces (one per read): match across them */
        static const char want[] = "100-continue";
        size_t m = r->expect_matched;
        for (size_t i = 0; i < n && m < sizeof(want) - 1; i++)
            m = tolower((unsigned char)at[i]) == want[m] ? m + 1 : SIZE_MAX;
        if (m == sizeof(want) - 1) r->expect_continue = 1;
        r->expect_matched = m;
    }
    if (r->hdr_which == H_ACCEPT) {
        size_t have = strlen(r->accept);
        size_t room = sizeof(r->accept) - 1 - have;
        size_t k = n < room ? n : room;
        memcpy(r->accept + have, at, k);
        r->accept[have + k] = '\0';
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct http_req *r = REQ(p);
    if (r->stream_body) {
        r->on_chunk(r->chunk_ud, at, n);
        return 0;
    }
    if (r->body_len + n > HTTP_MAX_BODY)
        return fail(r, 413, "payload_too_large", "request body exceeds 16 MiB");
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return fail(r, 500, "internal", "out of memory");
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_target(http_parser *p)
{
    struct http_req *r = REQ(p);
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!r->url || http_parser_parse_url(r->url, r->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH)))
        return fail(r, 400, "bad_request", "malformed request URI");
    const char *src = r->url + u.field_data[UF_PATH].off;
    size_t n = u.field_data[UF_PATH].len;
    r->path = malloc(n + 1);
    if (!r->path) return fail(r, 500, "internal", "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '%') {
            int a = i + 2 < n ? hexval(src[i + 1]) : -1;
            int b = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0))
                return fail(r, 400, "bad_request", "malformed percent-encoding in request path");
            r->path[o++] = (char)(a << 4 | b);
            i += 2;
        } else {
            r->path[o++] = src[i];
        }
    }
    r->path[o] = '\0';
    if (u.field_set & (1 << UF_QUERY)) {
        r->query = strndup(r->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
        if (!r->query) return fail(r, 500, "internal", "out of memory");
    }
    r->method = (int)p->method;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct http_req *r = REQ(p);
    r->keep_alive = http_should_keep_alive(p);
    r->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct http_req *r = REQ(p);
    if (parse_target(p) < 0) return -1;
    r->keep_alive = http_should_keep_alive(p);
    if (r->on_head) {
        int v = r->on_head(r, r->head_ud);
        if (v < 0) return -1;
        if (v > 0) {
            r->stream_body = 1;
            return 0;
        }
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_MAX_BODY)
        return fail(r, 413, "payload_too_large", "request body exceeds 16 MiB");
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_req_init(struct http_req *r)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

void http_req_reset(struct http_req *r)
{
    char *body = r->body;
    size_t cap = r->body_cap;
    free(r->url);
    free(r->path);
    free(r->query);
    r->url = r->path = r->query = NULL;
    r->url_len = r->body_len = 0;
    r->accept[0] = '\0';
    r->complete = 0;
    r->started = 0;
    r->header_bytes = 0;
    r->hname_len = 0;
    r->hname[0] = '\0';
    r->in_value = 0;
    r->err_status = 0;
    r->stream_body = 0;
    r->on_chunk = NULL;
    r->chunk_ud = NULL;
    r->expect_continue = 0;
    r->method = 0;
    /* keep the body buffer unless it grew large */
    if (cap > 65536) {
        free(body);
        body = NULL;
        cap = 0;
    }
    r->body = body;
    r->body_cap = cap;
    /* Only a paused parser resumes; after a parse error the connection is
     * closed and the parser is never fed again (unpausing it would abort). */
    if (HTTP_PARSER_ERRNO(&r->parser) == HPE_PAUSED) http_parser_pause(&r->parser, 0);
}

void http_req_free(struct http_req *r)
{
    free(r->url);
    free(r->path);
    free(r->query);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

ssize_t http_req_feed(struct http_req *r, const char *data, size_t len)
{
    if (r->complete) return 0;
    size_t n = http_parser_execute(&r->parser, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (e == HPE_PAUSED) return (ssize_t)n;
    if (e != HPE_OK) {
        if (!r->err_status) {
            char msg[200];
            snprintf(msg, sizeof(msg), "malformed HTTP request: %s", http_errno_description(e));
            fail(r, 400, "bad_request", msg);
        }
        return -1;
    }
    return (ssize_t)n;
}

int http_req_eof(struct http_req *r)
{
    if (r->complete) return 0;
    http_parser_execute(&r->parser, &settings, NULL, 0);
    if (r->complete) return 0;
    /* not parser.nread: after a request whose last byte came in a read of
     * its own, it stays 1 into the next (empty) message */
    if (r->started || r->url_len > 0) {
        fail(r, 400, "bad_request", "connection closed in the middle of a request");
        return -1;
    }
    return 0;
}

const char *http_status_text(int s)
{
    switch (s) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int http_split_path(const char *path, char *buf, size_t cap, char **segs, int max)
{
    size_t n = strlen(path);
    if (n + 1 > cap || path[0] != '/') return -1;
    memcpy(buf, path + 1, n);
    int count = 0;
    char *s = buf;
    if (*s == '\0') return 0;
    for (;;) {
        char *slash = strchr(s, '/');
        if (slash) *slash = '\0';
        if (*s == '\0') {
            if (!slash) break; /* trailing slash tolerated */
            return -1;
        }
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || count == max) return -1;
        segs[count++] = s;
        if (!slash) break;
        s = slash + 1;
    }
    return count;
}
