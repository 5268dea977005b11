/*
 * access.h: who may have a route or a <Location>: Require (all, ip, user,
 * valid-user), and HTTP Basic authentication (RFC 7617) against an
 * htpasswd file of bcrypt hashes (AuthUserFile, AuthName).
 *
 * Ownership: a struct access belongs to the struct conf it was parsed
 * into (a route's, or a location's) and lives as long as that conf; its
 * user file is loaded by conf_load() (by the privileged process, before a
 * server process is made) and freed with it.  access_check() keeps no
 * pointer to what it is given.  The cache of credentials already checked
 * is the calling process's own (one per process, like metrics.c's
 * registry) and never outlives the user file it names: each load gets a
 * generation number, and an entry of another generation is a miss.
 */
#ifndef DCGI_ACCESS_H
#define DCGI_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#define ACCESS_USER_MAX	255	/* a user name's bytes */
#define ACCESS_PASS_MAX	255	/* a password's bytes (bcrypt reads 72) */

/* An address and how many of its leading bits count. */
struct access_net {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* the network, host bits zero */
	int		 bits;
};

struct access_user {
	char		*name;
	char		*hash;		/* "$2y$..." as htpasswd -B wrote it */
};

/* An htpasswd file, as loaded. */
struct access_file {
	char		*path;
	struct access_user *users;
	size_t		 nusers;
	char		*dummy;		/* a hash to check unknown users with */
	uint64_t	 gen;		/* unique per load, for the cache */
};

struct access {
	int		 set;		/* any Require given */
	int		 all;		/* 1: all granted, -1: all denied */
	struct access_net *nets;	/* Require ip */
	size_t		 nnets;
	int		 valid_user;	/* Require valid-user */
	char		**users;	/* Require user: NULL-terminated */
	size_t		 nusers;
	struct access_file *file;	/* AuthUserFile */
	char		*realm;		/* AuthName; NULL: "dcgi" */
	const char	*at_file;	/* where the first Require is (the */
	int		 at_line;	/* file name is the conf's) */
};

enum access_result {
	ACCESS_OK,
	ACCESS_FORBIDDEN,	/* 403: the address may not */
	ACCESS_UNAUTHORIZED,	/* 401: credentials wanted, or wrong */
	ACCESS_BUSY		/* 429: too many checks this second */
};

/*
 * "192.0.2.0/24", "2001:db8::/32", "127.0.0.1" (a /32), "::1" (a /128).
 * 0, or -1 with why set.
 */
int		 access_net_parse(const char *, struct access_net *,
		    const char **why);
/* Whether the address text (as accept() gave it) is in the network; an
 * IPv4-mapped IPv6 address counts as IPv4. */
int		 access_net_match(const struct access_net *, const char *addr);

/*
 * Load an htpasswd file: "user:hash" lines, bcrypt hashes only ($2y$,
 * $2b$, $2a$); blank lines and lines starting with '#' are skipped.
 * 0, or -1 with "LINE: message" (or the system's error) in err.
 */
int		 access_file_load(const char *path, struct access_file *,
		    char *err, size_t errlen);
void		 access_file_free(struct access_file *);
void		 access_free(struct access *);

/*
 * The credentials of an Authorization header's value, "Basic base64":
 * user and password, NUL-terminated.  0, or -1 when it is not Basic, not
 * base64, has no ':', a NUL, or is too long.
 */
int		 access_basic(const char *value, char *user, size_t ulen,
		    char *pass, size_t plen);

/*
 * May the client at `addr`, with the Authorization header `authz` (NULL:
 * none), have what `a` guards?  `now_ms` is monotonic.  On ACCESS_OK
 * after a user was checked, *user is that user's name (as in the file:
 * the log and REMOTE_USER may show it); else NULL.  *why says, for the
 * error log, why not (a constant string).
 */
enum access_result access_check(const struct access *, const char *addr,
		    const char *authz, int64_t now_ms, const char **user,
		    const char **why);

/* Whether `a` asks for a user (so that Authorization is the server's,
 * not the function's). */
int		 access_wants_user(const struct access *);

/* bcrypt's share of each second, in ms, beyond which a check that the
 * cache cannot answer is refused (ACCESS_BUSY). */
#define ACCESS_BCRYPT_MS_PER_SEC	250

#endif
