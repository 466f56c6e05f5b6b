/* secrets.c - see secrets.h. */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json.h"
#include "policy.h"
#include "sbxd.h"
#include "util.h"

#define NODE_SECRET_FILE_MAX (64 * 1024)

static int invalid(sbx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(sbx_err *err, const char *fmt, ...)
{
    char msg[SBX_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sbx_error_kind(err, SBX_E_INVALID, "invalid_request", "%s", msg);
}

static int valid_name(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static void wipe_str(struct json_object *v)
{
    if (!v || !json_object_is_type(v, json_type_string)) return;
    char *s = (char *)json_object_get_string(v);
    int n = json_object_get_string_len(v);
    if (s && n > 0) explicit_bzero(s, (size_t)n);
}

void secrets_wipe(struct json_object *obj)
{
    if (!obj || !json_object_is_type(obj, json_type_object)) return;
    json_object_object_foreach(obj, k, v)
    {
        (void)k;
        struct json_object *val;
        if (json_object_is_type(v, json_type_object) && json_object_object_get_ex(v, "value", &val))
            wipe_str(val);
    }
}

/* hosts: 1..16 names or *.names, normalised into a new array. */
static int parse_hosts(struct json_object *arr, const char *where, struct json_object **out,
                       sbx_err *err)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    if (!arr || n == 0)
        return invalid(err,
                       "%s.hosts: give the hosts the secret may be sent to, e.g. "
                       "[\"api.github.com\"]",
                       where);
    if (n > SECRET_HOSTS_MAX)
        return invalid(err, "%s.hosts: at most %d hosts", where, SECRET_HOSTS_MAX);
    _cleanup_json_ struct json_object *res = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *h = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(h, json_type_string))
            return invalid(err, "%s.hosts[%zu]: must be a host name string", where, i);
        const char *s = json_object_get_string(h);
        int wild = strncmp(s, "*.", 2) == 0;
        char norm[POLICY_NAME_MAX + 3];
        if (policy_normalize_host(wild ? s + 2 : s, norm + 2, sizeof(norm) - 2) < 0 ||
            (wild && !strchr(norm + 2, '.')))
            return invalid(err,
                           "%s.hosts[%zu]: \"%.100s\" is not a host name (a DNS name, or *.domain "
                           "for every name below domain; no ports, no addresses)",
                           where, i, s);
        const char *val = norm + 2;
        if (wild) {
            norm[0] = '*';
            norm[1] = '.';
            val = norm;
        }
        json_object_array_add(res, json_object_new_string(val));
    }
    *out = steal_pointer(&res);
    return 0;
}

/* One secret's definition (from the request, or a node file): fills shim
 * (with value) and meta (without). */
static int parse_def(struct json_object *def, const char *where, struct json_object *shim,
                     struct json_object *meta, sbx_err *err)
{
    static const char *const fields[] = {"value", "hosts", "query", "require", NULL};
    if (json_check_fields(def, where, fields, err) < 0) return -1;
    struct json_object *v;
    if (!json_object_object_get_ex(def, "value", &v) || !json_object_is_type(v, json_type_string))
        return invalid(err, "%s.value: the secret's value is missing (a string)", where);
    const char *val = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len == 0) return invalid(err, "%s.value: empty", where);
    if (len > SECRET_VALUE_MAX)
        return sbx_error_kind(err, SBX_E_TOOLARGE, "invalid_request",
                              "%s.value: longer than %d bytes", where, SECRET_VALUE_MAX);
    if (memchr(val, '\r', len) || memchr(val, '\n', len) || strlen(val) != len)
        return invalid(err, "%s.value: must not contain CR, LF or NUL (it goes into HTTP headers)",
                       where);
    struct json_object *harr;
    if (json_get_arr(def, where, "hosts", 1, &harr, err) < 0) return -1;
    struct json_object *hosts = NULL;
    if (parse_hosts(harr, where, &hosts, err) < 0) return -1;
    int query = 0, require = 0;
    if (json_get_bool(def, where, "query", &query, err) < 0 ||
        json_get_bool(def, where, "require", &require, err) < 0) {
        json_object_put(hosts);
        return -1;
    }
    json_object_object_add(shim, "value", json_object_new_string_len(val, (int)len));
    json_object_object_add(shim, "hosts", json_object_get(hosts));
    json_object_object_add(shim, "query", json_object_new_boolean(query));
    json_object_object_add(shim, "require", json_object_new_boolean(require));
    json_object_object_add(meta, "hosts", hosts);
    json_object_object_add(meta, "query", json_object_new_boolean(query));
    json_object_object_add(meta, "require", json_object_new_boolean(require));
    return 0;
}

/* <secrets-dir>/NAME.json: a regular file owned by root, mode 0600 or 0400. */
static int load_node(struct sbxd *d, const char *name, const char *where, struct json_object **out,
                     sbx_err *err)
{
    if (!node_file_name_valid(name))
        return invalid(err, "%s.node: \"%.64s\" is not a node secret name ([a-z0-9_-], at most 64)",
                       where, name);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.json", d->cfg.secrets_dir, name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return invalid(err, "%s.node: no node secret \"%s\" (%s does not exist)", where, name,
                       path);
    if (fd < 0) return sbx_error(err, errno, "open node secret %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) return sbx_error(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077))
        return sbx_error_kind(err, SBX_E_INTERNAL, "insecure_node_secret",
                              "node secret %s must be a regular file owned by root that no one "
                              "else can read (chown root %s; chmod 600 %s)",
                              path, path, path);
    if (st.st_size > NODE_SECRET_FILE_MAX)
        return sbx_error(err, EFBIG, "node secret %s is larger than %d bytes", path,
                         NODE_SECRET_FILE_MAX);
    char buf[NODE_SECRET_FILE_MAX + 1];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            explicit_bzero(buf, len);
            return sbx_error(err, e, "read %s", path);
        }
        if (n == 0 || len + (size_t)n >= sizeof(buf) - 1) {
            len += (size_t)(n > 0 ? n : 0);
            break;
        }
        len += (size_t)n;
    }
    int r = json_parse_object(buf, len, out, err);
    explicit_bzero(buf, sizeof(buf));
    if (r < 0) {
        char why[SBX_ERR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err->msg);
        return sbx_error_kind(err, SBX_E_INTERNAL, "invalid_node_secret", "node secret %s: %s",
                              path, why);
    }
    return 0;
}

static void placeholder(char out[64])
{
    unsigned char r[20];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n > 0) got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    int k = snprintf(out, 64, "sbx_secret_");
    for (size_t i = 0; i < sizeof(r); i++) {
        out[k++] = hex[r[i] >> 4];
        out[k++] = hex[r[i] & 15];
    }
    out[k] = '\0';
}

int secrets_parse(struct sbxd *d, struct json_object *obj, struct json_object **shim_out,
                  struct json_object **meta_out, sbx_err *err)
{
    *shim_out = *meta_out = NULL;
    if (!obj) return 0;
    if (!json_object_is_type(obj, json_type_object))
        return invalid(err,
                       "field \"secrets\": must be an object {\"NAME\": {\"value\", \"hosts\"} "
                       "| {\"node\": \"name\"}}");
    if (json_object_object_length(obj) > SECRETS_MAX)
        return invalid(err, "field \"secrets\": at most %d secrets", SECRETS_MAX);
    _cleanup_json_ struct json_object *shim = json_object_new_object();
    _cleanup_json_ struct json_object *meta = json_object_new_object();
    json_object_object_foreach(obj, name, def)
    {
        char where[128];
        snprintf(where, sizeof(where), "secrets.%.64s", name);
        if (!valid_name(name))
            return invalid(err,
                           "field \"secrets\": \"%.64s\" is not a valid environment variable name "
                           "([A-Za-z_][A-Za-z0-9_]*, at most 63)",
                           name);
        if (!json_object_is_type(def, json_type_object))
            return invalid(err, "%s: must be an object", where);
        struct json_object *s = json_object_new_object(), *m = json_object_new_object();
        json_object_object_add(shim, name, s);
        json_object_object_add(meta, name, m);
        struct json_object *node;
        if (json_object_object_get_ex(def, "node", &node)) {
            if (json_object_object_length(def) != 1)
                return invalid(err,
                               "%s: a node secret is named alone ({\"node\": \"name\"}); its "
                               "hosts and flags are in the node's file",
                               where);
            if (!json_object_is_type(node, json_type_string))
                return invalid(err, "%s.node: must be a string", where);
            const char *nn = json_object_get_string(node);
            _cleanup_json_ struct json_object *file = NULL;
            if (load_node(d, nn, where, &file, err) < 0) return -1;
            char fw[160];
            snprintf(fw, sizeof(fw), "node secret %.64s", nn);
            int r = parse_def(file, fw, s, m, err);
            struct json_object *fv;
            if (json_object_object_get_ex(file, "value", &fv)) wipe_str(fv);
            if (r < 0) return -1;
            char src[80];
            snprintf(src, sizeof(src), "node:%s", nn);
            json_object_object_add(m, "source", json_object_new_string(src));
        } else {
            if (parse_def(def, where, s, m, err) < 0) return -1;
            json_object_object_add(m, "source", json_object_new_string("request"));
        }
        char ph[64];
        placeholder(ph);
        json_object_object_add(s, "placeholder", json_object_new_string(ph));
        json_object_object_add(m, "placeholder", json_object_new_string(ph));
    }
    *shim_out = steal_pointer(&shim);
    *meta_out = steal_pointer(&meta);
    return 0;
}

struct json_object *secrets_without_values(struct json_object *meta)
{
    if (!meta) return NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_foreach(meta, name, m)
    {
        struct json_object *s = json_object_new_object(), *v;
        static const char *const keep[] = {"placeholder", "hosts", "query", "require"};
        for (size_t i = 0; i < SBX_ARRAY_SIZE(keep); i++)
            if (json_object_object_get_ex(m, keep[i], &v))
                json_object_object_add(s, keep[i], json_object_get(v));
        json_object_object_add(s, "value", NULL);
        json_object_object_add(o, name, s);
    }
    return o;
}
