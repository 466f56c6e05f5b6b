/* Unit tests: archive/names.c, the rules for entry names, symlink targets and
 * formats of sbx's tar handling. */
#include <limits.h>
#include <string.h>

#include "names.h"
#include "unit.h"

static const char *clean(const char *raw, int *r)
{
    static char out[PATH_MAX];
    *r = arc_clean_name(raw, out, sizeof(out));
    return out;
}

static void names_are_made_relative_and_normal(void)
{
    int r;
    CHECK_STR(clean("a/b/c", &r), "a/b/c");
    CHECK(r == ARC_NAME_OK);
    CHECK_STR(clean("./a//b/./c/", &r), "a/b/c");
    CHECK(r == ARC_NAME_OK);
    CHECK_STR(clean("././x", &r), "x");
    CHECK_STR(clean(".", &r), "");
    CHECK(r == ARC_NAME_OK);
    CHECK_STR(clean("./", &r), "");
    CHECK_STR(clean(".../..a/a..", &r), ".../..a/a..");
    CHECK(r == ARC_NAME_OK);
}

static void absolute_and_dotdot_names_are_refused_not_stripped(void)
{
    int r;
    clean("/etc/passwd", &r);
    CHECK(r == ARC_NAME_ABSOLUTE);
    clean("//x", &r);
    CHECK(r == ARC_NAME_ABSOLUTE);
    clean("../x", &r);
    CHECK(r == ARC_NAME_DOTDOT);
    clean("a/../../x", &r);
    CHECK(r == ARC_NAME_DOTDOT);
    clean("a/b/..", &r);
    CHECK(r == ARC_NAME_DOTDOT);
    clean("a/../b", &r); /* harmless, but a ".." is never accepted */
    CHECK(r == ARC_NAME_DOTDOT);
    clean("", &r);
    CHECK(r == ARC_NAME_EMPTY);
    CHECK(arc_clean_name(NULL, (char[8]){0}, 8) == ARC_NAME_EMPTY);
    CHECK_CONTAINS(arc_name_why(ARC_NAME_ABSOLUTE), "absolute");
    CHECK_CONTAINS(arc_name_why(ARC_NAME_DOTDOT), "..");
}

static void long_and_deep_names_are_bounded(void)
{
    char small[8];
    CHECK(arc_clean_name("abcdefgh", small, sizeof(small)) == ARC_NAME_TOOLONG);
    CHECK(arc_clean_name("abcdefg", small, sizeof(small)) == ARC_NAME_OK);
    static char big[NAME_MAX + 10], out[PATH_MAX];
    memset(big, 'x', NAME_MAX + 1);
    big[NAME_MAX + 1] = '\0';
    CHECK(arc_clean_name(big, out, sizeof(out)) == ARC_NAME_TOOLONG);
    static char deep[4 * (ARC_DEPTH_MAX + 2)];
    char *p = deep;
    for (int i = 0; i < ARC_DEPTH_MAX + 1; i++) p += sprintf(p, "a/");
    CHECK(arc_clean_name(deep, out, sizeof(out)) == ARC_NAME_TOODEEP);
    deep[2 * ARC_DEPTH_MAX] = '\0'; /* exactly ARC_DEPTH_MAX components */
    CHECK(arc_clean_name(deep, out, sizeof(out)) == ARC_NAME_OK);
}

static void symlinks_inside_the_tree_are_accepted(void)
{
    CHECK(arc_link_inside("link", "target") == ARC_LINK_OK);
    CHECK(arc_link_inside("link", ".") == ARC_LINK_OK);
    CHECK(arc_link_inside("link", "./a/b") == ARC_LINK_OK);
    CHECK(arc_link_inside("a/link", "../b") == ARC_LINK_OK);
    CHECK(arc_link_inside("a/b/link", "../../c/d") == ARC_LINK_OK);
    CHECK(arc_link_inside("node_modules/.bin/vite", "../vite/bin/vite.js") == ARC_LINK_OK);
    CHECK(arc_link_inside("a/b/link", "./../x") == ARC_LINK_OK);
}

static void symlinks_pointing_out_are_refused(void)
{
    CHECK(arc_link_inside("link", "/etc") == ARC_LINK_ABSOLUTE);
    CHECK(arc_link_inside("link", "..") == ARC_LINK_ESCAPES);
    CHECK(arc_link_inside("link", "../x") == ARC_LINK_ESCAPES);
    CHECK(arc_link_inside("a/link", "../../x") == ARC_LINK_ESCAPES);
    CHECK(arc_link_inside("a/b/link", "../../../../../../tmp") == ARC_LINK_ESCAPES);
    CHECK(arc_link_inside("link", "") == ARC_LINK_EMPTY);
    CHECK(arc_link_inside("link", NULL) == ARC_LINK_EMPTY);
    /* a ".." after a name could go through another link: never reasoned about */
    CHECK(arc_link_inside("a/b/link", "x/../y") == ARC_LINK_INNER_DOTDOT);
    CHECK(arc_link_inside("t", "a/b/s/../..") == ARC_LINK_INNER_DOTDOT);
    CHECK_CONTAINS(arc_link_why(ARC_LINK_ABSOLUTE), "outside");
}

static void formats_and_their_content_types(void)
{
    CHECK(arc_format_parse("tar", 0) == ARC_TAR);
    CHECK(arc_format_parse("tar.gz", 0) == ARC_TAR_GZ);
    CHECK(arc_format_parse("tar.zst", 0) == ARC_TAR_ZST);
    CHECK(arc_format_parse("auto", 0) == -1);
    CHECK(arc_format_parse("auto", 1) == ARC_AUTO);
    CHECK(arc_format_parse("zip", 1) == -1);
    CHECK(arc_format_parse(NULL, 1) == -1);
    CHECK_STR(arc_format_name(ARC_TAR_ZST), "tar.zst");
    CHECK_STR(arc_format_type(ARC_TAR), "application/x-tar");
    CHECK_STR(arc_format_type(ARC_TAR_GZ), "application/gzip");
    CHECK_STR(arc_format_type(ARC_TAR_ZST), "application/zstd");
}

int main(void)
{
    RUN(names_are_made_relative_and_normal);
    RUN(absolute_and_dotdot_names_are_refused_not_stripped);
    RUN(long_and_deep_names_are_bounded);
    RUN(symlinks_inside_the_tree_are_accepted);
    RUN(symlinks_pointing_out_are_refused);
    RUN(formats_and_their_content_types);
    UNIT_MAIN_END();
}
