/* extract.h - one archive into an existing directory, all or nothing: the
 * entries go into a fresh hidden staging directory inside it
 * (".sbx-archive-<12 hex>", mode 0700; unpack.h's policy), and only once the
 * whole archive was read and accepted, and the caller confirmed that its
 * input ended where it should (commit_ok), are they moved into place
 * (commit.h). On any failure the staging directory is removed and the
 * destination is as it was. Used by sbx-archive and by sbx cp's downloads. */
#ifndef SBX_ARCHIVE_EXTRACT_H
#define SBX_ARCHIVE_EXTRACT_H

#include "error.h"
#include "unpack.h"

struct arc_extract {
    int dirfd;                  /* the destination (a directory) */
    const char *label;          /* its path, for messages */
    int infd;                   /* the archive */
    struct archive *reader;     /* from arc_reader_new; consumed */
    struct arc_unpack_opts opts;
    int (*commit_ok)(void *ud); /* NULL: always; < 0: abandon (code "aborted") */
    void *commit_ud;
    /* NULL, or told the staging directory's name once it exists (moving = 0)
     * and again right before entries start moving into place (moving = 1):
     * what a guardian needs to clean up after a crash. */
    void (*on_stage)(void *ud, const char *name, int moving);
    void *stage_ud;
};

int arc_extract(const struct arc_extract *x, struct arc_stats *st, sbx_err *err);

#endif
