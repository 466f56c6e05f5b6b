/* layer.c - one layer onto disk, safely; see layer.h for the policy. */
#include "layer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cleanup.h"
#include "manifest.h"

#define E_BAD(err, ...) sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", __VA_ARGS__)
#define E_BIG(err, ...) sbx_error_kind(err, SBX_E_TOOLARGE, "image_too_large", __VA_ARGS__)

static void free_writer(struct archive **w)
{
    if (*w) archive_write_free(*w);
}

static int open_beneath(const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, AT_FDCWD, rel, &how, sizeof(how));
}

/* mkdir -p rel beneath the working directory, never through a symlink;
 * returns an fd of the directory opened with flags (O_RDONLY or O_PATH). */
static int dir_beneath(const char *rel, int flags, sbx_err *err)
{
    if (!*rel) rel = ".";
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", rel);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            _cleanup_close_ int fd = open_beneath(buf, O_PATH | O_DIRECTORY);
            if (fd < 0) {
                if (errno != ENOENT)
                    return E_BAD(err, "entry \"%s\": cannot use \"%s\" as a directory: %s", rel,
                                 buf, strerror(errno));
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                    return sbx_error(err, errno, "mkdir %s", buf);
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    int fd = open_beneath(rel, flags | O_DIRECTORY);
    if (fd < 0) return E_BAD(err, "entry \"%s\": not a directory: %s", rel, strerror(errno));
    return fd;
}

/* ".wh.NAME" -> a whiteout for NAME; ".wh..wh..opq" -> parent is opaque. */
static int whiteout(const char *path, const char *base, struct imp_totals *tot, sbx_err *err)
{
    char parent[PATH_MAX];
    size_t plen = (size_t)(base - path);
    if (plen) plen--; /* the '/' before base */
    memcpy(parent, path, plen);
    parent[plen] = '\0';
    tot->whiteouts++;
    if (strcmp(base, ".wh..wh..opq") == 0) {
        _cleanup_close_ int fd = dir_beneath(parent, O_RDONLY, err);
        if (fd < 0) return -1;
        if (fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return sbx_error(err, errno, "mark %s opaque", *parent ? parent : "/");
        return 0;
    }
    const char *name = base + 4;
    if (strncmp(name, ".wh.", 4) == 0) return 0; /* other aufs metadata (.wh..wh.plnk): ignored */
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return E_BAD(err, "entry \"%s\": malformed whiteout", path);
    _cleanup_close_ int fd = dir_beneath(parent, O_PATH, err);
    if (fd < 0) return -1;
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (unlinkat(fd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
            return E_BAD(err, "entry \"%s\": whites out a non-empty directory of the same layer",
                         path);
    }
    if (mknodat(fd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return sbx_error(err, errno, "whiteout %s", path);
    return 0;
}

/* Apply the policy to one entry; 1 = write it, 0 = skip it. */
static int vet(struct archive_entry *e, char *clean, int whiteouts, const struct imp_limits *lim,
               struct imp_totals *tot, sbx_err *err)
{
    const char *name = archive_entry_pathname(e);
    if (!name) return E_BAD(err, "an entry has no name");
    if (++tot->entries > lim->max_entries)
        return E_BIG(err, "the archive has more than %llu entries (sbxd --image-max-entries)",
                     (unsigned long long)lim->max_entries);
    if (strlen(name) >= PATH_MAX - 1 || img_clean_path(name, clean, PATH_MAX) < 0)
        return E_BAD(err, "entry \"%.200s\": a \"..\" path component would leave the image root",
                     name);
    if (!*clean) return 0; /* the root itself */
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
        tot->devices_skipped++;
        return 0;
    }
    const char *base = strrchr(clean, '/') ? strrchr(clean, '/') + 1 : clean;
    if (whiteouts && strncmp(base, ".wh.", 4) == 0) {
        if (whiteout(clean, base, tot, err) < 0) return -1;
        return 0;
    }
    archive_entry_set_pathname(e, clean);
    const char *hl = archive_entry_hardlink(e);
    if (hl) {
        char target[PATH_MAX];
        if (strlen(hl) >= PATH_MAX - 1 || img_clean_path(hl, target, sizeof(target)) < 0 ||
            !*target)
            return E_BAD(err, "entry \"%.200s\": hard link to \"%.200s\" leaves the image root",
                         clean, hl);
        archive_entry_set_hardlink(e, target);
    }
    mode_t perm = archive_entry_perm(e);
    mode_t keep = type == AE_IFDIR ? (mode_t)~S_ISUID : (mode_t) ~(S_ISUID | S_ISGID);
    if (perm & ~keep & 07777) {
        tot->setid_cleared++;
        archive_entry_set_perm(e, perm & keep & 07777);
    }
    archive_entry_xattr_clear(e);
    archive_entry_acl_clear(e);
    if (type == AE_IFREG && !hl) {
        int64_t sz = archive_entry_size(e);
        if (sz > 0) tot->bytes += (uint64_t)sz;
        if (tot->bytes > lim->max_bytes)
            return E_BIG(err, "the image unpacks to more than %llu bytes (sbxd --image-max-bytes)",
                         (unsigned long long)lim->max_bytes);
    }
    return 1;
}

static int copy_data(struct archive *src, struct archive *w, const char *name, sbx_err *err)
{
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(src, &buf, &len, &off);
        if (r == ARCHIVE_EOF) return 0;
        if (r < ARCHIVE_WARN)
            return E_BAD(err, "entry \"%.200s\": %s", name, archive_error_string(src));
        if (archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN)
            return sbx_error(err, archive_errno(w), "write %s: %s", name, archive_error_string(w));
    }
}

static int write_one(struct archive *src, struct archive *w, struct archive_entry *e,
                     int has_data, int whiteouts, const struct imp_limits *lim,
                     struct imp_totals *tot, sbx_err *err)
{
    char clean[PATH_MAX];
    int r = vet(e, clean, whiteouts, lim, tot, err);
    if (r <= 0) return r;
    if (archive_write_header(w, e) < ARCHIVE_WARN) {
        int en = archive_errno(w);
        const char *msg = archive_error_string(w);
        if (en == ENOSPC || en == EDQUOT || en == EIO || en == ENOMEM)
            return sbx_error(err, en, "write %s", clean);
        return E_BAD(err, "entry \"%.200s\": refused: %s", clean, msg ? msg : "unknown error");
    }
    if (has_data && archive_entry_size(e) > 0 && copy_data(src, w, clean, err) < 0) return -1;
    if (archive_write_finish_entry(w) < ARCHIVE_WARN)
        return sbx_error(err, archive_errno(w), "finish %s: %s", clean, archive_error_string(w));
    return 0;
}

int layer_extract(struct archive *src, struct archive_entry **pre, int npre,
                  struct archive_entry *cur, const char *dir, int whiteouts,
                  const struct imp_limits *lim, struct imp_totals *tot, sbx_err *err)
{
    if (chdir(dir) < 0) return sbx_error(err, errno, "chdir %s", dir);
    _cleanup_(free_writer) struct archive *w = archive_write_disk_new();
    if (!w) return sbx_error(err, ENOMEM, "archive writer");
    archive_write_disk_set_options(
        w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
               ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
               ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_SPARSE);
    for (int i = 0; i < npre; i++)
        if (write_one(src, w, pre[i], 0, whiteouts, lim, tot, err) < 0) return -1;
    if (cur && write_one(src, w, cur, 1, whiteouts, lim, tot, err) < 0) return -1;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(src, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN)
            return E_BAD(err, "reading the archive: %s", archive_error_string(src));
        if (write_one(src, w, e, 1, whiteouts, lim, tot, err) < 0) return -1;
    }
    if (archive_write_close(w) < ARCHIVE_WARN)
        return sbx_error(err, archive_errno(w), "finish layer: %s", archive_error_string(w));
    return 0;
}
