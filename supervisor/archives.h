/* archives.h - the session archive API (docs/api.md "Archives"):
 *
 *   GET /v1/sessions/{id}/archive?path=DIR[&format=tar|tar.gz|tar.zst][&user=root]
 *       the tree under DIR as a tar stream (chunked)
 *   PUT /v1/sessions/{id}/archive?path=DIR[&format=auto|tar|tar.gz|tar.zst][&user=root]
 *       extract the body (a tar, streamed) into DIR, all or nothing
 *
 * sbxd parses the query and runs sbx-archive (supervisor/archive/) for each
 * request through sbjob.c: the helper joins the sandbox and becomes its user
 * before it touches a path, and is the only process that parses an archive
 * (sbxd does not link libarchive). sbxd relays bytes both ways. */
#ifndef SBX_ARCHIVES_H
#define SBX_ARCHIVES_H

#include "server.h"
#include "session.h"

/* From api_head: PUT .../archive streams its body (1), or refuses (-1). */
int archive_put_begin(struct conn *c, struct session *s);
/* GET .../archive (and 405 for other methods but PUT). */
void archive_dispatch(struct conn *c, struct session *s);

#endif
