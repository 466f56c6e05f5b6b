/* sni.c - TLS ClientHello server_name via OpenSSL. See sni.h. */
#include "sni.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <string.h>

struct sni_cb_state {
    int called;
    enum sni_status status;
    char *out;
    size_t cap;
};

static int g_idx = -1;
static SSL_CTX *g_ctx;

/* The server_name extension body: list length (2), then entries of
 * type (1), length (2), name. Only host_name (type 0) counts (RFC 6066). */
static enum sni_status parse_server_name(const unsigned char *p, size_t len, char *out, size_t cap)
{
    if (len < 2) return SNI_BAD_NAME;
    size_t list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len) return SNI_BAD_NAME;
    p += 2;
    while (list >= 3) {
        unsigned type = p[0];
        size_t n = (size_t)p[1] << 8 | p[2];
        if (n + 3 > list) return SNI_BAD_NAME;
        if (type == TLSEXT_NAMETYPE_host_name) {
            if (n == 0 || n >= cap) return SNI_BAD_NAME;
            for (size_t i = 0; i < n; i++)
                if (p[3 + i] <= 0x20 || p[3 + i] >= 0x7f) return SNI_BAD_NAME;
            memcpy(out, p + 3, n);
            out[n] = '\0';
            return SNI_FOUND;
        }
        p += 3 + n;
        list -= 3 + n;
    }
    return list ? SNI_BAD_NAME : SNI_ABSENT;
}

static int hello_cb(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    struct sni_cb_state *st = SSL_get_ex_data(ssl, g_idx);
    const unsigned char *p;
    size_t len;
    st->called = 1;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len))
        st->status = parse_server_name(p, len, st->out, st->cap);
    else
        st->status = SNI_ABSENT;
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR; /* stop here: we only wanted to look */
}

static int init_ctx(void)
{
    if (g_ctx) return 0;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return -1;
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_max_proto_version(ctx, 0);
    SSL_CTX_set_client_hello_cb(ctx, hello_cb, NULL);
    g_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    if (g_idx < 0) {
        SSL_CTX_free(ctx);
        return -1;
    }
    g_ctx = ctx;
    return 0;
}

int sni_is_tls(const uint8_t *buf, size_t len)
{
    if (len < 1 || buf[0] != 0x16) return 0;
    return len < 2 || buf[1] == 0x03;
}

enum sni_status sni_extract(const uint8_t *buf, size_t len, char *out, size_t cap)
{
    if (!sni_is_tls(buf, len)) return SNI_INVALID;
    if (len < 5) return SNI_MORE;
    if (init_ctx() < 0) {
        ERR_clear_error();
        return SNI_INVALID;
    }
    enum sni_status ret = SNI_INVALID;
    struct sni_cb_state st = {.status = SNI_INVALID, .out = out, .cap = cap};
    SSL *ssl = SSL_new(g_ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (!ssl || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        ERR_clear_error();
        return SNI_INVALID;
    }
    BIO_set_mem_eof_return(rbio, -1); /* empty = "no more yet", not EOF */
    if (BIO_write(rbio, buf, (int)len) != (int)len) goto out;
    SSL_set_bio(ssl, rbio, wbio); /* ssl owns both now */
    rbio = wbio = NULL;
    SSL_set_ex_data(ssl, g_idx, &st);
    int r = SSL_accept(ssl);
    if (st.called)
        ret = st.status;
    else if (r <= 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
        ret = SNI_MORE;
out:
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl);
    ERR_clear_error();
    return ret;
}

const char *sni_status_str(enum sni_status s)
{
    switch (s) {
    case SNI_MORE:
        return "incomplete TLS ClientHello";
    case SNI_FOUND:
        return "TLS ClientHello with SNI";
    case SNI_ABSENT:
        return "TLS ClientHello without SNI";
    case SNI_BAD_NAME:
        return "TLS ClientHello with a malformed SNI";
    default:
        return "malformed TLS ClientHello";
    }
}
