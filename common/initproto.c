/* initproto.c - encode/decode/transport for the sbxd <-> sbx-init protocol.
 * Linked into both sbxd and the static sbx-init: libc only. */
#include "initproto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void ip_buf_init(struct ip_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void ip_buf_free(struct ip_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void ip_buf_reader(struct ip_buf *b, const void *data, size_t len)
{
    b->data = (uint8_t *)data;
    b->len = len;
    b->cap = 0;
    b->pos = 0;
    b->failed = 0;
}

static int reserve(struct ip_buf *b, size_t n)
{
    if (b->failed) return -1;
    if (b->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void ip_put_bytes(struct ip_buf *b, const void *p, size_t n)
{
    if (reserve(b, n) < 0) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void ip_put_u32(struct ip_buf *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    ip_put_bytes(b, le, 4);
}

void ip_put_str(struct ip_buf *b, const char *s)
{
    size_t n = strlen(s);
    ip_put_u32(b, (uint32_t)(n + 1));
    ip_put_bytes(b, s, n + 1);
}

uint32_t ip_get_u32(struct ip_buf *b)
{
    if (b->failed || b->len - b->pos < 4) {
        b->failed = 1;
        return 0;
    }
    const uint8_t *p = b->data + b->pos;
    b->pos += 4;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *ip_get_str(struct ip_buf *b)
{
    uint32_t n = ip_get_u32(b);
    if (b->failed || n == 0 || n > b->len - b->pos) {
        b->failed = 1;
        return NULL;
    }
    const char *s = (const char *)b->data + b->pos;
    /* exactly one NUL, at the end */
    if (s[n - 1] != '\0' || memchr(s, '\0', n - 1) != NULL) {
        b->failed = 1;
        return NULL;
    }
    b->pos += n;
    return s;
}

int ip_exec_encode(struct ip_buf *b, uint32_t id, const struct ip_exec *e)
{
    struct ip_hdr h = {IP_EXEC, id};
    ip_put_bytes(b, &h, sizeof(h));
    ip_put_u32(b, e->uid);
    ip_put_u32(b, e->gid);
    ip_put_u32(b, e->flags);
    ip_put_str(b, e->cwd ? e->cwd : "/");
    ip_put_u32(b, e->argc);
    for (uint32_t i = 0; i < e->argc; i++) ip_put_str(b, e->argv[i]);
    ip_put_u32(b, e->envc);
    for (uint32_t i = 0; i < e->envc; i++) ip_put_str(b, e->env[i]);
    ip_put_u32(b, e->keep);
    ip_put_u32(b, e->cols);
    ip_put_u32(b, e->rows);
    ip_put_str(b, e->meta ? e->meta : "");
    return b->failed ? -1 : 0;
}

static const char **get_strv(struct ip_buf *b, uint32_t *count)
{
    uint32_t n = ip_get_u32(b);
    /* each string needs at least 5 bytes (length + NUL): bounds the allocation */
    if (b->failed || n > (b->len - b->pos) / 5) {
        b->failed = 1;
        return NULL;
    }
    const char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v) {
        b->failed = 1;
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        v[i] = ip_get_str(b);
        if (!v[i]) {
            free(v);
            return NULL;
        }
    }
    *count = n;
    return v;
}

int ip_exec_decode(const void *payload, size_t len, struct ip_exec *e)
{
    struct ip_buf b;
    memset(e, 0, sizeof(*e));
    ip_buf_reader(&b, payload, len);
    e->uid = ip_get_u32(&b);
    e->gid = ip_get_u32(&b);
    e->flags = ip_get_u32(&b);
    e->cwd = ip_get_str(&b);
    e->argv = get_strv(&b, &e->argc);
    if (!b.failed) e->env = get_strv(&b, &e->envc);
    e->keep = ip_get_u32(&b);
    e->cols = ip_get_u32(&b);
    e->rows = ip_get_u32(&b);
    e->meta = ip_get_str(&b);
    if (b.failed || e->argc == 0 || b.pos != b.len || (e->keep & ~(IP_KEEP_ALL & ~IP_KEEP_PTY)) ||
        strlen(e->meta) > IP_META_MAX) {
        ip_exec_free(e);
        return -1;
    }
    return 0;
}

void ip_exec_free(struct ip_exec *e)
{
    free(e->argv);
    free(e->env);
    e->argv = e->env = NULL;
    e->argc = e->envc = 0;
}

int ip_send(int sock, const void *msg, size_t len, const int *fds, int nfds)
{
    struct iovec iov = {(void *)msg, len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * IP_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        if (nfds > IP_MAX_FDS) return -EINVAL;
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    for (;;) {
        ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (r >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int ip_send_simple(int sock, uint32_t type, uint32_t id, int with_u32, uint32_t v, const char *str)
{
    uint8_t buf[sizeof(struct ip_hdr) + 4 + 4 + 256];
    struct ip_buf b;
    struct ip_hdr h = {type, id};
    ip_buf_init(&b);
    b.data = buf;
    b.cap = sizeof(buf);
    ip_put_bytes(&b, &h, sizeof(h));
    if (with_u32) ip_put_u32(&b, v);
    if (str) {
        char s[256];
        size_t n = strlen(str);
        if (n > 255) n = 255;
        memcpy(s, str, n);
        s[n] = '\0';
        ip_put_str(&b, s);
    }
    if (b.data != buf) { /* cannot happen: bounded above; never realloc a stack buffer */
        return -EOVERFLOW;
    }
    return ip_send(sock, buf, b.len, NULL, 0);
}

ssize_t ip_recv(int sock, void *buf, size_t cap, int *fds, int *nfds)
{
    struct iovec iov = {buf, cap};
    union {
        char buf[CMSG_SPACE(sizeof(int) * IP_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    ssize_t r;
    *nfds = 0;
    do {
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int tmp[IP_MAX_FDS];
            if (n > IP_MAX_FDS) n = IP_MAX_FDS;
            memcpy(tmp, CMSG_DATA(c), sizeof(int) * (size_t)n);
            for (int i = 0; i < n; i++) fds[(*nfds)++] = tmp[i];
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        *nfds = 0;
        return -EMSGSIZE;
    }
    return r;
}
