/* exec.c - run a process in a session: its pipes (or pty), its output, its
 * exit, and taking it over after an sbxd restart.
 *
 * sbxd owns the pipe ends it reads (stdout, stderr) and writes (stdin); the
 * process gets the other ends through init (SCM_RIGHTS), which also keeps a
 * copy of ours so the process outlives sbxd (initproto.h). A foreground
 * exec's output is forwarded as it is read, never accumulated: when its
 * client reads slower than the process writes, sbxd stops reading the pipes
 * and the process blocks (backpressure). A background process's output goes
 * to its ring buffer (bounded; oldest dropped) and to whoever follows its
 * logs; it is never paused. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "initproto.h"
#include "json.h"
#include "log.h"
#include "proc.h"
#include "sbxd.h"
#include "shimctl.h"
#include "util.h"

#define ARGV_MAX 4096
#define EXEC_ARGS_MAX (256 * 1024)
#define READ_CHUNK (256 * 1024)
#define PIPE_SIZE (1024 * 1024)
#define LOG_BUFFER_MAX (64ull << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int session_parse_env(struct json_object *env, const char *where, sbx_err *err);

static uint8_t g_readbuf[READ_CHUNK];

static void close_io(struct exec *e)
{
    for (int i = 0; i < 3; i++) {
        if (e->ev[i]) event_free(e->ev[i]);
        e->ev[i] = NULL;
        if (e->fd[i] >= 0) close(e->fd[i]);
        e->fd[i] = -1;
    }
    if (e->timer) event_free(e->timer);
    e->timer = NULL;
    if (e->inq) evbuffer_free(e->inq);
    e->inq = NULL;
}

static void exec_free(struct sbxd *d, struct exec *e)
{
    struct session *s = e->s;
    for (struct exec **pp = &s->execs; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    if (!e->exited) {
        s->nexecs--;
        d->nexecs--;
    }
    procapi_release(e);
    close_io(e);
    if (e->conn) conn_set_owner(e->conn, NULL, NULL, NULL);
    if (e->meta) json_object_put(e->meta);
    logring_free(&e->ring);
    free(e);
}

static struct exec *find(struct session *s, uint32_t id)
{
    for (struct exec *e = s->execs; e; e = e->next)
        if (e->id == id) return e;
    return NULL;
}

struct exec *exec_find_pid(struct session *s, uint32_t pid)
{
    /* newest first: a pid the sandbox reused names the live process */
    for (struct exec *e = s->execs; e; e = e->next)
        if (e->started && e->pid == pid) return e;
    return NULL;
}

static void send_ctl(struct exec *e, uint32_t type, int with_u32, uint32_t v)
{
    if (e->s->sb.ctl_fd >= 0) ip_send_simple(e->s->sb.ctl_fd, type, e->id, with_u32, v, NULL);
}

void exec_signal(struct exec *e, int sig)
{
    if (!e->exited) send_ctl(e, IP_SIGNAL, 1, (uint32_t)sig);
}

/* ---- output events ---- */

void exec_emit_json(struct conn *c, int frames, int ftype, struct json_object *o)
{
    if (!c) {
        json_object_put(o);
        return;
    }
    size_t len;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    if (frames) {
        uint8_t h[5] = {(uint8_t)ftype, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                        (uint8_t)(len >> 8), (uint8_t)len};
        conn_stream_chunk(c, h, 5, s, len);
    } else {
        conn_stream_chunk(c, s, len, "\n", 1);
    }
    json_object_put(o);
}

void exec_emit_data(struct conn *c, int frames, int ftype, const uint8_t *data, size_t len)
{
    if (!c) return;
    if (frames) {
        uint8_t h[5] = {(uint8_t)ftype, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                        (uint8_t)(len >> 8), (uint8_t)len};
        conn_stream_chunk(c, h, 5, data, len);
        return;
    }
    static char line[READ_CHUNK / 3 * 4 + 64];
    const char *pre = ftype == F_STDOUT ? "{\"type\":\"stdout\",\"data\":\""
                                        : "{\"type\":\"stderr\",\"data\":\"";
    /* base64 in pieces that keep lines bounded */
    while (len > 0) {
        size_t take = len > READ_CHUNK / 4 * 3 / 4 ? READ_CHUNK / 4 * 3 / 4 : len;
        size_t n = strlen(pre);
        memcpy(line, pre, n);
        n += b64_encode(data, take, line + n);
        memcpy(line + n, "\"}\n", 3);
        conn_stream_chunk(c, line, n + 3, NULL, 0);
        data += take;
        len -= take;
    }
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

static void deliver(struct exec *e, int stream, const uint8_t *p, size_t n)
{
    if (e->conn) exec_emit_data(e->conn, e->frames, stream == 1 ? F_STDOUT : F_STDERR, p, n);
    if (e->buffering) logring_append(&e->ring, stream, p, n);
    procapi_on_output(e, stream, p, n);
}

static void close_out(struct exec *e, int i)
{
    if (e->ev[i]) event_free(e->ev[i]);
    e->ev[i] = NULL;
    if (e->fd[i] >= 0) close(e->fd[i]);
    e->fd[i] = -1;
}

/* Read what a pipe has (bounded); returns 1 at EOF. Stops early when the
 * client is behind, unless `drain` (the process has exited: everything it
 * wrote is in the pipe and must be delivered, at most the pipe's size). */
static int pump(struct exec *e, int i, size_t budget, int drain)
{
    size_t got = 0;
    while (e->fd[i] >= 0 && got < budget) {
        size_t want = READ_CHUNK;
        if (!e->frames || !e->conn) want = READ_CHUNK / 4 * 3 / 4; /* NDJSON lines ~64 KiB */
        ssize_t n = read(e->fd[i], g_readbuf, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) { /* EOF; EIO from a pty master whose terminal closed */
            close_out(e, i);
            return 1;
        }
        deliver(e, i, g_readbuf, (size_t)n);
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

/* ---- stdin ---- */

static void stdin_close(struct exec *e)
{
    if (e->ev[0]) event_free(e->ev[0]);
    e->ev[0] = NULL;
    if (e->tty) { /* the terminal stays; end of input is the EOF character */
        if (e->fd[0] >= 0 && write(e->fd[0], "\x04", 1) < 0) {
        }
    } else {
        if (e->fd[0] >= 0) close(e->fd[0]);
        e->fd[0] = -1;
        if (e->stdin_kept) send_ctl(e, IP_STDIN_CLOSE, 0, 0);
        e->stdin_kept = 0;
    }
    e->stdin_open = 0;
}

static void in_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)ev;
    struct exec *e = arg;
    while (e->inq && evbuffer_get_length(e->inq) > 0) {
        int n = evbuffer_write(e->inq, fd);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { /* EPIPE: the process closed stdin */
            evbuffer_drain(e->inq, evbuffer_get_length(e->inq));
            e->in_eof = 1;
            break;
        }
    }
    if (e->in_eof) {
        stdin_close(e);
        return;
    }
    if (e->ev[0]) event_del(e->ev[0]);
}

void exec_stdin_kick(struct exec *e)
{
    if (e->fd[0] < 0 || !e->started || e->exited) return;
    if (!e->ev[0]) e->ev[0] = event_new(g_sbxd->base, e->fd[0], EV_WRITE | EV_PERSIST, in_cb, e);
    if (e->ev[0]) event_add(e->ev[0], NULL);
}

static void timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct exec *e = arg;
    e->timed_out = 1;
    exec_signal(e, SIGKILL);
}

static void on_gone(void *arg)
{
    struct exec *e = arg;
    e->conn = NULL;
    /* The client is the only reader of a foreground exec: stop the process
     * (its process group). */
    if (e->started) exec_signal(e, SIGKILL);
    if (!e->buffering && !e->followers)
        for (int i = 1; i < 3; i++)
            if (e->ev[i]) event_del(e->ev[i]);
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

/* The record init keeps for us (IP_META_MAX): argv shortened if huge. */
static struct json_object *make_meta(struct json_object *argv_j, const char *cwd, const char *user,
                                     int tty, int bg, int stdin_open, int frames, size_t log_buffer)
{
    struct json_object *m = json_object_new_object();
    struct json_object *a = json_object_new_array();
    size_t used = 0;
    for (size_t i = 0; i < json_object_array_length(argv_j); i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(argv_j, i));
        size_t n = strlen(s);
        if (used + n > 8192) {
            json_object_array_add(a, json_object_new_string("..."));
            break;
        }
        used += n;
        json_object_array_add(a, json_object_new_string(s));
    }
    json_object_object_add(m, "argv", a);
    json_object_object_add(m, "cwd", json_object_new_string_len(cwd, (int)strnlen(cwd, 2048)));
    json_object_object_add(m, "user", json_object_new_string(user ? user : "sandbox"));
    json_object_object_add(m, "tty", json_object_new_boolean(tty));
    json_object_object_add(m, "bg", json_object_new_boolean(bg));
    json_object_object_add(m, "stdin_open", json_object_new_boolean(stdin_open));
    json_object_object_add(m, "frames", json_object_new_boolean(frames));
    json_object_object_add(m, "log_buffer", json_object_new_int64((int64_t)log_buffer));
    json_object_object_add(m, "started_at", json_object_new_int64((int64_t)time(NULL)));
    return m;
}

static int parse_tty_size(struct json_object *body, int *cols, int *rows, sbx_err *err)
{
    struct json_object *sz;
    *cols = 80;
    *rows = 24;
    if (json_get_obj(body, "", "tty_size", &sz, err) < 0) return -1;
    if (!sz) return 0;
    static const char *const f[] = {"cols", "rows", NULL};
    if (json_check_fields(sz, "tty_size", f, err) < 0) return -1;
    int64_t c = 80, r = 24;
    int present;
    if (json_get_int(sz, "tty_size", "cols", 1, 10000, &present, &c, err) < 0 ||
        json_get_int(sz, "tty_size", "rows", 1, 10000, &present, &r, err) < 0)
        return -1;
    *cols = (int)c;
    *rows = (int)r;
    return 0;
}

int exec_start(struct sbxd *d, struct session *s, struct conn *c, struct json_object *body,
               sbx_err *err)
{
    static const char *const fields[] = {"argv",       "env",      "cwd",        "stdin",
                                         "timeout",    "user",     "background", "tty",
                                         "tty_size",   "stdin_open", "log_buffer", NULL};
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
    int bg = 0, tty = 0, stdin_open = 0, cols, rows;
    if (json_get_bool(body, "", "background", &bg, err) < 0 ||
        json_get_bool(body, "", "tty", &tty, err) < 0 ||
        json_get_bool(body, "", "stdin_open", &stdin_open, err) < 0)
        return -1;
    if (parse_tty_size(body, &cols, &rows, err) < 0) return -1;
    int64_t logbuf = (int64_t)d->cfg.log_buffer;
    if (json_get_int(body, "", "log_buffer", 1024, (int64_t)LOG_BUFFER_MAX, &present, &logbuf, err) <
        0)
        return -1;
    if (!present) logbuf = (int64_t)d->cfg.log_buffer;
    if (bg && timeout > 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"timeout\" is for foreground execs; stop a background "
                              "process with POST …/processes/{pid}/signal");
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
    if (tty) env_set(env, "TERM", "xterm-256color");
    if (d->cfg.network && shimctl_ca_pem(d)) { /* the node CA (docs/secrets.md) */
        static const char *const bundle_vars[] = {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                                                  "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"};
        for (size_t i = 0; i < SBX_ARRAY_SIZE(bundle_vars); i++)
            env_set(env, bundle_vars[i], "/etc/ssl/certs/ca-certificates.crt");
        env_set(env, "NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/sbx-node-ca.pem");
    }
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
    e->tty = tty;
    e->background = bg;
    e->stdin_open = tty || stdin_open;
    e->inq = evbuffer_new();
    if (!e->inq) {
        sbx_error(err, ENOMEM, "exec");
        goto out;
    }
    if (stdin_b64) {
        size_t n = strlen(stdin_b64);
        _cleanup_free_ uint8_t *raw = malloc(n / 4 * 3 + 3);
        ssize_t dl = raw ? b64_decode(stdin_b64, n, raw) : -1;
        if (dl < 0) {
            sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                           "field \"stdin\" must be base64 (standard alphabet, padded)");
            goto out;
        }
        evbuffer_add(e->inq, raw, (size_t)dl);
    }
    e->in_eof = !e->stdin_open;
    e->buffering = bg;
    if (bg && logring_init(&e->ring, (size_t)logbuf) < 0) {
        sbx_error(err, ENOMEM, "log buffer");
        goto out;
    }
    e->frames = strstr(c->req.accept, "application/vnd.sbx.frames") != NULL;
    e->meta = make_meta(argv_j, cwd, user, tty, bg, e->stdin_open, e->frames, (size_t)logbuf);

    int fds[IP_MAX_FDS], nfds = 0;
    uint32_t keep = 0;
    if (!tty) {
        if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
            sbx_error(err, errno, "exec pipes");
            goto out;
        }
        /* A big pipe is for streaming throughput. Its slot ring is kernel
         * memory held while the pipe lives (~16 KiB for 1 MiB, ~1 KiB for the
         * default 64 KiB, written to or not): a background process, whose
         * output sbxd drains into its log ring, keeps the default. */
        if (!bg) fcntl(pout[0], F_SETPIPE_SZ, PIPE_SIZE);
        fcntl(pin[1], F_SETFL, O_NONBLOCK);
        fcntl(pout[0], F_SETFL, O_NONBLOCK);
        fcntl(perr[0], F_SETFL, O_NONBLOCK);
        fds[nfds++] = pin[0];
        fds[nfds++] = pout[1];
        fds[nfds++] = perr[1];
        /* init keeps copies so the process outlives sbxd (not stdin unless it
         * stays open: a copy would hold its EOF back) */
        if (stdin_open) {
            keep |= IP_KEEP_STDIN;
            fds[nfds++] = pin[1];
        }
        keep |= IP_KEEP_STDOUT | IP_KEEP_STDERR;
        fds[nfds++] = pout[0];
        fds[nfds++] = perr[0];
    }
    if (!bg) {
        keep |= IP_KEEP_CONN;
        fds[nfds++] = c->fd;
    }
    const char *meta_s = json_object_to_json_string_ext(e->meta, JSON_C_TO_STRING_PLAIN);
    struct ip_exec ie = {
        .uid = uid, .gid = gid, .flags = (root ? IP_EXEC_ROOT_CAPS : 0) | (tty ? IP_EXEC_TTY : 0),
        .cwd = cwd, .argc = (uint32_t)argc, .argv = argv, .envc = (uint32_t)k,
        .env = (const char **)envv, .keep = keep, .cols = (uint32_t)cols, .rows = (uint32_t)rows,
        .meta = meta_s,
    };
    e->id = ++s->next_exec_id;
    if (ip_exec_encode(&msg, e->id, &ie) < 0) {
        sbx_error(err, ENOMEM, "encode exec");
        goto out;
    }
    int r = ip_send(s->sb.ctl_fd, msg.data, msg.len, fds, nfds);
    if (r < 0) {
        sbx_error(err, -r, "send exec request to the sandbox's init");
        goto out;
    }
    e->s = s;
    e->conn = c;
    e->stdin_kept = stdin_open && !tty;
    e->fd[0] = pin[1];
    e->fd[1] = pout[0];
    e->fd[2] = perr[0];
    pin[1] = pout[0] = perr[0] = -1;
    e->timeout = timeout;
    snprintf(e->argv0, sizeof(e->argv0), "%s", argv[0]);
    e->oom_before = cg_oom_kills(&d->cg, &s->cg);
    e->t0 = now_mono();
    e->started_at = time(NULL);
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
        if (e->inq) evbuffer_free(e->inq);
        if (e->meta) json_object_put(e->meta);
        logring_free(&e->ring);
        free(e);
    }
    ip_buf_free(&msg);
    for (size_t i = 0; envv && envv[i]; i++) free(envv[i]);
    return ret;
}

static void watch_output(struct exec *e)
{
    for (int i = 1; i < 3; i++) {
        if (e->fd[i] < 0) continue;
        e->ev[i] = event_new(g_sbxd->base, e->fd[i], EV_READ | EV_PERSIST, out_cb, e);
        if (e->ev[i]) event_add(e->ev[i], NULL);
    }
}

static void prune_exited(struct sbxd *d, struct session *s)
{
    unsigned n = 0;
    struct exec *oldest = NULL;
    for (struct exec *x = s->execs; x; x = x->next)
        if (x->exited) {
            n++;
            oldest = x; /* the list is newest first */
        }
    if (n > EXITED_KEEP && oldest) exec_free(d, oldest);
}

void exec_on_started(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid, int pty_fd)
{
    struct exec *e = find(s, id);
    if (!e || e->started) {
        if (pty_fd >= 0) close(pty_fd);
        return;
    }
    e->started = 1;
    e->pid = pid;
    if (e->tty) {
        if (pty_fd < 0) { /* cannot happen with our init; never hang the client */
            exec_signal(e, SIGKILL);
        } else {
            fcntl(pty_fd, F_SETFL, O_NONBLOCK);
            e->fd[1] = pty_fd;
            e->fd[0] = fcntl(pty_fd, F_DUPFD_CLOEXEC, 3);
        }
    } else if (pty_fd >= 0) {
        close(pty_fd);
    }
    if (!e->conn) { /* the client left while it was starting */
        exec_signal(e, SIGKILL);
        return;
    }
    if (e->background) {
        struct conn *c = e->conn;
        e->conn = NULL;
        conn_set_owner(c, NULL, NULL, NULL);
        conn_respond(c, 201, exec_proc_json(e));
        sbx_log(SBX_LOG_INFO, "background process started", "session", s->id, "argv0", e->argv0,
                NULL);
    } else {
        conn_stream_begin(e->conn,
                          e->frames ? "application/vnd.sbx.frames" : "application/x-ndjson");
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("start"));
        json_object_object_add(o, "pid", json_object_new_int((int)pid));
        exec_emit_json(e->conn, e->frames, F_START, o);
    }
    watch_output(e);
    if (evbuffer_get_length(e->inq) > 0 || e->in_eof) exec_stdin_kick(e);
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

/* The exit status of an ended process: code_key (exit code or null), signal
 * (number or null; an exit sbxd never saw is SIGKILL's), oom_killed. */
static void add_exit_status(struct json_object *o, const struct exec *e, const char *code_key)
{
    int sig = e->have_status ? (WIFSIGNALED(e->status) ? WTERMSIG(e->status) : 0) : SIGKILL;
    json_object_object_add(o, code_key, e->have_status && WIFEXITED(e->status)
                                            ? json_object_new_int(WEXITSTATUS(e->status))
                                            : NULL);
    json_object_object_add(o, "signal", sig ? json_object_new_int(sig) : NULL);
    json_object_object_add(o, "oom_killed", json_object_new_boolean(e->oom));
}

struct json_object *exec_exit_json(struct exec *e)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("exit"));
    add_exit_status(o, e, "code");
    json_object_object_add(o, "timed_out", json_object_new_boolean(e->timed_out));
    json_object_object_add(o, "duration", json_object_new_double(e->duration));
    return o;
}

struct json_object *exec_proc_json(struct exec *e)
{
    struct json_object *o = json_object_new_object(), *v;
    json_object_object_add(o, "pid", json_object_new_int64(e->pid));
    json_object_object_add(o, "argv", json_object_object_get_ex(e->meta, "argv", &v)
                                          ? json_object_get(v)
                                          : json_object_new_array());
    json_object_object_add(o, "cwd", json_object_object_get_ex(e->meta, "cwd", &v)
                                         ? json_object_get(v)
                                         : NULL);
    json_object_object_add(o, "user", json_object_object_get_ex(e->meta, "user", &v)
                                          ? json_object_get(v)
                                          : NULL);
    json_object_object_add(o, "tty", json_object_new_boolean(e->tty));
    json_object_object_add(o, "background", json_object_new_boolean(e->background));
    json_object_object_add(o, "state", json_object_new_string(e->exited ? "exited" : "running"));
    json_object_object_add(o, "started_at", json_time_utc(e->started_at));
    json_object_object_add(o, "exited_at", e->exited ? json_time_utc(e->exited_at) : NULL);
    if (e->exited) {
        add_exit_status(o, e, "exit_code");
    } else {
        json_object_object_add(o, "exit_code", NULL);
        json_object_object_add(o, "signal", NULL);
        json_object_object_add(o, "oom_killed", json_object_new_boolean(0));
    }
    json_object_object_add(o, "stdin_open", json_object_new_boolean(e->stdin_open));
    json_object_object_add(o, "adopted", json_object_new_boolean(e->adopted));
    json_object_object_add(o, "log_bytes", json_object_new_int64((int64_t)logring_bytes(&e->ring)));
    json_object_object_add(o, "log_dropped", json_object_new_int64((int64_t)e->ring.dropped));
    return o;
}

static void finish(struct sbxd *d, struct exec *e, int status, int have_status, const char *why)
{
    if (e->exited) return;
    /* What the process wrote before it ended is in the pipes: deliver it. */
    for (int i = 1; i < 3; i++)
        if (e->fd[i] >= 0) pump(e, i, 2 * PIPE_SIZE, 1);
    e->exited = 1;
    e->have_status = have_status;
    e->status = status;
    e->exited_at = time(NULL);
    e->duration = e->t0 > 0 ? now_mono() - e->t0 : 0;
    int sig = have_status ? (WIFSIGNALED(status) ? WTERMSIG(status) : 0) : SIGKILL;
    e->oom = sig == SIGKILL && cg_oom_kills(&d->cg, &e->s->cg) > e->oom_before;
    e->stdin_open = 0;
    e->s->nexecs--;
    d->nexecs--;
    close_io(e);
    if (e->conn) {
        struct json_object *o = exec_exit_json(e);
        if (why) json_object_object_add(o, "reason", json_object_new_string(why));
        exec_emit_json(e->conn, e->frames, F_EXIT, o);
        struct conn *c = e->conn;
        conn_set_owner(c, NULL, NULL, NULL);
        e->conn = NULL;
        conn_stream_end(c);
    }
    procapi_on_exit(e);
    prune_exited(d, e->s);
}

void exec_on_exited(struct sbxd *d, struct session *s, uint32_t id, int status)
{
    struct exec *e = find(s, id);
    if (e) finish(d, e, status, 1, NULL);
}

void exec_abort_all(struct sbxd *d, struct session *s, const char *why)
{
    for (struct exec *e = s->execs, *next; e; e = next) {
        next = e->next;
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

void exec_free_all(struct sbxd *d, struct session *s)
{
    while (s->execs) exec_free(d, s->execs);
}

/* ---- sbxd restarts ---- */

static struct json_object *restart_event(struct exec *e, int leaving)
{
    struct json_object *o = json_object_new_object();
    char msg[512];
    if (leaving)
        snprintf(msg, sizeof(msg),
                 "sbxd is restarting; process %u keeps running in session %s: follow it with "
                 "GET /v1/sessions/%s/processes/%u/logs?follow=1",
                 e->pid, e->s->id, e->s->id, e->pid);
    else
        snprintf(msg, sizeof(msg),
                 "sbxd restarted while this stream was open; process %u %s in session %s: see "
                 "GET /v1/sessions/%s/processes/%u",
                 e->pid, e->exited ? "has exited" : "keeps running", e->s->id, e->s->id, e->pid);
    json_object_object_add(o, "type", json_object_new_string("supervisor_restarted"));
    json_object_object_add(o, "pid", json_object_new_int64(e->pid));
    json_object_object_add(o, "message", json_object_new_string(msg));
    return o;
}

/* The connection of a stream the previous sbxd had open: one last event,
 * the end of the chunked body, and close. Bounded wait: a client that does
 * not read loses the event, never sbxd's time. */
static void end_orphan_stream(struct exec *e, int fd, int frames)
{
    struct json_object *o = restart_event(e, 0);
    size_t len;
    const char *js = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
    size_t cap = len + 64;
    _cleanup_free_ char *buf = malloc(cap);
    if (buf) {
        size_t n = 0;
        size_t plen = len + (frames ? 5 : 1);
        n += (size_t)snprintf(buf, cap, "%zx\r\n", plen);
        if (frames) {
            uint8_t h[5] = {F_EVENT, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                            (uint8_t)(len >> 8), (uint8_t)len};
            memcpy(buf + n, h, 5);
            n += 5;
        }
        memcpy(buf + n, js, len);
        n += len;
        if (!frames) buf[n++] = '\n';
        memcpy(buf + n, "\r\n0\r\n\r\n", 7);
        n += 7;
        size_t off = 0;
        double until = now_mono() + 0.5;
        while (off < n && now_mono() < until) {
            ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) break;
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, 50);
        }
    }
    json_object_put(o);
    shutdown(fd, SHUT_RDWR);
    close(fd);
}

void exec_adopt(struct sbxd *d, struct session *s, uint32_t id, uint32_t pid, uint32_t flags,
                uint32_t keep, int exited, int status, const char *meta, int *fds, int nfds)
{
    int kept[5] = {-1, -1, -1, -1, -1};
    for (int i = 0, k = 0; i < 5; i++)
        if ((keep & (1u << i)) && k < nfds) kept[i] = fds[k++];
    struct exec *e = calloc(1, sizeof(*e));
    if (!e) goto fail;
    e->id = id;
    e->s = s;
    e->pid = pid;
    e->fd[0] = e->fd[1] = e->fd[2] = -1;
    e->started = 1;
    e->adopted = 1;
    e->tty = (flags & IP_EXEC_TTY) != 0;
    e->meta = meta && *meta ? json_tokener_parse(meta) : NULL;
    if (!e->meta || !json_object_is_type(e->meta, json_type_object)) {
        if (e->meta) json_object_put(e->meta);
        e->meta = json_object_new_object();
    }
    struct json_object *v;
    e->background = json_object_object_get_ex(e->meta, "bg", &v) && json_object_get_boolean(v);
    int frames = json_object_object_get_ex(e->meta, "frames", &v) && json_object_get_boolean(v);
    int64_t logbuf = json_object_object_get_ex(e->meta, "log_buffer", &v) ? json_object_get_int64(v)
                                                                          : 0;
    if (logbuf < 1024 || (uint64_t)logbuf > LOG_BUFFER_MAX) logbuf = (int64_t)d->cfg.log_buffer;
    e->started_at = json_object_object_get_ex(e->meta, "started_at", &v)
                        ? (time_t)json_object_get_int64(v)
                        : time(NULL);
    const char *a0 = "?";
    struct json_object *argv;
    if (json_object_object_get_ex(e->meta, "argv", &argv) && json_object_array_length(argv) > 0)
        a0 = json_object_get_string(json_object_array_get_idx(argv, 0));
    snprintf(e->argv0, sizeof(e->argv0), "%s", a0 ? a0 : "?");
    e->inq = evbuffer_new();
    e->buffering = 1; /* nobody streams it any more: keep its output for …/logs */
    if (!e->inq || logring_init(&e->ring, (size_t)logbuf) < 0) goto fail;
    e->t0 = now_mono();
    e->oom_before = cg_oom_kills(&d->cg, &s->cg);
    if (e->tty && kept[4] >= 0) {
        fcntl(kept[4], F_SETFL, O_NONBLOCK);
        e->fd[1] = kept[4];
        e->fd[0] = fcntl(kept[4], F_DUPFD_CLOEXEC, 3);
        kept[4] = -1;
        e->stdin_open = !exited;
    } else {
        e->fd[0] = kept[0];
        e->fd[1] = kept[1];
        e->fd[2] = kept[2];
        kept[0] = kept[1] = kept[2] = -1;
        for (int i = 0; i < 3; i++)
            if (e->fd[i] >= 0) fcntl(e->fd[i], F_SETFL, O_NONBLOCK);
        e->stdin_open = e->stdin_kept = e->fd[0] >= 0;
    }
    e->next = s->execs;
    s->execs = e;
    s->nexecs++;
    d->nexecs++;
    if (id > s->next_exec_id) s->next_exec_id = id;
    if (kept[3] >= 0) {
        end_orphan_stream(e, kept[3], frames);
        kept[3] = -1;
    }
    if (exited) {
        finish(d, e, status, 1, NULL); /* delivers what its pipes still hold into the ring */
    } else {
        watch_output(e);
    }
    log_info("session %s: took over process %u (%s)%s", s->id, pid, e->argv0,
             exited ? ", which exited while sbxd was away" : "");
    return;
fail:
    for (int i = 0; i < 5; i++)
        if (kept[i] >= 0) close(kept[i]);
    if (e) {
        if (e->inq) evbuffer_free(e->inq);
        if (e->meta) json_object_put(e->meta);
        logring_free(&e->ring);
        free(e);
    }
    log_error("session %s: cannot take over process %u: out of memory", s->id, pid);
}

void exec_detach_all(struct sbxd *d, struct session *s)
{
    (void)d;
    for (struct exec *e = s->execs; e; e = e->next) {
        if (!e->conn || !e->started) continue;
        struct conn *c = e->conn;
        e->conn = NULL;
        conn_set_owner(c, NULL, NULL, NULL);
        exec_emit_json(c, e->frames, F_EVENT, restart_event(e, 1));
        conn_stream_end(c);
        conn_finish_now(c); /* written out, then shut down: init's copy of the fd is spent too */
    }
}

int exec_session_busy(struct session *s)
{
    for (struct exec *e = s->execs; e; e = e->next)
        if (e->conn || e->followers || e->waiters) return 1;
    return 0;
}
