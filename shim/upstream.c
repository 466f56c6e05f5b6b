/* upstream.c - see upstream.h. */
#include "upstream.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "shim.h"

#define CONNECT_TIMEOUT_MS 10000

struct upstream {
    CURL *easy;
    int in_multi;
    char host[256];
    uint16_t port;
    struct sockaddr_storage addrs[16];
    int n, i;
    char addr[INET6_ADDRSTRLEN];
    struct curl_slist *connect_to;
    char errbuf[CURL_ERROR_SIZE];
    upstream_cb cb;
    void *arg;
    int done; /* connected (or failed and reported) */
    curl_socket_t fd;
};

/* one per socket curl wants watched */
struct sock_watch {
    struct event *ev;
};

static CURLM *g_multi;
static struct event *g_timer;
static char *g_ca_file;
static char *g_ca_pem;
static size_t g_ca_pem_len;

static void check_done(void);

static void sock_cb_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)arg;
    int flags =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(g_multi, fd, flags, &running);
    check_done();
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    (void)userp;
    struct sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(g_multi, s, NULL);
        }
        return 0;
    }
    short ev = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
               ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w) return -1;
        curl_multi_assign(g_multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(g_base, s, ev, sock_cb_ev, NULL);
    if (!w->ev) return -1;
    event_add(w->ev, NULL);
    return 0;
}

static void timer_cb_ev(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    int running;
    curl_multi_socket_action(g_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    (void)userp;
    if (timeout_ms < 0) {
        evtimer_del(g_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(g_timer, &tv);
    return 0;
}

int upstream_init(const char *ca_file, sbx_err *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return sbx_error(err, EIO, "curl_global_init");
    g_multi = curl_multi_init();
    g_timer = evtimer_new(g_base, timer_cb_ev, NULL);
    if (!g_multi || !g_timer) return sbx_error(err, ENOMEM, "libcurl");
    curl_multi_setopt(g_multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(g_multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    if (ca_file && !(g_ca_file = strdup(ca_file))) return sbx_error(err, ENOMEM, "libcurl");
    return 0;
}

int upstream_set_ca_pem(const char *pem, size_t len, sbx_err *err)
{
    char *copy = malloc(len + 1);
    if (!copy) return sbx_error(err, ENOMEM, "upstream CA");
    memcpy(copy, pem, len);
    copy[len] = '\0';
    free(g_ca_pem);
    g_ca_pem = copy;
    g_ca_pem_len = len;
    return 0;
}

void upstream_shutdown(void)
{
    if (g_multi) curl_multi_cleanup(g_multi);
    if (g_timer) event_free(g_timer);
    free(g_ca_file);
    free(g_ca_pem);
    g_ca_pem = NULL;
    g_multi = NULL;
    g_timer = NULL;
    g_ca_file = NULL;
    curl_global_cleanup();
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family) return 0;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

/* The one socket curl opens: only to the address checked for this attempt. */
static curl_socket_t open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct upstream *u = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN || u->i >= u->n || !same_addr(&a->addr, &u->addrs[u->i])) {
        sbx_log(SBX_LOG_WARN, "upstream: libcurl asked for an unchecked address; refused", "host",
                u->host, NULL);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int attempt(struct upstream *u)
{
    if (u->easy) {
        if (u->in_multi) curl_multi_remove_handle(g_multi, u->easy);
        curl_easy_cleanup(u->easy);
        u->in_multi = 0;
    }
    curl_slist_free_all(u->connect_to);
    u->connect_to = NULL;
    u->easy = curl_easy_init();
    if (!u->easy) return -1;
    addr_to_str((const struct sockaddr *)&u->addrs[u->i], u->addr, sizeof(u->addr));
    char url[320], ct[400];
    snprintf(url, sizeof(url), "https://%s:%u/", u->host, u->port);
    int v6 = u->addrs[u->i].ss_family == AF_INET6;
    snprintf(ct, sizeof(ct), "%s:%u:%s%s%s:%u", u->host, u->port, v6 ? "[" : "", u->addr,
             v6 ? "]" : "", u->port);
    u->connect_to = curl_slist_append(NULL, ct);
    if (!u->connect_to) return -1;
    CURL *e = u->easy;
    u->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, u->connect_to);
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_ENABLE_ALPN, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, u);
    curl_easy_setopt(e, CURLOPT_PRIVATE, u);
    if (g_ca_pem) {
        struct curl_blob blob = {g_ca_pem, g_ca_pem_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    } else if (g_ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, g_ca_file);
    }
    if (curl_multi_add_handle(g_multi, e) != CURLM_OK) return -1;
    u->in_multi = 1;
    return 0;
}

static void finish(struct upstream *u, CURLcode rc)
{
    if (rc == CURLE_OK) {
        curl_socket_t s = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(u->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
            s == CURL_SOCKET_BAD) {
            u->done = 1;
            u->cb(u->arg, "libcurl connected without a socket", 0);
            return;
        }
        u->fd = s;
        u->done = 1;
        u->cb(u->arg, NULL, 0);
        return;
    }
    int verify = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                 rc == CURLE_SSL_ISSUER_ERROR;
    int connect_failed = rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT;
    if (connect_failed && u->i + 1 < u->n) {
        u->i++;
        if (attempt(u) == 0) return;
    }
    char why[CURL_ERROR_SIZE + 160];
    if (verify)
        snprintf(why, sizeof(why), "the certificate of %s (%s) is not trusted: %s", u->host,
                 u->addr, u->errbuf[0] ? u->errbuf : curl_easy_strerror(rc));
    else
        snprintf(why, sizeof(why), "cannot connect to %s (%s): %s", u->host, u->addr,
                 u->errbuf[0] ? u->errbuf : curl_easy_strerror(rc));
    u->done = 1;
    u->cb(u->arg, why, verify);
}

static void check_done(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(g_multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct upstream *u = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&u);
        if (!u || u->done) continue;
        finish(u, m->data.result);
    }
}

struct upstream *upstream_connect(const char *host, uint16_t port,
                                  const struct sockaddr_storage *addrs, int n, upstream_cb cb,
                                  void *arg)
{
    struct upstream *u = calloc(1, sizeof(*u));
    if (!u) return NULL;
    snprintf(u->host, sizeof(u->host), "%s", host);
    u->port = port;
    if (n > (int)(sizeof(u->addrs) / sizeof(u->addrs[0])))
        n = (int)(sizeof(u->addrs) / sizeof(u->addrs[0]));
    memcpy(u->addrs, addrs, (size_t)n * sizeof(*addrs));
    u->n = n;
    u->cb = cb;
    u->arg = arg;
    u->fd = CURL_SOCKET_BAD;
    if (n == 0 || attempt(u) < 0) {
        upstream_free(u);
        return NULL;
    }
    return u;
}

int upstream_fd(const struct upstream *u)
{
    return u->fd == CURL_SOCKET_BAD ? -1 : u->fd;
}

const char *upstream_addr(const struct upstream *u)
{
    return u->addr;
}

ssize_t upstream_send(struct upstream *u, const void *buf, size_t len)
{
    size_t n = 0;
    CURLcode rc = curl_easy_send(u->easy, buf, len, &n);
    if (rc == CURLE_AGAIN) return n ? (ssize_t)n : -EAGAIN;
    if (rc != CURLE_OK) return -EIO;
    return (ssize_t)n;
}

ssize_t upstream_recv(struct upstream *u, void *buf, size_t len)
{
    size_t n = 0;
    CURLcode rc = curl_easy_recv(u->easy, buf, len, &n);
    if (rc == CURLE_AGAIN) return -EAGAIN;
    if (rc != CURLE_OK) return -EIO;
    return (ssize_t)n;
}

void upstream_free(struct upstream *u)
{
    if (!u) return;
    if (u->easy) {
        if (u->in_multi) curl_multi_remove_handle(g_multi, u->easy);
        curl_easy_cleanup(u->easy);
    }
    curl_slist_free_all(u->connect_to);
    free(u);
}
