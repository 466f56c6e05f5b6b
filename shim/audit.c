/* audit.c - egress audit lines. See audit.h for the fields and choices. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int g_fd = -1;
static unsigned g_failures;

void audit_init(int fd)
{
    g_fd = fd;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_APPEND)) fcntl(fd, F_SETFL, fl | O_APPEND);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_int(struct json_object *o, const char *k, int64_t v, int present)
{
    json_object_object_add(o, k, present ? json_object_new_int64(v) : NULL);
}

char *audit_format(const struct audit_rec *r)
{
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);

    struct json_object *o = json_object_new_object();
    if (!o) return NULL;
    add_str(o, "time", when);
    add_str(o, "event", r->event);
    add_int(o, "conn", (int64_t)r->conn, r->conn != 0);
    add_str(o, "session", r->session);
    json_object_object_add(o, "labels",
                           r->session && r->labels ? json_object_get(r->labels) : NULL);
    add_str(o, "proto", r->proto);
    add_str(o, "src", r->src);
    add_str(o, "requested_host",
            r->requested_host && r->requested_host[0] ? r->requested_host : NULL);
    add_int(o, "port", r->port, r->port >= 0);
    add_str(o, "dst_addr", r->dst_addr);
    add_str(o, "resolved_addr", r->resolved_addr && r->resolved_addr[0] ? r->resolved_addr : NULL);
    add_str(o, "qtype", r->qtype);
    add_str(o, "answer", r->answer);
    add_str(o, "method", r->method);
    add_str(o, "path", r->path);
    add_str(o, "decision", r->decision);
    add_str(o, "reason", r->reason);
    add_str(o, "rule", r->rule);
    struct json_object *sec = NULL; /* "A,B" -> ["A","B"] */
    if (r->secrets && r->secrets[0]) {
        sec = json_object_new_array();
        for (const char *p = r->secrets; *p;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            json_object_array_add(sec, json_object_new_string_len(p, (int)n));
            p += n + (e ? 1 : 0);
        }
    }
    json_object_object_add(o, "secrets", sec);
    add_int(o, "status", r->status, r->status > 0);
    add_int(o, "bytes_in", r->bytes_in, r->bytes_in >= 0);
    add_int(o, "bytes_out", r->bytes_out, r->bytes_out >= 0);
    add_int(o, "duration_ms", r->duration_ms, r->duration_ms >= 0);
    json_object_object_add(o, "enforce_would_deny",
                           json_object_new_boolean(r->decision && !strcmp(r->decision, "report")));
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *line = s ? strdup(s) : NULL;
    json_object_put(o);
    return line;
}

void audit_write(const struct audit_rec *r)
{
    char *line = audit_format(r);
    if (!line) {
        log_error("audit: out of memory formatting a line");
        return;
    }
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: written by length */
    ssize_t w = g_fd >= 0 ? write(g_fd, line, n + 1) : (ssize_t)(n + 1);
    if (w != (ssize_t)(n + 1)) {
        /* a short write or a full disk: say so now and then, never stop serving */
        if (g_failures++ % 1000 == 0)
            sbx_log(SBX_LOG_ERROR, "audit: write failed", "error",
                    w < 0 ? strerror(errno) : "short write", NULL);
    }
    free(line);
}
