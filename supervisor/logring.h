/* logring.h - a process's recent output: a bounded ring of records
 * (stream, bytes), oldest dropped first. Pure memory; no I/O, no events. */
#ifndef SBX_LOGRING_H
#define SBX_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#define LOGRING_HDR 5 /* u8 stream + u32 length before each record's bytes */

struct logring {
    uint8_t *buf;
    size_t cap;       /* bytes, headers included */
    size_t head, len; /* oldest record's offset; bytes in use */
    uint64_t dropped; /* output bytes dropped so far (never replayable again) */
    uint64_t total;   /* output bytes ever appended */
};

/* cap is clamped to at least 64 bytes. Returns 0 or -ENOMEM. */
int logring_init(struct logring *r, size_t cap);
void logring_free(struct logring *r);
/* Append n bytes of stream (1 stdout, 2 stderr). Output larger than the ring
 * keeps its last part; older records go first to make room. */
void logring_append(struct logring *r, int stream, const void *data, size_t n);
/* Output bytes held now. */
size_t logring_bytes(const struct logring *r);
/* Call fn for every record, oldest first; a record that wraps comes as two
 * calls with the same stream. Stops (returning it) if fn returns nonzero. */
int logring_each(const struct logring *r, int (*fn)(int stream, const uint8_t *p, size_t n, void *ud),
                 void *ud);
/* Whether needle occurs in the held output (both streams, in order). */
int logring_contains(const struct logring *r, const char *needle, size_t nlen);

#endif
