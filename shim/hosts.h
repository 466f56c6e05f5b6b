/* hosts.h - a static name -> addresses map in /etc/hosts format, the
 * upstream "resolver" of `sbx-shim --hosts FILE` (tests, air-gapped nodes).
 *
 *   # comment
 *   93.184.216.34   allowed.test www.allowed.test
 *   2001:db8::1     allowed.test
 *
 * Names are normalised like policy_normalize_host(); a name on several lines
 * gets every address, in file order. Lines that do not parse are errors
 * naming the line. Pure logic apart from hosts_load() reading the file. */
#ifndef SBX_SHIM_HOSTS_H
#define SBX_SHIM_HOSTS_H

#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

struct hosts_entry {
    char *name;
    struct sockaddr_storage addr;
};

struct hosts {
    struct hosts_entry *e;
    size_t n, cap;
};

int hosts_parse(struct hosts *h, const char *text, sbx_err *err);
int hosts_load(struct hosts *h, const char *path, sbx_err *err);
/* Up to max addresses of name (normalised by the caller); returns the count. */
int hosts_lookup(const struct hosts *h, const char *name, struct sockaddr_storage *out, int max);
void hosts_free(struct hosts *h);

#endif
