/* http.h - HTTP/1.1 request framing on top of nodejs' http-parser.
 *
 * One struct http_req per connection: feed it bytes; it stops after each
 * complete request (pipelined bytes stay unconsumed) so the server handles
 * requests strictly in order. Limits are enforced while parsing and turn into
 * 4xx statuses with a message. Parsing only: responses are written by the
 * server (server.c). */
#ifndef SBX_HTTP_H
#define SBX_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <sys/types.h>

#define HTTP_MAX_HEADER_BYTES (64 * 1024)
#define HTTP_MAX_URL 8192
#define HTTP_MAX_BODY (16 * 1024 * 1024)

struct http_req {
    http_parser parser;
    int method; /* enum http_method */
    char *url;
    size_t url_len;
    char *path;  /* decoded path component (no query), after complete */
    char *query; /* raw query string or NULL */
    char *body;
    size_t body_len, body_cap;
    char accept[256];
    int keep_alive;
    int complete;
    int started; /* a byte of the next request (not a stray CRLF) arrived */
    size_t header_bytes;
    /* header parsing state */
    char hname[64];
    size_t hname_len;
    int in_value;
    int hdr_which; /* which header the current value belongs to */
    /* Streaming bodies. on_head (kept across requests) runs once the headers
     * are complete and path, query and method are known: it returns 1 to take
     * the body as a stream (on_chunk gets every piece, no size cap here), 0 to
     * have it buffered (16 MiB cap), -1 after http_req_fail() to refuse it. */
    int (*on_head)(struct http_req *r, void *ud);
    void *head_ud;
    int stream_body;
    void (*on_chunk)(void *ud, const char *p, size_t n);
    void *chunk_ud;
    int expect_continue;   /* "Expect: 100-continue" */
    size_t expect_matched; /* bytes of "100-continue" matched so far in an Expect value */
    /* on error */
    int err_status;
    const char *err_code;
    char err_msg[256];
};

void http_req_init(struct http_req *r);
/* Drop the previous request's data; ready for the next one on this connection. */
void http_req_reset(struct http_req *r);
void http_req_free(struct http_req *r);
/* Feed bytes. Returns bytes consumed (>= 0): check r->complete. Returns -1 on
 * a protocol or limit error: r->err_status/err_code/err_msg say what. */
ssize_t http_req_feed(struct http_req *r, const char *data, size_t len);
/* Signal EOF from the peer; returns -1 if a request was cut short. */
int http_req_eof(struct http_req *r);
const char *http_status_text(int status);
/* Value of key in a query string ("a=1&b=x%2Fy"), percent- and '+'-decoded into
 * out. Returns 1 if present, 0 if absent, -1 if malformed or longer than cap-1. */
int http_query_get(const char *query, const char *key, char *out, size_t cap);
/* Set the error a refused request gets (for on_head); returns -1. */
int http_req_fail(struct http_req *r, int status, const char *code, const char *msg);
/* The same with a printf-style message. */
__attribute__((format(printf, 4, 5))) int http_req_failf(struct http_req *r, int status,
                                                         const char *code, const char *fmt, ...);
/* Split the path on '/', e.g. "/v1/sessions/ab/exec" -> {"v1","sessions","ab","exec"}.
 * Returns the number of segments, or -1 if more than max or a segment is
 * empty, "." or "..". Segments point into buf (a copy of path). */
int http_split_path(const char *path, char *buf, size_t cap, char **segs, int max);

#endif
