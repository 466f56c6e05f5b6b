/* httprules.h - the pieces of the policy's "http" rules (METHOD /PATH, see
 * policy.h) that do not need struct policy: checking a rule's method and path
 * glob, turning a request-target into the path rules are matched against, and
 * the glob match itself. Pure logic: no I/O, no allocation, no globals. */
#ifndef SBX_POLICY_HTTPRULES_H
#define SBX_POLICY_HTTPRULES_H

#include <stddef.h>

#define HTTPRULE_METHOD_MAX 15   /* bytes of a rule's method */
#define HTTPRULE_PATH_MAX 255    /* bytes of a rule's path */
#define HTTPRULE_TARGET_MAX 8192 /* bytes of a request's path (before '?') */

/* A rule's METHOD: "*", or 1..15 of 'A'-'Z', '-', '_'. NULL when fine, else
 * why not (static text, to follow "the method "). */
const char *httprule_check_method(const char *m, size_t len);
/* A rule's PATH glob. NULL when fine, else why not (static text). */
const char *httprule_check_path(const char *path);

/* The path of a request-target, as rules see it: origin-form "/p?q" or
 * absolute-form "http[s]://authority/p?q" (scheme and authority dropped, an
 * empty path is "/"), the query dropped, %XX escapes of unreserved characters
 * (ALPHA DIGIT - . _ ~) decoded (hex in either case), other escapes kept as
 * sent. Writes it to out (cap bytes, HTTPRULE_TARGET_MAX + 1 is enough) and
 * returns NULL; or returns why the target must be refused (static text): not a
 * path, '#', a raw or encoded backslash, an encoded slash, %00, a malformed
 * escape, a control or non-ASCII byte, a "." or ".." segment (raw, encoded, or
 * before a ';' parameter as in "..;"), or longer than HTTPRULE_TARGET_MAX. */
const char *httprule_request_path(const char *target, char *out, size_t cap);

/* Does path (from httprule_request_path) match the glob pattern (checked by
 * httprule_check_path)? Both start with '/' and are split into '/'-separated
 * segments: "**" as a whole segment matches zero or more segments, "*" alone
 * one non-empty segment, '*' inside a segment any run of bytes but '/', the
 * rest matches itself (case-sensitive). Linear-ish: no exponential backtracking. */
int httprule_path_match(const char *pattern, const char *path);

#endif
