/* ports.h - preview ingress, sbxd's side (docs/network.md "Preview
 * ingress", docs/api.md "Ports"): a person opens the app a sandbox serves.
 *
 *   POST   /v1/sessions/{id}/ports {"port": P}   expose P (201; 200 if it was)
 *   GET    /v1/sessions/{id}/ports[/P]           list them (or one)
 *   DELETE /v1/sessions/{id}/ports/P             unexpose (204; open preview
 *                                                connections to it are closed)
 *
 * sbxd makes the preview listener (--preview-listen, in its own network
 * namespace) and hands it to sbx-shim, which serves it (shim/ingress.c):
 * http://P-ID.<--preview-domain>:PORT/?sbx_token=TOKEN. The shim has no
 * capabilities and lives outside the egress namespace, so sbxd also keeps it
 * supplied with unconnected TCP sockets made in there, on a socketpair of
 * their own (the shim's --sock-fd; never the control channel, whose acks
 * sbxd waits for synchronously): {"want": N} from the shim, answered with
 * packets of {"fds": k} + k <= 8 sockets (SCM_RIGHTS), or {"error": "..."}.
 *
 * A session's exposures live in its record (state.c): they survive sbxd
 * restarts, and the shim gets them again whenever it (re)starts. */
#ifndef SBX_PORTS_H
#define SBX_PORTS_H

#include <json-c/json.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "sbxd.h"

#define PORTS_PER_SESSION_MAX 32
#define PREVIEW_TOKEN_HEX 64 /* 32 random bytes (getrandom), hex */

struct conn;
struct session;

struct port_expo {
    uint16_t port;
    char token[PREVIEW_TOKEN_HEX + 1];
    time_t created;
};

/* Check --preview-listen / --preview-domain (right after the flags: nothing
 * else is done yet when they are wrong). */
int preview_config(struct sbxd *d, sbx_err *err);
/* Open the listener (before the shim starts). "off", or --no-network:
 * previews are off. */
int preview_init(struct sbxd *d, sbx_err *err);
void preview_fini(struct sbxd *d);
/* GET /v1/health: "preview": {"listen", "port", "domain"} or null (off). */
struct json_object *preview_health(struct sbxd *d);

/* shimctl.c, around each start of the shim: make the supply channel
 * (*child_fd: the shim's end, -1 when previews are off), watch sbxd's end
 * once the shim runs, hand over the listener and every exposure once it is
 * ready, drop the channel when it is gone. */
int preview_shim_prespawn(struct sbxd *d, int *child_fd, sbx_err *err);
void preview_shim_spawned(struct sbxd *d, int child_fd);
int preview_shim_ready(struct sbxd *d, sbx_err *err);
void preview_shim_gone(struct sbxd *d);

/* /v1/sessions/{id}/ports[/{port}] (port_seg NULL without it). */
void ports_dispatch(struct conn *c, struct session *s, const char *port_seg);

/* The session record's "ports" (state.c), and back: entries that do not
 * parse are skipped (logged), never the session. */
struct json_object *ports_to_record(struct session *s);
void ports_from_record(struct session *s, struct json_object *arr);
void ports_free(struct session *s);

#endif
