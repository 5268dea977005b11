/*
 * envblock.c: the environment block of a prestarted container's request
 * (envblock.h).  No allocation but envblock_make()'s, no output: it is
 * linked into the static dcgi-init too.
 */
#include <stdlib.h>
#include <string.h>

#include "envblock.h"

long
envblock_length(const unsigned char hdr[4])
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];

	return n > ENVBLOCK_MAX ? -1 : (long)n;
}

int
envblock_parse(char *env, size_t n,
    int (*fn)(void *, const char *, const char *), void *arg,
    const char **why)
{
	size_t i = 0;

	while (i < n) {
		char *p = env + i, *nul, *eq;

		if ((nul = memchr(p, '\0', n - i)) == NULL) {
			*why = "the last entry has no NUL";
			return -1;
		}
		if ((eq = memchr(p, '=', (size_t)(nul - p))) == NULL ||
		    eq == p) {
			*why = "malformed environment entry";
			return -1;
		}
		*eq = '\0';
		if (fn(arg, p, eq + 1) != 0) {
			*why = "cannot set the environment";
			return -1;
		}
		i = (size_t)(nul - env) + 1;
	}
	return 0;
}

char *
envblock_make(char *const *env, size_t *len)
{
	size_t n = 0;
	char *b, *q;

	for (char *const *e = env; *e != NULL; e++) {
		n += strlen(*e) + 1;
		if (n > ENVBLOCK_MAX)
			return NULL;
	}
	if ((b = malloc(4 + n)) == NULL)
		return NULL;
	q = b;
	*q++ = (char)(n >> 24);
	*q++ = (char)(n >> 16);
	*q++ = (char)(n >> 8);
	*q++ = (char)n;
	for (char *const *e = env; *e != NULL; e++) {
		size_t l = strlen(*e) + 1;

		memcpy(q, *e, l);
		q += l;
	}
	*len = 4 + n;
	return b;
}
