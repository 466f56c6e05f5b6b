/* error.h - the one way failures travel (crun style).
 *
 * A fallible function returns < 0 and fills a `sbx_err` with the errno and a
 * message; callers that add context wrap it ("create session: mount overlay:
 * Permission denied"). Errors are printed once, by whoever stops propagating.
 * Never exits, never allocates on the heap (fixed buffer), so it is safe in
 * forked children and in the async-signal-ish paths of the sandbox setup. */
#ifndef SBX_ERROR_H
#define SBX_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define SBX_ERR_MSG_MAX 1024

/* What kind of failure: maps to an HTTP status class at the API edge. */
enum sbx_err_kind {
    SBX_E_INTERNAL = 0, /* our fault or the host's: 500 */
    SBX_E_INVALID,      /* caller sent something wrong: 400 */
    SBX_E_NOTFOUND,     /* named thing does not exist: 404 */
    SBX_E_CONFLICT,     /* state does not allow it: 409 */
    SBX_E_TOOLARGE,     /* body or field over a limit: 413 */
    SBX_E_UNAVAILABLE,  /* out of capacity (slots, ids): 503 */
    SBX_E_FORBIDDEN,    /* not allowed for the sandbox's user: 403 */
};

typedef struct sbx_err {
    int errnum;               /* errno at the root cause, 0 if none */
    enum sbx_err_kind kind;   /* classification for the API */
    const char *code;         /* stable machine-readable code, e.g. "unknown_image" */
    char msg[SBX_ERR_MSG_MAX];
} sbx_err;

/* Set the error; appends ": strerror(errnum)" when errnum != 0. Returns -1
 * (or -errnum when errnum != 0) so that `return sbx_error(...)` reads well. */
int sbx_error(sbx_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a kind and a code (for errors the caller of the API caused). */
int sbx_error_kind(sbx_err *err, enum sbx_err_kind kind, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix context: "ctx: <previous message>". Returns the same value as sbx_error. */
int sbx_error_wrap(sbx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbx_error_clear(sbx_err *err);

#endif
