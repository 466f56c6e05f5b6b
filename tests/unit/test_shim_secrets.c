/* Unit tests: secret placeholders (shim/secrets.c): parsing the control
 * message's secrets (strict, values wiped from the JSON), and rewriting
 * request heads: where a placeholder may be replaced, where it is refused. */
#include <stdlib.h>

#include "cleanup.h"
#include "json.h"
#include "secrets.h"
#include "unit.h"

#define PA "sbx_secret_0123456789abcdef0123456789abcdef01234567" /* GITHUB_TOKEN */
#define PB "sbx_secret_fedcba9876543210fedcba9876543210fedcba98" /* API_KEY */
#define PC "sbx_secret_1111111111111111111111111111111111111111" /* GONE */
#define PD "sbx_secret_3333333333333333333333333333333333333333" /* REQ */
#define PE "sbx_secret_4444444444444444444444444444444444444444" /* OTHER */
#define PU "sbx_secret_2222222222222222222222222222222222222222" /* in no set */

#define VA "ghp_secretvalue"
#define VB "k&y =/+\xc3\xbc"
#define VB_PCT "k%26y%20%3D%2F%2B%C3%BC"

static const char *const SECRETS =
    "{\"GITHUB_TOKEN\": {\"placeholder\": \"" PA "\", \"value\": \"" VA "\", "
    "\"hosts\": [\"api.github.com\", \"*.githubusercontent.com\"]},"
    " \"API_KEY\": {\"placeholder\": \"" PB "\", \"value\": \"k&y =/+\\u00fc\", "
    "\"hosts\": [\"API.Example.com.\"], \"query\": true},"
    " \"GONE\": {\"placeholder\": \"" PC "\", \"value\": null, \"hosts\": [\"gone.example.com\"]},"
    " \"REQ\": {\"placeholder\": \"" PD "\", \"value\": \"rv\", \"hosts\": [\"req.example.com\"], "
    "\"require\": true},"
    " \"OTHER\": {\"placeholder\": \"" PE "\", \"value\": \"ov\", \"hosts\": [\"api.github.com\"], "
    "\"query\": false, \"require\": false}}";

static struct json_object *parse_json(const char *text)
{
    struct json_object *o = NULL;
    sbx_err err;
    if (json_parse_object(text, strlen(text), &o, &err) < 0) {
        fprintf(stderr, "  test JSON does not parse: %s: %s\n", text, err.msg);
        abort();
    }
    return o;
}

static void load(const char *text, struct secret_set *set)
{
    struct json_object *o = parse_json(text);
    sbx_err err;
    if (secrets_from_json(o, set, &err) < 0) {
        fprintf(stderr, "  rejected: %s\n", err.msg);
        CHECK(0);
    }
    json_object_put(o);
}

static struct secret_set S;

static void setup(void)
{
    secrets_free(&S);
    load(SECRETS, &S);
}

/* Rewrite head for host; returns the new head (a static copy) or NULL when denied. */
static char got[2 * 1024 * 1024];
static struct secrets_result R;

static const char *rewrite(const char *host, const char *head)
{
    char *out = (char *)1;
    size_t outlen = 99;
    int rc = secrets_rewrite_head(&S, host, head, strlen(head), &out, &outlen, &R);
    CHECK(rc == 0);
    if (R.deny) {
        CHECK(out == NULL && outlen == 0);
        CHECK(R.ninjected == 0);
        CHECK(R.reason[0] != '\0');
        /* a reason never holds a value */
        CHECK(!strstr(R.reason, VA) && !strstr(R.reason, "rv"));
        return NULL;
    }
    CHECK(out != NULL && outlen == strlen(out) && outlen < sizeof(got));
    memcpy(got, out, outlen + 1);
    secrets_free_head(out, outlen);
    return got;
}

static void expect_deny(const char *host, const char *head, const char *reason)
{
    const char *o = rewrite(host, head);
    if (o) {
        fprintf(stderr, "  allowed: %s\n", head);
        CHECK(0);
        return;
    }
    if (!strstr(R.reason, reason)) {
        fprintf(stderr, "  %s\n    got:  %s\n    want: %s\n", head, R.reason, reason);
        CHECK(0);
    }
}

static int injected(const char *name)
{
    for (int i = 0; i < R.ninjected; i++)
        if (strcmp(R.injected[i], name) == 0) return 1;
    return 0;
}

static void test_placeholder_form(void)
{
    CHECK(secret_placeholder_valid(PA));
    CHECK(secret_placeholder_valid(PU));
    CHECK(strlen(PA) == SECRET_PLACEHOLDER_LEN);
    CHECK(!secret_placeholder_valid(NULL));
    CHECK(!secret_placeholder_valid(""));
    CHECK(!secret_placeholder_valid("sbx_secret_"));
    CHECK(!secret_placeholder_valid(PA "0"));
    CHECK(!secret_placeholder_valid("sbx_secret_0123456789abcdef0123456789abcdef0123456"));
    CHECK(!secret_placeholder_valid("sbx_secret_0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!secret_placeholder_valid("sbx_secret_0123456789abcdeg0123456789abcdef01234567"));
    CHECK(!secret_placeholder_valid("SBX_SECRET_0123456789abcdef0123456789abcdef01234567"));
    CHECK(!secret_placeholder_valid("xbx_secret_0123456789abcdef0123456789abcdef01234567"));
}

static void test_parse(void)
{
    setup();
    CHECK(S.n == 5);
    const struct secret *a = &S.v[0], *b = &S.v[1], *c = &S.v[2], *d = &S.v[3];
    CHECK_STR(a->name, "GITHUB_TOKEN");
    CHECK_STR(a->placeholder, PA);
    CHECK(a->value_len == strlen(VA) && memcmp(a->value, VA, a->value_len) == 0);
    CHECK(a->nhosts == 2 && !a->query && !a->require);
    CHECK_STR(a->hosts[0].name, "api.github.com");
    CHECK(a->hosts[0].wildcard == 0);
    CHECK_STR(a->hosts[1].name, "githubusercontent.com");
    CHECK(a->hosts[1].wildcard == 1);
    CHECK(b->query == 1 && b->value_len == strlen(VB) && memcmp(b->value, VB, b->value_len) == 0);
    CHECK_STR(b->hosts[0].name, "api.example.com");
    CHECK(c->value == NULL && c->value_len == 0);
    CHECK(d->require == 1);
    secrets_free(&S);
    CHECK(S.n == 0 && S.v == NULL);
    secrets_free(&S); /* twice is fine */

    /* NULL is an empty set; so is {} */
    sbx_err err;
    CHECK(secrets_from_json(NULL, &S, &err) == 0 && S.n == 0);
    struct json_object *o = parse_json("{}");
    CHECK(secrets_from_json(o, &S, &err) == 0 && S.n == 0);
    json_object_put(o);
    /* an absent value is not available; an empty one is a value */
    load("{\"A\": {\"placeholder\": \"" PA "\", \"hosts\": [\"a.example.com\"]}, "
         "\"B\": {\"placeholder\": \"" PB "\", \"value\": \"\", \"hosts\": [\"a.example.com\"]}}",
         &S);
    CHECK(S.n == 2 && S.v[0].value == NULL && S.v[1].value != NULL && S.v[1].value_len == 0);
    secrets_free(&S);
}

/* The value strings in the JSON are zeroed once parsed, ok or not. */
static void test_parse_wipes_the_json_values(void)
{
    struct json_object *o = parse_json(SECRETS);
    struct json_object *e = NULL, *v = NULL;
    CHECK(json_object_object_get_ex(o, "GITHUB_TOKEN", &e) &&
          json_object_object_get_ex(e, "value", &v));
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    CHECK(n == strlen(VA) && memcmp(s, VA, n) == 0);
    sbx_err err;
    CHECK(secrets_from_json(o, &S, &err) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(s[i] == '\0');
    /* what was parsed is intact */
    CHECK(S.v[0].value_len == n && memcmp(S.v[0].value, VA, n) == 0);
    json_object_put(o);
    secrets_free(&S);

    /* a long value (not stored inline by json-c) too, and on a failed parse */
    char big[20000];
    int k = snprintf(big, sizeof(big), "{\"A\": {\"placeholder\": \"" PA "\", \"value\": \"");
    memset(big + k, 'v', 5000);
    snprintf(big + k + 5000, sizeof(big) - (size_t)k - 5000,
             "\", \"hosts\": [\"a.example.com\"]}, \"B\": {\"placeholder\": \"bad\"}}");
    o = parse_json(big);
    CHECK(json_object_object_get_ex(o, "A", &e) && json_object_object_get_ex(e, "value", &v));
    s = json_object_get_string(v);
    CHECK(json_object_get_string_len(v) == 5000 && s[0] == 'v');
    CHECK(secrets_from_json(o, &S, &err) < 0);
    CHECK_CONTAINS(err.msg, "secrets[\"B\"].placeholder");
    CHECK(S.n == 0 && S.v == NULL);
    for (size_t i = 0; i < 5000; i++)
        CHECK(s[i] == '\0');
    json_object_put(o);
}

static void test_parse_errors_name_the_field(void)
{
#define ENTRY(name, body) "{\"" name "\": {" body "}}"
#define OK_PH "\"placeholder\": \"" PA "\""
#define OK_HOSTS "\"hosts\": [\"a.example.com\"]"
    static const struct {
        const char *json, *msg;
    } c[] = {
        {ENTRY("1X", OK_PH ", " OK_HOSTS),
         "secrets[\"1X\"]: not a valid environment variable name"},
        {ENTRY("A-B", OK_PH ", " OK_HOSTS), "secrets[\"A-B\"]: not a valid environment"},
        {ENTRY("", OK_PH ", " OK_HOSTS), "secrets[\"\"]: not a valid environment"},
        {ENTRY("A234567890123456789012345678901234567890123456789012345678901234",
               OK_PH ", " OK_HOSTS),
         "not a valid environment variable name"},
        {"{\"A\": 3}", "secrets[\"A\"]: must be an object"},
        {"{\"A\": null}", "secrets[\"A\"]: must be an object"},
        {ENTRY("A", OK_PH ", " OK_HOSTS ", \"hots\": []"), "unknown field \"secrets[\"A\"].hots\""},
        {ENTRY("A", OK_HOSTS), "missing required field \"secrets[\"A\"].placeholder\""},
        {ENTRY("A", "\"placeholder\": 5, " OK_HOSTS), "secrets[\"A\"].placeholder"},
        {ENTRY("A", "\"placeholder\": \"sbx_secret_x\", " OK_HOSTS),
         "secrets[\"A\"].placeholder: not a placeholder"},
        {"{\"A\": {" OK_PH ", " OK_HOSTS "}, \"B\": {" OK_PH ", " OK_HOSTS "}}",
         "secrets[\"B\"].placeholder: the same placeholder as secrets[\"A\"]"},
        {ENTRY("A", OK_PH ", \"value\": 5, " OK_HOSTS),
         "secrets[\"A\"].value: must be a string, or null"},
        {ENTRY("A", OK_PH ", \"value\": \"TOPSECRET\\n\", " OK_HOSTS),
         "secrets[\"A\"].value: must not contain CR, LF or NUL"},
        {ENTRY("A", OK_PH ", \"value\": \"TOPSECRET\\r\", " OK_HOSTS), "CR, LF or NUL"},
        {ENTRY("A", OK_PH ", \"value\": \"TOPSECRET\\u0000x\", " OK_HOSTS), "CR, LF or NUL"},
        {ENTRY("A", OK_PH), "missing required field \"secrets[\"A\"].hosts\""},
        {ENTRY("A", OK_PH ", \"hosts\": \"a.example.com\""), "secrets[\"A\"].hosts"},
        {ENTRY("A", OK_PH ", \"hosts\": []"), "secrets[\"A\"].hosts: list at least one host"},
        {ENTRY("A", OK_PH ", \"hosts\": [\"a.example.com:443\"]"),
         "secrets[\"A\"].hosts[0]: \"a.example.com:443\": no port here"},
        {ENTRY("A", OK_PH ", \"hosts\": [\"a.example.com\", \"*.com\"]"),
         "secrets[\"A\"].hosts[1]: \"*.com\" is too broad"},
        {ENTRY("A", OK_PH ", \"hosts\": [\"10.0.0.1\"]"), "is an IP address"},
        {ENTRY("A", OK_PH ", \"hosts\": [\"a_b c\"]"), "is not a valid host name"},
        {ENTRY("A", OK_PH ", \"hosts\": [7]"), "secrets[\"A\"].hosts[0]: must be a string"},
        {ENTRY("A", OK_PH ", \"hosts\": [\"A.example.com\", \"a.example.com.\"]"),
         "secrets[\"A\"].hosts[1]: \"a.example.com.\" is listed twice (also [0])"},
        {ENTRY("A", OK_PH ", " OK_HOSTS ", \"query\": \"yes\""), "secrets[\"A\"].query"},
        {ENTRY("A", OK_PH ", " OK_HOSTS ", \"require\": 1"), "secrets[\"A\"].require"},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        struct json_object *o = parse_json(c[i].json);
        sbx_err err;
        sbx_error_clear(&err);
        if (secrets_from_json(o, &S, &err) == 0) {
            fprintf(stderr, "  accepted: %s\n", c[i].json);
            CHECK(0);
        } else {
            if (!strstr(err.msg, c[i].msg)) {
                fprintf(stderr, "  %s\n    got:  %s\n    want: %s\n", c[i].json, err.msg, c[i].msg);
                CHECK(0);
            }
            CHECK_STR(err.code, "invalid_secret");
            CHECK(err.kind == SBX_E_INVALID);
            CHECK(!strstr(err.msg, "TOPSECRET"));
            CHECK(S.n == 0 && S.v == NULL);
        }
        json_object_put(o);
    }
    /* not an object at all */
    struct json_object *arr = json_object_new_array();
    sbx_err err;
    CHECK(secrets_from_json(arr, &S, &err) < 0);
    CHECK_CONTAINS(err.msg, "secrets: must be an object");
    json_object_put(arr);

    /* limits: 16 hosts, 64 secrets, 16 KiB values */
    _cleanup_free_ char *j = malloc(64 * 1024);
    size_t cap = 64 * 1024;
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{\"A\": {" OK_PH ", \"hosts\": [");
        for (int i = 0; i < SECRET_HOSTS_MAX + extra; i++)
            n += (size_t)snprintf(j + n, cap - n, "%s\"h%d.example.com\"", i ? "," : "", i);
        snprintf(j + n, cap - n, "]}}");
        struct json_object *o = parse_json(j);
        int rc = secrets_from_json(o, &S, &err);
        CHECK(extra ? rc < 0 : rc == 0 && S.v[0].nhosts == SECRET_HOSTS_MAX);
        if (extra) CHECK_CONTAINS(err.msg, "secrets[\"A\"].hosts: at most 16 hosts (got 17)");
        secrets_free(&S);
        json_object_put(o);
    }
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{");
        for (int i = 0; i < SECRETS_MAX + extra; i++)
            n += (size_t)snprintf(
                j + n, cap - n, "%s\"S%d\": {\"placeholder\": \"sbx_secret_%040x\", " OK_HOSTS "}",
                i ? "," : "", i, i);
        snprintf(j + n, cap - n, "}");
        struct json_object *o = parse_json(j);
        int rc = secrets_from_json(o, &S, &err);
        CHECK(extra ? rc < 0 : rc == 0 && S.n == SECRETS_MAX);
        if (extra) CHECK_CONTAINS(err.msg, "secrets: at most 64 secrets (got 65)");
        secrets_free(&S);
        json_object_put(o);
    }
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{\"A\": {" OK_PH ", " OK_HOSTS ", \"value\": \"");
        memset(j + n, 'x', SECRET_VALUE_MAX + (size_t)extra);
        n += SECRET_VALUE_MAX + (size_t)extra;
        snprintf(j + n, cap - n, "\"}}");
        struct json_object *o = parse_json(j);
        int rc = secrets_from_json(o, &S, &err);
        CHECK(extra ? rc < 0 : rc == 0 && S.v[0].value_len == SECRET_VALUE_MAX);
        if (extra) CHECK_CONTAINS(err.msg, "secrets[\"A\"].value: at most 16384 bytes (got 16385)");
        secrets_free(&S);
        json_object_put(o);
    }
#undef ENTRY
#undef OK_PH
#undef OK_HOSTS
}

static void test_host_match(void)
{
    setup();
    const struct secret *a = &S.v[0], *b = &S.v[1];
    CHECK(secret_host_match(a, "api.github.com"));
    CHECK(secret_host_match(a, "API.GitHub.com."));
    CHECK(secret_host_match(a, "raw.githubusercontent.com"));
    CHECK(secret_host_match(a, "a.b.githubusercontent.com"));
    CHECK(!secret_host_match(a, "githubusercontent.com"));
    CHECK(!secret_host_match(a, "github.com"));
    CHECK(!secret_host_match(a, "api.github.com.evil.org"));
    CHECK(!secret_host_match(a, "xapi.github.com"));
    CHECK(!secret_host_match(a, ""));
    CHECK(!secret_host_match(a, NULL));
    CHECK(!secret_host_match(NULL, "api.github.com"));
    CHECK(secret_host_match(b, "api.example.com"));
    CHECK(!secret_host_match(b, "a.api.example.com"));
}

static void test_replaces_in_header_values(void)
{
    setup();
    const char *o = rewrite("api.github.com", "GET /user HTTP/1.1\r\n"
                                              "Host: api.github.com\r\n"
                                              "Authorization: Bearer " PA "\r\n"
                                              "X-Token:" PA "\r\n"
                                              "cookie: a=" PA "; b=" PA "\r\n"
                                              "Accept: */*\r\n"
                                              "\r\n");
    CHECK_STR(o, "GET /user HTTP/1.1\r\n"
                 "Host: api.github.com\r\n"
                 "Authorization: Bearer " VA "\r\n"
                 "X-Token:" VA "\r\n"
                 "cookie: a=" VA "; b=" VA "\r\n"
                 "Accept: */*\r\n"
                 "\r\n");
    CHECK(R.ninjected == 1 && injected("GITHUB_TOKEN"));

    /* two secrets in one header value, back to back */
    o = rewrite("api.github.com", "POST /x HTTP/1.1\r\nX-Both: " PA PE " and " PE "\r\n\r\n");
    CHECK_STR(o, "POST /x HTTP/1.1\r\nX-Both: " VA "ov and ov\r\n\r\n");
    CHECK(R.ninjected == 2 && injected("GITHUB_TOKEN") && injected("OTHER"));

    /* bare LF line ends are kept as they are */
    o = rewrite("api.github.com", "GET / HTTP/1.1\nX-A: " PA "\n\n");
    CHECK_STR(o, "GET / HTTP/1.1\nX-A: " VA "\n\n");

    /* nothing to put in: a copy */
    o = rewrite("api.github.com", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(R.ninjected == 0);

    /* wildcard hosts */
    o = rewrite("raw.githubusercontent.com",
                "GET /f HTTP/1.1\r\nAuthorization: token " PA "\r\n\r\n");
    CHECK_STR(o, "GET /f HTTP/1.1\r\nAuthorization: token " VA "\r\n\r\n");
    expect_deny("githubusercontent.com", "GET /f HTTP/1.1\r\nAuthorization: token " PA "\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN sent to githubusercontent.com, which is not "
                "one of its hosts");
}

static void test_basic_credentials(void)
{
    setup();
    /* user:PLACEHOLDER */
    const char *o = rewrite(
        "api.github.com",
        "GET / HTTP/1.1\r\nAuthorization: Basic "
        "dXNlcjpzYnhfc2VjcmV0XzAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc=\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpnaHBfc2VjcmV0dmFsdWU=\r\n\r\n");
    CHECK(injected("GITHUB_TOKEN"));
    /* PLACEHOLDER:x, scheme and header name in another case, extra spaces, Proxy-Authorization */
    o = rewrite(
        "api.github.com",
        "GET / HTTP/1.1\r\nproxy-AUTHORIZATION:  basic   "
        "c2J4X3NlY3JldF8wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3Ong=  \r\n\r\n");
    CHECK_STR(o,
              "GET / HTTP/1.1\r\nproxy-AUTHORIZATION:  basic   Z2hwX3NlY3JldHZhbHVlOng=  \r\n\r\n");
    /* unpadded input is re-encoded padded */
    o = rewrite("api.github.com",
                "GET / HTTP/1.1\r\nAuthorization: Basic "
                "c2J4X3NlY3JldF8wMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3Ong\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nAuthorization: Basic Z2hwX3NlY3JldHZhbHVlOng=\r\n\r\n");
    /* Basic credentials without placeholders are left as sent */
    o = rewrite("api.github.com", "GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nAuthorization: Basic YTpi\r\n\r\n");
    CHECK(R.ninjected == 0);
    /* a placeholder in Basic credentials counts like any other: wrong host */
    expect_deny(
        "other.test",
        "GET / HTTP/1.1\r\nAuthorization: Basic "
        "dXNlcjpzYnhfc2VjcmV0XzAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc=\r\n\r\n",
        "placeholder of secret GITHUB_TOKEN sent to other.test, which is not one of its "
        "hosts");
    /* not base64 (a raw placeholder after "Basic"): an ordinary header value */
    o = rewrite("api.github.com", "GET / HTTP/1.1\r\nAuthorization: Basic " PA "\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nAuthorization: Basic " VA "\r\n\r\n");
    /* Basic in another header is not decoded */
    o = rewrite("api.github.com", "GET / HTTP/1.1\r\nX-Auth: Basic YTpi\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nX-Auth: Basic YTpi\r\n\r\n");
}

static void test_wrong_host_is_denied_and_never_sees_the_value(void)
{
    setup();
    expect_deny("other.test", "GET / HTTP/1.1\r\nAuthorization: Bearer " PA "\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN sent to other.test, which is not one of its "
                "hosts");
    CHECK_STR(R.reason, "placeholder of secret GITHUB_TOKEN sent to other.test, which is not one "
                        "of its hosts");
    expect_deny("api.github.com.evil.org", "GET / HTTP/1.1\r\nX: " PA "\r\n\r\n",
                "not one of its hosts");
    expect_deny("api.example.com", "GET / HTTP/1.1\r\nX: " PB "\r\nY: " PA "\r\n\r\n",
                "secret GITHUB_TOKEN sent to api.example.com");
    expect_deny("not a host", "GET / HTTP/1.1\r\nX: " PA "\r\n\r\n", "not one of its hosts");
    char *out = (char *)1;
    size_t outlen = 1;
    const char *h = "GET / HTTP/1.1\r\nX: " PA "\r\n\r\n";
    CHECK(secrets_rewrite_head(&S, NULL, h, strlen(h), &out, &outlen, &R) == 0);
    CHECK(R.deny && out == NULL);
    CHECK_CONTAINS(R.reason, "sent to (no host)");
}

static void test_query_string(void)
{
    setup();
    const char *o = rewrite("api.example.com",
                            "GET /v1/x?key=" PB "&a=" PB " HTTP/1.1\r\nX-Key: " PB "\r\n\r\n");
    CHECK_STR(o, "GET /v1/x?key=" VB_PCT "&a=" VB_PCT " HTTP/1.1\r\nX-Key: " VB "\r\n\r\n");
    CHECK(R.ninjected == 1 && injected("API_KEY"));
    /* absolute-form */
    o = rewrite("api.example.com", "GET http://api.example.com/v1?k=" PB " HTTP/1.1\r\n\r\n");
    CHECK_STR(o, "GET http://api.example.com/v1?k=" VB_PCT " HTTP/1.1\r\n\r\n");
    /* a secret without "query": true */
    expect_deny("api.github.com", "GET /x?token=" PA " HTTP/1.1\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN in the query string; the secret does not allow "
                "that (\"query\": true)");
    /* with it, but to another host */
    expect_deny("api.github.com", "GET /x?k=" PB " HTTP/1.1\r\n\r\n",
                "placeholder of secret API_KEY sent to api.github.com, which is not one of its "
                "hosts");
    /* after '#': not the query string */
    expect_deny("api.example.com", "GET /x?a=1#" PB " HTTP/1.1\r\n\r\n",
                "placeholder of secret API_KEY in the request path");
}

static void test_placements_that_are_refused(void)
{
    setup();
    expect_deny("api.github.com", "GET /repos/" PA "/x HTTP/1.1\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN in the request path");
    expect_deny("api.example.com", "GET /" PB "?q=1 HTTP/1.1\r\n\r\n",
                "placeholder of secret API_KEY in the request path");
    expect_deny("api.github.com", "GET http://" PA "@api.github.com/ HTTP/1.1\r\n\r\n",
                "in the request path");
    expect_deny("api.github.com", "GET " PA " HTTP/1.1\r\n\r\n", "in the request path");
    expect_deny("api.github.com", PA " / HTTP/1.1\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN in the request line (method or version)");
    expect_deny("api.github.com", "GET / HTTP/1.1" PA "\r\n\r\n", "in the request line");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX-" PA ": 1\r\n\r\n",
                "placeholder of secret GITHUB_TOKEN in a header name");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\n" PA ": 1\r\n\r\n", "in a header name");
    /* a misplaced placeholder for a foreign host: the host is what is said */
    expect_deny("other.test", "GET /" PA " HTTP/1.1\r\n\r\n", "sent to other.test");
}

static void test_value_not_available(void)
{
    setup();
    expect_deny("gone.example.com", "GET / HTTP/1.1\r\nAuthorization: Bearer " PC "\r\n\r\n",
                "secret GONE is not held by the shim any more (it restarted); create a new "
                "session");
    expect_deny("other.test", "GET / HTTP/1.1\r\nX: " PC "\r\n\r\n",
                "placeholder of secret GONE sent to other.test");
    /* without the placeholder, requests to its host pass */
    CHECK(rewrite("gone.example.com", "GET / HTTP/1.1\r\n\r\n") != NULL);
}

static void test_require(void)
{
    setup();
    expect_deny("req.example.com", "GET / HTTP/1.1\r\nHost: req.example.com\r\n\r\n",
                "secret REQ is required for host req.example.com but the request carries no "
                "placeholder for it");
    const char *o = rewrite("req.example.com", "GET / HTTP/1.1\r\nX-Api-Key: " PD "\r\n\r\n");
    CHECK_STR(o, "GET / HTTP/1.1\r\nX-Api-Key: rv\r\n\r\n");
    CHECK(injected("REQ"));
    /* other hosts do not need it */
    CHECK(rewrite("api.github.com", "GET / HTTP/1.1\r\n\r\n") != NULL);
    /* a placeholder in the wrong place does not satisfy it */
    expect_deny("req.example.com", "GET /" PD " HTTP/1.1\r\n\r\n", "in the request path");
}

static void test_unknown_placeholders_are_left_alone(void)
{
    setup();
    const char *head = "GET /" PU "?q=" PU " HTTP/1.1\r\nX-" PU ": " PU "\r\n"
                       "X-Short: sbx_secret_0123\r\nX-Upper: SBX_SECRET_0123456789ABCDEF0123456789"
                       "ABCDEF01234567\r\n\r\n";
    CHECK_STR(rewrite("other.test", head), head);
    CHECK(R.ninjected == 0);
    /* a known placeholder with more hex after it is still that placeholder */
    CHECK_STR(rewrite("api.github.com", "GET / HTTP/1.1\r\nX: " PA "abc\r\n\r\n"),
              "GET / HTTP/1.1\r\nX: " VA "abc\r\n\r\n");
    /* an empty set changes nothing */
    struct secret_set none = {0, NULL};
    char *out = NULL;
    size_t outlen = 0;
    const char *h2 = "GET /" PA " HTTP/1.1\r\n\r\n";
    CHECK(secrets_rewrite_head(&none, "x.test", h2, strlen(h2), &out, &outlen, &R) == 0);
    CHECK(!R.deny && out && outlen == strlen(h2) && memcmp(out, h2, outlen) == 0);
    secrets_free_head(out, outlen);
    CHECK(secrets_rewrite_head(NULL, "x.test", h2, strlen(h2), &out, &outlen, &R) == 0);
    CHECK(!R.deny && out != NULL);
    secrets_free_head(out, outlen);
    secrets_free_head(NULL, 0);
}

static void test_malformed_heads(void)
{
    setup();
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX-A: 1\r\n folded " PA "\r\n\r\n",
                "obsolete line folding");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\n\tX: 1\r\n\r\n", "obsolete line folding");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                "a header line without ':'");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\n: v\r\n\r\n", "empty name");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX A: v\r\n\r\n", "header name");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "a bare CR");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX: a\r", "a bare CR");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\nX: 1\r\n", "no empty line");
    expect_deny("api.github.com", "GET / HTTP/1.1", "no request line");
    expect_deny("api.github.com", "\r\nGET / HTTP/1.1\r\n\r\n", "no request line");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\n\r\nbody", "bytes after the empty line");
    expect_deny("api.github.com", "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                "bytes after the empty line");
    expect_deny("api.github.com", "GET /\r\n\r\n", "a malformed request line");
    expect_deny("api.github.com", "GET  / HTTP/1.1\r\n\r\n", "a malformed request line");
    expect_deny("api.github.com", "GET / HTTP/1.1 x\r\n\r\n", "a malformed request line");
    expect_deny("api.github.com", "GET / \r\n\r\n", "a malformed request line");
    expect_deny("api.github.com", " / HTTP/1.1\r\n\r\n", "a malformed request line");
    char *out = (char *)1;
    size_t outlen = 1;
    static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    CHECK(secrets_rewrite_head(&S, "api.github.com", nul, sizeof(nul) - 1, &out, &outlen, &R) == 0);
    CHECK(R.deny && out == NULL);
    CHECK_CONTAINS(R.reason, "a NUL byte");
    CHECK(secrets_rewrite_head(&S, "api.github.com", "", 0, &out, &outlen, &R) == 0);
    CHECK(R.deny && out == NULL);
    CHECK(secrets_rewrite_head(&S, "api.github.com", NULL, 10, &out, &outlen, &R) == 0);
    CHECK(R.deny && out == NULL);
}

static void test_big_heads(void)
{
    setup();
    /* 32 KiB of headers, placeholders at both ends */
    size_t cap = 40 * 1024;
    _cleanup_free_ char *head = malloc(cap), *want = malloc(cap);
    size_t n = (size_t)snprintf(head, cap, "GET / HTTP/1.1\r\nAuthorization: Bearer " PA "\r\n");
    size_t m = (size_t)snprintf(want, cap, "GET / HTTP/1.1\r\nAuthorization: Bearer " VA "\r\n");
    for (int i = 0; n < 32 * 1024 - 200; i++) {
        n += (size_t)snprintf(head + n, cap - n, "X-Pad-%d: %0100d\r\n", i, i);
        m += (size_t)snprintf(want + m, cap - m, "X-Pad-%d: %0100d\r\n", i, i);
    }
    n += (size_t)snprintf(head + n, cap - n, "X-Last: " PE "\r\n\r\n");
    m += (size_t)snprintf(want + m, cap - m, "X-Last: ov\r\n\r\n");
    CHECK(n > 32 * 1024 - 200 && n <= 32 * 1024);
    CHECK_STR(rewrite("api.github.com", head), want);
    CHECK(R.ninjected == 2);

    /* a value put in so many times that the head would pass 1 MiB */
    secrets_free(&S);
    size_t jcap = 20 * 1024;
    _cleanup_free_ char *j = malloc(jcap);
    int k = snprintf(j, jcap,
                     "{\"BIG\": {\"placeholder\": \"" PA "\", \"hosts\": [\"a.test\"], "
                     "\"query\": true, \"value\": \"");
    memset(j + k, 'v', SECRET_VALUE_MAX);
    snprintf(j + k + SECRET_VALUE_MAX, jcap - (size_t)k - SECRET_VALUE_MAX, "\"}}");
    load(j, &S);
    n = (size_t)snprintf(head, cap, "GET / HTTP/1.1\r\nX: ");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(head + n, cap - n, "%s", PA);
    snprintf(head + n, cap - n, "\r\n\r\n");
    expect_deny("a.test", head, "would be longer than 1048576 bytes");
    /* 60 of them fit: 960 KiB */
    n = (size_t)snprintf(head, cap, "GET / HTTP/1.1\r\nX: ");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(head + n, cap - n, "%s", PA);
    snprintf(head + n, cap - n, "\r\n\r\n");
    const char *o = rewrite("a.test", head);
    CHECK(o && strlen(o) == 16 + 3 + 60 * SECRET_VALUE_MAX + 4);
    secrets_free(&S);
}

static void test_find_placeholder(void)
{
    setup();
    const char *b = "xx " PU " sbx_secret_ " PB " " PA;
    const struct secret *s = secrets_find_placeholder(&S, b, strlen(b));
    CHECK(s && strcmp(s->name, "API_KEY") == 0);
    CHECK(secrets_find_placeholder(&S, b, strlen(b) - 1)->name == s->name);
    /* cut short: not a placeholder */
    const char *c = "abc " PA;
    CHECK(secrets_find_placeholder(&S, c, strlen(c) - 1) == NULL);
    CHECK(secrets_find_placeholder(&S, c, strlen(c)) == &S.v[0]);
    CHECK(secrets_find_placeholder(&S, "nothing", 7) == NULL);
    CHECK(secrets_find_placeholder(&S, NULL, 0) == NULL);
    CHECK(secrets_find_placeholder(NULL, c, strlen(c)) == NULL);
    /* binary data with NULs before it */
    char bin[200];
    memset(bin, 0, sizeof(bin));
    memcpy(bin + 100, PE, SECRET_PLACEHOLDER_LEN);
    s = secrets_find_placeholder(&S, bin, sizeof(bin));
    CHECK(s && strcmp(s->name, "OTHER") == 0);
}

int main(void)
{
    RUN(test_placeholder_form);
    RUN(test_parse);
    RUN(test_parse_wipes_the_json_values);
    RUN(test_parse_errors_name_the_field);
    RUN(test_host_match);
    RUN(test_replaces_in_header_values);
    RUN(test_basic_credentials);
    RUN(test_wrong_host_is_denied_and_never_sees_the_value);
    RUN(test_query_string);
    RUN(test_placements_that_are_refused);
    RUN(test_value_not_available);
    RUN(test_require);
    RUN(test_unknown_placeholders_are_left_alone);
    RUN(test_malformed_heads);
    RUN(test_big_heads);
    RUN(test_find_placeholder);
    secrets_free(&S);
    UNIT_MAIN_END();
}
