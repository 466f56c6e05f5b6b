/* ports.c - previews from the command line: `sbx expose` and `sbx ports`
 * (the /v1/sessions/{id}/ports API of docs/api.md).
 *
 * Owns: these commands' syntax, help and output.
 * Must never: check what sbxd checks (which ports may be exposed, how many),
 * or make a URL itself: the one sbxd answers is printed as it came. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "client.h"
#include "error.h"
#include "table.h"

enum { OPT_JSON = 256, OPT_RM };

const char help_expose[] =
    "Usage: sbx expose [--json] ID PORT\n"
    "       sbx expose --rm ID PORT\n"
    "\n"
    "Let a person open, in a browser, the app that session ID serves on TCP port\n"
    "PORT, and print its URL: http://PORT-ID.preview.localhost:8080/?sbx_token=...\n"
    "(sbxd's --preview-listen and --preview-domain). The token in the URL is the\n"
    "key: the first visit trades it for a cookie of that preview only; without it\n"
    "the preview answers 401. Exposing a port again prints the same URL.\n"
    "The app must listen on 0.0.0.0 (or the session's address), not only on\n"
    "127.0.0.1: e.g. vite --host 0.0.0.0.\n"
    "\n"
    "Options:\n"
    "      --json    Print sbxd's answer (port, url, host, token) as JSON\n"
    "      --rm      Unexpose PORT: its preview answers 404 from now on and its\n"
    "                open connections are closed\n"
    "  -h, --help    Show this help\n"
    "\n"
    "See 'sbx ports ID' for the ports a session exposes.\n";

const char help_ports[] = "Usage: sbx ports [-q] [--json] ID\n"
                          "\n"
                          "List the ports session ID exposes (sbx expose): PORT, URL and CREATED.\n"
                          "\n"
                          "Options:\n"
                          "  -q, --quiet   Print the ports only\n"
                          "      --json    Print the daemon's answer as JSON\n"
                          "  -h, --help    Show this help\n";

int cmd_expose(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, OPT_JSON},
                                             {"rm", no_argument, NULL, OPT_RM},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    bool json = false, rm = false;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_expose, stdout);
            return EXIT_OK;
        case OPT_JSON:
            json = true;
            break;
        case OPT_RM:
            rm = true;
            break;
        default:
            return bad_option("expose", c, argv);
        }
    }
    if (optind >= argc) return usage_error("expose", "missing session ID and PORT");
    if (optind + 1 >= argc) return usage_error("expose", "missing PORT");
    if (optind + 2 < argc)
        return usage_error("expose", "unexpected argument '%s'", argv[optind + 2]);
    if (rm && json) return usage_error("expose", "--rm prints nothing to show as --json");
    const char *id = argv[optind], *port_s = argv[optind + 1];
    char *end;
    errno = 0;
    long long port = strtoll(port_s, &end, 10);
    if (errno || end == port_s || *end)
        return usage_error("expose",
                           "PORT must be a number (the TCP port the app listens on), "
                           "not '%s'",
                           port_s);

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char path[512];
    _cleanup_json_ json_object *resp = NULL;
    if (rm) {
        char sub[64];
        snprintf(sub, sizeof(sub), "ports/%lld", port);
        if (session_path(cl, id, sub, path, sizeof(path), &err) < 0 ||
            sbx_client_call(cl, "DELETE", path, NULL, NULL, &err) < 0) {
            print_err(&err);
            return EXIT_FAIL;
        }
        return EXIT_OK;
    }
    _cleanup_json_ json_object *body = json_object_new_object();
    if (!body || add_member(body, "port", json_object_new_int64(port), &err) < 0 ||
        session_path(cl, id, "ports", path, sizeof(path), &err) < 0 ||
        sbx_client_call(cl, "POST", path, body, &resp, &err) < 0) {
        if (!body) sbx_error(&err, ENOMEM, "request");
        print_err(&err);
        return EXIT_FAIL;
    }
    if (json) {
        print_json_line(resp);
        return EXIT_OK;
    }
    const char *url = string_field(resp, "url");
    if (!url) {
        fprintf(stderr, "sbx: expose: sbxd's answer has no \"url\"\n");
        return EXIT_FAIL;
    }
    puts(url);
    return EXIT_OK;
}

int cmd_ports(int argc, char **argv)
{
    bool quiet;
    _cleanup_json_ json_object *resp = NULL;
    json_object *items;
    static const struct list_query q = {.cmd = "ports",
                                        .help = help_ports,
                                        .path = "ports",
                                        .session = true,
                                        .key = "ports",
                                        .what = "list exposed ports"};
    int done = list_command(&q, argc, argv, &quiet, &resp, &items);
    if (done >= 0) return done;
    size_t n = json_object_array_length(items);
    if (quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%lld\n", int_field(json_object_array_get_idx(items, i), "port", 0));
        return EXIT_OK;
    }
    static const struct table_col cols[] = {{"PORT", true}, {"URL", false}, {"CREATED", false}};
    _cleanup_(table_free) struct table t = {0};
    if (table_init(&t, cols, SBX_ARRAY_SIZE(cols), n) < 0) return EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(items, i);
        char port[16], created[64];
        snprintf(port, sizeof(port), "%lld", int_field(o, "port", 0));
        format_age(string_field(o, "created_at"), created, sizeof(created));
        const char *row[] = {port, str_field(o, "url"), created};
        table_add(&t, row);
    }
    return table_print(&t);
}
