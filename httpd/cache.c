/*
 * cache.c: the response micro-cache: a small hash table of responses with
 * a byte budget, and the fills that coalesce identical requests.
 *
 * Storage: expired entries go when they are looked at or when room is
 * needed; beyond that the oldest go first.  No entry is ever served after
 * its expiry.
 *
 * Coalescing: the first request for a key that has no fresh entry leads a
 * fill: its producer (a container job) writes to the fill's tee sink,
 * which passes the response on to the leader's own sink as it comes and
 * keeps a copy; requests for the same key that come meanwhile wait, and
 * are answered from the stored entry when the producer ends.  A response
 * that is not for sharing (not 200, Set-Cookie, Cache-Control: private,
 * no-store or no-cache, Vary, over CACHE_ENTRY_MAX) is not kept, and the
 * waiters start over on their own (SINK_RETRY).
 *
 * Ownership:
 *   - struct cache_entry: owned by the table, from cache_begin() to
 *     entry_free() (dropped, expired, evicted, or the cache freed).
 *   - struct cache_fill: owned by the cache from cache_join() until its
 *     producer has ended (the tee's end()) or nobody wants its answer any
 *     more (the last reader cancelled: the producer is cancelled then).
 *   - struct reader (one request that reads a fill): owned by the cache
 *     until it has told its sink end() or its consumer has cancelled it;
 *     freed at the end of the loop iteration.  The consumer's sink is
 *     borrowed until then.
 * The tee's ops only record and call the readers' sink ops (which only
 * record, sink.h): nothing here calls the producer from inside its own
 * call.  cancel() of a reader (from the consumer's loop context) may
 * cancel the producer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "log.h"
#include "loop.h"
#include "sink.h"

#define CACHE_BUCKETS	256
#define CACHE_ENTRY_MAX	(1024 * 1024)	/* one response, head and body */
#define TIMING		"Server-Timing: queue;"	/* a job's own line */

struct cache {
	struct loop	   *loop;
	struct cache_entry *b[CACHE_BUCKETS];
	size_t		    bytes, max;
};

struct reader;

struct cache_fill {
	struct sink	  tee;		/* what the producer writes to */
	struct cache	 *c;
	struct cache_entry *e;		/* NULL once dropped */
	int64_t		  ttl;
	struct source	 *producer;	/* NULL before cache_lead(), after end */
	struct reader	 *leader;	/* answered as the output comes */
	struct reader	 *waiters;	/* answered from the stored entry */
	int		  capture;	/* still worth keeping */
	int		  status;
	char		 *hdrs, *body;
	size_t		  hlen, blen, bcap;
};

struct reader {
	struct source	  src;
	struct cache_fill *fill;	/* NULL once told */
	struct sink	 *sink;
	struct reader	 *next;		/* the fill's waiters */
	struct loop_timer timer;	/* a waiter's patience */
	int		  leader;
};

static void	fill_free(struct cache_fill *);

static unsigned
cache_hash(const char *s)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CACHE_BUCKETS;
}

struct cache *
cache_new(struct loop *loop, size_t maxbytes)
{
	struct cache *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->loop = loop;
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
	if (e->fill != NULL)
		e->fill->e = NULL;
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
	/*
	 * A fill still running has lost its readers (they were cancelled
	 * before this) but may still capture for later ones: its producer
	 * is cancelled first, so that it never writes to the freed tee.
	 */
	for (size_t i = 0; i < CACHE_BUCKETS; i++)
		while (c->b[i] != NULL) {
			struct cache_entry *e = c->b[i];
			c->b[i] = e->next;
			if (e->fill != NULL) {
				struct cache_fill *f = e->fill;
				struct source *p = f->producer;

				f->producer = NULL;
				if (p != NULL)
					source_cancel(p);
				fill_free(f);
			}
			entry_free(c, e);
		}
	free(c);
}

/* The entry for key, complete and fresh or being filled, or NULL. */
static struct cache_entry *
entry_find(struct cache *c, const char *key, int64_t now)
{
	struct cache_entry **pp = &c->b[cache_hash(key)], *e;

	while ((e = *pp) != NULL) {
		if (e->fill == NULL && e->expires <= now) {
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

const struct cache_entry *
cache_get(struct cache *c, const char *key, int64_t now)
{
	struct cache_entry *e = entry_find(c, key, now);

	return e != NULL && e->fill == NULL ? e : NULL;
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
	e->next = c->b[h];
	c->b[h] = e;
	c->bytes += entry_size(e);
	return e;
}

/* Make room for `need` bytes: the oldest complete entries but `keep`. */
static void
cache_evict(struct cache *c, size_t need, const struct cache_entry *keep)
{
	while (c->bytes + need > c->max) {
		struct cache_entry *old = NULL;

		for (size_t i = 0; i < CACHE_BUCKETS; i++)
			for (struct cache_entry *e = c->b[i]; e; e = e->next)
				if (e->fill == NULL && e != keep && (old == NULL ||
				    e->expires < old->expires))
					old = e;
		if (old == NULL)
			return;
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
	cache_evict(c, hlen + blen, e);
	if ((e->headers = malloc(hlen + 1)) == NULL ||
	    (e->body = malloc(blen + 1)) == NULL) {
		cache_drop(c, e);
		return -1;
	}
	memcpy(e->headers, headers, hlen);
	if (blen > 0)
		memcpy(e->body, body, blen);
	e->hlen = hlen;
	e->blen = blen;
	c->bytes += hlen + blen;
	e->status = status;
	e->stored = now;
	e->expires = now + ttl;
	return 0;
}

size_t
cache_bytes(const struct cache *c)
{
	return c->bytes;
}

/* ----- fills and their readers ----- */

/* Does a response with these header lines forbid being shared? */
static int
cache_forbidden(const char *h, size_t len)
{
	const char *end = h + len;

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		size_t n = eol ? (size_t)(eol - h) : (size_t)(end - h);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)n, h);
		if (strncasecmp(line, "Set-Cookie:", 11) == 0 ||
		    strncasecmp(line, "Vary:", 5) == 0)	/* keyed on the URL */
			return 1;
		if (strncasecmp(line, "Cache-Control:", 14) == 0 &&
		    (strcasestr(line, "private") != NULL ||
		    strcasestr(line, "no-store") != NULL ||
		    strcasestr(line, "no-cache") != NULL))
			return 1;
		h += n + 1;
	}
	return 0;
}

/* Take a reader off its fill; freed after this iteration. */
static void
reader_free(struct reader *rd)
{
	struct cache_fill *f = rd->fill;

	if (f != NULL) {
		if (f->leader == rd)
			f->leader = NULL;
		for (struct reader **pp = &f->waiters; *pp != NULL;
		    pp = &(*pp)->next)
			if (*pp == rd) {
				*pp = rd->next;
				break;
			}
		loop_timer_del(f->c->loop, &rd->timer);
		loop_defer_free(f->c->loop, rd);
	}
	rd->fill = NULL;
	rd->sink = NULL;
}

/* Tell a reader how it ends, once, and let it go. */
static void
reader_tell(struct reader *rd, const struct sink_result *res)
{
	struct sink *sink = rd->sink;

	reader_free(rd);
	if (sink != NULL)
		sink_end(sink, res);
}

static void
fill_free(struct cache_fill *f)
{
	if (f->e != NULL)
		f->e->fill = NULL;
	free(f->hdrs);
	free(f->body);
	free(f);
}

/* The entry goes (its response is not for sharing): waiters start over. */
static void
fill_give_up(struct cache_fill *f)
{
	struct sink_result res = { 0 };

	f->capture = 0;
	free(f->body);
	f->body = NULL;
	f->blen = f->bcap = 0;
	if (f->e != NULL) {
		struct cache_entry *e = f->e;

		e->fill = NULL;
		f->e = NULL;
		cache_drop(f->c, e);
	}
	res.kind = SINK_RETRY;
	while (f->waiters != NULL)
		reader_tell(f->waiters, &res);
}

/*
 * Nobody reads the fill any more (from a consumer's cancel): stop it.
 * 1 when it is gone (f is freed), 0 when readers are left.
 */
static int
fill_abandon(struct cache_fill *f)
{
	struct source *p = f->producer;

	if (f->leader != NULL || f->waiters != NULL)
		return 0;
	f->producer = NULL;
	fill_give_up(f);
	fill_free(f);
	if (p != NULL)
		source_cancel(p);
	return 1;
}

static int
tee_head(struct sink *s, int status, const char *hdrs, size_t hlen,
    int64_t length)
{
	struct cache_fill *f = (struct cache_fill *)s;
	const char *st;
	size_t keep = hlen;

	/* The leader's timings (dcgi.c puts them last) are not the entry's. */
	if ((st = memmem(hdrs, hlen, TIMING, sizeof(TIMING) - 1)) != NULL)
		keep = (size_t)(st - hdrs);
	if (status != 200 || cache_forbidden(hdrs, hlen) ||
	    (f->hdrs = malloc(keep + 1)) == NULL)
		fill_give_up(f);
	else {
		memcpy(f->hdrs, hdrs, keep);
		f->hlen = keep;
		f->status = status;
	}
	if (f->leader != NULL &&
	    sink_head(f->leader->sink, status, hdrs, hlen, length) == 0)
		return 0;
	return f->capture ? 0 : -1;
}

static ssize_t
tee_body(struct sink *s, const char *p, size_t n)
{
	struct cache_fill *f = (struct cache_fill *)s;
	ssize_t held = 0;

	if (f->capture && f->hlen + f->blen + n > CACHE_ENTRY_MAX)
		fill_give_up(f);
	if (f->capture && f->blen + n > f->bcap) {
		size_t nc = f->bcap ? f->bcap : 4096;
		char *nb;

		while (nc < f->blen + n)
			nc *= 2;
		if ((nb = realloc(f->body, nc)) == NULL)
			fill_give_up(f);
		else {
			f->body = nb;
			f->bcap = nc;
		}
	}
	if (f->capture) {
		memcpy(f->body + f->blen, p, n);
		f->blen += n;
	}
	if (f->leader != NULL) {
		held = sink_body(f->leader->sink, p, n);
		if (held == -1) {
			/* The leader's client is gone; the waiters are not. */
			struct sink_result res = { 0 };

			res.kind = SINK_CUT;
			reader_tell(f->leader, &res);
			held = 0;
		}
	}
	return f->leader != NULL || f->capture ? held : -1;
}

char *
cache_head(const struct cache_entry *e, int64_t now, size_t *len)
{
	int64_t age = (now - e->stored) / 1000;
	char *hdrs;
	int n;

	n = asprintf(&hdrs, "%.*sAge: %lld\r\nServer-Timing: cache;desc=hit\r\n",
	    (int)e->hlen, e->headers, (long long)(age < 0 ? 0 : age));
	if (n == -1)
		return NULL;
	*len = (size_t)n;
	return hdrs;
}

/* A waiter's answer from the complete entry. */
static void
reader_serve(struct reader *rd, const struct cache_entry *e, int64_t now)
{
	struct sink_result res = { 0 };
	struct sink *sink = rd->sink;
	size_t hlen;
	char *hdrs;

	reader_free(rd);
	if ((hdrs = cache_head(e, now, &hlen)) == NULL) {
		res.kind = SINK_ERROR;
		res.status = 500;
	} else if (sink_head(sink, e->status, hdrs, hlen,
	    (int64_t)e->blen) == -1 ||
	    (e->blen > 0 && sink_body(sink, e->body, e->blen) == -1))
		res.kind = SINK_CUT;
	else
		res.kind = SINK_DONE;
	free(hdrs);
	sink_end(sink, &res);
}

static void
tee_end(struct sink *s, const struct sink_result *res)
{
	struct cache_fill *f = (struct cache_fill *)s;
	struct cache_entry *e = f->e;
	struct sink_result retry = { 0 };

	f->producer = NULL;
	if (f->leader != NULL)
		reader_tell(f->leader, res);
	retry.kind = SINK_RETRY;
	if (res->kind == SINK_DONE && f->capture && e != NULL) {
		int64_t now = loop_now(f->c->loop);

		e->fill = NULL;
		f->e = NULL;
		if (cache_fill(f->c, e, f->status, f->hdrs, f->hlen, f->body,
		    f->blen, now, f->ttl) == 0)
			while (f->waiters != NULL)
				reader_serve(f->waiters, e, now);
	} else
		fill_give_up(f);
	while (f->waiters != NULL)
		reader_tell(f->waiters, &retry);
	fill_free(f);
}

static const struct sink_ops tee_ops = { tee_head, tee_body, tee_end, NULL };

static void
reader_cancel(struct source *src)
{
	struct reader *rd = (struct reader *)src;
	struct cache_fill *f = rd->fill;
	int leader = rd->leader;

	reader_free(rd);
	if (f == NULL || fill_abandon(f))
		return;		/* nobody else waited: stopped */
	/*
	 * The waiters go on; the producer may be paused for the leader's
	 * back-pressure, which nobody would lift now (capture is bounded).
	 */
	if (leader && f->producer != NULL)
		source_resume(f->producer);
}

static void
reader_resume(struct source *src)
{
	struct reader *rd = (struct reader *)src;

	if (rd->leader && rd->fill != NULL && rd->fill->producer != NULL)
		source_resume(rd->fill->producer);
}

static const struct source_ops reader_ops = { reader_cancel, reader_resume };

/* A waiter that waited for longer than its route's Timeout. */
static void
reader_timeout(struct loop_timer *t)
{
	struct reader *rd = LOOP_OWNER(t, struct reader, timer);
	struct cache_fill *f = rd->fill;
	struct sink_result res = { 0 };

	log_warn("cache %s: no answer to the identical request this one "
	    "waited for: 504", f->e != NULL ? f->e->key : "?");
	res.kind = SINK_ERROR;
	res.status = 504;
	reader_tell(rd, &res);
	fill_abandon(f);
}

int
cache_filling(struct cache *c, const char *key)
{
	struct cache_entry *e = entry_find(c, key, loop_now(c->loop));

	return e != NULL && e->fill != NULL;
}

struct source *
cache_join(struct cache *c, const char *key, int64_t ttl_ms, int64_t wait_ms,
    struct sink *sink, struct sink **tee)
{
	struct cache_entry *e = entry_find(c, key, loop_now(c->loop));
	struct cache_fill *f;
	struct reader *rd;

	*tee = NULL;
	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		return NULL;
	rd->src.ops = &reader_ops;
	rd->sink = sink;
	rd->timer.fn = reader_timeout;
	if (e != NULL && e->fill != NULL) {
		/* An identical request is in flight: wait for its answer. */
		f = e->fill;
		rd->fill = f;
		rd->next = f->waiters;
		f->waiters = rd;
		loop_timer_set(c->loop, &rd->timer, wait_ms);
		return &rd->src;
	}
	if (e != NULL)
		cache_drop(c, e);	/* complete: cache_get() was not asked */
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->e = cache_begin(c, key)) == NULL) {
		free(f);
		free(rd);
		return NULL;
	}
	f->tee.ops = &tee_ops;
	f->c = c;
	f->ttl = ttl_ms;
	f->capture = 1;
	f->e->fill = f;
	f->leader = rd;
	rd->fill = f;
	rd->leader = 1;
	*tee = &f->tee;
	return &rd->src;
}

void
cache_lead(struct source *leader, struct source *producer)
{
	struct reader *rd = (struct reader *)leader;

	if (rd->fill != NULL)
		rd->fill->producer = producer;
}
