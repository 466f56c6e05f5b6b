/* caps.h - capability sets for processes started in a sandbox (libcap). */
#ifndef SBX_INIT_CAPS_H
#define SBX_INIT_CAPS_H

/* Drop the bounding set to what `keep_root` allows (nothing, or the reduced
 * root set), clear ambient caps. Call before changing uid. Returns 0 or -errno. */
int caps_limit_bounding(int keep_root);
/* After the uid change: set effective/permitted/inheritable to the same
 * reduced set (root) or to nothing. Returns 0 or -errno. */
int caps_apply(int keep_root);

#endif
