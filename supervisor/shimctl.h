/* shimctl.h - sbxd's side of sbx-shim: spawn it unprivileged, hand it the
 * egress listeners and every session's policy (shim/ctl.h is the protocol),
 * restart it when it dies (sandboxes have no egress meanwhile: fail closed). */
#ifndef SBX_SHIMCTL_H
#define SBX_SHIMCTL_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"

struct sbxd;
struct session;

int shimctl_start(struct sbxd *d, sbx_err *err);
void shimctl_stop(struct sbxd *d);
/* Open listeners for the non-default ports a policy names (bounded). */
int shimctl_ensure_ports(struct sbxd *d, struct json_object *policy, sbx_err *err);
/* Tell the shim about a session or its new policy; when the shim runs, waits
 * (bounded) until it has applied it. */
int shimctl_session_set(struct sbxd *d, struct session *s, sbx_err *err);
/* The same for a new session, with its secrets (secrets.h shim form, values
 * included; NULL: none). Secrets need a running shim: without one this fails
 * (503) rather than create a session whose placeholders nothing replaces. */
int shimctl_session_create(struct sbxd *d, struct session *s, struct json_object *secrets,
                           sbx_err *err);
/* The node CA's certificate (PEM) the shim reported, or NULL (no network). */
const char *shimctl_ca_pem(struct sbxd *d);
void shimctl_session_remove(struct sbxd *d, struct session *s);
int shimctl_running(struct sbxd *d);
/* One acked control message (+ an fd, or -1) to a running shim; takes msg.
 * For ops of other modules (ports.c); 503 unavailable when it is not running. */
int shimctl_call(struct sbxd *d, struct json_object *msg, int fd, sbx_err *err);
/* Kill the shim: sbxd restarts it with the state it keeps (when the shim
 * could not be told something that must not stay as it was). */
void shimctl_kill(struct sbxd *d);

#endif
