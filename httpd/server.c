/*
 * server.c: listeners, connections and the life of one request.
 *
 * A connection is a small state machine (enum conn_state); every
 * transition happens in conn_process(), conn_finish() and conn_fail().
 * Sockets are registered once, edge-triggered, for both directions, so a
 * request costs no epoll_ctl(2) at all: each state reads or writes until
 * EAGAIN and remembers nothing else.  A connection holds one input buffer
 * while it has unread bytes and per-request state only during a request,
 * so an idle keep-alive connection costs a few hundred bytes.
 *
 * Health PATH is answered here (conn_health()), before routes and files,
 * from state at hand: this process's own draining (srv->stopping: a stop,
 * or a reload replaced it), and server_health(): the Docker engine's last
 * /_ping and the queues' Redis connections.  Those two live where the
 * Docker socket and Redis are: in one process, here (srv->dcgi,
 * srv->queues); under privilege separation, in the engine process, which
 * sends them over the channel when they change (engine.c, dcgi.c).  No
 * request for it waits on anything.
 *
 * Metrics PATH is answered the same way (conn_metrics()): the text of
 * this process's counts (metrics.h).  Requests, their times and cache
 * hits are counted here and in dcgi.c, as they are answered; containers,
 * pools and queues are counted where the Docker socket and Redis are.
 * In one process that is here too, and their gauges are read at each
 * request for it (server_metrics_collect()).  Under privilege separation
 * the engine process sends its counts once a second (main.c, engine.c)
 * and a server process renders the last it got (dcgi.c takes them).
 *
 * Ownership:
 *   - struct conn: created by listener_accept(), owned by the server's
 *     list; conn_close() unlinks it and it is freed at the end of the loop
 *     iteration (server_idle()), since a later event of the same epoll
 *     batch may still name it (c->io.fn is NULL once closed).
 *   - struct req: owned by its conn, from conn_request() to conn_finish()
 *     or conn_close().  It embeds the struct sink a producer answers
 *     through, and holds that producer's struct source (r->src) until the
 *     producer's end() (req_end() clears it) or until the conn cancels it
 *     (conn_close(), conn_task()).  The sink ops (req_head, req_body,
 *     req_end) only buffer and post the conn's task: writing, closing and
 *     the next request happen in conn_task(), from the loop, so a producer
 *     is never called back while it is inside a sink op (sink.h).
 *   - The request body is the req's until conn_route() hands it to the
 *     job, which frees it.
 *   - struct client (client.h): each conn holds a reference.
 *   - struct listener: owned by the server's list; freed after the
 *     iteration, like a conn.
 */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "access.h"
#include "cache.h"
#include "cgi.h"
#include "client.h"
#include "conf.h"
#include "dcgi.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "queue.h"
#include "server.h"
#include "sink.h"
#include "static.h"
#include "tls.h"

#define SERVER_SOFTWARE		"dcgid/" DCGI_VERSION
#define CONN_SMALL_FILE		STATIC_SMALL_FILE	/* sent from memory */
#define CONN_IN_FIRST		4096	/* the input buffer at first */
#define CONN_LINGER_MS		2000
#define CONN_REFUSED_LINGER_MS	250	/* a 503 at MaxConnectionsPerClient */
#define CONN_LINGER_BYTES	(64 * 1024)
#define CONN_SENDFILE_CHUNK	(1024 * 1024)
#define CONN_TLS_RECORD		16384		/* plaintext per TLS record */
#define CONN_TLS_FILE_CHUNK	(64 * 1024)	/* file bytes read for TLS */
#define CACHE_BYTES		(64 * 1024 * 1024)	/* all cached responses */

/* A socket passed by systemd (LISTEN_FDS), waiting for its Listen. */
struct inherited {
	int		  fd;
	int		  used;		/* a listener has it */
	int		  any;		/* bound to the wildcard address */
	int		  family;
	unsigned	  port;
	unsigned char	  addr[16];	/* network order, 4 or 16 bytes */
	char		  name[80];
};

struct listener {
	struct loop_io	  io;
	struct server	 *srv;
	struct inherited *inh;		/* from systemd (never closed) or,
					   in a server process, from the
					   engine (closed when it goes) */
	char		  key[300];	/* "addr port tls" from the conf */
	char		  name[120];	/* bound address, for messages */
	int		  tls;
	unsigned	  port;
	int		  keep;		/* reload: still wanted */
	int		  next_tls;	/* reload: tls or not from now on */
	struct listener	 *next;
};

enum conn_state {
	CONN_HANDSHAKE,	/* TLS handshake */
	CONN_HEAD,	/* reading a request head (or idle between requests) */
	CONN_BODY,	/* reading the request body */
	CONN_WAIT,	/* a container is working on the response */
	CONN_WRITE,	/* writing the response */
	CONN_LINGER	/* answered and half-closed: draining, then close */
};

/* The paths dcgid answers itself, before routes and files. */
enum req_own {
	REQ_OWN_NONE,
	REQ_OWN_HEALTH,		/* conn_health() */
	REQ_OWN_METRICS		/* conn_metrics() */
};

/* What a producer's end() leaves for the loop to do (conn_task()). */
enum req_then {
	REQ_SEND,	/* write out what is buffered, then finish */
	REQ_CUT,	/* the response cannot be completed: close */
	REQ_REDIRECT,	/* RFC 3875 §6.2.2: serve r->redirect instead */
	REQ_AGAIN	/* dispatch the request again (a shared fill failed) */
};

struct req {
	struct http_request http;
	struct conf	*conf;		/* the config this request runs under */
	size_t		 headlen;	/* the head occupies conn->in[0..headlen) */
	char		 id[17];
	struct timespec	 start;
	int		 status;
	uint64_t	 sent;		/* body bytes written */
	int		 is_head;
	enum req_own	 own;		/* Health or Metrics */
	const char	*user;		/* Basic authentication passed: the
					   name, in the conf's user file */

	/* the body */
	int64_t		 body_left;	/* Content-Length still to read */
	int64_t		 body_total;
	int64_t		 body_max;
	struct http_chunked chunk;
	char		*body;		/* kept for a route, dropped otherwise */
	size_t		 bodylen, bodycap;

	/* a container route */
	const struct conf_route *route;
	struct conn	*conn;
	struct sink	 sink;		/* what the producer answers through */
	struct source	*src;		/* the producer; NULL once it has ended */
	enum req_then	 then;		/* what its end() left for the loop */
	int		 nocache;	/* a shared answer failed: run its own */
	int		 redirects;
	char		*redirect;

	/* the response */
	char		*out;
	size_t		 outlen, outoff, outhdr, outcap;
	int		 chunked_out;
	int		 fd;
	off_t		 foff;
	int64_t		 fleft;
	char		*rpath;		/* a local redirect's normalised path */
	size_t		 pathcap;	/* of pathbuf */
	char		 pathbuf[];	/* the normalised path */
};

struct conn {
	struct loop_io	  io;
	struct loop_timer timer;
	struct loop_task  task;		/* conn_task(): work left for the loop */
	struct server	 *srv;
	struct conn	 *prev, *next;
	enum conn_state	  state;
	char		 *in;
	size_t		  inlen, incap, scan;
	int		  nreq;
	int		  keep_alive;
	int		  eof;		/* the client sent FIN */
	int		  readable;	/* recv() has not said EAGAIN since */
	size_t		  lingered;
	struct req	 *req;
	char		  client[INET6_ADDRSTRLEN];
	uint16_t	  port;
	uint16_t	  local_port;
	int		  tls;
	struct client	 *cl;		/* its address's record (client.h) */
	int		  counted;	/* in cl->conns (not refused, not lingering) */
	int		  refused;	/* over MaxConnectionsPerClient: 503 */
	struct tls_conn	 *ssl;		/* on a tls listener */
	size_t		  tls_wlen;	/* a TLS write to repeat exactly */
};

struct server {
	struct loop	 *loop;
	enum server_role  role;
	struct conf	 *conf;
	struct log_files *logs;
	struct mime	 *mime;
	int		  rootfd;
	struct listener	 *listeners;
	struct dcgi	 *dcgi;
	struct cache	 *cache;	/* Cache routes' responses */
	struct clients	 *clients;	/* per-client counts */
	struct queues	 *queues;	/* NULL without <Queue> */
	struct tls_server *tls;		/* NULL without tls listeners */
	struct inherited *inh;		/* sockets from systemd */
	size_t		  ninh;
	int		  grace_over;
	int		  gave_up;
	struct conn	 *conns;
	size_t		  nconns;
	struct conn	 *dead;		/* freed at the end of the iteration */
	struct listener	 *deadl;
	int		  paused;	/* listeners off at MaxConnections */
	char		 *scratch;	/* first reads land here */
	size_t		  scratchlen;
	int		  stopping;
	int		  replaced;	/* a reload started a new process */
	struct loop_timer grace;
	uint64_t	  reqbase, reqseq;
	char		  date[30];
	int64_t		  datewall;
};

static void	conn_process(struct conn *);
static void	conn_close(struct conn *);
static void	conn_reply_error(struct conn *, int, const char *);
static void	conn_task(struct loop_task *);
static void	conn_refuse(struct conn *);
static const struct sink_ops req_sink_ops;
static void	conn_io(struct loop_io *, unsigned);
static void	conn_timeout(struct loop_timer *);
static void	listeners_resume(struct server *);

/* ----- listeners ----- */

static void
listener_accept(struct loop_io *io, unsigned revents)
{
	struct listener *l = (struct listener *)io;
	struct server *srv = l->srv;
	(void)revents;

	if (io->fd == -1)
		return;		/* closed earlier in this iteration */
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c;
		int fd, one = 1;

		if (srv->nconns >= (size_t)srv->conf->max_connections) {
			/* Stop accepting until a connection goes away. */
			struct listener *p;
			for (p = srv->listeners; p != NULL; p = p->next)
				loop_del(srv->loop, &p->io);
			if (!srv->paused)
				log_warn("MaxConnections (%d) reached; not "
				    "accepting until one closes",
				    srv->conf->max_connections);
			srv->paused = 1;
			return;
		}
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_error("accept on %s: %s", l->name,
				    strerror(errno));
			return;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->cl = client_get(srv->clients,
		    (struct sockaddr *)&ss)) == NULL) {
			log_error("accept on %s: out of memory", l->name);
			free(c);
			close(fd);
			return;
		}
		if (srv->conf->max_conns_per_client > 0 &&
		    c->cl->conns >= srv->conf->max_conns_per_client) {
			if (client_limited(c->cl, CLIENT_CONNS,
			    loop_now(srv->loop)))
				log_warn("client %s: MaxConnectionsPerClient (%d) "
				    "reached: further connections get 503%s "
				    "(said once per burst)", c->cl->name,
				    srv->conf->max_conns_per_client, l->tls ?
				    " (TLS: closed at once)" : "");
			/* A handshake only to refuse it would cost more. */
			if (l->tls) {
				client_unref(c->cl);
				free(c);
				close(fd);
				continue;
			}
			c->refused = 1;
		} else {
			c->cl->conns++;
			c->counted = 1;
		}
		c->io.fd = fd;
		c->io.fn = NULL;
		c->srv = srv;
		c->state = CONN_HEAD;
		c->readable = 1;
		c->local_port = (uint16_t)l->port;
		c->tls = l->tls;
		if (l->tls) {
			if (srv->tls == NULL ||
			    (c->ssl = tls_conn_new(srv->tls, fd)) == NULL) {
				log_error("accept on %s: cannot set up TLS",
				    l->name);
				c->cl->conns--;
				client_unref(c->cl);
				close(fd);
				free(c);
				continue;
			}
			c->state = CONN_HANDSHAKE;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12],
				    c->client, sizeof(c->client));
			else
				inet_ntop(AF_INET6, &s6->sin6_addr, c->client,
				    sizeof(c->client));
			c->port = ntohs(s6->sin6_port);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, c->client,
			    sizeof(c->client));
			c->port = ntohs(s4->sin_port);
		}
		c->io.fn = conn_io;
		if (loop_add(srv->loop, &c->io, LOOP_READ | LOOP_WRITE, 1) == -1) {
			log_error("epoll: %s", strerror(errno));
			if (c->counted)
				c->cl->conns--;
			client_unref(c->cl);
			tls_conn_free(c->ssl);
			close(fd);
			free(c);
			continue;
		}
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		srv->nconns++;
		c->timer.fn = conn_timeout;
		c->task.fn = conn_task;
		loop_timer_set(srv->loop, &c->timer, srv->conf->header_timeout_ms);
		if (c->refused) {
			conn_refuse(c);
			continue;
		}
		/*
		 * Most clients send at once: read now instead of waiting
		 * for the edge (it may already have passed).
		 */
		conn_process(c);
	}
}

/*
 * Closed now, freed after this iteration: an event for it may be waiting
 * in the same epoll batch (a SIGHUP that removes a listener, say).
 */
static void
listener_free(struct server *srv, struct listener *l)
{
	loop_del(srv->loop, &l->io);
	/* systemd's: kept for a later Listen; the engine's copy: a server
	 * process never gets a later one (a reload is a new process). */
	if (l->inh != NULL && srv->role != SERVER_NET)
		l->inh->used = 0;
	else
		close(l->io.fd);
	l->io.fd = -1;
	l->next = srv->deadl;
	srv->deadl = l;
}

/* "127.0.0.1:8080", "[::1]:8443" */
static void
sockaddr_name(const struct sockaddr *sa, socklen_t len, char *buf,
    size_t buflen)
{
	char host[INET6_ADDRSTRLEN], port[8];

	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, buflen, "?");
	else
		snprintf(buf, buflen, "%s%s%s:%s", sa->sa_family == AF_INET6 ?
		    "[" : "", host, sa->sa_family == AF_INET6 ? "]" : "", port);
}

/*
 * Take the sockets systemd passed: each must be a listening TCP socket.
 * They wait, unused, until a Listen with their address (or a Listen of
 * their port without an address, for a wildcard socket) claims them.
 */
static int
server_inherit(struct server *srv, int first, int n, char *err,
    size_t errlen)
{
	if (n == 0)
		return 0;
	if ((srv->inh = calloc((size_t)n, sizeof(*srv->inh))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct inherited *h = &srv->inh[i];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss), il = sizeof(int);
		int type = 0, acc = 0, fl;

		h->fd = first + i;
		srv->ninh++;
		if (getsockopt(h->fd, SOL_SOCKET, SO_TYPE, &type, &il) == -1 ||
		    getsockopt(h->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &il) == -1 ||
		    getsockname(h->fd, (struct sockaddr *)&ss, &sl) == -1 ||
		    type != SOCK_STREAM || !acc ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
			snprintf(err, errlen, "LISTEN_FDS: descriptor %d is "
			    "not a listening TCP socket", h->fd);
			return -1;
		}
		if ((fl = fcntl(h->fd, F_GETFL)) == -1 ||
		    fcntl(h->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
			snprintf(err, errlen, "LISTEN_FDS: descriptor %d: %s",
			    h->fd, strerror(errno));
			return -1;
		}
		h->family = ss.ss_family;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			h->port = ntohs(a->sin_port);
			memcpy(h->addr, &a->sin_addr, 4);
			h->any = a->sin_addr.s_addr == htonl(INADDR_ANY);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			h->port = ntohs(a->sin6_port);
			memcpy(h->addr, &a->sin6_addr, 16);
			h->any = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr);
		}
		sockaddr_name((struct sockaddr *)&ss, sl, h->name,
		    sizeof(h->name));
	}
	return 0;
}

/* An unused inherited socket bound to exactly sa. */
static struct inherited *
inherited_find(struct server *srv, const struct sockaddr *sa)
{
	for (size_t i = 0; i < srv->ninh; i++) {
		struct inherited *h = &srv->inh[i];

		if (h->used || h->family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)sa;
			if (h->port == ntohs(a->sin_port) &&
			    memcmp(h->addr, &a->sin_addr, 4) == 0)
				return h;
		} else {
			const struct sockaddr_in6 *a = (const void *)sa;
			if (h->port == ntohs(a->sin6_port) &&
			    memcmp(h->addr, &a->sin6_addr, 16) == 0)
				return h;
		}
	}
	return NULL;
}

static struct listener *
listener_make(struct server *srv, const struct conf_listen *cl,
    const char *key, int fd, const char *name)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->io.fd = fd;
	l->io.fn = listener_accept;
	l->srv = srv;
	l->tls = cl->tls;
	l->port = (unsigned)strtoul(cl->port, NULL, 10);
	l->keep = 1;
	snprintf(l->key, sizeof(l->key), "%s", key);
	snprintf(l->name, sizeof(l->name), "%s", name);
	return l;
}

/* Claim the inherited socket h for cl. */
static int
listener_adopt(struct server *srv, const struct conf_listen *cl,
    const char *key, struct inherited *h, struct listener **out)
{
	struct listener *l;
	char name[120];

	snprintf(name, sizeof(name), "%s (from %s)", h->name,
	    srv->role == SERVER_NET ? "the engine" : "systemd");
	if ((l = listener_make(srv, cl, key, h->fd, name)) == NULL)
		return -1;
	h->used = 1;
	l->inh = h;
	l->next = *out;
	*out = l;
	return 0;
}

/*
 * Open the sockets for one Listen: an address may resolve to several
 * (localhost: ::1 and 127.0.0.1); no address means every address, through
 * one dual-stack socket when the host has IPv6.
 */
static int
listener_open(struct server *srv, const struct conf_listen *cl,
    const char *key, struct listener **out)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rv, n = 0;

	/* Listen PORT: the wildcard sockets of that port systemd passed. */
	if (cl->addr == NULL) {
		unsigned port = (unsigned)strtoul(cl->port, NULL, 10);

		for (size_t i = 0; i < srv->ninh; i++) {
			struct inherited *h = &srv->inh[i];

			if (h->used || !h->any || h->port != port)
				continue;
			if (listener_adopt(srv, cl, key, h, out) == -1)
				return -1;
			n++;
		}
		if (n > 0)
			return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (cl->addr == NULL)
		hints.ai_family = AF_INET6;
	rv = getaddrinfo(cl->addr, cl->port, &hints, &res);
	if (rv != 0 && cl->addr == NULL) {
		hints.ai_family = AF_INET;
		rv = getaddrinfo(NULL, cl->port, &hints, &res);
	}
	if (rv != 0) {
		log_error("%s:%d: Listen %s:%s: %s", cl->file, cl->line,
		    cl->addr ? cl->addr : "*", cl->port, gai_strerror(rv));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct listener *l;
		struct inherited *h;
		int fd, one = 1, zero = 0;
		char name[80];

		if ((h = inherited_find(srv, ai->ai_addr)) != NULL) {
			if (listener_adopt(srv, cl, key, h, out) == -1)
				goto fail;
			n++;
			continue;
		}
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			goto fail;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    cl->addr == NULL ? &zero : &one, sizeof(int));
		sockaddr_name(ai->ai_addr, ai->ai_addrlen, name, sizeof(name));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, 511) == -1) {
			log_error("%s:%d: Listen %s: %s", cl->file, cl->line,
			    name, strerror(errno));
			close(fd);
			goto fail;
		}
		if ((l = listener_make(srv, cl, key, fd, name)) == NULL) {
			close(fd);
			goto fail;
		}
		l->next = *out;
		*out = l;
		n++;
	}
	freeaddrinfo(res);
	return n > 0 ? 0 : -1;
fail:
	freeaddrinfo(res);
	return -1;
}

static void
listen_key(const struct conf_listen *cl, char *buf, size_t len)
{
	/* Not the tls flag: a reload that adds or drops it keeps the socket. */
	snprintf(buf, len, "%s %s", cl->addr ? cl->addr : "*", cl->port);
}

/*
 * Make the listeners match `conf`: sockets that stay are kept open (no
 * connection attempt is refused during a reload), new ones are opened
 * first, and only when all of them could be opened are the old ones that
 * are no longer wanted closed.
 */
static int
listeners_apply(struct server *srv, const struct conf *conf)
{
	struct listener *fresh = NULL, *l, *next, **pp;
	char key[300];

	for (l = srv->listeners; l != NULL; l = l->next)
		l->keep = 0;
	for (size_t i = 0; i < conf->nlistens; i++) {
		const struct conf_listen *cl = &conf->listens[i];

		listen_key(cl, key, sizeof(key));
		for (l = srv->listeners; l != NULL; l = l->next)
			if (strcmp(l->key, key) == 0) {
				l->keep = 1;
				l->next_tls = cl->tls;
			}
		for (l = srv->listeners; l != NULL; l = l->next)
			if (strcmp(l->key, key) == 0)
				break;
		if (l == NULL && listener_open(srv, cl, key, &fresh) == -1)
			goto fail;
	}
	for (l = fresh; l != NULL; l = l->next)
		if (!srv->paused && loop_add(srv->loop, &l->io, LOOP_READ, 0) == -1) {
			log_error("epoll: %s", strerror(errno));
			goto fail;
		}
	/* Commit: drop the unwanted, append the fresh. */
	for (pp = &srv->listeners; *pp != NULL; ) {
		l = *pp;
		if (!l->keep) {
			log_info("no longer listening on %s", l->name);
			*pp = l->next;
			listener_free(srv, l);
		} else {
			if (l->tls != l->next_tls)
				log_info("%s: %s from now on", l->name,
				    l->next_tls ? "TLS" : "plain HTTP");
			l->tls = l->next_tls;
			pp = &l->next;
		}
	}
	for (l = fresh; l != NULL; l = next) {
		next = l->next;
		log_info("listening on %s", l->name);
		l->next = srv->listeners;
		srv->listeners = l;
	}
	return 0;
fail:
	for (l = fresh; l != NULL; l = next) {
		next = l->next;
		listener_free(srv, l);
	}
	for (l = srv->listeners; l != NULL; l = l->next)
		l->keep = 1;
	return -1;
}

static void
listeners_resume(struct server *srv)
{
	struct listener *l;

	if (!srv->paused || srv->stopping || srv->role == SERVER_ENGINE)
		return;
	srv->paused = 0;
	for (l = srv->listeners; l != NULL; l = l->next)
		(void)loop_add(srv->loop, &l->io, LOOP_READ, 0);
}

/* ----- responses ----- */

static const char *
server_date(struct server *srv)
{
	int64_t now = loop_wall(srv->loop);

	if (now != srv->datewall) {
		http_date((time_t)now, srv->date);
		srv->datewall = now;
	}
	return srv->date;
}

static void
req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	free(r->out);
	free(r->body);
	free(r->redirect);
	free(r->rpath);
	if (r->conf != NULL)
		conf_unref(r->conf);
	free(r);
}

/*
 * Put a response head (and `body`, when given) in the output buffer.
 * `extra` holds header lines, each ending in CRLF.  `room` bytes are left
 * free after it for a small file.  -1 when out of memory.
 */
static char *
conn_put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static int
conn_head(struct conn *c, int status, const char *extra, size_t elen,
    int64_t length, const char *body, size_t blen, size_t room)
{
	struct req *r = c->req;
	size_t cap = 320 + elen + blen + room;
	char *p;
	int n;

	free(r->out);
	r->outcap = 0;
	if ((r->out = malloc(cap)) == NULL)
		return -1;
	r->outcap = cap;
	r->status = status;
	/* The fixed part fits the 320 bytes; printf would parse a format. */
	p = r->out;
	memcpy(p, "HTTP/1.1 ", 9);
	p = http_fmt_u64(p + 9, (uint64_t)status);
	*p++ = ' ';
	p = conn_put(p, http_status_text(status));
	p = conn_put(p, "\r\nServer: " SERVER_SOFTWARE "\r\nDate: ");
	p = conn_put(p, server_date(c->srv));
	p = conn_put(p, "\r\n");
	memcpy(p, extra, elen);
	p += elen;
	if (c->ssl != NULL && r->conf->hsts_ms > 0) {
		p = conn_put(p, "Strict-Transport-Security: max-age=");
		p = http_fmt_u64(p, (uint64_t)(r->conf->hsts_ms / 1000));
		p = conn_put(p, "\r\n");
	}
	if (length >= 0) {
		p = conn_put(p, "Content-Length: ");
		p = http_fmt_u64(p, (uint64_t)length);
		p = conn_put(p, "\r\n");
	}
	if (!c->keep_alive)
		p = conn_put(p, "Connection: close\r\n");
	p = conn_put(p, "\r\n");
	n = (int)(p - r->out);
	if ((size_t)n + blen > cap)
		return -1;
	r->outhdr = (size_t)n;
	if (body != NULL && !r->is_head) {
		memcpy(r->out + n, body, blen);
		n += (int)blen;
	}
	r->outlen = (size_t)n;
	r->outoff = 0;
	return 0;
}

/*
 * A complete small response with a little HTML body for errors, in the
 * output buffer (nothing is written here).  -1 when out of memory.
 */
static int
conn_error(struct conn *c, int status, const char *extra)
{
	static const char ctype[] = "Content-Type: text/html; charset=utf-8\r\n";
	struct req *r = c->req;
	size_t hlen = sizeof(ctype) - 1, elen = extra ? strlen(extra) : 0;
	char body[160], *head;
	int blen, rv;

	if (status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 400 || status == 501 || status == 505 ||
	    status == 500)
		c->keep_alive = 0;
	blen = snprintf(body, sizeof(body),
	    "<!DOCTYPE html>\n<title>%d %s</title>\n<h1>%d %s</h1>\n",
	    status, http_status_text(status), status, http_status_text(status));
	if (r->fd != -1) {
		close(r->fd);
		r->fd = -1;
	}
	r->fleft = 0;
	/* extra may be long: a Location of a whole request target. */
	if ((head = malloc(hlen + elen)) == NULL)
		return -1;
	memcpy(head, ctype, hlen);
	if (elen > 0)
		memcpy(head + hlen, extra, elen);
	rv = conn_head(c, status, head, hlen + elen, blen, body, (size_t)blen, 0);
	free(head);
	if (rv == -1)
		return -1;
	r->sent = r->is_head ? 0 : (uint64_t)blen;
	return 0;
}

/* ----- the life of a request ----- */

static void
conn_timer(struct conn *c, int64_t ms)
{
	loop_timer_set(c->srv->loop, &c->timer, ms);
}

static struct req *
req_new(struct conn *c, size_t headlen)
{
	struct conf *conf = c->srv->conf;
	size_t plen = (headlen < conf->max_request_line ? headlen :
	    conf->max_request_line) + 2;
	struct req *r;

	/*
	 * Room for the path of this head, which is no longer than the head
	 * (not MaxRequestLine's 8 KiB for every request: a slow client
	 * costs less), twice: the absolute-form authority is kept in the
	 * upper half.  The path buffers are written before they are read:
	 * zero only the rest.
	 */
	if ((r = malloc(sizeof(*r) + 2 * plen)) == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->pathcap = 2 * plen;
	r->fd = -1;
	r->conn = c;
	r->sink.ops = &req_sink_ops;
	r->conf = conf_ref(conf);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	*http_fmt_hex(r->id, c->srv->reqbase + ++c->srv->reqseq, 16) = '\0';
	return r;
}

static void
conn_log(struct conn *c)
{
	struct req *r = c->req;
	struct timespec now;
	struct log_access a;
	char line[1100];

	memset(&a, 0, sizeof(a));
	clock_gettime(CLOCK_MONOTONIC, &now);
	a.duration_us = (now.tv_sec - r->start.tv_sec) * 1000000LL +
	    (now.tv_nsec - r->start.tv_nsec) / 1000;
	/* Metrics counts what the access log logs, as it logs it. */
	metrics_request(r->route != NULL ? r->route->prefix : NULL, r->status,
	    a.duration_us);
	if (!log_access_enabled())
		return;
	if (r->http.method != NULL && r->http.target != NULL)
		snprintf(line, sizeof(line), "%s %.1024s HTTP/1.%d",
		    r->http.method, r->http.target, r->http.version == 10 ? 0 : 1);
	else
		snprintf(line, sizeof(line), "-");
	a.client = c->client;
	a.user = r->user;
	a.request_line = line;
	a.status = r->status;
	a.bytes = r->sent;
	a.referer = r->headlen ? http_header_get(&r->http, "Referer") : NULL;
	a.user_agent = r->headlen ? http_header_get(&r->http, "User-Agent") : NULL;
	a.reqid = r->id;
	a.wall = loop_wall(c->srv->loop);
	log_access(&a);
}

/* The connection no longer counts against MaxConnectionsPerClient. */
static void
conn_uncount(struct conn *c)
{
	unsigned n;

	if (!c->counted)
		return;
	c->counted = 0;
	c->cl->conns--;
	if ((n = client_burst_over(c->cl, CLIENT_CONNS, c->cl->conns > 0,
	    loop_now(c->srv->loop))) > 0)
		log_info("client %s: %u connection%s refused at "
		    "MaxConnectionsPerClient in the burst now over",
		    c->cl->name, n, n == 1 ? "" : "s");
}

/*
 * The response has been written: log it, then either wait for the next
 * request (whatever is already buffered is processed at once) or close.
 */
static void
conn_finish(struct conn *c)
{
	struct server *srv = c->srv;
	struct req *r = c->req;
	size_t used = r->headlen;	/* the body was consumed in place */

	conn_log(c);
	req_free(r);
	c->req = NULL;
	c->nreq++;
	if (!c->keep_alive || srv->stopping ||
	    c->nreq >= srv->conf->keepalive_requests) {
		/*
		 * Closing right after the last write could reset the
		 * connection over unread input and lose the response: shut
		 * down our side and drain theirs for a moment.
		 */
		if (c->ssl != NULL)
			tls_close(c->ssl);
		(void)shutdown(c->io.fd, SHUT_WR);
		/*
		 * Answered: no longer one of the client's connections (as
		 * nginx's limit_conn counts requests in progress).  Lingering
		 * costs a socket for at most CONN_LINGER_MS; MaxConnections
		 * bounds them all.
		 */
		conn_uncount(c);
		c->state = CONN_LINGER;
		conn_timer(c, c->refused ? CONN_REFUSED_LINGER_MS :
		    CONN_LINGER_MS);
		loop_post(srv->loop, &c->task);
		return;
	}
	/* Keep what follows the request: a pipelined one. */
	if (used < c->inlen)
		memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	c->scan = 0;
	c->state = CONN_HEAD;
	if (c->inlen == 0) {
		free(c->in);
		c->in = NULL;
		c->incap = 0;
		conn_timer(c, srv->conf->keepalive_timeout_ms);
	} else
		conn_timer(c, srv->conf->header_timeout_ms);
	/*
	 * The next request (pipelined, or already in the socket) from the
	 * loop: a run of pipelined requests never recurses on the stack.
	 */
	loop_post(srv->loop, &c->task);
}

/* send(2), or through TLS; -1 with errno EAGAIN when the socket is full. */
static ssize_t
conn_send_raw(struct conn *c, const char *p, size_t n)
{
	ssize_t w;
	int want;

	if (c->ssl == NULL) {
		do
			w = send(c->io.fd, p, n, MSG_NOSIGNAL);
		while (w == -1 && errno == EINTR);
		return w;
	}
	/*
	 * mbedtls wants a write that returned WANT_WRITE repeated with the
	 * same length, or it reports bytes it never took.
	 */
	if (c->tls_wlen > 0)
		n = c->tls_wlen;
	else if (n > CONN_TLS_RECORD)
		n = CONN_TLS_RECORD;
	w = tls_write(c->ssl, p, n, &want);
	c->tls_wlen = w == -1 && errno == EAGAIN ? n : 0;
	return w;
}

/* recv(2), or through TLS. */
static ssize_t
conn_recv_raw(struct conn *c, char *p, size_t n)
{
	ssize_t r;
	int want;

	if (c->ssl == NULL) {
		do
			r = recv(c->io.fd, p, n, 0);
		while (r == -1 && errno == EINTR);
		return r;
	}
	return tls_read(c->ssl, p, n, &want);
}

/* Write what is pending; 1 when done, 0 when the socket is full. */
static int
conn_flush(struct conn *c)
{
	struct req *r = c->req;

again:
	while (r->outoff < r->outlen) {
		ssize_t n = conn_send_raw(c, r->out + r->outoff,
		    r->outlen - r->outoff);
		if (n == -1) {
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		r->outoff += (size_t)n;
	}
	/* No sendfile through TLS: the file goes through the buffer. */
	if (c->ssl != NULL && r->fleft > 0 && !r->is_head) {
		size_t want = r->fleft > CONN_TLS_FILE_CHUNK ?
		    CONN_TLS_FILE_CHUNK : (size_t)r->fleft;
		ssize_t n;

		if (r->outcap < want) {
			char *nb = realloc(r->out, want);
			if (nb == NULL)
				return -1;
			r->out = nb;
			r->outcap = want;
		}
		n = pread(r->fd, r->out, want, r->foff);
		if (n <= 0) {
			log_msg(LOG_LV_ERROR, r->id, "read of a file while "
			    "sending it: %s", n == 0 ? "truncated" :
			    strerror(errno));
			return -1;
		}
		r->outoff = 0;
		r->outlen = (size_t)n;
		r->foff += n;
		r->fleft -= n;
		r->sent += (uint64_t)n;
		goto again;
	}
	while (r->fleft > 0 && !r->is_head) {
		size_t want = r->fleft > CONN_SENDFILE_CHUNK ?
		    CONN_SENDFILE_CHUNK : (size_t)r->fleft;
		ssize_t n = sendfile(c->io.fd, r->fd, &r->foff, want);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			log_msg(LOG_LV_ERROR, r->id, "sendfile: %s",
			    strerror(errno));
			return -1;
		}
		if (n == 0) {
			/* The file shrank under us: the length is a lie now. */
			log_msg(LOG_LV_ERROR, r->id, "file truncated while "
			    "being sent");
			return -1;
		}
		r->fleft -= n;
		r->sent += (uint64_t)n;
	}
	return 1;
}

static void
conn_write(struct conn *c)
{
	struct req *r = c->req;

	switch (conn_flush(c)) {
	case 1:
		if (r->src != NULL) {
			/* All sent; the producer has more to say. */
			r->outoff = r->outlen = 0;
			c->state = CONN_WAIT;
			loop_timer_del(c->srv->loop, &c->timer);
			source_resume(r->src);
			return;
		}
		conn_finish(c);
		return;
	case 0:
		conn_timer(c, c->srv->conf->send_timeout_ms);
		return;
	default:
		c->req->status = c->req->status ? c->req->status : 499;
		conn_log(c);
		conn_close(c);
		return;
	}
}

static void
conn_send(struct conn *c)
{
	c->state = CONN_WRITE;
	conn_write(c);
}

/* Answer with an error response; close when even that cannot be made. */
static void
conn_reply_error(struct conn *c, int status, const char *extra)
{
	if (conn_error(c, status, extra) == -1) {
		log_msg(LOG_LV_ERROR, c->req->id, "out of memory");
		conn_close(c);
		return;
	}
	conn_send(c);
}

/*
 * Over MaxConnectionsPerClient: a 503 before anything is read, then a
 * short linger.  It costs a connection slot for a moment, nothing more.
 */
static void
conn_refuse(struct conn *c)
{
	if ((c->req = req_new(c, 0)) == NULL) {
		conn_close(c);
		return;
	}
	c->keep_alive = 0;
	conn_reply_error(c, 503, "Retry-After: 5\r\n");
}

/* Answer an error and close; used before a request could be parsed. */
static void
conn_fail(struct conn *c, int status)
{
	if (c->req == NULL && (c->req = req_new(c, 0)) == NULL) {
		conn_close(c);
		return;
	}
	c->keep_alive = 0;
	conn_reply_error(c, status, NULL);
}

static void
conn_static(struct conn *c)
{
	struct server *srv = c->srv;
	struct req *r = c->req;
	struct static_reply rep;
	int64_t small;
	int fd;

	if (r->http.meth != HTTP_GET && r->http.meth != HTTP_HEAD) {
		conn_reply_error(c, r->http.meth == HTTP_OTHER ? 501 : 405,
		    "Allow: GET, HEAD\r\n");
		return;
	}
	static_handle(srv->rootfd, srv->mime, &r->http, &rep);
	if (rep.status >= 400 || rep.status == 301) {
		rep.headers[rep.hlen] = '\0';
		conn_reply_error(c, rep.status, rep.hlen ? rep.headers : NULL);
		return;
	}
	/* A descriptor of the open-file cache is used here and let go. */
	fd = rep.fd;
	r->fd = rep.fd_cached ? -1 : rep.fd;
	r->foff = rep.off;
	r->fleft = rep.fd_cached ? 0 : rep.len;
	small = rep.status == 200 || rep.status == 206 ? rep.len : 0;
	if (r->is_head || small > CONN_SMALL_FILE)
		small = 0;
	if (conn_head(c, rep.status, rep.headers, rep.hlen,
	    rep.status == 304 ? -1 : rep.len, NULL, 0, (size_t)small) == -1) {
		conn_reply_error(c, 500, NULL);
		return;
	}
	if (small > 0) {
		/* One write for head and body beats a write and a sendfile. */
		ssize_t n = pread(fd, r->out + r->outlen, (size_t)small,
		    r->foff);
		if (n != small) {
			log_msg(LOG_LV_ERROR, r->id, "read %s: %s", r->http.path,
			    n == -1 ? strerror(errno) : "short read");
			conn_close(c);
			return;
		}
		r->outlen += (size_t)small;
		r->sent = (uint64_t)small;
		r->fleft = 0;
	}
	if (r->fleft == 0 && r->fd != -1) {
		close(r->fd);
		r->fd = -1;
	}
	conn_send(c);
}

/* A fresh entry of the micro-cache answers the request at once. */
static void
conn_cached(struct conn *c, const struct cache_entry *e)
{
	struct req *r = c->req;
	size_t hlen;
	char *hdrs;

	if ((hdrs = cache_head(e, loop_now(c->srv->loop), &hlen)) == NULL ||
	    conn_head(c, e->status, hdrs, hlen, (int64_t)e->blen, e->body,
	    e->blen, 0) == -1) {
		free(hdrs);
		conn_reply_error(c, 500, NULL);
		return;
	}
	free(hdrs);
	r->sent = r->is_head ? 0 : e->blen;
	conn_send(c);
}

/*
 * A container route: answered from the cache, by waiting for an identical
 * request's answer, or by a job of its own.  The answer comes through
 * r->sink (req_sink_ops), never before this returns.
 */
static void
conn_route(struct conn *c)
{
	struct server *srv = c->srv;
	struct req *r = c->req;
	const struct conf_route *route = r->route;
	struct sink *to = &r->sink;
	struct source *lead = NULL, *job;
	struct dcgi_request dq;
	struct cgi_context cx;
	char *key, sname[CONF_PREFIX_MAX];
	size_t n;

	c->state = CONN_WAIT;
	loop_timer_del(srv->loop, &c->timer);
	/*
	 * Cache: GET and HEAD only, never with credentials.  The key is the
	 * host and the target, so that one host's page is not another's.
	 */
	if (route->cache_ms > 0 && !r->nocache && (r->http.meth == HTTP_GET ||
	    r->http.meth == HTTP_HEAD) &&
	    http_header_get(&r->http, "Authorization") == NULL) {
		const struct cache_entry *e;

		if (asprintf(&key, "%s|%s|%s%s%s", route->prefix,
		    r->http.host ? r->http.host : "", r->http.path,
		    r->http.query ? "?" : "", r->http.query ? r->http.query :
		    "") == -1)
			goto fail;
		if ((e = cache_get(srv->cache, key, loop_now(srv->loop))) !=
		    NULL) {
			free(key);
			metrics_count(MX_CACHE_HIT, route->prefix);
			conn_cached(c, e);
			return;
		}
		/*
		 * A HEAD is served from an entry or waits for a GET's, but
		 * never makes one: its function writes no body (RFC 3875
		 * §4.3.3), which a GET would then be given.
		 */
		if (r->is_head && !cache_filling(srv->cache, key)) {
			free(key);
			goto run;
		}
		lead = cache_join(srv->cache, key, route->cache_ms,
		    route->run.timeout_ms, &r->sink, &to);
		free(key);
		if (lead == NULL)
			goto fail;
		r->src = lead;
		if (to == NULL)
			return;		/* waits for the identical request */
	}
run:
	memset(&cx, 0, sizeof(cx));
	/*
	 * RFC 3875 §4.1.13: SCRIPT_NAME is the prefix without a trailing
	 * slash ("/" is ""), so that PATH_INFO, the rest, starts with '/'.
	 */
	snprintf(sname, sizeof(sname), "%s", route->prefix);
	if ((n = strlen(sname)) > 0 && sname[n - 1] == '/')
		sname[n - 1] = '\0';
	cx.script_name = sname;
	cx.server_name = r->conf->server_name;
	cx.remote_addr = c->client;
	cx.remote_port = c->port;
	cx.server_port = c->local_port;
	cx.https = c->tls;
	cx.remote_user = r->user;
	cx.content_length = r->http.chunked || r->http.content_length >= 0 ?
	    (int64_t)r->bodylen : -1;
	cx.server_software = SERVER_SOFTWARE;
	/* A server process leaves the route's Env to the engine. */
	cx.extra = c->srv->role == SERVER_NET ? NULL : route->run.env;
	memset(&dq, 0, sizeof(dq));
	if ((dq.env = cgi_env(&r->http, &cx)) == NULL)
		goto fail;
	dq.conf = r->conf;
	dq.route = route;
	dq.reqid = r->id;
	dq.client = c->cl;
	/* The job takes the body: it is written to the container's stdin. */
	dq.body = r->body;
	dq.bodylen = r->bodylen;
	r->body = NULL;
	r->bodylen = r->bodycap = 0;
	if ((job = dcgi_start(srv->dcgi, &dq, to)) == NULL)
		goto fail;
	if (lead != NULL)
		cache_lead(lead, job);
	else
		r->src = job;
	return;
fail:
	log_msg(LOG_LV_ERROR, r->id, "out of memory");
	if (r->src != NULL) {
		r->src = NULL;
		source_cancel(lead);
	}
	conn_reply_error(c, 500, NULL);
}

/* A whole answer of dcgid's own (Health, Metrics): head and body. */
static void
conn_answer(struct conn *c, int status, const char *extra, size_t elen,
    const char *body, size_t blen)
{
	if (conn_head(c, status, extra, elen, (int64_t)blen, body, blen,
	    0) == -1) {
		conn_reply_error(c, 500, NULL);
		return;
	}
	c->req->sent = c->req->is_head ? 0 : blen;
	conn_send(c);
}

/*
 * Health: 200 while this node takes work, else 503 and why.  Load
 * balancers poll it: it must never wait, never be cached, and costs no
 * container and no engine call.
 */
static void
conn_health(struct conn *c)
{
	static const char hdrs[] = "Content-Type: text/plain; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n";
	unsigned down;
	char extra[sizeof(hdrs) + 32], body[64];
	size_t elen, blen = 0;
	int status;

	down = server_health(c->srv);
	status = c->srv->stopping || down ? 503 : 200;
	elen = (size_t)snprintf(extra, sizeof(extra), "%s%s", hdrs,
	    status == 503 ? "Retry-After: 2\r\n" : "");
	/* At most "draining, engine down, redis down\n": it fits. */
	if (c->srv->stopping)
		blen += (size_t)snprintf(body + blen, sizeof(body) - blen,
		    "draining");
	if (down & DCGI_DOWN_ENGINE)
		blen += (size_t)snprintf(body + blen, sizeof(body) - blen,
		    "%sengine down", blen ? ", " : "");
	if (down & DCGI_DOWN_REDIS)
		blen += (size_t)snprintf(body + blen, sizeof(body) - blen,
		    "%sredis down", blen ? ", " : "");
	blen += (size_t)snprintf(body + blen, sizeof(body) - blen, "%s\n",
	    status == 200 ? "ok" : "");
	conn_answer(c, status, extra, elen, body, blen);
}

/*
 * Metrics: the Prometheus text format (version 0.0.4) of this process's
 * counts and, in a server process, of the engine's last snapshot.  Like
 * Health it waits for nothing and is never cached.
 */
static void
conn_metrics(struct conn *c)
{
	static const char hdrs[] = "Content-Type: text/plain; version=0.0.4; "
	    "charset=utf-8\r\nCache-Control: no-store\r\n";
	size_t blen;
	char *body;

	/* The gauges of containers and queues, where they are. */
	if (c->srv->role == SERVER_ONE)
		(void)server_metrics_collect(c->srv);
	if ((body = metrics_render(c->srv->nconns, &blen)) == NULL) {
		log_msg(LOG_LV_ERROR, c->req->id, "Metrics: out of memory");
		conn_reply_error(c, 500, NULL);
		return;
	}
	conn_answer(c, 200, hdrs, sizeof(hdrs) - 1, body, blen);
	free(body);
}

/* The request head and body have been read: answer it. */
static void
conn_dispatch(struct conn *c)
{
	struct req *r = c->req;

	if (r->own != REQ_OWN_NONE) {
		/* Both read state and change nothing: GET and HEAD only. */
		if (r->http.meth != HTTP_GET && r->http.meth != HTTP_HEAD)
			conn_reply_error(c, 405, "Allow: GET, HEAD\r\n"
			    "Cache-Control: no-store\r\n");
		else if (r->own == REQ_OWN_HEALTH)
			conn_health(c);
		else
			conn_metrics(c);
		return;
	}

	if (r->http.path == NULL) {
		/* OPTIONS * */
		if (conn_head(c, 200, "Allow: GET, HEAD, OPTIONS\r\n", 27, 0,
		    NULL, 0, 0) == -1) {
			conn_reply_error(c, 500, NULL);
			return;
		}
		conn_send(c);
		return;
	}
	if (r->route != NULL) {
		conn_route(c);
		return;
	}
	conn_static(c);
}

/*
 * A container route gets the whole body on stdin once it has arrived:
 * buffering it (within MaxBody) means a slow upload never holds a
 * container, only a little memory.
 */
static int
conn_keep_body(struct req *r, const char *p, size_t n)
{
	if (r->route == NULL || n == 0)
		return 0;
	if (r->bodylen + n > r->bodycap) {
		size_t nc = r->bodycap ? r->bodycap : 4096;
		char *nb;

		while (nc < r->bodylen + n)
			nc *= 2;
		if ((nb = realloc(r->body, nc)) == NULL)
			return -1;
		r->body = nb;
		r->bodycap = nc;
	}
	memcpy(r->body + r->bodylen, p, n);
	r->bodylen += n;
	return 0;
}

/* Consume body bytes that are in the buffer after the head. */
static int
conn_body(struct conn *c)
{
	struct req *r = c->req;
	char *p = c->in + r->headlen;
	size_t avail = c->inlen - r->headlen, used, got;

	if (r->http.chunked) {
		int rv = http_chunked_decode(&r->chunk, p, avail, &used, &got);
		if (rv == -1)
			return 400;
		r->body_total += (int64_t)got;
		if (r->body_total > r->body_max)
			return 413;
		if (conn_keep_body(r, p, got) == -1)
			return 500;
		memmove(p, p + used, avail - used);
		c->inlen -= used;
		return rv == 1 ? 0 : -1;
	}
	used = avail < (uint64_t)r->body_left ? avail : (size_t)r->body_left;
	if (conn_keep_body(r, p, used) == -1)
		return 500;
	memmove(p, p + used, avail - used);
	c->inlen -= used;
	r->body_left -= (int64_t)used;
	return r->body_left == 0 ? 0 : -1;
}

/*
 * HTTPSRedirect: send a plain request to the same host and target on the
 * first tls listener.  -1 when there is none (serve it plainly).
 */
static int
conn_https_redirect(struct conn *c)
{
	struct req *r = c->req;
	const struct conf_listen *tl = NULL;
	const char *host = r->conf->server_name ? r->conf->server_name :
	    r->http.host;
	char *loc, hostbuf[300];
	size_t hl;

	for (size_t i = 0; i < r->conf->nlistens && tl == NULL; i++)
		if (r->conf->listens[i].tls)
			tl = &r->conf->listens[i];
	if (tl == NULL || host == NULL || r->http.rawpath == NULL)
		return -1;
	/* The Host without its port ("[::1]:80" keeps its brackets). */
	hl = strlen(host);
	if (host[0] == '[') {
		const char *e = strchr(host, ']');
		hl = e ? (size_t)(e - host) + 1 : hl;
	} else if (strchr(host, ':') != NULL)
		hl = (size_t)(strchr(host, ':') - host);
	snprintf(hostbuf, sizeof(hostbuf), "%.*s", (int)hl, host);
	if (asprintf(&loc, "Location: https://%s%s%s%s\r\n", hostbuf,
	    strcmp(tl->port, "443") ? ":" : "",
	    strcmp(tl->port, "443") ? tl->port : "", r->http.rawpath) == -1)
		return -1;
	/* A body that was sent is not read: close after the answer. */
	if (r->http.content_length > 0 || r->http.chunked)
		c->keep_alive = 0;
	conn_reply_error(c, 301, loc);
	free(loc);
	return 0;
}

/*
 * <Route /app/> takes "/app" too, to answer it with a 301 to "/app/"
 * (the query kept), as nginx does: relative links in what the function
 * serves then resolve below the prefix.  -1 when that is not the case.
 */
static int
conn_route_slash(struct conn *c)
{
	struct req *r = c->req;
	const char *prefix = r->route->prefix;
	size_t n = strlen(prefix);
	char *loc;

	if (n < 2 || prefix[n - 1] != '/' || strlen(r->http.path) != n - 1)
		return -1;
	if (asprintf(&loc, "Location: %s%s%s\r\n", prefix, r->http.query ?
	    "?" : "", r->http.query ? r->http.query : "") == -1)
		return -1;
	if (r->http.content_length > 0 || r->http.chunked)
		c->keep_alive = 0;	/* the body is not read */
	conn_reply_error(c, 301, loc);
	free(loc);
	return 0;
}

/* A complete head is in c->in[0..len): parse it and decide what next. */
/*
 * Require, AuthUserFile: 0 when the client may have the path, else -1
 * with the answer on its way (403, 401 with a Basic challenge, or 429
 * when bcrypt has used its share of this second).
 */
static int
conn_access(struct conn *c)
{
	struct req *r = c->req;
	const struct access *a = conf_access_match(r->conf, r->http.path);
	const char *why, *user;
	enum access_result res;
	char extra[300];
	int status;

	r->user = NULL;
	if (a == NULL)
		return 0;
	res = access_check(a, c->client, http_header_get(&r->http,
	    "Authorization"), loop_now(c->srv->loop), &user, &why);
	if (res == ACCESS_OK) {
		r->user = user;
		return 0;
	}
	status = res == ACCESS_FORBIDDEN ? 403 : res == ACCESS_BUSY ? 429 :
	    401;
	/* A browser's first request has no credentials: not news. */
	log_msg(strcmp(why, "no credentials") == 0 ? LOG_LV_DEBUG :
	    LOG_LV_INFO, r->id, "%s: %d for %s: %s (Require at %s:%d)",
	    r->http.path, status, c->client, why, a->at_file, a->at_line);
	/* A body not read yet would be taken for the next request. */
	if (r->http.content_length > 0 || r->http.chunked)
		c->keep_alive = 0;
	if (status == 401)
		(void)snprintf(extra, sizeof(extra), "WWW-Authenticate: Basic "
		    "realm=\"%s\", charset=\"UTF-8\"\r\n",
		    a->realm != NULL ? a->realm : "dcgi");
	else if (status == 429)
		(void)snprintf(extra, sizeof(extra), "Retry-After: 1\r\n");
	conn_reply_error(c, status, status == 403 ? NULL : extra);
	return -1;
}

static void
conn_request(struct conn *c, size_t len)
{
	struct conf *conf = c->srv->conf;
	struct http_limits lim;
	struct req *r;
	int status;

	if ((r = c->req = req_new(c, len)) == NULL) {
		conn_close(c);
		return;
	}
	lim.max_request_line = conf->max_request_line;
	lim.max_header_size = conf->max_header_size;
	lim.max_headers = conf->max_headers;
	r->headlen = len;
	status = http_parse_request(&r->http, c->in, len, r->pathbuf,
	    r->pathcap, &lim);
	r->is_head = r->http.meth == HTTP_HEAD;
	c->keep_alive = r->http.keep_alive && !c->srv->stopping;
	if (status != 0) {
		log_msg(LOG_LV_INFO, r->id, "%s: bad request from %s: %d %s",
		    r->http.target ? r->http.target : "-", c->client, status,
		    http_status_text(status));
		c->keep_alive = 0;
		conn_reply_error(c, status, NULL);
		return;
	}
	/*
	 * Health and Metrics on every listener (a load balancer or Prometheus
	 * may ask over plain HTTP), whatever route or file the path would
	 * name otherwise.  The query string is not part of the path.
	 */
	if (r->http.path != NULL && r->conf->health != NULL &&
	    strcmp(r->http.path, r->conf->health) == 0)
		r->own = REQ_OWN_HEALTH;
	else if (r->http.path != NULL && r->conf->metrics != NULL &&
	    strcmp(r->http.path, r->conf->metrics) == 0)
		r->own = REQ_OWN_METRICS;
	if (r->own == REQ_OWN_NONE && r->conf->https_redirect &&
	    c->ssl == NULL && conn_https_redirect(c) == 0)
		return;
	if (r->http.path != NULL && r->own == REQ_OWN_NONE)
		r->route = conf_route_match(r->conf, r->http.path);
	if (r->route != NULL && conn_route_slash(c) == 0)
		return;
	if (r->http.path != NULL && conn_access(c) != 0)
		return;
	r->body_max = r->route != NULL && r->route->max_body >= 0 ?
	    r->route->max_body : r->conf->max_body;
	if (r->http.content_length > r->body_max) {
		log_msg(LOG_LV_INFO, r->id, "%s: body of %lld bytes over the "
		    "limit of %lld", r->http.path ? r->http.path : "*",
		    (long long)r->http.content_length, (long long)r->body_max);
		conn_reply_error(c, 413, NULL);
		return;
	}
	r->body_left = r->http.content_length > 0 ? r->http.content_length : 0;
	if (r->body_left > 0 || r->http.chunked) {
		if (r->http.expect_continue && r->http.version == 11) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			/* Small enough to go out at once on a fresh request. */
			(void)conn_send_raw(c, cont, sizeof(cont) - 1);
		}
		c->state = CONN_BODY;
		conn_timer(c, conf->body_timeout_ms);
		conn_process(c);
		return;
	}
	conn_dispatch(c);
}

/*
 * Twice the input buffer, up to MaxHeaderSize and a little: 0, or -1 when
 * it is that large already or memory is short.  Only before a head is
 * parsed: the parsed request points into the buffer.
 */
static int
conn_grow(struct conn *c)
{
	size_t cap = c->srv->conf->max_header_size + 4096, nc;
	char *nb;

	if (c->incap >= cap)
		return -1;
	nc = c->incap * 2 < cap ? c->incap * 2 : cap;
	if ((nb = realloc(c->in, nc)) == NULL)
		return -1;
	c->in = nb;
	c->incap = nc;
	return 0;
}

/*
 * Read what the socket has; returns 0, or -1 when the connection is gone.
 * A connection without a buffer first reads into the server's scratch
 * space, so that waking up to nothing (or to a FIN) allocates nothing.
 */
static int
conn_read(struct conn *c)
{
	struct server *srv = c->srv;
	size_t cap = srv->conf->max_header_size + 4096;

	if (!c->readable || c->eof)
		return 0;
	if (c->in == NULL) {
		ssize_t n;

		if (srv->scratchlen < cap) {
			free(srv->scratch);
			srv->scratchlen = 0;
			if ((srv->scratch = malloc(cap)) == NULL)
				return -1;
			srv->scratchlen = cap;
		}
		n = conn_recv_raw(c, srv->scratch, cap);
		if (n == -1 && errno == EAGAIN) {
			c->readable = 0;
			return 0;
		}
		if (n == -1)
			return -1;
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		/*
		 * A small buffer first, grown while a head or a body needs
		 * it (conn_grow()): a slowloris connection holds a few KiB,
		 * not MaxHeaderSize.
		 */
		c->incap = (size_t)n * 2 > CONN_IN_FIRST ? (size_t)n * 2 :
		    CONN_IN_FIRST;
		if (c->incap > cap)
			c->incap = cap;
		if ((c->in = malloc(c->incap)) == NULL) {
			c->incap = 0;
			return -1;
		}
		memcpy(c->in, srv->scratch, (size_t)n);
		c->inlen = (size_t)n;
		/*
		 * A short read drained the socket; with edge triggering any
		 * later byte raises a new event, so no need to ask again.
		 * (Through TLS a read returns one record at most: tls.c
		 * knows whether its last recv came up short.)
		 */
		if (c->ssl == NULL ? (size_t)n < cap : tls_drained(c->ssl)) {
			c->readable = 0;
			return 0;
		}
	}
	while (c->inlen < c->incap && !c->eof) {
		ssize_t n = conn_recv_raw(c, c->in + c->inlen,
		    c->incap - c->inlen);
		if (n > 0) {
			size_t want = c->incap - c->inlen;
			c->inlen += (size_t)n;
			if (c->ssl == NULL ? (size_t)n < want :
			    tls_drained(c->ssl)) {
				c->readable = 0;
				break;
			}
			continue;
		}
		if (n == 0) {
			c->eof = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->readable = 0;
			break;
		}
		return -1;
	}
	return 0;
}

static void
conn_process(struct conn *c)
{
	struct conf *conf = c->srv->conf;
	struct http_limits lim;
	long end;
	int rv;

	switch (c->state) {
	case CONN_HANDSHAKE: {
		char err[240];

		rv = tls_handshake(c->ssl, err, sizeof(err));
		if (rv == -1) {
			log_info("%s: TLS handshake failed: %s", c->client, err);
			conn_close(c);
			return;
		}
		if (rv != 0)
			return;		/* waits on the socket; the timer runs */
		c->state = CONN_HEAD;
		c->readable = 1;
		conn_process(c);
		return;
	}
	case CONN_HEAD:
	head:
		if (conn_read(c) == -1) {
			conn_close(c);
			return;
		}
		/* RFC 9112 §2.2: empty lines before a request are ignored. */
		while (c->inlen > 0 && (c->in[0] == '\r' || c->in[0] == '\n')) {
			memmove(c->in, c->in + 1, c->inlen - 1);
			c->inlen--;
		}
		if (c->inlen == 0) {
			if (c->eof)
				conn_close(c);
			else if (c->in != NULL && c->nreq > 0) {
				free(c->in);
				c->in = NULL;
				c->incap = 0;
			}
			return;
		}
		if (c->scan == 0 && c->nreq > 0 && c->req == NULL)
			conn_timer(c, conf->header_timeout_ms);
		lim.max_request_line = conf->max_request_line;
		lim.max_header_size = conf->max_header_size;
		lim.max_headers = conf->max_headers;
		end = http_head_end(c->in, c->inlen, &c->scan, &lim);
		if (end < 0) {
			conn_fail(c, (int)-end);
			return;
		}
		if (end == 0) {
			if (c->eof)
				conn_close(c);	/* half a request, then FIN */
			else if (c->inlen == c->incap && conn_grow(c) == 0)
				goto head;	/* room for the rest */
			else if (c->inlen == c->incap)
				conn_fail(c, 431);
			else if (c->scan > 0 && c->inlen < c->incap) {
				/* wait for more; the timer is running */
			}
			return;
		}
		/*
		 * Room for a body behind the head before it is parsed (it
		 * points into the buffer from then on); the cap leaves 4 KiB
		 * beyond the largest head.
		 */
		while (c->incap - (size_t)end < CONN_IN_FIRST &&
		    conn_grow(c) == 0)
			;
		conn_request(c, (size_t)end);
		return;
	case CONN_BODY:
		for (;;) {
			rv = conn_body(c);
			if (rv > 0) {
				c->keep_alive = 0;
				conn_reply_error(c, rv, NULL);
				return;
			}
			if (rv == 0) {
				conn_dispatch(c);
				return;
			}
			if (c->eof) {
				log_msg(LOG_LV_INFO, c->req->id, "client closed "
				    "during the request body");
				c->req->status = 400;
				conn_log(c);
				conn_close(c);
				return;
			}
			{
				size_t before = c->inlen;

				/* (No conn_grow() here: the parsed head points
				 * into c->in.) */
				if (conn_read(c) == -1) {
					conn_close(c);
					return;
				}
				if (c->inlen == before && !c->eof)
					return;	/* wait for more */
				conn_timer(c, conf->body_timeout_ms);
			}
		}
	case CONN_WAIT:
		return;
	case CONN_WRITE:
		conn_write(c);
		return;
	case CONN_LINGER:
		for (;;) {
			char buf[4096];
			ssize_t n = recv(c->io.fd, buf, sizeof(buf), 0);
			if (n > 0) {
				c->lingered += (size_t)n;
				if (c->lingered > CONN_LINGER_BYTES)
					break;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && errno == EAGAIN)
				return;
			break;
		}
		conn_close(c);
		return;
	}
}

static void
conn_io(struct loop_io *io, unsigned revents)
{
	struct conn *c = (struct conn *)io;

	if (c->io.fn == NULL)
		return;		/* closed earlier in this iteration */
	if (revents & (LOOP_READ | LOOP_ERROR))
		c->readable = 1;
	/*
	 * While a producer works, a read tells whether the client is still
	 * there: EOF or an error means it has gone.
	 */
	if (c->req != NULL && c->req->src != NULL &&
	    (c->state == CONN_WAIT || c->state == CONN_WRITE) &&
	    (revents & (LOOP_READ | LOOP_ERROR))) {
		if (conn_read(c) == -1 || c->eof) {
			log_msg(LOG_LV_INFO, c->req->id, "%s: client went away",
			    c->client);
			c->req->status = c->req->status ? c->req->status : 499;
			conn_log(c);
			conn_close(c);
			return;
		}
	}
	switch (c->state) {
	case CONN_HANDSHAKE:
		conn_process(c);
		break;
	case CONN_HEAD:
	case CONN_BODY:
	case CONN_LINGER:
		if (revents & (LOOP_READ | LOOP_ERROR))
			conn_process(c);
		break;
	case CONN_WAIT:
		break;
	case CONN_WRITE:
		if (revents & (LOOP_WRITE | LOOP_ERROR))
			conn_write(c);
		break;
	}
}

static void
conn_timeout(struct loop_timer *t)
{
	struct conn *c = LOOP_OWNER(t, struct conn, timer);

	switch (c->state) {
	case CONN_HANDSHAKE:
		log_info("%s: TLS handshake timed out", c->client);
		conn_close(c);
		return;
	case CONN_HEAD:
		if (c->inlen == 0 && (c->nreq > 0 || c->srv->stopping)) {
			conn_close(c);		/* idle keep-alive: quietly */
			return;
		}
		/* FALLTHROUGH */
	case CONN_BODY:
		log_msg(LOG_LV_INFO, c->req ? c->req->id : NULL,
		    "%s: request timed out (%s)", c->client,
		    c->state == CONN_HEAD ? "head" : "body");
		conn_fail(c, 408);
		return;
	case CONN_WAIT:
		return;		/* dcgi keeps its own time */
	case CONN_WRITE:
		log_msg(LOG_LV_INFO, c->req->id, "%s: send timed out",
		    c->client);
		c->req->status = c->req->status ? c->req->status : 408;
		conn_log(c);
		conn_close(c);
		return;
	case CONN_LINGER:
		conn_close(c);
		return;
	}
}

static void
conn_close(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->io.fn == NULL)
		return;
	loop_timer_del(srv->loop, &c->timer);
	loop_del(srv->loop, &c->io);
	close(c->io.fd);
	c->io.fn = NULL;
	tls_conn_free(c->ssl);
	c->ssl = NULL;
	loop_unpost(srv->loop, &c->task);
	if (c->req != NULL && c->req->src != NULL) {
		/* From the loop, never from a sink op (sink.h). */
		struct source *src = c->req->src;

		c->req->src = NULL;
		source_cancel(src);
	}
	req_free(c->req);
	c->req = NULL;
	free(c->in);
	c->in = NULL;
	conn_uncount(c);
	client_unref(c->cl);
	c->cl = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	/* Freed after this iteration: a later event may still name it. */
	c->next = srv->dead;
	srv->dead = c;
	if (srv->paused && srv->nconns < (size_t)srv->conf->max_connections)
		listeners_resume(srv);
}

/* ----- answering over time: the sink a producer writes to ----- */

/* Append to the output buffer, growing it; -1 when out of memory. */
static int
req_out(struct req *r, const char *p, size_t n)
{
	if (r->outoff > 0 && r->outoff == r->outlen)
		r->outoff = r->outlen = 0;
	if (r->outlen + n > r->outcap && r->outoff > 0) {
		memmove(r->out, r->out + r->outoff, r->outlen - r->outoff);
		r->outlen -= r->outoff;
		r->outoff = 0;
	}
	if (r->outlen + n > r->outcap) {
		size_t nc = r->outcap ? r->outcap : 4096;
		char *nb;

		while (nc < r->outlen + n)
			nc *= 2;
		if ((nb = realloc(r->out, nc)) == NULL)
			return -1;
		r->out = nb;
		r->outcap = nc;
	}
	memcpy(r->out + r->outlen, p, n);
	r->outlen += n;
	return 0;
}

/*
 * The sink ops record and post (sink.h): the writing, the closing and
 * the next request happen in conn_task(), from the loop.
 */
static void
req_cut(struct req *r, const char *why)
{
	if (why != NULL)
		log_msg(LOG_LV_ERROR, r->id, "%s", why);
	r->then = REQ_CUT;
	loop_post(r->conn->srv->loop, &r->conn->task);
}

static int
req_head(struct sink *s, int status, const char *headers, size_t hlen,
    int64_t length)
{
	struct req *r = LOOP_OWNER(s, struct req, sink);
	struct conn *c = r->conn;
	char *extra;
	size_t elen = hlen;

	if (r->then == REQ_CUT)
		return -1;
	if (length < 0 && r->http.version == 11 && !r->is_head &&
	    status != 204 && status != 304) {
		r->chunked_out = 1;
		elen += sizeof("Transfer-Encoding: chunked\r\n") - 1;
	} else if (length < 0)
		c->keep_alive = 0;	/* HTTP/1.0: the end is the close */
	if ((extra = malloc(elen + 1)) == NULL) {
		req_cut(r, "out of memory");
		return -1;
	}
	memcpy(extra, headers, hlen);
	if (r->chunked_out)
		memcpy(extra + hlen, "Transfer-Encoding: chunked\r\n",
		    elen - hlen);
	if (conn_head(c, status, extra, elen, length, NULL, 0, 0) == -1) {
		free(extra);
		req_cut(r, "out of memory");
		return -1;
	}
	free(extra);
	loop_post(c->srv->loop, &c->task);
	return 0;
}

static ssize_t
req_body(struct sink *s, const char *p, size_t n)
{
	struct req *r = LOOP_OWNER(s, struct req, sink);
	char size[24];

	if (r->then == REQ_CUT)
		return -1;
	if (n == 0 || r->is_head)
		return (ssize_t)(r->outlen - r->outoff);
	if (r->chunked_out) {
		int sl = snprintf(size, sizeof(size), "%zx\r\n", n);
		if (req_out(r, size, (size_t)sl) == -1 ||
		    req_out(r, p, n) == -1 || req_out(r, "\r\n", 2) == -1) {
			req_cut(r, "out of memory");
			return -1;
		}
	} else if (req_out(r, p, n) == -1) {
		req_cut(r, "out of memory");
		return -1;
	}
	r->sent += n;
	loop_post(r->conn->srv->loop, &r->conn->task);
	return (ssize_t)(r->outlen - r->outoff);
}

static void
req_end(struct sink *s, const struct sink_result *res)
{
	struct req *r = LOOP_OWNER(s, struct req, sink);
	struct conn *c = r->conn;

	r->src = NULL;
	if (r->then == REQ_CUT)
		res = NULL;
	else if (res->kind == SINK_DONE) {
		if (r->chunked_out && req_out(r, "0\r\n\r\n", 5) == -1)
			req_cut(r, "out of memory");
	} else if (res->kind == SINK_ERROR) {
		if (conn_error(c, res->status, res->headers) == -1)
			req_cut(r, "out of memory");
	} else if (res->kind == SINK_REDIRECT) {
		free(r->redirect);
		if ((r->redirect = strdup(res->location)) == NULL)
			req_cut(r, "out of memory");
		else
			r->then = REQ_REDIRECT;
	} else if (res->kind == SINK_RETRY) {
		/*
		 * The answer it waited for was not for sharing: it runs its
		 * own now, beside the others that waited, not in a line of
		 * new fills.
		 */
		r->then = REQ_AGAIN;
		r->nocache = 1;
	}
	else
		req_cut(r, NULL);
	loop_post(c->srv->loop, &c->task);
}

static const struct sink_ops req_sink_ops = { req_head, req_body, req_end,
    NULL };

/* RFC 3875 §6.2.2: answer with a GET of r->redirect instead. */
static void
conn_redirect(struct conn *c)
{
	struct req *r = c->req;
	const char *q;
	size_t plen;

	if (++r->redirects > 5) {
		log_msg(LOG_LV_ERROR, r->id, "more than 5 local redirects");
		conn_reply_error(c, 500, NULL);
		return;
	}
	/* RFC 3875 §6.2.2: the new request is a GET without a body. */
	q = strchr(r->redirect, '?');
	plen = q ? (size_t)(q - r->redirect) : strlen(r->redirect);
	free(r->rpath);
	if ((r->rpath = malloc(plen + 2)) == NULL ||
	    http_path_normalize(r->redirect, plen, r->rpath, plen + 2) == -1) {
		log_msg(LOG_LV_ERROR, r->id, "bad local redirect to %s",
		    r->redirect);
		conn_reply_error(c, 500, NULL);
		return;
	}
	r->http.path = r->rpath;
	r->http.query = q ? q + 1 : NULL;
	r->http.rawpath = r->redirect;
	r->http.meth = HTTP_GET;
	r->http.method = "GET";
	r->http.content_length = -1;
	r->http.chunked = 0;
	free(r->body);
	r->body = NULL;
	r->bodylen = r->bodycap = 0;
	r->chunked_out = 0;
	r->route = conf_route_match(r->conf, r->http.path);
	/* The new path may be guarded as the first was not. */
	if (conn_access(c) != 0)
		return;
	conn_dispatch(c);
}

/*
 * Work left for the loop: by a sink op (the producer's news), by
 * conn_finish() (the next request), by a producer that ended.
 */
static void
conn_task(struct loop_task *t)
{
	struct conn *c = LOOP_OWNER(t, struct conn, task);
	struct req *r = c->req;

	if (c->io.fn == NULL)
		return;
	if (r != NULL && r->then == REQ_CUT) {
		if (r->src != NULL) {
			struct source *src = r->src;

			r->src = NULL;
			source_cancel(src);
		}
		if (r->status == 0)
			r->status = 500;
		conn_log(c);
		conn_close(c);
		return;
	}
	if (r != NULL && r->src == NULL && r->then != REQ_SEND) {
		enum req_then then = r->then;

		r->then = REQ_SEND;
		if (then == REQ_REDIRECT)
			conn_redirect(c);
		else
			conn_dispatch(c);
		return;
	}
	switch (c->state) {
	case CONN_WAIT:
		c->state = CONN_WRITE;
		/* FALLTHROUGH */
	case CONN_WRITE:
		conn_write(c);
		return;
	default:
		conn_process(c);
		return;
	}
}

/* ----- the server ----- */

static void
server_idle(void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;
	struct listener *l, *lnext;

	for (c = srv->dead; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	srv->dead = NULL;
	for (l = srv->deadl; l != NULL; l = lnext) {
		lnext = l->next;
		free(l);
	}
	srv->deadl = NULL;
	log_flush();
}

static int
conf_has_tls(const struct conf *conf)
{
	for (size_t i = 0; i < conf->nlistens; i++)
		if (conf->listens[i].tls)
			return 1;
	return 0;
}

/* Open what a conf needs besides listeners; 0 or -1 with err set. */
static int
server_open(struct conf *conf, struct log_files **logs, struct mime **mime,
    int *rootfd, char *err, size_t errlen)
{
	struct stat st;

	*logs = NULL;
	*mime = NULL;
	*rootfd = open(conf->document_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*rootfd == -1 || fstat(*rootfd, &st) == -1) {
		snprintf(err, errlen, "DocumentRoot %s: %s", conf->document_root,
		    strerror(errno));
		goto fail;
	}
	if ((*mime = mime_load(conf->mime_types, err, errlen)) == NULL)
		goto fail;
	*logs = log_open(conf->error_log, conf->access_log,
	    conf->access_format == CONF_LOG_COMBINED, err, errlen);
	if (*logs == NULL)
		goto fail;
	return 0;
fail:
	if (*rootfd != -1)
		close(*rootfd);
	*rootfd = -1;
	mime_free(*mime);
	*mime = NULL;
	return -1;
}

static void
server_grace(struct loop_timer *t)
{
	struct server *srv = LOOP_OWNER(t, struct server, grace);

	if (srv->grace_over) {
		/* Containers still being removed after a further while. */
		log_warn("giving up waiting for the Docker engine");
		dcgi_log_busy(srv->dcgi);
		srv->gave_up = 1;
		return;
	}
	srv->grace_over = 1;
	loop_timer_set(srv->loop, &srv->grace, 10000);
	if (srv->nconns > 0)
		log_warn("grace period over: closing %zu connection%s",
		    srv->nconns, srv->nconns == 1 ? "" : "s");
	while (srv->conns != NULL) {
		struct conn *c = srv->conns;
		if (c->req != NULL) {
			c->req->status = c->req->status ? c->req->status : 503;
			conn_log(c);
		}
		conn_close(c);
	}
	dcgi_grace_over(srv->dcgi);
}

struct server *
server_new(struct loop *loop, struct conf *conf, enum server_role role,
    int chanfd, int inh_first, int ninh, char *err, size_t errlen)
{
	struct server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->role = role;
	/* The engine holds the listeners for its server processes. */
	srv->paused = role == SERVER_ENGINE;
	srv->rootfd = -1;
	srv->grace.fn = server_grace;
	if (getrandom(&srv->reqbase, sizeof(srv->reqbase), 0) !=
	    sizeof(srv->reqbase))
		srv->reqbase = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
	srv->reqbase &= ~0xffffffffULL;	/* readable: the low half counts */
	if (server_open(conf, &srv->logs, &srv->mime, &srv->rootfd, err,
	    errlen) == -1)
		goto fail;
	srv->conf = conf_ref(conf);
	log_use(srv->logs);
	if (role == SERVER_NET)
		srv->dcgi = dcgi_new_remote(loop, chanfd, err, errlen);
	else
		srv->dcgi = dcgi_new(loop, conf, err, errlen);
	if (srv->dcgi == NULL)
		goto fail;
	if ((srv->cache = cache_new(loop, CACHE_BYTES)) == NULL ||
	    (srv->clients = clients_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (conf_has_tls(conf) &&
	    (srv->tls = tls_server_new(conf, err, errlen)) == NULL)
		goto fail;
	if (server_inherit(srv, inh_first, ninh, err, errlen) == -1)
		goto fail;
	if (listeners_apply(srv, conf) == -1) {
		snprintf(err, errlen, "cannot open the listeners (see above)");
		goto fail;
	}
	for (size_t i = 0; i < srv->ninh; i++)
		if (!srv->inh[i].used) {
			snprintf(err, errlen, "the socket systemd passed on %s "
			    "(descriptor %d) matches no Listen in %s",
			    srv->inh[i].name, srv->inh[i].fd, conf->path);
			goto fail;
		}
	/* Queues keep the configuration they started with (README). */
	if (role != SERVER_NET)
		srv->queues = queues_new(loop, srv->dcgi, conf);
	dcgi_configure(srv->dcgi, conf);
	loop_set_idle(loop, server_idle, srv);
	return srv;
fail:
	server_free(srv);
	return NULL;
}

int
server_reload(struct server *srv, struct conf *conf)
{
	struct tls_server *tls = NULL;
	struct log_files *logs;
	struct mime *mime;
	char err[512];
	int rootfd;

	if (srv->stopping)
		return -1;
	/* A new certificate and key: a bad pair keeps the old ones. */
	if (conf_has_tls(conf) &&
	    (tls = tls_server_new(conf, err, sizeof(err))) == NULL) {
		log_error("reload: %s; keeping the old configuration", err);
		return -1;
	}
	if (server_open(conf, &logs, &mime, &rootfd, err, sizeof(err)) == -1) {
		log_error("reload: %s; keeping the old configuration", err);
		tls_server_unref(tls);
		return -1;
	}
	if (listeners_apply(srv, conf) == -1) {
		tls_server_unref(tls);
		log_error("reload: cannot open the listeners; keeping the old "
		    "configuration");
		close(rootfd);
		mime_free(mime);
		log_close(logs);
		return -1;
	}
	log_use(logs);
	srv->logs = logs;
	tls_server_unref(srv->tls);	/* connections keep theirs */
	srv->tls = tls;
	mime_free(srv->mime);
	srv->mime = mime;
	static_cache_flush();
	close(srv->rootfd);
	srv->rootfd = rootfd;
	conf_unref(srv->conf);
	srv->conf = conf_ref(conf);
	if (srv->paused && srv->nconns < (size_t)conf->max_connections)
		listeners_resume(srv);
	/* The engine says so once the new server process is ready. */
	if (srv->role != SERVER_ENGINE)
		log_info("configuration reloaded from %s", conf->path);
	dcgi_configure(srv->dcgi, conf);
	return 0;
}

size_t
server_listen_fds(const struct server *srv, int *fds, size_t max)
{
	size_t n = 0;

	/* All are counted, so that a caller sees when they did not fit. */
	for (const struct listener *l = srv->listeners; l != NULL;
	    l = l->next, n++)
		if (n < max)
			fds[n] = l->io.fd;
	return n;
}

struct dcgi *
server_dcgi(struct server *srv)
{
	return srv->dcgi;
}

int
server_ready(struct server *srv)
{
	return dcgi_hello(srv->dcgi);
}

unsigned
server_health(const struct server *srv)
{
	/* queues_ready() is 1 without queues: a server process has none. */
	return dcgi_health(srv->dcgi) | (queues_ready(srv->queues) ? 0 :
	    DCGI_DOWN_REDIS);
}

int
server_metrics_collect(struct server *srv)
{
	if (srv->conf->metrics == NULL)
		return 0;
	dcgi_metrics(srv->dcgi);
	queues_metrics(srv->queues);
	return 1;
}

void
server_get_stats(const struct server *srv, struct server_stats *st)
{
	st->conns = srv->nconns;
	st->containers = dcgi_running(srv->dcgi);
	st->prestarted = dcgi_prestarted(srv->dcgi);
}

static void	server_halt(struct server *, int);

/* Close the connections that wait for a request and have none begun. */
static void
server_close_idle(struct server *srv)
{
	struct conn *c, *next;

	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_HEAD && c->inlen == 0 && c->req == NULL)
			conn_close(c);
	}
}

void
server_stop(struct server *srv)
{
	server_halt(srv, 0);
}

void
server_drain(struct server *srv)
{
	server_halt(srv, 1);
}

static void
server_halt(struct server *srv, int replaced)
{
	struct listener *l;
	struct conn *c;

	if (srv->stopping && !replaced && srv->replaced) {
		/* Drained for a reload, now a stop: idle ones go now. */
		srv->replaced = 0;
		dcgi_stop(srv->dcgi);
		server_close_idle(srv);
		return;
	}
	if (srv->stopping)
		return;
	srv->stopping = 1;
	srv->replaced = replaced;
	queues_stop(srv->queues);
	/* Replaced: requests waiting for a slot still get their container. */
	if (!replaced)
		dcgi_stop(srv->dcgi);
	while ((l = srv->listeners) != NULL) {
		srv->listeners = l->next;
		listener_free(srv, l);
	}
	/*
	 * Busy connections close after their response.  Idle ones go now,
	 * unless a reload replaced this server process: then a keep-alive
	 * connection stays until its next request (answered with Connection:
	 * close), its KeepAliveTimeout or GracePeriod, so that a client in
	 * the middle of a series never finds it shut as it sends.
	 */
	for (c = srv->conns; c != NULL; c = c->next)
		c->keep_alive = 0;
	if (!replaced)
		server_close_idle(srv);
	if (replaced)
		dcgi_draining(srv->dcgi);	/* the reload is complete */
	log_info("stopping: %zu connection%s, %zu container%s in flight; "
	    "grace period %lldms", srv->nconns, srv->nconns == 1 ? "" : "s",
	    dcgi_running(srv->dcgi), dcgi_running(srv->dcgi) == 1 ? "" : "s",
	    (long long)srv->conf->grace_ms);
	loop_timer_set(srv->loop, &srv->grace, srv->conf->grace_ms);
}

int
server_done(const struct server *srv)
{
	return srv->stopping && srv->nconns == 0 &&
	    ((!dcgi_busy(srv->dcgi) && !queues_busy(srv->queues)) ||
	    srv->gave_up);
}

void
server_free(struct server *srv)
{
	struct listener *l;

	if (srv == NULL)
		return;
	/* No job may start while everything goes (a failure of the loop
	 * comes here without server_stop()). */
	if (!srv->stopping) {
		queues_stop(srv->queues);
		if (srv->dcgi != NULL)
			dcgi_stop(srv->dcgi);
	}
	while (srv->conns != NULL)
		conn_close(srv->conns);
	while ((l = srv->listeners) != NULL) {
		srv->listeners = l->next;
		listener_free(srv, l);
	}
	queues_free(srv->queues);
	cache_free(srv->cache);
	dcgi_free(srv->dcgi);
	clients_free(srv->clients);
	tls_server_unref(srv->tls);
	server_idle(srv);
	loop_timer_del(srv->loop, &srv->grace);
	loop_set_idle(srv->loop, NULL, NULL);
	static_cache_flush();
	if (srv->rootfd != -1)
		close(srv->rootfd);
	mime_free(srv->mime);
	free(srv->scratch);
	if (srv->logs != NULL)
		log_use(NULL);		/* closes them */
	if (srv->conf != NULL)
		conf_unref(srv->conf);
	free(srv->inh);
	free(srv);
}
