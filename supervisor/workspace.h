/* workspace.h - named workspaces: a session's writable layer that outlives the
 * session (POST /v1/sessions {"workspace": "NAME"}, /v1/workspaces).
 *
 *   STATE/workspaces/NAME/upper            the overlay upper dir: everything the
 *                                          sandbox wrote anywhere in its root
 *   STATE/workspaces/NAME/work             overlayfs's work dir (it must be on the
 *                                          upper's mount), emptied for every session
 *   STATE/workspaces/NAME/workspace.json   {name, created_at, last_used_at, image,
 *                                          id_base: host id of sandbox id 0 on disk}
 *   STATE/workspaces/NAME/size             bytes its files use, measured in the
 *                                          background whenever a session lets go of it
 *   STATE/workspaces/.tmp-*, .trash/       creations and removals in progress
 *
 * A workspace is attached to at most one session: the live session whose
 * `workspace` names it (kept in the session's record, so a session taken over
 * after an sbxd restart keeps it, and one lost while sbxd was away lets go of
 * it: state.c). Sessions on any id range
 * attach it through an idmapped mount (wsrules.h, mounts.c); its files are
 * never rewritten. sbxd's start-up cleanup of STATE/sessions never touches
 * STATE/workspaces. */
#ifndef SBX_WORKSPACE_H
#define SBX_WORKSPACE_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct sbxd;
struct session;

/* What a session's sandbox mounts (sandbox_spec.workspace*). */
struct ws_attach {
    char path[4096]; /* STATE/workspaces/NAME */
    uid_t id_base;   /* host id of sandbox id 0 in its files */
    int created;     /* made for this session: a failed create removes it */
    uint32_t projid; /* its disk quota project (quota.h), workspace.json "projid" */
};

/* At start-up: make STATE/workspaces, probe idmapped mounts there, remove
 * creations and removals a previous sbxd left unfinished. */
int workspace_init(struct sbxd *d, sbx_err *err);
/* POST /v1/sessions "workspace": 400 naming the rule unless name is one. */
int workspace_parse_name(const char *name, sbx_err *err);
/* Before a session is made for NAME: 409 workspace_busy if a live session has
 * it, 503 workspaces_unsupported if the state dir cannot idmap. */
int workspace_check_free(struct sbxd *d, const char *name, sbx_err *err);
/* Open NAME (a fresh work dir), or create it with its files owned by the
 * range at id_base. */
int workspace_attach(struct sbxd *d, const char *name, uid_t id_base, struct ws_attach *a,
                     sbx_err *err);
/* The create failed after workspace_attach (its sandbox is gone): remove the
 * workspace if it was made for it; an existing one is left as it was. */
void workspace_attach_undo(struct sbxd *d, const struct ws_attach *a);
/* The session s (s->workspace) runs: record the use and its image. */
void workspace_attached(struct sbxd *d, const struct session *s);
/* The session s is gone: record the use, measure the size in the background. */
void workspace_detach(struct sbxd *d, const struct session *s);

/* NAME's disk quota project (quota.h), 0 if it has none. */
uint32_t workspace_projid(struct sbxd *d, const char *name);

/* GET /v1/workspaces: [{name, created_at, last_used_at, image, size_bytes, session}] */
struct json_object *workspace_list(struct sbxd *d);
/* GET /v1/workspaces/{name} */
int workspace_inspect(struct sbxd *d, const char *name, struct json_object **out, sbx_err *err);
/* DELETE /v1/workspaces/{name}: refused while attached; the files go in the
 * background. */
int workspace_remove(struct sbxd *d, const char *name, sbx_err *err);

#endif
