/* client.h - the sbx CLI's HTTP client for the sbxd API (docs/api.md).
 *
 * Owns: talking HTTP/1.1 + JSON to sbxd over its Unix socket (libcurl), turning
 * API error bodies and transport failures into an sbx_err, decoding the
 * framed binary exec and log streams (application/vnd.sbx.frames) straight onto
 * fds 1/2, forwarding a local fd to a process's stdin (and terminal size
 * changes) while its stream runs, and streaming request and response bodies
 * (image archives, files).
 *
 * Must never: exit the process, write anything but exec output on fds 1/2 and
 * a download to the caller's fd (messages travel in sbx_err; the caller prints
 * them once), buffer a whole exec output or file, or know about command-line
 * syntax (that is cli/sbx.c). */
#ifndef SBX_CLI_CLIENT_H
#define SBX_CLI_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "error.h"

/* sbx_err.code values for failures that are not an API error body. API errors
 * carry the API's own code ("not_found", "executable_not_found", ...). */
#define SBX_CODE_UNREACHABLE "unreachable" /* socket missing, refused, no permission */
#define SBX_CODE_TRANSPORT "transport"     /* connection broke, bad HTTP, bad JSON */
#define SBX_CODE_OUTPUT "output"           /* writing exec output or a download failed */

typedef struct sbx_client sbx_client;

/* Create a client for the daemon at socket_path (copied). */
int sbx_client_new(sbx_client **out, const char *socket_path, sbx_err *err);
void sbx_client_free(sbx_client *c);
static inline void sbx_client_freep(sbx_client **c)
{
    sbx_client_free(*c);
}
#define _cleanup_client_ __attribute__((cleanup(sbx_client_freep)))

static inline void json_putp(json_object **o)
{
    json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(json_putp)))

/* One request/response. method: "GET", "POST", "DELETE"; path: "/v1/...";
 * body: JSON to send, or NULL for none. On any HTTP response returns 0 with
 * *status set and *resp the parsed body (NULL when the body is empty; caller
 * puts it). Returns < 0 only for transport failures (err filled). */
int sbx_client_request(sbx_client *c, const char *method, const char *path, json_object *body,
                       long *status, json_object **resp, sbx_err *err);

/* Same, but a non-2xx status becomes an error: err->msg is the API's message,
 * err->code the API's code. resp may be NULL when the body is not wanted. */
int sbx_client_call(sbx_client *c, const char *method, const char *path, json_object *body,
                    json_object **resp, sbx_err *err);

/* Fill err from a non-2xx response ({"error": {"code", "message"}}). Returns -1. */
int sbx_client_api_error(long status, json_object *resp, sbx_err *err);

/* Percent-escape one path segment (a session id typed by the user) into buf. */
int sbx_client_escape(sbx_client *c, const char *segment, char *buf, size_t cap, sbx_err *err);

/* A request body produced while it is sent (image archives: GiBs, never
 * held in memory). */
struct sbx_upload {
    const char *content_type; /* NULL: application/octet-stream */
    long long size;           /* bytes (sent with Content-Length), or -1: unknown (chunked) */
    /* Fill up to cap bytes of buf: returns how many, 0 at the end, < 0 on
     * failure (err filled; the request is aborted, so sbxd discards it). */
    ssize_t (*read)(void *ud, char *buf, size_t cap, sbx_err *err);
    void *ud;
    /* NULL, or called often during the transfer (throttle it) and once when
     * it ended: sent = bytes handed over so far, all = the source is done. */
    void (*progress)(void *progress_ud, unsigned long long sent, bool all);
    void *progress_ud;
};

/* One request with a streamed body (sbx_client_call's rules for the answer:
 * a non-2xx status becomes an error with the API's message and code; resp
 * may be NULL). An error answer sent before the body was all read wins over
 * the broken send. A known size is held to: a source that ends early fails. */
int sbx_client_upload(sbx_client *c, const char *method, const char *path,
                      const struct sbx_upload *up, json_object **resp, sbx_err *err);

/* GET path and stream a 2xx body into fd as it arrives (files of any size:
 * never held in memory); a non-2xx answer (its body at most 64 KiB) becomes
 * an error as with sbx_client_call. progress (may be NULL) is called often
 * during the body (throttle it) and once at its end (all = true) with the
 * bytes written so far. *got (may be NULL): bytes written to fd. A body cut
 * off before its end is an error (code SBX_CODE_TRANSPORT); so is a failed
 * write to fd (code SBX_CODE_OUTPUT, errnum set): what fd holds then is
 * partial, and the caller's to discard. */
int sbx_client_download(sbx_client *c, const char *path, int fd,
                        void (*progress)(void *ud, unsigned long long got, bool all), void *ud,
                        unsigned long long *got, sbx_err *err);

struct sbx_exec_result {
    int pid;     /* the process's pid in the sandbox (start event; logs: as asked), or 0 */
    bool exited; /* an exit frame arrived; the fields below are valid */
    int code;    /* exit status, -1 when killed by a signal */
    int signal;  /* signal number, 0 when it exited */
    bool oom_killed;
    bool timed_out;
    double duration;
    bool restarted;        /* a supervisor_restarted event ended the stream: the
                              process still runs, no exit event follows */
    char restart_msg[256]; /* its message ("" if none) */
    bool interrupted;      /* *interrupt became non-zero: the stream was aborted */
    bool output_closed;    /* fd 1 or 2 hit EPIPE: the stream was aborted */
    bool stdin_failed;     /* forwarding stdin stopped for another reason than the
                              process having closed it or exited: stdin_err says why */
    sbx_err stdin_err;
};

/* What a stream does besides writing output to fds 1/2. All optional: a
 * zeroed struct with wake_fd = stdin_fd = -1 is a plain stream. */
struct sbx_stream_io {
    /* Polled; when non-zero the stream is aborted (res->interrupted). */
    const volatile sig_atomic_t *interrupt;
    /* -1, or the read end of a non-blocking self-pipe that is written when
     * *interrupt or *resize changes, so the wait ends at once (the client
     * drains it). */
    int wake_fd;
    /* exec only: -1, or an fd whose bytes are forwarded to the process's
     * stdin (POST .../processes/PID/stdin, one kept-alive connection) once
     * the process started, in pieces of what one read(2) returns; its EOF
     * closes the process's stdin (eof=1). The request must have asked for an
     * open stdin ("tty" or "stdin_open"). */
    int stdin_fd;
    /* exec only: NULL, or a flag set (by a SIGWINCH handler) when the
     * terminal's size changed; it is reset and get_size's answer sent as
     * POST .../processes/PID/resize. */
    volatile sig_atomic_t *resize;
    bool (*get_size)(void *ud, int *cols, int *rows);
    void *ud;
    /* NULL, or told about a "dropped" event (older output that the process's
     * log buffer no longer holds) when it arrives. */
    void (*on_dropped)(void *ud, unsigned long long bytes);
};

/* POST /v1/sessions/{id}/exec with the framed encoding; stdout/stderr payloads
 * are written to fds 1/2 as they arrive. io may be NULL.
 * Returns 0 when the stream ended with an exit frame or a
 * supervisor_restarted event, or was interrupted, or its output was closed
 * (see res). Returns < 0 for API errors (err->code is the API code), error
 * frames, transport failures and streams that end without an exit (res->pid
 * tells whether the process had started). */
int sbx_client_exec(sbx_client *c, const char *id, json_object *req, const struct sbx_stream_io *io,
                    struct sbx_exec_result *res, sbx_err *err);

/* GET /v1/sessions/{id}/processes/{pid}/logs[?follow=1] with the framed
 * encoding: the output kept in the process's log buffer, then (follow) what
 * it writes until it exits. Returns 0 when the stream ended (res->exited when
 * an exit event ended it: the process has exited), was interrupted or its
 * output was closed; < 0 as sbx_client_exec. */
int sbx_client_logs(sbx_client *c, const char *id, int pid, bool follow,
                    const struct sbx_stream_io *io, struct sbx_exec_result *res, sbx_err *err);

#endif
