/* Unit tests: archive/ (unpack, commit, extract, pack) on temporary
 * directories under /tmp: what an extraction accepts, refuses and leaves
 * behind, how it merges into an existing directory, and a pack -> extract
 * round trip. Archives are built with libarchive's writer. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commit.h"
#include "extract.h"
#include "pack.h"
#include "unit.h"
#include "unpack.h"

static char base[64];

struct ent {
    char type; /* f file, d dir, l symlink, h hard link, c char device, p FIFO */
    const char *name;
    const char *data; /* file content, link target */
    mode_t mode;
};

static const char *tp(const char *rel)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", base, rel);
    return b;
}

/* Write the entries as a tar (filter: ARCHIVE_FILTER_NONE/GZIP) to path. */
static void make_tar(const char *path, const struct ent *e, int n, int filter)
{
    struct archive *w = archive_write_new();
    if (filter == ARCHIVE_FILTER_GZIP) archive_write_add_filter_gzip(w);
    archive_write_set_format_pax_restricted(w);
    if (archive_write_open_filename(w, path) != ARCHIVE_OK) {
        fprintf(stderr, "open %s: %s\n", path, archive_error_string(w));
        exit(2);
    }
    struct archive_entry *ae = archive_entry_new();
    for (int i = 0; i < n; i++) {
        archive_entry_clear(ae);
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_mtime(ae, 1700000000, 0);
        mode_t m = e[i].mode ? e[i].mode : (e[i].type == 'd' ? 0755 : 0644);
        archive_entry_set_perm(ae, m);
        size_t len = 0;
        switch (e[i].type) {
        case 'f':
            archive_entry_set_filetype(ae, AE_IFREG);
            len = e[i].data ? strlen(e[i].data) : 0;
            archive_entry_set_size(ae, (la_int64_t)len);
            break;
        case 'd': archive_entry_set_filetype(ae, AE_IFDIR); break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        case 'c':
            archive_entry_set_filetype(ae, AE_IFCHR);
            archive_entry_set_rdevmajor(ae, 1);
            archive_entry_set_rdevminor(ae, 3);
            break;
        case 'p': archive_entry_set_filetype(ae, AE_IFIFO); break;
        }
        archive_write_header(w, ae);
        if (len) archive_write_data(w, e[i].data, len);
    }
    archive_entry_free(ae);
    archive_write_close(w);
    archive_write_free(w);
}

/* sh -c fmt, where every "@" is the test's base directory */
static void run(const char *fmt)
{
    char cmd[8192];
    size_t n = 0, bl = strlen(base);
    for (const char *p = fmt; *p && n + bl + 1 < sizeof(cmd); p++) {
        if (*p == '@') {
            memcpy(cmd + n, base, bl);
            n += bl;
        } else {
            cmd[n++] = *p;
        }
    }
    cmd[n] = '\0';
    if (system(cmd) != 0) fprintf(stderr, "  command failed: %s\n", cmd);
}

/* A fresh destination holding only "keep" ("old"). */
static int fresh_dst(void)
{
    run("chmod -R u+rwx @/dst 2>/dev/null; rm -rf @/dst && mkdir -p @/dst && echo old > @/dst/keep");
    return open(tp("dst"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int commit_refused(void *ud)
{
    (void)ud;
    return -1;
}

/* Extract archive file `tar` into dst; 0 or -1 with err. */
static int extract(int dfd, const char *tar, enum arc_format f, int contain, uint64_t max_bytes,
                   uint64_t max_entries, int (*commit_ok)(void *), struct arc_stats *st,
                   sbx_err *err)
{
    memset(st, 0, sizeof(*st));
    int in = open(tar, O_RDONLY | O_CLOEXEC);
    struct arc_extract x = {
        .dirfd = dfd,
        .label = "/dst",
        .infd = in,
        .reader = arc_reader_new(f, err),
        .opts = {.format = f,
                 .max_bytes = max_bytes,
                 .max_entries = max_entries,
                 .contain_symlinks = contain},
        .commit_ok = commit_ok,
    };
    int r = x.reader ? arc_extract(&x, st, err) : -1;
    close(in);
    return r;
}

/* dst holds exactly "keep" (still "old"), no staging directory. */
static int dst_untouched(void)
{
    DIR *d = opendir(tp("dst"));
    if (!d) return 0;
    int n = 0, other = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        n++;
        if (strcmp(de->d_name, "keep")) {
            fprintf(stderr, "  left in dst: %s\n", de->d_name);
            other = 1;
        }
    }
    closedir(d);
    char buf[16] = "";
    int fd = open(tp("dst/keep"), O_RDONLY);
    ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    buf[k > 0 ? k : 0] = '\0';
    return n == 1 && !other && strcmp(buf, "old\n") == 0;
}

static const char *slurp(const char *rel)
{
    static char buf[4096];
    buf[0] = '\0';
    int fd = open(tp(rel), O_RDONLY);
    if (fd < 0) return "(none)";
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void a_good_archive_lands_with_modes_times_links_and_setid_cleared(void)
{
    const struct ent e[] = {
        {'d', "./", NULL, 0755},
        {'d', "src", NULL, 0555},
        {'f', "src/main.c", "int main;\n", 0644},
        {'f', "bin/tool", "#!/bin/sh\n", 04755}, /* parent made implicitly, setuid cleared */
        {'l', "src/link", "main.c", 0},
        {'h', "src/hard", "src/main.c", 0},
        {'d', "empty", NULL, 0700},
    };
    make_tar(tp("good.tar"), e, 7, ARCHIVE_FILTER_NONE);
    int dfd = fresh_dst();
    struct arc_stats st;
    sbx_err err = {0};
    int r = extract(dfd, tp("good.tar"), ARC_AUTO, 1, 1 << 20, 100, NULL, &st, &err);
    if (r < 0) fprintf(stderr, "  %s\n", err.msg);
    CHECK(r == 0);
    CHECK(st.entries == 7 && st.files == 2 && st.dirs == 2 && st.symlinks == 1 &&
          st.hardlinks == 1 && st.setid_cleared == 1);
    CHECK_STR(slurp("dst/src/link"), "int main;\n");
    CHECK_STR(slurp("dst/keep"), "old\n");
    struct stat s1, s2, sd, sb;
    CHECK(stat(tp("dst/src/main.c"), &s1) == 0 && stat(tp("dst/src/hard"), &s2) == 0);
    CHECK(s1.st_ino == s2.st_ino && s1.st_mtime == 1700000000);
    CHECK(stat(tp("dst/src"), &sd) == 0 && (sd.st_mode & 07777) == 0555);
    CHECK(sd.st_mtime == 1700000000);
    CHECK(stat(tp("dst/bin/tool"), &sb) == 0 && (sb.st_mode & 07777) == 0755);
    CHECK(stat(tp("dst/empty"), &sd) == 0 && (sd.st_mode & 07777) == 0700);
    CHECK(stat(tp("dst/bin"), &sd) == 0 && S_ISDIR(sd.st_mode));
    close(dfd);
}

struct hostile {
    const char *what;
    struct ent e[3];
    int n;
    const char *msg; /* in the error */
};

static void hostile_entries_are_refused_and_leave_nothing(void)
{
    const struct hostile h[] = {
        {"dotdot", {{'f', "ok", "x", 0}, {'f', "../escape", "x", 0}}, 2, "\"..\""},
        {"inner dotdot", {{'f', "a/../../escape", "x", 0}}, 1, "\"..\""},
        {"absolute", {{'f', "ok", "x", 0}, {'f', "/tmp/sbx-unit-abs", "x", 0}}, 2, "absolute"},
        {"symlink out", {{'l', "evil", "/etc", 0}}, 1, "outside"},
        {"symlink up", {{'l', "up", "../../../../tmp", 0}}, 1, "outside"},
        {"write through symlink",
         {{'d', "sub", NULL, 0}, {'l', "link", "sub", 0}, {'f', "link/x", "x", 0}},
         3,
         "through a symlink"},
        {"hard link absolute", {{'h', "shadow", "/etc/shadow", 0}}, 1, "absolute"},
        {"hard link up", {{'h', "shadow", "../../../../etc/shadow", 0}}, 1, "\"..\""},
        {"hard link not in archive", {{'h', "pw", "etc/passwd", 0}}, 1, "not an earlier entry"},
        {"hard link to dir", {{'d', "d", NULL, 0}, {'h', "h", "d", 0}}, 2, "not a regular file"},
        {"char device", {{'c', "null", NULL, 0}}, 1, "device node"},
        {"fifo", {{'p', "fifo", NULL, 0}}, 1, "FIFO"},
        {"dir replaced by file", {{'d', "d", NULL, 0}, {'f', "d", "x", 0}}, 2, "directory"},
    };
    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        make_tar(tp("h.tar"), h[i].e, h[i].n, ARCHIVE_FILTER_NONE);
        int dfd = fresh_dst();
        struct arc_stats st;
        sbx_err err = {0};
        int r = extract(dfd, tp("h.tar"), ARC_AUTO, 1, 1 << 20, 100, NULL, &st, &err);
        close(dfd);
        if (r == 0 || !err.code || strcmp(err.code, "unsafe_entry") || !strstr(err.msg, h[i].msg))
            fprintf(stderr, "  %s: rc %d code %s: %s\n", h[i].what, r, err.code, err.msg);
        CHECK(r < 0 && err.code && strcmp(err.code, "unsafe_entry") == 0);
        CHECK_CONTAINS(err.msg, h[i].msg);
        CHECK(dst_untouched());
    }
    CHECK(access("/tmp/sbx-unit-abs", F_OK) != 0);
}

static void outside_symlinks_are_made_but_never_followed_without_containment(void)
{
    /* sbx cp's downloads: a link to /etc is a link, nothing goes through it */
    const struct ent ok[] = {{'l', "etc", "/etc", 0}, {'l', "up", "../..", 0}};
    make_tar(tp("l.tar"), ok, 2, ARCHIVE_FILTER_NONE);
    int dfd = fresh_dst();
    struct arc_stats st;
    sbx_err err = {0};
    CHECK(extract(dfd, tp("l.tar"), ARC_AUTO, 0, 1 << 20, 100, NULL, &st, &err) == 0);
    char t[64] = "";
    CHECK(readlink(tp("dst/etc"), t, sizeof(t) - 1) == 4 && strcmp(t, "/etc") == 0);
    close(dfd);
    const struct ent bad[] = {{'l', "etc", "/etc", 0}, {'f', "etc/sbx-unit-pwned", "x", 0}};
    make_tar(tp("l.tar"), bad, 2, ARCHIVE_FILTER_NONE);
    dfd = fresh_dst();
    int r = extract(dfd, tp("l.tar"), ARC_AUTO, 0, 1 << 20, 100, NULL, &st, &err);
    close(dfd);
    CHECK(r < 0 && strcmp(err.code, "unsafe_entry") == 0);
    CHECK_CONTAINS(err.msg, "through a symlink");
    CHECK(access("/etc/sbx-unit-pwned", F_OK) != 0);
    CHECK(dst_untouched());
}

static void limits_and_unreadable_input_are_refused(void)
{
    const struct ent e[] = {{'f', "a", "0123456789", 0}, {'f', "b", "0123456789", 0},
                            {'f', "c", "x", 0}};
    make_tar(tp("l.tar"), e, 3, ARCHIVE_FILTER_NONE);
    struct arc_stats st;
    sbx_err err = {0};
    int dfd = fresh_dst();
    CHECK(extract(dfd, tp("l.tar"), ARC_AUTO, 1, 15, 100, NULL, &st, &err) < 0);
    CHECK_STR(err.code, "archive_too_large");
    CHECK(err.kind == SBX_E_TOOLARGE);
    CHECK(dst_untouched());
    CHECK(extract(dfd, tp("l.tar"), ARC_AUTO, 1, 100, 2, NULL, &st, &err) < 0);
    CHECK_STR(err.code, "archive_too_large");
    CHECK_CONTAINS(err.msg, "entries");
    CHECK(dst_untouched());
    /* a plain tar where tar.gz was announced; garbage; nothing; junk after the end */
    CHECK(extract(dfd, tp("l.tar"), ARC_TAR_GZ, 1, 100, 100, NULL, &st, &err) < 0);
    CHECK_STR(err.code, "invalid_archive");
    run("head -c 5000 /dev/urandom > /tmp/sbx-unit-arc-garbage");
    CHECK(extract(dfd, "/tmp/sbx-unit-arc-garbage", ARC_AUTO, 1, 100, 100, NULL, &st, &err) < 0);
    CHECK_STR(err.code, "invalid_archive");
    unlink("/tmp/sbx-unit-arc-garbage");
    run(": > /tmp/sbx-unit-arc-empty");
    CHECK(extract(dfd, "/tmp/sbx-unit-arc-empty", ARC_AUTO, 1, 100, 100, NULL, &st, &err) < 0);
    CHECK_CONTAINS(err.msg, "empty");
    unlink("/tmp/sbx-unit-arc-empty");
    run("cp @/l.tar @/junk.tar && head -c 2000000 /dev/urandom >> @/junk.tar");
    CHECK(extract(dfd, tp("junk.tar"), ARC_AUTO, 1, 100, 100, NULL, &st, &err) < 0);
    CHECK_CONTAINS(err.msg, "follow the end of the archive");
    CHECK(dst_untouched());
    /* the same archive, gzip'ed, where tar.gz is announced */
    make_tar(tp("l.tgz"), e, 3, ARCHIVE_FILTER_GZIP);
    CHECK(extract(dfd, tp("l.tgz"), ARC_TAR_GZ, 1, 100, 100, NULL, &st, &err) == 0);
    CHECK_STR(slurp("dst/c"), "x");
    close(dfd);
}

static void an_abandoned_upload_commits_nothing(void)
{
    const struct ent e[] = {{'f', "new", "x", 0}};
    make_tar(tp("a.tar"), e, 1, ARCHIVE_FILTER_NONE);
    int dfd = fresh_dst();
    struct arc_stats st;
    sbx_err err = {0};
    CHECK(extract(dfd, tp("a.tar"), ARC_AUTO, 1, 100, 100, commit_refused, &st, &err) < 0);
    CHECK_STR(err.code, "aborted");
    CHECK(dst_untouched());
    close(dfd);
}

static void merging_replaces_files_fills_directories_and_refuses_conflicts(void)
{
    int dfd = fresh_dst();
    run("cd @ && mkdir -p dst/d/keepdir && echo k > dst/d/keepfile && "
        "echo f > dst/wasfile && ln -s /etc dst/link && chmod 0711 dst/d");
    const struct ent e[] = {
        {'f', "keep", "new\n", 0},          /* replaces a file */
        {'d', "d", NULL, 0700},             /* merges: keeps its 0711 */
        {'f', "d/added", "a", 0},           /* lands inside */
        {'d', "wasfile", NULL, 0},          /* a directory replaces a file */
        {'f', "wasfile/x", "x", 0},
        {'d', "link", NULL, 0},             /* replaces the symlink; /etc untouched */
        {'f', "link/sbx-unit-pwned", "x", 0},
    };
    make_tar(tp("m.tar"), e, 7, ARCHIVE_FILTER_NONE);
    struct arc_stats st;
    sbx_err err = {0};
    int r = extract(dfd, tp("m.tar"), ARC_AUTO, 1, 100, 100, NULL, &st, &err);
    if (r < 0) fprintf(stderr, "  %s\n", err.msg);
    CHECK(r == 0);
    CHECK_STR(slurp("dst/keep"), "new\n");
    CHECK_STR(slurp("dst/d/keepfile"), "k\n");
    CHECK_STR(slurp("dst/d/added"), "a");
    CHECK_STR(slurp("dst/wasfile/x"), "x");
    CHECK_STR(slurp("dst/link/sbx-unit-pwned"), "x");
    CHECK(access("/etc/sbx-unit-pwned", F_OK) != 0);
    struct stat sd;
    CHECK(stat(tp("dst/d"), &sd) == 0 && (sd.st_mode & 07777) == 0711);
    CHECK(stat(tp("dst/d/keepdir"), &sd) == 0 && S_ISDIR(sd.st_mode));
    /* a file where a directory is: refused before anything moved */
    const struct ent c[] = {{'f', "zz-first", "1", 0}, {'f', "d", "file", 0}};
    make_tar(tp("c.tar"), c, 2, ARCHIVE_FILTER_NONE);
    r = extract(dfd, tp("c.tar"), ARC_AUTO, 1, 100, 100, NULL, &st, &err);
    CHECK(r < 0 && err.kind == SBX_E_CONFLICT);
    CHECK_CONTAINS(err.msg, "/dst/d is a directory");
    CHECK(access(tp("dst/zz-first"), F_OK) != 0);
    DIR *d = opendir(tp("dst"));
    struct dirent *de;
    while (d && (de = readdir(d)))
        CHECK(strncmp(de->d_name, ".sbx-archive-", 13) != 0);
    if (d) closedir(d);
    close(dfd);
}

static void a_packed_tree_extracts_to_the_same_tree(void)
{
    run("cd @ && rm -rf src && mkdir -p src/a/b src/empty && "
        "head -c 300000 /dev/urandom > src/a/rand && printf 'x\\0y' > src/a/b/bin && "
        "ln src/a/rand src/hard && ln -s a/b/bin src/link && ln -s /etc src/abs && "
        "mkfifo src/fifo && chmod 0750 src/a/b && touch -d 2020-09-13T12:26:40Z src/a/rand");
    int sfd = open(tp("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int out = open(tp("p.tzst"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct arc_packer pk;
    struct arc_stats st = {0};
    sbx_err err = {0};
    CHECK(arc_pack_begin(&pk, out, &(struct arc_pack_opts){.format = ARC_TAR_ZST}, &err) == 0);
    int r = arc_pack_tree(&pk, sfd, "src", &st, &err);
    if (r < 0) fprintf(stderr, "  %s\n", err.msg);
    CHECK(r == 0);
    arc_pack_free(&pk);
    close(out);
    close(sfd);
    CHECK(st.files == 2 && st.hardlinks == 1 && st.symlinks == 2 && st.dirs == 3 &&
          st.skipped == 1 && st.bytes == 300003);
    int dfd = fresh_dst();
    r = extract(dfd, tp("p.tzst"), ARC_TAR_ZST, 0, 1 << 20, 100, NULL, &st, &err);
    if (r < 0) fprintf(stderr, "  %s\n", err.msg);
    CHECK(r == 0);
    close(dfd);
    run("rm @/dst/keep; diff -r --no-dereference @/src @/dst 2>&1 | grep -v fifo > @/diff.out; "
        "true");
    CHECK_STR(slurp("diff.out"), "");
    struct stat s1, s2;
    CHECK(stat(tp("dst/a/rand"), &s1) == 0 && stat(tp("dst/hard"), &s2) == 0);
    CHECK(s1.st_ino == s2.st_ino && s1.st_mtime == 1600000000);
    CHECK(stat(tp("dst/a/b"), &s1) == 0 && (s1.st_mode & 0777) == 0750);
    CHECK(lstat(tp("dst/fifo"), &s1) < 0);
}

int main(void)
{
    snprintf(base, sizeof(base), "/tmp/sbx-unit-arc.XXXXXX");
    if (!mkdtemp(base)) return 2;
    RUN(a_good_archive_lands_with_modes_times_links_and_setid_cleared);
    RUN(hostile_entries_are_refused_and_leave_nothing);
    RUN(outside_symlinks_are_made_but_never_followed_without_containment);
    RUN(limits_and_unreadable_input_are_refused);
    RUN(an_abandoned_upload_commits_nothing);
    RUN(merging_replaces_files_fills_directories_and_refuses_conflicts);
    RUN(a_packed_tree_extracts_to_the_same_tree);
    run("chmod -R u+rwx @; rm -rf @");
    UNIT_MAIN_END();
}
