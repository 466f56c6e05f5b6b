/* files.c - file API requests: their arguments, and the worker process that
 * does each one inside the sandbox (see files.h); sbjob.c runs it and relays
 * its answer to the HTTP client. */
#include "files.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enter.h"
#include "fileops.h"
#include "jobio.h"
#include "json.h"
#include "sbjob.h"
#include "sbxd.h"
#include "util.h"

enum fop { FOP_READ, FOP_WRITE, FOP_STAT, FOP_LIST, FOP_MKDIR, FOP_RENAME, FOP_REMOVE };

struct fargs {
    enum fop op;
    char path[4096], to[4096];
    int root, parents, recursive, overwrite, depth, mode_given;
    mode_t mode;
    uint64_t max_bytes;
};

/* ------------------------------------------------------------ the worker -- */

/* Never returns. fds (sbjob.h): 0 body (PUT), 1 data (GET), 3 the answer
 * (jobio.h), 4 the sandbox init's pidfd, 5 (PUT) the commit pipe. */
static void worker(void *arg)
{
    const struct fargs *a = arg;
    sbx_err err = {0};
    /* into the sandbox, then become its user: from here on, only what sandboxed code may do */
    int rc = sandbox_enter(JOB_PIDFD, a->root, &err);
    close(JOB_PIDFD);
    umask(022);
    struct json_object *ok = NULL;
    uint64_t n = 0;
    if (rc == 0) {
        switch (a->op) {
        case FOP_READ: rc = fo_read(a->path, 1, &n, &err); break;
        case FOP_WRITE:
            rc = fo_write(a->path, 0, a->mode, a->mode_given, a->max_bytes, a->parents,
                          job_body_complete, NULL, &n, &err);
            if (rc == 0) rc = fo_stat(a->path, &ok, &err);
            break;
        case FOP_STAT: rc = fo_stat(a->path, &ok, &err); break;
        case FOP_LIST: rc = fo_list(a->path, a->depth, 100000, &ok, &err); break;
        case FOP_MKDIR:
            rc = fo_mkdir(a->path, a->parents, a->mode_given ? a->mode : 0755, &err);
            if (rc == 0) rc = fo_stat(a->path, &ok, &err);
            break;
        case FOP_RENAME:
            rc = fo_rename(a->path, a->to, a->overwrite, &err);
            if (rc == 0) rc = fo_stat(a->to, &ok, &err);
            break;
        case FOP_REMOVE: rc = fo_remove(a->path, a->recursive, &err); break;
        }
    }
    close(1);
    if (job_answer(JOB_ANSWER_FD, rc, ok, &err) < 0) _exit(3);
    _exit(rc == 0 ? 0 : 1);
}

/* ------------------------------------------------------------ sbxd side -- */

/* Query -> args; on error the request's error is set (http_req_fail) and -1 returned. */
static int parse_args(struct conn *c, struct session *s, enum fop op, struct fargs *a)
{
    const char *q = c->req.query ? c->req.query : "";
    char v[32];
    memset(a, 0, sizeof(*a));
    a->op = op;
    a->depth = 1;
    a->max_bytes = g_sbxd->cfg.file_max_bytes;
    sbx_err err;
    const char *pkey = op == FOP_RENAME ? "from" : "path";
    int r = http_query_get(q, pkey, a->path, sizeof(a->path));
    if (r <= 0)
        return http_req_failf(
            &c->req, 400, "invalid_request",
            "query \"%s\": %s (an absolute path in the sandbox, e.g. ?%s=/workspace/app.js, "
            "percent-encoded)",
            pkey, r < 0 ? "malformed or longer than 4095 bytes" : "missing", pkey);
    if (fo_check_path(a->path, &err) < 0)
        return http_req_failf(&c->req, 400, "invalid_path", "%s", err.msg);
    if (op == FOP_RENAME) {
        r = http_query_get(q, "to", a->to, sizeof(a->to));
        if (r <= 0)
            return http_req_failf(&c->req, 400, "invalid_request", "%s",
                                  "query \"to\": missing or malformed (the new absolute path)");
        if (fo_check_path(a->to, &err) < 0)
            return http_req_failf(&c->req, 400, "invalid_path", "%s", err.msg);
    }
    static const struct {
        const char *key;
        size_t off;
    } flags[] = {{"parents", offsetof(struct fargs, parents)},
                 {"recursive", offsetof(struct fargs, recursive)},
                 {"overwrite", offsetof(struct fargs, overwrite)}};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        r = http_query_get(q, flags[i].key, v, sizeof(v));
        if (r == 0) continue;
        if (r < 0 || (strcmp(v, "1") && strcmp(v, "true") && strcmp(v, "0") && strcmp(v, "false")))
            return http_req_failf(&c->req, 400, "invalid_request", "query \"%s\": use 1 or 0",
                                  flags[i].key);
        *(int *)((char *)a + flags[i].off) = !strcmp(v, "1") || !strcmp(v, "true");
    }
    r = http_query_get(q, "depth", v, sizeof(v));
    if (r != 0) {
        char *end;
        long dd = r > 0 ? strtol(v, &end, 10) : -1;
        if (r < 0 || *end || dd < 1 || dd > 16)
            return http_req_failf(&c->req, 400, "invalid_request", "%s",
                                  "query \"depth\": 1 .. 16");
        a->depth = (int)dd;
    }
    r = http_query_get(q, "mode", v, sizeof(v));
    if (r != 0) {
        char *end;
        long m = r > 0 ? strtol(v, &end, 8) : -1;
        if (r < 0 || *end || !*v || m < 0 || m > 07777)
            return http_req_failf(&c->req, 400, "invalid_request", "%s",
                                  "query \"mode\": octal permission bits, e.g. 0644");
        a->mode = (mode_t)m & 01777; /* no setuid/setgid through the API */
        a->mode_given = 1;
    } else {
        a->mode = 0644;
    }
    r = http_query_get(q, "user", v, sizeof(v));
    if (r < 0 || (r > 0 && strcmp(v, "root") && strcmp(v, "sandbox")))
        return http_req_failf(&c->req, 400, "invalid_request", "%s",
                              "query \"user\": root or sandbox (the default)");
    a->root = r > 0 && !strcmp(v, "root");
    if (s->state != S_RUNNING)
        return http_req_failf(&c->req, 409, "conflict",
                              "session %s is not running; remove it and create a new one", s->id);
    return 0;
}

/* The worker runs with a copy of a (sbjob_start forks). */
static int start(struct conn *c, struct session *s, const struct fargs *a)
{
    struct sbjob_spec spec = {
        .what = "file worker",
        .body = a->op == FOP_WRITE,
        .stream_type = a->op == FOP_READ ? "application/octet-stream" : NULL,
        .ok_status = a->op == FOP_MKDIR    ? 201
                     : a->op == FOP_REMOVE ? 204
                                           : 200,
        .run = worker,
        .arg = (void *)a,
    };
    return sbjob_start(c, s, &spec);
}

int files_put_begin(struct conn *c, struct session *s)
{
    struct fargs a;
    if (parse_args(c, s, FOP_WRITE, &a) < 0 || start(c, s, &a) < 0) return -1;
    return 1;
}

void files_dispatch(struct conn *c, struct session *s, const char *sub)
{
    int m = c->req.method;
    enum fop op;
    const char *allowed;
    if (!sub) {
        allowed = "GET, PUT or DELETE";
        op = m == HTTP_GET ? FOP_READ : FOP_REMOVE;
        if (m != HTTP_GET && m != HTTP_DELETE) goto method;
    } else if (!strcmp(sub, "stat") || !strcmp(sub, "list")) {
        allowed = "GET";
        op = sub[0] == 's' ? FOP_STAT : FOP_LIST;
        if (m != HTTP_GET) goto method;
    } else if (!strcmp(sub, "mkdir") || !strcmp(sub, "rename")) {
        allowed = "POST";
        op = sub[0] == 'm' ? FOP_MKDIR : FOP_RENAME;
        if (m != HTTP_POST) goto method;
    } else {
        char msg[200];
        snprintf(msg, sizeof(msg), "no such endpoint: files/%.64s (stat, list, mkdir, rename)",
                 sub);
        conn_respond_error3(c, 404, "not_found", msg);
        return;
    }
    struct fargs a;
    if (parse_args(c, s, op, &a) < 0 || start(c, s, &a) < 0)
        conn_respond_error3(c, c->req.err_status, c->req.err_code, c->req.err_msg);
    return;
method:;
    char msg[200];
    snprintf(msg, sizeof(msg), "method %s not allowed here; use %s",
             http_method_str((enum http_method)m), allowed);
    conn_respond_error3(c, 405, "method_not_allowed", msg);
}

void files_abort_session(struct sbxd *d, struct session *s)
{
    (void)d;
    sbjob_abort_session(s);
}

void files_stop_all(struct sbxd *d)
{
    (void)d;
    sbjob_stop_all();
}
