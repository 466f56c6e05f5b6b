/* main.c - sbxd: flags, start-up checks and recovery, event loop, signals,
 * sd_notify, graceful shutdown. The daemon never exits on bad input: only
 * start-up failures and SIGTERM/SIGINT end it. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "sbxd.h"
#include "server.h"
#include "sandbox.h"
#include "session.h"
#include "state.h"
#include "ports.h"
#include "shimctl.h"
#include "util.h"
#include "files.h"
#include "helper.h"
#include "imgimport.h"
#include "imgstore.h"
#include "workspace.h"
#include "limits.h"

struct sbxd *g_sbxd;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sbxd [options]\n"
            "  --socket PATH      API socket (default /run/sbx/sbxd.sock)\n"
            "  --state-dir DIR    state: sessions' writable layers, named workspaces, the\n"
            "                     image store (default /var/lib/sbx)\n"
            "  --image-dir DIR    directory images, one DIR/NAME/rootfs each (default\n"
            "                     STATE/images); imported images live in STATE/store\n"
            "  --import PATH      the sbx-import binary (default: next to sbxd, or\n"
            "                     ../libexec/sbx/sbx-import)\n"
            "  --image-max-bytes N   largest image an import may unpack (default 64 GiB)\n"
            "  --image-max-entries N most archive entries per import (default 2000000)\n"
            "  --file-max-bytes N largest file one PUT .../files may write (default 1 GiB)\n"
            "  --log-buffer N     output a background process keeps for .../logs, bytes\n"
            "                     (default 1048576; an exec's \"log_buffer\" overrides it)\n"
            "  --on-exit keep|remove  what sbxd's exit does to sessions: keep them running\n"
            "                     for the next sbxd to take over (default), or remove them\n"
            "  --archive PATH     the sbx-archive binary (default: next to sbxd, or\n"
            "                     ../libexec/sbx/sbx-archive)\n"
            "  --archive-max-bytes N   most bytes one PUT .../archive may unpack (default 4 GiB)\n"
            "  --archive-max-entries N most entries in one PUT .../archive (default 1000000)\n"
            "  --init PATH        the sbx-init binary (default: next to sbxd, or\n"
            "                     ../libexec/sbx/sbx-init)\n"
            "  --cgroup-name NAME sbx's cgroup subtree (default sbx)\n"
            "  --id-base N        first host uid/gid of sandbox id ranges (default 536870912)\n"
            "  --id-slots N       number of 65536-id ranges = max sessions (default 4096)\n"
            "  --warm N           sandboxes prepared ahead of requests (default 2, 0 = off)\n"
            "  --no-network       sandboxes get loopback only (no sbx-shim, no egress)\n"
            "  --shim PATH        the sbx-shim binary (default: next to sbxd, or\n"
            "                     ../libexec/sbx/sbx-shim)\n"
            "  --shim-user NAME   user sbx-shim runs as (default sbx-shim, else nobody)\n"
            "  --shim-netns PATH  network namespace sbx-shim connects out from (default: sbxd's)\n"
            "  --shim-hosts FILE  static name -> address map the shim resolves with instead of DNS\n"
            "  --audit-log PATH   egress audit log (default /var/log/sbx/egress.jsonl)\n"
            "  --preview-listen ADDR:PORT  where people open the apps sandboxes serve\n"
            "                     (POST /v1/sessions/ID/ports; default 127.0.0.1:8080; port 0:\n"
            "                     any free one, GET /v1/health says which; off: no previews)\n"
            "  --preview-domain DOMAIN  previews are http://PORT-ID.DOMAIN:PORT/ (default\n"
            "                     preview.localhost: browsers resolve *.localhost to loopback)\n"
            "  --policy-dir DIR   named node policies NAME.json (default /etc/sbx/policy.d)\n"
            "  --secrets-dir DIR  node-level secrets NAME.json, root-only files\n"
            "                     (default /etc/sbx/secrets; docs/secrets.md)\n"
            "  --upstream-ca FILE CA bundle the shim verifies upstream HTTPS servers with,\n"
            "                     instead of the system's (tests, private upstreams)\n"
            "  --disk-bytes SIZE  default limits.disk_bytes of a session (default 10G)\n"
            "  --disk-inodes N    default limits.disk_inodes of a session (default 1000000)\n"
            "  --disk-quota auto|off  per-session disk quotas (default auto: project quotas of\n"
            "                     the state dir's filesystem, else the volume STATE/volume.img)\n"
            "  --disk-volume-size SIZE  size of STATE/volume.img when sbxd makes it (sparse;\n"
            "                     default half the free space of the state dir, 256M..256G)\n"
            "  --debug            debug logs\n"
            "  --version\n");
}

static int load_init(struct sbxd *d, sbx_err *err)
{
    char path[PATH_MAX];
    int r = helper_exe_path(d->cfg.init_path, "sbx-init", path, sizeof(path));
    if (r < 0) return sbx_error(err, -r, "readlink /proc/self/exe");
    _cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0) return sbx_error(err, errno, "open sbx-init at %s (pass --init)", path);
    struct stat st;
    if (fstat(src, &st) < 0) return sbx_error(err, errno, "stat %s", path);
    /* A sealed in-memory copy: what runs as pid 1 in sandboxes can never be
     * changed on disk underneath us, and is not reachable by path. */
    int mfd = memfd_create("sbx-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) return sbx_error(err, errno, "memfd_create");
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t w = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
        if (w <= 0) {
            int e = errno;
            close(mfd);
            return sbx_error(err, e, "copy %s", path);
        }
    }
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        int e = errno;
        close(mfd);
        return sbx_error(err, e, "seal sbx-init");
    }
    d->init_memfd = mfd;
    return 0;
}

static void on_signal(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    struct sbxd *d = arg;
    if (sig == SIGCHLD) {
        /* sandbox inits are reaped through their pidfds; anything else here */
        while (waitpid(-1, NULL, WNOHANG | __WNOTHREAD) > 0) {
        }
        return;
    }
    log_info("signal %d: removing %u sessions and stopping", (int)sig, d->nsessions);
    d->shutting_down = 1;
    event_base_loopbreak(d->base);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || *end || v > UINT32_MAX) return -1;
    *out = (uint32_t)v;
    return 0;
}

/* sbxd holds about four fds per exec stream (its connection and three pipe
 * ends) and more per session: a soft limit of 1024, a login shell's default,
 * would refuse execs ("exec pipes: Too many open files") from about 250
 * concurrent streams on. Raise the soft limit to the hard one, as sbx-shim
 * does and the systemd unit's LimitNOFILE; sandboxes get the soft limit sbxd
 * was started with (sandbox_set_nofile). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    sandbox_set_nofile(&rl);
    if (rl.rlim_cur >= rl.rlim_max) return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        log_warn("cannot raise the open files limit from %llu to %llu: %s",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
}

int main(int argc, char **argv)
{
    static struct sbxd d;
    g_sbxd = &d;
    d.init_memfd = -1;
    d.cfg.socket_path = "/run/sbx/sbxd.sock";
    d.cfg.state_dir = "/var/lib/sbx";
    d.cfg.cgroup_name = "sbx";
    d.cfg.id_base = 0x20000000u; /* inside systemd's range for container ids */
    d.cfg.id_slots = 4096;
    d.cfg.warm = 2;
    d.cfg.network = 1;
    d.cfg.audit_log = "/var/log/sbx/egress.jsonl";
    d.cfg.policy_dir = "/etc/sbx/policy.d";
    d.cfg.secrets_dir = "/etc/sbx/secrets";
    d.cfg.image_max_bytes = 64ull << 30;
    d.cfg.image_max_entries = 2000000;
    d.cfg.file_max_bytes = 1ull << 30;
    d.cfg.log_buffer = 1ull << 20;
    d.cfg.archive_max_bytes = 4ull << 30;
    d.cfg.archive_max_entries = 1000000;
    d.store.fd = -1;
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},  {"state-dir", required_argument, 0, 'd'},
        {"image-dir", required_argument, 0, 'i'}, {"init", required_argument, 0, 'I'},
        {"cgroup-name", required_argument, 0, 'c'}, {"id-base", required_argument, 0, 'b'},
        {"id-slots", required_argument, 0, 'n'}, {"debug", no_argument, 0, 'D'},
        {"warm", required_argument, 0, 'w'},
        {"no-network", no_argument, 0, 'N'},     {"shim", required_argument, 0, 'S'},
        {"shim-user", required_argument, 0, 'U'}, {"shim-netns", required_argument, 0, 'E'},
        {"shim-hosts", required_argument, 0, 'H'}, {"audit-log", required_argument, 0, 'A'},
        {"policy-dir", required_argument, 0, 'P'},
        {"import", required_argument, 0, 'M'},  {"image-max-bytes", required_argument, 0, 'B'},
        {"image-max-entries", required_argument, 0, 'e'},
        {"file-max-bytes", required_argument, 0, 'F'},
        {"log-buffer", required_argument, 0, 'L'}, {"on-exit", required_argument, 0, 'O'},
        {"archive", required_argument, 0, 'R'}, {"archive-max-bytes", required_argument, 0, 'X'},
        {"archive-max-entries", required_argument, 0, 'Y'},
        {"secrets-dir", required_argument, 0, 1001}, {"upstream-ca", required_argument, 0, 1002},
        {"preview-listen", required_argument, 0, 'W'},
        {"preview-domain", required_argument, 0, 'Z'},
        {"disk-bytes", required_argument, 0, 1003}, {"disk-inodes", required_argument, 0, 1004},
        {"disk-quota", required_argument, 0, 1005},
        {"disk-volume-size", required_argument, 0, 1006},
        {"version", no_argument, 0, 'V'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': d.cfg.socket_path = optarg; break;
        case 'd': d.cfg.state_dir = optarg; break;
        case 'i': d.cfg.image_dir = optarg; break;
        case 'I': d.cfg.init_path = optarg; break;
        case 'c': d.cfg.cgroup_name = optarg; break;
        case 'b':
            if (parse_u32(optarg, &d.cfg.id_base) < 0 || d.cfg.id_base < 65536) {
                fprintf(stderr, "sbxd: --id-base must be a number >= 65536\n");
                return 2;
            }
            break;
        case 'n':
            if (parse_u32(optarg, &d.cfg.id_slots) < 0 || d.cfg.id_slots == 0 ||
                (uint64_t)d.cfg.id_base + (uint64_t)d.cfg.id_slots * 65536 > 0xfffffffeULL) {
                fprintf(stderr, "sbxd: --id-slots must be >= 1 and fit below uid 2^32-1\n");
                return 2;
            }
            break;
        case 'w': {
            uint32_t w;
            if (parse_u32(optarg, &w) < 0 || w > 64) {
                fprintf(stderr, "sbxd: --warm must be 0..64\n");
                return 2;
            }
            d.cfg.warm = w;
            break;
        }
        case 'D': d.cfg.debug = 1; break;
        case 'N': d.cfg.network = 0; break;
        case 'S': d.cfg.shim_path = optarg; break;
        case 'U': d.cfg.shim_user = optarg; break;
        case 'E': d.cfg.shim_netns = optarg; break;
        case 'H': d.cfg.shim_hosts = optarg; break;
        case 'A': d.cfg.audit_log = optarg; break;
        case 'P': d.cfg.policy_dir = optarg; break;
        case 1001: d.cfg.secrets_dir = optarg; break;
        case 1002: d.cfg.upstream_ca = optarg; break;
        case 'M': d.cfg.import_path = optarg; break;
        case 'W': d.cfg.preview_listen = optarg; break;
        case 'Z': d.cfg.preview_domain = optarg; break;
        case 'O':
            if (strcmp(optarg, "keep") == 0) d.cfg.remove_on_exit = 0;
            else if (strcmp(optarg, "remove") == 0) d.cfg.remove_on_exit = 1;
            else {
                fprintf(stderr, "sbxd: --on-exit must be keep or remove\n");
                return 2;
            }
            break;
        case 'L':
        case 'R': d.cfg.archive_path = optarg; break;
        case 'B':
        case 'F':
        case 'X':
        case 'Y':
        case 'e': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || v == 0 ||
                (o == 'L' && (v < 1024 || v > (64ull << 20)))) {
                fprintf(stderr, "sbxd: --%s must be a positive number%s\n",
                        o == 'B'   ? "image-max-bytes"
                        : o == 'F' ? "file-max-bytes"
                        : o == 'L' ? "log-buffer"
                        : o == 'X' ? "archive-max-bytes"
                        : o == 'Y' ? "archive-max-entries"
                                   : "image-max-entries",
                        o == 'L' ? " of bytes, 1024..67108864" : "");
                return 2;
            }
            if (o == 'L') d.cfg.log_buffer = v;
            else if (o == 'B') d.cfg.image_max_bytes = v;
            else if (o == 'F') d.cfg.file_max_bytes = v;
            else if (o == 'X') d.cfg.archive_max_bytes = v;
            else if (o == 'Y') d.cfg.archive_max_entries = v;
            else d.cfg.image_max_entries = v;
            break;
        }
        case 1003:
        case 1006: {
            uint64_t v;
            sbx_err perr;
            if (parse_size(optarg, &v, &perr) < 0 ||
                (o == 1003 && (v < LIMIT_DISK_BYTES_MIN || v > LIMIT_DISK_BYTES_MAX)) ||
                (o == 1006 && v < (16ULL << 20))) {
                fprintf(stderr, "sbxd: --%s must be a size like 10G%s\n",
                        o == 1003 ? "disk-bytes" : "disk-volume-size",
                        o == 1003 ? " (1M..1P)" : " (at least 16M)");
                return 2;
            }
            if (o == 1003) limits_set_disk_defaults(v, 0);
            else d.quota.volume_size = v;
            break;
        }
        case 1004: {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || v < LIMIT_DISK_INODES_MIN ||
                v > LIMIT_DISK_INODES_MAX) {
                fprintf(stderr, "sbxd: --disk-inodes must be a number, 16..4294967295\n");
                return 2;
            }
            limits_set_disk_defaults(0, v);
            break;
        }
        case 1005:
            if (strcmp(optarg, "auto") == 0) d.quota.disabled = 0;
            else if (strcmp(optarg, "off") == 0) d.quota.disabled = 1;
            else {
                fprintf(stderr, "sbxd: --disk-quota must be auto or off\n");
                return 2;
            }
            break;
        case 'V': printf("sbxd %s\n", SBX_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    {
        sbx_err perr;
        if (preview_config(&d, &perr) < 0) {
            fprintf(stderr, "sbxd: %s\n", perr.msg);
            return 2;
        }
    }
    sbx_log_init("sbxd", d.cfg.debug ? SBX_LOG_DEBUG : SBX_LOG_INFO);
    if (geteuid() != 0) {
        log_error("sbxd must run as root (it creates namespaces, cgroups and mounts)");
        return 1;
    }
    static char imgdir[PATH_MAX];
    if (!d.cfg.image_dir) {
        snprintf(imgdir, sizeof(imgdir), "%s/images", d.cfg.state_dir);
        d.cfg.image_dir = imgdir;
    }
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    d.started = now_mono();
    raise_nofile();

    sbx_err err;
    sbx_error_clear(&err);
    snprintf(d.sessions_dir, sizeof(d.sessions_dir), "%s/sessions", d.cfg.state_dir);
    if (mkdir_p(d.sessions_dir, 0700, &err) < 0 || mkdir_p(d.cfg.image_dir, 0755, &err) < 0 ||
        load_init(&d, &err) < 0 || seccomp_build(&d.seccomp, &err) < 0 ||
        cg_mgr_init(&d.cg, d.cfg.cgroup_name, &err) < 0 ||
        slots_init(&d.slots, d.cfg.id_base, d.cfg.id_slots, &err) < 0) {
        log_error("start-up: %s", err.msg);
        return 1;
    }
    chmod(d.cfg.state_dir, 0711);
    /* one sbxd per state dir: a second one would take the first's sessions over */
    char lockp[PATH_MAX];
    snprintf(lockp, sizeof(lockp), "%s/sbxd.lock", d.cfg.state_dir);
    int lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        log_error("start-up: another sbxd uses the state dir %s (%s is locked)", d.cfg.state_dir,
                  lockp);
        return 1;
    }
    /* before anything uses STATE/sessions or STATE/workspaces: they may be
     * the volume's (quota.h) */
    if (quota_init(&d, &err) < 0) {
        log_error("start-up: disk quotas: %s", err.msg);
        return 1;
    }
    d.idmap = sandbox_probe_idmap(d.cfg.image_dir);
    if (!d.idmap)
        log_warn("the filesystem of %s does not support idmapped mounts: image files will "
                 "appear owned by nobody inside sandboxes (use ext4, xfs or btrfs)",
                 d.cfg.image_dir);
    /* before sessions are taken over: theirs may be attached to one */
    if (workspace_init(&d, &err) < 0) {
        log_error("start-up: workspaces: %s", err.msg);
        return 1;
    }
    if (store_open(&d, &err) < 0) {
        log_error("start-up: image store: %s", err.msg);
        return 1;
    }
    static char pin[PATH_MAX];
    snprintf(pin, sizeof(pin), "%s/egress.netns", d.cfg.state_dir);
    if (d.cfg.network && egress_init(&d.egress, pin, &err) < 0) {
        log_error("start-up: %s (or run with --no-network)", err.msg);
        return 1;
    }

    d.base = event_base_new();
    if (!d.base) {
        log_error("event_base_new failed");
        return 1;
    }
    struct event *sigs[4];
    int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
        event_add(sigs[i], NULL);
    }
    /* sessions a previous sbxd left running: take them over, then remove
     * whatever else it left */
    state_restore_all(&d);
    session_cleanup_stale(&d);
    for (struct session *s = d.sessions; s && d.cfg.network && !d.egress.reused; s = s->next) {
        /* the egress namespace they were wired to is gone: wire them again */
        if (s->net_attached && egress_attach(&d.egress, s->id, s->slot, s->sb.init_pid, &err) < 0)
            log_error("session %s: network: %s", s->id, err.msg);
    }
    if (server_listen(&d, &err) < 0) {
        log_error("start-up: %s", err.msg);
        return 1;
    }
    if (preview_init(&d, &err) < 0) {
        log_error("start-up: %s", err.msg);
        return 1;
    }
    if (d.cfg.network && shimctl_start(&d, &err) < 0) {
        log_error("start-up: %s (or run with --no-network)", err.msg);
        return 1;
    }
    for (struct session *s = d.sessions; s && d.cfg.network; s = s->next)
        if (shimctl_ensure_ports(&d, s->policy, &err) < 0)
            log_error("session %s: egress ports: %s", s->id, err.msg);
    sbx_log(SBX_LOG_INFO, "sbxd ready", "version", SBX_VERSION, "cgroup", cg_mode_name(d.cg.mode),
            "state_dir", d.cfg.state_dir, "image_dir", d.cfg.image_dir, NULL);
    session_pool_fill(&d);
    sd_notify(0, "READY=1\nSTATUS=ready");

    event_base_dispatch(d.base);

    sd_notify(0, "STOPPING=1");
    image_import_stop_all(&d);
    files_stop_all(&d);
    int leave = !d.cfg.remove_on_exit && d.sessions;
    if (leave) {
        log_info("leaving %u sessions running for the next sbxd (--on-exit keep)", d.nsessions);
        session_leave_all(&d);
    }
    while (d.sessions) session_destroy(&d, d.sessions);
    session_pool_drain(&d);
    if (d.cfg.network) {
        shimctl_stop(&d);
        preview_fini(&d);
        egress_fini(&d.egress, leave);
    }
    server_close_all(&d);
    quota_fini(&d);
    for (int i = 0; i < 4; i++) event_free(sigs[i]);
    /* run the deferred frees of connections */
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    event_base_free(d.base);
    session_lost_free(&d);
    seccomp_free(&d.seccomp);
    slots_free(&d.slots);
    close(d.init_memfd);
    store_close(&d);
    log_info("stopped");
    return 0;
}
