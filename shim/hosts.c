/* hosts.c - /etc/hosts-format static resolver table. See hosts.h. */
#include "hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "policy.h"

static int add(struct hosts *h, const char *name, const struct sockaddr_storage *ss)
{
    if (h->n == h->cap) {
        size_t n = h->cap ? h->cap * 2 : 16;
        struct hosts_entry *e = realloc(h->e, n * sizeof(*e));
        if (!e) return -1;
        h->e = e;
        h->cap = n;
    }
    char *copy = strdup(name);
    if (!copy) return -1;
    h->e[h->n].name = copy;
    h->e[h->n].addr = *ss;
    h->n++;
    return 0;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

int hosts_parse(struct hosts *h, const char *text, sbx_err *err)
{
    _cleanup_free_ char *copy = strdup(text);
    if (!copy) return sbx_error(err, ENOMEM, "hosts");
    int lineno = 0;
    char *save = NULL;
    for (char *line = copy; line; line = save) {
        lineno++;
        save = strchr(line, '\n');
        if (save) *save++ = '\0';
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *tok_save = NULL;
        char *addr = strtok_r(line, " \t\r", &tok_save);
        if (!addr) continue;
        struct sockaddr_storage ss;
        if (parse_addr(addr, &ss) < 0)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_hosts",
                                  "line %d: \"%s\" is not an IP address", lineno, addr);
        int names = 0;
        for (char *name; (name = strtok_r(NULL, " \t\r", &tok_save)); names++) {
            char norm[POLICY_NAME_MAX + 1];
            if (policy_normalize_host(name, norm, sizeof(norm)) < 0)
                return sbx_error_kind(err, SBX_E_INVALID, "invalid_hosts",
                                      "line %d: \"%s\" is not a valid host name", lineno, name);
            if (add(h, norm, &ss) < 0) return sbx_error(err, ENOMEM, "hosts");
        }
        if (!names)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_hosts", "line %d: no host name",
                                  lineno);
    }
    return 0;
}

int hosts_load(struct hosts *h, const char *path, sbx_err *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f) return sbx_error(err, errno, "open %s", path);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    if (ferror(f)) return sbx_error(err, EIO, "read %s", path);
    if (!feof(f)) return sbx_error(err, EFBIG, "%s: larger than 64 KiB", path);
    buf[n] = '\0';
    if (hosts_parse(h, buf, err) < 0) return sbx_error_wrap(err, "%s", path);
    return 0;
}

int hosts_lookup(const struct hosts *h, const char *name, struct sockaddr_storage *out, int max)
{
    int k = 0;
    for (size_t i = 0; i < h->n && k < max; i++)
        if (strcmp(h->e[i].name, name) == 0) out[k++] = h->e[i].addr;
    return k;
}

void hosts_free(struct hosts *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->e[i].name);
    free(h->e);
    memset(h, 0, sizeof(*h));
}
