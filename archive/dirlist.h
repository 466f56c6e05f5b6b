/* dirlist.h - the names in a directory, read at once (archive/'s walks
 * change or follow a directory while going through it). */
#ifndef SBX_ARCHIVE_DIRLIST_H
#define SBX_ARCHIVE_DIRLIST_H

#include <stddef.h>

#include "error.h"

struct dirlist {
    char **v;
    size_t n;
};

/* The entries of directory fd (fd is not consumed, nor its offset moved),
 * without "." and ".."; sorted (strcmp) when sorted. label: for messages. */
int dirlist_read(int fd, int sorted, struct dirlist *dl, const char *label, sbx_err *err);
void dirlist_free(struct dirlist *dl);

#endif
