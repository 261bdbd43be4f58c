/* SPDX-License-Identifier: MIT */
/* horus-bench: a real horusd in a private directory, its control socket, its threads' CPU time.
 * See bench-daemon.h. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "bench-daemon.h"
#include "bench.h"

#define START_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)
#define STOP_TIMEOUT_NS (10ull * 1000 * 1000 * 1000)
#define REQUEST_TIMEOUT_MS 5000

/* ---- finding horusd and the bench node --------------------------------------------------- */

static bool executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static bool regular_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of this executable (the build tree's tools/bench/, or the bin directory). */
static int self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n < 0) {
		return -errno;
	}
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash) {
		return -ENOENT;
	}
	*slash = '\0';
	return 0;
}

int bench_find_horusd(const char *path, char *buf, size_t size)
{
	char dir[PATH_MAX], cand[PATH_MAX + 32];
	const char *env;

	if (path) {
		if (!executable_file(path)) {
			return -ENOENT;
		}
		snprintf(buf, size, "%s", path);
		return 0;
	}
	if (self_dir(dir, sizeof(dir)) == 0) {
		snprintf(cand, sizeof(cand), "%s/../../daemon/horusd", dir);
		if (executable_file(cand) && realpath(cand, dir)) {
			snprintf(buf, size, "%s", dir);
			return 0;
		}
	}
	env = getenv("PATH");
	for (const char *p = env; p && *p;) {
		size_t len = strcspn(p, ":");

		if (len > 0 && len < PATH_MAX) {
			snprintf(cand, sizeof(cand), "%.*s/horusd", (int)len, p);
			if (executable_file(cand)) {
				snprintf(buf, size, "%s", cand);
				return 0;
			}
		}
		p += len + (p[len] == ':');
	}
	if (executable_file("/usr/sbin/horusd")) {
		snprintf(buf, size, "/usr/sbin/horusd");
		return 0;
	}
	return -ENOENT;
}

int bench_find_node_plugin(const char *path, char *buf, size_t size)
{
	char dir[PATH_MAX], cand[PATH_MAX + 32];

	if (path) {
		if (!regular_file(path)) {
			return -ENOENT;
		}
		snprintf(buf, size, "%s", path);
		return 0;
	}
	if (self_dir(dir, sizeof(dir)) == 0) {
		snprintf(cand, sizeof(cand), "%s/bench_node.so", dir);
		if (regular_file(cand)) {
			snprintf(buf, size, "%s", cand);
			return 0;
		}
	}
#ifdef BENCH_NODE_INSTALLED
	if (regular_file(BENCH_NODE_INSTALLED)) {
		snprintf(buf, size, "%s", BENCH_NODE_INSTALLED);
		return 0;
	}
#endif
	return -ENOENT;
}

/* ---- files ------------------------------------------------------------------------------- */

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char tmp[BENCH_PATH_MAX + 16], buf[65536];
	int in, out, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		return -errno;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	}
	close(in);
	/* The daemon's loading rules: not writable by group or others, whatever the umask. */
	if (r == 0 && fchmod(out, mode) < 0) {
		r = -errno;
	}
	if (close(out) < 0 && r == 0) {
		r = -errno;
	}
	if (r == 0 && rename(tmp, dst) < 0) {
		r = -errno;
	}
	if (r < 0) {
		unlink(tmp);
	}
	return r;
}

static int write_file(const char *path, const char *text)
{
	char tmp[BENCH_PATH_MAX + 16];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		return -errno;
	}
	fputs(text, f);
	if (fclose(f) != 0) {
		return -EIO;
	}
	return rename(tmp, path) < 0 ? -errno : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* ---- the daemon -------------------------------------------------------------------------- */

int bench_daemon_init(struct bench_daemon *d, const char *tag, const char *plugin)
{
	static unsigned counter;
	const char *tmpdir = getenv("TMPDIR");
	char tmpl[BENCH_PATH_MAX], dst[BENCH_PATH_MAX + 16];
	int r;

	memset(d, 0, sizeof(*d));
	if (!tmpdir || !*tmpdir || strlen(tmpdir) > 200) {
		tmpdir = "/tmp";
	}
	snprintf(tmpl, sizeof(tmpl), "%s/horus-bench-%s-XXXXXX", tmpdir, tag);
	if (!mkdtemp(tmpl)) {
		r = -errno;
		fprintf(stderr, "horus-bench: Failed to create a directory in '%s': %s\n", tmpdir,
			strerror(-r));
		return r;
	}
	snprintf(d->dir, sizeof(d->dir), "%s", tmpl);
	chmod(d->dir, 0755);
	snprintf(d->plugdir, sizeof(d->plugdir), "%.400s/plugins", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%.400s/horusd.ini", d->dir);
	snprintf(d->sock, sizeof(d->sock), "%.400s/horusd.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%.400s/horusd.log", d->dir);
	/* Unique per run and per daemon: b<tag><pid>n<k>, at most 32 characters. */
	snprintf(d->ns, sizeof(d->ns), "b%.8s%ldn%u", tag, (long)getpid(), counter++);
	if (mkdir(d->plugdir, 0755) < 0 || chmod(d->plugdir, 0755) < 0) {
		r = -errno;
		fprintf(stderr, "horus-bench: Failed to create '%s': %s\n", d->plugdir,
			strerror(-r));
		d->failed = true;
		return r;
	}
	snprintf(dst, sizeof(dst), "%s/bench_node.so", d->plugdir);
	r = copy_file(plugin, dst, 0755);
	if (r < 0) {
		fprintf(stderr, "horus-bench: Failed to copy '%s' to '%s': %s\n", plugin, dst,
			strerror(-r));
		d->failed = true;
	}
	return r;
}

bool bench_daemon_alive(struct bench_daemon *d)
{
	int status;

	if (d->pid <= 0) {
		return false;
	}
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->pid = 0;
		return false;
	}
	return true;
}

int bench_daemon_start(struct bench_daemon *d, const char *horusd, const char *body)
{
	pid_t parent = getpid();
	uint64_t start;
	char *text = NULL, *reply;
	int r;

	if (asprintf(&text,
		     "; written by horus-bench\n[daemon]\nplugin_dir = %s\nnamespace = %s\n"
		     "control_socket = %s\nlog_level = warn\n%s",
		     d->plugdir, d->ns, d->sock, body) < 0) {
		return -ENOMEM;
	}
	r = write_file(d->conf, text);
	free(text);
	if (r < 0) {
		fprintf(stderr, "horus-bench: Failed to write '%s': %s\n", d->conf, strerror(-r));
		return r;
	}
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0) {
		r = -errno;
		d->pid = 0;
		return r;
	}
	if (d->pid == 0) {
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
		}
		/* Not a systemd service here, whatever the environment says. */
		unsetenv("NOTIFY_SOCKET");
		unsetenv("JOURNAL_STREAM");
		unsetenv("WATCHDOG_USEC");
		unsetenv("WATCHDOG_PID");
		execl(horusd, horusd, "-c", d->conf, (char *)NULL);
		_exit(127);
	}
	start = bench_now_ns();
	for (;;) {
		if (!bench_daemon_alive(d)) {
			fprintf(stderr, "horus-bench: horusd (%s) exited during start-up\n",
				horusd);
			bench_daemon_log_tail(d, 4000);
			d->failed = true;
			return -ECHILD;
		}
		reply = bench_daemon_request(d, "1 status");
		if (reply) {
			free(reply);
			return 0;
		}
		if (bench_interrupted) {
			return -EINTR;
		}
		if (bench_now_ns() - start > START_TIMEOUT_NS) {
			fprintf(stderr,
				"horus-bench: horusd's control socket %s did not answer in 10 s\n",
				d->sock);
			bench_daemon_log_tail(d, 4000);
			d->failed = true;
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
}

char *bench_daemon_request(struct bench_daemon *d, const char *req)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t deadline = bench_now_ns() + REQUEST_TIMEOUT_MS * 1000000ull;
	size_t len = 0, cap = 65536;
	char line[512], *buf = NULL;
	int fd, n;

	n = snprintf(line, sizeof(line), "%s\n", req);
	if (n < 0 || (size_t)n >= sizeof(line) || strlen(d->sock) >= sizeof(sa.sun_path)) {
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return NULL;
	}
	memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, line, (size_t)n) != n) {
		goto fail;
	}
	buf = malloc(cap);
	while (buf) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = bench_now_ns();
		ssize_t got;
		char *nl;

		if (now >= deadline) {
			goto fail;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) < 0) {
			if (errno == EINTR && !bench_interrupted) {
				continue;
			}
			goto fail;
		}
		if (!(p.revents & (POLLIN | POLLHUP))) {
			continue;
		}
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
		got = read(fd, buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got <= 0) {
			goto fail;
		}
		nl = memchr(buf + len, '\n', (size_t)got);
		len += (size_t)got;
		buf[len] = '\0';
		if (nl) {
			*nl = '\0';
			close(fd);
			return buf;
		}
	}
fail:
	free(buf);
	close(fd);
	return NULL;
}

void bench_daemon_log_tail(struct bench_daemon *d, size_t bytes)
{
	char buf[8192];
	ssize_t n;
	off_t size;
	int fd;

	if (bytes > sizeof(buf) - 1) {
		bytes = sizeof(buf) - 1;
	}
	fd = open(d->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	lseek(fd, size > (off_t)bytes ? size - (off_t)bytes : 0, SEEK_SET);
	n = read(fd, buf, bytes);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "---- horusd log (%s), last %zd bytes ----\n%s\n", d->log, n, buf);
	}
}

void bench_daemon_fini(struct bench_daemon *d)
{
	if (bench_daemon_alive(d)) {
		uint64_t start = bench_now_ns();

		kill(d->pid, SIGTERM);
		while (bench_daemon_alive(d) && bench_now_ns() - start < STOP_TIMEOUT_NS) {
			usleep(5000);
		}
		if (d->pid > 0) {
			fprintf(stderr, "horus-bench: horusd did not stop in 10 s; killing it\n");
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
			d->pid = 0;
			d->failed = true;
		}
	}
	if (d->ns[0]) {
		(void)horus_clean(d->ns);
	}
	if (!d->dir[0]) {
		return;
	}
	if (d->failed || getenv("HORUS_BENCH_KEEP")) {
		fprintf(stderr, "horus-bench: kept %s\n", d->dir);
	} else {
		nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	d->dir[0] = '\0';
}

int bench_daemon_nodes(struct bench_daemon *d, struct bench_node_snap **ret, uint64_t *ret_at_ns)
{
	uint64_t t0 = bench_now_ns(), t1;
	char *reply = bench_daemon_request(d, "1 node list");
	struct bench_node_snap *v = NULL;
	const char *e;
	int n = 0, cap = 0;

	t1 = bench_now_ns();
	if (!reply) {
		return -EIO;
	}
	for (e = bench_jfirst(bench_jget(reply, "nodes")); e; e = bench_jnext(e)) {
		struct bench_node_snap *s;

		if (n == cap) {
			struct bench_node_snap *nv;

			cap = cap ? 2 * cap : 64;
			nv = realloc(v, (size_t)cap * sizeof(*v));
			if (!nv) {
				free(v);
				free(reply);
				return -ENOMEM;
			}
			v = nv;
		}
		s = &v[n++];
		memset(s, 0, sizeof(*s));
		bench_jstr(bench_jget(e, "name"), s->name, sizeof(s->name));
		bench_jstr(bench_jget(e, "state"), s->state, sizeof(s->state));
		s->ticks = (uint64_t)bench_jnum_at(e, "ticks");
		s->io_completed = (uint64_t)bench_jnum_at(e, "io.completed");
		s->actual_hz = bench_jnum_at(e, "actual_hz");
		s->late_p50_us = bench_jnum_at(e, "late_us.p50");
		s->late_p99_us = bench_jnum_at(e, "late_us.p99");
		s->late_max_us = bench_jnum_at(e, "late_us.max");
		s->tick_p50_us = bench_jnum_at(e, "tick_us.p50");
		s->tick_p99_us = bench_jnum_at(e, "tick_us.p99");
		s->tick_max_us = bench_jnum_at(e, "tick_us.max");
	}
	free(reply);
	*ret = v;
	*ret_at_ns = t0 + (t1 - t0) / 2;
	return n;
}

const struct bench_node_snap *bench_node_find(const struct bench_node_snap *v, int n,
					      const char *name)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(v[i].name, name) == 0) {
			return &v[i];
		}
	}
	return NULL;
}

int bench_daemon_status(struct bench_daemon *d, struct bench_status *ret)
{
	char *reply = bench_daemon_request(d, "1 status");
	double disp, wakeups, threads;

	if (!reply) {
		return -EIO;
	}
	disp = bench_jnum_at(reply, "dispatches");
	wakeups = bench_jnum_at(reply, "wakeups");
	threads = bench_jnum_at(reply, "threads.tick");
	ret->dispatch_p50_ns = bench_jnum_at(reply, "dispatch_ns.p50");
	ret->dispatch_p99_ns = bench_jnum_at(reply, "dispatch_ns.p99");
	free(reply);
	if (isnan(disp)) {
		return -EPROTO;
	}
	ret->dispatches = (uint64_t)disp;
	ret->wakeups = isnan(wakeups) ? 0 : (uint64_t)wakeups;
	ret->tick_threads = isnan(threads) ? 0 : (unsigned)threads;
	return 0;
}

bool bench_sleep_ns(uint64_t ns)
{
	uint64_t end = bench_now_ns() + ns;

	for (;;) {
		uint64_t now = bench_now_ns(), left;
		struct timespec ts;

		if (bench_interrupted) {
			return false;
		}
		if (now >= end) {
			return true;
		}
		left = end - now;
		if (left > 100000000ull) {
			left = 100000000ull;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left;
		nanosleep(&ts, NULL);
	}
}

/* ---- CPU time ---------------------------------------------------------------------------- */

int bench_threads_cpu_ns(pid_t pid, const char *comm, uint64_t *ret_ns, uint64_t *ret_slices,
			 unsigned *ret_threads)
{
	char path[128];
	struct dirent *de;
	uint64_t total = 0, slices = 0;
	unsigned n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	dir = opendir(path);
	if (!dir) {
		return -errno;
	}
	while ((de = readdir(dir))) {
		char name[64] = "";
		unsigned long long ns, wait, runs;
		FILE *f;

		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/comm", (long)pid, de->d_name);
		f = fopen(path, "re");
		if (!f) {
			continue; /* the thread is gone */
		}
		if (!fgets(name, sizeof(name), f)) {
			name[0] = '\0';
		}
		fclose(f);
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, comm) != 0) {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/schedstat", (long)pid,
			 de->d_name);
		f = fopen(path, "re");
		if (!f) {
			continue;
		}
		if (fscanf(f, "%llu %llu %llu", &ns, &wait, &runs) == 3) {
			total += ns;
			slices += runs;
			n++;
		}
		fclose(f);
	}
	closedir(dir);
	*ret_ns = total;
	*ret_slices = slices;
	*ret_threads = n;
	return 0;
}

int bench_process_cpu_ns(pid_t pid, uint64_t *ret_ns)
{
	struct timespec ts;
	clockid_t clk;
	int r;

	r = clock_getcpuclockid(pid, &clk);
	if (r) {
		return -r;
	}
	if (clock_gettime(clk, &ts) < 0) {
		return -errno;
	}
	*ret_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

/* ---- JSON, read in place ----------------------------------------------------------------- */

static const char *ws(const char *p)
{
	while (p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
		p++;
	}
	return p;
}

static const char *skip_string(const char *p)
{
	if (*p != '"') {
		return NULL;
	}
	for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && !*++p) {
			return NULL;
		}
	}
	return *p == '"' ? p + 1 : NULL;
}

/* Past the value at p (which starts at a non-space), or NULL if it is malformed. */
static const char *skip_value(const char *p, int depth)
{
	if (!p || depth > 64) {
		return NULL;
	}
	switch (*p) {
	case '"':
		return skip_string(p);
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';

		p = ws(p + 1);
		if (*p == close) {
			return p + 1;
		}
		for (;;) {
			if (close == '}') {
				p = skip_string(p);
				p = ws(p);
				if (!p || *p != ':') {
					return NULL;
				}
				p = ws(p + 1);
			}
			p = ws(skip_value(p, depth + 1));
			if (!p) {
				return NULL;
			}
			if (*p == close) {
				return p + 1;
			}
			if (*p != ',') {
				return NULL;
			}
			p = ws(p + 1);
		}
	}
	default:
		if (!*p || strchr(",}]:", *p)) {
			return NULL;
		}
		/* number, true, false, null */
		while (*p && !strchr(",}] \t\r\n", *p)) {
			p++;
		}
		return p;
	}
}

const char *bench_jget(const char *obj, const char *key)
{
	size_t klen = strlen(key);
	const char *p = ws(obj);

	if (!p || *p != '{') {
		return NULL;
	}
	p = ws(p + 1);
	while (p && *p == '"') {
		const char *k = p + 1, *end = skip_string(p);

		if (!end) {
			return NULL;
		}
		p = ws(end);
		if (!p || *p != ':') {
			return NULL;
		}
		p = ws(p + 1);
		if ((size_t)(end - 1 - k) == klen && strncmp(k, key, klen) == 0) {
			return p;
		}
		p = ws(skip_value(p, 0));
		if (!p || *p != ',') {
			return NULL;
		}
		p = ws(p + 1);
	}
	return NULL;
}

const char *bench_jpath(const char *v, const char *path)
{
	char key[64];

	while (v && *path) {
		size_t len = strcspn(path, ".");

		if (len >= sizeof(key)) {
			return NULL;
		}
		memcpy(key, path, len);
		key[len] = '\0';
		v = bench_jget(v, key);
		path += len + (path[len] == '.');
	}
	return v;
}

const char *bench_jfirst(const char *arr)
{
	const char *p = ws(arr);

	if (!p || *p != '[') {
		return NULL;
	}
	p = ws(p + 1);
	return *p == ']' ? NULL : p;
}

const char *bench_jnext(const char *elem)
{
	const char *p = ws(skip_value(ws(elem), 0));

	if (!p || *p != ',') {
		return NULL;
	}
	return ws(p + 1);
}

bool bench_jnum(const char *v, double *ret)
{
	char *end;
	double x;

	v = ws(v);
	if (!v || !(*v == '-' || (*v >= '0' && *v <= '9'))) {
		return false;
	}
	x = strtod(v, &end);
	if (end == v) {
		return false;
	}
	*ret = x;
	return true;
}

double bench_jnum_at(const char *v, const char *path)
{
	double x;

	return bench_jnum(bench_jpath(v, path), &x) ? x : NAN;
}

bool bench_jstr(const char *v, char *buf, size_t size)
{
	size_t n = 0;

	v = ws(v);
	if (!v || *v != '"' || size == 0) {
		return false;
	}
	for (v++; *v && *v != '"'; v++) {
		if (*v == '\\' && (v[1] == '"' || v[1] == '\\')) {
			v++;
		}
		if (n + 1 < size) {
			buf[n++] = *v;
		}
	}
	buf[n] = '\0';
	return *v == '"';
}

int bench_locate(const char *cmd, const char *horusd_opt, char *horusd, size_t horusd_size,
		 const char *plugin_opt, char *plugin, size_t plugin_size)
{
	if (bench_find_horusd(horusd_opt, horusd, horusd_size) < 0) {
		return horusd_opt
			   ? bench_bad_value(cmd, "--horusd", horusd_opt, "an executable file")
			   : bench_usage_error(cmd, "cannot find horusd; use --horusd");
	}
	if (bench_find_node_plugin(plugin_opt, plugin, plugin_size) < 0) {
		return plugin_opt
			   ? bench_bad_value(cmd, "--plugin", plugin_opt, "a file")
			   : bench_usage_error(cmd, "cannot find bench_node.so; use --plugin");
	}
	return 0;
}
