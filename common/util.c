/* util.c - small file and time helpers. No global state, no exit(). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int write_file_at(int dirfd, const char *name, const char *data, sbx_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return sbx_error(err, errno, "open %s", name);
    int r = write_all(fd, data, strlen(data));
    if (r < 0) return sbx_error(err, -r, "write '%s' to %s", data, name);
    return 0;
}

int write_file(const char *path, const char *data, sbx_err *err)
{
    return write_file_at(AT_FDCWD, path, data, err);
}

ssize_t read_file_at(int dirfd, const char *name, char *buf, size_t cap)
{
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    return (ssize_t)n;
}

ssize_t read_file(const char *path, char *buf, size_t cap, sbx_err *err)
{
    ssize_t r = read_file_at(AT_FDCWD, path, buf, cap);
    if (r < 0) return sbx_error(err, (int)-r, "read %s", path);
    return r;
}

int mkdir_p(const char *path, mode_t mode, sbx_err *err)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp)) return sbx_error(err, ENAMETOOLONG, "mkdir %s", path);
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST) return sbx_error(err, errno, "mkdir %s", tmp);
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(p) : unlink(p);
    if (r < 0 && errno != ENOENT) return -1;
    return 0;
}

int rm_rf(const char *path, sbx_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) return 0;
        return sbx_error(err, errno, "stat %s", path);
    }
    if (nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return sbx_error(err, errno, "remove %s", path);
    return 0;
}

int random_hex(char *out, size_t nbytes, sbx_err *err)
{
    unsigned char b[64];
    if (nbytes > sizeof(b)) return sbx_error(err, EINVAL, "random_hex: too many bytes");
    if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) return sbx_error(err, errno, "getrandom");
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * nbytes] = '\0';
    return 0;
}

double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fmt_time_utc(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

ssize_t b64_decode(const char *in, size_t n, uint8_t *out)
{
    if (n % 4 != 0) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int a = b64val(in[i]), b = b64val(in[i + 1]);
        int last = (i + 4 == n);
        int c = (last && in[i + 2] == '=') ? -2 : b64val(in[i + 2]);
        int d = (last && in[i + 3] == '=') ? -2 : b64val(in[i + 3]);
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)(c < 0 ? 0 : c) << 6 |
                     (uint32_t)(d < 0 ? 0 : d);
        out[o++] = (uint8_t)(v >> 16);
        if (c >= 0) out[o++] = (uint8_t)(v >> 8);
        if (d >= 0) out[o++] = (uint8_t)v;
    }
    return (ssize_t)o;
}

int node_file_name_valid(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64) return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return 0;
    return 1;
}
