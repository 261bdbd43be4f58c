/* SPDX-License-Identifier: MIT */
/* Commands run on the active lane: config application, plugins, node operations. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "sched-internal.h"

/* ---- commands ---------------------------------------------------------------------------- */

void sched_queue_cmd(struct sched *s, struct cmd *c)
{
	c->next = NULL;
	if (s->cmd_tail) {
		s->cmd_tail->next = c;
	} else {
		s->cmd_head = c;
	}
	s->cmd_tail = c;
	if (s->active) {
		sched_thread_wake(s->active);
	}
}

static struct plugin *find_plugin(struct sched *s, const char *path)
{
	for (size_t i = 0; i < s->n_plugins; i++) {
		if (!s->plugins[i]->doomed && strcmp(s->plugins[i]->path, path) == 0) {
			return s->plugins[i];
		}
	}
	return NULL;
}

void sched_abandon(struct sched *s, struct node *n)
{
	struct node **z;

	n->zombie = true;
	sched_drop_node(s, n);
	z = realloc(s->zombies, (s->n_zombies + 1) * sizeof(*z));
	if (z) {
		s->zombies = z;
		s->zombies[s->n_zombies++] = n;
	}
}

void sched_sweep_plugins(struct sched_thread *t)
{
	struct sched *s = t->s;

	s->sweep_queued = false;
	for (size_t i = 0; i < s->n_plugins;) {
		struct plugin *p = s->plugins[i];

		/* Its last instance is gone and no pool job can still run its code. */
		if (!p->doomed || p->refs || atomic_load_explicit(&p->jobs, memory_order_acquire)) {
			i++;
			continue;
		}
		s->plugins[i] = s->plugins[--s->n_plugins];
		/* dlclose runs the plugin's destructors: plugin code, outside the lock. */
		sched_call_enter(t, NULL);
		plugin_unload(p);
		sched_call_leave(t, NULL);
		i = 0; /* the list may have changed meanwhile */
	}
}

/*
 * Returns the loaded plugin at path, loading (or reloading, if the file changed) it.
 * NULL on failure, after logging why.
 */
static struct plugin *get_plugin(struct sched_thread *t, const char *path, bool *ret_reloaded)
{
	struct sched *s = t->s;
	struct plugin *p = find_plugin(s, path), *np = NULL;
	char why[512] = "";
	int r;

	*ret_reloaded = false;
	if (p && !plugin_changed(p)) {
		return p;
	}
	/* dlopen runs the plugin's constructors: plugin code, so outside the lock. */
	sched_call_enter(t, NULL);
	r = plugin_load(path, s->owner, &np, why, sizeof(why));
	sched_call_leave(t, NULL);
	if (r < 0) {
		log_err("plugin %s: %s", path, why);
		return NULL;
	}
	if (p) {
		/* Replaced on disk: the old code stays loaded until its instances are gone. */
		*ret_reloaded = true;
		log_info("plugin %s: changed on disk; reloading its nodes", path);
		for (size_t i = 0; i < s->n_plugins; i++) {
			if (s->plugins[i] == p) {
				s->plugins[i] = np;
			}
		}
		/* Keep the old code loaded under a name no lookup matches until no instance and
		 * no job uses it any more: sched_sweep_plugins() unloads it then. */
		p->doomed = true;
		{
			struct plugin **pp = realloc(s->plugins, (s->n_plugins + 1) * sizeof(*pp));

			if (pp) {
				s->plugins = pp;
				s->plugins[s->n_plugins++] = p;
			}
		}
		return np;
	}
	struct plugin **pp = realloc(s->plugins, (s->n_plugins + 1) * sizeof(*pp));
	if (!pp) {
		plugin_unload(np);
		return NULL;
	}
	s->plugins = pp;
	s->plugins[s->n_plugins++] = np;
	return np;
}

static char *plugin_path(const struct horus_config *cfg, const char *plugin)
{
	char *path;

	if (strchr(plugin, '/')) {
		return strdup(plugin);
	}
	if (asprintf(&path, "%s/%s.so", cfg->daemon.plugin_dir, plugin) < 0) {
		return NULL;
	}
	return path;
}

/* The *.so files of plugin_dir, as plugin names. */
static size_t list_plugin_dir(const char *dir, char ***ret)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (!d) {
		log_err("plugin_dir %s: cannot open: %s", dir, strerror(errno));
		*ret = NULL;
		return 0;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (len < 4 || de->d_name[0] == '.' || strcmp(de->d_name + len - 3, ".so") != 0) {
			continue;
		}
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn) {
			break;
		}
		names = nn;
		names[n] = strndup(de->d_name, len - 3);
		if (names[n]) {
			n++;
		}
	}
	closedir(d);
	*ret = names;
	return n;
}

/* The node instances a config asks for: its [node.*] sections plus one per unclaimed plugin. */
static size_t desired_nodes(const struct horus_config *cfg, struct node_conf **ret)
{
	char **files;
	size_t n_files = list_plugin_dir(cfg->daemon.plugin_dir, &files);
	size_t n = 0;
	struct node_conf *out = calloc(cfg->n_nodes + n_files + 1, sizeof(*out));

	for (size_t i = 0; out && i < cfg->n_nodes; i++) {
		if (node_conf_copy(&out[n], &cfg->nodes[i]) == 0) {
			n++;
		}
	}
	for (size_t f = 0; f < n_files; f++) {
		bool claimed = false;

		for (size_t i = 0; i < cfg->n_nodes; i++) {
			if (strcmp(cfg->nodes[i].plugin, files[f]) == 0 ||
			    strcmp(cfg->nodes[i].name, files[f]) == 0) {
				claimed = true;
			}
		}
		if (out && !claimed) {
			struct node_conf *c = &out[n];

			memset(c, 0, sizeof(*c));
			c->enabled = true;
			c->on_watchdog = WATCHDOG_RESTART;
			c->watchdog_ns = 1000ull * 1000 * 1000;
			c->circuit_threshold = 5;
			c->circuit_cooldown_ns = 2000ull * 1000 * 1000;
			c->max_inflight = 1;
			c->io_timeout_ns = 1000ull * 1000 * 1000;
			c->rate_hz = 10;
			c->name = strdup(files[f]);
			c->plugin = strdup(files[f]);
			if (c->name && c->plugin) {
				n++;
			} else {
				node_conf_free(c);
			}
		}
		free(files[f]);
	}
	free(files);
	*ret = out;
	return out ? n : 0;
}

static struct pool *find_pool(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->n_pools; i++) {
		if (strcmp(pool_name(s->pools[i]), name) == 0) {
			return s->pools[i];
		}
	}
	return NULL;
}


/* Creates the config's pools, or resizes them; pools are never removed while running. */
static void apply_pools(struct sched *s, const struct horus_config *cfg)
{
	for (size_t i = 0; i <= cfg->n_pools; i++) {
		const char *name = i ? cfg->pools[i - 1].name : "default";
		uint32_t workers = i ? cfg->pools[i - 1].workers : cfg->daemon.workers;
		uint32_t queue = i ? cfg->pools[i - 1].queue : cfg->daemon.queue;
		struct pool *p = find_pool(s, name), **pp;

		if (p) {
			pool_resize(p, workers, queue);
			continue;
		}
		pp = realloc(s->pools, (s->n_pools + 1) * sizeof(*pp));
		if (!pp) {
			continue;
		}
		s->pools = pp;
		if (pool_create(name, workers, queue, sched_io_notify, s, &p) == 0) {
			s->pools[s->n_pools++] = p;
		}
	}
}

static struct pool *pool_for(struct sched *s, const struct node_conf *nc)
{
	struct pool *p = find_pool(s, nc->pool ? nc->pool : "default");

	return p ? p : (s->n_pools ? s->pools[0] : NULL);
}

/* Queues the init of listed node `name` as a command of its own. */
static void queue_start(struct sched *s, const char *name)
{
	struct cmd *c = calloc(1, sizeof(*c));

	if (!c || !(c->name = strdup(name))) {
		free(c);
		log_err("node %s: out of memory; not started", name);
		return;
	}
	c->kind = CMD_START;
	sched_queue_cmd(s, c);
	{
		struct node *n = sched_find_node(s, name);

		if (n) {
			n->start_queued = true;
		}
	}
}

/*
 * Makes node conf `nc` (plugin p) take the place of `old` (which may be NULL). Its init runs
 * now (init_now: an operator waits for the answer) or as a command of its own.
 */
static void replace_node(struct sched_thread *t, struct node *old, const struct node_conf *nc,
			 struct plugin *p, bool init_now)
{
	struct sched *s = t->s;
	struct node *n = node_create(nc, p, s->ns);

	if (!n) {
		log_err("node %s: out of memory", nc->name);
		return;
	}
	n->pool = pool_for(s, nc);
	if (old) {
		n->c = old->c; /* counters go on across restarts */
		atomic_fetch_add(&n->c.restarts, 1);
		if (old->runner) {
			/* Inside a call (hung, or slow): abandon it; its fini runs if the call
			 * ever returns. Callers check sched_may_abandon() first. */
			n->stuck_instances = old->stuck_instances + 1;
			sched_abandon(s, old);
		} else {
			sched_stop_node(t, old, NODE_STOPPED);
			sched_drop_node(s, old);
			node_destroy(old);
		}
	}
	sched_add_node(s, n);
	if (!p) {
		return; /* a FAILED placeholder, so that listings show it */
	}
	atomic_store(&n->state, NODE_STOPPED); /* until its init has run */
	if (!nc->enabled) {
		return;
	}
	if (init_now) {
		(void)sched_start_node(t, n);
	} else {
		queue_start(s, n->name);
	}
}

static int running_nodes(struct sched *s)
{
	int running = 0;

	for (size_t i = 0; i < s->n_nodes; i++) {
		uint32_t st = atomic_load(&s->nodes[i]->state);

		running += st != NODE_STOPPED && st != NODE_FAILED;
	}
	return running;
}

static int apply_config(struct sched_thread *t, struct horus_config *cfg)
{
	struct sched *s = t->s;
	struct node_conf *want;
	size_t n_want;

	node_set_topics(cfg);
	apply_pools(s, cfg);
	n_want = desired_nodes(cfg, &want);

	/* Nodes no longer asked for stop first. */
	for (size_t i = 0; i < s->n_nodes;) {
		struct node *n = s->nodes[i];
		bool keep = false;

		for (size_t j = 0; j < n_want; j++) {
			keep |= strcmp(want[j].name, n->name) == 0;
		}
		if (keep) {
			i++;
			continue;
		}
		if (n->runner) {
			/* Inside a call: finish it off when (if) it returns. */
			log_info("node %s: removed (its call in progress is abandoned)", n->name);
			sched_abandon(s, n);
			continue;
		}
		log_info("node %s: removed", n->name);
		sched_stop_node(t, n, NODE_STOPPED);
		sched_drop_node(s, n);
		node_destroy(n);
	}

	for (size_t j = 0; j < n_want; j++) {
		struct node_conf *nc = &want[j];
		struct node *n = sched_find_node(s, nc->name);
		char *path = plugin_path(cfg, nc->plugin);
		bool reloaded = false;
		struct plugin *p = path ? get_plugin(t, path, &reloaded) : NULL;

		free(path);
		if (!n) {
			replace_node(t, NULL, nc, p, false);
		} else if (n->start_queued) {
			node_apply_conf(n, nc); /* its init is queued: it starts with these */
		} else if (!p || reloaded || n->plugin != p ||
			   node_conf_needs_restart(&n->conf, nc)) {
			if (n->runner && n->stuck_instances) {
				/* A call in progress, and an earlier instance still stuck: no
				 * third thread. The change applies when the node next restarts. */
				log_warn("node %s: changed, but inside a call with an earlier instance "
					 "still stuck; not restarted now",
					 n->name);
				node_apply_conf(n, nc);
			} else {
				replace_node(t, n, nc, p, false);
			}
		} else {
			uint32_t st = atomic_load(&n->state);

			node_apply_conf(n, nc);
			if (!nc->enabled && st != NODE_STOPPED) {
				log_info("node %s: disabled", n->name);
				sched_stop_node(t, n, NODE_STOPPED);
			} else if (nc->enabled && !n->runner && !n->operator_stopped &&
				   (st == NODE_STOPPED || st == NODE_FAILED)) {
				replace_node(t, n, nc, p, false);
			} else if (n->heap_index != SIZE_MAX) {
				/* New rate: keep the earlier of the old and the new next tick. */
				uint64_t next = now_ns() + n->period_ns;

				if (next < n->due_ns) {
					struct sched_thread *l = n->lane;

					sched_heap_remove(n);
					n->due_ns = next;
					sched_heap_push(l, n);
					sched_thread_wake(l);
				}
			}
		}
		node_conf_free(nc);
	}
	free(want);

	/* Plugins nothing uses any more and that left the directory are unloaded. */
	for (size_t i = 0; i < s->n_plugins; i++) {
		struct plugin *p = s->plugins[i];

		if (p->refs == 0 && plugin_changed(p)) {
			p->doomed = true;
		}
	}
	sched_sweep_plugins(t);
	if (s->have_cfg) {
		config_free(&s->cfg);
	}
	s->cfg = *cfg;
	s->have_cfg = true;
	return running_nodes(s);
}

static int node_command(struct sched_thread *t, const char *name, enum sched_node_op op)
{
	struct sched *s = t->s;
	struct node *n = sched_find_node(s, name);
	struct node_conf nc;
	int r;

	if (!n) {
		return -ENOENT;
	}
	if (n->runner) {
		/* Inside a call (hung, or a slow tick on its own lane). */
		if (op == SCHED_NODE_STOP) {
			log_info("node %s: will stop when its call returns (requested)", n->name);
			n->stop_on_return = true;
			return 0;
		}
		if (op == SCHED_NODE_START || n->stuck_instances || !n->plugin) {
			return -EBUSY; /* no third thread for one node */
		}
	}
	switch (op) {
	case SCHED_NODE_STOP:
		if (n->inited) {
			log_info("node %s: stopped by request", n->name);
		}
		sched_stop_node(t, n, NODE_STOPPED);
		n->operator_stopped = true; /* a reload does not undo it; node start does */
		return 0;
	case SCHED_NODE_START:
		if (n->inited) {
			return -EALREADY;
		}
		/* A start is a restart of a stopped node. */
		/* fall through */
	case SCHED_NODE_RESTART:
		if (!n->plugin) {
			return -ENOENT;
		}
		r = node_conf_copy(&nc, &n->conf);
		if (r < 0) {
			return r;
		}
		nc.enabled = true;
		log_info("node %s: %s by request", n->name,
			 op == SCHED_NODE_START ? "started" : "restarted");
		replace_node(t, n, &nc, n->plugin, true);
		node_conf_free(&nc);
		n = sched_find_node(s, name);
		return n && n->inited ? 0 : -EIO;
	}
	return -EINVAL;
}

/* A watchdog trip on a node that is not inside a call (it is starved or never finishes). */
static void watchdog_command(struct sched_thread *t, const char *name)
{
	struct node *n = sched_find_node(t->s, name);

	if (!n || n->runner || !n->inited) {
		return;
	}
	if (n->conf.on_watchdog == WATCHDOG_RESTART) {
		(void)node_command(t, name, SCHED_NODE_RESTART);
	} else if (n->conf.on_watchdog == WATCHDOG_STOP) {
		log_err("node %s: stopped by its watchdog (on_watchdog = stop)", n->name);
		sched_stop_node(t, n, NODE_STOPPED);
	}
}

void sched_run_commands(struct sched_thread *t)
{
	struct sched *s = t->s;

	while (s->cmd_head && !t->retired) {
		struct cmd *c = s->cmd_head;
		int r = 0;

		s->cmd_head = c->next;
		if (!s->cmd_head) {
			s->cmd_tail = NULL;
		}
		switch (c->kind) {
		case CMD_APPLY:
			(void)apply_config(t, &c->cfg);
			/* Answer once the inits it queued have run, wherever they run. */
			if (c->done) {
				struct cmd *b = calloc(1, sizeof(*b));

				if (b) {
					b->kind = CMD_BARRIER;
					b->done = c->done;
					b->userdata = c->userdata;
					c->done = NULL;
					sched_queue_cmd(s, b);
				}
			}
			break;
		case CMD_START: {
			struct node *n = sched_find_node(s, c->name);

			if (n) {
				n->start_queued = false;
			}
			r = -ENOENT;
			if (n && n->plugin && !n->inited && !n->runner && n->conf.enabled &&
			    !s->draining) {
				r = sched_start_node(t, n);
			}
			break;
		}
		case CMD_BARRIER:
			r = running_nodes(s);
			break;
		case CMD_SWEEP:
			sched_sweep_plugins(t);
			break;
		case CMD_NODE:
			r = node_command(t, c->name, c->op);
			break;
		case CMD_WATCHDOG:
			watchdog_command(t, c->name);
			break;
		}
		if (c->done) {
			c->done(c->userdata, r);
		}
		free(c->name);
		free(c);
	}
}
