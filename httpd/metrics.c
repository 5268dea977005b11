/*
 * metrics.c: the counts behind Metrics PATH (metrics.h), and their text.
 *
 * One registry per process, a static struct like Redis's stat_ fields:
 * the events come from files that know nothing of each other (server.c,
 * dcgi.c, queue.c, docker.c), and a registry passed through all of them
 * would only be a longer way to the same place.  Nothing here calls out.
 *
 * Ownership: the registry owns its entries (one per route prefix, one per
 * queue name, made at their first event and kept until metrics_reset()),
 * and copies every name it is given.  metrics_render() returns text the
 * caller frees.  A name's entry that cannot be made (out of memory)
 * loses that event, nothing else.
 *
 * The text format (prometheus.io/docs/instrumenting/exposition_formats):
 * a HELP and a TYPE line per family, then `name{label="value"} number`;
 * in a label value \, " and a newline are escaped.  A histogram has
 * cumulative _bucket{le=...} lines up to le="+Inf", then _sum and _count.
 * A family with no series is left out, header and all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "conf.h"
#include "metrics.h"

/* The status codes counted one by one: http_status_text()'s, and 499
 * (the client went away first, as nginx logs it). */
static const int mx_codes[] = {
	100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308,
	400, 401, 403, 404, 405, 408, 409, 410, 411, 412, 413, 414, 415, 416,
	417, 422, 429, 431, 499, 500, 501, 502, 503, 504, 505
};
#define MX_NKNOWN	(sizeof(mx_codes) / sizeof(mx_codes[0]))
/* Then one per class, 1xx to 5xx, and one for anything else. */
#define MX_NCODES	(MX_NKNOWN + 6)

/*
 * Buckets for containers: a prestarted container answers in milliseconds,
 * a cold start takes 0.2-0.5 s, a function may run up to its Timeout.
 */
static const int64_t mx_le_us[] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000
};
static const char *const mx_le[] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10", "30"
};
#define MX_NBUCKETS	(sizeof(mx_le_us) / sizeof(mx_le_us[0]))

static const char *const mx_phases[MX_NPHASES] = {
	"queue", "create", "attach", "start", "fb", "total"
};

struct mx_histo {
	uint64_t	 n[MX_NBUCKETS + 1];	/* per bucket, the last +Inf */
	uint64_t	 count;
	uint64_t	 sum_us;
};

struct mx_route {
	char		*name;		/* the prefix; "static" for the rest */
	/* Where requests are served. */
	uint64_t	 codes[MX_NCODES];
	struct mx_histo	 phase[MX_NPHASES];
	uint64_t	 cache_hits;
	/* Where the Docker socket is. */
	struct mx_route_e {
		uint64_t pool;		/* 1: it has Prestart */
		uint64_t running, ready, wanted;
		uint64_t started, hits, misses;
	}		 e;
};

struct mx_queue {
	char		*name;
	struct mx_queue_e {		/* all of it the engine's */
		uint64_t done, retried, dead;
		uint64_t held, running;
		uint64_t length_known, length;
	}		 e;
};

/*
 * The engine's numbers are the `e` of each (CHAN_METRICS carries them as
 * they are): only uint64_t, so that one loop sends and reads them.
 */
#define MX_NFIELDS(type)	(sizeof(type) / sizeof(uint64_t))
#define MX_MAXFIELDS		8
_Static_assert(MX_NFIELDS(struct mx_route_e) <= MX_MAXFIELDS &&
    MX_NFIELDS(struct mx_queue_e) <= MX_MAXFIELDS, "raise MX_MAXFIELDS");

/* An array of entries, each beginning with its name (mx_find()). */
struct mx_set {
	char		*p;
	size_t		 n, cap;
};

_Static_assert(offsetof(struct mx_route, name) == 0, "name first");
_Static_assert(offsetof(struct mx_queue, name) == 0, "name first");

static struct {
	struct mx_route	 files;		/* no container route */
	struct mx_set	 routes;	/* struct mx_route */
	struct mx_set	 queues;	/* struct mx_queue */
	struct mx_node_e {
		uint64_t engine_errors, redis_errors, redis_outages;
	}		 e;
} mx = { .files = { .name = "static" } };

#define ROUTE(i)	((struct mx_route *)mx.routes.p + (i))
#define QUEUE(i)	((struct mx_queue *)mx.queues.p + (i))

/* ----- the registry ----- */

/*
 * The entry named `name` in a set of entries of `size` bytes, made (zeroed,
 * the name copied) when there is none.  NULL when out of memory.
 */
static void *
mx_find(struct mx_set *set, size_t size, const char *name)
{
	char *e;

	for (size_t i = 0; i < set->n; i++)
		if (strcmp(*(char **)(set->p + i * size), name) == 0)
			return set->p + i * size;
	if (set->n == set->cap) {
		size_t nc = set->cap ? 2 * set->cap : 8;

		if ((e = realloc(set->p, nc * size)) == NULL)
			return NULL;
		set->p = e;
		set->cap = nc;
	}
	e = set->p + set->n * size;
	memset(e, 0, size);
	if ((*(char **)e = strdup(name)) == NULL)
		return NULL;
	set->n++;
	return e;
}

static struct mx_route *
mx_route(const char *name)
{
	return name == NULL ? &mx.files : mx_find(&mx.routes,
	    sizeof(struct mx_route), name);
}

static struct mx_queue *
mx_queue(const char *name)
{
	return mx_find(&mx.queues, sizeof(struct mx_queue), name);
}

static size_t
mx_code(int status)
{
	for (size_t i = 0; i < MX_NKNOWN; i++)
		if (mx_codes[i] == status)
			return i;
	if (status >= 100 && status <= 599)
		return MX_NKNOWN + (size_t)(status / 100 - 1);
	return MX_NCODES - 1;
}

static void
mx_observe(struct mx_histo *h, int64_t us)
{
	size_t i;

	if (us < 0)
		us = 0;
	for (i = 0; i < MX_NBUCKETS && us > mx_le_us[i]; i++)
		;
	h->n[i]++;
	h->count++;
	h->sum_us += (uint64_t)us;
}

void
metrics_count(enum metrics_event ev, const char *name)
{
	struct mx_route *r = NULL;
	struct mx_queue *q = NULL;

	switch (ev) {
	case MX_STARTED:
	case MX_POOL_HIT:
	case MX_POOL_MISS:
	case MX_CACHE_HIT:
		if (name == NULL || (r = mx_route(name)) == NULL)
			return;
		break;
	case MX_Q_DONE:
	case MX_Q_RETRIED:
	case MX_Q_DEAD:
		if (name == NULL || (q = mx_queue(name)) == NULL)
			return;
		break;
	default:
		break;
	}
	switch (ev) {
	case MX_STARTED:	r->e.started++; break;
	case MX_POOL_HIT:	r->e.hits++; break;
	case MX_POOL_MISS:	r->e.misses++; break;
	case MX_CACHE_HIT:	r->cache_hits++; break;
	case MX_Q_DONE:		q->e.done++; break;
	case MX_Q_RETRIED:	q->e.retried++; break;
	case MX_Q_DEAD:		q->e.dead++; break;
	case MX_ENGINE_ERROR:	mx.e.engine_errors++; break;
	case MX_REDIS_ERROR:	mx.e.redis_errors++; break;
	case MX_REDIS_OUTAGE:	mx.e.redis_outages++; break;
	}
}

void
metrics_request(const char *route, int status, int64_t us)
{
	struct mx_route *r = mx_route(route);

	if (r == NULL)
		return;
	r->codes[mx_code(status)]++;
	mx_observe(&r->phase[MX_TOTAL], us);
}

void
metrics_phase(const char *route, enum metrics_phase ph, int64_t us)
{
	struct mx_route *r = mx_route(route);

	if (r != NULL && ph < MX_NPHASES)
		mx_observe(&r->phase[ph], us);
}

void
metrics_route_gauges(const char *route, unsigned running, unsigned ready,
    unsigned wanted, int pool)
{
	struct mx_route *r = mx_route(route);

	if (r == NULL || r == &mx.files)
		return;
	r->e.pool = pool != 0;
	r->e.running = running;
	r->e.ready = ready;
	r->e.wanted = wanted;
}

void
metrics_queue_gauges(const char *queue, unsigned held, unsigned running,
    int64_t length)
{
	struct mx_queue *q = mx_queue(queue);

	if (q == NULL)
		return;
	q->e.held = held;
	q->e.running = running;
	q->e.length_known = length >= 0;
	q->e.length = length >= 0 ? (uint64_t)length : 0;
}

void
metrics_reset(void)
{
	for (size_t i = 0; i < mx.routes.n; i++)
		free(ROUTE(i)->name);
	free(mx.routes.p);
	for (size_t i = 0; i < mx.queues.n; i++)
		free(QUEUE(i)->name);
	free(mx.queues.p);
	memset(&mx, 0, sizeof(mx));
	mx.files.name = "static";
}

/* ----- the engine's side, over the channel ----- */

/*
 * What CHAN_METRICS carries: u32 n, n routes (str prefix, then the u64s
 * of its `e`), the same for the queues, then the node's u64s.  All of it
 * is the engine's: its routes' entries are made only by the engine's
 * events.
 */

static void
mx_put_set(struct chan_buf *b, const struct mx_set *set, size_t size,
    size_t off, size_t nfields)
{
	uint64_t v[MX_MAXFIELDS];

	chan_put_u32(b, (uint32_t)set->n);
	for (size_t i = 0; i < set->n; i++) {
		const char *e = set->p + i * size;

		chan_put_cstr(b, *(char *const *)e);
		memcpy(v, e + off, nfields * sizeof(uint64_t));
		for (size_t f = 0; f < nfields; f++)
			chan_put_u64(b, v[f]);
	}
}

int
metrics_snapshot(struct chan_buf *b)
{
	uint64_t node[MX_NFIELDS(struct mx_node_e)];

	mx_put_set(b, &mx.routes, sizeof(struct mx_route),
	    offsetof(struct mx_route, e), MX_NFIELDS(struct mx_route_e));
	mx_put_set(b, &mx.queues, sizeof(struct mx_queue),
	    offsetof(struct mx_queue, e), MX_NFIELDS(struct mx_queue_e));
	memcpy(node, &mx.e, sizeof(node));
	for (size_t f = 0; f < MX_NFIELDS(struct mx_node_e); f++)
		chan_put_u64(b, node[f]);
	return b->err ? -1 : 0;
}

/* Read a set's entries; with `take`, into the entries of this name. */
static void
mx_get_set(struct chan_rd *rd, int take, struct mx_set *set, size_t size,
    size_t off, size_t nfields)
{
	uint32_t n = chan_get_u32(rd);
	uint64_t v[MX_MAXFIELDS];
	char name[CONF_PREFIX_MAX];
	char *e;

	for (uint32_t i = 0; i < n && !rd->err; i++) {
		if (chan_get_cstr(rd, name, sizeof(name)) == -1 ||
		    name[0] == '\0')
			rd->err = 1;
		for (size_t f = 0; f < nfields; f++)
			v[f] = chan_get_u64(rd);
		if (take && !rd->err && (e = mx_find(set, size, name)) != NULL)
			memcpy(e + off, v, nfields * sizeof(uint64_t));
	}
}

/*
 * Read it twice: first only to check it, so that a malformed one
 * changes nothing, then to take its numbers.
 */
int
metrics_apply(const char *data, size_t len)
{
	for (int take = 0; take <= 1; take++) {
		struct chan_rd rd = { data, len, 0 };
		uint64_t node[MX_NFIELDS(struct mx_node_e)];

		mx_get_set(&rd, take, &mx.routes, sizeof(struct mx_route),
		    offsetof(struct mx_route, e), MX_NFIELDS(struct mx_route_e));
		mx_get_set(&rd, take, &mx.queues, sizeof(struct mx_queue),
		    offsetof(struct mx_queue, e), MX_NFIELDS(struct mx_queue_e));
		for (size_t f = 0; f < MX_NFIELDS(struct mx_node_e); f++)
			node[f] = chan_get_u64(&rd);
		if (rd.err || rd.left != 0)
			return -1;
		if (take)
			memcpy(&mx.e, node, sizeof(node));
	}
	return 0;
}

/* ----- the text ----- */

struct mx_out {
	char		*p;
	size_t		 len, cap;
	int		 err;
	size_t		 mark;		/* where the family began */
	int		 samples;	/* in it so far */
};

static void	mx_printf(struct mx_out *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
mx_printf(struct mx_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (o->err)
			return;
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		{
			size_t nc = 2 * o->cap + (size_t)n;
			char *np = realloc(o->p, nc);

			if (np == NULL) {
				o->err = 1;
				return;
			}
			o->p = np;
			o->cap = nc;
		}
	}
}

/* A label value: \ " and newline escaped, as the format wants. */
static void
mx_value(struct mx_out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			mx_printf(o, "\\%c", *s);
		else if (*s == '\n')
			mx_printf(o, "\\n");
		else
			mx_printf(o, "%c", *s);
	}
}

static void
mx_family(struct mx_out *o, const char *name, const char *type,
    const char *help)
{
	o->mark = o->len;
	o->samples = 0;
	mx_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The family is complete: without a series it is taken back. */
static void
mx_end(struct mx_out *o)
{
	if (!o->err && o->samples == 0)
		o->len = o->mark;
}

/* name{label="value"} v */
static void
mx_one(struct mx_out *o, const char *name, const char *label,
    const char *value, uint64_t v)
{
	mx_printf(o, "%s{%s=\"", name, label);
	mx_value(o, value);
	mx_printf(o, "\"} %llu\n", (unsigned long long)v);
	o->samples++;
}

/*
 * One number of each route or queue: the uint64_t at `field` of each entry
 * (offsetof, as conf.c's directive table), of those whose uint64_t at
 * `when` is not 0 (MX_ALL: of every one).
 */
#define MX_ALL	((size_t)-1)

static void
mx_series(struct mx_out *o, const char *name, const char *type,
    const char *help, const char *label, const struct mx_set *set,
    size_t size, size_t field, size_t when)
{
	uint64_t v, flag;

	mx_family(o, name, type, help);
	for (size_t i = 0; i < set->n; i++) {
		const char *e = set->p + i * size;

		if (when != MX_ALL) {
			memcpy(&flag, e + when, sizeof(flag));
			if (flag == 0)
				continue;
		}
		memcpy(&v, e + field, sizeof(v));
		mx_one(o, name, label, *(char *const *)e, v);
	}
	mx_end(o);
}

static void
mx_routes(struct mx_out *o, const char *name, const char *type,
    const char *help, size_t field, size_t when)
{
	mx_series(o, name, type, help, "route", &mx.routes,
	    sizeof(struct mx_route), field, when);
}

static void
mx_queues(struct mx_out *o, const char *name, const char *type,
    const char *help, size_t field, size_t when)
{
	mx_series(o, name, type, help, "queue", &mx.queues,
	    sizeof(struct mx_queue), field, when);
}

static void
mx_node(struct mx_out *o, const char *name, const char *type,
    const char *help, uint64_t v)
{
	mx_family(o, name, type, help);
	mx_printf(o, "%s %llu\n", name, (unsigned long long)v);
	o->samples++;
	mx_end(o);
}

static void
mx_codes_of(struct mx_out *o, const struct mx_route *r)
{
	static const char *const classes[] = {
		"1xx", "2xx", "3xx", "4xx", "5xx", "other"
	};

	for (size_t c = 0; c < MX_NCODES; c++) {
		if (r->codes[c] == 0)
			continue;
		mx_printf(o, "dcgi_requests_total{route=\"");
		mx_value(o, r->name);
		if (c < MX_NKNOWN)
			mx_printf(o, "\",code=\"%d\"} ", mx_codes[c]);
		else
			mx_printf(o, "\",code=\"%s\"} ", classes[c - MX_NKNOWN]);
		mx_printf(o, "%llu\n", (unsigned long long)r->codes[c]);
		o->samples++;
	}
}

static void
mx_histos_of(struct mx_out *o, const struct mx_route *r)
{
	static const char name[] = "dcgi_request_duration_seconds";

	for (size_t ph = 0; ph < MX_NPHASES; ph++) {
		const struct mx_histo *h = &r->phase[ph];
		uint64_t cum = 0;

		if (h->count == 0)
			continue;
		for (size_t b = 0; b <= MX_NBUCKETS; b++) {
			cum += h->n[b];
			mx_printf(o, "%s_bucket{route=\"", name);
			mx_value(o, r->name);
			mx_printf(o, "\",phase=\"%s\",le=\"%s\"} %llu\n",
			    mx_phases[ph], b < MX_NBUCKETS ? mx_le[b] : "+Inf",
			    (unsigned long long)cum);
		}
		mx_printf(o, "%s_sum{route=\"", name);
		mx_value(o, r->name);
		mx_printf(o, "\",phase=\"%s\"} %llu.%06llu\n", mx_phases[ph],
		    (unsigned long long)(h->sum_us / 1000000),
		    (unsigned long long)(h->sum_us % 1000000));
		mx_printf(o, "%s_count{route=\"", name);
		mx_value(o, r->name);
		mx_printf(o, "\",phase=\"%s\"} %llu\n", mx_phases[ph],
		    (unsigned long long)h->count);
		o->samples++;
	}
}

char *
metrics_render(size_t conns, size_t *len)
{
	struct mx_out o = { 0 };

	if ((o.p = malloc(o.cap = 8192)) == NULL)
		return NULL;

	mx_family(&o, "dcgi_requests_total", "counter", "HTTP requests "
	    "answered, by route prefix (static: without a container route) "
	    "and status code (a code not named here by its class, 4xx).");
	mx_codes_of(&o, &mx.files);
	for (size_t i = 0; i < mx.routes.n; i++)
		mx_codes_of(&o, ROUTE(i));
	mx_end(&o);

	mx_family(&o, "dcgi_request_duration_seconds", "histogram", "Where "
	    "requests' time went, by route and phase: queue, create, attach, "
	    "start, fb (from the start to the first byte) as in "
	    "Server-Timing, and total.");
	mx_histos_of(&o, &mx.files);
	for (size_t i = 0; i < mx.routes.n; i++)
		mx_histos_of(&o, ROUTE(i));
	mx_end(&o);

#define R(field)	offsetof(struct mx_route, field)
#define Q(field)	offsetof(struct mx_queue, field)
	mx_routes(&o, "dcgi_cache_hits_total", "counter", "Requests answered "
	    "from their route's Cache.", R(cache_hits), MX_ALL);
	mx_node(&o, "dcgi_connections_open", "gauge", "Client connections "
	    "open in this server process.", conns);
	mx_routes(&o, "dcgi_containers_running", "gauge", "Containers of a "
	    "route's requests, being started or running.", R(e.running),
	    MX_ALL);
	mx_routes(&o, "dcgi_containers_started_total", "counter", "Containers "
	    "started for a route: its requests' and its prestarted ones.",
	    R(e.started), MX_ALL);
	mx_routes(&o, "dcgi_prestart_ready", "gauge", "Prestarted containers "
	    "ready for a request.", R(e.ready), R(e.pool));
	mx_routes(&o, "dcgi_prestart_wanted", "gauge", "How many prestarted "
	    "containers the route keeps now (Prestart MIN MAX).", R(e.wanted),
	    R(e.pool));
	mx_routes(&o, "dcgi_prestart_hits_total", "counter", "Requests that "
	    "took a prestarted container.", R(e.hits), R(e.pool));
	mx_routes(&o, "dcgi_prestart_misses_total", "counter", "Requests of "
	    "a Prestart route that found none ready and started their own.",
	    R(e.misses), R(e.pool));

	mx_queues(&o, "dcgi_queue_items_done_total", "counter", "Queue items "
	    "whose function exited 0.", Q(e.done), MX_ALL);
	mx_queues(&o, "dcgi_queue_items_retried_total", "counter", "Failed "
	    "runs of queue items that are run again.", Q(e.retried), MX_ALL);
	mx_queues(&o, "dcgi_queue_items_dead_total", "counter", "Queue items "
	    "moved to NAME:dead.", Q(e.dead), MX_ALL);
	mx_queues(&o, "dcgi_queue_items_held", "gauge", "Queue items this "
	    "node holds (pending on its consumer): running, or waiting for "
	    "a retry or a slot.", Q(e.held), MX_ALL);
	mx_queues(&o, "dcgi_queue_items_running", "gauge", "Queue items "
	    "whose container runs.", Q(e.running), MX_ALL);
	mx_queues(&o, "dcgi_queue_length", "gauge", "Entries in the stream "
	    "(waiting, or held by a node until done), or items waiting in "
	    "the list, at the last look.", Q(e.length), Q(e.length_known));
#undef R
#undef Q

	mx_node(&o, "dcgi_engine_errors_total", "counter", "Docker Engine API "
	    "calls that got no answer or a 5xx, and attach streams that "
	    "failed.", mx.e.engine_errors);
	mx_node(&o, "dcgi_redis_errors_total", "counter", "Redis connections "
	    "that failed or broke, and commands Redis refused.",
	    mx.e.redis_errors);
	mx_node(&o, "dcgi_redis_outages_total", "counter", "Times the queues' "
	    "Redis became unreachable.", mx.e.redis_outages);
	if (o.err) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
