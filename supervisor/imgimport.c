/* imgimport.c - one image import: client body -> sbx-import's stdin; its
 * answer -> the HTTP response. See imgimport.h. */
#include "imgimport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bodypipe.h"
#include "cleanup.h"
#include "helper.h"
#include "imgstore.h"
#include "json.h"
#include "log.h"
#include "sbxd.h"
#include "util.h"

struct importer {
    struct sbxd *d;
    struct conn *c;
    char id[17];
    char name[IMG_NAME_MAX + 1];
    char tmp[4200];
    pid_t pid;
    int pidfd, out_fd, err_fd;
    struct bodypipe body; /* request body -> the importer's stdin */
    struct event *out_ev, *err_ev, *exit_ev;
    struct evbuffer *result, *errline;
    int out_eof, exited, finished;
    double started;
    struct importer *next;
};

static struct importer *g_importers;

static void free_importer(struct importer *im)
{
    for (struct importer **pp = &g_importers; *pp; pp = &(*pp)->next)
        if (*pp == im) {
            *pp = im->next;
            break;
        }
    struct event *evs[] = {im->out_ev, im->err_ev, im->exit_ev};
    for (size_t i = 0; i < 3; i++)
        if (evs[i]) event_free(evs[i]);
    int fds[] = {im->out_fd, im->err_fd};
    for (size_t i = 0; i < 2; i++)
        if (fds[i] >= 0) close(fds[i]);
    bodypipe_free(&im->body);
    helper_kill(&im->pidfd);
    if (im->result) evbuffer_free(im->result);
    if (im->errline) evbuffer_free(im->errline);
    /* whatever the importer left (it removes its own tmp on a clean exit) */
    store_trash(im->d, im->tmp);
    if (im->d->store.importing > 0) im->d->store.importing--;
    if (im->d->store.gc_wanted) store_gc(im->d);
    free(im);
}

static void respond(struct importer *im, int status, struct json_object *body)
{
    if (im->finished) {
        json_object_put(body);
        return;
    }
    im->finished = 1;
    struct conn *c = im->c;
    im->c = NULL;
    im->body.c = NULL;
    if (c) {
        c->on_gone = NULL;
        c->on_body = NULL;
        c->on_body_end = NULL;
        c->stream_owner = NULL;
        conn_respond(c, status, body);
    } else {
        json_object_put(body);
    }
}

static void respond_error(struct importer *im, int status, const char *code, const char *msg)
{
    struct json_object *e = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    respond(im, status, o);
}

/* The importer has exited and its stdout is read: answer. */
static void finish(struct importer *im)
{
    if (!im->exited || !im->out_eof) return;
    struct sbxd *d = im->d;
    struct json_object *out = helper_answer(im->result), *img = NULL;
    int status;
    const char *cd, *m;
    if (out && json_object_object_get_ex(out, "image", &img)) {
        struct json_object *idv, *cfg, *nm;
        const char *id = json_object_object_get_ex(img, "id", &idv) ? json_object_get_string(idv)
                                                                    : "";
        const char *name = im->name;
        if (!*name && json_object_object_get_ex(img, "config", &cfg) &&
            json_object_object_get_ex(cfg, "name", &nm)) {
            /* "ghcr.io/org/app:1" -> "app:1" */
            const char *n = json_object_get_string(nm);
            const char *slash = strrchr(n, '/');
            if (slash) n = slash + 1;
            if (store_valid_name(n) && !store_is_dir_image(d, n)) name = n;
        }
        sbx_err err;
        if (*name && store_set_name(d, name, id, &err) < 0) {
            log_error("image import %s: %s", im->id, err.msg);
            respond_error(im, 500, "internal", err.msg);
        } else {
            sbx_log(SBX_LOG_INFO, "image imported", "import", im->id, "image", id, "name",
                    *name ? name : "-", NULL);
            respond(im, 201, store_image_json(d, img));
        }
    } else if (helper_answer_error(out, &status, &cd, &m)) {
        char full[1200];
        snprintf(full, sizeof(full), "image import: %s", m);
        sbx_log(status >= 500 ? SBX_LOG_ERROR : SBX_LOG_INFO, "image import failed", "import",
                im->id, "error", m, NULL);
        respond_error(im, status, cd, full);
    } else {
        log_error("image import %s: sbx-import ended without an answer", im->id);
        respond_error(im, 500, "internal", "image import: the importer died without an answer");
    }
    if (out) json_object_put(out);
    free_importer(im);
}

static void exit_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct importer *im = arg;
    im->exited = 1;
    event_del(im->exit_ev);
    bodypipe_close(&im->body);
    finish(im);
}

static void out_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct importer *im = arg;
    if (!helper_read_answer(im->result, fd, 4u << 20)) return;
    im->out_eof = 1;
    event_del(im->out_ev);
    finish(im);
}

static void err_cb(evutil_socket_t fd, short ev, void *arg)
{
    struct importer *im = arg;
    int n = evbuffer_read(im->errline, fd, 65536);
    if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
        event_del(im->err_ev);
        return;
    }
    char *line;
    size_t len;
    while ((line = evbuffer_readln(im->errline, &len, EVBUFFER_EOL_LF)) != NULL) {
        sbx_log(SBX_LOG_INFO, "image import", "import", im->id, "detail", line, NULL);
        free(line);
    }
    if (evbuffer_get_length(im->errline) > 65536)
        evbuffer_drain(im->errline, evbuffer_get_length(im->errline));
}

static void on_body(void *owner, const char *p, size_t n)
{
    struct importer *im = owner;
    bodypipe_feed(&im->body, p, n);
}

static void on_body_end(void *owner)
{
    struct importer *im = owner;
    bodypipe_end(&im->body);
}

static void on_gone(void *owner)
{
    struct importer *im = owner;
    im->c = NULL;
    im->body.c = NULL;
    im->finished = 1;
    sbx_log(SBX_LOG_INFO, "image import abandoned by the client", "import", im->id, NULL);
    free_importer(im); /* kills the importer; its tmp dir goes to the trash */
}

__attribute__((format(printf, 4, 5))) static int refuse(struct conn *c, int status,
                                                        const char *code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_req_fail(&c->req, status, code, msg);
}

static void child(int in, int out, int errfd, const char *path, char *const argv[])
{
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0) _exit(121);
    for (int fd = 3; fd < 1024; fd++) close(fd);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(path, argv);
    _exit(127);
}

int image_import_begin(struct conn *c)
{
    struct sbxd *d = g_sbxd;
    char name[IMG_NAME_MAX + 1] = "", format[16] = "auto";
    const char *q = c->req.query;
    int r = q ? http_query_get(q, "name", name, sizeof(name)) : 0;
    if (r < 0 || (r > 0 && !store_valid_name(name)))
        return refuse(c, 400, "invalid_request",
                      "query \"name\": \"%.130s\" is not a valid image name (lowercase letters, "
                      "digits, '.', '_', '-', optionally \":TAG\"; at most 128)",
                      name);
    if (r > 0 && store_is_dir_image(d, name))
        return refuse(c, 409, "name_taken",
                      "image name \"%s\" belongs to a directory image; choose another name", name);
    r = q ? http_query_get(q, "format", format, sizeof(format)) : 0;
    if (r < 0 || (strcmp(format, "auto") && strcmp(format, "rootfs") && strcmp(format, "docker") &&
                  strcmp(format, "oci")))
        return refuse(c, 400, "invalid_request",
                      "query \"format\": \"%.16s\" must be auto, rootfs, docker or oci", format);
    char path[PATH_MAX];
    if (helper_exe_path(d->cfg.import_path, "sbx-import", path, sizeof(path)) < 0 ||
        access(path, X_OK) != 0)
        return refuse(c, 500, "internal", "sbx-import not found at %s (pass --import)", path);

    struct importer *im = calloc(1, sizeof(*im));
    if (!im) return refuse(c, 500, "internal", "%s", "out of memory");
    im->d = d;
    im->c = c;
    im->pidfd = im->out_fd = im->err_fd = -1;
    im->body.fd = -1;
    im->started = now_mono();
    snprintf(im->name, sizeof(im->name), "%s", name);
    sbx_err err;
    if (random_hex(im->id, 8, &err) < 0) {
        free(im);
        return refuse(c, 500, "internal", "%s", err.msg);
    }
    snprintf(im->tmp, sizeof(im->tmp), "%s/tmp/%s", d->store.dir, im->id);
    im->result = evbuffer_new();
    im->errline = evbuffer_new();
    im->next = g_importers;
    g_importers = im;
    d->store.importing++;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (!im->result || !im->errline || pipe2(pin, O_CLOEXEC) < 0 ||
        pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        int e = errno;
        int fds[] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]};
        for (size_t i = 0; i < 6; i++)
            if (fds[i] >= 0) close(fds[i]);
        free_importer(im);
        return refuse(c, 500, "internal", "import pipes: %s", strerror(e));
    }
    char maxb[32], maxe[32];
    snprintf(maxb, sizeof(maxb), "%llu", (unsigned long long)d->cfg.image_max_bytes);
    snprintf(maxe, sizeof(maxe), "%llu", (unsigned long long)d->cfg.image_max_entries);
    char *argv[] = {"sbx-import", "--store", d->store.dir, "--tmp", im->tmp, "--format", format,
                    "--max-bytes", maxb, "--max-entries", maxe, NULL};
    struct clone_args ca = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&im->pidfd,
                            .exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0) child(pin[0], pout[1], perr[1], path, argv);
    int e = errno;
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    im->out_fd = pout[0];
    im->err_fd = perr[0];
    if (bodypipe_init(&im->body, d->base, c, pin[1]) < 0) {
        free_importer(im);
        return refuse(c, 500, "internal", "%s", "out of memory");
    }
    if (pid < 0) {
        free_importer(im);
        return refuse(c, 500, "internal", "start sbx-import: %s", strerror(e));
    }
    im->pid = (pid_t)pid;
    fcntl(im->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(im->err_fd, F_SETFL, O_NONBLOCK);
    im->out_ev = event_new(d->base, im->out_fd, EV_READ | EV_PERSIST, out_cb, im);
    im->err_ev = event_new(d->base, im->err_fd, EV_READ | EV_PERSIST, err_cb, im);
    im->exit_ev = event_new(d->base, im->pidfd, EV_READ, exit_cb, im);
    if (!im->out_ev || !im->err_ev || !im->exit_ev) {
        free_importer(im);
        return refuse(c, 500, "internal", "%s", "out of memory");
    }
    event_add(im->out_ev, NULL);
    event_add(im->err_ev, NULL);
    event_add(im->exit_ev, NULL);
    conn_stream_body(c, im, on_body, on_body_end, on_gone);
    sbx_log(SBX_LOG_INFO, "image import started", "import", im->id, "name", *name ? name : "-",
            "format", format, NULL);
    return 1;
}

void image_import_stop_all(struct sbxd *d)
{
    (void)d;
    while (g_importers) {
        struct importer *im = g_importers;
        if (im->c) {
            im->c->on_gone = NULL;
            im->c->on_body = NULL;
            im->c->on_body_end = NULL;
        }
        free_importer(im);
    }
}
