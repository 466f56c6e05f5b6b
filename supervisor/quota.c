/* quota.c - per-session disk quotas: project ids, quotactl, sbxd's volume.
 * See quota.h. */
#include "quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/quota.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "sbxd.h"
#include "util.h"

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif
#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
    __u32 fd;
    __u32 block_size;
    struct loop_info64 info;
    __u64 __reserved[8];
};
#endif

#define VOLUME_MIN (256ULL << 20)
#define VOLUME_MAX (256ULL << 30)

const char *quota_mode_name(enum quota_mode m)
{
    switch (m) {
    case QUOTA_PROJECT:
        return "project";
    case QUOTA_VOLUME_TOTAL:
        return "volume-total";
    default:
        return "off";
    }
}

static long qctl(int fd, int cmd, uint32_t id, void *addr)
{
    /* QCMD() shifts a signed int past its sign bit (UB): build it unsigned */
    unsigned qcmd = ((unsigned)cmd << SUBCMDSHIFT) | (PRJQUOTA & SUBCMDMASK);
    return syscall(SYS_quotactl_fd, fd, qcmd, id, addr);
}

/* Project quotas are on for the filesystem of fd. */
static int prj_on(int fd)
{
    struct if_dqinfo info;
    memset(&info, 0, sizeof(info));
    return qctl(fd, Q_GETINFO, 0, &info) == 0;
}

static int is_mountpoint_over(const char *path, const char *parent)
{
    struct stat a, b;
    return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* Entries of dir other than an empty ".trash" (what workspace_init makes). */
static int has_data(const char *dir)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (strcmp(de->d_name, ".trash") == 0) {
            char p[4400];
            snprintf(p, sizeof(p), "%s/.trash", dir);
            n += has_data(p);
            continue;
        }
        n++;
    }
    return n;
}

static int run_mkfs(const char *img, int with_quota, sbx_err *err)
{
    pid_t pid = fork();
    if (pid < 0) return sbx_error(err, errno, "fork");
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
        }
        /* no root reserve: the volume is sbxd's alone; lazy init keeps the
         * first start cheap (the kernel zeroes inode tables in the
         * background), and so does nodiscard (a discard of a whole loop
         * device took 4.5 s for 36 GB) */
        if (with_quota)
            execlp("mkfs.ext4", "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "quota,project", "-E",
                   "lazy_itable_init=1,lazy_journal_init=1,nodiscard", img, (char *)NULL);
        else
            execlp("mkfs.ext4", "mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                   "lazy_itable_init=1,lazy_journal_init=1,nodiscard", img, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return sbx_error(err, errno, "waitpid mkfs.ext4");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return sbx_error(err, EIO, "mkfs.ext4 %s failed (status %d%s)", img,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                         WIFEXITED(st) && WEXITSTATUS(st) == 127 ? ": not found (e2fsprogs)" : "");
    return 0;
}

/* A loop device that already has img attached (a previous sbxd's, whose
 * mounts went with its mount namespace while sandboxes still use it), else -1. */
static int find_loop(const char *img, char *dev, size_t cap)
{
    _cleanup_closedir_ DIR *d = opendir("/sys/block");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "loop", 4) != 0) continue;
        char p[512], back[4200];
        snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, back, sizeof(back) - 1);
        if (n <= 0) continue;
        back[n] = '\0';
        if (back[n - 1] == '\n') back[n - 1] = '\0';
        if (strcmp(back, img) == 0) {
            snprintf(dev, cap, "/dev/%s", de->d_name);
            return 0;
        }
    }
    return -1;
}

/* Attach img to a free loop device (auto-cleared when its last user goes);
 * returns the open device (the caller mounts it, then closes it). */
static int loop_attach(const char *img, char *dev, size_t cap, sbx_err *err)
{
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) return sbx_error(err, errno, "open /dev/loop-control (no loop devices?)");
    _cleanup_close_ int bfd = open(img, O_RDWR | O_CLOEXEC);
    if (bfd < 0) return sbx_error(err, errno, "open %s", img);
    for (int tries = 0; tries < 16; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) return sbx_error(err, errno, "LOOP_CTL_GET_FREE");
        snprintf(dev, cap, "/dev/loop%d", n);
        int lfd = open(dev, O_RDWR | O_CLOEXEC);
        if (lfd < 0) return sbx_error(err, errno, "open %s", dev);
        struct loop_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.fd = (__u32)bfd;
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", img);
        if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) return lfd;
        if (errno == EINVAL || errno == ENOTTY) { /* before Linux 5.8 */
            if (ioctl(lfd, LOOP_SET_FD, bfd) == 0) {
                struct loop_info64 info;
                memset(&info, 0, sizeof(info));
                info.lo_flags = LO_FLAGS_AUTOCLEAR;
                if (ioctl(lfd, LOOP_SET_STATUS64, &info) == 0) return lfd;
                int e = errno;
                ioctl(lfd, LOOP_CLR_FD, 0);
                close(lfd);
                return sbx_error(err, e, "LOOP_SET_STATUS64 %s", dev);
            }
        }
        int e = errno;
        close(lfd);
        if (e != EBUSY) return sbx_error(err, e, "attach %s to %s", img, dev);
    }
    return sbx_error(err, EBUSY, "no free loop device for %s", img);
}

static int bind_onto(const char *from, const char *to, sbx_err *err)
{
    if (mkdir(from, 0700) < 0 && errno != EEXIST) return sbx_error(err, errno, "create %s", from);
    if (mkdir(to, 0700) < 0 && errno != EEXIST) return sbx_error(err, errno, "create %s", to);
    if (mount(from, to, NULL, MS_BIND, NULL) < 0)
        return sbx_error(err, errno, "bind %s onto %s", from, to);
    return 0;
}

/* STATE/volume: make (once), attach, mount; bind its sessions/ and
 * workspaces/ onto STATE/. 1: in use, 0: not usable (q->why says why), -1:
 * an existing volume is broken. */
static int volume_setup(struct sbxd *d, sbx_err *err)
{
    struct quota *q = &d->quota;
    const char *st = d->cfg.state_dir;
    char img[4200], sess[4200], ws[4200], vs[4300], vw[4300];
    snprintf(q->volume_dir, sizeof(q->volume_dir), "%s/volume", st);
    snprintf(img, sizeof(img), "%s/volume.img", st);
    snprintf(sess, sizeof(sess), "%s/sessions", st);
    snprintf(ws, sizeof(ws), "%s/workspaces", st);
    snprintf(vs, sizeof(vs), "%s/sessions", q->volume_dir);
    snprintf(vw, sizeof(vw), "%s/workspaces", q->volume_dir);
    if (mkdir(q->volume_dir, 0700) < 0 && errno != EEXIST)
        return sbx_error(err, errno, "create %s", q->volume_dir);

    if (!is_mountpoint_over(q->volume_dir, st)) {
        struct stat sb;
        int made = 0;
        if (stat(img, &sb) < 0) {
            if (errno != ENOENT) return sbx_error(err, errno, "stat %s", img);
            if (has_data(sess) || has_data(ws)) {
                snprintf(q->why, sizeof(q->why),
                         "%s or %s holds data from an sbxd without a volume: move it away to "
                         "get the volume",
                         sess, ws);
                return 0;
            }
            uint64_t size = q->volume_size;
            if (!size) {
                struct statvfs sv;
                if (statvfs(st, &sv) < 0) return sbx_error(err, errno, "statvfs %s", st);
                size = (uint64_t)sv.f_bavail * sv.f_frsize / 2;
                if (size < VOLUME_MIN) size = VOLUME_MIN;
                if (size > VOLUME_MAX) size = VOLUME_MAX;
            }
            char tmp[4300];
            snprintf(tmp, sizeof(tmp), "%s.tmp", img);
            unlink(tmp);
            double t0 = now_mono();
            _cleanup_close_ int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0) return sbx_error(err, errno, "create %s", tmp);
            if (ftruncate(fd, (off_t)size) < 0) {
                sbx_error(err, errno, "size %s to %llu bytes", tmp, (unsigned long long)size);
                unlink(tmp);
                return -1;
            }
            if (run_mkfs(tmp, 1, err) < 0) {
                unlink(tmp);
                snprintf(q->why, sizeof(q->why), "%s", err->msg);
                return 0;
            }
            if (rename(tmp, img) < 0) return sbx_error(err, errno, "rename %s", tmp);
            made = 1;
            log_info("disk volume %s: %llu bytes, made in %.0f ms", img, (unsigned long long)size,
                     (now_mono() - t0) * 1000);
        }
        char real[PATH_MAX], dev[64];
        if (!realpath(img, real)) return sbx_error(err, errno, "realpath %s", img);
        _cleanup_close_ int lfd = -1;
        if (find_loop(real, dev, sizeof(dev)) < 0) {
            lfd = loop_attach(real, dev, sizeof(dev), err);
            if (lfd < 0) {
                snprintf(q->why, sizeof(q->why), "%s", err->msg);
                return 0;
            }
        }
        double t0 = now_mono();
        if (mount(dev, q->volume_dir, "ext4", MS_NOSUID | MS_NODEV, "prjquota") < 0) {
            int e = errno;
            /* A kernel without quota support (CONFIG_QUOTA, CONFIG_QFMT_V2)
             * does not mount an ext4 with the quota feature at all: a volume
             * made now is made again without it (it still caps what
             * sandboxes write in all); one made earlier was made so. */
            if (mount(dev, q->volume_dir, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
                if (!made || lfd < 0 || run_mkfs(dev, 0, err) < 0 ||
                    mount(dev, q->volume_dir, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0)
                    return sbx_error(err, e, "mount %s (%s) at %s", img, dev, q->volume_dir);
            }
            log_warn("disk volume %s: mounted without prjquota (%s): the kernel has no project "
                     "quota support (CONFIG_QUOTA, CONFIG_QFMT_V2)",
                     img, strerror(e));
        }
        log_info("disk volume %s: mounted at %s in %.0f ms", img, q->volume_dir,
                 (now_mono() - t0) * 1000);
    }
    if (!is_mountpoint_over(sess, st) && bind_onto(vs, sess, err) < 0) return -1;
    if (!is_mountpoint_over(ws, st) && bind_onto(vw, ws, err) < 0) return -1;
    q->volume = 1;
    return 1;
}

int quota_init(struct sbxd *d, sbx_err *err)
{
    struct quota *q = &d->quota;
    q->fsfd = -1;
    q->mode = QUOTA_OFF;
    if (q->disabled) {
        snprintf(q->why, sizeof(q->why), "--disk-quota off");
        log_warn("disk quotas off (--disk-quota off): sandboxes can fill %s", d->cfg.state_dir);
        return 0;
    }
    char img[4200];
    snprintf(img, sizeof(img), "%s/volume.img", d->cfg.state_dir);
    _cleanup_close_ int sfd = open(d->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0) return sbx_error(err, errno, "open %s", d->cfg.state_dir);
    if (access(img, F_OK) != 0 && prj_on(sfd)) {
        q->fsfd = sfd;
        sfd = -1;
        q->mode = QUOTA_PROJECT;
        log_info("disk quotas: project quotas of the filesystem of %s", d->cfg.state_dir);
        return 0;
    }
    int r = volume_setup(d, err);
    if (r < 0) return -1;
    if (r == 0) {
        log_warn("disk quotas off: %s; sandboxes can fill %s", q->why, d->cfg.state_dir);
        return 0;
    }
    q->fsfd = open(q->volume_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->fsfd < 0) return sbx_error(err, errno, "open %s", q->volume_dir);
    if (prj_on(q->fsfd)) {
        q->mode = QUOTA_PROJECT;
        log_info("disk quotas: project quotas on the volume %s", img);
    } else {
        q->mode = QUOTA_VOLUME_TOTAL;
        snprintf(q->why, sizeof(q->why),
                 "the kernel has no project quota support (CONFIG_QUOTA, CONFIG_QFMT_V2): only "
                 "the volume's size limits what sandboxes write");
        log_warn("disk quotas: %s", q->why);
    }
    return 0;
}

void quota_fini(struct sbxd *d)
{
    /* The volume stays mounted: STATE/sessions and STATE/workspaces keep
     * their files at the same paths while sbxd is stopped, and the next sbxd
     * finds it mounted (quota.h). */
    if (d->quota.fsfd >= 0) close(d->quota.fsfd);
    d->quota.fsfd = -1;
}

int quota_tag_dir(struct sbxd *d, const char *path, uint32_t projid, sbx_err *err)
{
    if (d->quota.mode != QUOTA_PROJECT) return 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sbx_error(err, errno, "open %s", path);
    struct fsxattr fa;
    if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0)
        return sbx_error(err, errno, "get attrs of %s", path);
    fa.fsx_projid = projid;
    fa.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0)
        return sbx_error(err, errno, "set project id %u on %s", projid, path);
    return 0;
}

int quota_set(struct sbxd *d, uint32_t projid, uint64_t bytes, uint64_t inodes, sbx_err *err)
{
    if (d->quota.mode != QUOTA_PROJECT) return 0;
    struct if_dqblk b;
    memset(&b, 0, sizeof(b));
    b.dqb_bhardlimit = (bytes + QIF_DQBLKSIZE - 1) / QIF_DQBLKSIZE;
    b.dqb_ihardlimit = inodes;
    b.dqb_valid = QIF_LIMITS;
    if (qctl(d->quota.fsfd, Q_SETQUOTA, projid, &b) < 0)
        return sbx_error(err, errno, "set the disk quota of project %u", projid);
    return 0;
}

int quota_usage(struct sbxd *d, uint32_t projid, uint64_t *bytes, uint64_t *inodes)
{
    if (d->quota.mode != QUOTA_PROJECT) return -1;
    struct if_dqblk b;
    memset(&b, 0, sizeof(b));
    if (qctl(d->quota.fsfd, Q_GETQUOTA, projid, &b) < 0) return -1;
    *bytes = b.dqb_curspace;
    *inodes = b.dqb_curinodes;
    return 0;
}
