/* exec.c - run a process in a session and stream it to the client.
 *
 * sbxd owns the pipe ends it reads (stdout, stderr) and writes (stdin); the
 * process gets the other ends through init (SCM_RIGHTS). Output is forwarded
 * as it is read, never accumulated: when the client reads slower than the
 * process writes, sbxd stops reading the pipes and the process blocks
 * (backpressure), so memory stays bounded whatever the output size. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "initproto.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define ARGV_MAX 4096
#define EXEC_ARGS_MAX (256 * 1024)
#define READ_CHUNK (256 * 1024)
#define PIPE_SIZE (1024 * 1024)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { F_START = 1, F_STDOUT = 2, F_STDERR = 3, F_EXIT = 4, F_ERROR = 5 };

struct exec {
    uint32_t id;
    struct session *s;
    struct conn *conn;
    int frames;
    int fd[3]; /* 0: stdin (we write), 1: stdout, 2: stderr (we read) */
    struct event *ev[3];
    uint8_t *in_data;
    size_t in_len, in_off;
    int started, paused;
    uint32_t pid;
    double t0, timeout;
    struct event *timer;
    int timed_out;
    uint64_t oom_before;
    char argv0[256];
    struct exec *next;
};

int session_parse_env(struct json_object *env, const char *where, sbx_err *err);

static uint8_t g_readbuf[READ_CHUNK];

static void exec_free(struct sbxd *d, struct exec *e)
{
    struct session *s = e->s;
    for (struct exec **pp = &s->execs; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    s->nexecs--;
    d->nexecs--;
    for (int i = 0; i < 3; i++) {
        if (e->ev[i]) event_free(e->ev[i]);
        if (e->fd[i] >= 0) close(e->fd[i]);
    }
    if (e->timer) event_free(e->timer);
    if (e->conn) conn_set_owner(e->conn, NULL, NULL, NULL);
    free(e->in_data);
    free(e);
}

static struct exec *find(struct session *s, uint32_t id)
{
    for (struct exec *e = s->execs; e; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

static void send_signal(struct exec *e, int sig)
{
    uint8_t m[sizeof(struct ip_hdr) + 4];
    struct ip_hdr h = {IP_SIGNAL, e->id};
    memcpy(m, &h, sizeof(h));
    uint32_t v = (uint32_t)sig;
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memcpy(m + sizeof(h), le, 4);
    if (e->s->sb.ctl_fd >= 0) ip_send(e->s->sb.ctl_fd, m, sizeof(m), NULL, 0);
}

/* ---- output events ---- */

static void emit_json(struct exec *e, int ftype, struct json_object *o)
{
    if (!e->conn) {
        json_object_put(o);
        return;
    }
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    if (e->frames) {
        uint8_t h[5] = {(uint8_t)ftype, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                        (uint8_t)(len >> 8), (uint8_t)len};
        conn_stream_chunk(e->conn, h, 5, s, len);
    } else {
        conn_stream_chunk(e->conn, s, len, "\n", 1);
    }
    json_object_put(o);
}

static void emit_data(struct exec *e, int ftype, const uint8_t *data, size_t len)
{
    if (!e->conn) return;
    if (e->frames) {
        uint8_t h[5] = {(uint8_t)ftype, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                        (uint8_t)(len >> 8), (uint8_t)len};
        conn_stream_chunk(e->conn, h, 5, data, len);
        return;
    }
    static char line[READ_CHUNK / 3 * 4 + 64];
    const char *pre = ftype == F_STDOUT ? "{\"type\":\"stdout\",\"data\":\""
                                        : "{\"type\":\"stderr\",\"data\":\"";
    size_t n = strlen(pre);
    memcpy(line, pre, n);
    /* base64 in pieces that keep lines bounded */
    n += b64_encode(data, len, line + n);
    memcpy(line + n, "\"}\n", 3);
    conn_stream_chunk(e->conn, line, n + 3, NULL, 0);
}

static void pause_output(struct exec *e)
{
    if (e->paused) return;
    e->paused = 1;
    for (int i = 1; i < 3; i++)
        if (e->ev[i]) event_del(e->ev[i]);
}

static void on_drain(void *arg)
{
    struct exec *e = arg;
    if (!e->paused) return;
    e->paused = 0;
    for (int i = 1; i < 3; i++)
        if (e->ev[i] && e->fd[i] >= 0) event_add(e->ev[i], NULL);
}

/* Read what a pipe has (bounded); returns 1 at EOF. Stops early when the
 * client is behind, unless `drain` (the process has exited: everything it
 * wrote is in the pipe and must be delivered, at most the pipe's size). */
static int pump(struct exec *e, int i, size_t budget, int drain)
{
    size_t got = 0;
    while (e->fd[i] >= 0 && got < budget) {
        size_t want = READ_CHUNK;
        if (!e->frames) want = READ_CHUNK / 4 * 3 / 4; /* keep NDJSON lines ~64 KiB */
        ssize_t n = read(e->fd[i], g_readbuf, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 0; /* EAGAIN */
        if (n == 0) {
            event_del(e->ev[i]);
            close(e->fd[i]);
            e->fd[i] = -1;
            return 1;
        }
        emit_data(e, i == 1 ? F_STDOUT : F_STDERR, g_readbuf, (size_t)n);
        got += (size_t)n;
        if (!drain && e->conn && conn_out_pending(e->conn) >= CONN_OUT_HIGH) {
            pause_output(e);
            return 0;
        }
        if ((size_t)n < want && !drain) return 0;
    }
    return 0;
}

static void out_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct exec *e = arg;
    int i = (fd == e->fd[1]) ? 1 : 2;
    pump(e, i, 4 * READ_CHUNK, 0);
}

static void in_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct exec *e = arg;
    while (e->in_off < e->in_len) {
        ssize_t n = write(fd, e->in_data + e->in_off, e->in_len - e->in_off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) break; /* EPIPE: the process closed stdin */
        e->in_off += (size_t)n;
    }
    event_free(e->ev[0]);
    e->ev[0] = NULL;
    close(e->fd[0]);
    e->fd[0] = -1;
}

static void timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct exec *e = arg;
    e->timed_out = 1;
    send_signal(e, SIGKILL);
}

static void on_gone(void *arg)
{
    struct exec *e = arg;
    e->conn = NULL;
    /* The client is the only reader: stop the process (its process group). */
    if (e->started) send_signal(e, SIGKILL);
    for (int i = 1; i < 3; i++) {
        if (e->ev[i]) event_del(e->ev[i]);
    }
}

/* ---- request ---- */

static int parse_user(const char *u, uint32_t *uid, uint32_t *gid, int *root, const char **home,
                      sbx_err *err)
{
    *root = 0;
    if (!u || strcmp(u, "sandbox") == 0) {
        *uid = *gid = 1000;
        *home = "/home/sandbox";
        return 0;
    }
    if (strcmp(u, "root") == 0) {
        *uid = *gid = 0;
        *root = 1;
        *home = "/root";
        return 0;
    }
    /* only "UID" or "UID:GID" in digits (strtoul alone would take " +1") */
    size_t colons = 0;
    for (const char *p = u; *p; p++) {
        if (*p == ':') colons++;
        else if (*p < '0' || *p > '9') goto bad;
    }
    if (colons > 1 || u[0] == ':' || u[strlen(u) - 1] == ':') goto bad;
    char *end;
    errno = 0;
    unsigned long a = strtoul(u, &end, 10), b;
    if (end == u || errno || a > 65534) goto bad;
    if (*end == ':') {
        const char *g = end + 1;
        b = strtoul(g, &end, 10);
        if (end == g || errno || b > 65534) goto bad;
    } else {
        b = a;
    }
    if (*end) goto bad;
    *uid = (uint32_t)a;
    *gid = (uint32_t)b;
    *root = 0; /* numeric uid 0 runs without capabilities */
    *home = a == 0 ? "/root" : a == 1000 ? "/home/sandbox" : "/";
    return 0;
bad:
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                          "field \"user\": \"%s\" is not a user (use \"sandbox\", \"root\", \"UID\" "
                          "or \"UID:GID\" with ids 0..65534)",
                          u);
}

static void env_set(struct json_object *m, const char *k, const char *v)
{
    json_object_object_add(m, k, json_object_new_string(v));
}

int exec_start(struct sbxd *d, struct session *s, struct conn *c, struct json_object *body,
               sbx_err *err)
{
    static const char *const fields[] = {"argv", "env", "cwd", "stdin", "timeout", "user", NULL};
    if (json_check_fields(body, "", fields, err) < 0) return -1;
    struct json_object *argv_j, *env_j;
    if (json_get_arr(body, "", "argv", 1, &argv_j, err) < 0) return -1;
    size_t argc = json_object_array_length(argv_j);
    if (argc == 0 || argc > ARGV_MAX)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"argv\" must have 1..%d strings (the command and its "
                              "arguments)",
                              ARGV_MAX);
    size_t total = 0;
    for (size_t i = 0; i < argc; i++) {
        struct json_object *a = json_object_array_get_idx(argv_j, i);
        if (!a || !json_object_is_type(a, json_type_string) ||
            strlen(json_object_get_string(a)) != (size_t)json_object_get_string_len(a))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                  "field \"argv[%zu]\" must be a string without NUL bytes", i);
        total += (size_t)json_object_get_string_len(a) + 1;
    }
    if (json_object_get_string_len(json_object_array_get_idx(argv_j, 0)) == 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"argv[0]\" must not be empty");
    if (json_get_obj(body, "", "env", &env_j, err) < 0) return -1;
    if (env_j && session_parse_env(env_j, "env", err) < 0) return -1;
    const char *cwd, *user, *stdin_b64;
    if (json_get_str(body, "", "cwd", 0, &cwd, err) < 0) return -1;
    if (cwd && cwd[0] != '/')
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"cwd\" must be an absolute path (got \"%s\")", cwd);
    if (json_get_str(body, "", "user", 0, &user, err) < 0) return -1;
    if (json_get_str(body, "", "stdin", 0, &stdin_b64, err) < 0) return -1;
    int present;
    double timeout = 0;
    if (json_get_num(body, "", "timeout", 0.001, 7 * 86400.0, &present, &timeout, err) < 0)
        return -1;
    uint32_t uid = 1000, gid = 1000;
    int root;
    const char *home;
    if (parse_user(user, &uid, &gid, &root, &home, err) < 0) return -1;

    /* environment: defaults < session env < exec env */
    _cleanup_json_ struct json_object *env = json_object_new_object();
    env_set(env, "PATH", DEFAULT_PATH);
    env_set(env, "HOME", home);
    env_set(env, "USER", root ? "root" : uid == 1000 ? "sandbox" : "nobody");
    env_set(env, "HOSTNAME", s->id);
    env_set(env, "LANG", "C.UTF-8");
    json_object_object_foreach(s->env, sk, sv) env_set(env, sk, json_object_get_string(sv));
    if (env_j) {
        json_object_object_foreach(env_j, ek, ev) env_set(env, ek, json_object_get_string(ev));
    }
    size_t envc = (size_t)json_object_object_length(env);
    _cleanup_free_ char **envv = calloc(envc + 1, sizeof(char *));
    _cleanup_free_ const char **argv = calloc(argc + 1, sizeof(char *));
    if (!envv || !argv) return sbx_error(err, ENOMEM, "exec");
    size_t k = 0;
    int oom = 0;
    json_object_object_foreach(env, key, val)
    {
        if (asprintf(&envv[k], "%s=%s", key, json_object_get_string(val)) < 0) {
            envv[k] = NULL;
            oom = 1;
            break;
        }
        total += strlen(envv[k++]) + 1;
    }
    for (size_t i = 0; i < argc; i++)
        argv[i] = json_object_get_string(json_object_array_get_idx(argv_j, i));
    if (!cwd) cwd = home;
    total += strlen(cwd) + 1;
    int ret = -1;
    struct exec *e = NULL;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    struct ip_buf msg;
    ip_buf_init(&msg);
    if (oom) {
        sbx_error(err, ENOMEM, "exec env");
        goto out;
    }
    if (total > EXEC_ARGS_MAX) {
        sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                       "argv, env and cwd together are %zu bytes; at most %d allowed", total,
                       EXEC_ARGS_MAX);
        goto out;
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        sbx_error(err, ENOMEM, "exec");
        goto out;
    }
    e->fd[0] = e->fd[1] = e->fd[2] = -1;
    if (stdin_b64) {
        size_t n = strlen(stdin_b64);
        e->in_data = malloc(n / 4 * 3 + 3);
        ssize_t dl = e->in_data ? b64_decode(stdin_b64, n, e->in_data) : -1;
        if (dl < 0) {
            sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                           "field \"stdin\" must be base64 (standard alphabet, padded)");
            goto out;
        }
        e->in_len = (size_t)dl;
    }
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        sbx_error(err, errno, "exec pipes");
        goto out;
    }
    fcntl(pout[0], F_SETPIPE_SZ, PIPE_SIZE);
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    fcntl(pout[0], F_SETFL, O_NONBLOCK);
    fcntl(perr[0], F_SETFL, O_NONBLOCK);

    struct ip_exec ie = {
        .uid = uid, .gid = gid, .flags = root ? IP_EXEC_ROOT_CAPS : 0, .cwd = cwd,
        .argc = (uint32_t)argc, .argv = argv, .envc = (uint32_t)k, .env = (const char **)envv,
    };
    e->id = ++s->next_exec_id;
    if (ip_exec_encode(&msg, e->id, &ie) < 0) {
        sbx_error(err, ENOMEM, "encode exec");
        goto out;
    }
    int child_fds[3] = {pin[0], pout[1], perr[1]};
    int r = ip_send(s->sb.ctl_fd, msg.data, msg.len, child_fds, 3);
    if (r < 0) {
        sbx_error(err, -r, "send exec request to the sandbox's init");
        goto out;
    }
    e->s = s;
    e->conn = c;
    e->frames = strstr(c->req.accept, "application/vnd.sbx.frames") != NULL;
    e->fd[0] = pin[1];
    e->fd[1] = pout[0];
    e->fd[2] = perr[0];
    pin[1] = pout[0] = perr[0] = -1;
    e->timeout = timeout;
    snprintf(e->argv0, sizeof(e->argv0), "%s", argv[0]);
    e->oom_before = cg_oom_kills(&d->cg, &s->cg);
    e->t0 = now_mono();
    e->next = s->execs;
    s->execs = e;
    s->nexecs++;
    d->nexecs++;
    conn_set_owner(c, e, on_drain, on_gone);
    e = NULL;
    ret = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0) close(pin[i]);
        if (pout[i] >= 0) close(pout[i]);
        if (perr[i] >= 0) close(perr[i]);
    }
    if (e) {
        free(e->in_data);
        free(e);
    }
    ip_buf_free(&msg);
    for (size_t i = 0; envv && envv[i]; i++) free(envv[i]);
    return ret;
}

void exec_on_started(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid)
{
    struct exec *e = find(s, id);
    if (!e) return;
    e->started = 1;
    e->pid = pid;
    if (!e->conn) { /* the client left while it was starting */
        send_signal(e, SIGKILL);
        return;
    }
    conn_stream_begin(e->conn, e->frames ? "application/vnd.sbx.frames" : "application/x-ndjson");
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("start"));
    json_object_object_add(o, "pid", json_object_new_int((int)pid));
    emit_json(e, F_START, o);
    if (!e->conn) return;
    for (int i = 1; i < 3; i++) {
        e->ev[i] = event_new(d->base, e->fd[i], EV_READ | EV_PERSIST, out_cb, e);
        if (e->ev[i]) event_add(e->ev[i], NULL);
    }
    if (e->in_len > 0) {
        e->ev[0] = event_new(d->base, e->fd[0], EV_WRITE | EV_PERSIST, in_cb, e);
        if (e->ev[0]) event_add(e->ev[0], NULL);
    } else {
        close(e->fd[0]);
        e->fd[0] = -1;
    }
    if (e->timeout > 0) {
        e->timer = evtimer_new(d->base, timeout_cb, e);
        struct timeval tv = {(time_t)e->timeout,
                             (suseconds_t)((e->timeout - (double)(time_t)e->timeout) * 1e6)};
        if (e->timer) evtimer_add(e->timer, &tv);
    }
}

void exec_on_failed(struct sbxd *d, struct session *s, uint32_t id, int errnum, const char *stage)
{
    struct exec *e = find(s, id);
    if (!e) return;
    struct conn *c = e->conn;
    e->conn = NULL;
    if (c) {
        char msg[512];
        conn_set_owner(c, NULL, NULL, NULL);
        if (errnum == ENOENT && strcmp(stage, "execve") == 0) {
            snprintf(msg, sizeof(msg),
                     "executable file not found in the sandbox: \"%.200s\" (searched PATH; "
                     "give a full path or fix PATH)",
                     e->argv0);
            conn_respond_error3(c, 400, "executable_not_found", msg);
        } else {
            snprintf(msg, sizeof(msg), "the process could not start: %s: %s", stage,
                     strerror(errnum));
            conn_respond_error3(c, 400, "exec_failed", msg);
        }
    }
    exec_free(d, e);
}

static void finish(struct sbxd *d, struct exec *e, int status, int have_status, const char *why)
{
    /* What the process wrote before it ended is in the pipes: deliver it. */
    for (int i = 1; i < 3; i++)
        if (e->fd[i] >= 0) pump(e, i, 2 * PIPE_SIZE, 1);
    if (e->conn) {
        struct json_object *o = json_object_new_object();
        int sig = have_status ? (WIFSIGNALED(status) ? WTERMSIG(status) : 0) : SIGKILL;
        json_object_object_add(o, "type", json_object_new_string("exit"));
        json_object_object_add(o, "code", have_status && WIFEXITED(status)
                                              ? json_object_new_int(WEXITSTATUS(status))
                                              : NULL);
        json_object_object_add(o, "signal", sig ? json_object_new_int(sig) : NULL);
        int oom = sig == SIGKILL && cg_oom_kills(&d->cg, &e->s->cg) > e->oom_before;
        json_object_object_add(o, "oom_killed", json_object_new_boolean(oom));
        json_object_object_add(o, "timed_out", json_object_new_boolean(e->timed_out));
        json_object_object_add(o, "duration", json_object_new_double(now_mono() - e->t0));
        if (why) json_object_object_add(o, "reason", json_object_new_string(why));
        emit_json(e, F_EXIT, o);
        if (e->conn) {
            struct conn *c = e->conn;
            conn_set_owner(c, NULL, NULL, NULL);
            e->conn = NULL;
            conn_stream_end(c);
        }
    }
    exec_free(d, e);
}

void exec_on_exited(struct sbxd *d, struct session *s, uint32_t id, int status)
{
    struct exec *e = find(s, id);
    if (e) finish(d, e, status, 1, NULL);
}

void exec_abort_all(struct sbxd *d, struct session *s, const char *why)
{
    while (s->execs) {
        struct exec *e = s->execs;
        if (!e->started) {
            struct conn *c = e->conn;
            e->conn = NULL;
            if (c) {
                conn_set_owner(c, NULL, NULL, NULL);
                char msg[256];
                snprintf(msg, sizeof(msg), "session %s: %s before the process started", s->id, why);
                conn_respond_error3(c, 409, "conflict", msg);
            }
            exec_free(d, e);
        } else {
            finish(d, e, 0, 0, why);
        }
    }
}
