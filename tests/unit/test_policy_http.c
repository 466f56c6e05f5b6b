/* Unit tests: the policy's "http" method/path rules (policy/policy.c,
 * policy/httprules.c): parsing, canonical form, request decisions. */
#include <stdlib.h>
#include <time.h>

#include "cleanup.h"
#include "httprules.h"
#include "json.h"
#include "policy.h"
#include "unit.h"

/* struct policy is large: keep it off the stack. */
static struct policy P, Q;

/* P and Q are reused: free what the last parse left before parsing again
 * (policy_from_json overwrites; the leak checker of make SAN=1 unit would see
 * the rules it dropped). */
static int parse_into(struct json_object *o, const char *where, struct policy *p, sbx_err *err)
{
    policy_free(p);
    return policy_from_json(o, where, p, err);
}

static int load(const char *json, struct policy *p, sbx_err *err)
{
    struct json_object *o = NULL;
    if (json_parse_object(json, strlen(json), &o, err) < 0) {
        fprintf(stderr, "  test JSON does not parse: %s: %s\n", json, err->msg);
        abort();
    }
    int rc = parse_into(o, "network", p, err);
    json_object_put(o);
    return rc;
}

static void must_load(const char *json, struct policy *p)
{
    sbx_err err;
    if (load(json, p, &err) < 0) {
        fprintf(stderr, "  rejected %s: %s\n", json, err.msg);
        CHECK(0);
    }
}

static const char *const GITHUB =
    "{\"allow\": [\"api.github.com\", \"*.example.com\"], \"http\": {"
    "\"API.GitHub.com.\": [\"GET /repos/**\", \"POST /repos/*/issues\", \"GET /v1/*.json\", "
    "\"* /any/**\", \"HEAD /\"], "
    "\"*.Example.com\": [\"* /v1/**\"]}}";

static void test_parses_rules_flat_in_order(void)
{
    must_load(GITHUB, &P);
    CHECK(P.nhttp == 6);
    CHECK_STR(P.http[0].host, "api.github.com");
    CHECK(P.http[0].wildcard == 0);
    CHECK_STR(P.http[0].method, "GET");
    CHECK_STR(P.http[0].path, "/repos/**");
    CHECK_STR(P.http[0].text, "API.GitHub.com. GET /repos/**");
    CHECK_STR(P.http[1].method, "POST");
    CHECK_STR(P.http[1].path, "/repos/*/issues");
    CHECK_STR(P.http[3].method, "*");
    CHECK_STR(P.http[4].path, "/");
    CHECK_STR(P.http[5].host, "example.com");
    CHECK(P.http[5].wildcard == 1);
    CHECK_STR(P.http[5].text, "*.Example.com * /v1/**");
    /* an empty object is no rules; null is absent */
    must_load("{\"http\": {}}", &P);
    CHECK(P.nhttp == 0);
    must_load("{\"http\": null}", &P);
    CHECK(P.nhttp == 0);
}

static void test_canonical_form_round_trips(void)
{
    must_load(GITHUB, &P);
    struct json_object *o = policy_to_json(&P);
    CHECK(o != NULL);
    struct json_object *h = NULL;
    CHECK(json_object_object_get_ex(o, "http", &h));
    CHECK_STR(
        json_object_to_json_string_ext(h, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"api.github.com\":[\"GET /repos/**\",\"POST /repos/*/issues\",\"GET /v1/*.json\","
        "\"* /any/**\",\"HEAD /\"],\"*.example.com\":[\"* /v1/**\"]}");
    sbx_err err;
    CHECK(parse_into(o, "network", &Q, &err) == 0);
    CHECK(Q.nhttp == P.nhttp);
    for (int i = 0; i < P.nhttp && i < Q.nhttp; i++) {
        CHECK_STR(Q.http[i].host, P.http[i].host);
        CHECK(Q.http[i].wildcard == P.http[i].wildcard);
        CHECK_STR(Q.http[i].method, P.http[i].method);
        CHECK_STR(Q.http[i].path, P.http[i].path);
    }
    CHECK_STR(Q.http[0].text, "api.github.com GET /repos/**");
    /* and the canonical form of that is the same text */
    struct json_object *o2 = policy_to_json(&Q);
    CHECK_STR(json_object_to_json_string(o2), json_object_to_json_string(o));
    json_object_put(o2);
    json_object_put(o);

    /* no http rules: no "http" key (the canonical form of older policies is unchanged) */
    must_load("{\"allow\": [\"example.com\"]}", &P);
    o = policy_to_json(&P);
    CHECK(!json_object_object_get_ex(o, "http", NULL));
    json_object_put(o);
}

static void test_errors_name_the_field(void)
{
    static const struct {
        const char *json, *msg;
    } c[] = {
        {"{\"http\": {\"api.github.com\": [\"GET /x\", \"GET repos\"]}}",
         "network.http[\"api.github.com\"][1]: rule \"GET repos\" must be METHOD /PATH, e.g. "
         "\"GET /repos/**\""},
        {"{\"http\": {\"a.example.com\": [\"GET\"]}}", "rule \"GET\" must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"/x\"]}}", "rule \"/x\" must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\" /x\"]}}", "must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"GET \"]}}", "must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"\"]}}", "must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"get /x\"]}}",
         "network.http[\"a.example.com\"][0]: rule \"get /x\": the method \"get\" must be \"*\" "
         "(any method) or upper-case letters"},
        {"{\"http\": {\"a.example.com\": [\"G3T /x\"]}}", "the method \"G3T\" must be"},
        {"{\"http\": {\"a.example.com\": [\"** /x\"]}}", "the method \"**\" must be"},
        {"{\"http\": {\"a.example.com\": [\"ABCDEFGHIJKLMNOP /x\"]}}",
         "is longer than 15 characters"},
        {"{\"http\": {\"a.example.com\": [\"GET  /x\"]}}", "write exactly one space"},
        {"{\"http\": {\"a.example.com\": [\"GET /a b\"]}}", "write exactly one space"},
        {"{\"http\": {\"a.example.com\": [\"GET\\t/x\"]}}", "must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"GET x/y\"]}}", "must be METHOD /PATH"},
        {"{\"http\": {\"a.example.com\": [\"GET /a/../b\"]}}", "\"..\" segments are not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /a/.\"]}}", "\"..\" segments are not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /..\"]}}", "\"..\" segments are not allowed"},
        /* found by fuzz_policy: accepted, yet every request path it could match is refused */
        {"{\"http\": {\"a.example.com\": [\"GET /..;repo/\"]}}", "also before a ';' parameter"},
        {"{\"http\": {\"a.example.com\": [\"GET /a/.;x\"]}}", "also before a ';' parameter"},
        {"{\"http\": {\"a.example.com\": [\"GET /a%2Fb\"]}}", "'%' is not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /a\\\\b\"]}}", "'\\' is not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /a?x=1\"]}}", "'?' is not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /a#x\"]}}", "'#' is not allowed"},
        {"{\"http\": {\"a.example.com\": [\"GET /a//b\"]}}", "empty segment"},
        {"{\"http\": {\"a.example.com\": [\"GET //\"]}}", "empty segment"},
        {"{\"http\": {\"a.example.com\": [\"GET /v1**\"]}}", "\"**\" must be a whole segment"},
        {"{\"http\": {\"a.example.com\": [\"GET /***\"]}}", "\"**\" must be a whole segment"},
        {"{\"http\": {\"a.example.com\": [\"GET /\\u00e9\"]}}", "printable ASCII"},
        {"{\"http\": {\"a.example.com\": [\"GET /x\\u0000y\"]}}", "must not contain NUL bytes"},
        {"{\"http\": {\"a.example.com\": [\"GET /x\", \"GET /x\"]}}",
         "network.http[\"a.example.com\"][1]: rule \"GET /x\" is there twice (also [0])"},
        {"{\"http\": {\"api.github.com:443\": [\"GET /x\"]}}",
         "network.http[\"api.github.com:443\"]: \"api.github.com:443\": no port here"},
        {"{\"http\": {\"*.com\": [\"GET /x\"]}}",
         "network.http[\"*.com\"]: \"*.com\" is too broad"},
        {"{\"http\": {\"*\": [\"GET /x\"]}}", "would match every host"},
        {"{\"http\": {\"1.2.3.4\": [\"GET /x\"]}}", "\"1.2.3.4\" is an IP address"},
        {"{\"http\": {\"[::1]\": [\"GET /x\"]}}", "is an IP address"},
        {"{\"http\": {\"https://a.example.com\": [\"GET /x\"]}}", "is a URL"},
        {"{\"http\": {\"a b.example.com\": [\"GET /x\"]}}", "invalid character ' '"},
        {"{\"http\": {\"\": [\"GET /x\"]}}", "network.http[\"\"]: empty entry"},
        {"{\"http\": {\"a.example.com\": \"GET /x\"}}",
         "network.http[\"a.example.com\"]: must be a list of rules (got string)"},
        {"{\"http\": {\"a.example.com\": null}}", "must be a list of rules (got null)"},
        {"{\"http\": {\"a.example.com\": []}}", "network.http[\"a.example.com\"]: empty list"},
        {"{\"http\": {\"a.example.com\": [3]}}",
         "network.http[\"a.example.com\"][0]: must be a string"},
        {"{\"http\": {\"a.example.com\": [\"GET /x\"], \"A.Example.COM.\": [\"GET /y\"]}}",
         "network.http[\"A.Example.COM.\"]: the same host pattern as "
         "network.http[\"a.example.com\"]: put all its rules in one list"},
        {"{\"http\": [\"GET /x\"]}", "network.http"},
        {"{\"htttp\": {}}", "unknown field \"network.htttp\""},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        sbx_err err;
        sbx_error_clear(&err);
        if (load(c[i].json, &P, &err) == 0) {
            fprintf(stderr, "  accepted: %s\n", c[i].json);
            CHECK(0);
            continue;
        }
        if (!strstr(err.msg, c[i].msg)) {
            fprintf(stderr, "  %s\n    got:  %s\n    want: %s\n", c[i].json, err.msg, c[i].msg);
            CHECK(0);
        }
        CHECK_STR(err.code, "invalid_policy");
        CHECK(err.kind == SBX_E_INVALID);
        CHECK(P.nhttp == 0); /* never half a policy */
    }
}

static void test_limits(void)
{
    sbx_err err;
    size_t cap = 64 * 1024;
    _cleanup_free_ char *j = malloc(cap);
    /* 64 host patterns, then 65 */
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{\"http\": {");
        for (int i = 0; i < POLICY_MAX_HTTP_HOSTS + extra; i++)
            n += (size_t)snprintf(j + n, cap - n, "%s\"h%d.example.com\": [\"GET /\"]",
                                  i ? "," : "", i);
        snprintf(j + n, cap - n, "}}");
        int rc = load(j, &P, &err);
        if (extra) {
            CHECK(rc < 0);
            CHECK_CONTAINS(err.msg, "network.http: at most 64 host patterns (got 65)");
        } else {
            CHECK(rc == 0 && P.nhttp == POLICY_MAX_HTTP_HOSTS);
        }
    }
    /* 256 rules over two hosts, then 257 */
    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(j, cap, "{\"http\": {\"a.example.com\": [");
        for (int i = 0; i < 128; i++)
            n += (size_t)snprintf(j + n, cap - n, "%s\"GET /a/%d\"", i ? "," : "", i);
        n += (size_t)snprintf(j + n, cap - n, "], \"b.example.com\": [");
        for (int i = 0; i < 128 + extra; i++)
            n += (size_t)snprintf(j + n, cap - n, "%s\"GET /b/%d\"", i ? "," : "", i);
        snprintf(j + n, cap - n, "]}}");
        int rc = load(j, &P, &err);
        if (extra) {
            CHECK(rc < 0);
            CHECK_CONTAINS(err.msg, "network.http[\"b.example.com\"][128]: at most 256 http rules");
        } else {
            CHECK(rc == 0 && P.nhttp == POLICY_MAX_HTTP_RULES);
            struct policy_decision d;
            policy_decide_request(&P, "b.example.com", "GET", "/b/127", &d);
            CHECK(d.verdict == POLICY_ALLOW);
            CHECK_STR(d.rule, "b.example.com GET /b/127");
        }
    }
    /* the longest method, path and pattern fit, text included */
    char name[300], path[300];
    for (int i = 0; i < 4; i++) {
        memset(name + i * 64, 'a', 63);
        name[i * 64 + 63] = '.';
    }
    name[251] = '\0'; /* "*." + 251 = 253 */
    path[0] = '/';
    memset(path + 1, 'p', 254);
    path[255] = '\0';
    snprintf(j, cap, "{\"http\": {\"*.%s.\": [\"ABCDEFGHIJKLMNO %s\"]}}", name, path);
    must_load(j, &P);
    CHECK(P.nhttp == 1 && strlen(P.http[0].path) == 255 && strlen(P.http[0].method) == 15);
    CHECK(strlen(P.http[0].text) == 2 + 251 + 1 + 1 + 15 + 1 + 255);
    snprintf(j, cap, "{\"http\": {\"a.example.com\": [\"GET %sp\"]}}", path);
    CHECK(load(j, &P, &err) < 0);
    CHECK_CONTAINS(err.msg, "the path is longer than 255 bytes");
}

struct req_case {
    const char *host, *method, *target;
    int allowed;
};

static void check_requests(const struct policy *p, const struct req_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct policy_decision d;
        policy_decide_request(p, c[i].host, c[i].method, c[i].target, &d);
        if ((d.verdict == POLICY_ALLOW) != c[i].allowed ||
            d.enforced_allow != (d.verdict == POLICY_ALLOW)) {
            fprintf(stderr, "  %s %s %s: expected %s, got %s (%s)\n", c[i].host, c[i].method,
                    c[i].target, c[i].allowed ? "allow" : "deny",
                    d.verdict == POLICY_ALLOW ? "allow" : "deny", d.reason);
            CHECK(0);
        }
    }
}

static void test_matching_table(void)
{
    must_load(GITHUB, &P);
    static const struct req_case c[] = {
        {"api.github.com", "GET", "/repos", 1},
        {"api.github.com", "GET", "/repos/", 1},
        {"api.github.com", "GET", "/repos/a", 1},
        {"api.github.com", "GET", "/repos/a/b/c?x=1", 1},
        {"api.github.com", "GET", "/repos/x?y=../../", 1},
        {"api.github.com", "GET", "/repos/x?y=%2F%00\\", 1}, /* the query is not looked at */
        {"api.github.com", "GET", "/reposx", 0},
        {"api.github.com", "GET", "/Repos/a", 0},
        {"api.github.com", "GET", "/", 0},
        {"api.github.com", "HEAD", "/", 1},
        {"api.github.com", "HEAD", "/?a", 1},
        {"api.github.com", "GET", "/admin", 0},
        {"api.github.com", "get", "/repos/a", 0}, /* methods are case-sensitive */
        {"api.github.com", "POST", "/repos/a", 0},
        {"api.github.com", "POST", "/repos/a/issues", 1},
        {"api.github.com", "POST", "/repos/a/issues?x", 1},
        {"api.github.com", "POST", "/repos//issues", 0}, /* "*" is one non-empty segment */
        {"api.github.com", "POST", "/repos/a/b/issues", 0},
        {"api.github.com", "POST", "/repos/a/issues/", 0},
        {"api.github.com", "POST", "/repos/a/issues/1", 0},
        {"api.github.com", "GET", "/v1/a.json", 1},
        {"api.github.com", "GET", "/v1/.json", 1},
        {"api.github.com", "GET", "/v1/a%2Ejson", 1}, /* '.' is unreserved: decoded */
        {"api.github.com", "GET", "/v1/a%2ejson", 1},
        {"api.github.com", "GET", "/v1/a/b.json", 0},
        {"api.github.com", "GET", "/v1/a.jsonx", 0},
        {"api.github.com", "GET", "/v1/a.JSON", 0},
        {"api.github.com", "DELETE", "/any/thing", 1}, /* method "*" */
        {"api.github.com", "BREW", "/any", 1},
        {"api.github.com", "DELETE", "/anything", 0},
        /* percent-decoding of unreserved characters, hex in either case */
        {"api.github.com", "GET", "/%72epos/a", 1},
        {"api.github.com", "GET", "/%72%65%70%6F%73/a", 1},
        {"api.github.com", "GET", "/%72%65%70%6f%73/a", 1},
        {"api.github.com", "GET", "/repos/%7euser", 1},
        {"api.github.com", "GET", "/repos/a%20b", 1}, /* '*' and '**' match escapes as sent */
        /* traversal and its disguises */
        {"api.github.com", "GET", "/repos/../admin", 0},
        {"api.github.com", "GET", "/repos/./a", 0},
        {"api.github.com", "GET", "/repos/a/..", 0},
        {"api.github.com", "GET", "/repos/.", 0},
        {"api.github.com", "GET", "/repos/%2e%2e/admin", 0},
        {"api.github.com", "GET", "/repos/%2E%2E/admin", 0},
        {"api.github.com", "GET", "/repos/.%2E/admin", 0},
        {"api.github.com", "GET", "/repos/%2e./admin", 0},
        {"api.github.com", "GET", "/repos/%2e/admin", 0},
        {"api.github.com", "GET", "/repos/..;/admin", 0},
        {"api.github.com", "GET", "/repos/..;x=1/admin", 0},
        {"api.github.com", "GET", "/repos/..%3B/admin", 0},
        {"api.github.com", "GET", "/repos/.%2e%3bx/admin", 0},
        {"api.github.com", "GET", "/repos/...", 1}, /* three dots is a name */
        {"api.github.com", "GET", "/repos/..a", 1},
        {"api.github.com", "GET", "/repos/a%2Fb", 0},
        {"api.github.com", "GET", "/repos/a%2fb", 0},
        {"api.github.com", "GET", "/repos/a%5Cb", 0},
        {"api.github.com", "GET", "/repos/a%5cb", 0},
        {"api.github.com", "GET", "/repos/a\\b", 0},
        {"api.github.com", "GET", "/repos/a\\..\\..\\admin", 0},
        {"api.github.com", "GET", "/repos/a%00", 0},
        {"api.github.com", "GET", "/repos/a%", 0},
        {"api.github.com", "GET", "/repos/a%4", 0},
        {"api.github.com", "GET", "/repos/a%zz", 0},
        {"api.github.com", "GET", "/repos/a%4g", 0},
        {"api.github.com", "GET", "/repos/a%%41", 0},
        {"api.github.com", "GET", "//repos/x", 0},
        {"api.github.com", "GET", "/repos/a#x", 0},
        {"api.github.com", "GET", "/repos/a?x#y", 0},
        {"api.github.com", "GET", "/repos/a b", 0},
        {"api.github.com", "GET", "/repos/a\tb", 0},
        {"api.github.com", "GET", "/repos/\xc3\xa9", 0},
        {"api.github.com", "GET", "/repos/a\x7f", 0},
        {"api.github.com", "GET", "repos/a", 0},
        {"api.github.com", "GET", "", 0},
        {"api.github.com", "GET", NULL, 0},
        {"api.github.com", NULL, "/repos/a", 0},
        {"api.github.com", "", "/repos/a", 0},
        /* absolute-form: scheme and authority dropped */
        {"api.github.com", "GET", "http://api.github.com/repos/a", 1},
        {"api.github.com", "GET", "HTTP://api.github.com/repos/a?q=1", 1},
        {"api.github.com", "GET", "https://api.github.com:443/repos/a", 1},
        {"api.github.com", "GET", "http://api.github.com/admin", 0},
        {"api.github.com", "GET", "http://api.github.com", 0}, /* path "/" */
        {"api.github.com", "HEAD", "http://api.github.com", 1},
        {"api.github.com", "HEAD", "http://api.github.com?x", 1},
        {"api.github.com", "GET", "http://api.github.com/repos/../admin", 0},
        {"api.github.com", "GET", "http://api.github.com/repos/%2e%2e/admin", 0},
        {"api.github.com", "GET", "http://u@api.github.com/repos/a", 1},
        {"api.github.com", "GET", "ftp://api.github.com/repos/a", 0},
        {"api.github.com", "GET", "http:/repos/a", 0},
        {"api.github.com", "OPTIONS", "*", 0},
        {"api.github.com", "CONNECT", "api.github.com:443", 0},
        /* host names are normalised */
        {"API.GitHub.COM.", "GET", "/repos/a", 1},
        {"API.GitHub.COM.", "GET", "/admin", 0},
        /* wildcard pattern: strictly below */
        {"x.example.com", "GET", "/v1", 1},
        {"x.y.example.com", "PUT", "/v1/a/b", 1},
        {"x.example.com", "GET", "/v2", 0},
        {"x.example.com", "GET", "/v1/../v2", 0},
        /* hosts no pattern matches are not inspected */
        {"example.com", "GET", "/anything/../at/all", 1},
        {"a.api.github.com", "DELETE", "/", 1},
        {"other.test", "GET", "/repos/%2e%2e/x", 1},
        {"1.2.3.4", "GET", "/x", 1},
    };
    check_requests(&P, c, SBX_ARRAY_SIZE(c));
}

static void test_reasons_and_rules(void)
{
    must_load(GITHUB, &P);
    struct policy_decision d;
    policy_decide_request(&P, "api.github.com", "GET", "/repos/a", &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow);
    CHECK_STR(d.reason, "allowed by http rule");
    CHECK_STR(d.rule, "API.GitHub.com. GET /repos/**");
    policy_decide_request(&P, "api.github.com", "PATCH", "/any/x", &d);
    CHECK_STR(d.rule, "API.GitHub.com. * /any/**");
    policy_decide_request(&P, "api.github.com", "GET", "/admin", &d);
    CHECK(d.verdict == POLICY_DENY && !d.enforced_allow && d.rule == NULL);
    CHECK_STR(d.reason, "no http rule allows this method and path");
    policy_decide_request(&P, "other.test", "GET", "/admin", &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow && d.rule == NULL);
    CHECK_STR(d.reason, "no http rules for this host");

    static const struct {
        const char *target, *reason;
    } r[] = {
        {"/repos/../x", "a \".\" or \"..\" segment in the request path"},
        {"/repos/%2e%2E/x", "a \".\" or \"..\" segment in the request path"},
        {"/repos/a%2Fb", "an encoded slash (%2F) in the request path"},
        {"/repos/a%5cb", "an encoded backslash (%5C) in the request path"},
        {"/repos/a\\b", "a backslash in the request path"},
        {"/repos/a%00", "%00 in the request path"},
        {"/repos/a%g0", "a malformed %-escape in the request path"},
        {"/repos/a#b", "'#' (a fragment) in the request target"},
        {"*", "asterisk-form request target (OPTIONS *): http rules match paths only"},
        {"repos", "the request target is neither a path nor an absolute http(s) URL"},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(r); i++) {
        policy_decide_request(&P, "api.github.com", "GET", r[i].target, &d);
        CHECK(d.verdict == POLICY_DENY && !d.enforced_allow && d.rule == NULL);
        CHECK_STR(d.reason, r[i].reason);
    }
    /* a path longer than 8192 bytes */
    _cleanup_free_ char *big = malloc(9000);
    big[0] = '/';
    memset(big + 1, 'a', 8192);
    big[8193] = '\0';
    policy_decide_request(&P, "api.github.com", "GET", big, &d);
    CHECK_STR(d.reason, "the request path is longer than 8192 bytes");
    memcpy(big, "/any/", 5);
    big[8192] = '\0';
    policy_decide_request(&P, "api.github.com", "GET", big, &d);
    CHECK(d.verdict == POLICY_ALLOW);
}

static void test_report_mode_lets_denied_requests_through(void)
{
    must_load("{\"mode\": \"report\", \"allow\": [\"a.example.com\"], "
              "\"http\": {\"a.example.com\": [\"GET /ok\"]}}",
              &P);
    struct policy_decision d;
    policy_decide_request(&P, "a.example.com", "GET", "/nope", &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1 && d.rule == NULL);
    CHECK_STR(d.reason, "no http rule allows this method and path");
    policy_decide_request(&P, "a.example.com", "GET", "/ok/../x", &d);
    CHECK(d.verdict == POLICY_DENY && d.enforced_allow == 1);
    policy_decide_request(&P, "a.example.com", "GET", "/ok", &d);
    CHECK(d.verdict == POLICY_ALLOW && d.enforced_allow == 1);
    CHECK_STR(d.rule, "a.example.com GET /ok");
}

static void test_inspected_hosts(void)
{
    must_load(GITHUB, &P);
    CHECK(policy_http_inspected(&P, "api.github.com") == 1);
    CHECK(policy_http_inspected(&P, "API.github.com.") == 1);
    CHECK(policy_http_inspected(&P, "a.api.github.com") == 0);
    CHECK(policy_http_inspected(&P, "github.com") == 0);
    CHECK(policy_http_inspected(&P, "x.example.com") == 1);
    CHECK(policy_http_inspected(&P, "a.b.example.com") == 1);
    CHECK(policy_http_inspected(&P, "example.com") == 0);
    CHECK(policy_http_inspected(&P, "xexample.com") == 0);
    CHECK(policy_http_inspected(&P, "x.example.com.evil.org") == 0);
    CHECK(policy_http_inspected(&P, "") == 0);
    CHECK(policy_http_inspected(&P, NULL) == 0);
    must_load("{\"allow\": [\"api.github.com\"]}", &P);
    CHECK(policy_http_inspected(&P, "api.github.com") == 0);
}

static void test_glob(void)
{
    static const struct {
        const char *pattern, *path;
        int match;
    } c[] = {
        {"/", "/", 1},
        {"/", "/a", 0},
        {"/**", "/", 1},
        {"/**", "/a/b/c", 1},
        {"/**", "//", 1},
        {"/*", "/", 0},
        {"/*", "/a", 1},
        {"/*", "/a/", 0},
        {"/*/", "/a/", 1},
        {"/a/**", "/a", 1},
        {"/a/**", "/a/", 1},
        {"/a/**", "/a/b/c", 1},
        {"/a/**", "/ab", 0},
        {"/a/**", "/b/a", 0},
        {"/a/**/b", "/a/b", 1},
        {"/a/**/b", "/a/x/y/b", 1},
        {"/a/**/b", "/a/x/y/b/c", 0},
        {"/a/**/b", "/a/b/b", 1},
        {"/**/b", "/b", 1},
        {"/**/b", "/x/b", 1},
        {"/**/b", "/x/bb", 0},
        {"/**/b/**", "/x/b/y", 1},
        {"/**/*.json", "/a/b/c.json", 1},
        {"/**/*.json", "/a/b/c.jsonp", 0},
        {"/a*", "/a", 1},
        {"/a*", "/abc", 1},
        {"/a*", "/ba", 0},
        {"/*a", "/a", 1},
        {"/a*b*c", "/aXbYc", 1},
        {"/a*b*c", "/abc", 1},
        {"/a*b*c", "/acb", 0},
        {"/a*b", "/a/b", 0},
        {"/v1/*.json", "/v1/x.json", 1},
        {"/v1/*.json", "/v1/x.y.json", 1},
        {"/repos/*/issues", "/repos/a/issues", 1},
        {"/repos/*/issues", "/repos/a/b/issues", 0},
        {"/x/", "/x/", 1},
        {"/x/", "/x", 0},
        {"/x", "/x/", 0},
        {"/A", "/a", 0},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        if (httprule_path_match(c[i].pattern, c[i].path) != c[i].match) {
            fprintf(stderr, "  %s vs %s: expected %d\n", c[i].pattern, c[i].path, c[i].match);
            CHECK(0);
        }
    }
    CHECK(!httprule_path_match(NULL, "/") && !httprule_path_match("/", NULL));
    CHECK(!httprule_path_match("x", "x"));

    /* hostile shapes stay fast: no exponential backtracking */
    char path[8193];
    path[0] = '/';
    for (int i = 1; i < 8191; i += 2) {
        path[i] = 'a';
        path[i + 1] = '/';
    }
    path[8191] = 'a';
    path[8192] = '\0';
    clock_t t0 = clock();
    CHECK(!httprule_path_match("/**/a/**/a/**/a/**/a/**/a/**/b", path));
    CHECK(httprule_path_match("/**/a/**/a/**/a/**/a/**/a/**", path));
    char seg[8193];
    seg[0] = '/';
    memset(seg + 1, 'a', 8191);
    seg[8192] = '\0';
    CHECK(!httprule_path_match("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", seg));
    CHECK(httprule_path_match("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", seg));
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
}

static void test_request_path_normalisation(void)
{
    static const struct {
        const char *target, *path;
    } c[] = {
        {"/", "/"},
        {"/a?b", "/a"},
        {"/a%41%7e%2D%5f%2e%30", "/aA~-_.0"},
        {"/a%20b%3F%25", "/a%20b%3F%25"}, /* reserved and others stay escaped, as sent */
        {"http://h", "/"},
        {"http://h?x", "/"},
        {"http://h:80/x/y?z", "/x/y"},
        {"HtTpS://h/x", "/x"},
        {"/a;b=c", "/a;b=c"},
    };
    char out[HTTPRULE_TARGET_MAX + 1];
    for (size_t i = 0; i < SBX_ARRAY_SIZE(c); i++) {
        const char *why = httprule_request_path(c[i].target, out, sizeof(out));
        if (why) {
            fprintf(stderr, "  %s: refused: %s\n", c[i].target, why);
            CHECK(0);
            continue;
        }
        CHECK_STR(out, c[i].path);
    }
    /* a small buffer is refused, not overrun */
    char small[4];
    CHECK(httprule_request_path("/abcdef", small, sizeof(small)) != NULL);
    CHECK(httprule_request_path("/ab", small, sizeof(small)) == NULL);
}

int main(void)
{
    RUN(test_parses_rules_flat_in_order);
    RUN(test_canonical_form_round_trips);
    RUN(test_errors_name_the_field);
    RUN(test_limits);
    RUN(test_matching_table);
    RUN(test_reasons_and_rules);
    RUN(test_report_mode_lets_denied_requests_through);
    RUN(test_inspected_hosts);
    RUN(test_glob);
    RUN(test_request_path_normalisation);
    UNIT_MAIN_END();
}
