/*
 * queue.c: <Queue NAME> consumers on Redis, with hiredis's async API
 * driven by the event loop (a small adapter below).
 *
 * Type stream (the default): producers XADD entries to the stream NAME;
 * the entry's field `item`, or its only field, is the item.  Every dcgid
 * is one consumer (Consumer, or host name plus an id stable across
 * restarts) of the group Group (XGROUP CREATE ... MKSTREAM at start).
 * One connection per queue waits in XREADGROUP ... BLOCK; an entry read
 * is pending on this consumer in Redis until its function exited 0, then
 * XACK and XDEL (one MULTI).  While held, its idle time is reset every
 * ClaimAfter/3 (XCLAIM ... JUSTID, only while still ours); an entry idle
 * longer than ClaimAfter (its consumer died or stalled) is taken over
 * with XAUTOCLAIM by any node with room (2 x Concurrency held at most),
 * which looks every second or so, except in the first ClaimAfter/3 + 5 s
 * after its own Redis connection came back (after an outage everything
 * looks idle: each node renews its own first, at once).  An entry the
 * renewal finds taken over is dropped here unless it runs.  At start a
 * node first takes back what is still pending on its own name; at a stop
 * it releases what it holds and will not run (idle ClaimAfter, its runs
 * as its deliveries).  An entry delivered more than Retries + 1 times, or
 * whose run failed as often, goes to the stream NAME:dead with the
 * reason, written before the XACK (a script), so that a dead letter that
 * cannot be written leaves the entry pending.  Delivery is at least
 * once: an entry runs again when its node died after the run but before
 * the XACK.
 *
 * Type list: producers RPUSH items onto NAME.  One connection per queue
 * waits in BLMOVE NAME NAME:processing LEFT RIGHT; an item stays in
 * NAME:processing until its function has exited 0 (LREM), and a dcgid
 * that dies leaves it there, to be moved back onto NAME when dcgid starts
 * again.  One dcgid consumes a list (NAME:processing is not per node).
 *
 * Both: a second connection carries the acknowledgements, the moves to
 * NAME:dead, the claims and the start-up work.  When Redis is away,
 * acknowledgements wait in memory and both connections come back with
 * backoff; the outage is logged once.  A failed run is retried here with
 * backoff, the item held all the while.
 *
 * Metrics (metrics.h): items done, retried and moved to NAME:dead, and
 * Redis's errors and outages, are counted as they happen; the gauges
 * (items held and running, the queue's length) are given by
 * queues_metrics(), which also asks Redis for the length (XLEN or LLEN)
 * for the next time: once a second while Metrics is set (main.c).
 *
 * Ownership:
 *   - struct qitem: created by q_item_new(), owned by its worker's list
 *     until q_item_free().  It embeds the struct sink its run reports to
 *     (only end(), with the exit status) and holds the run's source while
 *     it runs.  The sink op only records the status and posts the item's
 *     task; q_done() acts on it from the loop (settles, retries, fetches),
 *     so nothing here runs inside a call from dcgi.c.
 *   - struct qop (an acknowledgement or a move to NAME:dead): owned by
 *     the list of ops waiting for Redis, or by hiredis while it is in
 *     flight (freed in q_op_done()).
 *   - hiredis calls back from the loop only (q_io()); the private data of
 *     a call is a worker (lives as long as the struct queues) or a qop.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "conf.h"
#include "dcgi.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "queue.h"
#include "sink.h"

#define Q_BLOCK_SECONDS		"1"	/* BLMOVE timeout: then ask again */
#define Q_EARLY_NIL_MS		500	/* a nil sooner is not the timeout */
#define Q_STRANGE_MIN_MS	250	/* after an answer of the wrong shape */
#define Q_MAX_DELIVERIES	1000000	/* a larger count is taken as this */
#define Q_BLOCK_MS		"1000"	/* XREADGROUP's */
#define Q_CLAIM_MAX_MS		1000	/* XAUTOCLAIM at least this often */
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
	char		  id[48];	/* the entry's id (stream), a number */
	int		  attempt;
	int		  active;	/* its run is under way */
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
	int		  keep;		/* stream: XACK only, no XDEL */
	int		  release;	/* stream, at a stop: no XACK, but idle
					   ClaimAfter and RETRYCOUNT deliveries,
					   for another node to take at once */
	char		 *data;
	size_t		  len;
	char		  id[48];	/* stream: the entry */
	char		  why[200];	/* dead: the reason */
	int		  deliveries;
};

struct qworker {
	struct queues	 *qs;
	const struct conf_queue *q;
	int		  stream;	/* Type stream */
	char		 *processing;	/* list: NAME:processing */
	char		 *deadlist;	/* NAME:dead */
	struct qredis	  blk;		/* the BLMOVE or XREADGROUP connection */
	int		  fetching;
	int64_t		  asked;	/* when the fetch was sent (loop_now) */
	int64_t		  strange;	/* the wait after a strange answer, ms */
	int		  running;	/* items taken, not yet acknowledged */
	int		  active;	/* of those, runs under way */
	struct qitem	 *items;
	struct loop_timer wait;		/* MaxContainers full */
	/* Type stream */
	int		  grouped;	/* the group is there */
	int		  grouping;	/* XGROUP CREATE in flight */
	int		  ownback;	/* 0: take back our own; 1: asked; 2: done */
	int		  claiming;
	char		  cursor[48];	/* XAUTOCLAIM's */
	struct loop_timer claim;
	struct loop_timer beat;
	/* Metrics */
	int64_t		  length;	/* at the last look; -1: not known */
	int		  measuring;	/* XLEN or LLEN in flight */
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
	int		  requeue_left;	/* lists whose requeue is under way */
	int		  stopping;
	unsigned long long seq;
	char		  consumer[256];	/* stream: this node's name */
	int		  inflight;	/* ops handed to hiredis, not answered */
	int		  cmd_lost;	/* the command connection went */
	int64_t		  cmd_back;	/* loop_now() it came back after that */
};

static void	q_connect(struct queues *, struct qredis *);
static void	q_fetch(struct qworker *);
static void	q_flush_ops(struct queues *);
static void	q_op_wait(struct queues *, struct qop *);
static void	q_beat(struct qworker *);

static const char *
q_group(const struct qworker *w)
{
	return w->q->group != NULL ? w->q->group : "dcgi";
}

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
	metrics_count(MX_REDIS_ERROR, NULL);
	if (!qs->down) {
		log_error("Redis at %s%s%.0d unreachable (%s): queues paused, "
		    "retrying; nothing is lost", qs->host, qs->port ? ":" : "",
		    qs->port, why);
		metrics_count(MX_REDIS_OUTAGE, NULL);
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
	if (r->w != NULL) {
		r->w->fetching = 0;
		r->w->grouping = 0;
		if (r->w->ownback == 1)
			r->w->ownback = 0;
	} else {
		r->qs->cmd_lost = 1;
		for (size_t i = 0; i < r->qs->nw; i++)
			r->qs->w[i].claiming = 0;
	}
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
		metrics_count(MX_REDIS_ERROR, NULL);
		if (!qs->down) {
			log_error("Redis at %s%s%.0d answered PING with %s%.80s: "
			    "queues paused, retrying", qs->host, qs->port ?
			    ":" : "", qs->port, rp->type == REDIS_REPLY_ERROR ?
			    "" : "something else than PONG ", rp->type ==
			    REDIS_REPLY_ERROR ? rp->str : "");
			metrics_count(MX_REDIS_OUTAGE, NULL);
		}
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
		 * Once per start: what a dead dcgid left in a list's
		 * processing goes back to the head of the list, oldest first.
		 */
		if (!qs->requeued) {
			int n = 0;

			for (size_t i = 0; i < qs->nw; i++) {
				if (qs->w[i].stream)
					continue;
				redisAsyncCommand(qs->cmd.ac, q_requeued,
				    &qs->w[i], "EVAL %s 2 %s %s",
				    "local n = 0 while redis.call('LMOVE', "
				    "KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do "
				    "n = n + 1 end return n",
				    qs->w[i].processing, qs->w[i].q->name);
				n++;
			}
			qs->requeue_left = n;
			if (n == 0) {
				qs->requeued = 1;
				for (size_t i = 0; i < qs->nw; i++)
					q_fetch(&qs->w[i]);
			}
		}
		if (qs->cmd_lost) {
			/* Back: renew at once what is held (q_claim_tick()). */
			qs->cmd_lost = 0;
			qs->cmd_back = loop_now(qs->loop);
			for (size_t i = 0; i < qs->nw; i++)
				if (qs->w[i].stream)
					q_beat(&qs->w[i]);
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

/*
 * A stream entry settled: into NAME:dead first when ARGV[3] is 1 (so
 * that an entry whose dead letter cannot be written, NAME:dead being no
 * stream, stays pending), then XACK, then XDEL unless ARGV[4] is 1.
 */
static const char q_settle_lua[] =
    "if ARGV[3] == '1' then redis.call('XADD', KEYS[2], '*', 'item', "
    "ARGV[5], 'reason', ARGV[6], 'id', ARGV[2], 'consumer', ARGV[7], "
    "'deliveries', ARGV[8]) end "
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) "
    "if ARGV[4] ~= '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end "
    "return 1";

/* A stream entry this node will not run (a stop): still pending, but
 * idle ARGV[4] ms with ARGV[5] deliveries, if it is still ours. */
static const char q_release_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1) "
    "if p[1] and p[1][2] == ARGV[2] then "
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', "
    "ARGV[4], 'RETRYCOUNT', ARGV[5], 'JUSTID') return 1 end "
    "return 0";

/* A list item to NAME:dead: pushed there first, then out of processing. */
static const char q_dead_list_lua[] =
    "redis.call('RPUSH', KEYS[2], ARGV[1]) "
    "redis.call('LREM', KEYS[1], 1, ARGV[1]) return 1";

static void
q_op_done(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qop *op = pd;
	redisReply *rp = reply;
	(void)ac;

	op->w->qs->inflight--;
	if (rp == NULL) {
		/* Lost with the connection: it goes again when Redis is back. */
		q_op_wait(op->w->qs, op);
		return;
	}
	if (rp->type == REDIS_REPLY_ERROR) {
		metrics_count(MX_REDIS_ERROR, NULL);
		log_msg(LOG_LV_ERROR, op->id[0] ? op->id : NULL, "queue %s: Redis "
		    "refused to %s: %s%s", op->w->q->name, op->release ?
		    "release an entry" : op->dead ? "move an item to its dead "
		    "letters" : "acknowledge an item", rp->str, op->dead ?
		    " (the item stays pending or in processing)" : "");
	}
	free(op->data);
	free(op);
}

/* op waits for Redis (q_flush_ops()). */
static void
q_op_wait(struct queues *qs, struct qop *op)
{
	op->next = NULL;
	if (qs->opstail)
		qs->opstail->next = op;
	else
		qs->ops = op;
	qs->opstail = op;
}

static void
q_send_op(struct queues *qs, struct qop *op)
{
	int rc;

	if (!qs->cmd.ready || qs->cmd.ac == NULL) {
		q_op_wait(qs, op);
		return;
	}
	if (op->w->stream && op->release) {
		char idle[24], count[16];

		snprintf(idle, sizeof(idle), "%lld",
		    (long long)op->w->q->claim_after_ms);
		snprintf(count, sizeof(count), "%d", op->deliveries);
		rc = redisAsyncCommand(qs->cmd.ac, q_op_done, op, "EVAL %s 1 %s "
		    "%s %s %s %s %s", q_release_lua, op->w->q->name,
		    q_group(op->w), qs->consumer, op->id, idle, count);
	} else if (op->w->stream)
		rc = redisAsyncCommand(qs->cmd.ac, q_op_done, op, "EVAL %s 2 %s "
		    "%s %s %s %d %d %b %s %s %d", q_settle_lua, op->w->q->name,
		    op->w->deadlist, q_group(op->w), op->id, op->dead, op->keep,
		    op->data != NULL ? op->data : "", op->len, op->why,
		    qs->consumer, op->deliveries);
	else if (op->dead)
		rc = redisAsyncCommand(qs->cmd.ac, q_op_done, op, "EVAL %s 2 %s "
		    "%s %b", q_dead_list_lua, op->w->processing,
		    op->w->deadlist, op->data, op->len);
	else
		rc = redisAsyncCommand(qs->cmd.ac, q_op_done, op, "LREM %s 1 %b",
		    op->w->processing, op->data, op->len);
	if (rc != REDIS_OK) {
		/* The connection is going: again when Redis is back. */
		q_op_wait(qs, op);
		return;
	}
	qs->inflight++;
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
	if (it->active)
		w->active--;
	free(it->data);
	free(it);
}

/*
 * An item this node stops holding without an end (a stop): a list's
 * stays in processing for the next start; a stream entry is released,
 * to be taken over at once, with as many deliveries as it had runs.
 */
static void
q_drop(struct qitem *it)
{
	struct qop *op;

	if (it->w->stream && (op = calloc(1, sizeof(*op))) != NULL) {
		op->w = it->w;
		op->release = 1;
		op->deliveries = it->attempt;
		snprintf(op->id, sizeof(op->id), "%s", it->id);
		q_send_op(it->w->qs, op);
	}
	q_item_free(it);
}

/*
 * Settle an item: remove it from processing (list) or acknowledge it
 * (stream); into NAME:dead if `dead`, and then for a stream entry that is
 * no item (dead 2) leave the entry in NAME for a look.
 */
static void
q_settle(struct qitem *it, int dead)
{
	struct qworker *w = it->w;
	struct qop *op;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		/* It stays pending; the next start takes it up again. */
		log_error("queue %s: out of memory; item %s stays %s",
		    w->q->name, it->id, w->stream ? "pending" : "in processing");
	} else {
		op->w = w;
		op->dead = dead;
		op->keep = dead > 1;
		op->data = it->data;
		op->len = it->len;
		snprintf(op->id, sizeof(op->id), "%s", it->id);
		snprintf(op->why, sizeof(op->why), "%s", it->why);
		op->deliveries = it->attempt;
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
	it->active = 0;
	it->w->active--;
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
		metrics_count(MX_Q_DONE, w->q->name);
		q_settle(it, 0);
		return;
	}
	if (it->attempt > w->q->retries) {
		log_msg(LOG_LV_ERROR, it->id, "queue %s: item failed %d time%s "
		    "(last: %s): moved to %s", w->q->name, it->attempt,
		    it->attempt == 1 ? "" : "s", reason, w->deadlist);
		metrics_count(MX_Q_DEAD, w->q->name);
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
		/* Left for the next start, or another node. */
		q_drop(it);
		return;
	}
	metrics_count(MX_Q_RETRIED, w->q->name);
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
		q_drop(it);	/* for the next start, or another node */
		return;
	}

	/* Taken over beyond Concurrency, or MaxContainers full: wait. */
	if (it->w->active >= it->w->q->concurrency ||
	    !dcgi_can_run(qs->dc, qs->conf)) {
		loop_timer_set(qs->loop, &it->retry, Q_SLOT_WAIT_MS);
		return;
	}
	it->attempt++;
	it->job = dcgi_run_item(qs->dc, qs->conf, it->w->q, it->data, it->len,
	    it->id, it->attempt, &it->sink);
	if (it->job == NULL) {
		it->attempt--;
		loop_timer_set(qs->loop, &it->retry, Q_RETRY_MIN_MS);
		return;
	}
	it->active = 1;
	it->w->active++;
}

/*
 * A new item of w: `data` (copied), the stream entry `id` or NULL, run
 * `attempts` times before (deliveries before this one).  Once it has had
 * Retries + 1 of them, it goes to NAME:dead without a run.  -1 when there
 * is no memory (the item stays pending, or in processing).
 */
static int
q_item_new(struct qworker *w, const char *data, size_t len, const char *id,
    int attempts)
{
	struct qitem *it;

	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->data = malloc(len + 1)) == NULL) {
		free(it);
		log_error("queue %s: out of memory; the item stays %s",
		    w->q->name, w->stream ? "pending" : "in processing");
		return -1;
	}
	memcpy(it->data, data, len);
	it->data[len] = '\0';
	it->len = len;
	it->w = w;
	it->sink.ops = &q_run_ops;
	it->retry.fn = q_retry;
	it->task.fn = q_done;
	it->attempt = attempts;
	if (id != NULL)
		snprintf(it->id, sizeof(it->id), "%s", id);
	else
		snprintf(it->id, sizeof(it->id), "%016llx", ++w->qs->seq);
	it->next = w->items;
	if (w->items)
		w->items->prev = it;
	w->items = it;
	w->running++;
	if (attempts > w->q->retries) {
		snprintf(it->why, sizeof(it->why), "delivered %d times; its "
		    "consumers stopped before it ended", attempts);
		log_msg(LOG_LV_ERROR, it->id, "queue %s: item %s: moved to %s",
		    w->q->name, it->why, w->deadlist);
		metrics_count(MX_Q_DEAD, w->q->name);
		q_settle(it, 1);
		return 0;
	}
	q_run(it);
	return 0;
}

/*
 * A fetch's answer that brought nothing: nil after the BLOCK timeout asks
 * again at once; anything else (an answer of the wrong shape, or a nil
 * before the timeout could have passed: not Redis, or not one that blocks)
 * waits, twice as long each time in a row up to Q_RECONNECT_MAX_MS, so that
 * such a peer cannot make the worker spin.
 */
static void
q_strange(struct qworker *w, const char *cmd, const redisReply *rp)
{
	static const char *const types[] = { "?", "a string", "an array",
	    "an integer", "nil", "a status", "an error" };
	const char *type = rp->type >= 1 && rp->type <= 6 ? types[rp->type] :
	    types[0];

	if (w->qs->stopping)
		return;
	if (rp->type == REDIS_REPLY_NIL &&
	    loop_now(w->qs->loop) - w->asked >= Q_EARLY_NIL_MS) {
		w->strange = 0;
		q_fetch(w);
		return;
	}
	w->strange = w->strange == 0 ? Q_STRANGE_MIN_MS : w->strange * 2 >
	    Q_RECONNECT_MAX_MS ? Q_RECONNECT_MAX_MS : w->strange * 2;
	metrics_count(MX_REDIS_ERROR, NULL);
	log_error("queue %s: %s: a strange answer (%s%s), not Redis as it "
	    "should be: asking again in %lldms", w->q->name, cmd, type,
	    rp->type == REDIS_REPLY_NIL ? " at once" : rp->type ==
	    REDIS_REPLY_ARRAY ? " without an entry" : "",
	    (long long)w->strange);
	loop_timer_set(w->qs->loop, &w->wait, w->strange);
}

static void
q_fetched(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	(void)ac;

	w->fetching = 0;
	if (rp == NULL)
		return;		/* the connection went; it fetches again */
	if (rp->type == REDIS_REPLY_ERROR) {
		metrics_count(MX_REDIS_ERROR, NULL);
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
	if (rp->type != REDIS_REPLY_STRING) {
		q_strange(w, "BLMOVE", rp);
		return;
	}
	w->strange = 0;
	if (q_item_new(w, rp->str, rp->len, NULL, 0) == -1)
		return;
	q_fetch(w);
}

/* ----- streams ----- */

/*
 * Take over entries idle longer than ARGV[3] ms, from ARGV[4] on (the
 * cursor), at most ARGV[5]: [cursor, [id, fields, deliveries]...].
 */
static const char q_claim_lua[] =
    "local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], "
    "ARGV[3], ARGV[4], 'COUNT', ARGV[5]) "
    "local out = {r[1]} "
    "for _, e in ipairs(r[2]) do if e then "
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1) "
    "local n = 1 if p[1] then n = p[1][4] end "
    "table.insert(out, {e[1], e[2], n}) end end "
    "return out";

/* What is still pending on this consumer (a start after a stop or a
 * crash), at most ARGV[3]: as q_claim_lua answers. */
static const char q_ownback_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', "
    "ARGV[3], ARGV[2]) "
    "local out = {'0-0'} "
    "for _, e in ipairs(p) do "
    "local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1]) "
    "if c[1] then table.insert(out, {c[1][1], c[1][2], e[4] + 1}) "
    "else redis.call('XACK', KEYS[1], ARGV[1], e[1]) end end "
    "return out";

/* The entries ARGV[3...] that are still this consumer's are fresh again
 * (their idle time 0), so that no other node takes them over; the answer
 * is those that are no longer ours (taken over, or done by another). */
static const char q_beat_lua[] =
    "local gone = {} "
    "for i = 3, #ARGV do "
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1) "
    "if p[1] and p[1][2] == ARGV[2] then "
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID') "
    "else table.insert(gone, ARGV[i]) end end "
    "return gone";

static int
q_holds(const struct qworker *w, const char *id)
{
	for (const struct qitem *it = w->items; it != NULL; it = it->next)
		if (strcmp(it->id, id) == 0)
			return 1;
	return 0;
}

/*
 * One entry, [id, [field, value...]] (a read) or [id, fields, deliveries]
 * (a take-over): run its item, or settle an entry that has none.  0 when e
 * brought nothing: not an entry, or one already held.
 */
static int
q_entry(struct qworker *w, const redisReply *e, int deliveries)
{
	const redisReply *f, *item = NULL;
	struct qitem *it;
	struct qop *op;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[0]->len >= sizeof(it->id))
		return 0;
	if (q_holds(w, e->element[0]->str))
		return 0;	/* nothing new (Redis gives none twice) */
	if (e->elements >= 3 && e->element[2]->type == REDIS_REPLY_INTEGER) {
		long long n = e->element[2]->integer;

		deliveries = n < 1 ? 1 : n > Q_MAX_DELIVERIES ?
		    Q_MAX_DELIVERIES : (int)n;
	}
	f = e->element[1];
	if (f->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i + 1 < f->elements; i += 2)
			if (f->element[i]->type == REDIS_REPLY_STRING &&
			    strcmp(f->element[i]->str, "item") == 0)
				item = f->element[i + 1];
		if (item == NULL && f->elements == 2)
			item = f->element[1];
	}
	if (item != NULL && item->type == REDIS_REPLY_STRING) {
		(void)q_item_new(w, item->str, item->len, e->element[0]->str,
		    deliveries > 0 ? deliveries - 1 : 0);
		return 1;
	}
	/* Deleted meanwhile (no fields): acknowledged.  No item in it: to
	 * NAME:dead, the entry left in NAME. */
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return 1;
	op->w = w;
	op->keep = 1;
	snprintf(op->id, sizeof(op->id), "%s", e->element[0]->str);
	if (f->type == REDIS_REPLY_ARRAY) {
		op->dead = 1;
		op->deliveries = deliveries;
		snprintf(op->why, sizeof(op->why), "the entry has no field "
		    "item and more than one field");
		log_msg(LOG_LV_ERROR, op->id, "queue %s: %s: moved to %s",
		    w->q->name, op->why, w->deadlist);
		metrics_count(MX_Q_DEAD, w->q->name);
	}
	q_send_op(w->qs, op);
	return 1;
}

/* [cursor, entry...] of q_claim_lua or q_ownback_lua. */
static void
q_taken(struct qworker *w, const redisReply *rp, const char *how)
{
	if (rp->type != REDIS_REPLY_ARRAY || rp->elements < 1) {
		if (rp->type == REDIS_REPLY_ERROR &&
		    strstr(rp->str, "NOGROUP") != NULL)
			w->grouped = 0;		/* q_fetch() makes it again */
		else {
			metrics_count(MX_REDIS_ERROR, NULL);
			log_error("queue %s: %s: %s", w->q->name, how,
			    rp->type == REDIS_REPLY_ERROR ? rp->str :
			    "a strange answer");
		}
		return;
	}
	if (rp->element[0]->type == REDIS_REPLY_STRING &&
	    rp->element[0]->len < sizeof(w->cursor) && strcmp(how, "take over")
	    == 0)
		snprintf(w->cursor, sizeof(w->cursor), "%s", rp->element[0]->str);
	for (size_t i = 1; i < rp->elements; i++) {
		const redisReply *e = rp->element[i];

		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    e->element[0]->type == REDIS_REPLY_STRING &&
		    !q_holds(w, e->element[0]->str))
			log_msg(LOG_LV_INFO, e->element[0]->str, "queue %s: "
			    "%s", w->q->name, strcmp(how, "take over") == 0 ?
			    "taken over from a consumer idle longer than "
			    "ClaimAfter" : "pending on this consumer since an "
			    "earlier start: taken back");
		q_entry(w, e, 1);
	}
}

static void
q_claimed(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	(void)ac;

	w->claiming = 0;
	if (reply != NULL && !w->qs->stopping)
		q_taken(w, reply, "take over");
}

static void
q_claim_tick(struct loop_timer *t)
{
	struct qworker *w = LOOP_OWNER(t, struct qworker, claim);
	struct queues *qs = w->qs;
	int64_t every = w->q->claim_after_ms / 2;
	int room = 2 * w->q->concurrency - w->running;
	char idle[24], count[16];

	if (qs->stopping)
		return;
	loop_timer_set(qs->loop, &w->claim, every < Q_CLAIM_MAX_MS ? every :
	    Q_CLAIM_MAX_MS);
	/*
	 * Held beyond Concurrency are at most as many again.  After an
	 * outage every entry looks idle: the other nodes get the time to
	 * come back (their backoff) and to renew theirs first.
	 */
	if (w->claiming || !w->grouped || w->ownback != 2 || !qs->cmd.ready ||
	    qs->cmd.ac == NULL || room <= 0 || (qs->cmd_back != 0 &&
	    loop_now(qs->loop) - qs->cmd_back < w->q->claim_after_ms / 3 +
	    Q_RECONNECT_MAX_MS))
		return;
	snprintf(idle, sizeof(idle), "%lld", (long long)w->q->claim_after_ms);
	snprintf(count, sizeof(count), "%d", room);
	if (redisAsyncCommand(qs->cmd.ac, q_claimed, w, "EVAL %s 1 %s %s %s "
	    "%s %s %s", q_claim_lua, w->q->name, q_group(w), qs->consumer,
	    idle, w->cursor, count) == REDIS_OK)
		w->claiming = 1;
}

/* The beat's answer: entries another node has now.  One that is not
 * running here is dropped (the other runs it); a running one ends. */
static void
q_beaten(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	struct qitem *it, *next;
	(void)ac;

	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || w->qs->stopping)
		return;
	for (size_t i = 0; i < rp->elements; i++) {
		if (rp->element[i]->type != REDIS_REPLY_STRING)
			continue;
		for (it = w->items; it != NULL; it = next) {
			next = it->next;
			if (strcmp(it->id, rp->element[i]->str) != 0 ||
			    it->job != NULL || it->task.posted)
				continue;
			log_msg(LOG_LV_WARN, it->id, "queue %s: taken over by "
			    "another node (this one was away longer than "
			    "ClaimAfter): left to it", w->q->name);
			q_item_free(it);
		}
	}
	q_fetch(w);
}

/* Renew the idle time of what w holds (q_beat_lua). */
static void
q_beat(struct qworker *w)
{
	struct queues *qs = w->qs;
	const char **argv;
	size_t *lens, argc = 0, n = 6 + (size_t)w->running;
	struct qitem *it;

	if (w->items == NULL || !qs->cmd.ready || qs->cmd.ac == NULL)
		return;
	if ((argv = calloc(n, sizeof(*argv))) == NULL ||
	    (lens = calloc(n, sizeof(*lens))) == NULL) {
		free(argv);
		return;		/* again at the next beat */
	}
	argv[argc++] = "EVAL";
	argv[argc++] = q_beat_lua;
	argv[argc++] = "1";
	argv[argc++] = w->q->name;
	argv[argc++] = q_group(w);
	argv[argc++] = qs->consumer;
	for (it = w->items; it != NULL && argc < n; it = it->next)
		argv[argc++] = it->id;
	for (size_t i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(qs->cmd.ac, q_beaten, w, (int)argc, argv, lens);
	free(argv);
	free(lens);
}

static void
q_beat_tick(struct loop_timer *t)
{
	struct qworker *w = LOOP_OWNER(t, struct qworker, beat);
	struct queues *qs = w->qs;

	if (qs->stopping && w->items == NULL)
		return;
	loop_timer_set(qs->loop, &w->beat, w->q->claim_after_ms / 3);
	q_beat(w);
}

static void
q_ownback(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	(void)ac;

	if (reply == NULL)
		return;		/* asked again after the reconnect */
	w->ownback = 2;
	if (!w->qs->stopping)
		q_taken(w, reply, "start");
	q_fetch(w);
}

static void
q_grouped(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	(void)ac;

	w->grouping = 0;
	if (rp == NULL)
		return;
	if (rp->type == REDIS_REPLY_ERROR && strncmp(rp->str, "BUSYGROUP", 9)
	    != 0) {
		metrics_count(MX_REDIS_ERROR, NULL);
		log_error("queue %s: XGROUP CREATE %s: %s (Redis 5 or later is "
		    "needed; is %s a stream?)", w->q->name, q_group(w), rp->str,
		    w->q->name);
		loop_timer_set(w->qs->loop, &w->wait, Q_RECONNECT_MAX_MS);
		return;
	}
	w->grouped = 1;
	q_fetch(w);
}

static void
q_read(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	int entries = 0;
	(void)ac;

	w->fetching = 0;
	if (rp == NULL)
		return;		/* the connection went; it fetches again */
	if (rp->type == REDIS_REPLY_ERROR) {
		metrics_count(MX_REDIS_ERROR, NULL);
		if (strncmp(rp->str, "NOGROUP", 7) == 0) {
			/* Redis lost the group (a restart without its data). */
			log_error("queue %s: the group %s is gone: made again",
			    w->q->name, q_group(w));
			w->grouped = 0;
			q_fetch(w);
			return;
		}
		log_error("queue %s: XREADGROUP: %s", w->q->name, rp->str);
		loop_timer_set(w->qs->loop, &w->wait, Q_RECONNECT_MAX_MS);
		return;
	}
	if (rp->type == REDIS_REPLY_ARRAY && w->qs->stopping) {
		/* Released (q_drop()), for another node or the next start. */
		log_info("queue %s: entries came as dcgid stops; they are "
		    "left to another node or the next start", w->q->name);
	}
	/* [[NAME, [entry...]]], or nil after BLOCK */
	if (rp->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < rp->elements; i++) {
			const redisReply *st = rp->element[i];

			if (st->type != REDIS_REPLY_ARRAY || st->elements < 2 ||
			    st->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			for (size_t k = 0; k < st->element[1]->elements; k++)
				entries += q_entry(w,
				    st->element[1]->element[k], 1);
		}
	if (entries == 0) {
		q_strange(w, "XREADGROUP", rp);
		return;
	}
	w->strange = 0;
	q_fetch(w);
}

static void
q_fetch_stream(struct qworker *w)
{
	struct queues *qs = w->qs;
	char count[16];

	if (!w->grouped) {
		if (!w->grouping && redisAsyncCommand(w->blk.ac, q_grouped, w,
		    "XGROUP CREATE %s %s 0 MKSTREAM", w->q->name, q_group(w))
		    == REDIS_OK)
			w->grouping = 1;
		return;
	}
	if (w->ownback == 0) {
		snprintf(count, sizeof(count), "%d", 2 * w->q->concurrency);
		if (redisAsyncCommand(w->blk.ac, q_ownback, w, "EVAL %s 1 %s "
		    "%s %s %s", q_ownback_lua, w->q->name, q_group(w),
		    qs->consumer, count) == REDIS_OK)
			w->ownback = 1;
		return;
	}
	if (w->ownback != 2)
		return;
	snprintf(count, sizeof(count), "%d", w->q->concurrency - w->running);
	w->fetching = 1;
	w->asked = loop_now(qs->loop);
	redisAsyncCommand(w->blk.ac, q_read, w, "XREADGROUP GROUP %s %s COUNT "
	    "%s BLOCK " Q_BLOCK_MS " STREAMS %s >", q_group(w), qs->consumer,
	    count, w->q->name);
}

/* ----- fetching ----- */

static void
q_fetch(struct qworker *w)
{
	struct queues *qs = w->qs;

	if (qs->stopping || w->fetching || !w->blk.ready || w->blk.ac == NULL ||
	    w->running >= w->q->concurrency ||
	    (w->strange != 0 && loop_timer_armed(&w->wait)))
		return;
	if (!dcgi_can_run(qs->dc, qs->conf)) {
		if (!loop_timer_armed(&w->wait))
			loop_timer_set(qs->loop, &w->wait, Q_SLOT_WAIT_MS);
		return;
	}
	if (w->stream) {
		q_fetch_stream(w);
		return;
	}
	w->fetching = 1;
	w->asked = loop_now(qs->loop);
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
	else if (rp->type == REDIS_REPLY_ERROR) {
		metrics_count(MX_REDIS_ERROR, NULL);
		log_error("queue %s: requeue from %s: %s", w->q->name,
		    w->processing, rp->str);
	}
	if (--qs->requeue_left <= 0) {
		qs->requeued = 1;
		for (size_t i = 0; i < qs->nw; i++)
			q_fetch(&qs->w[i]);
	}
}

/* ----- life ----- */

/*
 * This node's consumer name: Consumer, or the host name and an id that
 * stays the same across restarts of the same configuration (FNV-1a of
 * its path), so that a node started again takes back what it held.
 */
static void
q_consumer(struct queues *qs, const struct conf *conf)
{
	char host[200];
	uint32_t h = 2166136261u;

	if (conf->consumer != NULL) {
		snprintf(qs->consumer, sizeof(qs->consumer), "%s",
		    conf->consumer);
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "dcgid");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = conf->server_root; p != NULL && *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = conf->path; p != NULL && *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(qs->consumer, sizeof(qs->consumer), "%s-%08x", host,
	    (unsigned)h);
}

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
	q_consumer(qs, conf);
	qs->cmd.qs = qs;
	for (size_t i = 0; i < qs->nw; i++) {
		struct qworker *w = &qs->w[i];

		w->qs = qs;
		w->q = &conf->queues[i];
		w->stream = w->q->type == CONF_Q_STREAM;
		w->blk.qs = qs;
		w->blk.w = w;
		w->wait.fn = q_wait_over;
		w->claim.fn = q_claim_tick;
		w->beat.fn = q_beat_tick;
		w->length = -1;
		snprintf(w->cursor, sizeof(w->cursor), "0-0");
		if (w->stream) {
			loop_timer_set(loop, &w->claim, Q_CLAIM_MAX_MS);
			loop_timer_set(loop, &w->beat,
			    w->q->claim_after_ms / 3);
		}
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
	log_info("consuming %zu queue%s from Redis at %s (consumer %s)",
	    qs->nw, qs->nw == 1 ? "" : "s", conf->redis, qs->consumer);
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
		loop_timer_del(qs->loop, &qs->w[i].claim);
		/* Items waiting for a retry or a slot stay in processing,
		 * or are released (the beat goes on while runs finish). */
		for (it = qs->w[i].items; it != NULL; it = next) {
			next = it->next;
			if (it->job == NULL && !it->task.posted)
				q_drop(it);
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
	/* Acknowledgements still to write or to be answered, while Redis is
	 * there to take them. */
	return (qs->ops != NULL || qs->inflight > 0) && qs->cmd.ready;
}

/* XLEN's or LLEN's answer: the queue's length for Metrics. */
static void
q_measured(redisAsyncContext *ac, void *reply, void *pd)
{
	struct qworker *w = pd;
	redisReply *rp = reply;
	(void)ac;

	w->measuring = 0;
	/* No answer (the connection went): not known until the next. */
	w->length = rp != NULL && rp->type == REDIS_REPLY_INTEGER ?
	    rp->integer : -1;
}

void
queues_metrics(struct queues *qs)
{
	if (qs == NULL)
		return;
	for (size_t i = 0; i < qs->nw; i++) {
		struct qworker *w = &qs->w[i];

		metrics_queue_gauges(w->q->name, (unsigned)w->running,
		    (unsigned)w->active, qs->cmd.ready ? w->length : -1);
		if (w->measuring || !qs->cmd.ready || qs->cmd.ac == NULL)
			continue;
		if (redisAsyncCommand(qs->cmd.ac, q_measured, w, "%s %s",
		    w->stream ? "XLEN" : "LLEN", w->q->name) == REDIS_OK)
			w->measuring = 1;
	}
}

int
queues_ready(const struct queues *qs)
{
	if (qs == NULL)
		return 1;
	if (!qs->cmd.ready)
		return 0;
	for (size_t i = 0; i < qs->nw; i++)
		if (!qs->w[i].blk.ready)
			return 0;
	return 1;
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
		loop_timer_del(qs->loop, &w->claim);
		loop_timer_del(qs->loop, &w->beat);
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
