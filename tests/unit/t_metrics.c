/*
 * t_metrics.c: the text of Metrics (the Prometheus format: families,
 * escaped label values, status codes by class, cumulative histogram
 * buckets, families without a series left out) and the engine's
 * snapshot over the channel (what it carries, and that a malformed one
 * changes nothing).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "metrics.h"
#include "tap.h"

static char *
render(size_t conns)
{
	size_t len;
	char *t = metrics_render(conns, &len);

	if (t == NULL)
		return strdup("");
	/* The text holds no NUL; make it a C string. */
	t = realloc(t, len + 1);
	t[len] = '\0';
	return t;
}

/* Does the text have this whole line? */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define LINE(text, line)	ok(has_line(text, line), "%s", line)
#define NO(text, s)		ok(strstr(text, s) == NULL, "no %s", s)

static void
test_empty(void)
{
	char *t = render(3);

	LINE(t, "# TYPE dcgi_connections_open gauge");
	LINE(t, "dcgi_connections_open 3");
	LINE(t, "# TYPE dcgi_engine_errors_total counter");
	LINE(t, "dcgi_engine_errors_total 0");
	LINE(t, "dcgi_redis_outages_total 0");
	NO(t, "dcgi_requests_total");
	NO(t, "dcgi_request_duration_seconds");
	NO(t, "dcgi_queue_");
	ok(t[0] != '\0' && t[strlen(t) - 1] == '\n', "ends with a newline");
	free(t);
}

static void
test_requests(void)
{
	char *t;

	metrics_request(NULL, 200, 3000);
	metrics_request(NULL, 200, 6000);
	metrics_request(NULL, 499, 1);
	metrics_request("/a\"b\\c", 404, 40000000);
	metrics_request("/a\"b\\c", 418, 1);	/* not named: its class */
	metrics_request("/a\"b\\c", 299, 1);
	metrics_request("/a\"b\\c", 42, 1);	/* no class */
	metrics_request("/vote", 201, 10000);
	metrics_phase("/vote", MX_START, 250000);
	metrics_phase("/vote", MX_FB, 1000);
	t = render(0);
	LINE(t, "# HELP dcgi_requests_total HTTP requests answered, by route "
	    "prefix (static: without a container route) and status code (a "
	    "code not named here by its class, 4xx).");
	LINE(t, "# TYPE dcgi_requests_total counter");
	LINE(t, "dcgi_requests_total{route=\"static\",code=\"200\"} 2");
	LINE(t, "dcgi_requests_total{route=\"static\",code=\"499\"} 1");
	LINE(t, "dcgi_requests_total{route=\"/a\\\"b\\\\c\",code=\"404\"} 1");
	LINE(t, "dcgi_requests_total{route=\"/a\\\"b\\\\c\",code=\"4xx\"} 1");
	LINE(t, "dcgi_requests_total{route=\"/a\\\"b\\\\c\",code=\"2xx\"} 1");
	LINE(t, "dcgi_requests_total{route=\"/a\\\"b\\\\c\",code=\"other\"} 1");
	LINE(t, "dcgi_requests_total{route=\"/vote\",code=\"201\"} 1");
	NO(t, "code=\"418\"");

	LINE(t, "# TYPE dcgi_request_duration_seconds histogram");
	/* 3 ms, 6 ms and 1 us: cumulative, 1 us and 3 ms in the first. */
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"static\","
	    "phase=\"total\",le=\"0.005\"} 2");
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"static\","
	    "phase=\"total\",le=\"0.01\"} 3");
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"static\","
	    "phase=\"total\",le=\"30\"} 3");
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"static\","
	    "phase=\"total\",le=\"+Inf\"} 3");
	LINE(t, "dcgi_request_duration_seconds_sum{route=\"static\","
	    "phase=\"total\"} 0.009001");
	LINE(t, "dcgi_request_duration_seconds_count{route=\"static\","
	    "phase=\"total\"} 3");
	/* 40 s: beyond the last bucket, in +Inf only. */
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"/a\\\"b\\\\c\","
	    "phase=\"total\",le=\"30\"} 3");
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"/a\\\"b\\\\c\","
	    "phase=\"total\",le=\"+Inf\"} 4");
	LINE(t, "dcgi_request_duration_seconds_sum{route=\"/a\\\"b\\\\c\","
	    "phase=\"total\"} 40.000003");
	/* 0.25 s is in le="0.25" (le: less than or equal). */
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"/vote\","
	    "phase=\"start\",le=\"0.1\"} 0");
	LINE(t, "dcgi_request_duration_seconds_bucket{route=\"/vote\","
	    "phase=\"start\",le=\"0.25\"} 1");
	LINE(t, "dcgi_request_duration_seconds_count{route=\"/vote\","
	    "phase=\"fb\"} 1");
	NO(t, "phase=\"queue\"");
	NO(t, "phase=\"create\"");
	free(t);
}

static void
test_engine_side(void)
{
	char *t;

	metrics_count(MX_STARTED, "/vote");
	metrics_count(MX_STARTED, "/vote");
	metrics_count(MX_POOL_HIT, "/vote");
	metrics_count(MX_POOL_MISS, "/vote");
	metrics_count(MX_CACHE_HIT, "/vote");
	metrics_route_gauges("/vote", 2, 1, 3, 1);
	metrics_route_gauges("/plain", 1, 0, 0, 0);
	metrics_count(MX_Q_DONE, "votes");
	metrics_count(MX_Q_RETRIED, "votes");
	metrics_count(MX_Q_DEAD, "votes");
	metrics_queue_gauges("votes", 4, 2, -1);
	metrics_count(MX_ENGINE_ERROR, NULL);
	metrics_count(MX_REDIS_ERROR, NULL);
	metrics_count(MX_REDIS_ERROR, NULL);
	metrics_count(MX_REDIS_OUTAGE, NULL);
	metrics_count(MX_STARTED, NULL);	/* no route: nothing */
	t = render(0);
	LINE(t, "dcgi_containers_started_total{route=\"/vote\"} 2");
	LINE(t, "dcgi_containers_started_total{route=\"/plain\"} 0");
	LINE(t, "dcgi_containers_running{route=\"/vote\"} 2");
	LINE(t, "dcgi_containers_running{route=\"/plain\"} 1");
	LINE(t, "dcgi_cache_hits_total{route=\"/vote\"} 1");
	LINE(t, "dcgi_prestart_ready{route=\"/vote\"} 1");
	LINE(t, "dcgi_prestart_wanted{route=\"/vote\"} 3");
	LINE(t, "dcgi_prestart_hits_total{route=\"/vote\"} 1");
	LINE(t, "dcgi_prestart_misses_total{route=\"/vote\"} 1");
	NO(t, "dcgi_prestart_ready{route=\"/plain\"}");
	NO(t, "route=\"static\"} ");
	LINE(t, "dcgi_queue_items_done_total{queue=\"votes\"} 1");
	LINE(t, "dcgi_queue_items_retried_total{queue=\"votes\"} 1");
	LINE(t, "dcgi_queue_items_dead_total{queue=\"votes\"} 1");
	LINE(t, "dcgi_queue_items_held{queue=\"votes\"} 4");
	LINE(t, "dcgi_queue_items_running{queue=\"votes\"} 2");
	NO(t, "dcgi_queue_length");
	LINE(t, "dcgi_engine_errors_total 1");
	LINE(t, "dcgi_redis_errors_total 2");
	LINE(t, "dcgi_redis_outages_total 1");
	free(t);
	metrics_queue_gauges("votes", 4, 2, 17);
	t = render(0);
	LINE(t, "# TYPE dcgi_queue_length gauge");
	LINE(t, "dcgi_queue_length{queue=\"votes\"} 17");
	free(t);
}

/* What the engine process sends, as a server process takes it. */
static void
test_snapshot(void)
{
	struct chan_buf b = { 0 };
	char *t;

	metrics_reset();
	metrics_request("/vote", 200, 1000);	/* the server's own */
	metrics_count(MX_STARTED, "/vote");
	metrics_count(MX_POOL_HIT, "/vote");
	metrics_route_gauges("/vote", 2, 1, 3, 1);
	metrics_queue_gauges("votes", 4, 2, 9);
	metrics_count(MX_Q_DONE, "votes");
	metrics_count(MX_REDIS_OUTAGE, NULL);
	is_int(metrics_snapshot(&b), 0, "a snapshot");

	/* A server process: its own requests, the engine's numbers. */
	metrics_reset();
	metrics_request("/vote", 200, 1000);
	metrics_request("/vote", 200, 1000);
	is_int(metrics_apply(b.p, b.len - 1), -1, "a truncated one: -1");
	{
		char *extra = malloc(b.len + 1);

		memcpy(extra, b.p, b.len);
		extra[b.len] = 'x';
		is_int(metrics_apply(extra, b.len + 1), -1,
		    "one with a byte too many: -1");
		free(extra);
	}
	t = render(0);
	NO(t, "dcgi_queue_");
	LINE(t, "dcgi_containers_started_total{route=\"/vote\"} 0");
	LINE(t, "dcgi_redis_outages_total 0");
	free(t);

	is_int(metrics_apply(b.p, b.len), 0, "the snapshot applies");
	t = render(0);
	LINE(t, "dcgi_requests_total{route=\"/vote\",code=\"200\"} 2");
	LINE(t, "dcgi_containers_started_total{route=\"/vote\"} 1");
	LINE(t, "dcgi_containers_running{route=\"/vote\"} 2");
	LINE(t, "dcgi_prestart_ready{route=\"/vote\"} 1");
	LINE(t, "dcgi_prestart_wanted{route=\"/vote\"} 3");
	LINE(t, "dcgi_prestart_hits_total{route=\"/vote\"} 1");
	LINE(t, "dcgi_queue_items_done_total{queue=\"votes\"} 1");
	LINE(t, "dcgi_queue_items_held{queue=\"votes\"} 4");
	LINE(t, "dcgi_queue_length{queue=\"votes\"} 9");
	LINE(t, "dcgi_redis_outages_total 1");
	free(t);
	chan_buf_free(&b);

	/* A newer one replaces the numbers, it does not add to them. */
	metrics_reset();
	metrics_count(MX_STARTED, "/vote");
	metrics_count(MX_STARTED, "/vote");
	metrics_queue_gauges("votes", 0, 0, -1);
	is_int(metrics_snapshot(&b), 0, "a second snapshot");
	metrics_reset();
	is_int(metrics_apply(b.p, b.len), 0, "applies");
	is_int(metrics_apply(b.p, b.len), 0, "and again");
	t = render(0);
	LINE(t, "dcgi_containers_started_total{route=\"/vote\"} 2");
	NO(t, "dcgi_queue_length");
	free(t);
	chan_buf_free(&b);
}

int
main(void)
{
	test_empty();
	test_requests();
	test_engine_side();
	test_snapshot();
	metrics_reset();
	return done_testing();
}
