/* cgroup.h - one cgroup per session under sbx's own subtree.
 *
 * Pure cgroup v2 hosts: <v2 mount>/<name>/<id> carries memory.max, pids.max,
 * cpu.max and is killed with cgroup.kill. Hybrid hosts (v1 controllers plus
 * an empty v2 hierarchy at /sys/fs/cgroup/unified): the v2 cgroup still holds
 * every process (cgroup.procs/kill/events work there), and the limits go to
 * the v1 memory, pids and cpu hierarchies under <ctrl>/<name>/<id>.
 * Never touches a cgroup it did not create. */
#ifndef SBX_CGROUP_H
#define SBX_CGROUP_H

#include <limits.h>
#include <stdint.h>

#include "error.h"
#include "limits.h"

enum cg_mode { CG_V2, CG_HYBRID };

enum { CGV1_MEMORY, CGV1_PIDS, CGV1_CPU, CGV1_N };

struct cg_mgr {
    enum cg_mode mode;
    char v2_root[PATH_MAX];        /* <v2 mount>/<name> */
    char v1_root[CGV1_N][PATH_MAX]; /* hybrid only: /sys/fs/cgroup/<ctrl>/<name> */
};

struct cg {
    char v2[PATH_MAX];
    char v1[CGV1_N][PATH_MAX]; /* hybrid only */
    int v2fd;                  /* O_DIRECTORY of v2, for CLONE_INTO_CGROUP */
    int v1procs[CGV1_N];       /* hybrid: cgroup.procs fds the sandbox writes "0" to */
};

struct cg_usage {
    uint64_t memory_current, memory_peak, pids_current, cpu_usec, oom_kills;
};

const char *cg_mode_name(enum cg_mode m);
/* Detect the host's mode and create <name> subtrees. */
int cg_mgr_init(struct cg_mgr *m, const char *name, sbx_err *err);
/* Create the session's cgroup(s); on failure nothing is left. */
int cg_create(const struct cg_mgr *m, const char *id, struct cg *out, sbx_err *err);
/* Apply the memory and pids limits (before the sandbox starts) ... */
/* The cgroup of a session that outlived a previous sbxd: paths only. */
int cg_open_existing(const struct cg_mgr *m, const char *id, struct cg *out, sbx_err *err);
int cg_set_limits(const struct cg_mgr *m, const struct cg *c, const struct limits *l,
                  sbx_err *err);
/* ... and the cpu quota once it has started: the start is sbxd's work, and at
 * a quota of 0.01 CPU it would take seconds. Nothing of the request has run
 * yet at that point. */
int cg_set_cpu(const struct cg_mgr *m, const struct cg *c, const struct limits *l, sbx_err *err);
/* Close fds kept for the sandbox start (after the sandbox runs in it). */
void cg_close_fds(struct cg *c);
/* cgroup.kill, wait until empty, rmdir every directory (retry on EBUSY). */
int cg_destroy(const struct cg_mgr *m, struct cg *c, sbx_err *err);
void cg_usage(const struct cg_mgr *m, const struct cg *c, struct cg_usage *u);
uint64_t cg_oom_kills(const struct cg_mgr *m, const struct cg *c);
/* Remove every session cgroup left under our subtrees (by a previous run). Returns count. */
/* Remove every cgroup of our subtree but those keep() names (may be NULL). */
int cg_remove_stale(const struct cg_mgr *m, int (*keep)(const char *name, void *ud), void *ud);

#endif
