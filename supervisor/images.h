/* images.h - the small image lookup the core needs (a full store is a later issue).
 * An image NAME is a directory <image-dir>/NAME/rootfs used read-only as the
 * overlay's lower layer. */
#ifndef SBX_IMAGES_H
#define SBX_IMAGES_H

#include <stddef.h>

#include "error.h"

/* Validate name and resolve its rootfs path. 400 unknown_image if absent. */
int image_resolve(const char *image_dir, const char *name, char *rootfs, size_t cap, sbx_err *err);

#endif
