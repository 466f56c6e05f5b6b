/* api.c - routes -> operations. Validation of bodies lives with the
 * operation (session.c, exec.c); no isolation logic here. */
#include "api.h"

#include <string.h>

#include "archives.h"
#include "exec.h"
#include "files.h"
#include "imgimport.h"
#include "imgstore.h"
#include "json.h"
#include "log.h"
#include "ports.h"
#include "server.h"
#include "session.h"
#include "util.h"
#include "workspace.h"

static int is_session_id(const char *s)
{
    if (strlen(s) != 12) return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

static void method_not_allowed(struct conn *c, const char *allowed)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "method %s not allowed here; use %s",
             http_method_str((enum http_method)c->req.method), allowed);
    conn_respond_error3(c, 405, "method_not_allowed", msg);
}

static void not_found_session(struct conn *c, const char *id)
{
    const struct lost_session *l = session_lost_find(g_sbxd, id);
    if (l) {
        char t[32], lmsg[600];
        fmt_time_utc(l->at, t, sizeof(t));
        snprintf(lmsg, sizeof(lmsg),
                 "session %s is gone: its sandbox died while sbxd was not running (%s); sbxd "
                 "found it at start-up (%s) and removed what was left of it",
                 l->id, l->why, t);
        return conn_respond_error3(c, 410, "session_lost", lmsg);
    }
    char msg[200];
    snprintf(msg, sizeof(msg), "no session \"%.64s\" (list sessions with GET /v1/sessions)", id);
    conn_respond_error3(c, 404, "not_found", msg);
}

static void health(struct conn *c)
{
    struct sbxd *d = g_sbxd;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_string(SBX_VERSION));
    json_object_object_add(o, "cgroup", json_object_new_string(cg_mode_name(d->cg.mode)));
    json_object_object_add(o, "sessions", json_object_new_int((int)d->nsessions));
    json_object_object_add(o, "execs", json_object_new_int((int)d->nexecs));
    json_object_object_add(o, "warm", json_object_new_int((int)session_pool_ready(d)));
    json_object_object_add(o, "idmapped_images", json_object_new_boolean(d->idmap));
    json_object_object_add(o, "uptime", json_object_new_double(now_mono() - d->started));
    json_object_object_add(o, "preview", preview_health(d));
    struct json_object *q = json_object_new_object();
    json_object_object_add(q, "mode", json_object_new_string(quota_mode_name(d->quota.mode)));
    json_object_object_add(q, "volume", json_object_new_boolean(d->quota.volume));
    json_object_object_add(
        q, "reason", d->quota.mode == QUOTA_PROJECT ? NULL : json_object_new_string(d->quota.why));
    json_object_object_add(o, "disk_quota", q);
    conn_respond(c, 200, o);
}


static void create_session(struct conn *c)
{
    _cleanup_json_ struct json_object *body = NULL;
    if (conn_body_json(c, &body) < 0) return;
    struct session_create_req req;
    struct session *s;
    sbx_err err;
    int r = session_parse_create(g_sbxd, body, &req, &err);
    if (r == 0) r = session_create(g_sbxd, &req, &s, &err);
    session_create_req_free(&req);
    if (r < 0) {
        conn_respond_error(c, &err);
        return;
    }
    conn_respond(c, 201, session_to_json(g_sbxd, s));
}

static void list_sessions(struct conn *c)
{
    struct json_object *arr = json_object_new_array();
    for (struct session *s = g_sbxd->sessions; s; s = s->next)
        json_object_array_add(arr, session_to_json(g_sbxd, s));
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "sessions", arr);
    conn_respond(c, 200, o);
}

static void patch_network(struct conn *c, struct session *s)
{
    if (s->state != S_RUNNING) {
        conn_respond_error3(c, 409, "conflict", "the session is not running");
        return;
    }
    _cleanup_json_ struct json_object *body = NULL;
    if (conn_body_json(c, &body) < 0) return;
    _cleanup_json_ struct json_object *policy = NULL;
    sbx_err err;
    if (session_parse_network(g_sbxd, body, "network", &policy, &err) < 0 ||
        session_set_network(g_sbxd, s, policy, &err) < 0) {
        conn_respond_error(c, &err);
        return;
    }
    conn_respond(c, 200, session_to_json(g_sbxd, s));
}

static void exec_session(struct conn *c, struct session *s)
{
    if (s->state != S_RUNNING) {
        char msg[200];
        snprintf(msg, sizeof(msg), "session %s is %s; remove it and create a new one", s->id,
                 s->state == S_DEAD ? "dead (its init exited)" : "being removed");
        conn_respond_error3(c, 409, "conflict", msg);
        return;
    }
    _cleanup_json_ struct json_object *body = NULL;
    if (conn_body_json(c, &body) < 0) return;
    sbx_err err;
    if (exec_start(g_sbxd, s, c, body, &err) < 0) conn_respond_error(c, &err);
    /* else: the exec answers once init reports start or failure */
}

int api_head(struct conn *c)
{
    if (c->req.method == HTTP_POST && c->req.path && strcmp(c->req.path, "/v1/images") == 0)
        return image_import_begin(c);
    if (c->req.method == HTTP_PUT && c->req.path) {
        char buf[HTTP_MAX_URL + 1];
        char *seg[8];
        int n = http_split_path(c->req.path, buf, sizeof(buf), seg, 8);
        if (n == 4 && !strcmp(seg[0], "v1") && !strcmp(seg[1], "sessions") &&
            (!strcmp(seg[3], "files") || !strcmp(seg[3], "archive"))) {
            struct session *s = is_session_id(seg[2]) ? session_find(g_sbxd, seg[2]) : NULL;
            if (!s) {
                char msg[200];
                snprintf(msg, sizeof(msg), "no session \"%.64s\" (list sessions with GET /v1/sessions)",
                         seg[2]);
                return http_req_fail(&c->req, 404, "not_found", msg);
            }
            session_touch(s);
            if (!strcmp(seg[3], "archive")) return archive_put_begin(c, s);
            return files_put_begin(c, s);
        }
    }
    return 0;
}

static void image_one(struct conn *c, const char *ref)
{
    int m = c->req.method;
    sbx_err err;
    if (m == HTTP_GET) {
        struct json_object *o;
        if (store_inspect(g_sbxd, ref, &o, &err) < 0) return conn_respond_error(c, &err);
        return conn_respond(c, 200, o);
    }
    if (m == HTTP_DELETE) {
        if (store_remove(g_sbxd, ref, &err) < 0) return conn_respond_error(c, &err);
        return conn_respond(c, 204, NULL);
    }
    method_not_allowed(c, "GET or DELETE");
}

static void workspace_one(struct conn *c, const char *name)
{
    int m = c->req.method;
    sbx_err err;
    if (m == HTTP_GET) {
        struct json_object *o;
        if (workspace_inspect(g_sbxd, name, &o, &err) < 0) return conn_respond_error(c, &err);
        return conn_respond(c, 200, o);
    }
    if (m == HTTP_DELETE) {
        if (workspace_remove(g_sbxd, name, &err) < 0) return conn_respond_error(c, &err);
        return conn_respond(c, 204, NULL);
    }
    method_not_allowed(c, "GET or DELETE");
}

static void keepalive(struct conn *c, struct session *s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "idle_timeout",
                           s->idle_timeout ? json_object_new_int64(s->idle_timeout) : NULL);
    json_object_object_add(o, "expires_at", s->expires ? json_time_utc(s->expires) : NULL);
    conn_respond(c, 200, o);
}

void api_dispatch(struct conn *c)
{
    g_sbxd->last_request = now_mono();
    char buf[HTTP_MAX_URL + 1];
    char *seg[8];
    int m = c->req.method;
    int n = http_split_path(c->req.path, buf, sizeof(buf), seg, 8);
    if (n >= 1 && strcmp(seg[0], "v1") == 0) {
        if (n == 2 && strcmp(seg[1], "health") == 0) {
            if (m == HTTP_GET) return health(c);
            return method_not_allowed(c, "GET");
        }
        if (n == 2 && strcmp(seg[1], "sessions") == 0) {
            if (m == HTTP_GET) return list_sessions(c);
            if (m == HTTP_POST) return create_session(c);
            return method_not_allowed(c, "GET or POST");
        }
        if (n == 2 && strcmp(seg[1], "images") == 0) {
            if (m == HTTP_GET) {
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "images", store_list(g_sbxd));
                return conn_respond(c, 200, o);
            }
            return method_not_allowed(c, "GET or POST");
        }
        if (n == 3 && strcmp(seg[1], "images") == 0) return image_one(c, seg[2]);
        if (n == 2 && strcmp(seg[1], "workspaces") == 0) {
            if (m != HTTP_GET) return method_not_allowed(c, "GET");
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "workspaces", workspace_list(g_sbxd));
            return conn_respond(c, 200, o);
        }
        if (n == 3 && strcmp(seg[1], "workspaces") == 0) return workspace_one(c, seg[2]);
        if (n >= 3 && strcmp(seg[1], "sessions") == 0) {
            struct session *s = is_session_id(seg[2]) ? session_find(g_sbxd, seg[2]) : NULL;
            if (n == 3) {
                if (m != HTTP_GET && m != HTTP_DELETE) return method_not_allowed(c, "GET or DELETE");
                if (!s && m == HTTP_DELETE && session_lost_find(g_sbxd, seg[2])) {
                    session_lost_forget(g_sbxd, seg[2]); /* already cleaned up */
                    return conn_respond(c, 204, NULL);
                }
                if (!s) return not_found_session(c, seg[2]);
                if (m == HTTP_GET) return conn_respond(c, 200, session_to_json(g_sbxd, s));
                session_destroy(g_sbxd, s);
                return conn_respond(c, 204, NULL);
            }
            if (s && n >= 4) session_touch(s);
            if (n == 4 && strcmp(seg[3], "network") == 0) {
                if (m != HTTP_PATCH && m != HTTP_PUT) return method_not_allowed(c, "PATCH");
                if (!s) return not_found_session(c, seg[2]);
                return patch_network(c, s);
            }
            if ((n == 4 || n == 5) && strcmp(seg[3], "files") == 0) {
                if (!s) return not_found_session(c, seg[2]);
                return files_dispatch(c, s, n == 5 ? seg[4] : NULL);
            }
            if (n >= 4 && n <= 6 && strcmp(seg[3], "processes") == 0) {
                if (!s) return not_found_session(c, seg[2]);
                return procapi_dispatch(c, s, n >= 5 ? seg[4] : NULL, n == 6 ? seg[5] : NULL);
            }
            if (n == 4 && strcmp(seg[3], "keepalive") == 0) {
                if (m != HTTP_POST) return method_not_allowed(c, "POST");
                if (!s) return not_found_session(c, seg[2]);
                return keepalive(c, s);
            }
            if (n == 4 && strcmp(seg[3], "archive") == 0) {
                if (!s) return not_found_session(c, seg[2]);
                return archive_dispatch(c, s);
            }
            if ((n == 4 || n == 5) && strcmp(seg[3], "ports") == 0) {
                if (!s) return not_found_session(c, seg[2]);
                return ports_dispatch(c, s, n == 5 ? seg[4] : NULL);
            }
            if (n == 4 && strcmp(seg[3], "exec") == 0) {
                if (m != HTTP_POST) return method_not_allowed(c, "POST");
                if (!s) return not_found_session(c, seg[2]);
                return exec_session(c, s);
            }
        }
    }
    char msg[300];
    snprintf(msg, sizeof(msg), "no such endpoint: %s %.200s (see docs/api.md)",
             http_method_str((enum http_method)m), c->req.path);
    conn_respond_error3(c, 404, "not_found", msg);
}
