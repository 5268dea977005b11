/*
 * http.c: the HTTP/1.x request parser, path normalisation, the chunked
 * decoder and small response helpers.  Strict where laxness lets a request
 * mean two things to two parsers (RFC 9112 §11.2, request smuggling):
 * Content-Length and Transfer-Encoding together, conflicting lengths,
 * obs-fold, whitespace before the colon are all rejected with 400.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

/* RFC 9110 §5.6.2: tchar. */
static const unsigned char http_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static int
http_istoken(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!http_tchar[(unsigned char)s[i]])
			return 0;
	return 1;
}

long
http_head_end(const char *buf, size_t len, size_t *scan,
    const struct http_limits *lim)
{
	size_t i = *scan;
	const char *nl;

	/* The request line must end within its own limit (414). */
	if (i == 0) {
		nl = memchr(buf, '\n', len);
		if (nl == NULL) {
			if (len > lim->max_request_line)
				return -414;
			return 0;
		}
		if ((size_t)(nl - buf) > lim->max_request_line)
			return -414;
	}
	/*
	 * The head ends at an empty line: "\n\n" or "\n\r\n".  Resume one
	 * byte back from where the last call stopped so that a terminator
	 * split across reads is still seen.
	 */
	if (i > 2)
		i -= 2;
	else
		i = 0;
	while (i < len) {
		nl = memchr(buf + i, '\n', len - i);
		if (nl == NULL)
			break;
		i = (size_t)(nl - buf) + 1;
		if (i < len && buf[i] == '\n') {
			i += 1;
			goto found;
		}
		if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n') {
			i += 2;
			goto found;
		}
		if (i + 1 >= len)
			break;
	}
	*scan = len;
	if (len > lim->max_header_size)
		return -431;
	return 0;
found:
	if (i > lim->max_header_size)
		return -431;
	return (long)i;
}

static enum http_method
http_method_of(const char *m)
{
	static const struct { const char *name; enum http_method meth; } tab[] = {
		{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
		{ "PUT", HTTP_PUT }, { "DELETE", HTTP_DELETE },
		{ "OPTIONS", HTTP_OPTIONS }, { "PATCH", HTTP_PATCH },
		{ "CONNECT", HTTP_CONNECT }, { "TRACE", HTTP_TRACE },
	};
	size_t i;

	/* Methods are case-sensitive (RFC 9110 §9.1). */
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].meth;
	return HTTP_OTHER;
}

static int
http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
http_path_normalize(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t i, o = 0, seg;
	int dir;			/* the input names a directory */

	if (outlen < 2 || inlen == 0 || in[0] != '/')
		return -1;
	dir = in[inlen - 1] == '/';
	/*
	 * One pass: decode a byte, append it, and whenever a segment ends
	 * (a '/' or the end) look at what was just written.  "." drops the
	 * segment, ".." drops it and the one before, "" (from "//") is
	 * folded.  Decoding first means "%2e%2e" is a ".." too.
	 */
	out[o++] = '/';
	seg = o;
	for (i = 1; i <= inlen; i++) {
		int c;

		if (i == inlen)
			c = '/';
		else if (in[i] == '%') {
			int h, l;
			if (i + 2 >= inlen)
				return -1;
			h = http_hexval((unsigned char)in[i + 1]);
			l = http_hexval((unsigned char)in[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = h << 4 | l;
			if (c == 0)
				return -1;
			i += 2;
		} else
			c = (unsigned char)in[i];
		if (c != '/') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
			continue;
		}
		/* A segment out[seg..o) has ended. */
		if (o == seg) {
			/* empty: "//" folds into one */
		} else if (o - seg == 1 && out[seg] == '.') {
			o = seg;
			dir |= i == inlen;
		} else if (o - seg == 2 && out[seg] == '.' && out[seg + 1] == '.') {
			dir |= i == inlen;
			if (seg == 1)
				return -1;	/* above the root */
			o = seg - 1;		/* drop "..", then the last segment */
			while (o > 0 && out[o - 1] != '/')
				o--;
		} else {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '/';
		}
		seg = o;
	}
	/* A trailing slash stays only where the input named a directory. */
	if (o > 1 && out[o - 1] == '/' && !dir)
		o--;
	out[o] = '\0';
	return 0;
}

/* Trim optional whitespace (SP, HTAB) at both ends; returns the length. */
static size_t
http_trim(char **s, size_t n)
{
	while (n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		n--;
	}
	while (n > 0 && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t'))
		n--;
	return n;
}

/* Does the comma-separated list `v` contain `tok` (case-insensitive)? */
static int
http_list_has(const char *v, const char *tok)
{
	size_t tl = strlen(tok);

	while (*v != '\0') {
		const char *e;
		size_t n;

		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		e = v;
		while (*e != '\0' && *e != ',')
			e++;
		n = (size_t)(e - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(v, tok, tl) == 0)
			return 1;
		v = e;
	}
	return 0;
}

/*
 * RFC 9110 §8.6: Content-Length is 1*DIGIT.  A list of identical values
 * ("5, 5") is allowed to be taken as one; anything else is an error.
 */
static int
http_content_length(const char *v, int64_t *out)
{
	int64_t n = -1;

	for (;;) {
		int64_t x = 0;
		int digits = 0;

		while (*v == ' ' || *v == '\t')
			v++;
		while (*v >= '0' && *v <= '9') {
			if (x > (INT64_MAX - 9) / 10)
				return -1;
			x = x * 10 + (*v++ - '0');
			digits++;
		}
		if (digits == 0)
			return -1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (n != -1 && n != x)
			return -1;
		n = x;
		if (*v == '\0')
			break;
		if (*v++ != ',')
			return -1;
	}
	if (*out != -1 && *out != n)
		return -1;
	*out = n;
	return 0;
}

static int
http_valid_host(const char *h)
{
	/* RFC 3986 host[:port]: reg-name, IPv4 or [IPv6]; no userinfo. */
	for (; *h != '\0'; h++) {
		unsigned char c = (unsigned char)*h;
		if (!(isalnum(c) || strchr("-._~!$&'()*+,;=:[]%", c)))
			return 0;
	}
	return 1;
}

int
http_parse_request(struct http_request *r, char *buf, size_t len,
    char *pathbuf, size_t pathlen, const struct http_limits *lim)
{
	char *p = buf, *end = buf + len, *eol, *sp, *t;
	int have_te = 0, nhost = 0, nauth = 0;
	const char *te = NULL;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;

	/* Request line: method SP request-target SP HTTP-version. */
	if ((eol = memchr(p, '\n', len)) == NULL)
		return 400;
	if (eol > p && eol[-1] == '\r')
		eol[-1] = '\0';
	*eol = '\0';
	if ((size_t)(eol - p) > lim->max_request_line)
		return 414;
	if ((sp = strchr(p, ' ')) == NULL)
		return 400;
	*sp = '\0';
	if (!http_istoken(p, (size_t)(sp - p)))
		return 400;
	r->method = p;
	r->meth = http_method_of(p);
	t = sp + 1;
	if ((sp = strchr(t, ' ')) == NULL)
		return 400;
	*sp = '\0';
	if (*t == '\0')
		return 400;
	r->target = t;
	/* The version: exactly "HTTP/" DIGIT "." DIGIT. */
	p = sp + 1;
	if (strncmp(p, "HTTP/", 5) != 0 || !isdigit((unsigned char)p[5]) ||
	    p[6] != '.' || !isdigit((unsigned char)p[7]) || p[8] != '\0')
		return 400;
	if (p[5] != '1')
		return 505;
	r->version = p[7] == '0' ? 10 : 11;
	for (const char *c = t; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '#')
			return 400;

	/* Header fields. */
	p = eol + 1;
	while (p < end) {
		char *colon, *name, *value;
		size_t nlen, vlen;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return 400;
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		*eol = '\0';
		if (*p == '\0')
			break;		/* the empty line */
		if (*p == ' ' || *p == '\t')
			return 400;	/* RFC 9112 §5.2: obs-fold */
		if ((colon = strchr(p, ':')) == NULL)
			return 400;
		name = p;
		nlen = (size_t)(colon - p);
		/* RFC 9112 §5.1: no whitespace between name and colon. */
		if (!http_istoken(name, nlen))
			return 400;
		*colon = '\0';
		value = colon + 1;
		vlen = http_trim(&value, strlen(value));
		value[vlen] = '\0';
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)value[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return 400;
		}
		if (r->nheaders >= lim->max_headers ||
		    r->nheaders >= HTTP_MAX_HEADERS)
			return 431;
		r->headers[r->nheaders].name = name;
		r->headers[r->nheaders].value = value;
		r->nheaders++;

		if (strcasecmp(name, "Content-Length") == 0) {
			if (http_content_length(value, &r->content_length) == -1)
				return 400;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			if (have_te)
				return 501;	/* several codings: none we do */
			have_te = 1;
			te = value;
		} else if (strcasecmp(name, "Host") == 0) {
			if (nhost++ > 0)
				return 400;	/* RFC 9112 §3.2 */
			if (!http_valid_host(value))
				return 400;
			r->host = value;
		} else if (strcasecmp(name, "Authorization") == 0) {
			/* Not a list (RFC 9110 §11.6.2): with two, which one
			 * did a proxy in front check?  (nginx refuses too.) */
			if (nauth++ > 0)
				return 400;
		} else if (strcasecmp(name, "Expect") == 0) {
			if (strcasecmp(value, "100-continue") != 0)
				return 417;
			r->expect_continue = 1;
		}
		p = eol + 1;
	}

	if (have_te) {
		/* RFC 9112 §6.1: TE in 1.0 is faulty framing. */
		if (r->version == 10)
			return 400;
		/* RFC 9112 §6.3: both present is a smuggling attempt. */
		if (r->content_length != -1)
			return 400;
		if (strcasecmp(te, "chunked") != 0)
			return 501;
		r->chunked = 1;
	}
	if (r->version == 11 && nhost == 0)
		return 400;

	/* Connection: close/keep-alive, HTTP/1.1 persistent by default. */
	r->keep_alive = r->version == 11;
	for (int i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Connection") != 0)
			continue;
		if (http_list_has(r->headers[i].value, "close"))
			r->keep_alive = 0;
		else if (r->version == 10 &&
		    http_list_has(r->headers[i].value, "keep-alive"))
			r->keep_alive = 1;
	}

	/* The request-target (RFC 9112 §3.2). */
	t = (char *)r->target;
	if (strncasecmp(t, "http://", 7) == 0 ||
	    strncasecmp(t, "https://", 8) == 0) {
		/* absolute-form: the authority replaces Host. */
		char *auth = t + (t[4] == ':' ? 7 : 8), *slash;
		size_t alen;

		slash = strchr(auth, '/');
		alen = slash ? (size_t)(slash - auth) : strlen(auth);
		if (alen == 0 || memchr(auth, '@', alen) != NULL ||
		    memchr(auth, '?', alen) != NULL)
			return 400;
		/*
		 * Copy the authority after the path in pathbuf: the raw
		 * target must stay intact for REQUEST_URI and the log.
		 */
		if (alen + 1 > pathlen / 2)
			return 414;
		memcpy(pathbuf + pathlen / 2, auth, alen);
		pathbuf[pathlen / 2 + alen] = '\0';
		r->host = pathbuf + pathlen / 2;
		if (!http_valid_host(r->host))
			return 400;
		pathlen /= 2;
		r->rawpath = slash ? slash : "/";
	} else if (t[0] == '/') {
		r->rawpath = t;
	} else if (strcmp(t, "*") == 0 && r->meth == HTTP_OPTIONS) {
		r->rawpath = NULL;
		r->path = NULL;
		return 0;
	} else if (r->meth == HTTP_CONNECT) {
		return 501;
	} else
		return 400;

	{
		const char *q = strchr(r->rawpath, '?');
		size_t plen = q ? (size_t)(q - r->rawpath) : strlen(r->rawpath);

		r->query = q ? q + 1 : NULL;
		if (http_path_normalize(r->rawpath, plen, pathbuf, pathlen) == -1)
			return plen >= pathlen ? 414 : 400;
		r->path = pathbuf;
	}
	return 0;
}

const char *
http_header_get(const struct http_request *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

enum {
	CH_SIZE,	/* hex digits of the chunk size */
	CH_EXT,		/* ;extensions up to the end of the line */
	CH_DATA,
	CH_DATA_CR,	/* the CRLF after the data */
	CH_DATA_LF,
	CH_TRAILER,	/* trailer lines up to the empty one */
	CH_DONE
};

#define CH_MAX_LINE	4096	/* size line with extensions */
#define CH_MAX_TRAILERS	16384

int
http_chunked_decode(struct http_chunked *st, char *buf, size_t len,
    size_t *used, size_t *outlen)
{
	size_t i = 0, o = 0;

	*used = *outlen = 0;	/* what a caller sees after an error */
	while (i < len && st->state != CH_DONE) {
		unsigned char c = (unsigned char)buf[i];

		switch (st->state) {
		case CH_SIZE: {
			int h = http_hexval(c);
			if (h >= 0) {
				if (st->left > (UINT64_MAX >> 8))
					return -1;	/* absurd size */
				st->left = st->left << 4 | (uint64_t)h;
				st->linelen++;
				i++;
				break;
			}
			if (st->linelen == 0)
				return -1;	/* no digits */
			st->state = CH_EXT;
			break;
		}
		case CH_EXT:
			i++;
			if (++st->linelen > CH_MAX_LINE)
				return -1;
			if (c == '\n') {
				st->linelen = 0;
				st->state = st->left ? CH_DATA : CH_TRAILER;
			} else if (c != '\r' && c != ';' && c != ' ' &&
			    c != '\t' && c != '=' && c != '"' &&
			    !http_tchar[c])
				return -1;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > st->left)
				n = (size_t)st->left;
			memmove(buf + o, buf + i, n);
			o += n;
			i += n;
			st->left -= n;
			if (st->left == 0)
				st->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			i++;
			if (c == '\r')
				st->state = CH_DATA_LF;
			else if (c == '\n')
				st->state = CH_SIZE;
			else
				return -1;
			break;
		case CH_DATA_LF:
			i++;
			if (c != '\n')
				return -1;
			st->state = CH_SIZE;
			break;
		case CH_TRAILER:
			/* Trailer fields are read and dropped. */
			i++;
			if (++st->trailers > CH_MAX_TRAILERS)
				return -1;
			if (c == '\n') {
				if (st->linelen == 0)
					st->state = CH_DONE;
				st->linelen = 0;
			} else if (c != '\r')
				st->linelen++;
			break;
		}
	}
	*used = i;
	*outlen = o;
	return st->state == CH_DONE ? 1 : 0;
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return status < 200 ? "Informational" : status < 300 ? "OK" :
		  status < 400 ? "Redirection" : status < 500 ? "Client Error" :
		  "Server Error";
	}
}

static const char http_months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static const char http_wdays[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static char *
http_fmt_2(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

void
http_date(time_t t, char buf[30])
{
	struct tm tm;
	char *p = buf;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0) {
		buf[0] = '\0';
		return;
	}
	/* "Sun, 06 Nov 1994 08:49:37 GMT"; strftime costs a locale lookup. */
	memcpy(p, http_wdays[tm.tm_wday], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = http_fmt_2(p, tm.tm_mday);
	*p++ = ' ';
	memcpy(p, http_months[tm.tm_mon], 3);
	p += 3;
	*p++ = ' ';
	p = http_fmt_2(p, (tm.tm_year + 1900) / 100);
	p = http_fmt_2(p, (tm.tm_year + 1900) % 100);
	*p++ = ' ';
	p = http_fmt_2(p, tm.tm_hour);
	*p++ = ':';
	p = http_fmt_2(p, tm.tm_min);
	*p++ = ':';
	p = http_fmt_2(p, tm.tm_sec);
	memcpy(p, " GMT", 5);
}

char *
http_fmt_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

char *
http_fmt_hex(char *p, uint64_t v, int width)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;

	do
		tmp[n++] = digits[v & 15];
	while ((v >>= 4) != 0);
	while (width-- > n)
		*p++ = '0';
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

time_t
http_date_parse(const char *s)
{
	struct tm tm;
	char wd[4], mon[4];
	int i, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 29 ||
	    sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &tm.tm_mday,
	    mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
	    n != 29)
		return -1;
	for (i = 0; i < 12; i++)
		if (strcmp(mon, http_months[i]) == 0)
			break;
	if (i == 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_mon = i;
	tm.tm_year -= 1900;
	return timegm(&tm);
}

static int
http_parse_off(const char **s, int64_t *out)
{
	int64_t x = 0;
	int digits = 0;

	while (**s >= '0' && **s <= '9') {
		if (x > (INT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (*(*s)++ - '0');
		digits++;
	}
	if (digits == 0)
		return -1;
	*out = x;
	return 0;
}

int
http_range_parse(const char *v, int64_t size, int64_t *first, int64_t *last)
{
	int64_t a, b;

	if (strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	v += 6;
	while (*v == ' ')
		v++;
	if (*v == '-') {
		/* suffix: the last N bytes */
		v++;
		if (http_parse_off(&v, &b) == -1)
			return 0;
		while (*v == ' ')
			v++;
		if (*v != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (http_parse_off(&v, &a) == -1 || *v++ != '-')
		return 0;
	if (*v >= '0' && *v <= '9') {
		if (http_parse_off(&v, &b) == -1)
			return 0;
		if (b < a)
			return 0;	/* invalid: ignore the header */
	} else
		b = INT64_MAX;
	while (*v == ' ')
		v++;
	if (*v != '\0')
		return 0;		/* several ranges: send it all */
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}
