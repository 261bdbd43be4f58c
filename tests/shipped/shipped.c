/* SPDX-License-Identifier: MIT */
/* The harness of the shipped-node tests. See shipped.h. */

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

#include "shipped.h"

struct sd sd_h;

static void sd_teardown_of(struct sd *h);

uint64_t sd_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sd_ms(void)
{
	return sd_us() / 1000u;
}

char *sd_read_file(const char *path, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 65536;
	char *buf;

	if (fd < 0) {
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (buf) {
		buf[len] = '\0';
	}
	if (ret_len) {
		*ret_len = buf ? len : 0;
	}
	return buf;
}

void sd_write_file(struct sd *h, const char *path, const char *text)
{
	char tmp[SD_PATH + 16];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	SD_CHECK(h, f != NULL, "cannot write %s: %s", tmp, strerror(errno));
	fputs(text, f);
	SD_CHECK(h, fclose(f) == 0, "cannot write %s", tmp);
	SD_CHECK(h, rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}

/* ---- failure reporting ------------------------------------------------------------------- */

void sd_fail(struct sd *h, const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[1024], reply[SD_REPLY_MAX];
	size_t len;
	va_list ap;
	char *log;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n==== %s:%d: FAILED: %s: %s\n", file, line, expr, msg);
	if (h && h->log[0] && (log = sd_read_file(h->log, &len))) {
		const char *tail = len > 8000 ? log + len - 8000 : log;

		fprintf(stderr, "---- horusd log (namespace %s, last %zu bytes) ----\n%s\n", h->ns,
			strlen(tail), tail);
		free(log);
	}
	if (h && h->pid > 0 && !h->reaped) {
		if (sd_request(h, "1 node list", reply, sizeof(reply))) {
			fprintf(stderr, "---- node list ----\n%s\n", reply);
		} else if (access("/usr/bin/gdb", X_OK) == 0) {
			/* The daemon does not answer: show where its threads are. */
			char cmd[128];

			fprintf(stderr, "---- horusd does not answer; its threads ----\n");
			fflush(stderr);
			snprintf(
			    cmd, sizeof(cmd),
			    "gdb -p %d -batch -ex 'thread apply all bt' 2>&1 | grep -v '^\\[' >&2",
			    (int)h->pid);
			(void)!system(cmd);
		}
	}
	fprintf(stderr, "==== (test directory kept: %s)\n", h ? h->dir : "");
	if (h) {
		h->dir[0] = '\0'; /* keep the files for a post-mortem; the rest goes */
		sd_teardown_of(h);
	}
	ck_abort_msg("%s:%d: %s: %s", file, line, expr, msg);
	abort(); /* not reached */
}

/* ---- fixture ----------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void sd_setup(void)
{
	static unsigned counter;
	struct sd *h = &sd_h;
	char tmpl[] = "/tmp/horus-shipped-XXXXXX";

	memset(h, 0, sizeof(*h));
	if (!getenv("HORUSD") || !getenv("HORUS_SHIPPED_NODES")) {
		ck_abort_msg("HORUSD and HORUS_SHIPPED_NODES must be set (run through meson test)");
	}
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(h->dir, sizeof(h->dir), "%s", tmpl);
	chmod(h->dir, 0755);
	snprintf(h->plugdir, sizeof(h->plugdir), "%.240s/plugins", h->dir);
	ck_assert_int_eq(mkdir(h->plugdir, 0755), 0);
	chmod(h->plugdir, 0755); /* whatever the umask */
	snprintf(h->conf, sizeof(h->conf), "%.240s/horusd.ini", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%.240s/horusd.sock", h->dir);
	snprintf(h->log, sizeof(h->log), "%.240s/horusd.log", h->dir);
	snprintf(h->ns, sizeof(h->ns), "sh%dn%u", (int)getpid(), counter++);
}

static void sd_teardown_of(struct sd *h)
{
	char prefix[64];
	struct dirent *de;
	DIR *d;

	if (h->pid > 0 && !h->reaped) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &h->status, 0);
		h->reaped = true;
	}
	d = opendir("/dev/shm");
	snprintf(prefix, sizeof(prefix), "horus.%s.", h->ns);
	while (h->ns[0] && d && (de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix))) {
			char p[512];

			snprintf(p, sizeof(p), "/dev/shm/%s", de->d_name);
			unlink(p);
		}
	}
	if (d) {
		closedir(d);
	}
	if (h->dir[0]) {
		if (getenv("HORUS_SHIPPED_KEEP")) {
			fprintf(stderr, "kept %s\n", h->dir);
		} else {
			nftw(h->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		}
	}
}

void sd_teardown(void)
{
	sd_teardown_of(&sd_h);
}

TCase *sd_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, sd_setup, sd_teardown);
	tcase_set_timeout(tc, 90);
	return tc;
}

int sd_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (!getenv("HORUSD") || !getenv("HORUS_SHIPPED_NODES")) {
		fprintf(stderr, "HORUSD and HORUS_SHIPPED_NODES are not set: skipped\n");
		srunner_free(sr);
		return 77;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- files ------------------------------------------------------------------------------- */

void sd_path(struct sd *h, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", h->dir, name);
}

void sd_plugin(struct sd *h, const char *name)
{
	char src[SD_PATH], dst[SD_PATH + 64], tmp[SD_PATH + 80];
	size_t len;
	char *data;
	int fd;

	snprintf(src, sizeof(src), "%s/%s.so", getenv("HORUS_SHIPPED_NODES"), name);
	snprintf(dst, sizeof(dst), "%s/%s.so", h->plugdir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", h->plugdir, name);
	data = sd_read_file(src, &len);
	SD_CHECK(h, data != NULL, "cannot read %s", src);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	SD_CHECK(h, fd >= 0, "cannot create %s: %s", tmp, strerror(errno));
	SD_CHECK(h, write(fd, data, len) == (ssize_t)len, "short write to %s", tmp);
	close(fd);
	free(data);
	SD_CHECK(h, chmod(tmp, 0755) == 0, "chmod %s", tmp);
	SD_CHECK(h, rename(tmp, dst) == 0, "rename to %s: %s", dst, strerror(errno));
}

void sd_unplug(struct sd *h, const char *name)
{
	char p[SD_PATH + 64];

	snprintf(p, sizeof(p), "%s/%s.so", h->plugdir, name);
	SD_CHECK(h, unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
}

void sd_config(struct sd *h, const char *fmt, ...)
{
	char *body = NULL, *text = NULL, tmp[SD_PATH + 8];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	SD_CHECK(h, n >= 0, "out of memory");
	n = asprintf(&text,
		     "[daemon]\nplugin_dir = %s\nnamespace = %s\ncontrol_socket = %s\n"
		     "log_level = debug\n\n%s",
		     h->plugdir, h->ns, h->sock, body);
	SD_CHECK(h, n >= 0, "out of memory");
	snprintf(tmp, sizeof(tmp), "%s.new", h->conf);
	{
		FILE *f = fopen(tmp, "we");

		SD_CHECK(h, f != NULL, "cannot write %s", tmp);
		fputs(text, f);
		fclose(f);
	}
	SD_CHECK(h, rename(tmp, h->conf) == 0, "rename %s", tmp);
	free(text);
	free(body);
}

int sd_log_count(struct sd *h, const char *needle)
{
	char *data = sd_read_file(h->log, NULL);
	int n = 0;

	for (const char *p = data; p && (p = strstr(p, needle)); p += strlen(needle)) {
		n++;
	}
	free(data);
	return n;
}

/* ---- the daemon -------------------------------------------------------------------------- */

static bool alive(struct sd *h)
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

void sd_start(struct sd *h)
{
	const char *horusd = getenv("HORUSD");
	pid_t parent = getpid();
	char reply[SD_REPLY_MAX];
	uint64_t end;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	SD_CHECK(h, pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
		}
		unsetenv("NOTIFY_SOCKET");
		unsetenv("JOURNAL_STREAM");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		execl(horusd, horusd, "-c", h->conf, (char *)NULL);
		_exit(127);
	}
	h->pid = pid;
	h->reaped = false;
	end = sd_ms() + 10000;
	for (;;) {
		SD_CHECK(h, alive(h), "horusd exited during start-up (status 0x%x)", h->status);
		if (sd_request(h, "1 status", reply, sizeof(reply))) {
			return;
		}
		SD_CHECK(h, sd_ms() < end, "the control socket %s did not answer in 10 s", h->sock);
		usleep(10000);
	}
}

void sd_signal(struct sd *h, int sig)
{
	SD_CHECK(h, alive(h), "horusd is not running (status 0x%x)", h->status);
	kill(h->pid, sig);
}

int sd_stop(struct sd *h, int sig, int timeout_ms)
{
	uint64_t end = sd_ms() + (uint64_t)timeout_ms;

	if (!alive(h)) {
		return h->reaped ? h->status : -1;
	}
	kill(h->pid, sig);
	while (sd_ms() < end) {
		if (waitpid(h->pid, &h->status, WNOHANG) == h->pid) {
			h->reaped = true;
			return h->status;
		}
		usleep(5000);
	}
	return -1;
}

/* ---- control socket ---------------------------------------------------------------------- */

bool sd_request(struct sd *h, const char *req, char *reply, size_t size)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t end = sd_ms() + 5000;
	size_t len = 0;
	char line[512];
	int fd, n;

	n = snprintf(line, sizeof(line), "%s\n", req);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return false;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", h->sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, line, (size_t)n) != n) {
		close(fd);
		return false;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = (int64_t)end - (int64_t)sd_ms();
		ssize_t got;
		char *nl;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 || len + 1 >= size) {
			break;
		}
		got = read(fd, reply + len, size - 1 - len);
		if (got <= 0) {
			break;
		}
		len += (size_t)got;
		reply[len] = '\0';
		nl = strchr(reply, '\n');
		if (nl) {
			*nl = '\0';
			close(fd);
			return true;
		}
	}
	close(fd);
	return false;
}

bool sd_json_num(const char *json, const char *key, double *ret)
{
	char pat[96];
	const char *p;
	char *end;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(json, pat);
	if (!p) {
		return false;
	}
	p += strlen(pat);
	*ret = strtod(p, &end);
	return end != p;
}

static bool json_str(const char *json, const char *key, char *out, size_t size)
{
	char pat[96];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(json, pat);
	if (!p) {
		return false;
	}
	for (p += strlen(pat); *p && *p != '"' && n + 1 < size; p++) {
		out[n++] = *p;
	}
	out[n] = '\0';
	return true;
}

bool sd_node_info(struct sd *h, const char *name, struct sd_node *ret)
{
	char req[256], reply[SD_REPLY_MAX];
	const char *io, *tick;
	double v;

	snprintf(req, sizeof(req), "1 node info %s", name);
	SD_CHECK(h, sd_request(h, req, reply, sizeof(reply)), "no reply to '%s'", req);
	if (strstr(reply, "\"error\"")) {
		return false;
	}
	memset(ret, 0, sizeof(*ret));
	SD_CHECK(h, json_str(reply, "state", ret->state, sizeof(ret->state)), "no state: %s",
		 reply);
#define NUM(json, key, dst)                                                                        \
	SD_CHECK(h, sd_json_num(json, key, &v), "node info lacks %s: %s", key, reply);             \
	dst = v
	NUM(reply, "rate_hz", ret->rate_hz);
	NUM(reply, "actual_hz", ret->actual_hz);
	NUM(reply, "ticks", ret->ticks);
	NUM(reply, "failures", ret->failures);
	tick = strstr(reply, "\"tick_us\": {");
	SD_CHECK(h, tick != NULL, "node info lacks tick_us: %s", reply);
	NUM(tick, "p50", ret->tick_p50_us);
	NUM(tick, "max", ret->tick_max_us);
	io = strstr(reply, "\"io\": {");
	SD_CHECK(h, io != NULL, "node info lacks io: %s", reply);
	NUM(io, "submitted", ret->io_submitted);
	NUM(io, "completed", ret->io_completed);
	NUM(io, "failed", ret->io_failed);
	NUM(io, "timed_out", ret->io_timed_out);
#undef NUM
	return true;
}

bool sd_node_state_is(struct sd *h, const char *name, const char *state)
{
	struct sd_node n;

	return sd_node_info(h, name, &n) && !strcmp(n.state, state);
}

uint64_t sd_node_ticks(struct sd *h, const char *name)
{
	struct sd_node n;

	return sd_node_info(h, name, &n) ? n.ticks : 0; /* 0 until the config is applied */
}

/* ---- the bus ----------------------------------------------------------------------------- */

struct horus_sub *sd_subscribe(struct sd *h, const char *topic)
{
	struct horus_topic_info info;
	struct horus_sub *sub = NULL;
	int r;

	/* Wait for the node to create the topic: subscribing first would create it with the
	 * default geometry, and a publisher with larger messages would then be refused. */
	SD_WAIT(h, horus_topic_info(h->ns, topic, HORUS_KIND_HUB, &info) == 0, 10000,
		"topic %s never appeared", topic);
	r = horus_sub_open(h->ns, topic, NULL, 0, &sub);
	SD_CHECK(h, r == 0, "horus_sub_open(%s): %s", topic, strerror(-r));
	return sub;
}

bool sd_wait_reading(struct sd *h, struct horus_sub *sub, int timeout_ms,
		     bool (*pred)(const struct horus_reading *r, const char *text, void *arg),
		     void *arg, struct horus_reading *ret, char *text, size_t text_size)
{
	uint64_t end = sd_ms() + (uint64_t)timeout_ms;
	unsigned char buf[65536];

	(void)h;
	memset(ret, 0, sizeof(*ret));
	if (text_size) {
		text[0] = '\0';
	}
	while (sd_ms() < end) {
		int n = horus_sub_read(sub, buf, sizeof(buf), NULL);

		if (n == -EAGAIN) {
			horus_sub_wait(sub, 50 * 1000000ll);
			continue;
		}
		SD_CHECK(h, n >= (int)sizeof(*ret), "bad reading message: %d", n);
		memcpy(ret, buf, sizeof(*ret));
		SD_CHECK(h, ret->text_len == (size_t)n - sizeof(*ret), "text_len %u, message %d",
			 ret->text_len, n);
		if (text_size) {
			size_t t = ret->text_len < text_size - 1 ? ret->text_len : text_size - 1;

			memcpy(text, buf + sizeof(*ret), t);
			text[t] = '\0';
		}
		if (pred(ret, text, arg)) {
			return true;
		}
	}
	return false;
}
