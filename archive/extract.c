/* extract.c - stage, check, commit or remove; see extract.h. */
#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commit.h"

#define STAGE_PREFIX ".sbx-archive-"

static int make_stage(int dirfd, char *name, size_t cap, sbx_err *err)
{
    for (int i = 0; i < 16; i++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return sbx_error(err, errno, "getrandom");
        snprintf(name, cap, STAGE_PREFIX "%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5]);
        if (mkdirat(dirfd, name, 0700) == 0) return 0;
        if (errno != EEXIST) return sbx_error(err, errno, "create a staging directory");
    }
    return sbx_error(err, EEXIST, "create a staging directory");
}

int arc_extract(const struct arc_extract *x, struct arc_stats *st, sbx_err *err)
{
    char name[64];
    struct archive *reader = x->reader;
    if (make_stage(x->dirfd, name, sizeof(name), err) < 0) {
        arc_reader_free(reader); /* consumed either way */
        return sbx_error_wrap(err, "extract into %s", x->label);
    }
    struct arc_dirs dirs = {0};
    int rc = -1, committed = 0;
    int sfd = openat(x->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) {
        sbx_error(err, errno, "open the staging directory");
        arc_reader_free(reader);
        goto out;
    }
    if (x->on_stage) x->on_stage(x->stage_ud, name, 0);
    if (arc_unpack(reader, x->infd, sfd, &x->opts, st, &dirs, err) < 0) goto out;
    if (x->commit_ok && x->commit_ok(x->commit_ud) < 0) {
        sbx_error_kind(err, SBX_E_INVALID, "aborted",
                       "the upload was abandoned before its end; nothing was extracted");
        goto out;
    }
    committed = 1;
    if (x->on_stage) x->on_stage(x->stage_ud, name, 1);
    rc = arc_commit(sfd, x->dirfd, x->label, &dirs, err);
out:
    if (sfd >= 0) close(sfd);
    sbx_err rmerr;
    if (arc_rmtree(x->dirfd, name, &rmerr) < 0 && !committed && rc == 0) {
        *err = rmerr;
        rc = -1;
    }
    arc_dirs_free(&dirs);
    return rc;
}
