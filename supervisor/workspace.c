/* workspace.c - named workspaces on disk and their API. See workspace.h.
 *
 * Ownership across sessions. Each session maps sandbox ids 0..65535 to its
 * slot's host range, so what sandbox uid 1000 wrote in one session is owned
 * on disk by that session's host uid. A workspace keeps, for good, the range
 * its files were first written in (workspace.json "id_base"); a later session
 * on any range mounts it idmapped from that range to its own (plus host root
 * to itself: overlayfs creates its work files as its mounter), so its sandbox
 * sees every file under the same sandbox id as before. Why not the
 * alternatives:
 *   - a chown walk from the old range to the new one costs a syscall per file
 *     (a node_modules tree is 10^5 files) on sbxd's event loop, leaves a half
 *     shifted tree if sbxd dies during it, and chown(2) clears setuid/setgid
 *     bits and file capabilities while POSIX ACLs and v3 file capabilities
 *     carry ids in xattrs it would have to rewrite: the idmapped mount maps all
 *     of these in the kernel and touches nothing;
 *   - giving the session the workspace's old slot works only while that slot
 *     is free, and the warm pool's sandboxes (whose slots were picked before
 *     the request) could not serve workspaces: with the idmapped mount any warm
 *     sandbox takes any workspace, at the cost of one user namespace (~0.3 ms).
 * It needs idmapped mounts on the state directory's filesystem (ext4, xfs,
 * btrfs; tmpfs from Linux 6.3) and overlayfs on idmapped layers (Linux 5.19,
 * which sbx requires anyway); without them workspaces are refused (503).
 *
 * sbxd is the only writer of workspace.json (small, written atomically on
 * the loop); a forked child writes `size` (tmp + rename). Removals move the
 * directory into .trash/ and a forked child deletes it (after any measuring
 * child is done: they hold a shared flock on the directory, it an exclusive one). */
#include "workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "sandbox.h"
#include "sbxd.h"
#include "session.h"
#include "util.h"
#include "wsrules.h"
#include "quota.h"

#define META "workspace.json"
#define META_MAX 8192

/* ---- small helpers ---------------------------------------------------------- */

static int invalid_name(const char *name, sbx_err *err)
{
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                          "\"%.80s\" is not a workspace name: 1 to %d characters of a-z, 0-9, "
                          "'.', '_' and '-', starting with a letter or digit (e.g. \"proj-42\")",
                          name, WS_NAME_MAX);
}

static void ws_path(struct sbxd *d, const char *name, const char *file, char *out, size_t cap)
{
    if (file)
        snprintf(out, cap, "%s/%s/%s", d->workspaces_dir, name, file);
    else
        snprintf(out, cap, "%s/%s", d->workspaces_dir, name);
}

static int exists(struct sbxd *d, const char *name)
{
    char p[4200];
    struct stat st;
    ws_path(d, name, NULL, p, sizeof(p));
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static struct session *attached_to(struct sbxd *d, const char *name)
{
    for (struct session *s = d->sessions; s; s = s->next)
        if (strcmp(s->workspace, name) == 0) return s;
    return NULL;
}

/* 409: NAME is attached to s (one session at a time). */
static int busy(struct session *s, const char *name, int creating, sbx_err *err)
{
    return sbx_error_kind(err, SBX_E_CONFLICT, "workspace_busy",
                          "workspace \"%s\" is attached to session %s; remove that session "
                          "first (DELETE /v1/sessions/%s)%s",
                          name, s->id, s->id, creating ? " or use another workspace" : "");
}

/* A child that runs off the event loop: default signals, none of sbxd's fds
 * but stderr (it must not hold the API socket or a namespace). Returns as fork. */
static pid_t fork_worker(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        syscall(SYS_close_range, 3, ~0U, 0);
    }
    return pid; /* reaped by sbxd's SIGCHLD handler */
}

/* Move path into .trash/ and delete it in a child process. */
static void trash(struct sbxd *d, const char *path, const char *label)
{
    char rnd[17], dst[4300];
    sbx_err err;
    if (random_hex(rnd, 8, &err) < 0) {
        log_warn("workspaces: %s", err.msg);
        return;
    }
    snprintf(dst, sizeof(dst), "%s/.trash/%s.%s", d->workspaces_dir, label, rnd);
    if (rename(path, dst) < 0) {
        if (errno != ENOENT) log_warn("workspaces: move %s to trash: %s", path, strerror(errno));
        return;
    }
    pid_t pid = fork_worker();
    if (pid == 0) {
        /* a measuring child (measure()) finishes first: nothing is written
         * into the directory while it goes */
        int fd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) flock(fd, LOCK_EX);
        _exit(rm_rf(dst, &err) < 0 ? 1 : 0);
    }
    if (pid < 0 && rm_rf(dst, &err) < 0) /* no process to spare: do it here */
        log_warn("workspaces: %s", err.msg);
}

/* ---- workspace.json ------------------------------------------------------------ */

/* The record of NAME, checked: an object with its name and a usable id_base. */
static struct json_object *meta_load(struct sbxd *d, const char *name, uid_t *id_base, sbx_err *err)
{
    char p[4200], buf[META_MAX];
    ws_path(d, name, META, p, sizeof(p));
    ssize_t n = read_file(p, buf, sizeof(buf), err);
    if (n < 0) return NULL;
    _cleanup_json_ struct json_object *o = json_tokener_parse(buf);
    struct json_object *v, *b;
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "name", &v) || !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), name) != 0 ||
        !json_object_object_get_ex(o, "id_base", &b) || !json_object_is_type(b, json_type_int) ||
        json_object_get_int64(b) <= 0 || json_object_get_int64(b) > 0xfffeffffLL) {
        sbx_error(err, 0, "%s: not a workspace record (expected name \"%s\" and id_base)", p, name);
        return NULL;
    }
    if (id_base) *id_base = (uid_t)json_object_get_int64(b);
    return steal_pointer(&o);
}

/* Write the record of the workspace in dir (tmp + rename: never half a file). */
static int meta_store_at(const char *dir, struct json_object *o, sbx_err *err)
{
    char tmp[4200], dst[4200];
    snprintf(tmp, sizeof(tmp), "%s/." META ".tmp", dir);
    snprintf(dst, sizeof(dst), "%s/" META, dir);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return sbx_error(err, errno, "create %s", tmp);
    int r = write_all(fd, text, strlen(text));
    if (r == 0) r = write_all(fd, "\n", 1);
    if (r < 0) return sbx_error(err, -r, "write %s", tmp);
    if (rename(tmp, dst) < 0) return sbx_error(err, errno, "rename %s", tmp);
    return 0;
}

static void set_now(struct json_object *o, const char *key)
{
    char t[32];
    fmt_time_utc(time(NULL), t, sizeof(t));
    json_object_object_add(o, key, json_object_new_string(t));
}

/* Record a use of NAME now (and the image, if given); a failure is logged:
 * the session it is about is running or gone either way. */
static void meta_touch(struct sbxd *d, const char *name, const char *image)
{
    sbx_err err;
    _cleanup_json_ struct json_object *o = meta_load(d, name, NULL, &err);
    char dir[4200];
    ws_path(d, name, NULL, dir, sizeof(dir));
    if (o) {
        set_now(o, "last_used_at");
        if (image) json_object_object_add(o, "image", json_object_new_string(image));
    }
    if (!o || meta_store_at(dir, o, &err) < 0) log_warn("workspace %s: %s", name, err.msg);
}

/* ---- disk quota project ----------------------------------------------------------- */

static uint32_t meta_projid(struct json_object *o)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, "projid", &v) || !json_object_is_type(v, json_type_int))
        return 0;
    int64_t id = json_object_get_int64(v);
    return id >= QUOTA_WS_PROJID_BASE && id <= 0x7fffffffLL ? (uint32_t)id : 0;
}

/* A project id no workspace has: one above the highest in use (so a removed
 * workspace's id, whose files may still be being deleted, is not handed out
 * again while a newer one exists). */
static uint32_t projid_new(struct sbxd *d)
{
    uint32_t max = QUOTA_WS_PROJID_BASE - 1;
    _cleanup_closedir_ DIR *dir = opendir(d->workspaces_dir);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') continue;
        sbx_err e;
        _cleanup_json_ struct json_object *o = meta_load(d, de->d_name, NULL, &e);
        uint32_t id = meta_projid(o);
        if (id > max) max = id;
    }
    return max + 1;
}

uint32_t workspace_projid(struct sbxd *d, const char *name)
{
    sbx_err e;
    _cleanup_json_ struct json_object *o = meta_load(d, name, NULL, &e);
    return meta_projid(o);
}

/* Tag dir and its upper/ and work/ with projid. */
static int tag_ws(struct sbxd *d, const char *dir, uint32_t projid, sbx_err *err)
{
    static const char *const sub[] = {"", "/upper", "/work"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(sub); i++) {
        char p[4300];
        snprintf(p, sizeof(p), "%s%s", dir, sub[i]);
        if (quota_tag_dir(d, p, projid, err) < 0) return -1;
    }
    return 0;
}

/* ---- size, in the background ------------------------------------------------------ */

static uint64_t g_measured; /* in the measuring child only */

static int measure_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)f;
    if (flag != FTW_NS) g_measured += (uint64_t)st->st_blocks * 512;
    return 0;
}

/* Sum what NAME's files use into NAME/size. The child holds a shared lock on
 * the directory, which a removal's child (trash()) waits for. */
static void measure(struct sbxd *d, const char *name)
{
    char dir[4200];
    ws_path(d, name, NULL, dir, sizeof(dir));
    pid_t pid = fork_worker();
    if (pid != 0) {
        if (pid < 0) log_warn("workspace %s: fork to measure its size: %s", name, strerror(errno));
        return;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || flock(dfd, LOCK_SH) < 0 || fchdir(dfd) < 0) _exit(1);
    g_measured = 0;
    if (nftw("upper", measure_cb, 16, FTW_PHYS | FTW_MOUNT) < 0) _exit(1);
    char buf[32], tmp[64];
    int n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)g_measured);
    snprintf(tmp, sizeof(tmp), ".size.%d.tmp", (int)getpid()); /* measurements may overlap */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_all(fd, buf, (size_t)n) < 0 || close(fd) < 0 || rename(tmp, "size") < 0) {
        unlink(tmp);
        _exit(1);
    }
    _exit(0);
}

/* ---- lifecycle -------------------------------------------------------------------- */

int workspace_init(struct sbxd *d, sbx_err *err)
{
    snprintf(d->workspaces_dir, sizeof(d->workspaces_dir), "%s/workspaces", d->cfg.state_dir);
    char tr[4200];
    snprintf(tr, sizeof(tr), "%s/.trash", d->workspaces_dir);
    if (mkdir_p(d->workspaces_dir, 0700, err) < 0 || mkdir_p(tr, 0700, err) < 0) return -1;
    d->ws_idmap = sandbox_probe_idmap(d->workspaces_dir);
    if (!d->ws_idmap)
        log_warn("the filesystem of %s does not support idmapped mounts: named workspaces are "
                 "refused (use ext4, xfs or btrfs for the state directory)",
                 d->workspaces_dir);
    /* removals, then creations, that a previous sbxd did not finish */
    struct dirent *de;
    int n = 0;
    _cleanup_closedir_ DIR *tdir = opendir(tr);
    while (tdir && (de = readdir(tdir)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", tr, de->d_name);
        pid_t pid = fork_worker();
        if (pid == 0) _exit(rm_rf(p, err) < 0 ? 1 : 0);
        if (pid < 0 && rm_rf(p, err) < 0) log_warn("workspaces: %s", err->msg);
        n++;
    }
    _cleanup_closedir_ DIR *dir = opendir(d->workspaces_dir);
    while (dir && (de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, ".tmp-", 5) != 0) continue;
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", d->workspaces_dir, de->d_name);
        trash(d, p, "unfinished");
        n++;
    }
    if (n) log_info("workspaces: removing %d unfinished creations and removals", n);
    return 0;
}

int workspace_check_free(struct sbxd *d, const char *name, sbx_err *err)
{
    if (!d->ws_idmap)
        return sbx_error_kind(err, SBX_E_UNAVAILABLE, "workspaces_unsupported",
                              "named workspaces need idmapped mounts on the filesystem of %s, "
                              "which has none: start sbxd with a --state-dir on ext4, xfs or btrfs",
                              d->workspaces_dir);
    struct session *s = attached_to(d, name);
    if (s) return busy(s, name, 1, err);
    return 0;
}

/* A fresh, empty work dir: whatever overlayfs left there belonged to the
 * last session's mount. */
static int fresh_work(const char *dir, sbx_err *err)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/work", dir);
    if (rm_rf(p, err) < 0) return -1;
    if (mkdir(p, 0700) < 0) return sbx_error(err, errno, "create %s", p);
    return 0;
}

static int create_ws(struct sbxd *d, const char *name, uid_t id_base, uint32_t projid, sbx_err *err)
{
    char rnd[17], tmp[4200], p[4300];
    _cleanup_json_ struct json_object *o = NULL;
    if (random_hex(rnd, 8, err) < 0) return -1;
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", d->workspaces_dir, rnd);
    if (mkdir(tmp, 0700) < 0) return sbx_error(err, errno, "create %s", tmp);
    if (quota_tag_dir(d, tmp, projid, err) < 0) goto fail;
    /* the overlay's root takes the upper dir's owner: the sandbox's root */
    snprintf(p, sizeof(p), "%s/upper", tmp);
    if (mkdir(p, 0755) < 0 || chown(p, id_base, id_base) < 0) {
        sbx_error(err, errno, "create %s", p);
        goto fail;
    }
    snprintf(p, sizeof(p), "%s/work", tmp);
    if (mkdir(p, 0700) < 0) {
        sbx_error(err, errno, "create %s", p);
        goto fail;
    }
    o = json_object_new_object();
    if (!o) {
        sbx_error(err, ENOMEM, "workspace record");
        goto fail;
    }
    json_object_object_add(o, "name", json_object_new_string(name));
    set_now(o, "created_at");
    json_object_object_add(o, "last_used_at", NULL);
    json_object_object_add(o, "image", NULL);
    json_object_object_add(o, "id_base", json_object_new_int64((int64_t)id_base));
    json_object_object_add(o, "projid", json_object_new_int64((int64_t)projid));
    if (meta_store_at(tmp, o, err) < 0) goto fail;
    ws_path(d, name, NULL, p, sizeof(p));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, p, RENAME_NOREPLACE) < 0) {
        sbx_error(err, errno, "rename %s to %s", tmp, p);
        goto fail;
    }
    sbx_log(SBX_LOG_INFO, "workspace created", "workspace", name, NULL);
    return 0;
fail:;
    sbx_err e2;
    if (rm_rf(tmp, &e2) < 0) log_warn("workspaces: %s", e2.msg);
    return -1;
}

int workspace_attach(struct sbxd *d, const char *name, uid_t id_base, struct ws_attach *a,
                     sbx_err *err)
{
    memset(a, 0, sizeof(*a));
    ws_path(d, name, NULL, a->path, sizeof(a->path));
    struct stat st;
    if (lstat(a->path, &st) < 0) {
        if (errno != ENOENT) return sbx_error(err, errno, "workspace %s", a->path);
        a->projid = projid_new(d);
        if (create_ws(d, name, id_base, a->projid, err) < 0)
            return sbx_error_wrap(err, "workspace %s", name);
        a->created = 1;
        a->id_base = id_base;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return sbx_error(err, ENOTDIR, "workspace %s", a->path);
    _cleanup_json_ struct json_object *o = meta_load(d, name, &a->id_base, err);
    if (!o) return sbx_error_wrap(err, "workspace %s", name);
    char up[4200];
    ws_path(d, name, "upper", up, sizeof(up));
    if (lstat(up, &st) < 0 || !S_ISDIR(st.st_mode))
        return sbx_error(err, errno ? errno : ENOTDIR, "workspace %s: its upper dir %s", name, up);
    a->projid = meta_projid(o);
    if (!a->projid) {
        /* made before disk quotas: its directories get a project now (files
         * already in it are not counted) */
        a->projid = projid_new(d);
        json_object_object_add(o, "projid", json_object_new_int64((int64_t)a->projid));
        if (tag_ws(d, a->path, a->projid, err) < 0 || meta_store_at(a->path, o, err) < 0)
            return sbx_error_wrap(err, "workspace %s", name);
    }
    if (fresh_work(a->path, err) < 0) return sbx_error_wrap(err, "workspace %s", name);
    return 0;
}

void workspace_attach_undo(struct sbxd *d, const struct ws_attach *a)
{
    if (!a->created) return;
    sbx_err err;
    if (rm_rf(a->path, &err) < 0) log_warn("workspaces: %s", err.msg);
    if (quota_set(d, a->projid, 0, 0, &err) < 0) log_warn("workspaces: %s", err.msg);
}

void workspace_attached(struct sbxd *d, const struct session *s)
{
    meta_touch(d, s->workspace, s->image);
    sbx_log(SBX_LOG_INFO, "workspace attached", "workspace", s->workspace, "session", s->id, NULL);
}

void workspace_detach(struct sbxd *d, const struct session *s)
{
    if (!exists(d, s->workspace)) return;
    meta_touch(d, s->workspace, NULL);
    if (!d->shutting_down) measure(d, s->workspace); /* no stray children after exit */
    sbx_log(SBX_LOG_INFO, "workspace detached", "workspace", s->workspace, "session", s->id, NULL);
}

/* ---- API --------------------------------------------------------------------------- */

static struct json_object *ws_json(struct sbxd *d, const char *name)
{
    sbx_err err;
    struct json_object *o = json_object_new_object();
    _cleanup_json_ struct json_object *m = meta_load(d, name, NULL, &err);
    static const char *const keys[] = {"created_at", "last_used_at", "image"};
    json_object_object_add(o, "name", json_object_new_string(name));
    for (size_t i = 0; i < SBX_ARRAY_SIZE(keys); i++) {
        struct json_object *v = NULL;
        if (m) json_object_object_get_ex(m, keys[i], &v);
        json_object_object_add(o, keys[i], json_object_get(v));
    }
    char p[4200], buf[32];
    ws_path(d, name, "size", p, sizeof(p));
    struct json_object *size = NULL; /* not measured yet */
    sbx_err e2;
    if (read_file(p, buf, sizeof(buf), &e2) > 0) {
        char *end;
        unsigned long long n = strtoull(buf, &end, 10);
        if (*end == '\0') size = json_object_new_int64((int64_t)n);
    }
    json_object_object_add(o, "size_bytes", size);
    struct session *s = attached_to(d, name);
    json_object_object_add(o, "session", s ? json_object_new_string(s->id) : NULL);
    if (!m) log_warn("workspace %s: %s", name, err.msg);
    return o;
}

static int by_name(const void *a, const void *b)
{
    struct json_object *const *x = a, *const *y = b;
    struct json_object *nx, *ny;
    json_object_object_get_ex(*x, "name", &nx);
    json_object_object_get_ex(*y, "name", &ny);
    return strcmp(json_object_get_string(nx), json_object_get_string(ny));
}

struct json_object *workspace_list(struct sbxd *d)
{
    struct json_object *arr = json_object_new_array();
    _cleanup_closedir_ DIR *dir = opendir(d->workspaces_dir);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL)
        if (ws_name_valid(de->d_name) && exists(d, de->d_name))
            json_object_array_add(arr, ws_json(d, de->d_name));
    json_object_array_sort(arr, by_name);
    return arr;
}

static int not_found(const char *name, sbx_err *err)
{
    return sbx_error_kind(err, SBX_E_NOTFOUND, "unknown_workspace",
                          "no workspace \"%s\" (list them with GET /v1/workspaces; POST "
                          "/v1/sessions with \"workspace\" creates one)",
                          name);
}

int workspace_inspect(struct sbxd *d, const char *name, struct json_object **out, sbx_err *err)
{
    if (!ws_name_valid(name)) return invalid_name(name, err);
    if (!exists(d, name)) return not_found(name, err);
    *out = ws_json(d, name);
    return 0;
}

int workspace_remove(struct sbxd *d, const char *name, sbx_err *err)
{
    if (!ws_name_valid(name)) return invalid_name(name, err);
    if (!exists(d, name)) return not_found(name, err);
    struct session *s = attached_to(d, name);
    if (s) return busy(s, name, 0, err);
    char p[4200];
    ws_path(d, name, NULL, p, sizeof(p));
    sbx_err qe;
    _cleanup_json_ struct json_object *o = meta_load(d, name, NULL, &qe);
    uint32_t projid = meta_projid(o);
    trash(d, p, name);
    if (exists(d, name)) return sbx_error(err, 0, "workspace %s could not be moved away", name);
    /* its limits go with it (its files are being deleted in the background) */
    if (projid && quota_set(d, projid, 0, 0, &qe) < 0) log_warn("workspace %s: %s", name, qe.msg);
    sbx_log(SBX_LOG_INFO, "workspace removed", "workspace", name, NULL);
    return 0;
}

/* The name rule of POST /v1/sessions "workspace" (session.c). */
int workspace_parse_name(const char *name, sbx_err *err)
{
    if (!ws_name_valid(name)) {
        invalid_name(name, err);
        char m[SBX_ERR_MSG_MAX];
        snprintf(m, sizeof(m), "%s", err->msg);
        snprintf(err->msg, sizeof(err->msg), "workspace: %s", m);
        return -1;
    }
    return 0;
}
