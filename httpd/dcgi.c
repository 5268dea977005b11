/*
 * dcgi.c: container jobs, and the prestarted containers they may take.
 *
 * A job is a state machine (enum dcgi_state):
 *
 *   QUEUED -> CREATE -> ATTACH -> START -> RUN -> (removed)
 *
 * QUEUED waits (briefly) for a MaxConcurrent/MaxContainers slot; CREATE
 * is POST /containers/create with the CGI environment; ATTACH connects
 * the stream before the process starts so no output is lost; START is
 * POST /containers/{id}/start; RUN writes the body to stdin, half-closes
 * it, and turns stdout into the response.  Whatever way a job ends
 * (answered, failed, timed out, cancelled), job_end() removes the
 * container with DELETE ?force=true: nothing is left behind.
 *
 * With Prestart, a route keeps containers that went through CREATE,
 * ATTACH and START ahead of time (its pool, "prestarted containers"
 * below): a job that finds one ready goes straight to RUN with it.
 *
 * Under privilege separation (docs/privsep.md) a job is split in two.  In
 * the engine process (dc->docker set, handoff) it runs to START as above
 * and then to HANDED: the attach stream goes to the server process (the
 * sink's attached()), and the job waits with its slot and its Timeout
 * until the server lets go.  In a server process (dc->chan set) it sends
 * CHAN_RUN and waits in CREATE for the grant; with the stream it is in
 * RUN as above, and its end sends CHAN_RELEASE (j->lease): the engine
 * removes the container.
 *
 * Health (server.c answers it): where the Docker socket is (the engine
 * process, or the one process) the docker pings the engine while the
 * configuration has Health, and dcgi_health() says what it last found.
 * In a server process the engine sends the node's state (its Docker and
 * its queues' Redis) with CHAN_HEALTH whenever it changes (engine.c), and
 * dcgi_health() says what it last sent.
 *
 * Metrics (metrics.h): where the Docker socket is, containers started
 * and pool hits and misses are counted as they happen, and dcgi_metrics()
 * gives the gauges (running, ready, wanted per route); a server process
 * takes the engine's counts from CHAN_METRICS.  Where a request's job
 * ends (its consumer's side: the one process, or a server process), its
 * phases are timed as Server-Timing tells them (job_phases()).
 *
 * Ownership:
 *   - struct dcgi_job: created by dcgi_start()/dcgi_run_item(), owned by
 *     the dcgi (dc->jobs) until job_end(), which unlinks it and frees it
 *     at the end of the loop iteration (loop_defer_free): callers up the
 *     stack may still read j->dead.  It owns its environment, its body,
 *     its engine call or its lease (a server process's run in the
 *     engine) and its attach stream.  Its consumer's struct sink
 *     is borrowed: j->sink is set until the job calls end() on it or the
 *     consumer cancels (job_cancel), and is never named after that.  A
 *     sink op never calls back into this file (sink.h), so after each
 *     sink call only the sink's answer is checked, not j itself.
 *   - struct pooled (a prestarted container): owned by its route's pool
 *     (struct dcgi_route) from pool_create() to pooled_free(); a job that
 *     takes one takes its attach stream and container id with it.
 *   - struct removal, struct orphan: own themselves; freed when the
 *     engine has answered.  Until then the container may still exist (a
 *     request's that has only just exited, an idle one's, one whose
 *     create is unanswered): each keeps its place under MaxContainers for
 *     the pools, and its end fills them from a timer (dc->refill), never
 *     under the caller that freed the container.
 *   - Engine calls (docker.h) call back into this file only from the
 *     loop; a job or pool entry that goes first forgets or rebinds them.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "cgi.h"
#include "chan.h"
#include "client.h"
#include "conf.h"
#include "secret.h"
#include "dcgi.h"
#include "docker.h"
#include "envblock.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sink.h"

#define DCGI_QUEUE_WAIT_MS	2000		/* MaxConcurrent full: then 503 */
#define DCGI_HEAD_MAX		(64 * 1024)	/* the CGI header block */
#define DCGI_QUEUED_MAX		(256 * 1024)	/* output before pausing */
#define DCGI_TMPFS		"rw,nosuid,nodev,noexec,size=64m"

enum dcgi_state {
	DCGI_QUEUED,	/* waiting for a slot */
	DCGI_CREATE,	/* POST /containers/create */
	DCGI_ATTACH,	/* the attach stream is being set up */
	DCGI_START,	/* POST /containers/{id}/start */
	DCGI_RUN,	/* stdin in, stdout out */
	DCGI_HANDED	/* the engine's side: the stream went to a server */
};

#define DCGI_INIT_PATH		"/.dcgi/init"	/* dcgi-init, in a container */
#define DCGI_PRELOAD_PATH	"/.dcgi/preload.py"	/* and dcgi-preload */
#define DCGI_POOL_CHECK_MS	5000	/* image and age checks of a pool */
#define DCGI_POOL_BACKOFF_MS	30000	/* the longest wait after failures */
#define DCGI_POOL_SETTLE_MS	2000	/* a ready one failing sooner: a
					   failed start (pool_failed()) */
#define DCGI_STATUS_MS		2000	/* pool counts to the log, at most */
#define DCGI_PING_MS		2000	/* Health: GET /_ping, this often */
#define DCGI_POOL_START_MS	60000	/* not ready by then: given up */
#define RATE_WINDOW		10	/* seconds of arrivals a pool follows */

/* A prestarted container: created, attached, started, waiting on stdin. */
enum pool_state {
	POOL_CREATE,
	POOL_ATTACH,
	POOL_START,
	POOL_READY
};

struct pooled {
	struct dcgi_route *rs;
	struct pooled	 *prev, *next;	/* the route's, oldest first */
	enum pool_state	  state;
	char		  cid[80];
	char		  cname[80];
	struct docker_call *call;
	struct docker_attach *att;
	int64_t		  t0, t_ready;	/* made, ready (microseconds) */
	int		  starting;	/* counted in dc->starting */
};

/*
 * Network isolated: the route's network namespace, held by a container
 * of its own (see "the holder" below).
 */
enum hold_state {
	HOLD_NONE,
	HOLD_MAKING,	/* create, attach, start */
	HOLD_READY
};

struct holder {
	enum hold_state	  state;
	char		  cid[80];
	char		  cname[80];
	char		 *image;	/* what it was made from */
	struct docker_call *call;
	struct docker_attach *att;
	struct dcgi_job	 *waiting;	/* jobs to create once it is ready */
	int		  fails;	/* in a row: back off */
	int64_t		  retry_at;
	struct loop_timer timer;
};

/*
 * Per route prefix, across reloads: how many containers run, and the
 * route's prestarted containers (its pool), made for `conf`.
 */
struct dcgi_route {
	struct dcgi	  *dc;
	char		  *prefix;
	int		   running;
	struct dcgi_route *next;

	struct conf	  *conf;	/* the config the pool serves; NULL: none */
	const struct conf_route *route;
	int		   want;	/* the pool's size now: Prestart MIN
					   to MAX, from the arrivals */
	char		  *key;		/* the route's container settings */
	char		  *image_id;	/* what the image name led to */
	json_t		  *argv;	/* the image's entrypoint and command */
	struct docker_call *inspect;
	char		   warned[256];	/* the last problem logged */
	int		   preload_warned; /* init_argv() said Preload is off */
	struct pooled	  *phead, *ptail;
	int		   npooled, nready;
	int		   fails;	/* in a row: back off */
	int64_t		   retry_at;	/* no new container before (us) */
	struct loop_timer  timer;	/* checks and retries */
	uint32_t	   arr_n[RATE_WINDOW];	/* requests in second arr_s */
	int64_t		   arr_s[RATE_WINDOW];
	double		   make_s;	/* seconds to make one ready, recently */
	struct holder	   hold;	/* Network isolated */

	/* The cold path through dcgi-init: what the image name led to. */
	char		  *cold_image;	/* the name looked at */
	char		  *cold_id;	/* its ID */
	json_t		  *cold_entry, *cold_cmd;	/* its Entrypoint, Cmd */
	int64_t		   cold_at;	/* when (us); 0: never */
	int64_t		   cold_failed;	/* when a look failed (us) */
	struct docker_call *cold_inspect;
	struct dcgi_job	  *cold_waiting;	/* jobs waiting for the look */
};

struct dcgi_job {
	struct source	  src;		/* what the consumer cancels, resumes */
	struct dcgi	 *dc;
	struct dcgi_job	 *prev, *next;	/* all jobs */
	struct dcgi_job	 *qnext;	/* the wait queue */
	int		  queued;
	struct dcgi_job	 *hnext;	/* waiting for its route's holder, */
	int		  hwait;
	int		  cwait;	/* or for the look at its image */
	struct sink	 *sink;		/* the consumer; NULL once told or gone */
	struct conf	 *conf;
	const struct conf_route *route;	/* an HTTP request, or */
	const struct conf_queue *queue;	/* a queue item */
	const struct conf_run *run;	/* either's container settings */
	char		  name[256];	/* "route /vote", "queue votes" */
	struct dcgi_route *rs;
	struct client	 *client;	/* whom it runs for; NULL: a queue item */
	char		**env;		/* the environment (one allocation) */
	char		 *body;		/* stdin: the request body, the item */

	enum dcgi_state	  state;
	int		  slot;		/* holds a MaxConcurrent slot */
	int		  prestart;	/* 1: took a prestarted one, 2: none */
	int		  starting;	/* counted in dc->starting */
	int		  framed;	/* it runs dcgi-init: frames, END */
	char		 *pre;		/* its environment, before the body */
	size_t		  prelen, preoff;
	char		  reqid[48];	/* a request id or a queue item's id */
	char		  cid[80];	/* the container, once created */
	char		  cname[80];	/* its name, given at create */
	struct docker_call *call;
	struct docker_attach *att;
	struct loop_timer timer;

	size_t		  inlen, inoff;	/* of body */

	char		 *head;		/* stdout until the header block ends */
	size_t		  headlen, headcap;
	int		  answered;	/* the response has started */
	int64_t		  cl_left;	/* the function's Content-Length */
	int		  over;		/* wrote beyond it */
	uint64_t	  outbytes;
	int		  paused;
	int		  dead;		/* ended; freed after this iteration */

	char		  errline[512];	/* stderr, a line at a time */
	size_t		  errlen;
	struct initframe_rd frames;	/* prestarted: dcgi-init's output */
	int		  exit_code;	/* from its END frame; -1: unknown */

	int64_t		  t0, t_queued, t_created, t_attached, t_started,
			  t_first;	/* microseconds */

	int		  handoff;	/* engine: the stream goes to a server */
	uint32_t	  lease;	/* server: the engine's run, 0: none */
	int64_t		  t_sent;	/* server: when it was asked for */
};

struct dcgi {
	struct loop	 *loop;
	struct docker	 *docker;	/* NULL in a server process: */
	struct chan	 *chan;		/* the engine makes the containers */
	uint32_t	  nleases;
	char		  instance[64];	/* "PID:STARTTIME": the dcgi.instance label */
	uint64_t	  nnames;	/* containers named so far */
	struct dcgi_route *routes;
	struct dcgi_job	 *jobs;
	struct dcgi_job	 *qhead, *qtail;
	size_t		  njobs;
	size_t		  nremovals;	/* containers being removed */
	struct removal	 *removals;
	size_t		  running;	/* slots taken, all routes */
	size_t		  pooled;	/* prestarted containers, all routes */
	size_t		  norphans;	/* creates whose job went first */
	struct loop_timer refill;	/* one of them ended: pools_fill() */
	int		  starting;	/* being created and started: */
	int		  max_starting;	/* MaxStarting */
	char		 *init;		/* dcgi-init on this host, or NULL */
	char		 *preload;	/* dcgi-preload.py on this host, or NULL */
	struct secrets	 *secrets;	/* Secret files' copies (secret.h) */
	struct loop_timer status;	/* pool counts to the log */
	char		  status_said[512];
	int		  stopping;
	unsigned	  health;	/* server process: CHAN_HEALTH's */
	int		  swept;	/* the last look before exit was made */
	int		  holders_off;	/* stopping: removed after the last job */
};

struct removal {
	struct dcgi	 *dc;
	struct removal	 *prev, *next;
	struct loop_timer timer;
	int		  tries;
	int		  byname;	/* of a create that got no answer */
	char		  id[80];
};

static void	job_end(struct dcgi_job *);
static void	job_complete(struct dcgi_job *);
static int	client_full(const struct dcgi_job *);
static void	job_try(struct dcgi_job *);
static void	removal_free(struct removal *);
static struct removal *container_remove(struct dcgi *, const char *);
static void	pool_drain(struct dcgi_route *, const char *);
static void	pool_fill(struct dcgi_route *);
static void	pools_fill(struct dcgi *);
static void	route_state_free(struct dcgi_route *);
static void	route_pool_off(struct dcgi_route *, const char *);
static void	dcgi_status_tick(struct loop_timer *);
static void	dcgi_refill(struct loop_timer *);
static void	pool_tick(struct loop_timer *);
static void	job_create(struct dcgi_job *, char **);
static void	queue_wake(struct dcgi *);
static int	queue_needs_capacity(const struct dcgi *);
static void	orphan_adopt(struct dcgi *, struct docker_call *,
		    const char *);
static void	container_name(struct dcgi *, char *, size_t);
static void	container_create_failed(struct dcgi *, const char *, int);
static void	job_handoff(struct dcgi_job *);
static int	holder_want(struct dcgi_route *, const struct conf_run *);
static void	holder_tick(struct loop_timer *);
static void	cold_unwait(struct dcgi_job *);
static int	start_done(struct dcgi *, int *);
static void	slots_changed(struct dcgi *);
static int	is_isolated(const struct conf_run *);
static void	holder_netmode(const struct dcgi_route *, char *, size_t);
static void	holder_off(struct dcgi_route *, const char *);
static void	job_fail(struct dcgi_job *, int, const char *);
static void	job_remote(struct dcgi_job *);


/* A process is named by its pid and its start time (field 22 of stat). */
static int
proc_starttime(long pid, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold anything: count from its last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -1;
	*start = strtoull(p + 1, NULL, 10);
	return 0;
}

/* ----- the orphan sweep ----- */

/* Every container a dcgid made: filters={"label":["dcgi.instance"]} */
#define LIST_INSTANCES	"/containers/json?all=1&filters=%7B%22label%22%3A" \
			"%5B%22dcgi.instance%22%5D%7D"

/* Is the dcgid that labelled a container with `inst` still running? */
static int
instance_alive(const char *inst)
{
	unsigned long long start, want;
	char *e;
	long pid;

	pid = strtol(inst, &e, 10);
	if (e == inst || *e != ':' || pid <= 0)
		return 0;
	want = strtoull(e + 1, NULL, 10);
	return proc_starttime(pid, &start) == 0 && start == want;
}

static void
sweep_removed(void *arg, int status, json_t *body, const char *err)
{
	char *id = arg;
	(void)body;

	if (status == 204 || status == 404)
		log_info("removed container %.12s left by an earlier dcgid", id);
	else
		log_warn("could not remove container %.12s: %s", id,
		    err ? err : "engine refused");
	free(id);
}

static void
sweep_listed(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi *dc = arg;
	size_t i;
	json_t *c;

	if (status != 200 || !json_is_array(body)) {
		log_warn("docker %s: cannot list containers (%s): containers "
		    "left by an earlier dcgid are not removed",
		    docker_host(dc->docker), err ? err : "bad answer");
		return;
	}
	json_array_foreach(body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *inst = json_string_value(json_object_get(
		    json_object_get(c, "Labels"), "dcgi.instance"));
		char path[128], *copy;

		if (id == NULL || inst == NULL || strcmp(inst, dc->instance) == 0 ||
		    instance_alive(inst))
			continue;
		if ((copy = strdup(id)) == NULL)
			continue;
		snprintf(path, sizeof(path), "/containers/%.80s?force=true", id);
		if (docker_call(dc->docker, "DELETE", path, NULL, sweep_removed,
		    copy) == NULL)
			free(copy);
	}
}

/* ----- the dcgi ----- */

/*
 * A helper of dcgid's (dcgi-init, dcgi-preload.py) next to this dcgid or
 * under init/ there (a build tree), else where make install put it
 * (PREFIX/libexec/dcgi beside PREFIX/sbin, or the configured LIBEXECDIR);
 * NULL when it is nowhere (then Prestart and Preload have no effect).
 */
static char *
find_helper(const char *name, int mode)
{
	static const char *rel[] = { "", "init/", "../libexec/dcgi/" };
	char exe[4096], path[4300], real[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				snprintf(path, sizeof(path), "%s/%s%s", exe, rel[i],
				    name);
				if (access(path, mode) == 0 &&
				    realpath(path, real) != NULL)
					return strdup(real);
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s", DCGI_LIBEXECDIR, name);
	if (access(path, mode) == 0)
		return strdup(path);
	return NULL;
}

struct dcgi *
dcgi_new(struct loop *loop, const struct conf *conf, char *err, size_t errlen)
{
	unsigned long long start = 0;
	struct dcgi *dc;

	if ((dc = calloc(1, sizeof(*dc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dc->loop = loop;
	dc->status.fn = dcgi_status_tick;
	dc->refill.fn = dcgi_refill;
	dc->init = find_helper("dcgi-init", X_OK);
	dc->preload = find_helper("dcgi-preload.py", R_OK);
	(void)proc_starttime((long)getpid(), &start);
	snprintf(dc->instance, sizeof(dc->instance), "%ld:%llu", (long)getpid(),
	    start);
	if ((dc->secrets = secrets_new(dc->instance, instance_alive)) == NULL) {
		free(dc->init);
		free(dc->preload);
		free(dc);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((dc->docker = docker_new(loop, conf->docker_host, err, errlen)) ==
	    NULL) {
		secrets_free(dc->secrets);
		free(dc->init);
		free(dc->preload);
		free(dc);
		return NULL;
	}
	secrets_engine(dc->secrets, docker_host(dc->docker));
	/* Containers of a dcgid that died (SIGKILL, a crash): remove them. */
	if (conf->nroutes > 0 || conf->nqueues > 0)
		(void)docker_call(dc->docker, "GET", LIST_INSTANCES, NULL,
		    sweep_listed, dc);
	return dc;
}

void
dcgi_free(struct dcgi *dc)
{
	struct dcgi_route *rs;

	if (dc == NULL)
		return;
	dc->stopping = 1;
	/* Their consumers have cancelled them by now (server_free()). */
	while (dc->jobs != NULL)
		job_end(dc->jobs);
	/* Before docker_free(): their calls and attach streams go first. */
	for (rs = dc->routes; rs != NULL; rs = rs->next) {
		route_pool_off(rs, NULL);
		holder_off(rs, NULL);
		docker_call_forget(rs->cold_inspect);
		rs->cold_inspect = NULL;
	}
	loop_timer_del(dc->loop, &dc->status);
	loop_timer_del(dc->loop, &dc->refill);
	if (dc->docker != NULL)
		docker_free(dc->docker);	/* abandons the calls */
	chan_free(dc->chan);
	while (dc->removals != NULL)
		removal_free(dc->removals);
	while ((rs = dc->routes) != NULL) {
		dc->routes = rs->next;
		route_state_free(rs);
	}
	secrets_free(dc->secrets);
	free(dc->init);
	free(dc->preload);
	free(dc);
}

/* The last look's answer: whatever is still there goes. */
static void
final_listed(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi *dc = arg;
	size_t i;
	json_t *c;

	if (status != 200 || !json_is_array(body)) {
		log_warn("docker %s: cannot list this dcgid's containers before "
		    "exit (%s): the next start removes what is left",
		    docker_host(dc->docker), err ? err : "bad answer");
		return;
	}
	json_array_foreach(body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *inst = json_string_value(json_object_get(
		    json_object_get(c, "Labels"), "dcgi.instance"));

		if (id == NULL || inst == NULL)
			continue;
		if (strcmp(inst, dc->instance) == 0)
			log_warn("container %.12s of this dcgid was still there "
			    "at exit (a create whose answer was lost): "
			    "removing it", id);
		else if (!instance_alive(inst))
			log_info("container %.12s of an earlier dcgid (%s) came "
			    "after the sweep at the start (its create was under "
			    "way as it died): removing it", id, inst);
		else
			continue;
		container_remove(dc, id);
	}
}

/*
 * Stopping, once every job and removal has ended: one last look for
 * containers with this instance's label, and those of dcgids no longer
 * running.  A create whose connection broke while the engine went on
 * making the container can beat the removal by name that followed it
 * (404, then the container appears); a create a dcgid had sent as it was
 * killed can land after the next one's sweep at its start (a slow engine:
 * rootless Podman).  This is the net under both, so that nothing is left
 * at exit.
 */
static int
dcgi_sweep_own(struct dcgi *dc)
{
	dc->swept = 1;
	return docker_call(dc->docker, "GET", LIST_INSTANCES, NULL,
	    final_listed, dc) != NULL;
}

int
dcgi_busy(struct dcgi *dc)
{
	if (dc->njobs > 0)
		return 1;
	if (dc->stopping && !dc->holders_off) {
		/* The last job has ended: the network holders go. */
		dc->holders_off = 1;
		for (struct dcgi_route *rs = dc->routes; rs != NULL;
		    rs = rs->next)
			holder_off(rs, NULL);
	}
	if (dc->nremovals > 0 ||
	    (dc->docker != NULL && docker_pending(dc->docker) > 0))
		return 1;
	if (dc->stopping && dc->docker != NULL && !dc->swept)
		return dcgi_sweep_own(dc);
	return 0;
}

void
dcgi_log_busy(const struct dcgi *dc)
{
	for (const struct dcgi_job *j = dc->jobs; j != NULL; j = j->next)
		log_msg(LOG_LV_WARN, j->reqid, "%s: container %.12s still "
		    "running", j->name, j->cid[0] ? j->cid : "-");
	if (dc->docker != NULL)
		docker_log_pending(dc->docker);
}

size_t
dcgi_running(const struct dcgi *dc)
{
	return dc->running;
}

void
dcgi_metrics(const struct dcgi *dc)
{
	if (dc->docker == NULL)
		return;		/* a server process: the engine's are sent */
	for (const struct dcgi_route *rs = dc->routes; rs != NULL;
	    rs = rs->next)
		metrics_route_gauges(rs->prefix, (unsigned)rs->running,
		    (unsigned)rs->nready, (unsigned)rs->want, rs->conf != NULL);
}

size_t
dcgi_prestarted(const struct dcgi *dc)
{
	size_t n = 0;

	for (const struct dcgi_route *rs = dc->routes; rs != NULL;
	    rs = rs->next)
		n += (size_t)rs->nready;
	return n;
}

/* ----- answering ----- */

/*
 * Where the time went, in microseconds (MX_QUEUE to MX_FB): the wait in
 * line, create, attach and start (all but nothing for a prestarted
 * container), and from the start to the first byte of output.  A phase
 * not reached is 0.
 */
static void
job_phases(const struct dcgi_job *j, int64_t us[MX_FB + 1])
{
	int64_t base = j->t0;

	us[MX_QUEUE] = (j->t_queued ? j->t_queued : base) - base;
	us[MX_CREATE] = us[MX_ATTACH] = us[MX_START] = us[MX_FB] = 0;
	if (j->t_created)
		us[MX_CREATE] = j->t_created - (j->t_queued ? j->t_queued :
		    base);
	if (j->t_attached)
		us[MX_ATTACH] = j->t_attached - j->t_created;
	if (j->t_started)
		us[MX_START] = j->t_started - j->t_attached;
	if (j->t_first)
		us[MX_FB] = j->t_first - (j->t_started ? j->t_started :
		    j->t_first);
}

/* RFC 8673-ish timings for the client: where did the time go? */
static int
job_timing(struct dcgi_job *j, char *buf, size_t len)
{
	int64_t us[MX_FB + 1];

	job_phases(j, us);
	return snprintf(buf, len, "Server-Timing: queue;dur=%.1f, create;dur="
	    "%.1f, attach;dur=%.1f, start;dur=%.1f, fb;dur=%.1f%s\r\n",
	    us[MX_QUEUE] / 1000.0, us[MX_CREATE] / 1000.0,
	    us[MX_ATTACH] / 1000.0, us[MX_START] / 1000.0, us[MX_FB] / 1000.0,
	    j->prestart == 1 ? ", prestart;desc=hit" :
	    j->prestart == 2 ? ", prestart;desc=miss" : "");
}

/*
 * Metrics: the phases of a request's job that it went through, once it
 * has ended; counted where it was answered (not on the engine's side of
 * a handed-over one: its server process counts it).
 */
static void
job_metrics(const struct dcgi_job *j)
{
	const char *prefix;
	int64_t us[MX_FB + 1];

	if (j->route == NULL || j->handoff || j->t_created == 0)
		return;
	prefix = j->route->prefix;
	job_phases(j, us);
	metrics_phase(prefix, MX_QUEUE, us[MX_QUEUE]);
	metrics_phase(prefix, MX_CREATE, us[MX_CREATE]);
	if (j->t_attached)
		metrics_phase(prefix, MX_ATTACH, us[MX_ATTACH]);
	if (j->t_started)
		metrics_phase(prefix, MX_START, us[MX_START]);
	if (j->t_first)
		metrics_phase(prefix, MX_FB, us[MX_FB]);
}

/*
 * Tell the consumer how the job ended, once; the job lets go of it.
 * The sink only records it (sink.h): j is still whole afterwards.
 */
static void
job_tell(struct dcgi_job *j, const struct sink_result *res)
{
	struct sink *sink = j->sink;

	j->sink = NULL;
	if (sink != NULL)
		sink_end(sink, res);
}

/* End the job with an error: `status` when nothing was sent yet. */
static void
job_fail(struct dcgi_job *j, int status, const char *extra)
{
	struct sink_result res = { 0 };
	char hdrs[512];
	int n;

	if (j->queue != NULL) {
		res.kind = SINK_EXITED;
		res.status = -1;
		res.why = status == 503 ? "the engine is unreachable" :
		    status == 504 ? "Timeout" : "the container could not run";
	} else if (!j->answered) {
		n = job_timing(j, hdrs, sizeof(hdrs));
		if (extra != NULL && n > 0 && (size_t)n < sizeof(hdrs))
			snprintf(hdrs + n, sizeof(hdrs) - (size_t)n, "%s", extra);
		res.kind = SINK_ERROR;
		res.status = status;
		res.headers = hdrs;
	} else
		res.kind = SINK_CUT;	/* halfway through: all we can do */
	job_tell(j, &res);
	job_end(j);
}

static void
job_timeout(struct loop_timer *t)
{
	struct dcgi_job *j = LOOP_OWNER(t, struct dcgi_job, timer);

	if (j->state == DCGI_QUEUED && !j->queued) {
		job_try(j);		/* the first attempt, just after start */
		return;
	}
	if (j->state == DCGI_QUEUED && client_full(j)) {
		/* One client's burst: a line for the burst, not each request. */
		if (client_limited(j->client, CLIENT_CONTAINERS, loop_clock_us() / 1000))
			log_msg(LOG_LV_WARN, j->reqid, "%s: client %s holds "
			    "MaxContainersPerClient (%d) containers: its "
			    "requests that wait longer than %dms get 503 "
			    "(said once per burst)", j->name, j->client->name,
			    j->conf->max_containers_per_client,
			    DCGI_QUEUE_WAIT_MS);
		job_fail(j, 503, "Retry-After: 1\r\n");
		return;
	}
	if (j->state == DCGI_QUEUED) {
		log_msg(LOG_LV_WARN, j->reqid, "%s: no container slot "
		    "within %dms (MaxConcurrent %d, MaxContainers %d, "
		    "MaxStarting %d)%s", j->name, DCGI_QUEUE_WAIT_MS, j->route ?
		    j->route->max_concurrent : 0, j->conf->max_containers,
		    j->conf->max_starting, j->route ? ": 503" : "");
		job_fail(j, 503, "Retry-After: 1\r\n");
		return;
	}
	log_msg(LOG_LV_WARN, j->reqid, "%s: Timeout %lldms reached; "
	    "killing container %.12s%s", j->name,
	    (long long)j->run->timeout_ms, j->cid[0] ? j->cid : "-",
	    !j->answered ? ": 504" : j->sink != NULL ?
	    " (response cut short)" : " (after its complete response)");
	job_fail(j, 504, NULL);
}

/* The function's header block is complete in j->head[0..len). */
static void
job_headers(struct dcgi_job *j, size_t len)
{
	struct cgi_response cr;
	const char *why = NULL;
	char *hdrs = NULL;
	size_t hlen = 0, cap;
	int kind, status, n;

	kind = cgi_parse(j->head, len, &cr, &why);
	if (kind == -1) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: %s: 502 (check "
		    "what the function prints before its body)",
		    j->name, why);
		job_fail(j, 502, NULL);
		return;
	}
	if (kind == CGI_LOCAL_REDIRECT) {
		struct sink_result res = { 0 };

		res.kind = SINK_REDIRECT;
		res.location = cr.location;
		j->answered = 1;
		job_tell(j, &res);
		job_end(j);
		return;
	}
	status = cr.status ? cr.status : kind == CGI_CLIENT_REDIRECT ? 302 : 200;
	cap = 512 + (cr.content_type ? strlen(cr.content_type) : 0) +
	    (cr.location ? strlen(cr.location) : 0);
	for (int i = 0; i < cr.nheaders; i++)
		cap += strlen(cr.headers[i].name) + strlen(cr.headers[i].value) + 4;
	if ((hdrs = malloc(cap)) == NULL) {
		job_fail(j, 500, NULL);
		return;
	}
	if (cr.content_type != NULL)
		hlen += (size_t)snprintf(hdrs + hlen, cap - hlen,
		    "Content-Type: %s\r\n", cr.content_type);
	if (cr.location != NULL)
		hlen += (size_t)snprintf(hdrs + hlen, cap - hlen,
		    "Location: %s\r\n", cr.location);
	for (int i = 0; i < cr.nheaders; i++)
		hlen += (size_t)snprintf(hdrs + hlen, cap - hlen, "%s: %s\r\n",
		    cr.headers[i].name, cr.headers[i].value);
	n = job_timing(j, hdrs + hlen, cap - hlen);
	if (n > 0 && (size_t)n < cap - hlen)
		hlen += (size_t)n;
	j->cl_left = cr.content_length;
	j->answered = 1;
	n = sink_head(j->sink, status, hdrs, hlen, cr.content_length);
	free(hdrs);
	if (n == -1)
		job_fail(j, 500, NULL);	/* the consumer has gone: cut */
	else if (cr.content_length == 0)
		job_complete(j);
}

/*
 * All of its Content-Length is out: the response is complete now,
 * whenever the function exits.  It runs on (and keeps its slot) until it
 * does or Timeout; what it writes more is dropped, and nothing holds its
 * stream back any more.
 */
static void
job_complete(struct dcgi_job *j)
{
	struct sink_result res = { 0 };

	res.kind = SINK_DONE;
	job_tell(j, &res);
	if (j->paused) {
		j->paused = 0;
		docker_attach_pause(j->att, 0);
	}
}

/* Body bytes from the function to the consumer. */
static void
job_body(struct dcgi_job *j, const char *p, size_t n)
{
	ssize_t held;

	if (j->cl_left >= 0 && (int64_t)n > j->cl_left) {
		if (!j->over)
			log_msg(LOG_LV_WARN, j->reqid, "%s: output beyond its "
			    "Content-Length dropped", j->name);
		j->over = 1;
		n = (size_t)j->cl_left;
	}
	if (j->cl_left >= 0)
		j->cl_left -= (int64_t)n;
	j->outbytes += n;
	if (n == 0 || j->sink == NULL)
		return;
	if ((held = sink_body(j->sink, p, n)) == -1) {
		job_fail(j, 500, NULL);	/* nobody wants the rest: cut */
		return;
	}
	if (j->cl_left == 0) {
		job_complete(j);
		return;
	}
	/*
	 * Back-pressure: a client that reads slowly (or never) stops the
	 * reading of the attach stream, so the function blocks on its
	 * stdout instead of dcgid buffering its output without bound; the
	 * route's Timeout still ends it.
	 */
	if ((size_t)held > DCGI_QUEUED_MAX && !j->paused) {
		j->paused = 1;
		docker_attach_pause(j->att, 1);
	}
}

/*
 * The container this job started runs: the answer to its start, or its
 * output, which can come first (and the job end before that answer).
 * Once: a prestarted container (job_take()) or a granted one is started
 * already, and was counted where it was started.
 */
static void
job_started_at(struct dcgi_job *j, int64_t t)
{
	if (j->t_started != 0)
		return;
	j->t_started = t;
	if (j->route != NULL)
		metrics_count(MX_STARTED, j->route->prefix);
}

static void
job_stdout(struct dcgi_job *j, const char *p, size_t n)
{
	long end;

	if (j->queue != NULL)
		return;		/* a queue run answers with its exit status */
	if (j->t_first == 0) {
		j->t_first = loop_clock_us();
		/* Output can come before the answer to the start call. */
		job_started_at(j, j->t_first);
	}
	if (j->answered) {
		job_body(j, p, n);
		return;
	}
	if (j->headlen + n > j->headcap) {
		size_t nc = j->headcap ? j->headcap : 1024, take = n;
		char *nb;

		while (nc < j->headlen + n && nc < DCGI_HEAD_MAX + 1)
			nc *= 2;
		if (nc > DCGI_HEAD_MAX + 1)
			nc = DCGI_HEAD_MAX + 1;
		if ((nb = realloc(j->head, nc)) == NULL) {
			job_fail(j, 500, NULL);
			return;
		}
		j->head = nb;
		j->headcap = nc;
		if (take > nc - j->headlen)
			take = nc - j->headlen;
		memcpy(j->head + j->headlen, p, take);
		j->headlen += take;
		p += take;
		n -= take;
	} else {
		memcpy(j->head + j->headlen, p, n);
		j->headlen += n;
		n = 0;
	}
	end = cgi_head_end(j->head, j->headlen, DCGI_HEAD_MAX);
	if (end == -1 || (end == 0 && j->headlen > DCGI_HEAD_MAX)) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: header block larger "
		    "than %d bytes: 502", j->name, DCGI_HEAD_MAX);
		job_fail(j, 502, NULL);
		return;
	}
	if (end == 0)
		return;
	{
		/* What followed the header block is the start of the body. */
		size_t rest = j->headlen - (size_t)end;
		char *tail = NULL;

		if (rest > 0 && (tail = malloc(rest)) == NULL) {
			job_fail(j, 500, NULL);
			return;
		}
		if (rest > 0)
			memcpy(tail, j->head + end, rest);
		job_headers(j, (size_t)end);
		if (!j->dead && j->answered) {
			if (rest > 0)
				job_body(j, tail, rest);
			if (n > 0 && !j->dead)
				job_body(j, p, n);
		}
		free(tail);
	}
}

static void
job_stderr(struct dcgi_job *j, const char *p, size_t n, int flush)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || j->errlen == sizeof(j->errline) - 1) {
			j->errline[j->errlen] = '\0';
			log_msg(LOG_LV_INFO, j->reqid, "%s stderr: %s",
			    j->name, j->errline);
			j->errlen = 0;
			if (p[i] == '\n')
				continue;
		}
		j->errline[j->errlen++] = p[i];
	}
	if (flush && j->errlen > 0) {
		j->errline[j->errlen] = '\0';
		log_msg(LOG_LV_INFO, j->reqid, "%s stderr: %s",
		    j->name, j->errline);
		j->errlen = 0;
	}
}

/* Write what stdin takes of j->pre (dcgi-init's environment); 0 when it
 * is all out, -1 when the stream is closed. */
static int
job_feed_pre(struct dcgi_job *j)
{
	while (j->preoff < j->prelen) {
		ssize_t w = docker_attach_write(j->att, j->pre + j->preoff,
		    j->prelen - j->preoff);
		if (w == -1)
			return -1;
		if (w == 0)
			return 1;
		j->preoff += (size_t)w;
	}
	return 0;
}

/*
 * Write as much to stdin as it takes: dcgi-init's environment first (a
 * container that runs it), then the body; EOF after the last byte.
 */
static void
job_feed(struct dcgi_job *j)
{
	int rc = job_feed_pre(j);

	if (rc == 1)
		return;		/* DOCKER_WRITABLE follows */
	if (rc == -1) {
		j->preoff = j->prelen;
		j->inoff = j->inlen;
	}
	while (j->inoff < j->inlen) {
		ssize_t w = docker_attach_write(j->att, j->body + j->inoff,
		    j->inlen - j->inoff);
		if (w == -1) {
			/* The process may exit without reading: not an error. */
			j->inoff = j->inlen;
			break;
		}
		if (w == 0)
			return;		/* DOCKER_WRITABLE follows */
		j->inoff += (size_t)w;
	}
	docker_attach_close_stdin(j->att);
}

/* POST /containers/{id}/wait: a queue item's exit status. */
static void
job_waited(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_job *j = arg;
	json_t *code = json_object_get(body, "StatusCode");
	struct sink_result res = { 0 };

	j->call = NULL;
	res.kind = SINK_EXITED;
	if (status != 200 || !json_is_integer(code)) {
		res.status = -1;
		res.why = err ? err : "no exit status";
	} else
		res.status = (int)json_integer_value(code);
	job_tell(j, &res);
	job_end(j);
}

/* The process has exited (its stream closed). */
static void
job_eof(struct dcgi_job *j)
{
	job_stderr(j, NULL, 0, 1);
	if (j->queue != NULL) {
		char path[160];

		snprintf(path, sizeof(path), "/containers/%s/wait", j->cid);
		if ((j->call = docker_call(j->dc->docker, "POST", path, NULL,
		    job_waited, j)) == NULL)
			job_fail(j, 500, NULL);
		return;
	}
	if (!j->answered) {
		char st[32] = "";

		if (j->exit_code >= 0)
			snprintf(st, sizeof(st), " (exit status %d)",
			    j->exit_code);
		log_msg(LOG_LV_ERROR, j->reqid, "%s: the function exited%s "
		    "%s: 502", j->name, st, j->headlen == 0 ?
		    "without any output" : "before the end of its header block "
		    "(an empty line)");
		job_fail(j, 502, NULL);
		return;
	}
	if (j->cl_left > 0) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: output ended %lld bytes "
		    "short of its Content-Length", j->name,
		    (long long)j->cl_left);
		job_fail(j, 502, NULL);
		return;
	}
	{
		struct sink_result res = { 0 };

		res.kind = SINK_DONE;
		job_tell(j, &res);
	}
	job_end(j);
}

static void
job_started(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_job *j = arg;
	const char *msg = json_string_value(json_object_get(body, "message"));

	j->call = NULL;
	/* Its place goes to the next in line (that never names j). */
	if (start_done(j->dc, &j->starting))
		slots_changed(j->dc);
	if (status != 204 && status != 304) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: cannot start "
		    "container %.12s: %s", j->name, j->cid,
		    msg ? msg : err ? err : "engine error");
		job_fail(j, status == 0 ? 503 : 502, NULL);
		return;
	}
	job_started_at(j, loop_clock_us());
	if (j->handoff) {
		job_handoff(j);
		return;
	}
	j->state = DCGI_RUN;
	job_feed(j);
}

/*
 * A prestarted container's stdout: dcgi-init's frames (envblock.h) of the
 * function's stdout and stderr, then its END, where the job ends at once
 * (job_eof()): the engine reports the container's exit tens of
 * milliseconds later, and the container is removed all the same.
 */
static void
job_frames(struct dcgi_job *j, const char *p, size_t n)
{
	const char *data, *why;
	size_t dlen;
	int type;

	while (n > 0 && !j->dead) {
		long used = initframe_next(&j->frames, p, n, &type, &data,
		    &dlen, &why);

		if (used == -1) {
			log_msg(LOG_LV_ERROR, j->reqid, "%s: container %.12s: "
			    "dcgi-init's output is broken (%s): 502", j->name,
			    j->cid, why);
			job_fail(j, 502, NULL);
			return;
		}
		p += used;
		n -= (size_t)used;
		if (type == INITFRAME_OUT)
			job_stdout(j, data, dlen);
		else if (type == INITFRAME_ERR)
			job_stderr(j, data, dlen, 0);
		else if (type == INITFRAME_END) {
			j->exit_code = (unsigned char)data[0];
			job_eof(j);
		}
	}
}

static int
job_attach_event(void *arg, enum docker_event ev, const char *data,
    size_t len)
{
	struct dcgi_job *j = arg;
	char path[160];

	switch (ev) {
	case DOCKER_ATTACHED:
		j->t_attached = loop_clock_us();
		/*
		 * Stdin before the start (the engine holds it for the process,
		 * as for docker run -i): the process reads its request as it
		 * starts, not after the answer to the start reaches us.  A
		 * server process writes the body itself; here only the
		 * environment goes, and not a byte is read.
		 */
		if (j->handoff) {
			docker_attach_pause(j->att, 1);
			job_feed_pre(j);
		} else
			job_feed(j);
		j->state = DCGI_START;
		snprintf(path, sizeof(path), "/containers/%s/start", j->cid);
		if ((j->call = docker_call(j->dc->docker, "POST", path, NULL,
		    job_started, j)) == NULL)
			job_fail(j, 500, NULL);
		break;
	case DOCKER_STDOUT:
		if (j->handoff) {
			/* Output the server process would never see. */
			log_msg(LOG_LV_ERROR, j->reqid, "%s: container %.12s "
			    "wrote before its stream was handed over: 502",
			    j->name, j->cid);
			job_fail(j, 502, NULL);
			break;
		}
		if (j->framed)
			job_frames(j, data, len);
		else
			job_stdout(j, data, len);
		break;
	case DOCKER_STDERR:
		job_stderr(j, data, len, 0);
		break;
	case DOCKER_WRITABLE:
		if (j->handoff)
			(void)job_feed_pre(j);	/* the body is the server's */
		else
			job_feed(j);
		break;
	case DOCKER_EOF:
		job_eof(j);
		break;
	case DOCKER_FAILED:
		log_msg(LOG_LV_ERROR, j->reqid, "%s: container %.12s: %.*s",
		    j->name, j->cid, (int)len, data);
		job_fail(j, 502, NULL);
		break;
	}
	/* docker.c sees for itself whether the attach was freed. */
	return 0;
}

static void
job_created(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_job *j = arg;
	const char *msg = json_string_value(json_object_get(body, "message"));
	const char *id = json_string_value(json_object_get(body, "Id"));

	j->call = NULL;
	container_create_failed(j->dc, j->cname, status);
	if (status == 0) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: Docker engine at %s "
		    "unreachable (%s): 503; is dockerd running?",
		    j->name, docker_host(j->dc->docker),
		    err ? err : "no answer");
		job_fail(j, 503, "Retry-After: 5\r\n");
		return;
	}
	if (status == 404) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: image %s not found "
		    "on the engine: 502; build it (make images) or fix Image",
		    j->name, j->run->image);
		job_fail(j, 502, NULL);
		return;
	}
	if (status != 201 || id == NULL || strlen(id) >= sizeof(j->cid)) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: cannot create a "
		    "container from %s: %s: 502", j->name,
		    j->run->image, msg ? msg : "unexpected answer");
		job_fail(j, 502, NULL);
		return;
	}
	snprintf(j->cid, sizeof(j->cid), "%s", id);
	j->t_created = loop_clock_us();
	j->state = DCGI_ATTACH;
	if ((j->att = docker_attach(j->dc->docker, j->cid, job_attach_event,
	    j)) == NULL)
		job_fail(j, 500, NULL);
}

/*
 * POST /containers/create: the environment and the safe defaults.  `env`
 * NULL: none (a prestarted container's comes on stdin).  Labelled with
 * `kind` ("dcgi.route" or "dcgi.queue") = `name`, the instance, `reqid`.
 */
static json_t *
run_spec(struct dcgi *dc, const struct conf_run *run, char **env,
    const char *kind, const char *name, const char *reqid)
{
	json_t *spec, *hc, *a, *labels, *binds, *tmpfs;
	char buf[600];

	spec = json_object();
	hc = json_object();
	labels = json_object();
	tmpfs = json_object();
	if (spec == NULL || hc == NULL || labels == NULL || tmpfs == NULL)
		goto fail;
	json_object_set_new(spec, "Image", json_string(run->image));
	if (run->command != NULL) {
		if ((a = json_array()) == NULL)
			goto fail;
		for (char **c = run->command; *c != NULL; c++)
			json_array_append_new(a, json_string(*c));
		json_object_set_new(spec, "Cmd", a);
	}
	if (env != NULL) {
		if ((a = json_array()) == NULL)
			goto fail;
		for (char **e = env; *e != NULL; e++)
			json_array_append_new(a, json_string(*e));
		json_object_set_new(spec, "Env", a);
	}
	if (run->user != NULL)
		json_object_set_new(spec, "User", json_string(run->user));
	/* DESIGN.md: stdin reaches the process only with all of these. */
	json_object_set_new(spec, "OpenStdin", json_true());
	json_object_set_new(spec, "StdinOnce", json_true());
	json_object_set_new(spec, "AttachStdin", json_true());
	json_object_set_new(spec, "AttachStdout", json_true());
	json_object_set_new(spec, "AttachStderr", json_true());
	json_object_set_new(spec, "Tty", json_false());
	json_object_set_new(labels, kind, json_string(name));
	json_object_set_new(labels, "dcgi.instance", json_string(dc->instance));
	json_object_set_new(labels, "dcgi.request", json_string(reqid));
	json_object_set_new(spec, "Labels", labels);
	labels = NULL;

	json_object_set_new(hc, "NetworkMode", json_string(run->network));
	if (run->runtime != NULL)
		json_object_set_new(hc, "Runtime", json_string(run->runtime));
	json_object_set_new(hc, "Memory", json_integer(run->memory));
	json_object_set_new(hc, "MemorySwap", json_integer(run->memory));
	json_object_set_new(hc, "PidsLimit", json_integer(run->pids));
	if (run->cpus > 0)
		json_object_set_new(hc, "NanoCpus",
		    json_integer((json_int_t)(run->cpus * 1e9)));
	json_object_set_new(hc, "ReadonlyRootfs", json_boolean(run->read_only));
	json_object_set_new(hc, "CapDrop", json_pack("[s]", "ALL"));
	json_object_set_new(hc, "SecurityOpt", json_pack("[s]",
	    "no-new-privileges"));
	json_object_set_new(tmpfs, "/tmp", json_string(DCGI_TMPFS));
	json_object_set_new(hc, "Tmpfs", tmpfs);
	tmpfs = NULL;
	/* Output goes to us over the attach stream, never to a log file. */
	json_object_set_new(hc, "LogConfig", json_pack("{s:s}", "Type", "none"));
	if (run->nmounts > 0 || run->nsecrets > 0) {
		if ((binds = json_array()) == NULL)
			goto fail;
		json_object_set_new(hc, "Binds", binds);
		for (size_t i = 0; i < run->nmounts; i++) {
			snprintf(buf, sizeof(buf), "%s:%s:%s", run->mounts[i].src,
			    run->mounts[i].dst, run->mounts[i].ro ? "ro" : "rw");
			json_array_append_new(binds, json_string(buf));
		}
		/* A copy of the file's content (secret.h), never the content. */
		for (size_t i = 0; i < run->nsecrets; i++) {
			const struct conf_secret *sc = &run->secrets[i];

			if (sc->copy == NULL) {
				log_error("%s:%d: Secret %s: no copy of %s (see "
				    "the error when it was loaded)", sc->file,
				    sc->line, sc->name, sc->src);
				goto fail;
			}
			snprintf(buf, sizeof(buf), "%s:/run/secrets/%s:ro",
			    sc->copy, sc->name);
			json_array_append_new(binds, json_string(buf));
		}
	}
	json_object_set_new(spec, "HostConfig", hc);
	return spec;
fail:
	json_decref(spec);
	json_decref(hc);
	json_decref(labels);
	json_decref(tmpfs);
	return NULL;
}

/*
 * The environment a container of route r is created with when its
 * environment otherwise comes on stdin: with Preload, the route's Env, so
 * that what the interpreter imports ahead can use it (open a database
 * connection the Env names) before the request; else none.
 */
static char **
preload_env(const struct conf_route *r)
{
	return r != NULL && r->preload ? r->run.env : NULL;
}

static json_t *
job_spec(struct dcgi_job *j, char **env)
{
	return run_spec(j->dc, j->run, env, j->route ? "dcgi.route" :
	    "dcgi.queue", j->route ? j->route->prefix : j->queue->name,
	    j->reqid);
}

static struct dcgi_route *
route_state(struct dcgi *dc, const char *prefix)
{
	struct dcgi_route *rs;

	for (rs = dc->routes; rs != NULL; rs = rs->next)
		if (strcmp(rs->prefix, prefix) == 0)
			return rs;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return NULL;
	rs->dc = dc;
	rs->timer.fn = pool_tick;
	rs->hold.timer.fn = holder_tick;
	if ((rs->prefix = strdup(prefix)) == NULL) {
		free(rs);
		return NULL;
	}
	rs->next = dc->routes;
	dc->routes = rs;
	return rs;
}

/* ----- prestarted containers ----- */

/*
 * A route with Prestart N keeps N containers created, attached and
 * started, each waiting in dcgi-init for one request (see
 * httpd/init/dcgi-init.c).
 * They are made from the image ID the name led to at the last look (every
 * DCGI_POOL_CHECK_MS), with dcgi-init as entrypoint and the image's own
 * entrypoint and command (or the route's Command) as its arguments.  A
 * request takes the oldest ready one and writes its environment and body
 * to stdin; a replacement is started when the job ends.  Nothing is ever
 * used twice.  They
 * count against MaxContainers: when a request or a queue item needs a slot
 * that idle ones hold, an idle one is removed for it, and pools fill again
 * only while nobody waits for a slot.
 */

static void
route_warn(struct dcgi_route *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Say a problem of the pool once, not at every try. */
static void
route_warn(struct dcgi_route *rs, const char *fmt, ...)
{
	char msg[sizeof(rs->warned)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, rs->warned) == 0)
		return;
	memcpy(rs->warned, msg, sizeof(msg));
	log_warn("<Route %s>: %s", rs->prefix, msg);
}

/* ----- MaxStarting: what the engine starts at once ----- */

/*
 * The engine starts containers fastest a few at a time and more slowly
 * beyond that (bench/engine.sh): every create-to-start, of a request's
 * container or a pool's, takes one of MaxStarting places.  A request that
 * finds no ready prestarted container and no place waits in line (at most
 * DCGI_QUEUE_WAIT_MS, then 503 with Retry-After), and pools fill only
 * with places no request waits for.  Network holders are not counted.
 */
static void
start_take(struct dcgi *dc, int *counted)
{
	if (!*counted) {
		*counted = 1;
		dc->starting++;
	}
}

/* A start is over (made, failed or abandoned); 1 when it was counted. */
static int
start_done(struct dcgi *dc, int *counted)
{
	if (!*counted)
		return 0;
	*counted = 0;
	dc->starting--;
	return 1;
}

static int
start_room(const struct dcgi *dc)
{
	/* A server process asks the engine, which counts. */
	return dc->docker == NULL || dc->starting < dc->max_starting;
}

/* ----- Prestart MIN MAX: the pool's size ----- */

/* A request for the route: counted per second over RATE_WINDOW. */
static void
route_arrival(struct dcgi_route *rs)
{
	int64_t sec = loop_clock_us() / 1000000;
	int i = (int)(sec % RATE_WINDOW);

	if (rs->arr_s[i] != sec) {
		rs->arr_s[i] = sec;
		rs->arr_n[i] = 0;
	}
	rs->arr_n[i]++;
}

/* Requests per second over the last RATE_WINDOW seconds. */
static double
route_rate(const struct dcgi_route *rs)
{
	int64_t sec = loop_clock_us() / 1000000;
	uint32_t n = 0;

	for (int i = 0; i < RATE_WINDOW; i++)
		if (sec - rs->arr_s[i] < RATE_WINDOW)
			n += rs->arr_n[i];
	return (double)n / RATE_WINDOW;
}

/*
 * How many prestarted containers the route keeps now.  Prestart N: N.
 * Prestart MIN MAX: by Little's law the arrivals of one make time are
 * in the making at once (rate x seconds to make one ready, as measured),
 * and one more waits ready for the next; at least MIN, at most MAX.  A
 * route with less than a request a minute keeps MIN.
 */
static int
pool_size(const struct dcgi_route *rs)
{
	const struct conf_route *r = rs->route;
	double rate, need;
	int n;

	if (r == NULL)
		return 0;
	if (r->prestart_max <= r->prestart)
		return r->prestart;
	rate = route_rate(rs);
	if (rate * 60 < 1)
		return r->prestart;
	need = rate * (rs->make_s > 0 ? rs->make_s : 0.5);
	n = (int)need + (need > (int)need) + 1;
	return n < r->prestart ? r->prestart : n > r->prestart_max ?
	    r->prestart_max : n;
}

static void
pooled_free(struct pooled *p, int remove)
{
	struct dcgi_route *rs = p->rs;
	struct dcgi *dc = rs->dc;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		rs->phead = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		rs->ptail = p->prev;
	rs->npooled--;
	dc->pooled--;
	(void)start_done(dc, &p->starting);
	if (p->state == POOL_READY)
		rs->nready--;
	if (p->state == POOL_CREATE && p->call != NULL)
		orphan_adopt(dc, p->call, p->cname);
	else
		docker_call_forget(p->call);
	docker_attach_free(p->att);
	/* Until the engine has removed it, it holds its place (pool_fill()). */
	if (remove && p->cid[0] != '\0')
		container_remove(dc, p->cid);
	free(p);
}

/* Prestarted containers came or went: a job waiting for a slot may go. */
static void
slots_changed(struct dcgi *dc)
{
	if (!dc->stopping)
		queue_wake(dc);
}

/*
 * A prestarted container failed.  One that was ready for a while died
 * (killed from outside, the engine restarted): replaced at once.  One
 * that could not be made ready, or failed within DCGI_POOL_SETTLE_MS of
 * it: wait, longer after each failure in a row (until one is used or
 * lasts), then again.
 */
static void
pool_failed(struct pooled *p, const char *why)
{
	struct dcgi_route *rs = p->rs;
	int64_t wait;

	/*
	 * A ready one that fails soon after its start (its program exited,
	 * or wrote, at once) fails as a start does: with a pause before the
	 * next, not one container after another as fast as the engine goes.
	 */
	if (p->state == POOL_READY &&
	    loop_clock_us() - p->t_ready >= DCGI_POOL_SETTLE_MS * 1000) {
		log_warn("<Route %s>: prestarted container %.12s %s; "
		    "replacing it", rs->prefix, p->cid, why);
		rs->fails = 0;
		pooled_free(p, 1);
		pool_fill(rs);
		slots_changed(rs->dc);
		return;
	}
	route_warn(rs, "cannot prestart a container: %s; requests start "
	    "their containers cold meanwhile", why);
	pooled_free(p, 1);
	if (rs->fails < 16)
		rs->fails++;
	wait = (int64_t)250 << (rs->fails < 8 ? rs->fails : 8);
	if (wait > DCGI_POOL_BACKOFF_MS)
		wait = DCGI_POOL_BACKOFF_MS;
	rs->retry_at = loop_clock_us() + wait * 1000;
	loop_timer_set(rs->dc->loop, &rs->timer, wait);
	slots_changed(rs->dc);
}

static void
pool_started(void *arg, int status, json_t *body, const char *err)
{
	struct pooled *p = arg;
	struct dcgi_route *rs = p->rs;
	const char *msg = json_string_value(json_object_get(body, "message"));
	char why[300];

	p->call = NULL;
	(void)start_done(rs->dc, &p->starting);
	if (status != 204 && status != 304) {
		snprintf(why, sizeof(why), "start: %s", msg ? msg : err ? err :
		    "engine error");
		pool_failed(p, why);
		return;
	}
	metrics_count(MX_STARTED, rs->prefix);
	p->state = POOL_READY;
	p->t_ready = loop_clock_us();
	/* What a container takes to make here, recently (for pool_size()). */
	rs->make_s = rs->make_s > 0 ? 0.75 * rs->make_s + 0.25 *
	    (double)(p->t_ready - p->t0) / 1e6 : (double)(p->t_ready - p->t0) /
	    1e6;
	rs->nready++;
	rs->warned[0] = '\0';
	slots_changed(rs->dc);
}

static int
pool_event(void *arg, enum docker_event ev, const char *data, size_t len)
{
	struct pooled *p = arg;
	char path[160], why[400];

	switch (ev) {
	case DOCKER_ATTACHED:
		p->state = POOL_START;
		snprintf(path, sizeof(path), "/containers/%s/start", p->cid);
		if ((p->call = docker_call(p->rs->dc->docker, "POST", path,
		    NULL, pool_started, p)) == NULL)
			pool_failed(p, "out of memory");
		break;
	case DOCKER_STDOUT:
	case DOCKER_STDERR:
		snprintf(why, sizeof(why), "wrote before its request (%.*s)",
		    (int)(len > 200 ? 200 : len), data);
		pool_failed(p, why);
		break;
	case DOCKER_WRITABLE:
		break;
	case DOCKER_EOF:
		pool_failed(p, "exited while waiting");
		break;
	case DOCKER_FAILED:
		snprintf(why, sizeof(why), "attach: %.*s", (int)len, data);
		pool_failed(p, why);
		break;
	}
	return 0;
}

static void
pool_created(void *arg, int status, json_t *body, const char *err)
{
	struct pooled *p = arg;
	const char *msg = json_string_value(json_object_get(body, "message"));
	const char *id = json_string_value(json_object_get(body, "Id"));
	char why[300];

	p->call = NULL;
	container_create_failed(p->rs->dc, p->cname, status);
	if (status != 201 || id == NULL || strlen(id) >= sizeof(p->cid)) {
		snprintf(why, sizeof(why), "create: %s", msg ? msg : err ? err :
		    "unexpected answer");
		pool_failed(p, why);
		return;
	}
	snprintf(p->cid, sizeof(p->cid), "%s", id);
	p->state = POOL_ATTACH;
	if ((p->att = docker_attach(p->rs->dc->docker, p->cid, pool_event,
	    p)) == NULL)
		pool_failed(p, "out of memory");
}

/*
 * The spec of a container whose first process is dcgi-init: the image by
 * the ID its name led to, dcgi-init bind-mounted read-only as entrypoint,
 * `argv` (the image's entrypoint and command, or Command) its arguments.
 */
static void
spec_init(struct dcgi *dc, json_t *spec, const char *image_id, json_t *argv)
{
	json_t *hc = json_object_get(spec, "HostConfig"), *binds;
	char bind[4200];

	json_object_set_new(spec, "Image", json_string(image_id));
	json_object_set_new(spec, "Entrypoint", json_pack("[s]",
	    DCGI_INIT_PATH));
	json_object_set(spec, "Cmd", argv);
	if ((binds = json_object_get(hc, "Binds")) == NULL) {
		binds = json_array();
		json_object_set_new(hc, "Binds", binds);
	}
	snprintf(bind, sizeof(bind), "%s:%s:ro", dc->init, DCGI_INIT_PATH);
	json_array_append_new(binds, json_string(bind));
	if (dc->preload != NULL && strcmp(json_string_value(json_array_get(argv,
	    0)) ? json_string_value(json_array_get(argv, 0)) : "",
	    "--preload") == 0) {
		snprintf(bind, sizeof(bind), "%s:%s:ro", dc->preload,
		    DCGI_PRELOAD_PATH);
		json_array_append_new(binds, json_string(bind));
	}
}

/*
 * dcgi-init's arguments for a route, from the image's (or Command's)
 * `argv`: as they are, or with Preload python
 *
 *	--preload PYTHON /.dcgi/preload.py --import M,... -- SCRIPT ARG...
 *
 * when argv is an interpreter (python, python3, python3.11) and a script
 * with no options before it.  A new reference.
 */
static json_t *
init_argv(struct dcgi_route *rs, const struct conf_route *r, json_t *argv)
{
	const char *a0 = json_string_value(json_array_get(argv, 0));
	const char *a1 = json_string_value(json_array_get(argv, 1));
	const char *base;
	char mods[PRELOAD_NAMES_MAX + 1] = "";
	size_t n = 0, i;
	json_t *out, *v;

	if (r == NULL || !r->preload)
		return json_incref(argv);
	base = a0 != NULL && strrchr(a0, '/') != NULL ? strrchr(a0, '/') + 1 : a0;
	if (rs->dc->preload == NULL || base == NULL || a1 == NULL ||
	    strncmp(base, "python", 6) != 0 || a1[0] == '-') {
		/* Once per configuration: the image is looked at every 5 s. */
		if (rs->preload_warned)
			return json_incref(argv);
		rs->preload_warned = 1;
		route_warn(rs, "Preload python: %s; its containers start the "
		    "function with its request as without Preload",
		    rs->dc->preload == NULL ? "dcgi-preload.py is not next to "
		    "dcgid nor in " DCGI_LIBEXECDIR : "the command is not "
		    "\"python... SCRIPT ...\"");
		return json_incref(argv);
	}
	for (char **m = r->preload_modules; m != NULL && *m != NULL; m++)
		n += (size_t)snprintf(mods + n, n < sizeof(mods) ?
		    sizeof(mods) - n : 0, "%s%s", n ? "," : "", *m);
	if (n >= sizeof(mods) || (out = json_array()) == NULL)
		return json_incref(argv);
	json_array_append_new(out, json_string("--preload"));
	json_array_append_new(out, json_string(a0));
	json_array_append_new(out, json_string(DCGI_PRELOAD_PATH));
	if (n > 0) {
		json_array_append_new(out, json_string("--import"));
		json_array_append_new(out, json_string(mods));
	}
	json_array_append_new(out, json_string("--"));
	json_array_foreach(argv, i, v)
		if (i > 0)
			json_array_append(out, v);
	return out;
}

/* GET /images/NAME/json, the name escaped. */
static void
image_path(const char *img, char *path, size_t len)
{
	size_t n;

	n = (size_t)snprintf(path, len, "/images/");
	for (; *img != '\0' && n + 10 < len; img++) {
		unsigned char ch = (unsigned char)*img;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("._/:@-", ch) != NULL)
			path[n++] = (char)ch;
		else
			n += (size_t)snprintf(path + n, 4, "%%%02X", ch);
	}
	snprintf(path + n, len - n, "/json");
}

/* One more prestarted container for the route. */
static int
pool_create(struct dcgi_route *rs)
{
	struct dcgi *dc = rs->dc;
	struct pooled *p;
	json_t *spec;
	char bind[4200];

	if (rs->image_id == NULL || rs->argv == NULL)
		return -1;
	spec = run_spec(dc, &rs->route->run, preload_env(rs->route),
	    "dcgi.route", rs->prefix, "prestarted");
	if (spec == NULL || (p = calloc(1, sizeof(*p))) == NULL) {
		json_decref(spec);
		return -1;
	}
	spec_init(dc, spec, rs->image_id, rs->argv);
	if (is_isolated(&rs->route->run)) {
		holder_netmode(rs, bind, sizeof(bind));
		json_object_set_new(json_object_get(spec, "HostConfig"),
		    "NetworkMode", json_string(bind));
	}

	p->rs = rs;
	p->state = POOL_CREATE;
	p->t0 = loop_clock_us();
	p->prev = rs->ptail;
	if (rs->ptail != NULL)
		rs->ptail->next = p;
	else
		rs->phead = p;
	rs->ptail = p;
	rs->npooled++;
	dc->pooled++;
	start_take(dc, &p->starting);
	container_name(dc, p->cname, sizeof(p->cname));
	snprintf(bind, sizeof(bind), "/containers/create?name=%s", p->cname);
	p->call = docker_call(dc->docker, "POST", bind, spec, pool_created, p);
	json_decref(spec);
	if (p->call == NULL) {
		pooled_free(p, 0);
		return -1;
	}
	return 0;
}

/* Remove all of a route's prestarted containers; `why` for the log. */
static void
pool_drain(struct dcgi_route *rs, const char *why)
{
	int n = rs->npooled;

	while (rs->phead != NULL)
		pooled_free(rs->phead, 1);
	if (n > 0 && why != NULL)
		log_info("<Route %s>: %d prestarted container%s removed: %s",
		    rs->prefix, n, n == 1 ? "" : "s", why);
}

/* What the last look at the image found no longer holds. */
static void
pool_forget_image(struct dcgi_route *rs)
{
	free(rs->image_id);
	rs->image_id = NULL;
	json_decref(rs->argv);
	rs->argv = NULL;
}

/* GET /images/{name}/json: the image's ID, entrypoint and command. */
static void
pool_inspected(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_route *rs = arg;
	const char *msg = json_string_value(json_object_get(body, "message"));
	json_t *cfg = json_object_get(body, "Config"), *argv, *v;
	const char *id = json_string_value(json_object_get(body, "Id"));
	const struct conf_run *run;
	size_t i;
	char *nid;

	rs->inspect = NULL;
	if (rs->conf == NULL)
		return;
	run = &rs->route->run;
	if (status != 200 || id == NULL) {
		route_warn(rs, "cannot prestart: image %s: %s; requests start "
		    "their containers cold", run->image, msg ? msg : err ? err :
		    "engine error");
		/* No answer: the next look decides.  Else what is idle goes. */
		rs->retry_at = loop_clock_us() + DCGI_POOL_CHECK_MS * 1000;
		if (status == 0)
			return;
		pool_forget_image(rs);
		pool_drain(rs, "the image is not there");
		slots_changed(rs->dc);
		return;
	}
	if ((argv = json_array()) == NULL)
		return;
	json_array_foreach(json_object_get(cfg, "Entrypoint"), i, v)
		json_array_append(argv, v);
	if (run->command != NULL)
		for (char **c = run->command; *c != NULL; c++)
			json_array_append_new(argv, json_string(*c));
	else
		json_array_foreach(json_object_get(cfg, "Cmd"), i, v)
			json_array_append(argv, v);
	if (json_array_size(argv) == 0) {
		json_decref(argv);
		route_warn(rs, "cannot prestart: image %s has no entrypoint or "
		    "command, and the route sets no Command", run->image);
		rs->retry_at = loop_clock_us() + DCGI_POOL_CHECK_MS * 1000;
		pool_forget_image(rs);
		pool_drain(rs, "nothing to run");
		slots_changed(rs->dc);
		return;
	}
	if (rs->image_id != NULL && strcmp(rs->image_id, id) != 0) {
		pool_drain(rs, "the image changed");
		slots_changed(rs->dc);
	}
	if ((nid = strdup(id)) == NULL) {
		json_decref(argv);
		return;
	}
	v = init_argv(rs, rs->route, argv);
	json_decref(argv);
	argv = v;
	free(rs->image_id);
	rs->image_id = nid;
	json_decref(rs->argv);
	rs->argv = argv;
	pool_fill(rs);
}

static void
pool_inspect(struct dcgi_route *rs)
{
	char path[600];

	if (rs->inspect != NULL)
		return;
	image_path(rs->route->run.image, path, sizeof(path));
	rs->inspect = docker_call(rs->dc->docker, "GET", path, NULL,
	    pool_inspected, rs);
}

/* Start containers until the route has its N, as far as slots allow. */
static void
pool_fill(struct dcgi_route *rs)
{
	struct dcgi *dc = rs->dc;

	if (dc->stopping || rs->conf == NULL || rs->want == 0 ||
	    dc->init == NULL || loop_clock_us() < rs->retry_at)
		return;
	if (rs->argv == NULL) {
		pool_inspect(rs);
		return;
	}
	if (holder_want(rs, &rs->route->run) != 0)
		return;		/* holder_started() fills it */
	while (rs->npooled < rs->want && !queue_needs_capacity(dc) &&
	    start_room(dc) && dc->running + dc->pooled + dc->nremovals +
	    dc->norphans < (size_t)rs->conf->max_containers)
		if (pool_create(rs) == -1)
			break;
}

/*
 * After a job: refill a route's pool once none of its requests runs, or
 * at once when fewer than half are left.  A container started beside a
 * request slows it down (bench/prestart.sh: 10-15 ms); between bursts the
 * pool fills in the pause, under steady load it keeps at least half.  (The
 * 5 s look at the image fills it too, whatever runs.)
 */
static void
pools_fill(struct dcgi *dc)
{
	for (struct dcgi_route *rs = dc->routes; rs != NULL; rs = rs->next) {
		if (rs->conf == NULL)
			continue;
		rs->want = pool_size(rs);
		if (rs->want > 0 && rs->npooled < rs->want &&
		    (rs->running == 0 || 2 * rs->nready < rs->want))
			pool_fill(rs);
	}
}

/* Every DCGI_POOL_CHECK_MS: replace the old, look at the image again. */
static void
pool_tick(struct loop_timer *t)
{
	struct dcgi_route *rs = LOOP_OWNER(t, struct dcgi_route, timer);
	struct pooled *p, *next;
	int64_t now = loop_clock_us(), max_age;
	int old = 0;

	if (rs->conf == NULL || rs->dc->stopping)
		return;
	max_age = rs->route->prestart_max_age_ms * 1000;
	for (p = rs->phead; p != NULL; p = next) {
		next = p->next;
		if (p->state == POOL_READY && now - p->t_ready >= max_age) {
			pooled_free(p, 1);
			old++;
		}
	}
	if (old > 0)
		log_info("<Route %s>: %d prestarted container%s idle for "
		    "PrestartMaxAge: replaced", rs->prefix, old, old == 1 ?
		    "" : "s");
	/* Prestart MIN MAX: fewer wanted now, the extra idle ones go. */
	rs->want = pool_size(rs);
	for (p = rs->phead; p != NULL && rs->npooled > rs->want; p = next) {
		next = p->next;
		if (p->state == POOL_READY) {
			pooled_free(p, 1);
			old++;
		}
	}
	/* The engine never finished making one (an attach unanswered). */
	for (p = rs->phead; p != NULL; p = next) {
		next = p->next;
		if (p->state != POOL_READY &&
		    now - p->t0 >= (int64_t)DCGI_POOL_START_MS * 1000) {
			pool_failed(p, "not started within 60 s");
			break;		/* pool_failed() may have changed the list */
		}
	}
	if (old > 0)
		slots_changed(rs->dc);
	if (now >= rs->retry_at)
		pool_inspect(rs);	/* fills when it answers */
	loop_timer_set(rs->dc->loop, &rs->timer,
	    rs->route->prestart_max_age_ms < DCGI_POOL_CHECK_MS ?
	    rs->route->prestart_max_age_ms : DCGI_POOL_CHECK_MS);
}

/* A ready prestarted container for a job of this route, or NULL. */
static struct pooled *
pool_ready(const struct dcgi_job *j)
{
	struct dcgi_route *rs = j->rs;

	if (rs == NULL || rs->conf != j->conf || rs->nready == 0)
		return NULL;
	/* One whose stream has ended, unseen yet, is not taken (it goes
	 * when the loop sees its EOF). */
	for (struct pooled *p = rs->phead; p != NULL; p = p->next)
		if (p->state == POOL_READY && docker_attach_idle(p->att))
			return p;
	return NULL;
}

/*
 * MaxContainers is reached and idle prestarted containers hold slots:
 * remove one (from the route that has most ready) so that a job can run.
 */
static int
pool_evict(struct dcgi *dc)
{
	struct dcgi_route *best = NULL;
	struct pooled *p;

	for (struct dcgi_route *rs = dc->routes; rs != NULL; rs = rs->next)
		if (rs->nready > 0 && (best == NULL ||
		    rs->nready > best->nready))
			best = rs;
	if (best == NULL)
		return 0;
	for (p = best->phead; p->state != POOL_READY; p = p->next)
		;
	pooled_free(p, 1);
	return 1;
}

/* "/a 2/2, /b 0/4": ready of wanted, per route with a pool. */
static void
pool_status(const struct dcgi *dc, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const struct dcgi_route *rs = dc->routes; rs != NULL;
	    rs = rs->next) {
		if (rs->want == 0 && rs->npooled == 0)
			continue;
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s %d/%d",
			    n ? ", " : "", rs->prefix, rs->nready, rs->want);
	}
}

static void
dcgi_status_tick(struct loop_timer *t)
{
	struct dcgi *dc = LOOP_OWNER(t, struct dcgi, status);
	char buf[sizeof(dc->status_said)];

	pool_status(dc, buf, sizeof(buf));
	if (strcmp(buf, dc->status_said) != 0) {
		if (buf[0] != '\0')
			log_info("prestarted containers ready: %s", buf);
		memcpy(dc->status_said, buf, sizeof(buf));
	}
	if (buf[0] != '\0' && !dc->stopping)
		loop_timer_set(dc->loop, &dc->status, DCGI_STATUS_MS);
}

/* The key of a route's container settings: a change drains the pool. */
/* ----- Network isolated: the holder ----- */

/*
 * A route with `Network isolated` keeps one small container, its holder:
 * network none (a namespace of its own with only loopback), dcgi-init
 * waiting on stdin (--hold) and nothing else, no capabilities, 16 MiB.
 * The route's containers, cold and prestarted, join its namespace
 * (NetworkMode container:ID), so the engine makes no network namespace
 * per container: most of what network none costs at start
 * (bench/README.md).  The trade, in the README: the route's containers
 * share loopback with each other, never with another route's or the host.
 *
 * Made on first need (a job or the pool), watched over its attach stream
 * (its end is its death: made again at once, or after failures with
 * backoff), removed when the route stops being isolated or dcgid stops.
 * It is not one of the route's containers (no dcgi.route label, not
 * counted against MaxContainers); the sweeps know it by dcgi.instance.
 */
#define HOLD_MEMORY	(16 * 1024 * 1024)

static int
is_isolated(const struct conf_run *run)
{
	return strcmp(run->network, "isolated") == 0;
}

static void	holder_make(struct dcgi_route *);

/* A job waits no more (it ended, or the holder is ready for it). */
static void
holder_unwait(struct dcgi_job *j)
{
	struct dcgi_job **pp;

	if (!j->hwait)
		return;
	for (pp = &j->rs->hold.waiting; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == j) {
			*pp = j->hnext;
			break;
		}
	j->hnext = NULL;
	j->hwait = 0;
}

/* Jobs that waited for the holder: all failed with `status`. */
static void
holder_fail_waiting(struct dcgi_route *rs, int status)
{
	struct dcgi_job *j;

	while ((j = rs->hold.waiting) != NULL) {
		holder_unwait(j);
		job_fail(j, status, status == 503 ? "Retry-After: 1\r\n" : NULL);
	}
}

/* Let go of the container (and its calls); back to HOLD_NONE. */
static void
holder_drop(struct holder *h, struct dcgi *dc)
{
	if (h->state == HOLD_MAKING && h->cid[0] == '\0' && h->call != NULL)
		orphan_adopt(dc, h->call, h->cname);
	else
		docker_call_forget(h->call);
	h->call = NULL;
	docker_attach_free(h->att);
	h->att = NULL;
	if (h->cid[0] != '\0')
		container_remove(dc, h->cid);
	h->cid[0] = '\0';
	h->state = HOLD_NONE;
}

/*
 * It could not be made: the jobs waiting get `status` (503: the engine is
 * unreachable, 502: what it said is logged), and the next try waits.
 */
static void
holder_failed(struct dcgi_route *rs, int status, const char *why)
{
	struct holder *h = &rs->hold;
	int64_t wait;

	route_warn(rs, "Network isolated: cannot make the network holder: %s; "
	    "requests get %d meanwhile", why, status);
	holder_drop(h, rs->dc);
	if (h->fails < 16)
		h->fails++;
	wait = (int64_t)250 << (h->fails < 8 ? h->fails : 8);
	if (wait > DCGI_POOL_BACKOFF_MS)
		wait = DCGI_POOL_BACKOFF_MS;
	h->retry_at = loop_clock_us() + wait * 1000;
	loop_timer_set(rs->dc->loop, &h->timer, wait);
	holder_fail_waiting(rs, status);
}

static void
holder_started(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_route *rs = arg;
	struct holder *h = &rs->hold;
	const char *msg = json_string_value(json_object_get(body, "message"));
	struct dcgi_job *j;
	char why[300];

	h->call = NULL;
	if (status != 204 && status != 304) {
		snprintf(why, sizeof(why), "start: %s", msg ? msg : err ? err :
		    "engine error");
		holder_failed(rs, status == 0 ? 503 : 502, why);
		return;
	}
	h->state = HOLD_READY;
	h->fails = 0;
	log_info("<Route %s>: Network isolated: network holder %.12s ready",
	    rs->prefix, h->cid);
	/* Those that waited go now, first come first. */
	while (h->waiting != NULL) {
		for (j = h->waiting; j->hnext != NULL; j = j->hnext)
			;
		holder_unwait(j);
		job_create(j, j->env);
	}
	pool_fill(rs);
}

static int
holder_event(void *arg, enum docker_event ev, const char *data, size_t len)
{
	struct dcgi_route *rs = arg;
	struct holder *h = &rs->hold;
	char path[160], why[300];

	switch (ev) {
	case DOCKER_ATTACHED:
		snprintf(path, sizeof(path), "/containers/%s/start", h->cid);
		if ((h->call = docker_call(rs->dc->docker, "POST", path, NULL,
		    holder_started, rs)) == NULL)
			holder_failed(rs, 500, "out of memory");
		break;
	case DOCKER_WRITABLE:
		break;
	case DOCKER_STDOUT:
	case DOCKER_STDERR:
	case DOCKER_EOF:
	case DOCKER_FAILED:
		snprintf(why, sizeof(why), "%s%.*s", ev == DOCKER_EOF ?
		    "exited" : ev == DOCKER_FAILED ? "attach: " : "wrote: ",
		    ev == DOCKER_EOF ? 0 : (int)(len > 200 ? 200 : len), data);
		if (h->state == HOLD_READY) {
			/* It died (killed from outside, the engine restarted). */
			log_warn("<Route %s>: Network isolated: network holder "
			    "%.12s %s; making a new one", rs->prefix, h->cid, why);
			holder_drop(h, rs->dc);
			holder_make(rs);
		} else
			holder_failed(rs, 502, why);
		break;
	}
	return 0;
}

static void
holder_created(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_route *rs = arg;
	struct holder *h = &rs->hold;
	const char *msg = json_string_value(json_object_get(body, "message"));
	const char *id = json_string_value(json_object_get(body, "Id"));
	char why[400];

	h->call = NULL;
	container_create_failed(rs->dc, h->cname, status);
	if (status != 201 || id == NULL || strlen(id) >= sizeof(h->cid)) {
		snprintf(why, sizeof(why), "create from %s: %s", h->image,
		    status == 404 ? "no such image (make images, or fix "
		    "Image)" : msg ? msg : err ? err : "unexpected answer");
		holder_failed(rs, status == 0 ? 503 : 502, why);
		return;
	}
	snprintf(h->cid, sizeof(h->cid), "%s", id);
	if ((h->att = docker_attach(rs->dc->docker, h->cid, holder_event,
	    rs)) == NULL)
		holder_failed(rs, 500, "out of memory");
}

/* Create, attach and start the holder, from h->image. */
static void
holder_make(struct dcgi_route *rs)
{
	struct dcgi *dc = rs->dc;
	struct holder *h = &rs->hold;
	struct conf_run run;
	json_t *spec, *hc, *labels;
	char buf[4200];

	memset(&run, 0, sizeof(run));
	run.image = h->image;
	run.network = "none";
	run.memory = HOLD_MEMORY;
	run.pids = 4;
	run.read_only = 1;
	run.user = "65534:65534";
	if ((spec = run_spec(dc, &run, NULL, "dcgi.holder", rs->prefix,
	    "holder")) == NULL) {
		holder_failed(rs, 500, "out of memory");
		return;
	}
	/* Only the holder's labels: it is none of the route's containers. */
	labels = json_object_get(spec, "Labels");
	json_object_del(labels, "dcgi.request");
	json_object_set_new(spec, "Entrypoint", json_pack("[s]",
	    DCGI_INIT_PATH));
	json_object_set_new(spec, "Cmd", json_pack("[s]", "--hold"));
	hc = json_object_get(spec, "HostConfig");
	json_object_del(hc, "Tmpfs");
	snprintf(buf, sizeof(buf), "%s:%s:ro", dc->init, DCGI_INIT_PATH);
	json_object_set_new(hc, "Binds", json_pack("[s]", buf));
	h->state = HOLD_MAKING;
	container_name(dc, h->cname, sizeof(h->cname));
	snprintf(buf, sizeof(buf), "/containers/create?name=%s", h->cname);
	h->call = docker_call(dc->docker, "POST", buf, spec, holder_created, rs);
	json_decref(spec);
	if (h->call == NULL)
		holder_failed(rs, 500, "out of memory");
}

static void
holder_tick(struct loop_timer *t)
{
	struct dcgi_route *rs = LOOP_OWNER(t, struct dcgi_route, hold.timer);

	if (rs->hold.state == HOLD_NONE && !rs->dc->stopping &&
	    (rs->hold.waiting != NULL || rs->want > 0))
		holder_make(rs);
}

/*
 * A container of `run` is wanted for the route: 0 when its holder is
 * ready (or the route is not isolated), 1 when it is being made (wait),
 * or the status to fail with (it cannot be made now; logged).
 */
static int
holder_want(struct dcgi_route *rs, const struct conf_run *run)
{
	struct holder *h = &rs->hold;
	char *img;

	if (!is_isolated(run) || h->state == HOLD_READY)
		return 0;
	if (rs->dc->init == NULL) {
		route_warn(rs, "Network isolated needs dcgi-init (not next to "
		    "dcgid nor in %s): 502", DCGI_LIBEXECDIR);
		return 502;
	}
	if (h->state == HOLD_MAKING)
		return 1;
	if (loop_clock_us() < h->retry_at)
		return 503;	/* it failed a moment ago (logged) */
	if (h->image == NULL || strcmp(h->image, run->image) != 0) {
		if ((img = strdup(run->image)) == NULL)
			return 500;
		free(h->image);
		h->image = img;
	}
	holder_make(rs);
	return h->state == HOLD_READY ? 0 : h->state == HOLD_MAKING ? 1 : 503;
}

/* Not isolated any more, or stopping: waiting jobs get 503, it goes. */
static void
holder_off(struct dcgi_route *rs, const char *why)
{
	struct holder *h = &rs->hold;

	loop_timer_del(rs->dc->loop, &h->timer);
	if (h->state != HOLD_NONE && why != NULL)
		log_info("<Route %s>: network holder %.12s removed: %s",
		    rs->prefix, h->cid[0] ? h->cid : h->cname, why);
	holder_drop(h, rs->dc);
	h->fails = 0;
	h->retry_at = 0;
	holder_fail_waiting(rs, 503);
}

/* "container:ID" of the route's ready holder into buf, for NetworkMode. */
static void
holder_netmode(const struct dcgi_route *rs, char *buf, size_t len)
{
	snprintf(buf, len, "container:%s", rs->hold.cid);
}

static char *
route_key(struct dcgi *dc, const struct conf_route *r)
{
	json_t *spec = run_spec(dc, &r->run, preload_env(r), "dcgi.route",
	    r->prefix, "-"), *mods;
	char *key;

	if (spec == NULL)
		return NULL;
	/* Preload changes what its containers run, as Command does. */
	if (r->preload && (mods = json_array()) != NULL) {
		for (char **m = r->preload_modules; m != NULL && *m != NULL; m++)
			json_array_append_new(mods, json_string(*m));
		json_object_set_new(spec, "dcgi.preload", mods);
	}
	key = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(spec);
	return key;
}

/* The pool gives up its settings (the route went, or Prestart 0). */
static void
route_pool_off(struct dcgi_route *rs, const char *why)
{
	pool_drain(rs, why);
	docker_call_forget(rs->inspect);
	rs->inspect = NULL;
	loop_timer_del(rs->dc->loop, &rs->timer);
	if (rs->conf != NULL)
		conf_unref(rs->conf);
	rs->conf = NULL;
	rs->route = NULL;
	rs->want = 0;
	free(rs->key);
	rs->key = NULL;
	free(rs->image_id);
	rs->image_id = NULL;
	json_decref(rs->argv);
	rs->argv = NULL;
	rs->retry_at = 0;
	rs->fails = 0;
	rs->warned[0] = '\0';
}

/* Freed by dcgi_free(), after route_pool_off(). */
static void
route_state_free(struct dcgi_route *rs)
{
	free(rs->hold.image);
	free(rs->cold_image);
	free(rs->cold_id);
	json_decref(rs->cold_entry);
	json_decref(rs->cold_cmd);
	free(rs->prefix);
	free(rs);
}

/*
 * Copy the Secret files of conf's routes and queues (secret.h): now, as
 * the configuration is applied, so a container sees the content the
 * file had at the (re)load.
 */
static void
configure_secrets(struct dcgi *dc, struct conf *conf)
{
	char err[PATH_MAX + 200];

	for (size_t i = 0; i < conf->nroutes + conf->nqueues; i++) {
		struct conf_run *run = i < conf->nroutes ?
		    &conf->routes[i].run : &conf->queues[i - conf->nroutes].run;

		for (size_t k = 0; k < run->nsecrets; k++) {
			struct conf_secret *sc = &run->secrets[k];
			const char *copy;

			if (sc->copy != NULL)
				continue;	/* applied before */
			if ((copy = secrets_copy(dc->secrets, sc->src, err,
			    sizeof(err))) == NULL || (sc->copy = strdup(copy)) ==
			    NULL)
				log_error("%s:%d: Secret %s: %s: the containers "
				    "that need it fail until a reload", sc->file,
				    sc->line, sc->name, copy ? "out of memory" :
				    err);
		}
	}
}

void
dcgi_configure(struct dcgi *dc, struct conf *conf)
{
	struct dcgi_route *rs;
	int any = 0;

	if (dc->docker == NULL)
		return;		/* a server process: the engine has the pools */
	configure_secrets(dc, conf);
	if (!dc->stopping)
		docker_ping(dc->docker, conf->health != NULL ? DCGI_PING_MS : 0);
	dc->max_starting = conf->max_starting;
	/*
	 * Pools of routes that went or stopped prestarting go, and holders
	 * of routes no longer isolated.
	 */
	for (rs = dc->routes; rs != NULL; rs = rs->next) {
		const struct conf_route *r = NULL;

		rs->preload_warned = 0;		/* said again for this one */
		for (size_t i = 0; i < conf->nroutes; i++)
			if (strcmp(conf->routes[i].prefix, rs->prefix) == 0)
				r = &conf->routes[i];
		if (rs->conf != NULL && (r == NULL || r->prestart_max == 0))
			route_pool_off(rs, r == NULL ? "the route is gone" :
			    "Prestart is off");
		if (r == NULL || !is_isolated(&r->run))
			holder_off(rs, r == NULL ? "the route is gone" :
			    "the route is no longer isolated");
	}
	for (size_t i = 0; i < conf->nroutes; i++) {
		const struct conf_route *r = &conf->routes[i];
		char *key;

		if (r->prestart_max == 0)
			continue;
		any = 1;
		if (dc->init == NULL) {
			log_warn("%s:%d: <Route %s>: Prestart %d: dcgi-init is "
			    "not next to dcgid nor in %s: every request starts "
			    "its container cold", r->file, r->line, r->prefix,
			    r->prestart, DCGI_LIBEXECDIR);
			continue;
		}
		if ((rs = route_state(dc, r->prefix)) == NULL ||
		    (key = route_key(dc, r)) == NULL) {
			log_error("<Route %s>: Prestart: out of memory",
			    r->prefix);
			continue;
		}
		if (rs->key != NULL && strcmp(rs->key, key) != 0)
			route_pool_off(rs, "the route's settings changed");
		free(rs->key);
		rs->key = key;
		if (rs->conf != NULL)
			conf_unref(rs->conf);
		rs->conf = conf_ref(conf);
		rs->route = r;
		rs->want = pool_size(rs);
		/* Fewer wanted: the extra go, ready ones first. */
		for (int ready = 1; ready >= 0; ready--)
			for (struct pooled *p = rs->ptail, *prev; p != NULL &&
			    rs->npooled > rs->want; p = prev) {
				prev = p->prev;
				if ((p->state == POOL_READY) == ready)
					pooled_free(p, 1);
			}
		/* Look at the image now (a reload may follow a rebuild). */
		loop_timer_set(dc->loop, &rs->timer, 0);
	}
	if (any && !dc->stopping)
		loop_timer_set(dc->loop, &dc->status, DCGI_STATUS_MS);
	slots_changed(dc);
}

/* Does j's client hold all the containers it may (MaxContainersPerClient)? */
static int
client_full(const struct dcgi_job *j)
{
	int max = j->conf->max_containers_per_client;

	return j->client != NULL && max > 0 && j->client->containers >= max;
}

/*
 * May j run now?  A prestarted container it takes is already counted
 * against MaxContainers; otherwise idle ones give way when needed (this
 * removes one: call it only when j runs if it says yes).
 */
static int
job_slot_free(const struct dcgi_job *j)
{
	struct dcgi *dc = j->dc;

	if (j->rs != NULL && j->rs->running >= j->route->max_concurrent)
		return 0;
	if (client_full(j))
		return 0;
	if (pool_ready(j) != NULL)
		return 1;
	if (!start_room(dc))
		return 0;
	if (dc->running + dc->pooled < (size_t)j->conf->max_containers)
		return 1;
	return dc->running < (size_t)j->conf->max_containers &&
	    pool_evict(dc);
}

/* Hand a prestarted container to j: its environment, then the body. */
static void
job_take(struct dcgi_job *j, struct pooled *p, char **env)
{
	if ((j->pre = envblock_make(env, &j->prelen)) == NULL) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: the environment is too "
		    "large for a prestarted container (over %d bytes), or out "
		    "of memory: 500", j->name, ENVBLOCK_MAX);
		job_fail(j, 500, NULL);
		return;
	}
	snprintf(j->cid, sizeof(j->cid), "%s", p->cid);
	j->att = p->att;
	p->att = NULL;
	p->cid[0] = '\0';
	docker_attach_rebind(j->att, job_attach_event, j);
	p->rs->fails = 0;	/* one made it to a request */
	pooled_free(p, 0);
	j->prestart = 1;
	j->framed = 1;
	j->t_created = j->t_attached = j->t_started = loop_clock_us();
	j->state = DCGI_RUN;
	/*
	 * Its replacement is started by job_end() (pools_fill()), once the
	 * answer is out: a container start on the same CPUs beside the
	 * request made it 10-15 ms slower (bench/prestart.sh).
	 */
	if (j->handoff)
		job_handoff(j);
	else
		job_feed(j);
}

/*
 * The engine's side of a request (privilege separation): the container
 * is running and attached; its stream goes to the server process that
 * asked, with what that needs to go on (the environment block a
 * prestarted container reads first, the timings).  The job stays, with
 * its slot and its Timeout, until the server lets go of it (cancel) or
 * the time is up; then job_end() removes the container as always.
 */
static void
job_handoff(struct dcgi_job *j)
{
	struct sink_attach sa;
	int64_t base = j->t_queued ? j->t_queued : j->t0;
	int fd;

	if ((fd = docker_attach_release(j->att)) == -1) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: container %.12s: its "
		    "stream cannot be handed over (output before the "
		    "request): 502", j->name, j->cid);
		job_fail(j, 502, NULL);
		return;
	}
	j->att = NULL;
	j->state = DCGI_HANDED;
	memset(&sa, 0, sizeof(sa));
	sa.cid = j->cid;
	sa.prestart = j->prestart;
	sa.framed = j->framed;
	sa.queued_us = base - j->t0;
	sa.create_us = j->t_created - base;
	sa.attach_us = j->t_attached - j->t_created;
	sa.start_us = j->t_started - j->t_attached;
	/* What stdin did not take before the start, the server writes. */
	sa.pre = j->pre + j->preoff;
	sa.prelen = j->prelen - j->preoff;
	if (j->sink == NULL || j->sink->ops->attached == NULL) {
		close(fd);
		job_fail(j, 500, NULL);
	} else if (j->sink->ops->attached(j->sink, fd, &sa) == -1)
		job_fail(j, 500, NULL);
}

static void
queue_remove(struct dcgi *dc, struct dcgi_job *j)
{
	struct dcgi_job **pp;

	for (pp = &dc->qhead; *pp != NULL; pp = &(*pp)->qnext)
		if (*pp == j) {
			*pp = j->qnext;
			break;
		}
	dc->qtail = NULL;
	for (struct dcgi_job *q = dc->qhead; q != NULL; q = q->qnext)
		dc->qtail = q;
	j->qnext = NULL;
}

/* ----- a server process: the engine makes the containers ----- */

/* Ask the engine for a container for j (CHAN_RUN). */
static void
job_remote(struct dcgi_job *j)
{
	struct dcgi *dc = j->dc;
	struct chan_buf b = { 0 };
	uint32_t n = 0;

	if (++dc->nleases == 0)
		dc->nleases = 1;
	for (char **e = j->env; e != NULL && *e != NULL; e++)
		n++;
	chan_put_cstr(&b, j->route->prefix);
	chan_put_cstr(&b, j->reqid);
	chan_put_cstr(&b, j->client != NULL ? j->client->name : "");
	chan_put_u32(&b, n);
	for (char **e = j->env; e != NULL && *e != NULL; e++)
		chan_put_cstr(&b, *e);
	j->t_sent = loop_clock_us();
	if (b.err || chan_send(dc->chan, CHAN_RUN, dc->nleases, b.p, b.len,
	    -1) == -1) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: cannot ask the engine "
		    "process for a container (the request's environment is "
		    "over %d bytes, or the engine has gone): 500", j->name,
		    CHAN_MAX);
		chan_buf_free(&b);
		job_fail(j, 500, NULL);
		return;
	}
	chan_buf_free(&b);
	j->lease = dc->nleases;
}

static int64_t
clamp_us(int64_t t, int64_t max)
{
	return t > max ? max : t;
}

/* CHAN_GRANT: the container runs; its stream is m->fd. */
static void
job_granted(struct dcgi_job *j, struct chan_msg *m)
{
	struct chan_rd r = { m->data, m->len, 0 };
	uint32_t pre, framed, q, cr, at, st;
	const char *pb;
	size_t plen;
	char cid[80];
	int64_t now = loop_clock_us();

	if (m->fd == -1 && m->fd_lost) {
		/* The engine removes the container (the release). */
		log_msg(LOG_LV_ERROR, j->reqid, "%s: no descriptor left for "
		    "the container's stream (RLIMIT_NOFILE): 503", j->name);
		job_fail(j, 503, "Retry-After: 1\r\n");
		return;
	}
	(void)chan_get_cstr(&r, cid, sizeof(cid));
	pre = chan_get_u32(&r);
	framed = chan_get_u32(&r);
	q = chan_get_u32(&r);
	cr = chan_get_u32(&r);
	at = chan_get_u32(&r);
	st = chan_get_u32(&r);
	pb = chan_get_str(&r, &plen);
	if (r.err || m->fd == -1 || pre > 2 || framed > 1 ||
	    plen > ENVBLOCK_MAX ||
	    (plen > 0 && (j->pre = malloc(plen)) == NULL)) {
		log_msg(LOG_LV_ERROR, j->reqid, "%s: a grant from the engine "
		    "process that makes no sense: 500", j->name);
		job_fail(j, 500, NULL);
		return;
	}
	if (plen > 0)
		memcpy(j->pre, pb, plen);
	j->prelen = plen;
	j->preoff = 0;
	snprintf(j->cid, sizeof(j->cid), "%s", cid);
	j->prestart = (int)pre;
	j->framed = (int)framed;
	/* The engine's wait in line is part of the request's (queue). */
	j->t_queued = clamp_us(j->t_sent + q, now);
	j->t_created = clamp_us(j->t_queued + cr, now);
	j->t_attached = clamp_us(j->t_created + at, now);
	j->t_started = clamp_us(j->t_attached + st, now);
	j->att = docker_attach_fd(j->dc->loop, m->fd, job_attach_event, j);
	m->fd = -1;
	if (j->att == NULL) {
		job_fail(j, 500, NULL);
		return;
	}
	j->state = DCGI_RUN;
	job_feed(j);
}

/* A message from the engine process. */
static void
dcgi_chan_msg(void *arg, struct chan_msg *m)
{
	struct dcgi *dc = arg;
	struct dcgi_job *j;
	struct chan_rd r = { m->data, m->len, 0 };
	char hdrs[512];
	uint32_t status;

	if (m->type == CHAN_EOF) {
		/* Its containers are beyond reach now: stop at once. */
		log_error("the engine process has gone (%.*s): the server "
		    "process exits", (int)m->len, m->data);
		_exit(1);
	}
	for (j = dc->jobs; j != NULL; j = j->next)
		if (j->lease == m->id && !j->dead)
			break;
	switch (m->type) {
	case CHAN_GRANT:
		if (j == NULL || j->state != DCGI_CREATE) {
			/* It went meanwhile (the client, its Timeout). */
			(void)chan_send(dc->chan, CHAN_RELEASE, m->id, NULL, 0,
			    -1);
			break;
		}
		job_granted(j, m);
		break;
	case CHAN_REFUSE:
	case CHAN_END:
		if (j == NULL)
			break;
		status = chan_get_u32(&r);
		hdrs[0] = '\0';
		if (m->type == CHAN_REFUSE)
			(void)chan_get_cstr(&r, hdrs, sizeof(hdrs));
		if (r.err || status < 400 || status > 599)
			status = 502;
		/* The engine has let go already, and logged why. */
		j->lease = 0;
		job_fail(j, (int)status, hdrs[0] ? hdrs : NULL);
		break;
	case CHAN_HEALTH:
		status = chan_get_u32(&r);
		if (r.err)
			log_error("the engine process sent a malformed health "
			    "message: ignored");
		else
			dc->health = status & (DCGI_DOWN_ENGINE |
			    DCGI_DOWN_REDIS);
		break;
	case CHAN_METRICS:
		if (metrics_apply(m->data, m->len) == -1)
			log_error("the engine process sent a malformed metrics "
			    "message: ignored");
		break;
	default:
		log_error("the engine process sent a message of unknown type "
		    "%u: ignored", m->type);
		break;
	}
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
	}
}

struct dcgi *
dcgi_new_remote(struct loop *loop, int fd, char *err, size_t errlen)
{
	struct dcgi *dc;

	if ((dc = calloc(1, sizeof(*dc))) == NULL ||
	    (dc->chan = chan_new(loop, fd, dcgi_chan_msg, dc)) == NULL) {
		snprintf(err, errlen, "the channel to the engine process: "
		    "out of memory");
		free(dc);
		return NULL;
	}
	dc->loop = loop;
	dc->status.fn = dcgi_status_tick;
	dc->refill.fn = dcgi_refill;
	return dc;
}

int
dcgi_hello(struct dcgi *dc)
{
	struct chan_buf b = { 0 };
	int rv;

	if (dc->chan == NULL)
		return 0;
	chan_put_u32(&b, CHAN_VERSION);
	chan_put_u32(&b, (uint32_t)getpid());
	rv = b.err ? -1 : chan_send(dc->chan, CHAN_HELLO, 0, b.p, b.len, -1);
	chan_buf_free(&b);
	return rv;
}

unsigned
dcgi_health(const struct dcgi *dc)
{
	if (dc->docker == NULL)
		return dc->health;
	return docker_up(dc->docker) ? 0 : DCGI_DOWN_ENGINE;
}

void
dcgi_draining(struct dcgi *dc)
{
	if (dc->chan != NULL)
		(void)chan_send(dc->chan, CHAN_DRAINING, 0, NULL, 0, -1);
}

/* Take a slot and create the container (or take a prestarted one). */
static void
job_run(struct dcgi_job *j)
{
	j->slot = 1;
	if (j->rs != NULL)
		j->rs->running++;
	if (j->client != NULL)
		j->client->containers++;
	j->dc->running++;
	j->t_queued = j->queued ? loop_clock_us() : 0;
	j->queued = 0;
	j->state = DCGI_CREATE;
	/* The engine's side outlasts the server's by a second. */
	loop_timer_set(j->dc->loop, &j->timer, j->run->timeout_ms +
	    (j->handoff ? 1000 : 0));
	if (j->dc->chan != NULL) {
		job_remote(j);
		return;
	}
	if (j->route != NULL && j->route->prestart_max > 0) {
		struct pooled *p = pool_ready(j);

		if (p != NULL) {
			/* Counted as running now, no longer as prestarted. */
			metrics_count(MX_POOL_HIT, j->route->prefix);
			job_take(j, p, j->env);
			return;
		}
		metrics_count(MX_POOL_MISS, j->route->prefix);
		j->prestart = 2;	/* none ready: the cold path */
	}
	job_create(j, j->env);
}

/* ----- the cold path through dcgi-init ----- */

/*
 * A container started for its request runs dcgi-init too, as a prestarted
 * one does: its response ends when the function exits (END), not when the
 * engine reports the container's exit tens of milliseconds later, and its
 * exit status is known.  That needs the image's own entrypoint and command
 * (GET /images/NAME/json): looked at on a route's first request, again
 * once the answer is DCGI_POOL_CHECK_MS old, and used until it is twice
 * that (so that a moved tag is followed within seconds).  Without an
 * answer young enough, or without dcgi-init, a request goes the plain
 * way: the image by name, its environment in the create, the stream's end
 * as the function's end.
 */
#define COLD_USE_US	(2 * (int64_t)DCGI_POOL_CHECK_MS * 1000)

/* A job waits no more for the look at its image. */
static void
cold_unwait(struct dcgi_job *j)
{
	struct dcgi_job **pp;

	if (!j->cwait)
		return;
	for (pp = &j->rs->cold_waiting; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == j) {
			*pp = j->hnext;
			break;
		}
	j->hnext = NULL;
	j->cwait = 0;
}

static void
cold_inspected(void *arg, int status, json_t *body, const char *err)
{
	struct dcgi_route *rs = arg;
	json_t *cfg = json_object_get(body, "Config");
	const char *id = json_string_value(json_object_get(body, "Id"));
	struct dcgi_job *j;
	char *nid = NULL;
	size_t n;

	(void)err;
	rs->cold_inspect = NULL;
	if (status != 200 || id == NULL || (nid = strdup(id)) == NULL) {
		/* The plain way says what is wrong; no new look for a while. */
		rs->cold_at = 0;
		rs->cold_failed = loop_clock_us();
	} else {
		free(rs->cold_id);
		rs->cold_id = nid;
		json_decref(rs->cold_entry);
		rs->cold_entry = json_incref(json_object_get(cfg, "Entrypoint"));
		json_decref(rs->cold_cmd);
		rs->cold_cmd = json_incref(json_object_get(cfg, "Cmd"));
		rs->cold_at = loop_clock_us();
	}
	/*
	 * Those that waited go on, first come first: only those, as one whose
	 * configuration names another image (a reload came between) asks for
	 * a new look and waits again, at the head, for that look's end.
	 */
	n = 0;
	for (j = rs->cold_waiting; j != NULL; j = j->hnext)
		n++;
	while (n-- > 0 && rs->cold_waiting != NULL) {
		for (j = rs->cold_waiting; j->hnext != NULL; j = j->hnext)
			;
		cold_unwait(j);
		job_create(j, j->env);
	}
}

/* Look at the image (again), unless a look is under way or just failed. */
static void
cold_look(struct dcgi_route *rs, const char *image)
{
	char path[600], *img;

	if (rs->cold_inspect != NULL)
		return;
	if (rs->cold_image == NULL || strcmp(rs->cold_image, image) != 0) {
		if ((img = strdup(image)) == NULL)
			return;
		free(rs->cold_image);
		rs->cold_image = img;
		rs->cold_at = 0;
		rs->cold_failed = 0;
	}
	if (rs->cold_failed != 0 &&
	    loop_clock_us() - rs->cold_failed < (int64_t)DCGI_POOL_CHECK_MS * 1000)
		return;
	image_path(image, path, sizeof(path));
	rs->cold_inspect = docker_call(rs->dc->docker, "GET", path, NULL,
	    cold_inspected, rs);
}

/*
 * dcgi-init's arguments for a cold container of `run`: 1 with *argvp set,
 * 0 for the plain way, -1 when a look at the image is under way and no
 * answer young enough is there (wait for it: cold_inspected()).
 */
static int
cold_prep(struct dcgi_route *rs, const struct conf_route *r,
    const struct conf_run *run, json_t **argvp)
{
	int64_t age;
	json_t *argv, *v;
	size_t i;
	int same;

	*argvp = NULL;
	if (rs->dc->init == NULL)
		return 0;
	same = rs->cold_at != 0 && strcmp(rs->cold_image, run->image) == 0;
	age = loop_clock_us() - rs->cold_at;
	if (!same || age >= (int64_t)DCGI_POOL_CHECK_MS * 1000)
		cold_look(rs, run->image);
	if (!same || age >= COLD_USE_US)
		return rs->cold_inspect != NULL ? -1 : 0;
	if ((argv = json_array()) == NULL)
		return 0;
	json_array_foreach(rs->cold_entry, i, v)
		json_array_append(argv, v);
	if (run->command != NULL)
		for (char **c = run->command; *c != NULL; c++)
			json_array_append_new(argv, json_string(*c));
	else
		json_array_foreach(rs->cold_cmd, i, v)
			json_array_append(argv, v);
	if (json_array_size(argv) == 0) {
		json_decref(argv);	/* the plain way says what is wrong */
		return 0;
	}
	*argvp = init_argv(rs, r, argv);
	json_decref(argv);
	return 1;
}

/* POST /containers/create for j, with `env` (not freed). */
static void
job_create(struct dcgi_job *j, char **env)
{
	char path[128], mode[100];
	json_t *spec, *argv = NULL;
	int hold = j->rs != NULL ? holder_want(j->rs, j->run) : 0;

	if (hold == 1) {
		/* holder_started() comes back here. */
		j->hnext = j->rs->hold.waiting;
		j->rs->hold.waiting = j;
		j->hwait = 1;
		return;
	}
	if (hold != 0) {
		job_fail(j, hold, hold == 503 ? "Retry-After: 1\r\n" : NULL);
		return;
	}
	if (j->route != NULL && j->rs != NULL &&
	    cold_prep(j->rs, j->route, j->run, &argv) == -1) {
		/* cold_inspected() comes back here. */
		j->hnext = j->rs->cold_waiting;
		j->rs->cold_waiting = j;
		j->cwait = 1;
		return;
	}
	if (argv != NULL && (j->pre = envblock_make(env, &j->prelen)) != NULL) {
		/* Its environment goes to dcgi-init on stdin. */
		if ((spec = job_spec(j, preload_env(j->route))) != NULL)
			spec_init(j->dc, spec, j->rs->cold_id, argv);
		j->framed = 1;
	} else
		spec = job_spec(j, env);
	json_decref(argv);
	if (spec == NULL) {
		job_fail(j, 500, NULL);
		return;
	}
	if (is_isolated(j->run)) {
		holder_netmode(j->rs, mode, sizeof(mode));
		json_object_set_new(json_object_get(spec, "HostConfig"),
		    "NetworkMode", json_string(mode));
	}
	container_name(j->dc, j->cname, sizeof(j->cname));
	snprintf(path, sizeof(path), "/containers/create?name=%s", j->cname);
	j->call = docker_call(j->dc->docker, "POST", path, spec, job_created,
	    j);
	json_decref(spec);
	if (j->call == NULL)
		job_fail(j, 500, NULL);
	else
		start_take(j->dc, &j->starting);
}

static void
job_try(struct dcgi_job *j)
{
	struct dcgi *dc = j->dc;

	if (dc->stopping) {
		job_fail(j, 503, "Retry-After: 5\r\n");
		return;
	}
	if (job_slot_free(j)) {
		job_run(j);
		return;
	}
	/* Wait, briefly, in line. */
	j->queued = 1;
	j->t_queued = loop_clock_us();
	if (dc->qtail != NULL)
		dc->qtail->qnext = j;
	else
		dc->qhead = j;
	dc->qtail = j;
	loop_timer_set(dc->loop, &j->timer, j->run->timeout_ms <
	    DCGI_QUEUE_WAIT_MS ? j->run->timeout_ms : DCGI_QUEUE_WAIT_MS);
}

/*
 * Does a job wait in line for container capacity (MaxContainers), rather
 * than for its route's MaxConcurrent?  Then pools do not grow meanwhile.
 */
static int
queue_needs_capacity(const struct dcgi *dc)
{
	for (const struct dcgi_job *j = dc->qhead; j != NULL; j = j->qnext)
		if ((j->rs == NULL || j->rs->running <
		    j->route->max_concurrent) && !client_full(j))
			return 1;
	return 0;
}

/* A slot was freed: the first waiter that fits goes. */
static void
queue_wake(struct dcgi *dc)
{
	struct dcgi_job *j;

	for (j = dc->qhead; j != NULL; j = j->qnext) {
		if (!job_slot_free(j))
			continue;
		queue_remove(dc, j);
		job_run(j);
		return;
	}
}

/*
 * Removing a container: DELETE ?force=true, tried again with backoff when
 * the engine could not be reached (a connection that broke, an engine
 * restarting), so that a hiccup does not leave a container behind.
 */
#define DCGI_REMOVE_TRIES	6

static void	removal_send(struct removal *);

static void
removal_free(struct removal *rm)
{
	struct dcgi *dc = rm->dc;

	loop_timer_del(dc->loop, &rm->timer);
	if (rm->prev != NULL)
		rm->prev->next = rm->next;
	else
		dc->removals = rm->next;
	if (rm->next != NULL)
		rm->next->prev = rm->prev;
	dc->nremovals--;
	/*
	 * Its place is free now: the pools may fill it, from the loop (a
	 * removal may end under pooled_free()'s caller).
	 */
	if (!dc->stopping)
		loop_timer_set(dc->loop, &dc->refill, 0);
	free(rm);
}

/* (Never armed once stopping: removal_free(), orphan_created(); dcgi_stop()
 * deletes it.) */
static void
dcgi_refill(struct loop_timer *t)
{
	pools_fill(LOOP_OWNER(t, struct dcgi, refill));
}

static void
removal_done(void *arg, int status, json_t *body, const char *err)
{
	struct removal *rm = arg;
	const char *msg = json_string_value(json_object_get(body, "message"));

	/*
	 * No answer, or an engine error: again, a little later.  Podman
	 * answers 500 ("container state improper") to a forced remove of a
	 * container that is stopping at that moment; Docker waits for it.
	 */
	if ((status == 0 || status >= 500) && ++rm->tries < DCGI_REMOVE_TRIES) {
		loop_timer_set(rm->dc->loop, &rm->timer, 250 << rm->tries);
		return;
	}
	/*
	 * By name, after a create with no answer: the engine may still be
	 * making it (the create goes on when its connection breaks).  Look
	 * again a little later, twice.
	 */
	if (status == 404 && rm->byname > 0 && rm->byname < 3 &&
	    !rm->dc->stopping) {
		loop_timer_set(rm->dc->loop, &rm->timer, 1000 * rm->byname++);
		return;
	}
	/* 404: gone already; 409: the engine is removing it itself. */
	if (status != 204 && status != 404 && status != 409)
		log_warn("could not remove container %.12s: %s%s", rm->id,
		    msg ? msg : err ? err : "engine error",
		    status == 0 ? " (the next start of dcgid removes it)" : "");
	removal_free(rm);
}

static void
removal_retry(struct loop_timer *t)
{
	removal_send(LOOP_OWNER(t, struct removal, timer));
}

static void
removal_send(struct removal *rm)
{
	char path[160];

	snprintf(path, sizeof(path), "/containers/%s?force=true", rm->id);
	if (docker_call(rm->dc->docker, "DELETE", path, NULL, removal_done,
	    rm) == NULL)
		removal_done(rm, 0, NULL, "out of memory");
}

static struct removal *
container_remove(struct dcgi *dc, const char *id)
{
	struct removal *rm;

	if (strlen(id) >= sizeof(rm->id) || (rm = calloc(1, sizeof(*rm))) ==
	    NULL) {
		log_error("cannot remove container %.12s: out of memory", id);
		return NULL;
	}
	rm->dc = dc;
	rm->timer.fn = removal_retry;
	snprintf(rm->id, sizeof(rm->id), "%s", id);
	rm->next = dc->removals;
	if (dc->removals != NULL)
		dc->removals->prev = rm;
	dc->removals = rm;
	dc->nremovals++;
	removal_send(rm);
	return rm;
}

/*
 * Every container gets a name of its own at create ("dcgi-PID-START-N"),
 * so that one whose create was answered with no answer (a connection cut
 * after the engine made it) can still be found and removed: by its name.
 */
static void
container_name(struct dcgi *dc, char *buf, size_t len)
{
	char inst[sizeof(dc->instance)], *c;

	snprintf(inst, sizeof(inst), "%s", dc->instance);
	if ((c = strchr(inst, ':')) != NULL)
		*c = '-';
	snprintf(buf, len, "dcgi-%s-%" PRIu64, inst, ++dc->nnames);
}

/*
 * A create that failed may have made its container all the same: with no
 * answer (status 0), or when the engine says the name is taken (409): a
 * connection that broke after the engine made it, and libcurl sent the
 * request again on a new one.  Remove it by name (404 is fine).
 */
static void
container_create_failed(struct dcgi *dc, const char *name, int status)
{
	struct removal *rm;

	if (status != 0 && status != 409)
		return;
	log_warn("create of container %s: %s: removing it in case it was "
	    "made", name, status == 0 ? "no answer" : "the name is taken "
	    "(an earlier try of the same create)");
	if ((rm = container_remove(dc, name)) != NULL)
		rm->byname = 1;
}

struct orphan {
	struct dcgi	*dc;
	char		 name[80];
};

/* A create whose job ended before the answer came. */
static void
orphan_created(void *arg, int status, json_t *body, const char *err)
{
	struct orphan *o = arg;
	struct dcgi *dc = o->dc;
	const char *id = json_string_value(json_object_get(body, "Id"));
	(void)err;

	dc->norphans--;
	if (status == 201 && id != NULL)
		container_remove(dc, id);
	else
		container_create_failed(dc, o->name, status);
	free(o);
	if (!dc->stopping)
		loop_timer_set(dc->loop, &dc->refill, 0);
}

/* The create call `c` now belongs to nobody: remove what it makes. */
static void
orphan_adopt(struct dcgi *dc, struct docker_call *c, const char *name)
{
	struct orphan *o;

	if ((o = calloc(1, sizeof(*o))) == NULL) {
		docker_call_forget(c);
		log_error("container %s may be left: out of memory", name);
		return;
	}
	o->dc = dc;
	snprintf(o->name, sizeof(o->name), "%s", name);
	dc->norphans++;
	docker_call_rebind(c, orphan_created, o);
}

/*
 * The end of every job, whatever happened: stop listening to the
 * container, remove it, give the slot to the next in line.
 */
static void
job_end(struct dcgi_job *j)
{
	struct dcgi *dc = j->dc;

	job_metrics(j);
	if (j->sink != NULL) {
		/* Ended without a word (dcgid is going away): say so. */
		struct sink_result res = { 0 };

		res.kind = j->queue != NULL ? SINK_EXITED : j->answered ?
		    SINK_CUT : SINK_ERROR;
		res.status = j->queue != NULL ? -1 : 503;
		res.why = "stopped";
		job_tell(j, &res);
	}
	loop_timer_del(dc->loop, &j->timer);
	(void)start_done(dc, &j->starting);
	if (j->queued)
		queue_remove(dc, j);
	holder_unwait(j);
	cold_unwait(j);
	if (j->state == DCGI_CREATE && j->call != NULL)
		/* The container may yet be made: remove it when it is. */
		orphan_adopt(dc, j->call, j->cname);
	else
		docker_call_forget(j->call);
	j->call = NULL;
	docker_attach_free(j->att);
	j->att = NULL;
	if (dc->chan != NULL && j->lease != 0)
		/* The engine removes it. */
		(void)chan_send(dc->chan, CHAN_RELEASE, j->lease, NULL, 0, -1);
	j->lease = 0;
	if (j->cid[0] != '\0' && dc->docker != NULL)
		container_remove(dc, j->cid);
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		dc->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	dc->njobs--;
	if (j->slot) {
		if (j->rs != NULL)
			j->rs->running--;
		if (j->client != NULL)
			j->client->containers--;
		dc->running--;
	}
	if (j->client != NULL) {
		unsigned n = client_burst_over(j->client, CLIENT_CONTAINERS,
		    j->client->containers > 0, loop_clock_us() / 1000);

		if (n > 0)
			log_info("client %s: %u request%s refused at "
			    "MaxContainersPerClient in the burst now over",
			    j->client->name, n, n == 1 ? "" : "s");
		client_unref(j->client);
		j->client = NULL;
	}
	free(j->env);
	j->env = NULL;
	free(j->body);
	j->body = NULL;
	free(j->pre);
	j->pre = NULL;
	free(j->head);
	j->head = NULL;
	conf_unref(j->conf);
	j->conf = NULL;
	/* Callers up the stack may still look at j->dead. */
	j->dead = 1;
	loop_defer_free(dc->loop, j);
	if (!dc->stopping) {
		queue_wake(dc);
		pools_fill(dc);
	}
}

/* The consumer has gone (from the loop, sink.h): kill and remove. */
static void
job_cancel(struct source *src)
{
	struct dcgi_job *j = (struct dcgi_job *)src;

	j->sink = NULL;
	/* A handed-over stream's server says for itself when it was cut. */
	if (j->cid[0] != '\0' && !j->handoff)
		log_msg(LOG_LV_INFO, j->reqid, "%s: client gone; removing "
		    "container %.12s", j->name, j->cid);
	job_end(j);
}

/* The consumer has taken what it held: read more output. */
static void
job_resume(struct source *src)
{
	struct dcgi_job *j = (struct dcgi_job *)src;

	if (j->paused && j->att != NULL) {
		j->paused = 0;
		docker_attach_pause(j->att, 0);
	}
}

static const struct source_ops job_source_ops = { job_cancel, job_resume };

/*
 * Enter a job in the books and take its first step from the loop: a job
 * never answers before dcgi_start()/dcgi_run_item() have returned.
 */
static void
job_begin(struct dcgi *dc, struct dcgi_job *j, struct sink *sink)
{
	j->src.ops = &job_source_ops;
	j->sink = sink;
	j->dc = dc;
	j->state = DCGI_QUEUED;
	j->cl_left = -1;
	j->exit_code = -1;
	j->t0 = loop_clock_us();
	j->timer.fn = job_timeout;
	j->next = dc->jobs;
	if (dc->jobs != NULL)
		dc->jobs->prev = j;
	dc->jobs = j;
	dc->njobs++;
	loop_timer_set(dc->loop, &j->timer, 0);
}

struct source *
dcgi_start(struct dcgi *dc, struct dcgi_request *rq, struct sink *sink)
{
	struct dcgi_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->rs = route_state(dc, rq->route->prefix)) == NULL) {
		free(j);
		free(rq->env);
		free(rq->body);
		return NULL;
	}
	j->conf = conf_ref(rq->conf);
	j->route = rq->route;
	j->run = &rq->route->run;
	j->env = rq->env;
	j->client = client_ref(rq->client);
	j->handoff = rq->handoff;
	j->body = rq->body;
	j->inlen = rq->bodylen;
	snprintf(j->name, sizeof(j->name), "route %s", rq->route->prefix);
	snprintf(j->reqid, sizeof(j->reqid), "%s", rq->reqid);
	route_arrival(j->rs);
	job_begin(dc, j, sink);
	return &j->src;
}

void
dcgi_stop(struct dcgi *dc)
{
	dc->stopping = 1;
	while (dc->qhead != NULL) {
		struct dcgi_job *j = dc->qhead;
		queue_remove(dc, j);
		j->queued = 0;
		job_fail(j, 503, "Retry-After: 5\r\n");
	}
	for (struct dcgi_route *rs = dc->routes; rs != NULL; rs = rs->next)
		route_pool_off(rs, "stopping");
	loop_timer_del(dc->loop, &dc->status);
	loop_timer_del(dc->loop, &dc->refill);
	/* Health says draining now; no ping may hold up the exit. */
	if (dc->docker != NULL)
		docker_ping(dc->docker, 0);
}

/*
 * GracePeriod is over: a function that runs on after its complete
 * response (its Content-Length was all sent) is not waited for any more.
 * Jobs with a consumer end with it (its connection closes).
 */
void
dcgi_grace_over(struct dcgi *dc)
{
	struct dcgi_job *j, *next;

	for (j = dc->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->dead || j->sink != NULL || j->queue != NULL ||
		    j->state != DCGI_RUN)
			continue;
		log_msg(LOG_LV_WARN, j->reqid, "%s: GracePeriod over: killing "
		    "container %.12s, which ran on after its complete response",
		    j->name, j->cid[0] ? j->cid : "-");
		job_end(j);
	}
}

int
dcgi_can_run(const struct dcgi *dc, const struct conf *conf)
{
	if (dc->stopping || dc->running >= (size_t)conf->max_containers ||
	    !start_room(dc))
		return 0;
	if (dc->running + dc->pooled < (size_t)conf->max_containers)
		return 1;
	for (const struct dcgi_route *rs = dc->routes; rs != NULL;
	    rs = rs->next)
		if (rs->nready > 0)
			return 1;	/* job_slot_free() removes one */
	return 0;
}

/*
 * One run of a queue item: the item on stdin, DCGI_QUEUE, DCGI_ITEM_ID and
 * DCGI_ATTEMPT (and the queue's Env) in the environment.
 */
struct source *
dcgi_run_item(struct dcgi *dc, struct conf *conf, const struct conf_queue *q,
    const char *item, size_t len, const char *itemid, int attempt,
    struct sink *sink)
{
	struct dcgi_job *j;
	size_t nenv = q->run.nenv, total = 0, k = 0;
	char *p;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->exit_code = -1;
	if ((j->body = malloc(len + 1)) == NULL)
		goto fail;
	memcpy(j->body, item, len);
	j->body[len] = '\0';
	j->inlen = len;
	/* The environment, in one allocation like cgi_env()'s. */
	for (size_t i = 0; i < nenv; i++)
		total += strlen(q->run.env[i]) + 1;
	total += strlen(q->name) + strlen(itemid) + 64;
	if ((j->env = malloc((nenv + 4) * sizeof(char *) + total)) == NULL)
		goto fail;
	p = (char *)(j->env + nenv + 4);
	j->env[k++] = p;
	p += sprintf(p, "DCGI_QUEUE=%s", q->name) + 1;
	j->env[k++] = p;
	p += sprintf(p, "DCGI_ITEM_ID=%s", itemid) + 1;
	j->env[k++] = p;
	p += sprintf(p, "DCGI_ATTEMPT=%d", attempt) + 1;
	for (size_t i = 0; i < nenv; i++) {
		j->env[k++] = p;
		p += sprintf(p, "%s", q->run.env[i]) + 1;
	}
	j->env[k] = NULL;

	j->conf = conf_ref(conf);
	j->queue = q;
	j->run = &q->run;
	snprintf(j->name, sizeof(j->name), "queue %s", q->name);
	snprintf(j->reqid, sizeof(j->reqid), "%s", itemid);
	job_begin(dc, j, sink);
	return &j->src;
fail:
	free(j->body);
	free(j->env);
	free(j);
	return NULL;
}
