/*
 * cache.h: the response micro-cache for routes with `Cache TTL`.
 *
 * An entry is either being filled (one container is producing it; the
 * identical requests that arrive meanwhile wait for it instead of each
 * starting a container) or holds a complete 200 response until it expires.
 */
#ifndef DCGI_CACHE_H
#define DCGI_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct dcgi_job;

struct cache_entry {
	char		*key;
	int		 filling;
	struct dcgi_job	*waiters;	/* dcgi.c links them through the jobs */
	int		 status;
	char		*headers;	/* header lines, CRLF each */
	size_t		 hlen;
	char		*body;
	size_t		 blen;
	int64_t		 stored;	/* ms, monotonic */
	int64_t		 expires;
	struct cache_entry *next;	/* hash chain */
};

struct cache;

struct cache	*cache_new(size_t maxbytes);
void		 cache_free(struct cache *);
/* A fresh or filling entry for key, or NULL. */
struct cache_entry *cache_get(struct cache *, const char *key, int64_t now);
/* A new entry being filled; NULL when out of memory. */
struct cache_entry *cache_begin(struct cache *, const char *key);
/* Fill it (copies); -1 when it does not fit: the entry is then dropped. */
int		 cache_fill(struct cache *, struct cache_entry *, int status,
		    const char *headers, size_t hlen, const char *body,
		    size_t blen, int64_t now, int64_t ttl);
/* Drop an entry (a fill that failed). */
void		 cache_drop(struct cache *, struct cache_entry *);
size_t		 cache_bytes(const struct cache *);

#endif
