/* Unit tests: the per-node CA and its leaf certificates (shim/ca.c): files
 * and their modes, verification of leaves against the CA, the LRU cache, and
 * a TLS handshake over memory BIOs. Prints the cost of a mint and of a hit. */
#include <errno.h>
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ca.h"
#include "unit.h"

static char g_tmp[] = "/tmp/sbx-test-ca.XXXXXX";
static int g_dirs;

/* A fresh directory under g_tmp. */
static const char *new_dir(void)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/d%d", g_tmp, g_dirs++);
    return path;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    if (buf) fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The verify error of leaf against a store with only the CA, for host (a
 * name, or an IP when ip), 0 when it verifies. */
static int verify_leaf(struct ca *ca, X509 *leaf, const char *host, int ip)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca_cert(ca));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, leaf, NULL);
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
    if (ip)
        X509_VERIFY_PARAM_set1_ip_asc(p, host);
    else
        X509_VERIFY_PARAM_set1_host(p, host, 0);
    int r = X509_verify_cert(ctx) == 1 ? 0 : X509_STORE_CTX_get_error(ctx);
    if (r == 0 && X509_STORE_CTX_get_error(ctx) != X509_V_OK) r = -1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return r;
}

static void test_create_and_reopen(void)
{
    const char *dir = new_dir();
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, dir, &err) == 0);
    if (!ca) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    char kpath[512], cpath[512];
    path_in(kpath, sizeof(kpath), dir, CA_KEY_FILE);
    path_in(cpath, sizeof(cpath), dir, CA_CERT_FILE);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700);
    CHECK(stat(kpath, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(stat(cpath, &st) == 0 && (st.st_mode & 07777) == 0644);
    char *text = read_text(cpath);
    CHECK_STR(text, ca_cert_pem(ca));
    free(text);
    CHECK_CONTAINS(ca_cert_pem(ca), "-----BEGIN CERTIFICATE-----");

    X509 *c = ca_cert(ca);
    char cn[128] = "", o[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_organizationName, o, sizeof(o));
    CHECK_CONTAINS(cn, "sbx sandbox CA (");
    CHECK_STR(o, "sbx");
    CHECK(X509_get_version(c) == X509_VERSION_3);
    CHECK(X509_check_ca(c) >= 1);
    CHECK(X509_get_extension_flags(c) & EXFLAG_CA);
    CHECK(X509_get_pathlen(c) == 0);
    CHECK(X509_get_key_usage(c) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(X509_get0_subject_key_id(c) != NULL);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
    CHECK(bc && bc->ca && crit == 1);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING *ku = X509_get_ext_d2i(c, NID_key_usage, &crit, NULL);
    CHECK(ku && crit == 1);
    ASN1_BIT_STRING_free(ku);
    int days = 0, secs = 0;
    CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c)) == 1);
    CHECK(days >= 3650 && days <= 3654);
    EVP_PKEY *pk = X509_get0_pubkey(c);
    CHECK(pk && EVP_PKEY_get_id(pk) == EVP_PKEY_EC && EVP_PKEY_get_bits(pk) == 256);
    CHECK(X509_verify(c, pk) == 1); /* self-signed */

    char *pem = strdup(ca_cert_pem(ca));
    ca_free(ca);
    ca = NULL;
    CHECK(ca_open(&ca, dir, &err) == 0); /* loads, does not recreate */
    if (ca) CHECK_STR(ca_cert_pem(ca), pem);
    CHECK(stat(kpath, &st) == 0 && (st.st_mode & 07777) == 0600);
    ca_free(ca);
    free(pem);
}

static void test_refuses_bad_modes(void)
{
    const char *dir = new_dir();
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, dir, &err) == 0);
    ca_free(ca);
    char kpath[512];
    path_in(kpath, sizeof(kpath), dir, CA_KEY_FILE);

    CHECK(chmod(kpath, 0644) == 0);
    ca = NULL;
    CHECK(ca_open(&ca, dir, &err) < 0 && !ca);
    CHECK_CONTAINS(err.msg, "0644");
    CHECK_CONTAINS(err.msg, "chmod 600");
    CHECK_CONTAINS(err.msg, kpath);
    CHECK(chmod(kpath, 0640) == 0);
    CHECK(ca_open(&ca, dir, &err) < 0);
    CHECK(chmod(kpath, 0600) == 0);

    CHECK(chmod(dir, 0777) == 0);
    CHECK(ca_open(&ca, dir, &err) < 0 && !ca);
    CHECK_CONTAINS(err.msg, "chmod o-w");
    CHECK(chmod(dir, 0755) == 0);
    CHECK(ca_open(&ca, dir, &err) == 0);
    ca_free(ca);
}

static void test_one_file_missing(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    char kpath[512], cpath[512];
    for (int which = 0; which < 2; which++) {
        const char *dir = new_dir();
        CHECK(ca_open(&ca, dir, &err) == 0);
        ca_free(ca);
        ca = NULL;
        path_in(kpath, sizeof(kpath), dir, CA_KEY_FILE);
        path_in(cpath, sizeof(cpath), dir, CA_CERT_FILE);
        CHECK(unlink(which ? kpath : cpath) == 0);
        CHECK(ca_open(&ca, dir, &err) < 0 && !ca);
        CHECK_CONTAINS(err.msg, kpath);
        CHECK_CONTAINS(err.msg, cpath);
        CHECK_CONTAINS(err.msg, "does not");
        struct stat st; /* nothing was created in its place */
        CHECK(stat(which ? kpath : cpath, &st) < 0 && errno == ENOENT);
    }
}

static void test_mismatched_pair(void)
{
    sbx_err err;
    struct ca *a = NULL, *b = NULL;
    char da[256], db[256], ka[512], kb[512];
    snprintf(da, sizeof(da), "%s", new_dir());
    snprintf(db, sizeof(db), "%s", new_dir());
    CHECK(ca_open(&a, da, &err) == 0 && ca_open(&b, db, &err) == 0);
    ca_free(a);
    ca_free(b);
    path_in(ka, sizeof(ka), da, CA_KEY_FILE);
    path_in(kb, sizeof(kb), db, CA_KEY_FILE);
    CHECK(rename(ka, kb) == 0);
    b = NULL;
    CHECK(ca_open(&b, db, &err) < 0 && !b);
    CHECK_CONTAINS(err.msg, "does not belong");
}

static void test_leaf_verifies(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, new_dir(), &err) == 0);
    if (!ca) return;
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    CHECK(ca_leaf(ca, "Dev.Example.test", &leaf, &key, &err) == 0);
    if (!leaf) return;
    CHECK(key && X509_check_private_key(leaf, key) == 1);
    CHECK(EVP_PKEY_get_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) == 256);
    CHECK(verify_leaf(ca, leaf, "dev.example.test", 0) == 0);
    CHECK(verify_leaf(ca, leaf, "DEV.example.TEST", 0) == 0);
    CHECK(verify_leaf(ca, leaf, "other.example.test", 0) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(verify_leaf(ca, leaf, "example.test", 0) == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(X509_check_host(leaf, "dev.example.test", 0, 0, NULL) == 1);
    CHECK(X509_check_host(leaf, "x.dev.example.test", 0, 0, NULL) == 0);

    /* the fields asked for */
    CHECK(X509_get_version(leaf) == X509_VERSION_3);
    CHECK(X509_check_ca(leaf) == 0);
    CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
    CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca_cert(ca));
    CHECK(aki && ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0);
    CHECK(X509_get0_subject_key_id(leaf) != NULL);
    int days = 0, secs = 0;
    CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) == 1);
    CHECK(days == 29 || (days == 30 && secs == 0));
    CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notBefore(leaf)) == 1);
    CHECK(days == 0 && secs <= -3599 && secs >= -3602);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    CHECK(serial && BN_num_bits(serial) > 64 && BN_num_bits(serial) <= 128 &&
          !BN_is_negative(serial));
    BN_free(serial);
    GENERAL_NAMES *san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    CHECK(san && sk_GENERAL_NAME_num(san) == 1);
    if (san && sk_GENERAL_NAME_num(san) == 1) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(san, 0);
        CHECK(g->type == GEN_DNS);
        CHECK_STR((const char *)ASN1_STRING_get0_data(g->d.dNSName), "dev.example.test");
    }
    GENERAL_NAMES_free(san);

    /* IP literals: SAN IP, not DNS */
    CHECK(ca_leaf(ca, "10.1.2.3", &leaf, &key, &err) == 0);
    CHECK(X509_check_ip_asc(leaf, "10.1.2.3", 0) == 1);
    CHECK(X509_check_ip_asc(leaf, "10.1.2.4", 0) == 0);
    san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    CHECK(san && sk_GENERAL_NAME_num(san) == 1 && sk_GENERAL_NAME_value(san, 0)->type == GEN_IPADD);
    GENERAL_NAMES_free(san);
    CHECK(verify_leaf(ca, leaf, "10.1.2.3", 1) == 0);
    CHECK(verify_leaf(ca, leaf, "10.1.2.4", 1) == X509_V_ERR_IP_ADDRESS_MISMATCH);
    CHECK(ca_leaf(ca, "[fd00::0:1]", &leaf, &key, &err) == 0);
    CHECK(X509_check_ip_asc(leaf, "fd00::1", 0) == 1);
    X509 *again = NULL;
    CHECK(ca_leaf(ca, "fd00:0::1", &again, &key, &err) == 0 && again == leaf);

    /* names that are not names */
    static const char *const bad[] = {
        "",           ".",        "a..b",       "*.example.test", "a b",
        "a,DNS:evil", "ex/ample", "[10.0.0.1]", "fe80::1%eth0",   "..",
        "x\n",        "[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.kind = SBX_E_INTERNAL;
        CHECK(ca_leaf(ca, bad[i], &leaf, &key, &err) < 0 && err.kind == SBX_E_INVALID);
    }
    char label[80];
    memset(label, 'a', 64);
    snprintf(label + 64, sizeof(label) - 64, ".test");
    CHECK(ca_leaf(ca, label, &leaf, &key, &err) < 0);
    CHECK(ca_leaf(ca, label + 1, &leaf, &key, &err) == 0); /* 63 is fine */
    ca_free(ca);
}

static void test_cache(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, new_dir(), &err) == 0);
    if (!ca) return;
    X509 *x1 = NULL, *x2 = NULL, *x3 = NULL;
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    CHECK(ca_leaf(ca, "a.test", &x1, &k1, &err) == 0);
    CHECK(ca_leaf(ca, "A.TEST", &x2, &k2, &err) == 0);
    CHECK(ca_leaf(ca, "a.test.", &x3, &k2, &err) == 0);
    CHECK(x1 && x1 == x2 && x2 == x3 && k1 == k2);
    CHECK(ca_leaf(ca, "b.test", &x2, &k2, &err) == 0);
    CHECK(x2 != x1 && k1 == k2); /* one key for all */
    CHECK(ca_cache_size(ca) == 2);

    /* LRU eviction at the limit */
    ca_set_cache_limit(ca, 3);
    X509 *a = NULL, *c = NULL, *d = NULL, *x = NULL;
    CHECK(ca_leaf(ca, "c.test", &c, &k1, &err) == 0);
    CHECK(ca_leaf(ca, "a.test", &a, &k1, &err) == 0 && a == x1); /* a is now the newest */
    ASN1_INTEGER *b_serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x2));
    CHECK(ca_leaf(ca, "d.test", &d, &k1, &err) == 0); /* evicts b, the oldest */
    CHECK(ca_cache_size(ca) == 3);
    CHECK(ca_leaf(ca, "a.test", &x, &k1, &err) == 0 && x == a);
    CHECK(ca_leaf(ca, "c.test", &x, &k1, &err) == 0 && x == c);
    CHECK(ca_leaf(ca, "d.test", &x, &k1, &err) == 0 && x == d);
    CHECK(ca_leaf(ca, "b.test", &x, &k1, &err) == 0); /* minted anew, evicts a */
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(x), b_serial) != 0);
    CHECK(ca_cache_size(ca) == 3);
    CHECK(ca_leaf(ca, "c.test", &x, &k1, &err) == 0 && x == c);
    ASN1_INTEGER_free(b_serial);
    ca_set_cache_limit(ca, 1); /* shrinking evicts at once */
    CHECK(ca_cache_size(ca) == 1);
    CHECK(ca_leaf(ca, "c.test", &x, &k1, &err) == 0 && x == c);

    /* many names through a small cache, then the default limit */
    ca_set_cache_limit(ca, 50);
    char name[64];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        CHECK(ca_leaf(ca, name, &x, &k1, &err) == 0);
    }
    CHECK(ca_cache_size(ca) == 50);
    ca_free(ca);
}

static time_t g_fake_now;
static time_t fake_clock(void)
{
    return g_fake_now;
}

static void test_renewal(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, new_dir(), &err) == 0);
    if (!ca) return;
    g_fake_now = time(NULL);
    ca_set_clock(ca, fake_clock);
    X509 *x = NULL, *y = NULL;
    EVP_PKEY *k;
    CHECK(ca_leaf(ca, "r.test", &x, &k, &err) == 0);
    ASN1_INTEGER *serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x));
    g_fake_now += 22 * 86400; /* 8 days left: kept */
    CHECK(ca_leaf(ca, "r.test", &y, &k, &err) == 0 && y == x);
    g_fake_now += 2 * 86400; /* 6 days left: minted anew */
    CHECK(ca_leaf(ca, "r.test", &y, &k, &err) == 0);
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(y), serial) != 0);
    int days = 0, secs = 0;
    CHECK(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(y)) == 1 && days >= 53);
    CHECK(ca_cache_size(ca) == 1);
    ASN1_INTEGER_free(serial);

    /* near the CA's own end: leaves end with it, and are not minted each time */
    g_fake_now = time(NULL) + 3650L * 86400;
    CHECK(ca_leaf(ca, "s.test", &x, &k, &err) == 0);
    CHECK(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca_cert(ca))) == 0);
    CHECK(ca_leaf(ca, "s.test", &y, &k, &err) == 0 && y == x);
    ca_free(ca);
}

/* Drive both ends over a BIO pair until both finish or one fails. Returns 1
 * when both completed. */
static int handshake(SSL *client, SSL *server)
{
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(client);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(client, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
        if (!sdone) {
            int r = SSL_do_handshake(server);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(server, r) != SSL_ERROR_WANT_WRITE)
                return 0;
        }
    }
    return cdone && sdone;
}

/* A client trusting only the CA, expecting want, against a server
 * presenting host. Returns 1 when the handshake and verification pass. */
static int try_tls(struct ca *ca, SSL_CTX *sctx, const char *host, const char *want, int tls12,
                   long *verify, int *alpn_len, int *chain_len)
{
    sbx_err err;
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca_cert(ca));
    if (tls12) SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    SSL_CTX_set_alpn_protos(cctx, alpn, sizeof(alpn) - 1);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set1_host(c, want);
    SSL_set_tlsext_host_name(c, want);
    BIO *bc, *bs;
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    int ok = ca_ssl_use_host(ca, s, host, &err) == 0;
    if (!ok) fprintf(stderr, "  ca_ssl_use_host: %s\n", err.msg);
    ok = ok && handshake(c, s);
    *verify = SSL_get_verify_result(c);
    const unsigned char *sel = NULL;
    unsigned sel_len = 0;
    SSL_get0_alpn_selected(c, &sel, &sel_len);
    *alpn_len = (int)sel_len;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c);
    *chain_len = chain ? sk_X509_num(chain) : -1;
    if (ok) { /* and data flows */
        char buf[8] = "";
        ok = SSL_write(c, "ping", 4) == 4 && SSL_read(s, buf, sizeof(buf)) == 4 &&
             memcmp(buf, "ping", 4) == 0;
    }
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    ERR_clear_error();
    return ok;
}

static void test_tls_handshake(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, new_dir(), &err) == 0);
    SSL_CTX *sctx = ca_server_ctx(&err);
    CHECK(sctx != NULL);
    if (!ca || !sctx) return;
    long v;
    int alpn, chain;
    CHECK(try_tls(ca, sctx, "dev.example.test", "dev.example.test", 0, &v, &alpn, &chain) == 1);
    CHECK(v == X509_V_OK && alpn == 0 && chain == 2);
    CHECK(try_tls(ca, sctx, "dev.example.test", "dev.example.test", 1, &v, &alpn, &chain) == 1);
    CHECK(v == X509_V_OK);
    CHECK(try_tls(ca, sctx, "dev.example.test", "other.example.test", 0, &v, &alpn, &chain) == 0);
    CHECK(v == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(try_tls(ca, sctx, "127.0.0.1", "127.0.0.1", 0, &v, &alpn, &chain) == 1);

    /* a client that does not trust this CA */
    struct ca *other = NULL;
    CHECK(ca_open(&other, new_dir(), &err) == 0);
    if (other) {
        SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
        X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca_cert(other));
        SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
        SSL_set_connect_state(c);
        SSL_set_accept_state(s);
        BIO *bc, *bs;
        BIO_new_bio_pair(&bc, 0, &bs, 0);
        SSL_set_bio(c, bc, bc);
        SSL_set_bio(s, bs, bs);
        CHECK(ca_ssl_use_host(ca, s, "dev.example.test", &err) == 0);
        CHECK(handshake(c, s) == 0);
        CHECK(SSL_get_verify_result(c) != X509_V_OK);
        SSL_free(c);
        SSL_free(s);
        SSL_CTX_free(cctx);
        ERR_clear_error();
        ca_free(other);
    }
    SSL_free(SSL_new(sctx));
    err.kind = SBX_E_INTERNAL;
    SSL *s = SSL_new(sctx);
    CHECK(ca_ssl_use_host(ca, s, "bad name", &err) < 0 && err.kind == SBX_E_INVALID);
    SSL_free(s);
    SSL_CTX_free(sctx);
    ca_free(ca);
}

static void test_cost(void)
{
    sbx_err err;
    struct ca *ca = NULL;
    CHECK(ca_open(&ca, new_dir(), &err) == 0);
    SSL_CTX *sctx = ca_server_ctx(&err);
    if (!ca || !sctx) return;
    enum { N = CA_LEAF_CACHE };
    char name[64];
    X509 *x;
    EVP_PKEY *k;
    struct mallinfo2 m0 = mallinfo2();
    double t0 = now_us();
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "host-%d.example.test", i);
        CHECK(ca_leaf(ca, name, &x, &k, &err) == 0);
    }
    double t1 = now_us();
    struct mallinfo2 m1 = mallinfo2();
    CHECK(ca_cache_size(ca) == N);
    int rounds = 20;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof(name), "host-%d.example.test", i);
            ca_leaf(ca, name, &x, &k, &err);
        }
    double t2 = now_us();
    SSL *s = SSL_new(sctx);
    int uses = 20000;
    for (int i = 0; i < uses; i++)
        ca_ssl_use_host(ca, s, "host-7.example.test", &err);
    double t3 = now_us();
    SSL_free(s);
    snprintf(name, sizeof(name), "host-%d.example.test", N);
    CHECK(ca_leaf(ca, name, &x, &k, &err) == 0); /* one more: evicts */
    CHECK(ca_cache_size(ca) == N);
    printf("# ca_leaf: miss (mint) %.1f us, hit %.2f us; ca_ssl_use_host (hit) %.2f us\n",
           (t1 - t0) / N, (t2 - t1) / ((double)N * rounds), (t3 - t2) / uses);
    if (m1.uordblks > m0.uordblks) /* 0 under ASan, which has its own allocator */
        printf("# %d cached leaves use %.0f KiB (%.2f KiB each)\n", N,
               (double)(m1.uordblks - m0.uordblks) / 1024,
               (double)(m1.uordblks - m0.uordblks) / 1024 / N);
    SSL_CTX_free(sctx);
    ca_free(ca);
}

static void rm_rf(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "  cannot remove %s\n", path);
}

int main(void)
{
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_create_and_reopen);
    RUN(test_refuses_bad_modes);
    RUN(test_one_file_missing);
    RUN(test_mismatched_pair);
    RUN(test_leaf_verifies);
    RUN(test_cache);
    RUN(test_renewal);
    RUN(test_tls_handshake);
    RUN(test_cost);
    rm_rf(g_tmp);
    UNIT_MAIN_END();
}
