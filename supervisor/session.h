/* session.h - the session table and a session's lifecycle:
 * create (cgroup, workspace, sandbox), inspect, destroy, TTL, death of init. */
#ifndef SBX_SESSION_H
#define SBX_SESSION_H

#include <json-c/json.h>
#include <time.h>

#include "cgroup.h"
#include "error.h"
#include "limits.h"
#include "sandbox.h"
#include "sbxd.h"

struct exec;
struct port_expo;

enum session_state { S_WARM, S_RUNNING, S_DEAD, S_REMOVING };

struct session {
    char id[13];
    char image[129];
    char image_id[72]; /* "sha256:..." for store images, "" for directory images */
    char image_rootfs[4096]; /* overlayfs lower layers, top first, ':'-separated */
    char ws_dir[4096];
    char workspace[64]; /* the named workspace attached (workspace.h), or "" */
    struct limits limits;
    struct json_object *env;    /* {"K": "V"} */
    struct json_object *labels; /* {"k": "v"} */
    struct json_object *policy; /* egress policy, canonical form (policy_to_json) */
    struct json_object *secrets; /* secrets.h metadata (never values), or NULL */
    int net_attached;           /* veth to the egress namespace exists */
    int64_t ttl;
    int64_t idle_timeout; /* seconds without activity before the session is removed; 0 = never */
    double last_active;   /* monotonic: the last request about it, or an open stream */
    uint64_t init_start;  /* init's start time (sandbox_starttime): with its pid, names it */
    time_t created, expires;
    int slot;
    uid_t id_base;
    struct cg cg;
    struct sandbox sb;
    enum session_state state;
    struct event *ctl_ev, *pidfd_ev, *ttl_ev, *idle_ev;
    int warm_ready; /* S_WARM: the setup child reported WARM */
    struct port_expo *ports; /* exposed ports (ports.h), in the order exposed */
    unsigned nports;
    struct exec *execs;
    unsigned nexecs;
    uint32_t next_exec_id;
    struct session *next;
};

struct session_create_req {
    const char *image;
    struct limits limits;
    struct json_object *env, *labels; /* borrowed */
    struct json_object *policy;        /* owned: canonical egress policy */
    struct json_object *secrets_shim;  /* owned: secrets with values, for the shim (secrets.h) */
    struct json_object *secrets_meta;  /* owned: the same without values */
    int64_t ttl, idle_timeout;
    const char *workspace; /* borrowed; NULL: none */
};

/* Parse "network" (an inline policy, or {"policy": "NAME"} naming
 * <policy-dir>/NAME.json) into the canonical policy JSON. */
int session_parse_network(struct sbxd *d, struct json_object *net, const char *where,
                          struct json_object **out, sbx_err *err);
/* PATCH /v1/sessions/{id}/network */
int session_set_network(struct sbxd *d, struct session *s, struct json_object *policy,
                        sbx_err *err);

/* Parse and validate a POST /v1/sessions body. */
int session_parse_create(struct sbxd *d, struct json_object *body, struct session_create_req *req,
                         sbx_err *err);
/* Release what session_parse_create made (wiping secret values). */
void session_create_req_free(struct session_create_req *req);
int session_create(struct sbxd *d, const struct session_create_req *req, struct session **out,
                   sbx_err *err);
struct session *session_find(struct sbxd *d, const char *id);
/* Kill everything and remove all traces. Always completes (logs leftovers). */
void session_destroy(struct sbxd *d, struct session *s);
struct json_object *session_to_json(struct sbxd *d, struct session *s);
/* At start-up, after state_restore_all: remove the cgroups and workspaces a
 * previous sbxd left behind that belong to no session. */
void session_cleanup_stale(struct sbxd *d);
/* A request about the session, or POST …/keepalive: it is not idle. */
void session_touch(struct session *s);
/* For state.c: an empty session to fill from a record, and taking it over
 * (0, and it is in the session table) or cleaning up after it (-1, freed). */
struct session *session_blank(void);
void session_blank_free(struct session *s);
int session_restore(struct sbxd *d, struct session *s);
/* Sessions found dead at start-up: their id and why (GET answers 410). */
const struct lost_session *session_lost_find(struct sbxd *d, const char *id);
void session_lost_forget(struct sbxd *d, const char *id);
void session_lost_free(struct sbxd *d);
/* sbxd exits and leaves its sessions running for the next one. */
void session_leave_all(struct sbxd *d);
/* Keep d->cfg.warm sandboxes prepared (asynchronously); free them at exit. */
void session_pool_fill(struct sbxd *d);
void session_pool_drain(struct sbxd *d);
unsigned session_pool_ready(struct sbxd *d);

#endif
