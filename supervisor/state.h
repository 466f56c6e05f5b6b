/* state.h - what sbxd writes down about each live session (STATE/run/ID.json)
 * so that the next sbxd, after a restart or a kill -9, takes it over. */
#ifndef SBX_STATE_H
#define SBX_STATE_H

#include "error.h"
#include "sbxd.h"

struct session;

/* Write (atomically: temp file + rename) the session's record. */
int state_save(struct sbxd *d, struct session *s, sbx_err *err);
void state_remove(struct sbxd *d, const char *id);
/* At start-up, before anything else touches sessions: take over every
 * session whose sandbox is still alive; clean up after the ones that died
 * while sbxd was away. Returns the number taken over. */
int state_restore_all(struct sbxd *d);

#endif
