/* helper.h - sbxd's short-lived helper processes (sbx-import, file API
 * workers): where a helper binary is, the one-line JSON answer a helper
 * writes before it exits ({"<ok key>": ...} or {"error": {"code",
 * "message", "kind"}}, see json_err_object), and ending one. */
#ifndef SBX_HELPER_H
#define SBX_HELPER_H

#include <event2/buffer.h>
#include <json-c/json.h>
#include <stddef.h>

/* configured if set, else NAME next to sbxd, else ../libexec/sbx/NAME from
 * sbxd's directory. Returns 0, or -errno if sbxd's own path is unknown. */
int helper_exe_path(const char *configured, const char *name, char *path, size_t cap);
/* Read what the helper wrote on fd into buf: 1 = the answer is complete
 * (EOF, an error, or more than cap bytes), 0 = more may come. */
int helper_read_answer(struct evbuffer *buf, int fd, size_t cap);
/* The answer parsed (buf NUL-terminated first), or NULL if there is none. */
struct json_object *helper_answer(struct evbuffer *buf);
/* An {"error": ...} answer: its HTTP status, code and message (pointers
 * into answer, with defaults), and 1; 0 for any other answer. */
int helper_answer_error(struct json_object *answer, int *status, const char **code,
                        const char **message);
/* SIGKILL through the pidfd, reap if already possible (sbxd's SIGCHLD
 * handler reaps otherwise), close it; *pidfd = -1. */
void helper_kill(int *pidfd);

#endif
