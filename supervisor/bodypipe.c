/* bodypipe.c - request body -> child's stdin; see bodypipe.h. */
#include "bodypipe.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static void pump(struct bodypipe *bp)
{
    if (bp->fd < 0) return;
    while (evbuffer_get_length(bp->pending) > 0) {
        int n = evbuffer_write(bp->pending, bp->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            /* EPIPE: the child stopped reading (it failed; its answer says why) */
            bodypipe_close(bp);
            if (bp->c) conn_pause_input(bp->c, 0);
            return;
        }
    }
    size_t left = evbuffer_get_length(bp->pending);
    if (left > 0) event_add(bp->ev, NULL);
    else event_del(bp->ev);
    if (bp->body_done && left == 0) {
        bodypipe_close(bp);
        return;
    }
    if (bp->c && left < BODYPIPE_LOW) conn_pause_input(bp->c, 0);
}

static void writable_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    pump(arg);
}

int bodypipe_init(struct bodypipe *bp, struct event_base *base, struct conn *c, int fd)
{
    bp->c = c;
    bp->fd = fd;
    bp->received = 0;
    bp->body_done = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fcntl(fd, F_SETPIPE_SZ, 1 << 20);
    bp->pending = evbuffer_new();
    bp->ev = event_new(base, fd, EV_WRITE, writable_cb, bp);
    if (!bp->pending || !bp->ev) {
        bodypipe_free(bp);
        return -1;
    }
    return 0;
}

void bodypipe_feed(struct bodypipe *bp, const char *p, size_t n)
{
    bp->received += n;
    if (bp->fd < 0) return;
    evbuffer_add(bp->pending, p, n);
    if (evbuffer_get_length(bp->pending) > BODYPIPE_HIGH && bp->c) conn_pause_input(bp->c, 1);
    pump(bp);
}

void bodypipe_end(struct bodypipe *bp)
{
    bp->body_done = 1;
    if (bp->fd < 0) return;
    pump(bp);
}

void bodypipe_close(struct bodypipe *bp)
{
    if (bp->ev) event_del(bp->ev);
    if (bp->fd >= 0) close(bp->fd);
    bp->fd = -1;
    if (bp->pending) evbuffer_drain(bp->pending, evbuffer_get_length(bp->pending));
}

void bodypipe_free(struct bodypipe *bp)
{
    bodypipe_close(bp);
    if (bp->ev) event_free(bp->ev);
    if (bp->pending) evbuffer_free(bp->pending);
    bp->ev = NULL;
    bp->pending = NULL;
}
