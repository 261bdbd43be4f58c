/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_DAEMON_DTEST_H
#define HORUS_TESTS_DAEMON_DTEST_H

/*
 * What the daemon suites share: one scratch directory per run (removed at the end even when a
 * failed CK_FORK test skipped its teardown), private per-test directories inside it, file
 * helpers, paths handed over by meson through the environment, and running a child process
 * with its output captured.
 */

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The value of an environment variable meson sets for the test; aborts the test if unset. */
const char *dt_env(const char *name);

/* snprintf that fails the test instead of truncating. */
void dt_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A fresh directory inside the run's scratch directory, mode `mode`; path written to buf. */
void dt_mkdtemp(char *buf, size_t size, mode_t mode);
/* Removes path and everything below it (no error if it does not exist). */
void dt_rm_rf(const char *path);

/* Writes `text` to path (created or truncated) with `mode`. */
void dt_write(const char *path, const char *text, mode_t mode);
/* Copies src to dst (created or truncated), then sets `mode` exactly. */
void dt_copy(const char *src, const char *dst, mode_t mode);
/* Reads a whole file into a malloc'ed NUL-terminated string; NULL if it cannot be read. */
char *dt_read(const char *path);

/* Adds a TCase with a timeout (seconds) and, if setup is not NULL, a checked fixture. */
TCase *dt_tcase(Suite *s, const char *name, double timeout_s, void (*setup)(void),
		void (*teardown)(void));

/*
 * Runs argv[0] with argv, an environment without JOURNAL_STREAM, and stdin from /dev/null;
 * collects stdout and stderr (malloc'ed, NUL-terminated). Returns the exit status, 128 + signal,
 * or -1 when it did not end within timeout_ms (it is then killed).
 */
int dt_spawn(char *const argv[], char **ret_out, char **ret_err, int timeout_ms);

/* Runs the suite with the scratch directory set up; returns the process exit status. */
int dt_run(Suite *s);

#endif /* HORUS_TESTS_DAEMON_DTEST_H */
