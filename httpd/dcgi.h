/*
 * dcgi.h: container jobs.  A job runs one fresh container for an HTTP
 * request (its CGI environment and body in, its CGI response out) or for
 * a queue item (the item in, the exit status out), and tells whoever
 * consumes it through a struct sink (sink.h): dcgi.c knows nothing of
 * connections, caches or queues.
 */
#ifndef DCGI_DCGI_H
#define DCGI_DCGI_H

#include <stddef.h>

struct client;
struct conf;
struct conf_queue;
struct conf_route;
struct dcgi;
struct loop;
struct sink;
struct source;

/* NULL with err set when DockerHost is malformed. */
struct dcgi	*dcgi_new(struct loop *, const struct conf *, char *err,
		    size_t errlen);
/*
 * A server process's: containers come from the engine process over the
 * channel `fd` (taken; chan.h).  dcgi_hello() says the server is ready.
 */
struct dcgi	*dcgi_new_remote(struct loop *, int fd, char *err,
		    size_t errlen);
int		 dcgi_hello(struct dcgi *);
/*
 * Health (server.c): what keeps this node from taking work.  Where the
 * Docker socket is, DCGI_DOWN_ENGINE when the engine did not answer its
 * last ping (made every 2 s while the configuration has Health); in a
 * server process, what the engine process last said (CHAN_HEALTH).
 */
#define DCGI_DOWN_ENGINE	0x1	/* the Docker engine does not answer */
#define DCGI_DOWN_REDIS		0x2	/* a <Queue>'s Redis does not */
unsigned	 dcgi_health(const struct dcgi *);
/* A replaced server process has closed its listeners: tell the engine. */
void		 dcgi_draining(struct dcgi *);
void		 dcgi_free(struct dcgi *);
/*
 * The configuration in force (at start and after each reload): routes
 * with Prestart get their pools; a pool whose route changed or went is
 * drained.  The dcgi keeps a reference to `conf` while it has pools.
 */
void		 dcgi_configure(struct dcgi *, struct conf *);
/*
 * Nonzero while containers or engine calls are still in flight.  After
 * dcgi_stop(), once they have all ended, it makes one last look for this
 * instance's containers (and is busy while they are removed).
 */
int		 dcgi_busy(struct dcgi *);
/* Stopping, GracePeriod is over: functions that run on after their
 * complete response are killed (their containers removed). */
void		 dcgi_grace_over(struct dcgi *);
/* Say in the log what is still in flight. */
void		 dcgi_log_busy(const struct dcgi *);
/* Running containers, and prestarted ones ready, for status lines. */
size_t		 dcgi_running(const struct dcgi *);
size_t		 dcgi_prestarted(const struct dcgi *);
/* Metrics: the routes' gauges to metrics.h (where the containers are). */
void		 dcgi_metrics(const struct dcgi *);
/* Stop: no new containers; queued requests get 503. */
void		 dcgi_stop(struct dcgi *);

/* What an HTTP request gives its job. */
struct dcgi_request {
	struct conf	*conf;		/* the job takes a reference */
	const struct conf_route *route;
	const char	*reqid;
	char		**env;		/* taken (one allocation, cgi_env()) */
	char		*body;		/* taken; NULL when there is none */
	size_t		 bodylen;
	struct client	*client;	/* the job takes a reference */
	int		 handoff;	/* the engine's side: the stream goes
					   to the sink's attached() */
};

/*
 * Serve a request with a container of its route: the response goes to
 * `sink`.  The job takes its first step from the loop, never before this
 * returns.  NULL when out of memory (env and body are then freed).
 */
struct source	*dcgi_start(struct dcgi *, struct dcgi_request *,
		    struct sink *);

/* Is there a MaxContainers slot for one more container? */
int		 dcgi_can_run(const struct dcgi *, const struct conf *);
/*
 * Run one queue item in a container (the item on stdin); the sink's end()
 * gets SINK_EXITED with the exit status, or -1 and why it could not run.
 */
struct source	*dcgi_run_item(struct dcgi *, struct conf *,
		    const struct conf_queue *, const char *item, size_t len,
		    const char *itemid, int attempt, struct sink *);

#endif
