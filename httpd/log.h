/*
 * log.h: the error log and the access log.
 *
 * Error log lines: "2026-11-26T23:55:02.123Z error [req 3f2a] message".
 * Access log lines: common or combined format, then the request time in
 * seconds (nginx's $request_time) and the request id.
 */
#ifndef DCGI_LOG_H
#define DCGI_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level {
	LOG_LV_ERROR,
	LOG_LV_WARN,
	LOG_LV_INFO,
	LOG_LV_DEBUG
};

/* Open the logs named by a config ("stderr", "stdout", "off" or a path). */
struct log_files;
struct log_files *log_open(const char *error_log, const char *access_log,
		    int combined, char *err, size_t errlen);
/* Make `lf` the current logs; the previous ones are flushed and closed. */
void		 log_use(struct log_files *);
void		 log_close(struct log_files *);
/* Write out what is buffered (called once per loop iteration). */
void		 log_flush(void);
void		 log_set_level(enum log_level);
/* A tag on every error log line from now on ("server 123"); NULL: none. */
void		 log_set_tag(const char *);

void		 log_msg(enum log_level, const char *reqid, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
#define log_error(...)	log_msg(LOG_LV_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LV_WARN, NULL, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LV_INFO, NULL, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LV_DEBUG, NULL, __VA_ARGS__)

struct log_access {
	const char	*client;	/* address text */
	const char	*user;		/* authenticated; NULL: "-" */
	const char	*request_line;	/* as received, sanitised here */
	int		 status;
	uint64_t	 bytes;		/* body bytes sent */
	const char	*referer;	/* NULL: "-" */
	const char	*user_agent;
	int64_t		 duration_us;
	const char	*reqid;
	int64_t		 wall;		/* seconds since the epoch */
};
void		 log_access(const struct log_access *);
/* Whether access lines are written at all (AccessLog off: no). */
int		 log_access_enabled(void);

#endif
