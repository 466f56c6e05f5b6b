/* manifest.c - docker save / OCI layout metadata -> an ordered layer plan. */
#include "manifest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#define E_INVALID(err, ...) sbx_error_kind(err, SBX_E_INVALID, "invalid_image", __VA_ARGS__)
#define E_DIGEST(err, ...) sbx_error_kind(err, SBX_E_INVALID, "digest_mismatch", __VA_ARGS__)

void img_plan_free(struct img_plan *p)
{
    if (p->config) json_object_put(p->config);
    p->config = NULL;
}

const char *img_host_arch(void)
{
    static struct utsname u;
    if (uname(&u) < 0) return "amd64";
    if (strcmp(u.machine, "x86_64") == 0) return "amd64";
    if (strcmp(u.machine, "aarch64") == 0) return "arm64";
    if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0) return "386";
    if (strncmp(u.machine, "arm", 3) == 0) return "arm";
    return u.machine; /* ppc64le, s390x, riscv64 are spelled alike */
}

int img_digest_hex(const char *s, char *hex)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64) return 0;
    for (const char *c = s + 7; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
    if (hex) memcpy(hex, s + 7, 65);
    return 1;
}

int img_clean_path(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/') p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0) break;
        if (n == 1 && p[0] == '.') {
            /* "." component: dropped */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            return -1;
        } else {
            if (o + n + 2 > cap) return -1;
            if (o) out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    if (cap) out[o] = '\0';
    return 0;
}

/* Parse a small JSON file of the archive into an object. */
static int load_json(img_lookup_fn get, void *ud, const char *path, struct json_object **out,
                     struct img_file *f, sbx_err *err)
{
    if (get(ud, path, f) < 0)
        return E_INVALID(err, "%s is referenced but not in the archive", path);
    struct json_tokener *tok = json_tokener_new();
    if (!tok) return sbx_error(err, ENOMEM, "json tokener");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    *out = json_tokener_parse_ex(tok, f->data, (int)f->len);
    int ok = *out && json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(*out, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        if (*out) json_object_put(*out);
        *out = NULL;
        return E_INVALID(err, "%s is not a JSON object", path);
    }
    return 0;
}

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static struct json_object *arr_of(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}

static struct json_object *obj_of(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_object))
        return NULL;
    return v;
}

/* Keep what a session may want from an image config (docker and OCI spell it alike). */
static int take_config(struct img_plan *p, struct json_object *cfg, sbx_err *err)
{
    struct json_object *c = json_object_new_object();
    if (!c) return sbx_error(err, ENOMEM, "config");
    const char *os = str_of(cfg, "os"), *arch = str_of(cfg, "architecture");
    if (os) json_object_object_add(c, "os", json_object_new_string(os));
    if (arch) json_object_object_add(c, "architecture", json_object_new_string(arch));
    struct json_object *inner = obj_of(cfg, "config");
    static const struct {
        const char *from, *to;
    } keys[] = {{"Env", "env"}, {"Cmd", "cmd"}, {"Entrypoint", "entrypoint"},
                {"WorkingDir", "workdir"}, {"User", "user"}};
    for (size_t i = 0; inner && i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct json_object *v;
        if (!json_object_object_get_ex(inner, keys[i].from, &v) || !v) continue;
        if (json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_array))
            json_object_object_add(c, keys[i].to, json_object_get(v));
    }
    p->config = c;
    struct json_object *diff = arr_of(obj_of(cfg, "rootfs"), "diff_ids");
    if (diff && (int)json_object_array_length(diff) == p->nlayers) {
        for (int i = 0; i < p->nlayers; i++) {
            const char *d = json_object_get_string(json_object_array_get_idx(diff, (size_t)i));
            if (d && img_digest_hex(d, NULL)) snprintf(p->diff_id[i], sizeof(p->diff_id[i]), "%s", d);
        }
    } else if (diff) {
        return E_INVALID(err, "image config lists %zu layers (rootfs.diff_ids) but the manifest %d",
                         json_object_array_length(diff), p->nlayers);
    }
    return 0;
}

/* "docker.io/library/alpine:3.19" -> "alpine:3.19"; names are checked by sbxd. */
static void set_name(struct img_plan *p, const char *ref)
{
    if (!ref || !*ref) return;
    if (strncmp(ref, "docker.io/library/", 18) == 0) ref += 18;
    else if (strncmp(ref, "docker.io/", 10) == 0) ref += 10;
    snprintf(p->name, sizeof(p->name), "%s", ref);
}

int img_plan_docker(img_lookup_fn get, void *ud, struct img_plan *p, sbx_err *err)
{
    memset(p, 0, sizeof(*p));
    p->format = "docker";
    struct img_file f;
    struct json_object *m = NULL;
    if (get(ud, "manifest.json", &f) < 0) return E_INVALID(err, "manifest.json is missing");
    struct json_tokener *tok = json_tokener_new();
    if (!tok) return sbx_error(err, ENOMEM, "json tokener");
    m = json_tokener_parse_ex(tok, f.data, (int)f.len);
    json_tokener_free(tok);
    if (!m || !json_object_is_type(m, json_type_array)) {
        if (m) json_object_put(m);
        return E_INVALID(err, "manifest.json: expected a JSON array (docker save format)");
    }
    int rc = -1;
    size_t n = json_object_array_length(m);
    if (n != 1) {
        E_INVALID(err,
                  "manifest.json holds %zu images; import one at a time (docker save IMAGE:TAG)",
                  n);
        goto out;
    }
    struct json_object *img = json_object_array_get_idx(m, 0);
    const char *cfgpath = str_of(img, "Config");
    struct json_object *layers = arr_of(img, "Layers");
    if (!cfgpath || !layers) {
        E_INVALID(err, "manifest.json: entry without \"Config\" or \"Layers\"");
        goto out;
    }
    struct json_object *tags = arr_of(img, "RepoTags");
    if (tags && json_object_array_length(tags) > 0)
        set_name(p, json_object_get_string(json_object_array_get_idx(tags, 0)));
    size_t nl = json_object_array_length(layers);
    if (nl > IMG_MAX_LAYERS) {
        E_INVALID(err, "image has %zu layers; at most %d are supported", nl, IMG_MAX_LAYERS);
        goto out;
    }
    p->nlayers = (int)nl;
    for (size_t i = 0; i < nl; i++) {
        const char *lp = json_object_get_string(json_object_array_get_idx(layers, i));
        char clean[IMG_PATH_MAX];
        if (!lp || img_clean_path(lp, clean, sizeof(clean)) < 0 || !*clean) {
            E_INVALID(err, "manifest.json: layer %zu has an invalid path", i);
            goto out;
        }
        snprintf(p->layer_path[i], IMG_PATH_MAX, "%s", clean);
        char hex[65];
        if (strncmp(clean, "blobs/sha256/", 13) == 0 && strlen(clean) == 13 + 64) {
            snprintf(hex, sizeof(hex), "%s", clean + 13);
            snprintf(p->layer_digest[i], sizeof(p->layer_digest[i]), "sha256:%s", hex);
        }
    }
    char clean[IMG_PATH_MAX];
    if (img_clean_path(cfgpath, clean, sizeof(clean)) < 0) {
        E_INVALID(err, "manifest.json: invalid Config path");
        goto out;
    }
    struct json_object *cfg = NULL;
    if (load_json(get, ud, clean, &cfg, &f, err) < 0) goto out;
    /* the config file is named after its digest: "<hex>.json" or blobs/sha256/<hex> */
    const char *base = strrchr(clean, '/') ? strrchr(clean, '/') + 1 : clean;
    if (strlen(base) >= 64 && strncmp(base, f.sha256, 64) != 0) {
        json_object_put(cfg);
        E_DIGEST(err, "image config %s: content has digest sha256:%s", clean, f.sha256);
        goto out;
    }
    snprintf(p->id, sizeof(p->id), "sha256:%s", f.sha256);
    rc = take_config(p, cfg, err);
    json_object_put(cfg);
out:
    json_object_put(m);
    if (rc < 0) img_plan_free(p);
    return rc;
}

static int is_index_type(const char *mt)
{
    return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
                  strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

static int layer_type_ok(const char *mt)
{
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };
    if (!mt) return 1; /* absent: libarchive detects the compression */
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(mt, ok[i]) == 0) return 1;
    return 0;
}

/* Load the blob a descriptor points at, checking digest and size. */
static int load_desc(img_lookup_fn get, void *ud, struct json_object *desc, const char *what,
                     struct json_object **out, char *hex, sbx_err *err)
{
    const char *dg = str_of(desc, "digest");
    if (!img_digest_hex(dg, hex))
        return E_INVALID(err, "%s: digest \"%s\" is not sha256:<64 hex>", what, dg ? dg : "");
    char path[96];
    snprintf(path, sizeof(path), "blobs/sha256/%s", hex);
    struct img_file f;
    if (load_json(get, ud, path, out, &f, err) < 0) return sbx_error_wrap(err, "%s", what);
    if (strcmp(f.sha256, hex) != 0) {
        json_object_put(*out);
        *out = NULL;
        return E_DIGEST(err, "%s %s: content has digest sha256:%s", what, path, f.sha256);
    }
    struct json_object *sz;
    if (json_object_object_get_ex(desc, "size", &sz) && json_object_get_int64(sz) != (int64_t)f.len) {
        json_object_put(*out);
        *out = NULL;
        return E_DIGEST(err, "%s %s: size %zu, descriptor says %lld", what, path, f.len,
                        (long long)json_object_get_int64(sz));
    }
    return 0;
}

static int platform_ok(struct json_object *desc, const char *arch)
{
    struct json_object *pl = obj_of(desc, "platform");
    if (!pl) return 1;
    const char *os = str_of(pl, "os"), *a = str_of(pl, "architecture");
    return (!os || strcmp(os, "linux") == 0) && (!a || strcmp(a, arch) == 0);
}

static const char *ref_name(struct json_object *desc)
{
    struct json_object *an = obj_of(desc, "annotations");
    const char *n = str_of(an, "io.containerd.image.name");
    return n ? n : str_of(an, "org.opencontainers.image.ref.name");
}

/* Find the image manifest for linux/arch under an index (recursing into nested indexes). */
static int pick_manifest(img_lookup_fn get, void *ud, struct json_object *index, const char *arch,
                         int depth, struct json_object **desc_out, struct img_plan *p, sbx_err *err)
{
    struct json_object *ms = arr_of(index, "manifests");
    if (!ms) return E_INVALID(err, "index has no \"manifests\"");
    size_t n = json_object_array_length(ms);
    for (size_t i = 0; i < n; i++) {
        struct json_object *d = json_object_array_get_idx(ms, i);
        if (!platform_ok(d, arch)) continue;
        const char *mt = str_of(d, "mediaType");
        if (!p->name[0]) set_name(p, ref_name(d));
        if (is_index_type(mt)) {
            if (depth >= 4) return E_INVALID(err, "indexes nested deeper than 4");
            struct json_object *sub = NULL;
            char hex[65];
            if (load_desc(get, ud, d, "nested index", &sub, hex, err) < 0) return -1;
            int r = pick_manifest(get, ud, sub, arch, depth + 1, desc_out, p, err);
            if (r <= 0) {
                json_object_put(sub);
                if (r < 0) return -1;
                continue;
            }
            json_object_put(sub); /* *desc_out holds its own reference */
            return 1;
        }
        *desc_out = json_object_get(d);
        return 1;
    }
    return 0;
}

int img_plan_oci(img_lookup_fn get, void *ud, const char *arch, struct img_plan *p, sbx_err *err)
{
    memset(p, 0, sizeof(*p));
    p->format = "oci";
    struct img_file f;
    struct json_object *index = NULL, *desc = NULL, *man = NULL, *cfg = NULL;
    int rc = -1;
    if (load_json(get, ud, "index.json", &index, &f, err) < 0) return -1;
    int r = pick_manifest(get, ud, index, arch, 0, &desc, p, err);
    if (r < 0) goto out;
    if (r == 0) {
        E_INVALID(err, "index.json has no image manifest for linux/%s", arch);
        goto out;
    }
    char hex[65];
    if (load_desc(get, ud, desc, "image manifest", &man, hex, err) < 0) goto out;
    snprintf(p->id, sizeof(p->id), "sha256:%s", hex);
    struct json_object *layers = arr_of(man, "layers");
    struct json_object *cdesc = obj_of(man, "config");
    if (!layers || !cdesc) {
        E_INVALID(err, "image manifest sha256:%s has no \"layers\" or \"config\"", hex);
        goto out;
    }
    size_t nl = json_object_array_length(layers);
    if (nl > IMG_MAX_LAYERS) {
        E_INVALID(err, "image has %zu layers; at most %d are supported", nl, IMG_MAX_LAYERS);
        goto out;
    }
    p->nlayers = (int)nl;
    for (size_t i = 0; i < nl; i++) {
        struct json_object *l = json_object_array_get_idx(layers, i);
        const char *dg = str_of(l, "digest"), *mt = str_of(l, "mediaType");
        char lh[65];
        if (!img_digest_hex(dg, lh)) {
            E_INVALID(err, "layer %zu: digest \"%s\" is not sha256:<64 hex>", i, dg ? dg : "");
            goto out;
        }
        if (!layer_type_ok(mt)) {
            sbx_error_kind(err, SBX_E_INVALID, "unsupported_layer",
                           "layer %zu (%s): media type %s is not supported (plain, gzip or zstd "
                           "tar layers only)",
                           i, dg, mt);
            goto out;
        }
        snprintf(p->layer_path[i], IMG_PATH_MAX, "blobs/sha256/%s", lh);
        snprintf(p->layer_digest[i], sizeof(p->layer_digest[i]), "%s", dg);
    }
    char ch[65];
    if (load_desc(get, ud, cdesc, "image config", &cfg, ch, err) < 0) goto out;
    rc = take_config(p, cfg, err);
out:
    if (index) json_object_put(index);
    if (desc) json_object_put(desc);
    if (man) json_object_put(man);
    if (cfg) json_object_put(cfg);
    if (rc < 0) img_plan_free(p);
    return rc;
}
