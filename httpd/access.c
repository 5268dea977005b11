/*
 * access.c: Require, and HTTP Basic authentication against an htpasswd
 * file of bcrypt hashes (access.h).
 *
 * The rules of one route or location are tried in the order Apache's
 * implicit <RequireAny> has them: "Require all granted" lets everyone in,
 * "all denied" no one; an address in a "Require ip" network is let in
 * without credentials; then, when a user is required, the credentials
 * decide.  As in Apache, a client that gave none, or wrong ones, or is a
 * user the rules do not name, gets 401 (it may try again as someone
 * else); a client whose address is refused and who could not log in at
 * all gets 403.
 *
 * bcrypt is slow on purpose, and it runs on the event loop.  Two things
 * keep that cheap: credentials that passed are remembered (a keyed
 * SHA-256 of the header, never the password itself), so a browser's
 * every request after the first costs a hash; and bcrypt may take at most
 * ACCESS_BCRYPT_MS_PER_SEC of each second, beyond which a check the cache
 * cannot answer is refused with 429 rather than stall every other client.
 * An unknown user is checked against a dummy hash of the file's cost, so
 * that a wrong name takes as long as a wrong password.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/md.h>

#include "access.h"
#include "loop.h"

#define ACCESS_CACHE	256	/* credentials remembered, per process */
#define ACCESS_LINE_MAX	4096	/* an htpasswd line */
#define ACCESS_USERS_MAX 100000
#define BCRYPT_LEN	60

/*
 * Networks.
 */

int
access_net_parse(const char *s, struct access_net *n, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	int max, bytes;
	long bits;

	memset(n, 0, sizeof(*n));
	if (strlen(s) >= sizeof(buf)) {
		*why = "too long for an address";
		return -1;
	}
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	n->bits = max;
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash, &end, 10);
		if (*slash < '0' || *slash > '9' || *end != '\0' ||
		    errno != 0 || bits > max) {
			*why = n->family == AF_INET ? "the prefix length is "
			    "not 0 to 32" : "the prefix length is not 0 to 128";
			return -1;
		}
		n->bits = (int)bits;
	}
	/* Host bits set are most likely a typo: say so. */
	bytes = max / 8;
	for (int i = 0; i < bytes; i++) {
		int keep = n->bits - i * 8;
		unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 :
		    (unsigned char)(0xff << (8 - keep));

		if (n->addr[i] & ~mask) {
			*why = "bits are set beyond the prefix length";
			return -1;
		}
	}
	return 0;
}

int
access_net_match(const struct access_net *n, const char *addr)
{
	unsigned char a[16];
	int family, full, rest;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1) {
		static const unsigned char mapped[12] = {
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
		};

		family = AF_INET6;
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else
		return 0;
	if (family != n->family)
		return 0;
	full = n->bits / 8;
	rest = n->bits % 8;
	if (memcmp(a, n->addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/*
 * The user file.
 */

static int
bcrypt_hash_ok(const char *h)
{
	static const char alphabet[] = "./ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789";

	if (strlen(h) != BCRYPT_LEN || h[0] != '$' || h[1] != '2' ||
	    strchr("aby", h[2]) == NULL || h[2] == '\0' || h[3] != '$' ||
	    h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' ||
	    h[6] != '$')
		return 0;
	if ((h[4] - '0') * 10 + (h[5] - '0') < 4 ||
	    (h[4] - '0') * 10 + (h[5] - '0') > 31)
		return 0;
	for (int i = 7; i < BCRYPT_LEN; i++)
		if (strchr(alphabet, h[i]) == NULL)
			return 0;
	return 1;
}

void
access_file_free(struct access_file *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nusers; i++) {
		free(f->users[i].name);
		if (f->users[i].hash != NULL)
			explicit_bzero(f->users[i].hash,
			    strlen(f->users[i].hash));
		free(f->users[i].hash);
	}
	free(f->users);
	free(f->dummy);
	free(f->path);
	memset(f, 0, sizeof(*f));
}

int
access_file_load(const char *path, struct access_file *f, char *err,
    size_t errlen)
{
	static uint64_t gens;
	FILE *fp;
	char *line = NULL, *colon;
	size_t cap = 0, alloc = 0;
	ssize_t n;
	int lineno = 0, rc = -1;

	memset(f, 0, sizeof(*f));
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		struct access_user *u;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (n > ACCESS_LINE_MAX || strlen(line) != (size_t)n) {
			snprintf(err, errlen, "line %d: too long, or a NUL",
			    lineno);
			goto done;
		}
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    colon - line > ACCESS_USER_MAX) {
			snprintf(err, errlen, "line %d: not \"user:hash\"",
			    lineno);
			goto done;
		}
		*colon = '\0';
		for (const char *p = line; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				snprintf(err, errlen, "line %d: a control "
				    "character in the user name", lineno);
				goto done;
			}
		if (!bcrypt_hash_ok(colon + 1)) {
			snprintf(err, errlen, "line %d: user \"%s\": not a "
			    "bcrypt hash ($2y$ or $2b$, as htpasswd -B writes "
			    "them)", lineno, line);
			goto done;
		}
		for (size_t i = 0; i < f->nusers; i++)
			if (strcmp(f->users[i].name, line) == 0) {
				snprintf(err, errlen, "line %d: user \"%s\" "
				    "again", lineno, line);
				goto done;
			}
		if (f->nusers == ACCESS_USERS_MAX) {
			snprintf(err, errlen, "line %d: more than %d users",
			    lineno, ACCESS_USERS_MAX);
			goto done;
		}
		if (f->nusers == alloc) {
			size_t na = alloc ? alloc * 2 : 8;

			if ((u = reallocarray(f->users, na, sizeof(*u))) ==
			    NULL)
				goto oom;
			f->users = u;
			alloc = na;
		}
		u = &f->users[f->nusers];
		u->name = strdup(line);
		u->hash = strdup(colon + 1);
		f->nusers++;
		if (u->name == NULL || u->hash == NULL)
			goto oom;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto done;
	}
	if (f->nusers == 0) {
		snprintf(err, errlen, "no users in it");
		goto done;
	}
	/* The dummy: the first user's cost, a fixed salt. */
	if ((f->dummy = malloc(BCRYPT_LEN + 1)) == NULL)
		goto oom;
	memcpy(f->dummy, "$2b$", 4);
	memcpy(f->dummy + 4, f->users[0].hash + 4, 3);
	memset(f->dummy + 7, '.', BCRYPT_LEN - 7);
	f->dummy[BCRYPT_LEN] = '\0';
	if ((f->path = strdup(path)) == NULL)
		goto oom;
	f->gen = ++gens;
	rc = 0;
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
done:
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	if (rc == -1)
		access_file_free(f);
	return rc;
}

void
access_free(struct access *a)
{
	if (a->file != NULL) {
		access_file_free(a->file);
		free(a->file);
	}
	for (size_t i = 0; i < a->nusers; i++)
		free(a->users[i]);
	free(a->users);
	free(a->nets);
	free(a->realm);
	memset(a, 0, sizeof(*a));
}

/*
 * Credentials.
 */

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
access_basic(const char *v, char *user, size_t ulen, char *pass,
    size_t plen)
{
	unsigned char out[ACCESS_USER_MAX + 1 + ACCESS_PASS_MAX + 1];
	size_t n = 0, len, i, pad = 0;
	unsigned acc = 0;
	int bits = 0, rc = -1;
	char *colon;

	if (strncasecmp(v, "Basic", 5) != 0 || (v[5] != ' ' && v[5] != '\t'))
		return -1;
	v += 5;
	while (*v == ' ' || *v == '\t')
		v++;
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	while (pad < 2 && len > 0 && v[len - 1] == '=') {
		len--;
		pad++;
	}
	if (len == 0 || len % 4 == 1 || (pad > 0 && (len + pad) % 4 != 0))
		return -1;
	for (i = 0; i < len; i++) {
		int d = b64_value((unsigned char)v[i]);

		if (d < 0)
			goto done;
		acc = (acc << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == sizeof(out) - 1)
				goto done;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL ||
	    (colon = memchr(out, ':', n)) == NULL)
		goto done;
	*colon = '\0';
	if ((size_t)(colon - (char *)out) >= ulen ||
	    strlen(colon + 1) >= plen || colon == (char *)out)
		goto done;
	for (unsigned char *p = out; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			goto done;
	strcpy(user, (char *)out);
	strcpy(pass, colon + 1);
	rc = 0;
done:
	explicit_bzero(out, sizeof(out));
	return rc;
}

/*
 * The cache of credentials that passed, and bcrypt's budget.
 */

struct cached {
	unsigned char	 mac[32];
	uint64_t	 gen;		/* 0: empty */
	size_t		 user;
};

static struct cached	cache[ACCESS_CACHE];
static unsigned char	cache_key[32];
static int		cache_keyed;
static int64_t		budget_sec = -1;
static int64_t		budget_used_us;

/* HMAC-SHA-256 of the file's generation and the header: 0, or -1. */
static int
cache_mac(uint64_t gen, const char *authz, unsigned char mac[32])
{
	const mbedtls_md_info_t *info;
	mbedtls_md_context_t ctx;
	int rc = -1;

	if (!cache_keyed) {
		if (getrandom(cache_key, sizeof(cache_key), 0) !=
		    (ssize_t)sizeof(cache_key))
			return -1;
		cache_keyed = 1;
	}
	if ((info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256)) == NULL)
		return -1;
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, info, 1) == 0 &&
	    mbedtls_md_hmac_starts(&ctx, cache_key, sizeof(cache_key)) == 0 &&
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)&gen,
	    sizeof(gen)) == 0 &&
	    mbedtls_md_hmac_update(&ctx, (const unsigned char *)authz,
	    strlen(authz)) == 0 &&
	    mbedtls_md_hmac_finish(&ctx, mac) == 0)
		rc = 0;
	mbedtls_md_free(&ctx);
	return rc;
}

static int
same(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* Whether pass hashes to hash, in time that does not depend on where
 * they differ. */
static int
bcrypt_ok(const char *pass, const char *hash)
{
	static struct crypt_data data;
	const char *out;
	int ok;

	memset(&data, 0, sizeof(data));
	out = crypt_rn(pass, hash, &data, sizeof(data));
	ok = out != NULL && strlen(out) == BCRYPT_LEN &&
	    same((const unsigned char *)out, (const unsigned char *)hash,
	    BCRYPT_LEN);
	explicit_bzero(&data, sizeof(data));
	return ok;
}

int
access_wants_user(const struct access *a)
{
	return a->set && a->all == 0 && (a->valid_user || a->nusers > 0);
}

enum access_result
access_check(const struct access *a, const char *addr, const char *authz,
    int64_t now_ms, const char **user, const char **why)
{
	char name[ACCESS_USER_MAX + 1], pass[ACCESS_PASS_MAX + 1];
	const struct access_file *f = a->file;
	unsigned char mac[32];
	struct cached *slot = NULL;
	size_t idx = 0;
	int64_t t0;
	int found = 0, ok, have_mac;
	enum access_result res = ACCESS_UNAUTHORIZED;

	*user = NULL;
	*why = NULL;
	if (!a->set || a->all == 1)
		return ACCESS_OK;
	if (a->all == -1) {
		*why = "Require all denied";
		return ACCESS_FORBIDDEN;
	}
	for (size_t i = 0; i < a->nnets; i++)
		if (access_net_match(&a->nets[i], addr))
			return ACCESS_OK;
	if (!access_wants_user(a) || f == NULL) {
		*why = "the address is not one Require ip allows";
		return ACCESS_FORBIDDEN;
	}
	if (authz == NULL) {
		*why = "no credentials";
		return ACCESS_UNAUTHORIZED;
	}
	have_mac = cache_mac(f->gen, authz, mac) == 0;
	if (have_mac) {
		slot = &cache[(mac[0] | (size_t)mac[1] << 8) % ACCESS_CACHE];
		if (slot->gen == f->gen && same(slot->mac, mac, sizeof(mac)) &&
		    slot->user < f->nusers) {
			idx = slot->user;
			goto known;
		}
	}
	if (access_basic(authz, name, sizeof(name), pass, sizeof(pass)) ==
	    -1) {
		*why = "credentials that are not Basic, or malformed";
		return ACCESS_UNAUTHORIZED;
	}
	if (budget_sec != now_ms / 1000) {
		budget_sec = now_ms / 1000;
		budget_used_us = 0;
	}
	if (budget_used_us >= ACCESS_BCRYPT_MS_PER_SEC * 1000) {
		*why = "too many password checks this second";
		res = ACCESS_BUSY;
		goto done;
	}
	for (size_t i = 0; i < f->nusers; i++)
		if (strcmp(f->users[i].name, name) == 0) {
			idx = i;
			found = 1;
			break;
		}
	t0 = loop_clock_us();
	ok = bcrypt_ok(pass, found ? f->users[idx].hash : f->dummy);
	budget_used_us += loop_clock_us() - t0;
	if (!found) {
		*why = "unknown user";
		goto done;
	}
	if (!ok) {
		*why = "wrong password";
		goto done;
	}
	if (slot != NULL) {
		memcpy(slot->mac, mac, sizeof(mac));
		slot->gen = f->gen;
		slot->user = idx;
	}
known:
	if (!a->valid_user) {
		size_t i;

		for (i = 0; i < a->nusers; i++)
			if (strcmp(a->users[i], f->users[idx].name) == 0)
				break;
		if (i == a->nusers) {
			*why = "a user Require user does not name";
			goto done;
		}
	}
	*user = f->users[idx].name;
	res = ACCESS_OK;
done:
	explicit_bzero(pass, sizeof(pass));
	return res;
}
