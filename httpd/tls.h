/*
 * tls.h: HTTPS with mbedtls, non-blocking, inside the event loop.
 *
 * A tls_server holds one certificate chain, its key and the settings from
 * httpd.conf; connections keep a reference to the one they started with,
 * so that a reload with a new certificate never disturbs them.
 */
#ifndef DCGI_TLS_H
#define DCGI_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct conf;
struct tls_server;
struct tls_conn;

/* Load TLSCertificateFile and TLSCertificateKeyFile; NULL with err set. */
struct tls_server *tls_server_new(const struct conf *, char *err, size_t errlen);
void		 tls_server_unref(struct tls_server *);

/* Start the server side of a handshake on fd; NULL when out of memory. */
struct tls_conn	*tls_conn_new(struct tls_server *, int fd);
void		 tls_conn_free(struct tls_conn *);

#define TLS_WANT_READ	1
#define TLS_WANT_WRITE	2
/*
 * Drive the handshake: 0 when done, TLS_WANT_READ/WRITE when it waits on
 * the socket, -1 when it failed (err: why, for the log).
 */
int		 tls_handshake(struct tls_conn *, char *err, size_t errlen);
/*
 * Like recv/send: >0 bytes, 0 (read) at the end, -1 with errno EAGAIN
 * (the socket is not ready; *want says which way) or another errno.
 */
ssize_t		 tls_read(struct tls_conn *, void *, size_t, int *want);
ssize_t		 tls_write(struct tls_conn *, const void *, size_t, int *want);
/*
 * 1 when everything the socket had has been read and returned: with edge
 * triggering, reading again would only see EAGAIN.
 */
int		 tls_drained(struct tls_conn *);
/* Send close_notify (best effort). */
void		 tls_close(struct tls_conn *);
/* The protocol and suite of an established connection, for the log. */
const char	*tls_version(struct tls_conn *);
const char	*tls_cipher(struct tls_conn *);

#endif
