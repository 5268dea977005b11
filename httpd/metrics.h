/*
 * metrics.h: what dcgid counts for Metrics PATH, and its text in the
 * Prometheus exposition format (version 0.0.4).
 *
 * Each process keeps its own counts (one registry per process, as Redis
 * keeps its stat_ counters in its server struct): the files that see an
 * event count it here by the name of its route or queue, and the gauges
 * are brought up to date from their owners before they are read
 * (dcgi_metrics(), queues_metrics()).  Two sides, by where they happen:
 *
 *   - where requests are served (a server process, or the one process):
 *     requests by route and status, the phases' times, cache hits;
 *   - where the Docker socket and Redis are (the engine process, or the
 *     one process): containers, pools, queues, engine and Redis errors.
 *
 * Under privilege separation the engine process sends its side to its
 * server processes once a second while Metrics is set (CHAN_METRICS:
 * metrics_snapshot() there, metrics_apply() here), and a server process
 * renders its own side and the last snapshot.  Memory is bounded by the
 * configuration: an entry per route prefix and per queue name that was
 * used (never removed while the process lives), and a fixed set of
 * status codes per route (others are counted by class, "5xx").
 */
#ifndef DCGI_METRICS_H
#define DCGI_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct chan_buf;

#define METRICS_MS	1000	/* the engine's snapshot, this often */

/* The phases of a request's time, as Server-Timing names them. */
enum metrics_phase {
	MX_QUEUE,	/* waiting for a slot */
	MX_CREATE,	/* the container made (or a prestarted one taken) */
	MX_ATTACH,
	MX_START,
	MX_FB,		/* from the start to the first byte of output */
	MX_TOTAL,	/* the whole request, as the access log times it */
	MX_NPHASES
};

/* Events counted by the name of a route (its prefix), of a queue, or of
 * neither (the node's: name NULL). */
enum metrics_event {
	MX_STARTED,		/* route: a container started for it */
	MX_POOL_HIT,		/* route: a request took a prestarted one */
	MX_POOL_MISS,		/* route: none was ready (Prestart) */
	MX_CACHE_HIT,		/* route: answered from the cache */
	MX_Q_DONE,		/* queue: an item's function exited 0 */
	MX_Q_RETRIED,		/* queue: a failed run, to run again */
	MX_Q_DEAD,		/* queue: an item moved to NAME:dead */
	MX_ENGINE_ERROR,	/* a Docker Engine API call failed */
	MX_REDIS_ERROR,		/* a Redis connection failed, or an error */
	MX_REDIS_OUTAGE		/* the queues' Redis became unreachable */
};

void		 metrics_count(enum metrics_event, const char *name);
/* A request answered (route NULL: no container route), its time. */
void		 metrics_request(const char *route, int status, int64_t us);
void		 metrics_phase(const char *route, enum metrics_phase,
		    int64_t us);
/* Gauges, from their owners (`pool`: the route has Prestart now). */
void		 metrics_route_gauges(const char *route, unsigned running,
		    unsigned ready, unsigned wanted, int pool);
/* `length` -1: not known (Redis away, or not asked yet). */
void		 metrics_queue_gauges(const char *queue, unsigned held,
		    unsigned running, int64_t length);

/* The engine's side as a CHAN_METRICS payload; -1 out of memory. */
int		 metrics_snapshot(struct chan_buf *);
/* Take the engine's side from one; -1 when it is malformed. */
int		 metrics_apply(const char *data, size_t len);

/* The text, with `conns` connections open; free() it.  NULL: no memory. */
char		*metrics_render(size_t conns, size_t *len);
/* Forget everything (at exit, and between unit tests). */
void		 metrics_reset(void);

#endif
