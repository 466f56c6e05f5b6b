/* procapi.c - /v1/sessions/{id}/processes: list, inspect, signal, logs
 * (replay + follow), stdin, tty resize, and the "is it up yet" waits (a TCP
 * port listening in the session's network namespace, a text in the output). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "exec.h"
#include "json.h"
#include "log.h"
#include "proc.h"
#include "util.h"

#define FOLLOW_BEHIND_MAX (16u << 20) /* a follower further behind is cut off */
#define STDIN_BACKLOG_MAX (8u << 20)
#define WAIT_TEXT_MAX 1024
#define WAIT_DEFAULT_S 30.0
#define WAIT_MAX_S 3600.0
#define PORT_POLL_MS 50

struct follower {
    struct exec *e;
    struct conn *c;
    int frames;
    struct follower *next;
};

struct waiter {
    struct exec *e;
    struct conn *c;
    int port;       /* > 0: wait for a listening TCP port */
    char *text;     /* else: wait for this text in the output */
    size_t tlen;
    char carry[WAIT_TEXT_MAX]; /* the output's last tlen-1 bytes: matches across reads */
    size_t carry_len;
    double t0, deadline;
    struct event *timer;
    struct waiter *next;
};

/* ---- helpers ---- */

static int want_frames(struct conn *c)
{
    return strstr(c->req.accept, "application/vnd.sbx.frames") != NULL;
}

static void notfound(struct conn *c, struct session *s, const char *pid)
{
    char msg[300];
    snprintf(msg, sizeof(msg),
             "no process %.32s in session %s (list them with GET /v1/sessions/%s/processes)", pid,
             s->id, s->id);
    conn_respond_error3(c, 404, "no_such_process", msg);
}

static void exited_error(struct conn *c, struct exec *e, const char *what)
{
    char msg[300], st[64];
    if (e->have_status && WIFEXITED(e->status))
        snprintf(st, sizeof(st), "exit code %d", WEXITSTATUS(e->status));
    else if (e->have_status && WIFSIGNALED(e->status))
        snprintf(st, sizeof(st), "signal %d", WTERMSIG(e->status));
    else
        snprintf(st, sizeof(st), "killed");
    snprintf(msg, sizeof(msg), "process %u has exited (%s)%s%s", e->pid, st, what ? ": " : "",
             what ? what : "");
    conn_respond_error3(c, 409, "process_exited", msg);
}

static const struct {
    const char *name;
    int sig;
} g_signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},   {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

/* "TERM", "SIGTERM", "term", 15 -> 15; 0 if not a signal. */
static int parse_signal(struct json_object *v)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        return n >= 1 && n < NSIG ? (int)n : 0;
    }
    if (!json_object_is_type(v, json_type_string)) return 0;
    const char *s = json_object_get_string(v);
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (size_t i = 0; i < sizeof(g_signals) / sizeof(g_signals[0]); i++)
        if (strcasecmp(s, g_signals[i].name) == 0) return g_signals[i].sig;
    return 0;
}

/* ---- followers ---- */

static void follower_unlink(struct follower *f)
{
    for (struct follower **pp = &f->e->followers; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
}

static void follower_gone(void *arg)
{
    struct follower *f = arg;
    follower_unlink(f);
    free(f);
}

static void follower_end(struct follower *f, int ftype, struct json_object *last)
{
    struct conn *c = f->c;
    follower_unlink(f);
    conn_set_owner(c, NULL, NULL, NULL);
    if (last) exec_emit_json(c, f->frames, ftype, last);
    conn_stream_end(c);
    free(f);
}

struct replay {
    struct conn *c;
    int frames;
};

static int replay_one(int stream, const uint8_t *p, size_t n, void *ud)
{
    struct replay *r = ud;
    exec_emit_data(r->c, r->frames, stream == 1 ? F_STDOUT : F_STDERR, p, n);
    return 0;
}

static void logs(struct conn *c, struct exec *e)
{
    char v[8] = "";
    http_query_get(c->req.query, "follow", v, sizeof(v));
    int follow = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    int frames = want_frames(c);
    struct follower *f = NULL;
    if (follow && !e->exited) {
        f = calloc(1, sizeof(*f));
        if (!f) return conn_respond_error3(c, 503, "unavailable", "out of memory");
    }
    conn_stream_begin(c, frames ? "application/vnd.sbx.frames" : "application/x-ndjson");
    if (e->ring.dropped) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("dropped"));
        json_object_object_add(o, "bytes", json_object_new_int64((int64_t)e->ring.dropped));
        exec_emit_json(c, frames, F_EVENT, o);
    }
    struct replay r = {c, frames};
    logring_each(&e->ring, replay_one, &r);
    if (e->exited) {
        exec_emit_json(c, frames, F_EXIT, exec_exit_json(e));
        return conn_stream_end(c);
    }
    if (!f) return conn_stream_end(c);
    f->e = e;
    f->c = c;
    f->frames = frames;
    f->next = e->followers;
    e->followers = f;
    conn_set_owner(c, f, NULL, follower_gone);
}

/* ---- waiters ---- */

static void waiter_free(struct waiter *w)
{
    for (struct waiter **pp = &w->e->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    if (w->timer) event_free(w->timer);
    free(w->text);
    free(w);
}

static void waiter_gone(void *arg)
{
    waiter_free(arg);
}

static void waiter_ready(struct waiter *w)
{
    struct conn *c = w->c;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ready", json_object_new_boolean(1));
    json_object_object_add(o, "waited", json_object_new_double(now_mono() - w->t0));
    conn_set_owner(c, NULL, NULL, NULL);
    waiter_free(w);
    conn_respond(c, 200, o);
}

/* A TCP socket in LISTEN on port, in the network namespace of host pid. */
static int port_listening(pid_t pid, int port)
{
    static const char *const files[] = {"tcp", "tcp6"};
    for (int i = 0; i < 2; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, files[i]);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f) continue;
        char line[512];
        if (!fgets(line, sizeof(line), f)) continue; /* header */
        while (fgets(line, sizeof(line), f)) {
            char local[64];
            unsigned st;
            if (sscanf(line, " %*s %63s %*s %x", local, &st) != 2) continue;
            char *colon = strrchr(local, ':');
            if (colon && st == 0x0A && strtol(colon + 1, NULL, 16) == port) return 1;
        }
    }
    return 0;
}

static void waiter_timer(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct waiter *w = arg;
    if (w->port > 0 && port_listening(w->e->s->sb.init_pid, w->port)) return waiter_ready(w);
    if (now_mono() >= w->deadline) {
        struct conn *c = w->c;
        char msg[300];
        if (w->port > 0)
            snprintf(msg, sizeof(msg), "nothing listened on TCP port %d within %.1f s", w->port,
                     w->deadline - w->t0);
        else
            snprintf(msg, sizeof(msg), "the text did not appear in the output of process %u within "
                                       "%.1f s",
                     w->e->pid, w->deadline - w->t0);
        conn_set_owner(c, NULL, NULL, NULL);
        waiter_free(w);
        conn_respond_error3(c, 408, "wait_timeout", msg);
        return;
    }
    double left = w->deadline - now_mono();
    double step = w->port > 0 && left > PORT_POLL_MS / 1000.0 ? PORT_POLL_MS / 1000.0 : left;
    if (step < 0) step = 0;
    struct timeval tv = {(time_t)step, (suseconds_t)((step - (double)(time_t)step) * 1e6)};
    evtimer_add(w->timer, &tv);
}

static void wait_cmd(struct conn *c, struct exec *e)
{
    char port_s[16] = "", to_s[32] = "";
    _cleanup_free_ char *text = malloc(WAIT_TEXT_MAX + 2);
    if (!text) return conn_respond_error3(c, 503, "unavailable", "out of memory");
    text[0] = '\0';
    int pr = http_query_get(c->req.query, "port", port_s, sizeof(port_s));
    int tl = http_query_get(c->req.query, "log", text, WAIT_TEXT_MAX + 2);
    if (pr < 0) return conn_respond_error3(c, 400, "invalid_request", "?port= must be 1..65535");
    if (tl < 0)
        return conn_respond_error3(c, 400, "invalid_request",
                                   "?log= text: at most 1024 bytes, percent-encoded");
    int has_port = pr == 1 && port_s[0];
    int has_text = tl == 1 && text[0];
    if (has_port == has_text)
        return conn_respond_error3(c, 400, "invalid_request",
                                   "give exactly one of ?port=N (a TCP port to listen) or "
                                   "?log=TEXT (text to appear in the output)");
    if (has_text && strlen(text) > WAIT_TEXT_MAX)
        return conn_respond_error3(c, 400, "invalid_request", "?log= text: at most 1024 bytes");
    double timeout = WAIT_DEFAULT_S;
    int tr = http_query_get(c->req.query, "timeout", to_s, sizeof(to_s));
    if (tr < 0 || (tr == 1 && to_s[0])) {
        char *end;
        timeout = tr < 0 ? -1 : strtod(to_s, &end);
        if (tr < 0 || *end || !(timeout > 0 && timeout <= WAIT_MAX_S))
            return conn_respond_error3(c, 400, "invalid_request",
                                       "?timeout= must be seconds, more than 0 and at most 3600");
    }
    int port = 0;
    if (has_port) {
        char *end;
        long p = strtol(port_s, &end, 10);
        if (*end || p < 1 || p > 65535)
            return conn_respond_error3(c, 400, "invalid_request", "?port= must be 1..65535");
        port = (int)p;
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w) return conn_respond_error3(c, 503, "unavailable", "out of memory");
    w->e = e;
    w->c = c;
    w->port = port;
    w->t0 = now_mono();
    w->deadline = w->t0 + timeout;
    if (has_text) {
        w->tlen = strlen(text);
        w->text = text;
        text = NULL;
    }
    w->next = e->waiters;
    e->waiters = w;
    /* already there? */
    if ((port && port_listening(e->s->sb.init_pid, port)) ||
        (w->text && logring_contains(&e->ring, w->text, w->tlen)))
        return waiter_ready(w);
    if (e->exited) {
        waiter_free(w);
        return exited_error(c, e, port ? "nothing listens on that port" : "the text never appeared");
    }
    w->timer = evtimer_new(g_sbxd->base, waiter_timer, w);
    if (!w->timer) {
        waiter_free(w);
        return conn_respond_error3(c, 503, "unavailable", "out of memory");
    }
    conn_set_owner(c, w, NULL, waiter_gone);
    waiter_timer(-1, 0, w);
}

static int text_seen(struct waiter *w, const uint8_t *p, size_t n)
{
    /* carry (the last tlen-1 bytes before) + the new bytes */
    size_t keep = w->tlen - 1;
    _cleanup_free_ uint8_t *buf = malloc(w->carry_len + n);
    if (!buf) return 0;
    memcpy(buf, w->carry, w->carry_len);
    memcpy(buf + w->carry_len, p, n);
    size_t len = w->carry_len + n;
    if (memmem(buf, len, w->text, w->tlen)) return 1;
    size_t c = len < keep ? len : keep;
    memcpy(w->carry, buf + len - c, c);
    w->carry_len = c;
    return 0;
}

/* ---- hooks from exec.c ---- */

void procapi_on_output(struct exec *e, int stream, const uint8_t *p, size_t n)
{
    for (struct follower *f = e->followers, *next; f; f = next) {
        next = f->next;
        exec_emit_data(f->c, f->frames, stream == 1 ? F_STDOUT : F_STDERR, p, n);
        if (conn_out_pending(f->c) > FOLLOW_BEHIND_MAX) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "type", json_object_new_string("error"));
            json_object_object_add(o, "message",
                                   json_object_new_string("this reader fell more than 16 MiB "
                                                          "behind the process's output; reconnect "
                                                          "to replay what the buffer still holds"));
            follower_end(f, F_ERROR, o);
        }
    }
    for (struct waiter *w = e->waiters, *next; w; w = next) {
        next = w->next;
        if (w->text && text_seen(w, p, n)) waiter_ready(w);
    }
}

void procapi_on_exit(struct exec *e)
{
    while (e->followers) follower_end(e->followers, F_EXIT, exec_exit_json(e));
    while (e->waiters) {
        struct waiter *w = e->waiters;
        struct conn *c = w->c;
        if (w->port > 0 && port_listening(e->s->sb.init_pid, w->port)) {
            waiter_ready(w);
            continue;
        }
        int port = w->port;
        conn_set_owner(c, NULL, NULL, NULL);
        waiter_free(w);
        exited_error(c, e, port ? "nothing listens on that port" : "the text never appeared");
    }
}

void procapi_release(struct exec *e)
{
    while (e->followers) follower_end(e->followers, 0, NULL);
    while (e->waiters) {
        struct conn *c = e->waiters->c;
        conn_set_owner(c, NULL, NULL, NULL);
        waiter_free(e->waiters);
        conn_respond_error3(c, 409, "conflict", "the process was removed");
    }
}

/* ---- endpoints ---- */

static void list(struct conn *c, struct session *s)
{
    /* in the order they were started (exec ids grow) */
    struct json_object *out = json_object_new_array();
    for (uint32_t last = 0;;) {
        struct exec *next = NULL;
        for (struct exec *e = s->execs; e; e = e->next)
            if (e->started && e->id > last && (!next || e->id < next->id)) next = e;
        if (!next) break;
        json_object_array_add(out, exec_proc_json(next));
        last = next->id;
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "processes", out);
    conn_respond(c, 200, o);
}

static void signal_cmd(struct conn *c, struct exec *e)
{
    _cleanup_json_ struct json_object *b = NULL;
    if (conn_body_json(c, &b) < 0) return;
    struct json_object *v;
    sbx_err err;
    static const char *const fields[] = {"signal", NULL};
    if (json_check_fields(b, "", fields, &err) < 0) return conn_respond_error(c, &err);
    int sig = json_object_object_get_ex(b, "signal", &v) ? parse_signal(v) : 0;
    if (!sig)
        return conn_respond_error3(c, 400, "invalid_request",
                                   "field \"signal\" must name a signal (\"TERM\", \"SIGKILL\", "
                                   "\"INT\", ...) or be its number (1..64)");
    if (e->exited) return exited_error(c, e, NULL);
    exec_signal(e, sig);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "pid", json_object_new_int64(e->pid));
    json_object_object_add(o, "signal", json_object_new_int(sig));
    conn_respond(c, 200, o);
}

static void stdin_cmd(struct conn *c, struct exec *e)
{
    char v[8] = "";
    http_query_get(c->req.query, "eof", v, sizeof(v));
    int eof = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    if (e->exited) return exited_error(c, e, "its stdin is closed");
    if (!e->stdin_open || !e->inq)
        return conn_respond_error3(c, 409, "stdin_closed",
                                   "this process's stdin is closed (start it with \"stdin_open\": "
                                   "true or \"tty\": true to write to it later)");
    if (evbuffer_get_length(e->inq) + c->req.body_len > STDIN_BACKLOG_MAX)
        return conn_respond_error3(c, 429, "stdin_backlog",
                                   "more than 8 MiB of input is waiting for the process to read "
                                   "it; retry when it has caught up");
    if (c->req.body_len) evbuffer_add(e->inq, c->req.body, c->req.body_len);
    if (eof) e->in_eof = 1;
    exec_stdin_kick(e);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "written", json_object_new_int64((int64_t)c->req.body_len));
    conn_respond(c, 200, o);
}

static void resize_cmd(struct conn *c, struct exec *e)
{
    _cleanup_json_ struct json_object *b = NULL;
    if (conn_body_json(c, &b) < 0) return;
    sbx_err err;
    static const char *const fields[] = {"cols", "rows", NULL};
    int64_t cols, rows;
    int pc, pr;
    if (json_check_fields(b, "", fields, &err) < 0 ||
        json_get_int(b, "", "cols", 1, 10000, &pc, &cols, &err) < 0 ||
        json_get_int(b, "", "rows", 1, 10000, &pr, &rows, &err) < 0)
        return conn_respond_error(c, &err);
    if (!pc || !pr)
        return conn_respond_error3(c, 400, "invalid_request",
                                   "give both \"cols\" and \"rows\" (1..10000)");
    if (!e->tty)
        return conn_respond_error3(c, 409, "not_a_tty",
                                   "this process has no terminal (start it with \"tty\": true)");
    if (e->exited || e->fd[1] < 0) return exited_error(c, e, NULL);
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (ioctl(e->fd[1], TIOCSWINSZ, &ws) < 0)
        return conn_respond_error3(c, 409, "conflict", "the terminal is gone");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "cols", json_object_new_int((int)cols));
    json_object_object_add(o, "rows", json_object_new_int((int)rows));
    conn_respond(c, 200, o);
}

static void not_allowed(struct conn *c, const char *allowed)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "method %s not allowed here; use %s",
             http_method_str((enum http_method)c->req.method), allowed);
    conn_respond_error3(c, 405, "method_not_allowed", msg);
}

void procapi_dispatch(struct conn *c, struct session *s, const char *pid_s, const char *action)
{
    int m = c->req.method;
    if (!pid_s) {
        if (m != HTTP_GET) return not_allowed(c, "GET");
        return list(c, s);
    }
    char *end;
    errno = 0;
    unsigned long pid = strtoul(pid_s, &end, 10);
    struct exec *e = NULL;
    if (*pid_s >= '0' && *pid_s <= '9' && !*end && !errno && pid > 0 && pid < (1ul << 22))
        e = exec_find_pid(s, (uint32_t)pid);
    if (!e) return notfound(c, s, pid_s);
    if (!action) {
        if (m != HTTP_GET) return not_allowed(c, "GET");
        return conn_respond(c, 200, exec_proc_json(e));
    }
    struct {
        const char *name;
        int method;
        void (*fn)(struct conn *, struct exec *);
    } const acts[] = {
        {"signal", HTTP_POST, signal_cmd}, {"logs", HTTP_GET, logs},
        {"stdin", HTTP_POST, stdin_cmd},   {"resize", HTTP_POST, resize_cmd},
        {"wait", HTTP_GET, wait_cmd},
    };
    for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
        if (strcmp(action, acts[i].name) != 0) continue;
        if (m != acts[i].method) return not_allowed(c, acts[i].method == HTTP_GET ? "GET" : "POST");
        return acts[i].fn(c, e);
    }
    char msg[200];
    snprintf(msg, sizeof(msg),
             "no such process endpoint \"%.40s\" (signal, logs, stdin, resize, wait)", action);
    conn_respond_error3(c, 404, "not_found", msg);
}
