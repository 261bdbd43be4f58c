/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the control protocol's request parser (daemon/control-parse.h), the code
 * that every line a client sends to horusd's socket goes through. The input is one line, as
 * control.c hands it over (without its '\n', not NUL-terminated: the buffer is an exact heap
 * copy, so ASan sees a read one byte past it).
 *
 * Properties checked (abort() on a violation, so that libFuzzer keeps the input):
 *  - control_parse() returns 0 or -EINVAL; on -EINVAL the error text is non-empty and
 *    NUL-terminated in its buffer; on 0 it is empty;
 *  - an accepted request is one of the known commands; a node command carries a name of 1 to
 *    CONTROL_NAME_MAX bytes with no separator or NUL in it, any other command an empty name;
 *  - a second implementation of the grammar (split on the separators, compare the words)
 *    accepts exactly the same lines and finds the same command and name;
 *  - the canonical line of an accepted request ("1 node stop NAME") parses back to the same.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control-parse.h"
#include "fuzz-check.h"

static const char *const canonical[] = {
    [CONTROL_STATUS] = "status",
    [CONTROL_POOLS] = "pools",
    [CONTROL_NODE_LIST] = "node list",
    [CONTROL_NODE_INFO] = "node info",
    [CONTROL_NODE_STOP] = "node stop",
    [CONTROL_NODE_START] = "node start",
    [CONTROL_NODE_RESTART] = "node restart",
    [CONTROL_RELOAD] = "reload",
};
#define N_CMDS (sizeof(canonical) / sizeof(canonical[0]))

static bool has_name(enum control_cmd c)
{
	return c == CONTROL_NODE_INFO || c == CONTROL_NODE_STOP || c == CONTROL_NODE_START ||
	       c == CONTROL_NODE_RESTART;
}

/*
 * The reference: a NUL-free line of at most CONTROL_LINE_MAX bytes, split with strtok on the
 * separators, "1" then the words of one canonical command, then a name if it takes one.
 * Returns the command index or -1.
 */
static int reference(const uint8_t *data, size_t size, char *name, size_t name_size)
{
	char *line, *save = NULL, *w[8];
	int n = 0, found = -1;

	if (size > CONTROL_LINE_MAX || memchr(data, '\0', size)) {
		return -1;
	}
	line = malloc(size + 1);
	check(line != NULL);
	memcpy(line, data, size);
	line[size] = '\0';
	for (char *t = strtok_r(line, " \t\r", &save); t && n < 8;
	     t = strtok_r(NULL, " \t\r", &save)) {
		w[n++] = t;
	}
	if (n >= 2 && strcmp(w[0], "1") == 0) {
		for (size_t c = 0; c < N_CMDS; c++) {
			bool two = strchr(canonical[c], ' ') != NULL;
			int want = 1 + (two ? 2 : 1) + (has_name((enum control_cmd)c) ? 1 : 0);
			char joined[64];

			if (n != want) {
				continue;
			}
			snprintf(joined, sizeof(joined), "%s%s%s", w[1], two ? " " : "",
				 two ? w[2] : "");
			if (strcmp(joined, canonical[c]) == 0) {
				const char *nm = has_name((enum control_cmd)c) ? w[n - 1] : "";

				if (strlen(nm) <= CONTROL_NAME_MAX) {
					snprintf(name, name_size, "%s", nm);
					found = (int)c;
				}
			}
		}
	}
	free(line);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size ? size : 1), ref_name[CONTROL_NAME_MAX + 1], canon[512];
	struct control_req req, again;
	int r, ref;

	check(line != NULL);
	memcpy(line, data, size);
	r = control_parse(line, size, &req);
	check(r == 0 || r == -EINVAL);
	check(memchr(req.error, '\0', sizeof(req.error)) != NULL);
	check(memchr(req.name, '\0', sizeof(req.name)) != NULL);
	ref = reference(data, size, ref_name, sizeof(ref_name));
	if (r < 0) {
		check(req.error[0] != '\0');
		check(ref == -1);
		free(line);
		return 0;
	}
	check(req.error[0] == '\0');
	check((size_t)req.cmd < N_CMDS);
	check(ref == (int)req.cmd);
	check(strcmp(ref_name, req.name) == 0);
	if (has_name(req.cmd)) {
		size_t n = strlen(req.name);

		check(n >= 1 && n <= CONTROL_NAME_MAX);
		check(strpbrk(req.name, " \t\r") == NULL);
	} else {
		check(req.name[0] == '\0');
	}
	snprintf(canon, sizeof(canon), "1 %s%s%s", canonical[req.cmd], has_name(req.cmd) ? " " : "",
		 req.name);
	check(control_parse(canon, strlen(canon), &again) == 0);
	check(again.cmd == req.cmd && strcmp(again.name, req.name) == 0);
	free(line);
	return 0;
}
