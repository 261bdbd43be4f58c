/* SPDX-License-Identifier: MIT */
#ifndef HORUS_DAEMON_POOL_H
#define HORUS_DAEMON_POOL_H

/*
 * Worker pools for the blocking I/O of nodes. A job is submitted from a node's thread and comes
 * back as a future (struct horus_future, which is the job itself). Workers run only the job's
 * function and touch no node, loop or config state. When a job resolves, the pool tells the
 * scheduler (pool_notify_fn), which runs counters, breaker accounting and the node's callback
 * on the node's own tick thread.
 *
 * A job past its timeout resolves as timed out at once (pool_watch, from the watcher); a
 * worker stuck in it is replaced, up to POOL_MAX_REPLACEMENTS at a time, and leaves when its
 * call returns. The late result is discarded.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <horus/node.h>

#include "stats.h"

#define POOL_MAX_REPLACEMENTS 32
#define POOL_MSG_MAX 160
#define DONE_TOLD ((uintptr_t)1)
/*
 * How long a worker out of work spins before it sleeps (one worker per pool at a time): longer
 * than a node's round trip from one job's completion to its next submit (the node's thread
 * wakes, runs the callback, submits), so back-to-back jobs cost no worker wake-up.
 */
#define POOL_SPIN_NS (50ull * 1000)

struct node;
struct pool;

/*
 * Called (from a worker or the watcher, with no lock held) when a job of node n resolved and
 * none of its jobs was waiting to be seen: the node's thread must call pool_next_done until it
 * returns false (later jobs resolving meanwhile are not announced again).
 */
typedef void (*pool_notify_fn)(void *userdata, struct node *n);

/* Bumped by atomic adds (replaced: under the pool's lock), read without a lock. */
struct pool_counters {
	_Atomic uint64_t submitted;
	_Atomic uint64_t completed; /* resolved done */
	_Atomic uint64_t failed;
	_Atomic uint64_t timed_out;
	_Atomic uint64_t cancelled;
	_Atomic uint64_t refused;  /* -EBUSY */
	_Atomic uint64_t replaced; /* stuck workers replaced */
};

struct pool_info {
	char name[64];
	uint32_t workers;  /* configured */
	uint32_t live;     /* threads alive, stuck ones included */
	uint32_t stuck;
	uint32_t queue;    /* capacity */
	uint32_t queued;
	uint32_t running;
	uint64_t submitted, completed, failed, timed_out, cancelled, refused, replaced;
	uint64_t latency_p50_ns, latency_p99_ns, latency_max_ns; /* submit to resolve */
};

/*
 * One node's view of its jobs, kept in struct node. owned and batch belong to the node's calls
 * (never two at once); done is atomic; the counters change under the pool's lock.
 * pool_detach_node frees it all.
 */
struct node_io {
	struct horus_future **owned; /* every job not yet released, and not detached */
	size_t n_owned, cap_owned;
	struct horus_future *spare;  /* released futures kept for the next submits */
	unsigned n_spare;
	struct horus_future *batch; /* resolved, taken from done, being handed over */
	/*
	 * Resolved, waiting for the node's thread: a lock-free stack, newest first, whose low bit
	 * (DONE_TOLD) says the node was told and has not drained since. One word, so that "empty
	 * and untold" is set in one step (pool_next_done).
	 */
	_Atomic uintptr_t done;
	_Atomic uint32_t pending;  /* queued or running */
	_Atomic uint64_t submitted, completed, failed, timed_out;
};

int pool_create(const char *name, uint32_t workers, uint32_t queue, pool_notify_fn notify,
		void *userdata, struct pool **ret);
/* Changes the size on reload: more workers start now, surplus ones leave when idle. */
void pool_resize(struct pool *p, uint32_t workers, uint32_t queue);
/* Stops the workers (waits up to timeout for the ones not stuck). */
void pool_destroy(struct pool *p, uint64_t timeout_ns);
const char *pool_name(const struct pool *p);

/*
 * Queues req for node n (max_inflight: its limit; timeout_ns 0 = none). *pin (may be NULL) is
 * raised while the job may still run code of the node's plugin (fn, arg_free), so that the
 * plugin is not unloaded under it. -EBUSY, -EINVAL, -ENOMEM.
 */
int pool_submit(struct pool *p, struct node *n, struct node_io *io, uint32_t max_inflight,
		const struct horus_io_request *req, uint64_t timeout_ns, _Atomic unsigned *pin,
		struct horus_future **ret);
int pool_future_state(struct pool *p, struct node_io *io, const struct horus_future *f);
int pool_future_take(struct pool *p, struct node_io *io, struct horus_future *f);
const char *pool_future_error(struct pool *p, struct node_io *io, const struct horus_future *f);
int pool_future_cancel(struct pool *p, struct node_io *io, struct horus_future *f);
int pool_future_release(struct pool *p, struct node_io *io, struct horus_future *f);

/*
 * On the node's thread: hands over the futures that resolved since the last call, one at a
 * time. Returns false when there are none. *ret_state is its enum horus_future_state (for the
 * breaker); *ret_cb is its on_done callback (may be NULL).
 */
bool pool_next_done(struct pool *p, struct node_io *io, struct horus_future **ret,
		    uint32_t *ret_state, void (**ret_cb)(void *, struct horus_future *));

/* The node stops: queued jobs are cancelled, running ones finish unobserved; frees futures. */
void pool_detach_node(struct pool *p, struct node_io *io);
/* Frees what io holds of its own (pool_detach_node does it; node_destroy makes sure). */
void pool_node_io_free(struct node_io *io);

/* Watcher: resolves overdue jobs, replaces stuck workers. Returns true if the pool is healthy
 * (no job has waited in the queue far past its timeout). */
bool pool_watch(struct pool *p, uint64_t now_ns);

void pool_get_info(struct pool *p, struct pool_info *ret);

#endif /* HORUS_DAEMON_POOL_H */
