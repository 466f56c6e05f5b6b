/* server.h - connections on the API socket: HTTP/1.1 request reading,
 * JSON responses, and chunked streams with backpressure. No API semantics. */
#ifndef SBX_SERVER_H
#define SBX_SERVER_H

#include <event2/buffer.h>
#include <json-c/json.h>

#include "error.h"
#include "http.h"
#include "sbxd.h"

/* Output above this many bytes pauses a stream's producer; resumes below LOW. */
#define CONN_OUT_HIGH (4u << 20)
#define CONN_OUT_LOW (1u << 20)

struct conn {
    int fd;
    struct event *rev, *wev;
    struct evbuffer *in, *out;
    struct http_req req;
    int busy;    /* a request is being handled (response not finished) */
    int closing; /* close once out is flushed */
    int linger;  /* ...but first drain what the client still sends (see conn_linger) */
    struct event *linger_ev;
    size_t lingered;
    int streaming;
    /* producer hooks while a response is pending */
    void *stream_owner;
    void (*on_drain)(void *owner);   /* out fell below CONN_OUT_LOW */
    void (*on_gone)(void *owner);    /* client went away */
    /* streaming request bodies (see api_head): pieces, then the end */
    void (*on_body)(void *owner, const char *p, size_t n);
    void (*on_body_end)(void *owner);
    int input_paused;
    struct conn *next;
};

int server_listen(struct sbxd *d, sbx_err *err);
void server_close_all(struct sbxd *d);

/* Respond with JSON (takes ownership of body; NULL = no body, e.g. 204). */
void conn_respond(struct conn *c, int status, struct json_object *body);
void conn_respond_error(struct conn *c, const sbx_err *err);
void conn_respond_error3(struct conn *c, int status, const char *code, const char *msg);
int err_http_status(const sbx_err *err);

/* The object producing this request's response: told when the client goes
 * away (at any time until the response ends) and when output drained. */
void conn_set_owner(struct conn *c, void *owner, void (*on_drain)(void *),
                    void (*on_gone)(void *));
/* Streaming response: begin (headers), chunk (one HTTP chunk: a header part
 * and a data part), end (terminating chunk; connection returns to reading). */
void conn_stream_begin(struct conn *c, const char *content_type);
void conn_stream_chunk(struct conn *c, const void *hdr, size_t hlen, const void *data, size_t dlen);
void conn_stream_end(struct conn *c);
size_t conn_out_pending(struct conn *c);
/* A request whose body is streamed to its owner (from api_head): the owner
 * gets every piece of the body and then its end; it may pause reading from
 * the client while it cannot keep up. A response sent before the body ended
 * closes the connection (after a lingering drain). */
void conn_stream_body(struct conn *c, void *owner, void (*on_body)(void *, const char *, size_t),
                      void (*on_body_end)(void *), void (*on_gone)(void *));
void conn_pause_input(struct conn *c, int pause);
/* The request body as one JSON object (empty = {}); on error responds 400
 * and returns -1. */
int conn_body_json(struct conn *c, struct json_object **out);
/* Write out what is queued (bounded wait), shut the socket down and drop
 * the connection: for sbxd's exit, when other processes hold copies of it. */
void conn_finish_now(struct conn *c);
/* Drop the connection now, mid-response (a stream that cannot finish). */
void conn_abort(struct conn *c);

#endif
