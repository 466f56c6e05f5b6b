/* bodypipe.h - relay a streamed request body (conn_stream_body) into a pipe
 * to a child process, with backpressure both ways: reading from the client
 * pauses while more than BODYPIPE_HIGH bytes wait for the child, and resumes
 * below BODYPIPE_LOW. Used by image imports and the file API. */
#ifndef SBX_BODYPIPE_H
#define SBX_BODYPIPE_H

#include <stdint.h>

#include "server.h"

#define BODYPIPE_HIGH (8u << 20)
#define BODYPIPE_LOW (1u << 20)

struct bodypipe {
    struct conn *c; /* NULL once the response was sent or the client left */
    int fd;         /* write end of the child's stdin; -1 once closed */
    struct event *ev;
    struct evbuffer *pending;
    uint64_t received;
    int body_done;
};

/* Take ownership of fd (made nonblocking). Returns 0 or -1 (out of memory). */
int bodypipe_init(struct bodypipe *bp, struct event_base *base, struct conn *c, int fd);
/* Body bytes from the client / its end. Bytes that arrive after the child
 * stopped reading (closed its end) are counted and dropped. */
void bodypipe_feed(struct bodypipe *bp, const char *p, size_t n);
void bodypipe_end(struct bodypipe *bp);
/* Close the pipe (EOF for the child) and drop what is pending. */
void bodypipe_close(struct bodypipe *bp);
void bodypipe_free(struct bodypipe *bp);

#endif
