/* api.h - routes a complete request to an operation. */
#ifndef SBX_API_H
#define SBX_API_H

struct conn;
void api_dispatch(struct conn *c);

#endif
