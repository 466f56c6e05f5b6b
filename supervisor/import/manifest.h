/* manifest.h - which layers, in which order, make an image: the metadata of a
 * `docker save` archive (manifest.json, legacy or OCI-style paths) or of an OCI
 * image layout (index.json -> [index ->] manifest -> config + layers).
 *
 * Pure logic over small JSON files the importer already holds in memory: the
 * caller supplies a lookup from an archive path ("manifest.json",
 * "blobs/sha256/<hex>", "<hex>.json") to the file's bytes and their sha256.
 * Nothing here touches the disk. */
#ifndef SBX_IMPORT_MANIFEST_H
#define SBX_IMPORT_MANIFEST_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

#define IMG_MAX_LAYERS 128
#define IMG_PATH_MAX 320

/* A small file of the archive: its bytes and the sha256 (hex) of them. */
struct img_file {
    const char *data;
    size_t len;
    const char *sha256; /* 64 lowercase hex chars */
};
typedef int (*img_lookup_fn)(void *ud, const char *path, struct img_file *out);

struct img_plan {
    const char *format;            /* "docker" or "oci" */
    char id[72];                   /* "sha256:<hex>": docker's config digest, OCI's manifest digest */
    char name[256];                /* from RepoTags / ref annotations; may be empty */
    int nlayers;                   /* bottom layer first */
    char layer_path[IMG_MAX_LAYERS][IMG_PATH_MAX]; /* where the layer sits in the archive */
    char layer_digest[IMG_MAX_LAYERS][72];         /* descriptor digest (OCI); "" when unknown */
    char diff_id[IMG_MAX_LAYERS][72];              /* from the config; "" when absent */
    struct json_object *config;    /* owned: {env, cmd, entrypoint, workdir, user, os, architecture} */
};

void img_plan_free(struct img_plan *p);
/* Go arch name for the host ("amd64", "arm64", ...). */
const char *img_host_arch(void);
/* docker save: parse manifest.json (must hold exactly one image). */
int img_plan_docker(img_lookup_fn get, void *ud, struct img_plan *p, sbx_err *err);
/* OCI layout: index.json, choosing the manifest for linux/<arch>. */
int img_plan_oci(img_lookup_fn get, void *ud, const char *arch, struct img_plan *p, sbx_err *err);
/* Is s "sha256:" + 64 lowercase hex? Copies the hex part into hex (65 bytes) when so. */
int img_digest_hex(const char *s, char *hex);
/* Normalise an archive entry name: drops leading "/" and "./" and repeated
 * slashes and a trailing "/". Returns -1 if a component is "..". out >= len+1. */
int img_clean_path(const char *in, char *out, size_t cap);

#endif
