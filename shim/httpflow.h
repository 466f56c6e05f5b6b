/* httpflow.h - watching a plain HTTP/1.x byte stream go by (either direction)
 * with nodejs' http-parser, without buffering it.
 *
 * The caller feeds the bytes it has; hflow_feed() stops at every event:
 *   HF_HEADERS   a message's head is complete: h->info says method, path
 *                (no query: audit lines never carry it), Host header (port
 *                stripped), absolute-URI host, status (responses), upgrade
 *   HF_COMPLETE  the message (with its body) ended at the returned offset;
 *                h->upgraded: the bytes after it are another protocol
 *   HF_ERROR     malformed or over a limit: h->err says why
 *   HF_MORE      everything given was consumed; feed more
 * Message bodies are skipped, never copied. Offsets are exact, so a proxy can
 * forward precisely the bytes of the messages it approved (see proxy.c).
 * Pure logic, no I/O. */
#ifndef SBX_SHIM_HTTPFLOW_H
#define SBX_SHIM_HTTPFLOW_H

#include <http_parser.h>
#include <stddef.h>

#define HFLOW_URL_MAX 8192
#define HFLOW_HEADERS_MAX (32 * 1024) /* request line / status line + headers */
#define HFLOW_HOST_MAX 256
#define HFLOW_PATH_MAX 512 /* audit copy; longer paths are cut */

enum hflow_event { HF_MORE = 0, HF_HEADERS, HF_COMPLETE, HF_ERROR };

struct hflow_info {
    char method[24];           /* requests */
    char path[HFLOW_PATH_MAX]; /* requests: path only; "*" for OPTIONS * */
    char host[HFLOW_HOST_MAX]; /* Host header, port stripped, trimmed */
    int host_count;            /* Host headers seen (0, 1, or more = bad) */
    int host_too_long;
    char uri_host[HFLOW_HOST_MAX]; /* host of an absolute-form (or CONNECT) URI, else "" */
    int url_bad;                   /* the request target does not parse */
    int is_connect, is_head;
    int upgrade; /* protocol switch requested (requests) / done (101) */
    int status;  /* responses */
};

struct hflow {
    http_parser p;
    int type; /* HTTP_REQUEST or HTTP_RESPONSE */
    struct hflow_info info;
    char url[HFLOW_URL_MAX + 1];
    size_t url_len;
    char hname[32];
    size_t hname_len;
    int in_value, is_host;
    char hval[HFLOW_HOST_MAX + 1];
    size_t hval_len;
    int hval_long;
    size_t header_bytes;
    enum hflow_event ev;
    int in_message;
    int head_next; /* responses: set by the caller when the next response answers a HEAD */
    int upgraded;  /* set with HF_COMPLETE */
    char err[160];
};

void hflow_init(struct hflow *h, int type);
/* Returns bytes consumed; *ev says why it stopped. After HF_ERROR, or after
 * HF_COMPLETE with h->upgraded, feed nothing more (hflow_init() to reuse). */
size_t hflow_feed(struct hflow *h, const char *data, size_t len, enum hflow_event *ev);
/* The peer closed: completes a response that runs until EOF. Returns
 * HF_COMPLETE, HF_MORE (nothing pending) or HF_ERROR (cut short). */
enum hflow_event hflow_eof(struct hflow *h);
/* 1 when the first bytes of a stream look like an HTTP request line: a method
 * http-parser knows followed by a space. 0: not HTTP. -1: too short to say. */
int hflow_looks_like_request(const char *buf, size_t len);

#endif
