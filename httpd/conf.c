/*
 * conf.c: httpd.conf, from text to a struct conf.
 *
 * A small hand-written lexer (physical lines joined by a trailing
 * backslash, '#' comments, double-quoted words) feeds a table of
 * directives; each handler checks its arguments and fills in the conf.
 * Every error is reported as "FILE:LINE: message (in: the line)" and
 * parsing goes on, so that `dcgid -t` shows them all at once.  What needs
 * the whole configuration (a tls listener needs a certificate, a <Queue>
 * needs Redis, no Mount may reach the Docker socket that DockerHost names)
 * is checked once everything has been read.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "secret.h"

#define CONF_MAX_FILE	(1024 * 1024)	/* bytes in one config file */
#define CONF_MAX_LINE	(64 * 1024)	/* bytes in one logical line */
#define CONF_MAX_ARGS	1024		/* words on one line */
#define CONF_MAX_DEPTH	16		/* nested Includes */
#define CONF_MAX_GLOB	1024		/* files one Include pattern may name */
#define CONF_MAX_ECHO	160		/* bytes of the line quoted in errors */
#define CONF_MAX_DIRS	64		/* entries in the directive table */

#define KB		((int64_t)1024)
#define MB		(1024 * KB)
#define GB		(1024 * MB)
#define T_SEC		((int64_t)1000)
#define T_MIN		(60 * T_SEC)
#define T_HOUR		(60 * T_MIN)

#define SUN_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path))

/* The Docker socket's usual places; a container must never see them. */
static const char *const conf_docker_sockets[] = {
	"/var/run/docker.sock",
	"/run/docker.sock",
};
#define NDOCKER_SOCKETS	\
	(sizeof(conf_docker_sockets) / sizeof(conf_docker_sockets[0]))

/* Where a directive may appear. */
#define W_TOP		0x1
#define W_ROUTE		0x2
#define W_QUEUE		0x4
#define W_LOCATION	0x8
#define W_RUN		(W_ROUTE | W_QUEUE)
#define W_ACCESS	(W_ROUTE | W_LOCATION)

enum conf_section {
	SEC_TOP,
	SEC_ROUTE,
	SEC_QUEUE,
	SEC_LOCATION,
	SEC_SKIP		/* inside an unknown section: ignore it */
};

enum num_kind {
	N_COUNT,
	N_SIZE,
	N_DURATION
};

enum num_base {
	B_CONF,
	B_RUN,
	B_ROUTE,
	B_QUEUE
};

enum num_type {
	F_INT,
	F_SIZE,
	F_INT64
};

struct seen {
	const char	*file;
	int		 line;
};

/* One file being read: its current logical line and its words. */
struct lexer {
	char		 line[CONF_MAX_LINE + 1];
	char		 words[CONF_MAX_LINE + 1];
	char		*argv[CONF_MAX_ARGS + 1];
};

struct parser {
	struct conf	*conf;
	conf_errfn	 errfn;
	void		*arg;
	int		 nerrors;
	int		 oom;

	/* Where we are, for messages. */
	const char	*file;		/* display name, owned by conf->files */
	int		 line;		/* first physical line of this one */
	const char	*text;		/* the line, trimmed */

	/* Real paths of the files being read, to catch Include loops. */
	char		*open[CONF_MAX_DEPTH + 1];
	int		 depth;

	/* The section we are in. */
	enum conf_section sec;
	size_t		 sec_at;	/* index in conf->routes or ->queues */
	const char	*sec_file;
	int		 sec_line;
	char		*sec_text;

	/* Directives that may be given once: where they were. */
	struct seen	 seen_top[CONF_MAX_DIRS];
	struct seen	 seen_sec[CONF_MAX_DIRS];
};

struct directive {
	const char	*name;
	unsigned	 where;
	int		 minargs;
	int		 maxargs;	/* -1: no limit */
	int		 repeat;	/* may be given more than once */
	int		(*fn)(struct parser *, const struct directive *, int,
			    char **);
	/* For dir_path, dir_flag and dir_number. */
	size_t		 off;
	enum num_kind	 kind;
	enum num_base	 base;
	enum num_type	 type;
	int64_t		 min;
	int64_t		 max;
	const char	*range;
};

struct unit {
	const char	*suffix;
	int64_t		 mult;
};

static const struct unit duration_units[] = {
	{ "", T_SEC },
	{ "ms", 1 },
	{ "s", T_SEC },
	{ "m", T_MIN },
	{ "h", T_HOUR },
	{ NULL, 0 }
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "k", KB },
	{ "m", MB },
	{ "g", GB },
	{ NULL, 0 }
};

/* hostport_parse() flags */
#define HP_BARE_PORT	0x1	/* "8080" alone is a port (Listen) */
#define HP_NEED_HOST	0x2
#define HP_NEED_PORT	0x4
#define HP_WILDCARD	0x8	/* "*" is a host (Listen) */

struct hostport {
	char		 host[256];	/* without brackets; "" when absent */
	int		 port;		/* 0 when absent */
};

static void	 conf_parse_file(struct parser *, const char *, const char *);

/*
 * Messages.
 */

static void
conf_vreport(struct parser *p, const char *file, int line, const char *echo,
    const char *fmt, va_list ap)
{
	char	 msg[1024];
	char	 out[PATH_MAX + sizeof(msg) + CONF_MAX_ECHO + 64];
	size_t	 elen = 0, i;
	int	 n, etrunc = 0;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		(void)snprintf(msg, sizeof(msg), "(unprintable message)");
	else if ((size_t)n >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if (echo != NULL && (elen = strlen(echo)) > CONF_MAX_ECHO) {
		elen = CONF_MAX_ECHO;
		etrunc = 1;
	}
	n = snprintf(out, sizeof(out), "%s:%d: %s%s%.*s%s%s",
	    file != NULL ? file : "(none)", line, msg,
	    echo != NULL ? " (in: " : "", (int)elen,
	    echo != NULL ? echo : "", etrunc ? "..." : "",
	    echo != NULL ? ")" : "");
	if (n < 0)
		(void)snprintf(out, sizeof(out), "(unprintable message)");
	else if ((size_t)n >= sizeof(out))
		memcpy(out + sizeof(out) - 4, "...", 4);

	/* A config file is text; keep its bytes from steering a terminal. */
	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] == '\t')
			out[i] = ' ';
		else if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
	}
	p->nerrors++;
	if (p->errfn != NULL)
		p->errfn(p->arg, out);
}

static void	 conf_report(struct parser *, const char *, int, const char *,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
static void	 perr(struct parser *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
conf_report(struct parser *p, const char *file, int line, const char *echo,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_vreport(p, file, line, echo, fmt, ap);
	va_end(ap);
}

/* An error about the line being parsed. */
static void
perr(struct parser *p, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	conf_vreport(p, p->file, p->line, p->text, fmt, ap);
	va_end(ap);
}

/* Reported once; the parse stops soon after, as nothing else would fit. */
static void
conf_oom(struct parser *p)
{
	p->nerrors++;
	if (!p->oom && p->errfn != NULL)
		p->errfn(p->arg, "out of memory");
	p->oom = 1;
}

/*
 * Memory.
 */

static char *
conf_strdup(struct parser *p, const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		conf_oom(p);
	return d;
}

/* Grow an array by one zeroed element; NULL (and `arr` intact) on failure. */
static void *
conf_append(struct parser *p, void *arr, size_t n, size_t size)
{
	char	*a = NULL;

	if (n >= SIZE_MAX / size - 1 ||
	    (a = reallocarray(arr, n + 1, size)) == NULL) {
		conf_oom(p);
		goto done;
	}
	memset(a + n * size, 0, size);
done:
	return a;
}

static void
strv_free(char **v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/*
 * Small predicates.
 */

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c);
}

/* `path` is `dir` or below it; both are clean absolute paths. */
static int
path_within(const char *dir, const char *path)
{
	size_t	 n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(dir, path, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

/* A path segment is exactly "..". */
static int
has_dotdot(const char *s)
{
	const char	*q;

	for (q = s; (q = strstr(q, "..")) != NULL; q += 2)
		if ((q == s || q[-1] == '/') && (q[2] == '\0' || q[2] == '/'))
			return 1;
	return 0;
}

/*
 * Collapse "//" and "/./" and drop a trailing '/' in an absolute path,
 * in place.  ".." stays: only the file system knows where it leads.
 */
static void
path_clean(char *s)
{
	char	*r = s, *w = s;

	while (*r != '\0') {
		if (*r != '/') {
			*w++ = *r++;
			continue;
		}
		/* r is at a '/': skip the ones and the "." that follow. */
		while (*r == '/') {
			if (r[1] == '/')
				r++;
			else if (r[1] == '.' && (r[2] == '/' || r[2] == '\0'))
				r += 2;
			else
				break;
		}
		if (*r == '\0')
			break;
		*w++ = *r++;
	}
	if (w > s + 1 && w[-1] == '/')
		w--;
	if (w == s)
		*w++ = '/';
	*w = '\0';
}

/* `s` made absolute against `root`, cleaned; NULL with errno on failure. */
static char *
path_join(const char *root, const char *s)
{
	char	*path = NULL;
	size_t	 rlen = 0, slen = strlen(s);

	if (s[0] != '/')
		rlen = strlen(root);
	if (rlen + 1 + slen >= PATH_MAX) {
		errno = ENAMETOOLONG;
		goto done;
	}
	if ((path = malloc(rlen + 1 + slen + 1)) == NULL)
		goto done;
	if (s[0] == '/')
		memcpy(path, s, slen + 1);
	else {
		memcpy(path, root, rlen);
		path[rlen] = '/';
		memcpy(path + rlen + 1, s, slen + 1);
	}
	path_clean(path);
done:
	return path;
}

/* A path from the config, resolved against the server root. */
static char *
conf_path(struct parser *p, const char *dname, const char *s)
{
	char	*path = NULL;

	if (*s == '\0') {
		perr(p, "%s: empty path", dname);
		goto done;
	}
	if ((path = path_join(p->conf->server_root, s)) == NULL) {
		if (errno == ENAMETOOLONG)
			perr(p, "%s: path too long (at most %d bytes)", dname,
			    PATH_MAX - 1);
		else
			conf_oom(p);
	}
done:
	return path;
}

/*
 * Numbers and units.
 */

/* 0, -1 (not such a value), or -2 (a value, but it overflows). */
static int
unit_parse(const char *s, const struct unit *u, int64_t *out)
{
	char		*end;
	long long	 v;
	int		 rc = -1;

	/* strtoll alone would take blanks, signs and "0x". */
	if (s == NULL || !is_digit((unsigned char)*s))
		goto done;
	errno = 0;
	v = strtoll(s, &end, 10);
	for (; u->suffix != NULL; u++)
		if (strcasecmp(end, u->suffix) == 0)
			break;
	if (u->suffix == NULL)
		goto done;
	if (errno == ERANGE || v > INT64_MAX / u->mult) {
		rc = -2;
		goto done;
	}
	*out = (int64_t)v * u->mult;
	rc = 0;
done:
	return rc;
}

int
conf_parse_duration(const char *s, int64_t *ms)
{
	return unit_parse(s, duration_units, ms) == 0 ? 0 : -1;
}

int
conf_parse_size(const char *s, int64_t *bytes)
{
	return unit_parse(s, size_units, bytes) == 0 ? 0 : -1;
}

static int
count_parse(const char *s, int64_t *out)
{
	static const struct unit none[] = { { "", 1 }, { NULL, 0 } };

	return unit_parse(s, none, out);
}

/*
 * "N" or "N.F" CPUs, in billionths (Docker's NanoCpus); no locale,
 * exponents, signs or "inf".  0, -1 (not a number), -2 (far too big).
 */
static int
cpus_parse(const char *s, int64_t *nano)
{
	int64_t	 ip = 0, frac = 0;
	int	 nd = 0, rc = -1;

	if (!is_digit((unsigned char)*s))
		goto done;
	for (; is_digit((unsigned char)*s); s++) {
		if (ip > 1000000) {
			rc = -2;
			goto done;
		}
		ip = ip * 10 + (*s - '0');
	}
	if (*s == '.') {
		s++;
		if (!is_digit((unsigned char)*s))
			goto done;
		for (; is_digit((unsigned char)*s); s++, nd++) {
			if (nd == 9)
				goto done;
			frac = frac * 10 + (*s - '0');
		}
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (*s != '\0')
		goto done;
	*nano = ip * 1000000000 + frac;
	rc = 0;
done:
	return rc;
}

/*
 * Names and addresses.
 */

/* RFC 1123 host name: labels of letters, digits and '-'. */
static int
hostname_valid(const char *s, size_t len)
{
	size_t	 i, label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) ||
		    (c == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0 && s[len - 1] != '-';
}

/*
 * "[v6]:port", "host:port", "port" or "host" (as flags allow); the host
 * is stored without brackets, IP addresses in their canonical form.
 * Returns NULL, or why the text is no such thing.
 */
static const char *
hostport_parse(const char *s, int flags, struct hostport *hp)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;
	const char	*host = NULL, *port = NULL, *colon, *rb, *why = NULL;
	char		 buf[256];
	size_t		 hlen = 0;
	int64_t		 v;

	memset(hp, 0, sizeof(*hp));
	if (s[0] == '[') {
		if ((rb = strchr(s, ']')) == NULL) {
			why = "missing ']' after the IPv6 address";
			goto done;
		}
		host = s + 1;
		hlen = rb - host;
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1] != '\0') {
			why = "junk after ']'";
			goto done;
		}
		if (hlen >= sizeof(buf)) {
			why = "bad IPv6 address";
			goto done;
		}
		memcpy(buf, host, hlen);
		buf[hlen] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1 ||
		    inet_ntop(AF_INET6, &a6, hp->host, sizeof(hp->host)) ==
		    NULL) {
			why = "bad IPv6 address";
			goto done;
		}
	} else {
		if ((colon = strchr(s, ':')) != NULL) {
			if (strchr(colon + 1, ':') != NULL) {
				why = "an IPv6 address goes in brackets, "
				    "like [::1]:8080";
				goto done;
			}
			host = s;
			hlen = colon - s;
			port = colon + 1;
		} else if (flags & HP_BARE_PORT)
			port = s;
		else {
			host = s;
			hlen = strlen(s);
		}
		if (host != NULL && hlen == 0) {
			why = "empty host";
			goto done;
		}
		if (host != NULL) {
			if (hlen >= sizeof(buf)) {
				why = "host name too long";
				goto done;
			}
			memcpy(buf, host, hlen);
			buf[hlen] = '\0';
		}
		if (host == NULL) {
			/* A port alone: nothing to check here. */
		} else if ((flags & HP_WILDCARD) && strcmp(buf, "*") == 0)
			memcpy(hp->host, "*", 2);
		else if (strspn(buf, "0123456789.") == hlen) {
			if (inet_pton(AF_INET, buf, &a4) != 1 ||
			    inet_ntop(AF_INET, &a4, hp->host,
			    sizeof(hp->host)) == NULL) {
				why = "bad IPv4 address";
				goto done;
			}
		} else if (hostname_valid(buf, hlen))
			memcpy(hp->host, buf, hlen + 1);
		else {
			why = "bad host name";
			goto done;
		}
	}
	if (port != NULL) {
		if (count_parse(port, &v) != 0 || v < 1 || v > 65535) {
			why = "bad port (want 1 to 65535)";
			goto done;
		}
		hp->port = (int)v;
	}
	if (port == NULL && (flags & HP_NEED_PORT))
		why = "missing port";
	else if (host == NULL && (flags & HP_NEED_HOST))
		why = "missing host";
done:
	return why;
}

/* "unix:" then an absolute path that fits in a sockaddr_un. */
static const char *
socket_path_check(const char *path)
{
	if (path[0] != '/')
		return "the socket path must be absolute";
	if (strlen(path) >= SUN_PATH_MAX)
		return "the socket path is too long";
	return NULL;
}

/*
 * An image reference, roughly as Docker's reference grammar has it:
 * [registry[:port]/]path[:tag][@sha256:<64 hex>], path components in
 * lower case letters and digits with '.', '_' or '-' between them.
 */
static const char *
image_check(const char *s)
{
	const char	*at, *end, *slash, *colon, *comp, *q;
	size_t		 len = strlen(s), n, i;
	int		 first;

	if (len == 0 || len > 512)
		return "empty or too long";
	end = s + len;
	if ((at = strchr(s, '@')) != NULL) {
		if (strncmp(at + 1, "sha256:", 7) != 0 || strlen(at + 8) != 64)
			return "a digest is sha256: and 64 hex digits";
		for (q = at + 8; *q != '\0'; q++)
			if (!is_digit((unsigned char)*q) &&
			    !(*q >= 'a' && *q <= 'f'))
				return "a digest is sha256: and 64 hex digits";
		end = at;
	}
	slash = memrchr(s, '/', end - s);
	q = slash != NULL ? slash : s;
	if ((colon = memchr(q, ':', end - q)) != NULL) {
		/* The tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
		n = end - colon - 1;
		if (n == 0 || n > 128 || colon[1] == '.' || colon[1] == '-')
			return "bad tag";
		for (i = 1; i <= n; i++)
			if (!is_alpha((unsigned char)colon[i]) &&
			    !is_digit((unsigned char)colon[i]) &&
			    strchr("_.-", colon[i]) == NULL)
				return "bad tag";
		end = colon;
	}
	if (end == s)
		return "empty name";
	for (comp = s, first = 1; comp < end; first = 0) {
		if ((q = memchr(comp, '/', end - comp)) == NULL)
			q = end;
		n = q - comp;
		if (n == 0)
			return "empty path component";
		if (first && q != end && (memchr(comp, '.', n) != NULL ||
		    memchr(comp, ':', n) != NULL ||
		    (n == 9 && memcmp(comp, "localhost", 9) == 0))) {
			/* A registry: a host name, maybe with a port. */
			for (i = 0; i < n; i++)
				if (!is_alpha((unsigned char)comp[i]) &&
				    !is_digit((unsigned char)comp[i]) &&
				    strchr(".-:", comp[i]) == NULL)
					return "bad registry name";
		} else {
			if (!is_lower_alnum((unsigned char)comp[0]) ||
			    !is_lower_alnum((unsigned char)comp[n - 1]))
				return "name components start and end with a "
				    "lower case letter or digit";
			for (i = 0; i < n; i++)
				if (!is_lower_alnum((unsigned char)comp[i]) &&
				    strchr("._-", comp[i]) == NULL)
					return "names are lower case letters, "
					    "digits, '.', '_' and '-'";
		}
		comp = q + (q != end);
		if (q != end && comp == end)
			return "empty path component";
	}
	return NULL;
}

static const char *
prefix_check(const char *s)
{
	const char	*q;
	size_t		 len = strlen(s);

	if (s[0] != '/')
		return "a route prefix starts with '/'";
	if (len >= CONF_PREFIX_MAX)
		return "longer than 1024 characters";
	if (len == 1)
		return NULL;
	for (q = s; *q != '\0'; q++) {
		if (*q == '%')
			return "no '%': the prefix is matched against the "
			    "decoded path";
		if (*q == '?' || *q == '#')
			return "no '?' or '#': the prefix is a path";
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return "no blanks or control characters";
		if (q[0] == '/' && q[1] == '/')
			return "no empty segments (\"//\")";
	}
	if (has_dotdot(s) || strstr(s, "/./") != NULL ||
	    (len >= 2 && strcmp(s + len - 2, "/.") == 0))
		return "no \".\" or \"..\" segments: the prefix is matched "
		    "against the normalised path";
	return NULL;
}

static const char *
queue_name_check(const char *s)
{
	size_t	 len = strlen(s);

	if (len == 0 || len > 200)
		return "a queue name has 1 to 200 characters";
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_:.-") != len)
		return "a queue name is made of letters, digits, '_', ':', "
		    "'.' and '-'";
	return NULL;
}

/* A user or group: a number, or a name as useradd(8) takes it. */
static int
ident_valid(const char *s, size_t n)
{
	size_t	 i;
	int64_t	 v;
	char	 buf[24];

	if (n == 0)
		return 0;
	if (strspn(s, "0123456789") >= n) {
		if (n >= sizeof(buf))
			return 0;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return count_parse(buf, &v) == 0 && v <= UINT32_MAX - 1;
	}
	if (n > 32 || (!is_alpha((unsigned char)s[0]) && s[0] != '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!is_alpha((unsigned char)s[i]) &&
		    !is_digit((unsigned char)s[i]) &&
		    strchr("_.-", s[i]) == NULL)
			return 0;
	return 1;
}

/*
 * The current section.
 */

static struct conf_run *
cur_run(struct parser *p)
{
	if (p->sec == SEC_ROUTE)
		return &p->conf->routes[p->sec_at].run;
	return &p->conf->queues[p->sec_at].run;
}

static struct access *
cur_access(struct parser *p)
{
	if (p->sec == SEC_ROUTE)
		return &p->conf->routes[p->sec_at].access;
	return &p->conf->locations[p->sec_at].access;
}

static const char *
sec_kind(enum conf_section s)
{
	return s == SEC_ROUTE ? "Route" : s == SEC_QUEUE ? "Queue" :
	    "Location";
}

static const char *
sec_arg(struct parser *p)
{
	const char	*a;

	if (p->sec == SEC_ROUTE)
		a = p->conf->routes[p->sec_at].prefix;
	else if (p->sec == SEC_LOCATION)
		a = p->conf->locations[p->sec_at].prefix;
	else
		a = p->conf->queues[p->sec_at].name;
	return a != NULL ? a : "";
}

/*
 * Directive handlers: `argv` holds the `argc` arguments after the name,
 * their number already checked against the table.
 */

/* The structure a directive's field is in: d->base says which. */
static char *
dir_base(struct parser *p, const struct directive *d)
{
	switch (d->base) {
	case B_CONF:
		return (char *)p->conf;
	case B_RUN:
		return (char *)cur_run(p);
	case B_ROUTE:
		return (char *)&p->conf->routes[p->sec_at];
	default:
		return (char *)&p->conf->queues[p->sec_at];
	}
}

static int
dir_number(struct parser *p, const struct directive *d, int argc, char **argv)
{
	char		*base;
	int64_t		 v;
	int		 r, rc = -1;

	(void)argc;
	switch (d->kind) {
	case N_COUNT:
		if ((r = count_parse(argv[0], &v)) == -1) {
			perr(p, "%s: \"%s\" is not a number", d->name,
			    argv[0]);
			goto done;
		}
		break;
	case N_SIZE:
		if ((r = unit_parse(argv[0], size_units, &v)) == -1) {
			perr(p, "%s: \"%s\" is not a size (bytes, or a number "
			    "with k, m or g)", d->name, argv[0]);
			goto done;
		}
		break;
	default:
		if ((r = unit_parse(argv[0], duration_units, &v)) == -1) {
			perr(p, "%s: \"%s\" is not a duration (a number with "
			    "ms, s, m or h; plain is seconds)", d->name,
			    argv[0]);
			goto done;
		}
		break;
	}
	if (r == -2 || v < d->min || v > d->max) {
		perr(p, "%s: %s is out of range (%s)", d->name, argv[0],
		    d->range);
		goto done;
	}
	base = dir_base(p, d);
	switch (d->type) {
	case F_INT:
		*(int *)(void *)(base + d->off) = (int)v;
		break;
	case F_SIZE:
		*(size_t *)(void *)(base + d->off) = (size_t)v;
		break;
	default:
		*(int64_t *)(void *)(base + d->off) = v;
		break;
	}
	rc = 0;
done:
	return rc;
}

static int
dir_path(struct parser *p, const struct directive *d, int argc, char **argv)
{
	char	**slot = (char **)(void *)((char *)p->conf + d->off);
	char	 *path;
	int	  rc = -1;

	(void)argc;
	if ((path = conf_path(p, d->name, argv[0])) == NULL)
		goto done;
	free(*slot);
	*slot = path;
	rc = 0;
done:
	return rc;
}

static int
dir_listen(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct conf		*c = p->conf;
	struct conf_listen	*l, *o;
	struct hostport		 hp;
	const char		*why;
	char			*addr = NULL, *port = NULL, pbuf[8];
	size_t			 i;
	int			 tls = 0, rc = -1;

	(void)d;
	if (argc == 2) {
		if (strcasecmp(argv[1], "tls") != 0) {
			perr(p, "Listen: unknown option \"%s\" (want tls)",
			    argv[1]);
			goto done;
		}
		tls = 1;
	}
	why = hostport_parse(argv[0], HP_BARE_PORT | HP_NEED_PORT |
	    HP_WILDCARD, &hp);
	if (why != NULL) {
		perr(p, "Listen: bad address \"%s\": %s", argv[0], why);
		goto done;
	}
	/*
	 * Two sockets on one port clash when they are the same address or
	 * one of them is the wildcard: bind(2) would fail with EADDRINUSE.
	 */
	for (i = 0; i < c->nlistens; i++) {
		o = &c->listens[i];
		if (strtol(o->port, NULL, 10) != hp.port)
			continue;
		if (o->addr == NULL && (hp.host[0] == '\0' ||
		    strcmp(hp.host, "*") == 0)) {
			perr(p, "duplicate Listen on port %d (first at %s:%d)",
			    hp.port, o->file, o->line);
			goto done;
		}
		if (o->addr != NULL && strcasecmp(o->addr, hp.host) == 0) {
			perr(p, "duplicate Listen on %s port %d (first at "
			    "%s:%d)", hp.host, hp.port, o->file, o->line);
			goto done;
		}
		if (o->addr == NULL || hp.host[0] == '\0' ||
		    strcmp(hp.host, "*") == 0) {
			perr(p, "Listen on port %d clashes with the one at "
			    "%s:%d: one of them takes every address", hp.port,
			    o->file, o->line);
			goto done;
		}
	}
	(void)snprintf(pbuf, sizeof(pbuf), "%d", hp.port);
	if ((port = conf_strdup(p, pbuf)) == NULL)
		goto done;
	if (hp.host[0] != '\0' && strcmp(hp.host, "*") != 0 &&
	    (addr = conf_strdup(p, hp.host)) == NULL)
		goto done;
	if ((l = conf_append(p, c->listens, c->nlistens, sizeof(*l))) == NULL)
		goto done;
	c->listens = l;
	l = &c->listens[c->nlistens++];
	l->addr = addr;
	l->port = port;
	l->tls = tls;
	l->file = p->file;
	l->line = p->line;
	addr = port = NULL;
	rc = 0;
done:
	free(addr);
	free(port);
	return rc;
}

static int
dir_error_log(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	*v = NULL;
	int	 rc = -1;

	(void)argc;
	if (strcasecmp(argv[0], "stderr") == 0)
		v = conf_strdup(p, "stderr");
	else if (strcasecmp(argv[0], "stdout") == 0)
		v = conf_strdup(p, "stdout");
	else if (strcasecmp(argv[0], "off") == 0) {
		perr(p, "ErrorLog cannot be off: give stderr, stdout or a "
		    "path");
		goto done;
	} else
		v = conf_path(p, d->name, argv[0]);
	if (v == NULL)
		goto done;
	free(p->conf->error_log);
	p->conf->error_log = v;
	rc = 0;
done:
	return rc;
}

static int
dir_access_log(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	enum conf_logfmt fmt = CONF_LOG_COMBINED;
	char		*v = NULL;
	int		 rc = -1;

	if (argc == 2) {
		if (strcasecmp(argv[1], "common") == 0)
			fmt = CONF_LOG_COMMON;
		else if (strcasecmp(argv[1], "combined") != 0) {
			perr(p, "AccessLog: unknown format \"%s\" (want common "
			    "or combined)", argv[1]);
			goto done;
		}
	}
	if (strcasecmp(argv[0], "stdout") == 0)
		v = conf_strdup(p, "stdout");
	else if (strcasecmp(argv[0], "stderr") == 0)
		v = conf_strdup(p, "stderr");
	else if (strcasecmp(argv[0], "off") == 0)
		v = conf_strdup(p, "off");
	else
		v = conf_path(p, d->name, argv[0]);
	if (v == NULL)
		goto done;
	free(p->conf->access_log);
	p->conf->access_log = v;
	p->conf->access_format = fmt;
	rc = 0;
done:
	return rc;
}

static int
dir_server_name(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct hostport	 hp;
	const char	*why;
	int		 rc = -1;

	(void)d;
	(void)argc;
	if ((why = hostport_parse(argv[0], HP_NEED_HOST, &hp)) != NULL) {
		perr(p, "ServerName: bad name \"%s\": %s", argv[0], why);
		goto done;
	}
	if ((p->conf->server_name = conf_strdup(p, argv[0])) == NULL)
		goto done;
	rc = 0;
done:
	return rc;
}

/*
 * A name for Redis (Consumer, Group) into *dst: 1 to 200 of letters,
 * digits, '_', '.', ':', '-', nothing that would need quoting.
 */
static int
redis_name(struct parser *p, const char *what, const char *a, char **dst)
{
	size_t len = strlen(a);

	if (len == 0 || len > 200 || strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.:-") != len) {
		perr(p, "%s: bad name \"%s\" (1 to 200 of letters, digits, "
		    "'_', '.', ':', '-')", what, a);
		return -1;
	}
	free(*dst);
	return (*dst = conf_strdup(p, a)) == NULL ? -1 : 0;
}

/* Consumer NAME: this node's name in the queues' consumer groups. */
static int
dir_consumer(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	(void)d;
	(void)argc;
	return redis_name(p, "Consumer", argv[0], &p->conf->consumer);
}

/*
 * Health PATH and Metrics PATH: a path dcgid answers itself, compared
 * with the decoded, normalised path of each request.  NULL, or the copy.
 */
static char *
dir_own_path(struct parser *p, const char *name, const char *example,
    const char *a)
{
	size_t		 len = strlen(a);

	if (a[0] != '/' || len > 200 || strstr(a, "..") != NULL ||
	    strpbrk(a, "?#%") != NULL) {
		perr(p, "%s: bad path \"%s\" (an absolute URL path such "
		    "as %s, without ?, # or %%)", name, a, example);
		return NULL;
	}
	for (const char *c = a; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f) {
			perr(p, "%s: bad path \"%s\" (no spaces or "
			    "control characters)", name, a);
			return NULL;
		}
	return conf_strdup(p, a);
}

/* Health PATH: answers 200 while this node takes work, 503 otherwise. */
static int
dir_health(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	(void)d;
	(void)argc;
	free(p->conf->health);
	p->conf->health = dir_own_path(p, "Health", "/healthz", argv[0]);
	return p->conf->health == NULL ? -1 : 0;
}

/* Metrics PATH: the Prometheus text format of what dcgid counts. */
static int
dir_metrics(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	(void)d;
	(void)argc;
	free(p->conf->metrics);
	p->conf->metrics = dir_own_path(p, "Metrics", "/metrics", argv[0]);
	return p->conf->metrics == NULL ? -1 : 0;
}

/* Type stream|list: how a <Queue>'s producers hand over items. */
static int
dir_qtype(struct parser *p, const struct directive *d, int argc, char **argv)
{
	struct conf_queue *q = &p->conf->queues[p->sec_at];

	(void)d;
	(void)argc;
	if (strcasecmp(argv[0], "stream") == 0)
		q->type = CONF_Q_STREAM;
	else if (strcasecmp(argv[0], "list") == 0)
		q->type = CONF_Q_LIST;
	else {
		perr(p, "Type: bad type \"%s\" (stream or list)", argv[0]);
		return -1;
	}
	return 0;
}

/* Group NAME: the consumer group a stream <Queue> reads as. */
static int
dir_group(struct parser *p, const struct directive *d, int argc, char **argv)
{
	(void)d;
	(void)argc;
	return redis_name(p, "Group", argv[0],
	    &p->conf->queues[p->sec_at].group);
}

/*
 * Require all granted|denied, Require ip CIDR..., Require valid-user,
 * Require user NAME...: who may have a <Route> or <Location>.  Several
 * Require lines: any one lets a client in (Apache's implicit RequireAny).
 */
static int
dir_require(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct access *a = cur_access(p);
	const char *kind = argv[0], *why;
	int all = 0;

	(void)d;
	if (!a->set) {
		/* Even when this line is bad: no "has no Require" then. */
		a->set = 1;
		a->at_file = p->file;
		a->at_line = p->line;
	}
	if (strcasecmp(kind, "all") == 0) {
		if (argc != 2 || (strcasecmp(argv[1], "granted") != 0 &&
		    strcasecmp(argv[1], "denied") != 0)) {
			perr(p, "Require all: granted or denied");
			return -1;
		}
		all = strcasecmp(argv[1], "granted") == 0 ? 1 : -1;
	} else if (strcasecmp(kind, "ip") == 0) {
		struct access_net *n;

		if (argc < 2) {
			perr(p, "Require ip: at least one address or network");
			return -1;
		}
		if ((n = conf_append(p, a->nets, a->nnets + (size_t)argc - 2,
		    sizeof(*n))) == NULL)
			return -1;
		a->nets = n;
		for (int i = 1; i < argc; i++) {
			if (access_net_parse(argv[i], &a->nets[a->nnets],
			    &why) == -1) {
				perr(p, "Require ip: \"%s\": %s", argv[i], why);
				return -1;
			}
			a->nnets++;
		}
	} else if (strcasecmp(kind, "valid-user") == 0) {
		if (argc != 1) {
			perr(p, "Require valid-user takes no more words");
			return -1;
		}
		a->valid_user = 1;
	} else if (strcasecmp(kind, "user") == 0) {
		char **u;

		if (argc < 2) {
			perr(p, "Require user: at least one user name");
			return -1;
		}
		if ((u = reallocarray(a->users, a->nusers + (size_t)argc,
		    sizeof(*u))) == NULL) {
			conf_oom(p);
			return -1;
		}
		a->users = u;
		for (int i = 1; i < argc; i++) {
			if ((u[a->nusers] = conf_strdup(p, argv[i])) == NULL)
				return -1;
			u[++a->nusers] = NULL;
		}
	} else {
		perr(p, "Require: unknown \"%s\" (all, ip, user or "
		    "valid-user)", kind);
		return -1;
	}
	/* "all" says everything: alone or not at all. */
	if ((all != 0 && (a->all != 0 || a->nnets > 0 || a->valid_user ||
	    a->nusers > 0)) || (all == 0 && a->all != 0)) {
		perr(p, "Require all %s cannot be combined with other Require "
		    "lines", all == 1 || a->all == 1 ? "granted" : "denied");
		return -1;
	}
	if (all != 0)
		a->all = all;
	return 0;
}

/*
 * AuthUserFile FILE: the htpasswd file (bcrypt hashes) users are checked
 * against.  Read now, by the process that loads the configuration: a
 * reload reads it again, and a server process never opens it.
 */
static int
dir_auth_user_file(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct access *a = cur_access(p);
	char *path, err[256];

	(void)d;
	(void)argc;
	if ((path = path_join(p->conf->server_root, argv[0])) == NULL) {
		perr(p, "AuthUserFile: \"%s\": %s", argv[0], strerror(errno));
		return -1;
	}
	if ((a->file = calloc(1, sizeof(*a->file))) == NULL) {
		free(path);
		conf_oom(p);
		return -1;
	}
	if (access_file_load(path, a->file, err, sizeof(err)) == -1) {
		perr(p, "AuthUserFile %s: %s", path, err);
		free(a->file);
		a->file = NULL;
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

/* AuthName REALM: what the browser's login prompt names. */
static int
dir_auth_name(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct access *a = cur_access(p);

	(void)d;
	(void)argc;
	/* It goes into a quoted-string of WWW-Authenticate. */
	if (*argv[0] == '\0' || strlen(argv[0]) > 200 ||
	    strpbrk(argv[0], "\"\\") != NULL) {
		perr(p, "AuthName: 1 to 200 characters, no '\"' or '\\'");
		return -1;
	}
	for (const char *q = argv[0]; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f) {
			perr(p, "AuthName: no control characters");
			return -1;
		}
	a->realm = conf_strdup(p, argv[0]);
	return a->realm == NULL ? -1 : 0;
}

static const struct seen *conf_seen(struct parser *, const char *,
		    unsigned);

/* The end of a <Route> or <Location>: its access rules make sense. */
static void
access_close(struct parser *p)
{
	struct access *a = cur_access(p);
	int wants = a->valid_user || a->nusers > 0;

	if (p->sec == SEC_LOCATION && !a->set)
		conf_report(p, p->sec_file, p->sec_line, p->sec_text,
		    "<Location %s> has no Require", sec_arg(p));
	if (wants && a->file == NULL &&
	    conf_seen(p, "AuthUserFile", W_ACCESS) == NULL)
		conf_report(p, p->sec_file, p->sec_line, p->sec_text,
		    "<%s %s>: Require %s needs an AuthUserFile",
		    sec_kind(p->sec), sec_arg(p), a->valid_user ?
		    "valid-user" : "user");
	if (!wants && (a->file != NULL || a->realm != NULL))
		conf_report(p, p->sec_file, p->sec_line, p->sec_text,
		    "<%s %s>: AuthUserFile and AuthName need Require "
		    "valid-user or Require user", sec_kind(p->sec),
		    sec_arg(p));
	if (a->file != NULL) {
		for (size_t i = 0; i < a->nusers; i++) {
			size_t j;

			for (j = 0; j < a->file->nusers; j++)
				if (strcmp(a->file->users[j].name,
				    a->users[i]) == 0)
					break;
			if (j == a->file->nusers)
				conf_report(p, p->sec_file, p->sec_line,
				    p->sec_text, "<%s %s>: Require user %s: "
				    "no such user in %s", sec_kind(p->sec),
				    sec_arg(p), a->users[i], a->file->path);
		}
	}
}

/* User NAME: whom the server processes run as (privilege separation). */
static int
dir_server_user(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	const char *a = argv[0];

	(void)d;
	(void)argc;
	if (*a == '\0' || strlen(a) > 32 || strspn(a, "abcdefghijklmnopqrstuv"
	    "wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(a) ||
	    *a == '-') {
		perr(p, "User: bad user name \"%s\"", a);
		return -1;
	}
	if (strcmp(a, "root") == 0) {
		perr(p, "User root: the server processes must not run as root "
		    "(PrivilegeSeparation off runs one process instead)");
		return -1;
	}
	free(p->conf->server_user);
	if ((p->conf->server_user = conf_strdup(p, a)) == NULL)
		return -1;
	return 0;
}

static int
dir_docker_host(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct hostport	 hp;
	const char	*why = NULL, *a = argv[0];
	int		 rc = -1;

	(void)d;
	(void)argc;
	if (strncasecmp(a, "unix://", 7) == 0)
		why = socket_path_check(a + 7);
	else if (strncasecmp(a, "tcp://", 6) == 0)
		why = hostport_parse(a + 6, HP_NEED_HOST | HP_NEED_PORT, &hp);
	else {
		perr(p, "DockerHost: unsupported address \"%s\" (want "
		    "unix:///path or tcp://host:port)", a);
		goto done;
	}
	if (why != NULL) {
		perr(p, "DockerHost: bad address \"%s\": %s", a, why);
		goto done;
	}
	if ((p->conf->docker_host = conf_strdup(p, a)) == NULL)
		goto done;
	rc = 0;
done:
	return rc;
}

static int
dir_redis(struct parser *p, const struct directive *d, int argc, char **argv)
{
	struct hostport	 hp;
	const char	*why, *a = argv[0];
	int		 rc = -1;

	(void)d;
	(void)argc;
	if (strncasecmp(a, "unix:", 5) == 0)
		why = socket_path_check(a + 5);
	else
		why = hostport_parse(a, HP_NEED_HOST | HP_NEED_PORT, &hp);
	if (why != NULL) {
		perr(p, "Redis: bad address \"%s\": %s (want host:port or "
		    "unix:/path)", a, why);
		goto done;
	}
	if ((p->conf->redis = conf_strdup(p, a)) == NULL)
		goto done;
	rc = 0;
done:
	return rc;
}

static int
conf_files_add(struct parser *p, const char *name, const char **out)
{
	struct conf	*c = p->conf;
	char		**f, *s = NULL;
	size_t		 i;
	int		 rc = -1;

	for (i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i], name) == 0) {
			*out = c->files[i];
			rc = 0;
			goto done;
		}
	if ((s = conf_strdup(p, name)) == NULL)
		goto done;
	if ((f = conf_append(p, c->files, c->nfiles, sizeof(*f))) == NULL)
		goto done;
	c->files = f;
	c->files[c->nfiles++] = s;
	*out = s;
	s = NULL;
	rc = 0;
done:
	free(s);
	return rc;
}

/* One file named by Include; `path` is absolute. */
static void
conf_include_one(struct parser *p, const char *path)
{
	const char	*root = p->conf->server_root, *name = path;
	size_t		 rlen = strlen(root);

	/* Name it the way the user wrote it: relative to the server root. */
	if (strcmp(root, "/") == 0)
		rlen = 0;
	if (strncmp(path, root, rlen) == 0 && path[rlen] == '/' &&
	    path[rlen + 1] != '\0')
		name = path + rlen + 1;
	conf_parse_file(p, name, path);
}

static int
dir_include(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	glob_t	 g;
	char	*pat = NULL;
	size_t	 i;
	int	 r, globbed = 0, rc = -1;

	(void)argc;
	memset(&g, 0, sizeof(g));
	if ((pat = conf_path(p, d->name, argv[0])) == NULL)
		goto done;
	/* Without a wildcard the file must be there: open() says why not. */
	if (strpbrk(argv[0], "*?[") == NULL) {
		conf_include_one(p, pat);
		rc = 0;
		goto done;
	}
	r = glob(pat, 0, NULL, &g);
	globbed = 1;
	if (r == GLOB_NOMATCH) {
		rc = 0;
		goto done;
	}
	if (r == GLOB_NOSPACE) {
		conf_oom(p);
		goto done;
	}
	if (r != 0) {
		perr(p, "Include: cannot read the directories of \"%s\"",
		    argv[0]);
		goto done;
	}
	/* A pattern that reaches that far is a mistake (the fuzzer found
	 * one that read all of /proc, four levels down). */
	if (g.gl_pathc > CONF_MAX_GLOB) {
		perr(p, "Include: \"%s\" names %zu files, more than %d",
		    argv[0], (size_t)g.gl_pathc, CONF_MAX_GLOB);
		goto done;
	}
	for (i = 0; i < g.gl_pathc && !p->oom; i++)
		conf_include_one(p, g.gl_pathv[i]);
	rc = 0;
done:
	if (globbed)
		globfree(&g);
	free(pat);
	return rc;
}

static int
dir_image(struct parser *p, const struct directive *d, int argc, char **argv)
{
	const char	*why;
	int		 rc = -1;

	(void)d;
	(void)argc;
	if ((why = image_check(argv[0])) != NULL) {
		perr(p, "Image: bad image name \"%s\": %s (want name[:tag] or "
		    "name@sha256:<64 hex digits>)", argv[0], why);
		goto done;
	}
	if ((cur_run(p)->image = conf_strdup(p, argv[0])) == NULL)
		goto done;
	rc = 0;
done:
	return rc;
}

static int
dir_command(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char	**cmd = NULL;
	int	  i, rc = -1;

	(void)d;
	if ((cmd = calloc((size_t)argc + 1, sizeof(*cmd))) == NULL) {
		conf_oom(p);
		goto done;
	}
	for (i = 0; i < argc; i++)
		if ((cmd[i] = conf_strdup(p, argv[i])) == NULL)
			goto done;
	cur_run(p)->command = cmd;
	cmd = NULL;
	rc = 0;
done:
	strv_free(cmd);
	return rc;
}

static int
dir_env(struct parser *p, const struct directive *d, int argc, char **argv)
{
	struct conf_run	 *run = cur_run(p);
	const char	 *a = argv[0], *eq;
	char		**env;
	size_t		  i, klen;
	int		  rc = -1;

	(void)d;
	(void)argc;
	if ((eq = strchr(a, '=')) == NULL) {
		perr(p, "Env: want NAME=VALUE, got \"%s\"", a);
		goto done;
	}
	klen = eq - a;
	if (klen == 0 || (!is_alpha((unsigned char)a[0]) && a[0] != '_') ||
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != klen) {
		perr(p, "Env: bad variable name \"%.*s\" (letters, digits and "
		    "'_', not starting with a digit)", (int)klen, a);
		goto done;
	}
	for (i = 0; i < run->nenv; i++)
		if (strncmp(run->env[i], a, klen + 1) == 0) {
			perr(p, "Env: %.*s is set twice", (int)klen, a);
			goto done;
		}
	if (run->nenv >= SIZE_MAX / sizeof(*env) - 2 ||
	    (env = reallocarray(run->env, run->nenv + 2, sizeof(*env))) ==
	    NULL) {
		conf_oom(p);
		goto done;
	}
	run->env = env;
	env[run->nenv] = NULL;
	if ((env[run->nenv] = conf_strdup(p, a)) == NULL)
		goto done;
	env[++run->nenv] = NULL;
	rc = 0;
done:
	return rc;
}

static int
dir_network(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct conf_run	*run = cur_run(p);
	const char	*a = argv[0];
	char		*v = NULL;
	size_t		 len = strlen(a);
	int		 rc = -1;

	(void)d;
	(void)argc;
	if (strcasecmp(a, "none") == 0)
		v = conf_strdup(p, "none");
	else if (strcasecmp(a, "host") == 0)
		v = conf_strdup(p, "host");
	else if (strcasecmp(a, "isolated") == 0 && p->sec != SEC_ROUTE) {
		perr(p, "Network isolated: only in a <Route> (a queue's runs "
		    "use none, host or a network)");
		goto done;
	} else if (strcasecmp(a, "isolated") == 0)
		v = conf_strdup(p, "isolated");
	else if (len == 0 || len > 128 || (!is_alpha((unsigned char)a[0]) &&
	    !is_digit((unsigned char)a[0])) ||
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") != len) {
		perr(p, "Network: bad network \"%s\" (none, isolated, host, or "
		    "a Docker network name)", a);
		goto done;
	} else
		v = conf_strdup(p, a);
	if (v == NULL)
		goto done;
	free(run->network);
	run->network = v;
	rc = 0;
done:
	return rc;
}

static int
dir_cpus(struct parser *p, const struct directive *d, int argc, char **argv)
{
	int64_t	 nano = 0;
	int	 r, rc = -1;

	(void)d;
	(void)argc;
	if ((r = cpus_parse(argv[0], &nano)) == -1) {
		perr(p, "CPUs: \"%s\" is not a decimal number like 0.5 or 2",
		    argv[0]);
		goto done;
	}
	if (r == -2 || nano <= 0 || nano > 1024 * (int64_t)1000000000) {
		perr(p, "CPUs: %s is out of range (more than 0, at most 1024)",
		    argv[0]);
		goto done;
	}
	cur_run(p)->cpus = (double)nano / 1e9;
	rc = 0;
done:
	return rc;
}

/* An on/off switch: an int at d->off in the structure d->base names. */
static int
dir_flag(struct parser *p, const struct directive *d, int argc, char **argv)
{
	int *flag = (int *)(void *)(dir_base(p, d) + d->off);

	(void)argc;
	if (strcasecmp(argv[0], "on") == 0)
		*flag = 1;
	else if (strcasecmp(argv[0], "off") == 0)
		*flag = 0;
	else {
		perr(p, "%s: want on or off, got \"%s\"", d->name, argv[0]);
		return -1;
	}
	return 0;
}

/* TLSProtocols TLSv1.2 [TLSv1.3]: which versions are offered. */
static int
dir_tls_protocols(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	unsigned v = 0;

	(void)d;
	for (int i = 0; i < argc; i++) {
		if (strcasecmp(argv[i], "TLSv1.2") == 0)
			v |= CONF_TLS_1_2;
		else if (strcasecmp(argv[i], "TLSv1.3") == 0)
			v |= CONF_TLS_1_3;
		else {
			perr(p, "TLSProtocols: \"%s\" is not offered; want "
			    "TLSv1.2 and/or TLSv1.3 (older versions are unsafe)",
			    argv[i]);
			return -1;
		}
	}
	p->conf->tls_protocols = v;
	return 0;
}

/* TLSCiphers NAME...: mbedtls suite names, checked when TLS is set up. */
static int
dir_tls_ciphers(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	char **v;

	(void)d;
	if ((v = calloc((size_t)argc + 1, sizeof(*v))) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	for (int i = 0; i < argc; i++)
		if ((v[i] = strdup(argv[i])) == NULL) {
			for (int k = 0; k < i; k++)
				free(v[k]);
			free(v);
			perr(p, "out of memory");
			return -1;
		}
	p->conf->tls_ciphers = v;
	return 0;
}

static int
dir_user(struct parser *p, const struct directive *d, int argc, char **argv)
{
	const char	*a = argv[0], *colon;
	size_t		 len = strlen(a);
	int		 rc = -1;

	(void)d;
	(void)argc;
	colon = strchr(a, ':');
	if (colon == NULL ? !ident_valid(a, len) :
	    (!ident_valid(a, colon - a) ||
	    !ident_valid(colon + 1, len - (colon - a) - 1))) {
		perr(p, "User: bad user \"%s\" (want a name or uid, then "
		    "maybe :group or :gid)", a);
		goto done;
	}
	if ((cur_run(p)->user = conf_strdup(p, a)) == NULL)
		goto done;
	rc = 0;
done:
	return rc;
}

/*
 * Prestart MIN [MAX]: a pool of MIN prestarted containers, or one that
 * sizes itself between MIN and MAX from the route's recent arrivals.
 */
static int
dir_prestart(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct conf_route *r = &p->conf->routes[p->sec_at];
	int64_t v[2];

	(void)d;
	for (int i = 0; i < argc; i++)
		if (count_parse(argv[i], &v[i]) != 0 || v[i] < 0 || v[i] > 64) {
			perr(p, "Prestart: \"%s\" is not a number from 0 to 64",
			    argv[i]);
			return -1;
		}
	if (argc == 1)
		v[1] = v[0];
	if (v[1] < v[0]) {
		perr(p, "Prestart: MAX %s is below MIN %s (Prestart MIN [MAX])",
		    argv[1], argv[0]);
		return -1;
	}
	r->prestart = (int)v[0];
	r->prestart_max = (int)v[1];
	return 0;
}

/*
 * Preload python [MODULE...]: a Python function's interpreter starts, and
 * imports the modules, before its request (dcgi-init --preload).
 */
static int
dir_preload(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct conf_route *r = &p->conf->routes[p->sec_at];
	char **mods;

	(void)d;
	if (strcmp(argv[0], "python") != 0) {
		perr(p, "Preload: \"%s\" is not a language it knows (python)",
		    argv[0]);
		return -1;
	}
	for (int i = 1, all = 0; i < argc; i++) {
		const char *m = argv[i];
		size_t len = strlen(m);

		/* dcgid passes them as one argument (dcgi.c init_argv()) */
		if ((all += (int)len + 1) > PRELOAD_NAMES_MAX) {
			perr(p, "Preload: the module names come to more than "
			    "%d characters", PRELOAD_NAMES_MAX);
			return -1;
		}

		if (len == 0 || len > 200 || m[0] == '.' || m[len - 1] == '.' ||
		    is_digit((unsigned char)m[0]) || strstr(m, "..") != NULL ||
		    strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_.") != len) {
			perr(p, "Preload: \"%s\" is not a Python module name", m);
			return -1;
		}
	}
	if ((mods = calloc((size_t)argc, sizeof(*mods))) == NULL) {
		conf_oom(p);
		return -1;
	}
	for (int i = 1; i < argc; i++)
		if ((mods[i - 1] = strdup(argv[i])) == NULL) {
			strv_free(mods);
			conf_oom(p);
			return -1;
		}
	strv_free(r->preload_modules);
	r->preload_modules = mods;
	r->preload = 1;
	return 0;
}

/* Runtime NAME: the engine's name for an OCI runtime (runc, crun, runsc). */
static int
dir_runtime(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	const char	*a = argv[0];
	size_t		 len = strlen(a);
	struct conf_run	*run = cur_run(p);

	(void)d;
	(void)argc;
	if (len == 0 || len > 64 || !is_alpha((unsigned char)a[0]) ||
	    strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") != len) {
		perr(p, "Runtime: bad runtime name \"%s\" (a name the engine "
		    "knows, as in dockerd --add-runtime NAME=PATH: runc, crun, "
		    "runsc)", a);
		return -1;
	}
	free(run->runtime);
	if ((run->runtime = conf_strdup(p, a)) == NULL)
		return -1;
	return 0;
}

/*
 * Where a socket path leads now, in `out`: the whole path resolved, or
 * failing that (no socket there yet) its directory resolved.  -1 when
 * neither exists.
 */
static int
sock_resolve(const char *sock, char *out, size_t len)
{
	char		 dir[PATH_MAX], real[PATH_MAX];
	const char	*base = strrchr(sock, '/');
	size_t		 dlen;
	int		 n, rc = -1;

	if (len < PATH_MAX || base == NULL)
		goto done;
	if (realpath(sock, out) != NULL) {
		rc = 0;
		goto done;
	}
	if ((dlen = base - sock) == 0 || dlen >= sizeof(dir))
		goto done;
	memcpy(dir, sock, dlen);
	dir[dlen] = '\0';
	if (realpath(dir, real) == NULL)
		goto done;
	n = snprintf(out, len, "%s%s", strcmp(real, "/") == 0 ? "" : real,
	    base);
	if (n < 0 || (size_t)n >= len)
		goto done;
	rc = 0;
done:
	return rc;
}

/*
 * Refuse a Mount source that is, or holds, a Docker socket: a container
 * that can talk to the engine can start a privileged container and own
 * the host.  Both the source as written and where it leads now are
 * checked, against each socket as written and where it leads now
 * (/var/run is a link to /run on most systems).  -1 after reporting.
 */
static int
conf_mount_check(struct parser *p, const char *src, const char **socks,
    size_t nsocks, const char *file, int line, const char *echo)
{
	char		 resolved[PATH_MAX], *real = NULL;
	const char	*from[2], *to[2], *how;
	size_t		 i, j, k, nfrom = 1, nto;
	int		 rc = -1, rerr = 0;

	from[0] = src;
	/*
	 * A source that cannot be resolved here cannot be checked: the
	 * engine resolves it on the host, where a link in it may lead to the
	 * socket (under systemd's ProtectHome, /home is not even visible).
	 */
	if ((real = realpath(src, NULL)) == NULL) {
		if (errno == ENOMEM) {
			conf_oom(p);
			goto done;
		}
		rerr = errno;
	}
	if (real != NULL && strcmp(real, src) != 0)
		from[nfrom++] = real;
	for (i = 0; i < nsocks; i++) {
		to[0] = socks[i];
		nto = 1;
		if (sock_resolve(socks[i], resolved, sizeof(resolved)) == 0 &&
		    strcmp(resolved, socks[i]) != 0)
			to[nto++] = resolved;
		for (j = 0; j < nfrom; j++)
			for (k = 0; k < nto; k++) {
				if (!path_within(from[j], to[k]))
					continue;
				how = strcmp(from[j], to[k]) == 0 ?
				    "is" : "contains";
				if (j == 0)
					conf_report(p, file, line, echo,
					    "Mount: refusing %s: it %s the "
					    "Docker socket %s, and a container "
					    "that reaches it controls the host",
					    src, how, to[k]);
				else
					conf_report(p, file, line, echo,
					    "Mount: refusing %s: it resolves "
					    "to %s, which %s the Docker socket "
					    "%s, and a container that reaches "
					    "it controls the host", src,
					    from[j], how, to[k]);
				goto done;
			}
	}
	if (real == NULL) {
		conf_report(p, file, line, echo, "Mount: the source %s cannot be "
		    "resolved (%s); it must exist, and be visible to dcgid, to "
		    "be checked", src, strerror(rerr));
		goto done;
	}
	rc = 0;
done:
	free(real);
	return rc;
}

/* The absolute path of a "unix://" address, cleaned into `buf`, or NULL. */
static const char *
unix_socket_of(const char *addr, char *buf, size_t len)
{
	const char	*path = NULL;

	if (addr == NULL || strncasecmp(addr, "unix://", 7) != 0 ||
	    addr[7] != '/' || strlen(addr + 7) >= len)
		goto done;
	memcpy(buf, addr + 7, strlen(addr + 7) + 1);
	path_clean(buf);
	path = buf;
done:
	return path;
}

static int
dir_mount(struct parser *p, const struct directive *d, int argc, char **argv)
{
	struct conf_run		*run = cur_run(p);
	struct conf_mount	*m;
	const char		*socks[NDOCKER_SOCKETS + 2], *s;
	char			*src = NULL, *dst = NULL;
	char			 ebuf[PATH_MAX], hbuf[PATH_MAX];
	size_t			 nsocks = 0, i;
	int			 ro = 1, rc = -1;

	(void)d;
	if (argc == 3) {
		if (strcasecmp(argv[2], "rw") == 0)
			ro = 0;
		else if (strcasecmp(argv[2], "ro") != 0) {
			perr(p, "Mount: the third argument is ro or rw, not "
			    "\"%s\"", argv[2]);
			goto done;
		}
	}
	for (i = 0; i < 2; i++) {
		if (argv[i][0] != '/') {
			perr(p, "Mount: the %s \"%s\" is not an absolute path",
			    i == 0 ? "source" : "target", argv[i]);
			goto done;
		}
		if (has_dotdot(argv[i])) {
			perr(p, "Mount: the %s \"%s\" has a \"..\" segment",
			    i == 0 ? "source" : "target", argv[i]);
			goto done;
		}
		/* Docker's bind syntax is SRC:DST[:MODE]. */
		if (strchr(argv[i], ':') != NULL ||
		    strchr(argv[i], ',') != NULL) {
			perr(p, "Mount: the %s \"%s\" has a ':' or ',', which "
			    "Docker's mount syntax cannot carry",
			    i == 0 ? "source" : "target", argv[i]);
			goto done;
		}
		if (strlen(argv[i]) >= PATH_MAX) {
			perr(p, "Mount: the %s path is too long",
			    i == 0 ? "source" : "target");
			goto done;
		}
	}
	if ((src = conf_strdup(p, argv[0])) == NULL ||
	    (dst = conf_strdup(p, argv[1])) == NULL)
		goto done;
	path_clean(src);
	path_clean(dst);
	if (strcmp(dst, "/") == 0) {
		perr(p, "Mount: cannot mount over the container's /");
		goto done;
	}
	for (i = 0; i < NDOCKER_SOCKETS; i++)
		socks[nsocks++] = conf_docker_sockets[i];
	if ((s = unix_socket_of(getenv("DOCKER_HOST"), ebuf,
	    sizeof(ebuf))) != NULL)
		socks[nsocks++] = s;
	/* A DockerHost given after this line is checked in conf_finish(). */
	if ((s = unix_socket_of(p->conf->docker_host, hbuf,
	    sizeof(hbuf))) != NULL)
		socks[nsocks++] = s;
	if (conf_mount_check(p, src, socks, nsocks, p->file, p->line,
	    p->text) == -1)
		goto done;
	if ((m = conf_append(p, run->mounts, run->nmounts, sizeof(*m))) ==
	    NULL)
		goto done;
	run->mounts = m;
	m = &run->mounts[run->nmounts++];
	m->src = src;
	m->dst = dst;
	m->ro = ro;
	m->file = p->file;
	m->line = p->line;
	src = dst = NULL;
	rc = 0;
done:
	free(src);
	free(dst);
	return rc;
}

/*
 * Secret NAME FILE: the file's content, read at each (re)load, as the
 * container's /run/secrets/NAME (read-only; secret.h).  The file must be
 * there, a regular file, and at most SECRET_MAX bytes now.
 */
static int
dir_secret(struct parser *p, const struct directive *d, int argc,
    char **argv)
{
	struct conf_run		*run = cur_run(p);
	struct conf_secret	*sc;
	char			*src, err[PATH_MAX + 100];
	size_t			 n = strlen(argv[0]);

	(void)d;
	(void)argc;
	if (n == 0 || n > 64 || argv[0][0] == '.' ||
	    strspn(argv[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") != n) {
		perr(p, "Secret: bad name \"%s\" (1 to 64 letters, digits, "
		    "'_', '.' and '-', not starting with '.')", argv[0]);
		return -1;
	}
	for (size_t i = 0; i < run->nsecrets; i++)
		if (strcmp(run->secrets[i].name, argv[0]) == 0) {
			perr(p, "Secret %s given twice (first at %s:%d)",
			    argv[0], run->secrets[i].file,
			    run->secrets[i].line);
			return -1;
		}
	if ((src = path_join(p->conf->server_root, argv[1])) == NULL) {
		perr(p, "Secret %s: \"%s\": %s", argv[0], argv[1],
		    strerror(errno));
		return -1;
	}
	/* Docker's bind syntax is SRC:DST[:MODE]; the copy's path has no
	 * ':', but a file that cannot be named there is no Secret either. */
	if (secret_check(src, err, sizeof(err)) == -1) {
		perr(p, "Secret %s: %s", argv[0], err);
		free(src);
		return -1;
	}
	if ((sc = conf_append(p, run->secrets, run->nsecrets,
	    sizeof(*sc))) == NULL) {
		free(src);
		return -1;
	}
	run->secrets = sc;
	sc = &run->secrets[run->nsecrets++];
	sc->src = src;
	sc->file = p->file;
	sc->line = p->line;
	if ((sc->name = conf_strdup(p, argv[0])) == NULL)
		return -1;
	return 0;
}

/*
 * The directive table.  A name may have one entry per place (MaxBody is
 * global and per route).  Limits are loose on purpose: they catch typos
 * and nonsense, not unusual but sane choices.
 */

#define DIR(n, w, lo, hi, rep, f)					\
	{ .name = (n), .where = (w), .minargs = (lo), .maxargs = (hi),	\
	  .repeat = (rep), .fn = (f) }
#define PATHDIR(n, field)						\
	{ .name = (n), .where = W_TOP, .minargs = 1, .maxargs = 1,	\
	  .fn = dir_path, .off = offsetof(struct conf, field) }
#define FLAGDIR(n, w, b, st, field)					\
	{ .name = (n), .where = (w), .minargs = 1, .maxargs = 1,	\
	  .fn = dir_flag, .base = (b), .off = offsetof(st, field) }
#define NUMDIR(n, w, k, b, st, field, t, lo, hi, r)			\
	{ .name = (n), .where = (w), .minargs = 1, .maxargs = 1,	\
	  .fn = dir_number, .kind = (k), .base = (b), .type = (t),	\
	  .off = offsetof(st, field), .min = (lo), .max = (hi),		\
	  .range = (r) }

static const struct directive directives[] = {
	/* Outside sections. */
	DIR("Listen", W_TOP, 1, 2, 1, dir_listen),
	PATHDIR("TLSCertificateFile", tls_cert),
	PATHDIR("TLSCertificateKeyFile", tls_key),
	DIR("TLSProtocols", W_TOP, 1, 2, 0, dir_tls_protocols),
	DIR("TLSCiphers", W_TOP, 1, 64, 0, dir_tls_ciphers),
	FLAGDIR("TLSSessionTickets", W_TOP, B_CONF, struct conf, tls_tickets),
	FLAGDIR("HTTPSRedirect", W_TOP, B_CONF, struct conf, https_redirect),
	NUMDIR("HSTS", W_TOP, N_DURATION, B_CONF, struct conf,
	    hsts_ms, F_INT64, 0, 2 * 366 * 24 * T_HOUR, "0 to 2 years"),
	PATHDIR("DocumentRoot", document_root),
	PATHDIR("MimeTypes", mime_types),
	DIR("ErrorLog", W_TOP, 1, 1, 0, dir_error_log),
	DIR("AccessLog", W_TOP, 1, 2, 0, dir_access_log),
	DIR("ServerName", W_TOP, 1, 1, 0, dir_server_name),
	DIR("User", W_TOP, 1, 1, 0, dir_server_user),
	FLAGDIR("PrivilegeSeparation", W_TOP, B_CONF, struct conf, privsep),
	DIR("DockerHost", W_TOP, 1, 1, 0, dir_docker_host),
	DIR("Redis", W_TOP, 1, 1, 0, dir_redis),
	DIR("Consumer", W_TOP, 1, 1, 0, dir_consumer),
	DIR("Health", W_TOP, 1, 1, 0, dir_health),
	DIR("Metrics", W_TOP, 1, 1, 0, dir_metrics),
	DIR("Include", W_TOP, 1, 1, 1, dir_include),
	NUMDIR("MaxContainers", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_containers, F_INT, 1, 100000, "1 to 100000"),
	NUMDIR("MaxStarting", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_starting, F_INT, 1, 1000, "1 to 1000"),
	NUMDIR("MaxConnections", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_connections, F_INT, 1, 1000000, "1 to 1000000"),
	NUMDIR("MaxConnectionsPerClient", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_conns_per_client, F_INT, 0, 1000000, "0 (off) to 1000000"),
	NUMDIR("MaxContainersPerClient", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_containers_per_client, F_INT, 0, 100000, "0 (off) to 100000"),
	NUMDIR("MaxRequestLine", W_TOP, N_SIZE, B_CONF, struct conf,
	    max_request_line, F_SIZE, 256, MB, "256 to 1m"),
	NUMDIR("MaxHeaderSize", W_TOP, N_SIZE, B_CONF, struct conf,
	    max_header_size, F_SIZE, KB, MB, "1k to 1m"),
	NUMDIR("MaxHeaders", W_TOP, N_COUNT, B_CONF, struct conf,
	    max_headers, F_INT, 1, 10000, "1 to 10000"),
	NUMDIR("MaxBody", W_TOP, N_SIZE, B_CONF, struct conf,
	    max_body, F_INT64, 0, 1024 * GB, "0 to 1024g"),
	NUMDIR("HeaderTimeout", W_TOP, N_DURATION, B_CONF, struct conf,
	    header_timeout_ms, F_INT64, 100, T_HOUR, "100ms to 1h"),
	NUMDIR("BodyTimeout", W_TOP, N_DURATION, B_CONF, struct conf,
	    body_timeout_ms, F_INT64, 100, T_HOUR, "100ms to 1h"),
	NUMDIR("SendTimeout", W_TOP, N_DURATION, B_CONF, struct conf,
	    send_timeout_ms, F_INT64, 100, T_HOUR, "100ms to 1h"),
	NUMDIR("KeepAliveTimeout", W_TOP, N_DURATION, B_CONF, struct conf,
	    keepalive_timeout_ms, F_INT64, 100, T_HOUR, "100ms to 1h"),
	NUMDIR("KeepAliveRequests", W_TOP, N_COUNT, B_CONF, struct conf,
	    keepalive_requests, F_INT, 1, 1000000, "1 to 1000000"),
	NUMDIR("GracePeriod", W_TOP, N_DURATION, B_CONF, struct conf,
	    grace_ms, F_INT64, 0, T_HOUR, "0 to 1h"),

	/* How to run a container: <Route> and <Queue>. */
	DIR("Image", W_RUN, 1, 1, 0, dir_image),
	DIR("Command", W_RUN, 1, -1, 0, dir_command),
	DIR("Env", W_RUN, 1, 1, 1, dir_env),
	DIR("Network", W_RUN, 1, 1, 0, dir_network),
	DIR("Runtime", W_RUN, 1, 1, 0, dir_runtime),
	NUMDIR("Timeout", W_RUN, N_DURATION, B_RUN, struct conf_run,
	    timeout_ms, F_INT64, 100, 24 * T_HOUR, "100ms to 24h"),
	NUMDIR("Memory", W_RUN, N_SIZE, B_RUN, struct conf_run,
	    memory, F_INT64, 4 * MB, 1024 * GB, "4m to 1024g"),
	DIR("CPUs", W_RUN, 1, 1, 0, dir_cpus),
	NUMDIR("Pids", W_RUN, N_COUNT, B_RUN, struct conf_run,
	    pids, F_INT64, 1, 4194304, "1 to 4194304"),
	FLAGDIR("ReadOnly", W_RUN, B_RUN, struct conf_run, read_only),
	DIR("User", W_RUN, 1, 1, 0, dir_user),
	DIR("Mount", W_RUN, 2, 3, 1, dir_mount),
	DIR("Secret", W_RUN, 2, 2, 1, dir_secret),

	/* <Route> only. */
	NUMDIR("MaxConcurrent", W_ROUTE, N_COUNT, B_ROUTE, struct conf_route,
	    max_concurrent, F_INT, 1, 100000, "1 to 100000"),
	NUMDIR("MaxBody", W_ROUTE, N_SIZE, B_ROUTE, struct conf_route,
	    max_body, F_INT64, 0, 1024 * GB, "0 to 1024g"),
	NUMDIR("Cache", W_ROUTE, N_DURATION, B_ROUTE, struct conf_route,
	    cache_ms, F_INT64, 0, 24 * T_HOUR, "0 to 24h"),
	DIR("Prestart", W_ROUTE, 1, 2, 0, dir_prestart),
	DIR("Preload", W_ROUTE, 1, 64, 0, dir_preload),
	NUMDIR("PrestartMaxAge", W_ROUTE, N_DURATION, B_ROUTE, struct conf_route,
	    prestart_max_age_ms, F_INT64, T_SEC, 24 * T_HOUR, "1s to 24h"),

	/* Who may: <Route> and <Location>. */
	DIR("Require", W_ACCESS, 1, 64, 1, dir_require),
	DIR("AuthUserFile", W_ACCESS, 1, 1, 0, dir_auth_user_file),
	DIR("AuthName", W_ACCESS, 1, 1, 0, dir_auth_name),

	/* <Queue> only. */
	NUMDIR("Concurrency", W_QUEUE, N_COUNT, B_QUEUE, struct conf_queue,
	    concurrency, F_INT, 1, 256, "1 to 256"),
	NUMDIR("Retries", W_QUEUE, N_COUNT, B_QUEUE, struct conf_queue,
	    retries, F_INT, 0, 100, "0 to 100"),
	DIR("Type", W_QUEUE, 1, 1, 0, dir_qtype),
	DIR("Group", W_QUEUE, 1, 1, 0, dir_group),
	NUMDIR("ClaimAfter", W_QUEUE, N_DURATION, B_QUEUE, struct conf_queue,
	    claim_after_ms, F_INT64, T_SEC, 24 * T_HOUR, "1s to 24h"),
};
#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

_Static_assert(NDIRECTIVES <= CONF_MAX_DIRS, "raise CONF_MAX_DIRS");

/*
 * Whether a directive was given in this scope, even when its value was
 * bad: "has no Image" after "Image: bad image name" would only be noise.
 */
static const struct seen *
conf_seen(struct parser *p, const char *name, unsigned where)
{
	const struct seen	*seen = NULL;
	size_t			 i;

	for (i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].name, name) == 0 &&
		    (directives[i].where & where) != 0) {
			seen = (where == W_TOP ? p->seen_top : p->seen_sec) + i;
			break;
		}
	return seen != NULL && seen->file != NULL ? seen : NULL;
}

/*
 * Sections.
 */

static void
conf_run_init(struct parser *p, struct conf_run *run)
{
	run->network = conf_strdup(p, "none");
	run->timeout_ms = 30 * T_SEC;
	run->memory = 256 * MB;
	run->cpus = 0;
	run->pids = 128;
	run->read_only = 1;
}

/* Enter a section; the route or queue exists even when its tag is bad. */
static void
conf_section_open(struct parser *p, enum conf_section kind, const char *arg)
{
	struct conf		*c = p->conf;
	struct conf_route	*r;
	struct conf_queue	*q;
	struct conf_location	*l;
	const char		*why;
	size_t			 i;

	if (kind == SEC_LOCATION) {
		if ((l = conf_append(p, c->locations, c->nlocations,
		    sizeof(*l))) == NULL)
			goto done;
		c->locations = l;
		p->sec_at = c->nlocations++;
		l = &c->locations[p->sec_at];
		l->file = p->file;
		l->line = p->line;
		if (arg != NULL && (l->prefix = conf_strdup(p, arg)) != NULL) {
			for (i = 0; i + 1 < c->nlocations; i++)
				if (c->locations[i].prefix != NULL &&
				    strcmp(c->locations[i].prefix, arg) == 0)
					break;
			if ((why = prefix_check(arg)) != NULL)
				perr(p, "<Location>: bad prefix \"%s\": %s",
				    arg, why);
			else if (i + 1 < c->nlocations)
				perr(p, "duplicate location %s (first at "
				    "%s:%d)", arg, c->locations[i].file,
				    c->locations[i].line);
		}
	} else if (kind == SEC_ROUTE) {
		if ((r = conf_append(p, c->routes, c->nroutes, sizeof(*r))) ==
		    NULL)
			goto done;
		c->routes = r;
		p->sec_at = c->nroutes++;
		r = &c->routes[p->sec_at];
		conf_run_init(p, &r->run);
		r->max_concurrent = 16;
		r->max_body = -1;
		r->prestart_max_age_ms = 300 * T_SEC;
		r->file = p->file;
		r->line = p->line;
		/* Kept even when bad, to name the route in later messages. */
		if (arg != NULL && (r->prefix = conf_strdup(p, arg)) != NULL) {
			for (i = 0; i + 1 < c->nroutes; i++)
				if (c->routes[i].prefix != NULL &&
				    strcmp(c->routes[i].prefix, arg) == 0)
					break;
			if ((why = prefix_check(arg)) != NULL)
				perr(p, "<Route>: bad prefix \"%s\": %s", arg,
				    why);
			else if (i + 1 < c->nroutes)
				perr(p, "duplicate route prefix %s (first at "
				    "%s:%d)", arg, c->routes[i].file,
				    c->routes[i].line);
		}
	} else {
		if ((q = conf_append(p, c->queues, c->nqueues, sizeof(*q))) ==
		    NULL)
			goto done;
		c->queues = q;
		p->sec_at = c->nqueues++;
		q = &c->queues[p->sec_at];
		conf_run_init(p, &q->run);
		q->concurrency = 1;
		q->retries = 3;
		q->type = CONF_Q_STREAM;
		q->claim_after_ms = 60 * T_SEC;
		q->file = p->file;
		q->line = p->line;
		if (arg != NULL && (q->name = conf_strdup(p, arg)) != NULL) {
			for (i = 0; i + 1 < c->nqueues; i++)
				if (c->queues[i].name != NULL &&
				    strcmp(c->queues[i].name, arg) == 0)
					break;
			if ((why = queue_name_check(arg)) != NULL)
				perr(p, "<Queue>: bad name \"%s\": %s", arg,
				    why);
			else if (i + 1 < c->nqueues)
				perr(p, "duplicate queue name %s (first at "
				    "%s:%d)", arg, c->queues[i].file,
				    c->queues[i].line);
		}
	}
	p->sec = kind;
	p->sec_file = p->file;
	p->sec_line = p->line;
	p->sec_text = conf_strdup(p, p->text);
	memset(p->seen_sec, 0, sizeof(p->seen_sec));
done:
	return;
}

static void
conf_section_close(struct parser *p)
{
	if ((p->sec == SEC_ROUTE || p->sec == SEC_QUEUE) &&
	    cur_run(p)->image == NULL && conf_seen(p, "Image", W_RUN) == NULL)
		conf_report(p, p->sec_file, p->sec_line, p->sec_text,
		    "<%s %s> has no Image", sec_kind(p->sec), sec_arg(p));
	if (p->sec == SEC_ROUTE || p->sec == SEC_LOCATION)
		access_close(p);
	free(p->sec_text);
	p->sec_text = NULL;
	p->sec = SEC_TOP;
}

/* A line starting with '<': "<Route /x>", "</Route>", ... */
static void
conf_section(struct parser *p, int argc, char **argv)
{
	enum conf_section	 kind = SEC_SKIP;
	const char		*name = argv[0] + 1;
	char			*last = argv[argc - 1];
	size_t			 n = strlen(last);
	int			 closing = 0;

	if (*name == '/') {
		closing = 1;
		name++;
	}
	if (n > 0 && last[n - 1] == '>') {
		last[n - 1] = '\0';
		if (n == 1 && argc > 1)
			argc--;		/* a '>' of its own: "<Route /x >" */
	} else if (p->sec != SEC_SKIP)
		perr(p, "missing '>' at the end of the section tag");
	if (strcasecmp(name, "Route") == 0)
		kind = SEC_ROUTE;
	else if (strcasecmp(name, "Queue") == 0)
		kind = SEC_QUEUE;
	else if (strcasecmp(name, "Location") == 0)
		kind = SEC_LOCATION;

	if (p->sec == SEC_SKIP) {
		/* Inside an unknown section, only its end matters. */
		if (closing)
			p->sec = SEC_TOP;
		goto done;
	}
	if (closing) {
		if (argc != 1)
			perr(p, "</%s> takes no arguments", name);
		if (kind == SEC_SKIP)
			perr(p, "unknown section </%s>", name);
		else if (p->sec == SEC_TOP)
			perr(p, "</%s> without a matching <%s>",
			    sec_kind(kind), sec_kind(kind));
		else if (p->sec != kind) {
			perr(p, "</%s> closes <%s %s> opened at line %d",
			    sec_kind(kind), sec_kind(p->sec), sec_arg(p),
			    p->sec_line);
			conf_section_close(p);
		} else
			conf_section_close(p);
		goto done;
	}
	if (kind == SEC_SKIP) {
		perr(p, "unknown section <%s>", name);
		if (p->sec == SEC_TOP)
			p->sec = SEC_SKIP;
		goto done;
	}
	if (p->sec != SEC_TOP) {
		/* Most likely a forgotten end tag: end the open one here. */
		perr(p, "nested sections: <%s> inside <%s %s> opened at "
		    "line %d", sec_kind(kind), sec_kind(p->sec), sec_arg(p),
		    p->sec_line);
		conf_section_close(p);
	}
	if (argc != 2)
		perr(p, "<%s> takes 1 argument, got %d", sec_kind(kind),
		    argc - 1);
	conf_section_open(p, kind, argc == 2 ? argv[1] : NULL);
done:
	return;
}

/*
 * Lines.
 */

static void
where_text(unsigned w, char *buf, size_t len)
{
	const char	*top = "outside sections";

	if (w == W_TOP)
		(void)snprintf(buf, len, "%s", top);
	else if (w == W_RUN)
		(void)snprintf(buf, len, "inside <Route> or <Queue>");
	else if (w == W_ROUTE)
		(void)snprintf(buf, len, "inside <Route>");
	else if (w == W_QUEUE)
		(void)snprintf(buf, len, "inside <Queue>");
	else if (w == W_ACCESS)
		(void)snprintf(buf, len, "inside <Route> or <Location>");
	else if (w == (W_TOP | W_ROUTE))
		(void)snprintf(buf, len, "%s or inside <Route>", top);
	else
		(void)snprintf(buf, len, "%s or inside <Route> or <Queue>",
		    top);
}

static void
args_text(const struct directive *d, char *buf, size_t len)
{
	const char	*s = d->minargs == 1 ? "" : "s";

	if (d->maxargs == -1)
		(void)snprintf(buf, len, "at least %d argument%s", d->minargs,
		    s);
	else if (d->maxargs == d->minargs)
		(void)snprintf(buf, len, "%d argument%s", d->minargs, s);
	else if (d->maxargs == d->minargs + 1)
		(void)snprintf(buf, len, "%d or %d arguments", d->minargs,
		    d->maxargs);
	else
		(void)snprintf(buf, len, "%d to %d arguments", d->minargs,
		    d->maxargs);
}

static void
conf_directive(struct parser *p, int argc, char **argv)
{
	const struct directive	*d = NULL, *named = NULL;
	struct seen		*seen;
	char			 buf[64];
	unsigned		 here, allowed = 0;
	size_t			 i;
	int			 nargs = argc - 1;

	if (argv[0][0] == '<') {
		conf_section(p, argc, argv);
		goto done;
	}
	if (p->sec == SEC_SKIP)
		goto done;
	here = p->sec == SEC_TOP ? W_TOP : p->sec == SEC_ROUTE ? W_ROUTE :
	    p->sec == SEC_LOCATION ? W_LOCATION : W_QUEUE;
	for (i = 0; i < NDIRECTIVES && d == NULL; i++) {
		if (strcasecmp(directives[i].name, argv[0]) != 0)
			continue;
		named = &directives[i];
		allowed |= named->where;
		if (named->where & here)
			d = named;
	}
	if (named == NULL) {
		perr(p, "unknown directive \"%s\"", argv[0]);
		goto done;
	}
	if (d == NULL) {
		where_text(allowed, buf, sizeof(buf));
		if (here == W_TOP)
			perr(p, "%s is not valid outside a section (only %s)",
			    named->name, buf);
		else
			perr(p, "%s is not valid inside <%s> (only %s)",
			    named->name, sec_kind(p->sec), buf);
		goto done;
	}
	if (nargs < d->minargs || (d->maxargs >= 0 && nargs > d->maxargs)) {
		args_text(d, buf, sizeof(buf));
		perr(p, "%s takes %s, got %d", d->name, buf, nargs);
		goto done;
	}
	if (!d->repeat) {
		seen = (here == W_TOP ? p->seen_top : p->seen_sec) +
		    (d - directives);
		if (seen->file != NULL) {
			perr(p, "%s given twice (first at %s:%d)", d->name,
			    seen->file, seen->line);
			goto done;
		}
		seen->file = p->file;
		seen->line = p->line;
	}
	(void)d->fn(p, d, nargs, argv + 1);
done:
	return;
}

/*
 * Split a logical line into words.  Blanks separate words; '#' at the
 * start of a word begins a comment; double quotes keep blanks and '#' in a
 * word and take \" and \\ as escapes (any other backslash stays as it
 * is).  Quoted and unquoted parts next to each other make one word, as in
 * sh(1): Env GREETING="hello world".
 */
static int
conf_split(struct parser *p, struct lexer *lx, const char *s, size_t len,
    int *argcp)
{
	char	*w = lx->words;
	size_t	 i = 0;
	int	 argc = 0, rc = -1;

	for (;;) {
		while (i < len && is_blank((unsigned char)s[i]))
			i++;
		if (i == len || s[i] == '#')
			break;
		if (argc == CONF_MAX_ARGS) {
			perr(p, "too many words on one line (more than %d)",
			    CONF_MAX_ARGS);
			goto done;
		}
		lx->argv[argc++] = w;
		while (i < len && !is_blank((unsigned char)s[i])) {
			if (s[i] != '"') {
				*w++ = s[i++];
				continue;
			}
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len &&
				    (s[i + 1] == '"' || s[i + 1] == '\\'))
					i++;
				*w++ = s[i];
			}
			if (i == len) {
				perr(p, "unterminated quoted string");
				goto done;
			}
			i++;
		}
		*w++ = '\0';
	}
	lx->argv[argc] = NULL;
	*argcp = argc;
	rc = 0;
done:
	return rc;
}

/*
 * Read logical lines: a backslash at the end of a physical line (blanks
 * after it ignored) joins the next one to it, as in Apache; messages
 * carry the number of the first.
 */
static void
conf_parse_buffer(struct parser *p, struct lexer *lx, const char *buf,
    size_t size)
{
	const char	*phys, *nl;
	char		*text;
	size_t		 pos = 0, plen, llen, n;
	int		 lineno = 0, first, cont, toolong, argc;

	while (pos < size && !p->oom) {
		first = lineno + 1;
		llen = 0;
		toolong = 0;
		do {
			phys = buf + pos;
			nl = memchr(phys, '\n', size - pos);
			plen = nl != NULL ? (size_t)(nl - phys) : size - pos;
			pos += plen + (nl != NULL);
			lineno++;
			n = plen;
			while (n > 0 && is_blank((unsigned char)phys[n - 1]))
				n--;
			cont = n > 0 && phys[n - 1] == '\\';
			if (cont)
				plen = n - 1;
			/* Keep what fits: the message quotes its start. */
			if (plen > CONF_MAX_LINE - llen) {
				plen = CONF_MAX_LINE - llen;
				toolong = 1;
			}
			memcpy(lx->line + llen, phys, plen);
			llen += plen;
		} while (cont && pos < size);

		/* Trim, and keep the result for messages. */
		while (llen > 0 && is_blank((unsigned char)lx->line[llen - 1]))
			llen--;
		lx->line[llen] = '\0';
		for (text = lx->line; is_blank((unsigned char)*text); text++)
			llen--;
		p->line = first;
		p->text = text;
		if (toolong)
			perr(p, "line too long (more than %d bytes)",
			    CONF_MAX_LINE);
		else if (conf_split(p, lx, text, llen, &argc) == 0 && argc > 0)
			conf_directive(p, argc, lx->argv);
		p->text = NULL;
	}
}

/*
 * Read one file.  `name` is what messages call it, `path` where it is.
 * Errors opening it belong to the Include line that named it, or, for
 * the main file, to the file itself.
 */
static void
conf_parse_file(struct parser *p, const char *name, const char *path)
{
	struct stat	 st;
	struct lexer	*lx = NULL;
	const char	*ofile = p->file, *otext = p->text, *where;
	char		*buf = NULL, *real = NULL, *nul;
	size_t		 got = 0, cap;
	ssize_t		 r;
	int		 fd = -1, oline = p->line, i, pushed = 0, wline;

	where = ofile != NULL ? ofile : name;
	wline = ofile != NULL ? oline : 0;
	/*
	 * O_NONBLOCK: a FIFO (an Include glob may reach one) must not hang
	 * the parse; it is refused below as not a regular file.
	 */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) ==
	    -1) {
		conf_report(p, where, wline, otext, "cannot open %s: %s", name,
		    strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) == -1) {
		conf_report(p, where, wline, otext, "cannot stat %s: %s", name,
		    strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_report(p, where, wline, otext, "%s is not a regular file",
		    name);
		goto done;
	}
	if (st.st_size > CONF_MAX_FILE) {
		conf_report(p, where, wline, otext, "%s is too large (more "
		    "than %d bytes)", name, CONF_MAX_FILE);
		goto done;
	}
	/* Just opened, so realpath() can hardly fail but for memory. */
	if ((real = realpath(path, NULL)) == NULL) {
		if (errno == ENOMEM) {
			conf_oom(p);
			goto done;
		}
		if ((real = conf_strdup(p, path)) == NULL)
			goto done;
	}
	for (i = 0; i < p->depth; i++)
		if (strcmp(p->open[i], real) == 0) {
			conf_report(p, where, wline, otext, "Include loop: %s "
			    "is already being read", name);
			goto done;
		}
	if (p->depth > CONF_MAX_DEPTH) {
		conf_report(p, where, wline, otext, "Include nested more than "
		    "%d deep at %s", CONF_MAX_DEPTH, name);
		goto done;
	}
	p->open[p->depth++] = real;
	real = NULL;
	pushed = 1;

	/* One byte more than fstat said, to notice a file that grows. */
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap)) == NULL) {
		conf_oom(p);
		goto done;
	}
	while (got < cap && (r = read(fd, buf + got, cap - got)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			conf_report(p, where, wline, otext,
			    "cannot read %s: %s", name, strerror(errno));
			goto done;
		}
		got += (size_t)r;
	}
	if (got == cap) {
		conf_report(p, where, wline, otext, "%s changed while it was "
		    "being read", name);
		goto done;
	}
	if ((lx = malloc(sizeof(*lx))) == NULL) {
		conf_oom(p);
		goto done;
	}
	if (conf_files_add(p, name, &p->file) == -1)
		goto done;
	if ((nul = memchr(buf, '\0', got)) != NULL) {
		for (i = 1, r = 0; buf + r < nul; r++)
			i += buf[r] == '\n';
		conf_report(p, p->file, i, NULL, "NUL byte in the file; is it "
		    "text?");
		goto done;
	}
	conf_parse_buffer(p, lx, buf, got);
	if (p->sec == SEC_ROUTE || p->sec == SEC_QUEUE) {
		conf_report(p, p->sec_file, p->sec_line, p->sec_text,
		    "unclosed <%s %s> at end of file", sec_kind(p->sec),
		    sec_arg(p));
		conf_section_close(p);
	} else if (p->sec == SEC_SKIP) {
		/* The unknown section was reported where it began. */
		p->sec = SEC_TOP;
	}
done:
	if (pushed)
		free(p->open[--p->depth]);
	p->file = ofile;
	p->line = oline;
	p->text = otext;
	free(real);
	free(buf);
	free(lx);
	if (fd != -1)
		close(fd);
}

/*
 * What can only be checked once everything has been read.
 */
static void
conf_finish(struct parser *p)
{
	struct conf		*c = p->conf;
	struct conf_listen	*l;
	struct conf_run		*run;
	const struct seen	*cert, *key;
	const char		*sock;
	char			 hbuf[PATH_MAX];
	size_t			 i, j, n;
	int			 v6;

	if (c->nlistens == 0)
		conf_report(p, c->files[0], 0, NULL,
		    "no Listen directive: at least one is needed");

	/* Given but bad was reported on its line already. */
	cert = conf_seen(p, "TLSCertificateFile", W_TOP);
	key = conf_seen(p, "TLSCertificateKeyFile", W_TOP);
	if (cert != NULL && key == NULL)
		conf_report(p, cert->file, cert->line, NULL,
		    "TLSCertificateFile without TLSCertificateKeyFile");
	if (key != NULL && cert == NULL)
		conf_report(p, key->file, key->line, NULL,
		    "TLSCertificateKeyFile without TLSCertificateFile");
	for (i = 0; i < c->nlistens && (cert == NULL || key == NULL); i++) {
		l = &c->listens[i];
		if (!l->tls)
			continue;
		v6 = l->addr != NULL && strchr(l->addr, ':') != NULL;
		conf_report(p, l->file, l->line, NULL, "Listen %s%s%s%s%s tls "
		    "needs TLSCertificateFile and TLSCertificateKeyFile",
		    v6 ? "[" : "", l->addr != NULL ? l->addr : "",
		    v6 ? "]" : "", l->addr != NULL ? ":" : "", l->port);
	}
	for (i = 0; i < c->nqueues && conf_seen(p, "Redis", W_TOP) == NULL;
	    i++)
		conf_report(p, c->queues[i].file, c->queues[i].line, NULL,
		    "<Queue %s> needs a Redis directive: the queue is a Redis "
		    "stream or list",
		    c->queues[i].name != NULL ? c->queues[i].name : "");

	if (c->health != NULL && c->metrics != NULL &&
	    strcmp(c->health, c->metrics) == 0) {
		const struct seen *m = conf_seen(p, "Metrics", W_TOP);

		conf_report(p, m->file, m->line, NULL, "Metrics %s is the "
		    "Health path too: each needs a path of its own",
		    c->metrics);
	}

	/* Mounts given before DockerHost have not seen its socket yet. */
	sock = unix_socket_of(c->docker_host, hbuf, sizeof(hbuf));
	n = c->nroutes + c->nqueues;
	for (i = 0; sock != NULL && i < n && !p->oom; i++) {
		run = i < c->nroutes ? &c->routes[i].run :
		    &c->queues[i - c->nroutes].run;
		for (j = 0; j < run->nmounts; j++)
			(void)conf_mount_check(p, run->mounts[j].src, &sock, 1,
			    run->mounts[j].file, run->mounts[j].line, NULL);
	}
}

static void
conf_run_free(struct conf_run *run)
{
	size_t	 i;

	free(run->image);
	strv_free(run->command);
	strv_free(run->env);
	free(run->network);
	free(run->user);
	free(run->runtime);
	for (i = 0; i < run->nmounts; i++) {
		free(run->mounts[i].src);
		free(run->mounts[i].dst);
	}
	free(run->mounts);
	for (i = 0; i < run->nsecrets; i++) {
		free(run->secrets[i].name);
		free(run->secrets[i].src);
		free(run->secrets[i].copy);
	}
	free(run->secrets);
}

static void
conf_free(struct conf *c)
{
	size_t	 i;

	free(c->path);
	free(c->server_root);
	for (i = 0; i < c->nlistens; i++) {
		free(c->listens[i].addr);
		free(c->listens[i].port);
	}
	free(c->listens);
	free(c->document_root);
	free(c->mime_types);
	free(c->error_log);
	free(c->access_log);
	free(c->server_name);
	free(c->server_user);
	free(c->tls_cert);
	free(c->tls_key);
	if (c->tls_ciphers != NULL) {
		for (char **v = c->tls_ciphers; *v != NULL; v++)
			free(*v);
		free(c->tls_ciphers);
	}
	free(c->docker_host);
	free(c->redis);
	free(c->consumer);
	free(c->health);
	free(c->metrics);
	for (i = 0; i < c->nlocations; i++) {
		free(c->locations[i].prefix);
		access_free(&c->locations[i].access);
	}
	free(c->locations);
	for (i = 0; i < c->nroutes; i++) {
		access_free(&c->routes[i].access);
		free(c->routes[i].prefix);
		strv_free(c->routes[i].preload_modules);
		conf_run_free(&c->routes[i].run);
	}
	free(c->routes);
	for (i = 0; i < c->nqueues; i++) {
		free(c->queues[i].name);
		free(c->queues[i].group);
		conf_run_free(&c->queues[i].run);
	}
	free(c->queues);
	for (i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c);
}

static void
conf_defaults(struct parser *p)
{
	struct conf	*c = p->conf;

	if ((c->document_root = path_join(c->server_root, "www")) == NULL ||
	    (c->mime_types = path_join(c->server_root,
	    "conf/mime.types")) == NULL ||
	    (c->error_log = strdup("stderr")) == NULL ||
	    (c->access_log = strdup("stdout")) == NULL)
		conf_oom(p);
	c->access_format = CONF_LOG_COMBINED;
	c->max_containers = 64;
	c->max_starting = CONF_MAX_STARTING;
	c->privsep = 1;
	c->tls_tickets = 1;
	c->tls_protocols = CONF_TLS_1_2 | CONF_TLS_1_3;
	c->max_connections = 1024;
	c->max_conns_per_client = 256;
	c->max_containers_per_client = 16;
	c->max_request_line = 8 * KB;
	c->max_header_size = 16 * KB;
	c->max_headers = 100;
	c->max_body = 1 * MB;
	c->header_timeout_ms = 10 * T_SEC;
	c->body_timeout_ms = 30 * T_SEC;
	c->send_timeout_ms = 30 * T_SEC;
	c->keepalive_timeout_ms = 60 * T_SEC;
	c->keepalive_requests = 1000;
	c->grace_ms = 10 * T_SEC;
}

struct conf *
conf_load(const char *path, const char *server_root, conf_errfn errfn,
    void *arg)
{
	struct parser	*p = NULL;
	struct conf	*c = NULL, *ret = NULL;
	char		*abspath = NULL;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		if (errfn != NULL)
			errfn(arg, "out of memory");
		goto done;
	}
	p->conf = c;
	p->errfn = errfn;
	p->arg = arg;
	c->refs = 1;
	if (path == NULL || *path == '\0') {
		conf_report(p, "(none)", 0, NULL,
		    "no configuration file given");
		goto done;
	}
	if ((c->path = conf_strdup(p, path)) == NULL)
		goto done;
	if (server_root == NULL || server_root[0] != '/') {
		conf_report(p, path, 0, NULL, "the server root \"%s\" is not "
		    "an absolute path", server_root != NULL ? server_root : "");
		goto done;
	}
	/* Leave room below it for the default paths. */
	if (strlen(server_root) >= PATH_MAX - 64) {
		conf_report(p, path, 0, NULL, "the server root is too long");
		goto done;
	}
	if ((c->server_root = path_join("/", server_root)) == NULL) {
		conf_oom(p);
		goto done;
	}
	conf_defaults(p);
	if (p->oom)
		goto done;
	if ((abspath = path_join(c->server_root, path)) == NULL) {
		if (errno == ENAMETOOLONG)
			conf_report(p, path, 0, NULL, "path too long");
		else
			conf_oom(p);
		goto done;
	}
	conf_parse_file(p, path, abspath);
	/* When the main file could not be read, there is nothing to add. */
	if (!p->oom && c->nfiles > 0)
		conf_finish(p);
	if (p->nerrors == 0) {
		ret = c;
		c = NULL;
	}
done:
	if (c != NULL)
		conf_free(c);
	if (p != NULL)
		free(p->sec_text);
	free(p);
	free(abspath);
	return ret;
}

struct conf *
conf_ref(struct conf *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c != NULL && --c->refs == 0)
		conf_free(c);
}

/*
 * A prefix matches the path itself and anything below it: "/vote" takes
 * "/vote", "/vote/" and "/vote/x", not "/voter".  A prefix with a trailing
 * slash, "/app/", takes "/app/" and what is below it, and "/app" too: the
 * server answers that with a 301 to "/app/" (as nginx and Go's cgi host
 * mount such a handler).  The longest one wins.  0: no match, else the
 * prefix's length.
 */
static size_t
prefix_match(const char *prefix, const char *path)
{
	size_t n;

	if (prefix == NULL)
		return 0;
	n = strlen(prefix);
	if (n > 1 && prefix[n - 1] == '/') {
		if (strncmp(path, prefix, n) != 0 &&
		    (strncmp(path, prefix, n - 1) != 0 || path[n - 1] != '\0'))
			return 0;
	} else if (n > 1 && (strncmp(path, prefix, n) != 0 ||
	    (path[n] != '\0' && path[n] != '/')))
		return 0;
	return n;
}

const struct conf_route *
conf_route_match(const struct conf *c, const char *path)
{
	const struct conf_route	*best = NULL;
	size_t			 i, n, bestlen = 0;

	if (c == NULL || path == NULL || path[0] != '/')
		return NULL;
	for (i = 0; i < c->nroutes; i++)
		if ((n = prefix_match(c->routes[i].prefix, path)) > 0 &&
		    (best == NULL || n > bestlen)) {
			best = &c->routes[i];
			bestlen = n;
		}
	return best;
}

/*
 * The access rules for a path: those of the longest prefix, among the
 * <Location>s and the <Route>s that have any, that matches it; NULL when
 * none does (everyone may).
 */
const struct access *
conf_access_match(const struct conf *c, const char *path)
{
	const struct access	*best = NULL;
	size_t			 i, n, bestlen = 0;

	if (c == NULL || path == NULL || path[0] != '/')
		return NULL;
	for (i = 0; i < c->nlocations; i++)
		if (c->locations[i].access.set &&
		    (n = prefix_match(c->locations[i].prefix, path)) > 0 &&
		    n > bestlen) {
			best = &c->locations[i].access;
			bestlen = n;
		}
	for (i = 0; i < c->nroutes; i++)
		if (c->routes[i].access.set &&
		    (n = prefix_match(c->routes[i].prefix, path)) > 0 &&
		    n > bestlen) {
			best = &c->routes[i].access;
			bestlen = n;
		}
	return best;
}
