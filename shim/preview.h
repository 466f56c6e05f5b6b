/* preview.h - the pure logic of preview ingress (ingress.c does the I/O):
 * which preview a Host names, the token in a URL's query or in a cookie,
 * and the request head as the sandbox's app gets it (no token in it).
 *
 *   Host     <port>-<session id>.<domain>[:anyport], case-insensitive;
 *            port 1..65535 without leading zeros, id 12 hex digits
 *   URL      ?sbx_token=<token> on a first visit (every sbx_token parameter
 *            is removed from the URL the client is sent back to)
 *   Cookie   sbx_preview_<port>=<token> on later requests
 * Tokens are compared in constant time. No I/O, no allocation. */
#ifndef SBX_SHIM_PREVIEW_H
#define SBX_SHIM_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#define PREVIEW_ID_LEN 12
#define PREVIEW_TOKEN_MAX 128
#define PREVIEW_DOMAIN_MAX 200
#define PREVIEW_HOST_MAX 256
/* What preview_rewrite_head() may add to a head: the headers it appends. */
#define PREVIEW_HEAD_EXTRA (2 * PREVIEW_HOST_MAX + 128)

/* host: the Host header without its port (httpflow's info.host). 0 and
 * *port, id (lowercase, NUL-terminated) when it names a preview under domain
 * (lowercase), else -1. */
int preview_parse_host(const char *host, const char *domain, uint16_t *port,
                       char id[PREVIEW_ID_LEN + 1]);

/* 1 when a (alen bytes) equals the NUL-terminated token b; the time taken
 * does not depend on where they differ. */
int preview_token_eq(const char *a, size_t alen, const char *b);

/* A request target (origin-form "/path?query", url_len bytes). Returns 1 and
 * *tok and *tok_len (the first sbx_token parameter's value, pointing into url)
 * when the query has an sbx_token parameter, with out (cap bytes, at least
 * url_len + 1) the target without any sbx_token parameter ("?" dropped when
 * nothing is left); 0 when it has none (out untouched). */
int preview_query_token(const char *url, size_t url_len, char *out, size_t cap, const char **tok,
                        size_t *tok_len);

/* A valid token alphabet and length (what sbxd makes: 64 hex digits; the
 * shim accepts 16..PREVIEW_TOKEN_MAX of [A-Za-z0-9_-]). */
int preview_token_valid(const char *t);

struct preview_head {
    int folded;                      /* a header continued on the next line (obsolete folding) */
    int cookie_ok;                   /* a sbx_preview_<port> cookie carries the token */
    int host_headers;                /* Host headers seen */
    char host_raw[PREVIEW_HOST_MAX]; /* the Host header's value as sent, trimmed ("" if none) */
};

/* Rewrite a request head (the request line, the header lines and the empty
 * line, exactly as read; CR LF or LF line ends; CR/LF before the request
 * line skipped) into out (room for 2 * len + PREVIEW_HEAD_EXTRA): every
 * sbx_preview_* pair is removed from Cookie headers (a Cookie header left
 * empty is dropped), X-Forwarded-Host and X-Forwarded-Proto headers of the
 * client are dropped, "X-Forwarded-Host: <Host>" and "X-Forwarded-Proto:
 * http" are appended; lines end in CR LF; everything else is kept as it
 * was. ph says whether a sbx_preview_<port> cookie carried token (NULL
 * token: never). Returns the length written. */
size_t preview_rewrite_head(const char *head, size_t len, uint16_t port, const char *token,
                            char *out, struct preview_head *ph);

#endif
