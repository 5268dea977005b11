/*
 * engine.h: the engine process of privilege separation (docs/privsep.md):
 * it starts the server processes, passes them the listening sockets, and
 * makes, hands over and removes the containers they ask for.
 */
#ifndef DCGI_ENGINE_H
#define DCGI_ENGINE_H

#define ENGINE_MAX_FDS	64	/* listening sockets passed down */

#include <stddef.h>

struct conf;
struct dcgi;
struct engine;
struct loop;

/* `conffile` is what each server process reads (relative to the cwd). */
struct engine	*engine_new(struct loop *, struct dcgi *, const char *conffile,
		    char *err, size_t errlen);
void		 engine_free(struct engine *);
/*
 * Start a server process for `conf` (at start and after each reload) with
 * the listening sockets fds[0..n).  The one before it is told to stop
 * once the new one is ready.  -1 when it could not be started, or n is
 * over ENGINE_MAX_FDS (logged).
 */
int		 engine_configure(struct engine *, struct conf *,
		    const int *fds, size_t n);
/* SIGCHLD: reap server processes, start a new one for one that died. */
void		 engine_reap(struct engine *);
/* A server process has said it is ready (since the last configure). */
int		 engine_ready(const struct engine *);
/* Nonzero when the last configure's server process died before ready. */
int		 engine_failed(const struct engine *);
/*
 * The node's state for Health (DCGI_DOWN_* of dcgi.h), as the engine
 * process sees it: each ready server process is told when it changes.
 */
void		 engine_health(struct engine *, unsigned down);
/*
 * Metrics: send what this process counts (metrics.h) to each ready server
 * process whose configuration has Metrics.  main.c calls it once a
 * second, after server_metrics_collect().
 */
void		 engine_metrics(struct engine *);
/* Stop: every server process finishes and exits (within GracePeriod). */
void		 engine_stop(struct engine *);
/* No server process is left. */
int		 engine_done(const struct engine *);
/* Server processes running, for status lines. */
size_t		 engine_servers(const struct engine *);

#endif
