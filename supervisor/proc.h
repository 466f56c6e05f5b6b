/* proc.h - the process table of a session, shared by exec.c (starting
 * processes, their pipes, exit, adoption after an sbxd restart) and
 * procapi.c (the /processes endpoints: list, signal, logs, stdin, resize,
 * wait). Internal to those two files. */
#ifndef SBX_PROC_H
#define SBX_PROC_H

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdint.h>
#include <time.h>

#include "exec.h"
#include "logring.h"

/* Frame types of the binary stream encoding (application/vnd.sbx.frames):
 * 5-byte header (type, u32 big-endian length), then the payload. */
enum { F_START = 1, F_STDOUT = 2, F_STDERR = 3, F_EXIT = 4, F_ERROR = 5, F_EVENT = 6 };

#define EXITED_KEEP 64 /* exited processes a session keeps listed (oldest go first) */

struct follower; /* a GET …/logs?follow=1 stream */
struct waiter;   /* a GET …/wait request */

struct exec {
    uint32_t id; /* sbxd's exec id (init's key) */
    struct session *s;
    struct conn *conn; /* the exec stream (foreground), while open */
    int frames;
    int fd[3]; /* 0: stdin (we write; a dup of the pty master for a tty), 1: stdout (or the
                  pty master), 2: stderr; -1 when closed */
    struct event *ev[3];
    struct evbuffer *inq; /* stdin waiting to be written */
    int in_eof;           /* close stdin once inq is written */
    int stdin_open;       /* stdin takes POST …/stdin */
    int stdin_kept;       /* init holds the stdin pipe's write end (IP_KEEP_STDIN) */
    int started, paused, tty, background, adopted;
    uint32_t pid; /* inside the sandbox */
    double t0, timeout;
    struct event *timer;
    int timed_out;
    uint64_t oom_before;
    char argv0[256];
    struct json_object *meta; /* argv, cwd, user, tty, bg, stdin_open, started_at, frames, log_buffer */
    int exited, have_status, status, oom;
    time_t started_at, exited_at;
    double duration;
    struct logring ring; /* output kept for …/logs (background and adopted processes) */
    int buffering;
    struct follower *followers;
    struct waiter *waiters;
    struct exec *next;
};

/* exec.c */
void exec_emit_json(struct conn *c, int frames, int ftype, struct json_object *o); /* takes o */
void exec_emit_data(struct conn *c, int frames, int ftype, const uint8_t *data, size_t len);
struct json_object *exec_exit_json(struct exec *e);
struct json_object *exec_proc_json(struct exec *e);
void exec_signal(struct exec *e, int sig);
void exec_stdin_kick(struct exec *e);
struct exec *exec_find_pid(struct session *s, uint32_t pid);

/* procapi.c: told of every piece of output and of the exit */
void procapi_on_output(struct exec *e, int stream, const uint8_t *p, size_t n);
void procapi_on_exit(struct exec *e);
void procapi_release(struct exec *e); /* e is being freed: end its followers and waiters */

#endif
