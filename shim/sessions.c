/* sessions.c - session table. See sessions.h. */
#include "sessions.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "proxy.h"
#include "shim.h"

#define NBUCKETS 1024

static struct session *g_buckets[NBUCKETS];
static struct session *g_all;
static int g_count;

static unsigned bucket(uint32_t addr)
{
    uint32_t a = ntohl(addr);
    return (a ^ (a >> 10) ^ (a >> 20)) % NBUCKETS;
}

struct session *session_by_addr(uint32_t addr)
{
    for (struct session *s = g_buckets[bucket(addr)]; s; s = s->hnext)
        if (s->addr == addr) return s;
    return NULL;
}

struct session *session_by_id(const char *id)
{
    for (struct session *s = g_all; s; s = s->next)
        if (strcmp(s->id, id) == 0) return s;
    return NULL;
}

int session_count(void)
{
    return g_count;
}

static void take_secrets(struct session *s, struct secret_set *secrets)
{
    if (!secrets) return;
    secrets_free(&s->secrets);
    s->secrets = *secrets;
    memset(secrets, 0, sizeof(*secrets));
}

int session_put(const char *id, uint32_t addr, struct json_object *labels, struct policy *pol,
                struct secret_set *secrets, sbx_err *err)
{
    struct session *s = session_by_id(id);
    if (s) {
        if (s->addr != addr) {
            json_object_put(labels);
            policy_destroy(pol);
            return sbx_error_kind(err, SBX_E_CONFLICT, "conflict",
                                  "session %s has address %s, not another", id, s->addr_str);
        }
        policy_destroy(s->pol); /* the swap: connections decide with s->pol at each decision */
        s->pol = pol;
        json_object_put(s->labels);
        s->labels = labels;
        take_secrets(s, secrets);
        return 0;
    }
    struct session *other = session_by_addr(addr);
    if (other) {
        json_object_put(labels);
        policy_destroy(pol);
        return sbx_error_kind(err, SBX_E_CONFLICT, "conflict", "address belongs to session %s",
                              other->id);
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        json_object_put(labels);
        policy_destroy(pol);
        return sbx_error(err, ENOMEM, "session");
    }
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->addr = addr;
    inet_ntop(AF_INET, &addr, s->addr_str, sizeof(s->addr_str));
    s->labels = labels;
    s->pol = pol;
    take_secrets(s, secrets);
    uint32_t start = 0;
    if (getrandom(&start, sizeof(start), GRND_NONBLOCK) != sizeof(start))
        start = (uint32_t)(shim_now() * 1e6) ^ addr;
    fakenet_init(&s->fake, g_cfg.fake_base, g_cfg.fake_prefix, FAKENET_DEFAULT_CAP, start);
    unsigned b = bucket(addr);
    s->hnext = g_buckets[b];
    g_buckets[b] = s;
    s->next = g_all;
    g_all = s;
    g_count++;
    return 0;
}

void session_remove(struct session *s)
{
    proxy_close_session(s);
    for (struct session **pp = &g_buckets[bucket(s->addr)]; *pp; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    for (struct session **pp = &g_all; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    g_count--;
    fakenet_free(&s->fake);
    json_object_put(s->labels);
    policy_destroy(s->pol);
    secrets_free(&s->secrets); /* wiped */
    free(s);
}
