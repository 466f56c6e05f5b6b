/* cli.h - what cli/sbx.c shares with the files of its bigger commands
 * (cli/image.c, cli/cp.c, cli/proc.c, cli/workspace.c): exit statuses,
 * printing errors and results the one way, option errors, the client to sbxd;
 * and what those files share with each other: human sizes and the progress
 * line of a streamed transfer (defined in cli/image.c).
 *
 * Must never: grow state. These are sbx.c's helpers, declared for reuse; a
 * command file owns its own syntax, requests and output. */
#ifndef SBX_CLI_CLI_H
#define SBX_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "client.h"
#include "error.h"

/* Exit statuses. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,      /* a non-exec command failed */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_SBX = 125,     /* exec/run: sbx or sbxd failed */
    EXIT_CANNOT = 126,  /* exec/run: exec_failed */
    EXIT_NOTFOUND = 127 /* exec/run: executable_not_found */
};

/* "sbx: <message>" on stderr. */
void print_err(const sbx_err *err);

/* Print a usage error for cmd (NULL: the top level) and return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt returned '?' or ':' (opterr is 0, optstring starts with "+:"):
 * print why and return EXIT_USAGE. */
int bad_option(const char *cmd, int c, char **argv);

/* Parse a command that takes only --help; returns -1 to go on (optind is at
 * the first operand), else an exit status. */
int parse_help_only(const char *cmd, const char *help, int argc, char **argv);
/* What a list command lists (`sbx ls`, `sbx image ls`, `sbx ps ID`). */
struct list_query {
    const char *cmd, *help;
    const char *path; /* what to GET; with session: what follows /v1/sessions/ID/ */
    bool session;     /* the command's one operand is a session ID */
    const char *key;  /* the answer's array */
    const char *what; /* names the answer when it lacks that array ("list sessions") */
};
/* The common part of the list commands: [-q] [--json] [-h] (and the session
 * ID), GET, --json printed as it came. Returns an exit code when done, or -1
 * with *items the answer's array (owned by *resp) for the caller to print. */
int list_command(const struct list_query *q, int argc, char **argv, bool *quiet, json_object **resp,
                 json_object **items);

/* The operands after the options (argv[optind] on; cli/proc.c): exactly a
 * session ID, and a PID when pid is not NULL. 0, or -1 when wrong (said: a
 * usage error). */
int id_operands(const char *cmd, int argc, char **argv, const char **id, int *pid);

/* Add a member to a JSON object (a request body); ownership of v passes to o
 * (v is put on failure). NULL v means its constructor ran out of memory. */
int add_member(json_object *o, const char *key, json_object *v, sbx_err *err);

/* "K=V" (the value of option opt) into (*map)[K] = V, the last one wins;
 * *map is made on first use. A syntax error has errnum 0 (its message names
 * opt), running out of memory ENOMEM. */
int add_kv(json_object **map, const char *opt, const char *s, sbx_err *err);

/* A client for the daemon at --socket / $SBX_SOCKET; prints the error. */
int new_client(sbx_client **c);
/* "/v1/sessions/<escaped id>[/sub]" */
int session_path(sbx_client *c, const char *id, const char *sub, char *path, size_t cap,
                 sbx_err *err);

/* JSON on stdout: pretty (inspect), or one line (--json). */
void print_pretty(json_object *o);
void print_json_line(json_object *o);

/* o[key] as a string; "-" when missing or null. */
const char *str_field(json_object *o, const char *key);
/* o[key] when it is a string, else NULL (o may be NULL). */
const char *string_field(json_object *o, const char *key);
/* o[key] when it is an integer, else dflt (o may be NULL). */
long long int_field(json_object *o, const char *key, long long dflt);

/* An RFC 3339 UTC time as "5m ago" (as is when it does not parse; NULL: "-"). */
void format_age(const char *time, char *buf, size_t cap);

/* "12.3 MiB" (bytes below 1 KiB: "123 B"). */
void human_size(long long n, char *buf, size_t cap);

/* The progress line of a streamed transfer on stderr (callers show it only
 * when stderr is a terminal, and not with -q/--json). */
struct progress {
    char label[40];  /* what is sent, as shown */
    long long total; /* bytes, or -1: unknown */
    unsigned long long sent;
    bool all;   /* the source is done: sbxd is finishing */
    bool drawn; /* something is on the line */
    int cols;   /* terminal width */
    int bar;    /* width of the bar: fixed for the whole line's life */
    double start, last, done;
};
void progress_init(struct progress *p, const char *label, long long total);
/* A progress callback of sbx_client_upload/sbx_client_download (ud: the
 * struct progress); redraws at most 10 times a second. */
void progress_cb(void *ud, unsigned long long sent, bool all);
/* Draw the final state and end the line (nothing if nothing was drawn). */
void progress_end(struct progress *p);

/* The exit status of an exec (sbx exec, run, shell), with its messages on
 * stderr: rc and err are sbx_client_exec's; sig the signal that interrupted
 * it (0: none); timeout the --timeout given (< 0: none). A stream that ended
 * without the process's exit status (sbxd restarted, the connection broke)
 * is EXIT_SBX with a message saying the process may still run, never an
 * exit status of its own. */
int exec_outcome(const char *id, int rc, const struct sbx_exec_result *r, const sbx_err *err,
                 int sig, double timeout);

/* sbx image (cli/image.c). */
extern const char help_image[];
int cmd_image(int argc, char **argv);

/* sbx workspace (cli/workspace.c). */
extern const char help_workspace[];
int cmd_workspace(int argc, char **argv);

/* sbx expose, ports (cli/ports.c). */
extern const char help_expose[], help_ports[];
int cmd_expose(int argc, char **argv);
int cmd_ports(int argc, char **argv);

/* sbx cp (cli/cp.c). */
extern const char help_cp[];
int cmd_cp(int argc, char **argv);

/* sbx shell, ps, logs, kill, wait, keepalive (cli/proc.c). */
extern const char help_shell[], help_ps[], help_logs[], help_kill[], help_wait[], help_keepalive[];
int cmd_shell(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_keepalive(int argc, char **argv);

/* The local terminal's size (stdin's, else stdout's, else stderr's); false
 * when none of them is a terminal. */
bool term_size(int *cols, int *rows);
/* Add "tty": true, "tty_size" (when term_size knows it) and env TERM (from
 * ours, unless body's env has one) to an exec request body. */
int add_tty_fields(json_object *body, sbx_err *err);
/* Put the local terminal back as it was before raw mode (async-signal-safe;
 * nothing when it is not in raw mode). */
void term_restore(void);

/* An exec whose stdin comes from sbx's stdin as it arrives (cli/proc.c). */
struct attach_opts {
    bool tty;           /* the exec asked for a tty: raw mode and window size
                           when stdin is a terminal */
    bool forward_stdin; /* forward stdin (its end: eof) */
    /* The caller's interrupt flag and self-pipe read end (sbx run), or NULL
     * and -1: SIGINT, SIGTERM, SIGHUP and SIGQUIT are caught here (the
     * terminal is restored, *sig says which). */
    const volatile sig_atomic_t *interrupt;
    int wake_fd;       /* read end */
    int wake_write_fd; /* write end: SIGWINCH pokes it too */
};
/* sbx_client_exec with stdin forwarded; the terminal is restored on every
 * way out. Returns as sbx_client_exec; *sig: the signal caught (0: none). */
int exec_attached(sbx_client *c, const char *id, json_object *body, const struct attach_opts *o,
                  struct sbx_exec_result *res, int *sig, sbx_err *err);

#endif
