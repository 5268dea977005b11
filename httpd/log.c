/*
 * log.c: error and access logs.
 *
 * Both go through a buffer that the loop flushes once per iteration, so a
 * busy server writes its access log in large blocks instead of one write(2)
 * per request.  Error lines are flushed at once: they matter most when the
 * process is about to die.  Anything a client sent is escaped before it is
 * written, so that a request cannot forge log lines.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_BUFSZ	65536

struct log_sink {
	int	 fd;
	int	 owned;		/* ours to close */
	char	*buf;
	size_t	 len;
};

struct log_files {
	struct log_sink	 err;
	struct log_sink	 acc;		/* fd -1: off */
	int		 combined;
};

static struct log_files	 log_fallback = {
	{ 2, 0, NULL, 0 }, { -1, 0, NULL, 0 }, 1
};
static struct log_files	*log_cur = &log_fallback;
static enum log_level	 log_level = LOG_LV_INFO;
static char		 log_tag[48];	/* " [server 123]": whose line */

static const char *log_names[] = { "error", "warn", "info", "debug" };

void
log_set_level(enum log_level lv)
{
	log_level = lv;
}

void
log_set_tag(const char *tag)
{
	if (tag == NULL || *tag == '\0')
		log_tag[0] = '\0';
	else
		snprintf(log_tag, sizeof(log_tag), " [%s]", tag);
}

static int
log_sink_open(struct log_sink *s, const char *what, char *err, size_t errlen)
{
	s->owned = 0;
	s->len = 0;
	s->buf = NULL;
	if (strcmp(what, "off") == 0) {
		s->fd = -1;
		return 0;
	}
	if (strcmp(what, "stderr") == 0)
		s->fd = 2;
	else if (strcmp(what, "stdout") == 0)
		s->fd = 1;
	else {
		s->fd = open(what, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0640);
		if (s->fd == -1) {
			snprintf(err, errlen, "cannot open log %s: %s", what,
			    strerror(errno));
			return -1;
		}
		s->owned = 1;
	}
	if ((s->buf = malloc(LOG_BUFSZ)) == NULL) {
		if (s->owned)
			close(s->fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void
log_sink_flush(struct log_sink *s)
{
	size_t off = 0;

	while (off < s->len) {
		ssize_t n = write(s->fd, s->buf + off, s->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* a full disk or a closed pipe: drop it */
		off += (size_t)n;
	}
	s->len = 0;
}

static void
log_sink_close(struct log_sink *s)
{
	if (s->fd != -1 && s->buf != NULL)
		log_sink_flush(s);
	if (s->owned)
		close(s->fd);
	free(s->buf);
	s->buf = NULL;
	s->fd = -1;
}

struct log_files *
log_open(const char *error_log, const char *access_log, int combined,
    char *err, size_t errlen)
{
	struct log_files *lf;

	if ((lf = calloc(1, sizeof(*lf))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lf->combined = combined;
	if (log_sink_open(&lf->err, error_log, err, errlen) == -1)
		goto fail;
	if (log_sink_open(&lf->acc, access_log, err, errlen) == -1) {
		log_sink_close(&lf->err);
		goto fail;
	}
	return lf;
fail:
	free(lf);
	return NULL;
}

void
log_close(struct log_files *lf)
{
	if (lf == NULL || lf == &log_fallback)
		return;
	if (log_cur == lf)
		log_cur = &log_fallback;
	log_sink_close(&lf->err);
	log_sink_close(&lf->acc);
	free(lf);
}

void
log_use(struct log_files *lf)
{
	struct log_files *old = log_cur;

	log_cur = lf != NULL ? lf : &log_fallback;
	if (old != log_cur)
		log_close(old);
}

void
log_flush(void)
{
	if (log_cur->err.buf != NULL && log_cur->err.len > 0)
		log_sink_flush(&log_cur->err);
	if (log_cur->acc.buf != NULL && log_cur->acc.len > 0)
		log_sink_flush(&log_cur->acc);
}

/* Append to a sink; a line that does not fit after a flush is cut. */
static void
log_sink_put(struct log_sink *s, const char *p, size_t n)
{
	if (s->fd == -1)
		return;
	if (s->buf == NULL) {	/* the fallback: unbuffered */
		while (n > 0) {
			ssize_t w = write(s->fd, p, n);
			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				return;
			p += w;
			n -= (size_t)w;
		}
		return;
	}
	if (s->len + n > LOG_BUFSZ)
		log_sink_flush(s);
	if (n > LOG_BUFSZ)
		n = LOG_BUFSZ;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/*
 * Copy `src` into dst escaping what could break a log line or a terminal:
 * control bytes, the quote and the backslash become \xHH.  Returns the
 * length written (dst is always terminated).
 */
static size_t
log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dstlen == 0)
		return 0;
	for (; src != NULL && *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return o;
}

void
log_msg(enum log_level lv, const char *reqid, const char *fmt, ...)
{
	char line[2048], msg[1536];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	if (lv > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A message may quote client input: keep it one printable line. */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s%s%s%s%s %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), log_names[lv],
	    log_tag, reqid ? " [req " : "", reqid ? reqid : "",
	    reqid ? "]" : "", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_sink_put(&log_cur->err, line, (size_t)n);
	if (log_cur->err.buf != NULL)
		log_sink_flush(&log_cur->err);
}

int
log_access_enabled(void)
{
	return log_cur->acc.fd != -1;
}

void
log_access(const struct log_access *a)
{
	static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char line[4096], req[1200], ref[600], ua[600], user[1100];
	time_t t = (time_t)a->wall;
	struct tm tm;
	int n;

	if (log_cur->acc.fd == -1)
		return;
	gmtime_r(&t, &tm);
	log_escape(req, sizeof(req), a->request_line);
	/* A name from the user file, but it may hold blanks or quotes. */
	log_escape(user, sizeof(user), a->user ? a->user : "-");
	if (log_cur->combined) {
		log_escape(ref, sizeof(ref), a->referer ? a->referer : "-");
		log_escape(ua, sizeof(ua), a->user_agent ? a->user_agent : "-");
		n = snprintf(line, sizeof(line),
		    "%s - %s [%02d/%s/%04d:%02d:%02d:%02d +0000] \"%s\" %d %llu"
		    " \"%s\" \"%s\" %lld.%03lld %s\n",
		    a->client, user, tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, req, a->status,
		    (unsigned long long)a->bytes, ref, ua,
		    (long long)(a->duration_us / 1000000),
		    (long long)(a->duration_us / 1000 % 1000),
		    a->reqid ? a->reqid : "-");
	} else {
		n = snprintf(line, sizeof(line),
		    "%s - %s [%02d/%s/%04d:%02d:%02d:%02d +0000] \"%s\" %d %llu"
		    " %lld.%03lld %s\n",
		    a->client, user, tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, req, a->status,
		    (unsigned long long)a->bytes,
		    (long long)(a->duration_us / 1000000),
		    (long long)(a->duration_us / 1000 % 1000),
		    a->reqid ? a->reqid : "-");
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_sink_put(&log_cur->acc, line, (size_t)n);
}
