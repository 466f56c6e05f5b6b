/* mounts.c - root filesystem of a sandbox.
 *
 * Every mount target inside the new root is opened with openat2(
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS) and mounted
 * through /proc/self/fd/N, so a symlink planted in a workspace can never
 * redirect a mount outside the sandbox root. Must never mount anything on a
 * host path outside <ws>. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "userns.h"
#include "wsrules.h"

/* Docker's defaults (moby profiles): masked and read-only /proc paths. */
static const char *const masked_paths[] = {
    "proc/acpi",       "proc/asound",     "proc/interrupts",  "proc/kcore",
    "proc/keys",       "proc/latency_stats", "proc/sched_debug", "proc/scsi",
    "proc/timer_list", "proc/timer_stats", "proc/sysrq-trigger",
};
static const char *const readonly_paths[] = {
    "proc/bus", "proc/fs", "proc/irq", "proc/sys",
};
static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int open_beneath(int rootfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

static void fdpath(char *buf, size_t cap, int fd)
{
    snprintf(buf, cap, "/proc/self/fd/%d", fd);
}

/* mkdir -p rel beneath rootfd (no symlinks followed), returns O_PATH fd. */
static int mkdir_beneath(int rootfd, const char *rel, mode_t mode, sbx_err *err)
{
    char buf[256];
    if (strlen(rel) >= sizeof(buf)) return sbx_error(err, ENAMETOOLONG, "%s", rel);
    strcpy(buf, rel);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            _cleanup_close_ int dfd = open_beneath(rootfd, buf, O_PATH | O_DIRECTORY);
            if (dfd < 0) {
                if (errno != ENOENT) return sbx_error(err, errno, "open /%s in sandbox root", buf);
                if (mkdirat(rootfd, buf, mode) < 0 && errno != EEXIST)
                    return sbx_error(err, errno, "mkdir /%s in sandbox root", buf);
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    int fd = open_beneath(rootfd, rel, O_PATH | O_DIRECTORY);
    if (fd < 0) return sbx_error(err, errno, "open /%s in sandbox root", rel);
    return fd;
}

static int mount_on(int rootfd, const char *rel, int is_dir, const char *src, const char *fstype,
                    unsigned long flags, const char *data, sbx_err *err)
{
    _cleanup_close_ int fd = -1;
    if (is_dir) {
        fd = mkdir_beneath(rootfd, rel, 0755, err);
        if (fd < 0) return -1;
    } else {
        fd = open_beneath(rootfd, rel, O_PATH);
        if (fd < 0) return sbx_error(err, errno, "open /%s in sandbox root", rel);
    }
    char target[64];
    fdpath(target, sizeof(target), fd);
    if (mount(src, target, fstype, flags, data) < 0)
        return sbx_error(err, errno, "mount %s on /%s", fstype ? fstype : src, rel);
    return 0;
}

/* Make an existing mount at rel read-only (bind remount keeps other flags). */
static int remount_ro(int rootfd, const char *rel, unsigned long extra, sbx_err *err)
{
    _cleanup_close_ int fd = open_beneath(rootfd, rel, O_PATH);
    if (fd < 0) return sbx_error(err, errno, "open /%s", rel);
    char target[64];
    fdpath(target, sizeof(target), fd);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, NULL) < 0)
        return sbx_error(err, errno, "remount /%s read-only", rel);
    return 0;
}

/* A named workspace (cwd: <ws>): a detached clone of its directory,
 * idmapped so that the ids its files have on disk appear as the session's
 * (wsrules.h), attached at <ws>/ws. upper/ and work/ are both in it: overlayfs
 * wants them on one mount. */
static int attach_workspace(const struct sandbox_spec *spec, sbx_err *err)
{
    char map[128];
    if (ws_idmap_text(spec->workspace_id_base, spec->id_base, spec->id_count, map, sizeof(map)) < 0)
        return sbx_error(
            err, EINVAL, "workspace %s: unusable id ranges (files at %u, session at %u)",
            spec->workspace, (unsigned)spec->workspace_id_base, (unsigned)spec->id_base);
    _cleanup_close_ int userns = userns_create_map(map, err);
    if (userns < 0) return sbx_error_wrap(err, "workspace %s", spec->workspace);
    if (mkdir("ws", 0700) < 0 && errno != EEXIST)
        return sbx_error(err, errno, "mkdir %s/ws", spec->ws_dir);
    _cleanup_close_ int tree =
        (int)syscall(SYS_open_tree, AT_FDCWD, spec->workspace,
                     OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (tree < 0) return sbx_error(err, errno, "open_tree %s", spec->workspace);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return sbx_error(err, errno, "idmap workspace %s", spec->workspace);
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, "ws", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return sbx_error(err, errno, "attach workspace %s at %s/ws", spec->workspace, spec->ws_dir);
    return 0;
}

/* The image's layers (spec->image_rootfs: top first, ':'-separated) under the
 * session's upper dir. With idmapped mounts each layer is a detached clone
 * mapped into the session's userns, attached at <ws>/lower/<i>; the overlay
 * is mounted from <ws> with relative layer paths so that even deep images fit
 * in one page of mount options. */
int mounts_prepare_root(const struct sandbox_spec *spec, int userns_fd, sbx_err *err)
{
    char opts[4096];
    size_t o = 0;
    _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (chdir(spec->ws_dir) < 0) return sbx_error(err, errno, "chdir %s", spec->ws_dir);
    o += (size_t)snprintf(opts, sizeof(opts), "lowerdir=");
    const char *p = spec->image_rootfs;
    int rc = -1;
    for (int i = 0; *p; i++) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char layer[4096], rel[32];
        if (n == 0 || n >= sizeof(layer)) {
            sbx_error(err, EINVAL, "bad image layer list");
            goto out;
        }
        memcpy(layer, p, n);
        layer[n] = '\0';
        p += n + (colon ? 1 : 0);
        const char *use = layer;
        if (spec->idmap) {
            /* A detached clone of the layer, idmapped into the session's userns
             * and read-only, so image files owned by host root appear owned by
             * the sandbox's root (and 1000 by its user) without copying. */
            snprintf(rel, sizeof(rel), "lower%d", i);
            if (i > 0 && mkdir(rel, 0755) < 0 && errno != EEXIST) {
                sbx_error(err, errno, "mkdir %s/%s", spec->ws_dir, rel);
                goto out;
            }
            if (i == 0) snprintf(rel, sizeof(rel), "lower");
            _cleanup_close_ int tree =
                (int)syscall(SYS_open_tree, AT_FDCWD, layer, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
            if (tree < 0) {
                sbx_error(err, errno, "open_tree %s", layer);
                goto out;
            }
            struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                            MOUNT_ATTR_NODEV,
                .userns_fd = (uint64_t)userns_fd,
            };
            if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
                sbx_error(err, errno, "idmap image layer %s", layer);
                goto out;
            }
            if (syscall(SYS_move_mount, tree, "", AT_FDCWD, rel, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
                sbx_error(err, errno, "attach image layer at %s/%s", spec->ws_dir, rel);
                goto out;
            }
            use = rel;
        }
        int w = snprintf(opts + o, sizeof(opts) - o, "%s%s", i ? ":" : "", use);
        if (w < 0 || (size_t)w >= sizeof(opts) - o - 128) {
            sbx_error(err, E2BIG, "image has too many layers for one overlayfs mount");
            goto out;
        }
        o += (size_t)w;
    }
    if (spec->workspace && spec->workspace[0]) {
        if (attach_workspace(spec, err) < 0) goto out;
        /* The upper layer outlives its lower layers (the next session may use
         * another image): nothing in it may refer to them. No index (it pins
         * the upper to its first lower), no metacopy (data left in a lower),
         * no redirects (lower paths). */
        snprintf(opts + o, sizeof(opts) - o,
                 ",upperdir=ws/upper,workdir=ws/work,index=off,metacopy=off,redirect_dir=off");
    } else {
        snprintf(opts + o, sizeof(opts) - o, ",upperdir=upper,workdir=work");
    }
    if (mount("overlay", "merged", "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
        sbx_error(err, errno, "mount overlay root (image %s, workspace %s/upper)",
                  spec->image_rootfs,
                  spec->workspace && spec->workspace[0] ? spec->workspace : spec->ws_dir);
        goto out;
    }
    rc = 0;
out:
    if (cwd >= 0 && fchdir(cwd) < 0 && rc == 0) rc = sbx_error(err, errno, "fchdir back");
    return rc;
}

static int setup_dev(int rootfd, sbx_err *err)
{
    if (mount_on(rootfd, "dev", 1, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC,
                 "mode=0755,size=65536,nr_inodes=256", err) < 0)
        return -1;
    _cleanup_close_ int devfd = open_beneath(rootfd, "dev", O_PATH | O_DIRECTORY);
    if (devfd < 0) return sbx_error(err, errno, "open /dev");
    for (size_t i = 0; i < SBX_ARRAY_SIZE(dev_nodes); i++) {
        char rel[32], host[32];
        snprintf(rel, sizeof(rel), "dev/%s", dev_nodes[i]);
        snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
        int f = openat(rootfd, rel, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (f < 0) return sbx_error(err, errno, "create /%s", rel);
        close(f);
        if (mount_on(rootfd, rel, 0, host, NULL, MS_BIND, NULL, err) < 0) return -1;
    }
    if (mount_on(rootfd, "dev/pts", 1, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620", err) < 0)
        return -1;
    if (mount_on(rootfd, "dev/shm", 1, "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=1777,size=67108864", err) < 0)
        return -1;
    if (mount_on(rootfd, "dev/mqueue", 1, "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 NULL, err) < 0)
        return -1;
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"},         {"/proc/self/fd", "fd"},
        {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"},
    };
    for (size_t i = 0; i < SBX_ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], devfd, links[i][1]) < 0)
            return sbx_error(err, errno, "symlink /dev/%s", links[i][1]);
    return remount_ro(rootfd, "dev", MS_NOSUID | MS_NOEXEC, err);
}

static int mask_paths(int rootfd, sbx_err *err)
{
    for (size_t i = 0; i < SBX_ARRAY_SIZE(masked_paths); i++) {
        const char *rel = masked_paths[i];
        struct stat st;
        _cleanup_close_ int fd = open_beneath(rootfd, rel, O_PATH);
        if (fd < 0) continue; /* not present on this kernel */
        if (fstat(fd, &st) < 0) return sbx_error(err, errno, "stat /%s", rel);
        int r = S_ISDIR(st.st_mode)
                    ? mount_on(rootfd, rel, 1, "tmpfs", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV |
                                                                    MS_NOEXEC, "size=0,nr_inodes=1", err)
                    : mount_on(rootfd, rel, 0, "/dev/null", NULL, MS_BIND, NULL, err);
        if (r < 0) return -1;
    }
    for (size_t i = 0; i < SBX_ARRAY_SIZE(readonly_paths); i++) {
        const char *rel = readonly_paths[i];
        _cleanup_close_ int fd = open_beneath(rootfd, rel, O_PATH);
        if (fd < 0) continue;
        char p[64];
        fdpath(p, sizeof(p), fd);
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return sbx_error(err, errno, "bind /%s", rel);
        if (remount_ro(rootfd, rel, MS_NOSUID | MS_NODEV | MS_NOEXEC, err) < 0) return -1;
    }
    return 0;
}

static int write_at(int dirfd, const char *name, const char *a, size_t alen, const char *b,
                    size_t blen, sbx_err *err)
{
    _cleanup_close_ int fd =
        openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return sbx_error(err, errno, "write /etc/ssl/certs/%s", name);
    struct iovec iov[3] = {{(void *)a, alen}, {(void *)"\n", alen && a[alen - 1] != '\n'},
                           {(void *)b, blen}};
    size_t want = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
    if (writev(fd, iov, 3) != (ssize_t)want)
        return sbx_error(err, errno ? errno : EIO, "write /etc/ssl/certs/%s", name);
    return 0;
}

/* /etc/ssl/certs/sbx-node-ca.pem (the CA alone, for NODE_EXTRA_CA_CERTS) and
 * the system bundle /etc/ssl/certs/ca-certificates.crt with the CA appended
 * (created when the image has none). Written in the session's upper layer:
 * the image is untouched; in a named workspace, where the upper layer is
 * kept, the CA is not appended twice. */
static int install_ca(int rootfd, const char *pem, sbx_err *err)
{
    _cleanup_close_ int certs = mkdir_beneath(rootfd, "etc/ssl/certs", 0755, err);
    if (certs < 0) return -1;
    _cleanup_close_ int dir = openat(certs, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return sbx_error(err, errno, "open /etc/ssl/certs");
    size_t plen = strlen(pem);
    if (write_at(dir, "sbx-node-ca.pem", pem, plen, NULL, 0, err) < 0) return -1;
    _cleanup_free_ char *bundle = NULL;
    size_t blen = 0;
    _cleanup_close_ int bfd = openat(dir, "ca-certificates.crt", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd >= 0) {
        struct stat st;
        if (fstat(bfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20))
            return sbx_error(err, EINVAL, "/etc/ssl/certs/ca-certificates.crt is not a bundle");
        bundle = malloc((size_t)st.st_size + 1);
        if (!bundle) return sbx_error(err, ENOMEM, "CA bundle");
        while (blen < (size_t)st.st_size) {
            ssize_t n = read(bfd, bundle + blen, (size_t)st.st_size - blen);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            blen += (size_t)n;
        }
        bundle[blen] = '\0';
        if (memmem(bundle, blen, pem, plen)) return 0; /* there already */
    } else if (errno != ENOENT) {
        return sbx_error(err, errno, "open /etc/ssl/certs/ca-certificates.crt");
    }
    return write_at(dir, "ca-certificates.crt", bundle ? bundle : "", blen, pem, plen, err);
}

int mounts_enter_root(int lockedfd, const struct sandbox_spec *spec, sbx_err *err)
{
    char tmpopts[96];
    /* 0. The overlay came from a more privileged mount namespace, so it is
     * locked and pivot_root refuses it. A recursive clone made here is ours:
     * stack it on top and build the sandbox root on the clone. */
    _cleanup_close_ int rootfd = (int)syscall(SYS_open_tree, lockedfd, "",
                                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
                                                  AT_EMPTY_PATH);
    if (rootfd < 0) return sbx_error(err, errno, "clone the root mount");
    if (syscall(SYS_move_mount, rootfd, "", lockedfd, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sbx_error(err, errno, "attach the root mount");

    /* 1. a fresh /proc for the sandbox's pid namespace */
    if (mount_on(rootfd, "proc", 1, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
        return -1;
    /* 2. a minimal /dev */
    if (setup_dev(rootfd, err) < 0) return -1;
    /* 3. a size-limited /tmp (pages are charged to the session's memory cgroup) */
    snprintf(tmpopts, sizeof(tmpopts), "mode=1777,size=%llu", (unsigned long long)spec->tmp_size);
    if (mount_on(rootfd, "tmp", 1, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, tmpopts, err) < 0)
        return -1;
    /* 4. Docker's masked and read-only /proc paths (needs /dev/null above) */
    if (mask_paths(rootfd, err) < 0) return -1;
    /* 5. DNS goes to sbx-shim through the egress gateway (a file in the
     * session's own upper layer: the image is not touched) */
    if (spec->resolv_conf) {
        _cleanup_close_ int etc = open_beneath(rootfd, "etc", O_PATH | O_DIRECTORY);
        if (etc >= 0) {
            _cleanup_close_ int fd = openat(etc, "resolv.conf",
                                            O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd < 0) return sbx_error(err, errno, "write /etc/resolv.conf");
            size_t len = strlen(spec->resolv_conf);
            if (write(fd, spec->resolv_conf, len) != (ssize_t)len)
                return sbx_error(err, errno, "write /etc/resolv.conf");
        }
    }
    /* 5b. the node CA the shim terminates TLS with (docs/secrets.md) */
    if (spec->ca_pem && install_ca(rootfd, spec->ca_pem, err) < 0)
        return sbx_error_wrap(err, "install the node CA");
    /* 6. pivot_root with the old root stacked on the new one, then detached */
    if (fchdir(rootfd) < 0) return sbx_error(err, errno, "chdir into the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0) return sbx_error(err, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0) return sbx_error(err, errno, "detach old root");
    if (chdir("/") < 0) return sbx_error(err, errno, "chdir /");
    return 0;
}
