/* imgstore.h - the content-addressed image store (docs/images.md).
 *
 *   STATE/store/layers/<sha256>/root         one unpacked layer, read-only to sessions
 *   STATE/store/layers/<sha256>/layer.json   {digest, size, entries}
 *   STATE/store/images/<sha256>.json         an image: its layers (bottom first), config
 *   STATE/store/refs.json                    {"name": "sha256:<id>"}, written atomically
 *   STATE/store/tmp/, trash/                 imports in progress, removals in progress
 *
 * Layers are written only by sbx-import (supervisor/import/), named by digest,
 * so an image's layers are shared by every image that has them and unpacked
 * once. Sessions stack them as overlayfs lower layers: nothing is copied per
 * session. Images built as plain directories (IMAGE_DIR/NAME/rootfs, e.g. by
 * `make`) are served too, as single-layer "directory" images. sbxd is the only
 * writer of refs.json and the only remover. */
#ifndef SBX_IMGSTORE_H
#define SBX_IMGSTORE_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"

struct sbxd;

#define IMG_NAME_MAX 128

struct img_store {
    char dir[4096];
    int fd;
    int idmap;               /* the store's filesystem supports idmapped mounts */
    struct json_object *refs; /* name -> "sha256:..." */
    unsigned importing;       /* imports running: layer GC waits for them */
    int gc_wanted;
};

/* What a session mounts. */
struct img_resolved {
    char ref[IMG_NAME_MAX + 1]; /* as asked */
    char id[72];                /* "sha256:..." for store images, "" for directory images */
    char lowers[4096];          /* overlayfs lowerdir list, top layer first, ':'-separated */
    int nlowers;
    int idmap;
};

int store_open(struct sbxd *d, sbx_err *err);
void store_close(struct sbxd *d);
/* "name", "name:tag" ([a-z0-9][a-z0-9._-]*, tag [A-Za-z0-9._-]+), at most 128. */
int store_valid_name(const char *name);
/* Resolve a name, a full id ("sha256:<hex>") or a unique id prefix of at least 12 hex
 * digits: store names first, then directory images. */
int store_resolve(struct sbxd *d, const char *ref, struct img_resolved *out, sbx_err *err);
/* GET /v1/images and /v1/images/{ref} */
struct json_object *store_list(struct sbxd *d);
int store_inspect(struct sbxd *d, const char *ref, struct json_object **out, sbx_err *err);
/* DELETE /v1/images/{ref}: a name is untagged (the image goes when its last name
 * does); an id removes the image and its names. Refused while a session uses it. */
int store_remove(struct sbxd *d, const char *ref, sbx_err *err);
/* After a successful import: point name at id (moving it from another image). */
int store_set_name(struct sbxd *d, const char *name, const char *id, sbx_err *err);
/* The image record as the API shows it (adds "names"). */
struct json_object *store_image_json(struct sbxd *d, struct json_object *record);
/* Is the name taken by a directory image? */
int store_is_dir_image(struct sbxd *d, const char *name);
/* Remove layers no image references (deferred while imports run). */
void store_gc(struct sbxd *d);
/* Move a directory into trash/ and remove it in a child process. */
void store_trash(struct sbxd *d, const char *path);

#endif
