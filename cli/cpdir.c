/* cpdir.c - `sbx cp` of directories, through the session archive API
 * (/v1/sessions/{id}/archive, docs/api.md "Archives").
 *
 * Owns: where a directory copy lands (cp -r's rules: into DST/NAME when DST is
 * an existing directory, else DST; SRC/. means the contents), the upload (a
 * tar.zst of the local tree made on the fly by cli/packer.c's child, sent
 * chunked: no temporary file) and the download: GET a tar.zst and extract it
 * in a child process with archive/extract.h, all or nothing, under the same
 * policy sbxd's helper applies to uploads, except that a symlink may point
 * anywhere (it is a copy of the session's tree) while nothing is ever created
 * through one. The archive comes from the sandbox: it is untrusted.
 *
 * Must never: follow a symlink of the archive, create a device, FIFO, socket
 * or setuid file, write outside the destination, leave a partial tree there
 * (a failed or interrupted download removes its staging directory, and the
 * destination directory if this copy created it), or leave a child behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "cp.h"
#include "extract.h"
#include "packer.h"

#define PATH_ESC_MAX (3 * 4096 + 1)
#define RESULT_MAX 2048

/* "/v1/sessions/ID/archive?path=P&format=F[&user=U]"; malloc'd. */
static char *archive_req(sbx_client *cl, const char *id, const char *path, const char *format,
                         const struct cp_opts *o, sbx_err *err)
{
    char eid[256], euser[128];
    _cleanup_free_ char *epath = malloc(PATH_ESC_MAX);
    if (!epath) {
        sbx_error(err, ENOMEM, "build request");
        return NULL;
    }
    if (sbx_client_escape(cl, id, eid, sizeof(eid), err) < 0 ||
        sbx_client_escape(cl, path, epath, PATH_ESC_MAX, err) < 0 ||
        (o->user && sbx_client_escape(cl, o->user, euser, sizeof(euser), err) < 0))
        return NULL;
    char *out = NULL;
    if (asprintf(&out, "/v1/sessions/%s/archive?path=%s&format=%s%s%s", eid, epath, format,
                 o->user ? "&user=" : "", o->user ? euser : "") < 0) {
        sbx_error(err, ENOMEM, "build request");
        return NULL;
    }
    return out;
}

static int fail(const sbx_err *err)
{
    print_err(err);
    return EXIT_FAIL;
}

static void print_done(const struct cp_opts *o, unsigned long long bytes, long long files,
                       long long dirs, long long links, const char *id, const char *dst)
{
    if (o->quiet) return;
    char size[32];
    human_size((long long)bytes, size, sizeof(size));
    fprintf(stderr, "copied %s (%lld file%s, %lld director%s, %lld symlink%s) to %s%s%s\n", size,
            files, files == 1 ? "" : "s", dirs, dirs == 1 ? "y" : "ies", links,
            links == 1 ? "" : "s", id ? id : "", id ? ":" : "", dst);
}

/* "dir/." (or "dir/./"): the contents of dir, not dir itself. */
static bool contents_only(const char *path)
{
    _cleanup_free_ char *name = cp_last_name(path);
    return name && strcmp(name, ".") == 0;
}

/* ---- upload -------------------------------------------------------------------------- */

struct up_src {
    struct packer pk;
    const char *label;
};

static ssize_t up_read(void *ud, char *buf, size_t cap, sbx_err *err)
{
    struct up_src *s = ud;
    return packer_read(&s->pk, s->label, buf, cap, err);
}

static long long num(json_object *o, const char *key)
{
    json_object *v;
    return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
               ? json_object_get_int64(v)
               : 0;
}

int cp_dir_upload(sbx_client *cl, const char *local, const char *id, const char *rpath,
                  const struct cp_opts *o)
{
    sbx_err err;
    if (o->mode)
        return usage_error("cp", "--mode applies to files; a directory's files keep their own "
                                 "modes");
    /* where: cp -r's rules */
    _cleanup_free_ char *name = cp_last_name(local);
    _cleanup_free_ char *target = NULL;
    if (!name) return fail(&(sbx_err){.msg = "out of memory"});
    bool into = !contents_only(local) && cp_ends_with_slash(rpath);
    if (!contents_only(local) && !into) {
        _cleanup_json_ json_object *rst = NULL;
        if (cp_remote_stat(cl, id, rpath, o, &rst, &err) == 0) {
            if (!cp_remote_is_dir(cl, id, rpath, rst, o)) {
                sbx_error(&err, 0, "%s:%s exists and is not a directory", id, rpath);
                return fail(&err);
            }
            into = true;
        } else if (!(err.code && strcmp(err.code, "not_found") == 0)) {
            return fail(&err);
        }
    }
    target = into ? cp_join(rpath, name) : strdup(rpath);
    _cleanup_free_ char *req = target ? archive_req(cl, id, target, "tar.zst", o, &err) : NULL;
    if (!target) sbx_error(&err, ENOMEM, "upload");
    if (!req) return fail(&err);

    struct up_src src = {.pk = PACKER_INIT, .label = local};
    if (packer_start(&src.pk, local, ARC_TAR_ZST, &err) < 0) return fail(&err);
    struct cp_progress prog = {0};
    progress_init(&prog.line, contents_only(local) ? local : name, -1);
    bool show = !o->quiet && isatty(STDERR_FILENO);
    struct sbx_upload up = {.content_type = "application/zstd",
                            .size = -1,
                            .read = up_read,
                            .ud = &src,
                            .progress = show ? cp_progress_cb : NULL,
                            .progress_ud = &prog};
    _cleanup_json_ json_object *resp = NULL;
    int r = sbx_client_upload(cl, "PUT", req, &up, &resp, &err);
    if (show) progress_end(&prog.line);
    packer_stop(&src.pk);
    if (r < 0) return fail(&err);
    print_done(o, (unsigned long long)num(resp, "bytes"), num(resp, "files"), num(resp, "dirs"),
               num(resp, "symlinks"), id, target);
    return EXIT_OK;
}

/* ---- download ------------------------------------------------------------------------ */

/* The extracting child: fds 3 the archive, 4 the commit pipe, 5 its result,
 * 6 the destination directory. */
enum { X_IN = 3, X_CTL = 4, X_RES = 5, X_DIR = 6 };

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int x_commit_ok(void *ud)
{
    (void)ud;
    char c = 0;
    ssize_t n;
    do n = read(X_CTL, &c, 1);
    while (n < 0 && errno == EINTR && !g_stop);
    return n == 1 && c == 'C' ? 0 : -1;
}

static void extractor(const char *target, bool created)
{
    /* Interrupted (Ctrl-C reaches the whole group): stop at the next read and clean up. */
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sbx_err err = {0};
    struct arc_stats st = {0};
    struct arc_extract x = {
        .dirfd = X_DIR,
        .label = target,
        .infd = X_IN,
        .reader = arc_reader_new(ARC_TAR_ZST, &err),
        .opts = {.format = ARC_TAR_ZST,
                 .max_bytes = UINT64_MAX,
                 .max_entries = UINT64_MAX,
                 .contain_symlinks = 0,
                 .stop = &g_stop},
        .commit_ok = x_commit_ok,
    };
    int r = x.reader ? arc_extract(&x, &st, &err) : -1;
    char out[RESULT_MAX];
    if (r == 0)
        snprintf(out, sizeof(out), "OK %llu %llu %llu %llu %llu\n",
                 (unsigned long long)st.bytes, (unsigned long long)st.files,
                 (unsigned long long)st.dirs, (unsigned long long)(st.symlinks),
                 (unsigned long long)st.setid_cleared);
    else
        snprintf(out, sizeof(out), "%s\n", err.msg);
    if (r < 0 && created) rmdir(target);
    ssize_t w = write(X_RES, out, strlen(out));
    (void)w;
    _exit(r == 0 ? 0 : 1);
}

struct child {
    pid_t pid;
    int in, ctl, res; /* our ends */
};

static int start_extractor(struct child *ch, int dfd, const char *target, bool created,
                           sbx_err *err)
{
    int in[2] = {-1, -1}, ctl[2] = {-1, -1}, res[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ctl, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0) {
        int e = errno;
        int fds[] = {in[0], in[1], ctl[0], ctl[1], res[0], res[1]};
        for (size_t i = 0; i < SBX_ARRAY_SIZE(fds); i++)
            if (fds[i] >= 0) close(fds[i]);
        return sbx_error(err, e, "pipe");
    }
    (void)fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int want[4] = {in[0], ctl[0], res[1], dfd}, tmp[4];
        for (int i = 0; i < 4; i++)
            if ((tmp[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 10)) < 0) _exit(120);
        for (int i = 0; i < 4; i++)
            if (dup2(tmp[i], X_IN + i) < 0) _exit(120);
        syscall(SYS_close_range, X_DIR + 1, ~0U, 0);
        extractor(target, created);
    }
    int e = errno;
    close(in[0]);
    close(ctl[0]);
    close(res[1]);
    if (pid < 0) {
        close(in[1]);
        close(ctl[1]);
        close(res[0]);
        return sbx_error(err, e, "fork");
    }
    *ch = (struct child){.pid = pid, .in = in[1], .ctl = ctl[1], .res = res[0]};
    return 0;
}

/* Tell the child whether the download was whole, wait for it, and read what it
 * says: 0 with *line "OK ...", or -1 with its message in err. */
static int finish_extractor(struct child *ch, bool whole, char *line, size_t cap, sbx_err *err)
{
    if (whole && write(ch->ctl, "C", 1) != 1) whole = false;
    close(ch->in);
    close(ch->ctl);
    size_t n = 0;
    for (;;) {
        ssize_t k = read(ch->res, line + n, cap - 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        if (n == cap - 1) break;
    }
    line[n] = '\0';
    if (n && line[n - 1] == '\n') line[n - 1] = '\0';
    close(ch->res);
    int st;
    while (waitpid(ch->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && strncmp(line, "OK ", 3) == 0) return 0;
    if (n && strncmp(line, "OK ", 3) != 0) return sbx_error(err, 0, "%s", line);
    return sbx_error(err, 0, "the extraction ended without a result (status %d)", st);
}

/* ID:DIR -> a tar on stdout. */
static int download_to_stdout(sbx_client *cl, const char *id, const char *rpath,
                              const struct cp_opts *o)
{
    sbx_err err;
    _cleanup_free_ char *req = archive_req(cl, id, rpath, "tar", o, &err);
    if (!req) return fail(&err);
    if (sbx_client_download(cl, req, STDOUT_FILENO, NULL, NULL, NULL, &err) < 0) {
        if (err.code && strcmp(err.code, SBX_CODE_OUTPUT) == 0 && err.errnum == EPIPE)
            return 128 + SIGPIPE;
        return fail(&err);
    }
    return EXIT_OK;
}

int cp_dir_download(sbx_client *cl, const char *id, const char *rpath, const char *local,
                    const struct cp_opts *o)
{
    if (strcmp(local, "-") == 0) return download_to_stdout(cl, id, rpath, o);
    sbx_err err;
    _cleanup_free_ char *name = cp_last_name(rpath);
    if (!name) return fail(&(sbx_err){.msg = "out of memory"});
    struct stat st;
    bool exists = stat(local, &st) == 0;
    if (!exists && errno != ENOENT) {
        sbx_error(&err, errno, "%s", local);
        return fail(&err);
    }
    if (exists && !S_ISDIR(st.st_mode)) {
        sbx_error(&err, 0, "%s exists and is not a directory", local);
        return fail(&err);
    }
    bool into = exists && !contents_only(rpath) && *name; /* ("" for ID:/) */
    _cleanup_free_ char *target = into ? cp_join(local, name) : strdup(local);
    _cleanup_free_ char *req = target ? archive_req(cl, id, rpath, "tar.zst", o, &err) : NULL;
    if (!target) sbx_error(&err, ENOMEM, "download");
    if (!req) return fail(&err);

    bool created = mkdir(target, 0777) == 0;
    if (!created && errno != EEXIST) {
        sbx_error(&err, errno, "create %s", target);
        return fail(&err);
    }
    _cleanup_close_ int dfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        sbx_error(&err, errno, "%s", target);
        if (created) rmdir(target);
        return fail(&err);
    }
    struct child ch = {.pid = -1, .in = -1, .ctl = -1, .res = -1};
    if (start_extractor(&ch, dfd, target, created, &err) < 0) {
        if (created) rmdir(target);
        return fail(&err);
    }
    struct cp_progress prog = {.download = true};
    progress_init(&prog.line, *name ? name : "/", -1);
    bool show = !o->quiet && isatty(STDERR_FILENO);
    unsigned long long got = 0;
    sbx_err derr;
    int r = sbx_client_download(cl, req, ch.in, show ? cp_progress_cb : NULL, &prog, &got, &derr);
    if (show) progress_end(&prog.line);
    char line[RESULT_MAX];
    int x = finish_extractor(&ch, r == 0, line, sizeof(line), &err);
    if (r < 0) {
        /* the extraction refusing the archive is why writing to it failed */
        if (derr.code && strcmp(derr.code, SBX_CODE_OUTPUT) == 0 && x < 0)
            return fail(&err);
        return fail(&derr);
    }
    if (x < 0) return fail(&err);
    unsigned long long bytes = 0, files = 0, dirs = 0, links = 0, setid = 0;
    sscanf(line, "OK %llu %llu %llu %llu %llu", &bytes, &files, &dirs, &links, &setid);
    print_done(o, bytes, (long long)files, (long long)dirs, (long long)links, NULL, target);
    return EXIT_OK;
}
