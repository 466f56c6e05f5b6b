/* client.c - the sbx CLI's HTTP client for the sbxd API (docs/api.md).
 *
 * Owns: libcurl over the daemon's Unix socket (URL http://sbx/v1/...), one
 * handle reused so keep-alive works; JSON request/response bodies (json-c);
 * mapping API error bodies and transport failures into sbx_err; the
 * incremental decoder of the framed exec stream, which writes stdout/stderr
 * payloads to fds 1/2 as they arrive; streamed request bodies (read
 * callbacks) and response bodies (written to an fd as they arrive).
 *
 * Must never: exit, print messages (errors travel in sbx_err; main prints
 * once), hold a whole exec output or download in memory (payloads go from
 * curl's buffer straight to write(2)), do per-byte work on stream payloads,
 * or parse command-line syntax. */
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cleanup.h"

#define BASE_URL "http://sbx"
#define RECV_BUFFER_SIZE (512L * 1024)       /* curl's receive buffer: few, big writes */
#define BODY_MAX ((size_t)256 * 1024 * 1024) /* largest JSON response we accept */
#define ERRBODY_MAX ((size_t)1024 * 1024)    /* largest error body of a failed exec */
#define FRAME_JSON_MAX ((size_t)1024 * 1024) /* largest start/exit/error frame */
#define FRAMES_TYPE "application/vnd.sbx.frames"

#ifndef SBX_VERSION
#define SBX_VERSION "unknown"
#endif

struct sbx_client {
    CURL *curl;
    CURL *ctl; /* stdin and resize requests while a stream runs on curl (made on first use) */
    char *socket_path;
    char errbuf[CURL_ERROR_SIZE];
    char ctl_errbuf[CURL_ERROR_SIZE];
};

/* ---- growable byte buffer ------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap, max;
};

/* curl_easy_setopt in a row: the first failure sticks in rc (needs CURL *h, CURLcode rc). */
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val);                                    \
    } while (0)

static void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Append; returns -1 when the buffer would exceed b->max or memory runs out. */
static int buf_append(struct buf *b, const void *data, size_t n)
{
    if (n > b->max - b->len) return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max) cap = b->max;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* ---- client -------------------------------------------------------------- */

int sbx_client_new(sbx_client **out, const char *socket_path, sbx_err *err)
{
    if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return sbx_error_kind(err, SBX_E_INVALID, SBX_CODE_UNREACHABLE,
                              "socket path too long (max %zu bytes): %s",
                              sizeof(((struct sockaddr_un *)0)->sun_path) - 1, socket_path);
    _cleanup_free_ sbx_client *c = calloc(1, sizeof(*c));
    if (!c) return sbx_error(err, ENOMEM, "create client");
    c->socket_path = strdup(socket_path);
    if (!c->socket_path) return sbx_error(err, ENOMEM, "create client");
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c->socket_path);
        return sbx_error(err, 0, "create client: curl_easy_init failed");
    }
    *out = steal_pointer(&c);
    return 0;
}

void sbx_client_free(sbx_client *c)
{
    if (!c) return;
    curl_easy_cleanup(c->curl);
    if (c->ctl) curl_easy_cleanup(c->ctl);
    free(c->socket_path);
    free(c);
}

int sbx_client_escape(sbx_client *c, const char *segment, char *buf, size_t cap, sbx_err *err)
{
    char *e = curl_easy_escape(c->curl, segment, 0);
    if (!e) return sbx_error(err, ENOMEM, "escape %s", segment);
    size_t n = strlen(e);
    if (n >= cap) {
        curl_free(e);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request", "too long: '%.64s%s'", segment,
                              strlen(segment) > 64 ? "..." : "");
    }
    memcpy(buf, e, n + 1);
    curl_free(e);
    return 0;
}

static void free_slist(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

/* Reset handle h (c->curl, or the stdin handle of a stream) and set
 * everything common to a request. The body must stay alive until the transfer
 * ends (curl does not copy it); ctype: its Content-Type (NULL: none sent).
 * stream: the body comes from a read callback the caller sets (body must be
 * NULL); extra: more header lines, NULL-terminated (or NULL). */
static int setup_handle(sbx_client *c, CURL *h, char *errbuf, const char *method, const char *path,
                        const char *body, size_t body_len, const char *ctype, bool stream,
                        const char *const *extra, struct curl_slist **hdrs, sbx_err *err)
{
    char url[16384]; /* a file API path: 4095 bytes, percent-escaped */
    int n = snprintf(url, sizeof(url), "%s%s", BASE_URL, path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request", "request path too long");

    curl_easy_reset(h);
    errbuf[0] = '\0';
    char ctline[128] = "";
    if (ctype) snprintf(ctline, sizeof(ctline), "Content-Type: %s", ctype);
    /* "Expect:" stops curl from waiting for 100-continue on big bodies. */
    const char *lines[] = {"Expect:", "User-Agent: sbx/" SBX_VERSION, ctype ? ctline : NULL};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(lines); i++) {
        if (!lines[i]) continue;
        struct curl_slist *l = curl_slist_append(*hdrs, lines[i]);
        if (!l) return sbx_error(err, ENOMEM, "build request");
        *hdrs = l;
    }
    for (; extra && *extra; extra++) {
        struct curl_slist *l = curl_slist_append(*hdrs, *extra);
        if (!l) return sbx_error(err, ENOMEM, "build request");
        *hdrs = l;
    }
    CURLcode rc = CURLE_OK;
    SETOPT(CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L); /* SIGPIPE is ignored by main; no alarm() */
    SETOPT(CURLOPT_CONNECTTIMEOUT, 30L);
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(CURLOPT_HTTPHEADER, *hdrs);
    SETOPT(CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
    if (body) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        SETOPT(CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0) SETOPT(CURLOPT_CUSTOMREQUEST, method);
    } else if (stream) {
        SETOPT(CURLOPT_POST, 1L);
        if (strcmp(method, "POST") != 0) SETOPT(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        SETOPT(CURLOPT_POSTFIELDS, "");
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }
    if (rc != CURLE_OK) return sbx_error(err, 0, "set up request: %s", curl_easy_strerror(rc));
    return 0;
}

/* setup_handle on the client's own handle; a body is JSON. */
static int setup(sbx_client *c, const char *method, const char *path, const char *body,
                 size_t body_len, bool stream, const char *const *extra, struct curl_slist **hdrs,
                 sbx_err *err)
{
    return setup_handle(c, c->curl, c->errbuf, method, path, body, body_len,
                        body ? "application/json" : NULL, stream, extra, hdrs, err);
}

/* Serialize body (or not) for sending. The string belongs to body. */
static int serialize(json_object *body, const char **s, size_t *len, sbx_err *err)
{
    *s = NULL;
    *len = 0;
    if (!body) return 0;
    *s = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    if (!*s) return sbx_error(err, ENOMEM, "serialize request");
    return 0;
}

/* Why the transfer on handle h (whose error buffer is errbuf) failed. */
static int transport_error_h(sbx_client *c, CURL *h, const char *errbuf, CURLcode rc, sbx_err *err)
{
    long oserr = 0;
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
        (rc == CURLE_COULDNT_RESOLVE_HOST && oserr != 0)) {
        const char *why = oserr ? strerror((int)oserr) : curl_easy_strerror(rc);
        if (oserr == EACCES || oserr == EPERM)
            return sbx_error_kind(err, SBX_E_UNAVAILABLE, SBX_CODE_UNREACHABLE,
                                  "cannot connect to sbxd at %s: %s (the socket is for group "
                                  "'sbx': join it or run as root; or pass --socket PATH or set "
                                  "SBX_SOCKET)",
                                  c->socket_path, why);
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, SBX_CODE_UNREACHABLE,
                              "cannot connect to sbxd at %s: %s (is sbxd running? start it, "
                              "e.g. 'systemctl start sbxd', or pass --socket PATH or set "
                              "SBX_SOCKET)",
                              c->socket_path, why);
    }
    return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT, "talking to sbxd at %s: %s",
                          c->socket_path, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static int transport_error(sbx_client *c, CURLcode rc, sbx_err *err)
{
    return transport_error_h(c, c->curl, c->errbuf, rc, err);
}

/* Parse a whole JSON document; an empty body gives NULL. */
static int parse_json(const char *s, size_t len, json_object **out, sbx_err *err)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", s[i]))
        i++;
    if (i == len) return 0;
    if (len > INT_MAX)
        return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                              "response from sbxd too large");
    json_tokener *tok = json_tokener_new();
    if (!tok) return sbx_error(err, ENOMEM, "parse response");
    json_object *o = json_tokener_parse_ex(tok, s, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (je != json_tokener_success || !o) {
        json_object_put(o);
        return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT, "invalid JSON from sbxd: %s",
                              json_tokener_error_desc(je));
    }
    for (; end < len; end++) {
        if (!strchr(" \t\r\n", s[end])) {
            json_object_put(o);
            return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                                  "invalid JSON from sbxd: trailing data");
        }
    }
    *out = o;
    return 0;
}

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    size_t n = size * nmemb;
    return buf_append(ud, ptr, n) < 0 ? 0 : n;
}

int sbx_client_request(sbx_client *c, const char *method, const char *path, json_object *body,
                       long *status, json_object **resp, sbx_err *err)
{
    *resp = NULL;
    *status = 0;
    const char *s;
    size_t len;
    if (serialize(body, &s, &len, err) < 0) return -1;
    __attribute__((cleanup(free_slist))) struct curl_slist *hdrs = NULL;
    if (setup(c, method, path, s, len, false, NULL, &hdrs, err) < 0) return -1;

    __attribute__((cleanup(buf_free))) struct buf b = {.max = BODY_MAX};
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc == CURLE_WRITE_ERROR)
        return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                              "%s %s: response from sbxd too large or out of memory", method, path);
    if (rc != CURLE_OK) return transport_error(c, rc, err);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    if (parse_json(b.p, b.len, resp, err) < 0) {
        /* An error status without a JSON body still reports the status. */
        if (*status >= 400) return 0;
        return sbx_error_wrap(err, "%s %s", method, path);
    }
    return 0;
}

static const char *const api_codes[] = {
    "invalid_json",    "invalid_request",   "unknown_image",      "executable_not_found",
    "exec_failed",     "not_found",         "method_not_allowed", "conflict",
    "length_required", "payload_too_large", "headers_too_large",  "internal",
    "unavailable",     "invalid_archive",   "invalid_image",      "digest_mismatch",
    "image_too_large", "image_too_deep",    "unsupported_layer",  "too_large",
    "name_taken",      "image_in_use",      "directory_image",    "ambiguous_image",
    "invalid_path",    "permission_denied", "read_only",          "no_space",
    "file_too_large",  "cross_device",      "mount_point",        "too_deep",
    "no_such_process", "process_exited",    "stdin_closed",       "not_a_tty",
    "wait_timeout",    "stdin_backlog",     "session_lost",
};

int sbx_client_api_error(long status, json_object *resp, sbx_err *err)
{
    json_object *e = NULL, *jcode = NULL, *jmsg = NULL;
    const char *code = "unknown", *msg = NULL;
    if (resp && json_object_object_get_ex(resp, "error", &e) &&
        json_object_is_type(e, json_type_object)) {
        if (json_object_object_get_ex(e, "code", &jcode) &&
            json_object_is_type(jcode, json_type_string)) {
            const char *s = json_object_get_string(jcode);
            for (size_t i = 0; i < SBX_ARRAY_SIZE(api_codes); i++)
                if (strcmp(s, api_codes[i]) == 0) code = api_codes[i];
        }
        if (json_object_object_get_ex(e, "message", &jmsg) &&
            json_object_is_type(jmsg, json_type_string))
            msg = json_object_get_string(jmsg);
    }
    enum sbx_err_kind kind = status == 400   ? SBX_E_INVALID
                             : status == 403 ? SBX_E_FORBIDDEN
                             : status == 404 ? SBX_E_NOTFOUND
                             : status == 409 ? SBX_E_CONFLICT
                             : status == 413 ? SBX_E_TOOLARGE
                             : status == 503 ? SBX_E_UNAVAILABLE
                                             : SBX_E_INTERNAL;
    if (msg && *msg) return sbx_error_kind(err, kind, code, "%s", msg);
    return sbx_error_kind(err, kind, code, "sbxd answered HTTP %ld without an error message",
                          status);
}

int sbx_client_call(sbx_client *c, const char *method, const char *path, json_object *body,
                    json_object **resp, sbx_err *err)
{
    long status;
    _cleanup_json_ json_object *r = NULL;
    if (sbx_client_request(c, method, path, body, &status, &r, err) < 0) return -1;
    if (status < 200 || status > 299) return sbx_client_api_error(status, r, err);
    if (resp) *resp = steal_pointer(&r);
    return 0;
}

/* ---- streamed request bodies --------------------------------------------- */

#define UPLOAD_BUFFER_SIZE (256L * 1024) /* curl's send buffer: one read per 256 KiB */

struct upload_ctx {
    const struct sbx_upload *up;
    unsigned long long sent; /* bytes handed to curl */
    bool eof;
    bool failed; /* err is filled by the source, or the size did not hold */
    sbx_err *err;
};

static size_t upload_read_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct upload_ctx *u = ud;
    size_t cap = size * nmemb;
    if (u->eof) return 0;
    if (u->up->size >= 0) {
        unsigned long long left = (unsigned long long)u->up->size - u->sent;
        if (left == 0) { /* the announced length is all: never more */
            u->eof = true;
            return 0;
        }
        if (cap > left) cap = (size_t)left;
    }
    ssize_t n = u->up->read(u->up->ud, ptr, cap, u->err);
    if (n < 0) {
        u->failed = true;
        return CURL_READFUNC_ABORT;
    }
    if (n == 0) {
        if (u->up->size >= 0) { /* a Content-Length we can no longer honour */
            sbx_error(u->err, 0, "the input ended after %llu of %lld bytes (did it shrink?)",
                      (unsigned long long)u->sent, (long long)u->up->size);
            u->failed = true;
            return CURL_READFUNC_ABORT;
        }
        u->eof = true;
        return 0;
    }
    u->sent += (unsigned long long)n;
    if (u->up->size >= 0 && u->sent == (unsigned long long)u->up->size) u->eof = true;
    return (size_t)n;
}

static int upload_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                              curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct upload_ctx *u = ud;
    u->up->progress(u->up->progress_ud, u->sent, u->eof);
    return 0;
}

int sbx_client_upload(sbx_client *c, const char *method, const char *path,
                      const struct sbx_upload *up, json_object **resp, sbx_err *err)
{
    if (resp) *resp = NULL;
    char ctype[128];
    snprintf(ctype, sizeof(ctype), "Content-Type: %s",
             up->content_type ? up->content_type : "application/octet-stream");
    const char *extra[] = {ctype, up->size < 0 ? "Transfer-Encoding: chunked" : NULL, NULL};
    __attribute__((cleanup(free_slist))) struct curl_slist *hdrs = NULL;
    if (setup(c, method, path, NULL, 0, true, extra, &hdrs, err) < 0) return -1;

    struct upload_ctx u = {.up = up, .err = err};
    __attribute__((cleanup(buf_free))) struct buf b = {.max = BODY_MAX};
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
    SETOPT(CURLOPT_READFUNCTION, upload_read_cb);
    SETOPT(CURLOPT_READDATA, &u);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(up->size >= 0 ? up->size : -1));
    SETOPT(CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_SIZE);
    SETOPT(CURLOPT_WRITEFUNCTION, body_cb);
    SETOPT(CURLOPT_WRITEDATA, &b);
    if (up->progress) {
        SETOPT(CURLOPT_XFERINFOFUNCTION, upload_progress_cb);
        SETOPT(CURLOPT_XFERINFODATA, &u);
        SETOPT(CURLOPT_NOPROGRESS, 0L);
    }
    if (rc != CURLE_OK) return sbx_error(err, 0, "set up request: %s", curl_easy_strerror(rc));

    rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (up->progress) up->progress(up->progress_ud, u.sent, u.eof);
    if (u.failed) return -1; /* the source's error (err filled) */
    _cleanup_json_ json_object *r = NULL;
    sbx_err perr;
    if (rc != CURLE_OK) {
        /* sbxd may answer an error before the body is all sent, then stop
         * reading: that answer is the news, not the broken send. */
        if (status >= 400 && parse_json(b.p, b.len, &r, &perr) == 0 && r)
            return sbx_client_api_error(status, r, err);
        if (rc == CURLE_WRITE_ERROR)
            return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                                  "%s %s: response from sbxd too large or out of memory", method,
                                  path);
        return transport_error(c, rc, err);
    }
    if (parse_json(b.p, b.len, &r, &perr) < 0) {
        if (status < 200 || status > 299) return sbx_client_api_error(status, NULL, err);
        *err = perr;
        return sbx_error_wrap(err, "%s %s", method, path);
    }
    if (status < 200 || status > 299) return sbx_client_api_error(status, r, err);
    if (resp) *resp = steal_pointer(&r);
    return 0;
}

/* ---- streamed response bodies -------------------------------------------- */

#define DLERR_MAX ((size_t)64 * 1024) /* largest error body of a failed download */

struct download_ctx {
    sbx_client *c;
    int fd;
    bool checked;   /* status examined */
    bool streaming; /* 2xx: the body goes to fd; else it is an error */
    bool failed;    /* err is filled (writing fd failed); the transfer was aborted */
    unsigned long long got;
    struct buf errbody;
    void (*progress)(void *ud, unsigned long long got, bool all);
    void *progress_ud;
    sbx_err *err;
};

static size_t download_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct download_ctx *d = ud;
    size_t n = size * nmemb;
    if (!d->checked) {
        long status = 0;
        curl_easy_getinfo(d->c->curl, CURLINFO_RESPONSE_CODE, &status);
        d->checked = true;
        d->streaming = status >= 200 && status <= 299;
    }
    if (!d->streaming) return buf_append(&d->errbody, ptr, n) < 0 ? 0 : n;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(d->fd, ptr + off, n - off);
        if (w >= 0) {
            off += (size_t)w;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) { /* a non-blocking stdout */
            struct pollfd pfd = {.fd = d->fd, .events = POLLOUT};
            (void)poll(&pfd, 1, -1);
            continue;
        }
        sbx_error(d->err, errno, "write");
        d->err->code = SBX_CODE_OUTPUT;
        d->failed = true;
        return 0;
    }
    d->got += n;
    return n;
}

static int download_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                                curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct download_ctx *d = ud;
    if (d->streaming) d->progress(d->progress_ud, d->got, false);
    return 0;
}

int sbx_client_download(sbx_client *c, const char *path, int fd,
                        void (*progress)(void *ud, unsigned long long got, bool all), void *ud,
                        unsigned long long *got, sbx_err *err)
{
    if (got) *got = 0;
    __attribute__((cleanup(free_slist))) struct curl_slist *hdrs = NULL;
    if (setup(c, "GET", path, NULL, 0, false, NULL, &hdrs, err) < 0) return -1;
    struct download_ctx d = {.c = c,
                             .fd = fd,
                             .errbody = {.max = DLERR_MAX},
                             .progress = progress,
                             .progress_ud = ud,
                             .err = err};
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
    SETOPT(CURLOPT_WRITEFUNCTION, download_cb);
    SETOPT(CURLOPT_WRITEDATA, &d);
    if (progress) {
        SETOPT(CURLOPT_XFERINFOFUNCTION, download_progress_cb);
        SETOPT(CURLOPT_XFERINFODATA, &d);
        SETOPT(CURLOPT_NOPROGRESS, 0L);
    }
    if (rc != CURLE_OK) {
        buf_free(&d.errbody);
        return sbx_error(err, 0, "set up request: %s", curl_easy_strerror(rc));
    }
    rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    bool ok = status >= 200 && status <= 299;
    if (got) *got = d.got;
    if (progress && ok) progress(ud, d.got, true);
    int ret = 0;
    if (d.failed) {
        ret = -1; /* writing fd failed: err is filled */
    } else if (rc != CURLE_OK) {
        if (ok) /* sbxd cuts the connection when the file cannot be read to its end */
            ret = sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                                 "the download broke off after %llu bytes: %s", d.got,
                                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        else if (rc == CURLE_WRITE_ERROR && status >= 400) /* an error body over DLERR_MAX */
            ret = sbx_client_api_error(status, NULL, err);
        else
            ret = transport_error(c, rc, err);
    } else if (!ok) {
        _cleanup_json_ json_object *o = NULL;
        sbx_err perr;
        if (parse_json(d.errbody.p, d.errbody.len, &o, &perr) < 0) o = NULL;
        ret = sbx_client_api_error(status, o, err);
    }
    buf_free(&d.errbody);
    return ret;
}

/* ---- framed streams: exec and logs --------------------------------------- */

/* Frame types (docs/api.md). 6 carries any other event (dropped,
 * supervisor_restarted) as its JSON with a "type" member; a frame of a type
 * this client does not know is read the same way when it is JSON, else
 * skipped. */
enum { FR_START = 1, FR_STDOUT = 2, FR_STDERR = 3, FR_EXIT = 4, FR_ERROR = 5, FR_EVENT = 6 };

#define STDIN_CHUNK ((size_t)256 * 1024) /* largest piece of stdin per request */
#define STDIN_RETRY_MS 50                /* sbxd took none of a piece: wait this long */
#define STDIN_BACKLOG_MS 100             /* sbxd holds too much unread input: wait this long */

enum ctl_kind { CTL_STDIN, CTL_EOF, CTL_RESIZE };

struct stream_ctx {
    sbx_client *c;
    const struct sbx_stream_io *io;
    struct sbx_exec_result *res;
    sbx_err *err;
    bool failed; /* err is filled; the transfer was aborted */

    bool checked;   /* status and content type examined */
    bool streaming; /* 200 with frames; else the body is an error */
    struct buf errbody;

    /* decoder state: a frame header is 5 bytes, then `remaining` payload bytes */
    unsigned char hdr[5];
    size_t hdr_have;
    unsigned type;
    uint32_t remaining;
    bool collect;    /* the payload is JSON, collected in json */
    struct buf json; /* payload of a JSON frame */
    bool got_error;

    /* forwarding stdin and resizes (exec): requests on c->ctl, one at a time */
    const char *esession; /* the session id, escaped */
    bool ctl_busy;
    enum ctl_kind ctl_kind;
    struct curl_slist *ctl_hdrs;
    struct buf ctl_resp;
    char *in;         /* a piece of stdin being sent (STDIN_CHUNK bytes) */
    size_t in_len;    /* bytes of it not yet taken by sbxd */
    double retry_at;  /* monotonic seconds: do not resend before */
    bool stdin_open;  /* still forwarding */
    bool stdin_ready; /* stdin_fd is readable (or at its end) */
    bool eof_pending; /* stdin ended: eof=1 is still to be sent */
    char resize_body[64];
};

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool interrupted(const struct stream_ctx *x)
{
    return x->io && x->io->interrupt && *x->io->interrupt;
}

/* Full write of one payload piece. 0, or -1 with x->res/x->err telling why. */
static int write_all(struct stream_ctx *x, int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR) {
            if (interrupted(x)) {
                x->res->interrupted = true;
                return -1;
            }
            continue;
        }
        if (errno == EAGAIN) { /* someone gave us a non-blocking stdout */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, -1) < 0 && errno == EINTR && interrupted(x)) {
                x->res->interrupted = true;
                return -1;
            }
            continue;
        }
        if (errno == EPIPE) {
            x->res->output_closed = true;
            return -1;
        }
        sbx_error(x->err, errno, "write %s", fd == 1 ? "stdout" : "stderr");
        x->err->code = SBX_CODE_OUTPUT;
        x->failed = true;
        return -1;
    }
    return 0;
}

static int frame_fail(struct stream_ctx *x, const char *what)
{
    sbx_error_kind(x->err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT, "bad stream from sbxd: %s", what);
    x->failed = true;
    return -1;
}

static bool get_int(json_object *o, const char *key, int *v, bool *is_null)
{
    json_object *j;
    *is_null = true;
    if (!json_object_object_get_ex(o, key, &j) || json_object_is_type(j, json_type_null))
        return true;
    if (!json_object_is_type(j, json_type_int)) return false;
    *is_null = false;
    *v = json_object_get_int(j);
    return true;
}

static bool get_bool(json_object *o, const char *key)
{
    json_object *j;
    return json_object_object_get_ex(o, key, &j) && json_object_get_boolean(j);
}

static int exit_event(struct stream_ctx *x, json_object *o)
{
    struct sbx_exec_result *res = x->res;
    bool code_null, sig_null;
    int code = -1, sig = 0;
    if (!get_int(o, "code", &code, &code_null) || !get_int(o, "signal", &sig, &sig_null))
        return frame_fail(x, "exit event: code/signal not integers");
    if (code_null && sig_null) return frame_fail(x, "exit event has neither code nor signal");
    res->exited = true;
    res->code = code_null ? -1 : code;
    res->signal = sig_null ? 0 : sig;
    res->oom_killed = get_bool(o, "oom_killed");
    res->timed_out = get_bool(o, "timed_out");
    json_object *d;
    res->duration = json_object_object_get_ex(o, "duration", &d) ? json_object_get_double(d) : 0;
    return 0;
}

/* A JSON frame is complete in x->json. */
static int finish_json_frame(struct stream_ctx *x)
{
    sbx_err perr;
    _cleanup_json_ json_object *o = NULL;
    unsigned ftype = x->type;
    int r = parse_json(x->json.p, x->json.len, &o, &perr);
    x->json.len = 0;
    bool obj = r == 0 && o && json_object_is_type(o, json_type_object);
    const char *type = ftype == FR_START   ? "start"
                       : ftype == FR_EXIT  ? "exit"
                       : ftype == FR_ERROR ? "error"
                                           : NULL;
    json_object *j;
    if (!type && obj && json_object_object_get_ex(o, "type", &j) &&
        json_object_is_type(j, json_type_string))
        type = json_object_get_string(j);
    if (!type) type = "";

    if (strcmp(type, "start") == 0) {
        int pid;
        bool null;
        if (obj && get_int(o, "pid", &pid, &null) && !null && pid > 0) x->res->pid = pid;
        return 0;
    }
    if (strcmp(type, "exit") == 0) {
        if (!obj) return frame_fail(x, "exit frame is not a JSON object");
        return exit_event(x, o);
    }
    if (strcmp(type, "error") == 0) {
        if (!obj) return frame_fail(x, "error frame is not a JSON object");
        const char *msg =
            json_object_object_get_ex(o, "message", &j) ? json_object_get_string(j) : NULL;
        sbx_error_kind(x->err, SBX_E_INTERNAL, "internal", "%s",
                       msg && *msg ? msg : "sbxd reported an error in the stream");
        x->got_error = true;
        return 0; /* keep reading: the stream ends by itself */
    }
    if (strcmp(type, "dropped") == 0) {
        if (!obj) return frame_fail(x, "dropped frame is not a JSON object");
        long long n = json_object_object_get_ex(o, "bytes", &j) ? json_object_get_int64(j) : 0;
        if (x->io && x->io->on_dropped)
            x->io->on_dropped(x->io->ud, n > 0 ? (unsigned long long)n : 0);
        return 0;
    }
    if (strcmp(type, "supervisor_restarted") == 0) {
        if (!obj) return frame_fail(x, "supervisor_restarted frame is not a JSON object");
        int pid;
        bool null;
        if (get_int(o, "pid", &pid, &null) && !null && pid > 0) x->res->pid = pid;
        const char *msg =
            json_object_object_get_ex(o, "message", &j) ? json_object_get_string(j) : NULL;
        snprintf(x->res->restart_msg, sizeof(x->res->restart_msg), "%s", msg ? msg : "");
        x->res->restarted = true;
        return 0;
    }
    return 0; /* an event of a newer sbxd: not ours to read */
}

static int begin_frame(struct stream_ctx *x)
{
    x->type = x->hdr[0];
    x->remaining = (uint32_t)x->hdr[1] << 24 | (uint32_t)x->hdr[2] << 16 |
                   (uint32_t)x->hdr[3] << 8 | (uint32_t)x->hdr[4];
    x->hdr_have = 0;
    bool known = x->type >= FR_START && x->type <= FR_EVENT;
    x->collect = x->type != FR_STDOUT && x->type != FR_STDERR;
    if (x->collect && x->remaining > FRAME_JSON_MAX) {
        if (known) return frame_fail(x, "control frame too large");
        x->collect = false; /* a newer sbxd's frame: skip it */
    }
    if (x->collect && x->remaining == 0) return finish_json_frame(x);
    return 0;
}

/* Feed n stream bytes; frames may be split anywhere. */
static int feed(struct stream_ctx *x, const char *p, size_t n)
{
    while (n > 0) {
        if (x->remaining == 0) { /* in a header */
            size_t take = 5 - x->hdr_have;
            if (take > n) take = n;
            memcpy(x->hdr + x->hdr_have, p, take);
            x->hdr_have += take;
            p += take;
            n -= take;
            if (x->hdr_have == 5 && begin_frame(x) < 0) return -1;
            continue;
        }
        size_t take = x->remaining < n ? x->remaining : n;
        if (x->type == FR_STDOUT || x->type == FR_STDERR) {
            if (write_all(x, x->type == FR_STDOUT ? 1 : 2, p, take) < 0) return -1;
        } else if (x->collect && buf_append(&x->json, p, take) < 0) {
            sbx_error(x->err, ENOMEM, "read stream");
            x->failed = true;
            return -1;
        }
        x->remaining -= (uint32_t)take;
        p += take;
        n -= take;
        if (x->remaining == 0 && x->collect && finish_json_frame(x) < 0) return -1;
    }
    return 0;
}

static bool content_type_is_frames(CURL *h)
{
    char *ct = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || !ct) return true;
    size_t n = strlen(FRAMES_TYPE);
    return strncasecmp(ct, FRAMES_TYPE, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static size_t stream_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct stream_ctx *x = ud;
    size_t n = size * nmemb;
    if (!x->checked) {
        long status = 0;
        curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
        x->checked = true;
        x->streaming = status == 200;
        if (x->streaming && !content_type_is_frames(x->c->curl)) {
            sbx_error_kind(x->err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                           "sbxd answered without the framed encoding (%s)", FRAMES_TYPE);
            x->failed = true;
            return 0;
        }
    }
    if (!x->streaming) return buf_append(&x->errbody, ptr, n) < 0 ? 0 : n;
    return feed(x, ptr, n) < 0 ? 0 : n;
}

/* ---- forwarding stdin and resizes while a stream runs ----------------------- */

/* Forwarding stops for good; why, unless the process closed its stdin or
 * ended (nothing to report then: its exit event tells). */
static void stdin_stop(struct stream_ctx *x, const sbx_err *why)
{
    x->stdin_open = false;
    x->eof_pending = false;
    x->in_len = 0;
    if (!why || x->res->stdin_failed) return;
    if (why->code &&
        (strcmp(why->code, "stdin_closed") == 0 || strcmp(why->code, "process_exited") == 0 ||
         strcmp(why->code, "no_such_process") == 0))
        return;
    x->res->stdin_failed = true;
    x->res->stdin_err = *why;
}

/* Start a request on c->ctl: POST path with body (ctype). */
static int ctl_start(struct stream_ctx *x, CURLM *m, enum ctl_kind kind, const char *path,
                     const char *body, size_t len, const char *ctype)
{
    sbx_client *c = x->c;
    sbx_err e;
    if (!c->ctl && !(c->ctl = curl_easy_init())) {
        sbx_error(&e, ENOMEM, "forward stdin");
        stdin_stop(x, &e);
        return -1;
    }
    curl_slist_free_all(x->ctl_hdrs);
    x->ctl_hdrs = NULL;
    x->ctl_resp.len = 0;
    if (setup_handle(c, c->ctl, c->ctl_errbuf, "POST", path, body, len, ctype, false, NULL,
                     &x->ctl_hdrs, &e) < 0) {
        stdin_stop(x, &e);
        return -1;
    }
    curl_easy_setopt(c->ctl, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c->ctl, CURLOPT_WRITEDATA, &x->ctl_resp);
    if (curl_multi_add_handle(m, c->ctl) != CURLM_OK) {
        sbx_error(&e, ENOMEM, "forward stdin");
        stdin_stop(x, &e);
        return -1;
    }
    x->ctl_kind = kind;
    x->ctl_busy = true;
    return 0;
}

/* The request on c->ctl is done. */
static void ctl_done(struct stream_ctx *x, CURLM *m, CURLcode rc)
{
    sbx_client *c = x->c;
    enum ctl_kind kind = x->ctl_kind;
    curl_multi_remove_handle(m, c->ctl);
    x->ctl_busy = false;
    long status = 0;
    curl_easy_getinfo(c->ctl, CURLINFO_RESPONSE_CODE, &status);
    sbx_err e;
    _cleanup_json_ json_object *o = NULL;
    if (rc != CURLE_OK) {
        if (kind == CTL_RESIZE) return; /* a lost resize is harmless */
        transport_error_h(c, c->ctl, c->ctl_errbuf, rc, &e);
        sbx_error_wrap(&e, "forward stdin");
        stdin_stop(x, &e);
        return;
    }
    if (parse_json(x->ctl_resp.p, x->ctl_resp.len, &o, &e) < 0) o = NULL;
    if (status == 429 && kind != CTL_RESIZE) {
        /* the process reads slower than its input comes (stdin_backlog):
         * the same piece again, later */
        x->retry_at = mono_now() + STDIN_BACKLOG_MS / 1000.0;
        if (kind == CTL_EOF) {
            x->eof_pending = true;
            x->stdin_open = true;
        }
        return;
    }
    if (status < 200 || status > 299) {
        if (kind == CTL_RESIZE) return;
        sbx_client_api_error(status, o, &e);
        sbx_error_wrap(&e, "forward stdin");
        stdin_stop(x, &e);
        return;
    }
    if (kind != CTL_STDIN) return;
    /* sbxd says how much it took: send the rest again (after a pause if it
     * took nothing, not to spin on a process that does not read) */
    json_object *j;
    long long took =
        o && json_object_object_get_ex(o, "written", &j) && json_object_is_type(j, json_type_int)
            ? json_object_get_int64(j)
            : (long long)x->in_len;
    if (took < 0 || (unsigned long long)took >= x->in_len) {
        x->in_len = 0;
        return;
    }
    memmove(x->in, x->in + took, x->in_len - (size_t)took);
    x->in_len -= (size_t)took;
    if (took == 0) x->retry_at = mono_now() + STDIN_RETRY_MS / 1000.0;
}

/* Start the next stdin or resize request if one is due and none runs.
 * Returns true when one was started. */
static bool ctl_next(struct stream_ctx *x, CURLM *m)
{
    const struct sbx_stream_io *io = x->io;
    if (!io || x->ctl_busy || x->res->pid <= 0) return false;
    char path[400];
    if (io->resize && *io->resize && io->get_size) {
        *io->resize = 0;
        int cols, rows;
        if (io->get_size(io->ud, &cols, &rows)) {
            snprintf(path, sizeof(path), "/v1/sessions/%s/processes/%d/resize", x->esession,
                     x->res->pid);
            int n = snprintf(x->resize_body, sizeof(x->resize_body), "{\"cols\":%d,\"rows\":%d}",
                             cols, rows);
            return ctl_start(x, m, CTL_RESIZE, path, x->resize_body, (size_t)n,
                             "application/json") == 0;
        }
    }
    if (!x->stdin_open) return false;
    snprintf(path, sizeof(path), "/v1/sessions/%s/processes/%d/stdin", x->esession, x->res->pid);
    if (x->in_len > 0) {
        if (mono_now() < x->retry_at) return false;
        return ctl_start(x, m, CTL_STDIN, path, x->in, x->in_len, "application/octet-stream") == 0;
    }
    if (x->eof_pending) {
        if (mono_now() < x->retry_at) return false;
        x->stdin_open = false;
        x->eof_pending = false;
        strcat(path, "?eof=1");
        return ctl_start(x, m, CTL_EOF, path, "", 0, "application/octet-stream") == 0;
    }
    if (!x->stdin_ready) return false;
    x->stdin_ready = false;
    ssize_t n = read(io->stdin_fd, x->in, STDIN_CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
    if (n <= 0) { /* the end (a read error ends it too: nothing more can come) */
        x->eof_pending = true;
        return ctl_next(x, m);
    }
    x->in_len = (size_t)n;
    return ctl_start(x, m, CTL_STDIN, path, x->in, x->in_len, "application/octet-stream") == 0;
}

/* Is stdin worth a read now? (polled without waiting) */
static bool stdin_wanted(const struct stream_ctx *x)
{
    return x->io && x->stdin_open && x->res->pid > 0 && !x->ctl_busy && x->in_len == 0 &&
           !x->eof_pending && !x->stdin_ready;
}

/* Drive the stream (and the stdin/resize requests) with the multi interface
 * so that wake_fd and stdin end the wait at once. Returns the stream's
 * result, or sets res->interrupted and returns CURLE_OK when interrupted
 * first. */
static CURLcode run_stream(struct stream_ctx *x, sbx_err *err, bool *multi_failed)
{
    CURL *h = x->c->curl;
    const struct sbx_stream_io *io = x->io;
    CURLM *m = curl_multi_init();
    CURLcode result = CURLE_OK;
    *multi_failed = false;
    if (!m || curl_multi_add_handle(m, h) != CURLM_OK) {
        if (m) curl_multi_cleanup(m);
        sbx_error(err, ENOMEM, "start request");
        *multi_failed = true;
        return CURLE_OUT_OF_MEMORY;
    }
    for (;;) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            sbx_error(err, 0, "stream: %s", curl_multi_strerror(mc));
            *multi_failed = true;
            break;
        }
        bool done = false;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            if (msg->easy_handle == h) {
                done = true;
                result = msg->data.result;
            } else if (x->ctl_busy && msg->easy_handle == x->c->ctl) {
                ctl_done(x, m, msg->data.result);
            }
        }
        if (done) break;
        if (interrupted(x)) {
            x->res->interrupted = true;
            break;
        }
        if (ctl_next(x, m)) continue; /* get it going at once */

        struct curl_waitfd w[2];
        unsigned nw = 0;
        if (io && io->wake_fd >= 0)
            w[nw++] = (struct curl_waitfd){.fd = io->wake_fd, .events = CURL_WAIT_POLLIN};
        bool want_in = stdin_wanted(x);
        if (want_in) w[nw++] = (struct curl_waitfd){.fd = io->stdin_fd, .events = CURL_WAIT_POLLIN};
        int timeout = (x->in_len > 0 || x->eof_pending) && !x->ctl_busy ? STDIN_RETRY_MS : 1000;
        mc = curl_multi_poll(m, nw ? w : NULL, nw, timeout, NULL);
        if (mc != CURLM_OK) {
            sbx_error(err, 0, "stream: %s", curl_multi_strerror(mc));
            *multi_failed = true;
            break;
        }
        if (io && io->wake_fd >= 0) { /* drained: the flags say what happened */
            struct pollfd p = {.fd = io->wake_fd, .events = POLLIN};
            char drain[64];
            while (poll(&p, 1, 0) > 0 && read(io->wake_fd, drain, sizeof(drain)) > 0) {
            }
        }
        if (want_in) { /* readable, at its end, or broken: the read will tell */
            struct pollfd p = {.fd = io->stdin_fd, .events = POLLIN};
            if (poll(&p, 1, 0) > 0) x->stdin_ready = true;
        }
        if (interrupted(x)) {
            x->res->interrupted = true;
            break;
        }
    }
    /* Removing an unfinished exec transfer closes its connection: sbxd then
     * kills the process group. */
    if (x->ctl_busy) {
        curl_multi_remove_handle(m, x->c->ctl);
        x->ctl_busy = false;
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return result;
}

/* One framed stream: method path (body: JSON or NULL). 0 when it ended
 * cleanly (or was interrupted, or its output closed); see res. */
static int stream(sbx_client *c, const char *method, const char *path, json_object *body,
                  const char *esession, const struct sbx_stream_io *io, struct sbx_exec_result *res,
                  sbx_err *err)
{
    const char *s = NULL;
    size_t len = 0;
    if (serialize(body, &s, &len, err) < 0) return -1;
    __attribute__((cleanup(free_slist))) struct curl_slist *hdrs = NULL;
    static const char *const accept[] = {"Accept: " FRAMES_TYPE, NULL};
    if (setup(c, method, path, s, len, false, accept, &hdrs, err) < 0) return -1;

    _cleanup_free_ char *in = NULL;
    if (io && io->stdin_fd >= 0 && !(in = malloc(STDIN_CHUNK)))
        return sbx_error(err, ENOMEM, "forward stdin");
    struct stream_ctx x = {
        .c = c,
        .io = io,
        .res = res,
        .err = err,
        .errbody = {.max = ERRBODY_MAX},
        .json = {.max = FRAME_JSON_MAX},
        .esession = esession,
        .ctl_resp = {.max = ERRBODY_MAX},
        .in = in,
        .stdin_open = in != NULL,
    };
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, stream_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);

    bool multi_failed;
    CURLcode rc = run_stream(&x, err, &multi_failed);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    int ret = 0;

    if (multi_failed || x.failed) {
        ret = -1;
    } else if (res->interrupted || res->output_closed) {
        ret = 0;
    } else if (rc != CURLE_OK) {
        if (x.streaming) /* sbxd went away mid-stream (killed, restarted) */
            ret = sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                                 "the connection to sbxd broke off in the middle of the stream "
                                 "(%s)",
                                 c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        else
            ret = transport_error(c, rc, err);
    } else if (status != 200) {
        _cleanup_json_ json_object *o = NULL;
        sbx_err perr;
        if (parse_json(x.errbody.p, x.errbody.len, &o, &perr) < 0) o = NULL;
        ret = sbx_client_api_error(status, o, err);
    } else if (x.got_error) {
        ret = -1; /* err holds the error frame's message */
    } else if (x.hdr_have || x.remaining) {
        ret = sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                             "the stream from sbxd ended in the middle of a frame");
    }
    buf_free(&x.errbody);
    buf_free(&x.json);
    buf_free(&x.ctl_resp);
    curl_slist_free_all(x.ctl_hdrs);
    return ret;
}

int sbx_client_exec(sbx_client *c, const char *id, json_object *req, const struct sbx_stream_io *io,
                    struct sbx_exec_result *res, sbx_err *err)
{
    memset(res, 0, sizeof(*res));
    res->code = -1;
    char eid[256], path[320];
    if (sbx_client_escape(c, id, eid, sizeof(eid), err) < 0) return -1;
    snprintf(path, sizeof(path), "/v1/sessions/%s/exec", eid);
    if (stream(c, "POST", path, req, eid, io, res, err) < 0) return -1;
    if (res->exited || res->restarted || res->interrupted || res->output_closed) return 0;
    if (res->pid > 0)
        return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                              "the exec stream from sbxd ended before process %d exited (no exit "
                              "status came)",
                              res->pid);
    return sbx_error_kind(err, SBX_E_INTERNAL, SBX_CODE_TRANSPORT,
                          "the exec stream from sbxd ended without an exit status");
}

int sbx_client_logs(sbx_client *c, const char *id, int pid, bool follow,
                    const struct sbx_stream_io *io, struct sbx_exec_result *res, sbx_err *err)
{
    memset(res, 0, sizeof(*res));
    res->code = -1;
    char eid[256], path[360];
    if (sbx_client_escape(c, id, eid, sizeof(eid), err) < 0) return -1;
    snprintf(path, sizeof(path), "/v1/sessions/%s/processes/%d/logs%s", eid, pid,
             follow ? "?follow=1" : "");
    /* logs never forward stdin */
    struct sbx_stream_io plain = {.wake_fd = -1, .stdin_fd = -1};
    if (io) {
        plain = *io;
        plain.stdin_fd = -1;
        plain.resize = NULL;
    }
    int r = stream(c, "GET", path, NULL, eid, &plain, res, err);
    if (!res->pid) res->pid = pid;
    return r;
}
