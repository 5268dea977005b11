/*
 * main.c: the command line, signals and the life of the process.
 *
 * dcgid runs in the foreground (systemd style).  Signals arrive through a
 * signalfd in the event loop, so a handler never interrupts the server in
 * the middle of anything: SIGTERM/SIGINT stop gracefully, SIGHUP reloads.
 */
#include <sys/signalfd.h>

#include <fcntl.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "static.h"
#include "tls.h"

#define DEFAULT_CONF	DCGI_SYSCONFDIR "/httpd.conf"

struct mainctx {
	struct loop_io	 sigio;
	struct loop	*loop;
	struct server	*srv;
	const char	*conffile;
	char		 root[PATH_MAX];
	int		 stop;
};

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

static void
main_reload(struct mainctx *m)
{
	struct conf *conf;

	log_info("SIGHUP: reloading %s", m->conffile);
	conf = conf_load(m->conffile, m->root, conf_err_log, NULL);
	if (conf == NULL) {
		log_error("reload: %s has errors; keeping the old configuration",
		    m->conffile);
		return;
	}
	(void)server_reload(m->srv, conf);
	conf_unref(conf);
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
			main_reload(m);
			break;
		case SIGTERM:
		case SIGINT:
			if (m->stop++ == 0) {
				log_info("%s: stopping", si.ssi_signo == SIGTERM ?
				    "SIGTERM" : "SIGINT");
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
	int ch, test = 0, rv = 1;

	memset(&m, 0, sizeof(m));
	m.conffile = DEFAULT_CONF;
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

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
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
	if ((m.srv = server_new(m.loop, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dcgid: not starting: %s\n", err);
		goto done;
	}
	log_info("dcgid %s started (pid %d, config %s)", DCGI_VERSION,
	    (int)getpid(), m.conffile);
	while (!server_done(m.srv) && m.stop < 99) {
		if (loop_run_once(m.loop) == -1) {
			log_error("epoll_wait: %s", strerror(errno));
			goto done;
		}
	}
	log_info("stopped");
	rv = 0;
done:
	server_free(m.srv);
	if (conf != NULL)
		conf_unref(conf);
	loop_free(m.loop);
	if (m.sigio.fd != -1)
		close(m.sigio.fd);
	return rv;
}
