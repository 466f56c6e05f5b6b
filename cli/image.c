/* image.c - `sbx image`: import, ls, inspect and rm (the /v1/images API of
 * docs/api.md).
 *
 * Owns: the image subcommands' syntax, help and output; the sources of an
 * import (a regular file, sent with its length; stdin or a pipe, sent
 * chunked; an OCI image layout directory, packed into a tar on the fly by a
 * forked child with libarchive) and the progress line on a terminal (which
 * sbx cp shows too: it and human_size are declared in cli.h). The packing
 * itself is cli/packer.c's.
 *
 * Must never: hold an archive in memory (it goes from the file or pipe
 * through curl's send buffer, nothing more), print progress where stderr is
 * not a terminal or with -q/--json, talk HTTP itself (cli/client.c), check
 * what sbxd checks (image names, formats, archive contents), or leave the
 * packer child behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "client.h"
#include "error.h"
#include "packer.h"

#define REF_ESC_MAX 512   /* a ref is at most 128 chars; escaped, at most 3x */
#define REDRAW_SEC 0.1    /* progress line: at most 10 redraws a second */
#define CODE_USAGE "usage"

enum { OPT_JSON = 256, OPT_NAME, OPT_FORMAT };

/* ---- help texts ----------------------------------------------------------- */

const char help_image[] = "Usage: sbx image COMMAND [ARG...]\n"
                          "\n"
                          "Manage the images sessions start from (sbx create --image NAME).\n"
                          "\n"
                          "Commands:\n"
                          "  import    Import an image archive or an OCI image layout directory\n"
                          "  ls        List images\n"
                          "  inspect   Show images as JSON\n"
                          "  rm        Remove images\n"
                          "\n"
                          "Options:\n"
                          "  -h, --help    Show this help\n"
                          "\n"
                          "Run 'sbx image COMMAND --help' for the options of a command.\n";

static const char help_import[] =
    "Usage: sbx image import [OPTION...] FILE|DIR|-\n"
    "\n"
    "Import an image into sbxd's store and print it. FILE is a root filesystem\n"
    "tarball (tar, tar.gz, tar.zst or tar.xz), a 'docker save' archive or an OCI\n"
    "image layout in a tar; - reads one from stdin; DIR is an OCI image layout\n"
    "directory (with index.json), sent as a tar made on the fly. The archive is\n"
    "streamed: sbxd unpacks it as it arrives.\n"
    "\n"
    "Options:\n"
    "      --name NAME      Name the image: NAME or NAME:TAG (NAME: lowercase letters,\n"
    "                       digits, '.', '_' and '-'); default: the name the archive\n"
    "                       carries, if any\n"
    "      --format FORMAT  auto (default), rootfs, docker or oci\n"
    "  -q, --quiet          Print the image id only\n"
    "      --json           Print the image as JSON\n"
    "  -h, --help           Show this help\n"
    "\n"
    "When stderr is a terminal, progress is shown there (not with -q or --json).\n"
    "A root filesystem directory DIR is imported as a tarball:\n"
    "  tar -C DIR -c . | sbx image import - --name NAME\n";

static const char help_ls[] =
    "Usage: sbx image ls [-q] [--json]\n"
    "\n"
    "List images: those imported into sbxd's store and the directory images of\n"
    "its image directory.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet   Print image ids only (sha256:...; a directory image's name)\n"
    "      --json    Print the daemon's answer as JSON\n"
    "  -h, --help    Show this help\n";

static const char help_inspect[] =
    "Usage: sbx image inspect REF...\n"
    "\n"
    "Print each image as pretty JSON. REF is a name, NAME:TAG, an id\n"
    "(sha256:HEX) or at least 12 hex digits of one.\n";

static const char help_rm[] =
    "Usage: sbx image rm REF...\n"
    "\n"
    "Remove images from sbxd's store. REF is as for 'sbx image inspect': a name\n"
    "removes that name (and the image with its last name), an id the image and\n"
    "all its names. Prints each REF removed; fails if any could not be removed:\n"
    "an image in use by a session, or a directory image (remove its directory).\n";

/* ---- small formatting ------------------------------------------------------- */

/* 12.3 MiB (cli.h: shared with sbx cp) */
void human_size(long long n, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, cap, "%lld B", n < 0 ? 0 : n);
        return;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < SBX_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static long long int_field(json_object *o, const char *key, long long dflt)
{
    json_object *j;
    if (!o || !json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_int))
        return dflt;
    return json_object_get_int64(j);
}

/* The array o[key], or NULL. */
static json_object *array_field(json_object *o, const char *key)
{
    json_object *j;
    if (!o || !json_object_object_get_ex(o, key, &j) || !json_object_is_type(j, json_type_array))
        return NULL;
    return j;
}

/* "sha256:0123456789ab..." -> "0123456789ab"; "-" when there is no id. */
static void short_id(json_object *img, char *buf, size_t cap)
{
    const char *id = str_field(img, "id");
    const char *hex = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
    snprintf(buf, cap, "%.12s", hex);
}

/* The names joined by sep; malloc'd ("" when none), NULL when out of memory. */
static char *join_names(json_object *img, const char *sep)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    json_object *names = array_field(img, "names");
    size_t n = names ? json_object_array_length(names) : 0;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? sep : "",
                json_object_get_string(json_object_array_get_idx(names, i)));
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "/v1/images/<escaped ref>" */
static int image_path(sbx_client *c, const char *ref, char *path, size_t cap, sbx_err *err)
{
    char eref[REF_ESC_MAX];
    if (sbx_client_escape(c, ref, eref, sizeof(eref), err) < 0) return -1;
    snprintf(path, cap, "/v1/images/%s", eref);
    return 0;
}

/* ---- progress line ---------------------------------------------------------- */

/* struct progress: cli.h (sbx cp shows the same line). */

/* " 45%  123.4/300.0 MiB  56.7 MiB/s  finishing" */
static void progress_nums(const struct progress *p, double frac, const char *rate, char *buf,
                          size_t cap)
{
    snprintf(buf, cap, " %3d%%  %.1f/%.1f MiB%s%s", (int)(frac * 100), (double)p->sent / 1048576,
             (double)p->total / 1048576, rate, p->all ? "  finishing" : "");
}

void progress_init(struct progress *p, const char *label, long long total)
{
    *p = (struct progress){.total = total, .cols = 80};
    if (strlen(label) < sizeof(p->label))
        snprintf(p->label, sizeof(p->label), "%s", label);
    else
        snprintf(p->label, sizeof(p->label), "%.*s...", (int)sizeof(p->label) - 4, label);
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) p->cols = ws.ws_col;
    p->start = p->last = now_sec();
    if (total > 0) { /* room for the widest numbers, so that the bar never moves */
        struct progress widest = *p;
        widest.sent = (unsigned long long)total;
        widest.all = true;
        char nums[160];
        progress_nums(&widest, 1, "  9999.9 MiB/s", nums, sizeof(nums));
        p->bar = p->cols - 1 - ((int)strlen(p->label) + 1) - (int)strlen(nums) - 2;
        if (p->bar > 40) p->bar = 40;
        if (p->bar < 10) p->bar = 0;
    }
}

static void progress_draw(struct progress *p)
{
    double elapsed = (p->all ? p->done : now_sec()) - p->start;
    char rate[32] = "";
    if (elapsed >= 0.25)
        snprintf(rate, sizeof(rate), "  %.1f MiB/s", (double)p->sent / 1048576 / elapsed);
    char line[512];
    if (p->total > 0) {
        double frac = (double)p->sent / (double)p->total;
        if (frac > 1) frac = 1;
        char nums[160];
        progress_nums(p, frac, rate, nums, sizeof(nums));
        int bar = p->bar;
        if (bar > 0) {
            char b[41];
            int fill = (int)(frac * bar);
            for (int i = 0; i < bar; i++)
                b[i] = i < fill ? '=' : i == fill ? '>' : ' ';
            b[bar] = '\0';
            snprintf(line, sizeof(line), "%s [%s]%s", p->label, b, nums);
        } else {
            snprintf(line, sizeof(line), "%s%s", p->label, nums);
        }
    } else {
        snprintf(line, sizeof(line), "%s  %.1f MiB sent%s%s", p->label, (double)p->sent / 1048576,
                 rate, p->all ? "  finishing" : "");
    }
    int max = p->cols > 1 ? p->cols - 1 : 79; /* never wrap: \r must reach the start */
    fprintf(stderr, "\r%.*s\033[K", max, line);
    fflush(stderr);
    p->drawn = true;
    p->last = now_sec();
}

void progress_cb(void *ud, unsigned long long sent, bool all)
{
    struct progress *p = ud;
    bool changed = sent != p->sent || all != p->all;
    if (all && !p->all) p->done = now_sec(); /* the rate is the sending's */
    p->sent = sent;
    p->all = all;
    if (!p->drawn || (changed && now_sec() - p->last >= REDRAW_SEC) ||
        now_sec() - p->last >= 1) /* the rate decays while waiting */
        progress_draw(p);
}

/* Draw the final state and end the line. */
void progress_end(struct progress *p)
{
    if (!p->drawn) return;
    progress_draw(p);
    fputc('\n', stderr);
    fflush(stderr);
}

/* ---- import sources --------------------------------------------------------- */

struct source {
    const char *label; /* the argument, or "<stdin>" */
    int fd;            /* what is sent (a file, stdin); -1 when closed */
    long long size;    /* bytes, or -1: unknown */
    struct packer pk;  /* or a tar of a directory, written by a child */
};

static ssize_t source_read(void *ud, char *buf, size_t cap, sbx_err *err)
{
    struct source *src = ud;
    if (src->pk.fd >= 0) return packer_read(&src->pk, src->label, buf, cap, err);
    for (;;) {
        ssize_t n = read(src->fd, buf, cap);
        if (n >= 0) return n;
        if (errno != EINTR) return sbx_error(err, errno, "read %s", src->label);
    }
}

static void source_close(struct source *src)
{
    if (src->fd >= 0) close(src->fd);
    src->fd = -1;
    packer_stop(&src->pk);
}

/* An OCI image layout directory has index.json (and oci-layout): 1 if dir
 * is one, 0 if not, -1 if it cannot be opened (err). */
static int is_oci_layout(const char *dir, sbx_err *err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return sbx_error(err, errno, "%s", dir);
    return faccessat(dfd, "index.json", F_OK, 0) == 0 || faccessat(dfd, "oci-layout", F_OK, 0) == 0;
}

/* FILE, DIR or "-" into src. */
static int source_open(struct source *src, const char *arg, sbx_err *err)
{
    *src = (struct source){.label = arg, .fd = -1, .size = -1, .pk = PACKER_INIT};
    if (strcmp(arg, "-") == 0) {
        src->label = "<stdin>";
        if (isatty(STDIN_FILENO))
            return sbx_error_kind(err, SBX_E_INVALID, CODE_USAGE,
                                  "stdin is a terminal: pipe an archive in (... | sbx image "
                                  "import -) or name a FILE");
        src->fd = dup(STDIN_FILENO);
        if (src->fd < 0) return sbx_error(err, errno, "stdin");
        struct stat st;
        if (fstat(src->fd, &st) == 0 && S_ISREG(st.st_mode)) { /* < file: its length is known */
            off_t pos = lseek(src->fd, 0, SEEK_CUR);
            if (pos >= 0 && pos <= st.st_size) src->size = st.st_size - pos;
        }
        return 0;
    }
    struct stat st;
    if (stat(arg, &st) < 0) return sbx_error(err, errno, "%s", arg);
    if (S_ISDIR(st.st_mode)) {
        int oci = is_oci_layout(arg, err);
        if (oci < 0) return -1;
        if (!oci)
            return sbx_error_kind(err, SBX_E_INVALID, CODE_USAGE,
                                  "%s is not an OCI image layout (no index.json); to import a "
                                  "root filesystem directory use 'tar -C %s -c . | sbx image "
                                  "import - --name NAME'",
                                  arg, arg);
        return packer_start(&src->pk, arg, ARC_TAR, err);
    }
    src->fd = open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (src->fd < 0) return sbx_error(err, errno, "%s", arg);
    if (fstat(src->fd, &st) < 0) return sbx_error(err, errno, "%s", arg);
    if (S_ISDIR(st.st_mode)) return sbx_error(err, EISDIR, "%s", arg); /* swapped meanwhile */
    if (S_ISREG(st.st_mode)) {
        src->size = st.st_size;
        (void)posix_fadvise(src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return 0; /* a FIFO, <(...), a character device: chunked */
}

/* ---- import ------------------------------------------------------------------- */

/* "/v1/images?name=...&format=..." (cap: at least 2 * REF_ESC_MAX) */
static int import_path(sbx_client *c, const char *name, const char *format, char *path, size_t cap,
                       sbx_err *err)
{
    char ename[REF_ESC_MAX], eformat[64];
    if (name && sbx_client_escape(c, name, ename, sizeof(ename), err) < 0)
        return sbx_error_wrap(err, "--name");
    if (format && sbx_client_escape(c, format, eformat, sizeof(eformat), err) < 0)
        return sbx_error_wrap(err, "--format");
    size_t n = (size_t)snprintf(path, cap, "/v1/images");
    if (name) n += (size_t)snprintf(path + n, cap - n, "?name=%s", ename);
    if (format) snprintf(path + n, cap - n, "%cformat=%s", name ? '&' : '?', eformat);
    return 0;
}

/* What the import did to the files, if anything worth telling. */
static void import_notes(json_object *img)
{
    json_object *rep;
    if (!json_object_object_get_ex(img, "import", &rep)) return;
    long long dev = int_field(rep, "devices_skipped", 0);
    long long setid = int_field(rep, "setid_bits_cleared", 0);
    if (dev > 0)
        fprintf(stderr, "sbx: note: %lld device node%s skipped (sandboxes cannot use them)\n", dev,
                dev == 1 ? "" : "s");
    if (setid > 0)
        fprintf(stderr, "sbx: note: setuid/setgid bits cleared on %lld file%s\n", setid,
                setid == 1 ? "" : "s");
}

/* imported sha256:0123456789ab as NAME (N layers, X MiB unpacked, format F);
 * NAME: --name, else the names the image has (from the archive), if any. */
static int print_imported(json_object *img, const char *name)
{
    char id[16], size[32];
    short_id(img, id, sizeof(id));
    human_size(int_field(img, "size", 0), size, sizeof(size));
    json_object *layers = array_field(img, "layers");
    size_t nl = layers ? json_object_array_length(layers) : 0;
    _cleanup_free_ char *names = name ? strdup(name) : join_names(img, ", ");
    if (!names) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    printf("imported sha256:%s%s%s (%zu layer%s, %s unpacked, format %s)\n", id,
           *names ? " as " : "", names, nl, nl == 1 ? "" : "s", size, str_field(img, "format"));
    return EXIT_OK;
}

static int cmd_import(int argc, char **argv)
{
    static const char cmd[] = "image import";
    static const struct option longopts[] = {{"name", required_argument, NULL, OPT_NAME},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    const char *name = NULL, *format = NULL;
    bool quiet = false, json = false;
    int c;
    optind = 0;
    opterr = 0;
    /* Options may follow FILE (sbx image import - --name N): no "+". */
    while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_import, stdout);
            return EXIT_OK;
        case OPT_NAME:
            if (!*optarg) return usage_error(cmd, "--name: empty image name");
            name = optarg;
            break;
        case OPT_FORMAT:
            if (!*optarg) return usage_error(cmd, "--format: empty format");
            format = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        default:
            return bad_option(cmd, c, argv);
        }
    }
    if (optind >= argc) return usage_error(cmd, "missing FILE, DIR or - (stdin)");
    if (optind + 1 < argc) return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    const char *arg = argv[optind];

    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    sbx_err err;
    char path[2 * REF_ESC_MAX];
    if (import_path(cl, name, format, path, sizeof(path), &err) < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    __attribute__((cleanup(source_close))) struct source src = {.fd = -1, .pk = PACKER_INIT};
    if (source_open(&src, arg, &err) < 0) {
        if (err.code && strcmp(err.code, CODE_USAGE) == 0) return usage_error(cmd, "%s", err.msg);
        print_err(&err);
        return EXIT_FAIL;
    }

    const char *base = strrchr(src.label, '/');
    base = base && base[1] ? base + 1 : src.label;
    struct progress prog;
    progress_init(&prog, base, src.size);
    bool show = !quiet && !json && isatty(STDERR_FILENO);
    struct sbx_upload up = {.size = src.size,
                            .read = source_read,
                            .ud = &src,
                            .progress = show ? progress_cb : NULL,
                            .progress_ud = &prog};
    _cleanup_json_ json_object *img = NULL;
    int r = sbx_client_upload(cl, "POST", path, &up, &img, &err);
    if (show) progress_end(&prog);
    source_close(&src);
    if (r < 0) {
        print_err(&err);
        return EXIT_FAIL;
    }
    if (!img || !json_object_is_type(img, json_type_object)) {
        fprintf(stderr, "sbx: import: sbxd's answer is not an image\n");
        return EXIT_FAIL;
    }
    if (json) {
        print_json_line(img);
        return EXIT_OK;
    }
    if (quiet) {
        puts(str_field(img, "id"));
        return EXIT_OK;
    }
    import_notes(img);
    return print_imported(img, name);
}

/* ---- ls ------------------------------------------------------------------------- */

struct image_row {
    char *names;
    char id[16], size[32], layers[16], sessions[16], imported[64];
    const char *format;
};

static int cmd_ls(int argc, char **argv)
{
    bool quiet;
    _cleanup_json_ json_object *resp = NULL;
    json_object *images;
    int done = list_command("image ls", help_ls, "/v1/images", "images", argc, argv, &quiet, &resp,
                         &images);
    if (done >= 0) return done;
    size_t n = json_object_array_length(images);
    if (quiet) {
        for (size_t i = 0; i < n; i++) {
            json_object *img = json_object_array_get_idx(images, i);
            json_object *names = array_field(img, "names");
            const char *id = str_field(img, "id");
            if (strcmp(id, "-") == 0 && names && json_object_array_length(names) > 0)
                id = json_object_get_string(json_object_array_get_idx(names, 0));
            puts(id);
        }
        return EXIT_OK;
    }

    _cleanup_free_ struct image_row *rows = calloc(n ? n : 1, sizeof(*rows));
    if (!rows) {
        fprintf(stderr, "sbx: out of memory\n");
        return EXIT_FAIL;
    }
    static const char *const head[] = {"NAME",   "ID",       "FORMAT",  "SIZE",
                                       "LAYERS", "SESSIONS", "IMPORTED"};
    enum { NCOL = SBX_ARRAY_SIZE(head) };
    int w[NCOL];
    for (int k = 0; k < NCOL; k++)
        w[k] = (int)strlen(head[k]);
    int status = EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        json_object *img = json_object_array_get_idx(images, i);
        struct image_row *r = &rows[i];
        r->names = join_names(img, ",");
        if (!r->names) status = EXIT_FAIL;
        short_id(img, r->id, sizeof(r->id));
        r->format = str_field(img, "format");
        json_object *j;
        if (json_object_object_get_ex(img, "size", &j) && json_object_is_type(j, json_type_int))
            human_size(json_object_get_int64(j), r->size, sizeof(r->size));
        else
            snprintf(r->size, sizeof(r->size), "-");
        json_object *layers = array_field(img, "layers");
        if (layers)
            snprintf(r->layers, sizeof(r->layers), "%zu", json_object_array_length(layers));
        else
            snprintf(r->layers, sizeof(r->layers), "-");
        snprintf(r->sessions, sizeof(r->sessions), "%s", str_field(img, "sessions"));
        format_age(json_object_object_get_ex(img, "imported", &j) &&
                           json_object_is_type(j, json_type_string)
                       ? json_object_get_string(j)
                       : NULL,
                   r->imported, sizeof(r->imported));
        const char *cols[NCOL] = {r->names && *r->names ? r->names : "-",
                                  r->id,
                                  r->format,
                                  r->size,
                                  r->layers,
                                  r->sessions,
                                  r->imported};
        for (int k = 0; k < NCOL; k++)
            if ((int)strlen(cols[k]) > w[k]) w[k] = (int)strlen(cols[k]);
    }
    printf("%-*s   %-*s   %-*s   %*s   %*s   %*s   %s\n", w[0], head[0], w[1], head[1], w[2],
           head[2], w[3], head[3], w[4], head[4], w[5], head[5], head[6]);
    for (size_t i = 0; i < n; i++) {
        struct image_row *r = &rows[i];
        printf("%-*s   %-*s   %-*s   %*s   %*s   %*s   %s\n", w[0],
               r->names && *r->names ? r->names : (r->names ? "-" : "?"), w[1], r->id, w[2],
               r->format, w[3], r->size, w[4], r->layers, w[5], r->sessions, r->imported);
        free(r->names);
    }
    if (status != EXIT_OK) fprintf(stderr, "sbx: out of memory\n");
    return status;
}

/* ---- inspect, rm ------------------------------------------------------------------ */

/* Run method on each REF; report each failure and go on with the others (stop
 * if the daemon is unreachable). */
static int each_image(const char *cmd, const char *help, const char *method, int argc, char **argv,
                      bool print_ref)
{
    int r = parse_help_only(cmd, help, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error(cmd, "missing image REF");
    _cleanup_client_ sbx_client *cl = NULL;
    if (new_client(&cl) < 0) return EXIT_FAIL;
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        sbx_err err;
        char path[REF_ESC_MAX + 16];
        _cleanup_json_ json_object *resp = NULL;
        if (image_path(cl, argv[i], path, sizeof(path), &err) < 0 ||
            sbx_client_call(cl, method, path, NULL, &resp, &err) < 0) {
            print_err(&err);
            status = EXIT_FAIL;
            if (err.code && strcmp(err.code, SBX_CODE_UNREACHABLE) == 0) break;
            continue;
        }
        if (print_ref)
            puts(argv[i]);
        else if (resp)
            print_pretty(resp);
    }
    return status;
}

static int cmd_inspect(int argc, char **argv)
{
    return each_image("image inspect", help_inspect, "GET", argc, argv, false);
}

static int cmd_rm(int argc, char **argv)
{
    return each_image("image rm", help_rm, "DELETE", argc, argv, true);
}

/* ---- image ------------------------------------------------------------------------ */

int cmd_image(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } subs[] = {
        {"import", cmd_import},
        {"ls", cmd_ls},
        {"inspect", cmd_inspect},
        {"rm", cmd_rm},
    };
    int r = parse_help_only("image", help_image, argc, argv);
    if (r >= 0) return r;
    if (optind >= argc) return usage_error("image", "missing command: import, ls, inspect or rm");
    const char *sub = argv[optind];
    for (size_t i = 0; i < SBX_ARRAY_SIZE(subs); i++)
        if (strcmp(sub, subs[i].name) == 0) return subs[i].fn(argc - optind, argv + optind);
    return usage_error("image", "unknown command '%s' (import, ls, inspect or rm)", sub);
}
