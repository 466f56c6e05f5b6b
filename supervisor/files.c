/* files.c - file API requests: a worker process per request inside the
 * sandbox (see files.h), its answer relayed to the HTTP client. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bodypipe.h"
#include "fileops.h"
#include "helper.h"
#include "init/caps.h"
#include "json.h"
#include "log.h"
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

struct fjob {
    struct sbxd *d;
    struct conn *c;
    char sid[13];
    enum fop op;
    pid_t pid;
    int pidfd, out_fd, res_fd;
    int ctl_fd; /* PUT: 'C' once the body ended; closed without it = abandoned */
    struct bodypipe body;
    struct event *out_ev, *res_ev, *exit_ev;
    struct evbuffer *result;
    int res_eof, out_eof, exited, streaming, finished;
    struct fjob *next;
};

static struct fjob *g_jobs;

/* ------------------------------------------------------------ the worker -- */

static void put_result(int fd, int rc, struct json_object *ok, const sbx_err *err)
{
    struct json_object *o = json_object_new_object();
    if (rc == 0) {
        json_object_object_add(o, "ok", ok ? ok : json_object_new_object());
    } else {
        json_object_object_add(o, "error", json_err_object(err, "internal"));
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (write_all(fd, s, strlen(s)) < 0 || write_all(fd, "\n", 1) < 0) _exit(3);
}

/* PUT: the body ended (sbxd sent 'C') rather than the client leaving. */
static int body_complete(void *ud)
{
    (void)ud;
    char c = 0;
    ssize_t n;
    do n = read(5, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 && c == 'C' ? 0 : -1;
}

/* Never returns. fds: 0 body (PUT), 1 data (GET), 3 result, 4 the sandbox init's pidfd,
 * 5 (PUT) the commit pipe. */
static void worker(const struct fargs *a, int in, int out, int res, int initfd, int ctl)
{
    sbx_err err = {0};
    /* out of the way first, so that no dup2 below clobbers another of them */
    initfd = fcntl(initfd, F_DUPFD, 100);
    res = fcntl(res, F_DUPFD, 100);
    in = fcntl(in, F_DUPFD, 100);
    out = fcntl(out, F_DUPFD, 100);
    ctl = fcntl(ctl, F_DUPFD, 100);
    if (initfd < 0 || res < 0 || in < 0 || out < 0 || ctl < 0) _exit(120);
    if (dup2(initfd, 4) < 0 || dup2(res, 3) < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
        dup2(ctl, 5) < 0)
        _exit(120);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 2) < 0) _exit(120);
    syscall(SYS_close_range, 6, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* into the sandbox, then become its user: from here on, only what sandboxed code may do */
    int rc = -1;
    if (setns(4, CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        sbx_error(&err, errno, "enter the sandbox");
    } else {
        close(4);
        gid_t g = a->root ? 0 : 1000;
        uid_t u = a->root ? 0 : 1000;
        int r = caps_limit_bounding(a->root);
        if (r == 0 && (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0))
            r = -errno;
        if (r == 0) r = caps_apply(a->root);
        if (r == 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                       prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || chdir("/") < 0))
            r = -errno;
        if (r < 0) sbx_error(&err, -r, "become the sandbox's user");
        else rc = 0;
    }
    umask(022);
    struct json_object *ok = NULL;
    uint64_t n = 0;
    if (rc == 0) {
        switch (a->op) {
        case FOP_READ: rc = fo_read(a->path, 1, &n, &err); break;
        case FOP_WRITE:
            rc = fo_write(a->path, 0, a->mode, a->mode_given, a->max_bytes, a->parents,
                          body_complete, NULL, &n, &err);
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
    put_result(3, rc, ok, &err);
    _exit(rc == 0 ? 0 : 1);
}

/* ------------------------------------------------------------ sbxd side -- */

int files_session_active(const struct session *s)
{
    for (struct fjob *j = g_jobs; j; j = j->next)
        if (!j->finished && strcmp(j->sid, s->id) == 0) return 1;
    return 0;
}

static void job_free(struct fjob *j)
{
    for (struct fjob **pp = &g_jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    struct event *evs[] = {j->out_ev, j->res_ev, j->exit_ev};
    for (size_t i = 0; i < 3; i++)
        if (evs[i]) event_free(evs[i]);
    if (j->out_fd >= 0) close(j->out_fd);
    if (j->res_fd >= 0) close(j->res_fd);
    if (j->ctl_fd >= 0) close(j->ctl_fd);
    bodypipe_free(&j->body);
    helper_kill(&j->pidfd);
    if (j->result) evbuffer_free(j->result);
    free(j);
}

static struct conn *take_conn(struct fjob *j)
{
    struct conn *c = j->c;
    j->c = NULL;
    j->body.c = NULL;
    if (c) {
        conn_set_owner(c, NULL, NULL, NULL);
        c->on_body = NULL;
        c->on_body_end = NULL;
    }
    return c;
}

static void respond_err(struct fjob *j, int status, const char *code, const char *msg)
{
    struct conn *c = take_conn(j);
    if (!c) return;
    if (j->streaming) {
        /* the body had started: the only honest signal left is a cut connection */
        conn_abort(c);
        return;
    }
    conn_respond_error3(c, status, code, msg);
}

static void finish(struct fjob *j)
{
    if (j->finished || !j->exited || !j->res_eof || (j->out_fd >= 0 && !j->out_eof)) return;
    j->finished = 1;
    struct json_object *o = helper_answer(j->result), *ok;
    int status;
    const char *code, *msg;
    if (o && json_object_object_get_ex(o, "ok", &ok)) {
        struct conn *c = take_conn(j);
        if (c) {
            if (j->op == FOP_READ) {
                if (!j->streaming) conn_stream_begin(c, "application/octet-stream");
                conn_stream_end(c);
            } else if (j->op == FOP_REMOVE) {
                conn_respond(c, 204, NULL);
            } else {
                conn_respond(c, j->op == FOP_MKDIR ? 201 : 200, json_object_get(ok));
            }
        }
    } else if (helper_answer_error(o, &status, &code, &msg)) {
        respond_err(j, status, code, msg);
    } else {
        log_error("file API worker for session %s ended without an answer", j->sid);
        respond_err(j, 500, "internal", "the file operation's worker died without an answer");
    }
    if (o) json_object_put(o);
    job_free(j);
}

static void exit_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct fjob *j = arg;
    j->exited = 1;
    event_del(j->exit_ev);
    bodypipe_close(&j->body);
    finish(j);
}

static void res_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct fjob *j = arg;
    if (!helper_read_answer(j->result, fd, 64u << 20)) return;
    j->res_eof = 1;
    event_del(j->res_ev);
    finish(j);
}

/* GET: file bytes -> HTTP chunks, pausing while the client is behind. */
static void out_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct fjob *j = arg;
    for (int i = 0; i < 16; i++) {
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            j->out_eof = 1;
            event_del(j->out_ev);
            finish(j);
            return;
        }
        if (!j->c) return; /* client gone (on_gone closed out_fd) */
        if (!j->streaming) {
            j->streaming = 1;
            conn_stream_begin(j->c, "application/octet-stream");
        }
        conn_stream_chunk(j->c, NULL, 0, buf, (size_t)n); /* may end in on_gone: j stays */
        if (!j->c) return;
        if (conn_out_pending(j->c) >= CONN_OUT_HIGH) {
            event_del(j->out_ev);
            return;
        }
    }
}

static void on_drain(void *arg)
{
    struct fjob *j = arg;
    if (!j->out_eof && j->out_ev) event_add(j->out_ev, NULL);
}

/* The client went away (possibly from inside conn_stream_chunk: j must stay
 * valid, it is freed once the worker has exited). A PUT's worker is told the
 * body was abandoned (EOF without 'C': it removes its temp file and exits);
 * any other worker is killed. */
static void on_gone(void *arg)
{
    struct fjob *j = arg;
    j->c = NULL;
    j->body.c = NULL;
    if (j->out_ev) event_del(j->out_ev);
    if (j->out_fd >= 0) close(j->out_fd);
    j->out_fd = -1;
    j->out_eof = 1;
    if (j->op == FOP_WRITE) {
        if (j->ctl_fd >= 0) close(j->ctl_fd);
        j->ctl_fd = -1;
        bodypipe_close(&j->body);
    } else if (j->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
    }
}

static void on_body(void *arg, const char *p, size_t n)
{
    bodypipe_feed(&((struct fjob *)arg)->body, p, n);
}

static void on_body_end(void *arg)
{
    struct fjob *j = arg;
    /* the whole body came: the worker may commit once it has read it all */
    if (j->ctl_fd >= 0) {
        if (write(j->ctl_fd, "C", 1) != 1) log_warn("file PUT for %s: commit pipe: %s", j->sid, strerror(errno));
        close(j->ctl_fd);
        j->ctl_fd = -1;
    }
    bodypipe_end(&j->body);
}

__attribute__((format(printf, 4, 5))) static int bad(struct conn *c, int status, const char *code,
                                                     const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_req_fail(&c->req, status, code, msg);
}

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
        return bad(c, 400, "invalid_request",
                   "query \"%s\": %s (an absolute path in the sandbox, e.g. ?%s=/workspace/app.js, "
                   "percent-encoded)",
                   pkey, r < 0 ? "malformed or longer than 4095 bytes" : "missing", pkey);
    if (fo_check_path(a->path, &err) < 0) return bad(c, 400, "invalid_path", "%s", err.msg);
    if (op == FOP_RENAME) {
        r = http_query_get(q, "to", a->to, sizeof(a->to));
        if (r <= 0)
            return bad(c, 400, "invalid_request", "%s",
                       "query \"to\": missing or malformed (the new absolute path)");
        if (fo_check_path(a->to, &err) < 0) return bad(c, 400, "invalid_path", "%s", err.msg);
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
            return bad(c, 400, "invalid_request", "query \"%s\": use 1 or 0", flags[i].key);
        *(int *)((char *)a + flags[i].off) = !strcmp(v, "1") || !strcmp(v, "true");
    }
    r = http_query_get(q, "depth", v, sizeof(v));
    if (r != 0) {
        char *end;
        long dd = r > 0 ? strtol(v, &end, 10) : -1;
        if (r < 0 || *end || dd < 1 || dd > 16)
            return bad(c, 400, "invalid_request", "%s", "query \"depth\": 1 .. 16");
        a->depth = (int)dd;
    }
    r = http_query_get(q, "mode", v, sizeof(v));
    if (r != 0) {
        char *end;
        long m = r > 0 ? strtol(v, &end, 8) : -1;
        if (r < 0 || *end || !*v || m < 0 || m > 07777)
            return bad(c, 400, "invalid_request", "%s", "query \"mode\": octal permission bits, e.g. 0644");
        a->mode = (mode_t)m & 01777; /* no setuid/setgid through the API */
        a->mode_given = 1;
    } else {
        a->mode = 0644;
    }
    r = http_query_get(q, "user", v, sizeof(v));
    if (r < 0 || (r > 0 && strcmp(v, "root") && strcmp(v, "sandbox")))
        return bad(c, 400, "invalid_request", "%s", "query \"user\": root or sandbox (the default)");
    a->root = r > 0 && !strcmp(v, "root");
    if (s->state != S_RUNNING)
        return bad(c, 409, "conflict", "session %s is not running; remove it and create a new one",
                   s->id);
    return 0;
}

static int start(struct conn *c, struct session *s, const struct fargs *a, struct fjob **out)
{
    struct sbxd *d = g_sbxd;
    struct fjob *j = calloc(1, sizeof(*j));
    if (!j) return bad(c, 500, "internal", "%s", "out of memory");
    j->d = d;
    j->c = c;
    j->op = a->op;
    j->pidfd = j->out_fd = j->res_fd = j->ctl_fd = j->body.fd = -1;
    snprintf(j->sid, sizeof(j->sid), "%s", s->id);
    j->result = evbuffer_new();
    j->next = g_jobs;
    g_jobs = j;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, pres[2] = {-1, -1}, pctl[2] = {-1, -1};
    int ok = j->result && pipe2(pres, O_CLOEXEC) == 0;
    if (ok && a->op == FOP_WRITE) ok = pipe2(pin, O_CLOEXEC) == 0 && pipe2(pctl, O_CLOEXEC) == 0;
    if (ok && a->op == FOP_READ) ok = pipe2(pout, O_CLOEXEC) == 0;
    int devnull = ok ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
    long pid = -1;
    if (devnull >= 0) {
        struct clone_args ca = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&j->pidfd,
                                .exit_signal = SIGCHLD};
        pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid == 0)
            worker(a, pin[0] >= 0 ? pin[0] : devnull, pout[1] >= 0 ? pout[1] : devnull, pres[1],
                   s->sb.pidfd, pctl[0] >= 0 ? pctl[0] : devnull);
    }
    int e = errno;
    int closefds[] = {pin[0], pout[1], pres[1], pctl[0], devnull};
    for (size_t i = 0; i < 5; i++)
        if (closefds[i] >= 0) close(closefds[i]);
    j->res_fd = pres[0];
    j->ctl_fd = pctl[1];
    j->out_fd = pout[0];
    if (pin[1] >= 0 && bodypipe_init(&j->body, d->base, c, pin[1]) < 0) pid = -1;
    if (pid < 0) {
        if (pout[0] < 0 && pin[1] >= 0 && j->body.fd < 0) close(pin[1]);
        job_free(j);
        return bad(c, 500, "internal", "start the file worker: %s", strerror(e));
    }
    j->pid = (pid_t)pid;
    fcntl(j->res_fd, F_SETFL, O_NONBLOCK);
    j->res_ev = event_new(d->base, j->res_fd, EV_READ | EV_PERSIST, res_cb, j);
    j->exit_ev = event_new(d->base, j->pidfd, EV_READ, exit_cb, j);
    if (j->out_fd >= 0) {
        fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
        j->out_ev = event_new(d->base, j->out_fd, EV_READ | EV_PERSIST, out_cb, j);
    }
    if (!j->res_ev || !j->exit_ev || (j->out_fd >= 0 && !j->out_ev)) {
        job_free(j);
        return bad(c, 500, "internal", "%s", "out of memory");
    }
    event_add(j->res_ev, NULL);
    event_add(j->exit_ev, NULL);
    if (j->out_ev) event_add(j->out_ev, NULL);
    *out = j;
    return 0;
}

int files_put_begin(struct conn *c, struct session *s)
{
    struct fargs a;
    struct fjob *j;
    if (parse_args(c, s, FOP_WRITE, &a) < 0 || start(c, s, &a, &j) < 0) return -1;
    conn_stream_body(c, j, on_body, on_body_end, on_gone);
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
        snprintf(msg, sizeof(msg), "no such endpoint: files/%.64s (stat, list, mkdir, rename)", sub);
        conn_respond_error3(c, 404, "not_found", msg);
        return;
    }
    struct fargs a;
    struct fjob *j;
    if (parse_args(c, s, op, &a) < 0 || start(c, s, &a, &j) < 0) {
        conn_respond_error3(c, c->req.err_status, c->req.err_code, c->req.err_msg);
        return;
    }
    conn_set_owner(c, j, on_drain, on_gone);
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
    for (struct fjob *j = g_jobs, *next; j; j = next) {
        next = j->next;
        if (strcmp(j->sid, s->id) != 0) continue;
        respond_err(j, 409, "conflict", "the session was removed during the file operation");
        job_free(j);
    }
}

void files_stop_all(struct sbxd *d)
{
    (void)d;
    while (g_jobs) {
        take_conn(g_jobs);
        job_free(g_jobs);
    }
}
