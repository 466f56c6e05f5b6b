/* limits.h - session resource limits: parsing, defaults, validation (pure). */
#ifndef SBX_LIMITS_H
#define SBX_LIMITS_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"

#define LIMIT_MEMORY_MIN (4ULL << 20)
#define LIMIT_MEMORY_MAX (1ULL << 40)
#define LIMIT_MEMORY_DEFAULT (512ULL << 20)
#define LIMIT_PIDS_MIN 8
#define LIMIT_PIDS_MAX 1000000
#define LIMIT_PIDS_DEFAULT 1024
#define LIMIT_CPU_MIN 0.01
#define LIMIT_CPU_MAX 1024.0

struct limits {
    uint64_t memory; /* bytes */
    int64_t pids;
    double cpu; /* CPUs; 0 = unlimited */
};

void limits_default(struct limits *l);
/* "256M", "1G", "1048576", "512k" -> bytes (powers of 1024). 0 or -1 + err. */
int parse_size(const char *s, uint64_t *out, sbx_err *err);
/* Fill l from the request's "limits" object (may be NULL); validates ranges. */
int limits_from_json(struct json_object *obj, struct limits *l, sbx_err *err);
struct json_object *limits_to_json(const struct limits *l);
/* Size of the sandbox's /tmp tmpfs for these limits. */
uint64_t limits_tmp_size(const struct limits *l);

#endif
