/* exec.h - processes started in a session: foreground execs with their
 * output streamed to the HTTP client (NDJSON or binary frames), background
 * ones with their output kept in a ring buffer, ttys; and taking processes
 * over from init after an sbxd restart. */
#ifndef SBX_EXEC_H
#define SBX_EXEC_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"
#include "server.h"
#include "session.h"

/* Parse the exec body and start it. On success the response is owned by the
 * exec (200 stream or 201 for a background process once it runs, or a 400
 * if it cannot start). On failure returns <0 with err set, nothing started. */
int exec_start(struct sbxd *d, struct session *s, struct conn *c, struct json_object *body,
               sbx_err *err);
/* Messages from the session's init about exec `id`. exec_on_started takes
 * pty_fd (the pty master of a tty exec, else -1). */
void exec_on_started(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid, int pty_fd);
void exec_on_failed(struct sbxd *d, struct session *s, uint32_t id, int errnum, const char *stage);
void exec_on_exited(struct sbxd *d, struct session *s, uint32_t id, int status);
/* IP_ADOPT from init after a restart: take the process (and its kept fds,
 * which this consumes) over. An exec stream that was open gets a final
 * "supervisor_restarted" event. */
void exec_adopt(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid, uint32_t flags,
                uint32_t keep, int exited, int status, const char *meta, int *fds, int nfds);
/* The session is going away or its init died: every running process ends. */
void exec_abort_all(struct sbxd *d, struct session *s, const char *why);
/* sbxd exits and leaves the session running: end open exec streams with a
 * "supervisor_restarted" event (init keeps the processes). */
void exec_detach_all(struct sbxd *d, struct session *s);
/* Free the session's process table (after exec_abort_all or detach). */
void exec_free_all(struct sbxd *d, struct session *s);
/* An exec stream, a logs follower or a wait is open (activity). */
int exec_session_busy(struct session *s);
/* /v1/sessions/{id}/processes[/{pid}[/{action}]] */
void procapi_dispatch(struct conn *c, struct session *s, const char *pid, const char *action);

#endif
