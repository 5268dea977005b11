/*
 * t_secret.c: Secret files' copies (secret.h): their content, modes and
 * names, what is refused, and who removes them.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "tap.h"

static char tmpdir[] = "/tmp/t_secret.XXXXXX";

static const char *
file_with(const char *name, const char *text, size_t n)
{
	static char path[4][256];
	static int k;
	char *p = path[k++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", tmpdir, name);
	if ((f = fopen(p, "w")) != NULL) {
		fwrite(text, 1, n, f);
		fclose(f);
	}
	chmod(p, 0600);
	return p;
}

/* Alive: only the instance "42:7" (and ours). */
static int
alive(const char *inst)
{
	return strcmp(inst, "42:7") == 0 || strcmp(inst, "1:1") == 0;
}

static void
mkdir_with(const char *name, mode_t mode, int with_file)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	mkdir(p, 0700);
	chmod(p, mode);
	if (with_file) {
		snprintf(p, sizeof(p), "%s/%s/0123abcd", tmpdir, name);
		close(open(p, O_WRONLY | O_CREAT, 0444));
	}
}

static int
there(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return access(p, F_OK) == 0;
}

static char *
slurp(const char *path)
{
	static char buf[256];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int
main(void)
{
	struct secrets *s;
	const char *a, *b, *c, *src, *dir;
	char err[512], *big, keep[256], dirkeep[256];
	struct stat st;
	pid_t pid;
	int status;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	/* Copies go to $RUNTIME_DIRECTORY first: ours, for the test. */
	setenv("RUNTIME_DIRECTORY", tmpdir, 1);

	/* What dcgids that died left, and what is not theirs. */
	mkdir_with("dcgi-secrets.999999-5.aaaaaa", 0700, 1);	/* dead */
	mkdir_with("dcgi-secrets.42-7.bbbbbb", 0700, 1);	/* alive */
	mkdir_with("dcgi-secrets.999998-5.cccccc", 0755, 1);	/* not 0700 */
	mkdir_with("dcgi-secretsX", 0700, 0);
	mkdir_with("other", 0700, 1);

	s = secrets_new("1:1", alive);
	ok(s != NULL && secrets_dir(s) == NULL, "no directory before a copy");
	src = file_with("pw", "hunter2\n", 8);
	a = secrets_copy(s, src, err, sizeof(err));
	ok(a != NULL, "a copy of a 0600 file: %s", a ? a : err);
	if (a == NULL)
		return 1;
	dir = secrets_dir(s);
	ok(dir != NULL && strncmp(dir, tmpdir, strlen(tmpdir)) == 0 &&
	    strstr(dir, "/dcgi-secrets.") != NULL,
	    "in a directory of its own under $RUNTIME_DIRECTORY: %s", dir);
	ok(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700,
	    "  the directory is 0700 (no one else on the host gets in)");
	ok(strstr(dir, "/dcgi-secrets.1-1.") != NULL,
	    "  its name says whose it is (PID-START): %s", dir);
	ok(!there("dcgi-secrets.999999-5.aaaaaa"),
	    "  the copies of a dcgid that died were removed");
	ok(there("dcgi-secrets.42-7.bbbbbb/0123abcd"),
	    "  those of one still running stay");
	ok(there("dcgi-secrets.999998-5.cccccc/0123abcd") &&
	    there("dcgi-secretsX") && there("other/0123abcd"),
	    "  what is not a directory of copies (mode, name) stays");
	ok(stat(a, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == 0444,
	    "  the copy is 0444 (any user in the container reads it)");
	is_str(slurp(a), "hunter2\n", "  with the file's content");
	ok(strstr(a, "hunter2") == NULL && strstr(a, "pw") == NULL,
	    "  named by a hash, not by the secret or its file");

	b = secrets_copy(s, file_with("pw-again", "hunter2\n", 8), err,
	    sizeof(err));
	ok(b != NULL && strcmp(a, b) == 0, "the same content: the same copy");
	file_with("pw", "hunter3\n", 8);
	c = secrets_copy(s, src, err, sizeof(err));
	ok(c != NULL && strcmp(a, c) != 0 && strcmp(slurp(c), "hunter3\n") ==
	    0, "the file changed (a reload): a new copy with the new content");
	is_str(slurp(a), "hunter2\n",
	    "  the old copy stays for the containers that have it");

	c = secrets_copy(s, file_with("empty", "", 0), err, sizeof(err));
	ok(c != NULL && stat(c, &st) == 0 && st.st_size == 0,
	    "an empty file is a secret too");

	/* What is refused, and why. */
	ok(secrets_copy(s, "/nonexistent/pw", err, sizeof(err)) == NULL &&
	    strstr(err, "/nonexistent/pw: No such file") != NULL,
	    "a missing file: %s", err);
	ok(secret_check("/nonexistent/pw", err, sizeof(err)) == -1 &&
	    strstr(err, "No such file") != NULL, "  secret_check says so too");
	ok(secrets_copy(s, tmpdir, err, sizeof(err)) == NULL &&
	    strstr(err, "not a regular file") != NULL, "a directory: %s", err);
	snprintf(keep, sizeof(keep), "%s/fifo", tmpdir);
	mkfifo(keep, 0600);
	alarm(10);	/* a FIFO must not block the engine */
	ok(secrets_copy(s, keep, err, sizeof(err)) == NULL &&
	    strstr(err, "not a regular file") != NULL, "a FIFO, at once: %s",
	    err);
	ok(secret_check(keep, err, sizeof(err)) == -1,
	    "  secret_check refuses it at once too");
	alarm(0);
	big = calloc(1, SECRET_MAX + 1);
	memset(big, 'x', SECRET_MAX + 1);
	src = file_with("big", big, SECRET_MAX + 1);
	ok(secrets_copy(s, src, err, sizeof(err)) == NULL &&
	    strstr(err, "larger than 65536 bytes") != NULL, "%d bytes: %s",
	    SECRET_MAX + 1, err);
	ok(secret_check(src, err, sizeof(err)) == -1, "  secret_check too");
	src = file_with("max", big, SECRET_MAX);
	ok(secrets_copy(s, src, err, sizeof(err)) != NULL &&
	    secret_check(src, err, sizeof(err)) == 0, "%d bytes: a secret",
	    SECRET_MAX);
	free(big);

	/* A process forked from the owner leaves the copies alone. */
	snprintf(keep, sizeof(keep), "%s", a);
	snprintf(dirkeep, sizeof(dirkeep), "%s", dir);
	if ((pid = fork()) == 0) {
		secrets_free(s);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(access(keep, R_OK) == 0, "a forked process's secrets_free() "
	    "removes nothing");
	secrets_free(s);
	ok(access(keep, F_OK) == -1 && access(dirkeep, F_OK) == -1,
	    "the owner's removes the copies and the directory");

	/*
	 * A rootless engine (its socket another user's than root and ours):
	 * the directory is that user's, so that it can bind the copies; the
	 * copies stay ours and read-only.  The sweep knows such directories.
	 */
	if (geteuid() == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		char host[sizeof(sun.sun_path) + 8];
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/engine.sock",
		    tmpdir);
		ok(fd != -1 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) ==
		    0 && chown(sun.sun_path, 4242, 4242) == 0,
		    "a socket of the user 4242, as rootless Podman's");
		snprintf(host, sizeof(host), "unix://%s", sun.sun_path);
		mkdir_with("dcgi-secrets.999997-5.dddddd", 0700, 1);
		snprintf(keep, sizeof(keep), "%s/dcgi-secrets.999997-5.dddddd",
		    tmpdir);
		ok(chown(keep, 4242, 4242) == 0, "  a dead dcgid's copies, "
		    "given to it");
		s = secrets_new("1:1", alive);
		secrets_engine(s, host);
		a = secrets_copy(s, file_with("pw", "hunter2\n", 8), err,
		    sizeof(err));
		ok(a != NULL && stat(secrets_dir(s), &st) == 0 &&
		    st.st_uid == 4242 && (st.st_mode & 07777) == 0700,
		    "  the directory is the engine user's, 0700");
		ok(a != NULL && stat(a, &st) == 0 && st.st_uid == 0 &&
		    (st.st_mode & 07777) == 0444 &&
		    strcmp(slurp(a), "hunter2\n") == 0,
		    "  the copy is ours, 0444, with the content");
		ok(!there("dcgi-secrets.999997-5.dddddd"),
		    "  the dead dcgid's directory of the engine's user is "
		    "removed");
		secrets_free(s);
		close(fd);

		s = secrets_new("1:1", alive);
		secrets_engine(s, "unix:///nonexistent/engine.sock");
		a = secrets_copy(s, file_with("pw", "hunter2\n", 8), err,
		    sizeof(err));
		ok(a != NULL && stat(secrets_dir(s), &st) == 0 &&
		    st.st_uid == 0, "an engine socket not there (yet): ours");
		secrets_free(s);
	} else
		skip(5, "not root: cannot give a socket to another user");

	snprintf(err, sizeof(err), "rm -rf %s", tmpdir);
	if (system(err) != 0)
		return 1;
	done_testing();
}
