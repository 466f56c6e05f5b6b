/* cli.h - what cli/sbx.c shares with the files of its bigger commands
 * (cli/image.c): exit statuses, printing errors and results the one way,
 * option errors, the client to sbxd.
 *
 * Must never: grow state. These are sbx.c's helpers, declared for reuse; a
 * command file owns its own syntax, requests and output. */
#ifndef SBX_CLI_CLI_H
#define SBX_CLI_CLI_H

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

/* A client for the daemon at --socket / $SBX_SOCKET; prints the error. */
int new_client(sbx_client **c);

/* JSON on stdout: pretty (inspect), or one line (--json). */
void print_pretty(json_object *o);
void print_json_line(json_object *o);

/* o[key] as a string; "-" when missing or null. */
const char *str_field(json_object *o, const char *key);

/* An RFC 3339 UTC time as "5m ago" (as is when it does not parse; NULL: "-"). */
void format_age(const char *time, char *buf, size_t cap);

/* sbx image (cli/image.c). */
extern const char help_image[];
int cmd_image(int argc, char **argv);

#endif
