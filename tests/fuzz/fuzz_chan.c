/*
 * fuzz_chan.c: libFuzzer target for what the engine process takes from a
 * server process (docs/privsep.md): a CHAN_RUN payload.  A server process
 * is the one that parses the network, so the engine treats its messages as
 * input from an attacker who may own it.  Each accepted environment string
 * must be a NUL-terminated NAME=value, and the strings must account for
 * every byte of the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chan_run run;
	size_t n = 0, bytes = 0;
	int rv;

	rv = chan_parse_run((const char *)data, size, &run);
	if (rv == -2)
		return 0;
	if (rv == -1) {
		if (run.env != NULL)
			abort();
		return 0;
	}
	if (rv != 0 || run.env == NULL || run.prefix[0] != '/')
		abort();
	for (char **e = run.env; *e != NULL; e++) {
		const char *eq = strchr(*e, '=');

		if (eq == NULL || eq == *e)
			abort();
		bytes += strlen(*e);
		n++;
	}
	/* prefix, reqid, client, count, then n (length, bytes) pairs. */
	if (12 + strlen(run.prefix) + strlen(run.reqid) + strlen(run.client) +
	    4 + 4 * n + bytes != size)
		abort();
	free(run.env);
	return 0;
}
