/* sbx-archive - sbxd's helper for the session archive API (docs/api.md,
 * "Archives"): one process per request, run by sbxd (supervisor/archives.c
 * through sbjob.c), and the only process on sbxd's side that links
 * libarchive, so that a hostile archive can at worst crash this process,
 * never the daemon.
 *
 *   sbx-archive pack   --path DIR [--format tar|tar.gz|tar.zst] [--root]
 *   sbx-archive unpack --path DIR [--format auto|tar|tar.gz|tar.zst] [--root]
 *                      [--max-bytes N] [--max-entries N]
 *
 * fds (sbjob.h): 0 the archive to extract (unpack), 1 the archive made
 * (pack), 2 diagnostics (sbxd logs them), 3 the answer lines (jobio.h), 4 the
 * session init's pidfd, 5 the commit pipe (unpack).
 *
 * It starts as root in the host's namespaces, sets up libarchive and
 * everything it could load lazily (locale, iconv) while the host's files are
 * what it sees, then joins the sandbox and becomes its user (enter.h): from
 * there on it reaches only what sandboxed code could, and the files it makes
 * belong to the sandbox's user. pack answers {"ready"} once DIR is open, then
 * streams the tar on fd 1 (archive/pack.h); unpack extracts all or nothing
 * into DIR, made with its parents if missing (archive/extract.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <iconv.h>
#include <json-c/json.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../enter.h"
#include "extract.h"
#include "../fileops.h"
#include "../jobio.h"
#include "commit.h"
#include "json.h"
#include "names.h"
#include "pack.h"
#include "unpack.h"

struct opts {
    int pack;
    const char *path;
    enum arc_format format;
    int root;
    uint64_t max_bytes, max_entries;
};

static int usage(sbx_err *err, const char *why)
{
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                          "sbx-archive: %s (usage: sbx-archive pack|unpack --path DIR [--format F] "
                          "[--root] [--max-bytes N] [--max-entries N])",
                          why);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || end == s || x == 0) return -1;
    *v = x;
    return 0;
}

static int parse(int argc, char **argv, struct opts *o, sbx_err *err)
{
    *o = (struct opts){.max_bytes = 4ull << 30, .max_entries = 1000000};
    if (argc < 2 || (strcmp(argv[1], "pack") && strcmp(argv[1], "unpack")))
        return usage(err, "pack or unpack?");
    o->pack = strcmp(argv[1], "pack") == 0;
    o->format = o->pack ? ARC_TAR : ARC_AUTO;
    static const struct option lo[] = {{"path", required_argument, 0, 'p'},
                                       {"format", required_argument, 0, 'f'},
                                       {"root", no_argument, 0, 'r'},
                                       {"max-bytes", required_argument, 0, 'b'},
                                       {"max-entries", required_argument, 0, 'e'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int f;
        switch (c) {
        case 'p': o->path = optarg; break;
        case 'r': o->root = 1; break;
        case 'f':
            if ((f = arc_format_parse(optarg, !o->pack)) < 0) return usage(err, "bad --format");
            o->format = (enum arc_format)f;
            break;
        case 'b':
            if (parse_u64(optarg, &o->max_bytes) < 0) return usage(err, "bad --max-bytes");
            break;
        case 'e':
            if (parse_u64(optarg, &o->max_entries) < 0) return usage(err, "bad --max-entries");
            break;
        default: return usage(err, "unknown option");
        }
    }
    if (optind != argc || !o->path) return usage(err, "--path DIR is required");
    return fo_check_path(o->path, err);
}

/* What libarchive may load on first use is loaded now, from the host: the
 * locale (names are UTF-8) and glibc's iconv configuration. */
static void prime(void)
{
    if (!setlocale(LC_ALL, "C.UTF-8")) setlocale(LC_ALL, "C");
    iconv_t cd = iconv_open("UTF-8", "ISO-8859-1");
    if (cd != (iconv_t)-1) iconv_close(cd);
}

static struct json_object *stats_json(const struct arc_stats *st, int pack)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "entries", json_object_new_int64((int64_t)st->entries));
    json_object_object_add(o, "bytes", json_object_new_int64((int64_t)st->bytes));
    json_object_object_add(o, "files", json_object_new_int64((int64_t)st->files));
    json_object_object_add(o, "dirs", json_object_new_int64((int64_t)st->dirs));
    json_object_object_add(o, "symlinks", json_object_new_int64((int64_t)st->symlinks));
    json_object_object_add(o, "hardlinks", json_object_new_int64((int64_t)st->hardlinks));
    if (pack)
        json_object_object_add(o, "skipped", json_object_new_int64((int64_t)st->skipped));
    else
        json_object_object_add(o, "setid_bits_cleared",
                               json_object_new_int64((int64_t)st->setid_cleared));
    return o;
}

/* open DIR; ENOTDIR and friends as the API's errors. */
static int open_dir(const char *path, const char *verb, sbx_err *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) return fd;
    int e = errno;
    struct stat st;
    if (e == ENOTDIR && stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
        return sbx_error_kind(err, SBX_E_CONFLICT, "conflict",
                              "%s %s: it is not a directory (files are read and written with "
                              ".../files?path=%s)",
                              verb, path, path);
    return fo_errno(err, e, "%s %s", verb, path);
}

static int do_pack(const struct opts *o, struct arc_packer *pk, struct json_object **ok,
                   sbx_err *err)
{
    int fd = open_dir(o->path, "archive", err);
    if (fd < 0) return -1;
    struct json_object *ready = json_object_new_object();
    json_object_object_add(ready, "format", json_object_new_string(arc_format_name(o->format)));
    if (job_say(JOB_ANSWER_FD, "ready", ready) < 0) {
        close(fd);
        return sbx_error(err, EPIPE, "tell sbxd");
    }
    struct arc_stats st = {0};
    int r = arc_pack_tree(pk, fd, o->path, &st, err);
    close(fd);
    close(1);
    if (r == 0) *ok = stats_json(&st, 1);
    return r;
}

/* path's missing directories are made by the extraction and removed again if
 * it fails: the top one of them ("" when path exists). */
static void top_missing(const char *path, char *top, size_t cap)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    top[0] = '\0';
    struct stat st;
    for (;;) {
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
        if (n <= 1 || lstat(buf, &st) == 0 || errno != ENOENT) return;
        snprintf(top, cap, "%s", buf);
        char *slash = strrchr(buf, '/');
        if (!slash) return;
        slash[slash == buf ? 1 : 0] = '\0';
    }
}

/* rmdir path and its parents up to top (only empty ones go). */
static void remove_made(const char *path, const char *top)
{
    if (!*top) return;
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    size_t tl = strlen(top);
    for (;;) {
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
        if (n < tl || rmdir(buf) < 0 || n == tl) return;
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) return;
        *slash = '\0';
    }
}

/* The extraction runs in a child, so that whatever kills it (a bug that a
 * hostile archive finds in libarchive) cannot leave its staging directory
 * behind: the child tells us on a pipe the directory's name ("S name"), when
 * entries start moving into place ("M name") and that it answered ("A"); if
 * it ends without answering, we remove the directory and answer. */
static void tell_stage(void *ud, const char *name, int moving)
{
    char line[128];
    int n = snprintf(line, sizeof(line), "%s %s\n", moving ? "M" : "S", name);
    if (write(*(int *)ud, line, (size_t)n) < 0) {
        /* the guardian is gone; so are we, soon (parent-death signal) */
    }
}

static int extract_child(const struct opts *o, struct archive *reader, int fd, const char *top,
                         int pipefd)
{
    sbx_err err = {0};
    struct json_object *ok = NULL;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct arc_extract x = {
        .dirfd = fd,
        .label = o->path,
        .infd = 0,
        .reader = reader,
        .opts = {.format = o->format,
                 .max_bytes = o->max_bytes,
                 .max_entries = o->max_entries,
                 .contain_symlinks = 1},
        .commit_ok = job_body_complete,
        .on_stage = tell_stage,
        .stage_ud = &pipefd,
    };
    struct arc_stats st = {0};
    int r = arc_extract(&x, &st, &err);
    if (r < 0) {
        remove_made(o->path, top);
        if (err.kind == SBX_E_INTERNAL && err.errnum > 0)
            fo_classify(err.errnum, &err.kind, &err.code);
    } else {
        ok = stats_json(&st, 0);
        json_object_object_add(ok, "path", json_object_new_string(o->path));
    }
    int w = job_answer(JOB_ANSWER_FD, r, ok, &err);
    if (w == 0 && write(pipefd, "A\n", 2) != 2) w = -EPIPE; /* answered */
    _exit(w < 0 ? 3 : r == 0 ? 0 : 1);
}

/* 1 with *status when the child answered; else 0 or -1 as do_pack. */
static int do_unpack(const struct opts *o, struct archive *reader, int *status, sbx_err *err)
{
    char top[PATH_MAX];
    top_missing(o->path, top, sizeof(top));
    if (fo_mkdir(o->path, 1, 0755, err) < 0) {
        arc_reader_free(reader);
        return sbx_error_wrap(err, "extract into %s", o->path);
    }
    int fd = open_dir(o->path, "extract into", err);
    int p[2] = {-1, -1};
    pid_t pid = -1;
    if (fd >= 0 && pipe2(p, O_CLOEXEC) == 0) pid = fork();
    if (pid == 0) {
        close(p[0]);
        extract_child(o, reader, fd, top, p[1]);
    }
    int e = errno;
    arc_reader_free(reader); /* (the child's copy is its own) */
    if (p[1] >= 0) close(p[1]);
    if (fd < 0 || pid < 0) {
        if (fd >= 0) {
            close(fd);
            sbx_error(err, e, "start the extraction");
        }
        if (p[0] >= 0) close(p[0]);
        remove_made(o->path, top);
        return -1;
    }
    close(0);
    close(JOB_COMMIT_FD);
    char buf[512], stage[128] = "";
    size_t n = 0;
    int moving = 0, answered = 0;
    for (;;) {
        ssize_t k = read(p[0], buf + n, sizeof(buf) - 1 - n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            if ((buf[0] == 'S' || buf[0] == 'M') && buf[1] == ' ') {
                snprintf(stage, sizeof(stage), "%s", buf + 2);
                moving = buf[0] == 'M';
            } else if (buf[0] == 'A') {
                answered = 1;
            }
            n -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, n + 1);
        }
        if (n == sizeof(buf) - 1) n = 0;
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (answered) {
        close(fd);
        *status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        return 1;
    }
    /* it died (or a sanitizer ended it) without answering: clean up after it */
    sbx_err rmerr;
    if (*stage && !moving) arc_rmtree(fd, stage, &rmerr);
    close(fd);
    if (!moving) remove_made(o->path, top);
    char how[48];
    if (WIFSIGNALED(st)) snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(st));
    else snprintf(how, sizeof(how), "ended (status %d)", WEXITSTATUS(st));
    if (moving)
        return sbx_error(err, 0,
                         "the extraction into %s %s while it moved entries into place: some of "
                         "them are there",
                         o->path, how);
    return sbx_error(err, 0,
                     "the extraction into %s %s without an answer (a bug, or an archive that found "
                     "one); nothing was extracted",
                     o->path, how);
}

int main(int argc, char **argv)
{
    sbx_err err = {0};
    struct opts o;
    struct json_object *ok = NULL;
    int rc = parse(argc, argv, &o, &err);
    struct arc_packer pk = {0};
    struct archive *reader = NULL;
    if (rc == 0) {
        prime();
        /* libarchive's objects exist before the sandbox's files are what we see */
        if (o.pack) rc = arc_pack_begin(&pk, 1, &(struct arc_pack_opts){.format = o.format}, &err);
        else if (!(reader = arc_reader_new(o.format, &err))) rc = -1;
    }
    if (rc == 0) {
        rc = sandbox_enter(JOB_PIDFD, o.root, &err);
        close(JOB_PIDFD);
        umask(022);
    }
    if (rc == 0) {
        if (o.pack) {
            rc = do_pack(&o, &pk, &ok, &err);
        } else {
            int status = 0;
            rc = do_unpack(&o, reader, &status, &err);
            reader = NULL;
            if (rc == 1) _exit(status); /* the extraction answered */
        }
    }
    if (rc < 0 && err.kind == SBX_E_INTERNAL && err.errnum > 0)
        fo_classify(err.errnum, &err.kind, &err.code); /* ENOSPC, EACCES, ... as the API says */
    arc_reader_free(reader);
    arc_pack_free(&pk);
    int w = job_answer(JOB_ANSWER_FD, rc, ok, &err);
    /* _exit: nothing at exit may touch the sandbox's files (a sanitizer's
     * report, stdio) beyond what was said */
    _exit(w < 0 ? 3 : rc == 0 ? 0 : 1);
}
