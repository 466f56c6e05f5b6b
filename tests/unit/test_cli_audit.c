/* Unit tests: the CLI's audit log reader and strict JSON text (cli/audit.c,
 * cli/jsontext.c): --since parsing, filters, table rows, reading lines. */
#include <stdlib.h>
#include <unistd.h>

#include "../../cli/audit.h"
#include "../../cli/jsontext.h"
#include "unit.h"

#define S INT64_C(1000000)

static void test_duration_units_and_sums(void)
{
    int64_t v;
    CHECK(audit_parse_duration("30s", &v) == 0 && v == 30 * S);
    CHECK(audit_parse_duration("10m", &v) == 0 && v == 600 * S);
    CHECK(audit_parse_duration("2h", &v) == 0 && v == 7200 * S);
    CHECK(audit_parse_duration("1d", &v) == 0 && v == 86400 * S);
    CHECK(audit_parse_duration("1h30m", &v) == 0 && v == 5400 * S);
    CHECK(audit_parse_duration("0s", &v) == 0 && v == 0);
    CHECK(audit_parse_duration("1d2h3m4s", &v) == 0 && v == (86400 + 7200 + 180 + 4) * S);
}

static void test_duration_rejects_bad_input(void)
{
    int64_t v = 42;
    const char *bad[] = {"",
                         "10",
                         "m",
                         "10x",
                         "-5m",
                         " 5m",
                         "5m ",
                         "5 m",
                         "1.5h",
                         "5M",
                         "99999999999999999999s",
                         "9999999999999d",
                         "10mm",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        if (audit_parse_duration(bad[i], &v) == 0)
            fprintf(stderr, "  accepted duration \"%s\"\n", bad[i]);
        CHECK(audit_parse_duration(bad[i], &v) < 0);
    }
    CHECK(audit_parse_duration(NULL, &v) < 0);
    CHECK(v == 42);
}

static void test_time_rfc3339_forms(void)
{
    int64_t v;
    /* 2026-11-25T08:15:21Z = 1795594521 (date -d @1795594521 -u) */
    CHECK(audit_parse_time("2026-11-25T08:15:21Z", &v) == 0 && v == INT64_C(1795594521) * S);
    CHECK(audit_parse_time("2026-11-25T08:15:21.670055Z", &v) == 0 &&
          v == INT64_C(1795594521) * S + 670055);
    CHECK(audit_parse_time("2026-11-25T08:15:21.5Z", &v) == 0 &&
          v == INT64_C(1795594521) * S + 500000);
    CHECK(audit_parse_time("2026-11-25T08:15:21.123456789Z", &v) == 0 &&
          v == INT64_C(1795594521) * S + 123456);
    CHECK(audit_parse_time("2026-11-25t08:15:21z", &v) == 0 && v == INT64_C(1795594521) * S);
    CHECK(audit_parse_time("2026-11-25 08:15:21Z", &v) == 0 && v == INT64_C(1795594521) * S);
    CHECK(audit_parse_time("2026-11-25T10:15:21+02:00", &v) == 0 && v == INT64_C(1795594521) * S);
    CHECK(audit_parse_time("2026-11-25T03:45:21-04:30", &v) == 0 && v == INT64_C(1795594521) * S);
    CHECK(audit_parse_time("2026-11-25", &v) == 0 && v == INT64_C(1795564800) * S);
    CHECK(audit_parse_time("1970-01-01T00:00:00Z", &v) == 0 && v == 0);
    CHECK(audit_parse_time("2024-02-29T00:00:00Z", &v) == 0 && v == INT64_C(1709164800) * S);
    CHECK(audit_parse_time("2000-03-01T00:00:00Z", &v) == 0 && v == INT64_C(951868800) * S);
}

static void test_time_rejects_bad_input(void)
{
    int64_t v;
    const char *bad[] = {"",
                         "2026-11-25T08:15:21",      /* no zone */
                         "2026-11-25T08:15Z",        /* no seconds */
                         "2026-13-01T00:00:00Z",     /* month */
                         "2026-02-29T00:00:00Z",     /* not a leap year */
                         "2100-02-29",               /* nor is 2100 */
                         "2026-11-31",               /* November has 30 days */
                         "2026-11-25T24:00:00Z",     /* hour */
                         "2026-11-25T08:60:00Z",     /* minute */
                         "2026-11-25T08:15:21.Z",    /* empty fraction */
                         "2026-11-25T08:15:21+0200", /* offset without colon */
                         "2026-11-25T08:15:21Zjunk",
                         "26-11-25",
                         "2026-1-25",
                         "yesterday",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        if (audit_parse_time(bad[i], &v) == 0) fprintf(stderr, "  accepted time \"%s\"\n", bad[i]);
        CHECK(audit_parse_time(bad[i], &v) < 0);
    }
    CHECK(audit_parse_time(NULL, &v) < 0);
}

static void test_since_is_a_duration_back_from_now_or_a_time(void)
{
    int64_t v;
    sbx_err err;
    int64_t now = INT64_C(1795594521) * S;
    CHECK(audit_parse_since("10m", now, &v, &err) == 0 && v == now - 600 * S);
    CHECK(audit_parse_since("2026-11-25T08:15:21Z", 0, &v, &err) == 0 && v == now);
    CHECK(audit_parse_since("10 minutes", now, &v, &err) < 0);
    CHECK_CONTAINS(err.msg, "--since: '10 minutes'");
}

static void test_decision_lists(void)
{
    sbx_err err;
    CHECK(audit_check_decisions("allow", &err) == 0);
    CHECK(audit_check_decisions("deny,report", &err) == 0);
    CHECK(audit_check_decisions("allow,deny,report", &err) == 0);
    CHECK(audit_check_decisions("denied", &err) < 0);
    CHECK_CONTAINS(err.msg, "'denied'");
    CHECK(audit_check_decisions("deny,", &err) < 0);
    CHECK(audit_check_decisions("", &err) < 0);
    CHECK(audit_check_decisions("Allow", &err) < 0);
}

#define LINE_A                                                                                     \
    "{\"time\":\"2026-11-25T08:15:21.670055Z\",\"session\":\"aaaaaaaaaaaa\",\"proto\":\"dns\","    \
    "\"requested_host\":\"example.com\",\"port\":53,\"qtype\":\"A\",\"event\":\"query\","          \
    "\"decision\":\"allow\",\"reason\":\"allowed by rule\",\"rule\":\"example.com\"}"
#define LINE_B                                                                                     \
    "{\"time\":\"2026-11-25T08:16:00Z\",\"session\":\"bbbbbbbbbbbb\",\"proto\":\"http\","          \
    "\"requested_host\":\"bad.example.com\",\"port\":80,\"method\":\"GET\",\"path\":\"/x\","       \
    "\"status\":403,\"decision\":\"deny\",\"reason\":\"denied by rule\",\"rule\":null,"            \
    "\"bytes_in\":null,\"bytes_out\":12}"

static enum audit_match match(const struct audit_filter *f, const char *line)
{
    return audit_match_line(f, line, strlen(line), NULL);
}

static void test_match_filters(void)
{
    struct audit_filter none = {0};
    CHECK(match(&none, LINE_A) == AUDIT_SHOW);
    CHECK(match(&none, "  " LINE_A " \r") == AUDIT_SHOW);
    struct audit_filter f = {.session = "aaaaaaaaaaaa"};
    CHECK(match(&f, LINE_A) == AUDIT_SHOW);
    CHECK(match(&f, LINE_B) == AUDIT_HIDE);
    CHECK(match(&f, "{\"session\":null}") == AUDIT_HIDE);
    struct audit_filter d = {.decisions = "deny,report"};
    CHECK(match(&d, LINE_A) == AUDIT_HIDE);
    CHECK(match(&d, LINE_B) == AUDIT_SHOW);
    struct audit_filter t = {.has_since = true};
    CHECK(audit_parse_time("2026-11-25T08:15:22Z", &t.since_us) == 0);
    CHECK(match(&t, LINE_A) == AUDIT_HIDE);
    CHECK(match(&t, LINE_B) == AUDIT_SHOW);
    CHECK(match(&t, "{\"time\":\"yesterday\"}") == AUDIT_MALFORMED); /* no time to compare */
    CHECK(match(&none, "{\"time\":\"yesterday\"}") == AUDIT_SHOW);
}

static void test_match_malformed_and_blank_lines(void)
{
    struct audit_filter none = {0};
    CHECK(match(&none, "") == AUDIT_BLANK);
    CHECK(match(&none, " \t\r") == AUDIT_BLANK);
    CHECK(match(&none, "not json") == AUDIT_MALFORMED);
    CHECK(match(&none, "[1,2]") == AUDIT_MALFORMED);
    CHECK(match(&none, "null") == AUDIT_MALFORMED);
    CHECK(match(&none, "{\"a\":1} {\"b\":2}") == AUDIT_MALFORMED);
    CHECK(match(&none, "{\"a\":1") == AUDIT_MALFORMED);
    /* not NUL-terminated: only len bytes count */
    CHECK(audit_match_line(&none, "{}garbage", 2, NULL) == AUDIT_SHOW);
    json_object *rec = NULL;
    CHECK(audit_match_line(&none, LINE_B, strlen(LINE_B), &rec) == AUDIT_SHOW);
    CHECK(rec && json_object_is_type(rec, json_type_object));
    json_object_put(rec);
}

static char *row_of(const char *line)
{
    json_object *rec = NULL;
    struct audit_filter none = {0};
    if (audit_match_line(&none, line, strlen(line), &rec) != AUDIT_SHOW) return NULL;
    char *row = audit_format_row(rec);
    json_object_put(rec);
    return row;
}

static void test_rows_line_up_with_the_header(void)
{
    char *head = audit_format_header();
    char *a = row_of(LINE_A), *b = row_of(LINE_B);
    CHECK_STR(head, "TIME                         SESSION       PROTO  DECISION  DESTINATION    "
                    "                 REQUEST                   REASON");
    CHECK_STR(a, "2026-11-25T08:15:21.670055Z  aaaaaaaaaaaa  dns    allow     example.com      "
                 "               query A                   allowed by rule [example.com]");
    CHECK_STR(b, "2026-11-25T08:16:00Z         bbbbbbbbbbbb  http   deny      bad.example.com:80 "
                 "             GET /x 403                denied by rule  out=12");
    CHECK(head && a && b && strstr(head, "REASON") - head == strstr(a, "allowed") - a);
    free(head);
    free(a);
    free(b);
}

static void test_rows_escape_control_bytes_and_bracket_ipv6(void)
{
    char *r = row_of("{\"proto\":\"tcp\",\"dst_addr\":\"2001:db8::1\",\"port\":443,"
                     "\"path\":\"/\\u001b[2J\",\"reason\":\"x\\ny\",\"duration_ms\":5}");
    CHECK_CONTAINS(r, "[2001:db8::1]:443");
    CHECK_CONTAINS(r, "/\\x1b[2J");
    CHECK_CONTAINS(r, "x\\x0ay  ms=5");
    CHECK(r && !strchr(r, '\033') && !strchr(r, '\n'));
    free(r);
    r = row_of("{\"path\":\"/a\\u009b31mb\\u00e9\"}"); /* C1 CSI escaped, other UTF-8 kept */
    CHECK_CONTAINS(r, "/a\\u009b31mb\xc3\xa9");
    free(r);
    char *e = row_of("{}");
    CHECK_CONTAINS(e, "-  ");
    free(e);
}

static void test_json_text_positions_and_strictness(void)
{
    sbx_err err;
    json_object *o = NULL;
    CHECK(json_text_parse("{\"a\": [1, 2.5e3, true, null, \"x\"]}\n", 34, &o, &err) == 0);
    CHECK(json_object_is_type(o, json_type_object));
    json_object_put(o);
    struct {
        const char *text, *msg;
    } bad[] = {
        {"", "line 1, column 1: no JSON value"},
        {" \n ", "line 2, column 2: no JSON value"},
        {"{\"a\":1} x", "line 1, column 9: unexpected data after the JSON value"},
        {"{\"a\":1}\n{}", "line 2, column 1: unexpected data after the JSON value"},
        {"{\n  \"a\": 1,\n}", "line 3, column 1: invalid JSON"},
        {"{\n \"a\": ['x']}", "line 2, column 8: single quote"},
        {"{\"a\": NaN}", "line 1, column 7: \"NaN\" is not a JSON value"},
        {"{\"a\": -Infinity}", "line 1, column 8: invalid number"},
        {"{\"a\": 1.}", "line 1, column 9: invalid number"},
        {"{\"a\": 01}", "line 1, column 8: invalid number"},
        {"{\"a\": \"x\ty\"}", "line 1, column 9: control character 0x09"},
        {"{\"a\": 1", "line 1, column 8: unexpected end of input"},
        {"{\"a\" 1}", "line 1, column 6: invalid JSON"},
        {"{\"a\": 1} // c", "line 1, column 10: unexpected character '/'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = NULL;
        int rc = json_text_parse(bad[i].text, strlen(bad[i].text), &o, &err);
        CHECK(rc < 0 && o == NULL);
        if (rc < 0 && strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
            fprintf(stderr, "  %s: expected \"%s...\", got \"%s\"\n", bad[i].text, bad[i].msg,
                    err.msg);
        CHECK(rc < 0 && strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0);
        if (rc == 0) json_object_put(o);
    }
    CHECK(json_text_parse("5", 1, &o, &err) == 0 && json_object_get_int(o) == 5);
    json_object_put(o);
    CHECK(json_text_parse("null", 4, &o, &err) == 0 && o == NULL);
}

/* ---- reading files ---- */

struct collected {
    char lines[16][64];
    int n, oversize, stop_after;
};

static int collect(const char *line, size_t len, void *ctx)
{
    struct collected *c = ctx;
    if (!line) {
        c->oversize++;
        return 0;
    }
    if (c->n < 16) snprintf(c->lines[c->n], sizeof(c->lines[0]), "%.*s", (int)len, line);
    c->n++;
    return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
}

static void test_read_splits_lines_and_keeps_a_last_partial_one(void)
{
    char path[] = "/tmp/sbx-unit-audit-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    write_file(path, "one\n\ntwo\nthree", 14);
    struct collected c = {0};
    struct audit_reader r = {.path = path, .wake_fd = -1, .on_line = collect, .ctx = &c};
    sbx_err err;
    CHECK(audit_read(&r, &err) == 0);
    CHECK(c.n == 4);
    CHECK_STR(c.lines[0], "one");
    CHECK_STR(c.lines[1], "");
    CHECK_STR(c.lines[2], "two");
    CHECK_STR(c.lines[3], "three");

    struct collected s = {.stop_after = 2};
    r.ctx = &s;
    CHECK(audit_read(&r, &err) == 7); /* the callback's value stops the read */
    CHECK(s.n == 2);
    unlink(path);
    CHECK(audit_read(&r, &err) < 0);
    CHECK_CONTAINS(err.msg, "No such file");
}

static void test_read_skips_overlong_lines_without_holding_them(void)
{
    char path[] = "/tmp/sbx-unit-audit-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    size_t big = AUDIT_LINE_MAX + 100;
    char *data = malloc(big + 32);
    CHECK(data != NULL);
    if (!data) return;
    memcpy(data, "a\n", 2);
    memset(data + 2, 'x', big);
    memcpy(data + 2 + big, "\nb\n", 3);
    write_file(path, data, big + 5);
    struct collected c = {0};
    struct audit_reader r = {.path = path, .wake_fd = -1, .on_line = collect, .ctx = &c};
    sbx_err err;
    CHECK(audit_read(&r, &err) == 0);
    CHECK(c.n == 2 && c.oversize == 1);
    CHECK_STR(c.lines[0], "a");
    CHECK_STR(c.lines[1], "b");
    /* a line of exactly AUDIT_LINE_MAX bytes is still a line */
    memset(data, 'y', AUDIT_LINE_MAX);
    data[AUDIT_LINE_MAX] = '\n';
    write_file(path, data, AUDIT_LINE_MAX + 1);
    struct collected d = {0};
    r.ctx = &d;
    CHECK(audit_read(&r, &err) == 0);
    CHECK(d.n == 1 && d.oversize == 0);
    free(data);
    unlink(path);
}

int main(void)
{
    RUN(test_duration_units_and_sums);
    RUN(test_duration_rejects_bad_input);
    RUN(test_time_rfc3339_forms);
    RUN(test_time_rejects_bad_input);
    RUN(test_since_is_a_duration_back_from_now_or_a_time);
    RUN(test_decision_lists);
    RUN(test_match_filters);
    RUN(test_match_malformed_and_blank_lines);
    RUN(test_rows_line_up_with_the_header);
    RUN(test_rows_escape_control_bytes_and_bracket_ipv6);
    RUN(test_json_text_positions_and_strictness);
    RUN(test_read_splits_lines_and_keeps_a_last_partial_one);
    RUN(test_read_skips_overlong_lines_without_holding_them);
    UNIT_MAIN_END();
}
