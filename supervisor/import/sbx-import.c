/* sbx-import - sbxd's helper that turns one archive on stdin into an image
 * of the content-addressed store (docs/images.md). sbxd runs one per import
 * request and relays the request body to its stdin; a crash or a hostile
 * archive costs this process, never the daemon.
 *
 *   sbx-import --store DIR --tmp DIR [--format auto|rootfs|docker|oci]
 *              [--max-bytes N] [--max-entries N] [--arch A]
 *
 * Input: a plain rootfs tarball (tar, tar.gz, tar.zst, ...), a `docker save`
 * archive, or an OCI image layout as a tarball, told apart by the first
 * entries (--format overrides). It is read once, as a stream: layers are
 * unpacked while they arrive and hashed on the way; small JSON files
 * (manifests, configs) are held in memory. Layers land in --tmp and are only
 * renamed into STORE/layers/<sha256> once the whole image checked out, so a
 * failed import leaves nothing in the store.
 *
 * Output: one JSON line on stdout, {"image": RECORD} or {"error": {"code",
 * "message"}}; progress lines on stderr. Exit status 0 or 1. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "json.h"
#include "layer.h"
#include "manifest.h"
#include "util.h"

#define META_MAX (4u << 20)    /* one JSON file of the archive */
#define META_TOTAL (64u << 20) /* all of them */
#define MAX_STAGED 512

struct hasher {
    EVP_MD_CTX *ctx;
};

static int hash_init(struct hasher *h)
{
    h->ctx = EVP_MD_CTX_new();
    return h->ctx && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static void hash_update(struct hasher *h, const void *p, size_t n)
{
    EVP_DigestUpdate(h->ctx, p, n);
}

static void hash_final(struct hasher *h, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    hex[64] = '\0';
}

static void hash_hex(const void *p, size_t n, char hex[65])
{
    struct hasher h;
    if (hash_init(&h) < 0) abort();
    hash_update(&h, p, n);
    hash_final(&h, hex);
}

/* ---- the raw input: stdin, hashed and counted ---- */
struct rawin {
    int fd;
    uint64_t total, max, next_report;
    struct hasher h;
    char buf[256 * 1024];
};

static la_ssize_t raw_read(struct archive *a, void *ud, const void **out)
{
    struct rawin *in = ud;
    ssize_t n;
    do n = read(in->fd, in->buf, sizeof(in->buf));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (a) archive_set_error(a, errno, "read input");
        return -1;
    }
    hash_update(&in->h, in->buf, (size_t)n);
    in->total += (uint64_t)n;
    if (in->total > in->max) {
        errno = EFBIG;
        if (a) archive_set_error(a, EFBIG, "input larger than %llu bytes", (unsigned long long)in->max);
        return -1;
    }
    if (in->total >= in->next_report) {
        fprintf(stderr, "received %llu MiB\n", (unsigned long long)(in->total >> 20));
        in->next_report += 256u << 20;
    }
    *out = in->buf;
    return n;
}

/* Read what libarchive left after the end of the archive (padding), so that
 * the digest covers the whole input. */
static int raw_drain(struct rawin *in)
{
    for (;;) {
        const void *p;
        la_ssize_t n = raw_read(NULL, in, &p);
        if (n <= 0) return (int)n;
    }
}

/* ---- small files kept in memory ---- */
struct meta {
    char path[IMG_PATH_MAX];
    char *data;
    size_t len;
    char sha[65];
};

/* ---- the import ---- */
struct staged {
    char path[IMG_PATH_MAX]; /* archive path of the layer */
    char hex[65];            /* its blob digest */
    char dir[PATH_MAX];      /* staging dir (holds root/), "" when already in the store */
    int compressed;
    uint64_t bytes, entries;
};

struct link {
    char path[IMG_PATH_MAX], target[IMG_PATH_MAX];
};

struct imp {
    const char *store, *tmp, *format, *arch;
    int storefd;
    struct imp_limits lim;
    struct imp_totals tot;
    struct rawin *in;
    struct meta *meta;
    int nmeta;
    size_t meta_bytes;
    struct staged st[MAX_STAGED];
    int nst;
    struct link *links;
    int nlinks;
};

static const char *find_link(struct imp *im, const char *path)
{
    for (int i = 0; i < im->nlinks; i++)
        if (strcmp(im->links[i].path, path) == 0) return im->links[i].target;
    return NULL;
}

static int lookup(void *ud, const char *path, struct img_file *out)
{
    struct imp *im = ud;
    for (int hop = 0; hop < 8 && path; hop++) {
        for (int i = 0; i < im->nmeta; i++)
            if (strcmp(im->meta[i].path, path) == 0) {
                out->data = im->meta[i].data;
                out->len = im->meta[i].len;
                out->sha256 = im->meta[i].sha;
                return 0;
            }
        path = find_link(im, path);
    }
    return -1;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static int layer_in_store(struct imp *im, const char *hex)
{
    char p[100];
    snprintf(p, sizeof(p), "layers/%s/root", hex);
    struct stat st;
    return fstatat(im->storefd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static struct staged *staged_by_hex(struct imp *im, const char *hex)
{
    for (int i = 0; i < im->nst; i++)
        if (strcmp(im->st[i].hex, hex) == 0) return &im->st[i];
    return NULL;
}

static struct staged *staged_by_path(struct imp *im, const char *path)
{
    for (int hop = 0; hop < 8 && path; hop++) {
        for (int i = 0; i < im->nst; i++)
            if (strcmp(im->st[i].path, path) == 0) return &im->st[i];
        path = find_link(im, path);
    }
    return NULL;
}

static struct staged *new_stage(struct imp *im, const char *path, sbx_err *err)
{
    if (im->nst >= MAX_STAGED) {
        sbx_error_kind(err, SBX_E_INVALID, "invalid_image", "the archive holds more than %d layers",
                       MAX_STAGED);
        return NULL;
    }
    struct staged *s = &im->st[im->nst];
    memset(s, 0, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "%s", path);
    snprintf(s->dir, sizeof(s->dir), "%s/L%d", im->tmp, im->nst);
    char root[PATH_MAX + 8];
    snprintf(root, sizeof(root), "%s/root", s->dir);
    if (mkdir(s->dir, 0700) < 0 || mkdir(root, 0755) < 0) {
        sbx_error(err, errno, "mkdir %s", root);
        return NULL;
    }
    im->nst++;
    return s;
}

/* A nested archive reading one entry of the outer one, hashing as it goes. */
struct nested {
    struct archive *outer;
    struct hasher h;
    uint64_t n;
    char buf[128 * 1024];
};

static la_ssize_t nested_read(struct archive *a, void *ud, const void **out)
{
    struct nested *x = ud;
    la_ssize_t n = archive_read_data(x->outer, x->buf, sizeof(x->buf));
    if (n < 0) {
        if (a) archive_set_error(a, archive_errno(x->outer), "%s", archive_error_string(x->outer));
        return -1;
    }
    hash_update(&x->h, x->buf, (size_t)n);
    x->n += (uint64_t)n;
    *out = x->buf;
    return n;
}

static int drain_entry(struct nested *x, sbx_err *err)
{
    const void *p;
    la_ssize_t n;
    while ((n = nested_read(NULL, x, &p)) > 0) {
    }
    if (n < 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", "reading the archive: %s",
                              archive_error_string(x->outer));
    return 0;
}

static void free_reader(struct archive **a)
{
    if (*a) archive_read_free(*a);
}

/* Unpack a layer blob (from memory when mem != NULL, else streamed from the
 * outer archive's current entry) into a new staging dir; returns its digest. */
static int stage_layer(struct imp *im, struct archive *outer, const char *path, const void *mem,
                       size_t memlen, const char *expect_hex, sbx_err *err)
{
    struct staged *s = new_stage(im, path, err);
    if (!s) return -1;
    _cleanup_(free_reader) struct archive *a = archive_read_new();
    if (!a) return sbx_error(err, ENOMEM, "archive reader");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    struct nested *x = NULL;
    int r;
    if (mem) {
        r = archive_read_open_memory(a, mem, memlen);
    } else {
        x = calloc(1, sizeof(*x));
        if (!x || hash_init(&x->h) < 0) {
            free(x);
            return sbx_error(err, ENOMEM, "hasher");
        }
        x->outer = outer;
        r = archive_read_open(a, x, NULL, nested_read, NULL);
    }
    char root[PATH_MAX + 8];
    snprintf(root, sizeof(root), "%s/root", s->dir);
    struct imp_totals before = im->tot;
    int rc = -1;
    if (r != ARCHIVE_OK) {
        sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", "layer %s: %s", path,
                       archive_error_string(a));
        goto out;
    }
    if (layer_extract(a, NULL, 0, NULL, root, 1, &im->lim, &im->tot, err) < 0) {
        sbx_error_wrap(err, "layer %s", path);
        goto out;
    }
    s->compressed = archive_filter_code(a, 0) != ARCHIVE_FILTER_NONE;
    if (x) {
        if (drain_entry(x, err) < 0) goto out;
        hash_final(&x->h, s->hex);
    } else {
        hash_hex(mem, memlen, s->hex);
    }
    if (expect_hex && strcmp(expect_hex, s->hex) != 0) {
        sbx_error_kind(err, SBX_E_INVALID, "digest_mismatch",
                       "layer %s: content has digest sha256:%s, not the sha256:%s it is named by",
                       path, s->hex, expect_hex);
        goto out;
    }
    s->bytes = im->tot.bytes - before.bytes;
    s->entries = im->tot.entries - before.entries;
    rc = 0;
out:
    if (x) {
        if (x->h.ctx) EVP_MD_CTX_free(x->h.ctx);
        free(x);
    }
    return rc;
}

static int read_small(struct archive *a, const char *path, int64_t size, char **out, size_t *len,
                      sbx_err *err)
{
    if (size < 0 || (uint64_t)size > META_MAX)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                              "%s: %lld bytes, metadata files are limited to 4 MiB", path,
                              (long long)size);
    char *buf = malloc((size_t)size + 1);
    if (!buf) return sbx_error(err, ENOMEM, "read %s", path);
    size_t got = 0;
    while (got < (size_t)size) {
        la_ssize_t n = archive_read_data(a, buf + got, (size_t)size - got);
        if (n < 0) {
            free(buf);
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", "%s: %s", path,
                                  archive_error_string(a));
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

static int add_meta(struct imp *im, const char *path, char *data, size_t len, sbx_err *err)
{
    if (im->meta_bytes + len > META_TOTAL) {
        free(data);
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                              "the archive's metadata files exceed 64 MiB");
    }
    struct meta *m = realloc(im->meta, sizeof(*m) * (size_t)(im->nmeta + 1));
    if (!m) {
        free(data);
        return sbx_error(err, ENOMEM, "metadata");
    }
    im->meta = m;
    struct meta *e = &m[im->nmeta++];
    snprintf(e->path, sizeof(e->path), "%s", path);
    e->data = data;
    e->len = len;
    hash_hex(data, len, e->sha);
    im->meta_bytes += len;
    return 0;
}

static int looks_json(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t') continue;
        return p[i] == '{' || p[i] == '[';
    }
    return 0;
}

/* One entry of a docker save / OCI layout archive. */
static int archive_entry_one(struct imp *im, struct archive *a, struct archive_entry *e,
                             sbx_err *err)
{
    char path[IMG_PATH_MAX];
    const char *raw = archive_entry_pathname(e);
    if (!raw || img_clean_path(raw, path, sizeof(path)) < 0)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive",
                              "entry \"%.200s\": invalid path", raw ? raw : "");
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFLNK) {
        /* legacy docker save links duplicate layers: "<id>/layer.tar -> ../<id2>/layer.tar" */
        const char *t = archive_entry_symlink(e);
        char joined[2 * IMG_PATH_MAX], target[IMG_PATH_MAX];
        const char *slash = strrchr(path, '/');
        snprintf(joined, sizeof(joined), "%.*s/%s", slash ? (int)(slash - path) : 0, path,
                 t ? t : "");
        if (!t || t[0] == '/' || img_clean_path(joined, target, sizeof(target)) < 0)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive",
                                  "entry \"%s\": link target leaves the archive", path);
        struct link *l = realloc(im->links, sizeof(*l) * (size_t)(im->nlinks + 1));
        if (!l) return sbx_error(err, ENOMEM, "links");
        im->links = l;
        snprintf(l[im->nlinks].path, IMG_PATH_MAX, "%s", path);
        snprintf(l[im->nlinks].target, IMG_PATH_MAX, "%s", target);
        im->nlinks++;
        return 0;
    }
    if (type != AE_IFREG) return 0;
    int64_t size = archive_entry_size(e);
    size_t plen = strlen(path);
    if (strncmp(path, "blobs/", 6) == 0) {
        if (strncmp(path, "blobs/sha256/", 13) != 0 || !is_hex64(path + 13, plen - 13))
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                                  "%s: only sha256 blobs are supported", path);
        const char *hex = path + 13;
        if (size >= 0 && (uint64_t)size <= META_MAX) {
            char *buf;
            size_t len;
            if (read_small(a, path, size, &buf, &len, err) < 0) return -1;
            char got[65];
            hash_hex(buf, len, got);
            if (strcmp(got, hex) != 0) {
                free(buf);
                return sbx_error_kind(err, SBX_E_INVALID, "digest_mismatch",
                                      "%s: content has digest sha256:%s", path, got);
            }
            if (looks_json(buf, len)) return add_meta(im, path, buf, len, err);
            int r = 0;
            if (!layer_in_store(im, hex) && !staged_by_hex(im, hex))
                r = stage_layer(im, NULL, path, buf, len, hex, err);
            free(buf);
            return r;
        }
        if (layer_in_store(im, hex) || staged_by_hex(im, hex)) {
            struct nested x = {.outer = a};
            if (hash_init(&x.h) < 0) return sbx_error(err, ENOMEM, "hasher");
            int r = drain_entry(&x, err);
            char got[65];
            hash_final(&x.h, got);
            if (r == 0 && strcmp(got, hex) != 0)
                return sbx_error_kind(err, SBX_E_INVALID, "digest_mismatch",
                                      "%s: content has digest sha256:%s", path, got);
            return r;
        }
        return stage_layer(im, a, path, NULL, 0, hex, err);
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strcmp(base, "layer.tar") == 0) return stage_layer(im, a, path, NULL, 0, NULL, err);
    if (strcmp(path, "manifest.json") == 0 || strcmp(path, "index.json") == 0 ||
        strcmp(path, "oci-layout") == 0 || strcmp(path, "repositories") == 0 ||
        (plen > 5 && strcmp(path + plen - 5, ".json") == 0) || strcmp(base, "json") == 0) {
        char *buf;
        size_t len;
        if (read_small(a, path, size, &buf, &len, err) < 0) return -1;
        return add_meta(im, path, buf, len, err);
    }
    fprintf(stderr, "ignoring %s\n", path);
    return 0;
}

static int is_image_archive_name(const char *p)
{
    if (strcmp(p, "oci-layout") == 0 || strcmp(p, "index.json") == 0 ||
        strcmp(p, "manifest.json") == 0 || strcmp(p, "repositories") == 0 ||
        strcmp(p, "blobs") == 0 || strncmp(p, "blobs/", 6) == 0)
        return 1;
    size_t n = strcspn(p, "/.");
    return is_hex64(p, n) && (p[n] == '\0' || p[n] == '/' || strcmp(p + n, ".json") == 0);
}

static int write_json_at(int dirfd, const char *name, struct json_object *o, sbx_err *err)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return sbx_error(err, errno, "create %s", tmp);
    if (write_all(fd, s, strlen(s)) < 0 || write_all(fd, "\n", 1) < 0 || fsync(fd) < 0)
        return sbx_error(err, errno, "write %s", tmp);
    if (renameat(dirfd, tmp, dirfd, name) < 0) return sbx_error(err, errno, "rename %s", name);
    return 0;
}

static uint64_t layer_bytes(struct imp *im, const char *hex)
{
    char p[100], buf[512];
    snprintf(p, sizeof(p), "layers/%s/layer.json", hex);
    if (read_file_at(im->storefd, p, buf, sizeof(buf)) < 0) return 0;
    struct json_object *o = json_tokener_parse(buf), *v;
    uint64_t n = 0;
    if (o && json_object_object_get_ex(o, "size", &v)) n = (uint64_t)json_object_get_int64(v);
    if (o) json_object_put(o);
    return n;
}

/* Move the staged layers the plan uses into the store, then write the record. */
static int commit(struct imp *im, const char *format, const char *id, char hexes[][65], int n,
                  struct json_object *config, struct json_object **record, sbx_err *err)
{
    syncfs(im->storefd);
    for (int i = 0; i < n; i++) {
        struct staged *s = staged_by_hex(im, hexes[i]);
        if (!s || !s->dir[0] || layer_in_store(im, hexes[i])) continue;
        struct json_object *lj = json_object_new_object();
        char dg[72];
        snprintf(dg, sizeof(dg), "sha256:%s", s->hex);
        json_object_object_add(lj, "digest", json_object_new_string(dg));
        json_object_object_add(lj, "size", json_object_new_int64((int64_t)s->bytes));
        json_object_object_add(lj, "entries", json_object_new_int64((int64_t)s->entries));
        _cleanup_close_ int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = dfd < 0 ? sbx_error(err, errno, "open %s", s->dir)
                        : write_json_at(dfd, "layer.json", lj, err);
        json_object_put(lj);
        if (r < 0) return -1;
        char dst[PATH_MAX];
        snprintf(dst, sizeof(dst), "%s/layers/%s", im->store, s->hex);
        if (rename(s->dir, dst) < 0 && errno != EEXIST && errno != ENOTEMPTY)
            return sbx_error(err, errno, "store layer %s", s->hex);
        s->dir[0] = '\0';
    }
    struct json_object *rec = json_object_new_object();
    struct json_object *layers = json_object_new_array();
    uint64_t size = 0;
    for (int i = 0; i < n; i++) {
        char dg[72];
        snprintf(dg, sizeof(dg), "sha256:%s", hexes[i]);
        json_object_array_add(layers, json_object_new_string(dg));
        size += layer_bytes(im, hexes[i]);
    }
    char now[32];
    fmt_time_utc(time(NULL), now, sizeof(now));
    json_object_object_add(rec, "id", json_object_new_string(id));
    json_object_object_add(rec, "format", json_object_new_string(format));
    json_object_object_add(rec, "layers", layers);
    json_object_object_add(rec, "size", json_object_new_int64((int64_t)size));
    json_object_object_add(rec, "imported", json_object_new_string(now));
    json_object_object_add(rec, "config", config ? json_object_get(config) : json_object_new_object());
    struct json_object *rep = json_object_new_object();
    json_object_object_add(rep, "input_bytes", json_object_new_int64((int64_t)im->in->total));
    json_object_object_add(rep, "entries", json_object_new_int64((int64_t)im->tot.entries));
    json_object_object_add(rep, "devices_skipped",
                           json_object_new_int64((int64_t)im->tot.devices_skipped));
    json_object_object_add(rep, "setid_bits_cleared",
                           json_object_new_int64((int64_t)im->tot.setid_cleared));
    json_object_object_add(rep, "whiteouts", json_object_new_int64((int64_t)im->tot.whiteouts));
    char fname[100];
    snprintf(fname, sizeof(fname), "images/%s.json", id + 7);
    if (write_json_at(im->storefd, fname, rec, err) < 0) {
        json_object_put(rec);
        json_object_put(rep);
        return -1;
    }
    json_object_object_add(rec, "import", rep);
    *record = rec;
    return 0;
}

static int run_rootfs(struct imp *im, struct archive *a, struct archive_entry **pre, int npre,
                      struct archive_entry *cur, struct json_object **rec, sbx_err *err)
{
    struct staged *s = new_stage(im, "-", err);
    if (!s) return -1;
    char root[PATH_MAX + 8];
    snprintf(root, sizeof(root), "%s/root", s->dir);
    if (layer_extract(a, pre, npre, cur, root, 0, &im->lim, &im->tot, err) < 0) return -1;
    if (raw_drain(im->in) < 0) return sbx_error(err, errno, "read input");
    hash_final(&im->in->h, s->hex);
    s->bytes = im->tot.bytes;
    s->entries = im->tot.entries;
    char id[72];
    snprintf(id, sizeof(id), "sha256:%s", s->hex);
    char hexes[1][65];
    memcpy(hexes[0], s->hex, 65);
    return commit(im, "rootfs", id, hexes, 1, NULL, rec, err);
}

static int run_image(struct imp *im, struct archive *a, struct archive_entry *cur,
                     struct json_object **rec, sbx_err *err)
{
    int r = cur ? archive_entry_one(im, a, cur, err) : 0;
    while (r == 0) {
        struct archive_entry *e;
        int h = archive_read_next_header(a, &e);
        if (h == ARCHIVE_EOF) break;
        if (h < ARCHIVE_WARN)
            return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", "reading the archive: %s",
                                  archive_error_string(a));
        r = archive_entry_one(im, a, e, err);
    }
    if (r < 0) return -1;
    struct img_plan plan;
    struct img_file f;
    if (strcmp(im->format, "docker") == 0 ||
        (strcmp(im->format, "oci") != 0 && lookup(im, "manifest.json", &f) == 0)) {
        if (img_plan_docker(lookup, im, &plan, err) < 0) return sbx_error_wrap(err, "docker save");
    } else if (lookup(im, "index.json", &f) == 0) {
        if (img_plan_oci(lookup, im, im->arch, &plan, err) < 0) return sbx_error_wrap(err, "OCI");
    } else {
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                              "the archive has neither manifest.json (docker save) nor index.json "
                              "(OCI image layout)");
    }
    char(*hexes)[65] = calloc((size_t)plan.nlayers + 1, 65);
    int rc = -1;
    if (!hexes) {
        sbx_error(err, ENOMEM, "layers");
        goto out;
    }
    for (int i = 0; i < plan.nlayers; i++) {
        struct staged *s = staged_by_path(im, plan.layer_path[i]);
        if (plan.layer_digest[i][0]) {
            memcpy(hexes[i], plan.layer_digest[i] + 7, 65);
        } else if (s) {
            memcpy(hexes[i], s->hex, 65);
        } else {
            sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                           "layer %d (%s) is in the manifest but not in the archive", i,
                           plan.layer_path[i]);
            goto out;
        }
        if (!staged_by_hex(im, hexes[i]) && !layer_in_store(im, hexes[i])) {
            sbx_error_kind(err, SBX_E_INVALID, "invalid_image",
                           "layer %d (sha256:%s) is in the manifest but not in the archive", i,
                           hexes[i]);
            goto out;
        }
        /* an uncompressed layer's digest is its diff_id: check it against the config */
        s = staged_by_hex(im, hexes[i]);
        if (s && !s->compressed && plan.diff_id[i][0] && strcmp(plan.diff_id[i] + 7, hexes[i])) {
            sbx_error_kind(err, SBX_E_INVALID, "digest_mismatch",
                           "layer %d (%s) has digest sha256:%s but the image config says %s", i,
                           plan.layer_path[i], hexes[i], plan.diff_id[i]);
            goto out;
        }
    }
    if (plan.name[0]) json_object_object_add(plan.config, "name", json_object_new_string(plan.name));
    rc = commit(im, plan.format, plan.id, hexes, plan.nlayers, plan.config, rec, err);
out:
    free(hexes);
    img_plan_free(&plan);
    return rc;
}

static int run(struct imp *im, struct json_object **rec, sbx_err *err)
{
    _cleanup_(free_reader) struct archive *a = archive_read_new();
    if (!a) return sbx_error(err, ENOMEM, "archive reader");
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    if (archive_read_open(a, im->in, NULL, raw_read, NULL) != ARCHIVE_OK)
        return sbx_error_kind(err, SBX_E_INVALID, "invalid_archive",
                              "not a tar archive (plain, gzip, zstd or xz; a docker save archive "
                              "or an OCI layout tarball): %s",
                              archive_error_string(a));
    /* Tell the kinds apart by the first entry that is not the root itself. */
    struct archive_entry *pre[64];
    int npre = 0, rc = -1;
    struct archive_entry *e = NULL;
    for (;;) {
        int h = archive_read_next_header(a, &e);
        if (h == ARCHIVE_EOF) {
            e = NULL;
            break;
        }
        if (h < ARCHIVE_WARN) {
            sbx_error_kind(err, SBX_E_INVALID, "invalid_archive",
                           "not a tar archive (plain, gzip, zstd or xz; a docker save archive "
                           "or an OCI layout tarball): %s",
                           archive_error_string(a));
            goto out;
        }
        char p[IMG_PATH_MAX];
        const char *name = archive_entry_pathname(e);
        if (name && img_clean_path(name, p, sizeof(p)) == 0 && !*p && npre < 64) {
            pre[npre++] = archive_entry_clone(e);
            continue;
        }
        break;
    }
    if (!e && npre == 0) {
        sbx_error_kind(err, SBX_E_INVALID, "invalid_archive", "the archive is empty");
        goto out;
    }
    const char *fmt = im->format;
    if (strcmp(fmt, "auto") == 0) {
        char p[IMG_PATH_MAX];
        const char *name = e ? archive_entry_pathname(e) : NULL;
        int img = name && img_clean_path(name, p, sizeof(p)) == 0 && is_image_archive_name(p);
        fmt = img ? "image" : "rootfs";
    }
    if (strcmp(fmt, "rootfs") == 0) rc = run_rootfs(im, a, pre, npre, e, rec, err);
    else rc = run_image(im, a, e, rec, err);
out:
    for (int i = 0; i < npre; i++) archive_entry_free(pre[i]);
    return rc;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || end == s) return -1;
    *v = x;
    return 0;
}

int main(int argc, char **argv)
{
    static struct imp im;
    static struct rawin in;
    im.format = "auto";
    im.arch = img_host_arch();
    im.lim.max_bytes = 64ull << 30;
    im.lim.max_entries = 2000000;
    in.max = 64ull << 30;
    in.next_report = 256u << 20;
    static const struct option opts[] = {
        {"store", required_argument, 0, 's'},     {"tmp", required_argument, 0, 't'},
        {"format", required_argument, 0, 'f'},    {"max-bytes", required_argument, 0, 'b'},
        {"max-entries", required_argument, 0, 'e'}, {"arch", required_argument, 0, 'a'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': im.store = optarg; break;
        case 't': im.tmp = optarg; break;
        case 'f': im.format = optarg; break;
        case 'a': im.arch = optarg; break;
        case 'b':
            if (parse_u64(optarg, &im.lim.max_bytes) < 0) return 2;
            in.max = im.lim.max_bytes;
            break;
        case 'e':
            if (parse_u64(optarg, &im.lim.max_entries) < 0) return 2;
            break;
        default: return 2;
        }
    }
    if (!im.store || !im.tmp || im.store[0] != '/' || im.tmp[0] != '/') {
        fprintf(stderr, "usage: sbx-import --store DIR --tmp DIR [--format auto|rootfs|docker|oci]"
                        " [--max-bytes N] [--max-entries N] [--arch ARCH] < ARCHIVE\n");
        return 2;
    }
    if (strcmp(im.format, "auto") && strcmp(im.format, "rootfs") && strcmp(im.format, "docker") &&
        strcmp(im.format, "oci")) {
        fprintf(stderr, "sbx-import: --format must be auto, rootfs, docker or oci\n");
        return 2;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    umask(022);
    sbx_err err = {0};
    struct json_object *out = json_object_new_object(), *rec = NULL;
    in.fd = 0;
    im.in = &in;
    int rc = -1;
    im.storefd = open(im.store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (im.storefd < 0) sbx_error(&err, errno, "open store %s", im.store);
    else if (mkdir(im.tmp, 0700) < 0) sbx_error(&err, errno, "mkdir %s", im.tmp);
    else if (hash_init(&in.h) < 0) sbx_error(&err, ENOMEM, "sha256");
    else rc = run(&im, &rec, &err);
    if (rc < 0 && in.total > in.max)
        sbx_error_kind(&err, SBX_E_TOOLARGE, "image_too_large",
                       "the archive is larger than %llu bytes (sbxd --image-max-bytes)",
                       (unsigned long long)in.max);
    if (rc == 0) {
        json_object_object_add(out, "image", rec);
    } else {
        static const char *const codes[] = {"internal", "invalid_request", "not_found",
                                            "conflict", "too_large", "unavailable",
                                            "forbidden"};
        json_object_object_add(out, "error", json_err_object(&err, codes[err.kind % 7]));
    }
    if (chdir("/") == 0) rm_rf(im.tmp, &err);
    const char *s = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
    printf("%s\n", s);
    fflush(stdout);
    json_object_put(out);
    return rc == 0 ? 0 : 1;
}
