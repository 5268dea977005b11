/*
 * loop.h: the event loop.  One epoll instance owns every descriptor the
 * server waits on; timers live in a binary heap ordered by deadline.
 * Handlers run to completion and never block.
 */
#ifndef DCGI_LOOP_H
#define DCGI_LOOP_H

#include <stdint.h>

#define LOOP_READ	0x1
#define LOOP_WRITE	0x2
#define LOOP_ERROR	0x4	/* EPOLLERR or EPOLLHUP: the peer is gone */

#include <stddef.h>

struct loop;

/* The object that embeds `ptr` as its `member` (a loop_io or loop_timer). */
#define LOOP_OWNER(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A descriptor watched by the loop.  Embed it; the handler gets it back. */
struct loop_io {
	int		  fd;
	unsigned	  events;	/* LOOP_READ|LOOP_WRITE as registered */
	void		(*fn)(struct loop_io *, unsigned revents);
};

/* A one-shot timer.  Embed it; loop_timer_set() re-arms it. */
struct loop_timer {
	int64_t		  when;		/* loop_now() ms of expiry */
	size_t		  slot;		/* index in the heap + 1; 0: not armed */
	void		(*fn)(struct loop_timer *);
};

struct loop	*loop_new(void);
void		 loop_free(struct loop *);

/*
 * Watch io->fd for `events`.  Edge-triggered when `edge` is set: the
 * handler must then read/write until EAGAIN.  0 or -1 (errno set).
 */
int		 loop_add(struct loop *, struct loop_io *, unsigned events, int edge);
int		 loop_mod(struct loop *, struct loop_io *, unsigned events, int edge);
void		 loop_del(struct loop *, struct loop_io *);

void		 loop_timer_set(struct loop *, struct loop_timer *, int64_t ms);
void		 loop_timer_del(struct loop *, struct loop_timer *);
static inline int loop_timer_armed(const struct loop_timer *t) { return t->slot != 0; }

/* Milliseconds on the monotonic clock, cached once per iteration. */
int64_t		 loop_now(const struct loop *);
/* Wall-clock seconds, cached once per iteration. */
int64_t		 loop_wall(const struct loop *);
/* Microseconds on the monotonic clock, now: for measuring, not timers. */
int64_t		 loop_clock_us(void);

/*
 * Wait once for events (at most until the next timer) and run the handlers
 * and the expired timers.  -1 on a fatal epoll error.
 */
int		 loop_run_once(struct loop *);

/*
 * free(ptr) at the end of this iteration, after every handler has run: an
 * object closed by one handler may still be named by a later event of the
 * same epoll batch.  (On out of memory it is leaked rather than risked.)
 */
void		 loop_defer_free(struct loop *, void *ptr);

/*
 * Work for later: a handler that must not go on in the middle of someone
 * else's call (a sink op, sink.h) posts its task, and the loop runs it
 * after the handlers and timers of this iteration, before it waits again.
 * Embed it.  Posting a task that is already posted does nothing; a task
 * may post others (they run in the same iteration).
 */
struct loop_task {
	struct loop_task *prev, *next;
	int		  posted;
	void		(*fn)(struct loop_task *);
};
void		 loop_post(struct loop *, struct loop_task *);
/* Take a posted task back (its owner is going away). */
void		 loop_unpost(struct loop *, struct loop_task *);

/* Run `fn(arg)` at the end of each iteration (one hook: log flushing). */
void		 loop_set_idle(struct loop *, void (*fn)(void *), void *arg);

#endif
