/*
 * cgi.c: CGI/1.1 meta-variables and response header blocks (RFC 3875).
 * Pure functions on strings; the container plumbing is in dcgi.c.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cgi.h"
#include "http.h"

struct cgi_var {
	char		 name[128];
	const char	*value;		/* NULL: joined value in `own` */
	char		*own;
};

struct cgi_vars {
	struct cgi_var	*v;
	size_t		 n, cap;
	int		 oom;
};

static struct cgi_var *
cgi_add(struct cgi_vars *vs, const char *name, const char *value)
{
	struct cgi_var *v;

	if (vs->oom)
		return NULL;
	if (vs->n == vs->cap) {
		size_t nc = vs->cap ? vs->cap * 2 : 64;
		struct cgi_var *nv = realloc(vs->v, nc * sizeof(*nv));
		if (nv == NULL) {
			vs->oom = 1;
			return NULL;
		}
		vs->v = nv;
		vs->cap = nc;
	}
	v = &vs->v[vs->n++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->value = value;
	v->own = NULL;
	return v;
}

static struct cgi_var *
cgi_find(struct cgi_vars *vs, const char *name)
{
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].name, name) == 0)
			return &vs->v[i];
	return NULL;
}

/* A value that lives as long as the call: copied into `own`. */
static void
cgi_addf(struct cgi_vars *vs, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cgi_addf(struct cgi_vars *vs, const char *name, const char *fmt, ...)
{
	struct cgi_var *v;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1) {
		va_end(ap);
		vs->oom = 1;
		return;
	}
	va_end(ap);
	if ((v = cgi_add(vs, name, NULL)) == NULL) {
		free(s);
		return;
	}
	v->own = s;
}

/*
 * RFC 3875 §4.1.18: a request header becomes HTTP_NAME, upper case, '-'
 * as '_'.  Names holding '_' are dropped: "X_A" and "X-A" would become
 * the same variable and a client could forge one with the other.
 */
static int
cgi_header_var(const char *h, char *out, size_t outlen)
{
	size_t i, n = strlen(h);

	if (n + 6 > outlen)
		return -1;
	memcpy(out, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c == '_')
			return -1;
		out[5 + i] = c == '-' ? '_' : (char)toupper(c);
	}
	out[5 + n] = '\0';
	return 0;
}

/* SERVER_NAME: the Host without its port (and without IPv6 brackets). */
static void
cgi_server_name(const char *host, char *out, size_t outlen)
{
	const char *end;

	if (host == NULL || *host == '\0') {
		snprintf(out, outlen, "localhost");
		return;
	}
	if (host[0] == '[') {
		end = strchr(host, ']');
		snprintf(out, outlen, "%.*s", end ? (int)(end - host - 1) : 0,
		    host + 1);
		return;
	}
	end = strchr(host, ':');
	snprintf(out, outlen, "%.*s", end ? (int)(end - host) : (int)strlen(host),
	    host);
}

/* Route Env last, and never over a CGI variable. */
static void
cgi_add_extra(struct cgi_vars *vs, char *const *extra)
{
	for (char *const *e = extra; e != NULL && *e != NULL; e++) {
		char name[128];
		const char *eq = strchr(*e, '=');

		if (eq == NULL || (size_t)(eq - *e) >= sizeof(name))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
		if (cgi_find(vs, name) == NULL)
			cgi_add(vs, name, eq + 1);
	}
}

/* The variables as "NAME=value" strings in one allocation; frees vs. */
static char **
cgi_pack(struct cgi_vars *vs)
{
	size_t total = 0, i;
	char **env = NULL, *p;

	if (vs->oom)
		goto done;
	for (i = 0; i < vs->n; i++) {
		const char *val = vs->v[i].own ? vs->v[i].own : vs->v[i].value;
		total += strlen(vs->v[i].name) + 1 + strlen(val ? val : "") + 1;
	}
	if ((env = malloc((vs->n + 1) * sizeof(char *) + total)) == NULL)
		goto done;
	p = (char *)(env + vs->n + 1);
	for (i = 0; i < vs->n; i++) {
		const char *val = vs->v[i].own ? vs->v[i].own : vs->v[i].value;
		env[i] = p;
		p += sprintf(p, "%s=%s", vs->v[i].name, val ? val : "") + 1;
	}
	env[vs->n] = NULL;
done:
	for (i = 0; i < vs->n; i++)
		free(vs->v[i].own);
	free(vs->v);
	return env;
}

char **
cgi_env(const struct http_request *r, const struct cgi_context *cx)
{
	struct cgi_vars vs = { NULL, 0, 0, 0 };
	const char *path = r->path ? r->path : "";
	size_t plen = strlen(cx->script_name);
	char sname[256];
	const char *ctype;

	cgi_add(&vs, "GATEWAY_INTERFACE", "CGI/1.1");
	cgi_add(&vs, "SERVER_SOFTWARE", cx->server_software);
	cgi_server_name(cx->server_name ? cx->server_name : r->host, sname,
	    sizeof(sname));
	cgi_add(&vs, "SERVER_NAME", sname);
	cgi_addf(&vs, "SERVER_PORT", "%u", cx->server_port);
	cgi_add(&vs, "SERVER_PROTOCOL", r->version == 10 ? "HTTP/1.0" :
	    "HTTP/1.1");
	cgi_add(&vs, "REQUEST_METHOD", r->method);
	/* The raw request-target minus any absolute-form prefix. */
	cgi_add(&vs, "REQUEST_URI", r->rawpath ? r->rawpath : r->target);
	cgi_add(&vs, "SCRIPT_NAME", cx->script_name);
	/*
	 * RFC 3875 §4.1.5: PATH_INFO is the rest of the path.  Set to ""
	 * when there is none (the grammar allows it; Go's cgi host does the
	 * same, and scripts read it without checking that it is there).
	 */
	cgi_add(&vs, "PATH_INFO", strlen(path) > plen &&
	    strncmp(path, cx->script_name, plen) == 0 ? path + plen : "");
	/* §4.1.7: QUERY_STRING is always set, empty without a query. */
	cgi_add(&vs, "QUERY_STRING", r->query ? r->query : "");
	cgi_add(&vs, "REMOTE_ADDR", cx->remote_addr);
	/* §4.1.9: no reverse lookups; the address stands in for the name. */
	cgi_add(&vs, "REMOTE_HOST", cx->remote_addr);
	cgi_addf(&vs, "REMOTE_PORT", "%u", cx->remote_port);
	if (cx->content_length >= 0)
		cgi_addf(&vs, "CONTENT_LENGTH", "%lld",
		    (long long)cx->content_length);
	if ((ctype = http_header_get(r, "Content-Type")) != NULL)
		cgi_add(&vs, "CONTENT_TYPE", ctype);
	if (cx->https)
		cgi_add(&vs, "HTTPS", "on");
	/* §4.1.1, §4.1.11: the server checked the credentials. */
	if (cx->remote_user != NULL) {
		cgi_add(&vs, "AUTH_TYPE", "Basic");
		cgi_add(&vs, "REMOTE_USER", cx->remote_user);
	}

	for (int h = 0; h < r->nheaders; h++) {
		const char *name = r->headers[h].name, *val = r->headers[h].value;
		struct cgi_var *v;
		char var[128];

		/* The body arrives de-chunked, with CONTENT_LENGTH. */
		if (strcasecmp(name, "Content-Length") == 0 ||
		    strcasecmp(name, "Content-Type") == 0 ||
		    strcasecmp(name, "Transfer-Encoding") == 0 ||
		    /* httpoxy: HTTP_PROXY would set a client's proxy. */
		    strcasecmp(name, "Proxy") == 0 ||
		    /* Credentials the server checked are its own: a
		     * function sees REMOTE_USER, never the password. */
		    (cx->remote_user != NULL &&
		    strcasecmp(name, "Authorization") == 0) ||
		    cgi_header_var(name, var, sizeof(var)) == -1)
			continue;
		if ((v = cgi_find(&vs, var)) == NULL) {
			cgi_add(&vs, var, val);
			continue;
		}
		/* A repeated field: Cookie joins with "; ", others ", ". */
		{
			const char *sep = strcmp(var, "HTTP_COOKIE") == 0 ? "; " :
			    ", ";
			const char *old = v->own ? v->own : v->value;
			char *s;

			if (asprintf(&s, "%s%s%s", old, sep, val) == -1) {
				vs.oom = 1;
				break;
			}
			free(v->own);
			v->own = s;
			v->value = NULL;
		}
	}
	cgi_add_extra(&vs, cx->extra);
	return cgi_pack(&vs);
}

/*
 * What the engine process takes from a server process's environment
 * (privilege separation: it trusts no name a server sends): the variables
 * cgi_env() sets, by name, and HTTP_ ones as cgi_header_var() makes them;
 * then the route's Env from its own configuration, as cgi_env() adds it.
 * A server cannot set PATH, LD_PRELOAD, BASH_ENV or a route's Env.
 */
static int
cgi_server_var(const char *name, size_t n)
{
	static const char *const names[] = { "GATEWAY_INTERFACE",
	    "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
	    "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
	    "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT",
	    "CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS", "AUTH_TYPE",
	    "REMOTE_USER" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
			return 1;
	if (n <= 5 || n >= sizeof(((struct cgi_var *)0)->name) ||
	    memcmp(name, "HTTP_", 5) != 0 ||
	    (n == 10 && memcmp(name, "HTTP_PROXY", 10) == 0))
		return 0;
	for (size_t i = 5; i < n; i++)
		if (islower((unsigned char)name[i]) ||
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_!#$%&'*+.^`|~",
		    name[i]) == NULL)
			return 0;
	return 1;
}

char **
cgi_env_confine(char *const *env, char *const *extra)
{
	struct cgi_vars vs = { NULL, 0, 0, 0 };

	for (char *const *e = env; e != NULL && *e != NULL; e++) {
		const char *eq = strchr(*e, '=');
		char name[128];

		if (eq == NULL || !cgi_server_var(*e, (size_t)(eq - *e)))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
		if (cgi_find(&vs, name) == NULL)
			cgi_add(&vs, name, eq + 1);
	}
	cgi_add_extra(&vs, extra);
	return cgi_pack(&vs);
}

long
cgi_head_end(const char *buf, size_t len, size_t max)
{
	size_t i = 0;

	/* An empty line at once: a header block with no fields. */
	if (len >= 1 && buf[0] == '\n')
		return 1;
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 2;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		if (nl == NULL)
			break;
		i = (size_t)(nl - buf) + 1;
		if (i > max)
			return -1;
		if (i < len && buf[i] == '\n')
			i += 1;
		else if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
			i += 2;
		else
			continue;
		return i <= max ? (long)i : -1;
	}
	return len >= max ? -1 : 0;
}

static int
cgi_istoken(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
			return 0;
	}
	return 1;
}

/* Fields the server owns or that only make sense hop by hop. */
static int
cgi_dropped(const char *name)
{
	static const char *const drop[] = {
		"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade",
		"Proxy-Connection", "TE", "Trailer", "Server", "Date",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strcasecmp(name, drop[i]) == 0)
			return 1;
	return 0;
}

int
cgi_parse(char *buf, size_t len, struct cgi_response *cr, const char **why)
{
	char *p = buf, *end = buf + len;

	memset(cr, 0, sizeof(*cr));
	cr->content_length = -1;
	while (p < end) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v;
		size_t vlen;

		if (eol == NULL)
			break;
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		*eol = '\0';
		if (*p == '\0')
			break;		/* the empty line */
		if ((colon = strchr(p, ':')) == NULL ||
		    !cgi_istoken(p, (size_t)(colon - p))) {
			*why = "a line in the header block is not a header field";
			return -1;
		}
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		vlen = strlen(v);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			v[--vlen] = '\0';
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)v[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "a header value holds CR, LF or a control "
				    "byte";
				return -1;
			}
		}
		if (strcasecmp(p, "Status") == 0) {
			/* RFC 3875 §6.3.3: Status: 3DIGIT SP reason-phrase */
			if (cr->status != 0 || vlen < 3 ||
			    !isdigit((unsigned char)v[0]) ||
			    !isdigit((unsigned char)v[1]) ||
			    !isdigit((unsigned char)v[2]) ||
			    (v[3] != '\0' && v[3] != ' ')) {
				*why = "bad Status header";
				return -1;
			}
			cr->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 +
			    (v[2] - '0');
			if (cr->status < 200 || cr->status > 599) {
				*why = "Status out of range (200-599)";
				return -1;
			}
		} else if (strcasecmp(p, "Content-Type") == 0) {
			if (cr->content_type != NULL) {
				*why = "two Content-Type headers";
				return -1;
			}
			cr->content_type = v;
		} else if (strcasecmp(p, "Location") == 0) {
			if (cr->location != NULL) {
				*why = "two Location headers";
				return -1;
			}
			cr->location = v;
		} else if (strcasecmp(p, "Content-Length") == 0) {
			char *e;
			long long n;

			if (!isdigit((unsigned char)*v) ||
			    (n = strtoll(v, &e, 10)) < 0 || *e != '\0' ||
			    (cr->content_length != -1 && cr->content_length != n)) {
				*why = "bad Content-Length header";
				return -1;
			}
			cr->content_length = n;
		} else if (!cgi_dropped(p)) {
			if (cr->nheaders == CGI_MAX_HEADERS) {
				*why = "too many header fields";
				return -1;
			}
			cr->headers[cr->nheaders].name = p;
			cr->headers[cr->nheaders].value = v;
			cr->nheaders++;
		}
		p = eol + 1;
	}

	if (cr->location != NULL) {
		const char *l = cr->location;

		/* RFC 3875 §6.2.2: a local path is fetched by the server. */
		if (l[0] == '/' && l[1] != '/' && cr->status == 0 &&
		    cr->content_type == NULL)
			return CGI_LOCAL_REDIRECT;
		/* §6.2.3: an absolute URI is the client's to follow. */
		if (isalpha((unsigned char)l[0])) {
			const char *c = l;
			while (isalnum((unsigned char)*c) || *c == '+' ||
			    *c == '-' || *c == '.')
				c++;
			if (*c == ':')
				return CGI_CLIENT_REDIRECT;
		}
		if (l[0] == '/')
			return CGI_CLIENT_REDIRECT;
		*why = "Location is neither a local path nor an absolute URI";
		return -1;
	}
	if (cr->content_type == NULL && cr->status == 0) {
		*why = "no Content-Type, Location or Status header";
		return -1;
	}
	return CGI_DOCUMENT;
}
