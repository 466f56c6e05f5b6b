/* names.c - see names.h. */
#include "names.h"

#include <limits.h>
#include <string.h>

int arc_clean_name(const char *raw, char *out, size_t cap)
{
    if (!raw || !*raw) return ARC_NAME_EMPTY;
    if (raw[0] == '/') return ARC_NAME_ABSOLUTE;
    size_t n = 0;
    int depth = 0;
    const char *p = raw;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') return ARC_NAME_DOTDOT;
        if (len > NAME_MAX) return ARC_NAME_TOOLONG;
        if (++depth > ARC_DEPTH_MAX) return ARC_NAME_TOODEEP;
        if (n + (n ? 1 : 0) + len + 1 > cap) return ARC_NAME_TOOLONG;
        if (n) out[n++] = '/';
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    if (cap == 0) return ARC_NAME_TOOLONG;
    out[n] = '\0';
    return ARC_NAME_OK;
}

const char *arc_name_why(int result)
{
    switch (result) {
    case ARC_NAME_OK: return "accepted";
    case ARC_NAME_EMPTY: return "the name is empty";
    case ARC_NAME_ABSOLUTE: return "an absolute name (entries must be relative to the directory)";
    case ARC_NAME_DOTDOT: return "a \"..\" component would leave the directory";
    case ARC_NAME_TOOLONG: return "the name is too long";
    case ARC_NAME_TOODEEP: return "the name has more than 256 levels";
    default: return "refused";
    }
}

int arc_link_inside(const char *entry, const char *target)
{
    if (!target || !*target) return ARC_LINK_EMPTY;
    if (target[0] == '/') return ARC_LINK_ABSOLUTE;
    /* the link's own depth: components of its directory */
    int depth = 0;
    for (const char *s = entry; s && *s; s++)
        if (*s == '/') depth++;
    int ups = 0, named = 0;
    const char *p = target;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (named) return ARC_LINK_INNER_DOTDOT;
            if (++ups > depth) return ARC_LINK_ESCAPES;
        } else if (!(len == 1 && p[0] == '.')) {
            named = 1;
        }
        p += len;
    }
    return ARC_LINK_OK;
}

const char *arc_link_why(int result)
{
    switch (result) {
    case ARC_LINK_OK: return "accepted";
    case ARC_LINK_EMPTY: return "the link has no target";
    case ARC_LINK_ABSOLUTE: return "an absolute target points outside the directory";
    case ARC_LINK_ESCAPES: return "its \"..\" components lead outside the directory";
    case ARC_LINK_INNER_DOTDOT:
        return "a \"..\" after a name in the target is not accepted (write the target without it)";
    default: return "refused";
    }
}

static const struct {
    const char *name, *type;
} formats[] = {
    [ARC_AUTO] = {"auto", "application/octet-stream"},
    [ARC_TAR] = {"tar", "application/x-tar"},
    [ARC_TAR_GZ] = {"tar.gz", "application/gzip"},
    [ARC_TAR_ZST] = {"tar.zst", "application/zstd"},
};

int arc_format_parse(const char *s, int allow_auto)
{
    if (!s) return -1;
    for (int i = allow_auto ? ARC_AUTO : ARC_TAR; i <= ARC_TAR_ZST; i++)
        if (strcmp(s, formats[i].name) == 0) return i;
    return -1;
}

const char *arc_format_name(enum arc_format f)
{
    return (unsigned)f <= ARC_TAR_ZST ? formats[f].name : "?";
}

const char *arc_format_type(enum arc_format f)
{
    return (unsigned)f <= ARC_TAR_ZST ? formats[f].type : "application/octet-stream";
}
