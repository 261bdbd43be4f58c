/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_CONTROL_PARSE_H
#define HORUS_DAEMON_CONTROL_PARSE_H

/*
 * The request parser of the control protocol (version 1): one line of words in, one request
 * or one error message out. It touches no daemon state and no libevent, so that the fuzz target
 * (tests/fuzz/fuzz-control.c) runs the very code control.c serves clients with. It lives in this
 * header, as static functions, because both use it and neither may link the other.
 *
 *     1 status | 1 pools | 1 node list | 1 node info NAME | 1 node stop|start|restart NAME
 *     1 reload
 *
 * Words are separated by spaces, tabs and carriage returns; the line comes without its '\n'
 * and is input from any local user allowed on the socket: every byte of it is checked.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define CONTROL_LINE_MAX 4096 /* longer requests are refused before parsing */
#define CONTROL_NAME_MAX 255  /* a node name in a request (NAME_MAX: a plugin's file name) */
#define CONTROL_WORDS_MAX 4
#define CONTROL_ERROR_MAX 256

enum control_cmd {
	CONTROL_STATUS,
	CONTROL_POOLS,
	CONTROL_NODE_LIST,
	CONTROL_NODE_INFO,
	CONTROL_NODE_STOP,
	CONTROL_NODE_START,
	CONTROL_NODE_RESTART,
	CONTROL_RELOAD,
};

struct control_req {
	enum control_cmd cmd;
	char name[CONTROL_NAME_MAX + 1]; /* the node of CONTROL_NODE_*, else "" */
	char error[CONTROL_ERROR_MAX];	 /* why the request was refused, else "" */
};

static inline int control_refuse(struct control_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int control_refuse(struct control_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->error, sizeof(req->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static inline bool control_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Does word w (of length n) read s? */
static inline bool control_word_is(const char *w, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(w, s, n) == 0;
}

/*
 * Parses line[0..len) into *req. Returns 0, or -EINVAL with req->error saying what is wrong
 * (the text of the error reply). Never reads past line + len; line need not be NUL-terminated.
 */
static inline int control_parse(const char *line, size_t len, struct control_req *req)
{
	const char *w[CONTROL_WORDS_MAX];
	size_t wl[CONTROL_WORDS_MAX], i = 0;
	int n = 0;

	memset(req, 0, sizeof(*req));
	if (len > CONTROL_LINE_MAX) {
		return control_refuse(req, "request longer than %d bytes", CONTROL_LINE_MAX);
	}
	if (memchr(line, '\0', len)) {
		return control_refuse(req, "request contains a NUL byte");
	}
	while (i < len) {
		size_t start;

		while (i < len && control_is_space(line[i])) {
			i++;
		}
		if (i == len) {
			break;
		}
		if (n == CONTROL_WORDS_MAX) {
			return control_refuse(req, "too many words in request");
		}
		start = i;
		while (i < len && !control_is_space(line[i])) {
			i++;
		}
		w[n] = line + start;
		wl[n++] = i - start;
	}
	if (n == 0) {
		return control_refuse(req, "empty request");
	}
	if (!control_word_is(w[0], wl[0], "1")) {
		return control_refuse(req,
				      "unsupported protocol version '%.*s' (this daemon speaks 1)",
				      (int)(wl[0] > 32 ? 32 : wl[0]), w[0]);
	}
	if (n == 2 && control_word_is(w[1], wl[1], "status")) {
		req->cmd = CONTROL_STATUS;
	} else if (n == 2 && control_word_is(w[1], wl[1], "pools")) {
		req->cmd = CONTROL_POOLS;
	} else if (n == 2 && control_word_is(w[1], wl[1], "reload")) {
		req->cmd = CONTROL_RELOAD;
	} else if (n == 3 && control_word_is(w[1], wl[1], "node") &&
		   control_word_is(w[2], wl[2], "list")) {
		req->cmd = CONTROL_NODE_LIST;
	} else if (n == 4 && control_word_is(w[1], wl[1], "node") &&
		   (control_word_is(w[2], wl[2], "info") || control_word_is(w[2], wl[2], "stop") ||
		    control_word_is(w[2], wl[2], "start") ||
		    control_word_is(w[2], wl[2], "restart"))) {
		static const enum control_cmd by_verb[] = {
		    CONTROL_NODE_INFO, CONTROL_NODE_STOP, CONTROL_NODE_START, CONTROL_NODE_RESTART};
		static const char *const verbs[] = {"info", "stop", "start", "restart"};

		if (wl[3] > CONTROL_NAME_MAX) {
			return control_refuse(req, "node name longer than %d bytes",
					      CONTROL_NAME_MAX);
		}
		for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
			if (control_word_is(w[2], wl[2], verbs[v])) {
				req->cmd = by_verb[v];
			}
		}
		memcpy(req->name, w[3], wl[3]);
		req->name[wl[3]] = '\0';
	} else {
		/* Echo (the start of) what was asked, so that a typo is visible in the reply. */
		size_t shown = (size_t)(w[n - 1] + wl[n - 1] - w[1 % n]);

		return control_refuse(req, "unknown request '%.*s%s'",
				      (int)(n > 1 ? (shown > 64 ? 64 : shown) : 0), w[1 % n],
				      n > 1 && shown > 64 ? "..." : "");
	}
	return 0;
}

/* The verb of a node operation, for messages: "stop", "start" or "restart". */
static inline const char *control_node_op_name(enum control_cmd cmd)
{
	return cmd == CONTROL_NODE_STOP ? "stop" : cmd == CONTROL_NODE_START ? "start" : "restart";
}

#endif /* HORUS_DAEMON_CONTROL_PARSE_H */
