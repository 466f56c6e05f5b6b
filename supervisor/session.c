/* session.c - session table and lifecycle. Create is all-or-nothing: any
 * failure unwinds the sandbox, cgroup, workspace and id slot it made. */
#include "session.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "egress.h"
#include "exec.h"
#include "files.h"
#include "images.h"
#include "imgstore.h"
#include "initproto.h"
#include "json.h"
#include "log.h"
#include "policy.h"
#include "ports.h"
#include "sbjob.h"
#include "secrets.h"
#include "shimctl.h"
#include "state.h"
#include "util.h"
#include "workspace.h"
#include "quota.h"

#define TTL_MAX (30LL * 24 * 3600)
#define POLICY_FILE_MAX (1 << 20)

static int valid_env_name(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_')) return 0;
    for (const char *p = k + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return 1;
}

/* Shared with exec.c through session_parse_env. */
int session_parse_env(struct json_object *env, const char *where, sbx_err *err);
int session_parse_env(struct json_object *env, const char *where, sbx_err *err)
{
    if (json_check_str_map(env, where, 4096, 255, 128 * 1024, err) < 0) return -1;
    json_object_object_foreach(env, k, v)
    {
        (void)v;
        if (!valid_env_name(k))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                  "field \"%s\": \"%s\" is not a valid environment variable name "
                                  "([A-Za-z_][A-Za-z0-9_]*)",
                                  where, k);
    }
    return 0;
}

int session_parse_network(struct sbxd *d, struct json_object *net, const char *where,
                          struct json_object **out, sbx_err *err)
{
    *out = NULL;
    _cleanup_policy_ struct policy *p = calloc(1, sizeof(*p));
    if (!p) return sbx_error(err, ENOMEM, "policy");
    struct json_object *name_o;
    if (json_object_object_get_ex(net, "policy", &name_o)) {
        /* {"policy": "NAME"}: a node policy file */
        static const char *const fields[] = {"policy", NULL};
        if (json_check_fields(net, where, fields, err) < 0) return -1;
        const char *name;
        if (json_get_str(net, where, "policy", 1, &name, err) < 0) return -1;
        if (!node_file_name_valid(name))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_policy",
                                  "%s.policy: \"%.80s\" is not a policy name ([a-z0-9_-]{1,64})",
                                  where, name);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s.json", d->cfg.policy_dir, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return sbx_error_kind(err, SBX_E_INVALID, "unknown_policy",
                                  "%s.policy: no node policy \"%s\" in %s", where, name,
                                  d->cfg.policy_dir);
        _cleanup_free_ char *buf = malloc(POLICY_FILE_MAX + 1);
        if (!buf) return sbx_error(err, ENOMEM, "policy file");
        size_t len = 0;
        for (;;) {
            ssize_t n = read(fd, buf + len, POLICY_FILE_MAX + 1 - len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return sbx_error(err, errno, "read %s", path);
            if (n == 0) break;
            len += (size_t)n;
            if (len > POLICY_FILE_MAX)
                return sbx_error_kind(err, SBX_E_INVALID, "invalid_policy",
                                      "node policy %s is larger than %d bytes", path, POLICY_FILE_MAX);
        }
        /* as strict as the API: one JSON object, nothing after it */
        _cleanup_json_ struct json_object *file = NULL;
        if (json_parse_object(buf, len, &file, err) < 0) {
            char why[SBX_ERR_MSG_MAX];
            snprintf(why, sizeof(why), "%s", err->msg);
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_policy", "node policy %s: %s", path,
                                  why);
        }
        char w[128];
        snprintf(w, sizeof(w), "%s.json", name);
        if (policy_from_json(file, w, p, err) < 0) return -1;
    } else if (policy_from_json(net, where, p, err) < 0) {
        return -1;
    }
    *out = policy_to_json(p);
    return *out ? 0 : sbx_error(err, ENOMEM, "policy");
}

int session_parse_create(struct sbxd *d, struct json_object *body, struct session_create_req *req,
                         sbx_err *err)
{
    static const char *const fields[] = {"image",   "limits",    "env",     "labels",
                                         "ttl",     "idle_timeout", "network", "workspace",
                                         "secrets", NULL};
    memset(req, 0, sizeof(*req));
    if (json_check_fields(body, "", fields, err) < 0) return -1;
    if (json_get_str(body, "", "image", 1, &req->image, err) < 0) return -1;
    struct json_object *lim;
    if (json_get_obj(body, "", "limits", &lim, err) < 0) return -1;
    if (limits_from_json(lim, &req->limits, err) < 0) return -1;
    if (json_get_obj(body, "", "env", &req->env, err) < 0) return -1;
    if (req->env && session_parse_env(req->env, "env", err) < 0) return -1;
    if (json_get_obj(body, "", "labels", &req->labels, err) < 0) return -1;
    if (req->labels && json_check_str_map(req->labels, "labels", 64, 63, 255, err) < 0) return -1;
    int present;
    if (json_get_int(body, "", "ttl", 1, TTL_MAX, &present, &req->ttl, err) < 0) return -1;
    if (!present) req->ttl = 0;
    if (json_get_int(body, "", "idle_timeout", 1, TTL_MAX, &present, &req->idle_timeout, err) < 0)
        return -1;
    if (!present) req->idle_timeout = 0;
    if (json_get_str(body, "", "workspace", 0, &req->workspace, err) < 0) return -1;
    if (req->workspace && workspace_parse_name(req->workspace, err) < 0) return -1;
    struct json_object *sec = NULL;
    json_object_object_get_ex(body, "secrets", &sec);
    int sr = secrets_parse(d, sec, &req->secrets_shim, &req->secrets_meta, err);
    secrets_wipe(sec); /* the request's copy of the values is not needed any more */
    if (sr < 0) return -1;
    if (req->secrets_meta && req->env) {
        json_object_object_foreach(req->secrets_meta, sk, sv)
        {
            (void)sv;
            if (json_object_object_get_ex(req->env, sk, NULL))
                return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                      "\"%s\" is both in \"env\" and in \"secrets\"; the "
                                      "sandbox gets a secret's placeholder in that variable, so "
                                      "drop it from \"env\"",
                                      sk);
        }
    }
    if (req->secrets_meta && !d->cfg.network)
        return sbx_error_kind(err, SBX_E_CONFLICT, "network_disabled",
                              "\"secrets\" are injected by the network edge, and this sbxd runs "
                              "without one (--no-network)");
    struct json_object *net;
    if (json_get_obj(body, "", "network", &net, err) < 0) return -1;
    if (net) return session_parse_network(d, net, "network", &req->policy, err);
    _cleanup_policy_ struct policy *p = calloc(1, sizeof(*p));
    if (!p) return sbx_error(err, ENOMEM, "policy");
    policy_init_deny_all(p);
    req->policy = policy_to_json(p);
    return 0;
}

struct session *session_find(struct sbxd *d, const char *id)
{
    for (struct session *s = d->sessions; s; s = s->next)
        if (strcmp(s->id, id) == 0) return s;
    return NULL;
}

static void unlink_session(struct sbxd *d, struct session *s)
{
    for (struct session **pp = &d->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            d->nsessions--;
            return;
        }
}

static void ctl_cb(evutil_socket_t fd, short ev, void *arg);
static void pidfd_cb(evutil_socket_t fd, short ev, void *arg);
static void ttl_cb(evutil_socket_t fd, short ev, void *arg);
static void idle_cb(evutil_socket_t fd, short ev, void *arg);

/* struct session is ~25 KiB (path buffers of PATH_MAX: cgroup paths, the
 * overlay's lower dirs, the workspace). From malloc, a thousand of them leave
 * sbxd's heap ~30 MiB bigger for good after they are destroyed (the holes are
 * not given back); pages of their own are returned by munmap on destroy. */
static struct session *session_alloc(void)
{
    void *p = mmap(NULL, sizeof(struct session), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* zero-filled */
    return p == MAP_FAILED ? NULL : p;
}

static void session_dealloc(struct session *s)
{
    if (s) munmap(s, sizeof(*s));
}

static void free_session(struct session *s)
{
    exec_free_all(g_sbxd, s);
    if (s->env) json_object_put(s->env);
    if (s->labels) json_object_put(s->labels);
    if (s->policy) json_object_put(s->policy);
    if (s->secrets) json_object_put(s->secrets);
    ports_free(s);
    session_dealloc(s);
}

static void free_events(struct session *s)
{
    struct event *evs[] = {s->ctl_ev, s->pidfd_ev, s->ttl_ev, s->idle_ev};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i]) event_free(evs[i]);
    s->ctl_ev = s->pidfd_ev = s->ttl_ev = s->idle_ev = NULL;
}

/* Stop the session's events; kill and reap its setup child or init. */
static void release_sandbox(struct session *s)
{
    free_events(s);
    sandbox_abort(&s->sb);
}

static void remove_traces(struct sbxd *d, struct session *s)
{
    sbx_err err;
    if (cg_destroy(&d->cg, &s->cg, &err) < 0) log_error("session %s: %s", s->id, err.msg);
    release_sandbox(s);
    s->net_attached = 0; /* the link dies with the net namespace (egress.h) */
    if (rm_rf(s->ws_dir, &err) < 0) log_error("session %s: workspace: %s", s->id, err.msg);
    /* the slot's quota project is empty now: drop its limits with it */
    if (quota_set(d, (uint32_t)s->slot + 1, 0, 0, &err) < 0)
        log_error("session %s: %s", s->id, err.msg);
    slot_put(&d->slots, s->slot);
    if (s->workspace[0]) workspace_detach(d, s); /* its files stay */
}

static void warm_cb(evutil_socket_t fd, short ev, void *arg);

static struct sandbox_spec spec_for(struct sbxd *d, struct session *s)
{
    struct sandbox_spec spec = {
        .id = s->id,
        .hostname = s->id,
        .ws_dir = s->ws_dir,
        .id_base = s->id_base,
        .id_count = USERNS_IDS_PER_SLOT,
        .cg = &s->cg,
        .cg_mode = d->cg.mode,
        .init_memfd = d->init_memfd,
        .seccomp = &d->seccomp,
        .resolv_conf = d->cfg.network ? "nameserver " EGRESS_GW "\noptions ndots:0\n" : NULL,
        .ca_pem = d->cfg.network ? shimctl_ca_pem(d) : NULL,
    };
    return spec;
}

/* Everything that does not depend on a request: id, id range, cgroup,
 * workspace, and the setup child with its net and user namespaces. */
static int session_prepare(struct sbxd *d, struct session **out, sbx_err *err)
{
    struct session *s = session_alloc();
    if (!s) return sbx_error(err, ENOMEM, "session");
    s->sb.ctl_fd = s->sb.pidfd = s->sb.setup_pidfd = -1;
    s->sb.setup_pid = s->sb.init_pid = -1;
    s->cg.v2fd = -1;
    for (int i = 0; i < CGV1_N; i++) s->cg.v1procs[i] = -1;
    s->state = S_WARM;
    /* a fresh id that no live or warm session has */
    for (;;) {
        if (random_hex(s->id, 6, err) < 0) goto fail_free;
        if (session_find(d, s->id)) continue;
        int dup = 0;
        for (struct session *w = d->warm; w; w = w->next) dup |= strcmp(w->id, s->id) == 0;
        if (!dup) break;
    }
    snprintf(s->ws_dir, sizeof(s->ws_dir), "%s/%s", d->sessions_dir, s->id);
    s->slot = slot_get(&d->slots, err);
    if (s->slot < 0) goto fail_free;
    s->id_base = slot_host_base(&d->slots, s->slot);
    if (cg_create(&d->cg, s->id, &s->cg, err) < 0) {
        slot_put(&d->slots, s->slot);
        goto fail_free;
    }
    struct sandbox_spec spec = spec_for(d, s);
    if (sandbox_prepare(&spec, &s->sb, err) < 0) {
        remove_traces(d, s);
        goto fail_free;
    }
    /* the writable layer is the slot's quota project (quota.h) before
     * anything is written in it; its limits come with the request */
    static const char *const qdirs[] = {"", "/upper", "/work"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(qdirs); i++) {
        char qp[4200];
        snprintf(qp, sizeof(qp), "%s%s", s->ws_dir, qdirs[i]);
        if (quota_tag_dir(d, qp, (uint32_t)s->slot + 1, err) < 0) {
            remove_traces(d, s);
            goto fail_free;
        }
    }
    *out = s;
    return 0;
fail_free:
    free_session(s);
    return -1;
}

static void pool_remove(struct sbxd *d, struct session *s);
static void schedule_refill(struct sbxd *d, int delay_ms);

/* The setup child is in the session's net namespace and waits: wire it to
 * the egress namespace now, before any request needs it. */
static int net_attach(struct sbxd *d, struct session *s, sbx_err *err)
{
    if (!d->cfg.network) return 0;
    if (egress_attach(&d->egress, s->id, s->slot, s->sb.setup_pid, err) < 0) return -1;
    s->net_attached = 1;
    return 0;
}

/* The setup child of a warm sandbox still waits for GO (its pidfd is not readable). */
static int setup_alive(struct session *s)
{
    struct pollfd p = {s->sb.setup_pidfd, POLLIN, 0};
    return s->sb.setup_pidfd >= 0 && poll(&p, 1, 0) == 0;
}

/* Take a warm sandbox if one is ready, else prepare one now. */
static int session_take(struct sbxd *d, struct session **out, sbx_err *err)
{
    for (struct session **pp = &d->warm; *pp;) {
        struct session *w = *pp;
        if (!w->warm_ready) {
            pp = &w->next;
            continue;
        }
        if (!setup_alive(w)) { /* killed while waiting: replace it, never hand it out */
            log_warn("warm pool: sandbox %s lost its setup process; replacing it", w->id);
            pool_remove(d, w);
            schedule_refill(d, 0);
            continue;
        }
        if (!w->net_attached && net_attach(d, w, err) < 0) {
            log_warn("warm pool: sandbox %s: %s; replacing it", w->id, err->msg);
            pool_remove(d, w);
            schedule_refill(d, 0);
            continue;
        }
        *pp = w->next;
        d->nwarm--;
        if (w->ctl_ev) event_free(w->ctl_ev);
        w->ctl_ev = NULL;
        fcntl(w->sb.ctl_fd, F_SETFL, fcntl(w->sb.ctl_fd, F_GETFL) & ~O_NONBLOCK);
        *out = w;
        return 0;
    }
    struct session *s;
    if (session_prepare(d, &s, err) < 0) return -1;
    if (sandbox_wait_warm(&s->sb, err) < 0 || net_attach(d, s, err) < 0) {
        remove_traces(d, s);
        free_session(s);
        return -1;
    }
    *out = s;
    return 0;
}

static void schedule_refill(struct sbxd *d, int delay_ms);
static int pool_add_one(struct sbxd *d);

/* Preparing a sandbox blocks the loop ~0.5-1 ms and competes for the CPU:
 * do it when no request came in for a moment (a client's first exec usually
 * follows its create at once), never put it off for more than 10 ms, and
 * prepare one per tick so a busy loop pays in small slices. */
static void refill_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct sbxd *d = arg;
    double now = now_mono();
    if (d->refill_wanted == 0) d->refill_wanted = now;
    if (now - d->last_request < 0.002 && now - d->refill_wanted < 0.010) {
        schedule_refill(d, 2);
        return;
    }
    d->refill_wanted = 0;
    /* one step per tick: wire a warm sandbox's network, else prepare one */
    for (struct session *w = d->warm; w; w = w->next) {
        if (!w->warm_ready || w->net_attached || !d->cfg.network) continue;
        sbx_err err;
        if (net_attach(d, w, &err) < 0) {
            log_warn("warm pool: sandbox %s: %s (replacing it)", w->id, err.msg);
            pool_remove(d, w);
        }
        schedule_refill(d, 1);
        return;
    }
    pool_add_one(d);
    if (d->nwarm < d->cfg.warm) schedule_refill(d, 1);
}

static void schedule_refill(struct sbxd *d, int delay_ms)
{
    if (!d->refill_ev) d->refill_ev = evtimer_new(d->base, refill_cb, d);
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    if (d->refill_ev && !evtimer_pending(d->refill_ev, NULL)) evtimer_add(d->refill_ev, &tv);
}

/* Start preparing one warm sandbox; 0, or -1 (a retry is scheduled). */
static int pool_add_one(struct sbxd *d)
{
    if (d->shutting_down || d->nwarm >= d->cfg.warm) return 0;
    struct session *s;
    sbx_err err;
    if (session_prepare(d, &s, &err) < 0) {
        log_warn("warm pool: %s (retrying in 1 s)", err.msg);
        schedule_refill(d, 1000);
        return -1;
    }
    fcntl(s->sb.ctl_fd, F_SETFL, fcntl(s->sb.ctl_fd, F_GETFL) | O_NONBLOCK);
    s->ctl_ev = event_new(d->base, s->sb.ctl_fd, EV_READ | EV_PERSIST, warm_cb, s);
    if (!s->ctl_ev) {
        remove_traces(d, s);
        free_session(s);
        return -1;
    }
    event_add(s->ctl_ev, NULL);
    s->next = d->warm;
    d->warm = s;
    d->nwarm++;
    return 0;
}

void session_pool_fill(struct sbxd *d)
{
    while (!d->shutting_down && d->nwarm < d->cfg.warm)
        if (pool_add_one(d) < 0) return;
}

static void pool_remove(struct sbxd *d, struct session *s)
{
    for (struct session **pp = &d->warm; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            d->nwarm--;
            break;
        }
    remove_traces(d, s);
    free_session(s);
}

static void warm_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct session *s = arg;
    sbx_err err;
    int r = sandbox_recv_warm(&s->sb, &err);
    if (r > 0) {
        s->warm_ready = 1;
        event_del(s->ctl_ev); /* nothing more until GO */
        /* its network is wired in a quiet moment too (refill_cb), or by the
         * create that takes it */
        if (g_sbxd->cfg.network) schedule_refill(g_sbxd, 0);
    } else if (r < 0) {
        log_warn("warm pool: %s (retrying in 1 s)", err.msg);
        pool_remove(g_sbxd, s);
        schedule_refill(g_sbxd, 1000);
    }
}

unsigned session_pool_ready(struct sbxd *d)
{
    unsigned n = 0;
    for (struct session *w = d->warm; w; w = w->next) n += (unsigned)(w->warm_ready && setup_alive(w));
    return n;
}

void session_pool_drain(struct sbxd *d)
{
    while (d->warm) pool_remove(d, d->warm);
    if (d->refill_ev) event_free(d->refill_ev);
    d->refill_ev = NULL;
}

static void arm_idle(struct sbxd *d, struct session *s, double in)
{
    if (!s->idle_timeout) return;
    if (!s->idle_ev) s->idle_ev = evtimer_new(d->base, idle_cb, s);
    if (in < 0.05) in = 0.05;
    struct timeval tv = {(time_t)in, (suseconds_t)((in - (double)(time_t)in) * 1e6)};
    if (s->idle_ev) evtimer_add(s->idle_ev, &tv);
}

/* The events of a running session: its init's messages and death, TTL, idle. */
static int session_watch(struct sbxd *d, struct session *s, sbx_err *err)
{
    s->ctl_ev = event_new(d->base, s->sb.ctl_fd, EV_READ | EV_PERSIST, ctl_cb, s);
    s->pidfd_ev = event_new(d->base, s->sb.pidfd, EV_READ, pidfd_cb, s);
    if (!s->ctl_ev || !s->pidfd_ev) return sbx_error(err, ENOMEM, "session events");
    event_add(s->ctl_ev, NULL);
    event_add(s->pidfd_ev, NULL);
    if (s->expires) {
        s->ttl_ev = evtimer_new(d->base, ttl_cb, s);
        time_t now = time(NULL);
        struct timeval tv = {s->expires > now ? s->expires - now : 0, 0};
        if (s->ttl_ev) evtimer_add(s->ttl_ev, &tv);
    }
    s->last_active = now_mono();
    arm_idle(d, s, (double)s->idle_timeout);
    return 0;
}

void session_touch(struct session *s)
{
    s->last_active = now_mono();
}

/* Open exec streams, log followers, waits and file transfers count as
 * activity for as long as they last. */
static int session_busy(struct session *s)
{
    return exec_session_busy(s) || sbjob_session_active(s);
}

static void idle_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct session *s = arg;
    if (s->state != S_RUNNING && s->state != S_DEAD) return;
    double now = now_mono();
    if (session_busy(s)) s->last_active = now;
    double idle = now - s->last_active;
    if (idle + 0.01 < (double)s->idle_timeout) return arm_idle(g_sbxd, s, (double)s->idle_timeout - idle);
    char t[32];
    snprintf(t, sizeof(t), "%lld", (long long)s->idle_timeout);
    sbx_log(SBX_LOG_INFO, "session idle timeout", "session", s->id, "idle_timeout", t, NULL);
    session_destroy(g_sbxd, s);
}

void session_create_req_free(struct session_create_req *req)
{
    if (req->policy) json_object_put(req->policy);
    if (req->secrets_shim) {
        secrets_wipe(req->secrets_shim);
        json_object_put(req->secrets_shim);
    }
    if (req->secrets_meta) json_object_put(req->secrets_meta);
    req->policy = req->secrets_shim = req->secrets_meta = NULL;
}

int session_create(struct sbxd *d, const struct session_create_req *req, struct session **out,
                   sbx_err *err)
{
    static struct img_resolved img;
    if (store_resolve(d, req->image, &img, err) < 0) return sbx_error_wrap(err, "create session");
    if (req->workspace && workspace_check_free(d, req->workspace, err) < 0)
        return sbx_error_wrap(err, "create session");
    if (req->limits.disk_explicit && d->quota.mode != QUOTA_PROJECT)
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, "disk_quota_unsupported",
                              "\"limits.disk_bytes\" and \"limits.disk_inodes\" cannot be "
                              "enforced on this node: %s",
                              d->quota.why);
    struct session *s;
    if (session_take(d, &s, err) < 0) return sbx_error_wrap(err, "create session");
    struct ws_attach wsa = {.created = 0};
    if (req->workspace) {
        if (workspace_attach(d, req->workspace, s->id_base, &wsa, err) < 0) goto fail;
        snprintf(s->workspace, sizeof(s->workspace), "%s", req->workspace);
    }
    snprintf(s->image_rootfs, sizeof(s->image_rootfs), "%s", img.lowers);
    snprintf(s->image, sizeof(s->image), "%s", req->image);
    snprintf(s->image_id, sizeof(s->image_id), "%s", img.id);
    s->limits = req->limits;
    s->env = req->env ? json_object_get(req->env) : json_object_new_object();
    if (req->secrets_meta) {
        /* a copy: req->env belongs to the request */
        struct json_object *env = json_object_new_object();
        json_object_object_foreach(s->env, ek, ev) json_object_object_add(env, ek, json_object_get(ev));
        json_object_object_foreach(req->secrets_meta, sk, sv)
        {
            struct json_object *ph;
            json_object_object_get_ex(sv, "placeholder", &ph);
            json_object_object_add(env, sk, json_object_get(ph));
        }
        json_object_put(s->env);
        s->env = env;
        s->secrets = json_object_get(req->secrets_meta);
    }
    s->labels = req->labels ? json_object_get(req->labels) : json_object_new_object();
    s->policy = json_object_get(req->policy);
    s->ttl = req->ttl;
    s->idle_timeout = req->idle_timeout;
    s->created = time(NULL);
    s->expires = s->ttl ? s->created + s->ttl : 0;

    /* Limits and the network policy are in place before anything of the request runs. */
    if (cg_set_limits(&d->cg, &s->cg, &s->limits, err) < 0) goto fail;
    if (s->workspace[0]
            ? quota_set(d, wsa.projid, s->limits.disk_bytes, (uint64_t)s->limits.disk_inodes, err)
            : quota_set(d, (uint32_t)s->slot + 1, s->limits.disk_bytes,
                        (uint64_t)s->limits.disk_inodes, err))
        goto fail;
    if (shimctl_ensure_ports(d, s->policy, err) < 0) goto fail;
    if (shimctl_session_create(d, s, req->secrets_shim, err) < 0) goto fail;
    struct sandbox_spec spec = spec_for(d, s);
    spec.image_rootfs = s->image_rootfs;
    spec.tmp_size = limits_tmp_size(&s->limits);
    spec.idmap = img.idmap;
    spec.workspace = s->workspace[0] ? wsa.path : NULL;
    spec.workspace_id_base = wsa.id_base;
    if (sandbox_launch(&s->sb, &spec, err) < 0) goto fail;
    if (cg_set_cpu(&d->cg, &s->cg, &s->limits, err) < 0) goto fail;
    cg_close_fds(&s->cg);
    int r = sandbox_starttime(s->sb.init_pid, &s->init_start);
    if (r < 0) {
        sbx_error(err, -r, "read the start time of the sandbox's init");
        goto fail;
    }
    if (session_watch(d, s, err) < 0 || state_save(d, s, err) < 0) goto fail;
    s->state = S_RUNNING;
    s->next = d->sessions;
    d->sessions = s;
    d->nsessions++;
    sbx_log(SBX_LOG_INFO, "session created", "session", s->id, "image", s->image, NULL);
    if (s->workspace[0]) workspace_attached(d, s);
    schedule_refill(d, 3);
    *out = s;
    return 0;
fail:
    state_remove(d, s->id);
    shimctl_session_remove(d, s);
    s->workspace[0] = '\0'; /* never attached: no detach */
    remove_traces(d, s);
    if (req->workspace) workspace_attach_undo(d, &wsa); /* after its sandbox is gone */
    free_session(s);
    schedule_refill(d, 0);
    return sbx_error_wrap(err, "create session");
}

int session_set_network(struct sbxd *d, struct session *s, struct json_object *policy,
                        sbx_err *err)
{
    if (shimctl_ensure_ports(d, policy, err) < 0) return -1;
    struct json_object *old = s->policy;
    s->policy = json_object_get(policy);
    if (shimctl_session_set(d, s, err) < 0) {
        json_object_put(s->policy);
        s->policy = old;
        return -1;
    }
    if (old) json_object_put(old);
    sbx_log(SBX_LOG_INFO, "session network policy changed", "session", s->id, NULL);
    return 0;
}

void session_destroy(struct sbxd *d, struct session *s)
{
    s->state = S_REMOVING;
    files_abort_session(d, s); /* its workers hold the sandbox's namespaces */
    unlink_session(d, s);
    shimctl_session_remove(d, s);
    remove_traces(d, s); /* cgroup.kill first: nothing inside runs on */
    exec_abort_all(d, s, "session removed");
    state_remove(d, s->id);
    sbx_log(SBX_LOG_INFO, "session removed", "session", s->id, NULL);
    free_session(s);
}

static void ttl_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct session *s = arg;
    sbx_log(SBX_LOG_INFO, "session ttl expired", "session", s->id, NULL);
    session_destroy(g_sbxd, s);
}

static void pidfd_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct session *s = arg;
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    waitid(P_PIDFD, (id_t)s->sb.pidfd, &si, WEXITED | WNOHANG);
    char st[32];
    snprintf(st, sizeof(st), "%d", si.si_status);
    sbx_log(SBX_LOG_WARN, "session init died", "session", s->id, "status", st, NULL);
    s->state = S_DEAD;
    close(s->sb.pidfd);
    s->sb.pidfd = -1;
    if (s->ctl_ev) event_del(s->ctl_ev);
    exec_abort_all(g_sbxd, s, "the sandbox's init died");
}

static void ctl_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct session *s = arg;
    uint8_t buf[1024];
    for (int budget = 0; budget < 64; budget++) {
        int fds[IP_MAX_FDS], nfds = 0;
        ssize_t n = ip_recv(fd, buf, sizeof(buf) - 1, fds, &nfds);
        int pty = -1;
        if (n >= (ssize_t)sizeof(struct ip_hdr) && nfds == 1 &&
            ((struct ip_hdr *)(void *)buf)->type == IP_STARTED)
            pty = fds[0];
        else
            for (int i = 0; i < nfds; i++) close(fds[i]);
        if (n == -EAGAIN || n == -EINTR) return;
        if (n <= 0) {
            event_del(s->ctl_ev);
            return; /* init gone: pidfd_cb reports it */
        }
        struct ip_hdr h;
        if ((size_t)n < sizeof(h)) continue;
        memcpy(&h, buf, sizeof(h));
        struct ip_buf b;
        ip_buf_reader(&b, buf + sizeof(h), (size_t)n - sizeof(h));
        uint32_t v = ip_get_u32(&b);
        if (b.failed) {
            if (pty >= 0) close(pty);
            continue;
        }
        switch (h.type) {
        case IP_STARTED: exec_on_started(g_sbxd, s, h.id, v, pty); break;
        case IP_FAILED: {
            const char *stage = ip_get_str(&b);
            exec_on_failed(g_sbxd, s, h.id, (int)v, stage ? stage : "exec");
            break;
        }
        case IP_EXITED: exec_on_exited(g_sbxd, s, h.id, (int)v); break;
        default: break;
        }
    }
}

struct json_object *session_to_json(struct sbxd *d, struct session *s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "state", json_object_new_string(s->state == S_RUNNING ? "running"
                                                              : s->state == S_DEAD  ? "dead"
                                                                                    : "removing"));
    json_object_object_add(o, "image", json_object_new_string(s->image));
    if (s->image_id[0]) json_object_object_add(o, "image_id", json_object_new_string(s->image_id));
    json_object_object_add(o, "created_at", json_time_utc(s->created));
    json_object_object_add(o, "expires_at", s->expires ? json_time_utc(s->expires) : NULL);
    json_object_object_add(o, "ttl", s->ttl ? json_object_new_int64(s->ttl) : NULL);
    json_object_object_add(o, "workspace",
                           s->workspace[0] ? json_object_new_string(s->workspace) : NULL);
    json_object_object_add(o, "idle_timeout",
                           s->idle_timeout ? json_object_new_int64(s->idle_timeout) : NULL);
    json_object_object_add(o, "limits", limits_to_json(&s->limits));
    struct json_object *net = json_object_new_object();
    if (d->cfg.network) {
        char a[INET_ADDRSTRLEN];
        struct in_addr ia = {egress_slot_addr(s->slot)};
        inet_ntop(AF_INET, &ia, a, sizeof(a));
        json_object_object_add(net, "address", json_object_new_string(a));
        json_object_object_add(net, "gateway", json_object_new_string(EGRESS_GW));
        json_object_object_add(net, "egress", json_object_new_boolean(shimctl_running(d)));
    }
    json_object_object_add(net, "policy", json_object_get(s->policy));
    json_object_object_add(o, "network", net);
    json_object_object_add(o, "env", json_object_get(s->env));
    json_object_object_add(o, "secrets", s->secrets ? json_object_get(s->secrets) : NULL);
    json_object_object_add(o, "labels", json_object_get(s->labels));
    json_object_object_add(o, "pid", json_object_new_int(s->sb.init_pid));
    json_object_object_add(o, "execs", json_object_new_int((int)s->nexecs));
    struct cg_usage u;
    cg_usage(&d->cg, &s->cg, &u);
    struct json_object *uo = json_object_new_object();
    json_object_object_add(uo, "memory_current", json_object_new_int64((int64_t)u.memory_current));
    json_object_object_add(uo, "memory_peak", json_object_new_int64((int64_t)u.memory_peak));
    json_object_object_add(uo, "pids_current", json_object_new_int64((int64_t)u.pids_current));
    json_object_object_add(uo, "cpu_usec", json_object_new_int64((int64_t)u.cpu_usec));
    json_object_object_add(uo, "oom_kills", json_object_new_int64((int64_t)u.oom_kills));
    uint64_t db, di;
    uint32_t projid = s->workspace[0] ? workspace_projid(d, s->workspace) : (uint32_t)s->slot + 1;
    int qok = projid && quota_usage(d, projid, &db, &di) == 0;
    json_object_object_add(uo, "disk_bytes", qok ? json_object_new_int64((int64_t)db) : NULL);
    json_object_object_add(uo, "disk_inodes", qok ? json_object_new_int64((int64_t)di) : NULL);
    json_object_object_add(o, "usage", uo);
    return o;
}

static int is_live(const char *name, void *ud)
{
    return session_find(ud, name) != NULL;
}

/* Named workspaces live in STATE/workspaces, not here: they stay (attached
 * to the sessions taken over, free otherwise). */
void session_cleanup_stale(struct sbxd *d)
{
    int n = cg_remove_stale(&d->cg, is_live, d);
    int w = 0;
    _cleanup_closedir_ DIR *dir = opendir(d->sessions_dir);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || session_find(d, de->d_name)) continue;
        char p[8192];
        snprintf(p, sizeof(p), "%s/%s", d->sessions_dir, de->d_name);
        sbx_err err;
        if (rm_rf(p, &err) < 0)
            log_warn("stale workspace: %s", err.msg);
        else
            w++;
    }
    if (n || w) log_info("removed what a previous sbxd left: %d cgroups, %d workspaces", n, w);
}

/* ---------------------------------------------------- sbxd restarts -- */

struct session *session_blank(void)
{
    struct session *s = session_alloc();
    if (!s) return NULL;
    s->sb.ctl_fd = s->sb.pidfd = s->sb.setup_pidfd = -1;
    s->sb.setup_pid = s->sb.init_pid = -1;
    s->cg.v2fd = -1;
    for (int i = 0; i < CGV1_N; i++) s->cg.v1procs[i] = -1;
    s->slot = -1;
    s->state = S_RUNNING;
    return s;
}

void session_blank_free(struct session *s)
{
    free_session(s);
}

/* Read init's IP_ADOPT records (blocking, bounded) and take its processes over. */
static int adopt_processes(struct sbxd *d, struct session *s, sbx_err *err)
{
    static uint8_t buf[sizeof(struct ip_hdr) + 5 * 4 + IP_META_MAX + 64];
    for (;;) {
        struct pollfd p = {s->sb.ctl_fd, POLLIN, 0};
        int pr = poll(&p, 1, 5000);
        if (pr <= 0) return sbx_error(err, pr == 0 ? ETIMEDOUT : errno, "wait for init's answer");
        int fds[IP_MAX_FDS], nfds = 0;
        ssize_t n = ip_recv(s->sb.ctl_fd, buf, sizeof(buf), fds, &nfds);
        if (n == -EINTR || n == -EAGAIN) continue;
        if (n <= 0) return sbx_error(err, n < 0 ? (int)-n : EPIPE, "read init's answer");
        struct ip_hdr h;
        if ((size_t)n < sizeof(h)) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            continue;
        }
        memcpy(&h, buf, sizeof(h));
        if (h.type == IP_ADOPT_DONE) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            return 0;
        }
        struct ip_buf b;
        ip_buf_reader(&b, buf + sizeof(h), (size_t)n - sizeof(h));
        uint32_t pid = ip_get_u32(&b), flags = ip_get_u32(&b), keep = ip_get_u32(&b);
        uint32_t exited = ip_get_u32(&b), status = ip_get_u32(&b);
        const char *meta = ip_get_str(&b);
        if (h.type != IP_ADOPT || b.failed) {
            for (int i = 0; i < nfds; i++) close(fds[i]);
            if (h.type == IP_EXITED) continue; /* cannot be: exits while away come as ADOPT */
            continue;
        }
        exec_adopt(d, s, h.id, pid, flags, keep, (int)exited, (int)status, meta, fds, nfds);
    }
}

/* A session whose sandbox did not survive: remove what is left of it. */
static void bury(struct sbxd *d, struct session *s, int slot_taken, const char *why)
{
    sbx_log(SBX_LOG_WARN, "session lost while sbxd was away", "session", s->id, "reason", why,
            NULL);
    sbx_err err;
    if (s->cg.v2[0] && cg_destroy(&d->cg, &s->cg, &err) < 0)
        log_error("session %s: %s", s->id, err.msg);
    sandbox_abort(&s->sb);
    if (d->cfg.network) egress_detach(&d->egress, s->id);
    if (rm_rf(s->ws_dir, &err) < 0) log_error("session %s: workspace: %s", s->id, err.msg);
    if (slot_taken) slot_put(&d->slots, s->slot);
    if (s->workspace[0]) workspace_detach(d, s); /* free again, its files kept */
    state_remove(d, s->id);
    struct lost_session *l = calloc(1, sizeof(*l));
    if (l) {
        snprintf(l->id, sizeof(l->id), "%s", s->id);
        snprintf(l->why, sizeof(l->why), "%s", why);
        l->at = time(NULL);
        l->next = d->lost;
        d->lost = l;
        if (++d->nlost > 1024) { /* keep the newest */
            struct lost_session **pp = &d->lost;
            for (unsigned i = 0; i < 1024 && *pp; i++) pp = &(*pp)->next;
            while (*pp) {
                struct lost_session *x = *pp;
                *pp = x->next;
                free(x);
                d->nlost--;
            }
        }
    }
    free_session(s);
}

const struct lost_session *session_lost_find(struct sbxd *d, const char *id)
{
    for (struct lost_session *l = d->lost; l; l = l->next)
        if (strcmp(l->id, id) == 0) return l;
    return NULL;
}

void session_lost_forget(struct sbxd *d, const char *id)
{
    for (struct lost_session **pp = &d->lost; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            struct lost_session *x = *pp;
            *pp = x->next;
            free(x);
            d->nlost--;
            return;
        }
}

void session_lost_free(struct sbxd *d)
{
    while (d->lost) {
        struct lost_session *x = d->lost;
        d->lost = x->next;
        free(x);
    }
    d->nlost = 0;
}

int session_restore(struct sbxd *d, struct session *s)
{
    sbx_err err;
    sbx_error_clear(&err);
    if (session_find(d, s->id)) {
        bury(d, s, 0, "a second record of the same session");
        return -1;
    }
    if (slot_take(&d->slots, s->slot) < 0 || slot_host_base(&d->slots, s->slot) != s->id_base) {
        /* --id-base/--id-slots changed, or records disagree: its ids are not ours to hand out */
        pid_t pid = s->sb.init_pid;
        s->sb.init_pid = -1;
        if (cg_open_existing(&d->cg, s->id, &s->cg, &err) < 0) s->cg.v2[0] = '\0';
        (void)pid;
        bury(d, s, 0, "its user-namespace id range does not fit this sbxd's --id-base/--id-slots");
        return -1;
    }
    if (cg_open_existing(&d->cg, s->id, &s->cg, &err) < 0) {
        s->cg.v2[0] = '\0';
        bury(d, s, 1, err.msg);
        return -1;
    }
    if (sandbox_reattach(&s->sb, s->sb.init_pid, s->init_start, &err) < 0) {
        bury(d, s, 1, err.msg);
        return -1;
    }
    if (adopt_processes(d, s, &err) < 0 || session_watch(d, s, &err) < 0) {
        exec_abort_all(d, s, "sbxd could not take the session over");
        bury(d, s, 1, err.msg);
        return -1;
    }
    fcntl(s->sb.ctl_fd, F_SETFL, fcntl(s->sb.ctl_fd, F_GETFL) | O_NONBLOCK);
    s->state = S_RUNNING;
    s->next = d->sessions;
    d->sessions = s;
    d->nsessions++;
    char np[16];
    snprintf(np, sizeof(np), "%u", s->nexecs);
    sbx_log(SBX_LOG_INFO, "session taken over", "session", s->id, "running_processes", np, NULL);
    return 0;
}

void session_leave_all(struct sbxd *d)
{
    while (d->sessions) {
        struct session *s = d->sessions;
        d->sessions = s->next;
        d->nsessions--;
        exec_detach_all(d, s);
        free_events(s);
        /* init sees its control socket close and waits for the next sbxd */
        if (s->sb.ctl_fd >= 0) close(s->sb.ctl_fd);
        if (s->sb.pidfd >= 0) close(s->sb.pidfd);
        s->sb.ctl_fd = s->sb.pidfd = -1;
        cg_close_fds(&s->cg);
        free_session(s);
    }
}
