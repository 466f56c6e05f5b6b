/* fuzz_dns - sbx-shim's DNS server on arbitrary messages: shim/dns.c's
 * dns_answer (libldns parses the query; the shim decides and builds the
 * answer) as udp_cb and tcp_read_cb call it, from a session in enforce mode,
 * one in report mode with a request quota, and an address without a session.
 * Every answer must parse back as a response to the query (same id, QR set,
 * at most one question, an A answer only from the fake network).
 *
 * The seam: this file links dns.c and sessions.c as they are and defines the
 * few globals that shim/main.c defines for them (configuration, the event
 * base nobody runs here, the clock); proxy_close_session is never reached
 * (no session is removed). */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "fuzz.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "sessions.h"
#include "shim.h"

struct shim_config g_cfg;
struct event_base *g_base;
struct ca *g_ca;
struct ssl_ctx_st *g_tls_ctx;

double shim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void proxy_close_session(struct session *s);
void proxy_close_session(struct session *s)
{
    (void)s;
}

static uint32_t A_ENFORCE, A_REPORT, A_NONE, A_DST;

static void add_session(const char *id, const char *addr, const char *policy, uint32_t *out)
{
    struct json_object *o = NULL;
    sbx_err err;
    struct policy *p = malloc(sizeof(*p));
    FUZZ_ASSERT(p && json_parse_object(policy, strlen(policy), &o, &err) == 0);
    FUZZ_ASSERT(policy_from_json(o, "network", p, &err) == 0);
    json_object_put(o);
    FUZZ_ASSERT(inet_pton(AF_INET, addr, out) == 1);
    FUZZ_ASSERT(session_put(id, *out, json_object_new_object(), p, NULL, &err) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sbx_log_init("sbx-shim", SBX_LOG_ERROR);
    g_cfg.ctl_fd = g_cfg.audit_fd = -1;
    g_cfg.fake_base = 0xc6120000; /* 198.18.0.0/15, as main.c's default */
    g_cfg.fake_prefix = 15;
    add_session("fuzz-enforce", "100.64.0.2",
                "{\"allow\": [\"*.example.com\", \"example.org:443\", \"registry.npmjs.org\"],"
                " \"deny\": [\"bad.example.com\"]}",
                &A_ENFORCE);
    add_session("fuzz-report", "100.64.0.6",
                "{\"mode\": \"report\", \"allow\": [\"example.net\"],"
                " \"quotas\": {\"requests_per_minute\": 5000}}",
                &A_REPORT);
    inet_pton(AF_INET, "100.64.0.10", &A_NONE);
    inet_pton(AF_INET, "100.127.255.254", &A_DST);
    return 0;
}

static void check_answer(const uint8_t *q, size_t qlen, const uint8_t *a, size_t alen)
{
    FUZZ_ASSERT(qlen >= 12 && alen >= 12);
    FUZZ_ASSERT(a[0] == q[0] && a[1] == q[1]); /* id */
    ldns_pkt *p = NULL;
    FUZZ_ASSERT(ldns_wire2pkt(&p, a, alen) == LDNS_STATUS_OK);
    FUZZ_ASSERT(ldns_pkt_qr(p));
    FUZZ_ASSERT(ldns_pkt_qdcount(p) <= 1 && ldns_pkt_ancount(p) <= 1);
    ldns_rr_list *an = ldns_pkt_answer(p);
    for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++) {
        ldns_rr *rr = ldns_rr_list_rr(an, i);
        FUZZ_ASSERT(ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rr_rd_count(rr) == 1);
        ldns_rdf *rd = ldns_rr_rdf(rr, 0);
        FUZZ_ASSERT(ldns_rdf_size(rd) == 4);
        uint32_t v;
        memcpy(&v, ldns_rdf_data(rd), 4);
        FUZZ_ASSERT((ntohl(v) & 0xfffe0000) == g_cfg.fake_base);
        FUZZ_ASSERT(ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR);
    }
    ldns_pkt_free(p);
}

/* 1 when q is a plain A/IN query for registry.npmjs.org (any case, trailing
 * dot or not): the enforce session must answer it with a fake address. */
static int is_allowed_a_query(const uint8_t *q, size_t qlen)
{
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, q, qlen) != LDNS_STATUS_OK) return 0;
    int yes = 0;
    ldns_rr_list *ql = ldns_pkt_question(p);
    if (!ldns_pkt_qr(p) && ldns_pkt_get_opcode(p) == LDNS_PACKET_QUERY && ql &&
        ldns_rr_list_rr_count(ql) == 1) {
        ldns_rr *rr = ldns_rr_list_rr(ql, 0);
        char *name = ldns_rr_owner(rr) ? ldns_rdf2str(ldns_rr_owner(rr)) : NULL;
        char norm[POLICY_NAME_MAX + 2];
        yes = name && ldns_rr_get_type(rr) == LDNS_RR_TYPE_A &&
              ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
              policy_normalize_host(name, norm, sizeof(norm)) == 0 &&
              strcmp(norm, "registry.npmjs.org") == 0;
        free(name);
    }
    ldns_pkt_free(p);
    return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535) return 0; /* UDP and TCP messages are at most this */
    const uint32_t peers[] = {A_ENFORCE, A_REPORT, A_NONE};
    const char *via[] = {"udp", "tcp", "udp"};
    int allowed = is_allowed_a_query(data, size);
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        uint8_t *a = dns_answer(data, size, peers[i], A_DST, via[i], &len);
        if (allowed && i == 0) {
            ldns_pkt *p = NULL;
            FUZZ_ASSERT(a && ldns_wire2pkt(&p, a, len) == LDNS_STATUS_OK);
            FUZZ_ASSERT(ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR && ldns_pkt_ancount(p) == 1);
            ldns_pkt_free(p);
        }
        if (!a) continue;
        check_answer(data, size, a, len);
        free(a);
    }
    return 0;
}
