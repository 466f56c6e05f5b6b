/* Unit tests: a process's output ring (supervisor/logring.c). */
#include <stdlib.h>

#include "logring.h"
#include "unit.h"

struct collect {
    char out[4096];
    size_t n;
    int streams[64];
    int nrec;
};

static int collect(int stream, const uint8_t *p, size_t n, void *ud)
{
    struct collect *c = ud;
    memcpy(c->out + c->n, p, n);
    c->n += n;
    if (c->nrec < 64) c->streams[c->nrec++] = stream;
    return 0;
}

static void test_replays_records_in_order_with_their_streams(void)
{
    struct logring r;
    CHECK(logring_init(&r, 1024) == 0);
    logring_append(&r, 1, "hello ", 6);
    logring_append(&r, 2, "oops ", 5);
    logring_append(&r, 1, "world", 5);
    struct collect c = {0};
    logring_each(&r, collect, &c);
    c.out[c.n] = '\0';
    CHECK_STR(c.out, "hello oops world");
    CHECK(c.nrec == 3 && c.streams[0] == 1 && c.streams[1] == 2 && c.streams[2] == 1);
    CHECK(r.dropped == 0 && logring_bytes(&r) == 16);
    logring_free(&r);
}

static void test_full_ring_drops_oldest_whole_records_and_counts_them(void)
{
    struct logring r;
    CHECK(logring_init(&r, 64) == 0);
    char line[16];
    for (int i = 0; i < 40; i++) { /* 5 + 10 bytes each: 4 fit in 64 */
        snprintf(line, sizeof(line), "line-%04d\n", i);
        logring_append(&r, 1, line, 10);
    }
    struct collect c = {0};
    logring_each(&r, collect, &c);
    c.out[c.n] = '\0';
    CHECK_STR(c.out, "line-0036\nline-0037\nline-0038\nline-0039\n");
    CHECK(r.total == 400 && r.dropped == 360 && logring_bytes(&r) == 40);
    CHECK(r.len <= r.cap);
    logring_free(&r);
}

static void test_record_larger_than_ring_keeps_its_tail(void)
{
    struct logring r;
    CHECK(logring_init(&r, 64) == 0);
    logring_append(&r, 1, "old", 3);
    char big[200];
    for (int i = 0; i < 200; i++) big[i] = (char)('a' + i % 26);
    logring_append(&r, 2, big, sizeof(big));
    struct collect c = {0};
    logring_each(&r, collect, &c);
    CHECK(c.n == 64 - LOGRING_HDR);
    CHECK(memcmp(c.out, big + 200 - c.n, c.n) == 0);
    CHECK(r.dropped == 3 + 200 - c.n);
    logring_free(&r);
}

/* Records that wrap around the end of the array come back whole and in
 * order, and a search finds text that spans the wrap and two records. */
static void test_wrapped_records_replay_and_search_across_boundaries(void)
{
    struct logring r;
    CHECK(logring_init(&r, 100) == 0);
    for (int i = 0; i < 1000; i++) {
        char s[8];
        int n = snprintf(s, sizeof(s), "%d,", i % 97);
        logring_append(&r, 1 + (i & 1), s, (size_t)n);
    }
    struct collect c = {0};
    logring_each(&r, collect, &c);
    c.out[c.n] = '\0';
    CHECK(c.n == logring_bytes(&r));
    CHECK(r.total == r.dropped + c.n);
    /* the last numbers written: 999 % 97 = 29 */
    CHECK(c.n >= 3 && strcmp(c.out + c.n - 3, "29,") == 0);
    CHECK(logring_contains(&r, "28,29,", 6));
    CHECK(!logring_contains(&r, "29,28,", 6));
    CHECK(logring_contains(&r, "", 0));
    logring_free(&r);
}

/* Reads larger than the ring's eighth are kept as several records, so the
 * newest output fills the ring whatever the sizes of the reads: a 16 KiB
 * ring fed 10 KiB reads keeps far more than the last read. */
static void test_big_reads_still_leave_the_ring_nearly_full(void)
{
    struct logring r;
    CHECK(logring_init(&r, 16384) == 0);
    static char buf[10240];
    for (int i = 0; i < 50; i++) {
        memset(buf, 'a' + i % 26, sizeof(buf));
        logring_append(&r, 1, buf, sizeof(buf));
    }
    CHECK(logring_bytes(&r) >= 16384 - 4096 - 8 * LOGRING_HDR);
    CHECK(r.total == r.dropped + logring_bytes(&r) && r.len <= r.cap);
    logring_free(&r);
}

int main(void)
{
    RUN(test_replays_records_in_order_with_their_streams);
    RUN(test_full_ring_drops_oldest_whole_records_and_counts_them);
    RUN(test_record_larger_than_ring_keeps_its_tail);
    RUN(test_wrapped_records_replay_and_search_across_boundaries);
    RUN(test_big_reads_still_leave_the_ring_nearly_full);
    UNIT_MAIN_END();
}
