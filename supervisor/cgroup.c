/* cgroup.c - session cgroups: v2 driver, v1 controllers on hybrid hosts. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const v1_ctrl[CGV1_N] = {"memory", "pids", "cpu"};

const char *cg_mode_name(enum cg_mode m)
{
    return m == CG_V2 ? "v2" : "hybrid";
}

static int is_cgroup2(const char *path)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n')) return 1;
    return 0;
}

/* Enable memory, pids, cpu for children of dir (v2). */
static int enable_controllers(const char *dir, sbx_err *err)
{
    char path[PATH_MAX + 32], have[512], ctl[512];
    snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
    if (read_file(path, have, sizeof(have), err) < 0) return -1;
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
    if (read_file(path, ctl, sizeof(ctl), err) < 0) return -1;
    for (int i = 0; i < CGV1_N; i++) {
        if (has_word(ctl, v1_ctrl[i])) continue;
        if (!has_word(have, v1_ctrl[i]))
            return sbx_error(err, 0,
                             "cgroup v2 controller \"%s\" is not available in %s (enable it in the "
                             "parent's cgroup.subtree_control)",
                             v1_ctrl[i], dir);
        char w[32];
        snprintf(w, sizeof(w), "+%s", v1_ctrl[i]);
        if (write_file(path, w, err) < 0) return -1;
    }
    return 0;
}

int cg_mgr_init(struct cg_mgr *m, const char *name, sbx_err *err)
{
    memset(m, 0, sizeof(*m));
    if (is_cgroup2("/sys/fs/cgroup")) {
        m->mode = CG_V2;
        snprintf(m->v2_root, sizeof(m->v2_root), "/sys/fs/cgroup/%s", name);
    } else if (is_cgroup2("/sys/fs/cgroup/unified")) {
        m->mode = CG_HYBRID;
        snprintf(m->v2_root, sizeof(m->v2_root), "/sys/fs/cgroup/unified/%s", name);
        for (int i = 0; i < CGV1_N; i++) {
            snprintf(m->v1_root[i], sizeof(m->v1_root[i]), "/sys/fs/cgroup/%s/%s", v1_ctrl[i], name);
            if (mkdir(m->v1_root[i], 0755) < 0 && errno != EEXIST)
                return sbx_error(err, errno, "create cgroup v1 %s", m->v1_root[i]);
        }
    } else {
        return sbx_error(err, 0,
                         "no cgroup v2 hierarchy found at /sys/fs/cgroup or /sys/fs/cgroup/unified "
                         "(sbx needs cgroup v2, or hybrid mode)");
    }
    if (mkdir(m->v2_root, 0755) < 0 && errno != EEXIST)
        return sbx_error(err, errno, "create cgroup %s", m->v2_root);
    if (m->mode == CG_V2) {
        if (enable_controllers("/sys/fs/cgroup", err) < 0) return -1;
        if (enable_controllers(m->v2_root, err) < 0) return -1;
    }
    return 0;
}

static int setf(const char *dir, const char *file, const char *val, sbx_err *err)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    return write_file(p, val, err);
}

static int exists(const char *dir, const char *file)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static int apply_v2(const char *dir, const struct limits *l, sbx_err *err)
{
    char v[64];
    snprintf(v, sizeof(v), "%" PRIu64, l->memory);
    if (setf(dir, "memory.max", v, err) < 0) return -1;
    if (exists(dir, "memory.swap.max") && setf(dir, "memory.swap.max", "0", err) < 0) return -1;
    snprintf(v, sizeof(v), "%" PRId64, l->pids);
    if (setf(dir, "pids.max", v, err) < 0) return -1;
    return 0;
}

static long cpu_quota_us(const struct limits *l)
{
    long quota = (long)(l->cpu * 100000.0);
    return quota < 1000 ? 1000 : quota;
}

static int apply_v1(const struct cg *c, const struct limits *l, sbx_err *err)
{
    char v[64];
    snprintf(v, sizeof(v), "%" PRIu64, l->memory);
    if (setf(c->v1[CGV1_MEMORY], "memory.limit_in_bytes", v, err) < 0) return -1;
    if (exists(c->v1[CGV1_MEMORY], "memory.memsw.limit_in_bytes") &&
        setf(c->v1[CGV1_MEMORY], "memory.memsw.limit_in_bytes", v, err) < 0)
        return -1;
    if (exists(c->v1[CGV1_MEMORY], "memory.swappiness"))
        (void)setf(c->v1[CGV1_MEMORY], "memory.swappiness", "0", err);
    snprintf(v, sizeof(v), "%" PRId64, l->pids);
    if (setf(c->v1[CGV1_PIDS], "pids.max", v, err) < 0) return -1;
    return 0;
}

static void rmdir_retry(const char *dir)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    log_warn("cgroup: cannot remove %s: %s", dir, strerror(errno));
}

int cg_set_cpu(const struct cg_mgr *m, const struct cg *c, const struct limits *l, sbx_err *err)
{
    if (l->cpu <= 0) return 0;
    char v[64];
    int r;
    if (m->mode == CG_V2) {
        snprintf(v, sizeof(v), "%ld 100000", cpu_quota_us(l));
        r = setf(c->v2, "cpu.max", v, err);
    } else {
        r = setf(c->v1[CGV1_CPU], "cpu.cfs_period_us", "100000", err);
        snprintf(v, sizeof(v), "%ld", cpu_quota_us(l));
        if (r == 0) r = setf(c->v1[CGV1_CPU], "cpu.cfs_quota_us", v, err);
    }
    return r < 0 ? sbx_error_wrap(err, "cgroup cpu limit") : 0;
}

void cg_close_fds(struct cg *c)
{
    if (c->v2fd >= 0) close(c->v2fd);
    c->v2fd = -1;
    for (int i = 0; i < CGV1_N; i++) {
        if (c->v1procs[i] >= 0) close(c->v1procs[i]);
        c->v1procs[i] = -1;
    }
}

int cg_set_limits(const struct cg_mgr *m, const struct cg *c, const struct limits *l,
                  sbx_err *err)
{
    int r = m->mode == CG_V2 ? apply_v2(c->v2, l, err) : apply_v1(c, l, err);
    return r < 0 ? sbx_error_wrap(err, "cgroup limits") : 0;
}

int cg_create(const struct cg_mgr *m, const char *id, struct cg *c, sbx_err *err)
{
    memset(c, 0, sizeof(*c));
    c->v2fd = -1;
    for (int i = 0; i < CGV1_N; i++) c->v1procs[i] = -1;
    snprintf(c->v2, sizeof(c->v2), "%s/%s", m->v2_root, id);
    if (mkdir(c->v2, 0755) < 0) return sbx_error(err, errno, "create cgroup %s", c->v2);
    if (m->mode == CG_HYBRID) {
        for (int i = 0; i < CGV1_N; i++) {
            snprintf(c->v1[i], sizeof(c->v1[i]), "%s/%s", m->v1_root[i], id);
            if (mkdir(c->v1[i], 0755) < 0) {
                sbx_error(err, errno, "create cgroup %s", c->v1[i]);
                c->v1[i][0] = '\0';
                goto fail;
            }
            char p[PATH_MAX + 32];
            snprintf(p, sizeof(p), "%s/cgroup.procs", c->v1[i]);
            c->v1procs[i] = open(p, O_WRONLY | O_CLOEXEC);
            if (c->v1procs[i] < 0) {
                sbx_error(err, errno, "open %s", p);
                goto fail;
            }
        }
    }
    c->v2fd = open(c->v2, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (c->v2fd < 0) {
        sbx_error(err, errno, "open %s", c->v2);
        goto fail;
    }
    return 0;
fail:
    sbx_error_wrap(err, "cgroup");
    cg_close_fds(c);
    for (int i = 0; i < CGV1_N; i++)
        if (c->v1[i][0]) rmdir(c->v1[i]);
    rmdir(c->v2);
    return -1;
}

int cg_open_existing(const struct cg_mgr *m, const char *id, struct cg *c, sbx_err *err)
{
    memset(c, 0, sizeof(*c));
    c->v2fd = -1;
    for (int i = 0; i < CGV1_N; i++) c->v1procs[i] = -1;
    snprintf(c->v2, sizeof(c->v2), "%s/%s", m->v2_root, id);
    struct stat st;
    if (stat(c->v2, &st) < 0 || !S_ISDIR(st.st_mode))
        return sbx_error(err, errno ? errno : ENOTDIR, "cgroup %s", c->v2);
    if (m->mode == CG_HYBRID)
        for (int i = 0; i < CGV1_N; i++)
            snprintf(c->v1[i], sizeof(c->v1[i]), "%s/%s", m->v1_root[i], id);
    return 0;
}

static int populated(const char *dir)
{
    char buf[256];
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/cgroup.events", dir);
    if (read_file_at(AT_FDCWD, p, buf, sizeof(buf)) < 0) return 0;
    const char *s = strstr(buf, "populated ");
    return s && s[10] == '1';
}

/* Read "populated" through fd (reading it re-arms its poll notification). */
static int populated_fd(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char *s = strstr(buf, "populated ");
    return s && s[10] == '1';
}

int cg_destroy(const struct cg_mgr *m, struct cg *c, sbx_err *err)
{
    (void)m;
    cg_close_fds(c);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/cgroup.kill", c->v2);
    sbx_err e2;
    if (access(c->v2, F_OK) == 0 && write_file(p, "1", &e2) < 0)
        log_warn("cgroup: %s", e2.msg);
    /* cgroup.kill signals synchronously; the exits take a moment. The
     * kernel notifies pollers of cgroup.events (POLLPRI) when it changes. */
    snprintf(p, sizeof(p), "%s/cgroup.events", c->v2);
    _cleanup_close_ int ev = open(p, O_RDONLY | O_CLOEXEC);
    double deadline = now_mono() + 2.0;
    while (ev >= 0 && populated_fd(ev) && now_mono() < deadline) {
        struct pollfd pfd = {ev, POLLPRI, 0};
        poll(&pfd, 1, 10); /* re-armed by reading the same fd above */
    }
    if (populated(c->v2)) return sbx_error(err, EBUSY, "cgroup %s still has processes", c->v2);
    for (int i = 0; i < CGV1_N; i++)
        if (c->v1[i][0]) rmdir_retry(c->v1[i]);
    rmdir_retry(c->v2);
    return 0;
}

static uint64_t read_u64(const char *dir, const char *file)
{
    char buf[64], p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    if (read_file_at(AT_FDCWD, p, buf, sizeof(buf)) < 0) return 0;
    return strtoull(buf, NULL, 10);
}

/* "key value" line from a flat-keyed file. */
static uint64_t read_key(const char *dir, const char *file, const char *key)
{
    char buf[4096], p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    if (read_file_at(AT_FDCWD, p, buf, sizeof(buf)) < 0) return 0;
    size_t kl = strlen(key);
    for (char *line = buf; line && *line;) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ') return strtoull(line + kl + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line) line++;
    }
    return 0;
}

uint64_t cg_oom_kills(const struct cg_mgr *m, const struct cg *c)
{
    if (m->mode == CG_V2) return read_key(c->v2, "memory.events", "oom_kill");
    return read_key(c->v1[CGV1_MEMORY], "memory.oom_control", "oom_kill");
}

void cg_usage(const struct cg_mgr *m, const struct cg *c, struct cg_usage *u)
{
    memset(u, 0, sizeof(*u));
    u->cpu_usec = read_key(c->v2, "cpu.stat", "usage_usec");
    u->oom_kills = cg_oom_kills(m, c);
    if (m->mode == CG_V2) {
        u->memory_current = read_u64(c->v2, "memory.current");
        u->memory_peak = read_u64(c->v2, "memory.peak");
        u->pids_current = read_u64(c->v2, "pids.current");
    } else {
        u->memory_current = read_u64(c->v1[CGV1_MEMORY], "memory.usage_in_bytes");
        u->memory_peak = read_u64(c->v1[CGV1_MEMORY], "memory.max_usage_in_bytes");
        u->pids_current = read_u64(c->v1[CGV1_PIDS], "pids.current");
    }
}

int cg_remove_stale(const struct cg_mgr *m, int (*keep)(const char *name, void *ud), void *ud)
{
    int count = 0;
    _cleanup_closedir_ DIR *d = opendir(m->v2_root);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || de->d_type != DT_DIR || (keep && keep(de->d_name, ud))) continue;
        struct cg c;
        memset(&c, 0, sizeof(c));
        c.v2fd = -1;
        for (int i = 0; i < CGV1_N; i++) c.v1procs[i] = -1;
        snprintf(c.v2, sizeof(c.v2), "%s/%s", m->v2_root, de->d_name);
        if (m->mode == CG_HYBRID)
            for (int i = 0; i < CGV1_N; i++)
                snprintf(c.v1[i], sizeof(c.v1[i]), "%s/%s", m->v1_root[i], de->d_name);
        sbx_err err;
        if (cg_destroy(m, &c, &err) < 0)
            log_warn("stale cgroup: %s", err.msg);
        else
            count++;
    }
    /* v1 leftovers whose v2 twin is gone */
    for (int i = 0; m->mode == CG_HYBRID && i < CGV1_N; i++) {
        _cleanup_closedir_ DIR *d1 = opendir(m->v1_root[i]);
        while (d1 && (de = readdir(d1)) != NULL) {
            if (de->d_name[0] == '.' || de->d_type != DT_DIR || (keep && keep(de->d_name, ud)))
                continue;
            char p[PATH_MAX + 300];
            snprintf(p, sizeof(p), "%s/%s", m->v1_root[i], de->d_name);
            rmdir_retry(p);
        }
    }
    return count;
}
