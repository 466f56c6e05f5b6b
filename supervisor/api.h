/* api.h - routes a complete request to an operation. */
#ifndef SBX_API_H
#define SBX_API_H

struct conn;
void api_dispatch(struct conn *c);
/* Headers of a request are in: 1 = its body is streamed to an owner (e.g. an
 * image import), 0 = buffer the body and dispatch when complete, -1 = refused. */
int api_head(struct conn *c);

#endif
