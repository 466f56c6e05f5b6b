/* commit.c - a staged tree into its destination; see commit.h. */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "dirlist.h"

static int open_beneath(int dfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
}

/* ---- directory records ---- */

static int dir_cmp(const void *a, const void *b)
{
    const struct arc_dir *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c) return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* path already existed at the destination: its records are not applied. */
static void mark_merged(struct arc_dirs *dirs, const char *path)
{
    size_t lo = 0, hi = dirs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(dirs->v[mid].path, path) < 0) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < dirs->n && strcmp(dirs->v[i].path, path) == 0; i++)
        dirs->v[i].merged = 1;
}

/* Children before parents (reverse order), the last record of a path wins. */
static void apply_dirs(int dstfd, const struct arc_dirs *dirs)
{
    const char *prev = NULL;
    for (size_t i = dirs->n; i-- > 0;) {
        const struct arc_dir *d = &dirs->v[i];
        if (prev && strcmp(prev, d->path) == 0) continue;
        prev = d->path;
        if (d->merged) continue;
        _cleanup_close_ int fd = open_beneath(dstfd, d->path, O_RDONLY | O_DIRECTORY);
        if (fd < 0) continue; /* moved or removed meanwhile by someone else: theirs */
        (void)fchmod(fd, d->mode);
        if (d->mtime.tv_nsec != UTIME_OMIT) {
            struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, d->mtime};
            (void)futimens(fd, t);
        }
    }
}

/* ---- the merge ---- */

struct merge {
    const char *label;
    const char *sep; /* between label and a relative path: "/", or "" after a '/' */
    struct arc_dirs *dirs;
    char rel[PATH_MAX]; /* the entry being looked at, relative */
    sbx_err *err;
};

static const char *type_word(mode_t m)
{
    return S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : S_ISREG(m) ? "file" : "special file";
}

/* Merge the entries of sfd into dfd; rel holds their directory (rlen bytes).
 * dry: check only. */
static int merge(struct merge *m, int sfd, int dfd, size_t rlen, int depth, int dry)
{
    if (depth > ARC_DEPTH_MAX + 8)
        return sbx_error_kind(m->err, SBX_E_INVALID, "unsafe_entry", "%s%s%s: too deep", m->label,
                              m->sep, m->rel);
    struct dirlist ns;
    m->rel[rlen] = '\0';
    if (dirlist_read(sfd, 0, &ns, rlen ? m->rel : ".", m->err) < 0) return -1;
    int r = 0;
    for (size_t i = 0; i < ns.n && r == 0; i++) {
        const char *n = ns.v[i];
        int len = snprintf(m->rel + rlen, sizeof(m->rel) - rlen, "%s%s", rlen ? "/" : "", n);
        if (len < 0 || (size_t)len >= sizeof(m->rel) - rlen) {
            r = sbx_error(m->err, ENAMETOOLONG, "%s", m->label);
            break;
        }
        size_t nlen = rlen + (size_t)len;
        struct stat ss;
        struct statx dx;
        if (fstatat(sfd, n, &ss, AT_SYMLINK_NOFOLLOW) < 0) {
            r = sbx_error(m->err, errno, "staged entry %s", m->rel);
            break;
        }
        int de = statx(dfd, n, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MODE,
                       &dx) < 0
                     ? errno
                     : 0;
        if (de && de != ENOENT) {
            r = sbx_error(m->err, de, "%s%s%s", m->label, m->sep, m->rel);
        } else if (de == ENOENT) {
            if (!dry && renameat2(sfd, n, dfd, n, RENAME_NOREPLACE) < 0)
                r = sbx_error(m->err, errno, "move %s into %s", m->rel, m->label);
        } else if (S_ISDIR(ss.st_mode) && S_ISDIR(dx.stx_mode)) {
            if ((dx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                (dx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
                r = sbx_error_kind(m->err, SBX_E_CONFLICT, "mount_point",
                                   "%s%s%s is a mount point (another filesystem): extract that "
                                   "part of the archive into it separately",
                                   m->label, m->sep, m->rel);
                break;
            }
            if (dry && faccessat(dfd, n, W_OK | X_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0) {
                int e = errno;
                if (e == EACCES || e == EPERM || e == EROFS)
                    r = sbx_error_kind(m->err, SBX_E_FORBIDDEN,
                                       e == EROFS ? "read_only" : "permission_denied",
                                       "%s%s%s: the archive has entries for this existing "
                                       "directory, which cannot be written to (%s)",
                                       m->label, m->sep, m->rel, strerror(e));
                else
                    r = sbx_error(m->err, e, "%s%s%s", m->label, m->sep, m->rel);
                break;
            }
            if (dry) mark_merged(m->dirs, m->rel);
            _cleanup_close_ int s2 = open_beneath(sfd, n, O_RDONLY | O_DIRECTORY);
            _cleanup_close_ int d2 = open_beneath(dfd, n, O_PATH | O_DIRECTORY);
            if (s2 < 0 || d2 < 0) r = sbx_error(m->err, errno, "%s%s%s", m->label, m->sep, m->rel);
            else r = merge(m, s2, d2, nlen, depth + 1, dry);
        } else if (S_ISDIR(dx.stx_mode)) {
            r = sbx_error_kind(m->err, SBX_E_CONFLICT, "conflict",
                               "%s%s%s is a directory; the archive has a %s there (a directory is "
                               "not replaced: remove it first)",
                               m->label, m->sep, m->rel, type_word(ss.st_mode));
        } else if (!dry) {
            if (S_ISDIR(ss.st_mode)) { /* a directory replaces a file or link (not followed) */
                if ((unlinkat(dfd, n, 0) < 0 && errno != ENOENT) ||
                    renameat2(sfd, n, dfd, n, RENAME_NOREPLACE) < 0)
                    r = sbx_error(m->err, errno, "replace %s%s%s", m->label, m->sep, m->rel);
            } else if (renameat(sfd, n, dfd, n) < 0) {
                r = sbx_error(m->err, errno, "replace %s%s%s", m->label, m->sep, m->rel);
            }
        }
    }
    dirlist_free(&ns);
    return r;
}

int arc_commit(int stagefd, int dstfd, const char *label, struct arc_dirs *dirs, sbx_err *err)
{
    struct merge *m = calloc(1, sizeof(*m));
    if (!m) return sbx_error(err, ENOMEM, "commit");
    m->label = label;
    m->sep = *label && label[strlen(label) - 1] == '/' ? "" : "/";
    m->dirs = dirs;
    m->err = err;
    if (dirs->n > 1) qsort(dirs->v, dirs->n, sizeof(*dirs->v), dir_cmp);
    int r = merge(m, stagefd, dstfd, 0, 0, 1);
    if (r == 0) {
        r = merge(m, stagefd, dstfd, 0, 0, 0);
        if (r < 0)
            sbx_error_wrap(err, "moving the extracted entries into %s failed after some were "
                                "moved",
                           label);
        apply_dirs(dstfd, dirs);
    }
    free(m);
    return r;
}

static int rm_at(int dfd, const char *name, int depth, sbx_err *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : sbx_error(err, errno, "remove %s", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
            return sbx_error(err, errno, "remove %s", name);
        return 0;
    }
    if (depth > ARC_DEPTH_MAX + 8) return sbx_error(err, ELOOP, "remove %s: too deep", name);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : sbx_error(err, errno, "remove %s", name);
    int r = 0;
    for (int pass = 0; pass < 4 && r == 0; pass++) {
        struct dirlist ns;
        if ((r = dirlist_read(fd, 0, &ns, name, err)) < 0) break;
        size_t n = ns.n;
        for (size_t i = 0; i < ns.n && r == 0; i++) r = rm_at(fd, ns.v[i], depth + 1, err);
        dirlist_free(&ns);
        if (n == 0) break;
    }
    close(fd);
    if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = sbx_error(err, errno, "remove %s", name);
    return r;
}

int arc_rmtree(int dirfd, const char *name, sbx_err *err)
{
    return rm_at(dirfd, name, 0, err);
}
