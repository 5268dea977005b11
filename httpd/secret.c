/*
 * secret.c: Secret files' copies for containers (secret.h).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "secret.h"

struct copy {
	struct copy	*next;
	char		*path;
};

struct secrets {
	pid_t		 owner;		/* who made them: who removes them */
	char		 instance[64];	/* "PID-START", in the directory's name */
	int		(*alive)(const char *);
	char		 sock[108];	/* the engine's unix socket, or "" */
	uid_t		 engine;	/* its user, when not ours (rootless) */
	char		*dir;		/* NULL until the first copy */
	struct copy	*copies;
};

struct secrets *
secrets_new(const char *instance, int (*alive)(const char *))
{
	struct secrets *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->owner = getpid();
	snprintf(s->instance, sizeof(s->instance), "%s", instance);
	/* ':' cannot be in a bind's source: "PID:START" -> "PID-START". */
	for (char *p = s->instance; *p != '\0'; p++)
		if (*p == ':')
			*p = '-';
	s->alive = alive;
	s->engine = geteuid();
	return s;
}

void
secrets_engine(struct secrets *s, const char *host)
{
	if (strncmp(host, "unix://", 7) == 0)
		snprintf(s->sock, sizeof(s->sock), "%s", host + 7);
}

/* The user of the engine's socket as the directory is made: when it is
 * neither root nor us, a rootless engine's, which gets the directory. */
static void
secrets_engine_user(struct secrets *s)
{
	struct stat st;

	if (s->sock[0] != '\0' && stat(s->sock, &st) == 0 &&
	    S_ISSOCK(st.st_mode) && st.st_uid != 0)
		s->engine = st.st_uid;
}

/* Remove a directory of copies and what is in it (no subdirectories). */
static void
remove_dir(int basefd, const char *name)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = openat(basefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)unlinkat(basefd, name, AT_REMOVEDIR);
}

/*
 * The copies a dcgid that died (SIGKILL, a crash) left in `base`: their
 * directory names its instance, and one no longer running is removed.
 * Only directories of ours (this user's, 0700) are touched.
 */
static void
secrets_sweep(struct secrets *s, const char *base)
{
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (s->alive == NULL || (d = opendir(base)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char inst[64], *dash, *dot;

		if (strncmp(e->d_name, "dcgi-secrets.", 13) != 0 ||
		    strlen(e->d_name + 13) >= sizeof(inst))
			continue;
		strcpy(inst, e->d_name + 13);
		if ((dot = strchr(inst, '.')) == NULL ||
		    (dash = strchr(inst, '-')) == NULL || dash > dot)
			continue;
		*dot = '\0';
		*dash = ':';
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISDIR(st.st_mode) || (st.st_uid != geteuid() &&
		    st.st_uid != s->engine) ||
		    (st.st_mode & 07777) != 0700 || s->alive(inst))
			continue;
		remove_dir(dirfd(d), e->d_name);
	}
	closedir(d);
}

void
secrets_free(struct secrets *s)
{
	struct copy *c;

	if (s == NULL)
		return;
	while ((c = s->copies) != NULL) {
		s->copies = c->next;
		if (s->owner == getpid())
			(void)unlink(c->path);
		free(c->path);
		free(c);
	}
	if (s->dir != NULL && s->owner == getpid())
		(void)rmdir(s->dir);
	free(s->dir);
	free(s);
}

const char *
secrets_dir(const struct secrets *s)
{
	return s->dir;
}

/*
 * A directory of our own: $RUNTIME_DIRECTORY (systemd's, for the unit),
 * else /run when we may write there (root), else $TMPDIR or /tmp.
 * mkdtemp() makes it 0700.
 */
static int
secrets_mkdir(struct secrets *s, char *err, size_t errlen)
{
	const char *bases[] = { getenv("RUNTIME_DIRECTORY"), "/run",
	    getenv("TMPDIR"), "/tmp" };
	char tmpl[4096];

	secrets_engine_user(s);
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (bases[i] == NULL || bases[i][0] != '/' ||
		    access(bases[i], W_OK | X_OK) != 0)
			continue;
		secrets_sweep(s, bases[i]);
		if ((size_t)snprintf(tmpl, sizeof(tmpl),
		    "%s/dcgi-secrets.%s.XXXXXX", bases[i], s->instance) >=
		    sizeof(tmpl))
			continue;
		if (mkdtemp(tmpl) == NULL)
			continue;
		if ((s->dir = strdup(tmpl)) == NULL) {
			(void)rmdir(tmpl);
			break;
		}
		/* A rootless engine must enter it to bind the copies. */
		if (s->engine != geteuid() && chown(s->dir, s->engine,
		    (gid_t)-1) == -1) {
			snprintf(err, errlen, "%s: cannot give it to the "
			    "engine's user %ld: %s", s->dir, (long)s->engine,
			    strerror(errno));
			(void)rmdir(s->dir);
			free(s->dir);
			s->dir = NULL;
			return -1;
		}
		return 0;
	}
	snprintf(err, errlen, "cannot make a directory for the copies (in "
	    "$RUNTIME_DIRECTORY, /run, $TMPDIR or /tmp): %s",
	    strerror(errno ? errno : ENOMEM));
	return -1;
}

/* src opened, a regular file of at most SECRET_MAX bytes: its descriptor,
 * or -1 with the reason.  O_NONBLOCK: a FIFO must not block the engine. */
static int
secret_open(const char *src, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", src);
		close(fd);
		return -1;
	}
	if (st.st_size > SECRET_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", src,
		    SECRET_MAX);
		close(fd);
		return -1;
	}
	return fd;
}

int
secret_check(const char *src, char *err, size_t errlen)
{
	int fd;

	if ((fd = secret_open(src, err, errlen)) == -1)
		return -1;
	close(fd);
	return 0;
}

/* The whole file, at most SECRET_MAX bytes: its length, or -1. */
static ssize_t
secret_read(const char *src, char *buf, char *err, size_t errlen)
{
	ssize_t n = 0, r;
	int fd;

	if ((fd = secret_open(src, err, errlen)) == -1)
		return -1;
	/* One more than the most: a file that grew is caught, not cut. */
	while (n <= SECRET_MAX && (r = read(fd, buf + n,
	    SECRET_MAX + 1 - (size_t)n)) != 0) {
		if (r == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: %s", src, strerror(errno));
			close(fd);
			return -1;
		}
		n += r;
	}
	close(fd);
	if (n > SECRET_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", src,
		    SECRET_MAX);
		return -1;
	}
	return n;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

const char *
secrets_copy(struct secrets *s, const char *src, char *err, size_t errlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char sum[32];
	char *buf = NULL, name[40], *path = NULL, *tmp = NULL;
	struct copy *c;
	const char *ret = NULL;
	ssize_t n;
	int fd;

	if ((buf = malloc(SECRET_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((n = secret_read(src, buf, err, errlen)) == -1)
		goto done;
	if (s->dir == NULL && secrets_mkdir(s, err, errlen) == -1)
		goto done;
	/* Named by its content: the same content, the same copy. */
	if (mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    (unsigned char *)buf, (size_t)n, sum) != 0) {
		snprintf(err, errlen, "SHA-256 failed");
		goto done;
	}
	for (size_t i = 0; i < 16; i++) {
		name[2 * i] = hex[sum[i] >> 4];
		name[2 * i + 1] = hex[sum[i] & 15];
	}
	name[32] = '\0';
	for (c = s->copies; c != NULL; c = c->next)
		if (strcmp(strrchr(c->path, '/') + 1, name) == 0) {
			ret = c->path;
			goto done;
		}
	if (asprintf(&path, "%s/%s", s->dir, name) == -1 ||
	    asprintf(&tmp, "%s/.%s", s->dir, name) == -1) {
		path = tmp = NULL;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) ==
	    -1 || fchmod(fd, 0444) == -1 || write_all(fd, buf, (size_t)n) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			(void)close(fd);
		(void)unlink(tmp);
		goto done;
	}
	if (close(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		(void)unlink(tmp);
		goto done;
	}
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto done;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)unlink(path);
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	c->path = path;
	path = NULL;
	c->next = s->copies;
	s->copies = c;
	ret = c->path;
done:
	explicit_bzero(buf, SECRET_MAX + 1);
	free(buf);
	free(path);
	free(tmp);
	return ret;
}
