/*
 * chan.c: the engine <-> server channel (chan.h): one message per
 * SOCK_SEQPACKET packet, descriptors beside them with SCM_RIGHTS.
 *
 * Ownership: see chan.h.  Messages that could not be sent at once wait in
 * c->out (each owns its bytes and its descriptor) until the socket is
 * writable; chan_free() closes their descriptors.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "loop.h"

#define CHAN_BATCH	64	/* messages read per event */

struct outmsg {
	struct outmsg	*next;
	int		 fd;
	size_t		 len;
	char		 data[];	/* header and payload */
};

struct chan {
	struct loop_io	 io;
	struct loop	*loop;
	chan_cb		 fn;
	void		*arg;
	struct outmsg	*out, **outtail;
	size_t		 nout;
	char		*buf;		/* one packet */
	int		 dead;
	int		 eof_told;
};

static void	chan_io(struct loop_io *, unsigned);

struct chan *
chan_new(struct loop *loop, int fd, chan_cb fn, void *arg)
{
	struct chan *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->buf = malloc(sizeof(struct chan_hdr) + CHAN_MAX + 1)) == NULL) {
		free(c);
		close(fd);
		return NULL;
	}
	c->loop = loop;
	c->fn = fn;
	c->arg = arg;
	c->outtail = &c->out;
	c->io.fd = fd;
	c->io.fn = chan_io;
	if (loop_add(loop, &c->io, LOOP_READ, 0) == -1) {
		close(fd);
		free(c->buf);
		free(c);
		return NULL;
	}
	return c;
}

void
chan_free(struct chan *c)
{
	struct outmsg *m;

	if (c == NULL || c->dead)
		return;
	c->dead = 1;
	while ((m = c->out) != NULL) {
		c->out = m->next;
		if (m->fd != -1)
			close(m->fd);
		free(m);
	}
	c->nout = 0;
	if (c->io.fd != -1) {
		loop_del(c->loop, &c->io);
		close(c->io.fd);
		c->io.fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	loop_defer_free(c->loop, c);
}

size_t
chan_queued(const struct chan *c)
{
	return c->nout;
}

/* One packet: 1 sent, 0 when the socket is full, -1 on error. */
static int
chan_sendmsg(int s, const char *data, size_t len, int fd)
{
	struct iovec iov = { (void *)data, len };
	struct msghdr mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		struct cmsghdr *ch;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	for (;;) {
		if (sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		return -1;
	}
}

/* The other end is gone (or spoke nonsense): tell the owner once. */
static void
chan_lost(struct chan *c, const char *why)
{
	struct chan_msg m = { CHAN_EOF, 0, why, why ? strlen(why) : 0, -1, 0 };

	if (c->eof_told)
		return;
	c->eof_told = 1;
	if (c->io.fd != -1)
		loop_del(c->loop, &c->io);
	c->fn(c->arg, &m);
}

static void
chan_flush(struct chan *c)
{
	struct outmsg *m;
	int rv;

	while ((m = c->out) != NULL) {
		if ((rv = chan_sendmsg(c->io.fd, m->data, m->len, m->fd)) == 0)
			break;
		if (rv == -1 && errno != EMSGSIZE) {
			chan_lost(c, strerror(errno));
			return;
		}
		/* Larger than the socket takes: this message fails alone. */
		c->out = m->next;
		if (c->out == NULL)
			c->outtail = &c->out;
		if (m->fd != -1)
			close(m->fd);
		free(m);
		c->nout--;
	}
	(void)loop_mod(c->loop, &c->io, LOOP_READ | (c->out ? LOOP_WRITE : 0),
	    0);
}

int
chan_send(struct chan *c, uint32_t type, uint32_t id, const void *data,
    size_t len, int fd)
{
	struct chan_hdr h = { type, id, (uint32_t)len, 0 };
	struct outmsg *m;
	int rv;

	if (c->dead || c->eof_told || len > CHAN_MAX)
		goto fail;
	if ((m = malloc(sizeof(*m) + sizeof(h) + len)) == NULL)
		goto fail;
	memcpy(m->data, &h, sizeof(h));
	if (len > 0)
		memcpy(m->data + sizeof(h), data, len);
	m->len = sizeof(h) + len;
	m->fd = fd;
	m->next = NULL;
	if (c->out == NULL) {
		if ((rv = chan_sendmsg(c->io.fd, m->data, m->len, fd)) == 1) {
			if (fd != -1)
				close(fd);
			free(m);
			return 0;
		}
		if (rv == -1) {
			free(m);
			goto fail;
		}
	}
	*c->outtail = m;
	c->outtail = &m->next;
	c->nout++;
	(void)loop_mod(c->loop, &c->io, LOOP_READ | LOOP_WRITE, 0);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

static void
chan_io(struct loop_io *io, unsigned revents)
{
	struct chan *c = (struct chan *)io;

	if (c->dead || c->eof_told)
		return;
	if (revents & LOOP_WRITE)
		chan_flush(c);
	/* A bounded batch: a peer that never stops sending cannot keep the
	 * loop here (the socket is level-triggered: the rest comes next). */
	for (int batch = 0; batch < CHAN_BATCH && !c->dead && !c->eof_told;
	    batch++) {
		struct chan_hdr h;
		struct chan_msg m;
		struct iovec iov = { c->buf, sizeof(h) + CHAN_MAX + 1 };
		struct msghdr mh;
		struct cmsghdr *ch;
		union {
			struct cmsghdr	hdr;
			char		buf[CMSG_SPACE(4 * sizeof(int))];
		} cm;
		ssize_t n;
		int fd = -1;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(io->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			chan_lost(c, n == 0 ? "closed" : strerror(errno));
			return;
		}
		/* Take every descriptor that came, whatever else is wrong. */
		for (ch = CMSG_FIRSTHDR(&mh); ch != NULL;
		    ch = CMSG_NXTHDR(&mh, ch)) {
			size_t k;

			if (ch->cmsg_level != SOL_SOCKET ||
			    ch->cmsg_type != SCM_RIGHTS)
				continue;
			k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(ch) + i * sizeof(int),
				    sizeof(int));
				if (fd == -1)
					fd = f;
				else
					close(f);
			}
		}
		if ((mh.msg_flags & MSG_TRUNC) || (size_t)n < sizeof(h)) {
			if (fd != -1)
				close(fd);
			chan_lost(c, "a malformed message");
			return;
		}
		memcpy(&h, c->buf, sizeof(h));
		if (h.len != (size_t)n - sizeof(h) || h.flags != 0 ||
		    h.type == CHAN_EOF) {
			if (fd != -1)
				close(fd);
			chan_lost(c, "a malformed message");
			return;
		}
		m.type = h.type;
		m.id = h.id;
		m.data = c->buf + sizeof(h);
		m.len = h.len;
		m.fd = fd;
		/* A descriptor that did not fit (RLIMIT_NOFILE): the
		 * message comes without it, and says so. */
		m.fd_lost = (mh.msg_flags & MSG_CTRUNC) != 0;
		c->fn(c->arg, &m);
	}
}

/* ----- payloads ----- */

static void
buf_put(struct chan_buf *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;

		while (nc < b->len + n)
			nc *= 2;
		if (nc > CHAN_MAX + 1 || (np = realloc(b->p, nc)) == NULL) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
chan_put_u32(struct chan_buf *b, uint32_t v)
{
	buf_put(b, &v, sizeof(v));
}

void
chan_put_u64(struct chan_buf *b, uint64_t v)
{
	buf_put(b, &v, sizeof(v));
}

void
chan_put_str(struct chan_buf *b, const char *s, size_t n)
{
	if (n > CHAN_MAX) {
		b->err = 1;
		return;
	}
	chan_put_u32(b, (uint32_t)n);
	buf_put(b, s, n);
}

void
chan_put_cstr(struct chan_buf *b, const char *s)
{
	chan_put_str(b, s ? s : "", s ? strlen(s) : 0);
}

void
chan_buf_free(struct chan_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* n bytes into v (zeroed when they are not there: the error sticks). */
static void
rd_take(struct chan_rd *r, void *v, size_t n)
{
	if (r->err || r->left < n) {
		r->err = 1;
		memset(v, 0, n);
		return;
	}
	memcpy(v, r->p, n);
	r->p += n;
	r->left -= n;
}

uint32_t
chan_get_u32(struct chan_rd *r)
{
	uint32_t v;

	rd_take(r, &v, sizeof(v));
	return v;
}

uint64_t
chan_get_u64(struct chan_rd *r)
{
	uint64_t v;

	rd_take(r, &v, sizeof(v));
	return v;
}

const char *
chan_get_str(struct chan_rd *r, size_t *len)
{
	uint32_t n = chan_get_u32(r);
	const char *s;

	if (r->err || n > r->left) {
		r->err = 1;
		*len = 0;
		return NULL;
	}
	s = r->p;
	r->p += n;
	r->left -= n;
	*len = n;
	return s;
}

int
chan_get_cstr(struct chan_rd *r, char *buf, size_t len)
{
	size_t n;
	const char *s = chan_get_str(r, &n);

	if (s == NULL || n >= len || memchr(s, '\0', n) != NULL) {
		r->err = 1;
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

int
chan_parse_run(const char *data, size_t len, struct chan_run *run)
{
	struct chan_rd r = { data, len, 0 }, r2;
	size_t total = 0;
	uint32_t n;
	char *p;

	run->env = NULL;
	(void)chan_get_cstr(&r, run->prefix, sizeof(run->prefix));
	(void)chan_get_cstr(&r, run->reqid, sizeof(run->reqid));
	(void)chan_get_cstr(&r, run->client, sizeof(run->client));
	n = chan_get_u32(&r);
	if (r.err || n > r.left / 4 || n > CHAN_MAX_ENV ||
	    run->prefix[0] != '/' ||
	    strspn(run->reqid, "0123456789abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ._-") != strlen(run->reqid))
		return -1;
	/* Every string a NAME=value without NUL, and nothing after them. */
	r2 = r;
	for (uint32_t i = 0; i < n; i++) {
		size_t sl;
		const char *s = chan_get_str(&r2, &sl);

		if (s == NULL || sl == 0 || memchr(s, '\0', sl) != NULL ||
		    memchr(s, '=', sl) == NULL || s[0] == '=')
			return -1;
		total += sl + 1;
	}
	if (r2.left != 0)
		return -1;
	/* As cgi_env() makes it: the pointers, then the strings. */
	if ((run->env = malloc((n + 1) * sizeof(char *) + total)) == NULL)
		return -2;
	p = (char *)(run->env + n + 1);
	for (uint32_t i = 0; i < n; i++) {
		size_t sl;
		const char *s = chan_get_str(&r, &sl);

		run->env[i] = p;
		memcpy(p, s, sl);
		p[sl] = '\0';
		p += sl + 1;
	}
	run->env[n] = NULL;
	return 0;
}
