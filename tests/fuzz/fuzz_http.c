/*
 * fuzz_http.c: libFuzzer target for the HTTP request parser, the chunked
 * decoder, path normalisation, ranges and dates.  The input is fed the
 * way a socket would: in pieces, then parsed in place.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = { 1024, 4096, 50 };
	struct http_request *r;
	struct http_chunked ch;
	char *buf, path[2 * 1026], out[512];
	size_t scan = 0, step, used, got;
	long end = 0;
	int64_t a, b;

	if ((buf = malloc(size + 1)) == NULL || (r = malloc(sizeof(*r))) == NULL) {
		free(buf);
		return 0;
	}
	memcpy(buf, data, size);
	buf[size] = '\0';

	/* The head, arriving in pieces whose size the input picks. */
	step = size > 0 ? (size_t)(data[0] % 17) + 1 : 1;
	for (size_t n = step; end == 0; n += step) {
		if (n > size)
			n = size;
		end = http_head_end(buf, n, &scan, &lim);
		if (n == size)
			break;
	}
	if (end > 0) {
		if (http_parse_request(r, buf, (size_t)end, path, sizeof(path),
		    &lim) == 0) {
			(void)http_header_get(r, "Content-Length");
			if (r->path != NULL && strlen(r->path) >= sizeof(path))
				abort();
		}
		/* Whatever follows the head, as a chunked body. */
		memset(&ch, 0, sizeof(ch));
		if (http_chunked_decode(&ch, buf + end, size - (size_t)end,
		    &used, &got) != -1 && (used > size - (size_t)end || got > used))
			abort();
	}

	memcpy(buf, data, size);
	buf[size] = '\0';
	if (http_path_normalize(buf, size, out, sizeof(out)) == 0 &&
	    (out[0] != '/' || strstr(out, "/../") != NULL ||
	    strstr(out, "//") != NULL))
		abort();	/* normalisation must never leave these */
	if (http_range_parse(buf, 1000, &a, &b) == 1 &&
	    (a < 0 || b >= 1000 || a > b))
		abort();
	(void)http_date_parse(buf);
	free(r);
	free(buf);
	return 0;
}
