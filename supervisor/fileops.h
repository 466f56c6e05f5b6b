/* fileops.h - the session file API's file operations (PUT/GET/DELETE
 * /v1/sessions/{id}/files, stat, list, mkdir, rename).
 *
 * sbxd's per-request worker joins the sandbox's user and mount namespaces and
 * drops to the sandbox's user before calling these, so they run with exactly
 * that user's rights in the sandbox's own filesystem view: paths are absolute
 * sandbox paths, resolved normally. What they add is careful semantics and
 * precise errors: operations about a link act on the link (stat, list,
 * remove, rename), reads never block on FIFOs or devices, writes are atomic
 * (temp file + rename), and everything is bounded (entries, depth, bytes).
 *
 * Error kinds (fo_errno): ENOENT -> SBX_E_NOTFOUND "not_found";
 * EACCES/EPERM -> SBX_E_FORBIDDEN "permission_denied", EROFS -> "read_only";
 * EEXIST/ENOTEMPTY/EISDIR/ENOTDIR/EBUSY -> SBX_E_CONFLICT "conflict";
 * ENOSPC/EDQUOT/EFBIG -> SBX_E_TOOLARGE "no_space";
 * ENAMETOOLONG/ELOOP/EINVAL -> SBX_E_INVALID "invalid_path"; others internal.
 * Operation-specific codes: "file_too_large" (fo_write over max_bytes),
 * "cross_device" (fo_rename across mounts, 409), "mount_point" (fo_remove
 * would remove or cross a mount, 409), "too_deep" (fo_remove, 409),
 * "client_gone" (fo_read's reader closed the pipe; not worth logging). */
#ifndef SBX_FILEOPS_H
#define SBX_FILEOPS_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define FO_PATH_MAX 4095         /* bytes in an API path, without the NUL */
#define FO_LIST_DEPTH_MAX 16     /* fo_list depth */
#define FO_LIST_SCAN_MAX 1000000 /* directory entries fo_list reads at most (then truncated) */
#define FO_REMOVE_DEPTH_MAX 256  /* levels below the path fo_remove descends */

/* Map errnum (an errno value; a negative one is negated) to a kind and code
 * as above; the message is fmt's text + ": strerror(errnum)". Returns -errnum. */
int fo_errno(sbx_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The kind and code of errnum as above (for errors made elsewhere, e.g. by
 * sbx-archive's extraction). */
void fo_classify(int errnum, enum sbx_err_kind *kind, const char **code);

/* Validate a path given by an API caller: non-empty, absolute, at most
 * FO_PATH_MAX bytes. ".." is allowed (resolution happens inside the sandbox)
 * and nothing is normalised. 0, or <0 with SBX_E_INVALID "invalid_path". */
int fo_check_path(const char *path, sbx_err *err);

/* lstat semantics (a final symlink is not followed): {"path", "name",
 * "type": "file"|"dir"|"symlink"|"fifo"|"socket"|"char"|"block", "size",
 * "mode": "0644" (permission bits incl. setuid/setgid/sticky, 4 octal digits),
 * "uid", "gid", "mtime": "2026-01-02T03:04:05Z", "target" (symlinks only)}. */
int fo_stat(const char *path, struct json_object **out, sbx_err *err);

/* {"path": P, "entries": [stat objects, "path" = full path], "truncated": bool,
 * "skipped": N}. depth 1 = direct children, 2 = also grandchildren, ... (at
 * most FO_LIST_DEPTH_MAX). Entries are sorted by path (strcmp) and are the
 * first max_entries of that order (truncated = true when there were more, or
 * when more than FO_LIST_SCAN_MAX directory entries would have to be read).
 * Never descends through symlinks; a symlink given as P itself is followed
 * (like ls /bin on a merged-/usr system); P must be a directory, else 409.
 * Subdirectories below P that cannot be opened, and entries that cannot be
 * stat'ed, are counted in "skipped"; an unreadable P is an error. */
int fo_list(const char *path, int depth, size_t max_entries, struct json_object **out,
            sbx_err *err);

/* mkdir with mode (umask applies). parents = 1: like mkdir -p (existing
 * directories, or symlinks to them, are fine; an existing non-directory
 * anywhere on the way is a 409 naming it). */
int fo_mkdir(const char *path, int parents, mode_t mode, sbx_err *err);

/* rename(2) from -> to. overwrite = 0: the destination must not exist (409,
 * atomically with RENAME_NOREPLACE where the filesystem supports it). Moving a
 * directory into itself -> invalid_path; across mounts -> 409 "cross_device". */
int fo_rename(const char *from, const char *to, int overwrite, sbx_err *err);

/* Remove a file, a symlink (the link) or an empty directory; recursive = 1
 * removes a tree: never following symlinks, never crossing into another
 * mount (stops with a 409 naming it), at most FO_REMOVE_DEPTH_MAX levels.
 * Removing "/" (or anything naming it), or a path ending in "." or "..", is
 * invalid_path; removing a mount point is a 409. */
int fo_remove(const char *path, int recursive, sbx_err *err);

/* Stream a regular file (symlinks followed, like cat) to outfd, typically a
 * pipe. *size is the size from fstat when opened, and exactly *size bytes
 * are streamed (a file that grows meanwhile is cut there; one that shrinks
 * is an error). Anything but a regular file is refused before it is read
 * (409; a FIFO never blocks). A reader that went away: <0 with errnum EPIPE
 * and code "client_gone" (SIGPIPE is blocked while streaming). */
int fo_read(const char *path, int outfd, uint64_t *size, sbx_err *err);

/* Replace or create the regular file path with infd's bytes until EOF,
 * atomically: a temp file ".<name>.sbx-XXXXXX" beside it, fsync'ed, then
 * renamed over path (a symlink at path is replaced, not followed). A
 * directory (409), or a FIFO/socket/device (409), at path is not replaced.
 * More than max_bytes -> SBX_E_TOOLARGE "file_too_large"; on any failure the
 * temp file is removed and path is untouched. mkparents = 1 creates missing
 * parent directories (0755). A new file gets mode (umask applies); an
 * existing regular file's mode (and owner, where permitted) is kept unless
 * mode_given, in which case mode is set exactly. *written = bytes written.
 * commit (NULL: always) is asked once all of infd was read, before the rename:
 * < 0 abandons the write (the temp file is removed, code "aborted"), e.g. when
 * EOF came from a client that went away rather than from the end of the body. */
int fo_write(const char *path, int infd, mode_t mode, int mode_given, uint64_t max_bytes,
             int mkparents, int (*commit)(void *ud), void *commit_ud, uint64_t *written,
             sbx_err *err);

#endif
