/* workspace.c - `sbx workspace`: ls, inspect and rm (the /v1/workspaces API of
 * docs/api.md). A workspace is made by the first session that names it
 * (sbx create|run --workspace NAME, cli/sbx.c).
 *
 * Owns: the workspace subcommands' syntax, help and output.
 *
 * Must never: check what sbxd checks (workspace names), talk HTTP itself
 * (cli/client.c), or go on after the daemon turned out to be unreachable. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "table.h"
#include "client.h"
#include "error.h"

#define NAME_ESC_MAX 512 /* a name is at most 63 chars; escaped, at most 3x */

/* ---- help texts ----------------------------------------------------------- */

const char help_workspace[] =
    "Usage: sbx workspace COMMAND [ARG...]\n"
    "\n"
    "Manage named workspaces: a session's files that outlive it. The first\n"
    "session created with --workspace NAME makes one; a later session with the\n"
    "same NAME finds every file as the last one left it (one session at a time).\n"
    "\n"
    "Commands:\n"
    "  ls        List workspaces\n"
    "  inspect   Show workspaces as JSON\n"
    "  rm        Remove workspaces and their files\n"
    "\n"
    "Options:\n"
    "  -h, --help    Show this help\n"
    "\n"
    "Run 'sbx workspace COMMAND --help' for the options of a command.\n";

static const char help_ls[] = "Usage: sbx workspace ls [-q] [--json]\n"
                              "\n"
                              "List named workspaces and the session each is attached to.\n"
                              "\n"
                              "Options:\n"
                              "  -q, --quiet   Print workspace names only\n"
                              "      --json    Print the daemon's answer as JSON\n"
                              "  -h, --help    Show this help\n";

static const char help_inspect[] = "Usage: sbx workspace inspect NAME...\n"
                                   "\n"
                                   "Print each workspace as pretty JSON.\n";

static const char help_rm[] =
    "Usage: sbx workspace rm NAME...\n"
    "\n"
    "Remove workspaces with all their files. Prints each NAME removed; fails if\n"
    "any could not be removed: a workspace attached to a session (remove the\n"
    "session first), or one that does not exist.\n";

/* ---- ls ------------------------------------------------------------------- */

static const char *time_field(json_object *o, const char *key)
{
    json_object *j;
    if (!json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_string))
        return NULL;
    return json_object_get_string(j);
}

static int cmd_ls(int argc, char **argv)
{
    bool quiet;
    _cleanup_json_ json_object *resp = NULL;
    json_object *items;
    static const struct list_query q = {.cmd = "workspace ls",
                                        .help = help_ls,
                                        .path = "/v1/workspaces",
                                        .key = "workspaces",
                                        .what = "list workspaces"};
    int done = list_command(&q, argc, argv, &quiet, &resp, &items);
    if (done >= 0) return done;
    size_t n = json_object_array_length(items);
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            puts(str_field(json_object_array_get_idx(items, i), "name"));
        return EXIT_OK;
    }
    static const struct table_col cols[] = {{"NAME", false}, {"SESSION", false},
                                            {"IMAGE", false}, {"SIZE", true},
                                            {"LAST USED", false}, {"CREATED", false}};
    _cleanup_(table_free) struct table t = {0};
    if (table_init(&t, cols, SBX_ARRAY_SIZE(cols), n) < 0) return EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(items, i), *j;
        char size[32], used[64], created[64];
        if (json_object_object_get_ex(o, "size_bytes", &j) && json_object_is_type(j, json_type_int))
            human_size(json_object_get_int64(j), size, sizeof(size));
        else
            snprintf(size, sizeof(size), "-");
        format_age(time_field(o, "last_used_at"), used, sizeof(used));
        format_age(time_field(o, "created_at"), created, sizeof(created));
        const char *row[] = {str_field(o, "name"), str_field(o, "session"), str_field(o, "image"),
                             size, used, created};
        table_add(&t, row);
    }
    return table_print(&t);
}

/* ---- inspect, rm ------------------------------------------------------------ */

/* "/v1/workspaces/<escaped name>" */
static int workspace_path(sbx_client *c, const char *name, char *path, size_t cap, sbx_err *err)
{
    char esc[NAME_ESC_MAX];
    if (sbx_client_escape(c, name, esc, sizeof(esc), err) < 0) return -1;
    snprintf(path, cap, "/v1/workspaces/%s", esc);
    return 0;
}

/* Run method on each NAME; report each failure and go on with the others
 * (stop if the daemon is unreachable). */
static int each_workspace(const char *cmd, const char *help, const char *method, int argc,
                          char **argv, bool print_name)
{
    int r = parse_help_only(cmd, help, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error(cmd, "missing workspace NAME");
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        sbx_err err;
        char path[NAME_ESC_MAX + 32];
        _cleanup_json_ json_object *resp = NULL;
        if (workspace_path(cl, argv[i], path, sizeof(path), &err) < 0 ||
            sbx_client_call(cl, method, path, NULL, &resp, &err) < 0) {
            print_err(&err);
            status = EXIT_FAIL;
            if (err.code && strcmp(err.code, SBX_CODE_UNREACHABLE) == 0) break;
            continue;
        }
        if (print_name)
            puts(argv[i]);
        else if (resp)
            print_pretty(resp);
    }
    return status;
}

static int cmd_inspect(int argc, char **argv)
{
    return each_workspace("workspace inspect", help_inspect, "GET", argc, argv, false);
}

static int cmd_rm(int argc, char **argv)
{
    return each_workspace("workspace rm", help_rm, "DELETE", argc, argv, true);
}

/* ---- workspace ----------------------------------------------------------------- */

int cmd_workspace(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } subs[] = {
        {"ls", cmd_ls},
        {"inspect", cmd_inspect},
        {"rm", cmd_rm},
    };
    int r = parse_help_only("workspace", help_workspace, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error("workspace", "missing command: ls, inspect or rm");
    const char *sub = argv[optind];
    for (size_t i = 0; i < SBX_ARRAY_SIZE(subs); i++)
        if (strcmp(sub, subs[i].name) == 0) return subs[i].fn(argc - optind, argv + optind);
    return usage_error("workspace", "unknown command '%s' (ls, inspect or rm)", sub);
}
