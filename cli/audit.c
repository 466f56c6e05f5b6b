/* audit.c - reading, filtering and following the egress audit log. See audit.h. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsontext.h"

#define USEC_PER_SEC INT64_C(1000000)
#define READ_CHUNK ((size_t)64 * 1024)

/* ---- time arguments ------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int audit_parse_duration(const char *s, int64_t *usec)
{
    int64_t total = 0;
    if (!s || !*s) return -1;
    while (*s) {
        if (!is_digit(*s)) return -1;
        int64_t n = 0;
        for (; is_digit(*s); s++) {
            if (n > INT64_C(1000000000000)) return -1;
            n = n * 10 + (*s - '0');
        }
        int64_t unit;
        switch (*s++) {
        case 's':
            unit = USEC_PER_SEC;
            break;
        case 'm':
            unit = 60 * USEC_PER_SEC;
            break;
        case 'h':
            unit = 3600 * USEC_PER_SEC;
            break;
        case 'd':
            unit = 86400 * USEC_PER_SEC;
            break;
        default:
            return -1;
        }
        if (n > (INT64_MAX - total) / unit) return -1;
        total += n * unit;
    }
    *usec = total;
    return 0;
}

/* Exactly n digits at *p (advanced past them). */
static bool take_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i])) return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

static bool take_char(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p)) return false;
    (*p)++;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int audit_parse_time(const char *s, int64_t *usec)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
    int64_t frac = 0;
    const char *p = s;
    if (!s) return -1;
    if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
        !take_char(&p, "-") || !take_digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return -1;
    if (*p) {
        if (!take_char(&p, "Tt ") || !take_digits(&p, 2, &h) || !take_char(&p, ":") ||
            !take_digits(&p, 2, &mi) || !take_char(&p, ":") || !take_digits(&p, 2, &sec))
            return -1;
        if (h > 23 || mi > 59 || sec > 60) return -1; /* 60: a leap second */
        if (take_char(&p, ".")) {
            if (!is_digit(*p)) return -1;
            int64_t scale = 100000;
            for (; is_digit(*p); p++, scale /= 10)
                frac += scale * (*p - '0'); /* digits past microseconds: scale 0 */
        }
        if (!take_char(&p, "Zz")) {
            int oh, om;
            char sign = *p;
            if (!take_char(&p, "+-") || !take_digits(&p, 2, &oh) || !take_char(&p, ":") ||
                !take_digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            off = (oh * 60 + om) * 60 * (sign == '-' ? -1 : 1);
        }
        if (*p) return -1;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *usec = secs * USEC_PER_SEC + frac;
    return 0;
}

int audit_parse_since(const char *s, int64_t now_us, int64_t *since_us, sbx_err *err)
{
    int64_t v;
    if (audit_parse_duration(s, &v) == 0) {
        *since_us = now_us - v;
        return 0;
    }
    if (audit_parse_time(s, &v) == 0) {
        *since_us = v;
        return 0;
    }
    return sbx_error_kind(err, SBX_E_INVALID, "usage",
                          "--since: '%s' is neither a duration (30s, 10m, 2h, 1d, 1h30m) nor an "
                          "RFC 3339 time (2026-11-25T08:15:21Z, 2026-11-25)",
                          s);
}

/* ---- filters ------------------------------------------------------------- */

static const char *const decisions[] = {"allow", "deny", "report"};

int audit_check_decisions(const char *list, sbx_err *err)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        bool ok = false;
        for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++)
            ok |= n == strlen(decisions[i]) && strncmp(p, decisions[i], n) == 0;
        if (!ok)
            return sbx_error_kind(err, SBX_E_INVALID, "usage",
                                  "--decision: '%.*s' is not allow, deny or report", (int)n, p);
        if (!p[n]) return 0;
        p += n + 1;
    }
}

static bool in_list(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (n == wl && strncmp(p, word, n) == 0) return true;
        if (!p[n]) return false;
        p += n + 1;
    }
}

/* The string field key of o, or NULL (absent, null, not a string). */
static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

enum audit_match audit_match_line(const struct audit_filter *f, const char *line, size_t len,
                                  json_object **rec)
{
    while (len > 0 && is_space(line[len - 1]))
        len--;
    size_t i = 0;
    while (i < len && is_space(line[i]))
        i++;
    if (i == len) return AUDIT_BLANK;

    sbx_err err;
    json_object *o = NULL;
    if (json_text_parse(line + i, len - i, &o, &err) < 0) return AUDIT_MALFORMED;
    enum audit_match m = AUDIT_SHOW;
    if (!json_object_is_type(o, json_type_object)) {
        m = AUDIT_MALFORMED;
    } else if (f->session &&
               !(str_of(o, "session") && strcmp(str_of(o, "session"), f->session) == 0)) {
        m = AUDIT_HIDE;
    } else if (f->decisions &&
               !(str_of(o, "decision") && in_list(f->decisions, str_of(o, "decision")))) {
        m = AUDIT_HIDE;
    } else if (f->has_since) {
        int64_t t;
        if (audit_parse_time(str_of(o, "time"), &t) < 0)
            m = AUDIT_MALFORMED;
        else if (t < f->since_us)
            m = AUDIT_HIDE;
    }
    if (m == AUDIT_SHOW && rec)
        *rec = o;
    else
        json_object_put(o);
    return m;
}

/* ---- the human table ------------------------------------------------------ */

enum { W_TIME = 27, W_SESSION = 12, W_PROTO = 5, W_DECISION = 8, W_DEST = 30, W_REQUEST = 24 };

/* s with control characters shown as \xNN (C0, DEL) or \u00NN (C1, in
 * UTF-8): a sandbox chooses paths and host names, and must not get to drive
 * the reader's terminal. */
static void put_safe(FILE *f, const char *s, int width)
{
    int n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            n += fprintf(f, "\\x%02x", c);
        } else if (c == 0xc2 && (unsigned char)s[1] >= 0x80 && (unsigned char)s[1] <= 0x9f) {
            n += fprintf(f, "\\u%04x", (unsigned char)s[1]);
            s++;
        } else {
            n += fputc(c, f) == EOF ? 0 : 1;
        }
    }
    if (width > n) fprintf(f, "%*s", width - n, "");
}

static void put_col(FILE *f, const char *s, int width)
{
    put_safe(f, s && *s ? s : "-", width);
    fputs("  ", f);
}

/* Integer field key of o into *v: false when absent or null. */
static bool int_of(json_object *o, const char *key, int64_t *v)
{
    json_object *j;
    if (!json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_int))
        return false;
    *v = json_object_get_int64(j);
    return true;
}

/* "host:port", "[v6]:port", or the host alone (DNS: the port is the resolver's). */
static void put_destination(FILE *f, json_object *rec)
{
    char buf[600];
    const char *host = str_of(rec, "requested_host");
    if (!host) host = str_of(rec, "dst_addr");
    if (!host) host = "-";
    int64_t port;
    const char *proto = str_of(rec, "proto");
    bool dns = proto && strcmp(proto, "dns") == 0;
    if (!dns && int_of(rec, "port", &port))
        snprintf(buf, sizeof(buf), strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host,
                 (long long)port);
    else
        snprintf(buf, sizeof(buf), "%s", host);
    put_col(f, buf, W_DEST);
}

/* "GET /path 403" for HTTP requests; else the event ("query A", "connect", "close"). */
static void put_request(FILE *f, json_object *rec)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        put_col(f, "?", W_REQUEST);
        return;
    }
    const char *method = str_of(rec, "method"), *path = str_of(rec, "path");
    const char *event = str_of(rec, "event");
    int64_t status;
    if (method || path) {
        fprintf(m, "%s%s%s", method ? method : "", method && path ? " " : "", path ? path : "");
        if (int_of(rec, "status", &status)) fprintf(m, " %lld", (long long)status);
    } else if (event) {
        const char *qtype = str_of(rec, "qtype");
        fprintf(m, "%s%s%s", event, qtype ? " " : "", qtype ? qtype : "");
    }
    if (fclose(m) == 0) {
        put_col(f, buf, W_REQUEST);
    } else {
        put_col(f, "?", W_REQUEST);
    }
    free(buf);
}

char *audit_format_header(void)
{
    char *s = NULL;
    if (asprintf(&s, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s", W_TIME, "TIME", W_SESSION, "SESSION",
                 W_PROTO, "PROTO", W_DECISION, "DECISION", W_DEST, "DESTINATION", W_REQUEST,
                 "REQUEST", "REASON") < 0)
        return NULL;
    return s;
}

char *audit_format_row(json_object *rec)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    put_col(f, str_of(rec, "time"), W_TIME);
    put_col(f, str_of(rec, "session"), W_SESSION);
    put_col(f, str_of(rec, "proto"), W_PROTO);
    put_col(f, str_of(rec, "decision"), W_DECISION);
    put_destination(f, rec);
    put_request(f, rec);
    const char *reason = str_of(rec, "reason"), *rule = str_of(rec, "rule");
    put_safe(f, reason ? reason : "-", 0);
    if (rule) {
        fputs(" [", f);
        put_safe(f, rule, 0);
        fputc(']', f);
    }
    int64_t in, out, ms;
    bool has_in = int_of(rec, "bytes_in", &in), has_out = int_of(rec, "bytes_out", &out);
    if (has_in || has_out) {
        fputs("  ", f);
        if (has_in) fprintf(f, "in=%lld", (long long)in);
        if (has_out) fprintf(f, "%sout=%lld", has_in ? " " : "", (long long)out);
    }
    if (int_of(rec, "duration_ms", &ms))
        fprintf(f, "%sms=%lld", has_in || has_out ? " " : "  ", (long long)ms);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    /* trailing blanks of an empty last column */
    while (len > 0 && buf[len - 1] == ' ')
        buf[--len] = '\0';
    return buf;
}

/* ---- reading and following ------------------------------------------------ */

/* The line being assembled across reads. */
struct line_buf {
    char *buf;
    size_t len, cap;
    bool skipping; /* the current line is over AUDIT_LINE_MAX: drop it up to its newline */
};

static void line_buf_free(struct line_buf *b)
{
    free(b->buf);
}

static int line_buf_append(struct line_buf *b, const char *data, size_t n, sbx_err *err)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) return sbx_error(err, ENOMEM, "read audit log");
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return 0;
}

/* Hand data's complete lines to on_line; keep the incomplete rest in b.
 * Returns 0, on_line's non-zero value, or -1 (err). */
static int feed(const struct audit_reader *r, struct line_buf *b, const char *data, size_t n,
                sbx_err *err)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        int rc = 0;
        if (!b->skipping && b->len + take > AUDIT_LINE_MAX) {
            b->skipping = true;
            b->len = 0;
        }
        if (b->skipping) {
            if (nl) {
                b->skipping = false;
                rc = r->on_line(NULL, 0, r->ctx);
            }
        } else if (nl && b->len == 0) {
            rc = r->on_line(data, take, r->ctx); /* the whole line is in data */
        } else {
            if (line_buf_append(b, data, take, err) < 0) return -1;
            if (nl) {
                rc = r->on_line(b->buf, b->len, r->ctx);
                b->len = 0;
            }
        }
        if (rc) return rc;
        if (!nl) break;
        data += take + 1;
        n -= take + 1;
    }
    return 0;
}

/* The end of a file: its last line may lack a newline. */
static int flush(const struct audit_reader *r, struct line_buf *b)
{
    int rc = 0;
    if (b->skipping)
        rc = r->on_line(NULL, 0, r->ctx);
    else if (b->len > 0)
        rc = r->on_line(b->buf, b->len, r->ctx);
    b->len = 0;
    b->skipping = false;
    return rc;
}

static bool stopped(const struct audit_reader *r)
{
    return r->stop && *r->stop;
}

/* Sleep one poll interval, or less when woken. True when it is time to stop. */
static bool wait_more(const struct audit_reader *r)
{
    if (stopped(r)) return true;
    struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
    poll(&p, r->wake_fd >= 0 ? 1 : 0, r->poll_ms > 0 ? r->poll_ms : AUDIT_POLL_MS);
    return stopped(r);
}

static void notice(const struct audit_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void notice(const struct audit_reader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!r->on_notice) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->on_notice(msg, r->ctx);
}

/* The file being read. */
struct cursor {
    int fd;
    dev_t dev;
    ino_t ino;
    off_t off;
    bool regular; /* a pipe or a device cannot be truncated or seeked */
};

static void cursor_close(struct cursor *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* Open r->path into c. 1: opened; 0: it does not exist (follow only); -1: err. */
static int cursor_open(const struct audit_reader *r, struct cursor *c, sbx_err *err)
{
    struct stat st;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && r->follow) return 0;
        return sbx_error(err, errno, "open %s", r->path);
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return sbx_error(err, e, "stat %s", r->path);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return sbx_error(err, EISDIR, "open %s", r->path);
    }
    *c = (struct cursor){
        .fd = fd, .dev = st.st_dev, .ino = st.st_ino, .off = 0, .regular = S_ISREG(st.st_mode)};
    return 1;
}

/* Read c to its current end, feeding lines. 0 at end of file, else as feed(). */
static int read_to_end(const struct audit_reader *r, struct cursor *c, struct line_buf *b,
                       char *chunk, sbx_err *err)
{
    for (;;) {
        ssize_t n = read(c->fd, chunk, READ_CHUNK);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) {
                if (stopped(r)) return 0;
                continue;
            }
            return sbx_error(err, errno, "read %s", r->path);
        }
        c->off += n;
        int rc = feed(r, b, chunk, (size_t)n, err);
        if (rc) return rc;
        if (r->follow && stopped(r)) return 0;
    }
}

enum change { SAME, REPLACED, TRUNCATED };

/* What became of the file at r->path since c was opened. A missing path
 * (rotated away, the new one not made yet) is SAME: keep reading the old. */
static enum change file_change(const struct audit_reader *r, const struct cursor *c)
{
    struct stat st;
    if (stat(r->path, &st) < 0) return SAME;
    if (st.st_dev != c->dev || st.st_ino != c->ino) return REPLACED;
    if (c->regular && st.st_size < c->off) return TRUNCATED;
    return SAME;
}

int audit_read(const struct audit_reader *r, sbx_err *err)
{
    __attribute__((cleanup(line_buf_free))) struct line_buf b = {0};
    __attribute__((cleanup(cursor_close))) struct cursor c = {.fd = -1};
    _cleanup_free_ char *chunk = malloc(READ_CHUNK);
    if (!chunk) return sbx_error(err, ENOMEM, "read %s", r->path);
    bool told_missing = false;
    for (;;) {
        if (c.fd < 0) {
            int rc = cursor_open(r, &c, err);
            if (rc < 0) return -1;
            if (rc == 0) {
                if (!told_missing) notice(r, "%s does not exist yet: waiting for it", r->path);
                told_missing = true;
                if (wait_more(r)) return 0;
                continue;
            }
        }
        int rc = read_to_end(r, &c, &b, chunk, err);
        if (rc) return rc;
        if (!r->follow) return flush(r, &b);
        if (stopped(r)) return 0;
        switch (file_change(r, &c)) {
        case REPLACED:
            /* rotated: what was appended to the old file after that read first */
            if ((rc = read_to_end(r, &c, &b, chunk, err)) != 0) return rc;
            if ((rc = flush(r, &b)) != 0) return rc;
            cursor_close(&c);
            notice(r, "%s has been replaced; following the new file", r->path);
            continue;
        case TRUNCATED:
            notice(r, "%s: file truncated", r->path);
            if (lseek(c.fd, 0, SEEK_SET) < 0) return sbx_error(err, errno, "seek %s", r->path);
            c.off = 0;
            b.len = 0;
            b.skipping = false;
            continue;
        case SAME:
            break;
        }
        if (wait_more(r)) return 0;
    }
}
