/*
 * docker.c: the Docker Engine API client.
 *
 * API calls are libcurl easy handles on one multi handle whose sockets and
 * timer live in our event loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION):
 * the loop never waits on libcurl, libcurl never waits on the engine.
 *
 * The attach stream is a CONNECT_ONLY transfer on the same multi handle;
 * once connected we write the "Upgrade: tcp" request with curl_easy_send,
 * read the 101 answer and then the raw multiplexed stream with
 * curl_easy_recv.  Readiness comes from a dup(2) of the connection's
 * socket registered in our loop, so that libcurl's own bookkeeping of the
 * original descriptor can never remove our registration.
 *
 * Ownership: a struct docker_call is owned by the docker from
 * docker_call() until its answer has been given to its callback (or it
 * was abandoned in docker_free()); the caller may forget or rebind the
 * callback, never free the call.  A struct docker_attach is owned by
 * whoever docker_attach() returned it to, until docker_attach_free(),
 * which may be called from inside its own callback: it is marked done
 * and freed after the loop iteration, and attach_emit() sees that.
 * docker_attach_fd() makes one of a stream's descriptor that came from
 * elsewhere (a server process gets its streams from the engine);
 * docker_attach_release() frees one and gives its caller the descriptor.
 * Callbacks come only from the loop (a socket event, libcurl's timer),
 * never from inside a call made to this file.
 *
 * Whether the engine answers (Health, server.c): with docker_ping() on,
 * GET /_ping every interval, each given 3/4 of it to answer, so at most
 * one is in flight and a hung engine is seen within two intervals.
 * Only the ping decides docker_up(): the ordinary calls fail for reasons
 * of their own (a missing image, a container gone), and the ping keeps
 * it fresh when no request comes.  The docker owns the ping's call and
 * timer.
 *
 * Metrics counts the engine's failures here (MX_ENGINE_ERROR): a call
 * with no answer or a 5xx, an attach refused or cut before its stream.
 * A 404 or a 409 is an answer about a container or an image, not one.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "docker.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define DOCKER_API		"1.41"	/* what we need; lower if the engine is older */
#define DOCKER_MAX_ANSWER	(8 * 1024 * 1024)
#define DOCKER_CONNECT_MS	3000
#define DOCKER_CALL_MS		60000
#define DOCKER_ATTACH_HEAD	8192	/* the 101 answer's head */
#define DOCKER_READ_CHUNK	65536

struct docker {
	struct loop	 *loop;
	CURLM		 *multi;
	struct loop_timer timer;
	char		  host[512];	/* as configured, for messages */
	char		  sock[256];	/* unix socket path, or "" */
	char		  base[300];	/* "http://localhost" or "http://h:p" */
	char		  api[16];
	size_t		  pending;	/* calls in flight */
	struct docker_call *calls;	/* the same, listed */
	int		  closing;
	int64_t		  ping_ms;	/* docker_ping(): 0 off */
	struct loop_timer ping;
	struct docker_call *pinging;	/* the ping in flight, or NULL */
	int		  down;		/* the last ping had no answer */
};

/* A socket libcurl asked us to watch. */
struct docker_sock {
	struct loop_io	 io;
	struct docker	*d;
};

struct docker_call {
	struct docker	*d;
	struct docker_call *prev, *next;
	CURL		*easy;
	struct curl_slist *hdrs;
	char		*buf;		/* the answer */
	size_t		 len, cap;
	int		 toolarge;
	docker_cb	 fn;
	void		*arg;
	struct docker_attach *att;	/* a CONNECT_ONLY call for an attach */
	char		 errbuf[CURL_ERROR_SIZE];
};

enum attach_state {
	ATT_CONNECTING,		/* the CONNECT_ONLY transfer */
	ATT_REQUEST,		/* writing the upgrade request */
	ATT_HEAD,		/* reading the 101 answer */
	ATT_STREAM,		/* raw frames */
	ATT_DONE
};

struct docker_attach {
	struct loop_io	  io;		/* the dup'ed socket */
	struct loop	 *loop;
	struct docker	 *d;		/* NULL: a stream passed in (fd) */
	CURL		 *easy;		/* NULL: plain recv/send on io.fd */
	struct docker_call *call;	/* while connecting */
	enum attach_state state;
	char		  req[512];
	size_t		  reqlen, reqoff;
	char		  head[DOCKER_ATTACH_HEAD];
	size_t		  headlen;
	struct docker_demux demux;
	docker_attach_cb  fn;
	void		 *arg;
	int		  paused;
	int		  want_write;	/* a stdin write was short */
	int		  stdin_closed;
	int		 *alive;	/* cleared when freed mid-callback */
};

static void	docker_check(struct docker *);
static void	attach_connected(struct docker_attach *, CURLcode);

/* ----- libcurl glue ----- */

static void
docker_sock_event(struct loop_io *io, unsigned revents)
{
	struct docker_sock *ds = (struct docker_sock *)io;
	struct docker *d = ds->d;
	int running, ev = 0;

	if (io->fd == -1)
		return;		/* removed earlier in this iteration */
	if (revents & LOOP_READ)
		ev |= CURL_CSELECT_IN;
	if (revents & LOOP_WRITE)
		ev |= CURL_CSELECT_OUT;
	if (revents & LOOP_ERROR)
		ev |= CURL_CSELECT_ERR;
	curl_multi_socket_action(d->multi, io->fd, ev, &running);
	docker_check(d);
}

static int
docker_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct docker *d = userp;
	struct docker_sock *ds = socketp;
	unsigned ev = 0;
	(void)easy;

	if (what == CURL_POLL_REMOVE) {
		if (ds != NULL) {
			loop_del(d->loop, &ds->io);
			ds->io.fd = -1;
			curl_multi_assign(d->multi, s, NULL);
			loop_defer_free(d->loop, ds);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= LOOP_READ;
	if (what & CURL_POLL_OUT)
		ev |= LOOP_WRITE;
	if (ds == NULL) {
		if ((ds = calloc(1, sizeof(*ds))) == NULL)
			return -1;
		ds->io.fd = s;
		ds->io.fn = docker_sock_event;
		ds->d = d;
		if (loop_add(d->loop, &ds->io, ev, 0) == -1) {
			free(ds);
			return -1;
		}
		curl_multi_assign(d->multi, s, ds);
	} else if (loop_mod(d->loop, &ds->io, ev, 0) == -1)
		return -1;
	return 0;
}

static void
docker_timer_fired(struct loop_timer *t)
{
	struct docker *d = LOOP_OWNER(t, struct docker, timer);
	int running;

	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	docker_check(d);
}

static int
docker_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct docker *d = userp;
	(void)multi;

	if (ms < 0)
		loop_timer_del(d->loop, &d->timer);
	else
		loop_timer_set(d->loop, &d->timer, ms);
	return 0;
}

static size_t
docker_write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct docker_call *c = userp;
	size_t n = size * nmemb;

	if (c->len + n > DOCKER_MAX_ANSWER) {
		c->toolarge = 1;
		return 0;	/* aborts the transfer */
	}
	if (c->len + n + 1 > c->cap) {
		size_t nc = c->cap ? c->cap : 4096;
		char *nb;
		while (nc < c->len + n + 1)
			nc *= 2;
		if ((nb = realloc(c->buf, nc)) == NULL)
			return 0;
		c->buf = nb;
		c->cap = nc;
	}
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

static void
call_link(struct docker_call *c)
{
	struct docker *d = c->d;

	c->prev = NULL;
	c->next = d->calls;
	if (d->calls != NULL)
		d->calls->prev = c;
	d->calls = c;
	d->pending++;
}

static void
call_unlink(struct docker_call *c)
{
	struct docker *d = c->d;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (d->calls == c)
		d->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	d->pending--;
}

static void
call_free(struct docker_call *c)
{
	if (c->easy != NULL && c->att == NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->hdrs);
	free(c->buf);
	free(c);
}

/* Finish every transfer libcurl says is done. */
static void
docker_check(struct docker *d)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		struct docker_call *c;
		CURLcode rc = m->data.result;
		long status = 0;
		json_t *body = NULL;
		const char *err = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		call_unlink(c);
		/*
		 * A CONNECT_ONLY handle stays in the multi handle: its
		 * connection lives in the multi's cache, and removing it
		 * would leave curl_easy_send/recv nothing to work on.
		 */
		if (c->att == NULL)
			curl_multi_remove_handle(d->multi, m->easy_handle);
		if (c->att != NULL) {
			struct docker_attach *a = c->att;
			a->call = NULL;
			c->easy = NULL;	/* the attach owns it now */
			call_free(c);
			attach_connected(a, rc);
			continue;
		}
		if (rc != CURLE_OK) {
			err = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
			if (c->toolarge)
				err = "answer too large";
		} else {
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
			if (c->len > 0)
				body = json_loadb(c->buf, c->len, 0, NULL);
		}
		if (status == 0 || status >= 500)
			metrics_count(MX_ENGINE_ERROR, NULL);
		if (c->fn != NULL)
			c->fn(c->arg, (int)status, body, err);
		json_decref(body);
		call_free(c);
	}
}

static CURL *
docker_easy(struct docker *d, const char *url, char *errbuf)
{
	CURL *e;

	if ((e = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (d->sock[0] != '\0')
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, d->sock);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)DOCKER_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	/* The environment's proxies are for the outside, not the engine. */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	return e;
}

static struct docker_call *
docker_call_ms(struct docker *d, const char *method, const char *path,
    json_t *body, long timeout_ms, docker_cb fn, void *arg)
{
	struct docker_call *c;
	char url[1200];
	char *json = NULL;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->d = d;
	c->fn = fn;
	c->arg = arg;
	snprintf(url, sizeof(url), "%s/v%s%s", d->base, d->api, path);
	if ((c->easy = docker_easy(d, url, c->errbuf)) == NULL)
		goto fail;
	curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, docker_write_cb);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (body != NULL) {
		if ((json = json_dumps(body, JSON_COMPACT)) == NULL)
			goto fail;
		c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		if (c->hdrs == NULL)
			goto fail;
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
		curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, json);
		free(json);
		json = NULL;
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, "");
	}
	if (curl_multi_add_handle(d->multi, c->easy) != CURLM_OK)
		goto fail;
	call_link(c);
	return c;
fail:
	free(json);
	call_free(c);
	return NULL;
}

struct docker_call *
docker_call(struct docker *d, const char *method, const char *path,
    json_t *body, docker_cb fn, void *arg)
{
	return docker_call_ms(d, method, path, body, DOCKER_CALL_MS, fn, arg);
}

void
docker_call_forget(struct docker_call *c)
{
	if (c != NULL)
		c->fn = NULL;
}

void
docker_call_rebind(struct docker_call *c, docker_cb fn, void *arg)
{
	if (c != NULL) {
		c->fn = fn;
		c->arg = arg;
	}
}

size_t
docker_pending(const struct docker *d)
{
	return d->pending;
}

void
docker_log_pending(const struct docker *d)
{
	for (struct docker_call *c = d->calls; c != NULL; c = c->next) {
		char *url = NULL;

		curl_easy_getinfo(c->easy, CURLINFO_EFFECTIVE_URL, &url);
		log_warn("docker %s: no answer yet to %s%s", d->host,
		    url ? url : "?", c->att ? " (attach)" : "");
	}
}

const char *
docker_host(const struct docker *d)
{
	return d->host;
}

/* The answer to GET /version: use the engine's API version if older. */
static void
docker_version_cb(void *arg, int status, json_t *body, const char *err)
{
	struct docker *d = arg;
	const char *v;

	if (status != 200 || body == NULL) {
		log_warn("docker %s: no answer to /version (%s); will retry on "
		    "the first request", d->host, err ? err : "bad status");
		return;
	}
	v = json_string_value(json_object_get(body, "ApiVersion"));
	if (v == NULL)
		return;
	if (strverscmp(v, DOCKER_API) < 0) {
		log_warn("docker %s: engine API %s is older than %s; using %s",
		    d->host, v, DOCKER_API, v);
		snprintf(d->api, sizeof(d->api), "%s", v);
	}
	log_info("docker %s: engine %s, API %s", d->host,
	    json_string_value(json_object_get(body, "Version")) ?
	    json_string_value(json_object_get(body, "Version")) : "?", d->api);
}

/* The answer to GET /_ping: the state changes are said once each. */
static void
docker_pinged(void *arg, int status, json_t *body, const char *err)
{
	struct docker *d = arg;
	int down = status != 200;
	(void)body;

	d->pinging = NULL;
	if (d->ping_ms == 0)
		return;		/* turned off meanwhile */
	if (down && !d->down)
		log_warn("docker %s: the engine does not answer /_ping (%s): "
		    "Health says 503 until it does", d->host, err ? err :
		    "not 200");
	else if (!down && d->down)
		log_info("docker %s: the engine answers /_ping again", d->host);
	d->down = down;
}

static void
docker_ping_tick(struct loop_timer *t)
{
	struct docker *d = LOOP_OWNER(t, struct docker, ping);

	if (d->ping_ms == 0)
		return;
	/* Its timeout, under the interval, has ended the last one. */
	if (d->pinging == NULL)
		d->pinging = docker_call_ms(d, "GET", "/_ping", NULL,
		    (long)(d->ping_ms * 3 / 4), docker_pinged, d);
	loop_timer_set(d->loop, &d->ping, d->ping_ms);
}

void
docker_ping(struct docker *d, int64_t ms)
{
	if (ms == d->ping_ms)
		return;
	d->ping_ms = ms;
	if (ms == 0) {
		/* The one in flight ends within its timeout; its answer
		 * is kept, no other follows. */
		loop_timer_del(d->loop, &d->ping);
		d->down = 0;
		return;
	}
	docker_ping_tick(&d->ping);
}

int
docker_up(const struct docker *d)
{
	return !d->down;
}

struct docker *
docker_new(struct loop *loop, const char *host, char *err, size_t errlen)
{
	static int curl_ready;
	struct docker *d;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "curl_global_init failed");
			return NULL;
		}
		curl_ready = 1;
	}
	if (host == NULL || *host == '\0')
		host = getenv("DOCKER_HOST");
	if (host == NULL || *host == '\0')
		host = "unix:///var/run/docker.sock";
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->timer.fn = docker_timer_fired;
	d->ping.fn = docker_ping_tick;
	snprintf(d->host, sizeof(d->host), "%s", host);
	snprintf(d->api, sizeof(d->api), "%s", DOCKER_API);
	if (strncmp(host, "unix://", 7) == 0) {
		if (strlen(host + 7) >= sizeof(d->sock) || host[7] != '/') {
			snprintf(err, errlen, "DockerHost %s: bad socket path", host);
			goto fail;
		}
		snprintf(d->sock, sizeof(d->sock), "%s", host + 7);
		snprintf(d->base, sizeof(d->base), "http://localhost");
	} else if (strncmp(host, "tcp://", 6) == 0 && host[6] != '\0' &&
	    strlen(host) < 250) {
		snprintf(d->base, sizeof(d->base), "http://%s", host + 6);
		if (d->base[strlen(d->base) - 1] == '/')
			d->base[strlen(d->base) - 1] = '\0';
	} else {
		snprintf(err, errlen, "DockerHost %s: use unix:///path or "
		    "tcp://host:port", host);
		goto fail;
	}
	if ((d->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		goto fail;
	}
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, docker_socket_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, docker_timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	(void)docker_call(d, "GET", "/version", NULL, docker_version_cb, d);
	return d;
fail:
	free(d);
	return NULL;
}

void
docker_free(struct docker *d)
{
	if (d == NULL)
		return;
	d->closing = 1;
	/* Whatever is still in flight is abandoned. */
	while (d->calls != NULL) {
		struct docker_call *c = d->calls;

		curl_multi_remove_handle(d->multi, c->easy);
		call_unlink(c);
		if (c->att != NULL) {
			c->att->call = NULL;
			c->att->easy = NULL;
		}
		c->att = NULL;		/* so call_free cleans the easy up */
		call_free(c);
	}
	loop_timer_del(d->loop, &d->timer);
	loop_timer_del(d->loop, &d->ping);
	curl_multi_cleanup(d->multi);
	free(d);
}

/* ----- the attach stream ----- */

static void	attach_io(struct loop_io *, unsigned);

/* Tell the owner; returns nonzero when the attach is gone. */
static int
attach_emit(struct docker_attach *a, enum docker_event ev, const char *data,
    size_t len)
{
	int alive = 1, *prev = a->alive;

	a->alive = &alive;
	if (a->fn(a->arg, ev, data, len) != 0 || !alive)
		return 1;
	a->alive = prev;
	return 0;
}

static void
attach_fail(struct docker_attach *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
attach_fail(struct docker_attach *a, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Before the stream: the engine's failure (after: the container's). */
	if (a->state != ATT_STREAM)
		metrics_count(MX_ENGINE_ERROR, NULL);
	a->state = ATT_DONE;
	if (a->io.fd != -1)
		loop_del(a->loop, &a->io);
	(void)attach_emit(a, DOCKER_FAILED, msg, strlen(msg));
}

/*
 * The stream's bytes: through libcurl for a connection it made, plain
 * recv/send for one passed in (docker_attach_fd).  CURLE_AGAIN, CURLE_OK
 * (n == 0 on EOF) or an error.
 */
static CURLcode
att_recv(struct docker_attach *a, char *buf, size_t len, size_t *n)
{
	ssize_t r;

	if (a->easy != NULL)
		return curl_easy_recv(a->easy, buf, len, n);
	*n = 0;
	while ((r = recv(a->io.fd, buf, len, MSG_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (r == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CURLE_AGAIN :
		    CURLE_RECV_ERROR;
	*n = (size_t)r;
	return CURLE_OK;
}

static CURLcode
att_send(struct docker_attach *a, const void *buf, size_t len, size_t *n)
{
	ssize_t r;

	if (a->easy != NULL)
		return curl_easy_send(a->easy, buf, len, n);
	*n = 0;
	while ((r = send(a->io.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL)) ==
	    -1 && errno == EINTR)
		;
	if (r == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CURLE_AGAIN :
		    CURLE_SEND_ERROR;
	*n = (size_t)r;
	return CURLE_OK;
}

struct docker_attach *
docker_attach(struct docker *d, const char *id, docker_attach_cb fn,
    void *arg)
{
	struct docker_attach *a;
	struct docker_call *c;
	int n;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		free(a);
		return NULL;
	}
	a->io.fd = -1;
	a->io.fn = attach_io;
	a->loop = d->loop;
	a->d = d;
	a->fn = fn;
	a->arg = arg;
	a->state = ATT_CONNECTING;
	n = snprintf(a->req, sizeof(a->req), "POST /v%s/containers/%s/attach?"
	    "stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\n"
	    "Content-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
	    d->api, id);
	if (n < 0 || (size_t)n >= sizeof(a->req))
		goto fail;
	a->reqlen = (size_t)n;

	c->d = d;
	c->att = a;
	if ((c->easy = docker_easy(d, d->base, c->errbuf)) == NULL)
		goto fail;
	curl_easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	a->easy = c->easy;
	a->call = c;
	if (curl_multi_add_handle(d->multi, c->easy) != CURLM_OK) {
		curl_easy_cleanup(c->easy);
		goto fail;
	}
	call_link(c);
	return a;
fail:
	free(c);
	free(a);
	return NULL;
}

/*
 * Is the stream open with nothing waiting to be read?  An EOF (the
 * container died, the engine went away) may be in the socket before the
 * loop has seen it: a peek tells.
 */
int
docker_attach_idle(const struct docker_attach *a)
{
	char c;
	ssize_t n;

	if (a == NULL || a->state != ATT_STREAM || a->io.fd == -1)
		return 0;
	n = recv(a->io.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void
docker_attach_rebind(struct docker_attach *a, docker_attach_cb fn, void *arg)
{
	a->fn = fn;
	a->arg = arg;
}

/* The CONNECT_ONLY transfer has finished: watch a dup of its socket. */
static void
attach_connected(struct docker_attach *a, CURLcode rc)
{
	curl_socket_t s;

	if (rc != CURLE_OK) {
		attach_fail(a, "cannot connect to the engine: %s",
		    curl_easy_strerror(rc));
		return;
	}
	if (curl_easy_getinfo(a->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
	    s == CURL_SOCKET_BAD) {
		attach_fail(a, "no socket for the attach stream");
		return;
	}
	if ((a->io.fd = fcntl(s, F_DUPFD_CLOEXEC, 0)) == -1) {
		attach_fail(a, "dup: %s", strerror(errno));
		return;
	}
	if (loop_add(a->loop, &a->io, LOOP_READ | LOOP_WRITE, 0) == -1) {
		close(a->io.fd);
		a->io.fd = -1;
		attach_fail(a, "epoll: %s", strerror(errno));
		return;
	}
	a->state = ATT_REQUEST;
	attach_io(&a->io, LOOP_WRITE);
}

static void
attach_watch(struct docker_attach *a)
{
	unsigned ev = 0;

	if (a->state == ATT_DONE || a->io.fd == -1)
		return;
	if (a->state == ATT_REQUEST || a->want_write)
		ev |= LOOP_WRITE;
	if (a->state == ATT_HEAD || (a->state == ATT_STREAM && !a->paused))
		ev |= LOOP_READ;
	if (ev != a->io.events)
		(void)loop_mod(a->loop, &a->io, ev, 0);
}

static int
attach_frame(void *arg, int stream, const char *data, size_t len)
{
	struct docker_attach *a = arg;

	return attach_emit(a, stream == 2 ? DOCKER_STDERR : DOCKER_STDOUT,
	    data, len);
}

/* The 101 answer is in a->head: check it and pass on what follows. */
static int
attach_head(struct docker_attach *a)
{
	size_t hl, rest;
	int status, rv;

	rv = docker_upgrade_head(a->head, a->headlen, &hl, &status);
	if (rv == 0) {
		if (a->headlen == sizeof(a->head)) {
			attach_fail(a, "attach answer too large");
			return 1;
		}
		return 0;
	}
	if (rv == -1) {
		attach_fail(a, "attach: not an HTTP answer");
		return 1;
	}
	/* 101 on an upgrade; engines that ignore it answer 200 and stream. */
	if (status != 101 && status != 200) {
		char *nl = memchr(a->head, '\r', hl);
		attach_fail(a, "attach refused: %.*s", nl ? (int)(nl - a->head) :
		    40, a->head);
		return 1;
	}
	a->state = ATT_STREAM;
	rest = a->headlen - hl;
	if (attach_emit(a, DOCKER_ATTACHED, NULL, 0))
		return 1;
	if (rest > 0) {
		rv = docker_demux_feed(&a->demux, a->head + hl, rest,
		    attach_frame, a);
		if (rv == 1)
			return 1;
		if (rv == -1) {
			attach_fail(a, "malformed frame on the attach stream");
			return 1;
		}
	}
	return 0;
}

static void
attach_io(struct loop_io *io, unsigned revents)
{
	struct docker_attach *a = (struct docker_attach *)io;
	char buf[DOCKER_READ_CHUNK];
	size_t n;
	CURLcode rc;

	if (a->state == ATT_DONE || io->fd == -1)
		return;
	if (a->state == ATT_REQUEST && (revents & (LOOP_WRITE | LOOP_ERROR))) {
		while (a->reqoff < a->reqlen) {
			rc = curl_easy_send(a->easy, a->req + a->reqoff,
			    a->reqlen - a->reqoff, &n);
			if (rc == CURLE_AGAIN)
				break;
			if (rc != CURLE_OK) {
				attach_fail(a, "attach: %s", curl_easy_strerror(rc));
				return;
			}
			a->reqoff += n;
		}
		if (a->reqoff == a->reqlen)
			a->state = ATT_HEAD;
	}
	if (a->state == ATT_HEAD) {
		for (;;) {
			rc = curl_easy_recv(a->easy, a->head + a->headlen,
			    sizeof(a->head) - a->headlen, &n);
			if (rc == CURLE_AGAIN)
				break;
			if (rc != CURLE_OK || n == 0) {
				attach_fail(a, "attach: the engine closed the "
				    "connection before answering");
				return;
			}
			a->headlen += n;
			if (attach_head(a))
				return;
			if (a->state != ATT_HEAD)
				break;
		}
	}
	if (a->state == ATT_STREAM && a->want_write &&
	    (revents & (LOOP_WRITE | LOOP_ERROR))) {
		a->want_write = 0;
		if (attach_emit(a, DOCKER_WRITABLE, NULL, 0))
			return;
	}
	while (a->state == ATT_STREAM && !a->paused) {
		int rv;

		rc = att_recv(a, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN)
			break;
		if (rc != CURLE_OK || n == 0) {
			/* The engine closes the stream when the process exits. */
			a->state = ATT_DONE;
			loop_del(a->loop, &a->io);
			(void)attach_emit(a, DOCKER_EOF, NULL, 0);
			return;
		}
		rv = docker_demux_feed(&a->demux, buf, n, attach_frame, a);
		if (rv == 1)
			return;
		if (rv == -1) {
			attach_fail(a, "malformed frame on the attach stream");
			return;
		}
	}
	attach_watch(a);
}

ssize_t
docker_attach_write(struct docker_attach *a, const void *p, size_t len)
{
	CURLcode rc;
	size_t n;

	if (a->state != ATT_STREAM || a->stdin_closed)
		return -1;
	rc = att_send(a, p, len, &n);
	if (rc == CURLE_AGAIN)
		n = 0;
	else if (rc != CURLE_OK)
		return -1;
	if (n < len) {
		a->want_write = 1;
		attach_watch(a);
	}
	return (ssize_t)n;
}

void
docker_attach_close_stdin(struct docker_attach *a)
{
	if (a->stdin_closed || a->io.fd == -1)
		return;
	a->stdin_closed = 1;
	/* The process reads EOF on stdin only after this (DESIGN.md). */
	(void)shutdown(a->io.fd, SHUT_WR);
}

void
docker_attach_pause(struct docker_attach *a, int paused)
{
	if (a->paused == paused)
		return;
	a->paused = paused;
	/* Level-triggered: bytes already waiting raise an event at once. */
	attach_watch(a);
}

/*
 * An attach stream passed in as a descriptor (by the engine process): in
 * the stream state, at a frame boundary.  `fd` is taken.
 */
struct docker_attach *
docker_attach_fd(struct loop *loop, int fd, docker_attach_cb fn, void *arg)
{
	struct docker_attach *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		close(fd);
		return NULL;
	}
	a->loop = loop;
	a->io.fd = fd;
	a->io.fn = attach_io;
	a->fn = fn;
	a->arg = arg;
	a->state = ATT_STREAM;
	if (loop_add(loop, &a->io, LOOP_READ, 0) == -1) {
		close(fd);
		free(a);
		return NULL;
	}
	return a;
}

int
docker_attach_release(struct docker_attach *a)
{
	int fd;

	/* Only a stream at a frame boundary with nothing read can go. */
	if (a == NULL || a->state != ATT_STREAM || a->io.fd == -1 ||
	    a->demux.hlen != 0 || a->demux.left != 0 || a->stdin_closed)
		return -1;
	loop_del(a->loop, &a->io);
	fd = a->io.fd;
	a->io.fd = -1;
	docker_attach_free(a);
	return fd;
}

void
docker_attach_free(struct docker_attach *a)
{
	if (a == NULL)
		return;
	if (a->alive != NULL)
		*a->alive = 0;
	if (a->call != NULL) {
		/* Still connecting: drop the transfer. */
		curl_multi_remove_handle(a->d->multi, a->easy);
		call_unlink(a->call);
		a->call->easy = NULL;
		a->call->att = NULL;
		call_free(a->call);
	}
	if (a->io.fd != -1) {
		loop_del(a->loop, &a->io);
		close(a->io.fd);
		a->io.fd = -1;
	}
	if (a->easy != NULL) {
		curl_multi_remove_handle(a->d->multi, a->easy);
		curl_easy_cleanup(a->easy);
	}
	a->state = ATT_DONE;
	loop_defer_free(a->loop, a);
}

/* ----- the stream format ----- */

int
docker_upgrade_head(const char *buf, size_t len, size_t *hlen, int *status)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	int st = 0;
	size_t i;

	if (end == NULL)
		return 0;
	/* "HTTP/1.x NNN": the engine's head is untrusted input too. */
	if ((size_t)(end - buf) < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
		return -1;
	for (i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		st = st * 10 + (buf[i] - '0');
	}
	*status = st;
	*hlen = (size_t)(end - buf) + 4;
	return 1;
}

int
docker_demux_feed(struct docker_demux *dm, const char *buf, size_t len,
    int (*fn)(void *, int, const char *, size_t), void *arg)
{
	size_t i = 0;

	while (i < len) {
		if (dm->left == 0) {
			size_t take = 8 - dm->hlen;
			if (take > len - i)
				take = len - i;
			memcpy(dm->hdr + dm->hlen, buf + i, take);
			dm->hlen += take;
			i += take;
			if (dm->hlen < 8)
				break;
			dm->hlen = 0;
			/* stream type, three zero bytes, big-endian size */
			if (dm->hdr[0] > 2 || dm->hdr[1] != 0 || dm->hdr[2] != 0 ||
			    dm->hdr[3] != 0)
				return -1;
			dm->stream = dm->hdr[0];
			dm->left = (uint32_t)dm->hdr[4] << 24 |
			    (uint32_t)dm->hdr[5] << 16 |
			    (uint32_t)dm->hdr[6] << 8 | (uint32_t)dm->hdr[7];
			continue;
		}
		{
			size_t take = len - i;
			if (take > dm->left)
				take = dm->left;
			dm->left -= (uint32_t)take;
			if (fn(arg, dm->stream, buf + i, take) != 0)
				return 1;
			i += take;
		}
	}
	return 0;
}
