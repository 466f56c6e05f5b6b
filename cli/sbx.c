/* sbx.c - the `sbx` command line: argument syntax, request bodies, output
 * formatting, exit statuses and the signal handling of `sbx run`.
 *
 * Owns: parsing argv (getopt_long per subcommand, "+" so a command's own argv
 * is never parsed), local syntax checks (K=V, numbers), building the JSON
 * bodies of docs/api.md, printing results, and printing every error exactly
 * once as "sbx: <message>".
 *
 * Commands big enough for a file of their own (`sbx image`: cli/image.c;
 * `sbx cp`: cli/cp.c; `sbx shell`, `ps`, `logs`, `kill`, `wait`, `keepalive`
 * and the terminal side of exec -i/--tty: cli/proc.c; `sbx workspace`:
 * cli/workspace.c) use the helpers declared in cli/cli.h.
 *
 * Must never: talk HTTP or touch libcurl directly (that is cli/client.c),
 * check value ranges the daemon owns (memory, pids, cpu, ttl limits, env
 * names, users), exit() anywhere but main(), or leave a `sbx run` session
 * behind on a normal exit or on SIGINT/SIGTERM/SIGHUP. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "audit.h"
#include "cleanup.h"
#include "cli.h"
#include "client.h"
#include "error.h"
#include "jsontext.h"
#include "policy.h"
#include "table.h"

#ifndef SBX_VERSION
#define SBX_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/sbx/sbxd.sock"
#define CODE_USAGE "usage"

static const char *g_socket = DEFAULT_SOCKET;

/* ---- messages ------------------------------------------------------------ */

void print_err(const sbx_err *err)
{
    fprintf(stderr, "sbx: %s\n", err->msg);
}

/* Print a usage error for cmd (NULL: the top level) and return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "sbx %s: %s\nRun 'sbx %s --help' for usage.\n", cmd, msg, cmd);
    else
        fprintf(stderr, "sbx: %s\nRun 'sbx --help' for usage.\n", msg);
    return EXIT_USAGE;
}

/* getopt returned '?' or ':' (opterr is 0, optstring starts with "+:"). */
int bad_option(const char *cmd, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    bool is_long = strncmp(arg, "--", 2) == 0;
    int len = (int)strcspn(arg, "=");
    if (c == ':') {
        if (is_long) return usage_error(cmd, "option '%.*s' needs a value", len, arg);
        return usage_error(cmd, "option '-%c' needs a value", optopt);
    }
    if (is_long && optopt && arg[len] == '=')
        return usage_error(cmd, "option '%.*s' takes no value", len, arg);
    if (is_long) return usage_error(cmd, "unknown option '%.*s'", len, arg);
    return usage_error(cmd, "unknown option '-%c'", optopt ? optopt : '?');
}

/* ---- local syntax checks ------------------------------------------------- */

static int syntax_error(sbx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int syntax_error(sbx_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    err->errnum = 0;
    err->kind = SBX_E_INVALID;
    err->code = CODE_USAGE;
    return -1;
}

static int parse_int(const char *opt, const char *s, int64_t *v, sbx_err *err)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end)
        return syntax_error(err, "%s: '%s' is not an integer", opt, s);
    if (errno == ERANGE) return syntax_error(err, "%s: '%s' is out of range", opt, s);
    *v = x;
    return 0;
}

static int parse_number(const char *opt, const char *s, double *v, sbx_err *err)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (!*s || isspace((unsigned char)*s) || *end || !isfinite(x))
        return syntax_error(err, "%s: '%s' is not a number", opt, s);
    if (errno == ERANGE && x != 0) return syntax_error(err, "%s: '%s' is out of range", opt, s);
    *v = x;
    return 0;
}

/* BYTES, or a number with K, M or G (powers of 1024). */
static int parse_size(const char *opt, const char *s, int64_t *v, sbx_err *err)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || !isdigit((unsigned char)*s) || end == s)
        return syntax_error(err, "%s: '%s' is not a size (BYTES, or a number with K, M or G)", opt,
                            s);
    int shift = 0;
    if (*end && !end[1]) {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            shift = 10;
            end++;
            break;
        case 'M':
            shift = 20;
            end++;
            break;
        case 'G':
            shift = 30;
            end++;
            break;
        default:
            break;
        }
    }
    if (*end)
        return syntax_error(err, "%s: '%s' is not a size (BYTES, or a number with K, M or G)", opt,
                            s);
    if (errno == ERANGE || x > (INT64_MAX >> shift))
        return syntax_error(err, "%s: '%s' is out of range", opt, s);
    *v = (int64_t)x << shift;
    return 0;
}

int add_kv(json_object **map, const char *opt, const char *s, sbx_err *err)
{
    const char *eq = strchr(s, '=');
    if (!eq) return syntax_error(err, "%s: '%s' is not of the form KEY=VALUE", opt, s);
    if (eq == s) return syntax_error(err, "%s: '%s' has an empty key", opt, s);
    if (!*map && !(*map = json_object_new_object())) return sbx_error(err, ENOMEM, "build request");
    _cleanup_free_ char *key = strndup(s, (size_t)(eq - s));
    json_object *val = json_object_new_string(eq + 1);
    if (!key || !val || json_object_object_add(*map, key, val) < 0) {
        json_object_put(val);
        return sbx_error(err, ENOMEM, "%s", opt);
    }
    return 0;
}

int add_member(json_object *o, const char *key, json_object *v, sbx_err *err)
{
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return sbx_error(err, ENOMEM, "build request");
    }
    return 0;
}

/* ---- options shared by create, exec and run ------------------------------ */

enum {
    OPT_IMAGE = 256,
    OPT_MEMORY,
    OPT_DISK,
    OPT_DISK_INODES,
    OPT_PIDS,
    OPT_CPU,
    OPT_LABEL,
    OPT_TTL,
    OPT_SOCKET,
    OPT_VERSION,
    OPT_JSON,
    OPT_ALLOW,
    OPT_DENY,
    OPT_ALLOW_CIDR,
    OPT_REPORT,
    OPT_POLICY,
    OPT_NETWORK_FILE,
    OPT_FILE,
    OPT_SESSION,
    OPT_DECISION,
    OPT_SINCE,
    OPT_WORKSPACE,
    OPT_TTY,
    OPT_LOG_BUFFER,
    OPT_IDLE_TIMEOUT,
};

/* ---- network options (create, run, network) ------------------------------ */

/* Either rules (--allow, --deny, --allow-cidr, --report), or a node policy
 * (--policy), or a policy file (--network-file): one of the three. */
struct net_opts {
    json_object *allow, *deny, *cidrs; /* arrays of strings; NULL when none given */
    bool report;
    const char *policy; /* --policy NAME */
    const char *file;   /* --network-file FILE */
};

static void net_opts_free(struct net_opts *o)
{
    json_object_put(o->allow);
    json_object_put(o->deny);
    json_object_put(o->cidrs);
}

static bool net_rules_given(const struct net_opts *o)
{
    return o->allow || o->deny || o->cidrs || o->report;
}

static bool net_opts_given(const struct net_opts *o)
{
    return net_rules_given(o) || o->policy || o->file;
}

/* Append s to the array *arr (made on first use). */
static int append_str(json_object **arr, const char *opt, const char *s, sbx_err *err)
{
    if (!*s) return syntax_error(err, "%s: empty value", opt);
    if (!*arr && !(*arr = json_object_new_array())) return sbx_error(err, ENOMEM, "%s", opt);
    json_object *v = json_object_new_string(s);
    if (!v || json_object_array_add(*arr, v) < 0) {
        json_object_put(v);
        return sbx_error(err, ENOMEM, "%s", opt);
    }
    return 0;
}

/* 1: handled, 0: not a network option, -1: bad value (err). Host syntax is
 * sbxd's to check (its message names the field); only emptiness is checked. */
static int net_option(struct net_opts *o, int c, const char *arg, sbx_err *err)
{
    switch (c) {
    case OPT_ALLOW:
        return append_str(&o->allow, "--allow", arg, err) < 0 ? -1 : 1;
    case OPT_DENY:
        return append_str(&o->deny, "--deny", arg, err) < 0 ? -1 : 1;
    case OPT_ALLOW_CIDR:
        return append_str(&o->cidrs, "--allow-cidr", arg, err) < 0 ? -1 : 1;
    case OPT_REPORT:
        o->report = true;
        return 1;
    case OPT_POLICY:
        if (!*arg) return syntax_error(err, "--policy: empty policy name");
        o->policy = arg;
        return 1;
    case OPT_NETWORK_FILE:
        if (!*arg) return syntax_error(err, "--network-file: empty file name");
        o->file = arg;
        return 1;
    default:
        return 0;
    }
}

/* The three ways to give a policy exclude each other. */
static int net_opts_check(const struct net_opts *o, sbx_err *err)
{
    if (o->policy && o->file)
        return syntax_error(err, "--policy and --network-file cannot be combined");
    if ((o->policy || o->file) && net_rules_given(o))
        return syntax_error(err,
                            "%s cannot be combined with --allow, --deny, --allow-cidr or --report",
                            o->policy ? "--policy" : "--network-file");
    return 0;
}

#define NET_LONGOPTS                                                                               \
    {"allow", required_argument, NULL, OPT_ALLOW}, {"deny", required_argument, NULL, OPT_DENY},    \
        {"allow-cidr", required_argument, NULL, OPT_ALLOW_CIDR},                                   \
        {"report", no_argument, NULL, OPT_REPORT},                                                 \
        {"policy", required_argument, NULL, OPT_POLICY},                                           \
    {                                                                                              \
        "network-file", required_argument, NULL, OPT_NETWORK_FILE                                  \
    }

struct create_opts {
    const char *image;
    const char *workspace;
    const char *memory;
    const char *disk; /* --disk SIZE: limits.disk_bytes */
    bool has_disk_inodes;
    int64_t disk_inodes;
    bool has_pids, has_cpu, has_ttl, has_idle;
    int64_t pids, ttl, idle;
    double cpu;
    json_object *env; /* session env (create only; run sends env with the exec) */
    json_object *labels;
    struct net_opts net;
};

struct exec_opts {
    bool interactive; /* -i: forward stdin, keep the process's stdin open until its end */
    bool tty;         /* --tty: the process gets a terminal */
    bool detach;      /* -d (exec only): start in the background, print the pid */
    json_object *env;
    const char *cwd;
    const char *user;
    bool has_timeout;
    double timeout;
    bool has_log_buffer;
    int64_t log_buffer;
};

static void create_opts_free(struct create_opts *o)
{
    json_object_put(o->env);
    json_object_put(o->labels);
    net_opts_free(&o->net);
}

static void exec_opts_free(struct exec_opts *o)
{
    json_object_put(o->env);
}

/* 1: handled, 0: not a create option, -1: bad value (err). */
static int create_option(struct create_opts *o, int c, const char *arg, sbx_err *err)
{
    switch (c) {
    case OPT_IMAGE:
        if (!*arg) return syntax_error(err, "--image: empty image name");
        o->image = arg;
        return 1;
    case OPT_WORKSPACE:
        if (!*arg) return syntax_error(err, "--workspace: empty workspace name");
        o->workspace = arg;
        return 1;
    case OPT_MEMORY:
        if (!*arg) return syntax_error(err, "--memory: empty size");
        o->memory = arg;
        return 1;
    case OPT_DISK:
        if (!*arg) return syntax_error(err, "--disk: empty size");
        o->disk = arg;
        return 1;
    case OPT_DISK_INODES:
        o->has_disk_inodes = true;
        return parse_int("--disk-inodes", arg, &o->disk_inodes, err) < 0 ? -1 : 1;
    case OPT_PIDS:
        o->has_pids = true;
        return parse_int("--pids", arg, &o->pids, err) < 0 ? -1 : 1;
    case OPT_CPU:
        o->has_cpu = true;
        return parse_number("--cpu", arg, &o->cpu, err) < 0 ? -1 : 1;
    case OPT_IDLE_TIMEOUT:
        o->has_idle = true;
        return parse_int("--idle-timeout", arg, &o->idle, err) < 0 ? -1 : 1;
    case OPT_TTL:
        o->has_ttl = true;
        return parse_int("--ttl", arg, &o->ttl, err) < 0 ? -1 : 1;
    case OPT_LABEL:
        return add_kv(&o->labels, "--label", arg, err) < 0 ? -1 : 1;
    default:
        return net_option(&o->net, c, arg, err);
    }
}

static int exec_option(struct exec_opts *o, int c, const char *arg, sbx_err *err)
{
    switch (c) {
    case 'i':
        o->interactive = true;
        return 1;
    case 'e':
        return add_kv(&o->env, "--env", arg, err) < 0 ? -1 : 1;
    case 'w':
        if (!*arg) return syntax_error(err, "--cwd: empty directory");
        o->cwd = arg;
        return 1;
    case 'u':
        if (!*arg) return syntax_error(err, "--user: empty user");
        o->user = arg;
        return 1;
    case 't':
        o->has_timeout = true;
        if (parse_number("--timeout", arg, &o->timeout, err) < 0) {
            /* sbx exec -it ID sh: the docker habit */
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof(err->msg) - n,
                     " (-t is --timeout SECS; for a terminal use --tty, or 'sbx shell')");
            return -1;
        }
        return 1;
    case 'd':
        o->detach = true;
        return 1;
    case OPT_TTY:
        o->tty = true;
        return 1;
    case OPT_LOG_BUFFER:
        o->has_log_buffer = true;
        return parse_size("--log-buffer", arg, &o->log_buffer, err) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

#define CREATE_LONGOPTS                                                                            \
    {"image", required_argument, NULL, OPT_IMAGE},                                                 \
        {"workspace", required_argument, NULL, OPT_WORKSPACE},                                     \
        {"memory", required_argument, NULL, OPT_MEMORY},                                           \
        {"disk", required_argument, NULL, OPT_DISK},                                               \
        {"disk-inodes", required_argument, NULL, OPT_DISK_INODES},                                 \
        {"pids", required_argument, NULL, OPT_PIDS}, {"cpu", required_argument, NULL, OPT_CPU},    \
        {"label", required_argument, NULL, OPT_LABEL}, {"ttl", required_argument, NULL, OPT_TTL},  \
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT}, NET_LONGOPTS
#define EXEC_LONGOPTS                                                                              \
    {"interactive", no_argument, NULL, 'i'}, {"cwd", required_argument, NULL, 'w'},                \
        {"workdir", required_argument, NULL, 'w'}, {"user", required_argument, NULL, 'u'},         \
        {"timeout", required_argument, NULL, 't'}, {"tty", no_argument, NULL, OPT_TTY},            \
    {                                                                                              \
        "log-buffer", required_argument, NULL, OPT_LOG_BUFFER                                      \
    }

static int net_body(const struct net_opts *o, json_object **out, sbx_err *err);

static int create_body(const struct create_opts *o, json_object **out, sbx_err *err)
{
    _cleanup_json_ json_object *body = json_object_new_object();
    if (!body) return sbx_error(err, ENOMEM, "build request");
    if (add_member(body, "image", json_object_new_string(o->image), err) < 0) return -1;
    if (o->memory || o->has_pids || o->has_cpu || o->disk || o->has_disk_inodes) {
        json_object *limits = json_object_new_object();
        if (add_member(body, "limits", limits, err) < 0) return -1;
        if (o->memory) {
            /* Plain digits are bytes (an integer, which the API takes for
             * sure); anything else goes as typed and sbxd parses it. */
            char *end;
            errno = 0;
            long long b = strtoll(o->memory, &end, 10);
            bool digits = isdigit((unsigned char)o->memory[0]) && !*end && errno == 0;
            if (add_member(limits, "memory",
                           digits ? json_object_new_int64(b) : json_object_new_string(o->memory),
                           err) < 0)
                return -1;
        }
        if (o->has_pids && add_member(limits, "pids", json_object_new_int64(o->pids), err) < 0)
            return -1;
        if (o->disk) { /* as --memory: digits are bytes, sbxd parses the rest */
            char *end;
            errno = 0;
            long long b = strtoll(o->disk, &end, 10);
            bool digits = isdigit((unsigned char)o->disk[0]) && !*end && errno == 0;
            if (add_member(limits, "disk_bytes",
                           digits ? json_object_new_int64(b) : json_object_new_string(o->disk),
                           err) < 0)
                return -1;
        }
        if (o->has_disk_inodes &&
            add_member(limits, "disk_inodes", json_object_new_int64(o->disk_inodes), err) < 0)
            return -1;
        if (o->has_cpu && add_member(limits, "cpu", json_object_new_double(o->cpu), err) < 0)
            return -1;
    }
    if (o->env && add_member(body, "env", json_object_get(o->env), err) < 0) return -1;
    if (o->labels && add_member(body, "labels", json_object_get(o->labels), err) < 0) return -1;
    if (o->has_ttl && add_member(body, "ttl", json_object_new_int64(o->ttl), err) < 0) return -1;
    if (o->has_idle && add_member(body, "idle_timeout", json_object_new_int64(o->idle), err) < 0)
        return -1;
    if (o->workspace &&
        add_member(body, "workspace", json_object_new_string(o->workspace), err) < 0)
        return -1;
    if (net_opts_given(&o->net)) {
        json_object *net = NULL;
        if (net_body(&o->net, &net, err) < 0) return -1;
        if (add_member(body, "network", net, err) < 0) return -1;
    }
    *out = steal_pointer(&body);
    return 0;
}

/* ---- signals of sbx run -------------------------------------------------- */

static volatile sig_atomic_t g_signal; /* last SIGINT/SIGTERM/SIGHUP caught by run */
static volatile sig_atomic_t g_signal_count;
static int g_wake_fd = -1;      /* write end of the self-pipe */
static int g_wake_read_fd = -1; /* its read end */
static char g_forced_msg[160] = "sbx: forced exit\n";

/* Read fd to its end, at most max bytes (more: SBX_E_TOOLARGE). what names
 * the read in messages ("read stdin"). */
static int read_all(int fd, size_t max, const char *what, char **out, size_t *out_len, sbx_err *err)
{
    size_t cap = 64 * 1024, len = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf) return sbx_error(err, ENOMEM, "%s", what);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) return sbx_error(err, ENOMEM, "%s", what);
            buf = p;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n > 0) {
            len += (size_t)n;
            if (len > max)
                return sbx_error_kind(err, SBX_E_TOOLARGE, "payload_too_large",
                                      "%s: more than %zu bytes", what, max);
            continue;
        }
        if (n == 0) break;
        if (errno == EINTR) {
            if (g_signal) return sbx_error(err, EINTR, "%s", what);
            continue;
        }
        return sbx_error(err, errno, "%s", what);
    }
    *out = steal_pointer(&buf);
    *out_len = len;
    return 0;
}

/* ---- policy files ---------------------------------------------------------- */

/* Policies are small (3 x 256 entries of at most 269 bytes, a 4 KiB description). */
#define POLICY_FILE_MAX ((size_t)4 * 1024 * 1024)

/* How messages name a file argument ("-" is stdin). */
static const char *file_label(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* Read path ("-": stdin) as one strict JSON object. err->msg does not name
 * the file: the caller does. */
static int read_json_object(const char *path, json_object **out, sbx_err *err)
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (strcmp(path, "-") != 0 && (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        return sbx_error(err, errno, "cannot open");
    if (read_all(fd >= 0 ? fd : STDIN_FILENO, POLICY_FILE_MAX, "cannot read", &buf, &len, err) < 0)
        return -1;
    _cleanup_json_ json_object *o = NULL;
    if (json_text_parse(buf, len, &o, err) < 0) return -1;
    if (!json_object_is_type(o, json_type_object))
        return syntax_error(err, "must be a JSON object ({...}), not %s",
                            json_type_to_name(json_object_get_type(o)));
    *out = steal_pointer(&o);
    return 0;
}

/* Read and parse a policy file into *out (heap; policy_destroy it). */
static int load_policy(const char *path, struct policy **out, sbx_err *err)
{
    _cleanup_json_ json_object *o = NULL;
    _cleanup_policy_ struct policy *p = calloc(1, sizeof(*p));
    if (!p) return sbx_error(err, ENOMEM, "policy");
    if (read_json_object(path, &o, err) < 0 || policy_from_json(o, "", p, err) < 0) return -1;
    *out = steal_pointer(&p);
    return 0;
}

/* The "network" object of a request: {"policy": NAME}, the file's object,
 * or one made of the rule options. */
static int net_body(const struct net_opts *o, json_object **out, sbx_err *err)
{
    if (o->file) {
        if (read_json_object(o->file, out, err) < 0)
            return sbx_error_wrap(err, "--network-file %s", file_label(o->file));
        return 0;
    }
    _cleanup_json_ json_object *net = json_object_new_object();
    if (!net) return sbx_error(err, ENOMEM, "build request");
    if (o->policy && add_member(net, "policy", json_object_new_string(o->policy), err) < 0)
        return -1;
    if (o->report && add_member(net, "mode", json_object_new_string("report"), err) < 0) return -1;
    if (o->allow && add_member(net, "allow", json_object_get(o->allow), err) < 0) return -1;
    if (o->deny && add_member(net, "deny", json_object_get(o->deny), err) < 0) return -1;
    if (o->cidrs && add_member(net, "allow_cidrs", json_object_get(o->cidrs), err) < 0) return -1;
    *out = steal_pointer(&net);
    return 0;
}

static int exec_body(const struct exec_opts *o, char **argv, int argc, json_object **out,
                     sbx_err *err)
{
    _cleanup_json_ json_object *body = json_object_new_object();
    if (!body) return sbx_error(err, ENOMEM, "build request");
    json_object *jargv = json_object_new_array_ext(argc);
    if (add_member(body, "argv", jargv, err) < 0) return -1;
    for (int i = 0; i < argc; i++) {
        json_object *s = json_object_new_string(argv[i]);
        if (!s || json_object_array_add(jargv, s) < 0) {
            json_object_put(s);
            return sbx_error(err, ENOMEM, "build request");
        }
    }
    if (o->env && add_member(body, "env", json_object_get(o->env), err) < 0) return -1;
    if (o->cwd && add_member(body, "cwd", json_object_new_string(o->cwd), err) < 0) return -1;
    if (o->user && add_member(body, "user", json_object_new_string(o->user), err) < 0) return -1;
    if (o->has_timeout && add_member(body, "timeout", json_object_new_double(o->timeout), err) < 0)
        return -1;
    if (o->detach && add_member(body, "background", json_object_new_boolean(true), err) < 0)
        return -1;
    if (o->has_log_buffer &&
        add_member(body, "log_buffer", json_object_new_int64(o->log_buffer), err) < 0)
        return -1;
    if (o->tty) {
        if (add_tty_fields(body, err) < 0) return -1;
    } else if (o->interactive) {
        if (add_member(body, "stdin_open", json_object_new_boolean(true), err) < 0) return -1;
    }
    *out = steal_pointer(&body);
    return 0;
}

/* ---- exec result ---------------------------------------------------------- */

static int exec_error_status(const sbx_err *err)
{
    if (err->code && strcmp(err->code, "executable_not_found") == 0) return EXIT_NOTFOUND;
    if (err->code && strcmp(err->code, "exec_failed") == 0) return EXIT_CANNOT;
    return EXIT_SBX;
}

int exec_outcome(const char *id, int rc, const struct sbx_exec_result *r, const sbx_err *err,
                 int sig, double timeout)
{
    if (r->stdin_failed) fprintf(stderr, "sbx: %s\n", r->stdin_err.msg);
    if (rc < 0) {
        print_err(err);
        if (r->pid > 0 && err->code && strcmp(err->code, SBX_CODE_TRANSPORT) == 0)
            fprintf(stderr,
                    "sbx: process %d may still be running in session %s (see 'sbx ps %s'; "
                    "stop it with 'sbx kill %s %d')\n",
                    r->pid, id, id, id, r->pid);
        return exec_error_status(err);
    }
    if (r->interrupted) return 128 + (sig ? sig : SIGINT);
    if (r->output_closed) return 128 + SIGPIPE;
    if (r->restarted) { /* never a made-up exit status: the process still runs */
        fprintf(stderr,
                "sbx: the supervisor restarted%s%s%s; process %d is still running in session %s "
                "(follow it: sbx logs -f %s %d; stop it: sbx kill %s %d)\n",
                r->restart_msg[0] ? " (" : "", r->restart_msg, r->restart_msg[0] ? ")" : "", r->pid,
                id, id, r->pid, id, r->pid);
        return EXIT_SBX;
    }
    if (r->oom_killed)
        fprintf(stderr, "sbx: process killed: out of memory (session memory limit)\n");
    if (r->timed_out) {
        if (timeout >= 0)
            fprintf(stderr, "sbx: process killed: timed out (--timeout %g)\n", timeout);
        else
            fprintf(stderr, "sbx: process killed: timed out\n");
    }
    if (r->code >= 0) return r->code > 255 ? 255 : r->code;
    return 128 + r->signal;
}

/* -d: start it in the background and print its pid. */
static int exec_detached(sbx_client *c, const char *id, json_object *body)
{
    sbx_err err;
    char path[320];
    _cleanup_json_ json_object *resp = NULL;
    if (session_path(c, id, "exec", path, sizeof(path), &err) < 0) {
        print_err(&err);
        return EXIT_SBX;
    }
    if (sbx_client_call(c, "POST", path, body, &resp, &err) < 0) {
        print_err(&err);
        return exec_error_status(&err);
    }
    json_object *pid;
    if (!resp || !json_object_object_get_ex(resp, "pid", &pid) ||
        !json_object_is_type(pid, json_type_int)) {
        fprintf(stderr, "sbx: exec -d: sbxd's answer has no pid\n");
        return EXIT_SBX;
    }
    printf("%d\n", json_object_get_int(pid));
    return EXIT_OK;
}

/* Runs the exec and turns the outcome into an exit status. interruptible:
 * sbx run's signal handlers are installed (g_signal, g_wake_read_fd). */
static int do_exec(sbx_client *c, const char *id, json_object *body, const struct exec_opts *o,
                   bool interruptible)
{
    if (o->detach) return exec_detached(c, id, body);
    sbx_err err;
    struct sbx_exec_result res;
    double timeout = o->has_timeout ? o->timeout : -1;
    /* -i, and --tty on a terminal: stdin goes to the process as it comes */
    if (o->interactive || (o->tty && isatty(STDIN_FILENO))) {
        struct attach_opts a = {.tty = o->tty,
                                .forward_stdin = true,
                                .interrupt = interruptible ? &g_signal : NULL,
                                .wake_fd = interruptible ? g_wake_read_fd : -1,
                                .wake_write_fd = interruptible ? g_wake_fd : -1};
        int sig = 0;
        int rc = exec_attached(c, id, body, &a, &res, &sig, &err);
        return exec_outcome(id, rc, &res, &err, interruptible ? g_signal : sig, timeout);
    }
    struct sbx_stream_io io = {.interrupt = interruptible ? &g_signal : NULL,
                               .wake_fd = interruptible ? g_wake_read_fd : -1,
                               .stdin_fd = -1};
    int rc = sbx_client_exec(c, id, body, &io, &res, &err);
    return exec_outcome(id, rc, &res, &err, g_signal, timeout);
}

/* ---- help texts ----------------------------------------------------------- */

static const char help_main[] =
    "Usage: sbx [--socket PATH] COMMAND [ARG...]\n"
    "\n"
    "Run commands in Linux sandboxes managed by sbxd.\n"
    "\n"
    "Commands:\n"
    "  create    Create a session and print its id\n"
    "  exec      Run a command in a session, streaming its output\n"
    "  shell     Open an interactive shell in a session (like ssh)\n"
    "  ps        List a session's processes\n"
    "  logs      Show (and follow) a process's output\n"
    "  kill      Send a signal to a process\n"
    "  wait      Wait until a process listens on a port or prints a text\n"
    "  keepalive Reset a session's idle timer\n"
    "  run       Create a session, run one command in it, then remove it\n"
    "  ls        List sessions\n"
    "  inspect   Show sessions as JSON\n"
    "  rm        Remove sessions\n"
    "  cp        Copy files and directories between the host and a session\n"
    "  image     Import, list, inspect and remove images\n"
    "  workspace List, inspect and remove named workspaces\n"
    "  network   Show or change a session's egress policy\n"
    "  expose    Open a session's port to a browser (preview URL), or close it\n"
    "  ports     List the ports a session exposes\n"
    "  policy    Check an egress policy file, or show its canonical form\n"
    "  audit     Show the egress audit log (what sandboxes reached or tried to)\n"
    "  health    Show the daemon's status (alias: info)\n"
    "  version   Show the version of sbx\n"
    "\n"
    "Options:\n"
    "      --socket PATH  sbxd's socket (default: $SBX_SOCKET, else " DEFAULT_SOCKET ")\n"
    "  -h, --help         Show this help\n"
    "      --version      Show the version of sbx\n"
    "\n"
    "Run 'sbx COMMAND --help' for the options of a command.\n";

#define CREATE_OPTS_HELP                                                                           \
    "      --image NAME     Image to use (required)\n"                                             \
    "      --workspace NAME Keep the session's files in workspace NAME: made if new,\n"            \
    "                       found as the last session left it if not (see 'sbx\n"                  \
    "                       workspace --help')\n"                                                  \
    "      --memory SIZE    Memory limit: bytes, or a number with K, M or G (default 512M)\n"      \
    "      --pids N         Maximum number of processes (default 1024)\n"                          \
    "      --disk SIZE      Disk quota of the session's files: bytes, or a number with\n"          \
    "                       K, M or G (default 10G, or sbxd's --disk-bytes)\n"                     \
    "      --disk-inodes N  Most files and directories it may make (default 1000000)\n"            \
    "      --cpu N          CPUs, e.g. 0.5 (default: no limit)\n"                                  \
    "      --label K=V      Label the session (repeatable)\n"                                      \
    "      --ttl SECS       Remove the session automatically after SECS seconds\n"                 \
    "      --idle-timeout SECS\n"                                                                  \
    "                       Remove it after SECS seconds without activity: exec,\n"                \
    "                       file or process requests, open streams, 'sbx keepalive'\n"             \
    "                       (background processes alone do not count)\n"

#define NET_OPTS_HELP                                                                              \
    "      --allow HOST[:PORTS]\n"                                                                 \
    "                       Allow connections to HOST (\"*.example.com\": any name\n"              \
    "                       below example.com) on PORTS (443 or 8000-8100; default\n"              \
    "                       80 and 443) (repeatable)\n"                                            \
    "      --deny HOST[:PORTS]\n"                                                                  \
    "                       Deny HOST on PORTS (default: every port); wins over\n"                 \
    "                       --allow (repeatable)\n"                                                \
    "      --allow-cidr CIDR[:PORTS]\n"                                                            \
    "                       Allow connections to the literal addresses in CIDR\n"                  \
    "                       (203.0.113.0/24:443; default: every port) (repeatable)\n"              \
    "      --report         Report mode: let through what the rules would deny, and\n"             \
    "                       log it\n"                                                              \
    "      --policy NAME    The node's policy NAME.json (in sbxd's --policy-dir,\n"                \
    "                       /etc/sbx/policy.d by default)\n"                                       \
    "      --network-file FILE\n"                                                                  \
    "                       The policy in FILE (JSON, see 'sbx policy --help'; - is\n"             \
    "                       stdin)\n"

#define NET_OPTS_NOTE "--policy and --network-file exclude each other and the rule options.\n"

#define EXEC_OPTS_HELP                                                                             \
    "  -i, --interactive    Forward sbx's stdin to the command as it comes; its end\n"             \
    "                       closes the command's stdin (default: empty stdin)\n"                   \
    "      --tty            Give the command a terminal (its stdout and stderr\n"                  \
    "                       arrive merged on stdout). When sbx's stdin is a terminal,\n"           \
    "                       stdin is forwarded (as with -i) in raw mode and the\n"                 \
    "                       window size follows yours; $TERM is passed on\n"                       \
    "  -w, --cwd DIR        Working directory (default: the user's home)\n"                        \
    "  -u, --user USER      sandbox, root, UID or UID:GID (default: sandbox)\n"                    \
    "  -t, --timeout SECS   Kill the command after SECS seconds\n"                                 \
    "      --log-buffer SIZE\n"                                                                    \
    "                       With -d: keep the last SIZE bytes of its output for\n"                 \
    "                       'sbx logs' (BYTES, or with K, M or G; 1K..64M; default:\n"             \
    "                       sbxd's --log-buffer, 1M)\n"

#define EXIT_HELP                                                                                  \
    "Exit status: the command's; 128+N if it was killed by signal N; 125 if sbx or\n"              \
    "sbxd failed, or the stream ended before the command did (when sbxd restarts,\n"               \
    "the command keeps running: see 'sbx ps' and 'sbx logs'); 126 if the command\n"                \
    "could not be started; 127 if it was not found.\n"

static const char help_create[] =
    "Usage: sbx create --image NAME [OPTION...]\n"
    "\n"
    "Create a session and print its id.\n"
    "\n"
    "Options:\n" CREATE_OPTS_HELP
    "  -e, --env K=V        Environment variable for every exec (repeatable)\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Network egress (default: none at all):\n" NET_OPTS_HELP "\n" NET_OPTS_NOTE;

static const char help_exec[] =
    "Usage: sbx exec [OPTION...] ID [--] COMMAND [ARG...]\n"
    "\n"
    "Run COMMAND in session ID; its stdout and stderr are streamed as produced.\n"
    "\n"
    "Options:\n"
    "  -d, --detach         Start COMMAND in the background and print its pid; it\n"
    "                       keeps running after sbx exits (see sbx ps, logs, kill,\n"
    "                       wait). With -i or --tty its stdin stays open for\n"
    "                       POST .../processes/PID/stdin\n" EXEC_OPTS_HELP
    "  -e, --env K=V        Environment variable (repeatable)\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Without -d, COMMAND is killed when sbx goes away (Ctrl-C, a closed pipe).\n"
    "For an interactive shell see 'sbx shell'.\n"
    "\n" EXIT_HELP "With -d: 0 once it started (125, 126, 127 as above otherwise).\n";

static const char help_run[] =
    "Usage: sbx run --image NAME [OPTION...] [--] COMMAND [ARG...]\n"
    "\n"
    "Create a session, run COMMAND in it streaming its output, then remove the\n"
    "session (also when interrupted by SIGINT, SIGTERM or SIGHUP).\n"
    "\n"
    "Options:\n" CREATE_OPTS_HELP EXEC_OPTS_HELP
    "  -e, --env K=V        Environment variable (repeatable)\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Network egress (default: none at all):\n" NET_OPTS_HELP "\n" NET_OPTS_NOTE "\n" EXIT_HELP;

static const char help_ls[] = "Usage: sbx ls [-q] [--json]\n"
                              "\n"
                              "List sessions.\n"
                              "\n"
                              "Options:\n"
                              "  -q, --quiet   Print session ids only\n"
                              "      --json    Print the daemon's answer as JSON\n"
                              "  -h, --help    Show this help\n";

static const char help_inspect[] = "Usage: sbx inspect ID...\n"
                                   "\n"
                                   "Print each session as pretty JSON.\n";

static const char help_rm[] =
    "Usage: sbx rm ID...\n"
    "\n"
    "Remove sessions: kill their processes and delete everything they had.\n"
    "Prints the id of each session removed; fails if any could not be removed.\n";

static const char help_health[] =
    "Usage: sbx health\n"
    "\n"
    "Print the daemon's status (version, cgroup mode, sessions, execs, uptime, where\n"
    "previews listen) as JSON.\n";

static const char help_network[] =
    "Usage: sbx network ID [OPTION...]\n"
    "\n"
    "Without options, print session ID's network (address, gateway, egress, policy)\n"
    "as JSON. With options, replace its egress policy (the whole policy: rules not\n"
    "given again are gone) and print the new one. It applies to new connections and\n"
    "DNS queries; connections already open keep going.\n"
    "\n"
    "Options:\n" NET_OPTS_HELP "  -h, --help           Show this help\n"
    "\n" NET_OPTS_NOTE;

static const char help_policy[] =
    "Usage: sbx policy check FILE...\n"
    "       sbx policy show FILE\n"
    "\n"
    "check: validate egress policy files (JSON; - is stdin) without sbxd, as sbxd\n"
    "  would: prints \"FILE: ok (...)\" for each good one; for a bad one prints on\n"
    "  stderr where it is wrong (a field such as allow[2], or a line and column).\n"
    "  Exit status 0 when all are valid, 1 otherwise.\n"
    "show: print the canonical form of a policy file (what sbx inspect shows for a\n"
    "  session with that policy).\n"
    "\n"
    "A policy: {\"mode\": \"enforce\"|\"report\", \"allow\": [\"HOST[:PORTS]\", ...],\n"
    "\"deny\": [...], \"allow_cidrs\": [\"CIDR[:PORTS]\", ...], \"quotas\": {\"connections\",\n"
    "\"connections_per_minute\", \"requests_per_minute\", \"bytes_out\"}, \"description\"}.\n";

static const char help_audit[] =
    "Usage: sbx audit [OPTION...]\n"
    "\n"
    "Print the egress audit log: one line per decision (DNS answer, connection,\n"
    "HTTP request), oldest first.\n"
    "\n"
    "Options:\n"
    "      --file PATH      The log (default: $SBX_AUDIT_LOG, else\n"
    "                       " AUDIT_DEFAULT_LOG ")\n"
    "      --session ID     Only this session's lines\n"
    "      --decision D     Only these decisions: allow, deny or report, or a list\n"
    "                       of them (deny,report)\n"
    "      --since T        Only lines from T on: an RFC 3339 time\n"
    "                       (2026-11-25T08:15:21Z, 2026-11-25) or a duration back\n"
    "                       from now (30s, 10m, 2h, 1d, 1h30m)\n"
    "  -f, --follow         Then wait for new lines, like tail -F (across rotation\n"
    "                       and truncation too), until interrupted\n"
    "      --json           Print the log's JSON lines as they are\n"
    "  -h, --help           Show this help\n"
    "\n"
    "Lines that are not JSON objects are skipped; how many is reported at the end.\n";

static const char help_version[] = "Usage: sbx version\n"
                                   "\n"
                                   "Print the version of sbx.\n";

static const struct option help_only_longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};

/* Parse a command that takes only --help; returns -1 to go on, else an exit status. */
int parse_help_only(const char *cmd, const char *help, int argc, char **argv)
{
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", help_only_longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return EXIT_OK;
        }
        return bad_option(cmd, c, argv);
    }
    return -1;
}

int new_client(sbx_client **c)
{
    sbx_err err;
    if (sbx_client_new(c, g_socket, &err) < 0) {
        print_err(&err);
        return -1;
    }
    return 0;
}

int session_path(sbx_client *c, const char *id, const char *sub, char *path, size_t cap,
                 sbx_err *err)
{
    char eid[256];
    if (sbx_client_escape(c, id, eid, sizeof(eid), err) < 0) return -1;
    snprintf(path, cap, "/v1/sessions/%s%s%s", eid, sub ? "/" : "", sub ? sub : "");
    return 0;
}

void print_pretty(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
}

void print_json_line(json_object *o)
{
    puts(o ? json_object_to_json_string_ext(o,
                                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
           : "null");
}

/* ---- create ---------------------------------------------------------------- */

/* POST /v1/sessions; stores the new id (malloc'd) in *id. */
static int create_session(sbx_client *c, const struct create_opts *o, char **id, sbx_err *err)
{
    _cleanup_json_ json_object *body = NULL;
    _cleanup_json_ json_object *resp = NULL;
    if (create_body(o, &body, err) < 0) return -1;
    if (sbx_client_call(c, "POST", "/v1/sessions", body, &resp, err) < 0) return -1;
    json_object *jid;
    if (!resp || !json_object_object_get_ex(resp, "id", &jid) ||
        !json_object_is_type(jid, json_type_string))
        return sbx_error(err, 0, "create session: sbxd's answer has no session id");
    *id = strdup(json_object_get_string(jid));
    if (!*id) return sbx_error(err, ENOMEM, "create session");
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = {CREATE_LONGOPTS,
                                             {"env", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    __attribute__((cleanup(create_opts_free))) struct create_opts o = {0};
    sbx_err err;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:e:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help_create, stdout);
            return EXIT_OK;
        }
        if (c == 'e') {
            if (add_kv(&o.env, "--env", optarg, &err) < 0)
                return usage_error("create", "%s", err.msg);
            continue;
        }
        int r = create_option(&o, c, optarg, &err);
        if (r < 0) return usage_error("create", "%s", err.msg);
        if (r == 0) return bad_option("create", c, argv);
    }
    if (optind < argc) return usage_error("create", "unexpected argument '%s'", argv[optind]);
    if (!o.image) return usage_error("create", "--image NAME is required");
    if (net_opts_check(&o.net, &err) < 0) return usage_error("create", "%s", err.msg);

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    _cleanup_free_ char *id = NULL;
    if (create_session(cl, &o, &id, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    puts(id);
    return EXIT_OK;
}

/* ---- exec ------------------------------------------------------------------ */

static int cmd_exec(int argc, char **argv)
{
    static const struct option longopts[] = {EXEC_LONGOPTS,
                                             {"detach", no_argument, NULL, 'd'},
                                             {"env", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    __attribute__((cleanup(exec_opts_free))) struct exec_opts o = {0};
    sbx_err err;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:die:w:u:t:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help_exec, stdout);
            return EXIT_OK;
        }
        int r = exec_option(&o, c, optarg, &err);
        if (r < 0) return usage_error("exec", "%s", err.msg);
        if (r == 0) return bad_option("exec", c, argv);
    }
    if (optind >= argc) return usage_error("exec", "missing session ID and COMMAND");
    const char *id = argv[optind++];
    if (optind < argc && strcmp(argv[optind], "--") == 0) optind++;
    if (optind >= argc) return usage_error("exec", "missing COMMAND to run in session %s", id);

    _cleanup_json_ json_object *body = NULL;
    if (exec_body(&o, argv + optind, argc - optind, &body, &err) < 0) {
        print_err(&err);
        return EXIT_SBX;
    }
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_SBX;
    return do_exec(cl, id, body, &o, false);
}

/* ---- run ------------------------------------------------------------------- */

static void on_signal(int sig)
{
    int saved = errno;
    g_signal = sig;
    g_signal_count = g_signal_count + 1;
    if (g_wake_fd >= 0) {
        char b = 0;
        ssize_t r = write(g_wake_fd, &b, 1);
        (void)r;
    }
    if (g_signal_count >= 3) { /* the user insists: die now */
        term_restore();        /* a terminal in raw mode (run --tty) is given back first */
        ssize_t r = write(STDERR_FILENO, g_forced_msg, strlen(g_forced_msg));
        (void)r;
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigaction(sig, &sa, NULL);
        raise(sig); /* delivered when this handler returns */
    }
    errno = saved;
}

static const int run_signals[] = {SIGINT, SIGTERM, SIGHUP};

/* Catch the signals (no SA_RESTART: blocking writes end with EINTR) and make
 * a self-pipe whose write end the handler pokes. */
static int install_run_signals(int pipefd[2], sbx_err *err)
{
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) return sbx_error(err, errno, "pipe");
    g_wake_fd = pipefd[1];
    g_wake_read_fd = pipefd[0];
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SBX_ARRAY_SIZE(run_signals); i++)
        if (sigaction(run_signals[i], &sa, NULL) < 0) return sbx_error(err, errno, "sigaction");
    return 0;
}

static void restore_run_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SBX_ARRAY_SIZE(run_signals); i++)
        sigaction(run_signals[i], &sa, NULL);
    g_wake_fd = -1;
    g_wake_read_fd = -1;
}

static void close_pipe(int (*p)[2])
{
    if ((*p)[0] >= 0) close((*p)[0]);
    if ((*p)[1] >= 0) close((*p)[1]);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {CREATE_LONGOPTS,
                                             EXEC_LONGOPTS,
                                             {"env", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    __attribute__((cleanup(create_opts_free))) struct create_opts co = {0};
    __attribute__((cleanup(exec_opts_free))) struct exec_opts eo = {0};
    sbx_err err;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:ie:w:u:t:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help_run, stdout);
            return EXIT_OK;
        }
        int r = create_option(&co, c, optarg, &err);
        if (r == 0) r = exec_option(&eo, c, optarg, &err);
        if (r < 0) return usage_error("run", "%s", err.msg);
        if (r == 0) return bad_option("run", c, argv);
    }
    if (!co.image) return usage_error("run", "--image NAME is required");
    if (optind >= argc) return usage_error("run", "missing COMMAND");
    if (net_opts_check(&co.net, &err) < 0) return usage_error("run", "%s", err.msg);
    if (eo.interactive && co.net.file && strcmp(co.net.file, "-") == 0)
        return usage_error("run", "-i and --network-file - cannot both read stdin");

    __attribute__((cleanup(close_pipe))) int pipefd[2] = {-1, -1};
    if (install_run_signals(pipefd, &err) < 0) {
        print_err(&err);
        return EXIT_SBX;
    }
    int status;
    _cleanup_json_ json_object *body = NULL;
    _cleanup_client_ sbx_client *cl = NULL;
    _cleanup_free_ char *id = NULL;
    if (exec_body(&eo, argv + optind, argc - optind, &body, &err) < 0) {
        if (g_signal) {
            status = 128 + g_signal;
        } else {
            print_err(&err);
            status = EXIT_SBX;
        }
        goto out;
    }
    if (new_client(&cl) < 0) {
        status = EXIT_SBX;
        goto out;
    }
    if (g_signal) {
        status = 128 + g_signal;
        goto out;
    }
    /* A signal during create lets the request finish, so the id is known. */
    if (create_session(cl, &co, &id, &err) < 0) {
        print_err(&err);
        status = EXIT_SBX;
        goto out;
    }
    snprintf(g_forced_msg, sizeof(g_forced_msg),
             "sbx: forced exit; session %s is left behind (sbx rm %s)\n", id, id);
    if (g_signal)
        status = 128 + g_signal;
    else
        status = do_exec(cl, id, body, &eo, true);

    char path[320];
    if (session_path(cl, id, NULL, path, sizeof(path), &err) < 0 ||
        sbx_client_call(cl, "DELETE", path, NULL, NULL, &err) < 0) {
        if (!(err.code && strcmp(err.code, "not_found") == 0)) { /* already gone (ttl): fine */
            fprintf(stderr, "sbx: remove session %s: %s\n", id, err.msg);
            if (status == EXIT_OK) status = EXIT_SBX;
        }
    }
out:
    restore_run_signals();
    return status;
}

/* ---- ls -------------------------------------------------------------------- */

const char *str_field(json_object *o, const char *key)
{
    json_object *j;
    if (!json_object_object_get_ex(o, key, &j) || json_object_is_type(j, json_type_null))
        return "-";
    return json_object_get_string(j);
}

const char *string_field(json_object *o, const char *key)
{
    json_object *j;
    if (!o || !json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_string))
        return NULL;
    return json_object_get_string(j);
}

long long int_field(json_object *o, const char *key, long long dflt)
{
    json_object *j;
    if (!o || !json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_int))
        return dflt;
    return json_object_get_int64(j);
}

static bool parse_time(const char *s, time_t *t)
{
    struct tm tm = {0};
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e) return false;
    if (*e == '.')
        for (e++; isdigit((unsigned char)*e); e++) {
        }
    if (strcmp(e, "Z") != 0 && strcmp(e, "+00:00") != 0) return false;
    *t = timegm(&tm);
    return true;
}

void format_age(const char *created, char *buf, size_t cap)
{
    time_t t;
    if (!created || !parse_time(created, &t)) {
        snprintf(buf, cap, "%s", created ? created : "-");
        return;
    }
    long long d = (long long)difftime(time(NULL), t);
    if (d < 0) d = 0;
    if (d < 60)
        snprintf(buf, cap, "%llds ago", d);
    else if (d < 3600)
        snprintf(buf, cap, "%lldm ago", d / 60);
    else if (d < 86400)
        snprintf(buf, cap, "%lldh ago", d / 3600);
    else
        snprintf(buf, cap, "%lldd ago", d / 86400);
}

/* "k=v,k=v" in the daemon's order; malloc'd. */
static char *format_labels(json_object *s)
{
    json_object *labels;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    if (json_object_object_get_ex(s, "labels", &labels) &&
        json_object_is_type(labels, json_type_object)) {
        bool first = true;
        json_object_object_foreach(labels, k, v)
        {
            fprintf(f, "%s%s=%s", first ? "" : ",", k, json_object_get_string(v));
            first = false;
        }
    }
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int list_command(const struct list_query *q, int argc, char **argv, bool *quiet, json_object **resp,
                 json_object **items)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    bool json = false;
    int c;
    *quiet = false;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(q->help, stdout);
            return EXIT_OK;
        case 'q':
            *quiet = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            return bad_option(q->cmd, c, argv);
        }
    }
    const char *id = NULL;
    if (q->session) {
        if (id_operands(q->cmd, argc, argv, &id, NULL) < 0) return EXIT_USAGE;
    } else if (optind < argc) {
        return usage_error(q->cmd, "unexpected argument '%s'", argv[optind]);
    }

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char path[320];
    if ((id && session_path(cl, id, q->path, path, sizeof(path), &err) < 0) ||
        sbx_client_call(cl, "GET", id ? path : q->path, NULL, resp, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (json) {
        print_json_line(*resp);
        return EXIT_OK;
    }
    if (!*resp || !json_object_object_get_ex(*resp, q->key, items) ||
        !json_object_is_type(*items, json_type_array)) {
        fprintf(stderr, "sbx: %s: sbxd's answer has no \"%s\" array\n", q->what, q->key);
        return EXIT_FAIL;
    }
    return -1;
}

static int cmd_ls(int argc, char **argv)
{
    bool quiet;
    _cleanup_json_ json_object *resp = NULL;
    json_object *sessions;
    static const struct list_query q = {.cmd = "ls",
                                        .help = help_ls,
                                        .path = "/v1/sessions",
                                        .key = "sessions",
                                        .what = "list sessions"};
    int done = list_command(&q, argc, argv, &quiet, &resp, &sessions);
    if (done >= 0) return done;
    size_t n = json_object_array_length(sessions);
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            puts(str_field(json_object_array_get_idx(sessions, i), "id"));
        return EXIT_OK;
    }

    static const struct table_col cols[] = {{"ID", false},    {"IMAGE", false},
                                            {"STATE", false}, {"CREATED", false},
                                            {"EXECS", false}, {"LABELS", false}};
    _cleanup_(table_free) struct table t = {0};
    if (table_init(&t, cols, SBX_ARRAY_SIZE(cols), n) < 0) return EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(sessions, i), *j;
        char created[64];
        format_age(json_object_object_get_ex(s, "created_at", &j) ? json_object_get_string(j)
                                                                  : NULL,
                   created, sizeof(created));
        _cleanup_free_ char *labels = format_labels(s);
        const char *row[] = {str_field(s, "id"),    str_field(s, "image"),
                             str_field(s, "state"), created,
                             str_field(s, "execs"), labels};
        table_add(&t, row);
    }
    return table_print(&t);
}

/* ---- inspect, rm, health, version ------------------------------------------ */

/* Run `method` on each session named on the command line; report each
 * failure and go on with the others (stop if the daemon is unreachable). */
static int each_session(const char *cmd, const char *help, const char *method, int argc,
                        char **argv, void (*done)(const char *id, json_object *resp))
{
    int r = parse_help_only(cmd, help, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error(cmd, "missing session ID");
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        sbx_err err;
        char path[320];
        _cleanup_json_ json_object *resp = NULL;
        if (session_path(cl, argv[i], NULL, path, sizeof(path), &err) < 0 ||
            sbx_client_call(cl, method, path, NULL, &resp, &err) < 0) {
            print_err(&err);
            status = EXIT_FAIL;
            if (err.code && strcmp(err.code, SBX_CODE_UNREACHABLE) == 0) break;
            continue;
        }
        done(argv[i], resp);
    }
    return status;
}

static void inspect_done(const char *id, json_object *resp)
{
    (void)id;
    if (resp) print_pretty(resp);
}

static void rm_done(const char *id, json_object *resp)
{
    (void)resp;
    puts(id);
}

static int cmd_inspect(int argc, char **argv)
{
    return each_session("inspect", help_inspect, "GET", argc, argv, inspect_done);
}

static int cmd_rm(int argc, char **argv)
{
    return each_session("rm", help_rm, "DELETE", argc, argv, rm_done);
}

static int cmd_health(int argc, char **argv)
{
    int r = parse_help_only(argv[0], help_health, argc, argv);
    if (r >= 0) return r;
    if (optind < argc) return usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    _cleanup_json_ json_object *resp = NULL;
    if (sbx_client_call(cl, "GET", "/v1/health", NULL, &resp, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (resp) print_pretty(resp);
    return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
    int r = parse_help_only("version", help_version, argc, argv);
    if (r >= 0) return r;
    if (optind < argc) return usage_error("version", "unexpected argument '%s'", argv[optind]);
    puts("sbx " SBX_VERSION);
    return EXIT_OK;
}

/* ---- network ----------------------------------------------------------------- */

/* The member key of o, or print that sbxd's answer lacks it. */
static json_object *answer_member(json_object *o, const char *key, const char *what)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && v) return v;
    fprintf(stderr, "sbx: %s: sbxd's answer has no \"%s\"\n", what, key);
    return NULL;
}

/* GET the session; print its "network" object. */
static int show_network(sbx_client *cl, const char *id)
{
    sbx_err err;
    char path[320];
    _cleanup_json_ json_object *resp = NULL;
    if (session_path(cl, id, NULL, path, sizeof(path), &err) < 0 ||
        sbx_client_call(cl, "GET", path, NULL, &resp, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    json_object *net = answer_member(resp, "network", "show network");
    if (!net) return EXIT_FAIL;
    print_pretty(net);
    return EXIT_OK;
}

/* PATCH the session's policy; print the policy sbxd now enforces. */
static int set_network(sbx_client *cl, const char *id, const struct net_opts *o)
{
    sbx_err err;
    char path[340];
    _cleanup_json_ json_object *body = NULL;
    _cleanup_json_ json_object *resp = NULL;
    if (net_body(o, &body, &err) < 0 ||
        session_path(cl, id, "network", path, sizeof(path), &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (sbx_client_call(cl, "PATCH", path, body, &resp, &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    json_object *net = answer_member(resp, "network", "set network");
    json_object *policy = net ? answer_member(net, "policy", "set network") : NULL;
    if (!policy) return EXIT_FAIL;
    print_pretty(policy);
    return EXIT_OK;
}

static int cmd_network(int argc, char **argv)
{
    static const struct option longopts[] = {NET_LONGOPTS, {"help", no_argument, NULL, 'h'}, {0}};
    __attribute__((cleanup(net_opts_free))) struct net_opts o = {0};
    const char *id = NULL;
    sbx_err err;
    int c;
    optind = 0;
    opterr = 0;
    /* "-": options and the ID in any order (sbx network ID --allow ...). */
    while ((c = getopt_long(argc, argv, "-:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help_network, stdout);
            return EXIT_OK;
        }
        if (c == 1) {
            if (id) return usage_error("network", "unexpected argument '%s'", optarg);
            id = optarg;
            continue;
        }
        int r = net_option(&o, c, optarg, &err);
        if (r < 0) return usage_error("network", "%s", err.msg);
        if (r == 0) return bad_option("network", c, argv);
    }
    for (; optind < argc; optind++) { /* after "--" */
        if (id) return usage_error("network", "unexpected argument '%s'", argv[optind]);
        id = argv[optind];
    }
    if (!id) return usage_error("network", "missing session ID");
    if (net_opts_check(&o, &err) < 0) return usage_error("network", "%s", err.msg);

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    return net_opts_given(&o) ? set_network(cl, id, &o) : show_network(cl, id);
}

/* ---- policy -------------------------------------------------------------------- */

/* "FILE: ok (...)" or "FILE: what is wrong" on stderr. */
static int policy_check_one(const char *path)
{
    sbx_err err;
    _cleanup_policy_ struct policy *p = NULL;
    if (load_policy(path, &p, &err) < 0) {
        fprintf(stderr, "%s: %s\n", file_label(path), err.msg);
        return EXIT_FAIL;
    }
    printf("%s: ok (%d allow, %d deny, %d cidr rules, mode %s)\n", file_label(path), p->nallow,
           p->ndeny, p->ncidr, p->mode == POLICY_REPORT ? "report" : "enforce");
    return EXIT_OK;
}

static int policy_show(const char *path)
{
    sbx_err err;
    _cleanup_policy_ struct policy *p = NULL;
    if (load_policy(path, &p, &err) < 0) {
        fprintf(stderr, "%s: %s\n", file_label(path), err.msg);
        return EXIT_FAIL;
    }
    _cleanup_json_ json_object *o = policy_to_json(p);
    if (!o) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    print_pretty(o);
    return EXIT_OK;
}

static int cmd_policy(int argc, char **argv)
{
    int r = parse_help_only("policy", help_policy, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error("policy", "missing subcommand: check or show");
    const char *sub = argv[optind];
    bool check = strcmp(sub, "check") == 0;
    if (!check && strcmp(sub, "show") != 0)
        return usage_error("policy", "unknown subcommand '%s' (check or show)", sub);
    const char *cmd = check ? "policy check" : "policy show";
    argc -= optind;
    argv += optind;
    if ((r = parse_help_only(cmd, help_policy, argc, argv)) >= 0) return r;
    if (optind >= argc) return usage_error(cmd, "missing FILE");
    if (!check) {
        if (optind + 1 < argc)
            return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
        return policy_show(argv[optind]);
    }
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++)
        if (policy_check_one(argv[i]) != EXIT_OK) status = EXIT_FAIL;
    return status;
}

/* ---- audit --------------------------------------------------------------------- */

struct audit_out {
    struct audit_filter filter;
    bool json;
    bool header_done;
    size_t malformed;
    int out_errno; /* printing failed (not EPIPE): why */
};

/* Print one kept line: as is (--json) or as a table row (the header before
 * the first). 0 to go on; 1 to stop: the reader is gone (EPIPE) or printing
 * fails (out_errno). */
static int audit_print(struct audit_out *a, const char *line, size_t len, json_object *rec)
{
    _cleanup_free_ char *head = NULL;
    _cleanup_free_ char *row = NULL;
    if (!a->json) {
        if (!a->header_done && !(head = audit_format_header())) goto oom;
        if (!(row = audit_format_row(rec))) goto oom;
    }
    errno = 0;
    bool ok = a->json ? fwrite(line, 1, len, stdout) == len && putchar('\n') != EOF
                      : (!head || puts(head) != EOF) && puts(row) != EOF;
    a->header_done = true;
    if (ok) return 0;
    if (errno != EPIPE) a->out_errno = errno ? errno : EIO;
    return 1;
oom:
    a->out_errno = ENOMEM;
    return 1;
}

static int audit_on_line(const char *line, size_t len, void *ctx)
{
    struct audit_out *a = ctx;
    _cleanup_json_ json_object *rec = NULL;
    if (!line) { /* longer than AUDIT_LINE_MAX */
        a->malformed++;
        return 0;
    }
    switch (audit_match_line(&a->filter, line, len, &rec)) {
    case AUDIT_MALFORMED:
        a->malformed++;
        return 0;
    case AUDIT_HIDE:
    case AUDIT_BLANK:
        return 0;
    case AUDIT_SHOW:
        break;
    }
    return audit_print(a, line, len, rec);
}

static void audit_on_notice(const char *msg, void *ctx)
{
    (void)ctx;
    fflush(stdout);
    fprintf(stderr, "sbx: %s\n", msg);
}

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Read (and follow) the log; returns the exit status. */
static int audit_run(struct audit_out *a, const char *path, bool follow)
{
    sbx_err err;
    __attribute__((cleanup(close_pipe))) int pipefd[2] = {-1, -1};
    struct audit_reader r = {.path = path,
                             .follow = follow,
                             .stop = &g_signal,
                             .wake_fd = -1,
                             .on_line = audit_on_line,
                             .on_notice = audit_on_notice,
                             .ctx = a};
    if (follow) {
        /* every line as it comes, and a clean end on SIGINT/SIGTERM/SIGHUP */
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (install_run_signals(pipefd, &err) < 0) {
            print_err(&err);
            return EXIT_FAIL;
        }
        r.wake_fd = pipefd[0];
    }
    int rc = audit_read(&r, &err);
    if (follow) restore_run_signals();
    if (rc < 0) {
        fflush(stdout);
        print_err(&err);
        return EXIT_FAIL;
    }
    if (a->out_errno) {
        fprintf(stderr, "sbx: print audit lines: %s\n", strerror(a->out_errno));
        return EXIT_FAIL;
    }
    if (a->malformed) {
        fflush(stdout);
        fprintf(stderr, "sbx: %s: %zu malformed line%s skipped\n", path, a->malformed,
                a->malformed == 1 ? "" : "s");
    }
    return EXIT_OK;
}

static int cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {{"file", required_argument, NULL, OPT_FILE},
                                             {"session", required_argument, NULL, OPT_SESSION},
                                             {"decision", required_argument, NULL, OPT_DECISION},
                                             {"since", required_argument, NULL, OPT_SINCE},
                                             {"follow", no_argument, NULL, 'f'},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    struct audit_out a = {0};
    const char *path = getenv("SBX_AUDIT_LOG");
    bool follow = false;
    sbx_err err;
    int c;
    if (!path || !*path) path = AUDIT_DEFAULT_LOG;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_audit, stdout);
            return EXIT_OK;
        case OPT_FILE:
            if (!*optarg) return usage_error("audit", "--file: empty path");
            path = optarg;
            break;
        case OPT_SESSION:
            if (!*optarg) return usage_error("audit", "--session: empty session id");
            a.filter.session = optarg;
            break;
        case OPT_DECISION:
            if (audit_check_decisions(optarg, &err) < 0) return usage_error("audit", "%s", err.msg);
            a.filter.decisions = optarg;
            break;
        case OPT_SINCE:
            if (audit_parse_since(optarg, now_usec(), &a.filter.since_us, &err) < 0)
                return usage_error("audit", "%s", err.msg);
            a.filter.has_since = true;
            break;
        case 'f':
            follow = true;
            break;
        case OPT_JSON:
            a.json = true;
            break;
        default:
            return bad_option("audit", c, argv);
        }
    }
    if (optind < argc) return usage_error("audit", "unexpected argument '%s'", argv[optind]);
    return audit_run(&a, path, follow);
}

/* ---- main ------------------------------------------------------------------ */

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"create", cmd_create, help_create},
    {"exec", cmd_exec, help_exec},
    {"shell", cmd_shell, help_shell},
    {"ps", cmd_ps, help_ps},
    {"logs", cmd_logs, help_logs},
    {"kill", cmd_kill, help_kill},
    {"wait", cmd_wait, help_wait},
    {"keepalive", cmd_keepalive, help_keepalive},
    {"run", cmd_run, help_run},
    {"ls", cmd_ls, help_ls},
    {"inspect", cmd_inspect, help_inspect},
    {"rm", cmd_rm, help_rm},
    {"cp", cmd_cp, help_cp},
    {"image", cmd_image, help_image},
    {"workspace", cmd_workspace, help_workspace},
    {"network", cmd_network, help_network},
    {"expose", cmd_expose, help_expose},
    {"ports", cmd_ports, help_ports},
    {"policy", cmd_policy, help_policy},
    {"audit", cmd_audit, help_audit},
    {"health", cmd_health, help_health},
    {"info", cmd_health, help_health},
    {"version", cmd_version, help_version},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < SBX_ARRAY_SIZE(commands); i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* Everything but process setup and teardown; returns the exit status. */
static int sbx_main(int argc, char **argv)
{
    static const struct option longopts[] = {{"socket", required_argument, NULL, OPT_SOCKET},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, OPT_VERSION},
                                             {0}};
    const char *env = getenv("SBX_SOCKET");
    if (env && *env) g_socket = env;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET:
            if (!*optarg) return usage_error(NULL, "--socket: empty path");
            g_socket = optarg;
            break;
        case 'h':
            fputs(help_main, stdout);
            return EXIT_OK;
        case OPT_VERSION:
            puts("sbx " SBX_VERSION);
            return EXIT_OK;
        default:
            return bad_option(NULL, c, argv);
        }
    }
    if (optind >= argc) {
        fputs(help_main, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) { /* sbx help [COMMAND] */
        if (optind + 1 >= argc) {
            fputs(help_main, stdout);
            return EXIT_OK;
        }
        const struct command *cmd = find_command(argv[optind + 1]);
        if (!cmd) return usage_error(NULL, "unknown command '%s'", argv[optind + 1]);
        fputs(cmd->help, stdout);
        return EXIT_OK;
    }
    const struct command *cmd = find_command(name);
    if (!cmd) return usage_error(NULL, "unknown command '%s'", name);
    return cmd->fn(argc - optind, argv + optind);
}

int main(int argc, char **argv)
{
    /* A closed stdout shows up as EPIPE (exec ends its stream; run still
     * removes its session) instead of killing sbx. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
        fprintf(stderr, "sbx: cannot initialize libcurl\n");
        return EXIT_SBX;
    }
    int status = sbx_main(argc, argv);
    curl_global_cleanup();
    if (fflush(stdout) != 0 && errno != EPIPE) {
        fprintf(stderr, "sbx: write stdout: %s\n", strerror(errno));
        if (status == EXIT_OK) status = EXIT_FAIL;
    }
    return status;
}
