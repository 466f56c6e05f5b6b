/* Unit tests: request-body validation (common/json.c) and limits (supervisor/limits.c). */
#include "json.h"
#include "limits.h"
#include "unit.h"

static struct json_object *parse(const char *s, sbx_err *err)
{
    struct json_object *o = NULL;
    if (json_parse_object(s, strlen(s), &o, err) < 0) return NULL;
    return o;
}

static void test_invalid_json_names_the_byte_position(void)
{
    sbx_err err;
    CHECK(parse("{\"a\": ", &err) == NULL);
    CHECK_STR(err.code, "invalid_json");
    CHECK(parse("{\"a\": 1} trailing", &err) == NULL);
    CHECK_CONTAINS(err.msg, "trailing data at byte 9");
    CHECK(parse("[1,2]", &err) == NULL);
    CHECK_CONTAINS(err.msg, "must be a JSON object");
    struct json_object *o = parse("   ", &err);
    CHECK(o && json_object_object_length(o) == 0);
    json_object_put(o);
}

static void test_only_strict_json_objects_are_accepted(void)
{
    sbx_err err;
    const char *bad[] = {"{\"a\":1,}", "{'a':1}", "{\"a\":1 /* c */}", "{\"a\":NaN}",
                         "null", "42", "true", "\"x\"", "{\"a\":\"\xff\xfe\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *o = parse(bad[i], &err);
        if (o) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            json_object_put(o);
            CHECK(0);
        }
        CHECK_STR(err.code, "invalid_json");
    }
    CHECK(parse("42", &err) == NULL);
    CHECK_CONTAINS(err.msg, "must be a JSON object");
}

static void test_unknown_field_lists_allowed_ones(void)
{
    sbx_err err;
    static const char *const allowed[] = {"image", "limits", NULL};
    struct json_object *o = parse("{\"imgae\": \"x\"}", &err);
    CHECK(json_check_fields(o, "", allowed, &err) < 0);
    CHECK_CONTAINS(err.msg, "unknown field \"imgae\" (allowed: image, limits)");
    CHECK_STR(err.code, "invalid_request");
    json_object_put(o);
}

static void test_typed_getters_name_the_field_path(void)
{
    sbx_err err;
    struct json_object *o = parse("{\"n\": \"5\", \"s\": 3, \"i\": 1.5, \"big\": 99}", &err);
    const char *s;
    int present;
    int64_t i;
    double d;
    CHECK(json_get_str(o, "x", "s", 1, &s, &err) < 0);
    CHECK_CONTAINS(err.msg, "field \"x.s\" must be a string");
    CHECK(json_get_int(o, "", "i", 0, 10, &present, &i, &err) < 0);
    CHECK_CONTAINS(err.msg, "must be an integer");
    CHECK(json_get_int(o, "", "big", 0, 10, &present, &i, &err) < 0);
    CHECK_CONTAINS(err.msg, "between 0 and 10");
    CHECK(json_get_num(o, "", "n", 0, 10, &present, &d, &err) < 0);
    CHECK(json_get_str(o, "", "missing", 1, &s, &err) < 0);
    CHECK_CONTAINS(err.msg, "missing required field \"missing\"");
    CHECK(json_get_str(o, "", "missing", 0, &s, &err) == 0 && s == NULL);
    json_object_put(o);
}

static void test_string_with_embedded_nul_is_rejected(void)
{
    sbx_err err;
    struct json_object *o = parse("{\"s\": \"a\\u0000b\"}", &err);
    const char *s;
    CHECK(o != NULL);
    CHECK(json_get_str(o, "", "s", 1, &s, &err) < 0);
    CHECK_CONTAINS(err.msg, "NUL");
    json_object_put(o);
}

static void test_parse_size_accepts_suffixes_and_rejects_junk(void)
{
    sbx_err err;
    uint64_t v;
    CHECK(parse_size("256M", &v, &err) == 0 && v == 256ULL << 20);
    CHECK(parse_size("1g", &v, &err) == 0 && v == 1ULL << 30);
    CHECK(parse_size("512KiB", &v, &err) == 0 && v == 512ULL << 10);
    CHECK(parse_size("1048576", &v, &err) == 0 && v == 1048576);
    CHECK(parse_size("-5", &v, &err) < 0);
    CHECK(parse_size("abc", &v, &err) < 0);
    CHECK(parse_size("1P", &v, &err) < 0);
    CHECK(parse_size("", &v, &err) < 0);
    CHECK(parse_size("99999999999999999999999", &v, &err) < 0);
    CHECK(parse_size("17179869184G", &v, &err) < 0); /* overflows 64 bits */
}

static void test_limits_defaults_and_ranges(void)
{
    sbx_err err;
    struct limits l;
    CHECK(limits_from_json(NULL, &l, &err) == 0);
    CHECK(l.memory == LIMIT_MEMORY_DEFAULT && l.pids == LIMIT_PIDS_DEFAULT && l.cpu == 0);
    struct json_object *o = parse("{\"memory\": \"64M\", \"pids\": 32, \"cpu\": 0.5}", &err);
    CHECK(limits_from_json(o, &l, &err) == 0);
    CHECK(l.memory == 64ULL << 20 && l.pids == 32 && l.cpu == 0.5);
    json_object_put(o);
    const char *bad[] = {"{\"memory\": \"1M\"}",   "{\"memory\": \"2T\"}", "{\"memory\": -1}",
                         "{\"memory\": true}",     "{\"pids\": 0}",        "{\"pids\": 1e12}",
                         "{\"cpu\": 0}",           "{\"cpu\": 1e9}",       "{\"cpu\": \"1\"}",
                         "{\"swap\": 1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = parse(bad[i], &err);
        CHECK(o != NULL);
        if (limits_from_json(o, &l, &err) == 0) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            CHECK(0);
        }
        CHECK_STR(err.code, "invalid_request");
        json_object_put(o);
    }
}

static void test_disk_limits_defaults_explicit_flag_and_errors_naming_the_field(void)
{
    sbx_err err;
    struct limits l;
    CHECK(limits_from_json(NULL, &l, &err) == 0);
    CHECK(l.disk_bytes == LIMIT_DISK_BYTES_DEFAULT && l.disk_inodes == LIMIT_DISK_INODES_DEFAULT);
    CHECK(l.disk_explicit == 0);
    struct json_object *o = parse("{\"memory\": \"64M\"}", &err);
    CHECK(limits_from_json(o, &l, &err) == 0 && l.disk_explicit == 0);
    json_object_put(o);
    o = parse("{\"disk_bytes\": \"2G\", \"disk_inodes\": 5000}", &err);
    CHECK(limits_from_json(o, &l, &err) == 0);
    CHECK(l.disk_bytes == 2ULL << 30 && l.disk_inodes == 5000 && l.disk_explicit == 1);
    json_object_put(o);
    o = parse("{\"disk_inodes\": 16}", &err);
    CHECK(limits_from_json(o, &l, &err) == 0 && l.disk_inodes == 16 && l.disk_explicit == 1);
    CHECK(l.disk_bytes == LIMIT_DISK_BYTES_DEFAULT);
    json_object_put(o);
    /* node defaults (--disk-bytes, --disk-inodes) */
    limits_set_disk_defaults(1ULL << 30, 77);
    CHECK(limits_from_json(NULL, &l, &err) == 0 && l.disk_bytes == 1ULL << 30 &&
          l.disk_inodes == 77);
    limits_set_disk_defaults(LIMIT_DISK_BYTES_DEFAULT, LIMIT_DISK_INODES_DEFAULT);
    const char *bad[] = {"{\"disk_bytes\": \"lots\"}",    "{\"disk_bytes\": -5}",
                         "{\"disk_bytes\": 1000}",        "{\"disk_bytes\": \"2P\"}",
                         "{\"disk_bytes\": true}",        "{\"disk_inodes\": 15}",
                         "{\"disk_inodes\": 4294967296}", "{\"disk_inodes\": \"9\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = parse(bad[i], &err);
        CHECK(o != NULL);
        if (limits_from_json(o, &l, &err) == 0) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            CHECK(0);
        }
        CHECK_STR(err.code, "invalid_request");
        CHECK_CONTAINS(err.msg, i < 5 ? "limits.disk_bytes" : "limits.disk_inodes");
        json_object_put(o);
    }
}

static void test_tmp_size_is_half_the_memory_with_a_floor(void)
{
    struct limits l = {.memory = 256ULL << 20};
    CHECK(limits_tmp_size(&l) == 128ULL << 20);
    l.memory = 8ULL << 20;
    CHECK(limits_tmp_size(&l) == 16ULL << 20);
}

static void test_str_map_bounds(void)
{
    sbx_err err;
    struct json_object *o = parse("{\"k\": 1}", &err);
    CHECK(json_check_str_map(o, "labels", 4, 8, 8, &err) < 0);
    CHECK_CONTAINS(err.msg, "labels.k");
    json_object_put(o);
    o = parse("{\"toolongkey\": \"v\"}", &err);
    CHECK(json_check_str_map(o, "labels", 4, 8, 8, &err) < 0);
    json_object_put(o);
    o = parse("{\"a\": \"1\", \"b\": \"2\"}", &err);
    CHECK(json_check_str_map(o, "labels", 1, 8, 8, &err) < 0);
    CHECK(json_check_str_map(o, "labels", 2, 8, 8, &err) == 0);
    json_object_put(o);
}

int main(void)
{
    RUN(test_invalid_json_names_the_byte_position);
    RUN(test_only_strict_json_objects_are_accepted);
    RUN(test_unknown_field_lists_allowed_ones);
    RUN(test_typed_getters_name_the_field_path);
    RUN(test_string_with_embedded_nul_is_rejected);
    RUN(test_parse_size_accepts_suffixes_and_rejects_junk);
    RUN(test_limits_defaults_and_ranges);
    RUN(test_disk_limits_defaults_explicit_flag_and_errors_naming_the_field);
    RUN(test_tmp_size_is_half_the_memory_with_a_floor);
    RUN(test_str_map_bounds);
    UNIT_MAIN_END();
}
