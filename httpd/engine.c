/*
 * engine.c: the engine process of privilege separation (docs/privsep.md).
 *
 * The engine holds what is worth root on the host: the Docker socket, the
 * Redis connections, the prestart pools, the logs.  It runs no parser of
 * anything a client sends.  It starts server processes (fork, then exec of
 * this same binary, so each starts from a fresh address space), passes
 * them the listening sockets as systemd would (LISTEN_FDS), and serves
 * their requests for containers over a channel (chan.h): a CHAN_RUN makes
 * a container job in handoff mode (dcgi.c), whose attach stream goes to
 * the server with CHAN_GRANT; the server's CHAN_RELEASE (or its death)
 * ends the job, which removes the container.
 *
 * Health: the server processes answer it, but what it depends on is here
 * (the Docker engine's last /_ping, dcgi.c; the queues' Redis, queue.c).
 * main.c gives the engine that state after every iteration of the loop
 * (engine_health()); when it changed, each ready server process gets
 * CHAN_HEALTH, and each new one gets it as it says CHAN_HELLO.  Draining
 * is each server process's own to know.
 *
 * Metrics: the server processes answer it too, but containers, pools,
 * queues and the engine's and Redis's errors are counted here (metrics.h).
 * Once a second main.c brings the gauges up to date and calls
 * engine_metrics(): each ready server process whose configuration has
 * Metrics gets CHAN_METRICS with all of it (a new one also as it says
 * CHAN_HELLO), unless its channel still holds unsent messages: the next
 * snapshot is as good, and one that does not read gets no pile of them.
 *
 * Ownership:
 *   - struct engine: main.c's, from engine_new() to engine_free().
 *   - struct worker (one server process): the engine's list, from
 *     worker_spawn() until it has been reaped (worker_reaped()) and its
 *     channel has closed (worker_lost()): whichever comes last frees it
 *     (worker_free(), after the loop iteration).  A process that loses its
 *     channel, or outlives GracePeriod after it was told to stop, is
 *     killed (engine_kill_tick()).
 *   - struct lease (one CHAN_RUN): its worker's list, from the message
 *     until the job's end() or the server's release.  It embeds the sink
 *     the job answers through and holds the job's source until then.  The
 *     sink ops only send a message (chan_send() never calls back) and
 *     mark the lease; it is freed after the loop iteration, since a job
 *     that called end() may still be on the stack.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "chan.h"
#include "conf.h"
#include "dcgi.h"
#include "engine.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sink.h"

#define ENGINE_CHAN_BUF		(4 * 1024 * 1024)
#define ENGINE_RESPAWN_MS	1000	/* after deaths in quick succession */
#define ENGINE_KILL_MS		5000	/* past GracePeriod: SIGKILL */
/* Runs one server may have at once: its slots and a queue beyond them. */
#define ENGINE_MAX_LEASES(c)	((size_t)(c)->max_containers * 4 + 64)
/* And the bytes of their requests (environments) held meanwhile. */
#define ENGINE_MAX_BYTES	(64 * 1024 * 1024)

struct worker;

struct lease {
	struct sink	  sink;
	struct worker	 *w;
	struct lease	 *prev, *next;
	uint32_t	  id;
	struct source	 *src;		/* the job's; NULL once it ended */
	int		  granted;
	size_t		  bytes;	/* of its CHAN_RUN */
};

struct worker {
	struct engine	 *e;
	struct worker	 *next;
	pid_t		  pid;
	struct chan	 *chan;		/* NULL once closed */
	struct lease	 *leases;
	size_t		  nleases;
	size_t		  bytes;	/* its leases' CHAN_RUNs */
	struct conf	 *conf;		/* what it runs with */
	int		  ready;	/* said CHAN_HELLO */
	int		  reaped;
	int		  draining;	/* told to stop */
	int		  accepting;	/* its listeners are open */
	int		  reload;	/* started by a reload ... */
	int		  announced;	/* ... which is complete */
	int64_t		  started;	/* ms */
	int64_t		  warned;	/* ms: the last refusal logged */
	int64_t		  kill_at;	/* ms: SIGKILL if not gone; 0: none */
};

struct engine {
	struct loop	 *loop;
	struct dcgi	 *dc;
	char		 *conffile;
	char		  exe[PATH_MAX];
	struct worker	 *workers;
	struct worker	 *current;	/* the newest */
	struct conf	 *conf;		/* the last configure's: respawns */
	int		  fds[ENGINE_MAX_FDS];
	size_t		  nfds;
	int		  failed;	/* the newest died before it was ready */
	int		  stopping;
	uint32_t	  health;	/* DCGI_DOWN_*: what the servers know */
	int		  metrics_warned;	/* a snapshot did not fit */
	int		  deaths;	/* in quick succession */
	int64_t		  last_death;
	struct loop_timer respawn;
	struct loop_timer kill;
};

static int	worker_spawn(struct engine *, struct conf *);
static void	engine_check_reloaded(struct engine *);
static void	worker_lost(struct worker *, const char *);
static void	worker_deadline(struct worker *, int64_t);

/* ----- leases: one request's container ----- */

static void
lease_free(struct lease *l)
{
	struct worker *w = l->w;

	if (l->prev != NULL)
		l->prev->next = l->next;
	else
		w->leases = l->next;
	if (l->next != NULL)
		l->next->prev = l->prev;
	w->nleases--;
	w->bytes -= l->bytes;
	loop_defer_free(w->e->loop, l);
}

/* The server lets go of it (or has gone): the job ends, and frees it. */
static void
lease_cancel(struct lease *l)
{
	struct source *src = l->src;

	l->src = NULL;
	if (src != NULL)
		source_cancel(src);	/* end() is not called */
	lease_free(l);
}

static int
lease_attached(struct sink *s, int fd, const struct sink_attach *sa)
{
	struct lease *l = (struct lease *)s;
	struct chan_buf b = { 0 };
	int rv;

	chan_put_cstr(&b, sa->cid);
	chan_put_u32(&b, (uint32_t)sa->prestart);
	chan_put_u32(&b, (uint32_t)sa->framed);
	chan_put_u32(&b, (uint32_t)sa->queued_us);
	chan_put_u32(&b, (uint32_t)sa->create_us);
	chan_put_u32(&b, (uint32_t)sa->attach_us);
	chan_put_u32(&b, (uint32_t)sa->start_us);
	chan_put_str(&b, sa->pre, sa->prelen);
	if (b.err || l->w->chan == NULL) {
		close(fd);
		rv = -1;
	} else
		rv = chan_send(l->w->chan, CHAN_GRANT, l->id, b.p, b.len, fd);
	chan_buf_free(&b);
	if (rv == 0)
		l->granted = 1;
	return rv;
}

/* The job has ended: tell the server, unless it has let go already. */
static void
lease_end(struct sink *s, const struct sink_result *res)
{
	struct lease *l = (struct lease *)s;
	struct chan_buf b = { 0 };
	char extra[512];
	size_t n = 0;
	uint32_t status = 502;

	l->src = NULL;
	if (res->kind == SINK_ERROR)
		status = (uint32_t)res->status;
	else if (res->kind == SINK_CUT && l->granted)
		status = 504;
	/* The server adds its own Server-Timing: pass the rest on. */
	extra[0] = '\0';
	for (const char *h = res->headers; h != NULL && *h != '\0'; ) {
		const char *e = strstr(h, "\r\n");
		size_t len = e ? (size_t)(e - h) + 2 : strlen(h);

		if (strncasecmp(h, "Server-Timing:", 14) != 0 &&
		    n + len < sizeof(extra)) {
			memcpy(extra + n, h, len);
			n += len;
			extra[n] = '\0';
		}
		h += len;
	}
	if (l->w->chan != NULL) {
		chan_put_u32(&b, status);
		chan_put_cstr(&b, extra);
		if (!b.err)
			(void)chan_send(l->w->chan, l->granted ? CHAN_END :
			    CHAN_REFUSE, l->id, b.p, b.len, -1);
		chan_buf_free(&b);
	}
	lease_free(l);
}

static const struct sink_ops lease_ops = {
	NULL, NULL, lease_end, lease_attached
};

static struct lease *
lease_find(struct worker *w, uint32_t id)
{
	for (struct lease *l = w->leases; l != NULL; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static const struct conf_route *
route_find(const struct conf *conf, const char *prefix)
{
	for (size_t i = 0; i < conf->nroutes; i++)
		if (strcmp(conf->routes[i].prefix, prefix) == 0)
			return &conf->routes[i];
	return NULL;
}

static void
refuse(struct worker *w, uint32_t id, uint32_t status, const char *extra)
{
	struct chan_buf b = { 0 };

	chan_put_u32(&b, status);
	chan_put_cstr(&b, extra);
	if (!b.err)
		(void)chan_send(w->chan, CHAN_REFUSE, id, b.p, b.len, -1);
	chan_buf_free(&b);
}

/* CHAN_RUN: make (or take) a container for one of w's requests. */
static int
worker_run(struct worker *w, struct chan_msg *m)
{
	struct chan_run run;
	struct dcgi_request rq;
	const struct conf_route *route;
	struct lease *l;
	char **env;
	int rv;

	if (chan_queued(w->chan) > ENGINE_MAX_LEASES(w->conf))
		return -2;	/* it does not read its answers */
	if ((rv = chan_parse_run(m->data, m->len, &run)) == -1)
		return -1;
	/* A known id, or more runs than a server can have honestly. */
	if (rv == 0 && (lease_find(w, m->id) != NULL ||
	    w->nleases >= ENGINE_MAX_LEASES(w->conf))) {
		free(run.env);
		return -1;
	}
	if (rv == -2) {
		refuse(w, m->id, 500, "");
		return 0;
	}
	if (w->bytes + m->len > ENGINE_MAX_BYTES) {
		refuse(w, m->id, 503, "Retry-After: 1\r\n");
		free(run.env);
		return 0;
	}
	if ((route = route_find(w->conf, run.prefix)) == NULL ||
	    w->e->stopping) {
		/* At most a line a second: a server could send these fast. */
		if ((loop_clock_us() / 1000) - w->warned >= 1000) {
			w->warned = (loop_clock_us() / 1000);
			log_msg(LOG_LV_WARN, run.reqid, "route %s: %s: 503",
			    run.prefix, w->e->stopping ? "stopping" : "not in "
			    "the engine's configuration (a reload is under way)");
		}
		refuse(w, m->id, 503, "Retry-After: 1\r\n");
		free(run.env);
		return 0;
	}
	/* Only the CGI variables, and the route's Env from here. */
	env = cgi_env_confine(run.env, route->run.env);
	free(run.env);
	if (env == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		free(env);
		refuse(w, m->id, 500, "");
		return 0;
	}
	l->sink.ops = &lease_ops;
	l->w = w;
	l->id = m->id;
	l->bytes = m->len;
	w->bytes += l->bytes;
	l->next = w->leases;
	if (w->leases != NULL)
		w->leases->prev = l;
	w->leases = l;
	w->nleases++;
	memset(&rq, 0, sizeof(rq));
	rq.conf = w->conf;
	rq.route = route;
	rq.reqid = run.reqid;
	rq.env = env;
	rq.handoff = 1;
	if ((l->src = dcgi_start(w->e->dc, &rq, &l->sink)) == NULL) {
		refuse(w, m->id, 500, "");
		lease_free(l);
	}
	return 0;
}

static void
worker_health(struct worker *w)
{
	uint32_t h = w->e->health;

	if (w->chan != NULL)
		(void)chan_send(w->chan, CHAN_HEALTH, 0, &h, sizeof(h), -1);
}

static void
worker_metrics(struct worker *w)
{
	struct chan_buf b = { 0 };

	if (w->chan == NULL || w->conf->metrics == NULL ||
	    chan_queued(w->chan) > 0)
		return;
	if (metrics_snapshot(&b) == -1 || b.len > CHAN_MAX) {
		if (!w->e->metrics_warned)
			log_warn("Metrics: the engine's counts are not sent to "
			    "the server processes (out of memory, or over %d "
			    "bytes)", CHAN_MAX);
		w->e->metrics_warned = 1;
	} else
		(void)chan_send(w->chan, CHAN_METRICS, 0, b.p, b.len, -1);
	chan_buf_free(&b);
}

static void
worker_msg(void *arg, struct chan_msg *m)
{
	struct worker *w = arg;
	struct lease *l;
	struct chan_rd r = { m->data, m->len, 0 };
	uint32_t version;

	if (m->fd != -1 || m->fd_lost) {
		/* A server never passes descriptors to the engine. */
		if (m->fd != -1)
			close(m->fd);
		m->fd = -1;
		worker_lost(w, "it passed a descriptor");
		return;
	}
	switch (m->type) {
	case CHAN_EOF:
		/* Closed as it exits, or broken (a malformed message): a
		 * process without its channel gets little time to go. */
		if (m->len == 6 && memcmp(m->data, "closed", 6) == 0) {
			worker_deadline(w, ENGINE_KILL_MS);
			worker_lost(w, NULL);
		} else {
			char why[128];

			snprintf(why, sizeof(why), "its channel broke (%.*s)",
			    (int)m->len, m->data);
			worker_lost(w, why);
		}
		return;
	case CHAN_HELLO:
		version = chan_get_u32(&r);
		if (r.err || version != CHAN_VERSION) {
			log_error("server process %d speaks version %u, not %d",
			    (int)w->pid, version, CHAN_VERSION);
			worker_lost(w, "wrong version");
			return;
		}
		w->ready = 1;
		log_info("server process %d ready", (int)w->pid);
		worker_health(w);
		worker_metrics(w);
		/* The ones before it (later in the list) stop now: it serves
		 * the listeners.  One started after it waits its own turn. */
		for (struct worker *o = w->next; o != NULL; o = o->next)
			if (!o->draining && !o->reaped) {
				o->draining = 1;
				(void)kill(o->pid, SIGUSR2);
				/* GracePeriod for its requests, as at a stop. */
				worker_deadline(o, o->conf->grace_ms +
				    ENGINE_KILL_MS);
			}
		engine_check_reloaded(w->e);
		return;
	case CHAN_DRAINING:
		w->accepting = 0;
		engine_check_reloaded(w->e);
		return;
	case CHAN_RUN:
		switch (worker_run(w, m)) {
		case -1:
			worker_lost(w, "a malformed request for a container");
			break;
		case -2:
			worker_lost(w, "it does not read the engine's answers");
			break;
		}
		return;
	case CHAN_RELEASE:
		if ((l = lease_find(w, m->id)) != NULL)
			lease_cancel(l);
		/* else it ended here first (END crossed it) */
		return;
	default:
		worker_lost(w, "a message of unknown type");
		return;
	}
}

/*
 * A reload is complete once its server process is ready and every older
 * one has stopped accepting: from then on each new connection gets the new
 * configuration.
 */
static void
engine_check_reloaded(struct engine *e)
{
	for (struct worker *w = e->workers; w != NULL; w = w->next) {
		int older = 0;

		if (!w->reload || w->announced || !w->ready || w->reaped)
			continue;
		for (struct worker *o = w->next; o != NULL; o = o->next)
			older |= o->accepting && !o->reaped;
		if (older)
			continue;
		w->announced = 1;
		log_info("configuration reloaded from %s (server process %d)",
		    w->conf->path, (int)w->pid);
	}
}

/* ----- server processes ----- */

/* The child, between fork and exec: descriptors 3.. and the environment. */
static void
child_exec(struct engine *e, int chanfd)
{
	char num[32];
	sigset_t none;
	int hi[ENGINE_MAX_FDS + 1];
	size_t n = e->nfds;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Up above 3..3+n first, then down to them: no dup2 clobbers one
	 * still to be moved (and no RLIMIT_NOFILE near 1024 is in the way). */
	for (size_t i = 0; i < n; i++)
		if ((hi[i] = fcntl(e->fds[i], F_DUPFD, (int)(4 + n))) == -1)
			_exit(126);
	if ((hi[n] = fcntl(chanfd, F_DUPFD, (int)(4 + n))) == -1)
		_exit(126);
	for (size_t i = 0; i <= n; i++)
		if (dup2(hi[i], 3 + (int)i) == -1)
			_exit(126);
	/* Nothing else of the engine's (libcurl's sockets to the engine
	 * are not close-on-exec): one by one where close_range() is not
	 * there (Linux before 5.9, a seccomp profile that refuses it). */
	if (close_range(3 + (unsigned)n + 1, ~0U, 0) == -1) {
		struct rlimit rl;
		rlim_t max = 1 << 20;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max)
			max = rl.rlim_cur;
		for (rlim_t fd = 3 + n + 1; fd < max; fd++)
			(void)close((int)fd);
	}
	snprintf(num, sizeof(num), "%zu", n);
	setenv("LISTEN_FDS", num, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	snprintf(num, sizeof(num), "%zu", 3 + n);
	setenv("DCGID_ENGINE_FD", num, 1);
	unsetenv("LISTEN_FDNAMES");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execl(e->exe, "dcgid", "-f", e->conffile, (char *)NULL);
	_exit(127);
}

static int
worker_spawn(struct engine *e, struct conf *conf)
{
	struct worker *w;
	int sp[2], sz = ENGINE_CHAN_BUF;
	pid_t pid;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1) {
		log_error("socketpair: %s", strerror(errno));
		free(w);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		/* Messages up to CHAN_MAX: as root, past the sysctl limits. */
		if (setsockopt(sp[i], SOL_SOCKET, SO_SNDBUFFORCE, &sz,
		    sizeof(sz)) == -1)
			(void)setsockopt(sp[i], SOL_SOCKET, SO_SNDBUF, &sz,
			    sizeof(sz));
		if (setsockopt(sp[i], SOL_SOCKET, SO_RCVBUFFORCE, &sz,
		    sizeof(sz)) == -1)
			(void)setsockopt(sp[i], SOL_SOCKET, SO_RCVBUF, &sz,
			    sizeof(sz));
	}
	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		free(w);
		return -1;
	}
	if (pid == 0)
		child_exec(e, sp[1]);
	close(sp[1]);
	w->e = e;
	w->pid = pid;
	w->started = (loop_clock_us() / 1000);
	w->accepting = 1;
	w->conf = conf_ref(conf);
	if ((w->chan = chan_new(e->loop, sp[0], worker_msg, w)) == NULL) {
		log_error("server process %d: no channel: out of memory",
		    (int)pid);
		(void)kill(pid, SIGKILL);
		w->draining = 1;
	}
	w->next = e->workers;
	e->workers = w;
	e->current = w;
	log_info("server process %d started", (int)pid);
	return 0;
}

/* Its containers go: the server that used them has. */
static void
worker_close(struct worker *w)
{
	struct lease *l;

	while ((l = w->leases) != NULL)
		lease_cancel(l);
	chan_free(w->chan);
	w->chan = NULL;
}

static void
worker_free(struct worker *w)
{
	struct engine *e = w->e;
	struct worker **pp;

	for (pp = &e->workers; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (e->current == w)
		e->current = NULL;
	conf_unref(w->conf);
	loop_defer_free(e->loop, w);
}

/* The channel closed or broke: end w (a process that misbehaves dies). */
static void
worker_lost(struct worker *w, const char *why)
{
	struct engine *e = w->e;

	if (why != NULL) {
		log_error("server process %d: %s: killing it", (int)w->pid, why);
		(void)kill(w->pid, SIGKILL);
	}
	if (w->nleases > 0)
		log_info("server process %d gone: removing its %zu "
		    "container%s", (int)w->pid, w->nleases,
		    w->nleases == 1 ? "" : "s");
	worker_close(w);
	w->accepting = 0;
	if (w->reaped)
		worker_free(w);
	engine_check_reloaded(e);
}

/* A server process has exited: reap it, replace it if it was the one. */
static void
worker_reaped(struct worker *w, int status)
{
	struct engine *e = w->e;
	int was_current = e->current == w, sig = WIFSIGNALED(status);
	int ready = w->ready;
	int64_t started = w->started;
	struct conf *conf = conf_ref(w->conf);

	w->reaped = 1;
	if (sig || WEXITSTATUS(status) != 0 || !w->draining)
		log_msg(w->draining ? LOG_LV_INFO : LOG_LV_ERROR, NULL,
		    "server process %d %s %d%s", (int)w->pid, sig ?
		    "killed by signal" : "exited", sig ? WTERMSIG(status) :
		    WEXITSTATUS(status), w->ready ? "" : " before it was ready");
	else
		log_info("server process %d exited", (int)w->pid);
	if (w->chan != NULL)
		worker_lost(w, NULL);	/* frees it too */
	else
		worker_free(w);
	if (was_current && !e->stopping) {
		int64_t now = (loop_clock_us() / 1000);

		if (!ready && now - started < 5000) {
			/* It could not start (a reload's new config): keep
			 * the ones before it, which still serve. */
			if (w->reload)
				log_error("reload: the new server process died "
				    "before it was ready; the old one keeps "
				    "serving");
			e->failed = 1;
			for (struct worker *o = e->workers; o != NULL;
			    o = o->next)
				if (!o->draining && !o->reaped) {
					e->current = o;
					break;
				}
			/* Respawns from now on use what still serves. */
			if (e->current != NULL && e->conf != e->current->conf) {
				conf_unref(e->conf);
				e->conf = conf_ref(e->current->conf);
			}
		}
		if (e->current == NULL) {
			e->deaths = now - e->last_death < 10000 ?
			    e->deaths + 1 : 1;
			e->last_death = now;
			if (e->deaths >= 3) {
				log_error("server processes die in quick "
				    "succession: the next in %dms",
				    ENGINE_RESPAWN_MS);
				loop_timer_set(e->loop, &e->respawn,
				    ENGINE_RESPAWN_MS);
			} else if (worker_spawn(e, conf) == -1)
				loop_timer_set(e->loop, &e->respawn,
				    ENGINE_RESPAWN_MS);
		}
	}
	conf_unref(conf);
}

void
engine_reap(struct engine *e)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w;

		for (w = e->workers; w != NULL; w = w->next)
			if (w->pid == pid && !w->reaped)
				break;
		if (w != NULL)
			worker_reaped(w, status);
	}
}

/* ----- the engine ----- */

static void
engine_respawn_tick(struct loop_timer *t)
{
	struct engine *e = LOOP_OWNER(t, struct engine, respawn);
	if (e->stopping || e->current != NULL || e->conf == NULL)
		return;
	if (worker_spawn(e, e->conf) == -1)
		loop_timer_set(e->loop, &e->respawn, ENGINE_RESPAWN_MS);
}

/* Kill the server processes whose time is up; wait for the next one. */
static void
engine_kill_tick(struct loop_timer *t)
{
	struct engine *e = LOOP_OWNER(t, struct engine, kill);
	int64_t now = (loop_clock_us() / 1000), next = 0;

	for (struct worker *w = e->workers; w != NULL; w = w->next) {
		if (w->reaped || w->kill_at == 0)
			continue;
		if (now >= w->kill_at) {
			log_warn("server process %d still running %s: SIGKILL",
			    (int)w->pid, w->chan != NULL ? "after GracePeriod" :
			    "without its channel");
			(void)kill(w->pid, SIGKILL);
			w->kill_at = 0;
		} else if (next == 0 || w->kill_at < next)
			next = w->kill_at;
	}
	if (next != 0)
		loop_timer_set(e->loop, &e->kill, next - now);
}

/* w is killed unless it has gone within `ms` (or an earlier deadline). */
static void
worker_deadline(struct worker *w, int64_t ms)
{
	int64_t at = (loop_clock_us() / 1000) + ms;

	if (w->reaped || (w->kill_at != 0 && w->kill_at <= at))
		return;
	w->kill_at = at;
	engine_kill_tick(&w->e->kill);
}

struct engine *
engine_new(struct loop *loop, struct dcgi *dc, const char *conffile,
    char *err, size_t errlen)
{
	struct engine *e;
	ssize_t n;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->conffile = strdup(conffile)) == NULL) {
		free(e);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((n = readlink("/proc/self/exe", e->exe, sizeof(e->exe) - 1)) <= 0) {
		snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
		free(e->conffile);
		free(e);
		return NULL;
	}
	e->exe[n] = '\0';
	e->loop = loop;
	e->dc = dc;
	e->respawn.fn = engine_respawn_tick;
	e->kill.fn = engine_kill_tick;
	return e;
}

int
engine_configure(struct engine *e, struct conf *conf, const int *fds,
    size_t n)
{
	int reload;

	if (n > ENGINE_MAX_FDS) {
		log_error("more than %d listening sockets", ENGINE_MAX_FDS);
		return -1;
	}
	memcpy(e->fds, fds, n * sizeof(int));
	e->nfds = n;
	if (e->conf != NULL)
		conf_unref(e->conf);
	e->conf = conf_ref(conf);
	e->failed = 0;
	reload = e->workers != NULL;
	if (worker_spawn(e, conf) == -1)
		return -1;
	e->current->reload = reload;
	return 0;
}

int
engine_ready(const struct engine *e)
{
	const struct worker *c = e->current;

	return c != NULL && c->ready && (!c->reload || c->announced);
}

int
engine_failed(const struct engine *e)
{
	return e->failed;
}

void
engine_health(struct engine *e, unsigned down)
{
	if (down == e->health)
		return;
	e->health = down;
	for (struct worker *w = e->workers; w != NULL; w = w->next)
		if (w->ready && !w->reaped)
			worker_health(w);
}

void
engine_metrics(struct engine *e)
{
	for (struct worker *w = e->workers; w != NULL; w = w->next)
		if (w->ready && !w->reaped)
			worker_metrics(w);
}

void
engine_stop(struct engine *e)
{
	int64_t grace = e->conf != NULL ? e->conf->grace_ms : 10000;

	if (e->stopping)
		return;
	e->stopping = 1;
	loop_timer_del(e->loop, &e->respawn);
	for (struct worker *w = e->workers; w != NULL; w = w->next)
		if (!w->reaped) {
			w->draining = 1;
			(void)kill(w->pid, SIGTERM);
			worker_deadline(w, grace + ENGINE_KILL_MS);
		}
}

int
engine_done(const struct engine *e)
{
	return e->workers == NULL;
}

size_t
engine_servers(const struct engine *e)
{
	size_t n = 0;

	for (const struct worker *w = e->workers; w != NULL; w = w->next)
		n += !w->reaped;
	return n;
}

void
engine_free(struct engine *e)
{
	struct worker *w;

	if (e == NULL)
		return;
	while ((w = e->workers) != NULL) {
		if (!w->reaped) {
			(void)kill(w->pid, SIGKILL);
			(void)waitpid(w->pid, NULL, 0);
			w->reaped = 1;
		}
		if (w->chan != NULL)
			worker_close(w);
		worker_free(w);
	}
	loop_timer_del(e->loop, &e->respawn);
	loop_timer_del(e->loop, &e->kill);
	if (e->conf != NULL)
		conf_unref(e->conf);
	free(e->conffile);
	free(e);
}
