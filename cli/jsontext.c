/* jsontext.c - strict JSON text with line/column errors. See jsontext.h. */
#include "jsontext.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WS " \t\r\n"

void json_text_position(const char *buf, size_t len, size_t off, int *line, int *column)
{
    int l = 1;
    size_t start = 0;
    if (off > len) off = len;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *column = (int)(off - start) + 1;
}

static int text_error(const char *buf, size_t len, size_t off, sbx_err *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int text_error(const char *buf, size_t len, size_t off, sbx_err *err, const char *fmt, ...)
{
    char what[512];
    int line, column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    json_text_position(buf, len, off, &line, &column);
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_json", "line %d, column %d: %s", line,
                          column, what);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A number per RFC 8259 at buf[i]: -? (0|[1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
 * Returns the offset just past it, or the offset of the first bad byte with
 * *bad set. */
static size_t scan_number(const char *buf, size_t len, size_t i, bool *bad)
{
    *bad = true;
    if (i < len && buf[i] == '-') i++;
    if (i >= len || !is_digit(buf[i])) return i;
    if (buf[i] == '0') {
        i++;
        if (i < len && is_digit(buf[i])) return i; /* leading zero */
    } else {
        while (i < len && is_digit(buf[i]))
            i++;
    }
    if (i < len && buf[i] == '.') {
        i++;
        if (i >= len || !is_digit(buf[i])) return i;
        while (i < len && is_digit(buf[i]))
            i++;
    }
    if (i < len && (buf[i] == 'e' || buf[i] == 'E')) {
        i++;
        if (i < len && (buf[i] == '+' || buf[i] == '-')) i++;
        if (i >= len || !is_digit(buf[i])) return i;
        while (i < len && is_digit(buf[i]))
            i++;
    }
    *bad = false;
    return i;
}

/* The tokens of buf[0..len) that json-c lets through but RFC 8259 does not
 * have: single quotes, bare words (NaN, Infinity, True), malformed numbers
 * ("1.", "01"), raw control bytes in strings, NUL. Structure is json-c's
 * business. Returns 0, or -1 with err set. */
static int lexical_check(const char *buf, size_t len, sbx_err *err)
{
    size_t i = 0;
    while (i < len) {
        char c = buf[i];
        if (c == '"') {
            for (i++; i < len && buf[i] != '"'; i++) {
                unsigned char s = (unsigned char)buf[i];
                if (s == '\\') {
                    i++;
                } else if (s < 0x20) {
                    return text_error(buf, len, i, err,
                                      "control character 0x%02x in a string (write it as an "
                                      "escape: \\n, \\t, \\u00%02x)",
                                      s, s);
                }
            }
            i++;
        } else if (c == '-' || is_digit(c)) {
            bool bad;
            size_t end = scan_number(buf, len, i, &bad);
            if (bad) return text_error(buf, len, end, err, "invalid number");
            i = end;
        } else if (is_alpha(c)) {
            size_t n = 0;
            while (i + n < len &&
                   (is_alpha(buf[i + n]) || is_digit(buf[i + n]) || buf[i + n] == '_'))
                n++;
            if (!((n == 4 && memcmp(buf + i, "true", 4) == 0) ||
                  (n == 5 && memcmp(buf + i, "false", 5) == 0) ||
                  (n == 4 && memcmp(buf + i, "null", 4) == 0)))
                return text_error(buf, len, i, err,
                                  "\"%.*s\" is not a JSON value (expected true, false, null, a "
                                  "number or a \"string\")",
                                  (int)(n > 40 ? 40 : n), buf + i);
            i += n;
        } else if (c == '\'') {
            return text_error(buf, len, i, err,
                              "single quote: JSON strings take double quotes (\"...\")");
        } else if (c == '\0') {
            return text_error(buf, len, i, err, "NUL byte");
        } else if (!strchr("{}[],:" WS, c)) {
            if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                return text_error(buf, len, i, err, "unexpected character '%c'", c);
            return text_error(buf, len, i, err, "unexpected byte 0x%02x",
                              (unsigned)(unsigned char)c);
        } else {
            i++;
        }
    }
    return 0;
}

/* Where a lenient json-c parse completes a value, whitespace after it
 * skipped; len when it does not. */
static size_t lax_value_end(const char *buf, size_t len)
{
    size_t end = len;
    json_tokener *lax = json_tokener_new();
    if (!lax) return len;
    json_object *o = json_tokener_parse_ex(lax, buf, (int)len);
    if (o && json_tokener_get_error(lax) == json_tokener_success) {
        end = json_tokener_get_parse_end(lax);
        while (end < len && buf[end] && strchr(WS, buf[end]))
            end++;
    }
    json_object_put(o);
    json_tokener_free(lax);
    return end;
}

int json_text_parse(const char *buf, size_t len, json_object **out, sbx_err *err)
{
    *out = NULL;
    size_t first = 0;
    while (first < len && buf[first] && strchr(WS, buf[first]))
        first++;
    if (first == len) return text_error(buf, len, len, err, "no JSON value (empty input)");
    if (len > (size_t)INT32_MAX) return sbx_error(err, EFBIG, "JSON text too large");

    json_tokener *tok = json_tokener_new();
    if (!tok) return sbx_error(err, ENOMEM, "json");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* A top-level number ends only where something follows it. */
        o = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);

    if (jerr != json_tokener_success && jerr != json_tokener_continue) {
        /* Strict mode stops at trailing data without saying so: if a lenient
         * parse completes a value before that point, that is what went wrong. */
        size_t vend = lax_value_end(buf, len);
        if (vend < len && vend <= end) {
            if (lexical_check(buf, vend, err) < 0) return -1;
            return text_error(buf, len, vend, err, "unexpected data after the JSON value");
        }
        /* The first error in the text wins: a lexical one up to where json-c
         * stopped (the byte it stopped at included: it may explain better). */
        if (lexical_check(buf, end < len ? end + 1 : len, err) < 0) return -1;
        return text_error(buf, len, end, err, "invalid JSON: %s", json_tokener_error_desc(jerr));
    }
    if (lexical_check(buf, end < len ? end : len, err) < 0) {
        json_object_put(o);
        return -1;
    }
    if (jerr == json_tokener_continue) {
        json_object_put(o);
        return text_error(buf, len, len, err,
                          "unexpected end of input (an object, array or string is not closed)");
    }
    while (end < len && buf[end] && strchr(WS, buf[end]))
        end++;
    if (end < len) {
        json_object_put(o);
        return text_error(buf, len, end, err, "unexpected data after the JSON value");
    }
    *out = o; /* NULL for the text "null" */
    return 0;
}
