/*
 * tls.c: mbedtls glue.  The sockets stay non-blocking; the I/O callbacks
 * turn EAGAIN into MBEDTLS_ERR_SSL_WANT_READ/WRITE and the event loop
 * calls back in when the socket is ready.
 *
 * Defaults: TLS 1.2 (and 1.3 with mbedtls 3), ECDHE key exchange with
 * AES-GCM or ChaCha20-Poly1305 only (forward secrecy and AEAD), ALPN
 * http/1.1, session tickets whose key rotates every day, and one CTR-DRBG
 * seeded from the system's entropy.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/version.h>

#include "config.h"
#include "conf.h"
#include "log.h"
#include "tls.h"

#define TLS_TICKET_LIFETIME	86400	/* seconds; the key rotates with it */

struct tls_server {
	int			 refs;
	mbedtls_ssl_config	 conf;
	mbedtls_x509_crt	 chain;
	mbedtls_pk_context	 key;
	int			*suites;
};

/*
 * mbedtls 2.28 reads a record in two recv(2) calls, header then body, and
 * cannot say whether the socket is drained.  The read-ahead buffer takes
 * what the socket has in one call; a short recv tells that the socket is
 * empty, so that the edge-triggered loop need not ask again to see EAGAIN.
 */
#define TLS_READAHEAD	4096

struct tls_conn {
	struct tls_server	*srv;
	mbedtls_ssl_context	 ssl;
	int			 fd;
	int			 drained;	/* the last recv came up short */
	size_t			 roff, rlen;
	unsigned char		 rbuf[TLS_READAHEAD];
};

/* One random generator and one ticket key for the process. */
static mbedtls_entropy_context	tls_entropy;
static mbedtls_ctr_drbg_context	tls_drbg;
static mbedtls_ssl_ticket_context tls_tickets;
static int			tls_ready;

static const char *tls_alpn[] = { "http/1.1", NULL };

/*
 * Key exchange groups, in the server's order of preference.  mbedtls 2.28
 * would otherwise choose secp521r1 first, which costs three times the CPU
 * of X25519 or P-256 per full handshake (measured: 91 against 300 per
 * second on one core).  P-521 stays last for P-521 certificates.
 */
static const mbedtls_ecp_group_id tls_curves[] = {
	MBEDTLS_ECP_DP_CURVE25519,
	MBEDTLS_ECP_DP_SECP256R1,
	MBEDTLS_ECP_DP_SECP384R1,
	MBEDTLS_ECP_DP_SECP521R1,
	MBEDTLS_ECP_DP_NONE
};

static const int tls_default_suites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
#if DCGI_MBEDTLS_MAJOR >= 3
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
	0
};

/* "-0x7780 (SSL - A fatal alert message was received from our peer)" */
static const char *
tls_strerror(int rc, char *buf, size_t len)
{
	char msg[160];

	mbedtls_strerror(rc, msg, sizeof(msg));
	snprintf(buf, len, "-0x%04x (%s)", (unsigned)-rc, msg);
	return buf;
}

static int
tls_init(char *err, size_t errlen)
{
	static const char pers[] = "dcgid";
	char e[200];
	int rc;

	if (tls_ready)
		return 0;
	mbedtls_entropy_init(&tls_entropy);
	mbedtls_ctr_drbg_init(&tls_drbg);
	mbedtls_ssl_ticket_init(&tls_tickets);
	if ((rc = mbedtls_ctr_drbg_seed(&tls_drbg, mbedtls_entropy_func,
	    &tls_entropy, (const unsigned char *)pers, sizeof(pers) - 1)) != 0) {
		snprintf(err, errlen, "seeding the random generator: %s",
		    tls_strerror(rc, e, sizeof(e)));
		return -1;
	}
	if ((rc = mbedtls_ssl_ticket_setup(&tls_tickets, mbedtls_ctr_drbg_random,
	    &tls_drbg, MBEDTLS_CIPHER_AES_256_GCM, TLS_TICKET_LIFETIME)) != 0) {
		snprintf(err, errlen, "session tickets: %s",
		    tls_strerror(rc, e, sizeof(e)));
		return -1;
	}
	tls_ready = 1;
	return 0;
}

static int
tls_send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *t = ctx;
	ssize_t n;

	do
		n = send(t->fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
tls_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *t = ctx;
	unsigned char *dst = buf;
	size_t want = len;
	ssize_t n;

	if (t->roff < t->rlen) {
		if (len > t->rlen - t->roff)
			len = t->rlen - t->roff;
		memcpy(buf, t->rbuf + t->roff, len);
		t->roff += len;
		return (int)len;
	}
	/* Large records go straight into mbedtls's buffer. */
	if (len < sizeof(t->rbuf)) {
		dst = t->rbuf;
		want = sizeof(t->rbuf);
	}
	do
		n = recv(t->fd, dst, want, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno != EAGAIN)
			return MBEDTLS_ERR_NET_RECV_FAILED;
		t->drained = 1;
		return MBEDTLS_ERR_SSL_WANT_READ;
	}
	t->drained = (size_t)n < want;
	if (dst == buf || n == 0)
		return (int)n;
	t->roff = 0;
	t->rlen = (size_t)n;
	if (len > t->rlen)
		len = t->rlen;
	memcpy(buf, t->rbuf, len);
	t->roff = len;
	return (int)len;
}

void
tls_server_unref(struct tls_server *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	mbedtls_ssl_config_free(&s->conf);
	mbedtls_x509_crt_free(&s->chain);
	mbedtls_pk_free(&s->key);
	free(s->suites);
	free(s);
}

/* TLSCiphers: mbedtls suite names to ids; NULL with err set. */
static int *
tls_suites(char **names, char *err, size_t errlen)
{
	size_t n = 0;
	int *v;

	while (names[n] != NULL)
		n++;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((v[i] = mbedtls_ssl_get_ciphersuite_id(names[i])) == 0) {
			snprintf(err, errlen, "TLSCiphers: unknown suite \"%s\" "
			    "(use mbedtls names, e.g. "
			    "TLS-ECDHE-RSA-WITH-AES-128-GCM-SHA256)", names[i]);
			free(v);
			return NULL;
		}
	}
	return v;
}

/*
 * A certificate or key file that is not there: say which, and how to make
 * a pair for a try (mbedtls would only say "file read error").
 */
static int
tls_missing(const char *path, const char *directive, char *err,
    size_t errlen)
{
	char dir[PATH_MAX], *slash;

	if (access(path, F_OK) == 0)
		return 0;
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s %s: %s", directive, path,
		    strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	snprintf(err, errlen, "%s %s: no such file; for a self-signed "
	    "certificate and key (cert.pem, key.pem) run: sh conf/mkcert.sh %s "
	    "(in the dcgi source tree), or name your own pair", directive,
	    path, dir);
	return 1;
}

struct tls_server *
tls_server_new(const struct conf *conf, char *err, size_t errlen)
{
	struct tls_server *s;
	char e[200];
	int rc;

	if (tls_init(err, errlen) == -1)
		return NULL;
	if (conf->tls_cert == NULL || conf->tls_key == NULL) {
		snprintf(err, errlen, "a tls listener needs TLSCertificateFile "
		    "and TLSCertificateKeyFile");
		return NULL;
	}
	if (tls_missing(conf->tls_cert, "TLSCertificateFile", err, errlen) ||
	    tls_missing(conf->tls_key, "TLSCertificateKeyFile", err, errlen))
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->refs = 1;
	mbedtls_ssl_config_init(&s->conf);
	mbedtls_x509_crt_init(&s->chain);
	mbedtls_pk_init(&s->key);

	if ((rc = mbedtls_x509_crt_parse_file(&s->chain, conf->tls_cert)) != 0) {
		snprintf(err, errlen, "TLSCertificateFile %s: %s%s", conf->tls_cert,
		    rc < 0 ? "" : "some certificates could not be parsed ",
		    rc < 0 ? tls_strerror(rc, e, sizeof(e)) : "");
		goto fail;
	}
#if DCGI_MBEDTLS_MAJOR >= 3
	rc = mbedtls_pk_parse_keyfile(&s->key, conf->tls_key, NULL,
	    mbedtls_ctr_drbg_random, &tls_drbg);
#else
	rc = mbedtls_pk_parse_keyfile(&s->key, conf->tls_key, NULL);
#endif
	if (rc != 0) {
		snprintf(err, errlen, "TLSCertificateKeyFile %s: %s", conf->tls_key,
		    tls_strerror(rc, e, sizeof(e)));
		goto fail;
	}
#if DCGI_MBEDTLS_MAJOR >= 3
	rc = mbedtls_pk_check_pair(&s->chain.pk, &s->key,
	    mbedtls_ctr_drbg_random, &tls_drbg);
#else
	rc = mbedtls_pk_check_pair(&s->chain.pk, &s->key);
#endif
	if (rc != 0) {
		snprintf(err, errlen, "TLSCertificateKeyFile %s does not match "
		    "the certificate in %s", conf->tls_key, conf->tls_cert);
		goto fail;
	}
	if (mbedtls_x509_time_is_past(&s->chain.valid_to))
		log_warn("TLSCertificateFile %s: the certificate has expired "
		    "(%04d-%02d-%02d); clients will refuse it", conf->tls_cert,
		    s->chain.valid_to.year, s->chain.valid_to.mon,
		    s->chain.valid_to.day);

	if ((rc = mbedtls_ssl_config_defaults(&s->conf, MBEDTLS_SSL_IS_SERVER,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		snprintf(err, errlen, "TLS defaults: %s",
		    tls_strerror(rc, e, sizeof(e)));
		goto fail;
	}
	mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &tls_drbg);
	/* The whole chain is sent: the leaf first, then what was in the file. */
	if ((rc = mbedtls_ssl_conf_own_cert(&s->conf, &s->chain, &s->key)) != 0) {
		snprintf(err, errlen, "TLS certificate: %s",
		    tls_strerror(rc, e, sizeof(e)));
		goto fail;
	}
	/* Protocols: never below TLS 1.2. */
#if DCGI_MBEDTLS_MAJOR >= 3
	mbedtls_ssl_conf_min_tls_version(&s->conf,
	    conf->tls_protocols & CONF_TLS_1_2 ? MBEDTLS_SSL_VERSION_TLS1_2 :
	    MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_max_tls_version(&s->conf,
	    conf->tls_protocols & CONF_TLS_1_3 ? MBEDTLS_SSL_VERSION_TLS1_3 :
	    MBEDTLS_SSL_VERSION_TLS1_2);
#else
	if (!(conf->tls_protocols & CONF_TLS_1_2)) {
		snprintf(err, errlen, "TLSProtocols TLSv1.3 needs dcgid built "
		    "with mbedtls 3 (this one has %s)", MBEDTLS_VERSION_STRING);
		goto fail;
	}
	mbedtls_ssl_conf_min_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&s->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_renegotiation(&s->conf,
	    MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
	if (conf->tls_ciphers != NULL) {
		if ((s->suites = tls_suites(conf->tls_ciphers, err, errlen)) ==
		    NULL)
			goto fail;
		mbedtls_ssl_conf_ciphersuites(&s->conf, s->suites);
	} else
		mbedtls_ssl_conf_ciphersuites(&s->conf, tls_default_suites);
	if ((rc = mbedtls_ssl_conf_alpn_protocols(&s->conf, tls_alpn)) != 0) {
		snprintf(err, errlen, "ALPN: %s", tls_strerror(rc, e, sizeof(e)));
		goto fail;
	}
	mbedtls_ssl_conf_curves(&s->conf, tls_curves);
	if (conf->tls_tickets)
		mbedtls_ssl_conf_session_tickets_cb(&s->conf,
		    mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
		    &tls_tickets);
	else
		mbedtls_ssl_conf_session_tickets(&s->conf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	return s;
fail:
	tls_server_unref(s);
	return NULL;
}

struct tls_conn *
tls_conn_new(struct tls_server *srv, int fd)
{
	struct tls_conn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	mbedtls_ssl_init(&t->ssl);
	if (mbedtls_ssl_setup(&t->ssl, &srv->conf) != 0) {
		mbedtls_ssl_free(&t->ssl);
		free(t);
		return NULL;
	}
	t->fd = fd;
	t->srv = srv;
	srv->refs++;
	mbedtls_ssl_set_bio(&t->ssl, t, tls_send_cb, tls_recv_cb, NULL);
	return t;
}

void
tls_conn_free(struct tls_conn *t)
{
	if (t == NULL)
		return;
	mbedtls_ssl_free(&t->ssl);
	tls_server_unref(t->srv);
	free(t);
}

int
tls_handshake(struct tls_conn *t, char *err, size_t errlen)
{
	char e[200];
	int rc;

	rc = mbedtls_ssl_handshake(&t->ssl);
	if (rc == 0)
		return 0;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ)
		return TLS_WANT_READ;
	if (rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_WRITE;
	snprintf(err, errlen, "%s", tls_strerror(rc, e, sizeof(e)));
	return -1;
}

ssize_t
tls_read(struct tls_conn *t, void *buf, size_t len, int *want)
{
	int rc, rounds = 0;

	/*
	 * Only a recv made by this read may tell that the socket is empty:
	 * one from an earlier turn of the loop knows nothing of what came
	 * since.  Records already read ahead are worked through first (a
	 * refused renegotiation returns WANT_READ with more of them left).
	 */
	t->drained = 0;
	do
		rc = mbedtls_ssl_read(&t->ssl, buf, len);
	while (rc == MBEDTLS_ERR_SSL_WANT_READ && t->roff < t->rlen &&
	    ++rounds < 64);

	if (rc > 0)
		return rc;
	if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		*want = rc == MBEDTLS_ERR_SSL_WANT_READ ? TLS_WANT_READ :
		    TLS_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	errno = EPROTO;
	return -1;
}

ssize_t
tls_write(struct tls_conn *t, const void *buf, size_t len, int *want)
{
	int rc = mbedtls_ssl_write(&t->ssl, buf, len);

	if (rc >= 0)
		return rc;
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
		*want = rc == MBEDTLS_ERR_SSL_WANT_READ ? TLS_WANT_READ :
		    TLS_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	errno = EPIPE;
	return -1;
}

int
tls_drained(struct tls_conn *t)
{
	return t->drained && t->roff == t->rlen &&
	    mbedtls_ssl_get_bytes_avail(&t->ssl) == 0 &&
	    !mbedtls_ssl_check_pending(&t->ssl);
}

void
tls_close(struct tls_conn *t)
{
	(void)mbedtls_ssl_close_notify(&t->ssl);
}

const char *
tls_version(struct tls_conn *t)
{
	return mbedtls_ssl_get_version(&t->ssl);
}

const char *
tls_cipher(struct tls_conn *t)
{
	return mbedtls_ssl_get_ciphersuite(&t->ssl);
}
