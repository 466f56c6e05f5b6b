/* sni.h - the server name of a TLS ClientHello, read by OpenSSL itself.
 *
 * The bytes the client sent so far go into a throw-away server-side SSL
 * object through a memory BIO; a client_hello callback picks the
 * server_name extension and aborts the handshake, so nothing is ever
 * answered and no certificate is needed. A ClientHello spread over several
 * TLS records or several reads is handled by calling again with all the bytes
 * received so far (OpenSSL reassembles). No I/O, no state between calls. */
#ifndef SBX_SHIM_SNI_H
#define SBX_SHIM_SNI_H

#include <stddef.h>
#include <stdint.h>

enum sni_status {
    SNI_MORE = 0, /* a ClientHello so far: send more bytes */
    SNI_FOUND,    /* out holds the host_name (raw: not normalised) */
    SNI_ABSENT,   /* a complete ClientHello without server_name */
    SNI_BAD_NAME, /* a server_name that is not a printable host name */
    SNI_INVALID,  /* not a TLS ClientHello */
};

/* 1 when buf starts like a TLS handshake record (0x16 0x03 ...); needs 1 byte. */
int sni_is_tls(const uint8_t *buf, size_t len);
enum sni_status sni_extract(const uint8_t *buf, size_t len, char *out, size_t cap);
const char *sni_status_str(enum sni_status s);

#endif
