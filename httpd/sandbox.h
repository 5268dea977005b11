/*
 * sandbox.h: a server process gives up root, the file system and the
 * system calls it never needs (docs/privsep.md).
 */
#ifndef DCGI_SANDBOX_H
#define DCGI_SANDBOX_H

#include <stddef.h>

/*
 * Become `user` (no supplementary groups), chroot to `root`, no new
 * privileges, a seccomp filter.  -1 with err set when it cannot be done
 * (then the process must not serve).  Not root: a warning, and only the
 * filter.
 */
int	sandbox_enter(const char *user, const char *root, char *err,
	    size_t errlen);

#endif
