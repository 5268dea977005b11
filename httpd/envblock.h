/*
 * envblock.h: how dcgid hands a request's environment to dcgi-init in a
 * prestarted container (httpd/init/dcgi-init.c), on its stdin, before the
 * body:
 *
 *	LENGTH	4 bytes, big-endian: the size of what follows, at most
 *		ENVBLOCK_MAX
 *	ENV	LENGTH bytes: "NAME=value" strings, each ended by a NUL
 *
 * Both sides use this file, so that the framing is one piece of code, and
 * one fuzz target (tests/fuzz/fuzz_init.c) covers it.
 */
#ifndef DCGI_ENVBLOCK_H
#define DCGI_ENVBLOCK_H

#include <stddef.h>
#include <stdint.h>

#define ENVBLOCK_MAX	(1024 * 1024)

/* LENGTH from its 4 bytes; -1 when it is over ENVBLOCK_MAX. */
long		 envblock_length(const unsigned char hdr[4]);
/*
 * Split ENV (n bytes, written in place: the '=' become NULs) and call
 * fn(arg, name, value) for each entry; fn returns nonzero to stop.
 * 0, or -1 with *why set: an entry without '=' or with an empty name, an
 * empty entry, a last entry without its NUL, or fn said stop.
 */
int		 envblock_parse(char *env, size_t n,
		    int (*fn)(void *, const char *, const char *), void *arg,
		    const char **why);
/*
 * The whole block (LENGTH and ENV) for a NULL-terminated "NAME=value"
 * array, in a new allocation of *len bytes; NULL when out of memory or
 * over ENVBLOCK_MAX.
 */
char		*envblock_make(char *const *env, size_t *len);

#endif
