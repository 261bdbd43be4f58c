/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_NODE_H
#define HORUS_DAEMON_NODE_H

/*
 * A node instance: its configuration, the host services handed to the plugin, its health state
 * and its counters. Scheduling fields are guarded by the scheduler lock (sched.c); counters are
 * atomics written by the one thread that runs the node and read by anyone (watcher, control).
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <horus/node.h>

#include "config.h"
#include "log.h"
#include "plugin.h"
#include "pool.h"
#include "stats.h"

enum node_state {
	NODE_RUNNING = 0,
	NODE_DEGRADED, /* recent deadline misses or failures, breaker still closed */
	NODE_TRIPPED,  /* circuit breaker open or half-open */
	NODE_HUNG,     /* a call into the plugin has not returned for watchdog_ms */
	NODE_STOPPED,  /* by policy or by an operator */
	NODE_FAILED,   /* init failed, or the plugin could not be loaded */
};

enum circuit_state {
	CIRCUIT_CLOSED = 0,
	CIRCUIT_OPEN,
	CIRCUIT_HALF_OPEN,
};

/* The breaker's cooldown doubles on each re-open, up to this many times its configured value. */
#define CIRCUIT_COOLDOWN_MAX_FACTOR 32u
/* A node counts as degraded for this long after a deadline miss or a failure. */
#define NODE_DEGRADED_NS (2000ull * 1000 * 1000)

struct sched_thread;

struct node_counters {
	_Atomic uint64_t ticks;           /* completed ticks */
	_Atomic uint64_t skipped;         /* due ticks not run (skip policy, open breaker) */
	_Atomic uint64_t deadline_misses;
	_Atomic uint64_t watchdog_trips;
	_Atomic uint64_t failures;        /* ticks that returned an error */
	_Atomic uint64_t restarts;
	_Atomic uint64_t last_error;      /* errno of the last failure */
};

struct node {
	uint64_t id; /* creation order, breaks ties between equal `order` */
	char *name;
	struct node_conf conf;   /* a private copy; conf.name == name */
	struct plugin *plugin;
	struct horus_host host;
	void *ctx;
	bool inited; /* init succeeded and fini not yet called */

	/* Schedule (scheduler lock). */
	uint64_t period_ns;
	uint64_t due_ns;       /* absolute CLOCK_MONOTONIC deadline of the next tick */
	uint64_t tick_time_ns; /* the due time of the tick being run, for host->tick_time_ns */
	size_t heap_index;     /* position in its lane's heap, or SIZE_MAX when not scheduled */
	struct sched_thread *lane; /* the lane that schedules it */
	bool skip_next;
	uint32_t consecutive_failures;    /* ticks that failed in a row */
	uint32_t consecutive_io_failures; /* jobs that failed or timed out in a row */
	bool breaker_io;                  /* the breaker opened on I/O: only I/O closes it */
	uint64_t cooldown_ns;
	uint64_t open_until_ns;
	struct sched_thread *runner; /* the thread inside a call of this node, or NULL */
	bool zombie;         /* hung and replaced: fini when its call returns, then free */
	bool stop_on_return; /* hung with on_watchdog = stop: stop when its call returns */
	uint32_t stuck_instances; /* earlier instances of it abandoned in a hung call */
	bool start_queued;        /* its init waits in the command queue */
	bool operator_stopped;    /* stopped by `node stop`: stays so across reloads */
	double actual_hz;    /* ticks per second over the watcher's last window */
	uint64_t rate_prev_ticks;

	/* Health (any thread reads). */
	_Atomic uint32_t state;   /* enum node_state */
	_Atomic uint32_t circuit; /* enum circuit_state */
	_Atomic uint64_t call_since_ns;     /* start of the current plugin call, 0 if none */
	_Atomic uint64_t last_complete_ns;  /* end of the last completed tick (or start) */
	_Atomic uint64_t last_trouble_ns;   /* last deadline miss or failure */
	_Atomic uint64_t started_ns;
	struct node_counters c;
	struct hist tick_hist; /* tick durations */
	struct hist late_hist; /* start - due */

	/* Blocking I/O: its pool (by the node's `pool` key) and its jobs there. */
	struct pool *pool;
	struct node_io io;
	bool io_ready; /* on the scheduler's list of nodes with resolved jobs (scheduler lock) */

	/* Host-side resources opened for the node, closed at stop. */
	struct horus_pub **pubs;
	char **pub_topics;
	size_t n_pubs;
	struct horus_sub **subs;
	char **sub_topics;
	size_t n_subs;

	struct log_limit miss_limit;
	struct log_limit fail_limit;
	struct node *next_zombie;
};

const char *node_state_name(uint32_t s);
const char *circuit_state_name(uint32_t s);

/*
 * Creates a node from conf (copied) and a loaded plugin (referenced; NULL makes a FAILED
 * placeholder that shows up in listings). Does not call init.
 */
struct node *node_create(const struct node_conf *conf, struct plugin *plugin, const char *ns);
/* Topic geometry for host->pub_open/sub_open, from the config being applied. */
void node_set_topics(const struct horus_config *cfg);
/* Applies schedule and health settings of conf to a live node. */
void node_apply_conf(struct node *n, const struct node_conf *conf);
/* Calls init. 0, or the plugin's error (the node is then FAILED). */
int node_init(struct node *n);
/* Calls fini if init succeeded, and closes the node's bus handles. */
void node_fini(struct node *n);
void node_destroy(struct node *n);

/*
 * At shutdown, for the nodes still stuck in a call: removes the segments of the topics they
 * opened that nobody but their own handles holds (those cannot be closed under their feet).
 */
void node_remove_stuck_topics(struct node *const *stuck, size_t n_stuck);

/* Were the settings that need a re-init (plugin, params) changed from a to b? */
bool node_conf_needs_restart(const struct node_conf *a, const struct node_conf *b);

/* Deep copy/free of a node_conf. */
int node_conf_copy(struct node_conf *dst, const struct node_conf *src);
void node_conf_free(struct node_conf *c);

uint64_t now_ns(void);

#endif /* HORUS_DAEMON_NODE_H */
