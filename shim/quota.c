/* quota.c - per-session quota counters. See quota.h. */
#include "quota.h"

#include <stdio.h>

uint32_t rate_count(const struct rate_window *w, int64_t now)
{
    uint32_t n = 0;
    for (int i = 0; i < QUOTA_WINDOW_S; i++)
        if (w->count[i] && w->sec[i] <= now && now - w->sec[i] < QUOTA_WINDOW_S) n += w->count[i];
    return n;
}

void rate_add(struct rate_window *w, int64_t now)
{
    int i = (int)(((now % QUOTA_WINDOW_S) + QUOTA_WINDOW_S) % QUOTA_WINDOW_S);
    if (w->sec[i] != now) {
        w->sec[i] = now;
        w->count[i] = 0;
    }
    w->count[i]++;
}

static const char *over_rate(const struct rate_window *w, uint32_t limit, int64_t now,
                             const char *what, char *buf, size_t cap)
{
    if (limit && rate_count(w, now) >= limit) {
        snprintf(buf, cap, "quota exceeded: %s (%u per minute)", what, limit);
        return buf;
    }
    return NULL;
}

static const char *over_bytes(const struct quota_state *q, const struct policy_quotas *lim,
                              char *buf, size_t cap)
{
    if (lim->bytes_out && q->bytes_out >= lim->bytes_out) {
        snprintf(buf, cap, "quota exceeded: bytes_out (%llu bytes)",
                 (unsigned long long)lim->bytes_out);
        return buf;
    }
    return NULL;
}

const char *quota_admit_conn(struct quota_state *q, const struct policy_quotas *lim, int64_t now,
                             char *buf, size_t cap)
{
    const char *r;
    if (lim->connections && q->open >= lim->connections) {
        snprintf(buf, cap, "quota exceeded: connections (%u open at once)", lim->connections);
        return buf;
    }
    if ((r = over_rate(&q->conns, lim->connections_per_minute, now, "connections_per_minute", buf,
                       cap)))
        return r;
    if ((r = over_rate(&q->reqs, lim->requests_per_minute, now, "requests_per_minute", buf, cap)))
        return r;
    if ((r = over_bytes(q, lim, buf, cap))) return r;
    q->open++;
    rate_add(&q->conns, now);
    rate_add(&q->reqs, now);
    return NULL;
}

const char *quota_admit_request(struct quota_state *q, const struct policy_quotas *lim, int64_t now,
                                char *buf, size_t cap)
{
    const char *r =
        over_rate(&q->reqs, lim->requests_per_minute, now, "requests_per_minute", buf, cap);
    if (r) return r;
    rate_add(&q->reqs, now);
    return NULL;
}

void quota_release_conn(struct quota_state *q)
{
    if (q->open) q->open--;
}

uint64_t quota_bytes_left(const struct quota_state *q, const struct policy_quotas *lim)
{
    if (!lim->bytes_out) return UINT64_MAX;
    return q->bytes_out >= lim->bytes_out ? 0 : lim->bytes_out - q->bytes_out;
}

void quota_add_bytes_out(struct quota_state *q, uint64_t n)
{
    q->bytes_out += n;
}
