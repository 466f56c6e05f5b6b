/* sbjob.c - a request served by a process inside a sandbox: start it, relay
 * its body, output and answer. See sbjob.h. */
#include "sbjob.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bodypipe.h"
#include "cleanup.h"
#include "helper.h"
#include "json.h"
#include "log.h"
#include "sbxd.h"

#define ANSWER_MAX ((size_t)64 << 20) /* a file list can be big */
#define READY_MAX 65536               /* the {"ready"} line */
#define STDERR_LINE_MAX 65536

struct sbjob {
    struct conn *c;
    struct sbjob_spec spec;
    char sid[13];
    pid_t pid;
    int pidfd, out_fd, res_fd, err_fd;
    int ctl_fd; /* body jobs: 'C' once the body ended; closed without it = abandoned */
    struct bodypipe body;
    struct event *out_ev, *res_ev, *err_ev, *exit_ev;
    struct evbuffer *result, *errline;
    int ready; /* ready_line jobs: 0 not yet, 1 ready, -1 the first line was the answer */
    int res_eof, out_eof, exited, streaming, finished;
    struct sbjob *next;
};

static struct sbjob *g_jobs;

/* ------------------------------------------------------------ the child -- */

/* Put want[i] (an fd, or -1 for /dev/null) at fd i, close everything else,
 * then run. */
static void child(const struct sbjob_spec *sp, const int want[6])
{
    int tmp[6];
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) _exit(120);
    /* out of the way first, so that no dup2 below clobbers another of them */
    for (int i = 0; i < 6; i++) {
        tmp[i] = fcntl(want[i] >= 0 ? want[i] : devnull, F_DUPFD_CLOEXEC, 100);
        if (tmp[i] < 0) _exit(120);
    }
    for (int i = 0; i < 6; i++)
        if (dup2(tmp[i], i) < 0) _exit(120); /* dup2: the copy is not close-on-exec */
    syscall(SYS_close_range, 6, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sp->run(sp->arg);
    _exit(127);
}

/* ------------------------------------------------------------ sbxd side -- */

static void job_free(struct sbjob *j)
{
    for (struct sbjob **pp = &g_jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    struct event *evs[] = {j->out_ev, j->res_ev, j->err_ev, j->exit_ev};
    for (size_t i = 0; i < 4; i++)
        if (evs[i]) event_free(evs[i]);
    int fds[] = {j->out_fd, j->res_fd, j->err_fd, j->ctl_fd};
    for (size_t i = 0; i < 4; i++)
        if (fds[i] >= 0) close(fds[i]);
    bodypipe_free(&j->body);
    helper_kill(&j->pidfd);
    if (j->result) evbuffer_free(j->result);
    if (j->errline) evbuffer_free(j->errline);
    free(j);
}

static struct conn *take_conn(struct sbjob *j)
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

static void respond_err(struct sbjob *j, int status, const char *code, const char *msg)
{
    struct conn *c = take_conn(j);
    if (!c) return;
    if (j->streaming) {
        /* the body had started: the only honest signal left is a cut connection */
        sbx_log(SBX_LOG_WARN, "response cut: the job failed after its body had started", "job",
                j->spec.what, "session", j->sid, "error", msg, NULL);
        conn_abort(c);
        return;
    }
    conn_respond_error3(c, status, code, msg);
}

static void start_stream(struct sbjob *j)
{
    if (j->streaming || !j->c) return;
    j->streaming = 1;
    conn_stream_begin(j->c, j->spec.stream_type);
}

static void finish(struct sbjob *j)
{
    int out_done = j->out_fd < 0 || j->out_eof || (j->spec.ready_line && j->ready != 1);
    if (j->finished || !j->exited || !j->res_eof || !out_done) return;
    j->finished = 1;
    struct json_object *o = helper_answer(j->result), *ok;
    int status;
    const char *code, *msg;
    if (o && json_object_object_get_ex(o, "ok", &ok)) {
        if (j->spec.log_done)
            sbx_log(SBX_LOG_INFO, j->spec.log_done, "session", j->sid, "result",
                    json_object_to_json_string_ext(ok, JSON_C_TO_STRING_PLAIN), NULL);
        struct conn *c = take_conn(j);
        if (c) {
            if (j->spec.stream_type) {
                if (!j->streaming) conn_stream_begin(c, j->spec.stream_type);
                conn_stream_end(c);
            } else if (j->spec.ok_status == 204) {
                conn_respond(c, 204, NULL);
            } else {
                conn_respond(c, j->spec.ok_status, json_object_get(ok));
            }
        }
    } else if (helper_answer_error(o, &status, &code, &msg)) {
        respond_err(j, status, code, msg);
    } else {
        if (j->c) /* (else it was killed because its client left) */
            log_error("%s for session %s ended without an answer", j->spec.what, j->sid);
        char m[200];
        snprintf(m, sizeof(m), "the %s died without an answer", j->spec.what);
        respond_err(j, 500, "internal", m);
    }
    if (o) json_object_put(o);
    job_free(j);
}

static void exit_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct sbjob *j = arg;
    j->exited = 1;
    event_del(j->exit_ev);
    bodypipe_close(&j->body);
    finish(j);
}

/* ready_line jobs: is the first answer line {"ready": ...}? Then drop it and
 * start the response; anything else is the answer itself. */
static void check_ready(struct sbjob *j)
{
    size_t eol;
    struct evbuffer_ptr p = evbuffer_search_eol(j->result, NULL, &eol, EVBUFFER_EOL_LF);
    if (p.pos < 0) {
        if (evbuffer_get_length(j->result) > READY_MAX) j->ready = -1;
        return;
    }
    j->ready = -1;
    if ((size_t)p.pos > READY_MAX) return;
    char *line = malloc((size_t)p.pos + 1);
    if (!line) return;
    evbuffer_copyout(j->result, line, (size_t)p.pos);
    line[p.pos] = '\0';
    struct json_object *o = json_tokener_parse(line), *v;
    free(line);
    if (o && json_object_object_get_ex(o, "ready", &v)) {
        evbuffer_drain(j->result, (size_t)p.pos + eol);
        j->ready = 1;
        start_stream(j);
        if (j->out_ev) event_add(j->out_ev, NULL);
    }
    if (o) json_object_put(o);
}

static void res_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct sbjob *j = arg;
    int done = helper_read_answer(j->result, fd, ANSWER_MAX);
    if (j->spec.ready_line && j->ready == 0) check_ready(j);
    if (!done) return;
    j->res_eof = 1;
    event_del(j->res_ev);
    finish(j);
}

/* The process's stderr: one log line per line (it is not trusted: bounded). */
static void err_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct sbjob *j = arg;
    int n = evbuffer_read(j->errline, fd, 65536);
    if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        event_del(j->err_ev);
        if (evbuffer_get_length(j->errline) > 0) evbuffer_add(j->errline, "\n", 1);
    }
    char *line;
    size_t len;
    while ((line = evbuffer_readln(j->errline, &len, EVBUFFER_EOL_LF)) != NULL) {
        sbx_log(SBX_LOG_WARN, "job stderr", "job", j->spec.what, "session", j->sid, "line", line,
                NULL);
        free(line);
    }
    if (evbuffer_get_length(j->errline) > STDERR_LINE_MAX)
        evbuffer_drain(j->errline, evbuffer_get_length(j->errline));
}

/* Streaming: fd 1 -> HTTP chunks, pausing while the client is behind. */
static void out_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct sbjob *j = arg;
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
        start_stream(j);
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
    struct sbjob *j = arg;
    if (!j->out_eof && j->out_ev && (!j->spec.ready_line || j->ready == 1))
        event_add(j->out_ev, NULL);
}

/* The client went away (possibly from inside conn_stream_chunk: j must stay
 * valid, it is freed once the process has exited). A body job's process is
 * told the body was abandoned (EOF on fd 5 without 'C': it removes what it
 * made and exits); any other job's process is killed. */
static void on_gone(void *arg)
{
    struct sbjob *j = arg;
    j->c = NULL;
    j->body.c = NULL;
    if (j->out_ev) event_del(j->out_ev);
    if (j->out_fd >= 0) close(j->out_fd);
    j->out_fd = -1;
    j->out_eof = 1;
    if (j->spec.body) {
        if (j->ctl_fd >= 0) close(j->ctl_fd);
        j->ctl_fd = -1;
        bodypipe_close(&j->body);
    } else if (j->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0);
    }
}

static void on_body(void *arg, const char *p, size_t n)
{
    bodypipe_feed(&((struct sbjob *)arg)->body, p, n);
}

static void on_body_end(void *arg)
{
    struct sbjob *j = arg;
    /* the whole body came: the process may commit once it has read it all */
    if (j->ctl_fd >= 0) {
        if (write(j->ctl_fd, "C", 1) != 1)
            log_warn("%s for %s: commit pipe: %s", j->spec.what, j->sid, strerror(errno));
        close(j->ctl_fd);
        j->ctl_fd = -1;
    }
    bodypipe_end(&j->body);
}

static int fail(struct conn *c, const char *what, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "start the %s: %s", what, why);
    return http_req_fail(&c->req, 500, "internal", msg);
}

int sbjob_start(struct conn *c, struct session *s, const struct sbjob_spec *spec)
{
    struct sbxd *d = g_sbxd;
    struct sbjob *j = calloc(1, sizeof(*j));
    if (!j) return fail(c, spec->what, "out of memory");
    j->c = c;
    j->spec = *spec;
    j->pidfd = j->out_fd = j->res_fd = j->err_fd = j->ctl_fd = j->body.fd = -1;
    snprintf(j->sid, sizeof(j->sid), "%s", s->id);
    j->result = evbuffer_new();
    j->errline = evbuffer_new();
    j->next = g_jobs;
    g_jobs = j;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, pres[2] = {-1, -1}, perr[2] = {-1, -1},
        pctl[2] = {-1, -1};
    int ok = j->result && j->errline && pipe2(pres, O_CLOEXEC) == 0 && pipe2(perr, O_CLOEXEC) == 0;
    if (ok && spec->body) ok = pipe2(pin, O_CLOEXEC) == 0 && pipe2(pctl, O_CLOEXEC) == 0;
    if (ok && spec->stream_type) ok = pipe2(pout, O_CLOEXEC) == 0;
    long pid = -1;
    if (ok) {
        struct clone_args ca = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&j->pidfd,
                                .exit_signal = SIGCHLD};
        pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid == 0) {
            const int want[6] = {pin[0], pout[1], perr[1], pres[1], s->sb.pidfd, pctl[0]};
            child(&j->spec, want);
        }
    }
    int e = errno;
    int closefds[] = {pin[0], pout[1], pres[1], perr[1], pctl[0]};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(closefds); i++)
        if (closefds[i] >= 0) close(closefds[i]);
    j->res_fd = pres[0];
    j->err_fd = perr[0];
    j->ctl_fd = pctl[1];
    j->out_fd = pout[0];
    if (pin[1] >= 0 && pid < 0) {
        close(pin[1]);
    } else if (pin[1] >= 0 && bodypipe_init(&j->body, d->base, c, pin[1]) < 0) {
        pid = -1; /* (bodypipe_init closed pin[1]; job_free kills the child) */
        e = ENOMEM;
    }
    if (pid < 0) {
        job_free(j);
        return fail(c, spec->what, strerror(e));
    }
    j->pid = (pid_t)pid;
    fcntl(j->res_fd, F_SETFL, O_NONBLOCK);
    fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
    j->res_ev = event_new(d->base, j->res_fd, EV_READ | EV_PERSIST, res_cb, j);
    j->err_ev = event_new(d->base, j->err_fd, EV_READ | EV_PERSIST, err_cb, j);
    j->exit_ev = event_new(d->base, j->pidfd, EV_READ, exit_cb, j);
    if (j->out_fd >= 0) {
        fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
        j->out_ev = event_new(d->base, j->out_fd, EV_READ | EV_PERSIST, out_cb, j);
    }
    if (!j->res_ev || !j->err_ev || !j->exit_ev || (j->out_fd >= 0 && !j->out_ev)) {
        job_free(j);
        return fail(c, spec->what, "out of memory");
    }
    event_add(j->res_ev, NULL);
    event_add(j->err_ev, NULL);
    event_add(j->exit_ev, NULL);
    if (j->out_ev && !spec->ready_line) event_add(j->out_ev, NULL);
    if (spec->body)
        conn_stream_body(c, j, on_body, on_body_end, on_gone);
    else
        conn_set_owner(c, j, on_drain, on_gone);
    return 0;
}

int sbjob_session_active(const struct session *s)
{
    for (struct sbjob *j = g_jobs; j; j = j->next)
        if (!j->finished && strcmp(j->sid, s->id) == 0) return 1;
    return 0;
}

void sbjob_abort_session(struct session *s)
{
    for (struct sbjob *j = g_jobs, *next; j; j = next) {
        next = j->next;
        if (strcmp(j->sid, s->id) != 0) continue;
        respond_err(j, 409, "conflict", "the session was removed during the request");
        job_free(j);
    }
}

void sbjob_stop_all(void)
{
    while (g_jobs) {
        take_conn(g_jobs);
        job_free(g_jobs);
    }
}
