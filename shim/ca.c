/* ca.c - per-node CA and the leaf certificates it signs. See ca.h.
 *
 * Leaves: everything but the serial, the names, the validity and the
 * signature is the same in every leaf (one shared key, so one SKI and one
 * AKI), so those extensions are built once at ca_open and copied in; the
 * subjectAltName is built as a GENERAL_NAME, never from a config string, so
 * no host name can smuggle in another SAN. The cache is a chained hash table
 * (FNV-1a over the normalised name) threaded on a doubly linked LRU list. */
#include "ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define CA_BUCKETS 4096 /* power of two */
#define CA_FILE_MAX (64 * 1024)
#define CA_YEARS_DAYS 3653 /* ten years */
#define DAY_S 86400
#define NLEAF_EXT 5

struct leaf {
    struct leaf *hnext;       /* hash chain */
    struct leaf *prev, *next; /* LRU: ca->head is the most recently used */
    uint64_t hash;
    X509 *cert;
    time_t not_after;
    char name[]; /* normalised: lower case DNS name or canonical IP text */
};

struct ca {
    X509 *cert;
    EVP_PKEY *key;
    char *pem;
    time_t not_after;
    EVP_PKEY *leaf_key;
    X509_EXTENSION *leaf_ext[NLEAF_EXT];
    STACK_OF(X509) * chain; /* the CA, sent after every leaf */
    struct leaf *head, *tail;
    size_t n, limit;
    time_t (*clock)(void); /* NULL: time() */
    struct leaf *buckets[CA_BUCKETS];
};

static void bio_freep(BIO **b)
{
    if (*b) BIO_free(*b);
}
#define _cleanup_bio_ _cleanup_(bio_freep)

/* An error with OpenSSL's reason for the last failure; clears its queue. */
__attribute__((format(printf, 2, 3))) static int ossl_error(sbx_err *err, const char *fmt, ...)
{
    char what[512], reason[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();
    if (e) ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sbx_error(err, 0, "%s: %s", what, reason);
}

static const EVP_MD *sign_md(EVP_PKEY *key)
{
    int id = EVP_PKEY_get_id(key);
    return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
}

static time_t asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm)) return 0;
    return timegm(&tm);
}

static int set_random_serial(X509 *x)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) return -1;
    BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
    if (!bn) return -1;
    ASN1_INTEGER *r = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return r ? 0 : -1;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (!e) return -1;
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* ---- files ---- */

/* The whole of a regular file of at most CA_FILE_MAX bytes; *st its stat. */
static int read_small_file(const char *path, char **data, size_t *len, struct stat *st,
                           sbx_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) return sbx_error(err, errno, "%s", path);
    if (fstat(fd, st) < 0) return sbx_error(err, errno, "%s: stat", path);
    if (!S_ISREG(st->st_mode)) return sbx_error(err, 0, "%s: not a regular file", path);
    if (st->st_size > CA_FILE_MAX)
        return sbx_error(err, 0, "%s: larger than %d bytes", path, CA_FILE_MAX);
    _cleanup_free_ char *buf = malloc((size_t)st->st_size + 1);
    if (!buf) return sbx_error(err, ENOMEM, "%s", path);
    size_t n = 0;
    while (n < (size_t)st->st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st->st_size - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return sbx_error(err, errno, "%s: read", path);
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    *data = steal_pointer(&buf);
    return 0;
}

/* Write data to dir/name through an O_EXCL temporary (mkostemp), fsync, then
 * rename it into place without replacing an existing file. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len,
                        mode_t mode, sbx_err *err)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= sizeof(tmp) ||
        (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return sbx_error(err, ENAMETOOLONG, "%s", dir);
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (fd < 0) return sbx_error(err, errno, "%s: create temporary file", dir);
    int r = 0;
    if (fchmod(fd, mode) < 0) r = sbx_error(err, errno, "%s: chmod", tmp);
    for (size_t off = 0; r == 0 && off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
            r = sbx_error(err, errno, "%s: write", tmp);
        else
            off += (size_t)w;
    }
    if (r == 0 && fsync(fd) < 0) r = sbx_error(err, errno, "%s: fsync", tmp);
    if (close(fd) < 0 && r == 0) r = sbx_error(err, errno, "%s: close", tmp);
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
        if (errno == EINVAL || errno == ENOSYS) { /* a filesystem without NOREPLACE */
            if (rename(tmp, path) < 0) r = sbx_error(err, errno, "%s: rename", path);
        } else if (errno == EEXIST) {
            r = sbx_error(err, 0, "%s: created by another process meanwhile; try again", path);
        } else {
            r = sbx_error(err, errno, "%s: rename", path);
        }
    }
    if (r < 0) unlink(tmp);
    return r;
}

static int fsync_dir(const char *dir, sbx_err *err)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) return sbx_error(err, errno, "%s: fsync", dir);
    return 0;
}

/* 1 when path exists (any type, not following a symlink), 0 when not. */
static int exists(const char *path, sbx_err *err)
{
    struct stat st;
    if (lstat(path, &st) == 0) return 1;
    if (errno == ENOENT) return 0;
    return sbx_error(err, errno, "%s", path);
}

/* ---- the CA itself ---- */

static int make_ca_cert(struct ca *ca, sbx_err *err)
{
    char host[HOST_NAME_MAX + 1] = "";
    if (gethostname(host, sizeof(host)) < 0 || !host[0]) snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) *p = '?';
    char cn[65]; /* ub-common-name: 64 */
    snprintf(cn, sizeof(cn), "sbx sandbox CA (%.47s)", host);

    ca->key = EVP_EC_gen("P-256");
    if (!ca->key) return ossl_error(err, "CA: generate key");
    X509 *x = ca->cert = X509_new();
    if (!x) return ossl_error(err, "CA: new certificate");
    X509_NAME *nm = X509_get_subject_name(x);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (!X509_set_version(x, X509_VERSION_3) || set_random_serial(x) < 0 ||
        !X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"sbx", -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, nm) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), CA_YEARS_DAYS, 0, NULL) ||
        !X509_set_pubkey(x, ca->key) ||
        add_conf_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
        add_conf_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
        add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") < 0 ||
        !X509_sign(x, ca->key, EVP_sha256()))
        return ossl_error(err, "CA: make certificate");
    return 0;
}

static int create_ca(struct ca *ca, const char *dir, sbx_err *err)
{
    if (make_ca_cert(ca, err) < 0) return -1;
    _cleanup_bio_ BIO *kb = BIO_new(BIO_s_secmem()); /* cleared when freed */
    _cleanup_bio_ BIO *cb = BIO_new(BIO_s_mem());
    if (!kb || !cb || !PEM_write_bio_PrivateKey(kb, ca->key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cb, ca->cert))
        return ossl_error(err, "CA: encode");
    char *kd, *cd;
    long kl = BIO_get_mem_data(kb, &kd), cl = BIO_get_mem_data(cb, &cd);
    if (write_atomic(dir, CA_KEY_FILE, kd, (size_t)kl, 0600, err) < 0) return -1;
    if (write_atomic(dir, CA_CERT_FILE, cd, (size_t)cl, 0644, err) < 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, CA_KEY_FILE);
        unlink(path); /* ours, written a moment ago: do not leave half a CA */
        return -1;
    }
    return fsync_dir(dir, err);
}

static int load_ca(struct ca *ca, const char *kpath, const char *cpath, sbx_err *err)
{
    _cleanup_free_ char *kd = NULL;
    _cleanup_free_ char *cd = NULL;
    size_t kl, cl;
    struct stat st;
    if (read_small_file(kpath, &kd, &kl, &st, err) < 0) return -1;
    if (st.st_mode & 077)
        return sbx_error_kind(err, SBX_E_FORBIDDEN, "ca_key_mode",
                              "%s: mode %04o lets group or others at the CA key; fix with: "
                              "chmod 600 %s",
                              kpath, (unsigned)(st.st_mode & 07777), kpath);
    if (read_small_file(cpath, &cd, &cl, &st, err) < 0) return -1;
    _cleanup_bio_ BIO *kb = BIO_new_mem_buf(kd, (int)kl);
    _cleanup_bio_ BIO *cb = BIO_new_mem_buf(cd, (int)cl);
    if (!kb || !cb) return sbx_error(err, ENOMEM, "CA");
    ca->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    OPENSSL_cleanse(kd, kl);
    if (!ca->key) return ossl_error(err, "%s: not a PEM private key", kpath);
    ca->cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    if (!ca->cert) return ossl_error(err, "%s: not a PEM certificate", cpath);
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        ERR_clear_error();
        return sbx_error(err, 0,
                         "%s does not belong to %s: restore the matching pair, or remove "
                         "both to create a new CA",
                         kpath, cpath);
    }
    if (X509_check_ca(ca->cert) == 0) return sbx_error(err, 0, "%s: not a CA certificate", cpath);
    if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0)
        return sbx_error(err, 0, "%s: the CA has expired; remove %s and %s to create a new one",
                         cpath, kpath, cpath);
    return 0;
}

/* The extensions every leaf carries, the chain, the PEM text. */
static int finish_open(struct ca *ca, sbx_err *err)
{
    ca->not_after = asn1_to_time(X509_get0_notAfter(ca->cert));
    _cleanup_bio_ BIO *b = BIO_new(BIO_s_mem());
    char *p;
    if (!b || !PEM_write_bio_X509(b, ca->cert)) return ossl_error(err, "CA: encode");
    long n = BIO_get_mem_data(b, &p);
    ca->pem = strndup(p, (size_t)n);
    if (!ca->pem) return sbx_error(err, ENOMEM, "CA");

    ca->leaf_key = EVP_EC_gen("P-256");
    if (!ca->leaf_key) return ossl_error(err, "CA: generate the leaf key");
    X509 *tmpl = X509_new();
    if (!tmpl || !X509_set_pubkey(tmpl, ca->leaf_key)) {
        X509_free(tmpl);
        return ossl_error(err, "CA: leaf template");
    }
    static const struct {
        int nid;
        const char *value;
    } defs[NLEAF_EXT] = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
        {NID_subject_key_identifier, "hash"},
        {NID_authority_key_identifier, "keyid:always"},
    };
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca->cert, tmpl, NULL, NULL, 0);
    for (int i = 0; i < NLEAF_EXT; i++) {
        ca->leaf_ext[i] = X509V3_EXT_conf_nid(NULL, &ctx, defs[i].nid, defs[i].value);
        if (!ca->leaf_ext[i]) {
            X509_free(tmpl);
            return ossl_error(err, "CA: leaf extension %s", OBJ_nid2sn(defs[i].nid));
        }
    }
    X509_free(tmpl);

    ca->chain = sk_X509_new_null();
    if (!ca->chain || !sk_X509_push(ca->chain, ca->cert)) return sbx_error(err, ENOMEM, "CA");
    X509_up_ref(ca->cert);
    return 0;
}

int ca_open(struct ca **out, const char *dir, sbx_err *err)
{
    *out = NULL;
    char kpath[PATH_MAX], cpath[PATH_MAX];
    if ((size_t)snprintf(kpath, sizeof(kpath), "%s/%s", dir, CA_KEY_FILE) >= sizeof(kpath) ||
        (size_t)snprintf(cpath, sizeof(cpath), "%s/%s", dir, CA_CERT_FILE) >= sizeof(cpath))
        return sbx_error(err, ENAMETOOLONG, "CA directory %s", dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return sbx_error(err, errno, "CA directory %s", dir);
    struct stat st;
    if (stat(dir, &st) < 0) return sbx_error(err, errno, "CA directory %s", dir);
    if (!S_ISDIR(st.st_mode)) return sbx_error(err, ENOTDIR, "CA directory %s", dir);
    if (st.st_mode & S_IWOTH)
        return sbx_error_kind(err, SBX_E_FORBIDDEN, "ca_dir_mode",
                              "CA directory %s: mode %04o lets anyone replace the CA; fix with: "
                              "chmod o-w %s",
                              dir, (unsigned)(st.st_mode & 07777), dir);
    int have_key = exists(kpath, err), have_cert = have_key < 0 ? -1 : exists(cpath, err);
    if (have_key < 0 || have_cert < 0) return -1;
    if (have_key != have_cert)
        return sbx_error_kind(err, SBX_E_CONFLICT, "ca_incomplete",
                              "%s exists but %s does not: a CA needs both; restore the missing "
                              "one, or remove %s to create a new CA (which sandboxes must then "
                              "trust anew)",
                              have_key ? kpath : cpath, have_key ? cpath : kpath,
                              have_key ? kpath : cpath);

    struct ca *ca = calloc(1, sizeof(*ca));
    if (!ca) return sbx_error(err, ENOMEM, "CA");
    ca->limit = CA_LEAF_CACHE;
    int r = have_key ? load_ca(ca, kpath, cpath, err) : create_ca(ca, dir, err);
    if (r == 0) r = finish_open(ca, err);
    if (r < 0) {
        ca_free(ca);
        return sbx_error_wrap(err, "CA in %s", dir);
    }
    *out = ca;
    return 0;
}

static void leaf_drop(struct ca *ca, struct leaf *l);

void ca_free(struct ca *ca)
{
    if (!ca) return;
    while (ca->head)
        leaf_drop(ca, ca->head);
    for (int i = 0; i < NLEAF_EXT; i++)
        X509_EXTENSION_free(ca->leaf_ext[i]);
    sk_X509_pop_free(ca->chain, X509_free);
    EVP_PKEY_free(ca->leaf_key);
    EVP_PKEY_free(ca->key);
    X509_free(ca->cert);
    free(ca->pem);
    free(ca);
}

const char *ca_cert_pem(const struct ca *ca)
{
    return ca->pem;
}

X509 *ca_cert(const struct ca *ca)
{
    return ca->cert;
}

/* ---- leaves ---- */

/* host -> out: an IP literal in canonical text (returns 1, bytes in ip) or a
 * DNS name in lower case without a trailing dot (returns 0); -1: neither. */
static int normalize_host(const char *host, char *out, size_t cap, unsigned char ip[16], int *iplen)
{
    size_t len = strlen(host);
    char buf[INET6_ADDRSTRLEN + 2];
    if (len < sizeof(buf)) {
        const char *s = host;
        if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
            memcpy(buf, host + 1, len - 2);
            buf[len - 2] = '\0';
            s = buf;
            if (inet_pton(AF_INET6, s, ip) != 1) return -1;
            *iplen = 16;
        } else if (inet_pton(AF_INET, s, ip) == 1) {
            *iplen = 4;
        } else if (inet_pton(AF_INET6, s, ip) == 1) {
            *iplen = 16;
        } else {
            s = NULL;
        }
        if (s) {
            if (!inet_ntop(*iplen == 4 ? AF_INET : AF_INET6, ip, out, (socklen_t)cap)) return -1;
            return 1;
        }
    }
    if (len && host[len - 1] == '.') len--;
    if (len == 0 || len > CA_HOST_MAX || len >= cap) return -1;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c == '.') {
            if (label == 0) return -1;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63) return -1;
        } else {
            return -1;
        }
        out[i] = c;
    }
    if (label == 0) return -1;
    out[len] = '\0';
    return 0;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void lru_unlink(struct ca *ca, struct leaf *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        ca->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        ca->tail = l->prev;
    l->prev = l->next = NULL;
}

static void lru_push_front(struct ca *ca, struct leaf *l)
{
    l->prev = NULL;
    l->next = ca->head;
    if (ca->head) ca->head->prev = l;
    ca->head = l;
    if (!ca->tail) ca->tail = l;
}

static void leaf_drop(struct ca *ca, struct leaf *l)
{
    struct leaf **pp = &ca->buckets[l->hash & (CA_BUCKETS - 1)];
    while (*pp != l)
        pp = &(*pp)->hnext;
    *pp = l->hnext;
    lru_unlink(ca, l);
    X509_free(l->cert);
    free(l);
    ca->n--;
}

static time_t now_of(const struct ca *ca)
{
    return ca->clock ? ca->clock() : time(NULL);
}

/* About 0.23 ms with OpenSSL 3.0 (x86-64): 0.17 of it X509_set_pubkey, which
 * encodes the provider key and decodes it again, 0.025 the ECDSA signature. */
static X509 *mint_leaf(struct ca *ca, const char *name, const unsigned char *ip, int iplen,
                       time_t *not_after, sbx_err *err)
{
    X509 *x = X509_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *v = iplen ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    time_t now = now_of(ca), na = now + (time_t)CA_LEAF_DAYS * DAY_S;
    if (na > ca->not_after) na = ca->not_after;
    X509_NAME *nm = x ? X509_get_subject_name(x) : NULL;
    int ok =
        x && gens && g && v && X509_set_version(x, X509_VERSION_3) && set_random_serial(x) == 0 &&
        X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) &&
        X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"sbx", -1, -1,
                                   0) &&
        (strlen(name) > 64 || X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
                                                         (const unsigned char *)name, -1, -1, 0)) &&
        ASN1_TIME_set(X509_getm_notBefore(x), now - 3600) &&
        ASN1_TIME_set(X509_getm_notAfter(x), na) && X509_set_pubkey(x, ca->leaf_key);
    for (int i = 0; ok && i < NLEAF_EXT; i++)
        ok = X509_add_ext(x, ca->leaf_ext[i], -1);
    if (ok) ok = iplen ? ASN1_OCTET_STRING_set(v, ip, iplen) : ASN1_STRING_set(v, name, -1);
    if (ok) {
        GENERAL_NAME_set0_value(g, iplen ? GEN_IPADD : GEN_DNS, v);
        v = NULL;
        ok = sk_GENERAL_NAME_push(gens, g) > 0;
        if (ok) g = NULL;
    }
    ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1 &&
         X509_sign(x, ca->key, sign_md(ca->key)) > 0;
    ASN1_STRING_free(v);
    GENERAL_NAME_free(g);
    GENERAL_NAMES_free(gens);
    if (!ok) {
        X509_free(x);
        ossl_error(err, "mint a certificate for %s", name);
        return NULL;
    }
    *not_after = na;
    return x;
}

int ca_leaf(struct ca *ca, const char *host, X509 **cert, EVP_PKEY **key, sbx_err *err)
{
    char name[CA_HOST_MAX + 1];
    unsigned char ip[16];
    int iplen = 0;
    if (normalize_host(host, name, sizeof(name), ip, &iplen) < 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_host",
                              "TLS host \"%.80s\": not a DNS name or an IP address", host);
    uint64_t h = hash_name(name);
    struct leaf **bucket = &ca->buckets[h & (CA_BUCKETS - 1)];
    struct leaf *l = *bucket;
    while (l && !(l->hash == h && strcmp(l->name, name) == 0))
        l = l->hnext;
    time_t now = now_of(ca);
    /* Renew when little is left, unless the CA's own end is what caps it. */
    if (!l ||
        (l->not_after - now < (time_t)CA_LEAF_RENEW_DAYS * DAY_S && l->not_after < ca->not_after)) {
        time_t na;
        X509 *x = mint_leaf(ca, name, ip, iplen, &na, err);
        if (!x) return -1;
        if (l) {
            X509_free(l->cert);
        } else {
            size_t nlen = strlen(name);
            l = malloc(sizeof(*l) + nlen + 1);
            if (!l) {
                X509_free(x);
                return sbx_error(err, ENOMEM, "certificate cache");
            }
            memcpy(l->name, name, nlen + 1);
            l->hash = h;
            while (ca->n >= ca->limit && ca->tail)
                leaf_drop(ca, ca->tail);
            bucket = &ca->buckets[h & (CA_BUCKETS - 1)];
            l->hnext = *bucket;
            *bucket = l;
            l->prev = l->next = NULL;
            lru_push_front(ca, l);
            ca->n++;
        }
        l->cert = x;
        l->not_after = na;
    }
    if (ca->head != l) {
        lru_unlink(ca, l);
        lru_push_front(ca, l);
    }
    *cert = l->cert;
    *key = ca->leaf_key;
    return 0;
}

void ca_set_cache_limit(struct ca *ca, size_t limit)
{
    ca->limit = limit ? limit : 1;
    while (ca->n > ca->limit && ca->tail)
        leaf_drop(ca, ca->tail);
}

void ca_set_clock(struct ca *ca, time_t (*clock)(void))
{
    ca->clock = clock;
}

size_t ca_cache_size(const struct ca *ca)
{
    return ca->n;
}

SSL_CTX *ca_server_ctx(sbx_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ossl_error(err, "TLS server context");
        return NULL;
    }
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) || !SSL_CTX_set_num_tickets(ctx, 0)) {
        ossl_error(err, "TLS server context");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

int ca_ssl_use_host(struct ca *ca, SSL *ssl, const char *host, sbx_err *err)
{
    X509 *cert;
    EVP_PKEY *key;
    if (ca_leaf(ca, host, &cert, &key, err) < 0) return -1;
    if (SSL_use_cert_and_key(ssl, cert, key, ca->chain, 1) != 1)
        return ossl_error(err, "TLS: present the certificate for %s", host);
    return 0;
}
