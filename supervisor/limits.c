/* limits.c - parse and validate memory/pids/cpu limits. Pure logic, unit-tested. */
#include "limits.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static uint64_t disk_bytes_default = LIMIT_DISK_BYTES_DEFAULT;
static int64_t disk_inodes_default = LIMIT_DISK_INODES_DEFAULT;

void limits_set_disk_defaults(uint64_t bytes, int64_t inodes)
{
    if (bytes) disk_bytes_default = bytes;
    if (inodes) disk_inodes_default = inodes;
}

void limits_default(struct limits *l)
{
    l->memory = LIMIT_MEMORY_DEFAULT;
    l->pids = LIMIT_PIDS_DEFAULT;
    l->cpu = 0;
    l->disk_bytes = disk_bytes_default;
    l->disk_inodes = disk_inodes_default;
    l->disk_explicit = 0;
}

static int parse_size_field(const char *s, const char *field, uint64_t *out, sbx_err *err);

int parse_size(const char *s, uint64_t *out, sbx_err *err)
{
    return parse_size_field(s, "limits.memory", out, err);
}

static int parse_size_field(const char *s, const char *field, uint64_t *out, sbx_err *err)
{
    const char *p = s;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p)) goto bad;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p++ - '0');
        if (v > (UINT64_MAX - d) / 10) goto bad;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*p) {
    case '\0': break;
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    case 't': case 'T': shift = 40; p++; break;
    default: goto bad;
    }
    if (shift && (*p == 'i' || *p == 'B' || *p == 'b')) { /* accept "Mi", "MB", "MiB" */
        if (*p == 'i') p++;
        if (*p == 'B' || *p == 'b') p++;
    }
    if (*p != '\0') goto bad;
    if (shift && v > (UINT64_MAX >> shift)) goto bad;
    *out = v << shift;
    return 0;
bad:
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                          "field \"%s\": \"%s\" is not a size (use bytes or a number "
                          "with K, M or G, e.g. \"256M\")",
                          field, s);
}

/* limits.KEY: bytes as an integer or a size string ("256M"), within
 * [min, max] (range: the same in words); *present = 0 when absent. */
static int get_size(struct json_object *obj, const char *key, const char *example, uint64_t min,
                    uint64_t max, const char *range, int *present, uint64_t *out, sbx_err *err)
{
    char field[32];
    snprintf(field, sizeof(field), "limits.%s", key);
    struct json_object *v = NULL;
    *present = 0;
    if (!json_object_object_get_ex(obj, key, &v) || !v) return 0;
    uint64_t bytes;
    if (json_object_is_type(v, json_type_string)) {
        if (parse_size_field(json_object_get_string(v), field, &bytes, err) < 0) return -1;
    } else if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
        bytes = (uint64_t)json_object_get_int64(v);
    } else {
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"%s\" must be bytes (integer) or a size string like \"%s\"",
                              field, example);
    }
    if (bytes < min || bytes > max)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"%s\" must be between %s (got %llu bytes)", field, range,
                              (unsigned long long)bytes);
    *present = 1;
    *out = bytes;
    return 0;
}

int limits_from_json(struct json_object *obj, struct limits *l, sbx_err *err)
{
    static const char *const fields[] = {"memory",     "pids",        "cpu",
                                         "disk_bytes", "disk_inodes", NULL};
    limits_default(l);
    if (!obj) return 0;
    if (json_check_fields(obj, "limits", fields, err) < 0) return -1;

    int present;
    uint64_t bytes;
    if (get_size(obj, "memory", "256M", LIMIT_MEMORY_MIN, LIMIT_MEMORY_MAX, "4M and 1T", &present,
                 &bytes, err) < 0)
        return -1;
    if (present) l->memory = bytes;
    int64_t pids;
    if (json_get_int(obj, "limits", "pids", LIMIT_PIDS_MIN, LIMIT_PIDS_MAX, &present, &pids, err) < 0)
        return -1;
    if (present) l->pids = pids;
    double cpu;
    if (json_get_num(obj, "limits", "cpu", LIMIT_CPU_MIN, LIMIT_CPU_MAX, &present, &cpu, err) < 0)
        return -1;
    if (present) l->cpu = cpu;
    if (get_size(obj, "disk_bytes", "10G", LIMIT_DISK_BYTES_MIN, LIMIT_DISK_BYTES_MAX, "1M and 1P",
                 &present, &bytes, err) < 0)
        return -1;
    if (present) {
        l->disk_bytes = bytes;
        l->disk_explicit = 1;
    }
    int64_t inodes;
    if (json_get_int(obj, "limits", "disk_inodes", LIMIT_DISK_INODES_MIN, LIMIT_DISK_INODES_MAX,
                     &present, &inodes, err) < 0)
        return -1;
    if (present) {
        l->disk_inodes = inodes;
        l->disk_explicit = 1;
    }
    return 0;
}

struct json_object *limits_to_json(const struct limits *l)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)l->memory));
    json_object_object_add(o, "pids", json_object_new_int64(l->pids));
    json_object_object_add(o, "cpu", l->cpu > 0 ? json_object_new_double(l->cpu) : NULL);
    json_object_object_add(o, "disk_bytes", json_object_new_int64((int64_t)l->disk_bytes));
    json_object_object_add(o, "disk_inodes", json_object_new_int64(l->disk_inodes));
    return o;
}

uint64_t limits_tmp_size(const struct limits *l)
{
    /* Half the memory limit: tmpfs pages are charged to the session's memory
     * cgroup anyway; the cap keeps /tmp from taking all of it. */
    uint64_t s = l->memory / 2;
    return s < (16ULL << 20) ? (16ULL << 20) : s;
}
