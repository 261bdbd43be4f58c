/* SPDX-License-Identifier: MIT */
/* The integration harness: one real horusd per test. See harness.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- small utilities --------------------------------------------------------------------- */

uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t mono_ms(void)
{
	return mono_us() / 1000u;
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (ret_len) {
		*ret_len = 0;
	}
	if (!f) {
		return NULL;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb) {
				break;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0) {
			break;
		}
		len += n;
	}
	fclose(f);
	if (buf) {
		buf[len] = '\0';
	}
	if (ret_len) {
		*ret_len = len;
	}
	return buf;
}

static void write_file(struct hd *h, const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	HD_CHECK(h, f != NULL, "cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* Replaces every "@REC@" of body with the record path. Caller frees. */
static char *expand(struct hd *h, const char *body)
{
	size_t cap = strlen(body) * 2 + 64 + 16 * strlen(h->rec);
	char *out = malloc(cap), *o = out;

	HD_CHECK(h, out != NULL, "out of memory");
	while (*body) {
		if (!strncmp(body, "@REC@", 5)) {
			size_t n = strlen(h->rec);

			HD_CHECK(h, (size_t)(o - out) + n + 1 < cap, "config body too long");
			memcpy(o, h->rec, n);
			o += n;
			body += 5;
		} else {
			HD_CHECK(h, (size_t)(o - out) + 2 < cap, "config body too long");
			*o++ = *body++;
		}
	}
	*o = '\0';
	return out;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* ---- failure reporting ------------------------------------------------------------------- */

/*
 * The daemons of the running test. A failed check ends the test process at once, without its
 * teardown: hd_fail cleans them up first (daemon, temp dir, segments).
 */
static struct hd *live[8];

static void live_add(struct hd *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i]) {
			live[i] = h;
			return;
		}
	}
}

static void live_remove(struct hd *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i] == h) {
			live[i] = NULL;
		}
	}
}

void hd_fail(struct hd *h, const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[1024], *log;
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n==== %s:%d: FAILED: %s: %s\n", file, line, expr, msg);
	if (h && h->pid > 0) {
		bool alive = hd_alive(h);

		fprintf(stderr, "---- horusd pid %d: %s (wait status 0x%x); %s %s, %s %s\n",
			(int)h->pid, alive ? "running" : "gone", alive ? 0 : h->status, h->dir,
			access(h->dir, F_OK) == 0 ? "exists" : "is GONE", h->sock,
			access(h->sock, F_OK) == 0 ? "exists" : "is gone");
	}
	if (h && h->log[0] && (log = read_file(h->log, &len))) {
		const char *tail = len > 6000 ? log + len - 6000 : log;

		fprintf(stderr, "---- horusd log (%s, last %zu bytes) ----\n%s\n", h->ns,
			strlen(tail), tail);
		free(log);
	}
	if (h && h->rec[0] && (log = read_file(h->rec, &len))) {
		fprintf(stderr, "---- record file ----\n%s", len > 3000 ? log + len - 3000 : log);
		free(log);
	}
	if (h && h->pid > 0 && !h->reaped) {
		int fd = hd_connect(h);
		char buf[HD_REPLY_MAX];

		if (fd >= 0) {
			if (write(fd, "1 node list\n", 12) == 12 &&
			    hd_read_line(fd, buf, sizeof(buf), 2000) > 0) {
				fprintf(stderr, "---- node list ----\n%s\n", buf);
			}
			close(fd);
		}
	}
	fprintf(stderr, "====\n");
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i]) {
			hd_cleanup(live[i]);
		}
	}
	ck_abort_msg("%s:%d: %s: %s", file, line, expr, msg);
	abort(); /* not reached */
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* Killed from outside (meson's timeout): no daemon, directory or segment is left behind. */
static void on_term(int sig)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i]) {
			hd_cleanup(live[i]);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void hd_init(struct hd *h)
{
	static unsigned counter;
	/* In the build directory when its path is short enough for the socket's sun_path: out of
	 * the way of anything that sweeps /tmp/horus-* while a daemon runs. */
	const char *base = getenv("HORUS_IT_TMPDIR");
	char tmpl[64];

	memset(h, 0, sizeof(*h));
	h->notify_fd = -1;
	if (!getenv("HORUSD") || !getenv("HORUS_TEST_NODES")) {
		ck_abort_msg("HORUSD and HORUS_TEST_NODES must be set (run through meson test)");
	}
	if (!base || strlen(base) + sizeof("/itd-XXXXXX/horusd.sock") > sizeof(tmpl)) {
		base = "/tmp";
	}
	snprintf(tmpl, sizeof(tmpl), "%s/itd-XXXXXX", base);
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp %s: %s", tmpl, strerror(errno));
	snprintf(h->dir, sizeof(h->dir), "%s", tmpl);
	chmod(h->dir, 0755);
	snprintf(h->plugdir, sizeof(h->plugdir), "%s/plugins", h->dir);
	ck_assert_int_eq(mkdir(h->plugdir, 0755), 0);
	chmod(h->plugdir, 0755); /* whatever the umask */
	snprintf(h->conf, sizeof(h->conf), "%s/horusd.ini", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%s/horusd.sock", h->dir);
	snprintf(h->rec, sizeof(h->rec), "%s/record.txt", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/horusd.log", h->dir);
	snprintf(h->ns, sizeof(h->ns), "it%dn%u", (int)getpid(), counter++);
	live_add(h);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
}

void hd_cleanup(struct hd *h)
{
	char keep_msg[HD_PATH + 64];

	live_remove(h);
	if (h->pid > 0 && !h->reaped) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &h->status, 0);
		h->reaped = true;
	}
	if (h->notify_fd >= 0) {
		close(h->notify_fd);
		h->notify_fd = -1;
	}
	if (h->ns[0]) {
		DIR *d = opendir("/dev/shm");
		char prefix[64];
		struct dirent *de;

		snprintf(prefix, sizeof(prefix), "horus.%s.", h->ns);
		while (d && (de = readdir(d))) {
			if (!strncmp(de->d_name, prefix, strlen(prefix))) {
				char p[512];

				snprintf(p, sizeof(p), "/dev/shm/%s", de->d_name);
				unlink(p);
			}
		}
		if (d) {
			closedir(d);
		}
	}
	if (h->dir[0]) {
		if (getenv("HORUS_IT_KEEP")) {
			snprintf(keep_msg, sizeof(keep_msg), "kept %s\n", h->dir);
			fputs(keep_msg, stderr);
		} else {
			nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		}
		h->dir[0] = '\0';
	}
	h->ns[0] = '\0';
}

void hd_plugin_mode(struct hd *h, const char *module, const char *as, unsigned mode)
{
	char src[HD_PATH], dst[HD_PATH + 64], tmp[HD_PATH + 80];
	size_t len;
	char *data;

	/* Modules of tests/nodes, or of this directory (sevennode). */
	snprintf(src, sizeof(src), "%s/%s.so",
		 !strcmp(module, "sevennode") && getenv("HORUS_IT_NODES")
		     ? getenv("HORUS_IT_NODES")
		     : getenv("HORUS_TEST_NODES"),
		 module);
	snprintf(dst, sizeof(dst), "%s/%s.so", h->plugdir, as);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", h->plugdir, as);
	data = read_file(src, &len);
	HD_CHECK(h, data != NULL, "cannot read %s", src);
	{
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);

		HD_CHECK(h, fd >= 0, "cannot create %s: %s", tmp, strerror(errno));
		HD_CHECK(h, write(fd, data, len) == (ssize_t)len, "short write to %s", tmp);
		close(fd);
	}
	free(data);
	HD_CHECK(h, chmod(tmp, mode) == 0, "chmod %s", tmp);
	/* Appears whole under its .so name, as a package manager would install it. */
	HD_CHECK(h, rename(tmp, dst) == 0, "rename to %s: %s", dst, strerror(errno));
}

void hd_plugin(struct hd *h, const char *module, const char *as)
{
	hd_plugin_mode(h, module, as, 0755);
}

void hd_config2(struct hd *h, const char *daemon_extra, const char *body)
{
	char *b = expand(h, body);
	size_t size = strlen(b) + 4096;
	char *text = malloc(size), tmp[HD_PATH + 8];

	HD_CHECK(h, text != NULL, "out of memory");
	snprintf(text, size,
		 "[daemon]\nplugin_dir = %s\nnamespace = %s\ncontrol_socket = %s\n"
		 "log_level = debug\n%s\n%s",
		 h->plugdir, h->ns, h->sock, daemon_extra ? daemon_extra : "", b);
	/* Replace atomically: a reload never reads half a file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", h->conf);
	write_file(h, tmp, text);
	HD_CHECK(h, rename(tmp, h->conf) == 0, "rename %s", tmp);
	free(text);
	free(b);
}

void hd_config(struct hd *h, const char *body)
{
	hd_config2(h, NULL, body);
}

void hd_dropin(struct hd *h, const char *name, const char *body)
{
	char dir[HD_PATH + 16], path[HD_PATH + 300];
	char *b = expand(h, body);

	snprintf(dir, sizeof(dir), "%s/horusd.d", h->dir);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(h, path, b);
	free(b);
}

/* ---- systemd notify ---------------------------------------------------------------------- */

void hd_notify_open(struct hd *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(h->notify, sizeof(h->notify), "%s/notify", h->dir);
	HD_CHECK(h, strlen(h->notify) < sizeof(sa.sun_path), "path too long: %s", h->notify);
	memcpy(sa.sun_path, h->notify, strlen(h->notify) + 1);
	h->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	HD_CHECK(h, h->notify_fd >= 0, "socket: %s", strerror(errno));
	HD_CHECK(h, bind(h->notify_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s",
		 h->notify, strerror(errno));
}

bool hd_notify_recv(struct hd *h, char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = {.fd = h->notify_fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0) {
		return false;
	}
	n = recv(h->notify_fd, buf, size - 1, MSG_DONTWAIT);
	if (n < 0) {
		return false;
	}
	buf[n] = '\0';
	return true;
}

/* ---- the daemon process ------------------------------------------------------------------ */

void hd_spawn(struct hd *h)
{
	const char *horusd = getenv("HORUSD");
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	HD_CHECK(h, pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		unsetenv("JOURNAL_STREAM");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		if (h->journal) {
			struct stat st;
			char v[64];

			if (fstat(STDERR_FILENO, &st) == 0) {
				snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
					 (unsigned long long)st.st_ino);
				setenv("JOURNAL_STREAM", v, 1);
			}
		}
		if (h->watchdog_usec) {
			char v[32];

			snprintf(v, sizeof(v), "%lu", h->watchdog_usec);
			setenv("WATCHDOG_USEC", v, 1);
			snprintf(v, sizeof(v), "%d", (int)getpid()); /* the same pid after exec */
			setenv("WATCHDOG_PID", v, 1);
		}
		if (h->notify[0]) {
			setenv("NOTIFY_SOCKET", h->notify, 1);
		} else {
			unsetenv("NOTIFY_SOCKET");
		}
		execl(horusd, horusd, "-c", h->conf, (char *)NULL);
		_exit(127);
	}
	h->pid = pid;
	h->reaped = false;
}

bool hd_alive(struct hd *h)
{
	if (h->pid <= 0 || h->reaped) {
		return false;
	}
	if (waitpid(h->pid, &h->status, WNOHANG) == h->pid) {
		h->reaped = true;
		return false;
	}
	return true;
}

void hd_start(struct hd *h)
{
	uint64_t end = mono_ms() + 10000;
	char reply[HD_REPLY_MAX];

	hd_spawn(h);
	for (;;) {
		int fd;

		HD_CHECK(h, hd_alive(h), "horusd exited during start-up (status 0x%x)", h->status);
		fd = hd_connect(h);
		if (fd >= 0) {
			bool ok = write(fd, "1 status\n", 9) == 9 &&
				  hd_read_line(fd, reply, sizeof(reply), 5000) > 0;

			close(fd);
			if (ok) {
				return;
			}
		}
		HD_CHECK(h, mono_ms() < end, "the control socket %s did not answer in 10 s",
			 h->sock);
		usleep(20000);
	}
}

void hd_signal(struct hd *h, int sig)
{
	HD_CHECK(h, hd_alive(h), "horusd is not running (status 0x%x)", h->status);
	kill(h->pid, sig);
}

int hd_stop(struct hd *h, int sig, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	if (!hd_alive(h)) {
		return h->reaped ? h->status : -1;
	}
	kill(h->pid, sig);
	while (mono_ms() < end) {
		if (waitpid(h->pid, &h->status, WNOHANG) == h->pid) {
			h->reaped = true;
			return h->status;
		}
		usleep(10000);
	}
	return -1;
}

/* ---- the control socket ------------------------------------------------------------------ */

int hd_connect(struct hd *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		return -1;
	}
	if (strlen(h->sock) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, h->sock, strlen(h->sock) + 1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

ssize_t hd_read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = (int64_t)end - (int64_t)mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			return -1;
		}
		/* Byte by byte up to the newline: a reply is small and a second must stay unread.
		 */
		n = recv(fd, buf + len, 1, 0);
		if (n <= 0) {
			return -1;
		}
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return (ssize_t)len;
		}
		if (++len >= size - 1) {
			buf[len] = '\0';
			return (ssize_t)len;
		}
	}
}

bool hd_request(struct hd *h, const char *req, char *reply, size_t size)
{
	size_t len = strlen(req);
	char *line = malloc(len + 2);
	bool ok = false;
	double schema;
	int fd;

	HD_CHECK(h, line != NULL, "out of memory");
	memcpy(line, req, len);
	line[len] = '\n';
	fd = hd_connect(h);
	if (fd >= 0) {
		ok = write(fd, line, len + 1) == (ssize_t)(len + 1) &&
		     hd_read_line(fd, reply, size, 5000) >= 0;
		close(fd);
	}
	free(line);
	if (!ok) {
		return false;
	}
	HD_CHECK(h, json_valid(reply), "reply to '%s' is not one JSON object: %s", req, reply);
	HD_CHECK(h, json_num_field(reply, "schema", &schema) && schema == 1,
		 "reply to '%s' lacks \"schema\": 1: %s", req, reply);
	return true;
}

/* ---- JSON -------------------------------------------------------------------------------- */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
		p++;
	}
	return p;
}

static const char *j_value(const char *p, int depth);

static const char *j_string(const char *p)
{
	if (*p != '"') {
		return NULL;
	}
	for (p++; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20) {
			return NULL;
		}
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++) {
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) {
						return NULL;
					}
				}
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *j_number(const char *p)
{
	const char *s = p;

	if (*p == '-') {
		p++;
	}
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (*p >= '0' && *p <= '9') {
			p++;
		}
	} else {
		return NULL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9') {
			return NULL;
		}
		while (*p >= '0' && *p <= '9') {
			p++;
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-') {
			p++;
		}
		if (*p < '0' || *p > '9') {
			return NULL;
		}
		while (*p >= '0' && *p <= '9') {
			p++;
		}
	}
	return p > s ? p : NULL;
}

static const char *j_value(const char *p, int depth)
{
	if (depth > 32) {
		return NULL;
	}
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';

		p = ws(p + 1);
		if (*p == close) {
			return p + 1;
		}
		for (;;) {
			if (obj) {
				p = j_string(ws(p));
				if (!p) {
					return NULL;
				}
				p = ws(p);
				if (*p != ':') {
					return NULL;
				}
				p++;
			}
			p = j_value(p, depth + 1);
			if (!p) {
				return NULL;
			}
			p = ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == close) {
				return p + 1;
			}
			return NULL;
		}
	}
	if (*p == '"') {
		return j_string(p);
	}
	if (!strncmp(p, "true", 4)) {
		return p + 4;
	}
	if (!strncmp(p, "false", 5)) {
		return p + 5;
	}
	if (!strncmp(p, "null", 4)) {
		return p + 4;
	}
	return j_number(p);
}

bool json_valid(const char *s)
{
	const char *p = ws(s);

	if (*p != '{') {
		return false;
	}
	p = j_value(p, 0);
	return p && *ws(p) == '\0';
}

static const char *find_key(const char *json, const char *key)
{
	char pat[96];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? ws(p + strlen(pat)) : NULL;
}

bool json_str_field(const char *json, const char *key, char *out, size_t size)
{
	const char *p = find_key(json, key);
	size_t n = 0;

	if (!p || *p != '"') {
		return false;
	}
	for (p++; *p && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1]) {
			p++;
		}
		out[n++] = *p;
	}
	out[n] = '\0';
	return true;
}

bool json_num_field(const char *json, const char *key, double *out)
{
	const char *p = find_key(json, key);
	char *end;

	if (!p) {
		return false;
	}
	*out = strtod(p, &end);
	return end != p;
}

/* ---- node queries ------------------------------------------------------------------------ */

bool hd_node(struct hd *h, const char *name, struct ni *ret)
{
	char req[256], reply[HD_REPLY_MAX];
	double v;

	snprintf(req, sizeof(req), "1 node info %s", name);
	HD_CHECK(h, hd_request(h, req, reply, sizeof(reply)), "no reply to '%s'", req);
	if (strstr(reply, "\"error\"")) {
		return false;
	}
	memset(ret, 0, sizeof(*ret));
	HD_CHECK(h,
		 json_str_field(reply, "state", ret->state, sizeof(ret->state)) &&
		     json_str_field(reply, "circuit", ret->circuit, sizeof(ret->circuit)),
		 "node info lacks state/circuit: %s", reply);
	json_str_field(reply, "plugin", ret->plugin, sizeof(ret->plugin));
	json_num_field(reply, "rate_hz", &ret->rate_hz);
	json_num_field(reply, "actual_hz", &ret->actual_hz);
	json_num_field(reply, "deadline_ms", &ret->deadline_ms);
	json_num_field(reply, "watchdog_ms", &ret->watchdog_ms);
#define U(field)                                                                                   \
	HD_CHECK(h, json_num_field(reply, #field, &v), "node info lacks " #field ": %s", reply);   \
	ret->field = (uint64_t)v
	U(ticks);
	U(skipped);
	U(deadline_misses);
	U(watchdog_trips);
	U(failures);
	U(restarts);
#undef U
	return true;
}

int hd_node_names(struct hd *h, char *out, size_t size)
{
	char reply[HD_REPLY_MAX];
	const char *p;
	size_t len = 0;
	int n = 0;

	HD_CHECK(h, hd_request(h, "1 node list", reply, sizeof(reply)), "no reply to node list");
	HD_CHECK(h, strstr(reply, "\"nodes\": [") != NULL, "bad node list: %s", reply);
	out[0] = '\0';
	for (p = strstr(reply, "{\"name\": \""); p; p = strstr(p, "{\"name\": \"")) {
		const char *s = p + 10, *e = strchr(s, '"');

		if (!e) {
			break;
		}
		if (len + (size_t)(e - s) + 2 < size) {
			if (n) {
				out[len++] = ',';
			}
			memcpy(out + len, s, (size_t)(e - s));
			len += (size_t)(e - s);
			out[len] = '\0';
		}
		n++;
		p = e;
	}
	return n;
}

bool hd_state_is(struct hd *h, const char *name, const char *state)
{
	struct ni n;

	return hd_node(h, name, &n) && strcmp(n.state, state) == 0;
}

uint64_t hd_ticks(struct hd *h, const char *name)
{
	struct ni n;

	HD_CHECK(h, hd_node(h, name, &n), "no node %s", name);
	return n.ticks;
}

double hd_status_num(struct hd *h, const char *key)
{
	char reply[HD_REPLY_MAX];
	double v = -1;

	HD_CHECK(h, hd_request(h, "1 status", reply, sizeof(reply)), "no reply to status");
	HD_CHECK(h, json_num_field(reply, key, &v), "status lacks %s: %s", key, reply);
	return v;
}

long hd_status_pid(struct hd *h)
{
	return (long)hd_status_num(h, "pid");
}

double hd_tick_ratio(struct hd *h, const char *name, int window_ms, uint64_t *ret_ticks,
		     double *ret_expected)
{
	struct ni a, b;
	uint64_t t0, t1, t2, t3, end;
	double expected;

	t0 = mono_us();
	HD_CHECK(h, hd_node(h, name, &a), "no node %s", name);
	t1 = mono_us();
	end = mono_ms() + (uint64_t)window_ms;
	while (mono_ms() < end) {
		usleep(20000); /* measuring, not synchronising: the window is the measurement */
	}
	t2 = mono_us();
	HD_CHECK(h, hd_node(h, name, &b), "no node %s", name);
	t3 = mono_us();
	expected = b.rate_hz * ((double)(t2 + t3) / 2 - (double)(t0 + t1) / 2) / 1e6;
	if (ret_ticks) {
		*ret_ticks = b.ticks - a.ticks;
	}
	if (ret_expected) {
		*ret_expected = expected;
	}
	return (double)(b.ticks - a.ticks) / expected;
}

/* ---- files ------------------------------------------------------------------------------- */

int hd_rec_count(struct hd *h, const char *what, const char *name)
{
	char *data = read_file(h->rec, NULL), prefix[160];
	int n = 0;

	if (!data) {
		return 0;
	}
	snprintf(prefix, sizeof(prefix), "%s %s ", what, name);
	for (char *line = data; line && *line;) {
		char *nl = strchr(line, '\n');

		if (!strncmp(line, prefix, strlen(prefix))) {
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(data);
	return n;
}

int hd_log_count(struct hd *h, const char *needle)
{
	char *data = read_file(h->log, NULL);
	int n = 0;

	for (const char *p = data; p && (p = strstr(p, needle)); p += strlen(needle)) {
		n++;
	}
	free(data);
	return n;
}

bool hd_log_has(struct hd *h, const char *needle)
{
	return hd_log_count(h, needle) > 0;
}

int hd_shm_count(struct hd *h)
{
	DIR *d = opendir("/dev/shm");
	char prefix[64];
	struct dirent *de;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "horus.%s.", h->ns);
	while (d && (de = readdir(d))) {
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	}
	if (d) {
		closedir(d);
	}
	return n;
}

int hd_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (!getenv("HORUSD") || !getenv("HORUS_TEST_NODES")) {
		fprintf(stderr, "HORUSD and HORUS_TEST_NODES are not set: skipped\n");
		srunner_free(sr);
		return 77;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
