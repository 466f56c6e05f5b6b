/* seccomp.h - the sandbox's syscall allowlist, compiled once at sbxd start.
 * The exported BPF is handed to each sandbox's init, which installs it in
 * every process right before execve: libseccomp is never on the exec path. */
#ifndef SBX_SECCOMP_H
#define SBX_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

#include "error.h"

struct seccomp_prog {
    struct sock_filter *insns;
    size_t len; /* instructions */
};

int seccomp_build(struct seccomp_prog *p, sbx_err *err);
void seccomp_free(struct seccomp_prog *p);

#endif
