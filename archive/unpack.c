/* unpack.c - tar entries into a staging directory under sbx's policy; see
 * unpack.h. */
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define READ_BUF ((size_t)256 << 10)

struct unp {
    struct archive *a;
    int infd;
    const struct arc_unpack_opts *o;
    struct arc_stats *st;
    struct arc_dirs *dirs;
    int stagefd;
    mode_t umask;
    char cache[PATH_MAX]; /* the directory cache_fd is (relative name) */
    int cache_fd;
    uint64_t raw; /* bytes read from infd */
    int read_errno;
    size_t seq;
    sbx_err *err;
    char buf[READ_BUF];
};

__attribute__((format(printf, 2, 3))) static int unsafe(sbx_err *err, const char *fmt, ...)
{
    char msg[SBX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sbx_error_kind(err, SBX_E_INVALID, "unsafe_entry", "%s", msg);
}

#define INVALID(err, ...) sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", __VA_ARGS__)
#define TOO_LARGE(err, ...) sbx_error_kind(err, SBX_E_TOOLARGE, "archive_too_large", __VA_ARGS__)

static int open_beneath(int dfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
}

/* ---- the reader ---- */

void arc_reader_free(struct archive *reader)
{
    if (reader) archive_read_free(reader);
}

static void free_reader(struct archive **a)
{
    arc_reader_free(*a);
}

struct archive *arc_reader_new(enum arc_format format, sbx_err *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        sbx_error(err, ENOMEM, "archive reader");
        return NULL;
    }
    static const struct {
        int (*add)(struct archive *);
        const char *name;
        int in_auto;
        enum arc_format only;
    } filters[] = {
        {archive_read_support_filter_gzip, "gzip", 1, ARC_TAR_GZ},
        {archive_read_support_filter_zstd, "zstd", 1, ARC_TAR_ZST},
        {archive_read_support_filter_xz, "xz", 1, ARC_AUTO},
        {archive_read_support_filter_bzip2, "bzip2", 1, ARC_AUTO},
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        if (format == ARC_AUTO ? !filters[i].in_auto : filters[i].only != format) continue;
        /* ARCHIVE_WARN means "through an external program": never that */
        if (filters[i].add(a) != ARCHIVE_OK) {
            sbx_error(err, 0, "libarchive has no built-in %s decoder", filters[i].name);
            archive_read_free(a);
            return NULL;
        }
    }
    if (archive_read_support_format_tar(a) != ARCHIVE_OK) {
        sbx_error(err, 0, "libarchive: no tar support: %s", archive_error_string(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
    struct unp *u = ud;
    for (;;) {
        ssize_t n = read(u->infd, u->buf, sizeof(u->buf));
        if (n >= 0) {
            u->raw += (uint64_t)n;
            *out = u->buf;
            return n;
        }
        if (errno == EINTR && !(u->o->stop && *u->o->stop)) continue;
        u->read_errno = errno == EINTR ? ECANCELED : errno;
        archive_set_error(a, u->read_errno, "read the archive");
        return -1;
    }
}

/* libarchive failed reading: our input's error, or the archive's fault. */
static int read_failed(struct unp *u, const char *entry)
{
    if (u->read_errno == ECANCELED) return sbx_error(u->err, ECANCELED, "interrupted");
    if (u->read_errno) return sbx_error(u->err, u->read_errno, "read the archive");
    const char *why = archive_error_string(u->a);
    if (entry) return INVALID(u->err, "entry \"%s\": %s", entry, why ? why : "unreadable");
    return INVALID(u->err, "not a readable tar archive: %s", why ? why : "unknown error");
}

/* ---- directories: made 0700, their final modes recorded ---- */

static int dir_record(struct unp *u, const char *path, mode_t mode, const struct timespec *mtime)
{
    struct arc_dirs *d = u->dirs;
    size_t len = strlen(path);
    if (d->path_bytes + len + 1 > ARC_DIRS_PATH_MAX)
        return TOO_LARGE(u->err, "the archive has too many directories (their names exceed %zu "
                                 "MiB)",
                         ARC_DIRS_PATH_MAX >> 20);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct arc_dir *v = realloc(d->v, cap * sizeof(*v));
        if (!v) return sbx_error(u->err, ENOMEM, "directory records");
        d->v = v;
        d->cap = cap;
    }
    char *p = strdup(path);
    if (!p) return sbx_error(u->err, ENOMEM, "directory records");
    d->v[d->n++] = (struct arc_dir){.path = p,
                                    .mode = mode,
                                    .mtime = mtime ? *mtime
                                                   : (struct timespec){.tv_nsec = UTIME_OMIT},
                                    .seq = u->seq++};
    d->path_bytes += len + 1;
    return 0;
}

void arc_dirs_free(struct arc_dirs *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->v[i].path);
    free(d->v);
    *d = (struct arc_dirs){0};
}

#define PARENT_MISSING (-2) /* parent_of without create: a directory is missing */

/* The directory that holds `clean` (an fd owned by u: the staging dir or the
 * cache), its last component in *base. create: make missing directories
 * (recorded with default modes); else a missing one is PARENT_MISSING, err
 * unset. Any other failure: -1 with err set. */
static int parent_of(struct unp *u, const char *clean, const char **base, int create,
                     const char *entry)
{
    const char *slash = strrchr(clean, '/');
    if (!slash) {
        *base = clean;
        return u->stagefd;
    }
    *base = slash + 1;
    size_t dl = (size_t)(slash - clean);
    if (u->cache_fd >= 0 && strlen(u->cache) == dl && memcmp(u->cache, clean, dl) == 0)
        return u->cache_fd;
    char dir[PATH_MAX];
    memcpy(dir, clean, dl);
    dir[dl] = '\0';
    int cur = -1;
    for (char *p = dir;;) {
        char *end = strchr(p, '/');
        if (end) *end = '\0';
        int at = cur >= 0 ? cur : u->stagefd;
        int fd = open_beneath(at, p, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT && create) {
            if (mkdirat(at, p, 0700) < 0 && errno != EEXIST) {
                int e = errno;
                if (cur >= 0) close(cur);
                sbx_error(u->err, e, "entry \"%s\": create directory %s", entry, dir);
                return -1;
            }
            if (dir_record(u, dir, 0777 & ~u->umask, NULL) < 0) {
                if (cur >= 0) close(cur);
                return -1;
            }
            fd = open_beneath(at, p, O_PATH | O_DIRECTORY);
        }
        if (fd < 0) {
            int e = errno;
            if (cur >= 0) close(cur);
            if (e == ENOENT && !create) return PARENT_MISSING;
            if (e == ELOOP)
                return unsafe(u->err,
                              "entry \"%s\": %s is a symlink (an earlier entry); nothing is "
                              "extracted through a symlink",
                              entry, dir);
            if (e == ENOTDIR)
                return unsafe(u->err,
                              "entry \"%s\": %s is not a directory (an earlier entry made it "
                              "something else)",
                              entry, dir);
            if (e == EXDEV)
                return unsafe(u->err, "entry \"%s\": %s leads to another filesystem", entry, dir);
            sbx_error(u->err, e, "entry \"%s\": open directory %s", entry, dir);
            return -1;
        }
        if (cur >= 0) close(cur);
        cur = fd;
        if (!end) break;
        *end = '/';
        p = end + 1;
    }
    if (u->cache_fd >= 0) close(u->cache_fd);
    u->cache_fd = cur;
    memcpy(u->cache, dir, dl + 1);
    return cur;
}

/* Something is at (pfd, base) where entry `clean` goes: remove it, unless it
 * is a directory (a directory is never replaced by a non-directory). */
static int clear_way(struct unp *u, int pfd, const char *base, const char *clean,
                     const char *what)
{
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : sbx_error(u->err, errno, "entry \"%s\"", clean);
    if (S_ISDIR(st.st_mode))
        return unsafe(u->err,
                      "entry \"%s\": an earlier entry made a directory of that name; it is not "
                      "replaced by a %s",
                      clean, what);
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
        return sbx_error(u->err, errno, "entry \"%s\": replace the earlier entry", clean);
    return 0;
}

static mode_t entry_mode(struct unp *u, struct archive_entry *e)
{
    mode_t m = archive_entry_perm(e) & 07777;
    if (m & (S_ISUID | S_ISGID)) {
        u->st->setid_cleared++;
        m &= ~(mode_t)(S_ISUID | S_ISGID);
    }
    return m;
}

static struct timespec entry_mtime(struct archive_entry *e)
{
    struct timespec t = {.tv_nsec = UTIME_OMIT};
    if (archive_entry_mtime_is_set(e)) {
        t.tv_sec = archive_entry_mtime(e);
        long ns = archive_entry_mtime_nsec(e);
        t.tv_nsec = ns >= 0 && ns < 1000000000 ? ns : 0;
    }
    return t;
}

static int write_data(struct unp *u, int fd, const char *clean, int64_t size)
{
    int64_t end = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(u->a, &buf, &len, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return read_failed(u, clean);
        if (off < 0 || (uint64_t)off + len > (uint64_t)size)
            return INVALID(u->err, "entry \"%s\": data beyond its declared size", clean);
        const char *p = buf;
        for (size_t done = 0; done < len;) {
            ssize_t w = pwrite(fd, p + done, len - done, off + (off_t)done);
            if (w < 0) {
                if (errno == EINTR) continue;
                return sbx_error(u->err, errno, "write %s", clean);
            }
            done += (size_t)w;
        }
        if (off + (int64_t)len > end) end = off + (int64_t)len;
    }
    if (end < size && ftruncate(fd, size) < 0) return sbx_error(u->err, errno, "write %s", clean);
    return 0;
}

static int do_file(struct unp *u, struct archive_entry *e, int pfd, const char *base,
                   const char *clean)
{
    int64_t size = archive_entry_size(e);
    if (size < 0) size = 0;
    mode_t mode = entry_mode(u, e);
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        if (clear_way(u, pfd, base, clean, "file") < 0) return -1;
        fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0) return sbx_error(u->err, errno, "create %s", clean);
    int r = write_data(u, fd, clean, size);
    struct timespec t[2] = {{.tv_nsec = UTIME_OMIT}, entry_mtime(e)};
    if (r == 0 && fchmod(fd, mode) < 0) r = sbx_error(u->err, errno, "chmod %s", clean);
    if (r == 0 && futimens(fd, t) < 0) r = sbx_error(u->err, errno, "set the time of %s", clean);
    if (close(fd) < 0 && r == 0) r = sbx_error(u->err, errno, "write %s", clean);
    if (r == 0) u->st->files++;
    return r;
}

static int do_dir(struct unp *u, struct archive_entry *e, int pfd, const char *base,
                  const char *clean)
{
    if (mkdirat(pfd, base, 0700) < 0) {
        if (errno != EEXIST) return sbx_error(u->err, errno, "create directory %s", clean);
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return sbx_error(u->err, errno, "create directory %s", clean);
        if (!S_ISDIR(st.st_mode)) { /* an earlier file or link of that name: replaced */
            if (unlinkat(pfd, base, 0) < 0 || mkdirat(pfd, base, 0700) < 0)
                return sbx_error(u->err, errno, "create directory %s", clean);
        }
    }
    struct timespec t = entry_mtime(e);
    if (dir_record(u, clean, entry_mode(u, e), &t) < 0) return -1;
    u->st->dirs++;
    return 0;
}

static int do_symlink(struct unp *u, struct archive_entry *e, int pfd, const char *base,
                      const char *clean)
{
    const char *target = archive_entry_symlink(e);
    int why = u->o->contain_symlinks ? arc_link_inside(clean, target)
                                     : (target && *target ? ARC_LINK_OK : ARC_LINK_EMPTY);
    if (why != ARC_LINK_OK)
        return unsafe(u->err, "entry \"%s\": symlink to \"%.300s\" refused: %s", clean,
                      target ? target : "", arc_link_why(why));
    if (symlinkat(target, pfd, base) < 0) {
        if (errno != EEXIST) return sbx_error(u->err, errno, "create symlink %s", clean);
        if (clear_way(u, pfd, base, clean, "symlink") < 0) return -1;
        if (symlinkat(target, pfd, base) < 0)
            return sbx_error(u->err, errno, "create symlink %s", clean);
    }
    u->st->symlinks++;
    return 0;
}

static int do_hardlink(struct unp *u, const char *hl, int pfd, const char *base,
                       const char *clean)
{
    char target[PATH_MAX];
    int why = arc_clean_name(hl, target, sizeof(target));
    if (why != ARC_NAME_OK || !*target)
        return unsafe(u->err, "entry \"%s\": hard link to \"%.300s\" refused: %s", clean, hl,
                      why == ARC_NAME_OK ? "it names the directory itself" : arc_name_why(why));
    if (strcmp(target, clean) == 0)
        return unsafe(u->err, "entry \"%s\": a hard link to itself", clean);
    /* pfd may be the cache, which parent_of below replaces: keep our own */
    int own = fcntl(pfd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) return sbx_error(u->err, errno, "entry \"%s\"", clean);
    const char *tbase;
    int tfd = parent_of(u, target, &tbase, 0, clean);
    struct stat st;
    int r = 0, se = 0;
    if (tfd >= 0 && fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) se = errno;
    if (tfd == PARENT_MISSING || se == ENOENT) {
        r = unsafe(u->err,
                   "entry \"%s\": hard link to \"%s\", which is not an earlier entry of the "
                   "archive",
                   clean, target);
    } else if (tfd < 0) {
        r = -1;
    } else if (se) {
        r = sbx_error(u->err, se, "entry \"%s\": hard link to \"%s\"", clean, target);
    } else if (!S_ISREG(st.st_mode)) {
        r = unsafe(u->err,
                   "entry \"%s\": hard link to \"%s\", which is not a regular file of the "
                   "archive",
                   clean, target);
    } else if (linkat(tfd, tbase, own, base, 0) < 0) {
        if (errno != EEXIST) {
            r = sbx_error(u->err, errno, "hard link %s", clean);
        } else if ((r = clear_way(u, own, base, clean, "hard link")) == 0 &&
                   linkat(tfd, tbase, own, base, 0) < 0) {
            r = sbx_error(u->err, errno, "hard link %s", clean);
        }
    }
    close(own);
    if (r == 0) u->st->hardlinks++;
    return r;
}

static int one_entry(struct unp *u, struct archive_entry *e)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw) raw = archive_entry_pathname_utf8(e);
    char clean[PATH_MAX];
    int why = arc_clean_name(raw, clean, sizeof(clean));
    if (why != ARC_NAME_OK)
        return unsafe(u->err, "entry \"%.300s\": %s", raw ? raw : "", arc_name_why(why));
    mode_t type = archive_entry_filetype(e);
    const char *hl = archive_entry_hardlink(e);
    int64_t size = archive_entry_size(e);
    if (size > 0) {
        u->st->bytes += (uint64_t)size;
        if (u->st->bytes > u->o->max_bytes)
            return TOO_LARGE(u->err,
                             "the archive unpacks to more than %llu bytes (entry \"%s\"; sbxd "
                             "--archive-max-bytes)",
                             (unsigned long long)u->o->max_bytes, clean);
    }
    if (!*clean) {
        if (type == AE_IFDIR && !hl) return 0; /* the directory itself: left as it is */
        return unsafe(u->err, "entry \"%s\": names the directory itself but is not a directory",
                      raw);
    }
    const char *kind = NULL;
    if (!hl) {
        switch (type) {
        case AE_IFREG:
        case AE_IFDIR:
        case AE_IFLNK: break;
        case AE_IFCHR:
        case AE_IFBLK: kind = "a device node"; break;
        case AE_IFIFO: kind = "a FIFO"; break;
        case AE_IFSOCK: kind = "a socket"; break;
        default: kind = "of an unknown type"; break;
        }
    }
    if (kind)
        return unsafe(u->err,
                      "entry \"%s\" is %s: only files, directories, symlinks and hard links are "
                      "extracted",
                      clean, kind);
    const char *base;
    int pfd = parent_of(u, clean, &base, 1, clean);
    if (pfd < 0) return -1;
    if (hl) return do_hardlink(u, hl, pfd, base, clean);
    if (type == AE_IFDIR) return do_dir(u, e, pfd, base, clean);
    if (type == AE_IFLNK) return do_symlink(u, e, pfd, base, clean);
    return do_file(u, e, pfd, base, clean);
}

static int check_filter(struct unp *u)
{
    int want;
    switch (u->o->format) {
    case ARC_TAR: want = ARCHIVE_FILTER_NONE; break;
    case ARC_TAR_GZ: want = ARCHIVE_FILTER_GZIP; break;
    case ARC_TAR_ZST: want = ARCHIVE_FILTER_ZSTD; break;
    default: return 0;
    }
    if (archive_filter_code(u->a, 0) == want) return 0;
    return INVALID(u->err, "the body is not a %s archive (format=%s; leave format out to have it "
                           "detected)",
                   arc_format_name(u->o->format), arc_format_name(u->o->format));
}

/* What is left of the input after the archive: read it (bounded). */
static int drain(struct unp *u)
{
    uint64_t extra = 0;
    for (;;) {
        ssize_t n = read(u->infd, u->buf, sizeof(u->buf));
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR && !(u->o->stop && *u->o->stop)) continue;
            return sbx_error(u->err, errno == EINTR ? ECANCELED : errno, "read the archive");
        }
        extra += (uint64_t)n;
        if (extra > ARC_TRAILING_MAX)
            return INVALID(u->err, "more than %zu KiB of data follow the end of the archive",
                           ARC_TRAILING_MAX >> 10);
    }
}

int arc_unpack(struct archive *reader, int infd, int stagefd, const struct arc_unpack_opts *o,
               struct arc_stats *st, struct arc_dirs *dirs, sbx_err *err)
{
    __attribute__((cleanup(free_reader))) struct archive *a = reader;
    struct unp *u = calloc(1, sizeof(*u));
    if (!u) return sbx_error(err, ENOMEM, "unpack");
    u->a = a;
    u->infd = infd;
    u->o = o;
    u->st = st;
    u->dirs = dirs;
    u->stagefd = stagefd;
    u->cache_fd = -1;
    u->err = err;
    u->umask = umask(0);
    umask(u->umask);
    int rc = -1;
    int r = archive_read_open(a, u, NULL, read_cb, NULL);
    for (int first = 1;; first = 0) {
        struct archive_entry *e;
        if (r == ARCHIVE_OK) r = archive_read_next_header(a, &e);
        if (first && u->raw == 0 && u->read_errno == 0) {
            INVALID(err, "the archive is empty (0 bytes): send a tar archive");
            goto out;
        }
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            read_failed(u, NULL);
            goto out;
        }
        if (first && check_filter(u) < 0) goto out;
        if (++st->entries > o->max_entries) {
            TOO_LARGE(err, "the archive has more than %llu entries (sbxd --archive-max-entries)",
                      (unsigned long long)o->max_entries);
            goto out;
        }
        if (one_entry(u, e) < 0) goto out;
        r = ARCHIVE_OK;
    }
    rc = drain(u);
out:
    if (u->cache_fd >= 0) close(u->cache_fd);
    free(u);
    return rc;
}
