/* util.h - small file and time helpers shared by sbxd and its tests. */
#ifndef SBX_UTIL_H
#define SBX_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Write the whole string to path (O_WRONLY|O_TRUNC, no create unless flags say). */
int write_file(const char *path, const char *data, sbx_err *err);
int write_file_at(int dirfd, const char *name, const char *data, sbx_err *err);
/* Read up to cap-1 bytes, NUL-terminate, strip one trailing newline. Returns length or <0. */
ssize_t read_file(const char *path, char *buf, size_t cap, sbx_err *err);
ssize_t read_file_at(int dirfd, const char *name, char *buf, size_t cap);
/* write(2)/read(2) loops; return 0 / bytes read, or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* mkdir -p with mode for created components. */
int mkdir_p(const char *path, mode_t mode, sbx_err *err);
/* rm -rf without following symlinks and without crossing mount points. */
int rm_rf(const char *path, sbx_err *err);
/* n random bytes as 2n lowercase hex chars into out (size >= 2n+1). */
int random_hex(char *out, size_t nbytes, sbx_err *err);
/* A node-level file name an API request may name (a policy, a secret):
 * 1..64 of [a-z0-9_-], so it can never leave its directory. */
int node_file_name_valid(const char *n);
double now_mono(void);
/* RFC 3339 UTC "2026-11-25T04:49:23Z" into out (>= 21 bytes). */
void fmt_time_utc(time_t t, char *out, size_t cap);
/* Base64 (standard alphabet, padded). enc: out must hold 4*((n+2)/3)+1. */
size_t b64_encode(const uint8_t *in, size_t n, char *out);
/* dec: returns decoded length, or -1 if not valid base64. out must hold 3*(n/4)+3. */
ssize_t b64_decode(const char *in, size_t n, uint8_t *out);

#endif
