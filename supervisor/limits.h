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
#define LIMIT_DISK_BYTES_MIN (1ULL << 20)
#define LIMIT_DISK_BYTES_MAX (1ULL << 50)
#define LIMIT_DISK_BYTES_DEFAULT (10ULL << 30)
#define LIMIT_DISK_INODES_MIN 16
#define LIMIT_DISK_INODES_MAX 4294967295LL
#define LIMIT_DISK_INODES_DEFAULT 1000000

struct limits {
    uint64_t memory; /* bytes */
    int64_t pids;
    double cpu;          /* CPUs; 0 = unlimited */
    uint64_t disk_bytes; /* writable layer: bytes (quota.h) */
    int64_t disk_inodes; /* ... and files */
    int disk_explicit;   /* the request named disk_bytes or disk_inodes */
};

void limits_default(struct limits *l);
/* Node defaults of disk_bytes and disk_inodes (--disk-bytes, --disk-inodes). */
void limits_set_disk_defaults(uint64_t bytes, int64_t inodes);
/* "256M", "1G", "1048576", "512k" -> bytes (powers of 1024). 0 or -1 + err. */
int parse_size(const char *s, uint64_t *out, sbx_err *err);
/* Fill l from the request's "limits" object (may be NULL); validates ranges. */
int limits_from_json(struct json_object *obj, struct limits *l, sbx_err *err);
struct json_object *limits_to_json(const struct limits *l);
/* Size of the sandbox's /tmp tmpfs for these limits. */
uint64_t limits_tmp_size(const struct limits *l);

#endif
