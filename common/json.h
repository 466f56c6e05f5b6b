/* json.h - typed getters over json-c that turn every malformed request into a
 * precise 400 message naming the field ("limits.memory: must be ..."). */
#ifndef SBX_JSON_H
#define SBX_JSON_H

#include <json-c/json.h>
#include <time.h>
#include <stdint.h>

#include "error.h"

static inline void cleanup_json_putp(struct json_object **o)
{
    if (*o) json_object_put(*o);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_json_putp)))

/* Parse a request body that must be one JSON object (empty body = {}). */
int json_parse_object(const char *buf, size_t len, struct json_object **out, sbx_err *err);
/* Fail with "unknown field" if obj has a key not in allowed (NULL-terminated). */
int json_check_fields(struct json_object *obj, const char *where, const char *const *allowed,
                      sbx_err *err);
/* Each getter: absent key -> *present = 0 (or error "missing" if required).
 * Present with wrong type/range -> 400 error naming where.key. JSON null
 * counts as absent. */
int json_get_str(struct json_object *obj, const char *where, const char *key, int required,
                 const char **out, sbx_err *err);
int json_get_int(struct json_object *obj, const char *where, const char *key, int64_t min,
                 int64_t max, int *present, int64_t *out, sbx_err *err);
/* A boolean; absent or null -> *out = 0. */
int json_get_bool(struct json_object *obj, const char *where, const char *key, int *out,
                  sbx_err *err);
int json_get_num(struct json_object *obj, const char *where, const char *key, double min,
                 double max, int *present, double *out, sbx_err *err);
int json_get_obj(struct json_object *obj, const char *where, const char *key,
                 struct json_object **out, sbx_err *err);
int json_get_arr(struct json_object *obj, const char *where, const char *key, int required,
                 struct json_object **out, sbx_err *err);
/* Validate a {"string": "string"} map; max entries, key/value length bounds. */
int json_check_str_map(struct json_object *map, const char *where, size_t max_entries,
                       size_t max_key, size_t max_val, sbx_err *err);
/* {"code", "message", "kind"}: how a helper process (sbx-import, a file API
 * worker) reports err to sbxd; code is fallback_code when err has none. */
struct json_object *json_err_object(const sbx_err *err, const char *fallback_code);
/* A time as an ISO-8601 UTC string ("2026-11-25T04:49:23Z"). */
struct json_object *json_time_utc(time_t t);
/* "a.b" or "b" when where is empty. */
const char *json_path(char *buf, size_t cap, const char *where, const char *key);

#endif
