/* packer.h - a child process that writes a tar of a host directory into a
 * pipe as it walks it (archive/pack.h), for request bodies made on the fly:
 * sbx image import of an OCI layout directory, sbx cp of a directory.
 *
 * Owners are written as 0 (nothing of the host's uids travels; neither
 * consumer restores owners). Never holds the archive: the pipe is the
 * buffer. SIGPIPE stays ignored in the child: when sbx stops reading, its
 * writes fail and it ends; packer_stop kills and reaps it whatever state it
 * is in. */
#ifndef SBX_CLI_PACKER_H
#define SBX_CLI_PACKER_H

#include <sys/types.h>

#include "error.h"
#include "names.h"

struct packer {
    int fd;    /* the tar comes out here; -1 when none */
    pid_t pid; /* the child, or -1 */
    int errfd; /* its error message, or -1 */
};

#define PACKER_INIT {.fd = -1, .pid = -1, .errfd = -1}

/* Start packing dir (format: ARC_TAR, ARC_TAR_GZ or ARC_TAR_ZST). */
int packer_start(struct packer *p, const char *dir, enum arc_format format, sbx_err *err);
/* read(2) on p->fd; at its end (0) the child was reaped: a failed child is
 * -1 with its message (label: the directory as typed). */
ssize_t packer_read(struct packer *p, const char *label, char *buf, size_t cap, sbx_err *err);
/* Kill (if still running), reap, close. */
void packer_stop(struct packer *p);

#endif
