/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_SCHEDULER_H
#define HORUS_DAEMON_SCHEDULER_H

/*
 * The scheduler. One "active" tick thread runs all plugin code (load, init, tick, fini) from a
 * libevent loop woken by an absolute timerfd; nodes due together tick in `order`. The watcher
 * (the main thread, which never runs plugin code) calls sched_watch() periodically: when the
 * active thread has been inside one plugin call for SCHED_HANDOFF_NS it is retired and a fresh
 * thread takes over every other node, so a hung tick delays the rest by that much at most.
 * The retired thread finishes the call if it ever returns, settles that node, and exits.
 *
 * All scheduling state is guarded by one mutex, which tick threads release around each plugin
 * call.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "node.h"

/* A plugin call longer than this hands the other nodes over to a fresh thread. */
#define SCHED_HANDOFF_NS (10ull * 1000 * 1000)
/* At most this many retired threads may be stuck at once; beyond, no new thread is made. */
#define SCHED_MAX_RETIRED 64

struct sched;

/* Called on a tick thread when an asynchronous request is done. */
typedef void (*sched_done_fn)(void *userdata, int result);

int sched_create(const char *ns, uid_t plugin_owner, struct sched **ret);
/* Stops ticking, finis every node (waiting up to timeout for it), joins threads. */
void sched_destroy(struct sched *s, uint64_t fini_timeout_ns);

/*
 * Applies a validated config (ownership passes to the scheduler): loads plugins of its
 * plugin_dir, starts new nodes, stops removed ones, updates changed ones live. Runs on the
 * tick thread; done(userdata, count of nodes running) is called there when finished.
 */
int sched_apply(struct sched *s, struct horus_config *cfg, sched_done_fn done, void *userdata);

enum sched_node_op {
	SCHED_NODE_STOP,
	SCHED_NODE_START,
	SCHED_NODE_RESTART,
};
/* Operator commands. -ENOENT if no such node. done gets 0 or -errno. */
int sched_node_op(struct sched *s, const char *name, enum sched_node_op op, sched_done_fn done,
		  void *userdata);

/*
 * The watcher's periodic check: hands over from a stuck thread, applies watchdogs.
 * Returns true while the scheduler is healthy (for the systemd watchdog).
 */
bool sched_watch(struct sched *s);

/* A snapshot of one node for introspection. Strings are copies: free with sched_info_free. */
struct node_info {
	char *name;
	char *plugin;
	uint32_t state;
	uint32_t circuit;
	double rate_hz;
	double actual_hz;
	uint64_t ticks;
	uint64_t skipped;
	uint64_t tick_p50_ns, tick_p99_ns, tick_max_ns;
	uint64_t late_p50_ns, late_p99_ns, late_max_ns;
	uint64_t deadline_ns;
	uint64_t deadline_misses;
	uint64_t watchdog_ns;
	uint64_t watchdog_trips;
	uint64_t failures;
	uint64_t restarts;
	int last_error;
	int32_t order;
	char *pool;
	uint32_t io_pending;
	uint64_t io_submitted, io_completed, io_failed, io_timed_out;
};

/* All nodes, sorted by name. Returns the count, or -errno. */
int sched_list(struct sched *s, struct node_info **ret);
void sched_info_free(struct node_info *info, int n);

/* Every worker pool. Returns the count (free *ret with free()), or -errno. */
int sched_pools(struct sched *s, struct pool_info **ret);

struct sched_stats {
	unsigned threads; /* live tick threads, the active one included */
	unsigned retired; /* threads stuck in a hung call */
	unsigned plugins;
	unsigned nodes;
	uint64_t dispatches; /* ticks dispatched in total */
	uint64_t wakeups;    /* tick-thread wake-ups that ran ticks */
	/* The tick threads' own work per tick (sched-internal.h, dispatch_hist), in ns. */
	uint64_t dispatch_p50_ns, dispatch_p99_ns, dispatch_max_ns;
};
void sched_get_stats(struct sched *s, struct sched_stats *ret);

#endif /* HORUS_DAEMON_SCHEDULER_H */
