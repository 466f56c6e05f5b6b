/*
 * egressbench - the HTTP client of bench/egress.sh: the same program measures
 * the direct path, sbx-shim and tinyproxy.
 *
 * Static (cc -O2 -static): it also runs inside a busybox sandbox, which has no
 * libc. Therefore no getaddrinfo(): names are resolved with its own DNS A
 * query to the first nameserver of /etc/resolv.conf (in a sandbox: sbx-shim).
 *
 *   egressbench NAME URL [--n N] [--warmup W] [--keepalive] [--dns-each]
 *                        [--proxy ADDR:PORT] [--connect ADDR:PORT]
 *   egressbench NAME URL --runs R [--proxy ...] [--connect ...]
 *   egressbench NAME URL --dns-only [--n N] [--warmup W]
 *
 * URL is http://HOST[:PORT]/PATH. The TCP peer is, in this order: the proxy
 * (requests then carry the absolute URI, as curl -x sends them), the
 * --connect address, HOST if it is an IPv4 literal, else HOST's address from
 * one DNS query made before the measured loop (with --dns-each: before every
 * request, inside its time, as a fresh curl process would).
 *
 * Requests (default): N sequential GETs after W warm-up ones; each on a new
 * connection with "Connection: close" (socket, connect, request, read the
 * whole body, close), timed with CLOCK_MONOTONIC from before socket() to the
 * last body byte. --keepalive: one connection for all of them; when the other
 * side closes it (tinyproxy does after every response) the next request
 * reconnects, inside its own time, and conns= counts the connections used
 * (stale= of them replaced a kept connection closed without "Connection: close").
 *   RESULT NAME unit=us n=N median= p99= mean= min= max= rps= conns= stale=
 * rps = N / wall time of the measured loop.
 *
 * Throughput (--runs R): R downloads of URL, each on a new connection, timed
 * from before socket() to the last byte; per run MiB/s.
 *   RESULT NAME unit=MiB/s n=R median= p99= mean= min= max= bytes=
 * ("p99" of a throughput is the slow tail: the lowest run, as in sbxbench.)
 *
 * DNS (--dns-only): N A queries for HOST, each timed from send to answer.
 *
 * Every response must be 200 with a Content-Length body of that many bytes
 * (bodies up to 64 KiB are checked byte for byte against the server's
 * pattern); anything else ends the program with status 2 and a message.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (1u << 20)

static char buf[BUFSZ];

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("egressbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

/* Prints the statistics line, without its newline (callers append fields). */
static void report(const char *name, const char *unit, double *s, size_t n, bool tput)
{
    qsort(s, n, sizeof *s, cmpd);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += s[i];
    /* every sample first ("SAMPLE NAME VALUE"), for bench/report.sh's plots */
    for (size_t i = 0; i < n; i++) printf("SAMPLE %s %.3f\n", name, s[i]);
    printf("RESULT %s unit=%s n=%zu median=%.3f p99=%.3f mean=%.3f min=%.3f max=%.3f", name, unit,
           n, pct(s, n, 50), tput ? pct(s, n, 1) : pct(s, n, 99), sum / (double)n, s[0],
           s[n - 1]);
}

/* ---------- addresses ---------- */

static struct sockaddr_in parse_hostport(const char *s, int defport)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)defport)};
    char h[256];
    snprintf(h, sizeof h, "%s", s);
    char *colon = strrchr(h, ':');
    if (colon) {
        *colon = 0;
        a.sin_port = htons((uint16_t)atoi(colon + 1));
    }
    if (inet_pton(AF_INET, h, &a.sin_addr) != 1) die("not an IPv4 address: %s", s);
    return a;
}

/* ---------- DNS: one A query over UDP ---------- */

static struct sockaddr_in nameserver(void)
{
    FILE *f = fopen("/etc/resolv.conf", "r");
    char line[512], ns[64] = "";
    if (!f) die("no /etc/resolv.conf: %s", strerror(errno));
    while (fgets(line, sizeof line, f))
        if (sscanf(line, " nameserver %63s", ns) == 1 && strchr(ns, '.')) break;
        else ns[0] = 0;
    fclose(f);
    if (!ns[0]) die("no IPv4 nameserver in /etc/resolv.conf");
    return parse_hostport(ns, 53);
}

/* Skip a (possibly compressed) name at p; NULL if malformed. */
static const unsigned char *skip_name(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        if (*p == 0) return p + 1;
        if ((*p & 0xc0) == 0xc0) return p + 2 <= end ? p + 2 : NULL;
        p += 1 + *p;
    }
    return NULL;
}

/* A records of NAME from the nameserver; fails (dies) on no answer. */
static struct in_addr dns_a(const char *name, const struct sockaddr_in *ns)
{
    static int fd = -1;
    static uint16_t qid;
    unsigned char q[512], r[1500];
    if (fd < 0) {
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (const struct sockaddr *)ns, sizeof *ns) < 0)
            die("DNS socket: %s", strerror(errno));
        qid = (uint16_t)(getpid() * 7919u);
    }
    qid++;
    size_t n = 0;
    q[n++] = (unsigned char)(qid >> 8), q[n++] = (unsigned char)qid;
    q[n++] = 0x01, q[n++] = 0x00; /* RD */
    q[n++] = 0, q[n++] = 1;       /* QDCOUNT */
    memset(q + n, 0, 6), n += 6;
    for (const char *l = name; *l;) {
        const char *dot = strchr(l, '.');
        size_t len = dot ? (size_t)(dot - l) : strlen(l);
        if (len == 0 || len > 63 || n + len + 6 > sizeof q) die("bad name %s", name);
        q[n++] = (unsigned char)len;
        memcpy(q + n, l, len), n += len;
        l += len + (dot ? 1 : 0);
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1; /* A */
    q[n++] = 0, q[n++] = 1; /* IN */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (send(fd, q, n, 0) < 0) die("DNS send: %s", strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, 2000) == 1) {
            ssize_t rn = recv(fd, r, sizeof r, 0);
            if (rn < 12 || r[0] != q[0] || r[1] != q[1]) continue;
            int rcode = r[3] & 0x0f, qd = r[4] << 8 | r[5], an = r[6] << 8 | r[7];
            if (rcode) die("DNS %s: rcode %d%s", name, rcode, rcode == 3 ? " (NXDOMAIN)" : "");
            const unsigned char *e = r + rn, *c = r + 12;
            for (int i = 0; i < qd && c; i++) c = skip_name(c, e), c = c ? c + 4 : NULL;
            for (int i = 0; i < an && c && c + 10 <= e; i++) {
                c = skip_name(c, e);
                if (!c || c + 10 > e) break;
                int type = c[0] << 8 | c[1], len = c[8] << 8 | c[9];
                c += 10;
                if (c + len > e) break;
                if (type == 1 && len == 4) {
                    struct in_addr a;
                    memcpy(&a, c, 4);
                    return a;
                }
                c += len;
            }
            die("DNS %s: no A record in the answer", name);
        }
    }
    die("DNS %s: no answer from the nameserver", name);
    return (struct in_addr){0};
}

/* ---------- HTTP ---------- */

struct target {
    char host[256];     /* HOST or HOST:PORT as in the URL: the Host header */
    char hostname[256]; /* HOST */
    char path[1024];
    char absuri[1400];
    int port;
    bool literal;
    struct sockaddr_in peer; /* where connect() goes */
    bool proxy, dns_each;
    struct sockaddr_in ns;
};

static int tcp_connect(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
        char s[32];
        inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
        die("connect %s:%d: %s", s, ntohs(a->sin_port), strerror(errno));
    }
    return fd;
}

static char expect_byte(uint64_t i) { return (char)('a' + i % 26); }

#define STALE UINT64_MAX

/* One request on fd; returns the body length. *peer_closes: the response says
 * the connection ends after it. reused: fd already carried a request; if the
 * other side closed it in the meantime (nothing of a response came back),
 * STALE is returned and the caller reconnects. */
static uint64_t do_request(int fd, const struct target *t, bool keepalive, bool reused,
                           bool *peer_closes)
{
    char req[2048];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: egressbench\r\n"
                     "Accept: */*\r\n%s\r\n",
                     t->proxy ? t->absuri : t->path, t->host,
                     keepalive ? (t->proxy ? "Proxy-Connection: keep-alive\r\n" : "")
                               : "Connection: close\r\n");
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && reused && (errno == EPIPE || errno == ECONNRESET)) return STALE;
        if (w < 0) die("write: %s", strerror(errno));
        off += (size_t)w;
    }

    /* head */
    size_t have = 0;
    char *end = NULL;
    for (;;) {
        ssize_t r = read(fd, buf + have, BUFSZ - have);
        if (r < 0 && errno == EINTR) continue;
        if (have == 0 && reused && (r == 0 || errno == ECONNRESET)) return STALE;
        if (r < 0) die("read: %s", strerror(errno));
        if (r == 0) die("connection closed before the response head (%zu bytes: %.*s)", have,
                        (int)(have < 200 ? have : 200), buf);
        have += (size_t)r;
        if ((end = memmem(buf, have, "\r\n\r\n", 4))) break;
        if (have == BUFSZ) die("response head too large");
    }
    int minor = 1, status = 0;
    if (sscanf(buf, "HTTP/1.%d %d", &minor, &status) != 2) die("bad status line: %.80s", buf);
    if (status != 200) die("HTTP %d: %.*s", status, (int)(have < 300 ? have : 300), buf);
    long long clen = -1;
    bool close_hdr = false, keep_hdr = false;
    for (char *l = strstr(buf, "\r\n") + 2; l < end;) {
        char *e = strstr(l, "\r\n");
        if (!strncasecmp(l, "content-length:", 15)) clen = atoll(l + 15);
        else if (!strncasecmp(l, "transfer-encoding:", 18)) die("chunked responses not supported");
        else if (!strncasecmp(l, "connection:", 11) || !strncasecmp(l, "proxy-connection:", 17)) {
            char v[128];
            snprintf(v, sizeof v, "%.*s", (int)(e - l), l);
            if (strcasestr(v, "close")) close_hdr = true;
            if (strcasestr(v, "keep-alive")) keep_hdr = true;
        }
        l = e + 2;
    }
    if (clen < 0) die("response without Content-Length");
    *peer_closes = close_hdr || (minor == 0 && !keep_hdr);

    /* body */
    size_t hl = (size_t)(end + 4 - buf);
    uint64_t got = have - hl, want = (uint64_t)clen;
    if (got > want) die("%llu bytes after the body", (unsigned long long)(got - want));
    bool check = want <= 65536;
    if (check && want) memmove(buf, buf + hl, got);
    while (got < want) {
        size_t room = check ? BUFSZ - got : BUFSZ;
        ssize_t r = read(fd, check ? buf + got : buf, room < want - got ? room : want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("read body: %s", strerror(errno));
        if (r == 0) die("connection closed after %llu of %llu body bytes", (unsigned long long)got,
                        (unsigned long long)want);
        got += (uint64_t)r;
    }
    if (check)
        for (uint64_t i = 0; i < want; i++)
            if (buf[i] != expect_byte(i)) die("body byte %llu differs", (unsigned long long)i);
    return want;
}

static struct sockaddr_in peer_of(struct target *t)
{
    if (t->dns_each) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port)};
        a.sin_addr = dns_a(t->hostname, &t->ns);
        return a;
    }
    return t->peer;
}

static void parse_url(struct target *t, const char *url)
{
    if (strncmp(url, "http://", 7) != 0) die("URL must start with http://: %s", url);
    const char *h = url + 7, *slash = strchr(h, '/');
    if (!slash) slash = h + strlen(h);
    snprintf(t->host, sizeof t->host, "%.*s", (int)(slash - h), h);
    snprintf(t->path, sizeof t->path, "%s", *slash ? slash : "/");
    snprintf(t->absuri, sizeof t->absuri, "http://%s%s", t->host, t->path);
    snprintf(t->hostname, sizeof t->hostname, "%s", t->host);
    char *colon = strchr(t->hostname, ':');
    t->port = 80;
    if (colon) {
        *colon = 0;
        t->port = atoi(colon + 1);
    }
    struct in_addr a;
    t->literal = inet_pton(AF_INET, t->hostname, &a) == 1;
    t->peer = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)t->port),
                                   .sin_addr = a};
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: egressbench NAME URL [--n N] [--warmup W] [--keepalive] "
                        "[--dns-each] [--proxy A:P] [--connect A:P] [--runs R] [--dns-only]\n");
        return 2;
    }
    const char *name = argv[1];
    struct target t = {0};
    parse_url(&t, argv[2]);
    long nreq = 1000, warm = 20, runs = 0;
    bool keepalive = false, dns_only = false, have_connect = false;
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--keepalive")) keepalive = true;
        else if (!strcmp(o, "--dns-each")) t.dns_each = true;
        else if (!strcmp(o, "--dns-only")) dns_only = true;
        else if (!v) die("%s needs a value", o);
        else if (!strcmp(o, "--n")) nreq = atol(v), i++;
        else if (!strcmp(o, "--warmup")) warm = atol(v), i++;
        else if (!strcmp(o, "--runs")) runs = atol(v), i++;
        else if (!strcmp(o, "--proxy")) t.peer = parse_hostport(v, 8080), t.proxy = true, i++;
        else if (!strcmp(o, "--connect")) t.peer = parse_hostport(v, 80), have_connect = true, i++;
        else die("unknown option %s", o);
    }
    if (nreq < 1 || warm < 0 || runs < 0) die("bad --n/--warmup/--runs");
    if (t.dns_each && (t.proxy || have_connect || t.literal || keepalive || runs))
        die("--dns-each: only with a host name, a new connection per request and no proxy");
    bool need_dns = dns_only || (!t.proxy && !have_connect && !t.literal);
    if (need_dns) t.ns = nameserver();

    if (dns_only) {
        double *s = calloc((size_t)nreq, sizeof *s);
        for (long i = 0; i < warm; i++) dns_a(t.hostname, &t.ns);
        double w0 = now();
        for (long i = 0; i < nreq; i++) {
            double t0 = now();
            dns_a(t.hostname, &t.ns);
            s[i] = (now() - t0) * 1e6;
        }
        double wall = now() - w0;
        report(name, "us", s, (size_t)nreq, false);
        printf(" rps=%.1f\n", (double)nreq / wall);
        return 0;
    }
    if (need_dns && !t.dns_each) {
        t.peer.sin_addr = dns_a(t.hostname, &t.ns);
        t.peer.sin_port = htons((uint16_t)t.port);
    }

    if (runs) {
        double *s = calloc((size_t)runs, sizeof *s);
        uint64_t bytes = 0;
        for (long i = 0; i < runs; i++) {
            bool pc;
            double t0 = now();
            int fd = tcp_connect(&t.peer);
            bytes = do_request(fd, &t, false, false, &pc);
            double dt = now() - t0;
            close(fd);
            s[i] = (double)bytes / 1048576.0 / dt;
        }
        report(name, "MiB/s", s, (size_t)runs, true);
        printf(" bytes=%llu\n", (unsigned long long)bytes);
        return 0;
    }

    double *s = calloc((size_t)nreq, sizeof *s);
    if (!s) die("oom");
    int fd = -1;
    long conns = 0, stale = 0;
    double w0 = 0;
    for (long i = -warm; i < nreq; i++) {
        if (i == 0) w0 = now(), conns = fd >= 0, stale = 0; /* a kept connection counts */
        bool pc = true, reused = fd >= 0;
        double t0 = now();
        for (;;) {
            if (fd < 0) {
                struct sockaddr_in p = peer_of(&t);
                fd = tcp_connect(&p);
                conns++;
            }
            if (do_request(fd, &t, keepalive, reused, &pc) != STALE) break;
            close(fd); /* closed by the other side without a word: reconnect */
            fd = -1;
            reused = false;
            stale++;
        }
        double dt = now() - t0;
        if (!keepalive || pc) {
            close(fd);
            fd = -1;
        }
        if (i >= 0) s[i] = dt * 1e6;
    }
    double wall = now() - w0;
    if (fd >= 0) close(fd);
    report(name, "us", s, (size_t)nreq, false);
    printf(" rps=%.1f conns=%ld stale=%ld\n", (double)nreq / wall, conns, stale);
    return 0;
}
