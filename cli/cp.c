/* cp.c - `sbx cp`: copy files and directories between the host and a session
 * (the /v1/sessions/{id}/files API of docs/api.md; directories go through
 * cli/cpdir.c and the archive API).
 *
 * Owns: cp's syntax, help and output; telling the session operand (ID:PATH)
 * from the local one (a path, or - for stdin/stdout); where a file copy lands
 * (a destination directory, on either side, gets the source's file name);
 * the download's temporary file next to its destination, renamed into place
 * only once complete and removed on failure or on SIGINT/SIGTERM/SIGHUP; the
 * progress line on a terminal (cli/image.c's, through cli.h).
 *
 * Must never: hold a file in memory (an upload goes from the file through
 * curl's send buffer, a download from curl's receive buffer to write(2)),
 * leave a partial file at a download's destination, talk HTTP itself
 * (cli/client.c), or check what sbxd checks (sandbox paths, users, the range
 * of a mode). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "client.h"
#include "cp.h"
#include "error.h"

#define PATH_ESC_MAX (3 * 4096 + 1) /* a sandbox path is at most 4095 bytes; escaped, 3x */
#define PROGRESS_MIN (1024 * 1024)  /* smaller transfers show no progress line */
#define TMP_NAME_MAX 200            /* of the file name in a download's temp name */
#define CODE_USAGE "usage"

enum { OPT_MODE = 256 };

const char help_cp[] =
    "Usage: sbx cp [OPTION...] SRC DST\n"
    "\n"
    "Copy a file or a directory between the host and a session. One of SRC and\n"
    "DST is ID:PATH, PATH (absolute) in session ID; the other is a local path, or -\n"
    "for stdin (as SRC) or stdout (as DST). Everything is streamed, whatever its\n"
    "size.\n"
    "\n"
    "  sbx cp ./app.js ID:/workspace/app.js     upload a file\n"
    "  sbx cp ./app.js ID:/workspace/           ... into a directory\n"
    "  make-data | sbx cp - ID:/workspace/data  upload stdin\n"
    "  sbx cp ID:/workspace/out.log .           download into a directory\n"
    "  sbx cp ID:/workspace/out.log - | less    download to stdout\n"
    "  sbx cp ./proj ID:/workspace/             upload a directory (-> /workspace/proj)\n"
    "  sbx cp ID:/workspace/proj ./backup       download one (-> ./backup, or\n"
    "                                           ./backup/proj if ./backup exists)\n"
    "  sbx cp ID:/workspace/proj - > proj.tar   a directory as a tar on stdout\n"
    "\n"
    "Files: a DST that is a directory (in the session: or ends with '/') gets the\n"
    "SRC's file name. An existing file is replaced whole: a download is written to\n"
    "a temporary file next to DST and renamed into place when complete (never a\n"
    "partial DST), and sbxd does the same for an upload. An uploaded file gets\n"
    "the permission bits of the local file, or --mode (from stdin: a new file\n"
    "gets 0644, a replaced one keeps its mode).\n"
    "\n"
    "Directories, as cp -r does: into DST/NAME when DST is an existing directory,\n"
    "else to DST itself (SRC/. copies the contents into DST). What arrives merges\n"
    "into what is there (files replaced, directories filled), all or nothing: it\n"
    "is unpacked next to its destination and moved into place once complete and\n"
    "accepted. Symlinks are copied as symlinks, never followed; sockets, FIFOs and\n"
    "devices are skipped. A download refuses an archive that would write outside\n"
    "DST, through a symlink, or make a device; setuid/setgid bits are cleared\n"
    "both ways, and owners are not kept (the files belong to whoever receives\n"
    "them: in a session, its user).\n"
    "\n"
    "Options:\n"
    "  -p, --parents        Create missing parent directories of an upload's PATH\n"
    "                       (a directory's always are)\n"
    "      --mode MODE      Permission bits of an uploaded file, in octal (0755)\n"
    "  -u, --user USER      Read or write the session's files as sandbox (default)\n"
    "                       or root\n"
    "  -q, --quiet          Print no summary line\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Unless -q, the copy ends with a line on stderr (\"copied 12.3 KiB to ID:PATH\";\n"
    "not when writing to stdout), and when stderr is a terminal a transfer over\n"
    "1 MiB shows its progress there. A name with a ':' and no '/' before it is\n"
    "ID:PATH: write a local one as ./NAME.\n";

/* ---- operands ------------------------------------------------------------------ */

/* ID:PATH: a ':' with no '/' before it (./a:b and /x/a:b are local). */
static bool is_remote(const char *arg)
{
    const char *colon = strchr(arg, ':');
    return colon && colon != arg && !memchr(arg, '/', (size_t)(colon - arg));
}

char *cp_last_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/')
        i--;
    if (n == 1 && path[0] == '/') i = n;
    return strndup(path + i, n - i);
}

bool cp_ends_with_slash(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '/';
}

char *cp_join(const char *dir, const char *name)
{
    char *out = NULL;
    if (asprintf(&out, "%s%s%s", dir, cp_ends_with_slash(dir) ? "" : "/", name) < 0) return NULL;
    return out;
}

/* ---- requests ------------------------------------------------------------------- */

/* "/v1/sessions/ID/files[/sub]?path=P[&mode=M][&parents=1][&user=U]"; malloc'd. */
static char *files_path(sbx_client *cl, const char *id, const char *sub, const char *path,
                        const struct cp_opts *o, bool upload, sbx_err *err)
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
    if (asprintf(&out, "/v1/sessions/%s/files%s%s?path=%s%s%s%s%s%s", eid, sub ? "/" : "",
                 sub ? sub : "", epath, upload && o->mode ? "&mode=" : "",
                 upload && o->mode ? o->mode : "", upload && o->parents ? "&parents=1" : "",
                 o->user ? "&user=" : "", o->user ? euser : "") < 0) {
        sbx_error(err, ENOMEM, "build request");
        return NULL;
    }
    return out;
}

int cp_remote_stat(sbx_client *cl, const char *id, const char *path, const struct cp_opts *o,
                   json_object **st, sbx_err *err)
{
    _cleanup_free_ char *req = files_path(cl, id, "stat", path, o, false, err);
    if (!req) return -1;
    if (sbx_client_call(cl, "GET", req, NULL, st, err) < 0) return -1;
    if (!*st || !json_object_is_type(*st, json_type_object))
        return sbx_error(err, 0, "stat %s:%s: sbxd's answer is not a file's stat", id, path);
    return 0;
}

bool cp_is_type(json_object *st, const char *type)
{
    return strcmp(str_field(st, "type"), type) == 0;
}

bool cp_remote_is_dir(sbx_client *cl, const char *id, const char *path, json_object *st,
                      const struct cp_opts *o)
{
    if (cp_is_type(st, "dir")) return true;
    if (!cp_is_type(st, "symlink")) return false;
    _cleanup_free_ char *dot = cp_join(path, ".");
    _cleanup_json_ json_object *dst = NULL;
    sbx_err err;
    return dot && cp_remote_stat(cl, id, dot, o, &dst, &err) == 0 && cp_is_type(dst, "dir");
}

/* ---- progress -------------------------------------------------------------------- */

void cp_progress_cb(void *ud, unsigned long long n, bool all)
{
    struct cp_progress *p = ud;
    if (!p->line.drawn && p->line.total <= PROGRESS_MIN && n <= PROGRESS_MIN) return;
    progress_cb(&p->line, n, all && !p->download);
}

static void print_copied(bool quiet, unsigned long long n, const char *id, const char *dst)
{
    if (quiet) return;
    char size[32];
    human_size((long long)n, size, sizeof(size));
    fprintf(stderr, "copied %s to %s%s%s\n", size, id ? id : "", id ? ":" : "", dst);
}

static int out_of_memory(void)
{
    fprintf(stderr, "sbx: out of memory\n");
    return EXIT_FAIL;
}

/* ---- upload ------------------------------------------------------------------------ */

struct local_src {
    const char *label; /* as typed, or "<stdin>" */
    int fd;
    bool own; /* fd is ours to close */
    long long size;
};

static void local_src_close(struct local_src *s)
{
    if (s->own && s->fd >= 0) close(s->fd);
    s->fd = -1;
}

static ssize_t local_read(void *ud, char *buf, size_t cap, sbx_err *err)
{
    struct local_src *s = ud;
    for (;;) {
        ssize_t n = read(s->fd, buf, cap);
        if (n >= 0) return n;
        if (errno != EINTR) return sbx_error(err, errno, "read %s", s->label);
    }
}

static int cp_upload(sbx_client *cl, const char *local, const char *id, const char *rpath,
                     const struct cp_opts *o)
{
    static const char cmd[] = "cp";
    sbx_err err;
    bool is_stdin = strcmp(local, "-") == 0;
    __attribute__((cleanup(local_src_close))) struct local_src src = {
        .label = local, .fd = -1, .size = -1};
    char mode[16] = "";
    struct stat st;
    if (is_stdin) {
        if (isatty(STDIN_FILENO))
            return usage_error(cmd, "stdin is a terminal: pipe the data in (... | sbx cp - "
                                    "ID:PATH) or name a FILE");
        src.label = "<stdin>";
        src.fd = STDIN_FILENO;
        if (fstat(src.fd, &st) == 0 && S_ISREG(st.st_mode)) { /* < file: its length is known */
            off_t pos = lseek(src.fd, 0, SEEK_CUR);
            if (pos >= 0 && pos <= st.st_size) src.size = st.st_size - pos;
        }
    } else {
        src.fd = open(local, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        src.own = true;
        if (src.fd < 0 || fstat(src.fd, &st) < 0) {
            sbx_error(&err, errno, "%s", local);
            print_err(&err);
            return EXIT_FAIL;
        }
        if (S_ISDIR(st.st_mode)) return cp_dir_upload(cl, local, id, rpath, o);
        if (S_ISREG(st.st_mode)) {
            src.size = st.st_size;
            (void)posix_fadvise(src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        }
        snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 0777));
    }
    struct cp_opts ro = *o;
    if (!ro.mode && *mode) ro.mode = mode;

    /* A directory destination gets the source's name. */
    _cleanup_free_ char *name = is_stdin ? NULL : cp_last_name(local);
    _cleanup_free_ char *target = NULL;
    if (!is_stdin && !name) return out_of_memory();
    bool into_dir = cp_ends_with_slash(rpath);
    if (!into_dir) {
        _cleanup_json_ json_object *rst = NULL;
        if (cp_remote_stat(cl, id, rpath, o, &rst, &err) == 0)
            into_dir = cp_is_type(rst, "dir");
        else if (!(err.code && strcmp(err.code, "not_found") == 0)) {
            print_err(&err);
            return EXIT_FAIL;
        }
    }
    if (into_dir) {
        if (is_stdin)
            return usage_error(cmd, "%s:%s is a directory: name the file to write stdin to", id,
                               rpath);
        if (!(target = cp_join(rpath, name))) return out_of_memory();
        rpath = target;
    }

    _cleanup_free_ char *req = files_path(cl, id, NULL, rpath, &ro, true, &err);
    if (!req) {
        print_err(&err);
        return EXIT_FAIL;
    }
    struct cp_progress prog = {0};
    progress_init(&prog.line, is_stdin ? src.label : name, src.size);
    bool show = !o->quiet && isatty(STDERR_FILENO);
    struct sbx_upload up = {.size = src.size,
                            .read = local_read,
                            .ud = &src,
                            .progress = show ? cp_progress_cb : NULL,
                            .progress_ud = &prog};
    _cleanup_json_ json_object *resp = NULL;
    int r = sbx_client_upload(cl, "PUT", req, &up, &resp, &err);
    if (show) progress_end(&prog.line);
    if (r < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    json_object *j;
    unsigned long long n =
        resp && json_object_object_get_ex(resp, "size", &j) && json_object_is_type(j, json_type_int)
            ? (unsigned long long)json_object_get_int64(j)
            : prog.line.sent;
    const char *final = resp && json_object_object_get_ex(resp, "path", &j) &&
                                json_object_is_type(j, json_type_string)
                            ? json_object_get_string(j)
                            : rpath;
    print_copied(o->quiet, n, id, final);
    return EXIT_OK;
}

/* ---- download ---------------------------------------------------------------------- */

/* The temp file being written, removed by a signal handler as well. */
static char g_tmp[PATH_MAX + 64];

static void on_cp_signal(int sig)
{
    int saved = errno;
    if (g_tmp[0]) unlink(g_tmp);
    errno = saved;
    raise(sig); /* SA_RESETHAND: the default action, once this handler returns */
}

static const int cp_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void set_cp_signals(bool on)
{
    struct sigaction sa = {.sa_handler = on ? on_cp_signal : SIG_DFL,
                           .sa_flags = on ? SA_RESETHAND : 0};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SBX_ARRAY_SIZE(cp_signals); i++)
        sigaction(cp_signals[i], &sa, NULL);
}

/* Where a download goes. */
struct local_dst {
    char *label; /* the destination as shown: as typed, or DIR/NAME */
    char *path;  /* what is renamed onto (a symlink's target), or NULL: written in place */
    int fd;
    bool own; /* fd is ours to close */
    bool existed;
    struct stat st; /* of the existing file */
};

static void local_dst_close(struct local_dst *d)
{
    if (d->own && d->fd >= 0) close(d->fd);
    d->fd = -1;
    if (g_tmp[0]) {
        unlink(g_tmp);
        g_tmp[0] = '\0';
    }
    free(d->label);
    free(d->path);
    d->label = d->path = NULL;
}

/* Open what a download writes: stdout; an existing FIFO or device in place;
 * else a temp file next to the destination (arg, or arg/NAME when arg is a
 * directory). Returns 0, or -1 with err. */
static int local_dst_open(struct local_dst *d, const char *arg, const char *name, sbx_err *err)
{
    if (strcmp(arg, "-") == 0) {
        d->fd = STDOUT_FILENO;
        d->label = strdup("<stdout>");
        return d->label ? 0 : sbx_error(err, ENOMEM, "download");
    }
    struct stat st;
    int se = stat(arg, &st) == 0 ? 0 : errno;
    bool is_dir = se == 0 && S_ISDIR(st.st_mode);
    if (!is_dir && cp_ends_with_slash(arg)) return sbx_error(err, se ? se : ENOTDIR, "%s", arg);
    d->label = is_dir ? cp_join(arg, name) : strdup(arg);
    if (!d->label) return sbx_error(err, ENOMEM, "download");
    if (stat(d->label, &st) == 0) {
        d->existed = true;
        d->st = st;
        if (S_ISDIR(st.st_mode)) return sbx_error(err, EISDIR, "%s", d->label);
        if (!S_ISREG(st.st_mode)) { /* a FIFO, /dev/null: write to it, replace nothing */
            d->fd = open(d->label, O_WRONLY | O_CLOEXEC | O_NOCTTY);
            if (d->fd < 0) return sbx_error(err, errno, "%s", d->label);
            d->own = true;
            return 0;
        }
    } else if (errno != ENOENT) {
        return sbx_error(err, errno, "%s", d->label);
    }
    /* Rename onto a symlink's target, not the link. */
    d->path = d->existed ? realpath(d->label, NULL) : strdup(d->label);
    if (!d->path) return sbx_error(err, errno ? errno : ENOMEM, "%s", d->label);
    _cleanup_free_ char *dir = strdup(d->path);
    _cleanup_free_ char *base = cp_last_name(d->path);
    if (!dir || !base) return sbx_error(err, ENOMEM, "download");
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, strlen(dir) + 1, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int n = snprintf(g_tmp, sizeof(g_tmp), "%s/.%.*s.sbx-XXXXXX", dir, TMP_NAME_MAX, base);
    if (n < 0 || (size_t)n >= sizeof(g_tmp)) {
        g_tmp[0] = '\0';
        return sbx_error(err, ENAMETOOLONG, "%s", d->label);
    }
    set_cp_signals(true); /* before the file exists: a signal removes it */
    d->fd = mkostemp(g_tmp, O_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;
        g_tmp[0] = '\0';
        return sbx_error(err, e, "%s: create a temporary file in %s", d->label, dir);
    }
    d->own = true;
    return 0;
}

/* The temp file is complete: give it its mode (an existing file's, else the
 * remote one's less the umask) and rename it onto the destination. */
static int local_dst_commit(struct local_dst *d, json_object *rst, sbx_err *err)
{
    if (!d->path) return 0; /* written in place */
    mode_t mode;
    if (d->existed) {
        mode = d->st.st_mode & 07777;
        (void)!fchown(d->fd, d->st.st_uid, d->st.st_gid); /* as root: keep the owner */
    } else {
        mode_t mask = umask(0);
        umask(mask);
        char *end;
        const char *m = str_field(rst, "mode");
        unsigned long rm = strtoul(m, &end, 8);
        mode = (*m && !*end ? (mode_t)rm & 0777 : 0666) & ~mask;
    }
    if (fchmod(d->fd, mode) < 0) return sbx_error(err, errno, "%s: chmod", d->label);
    if (close(d->fd) < 0) {
        d->fd = -1;
        return sbx_error(err, errno, "write %s", d->label);
    }
    d->fd = -1;
    if (rename(g_tmp, d->path) < 0) return sbx_error(err, errno, "%s", d->label);
    g_tmp[0] = '\0';
    return 0;
}

static int cp_download(sbx_client *cl, const char *id, const char *rpath, const char *local,
                       const struct cp_opts *o)
{
    sbx_err err;
    _cleanup_json_ json_object *rst = NULL;
    if (cp_remote_stat(cl, id, rpath, o, &rst, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (cp_remote_is_dir(cl, id, rpath, rst, o)) return cp_dir_download(cl, id, rpath, local, o);
    json_object *j;
    long long size = cp_is_type(rst, "file") && json_object_object_get_ex(rst, "size", &j) &&
                             json_object_is_type(j, json_type_int)
                         ? json_object_get_int64(j)
                         : -1;
    _cleanup_free_ char *name = cp_last_name(rpath);
    _cleanup_free_ char *req = files_path(cl, id, NULL, rpath, o, false, &err);
    if (!name || !req) {
        if (!name) sbx_error(&err, ENOMEM, "download");
        print_err(&err);
        return EXIT_FAIL;
    }

    int status = EXIT_OK;
    __attribute__((cleanup(local_dst_close))) struct local_dst dst = {.fd = -1};
    if (local_dst_open(&dst, local, name, &err) < 0) {
        print_err(&err);
        status = EXIT_FAIL;
        goto out;
    }
    bool to_stdout = strcmp(local, "-") == 0;
    struct cp_progress prog = {.download = true};
    progress_init(&prog.line, name, size);
    bool show = !o->quiet && isatty(STDERR_FILENO) && !(to_stdout && isatty(STDOUT_FILENO));
    unsigned long long got = 0;
    int r = sbx_client_download(cl, req, dst.fd, show ? cp_progress_cb : NULL, &prog, &got, &err);
    if (show) progress_end(&prog.line);
    if (r < 0) {
        status = EXIT_FAIL;
        if (err.code && strcmp(err.code, SBX_CODE_OUTPUT) == 0) {
            if (to_stdout && err.errnum == EPIPE) { /* the reader is gone: as exec does */
                status = 128 + SIGPIPE;
                goto out;
            }
            sbx_error(&err, err.errnum, "write %s", dst.label);
        }
        print_err(&err);
        goto out;
    }
    if (local_dst_commit(&dst, rst, &err) < 0) {
        print_err(&err);
        status = EXIT_FAIL;
        goto out;
    }
    if (!to_stdout) print_copied(o->quiet, got, NULL, dst.label);
out:
    local_dst_close(&dst);
    set_cp_signals(false);
    return status;
}

/* ---- cp ------------------------------------------------------------------------------ */

int cmd_cp(int argc, char **argv)
{
    static const char cmd[] = "cp";
    static const struct option longopts[] = {
        {"parents", no_argument, NULL, 'p'},    {"mode", required_argument, NULL, OPT_MODE},
        {"user", required_argument, NULL, 'u'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},       {0}};
    struct cp_opts o = {0};
    int c;
    optind = 0;
    opterr = 0;
    /* Options may follow the operands (sbx cp a ID:/b -p); "-" is an operand. */
    while ((c = getopt_long(argc, argv, ":pu:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_cp, stdout);
            return EXIT_OK;
        case 'p':
            o.parents = true;
            break;
        case OPT_MODE:
            if (!*optarg || strspn(optarg, "01234567") != strlen(optarg))
                return usage_error(cmd, "--mode: '%s' is not an octal mode (e.g. 0644)", optarg);
            o.mode = optarg;
            break;
        case 'u':
            if (!*optarg) return usage_error(cmd, "--user: empty user");
            o.user = optarg;
            break;
        case 'q':
            o.quiet = true;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    if (argc - optind < 2)
        return usage_error(cmd, argc - optind == 0 ? "missing SRC and DST" : "missing DST");
    if (argc - optind > 2) return usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
    const char *src = argv[optind], *dst = argv[optind + 1];
    bool upload = is_remote(dst);
    if (is_remote(src) && upload)
        return usage_error(cmd, "SRC and DST are both ID:PATH: one must be a local path or -");
    if (!is_remote(src) && !upload)
        return usage_error(cmd, "neither SRC nor DST is ID:PATH (a file in a session)");
    const char *remote = upload ? dst : src, *local = upload ? src : dst;
    if (!*local) return usage_error(cmd, "empty local path");
    const char *colon = strchr(remote, ':');
    const char *rpath = colon + 1;
    if (!*rpath) return usage_error(cmd, "'%s': missing the PATH after the ':'", remote);
    if (!upload && o.mode) return usage_error(cmd, "--mode applies to uploads only");
    if (!upload && o.parents) return usage_error(cmd, "--parents applies to uploads only");
    _cleanup_free_ char *id = strndup(remote, (size_t)(colon - remote));
    if (!id) return out_of_memory();

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    return upload ? cp_upload(cl, local, id, rpath, &o) : cp_download(cl, id, rpath, local, &o);
}
