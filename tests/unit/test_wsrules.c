/* Unit tests: workspace names and the id mapping of a workspace's files
 * (supervisor/wsrules.c). */
#include <stdint.h>

#include "unit.h"
#include "wsrules.h"

static void test_workspace_names_follow_the_documented_rule(void)
{
    static const char *const good[] = {"a", "0", "proj-42", "my.app_v2", "x-", "9.9.9", "a..b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(ws_name_valid(good[i]));
    char longest[WS_NAME_MAX + 2];
    memset(longest, 'a', WS_NAME_MAX);
    longest[WS_NAME_MAX] = '\0';
    CHECK(ws_name_valid(longest));
    longest[WS_NAME_MAX] = 'a';
    longest[WS_NAME_MAX + 1] = '\0';
    CHECK(!ws_name_valid(longest)); /* 64 characters */
    static const char *const bad[] = {"",    "Proj", "-x",  ".x", "_x",  ".",   "..",
                                      "a/b", "a b",  "a\n", "ä",  "x:y", "x,y", "x@1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!ws_name_valid(bad[i]));
    CHECK(!ws_name_valid(NULL));
}

static void test_idmap_maps_the_files_range_onto_the_session_and_keeps_root(void)
{
    char buf[128];
    int n = ws_idmap_text(0x20000000u, 0x20010000u, 65536, buf, sizeof(buf));
    CHECK(n > 0);
    CHECK_STR(buf, "0 0 1\n536870912 536936448 65536\n");
    /* the same range on both sides is an identity map */
    CHECK(ws_idmap_text(65536, 65536, 65536, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "0 0 1\n65536 65536 65536\n");
    /* sandbox uid 1000 of the files' range is uid 1000 of the session's:
     * disk_base + 1000 -> host_base + 1000 (one line, one offset) */
    CHECK(ws_idmap_text(100000, 300000, 65536, buf, sizeof(buf)) > 0);
    unsigned in, out, cnt;
    CHECK(sscanf(buf, "0 0 1\n%u %u %u\n", &in, &out, &cnt) == 3);
    CHECK(in + 1000 - 100000 == out + 1000 - 300000);
}

static void test_idmap_refuses_ranges_that_touch_root_or_overflow(void)
{
    char buf[128];
    CHECK(ws_idmap_text(0, 65536, 65536, buf, sizeof(buf)) < 0);           /* root's files */
    CHECK(ws_idmap_text(65536, 0, 65536, buf, sizeof(buf)) < 0);           /* host root */
    CHECK(ws_idmap_text(65536, 131072, 0, buf, sizeof(buf)) < 0);          /* empty */
    CHECK(ws_idmap_text(0xffff0000u, 65536, 65536, buf, sizeof(buf)) < 0); /* up to 2^32-1 */
    CHECK(ws_idmap_text(0xfffeffffu, 65536, 65536, buf, sizeof(buf)) > 0); /* ends at 2^32-2 */
    CHECK(ws_idmap_text(65536, 131072, 65536, buf, 8) < 0);                /* buffer too small */
}

int main(void)
{
    RUN(test_workspace_names_follow_the_documented_rule);
    RUN(test_idmap_maps_the_files_range_onto_the_session_and_keeps_root);
    RUN(test_idmap_refuses_ranges_that_touch_root_or_overflow);
    UNIT_MAIN_END();
}
