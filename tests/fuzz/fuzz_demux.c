/*
 * fuzz_demux.c: libFuzzer target for what the Docker engine sends on an
 * attach stream: the head of its answer to the upgrade, then the 8-byte
 * frame headers and payloads, split anywhere across reads.  The engine
 * (or whatever answers on its socket) is untrusted input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct seen {
	size_t	 total;
	int	 stop_at;	/* stop after this many pieces (0: never) */
	int	 pieces;
};

static int
piece(void *arg, int stream, const char *p, size_t n)
{
	struct seen *s = arg;

	if (stream < 0 || stream > 2 || (n > 0 && p == NULL))
		abort();
	s->total += n;
	return s->stop_at != 0 && ++s->pieces >= s->stop_at;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_demux dm;
	struct seen seen = { 0, 0, 0 };
	const char *buf = (const char *)data;
	size_t hl = 0, step, off = 0;
	int status = -1, rv;

	/* The head, as attach_head() reads it. */
	rv = docker_upgrade_head(buf, size, &hl, &status);
	if (rv == 1 && (hl > size || hl < 16 || status < 0 || status > 999))
		abort();
	if (rv == 1)
		off = hl;

	/* What follows, as frames, in pieces whose size the input picks;
	 * a consumer that stops after a few pieces must stop the feed. */
	memset(&dm, 0, sizeof(dm));
	step = size > 0 ? (size_t)(data[0] % 13) + 1 : 1;
	seen.stop_at = size > 1 ? data[1] % 4 : 0;
	for (; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;

		rv = docker_demux_feed(&dm, buf + off, n, piece, &seen);
		if (rv != 0)
			break;
		if (dm.hlen > 8)
			abort();
	}
	if (seen.total > size)
		abort();
	return 0;
}
