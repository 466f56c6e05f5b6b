/* error.c - error struct with errno + message chain. See error.h. */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int ret_for(const sbx_err *err)
{
    return err->errnum > 0 ? -err->errnum : -1;
}

static void vset(sbx_err *err, int errnum, const char *fmt, va_list ap)
{
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof(err->msg)) n = sizeof(err->msg) - 1;
    if (errnum > 0) snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    err->errnum = errnum;
}

int sbx_error(sbx_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, errnum, fmt, ap);
    va_end(ap);
    err->kind = SBX_E_INTERNAL;
    err->code = "internal";
    return ret_for(err);
}

int sbx_error_kind(sbx_err *err, enum sbx_err_kind kind, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, 0, fmt, ap);
    va_end(ap);
    err->kind = kind;
    err->code = code;
    return -1;
}

int sbx_error_wrap(sbx_err *err, const char *fmt, ...)
{
    char prefix[256];
    char old[SBX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%.255s: %.*s", prefix, (int)(sizeof(err->msg) - 258), old);
    return ret_for(err);
}

void sbx_error_clear(sbx_err *err)
{
    err->errnum = 0;
    err->kind = SBX_E_INTERNAL;
    err->code = NULL;
    err->msg[0] = '\0';
}
