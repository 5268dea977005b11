/*
 * chan.h: the channel between the engine process and a server process
 * (privilege separation, docs/privsep.md), and its messages.
 *
 * A channel is one end of a SOCK_SEQPACKET socketpair: each message is
 * one packet, a struct chan_hdr and its payload, with at most one file
 * descriptor passed beside it (SCM_RIGHTS).  OpenBSD's imsg is the model:
 * typed messages, a length that must match the packet, fd passing; no
 * message is ever split or merged, so a reader never reassembles.
 *
 * Ownership: a struct chan is owned by whoever chan_new() returned it to,
 * until chan_free(), which may be called from inside its own callback
 * (the channel is then marked dead and freed after the loop iteration).
 * The callback comes only from the loop.  chan_send() never calls back.
 * A descriptor passed to chan_send() belongs to the channel from then on
 * (closed once sent, or when the channel goes); one received belongs to
 * the callback.
 */
#ifndef DCGI_CHAN_H
#define DCGI_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct chan;

#define CHAN_VERSION	4
#define CHAN_MAX	(1536 * 1024)	/* payload bytes in one message */

/*
 * The messages.  S: a server process, E: the engine.  `id` names the
 * request a message is about (the server's numbering).  Payloads are
 * built from u32 and u64 (host order: both ends are the same binary on
 * the same host) and str (u32 length, then the bytes).
 */
enum chan_type {
	CHAN_HELLO = 1,	/* S->E: u32 version, u32 pid; the server is ready */
	CHAN_RUN,	/* S->E: str route prefix, str request id, str client,
			   u32 n, then n str: the CGI environment */
	CHAN_GRANT,	/* E->S, with the attach stream's descriptor: str
			   container id, u32 prestart (0, 1 hit, 2 miss),
			   u32 framed (1: dcgi-init's frames on the
			   stream), u32 microseconds queued, created, attached,
			   started; str bytes to write to stdin first */
	CHAN_REFUSE,	/* E->S: u32 HTTP status, str extra header lines */
	CHAN_RELEASE,	/* S->E: done with the container (or the request
			   went before it was granted): remove it */
	CHAN_END,	/* E->S: the engine ended the run (u32 status: 504
			   Timeout, 503 stopping); the stream is dead */
	CHAN_DRAINING,	/* S->E: a reload replaced it; it accepts no more */
	CHAN_HEALTH,	/* E->S: u32 DCGI_DOWN_* (dcgi.h), at HELLO and
			   whenever it changes */
	CHAN_METRICS,	/* E->S: the engine's counts (metrics_snapshot()),
			   at HELLO and every METRICS_MS, for Metrics */
	CHAN_EOF = 1000	/* not a message: the other end has gone */
};

struct chan_hdr {
	uint32_t	type;
	uint32_t	id;
	uint32_t	len;		/* of the payload that follows */
	uint32_t	flags;		/* 0 */
};

/*
 * One received message: `fd` is -1 or the callee's.  `fd_lost`: one was
 * sent but could not be received (the receiver is at RLIMIT_NOFILE).
 */
struct chan_msg {
	uint32_t	 type;
	uint32_t	 id;
	const char	*data;
	size_t		 len;
	int		 fd;
	int		 fd_lost;
};

typedef void	(*chan_cb)(void *arg, struct chan_msg *);

/* `fd` is taken (closed by chan_free).  NULL when out of memory. */
struct chan	*chan_new(struct loop *, int fd, chan_cb, void *arg);
void		 chan_free(struct chan *);
/*
 * Send a message (queued when the socket is full).  `fd` -1 or a
 * descriptor that is the channel's from now on.  -1 when it is too large,
 * the channel is dead, or out of memory (`fd` is closed then too).
 */
int		 chan_send(struct chan *, uint32_t type, uint32_t id,
		    const void *data, size_t len, int fd);
/* Messages waiting to be sent. */
size_t		 chan_queued(const struct chan *);

/* Building a payload: errors stick, check `err` once at the end. */
struct chan_buf {
	char		*p;
	size_t		 len, cap;
	int		 err;
};
void		 chan_put_u32(struct chan_buf *, uint32_t);
void		 chan_put_u64(struct chan_buf *, uint64_t);
void		 chan_put_str(struct chan_buf *, const char *, size_t);
void		 chan_put_cstr(struct chan_buf *, const char *);
void		 chan_buf_free(struct chan_buf *);

/* Reading one: every get checks the bounds; `err` sticks. */
struct chan_rd {
	const char	*p;
	size_t		 left;
	int		 err;
};
uint32_t	 chan_get_u32(struct chan_rd *);
uint64_t	 chan_get_u64(struct chan_rd *);
/* The string's bytes (not NUL-terminated) and length; NULL on error. */
const char	*chan_get_str(struct chan_rd *, size_t *len);
/* Into buf as a C string: -1 when it does not fit or has a NUL. */
int		 chan_get_cstr(struct chan_rd *, char *buf, size_t len);

/* A CHAN_RUN's payload, checked: what the engine takes from a server. */
struct chan_run {
	char		 prefix[1024];
	char		 reqid[64];
	char		 client[128];
	char		**env;		/* NAME=value strings, one allocation */
};
/*
 * At most this many variables in a CHAN_RUN: the CGI ones and one per
 * request header (HTTP_MAX_HEADERS, 256); the route's Env is the engine's.
 */
#define CHAN_MAX_ENV	320
/* 0 (free run->env), -1 when it is malformed, -2 out of memory. */
int		 chan_parse_run(const char *data, size_t len, struct chan_run *);

#endif
