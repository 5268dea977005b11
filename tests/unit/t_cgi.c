/*
 * t_cgi.c: the CGI header block parser, the CGI environment and the
 * attach-stream demultiplexer, as tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"
#include "docker.h"
#include "http.h"
#include "tap.h"

static void
test_head_end(void)
{
	static const struct {
		const char *in;
		long want;
	} tab[] = {
		{ "Content-Type: text/plain\n\nbody", 26 },
		{ "Content-Type: text/plain\r\n\r\nbody", 28 },
		{ "A: 1\r\nB: 2\n\n", 12 },
		{ "\nbody", 1 },
		{ "\r\nbody", 2 },
		{ "Content-Type: text/plain\n", 0 },
		{ "Content-Type: text/pl", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		is_int(cgi_head_end(tab[i].in, strlen(tab[i].in), 1024),
		    tab[i].want, "head end %zu", i);
	is_int(cgi_head_end("X: aaaaaaaaaaaaaaaaaaaa\n", 24, 16), -1,
	    "over the limit without an end: -1");
	is_int(cgi_head_end("X: aaaaaaaaaaaaaaaaaaaa\n\n", 25, 16), -1,
	    "an end beyond the limit: -1");
}

static void
test_parse(void)
{
	static const struct {
		const char *in;
		int kind;		/* -1: rejected */
		int status;
		const char *type, *location;
		int nheaders;
		long long length;
	} tab[] = {
		{ "Content-Type: text/html\n\n", CGI_DOCUMENT, 0, "text/html", NULL, 0, -1 },
		{ "Content-type:text/html\r\n\r\n", CGI_DOCUMENT, 0, "text/html", NULL, 0, -1 },
		{ "Status: 404 Not Found\nContent-Type: text/plain\n\n", CGI_DOCUMENT, 404, "text/plain", NULL, 0, -1 },
		{ "Status: 204\n\n", CGI_DOCUMENT, 204, NULL, NULL, 0, -1 },
		{ "Location: /other?x=1\n\n", CGI_LOCAL_REDIRECT, 0, NULL, "/other?x=1", 0, -1 },
		{ "Location: https://example.org/\n\n", CGI_CLIENT_REDIRECT, 0, NULL, "https://example.org/", 0, -1 },
		{ "Location: https://e.org/\nStatus: 301 Moved\nContent-Type: text/html\n\n", CGI_CLIENT_REDIRECT, 301, "text/html", "https://e.org/", 0, -1 },
		{ "Location: /x\nStatus: 303 See Other\n\n", CGI_CLIENT_REDIRECT, 303, NULL, "/x", 0, -1 },
		{ "Content-Type: text/plain\nX-A: 1\nSet-Cookie: a=b\n\n", CGI_DOCUMENT, 0, "text/plain", NULL, 2, -1 },
		{ "Content-Type: text/plain\nConnection: close\nTransfer-Encoding: chunked\nServer: x\nDate: y\n\n", CGI_DOCUMENT, 0, "text/plain", NULL, 0, -1 },
		{ "Content-Type: text/plain\nContent-Length: 5\n\n", CGI_DOCUMENT, 0, "text/plain", NULL, 0, 5 },
		{ "Content-Type:   spaced   \n\n", CGI_DOCUMENT, 0, "spaced", NULL, 0, -1 },

		{ "\n", -1, 0, NULL, NULL, 0, -1 },			/* nothing */
		{ "X-Only: 1\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "not a header\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Bad Name: x\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ ": x\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Status: abc\nContent-Type: a/b\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Status: 99\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Status: 600 Nope\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Status: 2000\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Status: 200\nStatus: 200\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Content-Type: a/b\nContent-Type: c/d\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Content-Type: a/b\nX: a\rb\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Content-Type: a/b\nX: a\x01" "b\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Content-Type: a/b\nContent-Length: -1\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Content-Type: a/b\nContent-Length: 5x\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Location: relative/path\n\n", -1, 0, NULL, NULL, 0, -1 },
		{ "Location: //evil.example/\n\n", CGI_CLIENT_REDIRECT, 0, NULL, "//evil.example/", 0, -1 },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct cgi_response cr;
		const char *why = NULL;
		char buf[512];
		int kind;

		snprintf(buf, sizeof(buf), "%s", tab[i].in);
		kind = cgi_parse(buf, strlen(buf), &cr, &why);
		is_int(kind, tab[i].kind, "cgi %zu: kind", i);
		if (kind == -1) {
			ok(why != NULL && *why != '\0', "cgi %zu: a reason (%s)", i,
			    why ? why : "none");
			continue;
		}
		if (tab[i].kind == -1)
			continue;
		is_int(cr.status, tab[i].status, "cgi %zu: status", i);
		is_str(cr.content_type, tab[i].type, "cgi %zu: type", i);
		is_str(cr.location, tab[i].location, "cgi %zu: location", i);
		is_int(cr.nheaders, tab[i].nheaders, "cgi %zu: passed headers", i);
		is_int(cr.content_length, tab[i].length, "cgi %zu: length", i);
	}
}

static const char *
env_get(char **env, const char *name)
{
	size_t n = strlen(name);

	for (; *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static void
test_env(void)
{
	static const struct http_limits lim = { 8192, 16384, 100 };
	char buf[2048], path[4096], *extra[] = { "GREETING=hi",
	    "PATH_INFO=/forged", NULL }, **env;
	struct http_request r;
	struct cgi_context cx;
	size_t scan = 0;
	long end;

	snprintf(buf, sizeof(buf), "POST /fn/a/b?x=1 HTTP/1.1\r\n"
	    "Host: example.org:8080\r\nCookie: a=1\r\nCookie: b=2\r\n"
	    "X-Multi: 1\r\nX-Multi: 2\r\nProxy: evil\r\nX_Under: 1\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 3\r\n"
	    "Authorization: Basic eA==\r\n\r\n");
	end = http_head_end(buf, strlen(buf), &scan, &lim);
	ok(end > 0 && http_parse_request(&r, buf, (size_t)end, path,
	    sizeof(path), &lim) == 0, "request parses");
	memset(&cx, 0, sizeof(cx));
	cx.script_name = "/fn";
	cx.remote_addr = "127.0.0.1";
	cx.remote_port = 5555;
	cx.server_port = 8080;
	cx.https = 1;
	cx.content_length = 3;
	cx.server_software = "dcgid/test";
	cx.extra = extra;
	env = cgi_env(&r, &cx);
	ok(env != NULL, "environment built");
	if (env == NULL)
		return;
	is_str(env_get(env, "GATEWAY_INTERFACE"), "CGI/1.1", "GATEWAY_INTERFACE");
	is_str(env_get(env, "REQUEST_METHOD"), "POST", "REQUEST_METHOD");
	is_str(env_get(env, "SCRIPT_NAME"), "/fn", "SCRIPT_NAME");
	is_str(env_get(env, "PATH_INFO"), "/a/b", "PATH_INFO (route Env cannot forge it)");
	is_str(env_get(env, "QUERY_STRING"), "x=1", "QUERY_STRING");
	is_str(env_get(env, "REQUEST_URI"), "/fn/a/b?x=1", "REQUEST_URI");
	is_str(env_get(env, "SERVER_NAME"), "example.org", "SERVER_NAME without port");
	is_str(env_get(env, "SERVER_PORT"), "8080", "SERVER_PORT");
	is_str(env_get(env, "SERVER_PROTOCOL"), "HTTP/1.1", "SERVER_PROTOCOL");
	is_str(env_get(env, "SERVER_SOFTWARE"), "dcgid/test", "SERVER_SOFTWARE");
	is_str(env_get(env, "REMOTE_ADDR"), "127.0.0.1", "REMOTE_ADDR");
	is_str(env_get(env, "REMOTE_PORT"), "5555", "REMOTE_PORT");
	is_str(env_get(env, "CONTENT_LENGTH"), "3", "CONTENT_LENGTH");
	is_str(env_get(env, "CONTENT_TYPE"), "text/plain", "CONTENT_TYPE");
	is_str(env_get(env, "HTTPS"), "on", "HTTPS");
	is_str(env_get(env, "HTTP_COOKIE"), "a=1; b=2", "Cookie joined with ; ");
	is_str(env_get(env, "HTTP_X_MULTI"), "1, 2", "repeats joined with , ");
	is_str(env_get(env, "HTTP_PROXY"), NULL, "no HTTP_PROXY (httpoxy)");
	is_str(env_get(env, "HTTP_X_UNDER"), NULL, "no header with an underscore");
	is_str(env_get(env, "HTTP_CONTENT_LENGTH"), NULL, "no HTTP_CONTENT_LENGTH");
	is_str(env_get(env, "HTTP_HOST"), "example.org:8080", "HTTP_HOST");
	is_str(env_get(env, "GREETING"), "hi", "route Env");
	free(env);

	/* The root route, no query, HTTP/1.0, IPv6 host. */
	scan = 0;
	snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\nHost: [::1]:80\r\n\r\n");
	end = http_head_end(buf, strlen(buf), &scan, &lim);
	ok(http_parse_request(&r, buf, (size_t)end, path, sizeof(path), &lim) == 0,
	    "second request parses");
	cx.script_name = "";
	cx.https = 0;
	cx.content_length = -1;
	cx.extra = NULL;
	env = cgi_env(&r, &cx);
	ok(env != NULL, "environment built");
	if (env == NULL)
		return;
	is_str(env_get(env, "SCRIPT_NAME"), "", "root route: SCRIPT_NAME empty");
	free(env);
	/* RFC 3875 §4.1.5: no extra path: PATH_INFO is set, and empty. */
	cx.script_name = "/";
	env = cgi_env(&r, &cx);
	ok(env != NULL, "environment built");
	if (env == NULL)
		return;
	is_str(env_get(env, "PATH_INFO"), "", "no extra path: PATH_INFO \"\"");
	free(env);
	cx.script_name = "";
	env = cgi_env(&r, &cx);
	ok(env != NULL, "environment built");
	if (env == NULL)
		return;
	is_str(env_get(env, "PATH_INFO"), "/", "root route: PATH_INFO /");
	is_str(env_get(env, "QUERY_STRING"), "", "QUERY_STRING always set");
	is_str(env_get(env, "SERVER_NAME"), "::1", "IPv6 SERVER_NAME");
	is_str(env_get(env, "SERVER_PROTOCOL"), "HTTP/1.0", "HTTP/1.0");
	is_str(env_get(env, "CONTENT_LENGTH"), NULL, "no body: no CONTENT_LENGTH");
	is_str(env_get(env, "HTTPS"), NULL, "plain: no HTTPS");
	free(env);
}

struct collect {
	char	 out[256], err[256];
	size_t	 outlen, errlen;
	int	 stop_after;	/* stop after this many pieces (0: never) */
	int	 pieces;
};

static int
collect(void *arg, int stream, const char *p, size_t n)
{
	struct collect *c = arg;

	if (stream == 2) {
		memcpy(c->err + c->errlen, p, n);
		c->errlen += n;
	} else {
		memcpy(c->out + c->outlen, p, n);
		c->outlen += n;
	}
	return c->stop_after && ++c->pieces >= c->stop_after;
}

static void
test_demux(void)
{
	static const unsigned char stream[] = {
		1, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
		2, 0, 0, 0, 0, 0, 0, 3, 'e', 'r', 'r',
		1, 0, 0, 0, 0, 0, 0, 0,				/* empty frame */
		1, 0, 0, 0, 0, 0, 0, 6, ' ', 'w', 'o', 'r', 'l', 'd',
		2, 0, 0, 0, 0, 0, 0, 1, '!',
	};
	static const size_t steps[] = { 1, 2, 3, 5, 7, 8, 9, 13, sizeof(stream) };

	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		struct docker_demux dm;
		struct collect c;
		int rv = 0;

		memset(&dm, 0, sizeof(dm));
		memset(&c, 0, sizeof(c));
		for (size_t off = 0; off < sizeof(stream) && rv == 0; off += steps[s]) {
			size_t n = sizeof(stream) - off < steps[s] ?
			    sizeof(stream) - off : steps[s];
			rv = docker_demux_feed(&dm, (const char *)stream + off, n,
			    collect, &c);
		}
		is_int(rv, 0, "demux step %zu: no error", steps[s]);
		c.out[c.outlen] = c.err[c.errlen] = '\0';
		is_str(c.out, "hello world", "demux step %zu: stdout", steps[s]);
		is_str(c.err, "err!", "demux step %zu: stderr", steps[s]);
	}
	{
		static const unsigned char bad1[] = { 3, 0, 0, 0, 0, 0, 0, 1, 'x' };
		static const unsigned char bad2[] = { 1, 1, 0, 0, 0, 0, 0, 1, 'x' };
		struct docker_demux dm;
		struct collect c;

		memset(&dm, 0, sizeof(dm));
		memset(&c, 0, sizeof(c));
		is_int(docker_demux_feed(&dm, (const char *)bad1, sizeof(bad1),
		    collect, &c), -1, "unknown stream type: error");
		memset(&dm, 0, sizeof(dm));
		is_int(docker_demux_feed(&dm, (const char *)bad2, sizeof(bad2),
		    collect, &c), -1, "non-zero padding: error");
		memset(&dm, 0, sizeof(dm));
		memset(&c, 0, sizeof(c));
		c.stop_after = 1;
		is_int(docker_demux_feed(&dm, (const char *)stream, sizeof(stream),
		    collect, &c), 1, "the callback can stop the feed");
		is_int(c.outlen, 5, "nothing after the stop");
	}
}

/* The engine's check of a server process's environment. */
static void
test_env_confine(void)
{
	static const struct http_limits lim = { 8192, 16384, 100 };
	char buf[1024], path[4096], *extra[] = { "GREETING=hi",
	    "REQUEST_METHOD=PUT", NULL }, **env, **mine, **conf;
	char *hostile[] = { "PATH=/evil", "LD_PRELOAD=/x.so",
	    "BASH_ENV=/dev/stdin", "HTTP_PROXY=x", "HTTP_lower=1", "HTTP_=1",
	    "HTTP_A-B=1", "GREETING=forged", "REQUEST_METHOD=GET",
	    "REQUEST_METHOD=POST", "HTTP_X_OK=1", "noequals", "=x", NULL };
	struct http_request r;
	struct cgi_context cx;
	size_t scan = 0, n = 0, m = 0;
	long end;

	snprintf(buf, sizeof(buf), "GET /fn/x?q=1 HTTP/1.1\r\nHost: h\r\n"
	    "X-Thing: 1\r\nCookie: c=1\r\n\r\n");
	end = http_head_end(buf, strlen(buf), &scan, &lim);
	ok(end > 0 && http_parse_request(&r, buf, (size_t)end, path,
	    sizeof(path), &lim) == 0, "confine: request parses");
	memset(&cx, 0, sizeof(cx));
	cx.script_name = "/fn";
	cx.remote_addr = "::1";
	cx.content_length = -1;
	cx.server_software = "dcgid/test";
	/* What a server process sends (no route Env), confined with it, is
	 * what one process makes with it. */
	cx.extra = NULL;
	env = cgi_env(&r, &cx);
	cx.extra = extra;
	mine = cgi_env(&r, &cx);
	conf = env != NULL ? cgi_env_confine(env, extra) : NULL;
	ok(env != NULL && mine != NULL && conf != NULL, "confine: built");
	if (env == NULL || mine == NULL || conf == NULL)
		return;
	for (char **e = mine; *e != NULL; e++, n++) {
		int found = 0;

		for (char **f = conf; *f != NULL; f++)
			found |= strcmp(*e, *f) == 0;
		ok(found, "confine: %s kept", *e);
	}
	for (char **f = conf; *f != NULL; f++)
		m++;
	is_int((long)m, (long)n, "confine: nothing more than cgi_env() makes");
	free(env);
	free(mine);
	free(conf);

	conf = cgi_env_confine(hostile, extra);
	ok(conf != NULL, "confine: hostile list built");
	if (conf == NULL)
		return;
	is_str(env_get(conf, "PATH"), NULL, "confine: no PATH from a server");
	is_str(env_get(conf, "LD_PRELOAD"), NULL, "confine: no LD_PRELOAD");
	is_str(env_get(conf, "BASH_ENV"), NULL, "confine: no BASH_ENV");
	is_str(env_get(conf, "HTTP_PROXY"), NULL, "confine: no HTTP_PROXY");
	is_str(env_get(conf, "HTTP_lower"), NULL, "confine: no lower case HTTP_");
	is_str(env_get(conf, "HTTP_"), NULL, "confine: no bare HTTP_");
	is_str(env_get(conf, "HTTP_A-B"), NULL, "confine: no '-' in HTTP_");
	is_str(env_get(conf, "GREETING"), "hi", "confine: route Env is the "
	    "engine's, not the server's");
	is_str(env_get(conf, "REQUEST_METHOD"), "GET", "confine: the first "
	    "of a repeated name; route Env never over a CGI variable");
	is_str(env_get(conf, "HTTP_X_OK"), "1", "confine: HTTP_X_OK kept");
	free(conf);
}

int
main(void)
{
	test_head_end();
	test_parse();
	test_env();
	test_env_confine();
	test_demux();
	return done_testing();
}
