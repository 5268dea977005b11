/*
 * envblock.h: how dcgid hands a request's environment to dcgi-init in a
 * prestarted container (httpd/init/dcgi-init.c), on its stdin, before the
 * body:
 *
 *	LENGTH	4 bytes, big-endian: the size of what follows, at most
 *		ENVBLOCK_MAX
 *	ENV	LENGTH bytes: "NAME=value" strings, each ended by a NUL
 *
 * In return dcgi-init runs the function as its child and writes what the
 * function writes on its stdout and on its stderr (two pipes: the order
 * between the two is what the reads found) on its own stdout (the
 * container's), as frames, and last the function's end:
 *
 *	TYPE	1 byte: INITFRAME_OUT, INITFRAME_ERR or INITFRAME_END
 *	LENGTH	3 bytes, big-endian: 1 to INITFRAME_MAX (OUT, ERR), 1 (END)
 *	DATA	LENGTH bytes; END's one byte is the exit status (128 + N:
 *		killed by signal N), sent once the function has exited
 *
 * so that dcgid ends the response when the function ends, not when the
 * engine reports the container's exit (tens of milliseconds later), and
 * the function's last words on stderr come before it.
 *
 * Both sides use this file, so that the framing is one piece of code, and
 * one fuzz target (tests/fuzz/fuzz_init.c) covers both directions.
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

#define INITFRAME_OUT	1
#define INITFRAME_ERR	2
#define INITFRAME_END	3
#define INITFRAME_MAX	65536

/* Frame a chunk: fill the 4 header bytes for `len` bytes of `type`. */
void		 initframe_header(unsigned char hdr[4], int type, size_t len);

/* Reading frames from a stream that comes in pieces (dcgid's side). */
struct initframe_rd {
	unsigned char	 hdr[4];
	size_t		 hlen;		/* header bytes seen */
	int		 type;		/* of the frame being read */
	size_t		 left;		/* its DATA still to come */
	int		 ended;		/* END was read: nothing may follow */
};

/*
 * Take the next piece of p[0..n): returns the bytes consumed (at least 1
 * when n > 0) and sets *type, *data, *dlen when they complete a piece of
 * DATA (*type 0 when they were only a header); -1 with *why set on a
 * frame that breaks the rules above, or bytes after END.  Call again with
 * the rest until n is 0.
 */
long		 initframe_next(struct initframe_rd *, const char *p, size_t n,
		    int *type, const char **data, size_t *dlen,
		    const char **why);

#endif
