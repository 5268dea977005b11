/*
 * docker.h: a client for the Docker Engine API, driven by the event loop.
 *
 * API calls go through libcurl's multi-socket interface; the attach
 * stream is a libcurl CONNECT_ONLY connection that carries an
 * "Upgrade: tcp" request and then raw bytes.  Nothing here blocks.
 */
#ifndef DCGI_DOCKER_H
#define DCGI_DOCKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct loop;
struct docker;
struct docker_call;
struct docker_attach;

/*
 * `host`: "unix:///path" or "tcp://host:port"; NULL: $DOCKER_HOST, then
 * unix:///var/run/docker.sock.  NULL with err set when it is malformed.
 */
struct docker	*docker_new(struct loop *, const char *host, char *err,
		    size_t errlen);
void		 docker_free(struct docker *);
/* Calls in flight (a stopping server waits for them). */
size_t		 docker_pending(const struct docker *);
/* Name each call still in flight in the log. */
void		 docker_log_pending(const struct docker *);
const char	*docker_host(const struct docker *);
/*
 * Health: GET /_ping every `ms` (0: stop), each with 3/4 of it to answer.
 * docker_up() is 0 while the last ping had no 200 answer; 1 before the
 * first answer and while not pinging.
 */
void		 docker_ping(struct docker *, int64_t ms);
int		 docker_up(const struct docker *);

/*
 * The result of a call: `status` is the HTTP status, or 0 when the engine
 * could not be reached or did not answer (then `err` says why).  `body`
 * is the parsed JSON answer or NULL; it is freed after the callback.
 */
typedef void	(*docker_cb)(void *arg, int status, json_t *body,
		    const char *err);

/*
 * Start an API call: `path` without the version prefix ("/containers/
 * create"), `body` JSON or NULL (not stolen).  `fn` may be NULL: fire and
 * forget.  NULL when out of memory.
 */
struct docker_call *docker_call(struct docker *, const char *method,
		    const char *path, json_t *body, docker_cb fn, void *arg);
/* The callback will not be called; the call itself runs to its end. */
void		 docker_call_forget(struct docker_call *);
/* Someone else takes the answer (the owner is going away). */
void		 docker_call_rebind(struct docker_call *, docker_cb, void *arg);

/* Events on an attach stream. */
enum docker_event {
	DOCKER_ATTACHED,	/* the upgrade was accepted: start the container */
	DOCKER_STDOUT,
	DOCKER_STDERR,
	DOCKER_WRITABLE,	/* stdin can take more after a short write */
	DOCKER_EOF,		/* the stream has ended: the process is gone */
	DOCKER_FAILED		/* data: a message for the log */
};
/* Return nonzero when the attach was freed inside the callback. */
typedef int	(*docker_attach_cb)(void *arg, enum docker_event,
		    const char *data, size_t len);

struct docker_attach *docker_attach(struct docker *, const char *id,
		    docker_attach_cb, void *arg);
/*
 * A stream made elsewhere (the engine process passed its descriptor):
 * the same events from DOCKER_STDOUT on.  `fd` is taken.
 */
struct docker_attach *docker_attach_fd(struct loop *, int fd,
		    docker_attach_cb, void *arg);
/*
 * Let the stream go: its socket (a descriptor that is the caller's) for
 * another process to read, after the attach is freed.  Only at a frame
 * boundary with nothing read yet (pause it at DOCKER_ATTACHED); -1 when
 * it cannot go.
 */
int		 docker_attach_release(struct docker_attach *);
/* Open, and nothing (no output, no EOF) waiting to be read. */
int		 docker_attach_idle(const struct docker_attach *);
/* Someone else gets the events from now on (a prestarted container is
 * handed to its request). */
void		 docker_attach_rebind(struct docker_attach *, docker_attach_cb,
		    void *arg);
/* Write to stdin: bytes taken (0: full, DOCKER_WRITABLE follows), -1. */
ssize_t		 docker_attach_write(struct docker_attach *, const void *,
		    size_t);
/* End of stdin: half-close the stream, so the process reads EOF. */
void		 docker_attach_close_stdin(struct docker_attach *);
/* Stop (1) or resume (0) reading output: backpressure from the client. */
void		 docker_attach_pause(struct docker_attach *, int);
void		 docker_attach_free(struct docker_attach *);

/*
 * The head of the engine's answer to the attach request in buf[0..len):
 * 1 with its length and status when it is complete, 0 when more is
 * needed, -1 when it is no HTTP/1.x answer.
 */
int		 docker_upgrade_head(const char *buf, size_t len, size_t *hlen,
		    int *status);

/* The 8-byte frame headers of a non-TTY attach stream, parsed
 * incrementally: frames may be split anywhere across reads. */
struct docker_demux {
	unsigned char	 hdr[8];
	size_t		 hlen;
	uint32_t	 left;		/* payload bytes left in this frame */
	int		 stream;	/* 0 stdin, 1 stdout, 2 stderr */
};
/*
 * Feed bytes; `fn` gets each piece of payload with its stream and returns
 * nonzero to stop (the caller is gone).  Returns 0, 1 when stopped, or -1
 * on a malformed frame header.
 */
int		 docker_demux_feed(struct docker_demux *, const char *buf,
		    size_t len, int (*fn)(void *, int, const char *, size_t),
		    void *arg);

#endif
