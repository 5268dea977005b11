/*
 * fuzz_cgi.c: libFuzzer target for the CGI header block parser: what a
 * function writes is untrusted input.  (The attach stream around it is
 * fuzz_demux.c's.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgi_response cr;
	const char *why;
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

	free(buf);
	return 0;
}
