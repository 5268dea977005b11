/*
 * cache.h: the response micro-cache for routes with `Cache TTL`, with
 * request coalescing.
 *
 * An entry is either being filled (one producer, a container job, is
 * making it; identical requests that come meanwhile wait for it instead
 * of each starting a container) or holds a complete 200 response until it
 * expires.  The cache speaks sink.h on both sides: a fill is the sink its
 * producer writes to, and it answers each waiting request through that
 * request's own sink.
 */
#ifndef DCGI_CACHE_H
#define DCGI_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;
struct cache_fill;
struct loop;
struct sink;
struct source;

struct cache_entry {
	char		*key;
	struct cache_fill *fill;	/* while it is being filled */
	int		 status;
	char		*headers;	/* header lines, CRLF each */
	size_t		 hlen;
	char		*body;
	size_t		 blen;
	int64_t		 stored;	/* ms, monotonic */
	int64_t		 expires;
	struct cache_entry *next;	/* hash chain */
};

struct cache	*cache_new(struct loop *, size_t maxbytes);
void		 cache_free(struct cache *);
size_t		 cache_bytes(const struct cache *);

/* A complete entry for key that has not expired, or NULL. */
const struct cache_entry *cache_get(struct cache *, const char *key,
		    int64_t now);
/* The header lines an entry is served with (Age added); free() them. */
char		*cache_head(const struct cache_entry *, int64_t now,
		    size_t *len);

/*
 * No fresh entry: join the fill of an identical request in flight (its
 * answer comes to `sink`, or 504 after `wait_ms`), or, when there is
 * none, lead a new one: then *tee is set to the sink the producer must
 * write to (the leader's own answer reaches `sink` through it), and the
 * caller hands the producer's source to cache_lead().  Returns what the
 * consumer cancels and resumes; NULL when out of memory.
 */
struct source	*cache_join(struct cache *, const char *key, int64_t ttl_ms,
		    int64_t wait_ms, struct sink *, struct sink **tee);
/* Is an identical request's answer being made (cache_join() waits)? */
int		 cache_filling(struct cache *, const char *key);
/* The producer of the fill that `leader` (from cache_join) leads. */
void		 cache_lead(struct source *leader, struct source *producer);

/*
 * Storage, exposed for the tests: a new entry being filled (NULL when out
 * of memory); fill it (copies; -1 when it does not fit: it is dropped);
 * drop it.
 */
struct cache_entry *cache_begin(struct cache *, const char *key);
int		 cache_fill(struct cache *, struct cache_entry *, int status,
		    const char *headers, size_t hlen, const char *body,
		    size_t blen, int64_t now, int64_t ttl);
void		 cache_drop(struct cache *, struct cache_entry *);

#endif
