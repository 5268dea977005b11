/*
 * loop.c: epoll and a timer heap.  This is the only place that waits.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAXEVENTS	256
#define LOOP_MAXTASKS	4096	/* per iteration: then epoll gets a turn */

static void	loop_collect(struct loop *);

struct loop {
	int		   epfd;
	int64_t		   now;		/* monotonic ms */
	int64_t		   wall;	/* realtime s */
	struct loop_timer **heap;
	size_t		   nheap;
	size_t		   heapcap;
	void		 (*idle)(void *);
	void		  *idlearg;
	struct loop_task  *thead, *ttail;	/* posted, oldest first */
	void		 **garbage;	/* loop_defer_free() */
	size_t		   ngarbage, garbagecap;
};

static void
loop_update_time(struct loop *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	l->now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	l->wall = ts.tv_sec;
}

struct loop *
loop_new(void)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(l);
		return NULL;
	}
	loop_update_time(l);
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	loop_collect(l);
	free(l->garbage);
	free(l->heap);
	free(l);
}

static uint32_t
loop_epoll_events(unsigned events, int edge)
{
	uint32_t ev = 0;

	if (events & LOOP_READ)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (events & LOOP_WRITE)
		ev |= EPOLLOUT;
	if (edge)
		ev |= EPOLLET;
	return ev;
}

int
loop_add(struct loop *l, struct loop_io *io, unsigned events, int edge)
{
	struct epoll_event ev = { 0 };

	ev.events = loop_epoll_events(events, edge);
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	return 0;
}

int
loop_mod(struct loop *l, struct loop_io *io, unsigned events, int edge)
{
	struct epoll_event ev = { 0 };

	ev.events = loop_epoll_events(events, edge);
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) == -1)
		return -1;
	io->events = events;
	return 0;
}

void
loop_del(struct loop *l, struct loop_io *io)
{
	/* Harmless when the fd was never added; close() would drop it too. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->events = 0;
}

/* The heap keeps the earliest deadline at heap[0]; slot is index + 1. */
static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a + 1;
	l->heap[b]->slot = b + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

void
loop_timer_del(struct loop *l, struct loop_timer *t)
{
	size_t i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->slot = i + 1;
	heap_up(l, i);
	heap_down(l, l->heap[i]->slot - 1);
}

/*
 * Arm (or re-arm) t to fire `ms` from now.  Growing the heap can fail;
 * then the timer fires on the next iteration instead, which every user
 * treats as "timed out": degraded, but never a hang.
 */
void
loop_timer_set(struct loop *l, struct loop_timer *t, int64_t ms)
{
	loop_timer_del(l, t);
	t->when = l->now + (ms < 0 ? 0 : ms);
	if (l->nheap == l->heapcap) {
		size_t ncap = l->heapcap ? l->heapcap * 2 : 64;
		struct loop_timer **h = realloc(l->heap, ncap * sizeof(*h));
		if (h == NULL) {
			if (l->nheap == 0)
				return;
			/* Fire soon: steal the earliest slot's urgency. */
			t->when = l->heap[0]->when;
			return;
		}
		l->heap = h;
		l->heapcap = ncap;
	}
	l->heap[l->nheap] = t;
	t->slot = ++l->nheap;
	heap_up(l, l->nheap - 1);
}

int64_t
loop_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
loop_now(const struct loop *l)
{
	return l->now;
}

int64_t
loop_wall(const struct loop *l)
{
	return l->wall;
}

void
loop_defer_free(struct loop *l, void *ptr)
{
	if (l->ngarbage == l->garbagecap) {
		size_t nc = l->garbagecap ? l->garbagecap * 2 : 64;
		void **g = realloc(l->garbage, nc * sizeof(*g));
		if (g == NULL)
			return;
		l->garbage = g;
		l->garbagecap = nc;
	}
	l->garbage[l->ngarbage++] = ptr;
}

static void
loop_collect(struct loop *l)
{
	for (size_t i = 0; i < l->ngarbage; i++)
		free(l->garbage[i]);
	l->ngarbage = 0;
}

void
loop_post(struct loop *l, struct loop_task *t)
{
	if (t->posted)
		return;
	t->posted = 1;
	t->next = NULL;
	t->prev = l->ttail;
	if (l->ttail != NULL)
		l->ttail->next = t;
	else
		l->thead = t;
	l->ttail = t;
}

void
loop_unpost(struct loop *l, struct loop_task *t)
{
	if (!t->posted)
		return;
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		l->thead = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	else
		l->ttail = t->prev;
	t->prev = t->next = NULL;
	t->posted = 0;
}

/* Run what was posted, and what that posts, up to a bound. */
static void
loop_run_tasks(struct loop *l)
{
	for (int n = 0; l->thead != NULL && n < LOOP_MAXTASKS; n++) {
		struct loop_task *t = l->thead;

		loop_unpost(l, t);
		t->fn(t);
	}
}

void
loop_set_idle(struct loop *l, void (*fn)(void *), void *arg)
{
	l->idle = fn;
	l->idlearg = arg;
}

int
loop_run_once(struct loop *l)
{
	struct epoll_event evs[LOOP_MAXEVENTS];
	int i, n, timeout = -1;

	if (l->thead != NULL)
		timeout = 0;		/* left over from the last iteration */
	else if (l->nheap > 0) {
		int64_t d = l->heap[0]->when - l->now;
		timeout = d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
	}
	n = epoll_wait(l->epfd, evs, LOOP_MAXEVENTS, timeout);
	if (n == -1 && errno != EINTR)
		return -1;
	loop_update_time(l);
	for (i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;
		unsigned rev = 0;

		if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
			rev |= LOOP_READ;
		if (evs[i].events & EPOLLOUT)
			rev |= LOOP_WRITE;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			rev |= LOOP_ERROR | LOOP_READ;
		io->fn(io, rev);
	}
	while (l->nheap > 0 && l->heap[0]->when <= l->now) {
		struct loop_timer *t = l->heap[0];
		loop_timer_del(l, t);
		t->fn(t);
	}
	loop_run_tasks(l);
	if (l->idle != NULL)
		l->idle(l->idlearg);
	loop_collect(l);
	return 0;
}
