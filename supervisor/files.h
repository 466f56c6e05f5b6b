/* files.h - the session file API (docs/api.md "Files").
 *
 *   GET    /v1/sessions/{id}/files?path=P                 the bytes of a regular file (streamed)
 *   PUT    /v1/sessions/{id}/files?path=P[&mode=0644][&parents=1]   replace/create it (streamed body)
 *   DELETE /v1/sessions/{id}/files?path=P[&recursive=1]
 *   GET    /v1/sessions/{id}/files/stat?path=P
 *   GET    /v1/sessions/{id}/files/list?path=P[&depth=N]
 *   POST   /v1/sessions/{id}/files/mkdir?path=P[&parents=1]
 *   POST   /v1/sessions/{id}/files/rename?from=A&to=B[&overwrite=1]
 *   every one also takes user=root (default: the sandbox user, uid 1000).
 *
 * Each request runs in a worker process that sbxd forks and that, before it
 * touches any path, joins the sandbox's user and mount namespaces and becomes
 * the sandbox's user with no capabilities (or the sandbox's root with its
 * reduced set), non-dumpable, with no_new_privs (supervisor/fileops.c does the
 * work). Paths are therefore resolved exactly as sandboxed code would resolve
 * them: whatever symlinks, "..", hard links or races the sandbox sets up, a
 * request can reach nothing the sandbox's user could not, and files it creates
 * belong to that user. sbxd itself never opens a path inside a sandbox.
 * The worker joins the sandbox with enter.c; sbjob.c runs and relays it. */
#ifndef SBX_FILES_H
#define SBX_FILES_H

#include "server.h"
#include "session.h"

/* From api_head: PUT .../files streams its body (1), or refuses (-1). */
int files_put_begin(struct conn *c, struct session *s);
/* The other routes (body already read). sub: NULL, "stat", "list", "mkdir", "rename". */
void files_dispatch(struct conn *c, struct session *s, const char *sub);
/* The session is going away: kill its workers, and every other sbjob of it
 * (archives), whose requests get 409 (session.c calls this). */
void files_abort_session(struct sbxd *d, struct session *s);
void files_stop_all(struct sbxd *d);

#endif
