/* imgstore.c - names, records and layers of the image store; see imgstore.h. */
#include "imgstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "images.h"
#include "json.h"
#include "log.h"
#include "sandbox.h"
#include "sbxd.h"
#include "session.h"
#include "util.h"

#define E_NOTFOUND(err, ...) sbx_error_kind(err, SBX_E_NOTFOUND, "unknown_image", __VA_ARGS__)

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int store_valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > IMG_NAME_MAX) return 0;
    if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'))) return 0;
    const char *colon = strchr(n, ':');
    for (const char *c = n; *c && c != colon; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
              *c == '-'))
            return 0;
    if (colon) {
        if (!colon[1]) return 0;
        for (const char *c = colon + 1; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
                return 0;
    }
    /* "sha256:..." would read as an id */
    if (strncmp(n, "sha256:", 7) == 0) return 0;
    return strstr(n, "..") == NULL;
}

static int save_refs(struct sbxd *d, sbx_err *err)
{
    struct img_store *st = &d->store;
    const char *s = json_object_to_json_string_ext(st->refs, JSON_C_TO_STRING_PRETTY);
    _cleanup_close_ int fd =
        openat(st->fd, "refs.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return sbx_error(err, errno, "write %s/refs.json.tmp", st->dir);
    if (write_all(fd, s, strlen(s)) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
        return sbx_error(err, errno, "write %s/refs.json.tmp", st->dir);
    if (renameat(st->fd, "refs.json.tmp", st->fd, "refs.json") < 0)
        return sbx_error(err, errno, "rename %s/refs.json", st->dir);
    return 0;
}

static struct json_object *load_json_at(int dirfd, const char *name)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > (16 << 20)) return NULL;
    _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) return NULL;
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    if (n < 0) return NULL;
    buf[n] = '\0';
    struct json_object *o = json_tokener_parse(buf);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* images/<hex>.json for "sha256:<hex>" */
static struct json_object *load_record(struct sbxd *d, const char *id)
{
    if (strncmp(id, "sha256:", 7) != 0 || strlen(id) != 71 || !is_hex(id + 7, 64)) return NULL;
    char name[100];
    snprintf(name, sizeof(name), "images/%s.json", id + 7);
    return load_json_at(d->store.fd, name);
}

/* The records in STORE/images: open_records, then next_record until it
 * returns 0, each time with the image id ("sha256:<hex>"). */
static DIR *open_records(struct sbxd *d)
{
    char dirp[4200];
    snprintf(dirp, sizeof(dirp), "%s/images", d->store.dir);
    return opendir(dirp);
}

static int next_record(DIR *dir, char id[72])
{
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".json") != 0) continue;
        snprintf(id, 72, "sha256:%.64s", de->d_name);
        return 1;
    }
    return 0;
}

static void clean_dir(struct sbxd *d, const char *sub)
{
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s", d->store.dir, sub);
    _cleanup_closedir_ DIR *dir = opendir(p);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char q[4500];
        snprintf(q, sizeof(q), "%s/%s", p, de->d_name);
        store_trash(d, q);
    }
}

int store_open(struct sbxd *d, sbx_err *err)
{
    struct img_store *st = &d->store;
    snprintf(st->dir, sizeof(st->dir), "%s/store", d->cfg.state_dir);
    if (strchr(st->dir, ':') || strchr(st->dir, ','))
        return sbx_error(err, EINVAL, "state dir %s: ':' and ',' cannot be used in overlayfs "
                                      "layer paths; choose another --state-dir",
                         d->cfg.state_dir);
    static const char *const sub[] = {"", "/layers", "/images", "/tmp", "/trash"};
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        char p[4200];
        snprintf(p, sizeof(p), "%s%s", st->dir, sub[i]);
        if (mkdir_p(p, 0700, err) < 0) return -1;
    }
    st->fd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->fd < 0) return sbx_error(err, errno, "open %s", st->dir);
    st->refs = load_json_at(st->fd, "refs.json");
    if (!st->refs) st->refs = json_object_new_object();
    st->idmap = sandbox_probe_idmap(st->dir);
    /* an import or removal cut short by a crash */
    clean_dir(d, "tmp");
    clean_dir(d, "trash");
    store_gc(d);
    return 0;
}

void store_close(struct sbxd *d)
{
    if (d->store.refs) json_object_put(d->store.refs);
    d->store.refs = NULL;
    if (d->store.fd > 0) close(d->store.fd);
    d->store.fd = -1;
}

void store_trash(struct sbxd *d, const char *path)
{
    char rnd[17], dst[4300];
    sbx_err err;
    if (random_hex(rnd, 8, &err) < 0) return;
    snprintf(dst, sizeof(dst), "%s/trash/%s", d->store.dir, rnd);
    if (rename(path, dst) < 0) {
        if (errno != ENOENT) log_warn("image store: move %s to trash: %s", path, strerror(errno));
        return;
    }
    /* a big layer takes a while to delete: never on the event loop */
    pid_t pid = fork();
    if (pid == 0) {
        sbx_err e2;
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        _exit(rm_rf(dst, &e2) < 0 ? 1 : 0);
    }
    if (pid < 0) {
        rm_rf(dst, &err); /* no process to spare: do it here */
    }
    /* reaped by sbxd's SIGCHLD handler */
}

/* ---- names ---- */

static const char *name_target(struct sbxd *d, const char *name)
{
    struct json_object *v;
    if (!json_object_object_get_ex(d->store.refs, name, &v)) return NULL;
    return json_object_get_string(v);
}

int store_is_dir_image(struct sbxd *d, const char *name)
{
    char p[4200];
    struct stat st;
    if (strchr(name, ':') || strchr(name, '/')) return 0;
    snprintf(p, sizeof(p), "%s/%s/rootfs", d->cfg.image_dir, name);
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* name / full id / id prefix -> "sha256:<hex>" of a stored image */
static int find_id(struct sbxd *d, const char *ref, char *id, size_t cap, sbx_err *err)
{
    const char *t = name_target(d, ref);
    if (t) {
        snprintf(id, cap, "%s", t);
        return 1;
    }
    const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
    size_t n = strlen(hex);
    if (n < 12 || n > 64 || !is_hex(hex, n)) return 0;
    _cleanup_closedir_ DIR *dir = open_records(d);
    char rid[72];
    int found = 0;
    while (next_record(dir, rid)) {
        if (strncmp(rid + 7, hex, n) != 0) continue;
        if (found++)
            return sbx_error_kind(err, SBX_E_INVALID, "ambiguous_image",
                                  "image id prefix %s matches more than one image; give more "
                                  "digits",
                                  ref);
        snprintf(id, cap, "%s", rid);
    }
    return found;
}

static int valid_ref(const char *ref)
{
    const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : NULL;
    if (hex) return strlen(hex) >= 12 && strlen(hex) <= 64 && is_hex(hex, strlen(hex));
    return store_valid_name(ref);
}

int store_resolve(struct sbxd *d, const char *ref, struct img_resolved *out, sbx_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!valid_ref(ref))
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"image\": \"%.64s\" is not a valid image name (lowercase "
                              "letters, digits, '.', '_', '-', optionally \":TAG\"; at most 128) "
                              "or id (sha256:HEX)",
                              ref);
    snprintf(out->ref, sizeof(out->ref), "%s", ref);
    int r = find_id(d, ref, out->id, sizeof(out->id), err);
    if (r < 0) return -1;
    if (r == 0) {
        /* a directory image, or an error that lists what there is */
        out->id[0] = '\0';
        out->nlowers = 1;
        out->idmap = d->idmap;
        if (store_valid_name(ref) && !strchr(ref, ':') && store_is_dir_image(d, ref))
            return image_resolve(d->cfg.image_dir, ref, out->lowers, sizeof(out->lowers), err);
        char avail[600] = "";
        size_t n = 0;
        struct json_object_iterator it = json_object_iter_begin(d->store.refs),
                                    end = json_object_iter_end(d->store.refs);
        for (; !json_object_iter_equal(&it, &end) && n < 400; json_object_iter_next(&it))
            n += (size_t)snprintf(avail + n, sizeof(avail) - n, "%s%s", n ? ", " : "",
                                  json_object_iter_peek_name(&it));
        _cleanup_closedir_ DIR *dir = opendir(d->cfg.image_dir);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL && n < 500)
            if (de->d_name[0] != '.' && store_is_dir_image(d, de->d_name))
                n += (size_t)snprintf(avail + n, sizeof(avail) - n, "%s%s", n ? ", " : "",
                                      de->d_name);
        return sbx_error_kind(err, SBX_E_INVALID, "unknown_image",
                              "image \"%.128s\" not found; available: %s (import one with `sbx "
                              "image import`, see docs/images.md)",
                              ref, n ? avail : "none");
    }
    _cleanup_json_ struct json_object *rec = load_record(d, out->id);
    struct json_object *layers;
    if (!rec || !json_object_object_get_ex(rec, "layers", &layers) ||
        !json_object_is_type(layers, json_type_array))
        return sbx_error(err, ENOENT, "image %s: record %s/images/%s.json is missing or damaged",
                         ref, d->store.dir, out->id + 7);
    size_t nl = json_object_array_length(layers), o = 0;
    for (size_t i = nl; i-- > 0;) {
        const char *dg = json_object_get_string(json_object_array_get_idx(layers, i));
        if (!dg || strlen(dg) != 71 || !is_hex(dg + 7, 64))
            return sbx_error(err, EINVAL, "image %s: damaged layer list", ref);
        int w = snprintf(out->lowers + o, sizeof(out->lowers) - o, "%s%s/layers/%s/root",
                         o ? ":" : "", d->store.dir, dg + 7);
        if (w < 0 || (size_t)w >= sizeof(out->lowers) - o)
            return sbx_error_kind(err, SBX_E_INVALID, "image_too_deep",
                                  "image %s has %zu layers: too many for one overlayfs mount here; "
                                  "flatten it (e.g. docker export | sbx image import -)",
                                  ref, nl);
        o += (size_t)w;
    }
    if (nl == 0) {
        /* an image without layers: an empty root */
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_image", "image %s has no layers", ref);
    }
    out->nlowers = (int)nl;
    out->idmap = d->store.idmap;
    return 0;
}

/* ---- listing ---- */

static struct json_object *names_of(struct sbxd *d, const char *id)
{
    struct json_object *arr = json_object_new_array();
    json_object_object_foreach(d->store.refs, k, v)
    {
        if (strcmp(json_object_get_string(v), id) == 0)
            json_object_array_add(arr, json_object_new_string(k));
    }
    return arr;
}

static int used_by(struct sbxd *d, const char *id, char *sid, size_t cap)
{
    int n = 0;
    for (struct session *s = d->sessions; s; s = s->next)
        if (s->image_id[0] && strcmp(s->image_id, id) == 0) {
            if (!n) snprintf(sid, cap, "%s", s->id);
            n++;
        }
    return n;
}

struct json_object *store_image_json(struct sbxd *d, struct json_object *record)
{
    struct json_object *o = json_object_new_object();
    json_object_object_foreach(record, k, v)
    {
        json_object_object_add(o, k, json_object_get(v));
    }
    struct json_object *idv;
    const char *id = json_object_object_get_ex(record, "id", &idv) ? json_object_get_string(idv) : "";
    json_object_object_add(o, "names", names_of(d, id));
    json_object_object_add(o, "source", json_object_new_string("store"));
    char sid[16];
    json_object_object_add(o, "sessions", json_object_new_int(used_by(d, id, sid, sizeof(sid))));
    return o;
}

static struct json_object *dir_image_json(struct sbxd *d, const char *name)
{
    struct json_object *o = json_object_new_object();
    char p[4200];
    snprintf(p, sizeof(p), "%s/%s/image.json", d->cfg.image_dir, name);
    _cleanup_json_ struct json_object *meta = NULL;
    char dirp[4200];
    snprintf(dirp, sizeof(dirp), "%s/%s", d->cfg.image_dir, name);
    _cleanup_close_ int dfd = open(dirp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) meta = load_json_at(dfd, "image.json");
    struct json_object *names = json_object_new_array();
    json_object_array_add(names, json_object_new_string(name));
    json_object_object_add(o, "id", NULL);
    json_object_object_add(o, "names", names);
    json_object_object_add(o, "source", json_object_new_string("directory"));
    json_object_object_add(o, "format", json_object_new_string("directory"));
    snprintf(p, sizeof(p), "%s/%s/rootfs", d->cfg.image_dir, name);
    json_object_object_add(o, "path", json_object_new_string(p));
    struct json_object *v;
    int64_t size = 0;
    if (meta && json_object_object_get_ex(meta, "size_kib", &v)) size = json_object_get_int64(v) * 1024;
    json_object_object_add(o, "size", json_object_new_int64(size));
    if (meta && json_object_object_get_ex(meta, "version", &v))
        json_object_object_add(o, "version", json_object_get(v));
    int n = 0;
    for (struct session *s = d->sessions; s; s = s->next)
        if (!s->image_id[0] && strcmp(s->image, name) == 0) n++;
    json_object_object_add(o, "sessions", json_object_new_int(n));
    return o;
}

struct json_object *store_list(struct sbxd *d)
{
    struct json_object *arr = json_object_new_array();
    _cleanup_closedir_ DIR *dir = open_records(d);
    char id[72];
    while (next_record(dir, id)) {
        _cleanup_json_ struct json_object *rec = load_record(d, id);
        if (rec) json_object_array_add(arr, store_image_json(d, rec));
    }
    struct dirent *de;
    _cleanup_closedir_ DIR *idir = opendir(d->cfg.image_dir);
    while (idir && (de = readdir(idir)) != NULL)
        if (de->d_name[0] != '.' && store_is_dir_image(d, de->d_name))
            json_object_array_add(arr, dir_image_json(d, de->d_name));
    return arr;
}

int store_inspect(struct sbxd *d, const char *ref, struct json_object **out, sbx_err *err)
{
    char id[72];
    int r = find_id(d, ref, id, sizeof(id), err);
    if (r < 0) return -1;
    if (r == 0) {
        if (store_valid_name(ref) && store_is_dir_image(d, ref)) {
            *out = dir_image_json(d, ref);
            return 0;
        }
        return E_NOTFOUND(err, "no image \"%.128s\" (list images with GET /v1/images)", ref);
    }
    _cleanup_json_ struct json_object *rec = load_record(d, id);
    if (!rec) return sbx_error(err, ENOENT, "image %s: record missing", id);
    *out = store_image_json(d, rec);
    return 0;
}

int store_set_name(struct sbxd *d, const char *name, const char *id, sbx_err *err)
{
    json_object_object_add(d->store.refs, name, json_object_new_string(id));
    return save_refs(d, err);
}

static int delete_image(struct sbxd *d, const char *id, sbx_err *err)
{
    /* names first, then the record: a crash in between leaves an unnamed image */
    struct json_object *keys = json_object_new_array();
    json_object_object_foreach(d->store.refs, k, v)
    {
        if (strcmp(json_object_get_string(v), id) == 0)
            json_object_array_add(keys, json_object_new_string(k));
    }
    for (size_t i = 0; i < json_object_array_length(keys); i++)
        json_object_object_del(d->store.refs,
                               json_object_get_string(json_object_array_get_idx(keys, i)));
    json_object_put(keys);
    if (save_refs(d, err) < 0) return -1;
    char name[100];
    snprintf(name, sizeof(name), "images/%s.json", id + 7);
    if (unlinkat(d->store.fd, name, 0) < 0 && errno != ENOENT)
        return sbx_error(err, errno, "remove %s/%s", d->store.dir, name);
    store_gc(d);
    return 0;
}

int store_remove(struct sbxd *d, const char *ref, sbx_err *err)
{
    char id[72];
    int r = find_id(d, ref, id, sizeof(id), err);
    if (r < 0) return -1;
    if (r == 0) {
        if (store_valid_name(ref) && store_is_dir_image(d, ref))
            return sbx_error_kind(err, SBX_E_CONFLICT, "directory_image",
                                  "image %s is a directory image (%s/%s/rootfs), not in the "
                                  "store; remove that directory to remove it",
                                  ref, d->cfg.image_dir, ref);
        return E_NOTFOUND(err, "no image \"%.128s\" (list images with GET /v1/images)", ref);
    }
    char sid[16];
    int n = used_by(d, id, sid, sizeof(sid));
    if (n > 0)
        return sbx_error_kind(err, SBX_E_CONFLICT, "image_in_use",
                              "image %s is used by %d session%s (e.g. %s); remove %s first", ref,
                              n, n == 1 ? "" : "s", sid, n == 1 ? "it" : "them");
    const char *t = name_target(d, ref);
    if (t) {
        /* untag; the image goes with its last name */
        json_object_object_del(d->store.refs, ref);
        _cleanup_json_ struct json_object *left = names_of(d, id);
        if (json_object_array_length(left) > 0) return save_refs(d, err);
    }
    return delete_image(d, id, err);
}

/* ---- layer garbage collection ---- */

void store_gc(struct sbxd *d)
{
    struct img_store *st = &d->store;
    if (st->importing) {
        st->gc_wanted = 1;
        return;
    }
    st->gc_wanted = 0;
    _cleanup_json_ struct json_object *used = json_object_new_object();
    _cleanup_closedir_ DIR *dir = open_records(d);
    char id[72];
    while (next_record(dir, id)) {
        _cleanup_json_ struct json_object *rec = load_record(d, id);
        struct json_object *layers;
        if (!rec || !json_object_object_get_ex(rec, "layers", &layers)) {
            log_warn("image store: %s/images/%s.json is damaged; its layers are kept", st->dir,
                     id + 7);
            return;
        }
        for (size_t i = 0; i < json_object_array_length(layers); i++) {
            const char *dg = json_object_get_string(json_object_array_get_idx(layers, i));
            if (dg && strlen(dg) == 71) json_object_object_add(used, dg + 7, NULL);
        }
    }
    char dirp[4200];
    snprintf(dirp, sizeof(dirp), "%s/layers", st->dir);
    _cleanup_closedir_ DIR *ldir = opendir(dirp);
    struct dirent *de;
    while (ldir && (de = readdir(ldir)) != NULL) {
        if (de->d_name[0] == '.' || json_object_object_get_ex(used, de->d_name, NULL)) continue;
        char p[4500];
        snprintf(p, sizeof(p), "%s/%s", dirp, de->d_name);
        log_info("image store: removing unused layer %s", de->d_name);
        store_trash(d, p);
    }
}
