/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for horusctl's argument parser: the input, split at NUL bytes, is argv[1..].
 * On success every borrowed string must point into argv; on failure the message must be one
 * NUL-terminated line.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

#define ARGS_MAX 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int owned(const char *s, const char *buf, size_t size)
{
	return !s || (s >= buf && s < buf + size + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[ARGS_MAX + 2];
	char err[CTL_ERR_MAX];
	struct ctl_args a;
	int argc = 1;

	if (!buf) {
		return 0;
	}
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "horusctl";
	for (size_t i = 0; i <= size && argc <= ARGS_MAX;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	if (ctl_args_parse(argc, argv, &a, err) == 0) {
		if (!owned(a.name, buf, size) || !owned(a.data, buf, size) ||
		    !owned(a.socket, buf, size) || !owned(a.ns, buf, size) || a.verb < CTL_HELP ||
		    a.verb > CTL_CLEAN) {
			abort();
		}
	} else if (memchr(err, '\0', sizeof(err)) == NULL || strchr(err, '\n') || !err[0]) {
		abort();
	}
	free(buf);
	return 0;
}
