/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TOOLS_BENCH_DAEMON_H
#define HORUS_TOOLS_BENCH_DAEMON_H

/*
 * horus-bench: running a real horusd for the scheduler, asyncio and pool benchmarks.
 *
 * Each run gets a private directory (mode 0755) under $TMPDIR or /tmp holding the config, a
 * plugin_dir with a copy (0755) of the bench node plugin, the control socket and the daemon's
 * log, and a namespace of its own. The daemon is fork/exec'd, dies with horus-bench
 * (PR_SET_PDEATHSIG), and is stopped with SIGTERM (SIGKILL after 10 s) when the run ends; its
 * segments and directory are removed then (the directory is kept when the run failed, or with
 * HORUS_BENCH_KEEP set, and its path printed).
 *
 * The control socket speaks one request per line and answers one JSON object per line; the
 * bench_j* functions read such a reply in place.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PATH_MAX 512

/* The subcommands of this family (bench.h declares the bus benchmarks). */
int bench_scheduler_main(int argc, char **argv);
int bench_asyncio_main(int argc, char **argv);
int bench_pool_main(int argc, char **argv);

/*
 * Where horusd is: `path` if not NULL (must be executable), else the build tree's
 * ../../daemon/horusd beside this executable, else "horusd" on $PATH, else /usr/sbin/horusd.
 * -ENOENT when none is found.
 */
int bench_find_horusd(const char *path, char *buf, size_t size);
/* Where the bench node plugin is: `path`, else bench_node.so beside this executable, else the
 * installed copy. -ENOENT when none is found. */
int bench_find_node_plugin(const char *path, char *buf, size_t size);

/*
 * Both of the above for subcommand cmd, from its --horusd and --plugin options (NULL when not
 * given). Returns 0, or the usage error's exit status after printing what was wrong.
 */
int bench_locate(const char *cmd, const char *horusd_opt, char *horusd, size_t horusd_size,
		 const char *plugin_opt, char *plugin, size_t plugin_size);

struct bench_daemon {
	char dir[BENCH_PATH_MAX];
	char plugdir[BENCH_PATH_MAX];
	char conf[BENCH_PATH_MAX];
	char sock[BENCH_PATH_MAX];
	char log[BENCH_PATH_MAX];
	char ns[33];
	pid_t pid;   /* > 0 while it may run */
	bool failed; /* keep the directory for a post-mortem */
};

/*
 * Makes the private directory and plugin_dir, and copies `plugin` into it as bench_node.so.
 * `tag` becomes part of the namespace (a few of [a-z0-9]). -errno, with a message on stderr.
 */
int bench_daemon_init(struct bench_daemon *d, const char *tag, const char *plugin);
/*
 * Writes the config ([daemon] with plugin_dir, namespace, control_socket, log_level = warn,
 * then `body`), starts `horusd -c` on it, and waits up to 10 s for its control socket to answer.
 */
int bench_daemon_start(struct bench_daemon *d, const char *horusd, const char *body);
bool bench_daemon_alive(struct bench_daemon *d);
/* One request ("1 status"), one reply line, without its newline; malloc'd, NULL on failure. */
char *bench_daemon_request(struct bench_daemon *d, const char *req);
/* Stops the daemon, removes its segments and (unless failed or HORUS_BENCH_KEEP) its files. */
void bench_daemon_fini(struct bench_daemon *d);
/* One node of "1 node list" (the fields the benchmarks read). */
struct bench_node_snap {
	char name[64];
	char state[16];
	uint64_t ticks;
	uint64_t io_completed;
	double actual_hz;
	double late_p50_us, late_p99_us, late_max_us;
	double tick_p50_us, tick_p99_us, tick_max_us;
};

/*
 * "1 node list" into a malloc'd array (returns the count, or -errno), and the time of the
 * snapshot: the middle of the request, on CLOCK_MONOTONIC.
 */
int bench_daemon_nodes(struct bench_daemon *d, struct bench_node_snap **ret, uint64_t *ret_at_ns);
/* The snapshot of node `name`, or NULL. */
const struct bench_node_snap *bench_node_find(const struct bench_node_snap *v, int n,
					      const char *name);
/* What the bench reads of "1 status" (since the daemon started). */
struct bench_status {
	uint64_t dispatches; /* ticks run */
	uint64_t wakeups;    /* tick-thread wake-ups that ran ticks */
	double
	    dispatch_p50_ns; /* the tick threads' own work a tick ("dispatch_ns"); NAN if absent */
	double dispatch_p99_ns;
	unsigned tick_threads;
};
/* "1 status" into *ret; -errno. */
int bench_daemon_status(struct bench_daemon *d, struct bench_status *ret);
/* Sleeps ns, in slices, watching for Ctrl-C; false when interrupted. */
bool bench_sleep_ns(uint64_t ns);
/* Prints the last `bytes` of the daemon's log to stderr. */
void bench_daemon_log_tail(struct bench_daemon *d, size_t bytes);

/*
 * CPU time in ns consumed so far by the threads of `pid` whose name (comm) is `comm`, from
 * /proc/PID/task/TID/schedstat (the scheduler's own ns count, not the 10 ms ticks of stat), the
 * times they were put on a CPU (its third field: wake-ups plus preemptions), and how many such
 * threads there are. -errno.
 */
int bench_threads_cpu_ns(pid_t pid, const char *comm, uint64_t *ret_ns, uint64_t *ret_slices,
			 unsigned *ret_threads);
/* CPU time in ns of the whole process `pid` (its CPU-time clock). -errno. */
int bench_process_cpu_ns(pid_t pid, uint64_t *ret_ns);

/* ---- reading the daemon's JSON replies in place ------------------------------------------ */

/* The value of `key` in the object `obj` points at ('{'), or NULL. */
const char *bench_jget(const char *obj, const char *key);
/* Follows a dotted path of keys, "late_us.p99"; NULL if any is missing. */
const char *bench_jpath(const char *v, const char *path);
/* The first element of the array `arr` points at ('['), or NULL if empty. */
const char *bench_jfirst(const char *arr);
/* The element after `elem` in its array, or NULL after the last. */
const char *bench_jnext(const char *elem);
bool bench_jnum(const char *v, double *ret);
/* A string value without escapes decoded beyond \" and \\; false if not a string. */
bool bench_jstr(const char *v, char *buf, size_t size);
/* bench_jnum(bench_jpath(v, path)), or NAN. */
double bench_jnum_at(const char *v, const char *path);

#endif /* HORUS_TOOLS_BENCH_DAEMON_H */
