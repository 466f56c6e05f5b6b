/* projid - a static test tool for disk quota tests (tests/integration/test_disk.sh).
 *
 *   projid get PATH            print "PROJID INHERIT" (INHERIT: 1 if FS_XFLAG_PROJINHERIT)
 *   projid set PATH ID         set PATH's project id (FS_IOC_FSSETXATTR)
 *   projid noinherit PATH      clear PATH's FS_XFLAG_PROJINHERIT
 *   projid quota PATH ID       print "BYTES_LIMIT INODES_LIMIT BYTES_USED INODES_USED" of
 *                              project ID on PATH's filesystem (quotactl_fd Q_GETQUOTA)
 *
 * Exit 0 on success; 1 with "projid: OP: strerror" on stderr otherwise. Run
 * inside sandboxes (no chattr/lsattr in busybox) and on the host. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

static int die(const char *op)
{
    fprintf(stderr, "projid: %s: %s\n", op, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: projid get|set|noinherit|quota PATH [ID]\n");
        return 2;
    }
    const char *op = argv[1];
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0) return die("open");
    if (strcmp(op, "quota") == 0 && argc == 4) {
        struct if_dqblk b;
        memset(&b, 0, sizeof(b));
        if (syscall(SYS_quotactl_fd, fd, ((unsigned)Q_GETQUOTA << SUBCMDSHIFT) | PRJQUOTA,
                    (unsigned)atoll(argv[3]), &b) < 0)
            return die("quotactl");
        printf("%llu %llu %llu %llu\n", (unsigned long long)b.dqb_bhardlimit * QIF_DQBLKSIZE,
               (unsigned long long)b.dqb_ihardlimit, (unsigned long long)b.dqb_curspace,
               (unsigned long long)b.dqb_curinodes);
        return 0;
    }
    struct fsxattr fa;
    if (ioctl(fd, FS_IOC_FSGETXATTR, &fa) < 0) return die("FS_IOC_FSGETXATTR");
    if (strcmp(op, "get") == 0) {
        printf("%u %d\n", fa.fsx_projid, (fa.fsx_xflags & FS_XFLAG_PROJINHERIT) ? 1 : 0);
        return 0;
    }
    if (strcmp(op, "set") == 0 && argc == 4) {
        fa.fsx_projid = (unsigned)atoll(argv[3]);
    } else if (strcmp(op, "noinherit") == 0) {
        fa.fsx_xflags &= ~(unsigned)FS_XFLAG_PROJINHERIT;
    } else {
        fprintf(stderr, "projid: bad arguments\n");
        return 2;
    }
    if (ioctl(fd, FS_IOC_FSSETXATTR, &fa) < 0) return die("FS_IOC_FSSETXATTR");
    return 0;
}
