/*
 * server.h: listeners and client connections, one HTTP request at a time
 * per connection, driven by the loop.
 */
#ifndef DCGI_SERVER_H
#define DCGI_SERVER_H

#include <stddef.h>

struct conf;
struct loop;
struct server;

/*
 * Open everything `conf` asks for (logs, MIME table, document root,
 * listeners) and start accepting.  The ninh sockets from descriptor
 * inh_first on came from systemd: each must match a Listen (by address, or
 * by port for a Listen without one, when it is bound to the wildcard).
 * Takes a reference to conf.  NULL with a message in err on failure.
 */
struct server	*server_new(struct loop *, struct conf *, int inh_first,
		    int ninh, char *err, size_t errlen);

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
/* Nonzero once a stopping server has no connection left. */
int		 server_done(const struct server *);
void		 server_free(struct server *);

#endif

/*
 * What a module that answers a request over time (dcgi.c) may ask of and
 * do with the connection that carries it.
 */
struct conn;
struct dcgi_job;
struct http_request;

struct conn_info {
	const struct http_request *req;
	const struct conf *conf;
	const char	*reqid;
	const char	*client_addr;
	unsigned	 client_port;
	unsigned	 local_port;
	int		 tls;
	const char	*body;		/* the whole request body */
	size_t		 bodylen;
	int		 has_body;	/* Content-Length or chunked */
};
void		 conn_get_info(struct conn *, struct conn_info *);
/*
 * Start the response: `headers` are complete lines (CRLF each).  A
 * `length` of -1 means unknown: chunked on HTTP/1.1, close-delimited on
 * 1.0.  -1 when out of memory (the connection is then closed).
 */
int		 conn_response_start(struct conn *, int status,
		    const char *headers, size_t hlen, int64_t length);
/* Queue body bytes; -1 when the connection failed. */
int		 conn_response_data(struct conn *, const char *, size_t);
/* Bytes queued and not yet written to the client. */
size_t		 conn_response_queued(const struct conn *);
/* The body is complete. */
void		 conn_response_end(struct conn *);
/* A complete error response (with `headers`, may be NULL). */
void		 conn_response_error(struct conn *, int status,
		    const char *headers);
/* The response cannot be completed: close the connection. */
void		 conn_response_abort(struct conn *);
/* RFC 3875 §6.2.2: answer with a GET of `location` instead. */
void		 conn_response_redirect(struct conn *, const char *location);
