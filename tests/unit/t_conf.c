/*
 * t_conf.c: httpd.conf parsing, as tables: units, every directive's bad
 * input and the "FILE:LINE: message" it must produce, a full and a
 * minimal configuration with their values and defaults, Include, the
 * Docker socket guard on Mount, and route matching.  Configurations are
 * written into a temporary server root and loaded from there.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "tap.h"

static char	 root[PATH_MAX - 128];	/* room for names below it */

struct errs {
	char	 buf[32768];
	size_t	 len;
	int	 n;
};

static void
collect(void *arg, const char *msg)
{
	struct errs	*e = arg;
	int		 n;

	e->n++;
	n = snprintf(e->buf + e->len, sizeof(e->buf) - e->len, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(e->buf) - e->len)
		e->len += (size_t)n;
}

static void
write_bytes(const char *name, const char *text, size_t len)
{
	char	 path[PATH_MAX];
	int	 fd;

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "path too long\n");
		exit(2);
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, text, len) != (ssize_t)len || close(fd) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static void
write_file(const char *name, const char *text)
{
	write_bytes(name, text, strlen(text));
}

static void
make_dir(const char *name)
{
	char	 path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/%s", root, name);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(2);
	}
}

static struct conf *
load(const char *text, struct errs *e)
{
	memset(e, 0, sizeof(*e));
	write_file("httpd.conf", text);
	return conf_load("httpd.conf", root, collect, e);
}

/* Some message starts with `where` and contains `want`. */
static int
has_err(const struct errs *e, const char *where, const char *want)
{
	const char	*line = e->buf, *nl;
	size_t		 wl = strlen(where);
	char		 one[4096];

	for (; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		if ((size_t)(nl - line) >= sizeof(one))
			continue;
		memcpy(one, line, nl - line);
		one[nl - line] = '\0';
		if (strncmp(one, where, wl) == 0 && strstr(one, want) != NULL)
			return 1;
	}
	return 0;
}

/* Print the messages when a check failed since the last call. */
static void
show_errs(const struct errs *e)
{
	static int	 failed;
	const char	*line, *nl;

	if (tap_failed == failed)
		return;
	failed = tap_failed;
	for (line = e->buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
		printf("#   got: %.*s\n", (int)(nl - line), line);
}

/* Load `text`, expect failure with a message at `where` with `want`. */
static void
expect_error(const char *text, const char *where, const char *want)
{
	struct errs	 e;
	struct conf	*c;
	int		 found;

	c = load(text, &e);
	found = has_err(&e, where, want);
	ok(c == NULL && found, "%s... %s", where, want);
	show_errs(&e);
	conf_unref(c);
}

static void
test_units(void)
{
	static const struct {
		const char	*in;
		int		 rc;
		int64_t		 ms;
	} dur[] = {
		{ "30s", 0, 30000 },
		{ "500ms", 0, 500 },
		{ "2m", 0, 120000 },
		{ "1h", 0, 3600000 },
		{ "10", 0, 10000 },
		{ "0", 0, 0 },
		{ "0ms", 0, 0 },
		{ "007s", 0, 7000 },
		{ "30S", 0, 30000 },
		{ "1H", 0, 3600000 },
		{ "250MS", 0, 250 },
		{ "9223372036854775807ms", 0, INT64_MAX },
		{ "", -1, 0 },
		{ "s", -1, 0 },
		{ "ms", -1, 0 },
		{ "-1", -1, 0 },
		{ "-1s", -1, 0 },
		{ "+1s", -1, 0 },
		{ " 1s", -1, 0 },
		{ "1s ", -1, 0 },
		{ "1 s", -1, 0 },
		{ "1d", -1, 0 },
		{ "1.5s", -1, 0 },
		{ "1sec", -1, 0 },
		{ "1ms2", -1, 0 },
		{ "1s1", -1, 0 },
		{ "0x10", -1, 0 },
		{ "1e3", -1, 0 },
		{ "9223372036854775807s", -1, 0 },
		{ "9223372036854775808ms", -1, 0 },
		{ "99999999999999999999", -1, 0 },
		{ "2562047788015216h", -1, 0 },
	};
	static const struct {
		const char	*in;
		int		 rc;
		int64_t		 bytes;
	} size[] = {
		{ "512", 0, 512 },
		{ "0", 0, 0 },
		{ "64k", 0, 65536 },
		{ "64K", 0, 65536 },
		{ "256m", 0, 268435456 },
		{ "256M", 0, 268435456 },
		{ "1g", 0, 1073741824 },
		{ "1G", 0, 1073741824 },
		{ "8589934591g", 0, INT64_C(8589934591) * 1073741824 },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "", -1, 0 },
		{ "k", -1, 0 },
		{ "1b", -1, 0 },
		{ "1B", -1, 0 },
		{ "1kb", -1, 0 },
		{ "1KB", -1, 0 },
		{ "1t", -1, 0 },
		{ "1.5m", -1, 0 },
		{ "-1", -1, 0 },
		{ "+1", -1, 0 },
		{ " 1", -1, 0 },
		{ "1 ", -1, 0 },
		{ "1 k", -1, 0 },
		{ "0x10", -1, 0 },
		{ "8589934592g", -1, 0 },
		{ "9007199254740992k", -1, 0 },
		{ "9223372036854775808", -1, 0 },
	};
	size_t	 i;
	int64_t	 v;

	for (i = 0; i < sizeof(dur) / sizeof(dur[0]); i++) {
		v = -42;
		is_int(conf_parse_duration(dur[i].in, &v), dur[i].rc,
		    "duration \"%s\" %s", dur[i].in,
		    dur[i].rc == 0 ? "parses" : "is refused");
		is_int(v, dur[i].rc == 0 ? dur[i].ms : -42,
		    "duration \"%s\" value", dur[i].in);
	}
	is_int(conf_parse_duration(NULL, &v), -1, "duration NULL");
	for (i = 0; i < sizeof(size) / sizeof(size[0]); i++) {
		v = -42;
		is_int(conf_parse_size(size[i].in, &v), size[i].rc,
		    "size \"%s\" %s", size[i].in,
		    size[i].rc == 0 ? "parses" : "is refused");
		is_int(v, size[i].rc == 0 ? size[i].bytes : -42,
		    "size \"%s\" value", size[i].in);
	}
	is_int(conf_parse_size(NULL, &v), -1, "size NULL");
}

/* Line 1 is Listen; with R() the body starts on line 4, RN() line 3. */
#define L	"Listen 8080\n"
#define R(b)	L "<Route /a>\nImage x\n" b "</Route>\n"
/* A module name of 200 characters, the longest one. */
#define M10	"abcdefghij"
#define M200	M10 M10 M10 M10 M10 M10 M10 M10 M10 M10 \
		M10 M10 M10 M10 M10 M10 M10 M10 M10 M10
#define RN(b)	L "<Route /a>\n" b "</Route>\n"
#define Q(b)	L "Redis 127.0.0.1:6379\n<Queue q>\nImage x\n" b "</Queue>\n"
#define X10	"xxxxxxxxxx"

static void
test_errors(void)
{
	static const struct {
		const char	*text;
		const char	*where;
		const char	*want;
	} tab[] = {
		/* The lexer and the message format. */
		{ L "Imgae dcgi/vote\n", "httpd.conf:2: ",
		  "unknown directive \"Imgae\" (in: Imgae dcgi/vote)" },
		{ L "  Imgae   dcgi/vote  # typo\n", "httpd.conf:2: ",
		  "(in: Imgae   dcgi/vote  # typo)" },
		{ L "ServerName \"abc\n", "httpd.conf:2: ",
		  "unterminated quoted string" },
		{ L "ServerName \"a\\\"\n", "httpd.conf:2: ",
		  "unterminated quoted string" },
		{ L "DocumentRoot \\\n  www \\\n  extra\n", "httpd.conf:2: ",
		  "DocumentRoot takes 1 argument, got 2 (in: DocumentRoot "
		  "  www   extra)" },
		{ L "\\\n\\\nBogus\n", "httpd.conf:2: ", "unknown directive" },
		{ L "ServerName a\nServerName b\n", "httpd.conf:3: ",
		  "ServerName given twice (first at httpd.conf:2)" },
		{ L "servername a\nSERVERNAME b\n", "httpd.conf:3: ",
		  "ServerName given twice" },
		{ L "Bogus \x01\n", "httpd.conf:2: ",
		  "unknown directive \"Bogus\" (in: Bogus ?)" },

		/* Sections. */
		{ L "<Route /a>\nImage x\n", "httpd.conf:2: ",
		  "unclosed <Route /a> at end of file (in: <Route /a>)" },
		{ L "Redis h:1\n<Queue q>\nImage x\n", "httpd.conf:3: ",
		  "unclosed <Queue q> at end of file" },
		{ L "<Route /a>\nImage x\n<Route /b>\nImage y\n</Route>\n",
		  "httpd.conf:4: ",
		  "nested sections: <Route> inside <Route /a> opened at "
		  "line 2" },
		{ L "Redis h:1\n<Queue q>\nImage x\n<Route /b>\nImage y\n"
		  "</Route>\n", "httpd.conf:5: ",
		  "nested sections: <Route> inside <Queue q>" },
		{ L "</Route>\n", "httpd.conf:2: ",
		  "</Route> without a matching <Route>" },
		{ L "<Route /a>\nImage x\n</Queue>\n", "httpd.conf:4: ",
		  "</Queue> closes <Route /a> opened at line 2" },
		{ L "<Route /a>\nImage x\n</Route extra>\n", "httpd.conf:4: ",
		  "</Route> takes no arguments" },
		{ L "<Directory /x>\n</Directory>\n", "httpd.conf:2: ",
		  "unknown section <Directory>" },
		{ L "</Directory>\n", "httpd.conf:2: ",
		  "unknown section </Directory>" },
		{ L "<Route /a\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "missing '>' at the end of the section tag" },
		{ L "<Route>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "<Route> takes 1 argument, got 0" },
		{ L "<Route /a /b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "<Route> takes 1 argument, got 2" },
		{ L "<Route /a>\n</Route>\n", "httpd.conf:2: ",
		  "<Route /a> has no Image (in: <Route /a>)" },
		{ L "Redis h:1\n<Queue q>\nNetwork host\n</Queue>\n",
		  "httpd.conf:3: ", "<Queue q> has no Image" },
		{ L "Image x\n", "httpd.conf:2: ", "Image is not valid outside "
		  "a section (only inside <Route> or <Queue>)" },
		{ L "Command x\n", "httpd.conf:2: ",
		  "Command is not valid outside a section" },
		{ L "Concurrency 2\n", "httpd.conf:2: ",
		  "Concurrency is not valid outside a section (only inside "
		  "<Queue>)" },
		{ R("Listen 9090\n"), "httpd.conf:4: ", "Listen is not valid "
		  "inside <Route> (only outside sections)" },
		{ R("Include x.conf\n"), "httpd.conf:4: ",
		  "Include is not valid inside <Route>" },
		{ R("Concurrency 2\n"), "httpd.conf:4: ", "Concurrency is not "
		  "valid inside <Route> (only inside <Queue>)" },
		{ Q("MaxConcurrent 2\n"), "httpd.conf:5: ", "MaxConcurrent is "
		  "not valid inside <Queue> (only inside <Route>)" },
		{ Q("MaxBody 1m\n"), "httpd.conf:5: ", "MaxBody is not valid "
		  "inside <Queue> (only outside sections or inside <Route>)" },
		{ Q("Cache 1s\n"), "httpd.conf:5: ",
		  "Cache is not valid inside <Queue>" },

		/* Route prefixes and queue names. */
		{ L "<Route vote>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "bad prefix \"vote\": a route prefix starts with '/'" },
		{ L "<Route /a//>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "no empty segments" },
		{ L "<Route /a/../b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "\"..\" segments" },
		{ L "<Route /a/..>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "\"..\" segments" },
		{ L "<Route /a/./b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "\"..\" segments" },
		{ L "<Route /a%20b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "no '%'" },
		{ L "<Route /a?b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "no '?'" },
		{ L "<Route /a//b>\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "no empty segments" },
		{ L "<Route \"/a b\">\nImage x\n</Route>\n", "httpd.conf:2: ",
		  "no blanks" },
		{ L "<Route /a>\nImage x\n</Route>\n<Route /a>\nImage y\n"
		  "</Route>\n", "httpd.conf:5: ",
		  "duplicate route prefix /a (first at httpd.conf:2)" },
		{ L "TLSSessionTickets maybe\n", "httpd.conf:2: ",
		  "TLSSessionTickets: want on or off, got \"maybe\"" },
		{ L "HTTPSRedirect 1\n", "httpd.conf:2: ",
		  "HTTPSRedirect: want on or off, got \"1\"" },
		{ L "Redis h:1\n<Queue a/b>\nImage x\n</Queue>\n",
		  "httpd.conf:3: ", "<Queue>: bad name \"a/b\"" },
		{ L "Redis h:1\n<Queue \"\" >\nImage x\n</Queue>\n",
		  "httpd.conf:3: ", "1 to 200 characters" },
		{ L "Redis h:1\n<Queue " X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
		  X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 "x>\nImage x\n"
		  "</Queue>\n", "httpd.conf:3: ", "1 to 200 characters" },
		{ L "Redis h:1\n<Queue q>\nImage x\n</Queue>\n<Queue q>\n"
		  "Image x\n</Queue>\n", "httpd.conf:6: ",
		  "duplicate queue name q (first at httpd.conf:3)" },
		{ L "<Queue q>\nImage x\n</Queue>\n", "httpd.conf:2: ",
		  "<Queue q> needs a Redis directive" },

		/* Listen and TLS. */
		{ "Listen\n", "httpd.conf:1: ",
		  "Listen takes 1 or 2 arguments, got 0" },
		{ "Listen 8080 tls x\n", "httpd.conf:1: ",
		  "Listen takes 1 or 2 arguments, got 3" },
		{ "Listen 0\n", "httpd.conf:1: ",
		  "Listen: bad address \"0\": bad port (want 1 to 65535)" },
		{ "Listen 65536\n", "httpd.conf:1: ", "bad port" },
		{ "Listen 80x\n", "httpd.conf:1: ", "bad port" },
		{ "Listen -80\n", "httpd.conf:1: ", "bad port" },
		{ "Listen 127.0.0.1\n", "httpd.conf:1: ", "bad port" },
		{ "Listen 127.0.0.1:\n", "httpd.conf:1: ", "bad port" },
		{ "Listen ::1:8080\n", "httpd.conf:1: ",
		  "an IPv6 address goes in brackets" },
		{ "Listen [::1:8080\n", "httpd.conf:1: ", "missing ']'" },
		{ "Listen [::1]8080\n", "httpd.conf:1: ", "junk after ']'" },
		{ "Listen [::g]:8080\n", "httpd.conf:1: ", "bad IPv6 address" },
		{ "Listen [127.0.0.1]:8080\n", "httpd.conf:1: ",
		  "bad IPv6 address" },
		{ "Listen 256.1.1.1:80\n", "httpd.conf:1: ",
		  "bad IPv4 address" },
		{ "Listen 1.2.3:80\n", "httpd.conf:1: ", "bad IPv4 address" },
		{ "Listen bad_host:80\n", "httpd.conf:1: ", "bad host name" },
		{ "Listen -bad:80\n", "httpd.conf:1: ", "bad host name" },
		{ "Listen :80\n", "httpd.conf:1: ", "empty host" },
		{ "Listen 8080 ssl\n", "httpd.conf:1: ",
		  "Listen: unknown option \"ssl\" (want tls)" },
		{ "Listen 8080\nListen 8080\n", "httpd.conf:2: ",
		  "duplicate Listen on port 8080 (first at httpd.conf:1)" },
		{ "Listen *:8080\nListen 8080 tls\n", "httpd.conf:2: ",
		  "duplicate Listen on port 8080" },
		{ "Listen 127.0.0.1:80\nListen 127.0.0.1:80\n",
		  "httpd.conf:2: ", "duplicate Listen on 127.0.0.1 port 80" },
		{ "Listen [::1]:80\nListen [0:0::1]:80\n", "httpd.conf:2: ",
		  "duplicate Listen on ::1 port 80" },
		{ "Listen 8080\nListen 127.0.0.1:8080\n", "httpd.conf:2: ",
		  "clashes with the one at httpd.conf:1" },
		{ "Listen 8443 tls\n", "httpd.conf:1: ",
		  "Listen 8443 tls needs TLSCertificateFile and "
		  "TLSCertificateKeyFile" },
		{ "Listen [::1]:8443 tls\nTLSCertificateFile c.pem\n",
		  "httpd.conf:1: ", "Listen [::1]:8443 tls needs" },
		{ "ServerName x\n", "httpd.conf:0: ",
		  "no Listen directive: at least one is needed" },
		{ "", "httpd.conf:0: ", "no Listen directive" },
		{ L "TLSCertificateFile a.pem\n", "httpd.conf:2: ",
		  "TLSCertificateFile without TLSCertificateKeyFile" },
		{ L "TLSCertificateKeyFile a.pem\n", "httpd.conf:2: ",
		  "TLSCertificateKeyFile without TLSCertificateFile" },
		{ L "TLSCertificateFile a b\n", "httpd.conf:2: ",
		  "TLSCertificateFile takes 1 argument, got 2" },

		/* The other global directives. */
		{ L "DocumentRoot \"\"\n", "httpd.conf:2: ",
		  "DocumentRoot: empty path" },
		{ L "DocumentRoot\n", "httpd.conf:2: ",
		  "DocumentRoot takes 1 argument, got 0" },
		{ L "MimeTypes \"\"\n", "httpd.conf:2: ",
		  "MimeTypes: empty path" },
		{ L "ErrorLog off\n", "httpd.conf:2: ",
		  "ErrorLog cannot be off" },
		{ L "ErrorLog a b\n", "httpd.conf:2: ",
		  "ErrorLog takes 1 argument, got 2" },
		{ L "AccessLog stdout fancy\n", "httpd.conf:2: ",
		  "AccessLog: unknown format \"fancy\" (want common or "
		  "combined)" },
		{ L "AccessLog\n", "httpd.conf:2: ",
		  "AccessLog takes 1 or 2 arguments, got 0" },
		{ L "AccessLog a b c\n", "httpd.conf:2: ",
		  "AccessLog takes 1 or 2 arguments, got 3" },
		{ L "ServerName bad_name\n", "httpd.conf:2: ",
		  "ServerName: bad name \"bad_name\"" },
		{ L "ServerName a b\n", "httpd.conf:2: ",
		  "ServerName takes 1 argument, got 2" },
		{ L "DockerHost http://x\n", "httpd.conf:2: ",
		  "DockerHost: unsupported address \"http://x\"" },
		{ L "DockerHost /var/run/docker.sock\n", "httpd.conf:2: ",
		  "DockerHost: unsupported address" },
		{ L "DockerHost unix://var/run/docker.sock\n", "httpd.conf:2: ",
		  "the socket path must be absolute" },
		{ L "DockerHost unix:///" X10 X10 X10 X10 X10 X10 X10 X10 X10
		  X10 X10 "\n", "httpd.conf:2: ",
		  "the socket path is too long" },
		{ L "DockerHost tcp://host\n", "httpd.conf:2: ",
		  "missing port" },
		{ L "DockerHost tcp://:2375\n", "httpd.conf:2: ",
		  "empty host" },
		{ L "DockerHost tcp://h:99999\n", "httpd.conf:2: ",
		  "bad port" },
		{ L "Redis localhost\n", "httpd.conf:2: ",
		  "Redis: bad address \"localhost\": missing port" },
		{ L "Redis unix:relative\n", "httpd.conf:2: ",
		  "the socket path must be absolute" },
		{ L "Redis a b\n", "httpd.conf:2: ",
		  "Redis takes 1 argument, got 2" },
		{ L "Health relative\n", "httpd.conf:2: ",
		  "Health: bad path \"relative\" (an absolute URL path" },
		{ L "Health /a?b\n", "httpd.conf:2: ",
		  "Health: bad path \"/a?b\"" },
		{ L "Health /a#b\n", "httpd.conf:2: ", "Health: bad path" },
		{ L "Health /a%20b\n", "httpd.conf:2: ", "Health: bad path" },
		{ L "Health /a/../b\n", "httpd.conf:2: ", "Health: bad path" },
		{ L "Health \"/a b\"\n", "httpd.conf:2: ",
		  "Health: bad path \"/a b\" (no spaces or control" },
		{ L "Health\n", "httpd.conf:2: ",
		  "Health takes 1 argument, got 0" },
		{ L "Health /a /b\n", "httpd.conf:2: ",
		  "Health takes 1 argument, got 2" },
		{ L "Health /a\nHealth /b\n", "httpd.conf:3: ",
		  "Health given twice" },
		{ L "Metrics relative\n", "httpd.conf:2: ",
		  "Metrics: bad path \"relative\" (an absolute URL path such "
		  "as /metrics" },
		{ L "Metrics /a?b\n", "httpd.conf:2: ",
		  "Metrics: bad path \"/a?b\"" },
		{ L "Metrics /a#b\n", "httpd.conf:2: ", "Metrics: bad path" },
		{ L "Metrics /a%20b\n", "httpd.conf:2: ", "Metrics: bad path" },
		{ L "Metrics /a/../b\n", "httpd.conf:2: ", "Metrics: bad path" },
		{ L "Metrics \"/a b\"\n", "httpd.conf:2: ",
		  "Metrics: bad path \"/a b\" (no spaces or control" },
		{ L "Metrics\n", "httpd.conf:2: ",
		  "Metrics takes 1 argument, got 0" },
		{ L "Metrics /a /b\n", "httpd.conf:2: ",
		  "Metrics takes 1 argument, got 2" },
		{ L "Metrics /a\nMetrics /b\n", "httpd.conf:3: ",
		  "Metrics given twice" },
		{ L "Health /m\nMetrics /m\n", "httpd.conf:3: ",
		  "Metrics /m is the Health path too: each needs a path of its "
		  "own" },
		{ R("Metrics /m\n"), "httpd.conf:4: ",
		  "Metrics is not valid inside <Route>" },
		{ L "MaxStarting 0\n", "httpd.conf:2: ",
		  "MaxStarting: 0 is out of range (1 to 1000)" },
		{ L "MaxContainers 0\n", "httpd.conf:2: ",
		  "MaxContainers: 0 is out of range (1 to 100000)" },
		{ L "MaxContainers 100001\n", "httpd.conf:2: ",
		  "MaxContainers: 100001 is out of range" },
		{ L "MaxContainers abc\n", "httpd.conf:2: ",
		  "MaxContainers: \"abc\" is not a number" },
		{ L "MaxContainers -1\n", "httpd.conf:2: ", "is not a number" },
		{ L "MaxContainers 1k\n", "httpd.conf:2: ", "is not a number" },
		{ L "MaxContainers 99999999999999999999\n", "httpd.conf:2: ",
		  "is out of range" },
		{ L "MaxConnections 0\n", "httpd.conf:2: ",
		  "MaxConnections: 0 is out of range" },
		{ L "MaxRequestLine 100\n", "httpd.conf:2: ",
		  "MaxRequestLine: 100 is out of range (256 to 1m)" },
		{ L "MaxRequestLine 2m\n", "httpd.conf:2: ", "out of range" },
		{ L "MaxHeaderSize 512\n", "httpd.conf:2: ",
		  "MaxHeaderSize: 512 is out of range (1k to 1m)" },
		{ L "MaxHeaderSize 2m\n", "httpd.conf:2: ", "out of range" },
		{ L "MaxHeaderSize 16kb\n", "httpd.conf:2: ",
		  "MaxHeaderSize: \"16kb\" is not a size" },
		{ L "MaxHeaders 0\n", "httpd.conf:2: ",
		  "MaxHeaders: 0 is out of range (1 to 10000)" },
		{ L "MaxBody 2048g\n", "httpd.conf:2: ",
		  "MaxBody: 2048g is out of range (0 to 1024g)" },
		{ L "MaxBody 99999999999999999999\n", "httpd.conf:2: ",
		  "is out of range" },
		{ L "MaxBody 1q\n", "httpd.conf:2: ", "is not a size" },
		{ L "HeaderTimeout 10x\n", "httpd.conf:2: ",
		  "HeaderTimeout: \"10x\" is not a duration" },
		{ L "HeaderTimeout 50ms\n", "httpd.conf:2: ",
		  "HeaderTimeout: 50ms is out of range (100ms to 1h)" },
		{ L "BodyTimeout 2h\n", "httpd.conf:2: ",
		  "BodyTimeout: 2h is out of range" },
		{ L "SendTimeout -1\n", "httpd.conf:2: ",
		  "SendTimeout: \"-1\" is not a duration" },
		{ L "KeepAliveTimeout 1d\n", "httpd.conf:2: ",
		  "KeepAliveTimeout: \"1d\" is not a duration" },
		{ L "KeepAliveTimeout 0\n", "httpd.conf:2: ", "out of range" },
		{ L "KeepAliveRequests 0\n", "httpd.conf:2: ",
		  "KeepAliveRequests: 0 is out of range (1 to 1000000)" },
		{ L "GracePeriod 2h\n", "httpd.conf:2: ",
		  "GracePeriod: 2h is out of range (0 to 1h)" },
		{ L "GracePeriod 1 2\n", "httpd.conf:2: ",
		  "GracePeriod takes 1 argument, got 2" },
		{ L "Include\n", "httpd.conf:2: ",
		  "Include takes 1 argument, got 0" },

		/* Route and queue directives. */
		{ RN("Image Dcgi/Vote\n"), "httpd.conf:3: ",
		  "Image: bad image name \"Dcgi/Vote\"" },
		{ RN("Image dcgi/vote:\n"), "httpd.conf:3: ", "bad tag" },
		{ RN("Image dcgi/vote:-x\n"), "httpd.conf:3: ", "bad tag" },
		{ RN("Image dcgi/vote:a:b\n"), "httpd.conf:3: ", "bad tag" },
		{ RN("Image dcgi/vote@sha256:abc\n"), "httpd.conf:3: ",
		  "a digest is sha256: and 64 hex digits" },
		{ RN("Image dcgi/vote@md5:0123456789abcdef0123456789abcdef\n"),
		  "httpd.conf:3: ", "a digest is sha256" },
		{ RN("Image -x\n"), "httpd.conf:3: ", "bad image name" },
		{ RN("Image dcgi//vote\n"), "httpd.conf:3: ",
		  "empty path component" },
		{ RN("Image dcgi/\n"), "httpd.conf:3: ",
		  "empty path component" },
		{ RN("Image \"a b\"\n"), "httpd.conf:3: ", "bad image name" },
		{ RN("Image @sha256:" X10 X10 X10 X10 X10 X10 "0123\n"),
		  "httpd.conf:3: ", "a digest is sha256" },
		{ RN("Image\n"), "httpd.conf:3: ",
		  "Image takes 1 argument, got 0" },
		{ RN("Image a b\n"), "httpd.conf:3: ",
		  "Image takes 1 argument, got 2" },
		{ R("Image y\n"), "httpd.conf:4: ",
		  "Image given twice (first at httpd.conf:3)" },
		{ R("Command\n"), "httpd.conf:4: ",
		  "Command takes at least 1 argument, got 0" },
		{ R("Command a\nCommand b\n"), "httpd.conf:5: ",
		  "Command given twice" },
		{ R("Env FOO\n"), "httpd.conf:4: ",
		  "Env: want NAME=VALUE, got \"FOO\"" },
		{ R("Env 1X=a\n"), "httpd.conf:4: ",
		  "Env: bad variable name \"1X\"" },
		{ R("Env =a\n"), "httpd.conf:4: ", "Env: bad variable name" },
		{ R("Env A-B=1\n"), "httpd.conf:4: ",
		  "Env: bad variable name \"A-B\"" },
		{ R("Env A=1 B=2\n"), "httpd.conf:4: ",
		  "Env takes 1 argument, got 2" },
		{ R("Env A=1\nEnv A=2\n"), "httpd.conf:5: ",
		  "Env: A is set twice" },
		{ R("Network bad/net\n"), "httpd.conf:4: ",
		  "Network: bad network \"bad/net\"" },
		{ R("Network -x\n"), "httpd.conf:4: ", "bad network" },
		{ R("Network\n"), "httpd.conf:4: ",
		  "Network takes 1 argument, got 0" },
		{ R("Timeout 0\n"), "httpd.conf:4: ",
		  "Timeout: 0 is out of range (100ms to 24h)" },
		{ R("Timeout 25h\n"), "httpd.conf:4: ", "out of range" },
		{ R("Timeout 1.5s\n"), "httpd.conf:4: ",
		  "Timeout: \"1.5s\" is not a duration" },
		{ R("Memory 1m\n"), "httpd.conf:4: ",
		  "Memory: 1m is out of range (4m to 1024g)" },
		{ R("Memory lots\n"), "httpd.conf:4: ",
		  "Memory: \"lots\" is not a size" },
		{ R("Memory 256mb\n"), "httpd.conf:4: ", "is not a size" },
		{ R("CPUs 0\n"), "httpd.conf:4: ",
		  "CPUs: 0 is out of range (more than 0, at most 1024)" },
		{ R("CPUs 0.000\n"), "httpd.conf:4: ", "out of range" },
		{ R("CPUs 1025\n"), "httpd.conf:4: ", "out of range" },
		{ R("CPUs 1024.5\n"), "httpd.conf:4: ", "out of range" },
		{ R("CPUs 99999999999999999999\n"), "httpd.conf:4: ",
		  "out of range" },
		{ R("CPUs -1\n"), "httpd.conf:4: ",
		  "CPUs: \"-1\" is not a decimal number" },
		{ R("CPUs .5\n"), "httpd.conf:4: ", "is not a decimal number" },
		{ R("CPUs 1.\n"), "httpd.conf:4: ", "is not a decimal number" },
		{ R("CPUs 1e3\n"), "httpd.conf:4: ",
		  "is not a decimal number" },
		{ R("CPUs 0,5\n"), "httpd.conf:4: ",
		  "is not a decimal number" },
		{ R("CPUs 0.0000000001\n"), "httpd.conf:4: ",
		  "is not a decimal number" },
		{ R("Pids 0\n"), "httpd.conf:4: ",
		  "Pids: 0 is out of range (1 to 4194304)" },
		{ R("ReadOnly yes\n"), "httpd.conf:4: ",
		  "ReadOnly: want on or off, got \"yes\"" },
		{ R("User 1x\n"), "httpd.conf:4: ", "User: bad user \"1x\"" },
		{ R("User a:b:c\n"), "httpd.conf:4: ", "User: bad user" },
		{ R("User 4294967295\n"), "httpd.conf:4: ", "User: bad user" },
		{ R("User :100\n"), "httpd.conf:4: ", "User: bad user" },
		{ R("User 100:\n"), "httpd.conf:4: ", "User: bad user" },
		{ R("Mount rel /x\n"), "httpd.conf:4: ",
		  "Mount: the source \"rel\" is not an absolute path" },
		{ R("Mount /x rel\n"), "httpd.conf:4: ",
		  "Mount: the target \"rel\" is not an absolute path" },
		{ R("Mount /x /y rx\n"), "httpd.conf:4: ",
		  "Mount: the third argument is ro or rw, not \"rx\"" },
		{ R("Mount /x\n"), "httpd.conf:4: ",
		  "Mount takes 2 or 3 arguments, got 1" },
		{ R("Mount /x /y ro z\n"), "httpd.conf:4: ",
		  "Mount takes 2 or 3 arguments, got 4" },
		{ R("Mount /a/../run /x\n"), "httpd.conf:4: ",
		  "the source \"/a/../run\" has a \"..\" segment" },
		{ R("Mount /x /y/..\n"), "httpd.conf:4: ",
		  "the target \"/y/..\" has a \"..\" segment" },
		{ R("Mount /a:b /x\n"), "httpd.conf:4: ", "has a ':' or ','" },
		{ R("Mount /nonexistent/dcgi /x\n"), "httpd.conf:4: ",
		  "Mount: the source /nonexistent/dcgi cannot be resolved "
		  "(No such file or directory)" },
		{ R("Mount /srv /\n"), "httpd.conf:4: ",
		  "cannot mount over the container's /" },
		{ R("Mount /srv //.\n"), "httpd.conf:4: ",
		  "cannot mount over the container's /" },
		{ R("MaxConcurrent 0\n"), "httpd.conf:4: ",
		  "MaxConcurrent: 0 is out of range (1 to 100000)" },
		{ R("MaxBody 1q\n"), "httpd.conf:4: ",
		  "MaxBody: \"1q\" is not a size" },
		{ R("Cache 2d\n"), "httpd.conf:4: ",
		  "Cache: \"2d\" is not a duration" },
		{ R("Cache 25h\n"), "httpd.conf:4: ",
		  "Cache: 25h is out of range (0 to 24h)" },
		{ R("Prestart 65\n"), "httpd.conf:4: ",
		  "Prestart: \"65\" is not a number from 0 to 64" },
		{ R("Prestart -1\n"), "httpd.conf:4: ",
		  "Prestart: \"-1\" is not a number from 0 to 64" },
		{ R("Preload perl\n"), "httpd.conf:4: ",
		  "Preload: \"perl\" is not a language it knows (python)" },
		{ R("Preload python 1x\n"), "httpd.conf:4: ",
		  "Preload: \"1x\" is not a Python module name" },
		{ R("Preload python a..b\n"), "httpd.conf:4: ",
		  "is not a Python module name" },
		{ R("Preload python os/path\n"), "httpd.conf:4: ",
		  "is not a Python module name" },
		{ R("Preload python " M200 " " M200 " " M200 " " M200 " " M200
		    " " M200 " " M200 " " M200 " " M200 " " M200 " " M200 "\n"),
		  "httpd.conf:4: ", "Preload: the module names come to more "
		  "than 2048 characters" },
		{ R("Preload\n"), "httpd.conf:4: ", "Preload takes" },
		{ Q("Preload python\n"), "httpd.conf:5: ",
		  "Preload is not valid inside <Queue>" },
		{ R("Prestart 4 2\n"), "httpd.conf:4: ",
		  "Prestart: MAX 2 is below MIN 4" },
		{ R("Prestart 1 x\n"), "httpd.conf:4: ",
		  "Prestart: \"x\" is not a number" },
		{ R("Prestart 1 2 3\n"), "httpd.conf:4: ",
		  "Prestart takes 1 or 2 arguments, got 3" },
		{ R("Runtime \"a b\"\n"), "httpd.conf:4: ",
		  "Runtime: bad runtime name \"a b\"" },
		{ R("Network isolated\nRuntime -x\n"), "httpd.conf:5: ",
		  "Runtime: bad runtime name" },
		{ Q("Concurrency 0\n"), "httpd.conf:5: ",
		  "Concurrency: 0 is out of range (1 to 256)" },
		{ Q("Concurrency 257\n"), "httpd.conf:5: ", "out of range" },
		{ Q("Retries 101\n"), "httpd.conf:5: ",
		  "Retries: 101 is out of range (0 to 100)" },
		{ Q("Retries x\n"), "httpd.conf:5: ",
		  "Retries: \"x\" is not a number" },
		{ Q("Memory 2m\n"), "httpd.conf:5: ",
		  "Memory: 2m is out of range" },
		{ Q("Type fifo\n"), "httpd.conf:5: ",
		  "Type: bad type \"fifo\" (stream or list)" },
		{ Q("Type list\nType stream\n"), "httpd.conf:6: ",
		  "Type given twice" },
		{ Q("Group \"a b\"\n"), "httpd.conf:5: ",
		  "Group: bad name \"a b\"" },
		{ Q("Group\n"), "httpd.conf:5: ", "Group takes 1 argument" },
		{ Q("ClaimAfter 500ms\n"), "httpd.conf:5: ",
		  "ClaimAfter: 500ms is out of range (1s to 24h)" },
		{ Q("ClaimAfter soon\n"), "httpd.conf:5: ", "ClaimAfter: " },
		{ R("ClaimAfter 5s\n"), "httpd.conf:4: ", "ClaimAfter is not "
		  "valid inside <Route> (only inside <Queue>)" },
		{ L "Consumer \"node 1\"\n", "httpd.conf:2: ",
		  "Consumer: bad name \"node 1\"" },
		{ L "Consumer a\nConsumer b\n", "httpd.conf:3: ",
		  "Consumer given twice" },
		{ Q("Consumer a\n"), "httpd.conf:5: ", "Consumer is not valid" },
		{ Q("Concurrency 1\nConcurrency 2\n"), "httpd.conf:6: ",
		  "Concurrency given twice (first at httpd.conf:5)" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		expect_error(tab[i].text, tab[i].where, tab[i].want);
}

/* alice:secret, as htpasswd -nbB wrote it. */
#define ALICE	"alice:$2y$05$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4VS\n"
#define LOC(b)	L "<Location /p>\n" b "</Location>\n"

/* Require, AuthUserFile, AuthName and <Location>. */
static void
test_access(void)
{
	static const struct {
		const char	*text;
		const char	*where;
		const char	*want;
	} tab[] = {
		{ LOC(""), "httpd.conf:2: ", "<Location /p> has no Require" },
		{ L "<Location p>\nRequire all granted\n</Location>\n",
		  "httpd.conf:2: ", "<Location>: bad prefix \"p\"" },
		{ L "<Location /p>\nRequire all granted\n</Location>\n"
		  "<Location /p>\nRequire all denied\n</Location>\n",
		  "httpd.conf:5: ", "duplicate location /p (first at "
		  "httpd.conf:2)" },
		{ LOC("Image x\n"), "httpd.conf:3: ", "Image is not valid inside "
		  "<Location> (only inside <Route> or <Queue>)" },
		{ L "Require all granted\n", "httpd.conf:2: ", "Require is not "
		  "valid outside a section (only inside <Route> or <Location>)" },
		{ Q("Require all granted\n"), "httpd.conf:5: ", "Require is not "
		  "valid inside <Queue>" },
		{ LOC("Require\n"), "httpd.conf:3: ",
		  "Require takes 1 to 64 arguments, got 0" },
		{ LOC("Require everyone\n"), "httpd.conf:3: ",
		  "Require: unknown \"everyone\" (all, ip, user or valid-user)" },
		{ LOC("Require all\n"), "httpd.conf:3: ",
		  "Require all: granted or denied" },
		{ LOC("Require all maybe\n"), "httpd.conf:3: ",
		  "Require all: granted or denied" },
		{ LOC("Require all granted\nRequire ip ::1\n"), "httpd.conf:4: ",
		  "Require all granted cannot be combined with other Require" },
		{ LOC("Require ip ::1\nRequire all denied\n"), "httpd.conf:4: ",
		  "Require all denied cannot be combined" },
		{ LOC("Require ip\n"), "httpd.conf:3: ",
		  "Require ip: at least one address or network" },
		{ LOC("Require ip 10.0.0.1/8\n"), "httpd.conf:3: ",
		  "Require ip: \"10.0.0.1/8\": bits are set beyond the prefix" },
		{ LOC("Require ip ::1 localhost\n"), "httpd.conf:3: ",
		  "Require ip: \"localhost\": not an IPv4 or IPv6 address" },
		{ LOC("Require ip 10.0.0.0/40\n"), "httpd.conf:3: ",
		  "the prefix length is not 0 to 32" },
		{ LOC("Require valid-user x\n"), "httpd.conf:3: ",
		  "Require valid-user takes no more words" },
		{ LOC("Require user\n"), "httpd.conf:3: ",
		  "Require user: at least one user name" },
		{ LOC("Require valid-user\n"), "httpd.conf:2: ",
		  "<Location /p>: Require valid-user needs an AuthUserFile" },
		{ R("Require user bob\n"), "httpd.conf:2: ",
		  "<Route /a>: Require user needs an AuthUserFile" },
		{ LOC("Require ip ::1\nAuthUserFile users\n"), "httpd.conf:2: ",
		  "AuthUserFile and AuthName need Require valid-user or "
		  "Require user" },
		{ LOC("Require ip ::1\nAuthName x\n"), "httpd.conf:2: ",
		  "AuthUserFile and AuthName need Require" },
		{ LOC("Require valid-user\nAuthUserFile nosuch\n"),
		  "httpd.conf:4: ", "nosuch: No such file or directory" },
		{ LOC("Require valid-user\nAuthUserFile bad-users\n"),
		  "httpd.conf:4: ", "bad-users: line 2: user \"bob\": not a "
		  "bcrypt hash ($2y$ or $2b$, as htpasswd -B writes them)" },
		{ LOC("Require user alice bob\nAuthUserFile users\n"),
		  "httpd.conf:2: ", "<Location /p>: Require user bob: no such "
		  "user in " },
		{ LOC("Require valid-user\nAuthUserFile users\n"
		  "AuthUserFile users\n"), "httpd.conf:5: ",
		  "AuthUserFile given twice" },
		{ LOC("Require valid-user\nAuthUserFile users\nAuthName "
		  "\"a \\\"b\\\"\"\n"), "httpd.conf:5: ",
		  "AuthName: 1 to 200 characters, no '\"' or '\\'" },
		{ LOC("Require valid-user\nAuthUserFile users\nAuthName "
		  "\"\"\n"), "httpd.conf:5: ", "AuthName: 1 to 200" },
	};
	struct errs	 e;
	struct conf	*c;
	const struct access *a;

	write_file("users", ALICE);
	write_file("bad-users", ALICE "bob:$apr1$x$y\n");
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		expect_error(tab[i].text, tab[i].where, tab[i].want);

	c = load(L "<Location /status>\n  Require ip 127.0.0.1 ::1\n"
	    "</Location>\n"
	    "<Location />\n  Require all granted\n</Location>\n"
	    "<Route /api>\n  Image x\n  Require user alice\n"
	    "  Require ip 10.0.0.0/8\n  AuthUserFile users\n"
	    "  AuthName \"The API\"\n</Route>\n"
	    "<Route /api/open>\n  Image x\n</Route>\n"
	    "<Location /api/closed>\n  Require all denied\n</Location>\n", &e);
	ok(c != NULL, "a configuration with locations and a guarded route "
	    "loads");
	show_errs(&e);
	if (c == NULL)
		return;
	is_int(c->nlocations, 3, "  3 locations");
	a = conf_access_match(c, "/status/index.html");
	ok(a != NULL && a->nnets == 2 && a->at_line == 3,
	    "  /status/index.html: the /status location (Require at line 3)");
	a = conf_access_match(c, "/statusx");
	ok(a != NULL && a->all == 1, "  /statusx: the / location");
	a = conf_access_match(c, "/api/x");
	ok(a != NULL && a->nusers == 1 && a->file != NULL &&
	    a->file->nusers == 1 && strcmp(a->realm, "The API") == 0,
	    "  /api/x: the route's own rules, its user file loaded");
	a = conf_access_match(c, "/api/open/x");
	ok(a != NULL && a->nusers == 1,
	    "  /api/open/x: a route with no rules of its own: the "
	    "longer prefix with rules, /api");
	a = conf_access_match(c, "/api/closed");
	ok(a != NULL && a->all == -1, "  /api/closed: the location, longer");
	conf_unref(c);

	c = load(L "<Route /a>\nImage x\n</Route>\n", &e);
	ok(c != NULL && conf_access_match(c, "/a") == NULL,
	    "no Require anywhere: no rules");
	conf_unref(c);
}

static const char *
path_in(const char *dir, const char *name)
{
	static char	 path[2 * PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/*
 * The shipped conf/httpd.conf (the tests run in the source tree): its
 * Metrics path and the status page answer loopback clients only.
 */
static void
test_shipped(void)
{
	static const char *const paths[] = {
		"/metrics", "/status/", "/status/index.html", "/status/status.js",
	};
	struct errs	 e;
	struct conf	*c;
	char		 cwd[PATH_MAX];
	const char	*user, *why;

	/* Its Secret file is made by make run: here a stand-in, beside a
	 * copy of it, in the test's own root. */
	memset(&e, 0, sizeof(e));
	make_dir("conf");
	make_dir("conf/secrets");
	write_file("conf/secrets/pg-password", "stand-in\n");
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (c = conf_load(path_in(cwd, "conf/httpd.conf"), root, collect,
	    &e)) == NULL) {
		ok(0, "conf/httpd.conf loads");
		show_errs(&e);
		return;
	}
	ok(c->metrics != NULL && strcmp(c->metrics, "/metrics") == 0,
	    "conf/httpd.conf: Metrics /metrics");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct access *a = conf_access_match(c, paths[i]);

		ok(a != NULL && access_check(a, "127.0.0.1", NULL, 0, &user,
		    &why) == ACCESS_OK && access_check(a, "::1", NULL, 0,
		    &user, &why) == ACCESS_OK && access_check(a, "192.0.2.1",
		    NULL, 0, &user, &why) == ACCESS_FORBIDDEN &&
		    access_check(a, "10.0.0.1", NULL, 0, &user, &why) ==
		    ACCESS_FORBIDDEN && access_check(a, "::ffff:192.0.2.1",
		    NULL, 0, &user, &why) == ACCESS_FORBIDDEN,
		    "conf/httpd.conf: %s for 127.0.0.1 and ::1 only", paths[i]);
	}
	ok(conf_access_match(c, "/vote") == NULL &&
	    conf_access_match(c, "/result/") == NULL,
	    "conf/httpd.conf: the voting app is open to all");
	conf_unref(c);
}

/* Secret NAME FILE. */
static void
test_secret(void)
{
	static const struct {
		const char	*text;
		const char	*where;
		const char	*want;
	} tab[] = {
		{ R("Secret pw\n"), "httpd.conf:4: ",
		  "Secret takes 2 arguments, got 1" },
		{ R("Secret pw nosuch\n"), "httpd.conf:4: ",
		  "Secret pw: " },
		{ R("Secret pw nosuch\n"), "httpd.conf:4: ",
		  "/nosuch: No such file or directory" },
		{ R("Secret pw .\n"), "httpd.conf:4: ",
		  "Secret pw: " },
		{ R("Secret pw secret-big\n"), "httpd.conf:4: ",
		  "secret-big: larger than 65536 bytes" },
		{ R("Secret ../pw secret-pw\n"), "httpd.conf:4: ",
		  "Secret: bad name \"../pw\" (1 to 64 letters" },
		{ R("Secret .pw secret-pw\n"), "httpd.conf:4: ",
		  "Secret: bad name \".pw\"" },
		{ R("Secret a/b secret-pw\n"), "httpd.conf:4: ",
		  "Secret: bad name" },
		{ R("Secret " X10 X10 X10 X10 X10 X10 "xxxxx secret-pw\n"),
		  "httpd.conf:4: ", "Secret: bad name" },
		{ R("Secret pw secret-pw\nSecret pw secret-pw\n"),
		  "httpd.conf:5: ", "Secret pw given twice (first at "
		  "httpd.conf:4)" },
		{ L "Secret pw secret-pw\n", "httpd.conf:2: ",
		  "Secret is not valid outside a section" },
		{ L "<Location /x>\nRequire all granted\nSecret pw secret-pw\n"
		  "</Location>\n", "httpd.conf:4: ", "Secret is not valid "
		  "inside <Location>" },
	};
	struct errs	 e;
	struct conf	*c;
	char		*big;

	write_file("secret-pw", "hunter2\n");
	big = calloc(1, 65537);
	memset(big, 'x', 65537);
	write_bytes("secret-big", big, 65537);
	free(big);
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		expect_error(tab[i].text, tab[i].where, tab[i].want);

	c = load(L "Redis 127.0.0.1:6379\n<Route /a>\nImage x\n"
	    "Secret pw secret-pw\nSecret db.key_1 /nonexistent/pw\n</Route>\n"
	    "<Queue q>\nImage x\nSecret pw secret-pw\n</Queue>\n", &e);
	ok(c == NULL, "a Secret in a directory that is not there: an error");
	conf_unref(c);
	c = load(L "Redis 127.0.0.1:6379\n<Route /a>\nImage x\n"
	    "Secret pw secret-pw\nSecret db.key_1 secret-pw\n</Route>\n"
	    "<Queue q>\nImage x\nSecret pw secret-pw\n</Queue>\n", &e);
	ok(c != NULL, "Secrets in a route and a queue load");
	show_errs(&e);
	if (c == NULL)
		return;
	is_int(c->routes[0].run.nsecrets, 2, "  the route has 2");
	is_str(c->routes[0].run.secrets[1].name, "db.key_1", "  by name");
	ok(c->routes[0].run.secrets[0].src[0] == '/' &&
	    strstr(c->routes[0].run.secrets[0].src, "/secret-pw") != NULL &&
	    c->routes[0].run.secrets[0].copy == NULL,
	    "  the file resolved against ServerRoot, no copy yet");
	is_int(c->queues[0].run.nsecrets, 1, "  the queue has 1");
	conf_unref(c);
}

/* Parsing goes on after an error, and every error is reported once. */
static void
test_keep_going(void)
{
	struct errs	 e;
	struct conf	*c;
	char		 big[70000];

	c = load("Listen 8080\n"
	    "Bogus 1\n"
	    "MaxHeaders many\n"
	    "<Route /a>\n"
	    "  Imgae x\n"
	    "  Timeout forever\n"
	    "</Route>\n"
	    "<Route /b>\n"
	    "  Image dcgi/b\n"
	    "</Route>\n"
	    "Listen 8080\n", &e);
	ok(c == NULL, "a config with errors does not load");
	is_int(e.n, 6, "six errors reported");
	ok(has_err(&e, "httpd.conf:2: ", "unknown directive \"Bogus\""),
	    "error 1");
	ok(has_err(&e, "httpd.conf:3: ", "\"many\" is not a number"),
	    "error 2");
	ok(has_err(&e, "httpd.conf:4: ", "<Route /a> has no Image"),
	    "error 3");
	ok(has_err(&e, "httpd.conf:5: ", "unknown directive \"Imgae\""),
	    "error 4");
	ok(has_err(&e, "httpd.conf:6: ", "\"forever\" is not a duration"),
	    "error 5");
	ok(has_err(&e, "httpd.conf:11: ", "duplicate Listen"), "error 6");
	show_errs(&e);
	conf_unref(c);

	/* An unknown section hides its content, not what follows. */
	c = load("Listen 8080\n<Directory /x>\nFoo bar\n</Directory>\n"
	    "Bar\n", &e);
	ok(c == NULL && e.n == 2 && has_err(&e, "httpd.conf:5: ",
	    "unknown directive \"Bar\""), "unknown section skipped");
	conf_unref(c);

	/* A forgotten </Route>: one error, both routes still checked. */
	c = load("Listen 8080\n<Route /a>\nImage x\n<Route /b>\n</Route>\n",
	    &e);
	ok(c == NULL && e.n == 2 && has_err(&e, "httpd.conf:4: ",
	    "<Route /b> has no Image"), "nested: the new section goes on");
	show_errs(&e);
	conf_unref(c);

	/* A bad Image, Redis or certificate is one error, not two. */
	c = load("Listen 8443 tls\nTLSCertificateFile \"\"\n"
	    "TLSCertificateKeyFile k\nRedis nohost\n"
	    "<Route /a>\nImage BAD\n</Route>\n"
	    "<Queue q>\nImage x\n</Queue>\n", &e);
	ok(c == NULL && e.n == 3, "no follow-up errors after a bad value");
	show_errs(&e);
	conf_unref(c);

	/* Long lines are refused, and the echo is cut with "...". */
	memset(big, 'x', sizeof(big) - 2);
	memcpy(big, "Listen 8080\nServerName ", 23);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	c = load(big, &e);
	ok(c == NULL && has_err(&e, "httpd.conf:2: ",
	    "line too long (more than 65536 bytes)") &&
	    has_err(&e, "httpd.conf:2: ", "xxx...)"), "line too long");
	conf_unref(c);

	write_bytes("httpd.conf", "Listen 8080\n\nServerName a\0b\n", 27);
	memset(&e, 0, sizeof(e));
	c = conf_load("httpd.conf", root, collect, &e);
	ok(c == NULL && has_err(&e, "httpd.conf:3: ", "NUL byte"),
	    "NUL byte");
	conf_unref(c);

	memset(&e, 0, sizeof(e));
	c = conf_load("nothere.conf", root, collect, &e);
	ok(c == NULL && e.n == 1 && has_err(&e, "nothere.conf:0: ",
	    "cannot open nothere.conf: No such file or directory"),
	    "missing main file");
	show_errs(&e);
	conf_unref(c);

	memset(&e, 0, sizeof(e));
	c = conf_load(".", root, collect, &e);
	ok(c == NULL && has_err(&e, ".:0: ", "is not a regular file"),
	    "a directory as the main file");
	conf_unref(c);

	memset(&e, 0, sizeof(e));
	c = conf_load("httpd.conf", "relative", collect, &e);
	ok(c == NULL && has_err(&e, "httpd.conf:0: ",
	    "the server root \"relative\" is not an absolute path"),
	    "relative server root");
	conf_unref(c);
}

static void
test_full(void)
{
	struct errs		 e;
	struct conf		*c;
	const struct conf_route	*r;
	const struct conf_queue	*q;
	char			 want[PATH_MAX + 64];

	c = load(
	    "# The demo's httpd.conf, as in DESIGN.md\n"
	    "Listen 8080                   # [ADDR:]PORT [tls]\n"
	    "Listen 127.0.0.1:8443 tls\n"
	    "Listen [::1]:8081\n"
	    "Listen localhost:8082\n"
	    "TLSCertificateFile    conf/tls/cert.pem\n"
	    "TLSCertificateKeyFile /etc/dcgi/key.pem\n"
	    "DocumentRoot www/\n"
	    "ErrorLog  stderr              # or a path\n"
	    "AccessLog logs/access.log common\n"
	    "DockerHost unix:///var/run/docker.sock\n"
	    "Redis 127.0.0.1:6379\n"
	    "MaxContainers 32\n"
	    "ServerName vote.example.org\n"
	    "MaxConnections 512\n"
	    "MaxRequestLine 4k\n"
	    "MaxHeaderSize 32k\n"
	    "MaxHeaders 50\n"
	    "MaxBody 2m\n"
	    "HeaderTimeout 5s\n"
	    "BodyTimeout 500ms\n"
	    "SendTimeout 1m\n"
	    "KeepAliveTimeout 15\n"
	    "KeepAliveRequests 10\n"
	    "GracePeriod 0\n"
	    "\n"
	    "<Route /vote>                 # matches /vote and /vote/...\n"
	    "    Image dcgi/vote           # name[:tag] or name@sha256:...\n"
	    "    Command python3 /app/vote.py   # optional\n"
	    "    Env OPTION_A=Cats\n"
	    "    Env OPTION_B=\"Dogs and more\"\n"
	    "    Network host\n"
	    "    Timeout 10s\n"
	    "    MaxConcurrent 16\n"
	    "    Memory 128m\n"
	    "    Cache 1s\n"
	    "    CPUs 0.5\n"
	    "    Pids 64\n"
	    "    ReadOnly off\n"
	    "    User 1000:1000\n"
	    "    Mount /usr/share /data\n"
	    "    Mount /var/tmp/ /cache rw\n"
	    "    MaxBody 64k\n"
	    "    Prestart 2\n"
	    "</Route>\n"
	    "\n"
	    "<route />\n"
	    "    image registry.local:5000/dcgi/static:1.2"
	    "@sha256:0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n"
	    "    Network Isolated\n"
	    "    Runtime crun\n"
	    "    Prestart 1 8\n"
	    "    Preload python psycopg2 email.mime.text\n"
	    "</ROUTE>\n"
	    "\n"
	    "<Queue votes>                 # a Redis list\n"
	    "    Image dcgi/record-vote-task\n"
	    "    Network host\n"
	    "    Concurrency 4\n"
	    "    Retries 3\n"
	    "    Timeout 2m\n"
	    "</Queue>\n", &e);
	ok(c != NULL && e.n == 0, "the DESIGN.md example loads");
	show_errs(&e);
	if (c == NULL)
		return;
	is_int(c->refs, 1, "refs");
	is_str(c->path, "httpd.conf", "path");
	is_str(c->server_root, root, "server_root");
	is_int(c->nlistens, 4, "4 listeners");
	is_str(c->listens[0].addr, NULL, "Listen 8080: every address");
	is_str(c->listens[0].port, "8080", "Listen 8080: port");
	is_int(c->listens[0].tls, 0, "Listen 8080: no tls");
	is_str(c->listens[0].file, "httpd.conf", "Listen 8080: file");
	is_int(c->listens[0].line, 2, "Listen 8080: line");
	is_str(c->listens[1].addr, "127.0.0.1", "Listen 2: addr");
	is_str(c->listens[1].port, "8443", "Listen 2: port");
	is_int(c->listens[1].tls, 1, "Listen 2: tls");
	is_str(c->listens[2].addr, "::1", "Listen 3: addr without brackets");
	is_str(c->listens[2].port, "8081", "Listen 3: port");
	is_str(c->listens[3].addr, "localhost", "Listen 4: host name");
	(void)snprintf(want, sizeof(want), "%s/conf/tls/cert.pem", root);
	is_str(c->tls_cert, want, "TLSCertificateFile made absolute");
	is_str(c->tls_key, "/etc/dcgi/key.pem", "TLSCertificateKeyFile");
	(void)snprintf(want, sizeof(want), "%s/www", root);
	is_str(c->document_root, want, "DocumentRoot, trailing / dropped");
	(void)snprintf(want, sizeof(want), "%s/conf/mime.types", root);
	is_str(c->mime_types, want, "MimeTypes default");
	is_str(c->error_log, "stderr", "ErrorLog");
	(void)snprintf(want, sizeof(want), "%s/logs/access.log", root);
	is_str(c->access_log, want, "AccessLog path");
	is_int(c->access_format, CONF_LOG_COMMON, "AccessLog common");
	is_str(c->docker_host, "unix:///var/run/docker.sock", "DockerHost");
	is_str(c->redis, "127.0.0.1:6379", "Redis");
	is_int(c->max_containers, 32, "MaxContainers");
	is_str(c->server_name, "vote.example.org", "ServerName");
	is_int(c->max_connections, 512, "MaxConnections");
	is_int(c->max_request_line, 4096, "MaxRequestLine");
	is_int(c->max_header_size, 32768, "MaxHeaderSize");
	is_int(c->max_headers, 50, "MaxHeaders");
	is_int(c->max_body, 2097152, "MaxBody");
	is_int(c->header_timeout_ms, 5000, "HeaderTimeout");
	is_int(c->body_timeout_ms, 500, "BodyTimeout");
	is_int(c->send_timeout_ms, 60000, "SendTimeout");
	is_int(c->keepalive_timeout_ms, 15000, "KeepAliveTimeout");
	is_int(c->keepalive_requests, 10, "KeepAliveRequests");
	is_int(c->grace_ms, 0, "GracePeriod");

	is_int(c->nroutes, 2, "2 routes");
	r = &c->routes[0];
	is_str(r->prefix, "/vote", "route prefix");
	is_str(r->file, "httpd.conf", "route file");
	is_int(r->line, 27, "route line");
	is_str(r->run.image, "dcgi/vote", "Image");
	ok(r->run.command != NULL, "Command set");
	if (r->run.command != NULL) {
		is_str(r->run.command[0], "python3", "Command argv[0]");
		is_str(r->run.command[1], "/app/vote.py", "Command argv[1]");
		is_str(r->run.command[2], NULL, "Command argv[2] is NULL");
	}
	is_int(r->run.nenv, 2, "2 Env");
	if (r->run.nenv == 2) {
		is_str(r->run.env[0], "OPTION_A=Cats", "Env 1");
		is_str(r->run.env[1], "OPTION_B=Dogs and more", "Env 2 quoted");
		is_str(r->run.env[2], NULL, "env NULL-terminated");
	}
	is_str(r->run.network, "host", "Network");
	is_int(r->run.timeout_ms, 10000, "Timeout");
	is_int(r->max_concurrent, 16, "MaxConcurrent");
	is_int(r->run.memory, 128 * 1048576, "Memory");
	is_int(r->cache_ms, 1000, "Cache");
	ok(r->run.cpus == 0.5, "CPUs 0.5");
	is_int(r->run.pids, 64, "Pids");
	is_int(r->run.read_only, 0, "ReadOnly off");
	is_str(r->run.user, "1000:1000", "User");
	is_int(r->run.nmounts, 2, "2 Mounts");
	if (r->run.nmounts == 2) {
		is_str(r->run.mounts[0].src, "/usr/share", "Mount 1 src");
		is_str(r->run.mounts[0].dst, "/data", "Mount 1 dst");
		is_int(r->run.mounts[0].ro, 1, "Mount 1 ro by default");
		is_int(r->run.mounts[0].line, 41, "Mount 1 line");
		is_str(r->run.mounts[1].src, "/var/tmp", "Mount 2 src");
		is_int(r->run.mounts[1].ro, 0, "Mount 2 rw");
	}
	is_int(r->max_body, 65536, "route MaxBody");
	is_int(r->prestart, 2, "Prestart");
	is_int(r->prestart_max, 2, "Prestart N: MAX is N");

	r = &c->routes[1];
	is_str(r->prefix, "/", "lower-case <route />");
	is_str(r->run.network, "isolated", "Network Isolated");
	is_str(r->run.runtime, "crun", "Runtime crun");
	is_int(r->prestart, 1, "Prestart 1 8: MIN");
	is_int(r->prestart_max, 8, "Prestart 1 8: MAX");
	is_int(r->preload, 1, "Preload python");
	ok(r->preload_modules != NULL && r->preload_modules[0] != NULL &&
	    strcmp(r->preload_modules[0], "psycopg2") == 0 &&
	    r->preload_modules[1] != NULL &&
	    strcmp(r->preload_modules[1], "email.mime.text") == 0 &&
	    r->preload_modules[2] == NULL, "Preload python psycopg2 email.mime.text");
	is_int(c->routes[0].preload, 0, "Preload default: off");
	is_str(c->routes[0].run.runtime, NULL, "Runtime default: the engine's");
	is_str(r->run.image, "registry.local:5000/dcgi/static:1.2@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "Image with registry, tag and digest");

	is_int(c->nqueues, 1, "1 queue");
	q = &c->queues[0];
	is_str(q->name, "votes", "queue name");
	is_int(q->line, 55, "queue line");
	is_str(q->run.image, "dcgi/record-vote-task", "queue Image");
	is_str(q->run.network, "host", "queue Network");
	is_int(q->concurrency, 4, "Concurrency");
	is_int(q->retries, 3, "Retries");
	is_int(q->run.timeout_ms, 120000, "queue Timeout");

	is_int(c->nfiles, 1, "one file");
	ok(conf_ref(c) == c && c->refs == 2, "conf_ref");
	conf_unref(c);
	is_int(c->refs, 1, "conf_unref");
	conf_unref(c);
}

static void
test_defaults(void)
{
	struct errs		 e;
	struct conf		*c;
	const struct conf_run	*run;
	char			 want[PATH_MAX + 64];
	int			 i;

	c = load("Listen 8080\n"
	    "Redis unix:/run/redis.sock\n"
	    "<Route /a>\nImage a\n</Route>\n"
	    "<Queue q>\nImage q\n</Queue>\n", &e);
	ok(c != NULL, "a minimal config loads");
	show_errs(&e);
	if (c == NULL)
		return;
	(void)snprintf(want, sizeof(want), "%s/www", root);
	is_str(c->document_root, want, "DocumentRoot default");
	(void)snprintf(want, sizeof(want), "%s/conf/mime.types", root);
	is_str(c->mime_types, want, "MimeTypes default");
	is_str(c->error_log, "stderr", "ErrorLog default");
	is_str(c->access_log, "stdout", "AccessLog default");
	is_int(c->access_format, CONF_LOG_COMBINED, "AccessLog combined");
	is_str(c->server_name, NULL, "ServerName default");
	is_str(c->tls_cert, NULL, "no TLS certificate");
	is_str(c->tls_key, NULL, "no TLS key");
	is_str(c->docker_host, NULL, "DockerHost default");
	is_str(c->redis, "unix:/run/redis.sock", "Redis unix socket");
	is_str(c->health, NULL, "Health default: none");
	is_str(c->metrics, NULL, "Metrics default: none");
	is_int(c->max_containers, 64, "MaxContainers default");
	is_int(c->max_connections, 1024, "MaxConnections default");
	is_int(c->max_request_line, 8192, "MaxRequestLine default");
	is_int(c->max_header_size, 16384, "MaxHeaderSize default");
	is_int(c->max_headers, 100, "MaxHeaders default");
	is_int(c->max_body, 1048576, "MaxBody default");
	is_int(c->header_timeout_ms, 10000, "HeaderTimeout default");
	is_int(c->body_timeout_ms, 30000, "BodyTimeout default");
	is_int(c->send_timeout_ms, 30000, "SendTimeout default");
	is_int(c->keepalive_timeout_ms, 60000, "KeepAliveTimeout default");
	is_int(c->keepalive_requests, 1000, "KeepAliveRequests default");
	is_int(c->grace_ms, 10000, "GracePeriod default");
	is_int(c->routes[0].max_concurrent, 16, "MaxConcurrent default");
	is_int(c->routes[0].max_body, -1, "route MaxBody default");
	is_int(c->routes[0].cache_ms, 0, "Cache default");
	is_int(c->routes[0].prestart, 0, "Prestart default");
	is_int(c->routes[0].prestart_max, 0, "Prestart MAX default");
	is_int(c->max_starting, CONF_MAX_STARTING, "MaxStarting default");
	is_int(c->queues[0].concurrency, 1, "Concurrency default");
	is_int(c->queues[0].retries, 3, "Retries default");
	is_int(c->queues[0].type, CONF_Q_STREAM, "Type default: stream");
	is_str(c->queues[0].group, NULL, "Group default (dcgi)");
	is_int(c->queues[0].claim_after_ms, 60000, "ClaimAfter default");
	is_str(c->consumer, NULL, "Consumer default (host name and an id)");
	for (i = 0; i < 2; i++) {
		run = i == 0 ? &c->routes[0].run : &c->queues[0].run;
		is_str(run->command == NULL ? NULL : "set", NULL,
		    "%s: Command default", i ? "queue" : "route");
		ok(run->env == NULL && run->nenv == 0, "%s: no Env",
		    i ? "queue" : "route");
		is_str(run->network, "none", "%s: Network default",
		    i ? "queue" : "route");
		is_int(run->timeout_ms, 30000, "%s: Timeout default",
		    i ? "queue" : "route");
		is_int(run->memory, 256 * 1048576, "%s: Memory default",
		    i ? "queue" : "route");
		ok(run->cpus == 0, "%s: CPUs default", i ? "queue" : "route");
		is_int(run->pids, 128, "%s: Pids default",
		    i ? "queue" : "route");
		is_int(run->read_only, 1, "%s: ReadOnly default",
		    i ? "queue" : "route");
		is_str(run->user, NULL, "%s: User default",
		    i ? "queue" : "route");
		ok(run->mounts == NULL && run->nmounts == 0, "%s: no Mount",
		    i ? "queue" : "route");
	}
	conf_unref(c);

	c = load("Listen 8080\nRedis h:1\nConsumer node-1.a:b_c\n<Queue q>\n"
	    "Image x\nType list\nGroup g.1\nClaimAfter 90s\n</Queue>\n", &e);
	ok(c != NULL, "Consumer, Type, Group and ClaimAfter load");
	show_errs(&e);
	if (c != NULL) {
		is_str(c->consumer, "node-1.a:b_c", "Consumer NAME");
		is_int(c->queues[0].type, CONF_Q_LIST, "Type list");
		is_str(c->queues[0].group, "g.1", "Group NAME");
		is_int(c->queues[0].claim_after_ms, 90000, "ClaimAfter 90s");
	}
	conf_unref(c);

	c = load("Listen 8080\nhealth /-/health.z_1\n", &e);
	ok(c != NULL, "Health loads");
	show_errs(&e);
	if (c != NULL)
		is_str(c->health, "/-/health.z_1", "Health PATH");
	conf_unref(c);

	c = load("Listen 8080\nHealth /healthz\nmetrics /-/metrics.p_1\n", &e);
	ok(c != NULL, "Metrics loads (beside Health)");
	show_errs(&e);
	if (c != NULL)
		is_str(c->metrics, "/-/metrics.p_1", "Metrics PATH");
	conf_unref(c);
}

/* Quoting, escapes, comments, continuations, CRLF, paths, keywords. */
static void
test_lexer(void)
{
	struct errs		 e;
	struct conf		*c;
	const struct conf_run	*run;
	char			 want[PATH_MAX + 64];

	c = load("Listen 8080\r\n"
	    "DocumentRoot ./a//b/./c/\r\n"
	    "ErrorLog STDOUT\r\n"
	    "AccessLog Off\r\n"
	    "# a comment \\\n"
	    "   still the comment\n"
	    "\t# an indented comment\n"
	    "<Route /a>\n"
	    "Image x\n"
	    "Command sh -c \"echo \\\"hi  there\\\" \\\\ done\" 'x' \\\n"
	    "    \"\" last\\z # a comment\n"
	    "Env A=b#c\n"
	    "Env B=\"#x\"   # a comment\n"
	    "Env C=\"a\"\"b\"c\n"
	    "Env D=\\n\n"
	    "Env E=\"\\q\"\n"
	    "ENV GREETING=\"hello world\"\n"
	    "Network My-Net_1.x\n"
	    "ReadOnly ON\n"
	    "User www-data\n"
	    "</Route>\n", &e);
	ok(c != NULL, "the lexer config loads");
	show_errs(&e);
	if (c == NULL)
		return;
	(void)snprintf(want, sizeof(want), "%s/a/b/c", root);
	is_str(c->document_root, want, "path joined and cleaned");
	is_str(c->error_log, "stdout", "ErrorLog keyword, any case");
	is_str(c->access_log, "off", "AccessLog off");
	run = &c->routes[0].run;
	is_int(c->routes[0].line, 8, "line numbers count continued lines");
	ok(run->command != NULL, "Command set");
	if (run->command != NULL) {
		is_str(run->command[0], "sh", "argv[0]");
		is_str(run->command[1], "-c", "argv[1]");
		is_str(run->command[2], "echo \"hi  there\" \\ done",
		    "argv[2]: quoted, with \\\" and \\\\");
		is_str(run->command[3], "'x'", "argv[3]: single quotes are "
		    "plain characters");
		is_str(run->command[4], "", "argv[4]: \"\" is an empty word");
		is_str(run->command[5], "last\\z", "argv[5]: a backslash "
		    "outside quotes is plain");
		is_str(run->command[6], NULL, "argv[6] is NULL");
	}
	is_int(run->nenv, 6, "6 Env");
	if (run->nenv == 6) {
		is_str(run->env[0], "A=b#c", "'#' inside a word is plain");
		is_str(run->env[1], "B=#x", "quoted '#'; comment after");
		is_str(run->env[2], "C=abc", "quoted parts join");
		is_str(run->env[3], "D=\\n", "no escapes outside quotes");
		is_str(run->env[4], "E=\\q", "unknown escape kept");
		is_str(run->env[5], "GREETING=hello world", "ENV, any case");
	}
	is_str(run->network, "My-Net_1.x", "Network name");
	is_int(run->read_only, 1, "ReadOnly ON");
	is_str(run->user, "www-data", "User name");
	conf_unref(c);

	/* A continuation on the last line of the file. */
	c = load("Listen \\\n8080 \\", &e);
	ok(c != NULL && c->nlistens == 1 && c->listens[0].line == 1,
	    "continuation at end of file");
	show_errs(&e);
	conf_unref(c);

	/* Good images, users, addresses. */
	c = load("Listen 0.0.0.0:1\n"
	    "Listen [::]:65535\n"
	    "Listen *:8080 TLS\n"
	    "TLSCertificateFile c\nTLSCertificateKeyFile k\n"
	    "DockerHost tcp://[::1]:2375\n"
	    "Redis redis.internal:6379\n"
	    "<Route /a>\nImage busybox\nUser 0\nCPUs 1024\n</Route>\n"
	    "<Route /b>\nImage library/busybox:1.36.1-musl\nUser _x:1\n"
	    "CPUs 0.001\nMemory 4m\nPids 1\nNetwork NONE\n</Route>\n"
	    "<Route /c/d.e/f_g~h>\nImage localhost/a_b__c-d.e:Tag_1\n"
	    "User 4294967294:www\n</Route>\n"
	    "<Queue a:B.c-d_1>\nImage a\n</Queue>\n", &e);
	ok(c != NULL, "good values load");
	show_errs(&e);
	if (c != NULL) {
		is_str(c->listens[0].addr, "0.0.0.0", "0.0.0.0 kept");
		is_str(c->listens[1].addr, "::", "[::]");
		is_str(c->listens[2].addr, NULL, "* is every address");
		is_int(c->listens[2].tls, 1, "TLS in upper case");
		ok(c->routes[1].run.cpus == 0.001, "CPUs 0.001");
		is_str(c->routes[1].run.network, "none", "NONE");
		is_str(c->queues[0].name, "a:B.c-d_1", "queue name");
	}
	conf_unref(c);
}

static void
test_include(void)
{
	struct errs	 e;
	struct conf	*c;
	char		 text[PATH_MAX + 64], name[64];
	int		 i;

	make_dir("conf.d");
	write_file("conf.d/b.conf", "<Route /b>\n  Image dcgi/b\n</Route>\n");
	write_file("conf.d/a.conf", "# first\n<Route /a>\n  Image dcgi/a\n"
	    "</Route>\n");
	write_file("conf.d/a.conf.bak", "Bogus\n");
	c = load("Listen 8080\nInclude conf.d/*.conf\nMaxContainers 3\n", &e);
	ok(c != NULL, "Include with a glob loads");
	show_errs(&e);
	if (c != NULL) {
		is_int(c->nroutes, 2, "two routes from two files");
		is_str(c->routes[0].prefix, "/a", "sorted: a.conf first");
		is_str(c->routes[0].file, "conf.d/a.conf",
		    "file named relative to the server root");
		is_int(c->routes[0].line, 2, "its line");
		is_str(c->routes[1].prefix, "/b", "then b.conf");
		is_str(c->routes[1].file, "conf.d/b.conf", "its file");
		is_int(c->max_containers, 3, "the main file goes on after");
		is_int(c->nfiles, 3, "three files kept");
	}
	conf_unref(c);

	/* An absolute pattern, the same files. */
	(void)snprintf(text, sizeof(text), "Listen 8080\nInclude %s/conf.d/"
	    "[ab].conf\n", root);
	c = load(text, &e);
	ok(c != NULL && c->nroutes == 2, "absolute Include pattern");
	conf_unref(c);

	expect_error("Listen 8080\nInclude nothere.conf\n", "httpd.conf:2: ",
	    "cannot open nothere.conf: No such file or directory "
	    "(in: Include nothere.conf)");
	c = load("Listen 8080\nInclude none/*.conf\n", &e);
	ok(c != NULL && e.n == 0, "a wildcard matching nothing is fine");
	conf_unref(c);

	make_dir("inc2");
	write_file("inc2/x.conf", "ServerName a\nBogus 1\n");
	expect_error("Listen 8080\nInclude inc2/*.conf\n", "inc2/x.conf:2: ",
	    "unknown directive \"Bogus\"");
	expect_error("Listen 8080\nServerName b\nInclude inc2/*.conf\n",
	    "inc2/x.conf:1: ", "ServerName given twice (first at "
	    "httpd.conf:2)");
	expect_error("Listen 8080\nInclude conf.d\n", "httpd.conf:2: ",
	    "conf.d is not a regular file");
	/* A pattern that names too many files is refused, not read. */
	make_dir("many");
	for (int k = 0; k < 1025; k++) {
		char n[64];

		(void)snprintf(n, sizeof(n), "many/%04d.conf", k);
		write_file(n, "");
	}
	expect_error("Listen 8080\nInclude many/*.conf\n", "httpd.conf:2: ",
	    "Include: \"many/*.conf\" names 1025 files, more than 1024");
	/* A FIFO, as a glob may find one: refused, no hang. */
	make_dir("inc3");
	{
		char fifo[PATH_MAX];

		(void)snprintf(fifo, sizeof(fifo), "%s/inc3/pipe.conf", root);
		ok(mkfifo(fifo, 0600) == 0, "mkfifo");
	}
	expect_error("Listen 8080\nInclude inc3/*.conf\n", "httpd.conf:2: ",
	    "inc3/pipe.conf is not a regular file");

	/* A section must end in the file that opened it. */
	write_file("inc2/open.inc", "<Route /x>\nImage x\n");
	expect_error("Listen 8080\nInclude inc2/open.inc\n</Route>\n",
	    "inc2/open.inc:1: ", "unclosed <Route /x> at end of file");

	write_file("loop.conf", "ServerName a\nInclude loop.conf\n");
	expect_error("Listen 8080\nInclude loop.conf\n", "loop.conf:2: ",
	    "Include loop: loop.conf is already being read");
	expect_error("Listen 8080\nInclude httpd.conf\n", "httpd.conf:2: ",
	    "Include loop: httpd.conf is already being read");

	/* 17 levels of Include are too many. */
	for (i = 0; i < 20; i++) {
		(void)snprintf(name, sizeof(name), "deep%d.conf", i);
		(void)snprintf(text, sizeof(text), "Include deep%d.conf\n",
		    i + 1);
		write_file(name, text);
	}
	expect_error("Listen 8080\nInclude deep0.conf\n", "deep15.conf:1: ",
	    "Include nested more than 16 deep at deep16.conf");
	write_file("deep15.conf", "");
	c = load("Listen 8080\nInclude deep0.conf\n", &e);
	ok(c != NULL, "16 levels of Include are fine");
	show_errs(&e);
	conf_unref(c);
}

static void
test_docker_socket(void)
{
	static const char *const refused[] = {
		"/var/run/docker.sock",
		"/run/docker.sock",
		"/var/run",
		"/var/run/",
		"/run",
		"/var",
		"/",
		"//run/./",
	};
	/* Near misses, under root, with DockerHost at root/run/docker.sock. */
	static const char *const allowed[] = {
		"runner",
		"run/docker.sock.d",
		"run.d",
		"srv/data",
	};
	struct errs	 e;
	struct conf	*c;
	char		 text[3 * PATH_MAX], link[PATH_MAX], env[PATH_MAX + 16];
	size_t		 i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		(void)snprintf(text, sizeof(text), R("Mount %s /x\n"),
		    refused[i]);
		expect_error(text, "httpd.conf:4: ", "Docker socket");
	}
	expect_error(R("Mount /var/run /x\n"), "httpd.conf:4: ",
	    "Mount: refusing /var/run: it contains the Docker socket "
	    "/var/run/docker.sock, and a container that reaches it controls "
	    "the host (in: Mount /var/run /x)");
	expect_error(R("Mount /run/docker.sock /var/run/docker.sock rw\n"),
	    "httpd.conf:4: ", "it is the Docker socket /run/docker.sock");
	expect_error(Q("Mount /run /x\n"), "httpd.conf:5: ",
	    "Docker socket");

	/* Through a symbolic link: what it resolves to counts. */
	(void)snprintf(link, sizeof(link), "%s/runlink", root);
	if (symlink("/run", link) == -1 && errno != EEXIST)
		printf("# symlink: %s\n", strerror(errno));
	(void)snprintf(text, sizeof(text), R("Mount %s /x\n"), link);
	expect_error(text, "httpd.conf:4: ", "resolves to /run, which "
	    "contains the Docker socket");

	make_dir("run");
	make_dir("runner");
	make_dir("run/docker.sock.d");
	make_dir("run.d");
	make_dir("srv");
	make_dir("srv/data");
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		(void)snprintf(text, sizeof(text), "DockerHost unix://%s/run/"
		    "docker.sock\n" R("Mount %s/%s /x\n"), root, root,
		    allowed[i]);
		c = load(text, &e);
		ok(c != NULL, "Mount ROOT/%s is allowed (DockerHost "
		    "ROOT/run/docker.sock)", allowed[i]);
		show_errs(&e);
		conf_unref(c);
	}
	(void)snprintf(text, sizeof(text), "DockerHost unix://%s/run/"
	    "docker.sock\n" R("Mount %s/run /x\n"), root, root);
	expect_error(text, "httpd.conf:5: ", "Docker socket");
	expect_error(R("Mount /nonexistent/dcgi /x\n"), "httpd.conf:4: ",
	    "cannot be resolved (No such file or directory)");

	/* The socket DockerHost names, before or after the Mount. */
	make_dir("sock");
	(void)snprintf(text, sizeof(text), "DockerHost unix://%s/sock/d.sock\n"
	    R("Mount %s/sock /x\n"), root, root);
	expect_error(text, "httpd.conf:5: ", "Docker socket");
	(void)snprintf(text, sizeof(text), R("Mount %s/sock /x\n")
	    "DockerHost unix://%s/sock/d.sock\n", root, root);
	expect_error(text, "httpd.conf:4: ", "Mount: refusing");

	/* And the one $DOCKER_HOST names, which dcgid would use. */
	(void)snprintf(env, sizeof(env), "unix://%s/sock/e.sock", root);
	setenv("DOCKER_HOST", env, 1);
	(void)snprintf(text, sizeof(text), R("Mount %s/sock/e.sock /x\n"),
	    root);
	expect_error(text, "httpd.conf:4: ", "it is the Docker socket");
	unsetenv("DOCKER_HOST");
	write_file("sock/e.sock", "");		/* a stand-in: it must exist */
	c = load(text, &e);
	ok(c != NULL, "without $DOCKER_HOST that Mount is fine");
	show_errs(&e);
	conf_unref(c);
}

static void
test_route_match(void)
{
	static const struct {
		const char	*path;
		const char	*prefix;	/* NULL: no route */
	} tab[] = {
		{ "/vote", "/vote" },
		{ "/vote/", "/vote" },
		{ "/vote/x", "/vote" },
		{ "/vote/x/y", "/vote" },
		{ "/voter", "/" },
		{ "/vot", "/" },
		{ "/vote/admin", "/vote/admin" },
		{ "/vote/admin/", "/vote/admin" },
		{ "/vote/admin/x", "/vote/admin" },
		{ "/vote/administrator", "/vote" },
		{ "/result", "/result" },
		{ "/result/x", "/result" },
		{ "/resultx", "/" },
		{ "/", "/" },
		{ "/index.html", "/" },
		{ "", NULL },
		{ "vote", NULL },
	};
	static const struct {
		const char	*path;
		const char	*prefix;
	} noroot[] = {
		{ "/vote", "/vote" },
		{ "/vote/1", "/vote" },
		{ "/voter", NULL },
		{ "/", NULL },
	};
	static const struct {
		const char	*path;
		const char	*prefix;
	} slash[] = {
		{ "/app/", "/app/" },
		{ "/app", "/app/" },	/* the server answers 301 */
		{ "/app/x", "/app/" },
		{ "/app/admin", "/app/admin/" },
		{ "/app/admin/", "/app/admin/" },
		{ "/app/admin/x", "/app/admin/" },
		{ "/apps", NULL },
		{ "/ap", NULL },
		{ "/", NULL },
	};
	struct errs		 e;
	struct conf		*c;
	const struct conf_route	*r;
	size_t			 i;

	c = load("Listen 8080\n"
	    "<Route /vote>\nImage a\n</Route>\n"
	    "<Route />\nImage b\n</Route>\n"
	    "<Route /vote/admin>\nImage c\n</Route>\n"
	    "<Route /result>\nImage d\n</Route>\n", &e);
	ok(c != NULL, "routes load");
	show_errs(&e);
	for (i = 0; c != NULL && i < sizeof(tab) / sizeof(tab[0]); i++) {
		r = conf_route_match(c, tab[i].path);
		is_str(r != NULL ? r->prefix : NULL, tab[i].prefix,
		    "match \"%s\"", tab[i].path);
	}
	ok(c == NULL || conf_route_match(c, NULL) == NULL, "match NULL");
	conf_unref(c);
	ok(conf_route_match(NULL, "/") == NULL, "match without a conf");

	c = load("Listen 8080\n<Route /vote>\nImage a\n</Route>\n", &e);
	for (i = 0; c != NULL && i < sizeof(noroot) / sizeof(noroot[0]); i++) {
		r = conf_route_match(c, noroot[i].path);
		is_str(r != NULL ? r->prefix : NULL, noroot[i].prefix,
		    "without /: match \"%s\"", noroot[i].path);
	}
	conf_unref(c);

	/* A prefix with a trailing slash, as nginx and Go mount them. */
	c = load("Listen 8080\n<Route /app/>\nImage a\n</Route>\n"
	    "<Route /app/admin/>\nImage b\n</Route>\n", &e);
	ok(c != NULL, "<Route /app/> loads");
	show_errs(&e);
	for (i = 0; c != NULL && i < sizeof(slash) / sizeof(slash[0]); i++) {
		r = conf_route_match(c, slash[i].path);
		is_str(r != NULL ? r->prefix : NULL, slash[i].prefix,
		    "slash: match \"%s\"", slash[i].path);
	}
	conf_unref(c);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	char	 tmpl[] = "/tmp/t_conf.XXXXXX";
	char	*real;

	/* Whatever the caller's environment, the socket checks see ours. */
	unsetenv("DOCKER_HOST");
	if (mkdtemp(tmpl) == NULL || (real = realpath(tmpl, NULL)) == NULL ||
	    strlen(real) >= sizeof(root)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return 2;
	}
	memcpy(root, real, strlen(real) + 1);
	free(real);

	test_units();
	test_errors();
	test_access();
	test_secret();
	test_shipped();
	test_keep_going();
	test_full();
	test_defaults();
	test_lexer();
	test_include();
	test_docker_socket();
	test_route_match();

	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
