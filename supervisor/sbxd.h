/* sbxd.h - the daemon's context, shared by its modules. */
#ifndef SBX_SBXD_H
#define SBX_SBXD_H

#include <event2/event.h>
#include <stdint.h>
#include <time.h>

#include <sys/types.h>

#include "cgroup.h"
#include "egress.h"
#include "imgstore.h"
#include "quota.h"
#include "seccomp.h"
#include "userns.h"

struct session;
struct conn;

struct lost_session {
    char id[13];
    char why[256];
    time_t at;
    struct lost_session *next;
};

struct sbxd_config {
    const char *socket_path;
    const char *state_dir;
    const char *image_dir;
    const char *init_path;
    const char *cgroup_name;
    uint32_t id_base, id_slots;
    unsigned warm; /* sandboxes prepared ahead of requests */
    int debug;
    int network;            /* egress through sbx-shim (0 = loopback only) */
    const char *shim_path;  /* default: next to sbxd, or ../libexec/sbx/sbx-shim */
    const char *shim_user;  /* default sbx-shim, else nobody */
    const char *shim_netns; /* the shim's upstream network namespace (tests) */
    const char *shim_hosts; /* static name -> address map for the shim (tests) */
    const char *audit_log;  /* egress audit log */
    const char *policy_dir; /* named node policies, NAME.json */
    const char *import_path; /* sbx-import (default: next to sbxd, or ../libexec/sbx/) */
    uint64_t image_max_bytes, image_max_entries; /* per image import */
    uint64_t file_max_bytes;                      /* one PUT of the file API */
    uint64_t log_buffer;     /* default output ring of a background process, bytes */
    int remove_on_exit;      /* --on-exit remove: sessions end with sbxd (else they live on) */
    const char *archive_path; /* sbx-archive (default: next to sbxd, or ../libexec/sbx/) */
    uint64_t archive_max_bytes, archive_max_entries; /* one PUT .../archive */
    const char *secrets_dir; /* node-level secrets, NAME.json (secrets.h) */
    const char *upstream_ca; /* CA bundle the shim trusts upstream instead of the system's (tests) */
    const char *preview_listen; /* ADDR:PORT of preview ingress, or "off" (ports.h) */
    const char *preview_domain; /* previews are PORT-ID.<domain> */
};

/* Preview ingress (ports.h): the listener sbxd made for the shim, and the
 * channel on which the shim asks for egress-namespace sockets. */
struct preview_state {
    int off;            /* --preview-listen off */
    uint32_t bind_addr; /* --preview-listen, network byte order */
    uint16_t bind_port;
    int lfd;          /* listening socket in sbxd's network namespace, -1: off */
    uint16_t port;    /* the port it listens on (the kernel's pick for :0) */
    char listen[64];  /* "ADDR:PORT" as it listens */
    char domain[201]; /* --preview-domain, lowercase */
    int sock;         /* sbxd's end of the socket supply channel, -1: none */
    struct event *sock_ev;
};

struct shim_listener {
    int type; /* SOCK_STREAM / SOCK_DGRAM */
    uint16_t port;
    int fd;
};

struct shim_state {
    pid_t pid;
    int pidfd, ctl, audit_fd;
    uid_t uid;
    gid_t gid;
    uint64_t seq;
    struct event *died_ev, *restart_ev;
    int backoff_ms;
    struct shim_listener *lis;
    int nlis;
    char *ca_pem;          /* the node CA the shim reported (sandboxes trust it) */
    char *upstream_ca_pem; /* --upstream-ca, sent to every shim started */
};

struct sbxd {
    struct sbxd_config cfg;
    struct event_base *base;
    struct cg_mgr cg;
    struct seccomp_prog seccomp;
    struct slot_alloc slots;
    struct egress egress;
    struct shim_state shim;
    struct preview_state preview;
    int init_memfd;
    int idmap; /* image dir supports idmapped mounts */
    struct img_store store;
    char sessions_dir[4096];
    char workspaces_dir[4096]; /* named workspaces (workspace.h) */
    int ws_idmap;              /* ... on a filesystem with idmapped mounts */
    struct quota quota;        /* disk quotas (quota.h) */
    struct session *sessions;
    unsigned nsessions, nexecs;
    struct session *warm; /* the warm pool (not sessions yet) */
    unsigned nwarm;
    struct event *refill_ev;
    double last_request, refill_wanted; /* monotonic seconds */
    struct lost_session *lost; /* sessions found dead at start-up (answered 410), newest first */
    unsigned nlost;
    struct conn *conns;
    double started;
    int shutting_down;
};

extern struct sbxd *g_sbxd;

#endif
