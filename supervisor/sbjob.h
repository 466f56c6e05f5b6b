/* sbjob.h - one API request served by a process of its own inside a session's
 * sandbox: the file API's workers (files.c) and sbx-archive (archives.c).
 *
 * sbxd forks the process (clone3, with a pidfd) and relays, never touching a
 * path in the sandbox itself: the request body into the process's fd 0 (with
 * backpressure, bodypipe.c), its fd 1 into a chunked response (pausing while
 * the client is behind), and its answer into the response. The process's fds:
 *
 *   0  the request body (jobs with a body), else /dev/null
 *   1  the response body (streaming jobs), else /dev/null
 *   2  a pipe whose lines sbxd logs (with the session id)
 *   3  the answer: JSON lines (below)
 *   4  the session init's pidfd, to join the sandbox with (enter.h)
 *   5  the commit pipe (jobs with a body), else /dev/null
 *
 * The answer is the last line on fd 3: {"ok": ...} or {"error": {"code",
 * "message", "kind"}} (json_err_object). A streaming job with ready_line
 * first writes {"ready": ...}: the response (200 and its headers) starts only
 * then, so whatever fails before it (a missing path, a permission) is still a
 * 4xx JSON error. Once the body has started, a failure can only cut the
 * connection (no terminating chunk); sbxd logs why.
 *
 * A job with a body gets the byte 'C' on fd 5 once the whole body arrived;
 * EOF on fd 5 without it means the client went away, and the process must
 * then commit nothing. A client that goes away from any other job, or the
 * removal of the session, kills the process. */
#ifndef SBX_SBJOB_H
#define SBX_SBJOB_H

#include "server.h"
#include "session.h"

struct sbjob_spec {
    const char *what;        /* in logs and messages: "file worker", "sbx-archive" */
    int body;                /* the request body goes to fd 0 (call from api_head) */
    const char *stream_type; /* non-NULL: the response is fd 1's bytes, of this Content-Type */
    int ready_line;          /* streaming starts at the {"ready"} line, not at the first byte */
    int ok_status;           /* a JSON answer's status: 200, 201, or 204 (no body) */
    const char *log_done;    /* non-NULL: log this message with the "ok" answer */
    void (*run)(void *arg);  /* runs in the child with the fds above in place; never returns */
    void *arg;               /* (the child has a copy of the parent's memory) */
};

/* Start the job for request c on session s (which must be running). The
 * connection belongs to the job until it answered. Returns 0, or -1 with the
 * request's error set (http_req_fail). */
int sbjob_start(struct conn *c, struct session *s, const struct sbjob_spec *spec);
/* The session is going away: kill its jobs (their requests get 409). */
void sbjob_abort_session(struct session *s);
/* A file or archive request of this session is in progress (activity). */
int sbjob_session_active(const struct session *s);
/* sbxd is stopping: kill every job, answer nothing. */
void sbjob_stop_all(void);

#endif
