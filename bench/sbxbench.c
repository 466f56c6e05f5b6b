/*
 * sbxbench - the measuring client of bench/run.sh.
 *
 * One small program so that every figure is taken the same way: a monotonic
 * clock around the measured step, N iterations after W warm-up iterations,
 * median and p99 (nearest rank) of the N samples.  Talks to sbxd with plain
 * sockets and hand-written HTTP/1.1 over ONE kept-alive connection, so neither
 * client start-up nor connect() is part of any sbx figure.
 *
 * Modes (times in ms, throughput in GiB/s; one "RESULT" line per figure):
 *
 *   sbxbench create  SOCK IMAGE N W [GAP_MS]
 *       per iteration: t0; POST /v1/sessions; POST .../exec {"argv":["/bin/true"]}
 *       (framed); t1 = exit frame received; DELETE /v1/sessions/ID; t2 = 204.
 *       Reports create_exec (t1-t0), create_only (201 received - t0),
 *       first_exec (t1 - 201 received) and destroy (t2 - t1).  With GAP_MS,
 *       sleep GAP_MS (untimed) before each iteration and suffix names "_idle":
 *       creates that arrive on an idle daemon, as they do in real use.
 *   sbxbench exec    SOCK IMAGE N W
 *       one session; per iteration POST exec /bin/true (framed) -> exit frame.
 *   sbxbench forkexec N W [PATH]
 *       fork(); child execve(PATH="/bin/true"); parent waitpid().
 *   sbxbench cmd     NAME N W [--stdout-null] [--gap-ms MS] -- ARGV...
 *       fork+execvp+waitpid of ARGV (a peer runtime); fails unless every run
 *       exits 0.  stdin is /dev/null; stdout too with --stdout-null.  With
 *       --gap-ms, sleep MS (untimed) before each run.
 *   sbxbench stream  SOCK IMAGE RUNS frames|ndjson BYTES NAME -- ARGV...
 *       one session; per run POST exec ARGV, read the whole body, discard the
 *       stdout payload counting its bytes (NDJSON: base64-decoded length),
 *       t from request write to exit event; checks count == BYTES.
 *   sbxbench pipe    RUNS BYTES [PIPESZ]
 *       host floor: a child write()s BYTES of zeros in 1 MiB writes into a
 *       pipe (default capacity 64 KiB, or PIPESZ via F_SETPIPE_SZ, as sbxd
 *       sets on the exec's stdout pipe), the parent read()s them with the same
 *       buffer size the socket client uses (1 MiB).
 *   sbxbench session SOCK IMAGE         create a session, print its id
 *   sbxbench mkmany  SOCK IMAGE COUNT
 *       create COUNT sessions one after another (one connection), print each
 *       id on a line "ID <id>", then "ELAPSED <seconds>" (bench/density.sh).
 *   sbxbench rmmany  SOCK               delete the sessions whose ids come on
 *       stdin (one per line); prints "ELAPSED <seconds>" and RESULT rm_one.
 *   sbxbench cycles  SOCK IMAGE N
 *       N times: POST /v1/sessions; exec /bin/true (framed); DELETE; reports
 *       RESULT lines create, exec, destroy and cycle (bench/cycles.sh) of the
 *       cycles whose create succeeded; a create that fails is not fatal:
 *       "CREATE_FAILED <ms> <answer>" and a final "FAILED <count>" line.
 *   sbxbench rm      SOCK ID            delete a session
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (1u << 20)

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sbxbench: ", stderr);
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

/* ---------- statistics ---------- */

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

static void report(const char *name, double *s, size_t n, double scale, const char *unit)
{
    qsort(s, n, sizeof *s, cmpd);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += s[i];
    /* For throughput (unit GiB/s) the "p99" is the slow tail: the low percentile. */
    bool tput = strcmp(unit, "GiB/s") == 0;
    /* SBXBENCH_SAMPLES=FILE: every sample too, "NAME VALUE" per line (appended), so
     * that interleaved runs can be pooled (bench/images.sh) */
    const char *sf = getenv("SBXBENCH_SAMPLES");
    FILE *f = sf && *sf ? fopen(sf, "a") : NULL;
    for (size_t i = 0; f && i < n; i++) fprintf(f, "%s %.6f\n", name, s[i] * scale);
    if (f) fclose(f);
    printf("RESULT %s unit=%s n=%zu median=%.4f p99=%.4f mean=%.4f min=%.4f max=%.4f\n", name, unit,
           n, pct(s, n, 50) * scale, (tput ? pct(s, n, 1) : pct(s, n, 99)) * scale,
           sum / (double)n * scale, s[0] * scale, s[n - 1] * scale);
    fflush(stdout);
}

/* ---------- HTTP/1.1 over a Unix socket ---------- */

struct conn {
    int fd;
    char *buf;
    size_t pos, len; /* unread bytes are buf[pos..len) */
    /* current response */
    int status;
    bool chunked;
    long long clen;     /* Content-Length, -1 if none */
    long long remain;   /* bytes left in current chunk / in the body */
    bool body_done;
};

static void conn_open(struct conn *c, const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) die("socket path too long");
    strcpy(a.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect %s: %s", path, strerror(errno));
    c->buf = malloc(BUFSZ);
    if (!c->buf) die("oom");
    c->pos = c->len = 0;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

static void request(struct conn *c, const char *method, const char *path, const char *body,
                    const char *accept)
{
    char h[1024];
    size_t bl = body ? strlen(body) : 0;
    int n = snprintf(h, sizeof h,
                     "%s %s HTTP/1.1\r\nHost: sbx\r\n%s%s%sContent-Length: %zu\r\n\r\n", method,
                     path, accept ? "Accept: " : "", accept ? accept : "", accept ? "\r\n" : "", bl);
    if (bl && (size_t)n + bl < sizeof h) { /* one write: one packet, as a real client would */
        memcpy(h + n, body, bl);
        send_all(c->fd, h, (size_t)n + bl);
    } else {
        send_all(c->fd, h, (size_t)n);
        if (bl) send_all(c->fd, body, bl);
    }
}

/* Read more bytes into the buffer (compacting first); 0 on EOF. */
static size_t fill(struct conn *c)
{
    if (c->pos == c->len) c->pos = c->len = 0;
    if (c->len == BUFSZ) {
        if (c->pos == 0) die("response line too long");
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, BUFSZ - c->len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) die("read: %s", strerror(errno));
        c->len += (size_t)r;
        return (size_t)r;
    }
}

/* A CRLF-terminated line from the buffer (terminator replaced by NUL). */
static char *read_line(struct conn *c)
{
    for (;;) {
        char *s = c->buf + c->pos;
        char *e = memmem(s, c->len - c->pos, "\r\n", 2);
        if (e) {
            *e = 0;
            c->pos = (size_t)(e + 2 - c->buf);
            return s;
        }
        if (c->pos > 0 && c->len == BUFSZ) { /* compact */
            memmove(c->buf, s, c->len - c->pos);
            c->len -= c->pos;
            c->pos = 0;
        }
        if (!fill(c)) die("connection closed by sbxd");
    }
}

static void read_head(struct conn *c)
{
    char *l = read_line(c);
    if (sscanf(l, "HTTP/1.%*d %d", &c->status) != 1) die("bad status line: %s", l);
    c->chunked = false;
    c->clen = -1;
    while (*(l = read_line(c))) {
        if (!strncasecmp(l, "content-length:", 15)) c->clen = atoll(l + 15);
        else if (!strncasecmp(l, "transfer-encoding:", 18) && strcasestr(l, "chunked"))
            c->chunked = true;
    }
    c->body_done = false;
    if (c->chunked) c->remain = 0;
    else {
        c->remain = c->clen < 0 ? 0 : c->clen;
        if (c->remain == 0) c->body_done = true;
    }
}

/* Up to max body bytes, in place in the buffer; 0 when the body has ended. */
static size_t body_get(struct conn *c, const char **p, size_t max)
{
    if (c->body_done) return 0;
    if (c->chunked && c->remain == 0) {
        char *l = read_line(c);
        if (!*l) l = read_line(c); /* CRLF after the previous chunk's data */
        c->remain = strtoll(l, NULL, 16);
        if (c->remain == 0) {
            while (*read_line(c)) {} /* trailers up to the empty line */
            c->body_done = true;
            return 0;
        }
    }
    if (c->pos == c->len && !fill(c)) die("connection closed mid-body");
    size_t n = c->len - c->pos;
    if ((long long)n > c->remain) n = (size_t)c->remain;
    if (n > max) n = max;
    *p = c->buf + c->pos;
    c->pos += n;
    c->remain -= (long long)n;
    if (!c->chunked && c->remain == 0) c->body_done = true;
    return n;
}

/* Whole (small) body as a NUL-terminated string in a static buffer. */
static char *body_all(struct conn *c)
{
    static char out[65536];
    size_t o = 0;
    const char *p;
    size_t n;
    while ((n = body_get(c, &p, SIZE_MAX)) > 0) {
        if (o + n >= sizeof out) die("response body too large");
        memcpy(out + o, p, n);
        o += n;
    }
    out[o] = 0;
    return out;
}

/* POST /v1/sessions; NULL (and *why, a static buffer) when the answer is not 201. */
static char *create_session_try(struct conn *c, const char *image, char id[64], const char **why)
{
    static char msg[1024];
    char body[256];
    snprintf(body, sizeof body, "{\"image\":\"%s\"}", image);
    request(c, "POST", "/v1/sessions", body, NULL);
    read_head(c);
    char *b = body_all(c);
    if (c->status != 201) {
        snprintf(msg, sizeof msg, "POST /v1/sessions: %d %s", c->status, b);
        *why = msg;
        return NULL;
    }
    char *s = strstr(b, "\"id\"");
    if (!s || !(s = strchr(s + 4, '"'))) die("no id in %s", b);
    s++;
    size_t k = strcspn(s, "\"");
    if (k == 0 || k >= 64) die("bad id in %s", b);
    memcpy(id, s, k);
    id[k] = 0;
    return id;
}

static char *create_session(struct conn *c, const char *image, char id[64])
{
    const char *why = NULL;
    if (!create_session_try(c, image, id, &why)) die("%s", why);
    return id;
}

static void delete_session(struct conn *c, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s", id);
    request(c, "DELETE", path, NULL, NULL);
    read_head(c);
    char *b = body_all(c);
    if (c->status != 204) die("DELETE %s: %d %s", path, c->status, b);
}

/* ---------- exec streams ---------- */

struct result {
    unsigned long long out_bytes, err_bytes;
    char exit_json[1024];
    double t_exit;   /* when the exit event was fully received */
};

/* Frame stream: u8 type | u32 BE length | payload.  Payload of stdout/stderr is
 * only counted; start/exit/error payloads are kept for checks. */
static void read_frames(struct conn *c, struct result *r)
{
    unsigned char hdr[5];
    size_t hn = 0;
    unsigned type = 0;
    unsigned long long left = 0;
    char small[1024];
    size_t sn = 0;
    bool in_payload = false;
    const char *p;
    size_t n;
    memset(r, 0, sizeof *r);
    while ((n = body_get(c, &p, SIZE_MAX)) > 0) {
        while (n) {
            if (!in_payload) {
                size_t k = 5 - hn < n ? 5 - hn : n;
                memcpy(hdr + hn, p, k);
                hn += k, p += k, n -= k;
                if (hn < 5) break;
                type = hdr[0];
                left = (unsigned long long)hdr[1] << 24 | hdr[2] << 16 | hdr[3] << 8 | hdr[4];
                in_payload = true;
                hn = sn = 0;
            }
            size_t k = left < n ? (size_t)left : n;
            if (type == 2) r->out_bytes += k;
            else if (type == 3) r->err_bytes += k;
            else {
                size_t cp = k < sizeof small - 1 - sn ? k : sizeof small - 1 - sn;
                memcpy(small + sn, p, cp);
                sn += cp;
            }
            p += k, n -= k, left -= k;
            if (left == 0) {
                in_payload = false;
                small[sn] = 0;
                if (type == 4) {
                    r->t_exit = now();
                    snprintf(r->exit_json, sizeof r->exit_json, "%s", small);
                } else if (type == 5) die("error frame: %s", small);
            }
        }
    }
    if (!r->t_exit) die("stream ended without an exit frame");
}

/* NDJSON: one event per line; stdout "data" is base64, its decoded length counted. */
static void read_ndjson(struct conn *c, struct result *r)
{
    static char *line;
    static size_t cap;
    size_t ln = 0;
    const char *p;
    size_t n;
    memset(r, 0, sizeof *r);
    while ((n = body_get(c, &p, SIZE_MAX)) > 0) {
        while (n) {
            const char *nl = memchr(p, '\n', n);
            size_t k = nl ? (size_t)(nl - p) : n;
            if (ln + k + 1 > cap) {
                cap = (ln + k + 1) * 2;
                line = realloc(line, cap);
                if (!line) die("oom");
            }
            memcpy(line + ln, p, k);
            ln += k;
            p += k, n -= k;
            if (!nl) break;
            p++, n--;
            line[ln] = 0;
            bool out = strstr(line, "\"stdout\"") != NULL;
            if (out || strstr(line, "\"stderr\"")) {
                char *d = strstr(line, "\"data\"");
                if (!d || !(d = strchr(d + 6, '"'))) die("bad event %.100s", line);
                d++;
                char *e = strchr(d, '"');
                if (!e) die("bad event %.100s", line);
                size_t b64 = (size_t)(e - d);
                size_t dec = b64 / 4 * 3;
                if (b64 >= 1 && e[-1] == '=') dec--;
                if (b64 >= 2 && e[-2] == '=') dec--;
                if (out) r->out_bytes += dec;
                else r->err_bytes += dec;
            } else if (strstr(line, "\"exit\"")) {
                r->t_exit = now();
                snprintf(r->exit_json, sizeof r->exit_json, "%s", line);
            }
            ln = 0;
        }
    }
    if (!r->t_exit) die("stream ended without an exit event");
}

static void json_str(char *o, size_t cap, const char *s)
{
    size_t k = 0;
    o[k++] = '"';
    for (; *s && k + 8 < cap; s++) {
        if (*s == '"' || *s == '\\') o[k++] = '\\';
        o[k++] = *s;
    }
    o[k++] = '"';
    o[k] = 0;
}

static void exec_body(char *b, size_t cap, char **argv, int argc)
{
    size_t k = (size_t)snprintf(b, cap, "{\"argv\":[");
    for (int i = 0; i < argc; i++) {
        char q[4096];
        json_str(q, sizeof q, argv[i]);
        k += (size_t)snprintf(b + k, cap - k, "%s%s", i ? "," : "", q);
    }
    snprintf(b + k, cap - k, "]}");
}

/* POST exec; returns when the whole response is read; *t0 = request start. */
static void do_exec(struct conn *c, const char *id, const char *body, bool frames,
                    struct result *r, double *t0)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s/exec", id);
    *t0 = now();
    request(c, "POST", path, body, frames ? "application/vnd.sbx.frames" : NULL);
    read_head(c);
    if (c->status != 200) die("POST %s: %d %s", path, c->status, body_all(c));
    if (frames) read_frames(c, r);
    else read_ndjson(c, r);
}

static bool exit_ok(const struct result *r)
{
    return strstr(r->exit_json, "\"code\":0") || strstr(r->exit_json, "\"code\": 0");
}

/* ---------- modes ---------- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* With SBXBENCH_TRACE_MARKER=/sys/kernel/tracing/trace_marker, mark the
 * steps of each iteration in the ftrace buffer (bench/trace-create.sh). */
static int g_marker = -1;
static void mark(const char *what, int i)
{
    if (g_marker < 0) return;
    char b[64];
    int n = snprintf(b, sizeof b, "sbxbench %s %d\n", what, i);
    if (write(g_marker, b, (size_t)n) < 0) g_marker = -1;
}

static int mode_create(const char *sock, const char *image, int n, int w, int gap_ms)
{
    struct conn c;
    conn_open(&c, sock);
    const char *mp = getenv("SBXBENCH_TRACE_MARKER");
    if (mp && *mp) g_marker = open(mp, O_WRONLY | O_CLOEXEC);
    double *ce = calloc((size_t)n, sizeof *ce), *co = calloc((size_t)n, sizeof *co),
           *fe = calloc((size_t)n, sizeof *fe), *de = calloc((size_t)n, sizeof *de);
    const char *body = "{\"argv\":[\"/bin/true\"]}";
    for (int i = 0; i < w + n; i++) {
        char id[64];
        struct result r;
        if (gap_ms > 0) sleep_ms(gap_ms);
        mark("create", i);
        double t0 = now(), te;
        create_session(&c, image, id);
        double t1 = now();
        mark("created", i);
        do_exec(&c, id, body, true, &r, &te);
        if (!exit_ok(&r)) die("/bin/true failed: %s", r.exit_json);
        double t2 = r.t_exit;
        mark("exited", i);
        delete_session(&c, id);
        double t3 = now();
        mark("deleted", i);
        if (i >= w) {
            int j = i - w;
            ce[j] = t2 - t0, co[j] = t1 - t0, fe[j] = t2 - t1, de[j] = t3 - t2;
        }
    }
    const char *sfx = gap_ms > 0 ? "_idle" : "";
    char nm[64];
    snprintf(nm, sizeof nm, "create_exec%s", sfx);
    report(nm, ce, (size_t)n, 1e3, "ms");
    snprintf(nm, sizeof nm, "create_only%s", sfx);
    report(nm, co, (size_t)n, 1e3, "ms");
    snprintf(nm, sizeof nm, "first_exec%s", sfx);
    report(nm, fe, (size_t)n, 1e3, "ms");
    snprintf(nm, sizeof nm, "destroy%s", sfx);
    report(nm, de, (size_t)n, 1e3, "ms");
    return 0;
}

static int mode_exec(const char *sock, const char *image, int n, int w)
{
    struct conn c;
    conn_open(&c, sock);
    char id[64];
    create_session(&c, image, id);
    double *s = calloc((size_t)n, sizeof *s);
    const char *body = "{\"argv\":[\"/bin/true\"]}";
    for (int i = 0; i < w + n; i++) {
        struct result r;
        double t0;
        do_exec(&c, id, body, true, &r, &t0);
        if (!exit_ok(&r)) die("/bin/true failed: %s", r.exit_json);
        if (i >= w) s[i - w] = r.t_exit - t0;
    }
    delete_session(&c, id);
    report("exec_rt", s, (size_t)n, 1e3, "ms");
    return 0;
}

static double spawn_wait(char **argv, bool use_path, bool stdout_null)
{
    double t0 = now();
    pid_t p = fork();
    if (p < 0) die("fork: %s", strerror(errno));
    if (p == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        if (stdout_null) dup2(fd, 1);
        if (use_path) execvp(argv[0], argv);
        else execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0)
        if (errno != EINTR) die("waitpid: %s", strerror(errno));
    double t = now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "sbxbench: %s exited with status 0x%x\n", argv[0], st);
        return -1;
    }
    return t;
}

static int mode_cmd(const char *name, int n, int w, bool stdout_null, int gap_ms, char **argv)
{
    double *s = calloc((size_t)n, sizeof *s);
    for (int i = 0; i < w + n; i++) {
        if (gap_ms > 0) sleep_ms(gap_ms);
        double t = spawn_wait(argv, true, stdout_null);
        if (t < 0) return 1;
        if (i >= w) s[i - w] = t;
    }
    report(name, s, (size_t)n, 1e3, "ms");
    return 0;
}

static int mode_stream(const char *sock, const char *image, int runs, bool frames,
                       unsigned long long bytes, const char *name, char **argv, int argc)
{
    struct conn c;
    conn_open(&c, sock);
    char id[64];
    create_session(&c, image, id);
    static char body[65536];
    exec_body(body, sizeof body, argv, argc);
    double *s = calloc((size_t)runs, sizeof *s);
    for (int i = 0; i < runs; i++) {
        struct result r;
        double t0;
        do_exec(&c, id, body, frames, &r, &t0);
        if (!exit_ok(&r)) die("stream command failed: %s", r.exit_json);
        if (r.out_bytes != bytes) die("got %llu stdout bytes, expected %llu", r.out_bytes, bytes);
        s[i] = (double)bytes / (r.t_exit - t0) / (1024.0 * 1024 * 1024);
    }
    delete_session(&c, id);
    report(name, s, (size_t)runs, 1, "GiB/s");
    return 0;
}

static int mode_pipe(int runs, unsigned long long bytes, int pipesz)
{
    char *b = calloc(1, BUFSZ);
    double *s = calloc((size_t)runs, sizeof *s);
    for (int i = 0; i < runs; i++) {
        int pf[2];
        if (pipe(pf) < 0) die("pipe: %s", strerror(errno));
        if (pipesz > 0 && fcntl(pf[0], F_SETPIPE_SZ, pipesz) < 0) die("F_SETPIPE_SZ: %s", strerror(errno));
        double t0 = now();
        pid_t p = fork();
        if (p == 0) {
            close(pf[0]);
            unsigned long long left = bytes;
            while (left) {
                ssize_t wr = write(pf[1], b, left < BUFSZ ? left : BUFSZ);
                if (wr <= 0) _exit(1);
                left -= (unsigned long long)wr;
            }
            _exit(0);
        }
        close(pf[1]);
        unsigned long long got = 0;
        ssize_t r;
        while ((r = read(pf[0], b, BUFSZ)) > 0) got += (unsigned long long)r;
        close(pf[0]);
        double t = now() - t0;
        waitpid(p, NULL, 0);
        if (got != bytes) die("pipe: got %llu bytes", got);
        s[i] = (double)bytes / t / (1024.0 * 1024 * 1024);
    }
    report(pipesz > 0 ? "pipe_big" : "pipe", s, (size_t)runs, 1, "GiB/s");
    return 0;
}

static int mode_mkmany(const char *sock, const char *image, int count)
{
    struct conn c;
    conn_open(&c, sock);
    double t0 = now();
    for (int i = 0; i < count; i++) {
        char id[64];
        printf("ID %s\n", create_session(&c, image, id));
        fflush(stdout);
    }
    printf("ELAPSED %.6f\n", now() - t0);
    return 0;
}

static int mode_rmmany(const char *sock)
{
    struct conn c;
    conn_open(&c, sock);
    size_t cap = 1024, n = 0;
    double *s = calloc(cap, sizeof *s);
    char line[256];
    double t0 = now();
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (n == cap && !(s = realloc(s, (cap *= 2) * sizeof *s))) die("oom");
        double t = now();
        delete_session(&c, line);
        s[n++] = now() - t;
    }
    printf("ELAPSED %.6f\n", now() - t0);
    if (n) report("rm_one", s, n, 1e3, "ms");
    return 0;
}

static int mode_cycles(const char *sock, const char *image, int n)
{
    struct conn c;
    conn_open(&c, sock);
    double *cr = calloc((size_t)n, sizeof *cr), *ex = calloc((size_t)n, sizeof *ex),
           *de = calloc((size_t)n, sizeof *de), *cy = calloc((size_t)n, sizeof *cy);
    const char *body = "{\"argv\":[\"/bin/true\"]}";
    size_t k = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char id[64];
        struct result r;
        const char *why = NULL;
        double t0 = now(), te;
        if (!create_session_try(&c, image, id, &why)) {
            printf("CREATE_FAILED %.1f %s\n", (now() - t0) * 1e3, why);
            fflush(stdout);
            failed++;
            continue;
        }
        double t1 = now();
        do_exec(&c, id, body, true, &r, &te);
        if (!exit_ok(&r)) die("/bin/true failed: %s", r.exit_json);
        double t2 = r.t_exit;
        delete_session(&c, id);
        double t3 = now();
        cr[k] = t1 - t0, ex[k] = t2 - t1, de[k] = t3 - t2, cy[k] = t3 - t0;
        k++;
    }
    printf("FAILED %d\n", failed);
    if (k == 0) die("every create failed");
    report("create", cr, k, 1e3, "ms");
    report("exec", ex, k, 1e3, "ms");
    report("destroy", de, k, 1e3, "ms");
    report("cycle", cy, k, 1e3, "ms");
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: see the comment at the top of bench/sbxbench.c\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *m = argv[1];
    if (!strcmp(m, "create") && (argc == 6 || argc == 7))
        return mode_create(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argc == 7 ? atoi(argv[6]) : 0);
    if (!strcmp(m, "exec") && argc == 6)
        return mode_exec(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    if (!strcmp(m, "forkexec") && (argc == 4 || argc == 5)) {
        char *a[] = {argc == 5 ? argv[4] : "/bin/true", NULL};
        int n = atoi(argv[2]), w = atoi(argv[3]);
        double *s = calloc((size_t)n, sizeof *s);
        for (int i = 0; i < w + n; i++) {
            double t = spawn_wait(a, false, false);
            if (t < 0) return 1;
            if (i >= w) s[i - w] = t;
        }
        report("forkexec", s, (size_t)n, 1e3, "ms");
        return 0;
    }
    if (!strcmp(m, "cmd") && argc >= 6) {
        /* cmd NAME N W [--stdout-null] [--gap-ms MS] -- ARGV... */
        int i = 5, gap = 0;
        bool null = false;
        for (;;) {
            if (i < argc && !strcmp(argv[i], "--stdout-null")) null = true, i++;
            else if (i + 1 < argc && !strcmp(argv[i], "--gap-ms")) gap = atoi(argv[i + 1]), i += 2;
            else break;
        }
        if (i >= argc || strcmp(argv[i], "--")) return usage();
        if (i + 1 >= argc) return usage();
        return mode_cmd(argv[2], atoi(argv[3]), atoi(argv[4]), null, gap, argv + i + 1);
    }
    if (!strcmp(m, "stream") && argc >= 10 && !strcmp(argv[8], "--"))
        return mode_stream(argv[2], argv[3], atoi(argv[4]), !strcmp(argv[5], "frames"),
                           strtoull(argv[6], NULL, 10), argv[7], argv + 9, argc - 9);
    if (!strcmp(m, "pipe") && (argc == 4 || argc == 5))
        return mode_pipe(atoi(argv[2]), strtoull(argv[3], NULL, 10), argc == 5 ? atoi(argv[4]) : 0);
    if (!strcmp(m, "session") && argc == 4) {
        struct conn c;
        char id[64];
        conn_open(&c, argv[2]);
        puts(create_session(&c, argv[3], id));
        return 0;
    }
    if (!strcmp(m, "mkmany") && argc == 5) return mode_mkmany(argv[2], argv[3], atoi(argv[4]));
    if (!strcmp(m, "rmmany") && argc == 3) return mode_rmmany(argv[2]);
    if (!strcmp(m, "cycles") && argc == 5) return mode_cycles(argv[2], argv[3], atoi(argv[4]));
    if (!strcmp(m, "rm") && argc == 4) {
        struct conn c;
        conn_open(&c, argv[2]);
        delete_session(&c, argv[3]);
        return 0;
    }
    return usage();
}
