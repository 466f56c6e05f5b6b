/* netprobe - a static network test tool that integration tests copy into
 * sandboxes (the busybox image has no curl, no python, no TLS client).
 *
 *   netprobe get URL [-H 'Name: value']... [-X METHOD] [-d BODY] [--ca FILE]
 *                    [--ok-any] [--lines-ts] [--keepalive N] [--timeout S]
 *       HTTP/1.1 client for http:// and https:// (name or IP literal host,
 *       optional :port). https verifies the peer against OpenSSL's default
 *       paths (SSL_CERT_FILE / SSL_CERT_DIR honoured) or only --ca FILE, and
 *       the host name (SNI for names). Response head to stderr as "< " lines,
 *       body to stdout as it arrives (Content-Length, chunked, or until close).
 *       --lines-ts: each body line as "<ms since start> <line>".
 *       --keepalive N: the request N times on one connection (reconnecting,
 *       with a note, only when the server closes it); "req I us T" per
 *       request on stderr.
 *   netprobe ws URL [--send TEXT]... [-H ...] [--frames N] [--lines-ts]
 *       WebSocket client (ws://, wss://): sends each --send as a text frame,
 *       prints each text frame received on its own line; done after
 *       1 + (number of --send) frames (or --frames N).
 *   netprobe serve PORT [--root DIR] [--dump-headers]
 *       A Vite-like dev server on 0.0.0.0:PORT (0: any free port; the
 *       "listening" line on stderr says which), one thread per connection,
 *       keep-alive. Routes: / (HTML loading /@vite/client), /@vite/client
 *       (JS), any GET with Upgrade: websocket (101, vite-hmr subprotocol
 *       echoed, {"type":"connected"}, then {"type":"echo","data":...} per
 *       text frame), /echo (the request back as text), /sse?n=N&ms=M (N
 *       server-sent events M ms apart, chunked), /status/NNN, files under
 *       --root, else 404. One stderr line per request with its Cookie header
 *       (all headers with --dump-headers).
 *
 * Exit status: 0 ok, 1 usage, 2 connection or DNS failure, 3 TLS
 * verification failure, 4 HTTP-level failure (status >= 400 unless --ok-any,
 * a malformed or cut-off response, a refused WebSocket upgrade). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_CONNECT = 2, EXIT_TLS = 3, EXIT_HTTP = 4 };

#define BUF_SIZE 65536
#define LINE_MAX_LEN 16384
#define MAX_HEADERS 128
#define WS_MAX_MESSAGE (1 << 20)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455, section 1.3 */

static struct timespec g_start;
static int g_timeout_s = 30;

/* ---- small helpers ---- */

__attribute__((format(printf, 1, 2))) static void msg(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof(buf) - 2) n = sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(2, buf, (size_t)n) < 0) { /* nothing to do */
    }
}

__attribute__((format(printf, 2, 3), noreturn)) static void die(int code, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    msg("netprobe: %s", buf);
    exit(code);
}

static void ssl_errors(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, out, cap);
    else
        snprintf(out, cap, "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

static long long elapsed_us(const struct timespec *since)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)(t.tv_sec - since->tv_sec) * 1000000 + (t.tv_nsec - since->tv_nsec) / 1000;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die(EXIT_USAGE, "out of memory");
    return p;
}

/* A growable byte string. */
struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const void *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) die(EXIT_USAGE, "out of memory");
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void str_addf(struct str *s, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof(buf)) { /* long: format again into the string */
        struct str t = {0};
        t.p = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(t.p, (size_t)n + 1, fmt, ap);
        va_end(ap);
        str_add(s, t.p, (size_t)n);
        free(t.p);
        return;
    }
    str_add(s, buf, (size_t)n);
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static void ws_accept_for(const char *key, char out[32])
{
    char cat[256];
    unsigned char md[SHA_DIGEST_LENGTH];
    snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)cat, strlen(cat), md);
    base64(md, sizeof(md), out);
}

/* ---- connections: a socket, maybe TLS, with a read buffer ---- */

struct conn {
    int fd;
    SSL *ssl;
    size_t off, len;
    int timed_out;
    char buf[BUF_SIZE];
};

static struct conn *conn_new(int fd)
{
    struct conn *c = xmalloc(sizeof(*c));
    c->fd = fd;
    c->ssl = NULL;
    c->off = c->len = 0;
    c->timed_out = 0;
    return c;
}

static void conn_free(struct conn *c)
{
    if (!c) return;
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    free(c);
}

/* >0 bytes, 0 end of stream, -1 error (errno, or the OpenSSL queue). */
static ssize_t conn_recv(struct conn *c, char *p, size_t n)
{
    for (;;) {
        if (c->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
            if (r > 0) return r;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN) return 0;
            if (e == SSL_ERROR_SYSCALL && errno == EINTR) continue;
            if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
                c->timed_out = 1;
            if (e == SSL_ERROR_WANT_READ) c->timed_out = 1;
            return -1;
        }
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) c->timed_out = 1;
        return r;
    }
}

static int conn_send(struct conn *c, const void *p, size_t n)
{
    const char *q = p;
    while (n) {
        ssize_t w;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, q, (int)(n > INT32_MAX ? INT32_MAX : n));
            if (r <= 0) return -1;
            w = r;
        } else {
            w = send(c->fd, q, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return -1;
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

static const char *conn_error(struct conn *c)
{
    static __thread char buf[256];
    if (c->timed_out) return "timed out";
    if (c->ssl) {
        ssl_errors(buf, sizeof(buf));
        return buf;
    }
    return errno ? strerror(errno) : "connection closed";
}

/* Make sure the buffer holds something: >0 bytes held, 0 EOF, -1 error. */
static ssize_t conn_fill(struct conn *c)
{
    if (c->off < c->len) return (ssize_t)(c->len - c->off);
    c->off = c->len = 0;
    ssize_t r = conn_recv(c, c->buf, sizeof(c->buf));
    if (r > 0) c->len = (size_t)r;
    return r;
}

/* Up to max buffered bytes (reading once when none): >0, 0 EOF, -1 error. */
static ssize_t conn_take(struct conn *c, size_t max, const char **p)
{
    ssize_t r = conn_fill(c);
    if (r <= 0) return r;
    size_t n = c->len - c->off;
    if (n > max) n = max;
    *p = c->buf + c->off;
    c->off += n;
    return (ssize_t)n;
}

static int conn_read_exact(struct conn *c, void *out, size_t n)
{
    char *o = out;
    while (n) {
        const char *p;
        ssize_t r = conn_take(c, n, &p);
        if (r <= 0) return -1;
        memcpy(o, p, (size_t)r);
        o += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One line without its CRLF (or LF): 0, or -1 on EOF (*eof_clean when
 * nothing at all was read: a clean EOF, or a reset, which is how a kept-alive
 * connection the server had already closed answers the next request), error
 * or a line over cap. */
static int conn_read_line(struct conn *c, char *out, size_t cap, int *eof_clean)
{
    size_t n = 0;
    if (eof_clean) *eof_clean = 0;
    for (;;) {
        ssize_t r = conn_fill(c);
        if (r <= 0) {
            if (eof_clean && n == 0) *eof_clean = 1;
            return -1;
        }
        char *start = c->buf + c->off;
        char *nl = memchr(start, '\n', c->len - c->off);
        size_t take = nl ? (size_t)(nl - start) + 1 : c->len - c->off;
        if (n + take >= cap) return -1;
        memcpy(out + n, start, take);
        n += take;
        c->off += take;
        if (nl) break;
    }
    n--; /* the \n */
    if (n && out[n - 1] == '\r') n--;
    out[n] = '\0';
    return 0;
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* ---- message heads ---- */

struct head {
    char first[LINE_MAX_LEN];
    int n;
    char *name[MAX_HEADERS], *value[MAX_HEADERS];
};

static void head_free(struct head *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->name[i]);
    h->n = 0;
}

static const char *head_get(const struct head *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0) return h->value[i];
    return NULL;
}

/* Whether any header called name lists token (comma-separated, any case). */
static int head_has_token(const struct head *h, const char *name, const char *token)
{
    size_t tl = strlen(token);
    for (int i = 0; i < h->n; i++) {
        if (strcasecmp(h->name[i], name) != 0) continue;
        const char *p = h->value[i];
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',')
                p++;
            const char *e = p;
            while (*e && *e != ',')
                e++;
            const char *te = e;
            while (te > p && (te[-1] == ' ' || te[-1] == '\t'))
                te--;
            if ((size_t)(te - p) == tl && strncasecmp(p, token, tl) == 0) return 1;
            p = e;
        }
    }
    return 0;
}

/* Read a head (first line + headers + blank line). prefix: print each line
 * to stderr after it. Returns 0, -1 on error, -2 on a clean EOF before any
 * byte (an idle keep-alive connection closing). */
static int read_head(struct conn *c, struct head *h, const char *prefix)
{
    static __thread char line[LINE_MAX_LEN];
    int clean;
    h->n = 0;
    do { /* tolerate empty lines before a request (RFC 9112 2.2) */
        if (conn_read_line(c, h->first, sizeof(h->first), &clean) < 0) return clean ? -2 : -1;
    } while (h->first[0] == '\0');
    if (prefix) msg("%s%s", prefix, h->first);
    for (;;) {
        if (conn_read_line(c, line, sizeof(line), NULL) < 0) return -1;
        if (line[0] == '\0') return 0;
        if (prefix) msg("%s%s", prefix, line);
        char *colon = strchr(line, ':');
        if (!colon || colon == line || h->n == MAX_HEADERS) return -1;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        size_t nl = strlen(line);
        char *copy = xmalloc(nl + vl + 2);
        memcpy(copy, line, nl + 1);
        memcpy(copy + nl + 1, v, vl + 1);
        h->name[h->n] = copy;
        h->value[h->n] = copy + nl + 1;
        h->n++;
    }
}

/* ---- URLs and connecting ---- */

struct url {
    int tls;
    char host[256]; /* without brackets */
    char port[8];
    int default_port;
    int is_ip;
    char *path; /* path and query, from '/' */
    char hostport[300];
};

static int parse_url(const char *s, struct url *u, int ws)
{
    memset(u, 0, sizeof(*u));
    const char *p;
    if (strncasecmp(s, "http://", 7) == 0 && !ws)
        p = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0 && !ws)
        p = s + 8, u->tls = 1;
    else if (strncasecmp(s, "ws://", 5) == 0 && ws)
        p = s + 5;
    else if (strncasecmp(s, "wss://", 6) == 0 && ws)
        p = s + 6, u->tls = 1;
    else
        return -1;
    const char *end = p + strcspn(p, "/?#");
    const char *hs = p, *he;
    if (memchr(p, '@', (size_t)(end - p))) return -1;
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he) return -1;
        p = he + 1;
    } else {
        he = memchr(p, ':', (size_t)(end - p));
        if (!he) he = end;
        p = he;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(u->host)) return -1;
    memcpy(u->host, hs, (size_t)(he - hs));
    if (*p == ':') {
        p++;
        if (p == end || end - p > 5) return -1;
        for (const char *q = p; q < end; q++)
            if (!isdigit((unsigned char)*q)) return -1;
        memcpy(u->port, p, (size_t)(end - p));
        long v = strtol(u->port, NULL, 10);
        if (v < 1 || v > 65535) return -1;
    } else if (p != end) {
        return -1;
    } else {
        snprintf(u->port, sizeof(u->port), "%s", u->tls ? "443" : "80");
        u->default_port = 1;
    }
    if (strcmp(u->port, u->tls ? "443" : "80") == 0) u->default_port = 1;
    unsigned char tmp[16];
    u->is_ip = inet_pton(AF_INET, u->host, tmp) == 1 || inet_pton(AF_INET6, u->host, tmp) == 1;
    int v6 = strchr(u->host, ':') != NULL;
    if (u->default_port)
        snprintf(u->hostport, sizeof(u->hostport), v6 ? "[%s]" : "%s", u->host);
    else
        snprintf(u->hostport, sizeof(u->hostport), v6 ? "[%s]:%s" : "%s:%s", u->host, u->port);
    const char *path = end;
    size_t pl = strcspn(path, "#");
    u->path = xmalloc(pl + 2);
    if (*path != '/') {
        u->path[0] = '/';
        memcpy(u->path + 1, path, pl);
        u->path[pl + 1] = '\0';
    } else {
        memcpy(u->path, path, pl);
        u->path[pl] = '\0';
    }
    return 0;
}

/* A connected TCP socket (blocking, timeouts set, TCP_NODELAY); exits 2. */
static int tcp_connect(const struct url *u)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int r = getaddrinfo(u->host, u->port, &hints, &res);
    if (r != 0)
        die(EXIT_CONNECT, "resolve %s: %s", u->host,
            r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
    char last[512] = "no address";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char addr[INET6_ADDRSTRLEN] = "?";
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, sizeof(addr));
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, addr,
                      sizeof(addr));
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            snprintf(last, sizeof(last), "socket: %s", strerror(errno));
            continue;
        }
        int e = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                int pr = poll(&pfd, 1, g_timeout_s * 1000);
                socklen_t l = sizeof(e);
                if (pr == 0)
                    e = ETIMEDOUT;
                else if (pr < 0)
                    e = errno;
                else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
                    e = errno;
            }
        }
        if (e) {
            snprintf(last, sizeof(last), "%s port %s: %s", addr, u->port, strerror(e));
            close(fd);
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        set_timeouts(fd, g_timeout_s);
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    die(EXIT_CONNECT, "cannot connect to %s: %s", u->host, last);
}

static SSL_CTX *client_ctx(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die(EXIT_CONNECT, "TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
            char e[256];
            ssl_errors(e, sizeof(e));
            die(EXIT_USAGE, "--ca %s: %s", ca_file, e);
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        die(EXIT_CONNECT, "TLS: cannot load the default trust store");
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    return ctx;
}

/* Connect, and for TLS hand-shake and verify (exit 3 when verification fails). */
static struct conn *open_conn(const struct url *u, SSL_CTX *ctx)
{
    struct conn *c = conn_new(tcp_connect(u));
    if (!u->tls) return c;
    c->ssl = SSL_new(ctx);
    if (!c->ssl) die(EXIT_CONNECT, "TLS: SSL_new");
    SSL_set_fd(c->ssl, c->fd);
    if (u->is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host);
    } else {
        SSL_set1_host(c->ssl, u->host);
        SSL_set_tlsext_host_name(c->ssl, u->host);
    }
    ERR_clear_error();
    errno = 0;
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        if (v != X509_V_OK)
            die(EXIT_TLS, "TLS verification of %s failed: %s (verify error %ld)", u->host,
                X509_verify_cert_error_string(v), v);
        char e[256];
        ssl_errors(e, sizeof(e));
        die(EXIT_CONNECT, "TLS handshake with %s: %s", u->host, e);
    }
    return c;
}

/* ---- body output ---- */

struct sink {
    int lines_ts;
    struct str partial;
};

static void sink_line(const char *p, size_t n)
{
    struct str s = {0};
    str_addf(&s, "%lld ", elapsed_us(&g_start) / 1000);
    str_add(&s, p, n);
    str_add(&s, "\n", 1);
    write_all(1, s.p, s.len);
    free(s.p);
}

static void sink_write(struct sink *k, const char *p, size_t n)
{
    if (!k->lines_ts) {
        if (write_all(1, p, n) < 0) die(EXIT_HTTP, "write stdout: %s", strerror(errno));
        return;
    }
    while (n) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            str_add(&k->partial, p, n);
            return;
        }
        size_t take = (size_t)(nl - p);
        if (k->partial.len) {
            str_add(&k->partial, p, take);
            sink_line(k->partial.p, k->partial.len);
            k->partial.len = 0;
        } else {
            sink_line(p, take);
        }
        p = nl + 1;
        n -= take + 1;
    }
}

static void sink_flush(struct sink *k)
{
    if (k->lines_ts && k->partial.len) {
        sink_line(k->partial.p, k->partial.len);
        k->partial.len = 0;
    }
}

/* ---- get ---- */

struct get_opts {
    const char *url, *method, *body, *ca;
    const char **headers;
    int nheaders;
    int ok_any, lines_ts, keepalive;
};

/* Copy n body bytes to the sink; -1 when the stream ends or fails first. */
static int body_copy(struct conn *c, struct sink *k, uint64_t n)
{
    while (n) {
        const char *p;
        ssize_t r = conn_take(c, n > BUF_SIZE ? BUF_SIZE : (size_t)n, &p);
        if (r <= 0) return -1;
        sink_write(k, p, (size_t)r);
        n -= (uint64_t)r;
    }
    return 0;
}

/* The response body. Returns 0, or -1 (message printed). *closed: the body
 * was delimited by the connection closing. */
static int read_body(struct conn *c, const struct head *h, int status, int head_req, struct sink *k,
                     int *closed)
{
    *closed = 0;
    if (head_req || status / 100 == 1 || status == 204 || status == 304) return 0;
    const char *te = head_get(h, "Transfer-Encoding");
    const char *cl = head_get(h, "Content-Length");
    char line[LINE_MAX_LEN];
    if (te && head_has_token(h, "Transfer-Encoding", "chunked")) {
        for (;;) {
            if (conn_read_line(c, line, sizeof(line), NULL) < 0) {
                msg("netprobe: chunked body cut off: %s", conn_error(c));
                return -1;
            }
            char *end;
            errno = 0;
            unsigned long long size = strtoull(line, &end, 16);
            if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t')) {
                msg("netprobe: bad chunk size line \"%.80s\"", line);
                return -1;
            }
            if (size == 0) break;
            if (body_copy(c, k, size) < 0 || conn_read_line(c, line, sizeof(line), NULL) < 0 ||
                line[0]) {
                msg("netprobe: chunk cut off or malformed: %s", conn_error(c));
                return -1;
            }
        }
        do { /* trailers */
            if (conn_read_line(c, line, sizeof(line), NULL) < 0) {
                msg("netprobe: chunked body trailer cut off");
                return -1;
            }
        } while (line[0]);
        return 0;
    }
    if (te) {
        msg("netprobe: unsupported Transfer-Encoding: %s", te);
        return -1;
    }
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || *end) {
            msg("netprobe: bad Content-Length: %s", cl);
            return -1;
        }
        if (body_copy(c, k, n) < 0) {
            msg("netprobe: body cut off (Content-Length %llu): %s", n, conn_error(c));
            return -1;
        }
        return 0;
    }
    *closed = 1;
    for (;;) {
        const char *p;
        ssize_t r = conn_take(c, BUF_SIZE, &p);
        if (r == 0) return 0;
        if (r < 0) {
            msg("netprobe: reading the body: %s", conn_error(c));
            return -1;
        }
        sink_write(k, p, (size_t)r);
    }
}

static void build_request(struct str *rq, const struct get_opts *o, const struct url *u,
                          int keepalive)
{
    int own_host = 0;
    for (int i = 0; i < o->nheaders; i++)
        if (strncasecmp(o->headers[i], "Host:", 5) == 0) own_host = 1;
    str_addf(rq, "%s %s HTTP/1.1\r\n", o->method, u->path);
    if (!own_host) str_addf(rq, "Host: %s\r\n", u->hostport);
    str_addf(rq, "Connection: %s\r\n", keepalive ? "keep-alive" : "close");
    for (int i = 0; i < o->nheaders; i++)
        str_addf(rq, "%s\r\n", o->headers[i]);
    if (o->body) str_addf(rq, "Content-Length: %zu\r\n", strlen(o->body));
    str_add(rq, "\r\n", 2);
    if (o->body) str_add(rq, o->body, strlen(o->body));
}

/* One exchange on c. Returns the final status (>0), or -1 (message printed),
 * or with quiet_eof -2 when the connection closes (or fails to take the
 * request) before any byte of a response: a reused connection gone stale.
 * *reusable: the connection may carry another request. */
static int exchange(struct conn *c, const struct str *rq, const struct get_opts *o, struct sink *k,
                    int quiet_eof, int *reusable)
{
    *reusable = 0;
    if (conn_send(c, rq->p, rq->len) < 0) {
        if (quiet_eof) return -2;
        msg("netprobe: sending the request: %s", conn_error(c));
        return -1;
    }
    struct head h = {0};
    int status;
    for (;;) {
        int r = read_head(c, &h, "< ");
        if (r == -2 && quiet_eof) { /* a kept-alive connection the server had closed */
            head_free(&h);
            return -2;
        }
        if (r < 0) {
            msg("netprobe: %s", r == -2 ? "connection closed before a response"
                                        : "malformed or cut-off response head");
            head_free(&h);
            return -1;
        }
        int minor;
        if (sscanf(h.first, "HTTP/1.%d %3d", &minor, &status) != 2 || status < 100 ||
            status > 999) {
            msg("netprobe: not an HTTP/1.x status line: \"%.80s\"", h.first);
            head_free(&h);
            return -1;
        }
        if (status / 100 != 1 || status == 101) break;
        head_free(&h); /* 100 Continue and friends */
    }
    int closed;
    int head_req = strcasecmp(o->method, "HEAD") == 0;
    int r = read_body(c, &h, status, head_req, k, &closed);
    sink_flush(k);
    *reusable = r == 0 && !closed && !head_has_token(&h, "Connection", "close") &&
                strncmp(h.first, "HTTP/1.0", 8) != 0;
    head_free(&h);
    return r < 0 ? -1 : status;
}

static int cmd_get(const struct get_opts *o)
{
    struct url u;
    if (parse_url(o->url, &u, 0) < 0) die(EXIT_USAGE, "not an http:// or https:// URL: %s", o->url);
    SSL_CTX *ctx = u.tls ? client_ctx(o->ca) : NULL;
    struct sink k = {.lines_ts = o->lines_ts};
    int n = o->keepalive > 0 ? o->keepalive : 1;
    struct str rq = {0};
    build_request(&rq, o, &u, o->keepalive > 0);
    struct conn *c = open_conn(&u, ctx);
    int worst = 0, used = 0; /* requests c carried */
    for (int i = 1; i <= n; i++) {
        if (!c) {
            msg("netprobe: the server closed the connection; reconnecting for request %d", i);
            c = open_conn(&u, ctx);
            used = 0;
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int reusable;
        int status = exchange(c, &rq, o, &k, used > 0, &reusable);
        if (status == -2) {
            msg("netprobe: the kept-alive connection was closed; reconnecting for request %d", i);
            conn_free(c);
            c = open_conn(&u, ctx);
            used = 0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            status = exchange(c, &rq, o, &k, 0, &reusable);
        }
        if (status < 0) exit(EXIT_HTTP);
        used++;
        if (o->keepalive > 0) msg("req %d us %lld", i, elapsed_us(&t0));
        if (status > worst) worst = status;
        if (!reusable) {
            conn_free(c);
            c = NULL;
        }
    }
    conn_free(c);
    free(rq.p);
    free(u.path);
    if (ctx) SSL_CTX_free(ctx);
    if (worst >= 400 && !o->ok_any) die(EXIT_HTTP, "HTTP status %d", worst);
    return EXIT_OK;
}

/* ---- WebSocket frames (both sides) ---- */

static int ws_send(struct conn *c, int opcode, const void *payload, size_t n, int mask)
{
    unsigned char hdr[14];
    size_t hl = 0;
    hdr[hl++] = (unsigned char)(0x80 | opcode);
    unsigned char m = mask ? 0x80 : 0;
    if (n < 126) {
        hdr[hl++] = (unsigned char)(m | n);
    } else if (n < 65536) {
        hdr[hl++] = m | 126;
        hdr[hl++] = (unsigned char)(n >> 8);
        hdr[hl++] = (unsigned char)n;
    } else {
        hdr[hl++] = m | 127;
        for (int i = 7; i >= 0; i--)
            hdr[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    struct str f = {0};
    unsigned char key[4] = {0};
    if (mask) {
        RAND_bytes(key, 4);
        memcpy(hdr + hl, key, 4);
        hl += 4;
    }
    str_add(&f, hdr, hl);
    size_t at = f.len;
    str_add(&f, payload, n);
    if (mask)
        for (size_t i = 0; i < n; i++)
            f.p[at + i] ^= (char)key[i & 3];
    int r = conn_send(c, f.p, f.len);
    free(f.p);
    return r;
}

/* One whole message (fragments joined; control frames come back at once).
 * Returns the opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong) with
 * *out (malloc'd, NUL-terminated) and *len, or -1 on EOF/error/violation. */
static int ws_read_message(struct conn *c, char **out, size_t *len)
{
    struct str msgbuf = {0};
    int msg_op = -1;
    for (;;) {
        unsigned char h[2];
        if (conn_read_exact(c, h, 2) < 0) goto fail;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t n = h[1] & 0x7f;
        if (n == 126 || n == 127) {
            unsigned char ext[8];
            size_t el = n == 126 ? 2 : 8;
            if (conn_read_exact(c, ext, el) < 0) goto fail;
            n = 0;
            for (size_t i = 0; i < el; i++)
                n = n << 8 | ext[i];
        }
        unsigned char key[4] = {0};
        if (masked && conn_read_exact(c, key, 4) < 0) goto fail;
        if (n > WS_MAX_MESSAGE || msgbuf.len + n > WS_MAX_MESSAGE) goto fail;
        char *payload = xmalloc((size_t)n + 1);
        if (conn_read_exact(c, payload, (size_t)n) < 0) {
            free(payload);
            goto fail;
        }
        if (masked)
            for (uint64_t i = 0; i < n; i++)
                payload[i] ^= (char)key[i & 3];
        payload[n] = '\0';
        if (op >= 8) { /* control: never fragmented */
            if (!fin || n > 125) {
                free(payload);
                goto fail;
            }
            free(msgbuf.p);
            *out = payload;
            *len = (size_t)n;
            return op;
        }
        if (op != 0) {
            if (msg_op != -1) { /* a new message inside a fragmented one */
                free(payload);
                goto fail;
            }
            msg_op = op;
        } else if (msg_op == -1) {
            free(payload);
            goto fail;
        }
        str_add(&msgbuf, payload, (size_t)n);
        free(payload);
        if (fin) {
            if (!msgbuf.p) str_add(&msgbuf, "", 0);
            *out = msgbuf.p;
            *len = msgbuf.len;
            return msg_op;
        }
    }
fail:
    free(msgbuf.p);
    return -1;
}

/* ---- ws (client) ---- */

struct ws_opts {
    const char *url, *ca;
    const char **headers, **sends;
    int nheaders, nsends, frames, lines_ts;
};

static int cmd_ws(const struct ws_opts *o)
{
    struct url u;
    if (parse_url(o->url, &u, 1) < 0) die(EXIT_USAGE, "not a ws:// or wss:// URL: %s", o->url);
    SSL_CTX *ctx = u.tls ? client_ctx(o->ca) : NULL;
    struct conn *c = open_conn(&u, ctx);
    unsigned char raw[16];
    char key[32], want[32];
    RAND_bytes(raw, sizeof(raw));
    base64(raw, sizeof(raw), key);
    ws_accept_for(key, want);
    struct str rq = {0};
    int own_host = 0;
    for (int i = 0; i < o->nheaders; i++)
        if (strncasecmp(o->headers[i], "Host:", 5) == 0) own_host = 1;
    str_addf(&rq, "GET %s HTTP/1.1\r\n", u.path);
    if (!own_host) str_addf(&rq, "Host: %s\r\n", u.hostport);
    str_addf(&rq,
             "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n",
             key);
    for (int i = 0; i < o->nheaders; i++)
        str_addf(&rq, "%s\r\n", o->headers[i]);
    str_add(&rq, "\r\n", 2);
    if (conn_send(c, rq.p, rq.len) < 0) die(EXIT_CONNECT, "send: %s", conn_error(c));
    free(rq.p);
    struct head h = {0};
    int status = 0, minor;
    if (read_head(c, &h, "< ") < 0) die(EXIT_HTTP, "no WebSocket handshake response");
    if (sscanf(h.first, "HTTP/1.%d %3d", &minor, &status) != 2)
        die(EXIT_HTTP, "not an HTTP/1.x status line: \"%.80s\"", h.first);
    if (status != 101) die(EXIT_HTTP, "WebSocket upgrade refused: HTTP status %d", status);
    const char *acc = head_get(&h, "Sec-WebSocket-Accept");
    if (!acc || strcmp(acc, want) != 0)
        die(EXIT_HTTP, "bad Sec-WebSocket-Accept: %s (want %s)", acc ? acc : "(none)", want);
    head_free(&h);

    for (int i = 0; i < o->nsends; i++)
        if (ws_send(c, 1, o->sends[i], strlen(o->sends[i]), 1) < 0)
            die(EXIT_CONNECT, "send: %s", conn_error(c));
    int want_frames = o->frames > 0 ? o->frames : 1 + o->nsends;
    struct sink k = {.lines_ts = o->lines_ts};
    int got = 0;
    while (got < want_frames) {
        char *p;
        size_t n;
        int op = ws_read_message(c, &p, &n);
        if (op < 0)
            die(EXIT_HTTP, "WebSocket ended after %d of %d frames: %s", got, want_frames,
                conn_error(c));
        if (op == 1 || op == 2) {
            got++;
            if (op == 1) {
                sink_write(&k, p, n);
                sink_write(&k, "\n", 1);
            } else {
                char line[64];
                int l = snprintf(line, sizeof(line), "[binary %zu bytes]\n", n);
                sink_write(&k, line, (size_t)l);
            }
        } else if (op == 9) {
            ws_send(c, 10, p, n, 1);
        } else if (op == 8) {
            int code = n >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 0;
            ws_send(c, 8, p, n >= 2 ? 2 : 0, 1);
            free(p);
            die(EXIT_HTTP, "the server closed the WebSocket (code %d) after %d of %d frames", code,
                got, want_frames);
        }
        free(p);
    }
    static const unsigned char bye[2] = {0x03, 0xe8}; /* 1000 */
    ws_send(c, 8, bye, 2, 1);
    set_timeouts(c->fd, 2);
    for (int i = 0; i < 16; i++) { /* wait briefly for the server's close */
        char *p;
        size_t n;
        int op = ws_read_message(c, &p, &n);
        if (op >= 0) free(p);
        if (op < 0 || op == 8) break;
    }
    conn_free(c);
    free(u.path);
    if (ctx) SSL_CTX_free(ctx);
    return EXIT_OK;
}

/* ---- serve ---- */

static const char *g_root;
static int g_dump_headers;

static const char INDEX_HTML[] = "<!doctype html><script type=module src=/@vite/client></script>"
                                 "hello from dev server";
static const char VITE_CLIENT_JS[] = "// netprobe: a stand-in for Vite's HMR client\n"
                                     "console.log('[vite] connecting...');\n";

struct client {
    int fd;
    char peer[64];
};

static int send_response(struct conn *c, int status, const char *reason, const char *ctype,
                         const char *body, size_t blen, int head_only, int keep)
{
    struct str r = {0};
    str_addf(&r, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
             reason, ctype, blen, keep ? "" : "Connection: close\r\n");
    if (!head_only) str_add(&r, body, blen);
    int rc = conn_send(c, r.p, r.len);
    free(r.p);
    return rc;
}

static void json_escape(struct str *s, const char *p, size_t n)
{
    str_add(s, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            str_add(s, e, 2);
        } else if (ch == '\n') {
            str_add(s, "\\n", 2);
        } else if (ch == '\r') {
            str_add(s, "\\r", 2);
        } else if (ch == '\t') {
            str_add(s, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            str_addf(s, "\\u%04x", ch);
        } else {
            str_add(s, p + i, 1);
        }
    }
    str_add(s, "\"", 1);
}

static void serve_websocket(struct conn *c, const struct head *h, const char *key)
{
    char accept[32];
    ws_accept_for(key, accept);
    struct str r = {0};
    str_addf(&r,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
             accept);
    if (head_has_token(h, "Sec-WebSocket-Protocol", "vite-hmr"))
        str_add(&r, "Sec-WebSocket-Protocol: vite-hmr\r\n", 34);
    str_add(&r, "\r\n", 2);
    int rc = conn_send(c, r.p, r.len);
    free(r.p);
    static const char hello[] = "{\"type\":\"connected\"}";
    if (rc < 0 || ws_send(c, 1, hello, sizeof(hello) - 1, 0) < 0) return;
    for (;;) {
        char *p;
        size_t n;
        int op = ws_read_message(c, &p, &n);
        if (op < 0) return;
        int stop = 0;
        if (op == 1) {
            struct str e = {0};
            str_add(&e, "{\"type\":\"echo\",\"data\":", 22);
            json_escape(&e, p, n);
            str_add(&e, "}", 1);
            stop = ws_send(c, 1, e.p, e.len, 0) < 0;
            free(e.p);
        } else if (op == 2) {
            stop = ws_send(c, 2, p, n, 0) < 0;
        } else if (op == 9) {
            stop = ws_send(c, 10, p, n, 0) < 0;
        } else if (op == 8) {
            ws_send(c, 8, p, n >= 2 ? 2 : 0, 0);
            stop = 1;
        }
        free(p);
        if (stop) return;
    }
}

static long query_int(const char *path, const char *name, long dflt, long max)
{
    const char *q = strchr(path, '?');
    size_t nl = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            long v = strtol(q + nl + 1, NULL, 10);
            return v < 0 ? 0 : v > max ? max : v;
        }
        q = strchr(q, '&');
    }
    return dflt;
}

static int serve_sse(struct conn *c, const char *path, int head_only)
{
    long n = query_int(path, "n", 3, 100000), ms = query_int(path, "ms", 200, 60000);
    static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (conn_send(c, hdr, sizeof(hdr) - 1) < 0) return -1;
    if (head_only) return 0;
    for (long i = 1; i <= n; i++) {
        if (i > 1 && ms) {
            struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        char ev[64], chunk[96];
        int el = snprintf(ev, sizeof(ev), "data: %ld\n\n", i);
        int cl = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", el, ev);
        if (conn_send(c, chunk, (size_t)cl) < 0) return -1;
    }
    return conn_send(c, "0\r\n\r\n", 5);
}

static const char *content_type(const char *path)
{
    static const char *const map[][2] = {
        {".html", "text/html"},
        {".js", "application/javascript"},
        {".mjs", "application/javascript"},
        {".css", "text/css"},
        {".json", "application/json"},
        {".txt", "text/plain"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(dot, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

/* A file under --root: 0 served, 1 not there, -1 send failed. */
static int serve_file(struct conn *c, const char *path, int head_only, int keep)
{
    if (!g_root || strstr(path, "..") || strchr(path, '%')) return 1;
    char fp[4096];
    size_t pl = strcspn(path, "?");
    snprintf(fp, sizeof(fp), "%s%.*s", g_root, (int)pl, path);
    struct stat st;
    if (stat(fp, &st) == 0 && S_ISDIR(st.st_mode))
        strncat(fp, fp[strlen(fp) - 1] == '/' ? "index.html" : "/index.html",
                sizeof(fp) - strlen(fp) - 1);
    int fd = open(fp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024 * 1024) {
        close(fd);
        return 1;
    }
    char *data = xmalloc((size_t)st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, data + got, (size_t)st.st_size - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    int rc = send_response(c, 200, "OK", content_type(fp), data, got, head_only, keep);
    free(data);
    return rc < 0 ? -1 : 0;
}

static void log_request(const struct client *cl, const struct head *h, int status)
{
    struct str s = {0};
    const char *cookie = head_get(h, "Cookie");
    str_addf(&s, "netprobe serve: %s \"%s\" %d cookie=%s", cl->peer, h->first, status,
             cookie ? cookie : "-");
    if (g_dump_headers)
        for (int i = 0; i < h->n; i++)
            str_addf(&s, "\n  %s: %s", h->name[i], h->value[i]);
    str_add(&s, "\n", 1);
    write_all(2, s.p, s.len);
    free(s.p);
}

static void *serve_client(void *arg)
{
    struct client *cl = arg;
    struct conn *c = conn_new(cl->fd);
    set_timeouts(c->fd, 300);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct head h = {0};
    for (;;) {
        if (read_head(c, &h, NULL) < 0) break;
        char method[32], target[8192], version[16];
        if (sscanf(h.first, "%31s %8191s %15s", method, target, version) != 3 ||
            strncmp(version, "HTTP/1.", 7) != 0) {
            send_response(c, 400, "Bad Request", "text/plain", "bad request\n", 12, 0, 0);
            log_request(cl, &h, 400);
            break;
        }
        int head_only = strcmp(method, "HEAD") == 0;
        int keep = strcmp(version, "HTTP/1.0") == 0 ? head_has_token(&h, "Connection", "keep-alive")
                                                    : !head_has_token(&h, "Connection", "close");
        if (head_get(&h, "Transfer-Encoding")) {
            send_response(c, 501, "Not Implemented", "text/plain", "chunked requests\n", 17, 0, 0);
            log_request(cl, &h, 501);
            break;
        }
        struct str body = {0};
        const char *clen = head_get(&h, "Content-Length");
        if (clen) {
            unsigned long long n = strtoull(clen, NULL, 10);
            if (n > 16 * 1024 * 1024) break;
            char *b = xmalloc((size_t)n + 1);
            if (conn_read_exact(c, b, (size_t)n) < 0) {
                free(b);
                break;
            }
            str_add(&body, b, (size_t)n);
            free(b);
        }
        char path[8192];
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(target, "?"), target);
        const char *wskey = head_get(&h, "Sec-WebSocket-Key");
        int status, rc = 0, done = 0;
        if (head_has_token(&h, "Upgrade", "websocket") && strcmp(method, "GET") == 0) {
            if (!wskey) {
                status = 400;
                rc = send_response(c, 400, "Bad Request", "text/plain", "no Sec-WebSocket-Key\n",
                                   21, 0, 0);
                done = 1;
            } else {
                log_request(cl, &h, 101);
                serve_websocket(c, &h, wskey);
                free(body.p);
                break;
            }
        } else if (strcmp(path, "/") == 0) {
            status = 200;
            rc = send_response(c, 200, "OK", "text/html", INDEX_HTML, sizeof(INDEX_HTML) - 1,
                               head_only, keep);
        } else if (strcmp(path, "/@vite/client") == 0) {
            status = 200;
            rc = send_response(c, 200, "OK", "application/javascript", VITE_CLIENT_JS,
                               sizeof(VITE_CLIENT_JS) - 1, head_only, keep);
        } else if (strcmp(path, "/echo") == 0) {
            struct str e = {0};
            str_addf(&e, "%s\n", h.first);
            for (int i = 0; i < h.n; i++)
                str_addf(&e, "%s: %s\n", h.name[i], h.value[i]);
            str_add(&e, "\n", 1);
            if (body.len) str_add(&e, body.p, body.len);
            status = 200;
            rc = send_response(c, 200, "OK", "text/plain", e.p, e.len, head_only, keep);
            free(e.p);
        } else if (strcmp(path, "/sse") == 0) {
            status = 200;
            log_request(cl, &h, status);
            rc = serve_sse(c, target, head_only);
            free(body.p);
            head_free(&h);
            if (rc < 0 || !keep) break;
            continue;
        } else if (strncmp(path, "/status/", 8) == 0 && atoi(path + 8) >= 200 &&
                   atoi(path + 8) <= 599) {
            status = atoi(path + 8);
            char b[32];
            int bl = snprintf(b, sizeof(b), "status %d\n", status);
            rc = send_response(c, status, "Status", "text/plain", b, (size_t)bl, head_only, keep);
        } else {
            int f = serve_file(c, path, head_only, keep);
            status = f == 0 ? 200 : 404;
            if (f == 1)
                rc = send_response(c, 404, "Not Found", "text/plain", "not found\n", 10, head_only,
                                   keep);
            else
                rc = f;
        }
        log_request(cl, &h, status);
        free(body.p);
        head_free(&h);
        if (rc < 0 || done || !keep) break;
    }
    head_free(&h);
    conn_free(c);
    free(cl);
    return NULL;
}

static int cmd_serve(const char *port_s)
{
    char *end;
    long port = strtol(port_s, &end, 10);
    if (*end || end == port_s || port < 0 || port > 65535) die(EXIT_USAGE, "bad port: %s", port_s);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 128) < 0)
        die(EXIT_CONNECT, "listen on 0.0.0.0:%ld: %s", port, strerror(errno));
    socklen_t sl = sizeof(sa);
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    msg("netprobe serve: listening on 0.0.0.0:%d", ntohs(sa.sin_port));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(ls, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
            die(EXIT_CONNECT, "accept: %s", strerror(errno));
        }
        struct client *cl = xmalloc(sizeof(*cl));
        cl->fd = fd;
        char a[INET6_ADDRSTRLEN] = "?";
        if (peer.ss_family == AF_INET) {
            struct sockaddr_in *p4 = (struct sockaddr_in *)&peer;
            inet_ntop(AF_INET, &p4->sin_addr, a, sizeof(a));
            snprintf(cl->peer, sizeof(cl->peer), "%s:%d", a, ntohs(p4->sin_port));
        } else {
            snprintf(cl->peer, sizeof(cl->peer), "?");
        }
        pthread_t t;
        if (pthread_create(&t, &attr, serve_client, cl) != 0) {
            close(fd);
            free(cl);
        }
    }
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: netprobe get URL [-H 'Name: value']... [-X METHOD] [-d BODY] [--ca FILE]\n"
               "                    [--ok-any] [--lines-ts] [--keepalive N] [--timeout S]\n"
               "       netprobe ws URL [--send TEXT]... [-H ...] [--frames N] [--ca FILE]\n"
               "                    [--lines-ts] [--timeout S]\n"
               "       netprobe serve PORT [--root DIR] [--dump-headers]\n"
               "exit: 0 ok, 1 usage, 2 connect/DNS, 3 TLS verification, 4 HTTP-level failure\n");
}

static int parse_count(const char *s, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s || v < 1 || v > 10000000) die(EXIT_USAGE, "%s: bad number %s", what, s);
    return (int)v;
}

int main(int argc, char **argv)
{
    clock_gettime(CLOCK_MONOTONIC, &g_start);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    struct get_opts g = {.method = NULL};
    struct ws_opts w = {0};
    const char **headers = xmalloc(sizeof(char *) * (size_t)argc);
    const char **sends = xmalloc(sizeof(char *) * (size_t)argc);
    int nh = 0, ns = 0, ok_any = 0, lines_ts = 0, keepalive = 0, frames = 0;
    const char *pos = NULL, *method = NULL, *body = NULL, *ca = NULL;
    int is_get = strcmp(cmd, "get") == 0, is_ws = strcmp(cmd, "ws") == 0,
        is_serve = strcmp(cmd, "serve") == 0;
    if (!is_get && !is_ws && !is_serve) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int has_arg = i + 1 < argc;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (!has_arg) die(EXIT_USAGE, "%s needs a value", a);                                      \
    } while (0)
        if ((is_get || is_ws) && strcmp(a, "-H") == 0) {
            NEED_ARG();
            if (!strchr(argv[i + 1], ':'))
                die(EXIT_USAGE, "-H %s: want 'Name: value'", argv[i + 1]);
            headers[nh++] = argv[++i];
        } else if (is_get && strcmp(a, "-X") == 0) {
            NEED_ARG();
            method = argv[++i];
        } else if (is_get && strcmp(a, "-d") == 0) {
            NEED_ARG();
            body = argv[++i];
        } else if ((is_get || is_ws) && strcmp(a, "--ca") == 0) {
            NEED_ARG();
            ca = argv[++i];
        } else if (is_get && strcmp(a, "--ok-any") == 0) {
            ok_any = 1;
        } else if ((is_get || is_ws) && strcmp(a, "--lines-ts") == 0) {
            lines_ts = 1;
        } else if (is_get && strcmp(a, "--keepalive") == 0) {
            NEED_ARG();
            keepalive = parse_count(argv[++i], a);
        } else if ((is_get || is_ws) && strcmp(a, "--timeout") == 0) {
            NEED_ARG();
            g_timeout_s = parse_count(argv[++i], a);
        } else if (is_ws && strcmp(a, "--send") == 0) {
            NEED_ARG();
            sends[ns++] = argv[++i];
        } else if (is_ws && strcmp(a, "--frames") == 0) {
            NEED_ARG();
            frames = parse_count(argv[++i], a);
        } else if (is_serve && strcmp(a, "--root") == 0) {
            NEED_ARG();
            g_root = argv[++i];
        } else if (is_serve && strcmp(a, "--dump-headers") == 0) {
            g_dump_headers = 1;
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            die(EXIT_USAGE, "%s: unknown option %s", cmd, a);
        } else if (!pos) {
            pos = a;
        } else {
            usage(stderr);
            die(EXIT_USAGE, "%s: unexpected argument %s", cmd, a);
        }
#undef NEED_ARG
    }
    if (!pos) {
        usage(stderr);
        die(EXIT_USAGE, "%s: missing %s", cmd, is_serve ? "PORT" : "URL");
    }
    if (is_serve) return cmd_serve(pos);
    if (is_ws) {
        w = (struct ws_opts){.url = pos,
                             .ca = ca,
                             .headers = headers,
                             .sends = sends,
                             .nheaders = nh,
                             .nsends = ns,
                             .frames = frames,
                             .lines_ts = lines_ts};
        return cmd_ws(&w);
    }
    g = (struct get_opts){.url = pos,
                          .method = method ? method
                                    : body ? "POST"
                                           : "GET",
                          .body = body,
                          .ca = ca,
                          .headers = headers,
                          .nheaders = nh,
                          .ok_any = ok_any,
                          .lines_ts = lines_ts,
                          .keepalive = keepalive};
    return cmd_get(&g);
}
