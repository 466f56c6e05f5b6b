/* fuzz_api_request - sbxd's request parsing on arbitrary bytes from a client:
 * common/http.c (http_req_feed / http_req_eof as server.c drives them, with
 * pipelining, a streamed body like PUT .../files, and the input cut into
 * socket-sized pieces), then what api.c does with a complete request:
 * http_split_path, http_query_get, the JSON body (json_parse_object and the
 * field checkers of common/json.c) and the limits of a create body
 * (supervisor/limits.c). The whole-input and the cut-up runs must see the
 * same requests. */
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "json.h"
#include "limits.h"

#define MAX_REQS 16

struct req_sum {
    int method, complete, err_status, keep_alive, expect_continue, streamed, nseg, json_ok;
    uint64_t path_h, query_h, body_h, accept_h;
    size_t body_len;
};

struct run {
    int n;
    struct req_sum r[MAX_REQS];
    int failed; /* http_req_feed returned -1 */
    int err_status;
    int eof_rc;
    uint64_t chunk_h; /* streamed body bytes */
    size_t chunk_len;
};

static uint64_t hash(const void *p, size_t n, uint64_t h)
{
    const uint8_t *d = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ULL;
    return h;
}

static uint64_t hash_str(const char *s)
{
    return s ? hash(s, strlen(s), 1469598103934665603ULL) : 0;
}

static void on_chunk(void *ud, const char *p, size_t n)
{
    struct run *run = ud;
    run->chunk_h = hash(p, n, run->chunk_h);
    run->chunk_len += n;
}

/* Like api_head: PUT bodies are streamed (files, archives), the rest buffered. */
static int on_head(struct http_req *r, void *ud)
{
    FUZZ_ASSERT(r->path && r->url);
    if (r->method != HTTP_PUT) return 0;
    if (strstr(r->path, "refuse")) return http_req_fail(r, 404, "not_found", "no such session");
    r->on_chunk = on_chunk;
    r->chunk_ud = ud;
    return 1;
}

static void check_json(const char *body, size_t len, struct req_sum *s)
{
    struct json_object *o = NULL;
    sbx_err err;
    if (json_parse_object(body, len, &o, &err) < 0) {
        FUZZ_ASSERT(o == NULL && err.msg[0]);
        return;
    }
    FUZZ_ASSERT(o && json_object_is_type(o, json_type_object));
    s->json_ok = 1;
    static const char *const fields[] = {"image",   "cmd", "env",    "limits", "network", "user",
                                         "timeout", "tty", "labels", "cwd",    NULL};
    (void)json_check_fields(o, "", fields, &err);
    const char *str;
    (void)json_get_str(o, "", "image", 1, &str, &err);
    (void)json_get_str(o, "", "user", 0, &str, &err);
    int present, b;
    int64_t i;
    double d;
    (void)json_get_int(o, "", "timeout", 0, 86400, &present, &i, &err);
    (void)json_get_int(o, "exec", "timeout", INT64_MIN, INT64_MAX, &present, &i, &err);
    (void)json_get_bool(o, "", "tty", &b, &err);
    (void)json_get_num(o, "", "cpu", 0.01, 1024, &present, &d, &err);
    struct json_object *x;
    if (json_get_obj(o, "", "env", &x, &err) == 0 && x)
        (void)json_check_str_map(x, "env", 256, 255, 32768, &err);
    if (json_get_obj(o, "", "labels", &x, &err) == 0 && x)
        (void)json_check_str_map(x, "labels", 64, 63, 255, &err);
    (void)json_get_arr(o, "", "cmd", 0, &x, &err);
    struct limits l;
    struct json_object *lim = NULL;
    if (json_get_obj(o, "", "limits", &lim, &err) == 0 && limits_from_json(lim, &l, &err) == 0) {
        FUZZ_ASSERT(l.memory >= LIMIT_MEMORY_MIN && l.memory <= LIMIT_MEMORY_MAX);
        FUZZ_ASSERT(l.pids >= LIMIT_PIDS_MIN && l.pids <= LIMIT_PIDS_MAX);
        json_object_put(limits_to_json(&l));
        (void)limits_tmp_size(&l);
    }
    json_object_put(o);
}

/* What api_dispatch and the handlers do with a complete request. */
static void handle(struct http_req *r, struct req_sum *s)
{
    FUZZ_ASSERT(r->path && r->url);
    s->method = r->method;
    s->complete = r->complete;
    s->keep_alive = r->keep_alive;
    s->expect_continue = r->expect_continue;
    s->streamed = r->stream_body;
    s->path_h = hash_str(r->path);
    s->query_h = hash_str(r->query);
    s->accept_h = hash_str(r->accept);
    s->body_len = r->body_len;
    s->body_h = r->body ? hash(r->body, r->body_len, 1) : 0;
    FUZZ_ASSERT(strlen(r->accept) < sizeof(r->accept));

    char buf[HTTP_MAX_URL + 1];
    char *seg[8];
    s->nseg = http_split_path(r->path, buf, sizeof(buf), seg, 8);
    for (int k = 0; k < s->nseg; k++)
        FUZZ_ASSERT(seg[k][0] && !strchr(seg[k], '/') && strcmp(seg[k], ".") &&
                    strcmp(seg[k], ".."));
    static const char *const keys[] = {"path", "to", "depth", "mode", "format", "user", "x", ""};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        char v[4097], small[4];
        int g = http_query_get(r->query, keys[k], v, sizeof(v));
        FUZZ_ASSERT(g >= -1 && g <= 1);
        if (g == 1) FUZZ_ASSERT(strlen(v) < sizeof(v));
        g = http_query_get(r->query, keys[k], small, sizeof(small));
        if (g == 1) FUZZ_ASSERT(strlen(small) < sizeof(small));
    }
    if (!r->stream_body) check_json(r->body ? r->body : "", r->body_len, s);
}

/* Feed data in pieces (all at once when cuts is NULL), as server.c does. */
static void run_once(const uint8_t *data, size_t size, struct fuzz_cuts *cuts, struct run *run)
{
    memset(run, 0, sizeof(*run));
    run->chunk_h = 1;
    struct http_req r;
    http_req_init(&r);
    r.on_head = on_head;
    r.head_ud = run;
    size_t off = 0;
    while (off < size && !run->failed) {
        size_t piece = cuts ? fuzz_cuts_next(cuts, size - off) : size - off;
        size_t end = off + piece;
        while (off < end) {
            ssize_t n = http_req_feed(&r, (const char *)data + off, end - off);
            if (n < 0) {
                FUZZ_ASSERT(r.err_status >= 400 && r.err_status < 600 && r.err_code &&
                            r.err_msg[0]);
                run->failed = 1;
                run->err_status = r.err_status;
                break;
            }
            FUZZ_ASSERT((size_t)n <= end - off);
            off += (size_t)n;
            if (r.complete) {
                if (run->n < MAX_REQS) handle(&r, &run->r[run->n]);
                run->n++;
                http_req_reset(&r);
            } else {
                FUZZ_ASSERT(off == end); /* an incomplete request takes everything */
            }
        }
    }
    if (!run->failed) run->eof_rc = http_req_eof(&r);
    http_req_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, cut;
    run_once(data, size, NULL, &whole);
    struct fuzz_cuts c;
    fuzz_cuts_init(&c, data, size);
    run_once(data, size, &c, &cut);
    FUZZ_ASSERT(whole.n == cut.n);
    /* Refused either way; but with two faults (a NUL byte beyond 8 KiB of
     * URL) which one is seen first depends on when http-parser hands data
     * over (400 or 414): the status may differ, a 4xx it must be. */
    FUZZ_ASSERT(whole.failed == cut.failed);
    if (whole.failed) FUZZ_ASSERT(whole.err_status / 100 == 4 && cut.err_status / 100 == 4);
    FUZZ_ASSERT(whole.eof_rc == cut.eof_rc);
    FUZZ_ASSERT(whole.chunk_len == cut.chunk_len && whole.chunk_h == cut.chunk_h);
    for (int i = 0; i < whole.n && i < MAX_REQS; i++) {
        const struct req_sum *a = &whole.r[i], *b = &cut.r[i];
        FUZZ_ASSERT(a->method == b->method && a->keep_alive == b->keep_alive);
        FUZZ_ASSERT(a->path_h == b->path_h && a->query_h == b->query_h);
        FUZZ_ASSERT(a->body_len == b->body_len && a->body_h == b->body_h);
        FUZZ_ASSERT(a->accept_h == b->accept_h);
        FUZZ_ASSERT(a->expect_continue == b->expect_continue);
        FUZZ_ASSERT(a->streamed == b->streamed && a->nseg == b->nseg && a->json_ok == b->json_ok);
    }
    return 0;
}
