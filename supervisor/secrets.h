/* secrets.h - secrets a session's code may use without holding them
 * (docs/secrets.md).
 *
 * POST /v1/sessions takes
 *   "secrets": {"GITHUB_TOKEN": {"value": "ghp_...", "hosts": ["api.github.com"],
 *                                "query": false, "require": false},
 *               "OPENAI_API_KEY": {"node": "openai"}}
 * The second form names a node-level secret: <secrets-dir>/openai.json, a
 * root-owned file no one else may read, holding the same object ({"value",
 * "hosts", "query", "require"}).
 *
 * sbxd gives each secret a random placeholder (sbx_secret_ + 40 hex digits),
 * puts NAME=<placeholder> into the session's environment, hands the value to
 * sbx-shim (which replaces the placeholder in requests to the secret's hosts)
 * and forgets it: the session keeps only the metadata (names, hosts, flags,
 * placeholders), which is what GET shows and what the session record holds.
 * When the shim restarts, it gets the metadata without values: requests that
 * would need a value are refused ("not held by the shim any more"). */
#ifndef SBX_SECRETS_H
#define SBX_SECRETS_H

#include <json-c/json.h>

#include "error.h"

#define SECRETS_MAX 64
#define SECRET_VALUE_MAX (16 * 1024)
#define SECRET_HOSTS_MAX 16

struct sbxd;

/* Parse and check body["secrets"] (obj may be NULL: none). On success:
 *   *shim: what the shim gets at create, values included
 *          {"NAME": {"placeholder","value","hosts","query","require"}}
 *   *meta: the same without "value", plus "source" ("request" | "node:NAME")
 * Both NULL when obj is NULL. Errors are 400 invalid_request / 404-free:
 * a missing node secret is invalid_request naming the file. */
int secrets_parse(struct sbxd *d, struct json_object *obj, struct json_object **shim,
                  struct json_object **meta, sbx_err *err);
/* The shim's form without values ("value": null) for sessions whose values
 * are gone (a restarted shim or sbxd). NULL when meta is NULL. */
struct json_object *secrets_without_values(struct json_object *meta);
/* Overwrite every "value" string inside a secrets object (shim form, or a
 * request's "secrets") with zero bytes, in place. */
void secrets_wipe(struct json_object *obj);

#endif
