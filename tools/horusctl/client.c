/* SPDX-License-Identifier: MIT */
/* The daemon client: one request line over the control socket, one JSON reply line back. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* Node lists of hundreds of nodes stay far below this; a reply beyond it is not the daemon's. */
#define REPLY_MAX (8u * 1024u * 1024u)

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("horusctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Waits for fd to be ready for events until deadline; -ETIMEDOUT after it. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		long long left = deadline - now_ms();
		int r;

		if (left <= 0) {
			return -ETIMEDOUT;
		}
		r = poll(&p, 1, (int)left);
		if (r > 0) {
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, deadline);

			if (r < 0) {
				return r;
			}
			continue;
		}
		if (n < 0) {
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to the first '\n' into a malloc'd, NUL-terminated line (without the '\n'). */
static int read_line(int fd, long long deadline, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf) {
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;
		char *nl;
		int r;

		if (len + 1 == cap) {
			char *b;

			if (cap >= REPLY_MAX) {
				free(buf);
				return -EMSGSIZE;
			}
			b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = wait_fd(fd, POLLIN, deadline)) < 0) {
				free(buf);
				return r;
			}
			continue;
		}
		if (n <= 0) {
			free(buf);
			return n == 0 ? -ECONNRESET : -errno;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			*ret_len = (size_t)(nl - buf);
			*ret = buf;
			return 0;
		}
	}
}

static int request(const char *path, const char *req, int timeout_ms, char **ret, size_t *ret_len)
{
	long long deadline = now_ms() + timeout_ms;
	char line[512];
	int fd, r, n;

	n = snprintf(line, sizeof(line), "1 %s\n", req);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		return -E2BIG;
	}
	fd = connect_to(path);
	if (fd < 0) {
		return fd;
	}
	r = send_all(fd, line, (size_t)n, deadline);
	if (r == 0) {
		r = read_line(fd, deadline, ret, ret_len);
	}
	close(fd);
	return r;
}

const char *ctl_reply_error(const struct json_doc *doc)
{
	return json_path_str(json_root(doc), "error", "");
}

int ctl_ask(const struct ctl *c, const char *req, int timeout_ms, bool quiet, struct json_doc **ret)
{
	struct json_error jerr = {0};
	struct json_doc *doc;
	char *reply = NULL;
	size_t len = 0;
	int r = request(c->socket, req, timeout_ms, &reply, &len);

	if (r < 0) {
		if (!quiet) {
			ctl_err("no daemon answers on %s: %s", c->socket,
				r == -ETIMEDOUT ? "no reply in time" : strerror(-r));
		}
		return CTL_EXIT_NODAEMON;
	}
	r = json_parse(reply, len, &doc, &jerr);
	if (r < 0) {
		if (!quiet) {
			ctl_err("malformed reply from the daemon to '%s' (byte %zu: %s)", req,
				jerr.offset, jerr.what ? jerr.what : strerror(-r));
		}
		free(reply);
		return CTL_EXIT_FAIL;
	}
	free(reply);
	if (json_type(json_root(doc)) != JSON_OBJECT ||
	    json_path_num(json_root(doc), "schema", 0) != 1) {
		if (!quiet) {
			ctl_err("reply to '%s' is not a schema 1 object: is the daemon of another "
				"version?",
				req);
		}
		json_free(doc);
		return CTL_EXIT_FAIL;
	}
	*ret = doc;
	return json_get(json_root(doc), "error") ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

static int set_namespace(struct ctl *c, const char *ns, const char *from)
{
	if (horus_namespace(ns, c->ns) < 0) {
		ctl_err("namespace '%s' (%s) is invalid: 1 to %d of [A-Za-z0-9_-]", ns, from,
			HORUS_NAMESPACE_MAX);
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

int ctl_resolve_namespace(struct ctl *c)
{
	const char *env = getenv("HORUS_NAMESPACE");
	struct json_doc *doc = NULL;
	int r;

	if (c->args.ns) {
		return set_namespace(c, c->args.ns, "--namespace");
	}
	if (env && *env) {
		return set_namespace(c, env, "HORUS_NAMESPACE");
	}
	r = ctl_ask(c, "status", CTL_NS_TIMEOUT_MS, true, &doc);
	if (r == CTL_EXIT_OK) {
		const char *ns = json_path_str(json_root(doc), "namespace", NULL);

		if (ns && horus_namespace(ns, c->ns) == 0) {
			json_free(doc);
			return CTL_EXIT_OK;
		}
	}
	json_free(doc);
	return set_namespace(c, "default", "default");
}
