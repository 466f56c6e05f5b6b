/* proc.c - a session's processes from the command line: `sbx shell`, `ps`,
 * `logs`, `kill`, `wait`, `keepalive`, and the terminal side of
 * `sbx exec -i/--tty` (the /v1/sessions/{id}/processes API of docs/api.md).
 *
 * Owns: these commands' syntax, help and output; the local terminal while a
 * process is attached to it: raw mode (restored on every way out, signals
 * included), its window size (sent at the start and on SIGWINCH), and the
 * signals that end an attached exec (SIGINT, SIGTERM, SIGHUP, SIGQUIT).
 *
 * Must never: talk HTTP itself (cli/client.c forwards stdin and resizes on
 * its kept-alive connection), leave the terminal in raw mode, turn a stream
 * that ended without an exit event into an exit status of the process, or
 * check what sbxd checks (signal names, ports, timeouts, sizes). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "client.h"
#include "error.h"

#define DEFAULT_SHELL "/bin/sh"

enum { OPT_JSON = 256, OPT_PORT, OPT_LOG, OPT_TIMEOUT };

/* ---- help ---------------------------------------------------------------------- */

const char help_shell[] =
    "Usage: sbx shell [OPTION...] ID [-- COMMAND [ARG...]]\n"
    "\n"
    "Open an interactive shell in session ID, like ssh: COMMAND (default: " DEFAULT_SHELL " -l)\n"
    "runs on a terminal of its own (its size follows yours, $TERM is passed on),\n"
    "and sbx's stdin goes to it. When stdin is a terminal it is put in raw mode\n"
    "for the shell's lifetime: every key, Ctrl-C and Ctrl-D included, goes to the\n"
    "shell (Ctrl-C interrupts what runs there, not sbx). Works with a pipe on\n"
    "stdin too: printf 'make test\\nexit\\n' | sbx shell ID\n"
    "\n"
    "Options:\n"
    "  -u, --user USER      sandbox, root, UID or UID:GID (default: sandbox)\n"
    "  -w, --cwd DIR        Working directory (default: the user's home)\n"
    "  -e, --env K=V        Environment variable (repeatable)\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Exit status: COMMAND's (128+N if killed by signal N); 125 if sbx or sbxd\n"
    "failed or the connection ended before COMMAND did; 126/127 if it could not\n"
    "be started / was not found.\n";

const char help_ps[] = "Usage: sbx ps [-q] [--json] ID\n"
                       "\n"
                       "List the processes started in session ID (background and foreground,\n"
                       "running and exited): PID (in the sandbox), STATE, EXIT (status or\n"
                       "signal), STARTED and COMMAND.\n"
                       "\n"
                       "Options:\n"
                       "  -q, --quiet   Print pids only\n"
                       "      --json    Print the daemon's answer as JSON\n"
                       "  -h, --help    Show this help\n";

const char help_logs[] =
    "Usage: sbx logs [-f] ID PID\n"
    "\n"
    "Print the output of process PID of session ID that its log buffer still holds\n"
    "(its stdout on stdout, its stderr on stderr; a tty's output is all stdout).\n"
    "Background processes (exec -d) keep a log buffer; a foreground exec's output\n"
    "went to its stream, so -f shows only what it prints from now on.\n"
    "When older output no longer fits in the buffer, a note on stderr says how\n"
    "much was dropped (a bigger buffer: sbx exec -d --log-buffer SIZE).\n"
    "\n"
    "Options:\n"
    "  -f, --follow   Then print what it writes as it comes, until it exits\n"
    "  -h, --help     Show this help\n";

const char help_kill[] = "Usage: sbx kill [-s SIGNAL] ID PID\n"
                         "\n"
                         "Send SIGNAL to process PID of session ID (to its process group).\n"
                         "\n"
                         "Options:\n"
                         "  -s, --signal SIGNAL  A name (TERM, SIGTERM, KILL, INT, HUP, ...) or\n"
                         "                       a number (default: TERM)\n"
                         "  -h, --help           Show this help\n";

const char help_wait[] =
    "Usage: sbx wait ID PID (--port N | --log TEXT) [--timeout SECS]\n"
    "\n"
    "Wait until process PID of session ID is ready: a TCP socket listens on port N\n"
    "in the session (--port), or TEXT appears in its output (--log; output still in\n"
    "its log buffer counts). Prints nothing; the exit status says.\n"
    "\n"
    "Options:\n"
    "      --port N         Ready when something listens on TCP port N\n"
    "      --log TEXT       Ready when the process has printed TEXT\n"
    "      --timeout SECS   Give up after SECS seconds (default: 30)\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Exit status: 0 ready; 1 not ready in time, the process exited first (the\n"
    "message has its exit status), or another failure.\n";

const char help_keepalive[] = "Usage: sbx keepalive ID\n"
                              "\n"
                              "Reset session ID's idle timer.\n";

/* ---- small helpers ---------------------------------------------------------------- */

static int add_member(json_object *o, const char *key, json_object *v, sbx_err *err)
{
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return sbx_error(err, ENOMEM, "build request");
    }
    return 0;
}

/* A PID operand: a positive integer; -1 when it is not (said). */
static int parse_pid(const char *cmd, const char *s, int *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!isdigit((unsigned char)*s) || *end || errno == ERANGE || v <= 0 || v > INT_MAX) {
        usage_error(cmd, "PID must be a process id in the session (a positive integer), not '%s'",
                    s);
        return -1;
    }
    *pid = (int)v;
    return 0;
}

/* "/v1/sessions/ID/processes[/PID[/sub]]" */
static int proc_path(sbx_client *c, const char *id, int pid, const char *sub, char *path,
                     size_t cap, sbx_err *err)
{
    char eid[256];
    if (sbx_client_escape(c, id, eid, sizeof(eid), err) < 0) return -1;
    if (pid <= 0)
        snprintf(path, cap, "/v1/sessions/%s/processes", eid);
    else
        snprintf(path, cap, "/v1/sessions/%s/processes/%d%s%s", eid, pid, sub ? "/" : "",
                 sub ? sub : "");
    return 0;
}

/* Parse "ID PID" (exactly) after the options; -1 when wrong (said). */
static int id_and_pid(const char *cmd, int argc, char **argv, const char **id, int *pid)
{
    if (optind >= argc) return usage_error(cmd, "missing session ID and PID"), -1;
    if (optind + 1 >= argc)
        return usage_error(cmd, "missing PID (see 'sbx ps %s')", argv[optind]), -1;
    if (optind + 2 < argc)
        return usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]), -1;
    *id = argv[optind];
    return parse_pid(cmd, argv[optind + 1], pid);
}

/* ---- the local terminal ----------------------------------------------------------- */

static struct termios g_saved;
static volatile sig_atomic_t g_raw; /* g_saved is to be put back on g_term_fd */
static int g_term_fd = -1;

bool term_size(int *cols, int *rows)
{
    static const int fds[] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    for (size_t i = 0; i < SBX_ARRAY_SIZE(fds); i++) {
        struct winsize ws;
        if (isatty(fds[i]) && ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
            ws.ws_row > 0) {
            *cols = ws.ws_col;
            *rows = ws.ws_row;
            return true;
        }
    }
    return false;
}

void term_restore(void)
{
    if (!g_raw) return;
    tcsetattr(g_term_fd, TCSADRAIN, &g_saved);
    g_raw = 0;
}

/* Raw mode on fd (a terminal): bytes go through as typed, nothing is
 * interpreted locally (no echo, no line editing, no signal keys). */
static int term_raw(int fd, sbx_err *err)
{
    if (tcgetattr(fd, &g_saved) < 0) return sbx_error(err, errno, "read the terminal's settings");
    struct termios raw = g_saved;
    cfmakeraw(&raw);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    g_term_fd = fd;
    g_raw = 1;
    if (tcsetattr(fd, TCSADRAIN, &raw) < 0) {
        g_raw = 0;
        return sbx_error(err, errno, "put the terminal in raw mode");
    }
    return 0;
}

int add_tty_fields(json_object *body, sbx_err *err)
{
    if (add_member(body, "tty", json_object_new_boolean(true), err) < 0) return -1;
    int cols, rows;
    if (term_size(&cols, &rows)) {
        json_object *size = json_object_new_object();
        if (add_member(body, "tty_size", size, err) < 0 ||
            add_member(size, "cols", json_object_new_int(cols), err) < 0 ||
            add_member(size, "rows", json_object_new_int(rows), err) < 0)
            return -1;
    }
    /* the local terminal's type, as ssh passes it (an explicit -e TERM=... wins) */
    const char *term = getenv("TERM");
    if (!term || !*term) return 0;
    json_object *env, *t;
    if (!json_object_object_get_ex(body, "env", &env)) {
        env = json_object_new_object();
        if (add_member(body, "env", env, err) < 0) return -1;
    }
    if (json_object_object_get_ex(env, "TERM", &t)) return 0;
    return add_member(env, "TERM", json_object_new_string(term), err);
}

/* ---- attached exec ---------------------------------------------------------------- */

static volatile sig_atomic_t g_caught; /* SIGINT, SIGTERM, SIGHUP or SIGQUIT */
static volatile sig_atomic_t g_winch;  /* the window size changed */
static int g_attach_wake = -1;         /* self-pipe write end */

static const int attach_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static void attach_on_signal(int sig)
{
    int saved = errno;
    if (sig == SIGWINCH) {
        g_winch = 1;
    } else {
        g_caught = sig;
        term_restore(); /* at once: whatever happens next, the terminal is back */
    }
    if (g_attach_wake >= 0) {
        char b = 0;
        ssize_t r = write(g_attach_wake, &b, 1);
        (void)r;
    }
    errno = saved;
}

static bool get_size_cb(void *ud, int *cols, int *rows)
{
    (void)ud;
    return term_size(cols, rows);
}

static void close_fds(int (*p)[2])
{
    for (int i = 0; i < 2; i++)
        if ((*p)[i] >= 0) close((*p)[i]);
}

int exec_attached(sbx_client *c, const char *id, json_object *body, const struct attach_opts *o,
                  struct sbx_exec_result *res, int *sig, sbx_err *err)
{
    memset(res, 0, sizeof(*res));
    *sig = 0;
    __attribute__((cleanup(close_fds))) int pipefd[2] = {-1, -1};
    int rfd = o->wake_fd, wfd = o->wake_write_fd;
    struct sigaction sa = {.sa_handler = attach_on_signal}, dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    sigemptyset(&dfl.sa_mask);
    g_caught = 0;
    g_winch = 0;
    if (!o->interrupt) {
        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) return sbx_error(err, errno, "pipe");
        rfd = pipefd[0];
        wfd = pipefd[1];
    }
    g_attach_wake = wfd;
    /* no SA_RESTART: a blocked write of output ends with EINTR */
    if (!o->interrupt)
        for (size_t i = 0; i < SBX_ARRAY_SIZE(attach_signals); i++)
            sigaction(attach_signals[i], &sa, NULL);
    if (o->tty) sigaction(SIGWINCH, &sa, NULL);

    int rc = 0;
    if (o->tty && o->forward_stdin && isatty(STDIN_FILENO) && term_raw(STDIN_FILENO, err) < 0)
        rc = -1;
    if (rc == 0) {
        struct sbx_stream_io io = {
            .interrupt = o->interrupt ? o->interrupt : &g_caught,
            .wake_fd = rfd,
            .stdin_fd = o->forward_stdin ? STDIN_FILENO : -1,
            .resize = o->tty ? &g_winch : NULL,
            .get_size = get_size_cb,
        };
        rc = sbx_client_exec(c, id, body, &io, res, err);
    }
    term_restore();
    if (o->tty) sigaction(SIGWINCH, &dfl, NULL);
    if (!o->interrupt)
        for (size_t i = 0; i < SBX_ARRAY_SIZE(attach_signals); i++)
            sigaction(attach_signals[i], &dfl, NULL);
    g_attach_wake = -1;
    *sig = g_caught;
    return rc;
}

/* ---- shell ------------------------------------------------------------------------ */

int cmd_shell(int argc, char **argv)
{
    static const char cmd[] = "shell";
    static const struct option longopts[] = {
        {"user", required_argument, NULL, 'u'},    {"cwd", required_argument, NULL, 'w'},
        {"workdir", required_argument, NULL, 'w'}, {"env", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},          {0}};
    sbx_err err;
    _cleanup_json_ json_object *body = json_object_new_object();
    _cleanup_json_ json_object *env = NULL;
    if (!body) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_SBX;
    }
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:u:w:e:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_shell, stdout);
            return EXIT_OK;
        case 'u':
        case 'w':
            if (!*optarg)
                return usage_error(cmd, "%s: empty %s", c == 'u' ? "--user" : "--cwd",
                                   c == 'u' ? "user" : "directory");
            if (add_member(body, c == 'u' ? "user" : "cwd", json_object_new_string(optarg), &err) <
                0)
                goto oom;
            break;
        case 'e': {
            const char *eq = strchr(optarg, '=');
            if (!eq) return usage_error(cmd, "--env: '%s' is not of the form KEY=VALUE", optarg);
            if (eq == optarg) return usage_error(cmd, "--env: '%s' has an empty key", optarg);
            if (!env && !(env = json_object_new_object())) goto oom;
            _cleanup_free_ char *key = strndup(optarg, (size_t)(eq - optarg));
            if (!key || add_member(env, key, json_object_new_string(eq + 1), &err) < 0) goto oom;
            break;
        }
        default:
            return bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) return usage_error(cmd, "missing session ID");
    const char *id = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") == 0) optind++;

    json_object *jargv = json_object_new_array();
    if (add_member(body, "argv", jargv, &err) < 0) goto oom;
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            if (json_object_array_add(jargv, json_object_new_string(argv[i])) < 0) goto oom;
    } else if (json_object_array_add(jargv, json_object_new_string(DEFAULT_SHELL)) < 0 ||
               json_object_array_add(jargv, json_object_new_string("-l")) < 0) {
        goto oom;
    }
    if (env && add_member(body, "env", json_object_get(env), &err) < 0) goto oom;
    if (add_tty_fields(body, &err) < 0) goto oom;

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_SBX;
    struct attach_opts a = {.tty = true, .forward_stdin = true, .wake_fd = -1, .wake_write_fd = -1};
    struct sbx_exec_result res;
    int sig = 0;
    int rc = exec_attached(cl, id, body, &a, &res, &sig, &err);
    return exec_outcome(id, rc, &res, &err, sig, -1);
oom:
    fprintf(stderr, "sbx: out of memory\n");
    return EXIT_SBX;
}

/* ---- ps --------------------------------------------------------------------------- */

/* argv as one line: arguments with blanks or quotes in single quotes. */
static char *format_argv(json_object *p)
{
    json_object *a;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    if (json_object_object_get_ex(p, "argv", &a) && json_object_is_type(a, json_type_array)) {
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
            const char *s = json_object_get_string(json_object_array_get_idx(a, i));
            if (!s) s = "";
            bool quote = !*s || strpbrk(s, " \t\n'\"\\$`;&|<>*?()[]{}") != NULL;
            if (i) fputc(' ', f);
            if (!quote) {
                fputs(s, f);
                continue;
            }
            fputc('\'', f);
            for (; *s; s++) {
                if (*s == '\'')
                    fputs("'\\''", f);
                else if (*s == '\n')
                    fputs("\\n", f);
                else
                    fputc(*s, f);
            }
            fputc('\'', f);
        }
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The EXIT column: "-" while running, the status, or the signal's name. */
static void format_exit(json_object *p, char *buf, size_t cap)
{
    json_object *j;
    if (json_object_object_get_ex(p, "exit_code", &j) && json_object_is_type(j, json_type_int)) {
        snprintf(buf, cap, "%d", json_object_get_int(j));
        return;
    }
    if (json_object_object_get_ex(p, "signal", &j) && json_object_is_type(j, json_type_int)) {
        int sig = json_object_get_int(j);
        const char *name = sig > 0 && sig < NSIG ? sigabbrev_np(sig) : NULL;
        if (name)
            snprintf(buf, cap, "SIG%s", name);
        else
            snprintf(buf, cap, "signal %d", sig);
        return;
    }
    snprintf(buf, cap, "-");
}

struct ps_row {
    char pid[16], exit[24], started[64];
    const char *state;
    char *command;
};

int cmd_ps(int argc, char **argv)
{
    static const char cmd[] = "ps";
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    bool json = false, quiet = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_ps, stdout);
            return EXIT_OK;
        case 'q':
            quiet = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) return usage_error(cmd, "missing session ID");
    if (optind + 1 < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *id = argv[optind];

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char path[320];
    _cleanup_json_ json_object *resp = NULL;
    if (proc_path(cl, id, 0, NULL, path, sizeof(path), &err) < 0 ||
        sbx_client_call(cl, "GET", path, NULL, &resp, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (json) {
        print_json_line(resp);
        return EXIT_OK;
    }
    json_object *procs;
    if (!resp || !json_object_object_get_ex(resp, "processes", &procs) ||
        !json_object_is_type(procs, json_type_array)) {
        fprintf(stderr, "sbx: ps: sbxd's answer has no \"processes\" array\n");
        return EXIT_FAIL;
    }
    size_t n = json_object_array_length(procs);
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            puts(str_field(json_object_array_get_idx(procs, i), "pid"));
        return EXIT_OK;
    }
    _cleanup_free_ struct ps_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    static const char *const head[] = {"PID", "STATE", "EXIT", "STARTED", "COMMAND"};
    int w[4];
    for (int k = 0; k < 4; k++)
        w[k] = (int)strlen(head[k]);
    int status = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(procs, i), *j;
        struct ps_row *r = &rows[i];
        snprintf(r->pid, sizeof(r->pid), "%s", str_field(p, "pid"));
        r->state = str_field(p, "state");
        format_exit(p, r->exit, sizeof(r->exit));
        format_age(json_object_object_get_ex(p, "started_at", &j) &&
                           json_object_is_type(j, json_type_string)
                       ? json_object_get_string(j)
                       : NULL,
                   r->started, sizeof(r->started));
        r->command = format_argv(p);
        if (!r->command) status = EXIT_FAIL;
        const char *cols[4] = {r->pid, r->state, r->exit, r->started};
        for (int k = 0; k < 4; k++)
            if ((int)strlen(cols[k]) > w[k]) w[k] = (int)strlen(cols[k]);
    }
    printf("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3],
           head[3], head[4]);
    for (size_t i = 0; i < n; i++) {
        struct ps_row *r = &rows[i];
        printf("%-*s   %-*s   %-*s   %-*s   %s\n", w[0], r->pid, w[1], r->state, w[2], r->exit,
               w[3], r->started, r->command ? r->command : "?");
        free(r->command);
    }
    if (status != EXIT_OK) fprintf(stderr, "sbx: out of memory\n");
    return status;
}

/* ---- logs ------------------------------------------------------------------------- */

static void on_dropped(void *ud, unsigned long long bytes)
{
    (void)ud;
    char size[32];
    human_size((long long)bytes, size, sizeof(size));
    fprintf(stderr,
            "sbx: %s of older output were dropped: the log buffer keeps only the most recent "
            "output (start the process with 'sbx exec -d --log-buffer SIZE' for more)\n",
            size);
}

int cmd_logs(int argc, char **argv)
{
    static const char cmd[] = "logs";
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool follow = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_logs, stdout);
            return EXIT_OK;
        case 'f':
            follow = true;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    const char *id;
    int pid;
    if (id_and_pid(cmd, argc, argv, &id, &pid) < 0) return EXIT_USAGE;

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    struct sbx_exec_result res;
    struct sbx_stream_io io = {.wake_fd = -1, .stdin_fd = -1, .on_dropped = on_dropped};
    if (sbx_client_logs(cl, id, pid, follow, &io, &res, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (res.output_closed) return 128 + SIGPIPE;
    if (res.restarted) {
        fprintf(stderr,
                "sbx: the supervisor restarted; process %d is still running in session %s "
                "(follow it again: sbx logs -f %s %d)\n",
                pid, id, id, pid);
        return EXIT_FAIL;
    }
    if (follow && !res.exited) {
        fprintf(stderr,
                "sbx: the log stream from sbxd ended before process %d exited (the connection "
                "to sbxd was lost?); follow it again: sbx logs -f %s %d\n",
                pid, id, pid);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- kill ------------------------------------------------------------------------- */

int cmd_kill(int argc, char **argv)
{
    static const char cmd[] = "kill";
    static const struct option longopts[] = {
        {"signal", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *signame = "TERM";
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_kill, stdout);
            return EXIT_OK;
        case 's':
            if (!*optarg) return usage_error(cmd, "--signal: empty signal");
            signame = optarg;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    const char *id;
    int pid;
    if (id_and_pid(cmd, argc, argv, &id, &pid) < 0) return EXIT_USAGE;

    sbx_err err;
    _cleanup_json_ json_object *body = json_object_new_object();
    if (!body) return EXIT_FAIL;
    /* a number goes as a number; a name as typed (sbxd knows the names) */
    char *end;
    errno = 0;
    long num = strtol(signame, &end, 10);
    bool is_num = isdigit((unsigned char)*signame) && !*end && errno == 0 && num <= INT_MAX;
    if (add_member(body, "signal",
                   is_num ? json_object_new_int((int)num) : json_object_new_string(signame),
                   &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    char path[360];
    if (proc_path(cl, id, pid, "signal", path, sizeof(path), &err) < 0 ||
        sbx_client_call(cl, "POST", path, body, NULL, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- wait ------------------------------------------------------------------------- */

int cmd_wait(int argc, char **argv)
{
    static const char cmd[] = "wait";
    static const struct option longopts[] = {{"port", required_argument, NULL, OPT_PORT},
                                             {"log", required_argument, NULL, OPT_LOG},
                                             {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    const char *port = NULL, *text = NULL, *timeout = NULL;
    int c;
    optind = 0;
    opterr = 0;
    /* "-": options and operands in any order (sbx wait ID PID --port 80) */
    const char *ops[3];
    int nops = 0;
    while ((c = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 1:
            if (nops == 2) return usage_error(cmd, "unexpected argument '%s'", optarg);
            ops[nops++] = optarg;
            break;
        case 'h':
            fputs(help_wait, stdout);
            return EXIT_OK;
        case OPT_PORT:
            errno = 0;
            (void)strtol(optarg, &end, 10);
            if (!isdigit((unsigned char)*optarg) || *end || errno == ERANGE)
                return usage_error(cmd, "--port: '%s' is not a port number", optarg);
            port = optarg;
            break;
        case OPT_LOG:
            if (!*optarg) return usage_error(cmd, "--log: empty text");
            text = optarg;
            break;
        case OPT_TIMEOUT:
            errno = 0;
            (void)strtod(optarg, &end);
            if (!*optarg || isspace((unsigned char)*optarg) || *end || errno == ERANGE)
                return usage_error(cmd, "--timeout: '%s' is not a number of seconds", optarg);
            timeout = optarg;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    for (; optind < argc; optind++) { /* after "--" */
        if (nops == 2) return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        ops[nops++] = argv[optind];
    }
    if (nops == 0) return usage_error(cmd, "missing session ID and PID");
    if (nops == 1) return usage_error(cmd, "missing PID (see 'sbx ps %s')", ops[0]);
    if (!port && !text) return usage_error(cmd, "say what to wait for: --port N or --log TEXT");
    if (port && text) return usage_error(cmd, "--port and --log cannot be combined");
    const char *id = ops[0];
    int pid;
    if (parse_pid(cmd, ops[1], &pid) < 0) return EXIT_USAGE;

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char base[360];
    size_t cap = (text ? strlen(text) * 3 : 0) + 64;
    _cleanup_free_ char *q = malloc(cap);
    _cleanup_free_ char *etimeout = NULL, *path = NULL;
    if (!q) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    if (proc_path(cl, id, pid, "wait", base, sizeof(base), &err) < 0 ||
        (text && sbx_client_escape(cl, text, q, cap, &err) < 0)) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (timeout && !(etimeout = malloc(strlen(timeout) * 3 + 1))) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    if (timeout && sbx_client_escape(cl, timeout, etimeout, strlen(timeout) * 3 + 1, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (asprintf(&path, "%s?%s=%s%s%s", base, port ? "port" : "log", port ? port : q,
                 timeout ? "&timeout=" : "", timeout ? etimeout : "") < 0) {
        path = NULL;
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    if (sbx_client_call(cl, "GET", path, NULL, NULL, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

/* ---- keepalive -------------------------------------------------------------------- */

int cmd_keepalive(int argc, char **argv)
{
    static const char cmd[] = "keepalive";
    int r = parse_help_only(cmd, help_keepalive, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error(cmd, "missing session ID");
    if (optind + 1 < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char eid[256], path[320];
    if (sbx_client_escape(cl, argv[optind], eid, sizeof(eid), &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    snprintf(path, sizeof(path), "/v1/sessions/%s/keepalive", eid);
    if (sbx_client_call(cl, "POST", path, NULL, NULL, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}
