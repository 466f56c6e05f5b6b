/* dirlist.c - see dirlist.h. */
#include "dirlist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void dirlist_free(struct dirlist *dl)
{
    for (size_t i = 0; i < dl->n; i++) free(dl->v[i]);
    free(dl->v);
    dl->v = NULL;
    dl->n = 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dirlist_read(int fd, int sorted, struct dirlist *dl, const char *label, sbx_err *err)
{
    dl->v = NULL;
    dl->n = 0;
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (own < 0) return sbx_error(err, errno, "read directory %s", label);
    DIR *d = fdopendir(own);
    if (!d) {
        int e = errno;
        close(own);
        return sbx_error(err, e, "read directory %s", label);
    }
    size_t cap = 0;
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) r = sbx_error(err, errno, "read directory %s", label);
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (dl->n == cap) {
            cap = cap ? cap * 2 : 32;
            char **v = realloc(dl->v, cap * sizeof(*v));
            if (!v) {
                r = sbx_error(err, ENOMEM, "read directory %s", label);
                break;
            }
            dl->v = v;
        }
        if (!(dl->v[dl->n] = strdup(de->d_name))) {
            r = sbx_error(err, ENOMEM, "read directory %s", label);
            break;
        }
        dl->n++;
    }
    closedir(d);
    if (r < 0) {
        dirlist_free(dl);
        return r;
    }
    if (sorted && dl->n > 1) qsort(dl->v, dl->n, sizeof(*dl->v), cmp);
    return 0;
}
