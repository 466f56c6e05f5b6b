/* Unit tests: the session file API's file operations (supervisor/fileops.c),
 * run on a temporary directory under /tmp. Streaming goes through pipes with
 * a forked writer or reader on the other end. Checks that need another user
 * run in a forked child that drops to nobody (when the tests run as root). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "fileops.h"
#include "json.h"
#include "unit.h"
#include "util.h"

#define NOBODY 65534

static char base[64];

/* base + "/" + printf(fmt); 8 rotating buffers. */
__attribute__((format(printf, 1, 2))) static const char *tp(const char *fmt, ...)
{
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    int n = snprintf(b, PATH_MAX, "%s/", base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static void put(const char *path, const char *data)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    if (fd >= 0) CHECK(write_all(fd, data, strlen(data)) == 0);
}

/* Small file contents (static buffer), or NULL. */
static const char *get(const char *path)
{
    static char buf[4096];
    return read_file_at(AT_FDCWD, path, buf, sizeof(buf)) >= 0 ? buf : NULL;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static size_t count_entries(const char *dir)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    size_t n = 0;
    if (!d) return 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    return n;
}

static void mkdirs(const char *path)
{
    sbx_err err;
    CHECK(mkdir_p(path, 0755, &err) == 0);
}

/* A pipe whose read end gets data then EOF, written by a forked child. */
static int feed_ex(const void *data, size_t len, int flags, pid_t *pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    if (flags) fcntl(p[0], F_SETFL, flags);
    *pid = fork();
    if (*pid == 0) {
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        write_all(p[1], data, len);
        _exit(0);
    }
    close(p[1]);
    return p[0];
}

static int feed(const void *data, size_t len, pid_t *pid)
{
    return feed_ex(data, len, 0, pid);
}

static void reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

static int write_bytes(const char *path, const void *data, size_t len, mode_t mode, int mode_given,
                       uint64_t max, int mkparents, uint64_t *written, sbx_err *err)
{
    pid_t pid;
    int fd = feed(data, len, &pid);
    if (fd < 0) return -1;
    int r = fo_write(path, fd, mode, mode_given, max, mkparents, NULL, NULL, written, err);
    close(fd);
    reap(pid);
    return r;
}

static int write_str(const char *path, const char *s, sbx_err *err)
{
    uint64_t w;
    return write_bytes(path, s, strlen(s), 0644, 0, 1 << 20, 0, &w, err);
}

/* fo_read into a pipe drained by a forked child into a memfd; the bytes
 * land in a malloc'ed *out. */
static int read_bytes_ex(const char *path, int flags, char **out, size_t *outlen, uint64_t *size,
                         sbx_err *err)
{
    *out = NULL;
    *outlen = 0;
    int mfd = memfd_create("sink", MFD_CLOEXEC);
    int p[2];
    if (mfd < 0 || pipe2(p, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        char buf[65536];
        for (ssize_t n; (n = read(p[0], buf, sizeof(buf))) != 0;) {
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 || write_all(mfd, buf, (size_t)n) < 0) _exit(1);
        }
        _exit(0);
    }
    close(p[0]);
    if (flags) fcntl(p[1], F_SETFL, flags);
    int r = fo_read(path, p[1], size, err);
    close(p[1]);
    reap(pid);
    off_t len = lseek(mfd, 0, SEEK_END);
    *out = malloc((size_t)len + 1);
    if (*out && pread(mfd, *out, (size_t)len, 0) == len) *outlen = (size_t)len;
    close(mfd);
    return r;
}

static int read_bytes(const char *path, char **out, size_t *outlen, uint64_t *size, sbx_err *err)
{
    return read_bytes_ex(path, 0, out, outlen, size, err);
}

/* Run fn in a forked child as another user (nobody) when we are root, as
 * ourselves otherwise; its failed checks count here. */
static void as_other_user(void (*fn)(void))
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                               setresuid(NOBODY, NOBODY, NOBODY) < 0))
            _exit(100);
        int before = unit_failed_checks;
        fn();
        fflush(stderr);
        _exit(unit_failed_checks - before);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 100);
    if (WIFEXITED(st)) unit_failed_checks += WEXITSTATUS(st) == 100 ? 0 : WEXITSTATUS(st);
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t jint(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

static struct json_object *jentries(struct json_object *o)
{
    struct json_object *v = NULL;
    json_object_object_get_ex(o, "entries", &v);
    return v;
}

/* ---- path validation and errors ---- */

static void test_check_path_rejects_relative_empty_and_too_long(void)
{
    sbx_err err;
    CHECK(fo_check_path("/workspace/app.js", &err) == 0);
    CHECK(fo_check_path("/", &err) == 0);
    CHECK(fo_check_path("/a/../b", &err) == 0); /* resolved inside the sandbox */
    CHECK(fo_check_path("workspace/app.js", &err) < 0);
    CHECK(err.kind == SBX_E_INVALID);
    CHECK_STR(err.code, "invalid_path");
    CHECK_CONTAINS(err.msg, "absolute");
    CHECK_CONTAINS(err.msg, "/workspace/app.js");
    CHECK(fo_check_path("", &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK_CONTAINS(err.msg, "empty");
    CHECK(fo_check_path(NULL, &err) < 0 && err.kind == SBX_E_INVALID);
    char longp[FO_PATH_MAX + 2];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[FO_PATH_MAX] = '\0'; /* exactly FO_PATH_MAX bytes: fine */
    CHECK(fo_check_path(longp, &err) == 0);
    longp[FO_PATH_MAX] = 'a';
    longp[FO_PATH_MAX + 1] = '\0';
    CHECK(fo_check_path(longp, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK_STR(err.code, "invalid_path");
    /* every operation validates */
    struct json_object *o;
    CHECK(fo_stat("relative", &o, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(fo_remove("", 1, &err) < 0 && err.kind == SBX_E_INVALID);
}

static void test_errno_maps_to_kinds_and_codes(void)
{
    sbx_err err;
    struct {
        int e;
        enum sbx_err_kind kind;
        const char *code;
    } m[] = {
        {ENOENT, SBX_E_NOTFOUND, "not_found"},
        {EACCES, SBX_E_FORBIDDEN, "permission_denied"},
        {EPERM, SBX_E_FORBIDDEN, "permission_denied"},
        {EROFS, SBX_E_FORBIDDEN, "read_only"},
        {EEXIST, SBX_E_CONFLICT, "conflict"},
        {ENOTEMPTY, SBX_E_CONFLICT, "conflict"},
        {EISDIR, SBX_E_CONFLICT, "conflict"},
        {ENOTDIR, SBX_E_CONFLICT, "conflict"},
        {EBUSY, SBX_E_CONFLICT, "conflict"},
        {ENOSPC, SBX_E_TOOLARGE, "no_space"},
        {EDQUOT, SBX_E_TOOLARGE, "no_space"},
        {EFBIG, SBX_E_TOOLARGE, "no_space"},
        {ENAMETOOLONG, SBX_E_INVALID, "invalid_path"},
        {ELOOP, SBX_E_INVALID, "invalid_path"},
        {EINVAL, SBX_E_INVALID, "invalid_path"},
        {EIO, SBX_E_INTERNAL, "internal"},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(m); i++) {
        CHECK(fo_errno(&err, m[i].e, "open %s", "/x") == -m[i].e);
        CHECK(err.kind == m[i].kind);
        CHECK_STR(err.code, m[i].code);
        CHECK(err.errnum == m[i].e);
    }
    fo_errno(&err, -EACCES, "open %s", "/workspace/a");
    CHECK_STR(err.msg, "open /workspace/a: Permission denied");
    CHECK(err.kind == SBX_E_FORBIDDEN);
}

static void other_user_is_denied(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    uint64_t size;
    char *data;
    size_t len;
    CHECK(read_bytes(tp("perm/secret"), &data, &len, &size, &err) < 0);
    free(data);
    CHECK(err.kind == SBX_E_FORBIDDEN);
    CHECK_STR(err.code, "permission_denied");
    CHECK_CONTAINS(err.msg, "perm/secret");
    CHECK(write_str(tp("perm/locked/new"), "x", &err) < 0 && err.kind == SBX_E_FORBIDDEN);
    CHECK(fo_remove(tp("perm/locked/keep"), 0, &err) < 0 && err.kind == SBX_E_FORBIDDEN);
    CHECK(fo_list(tp("perm/private"), 1, 100, &o, &err) < 0 && err.kind == SBX_E_FORBIDDEN);
    CHECK(fo_mkdir(tp("perm/locked/d"), 0, 0755, &err) < 0);
    CHECK(err.kind == SBX_E_FORBIDDEN);
    CHECK(fo_stat(tp("perm/private/x"), &o, &err) < 0 && err.kind == SBX_E_FORBIDDEN);
    /* the not-found and forbidden cases stay apart */
    CHECK(fo_stat(tp("perm/missing"), &o, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    CHECK_STR(err.code, "not_found");
}

static void test_errors_for_missing_and_forbidden_paths(void)
{
    mkdirs(tp("perm/locked"));
    mkdirs(tp("perm/private"));
    put(tp("perm/secret"), "s3cret");
    put(tp("perm/locked/keep"), "k");
    put(tp("perm/private/x"), "x");
    /* root-owned and closed to others; when not root, closed to ourselves */
    mode_t closed = geteuid() == 0 ? 0700 : 0000;
    chmod(tp("perm/secret"), closed);
    chmod(tp("perm/private"), closed);
    chmod(tp("perm/locked"), 0555);
    as_other_user(other_user_is_denied);
    chmod(tp("perm/private"), 0700);
    chmod(tp("perm/locked"), 0755);
    CHECK(exists(tp("perm/locked/keep")));
}

/* ---- write / read ---- */

static void test_write_then_read_round_trips_binary_data(void)
{
    sbx_err err;
    size_t n = 1 << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++) in[i] = (char)(uint8_t)(i * 131 + (i >> 8));
    for (int i = 0; i < 256; i++) in[i] = (char)i; /* every byte value, NUL included */
    uint64_t written = 0, size = 0;
    CHECK(write_bytes(tp("bin"), in, n, 0644, 0, n, 0, &written, &err) == 0);
    CHECK(written == n);
    char *out;
    size_t len;
    CHECK(read_bytes(tp("bin"), &out, &len, &size, &err) == 0);
    CHECK(size == n && len == n);
    CHECK(out && memcmp(in, out, n) == 0);
    free(out);
    /* non-blocking pipes on either side: waits instead of failing */
    pid_t pid;
    int fd = feed_ex(in, n, O_NONBLOCK, &pid);
    CHECK(fo_write(tp("bin2"), fd, 0644, 0, n, 0, NULL, NULL, &written, &err) == 0 && written == n);
    close(fd);
    reap(pid);
    CHECK(read_bytes_ex(tp("bin2"), O_NONBLOCK, &out, &len, &size, &err) == 0);
    CHECK(len == n && out && memcmp(in, out, n) == 0);
    free(out);
    /* into something splice cannot write to (not a pipe): read/write fallback */
    int mfd = memfd_create("plain", MFD_CLOEXEC);
    CHECK(fo_read(tp("bin"), mfd, &size, &err) == 0 && size == n);
    out = malloc(n);
    CHECK(lseek(mfd, 0, SEEK_END) == (off_t)n && pread(mfd, out, n, 0) == (ssize_t)n);
    CHECK(memcmp(in, out, n) == 0);
    free(out);
    close(mfd);
    /* an empty body makes an empty file */
    CHECK(write_bytes(tp("empty"), "", 0, 0644, 0, 10, 0, &written, &err) == 0 && written == 0);
    CHECK(read_bytes(tp("empty"), &out, &len, &size, &err) == 0 && size == 0 && len == 0);
    free(out);
    free(in);
}

static void test_write_is_atomic_and_replaces_a_symlink_instead_of_writing_through_it(void)
{
    sbx_err err;
    mkdirs(tp("atomic/outside"));
    put(tp("atomic/outside/victim"), "precious");
    CHECK(symlink(tp("atomic/outside/victim"), tp("atomic/link")) == 0);
    CHECK(write_str(tp("atomic/link"), "new", &err) == 0);
    struct stat st;
    CHECK(lstat(tp("atomic/link"), &st) == 0 && S_ISREG(st.st_mode));
    CHECK_STR(get(tp("atomic/link")), "new");
    CHECK_STR(get(tp("atomic/outside/victim")), "precious");

    /* a reader holding the old file keeps seeing all of the old bytes */
    put(tp("atomic/f"), "old contents");
    struct stat before;
    CHECK(stat(tp("atomic/f"), &before) == 0);
    _cleanup_close_ int old = open(tp("atomic/f"), O_RDONLY | O_CLOEXEC);
    CHECK(write_str(tp("atomic/f"), "new contents!", &err) == 0);
    char buf[64] = {0};
    CHECK(pread(old, buf, sizeof(buf) - 1, 0) == 12);
    CHECK_STR(buf, "old contents");
    CHECK(stat(tp("atomic/f"), &st) == 0 && st.st_ino != before.st_ino);
    CHECK_STR(get(tp("atomic/f")), "new contents!");
    /* no temp files left behind: link, f, outside */
    CHECK(count_entries(tp("atomic")) == 3);
}

static void test_write_keeps_the_mode_of_a_replaced_file_unless_given(void)
{
    sbx_err err;
    uint64_t w;
    mkdirs(tp("modes"));
    CHECK(write_bytes(tp("modes/new"), "x", 1, 0640, 0, 10, 0, &w, &err) == 0);
    struct stat st;
    CHECK(stat(tp("modes/new"), &st) == 0 && (st.st_mode & 07777) == 0640);
    put(tp("modes/script"), "#!/bin/sh\n");
    chmod(tp("modes/script"), 0750);
    CHECK(write_bytes(tp("modes/script"), "echo", 4, 0644, 0, 10, 0, &w, &err) == 0);
    CHECK(stat(tp("modes/script"), &st) == 0 && (st.st_mode & 07777) == 0750);
    CHECK(write_bytes(tp("modes/script"), "echo", 4, 0600, 1, 10, 0, &w, &err) == 0);
    CHECK(stat(tp("modes/script"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(write_bytes(tp("modes/script"), "echo", 4, 0755, 1, 10, 0, &w, &err) == 0);
    CHECK(stat(tp("modes/script"), &st) == 0 && (st.st_mode & 07777) == 0755);
    if (geteuid() == 0) { /* root in the userns replacing the user's file keeps it theirs */
        put(tp("modes/users"), "u");
        CHECK(chown(tp("modes/users"), 1000, 1000) == 0);
        CHECK(write_bytes(tp("modes/users"), "v", 1, 0644, 0, 10, 0, &w, &err) == 0);
        CHECK(stat(tp("modes/users"), &st) == 0 && st.st_uid == 1000 && st.st_gid == 1000);
    }
}

static void test_write_over_a_directory_or_fifo_is_a_conflict(void)
{
    sbx_err err;
    mkdirs(tp("wdir/sub"));
    put(tp("wdir/sub/inner"), "x");
    CHECK(write_str(tp("wdir/sub"), "data", &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_STR(err.code, "conflict");
    CHECK_CONTAINS(err.msg, "directory");
    CHECK_STR(get(tp("wdir/sub/inner")), "x");
    CHECK(mkfifo(tp("wdir/fifo"), 0644) == 0);
    CHECK(write_str(tp("wdir/fifo"), "data", &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "fifo");
    CHECK(write_str(tp("wdir/trailing/"), "data", &err) < 0 && err.kind == SBX_E_INVALID);
    put(tp("wdir/file"), "f");
    CHECK(write_str(tp("wdir/file/below"), "data", &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK(count_entries(tp("wdir")) == 3);
    /* the longest name a directory takes still gets a temp file beside it */
    char name[NAME_MAX + 2];
    memset(name, 'n', sizeof(name));
    name[NAME_MAX] = '\0';
    CHECK(write_str(tp("wdir/%s", name), "long", &err) == 0);
    CHECK_STR(get(tp("wdir/%s", name)), "long");
    name[NAME_MAX] = 'n';
    name[NAME_MAX + 1] = '\0';
    CHECK(write_str(tp("wdir/%s", name), "long", &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(count_entries(tp("wdir")) == 4);
}

static void test_write_over_max_bytes_leaves_no_file_and_no_temp_file(void)
{
    sbx_err err;
    uint64_t w = 99;
    size_t n = 200000;
    char *big = calloc(1, n);
    mkdirs(tp("max"));
    CHECK(write_bytes(tp("max/big"), big, n, 0644, 0, 65536, 0, &w, &err) < 0);
    CHECK(err.kind == SBX_E_TOOLARGE);
    CHECK_STR(err.code, "file_too_large");
    CHECK_CONTAINS(err.msg, "65536");
    CHECK(w == 0);
    CHECK(count_entries(tp("max")) == 0);
    /* an existing file is left as it was */
    put(tp("max/kept"), "before");
    CHECK(write_bytes(tp("max/kept"), big, n, 0644, 0, n - 1, 0, &w, &err) < 0);
    CHECK(err.kind == SBX_E_TOOLARGE);
    CHECK_STR(get(tp("max/kept")), "before");
    CHECK(count_entries(tp("max")) == 1);
    /* exactly the limit is fine */
    CHECK(write_bytes(tp("max/exact"), big, n, 0644, 0, n, 0, &w, &err) == 0 && w == n);
    CHECK(write_bytes(tp("max/zero"), "", 0, 0644, 0, 0, 0, &w, &err) == 0 && w == 0);
    CHECK(write_bytes(tp("max/one"), "a", 1, 0644, 0, 0, 0, &w, &err) < 0);
    CHECK(count_entries(tp("max")) == 3);
    free(big);
}

static void test_write_mkparents_creates_missing_directories(void)
{
    sbx_err err;
    uint64_t w;
    CHECK(write_bytes(tp("mkp/a/b/c.txt"), "hi", 2, 0644, 0, 10, 0, &w, &err) < 0);
    CHECK(err.kind == SBX_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "does not exist");
    CHECK(write_bytes(tp("mkp/a/b/c.txt"), "hi", 2, 0644, 0, 10, 1, &w, &err) == 0);
    CHECK_STR(get(tp("mkp/a/b/c.txt")), "hi");
    struct stat st;
    CHECK(stat(tp("mkp/a/b"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
    /* a file in the way of a parent is a conflict */
    put(tp("mkp/file"), "f");
    CHECK(write_bytes(tp("mkp/file/x/y"), "hi", 2, 0644, 0, 10, 1, &w, &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "not a directory");
}

static void test_read_follows_symlinks_like_cat(void)
{
    sbx_err err;
    mkdirs(tp("rd"));
    put(tp("rd/target"), "through the link");
    CHECK(symlink("target", tp("rd/link")) == 0);
    char *out;
    size_t len;
    uint64_t size;
    CHECK(read_bytes(tp("rd/link"), &out, &len, &size, &err) == 0);
    CHECK(len == 16 && size == 16 && out && memcmp(out, "through the link", 16) == 0);
    free(out);
    CHECK(symlink("nowhere", tp("rd/dangling")) == 0);
    CHECK(read_bytes(tp("rd/dangling"), &out, &len, &size, &err) < 0);
    free(out);
    CHECK(err.kind == SBX_E_NOTFOUND);
}

static void test_read_of_a_fifo_is_refused_without_blocking(void)
{
    sbx_err err;
    mkdirs(tp("fifo"));
    CHECK(mkfifo(tp("fifo/p"), 0666) == 0);
    CHECK(symlink("p", tp("fifo/link")) == 0);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    alarm(10); /* a blocking open would hang here */
    uint64_t size = 1;
    CHECK(fo_read(tp("fifo/p"), p[1], &size, &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "not a regular file");
    CHECK_CONTAINS(err.msg, "fifo");
    CHECK(fo_read(tp("fifo/link"), p[1], &size, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK(fo_read("/dev/null", p[1], &size, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "char");
    alarm(0);
    close(p[0]);
    close(p[1]);
}

static void test_read_of_a_directory_is_a_conflict(void)
{
    sbx_err err;
    mkdirs(tp("rdir"));
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    uint64_t size;
    CHECK(fo_read(tp("rdir"), p[1], &size, &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_STR(err.code, "conflict");
    CHECK_CONTAINS(err.msg, "directory");
    CHECK(fo_read(tp("rdir/missing"), p[1], &size, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    close(p[0]);
    close(p[1]);
}

static void test_read_to_a_closed_pipe_is_client_gone_without_sigpipe(void)
{
    sbx_err err;
    size_t n = 1 << 20;
    char *big = calloc(1, n);
    uint64_t w, size = 0;
    CHECK(write_bytes(tp("gone"), big, n, 0644, 0, n, 0, &w, &err) == 0);
    free(big);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    close(p[0]);
    signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
    CHECK(fo_read(tp("gone"), p[1], &size, &err) < 0);
    CHECK(err.errnum == EPIPE);
    CHECK_STR(err.code, "client_gone");
    CHECK(size == n);
    sigset_t pending;
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    close(p[1]);
}

/* ---- stat ---- */

static void test_stat_of_a_symlink_is_the_link_with_its_target(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    mkdirs(tp("st"));
    put(tp("st/file"), "12345");
    CHECK(symlink("file", tp("st/link")) == 0);
    CHECK(fo_stat(tp("st/link"), &o, &err) == 0);
    CHECK_STR(jstr(o, "type"), "symlink");
    CHECK_STR(jstr(o, "target"), "file");
    CHECK_STR(jstr(o, "name"), "link");
    CHECK_STR(jstr(o, "path"), tp("st/link"));
    CHECK(jint(o, "size") == 4);
    json_object_put(o);
    CHECK(symlink("/nowhere/at/all", tp("st/dangling")) == 0);
    CHECK(fo_stat(tp("st/dangling"), &o, &err) == 0);
    CHECK_STR(jstr(o, "target"), "/nowhere/at/all");
    json_object_put(o);
}

static void test_stat_reports_type_size_mode_owner_and_mtime(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    put(tp("st/file"), "12345");
    chmod(tp("st/file"), 04755);
    struct timespec ts[2] = {{1700000000, 0}, {1700000000, 0}};
    CHECK(utimensat(AT_FDCWD, tp("st/file"), ts, 0) == 0);
    CHECK(fo_stat(tp("st/file"), &o, &err) == 0);
    CHECK_STR(jstr(o, "type"), "file");
    CHECK(jint(o, "size") == 5);
    CHECK_STR(jstr(o, "mode"), "4755");
    CHECK(jint(o, "uid") == (int64_t)geteuid());
    CHECK(jint(o, "gid") == (int64_t)getegid());
    CHECK_STR(jstr(o, "mtime"), "2023-11-14T22:13:20Z");
    CHECK(jstr(o, "target") == NULL);
    json_object_put(o);
    chmod(tp("st"), 01777);
    CHECK(fo_stat(tp("st/"), &o, &err) == 0);
    CHECK_STR(jstr(o, "type"), "dir");
    CHECK_STR(jstr(o, "mode"), "1777");
    CHECK_STR(jstr(o, "name"), "st");
    json_object_put(o);
    CHECK(fo_stat("/", &o, &err) == 0);
    CHECK_STR(jstr(o, "name"), "/");
    json_object_put(o);
    CHECK(mkfifo(tp("st/fifo"), 0600) == 0);
    CHECK(fo_stat(tp("st/fifo"), &o, &err) == 0);
    CHECK_STR(jstr(o, "type"), "fifo");
    CHECK_STR(jstr(o, "mode"), "0600");
    json_object_put(o);
    CHECK(fo_stat("/dev/null", &o, &err) == 0);
    CHECK_STR(jstr(o, "type"), "char");
    json_object_put(o);
    o = NULL;
    CHECK(fo_stat(tp("st/missing"), &o, &err) < 0 && o == NULL);
    CHECK(err.kind == SBX_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "st/missing");
}

/* ---- list ---- */

static void check_paths(struct json_object *res, const char *const *want, size_t n)
{
    struct json_object *arr = jentries(res);
    CHECK(arr && json_object_array_length(arr) == n);
    if (!arr || json_object_array_length(arr) != n) return;
    for (size_t i = 0; i < n; i++)
        CHECK_STR(jstr(json_object_array_get_idx(arr, i), "path"), want[i]);
}

static void test_list_depth_1_and_2_sorted_by_path(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    mkdirs(tp("ls/b"));
    mkdirs(tp("ls/b-x"));
    mkdirs(tp("ls/a/deep/deeper"));
    put(tp("ls/b/c"), "1");
    put(tp("ls/z"), "22");
    put(tp("ls/b-x/y"), "1");
    CHECK(fo_list(tp("ls"), 1, 100, &o, &err) == 0);
    const char *d1[] = {tp("ls/a"), tp("ls/b"), tp("ls/b-x"), tp("ls/z")};
    check_paths(o, d1, 4);
    CHECK_STR(jstr(o, "path"), tp("ls"));
    CHECK(json_object_get_boolean(json_object_object_get(o, "truncated")) == 0);
    CHECK(jint(o, "skipped") == 0);
    struct json_object *z = json_object_array_get_idx(jentries(o), 3);
    CHECK_STR(jstr(z, "name"), "z");
    CHECK_STR(jstr(z, "type"), "file");
    CHECK(jint(z, "size") == 2);
    CHECK_STR(jstr(json_object_array_get_idx(jentries(o), 0), "type"), "dir");
    json_object_put(o);
    /* depth 2: grandchildren too, in strcmp order of the whole path */
    CHECK(fo_list(tp("ls/"), 2, 100, &o, &err) == 0);
    const char *d2[] = {tp("ls/a"),     tp("ls/a/deep"), tp("ls/b"), tp("ls/b-x"),
                        tp("ls/b-x/y"), tp("ls/b/c"),    tp("ls/z")};
    check_paths(o, d2, 7);
    json_object_put(o);
    CHECK(fo_list(tp("ls"), 16, 100, &o, &err) == 0);
    CHECK(json_object_array_length(jentries(o)) == 8);
    json_object_put(o);
    CHECK(fo_list(tp("ls"), 0, 100, &o, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(fo_list(tp("ls"), 17, 100, &o, &err) < 0 && err.kind == SBX_E_INVALID);
}

static void test_list_truncates_to_the_first_entries_in_order(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    mkdirs(tp("many"));
    for (int i = 4999; i >= 0; i--) {
        char name[32];
        snprintf(name, sizeof(name), "many/f%04d", i);
        _cleanup_close_ int fd = open(tp("%s", name), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
    }
    size_t maxes[] = {0, 10, 1500, 4999, 5000};
    for (size_t m = 0; m < SBX_ARRAY_SIZE(maxes); m++) {
        CHECK(fo_list(tp("many"), 1, maxes[m], &o, &err) == 0);
        struct json_object *arr = jentries(o);
        CHECK(json_object_array_length(arr) == maxes[m]);
        CHECK(json_object_get_boolean(json_object_object_get(o, "truncated")) == (maxes[m] < 5000));
        for (size_t i = 0; i < json_object_array_length(arr) && i < maxes[m]; i++) {
            char name[32];
            snprintf(name, sizeof(name), "f%04zu", i);
            CHECK_STR(jstr(json_object_array_get_idx(arr, i), "name"), name);
        }
        json_object_put(o);
    }
    /* truncation across levels keeps the globally first paths */
    mkdirs(tp("many2/a"));
    mkdirs(tp("many2/c"));
    for (int i = 0; i < 3100; i++) {
        int fd =
            open(tp("many2/%s/%04d", i < 100 ? "a" : "c", i), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        close(fd);
    }
    put(tp("many2/b"), "");
    CHECK(fo_list(tp("many2"), 2, 103, &o, &err) == 0);
    struct json_object *arr = jentries(o);
    CHECK(json_object_array_length(arr) == 103);
    CHECK_STR(jstr(json_object_array_get_idx(arr, 0), "path"), tp("many2/a"));
    CHECK_STR(jstr(json_object_array_get_idx(arr, 1), "path"), tp("many2/a/0000"));
    CHECK_STR(jstr(json_object_array_get_idx(arr, 100), "path"), tp("many2/a/0099"));
    CHECK_STR(jstr(json_object_array_get_idx(arr, 101), "path"), tp("many2/b"));
    CHECK_STR(jstr(json_object_array_get_idx(arr, 102), "path"), tp("many2/c"));
    CHECK(json_object_get_boolean(json_object_object_get(o, "truncated")));
    json_object_put(o);
}

static void test_list_does_not_descend_symlinked_dirs(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    mkdirs(tp("lsl/real/inner"));
    mkdirs(tp("lsl/top"));
    put(tp("lsl/real/inner/f"), "x");
    CHECK(symlink(tp("lsl/real"), tp("lsl/top/link")) == 0);
    CHECK(fo_list(tp("lsl/top"), 16, 100, &o, &err) == 0);
    const char *want[] = {tp("lsl/top/link")};
    check_paths(o, want, 1);
    struct json_object *e = json_object_array_get_idx(jentries(o), 0);
    CHECK_STR(jstr(e, "type"), "symlink");
    CHECK_STR(jstr(e, "target"), tp("lsl/real"));
    json_object_put(o);
    /* the path itself may be a link to a directory (like ls /bin) */
    CHECK(fo_list(tp("lsl/top/link"), 1, 100, &o, &err) == 0);
    const char *want2[] = {tp("lsl/top/link/inner")};
    check_paths(o, want2, 1);
    json_object_put(o);
}

static void test_list_of_a_file_or_missing_path_is_an_error(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    put(tp("lsfile"), "x");
    CHECK(fo_list(tp("lsfile"), 1, 10, &o, &err) < 0 && o == NULL);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "not a directory");
    CHECK(fo_list(tp("lsmissing"), 1, 10, &o, &err) < 0 && err.kind == SBX_E_NOTFOUND);
}

static void list_as_other_user(void)
{
    sbx_err err;
    struct json_object *o = NULL;
    CHECK(fo_list(tp("lsperm"), 2, 100, &o, &err) == 0);
    const char *want[] = {tp("lsperm/closed"), tp("lsperm/open"), tp("lsperm/open/f")};
    check_paths(o, want, 3);
    CHECK(jint(o, "skipped") == 1);
    json_object_put(o);
    CHECK(fo_list(tp("lsperm/closed"), 1, 100, &o, &err) < 0);
    CHECK(err.kind == SBX_E_FORBIDDEN);
}

static void test_list_skips_unreadable_subdirectories(void)
{
    mkdirs(tp("lsperm/open"));
    mkdirs(tp("lsperm/closed"));
    put(tp("lsperm/open/f"), "");
    put(tp("lsperm/closed/hidden"), "");
    chmod(tp("lsperm/closed"), geteuid() == 0 ? 0700 : 0000);
    as_other_user(list_as_other_user);
    chmod(tp("lsperm/closed"), 0755);
}

/* ---- mkdir ---- */

static void test_mkdir_and_mkdir_parents(void)
{
    sbx_err err;
    CHECK(fo_mkdir(tp("md"), 0, 0700, &err) == 0);
    struct stat st;
    CHECK(stat(tp("md"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    CHECK(fo_mkdir(tp("md"), 0, 0755, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "already exists");
    CHECK(fo_mkdir(tp("md/x/y"), 0, 0755, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    CHECK(fo_mkdir(tp("md/x//y/z/"), 1, 0777, &err) == 0);
    CHECK(stat(tp("md/x/y/z"), &st) == 0 && (st.st_mode & 07777) == 0755); /* umask 022 */
    CHECK(fo_mkdir(tp("md/x/y/z"), 1, 0755, &err) == 0);                   /* exists: fine */
    put(tp("md/file"), "");
    CHECK(fo_mkdir(tp("md/file"), 1, 0755, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK(fo_mkdir(tp("md/file/sub"), 1, 0755, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "is not a directory");
    CHECK_CONTAINS(err.msg, tp("md/file"));
    /* a symlink to a directory on the way is followed, like mkdir -p */
    CHECK(symlink("x", tp("md/lx")) == 0);
    CHECK(fo_mkdir(tp("md/lx/new"), 1, 0755, &err) == 0);
    CHECK(exists(tp("md/x/new")));
}

/* ---- rename ---- */

static void test_rename_noreplace_overwrite_and_errors(void)
{
    sbx_err err;
    mkdirs(tp("mv/dir/sub"));
    put(tp("mv/a"), "A");
    put(tp("mv/b"), "B");
    CHECK(fo_rename(tp("mv/a"), tp("mv/b"), 0, &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "already exists");
    CHECK_STR(get(tp("mv/a")), "A");
    CHECK_STR(get(tp("mv/b")), "B");
    CHECK(fo_rename(tp("mv/a"), tp("mv/b"), 1, &err) == 0);
    CHECK(!exists(tp("mv/a")));
    CHECK_STR(get(tp("mv/b")), "A");
    CHECK(fo_rename(tp("mv/b"), tp("mv/c"), 0, &err) == 0);
    CHECK_STR(get(tp("mv/c")), "A");
    /* a symlink is renamed, not its target */
    CHECK(symlink("c", tp("mv/l")) == 0);
    CHECK(fo_rename(tp("mv/l"), tp("mv/l2"), 0, &err) == 0);
    struct stat st;
    CHECK(lstat(tp("mv/l2"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_STR(get(tp("mv/c")), "A");
    CHECK(fo_rename(tp("mv/dir"), tp("mv/dir/sub/in"), 0, &err) < 0);
    CHECK(err.kind == SBX_E_INVALID);
    CHECK_STR(err.code, "invalid_path");
    CHECK(fo_rename(tp("mv/dir"), tp("mv/dir/sub/in"), 1, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(fo_rename(tp("mv/nothing"), tp("mv/x"), 0, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "does not exist");
    CHECK(fo_rename(tp("mv/c"), tp("mv/no/such/dir"), 0, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    CHECK(fo_rename(tp("mv/c"), tp("mv/dir"), 1, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK(fo_rename(tp("mv/c"), "relative", 1, &err) < 0 && err.kind == SBX_E_INVALID);
}

/* ---- remove ---- */

static void test_remove_file_link_and_directories(void)
{
    sbx_err err;
    mkdirs(tp("rm/full/sub"));
    mkdirs(tp("rm/empty"));
    put(tp("rm/f"), "");
    put(tp("rm/full/sub/x"), "");
    CHECK(symlink("full", tp("rm/link")) == 0);
    CHECK(fo_remove(tp("rm/link"), 0, &err) == 0);
    CHECK(!exists(tp("rm/link")) && exists(tp("rm/full/sub/x")));
    CHECK(fo_remove(tp("rm/f"), 0, &err) == 0 && !exists(tp("rm/f")));
    CHECK(fo_remove(tp("rm/empty/"), 0, &err) == 0 && !exists(tp("rm/empty")));
    CHECK(fo_remove(tp("rm/full"), 0, &err) < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "not empty");
    CHECK(fo_remove(tp("rm/full"), 1, &err) == 0 && !exists(tp("rm/full")));
    CHECK(fo_remove(tp("rm/full"), 1, &err) < 0 && err.kind == SBX_E_NOTFOUND);
    CHECK(count_entries(tp("rm")) == 0);
}

static void test_remove_recursive_does_not_follow_a_symlink_out_of_the_tree(void)
{
    sbx_err err;
    mkdirs(tp("rmt/outside/keep"));
    put(tp("rmt/outside/keep/file"), "survives");
    mkdirs(tp("rmt/tree/a/b"));
    put(tp("rmt/tree/a/b/f"), "");
    CHECK(symlink(tp("rmt/outside"), tp("rmt/tree/a/b/to-outside")) == 0);
    CHECK(symlink(tp("rmt/outside/keep/file"), tp("rmt/tree/file-link")) == 0);
    CHECK(fo_remove(tp("rmt/tree"), 1, &err) == 0);
    CHECK(!exists(tp("rmt/tree")));
    CHECK_STR(get(tp("rmt/outside/keep/file")), "survives");
    /* a symlink to a directory given as the path: the link goes, not the tree */
    CHECK(symlink("outside", tp("rmt/dirlink")) == 0);
    CHECK(fo_remove(tp("rmt/dirlink"), 1, &err) == 0);
    CHECK(!exists(tp("rmt/dirlink")));
    CHECK_STR(get(tp("rmt/outside/keep/file")), "survives");
}

static void test_remove_of_the_root_and_dot_paths_is_refused(void)
{
    sbx_err err;
    /* recursive = 0: a broken check must not be able to empty the host */
    const char *roots[] = {"/", "//", "///", "/.", "/..", "/../", "/./"};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(roots); i++) {
        CHECK(fo_remove(roots[i], 0, &err) < 0);
        CHECK(err.kind == SBX_E_INVALID);
        CHECK_STR(err.code, "invalid_path");
    }
    mkdirs(tp("dots/sub"));
    CHECK(fo_remove(tp("dots/sub/.."), 1, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(fo_remove(tp("dots/sub/."), 1, &err) < 0 && err.kind == SBX_E_INVALID);
    CHECK(exists(tp("dots/sub")));
}

static void test_remove_stops_at_the_depth_limit(void)
{
    sbx_err err;
    mkdirs(tp("deep"));
    int fd = open(tp("deep"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < FO_REMOVE_DEPTH_MAX + 5 && fd >= 0; i++) {
        CHECK(mkdirat(fd, "d", 0755) == 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    close(fd);
    CHECK(fo_remove(tp("deep"), 1, &err) < 0);
    CHECK(err.kind == SBX_E_CONFLICT);
    CHECK_STR(err.code, "too_deep");
    CHECK(rm_rf(tp("deep"), &err) == 0);
    /* a tree at the limit goes */
    mkdirs(tp("deep2"));
    fd = open(tp("deep2"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < FO_REMOVE_DEPTH_MAX && fd >= 0; i++) {
        CHECK(mkdirat(fd, "d", 0755) == 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = next;
    }
    close(fd);
    CHECK(fo_remove(tp("deep2"), 1, &err) == 0 && !exists(tp("deep2")));
}

static void test_remove_does_not_cross_into_a_mount(void)
{
    mkdirs(tp("rmm/tree/mnt"));
    mkdirs(tp("rmm/tree/sub/bind"));
    mkdirs(tp("rmm/src"));
    put(tp("rmm/src/shared"), "keep");
    put(tp("rmm/tree/before"), "");
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* a private mount namespace: the tmpfs goes away with the child */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("t", tp("rmm/tree/mnt"), "tmpfs", 0, "size=1m") < 0)
            _exit(200);
        int before = unit_failed_checks;
        sbx_err err;
        put(tp("rmm/tree/mnt/inside"), "keep");
        CHECK(fo_remove(tp("rmm/tree"), 1, &err) < 0);
        CHECK(err.kind == SBX_E_CONFLICT);
        CHECK_STR(err.code, "mount_point");
        CHECK_CONTAINS(err.msg, tp("rmm/tree/mnt"));
        CHECK_STR(get(tp("rmm/tree/mnt/inside")), "keep");
        CHECK(fo_remove(tp("rmm/tree/mnt"), 1, &err) < 0);
        CHECK_STR(err.code, "mount_point");
        CHECK(exists(tp("rmm/tree/mnt/inside")));
        /* a bind mount of the same filesystem (same st_dev) is a mount too */
        CHECK(umount(tp("rmm/tree/mnt")) == 0);
        CHECK(mount(tp("rmm/src"), tp("rmm/tree/sub/bind"), NULL, MS_BIND, NULL) == 0);
        CHECK(fo_remove(tp("rmm/tree"), 1, &err) < 0);
        CHECK_STR(err.code, "mount_point");
        CHECK_CONTAINS(err.msg, tp("rmm/tree/sub/bind"));
        CHECK_STR(get(tp("rmm/src/shared")), "keep");
        fflush(stderr);
        _exit(unit_failed_checks - before);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    CHECK(WIFEXITED(st));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 200)
        fprintf(stderr, "  (skipped: cannot mount in a new mount namespace here)\n");
    else if (WIFEXITED(st))
        unit_failed_checks += WEXITSTATUS(st);
}

int main(void)
{
    umask(022);
    snprintf(base, sizeof(base), "/tmp/sbx-fileops-XXXXXX");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    chmod(base, 0755); /* the other-user checks need to reach into it */
    RUN(test_check_path_rejects_relative_empty_and_too_long);
    RUN(test_errno_maps_to_kinds_and_codes);
    RUN(test_errors_for_missing_and_forbidden_paths);
    RUN(test_write_then_read_round_trips_binary_data);
    RUN(test_write_is_atomic_and_replaces_a_symlink_instead_of_writing_through_it);
    RUN(test_write_keeps_the_mode_of_a_replaced_file_unless_given);
    RUN(test_write_over_a_directory_or_fifo_is_a_conflict);
    RUN(test_write_over_max_bytes_leaves_no_file_and_no_temp_file);
    RUN(test_write_mkparents_creates_missing_directories);
    RUN(test_read_follows_symlinks_like_cat);
    RUN(test_read_of_a_fifo_is_refused_without_blocking);
    RUN(test_read_of_a_directory_is_a_conflict);
    RUN(test_read_to_a_closed_pipe_is_client_gone_without_sigpipe);
    RUN(test_stat_of_a_symlink_is_the_link_with_its_target);
    RUN(test_stat_reports_type_size_mode_owner_and_mtime);
    RUN(test_list_depth_1_and_2_sorted_by_path);
    RUN(test_list_truncates_to_the_first_entries_in_order);
    RUN(test_list_does_not_descend_symlinked_dirs);
    RUN(test_list_of_a_file_or_missing_path_is_an_error);
    RUN(test_list_skips_unreadable_subdirectories);
    RUN(test_mkdir_and_mkdir_parents);
    RUN(test_rename_noreplace_overwrite_and_errors);
    RUN(test_remove_file_link_and_directories);
    RUN(test_remove_recursive_does_not_follow_a_symlink_out_of_the_tree);
    RUN(test_remove_of_the_root_and_dot_paths_is_refused);
    RUN(test_remove_stops_at_the_depth_limit);
    RUN(test_remove_does_not_cross_into_a_mount);
    sbx_err err;
    if (rm_rf(base, &err) < 0) fprintf(stderr, "cleanup: %s\n", err.msg);
    UNIT_MAIN_END();
}
