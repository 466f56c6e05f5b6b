/* sbxd.h - the daemon's context, shared by its modules. */
#ifndef SBX_SBXD_H
#define SBX_SBXD_H

#include <event2/event.h>
#include <stdint.h>

#include "cgroup.h"
#include "seccomp.h"
#include "userns.h"

struct session;
struct conn;

struct sbxd_config {
    const char *socket_path;
    const char *state_dir;
    const char *image_dir;
    const char *init_path;
    const char *cgroup_name;
    uint32_t id_base, id_slots;
    unsigned warm; /* sandboxes prepared ahead of requests */
    int debug;
};

struct sbxd {
    struct sbxd_config cfg;
    struct event_base *base;
    struct cg_mgr cg;
    struct seccomp_prog seccomp;
    struct slot_alloc slots;
    int init_memfd;
    int idmap; /* image dir supports idmapped mounts */
    char sessions_dir[4096];
    struct session *sessions;
    unsigned nsessions, nexecs;
    struct session *warm; /* the warm pool (not sessions yet) */
    unsigned nwarm;
    struct event *refill_ev;
    double last_request, refill_wanted; /* monotonic seconds */
    struct conn *conns;
    double started;
    int shutting_down;
};

extern struct sbxd *g_sbxd;

#endif
