/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TOOLS_BENCH_H
#define HORUS_TOOLS_BENCH_H

/*
 * horus-bench: what every subcommand shares. Timing, statistics, CPU pinning, the two-process
 * harness (shared memory created before fork, a pinned child that dies with its parent, abort
 * on Ctrl-C or on a dead child), option parsing helpers, and the two output forms (a human table,
 * or NDJSON with --json).
 */

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 2

#define BENCH_CACHELINE 64
#define BENCH_LIST_MAX 16

/* ---- subcommands ------------------------------------------------------------------------- */

/* Each returns a process exit status (BENCH_EXIT_*). argv[0] is the subcommand's name. */
int bench_latency_main(int argc, char **argv);
int bench_throughput_main(int argc, char **argv);

/* ---- timing ------------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC through the vDSO: inline, because it sits inside every measured round trip. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Median cost of one bench_now_ns() call, to tell how much of a small figure is the clock. */
uint64_t bench_clock_cost_ns(void);

/* ---- statistics -------------------------------------------------------------------------- */

struct bench_stats {
	size_t n;
	uint64_t min, p50, p99, p999, max;
};

/* Sorts samples in place and takes nearest-rank percentiles. n may be 0 (all zero). */
void bench_stats_compute(uint64_t *samples, size_t n, struct bench_stats *ret);

/* ---- CPUs and processes ------------------------------------------------------------------ */

/* Pins the calling process to one CPU. -errno. */
int bench_pin(int cpu);
/* -EINVAL unless cpu is in this process's allowed set (checked before any pinning). */
int bench_cpu_allowed(int cpu);

/*
 * Installs the handlers that make waits give up: SIGINT/SIGTERM set the interrupted flag, SIGCHLD
 * the child-exited flag. No SA_RESTART, so a futex wait returns -EINTR and the loop can look.
 */
void bench_signals_init(void);
extern volatile sig_atomic_t bench_interrupted;
extern volatile sig_atomic_t bench_child_exited;

/* True when a wait loop should stop waiting: Ctrl-C, or the other process is gone. */
static inline bool bench_abort(void)
{
	return bench_interrupted || bench_child_exited;
}

/*
 * Forks a child pinned to `cpu` that gets SIGKILL if the parent dies. Returns the pid in the
 * parent, 0 in the child (which must leave with _exit), -errno on failure.
 */
pid_t bench_fork(int cpu);
/* Reaps the child; kills it first if `kill_it`. 0 if it exited with status 0, else -ECHILD. */
int bench_reap(pid_t pid, bool kill_it);

/* Zeroed MAP_SHARED anonymous memory (rounded up to pages, prefaulted); NULL on failure. */
void *bench_shared_alloc(size_t size);
void bench_shared_free(void *p, size_t size);

/* Waits until *word becomes nonzero, for at most timeout_ns; false on timeout or abort. */
bool bench_wait_flag(const _Atomic uint32_t *word, uint64_t timeout_ns);

/* ---- option values ----------------------------------------------------------------------- */

/*
 * Parsers for option values: 0, or -EINVAL with nothing written. They never print; callers
 * report through bench_usage_error().
 */
int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Bytes with an optional K, M or G suffix (powers of 1024). */
int bench_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Comma-separated sizes, 1..BENCH_LIST_MAX of them. */
int bench_parse_size_list(const char *s, uint64_t min, uint64_t max, uint64_t ret[BENCH_LIST_MAX],
			  size_t *ret_n);
/* "A,B": two different CPUs in the allowed set. */
int bench_parse_cores(const char *s, int ret[2]);
/* Seconds, fractional allowed, in (0, max]. */
int bench_parse_seconds(const char *s, double max, double *ret);
/*
 * Comma-separated words, each one of names[0..count): sets bit i of *ret_mask for names[i].
 */
int bench_parse_words(const char *s, const char *const *names, size_t count, uint32_t *ret_mask);

struct option;
/* "--name" of the long option whose val is `val` (a static buffer), for messages. */
const char *bench_option_name(const struct option *longopts, int val);

/* "horus-bench CMD: OPTION: 'VALUE' is not EXPECTED"; returns BENCH_EXIT_USAGE. */
int bench_bad_value(const char *cmd, const char *option, const char *value, const char *expected);

/*
 * For getopt_long() with an optstring starting with ':': reports the unknown option or the one
 * missing its value that getopt returned `opt` ('?' or ':') for. Returns BENCH_EXIT_USAGE.
 */
int bench_option_error(const char *cmd, char **argv, int opt);

/* Prints "horus-bench CMD: message" and a hint to -h on stderr; returns BENCH_EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int bench_usage_error(const char *cmd, const char *fmt,
								...);

/* ---- output ------------------------------------------------------------------------------ */

/* "64 B", "4 KiB", "1 MiB", or the byte count when it is not a round multiple. */
const char *bench_fmt_size(uint64_t bytes, char *buf, size_t size);

/*
 * One NDJSON record: begin writes {"bench":..,"case":.., then fields, then end writes "}\n"
 * and flushes, so that a script reading a pipe sees each case as it finishes.
 */
void bench_json_begin(FILE *f, const char *bench, const char *name);
void bench_json_str(FILE *f, const char *key, const char *value);
void bench_json_u64(FILE *f, const char *key, uint64_t value);
void bench_json_bool(FILE *f, const char *key, bool value);
void bench_json_double(FILE *f, const char *key, double value); /* NaN, inf: null */
void bench_json_end(FILE *f);

#endif /* HORUS_TOOLS_BENCH_H */
