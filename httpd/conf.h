/*
 * conf.h: the parsed form of httpd.conf.
 *
 * conf_load() reads a file (and everything it Includes) into a struct conf.
 * Every error is reported as "FILE:LINE: message" through the callback and
 * parsing goes on, so that `dcgid -t` lists them all.  A struct conf is
 * immutable once loaded; the server holds references to it (conf_ref /
 * conf_unref) so that a reload never pulls it out from under a request.
 */
#ifndef DCGI_CONF_H
#define DCGI_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"

#define CONF_TLS_1_2	0x1
#define CONF_TLS_1_3	0x2

enum conf_logfmt {
	CONF_LOG_COMMON,
	CONF_LOG_COMBINED
};

struct conf_listen {
	char		*addr;		/* NULL: every address (:: and 0.0.0.0) */
	char		*port;		/* numeric, 1..65535 */
	int		 tls;
	const char	*file;		/* where it was set, for messages */
	int		 line;
};

struct conf_mount {
	char		*src;		/* absolute host path */
	char		*dst;		/* absolute container path */
	int		 ro;
	const char	*file;		/* where it was set, for messages */
	int		 line;
};

/*
 * Secret NAME FILE: FILE's content as /run/secrets/NAME in the container.
 * `copy` is the one field of a conf set after loading: where the Docker
 * socket is, dcgi_configure() copies the file (secret.h) before any
 * container of this conf is made; NULL in every other process.
 */
struct conf_secret {
	char		*name;
	char		*src;		/* absolute host path */
	char		*copy;		/* the copy's host path, or NULL */
	const char	*file;		/* where it was set, for messages */
	int		 line;
};

/* What a <Route> and a <Queue> share: how to run one container. */
struct conf_run {
	char		*image;
	char		**command;	/* NULL-terminated argv, NULL: image default */
	char		**env;		/* NULL-terminated "K=V" */
	size_t		 nenv;
	char		*network;	/* "none" (default), "isolated" (routes:
					   a shared namespace, dcgi.c), "host",
					   or a Docker network's name */
	int64_t		 timeout_ms;	/* wall clock per run; default 30s */
	int64_t		 memory;	/* bytes; default 256m */
	double		 cpus;		/* 0: no limit */
	int64_t		 pids;		/* default 128 */
	int		 read_only;	/* default 1 */
	char		*user;		/* NULL: the image's */
	char		*runtime;	/* the engine's runtime name; NULL: its default */
	struct conf_mount *mounts;
	size_t		 nmounts;
	struct conf_secret *secrets;
	size_t		 nsecrets;
};

#define CONF_PREFIX_MAX	1025	/* a route prefix and its NUL */
/*
 * MaxStarting's default: containers in creation and start at once.  The
 * engine's start rate on a 2-CPU machine is best at this parallelism and
 * falls beyond it (bench/engine.sh, bench/README.md).
 */
#define CONF_MAX_STARTING	4

/* Preload: the module names, joined, fit in this (dcgi.c init_argv()). */
#define PRELOAD_NAMES_MAX	2048

struct conf_route {
	char		*prefix;	/* "/vote": matches /vote and /vote/... */
	struct conf_run	 run;
	int		 max_concurrent;	/* default 16 */
	int64_t		 max_body;	/* bytes; -1: the global MaxBody */
	int64_t		 cache_ms;	/* 0: no cache */
	int		 prestart;	/* Prestart MIN; 0: cold path only */
	int		 prestart_max;	/* MAX (MIN when not given): the pool
					   sizes itself in between */
	int64_t		 prestart_max_age_ms;	/* idle longer: replaced */
	int		 preload;	/* Preload python: the interpreter ahead */
	char		**preload_modules;	/* NULL-terminated; may be empty;
					   their lengths + 1 add up to at most
					   PRELOAD_NAMES_MAX */
	struct access	 access;	/* Require, AuthUserFile, AuthName */
	const char	*file;
	int		 line;
};

/* <Location /prefix>: access rules for whatever the prefix names (files,
 * Health, Metrics, routes that set none of their own). */
struct conf_location {
	char		*prefix;	/* matched as a route's prefix is */
	struct access	 access;
	const char	*file;
	int		 line;
};

enum conf_qtype { CONF_Q_STREAM, CONF_Q_LIST };

struct conf_queue {
	char		*name;		/* the Redis stream (or list) */
	struct conf_run	 run;
	enum conf_qtype	 type;		/* Type: default stream */
	char		*group;		/* Group: default "dcgi" (stream) */
	int64_t		 claim_after_ms; /* ClaimAfter: default 60s (stream) */
	int		 concurrency;	/* default 1 */
	int		 retries;	/* default 3 */
	const char	*file;
	int		 line;
};

struct conf {
	int		 refs;
	char		*path;		/* the main file, as given */
	char		*server_root;	/* absolute; relative paths resolve here */

	struct conf_listen *listens;
	size_t		 nlistens;

	char		*document_root;	/* absolute; default "www" */
	char		*mime_types;	/* absolute; default "conf/mime.types" */
	char		*error_log;	/* "stderr", "stdout" or an absolute path */
	char		*access_log;	/* "stdout", "stderr", "off" or a path */
	enum conf_logfmt access_format;	/* default combined */
	char		*server_name;	/* NULL: from Host */
	char		*server_user;	/* User: NULL means "dcgi" */
	int		 privsep;	/* PrivilegeSeparation (default on) */

	char		*tls_cert;	/* absolute or NULL */
	char		*tls_key;
	unsigned	 tls_protocols;	/* CONF_TLS_1_2 | CONF_TLS_1_3 */
	char		**tls_ciphers;	/* NULL-terminated names, NULL: default */
	int		 https_redirect;	/* plain listeners send 301 to https */
	int		 tls_tickets;	/* session tickets offered (default on) */
	int64_t		 hsts_ms;	/* Strict-Transport-Security, 0: off */

	char		*docker_host;	/* NULL: $DOCKER_HOST, then the socket */
	char		*redis;		/* "host:port" or "unix:/path", NULL */
	char		*consumer;	/* Consumer: NULL: host name + an id */
	char		*health;	/* Health PATH, NULL: none */
	char		*metrics;	/* Metrics PATH, NULL: none */
	int		 max_containers;	/* default 64 */
	int		 max_starting;	/* being created and started at once */

	/* Limits and timeouts (all have defaults; see conf.c). */
	int		 max_connections;	/* 1024 */
	int		 max_conns_per_client;	/* 256; 0: no limit */
	int		 max_containers_per_client;	/* 16; 0: no limit */
	size_t		 max_request_line;	/* 8k: 414 beyond */
	size_t		 max_header_size;	/* 16k: 431 beyond */
	int		 max_headers;		/* 100: 431 beyond */
	int64_t		 max_body;		/* 1m: 413 beyond */
	int64_t		 header_timeout_ms;	/* 10s: 408 */
	int64_t		 body_timeout_ms;	/* 30s idle between body reads */
	int64_t		 send_timeout_ms;	/* 30s without progress writing */
	int64_t		 keepalive_timeout_ms;	/* 60s idle between requests */
	int		 keepalive_requests;	/* 1000 per connection */
	int64_t		 grace_ms;		/* 10s to drain on stop */

	struct conf_route *routes;
	size_t		 nroutes;
	struct conf_queue *queues;
	size_t		 nqueues;
	struct conf_location *locations;
	size_t		 nlocations;

	/* Storage owned by the conf for the file names above. */
	char		**files;
	size_t		 nfiles;
};

/* Called once per error with "FILE:LINE: message" (no newline). */
typedef void (*conf_errfn)(void *arg, const char *msg);

/*
 * Parse `path`.  Relative paths in the file (and `path` itself, and
 * Include patterns) resolve against `server_root` (an absolute directory).
 * Returns the conf, or NULL when there was any error (each one passed to
 * errfn).  Returns NULL and reports "out of memory" when allocation fails.
 */
struct conf	*conf_load(const char *path, const char *server_root,
		    conf_errfn errfn, void *arg);
struct conf	*conf_ref(struct conf *);
void		 conf_unref(struct conf *);

/* The longest <Route> prefix that matches a normalised path, or NULL. */
const struct conf_route *conf_route_match(const struct conf *, const char *path);
/*
 * The access rules of the longest <Location> or <Route> prefix with any
 * that matches a normalised path; NULL: none (everyone may).
 */
const struct access *conf_access_match(const struct conf *, const char *path);

/*
 * Units, exposed for the tests.  Durations: "30s", "500ms", "2m", "1h",
 * a bare number is seconds.  Sizes: "512", "64k", "256m", "1g" (binary,
 * case-insensitive), a bare number is bytes.  0 on success, -1 when the text
 * is not such a value or it overflows.
 */
int		 conf_parse_duration(const char *, int64_t *ms);
int		 conf_parse_size(const char *, int64_t *bytes);

#endif
