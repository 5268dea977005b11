/*
 * main.c: the command line, signals and the life of the process.
 *
 * dcgid runs in the foreground (systemd style).  Signals arrive through a
 * signalfd in the event loop, so a handler never interrupts the server in
 * the middle of anything: SIGTERM/SIGINT stop gracefully, SIGHUP reloads.
 * Under systemd it says so (READY=1, RELOADING=1, STOPPING=1, STATUS=,
 * WATCHDOG=1 from the loop itself, so a stuck loop is noticed) and takes
 * the listening sockets systemd passes.
 *
 * Metrics: where the containers and queues are (the engine process, or
 * the one process), a timer brings their gauges up to date once a second
 * while the configuration has Metrics (and asks Redis for the queues'
 * lengths); the engine process then sends its counts to its server
 * processes (engine_metrics()).
 */
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <fcntl.h>
#include <pwd.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conf.h"
#include "engine.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sandbox.h"
#include "sd.h"
#include "server.h"
#include "static.h"
#include "tls.h"

#define DEFAULT_CONF	DCGI_SYSCONFDIR "/httpd.conf"
#define STATUS_MS	2000	/* how often STATUS= is brought up to date */
#define DCGI_USER	"dcgi"	/* User's default */

struct mainctx {
	struct loop_io	 sigio;
	struct loop	*loop;
	struct server	*srv;
	enum server_role role;
	struct engine	*engine;	/* SERVER_ENGINE */
	int		 ready_sent;
	int		 reload_wait;	/* READY=1 when the new server is */
	int		 reload_again;	/* SIGHUPs that came meanwhile */
	const char	*conffile;
	char		 root[PATH_MAX];
	int		 stop;
	int		 notify;	/* systemd listens on NOTIFY_SOCKET */
	struct loop_timer status;
	char		 status_sent[200];
	struct loop_timer watchdog;
	int64_t		 watchdog_ms;
	struct loop_timer metrics;	/* while the configuration has Metrics */
};

/* "3 connections, 1 container running[, 4 prestarted]" */
static void
main_status(struct mainctx *m, char *buf, size_t len)
{
	struct server_stats st;
	int n;

	server_get_stats(m->srv, &st);
	if (m->engine != NULL) {
		size_t ns = engine_servers(m->engine);

		n = snprintf(buf, len, "%s%zu server process%s, %zu container%s "
		    "running", m->stop ? "stopping: " : "", ns, ns == 1 ? "" :
		    "es", st.containers, st.containers == 1 ? "" : "s");
	} else
		n = snprintf(buf, len, "%s%zu connection%s, %zu container%s "
		    "running", m->stop ? "stopping: " : "", st.conns,
		    st.conns == 1 ? "" : "s", st.containers,
		    st.containers == 1 ? "" : "s");
	if (st.prestarted > 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", %zu prestarted",
		    st.prestarted);
}

static void
main_status_tick(struct loop_timer *t)
{
	struct mainctx *m = LOOP_OWNER(t, struct mainctx, status);
	char buf[200];

	main_status(m, buf, sizeof(buf));
	if (strcmp(buf, m->status_sent) != 0) {
		sd_send("STATUS=%s", buf);
		memcpy(m->status_sent, buf, sizeof(buf));
	}
	loop_timer_set(m->loop, &m->status, STATUS_MS);
}

static void
main_watchdog_tick(struct loop_timer *t)
{
	struct mainctx *m = LOOP_OWNER(t, struct mainctx, watchdog);

	sd_send("WATCHDOG=1");
	loop_timer_set(m->loop, &m->watchdog, m->watchdog_ms);
}

static void
main_metrics_tick(struct loop_timer *t)
{
	struct mainctx *m = LOOP_OWNER(t, struct mainctx, metrics);

	if (!server_metrics_collect(m->srv))
		return;		/* no Metrics: main_metrics() if it comes back */
	if (m->engine != NULL)
		engine_metrics(m->engine);
	loop_timer_set(m->loop, &m->metrics, METRICS_MS);
}

/* At the start and after each reload: tick if Metrics is (now) set. */
static void
main_metrics(struct mainctx *m)
{
	if (m->role != SERVER_NET && !loop_timer_armed(&m->metrics))
		loop_timer_set(m->loop, &m->metrics, 0);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: dcgid [-f FILE] [-t] [-v] [-h]\n"
	    "  -f FILE  configuration file (default: %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -v       print the version and exit\n"
	    "  -h       this help\n", DEFAULT_CONF);
}

static void
conf_err_stderr(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void
conf_err_log(void *arg, const char *msg)
{
	(void)arg;
	log_error("%s", msg);
}

/*
 * The soft RLIMIT_NOFILE up to the hard one: each connection and each
 * container stream is a descriptor, and dcgid uses epoll, not select().
 */
static void
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* READY=1 to systemd, then STATUS= and the watchdog from now on. */
static void
main_ready(struct mainctx *m)
{
	main_status(m, m->status_sent, sizeof(m->status_sent));
	sd_send("READY=1\nMAINPID=%d\nSTATUS=%s", (int)getpid(),
	    m->status_sent);
	m->status.fn = main_status_tick;
	loop_timer_set(m->loop, &m->status, STATUS_MS);
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	if ((m->watchdog_ms = (sd_watchdog_usec() + 1999) / 2000) > 0) {
		m->watchdog.fn = main_watchdog_tick;
		main_watchdog_tick(&m->watchdog);
	}
}

/* A server process for conf, with the listening sockets of m->srv. */
static int
main_engine_configure(struct mainctx *m, struct conf *conf)
{
	int fds[ENGINE_MAX_FDS];
	size_t n = server_listen_fds(m->srv, fds, ENGINE_MAX_FDS);

	return engine_configure(m->engine, conf, fds, n);
}

static void
main_reload(struct mainctx *m)
{
	struct conf *conf;

	char st[200];
	int rv = -1;

	if (m->stop) {
		log_info("SIGHUP while stopping: ignored");
		return;
	}
	if (m->reload_wait) {
		/* One at a time, as systemd expects: this one follows the
		 * reload whose server process is not ready yet. */
		m->reload_again++;
		return;
	}
	log_info("SIGHUP: reloading %s", m->conffile);
	sd_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
	    (unsigned long long)loop_clock_us(), m->conffile);
	conf = conf_load(m->conffile, m->root, conf_err_log, NULL);
	if (conf == NULL)
		log_error("reload: %s has errors; keeping the old configuration",
		    m->conffile);
	else {
		rv = server_reload(m->srv, conf);
		if (rv == 0)
			main_metrics(m);
		if (rv == 0 && m->engine != NULL) {
			/* A new server process with it; the old one stops
			 * once the new one is ready. */
			rv = main_engine_configure(m, conf);
		}
		conf_unref(conf);
	}
	if (rv == 0 && m->engine != NULL) {
		/* READY=1 once the new server process is (the main loop). */
		m->reload_wait = 1;
		return;
	}
	main_status(m, st, sizeof(st));
	sd_send("READY=1\nSTATUS=%s%s", rv == 0 ? "" :
	    "reload failed, the old configuration stays; ", st);
}

static void
main_signal(struct loop_io *io, unsigned revents)
{
	struct mainctx *m = (struct mainctx *)io;
	struct signalfd_siginfo si;
	(void)revents;

	while (read(io->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			if (m->role == SERVER_NET)
				break;	/* the engine reloads: a new process */
			main_reload(m);
			break;
		case SIGUSR2:
			/* A reload's new server process is ready: drain. */
			if (m->role == SERVER_NET && m->stop == 0) {
				log_info("replaced by a new server process: "
				    "draining");
				server_drain(m->srv);
			}
			break;
		case SIGCHLD:
			if (m->engine != NULL)
				engine_reap(m->engine);
			break;
		case SIGTERM:
		case SIGINT:
			if (m->stop++ == 0) {
				log_info("%s: stopping", si.ssi_signo == SIGTERM ?
				    "SIGTERM" : "SIGINT");
				sd_send("STOPPING=1\nSTATUS=stopping");
				if (m->engine != NULL)
					engine_stop(m->engine);
				else
					server_stop(m->srv);
			} else {
				log_warn("second stop signal: exiting now");
				m->stop = 99;
			}
			break;
		}
	}
}

/*
 * -t goes as far as start-up would without binding: the files the
 * configuration names must open, and a TLS pair must load and match.
 */
static int
main_check(const struct conf *conf)
{
	struct tls_server *tls;
	struct mime *mime;
	char err[512];
	int fd, rv = 0;

	if ((fd = open(conf->document_root, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		fprintf(stderr, "%s: DocumentRoot %s: %s\n", conf->path,
		    conf->document_root, strerror(errno));
		rv = 1;
	} else
		close(fd);
	if ((mime = mime_load(conf->mime_types, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: MimeTypes %s\n", conf->path, err);
		rv = 1;
	}
	mime_free(mime);
	if (conf->privsep && geteuid() == 0 && getpwnam(conf->server_user ?
	    conf->server_user : DCGI_USER) == NULL) {
		fprintf(stderr, "%s: User %s: no such user (make it: useradd "
		    "--system --no-create-home --shell /usr/sbin/nologin %s; "
		    "make install does)\n", conf->path, conf->server_user ?
		    conf->server_user : DCGI_USER, conf->server_user ?
		    conf->server_user : DCGI_USER);
		rv = 1;
	}
	for (size_t i = 0; i < conf->nlistens; i++) {
		if (!conf->listens[i].tls)
			continue;
		if ((tls = tls_server_new(conf, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s:%d: %s\n", conf->listens[i].file,
			    conf->listens[i].line, err);
			rv = 1;
		}
		tls_server_unref(tls);
		break;
	}
	return rv;
}

int
main(int argc, char *argv[])
{
	struct mainctx m;
	struct conf *conf = NULL;
	sigset_t mask;
	char err[512];
	int ch, test = 0, rv = 1, ninh = 0, chanfd = -1;
	const char *e;

	memset(&m, 0, sizeof(m));
	m.conffile = DEFAULT_CONF;
	m.metrics.fn = main_metrics_tick;
	m.sigio.fd = -1;
	while ((ch = getopt(argc, argv, "f:tvh")) != -1) {
		switch (ch) {
		case 'f':
			m.conffile = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			printf("dcgid %s\n", DCGI_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	/* Relative paths in the config resolve against the start directory. */
	if (getcwd(m.root, sizeof(m.root)) == NULL) {
		fprintf(stderr, "dcgid: getcwd: %s\n", strerror(errno));
		return 1;
	}
	conf = conf_load(m.conffile, m.root, conf_err_stderr, NULL);
	if (conf == NULL) {
		if (test)
			fprintf(stderr, "%s: configuration has errors\n",
			    m.conffile);
		else
			fprintf(stderr, "dcgid: not starting: %s has errors\n",
			    m.conffile);
		return 1;
	}
	if (test) {
		rv = main_check(conf);
		if (rv == 0)
			printf("Syntax OK\n");
		conf_unref(conf);
		return rv;
	}

	/*
	 * Which process is this?  The engine starts its server processes
	 * with DCGID_ENGINE_FD, the channel (engine.c); a configuration with
	 * PrivilegeSeparation off runs everything in one.
	 */
	if ((e = getenv("DCGID_ENGINE_FD")) != NULL) {
		char tag[32];

		m.role = SERVER_NET;
		chanfd = atoi(e);
		unsetenv("DCGID_ENGINE_FD");
		snprintf(tag, sizeof(tag), "server %d", (int)getpid());
		log_set_tag(tag);
	} else
		m.role = conf->privsep ? SERVER_ENGINE : SERVER_ONE;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (m.role == SERVER_ENGINE)
		sigaddset(&mask, SIGCHLD);
	if (m.role == SERVER_NET)
		sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (m.sigio.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		fprintf(stderr, "dcgid: signalfd: %s\n", strerror(errno));
		goto done;
	}
	m.sigio.fn = main_signal;
	if ((m.loop = loop_new()) == NULL ||
	    loop_add(m.loop, &m.sigio, LOOP_READ, 0) == -1) {
		fprintf(stderr, "dcgid: epoll: %s\n", strerror(errno));
		goto done;
	}
	main_raise_nofile();
	if ((ninh = sd_listen(err, sizeof(err))) == -1) {
		fprintf(stderr, "dcgid: not starting: %s\n", err);
		goto done;
	}
	/* A notify socket we cannot use costs systemd's view, not service. */
	if ((m.notify = sd_open(err, sizeof(err))) == -1) {
		fprintf(stderr, "dcgid: %s; not notifying\n", err);
		m.notify = 0;
	}
	if ((m.srv = server_new(m.loop, conf, m.role, chanfd,
	    SD_LISTEN_FDS_START, ninh, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dcgid: %s: %s\n", m.role == SERVER_NET ?
		    "server process not starting" : "not starting", err);
		goto done;
	}
	if (m.role == SERVER_NET) {
		/* Loaded: now give up what a server has no use for. */
		if (sandbox_enter(conf->server_user ? conf->server_user :
		    DCGI_USER, conf->document_root, err, sizeof(err)) == -1) {
			log_error("server process not starting: %s", err);
			goto done;
		}
		if (server_ready(m.srv) == -1) {
			log_error("server process: cannot reach the engine");
			goto done;
		}
	} else if (m.role == SERVER_ENGINE) {
		if ((m.engine = engine_new(m.loop, server_dcgi(m.srv),
		    m.conffile, err, sizeof(err))) == NULL ||
		    main_engine_configure(&m, conf) == -1) {
			fprintf(stderr, "dcgid: not starting: %s\n", m.engine ?
			    "cannot start a server process" : err);
			goto done;
		}
	}
	main_metrics(&m);
	if (m.role != SERVER_NET)
		log_info("dcgid %s started (pid %d, config %s%s%s)",
		    DCGI_VERSION, (int)getpid(), m.conffile, m.notify ?
		    ", under systemd" : "", m.role == SERVER_ONE ?
		    ", one process" : "");
	if (m.notify && m.role == SERVER_ENGINE) {
		/* READY=1, STATUS= and the watchdog once the first server
		 * process is ready (the main loop). */
	} else if (m.notify)
		main_ready(&m);
	for (;;) {
		if (m.engine != NULL) {
			if (!m.ready_sent && engine_ready(m.engine)) {
				m.ready_sent = 1;
				if (m.notify)
					main_ready(&m);
			}
			if (m.reload_wait && engine_ready(m.engine)) {
				char st[200];

				m.reload_wait = 0;
				main_status(&m, st, sizeof(st));
				sd_send("READY=1\nSTATUS=%s%s",
				    engine_failed(m.engine) ? "reload failed, "
				    "the old configuration stays; " : "", st);
				if (m.reload_again > 0) {
					m.reload_again--;
					main_reload(&m);
				}
			}
			/* The servers first, then the containers and queues. */
			if (m.stop && engine_done(m.engine))
				server_stop(m.srv);
			/* Health: whatever this iteration changed (a ping's
			 * answer, Redis gone) reaches the server processes. */
			engine_health(m.engine, server_health(m.srv));
		}
		if (server_done(m.srv) || m.stop >= 99)
			break;
		if (loop_run_once(m.loop) == -1) {
			log_error("epoll_wait: %s", strerror(errno));
			goto done;
		}
	}
	log_info("stopped");
	loop_timer_del(m.loop, &m.status);
	loop_timer_del(m.loop, &m.watchdog);
	loop_timer_del(m.loop, &m.metrics);
	rv = 0;
done:
	engine_free(m.engine);
	server_free(m.srv);
	if (conf != NULL)
		conf_unref(conf);
	loop_free(m.loop);
	if (m.sigio.fd != -1)
		close(m.sigio.fd);
	metrics_reset();
	return rv;
}
