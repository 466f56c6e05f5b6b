/* jobio.h - the job process's side of sbjob.h's protocol, shared by the file
 * API's workers (files.c) and sbx-archive: answer lines on fd 3 and the
 * commit byte on fd 5. Never exits; no state. */
#ifndef SBX_JOBIO_H
#define SBX_JOBIO_H

#include <json-c/json.h>

#include "error.h"

#define JOB_ANSWER_FD 3
#define JOB_PIDFD 4
#define JOB_COMMIT_FD 5

/* One line {"<key>": val} (val: taken; NULL = {}) on fd. 0, or -errno. */
int job_say(int fd, const char *key, struct json_object *val);
/* rc == 0: {"ok": ok}; else {"error": json_err_object(err)}. 0, or -errno. */
int job_answer(int fd, int rc, struct json_object *ok, const sbx_err *err);
/* A body job's body ended (sbxd sent 'C' on fd 5) rather than its client
 * leaving: 0, else -1. Blocks until sbxd knows. ud: unused (a commit hook
 * of fo_write). */
int job_body_complete(void *ud);

#endif
