/* exec.h - processes started in a session, with their output streamed to
 * the HTTP client as NDJSON or binary frames. */
#ifndef SBX_EXEC_H
#define SBX_EXEC_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"
#include "server.h"
#include "session.h"

/* Parse the exec body and start it. On success the response is owned by the
 * exec (200 stream once the process runs, or a 400 if it cannot start).
 * On failure returns <0 with err set and nothing started. */
int exec_start(struct sbxd *d, struct session *s, struct conn *c, struct json_object *body,
               sbx_err *err);
/* A message from the session's init about exec `id`. */
void exec_on_started(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid);
void exec_on_failed(struct sbxd *d, struct session *s, uint32_t id, int errnum, const char *stage);
void exec_on_exited(struct sbxd *d, struct session *s, uint32_t id, int status);
/* The session is going away (destroyed or its init died): end every exec. */
void exec_abort_all(struct sbxd *d, struct session *s, const char *why);

#endif
