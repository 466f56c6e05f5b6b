/* tlsterm.c - see tlsterm.h. */
#include "tlsterm.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tlsterm {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    int eof;          /* the socket said EOF */
    char err[200];
};

struct tlsterm *tlsterm_new(SSL *ssl, const void *first, size_t len)
{
    struct tlsterm *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty = retry, not EOF */
    SSL_set_bio(ssl, t->rbio, t->wbio);
    SSL_set_accept_state(ssl);
    t->ssl = ssl;
    if (len && BIO_write(t->rbio, first, (int)len) != (int)len) {
        tlsterm_free(t);
        return NULL;
    }
    return t;
}

void tlsterm_free(struct tlsterm *t)
{
    if (!t) return;
    SSL_free(t->ssl); /* frees the BIOs */
    free(t);
}

static void set_err(struct tlsterm *t, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";
    if (e) ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(t->err, sizeof(t->err), "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

int tlsterm_flush(struct tlsterm *t, int fd)
{
    for (;;) {
        char *p;
        long n = BIO_get_mem_data(t->wbio, &p);
        if (n <= 0) return 1;
        ssize_t w = send(fd, p, (size_t)n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return 0;
        if (w <= 0) {
            snprintf(t->err, sizeof(t->err), "client write: %s", strerror(w < 0 ? errno : EPIPE));
            return -1;
        }
        char sink[16384];
        for (size_t left = (size_t)w; left;) { /* consume what went out */
            int k = BIO_read(t->wbio, sink, left < sizeof(sink) ? (int)left : (int)sizeof(sink));
            if (k <= 0) break;
            left -= (size_t)k;
        }
        explicit_bzero(sink, sizeof(sink));
    }
}

size_t tlsterm_pending(const struct tlsterm *t)
{
    return (size_t)BIO_ctrl_pending(t->wbio);
}

/* Move what the socket has into the read BIO: 1 some, 0 EAGAIN, -1 EOF/error. */
static int fill(struct tlsterm *t, int fd)
{
    char buf[16384];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) {
        t->eof = 1;
        if (n < 0) snprintf(t->err, sizeof(t->err), "client read: %s", strerror(errno));
        return -1;
    }
    BIO_write(t->rbio, buf, (int)n);
    return 1;
}

ssize_t tlsterm_read(struct tlsterm *t, int fd, void *buf, size_t len)
{
    for (int round = 0; round < 64; round++) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, n);
        if (tlsterm_flush(t, fd) < 0) return -EIO; /* handshake records, alerts */
        if (n > 0) return n;
        switch (e) {
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        case SSL_ERROR_WANT_READ: {
            if (t->eof) return 0;
            int f = fill(t, fd);
            if (f == 0) return -EAGAIN;
            if (f < 0) return t->err[0] ? -EIO : 0;
            continue;
        }
        case SSL_ERROR_WANT_WRITE:
            return -EAGAIN;
        default:
            set_err(t, SSL_is_init_finished(t->ssl) ? "TLS" : "TLS handshake with the sandbox");
            return -EIO;
        }
    }
    return -EAGAIN;
}

ssize_t tlsterm_write(struct tlsterm *t, int fd, const void *buf, size_t len)
{
    if (tlsterm_flush(t, fd) < 0) return -EIO;
    if (tlsterm_pending(t) >= TLSTERM_OUT_MAX) return -EAGAIN;
    if (len == 0) return 0;
    if (len > 65536) len = 65536;
    ERR_clear_error();
    int n = SSL_write(t->ssl, buf, (int)len);
    if (n <= 0) {
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return -EAGAIN;
        set_err(t, "TLS write");
        return -EIO;
    }
    if (tlsterm_flush(t, fd) < 0) return -EIO;
    return n;
}

void tlsterm_close_notify(struct tlsterm *t)
{
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

int tlsterm_handshake_done(const struct tlsterm *t)
{
    return SSL_is_init_finished(t->ssl);
}

const char *tlsterm_error(const struct tlsterm *t)
{
    return t->err[0] ? t->err : "TLS error";
}
