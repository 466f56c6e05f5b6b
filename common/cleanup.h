/* cleanup.h - scope-bound release of resources (systemd/crun habit).
 *
 *   _cleanup_free_ char *p = malloc(...);     freed at scope exit
 *   _cleanup_close_ int fd = open(...);       closed at scope exit (if >= 0)
 *   return steal_pointer(&p);                 hand ownership to the caller
 */
#ifndef SBX_CLEANUP_H
#define SBX_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void cleanup_fclosep(FILE **f)
{
    if (*f) fclose(*f);
}
static inline void cleanup_closedirp(DIR **d)
{
    if (*d) closedir(*d);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_closedir_ _cleanup_(cleanup_closedirp)

static inline void *steal_ptr_impl(void **p)
{
    void *r = *p;
    *p = NULL;
    return r;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_ptr_impl((void **)(pp)))

static inline int steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

#define SBX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
