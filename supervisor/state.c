/* state.c - session records in STATE/run (see state.h). A record holds what
 * cannot be found again from the host: the request's parameters (image,
 * limits, env, labels, policy, TTL, idle timeout, named workspace, exposed
 * ports with their preview tokens: the file is 0600), the id
 * slot, and which process is the sandbox's init (pid + start time, so a
 * recycled pid is never mistaken for it). Processes are not recorded here: init holds them
 * (initproto.h). */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "ports.h"
#include "session.h"
#include "util.h"
#include "wsrules.h"

#define RECORD_MAX (4u << 20)

static void run_path(struct sbxd *d, const char *id, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s/run/%s.json%s", d->cfg.state_dir, id, suffix);
}

static struct json_object *record(struct session *s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "id", json_object_new_string(s->id));
    json_object_object_add(o, "image", json_object_new_string(s->image));
    json_object_object_add(o, "image_id", json_object_new_string(s->image_id));
    json_object_object_add(o, "image_rootfs", json_object_new_string(s->image_rootfs));
    json_object_object_add(o, "ws_dir", json_object_new_string(s->ws_dir));
    json_object_object_add(o, "workspace", json_object_new_string(s->workspace));
    struct json_object *l = json_object_new_object();
    json_object_object_add(l, "memory", json_object_new_int64((int64_t)s->limits.memory));
    json_object_object_add(l, "pids", json_object_new_int64(s->limits.pids));
    json_object_object_add(l, "cpu", json_object_new_double(s->limits.cpu));
    json_object_object_add(l, "disk_bytes", json_object_new_int64((int64_t)s->limits.disk_bytes));
    json_object_object_add(l, "disk_inodes", json_object_new_int64(s->limits.disk_inodes));
    json_object_object_add(o, "limits", l);
    json_object_object_add(o, "env", json_object_get(s->env));
    json_object_object_add(o, "labels", json_object_get(s->labels));
    json_object_object_add(o, "policy", json_object_get(s->policy));
    if (s->secrets) json_object_object_add(o, "secrets", json_object_get(s->secrets)); /* no values */
    json_object_object_add(o, "net_attached", json_object_new_boolean(s->net_attached));
    json_object_object_add(o, "ttl", json_object_new_int64(s->ttl));
    json_object_object_add(o, "idle_timeout", json_object_new_int64(s->idle_timeout));
    json_object_object_add(o, "created", json_object_new_int64((int64_t)s->created));
    json_object_object_add(o, "expires", json_object_new_int64((int64_t)s->expires));
    json_object_object_add(o, "slot", json_object_new_int(s->slot));
    json_object_object_add(o, "id_base", json_object_new_int64((int64_t)s->id_base));
    json_object_object_add(o, "init_pid", json_object_new_int(s->sb.init_pid));
    json_object_object_add(o, "init_start", json_object_new_int64((int64_t)s->init_start));
    json_object_object_add(o, "ports", ports_to_record(s));
    return o;
}

int state_save(struct sbxd *d, struct session *s, sbx_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    run_path(d, s->id, "", path, sizeof(path));
    run_path(d, s->id, ".tmp", tmp, sizeof(tmp));
    _cleanup_json_ struct json_object *o = record(s);
    size_t len;
    const char *txt = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return sbx_error(err, errno, "write %s", tmp);
    if (write_all(fd, txt, len) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return sbx_error(err, e, "write %s", path);
    }
    return 0;
}

void state_remove(struct sbxd *d, const char *id)
{
    char path[PATH_MAX];
    run_path(d, id, "", path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT) log_warn("remove %s: %s", path, strerror(errno));
}

static const char *get_s(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t get_i(struct json_object *o, const char *k, int *ok)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))) {
        *ok = 0;
        return 0;
    }
    return json_object_get_int64(v);
}

static struct json_object *get_o(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_object) ? v
                                                                                           : NULL;
}

static int copy_s(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap) return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

/* Fill s from a record; -1 if it is not one of ours. */
static int from_record(struct sbxd *d, struct json_object *o, const char *name, struct session *s)
{
    int ok = 1;
    const char *id = get_s(o, "id");
    if (!id || strlen(id) != 12 || strncmp(name, id, 12) != 0 || strcmp(name + 12, ".json") != 0)
        return -1;
    if (copy_s(s->id, sizeof(s->id), id) < 0 ||
        copy_s(s->image, sizeof(s->image), get_s(o, "image")) < 0 ||
        copy_s(s->image_id, sizeof(s->image_id), get_s(o, "image_id")) < 0 ||
        copy_s(s->image_rootfs, sizeof(s->image_rootfs), get_s(o, "image_rootfs")) < 0 ||
        copy_s(s->ws_dir, sizeof(s->ws_dir), get_s(o, "ws_dir")) < 0)
        return -1;
    /* the workspace must be where this sbxd keeps them: never rm -rf elsewhere */
    char want[sizeof(s->ws_dir) + 32];
    snprintf(want, sizeof(want), "%s/%s", d->sessions_dir, s->id);
    if (strcmp(want, s->ws_dir) != 0) return -1;
    /* its named workspace stays attached to it (absent in records of older sbxds) */
    const char *ws = get_s(o, "workspace");
    if (ws && *ws && (!ws_name_valid(ws) || copy_s(s->workspace, sizeof(s->workspace), ws) < 0))
        return -1;
    struct json_object *l = get_o(o, "limits");
    if (!l) return -1;
    s->limits.memory = (uint64_t)get_i(l, "memory", &ok);
    s->limits.pids = get_i(l, "pids", &ok);
    struct json_object *cpu;
    s->limits.cpu = json_object_object_get_ex(l, "cpu", &cpu) ? json_object_get_double(cpu) : 0;
    /* records from before disk quotas have none: the node defaults (not enforced) */
    struct json_object *dl;
    struct limits defl;
    limits_default(&defl);
    s->limits.disk_bytes = json_object_object_get_ex(l, "disk_bytes", &dl)
                               ? (uint64_t)json_object_get_int64(dl)
                               : defl.disk_bytes;
    s->limits.disk_inodes = json_object_object_get_ex(l, "disk_inodes", &dl)
                                ? json_object_get_int64(dl)
                                : defl.disk_inodes;
    struct json_object *env = get_o(o, "env"), *labels = get_o(o, "labels"),
                       *policy = get_o(o, "policy");
    if (!env || !labels || !policy) return -1;
    s->env = json_object_get(env);
    s->labels = json_object_get(labels);
    s->policy = json_object_get(policy);
    struct json_object *sec = get_o(o, "secrets");
    if (sec) s->secrets = json_object_get(sec);
    struct json_object *na;
    s->net_attached = json_object_object_get_ex(o, "net_attached", &na) && json_object_get_boolean(na);
    s->ttl = get_i(o, "ttl", &ok);
    s->idle_timeout = get_i(o, "idle_timeout", &ok);
    s->created = (time_t)get_i(o, "created", &ok);
    s->expires = (time_t)get_i(o, "expires", &ok);
    s->slot = (int)get_i(o, "slot", &ok);
    s->id_base = (uid_t)get_i(o, "id_base", &ok);
    s->sb.init_pid = (pid_t)get_i(o, "init_pid", &ok);
    s->init_start = (uint64_t)get_i(o, "init_start", &ok);
    if (!ok || s->slot < 0 || s->sb.init_pid <= 1) return -1;
    struct json_object *ports; /* exposed ports (absent in records of older sbxds) */
    if (json_object_object_get_ex(o, "ports", &ports)) ports_from_record(s, ports);
    return 0;
}

int state_restore_all(struct sbxd *d)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/run", d->cfg.state_dir);
    sbx_err err;
    if (mkdir_p(dir, 0700, &err) < 0) {
        log_error("session records: %s", err.msg);
        return 0;
    }
    _cleanup_closedir_ DIR *dh = opendir(dir);
    struct dirent *de;
    int adopted = 0, dead = 0;
    while (dh && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 5, ".json") != 0) { /* a temp file */
            unlink(path);
            continue;
        }
        _cleanup_free_ char *buf = malloc(RECORD_MAX + 1);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t len = (buf && fd >= 0) ? read(fd, buf, RECORD_MAX) : -1;
        _cleanup_json_ struct json_object *o = NULL;
        if (len > 0) {
            buf[len] = '\0';
            o = json_tokener_parse(buf);
        }
        struct session *s = session_blank();
        if (!s) break;
        if (!o || from_record(d, o, de->d_name, s) < 0) {
            log_warn("session record %s is unreadable: removed (its sandbox, if any, is cleaned up "
                     "with the leftovers)",
                     path);
            unlink(path);
            session_blank_free(s);
            continue;
        }
        if (session_restore(d, s) == 0)
            adopted++;
        else
            dead++;
    }
    if (adopted || dead)
        log_info("after the restart: took over %d sessions; %d had died while sbxd was away and "
                 "were cleaned up",
                 adopted, dead);
    return adopted;
}
