/* Unit tests: the sbxd <-> sbx-init wire format (common/initproto.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "initproto.h"
#include "unit.h"

static void test_exec_round_trip(void)
{
    const char *argv[] = {"sh", "-c", "echo hi"};
    const char *env[] = {"A=1", "PATH=/bin"};
    struct ip_exec e = {.uid = 1000, .gid = 1001, .flags = IP_EXEC_ROOT_CAPS, .cwd = "/tmp",
                        .argc = 3, .argv = argv, .envc = 2, .env = env,
                        .keep = IP_KEEP_STDOUT | IP_KEEP_CONN, .cols = 120, .rows = 40,
                        .meta = "{\"bg\":true}"};
    struct ip_buf b;
    ip_buf_init(&b);
    CHECK(ip_exec_encode(&b, 42, &e) == 0);
    struct ip_hdr h;
    memcpy(&h, b.data, sizeof(h));
    CHECK(h.type == IP_EXEC && h.id == 42);
    struct ip_exec d;
    CHECK(ip_exec_decode(b.data + sizeof(h), b.len - sizeof(h), &d) == 0);
    CHECK(d.uid == 1000 && d.gid == 1001 && d.flags == IP_EXEC_ROOT_CAPS);
    CHECK_STR(d.cwd, "/tmp");
    CHECK(d.argc == 3 && d.envc == 2);
    CHECK_STR(d.argv[2], "echo hi");
    CHECK(d.argv[3] == NULL && d.env[2] == NULL);
    CHECK_STR(d.env[1], "PATH=/bin");
    CHECK(d.keep == (IP_KEEP_STDOUT | IP_KEEP_CONN) && d.cols == 120 && d.rows == 40);
    CHECK_STR(d.meta, "{\"bg\":true}");
    ip_exec_free(&d);
    ip_buf_free(&b);
}

/* init makes the pty master itself: a request naming it, or unknown kept
 * fds, or an oversized meta record, is malformed. */
static void test_decode_rejects_bad_keep_masks_and_huge_meta(void)
{
    const char *argv[] = {"true"};
    uint32_t masks[] = {IP_KEEP_PTY, 0x20, 0x80000000u};
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        struct ip_exec e = {.cwd = "/", .argc = 1, .argv = argv, .keep = masks[i]};
        struct ip_buf b;
        ip_buf_init(&b);
        CHECK(ip_exec_encode(&b, 1, &e) == 0);
        struct ip_exec d;
        CHECK(ip_exec_decode(b.data + sizeof(struct ip_hdr), b.len - sizeof(struct ip_hdr), &d) < 0);
        ip_buf_free(&b);
    }
    char *big = malloc(IP_META_MAX + 2);
    memset(big, 'm', IP_META_MAX + 1);
    big[IP_META_MAX + 1] = '\0';
    struct ip_exec e = {.cwd = "/", .argc = 1, .argv = argv, .meta = big};
    struct ip_buf b;
    ip_buf_init(&b);
    CHECK(ip_exec_encode(&b, 1, &e) == 0);
    struct ip_exec d;
    CHECK(ip_exec_decode(b.data + sizeof(struct ip_hdr), b.len - sizeof(struct ip_hdr), &d) < 0);
    ip_buf_free(&b);
    free(big);
}

static void test_decode_rejects_every_truncation(void)
{
    const char *argv[] = {"true"};
    struct ip_exec e = {.cwd = "/", .argc = 1, .argv = argv};
    struct ip_buf b;
    ip_buf_init(&b);
    ip_exec_encode(&b, 1, &e);
    size_t n = b.len - sizeof(struct ip_hdr);
    for (size_t cut = 0; cut < n; cut++) {
        struct ip_exec d;
        CHECK(ip_exec_decode(b.data + sizeof(struct ip_hdr), cut, &d) < 0);
    }
    ip_buf_free(&b);
}

static void test_decode_rejects_hostile_counts_and_strings(void)
{
    struct ip_buf b;
    struct ip_exec d;
    /* argc claims 2^32-1 entries */
    ip_buf_init(&b);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_str(&b, "/");
    ip_put_u32(&b, 0xffffffffu);
    CHECK(ip_exec_decode(b.data, b.len, &d) < 0);
    ip_buf_free(&b);
    /* a string with an embedded NUL */
    ip_buf_init(&b);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 4);
    ip_put_bytes(&b, "a\0b", 4);
    CHECK(ip_exec_decode(b.data, b.len, &d) < 0);
    ip_buf_free(&b);
    /* zero argv */
    ip_buf_init(&b);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    ip_put_str(&b, "/");
    ip_put_u32(&b, 0);
    ip_put_u32(&b, 0);
    CHECK(ip_exec_decode(b.data, b.len, &d) < 0);
    ip_buf_free(&b);
}

static void test_send_recv_carries_fds_and_simple_messages(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    struct ip_hdr h = {IP_EXEC, 7};
    CHECK(ip_send(sv[0], &h, sizeof(h), p, 2) == 0);
    uint8_t buf[64];
    int fds[IP_MAX_FDS], nfds;
    CHECK(ip_recv(sv[1], buf, sizeof(buf), fds, &nfds) == (ssize_t)sizeof(h));
    CHECK(nfds == 2);
    CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    CHECK(write(fds[1], "x", 1) == 1);
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1 && c == 'x');
    CHECK(ip_send_simple(sv[0], IP_FAILED, 9, 1, 2, "execve") == 0);
    ssize_t n = ip_recv(sv[1], buf, sizeof(buf), fds + 2, &nfds);
    CHECK(n > 0 && nfds == 0);
    struct ip_buf rb;
    ip_buf_reader(&rb, buf + sizeof(h), (size_t)n - sizeof(h));
    CHECK(ip_get_u32(&rb) == 2);
    CHECK_STR(ip_get_str(&rb), "execve");
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(fds[i]);
        close(sv[i]);
    }
}

static void test_recv_truncated_record_is_emsgsize(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
    uint8_t big[100] = {0}, small[10];
    int fds[IP_MAX_FDS], nfds;
    CHECK(ip_send(sv[0], big, sizeof(big), NULL, 0) == 0);
    CHECK(ip_recv(sv[1], small, sizeof(small), fds, &nfds) == -EMSGSIZE);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    RUN(test_exec_round_trip);
    RUN(test_decode_rejects_every_truncation);
    RUN(test_decode_rejects_bad_keep_masks_and_huge_meta);
    RUN(test_decode_rejects_hostile_counts_and_strings);
    RUN(test_send_recv_carries_fds_and_simple_messages);
    RUN(test_recv_truncated_record_is_emsgsize);
    UNIT_MAIN_END();
}
