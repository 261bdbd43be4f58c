/* SPDX-License-Identifier: MIT */
/* The watcher's side: hand-over from a stuck lane, watchdogs, introspection. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched-internal.h"

static void hand_over(struct sched *s, uint64_t now)
{
	struct sched_thread *old = s->active, *t;
	struct node *owner = NULL;

	if (s->n_retired >= SCHED_MAX_RETIRED) {
		return; /* sched_watch() reports the scheduler unhealthy */
	}
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i]->runner == old) {
			owner = s->nodes[i];
		}
	}
	if (sched_thread_start(s, &t) < 0) {
		return;
	}
	while (old->heap_len) {
		struct node *n = old->heap[0];

		sched_heap_remove(n);
		sched_heap_push(t, n);
	}
	old->retired = true;
	old->owner = owner;
	if (owner) {
		owner->lane = old;
	}
	old->next = s->retired;
	s->retired = old;
	s->n_retired++;
	s->active = t;
	sched_mail_set_lane(s, t);
	/*
	 * A node's hand-over is logged every time: it names the node, and happens once per stuck
	 * instance (SCHED_MAX_RETIRED bounds them). Only slow plugin loads, which every reload may
	 * repeat, are rate-limited; sharing one limit let a slow load hide the next node's line.
	 */
	if (owner) {
		log_warn(
		    "node %s: a call has not returned for %.1f ms; it keeps its thread and the "
		    "other nodes move to a fresh one",
		    owner->name, (now - old->call_since_ns) / 1e6);
	} else if (log_limit_pass(&s->handoff_limit, now, &(uint64_t){0})) {
		log_warn("a plugin load or init has not returned for %.1f ms; the nodes move to a "
			 "fresh thread",
			 (now - old->call_since_ns) / 1e6);
	}
	sched_thread_wake(t);
}

/* Hung: a call into n has lasted longer than its watchdog. Lock held. */
static void node_hung(struct sched *s, struct node *n, uint64_t now)
{
	struct node *fresh;
	struct cmd *c;

	atomic_store(&n->state, NODE_HUNG);
	atomic_fetch_add(&n->c.watchdog_trips, 1);
	log_err("node %s: hung: inside a call for %.0f ms (watchdog %.0f ms, on_watchdog = %s)",
		n->name, (now - atomic_load(&n->call_since_ns)) / 1e6, n->conf.watchdog_ns / 1e6,
		watchdog_action_name(n->conf.on_watchdog));
	if (n->conf.on_watchdog == WATCHDOG_WARN) {
		return; /* it resumes if the call returns */
	}
	if (n->conf.on_watchdog == WATCHDOG_STOP) {
		n->stop_on_return = true; /* listed as hung until then */
		return;
	}
	if (n->stuck_instances) {
		/* An earlier instance is still stuck too: one more would only pile up threads.
		 * This one stays listed as hung until a call returns. */
		log_err("node %s: not restarted again while an earlier instance is still stuck",
			n->name);
		return;
	}
	/* Restart: abandon the instance (its call finishes, if ever, on its own thread) and
	 * start a fresh one, listed at once, initialised by the active lane. */
	fresh = node_create(&n->conf, n->plugin, s->ns);
	c = calloc(1, sizeof(*c));
	if (!fresh || !c || !(c->name = strdup(n->name))) {
		node_destroy(fresh);
		free(c);
		return;
	}
	sched_abandon(s, n);
	fresh->pool = n->pool;
	fresh->c = n->c;
	fresh->stuck_instances = 1;
	atomic_fetch_add(&fresh->c.restarts, 1);
	atomic_store(&fresh->state, NODE_STOPPED); /* until its init has run */
	sched_add_node(s, fresh);
	fresh->start_queued = true;
	c->kind = CMD_START;
	sched_queue_cmd(s, c);
}

/* A node that is not inside a call but has completed no tick for its watchdog period. */
static void node_starved(struct sched *s, struct node *n, uint64_t now)
{
	struct cmd *c = calloc(1, sizeof(*c));

	atomic_fetch_add(&n->c.watchdog_trips, 1);
	atomic_store(&n->last_complete_ns, now); /* one trip per silent period */
	log_err("node %s: watchdog: no tick completed for %.0f ms (on_watchdog = %s)", n->name,
		n->conf.watchdog_ns / 1e6, watchdog_action_name(n->conf.on_watchdog));
	if (c && (c->name = strdup(n->name))) {
		c->kind = CMD_WATCHDOG;
		sched_queue_cmd(s, c);
	} else {
		free(c);
	}
}

/* Time since `since` (a call start, a completion); 0 if unset or not yet reached. */
static uint64_t in_call_for(uint64_t since, uint64_t now)
{
	return since && now > since ? now - since : 0;
}

bool sched_watch(struct sched *s)
{
	bool healthy = true, rate_window;
	struct node **hung = NULL;
	size_t n_hung = 0;
	uint64_t now;

	pthread_mutex_lock(&s->lock);
	sched_reap_threads(s);
	/* Read the clock under the lock: a call that began after it would look negative. */
	now = now_ns();
	if (in_call_for(s->active->call_since_ns, now) > SCHED_HANDOFF_NS) {
		hand_over(s, now);
	}
	if (in_call_for(s->active->call_since_ns, now) > 4 * SCHED_HANDOFF_NS) {
		healthy = false; /* hand-over impossible (too many stuck threads) */
	}
	if (s->active->heap_len && now > s->active->heap[0]->due_ns + 1000ull * 1000 * 1000) {
		healthy = false; /* nothing has run for a second past its due time */
	}
	rate_window = now - s->rate_prev_ns >= 1000ull * 1000 * 1000;
	for (size_t i = 0; i < s->n_nodes; i++) {
		struct node *n = s->nodes[i];
		uint64_t since = atomic_load(&n->call_since_ns);

		if (rate_window) {
			uint64_t ticks = atomic_load(&n->c.ticks);
			double secs = (now - s->rate_prev_ns) / 1e9;

			n->actual_hz = s->rate_prev_ns ? (ticks - n->rate_prev_ticks) / secs : 0;
			n->rate_prev_ticks = ticks;
		}
		if (n->runner && in_call_for(since, now) > n->conf.watchdog_ns) {
			if (atomic_load(&n->state) != NODE_HUNG) {
				struct node **h = realloc(hung, (n_hung + 1) * sizeof(*h));

				if (h) {
					hung = h;
					hung[n_hung++] = n;
				}
			}
		} else if (!n->runner && n->inited && n->heap_index != SIZE_MAX &&
			   atomic_load(&n->circuit) == CIRCUIT_CLOSED && !n->skip_next &&
			   in_call_for(atomic_load(&n->last_complete_ns), now) >
			       n->conf.watchdog_ns) {
			node_starved(s, n, now);
		}
	}
	/* Replaced plugins whose last job has finished: unload them on the active lane. */
	for (size_t i = 0; i < s->n_plugins && !s->sweep_queued; i++) {
		struct plugin *p = s->plugins[i];

		if (p->doomed && !p->refs && !atomic_load(&p->jobs)) {
			struct cmd *c = calloc(1, sizeof(*c));

			if (c) {
				c->kind = CMD_SWEEP;
				s->sweep_queued = true;
				sched_queue_cmd(s, c);
			}
		}
	}
	/* Acted on after the walk: a restart takes the node out of the list. */
	for (size_t i = 0; i < n_hung; i++) {
		node_hung(s, hung[i], now);
	}
	free(hung);
	if (rate_window) {
		s->rate_prev_ns = now;
	}
	sched_io_retry(s);
	pthread_mutex_unlock(&s->lock);
	/* Pools call back into the scheduler (io_notify): watched without its lock. The array
	 * only grows, and only on the tick thread, so take its length under the lock. */
	pthread_mutex_lock(&s->lock);
	size_t n_pools = s->n_pools;
	struct pool **pools = n_pools ? malloc(n_pools * sizeof(*pools)) : NULL;

	if (pools) {
		memcpy(pools, s->pools, n_pools * sizeof(*pools));
	}
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; pools && i < n_pools; i++) {
		healthy &= pool_watch(pools[i], now);
	}
	free(pools);
	return healthy;
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct node_info *)a)->name, ((const struct node_info *)b)->name);
}

int sched_list(struct sched *s, struct node_info **ret)
{
	struct node_info *out;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n_nodes;
	out = calloc(n + 1, sizeof(*out));
	if (!out) {
		pthread_mutex_unlock(&s->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct node *nd = s->nodes[i];
		struct node_info *o = &out[i];

		o->name = strdup(nd->name);
		o->plugin = strdup(nd->conf.plugin ? nd->conf.plugin : nd->name);
		o->state = atomic_load(&nd->state);
		o->circuit = atomic_load(&nd->circuit);
		o->rate_hz = nd->conf.rate_hz;
		o->actual_hz = nd->actual_hz;
		o->ticks = atomic_load(&nd->c.ticks);
		o->skipped = atomic_load(&nd->c.skipped);
		o->tick_p50_ns = hist_quantile(&nd->tick_hist, 0.5);
		o->tick_p99_ns = hist_quantile(&nd->tick_hist, 0.99);
		o->tick_max_ns = atomic_load(&nd->tick_hist.max);
		o->late_p50_ns = hist_quantile(&nd->late_hist, 0.5);
		o->late_p99_ns = hist_quantile(&nd->late_hist, 0.99);
		o->late_max_ns = atomic_load(&nd->late_hist.max);
		o->deadline_ns = nd->conf.deadline_ns;
		o->deadline_misses = atomic_load(&nd->c.deadline_misses);
		o->watchdog_ns = nd->conf.watchdog_ns;
		o->watchdog_trips = atomic_load(&nd->c.watchdog_trips);
		o->failures = atomic_load(&nd->c.failures);
		o->restarts = atomic_load(&nd->c.restarts);
		o->last_error = (int)atomic_load(&nd->c.last_error);
		o->order = nd->conf.order;
		o->io_pending = atomic_load(&nd->io.pending);
		o->io_submitted = atomic_load(&nd->io.submitted);
		o->io_completed = atomic_load(&nd->io.completed);
		o->io_failed = atomic_load(&nd->io.failed);
		o->io_timed_out = atomic_load(&nd->io.timed_out);
		o->pool = strdup(nd->pool ? pool_name(nd->pool) : "");
	}
	pthread_mutex_unlock(&s->lock);
	qsort(out, n, sizeof(*out), cmp_info);
	*ret = out;
	return (int)n;
}

void sched_info_free(struct node_info *info, int n)
{
	for (int i = 0; info && i < n; i++) {
		free(info[i].name);
		free(info[i].plugin);
		free(info[i].pool);
	}
	free(info);
}

int sched_pools(struct sched *s, struct pool_info **ret)
{
	struct pool_info *out;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n_pools;
	out = calloc(n + 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++) {
		pool_get_info(s->pools[i], &out[i]);
	}
	pthread_mutex_unlock(&s->lock);
	if (!out) {
		return -ENOMEM;
	}
	*ret = out;
	return (int)n;
}

void sched_get_stats(struct sched *s, struct sched_stats *ret)
{
	pthread_mutex_lock(&s->lock);
	ret->threads = 1 + s->n_retired;
	ret->retired = s->n_retired;
	ret->plugins = (unsigned)s->n_plugins;
	ret->nodes = (unsigned)s->n_nodes;
	ret->dispatches = atomic_load(&s->dispatches);
	ret->wakeups = atomic_load_explicit(&s->dispatch_hist.count, memory_order_relaxed);
	ret->dispatch_p50_ns = hist_quantile(&s->dispatch_hist, 0.50);
	ret->dispatch_p99_ns = hist_quantile(&s->dispatch_hist, 0.99);
	ret->dispatch_max_ns = atomic_load_explicit(&s->dispatch_hist.max, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
}
