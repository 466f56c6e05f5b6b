/* log.h - structured logging: one JSON object per line on stderr
 * (journald keeps stderr of a service). Fields are key/value string pairs. */
#ifndef SBX_LOG_H
#define SBX_LOG_H

enum sbx_log_level { SBX_LOG_DEBUG, SBX_LOG_INFO, SBX_LOG_WARN, SBX_LOG_ERROR };

void sbx_log_init(const char *component, enum sbx_log_level min_level);
/* sbx_log(level, "msg", "key1", "value1", "key2", "value2", ..., NULL)
 * Values are strings; use sbx_logf for a printf-formatted message. */
void sbx_log(enum sbx_log_level level, const char *msg, ...);
void sbx_logf(enum sbx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) sbx_logf(SBX_LOG_INFO, __VA_ARGS__)
#define log_warn(...) sbx_logf(SBX_LOG_WARN, __VA_ARGS__)
#define log_error(...) sbx_logf(SBX_LOG_ERROR, __VA_ARGS__)
#define log_debug(...) sbx_logf(SBX_LOG_DEBUG, __VA_ARGS__)

#endif
