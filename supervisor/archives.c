/* archives.c - GET/PUT /v1/sessions/{id}/archive: arguments, and sbx-archive
 * run as an sbjob. See archives.h. */
#include "archives.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileops.h"
#include "helper.h"
#include "jobio.h"
#include "sbjob.h"
#include "sbxd.h"

struct aargs {
    char exe[PATH_MAX];
    char path[FO_PATH_MAX + 1];
    char format[16];
    char max_bytes[24], max_entries[24];
    int put, root;
};

extern char **environ;

/* In the job's child (sbjob.h's fds in place): exec sbx-archive with a clean
 * environment (the sanitizers' options pass, for the ASan build). */
static void run_helper(void *arg)
{
    const struct aargs *a = arg;
    char *argv[16];
    int n = 0;
    argv[n++] = "sbx-archive";
    argv[n++] = a->put ? "unpack" : "pack";
    argv[n++] = "--path";
    argv[n++] = (char *)a->path;
    argv[n++] = "--format";
    argv[n++] = (char *)a->format;
    if (a->root) argv[n++] = "--root";
    if (a->put) {
        argv[n++] = "--max-bytes";
        argv[n++] = (char *)a->max_bytes;
        argv[n++] = "--max-entries";
        argv[n++] = (char *)a->max_entries;
    }
    argv[n] = NULL;
    char *envp[4];
    int m = 0;
    for (char **e = environ; *e && m < 3; e++)
        if (!strncmp(*e, "ASAN_OPTIONS=", 13) || !strncmp(*e, "UBSAN_OPTIONS=", 14) ||
            !strncmp(*e, "LSAN_OPTIONS=", 13))
            envp[m++] = *e;
    envp[m] = NULL;
    execve(a->exe, argv, envp);
    sbx_err err;
    sbx_error(&err, errno, "run sbx-archive (%s)", a->exe);
    job_answer(JOB_ANSWER_FD, -1, NULL, &err);
    _exit(127);
}

static int parse_args(struct conn *c, struct session *s, int put, struct aargs *a)
{
    struct sbxd *d = g_sbxd;
    const char *q = c->req.query ? c->req.query : "";
    memset(a, 0, sizeof(*a));
    a->put = put;
    int r = http_query_get(q, "path", a->path, sizeof(a->path));
    if (r <= 0)
        return http_req_failf(&c->req, 400, "invalid_request",
                              "query \"path\": %s (the directory in the sandbox, absolute, e.g. "
                              "?path=/workspace, percent-encoded)",
                              r < 0 ? "malformed or longer than 4095 bytes" : "missing");
    sbx_err err;
    if (fo_check_path(a->path, &err) < 0)
        return http_req_failf(&c->req, 400, "invalid_path", "%s", err.msg);
    snprintf(a->format, sizeof(a->format), "%s", put ? "auto" : "tar");
    r = http_query_get(q, "format", a->format, sizeof(a->format));
    if (r < 0 || (strcmp(a->format, "tar") && strcmp(a->format, "tar.gz") &&
                  strcmp(a->format, "tar.zst") && (!put || strcmp(a->format, "auto"))))
        return http_req_failf(
            &c->req, 400, "invalid_request", "query \"format\": %s",
            put ? "tar, tar.gz, tar.zst or auto (the default: detected from the body)"
                : "tar (the default), tar.gz or tar.zst");
    char v[16];
    r = http_query_get(q, "user", v, sizeof(v));
    if (r < 0 || (r > 0 && strcmp(v, "root") && strcmp(v, "sandbox")))
        return http_req_failf(&c->req, 400, "invalid_request", "%s",
                              "query \"user\": root or sandbox (the default)");
    a->root = r > 0 && !strcmp(v, "root");
    snprintf(a->max_bytes, sizeof(a->max_bytes), "%llu",
             (unsigned long long)d->cfg.archive_max_bytes);
    snprintf(a->max_entries, sizeof(a->max_entries), "%llu",
             (unsigned long long)d->cfg.archive_max_entries);
    if (s->state != S_RUNNING)
        return http_req_failf(&c->req, 409, "conflict",
                              "session %s is not running; remove it and create a new one", s->id);
    if (helper_exe_path(d->cfg.archive_path, "sbx-archive", a->exe, sizeof(a->exe)) < 0 ||
        access(a->exe, X_OK) != 0)
        return http_req_failf(&c->req, 500, "internal",
                              "sbx-archive not found at %s (pass sbxd --archive)", a->exe);
    return 0;
}

static int start(struct conn *c, struct session *s, const struct aargs *a)
{
    static const char *const types[] = {"application/x-tar", "application/gzip",
                                        "application/zstd"};
    const char *type = !strcmp(a->format, "tar.gz")    ? types[1]
                       : !strcmp(a->format, "tar.zst") ? types[2]
                                                       : types[0];
    struct sbjob_spec spec = {
        .what = "sbx-archive",
        .body = a->put,
        .stream_type = a->put ? NULL : type,
        .ready_line = !a->put,
        .ok_status = 200,
        .log_done = a->put ? "archive extracted" : "archive sent",
        .run = run_helper,
        .arg = (void *)a,
    };
    return sbjob_start(c, s, &spec);
}

int archive_put_begin(struct conn *c, struct session *s)
{
    struct aargs a;
    if (parse_args(c, s, 1, &a) < 0 || start(c, s, &a) < 0) return -1;
    return 1;
}

void archive_dispatch(struct conn *c, struct session *s)
{
    if (c->req.method != HTTP_GET) {
        char msg[200];
        snprintf(msg, sizeof(msg), "method %s not allowed here; use GET or PUT",
                 http_method_str((enum http_method)c->req.method));
        conn_respond_error3(c, 405, "method_not_allowed", msg);
        return;
    }
    struct aargs a;
    if (parse_args(c, s, 0, &a) < 0 || start(c, s, &a) < 0)
        conn_respond_error3(c, c->req.err_status, c->req.err_code, c->req.err_msg);
}
