/*
 * dcgi.h: one request served by one fresh container.  Joins http (the
 * client connection, through server.h), cgi (environment and response
 * header block) and docker (the engine).
 */
#ifndef DCGI_DCGI_H
#define DCGI_DCGI_H

#include <stddef.h>

struct conf;
struct conf_route;
struct conn;
struct dcgi;
struct dcgi_job;
struct loop;

/* NULL with err set when DockerHost is malformed. */
struct dcgi	*dcgi_new(struct loop *, const struct conf *, char *err,
		    size_t errlen);
void		 dcgi_free(struct dcgi *);
/*
 * The configuration in force (at start and after each reload): routes
 * with Prestart get their pools; a pool whose route changed or went is
 * drained.  The dcgi keeps a reference to `conf` while it has pools.
 */
void		 dcgi_configure(struct dcgi *, struct conf *);
/* Nonzero while containers or engine calls are still in flight. */
int		 dcgi_busy(const struct dcgi *);
/* Say in the log what is still in flight. */
void		 dcgi_log_busy(const struct dcgi *);
/* Running containers, and prestarted ones ready, for status lines. */
size_t		 dcgi_running(const struct dcgi *);
size_t		 dcgi_prestarted(const struct dcgi *);
/* Stop: no new containers; queued requests get 503. */
void		 dcgi_stop(struct dcgi *);

/*
 * Serve the request on `c` (head and body read) with a container for
 * `route`.  The job answers through the conn_* calls in server.h.
 */
struct dcgi_job	*dcgi_start(struct dcgi *, struct conn *,
		    const struct conf_route *);
/*
 * A queue item's run has ended: `status` is the exit status of the
 * function, or -1 when it could not run (`why` says why).
 */
typedef void	(*dcgi_done_fn)(void *arg, int status, const char *why);
struct conf_queue;
/* Is there a MaxContainers slot for one more container? */
int		 dcgi_can_run(const struct dcgi *, const struct conf *);
/* Run one queue item in a container (the item goes to stdin). */
struct dcgi_job	*dcgi_run_item(struct dcgi *, struct conf *,
		    const struct conf_queue *, const char *item, size_t len,
		    const char *itemid, int attempt, dcgi_done_fn, void *arg);

/* Whoever waited for a queue item's end has gone: do not call back. */
void		 dcgi_job_forget(struct dcgi_job *);

/* The client has gone: kill and remove the container. */
void		 dcgi_client_gone(struct dcgi_job *);
/* The client has taken what was queued: read more output. */
void		 dcgi_writable(struct dcgi_job *);

#endif
