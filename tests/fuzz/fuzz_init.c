/*
 * fuzz_init.c: libFuzzer target for the environment block dcgid writes to
 * a prestarted container and dcgi-init reads (httpd/envblock.h): the
 * length and the entries as dcgi-init parses them, and that what dcgid
 * makes of parsed entries parses back to the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct list {
	char	*v[512];
	int	 n;
	size_t	 seen;
};

static int
collect(void *arg, const char *name, const char *value)
{
	struct list *l = arg;
	size_t nl = strlen(name), vl = strlen(value);

	if (nl == 0 || strchr(name, '=') != NULL)
		abort();	/* names are never empty, never hold '=' */
	l->seen++;
	if (l->n == 512 || (l->v[l->n] = malloc(nl + vl + 2)) == NULL)
		return 0;
	memcpy(l->v[l->n], name, nl);
	l->v[l->n][nl] = '=';
	memcpy(l->v[l->n] + nl + 1, value, vl + 1);
	l->n++;
	return 0;
}

static int
count(void *arg, const char *name, const char *value)
{
	(void)name;
	(void)value;
	(*(int *)arg)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct list l;
	const char *why = NULL;
	char *buf, *made;
	size_t len;
	long n;
	int again = 0;

	if (size < 4)
		return 0;
	n = envblock_length(data);
	if (n < -1 || n > ENVBLOCK_MAX)
		abort();
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 4, size - 4);
	memset(&l, 0, sizeof(l));
	if (envblock_parse(buf, size - 4, collect, &l, &why) == -1) {
		if (why == NULL)
			abort();	/* every refusal says why */
	} else if (l.n < 512 && l.n == (int)l.seen) {
		/* What dcgid would write for these entries parses back. */
		l.v[l.n] = NULL;
		if ((made = envblock_make(l.v, &len)) != NULL) {
			if (envblock_length((unsigned char *)made) !=
			    (long)(len - 4) ||
			    envblock_parse(made + 4, len - 4, count, &again,
			    &why) == -1 || again != l.n)
				abort();
			free(made);
		}
	}
	for (int i = 0; i < l.n; i++)
		free(l.v[i]);
	free(buf);
	return 0;
}
