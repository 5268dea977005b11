/*
 * secret.h: the copies of Secret files that containers mount as
 * /run/secrets/NAME.
 *
 * Where the Docker socket is (the engine process, or the one process),
 * each Secret's file is read when a configuration is applied and copied
 * into a directory of the process's own (mode 0700; each copy 0444, named
 * by a hash of its content, so that a container running as any user can
 * read it through its read-only bind mount and no one else on the host
 * can reach it; a rootless engine's user gets the directory, as it must
 * enter it to bind them); the copy's path goes into the bind.  The content is
 * never in a container's environment, in the create request's Env, in a
 * log, or in a server process.
 *
 * Ownership: struct secrets belongs to the dcgi that made it (dcgi.c)
 * and goes with it; secrets_free() removes the copies and the directory,
 * but only in the process that made them (a process forked from it
 * leaves them alone).  A dcgid killed before that leaves them: the next
 * one to make its directory in the same place removes them.  The paths secrets_copy() returns live as long as
 * the struct secrets.
 */
#ifndef DCGI_SECRET_H
#define DCGI_SECRET_H

#include <stddef.h>

#define SECRET_MAX	(64 * 1024)	/* bytes in a Secret file */

struct secrets;

/*
 * `instance` names this dcgid ("PID:START", as its containers' label
 * dcgi.instance), and goes into the directory's name; alive(instance)
 * says whether the dcgid another directory names still runs: when the
 * directory is made, those of dcgids that died are removed.
 */
struct secrets	*secrets_new(const char *instance, int (*alive)(const char *));
void		 secrets_free(struct secrets *);
/*
 * The engine at `host` (DockerHost): when it is a unix socket of another
 * user than root and us as the directory is made (rootless Podman), the
 * directory is made that user's (still 0700), so that the engine can bind
 * the copies; the copies stay ours, read-only.
 */
void		 secrets_engine(struct secrets *, const char *host);
/*
 * The path of a read-only copy of `src`'s content now, made in the
 * directory (created at the first call) unless one with that content is
 * there; NULL with the reason in err.
 */
const char	*secrets_copy(struct secrets *, const char *src, char *err,
		    size_t errlen);
/* Whether src is a regular file of at most SECRET_MAX bytes that can be
 * opened now: 0, or -1 with the reason (the path first) in err. */
int		 secret_check(const char *src, char *err, size_t errlen);
/* The directory, or NULL before the first copy: for the tests. */
const char	*secrets_dir(const struct secrets *);

#endif
