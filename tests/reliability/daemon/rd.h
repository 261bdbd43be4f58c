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
#include "rel.h"

/*
 * Run size and figure lines come from the bus suites' rel.h (rel_asan, rel_scale, rel_count,
 * rel_figure: $HORUS_RELIABILITY_SCALE, 0.25 under ASan), so that both halves of the campaign
 * scale and report alike. On top of them:
 */

/* rel_count(base), at least min. */
unsigned rd_count(unsigned base, unsigned min);
/* For loops that cost about as much under ASan: base times $HORUS_RELIABILITY_SCALE if set. */
unsigned rd_count_unscaled_by_asan(unsigned base, unsigned min);

/* hd_init() with the test node in plugin_dir as testnode.so: every test here starts so. */
void rd_init(struct hd *h);

/* Runs a suite of one test case with one test under a checked fixture; the exit status. */
int rd_run_one(const char *name, void (*setup)(void), void (*teardown)(void), const TTest *test,
	       int timeout_s);

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

/*
 * Runs fn(arg) in a child process that _exit()s with fn's return value, like rel_spawn(), but
 * dies with the test (PR_SET_PDEATHSIG): a flooder or client must not outlive a test that timed
 * out.
 */
pid_t rd_spawn(int (*fn)(void *arg), void *arg);

/* (Waiting for a child: t_child_wait() of tests/unit/common.h.) */

#endif /* HORUS_TESTS_RELIABILITY_DAEMON_RD_H */
