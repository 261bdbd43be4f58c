/* SPDX-License-Identifier: MIT */
/* Child processes for the horusctl tests: fork/exec, both pipes drained, a bounded wait. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl-run.h"

#define ARGS_MAX 32

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t spawn(const char *const argv[], int *ret_out, int *ret_err)
{
	int out[2], err[2];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no child behind */
		dup2(null, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(ret_err ? err[1] : STDERR_FILENO, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	*ret_out = out[0];
	if (ret_err) {
		*ret_err = err[0];
	} else {
		close(err[0]);
	}
	return pid;
}

static int reap(pid_t pid, long long deadline)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		poll(NULL, 0, 5);
	}
}

/* Drains out (and err if >= 0) until both reach EOF or the deadline. */
static void drain(struct run *r, int out, int err, long long deadline)
{
	size_t err_len = 0;

	while (out >= 0 || err >= 0) {
		struct pollfd p[2] = {{.fd = out, .events = POLLIN}, {.fd = err, .events = POLLIN}};
		long long left = deadline - now_ms();

		if (left <= 0 || poll(p, 2, (int)left) <= 0) {
			break;
		}
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? r->out + r->out_len : r->err + err_len;
			size_t room =
			    i == 0 ? RUN_OUT_MAX - 1 - r->out_len : RUN_ERR_MAX - 1 - err_len;
			char scratch[4096];
			ssize_t n;

			if (!p[i].revents) {
				continue;
			}
			n = read(p[i].fd, room ? buf : scratch, room ? room : sizeof(scratch));
			if (n <= 0) {
				close(p[i].fd);
				if (i == 0) {
					out = -1;
				} else {
					err = -1;
				}
				continue;
			}
			if (room && i == 0) {
				r->out_len += (size_t)n;
			} else if (room) {
				err_len += (size_t)n;
			}
		}
	}
	if (out >= 0) {
		close(out);
	}
	if (err >= 0) {
		close(err);
	}
	r->out[r->out_len] = '\0';
	r->err[err_len] = '\0';
}

int run_argv(struct run *r, const char *const argv[])
{
	long long deadline = now_ms() + RUN_TIMEOUT_MS;
	int out, err;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	pid = spawn(argv, &out, &err);
	if (pid < 0) {
		r->status = -1;
		return -1;
	}
	drain(r, out, err, deadline);
	r->status = reap(pid, deadline);
	return r->status;
}

static void ctl_argv(const char *argv[ARGS_MAX + 2], const char *const args[])
{
	const char *exe = getenv("HORUSCTL");
	int n = 0;

	argv[n++] = exe ? exe : "horusctl";
	for (int i = 0; args[i] && n <= ARGS_MAX; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;
}

int run_ctl(struct run *r, const char *const args[])
{
	const char *argv[ARGS_MAX + 2];

	ctl_argv(argv, args);
	return run_argv(r, argv);
}

pid_t spawn_ctl(const char *const args[], int *ret_fd)
{
	const char *argv[ARGS_MAX + 2];

	ctl_argv(argv, args);
	return spawn(argv, ret_fd, NULL);
}

int finish_ctl(struct run *r, pid_t pid, int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	memset(r, 0, sizeof(*r));
	drain(r, fd, -1, deadline);
	r->status = reap(pid, deadline);
	return r->status;
}

int lines_with(const char *s, const char *const needles[])
{
	int count = 0;

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char line[4096];
		bool all = true;

		snprintf(line, sizeof(line), "%.*s", (int)len, s);
		for (int i = 0; needles[i]; i++) {
			all = all && strstr(line, needles[i]);
		}
		count += all;
		s = nl ? nl + 1 : NULL;
	}
	return count;
}
