/* Unit tests: preview ingress logic (shim/preview.c): which preview a Host
 * names, the token in a query and in a cookie, and the head the app gets
 * (never the token). */
#include <stdlib.h>

#include "preview.h"
#include "unit.h"

static const char TOK[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void test_host_names_a_preview(void)
{
    uint16_t port = 0;
    char id[PREVIEW_ID_LEN + 1];
    CHECK(preview_parse_host("5173-3f2a9c0d1e7b.preview.localhost", "preview.localhost", &port,
                             id) == 0);
    CHECK(port == 5173);
    CHECK_STR(id, "3f2a9c0d1e7b");
    CHECK(preview_parse_host("80-3F2A9C0D1E7B.PREVIEW.Localhost", "preview.localhost", &port, id) ==
          0);
    CHECK(port == 80);
    CHECK_STR(id, "3f2a9c0d1e7b");
    CHECK(preview_parse_host("65535-3f2a9c0d1e7b.example.test", "example.test", &port, id) == 0);
    static const char *const bad[] = {
        "0-3f2a9c0d1e7b.preview.localhost",
        "05173-3f2a9c0d1e7b.preview.localhost",
        "65536-3f2a9c0d1e7b.preview.localhost",
        "999999-3f2a9c0d1e7b.preview.localhost",
        "5173-3f2a9c0d1e7.preview.localhost",
        "5173-3f2a9c0d1e7bb.preview.localhost",
        "5173-3f2a9c0d1e7g.preview.localhost",
        "5173-3f2a9c0d1e7b.preview.localhost.evil",
        "5173-3f2a9c0d1e7b.evil.preview.localhost",
        "5173-3f2a9c0d1e7b",
        "5173-3f2a9c0d1e7b.",
        "-3f2a9c0d1e7b.preview.localhost",
        "5173_3f2a9c0d1e7b.preview.localhost",
        "",
        "preview.localhost",
        "5173-3f2a9c0d1e7bpreview.localhost",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(preview_parse_host(bad[i], "preview.localhost", &port, id) < 0);
}

static void test_tokens_compare_whole(void)
{
    CHECK(preview_token_eq(TOK, strlen(TOK), TOK));
    CHECK(!preview_token_eq(TOK, strlen(TOK) - 1, TOK));
    CHECK(!preview_token_eq("", 0, TOK));
    char other[sizeof(TOK)];
    memcpy(other, TOK, sizeof(TOK));
    other[63] = '0';
    CHECK(!preview_token_eq(other, 64, TOK));
    other[63] = 'f';
    other[0] = '1';
    CHECK(!preview_token_eq(other, 64, TOK));
    CHECK(preview_token_valid(TOK));
    CHECK(!preview_token_valid("short"));
    CHECK(!preview_token_valid("0123456789abcdef0123456789abcdef;"));
}

static void query(const char *url, int want, const char *want_url, const char *want_tok)
{
    char out[256] = "untouched";
    const char *tok = NULL;
    size_t tl = 0;
    int r = preview_query_token(url, strlen(url), out, sizeof(out), &tok, &tl);
    CHECK(r == want);
    if (r != want) fprintf(stderr, "  for %s\n", url);
    if (!want) return;
    CHECK_STR(out, want_url);
    char t[128];
    snprintf(t, sizeof(t), "%.*s", (int)tl, tok);
    CHECK_STR(t, want_tok);
}

static void test_query_token_is_found_and_removed(void)
{
    query("/?sbx_token=abc", 1, "/", "abc");
    query("/app/x?a=1&sbx_token=abc&b=2", 1, "/app/x?a=1&b=2", "abc");
    query("/p?sbx_token=abc&b=2", 1, "/p?b=2", "abc");
    query("/p?a=1&sbx_token=abc", 1, "/p?a=1", "abc");
    query("/p?sbx_token=one&sbx_token=two", 1, "/p", "one");
    query("/p?sbx_token", 1, "/p", "");
    query("/p?sbx_tokenx=1&xsbx_token=2", 0, NULL, NULL);
    query("/p", 0, NULL, NULL);
    query("/p?", 0, NULL, NULL);
    query("/p?a=1", 0, NULL, NULL);
}

static char *rewrite(const char *head, uint16_t port, const char *token, struct preview_head *ph)
{
    size_t len = strlen(head);
    char *out = malloc(2 * len + PREVIEW_HEAD_EXTRA + 1);
    size_t n = preview_rewrite_head(head, len, port, token, out, ph);
    CHECK(n <= 2 * len + PREVIEW_HEAD_EXTRA);
    out[n] = '\0';
    return out;
}

static void test_head_loses_the_token_cookie_and_keeps_the_rest(void)
{
    struct preview_head ph;
    char head[1024];
    snprintf(head, sizeof(head),
             "GET /a?b=1 HTTP/1.1\r\nHost: 5173-3f2a9c0d1e7b.preview.localhost:8080\r\n"
             "Cookie: theme=dark; sbx_preview_5173=%s; sbx_preview_80=zzz;sid=42\r\n"
             "X-Forwarded-Host: evil\r\nAccept: */*\r\n\r\n",
             TOK);
    char *out = rewrite(head, 5173, TOK, &ph);
    CHECK(ph.cookie_ok);
    CHECK(!ph.folded);
    CHECK(ph.host_headers == 1);
    CHECK_STR(ph.host_raw, "5173-3f2a9c0d1e7b.preview.localhost:8080");
    CHECK_STR(out, "GET /a?b=1 HTTP/1.1\r\nHost: 5173-3f2a9c0d1e7b.preview.localhost:8080\r\n"
                   "Cookie: theme=dark; sid=42\r\nAccept: */*\r\n"
                   "X-Forwarded-Host: 5173-3f2a9c0d1e7b.preview.localhost:8080\r\n"
                   "X-Forwarded-Proto: http\r\n\r\n");
    CHECK(!strstr(out, TOK));
    free(out);

    /* only our cookie: the header goes; LF line ends, leading CRLF, "Cookie :" */
    snprintf(head, sizeof(head), "\r\nGET / HTTP/1.1\nhost: x\ncookie :  sbx_preview_5173=%s \n\n",
             TOK);
    out = rewrite(head, 5173, TOK, &ph);
    CHECK(ph.cookie_ok);
    CHECK_STR(out, "GET / HTTP/1.1\r\nhost: x\r\nX-Forwarded-Host: x\r\n"
                   "X-Forwarded-Proto: http\r\n\r\n");
    free(out);

    /* another port's cookie or a wrong token does not open this one (and is removed too) */
    snprintf(head, sizeof(head),
             "GET / HTTP/1.1\r\nHost: x\r\nCookie: sbx_preview_3000=%s\r\n"
             "Cookie: sbx_preview_5173=%.63s0\r\n\r\n",
             TOK, TOK);
    out = rewrite(head, 5173, TOK, &ph);
    CHECK(!ph.cookie_ok);
    CHECK(!strstr(out, "sbx_preview"));
    free(out);

    /* no token to check against: never ok */
    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: x\r\nCookie: sbx_preview_5173=%s\r\n\r\n",
             TOK);
    out = rewrite(head, 5173, NULL, &ph);
    CHECK(!ph.cookie_ok);
    free(out);

    /* folding is reported; two Host headers are counted */
    out = rewrite("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-A: 1\r\n  2\r\n\r\n", 5173, TOK, &ph);
    CHECK(ph.folded);
    CHECK(ph.host_headers == 2);
    free(out);
}

static void test_head_growth_stays_in_bounds(void)
{
    /* LF-only lines and ';'-packed cookies grow the most */
    static char head[8192];
    size_t o = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\nHost: x\n");
    while (o < 4000)
        o += (size_t)snprintf(head + o, sizeof(head) - o, "a:\n");
    o += (size_t)snprintf(head + o, sizeof(head) - o, "Cookie:");
    while (o < 8000)
        o += (size_t)snprintf(head + o, sizeof(head) - o, "a;");
    snprintf(head + o, sizeof(head) - o, "\n\n");
    struct preview_head ph;
    free(rewrite(head, 1, TOK, &ph));
}

int main(void)
{
    RUN(test_host_names_a_preview);
    RUN(test_tokens_compare_whole);
    RUN(test_query_token_is_found_and_removed);
    RUN(test_head_loses_the_token_cookie_and_keeps_the_rest);
    RUN(test_head_growth_stays_in_bounds);
    UNIT_MAIN_END();
}
