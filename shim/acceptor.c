/* acceptor.c - see acceptor.h. */
#include "acceptor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "shim.h"

struct acceptor {
    struct event *ev, *retry;
    const char *who;
    acceptor_cb cb;
};

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct acceptor *a = arg;
    event_add(a->ev, NULL);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    struct acceptor *a = arg;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: let the backlog wait a moment */
                sbx_log(SBX_LOG_WARN, "accept", "listener", a->who, "error", strerror(errno), NULL);
                event_del(a->ev);
                struct timeval tv = {0, 100000};
                evtimer_add(a->retry, &tv);
            }
            return;
        }
        a->cb(fd);
    }
}

int acceptor_start(int fd, const char *who, acceptor_cb cb, sbx_err *err)
{
    struct acceptor *a = calloc(1, sizeof(*a));
    if (!a) return sbx_error(err, ENOMEM, "listener");
    a->who = who;
    a->cb = cb;
    a->ev = event_new(g_base, fd, EV_READ | EV_PERSIST, accept_cb, a);
    a->retry = evtimer_new(g_base, retry_cb, a);
    if (!a->ev || !a->retry || event_add(a->ev, NULL) < 0) {
        if (a->ev) event_free(a->ev);
        if (a->retry) event_free(a->retry);
        free(a);
        return sbx_error(err, ENOMEM, "listener event");
    }
    return 0;
}
