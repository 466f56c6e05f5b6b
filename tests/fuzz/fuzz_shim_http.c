/* fuzz_shim_http - sbx-shim's view of a sandbox's plain HTTP and TLS bytes:
 * shim/httpflow.c (hflow_feed as proxy.c drives it, requests and responses,
 * the input whole and cut into pieces: both must give the same events at the
 * same offsets with the same Host / path / method / status), the secret
 * placeholder rewrite of every request head it finds (shim/secrets.c
 * secrets_rewrite_head, as proxy.c's inject() cuts the head), the protocol
 * sniffing (hflow_looks_like_request) and the TLS ClientHello SNI reader
 * (shim/sni.c sni_extract, with all the bytes so far, as proxy.c calls it). */
#include <string.h>

#include "fuzz.h"
#include "httpflow.h"
#include "json.h"
#include "policy.h"
#include "secrets.h"
#include "sni.h"

#define MAX_EVENTS 64

struct evrec {
    enum hflow_event ev;
    size_t off;
    char method[24], path[HFLOW_PATH_MAX], host[HFLOW_HOST_MAX], uri_host[HFLOW_HOST_MAX];
    int host_count, host_too_long, url_bad, is_connect, is_head, upgrade, status, upgraded;
};

struct run {
    int n;
    struct evrec e[MAX_EVENTS];
    enum hflow_event eof;
};

#define PA "sbx_secret_0123456789abcdef0123456789abcdef01234567"
#define PB "sbx_secret_fedcba9876543210fedcba9876543210fedcba98"
#define PC "sbx_secret_1111111111111111111111111111111111111111"
#define PD "sbx_secret_3333333333333333333333333333333333333333"

static struct secret_set S;
static struct hflow H; /* 8 KiB of URL buffer: off the stack */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const secrets =
        "{\"GITHUB_TOKEN\": {\"placeholder\": \"" PA "\", \"value\": \"ghp_secretvalue\", "
        "\"hosts\": [\"api.github.com\", \"*.githubusercontent.com\"]},"
        " \"API_KEY\": {\"placeholder\": \"" PB "\", \"value\": \"k&y =/+\\u00fc\", "
        "\"hosts\": [\"api.example.com\"], \"query\": true},"
        " \"GONE\": {\"placeholder\": \"" PC
        "\", \"value\": null, \"hosts\": [\"gone.example.com\"]},"
        " \"REQ\": {\"placeholder\": \"" PD
        "\", \"value\": \"rv\", \"hosts\": [\"req.example.com\"], "
        "\"require\": true}}";
    struct json_object *o = NULL;
    sbx_err err;
    FUZZ_ASSERT(json_parse_object(secrets, strlen(secrets), &o, &err) == 0);
    FUZZ_ASSERT(secrets_from_json(o, &S, &err) == 0 && S.n == 4);
    json_object_put(o);
    return 0;
}

static void rewrite(const char *head, size_t len, const struct hflow_info *info)
{
    char host[POLICY_NAME_MAX + 2];
    if (policy_normalize_host(info->uri_host[0] ? info->uri_host : info->host, host, sizeof(host)) <
        0)
        snprintf(host, sizeof(host), "api.example.com");
    static const char *const hosts[] = {NULL, "api.github.com", "api.example.com",
                                        "req.example.com"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char *out = NULL;
        size_t olen = 0;
        struct secrets_result res;
        memset(&res, 0, sizeof(res));
        int r = secrets_rewrite_head(&S, hosts[i] ? hosts[i] : host, head, len, &out, &olen, &res);
        FUZZ_ASSERT(r == 0 || r == -1);
        if (res.deny) {
            FUZZ_ASSERT(!out && olen == 0 && res.reason[0]);
        } else {
            FUZZ_ASSERT(r == 0 && out && out[olen] == '\0' && olen <= SECRETS_HEAD_OUT_MAX);
            FUZZ_ASSERT(res.ninjected >= 0 && res.ninjected <= S.n);
            /* the rewritten head holds no placeholder it was allowed to replace */
            for (int k = 0; k < res.ninjected; k++)
                FUZZ_ASSERT(res.injected[k]);
            if (res.ninjected == 0) FUZZ_ASSERT(olen == len && memcmp(out, head, len) == 0);
        }
        secrets_free_head(out, olen);
    }
    (void)secrets_find_placeholder(&S, head, len);
}

static void record(struct run *run, enum hflow_event ev, size_t off, const struct hflow *h)
{
    if (run->n >= MAX_EVENTS) return;
    struct evrec *e = &run->e[run->n++];
    memset(e, 0, sizeof(*e));
    e->ev = ev;
    e->off = off;
    const struct hflow_info *i = &h->info;
    FUZZ_ASSERT(memchr(i->method, 0, sizeof(i->method)) && memchr(i->path, 0, sizeof(i->path)));
    FUZZ_ASSERT(memchr(i->host, 0, sizeof(i->host)) && memchr(i->uri_host, 0, sizeof(i->uri_host)));
    snprintf(e->method, sizeof(e->method), "%s", i->method);
    snprintf(e->path, sizeof(e->path), "%s", i->path);
    snprintf(e->host, sizeof(e->host), "%s", i->host);
    snprintf(e->uri_host, sizeof(e->uri_host), "%s", i->uri_host);
    e->host_count = i->host_count;
    e->host_too_long = i->host_too_long;
    e->url_bad = i->url_bad;
    e->is_connect = i->is_connect;
    e->is_head = i->is_head;
    e->upgrade = i->upgrade;
    e->status = i->status;
    e->upgraded = h->upgraded;
}

/* Feed like proxy.c's http_parse_client / http_parse_upstream: everything
 * received so far that is not parsed yet, until HF_MORE. */
static void run_flow(const uint8_t *d, size_t size, int type, int head_next, struct fuzz_cuts *cuts,
                     struct run *run, int do_rewrite)
{
    memset(run, 0, sizeof(*run));
    hflow_init(&H, type);
    size_t off = 0, avail = 0, msg_start = 0;
    int stop = 0;
    while (!stop && off < size) {
        avail = cuts ? avail + fuzz_cuts_next(cuts, size - avail) : size;
        while (off < avail) {
            H.head_next = head_next;
            enum hflow_event ev;
            size_t n = hflow_feed(&H, (const char *)d + off, avail - off, &ev);
            FUZZ_ASSERT(n <= avail - off);
            off += n;
            if (ev == HF_MORE) {
                FUZZ_ASSERT(off == avail);
                break;
            }
            record(run, ev, off, &H);
            if (ev == HF_HEADERS && do_rewrite && type == HTTP_REQUEST) {
                size_t he = off + 1 < size ? off + 1 : size; /* hflow stops on the head's last LF */
                if (he > msg_start) rewrite((const char *)d + msg_start, he - msg_start, &H.info);
            }
            if (ev == HF_COMPLETE) msg_start = off;
            if (ev == HF_ERROR) FUZZ_ASSERT(H.err[0]);
            if (ev == HF_ERROR || (ev == HF_COMPLETE && H.upgraded)) {
                stop = 1;
                break;
            }
        }
    }
    run->eof = stop ? HF_MORE : hflow_eof(&H);
}

static void compare(const struct run *a, const struct run *b)
{
    FUZZ_ASSERT(a->n == b->n && a->eof == b->eof);
    for (int i = 0; i < a->n; i++) {
        const struct evrec *x = &a->e[i], *y = &b->e[i];
        FUZZ_ASSERT(x->ev == y->ev);
        /* at an error inside a head, info is half filled and the offset is
         * where the parser noticed (a limit is seen at the cut where the
         * parser hands over its piece): proxy.c forwards none of that
         * message and reads no info but a complete head's */
        if (x->ev == HF_ERROR && !x->method[0] && !x->status) continue;
        FUZZ_ASSERT(x->off == y->off);
        FUZZ_ASSERT(!strcmp(x->method, y->method) && !strcmp(x->path, y->path));
        FUZZ_ASSERT(!strcmp(x->host, y->host) && !strcmp(x->uri_host, y->uri_host));
        FUZZ_ASSERT(x->host_count == y->host_count && x->host_too_long == y->host_too_long);
        FUZZ_ASSERT(x->url_bad == y->url_bad && x->is_connect == y->is_connect);
        FUZZ_ASSERT(x->is_head == y->is_head && x->upgrade == y->upgrade);
        FUZZ_ASSERT(x->status == y->status && x->upgraded == y->upgraded);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct run whole, cut;
    struct fuzz_cuts c;
    for (int type = HTTP_REQUEST; type <= HTTP_RESPONSE; type++) {
        fuzz_cuts_init(&c, data, size);
        int head_next = type == HTTP_RESPONSE && (c.s & 2);
        run_flow(data, size, type, head_next, NULL, &whole, type == HTTP_REQUEST);
        run_flow(data, size, type, head_next, &c, &cut, 0);
        compare(&whole, &cut);
    }

    int h = hflow_looks_like_request((const char *)data, size);
    FUZZ_ASSERT(h >= -1 && h <= 1);

    /* SNI: as bytes arrive, then all of them */
    (void)sni_is_tls(data, size);
    char name[256];
    fuzz_cuts_init(&c, data, size);
    size_t avail = 0;
    for (int k = 0; k < 3 && avail < size; k++) {
        avail += fuzz_cuts_next(&c, size - avail);
        enum sni_status st = sni_extract(data, avail, name, sizeof(name));
        if (st == SNI_FOUND) FUZZ_ASSERT(strlen(name) < sizeof(name));
        (void)sni_status_str(st);
    }
    enum sni_status st = sni_extract(data, size, name, sizeof(name));
    if (st == SNI_FOUND) {
        FUZZ_ASSERT(name[0] && strlen(name) < sizeof(name));
        for (const char *p = name; *p; p++)
            FUZZ_ASSERT(*p > 0x20 && *p < 0x7f);
    }
    return 0;
}
