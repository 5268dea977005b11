/*
 * server.h: listeners and client connections, one HTTP request at a time
 * per connection, driven by the loop.
 */
#ifndef DCGI_SERVER_H
#define DCGI_SERVER_H

#include <stddef.h>

struct conf;
struct loop;
struct server;

/*
 * Open everything `conf` asks for (logs, MIME table, document root,
 * listeners) and start accepting.  Takes a reference to conf.  NULL with a
 * message in err on failure.
 */
struct server	*server_new(struct loop *, struct conf *, char *err, size_t errlen);

/*
 * Switch to `conf`: listeners added and removed, logs reopened.  On any
 * failure the old configuration stays in force and -1 is returned (the
 * reason is logged).  Takes a reference to conf on success.
 */
int		 server_reload(struct server *, struct conf *);

/* Stop accepting and finish what is in flight, within GracePeriod. */
void		 server_stop(struct server *);
/* Nonzero once a stopping server has no connection left. */
int		 server_done(const struct server *);
void		 server_free(struct server *);

#endif
