/*
 * fuzz_access.c: libFuzzer target for what a client sends that
 * Require and AuthUserFile read: the Authorization header's Basic
 * credentials, and an address against a network (the first line is a
 * network as Require ip takes it, the rest the address and the header).
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[ACCESS_USER_MAX + 1], pass[ACCESS_PASS_MAX + 1];
	struct access_net n;
	const char *why = NULL;
	char *buf, *nl;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	if (access_basic(buf, user, sizeof(user), pass, sizeof(pass)) == 0 &&
	    (strlen(user) == 0 || strchr(user, ':') != NULL ||
	    strlen(user) > ACCESS_USER_MAX || strlen(pass) > ACCESS_PASS_MAX))
		abort();	/* a user is never empty, never has ':' */

	if ((nl = strchr(buf, '\n')) != NULL) {
		*nl = '\0';
		if (access_net_parse(buf, &n, &why) == 0) {
			if (n.bits < 0 || n.bits > (n.family == AF_INET ? 32 : 128))
				abort();
			(void)access_net_match(&n, nl + 1);
		} else if (why == NULL)
			abort();	/* every rejection has a reason */
	}
	free(buf);
	return 0;
}
