/*
 * fuzz_conf.c: libFuzzer target for the httpd.conf parser and the unit
 * parsers.  The input is written to a private file and loaded; Include
 * lines in it may name other files, which only makes the fuzzer read more.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	if (msg == NULL || strchr(msg, ':') == NULL)
		abort();	/* every message names its place */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct conf *c;
	FILE *f;
	char *s;
	int64_t v;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/dev/shm/fuzz_conf.%d.conf",
		    (int)getpid());
	if ((f = fopen(path, "w")) == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if ((c = conf_load(path, "/tmp", quiet, NULL)) != NULL) {
		(void)conf_route_match(c, "/a/b");
		conf_unref(c);
	}
	if ((s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)conf_parse_duration(s, &v);
		(void)conf_parse_size(s, &v);
		free(s);
	}
	return 0;
}
