/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_RELIABILITY_DAEMON_RD_H
#define HORUS_TESTS_RELIABILITY_DAEMON_RD_H

/*
 * What the daemon reliability suites share on top of the integration harness (a real horusd per
 * test): how big a run is, the figure lines that scripts/reliability-report.sh collects, tick
 * counts of many nodes from one "node list", and the daemon's resource footprint.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

/* True when built with AddressSanitizer (gcc or clang): the daemon of that build is too. */
bool rd_asan(void);

/*
 * Factor applied to loop counts and node counts: $HORUS_RELIABILITY_SCALE if set (a positive
 * number), else 0.25 under ASan, else 1. The first call prints which one applies.
 */
double rd_scale(void);

/* base * rd_scale(), at least min. */
unsigned rd_count(unsigned base, unsigned min);
/* For loops that cost about as much under ASan: base times $HORUS_RELIABILITY_SCALE if set. */
unsigned rd_count_unscaled_by_asan(unsigned base, unsigned min);

/* Prints "RELIABILITY: <what>: <figure>" on stdout (the report collects these lines). */
void rd_figure(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One node's counters in a snapshot of "1 node list". */
struct rd_node {
	char name[48];
	double rate_hz;
	uint64_t ticks;
};

/* A snapshot of every node's tick counter, taken in one request (its middle is t_us). */
struct rd_snapshot {
	uint64_t t_us;
	struct rd_node *nodes;
	size_t n;
};

/* Takes a snapshot; fails the test if the daemon does not answer within 5 s. */
void rd_snapshot(struct hd *h, struct rd_snapshot *ret);
void rd_snapshot_free(struct rd_snapshot *s);
/* The node named name in s, or NULL. */
const struct rd_node *rd_snapshot_find(const struct rd_snapshot *s, const char *name);

/*
 * Ticks of node `name` between two snapshots over what its rate promises for the time between
 * them (1.0 = every tick); the raw counts through the optional pointers.
 */
double rd_ratio(struct hd *h, const struct rd_snapshot *a, const struct rd_snapshot *b,
		const char *name, uint64_t *ret_ticks, double *ret_expected);

/*
 * Judges a node's tick ratio: passes at >= bar (and <= 1.01). The machine may be busy with work
 * of others: `reference` is the ratio of the same kind of node measured where nothing under test
 * happens (another daemon over the same window, or a quiet window); when it shows lost ticks too
 * (< 0.999), the ratio may be up to 3% below it, reported as a NOTE (it-hang's rule). Fails the
 * test otherwise, naming what was measured.
 */
void rd_judge(struct hd *h, const char *what, double ratio, double reference, double bar);

/* VmRSS of pid in KiB (from /proc/PID/status), -1 if unknown. */
long rd_rss_kib(pid_t pid);
/* Open file descriptors of pid (entries of /proc/PID/fd), -1 if unknown. */
int rd_fd_count(pid_t pid);

/* Runs fn(arg) in a child process that dies with the test (PR_SET_PDEATHSIG) and _exit()s
 * with fn's return value. */
pid_t rd_spawn(int (*fn)(void *arg), void *arg);

/* Waits up to timeout_ms for pid; its exit status (0..255), 128 + signal, or -1 if still alive
 * (then it is killed). */
int rd_reap(pid_t pid, int timeout_ms);

#endif /* HORUS_TESTS_RELIABILITY_DAEMON_RD_H */
