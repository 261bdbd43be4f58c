/* SPDX-License-Identifier: MIT */
/* The scheduler's public entry points: create, submit commands, destroy. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/thread.h>
#include <unistd.h>

#include "sched-internal.h"

/* ---- public ------------------------------------------------------------------------------ */

int sched_create(const char *ns, uid_t plugin_owner, struct sched **ret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct sched *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		return -ENOMEM;
	}
	/* event_active() from the watcher on a tick thread's base needs locking in libevent. */
	pthread_once(&once, (void (*)(void))evthread_use_pthreads);
	pthread_mutex_init(&s->lock, NULL);
	sched_mail_init(s);
	s->handoff_limit.interval_ns = 5000ull * 1000 * 1000;
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	s->owner = plugin_owner;
	r = sched_thread_start(s, &s->active);
	if (r < 0) {
		sched_mail_fini(s);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	sched_mail_set_lane(s, s->active);
	*ret = s;
	return 0;
}

static int submit(struct sched *s, struct cmd *c)
{
	pthread_mutex_lock(&s->lock);
	sched_queue_cmd(s, c);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int sched_apply(struct sched *s, struct horus_config *cfg, sched_done_fn done, void *userdata)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c) {
		return -ENOMEM;
	}
	c->kind = CMD_APPLY;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->done = done;
	c->userdata = userdata;
	return submit(s, c);
}

int sched_node_op(struct sched *s, const char *name, enum sched_node_op op, sched_done_fn done,
		  void *userdata)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c || !(c->name = strdup(name))) {
		free(c);
		return -ENOMEM;
	}
	c->kind = CMD_NODE;
	c->op = op;
	c->done = done;
	c->userdata = userdata;
	return submit(s, c);
}

/*
 * The active lane is stuck in a call: it becomes the dedicated lane of the node it is running,
 * and every other node moves to a fresh active lane. Lock held.
 */

static void queue_stop(struct sched *s, const char *name)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (c && (c->name = strdup(name))) {
		c->kind = CMD_NODE;
		c->op = SCHED_NODE_STOP;
		sched_queue_cmd(s, c);
	} else {
		free(c);
	}
}

void sched_destroy(struct sched *s, uint64_t fini_timeout_ns)
{
	struct sched_thread *t;
	uint64_t deadline = now_ns() + fini_timeout_ns;

	if (!s) {
		return;
	}
	/*
	 * Stop ticking, then fini every node on the active lane, one command per node. A node
	 * inside a call (a slow tick on its own lane, an init) is stopped when the call returns.
	 */
	pthread_mutex_lock(&s->lock);
	s->draining = true;
	for (size_t i = 0; i < s->n_nodes; i++) {
		struct node *n = s->nodes[i];

		sched_heap_remove(n);
		if (n->runner) {
			n->stop_on_return = true;
			continue;
		}
		queue_stop(s, n->name);
	}
	pthread_mutex_unlock(&s->lock);

	/* Wait until no node is left initialised: fini may be handed over like a tick. */
	for (;;) {
		bool drained;

		pthread_mutex_lock(&s->lock);
		drained = !s->cmd_head;
		for (size_t i = 0; i < s->n_nodes && drained; i++) {
			const struct node *n = s->nodes[i];

			/* A hung node is not waited for: its fini runs only if it returns. */
			drained = !n->inited || (n->runner && atomic_load(&n->state) == NODE_HUNG);
		}
		if (!drained && now_ns() > deadline) {
			for (size_t i = 0; i < s->n_nodes; i++) {
				if (s->nodes[i]->inited && !s->nodes[i]->runner) {
					log_err("shutdown: node %s did not finish in time; leaving it",
						s->nodes[i]->name);
				}
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (drained || now_ns() > deadline) {
			break;
		}
		(void)sched_watch(s);
		usleep(1000);
	}

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	t = s->active;
	sched_thread_wake(t);
	for (struct sched_thread *l = s->retired; l; l = l->next) {
		sched_thread_wake(l);
	}
	pthread_mutex_unlock(&s->lock);
	sched_mail_set_lane(s, NULL);
	pthread_join(t->tid, NULL);
	sched_thread_free(t);
	/* Dedicated lanes end at once unless stuck in plugin code; those are left to die with
	 * the process, and what they may still touch is not freed. */
	for (;;) {
		bool idle = true;

		pthread_mutex_lock(&s->lock);
		sched_reap_threads(s);
		for (struct sched_thread *l = s->retired; l; l = l->next) {
			idle &= l->call_since_ns != 0;
		}
		pthread_mutex_unlock(&s->lock);
		if (idle || now_ns() > deadline) {
			break;
		}
		usleep(1000);
	}

	/* Nodes stuck for good: their handles cannot be closed under them, but the topics only
	 * they hold need not outlive the daemon. */
	pthread_mutex_lock(&s->lock);
	{
		struct node **stuck = calloc(s->n_nodes + s->n_zombies + 1, sizeof(*stuck));
		size_t n_stuck = 0;

		for (size_t i = 0; stuck && i < s->n_nodes; i++) {
			if (s->nodes[i]->runner) {
				stuck[n_stuck++] = s->nodes[i];
			}
		}
		for (size_t i = 0; stuck && i < s->n_zombies; i++) {
			stuck[n_stuck++] = s->zombies[i];
		}
		node_remove_stuck_topics(stuck, n_stuck);
		free(stuck);
	}
	pthread_mutex_unlock(&s->lock);
	if (s->n_retired) {
		/* A thread is still inside plugin code and may come back to any of this, pools
		 * included: leave it all to the process's exit. */
		return;
	}
	for (size_t i = 0; i < s->n_pools; i++) {
		pool_destroy(s->pools[i], 1000ull * 1000 * 1000);
	}
	for (size_t i = 0; i < s->n_nodes; i++) {
		node_destroy(s->nodes[i]);
	}
	free(s->nodes);
	for (size_t i = 0; i < s->n_plugins; i++) {
		/* A plugin with a job still on a stuck worker stays mapped: the pools are gone
		 * but that worker may yet return into its code. */
		if (s->plugins[i]->refs == 0 && !atomic_load(&s->plugins[i]->jobs)) {
			plugin_unload(s->plugins[i]);
		}
	}
	free(s->plugins);
	if (s->have_cfg) {
		config_free(&s->cfg);
	}
	node_set_topics(NULL);
	free(s->pools);
	free(s->io_ready);
	free(s->zombies);
	sched_mail_fini(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
