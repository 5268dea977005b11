/*
 * fuzz_chan.c: libFuzzer target for what the engine process takes from a
 * server process (docs/privsep.md): a CHAN_RUN payload.  A server process
 * is the one that parses the network, so the engine treats its messages as
 * input from an attacker who may own it.  Each accepted environment string
 * must be a NUL-terminated NAME=value, and the strings must account for
 * every byte of the payload; then what the engine keeps of it
 * (cgi_env_confine()) holds no name but the CGI ones, HTTP_* in upper
 * case, and the route's Env.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"
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
	    4 + 4 * n + bytes != size || n > CHAN_MAX_ENV)
		abort();
	{
		static char *extra[] = { "ROUTE_ENV=1", NULL };
		char **kept = cgi_env_confine(run.env, extra);

		for (char **e = kept; e != NULL && *e != NULL; e++) {
			const char *eq = strchr(*e, '=');

			if (eq == NULL || eq == *e)
				abort();
			if (strncmp(*e, "ROUTE_ENV=", 10) == 0 ||
			    (strncmp(*e, "HTTP_", 5) == 0 && eq - *e > 5 &&
			    strncmp(*e, "HTTP_PROXY=", 11) != 0))
				continue;
			if (strncmp(*e, "PATH=", 5) == 0 ||
			    strncmp(*e, "LD_", 3) == 0 ||
			    strncmp(*e, "BASH_ENV=", 9) == 0 ||
			    strncmp(*e, "HTTP_PROXY=", 11) == 0)
				abort();
			if (strspn(*e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") !=
			    (size_t)(eq - *e))
				abort();	/* a CGI name is upper case */
		}
		free(kept);
	}
	free(run.env);
	return 0;
}
