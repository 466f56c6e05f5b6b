/* userns.c - id-range slots and user namespace creation. */
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

int slots_init(struct slot_alloc *a, uint32_t base, uint32_t nslots, sbx_err *err)
{
    a->base = base;
    a->nslots = nslots;
    a->used = calloc((nslots + 7) / 8, 1);
    if (!a->used) return sbx_error(err, ENOMEM, "slots");
    return 0;
}

void slots_free(struct slot_alloc *a)
{
    free(a->used);
    a->used = NULL;
}

int slot_get(struct slot_alloc *a, sbx_err *err)
{
    for (uint32_t i = 0; i < a->nslots; i++) {
        if (!(a->used[i / 8] & (1u << (i % 8)))) {
            a->used[i / 8] |= (uint8_t)(1u << (i % 8));
            return (int)i;
        }
    }
    return sbx_error_kind(err, SBX_E_UNAVAILABLE, "unavailable",
                          "all %u user-namespace id ranges are in use; remove sessions or start "
                          "sbxd with a larger --id-slots",
                          a->nslots);
}

int slot_take(struct slot_alloc *a, int slot)
{
    if (slot < 0 || (uint32_t)slot >= a->nslots || (a->used[slot / 8] & (1u << (slot % 8))))
        return -1;
    a->used[slot / 8] |= (uint8_t)(1u << (slot % 8));
    return 0;
}

void slot_put(struct slot_alloc *a, int slot)
{
    if (slot >= 0 && (uint32_t)slot < a->nslots) a->used[slot / 8] &= (uint8_t)~(1u << (slot % 8));
}

uid_t slot_host_base(const struct slot_alloc *a, int slot)
{
    return (uid_t)(a->base + (uint32_t)slot * USERNS_IDS_PER_SLOT);
}

int userns_create(uid_t base, uint32_t count, sbx_err *err)
{
    char map[64];
    snprintf(map, sizeof(map), "0 %u %u\n", (unsigned)base, count);
    return userns_create_map(map, err);
}

int userns_create_map(const char *map, sbx_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return sbx_error(err, errno, "pipe");
    /* fork-like clone into a new user namespace; the child only waits. */
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return sbx_error(err, e, "clone(CLONE_NEWUSER)");
    }
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    close(p[0]);
    int fd = -1, ret = -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    if (write_file(path, map, err) < 0) goto out;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
    if (write_file(path, map, err) < 0) goto out;
    snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sbx_error(err, errno, "open %s", path);
        goto out;
    }
    ret = 0;
out:
    close(p[1]); /* releases the holder */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (ret < 0) {
        sbx_error_wrap(err, "user namespace");
        return -1;
    }
    return fd;
}
