/* Unit tests: image archive metadata -> layer plan (supervisor/import/manifest.c). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "manifest.h"
#include "unit.h"

struct file {
    const char *path;
    char *data;
    char sha[65];
};
static struct file files[16];
static int nfiles;

static void sha_hex(const char *p, size_t n, char hex[65])
{
    unsigned char md[32];
    unsigned int len;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
}

static void reset(void)
{
    for (int i = 0; i < nfiles; i++) free(files[i].data);
    nfiles = 0;
}

/* add a file; returns its sha256 hex (static storage) */
static const char *add(const char *path, const char *data)
{
    struct file *f = &files[nfiles++];
    f->path = path;
    f->data = strdup(data);
    sha_hex(data, strlen(data), f->sha);
    return f->sha;
}

/* add a blob under blobs/sha256/<its digest> */
static const char *blob(const char *data)
{
    static char paths[16][100];
    char hex[65];
    sha_hex(data, strlen(data), hex);
    snprintf(paths[nfiles], sizeof(paths[0]), "blobs/sha256/%s", hex);
    return add(paths[nfiles], data);
}

static int lookup(void *ud, const char *path, struct img_file *out)
{
    (void)ud;
    for (int i = 0; i < nfiles; i++)
        if (strcmp(files[i].path, path) == 0) {
            out->data = files[i].data;
            out->len = strlen(files[i].data);
            out->sha256 = files[i].sha;
            return 0;
        }
    return -1;
}

static const char *L1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *L2 = "2222222222222222222222222222222222222222222222222222222222222222";

static void test_clean_path_strips_prefixes_and_refuses_dotdot(void)
{
    char out[64];
    CHECK(img_clean_path("./etc//passwd", out, sizeof(out)) == 0);
    CHECK_STR(out, "etc/passwd");
    CHECK(img_clean_path("/abs/./x/", out, sizeof(out)) == 0);
    CHECK_STR(out, "abs/x");
    CHECK(img_clean_path("./", out, sizeof(out)) == 0);
    CHECK_STR(out, "");
    CHECK(img_clean_path("a/../b", out, sizeof(out)) < 0);
    CHECK(img_clean_path("../x", out, sizeof(out)) < 0);
    CHECK(img_clean_path("x/..", out, sizeof(out)) < 0);
    CHECK(img_clean_path("..a/b..", out, sizeof(out)) == 0);
    CHECK_STR(out, "..a/b..");
    CHECK(img_clean_path("0123456789012345678901234567890123456789012345678901234567890123456789",
                         out, sizeof(out)) < 0);
    char hex[65];
    CHECK(img_digest_hex("sha256:1111111111111111111111111111111111111111111111111111111111111111", hex));
    CHECK(!img_digest_hex("sha256:111", hex));
    CHECK(!img_digest_hex("sha512:1111111111111111111111111111111111111111111111111111111111111111", hex));
    CHECK(!img_digest_hex("sha256:111111111111111111111111111111111111111111111111111111111111111G", hex));
}

static void test_docker_legacy_manifest_gives_layers_in_order_and_config_digest(void)
{
    reset();
    char cfg[512], man[512];
    snprintf(cfg, sizeof(cfg),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=1\"],"
             "\"WorkingDir\":\"/w\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\","
             "\"sha256:%s\"]}}",
             L1, L2);
    char cfgsha[65];
    sha_hex(cfg, strlen(cfg), cfgsha);
    static char cfgpath[80];
    snprintf(cfgpath, sizeof(cfgpath), "%s.json", cfgsha);
    add(cfgpath, cfg);
    snprintf(man, sizeof(man),
             "[{\"Config\":\"%s\",\"RepoTags\":[\"docker.io/library/alpine:3.19\"],"
             "\"Layers\":[\"%s/layer.tar\",\"./%s/layer.tar\"]}]",
             cfgpath, L1, L2);
    add("manifest.json", man);
    struct img_plan p;
    sbx_err err;
    CHECK(img_plan_docker(lookup, NULL, &p, &err) == 0);
    CHECK(p.nlayers == 2);
    CHECK_STR(p.format, "docker");
    CHECK_STR(p.name, "alpine:3.19");
    char id[80];
    snprintf(id, sizeof(id), "sha256:%s", cfgsha);
    CHECK_STR(p.id, id);
    char lp[100];
    snprintf(lp, sizeof(lp), "%s/layer.tar", L2);
    CHECK_STR(p.layer_path[1], lp);
    CHECK_STR(p.layer_digest[0], "");
    CHECK(strncmp(p.diff_id[1], "sha256:2222", 11) == 0);
    CHECK_STR(json_object_to_json_string_ext(p.config, JSON_C_TO_STRING_PLAIN),
              "{\"os\":\"linux\",\"architecture\":\"amd64\",\"env\":[\"A=1\"],\"workdir\":\"\\/w\"}");
    img_plan_free(&p);

    /* a config whose bytes do not match its name */
    files[0].data[5] = 'X';
    sha_hex(files[0].data, strlen(files[0].data), files[0].sha); /* what the importer would see */
    CHECK(img_plan_docker(lookup, NULL, &p, &err) < 0);
    CHECK_STR(err.code, "digest_mismatch");
}

static void test_docker_archive_with_two_images_is_refused(void)
{
    reset();
    add("manifest.json", "[{\"Config\":\"a.json\",\"Layers\":[]},{\"Config\":\"b.json\",\"Layers\":[]}]");
    struct img_plan p;
    sbx_err err;
    CHECK(img_plan_docker(lookup, NULL, &p, &err) < 0);
    CHECK_CONTAINS(err.msg, "holds 2 images");
    reset();
    add("manifest.json", "{\"not\":\"an array\"}");
    CHECK(img_plan_docker(lookup, NULL, &p, &err) < 0);
    CHECK_CONTAINS(err.msg, "expected a JSON array");
}

static const char *oci_manifest(const char *layer_type)
{
    static char cfg[256], man[1024];
    snprintf(cfg, sizeof(cfg), "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{}}");
    const char *c = blob(cfg);
    snprintf(man, sizeof(man),
             "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:%s\",\"size\":%zu},"
             "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
             "\"digest\":\"sha256:%s\"},{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\"}]}",
             c, strlen(cfg), L1, layer_type, L2);
    return blob(man);
}

static void test_oci_index_picks_the_manifest_for_the_host_platform(void)
{
    reset();
    const char *m = oci_manifest("application/vnd.oci.image.layer.v1.tar+zstd");
    char mhex[65];
    memcpy(mhex, m, 65);
    const char *other = blob("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}");
    char index[1024];
    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"manifests\":["
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
             "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
             "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\","
             "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"},"
             "\"annotations\":{\"org.opencontainers.image.ref.name\":\"app:2\"}}]}",
             other, mhex);
    add("index.json", index);
    struct img_plan p;
    sbx_err err;
    CHECK(img_plan_oci(lookup, NULL, "amd64", &p, &err) == 0);
    CHECK(p.nlayers == 2);
    char id[80];
    snprintf(id, sizeof(id), "sha256:%s", mhex);
    CHECK_STR(p.id, id);
    CHECK_STR(p.name, "app:2");
    CHECK(strstr(p.layer_path[0], L1) != NULL);
    CHECK(strstr(p.layer_digest[1], L2) != NULL);
    img_plan_free(&p);
    CHECK(img_plan_oci(lookup, NULL, "s390x", &p, &err) < 0);
    CHECK_CONTAINS(err.msg, "no image manifest for linux/s390x");
}

static void test_oci_refuses_unknown_layer_types_and_tampered_manifests(void)
{
    reset();
    const char *m = oci_manifest("application/vnd.oci.image.layer.v1.tar+encrypted");
    char index[512];
    snprintf(index, sizeof(index), "{\"manifests\":[{\"digest\":\"sha256:%s\"}]}", m);
    add("index.json", index);
    struct img_plan p;
    sbx_err err;
    CHECK(img_plan_oci(lookup, NULL, "amd64", &p, &err) < 0);
    CHECK_STR(err.code, "unsupported_layer");

    reset();
    m = oci_manifest("application/vnd.oci.image.layer.v1.tar");
    snprintf(index, sizeof(index), "{\"manifests\":[{\"digest\":\"sha256:%s\",\"size\":3}]}", m);
    add("index.json", index);
    CHECK(img_plan_oci(lookup, NULL, "amd64", &p, &err) < 0);
    CHECK_STR(err.code, "digest_mismatch"); /* wrong size */
    files[nfiles - 2].data[3] = 'Z';        /* the manifest blob itself */
    sha_hex(files[nfiles - 2].data, strlen(files[nfiles - 2].data), files[nfiles - 2].sha);
    snprintf(index, sizeof(index), "{\"manifests\":[{\"digest\":\"sha256:%s\"}]}",
             files[nfiles - 2].path + 13);
    free(files[nfiles - 1].data);
    files[nfiles - 1].data = strdup(index);
    CHECK(img_plan_oci(lookup, NULL, "amd64", &p, &err) < 0);
    CHECK(err.code && (strcmp(err.code, "digest_mismatch") == 0 || strcmp(err.code, "invalid_image") == 0));

    reset();
    CHECK(img_plan_oci(lookup, NULL, "amd64", &p, &err) < 0);
    CHECK_CONTAINS(err.msg, "index.json");
}

int main(void)
{
    RUN(test_clean_path_strips_prefixes_and_refuses_dotdot);
    RUN(test_docker_legacy_manifest_gives_layers_in_order_and_config_digest);
    RUN(test_docker_archive_with_two_images_is_refused);
    RUN(test_oci_index_picks_the_manifest_for_the_host_platform);
    RUN(test_oci_refuses_unknown_layer_types_and_tampered_manifests);
    reset();
    UNIT_MAIN_END();
}
