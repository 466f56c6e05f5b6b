/* json.c - request-body validation on top of json-c. Pure: no I/O. */
#include "json.h"

#include <json-c/printbuf.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *json_path(char *buf, size_t cap, const char *where, const char *key)
{
    if (where && *where)
        snprintf(buf, cap, "%s.%s", where, key);
    else
        snprintf(buf, cap, "%s", key);
    return buf;
}

/* "field \"PATH\" WHAT" */
static int invalid(sbx_err *err, const char *path, const char *what)
{
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request", "field \"%s\" %s", path, what);
}

static int missing(sbx_err *err, const char *path)
{
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request", "missing required field \"%s\"",
                          path);
}

/* json-c's strict mode still takes single quotes and NaN/Infinity. Outside
 * strings, RFC 8259 only has structure, whitespace, numbers and the three
 * literals: refuse any other byte before json-c parses. Returns the offset
 * of the first bad byte, or -1. */
static ssize_t lexical_check(const char *buf, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (!strchr("{}[],: \t\r\n0123456789+-.eEtruefalsn", c) || c == '\0')
            return (ssize_t)i;
    }
    return -1;
}

/* No NaN or infinities anywhere in the document ("nan" passes the lexical check). */
static int all_finite(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double: return isfinite(json_object_get_double(o));
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (v && !all_finite(v)) return 0;
        }
        return 1;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            struct json_object *v = json_object_array_get_idx(o, i);
            if (v && !all_finite(v)) return 0;
        }
        return 1;
    default: return 1;
    }
}

int json_parse_object(const char *buf, size_t len, struct json_object **out, sbx_err *err)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", buf[i])) i++;
    if (i == len) {
        *out = json_object_new_object();
        return *out ? 0 : sbx_error(err, ENOMEM, "json");
    }
    if (buf[i] != '{')
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body must be a JSON object ({...})");
    json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) return sbx_error(err, ENOMEM, "json tokener");
    /* RFC 8259 only: no trailing commas, single quotes, comments or NaN; UTF-8. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    /* the tokener's scratch buffer held the last string it read (maybe a
     * secret's value): wipe it before it goes back to the allocator */
    if (tok->pb && tok->pb->buf) explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue || (!o && jerr == json_tokener_success)) {
        if (o) json_object_put(o);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body is not valid JSON: unexpected end of input at byte %zu",
                              len);
    }
    if (jerr != json_tokener_success) {
        /* Strict mode stops at trailing data without saying so: if a lenient
         * parse completes a value before the end, that is what went wrong. */
        json_tokener *lax = json_tokener_new_ex(64);
        if (lax) {
            struct json_object *lo = json_tokener_parse_ex(lax, buf, (int)len);
            size_t lend = json_tokener_get_parse_end(lax);
            int trailing = lo && json_tokener_get_error(lax) == json_tokener_success && lend < len;
            while (trailing && lend < len && strchr(" \t\r\n", buf[lend])) lend++;
            if (lo) json_object_put(lo);
            json_tokener_free(lax);
            if (trailing && lend <= end)
                return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                                      "request body is not valid JSON: trailing data at byte %zu",
                                      lend);
        }
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body is not valid JSON: %s at byte %zu",
                              json_tokener_error_desc(jerr), end);
    }
    while (end < len && strchr(" \t\r\n", buf[end])) end++;
    if (end != len) {
        json_object_put(o);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body is not valid JSON: trailing data at byte %zu", end);
    }
    ssize_t bad = lexical_check(buf, len);
    if (bad >= 0) {
        json_object_put(o);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body is not valid JSON: unexpected character at byte %zd",
                              bad);
    }
    if (!all_finite(o)) {
        json_object_put(o);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body is not valid JSON: NaN and infinities are not numbers");
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_json",
                              "request body must be a JSON object ({...})");
    }
    *out = o;
    return 0;
}

int json_check_fields(struct json_object *obj, const char *where, const char *const *allowed,
                      sbx_err *err)
{
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0) ok = 1;
        if (!ok) {
            char list[512] = "", path[256];
            size_t n = 0;
            for (const char *const *a = allowed; *a && n < sizeof(list) - 1; a++)
                n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *a);
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                  "unknown field \"%s\" (allowed: %s)",
                                  json_path(path, sizeof(path), where, key), list);
        }
    }
    return 0;
}

static struct json_object *lookup(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) return NULL;
    return v; /* NULL for JSON null too */
}

int json_get_str(struct json_object *obj, const char *where, const char *key, int required,
                 const char **out, sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *out = NULL;
    json_path(path, sizeof(path), where, key);
    if (!v) return required ? missing(err, path) : 0;
    if (!json_object_is_type(v, json_type_string))
        return invalid(err, path, "must be a string");
    *out = json_object_get_string(v);
    if (strlen(*out) != (size_t)json_object_get_string_len(v))
        return invalid(err, path, "must not contain NUL bytes");
    return 0;
}

int json_get_int(struct json_object *obj, const char *where, const char *key, int64_t min,
                 int64_t max, int *present, int64_t *out, sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *present = 0;
    json_path(path, sizeof(path), where, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int))
        return invalid(err, path, "must be an integer");
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno == EINVAL || x < min || x > max || (x == INT64_MAX && errno)) {
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"%s\" must be between %lld and %lld", path, (long long)min,
                              (long long)max);
    }
    *present = 1;
    *out = x;
    return 0;
}

int json_get_bool(struct json_object *obj, const char *where, const char *key, int *out,
                  sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *out = 0;
    json_path(path, sizeof(path), where, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_boolean)) return invalid(err, path, "must be true or false");
    *out = json_object_get_boolean(v);
    return 0;
}

int json_get_num(struct json_object *obj, const char *where, const char *key, double min,
                 double max, int *present, double *out, sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *present = 0;
    json_path(path, sizeof(path), where, key);
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return invalid(err, path, "must be a number");
    double x = json_object_get_double(v);
    if (!isfinite(x) || x < min || x > max)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"%s\" must be between %g and %g", path, min, max);
    *present = 1;
    *out = x;
    return 0;
}

int json_get_obj(struct json_object *obj, const char *where, const char *key,
                 struct json_object **out, sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_object_is_type(v, json_type_object))
        return invalid(err, json_path(path, sizeof(path), where, key), "must be an object");
    *out = v;
    return 0;
}

int json_get_arr(struct json_object *obj, const char *where, const char *key, int required,
                 struct json_object **out, sbx_err *err)
{
    char path[256];
    struct json_object *v = lookup(obj, key);
    *out = NULL;
    json_path(path, sizeof(path), where, key);
    if (!v) return required ? missing(err, path) : 0;
    if (!json_object_is_type(v, json_type_array))
        return invalid(err, path, "must be an array");
    *out = v;
    return 0;
}

int json_check_str_map(struct json_object *map, const char *where, size_t max_entries,
                       size_t max_key, size_t max_val, sbx_err *err)
{
    if ((size_t)json_object_object_length(map) > max_entries)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"%s\" has more than %zu entries", where, max_entries);
    json_object_object_foreach(map, key, val)
    {
        char path[256];
        json_path(path, sizeof(path), where, key);
        if (strlen(key) == 0 || strlen(key) > max_key)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                  "keys of \"%s\" must be 1..%zu bytes", where, max_key);
        if (!val || !json_object_is_type(val, json_type_string))
            return invalid(err, path, "must be a string");
        size_t vl = (size_t)json_object_get_string_len(val);
        if (vl > max_val || strlen(json_object_get_string(val)) != vl)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                                  "field \"%s\" must be at most %zu bytes and contain no NUL",
                                  path, max_val);
    }
    return 0;
}

struct json_object *json_err_object(const sbx_err *err, const char *fallback_code)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(err->code ? err->code : fallback_code));
    json_object_object_add(e, "message", json_object_new_string(err->msg));
    json_object_object_add(e, "kind", json_object_new_int((int)err->kind));
    return e;
}

struct json_object *json_time_utc(time_t t)
{
    char buf[32];
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    return json_object_new_string(buf);
}
