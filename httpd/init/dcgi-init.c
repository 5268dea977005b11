/*
 * dcgi-init: the first process of a prestarted container.
 *
 * dcgid starts a container before its request is known, so the request's
 * CGI environment cannot be given to the engine.  It is bind-mounted
 * read-only at /.dcgi/init and is the container's entrypoint, with the
 * image's own entrypoint and command as its arguments:
 *
 *	/.dcgi/init ENTRYPOINT... CMD...
 *
 * At once it forks its child and sets up what relays the child's output,
 * so that a request pays for no more than reading it and the exec.  The
 * child waits on stdin for the request, which dcgid writes as LENGTH and
 * ENV (httpd/envblock.h), then the body to the end of stdin; it sets ENV
 * over the environment the engine gave (the image's Env, HOSTNAME, HOME,
 * as for any container) and execs the arguments (searched in the new
 * PATH) with BODY still unread on stdin and the environment it would have
 * had: the function cannot tell that it was not started for this request.
 * It reads nothing beyond ENV.
 *
 * The function's stdout and stderr are pipes to dcgi-init, which writes
 * what comes out of them as frames (envblock.h) on its own stdout, and
 * when the function has exited, what is left in the pipes and an END
 * frame with the exit status; then it exits with that status, and the
 * container with it.  dcgid ends the response at END.  As in a container
 * whose first process is the function, the function's end is the end:
 * what it left running is killed with the container.  Signals the engine
 * sends (docker stop) go on to the child.  A container whose stdin closes
 * before a request exits 0 with no output at all.
 *
 * `/.dcgi/init --preload ARGV...` execs ARGV at once, before the request,
 * and leaves stdin to it: an interpreter that imports ahead and reads the
 * request itself (Preload in httpd.conf; httpd/init/dcgi-preload.py).
 * Frames and END are as above.
 *
 * `/.dcgi/init --hold` is a route's network holder (Network isolated in
 * httpd.conf): it reads its stdin to the end, runs nothing, and exits.
 *
 * Static, no allocation beyond ENV, no output but frames and a line on
 * stderr when something is wrong (exit 125: bad input, 126/127: cannot
 * exec, as the shell and the engine say it).
 */
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../envblock.h"

/*
 * The child tells its parent, on a close-on-exec pipe, why it ended
 * without running the function; EOF there means the exec happened.
 */
#define CHILD_NOREQUEST	'N'	/* stdin closed before a request */
#define CHILD_BADREQUEST 'B'	/* the request broke the rules (stderr) */
#define CHILD_NOEXEC	'E'	/* the exec failed (said in an ERR frame) */

static int status_fd = -1;	/* the child's end of that pipe */

static void
tell(char why)
{
	if (status_fd != -1)
		(void)write(status_fd, &why, 1);
}

static void
die(int code, const char *what, const char *detail)
{
	tell(CHILD_BADREQUEST);
	fprintf(stderr, "dcgi-init: %s%s%s\n", what, detail ? ": " : "",
	    detail ? detail : "");
	_exit(code);
}

/* Read exactly n bytes; 0 at once on EOF before the first byte. */
static int
readn(char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, p + got, n - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			die(125, "reading the request", strerror(errno));
		if (r == 0) {
			if (got == 0)
				return 0;
			die(125, "the request ended early", NULL);
		}
		got += (size_t)r;
	}
	return 1;
}

static int
put(void *arg, const char *name, const char *value)
{
	(void)arg;
	return setenv(name, value, 1);
}

static volatile sig_atomic_t child_exited;
static volatile pid_t child;

static void
on_chld(int sig)
{
	(void)sig;
	child_exited = 1;
}

static void
on_forward(int sig)
{
	if (child > 0)
		(void)kill(child, sig);
}

/* All of it to stdout, or exit: nobody reads the stream any more. */
static void
frame(int type, const char *p, size_t n)
{
	unsigned char hdr[4];
	struct iovec iov[2];

	initframe_header(hdr, type, n);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = n;
	while (iov[0].iov_len + iov[1].iov_len > 0) {
		ssize_t w = writev(1, iov, 2);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			(void)kill(child, SIGKILL);
			_exit(125);
		}
		for (int i = 0; i < 2; i++) {
			size_t k = (size_t)w < iov[i].iov_len ? (size_t)w :
			    iov[i].iov_len;

			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			w -= (ssize_t)k;
		}
	}
}

/*
 * Relay what fd has now, at most `budget` bytes; 0 when it is at EOF (and
 * closed).
 */
static int
relay(int *fd, int type, size_t budget)
{
	static char buf[INITFRAME_MAX];

	while (budget > 0) {
		ssize_t r = read(*fd, buf, budget < sizeof(buf) ? budget :
		    sizeof(buf));

		if (r > 0) {
			frame(type, buf, (size_t)r);
			budget -= (size_t)r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return 1;
		close(*fd);
		*fd = -1;
		return 0;
	}
	return 1;
}

/*
 * The child: waits for the request on stdin, sets its environment, and
 * becomes the function with its stdout and stderr on the pipes.
 */
static void
child_main(char *argv[], int out, int err, const sigset_t *mask, int preload)
{
	static const int dfl[] = { SIGCHLD, SIGPIPE, SIGTERM, SIGINT, SIGHUP,
	    SIGQUIT, SIGUSR1, SIGUSR2 };
	unsigned char len[4];
	const char *why;
	char *env;
	long n;

	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		signal(dfl[i], SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (preload)
		goto exec;	/* it reads the request itself */
	if (!readn((char *)len, sizeof(len))) {
		tell(CHILD_NOREQUEST);	/* closed unused: it is removed */
		_exit(0);
	}
	if ((n = envblock_length(len)) == -1)
		die(125, "environment too large", NULL);
	if ((env = malloc((size_t)n + 1)) == NULL)
		die(125, "out of memory", NULL);
	if (n > 0 && !readn(env, (size_t)n))
		die(125, "the request ended early", NULL);
	if (envblock_parse(env, (size_t)n, put, NULL, &why) == -1)
		die(125, why, NULL);
exec:
	if (dup2(out, 1) == -1 || dup2(err, 2) == -1)
		die(125, "dup2", strerror(errno));
	execvp(argv[0], argv);
	n = errno;
	tell(CHILD_NOEXEC);
	fprintf(stderr, "dcgi-init: %s: %s\n", argv[0], strerror((int)n));
	_exit(n == ENOENT ? 127 : 126);
}

/*
 * Start the child at once, before the request: what a fork, the pipes and
 * the signal handlers cost is paid while the container waits, and only
 * the read of the request and the exec are left for its time.  Then relay
 * the child's output as frames; its exit status, or `*quiet` set when it
 * never ran the function (the exit status then says why, and there is no
 * END: nothing was run).
 */
static int
run(char *argv[], int preload, int *quiet)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1,
	    SIGUSR2 };
	struct sigaction sa;
	sigset_t block, old;
	int out[2], err[2], st[2], fds[2], status, code;
	unsigned char c;
	char why = 0;
	pid_t pid;

	*quiet = 0;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1 ||
	    pipe2(st, O_CLOEXEC) == -1)
		die(125, "pipe", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_chld;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	if ((pid = fork()) == -1)
		die(125, "fork", strerror(errno));
	if (pid == 0) {
		status_fd = st[1];
		child_main(argv, out[1], err[1], &old, preload);
	}
	child = pid;
	close(out[1]);
	close(err[1]);
	close(st[1]);
	close(0);		/* the request is the child's to read */
	fds[0] = out[0];
	fds[1] = err[0];
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[2];
		sigset_t none;
		nfds_t n = 0;

		if (child_exited && waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (fds[0] == -1 && fds[1] == -1) {
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				;
			break;
		}
		for (int i = 0; i < 2; i++)
			if (fds[i] != -1) {
				pfd[n].fd = fds[i];
				pfd[n].events = POLLIN;
				pfd[n++].revents = 0;
			}
		sigemptyset(&none);
		if (ppoll(pfd, n, NULL, &none) == -1 && errno != EINTR)
			die(125, "poll", strerror(errno));
		for (nfds_t i = 0; i < n; i++)
			if (pfd[i].revents != 0)
				for (int k = 0; k < 2; k++)
					if (fds[k] == pfd[i].fd)
						(void)relay(&fds[k], k == 0 ?
						    INITFRAME_OUT : INITFRAME_ERR,
						    SIZE_MAX);
	}
	code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 125;
	/* The child has exited: its end of the status pipe is closed. */
	while (read(st[0], &why, 1) == -1 && errno == EINTR)
		;
	if (why == CHILD_NOREQUEST || why == CHILD_BADREQUEST) {
		*quiet = 1;
		return code;
	}
	/*
	 * It has exited: what it wrote is in the pipes, and no more than that
	 * is taken (what it left running may write on).
	 */
	for (int k = 0; k < 2; k++) {
		int avail = 0;

		if (fds[k] != -1 && ioctl(fds[k], FIONREAD, &avail) == 0 &&
		    avail > 0)
			(void)relay(&fds[k], k == 0 ? INITFRAME_OUT :
			    INITFRAME_ERR, (size_t)avail);
	}
	c = (unsigned char)code;
	frame(INITFRAME_END, (const char *)&c, 1);
	return code;
}

int
main(int argc, char *argv[])
{
	int quiet;

	if (argc < 2)
		die(125, "nothing to run (the image has no entrypoint or "
		    "command)", NULL);
	if (argc == 2 && strcmp(argv[1], "--hold") == 0) {
		/*
		 * A route's network holder (Network isolated): it only keeps
		 * its network namespace for the route's containers, until
		 * dcgid closes its stdin (or it is removed).
		 */
		char buf[512];
		ssize_t r;

		while ((r = read(0, buf, sizeof(buf))) != 0)
			if (r == -1 && errno != EINTR)
				break;
		return 0;
	}
	if (strcmp(argv[1], "--preload") == 0) {
		if (argc < 3)
			die(125, "--preload: nothing to run", NULL);
		return run(argv + 2, 1, &quiet);
	}
	return run(argv + 1, 0, &quiet);
}
