/*
 * t_access.c: Require's networks, Basic credentials, htpasswd files and
 * the decision access_check() makes, on known inputs.  The hashes are
 * what `htpasswd -nbB` (apache2-utils) wrote for the passwords beside
 * them, and one $2b$ from libcrypt itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "tap.h"

/* alice:secret (cost 5), dave:"pa:ss wörd" (5), carol:pw3 (cost 13),
 * erin:secret ($2b$, cost 5) */
#define ALICE	"alice:$2y$05$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4VS"
#define DAVE	"dave:$2y$05$v816owcpDq2tPh7vmaCadet5s6L6/7XLdo47Jy2dVN5F14BeGnB6q"
#define CAROL	"carol:$2y$13$v9CzIGXgWnOXUQ.lfdqYNeUsJQmlkbpamVkO/O3Cv1rKzGOE9iZDe"
#define ERIN	"erin:$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"

static char tmpdir[] = "/tmp/t_access.XXXXXX";

static const char *
file_with(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "w")) == NULL)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_nets(void)
{
	static const struct {
		const char *net, *addr;
		int match;
	} cases[] = {
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "127.0.0.2", 0 },
		{ "127.0.0.0/8", "127.255.1.2", 1 },
		{ "10.0.0.0/8", "11.0.0.1", 0 },
		{ "192.168.4.0/22", "192.168.7.255", 1 },
		{ "192.168.4.0/22", "192.168.8.0", 0 },
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "0.0.0.0/0", "::1", 0 },
		{ "127.0.0.1", "::ffff:127.0.0.1", 1 },	/* mapped: IPv4 */
		{ "::1", "::1", 1 },
		{ "::1", "127.0.0.1", 0 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/33", "2001:db8:8000::1", 0 },
		{ "::/0", "fe80::1", 1 },
		{ "127.0.0.1", "not an address", 0 },
	};
	static const char *const bad[] = {
		"127.0.0.1/33", "::1/129", "10.0.0.1/8", "2001:db8::1/32",
		"localhost", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
		"10.0.0.0/+8", "", "1.2.3", "::1/ 8",
	};
	struct access_net n;
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok(access_net_parse(cases[i].net, &n, &why) == 0,
		    "Require ip %s parses", cases[i].net);
		is_int(access_net_match(&n, cases[i].addr), cases[i].match,
		    "%s %s %s", cases[i].addr, cases[i].match ? "is in" :
		    "is not in", cases[i].net);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ok(access_net_parse(bad[i], &n, &why) == -1 && why != NULL,
		    "Require ip \"%s\" is refused: %s", bad[i],
		    why ? why : "-");
	}
}

static void
test_basic(void)
{
	static const struct {
		const char *value, *user, *pass;	/* user NULL: refused */
	} cases[] = {
		{ "Basic YWxpY2U6c2VjcmV0", "alice", "secret" },
		{ "basic   YWxpY2U6c2VjcmV0  ", "alice", "secret" },
		{ "Basic YTpiOmM=", "a", "b:c" },	/* the first ':' */
		{ "Basic YTo=", "a", "" },		/* an empty password */
		{ "Basic YTo", "a", "" },		/* padding left out */
		{ "Basic ZGF2ZTpwYTpzcyB3w7ZyZA==", "dave", "pa:ss w\xc3\xb6rd" },
		{ "Basic OnB3", NULL, NULL },		/* no user */
		{ "Basic YWxpY2U=", NULL, NULL },	/* no ':' */
		{ "Basic YWxp Y2U6c2VjcmV0", NULL, NULL },
		{ "Basic YWxpY2U6c2VjcmV0=", NULL, NULL },	/* bad padding */
		{ "Basic ====", NULL, NULL },
		{ "Basic", NULL, NULL },
		{ "Basic ", NULL, NULL },
		{ "Bearer YWxpY2U6c2VjcmV0", NULL, NULL },
		{ "BasicYWxpY2U6c2VjcmV0", NULL, NULL },
		{ "Basic YQBiOmM=", NULL, NULL },	/* "a\0b:c" */
		{ "Basic YQFiOmM=", NULL, NULL },	/* a control character */
		{ "Basic !!!!", NULL, NULL },
	};
	char user[ACCESS_USER_MAX + 1], pass[ACCESS_PASS_MAX + 1];
	char big[2000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = access_basic(cases[i].value, user, sizeof(user), pass,
		    sizeof(pass));

		if (cases[i].user == NULL) {
			is_int(rc, -1, "\"%s\" is refused", cases[i].value);
			continue;
		}
		is_int(rc, 0, "\"%s\" is read", cases[i].value);
		if (rc == 0) {
			is_str(user, cases[i].user, "  its user");
			is_str(pass, cases[i].pass, "  its password");
		}
	}
	/* Longer than a user and a password may be: refused, not cut. */
	memcpy(big, "Basic ", 6);
	memset(big + 6, 'Q', 1000);
	big[1006] = '\0';
	is_int(access_basic(big, user, sizeof(user), pass, sizeof(pass)), -1,
	    "1000 characters of base64: refused");
}

static void
test_files(void)
{
	static const struct {
		const char *text, *err;		/* err NULL: loads */
	} cases[] = {
		{ ALICE "\n" DAVE "\n", NULL },
		{ "# users\n\n" ALICE "\r\n", NULL },
		{ ALICE, NULL },			/* no newline at the end */
		{ "", "no users in it" },
		{ "# only a comment\n", "no users in it" },
		{ ALICE "\n" ALICE "\n", "line 2: user \"alice\" again" },
		{ "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
		  "line 1: user \"alice\": not a bcrypt hash" },
		{ "alice:$apr1$abc$def\n", "line 1: user \"alice\": not a bcrypt" },
		{ "alice:secret\n", "line 1: user \"alice\": not a bcrypt" },
		{ "alice\n", "line 1: not \"user:hash\"" },
		{ ":$2y$05$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4VS\n",
		  "line 1: not \"user:hash\"" },
		{ "alice:$2y$05$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4V\n",
		  "line 1: user \"alice\": not a bcrypt" },	/* one short */
		{ "alice:$2y$99$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4VS\n",
		  "line 1: user \"alice\": not a bcrypt" },	/* cost 99 */
		{ "al\x01ice:$2y$05$G8LXQvLFec4fnZ9qchrnkepcB/3hZkgHO0zWMMri4BUL6FqM9C4VS\n",
		  "line 1: a control character" },
	};
	struct access_file f;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = file_with("users", cases[i].text);
		int rc;

		err[0] = '\0';
		rc = access_file_load(path, &f, err, sizeof(err));
		if (cases[i].err == NULL) {
			ok(rc == 0 && f.nusers > 0 && f.gen > 0,
			    "file %zu loads (%zu users)%s%s", i, f.nusers,
			    rc ? ": " : "", rc ? err : "");
			access_file_free(&f);
		} else
			ok(rc == -1 && strncmp(err, cases[i].err,
			    strlen(cases[i].err)) == 0,
			    "file %zu: \"%s\" (%s)", i, err, cases[i].err);
	}
	err[0] = '\0';
	ok(access_file_load("/nonexistent/users", &f, err, sizeof(err)) == -1 &&
	    strstr(err, "No such file") != NULL, "a missing file: %s", err);
}

/* An access with Require user/valid-user over a file of text. */
static void
make(struct access *a, const char *text, int valid_user, const char *user)
{
	char err[256];

	memset(a, 0, sizeof(*a));
	a->set = 1;
	a->valid_user = valid_user;
	if (user != NULL) {
		a->users = calloc(2, sizeof(*a->users));
		a->users[0] = strdup(user);
		a->nusers = 1;
	}
	a->file = calloc(1, sizeof(*a->file));
	if (access_file_load(file_with("users", text), a->file, err,
	    sizeof(err)) == -1)
		printf("# %s\n", err);
}

#define CHECK(a, addr, authz, now)					\
	access_check((a), (addr), (authz), (now), &user, &why)

static void
test_check(void)
{
	struct access a, none, ip;
	const char *user, *why;
	char err[256];
	(void)err;

	memset(&none, 0, sizeof(none));
	is_int(CHECK(&none, "192.0.2.1", NULL, 0), ACCESS_OK,
	    "no Require: everyone");

	memset(&ip, 0, sizeof(ip));
	ip.set = 1;
	ip.nets = calloc(1, sizeof(*ip.nets));
	access_net_parse("127.0.0.0/8", &ip.nets[0], &why);
	ip.nnets = 1;
	is_int(CHECK(&ip, "127.0.0.5", NULL, 0), ACCESS_OK,
	    "Require ip 127.0.0.0/8: 127.0.0.5 may");
	is_int(CHECK(&ip, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 0),
	    ACCESS_FORBIDDEN, "  192.0.2.1 may not, credentials or not: 403");
	ip.all = -1;
	ip.nnets = 0;
	is_int(CHECK(&ip, "127.0.0.5", NULL, 0), ACCESS_FORBIDDEN,
	    "Require all denied: no one");
	ip.all = 1;
	is_int(CHECK(&ip, "192.0.2.1", NULL, 0), ACCESS_OK,
	    "Require all granted: everyone");
	ip.nnets = 1;
	access_free(&ip);

	make(&a, ALICE "\n" DAVE "\n" ERIN "\n", 1, NULL);
	is_int(CHECK(&a, "192.0.2.1", NULL, 1000), ACCESS_UNAUTHORIZED,
	    "valid-user, no credentials: 401");
	is_str(why, "no credentials", "  why");
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 1000),
	    ACCESS_OK, "alice:secret: in");
	is_str(user, "alice", "  as alice");
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 1000),
	    ACCESS_OK, "alice:secret again (the cache): in");
	is_str(user, "alice", "  as alice");
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6U2VjcmV0", 1000),
	    ACCESS_UNAUTHORIZED, "alice:Secret: 401");
	is_str(why, "wrong password", "  why");
	is_int(CHECK(&a, "192.0.2.1", "Basic bWFsbG9yeTpzZWNyZXQ=", 1000),
	    ACCESS_UNAUTHORIZED, "mallory:secret: 401");
	is_str(why, "unknown user", "  why");
	is_int(CHECK(&a, "192.0.2.1", "Basic ZGF2ZTpwYTpzcyB3w7ZyZA==", 1000),
	    ACCESS_OK, "dave, a password with ':', ' ' and UTF-8: in");
	is_int(CHECK(&a, "192.0.2.1", "Basic ZXJpbjpzZWNyZXQ=", 1000),
	    ACCESS_OK, "erin, a $2b$ hash: in");
	is_int(CHECK(&a, "192.0.2.1", "Digest username=\"alice\"", 1000),
	    ACCESS_UNAUTHORIZED, "Digest: 401");
	access_free(&a);

	/* The cache is per file load: the same credentials against a new
	 * file (a reload) are checked again. */
	make(&a, "alice:$2y$05$v816owcpDq2tPh7vmaCadet5s6L6/7XLdo47Jy2dVN5F14BeGnB6q\n",
	    1, NULL);
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 2000),
	    ACCESS_UNAUTHORIZED,
	    "alice's password changed in a new file: the cache does not let "
	    "the old one in");
	access_free(&a);

	make(&a, ALICE "\n" DAVE "\n", 0, "dave");
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 3000),
	    ACCESS_UNAUTHORIZED, "Require user dave: alice, right password: 401");
	is_str(why, "a user Require user does not name", "  why");
	is_int(CHECK(&a, "192.0.2.1", "Basic ZGF2ZTpwYTpzcyB3w7ZyZA==", 3000),
	    ACCESS_OK, "  dave: in");
	is_int(access_wants_user(&a), 1, "  it wants a user");
	/* Require ip beside it: the address lets in without credentials. */
	a.nets = calloc(1, sizeof(*a.nets));
	access_net_parse("::1", &a.nets[0], &why);
	a.nnets = 1;
	is_int(CHECK(&a, "::1", NULL, 3000), ACCESS_OK,
	    "Require ip ::1 and user: ::1 needs no credentials");
	is_int(CHECK(&a, "::2", NULL, 3000), ACCESS_UNAUTHORIZED,
	    "  ::2 is asked for them: 401");
	access_free(&a);

	/*
	 * bcrypt's budget: carol's hash (cost 13) takes most of a second's
	 * share by itself; in the same second the next check that is not in
	 * the cache is refused, one that is goes on, and the next second
	 * checks again.
	 */
	make(&a, ALICE "\n" CAROL "\n", 1, NULL);
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 5000),
	    ACCESS_OK, "alice in (and in the cache)");
	for (int i = 0; i < 3; i++)
		(void)CHECK(&a, "192.0.2.1", "Basic Y2Fyb2w6d3Jvbmc=", 5000);
	is_int(CHECK(&a, "192.0.2.1", "Basic Y2Fyb2w6cHcz", 5000), ACCESS_BUSY,
	    "after three cost-13 checks in one second: 429");
	is_str(why, "too many password checks this second", "  why");
	is_int(CHECK(&a, "192.0.2.1", "Basic YWxpY2U6c2VjcmV0", 5000),
	    ACCESS_OK, "  alice, in the cache, still in");
	is_int(CHECK(&a, "192.0.2.1", "Basic Y2Fyb2w6cHcz", 6000), ACCESS_OK,
	    "  the next second: carol in");
	access_free(&a);
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	test_nets();
	test_basic();
	test_files();
	test_check();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	done_testing();
}
