/* loadgen - load test tool for sbxd's exec streams (tests/integration/test_load.sh).
 *
 *   loadgen gen ID SECONDS RATE
 *       Inside a sandbox (static binary, copied in). Writes a deterministic
 *       sequence of records to stdout and to stderr for SECONDS seconds, at
 *       about RATE bytes/s per stream on average (bursts of up to 1 MiB
 *       above it), in writes of varying sizes that split records and join
 *       them, interleaving the two streams; then an END record on each
 *       (record count and byte total) and exit status ID % 7.
 *       A record: "@ID:FD:SEQ:LEN\n" and LEN bytes that are a function of
 *       (ID, FD, SEQ, offset); END: "@ID:FD:END:NREC:TOTAL:BLOCKED\n", where
 *       TOTAL counts every byte of the stream before the END record and
 *       BLOCKED the milliseconds spent in writes that took over 50 ms (the
 *       reader held it back).
 *
 *   loadgen verify ID FD < FILE
 *       Checks one stream gen wrote (stdout: FD 1, stderr: FD 2).
 *
 *   loadgen run --socket PATH --sessions ID[,ID...] --streams N --seconds S
 *               --rate BYTES --gen PATH [--ndjson-every K] [--deadline S]
 *       On the host: opens N exec streams at once (POST /v1/sessions/ID/exec,
 *       round-robin over the sessions) each running `PATH gen I S RATE`,
 *       every K-th one in NDJSON, the others in the framed encoding, and
 *       checks each stream: HTTP 200, a start event first, every record of
 *       stdout and stderr present, complete and in order up to its END
 *       record, an exit event after all output with code I % 7, nothing
 *       after it but the end of the chunked body. Prints one "# ..." summary
 *       line (streams, bytes, seconds, throughput) and one "FAIL ..." line
 *       per broken stream; exit 0 only if every stream passed. A stream
 *       still open after --deadline seconds (default S + 60) is a hang.
 *       --stall-every K: the client reads nothing of every K-th stream
 *       until 60% of S, and its generator writes --stall-rate bytes/s
 *       (default 2 MiB/s; sbxd and the socket buffer some 13 MiB for a
 *       client, so it must stop reading the pipes and hold the process
 *       back, losing nothing), then reads at full speed.
 *       --abort-every K: the client closes every K-th stream, a quarter of
 *       them right after sending the request, the others between 20% and
 *       74% of S (what came until then is checked; sbxd must kill the
 *       process, which would write for 3 S, and let go of everything).
 *       --doomed ID[,ID...]: sessions the caller deletes while the streams
 *       run (their generators would write for 3 S): their streams must end
 *       with an exit event with signal 9 after what came until then.
 *
 * Exit status: 0 ok, 1 some stream failed, 2 usage or setup error. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define BIG_RECORD_EVERY 64
#define BIG_RECORD_MAX (1u << 20)
#define SMALL_RECORD_MAX 4096u

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t rec_seed(unsigned id, unsigned fd, uint64_t seq)
{
    return mix(((uint64_t)id << 40) ^ ((uint64_t)fd << 36) ^ seq ^ 0x5bd1e995u);
}

/* Length of record SEQ: mostly small, every BIG_RECORD_EVERY-th one large. */
static uint32_t rec_len(unsigned id, unsigned fd, uint64_t seq)
{
    uint64_t r = rec_seed(id, fd, seq);
    if (seq % BIG_RECORD_EVERY == BIG_RECORD_EVERY - 1)
        return (uint32_t)(64 * 1024 + r % (BIG_RECORD_MAX - 64 * 1024 + 1));
    return (uint32_t)(r % (SMALL_RECORD_MAX + 1));
}

static uint8_t rec_byte(uint64_t seed, uint32_t j)
{
    return (uint8_t)((seed >> ((j & 7) * 8)) + j * 131u + (j >> 9));
}

/* ------------------------------------------------------------------ gen ---- */

struct out {
    int fd;
    unsigned id;
    uint64_t seq, total;
    uint8_t *buf;
    size_t len, cap;
};

static void out_reserve(struct out *o, size_t more)
{
    if (o->len + more <= o->cap) return;
    size_t cap = o->cap ? o->cap : 65536;
    while (cap < o->len + more)
        cap *= 2;
    o->buf = realloc(o->buf, cap);
    if (!o->buf) {
        fprintf(stderr, "loadgen gen: out of memory\n");
        _exit(99);
    }
    o->cap = cap;
}

static void out_record(struct out *o)
{
    uint32_t len = rec_len(o->id, (unsigned)o->fd, o->seq);
    out_reserve(o, 64 + len);
    int h =
        snprintf((char *)o->buf + o->len, 64, "@%u:%d:%" PRIu64 ":%u\n", o->id, o->fd, o->seq, len);
    o->len += (size_t)h;
    uint64_t seed = rec_seed(o->id, (unsigned)o->fd, o->seq);
    for (uint32_t j = 0; j < len; j++)
        o->buf[o->len + j] = rec_byte(seed, j);
    o->len += len;
    o->seq++;
}

static double g_blocked; /* seconds spent in writes that took over 50 ms */

/* write_all (common/util.c), timing how long the reader held it back */
static int timed_write_all(int fd, const uint8_t *p, size_t n)
{
    double t = now_mono();
    int r = write_all(fd, p, n) < 0 ? -1 : 0;
    t = now_mono() - t;
    if (t > 0.05) g_blocked += t;
    return r;
}

/* Write N bytes of the stream (making records as needed). */
static int out_write(struct out *o, size_t n)
{
    while (o->len < n)
        out_record(o);
    if (timed_write_all(o->fd, o->buf, n) < 0) return -1;
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
    o->total += n;
    return 0;
}

static int gen_main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: loadgen gen ID SECONDS RATE\n");
        return 2;
    }
    unsigned id = (unsigned)strtoul(argv[2], NULL, 10);
    double secs = strtod(argv[3], NULL);
    double rate = strtod(argv[4], NULL);
    struct out o[2] = {{.fd = 1, .id = id}, {.fd = 2, .id = id}};
    uint64_t r = mix(id + 1);
    double t0 = now_mono();
    uint64_t written = 0;
    while (now_mono() - t0 < secs) {
        r = mix(r + 1);
        struct out *w = &o[r & 1];
        size_t n;
        switch ((r >> 8) % 64) {
        case 0 ... 7:
            n = 1 + (r >> 16) % 16;
            break; /* tiny: splits headers */
        case 8 ... 15:
            n = 1 + (r >> 16) % 512;
            break;
        case 63:
            n = 1 + (r >> 16) % (1u << 20);
            break; /* a burst of up to 1 MiB */
        default:
            n = 1 + (r >> 16) % 16384;
            break;
        }
        if (out_write(w, n) < 0) return 98;
        written += n;
        /* bounded rate: sleep while ahead of RATE per stream (two streams) */
        double ahead = (double)written / (2 * rate) - (now_mono() - t0);
        if (ahead > 0) {
            if (ahead > 0.5) ahead = 0.5;
            struct timespec ts = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < 2; i++) {
        /* finish the record in progress, then END */
        if (out_write(&o[i], o[i].len) < 0) return 98;
        char end[96];
        int h = snprintf(end, sizeof(end), "@%u:%d:END:%" PRIu64 ":%" PRIu64 ":%.0f\n", id, o[i].fd,
                         o[i].seq, o[i].total, g_blocked * 1000);
        if (timed_write_all(o[i].fd, (uint8_t *)end, (size_t)h) < 0) return 98;
    }
    return (int)(id % 7);
}

/* ------------------------------------------------------------------ run ---- */

/* Checks one output stream (stdout or stderr) of one exec. */
struct verifier {
    unsigned id, fd;
    char hdr[96];
    size_t hlen;
    int in_payload, ended;
    uint64_t seq, total, bytes, blocked_ms;
    uint32_t plen, pos;
    uint64_t pseed;
    char err[256];
};

enum { ST_HEAD, ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_CRLF, ST_TRAILER, ST_DONE };

struct stream {
    unsigned id;
    const char *sid;
    int fd;
    int ndjson;
    char *req;
    size_t req_len, req_off;
    /* response */
    int state;
    char head[8192];
    size_t head_len;
    int status;
    uint64_t chunk_left;
    char line[64];
    size_t line_len;
    /* frames */
    uint8_t fh[5];
    size_t fh_len;
    uint32_t flen, fpos;
    int ftype;
    char *jbuf; /* a JSON frame's payload, or an NDJSON line */
    size_t jlen, jcap;
    /* events */
    int started, exited, exit_code, ended;
    int slow, abort_me, aborted; /* a stalled reader; a client that leaves mid-stream */
    int doomed;                  /* its session is deleted while it runs */
    double abort_at;
    uint64_t read_bytes;
    struct verifier v[2];
    char err[512];
    double t_done, t_start;
};

static void vfail(struct verifier *v, const char *fmt, ...)
{
    if (v->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->err, sizeof(v->err), fmt, ap);
    va_end(ap);
}

static void sfail(struct stream *s, const char *fmt, ...)
{
    if (s->err[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
}

static void verify_header(struct verifier *v)
{
    char want[96];
    v->hdr[v->hlen] = '\0';
    uint64_t seq, total, blocked;
    char tail[8];
    if (sscanf(v->hdr, "@%*u:%*u:END:%" SCNu64 ":%" SCNu64 ":%" SCNu64 "%1s", &seq, &total,
               &blocked, tail) == 3) {
        snprintf(want, sizeof(want), "@%u:%u:END:%" PRIu64 ":%" PRIu64 ":%" PRIu64 "\n", v->id,
                 v->fd, v->seq, v->total, blocked);
        v->blocked_ms = blocked;
        if (strcmp(v->hdr, want) != 0)
            vfail(v, "END record [%.*s], expected [%.*s] (lost or extra records/bytes)",
                  (int)v->hlen - 1, v->hdr, (int)strlen(want) - 1, want);
        v->ended = 1;
        return;
    }
    v->plen = rec_len(v->id, v->fd, v->seq);
    snprintf(want, sizeof(want), "@%u:%u:%" PRIu64 ":%u\n", v->id, v->fd, v->seq, v->plen);
    if (strcmp(v->hdr, want) != 0) {
        vfail(v, "at byte %" PRIu64 ": record header [%.*s], expected [%.*s]", v->total,
              (int)v->hlen - 1, v->hdr, (int)strlen(want) - 1, want);
        return;
    }
    v->pseed = rec_seed(v->id, v->fd, v->seq);
    v->pos = 0;
    v->in_payload = v->plen > 0;
    v->total += v->hlen;
    v->seq++;
    if (!v->in_payload) v->hlen = 0;
}

static void verify(struct verifier *v, const uint8_t *p, size_t n)
{
    v->bytes += n;
    while (n > 0 && !v->err[0]) {
        if (v->ended) {
            vfail(v, "%zu bytes after the END record", n);
            return;
        }
        if (v->in_payload) {
            size_t take = v->plen - v->pos < n ? v->plen - v->pos : n;
            for (size_t j = 0; j < take; j++)
                if (p[j] != rec_byte(v->pseed, v->pos + (uint32_t)j)) {
                    vfail(v,
                          "record %" PRIu64 " byte %zu (stream byte %" PRIu64
                          "): 0x%02x, expected 0x%02x",
                          v->seq - 1, v->pos + j, v->total + j, p[j],
                          rec_byte(v->pseed, v->pos + (uint32_t)j));
                    return;
                }
            v->pos += (uint32_t)take;
            v->total += take;
            p += take;
            n -= take;
            if (v->pos == v->plen) {
                v->in_payload = 0;
                v->hlen = 0;
            }
            continue;
        }
        if (v->hlen >= sizeof(v->hdr) - 1) {
            vfail(v, "at byte %" PRIu64 ": no record header", v->total);
            return;
        }
        v->hdr[v->hlen++] = (char)*p++;
        n--;
        if (v->hdr[v->hlen - 1] == '\n') {
            verify_header(v);
            if (!v->in_payload && !v->ended) v->hlen = 0;
        }
    }
}

static uint8_t *g_dec;
static double g_t0; /* when run began */

static void on_json_event(struct stream *s, const char *js, size_t len)
{
    char type[32] = "";
    const char *t = strstr(js, "\"type\":\"");
    if (t && t < js + len) sscanf(t + 8, "%31[a-z_]", type);
    if (!s->started && strcmp(type, "start") != 0) {
        sfail(s, "first event is [%.60s], not start", js);
        return;
    }
    if (s->exited) {
        sfail(s, "event after exit: [%.80s]", js);
        return;
    }
    if (strcmp(type, "start") == 0) {
        if (s->started) sfail(s, "second start event");
        s->started = 1;
        s->t_start = now_mono() - g_t0;
    } else if (strcmp(type, "exit") == 0) {
        s->exited = 1;
        const char *c = strstr(js, "\"code\":");
        s->exit_code = c ? (strncmp(c + 7, "null", 4) == 0 ? -1 : atoi(c + 7)) : -2;
        if (s->doomed) {
            /* its session is deleted under it: killed, after what it wrote */
            if (s->exit_code != -1 || !strstr(js, "\"signal\":9"))
                sfail(s,
                      "exit event [%.160s] of a stream whose session was deleted: expected "
                      "signal 9",
                      js);
            return;
        }
        for (int i = 0; i < 2; i++)
            if (!s->v[i].ended && !s->v[i].err[0])
                sfail(s,
                      "exit event (%.120s) before the END record of %s (%" PRIu64
                      " bytes had come)",
                      js, i ? "stderr" : "stdout", s->v[i].total);
        if (s->exit_code != (int)(s->id % 7))
            sfail(s, "exit event [%.160s]: code %d, expected %u", js, s->exit_code, s->id % 7);
    } else if (strcmp(type, "stdout") == 0 || strcmp(type, "stderr") == 0) {
        /* NDJSON: {"type":"stdout","data":"..."} */
        const char *d = strstr(js, "\"data\":\"");
        const char *e = d ? memchr(d + 8, '"', len - (size_t)(d + 8 - js)) : NULL;
        if (!e) {
            sfail(s, "output event without data: [%.80s]", js);
            return;
        }
        ssize_t n = b64_decode(d + 8, (size_t)(e - d - 8), g_dec);
        if (n < 0) {
            sfail(s, "bad base64 in [%.80s]", js);
            return;
        }
        verify(&s->v[type[3] == 'e' ? 1 : 0], g_dec, (size_t)n);
    } else {
        sfail(s, "unexpected event [%.160s]", js);
    }
}

static void jbuf_add(struct stream *s, const void *p, size_t n)
{
    if (s->jlen + n + 1 > s->jcap) {
        size_t cap = s->jcap ? s->jcap * 2 : 4096;
        while (cap < s->jlen + n + 1)
            cap *= 2;
        s->jbuf = realloc(s->jbuf, cap);
        if (!s->jbuf) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(2);
        }
        s->jcap = cap;
    }
    memcpy(s->jbuf + s->jlen, p, n);
    s->jlen += n;
    s->jbuf[s->jlen] = '\0';
}

/* The body of the chunked response (the event stream), in pieces. */
static void on_body(struct stream *s, const uint8_t *p, size_t n)
{
    if (s->ndjson) {
        while (n > 0) {
            const uint8_t *nl = memchr(p, '\n', n);
            size_t take = nl ? (size_t)(nl - p) : n;
            jbuf_add(s, p, take);
            p += take;
            n -= take;
            if (nl) {
                on_json_event(s, s->jbuf, s->jlen);
                s->jlen = 0;
                p++;
                n--;
            }
        }
        return;
    }
    while (n > 0) {
        if (s->fh_len < 5) {
            s->fh[s->fh_len++] = *p++;
            n--;
            if (s->fh_len == 5) {
                s->ftype = s->fh[0];
                s->flen = (uint32_t)s->fh[1] << 24 | (uint32_t)s->fh[2] << 16 |
                          (uint32_t)s->fh[3] << 8 | s->fh[4];
                s->fpos = 0;
                s->jlen = 0;
                if (s->ftype == 2 || s->ftype == 3) {
                    if (!s->started) sfail(s, "output frame before start");
                    if (s->exited) sfail(s, "output frame after exit");
                }
                if (s->flen == 0) s->fh_len = 0;
            }
            continue;
        }
        size_t take = s->flen - s->fpos < n ? s->flen - s->fpos : n;
        if (s->ftype == 2 || s->ftype == 3)
            verify(&s->v[s->ftype - 2], p, take);
        else
            jbuf_add(s, p, take);
        s->fpos += (uint32_t)take;
        p += take;
        n -= take;
        if (s->fpos == s->flen) {
            if (s->ftype != 2 && s->ftype != 3) {
                if (s->ftype < 1 || s->ftype > 6)
                    sfail(s, "unknown frame type %d", s->ftype);
                else
                    on_json_event(s, s->jbuf, s->jlen);
            }
            s->fh_len = 0;
        }
    }
}

static void on_head(struct stream *s)
{
    s->head[s->head_len] = '\0';
    if (sscanf(s->head, "HTTP/1.1 %d", &s->status) != 1 || s->status != 200) {
        char *e = strstr(s->head, "\r\n\r\n");
        sfail(s, "HTTP answer [%.300s]", e ? e + 4 : s->head);
        s->state = ST_DONE;
        return;
    }
    if (!strcasestr(s->head, "Transfer-Encoding: chunked")) {
        sfail(s, "not chunked: [%.300s]", s->head);
        s->state = ST_DONE;
        return;
    }
    s->state = ST_CHUNK_SIZE;
}

/* Bytes from the socket. */
static void on_read(struct stream *s, const uint8_t *p, size_t n)
{
    while (n > 0 && s->state != ST_DONE) {
        switch (s->state) {
        case ST_HEAD: {
            if (s->head_len >= sizeof(s->head) - 1) {
                sfail(s, "response head too long");
                s->state = ST_DONE;
                return;
            }
            s->head[s->head_len++] = (char)*p++;
            n--;
            if (s->head_len >= 4 && memcmp(s->head + s->head_len - 4, "\r\n\r\n", 4) == 0) {
                on_head(s);
                if (s->state == ST_DONE) {
                    /* an error answer: read its body for the message */
                    size_t room = sizeof(s->head) - 1 - s->head_len;
                    size_t k = n < room ? n : room;
                    memcpy(s->head + s->head_len, p, k);
                    s->head_len += k;
                    s->head[s->head_len] = '\0';
                    s->err[0] = '\0';
                    char *e = strstr(s->head, "\r\n\r\n");
                    sfail(s, "HTTP answer %d: [%.300s]", s->status, e ? e + 4 : s->head);
                    return;
                }
            }
            break;
        }
        case ST_CHUNK_SIZE:
        case ST_CHUNK_CRLF:
        case ST_TRAILER: {
            if (s->line_len >= sizeof(s->line) - 1) {
                sfail(s, "bad chunked framing");
                s->state = ST_DONE;
                return;
            }
            s->line[s->line_len++] = (char)*p++;
            n--;
            if (s->line_len < 2 || memcmp(s->line + s->line_len - 2, "\r\n", 2) != 0) break;
            s->line[s->line_len - 2] = '\0';
            if (s->state == ST_CHUNK_CRLF) {
                if (s->line_len != 2) sfail(s, "bad chunk end");
                s->state = ST_CHUNK_SIZE;
            } else if (s->state == ST_TRAILER) {
                if (s->line_len == 2) {
                    s->state = ST_DONE;
                    s->ended = 1;
                    if (n > 0) sfail(s, "%zu bytes after the end of the response", n);
                }
            } else {
                char *end;
                s->chunk_left = strtoull(s->line, &end, 16);
                if (end == s->line) {
                    sfail(s, "bad chunk size [%s]", s->line);
                    s->state = ST_DONE;
                    return;
                }
                s->state = s->chunk_left ? ST_CHUNK_DATA : ST_TRAILER;
            }
            s->line_len = 0;
            break;
        }
        case ST_CHUNK_DATA: {
            size_t take = s->chunk_left < n ? (size_t)s->chunk_left : n;
            on_body(s, p, take);
            p += take;
            n -= take;
            s->chunk_left -= take;
            if (s->chunk_left == 0) s->state = ST_CHUNK_CRLF;
            break;
        }
        }
    }
}

static const char *arg_val(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

static int run_main(int argc, char **argv)
{
    const char *sock = arg_val(argc, argv, "--socket", NULL);
    const char *sessions = arg_val(argc, argv, "--sessions", NULL);
    const char *gen = arg_val(argc, argv, "--gen", NULL);
    int nstreams = atoi(arg_val(argc, argv, "--streams", "200"));
    double secs = strtod(arg_val(argc, argv, "--seconds", "10"), NULL);
    double rate = strtod(arg_val(argc, argv, "--rate", "65536"), NULL);
    int ndj_every = atoi(arg_val(argc, argv, "--ndjson-every", "8"));
    double deadline = strtod(arg_val(argc, argv, "--deadline", "0"), NULL);
    int slow_every = atoi(arg_val(argc, argv, "--stall-every", "0"));
    double stall_rate = strtod(arg_val(argc, argv, "--stall-rate", "2097152"), NULL);
    int abort_every = atoi(arg_val(argc, argv, "--abort-every", "0"));
    const char *doomed = arg_val(argc, argv, "--doomed", "");
    if (!sock || !sessions || !gen || nstreams < 1 || secs <= 0 || rate <= 0) {
        fprintf(stderr, "usage: loadgen run --socket PATH --sessions ID[,ID...] --streams N "
                        "--seconds S --rate BYTES --gen PATH [--ndjson-every K] [--stall-every K] "
                        "[--stall-rate BYTES] [--abort-every K] [--deadline S]\n");
        return 2;
    }
    if (deadline <= 0) deadline = secs + 60;
    char *sids[256];
    int nsids = 0;
    char *list = strdup(sessions);
    for (char *tok = strtok(list, ","); tok && nsids < 256; tok = strtok(NULL, ","))
        sids[nsids++] = tok;
    if (nsids == 0) return 2;
    g_dec = malloc(1 << 20);
    struct stream *st = calloc((size_t)nstreams, sizeof(*st));
    struct pollfd *pfd = calloc((size_t)nstreams, sizeof(*pfd));
    uint8_t *buf = malloc(1 << 20);
    if (!g_dec || !st || !pfd || !buf) return 2;

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    double t0 = g_t0 = now_mono();
    for (int i = 0; i < nstreams; i++) {
        struct stream *s = &st[i];
        s->id = (unsigned)i;
        s->sid = sids[i % nsids];
        s->doomed = strstr(doomed, s->sid) != NULL;
        s->ndjson = ndj_every > 0 && i % ndj_every == ndj_every - 1;
        /* spread over the sessions: the j-th stream of each session */
        int j = i / nsids;
        s->slow = slow_every > 0 && j % slow_every == 2 % slow_every;
        s->abort_me = abort_every > 0 && j % abort_every == 3 % abort_every;
        if (s->doomed) s->slow = s->abort_me = 0;
        /* a quarter of them leave as soon as the request is sent, the others
         * between 20% and 74% of the run */
        int k = j / (abort_every > 0 ? abort_every : 1);
        s->abort_at = k % 4 == 0 ? 0 : secs * (0.2 + 0.06 * (k % 10));
        s->v[0] = (struct verifier){.id = s->id, .fd = 1};
        s->v[1] = (struct verifier){.id = s->id, .fd = 2};
        char body[512];
        int bl = snprintf(body, sizeof(body),
                          "{\"argv\":[\"%s\",\"gen\",\"%u\",\"%g\",\"%g\"],\"timeout\":%g}", gen,
                          s->id, s->abort_me || s->doomed ? 3 * secs : secs,
                          s->slow ? stall_rate : rate, deadline + 30);
        if (asprintf(&s->req,
                     "POST /v1/sessions/%s/exec HTTP/1.1\r\nHost: sbx\r\nAccept: %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     s->sid, s->ndjson ? "application/x-ndjson" : "application/vnd.sbx.frames", bl,
                     body) < 0)
            return 2;
        s->req_len = strlen(s->req);
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "loadgen: connect %s (stream %d): %s\n", sock, i, strerror(errno));
            return 2;
        }
        fcntl(s->fd, F_SETFL, O_NONBLOCK);
        pfd[i] = (struct pollfd){.fd = s->fd, .events = POLLOUT | POLLIN};
    }
    double t_open = now_mono() - t0;
    int open = nstreams;
    uint64_t wire = 0;
    while (open > 0) {
        double left = t0 + deadline - now_mono();
        if (left <= 0) break;
        /* stalled readers read nothing until 60% of the run */
        int throttled = 0;
        double t = now_mono() - t0;
        for (int i = 0; i < nstreams; i++) {
            struct stream *s = &st[i];
            if (pfd[i].fd < 0 || !s->slow || s->req_off < s->req_len) continue;
            int stalled = t < secs * 0.6;
            pfd[i].events = stalled ? 0 : POLLIN;
            throttled |= stalled;
        }
        int wait_ms = (int)(left * 1000) + 1;
        if (throttled && wait_ms > 20) wait_ms = 20;
        if (abort_every > 0 && wait_ms > 100) wait_ms = 100;
        int r = poll(pfd, (nfds_t)nstreams, wait_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            perror("loadgen: poll");
            return 2;
        }
        for (int i = 0; i < nstreams; i++) {
            struct stream *s = &st[i];
            if (pfd[i].fd >= 0 && s->abort_me && s->state != ST_DONE && s->req_off == s->req_len &&
                (s->started || s->abort_at == 0) && now_mono() - t0 >= s->abort_at) {
                /* the client leaves: sbxd must kill the process and let go of it */
                close(s->fd);
                pfd[i].fd = -1;
                s->fd = -1;
                s->aborted = 1;
                s->t_done = now_mono() - t0;
                if (getenv("LOADGEN_VERBOSE"))
                    printf("left stream %u at %.3f s (due %.3f s): started %d (at %.3f s) exited "
                           "%d, %" PRIu64 " + %" PRIu64 " bytes\n",
                           s->id, s->t_done, s->abort_at, s->started, s->t_start, s->exited,
                           s->v[0].bytes, s->v[1].bytes);
                open--;
                continue;
            }
            if (pfd[i].fd < 0 || !pfd[i].revents) continue;
            if ((pfd[i].revents & POLLOUT) && s->req_off < s->req_len) {
                ssize_t w = send(s->fd, s->req + s->req_off, s->req_len - s->req_off, MSG_NOSIGNAL);
                if (w > 0) s->req_off += (size_t)w;
                if (s->req_off == s->req_len) pfd[i].events = POLLIN;
            }
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                for (int k = 0; k < 4; k++) {
                    size_t want = 1 << 20;
                    ssize_t n = read(s->fd, buf, want);
                    if (n < 0 && errno == EINTR) continue;
                    if (n < 0 && errno == EAGAIN) break;
                    if (n <= 0) {
                        if (n < 0) sfail(s, "read: %s", strerror(errno));
                        if (s->state != ST_DONE)
                            sfail(s, "connection closed before the end of the response (state %d)",
                                  s->state);
                        close(s->fd);
                        pfd[i].fd = -1;
                        s->fd = -1;
                        s->t_done = now_mono() - t0;
                        open--;
                        break;
                    }
                    wire += (uint64_t)n;
                    s->read_bytes += (uint64_t)n;
                    if (s->state != ST_DONE) on_read(s, buf, (size_t)n);
                    if ((size_t)n < want) break;
                }
            }
            /* sbxd keeps the connection open (keep-alive): done at the end of the body */
            if (s->fd >= 0 && s->state == ST_DONE) {
                close(s->fd);
                pfd[i].fd = -1;
                s->fd = -1;
                s->t_done = now_mono() - t0;
                open--;
            }
        }
    }
    double elapsed = now_mono() - t0;
    int failed = 0, hung = 0, nd = 0, nslow = 0, naborted = 0, ndoomed = 0, nother = 0;
    uint64_t slow_b = 0, slow_blocked = 0, other_blocked = 0;
    uint64_t out_b = 0, err_b = 0;
    double last = 0, start_max = 0;
    for (int i = 0; i < nstreams; i++) {
        struct stream *s = &st[i];
        if (s->fd >= 0) {
            hung++;
            sfail(s,
                  "still open after %g s (hang): started %d exited %d, stdout %" PRIu64
                  " stderr %" PRIu64 " bytes verified",
                  deadline, s->started, s->exited, s->v[0].total, s->v[1].total);
        }
        nslow += s->slow;
        ndoomed += s->doomed;
        if (s->slow) slow_b += s->v[0].bytes + s->v[1].bytes;
        if (s->slow)
            slow_blocked += s->v[0].blocked_ms;
        else if (!s->aborted && !s->doomed) {
            other_blocked += s->v[0].blocked_ms;
            nother++;
        }
        naborted += s->aborted;
        if (!s->err[0] && !s->exited && !s->aborted) sfail(s, "no exit event");
        if (!s->err[0] && !s->ended && !s->aborted) sfail(s, "response not ended");
        const char *verr = s->v[0].err[0] ? s->v[0].err : s->v[1].err;
        int bad = s->err[0] || verr[0];
        if (bad) {
            failed++;
            if (failed <= 20)
                printf("FAIL stream %u (session %s, %s): %s%s%s%s\n", s->id, s->sid,
                       s->ndjson ? "ndjson" : "frames", s->err, s->err[0] && verr[0] ? "; " : "",
                       verr[0] ? (s->v[0].err[0] ? "stdout: " : "stderr: ") : "", verr);
        }
        nd += s->ndjson;
        out_b += s->v[0].bytes;
        err_b += s->v[1].bytes;
        if (s->t_done > last) last = s->t_done;
        if (!s->slow && s->t_start > start_max) start_max = s->t_start;
        if (getenv("LOADGEN_VERBOSE") && s->t_start > 1)
            printf("late start: stream %u (session %s%s%s) at %.3f s\n", s->id, s->sid,
                   s->slow ? ", stalled" : "", s->abort_me ? ", left" : "", s->t_start);
    }
    if (failed > 20) printf("FAIL ... and %d more streams\n", failed - 20);
    printf("# loadgen: %d streams (%d frames, %d ndjson; %d stalled readers, %d left by the client "
           "mid-stream, %d in sessions deleted under them) over %d sessions, opened in %.3f s, "
           "last start event (but the stalled "
           "readers') at %.3f s; "
           "%d ok, %d failed, %d hung; stalled readers got %.1f MB each, their generators blocked "
           "%.1f s each (the others %.2f s); stdout %" PRIu64 " B, stderr %" PRIu64
           " B verified in %.1f s (last stream done at %.1f s): %.2f MB/s of output, %.2f MB/s "
           "on the wire\n",
           nstreams, nstreams - nd, nd, nslow, naborted, ndoomed, nsids, t_open, start_max,
           nstreams - failed, failed, hung, nslow ? (double)slow_b / nslow / 1e6 : 0.0,
           nslow ? (double)slow_blocked / nslow / 1e3 : 0.0,
           nother > 0 ? (double)other_blocked / nother / 1e3 : 0.0, out_b, err_b, elapsed, last,
           (double)(out_b + err_b) / elapsed / 1e6, (double)wire / elapsed / 1e6);
    return failed ? 1 : 0;
}

/* loadgen verify ID FD < FILE: check one stream gen wrote (the tool's own test). */
static int verify_main(int argc, char **argv)
{
    if (argc != 4) return 2;
    struct verifier v = {.id = (unsigned)atoi(argv[2]), .fd = (unsigned)atoi(argv[3])};
    static uint8_t b[65536];
    ssize_t n;
    while ((n = read(0, b, sizeof(b))) > 0)
        verify(&v, b, (size_t)n);
    if (!v.err[0] && !v.ended) vfail(&v, "no END record after %" PRIu64 " bytes", v.total);
    printf("%s %" PRIu64 " records %" PRIu64 " bytes\n", v.err[0] ? v.err : "ok", v.seq, v.total);
    return v.err[0] ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "gen") == 0) return gen_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) return verify_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "run") == 0) return run_main(argc, argv);
    fprintf(stderr, "usage: loadgen gen ID SECONDS RATE | loadgen run --socket PATH ...\n");
    return 2;
}
