/*
 * dcgi-init: the first process of a prestarted container.
 *
 * dcgid starts a container before its request is known, so the request's
 * CGI environment cannot be given to the engine.  It is bind-mounted
 * read-only at /.dcgi/init and is the container's entrypoint, with the
 * image's own entrypoint and command as its arguments:
 *
 *	/.dcgi/init ENTRYPOINT... CMD...
 *
 * It waits on stdin for the request, which dcgid writes as LENGTH and ENV
 * (httpd/envblock.h), then the body to the end of stdin, and
 * sets ENV over the environment the engine gave (the image's Env, HOSTNAME,
 * HOME, as for any container), and execs its arguments (searched in the
 * new PATH) with BODY still unread on stdin: the function cannot tell that
 * it was not started for this request.  It reads nothing beyond ENV.
 *
 * Static, no allocation beyond ENV, no output but a line on stderr when
 * something is wrong (exit 125: bad input, 126/127: cannot exec, as the
 * shell and the engine say it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../envblock.h"

static void
die(int code, const char *what, const char *detail)
{
	fprintf(stderr, "dcgi-init: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	exit(code);
}

/* Read exactly n bytes; 0 at once on EOF before the first byte. */
static int
readn(char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, p + got, n - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			die(125, "reading the request", strerror(errno));
		if (r == 0) {
			if (got == 0)
				return 0;
			die(125, "the request ended early", NULL);
		}
		got += (size_t)r;
	}
	return 1;
}

static int
put(void *arg, const char *name, const char *value)
{
	(void)arg;
	return setenv(name, value, 1);
}

int
main(int argc, char *argv[])
{
	unsigned char len[4];
	const char *why;
	char *env;
	long n;

	if (argc < 2)
		die(125, "nothing to run (the image has no entrypoint or "
		    "command)", NULL);
	if (!readn((char *)len, sizeof(len)))
		return 0;	/* closed unused: the container is removed */
	if ((n = envblock_length(len)) == -1)
		die(125, "environment too large", NULL);
	if ((env = malloc((size_t)n + 1)) == NULL)
		die(125, "out of memory", NULL);
	if (n > 0 && !readn(env, (size_t)n))
		die(125, "the request ended early", NULL);
	if (envblock_parse(env, (size_t)n, put, NULL, &why) == -1)
		die(125, why, NULL);
	execvp(argv[1], argv + 1);
	die(errno == ENOENT ? 127 : 126, argv[1], strerror(errno));
	return 127;
}
