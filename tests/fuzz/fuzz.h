/* fuzz.h - what the libFuzzer targets in tests/fuzz/ share (README "Fuzzing").
 *
 * Every target feeds a stream parser twice: the whole input at once, and the
 * same bytes cut into pieces the way a socket may deliver them. The cuts come
 * from a hash of the input, so a corpus file stays a plain, readable message
 * and every mutation also moves the cuts. Both runs must agree: a parser whose
 * result depends on where reads happen to end is a bug too. */
#ifndef SBX_FUZZ_H
#define SBX_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fuzz_cuts {
    uint64_t s;
};

static inline void fuzz_cuts_init(struct fuzz_cuts *c, const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ULL;
    c->s = h | 1;
}

/* The length of the next piece (1..left): mostly short, sometimes long. */
static inline size_t fuzz_cuts_next(struct fuzz_cuts *c, size_t left)
{
    c->s ^= c->s << 13;
    c->s ^= c->s >> 7;
    c->s ^= c->s << 17;
    size_t k =
        (c->s >> 8) & 3 ? 1 + (size_t)((c->s >> 16) % 16) : 1 + (size_t)((c->s >> 16) % 4096);
    return k < left ? k : left;
}

/* A broken invariant: say which and abort, so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
