/*
 * sd.h: what systemd asks of a service, without libsystemd: the notify
 * protocol (sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS=,
 * WATCHDOG=1 as datagrams to $NOTIFY_SOCKET) and socket activation
 * (sd_listen_fds(3): sockets passed from fd 3 on, $LISTEN_FDS of them,
 * when $LISTEN_PID is this process).
 */
#ifndef DCGI_SD_H
#define DCGI_SD_H

#include <stdint.h>

/*
 * Take over $NOTIFY_SOCKET ("/path" or "@abstract"); 1 when there is one
 * to talk to, 0 when not, -1 (err set) when it is malformed or of a
 * kind not spoken here (vsock:).  The
 * variable is removed from the environment.
 */
int		 sd_open(char *err, size_t errlen);
/* Send one notification ("READY=1\nSTATUS=..."); nothing without one. */
void		 sd_send(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* $WATCHDOG_USEC when it is meant for this process, else 0. */
int64_t		 sd_watchdog_usec(void);
/* Where the sockets systemd passes begin. */
#define SD_LISTEN_FDS_START	3

/*
 * The sockets systemd passed, from SD_LISTEN_FDS_START on: their count,
 * 0 without, -1 (err set) when the variables are malformed.  They are made
 * close-on-exec and the variables are removed from the environment.
 */
int		 sd_listen(char *err, size_t errlen);

#endif
