/*
 * cgi.h: CGI/1.1 (RFC 3875) without any Docker in it: the meta-variables
 * for a request, and the parser for the header block a CGI program writes.
 */
#ifndef DCGI_CGI_H
#define DCGI_CGI_H

#include <stddef.h>
#include <stdint.h>

struct http_request;

/* What the environment is made from, besides the request itself. */
struct cgi_context {
	const char	*script_name;	/* the route prefix ("" for "/") */
	const char	*server_name;	/* ServerName, or NULL: from Host */
	const char	*remote_addr;
	unsigned	 remote_port;
	unsigned	 server_port;
	int		 https;
	const char	*remote_user;	/* Basic authentication passed: the
					   user (AUTH_TYPE=Basic); NULL */
	int64_t		 content_length;	/* -1: no body */
	const char	*server_software;
	char		**extra;	/* route Env, "K=V", NULL-terminated */
};

/*
 * Build the environment: a NULL-terminated array of "K=V" strings in one
 * allocation (free() it).  NULL when out of memory.
 */
char		**cgi_env(const struct http_request *, const struct cgi_context *);
/*
 * The engine's copy of a server process's environment: only the names
 * cgi_env() sets (CGI variables, HTTP_*), then `extra` (route Env) as
 * cgi_env() adds it.  One allocation; NULL when out of memory.
 */
char		**cgi_env_confine(char *const *env, char *const *extra);

#define CGI_MAX_HEADERS		64

/* The parsed header block of a CGI response (RFC 3875 §6). */
struct cgi_response {
	int		 status;	/* from Status:, or 0 */
	const char	*content_type;
	const char	*location;
	int64_t		 content_length;	/* -1: none */
	struct {
		const char *name;
		const char *value;
	}		 headers[CGI_MAX_HEADERS];	/* passed through */
	int		 nheaders;
};

enum cgi_kind {
	CGI_DOCUMENT,		/* a body with a Content-Type */
	CGI_LOCAL_REDIRECT,	/* Location: /path: served internally */
	CGI_CLIENT_REDIRECT	/* Location: scheme://...: 302 (or Status) */
};

/*
 * Find the end of the header block in buf[0..len): returns its length
 * (the empty line included), 0 when more is needed, -1 when `max` bytes
 * have gone by without one.
 */
long		 cgi_head_end(const char *buf, size_t len, size_t max);

/*
 * Parse a complete header block in place (NULs are written into buf).
 * Returns the kind of response, or -1 with *why set to a reason for the
 * log: a line that is not a header, a bad Status, CR or control bytes in a
 * value, no Content-Type, Location or Status.
 */
int		 cgi_parse(char *buf, size_t len, struct cgi_response *,
		    const char **why);

#endif
