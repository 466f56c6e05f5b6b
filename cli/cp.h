/* cp.h - what cli/cp.c (sbx cp: the command, and single files) shares with
 * cli/cpdir.c (directories): the options, operand helpers, the remote stat
 * and the progress line. Must never: grow state. */
#ifndef SBX_CLI_CP_H
#define SBX_CLI_CP_H

#include <stdbool.h>

#include <json-c/json.h>

#include "cli.h"
#include "client.h"
#include "error.h"

struct cp_opts {
    bool parents, quiet;
    const char *mode; /* octal digits, or NULL */
    const char *user; /* or NULL: sbxd's default */
};

/* The last component of path, trailing '/'s ignored ("" for "/"); malloc'd. */
char *cp_last_name(const char *path);
bool cp_ends_with_slash(const char *s);
/* dir + "/" + name (one '/' between them); malloc'd. */
char *cp_join(const char *dir, const char *name);
/* GET files/stat: 0 with *st (put it), or -1 with err (err->code "not_found"
 * when PATH, or the session, does not exist). */
int cp_remote_stat(sbx_client *cl, const char *id, const char *path, const struct cp_opts *o,
                   json_object **st, sbx_err *err);
bool cp_is_type(json_object *st, const char *type);
/* st (path's stat) is a directory, or a symlink to one (followed as the
 * archive API follows it). */
bool cp_remote_is_dir(sbx_client *cl, const char *id, const char *path, json_object *st,
                      const struct cp_opts *o);

/* The progress line (a transfer under 1 MiB shows none). */
struct cp_progress {
    struct progress line;
    bool download; /* no "finishing": the last byte received is the end */
};
void cp_progress_cb(void *ud, unsigned long long n, bool all);

/* Directories (cli/cpdir.c): local DIR -> ID:PATH, ID:DIR -> local (or - for
 * a tar on stdout). Exit statuses. */
int cp_dir_upload(sbx_client *cl, const char *local, const char *id, const char *rpath,
                  const struct cp_opts *o);
int cp_dir_download(sbx_client *cl, const char *id, const char *rpath, const char *local,
                    const struct cp_opts *o);

#endif
