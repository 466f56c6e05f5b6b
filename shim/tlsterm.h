/* tlsterm.h - the sandbox side of a connection whose TLS the shim
 * terminates: an OpenSSL server session over memory BIOs, so the proxy keeps
 * doing its own nonblocking socket I/O and can hand OpenSSL the ClientHello
 * it already read while deciding the connection (proxy.c). */
#ifndef SBX_SHIM_TLSTERM_H
#define SBX_SHIM_TLSTERM_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

#define TLSTERM_OUT_MAX (256 * 1024) /* encrypted bytes queued for the client at most */

struct tlsterm;

/* Takes ssl (a server SSL with its certificate set). first: bytes already
 * read from the client (its ClientHello). NULL: out of memory. */
struct tlsterm *tlsterm_new(SSL *ssl, const void *first, size_t len);
void tlsterm_free(struct tlsterm *t);
/* Plaintext from the client: > 0 bytes; 0: the client closed (close_notify
 * or EOF); -EAGAIN: wait for fd readable (and flush); other < 0: failed
 * (tlsterm_error says why). Reads the socket as needed. */
ssize_t tlsterm_read(struct tlsterm *t, int fd, void *buf, size_t len);
/* Encrypt plaintext for the client: bytes taken (all, or 0 when the queue is
 * over TLSTERM_OUT_MAX: -EAGAIN), < 0 failed. Flushes what the socket takes. */
ssize_t tlsterm_write(struct tlsterm *t, int fd, const void *buf, size_t len);
/* Send queued bytes: 1 all out, 0 some left (wait for writable), < 0 failed. */
int tlsterm_flush(struct tlsterm *t, int fd);
size_t tlsterm_pending(const struct tlsterm *t);
/* Queue a close_notify (then flush). */
void tlsterm_close_notify(struct tlsterm *t);
int tlsterm_handshake_done(const struct tlsterm *t);
const char *tlsterm_error(const struct tlsterm *t);

#endif
