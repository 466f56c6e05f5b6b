/* logring.c - see logring.h. Records are laid out back to back in a circular
 * byte array; a record may wrap around its end. */
#include "logring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LOGRING_MIN 64

int logring_init(struct logring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    if (cap < LOGRING_MIN) cap = LOGRING_MIN;
    r->buf = malloc(cap);
    if (!r->buf) return -ENOMEM;
    r->cap = cap;
    return 0;
}

void logring_free(struct logring *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void put(struct logring *r, size_t off, const void *p, size_t n)
{
    off %= r->cap;
    size_t first = r->cap - off < n ? r->cap - off : n;
    memcpy(r->buf + off, p, first);
    if (n > first) memcpy(r->buf, (const uint8_t *)p + first, n - first);
}

static void get(const struct logring *r, size_t off, void *p, size_t n)
{
    off %= r->cap;
    size_t first = r->cap - off < n ? r->cap - off : n;
    memcpy(p, r->buf + off, first);
    if (n > first) memcpy((uint8_t *)p + first, r->buf, n - first);
}

static uint32_t rec_len(const struct logring *r, size_t off)
{
    uint8_t h[LOGRING_HDR];
    get(r, off, h, LOGRING_HDR);
    return (uint32_t)h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 | (uint32_t)h[4] << 24;
}

static void drop_oldest(struct logring *r)
{
    uint32_t n = rec_len(r, r->head);
    r->head = (r->head + LOGRING_HDR + n) % r->cap;
    r->len -= LOGRING_HDR + n;
    r->dropped += n;
}

void logring_append(struct logring *r, int stream, const void *data, size_t n)
{
    if (!r->buf || n == 0) return;
    r->total += n;
    const uint8_t *p = data;
    if (n > r->cap - LOGRING_HDR) { /* only its tail fits */
        size_t skip = n - (r->cap - LOGRING_HDR);
        r->dropped += skip;
        p += skip;
        n -= skip;
    }
    /* Records of at most an eighth of the ring (4 KiB at least): dropping
     * the oldest whole record then never costs more than that, so the ring
     * stays nearly full of the newest output whatever the reads' sizes. */
    size_t most = r->cap / 8 > 4096 ? r->cap / 8 : 4096;
    while (n > 0) {
        size_t take = n < most ? n : most;
        while (r->len + LOGRING_HDR + take > r->cap) drop_oldest(r);
        uint8_t h[LOGRING_HDR] = {(uint8_t)stream, (uint8_t)take, (uint8_t)(take >> 8),
                                  (uint8_t)(take >> 16), (uint8_t)(take >> 24)};
        size_t tail = r->head + r->len;
        put(r, tail, h, LOGRING_HDR);
        put(r, tail + LOGRING_HDR, p, take);
        r->len += LOGRING_HDR + take;
        p += take;
        n -= take;
    }
}

size_t logring_bytes(const struct logring *r)
{
    return (size_t)(r->total - r->dropped);
}

int logring_each(const struct logring *r, int (*fn)(int, const uint8_t *, size_t, void *), void *ud)
{
    size_t off = r->head, left = r->len;
    while (left >= LOGRING_HDR) {
        uint8_t h[LOGRING_HDR];
        get(r, off, h, LOGRING_HDR);
        uint32_t n = rec_len(r, off);
        size_t d = (off + LOGRING_HDR) % r->cap;
        size_t first = r->cap - d < n ? r->cap - d : n;
        int rc = first ? fn(h[0], r->buf + d, first, ud) : 0;
        if (rc == 0 && n > first) rc = fn(h[0], r->buf, n - first, ud);
        if (rc) return rc;
        off = (off + LOGRING_HDR + n) % r->cap;
        left -= LOGRING_HDR + n;
    }
    return 0;
}

struct flat {
    uint8_t *p;
    size_t n;
};

static int flatten(int stream, const uint8_t *p, size_t n, void *ud)
{
    (void)stream;
    struct flat *f = ud;
    memcpy(f->p + f->n, p, n);
    f->n += n;
    return 0;
}

int logring_contains(const struct logring *r, const char *needle, size_t nlen)
{
    if (nlen == 0) return 1;
    struct flat f = {malloc(r->len + 1), 0};
    if (!f.p) return 0;
    logring_each(r, flatten, &f);
    int found = memmem(f.p, f.n, needle, nlen) != NULL;
    free(f.p);
    return found;
}
