/*
 * fuzz_conf.c: libFuzzer target for the httpd.conf parser and the unit
 * parsers.  The input is written to a private file and loaded, relative
 * paths resolving in a small tree of the target's own (a few files to
 * Include).  An Include is kept inside that tree (tree_includes()): a
 * pattern such as "/[*]/[*]/[*]/[*]" or "../../[*]/[*]" would glob the
 * machine's /proc and /usr, a thousand inputs a second instead of many
 * thousands, for no code that a pattern inside the tree does not reach.
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int LLVMFuzzerInitialize(int *, char ***);

static char root[64] = "/tmp";

static void
put(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz_conf.XXXXXX", sub[96];

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		return 0;
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	(void)mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/www", dir);
	(void)mkdir(sub, 0755);
	put(dir, "conf.d/a.conf", "ServerName a\n");
	put(dir, "conf.d/b.conf", "<Route /b>\nImage b\n</Route>\n");
	put(dir, "www/index.html", "x\n");
	snprintf(root, sizeof(root), "%s", dir);
	return 0;
}

/*
 * Keep Include inside the tree: on a line that names it, a leading '/' of
 * the pattern becomes 'x' and ".." becomes "xx" (in place; the directive
 * name in any case, as the parser takes it).
 */
static void
tree_includes(char *s, size_t n)
{
	for (size_t i = 0; i + 7 < n; i++) {
		size_t j;

		if (strncasecmp(s + i, "include", 7) != 0)
			continue;
		for (j = i + 7; j < n && (s[j] == ' ' || s[j] == '\t' ||
		    s[j] == '"'); j++)
			;
		if (j < n && s[j] == '/')
			s[j] = 'x';
		for (; j + 1 < n && s[j] != '\n'; j++)
			if (s[j] == '.' && s[j + 1] == '.')
				s[j] = s[j + 1] = 'x';
	}
}

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
	if ((f = fopen(path, "w")) == NULL || (s = malloc(size + 1)) == NULL) {
		if (f != NULL)
			fclose(f);
		return 0;
	}
	memcpy(s, data, size);
	tree_includes(s, size);
	fwrite(s, 1, size, f);
	fclose(f);
	free(s);
	if ((c = conf_load(path, root, quiet, NULL)) != NULL) {
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
