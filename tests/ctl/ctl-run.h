/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_CTL_CTL_RUN_H
#define HORUS_TESTS_CTL_CTL_RUN_H

/* Runs horusctl ($HORUSCTL) or any program as a real child process and collects its output. */

#include <stddef.h>
#include <sys/types.h>

#define RUN_OUT_MAX (256 * 1024)
#define RUN_ERR_MAX 8192
/* A child still running after this long is killed and reported as status -1. */
#define RUN_TIMEOUT_MS 60000

struct run {
	int status; /* exit code; -1 if killed by a signal or the timeout */
	char out[RUN_OUT_MAX];
	char err[RUN_ERR_MAX];
	size_t out_len;
};

/* Runs argv (argv[0] looked up in PATH) to completion; stdin is /dev/null. */
int run_argv(struct run *r, const char *const argv[]);
/* Runs horusctl with args (NULL-terminated). Returns r->status. */
int run_ctl(struct run *r, const char *const args[]);

/* Starts horusctl with args in the background, stdout into *ret_fd (a pipe). */
pid_t spawn_ctl(const char *const args[], int *ret_fd);
/* Reads fd to EOF into r->out, waits for pid (killed after timeout_ms). Returns r->status. */
int finish_ctl(struct run *r, pid_t pid, int fd, int timeout_ms);

/* Number of lines of s that contain every one of the NULL-terminated needles. */
int lines_with(const char *s, const char *const needles[]);

#endif /* HORUS_TESTS_CTL_CTL_RUN_H */
