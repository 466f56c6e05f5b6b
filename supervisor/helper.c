/* helper.c - see helper.h. */
#include "helper.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "server.h"

int helper_exe_path(const char *configured, const char *name, char *path, size_t cap)
{
    if (configured) {
        snprintf(path, cap, "%s", configured);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0) return -errno;
    self[n] = '\0';
    char *dir = dirname(self);
    snprintf(path, cap, "%s/%s", dir, name);
    if (access(path, X_OK) != 0) snprintf(path, cap, "%s/../libexec/sbx/%s", dir, name);
    return 0;
}

int helper_read_answer(struct evbuffer *buf, int fd, size_t cap)
{
    for (;;) {
        int n = evbuffer_read(buf, fd, 65536);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        if (n <= 0 || evbuffer_get_length(buf) > cap) return 1; /* over cap: not a sane answer */
    }
}

struct json_object *helper_answer(struct evbuffer *buf)
{
    evbuffer_add(buf, "", 1); /* a C string for the JSON parser */
    const char *s = (const char *)evbuffer_pullup(buf, -1);
    return s ? json_tokener_parse(s) : NULL;
}

int helper_answer_error(struct json_object *answer, int *status, const char **code,
                        const char **message)
{
    struct json_object *e, *v;
    if (!answer || !json_object_object_get_ex(answer, "error", &e)) return 0;
    sbx_err err = {0};
    if (json_object_object_get_ex(e, "kind", &v)) err.kind = (enum sbx_err_kind)json_object_get_int(v);
    *status = err_http_status(&err);
    *code = json_object_object_get_ex(e, "code", &v) ? json_object_get_string(v) : "internal";
    *message = json_object_object_get_ex(e, "message", &v) ? json_object_get_string(v) : "failed";
    return 1;
}

void helper_kill(int *pidfd)
{
    if (*pidfd < 0) return;
    syscall(SYS_pidfd_send_signal, *pidfd, SIGKILL, NULL, 0);
    siginfo_t si;
    waitid(P_PIDFD, (id_t)*pidfd, &si, WEXITED | WNOHANG);
    close(*pidfd);
    *pidfd = -1;
}
