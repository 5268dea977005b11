/*
 * t_http.c: the HTTP request parser, path normalisation, the chunked
 * decoder, ranges and dates, as tables of input and expected output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "tap.h"

static const struct http_limits lim = { 8192, 16384, 100 };

/* Parse a whole head; returns the status (0 for a good request). */
static int
parse(const char *text, struct http_request *r, char *buf, size_t buflen,
    char *path, size_t pathlen)
{
	size_t scan = 0, n = strlen(text);
	long end;

	if (n >= buflen)
		return -1;
	memcpy(buf, text, n + 1);
	end = http_head_end(buf, n, &scan, &lim);
	if (end < 0)
		return (int)-end;
	if (end == 0)
		return -2;	/* incomplete */
	return http_parse_request(r, buf, (size_t)end, path, pathlen, &lim);
}

static void
test_requests(void)
{
	static const struct {
		const char	*in;
		int		 status;
		const char	*path;	/* expected normalised path */
		int		 keep_alive;
	} tab[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/", 1 },
		{ "GET /a/b?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/a/b", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0, "/", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, "/", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, "/", 0 },
		{ "GET / HTTP/1.1\nHost: a\n\n", 0, "/", 1 },		/* bare LF */
		{ "GET /%7Euser/./x/../y HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/~user/y", 1 },
		{ "GET http://example.org/p/q HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/p/q", 1 },
		{ "GET http://example.org HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/", 1 },
		{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, NULL, 1 },
		{ "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 0, "/x", 1 },
		{ "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 0, "/x", 1 },
		{ "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0, "/x", 1 },
		{ "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", 0, "/x", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 0, "/", 1 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n", 0, "/", 1 },

		/* bad request lines */
		{ "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, NULL, 0 },
		{ "GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET / http/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /%2e%2e/etc HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 501, NULL, 0 },
		{ "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },
		{ "GET http://user@evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, NULL, 0 },

		/* bad headers */
		{ "GET / HTTP/1.1\r\n\r\n", 400, NULL, 0 },		/* no Host */
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YTpi\r\n"
		  "authorization: Basic YzpkCg==\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, NULL, 0 },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, NULL, 0 },
		{ "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, NULL, 0 },
		{ "GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417, NULL, 0 },
	};
	char buf[4096], path[8192];
	struct http_request r;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		int st = parse(tab[i].in, &r, buf, sizeof(buf), path, sizeof(path));
		is_int(st, tab[i].status, "request %zu: status %d", i,
		    tab[i].status);
		if (st == 0 && tab[i].status == 0) {
			is_str(r.path, tab[i].path, "request %zu: path", i);
			is_int(r.keep_alive, tab[i].keep_alive,
			    "request %zu: keep-alive", i);
		}
	}

	/* Fields of one full request. */
	is_int(parse("POST /r/s?a=b&c HTTP/1.1\r\nHost: ex.org:80\r\n"
	    "Content-Length: 12\r\nX-A:   spaced value  \r\n\r\n", &r, buf,
	    sizeof(buf), path, sizeof(path)), 0, "full request parses");
	is_str(r.method, "POST", "method");
	is_int(r.meth, HTTP_POST, "method enum");
	is_str(r.target, "/r/s?a=b&c", "raw target");
	is_str(r.query, "a=b&c", "query");
	is_str(r.host, "ex.org:80", "host");
	is_int(r.content_length, 12, "content length");
	is_int(r.version, 11, "version");
	is_str(http_header_get(&r, "x-a"), "spaced value", "OWS trimmed, case-insensitive lookup");
	is_int(r.nheaders, 3, "three headers");

	/* absolute-form: the authority wins over Host (RFC 9112 §3.2.2) */
	is_int(parse("GET http://real.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
	    &r, buf, sizeof(buf), path, sizeof(path)), 0, "absolute-form parses");
	is_str(r.host, "real.example:8080", "absolute-form authority is the host");
	is_str(r.query, "q", "absolute-form query");
}

static void
test_limits(void)
{
	struct http_limits l = { 32, 128, 3 };
	char buf[1024], path[256];
	struct http_request r;
	size_t scan;
	long end;

	scan = 0;
	snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\n", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	is_int(http_head_end(buf, strlen(buf), &scan, &l), -414, "long request line: 414");
	scan = 0;
	snprintf(buf, sizeof(buf), "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	is_int(http_head_end(buf, strlen(buf), &scan, &l), -414, "long request line, no newline yet: 414");
	scan = 0;
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %0100d\r\n", 0);
	is_int(http_head_end(buf, strlen(buf), &scan, &l), -431, "long head without end: 431");
	scan = 0;
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: %0100d\r\n\r\n", 0);
	is_int(http_head_end(buf, strlen(buf), &scan, &l), -431, "long complete head: 431");
	scan = 0;
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	end = http_head_end(buf, strlen(buf), &scan, &l);
	ok(end > 0, "head found");
	is_int(http_parse_request(&r, buf, (size_t)end, path, sizeof(path), &l), 431,
	    "too many headers: 431");

	/* The end is found whichever way the bytes are split. */
	{
		const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
		size_t n = strlen(req) - 4, i;
		int good = 1;

		for (size_t cut = 1; cut < n; cut++) {
			scan = 0;
			memcpy(buf, req, n + 4);
			end = http_head_end(buf, cut, &scan, &lim);
			if (end != 0)
				good = 0;
			end = http_head_end(buf, n + 4, &scan, &lim);
			if (end != (long)n)
				good = 0;
		}
		ok(good, "head end found for every split point");
		/* byte by byte */
		scan = 0;
		end = 0;
		for (i = 1; i <= n + 4 && end == 0; i++)
			end = http_head_end(buf, i, &scan, &lim);
		is_int(end, (long)n, "head end found byte by byte");
	}
}

static void
test_paths(void)
{
	static const struct {
		const char *in, *out;	/* out NULL: rejected */
	} tab[] = {
		{ "/", "/" },
		{ "/a", "/a" },
		{ "/a/", "/a/" },
		{ "/a//b", "/a/b" },
		{ "//a///b//", "/a/b/" },
		{ "/./a/./b/.", "/a/b/" },
		{ "/a/b/..", "/a/" },
		{ "/a/b/../c", "/a/c" },
		{ "/a/../../b", NULL },
		{ "/..", NULL },
		{ "/../", NULL },
		{ "/a/%2e%2e/%2E%2E/x", NULL },
		{ "/a/%2e%2e/x", "/x" },
		{ "/a/.%2e/x", "/x" },
		{ "/%41%42c", "/ABc" },
		{ "/a%2fb", "/a/b" },
		{ "/a%20b", "/a b" },
		{ "/..a/b..", "/..a/b.." },
		{ "/.hidden", "/.hidden" },
		{ "/a%00", NULL },
		{ "/a%0", NULL },
		{ "/a%g0", NULL },
		{ "a", NULL },
		{ "", NULL },
	};
	char out[256];

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		int rv = http_path_normalize(tab[i].in, strlen(tab[i].in), out,
		    sizeof(out));
		if (tab[i].out == NULL)
			is_int(rv, -1, "path \"%s\" rejected", tab[i].in);
		else {
			is_int(rv, 0, "path \"%s\" accepted", tab[i].in);
			if (rv == 0)
				is_str(out, tab[i].out, "path \"%s\"", tab[i].in);
		}
	}
	is_int(http_path_normalize("/abcdef", 7, out, 4), -1, "no room: rejected");
}

/* Decode `in` fed in pieces of `step` bytes; returns the data or NULL. */
static int
chunked(const char *in, size_t step, char *data, size_t *datalen, size_t *rest)
{
	struct http_chunked st;
	char buf[1024];
	size_t len = 0, off = 0, n = strlen(in), used, got;
	int rv = 0;

	memset(&st, 0, sizeof(st));
	*datalen = 0;
	while (off < n || len > 0) {
		size_t take = n - off < step ? n - off : step;
		memcpy(buf + len, in + off, take);
		len += take;
		off += take;
		rv = http_chunked_decode(&st, buf, len, &used, &got);
		if (rv == -1)
			return -1;
		memcpy(data + *datalen, buf, got);
		*datalen += got;
		memmove(buf, buf + used, len - used);
		len -= used;
		if (rv == 1) {
			*rest = len + (n - off);
			return 1;
		}
		if (take == 0)
			break;
	}
	return rv;
}

static void
test_chunked(void)
{
	static const struct {
		const char *in, *data;
		int rv;
		size_t rest;
	} tab[] = {
		{ "5\r\nhello\r\n0\r\n\r\n", "hello", 1, 0 },
		{ "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", "hello world", 1, 3 },
		{ "a;ext=1\r\n0123456789\r\n0\r\n\r\n", "0123456789", 1, 0 },
		{ "A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", "0123456789", 1, 0 },
		{ "5\nhello\n0\n\n", "hello", 1, 0 },
		{ "0\r\n\r\n", "", 1, 0 },
		{ "5\r\nhel", "hel", 0, 0 },
		{ "x\r\n", "", -1, 0 },
		{ "\r\n", "", -1, 0 },
		{ "5\r\nhelloXX", "", -1, 0 },
		{ "fffffffffffffffffff\r\n", "", -1, 0 },
		{ "5 junk\x01\r\n", "", -1, 0 },
	};
	char data[256];
	size_t dl, rest;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		static const size_t steps[] = { 1, 2, 3, 7, 1000 };
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			int rv = chunked(tab[i].in, steps[s], data, &dl, &rest);
			is_int(rv, tab[i].rv, "chunked %zu step %zu: result", i,
			    steps[s]);
			if (rv == 1) {
				data[dl] = '\0';
				is_str(data, tab[i].data, "chunked %zu step %zu: data",
				    i, steps[s]);
				is_int(rest, tab[i].rest, "chunked %zu step %zu: "
				    "bytes left after the body", i, steps[s]);
			}
		}
	}
}

static void
test_ranges(void)
{
	static const struct {
		const char *in;
		int64_t size;
		int rv;
		int64_t first, last;
	} tab[] = {
		{ "bytes=0-99", 1000, 1, 0, 99 },
		{ "bytes=100-", 1000, 1, 100, 999 },
		{ "bytes=-100", 1000, 1, 900, 999 },
		{ "bytes=-2000", 1000, 1, 0, 999 },
		{ "bytes=500-5000", 1000, 1, 500, 999 },
		{ "bytes=1000-", 1000, -1, 0, 0 },
		{ "bytes=-0", 1000, -1, 0, 0 },
		{ "bytes=0-0", 0, -1, 0, 0 },
		{ "bytes=5-1", 1000, 0, 0, 0 },
		{ "bytes=0-1,5-6", 1000, 0, 0, 0 },
		{ "items=0-1", 1000, 0, 0, 0 },
		{ "bytes=x-1", 1000, 0, 0, 0 },
		{ "bytes=99999999999999999999-", 1000, 0, 0, 0 },
	};
	int64_t a, b;

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		int rv = http_range_parse(tab[i].in, tab[i].size, &a, &b);
		is_int(rv, tab[i].rv, "range \"%s\" of %lld", tab[i].in,
		    (long long)tab[i].size);
		if (rv == 1 && tab[i].rv == 1) {
			is_int(a, tab[i].first, "range \"%s\": first", tab[i].in);
			is_int(b, tab[i].last, "range \"%s\": last", tab[i].in);
		}
	}
}

static void
test_dates(void)
{
	char d[30];

	http_date(0, d);
	is_str(d, "Thu, 01 Jan 1970 00:00:00 GMT", "epoch");
	http_date(1795651200, d);
	is_str(d, "Thu, 26 Nov 2026 00:00:00 GMT", "a date in 2026");
	is_int(http_date_parse("Thu, 26 Nov 2026 00:00:00 GMT"), 1795651200,
	    "parse back");
	is_int(http_date_parse("Fri, 26 Nov 2026 00:00:00 UTC"), -1, "not GMT");
	is_int(http_date_parse("Friday, 26-Nov-26 00:00:00 GMT"), -1,
	    "RFC 850 form is not accepted");
	is_int(http_date_parse(""), -1, "empty");
	is_str(http_status_text(431), "Request Header Fields Too Large", "431 text");

	/* The hand-made formatter against strftime, across leap years. */
	int same = 1;
	for (time_t t = 0; t < 4102444800; t += 86400 * 37 + 3661) {
		char ref[30];
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(ref, sizeof(ref), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		http_date(t, d);
		if (strcmp(d, ref) != 0) {
			is_str(d, ref, "date for %lld", (long long)t);
			same = 0;
			break;
		}
		if (http_date_parse(d) != t) {
			is_int(http_date_parse(d), t, "round trip of %s", d);
			same = 0;
			break;
		}
	}
	ok(same, "http_date matches strftime and parses back, 1970 to 2100");
}

static void
test_fmt(void)
{
	static const struct {
		uint64_t	 v;
		int		 width;
		const char	*dec, *hex;
	} tab[] = {
		{ 0, 0, "0", "0" },
		{ 9, 0, "9", "9" },
		{ 10, 0, "10", "a" },
		{ 255, 4, "255", "00ff" },
		{ 1234567890, 0, "1234567890", "499602d2" },
		{ 0x1234, 16, "4660", "0000000000001234" },
		{ UINT64_MAX, 16, "18446744073709551615", "ffffffffffffffff" },
		{ UINT64_MAX, 0, "18446744073709551615", "ffffffffffffffff" },
	};
	char buf[40];

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		*http_fmt_u64(buf, tab[i].v) = '\0';
		is_str(buf, tab[i].dec, "decimal, row %zu", i);
		*http_fmt_hex(buf, tab[i].v, tab[i].width) = '\0';
		is_str(buf, tab[i].hex, "hex, row %zu", i);
	}
}

int
main(void)
{
	test_requests();
	test_limits();
	test_paths();
	test_chunked();
	test_ranges();
	test_dates();
	test_fmt();
	return done_testing();
}
