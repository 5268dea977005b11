/*
 * queue.c: <Queue NAME> consumers on Redis lists, with hiredis's async
 * API driven by the event loop (a small adapter below).
 *
 * Producers RPUSH items onto NAME.  For each queue one connection waits
 * in BLMOVE NAME NAME:processing LEFT RIGHT, so an item is never only in
 * our memory: until its function has exited 0 it stays in
 * NAME:processing, and a dcgid that dies leaves it there, to be moved
 * back onto NAME when dcgid starts again.  A second connection carries
 * the acknowledgements (LREM), the moves to NAME:dead, and that start-up
 * requeue.  When Redis is away, acknowledgements wait in memory and both
 * connections come back with backoff; the outage is logged once.
 *
 * One dcgid consumes a queue (NAME:processing is not per instance).
 *
 * Ownership:
 *   - struct qitem: created by q_fetched(), owned by its worker's list
 *     until q_item_free().  It embeds the struct sink its run reports to
 *     (only end(), with the exit status) and holds the run's source while
 *     it runs.  The sink op only records the status and posts the item's
 *     task; q_done() acts on it from the loop (settles, retries, fetches),
 *     so nothing here runs inside a call from dcgi.c.
 *   - struct qop (an acknowledgement or a move to NAME:dead): owned by
 *     the list of ops waiting for Redis, or by hiredis while it is in
 *     flight (freed in q_op_done()).
 *   - hiredis calls back from the loop only (q_io()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "conf.h"
#include "dcgi.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "sink.h"

#define Q_BLOCK_SECONDS		"1"	/* BLMOVE timeout: then ask again */
#define Q_RECONNECT_MIN_MS	250
#define Q_RECONNECT_MAX_MS	5000
#define Q_RETRY_MIN_MS		1000
#define Q_RETRY_MAX_MS		30000
#define Q_SLOT_WAIT_MS		200	/* MaxContainers full: look again */

struct queues;
struct qworker;

/* One hiredis connection and its registration in the loop. */
struct qredis {
	struct loop_io	  io;
	struct queues	 *qs;
	struct qworker	 *w;		/* NULL: the command connection */
	redisAsyncContext *ac;
	unsigned	  events;
	int		  added;	/* registered in epoll */
	int		  ready;	/* connected */
};

struct qitem {
	struct sink	  sink;		/* the run's end: its exit status */
	struct qworker	 *w;
	struct qitem	 *prev, *next;
	char		 *data;
	size_t		  len;
	char		  id[17];
	int		  attempt;
	struct loop_timer retry;
	struct loop_task  task;		/* q_done(), from the loop */
	struct source	 *job;		/* the run; NULL between attempts */
	int		  status;	/* how the last run ended */
	char		  why[200];
};

/* An acknowledgement or a move to NAME:dead that waits for Redis. */
struct qop {
	struct qop	 *next;
	struct qworker	 *w;
	int		  dead;
	char		 *data;
	size_t		  len;
};

struct qworker {
	struct queues	 *qs;
	const struct conf_queue *q;
	char		 *processing;	/* NAME:processing */
	char		 *deadlist;	/* NAME:dead */
	struct qredis	  blk;		/* the BLMOVE connection */
	int		  fetching;
	int		  running;	/* items taken, not yet acknowledged */
	struct qitem	 *items;
	struct loop_timer wait;		/* MaxContainers full */
};

struct queues {
	struct loop	 *loop;
	struct dcgi	 *dc;
	struct conf	 *conf;
	char		  host[256];	/* or a unix socket path */
	int		  port;		/* 0: unix socket */
	struct qredis	  cmd;
	struct qworker	 *w;
	size_t		  nw;
	struct qop	 *ops, *opstail;
	struct loop_timer reconnect;
	int64_t		  backoff;
	int		  down;		/* an outage has been logged */
	int		  requeued;	/* the start-up requeue was done */
	int		  stopping;
	unsigned long long seq;
};

static void	q_connect(struct queues *, struct qredis *);
static void	q_fetch(struct qworker *);
static void	q_flush_ops(struct queues *);

/* ----- hiredis on our loop ----- */

static void
q_watch(struct qredis *r)
{
	if (r->ac == NULL)
		return;
	r->io.fd = r->ac->c.fd;
	if (!r->added) {
		if (loop_add(r->qs->loop, &r->io, r->events, 0) == 0)
			r->added = 1;
	} else
		(void)loop_mod(r->qs->loop, &r->io, r->events, 0);
}

static void q_add_read(void *pd) { struct qredis *r = pd; r->events |= LOOP_READ; q_watch(r); }
static void q_del_read(void *pd) { struct qredis *r = pd; r->events &= ~LOOP_READ; q_watch(r); }
static void q_add_write(void *pd) { struct qredis *r = pd; r->events |= LOOP_WRITE; q_watch(r); }
static void q_del_write(void *pd) { struct qredis *r = pd; r->events &= ~LOOP_WRITE; q_watch(r); }

static void
q_cleanup(void *pd)
{
	struct qredis *r = pd;

	if (r->added)
		loop_del(r->qs->loop, &r->io);
	r->added = 0;
	r->events = 0;
}

static void
q_io(struct loop_io *io, unsigned revents)
{
	struct qredis *r = (struct qredis *)io;

	if (r->ac != NULL && (revents & (LOOP_READ | LOOP_ERROR)))
		redisAsyncHandleRead(r->ac);
	/* The read may have ended the connection (r->ac is then NULL). */
	if (r->ac != NULL && (revents & LOOP_WRITE))
		redisAsyncHandleWrite(r->ac);
}

/* ----- connections ----- */

static void
q_lost(struct queues *qs, const char *why)
{
	if (qs->stopping)
		return;
	if (!qs->down) {
		log_error("Redis at %s%s%.0d unreachable (%s): queues paused, "
		    "retrying; nothing is lost", qs->host, qs->port ? ":" : "",
		    qs->port, why);
		qs->down = 1;
	}
	if (!qs->stopping && !loop_timer_armed(&qs->reconnect)) {
		loop_timer_set(qs->loop, &qs->reconnect, qs->backoff);
		qs->backoff = qs->backoff * 2 > Q_RECONNECT_MAX_MS ?
		    Q_RECONNECT_MAX_MS : qs->backoff * 2;
	}
}

static void
q_reconnect(struct loop_timer *t)
{
	struct queues *qs = LOOP_OWNER(t, struct queues, reconnect);

	if (qs->cmd.ac == NULL)
		q_connect(qs, &qs->cmd);
	for (size_t i = 0; i < qs->nw; i++)
		if (qs->w[i].blk.ac == NULL)
			q_connect(qs, &qs->w[i].blk);
}

static void
q_disconnected(const redisAsyncContext *ac, int status)
{
	struct qredis *r = ac->data;
	(void)status;

	r->ac = NULL;
	r->ready = 0;
	r->added = 0;
	if (r->w != NULL)
		r->w->fetching = 0;
	q_lost(r->qs, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void	q_requeued(redisAsyncContext *, void *, void *);
static void	q_pinged(redisAsyncContext *, void *, void *);

static void
q_connected(const redisAsyncContext *ac, int status)
{
	struct qredis *r = ac->data;
	struct queues *qs = r->qs;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		r->ac = NULL;
		r->ready = 0;
		r->added = 0;
		q_lost(qs, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
	/* Connected is not yet Redis: a PING says whether it is. */
	if (redisAsyncCommand(r->ac, q_pinged, r, "PING") != REDIS_OK)
		redisAsyncDisconnect(r->ac);
}

static void
q_pinged(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qredis *r = pd;
	struct queues *qs = r->qs;
	redisReply *rp = reply;

	if (rp == NULL)
		return;		/* the disconnect callback says why */
	if ((rp->type != REDIS_REPLY_STATUS && rp->type != REDIS_REPLY_STRING) ||
	    strcmp(rp->str, "PONG") != 0) {
		/* Not Redis, or a Redis that refuses us (NOAUTH...). */
		if (!qs->down)
			log_error("Redis at %s%s%.0d answered PING with %s%.80s: "
			    "queues paused, retrying", qs->host, qs->port ?
			    ":" : "", qs->port, rp->type == REDIS_REPLY_ERROR ?
			    "" : "something else than PONG ", rp->type ==
			    REDIS_REPLY_ERROR ? rp->str : "");
		qs->down = 1;
		redisAsyncDisconnect(ac);
		return;
	}
	r->ready = 1;
	if (qs->down && qs->cmd.ready) {
		int all = 1;
		for (size_t i = 0; i < qs->nw; i++)
			all &= qs->w[i].blk.ready;
		if (all) {
			log_info("Redis at %s%s%.0d is back: queues resume",
			    qs->host, qs->port ? ":" : "", qs->port);
			qs->down = 0;
			qs->backoff = Q_RECONNECT_MIN_MS;
		}
	}
	if (r->w == NULL) {
		/*
		 * Once per start: what a dead dcgid left in processing goes
		 * back to the head of the queue, oldest first.
		 */
		if (!qs->requeued) {
			for (size_t i = 0; i < qs->nw; i++)
				redisAsyncCommand(qs->cmd.ac, q_requeued,
				    &qs->w[i], "EVAL %s 2 %s %s",
				    "local n = 0 while redis.call('LMOVE', "
				    "KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do "
				    "n = n + 1 end return n",
				    qs->w[i].processing, qs->w[i].q->name);
		}
		q_flush_ops(qs);
	} else if (qs->requeued)
		q_fetch(r->w);
}

static void
q_connect(struct queues *qs, struct qredis *r)
{
	redisAsyncContext *ac;

	if (qs->port != 0)
		ac = redisAsyncConnect(qs->host, qs->port);
	else
		ac = redisAsyncConnectUnix(qs->host);
	if (ac == NULL) {
		q_lost(qs, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		q_lost(qs, why);
		return;
	}
	r->ac = ac;
	r->qs = qs;
	r->io.fn = q_io;
	r->events = 0;
	r->added = 0;
	ac->data = r;
	ac->ev.data = r;
	ac->ev.addRead = q_add_read;
	ac->ev.delRead = q_del_read;
	ac->ev.addWrite = q_add_write;
	ac->ev.delWrite = q_del_write;
	ac->ev.cleanup = q_cleanup;
	redisAsyncSetConnectCallback(ac, q_connected);
	redisAsyncSetDisconnectCallback(ac, q_disconnected);
	/* The connect is in flight: wait for the socket to be writable. */
	q_add_write(r);
}

/* ----- acknowledgements ----- */

static void
q_op_done(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qop *op = pd;
	redisReply *rp = reply;
	(void)ac;

	if (rp == NULL) {
		/* Lost with the connection: it goes again when Redis is back. */
		struct queues *qs = op->w->qs;
		op->next = NULL;
		if (qs->opstail)
			qs->opstail->next = op;
		else
			qs->ops = op;
		qs->opstail = op;
		return;
	}
	if (rp->type == REDIS_REPLY_ERROR)
		log_error("queue %s: Redis refused an update: %s", op->w->q->name,
		    rp->str);
	free(op->data);
	free(op);
}

static void
q_send_op(struct queues *qs, struct qop *op)
{
	if (!qs->cmd.ready || qs->cmd.ac == NULL) {
		op->next = NULL;
		if (qs->opstail)
			qs->opstail->next = op;
		else
			qs->ops = op;
		qs->opstail = op;
		return;
	}
	if (op->dead) {
		/* MULTI/EXEC: the item is in exactly one of the two lists. */
		redisAsyncCommand(qs->cmd.ac, NULL, NULL, "MULTI");
		redisAsyncCommand(qs->cmd.ac, NULL, NULL, "LREM %s 1 %b",
		    op->w->processing, op->data, op->len);
		redisAsyncCommand(qs->cmd.ac, NULL, NULL, "RPUSH %s %b",
		    op->w->deadlist, op->data, op->len);
		redisAsyncCommand(qs->cmd.ac, q_op_done, op, "EXEC");
	} else
		redisAsyncCommand(qs->cmd.ac, q_op_done, op, "LREM %s 1 %b",
		    op->w->processing, op->data, op->len);
}

static void
q_flush_ops(struct queues *qs)
{
	struct qop *op = qs->ops, *next;

	qs->ops = qs->opstail = NULL;
	for (; op != NULL; op = next) {
		next = op->next;
		q_send_op(qs, op);
	}
}

static void
q_item_free(struct qitem *it)
{
	struct qworker *w = it->w;

	loop_timer_del(w->qs->loop, &it->retry);
	loop_unpost(w->qs->loop, &it->task);
	if (it->prev)
		it->prev->next = it->next;
	else
		w->items = it->next;
	if (it->next)
		it->next->prev = it->prev;
	w->running--;
	free(it->data);
	free(it);
}

/* Settle an item: remove it from processing, into NAME:dead if `dead`. */
static void
q_settle(struct qitem *it, int dead)
{
	struct qworker *w = it->w;
	struct qop *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		/* It stays in processing; the next start requeues it. */
		log_error("queue %s: out of memory; item %s stays in %s",
		    w->q->name, it->id, w->processing);
	} else {
		op->w = w;
		op->dead = dead;
		op->data = it->data;
		op->len = it->len;
		it->data = NULL;
		q_send_op(w->qs, op);
	}
	q_item_free(it);
	q_fetch(w);
}

/* ----- running items ----- */

static void	q_run(struct qitem *);

/* The run's end (a sink op, sink.h): noted here, acted on in q_done(). */
static void
q_run_end(struct sink *s, const struct sink_result *res)
{
	struct qitem *it = (struct qitem *)s;

	it->job = NULL;
	it->status = res->kind == SINK_EXITED ? res->status : -1;
	if (it->status == -1 || res->kind != SINK_EXITED)
		snprintf(it->why, sizeof(it->why), "%s", res->why ? res->why :
		    "the container could not run");
	else
		snprintf(it->why, sizeof(it->why), "exit status %d",
		    it->status);
	loop_post(it->w->qs->loop, &it->task);
}

static const struct sink_ops q_run_ops = { NULL, NULL, q_run_end, NULL };

static void
q_done(struct loop_task *t)
{
	struct qitem *it = LOOP_OWNER(t, struct qitem, task);
	struct qworker *w = it->w;
	const char *reason = it->why;
	int status = it->status;
	int64_t delay;

	if (status == 0) {
		log_msg(LOG_LV_INFO, it->id, "queue %s: item done (attempt %d)",
		    w->q->name, it->attempt);
		q_settle(it, 0);
		return;
	}
	if (it->attempt > w->q->retries) {
		log_msg(LOG_LV_ERROR, it->id, "queue %s: item failed %d time%s "
		    "(last: %s): moved to %s", w->q->name, it->attempt,
		    it->attempt == 1 ? "" : "s", reason, w->deadlist);
		q_settle(it, 1);
		return;
	}
	delay = Q_RETRY_MIN_MS << (it->attempt - 1 < 5 ? it->attempt - 1 : 5);
	if (delay > Q_RETRY_MAX_MS)
		delay = Q_RETRY_MAX_MS;
	log_msg(LOG_LV_WARN, it->id, "queue %s: attempt %d failed (%s); "
	    "again in %llds", w->q->name, it->attempt, reason,
	    (long long)delay / 1000);
	if (w->qs->stopping) {
		/* Left in processing: the next start takes it up again. */
		q_item_free(it);
		return;
	}
	loop_timer_set(w->qs->loop, &it->retry, delay);
}

static void
q_retry(struct loop_timer *t)
{
	struct qitem *it = LOOP_OWNER(t, struct qitem, retry);

	q_run(it);
}

static void
q_run(struct qitem *it)
{
	struct queues *qs = it->w->qs;

	if (qs->stopping) {
		q_item_free(it);	/* stays in processing for the next start */
		return;
	}

	if (!dcgi_can_run(qs->dc, qs->conf)) {
		loop_timer_set(qs->loop, &it->retry, Q_SLOT_WAIT_MS);
		return;
	}
	it->attempt++;
	it->job = dcgi_run_item(qs->dc, qs->conf, it->w->q, it->data, it->len,
	    it->id, it->attempt, &it->sink);
	if (it->job == NULL) {
		it->attempt--;
		loop_timer_set(qs->loop, &it->retry, Q_RETRY_MIN_MS);
	}
}

static void
q_fetched(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	struct qitem *it;
	(void)ac;

	w->fetching = 0;
	if (rp == NULL)
		return;		/* the connection went; it fetches again */
	if (rp->type == REDIS_REPLY_ERROR) {
		log_error("queue %s: BLMOVE: %s (Redis 6.2 or later is needed)",
		    w->q->name, rp->str);
		loop_timer_set(w->qs->loop, &w->wait, Q_RECONNECT_MAX_MS);
		return;
	}
	if (rp->type == REDIS_REPLY_STRING && w->qs->stopping) {
		/* Moved just as we stop: it waits in processing for the next
		 * start (an item taken now could never run). */
		log_info("queue %s: an item came as dcgid stops; it stays in %s "
		    "for the next start", w->q->name, w->processing);
		return;
	}
	if (rp->type == REDIS_REPLY_STRING) {
		if ((it = calloc(1, sizeof(*it))) == NULL ||
		    (it->data = malloc(rp->len + 1)) == NULL) {
			free(it);
			log_error("queue %s: out of memory; the item stays in %s",
			    w->q->name, w->processing);
			return;
		}
		memcpy(it->data, rp->str, rp->len);
		it->data[rp->len] = '\0';
		it->len = rp->len;
		it->w = w;
		it->sink.ops = &q_run_ops;
		it->retry.fn = q_retry;
		it->task.fn = q_done;
		snprintf(it->id, sizeof(it->id), "%016llx", ++w->qs->seq);
		it->next = w->items;
		if (w->items)
			w->items->prev = it;
		w->items = it;
		w->running++;
		q_run(it);
	}
	q_fetch(w);	/* a nil reply (the timeout): ask again */
}

static void
q_fetch(struct qworker *w)
{
	struct queues *qs = w->qs;

	if (qs->stopping || w->fetching || !w->blk.ready || w->blk.ac == NULL ||
	    w->running >= w->q->concurrency)
		return;
	if (!dcgi_can_run(qs->dc, qs->conf)) {
		if (!loop_timer_armed(&w->wait))
			loop_timer_set(qs->loop, &w->wait, Q_SLOT_WAIT_MS);
		return;
	}
	w->fetching = 1;
	redisAsyncCommand(w->blk.ac, q_fetched, w, "BLMOVE %s %s LEFT RIGHT "
	    Q_BLOCK_SECONDS, w->q->name, w->processing);
}

static void
q_wait_over(struct loop_timer *t)
{
	struct qworker *w = LOOP_OWNER(t, struct qworker, wait);

	q_fetch(w);
}

static void
q_requeued(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	struct queues *qs = w->qs;
	redisReply *rp = reply;
	(void)ac;

	if (rp == NULL)
		return;		/* done again after the reconnect */
	if (rp->type == REDIS_REPLY_INTEGER && rp->integer > 0)
		log_info("queue %s: %lld item%s left in %s by an earlier dcgid "
		    "put back", w->q->name, rp->integer,
		    rp->integer == 1 ? "" : "s", w->processing);
	else if (rp->type == REDIS_REPLY_ERROR)
		log_error("queue %s: requeue from %s: %s", w->q->name,
		    w->processing, rp->str);
	if (w == &qs->w[qs->nw - 1]) {
		qs->requeued = 1;
		for (size_t i = 0; i < qs->nw; i++)
			q_fetch(&qs->w[i]);
	}
}

/* ----- life ----- */

struct queues *
queues_new(struct loop *loop, struct dcgi *dc, struct conf *conf)
{
	struct queues *qs;
	const char *colon;

	if (conf->nqueues == 0 || conf->redis == NULL)
		return NULL;
	if ((qs = calloc(1, sizeof(*qs))) == NULL ||
	    (qs->w = calloc(conf->nqueues, sizeof(*qs->w))) == NULL) {
		free(qs);
		log_error("queues: out of memory; no queue is consumed");
		return NULL;
	}
	qs->loop = loop;
	qs->dc = dc;
	qs->conf = conf_ref(conf);
	qs->nw = conf->nqueues;
	qs->backoff = Q_RECONNECT_MIN_MS;
	qs->reconnect.fn = q_reconnect;
	if (strncmp(conf->redis, "unix:", 5) == 0)
		snprintf(qs->host, sizeof(qs->host), "%s", conf->redis + 5);
	else if ((colon = strrchr(conf->redis, ':')) != NULL) {
		snprintf(qs->host, sizeof(qs->host), "%.*s",
		    (int)(colon - conf->redis), conf->redis);
		qs->port = (int)strtol(colon + 1, NULL, 10);
	} else {
		snprintf(qs->host, sizeof(qs->host), "%s", conf->redis);
		qs->port = 6379;
	}
	qs->cmd.qs = qs;
	for (size_t i = 0; i < qs->nw; i++) {
		struct qworker *w = &qs->w[i];

		w->qs = qs;
		w->q = &conf->queues[i];
		w->blk.qs = qs;
		w->blk.w = w;
		w->wait.fn = q_wait_over;
		if (asprintf(&w->processing, "%s:processing", w->q->name) == -1 ||
		    asprintf(&w->deadlist, "%s:dead", w->q->name) == -1) {
			log_error("queues: out of memory; no queue is consumed");
			queues_free(qs);
			return NULL;
		}
	}
	q_connect(qs, &qs->cmd);
	for (size_t i = 0; i < qs->nw; i++)
		q_connect(qs, &qs->w[i].blk);
	log_info("consuming %zu queue%s from Redis at %s", qs->nw,
	    qs->nw == 1 ? "" : "s", conf->redis);
	return qs;
}

void
queues_stop(struct queues *qs)
{
	if (qs == NULL)
		return;
	qs->stopping = 1;
	loop_timer_del(qs->loop, &qs->reconnect);
	/* A BLMOVE in flight may still bring an item: it runs, or stays
	 * in processing for the next start. */
	for (size_t i = 0; i < qs->nw; i++) {
		struct qitem *it, *next;

		loop_timer_del(qs->loop, &qs->w[i].wait);
		/* Items waiting for a retry stay in processing. */
		for (it = qs->w[i].items; it != NULL; it = next) {
			next = it->next;
			if (it->job == NULL && !it->task.posted)
				q_item_free(it);
		}
	}
}

int
queues_busy(const struct queues *qs)
{
	if (qs == NULL)
		return 0;
	for (size_t i = 0; i < qs->nw; i++)
		if (qs->w[i].running > 0)
			return 1;
	/* Acknowledgements still to write, while Redis is there to take them. */
	return qs->ops != NULL && qs->cmd.ready;
}

void
queues_free(struct queues *qs)
{
	if (qs == NULL)
		return;
	qs->stopping = 1;
	loop_timer_del(qs->loop, &qs->reconnect);
	for (size_t i = 0; i < qs->nw; i++) {
		struct qworker *w = &qs->w[i];

		loop_timer_del(qs->loop, &w->wait);
		while (w->items != NULL) {
			struct source *job = w->items->job;

			/* Left in processing: the next start takes it up. */
			w->items->job = NULL;
			if (job != NULL)
				source_cancel(job);
			q_item_free(w->items);
		}
		if (w->blk.ac != NULL)
			redisAsyncFree(w->blk.ac);
		free(w->processing);
		free(w->deadlist);
	}
	if (qs->cmd.ac != NULL)
		redisAsyncFree(qs->cmd.ac);
	while (qs->ops != NULL) {
		struct qop *op = qs->ops;
		qs->ops = op->next;
		free(op->data);
		free(op);
	}
	conf_unref(qs->conf);
	free(qs->w);
	free(qs);
}
