/* upstream.h - HTTPS connections from the shim to the internet for hosts
 * whose TLS the shim terminates (docs/secrets.md), made by libcurl.
 *
 * libcurl connects and does the TLS handshake (CURLOPT_CONNECT_ONLY) with full
 * certificate verification for the host name, on the libevent loop through
 * curl's multi-socket interface. It connects to exactly the addresses the
 * shim checked (CURLOPT_CONNECT_TO with the literal address, and an
 * open-socket callback that refuses any other), never resolving anything
 * itself, never through a proxy, with ALPN off (the shim relays HTTP/1.1).
 * Afterwards the connection carries raw bytes: curl_easy_send/recv. */
#ifndef SBX_SHIM_UPSTREAM_H
#define SBX_SHIM_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "error.h"

struct upstream;

/* error NULL: connected (upstream_fd, send, recv work). Else a one-line
 * reason; verify_failed: the server's certificate was refused. Called once,
 * from the event loop (never from upstream_connect itself). */
typedef void (*upstream_cb)(void *arg, const char *error, int verify_failed);

/* ca_file: a PEM bundle that replaces the system's trust store (tests,
 * private upstreams), or NULL. */
int upstream_init(const char *ca_file, sbx_err *err);
/* The same trust as PEM text (sbxd sends it: {"op":"trust"}); replaces a
 * ca_file. Applies to connections made afterwards. */
int upstream_set_ca_pem(const char *pem, size_t len, sbx_err *err);
void upstream_shutdown(void);

/* Connect to host:port at addrs[0..n) in order (the next one when a connect
 * fails; not when the certificate is refused). NULL: out of memory. */
struct upstream *upstream_connect(const char *host, uint16_t port,
                                  const struct sockaddr_storage *addrs, int n, upstream_cb cb,
                                  void *arg);
/* The socket to poll once connected; -1 before. */
int upstream_fd(const struct upstream *u);
/* The address connected to ("" before). */
const char *upstream_addr(const struct upstream *u);
/* >= 0: bytes sent; -EAGAIN: wait for upstream_fd writable; other < 0: failed. */
ssize_t upstream_send(struct upstream *u, const void *buf, size_t len);
/* > 0 bytes; 0: the server closed; -EAGAIN: wait for readable; < 0: failed.
 * Call until -EAGAIN before waiting: TLS may hold decrypted bytes. */
ssize_t upstream_recv(struct upstream *u, void *buf, size_t len);
/* Cancels a connect in progress (cb is not called) and closes. */
void upstream_free(struct upstream *u);

#endif
