/* ca.h - the per-node certificate authority of sbx-shim and the leaf
 * certificates it mints for the hosts whose TLS the shim terminates.
 *
 * Every sandbox trusts the CA certificate (ca_cert_pem); the shim presents,
 * for the name a client asked for, a leaf signed by the CA. The CA lives in
 * a directory as ca-key.pem (0600) and ca.pem, created on first use. All
 * leaves share one EC P-256 key made at ca_open (in memory only); leaves are
 * cached by name (case-insensitive), least recently used evicted first.
 *
 * Not thread-safe: one struct ca per event loop. */
#ifndef SBX_SHIM_CA_H
#define SBX_SHIM_CA_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

#define CA_LEAF_CACHE 4096   /* leaves kept */
#define CA_LEAF_DAYS 30      /* a leaf's lifetime (never past the CA's) */
#define CA_LEAF_RENEW_DAYS 7 /* a cached leaf with less left is minted anew */
#define CA_HOST_MAX 253      /* longest DNS name accepted */
#define CA_KEY_FILE "ca-key.pem"
#define CA_CERT_FILE "ca.pem"

struct ca;

/* Load DIR/ca-key.pem + DIR/ca.pem, or create both when neither exists (DIR
 * itself is created 0700 when missing). Refuses a key file with any group or
 * other permission bits, a DIR writable by others, a key that does not match
 * the certificate, a certificate that is not a CA or has expired, and one of
 * the two files without the other; the message says how to fix it. */
int ca_open(struct ca **out, const char *dir, sbx_err *err);
void ca_free(struct ca *ca);

/* The CA certificate, PEM (what sandboxes install as a trust anchor). */
const char *ca_cert_pem(const struct ca *ca);
X509 *ca_cert(const struct ca *ca); /* borrowed */

/* The leaf for host: a DNS name (SAN DNS:host; lower-cased, one trailing dot
 * dropped; no wildcards) or an IPv4/IPv6 literal (SAN IP; "[v6]" accepted).
 * *cert and *key are borrowed: valid until the next ca_leaf (or
 * ca_ssl_use_host, ca_set_cache_limit) call that evicts or re-mints, so use
 * them at once (SSL_use_certificate takes its own reference). A bad host name
 * is SBX_E_INVALID. */
int ca_leaf(struct ca *ca, const char *host, X509 **cert, EVP_PKEY **key, sbx_err *err);

/* How many leaves the cache keeps (default CA_LEAF_CACHE, at least 1);
 * evicts down to it at once. For tests. */
void ca_set_cache_limit(struct ca *ca, size_t limit);
size_t ca_cache_size(const struct ca *ca);
/* The clock leaves are minted and renewed by (default NULL: time()). For tests. */
void ca_set_clock(struct ca *ca, time_t (*clock)(void));

/* A server-side SSL_CTX for terminated connections: TLS 1.2 and up, OpenSSL's
 * default ciphers, no ALPN (clients fall back to HTTP/1.1), no session
 * tickets or session cache, SSL_MODE_RELEASE_BUFFERS and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER. No certificate: see ca_ssl_use_host. */
SSL_CTX *ca_server_ctx(sbx_err *err);

/* Make ssl (from ca_server_ctx) present host's leaf with the CA in the chain. */
int ca_ssl_use_host(struct ca *ca, SSL *ssl, const char *host, sbx_err *err);

#endif
