/*
 * static.c: GET and HEAD for files under DocumentRoot.
 *
 * Containment is the kernel's job: every file is opened with openat2(2)
 * and RESOLVE_BENEATH relative to a descriptor of the document root, so
 * neither "..", nor an encoded dot that slipped through, nor a symbolic
 * link can reach outside it.  Directories are never listed.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "http.h"
#include "log.h"
#include "static.h"

struct mime_entry {
	char	*ext;
	char	*type;
};

struct mime {
	struct mime_entry *v;
	size_t		   n;
};

static int
mime_cmp(const void *a, const void *b)
{
	const struct mime_entry *x = a, *y = b;

	return strcasecmp(x->ext, y->ext);
}

/* mime.types: "type/subtype ext ext ...", '#' comments. */
struct mime *
mime_load(const char *path, char *err, size_t errlen)
{
	struct mime *m;
	FILE *f;
	char *line = NULL;
	size_t cap = 0, vcap = 0;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(m);
		return NULL;
	}
	while (getline(&line, &cap, f) != -1) {
		char *save, *type, *ext, *h;

		if ((h = strchr(line, '#')) != NULL)
			*h = '\0';
		if ((type = strtok_r(line, " \t\r\n", &save)) == NULL)
			continue;
		while ((ext = strtok_r(NULL, " \t\r\n;", &save)) != NULL) {
			if (m->n == vcap) {
				size_t nc = vcap ? vcap * 2 : 128;
				struct mime_entry *nv;
				if ((nv = realloc(m->v, nc * sizeof(*nv))) == NULL)
					goto oom;
				m->v = nv;
				vcap = nc;
			}
			m->v[m->n].ext = strdup(ext);
			m->v[m->n].type = strdup(type);
			if (m->v[m->n].ext == NULL || m->v[m->n].type == NULL) {
				free(m->v[m->n].ext);
				free(m->v[m->n].type);
				goto oom;
			}
			m->n++;
		}
	}
	free(line);
	fclose(f);
	if (m->n > 0)
		qsort(m->v, m->n, sizeof(*m->v), mime_cmp);
	return m;
oom:
	snprintf(err, errlen, "out of memory");
	free(line);
	fclose(f);
	mime_free(m);
	return NULL;
}

void
mime_free(struct mime *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].ext);
		free(m->v[i].type);
	}
	free(m->v);
	free(m);
}

const char *
mime_lookup(const struct mime *m, const char *name)
{
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
	struct mime_entry key, *e;

	if (m == NULL || dot == NULL || (slash != NULL && dot < slash) ||
	    dot[1] == '\0')
		return "application/octet-stream";
	key.ext = (char *)dot + 1;
	e = bsearch(&key, m->v, m->n, sizeof(*m->v), mime_cmp);
	return e ? e->type : "application/octet-stream";
}

/* Is the file open as fd inside the directory open as rootfd? */
static int
static_beneath(int rootfd, int fd)
{
	char p[64], root[4096], file[4096];
	ssize_t rl, fl;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", rootfd);
	if ((rl = readlink(p, root, sizeof(root))) <= 0 ||
	    (size_t)rl >= sizeof(root))
		return 0;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	if ((fl = readlink(p, file, sizeof(file))) <= 0 ||
	    (size_t)fl >= sizeof(file))
		return 0;
	if (rl == 1)			/* the root is "/" */
		return 1;
	return fl >= rl && memcmp(root, file, (size_t)rl) == 0 &&
	    (fl == rl || file[rl] == '/');
}

/*
 * Open small files kept between requests: a hit costs one fstatat(2)
 * instead of openat2 + fstat + close.  An entry is used only while its
 * path still leads to the same inode with the same mode, owner and change
 * time, so an edit in place is seen at once (size and times always come
 * fresh from that fstatat) and a file renamed over it, removed or turned into a
 * link elsewhere is a miss and goes through static_open() again.  Only
 * regular files up to STATIC_SMALL_FILE: the server reads them into
 * memory before it returns to the loop, so no cached descriptor is ever
 * in use by a request when it is closed.
 */
#define FCACHE_SLOTS	64
#define FCACHE_PATH	240

struct fcache {
	int	used;
	int	fd;
	dev_t	dev;
	ino_t	ino;
	mode_t	mode;
	uid_t	uid;
	gid_t	gid;
	struct timespec ctim;	/* an ACL or label change moves it too */
	char	path[FCACHE_PATH];
};

static struct fcache fcache[FCACHE_SLOTS];

static struct fcache *
fcache_slot(const char *rel)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &fcache[h % FCACHE_SLOTS];
}

static void
fcache_evict(struct fcache *e)
{
	if (e->used)
		close(e->fd);
	e->used = 0;
}

void
static_cache_flush(void)
{
	for (size_t i = 0; i < FCACHE_SLOTS; i++)
		fcache_evict(&fcache[i]);
}

static int
fcache_get(int rootfd, const char *rel, struct stat *st)
{
	struct fcache *e = fcache_slot(rel);

	if (!e->used || strcmp(e->path, rel) != 0)
		return -1;
	if (fstatat(rootfd, rel, st, 0) == 0 && S_ISREG(st->st_mode) &&
	    st->st_dev == e->dev && st->st_ino == e->ino &&
	    st->st_mode == e->mode && st->st_uid == e->uid &&
	    st->st_gid == e->gid && st->st_ctim.tv_sec == e->ctim.tv_sec &&
	    st->st_ctim.tv_nsec == e->ctim.tv_nsec &&
	    st->st_size <= STATIC_SMALL_FILE)
		return e->fd;
	fcache_evict(e);
	return -1;
}

/* Keep fd for rel; 1 when the cache owns it now. */
static int
fcache_put(const char *rel, int fd, const struct stat *st)
{
	struct fcache *e;

	if (!S_ISREG(st->st_mode) || st->st_size > STATIC_SMALL_FILE ||
	    strlen(rel) >= FCACHE_PATH)
		return 0;
	e = fcache_slot(rel);
	fcache_evict(e);
	e->used = 1;
	e->fd = fd;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->mode = st->st_mode;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->ctim = st->st_ctim;
	memcpy(e->path, rel, strlen(rel) + 1);
	return 1;
}

static int
static_open(int rootfd, const char *rel)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	/* O_NONBLOCK: opening a FIFO left in the tree must not hang us. */
	how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd == -1 && errno == ENOSYS) {
		/*
		 * Kernels before 5.6 (and valgrind) have no openat2: open,
		 * then ask the kernel where the descriptor really is.  The
		 * path is normalised already, so only links can lead out.
		 */
		fd = openat(rootfd, rel, (int)how.flags);
		if (fd != -1 && !static_beneath(rootfd, fd)) {
			close(fd);
			fd = -1;
			errno = EXDEV;
		}
	}
	return fd;
}

static void
static_hdr(struct static_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
static_hdr(struct static_reply *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->headers + r->hlen, sizeof(r->headers) - r->hlen, fmt,
	    ap);
	va_end(ap);
	/* Our own headers are short; one that does not fit is dropped. */
	if (n > 0 && (size_t)n < sizeof(r->headers) - r->hlen)
		r->hlen += (size_t)n;
	else
		r->headers[r->hlen] = '\0';
}

/* Append strings up to a NULL; the hot path's headers, without printf. */
static void
static_cat(struct static_reply *r, ...)
{
	size_t start = r->hlen, n;
	const char *p;
	va_list ap;

	va_start(ap, r);
	while ((p = va_arg(ap, const char *)) != NULL) {
		n = strlen(p);
		if (n >= sizeof(r->headers) - r->hlen) {
			r->hlen = start;	/* as static_hdr: dropped */
			break;
		}
		memcpy(r->headers + r->hlen, p, n);
		r->hlen += n;
	}
	va_end(ap);
	r->headers[r->hlen] = '\0';
}

/* Last-Modified of the file served last: most requests ask for the same. */
static void
static_lastmod(time_t t, char lm[30])
{
	static time_t	last = -1;
	static char	buf[30];

	if (t != last) {
		http_date(t, buf);
		last = t;
	}
	memcpy(lm, buf, 30);
}

/* RFC 9110 §13.1.2: does the If-None-Match list match (weak compare)? */
static int
static_etag_match(const char *list, const char *etag, int weak)
{
	const char *p = list;
	size_t el = strlen(etag);

	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(p, "*") == 0)
		return 1;
	while (*p != '\0') {
		const char *e;
		int isweak = 0;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncmp(p, "W/", 2) == 0) {
			isweak = 1;
			p += 2;
		}
		if (*p != '"')
			return 0;
		if ((e = strchr(p + 1, '"')) == NULL)
			return 0;
		if ((size_t)(e - p + 1) == el && strncmp(p, etag, el) == 0 &&
		    (weak || !isweak))
			return 1;
		p = e + 1;
	}
	return 0;
}

/* Let go of the body's descriptor: closed, unless the cache owns it. */
static void
static_release(struct static_reply *r)
{
	if (r->fd != -1 && !r->fd_cached)
		close(r->fd);
	r->fd = -1;
	r->fd_cached = 0;
}

static void
static_error(struct static_reply *r, int status)
{
	r->status = status;
	r->len = 0;
	static_release(r);
}

void
static_handle(int rootfd, const struct mime *mime,
    const struct http_request *req, struct static_reply *r)
{
	char rel[4096], etag[64], lm[30], *p;
	const char *path = req->path, *h, *type;
	struct stat st;
	int64_t first, last;
	int n, isdir;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->status = 200;

	/* openat2 wants a path relative to the root: drop the '/'. */
	isdir = path[strlen(path) - 1] == '/';
	n = snprintf(rel, sizeof(rel), "%s%s", path + 1,
	    isdir ? "index.html" : "");
	if (n < 0 || (size_t)n >= sizeof(rel)) {
		static_error(r, 404);
		return;
	}
	if ((r->fd = fcache_get(rootfd, rel, &st)) != -1)
		r->fd_cached = 1;
	else if ((r->fd = static_open(rootfd, rel)) == -1) {
		if (errno == ENOENT && isdir) {
			/* A directory without an index: it is not listed. */
			rel[n - strlen("index.html")] = '\0';
			if ((r->fd = static_open(rootfd, rel[0] ? rel : ".")) != -1) {
				static_error(r, 403);
				return;
			}
			errno = ENOENT;
		}
		switch (errno) {
		case ENOENT:
		case ENOTDIR:
		case ENAMETOOLONG:
			static_error(r, 404);
			break;
		case EXDEV:		/* RESOLVE_BENEATH refused an escape */
		case ELOOP:
		case EACCES:
		case EPERM:
			static_error(r, 403);
			break;
		default:
			log_error("open %s: %s", rel, strerror(errno));
			static_error(r, 500);
			break;
		}
		return;
	}
	if (!r->fd_cached && fstat(r->fd, &st) == -1) {
		log_error("fstat %s: %s", rel, strerror(errno));
		static_error(r, 500);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		/* A directory without its slash: send the client to it. */
		const char *q = req->query;
		static_error(r, path[strlen(path) - 1] == '/' ? 403 : 301);
		if (r->status == 301)
			static_hdr(r, "Location: %s/%s%s\r\n", path, q ? "?" : "",
			    q ? q : "");
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		static_error(r, 403);
		return;
	}
	if (!r->fd_cached)
		r->fd_cached = fcache_put(rel, r->fd, &st);

	/* "mtime-in-ns-size" in hex */
	p = etag;
	*p++ = '"';
	p = http_fmt_hex(p, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
	    (uint64_t)st.st_mtim.tv_nsec, 0);
	*p++ = '-';
	p = http_fmt_hex(p, (uint64_t)st.st_size, 0);
	*p++ = '"';
	*p = '\0';
	static_lastmod(st.st_mtim.tv_sec, lm);

	/* RFC 9110 §13.2.2: the order in which preconditions are checked. */
	if ((h = http_header_get(req, "If-Match")) != NULL) {
		if (!static_etag_match(h, etag, 0)) {
			static_error(r, 412);
			return;
		}
	} else if ((h = http_header_get(req, "If-Unmodified-Since")) != NULL) {
		time_t t = http_date_parse(h);
		if (t != -1 && st.st_mtim.tv_sec > t) {
			static_error(r, 412);
			return;
		}
	}
	if ((h = http_header_get(req, "If-None-Match")) != NULL) {
		if (static_etag_match(h, etag, 1))
			r->status = 304;
	} else if ((h = http_header_get(req, "If-Modified-Since")) != NULL) {
		time_t t = http_date_parse(h);
		if (t != -1 && st.st_mtim.tv_sec <= t)
			r->status = 304;
	}
	if (r->status == 304) {
		static_release(r);
		static_cat(r, "ETag: ", etag, "\r\nLast-Modified: ", lm, "\r\n",
		    NULL);
		return;
	}

	type = mime_lookup(mime, rel);
	static_cat(r, "Content-Type: ", type,
	    strncmp(type, "text/", 5) == 0 ||
	    strcmp(type, "application/javascript") == 0 ||
	    strcmp(type, "application/json") == 0 ? "; charset=utf-8" : "",
	    "\r\nLast-Modified: ", lm, "\r\nETag: ", etag,
	    "\r\nAccept-Ranges: bytes\r\nX-Content-Type-Options: nosniff\r\n",
	    NULL);
	r->off = 0;
	r->len = st.st_size;

	/* A Range is honoured only if If-Range (when sent) still matches. */
	if (req->meth == HTTP_GET &&
	    (h = http_header_get(req, "Range")) != NULL) {
		const char *ir = http_header_get(req, "If-Range");
		int fresh = ir == NULL || strcmp(ir, etag) == 0 ||
		    strcmp(ir, lm) == 0;

		switch (fresh ? http_range_parse(h, st.st_size, &first, &last) : 0) {
		case 1:
			r->status = 206;
			r->off = first;
			r->len = last - first + 1;
			static_hdr(r, "Content-Range: bytes %" PRId64 "-%" PRId64
			    "/%lld\r\n", first, last, (long long)st.st_size);
			break;
		case -1:
			static_release(r);
			r->status = 416;
			r->len = 0;
			r->hlen = 0;
			static_hdr(r, "Content-Range: bytes */%lld\r\n",
			    (long long)st.st_size);
			break;
		default:
			break;
		}
	}
}
