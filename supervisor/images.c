/* images.c - resolve an image name to its read-only rootfs directory.
 * Never follows a name outside image_dir: names are [a-z0-9][a-z0-9._-]*. */
#include "images.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"

static int valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64) return 0;
    if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= '0' && n[0] <= '9'))) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return strstr(n, "..") == NULL;
}

int image_resolve(const char *image_dir, const char *name, char *rootfs, size_t cap, sbx_err *err)
{
    struct stat st;
    if (!valid_name(name))
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_request",
                              "field \"image\": \"%s\" is not a valid image name (lowercase letters, "
                              "digits, '.', '_', '-'; at most 64)",
                              name);
    if ((size_t)snprintf(rootfs, cap, "%s/%s/rootfs", image_dir, name) >= cap)
        return sbx_error(err, ENAMETOOLONG, "image path");
    if (stat(rootfs, &st) == 0 && S_ISDIR(st.st_mode)) return 0;

    char avail[512] = "";
    size_t n = 0;
    _cleanup_closedir_ DIR *d = opendir(image_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char p[4096];
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s/rootfs", image_dir, de->d_name);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && n < sizeof(avail) - 80)
            n += (size_t)snprintf(avail + n, sizeof(avail) - n, "%s%s", n ? ", " : "", de->d_name);
    }
    return sbx_error_kind(err, SBX_E_INVALID, "unknown_image",
                          "image \"%s\" not found in %s; available: %s", name, image_dir,
                          n ? avail : "none (build one with `make`, see README)");
}
