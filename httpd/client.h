/*
 * client.h: what one client holds, for the per-client limits
 * (MaxConnectionsPerClient, MaxContainersPerClient).
 *
 * A client is an IPv4 address, or an IPv6 /64: one host, or one network,
 * usually gets a /64, so that its addresses count together.  The record
 * lives while a connection or a container job refers to it.
 */
#ifndef DCGI_CLIENT_H
#define DCGI_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CLIENT_KEY	9	/* family, then 4 or 8 address bytes */

struct clients;

struct client {
	struct clients	*table;
	struct client	*next;		/* hash chain */
	unsigned char	 key[CLIENT_KEY];
	char		 name[64];	/* "192.0.2.7", "2001:db8:1:2::/64" */
	int		 refs;
	int		 conns;		/* connections open */
	int		 containers;	/* containers running for it */
	int64_t		 burst[2];	/* ms: a limit said in the log, or 0 */
	unsigned	 refused[2];	/* refused since */
};

/* The two limits, each with its own bursts. */
enum client_limit {
	CLIENT_CONNS,		/* MaxConnectionsPerClient */
	CLIENT_CONTAINERS	/* MaxContainersPerClient */
};

struct clients	*clients_new(void);
/* Nothing may refer to a client by now. */
void		 clients_free(struct clients *);
/* The record for the client at `sa` (a new reference); NULL: no memory. */
struct client	*client_get(struct clients *, const struct sockaddr *);
struct client	*client_ref(struct client *);
void		 client_unref(struct client *);

/*
 * The key a socket address counts under (IPv4-mapped IPv6 as IPv4, IPv6
 * by its /64) and its name; -1 for another family.  For the tests.
 */
int		 client_key(const struct sockaddr *, unsigned char key[CLIENT_KEY],
		    char *name, size_t namelen);

/*
 * Logging once per burst: a connection or a request of the client was
 * refused at a limit (now, in ms).  Returns 1 when that starts a burst (the caller says so in the
 * log), 0 within one (it is only counted).
 */
int		 client_limited(struct client *, enum client_limit, int64_t now);
/*
 * Whether a burst is over: the client is no longer `busy` (it holds
 * nothing that counts against the limit), or the last word on it is a
 * minute old.  Returns the requests refused
 * in it (for a closing log line) and forgets the burst; 0 when no burst
 * is over.
 */
unsigned	 client_burst_over(struct client *, enum client_limit, int busy,
		    int64_t now);

#endif
