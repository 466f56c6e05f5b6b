/* initproto.h - the wire format between sbxd and sbx-init (pid 1 in a sandbox).
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socketpair, one message per record,
 * file descriptors travel as SCM_RIGHTS on the same record. Every message
 * starts with struct ip_hdr; the payload is a sequence of little-endian u32
 * and length-prefixed byte strings written with the ip_buf helpers below.
 * This file only encodes and decodes; it never does I/O beyond ip_send/ip_recv.
 *
 *  sbxd -> init
 *    IP_SECCOMP  payload: raw struct sock_filter[] (applied before every execve)
 *    IP_EXEC     id=exec id; payload: ip_exec (see ip_exec_encode); fds: the
 *                child's stdin, stdout, stderr (none with IP_EXEC_TTY: init
 *                makes a pty), then the "kept" fds named by ip_exec.keep
 *    IP_SIGNAL   id=exec id; payload: u32 signo (sent to the exec's process group)
 *    IP_STDIN_CLOSE id: init drops its kept copy of the stdin pipe's write end
 *    IP_HELLO    a restarted sbxd took over the control socket (see below)
 *  init -> sbxd
 *    IP_READY    init is up and has its seccomp program
 *    IP_STARTED  id; payload: u32 pid (inside the sandbox pid namespace);
 *                fds: the pty master with IP_EXEC_TTY
 *    IP_FAILED   id; payload: u32 errno, str stage ("execve", "chdir", ...)
 *    IP_EXITED   id; payload: u32 wait status (as from waitpid)
 *    IP_ADOPT    id; answer to HELLO, one per process init started that sbxd
 *                has not seen exit: u32 pid, u32 flags, u32 keep mask (of the
 *                fds that follow, plus IP_KEEP_PTY), u32 exited, u32 wait
 *                status, str meta; fds: the kept fds in mask order
 *    IP_ADOPT_DONE  after the last IP_ADOPT
 *
 *  Surviving sbxd: every fd sbxd needs to keep a process alive and reachable
 *  (pipe ends, pty master, the client connection of an open exec stream) is
 *  also held by init, and dropped when the process is reaped. When the
 *  control socket reaches EOF (sbxd died or exited), init makes a new
 *  socketpair, keeps one end at IP_REATTACH_FD and goes on reaping; a new
 *  sbxd takes that end with pidfd_getfd(2) (it alone may: init is not
 *  dumpable) and sends IP_HELLO. Exits seen while detached are held (with
 *  their fds) until then.
 *  sandbox set-up (sbxd's forked children) -> sbxd
 *    IP_SETUP_PID, IP_SETUP_ERROR (see enum)
 */
#ifndef SBX_INITPROTO_H
#define SBX_INITPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IP_MAX_MSG (512 * 1024) /* argv + env + cwd must fit: checked at the API edge */
#define IP_MAX_FDS 8
#define IP_REATTACH_FD 9    /* init's end of the rendezvous socket while detached */
#define IP_META_MAX 16384   /* sbxd's opaque per-process record kept by init */

enum ip_type {
    IP_SECCOMP = 1,
    IP_EXEC = 2,
    IP_SIGNAL = 3,
    IP_STDIN_CLOSE = 4,
    IP_HELLO = 5,
    IP_READY = 101,
    IP_STARTED = 102,
    IP_FAILED = 103,
    IP_EXITED = 104,
    IP_ADOPT = 105,
    IP_ADOPT_DONE = 106,
    /* from the sandbox set-up code in sbxd's forked children, before init runs */
    IP_SETUP_PID = 110,   /* payload: u32 host pid of the sandbox init; fds: its pidfd */
    IP_SETUP_ERROR = 111, /* payload: str message (an sbx_err chain) */
    IP_SETUP_WARM = 112,  /* the setup child did the request-independent steps */
    IP_SETUP_GO = 113,    /* sbxd -> setup child: str image rootfs, u32 tmp MiB, u32 idmap */
};

struct ip_hdr {
    uint32_t type;
    uint32_t id;
};

/* Flags of an exec request. */
#define IP_EXEC_ROOT_CAPS 0x1u /* keep the reduced root capability set (user "root") */
#define IP_EXEC_TTY 0x2u       /* a new pty is the controlling terminal and stdio */

/* The kept fds of an exec (ip_exec.keep), in this order on the wire. */
#define IP_KEEP_STDIN 0x1u  /* write end of the stdin pipe */
#define IP_KEEP_STDOUT 0x2u /* read end of the stdout pipe */
#define IP_KEEP_STDERR 0x4u /* read end of the stderr pipe */
#define IP_KEEP_CONN 0x8u   /* the HTTP client connection of an exec stream */
#define IP_KEEP_PTY 0x10u   /* the pty master (made by init, never sent in IP_EXEC) */
#define IP_KEEP_ALL 0x1fu

struct ip_exec {
    uint32_t uid, gid;
    uint32_t flags;
    const char *cwd;
    uint32_t argc;
    const char **argv; /* argc entries, NULL-terminated on decode */
    uint32_t envc;
    const char **env; /* envc entries "K=V", NULL-terminated on decode */
    uint32_t keep;    /* IP_KEEP_* of the fds after the child's */
    uint32_t cols, rows; /* IP_EXEC_TTY: initial window size */
    const char *meta; /* opaque to init; returned in IP_ADOPT (<= IP_META_MAX) */
};

/* A growable (encode) or bounded (decode) byte buffer. */
struct ip_buf {
    uint8_t *data;
    size_t len, cap, pos;
    int failed; /* sticky: set on allocation failure or malformed input */
};

void ip_buf_init(struct ip_buf *b);
void ip_buf_free(struct ip_buf *b);
void ip_buf_reader(struct ip_buf *b, const void *data, size_t len);
void ip_put_u32(struct ip_buf *b, uint32_t v);
void ip_put_bytes(struct ip_buf *b, const void *p, size_t n);
void ip_put_str(struct ip_buf *b, const char *s);
uint32_t ip_get_u32(struct ip_buf *b);
/* Returns a pointer into the buffer to a NUL-terminated string; NULL (and
 * failed set) if malformed: missing NUL, embedded NUL, or out of bounds. */
const char *ip_get_str(struct ip_buf *b);

/* Encode hdr + exec into b (b must be initialised). Returns 0, -1 on OOM. */
int ip_exec_encode(struct ip_buf *b, uint32_t id, const struct ip_exec *e);
/* Decode an exec payload (after the header). The string pointers point into
 * the message; argv/env arrays are malloc'ed (free with ip_exec_free).
 * Returns 0, or -1 if malformed (counts over bounds, bad strings). */
int ip_exec_decode(const void *payload, size_t len, struct ip_exec *e);
void ip_exec_free(struct ip_exec *e);

/* Send one record with optional fds. Returns 0 or -errno. */
int ip_send(int sock, const void *msg, size_t len, const int *fds, int nfds);
/* Send a header-only message or header + u32 (+ optional string). */
int ip_send_simple(int sock, uint32_t type, uint32_t id, int with_u32, uint32_t v, const char *str);
/* Receive one record into buf (cap bytes). Received fds go to fds (up to
 * IP_MAX_FDS, CLOEXEC), *nfds set. Returns bytes read, 0 on EOF, -errno on
 * error; -EMSGSIZE if the record or its fds were truncated (fds closed). */
ssize_t ip_recv(int sock, void *buf, size_t cap, int *fds, int *nfds);

#endif
