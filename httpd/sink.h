/*
 * sink.h: the one interface between what produces a response over time
 * (a container job, dcgi.c; a cache fill that waiters share, cache.c)
 * and what consumes it (an HTTP response, server.c; a queue run,
 * queue.c; the cache fill, which is both; a server process's run in the
 * engine process, engine.c, which takes the stream itself: attached()).
 *
 * The consumer owns a struct sink (it embeds it) and hands it to a
 * producer, which returns a struct source (the producer owns it).  Then:
 *
 *   producer -> consumer   sink->ops->head() at most once, body() any
 *                          number of times after it, and end() exactly
 *                          once, unless the consumer cancelled first;
 *                          or attached() once instead of head() and
 *                          body() (end() still follows).
 *   consumer -> producer   source->ops->cancel(): the consumer goes away;
 *                          from its return on the producer never names the
 *                          sink again (and end() is not called).
 *                          source->ops->resume(): the consumer has room
 *                          again after body() said it holds too much.
 *
 * After end() or cancel() neither side names the other again.
 *
 * The rule that keeps both sides safe: a sink op only records what it is
 * told and schedules its own work (loop_post): it never calls into the
 * producer, never frees what the producer holds, and never closes its
 * connection from inside the call.  cancel() and resume() are called
 * from the loop (an event or a posted task of the consumer), never from
 * inside a sink op.  So no call ever comes back into a caller further up
 * the stack, and every object outlives the calls made on it.
 */
#ifndef DCGI_SINK_H
#define DCGI_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sink_end {
	SINK_DONE,	/* the body is complete */
	SINK_ERROR,	/* nothing was sent: answer `status` */
	SINK_CUT,	/* the response started and cannot be completed */
	SINK_REDIRECT,	/* RFC 3875 §6.2.2: answer a GET of `location` */
	SINK_RETRY,	/* not answered (a shared fill failed): start over */
	SINK_EXITED	/* a run without a response: its exit `status` */
};

struct sink_result {
	enum sink_end	 kind;
	int		 status;	/* HTTP status (SINK_ERROR); exit status
					   (SINK_EXITED), -1: it could not run */
	const char	*headers;	/* SINK_ERROR: extra lines, CRLF each */
	const char	*location;	/* SINK_REDIRECT */
	const char	*why;		/* SINK_EXITED with -1: for the log */
};

/* What a producer that hands its stream over tells (attached()). */
struct sink_attach {
	const char	*cid;		/* the container */
	int		 prestart;	/* 0, 1 a prestarted one, 2 none ready */
	int		 framed;	/* it runs dcgi-init (frames, END) */
	int64_t		 queued_us, create_us, attach_us, start_us;
	const char	*pre;		/* to write to its stdin first */
	size_t		 prelen;
};

struct sink;
struct sink_ops {
	/*
	 * The response begins: `hdrs` are complete lines (CRLF each),
	 * `length` -1 when unknown.  0, or -1 when the consumer can take
	 * nothing (end() is still owed).  NULL: the consumer wants no output.
	 */
	int	(*head)(struct sink *, int status, const char *hdrs,
		    size_t hlen, int64_t length);
	/*
	 * Body bytes (copied).  Returns the bytes the consumer holds unsent:
	 * above a producer's limit it stops reading until resume(); -1 when
	 * the consumer has gone (end() is still owed).
	 */
	ssize_t	(*body)(struct sink *, const char *, size_t);
	void	(*end)(struct sink *, const struct sink_result *);
	/*
	 * Instead of head() and body(): the attach stream itself, `fd`, is
	 * the consumer's from now on (the engine process hands it to a
	 * server process).  0, or -1 when it could not take it (end() is
	 * still owed).  NULL for consumers that never ask for it.
	 */
	int	(*attached)(struct sink *, int fd, const struct sink_attach *);
};

struct sink {
	const struct sink_ops *ops;
};

struct source;
struct source_ops {
	void	(*cancel)(struct source *);
	void	(*resume)(struct source *);
};

struct source {
	const struct source_ops *ops;
};

/* The calls, for readability at the call sites. */
static inline int
sink_head(struct sink *s, int status, const char *h, size_t hl, int64_t len)
{
	return s->ops->head != NULL ? s->ops->head(s, status, h, hl, len) : 0;
}

static inline ssize_t
sink_body(struct sink *s, const char *p, size_t n)
{
	return s->ops->body != NULL ? s->ops->body(s, p, n) : 0;
}

static inline void
sink_end(struct sink *s, const struct sink_result *r)
{
	s->ops->end(s, r);
}

static inline void
source_cancel(struct source *src)
{
	src->ops->cancel(src);
}

static inline void
source_resume(struct source *src)
{
	if (src->ops->resume != NULL)
		src->ops->resume(src);
}

#endif
