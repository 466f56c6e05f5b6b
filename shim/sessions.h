/* sessions.h - the shim's sessions: keyed by the sandbox's IPv4 address (the
 * source address of every packet from it, which the sandbox cannot change),
 * each with its policy, labels, fake-address map (fakenet.h), quota counters
 * (quota.h) and open connections (proxy.c). */
#ifndef SBX_SHIM_SESSIONS_H
#define SBX_SHIM_SESSIONS_H

#include <json-c/json.h>
#include <netinet/in.h>
#include <stdint.h>

#include "error.h"
#include "fakenet.h"
#include "policy.h"
#include "quota.h"
#include "secrets.h"

#define SESSION_ID_MAX 128

struct conn;

struct session {
    char id[SESSION_ID_MAX + 1];
    uint32_t addr; /* network byte order */
    char addr_str[INET_ADDRSTRLEN];
    struct json_object *labels; /* an object, owned (never NULL) */
    struct policy *pol;         /* owned; replaced whole on "session" for a known id */
    struct fakenet fake;
    struct quota_state quota;
    struct secret_set secrets; /* values held in memory only, wiped at removal */
    struct conn *conns; /* open connections (proxy.c links them) */
    struct session *hnext, *next;
};

/* NULL when no session has that source address (network byte order). */
struct session *session_by_addr(uint32_t addr);
struct session *session_by_id(const char *id);
/* Add a session, or replace the policy (and labels) of a known id. Takes
 * ownership of pol and of a reference to labels (also on error). A known id
 * must keep its address; an address may belong to one session only.
 * secrets: replaces the session's (moved out of *secrets on success); NULL
 * keeps them. */
int session_put(const char *id, uint32_t addr, struct json_object *labels, struct policy *pol,
                struct secret_set *secrets, sbx_err *err);
/* Close the session's connections and forget it. */
void session_remove(struct session *s);
int session_count(void);

#endif
