/* Unit tests: watching HTTP/1.x streams (shim/httpflow.c): exact message
 * boundaries (what the proxy forwards), Host / absolute-URI extraction,
 * pipelining, chunked bodies, HEAD and 1xx responses, upgrades, limits. */
#include <stdlib.h>

#include "httpflow.h"
#include "unit.h"

/* Feed all of s (in chunks of `step` bytes); record every event and the
 * offset where it happened. Returns the number of events. */
struct evrec {
    enum hflow_event ev;
    size_t off;
    struct hflow_info info;
};

static int run(struct hflow *h, const char *s, size_t step, struct evrec *out, int max)
{
    size_t len = strlen(s), off = 0, end = 0;
    int n = 0;
    while (off < len && n < max) {
        if (end < off + 1) end = off + step < len ? off + step : len;
        enum hflow_event ev;
        size_t k = hflow_feed(h, s + off, end - off, &ev);
        off += k;
        if (ev == HF_MORE) {
            end = off + step < len ? off + step : len;
            if (off >= len) break;
            continue;
        }
        out[n].ev = ev;
        out[n].off = off;
        out[n].info = h->info;
        n++;
        if (ev == HF_ERROR || (ev == HF_COMPLETE && h->upgraded)) break;
    }
    return n;
}

static struct evrec ev[64];

static void test_request_host_path_and_boundaries(void)
{
    const char *s = "GET /a/b?secret=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n"
                    "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
                    "GET http://other.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n";
    for (size_t step = 1; step <= strlen(s); step = step < 8 ? step + 1 : step * 3) {
        struct hflow *h = malloc(sizeof(*h));
        hflow_init(h, HTTP_REQUEST);
        int n = run(h, s, step, ev, 64);
        CHECK(n == 6);
        if (n != 6) {
            free(h);
            continue;
        }
        CHECK(ev[0].ev == HF_HEADERS);
        CHECK_STR(ev[0].info.method, "GET");
        CHECK_STR(ev[0].info.path, "/a/b"); /* no query string */
        CHECK_STR(ev[0].info.host, "Example.COM");
        CHECK(ev[0].info.host_count == 1);
        CHECK_STR(ev[0].info.uri_host, "");
        CHECK(ev[1].ev == HF_COMPLETE);
        size_t first =
            strlen("GET /a/b?secret=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n");
        CHECK(ev[1].off == first);
        CHECK(ev[2].ev == HF_HEADERS);
        CHECK_STR(ev[2].info.method, "POST");
        CHECK(ev[3].ev == HF_COMPLETE);
        CHECK(ev[3].off == first + strlen("POST /up HTTP/1.1\r\nHost: example.com\r\n"
                                          "Content-Length: 5\r\n\r\nhello"));
        CHECK(ev[4].ev == HF_HEADERS);
        CHECK_STR(ev[4].info.uri_host, "other.test");
        CHECK_STR(ev[4].info.path, "/x");
        CHECK(ev[5].ev == HF_COMPLETE);
        CHECK(ev[5].off == strlen(s));
        free(h);
    }
}

static void test_request_chunked_body_ends_exactly(void)
{
    const char *m1 = "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n0\r\n\r\n";
    char s[512];
    snprintf(s, sizeof(s), "%sGET / HTTP/1.1\r\nHost: b.test\r\n\r\n", m1);
    struct hflow *h = malloc(sizeof(*h));
    hflow_init(h, HTTP_REQUEST);
    int n = run(h, s, 3, ev, 64);
    CHECK(n == 4);
    CHECK(ev[1].ev == HF_COMPLETE && ev[1].off == strlen(m1));
    CHECK_STR(ev[2].info.host, "b.test");
    free(h);
}

static void test_request_oddities(void)
{
    struct hflow *h = malloc(sizeof(*h));
    /* two Host headers are counted */
    hflow_init(h, HTTP_REQUEST);
    int n = run(h, "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 100, ev, 64);
    CHECK(n >= 1 && ev[0].info.host_count == 2);
    /* no Host at all (HTTP/1.0) */
    hflow_init(h, HTTP_REQUEST);
    n = run(h, "GET / HTTP/1.0\r\n\r\n", 100, ev, 64);
    CHECK(n >= 1 && ev[0].info.host_count == 0 && ev[0].info.host[0] == '\0');
    /* "Host :" is a Host header too */
    hflow_init(h, HTTP_REQUEST);
    n = run(h, "GET / HTTP/1.1\r\nHost: a.test\r\nHost : b.test\r\n\r\n", 100, ev, 64);
    CHECK(n >= 1 && ev[0].info.host_count == 2);
    /* IPv6 literal Host keeps its brackets; port stripped */
    hflow_init(h, HTTP_REQUEST);
    n = run(h, "GET / HTTP/1.1\r\nHost:  [::1]:80 \r\n\r\n", 100, ev, 64);
    CHECK(n >= 1);
    CHECK_STR(ev[0].info.host, "[::1]");
    /* CONNECT is flagged (authority form) */
    hflow_init(h, HTTP_REQUEST);
    n = run(h, "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n", 100, ev, 64);
    CHECK(n >= 1 && ev[0].info.is_connect);
    CHECK_STR(ev[0].info.uri_host, "evil.test");
    /* garbage is an error */
    hflow_init(h, HTTP_REQUEST);
    n = run(h, "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", 100, ev, 64);
    CHECK(n == 1 && ev[0].ev == HF_ERROR);
    CHECK_CONTAINS(h->err, "malformed HTTP request");
    /* a head over 32 KiB is an error */
    hflow_init(h, HTTP_REQUEST);
    char *big = malloc(40000);
    strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
    memset(big + strlen(big), 'a', 35000);
    strcpy(big + strlen("GET / HTTP/1.1\r\nX-Big: ") + 35000, "\r\n\r\n");
    n = run(h, big, 4096, ev, 64);
    CHECK(n == 1 && ev[0].ev == HF_ERROR);
    CHECK_CONTAINS(h->err, "32 KiB");
    free(big);
    free(h);
}

static void test_upgrade_request_stops_at_head(void)
{
    const char *s = "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\n\r\n\x81\x05hello";
    struct hflow *h = malloc(sizeof(*h));
    hflow_init(h, HTTP_REQUEST);
    int n = run(h, s, 1000, ev, 64);
    CHECK(n == 2);
    CHECK(ev[0].ev == HF_HEADERS && ev[0].info.upgrade);
    CHECK(ev[1].ev == HF_COMPLETE && h->upgraded);
    CHECK(ev[1].off == strlen(s) - 7);
    free(h);
}

static void test_responses_head_1xx_and_101(void)
{
    struct hflow *h = malloc(sizeof(*h));
    hflow_init(h, HTTP_RESPONSE);
    /* 100 Continue, then a 200 with a body */
    const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    int n = run(h, s, 5, ev, 64);
    CHECK(n == 4);
    CHECK(ev[0].info.status == 100 && ev[2].info.status == 200);
    CHECK(ev[3].ev == HF_COMPLETE && ev[3].off == strlen(s));
    /* a response to HEAD has a Content-Length but no body */
    hflow_init(h, HTTP_RESPONSE);
    h->head_next = 1;
    const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    char two[256];
    snprintf(two, sizeof(two), "%sHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", r1);
    n = run(h, two, 7, ev, 64);
    CHECK(n == 4);
    CHECK(ev[1].ev == HF_COMPLETE && ev[1].off == strlen(r1));
    CHECK(ev[2].info.status == 404);
    /* 101 switches protocols */
    hflow_init(h, HTTP_RESPONSE);
    n = run(
        h,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nxx",
        100, ev, 64);
    CHECK(n == 2 && ev[0].info.status == 101 && ev[1].ev == HF_COMPLETE && h->upgraded);
    /* a body until EOF completes on EOF */
    hflow_init(h, HTTP_RESPONSE);
    n = run(h, "HTTP/1.0 200 OK\r\n\r\nsome body", 100, ev, 64);
    CHECK(n == 1);
    CHECK(hflow_eof(h) == HF_COMPLETE);
    free(h);
}

static void test_looks_like_request(void)
{
    CHECK(hflow_looks_like_request("GET / HTTP/1.1\r\n", 16) == 1);
    CHECK(hflow_looks_like_request("PROPFIND /", 10) == 1);
    CHECK(hflow_looks_like_request("GE", 2) == -1);
    CHECK(hflow_looks_like_request("", 0) == -1);
    CHECK(hflow_looks_like_request("SSH-2.0-OpenSSH\r\n", 17) == 0);
    CHECK(hflow_looks_like_request("EHLO x\r\n", 8) == 0);
    CHECK(hflow_looks_like_request("XYZ", 3) == 0);
    CHECK(hflow_looks_like_request("get / HTTP/1.1", 14) == 0);
    CHECK(hflow_looks_like_request("\x16\x03\x01", 3) == 0);
}

int main(void)
{
    RUN(test_request_host_path_and_boundaries);
    RUN(test_request_chunked_body_ends_exactly);
    RUN(test_request_oddities);
    RUN(test_upgrade_request_stops_at_head);
    RUN(test_responses_head_1xx_and_101);
    RUN(test_looks_like_request);
    UNIT_MAIN_END();
}
