/*
 * http.h: HTTP/1.x request parsing (RFC 9110, RFC 9112), request-target
 * normalisation, the chunked body decoder and response helpers.  Nothing
 * here touches a socket: the parsers work on bytes, which keeps them easy
 * to unit-test and to fuzz.
 */
#ifndef DCGI_HTTP_H
#define DCGI_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HTTP_MAX_HEADERS	256	/* hard cap; MaxHeaders is below it */

enum http_method {
	HTTP_OTHER,
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_PATCH,
	HTTP_CONNECT,
	HTTP_TRACE
};

struct http_header {
	const char	*name;		/* NUL-terminated, as sent */
	const char	*value;		/* NUL-terminated, OWS trimmed */
};

struct http_limits {
	size_t		 max_request_line;
	size_t		 max_header_size;
	int		 max_headers;
};

/* Everything points into the buffer given to http_parse_request(). */
struct http_request {
	enum http_method meth;
	const char	*method;
	const char	*target;	/* raw request-target, as sent */
	const char	*rawpath;	/* target's path, still encoded */
	const char	*query;		/* after '?', or NULL */
	char		*path;		/* decoded, normalised (own buffer) */
	int		 version;	/* 10 or 11 */
	const char	*host;		/* Host, or the absolute-form authority */
	int64_t		 content_length;	/* -1: none */
	int		 chunked;
	int		 keep_alive;
	int		 expect_continue;
	struct http_header headers[HTTP_MAX_HEADERS];
	int		 nheaders;
};

/*
 * Find the end of the request head in buf[0..len).  `*scan` remembers how
 * far earlier calls looked, so bytes are examined once however the head
 * arrives.  Returns the head's length (terminator included), 0 when more is
 * needed, or an HTTP status (414, 431) when the limits are exceeded without
 * reaching the end, as a negative number.
 */
long		 http_head_end(const char *buf, size_t len, size_t *scan,
		    const struct http_limits *);

/*
 * Parse a complete head of `len` bytes (as found by http_head_end()) in
 * place: it writes NULs into buf.  `pathbuf` (pathlen bytes) receives the
 * normalised path.  Returns 0, or the HTTP status to answer with (400, 414,
 * 417, 431, 501, 505).
 */
int		 http_parse_request(struct http_request *, char *buf, size_t len,
		    char *pathbuf, size_t pathlen, const struct http_limits *);

/* The first value of header `name` (case-insensitive), or NULL. */
const char	*http_header_get(const struct http_request *, const char *name);

/*
 * Percent-decode and remove dot segments (RFC 3986 §5.2.4), collapsing
 * repeated slashes.  The result starts with '/'.  -1 on a malformed escape,
 * an encoded NUL, a path that climbs above the root, or no room.
 */
int		 http_path_normalize(const char *in, size_t inlen, char *out,
		    size_t outlen);

/* RFC 9112 §7.1: chunked transfer coding, decoded in place. */
struct http_chunked {
	int		 state;
	uint64_t	 left;		/* bytes left in the current chunk */
	size_t		 linelen;	/* size/extension/trailer line so far */
	size_t		 trailers;	/* trailer bytes so far */
};
/*
 * Decode buf[0..len): the data lands at the front of buf (*outlen bytes),
 * *used input bytes were consumed.  Returns 1 when the last chunk and the
 * trailers have been read, 0 when more input is needed, -1 when malformed.
 */
int		 http_chunked_decode(struct http_chunked *, char *buf, size_t len,
		    size_t *used, size_t *outlen);

const char	*http_status_text(int status);
/* IMF-fixdate (RFC 9110 §5.6.7), 29 characters plus NUL. */
void		 http_date(time_t, char buf[30]);
/*
 * The digits of v at p, without a NUL; return the end.  The hex form is
 * zero-padded to `width` digits.  For response heads: printf parses its
 * format on every call.
 */
char		*http_fmt_u64(char *p, uint64_t v);
char		*http_fmt_hex(char *p, uint64_t v, int width);
/* Parse an IMF-fixdate; -1 when it is not one. */
time_t		 http_date_parse(const char *);

/*
 * RFC 9110 §14: a single "bytes=A-B", "bytes=A-" or "bytes=-N" range
 * against a representation of `size` bytes.  Returns 1 with [*first,*last]
 * set, 0 when the header is to be ignored (malformed or several ranges:
 * serve the whole file), -1 when unsatisfiable (416).
 */
int		 http_range_parse(const char *, int64_t size, int64_t *first,
		    int64_t *last);

#endif
