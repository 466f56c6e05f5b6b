/* secrets.h - secret placeholders in HTTP request heads: the sandbox's
 * environment holds NAME=<placeholder> (sbxd makes them), and the shim puts
 * the real value in place of a placeholder only in requests to that secret's
 * hosts, and only where a credential belongs: header values (inside Basic
 * credentials too), and the query string where the secret allows it. Anything
 * else that carries a known placeholder is refused. Pure logic: no I/O, no
 * globals; every buffer that held a value is wiped (explicit_bzero) before it
 * is freed. */
#ifndef SBX_SHIM_SECRETS_H
#define SBX_SHIM_SECRETS_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

#define SECRET_PLACEHOLDER_PREFIX "sbx_secret_"
#define SECRET_PLACEHOLDER_LEN 51 /* the prefix and 40 lower-case hex digits */
#define SECRETS_MAX 64
#define SECRET_NAME_MAX 63
#define SECRET_VALUE_MAX (16 * 1024)
#define SECRET_HOSTS_MAX 16
#define SECRETS_HEAD_OUT_MAX (1024 * 1024) /* a rewritten head is refused beyond this */

struct secret_host {
    char name[254]; /* normalised, without "*." (policy_parse_host_pattern) */
    int wildcard;   /* "*.name": strictly below name */
};

struct secret {
    char name[SECRET_NAME_MAX + 1]; /* the environment variable */
    char placeholder[SECRET_PLACEHOLDER_LEN + 1];
    unsigned char *value; /* NULL: not available (the shim restarted); owned, wiped on free */
    size_t value_len;
    int nhosts;
    struct secret_host hosts[SECRET_HOSTS_MAX];
    int query;   /* may also be put into the query string of the request-target */
    int require; /* requests to one of its hosts without its placeholder are refused */
};

struct secret_set {
    int n;
    struct secret *v; /* owned */
};

/* 1 when s is "sbx_secret_" followed by exactly 40 lower-case hex digits. */
int secret_placeholder_valid(const char *s);

/* The control-message form, strictly (unknown fields are errors):
 *   {"NAME": {"placeholder": "sbx_secret_...", "value": "..." | null,
 *             "hosts": ["api.example.com", "*.example.com"],
 *             "query": false, "require": false}, ...}
 * NAME [A-Za-z_][A-Za-z0-9_]{0,62}; at most 64 secrets, placeholders
 * distinct; value at most 16 KiB without CR, LF or NUL (absent = null = not
 * available); hosts 1-16 host patterns (the allow-list name syntax, no ports).
 * obj NULL gives an empty set. Errors: SBX_E_INVALID, code "invalid_secret",
 * naming the field (secrets["NAME"].hosts[1]: ...), never a value.
 * Whatever the outcome, every "value" string inside obj is wiped (zeroed in
 * place) before returning, so the JSON holds no copy; the text it was parsed
 * from, and any serialisation of obj made earlier, are the caller's to wipe.
 * On error *out is empty. */
int secrets_from_json(struct json_object *obj, struct secret_set *out, sbx_err *err);
/* Wipes the values and frees; *s is left empty. */
void secrets_free(struct secret_set *s);

/* Does one of s's host patterns match host (normalised here)? */
int secret_host_match(const struct secret *s, const char *host);

struct secrets_result {
    int deny;
    char reason[256]; /* why denied: names the secret, never holds a value */
    int ninjected;
    const char *injected[SECRETS_MAX]; /* names of the secrets put in (point into the set) */
};

/* Rewrite one complete HTTP/1.x request head (request line, header lines,
 * the empty line; lines end in CRLF, or a bare LF, and nothing follows the
 * empty line) bound for host (normalised). Every occurrence of a placeholder
 * of set is either replaced by its secret's value, or the request is denied:
 *   - in a header value, for a secret whose hosts match host and whose value
 *     is available: the value, as is;
 *   - inside the credentials of "Authorization: Basic" / "Proxy-Authorization:
 *     Basic": decoded, replaced, re-encoded (standard base64, padded);
 *   - in the query string of the request-target, when the secret also says
 *     "query": the value percent-encoded (all but unreserved characters);
 *   - anywhere else (path, method, version, header name), to a host that is
 *     not the secret's, or when its value is not available: denied.
 * Then a secret with "require" whose hosts match host and that was not put
 * in denies the request. Also denied: malformed heads (no empty line, bytes
 * after it, bare CR, NUL, obs-fold, a header line without ':', a bad request
 * line) and a rewritten head over SECRETS_HEAD_OUT_MAX. Strings of the
 * placeholder form that are not in set are left alone.
 * Allowed: *out = a new head (malloc'd, NUL-terminated, *outlen bytes without
 * that NUL; a copy when nothing was put in; release it with
 * secrets_free_head), res->injected lists the secrets put in. Only value bytes
 * change: header lines keep their order, case and line ends.
 * Denied: res->deny = 1, res->reason says why, *out = NULL, *outlen = 0.
 * Returns 0, or -1 with errno ENOMEM (then denied too, reason "out of memory"). */
int secrets_rewrite_head(const struct secret_set *set, const char *host, const char *head,
                         size_t len, char **out, size_t *outlen, struct secrets_result *res);
/* explicit_bzero(head, len) and free. NULL is fine. */
void secrets_free_head(char *head, size_t len);

/* The secret whose placeholder occurs first in buf, or NULL (for bytes that
 * are not rewritten: plain streams, hosts no secret names). */
const struct secret *secrets_find_placeholder(const struct secret_set *set, const void *buf,
                                              size_t len);

#endif
