/* log.c - JSON-lines logging to stderr. Never allocates, never exits. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *g_component = "sbx";
static enum sbx_log_level g_min = SBX_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sbx_log_init(const char *component, enum sbx_log_level min_level)
{
    g_component = component;
    g_min = min_level;
}

/* Append s to buf as JSON string contents (escaped). */
static size_t esc(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

static size_t prefix(char *buf, size_t cap, enum sbx_log_level level)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    return (size_t)snprintf(buf, cap,
                            "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"level\":\"%s\","
                            "\"component\":\"%s\",\"msg\":\"",
                            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                            tm.tm_sec, ts.tv_nsec / 1000, level_names[level], g_component);
}

static void emit(char *buf, size_t pos, size_t cap)
{
    if (pos + 3 > cap) pos = cap - 3;
    buf[pos++] = '}';
    buf[pos++] = '\n';
    ssize_t r = write(STDERR_FILENO, buf, pos);
    (void)r;
}

void sbx_log(enum sbx_log_level level, const char *msg, ...)
{
    if (level < g_min) return;
    char buf[4096];
    size_t pos = prefix(buf, sizeof(buf), level);
    pos = esc(buf, pos, sizeof(buf), msg);
    buf[pos++] = '"';
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (pos + 8 >= sizeof(buf)) break;
        buf[pos++] = ',';
        buf[pos++] = '"';
        pos = esc(buf, pos, sizeof(buf), k);
        buf[pos++] = '"';
        buf[pos++] = ':';
        buf[pos++] = '"';
        pos = esc(buf, pos, sizeof(buf), v ? v : "");
        if (pos + 4 < sizeof(buf)) buf[pos++] = '"';
    }
    va_end(ap);
    emit(buf, pos, sizeof(buf));
}

void sbx_logf(enum sbx_log_level level, const char *fmt, ...)
{
    if (level < g_min) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sbx_log(level, msg, NULL);
}
