/* server.c - the API socket: accept, read requests (http.c), write JSON and
 * chunked streaming responses with backpressure. Knows nothing about
 * sessions: complete requests go to api_dispatch(). A dead client is never
 * freed under a caller's feet: teardown is deferred to the event loop. */
#include "server.h"

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "util.h"

static int g_listen_fd = -1;
static struct event *g_listen_ev;
static struct event *g_accept_timer; /* listening again after running out of fds */
static double g_accept_logged;       /* when running out of fds was last logged */
static unsigned long g_accept_refused;

#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_EVERY_S 10.0

static void conn_flush(struct conn *c);
static void process_input(struct conn *c);
static void conn_linger(struct conn *c);

/* Lingering close: a client told "413" (or "400") while it is still sending
 * its body would get EPIPE/ECONNRESET on its next write and never read the
 * answer. So after the response is flushed we shut our write side and keep
 * reading, and discarding, until the client closes, goes quiet for
 * LINGER_IDLE_S, or has sent LINGER_MAX_BYTES more (like nginx's
 * lingering_close). */
#define LINGER_IDLE_S 5
#define LINGER_MAX_BYTES ((size_t)256 << 20)

int err_http_status(const sbx_err *err)
{
    switch (err->kind) {
    case SBX_E_INVALID: return 400;
    case SBX_E_NOTFOUND: return 404;
    case SBX_E_CONFLICT: return 409;
    case SBX_E_TOOLARGE: return 413;
    case SBX_E_UNAVAILABLE: return 503;
    case SBX_E_FORBIDDEN: return 403;
    default: return 500;
    }
}

static void conn_free_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct conn *c = arg;
    http_req_free(&c->req);
    if (c->in) evbuffer_free(c->in);
    if (c->out) evbuffer_free(c->out);
    free(c);
}

/* The client is gone (EOF, error, or we are done with it). */
static void conn_kill(struct conn *c)
{
    if (c->fd < 0) return;
    struct sbxd *d = g_sbxd;
    for (struct conn **pp = &d->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    event_free(c->rev);
    event_free(c->wev);
    if (c->linger_ev) event_free(c->linger_ev);
    c->linger_ev = NULL;
    close(c->fd);
    c->fd = -1;
    if (c->on_gone) {
        void (*gone)(void *) = c->on_gone;
        c->on_gone = NULL;
        c->on_drain = NULL;
        c->streaming = 0;
        gone(c->stream_owner);
    }
    event_base_once(d->base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
}

void conn_abort(struct conn *c)
{
    conn_kill(c);
}

int conn_body_json(struct conn *c, struct json_object **out)
{
    sbx_err err;
    if (json_parse_object(c->req.body ? c->req.body : "", c->req.body_len, out, &err) < 0) {
        conn_respond_error(c, &err);
        return -1;
    }
    return 0;
}

void conn_finish_now(struct conn *c)
{
    if (c->fd < 0) return;
    double until = now_mono() + 1.0;
    while (evbuffer_get_length(c->out) > 0 && now_mono() < until) {
        int n = evbuffer_write(c->out, c->fd);
        if (n > 0) continue;
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        struct pollfd p = {c->fd, POLLOUT, 0};
        poll(&p, 1, 50);
    }
    shutdown(c->fd, SHUT_RDWR);
    conn_kill(c);
}

size_t conn_out_pending(struct conn *c)
{
    return c->fd < 0 ? 0 : evbuffer_get_length(c->out);
}

static void conn_flush(struct conn *c)
{
    if (c->fd < 0) return;
    size_t before = evbuffer_get_length(c->out);
    while (evbuffer_get_length(c->out) > 0) {
        int n = evbuffer_write_atmost(c->out, c->fd, 4 << 20);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            conn_kill(c);
            return;
        }
        if (n == 0) break;
    }
    size_t left = evbuffer_get_length(c->out);
    if (left > 0) {
        event_add(c->wev, NULL);
    } else {
        event_del(c->wev);
        if (c->closing) {
            if (c->linger)
                conn_linger(c);
            else
                conn_kill(c);
            return;
        }
    }
    if (c->streaming && c->on_drain && before >= CONN_OUT_LOW && left < CONN_OUT_LOW)
        c->on_drain(c->stream_owner);
}

static void write_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    conn_flush(arg);
}

void conn_set_owner(struct conn *c, void *owner, void (*on_drain)(void *),
                    void (*on_gone)(void *))
{
    c->stream_owner = owner;
    c->on_drain = on_drain;
    c->on_gone = on_gone;
}

static void request_done(struct conn *c)
{
    if (c->req.stream_body && !c->req.complete) {
        /* answered before the body ended: the rest of it is thrown away */
        c->closing = 1;
        c->linger = 1;
        c->req.keep_alive = 0;
    }
    c->on_body = NULL;
    c->on_body_end = NULL;
    if (c->input_paused && c->fd >= 0) event_add(c->rev, NULL);
    c->input_paused = 0;
    c->busy = 0;
    c->streaming = 0;
    c->on_gone = NULL;
    c->on_drain = NULL;
    c->stream_owner = NULL;
    if (!c->req.keep_alive) c->closing = 1;
    http_req_reset(&c->req);
    conn_flush(c);
    if (c->fd >= 0 && !c->closing) process_input(c);
}

static void add_headers(struct conn *c, int status, const char *ctype, size_t clen, int chunked)
{
    evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\nServer: sbxd/" SBX_VERSION "\r\n", status,
                        http_status_text(status));
    if (ctype) evbuffer_add_printf(c->out, "Content-Type: %s\r\n", ctype);
    if (chunked)
        evbuffer_add_printf(c->out, "Transfer-Encoding: chunked\r\nCache-Control: no-store\r\n");
    else
        evbuffer_add_printf(c->out, "Content-Length: %zu\r\n", clen);
    if (!c->req.keep_alive || c->closing) evbuffer_add_printf(c->out, "Connection: close\r\n");
    evbuffer_add(c->out, "\r\n", 2);
}

void conn_respond(struct conn *c, int status, struct json_object *body)
{
    if (c->fd < 0) {
        if (body) json_object_put(body);
        return;
    }
    if (body) {
        size_t len;
        const char *s = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &len);
        add_headers(c, status, "application/json", len + 1, 0);
        evbuffer_add(c->out, s, len);
        evbuffer_add(c->out, "\n", 1);
        json_object_put(body);
    } else {
        add_headers(c, status, NULL, 0, 0);
    }
    request_done(c);
}

void conn_respond_error3(struct conn *c, int status, const char *code, const char *msg)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", e);
    if (status >= 500) log_warn("request failed: %s", msg);
    conn_respond(c, status, o);
}

void conn_respond_error(struct conn *c, const sbx_err *err)
{
    conn_respond_error3(c, err_http_status(err), err->code ? err->code : "internal", err->msg);
}

void conn_stream_begin(struct conn *c, const char *content_type)
{
    if (c->fd < 0) return;
    add_headers(c, 200, content_type, 0, 1);
    c->streaming = 1;
    conn_flush(c);
}

void conn_stream_chunk(struct conn *c, const void *hdr, size_t hlen, const void *data, size_t dlen)
{
    if (c->fd < 0 || hlen + dlen == 0) return;
    char sz[24];
    int n = snprintf(sz, sizeof(sz), "%zx\r\n", hlen + dlen);
    evbuffer_add(c->out, sz, (size_t)n);
    if (hlen) evbuffer_add(c->out, hdr, hlen);
    if (dlen) evbuffer_add(c->out, data, dlen);
    evbuffer_add(c->out, "\r\n", 2);
    conn_flush(c);
}

void conn_stream_end(struct conn *c)
{
    if (c->fd < 0) return;
    evbuffer_add(c->out, "0\r\n\r\n", 5);
    request_done(c);
}

static void body_chunk(void *ud, const char *p, size_t n)
{
    struct conn *c = ud;
    if (c->on_body) c->on_body(c->stream_owner, p, n);
}

static int head_cb(struct http_req *r, void *ud)
{
    struct conn *c = ud;
    int v = api_head(c);
    if (v > 0) {
        r->on_chunk = body_chunk;
        r->chunk_ud = c;
        if (r->expect_continue) evbuffer_add_printf(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    return v;
}

void conn_stream_body(struct conn *c, void *owner, void (*on_body)(void *, const char *, size_t),
                      void (*on_body_end)(void *), void (*on_gone)(void *))
{
    c->busy = 1;
    c->stream_owner = owner;
    c->on_body = on_body;
    c->on_body_end = on_body_end;
    c->on_gone = on_gone;
}

void conn_pause_input(struct conn *c, int pause)
{
    if (c->fd < 0 || c->input_paused == pause) return;
    c->input_paused = pause;
    if (pause) {
        event_del(c->rev);
        return;
    }
    /* from the loop, never from inside a body callback: the parser may be running */
    event_add(c->rev, NULL);
    event_active(c->rev, EV_READ, 0);
}

static int body_pending(struct conn *c)
{
    return c->busy && c->req.stream_body && !c->req.complete;
}

static void process_input(struct conn *c)
{
    while (c->fd >= 0 && !c->closing && (!c->busy || body_pending(c)) && !c->input_paused &&
           evbuffer_get_length(c->in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(c->in, -1, NULL, &v, 1) < 1) break;
        int was_busy = c->busy;
        ssize_t n = http_req_feed(&c->req, v.iov_base, v.iov_len);
        if (n >= 0 && c->busy && !was_busy && evbuffer_get_length(c->out) > 0)
            conn_flush(c); /* 100 Continue */
        if (c->fd < 0) return;
        if (n < 0) {
            if (c->busy && c->on_gone) {
                /* a streamed body turned out malformed: its owner gives up */
                void (*gone)(void *) = c->on_gone;
                void *owner = c->stream_owner;
                c->on_gone = NULL;
                c->stream_owner = NULL;
                c->on_body = NULL;
                c->on_body_end = NULL;
                gone(owner);
            }
            c->closing = 1;
            c->linger = 1;
            c->req.keep_alive = 0;
            c->busy = 1;
            conn_respond_error3(c, c->req.err_status, c->req.err_code, c->req.err_msg);
            return;
        }
        evbuffer_drain(c->in, (size_t)n);
        if (c->req.complete && c->req.stream_body) {
            if (c->on_body_end) c->on_body_end(c->stream_owner);
            return; /* the owner answers; pipelined bytes wait in c->in */
        }
        if (c->req.complete && !was_busy) {
            c->busy = 1;
            api_dispatch(c);
        }
    }
}

static void linger_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    conn_kill(arg);
}

static void conn_linger(struct conn *c)
{
    if (c->linger_ev) return;
    shutdown(c->fd, SHUT_WR);
    c->linger_ev = event_new(g_sbxd->base, -1, 0, linger_timeout_cb, c);
    if (!c->linger_ev) {
        conn_kill(c);
        return;
    }
    struct timeval tv = {LINGER_IDLE_S, 0};
    event_add(c->linger_ev, &tv);
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    event_add(c->rev, NULL); /* may have been paused */
}

/* Reads while lingering: thrown away; EOF, error or the byte cap end it. */
static void linger_read(struct conn *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0 || (c->lingered += (size_t)n) > LINGER_MAX_BYTES) {
            conn_kill(c);
            return;
        }
    }
    struct timeval tv = {LINGER_IDLE_S, 0};
    event_add(c->linger_ev, &tv);
}

static void read_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct conn *c = arg;
    if (c->linger_ev) {
        linger_read(c);
        return;
    }
    if (c->closing && c->linger) {
        /* response still being flushed: keep the socket buffer moving */
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        char buf[65536];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) {
        }
        if (n == 0) event_del(c->rev); /* half-closed: finish writing first */
        else if (errno != EAGAIN && errno != EINTR) conn_kill(c);
        return;
    }
    for (;;) {
        int n = evbuffer_read(c->in, fd, 256 * 1024);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {
            if (n == 0 && !c->busy && http_req_eof(&c->req) == 0) {
                conn_kill(c); /* clean close between requests */
                return;
            }
            conn_kill(c);
            return;
        }
        if (body_pending(c)) {
            process_input(c);
            if (c->fd < 0 || c->input_paused || c->closing) return;
            if (n < 256 * 1024) return;
            continue;
        }
        if (evbuffer_get_length(c->in) > HTTP_MAX_BODY + HTTP_MAX_HEADER_BYTES + 65536 && c->busy) {
            /* a client that pipelines megabytes while we stream: stop reading */
            event_del(c->rev);
            break;
        }
        if (n < 256 * 1024) break;
    }
    if (!c->busy || body_pending(c)) process_input(c);
}

static void accept_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    (void)arg;
    if (g_listen_ev) event_add(g_listen_ev, NULL);
}

/* Out of fds (EMFILE, ENFILE): the connection stays in the backlog and the
 * socket stays readable, so a level-triggered listener would call accept
 * again at once, spinning and logging a line per try until an fd frees.
 * Stop listening for ACCEPT_PAUSE_MS instead; log at most every
 * ACCEPT_LOG_EVERY_S. */
static void accept_pause(struct sbxd *d, int e)
{
    g_accept_refused++;
    double now = now_mono();
    if (g_accept_logged == 0 || now - g_accept_logged >= ACCEPT_LOG_EVERY_S) {
        log_warn("accept: %s: not accepting connections for %d ms (%lu times so far)",
                 strerror(e), ACCEPT_PAUSE_MS, g_accept_refused);
        g_accept_logged = now;
    }
    if (!g_accept_timer) g_accept_timer = evtimer_new(d->base, accept_resume_cb, d);
    if (!g_accept_timer) return; /* keep listening: better busy than deaf */
    event_del(g_listen_ev);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    evtimer_add(g_accept_timer, &tv);
}

static void accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
    (void)ev;
    struct sbxd *d = arg;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_pause(d, errno);
            else if (errno != EAGAIN && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        int sz = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        c->fd = fd;
        c->in = evbuffer_new();
        c->out = evbuffer_new();
        http_req_init(&c->req);
        c->req.on_head = head_cb;
        c->req.head_ud = c;
        c->rev = event_new(d->base, fd, EV_READ | EV_PERSIST, read_cb, c);
        c->wev = event_new(d->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
        if (!c->in || !c->out || !c->rev || !c->wev) {
            log_error("out of memory accepting a connection");
            if (c->rev) event_free(c->rev);
            if (c->wev) event_free(c->wev);
            if (c->in) evbuffer_free(c->in);
            if (c->out) evbuffer_free(c->out);
            free(c);
            close(fd);
            continue;
        }
        c->next = d->conns;
        d->conns = c;
        event_add(c->rev, NULL);
    }
}

int server_listen(struct sbxd *d, sbx_err *err)
{
    int fd = -1;
    if (sd_listen_fds(0) == 1 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0) {
        fd = SD_LISTEN_FDS_START; /* socket activation: systemd owns path and mode */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        log_info("listening on the socket passed by systemd");
    } else {
        const char *path = d->cfg.socket_path;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
            return sbx_error(err, ENAMETOOLONG, "socket path %s", path);
        strcpy(sa.sun_path, path);
        char dir[sizeof(sa.sun_path)];
        strcpy(dir, path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            if (mkdir_p(dir, 0755, err) < 0) return -1;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return sbx_error(err, errno, "socket");
        /* A socket file left by a dead sbxd is removed; a live one is not stolen. */
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(fd);
            return sbx_error(err, EADDRINUSE, "another sbxd is already listening on %s", path);
        }
        unlink(path);
        mode_t old = umask(0117);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0) {
            int e = errno;
            close(fd);
            return sbx_error(err, e, "bind %s", path);
        }
        struct group *g = getgrnam("sbx");
        if (g && chown(path, 0, g->gr_gid) < 0)
            log_warn("chown %s to group sbx: %s", path, strerror(errno));
        chmod(path, 0660);
        if (listen(fd, 1024) < 0) {
            int e = errno;
            close(fd);
            return sbx_error(err, e, "listen %s", path);
        }
        log_info("listening on %s (root%s)", path, g ? " and group sbx" : " only: no group sbx");
    }
    g_listen_fd = fd;
    g_listen_ev = event_new(d->base, fd, EV_READ | EV_PERSIST, accept_cb, d);
    if (!g_listen_ev) return sbx_error(err, ENOMEM, "listen event");
    event_add(g_listen_ev, NULL);
    return 0;
}

void server_close_all(struct sbxd *d)
{
    if (g_accept_timer) event_free(g_accept_timer);
    g_accept_timer = NULL;
    if (g_listen_ev) event_free(g_listen_ev);
    g_listen_ev = NULL;
    if (g_listen_fd >= 0) close(g_listen_fd);
    g_listen_fd = -1;
    while (d->conns) conn_kill(d->conns);
}
