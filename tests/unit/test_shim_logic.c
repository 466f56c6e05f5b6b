/* Unit tests: the shim's pure bookkeeping: fake address allocation
 * (shim/fakenet.c), quota windows (shim/quota.c), the hosts-file resolver
 * table (shim/hosts.c) and the audit line format (shim/audit.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>

#include "audit.h"
#include "fakenet.h"
#include "hosts.h"
#include "quota.h"
#include "unit.h"

static uint32_t ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return ntohl(a.s_addr);
}

static void test_fakenet_hands_out_stable_addresses_in_order(void)
{
    struct fakenet f;
    CHECK(fakenet_init(&f, ip("198.18.0.0"), 15, FAKENET_DEFAULT_CAP, 0) == 0);
    uint32_t a, b, a2;
    CHECK(fakenet_get(&f, "allowed.test", &a) == 0);
    CHECK(fakenet_get(&f, "other.test", &b) == 0);
    CHECK(fakenet_get(&f, "allowed.test", &a2) == 0);
    CHECK(a == ip("198.18.0.1") && b == ip("198.18.0.2") && a2 == a);
    CHECK_STR(fakenet_name(&f, a), "allowed.test");
    CHECK_STR(fakenet_name(&f, b), "other.test");
    CHECK(fakenet_name(&f, ip("198.18.0.3")) == NULL); /* not handed out */
    CHECK(fakenet_name(&f, ip("198.18.0.0")) == NULL); /* network address */
    CHECK(fakenet_name(&f, ip("10.0.0.1")) == NULL);
    CHECK(fakenet_contains(&f, ip("198.19.255.255")));
    CHECK(!fakenet_contains(&f, ip("198.20.0.0")));
    /* many names: all distinct, all map back (the hash table grows) */
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "h%d.example", i);
        uint32_t x;
        CHECK(fakenet_get(&f, name, &x) == 0);
        CHECK(x == ip("198.18.0.3") + (uint32_t)i);
    }
    for (int i = 0; i < 5000; i += 97) {
        snprintf(name, sizeof(name), "h%d.example", i);
        CHECK_STR(fakenet_name(&f, ip("198.18.0.3") + (uint32_t)i), name);
    }
    fakenet_free(&f);
}

static void test_fakenet_refuses_when_full_and_never_reuses(void)
{
    struct fakenet f;
    CHECK(fakenet_init(&f, ip("10.1.2.0"), 29, 1000, 0) == 0); /* 8 addresses, 6 usable */
    CHECK(f.cap == 6);
    uint32_t a;
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        CHECK(fakenet_get(&f, name, &a) == 0);
    }
    CHECK(a == ip("10.1.2.6"));
    errno = 0;
    CHECK(fakenet_get(&f, "one-more.test", &a) < 0 && errno == ENOSPC);
    CHECK(fakenet_get(&f, "n3.test", &a) == 0 && a == ip("10.1.2.4")); /* known names still work */
    CHECK(fakenet_name(&f, ip("10.1.2.7")) == NULL);
    fakenet_free(&f);
    struct fakenet tiny;
    CHECK(fakenet_init(&tiny, 0, 31, 10, 0) < 0);
}

static void test_fakenet_random_start_wraps_around(void)
{
    struct fakenet f;
    CHECK(fakenet_init(&f, ip("10.1.2.0"), 29, 1000, 6 * 1000 + 4) == 0); /* start 4 of 6 */
    uint32_t a[6];
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        CHECK(fakenet_get(&f, name, &a[i]) == 0);
    }
    CHECK(a[0] == ip("10.1.2.5") && a[1] == ip("10.1.2.6"));
    CHECK(a[2] == ip("10.1.2.1") && a[5] == ip("10.1.2.4")); /* wrapped, never .0 or .7 */
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        CHECK_STR(fakenet_name(&f, a[i]), name);
    }
    CHECK(fakenet_name(&f, ip("10.1.2.0")) == NULL);
    CHECK(fakenet_name(&f, ip("10.1.2.7")) == NULL);
    fakenet_free(&f);
    /* partly filled: addresses not handed out yet map to nothing */
    CHECK(fakenet_init(&f, ip("198.18.0.0"), 15, FAKENET_DEFAULT_CAP, 131000) == 0);
    uint32_t x;
    CHECK(fakenet_get(&f, "one.test", &x) == 0 && x == ip("198.18.0.0") + 131001);
    CHECK_STR(fakenet_name(&f, x), "one.test");
    CHECK(fakenet_name(&f, x + 1) == NULL && fakenet_name(&f, x - 1) == NULL);
    CHECK(fakenet_name(&f, ip("198.18.0.1")) == NULL);
    fakenet_free(&f);
}

static void test_quota_rate_window_slides(void)
{
    struct rate_window w;
    memset(&w, 0, sizeof(w));
    for (int i = 0; i < 10; i++)
        rate_add(&w, 1000);
    rate_add(&w, 1030);
    CHECK(rate_count(&w, 1030) == 11);
    CHECK(rate_count(&w, 1059) == 11);
    CHECK(rate_count(&w, 1060) == 1); /* the 10 at t=1000 left the window */
    CHECK(rate_count(&w, 1090) == 0);
    rate_add(&w, 1120); /* same bucket as 1000/1060: reset, not added */
    CHECK(rate_count(&w, 1120) == 1);
}

static void test_quota_admission(void)
{
    struct quota_state q;
    memset(&q, 0, sizeof(q));
    struct policy_quotas lim = {
        .connections = 2, .connections_per_minute = 3, .requests_per_minute = 5, .bytes_out = 100};
    char buf[160];
    CHECK(quota_admit_conn(&q, &lim, 10, buf, sizeof(buf)) == NULL);
    CHECK(quota_admit_conn(&q, &lim, 10, buf, sizeof(buf)) == NULL);
    const char *r = quota_admit_conn(&q, &lim, 10, buf, sizeof(buf));
    CHECK_CONTAINS(r, "quota exceeded: connections (2 open at once)");
    quota_release_conn(&q);
    CHECK(quota_admit_conn(&q, &lim, 11, buf, sizeof(buf)) == NULL);
    quota_release_conn(&q);
    r = quota_admit_conn(&q, &lim, 12, buf, sizeof(buf));
    CHECK_CONTAINS(r, "connections_per_minute (3 per minute)");
    /* 3 requests used by the connections; 2 more, then refused */
    CHECK(quota_admit_request(&q, &lim, 12, buf, sizeof(buf)) == NULL);
    CHECK(quota_admit_request(&q, &lim, 12, buf, sizeof(buf)) == NULL);
    CHECK_CONTAINS(quota_admit_request(&q, &lim, 12, buf, sizeof(buf)), "requests_per_minute");
    CHECK(quota_admit_request(&q, &lim, 72, buf, sizeof(buf)) == NULL); /* a minute later */
    CHECK(quota_bytes_left(&q, &lim) == 100);
    quota_add_bytes_out(&q, 60);
    CHECK(quota_bytes_left(&q, &lim) == 40);
    quota_add_bytes_out(&q, 60);
    CHECK(quota_bytes_left(&q, &lim) == 0);
    quota_release_conn(&q);
    CHECK_CONTAINS(quota_admit_conn(&q, &lim, 200, buf, sizeof(buf)), "bytes_out (100 bytes)");
    struct policy_quotas none = {0};
    CHECK(quota_bytes_left(&q, &none) == UINT64_MAX);
    for (int i = 0; i < 10000; i++)
        CHECK(quota_admit_request(&q, &none, 300, buf, sizeof(buf)) == NULL);
}

static void test_hosts_file_parsing_and_lookup(void)
{
    struct hosts h = {0};
    sbx_err err;
    const char *text = "# test names\n"
                       "93.184.216.34  allowed.test  WWW.Allowed.Test.\n"
                       "\n"
                       "2001:db8::1    allowed.test   # v6 too\n"
                       "151.101.1.1\tother.test\n";
    CHECK(hosts_parse(&h, text, &err) == 0);
    struct sockaddr_storage out[4];
    CHECK(hosts_lookup(&h, "allowed.test", out, 4) == 2);
    CHECK(out[0].ss_family == AF_INET && out[1].ss_family == AF_INET6);
    CHECK(hosts_lookup(&h, "www.allowed.test", out, 4) == 1);
    CHECK(hosts_lookup(&h, "nope.test", out, 4) == 0);
    hosts_free(&h);
    CHECK(hosts_parse(&h, "not-an-ip name.test\n", &err) < 0);
    CHECK_CONTAINS(err.msg, "line 1");
    hosts_free(&h);
    CHECK(hosts_parse(&h, "1.2.3.4\n", &err) < 0);
    CHECK_CONTAINS(err.msg, "no host name");
    hosts_free(&h);
    CHECK(hosts_parse(&h, "1.2.3.4 bad_name!\n", &err) < 0);
    hosts_free(&h);
}

static void test_audit_line_has_every_field_in_order(void)
{
    struct json_object *labels = json_tokener_parse("{\"team\":\"data\"}");
    struct audit_rec r = AUDIT_REC_INIT;
    r.event = "request";
    r.conn = 7;
    r.session = "s1";
    r.labels = labels;
    r.proto = "http";
    r.src = "100.100.0.2";
    r.requested_host = "allowed.test";
    r.port = 80;
    r.dst_addr = "198.18.0.1";
    r.resolved_addr = "93.184.216.34";
    r.method = "GET";
    r.path = "/a\"b";
    r.decision = "report";
    r.reason = "no rule allows this host";
    r.status = 200;
    char *line = audit_format(&r);
    CHECK(line != NULL);
    struct json_object *o = json_tokener_parse(line);
    CHECK(o != NULL);
    static const char *const keys[] = {"time",
                                       "event",
                                       "conn",
                                       "session",
                                       "labels",
                                       "proto",
                                       "src",
                                       "requested_host",
                                       "port",
                                       "dst_addr",
                                       "resolved_addr",
                                       "qtype",
                                       "answer",
                                       "method",
                                       "path",
                                       "decision",
                                       "reason",
                                       "rule",
                                       "secrets",
                                       "status",
                                       "bytes_in",
                                       "bytes_out",
                                       "duration_ms",
                                       "enforce_would_deny"};
    int i = 0;
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        CHECK(i < (int)(sizeof(keys) / sizeof(keys[0])));
        if (i < (int)(sizeof(keys) / sizeof(keys[0]))) CHECK_STR(k, keys[i]);
        i++;
    }
    CHECK(i == (int)(sizeof(keys) / sizeof(keys[0])));
    CHECK(json_object_get_boolean(json_object_object_get(o, "enforce_would_deny")));
    CHECK(json_object_object_get(o, "rule") == NULL);     /* null */
    CHECK(json_object_object_get(o, "bytes_in") == NULL); /* null */
    CHECK_STR(json_object_get_string(json_object_object_get(o, "path")), "/a\"b");
    const char *t = json_object_get_string(json_object_object_get(o, "time"));
    CHECK(t && strlen(t) == 27 && t[10] == 'T' && t[19] == '.' && t[26] == 'Z');
    CHECK(!strchr(line, '\n'));
    json_object_put(o);
    free(line);
    /* no session: labels null even if given */
    struct audit_rec r2 = AUDIT_REC_INIT;
    r2.event = "query";
    r2.labels = labels;
    r2.decision = "deny";
    line = audit_format(&r2);
    CHECK_CONTAINS(line, "\"session\":null,\"labels\":null");
    CHECK_CONTAINS(line, "\"enforce_would_deny\":false");
    free(line);
    json_object_put(labels);
}

int main(void)
{
    RUN(test_fakenet_hands_out_stable_addresses_in_order);
    RUN(test_fakenet_refuses_when_full_and_never_reuses);
    RUN(test_fakenet_random_start_wraps_around);
    RUN(test_quota_rate_window_slides);
    RUN(test_quota_admission);
    RUN(test_hosts_file_parsing_and_lookup);
    RUN(test_audit_line_has_every_field_in_order);
    UNIT_MAIN_END();
}
