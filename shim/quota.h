/* quota.h - a session's quotas (policy.h struct policy_quotas) as counters.
 *
 *   connections             open at once: taken when a connection is admitted,
 *                           given back when it closes (quota_release_conn)
 *   connections_per_minute  connections admitted in the last 60 s
 *   requests_per_minute     DNS queries + connections + HTTP requests admitted
 *                           in the last 60 s
 *   bytes_out               sandbox -> internet bytes over the session's life
 *
 * Per-minute counts are a sliding window of 60 one-second buckets. Something
 * refused for quota is not counted (a sandbox that backs off gets service
 * again within a minute). Pure logic: time is passed in. */
#ifndef SBX_SHIM_QUOTA_H
#define SBX_SHIM_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define QUOTA_WINDOW_S 60

struct rate_window {
    uint32_t count[QUOTA_WINDOW_S];
    int64_t sec[QUOTA_WINDOW_S]; /* the second each bucket counts */
};

struct quota_state {
    struct rate_window conns, reqs;
    uint32_t open;
    uint64_t bytes_out;
};

/* Events in the window ending at second now. */
uint32_t rate_count(const struct rate_window *w, int64_t now);
void rate_add(struct rate_window *w, int64_t now);

/* Admit one connection (counts as a connection and a request). NULL when
 * admitted, else the reason ("quota exceeded: ...", written into buf). */
const char *quota_admit_conn(struct quota_state *q, const struct policy_quotas *lim, int64_t now,
                             char *buf, size_t cap);
/* Admit one request (a DNS query or an HTTP request). */
const char *quota_admit_request(struct quota_state *q, const struct policy_quotas *lim, int64_t now,
                                char *buf, size_t cap);
void quota_release_conn(struct quota_state *q);
/* Bytes the session may still send upstream (UINT64_MAX: no limit). */
uint64_t quota_bytes_left(const struct quota_state *q, const struct policy_quotas *lim);
void quota_add_bytes_out(struct quota_state *q, uint64_t n);

#endif
