/* fileops.c - the session file API's file operations. See fileops.h.
 *
 * Runs in sbxd's per-request worker as the sandbox's user, inside the
 * sandbox's mount namespace: no privilege handling here, only semantics,
 * bounds and errors. No global state, no exit(), no printing. */
#include "fileops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

#define FO_CHUNK ((size_t)128 << 10) /* read/write buffer */
#define FO_SPLICE ((size_t)1 << 20)  /* bytes asked of one splice(2) */
#define FO_TMP_SUFFIX_LEN 11         /* ".sbx-XXXXXX" */

/* ---- errors ---- */

void fo_classify(int e, enum sbx_err_kind *kind, const char **code)
{
    switch (e) {
    case ENOENT: *kind = SBX_E_NOTFOUND, *code = "not_found"; break;
    case EACCES:
    case EPERM: *kind = SBX_E_FORBIDDEN, *code = "permission_denied"; break;
    case EROFS: *kind = SBX_E_FORBIDDEN, *code = "read_only"; break;
    case EEXIST:
    case ENOTEMPTY:
    case EISDIR:
    case ENOTDIR:
    case EBUSY: *kind = SBX_E_CONFLICT, *code = "conflict"; break;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: *kind = SBX_E_TOOLARGE, *code = "no_space"; break;
    case ENAMETOOLONG:
    case ELOOP:
    case EINVAL: *kind = SBX_E_INVALID, *code = "invalid_path"; break;
    default: *kind = SBX_E_INTERNAL, *code = "internal"; break;
    }
}

int fo_errno(sbx_err *err, int errnum, const char *fmt, ...)
{
    char msg[SBX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (errnum < 0) errnum = -errnum;
    int r = sbx_error(err, errnum, "%s", msg);
    fo_classify(errnum, &err->kind, &err->code);
    return r;
}

/* A message written in full (no strerror appended), with errnum recorded. */
__attribute__((format(printf, 5, 6))) static int
fo_fail(sbx_err *err, int errnum, enum sbx_err_kind kind, const char *code, const char *fmt, ...)
{
    char msg[SBX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbx_error_kind(err, kind, code, "%s", msg);
    err->errnum = errnum;
    return errnum > 0 ? -errnum : -1;
}

/* ---- paths ---- */

int fo_check_path(const char *path, sbx_err *err)
{
    if (!path || !*path)
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "the path is empty: give an absolute path, e.g. \"/workspace/app.js\"");
    size_t n = strnlen(path, FO_PATH_MAX + 1);
    if (n > FO_PATH_MAX)
        return fo_fail(err, ENAMETOOLONG, SBX_E_INVALID, "invalid_path",
                       "the path is longer than %d bytes", FO_PATH_MAX);
    if (path[0] != '/')
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "path \"%s\" is not absolute: it must start with '/', e.g. "
                       "\"/workspace/app.js\"",
                       path);
    return 0;
}

/* Split an absolute path into its parent directory and last component,
 * ignoring trailing slashes ("/a/b/" -> "/a", "b"). name is "" for "/", "//".
 * dir must hold FO_PATH_MAX + 1 bytes, name NAME_MAX + 1. */
static int split_path(const char *path, char *dir, char *name)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n > FO_PATH_MAX) return -ENAMETOOLONG;
    if (n == 1) {
        strcpy(dir, "/");
        name[0] = '\0';
        return 0;
    }
    size_t i = n;
    while (i > 0 && path[i - 1] != '/') i--;
    size_t nl = n - i;
    if (nl > NAME_MAX) return -ENAMETOOLONG;
    memcpy(name, path + i, nl);
    name[nl] = '\0';
    size_t dl = i;
    while (dl > 1 && path[dl - 1] == '/') dl--;
    if (dl == 0) dl = 1;
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    return 0;
}

static int is_dot_or_dotdot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* "dir/name" without doubling a trailing slash of dir. NULL on OOM. */
static char *join(const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", dir, dl > 0 && dir[dl - 1] == '/' ? "" : "/", name) < 0) return NULL;
    return p;
}

/* The last component of path ("/" for "/"), malloc'ed. */
static char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n == 1 && path[0] == '/') return strdup("/");
    size_t i = n;
    while (i > 0 && path[i - 1] != '/') i--;
    return strndup(path + i, n - i);
}

static const char *type_name(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return "file";
    case S_IFDIR: return "dir";
    case S_IFLNK: return "symlink";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "char";
    case S_IFBLK: return "block";
    default: return "unknown";
    }
}

/* ---- stat ---- */

static int jset(struct json_object *o, const char *key, struct json_object *v)
{
    if (!v) return -1;
    if (json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

/* The link's target, malloc'ed; NULL if it cannot be read (or OOM). */
static char *read_target(int dfd, const char *name)
{
    char buf[PATH_MAX];
    ssize_t n = readlinkat(dfd, name, buf, sizeof(buf) - 1);
    if (n < 0) return NULL;
    buf[n] = '\0';
    return strdup(buf);
}

static struct json_object *stat_json(const char *path, const char *name, const struct stat *st,
                                     const char *target)
{
    struct json_object *o = json_object_new_object();
    if (!o) return NULL;
    char mode[8], mtime[32];
    snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->st_mode & 07777));
    fmt_time_utc(st->st_mtime, mtime, sizeof(mtime));
    int r = 0;
    r |= jset(o, "path", json_object_new_string(path));
    r |= jset(o, "name", json_object_new_string(name));
    r |= jset(o, "type", json_object_new_string(type_name(st->st_mode)));
    r |= jset(o, "size", json_object_new_int64((int64_t)st->st_size));
    r |= jset(o, "mode", json_object_new_string(mode));
    r |= jset(o, "uid", json_object_new_int64((int64_t)st->st_uid));
    r |= jset(o, "gid", json_object_new_int64((int64_t)st->st_gid));
    r |= jset(o, "mtime", json_object_new_string(mtime));
    if (S_ISLNK(st->st_mode) && target) r |= jset(o, "target", json_object_new_string(target));
    if (r) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int fo_stat(const char *path, struct json_object **out, sbx_err *err)
{
    *out = NULL;
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    struct stat st;
    if (lstat(path, &st) < 0) return fo_errno(err, errno, "stat %s", path);
    _cleanup_free_ char *target = S_ISLNK(st.st_mode) ? read_target(AT_FDCWD, path) : NULL;
    _cleanup_free_ char *name = base_name(path);
    if (!name) return sbx_error(err, ENOMEM, "stat %s", path);
    *out = stat_json(path, name, &st, target);
    if (!*out) return sbx_error(err, ENOMEM, "stat %s", path);
    return 0;
}

/* ---- list ---- */

struct fo_ent {
    char *path;
    char *target;
    struct stat st;
};

struct fo_walk {
    struct fo_ent *v;
    size_t n, cap;
    size_t max;   /* entries to return */
    size_t keep;  /* prune back to max when n reaches this */
    char *cutoff; /* after a prune: paths sorting after it cannot make the cut */
    int truncated;
    int depth;
    size_t scanned, skipped;
};

static int ent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fo_ent *)a)->path, ((const struct fo_ent *)b)->path);
}

static void ent_free(struct fo_ent *e)
{
    free(e->path);
    free(e->target);
}

/* Sort and keep the first w->max entries; later ones must sort before the
 * new last one to matter (and so must anything below them). */
static int walk_prune(struct fo_walk *w)
{
    qsort(w->v, w->n, sizeof(*w->v), ent_cmp);
    if (w->n <= w->max) return 0;
    for (size_t i = w->max; i < w->n; i++) ent_free(&w->v[i]);
    w->n = w->max;
    w->truncated = 1;
    free(w->cutoff);
    w->cutoff = strdup(w->max ? w->v[w->max - 1].path : "");
    return w->cutoff ? 0 : -1;
}

static int walk_add(struct fo_walk *w, const char *path, const struct stat *st, int dfd,
                    const char *name)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        if (cap > w->keep) cap = w->keep;
        struct fo_ent *v = realloc(w->v, cap * sizeof(*v));
        if (!v) return -1;
        w->v = v;
        w->cap = cap;
    }
    struct fo_ent *e = &w->v[w->n];
    e->st = *st;
    e->target = NULL;
    e->path = strdup(path);
    if (!e->path) return -1;
    if (S_ISLNK(st->st_mode)) e->target = read_target(dfd, name);
    w->n++;
    if (w->n >= w->keep) return walk_prune(w);
    return 0;
}

/* Read the directory fd (owned) whose entries are at `level`. 0 done, 1 the
 * scan limit was hit (stop), <0 error (OOM, or the top directory failing). */
static int walk_dir(struct fo_walk *w, int fd, const char *dpath, int level, sbx_err *err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        if (level == 1) return fo_errno(err, e, "list %s", dpath);
        w->skipped++;
        return 0;
    }
    _cleanup_closedir_ DIR *dir = d;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno == 0) return 0;
            if (level == 1) return fo_errno(err, errno, "list %s: read directory", dpath);
            w->skipped++;
            return 0;
        }
        if (is_dot_or_dotdot(de->d_name)) continue;
        if (++w->scanned > FO_LIST_SCAN_MAX) {
            w->truncated = 1;
            return 1;
        }
        _cleanup_free_ char *p = join(dpath, de->d_name);
        if (!p) return sbx_error(err, ENOMEM, "list %s", dpath);
        if (w->cutoff && strcmp(p, w->cutoff) > 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) w->skipped++;
            continue;
        }
        if (walk_add(w, p, &st, dirfd(d), de->d_name) < 0)
            return sbx_error(err, ENOMEM, "list %s", dpath);
        if (!S_ISDIR(st.st_mode) || level >= w->depth) continue;
        int cfd = openat(dirfd(d), de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (cfd < 0) {
            if (errno != ENOENT) w->skipped++;
            continue;
        }
        int r = walk_dir(w, cfd, p, level + 1, err);
        if (r != 0) return r;
    }
}

int fo_list(const char *path, int depth, size_t max_entries, struct json_object **out, sbx_err *err)
{
    *out = NULL;
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    if (depth < 1 || depth > FO_LIST_DEPTH_MAX)
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_request",
                       "list %s: depth must be 1 to %d, got %d", path, FO_LIST_DEPTH_MAX, depth);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOTDIR)
            return fo_fail(err, ENOTDIR, SBX_E_CONFLICT, "conflict",
                           "list %s: not a directory (stat it instead)", path);
        return fo_errno(err, errno, "list %s", path);
    }
    struct fo_walk w = {.depth = depth};
    w.max = max_entries < FO_LIST_SCAN_MAX ? max_entries : FO_LIST_SCAN_MAX;
    w.keep = w.max + (w.max > 1024 ? w.max : 1024);
    r = walk_dir(&w, fd, path, 1, err);
    if (r >= 0 && walk_prune(&w) < 0) r = sbx_error(err, ENOMEM, "list %s", path);
    struct json_object *res = NULL, *entries = NULL;
    if (r >= 0) {
        res = json_object_new_object();
        if (!res || jset(res, "path", json_object_new_string(path)) < 0 ||
            jset(res, "entries", entries = json_object_new_array()) < 0)
            r = sbx_error(err, ENOMEM, "list %s", path);
    }
    for (size_t i = 0; i < w.n; i++) {
        if (r >= 0) {
            const char *slash = strrchr(w.v[i].path, '/');
            struct json_object *e =
                stat_json(w.v[i].path, slash ? slash + 1 : w.v[i].path, &w.v[i].st, w.v[i].target);
            if (!e || json_object_array_add(entries, e) < 0) {
                json_object_put(e);
                r = sbx_error(err, ENOMEM, "list %s", path);
            }
        }
        ent_free(&w.v[i]);
    }
    free(w.v);
    free(w.cutoff);
    if (r >= 0 && (jset(res, "truncated", json_object_new_boolean(w.truncated)) < 0 ||
                   jset(res, "skipped", json_object_new_int64((int64_t)w.skipped)) < 0))
        r = sbx_error(err, ENOMEM, "list %s", path);
    if (r < 0) {
        json_object_put(res);
        return r;
    }
    *out = res;
    return 0;
}

/* ---- mkdir ---- */

int fo_mkdir(const char *path, int parents, mode_t mode, sbx_err *err)
{
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    mode &= 07777;
    struct stat st;
    if (!parents) {
        if (mkdir(path, mode) == 0) return 0;
        int e = errno;
        if (e == EEXIST)
            return fo_fail(err, EEXIST, SBX_E_CONFLICT, "conflict",
                           "mkdir %s: it already exists (it is a %s)", path,
                           lstat(path, &st) == 0 ? type_name(st.st_mode) : "file");
        return fo_errno(err, e, "mkdir %s", path);
    }
    char buf[FO_PATH_MAX + 1];
    size_t n = strlen(path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && buf[i] != '/') continue;
        if (buf[i - 1] == '/') continue; /* "//" or a trailing slash */
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, mode) < 0) {
            int e = errno;
            /* An existing directory (or a link to one) is fine, whatever
             * mkdir said about it (EEXIST, or EACCES/EROFS above it). */
            if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
                buf[i] = c;
                continue;
            }
            if (e == EEXIST)
                return fo_fail(err, EEXIST, SBX_E_CONFLICT, "conflict",
                               "mkdir -p %s: %s exists and is not a directory (it is a %s)", path,
                               buf, lstat(buf, &st) == 0 ? type_name(st.st_mode) : "file");
            if (c == '\0') return fo_errno(err, e, "mkdir %s", path);
            return fo_errno(err, e, "mkdir -p %s: create %s", path, buf);
        }
        buf[i] = c;
    }
    return 0;
}

/* ---- rename ---- */

int fo_rename(const char *from, const char *to, int overwrite, sbx_err *err)
{
    int r = fo_check_path(from, err);
    if (r < 0) return r;
    r = fo_check_path(to, err);
    if (r < 0) return r;
    struct stat st;
    if (overwrite) {
        r = rename(from, to);
    } else {
        r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
        if (r < 0 && (errno == EINVAL || errno == ENOSYS)) {
            /* A filesystem without RENAME_NOREPLACE (or a real EINVAL, which
             * rename(2) reports again): check, then rename. */
            if (lstat(to, &st) == 0)
                errno = EEXIST;
            else
                r = rename(from, to);
        }
    }
    if (r == 0) return 0;
    int e = errno;
    switch (e) {
    case EEXIST:
        return fo_fail(err, EEXIST, SBX_E_CONFLICT, "conflict",
                       "rename %s -> %s: %s already exists (ask to overwrite it to replace it)",
                       from, to, to);
    case EXDEV:
        return fo_fail(err, EXDEV, SBX_E_CONFLICT, "cross_device",
                       "rename %s -> %s: they are on different filesystems (mounts); copy the "
                       "data and remove the source instead",
                       from, to);
    case EINVAL:
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "rename %s -> %s: a directory cannot be moved into itself (and \".\" or "
                       "\"..\" cannot be renamed)",
                       from, to);
    case ENOENT:
        if (lstat(from, &st) < 0 && errno == ENOENT)
            return fo_fail(err, ENOENT, SBX_E_NOTFOUND, "not_found",
                           "rename %s -> %s: %s does not exist", from, to, from);
        return fo_fail(err, ENOENT, SBX_E_NOTFOUND, "not_found",
                       "rename %s -> %s: the directory of %s does not exist (create it first)",
                       from, to, to);
    default: return fo_errno(err, e, "rename %s -> %s", from, to);
    }
}

/* ---- remove ---- */

static int same_dev(const struct statx *a, const struct statx *b)
{
    return a->stx_dev_major == b->stx_dev_major && a->stx_dev_minor == b->stx_dev_minor;
}

static int is_mount_root(const struct statx *sx)
{
    return (sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

#define FO_STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)
#define FO_STATX_MASK (STATX_TYPE | STATX_INO)

/* Open the directory `name` in dfd for removal of its entries, checking it
 * is still the one statx saw (sx) and on the tree's filesystem (top). */
static int open_for_rm(int dfd, const char *name, const char *path, const struct statx *sx,
                       sbx_err *err)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fo_errno(err, errno, "remove %s", path);
    struct statx now;
    if (statx(fd, "", AT_EMPTY_PATH, FO_STATX_MASK, &now) < 0) {
        int e = errno;
        close(fd);
        return fo_errno(err, e, "remove %s", path);
    }
    if (now.stx_ino != sx->stx_ino || !same_dev(&now, sx)) {
        close(fd);
        return fo_fail(err, EBUSY, SBX_E_CONFLICT, "conflict",
                       "remove %s: it was replaced while being removed; try again", path);
    }
    return fd;
}

/* The path fo_remove was given, and what it is. */
struct rm_top {
    const char *path;
    struct statx sx;
};

/* Remove everything in the directory fd (owned), whose entries are at
 * `level` below top->path, all on top's filesystem. */
static int rm_children(int fd, const char *dpath, const struct rm_top *top, int level, sbx_err *err)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return fo_errno(err, e, "remove %s", dpath);
    }
    _cleanup_closedir_ DIR *dir = d;
    /* Entries removed while reading a directory are handled by every Linux
     * filesystem, but not promised: read again until a pass finds none. */
    for (int pass = 0; pass < 4; pass++) {
        int seen = 0;
        rewinddir(d);
        for (;;) {
            errno = 0;
            struct dirent *de = readdir(d);
            if (!de) {
                if (errno) return fo_errno(err, errno, "remove %s: read directory", dpath);
                break;
            }
            if (is_dot_or_dotdot(de->d_name)) continue;
            seen = 1;
            _cleanup_free_ char *p = join(dpath, de->d_name);
            if (!p) return sbx_error(err, ENOMEM, "remove %s", dpath);
            if (level > FO_REMOVE_DEPTH_MAX)
                return fo_fail(err, ELOOP, SBX_E_CONFLICT, "too_deep",
                               "remove %s: the tree is deeper than %d levels (%s); remove it in "
                               "parts",
                               top->path, FO_REMOVE_DEPTH_MAX, p);
            struct statx sx;
            if (statx(dirfd(d), de->d_name, FO_STATX_FLAGS, FO_STATX_MASK, &sx) < 0) {
                if (errno == ENOENT) continue;
                return fo_errno(err, errno, "remove %s", p);
            }
            /* Only a directory's st_dev says which filesystem it is on
             * (overlayfs gives files their layer's); a mounted file is
             * a mount root. */
            if (is_mount_root(&sx) || (S_ISDIR(sx.stx_mode) && !same_dev(&sx, &top->sx)))
                return fo_fail(err, EXDEV, SBX_E_CONFLICT, "mount_point",
                               "remove %s: %s is a mount point (another filesystem); not "
                               "crossing into it (remove the entries around it instead)",
                               dpath, p);
            int flags = 0;
            if (S_ISDIR(sx.stx_mode)) {
                int cfd = open_for_rm(dirfd(d), de->d_name, p, &sx, err);
                if (cfd < 0) {
                    if (err->errnum == ENOENT) continue;
                    return cfd;
                }
                int r = rm_children(cfd, p, top, level + 1, err);
                if (r < 0) return r;
                flags = AT_REMOVEDIR;
            }
            if (unlinkat(dirfd(d), de->d_name, flags) < 0 && errno != ENOENT)
                return fo_errno(err, errno, "remove %s", p);
        }
        if (!seen) break;
    }
    return 0;
}

int fo_remove(const char *path, int recursive, sbx_err *err)
{
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    char dir[FO_PATH_MAX + 1], name[NAME_MAX + 1];
    r = split_path(path, dir, name);
    if (r < 0) return fo_errno(err, -r, "remove %s", path);
    if (!name[0])
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "remove %s: refusing to remove the root directory", path);
    if (is_dot_or_dotdot(name))
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "remove %s: the path must not end in \".\" or \"..\"; name the entry "
                       "itself",
                       path);
    _cleanup_close_ int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return fo_errno(err, errno, "remove %s", path);
    struct statx sx, root;
    if (statx(dfd, name, FO_STATX_FLAGS, FO_STATX_MASK, &sx) < 0)
        return fo_errno(err, errno, "remove %s", path);
    if (statx(AT_FDCWD, "/", 0, FO_STATX_MASK, &root) == 0 && root.stx_ino == sx.stx_ino &&
        same_dev(&root, &sx))
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "remove %s: refusing to remove the root directory", path);
    if (is_mount_root(&sx))
        return fo_fail(err, EBUSY, SBX_E_CONFLICT, "mount_point",
                       "remove %s: it is a mount point and cannot be removed (remove the entries "
                       "inside it instead)",
                       path);
    if (!S_ISDIR(sx.stx_mode)) {
        if (unlinkat(dfd, name, 0) < 0) return fo_errno(err, errno, "remove %s", path);
        return 0;
    }
    if (recursive) {
        int cfd = open_for_rm(dfd, name, path, &sx, err);
        if (cfd < 0) return cfd;
        struct rm_top top = {.path = path, .sx = sx};
        r = rm_children(cfd, path, &top, 1, err);
        if (r < 0) return r;
    }
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
        int e = errno;
        if ((e == ENOTEMPTY || e == EEXIST) && !recursive)
            return fo_fail(err, ENOTEMPTY, SBX_E_CONFLICT, "conflict",
                           "remove %s: the directory is not empty (remove it recursively to "
                           "delete the tree)",
                           path);
        return fo_errno(err, e, "remove %s", path);
    }
    return 0;
}

/* ---- read ---- */

static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        if (poll(&p, 1, -1) >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

static int not_regular(sbx_err *err, const char *path, mode_t m)
{
    if (S_ISDIR(m))
        return fo_fail(err, EISDIR, SBX_E_CONFLICT, "conflict",
                       "read %s: it is a directory (list it instead)", path);
    return fo_fail(err, EINVAL, SBX_E_CONFLICT, "conflict",
                   "read %s: not a regular file (it is a %s); only regular files can be read", path,
                   type_name(m));
}

/* Copy exactly size bytes from fd's current offset to outfd. 0, or <0 with
 * err set (EPIPE: "client_gone"). */
static int stream_out(int fd, int outfd, uint64_t size, const char *path, sbx_err *err)
{
    int use_splice = 1;
    _cleanup_free_ char *buf = NULL;
    uint64_t done = 0;
    while (done < size) {
        uint64_t left = size - done;
        ssize_t n;
        if (use_splice) {
            n = splice(fd, NULL, outfd, NULL, left < FO_SPLICE ? (size_t)left : FO_SPLICE,
                       SPLICE_F_MORE);
            if (n < 0) {
                int e = errno;
                if (e == EINTR) continue;
                if (e == EAGAIN) {
                    int r = wait_fd(outfd, POLLOUT);
                    if (r < 0) return sbx_error(err, -r, "read %s: wait for the reader", path);
                    continue;
                }
                if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) {
                    use_splice = 0; /* not a pipe, or a filesystem without splice */
                    continue;
                }
                if (e == EPIPE) goto gone;
                return fo_errno(err, e, "read %s", path);
            }
        } else {
            if (!buf && !(buf = malloc(FO_CHUNK))) return sbx_error(err, ENOMEM, "read %s", path);
            n = read(fd, buf, left < FO_CHUNK ? (size_t)left : FO_CHUNK);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fo_errno(err, errno, "read %s", path);
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(outfd, buf + off, (size_t)(n - off));
                if (w < 0) {
                    int e = errno;
                    if (e == EINTR) continue;
                    if (e == EAGAIN) {
                        int r = wait_fd(outfd, POLLOUT);
                        if (r < 0) return sbx_error(err, -r, "read %s: wait for the reader", path);
                        continue;
                    }
                    if (e == EPIPE) goto gone;
                    return sbx_error(err, e, "read %s: write to the reader", path);
                }
                off += w;
            }
        }
        if (n == 0)
            return fo_fail(err, EIO, SBX_E_CONFLICT, "conflict",
                           "read %s: the file shrank while it was read (%llu of %llu bytes)", path,
                           (unsigned long long)done, (unsigned long long)size);
        done += (uint64_t)n;
    }
    return 0;
gone:
    return fo_fail(err, EPIPE, SBX_E_INTERNAL, "client_gone",
                   "read %s: the reader went away after %llu of %llu bytes", path,
                   (unsigned long long)done, (unsigned long long)size);
}

int fo_read(const char *path, int outfd, uint64_t *size, sbx_err *err)
{
    *size = 0;
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    /* Look before opening: opening a FIFO, tape or tty can block or act. */
    struct stat st;
    if (stat(path, &st) < 0) return fo_errno(err, errno, "read %s", path);
    if (!S_ISREG(st.st_mode)) return not_regular(err, path, st.st_mode);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return fo_errno(err, errno, "read %s", path);
    if (fstat(fd, &st) < 0) return fo_errno(err, errno, "read %s", path);
    if (!S_ISREG(st.st_mode)) return not_regular(err, path, st.st_mode); /* swapped meanwhile */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return sbx_error(err, errno, "read %s: fcntl", path);
    *size = (uint64_t)st.st_size;

    /* A reader that went away raises SIGPIPE: keep it blocked while
     * streaming and swallow the one we caused, so EPIPE is just an error. */
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    r = stream_out(fd, outfd, *size, path, err);
    if (r < 0 && err->errnum == EPIPE && !sigismember(&old, SIGPIPE)) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

/* ---- write ---- */

/* Copy infd to tfd until EOF, at most max bytes. */
static int copy_in(int infd, int tfd, uint64_t max, uint64_t *total, const char *path, sbx_err *err)
{
    _cleanup_free_ char *buf = malloc(FO_CHUNK);
    if (!buf) return sbx_error(err, ENOMEM, "write %s", path);
    for (;;) {
        uint64_t room = max - *total;
        size_t want = room < FO_CHUNK ? (size_t)room + 1 : FO_CHUNK; /* +1: see one too many */
        ssize_t n = read(infd, buf, want);
        if (n < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN) {
                int r = wait_fd(infd, POLLIN);
                if (r < 0) return sbx_error(err, -r, "write %s: wait for the body", path);
                continue;
            }
            return sbx_error(err, e, "write %s: read the body", path);
        }
        if (n == 0) return 0;
        if ((uint64_t)n > room)
            return fo_fail(err, EFBIG, SBX_E_TOOLARGE, "file_too_large",
                           "write %s: the body is larger than the limit of %llu bytes", path,
                           (unsigned long long)max);
        int r = write_all(tfd, buf, (size_t)n);
        if (r < 0) return fo_errno(err, -r, "write %s", path);
        *total += (uint64_t)n;
    }
}

/* Open the directory for fo_write: readable if possible (to fsync it). */
static int open_parent(const char *dir, int *readable)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *readable = fd >= 0;
    if (fd < 0 && errno == EACCES) fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd;
}

/* Fill the temp file, give it its final mode/owner, make it durable. */
static int fill_temp(int tfd, int infd, uint64_t max_bytes, const struct stat *old, mode_t mode,
                     int mode_given, uint64_t *total, const char *path, sbx_err *err)
{
    int r = copy_in(infd, tfd, max_bytes, total, path, err);
    if (r < 0) return r;
    if (old && !mode_given) {
        /* Keep the replaced file's owner where we may (root in the userns,
         * or a group we are in), then its exact mode. */
        if ((old->st_uid != geteuid() || old->st_gid != getegid()) &&
            fchown(tfd, old->st_uid, old->st_gid) < 0 && old->st_gid != getegid())
            (void)!fchown(tfd, (uid_t)-1, old->st_gid);
        if (fchmod(tfd, old->st_mode & 07777) < 0)
            return fo_errno(err, errno, "write %s: set mode %04o", path,
                            (unsigned)(old->st_mode & 07777));
    } else if (mode_given && fchmod(tfd, mode & 07777) < 0) {
        return fo_errno(err, errno, "write %s: set mode %04o", path, (unsigned)(mode & 07777));
    }
    if (fsync(tfd) < 0) return fo_errno(err, errno, "write %s: fsync", path);
    return 0;
}

int fo_write(const char *path, int infd, mode_t mode, int mode_given, uint64_t max_bytes,
             int mkparents, int (*commit)(void *ud), void *commit_ud, uint64_t *written,
             sbx_err *err)
{
    *written = 0;
    int r = fo_check_path(path, err);
    if (r < 0) return r;
    if (path[strlen(path) - 1] == '/')
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "write %s: the path ends in '/'; name a file, e.g. \"/workspace/app.js\"",
                       path);
    char dir[FO_PATH_MAX + 1], name[NAME_MAX + 1];
    r = split_path(path, dir, name);
    if (r < 0) return fo_errno(err, -r, "write %s", path);
    if (!name[0] || is_dot_or_dotdot(name))
        return fo_fail(err, EINVAL, SBX_E_INVALID, "invalid_path",
                       "write %s: the path must name a file, not \".\", \"..\" or \"/\"", path);

    int readable;
    _cleanup_close_ int dfd = open_parent(dir, &readable);
    if (dfd < 0 && errno == ENOENT && mkparents) {
        r = fo_mkdir(dir, 1, 0755, err);
        if (r < 0) return sbx_error_wrap(err, "write %s: create its directory", path);
        dfd = open_parent(dir, &readable);
    }
    if (dfd < 0) {
        int e = errno;
        if (e == ENOENT)
            return fo_fail(err, ENOENT, SBX_E_NOTFOUND, "not_found",
                           "write %s: the directory %s does not exist (create it first, or ask "
                           "for missing parents to be created)",
                           path, dir);
        if (e == ENOTDIR)
            return fo_fail(err, ENOTDIR, SBX_E_CONFLICT, "conflict",
                           "write %s: %s, or a directory above it, is not a directory", path, dir);
        return fo_errno(err, e, "write %s: open directory %s", path, dir);
    }

    struct stat st;
    const struct stat *old = NULL;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR(st.st_mode))
            return fo_fail(err, EISDIR, SBX_E_CONFLICT, "conflict",
                           "write %s: it is a directory; a directory is not replaced by a file",
                           path);
        if (S_ISREG(st.st_mode))
            old = &st;
        else if (!S_ISLNK(st.st_mode)) /* a symlink is replaced, not followed */
            return fo_fail(err, EEXIST, SBX_E_CONFLICT, "conflict",
                           "write %s: it exists and is a %s, not a regular file; remove it first",
                           path, type_name(st.st_mode));
    } else if (errno != ENOENT) {
        return fo_errno(err, errno, "write %s", path);
    }

    /* ".<name>.sbx-XXXXXX", the name cut so that it fits in NAME_MAX. */
    char tmp[NAME_MAX + 1];
    int tfd = -1;
    mode_t cmode = (old || mode_given) ? 0600 : (mode & 07777);
    for (int i = 0; i < 100 && tfd < 0; i++) {
        char hex[7];
        if (random_hex(hex, 3, err) < 0) return sbx_error_wrap(err, "write %s", path);
        snprintf(tmp, sizeof(tmp), ".%.*s.sbx-%s", NAME_MAX - 1 - FO_TMP_SUFFIX_LEN, name, hex);
        tfd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, cmode);
        if (tfd < 0 && errno != EEXIST) return fo_errno(err, errno, "write %s: create", path);
    }
    if (tfd < 0) return fo_errno(err, EEXIST, "write %s: create a temporary file", path);

    uint64_t total = 0;
    r = fill_temp(tfd, infd, max_bytes, old, mode, mode_given, &total, path, err);
    if (close(tfd) < 0 && r >= 0) r = fo_errno(err, errno, "write %s: close", path);
    if (r >= 0 && commit && commit(commit_ud) < 0)
        r = fo_fail(err, ECANCELED, SBX_E_INVALID, "aborted",
                    "write %s: the upload was abandoned before its end; nothing was written", path);
    if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0) {
        int e = errno;
        if (e == EISDIR)
            r = fo_fail(err, EISDIR, SBX_E_CONFLICT, "conflict",
                        "write %s: it is a directory; a directory is not replaced by a file", path);
        else
            r = fo_errno(err, e, "write %s: replace it", path);
    }
    if (r < 0) {
        unlinkat(dfd, tmp, 0);
        return r;
    }
    if (readable) fsync(dfd); /* the rename itself; best effort */
    *written = total;
    return 0;
}
