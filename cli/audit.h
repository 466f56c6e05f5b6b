/* audit.h - reading the egress audit log for `sbx audit`: the log is JSON
 * lines (one decision per line, fields in shim/audit.h), written with
 * O_APPEND by sbx-shim and rotated by the host's logrotate.
 *
 * Owns: the time arguments (--since: RFC 3339 or a duration), matching a line
 * against the filters, the human table row of a record, and reading the file
 * line by line, following it like `tail -F` (appends, rotation, truncation).
 *
 * Must never: load the whole file (it is read in chunks; a line is held only
 * until it is complete, up to AUDIT_LINE_MAX), print (lines go to a callback,
 * notices to another: the CLI prints), or exit. */
#ifndef SBX_CLI_AUDIT_H
#define SBX_CLI_AUDIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

#define AUDIT_DEFAULT_LOG "/var/log/sbx/egress.jsonl"
#define AUDIT_LINE_MAX ((size_t)1 << 20) /* longer lines are malformed */
#define AUDIT_POLL_MS 200                /* how often -f looks for more */

/* ---- time arguments ---- */

/* A duration: one or more NUMBER UNIT pairs, UNIT s, m, h or d ("30s", "10m",
 * "2h", "1d", "1h30m"). Returns 0 with *usec set, or -1. */
int audit_parse_duration(const char *s, int64_t *usec);
/* An RFC 3339 date-time ("2026-11-25T08:15:21Z", "...21.670055Z",
 * "...21+02:00"; 't', 'z' and ' ' for 'T' accepted) or a bare date
 * ("2026-11-25": midnight UTC). Returns 0 with *usec since the epoch, or -1. */
int audit_parse_time(const char *s, int64_t *usec);
/* --since T: a time, or a duration back from now_us. */
int audit_parse_since(const char *s, int64_t now_us, int64_t *since_us, sbx_err *err);

/* ---- filters ---- */

struct audit_filter {
    const char *session;   /* NULL: any; else the "session" field, exactly */
    const char *decisions; /* NULL: any; else a comma-separated list of allow, deny, report */
    bool has_since;
    int64_t since_us; /* records whose "time" is earlier are left out */
};

/* Check a --decision value: 0, or -1 with err naming the bad word. */
int audit_check_decisions(const char *list, sbx_err *err);

enum audit_match {
    AUDIT_SHOW,      /* a record the filters keep */
    AUDIT_HIDE,      /* a record the filters leave out */
    AUDIT_BLANK,     /* an empty or whitespace-only line: ignored */
    AUDIT_MALFORMED, /* not one JSON object; or no valid "time" while --since is in use */
};

/* Match one line (without its newline). On AUDIT_SHOW, *rec (if rec is not
 * NULL) gets the parsed record; the caller puts it. */
enum audit_match audit_match_line(const struct audit_filter *f, const char *line, size_t len,
                                  json_object **rec);

/* ---- the human table ---- */

/* The header line and one record's row (both without newline; malloc'd, NULL
 * when out of memory). Columns: TIME SESSION PROTO DECISION DESTINATION
 * REQUEST REASON, fixed minimum widths so that streamed rows line up;
 * "in=N out=N" (bytes) and "ms=N" are appended when the record has them. */
char *audit_format_header(void);
char *audit_format_row(json_object *rec);

/* ---- reading and following the file ---- */

/* Called for every complete line (without its newline; not NUL-terminated).
 * line NULL, len 0: a line longer than AUDIT_LINE_MAX was skipped. Return 0
 * to go on, anything else to stop reading (audit_read returns it). */
typedef int (*audit_line_fn)(const char *line, size_t len, void *ctx);
/* Something the user should know while following ("file truncated"). */
typedef void (*audit_notice_fn)(const char *msg, void *ctx);

struct audit_reader {
    const char *path;
    bool follow; /* like tail -F: wait for more, reopen when rotated or truncated */
    int poll_ms; /* follow: how long to wait between looks (0: AUDIT_POLL_MS) */
    const volatile sig_atomic_t *stop; /* follow ends when *stop becomes non-zero */
    int wake_fd; /* readable when *stop changes (the wait ends at once), or -1 */
    audit_line_fn on_line;
    audit_notice_fn on_notice; /* may be NULL */
    void *ctx;
};

/* Read r->path from the start, calling on_line for each line. Without follow
 * it ends at end of file (a last line without newline counts). With follow it
 * ends only on *stop: the file may not exist yet, may be rotated (a new file
 * at path: the old one is read to its end first) or truncated (read again
 * from the start). Returns 0, on_line's non-zero value, or -1 with err set
 * (the file cannot be opened or read). */
int audit_read(const struct audit_reader *r, sbx_err *err);

#endif
