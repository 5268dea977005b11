/*
 * static.h: files under DocumentRoot, and the MIME table.
 */
#ifndef DCGI_STATIC_H
#define DCGI_STATIC_H

#include <stddef.h>
#include <stdint.h>

struct http_request;
struct mime;

struct mime	*mime_load(const char *path, char *err, size_t errlen);
void		 mime_free(struct mime *);
/* The type for a file name ("application/octet-stream" when unknown). */
const char	*mime_lookup(const struct mime *, const char *name);

/* What a static request is answered with; the server writes it out. */
/*
 * Files up to this size are kept open between requests (see static.c)
 * and must be read into memory before the server returns to its loop.
 */
#define STATIC_SMALL_FILE	(16 * 1024)

struct static_reply {
	int		 status;
	int		 fd;		/* body source, -1 for none */
	int		 fd_cached;	/* fd belongs to the cache: never close */
	int64_t		 off;		/* body range in fd */
	int64_t		 len;		/* body length (Content-Length) */
	char		 headers[768];	/* extra header lines, CRLF each */
	size_t		 hlen;
};

/*
 * Answer a GET or HEAD for req->path from the directory `rootfd`.  Never
 * fails: errors become 403/404/500 replies.  The caller closes reply->fd
 * unless reply->fd_cached, and then reads the body before it returns.
 */
void		 static_handle(int rootfd, const struct mime *,
		    const struct http_request *, struct static_reply *);

/* Close the open files kept: the document root is about to change. */
void		 static_cache_flush(void);

#endif
