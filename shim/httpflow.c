/* httpflow.c - HTTP/1.x stream observer on http-parser. See httpflow.h. */
#include "httpflow.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct hflow *H(http_parser *p)
{
    return (struct hflow *)p->data;
}

static int fail(struct hflow *h, const char *msg)
{
    snprintf(h->err, sizeof(h->err), "%s", msg);
    return -1;
}

static int count(struct hflow *h, size_t n)
{
    h->header_bytes += n;
    if (h->header_bytes > HFLOW_HEADERS_MAX)
        return fail(h, h->type == HTTP_REQUEST ? "HTTP request head exceeds 32 KiB"
                                               : "HTTP response head exceeds 32 KiB");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct hflow *h = H(p);
    memset(&h->info, 0, sizeof(h->info));
    h->url_len = 0;
    h->hname_len = 0;
    h->in_value = 0;
    h->is_host = 0;
    h->header_bytes = 0;
    h->in_message = 1;
    h->upgraded = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    struct hflow *h = H(p);
    if (count(h, n)) return -1;
    if (h->url_len + n > HFLOW_URL_MAX) return fail(h, "HTTP request URI exceeds 8 KiB");
    memcpy(h->url + h->url_len, at, n);
    h->url_len += n;
    h->url[h->url_len] = '\0';
    return 0;
}

/* The value of the header that just ended. */
static void end_value(struct hflow *h)
{
    if (!h->in_value) return;
    h->in_value = 0;
    h->hname_len = 0;
    if (!h->is_host) return;
    h->is_host = 0;
    if (h->hval_long) {
        h->info.host_too_long = 1;
        return;
    }
    /* trim, then strip ":port" (but not inside "[v6]") */
    char *s = h->hval;
    size_t n = h->hval_len;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t end = n;
    for (size_t i = n; i > 0; i--) {
        char c = s[i - 1];
        if (c == ':') {
            if (i < n) end = i - 1; /* "host:" keeps its colon: invalid name anyway */
            break;
        }
        if (c < '0' || c > '9') break;
    }
    memcpy(h->info.host, s, end);
    h->info.host[end] = '\0';
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct hflow *h = H(p);
    if (count(h, n)) return -1;
    end_value(h);
    size_t room = sizeof(h->hname) - 1 - h->hname_len;
    size_t k = n < room ? n : room;
    memcpy(h->hname + h->hname_len, at, k);
    h->hname_len += k;
    h->hname[h->hname_len] = '\0';
    if (n > room) h->hname[0] = '\0'; /* too long to be one we watch */
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct hflow *h = H(p);
    if (count(h, n)) return -1;
    if (!h->in_value) {
        h->in_value = 1;
        /* "Host :" counts too: some servers read it as Host */
        size_t k = h->hname_len;
        while (k && (h->hname[k - 1] == ' ' || h->hname[k - 1] == '\t'))
            k--;
        h->is_host = h->type == HTTP_REQUEST && k == 4 && strncasecmp(h->hname, "Host", 4) == 0;
        if (h->is_host) {
            h->info.host_count++;
            h->hval_len = 0;
            h->hval_long = 0;
        }
    }
    if (h->is_host) {
        if (h->hval_len + n > HFLOW_HOST_MAX - 1) {
            h->hval_long = 1;
        } else {
            memcpy(h->hval + h->hval_len, at, n);
            h->hval_len += n;
        }
    }
    return 0;
}

static void copy_path(struct hflow *h, const char *s, size_t n)
{
    if (n > sizeof(h->info.path) - 1) n = sizeof(h->info.path) - 1;
    memcpy(h->info.path, s, n);
    h->info.path[n] = '\0';
}

static void parse_target(struct hflow *h)
{
    struct hflow_info *in = &h->info;
    if (h->url_len == 1 && h->url[0] == '*') {
        copy_path(h, "*", 1);
        return;
    }
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(h->url, h->url_len, in->is_connect, &u) != 0) {
        in->url_bad = 1;
        return;
    }
    if (u.field_set & (1 << UF_HOST)) {
        size_t n = u.field_data[UF_HOST].len;
        if (n >= sizeof(in->uri_host)) {
            in->url_bad = 1;
            return;
        }
        memcpy(in->uri_host, h->url + u.field_data[UF_HOST].off, n);
        in->uri_host[n] = '\0';
        if (!in->uri_host[0]) in->url_bad = 1;
    } else if (h->url[0] != '/') {
        in->url_bad = 1; /* neither origin-form nor absolute-form */
    }
    if (u.field_set & (1 << UF_PATH))
        copy_path(h, h->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    else
        copy_path(h, "/", 1);
}

static int on_headers_complete(http_parser *p)
{
    struct hflow *h = H(p);
    end_value(h);
    struct hflow_info *in = &h->info;
    in->upgrade = p->upgrade;
    int skip = 0;
    if (h->type == HTTP_REQUEST) {
        snprintf(in->method, sizeof(in->method), "%s", http_method_str(p->method));
        in->is_connect = p->method == HTTP_CONNECT;
        in->is_head = p->method == HTTP_HEAD;
        parse_target(h);
    } else {
        in->status = p->status_code;
        skip = h->head_next && p->status_code >= 200;
    }
    h->ev = HF_HEADERS;
    http_parser_pause(p, 1);
    return skip;
}

static int on_message_complete(http_parser *p)
{
    struct hflow *h = H(p);
    h->ev = HF_COMPLETE;
    h->in_message = 0;
    h->upgraded = p->upgrade;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

void hflow_init(struct hflow *h, int type)
{
    memset(h, 0, sizeof(*h));
    http_parser_init(&h->p, (enum http_parser_type)type);
    h->p.data = h;
    h->type = type;
}

size_t hflow_feed(struct hflow *h, const char *data, size_t len, enum hflow_event *ev)
{
    h->ev = HF_MORE;
    if (len == 0) {
        *ev = HF_MORE;
        return 0;
    }
    size_t n = http_parser_execute(&h->p, &settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
    if (e == HPE_PAUSED) {
        http_parser_pause(&h->p, 0);
        *ev = h->ev;
        return n;
    }
    if (e != HPE_OK) {
        if (!h->err[0])
            snprintf(h->err, sizeof(h->err), "malformed HTTP %s: %s",
                     h->type == HTTP_REQUEST ? "request" : "response", http_errno_description(e));
        *ev = HF_ERROR;
        return n;
    }
    *ev = h->ev; /* HF_MORE, or HF_COMPLETE of an upgrade (the parser returns early) */
    return n;
}

enum hflow_event hflow_eof(struct hflow *h)
{
    if (!h->in_message) return HF_MORE;
    h->ev = HF_MORE;
    http_parser_execute(&h->p, &settings, NULL, 0);
    enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
    if (e == HPE_PAUSED) http_parser_pause(&h->p, 0);
    if (h->ev == HF_COMPLETE) return HF_COMPLETE;
    snprintf(h->err, sizeof(h->err), "connection closed in the middle of an HTTP message");
    return HF_ERROR;
}

int hflow_looks_like_request(const char *buf, size_t len)
{
    static const char *const methods[] = {
#define XX(num, name, string) #string,
        HTTP_METHOD_MAP(XX)
#undef XX
    };
    size_t i = 0;
    while (i < len && i < 24 && ((buf[i] >= 'A' && buf[i] <= 'Z') || buf[i] == '-'))
        i++;
    if (i == len) { /* only method letters so far: could it still become one? */
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
            if (strlen(methods[k]) > i && memcmp(methods[k], buf, i) == 0) return -1;
        return 0;
    }
    if (i == 0 || buf[i] != ' ') return 0;
    for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++)
        if (strlen(methods[k]) == i && memcmp(methods[k], buf, i) == 0) return 1;
    return 0;
}
