/* names.h - the pure rules of sbx's tar handling (archive/), shared by
 * sbx-archive (the session archive API) and sbx (sbx cp): which entry names
 * and symlink targets an extraction accepts, and the archive formats.
 *
 * Names: an entry's name is relative to the directory it is extracted into.
 * "./" prefixes, "." components, repeated and trailing slashes are dropped;
 * an absolute name, or any ".." component, is refused (never stripped and
 * accepted): such an archive is hostile or broken.
 *
 * Symlink targets (when the tree must stay closed, as in the API): a target
 * must be relative, and made of some leading ".." components, at most as many
 * as the link's own depth, followed by names only (no ".." after a name).
 * Because an extraction never creates anything through a symlink, every
 * entry's path is also its physical place, so such a link, and any chain of
 * such links, resolves inside the tree; "a/../.." style targets are refused
 * rather than reasoned about. No allocation, no I/O. */
#ifndef SBX_ARCHIVE_NAMES_H
#define SBX_ARCHIVE_NAMES_H

#include <stddef.h>

#define ARC_DEPTH_MAX 256 /* components in an entry name; directories a walk descends */

enum arc_name_result {
    ARC_NAME_OK = 0,
    ARC_NAME_EMPTY,    /* "" */
    ARC_NAME_ABSOLUTE, /* starts with '/' */
    ARC_NAME_DOTDOT,   /* a ".." component */
    ARC_NAME_TOOLONG,  /* does not fit out, or a component over NAME_MAX */
    ARC_NAME_TOODEEP,  /* more than ARC_DEPTH_MAX components */
};

/* raw -> out (cap bytes): "a/b/c", or "" for the directory itself ("." or
 * "./"). Returns an arc_name_result. */
int arc_clean_name(const char *raw, char *out, size_t cap);
/* Why a name was refused, for messages: "it is absolute", ... */
const char *arc_name_why(int result);

enum arc_link_result {
    ARC_LINK_OK = 0,
    ARC_LINK_EMPTY,     /* no target */
    ARC_LINK_ABSOLUTE,  /* "/etc" */
    ARC_LINK_ESCAPES,   /* more leading ".." than the link's depth */
    ARC_LINK_INNER_DOTDOT, /* ".." after a name: "a/../b" */
};

/* Would a symlink at entry (a cleaned name) with this target stay inside the
 * tree? Returns an arc_link_result. */
int arc_link_inside(const char *entry, const char *target);
const char *arc_link_why(int result);

enum arc_format { ARC_AUTO, ARC_TAR, ARC_TAR_GZ, ARC_TAR_ZST };

/* "tar", "tar.gz", "tar.zst" (and "auto" when allow_auto): the format, or
 * -1 for anything else. */
int arc_format_parse(const char *s, int allow_auto);
const char *arc_format_name(enum arc_format f);
/* application/x-tar, application/gzip, application/zstd */
const char *arc_format_type(enum arc_format f);

#endif
