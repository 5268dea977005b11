/*
 * client.c: per-client records in a small hash table.
 *
 * Ownership: a struct client is created by client_get() and freed by the
 * client_unref() that drops its last reference; its table outlives it.
 * A connection holds a reference while it is open (server.c), a container
 * job while it exists (dcgi.c).  Nothing here calls out.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define CLIENT_BUCKETS		1024
#define CLIENT_BURST_MS		60000	/* a burst is summed up at least this often */

struct clients {
	struct client	*b[CLIENT_BUCKETS];
};

struct clients *
clients_new(void)
{
	return calloc(1, sizeof(struct clients));
}

void
clients_free(struct clients *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < CLIENT_BUCKETS; i++)
		while (t->b[i] != NULL) {
			struct client *c = t->b[i];

			t->b[i] = c->next;
			free(c);
		}
	free(t);
}

int
client_key(const struct sockaddr *sa, unsigned char key[CLIENT_KEY],
    char *name, size_t namelen)
{
	memset(key, 0, CLIENT_KEY);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		struct in6_addr net;
		char buf[INET6_ADDRSTRLEN];

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, &s6->sin6_addr.s6_addr[12], 4);
			inet_ntop(AF_INET, key + 1, buf, sizeof(buf));
			snprintf(name, namelen, "%s", buf);
			return 0;
		}
		/* One host or site usually gets a /64: it counts as one. */
		key[0] = 6;
		memcpy(key + 1, &s6->sin6_addr, 8);
		memset(&net, 0, sizeof(net));
		memcpy(&net, &s6->sin6_addr, 8);
		inet_ntop(AF_INET6, &net, buf, sizeof(buf));
		snprintf(name, namelen, "%s/64", buf);
		return 0;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		char buf[INET_ADDRSTRLEN];

		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		snprintf(name, namelen, "%s", buf);
		return 0;
	}
	return -1;
}

static unsigned
client_hash(const unsigned char *key)
{
	unsigned h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < CLIENT_KEY; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % CLIENT_BUCKETS;
}

struct client *
client_get(struct clients *t, const struct sockaddr *sa)
{
	unsigned char key[CLIENT_KEY];
	char name[sizeof(((struct client *)0)->name)];
	struct client *c;
	unsigned h;

	if (client_key(sa, key, name, sizeof(name)) == -1)
		return NULL;
	h = client_hash(key);
	for (c = t->b[h]; c != NULL; c = c->next)
		if (memcmp(c->key, key, CLIENT_KEY) == 0)
			return client_ref(c);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->table = t;
	memcpy(c->key, key, CLIENT_KEY);
	memcpy(c->name, name, sizeof(name));
	c->refs = 1;
	c->next = t->b[h];
	t->b[h] = c;
	return c;
}

struct client *
client_ref(struct client *c)
{
	if (c != NULL)
		c->refs++;
	return c;
}

void
client_unref(struct client *c)
{
	struct client **pp;

	if (c == NULL || --c->refs > 0)
		return;
	for (pp = &c->table->b[client_hash(c->key)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	free(c);
}

int
client_limited(struct client *c, enum client_limit l, int64_t now)
{
	c->refused[l]++;
	if (c->burst[l] != 0)
		return 0;
	c->burst[l] = now == 0 ? 1 : now;
	return 1;
}

unsigned
client_burst_over(struct client *c, enum client_limit l, int busy,
    int64_t now)
{
	unsigned n = c->refused[l];

	if (c->burst[l] == 0 || (busy && now - c->burst[l] < CLIENT_BURST_MS))
		return 0;
	c->burst[l] = 0;
	c->refused[l] = 0;
	return n;
}
