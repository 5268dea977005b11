/*
 * queue.h: Redis lists as triggers.  Each item pushed onto the list of a
 * <Queue NAME> is run once in a fresh container, reliably: it is moved
 * atomically to NAME:processing while it runs, removed when the function
 * exits 0, retried with backoff otherwise, and moved to NAME:dead after
 * Retries failures.
 */
#ifndef DCGI_QUEUE_H
#define DCGI_QUEUE_H

struct conf;
struct dcgi;
struct loop;
struct queues;

/* Start consuming conf's queues (none: NULL is returned, and is fine). */
struct queues	*queues_new(struct loop *, struct dcgi *, struct conf *);
/* Stop taking items; those running finish. */
void		 queues_stop(struct queues *);
/* Nonzero while items run or acknowledgements wait to be written. */
int		 queues_busy(const struct queues *);
void		 queues_free(struct queues *);
/* 1 while every queue's Redis connections answer (or there is no queue). */
int		 queues_ready(const struct queues *);
/*
 * Metrics: each queue's gauges to metrics.h, and a look at its length
 * (XLEN or LLEN) whose answer the next call gives.
 */
void		 queues_metrics(struct queues *);

#endif
