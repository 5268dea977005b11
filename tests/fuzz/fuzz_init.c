/*
 * fuzz_init.c: libFuzzer target for the environment block dcgid writes to
 * a prestarted container and dcgi-init reads (httpd/envblock.h): the
 * length and the entries as dcgi-init parses them, and that what dcgid
 * makes of parsed entries parses back to the same; and the same bytes as
 * the frames dcgi-init writes back (initframe_next()), read whole and a
 * byte at a time, which must give the same pieces and the same verdict.
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

/* What frames a stream holds: the bytes of each type, and the verdict. */
struct got {
	uint8_t	*data[4];	/* by type; [0] unused */
	size_t	 len[4];
	int	 rc, ended;
};

/* Read all of p as frames, in pieces of `step` bytes. */
static void
frames(const uint8_t *p, size_t size, size_t step, struct got *g)
{
	struct initframe_rd rd;
	size_t off = 0;

	memset(&rd, 0, sizeof(rd));
	g->rc = 0;
	while (off < size && g->rc == 0) {
		size_t piece = size - off < step ? size - off : step;

		while (piece > 0) {
			const char *d, *why = NULL;
			size_t dlen;
			int type;
			long used = initframe_next(&rd, (const char *)p + off,
			    piece, &type, &d, &dlen, &why);

			if (used == -1) {
				if (why == NULL)
					abort();	/* every refusal says why */
				g->rc = -1;
				break;
			}
			if (used < 1 || (size_t)used > piece)
				abort();	/* progress, within bounds */
			if (type < 0 || type > 3)
				abort();
			if (type != 0) {
				if (d != (const char *)p + off ||
				    dlen != (size_t)used)
					abort();
				memcpy(g->data[type] + g->len[type], d, dlen);
				g->len[type] += dlen;
			}
			off += (size_t)used;
			piece -= (size_t)used;
		}
	}
	g->ended = rd.ended;
	if (g->len[INITFRAME_END] > 1)
		abort();	/* one END, of one byte */
}

/* Whole or a byte at a time, the frames say the same. */
static void
check_frames(const uint8_t *data, size_t size)
{
	struct got a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	for (int t = 1; t < 4; t++)
		if ((a.data[t] = malloc(size + 1)) == NULL ||
		    (b.data[t] = malloc(size + 1)) == NULL)
			goto out;
	frames(data, size, size, &a);
	frames(data, size, 1, &b);
	if (a.rc != b.rc || a.ended != b.ended)
		abort();
	for (int t = 1; t < 4; t++)
		if (a.len[t] != b.len[t] || memcmp(a.data[t], b.data[t],
		    a.len[t]) != 0)
			abort();
out:
	for (int t = 1; t < 4; t++) {
		free(a.data[t]);
		free(b.data[t]);
	}
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

	check_frames(data, size);
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
