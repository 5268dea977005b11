/*
 * sd.c: systemd's notify protocol and socket activation, spoken directly:
 * both are a few lines of documented protocol (sd_notify(3),
 * sd_listen_fds(3)), not worth a library.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sd.h"

static int	sd_fd = -1;

int
sd_open(char *err, size_t errlen)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t n;

	if (e == NULL || *e == '\0')
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(sa.sun_path) ||
	    n < 2) {
		snprintf(err, errlen, "NOTIFY_SOCKET \"%.100s\": want an absolute "
		    "path or @name", e);
		return -1;
	}
	memcpy(sa.sun_path, e, n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (e[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract: no NUL at the end */
	else
		len++;
	if ((sd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(sd_fd, (struct sockaddr *)&sa, len) == -1) {
		snprintf(err, errlen, "NOTIFY_SOCKET %s: %s", e, strerror(errno));
		if (sd_fd != -1)
			close(sd_fd);
		sd_fd = -1;
		return -1;
	}
	unsetenv("NOTIFY_SOCKET");
	return 1;
}

void
sd_send(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (sd_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* A datagram socket: it goes whole or not at all, and never blocks
	 * for long; systemd gone away is no reason to stop serving. */
	while (send(sd_fd, buf, (size_t)n, MSG_NOSIGNAL) == -1 &&
	    errno == EINTR)
		;
}

/* A decimal number in the environment, or -1. */
static long long
sd_env_num(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	return n;
}

int64_t
sd_watchdog_usec(void)
{
	long long usec = sd_env_num("WATCHDOG_USEC");
	long long pid = sd_env_num("WATCHDOG_PID");

	if (usec <= 0 || (getenv("WATCHDOG_PID") != NULL && pid != getpid()))
		return 0;
	return usec;
}

int
sd_listen(char *err, size_t errlen)
{
	long long pid = sd_env_num("LISTEN_PID");
	long long n = sd_env_num("LISTEN_FDS");

	if (getenv("LISTEN_FDS") == NULL)
		return 0;
	if (pid != getpid())
		return 0;		/* meant for another process */
	if (n < 0 || n > INT_MAX - SD_LISTEN_FDS_START) {
		snprintf(err, errlen, "LISTEN_FDS \"%.40s\" is not a count",
		    getenv("LISTEN_FDS"));
		return -1;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1) {
			snprintf(err, errlen, "LISTEN_FDS: descriptor %d: %s",
			    fd, strerror(errno));
			return -1;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}
