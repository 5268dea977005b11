/*
 * t_client.c: what a client address counts as (IPv4, IPv6 by its /64,
 * IPv4-mapped as IPv4), the records' references, and bursts.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "tap.h"

static struct sockaddr_storage
addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &s6->sin6_addr) != 1)
			abort();
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &s4->sin_addr) != 1)
			abort();
	}
	return ss;
}

static void
test_keys(void)
{
	static const struct {
		const char *a, *b;
		int same;
		const char *name;	/* of a */
	} tab[] = {
		{ "192.0.2.1", "192.0.2.1", 1, "192.0.2.1" },
		{ "192.0.2.1", "192.0.2.2", 0, "192.0.2.1" },
		{ "2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 1, "2001:db8:1:2::/64" },
		{ "2001:db8:1:2::1", "2001:db8:1:3::1", 0, "2001:db8:1:2::/64" },
		{ "::ffff:192.0.2.1", "192.0.2.1", 1, "192.0.2.1" },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.2", 0, "192.0.2.1" },
		{ "::1", "::2", 1, "::/64" },
		{ "::1", "127.0.0.1", 0, "::/64" },
	};
	unsigned char ka[CLIENT_KEY], kb[CLIENT_KEY];
	char name[64], nb[64];
	struct sockaddr_un { sa_family_t f; } un = { AF_UNIX };

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		struct sockaddr_storage a = addr(tab[i].a), b = addr(tab[i].b);

		ok(client_key((struct sockaddr *)&a, ka, name, sizeof(name)) == 0 &&
		    client_key((struct sockaddr *)&b, kb, nb, sizeof(nb)) == 0,
		    "keys of %s and %s", tab[i].a, tab[i].b);
		is_int(memcmp(ka, kb, CLIENT_KEY) == 0, tab[i].same,
		    "%s and %s: %s", tab[i].a, tab[i].b,
		    tab[i].same ? "one client" : "two clients");
		is_str(name, tab[i].name, "%s is named %s", tab[i].a,
		    tab[i].name != NULL ? tab[i].name : "(nothing)");
	}
	is_int(client_key((struct sockaddr *)&un, ka, name, sizeof(name)), -1,
	    "another family: -1");
}

static void
test_records(void)
{
	struct clients *t = clients_new();
	struct sockaddr_storage a = addr("2001:db8::1"), b = addr("2001:db8::2"),
	    c = addr("198.51.100.7");
	struct client *ca, *cb, *cc;

	ca = client_get(t, (struct sockaddr *)&a);
	cb = client_get(t, (struct sockaddr *)&b);
	cc = client_get(t, (struct sockaddr *)&c);
	ok(ca != NULL && ca == cb, "one /64, one record");
	ok(cc != NULL && cc != ca, "another address, another record");
	is_int(ca->refs, 2, "two references");
	ca->conns = 2;
	client_unref(cb);
	is_int(ca->refs, 1, "one left");
	ok(client_get(t, (struct sockaddr *)&a) == ca && ca->conns == 2,
	    "the record stays while referred to");
	client_unref(ca);
	client_unref(ca);
	cb = client_get(t, (struct sockaddr *)&b);
	ok(cb != NULL && cb->conns == 0 && cb->refs == 1,
	    "the last unref freed it: a new record starts at zero");

	/* Bursts: said once, summed up when the client is idle. */
	is_int(client_limited(cc, CLIENT_CONTAINERS, 1000), 1,
	    "the first refusal starts a burst");
	is_int(client_limited(cc, CLIENT_CONTAINERS, 1500), 0, "the second does not");
	is_int(client_limited(cc, CLIENT_CONTAINERS, 2000), 0, "nor the third");
	is_int(client_limited(cc, CLIENT_CONNS, 2000), 1,
	    "connections have bursts of their own");
	is_int(client_burst_over(cc, CLIENT_CONTAINERS, 1, 3000), 0,
	    "still busy: the burst goes on");
	is_int(client_burst_over(cc, CLIENT_CONTAINERS, 0, 3000), 3,
	    "idle: over, 3 refused");
	is_int(client_burst_over(cc, CLIENT_CONTAINERS, 0, 3000), 0,
	    "and said once");
	is_int(client_burst_over(cc, CLIENT_CONNS, 1, 62001), 1,
	    "busy for a minute: summed up all the same");
	is_int(client_limited(cc, CLIENT_CONNS, 62002), 1,
	    "then a refusal starts a new burst");
	client_unref(cb);
	client_unref(cc);
	clients_free(t);
}

int
main(void)
{
	test_keys();
	test_records();
	done_testing();
}
