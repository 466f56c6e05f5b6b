/* audit.h - the egress audit log: one JSON object per line, one write(2) per
 * line, to an O_APPEND file descriptor (sbxd opens /var/log/sbx/egress.jsonl
 * for the shim; --audit PATH / --audit-fd N).
 *
 * Every line has every field below (null when it does not apply), in this
 * order, so that `jq` filters need no guards:
 *
 *   time             RFC 3339, UTC, microseconds: "2026-11-25T04:49:23.123456Z"
 *   event            "query"   a DNS question answered (proto "dns")
 *                    "connect" a TCP connection decided (proto "tls" or "tcp";
 *                              plain HTTP connections have no connect line:
 *                              their decisions are the "request" lines)
 *                    "request" one HTTP request on a plain-HTTP connection
 *                    "close"   an allowed connection ended: bytes and duration
 *                    "preview" one request from a browser to a preview (ingress.c):
 *                              decision "allow" (let through, or 302 for a good
 *                              sbx_token) or "deny" (400/401/404/405), status
 *                              the status the browser got (502/503: the app
 *                              could not be reached); src is the browser's
 *                              address, dst_addr the session's, port the
 *                              exposed port; never the token
 *   conn             connection number (ties connect/request/close lines together;
 *                    preview connections are numbered from 2^40)
 *   session, labels  the session (null, null when the source address is unknown)
 *   proto            "dns" | "tcp" | "tls" | "http" | "https" (TLS the shim
 *                    terminated: every request is seen, like "http")
 *   src              the sandbox's address
 *   requested_host   DNS question, SNI, Host header, or the DNS name behind the
 *                    fake address dialled when the client said nothing
 *   port             destination port (53 for DNS)
 *   dst_addr         the address the sandbox dialled (or sent its query to)
 *   resolved_addr    the upstream address the shim connected to
 *   qtype, answer    DNS only: question type, the fake address answered
 *   method, path     HTTP only (path without the query string)
 *   decision         "allow" | "deny" | "report" (report mode: let through,
 *                    enforce would have denied)
 *   reason, rule     why; the policy entry that matched (as written)
 *   secrets          names of the secrets injected into the request (request
 *                    lines of terminated HTTPS; never a value), else null
 *   status           HTTP status the client got (request lines)
 *   bytes_in         upstream -> sandbox, bytes_out sandbox -> upstream,
 *   duration_ms      close lines (and request lines: time to response head)
 *   enforce_would_deny  true exactly when decision is "report"
 *
 * Never a secret value, never a body, never a query string. */
#ifndef SBX_SHIM_AUDIT_H
#define SBX_SHIM_AUDIT_H

#include <stdint.h>

#include <json-c/json.h>

struct audit_rec {
    const char *event;
    uint64_t conn; /* 0 = null */
    const char *session;
    struct json_object *labels;
    const char *proto;
    const char *src;
    const char *requested_host;
    int port; /* < 0 = null */
    const char *dst_addr;
    const char *resolved_addr;
    const char *qtype, *answer;
    const char *method, *path;
    const char *decision;
    const char *reason, *rule;
    const char *secrets; /* "NAME,NAME" injected, or NULL */
    int status;                               /* 0 = null */
    int64_t bytes_in, bytes_out, duration_ms; /* < 0 = null */
};

/* A record with every optional field null. */
#define AUDIT_REC_INIT                                                                             \
    {                                                                                              \
        .port = -1, .bytes_in = -1, .bytes_out = -1, .duration_ms = -1                             \
    }

/* fd: O_APPEND is set on it if missing. */
void audit_init(int fd);
void audit_write(const struct audit_rec *r);
/* The line audit_write() would write (no newline), for tests. Caller frees. */
char *audit_format(const struct audit_rec *r);

#endif
