/* packer.c - see packer.h. */
#include "packer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pack.h"

#define PIPE_SIZE 1048576 /* packer -> sbx pipe, when the kernel allows */

int packer_start(struct packer *p, const char *dir, enum arc_format format, sbx_err *err)
{
    *p = (struct packer)PACKER_INIT;
    int data[2], errp[2];
    if (pipe2(data, O_CLOEXEC) < 0) return sbx_error(err, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        close(data[0]);
        close(data[1]);
        return sbx_error(err, e, "pipe");
    }
    (void)fcntl(data[1], F_SETPIPE_SZ, PIPE_SIZE); /* fewer wakeups; a smaller pipe works too */
    fflush(NULL);                                  /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(data[0]);
        close(data[1]);
        close(errp[0]);
        close(errp[1]);
        return sbx_error(err, e, "fork");
    }
    if (pid == 0) {
        close(data[0]);
        close(errp[0]);
        sbx_err cerr = {0};
        struct arc_packer pk;
        struct arc_stats st = {0};
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = fd < 0 ? sbx_error(&cerr, errno, "cannot enter the directory")
                       : arc_pack_begin(&pk, data[1],
                                        &(struct arc_pack_opts){.format = format, .zero_owners = 1},
                                        &cerr);
        if (r == 0) {
            r = arc_pack_tree(&pk, fd, dir, &st, &cerr);
            arc_pack_free(&pk);
        }
        if (r == 0) _exit(0);
        ssize_t w = write(errp[1], cerr.msg, strlen(cerr.msg));
        (void)w;
        _exit(1);
    }
    close(data[1]);
    close(errp[1]);
    p->fd = data[0];
    p->errfd = errp[0];
    p->pid = pid;
    return 0;
}

/* The child is done writing: did it succeed? */
static int wait_child(struct packer *p, const char *label, sbx_err *err)
{
    int st;
    pid_t pid = p->pid;
    p->pid = -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return sbx_error(err, errno, "pack %s: wait", label);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    char msg[SBX_ERR_MSG_MAX - 64];
    ssize_t n;
    do n = read(p->errfd, msg, sizeof(msg) - 1);
    while (n < 0 && errno == EINTR);
    msg[n > 0 ? n : 0] = '\0';
    if (n > 0) return sbx_error(err, 0, "pack %s: %s", label, msg);
    if (WIFSIGNALED(st))
        return sbx_error(err, 0, "pack %s: the packer was killed by signal %d", label,
                         WTERMSIG(st));
    return sbx_error(err, 0, "pack %s: the packer failed (status %d)", label, WEXITSTATUS(st));
}

ssize_t packer_read(struct packer *p, const char *label, char *buf, size_t cap, sbx_err *err)
{
    for (;;) {
        ssize_t n = read(p->fd, buf, cap);
        if (n > 0) return n;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sbx_error(err, errno, "read %s", label);
        if (p->pid > 0 && wait_child(p, label, err) < 0) return -1;
        return 0;
    }
}

void packer_stop(struct packer *p)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    if (p->pid > 0) { /* the upload ended before the tar did */
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        p->pid = -1;
    }
    if (p->errfd >= 0) close(p->errfd);
    p->errfd = -1;
}
