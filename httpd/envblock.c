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

void
initframe_header(unsigned char hdr[4], int type, size_t len)
{
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
}

long
initframe_next(struct initframe_rd *rd, const char *p, size_t n, int *type,
    const char **data, size_t *dlen, const char **why)
{
	size_t take;

	*type = 0;
	*data = NULL;
	*dlen = 0;
	if (n == 0)
		return 0;
	if (rd->ended) {
		*why = "output after the end frame";
		return -1;
	}
	if (rd->left == 0) {
		take = sizeof(rd->hdr) - rd->hlen;
		if (take > n)
			take = n;
		memcpy(rd->hdr + rd->hlen, p, take);
		rd->hlen += take;
		if (rd->hlen < sizeof(rd->hdr))
			return (long)take;
		rd->hlen = 0;
		rd->type = rd->hdr[0];
		rd->left = (size_t)rd->hdr[1] << 16 | (size_t)rd->hdr[2] << 8 |
		    rd->hdr[3];
		if (rd->type != INITFRAME_OUT && rd->type != INITFRAME_ERR &&
		    rd->type != INITFRAME_END) {
			*why = "a frame of an unknown type";
			return -1;
		}
		if (rd->left == 0 || rd->left > INITFRAME_MAX ||
		    (rd->type == INITFRAME_END && rd->left != 1)) {
			*why = "a frame of a wrong length";
			return -1;
		}
		return (long)take;
	}
	take = n < rd->left ? n : rd->left;
	rd->left -= take;
	if (rd->type == INITFRAME_END)
		rd->ended = 1;
	*type = rd->type;
	*data = p;
	*dlen = take;
	return (long)take;
}
