/* fuzz_policy - the egress policy on arbitrary JSON text (policy/policy.c,
 * policy/httprules.c, policy/addr.c): policy_from_json as sbxd and
 * `sbx policy check` call it; for an accepted policy, the canonical form must
 * parse back to the same canonical form, and the decisions (names, host:port,
 * addresses, HTTP requests) run on hosts and paths taken from the policy and
 * from every string of the input. Every string also goes through the host,
 * address and http-rule checkers on its own, and through the path glob
 * matcher against every http rule. */
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"
#include "httprules.h"
#include "json.h"
#include "policy.h"

static struct policy P, Q;

static void check_decision(const struct policy *p, const struct policy_decision *d)
{
    FUZZ_ASSERT(d->reason && d->reason[0]);
    FUZZ_ASSERT(d->verdict == POLICY_ALLOW || d->verdict == POLICY_DENY);
    if (d->verdict == POLICY_ALLOW) FUZZ_ASSERT(d->enforced_allow);
    if (d->enforced_allow && d->verdict == POLICY_DENY) FUZZ_ASSERT(p->mode == POLICY_REPORT);
}

static void decide_host(const struct policy *p, const char *host)
{
    struct policy_decision d;
    policy_decide_name(p, host, &d);
    check_decision(p, &d);
    static const uint16_t ports[] = {0, 22, 80, 443, 8000, 65535};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        policy_decide_host(p, host, ports[i], &d);
        check_decision(p, &d);
    }
    (void)policy_http_inspected(p, host);
    static const char *const targets[] = {"/", "/repos/a/b", "http://x/v1/a.json?q=1", "*",
                                          "/a/%2e%2e/b"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        policy_decide_request(p, host, "GET", targets[i], &d);
        check_decision(p, &d);
    }
}

/* One string from the input, through every checker on its own. */
static void one_string(const struct policy *p, const char *s)
{
    char norm[POLICY_NAME_MAX + 2];
    if (policy_normalize_host(s, norm, sizeof(norm)) == 0) {
        FUZZ_ASSERT(strlen(norm) <= POLICY_NAME_MAX);
        char again[POLICY_NAME_MAX + 2];
        FUZZ_ASSERT(policy_normalize_host(norm, again, sizeof(again)) == 0 && !strcmp(norm, again));
    }
    char name[POLICY_NAME_MAX + 1];
    int wild;
    sbx_err err;
    if (policy_parse_host_pattern(s, "x", name, sizeof(name), &wild, &err) == 0) {
        FUZZ_ASSERT(strlen(name) <= POLICY_NAME_MAX);
        (void)policy_host_pattern_match(name, wild, name);
    }
    struct sockaddr_storage ss;
    if (addr_host_is_literal(s, &ss)) {
        char buf[64];
        (void)addr_forbidden_reason((struct sockaddr *)&ss);
        (void)addr_to_str((struct sockaddr *)&ss, buf, sizeof(buf));
        struct policy_decision d;
        policy_decide_addr(p, (struct sockaddr *)&ss, &d);
        check_decision(p, &d);
        if (addr_forbidden_reason((struct sockaddr *)&ss)) FUZZ_ASSERT(!d.enforced_allow);
    }
    (void)httprule_check_method(s, strlen(s));
    (void)httprule_check_path(s);
    char path[HTTPRULE_TARGET_MAX + 1];
    if (!httprule_request_path(s, path, sizeof(path))) {
        FUZZ_ASSERT(path[0] == '/' && strlen(path) <= HTTPRULE_TARGET_MAX);
        for (int i = 0; i < p->nhttp; i++)
            (void)httprule_path_match(p->http[i].path, path);
        if (!httprule_check_path(path)) FUZZ_ASSERT(httprule_path_match(path, path));
    }
    decide_host(p, s);
    struct policy_decision d;
    policy_decide_request(p, "api.example.com", "POST", s, &d);
    check_decision(p, &d);
}

static void walk(const struct policy *p, struct json_object *o, int depth, int *budget)
{
    if (!o || depth > 8 || --*budget < 0) return;
    switch (json_object_get_type(o)) {
    case json_type_string:
        one_string(p, json_object_get_string(o));
        break;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            walk(p, json_object_array_get_idx(o, i), depth + 1, budget);
        break;
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            one_string(p, k);
            walk(p, v, depth + 1, budget);
        }
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *o = NULL;
    sbx_err err;
    if (json_parse_object((const char *)data, size, &o, &err) < 0) return 0;
    /* P and Q hold the last input's rules: policy_from_json overwrites */
    policy_free(&P);
    policy_free(&Q);
    int ok = policy_from_json(o, "network", &P, &err) == 0;
    if (!ok) {
        /* refused: left deny-all (holding no memory), with a message naming the field */
        FUZZ_ASSERT(err.msg[0] && P.nallow == 0 && P.ndeny == 0 && P.ncidr == 0 && P.nhttp == 0);
        FUZZ_ASSERT(!P.allow && !P.deny && !P.cidr && !P.http);
        FUZZ_ASSERT(P.mode == POLICY_ENFORCE);
    } else {
        FUZZ_ASSERT(P.nallow <= POLICY_MAX_RULES && P.ndeny <= POLICY_MAX_RULES);
        FUZZ_ASSERT(P.ncidr <= POLICY_MAX_RULES && P.nhttp <= POLICY_MAX_HTTP_RULES);
        struct json_object *c1 = policy_to_json(&P);
        FUZZ_ASSERT(c1);
        const char *t1 = json_object_to_json_string_ext(c1, JSON_C_TO_STRING_PLAIN);
        struct json_object *back = NULL;
        FUZZ_ASSERT(json_parse_object(t1, strlen(t1), &back, &err) == 0);
        if (policy_from_json(back, "network", &Q, &err) < 0) {
            fprintf(stderr, "canonical form refused: %s\n  %s\n", err.msg, t1);
            FUZZ_ASSERT(0);
        }
        struct json_object *c2 = policy_to_json(&Q);
        const char *t2 = json_object_to_json_string_ext(c2, JSON_C_TO_STRING_PLAIN);
        if (strcmp(t1, t2)) {
            fprintf(stderr, "canonical form not stable:\n  %s\n  %s\n", t1, t2);
            FUZZ_ASSERT(0);
        }
        json_object_put(c2);
        json_object_put(back);
        json_object_put(c1);
        for (int i = 0; i < P.nallow; i++) {
            decide_host(&P, P.allow[i].name);
            char sub[POLICY_NAME_MAX + 8];
            snprintf(sub, sizeof(sub), "a.%s", P.allow[i].name);
            decide_host(&P, sub);
        }
        for (int i = 0; i < P.ndeny; i++)
            decide_host(&P, P.deny[i].name);
        for (int i = 0; i < P.nhttp; i++) {
            const struct policy_http_rule *h = &P.http[i];
            struct policy_decision d;
            policy_decide_request(&P, h->host, h->method, h->path, &d);
            check_decision(&P, &d);
            /* a rule without globs allows exactly its own method and path */
            const char *m = strcmp(h->method, "*") ? h->method : "GET";
            char host[POLICY_NAME_MAX + 8];
            snprintf(host, sizeof(host), "%s%s", h->wildcard ? "a." : "", h->host);
            if (!strchr(h->path, '*')) {
                policy_decide_request(&P, host, m, h->path, &d);
                if (d.verdict != POLICY_ALLOW) {
                    fprintf(stderr, "rule \"%s\" does not allow %s %s %s: %s\n", h->text, host, m,
                            h->path, d.reason);
                    FUZZ_ASSERT(0);
                }
            }
        }
        /* without deny rules, an allow rule allows its own name and ports */
        for (int i = 0; i < P.nallow && P.ndeny == 0; i++) {
            const struct policy_host_rule *a = &P.allow[i];
            char host[POLICY_NAME_MAX + 8];
            snprintf(host, sizeof(host), "%s%s", a->wildcard ? "a." : "", a->name);
            struct policy_decision d;
            policy_decide_host(&P, host, a->port_lo ? a->port_hi : 443, &d);
            if (d.verdict != POLICY_ALLOW) {
                fprintf(stderr, "rule \"%s\" does not allow %s: %s\n", a->text, host, d.reason);
                FUZZ_ASSERT(0);
            }
            policy_decide_name(&P, host, &d);
            FUZZ_ASSERT(d.verdict == POLICY_ALLOW);
        }
        for (int i = 0; i < P.ncidr; i++) {
            struct sockaddr_storage ss = {0};
            if (P.cidr[i].family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                memcpy(&a->sin_addr, P.cidr[i].addr, 4);
                a->sin_port = htons(P.cidr[i].port_lo);
            } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                memcpy(&a->sin6_addr, P.cidr[i].addr, 16);
                a->sin6_port = htons(P.cidr[i].port_hi);
            }
            struct policy_decision d;
            policy_decide_addr(&P, (struct sockaddr *)&ss, &d);
            check_decision(&P, &d);
        }
    }
    int budget = 512;
    walk(&P, o, 0, &budget);
    json_object_put(o);
    return 0;
}
