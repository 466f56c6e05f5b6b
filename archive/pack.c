/* pack.c - a tar of a directory tree; see pack.h. */
#include "pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "dirlist.h"

#define PACK_BUF ((size_t)256 << 10)
#define PACK_BLOCK 65536

static int wfail(struct archive *w, sbx_err *err, const char *what)
{
    int e = archive_errno(w);
    const char *why = archive_error_string(w);
    if (e > 0 && why && strstr(why, strerror(e))) return sbx_error(err, e, "%s", what);
    return sbx_error(err, e > 0 ? e : 0, "%s: %s", what, why ? why : "failed");
}

int arc_pack_begin(struct arc_packer *p, int outfd, const struct arc_pack_opts *o, sbx_err *err)
{
    *p = (struct arc_packer){.zero_owners = o->zero_owners};
    p->w = archive_write_new();
    p->lr = archive_entry_linkresolver_new();
    p->buf = malloc(PACK_BUF);
    if (!p->w || !p->lr || !p->buf) {
        arc_pack_free(p);
        return sbx_error(err, ENOMEM, "archive writer");
    }
    int r = ARCHIVE_OK;
    if (o->format == ARC_TAR_GZ) r = archive_write_add_filter_gzip(p->w);
    else if (o->format == ARC_TAR_ZST) r = archive_write_add_filter_zstd(p->w);
    if (r != ARCHIVE_OK) { /* ARCHIVE_WARN: an external program; never that */
        sbx_error(err, 0, "libarchive has no built-in %s encoder", arc_format_name(o->format));
        arc_pack_free(p);
        return -1;
    }
    if (archive_write_set_format_pax_restricted(p->w) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p->w, PACK_BLOCK) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(p->w, 1) != ARCHIVE_OK ||
        archive_write_open_fd(p->w, outfd) != ARCHIVE_OK) {
        wfail(p->w, err, "archive writer");
        arc_pack_free(p);
        return -1;
    }
    archive_entry_linkresolver_set_strategy(p->lr, archive_format(p->w));
    return 0;
}

void arc_pack_free(struct arc_packer *p)
{
    if (p->w) archive_write_free(p->w);
    if (p->lr) archive_entry_linkresolver_free(p->lr);
    free(p->buf);
    *p = (struct arc_packer){0};
}

struct walk {
    struct arc_packer *p;
    struct arc_stats *st;
    const char *label;
    const char *sep; /* between label and a relative path: "/", or "" after a '/' */
    struct archive_entry *e;
    char path[PATH_MAX];
    sbx_err *err;
};

static void fill(struct walk *w, const struct statx *sx)
{
    struct archive_entry *e = w->e;
    archive_entry_set_pathname(e, w->path);
    archive_entry_set_mode(e, sx->stx_mode);
    archive_entry_set_uid(e, w->p->zero_owners ? 0 : sx->stx_uid);
    archive_entry_set_gid(e, w->p->zero_owners ? 0 : sx->stx_gid);
    archive_entry_set_mtime(e, sx->stx_mtime.tv_sec, sx->stx_mtime.tv_nsec);
}

static int header(struct walk *w)
{
    if (archive_write_header(w->p->w, w->e) < ARCHIVE_WARN)
        return wfail(w->p->w, w->err, w->path);
    w->st->entries++;
    return 0;
}

static int changed(struct walk *w, const char *how)
{
    return sbx_error_kind(w->err, SBX_E_CONFLICT, "conflict", "%s%s%s %s while it was archived",
                          w->label, w->sep, w->path, how);
}

static int pack_file(struct walk *w, int dfd, const char *name, const struct statx *sx)
{
    _cleanup_close_ int fd =
        openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0; /* gone since it was listed */
        return sbx_error(w->err, errno, "%s%s%s", w->label, w->sep, w->path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) return sbx_error(w->err, errno, "%s%s%s", w->label, w->sep, w->path);
    if (!S_ISREG(st.st_mode) || st.st_ino != sx->stx_ino) return changed(w, "was replaced");
    uint64_t size = (uint64_t)st.st_size;
    fill(w, sx);
    archive_entry_set_size(w->e, (la_int64_t)size);
    if (st.st_nlink > 1) {
        archive_entry_set_dev(w->e, st.st_dev);
        archive_entry_set_ino64(w->e, st.st_ino);
        archive_entry_set_nlink(w->e, st.st_nlink);
        struct archive_entry *e = w->e, *spare = NULL;
        archive_entry_linkify(w->p->lr, &e, &spare); /* tar: e itself, maybe made a hard link */
        if (archive_entry_hardlink(w->e)) {
            w->st->hardlinks++;
            return header(w);
        }
    }
    if (header(w) < 0) return -1;
    w->st->files++;
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < PACK_BUF ? (size_t)(size - done) : PACK_BUF;
        ssize_t n = read(fd, w->p->buf, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sbx_error(w->err, errno, "read %s%s%s", w->label, w->sep, w->path);
        }
        if (n == 0) return changed(w, "shrank");
        la_ssize_t k = archive_write_data(w->p->w, w->p->buf, (size_t)n);
        if (k != n) return wfail(w->p->w, w->err, "write the archive");
        done += (uint64_t)n;
        w->st->bytes += (uint64_t)n;
    }
    return 0;
}

static int pack_dir(struct walk *w, int dfd, size_t plen, int depth)
{
    struct dirlist dl;
    w->path[plen] = '\0';
    if (dirlist_read(dfd, 1, &dl, plen ? w->path : w->label, w->err) < 0) return -1;
    int r = 0;
    for (size_t i = 0; i < dl.n && r == 0; i++) {
        const char *n = dl.v[i];
        int len = snprintf(w->path + plen, sizeof(w->path) - plen, "%s%s", plen ? "/" : "", n);
        if (len < 0 || (size_t)len >= sizeof(w->path) - plen) {
            r = sbx_error(w->err, ENAMETOOLONG, "%s%s%s", w->label, w->sep, w->path);
            break;
        }
        struct statx sx;
        if (statx(dfd, n, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0) {
            if (errno == ENOENT) continue;
            r = sbx_error(w->err, errno, "%s%s%s", w->label, w->sep, w->path);
            break;
        }
        archive_entry_clear(w->e);
        if (S_ISREG(sx.stx_mode)) {
            r = pack_file(w, dfd, n, &sx);
        } else if (S_ISLNK(sx.stx_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlinkat(dfd, n, target, sizeof(target) - 1);
            if (tl < 0) {
                if (errno == ENOENT) continue;
                r = sbx_error(w->err, errno, "%s%s%s", w->label, w->sep, w->path);
                break;
            }
            target[tl] = '\0';
            fill(w, &sx);
            archive_entry_set_symlink(w->e, target);
            if ((r = header(w)) == 0) w->st->symlinks++;
        } else if (S_ISDIR(sx.stx_mode)) {
            fill(w, &sx);
            if ((r = header(w)) < 0) break;
            w->st->dirs++;
            if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
                w->st->skipped++; /* another filesystem: not entered */
                continue;
            }
            if (depth + 1 >= ARC_DEPTH_MAX) {
                r = sbx_error_kind(w->err, SBX_E_CONFLICT, "too_deep",
                                   "%s%s%s: the tree is deeper than %d levels", w->label, w->sep, w->path,
                                   ARC_DEPTH_MAX);
                break;
            }
            _cleanup_close_ int cfd =
                openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            if (cfd < 0) {
                if (errno == ENOENT) continue;
                if (errno == ELOOP || errno == ENOTDIR) r = changed(w, "was replaced");
                else r = sbx_error(w->err, errno, "%s%s%s", w->label, w->sep, w->path);
                break;
            }
            r = pack_dir(w, cfd, plen + (size_t)len, depth + 1);
        } else {
            w->st->skipped++; /* a socket, FIFO or device: not archived */
        }
    }
    dirlist_free(&dl);
    return r;
}

int arc_pack_tree(struct arc_packer *p, int dirfd, const char *label, struct arc_stats *st,
                  sbx_err *err)
{
    struct walk *w = calloc(1, sizeof(*w));
    if (!w) return sbx_error(err, ENOMEM, "archive");
    w->p = p;
    w->st = st;
    w->label = label;
    w->sep = *label && label[strlen(label) - 1] == '/' ? "" : "/";
    w->err = err;
    w->e = archive_entry_new();
    int r = w->e ? pack_dir(w, dirfd, 0, 0) : sbx_error(err, ENOMEM, "archive");
    if (r == 0 && archive_write_close(p->w) != ARCHIVE_OK) r = wfail(p->w, err, "write the archive");
    if (w->e) archive_entry_free(w->e);
    free(w);
    return r;
}
