/*
 * egressserver - the origin server of bench/egress.sh's "fake internet".
 *
 *   egressserver ADDR PORT BIGBYTES
 *
 * One thread, epoll, nonblocking sockets: it should never be what is measured.
 * Every body comes from one static buffer in memory (no file, no copy per
 * request beyond the write itself).
 *
 *   GET /small     200, 100 bytes
 *   GET /big       200, BIGBYTES bytes
 *   GET /n/COUNT   200, COUNT bytes
 *   anything else  404 (a short body) / 405 for a method other than GET
 *
 * Request targets in absolute form (http://host/path) are accepted too.
 * HTTP/1.1 keeps the connection unless the request says "Connection: close";
 * HTTP/1.0 (tinyproxy speaks it upstream) closes unless it says keep-alive.
 * Pipelined requests are answered in order. Prints "ready" once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BODYBUF (1u << 20) /* the static body: 1 MiB, written repeatedly */
#define INCAP 16384        /* request head limit */
#define SMALL 100

static char body[BODYBUF];

struct conn {
    int fd;
    char in[INCAP];
    size_t inlen;
    char hdr[256];
    size_t hdrlen, hdroff;
    uint64_t left, sent; /* body bytes still to send / already sent */
    bool writing, close_after;
    uint32_t ev; /* events registered with epoll */
};

static void die(const char *what)
{
    fprintf(stderr, "egressserver: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int ep;

static void conn_close(struct conn *c)
{
    close(c->fd); /* also removes it from the epoll set */
    free(c);
}

/* Parse one complete request head at c->in (length hl, "\r\n\r\n" included),
 * set up the response. */
static void start_response(struct conn *c, size_t hl, uint64_t big)
{
    char *line_end = memmem(c->in, hl, "\r\n", 2);
    char method[16] = "", target[1024] = "", version[16] = "";
    *line_end = 0;
    int ok = sscanf(c->in, "%15s %1023s %15s", method, target, version) == 3;
    *line_end = '\r';
    bool v10 = ok && strcmp(version, "HTTP/1.0") == 0;
    bool conn_close_hdr = false, conn_keep_hdr = false;
    for (char *l = line_end + 2; l < c->in + hl - 2;) {
        char *e = memmem(l, (size_t)(c->in + hl - l), "\r\n", 2);
        if (!e) break;
        if (e - l > 11 && strncasecmp(l, "connection:", 11) == 0) {
            char v[64] = "";
            size_t n = (size_t)(e - l - 11);
            memcpy(v, l + 11, n < sizeof v - 1 ? n : sizeof v - 1);
            if (strcasestr(v, "close")) conn_close_hdr = true;
            if (strcasestr(v, "keep-alive")) conn_keep_hdr = true;
        }
        l = e + 2;
    }
    c->close_after = !ok || conn_close_hdr || (v10 && !conn_keep_hdr);

    const char *path = target;
    if (strncasecmp(path, "http://", 7) == 0) {
        path = strchr(path + 7, '/');
        if (!path) path = "/";
    }
    int status = 200;
    uint64_t n = 0;
    if (!ok) status = 400, n = 0;
    else if (strcmp(method, "GET") != 0) status = 405;
    else if (strcmp(path, "/small") == 0) n = SMALL;
    else if (strcmp(path, "/big") == 0) n = big;
    else if (strncmp(path, "/n/", 3) == 0) n = strtoull(path + 3, NULL, 10);
    else status = 404;
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" :
                         status == 405 ? "Method Not Allowed" : "Bad Request";
    c->hdrlen = (size_t)snprintf(c->hdr, sizeof c->hdr,
                                 "HTTP/1.1 %d %s\r\nContent-Type: application/octet-stream\r\n"
                                 "Content-Length: %llu\r\n%s\r\n",
                                 status, reason, (unsigned long long)n,
                                 c->close_after ? "Connection: close\r\n" :
                                 v10 ? "Connection: keep-alive\r\n" : "");
    c->hdroff = 0;
    c->left = n;
    c->sent = 0;
    c->writing = true;
    /* drop the request from the input buffer (pipelined bytes stay) */
    memmove(c->in, c->in + hl, c->inlen - hl);
    c->inlen -= hl;
}

/* Write as much as the socket takes. 1: done, 0: EAGAIN, -1: error. */
static int pump(struct conn *c)
{
    for (;;) {
        struct iovec iov[2];
        int k = 0;
        if (c->hdroff < c->hdrlen)
            iov[k++] = (struct iovec){c->hdr + c->hdroff, c->hdrlen - c->hdroff};
        if (c->left) {
            size_t off = (size_t)(c->sent % BODYBUF);
            size_t len = BODYBUF - off;
            if (len > c->left) len = (size_t)c->left;
            iov[k++] = (struct iovec){body + off, len};
        }
        if (k == 0) return 1;
        ssize_t w = writev(c->fd, iov, k);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 0;
            return -1;
        }
        size_t u = (size_t)w;
        if (c->hdroff < c->hdrlen) {
            size_t h = c->hdrlen - c->hdroff;
            if (u < h) {
                c->hdroff += u;
                continue;
            }
            c->hdroff = c->hdrlen;
            u -= h;
        }
        c->left -= u;
        c->sent += u;
    }
}

static void set_events(struct conn *c, uint32_t ev)
{
    if (c->ev == ev) return;
    c->ev = ev;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Drive a connection as far as it goes without blocking. */
static void drive(struct conn *c, uint64_t big)
{
    for (;;) {
        if (c->writing) {
            int r = pump(c);
            if (r == 0) {
                set_events(c, EPOLLOUT);
                return;
            }
            c->writing = false;
            if (r < 0 || c->close_after) {
                conn_close(c);
                return;
            }
            continue;
        }
        char *end = c->inlen >= 4 ? memmem(c->in, c->inlen, "\r\n\r\n", 4) : NULL;
        if (end) {
            start_response(c, (size_t)(end + 4 - c->in), big);
            continue;
        }
        ssize_t r = c->inlen == INCAP ? 0 /* head too large */
                                      : read(c->fd, c->in + c->inlen, INCAP - c->inlen);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == EAGAIN) {
            set_events(c, EPOLLIN);
            return;
        }
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->inlen += (size_t)r;
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: egressserver ADDR PORT BIGBYTES\n");
        return 2;
    }
    uint64_t big = strtoull(argv[3], NULL, 10);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < BODYBUF; i++) body[i] = (char)('a' + i % 26);

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
        fprintf(stderr, "egressserver: bad address %s\n", argv[1]);
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (ls < 0) die("socket");
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(ls, 4096) < 0) die("listen");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);
    printf("ready\n");
    fflush(stdout);

    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c) {
                drive(c, big);
                continue;
            }
            for (;;) {
                int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->ev = EPOLLIN;
                struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                drive(c, big);
            }
        }
    }
}
