/*
 * cache.c: a small hash table of responses with a byte budget.  Expired
 * entries go when they are looked at or when room is needed; beyond that
 * the oldest go first.  No entry is ever served after its expiry.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define CACHE_BUCKETS	256

struct cache {
	struct cache_entry *b[CACHE_BUCKETS];
	size_t		    bytes, max;
};

static unsigned
cache_hash(const char *s)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

struct cache *
cache_new(size_t maxbytes)
{
	struct cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->max = maxbytes;
	return c;
}

static size_t
entry_size(const struct cache_entry *e)
{
	return sizeof(*e) + strlen(e->key) + e->hlen + e->blen;
}

static void
entry_free(struct cache *c, struct cache_entry *e)
{
	c->bytes -= entry_size(e);
	free(e->key);
	free(e->headers);
	free(e->body);
	free(e);
}

void
cache_drop(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->b[cache_hash(e->key)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			entry_free(c, e);
			return;
		}
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CACHE_BUCKETS; i++)
		while (c->b[i] != NULL) {
			struct cache_entry *e = c->b[i];
			c->b[i] = e->next;
			entry_free(c, e);
		}
	free(c);
}

struct cache_entry *
cache_get(struct cache *c, const char *key, int64_t now)
{
	struct cache_entry **pp = &c->b[cache_hash(key)], *e;

	while ((e = *pp) != NULL) {
		if (!e->filling && e->expires <= now) {
			*pp = e->next;
			entry_free(c, e);
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
		pp = &e->next;
	}
	return NULL;
}

struct cache_entry *
cache_begin(struct cache *c, const char *key)
{
	struct cache_entry *e;
	unsigned h = cache_hash(key);

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->key = strdup(key)) == NULL) {
		free(e);
		return NULL;
	}
	e->filling = 1;
	e->next = c->b[h];
	c->b[h] = e;
	c->bytes += entry_size(e);
	return e;
}

/* Make room for `need` bytes: the expired, then the oldest complete. */
static void
cache_evict(struct cache *c, size_t need, int64_t now)
{
	while (c->bytes + need > c->max) {
		struct cache_entry *old = NULL;

		for (size_t i = 0; i < CACHE_BUCKETS; i++)
			for (struct cache_entry *e = c->b[i]; e; e = e->next)
				if (!e->filling && (old == NULL ||
				    e->expires < old->expires))
					old = e;
		if (old == NULL)
			return;
		(void)now;
		cache_drop(c, old);
	}
}

int
cache_fill(struct cache *c, struct cache_entry *e, int status,
    const char *headers, size_t hlen, const char *body, size_t blen,
    int64_t now, int64_t ttl)
{
	if (hlen + blen > c->max / 4) {
		cache_drop(c, e);
		return -1;
	}
	cache_evict(c, hlen + blen, now);
	if ((e->headers = malloc(hlen + 1)) == NULL ||
	    (e->body = malloc(blen + 1)) == NULL) {
		cache_drop(c, e);
		return -1;
	}
	memcpy(e->headers, headers, hlen);
	memcpy(e->body, body, blen);
	e->hlen = hlen;
	e->blen = blen;
	c->bytes += hlen + blen;
	e->status = status;
	e->stored = now;
	e->expires = now + ttl;
	e->filling = 0;
	return 0;
}

size_t
cache_bytes(const struct cache *c)
{
	return c->bytes;
}
