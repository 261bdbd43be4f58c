/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dtest.h"

extern char **environ;

static char scratch[256];

const char *dt_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v && *v, "environment variable %s is not set (run the test through meson)",
		      name);
	return v;
}

void dt_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < size, "dt_fmt: '%s...' does not fit %zu bytes", fmt,
		      size);
}

void dt_mkdtemp(char *buf, size_t size, mode_t mode)
{
	ck_assert_msg(scratch[0], "dt_mkdtemp outside dt_run");
	ck_assert_int_lt(snprintf(buf, size, "%s/t-XXXXXX", scratch), (int)size);
	ck_assert_msg(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
	ck_assert_int_eq(chmod(buf, mode), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP) {
		rmdir(path);
	} else {
		unlink(path);
	}
	return 0;
}

void dt_rm_rf(const char *path)
{
	if (path && *path) {
		(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static void write_all(int fd, const char *buf, size_t n, const char *path)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		ck_assert_msg(w > 0, "write %s: %s", path, strerror(errno));
		buf += w;
		n -= (size_t)w;
	}
}

void dt_write(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	write_all(fd, text, strlen(text), path);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

void dt_copy(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out;
	ssize_t n;

	ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(out >= 0, "open %s: %s", dst, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR) {
			continue;
		}
		ck_assert_msg(n > 0, "read %s: %s", src, strerror(errno));
		write_all(out, buf, (size_t)n, dst);
	}
	ck_assert_int_eq(fchmod(out, mode), 0);
	ck_assert_int_eq(close(out), 0);
	close(in);
}

char *dt_read(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;

	if (!f) {
		return NULL;
	}
	/* getdelim with NUL reads the whole (text) file in one call. */
	n = getdelim(&buf, &len, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return calloc(1, 1);
	}
	return buf;
}

TCase *dt_tcase(Suite *s, const char *name, double timeout_s, void (*setup)(void),
		void (*teardown)(void))
{
	TCase *tc = tcase_create(name);

	if (setup || teardown) {
		tcase_add_checked_fixture(tc, setup, teardown);
	}
	tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct sink {
	int fd;
	char *buf;
	size_t len;
};

static void sink_read(struct sink *s)
{
	char chunk[4096];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));
	char *nb;

	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	nb = realloc(s->buf, s->len + (size_t)n + 1);
	ck_assert_ptr_nonnull(nb);
	memcpy(nb + s->len, chunk, (size_t)n);
	s->len += (size_t)n;
	nb[s->len] = '\0';
	s->buf = nb;
}

int dt_spawn(char *const argv[], char **ret_out, char **ret_err, int timeout_ms)
{
	struct sink sinks[2] = { { -1, NULL, 0 }, { -1, NULL, 0 } };
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int out[2], err[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
		    dup2(err[1], STDERR_FILENO) < 0) {
			_exit(126);
		}
		unsetenv("JOURNAL_STREAM"); /* plain "level: message" lines */
		unsetenv("NOTIFY_SOCKET");
		execve(argv[0], argv, environ);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	sinks[0].fd = out[0];
	sinks[1].fd = err[0];
	while (sinks[0].fd >= 0 || sinks[1].fd >= 0) {
		struct pollfd pfd[2] = { { sinks[0].fd, POLLIN, 0 }, { sinks[1].fd, POLLIN, 0 } };
		uint64_t now = now_ms();

		if (now >= end) {
			break;
		}
		if (poll(pfd, 2, (int)(end - now)) < 0 && errno != EINTR) {
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (sinks[i].fd >= 0 && pfd[i].revents) {
				sink_read(&sinks[i]);
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (sinks[i].fd >= 0) {
			close(sinks[i].fd);
		}
		if (!sinks[i].buf) {
			sinks[i].buf = calloc(1, 1);
		}
	}
	*ret_out = sinks[0].buf;
	*ret_err = sinks[1].buf;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			break;
		}
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		/* The pipes are closed, so the child is exiting: poll its end briefly. */
		(void)poll(NULL, 0, 1);
	}
	if (WIFEXITED(status)) {
		return WEXITSTATUS(status);
	}
	return 128 + WTERMSIG(status);
}

int dt_run(Suite *s)
{
	const char *base = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	snprintf(scratch, sizeof(scratch), "%s/horus-dtest-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(scratch)) {
		fprintf(stderr, "mkdtemp %s: %s\n", scratch, strerror(errno));
		return 99;
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	dt_rm_rf(scratch); /* what failed tests left behind */
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
