/*
 * fuzz_cgi.c: libFuzzer target for the CGI header block parser and the
 * attach-stream demultiplexer: what a function writes is untrusted input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"
#include "docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
sink(void *arg, int stream, const char *p, size_t n)
{
	size_t *total = arg;

	if (stream < 0 || stream > 2 || (n > 0 && p == NULL))
		abort();
	*total += n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_demux dm;
	struct cgi_response cr;
	const char *why;
	size_t total = 0, step;
	char *buf;
	long end;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = cgi_head_end(buf, size, 4096);
	if (end > 0) {
		if ((size_t)end > size)
			abort();
		if (cgi_parse(buf, (size_t)end, &cr, &why) == -1 && why == NULL)
			abort();	/* every rejection has a reason */
	}

	/* The same bytes as an attach stream, in pieces. */
	memset(&dm, 0, sizeof(dm));
	step = size > 0 ? (size_t)(data[0] % 13) + 1 : 1;
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		if (docker_demux_feed(&dm, (const char *)data + off, n, sink,
		    &total) == -1)
			break;
	}
	if (total > size)
		abort();
	free(buf);
	return 0;
}
