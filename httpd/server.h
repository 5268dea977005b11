/*
 * server.h: listeners and client connections, one HTTP request at a time
 * per connection, driven by the loop.
 */
#ifndef DCGI_SERVER_H
#define DCGI_SERVER_H

#include <stddef.h>

struct conf;
struct dcgi;
struct loop;
struct server;

/* Which part of the work a process does (docs/privsep.md). */
enum server_role {
	SERVER_ONE,	/* everything, in one process */
	SERVER_ENGINE,	/* the engine: holds the listeners without serving
			   them; containers, pools, queues, logs */
	SERVER_NET	/* a server process: serves the listeners; asks the
			   engine over `chanfd` for each container */
};

/*
 * Open everything `conf` asks for (logs, MIME table, document root,
 * listeners) and start accepting.  The ninh sockets from descriptor
 * inh_first on came from systemd: each must match a Listen (by address, or
 * by port for a Listen without one, when it is bound to the wildcard).
 * Takes a reference to conf.  NULL with a message in err on failure.
 */
struct server	*server_new(struct loop *, struct conf *, enum server_role,
		    int chanfd, int inh_first, int ninh, char *err,
		    size_t errlen);
/* The listening sockets (the engine passes them to its servers): how
 * many there are, of which the first `max` are in fds. */
size_t		 server_listen_fds(const struct server *, int *fds,
		    size_t max);
/* The containers' side (the engine serves its servers' runs with it). */
struct dcgi	*server_dcgi(struct server *);
/* A server process is ready: tell the engine. */
int		 server_ready(struct server *);

/*
 * Health: what keeps this node from taking work besides draining
 * (DCGI_DOWN_* of dcgi.h), as this process knows it: the engine process
 * tells its server processes (engine_health()).
 */
unsigned	 server_health(const struct server *);

/*
 * Metrics: bring the gauges of containers, pools and queues up to date
 * where they live (the engine process, or the one process).  0 when the
 * configuration has no Metrics (nothing is done).
 */
int		 server_metrics_collect(struct server *);

/* What STATUS= tells systemd. */
struct server_stats {
	size_t		 conns;
	size_t		 containers;	/* running for requests and queues */
	size_t		 prestarted;	/* ready, waiting for a request */
};
void		 server_get_stats(const struct server *, struct server_stats *);

/*
 * Switch to `conf`: listeners added and removed, logs reopened.  On any
 * failure the old configuration stays in force and -1 is returned (the
 * reason is logged).  Takes a reference to conf on success.
 */
int		 server_reload(struct server *, struct conf *);

/* Stop accepting and finish what is in flight, within GracePeriod. */
void		 server_stop(struct server *);
/* The same for a server process a reload replaced: idle keep-alive
 * connections stay until their next request or their timeout. */
void		 server_drain(struct server *);
/* Nonzero once a stopping server has no connection left. */
int		 server_done(const struct server *);
void		 server_free(struct server *);

#endif
