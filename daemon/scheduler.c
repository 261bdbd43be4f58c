/* SPDX-License-Identifier: MIT */
/*
 * Tick threads, the heap of due nodes, plugin calls, deadline/breaker policies, commands,
 * and the watcher's hand-over and watchdog logic. See sched.h for the threading model.
 */

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "scheduler.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

/*
 * A lane: a tick thread with its own heap and timerfd. The active lane ticks every node, except
 * nodes that once overstayed a call: each of those keeps the thread it was stuck on as its own
 * dedicated lane, and the others moved to a fresh active lane. A dedicated lane whose node is
 * gone ends its thread.
 */
struct sched_thread {
	struct sched *s;
	pthread_t tid;
	struct event_base *base;
	struct event *timer_ev;
	struct event *wake_ev;
	int tfd;
	uint64_t armed_ns;       /* absolute time the timerfd is set for, 0 = disarmed */
	bool retired;            /* dedicated to `owner`, no longer the active lane */
	bool exited;
	struct node *owner;      /* the node a dedicated lane serves */
	uint64_t call_since_ns;  /* inside a plugin call since (lock), 0 if not */
	struct node **heap;      /* scheduled nodes, min-heap on (due_ns, order) */
	size_t heap_len;
	size_t heap_cap;
	struct sched_thread *next;
};

enum cmd_kind {
	CMD_APPLY,
	CMD_NODE,
	CMD_INIT_NODE, /* init a replacement node made by the watcher */
	CMD_WATCHDOG,  /* a watchdog trip on a node that is not inside a call */
};

struct cmd {
	enum cmd_kind kind;
	struct horus_config cfg; /* CMD_APPLY */
	char *name;              /* CMD_NODE, CMD_WATCHDOG */
	enum sched_node_op op;
	struct node *node;       /* CMD_INIT_NODE */
	sched_done_fn done;
	void *userdata;
	struct cmd *next;
};

struct sched {
	pthread_mutex_t lock;
	char ns[64];
	uid_t owner;
	struct horus_config cfg; /* the applied config */
	bool have_cfg;

	struct node **nodes; /* every live node (not zombies), sorted by nothing */
	size_t n_nodes;
	struct plugin **plugins;
	size_t n_plugins;

	struct sched_thread *active;
	struct sched_thread *retired; /* dedicated lanes */
	unsigned n_retired;
	struct cmd *cmd_head, *cmd_tail;
	bool stopping;

	_Atomic uint64_t dispatches;
	uint64_t rate_prev_ns;
	struct log_limit handoff_limit;

	struct pool **pools; /* [0] is "default"; never destroyed before the scheduler */
	size_t n_pools;
	struct node **io_ready; /* nodes with resolved jobs to hand over on their thread */
	size_t n_io_ready;
	size_t io_ready_cap;
};

static void thread_wake(struct sched_thread *t);
static void settle_zombie(struct sched_thread *t, struct node *n);
static int thread_start(struct sched *s, struct sched_thread **ret);

/* ---- heap (one per lane) ------------------------------------------------------------------ */

static bool before(const struct node *a, const struct node *b)
{
	if (a->due_ns != b->due_ns) {
		return a->due_ns < b->due_ns;
	}
	if (a->conf.order != b->conf.order) {
		return a->conf.order < b->conf.order;
	}
	return a->id < b->id; /* equal order: the older node first, never at random */
}

static void heap_set(struct sched_thread *l, size_t i, struct node *n)
{
	l->heap[i] = n;
	n->heap_index = i;
}

static void heap_up(struct sched_thread *l, size_t i)
{
	struct node *n = l->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!before(n, l->heap[p])) {
			break;
		}
		heap_set(l, i, l->heap[p]);
		i = p;
	}
	heap_set(l, i, n);
}

static void heap_down(struct sched_thread *l, size_t i)
{
	struct node *n = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1, m = i;
		struct node *best = n;

		if (c < l->heap_len && before(l->heap[c], best)) {
			m = c;
			best = l->heap[c];
		}
		if (c + 1 < l->heap_len && before(l->heap[c + 1], best)) {
			m = c + 1;
			best = l->heap[c + 1];
		}
		if (m == i) {
			break;
		}
		heap_set(l, i, best);
		i = m;
	}
	heap_set(l, i, n);
}

static int heap_push(struct sched_thread *l, struct node *n)
{
	if (n->heap_index != SIZE_MAX) {
		return 0;
	}
	if (l->heap_len == l->heap_cap) {
		size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
		struct node **h = realloc(l->heap, cap * sizeof(*h));

		if (!h) {
			return -ENOMEM;
		}
		l->heap = h;
		l->heap_cap = cap;
	}
	n->lane = l;
	heap_set(l, l->heap_len++, n);
	heap_up(l, l->heap_len - 1);
	return 0;
}

static void heap_remove(struct node *n)
{
	struct sched_thread *l = n->lane;
	size_t i = n->heap_index;
	struct node *moved;

	if (i == SIZE_MAX || !l) {
		return;
	}
	n->heap_index = SIZE_MAX;
	l->heap_len--;
	if (i == l->heap_len) {
		return;
	}
	moved = l->heap[l->heap_len];
	heap_set(l, i, moved);
	heap_down(l, i);
	heap_up(l, moved->heap_index);
}

/*
 * The lane that schedules n when thread t puts it back: t itself if t is the active lane or
 * n's dedicated lane, else the active lane (which is then woken to re-arm its timer).
 */
static struct sched_thread *lane_for(struct sched_thread *t, struct node *n)
{
	if (t == t->s->active || t->owner == n) {
		return t;
	}
	if (n->lane && n->lane->owner == n) {
		return n->lane;
	}
	return t->s->active;
}

static void push_from(struct sched_thread *t, struct node *n)
{
	struct sched_thread *l = lane_for(t, n);

	heap_push(l, n);
	if (l != t) {
		thread_wake(l);
	}
}

/* ---- node registry ----------------------------------------------------------------------- */

static struct node *find_node(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (strcmp(s->nodes[i]->name, name) == 0) {
			return s->nodes[i];
		}
	}
	return NULL;
}

static bool find_node_ptr(struct sched *s, const struct node *n)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i] == n) {
			return true;
		}
	}
	return false;
}

static int add_node(struct sched *s, struct node *n)
{
	struct node **p = realloc(s->nodes, (s->n_nodes + 1) * sizeof(*p));

	if (!p) {
		return -ENOMEM;
	}
	s->nodes = p;
	s->nodes[s->n_nodes++] = n;
	return 0;
}

/* A node leaving its dedicated lane (stopped, removed, replaced) lets that thread end. */
static void release_lane(struct node *n)
{
	struct sched_thread *l = n->lane;

	if (l && l->owner == n) {
		l->owner = NULL;
		thread_wake(l);
	}
}

static void forget_io(struct sched *s, struct node *n)
{
	for (size_t i = 0; n->io_ready && i < s->n_io_ready; i++) {
		if (s->io_ready[i] == n) {
			s->io_ready[i] = s->io_ready[--s->n_io_ready];
			break;
		}
	}
	n->io_ready = false;
}

static void drop_node(struct sched *s, struct node *n)
{
	heap_remove(n);
	release_lane(n);
	forget_io(s, n);
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i] == n) {
			s->nodes[i] = s->nodes[--s->n_nodes];
			return;
		}
	}
}

/* First point of n's grid strictly after `after`, so that a late tick brings no burst. */
static void reschedule(struct node *n, uint64_t after)
{
	uint64_t next = n->due_ns + n->period_ns;

	if (next <= after) {
		next += ((after - next) / n->period_ns + 1) * n->period_ns;
	}
	n->due_ns = next;
}

static void schedule_from_now(struct sched_thread *t, struct node *n)
{
	n->due_ns = now_ns() + n->period_ns;
	push_from(t, n);
}

/* ---- plugin calls (the lock is dropped around them) -------------------------------------- */

static void call_enter(struct sched_thread *t, struct node *n)
{
	uint64_t now = now_ns();

	t->call_since_ns = now;
	if (n) {
		n->runner = t;
	}
	pthread_mutex_unlock(&t->s->lock);
}

static void call_leave(struct sched_thread *t, struct node *n)
{
	pthread_mutex_lock(&t->s->lock);
	t->call_since_ns = 0;
	if (n) {
		n->runner = NULL;
	}
}

/* init on thread t; the node is scheduled if it succeeds. Lock held on entry and exit. */
static int start_node(struct sched_thread *t, struct node *n)
{
	int r;

	call_enter(t, n);
	r = node_init(n);
	call_leave(t, n);
	if (r < 0) {
		log_err("node %s: init failed: %s; not ticking it", n->name, strerror(-r));
		return r;
	}
	if (n->zombie) {
		settle_zombie(t, n); /* hung in init and replaced meanwhile */
		return -ETIMEDOUT;
	}
	log_info("node %s: started (plugin %s, %.3g Hz, deadline %.3g ms, watchdog %.3g ms)",
		 n->name, n->plugin->name, n->conf.rate_hz, n->conf.deadline_ns / 1e6,
		 n->conf.watchdog_ns / 1e6);
	schedule_from_now(t, n);
	return 0;
}

static void stop_node(struct sched_thread *t, struct node *n, uint32_t final_state)
{
	heap_remove(n);
	release_lane(n);
	forget_io(t->s, n);
	if (n->inited || n->n_pubs || n->n_subs) {
		call_enter(t, n);
		node_fini(n);
		call_leave(t, n);
	}
	atomic_store(&n->state, final_state);
}

/* A hung node that was replaced or removed has returned from its call: finish it off. */
static void settle_zombie(struct sched_thread *t, struct node *n)
{
	struct sched *s = t->s;

	log_info("node %s: the hung call returned after %.1f ms; finishing the old instance",
		 n->name, (now_ns() - atomic_load(&n->call_since_ns)) / 1e6);
	atomic_store(&n->call_since_ns, 0);
	call_enter(t, NULL);
	node_fini(n);
	call_leave(t, NULL);
	(void)s;
	node_destroy(n);
}

/* ---- I/O completions -------------------------------------------------------------------- */

/* From a worker or the watcher, no lock held: node n has resolved jobs. */
static void io_notify(void *userdata, struct node *n)
{
	struct sched *s = userdata;
	struct sched_thread *lane;

	pthread_mutex_lock(&s->lock);
	/* n may have been stopped and freed since the pool let go of its lock: compare the
	 * pointer against the live nodes before touching it. */
	if (!find_node_ptr(s, n) || n->io_ready) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->n_io_ready == s->io_ready_cap) {
		size_t cap = s->io_ready_cap ? 2 * s->io_ready_cap : 32;
		struct node **a = realloc(s->io_ready, cap * sizeof(*a));

		if (!a) {
			pthread_mutex_unlock(&s->lock);
			return; /* seen on its next tick's pass instead */
		}
		s->io_ready = a;
		s->io_ready_cap = cap;
	}
	n->io_ready = true;
	s->io_ready[s->n_io_ready++] = n;
	lane = n->lane && n->lane->owner == n ? n->lane : s->active;
	thread_wake(lane);
	pthread_mutex_unlock(&s->lock);
}

static void breaker_failure(struct node *n, uint64_t now, bool io);
static void update_state_now(struct node *n, uint64_t now);

/*
 * I/O failures and timeouts count toward the breaker as tick errors do, in their own row:
 * a node whose ticks succeed while its every job fails still trips. A breaker opened on I/O
 * closes on the next job that succeeds.
 */
static void io_outcome(struct node *n, uint32_t st)
{
	uint64_t now = now_ns();

	if (st == HORUS_FUTURE_FAILED || st == HORUS_FUTURE_TIMED_OUT) {
		n->consecutive_io_failures++;
		atomic_fetch_add(&n->c.failures, 1);
		atomic_store(&n->last_trouble_ns, now);
		breaker_failure(n, now, true);
	} else if (st == HORUS_FUTURE_DONE) {
		n->consecutive_io_failures = 0;
		if (n->breaker_io && atomic_load(&n->circuit) == CIRCUIT_HALF_OPEN) {
			atomic_store(&n->circuit, CIRCUIT_CLOSED);
			n->breaker_io = false;
			n->cooldown_ns = n->conf.circuit_cooldown_ns;
			log_info("node %s: trial I/O succeeded; circuit closed", n->name);
		}
	}
	update_state_now(n, now);
}

/*
 * Hands resolved jobs to the nodes this thread runs: counters, breaker, on_done callbacks,
 * between ticks and never beside one. Lock held.
 */
static void run_io(struct sched_thread *t)
{
	struct sched *s = t->s;

	for (size_t i = 0; i < s->n_io_ready;) {
		struct node *n = s->io_ready[i];
		struct sched_thread *lane = n->lane && n->lane->owner == n ? n->lane : s->active;
		struct horus_future *f;
		void (*cb)(void *, struct horus_future *);
		uint32_t st;

		if (lane != t || n->runner) {
			i++;
			continue; /* another thread's node, or inside a call: later */
		}
		s->io_ready[i] = s->io_ready[--s->n_io_ready];
		n->io_ready = false;
		while (n->inited && n->pool && pool_next_done(n->pool, &n->io, &f, &st, &cb)) {
			io_outcome(n, st);
			if (cb) {
				call_enter(t, n);
				cb(n->ctx, f);
				call_leave(t, n);
				if (n->zombie) {
					settle_zombie(t, n);
					break;
				}
			}
		}
		i = 0; /* the list may have changed while unlocked */
	}
}

/* ---- one tick ---------------------------------------------------------------------------- */

static void update_state_now(struct node *n, uint64_t now)
{
	uint32_t st;

	if (atomic_load(&n->circuit) != CIRCUIT_CLOSED) {
		st = NODE_TRIPPED;
	} else if (atomic_load(&n->last_trouble_ns) &&
		   now - atomic_load(&n->last_trouble_ns) < NODE_DEGRADED_NS) {
		st = NODE_DEGRADED;
	} else {
		st = NODE_RUNNING;
	}
	atomic_store(&n->state, st);
}

static void breaker_failure(struct node *n, uint64_t now, bool io)
{
	uint32_t c = atomic_load(&n->circuit);
	uint32_t row = io ? n->consecutive_io_failures : n->consecutive_failures;

	if (c == CIRCUIT_HALF_OPEN) {
		uint64_t cap = n->conf.circuit_cooldown_ns * CIRCUIT_COOLDOWN_MAX_FACTOR;

		n->cooldown_ns = n->cooldown_ns * 2 > cap ? cap : n->cooldown_ns * 2;
		n->open_until_ns = now + n->cooldown_ns;
		atomic_store(&n->circuit, CIRCUIT_OPEN);
		log_warn("node %s: trial %s failed; circuit re-opened for %.0f ms", n->name,
			 io ? "I/O" : "tick", n->cooldown_ns / 1e6);
	} else if (c == CIRCUIT_CLOSED && row >= n->conf.circuit_threshold) {
		n->cooldown_ns = n->conf.circuit_cooldown_ns;
		n->open_until_ns = now + n->cooldown_ns;
		n->breaker_io = io;
		atomic_store(&n->circuit, CIRCUIT_OPEN);
		log_warn("node %s: %u %s in a row; circuit opened for %.0f ms", n->name, row,
			 io ? "I/O failures" : "tick failures", n->cooldown_ns / 1e6);
	}
}

static void breaker_success(struct node *n)
{
	n->consecutive_failures = 0;
	if (atomic_load(&n->circuit) == CIRCUIT_HALF_OPEN && !n->breaker_io) {
		atomic_store(&n->circuit, CIRCUIT_CLOSED);
		n->cooldown_ns = n->conf.circuit_cooldown_ns;
		log_info("node %s: trial tick succeeded; circuit closed", n->name);
	}
}

/* Runs one due tick of n (already popped from the heap). Lock held on entry and exit. */
static void tick_one(struct sched_thread *t, struct node *n)
{
	struct sched *s = t->s;
	uint64_t start = now_ns(), end, dur, suppressed;
	int r;

	if (atomic_load(&n->circuit) == CIRCUIT_OPEN) {
		if (start < n->open_until_ns) {
			atomic_fetch_add(&n->c.skipped, 1);
			reschedule(n, start);
			push_from(t, n);
			return;
		}
		atomic_store(&n->circuit, CIRCUIT_HALF_OPEN); /* this tick is the trial */
	}
	if (n->skip_next) {
		n->skip_next = false;
		atomic_fetch_add(&n->c.skipped, 1);
		reschedule(n, start);
		push_from(t, n);
		return;
	}
	n->tick_time_ns = n->due_ns;
	atomic_store_explicit(&n->call_since_ns, start, memory_order_relaxed);
	call_enter(t, n);
	r = n->plugin->ops.tick(n->ctx);
	end = now_ns();
	call_leave(t, n);
	atomic_fetch_add_explicit(&s->dispatches, 1, memory_order_relaxed);
	if (n->zombie) {
		settle_zombie(t, n);
		return;
	}
	atomic_store_explicit(&n->call_since_ns, 0, memory_order_relaxed);
	if (n->stop_on_return) {
		n->stop_on_return = false;
		log_err("node %s: its hung tick returned; stopping it (on_watchdog = stop)", n->name);
		stop_node(t, n, NODE_STOPPED);
		return;
	}
	dur = end - start;
	hist_record(&n->tick_hist, dur);
	hist_record(&n->late_hist, start > n->due_ns ? start - n->due_ns : 0);
	atomic_store_explicit(&n->c.ticks, atomic_load_explicit(&n->c.ticks, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&n->last_complete_ns, end, memory_order_relaxed);

	if (dur > n->conf.deadline_ns) {
		atomic_fetch_add(&n->c.deadline_misses, 1);
		atomic_store(&n->last_trouble_ns, end);
		if (log_limit_pass(&n->miss_limit, end, &suppressed)) {
			log_warn("node %s: tick took %.3f ms, deadline %.3f ms (%s)%s", n->name,
				 dur / 1e6, n->conf.deadline_ns / 1e6,
				 miss_action_name(n->conf.on_deadline_miss),
				 suppressed ? "; more misses not logged" : "");
			if (suppressed) {
				log_warn("node %s: %llu deadline misses not logged", n->name,
					 (unsigned long long)suppressed);
			}
		}
		if (n->conf.on_deadline_miss == MISS_SKIP) {
			n->skip_next = true;
		} else if (n->conf.on_deadline_miss == MISS_STOP) {
			log_err("node %s: stopped after a deadline miss (on_deadline_miss = stop)",
				n->name);
			stop_node(t, n, NODE_STOPPED);
			return;
		}
	}
	if (r < 0) {
		n->consecutive_failures++;
		atomic_fetch_add(&n->c.failures, 1);
		atomic_store(&n->c.last_error, (uint64_t)-r);
		atomic_store(&n->last_trouble_ns, end);
		if (log_limit_pass(&n->fail_limit, end, &suppressed)) {
			log_warn("node %s: tick failed: %s (%u in a row; %llu more not logged)",
				 n->name, strerror(-r), n->consecutive_failures,
				 (unsigned long long)suppressed);
		}
		breaker_failure(n, end, false);
	} else {
		breaker_success(n);
	}
	update_state_now(n, end);
	reschedule(n, end);
	push_from(t, n);
}

/* ---- commands ---------------------------------------------------------------------------- */

static void queue_cmd(struct sched *s, struct cmd *c)
{
	c->next = NULL;
	if (s->cmd_tail) {
		s->cmd_tail->next = c;
	} else {
		s->cmd_head = c;
	}
	s->cmd_tail = c;
	if (s->active) {
		thread_wake(s->active);
	}
}

static struct plugin *find_plugin(struct sched *s, const char *path)
{
	for (size_t i = 0; i < s->n_plugins; i++) {
		if (strcmp(s->plugins[i]->path, path) == 0) {
			return s->plugins[i];
		}
	}
	return NULL;
}

static void remove_plugin(struct sched *s, struct plugin *p)
{
	for (size_t i = 0; i < s->n_plugins; i++) {
		if (s->plugins[i] == p) {
			s->plugins[i] = s->plugins[--s->n_plugins];
			break;
		}
	}
	plugin_unload(p);
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
	call_enter(t, NULL);
	r = plugin_load(path, s->owner, &np, why, sizeof(why));
	call_leave(t, NULL);
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
		if (p->refs == 0) {
			plugin_unload(p);
		} else {
			/* Keep it alive under a name no lookup matches; freed when refs drop. */
			free(p->path);
			p->path = strdup("(replaced)");
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

static void io_notify(void *userdata, struct node *n);

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
		if (pool_create(name, workers, queue, io_notify, s, &p) == 0) {
			s->pools[s->n_pools++] = p;
		}
	}
}

static struct pool *pool_for(struct sched *s, const struct node_conf *nc)
{
	struct pool *p = find_pool(s, nc->pool ? nc->pool : "default");

	return p ? p : (s->n_pools ? s->pools[0] : NULL);
}

static void replace_node(struct sched_thread *t, struct node *old, const struct node_conf *nc,
			 struct plugin *p)
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
		stop_node(t, old, NODE_STOPPED);
		drop_node(s, old);
		node_destroy(old);
	}
	add_node(s, n);
	if (!p) {
		return; /* a FAILED placeholder, so that listings show it */
	}
	if (nc->enabled) {
		(void)start_node(t, n);
	} else {
		atomic_store(&n->state, NODE_STOPPED);
	}
}

static int apply_config(struct sched_thread *t, struct horus_config *cfg)
{
	struct sched *s = t->s;
	struct node_conf *want;
	size_t n_want;
	int running = 0;

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
			/* Hung inside a call: finish it off when (if) it returns. */
			n->zombie = true;
			drop_node(s, n);
			log_info("node %s: removed (its hung call is abandoned)", n->name);
			continue;
		}
		log_info("node %s: removed", n->name);
		stop_node(t, n, NODE_STOPPED);
		drop_node(s, n);
		node_destroy(n);
	}

	for (size_t j = 0; j < n_want; j++) {
		struct node_conf *nc = &want[j];
		struct node *n = find_node(s, nc->name);
		char *path = plugin_path(cfg, nc->plugin);
		bool reloaded = false;
		struct plugin *p = path ? get_plugin(t, path, &reloaded) : NULL;

		free(path);
		if (!n) {
			replace_node(t, NULL, nc, p);
		} else if (!p || reloaded || n->plugin != p ||
			   node_conf_needs_restart(&n->conf, nc) || n->runner) {
			if (n->runner) {
				/* Hung: it will be abandoned, a fresh instance takes its place. */
				n->zombie = true;
				drop_node(s, n);
				n = NULL;
			}
			replace_node(t, n, nc, p);
		} else {
			uint32_t st = atomic_load(&n->state);

			node_apply_conf(n, nc);
			if (!nc->enabled && st != NODE_STOPPED) {
				log_info("node %s: disabled", n->name);
				stop_node(t, n, NODE_STOPPED);
			} else if (nc->enabled && (st == NODE_STOPPED || st == NODE_FAILED)) {
				replace_node(t, n, nc, p);
			} else if (n->heap_index != SIZE_MAX) {
				/* New rate: keep the earlier of the old and the new next tick. */
				uint64_t next = now_ns() + n->period_ns;

				if (next < n->due_ns) {
					struct sched_thread *l = n->lane;

					heap_remove(n);
					n->due_ns = next;
					heap_push(l, n);
					thread_wake(l);
				}
			}
		}
		node_conf_free(nc);
	}
	free(want);

	/* Plugins nothing uses any more and that left the directory are unloaded. */
	for (size_t i = 0; i < s->n_plugins;) {
		struct plugin *p = s->plugins[i];

		if (p->refs == 0 && (plugin_changed(p) || strcmp(p->path, "(replaced)") == 0)) {
			remove_plugin(s, p);
			continue;
		}
		i++;
	}
	if (s->have_cfg) {
		config_free(&s->cfg);
	}
	s->cfg = *cfg;
	s->have_cfg = true;
	for (size_t i = 0; i < s->n_nodes; i++) {
		uint32_t st = atomic_load(&s->nodes[i]->state);

		running += st != NODE_STOPPED && st != NODE_FAILED;
	}
	return running;
}

static int node_command(struct sched_thread *t, const char *name, enum sched_node_op op)
{
	struct sched *s = t->s;
	struct node *n = find_node(s, name);
	struct node_conf nc;
	int r;

	if (!n) {
		return -ENOENT;
	}
	if (n->runner) {
		return -EBUSY; /* inside a (hung) call */
	}
	switch (op) {
	case SCHED_NODE_STOP:
		log_info("node %s: stopped by request", n->name);
		stop_node(t, n, NODE_STOPPED);
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
		replace_node(t, n, &nc, n->plugin);
		node_conf_free(&nc);
		n = find_node(s, name);
		return n && n->inited ? 0 : -EIO;
	}
	return -EINVAL;
}

/* A watchdog trip on a node that is not inside a call (it is starved or never finishes). */
static void watchdog_command(struct sched_thread *t, const char *name)
{
	struct node *n = find_node(t->s, name);

	if (!n || n->runner || !n->inited) {
		return;
	}
	if (n->conf.on_watchdog == WATCHDOG_RESTART) {
		(void)node_command(t, name, SCHED_NODE_RESTART);
	} else if (n->conf.on_watchdog == WATCHDOG_STOP) {
		log_err("node %s: stopped by its watchdog (on_watchdog = stop)", n->name);
		stop_node(t, n, NODE_STOPPED);
	}
}

static void run_commands(struct sched_thread *t)
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
			r = apply_config(t, &c->cfg);
			break;
		case CMD_NODE:
			r = node_command(t, c->name, c->op);
			break;
		case CMD_INIT_NODE:
			add_node(s, c->node);
			r = start_node(t, c->node);
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

/* ---- tick threads ------------------------------------------------------------------------ */

static void arm(struct sched_thread *t)
{
	struct sched *s = t->s;
	struct itimerspec its = { 0 };
	uint64_t at = 0;

	(void)s;
	if (t->heap_len) {
		struct node *top = t->heap[0];

		at = top->due_ns > top->conf.spin_ns ? top->due_ns - top->conf.spin_ns : 1;
	}
	if (at == t->armed_ns) {
		return;
	}
	t->armed_ns = at;
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void run_due(struct sched_thread *t)
{
	struct sched *s = t->s;

	pthread_mutex_lock(&s->lock);
	if (t == s->active) {
		run_commands(t);
	}
	if (s->n_io_ready) {
		run_io(t);
	}
	while (!s->stopping && t->heap_len) {
		struct node *n = t->heap[0];
		uint64_t now = now_ns();

		if (n->due_ns > now + n->conf.spin_ns) {
			break;
		}
		heap_remove(n);
		if (n->due_ns > now) {
			/* spin_us: busy-wait the last stretch for a tighter start than a wake-up. */
			pthread_mutex_unlock(&s->lock);
			while (now_ns() < n->due_ns) {
				cpu_relax();
			}
			pthread_mutex_lock(&s->lock);
		}
		tick_one(t, n);
		if (s->cmd_head && t == s->active) {
			run_commands(t);
		}
		if (s->n_io_ready) {
			run_io(t);
		}
	}
	if (s->stopping || (t->retired && !t->owner)) {
		/* Stopping, or a dedicated lane whose node is gone: end the thread. */
		event_base_loopbreak(t->base);
	} else {
		arm(t);
	}
	pthread_mutex_unlock(&s->lock);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	uint64_t expirations;

	(void)what;
	(void)!read(fd, &expirations, sizeof(expirations));
	((struct sched_thread *)arg)->armed_ns = 0;
	run_due(arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_due(arg);
}

static void thread_wake(struct sched_thread *t)
{
	event_active(t->wake_ev, EV_READ, 0);
}

static void *thread_main(void *arg)
{
	struct sched_thread *t = arg;
	struct sched *s = t->s;

	/* Wake-ups as close to the deadline as the kernel allows. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_setname_np(pthread_self(), "horus-tick");
	event_base_dispatch(t->base);

	pthread_mutex_lock(&s->lock);
	t->exited = true;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void thread_free(struct sched_thread *t)
{
	if (t->timer_ev) {
		event_free(t->timer_ev);
	}
	if (t->wake_ev) {
		event_free(t->wake_ev);
	}
	if (t->base) {
		event_base_free(t->base);
	}
	free(t->heap);
	if (t->tfd >= 0) {
		close(t->tfd);
	}
	free(t);
}

static int thread_start(struct sched *s, struct sched_thread **ret)
{
	struct sched_thread *t = calloc(1, sizeof(*t));
	struct event_config *ec = event_config_new();
	int r = -ENOMEM;

	if (!t || !ec) {
		goto fail;
	}
	t->s = s;
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0) {
		r = -errno;
		goto fail;
	}
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	t->base = event_base_new_with_config(ec);
	if (!t->base) {
		goto fail;
	}
	t->timer_ev = event_new(t->base, t->tfd, EV_READ | EV_PERSIST, on_timer, t);
	t->wake_ev = event_new(t->base, -1, 0, on_wake, t);
	if (!t->timer_ev || !t->wake_ev || event_add(t->timer_ev, NULL) < 0) {
		goto fail;
	}
	r = -pthread_create(&t->tid, NULL, thread_main, t);
	if (r < 0) {
		goto fail;
	}
	event_config_free(ec);
	*ret = t;
	return 0;
fail:
	if (ec) {
		event_config_free(ec);
	}
	if (t) {
		t->tfd = t->tfd > 0 ? t->tfd : -1;
		thread_free(t);
	}
	return r;
}

/* Joins and frees retired threads that have exited. Lock held. */
static void reap_threads(struct sched *s)
{
	for (struct sched_thread **pp = &s->retired; *pp;) {
		struct sched_thread *t = *pp;

		if (!t->exited) {
			pp = &t->next;
			continue;
		}
		*pp = t->next;
		s->n_retired--;
		pthread_mutex_unlock(&s->lock);
		pthread_join(t->tid, NULL);
		pthread_mutex_lock(&s->lock);
		thread_free(t);
	}
}

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
	s->handoff_limit.interval_ns = 5000ull * 1000 * 1000;
	snprintf(s->ns, sizeof(s->ns), "%s", ns);
	s->owner = plugin_owner;
	r = thread_start(s, &s->active);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

static int submit(struct sched *s, struct cmd *c)
{
	pthread_mutex_lock(&s->lock);
	queue_cmd(s, c);
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
	if (thread_start(s, &t) < 0) {
		return;
	}
	while (old->heap_len) {
		struct node *n = old->heap[0];

		heap_remove(n);
		heap_push(t, n);
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
	if (log_limit_pass(&s->handoff_limit, now, &(uint64_t){ 0 })) {
		log_warn("%s%s: a call has not returned for %.1f ms; it keeps its thread and the "
			 "other nodes move to a fresh one",
			 owner ? "node " : "a plugin call", owner ? owner->name : "",
			 (now - old->call_since_ns) / 1e6);
	}
	thread_wake(t);
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
	/* Restart: abandon the instance (its call finishes, if ever, on the retired thread) and
	 * start a fresh one on the active thread. */
	fresh = node_create(&n->conf, n->plugin, s->ns);
	c = calloc(1, sizeof(*c));
	if (!fresh || !c) {
		node_destroy(fresh);
		free(c);
		return;
	}
	n->zombie = true;
	drop_node(s, n);
	fresh->pool = n->pool;
	fresh->c = n->c;
	atomic_fetch_add(&fresh->c.restarts, 1);
	c->kind = CMD_INIT_NODE;
	c->node = fresh;
	queue_cmd(s, c);
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
		queue_cmd(s, c);
	} else {
		free(c);
	}
}

bool sched_watch(struct sched *s)
{
	uint64_t now = now_ns();
	bool healthy = true, rate_window;
	struct node **hung = NULL;
	size_t n_hung = 0;

	pthread_mutex_lock(&s->lock);
	reap_threads(s);
	if (s->active->call_since_ns && now - s->active->call_since_ns > SCHED_HANDOFF_NS) {
		hand_over(s, now);
	}
	if (s->active->call_since_ns && now - s->active->call_since_ns > 4 * SCHED_HANDOFF_NS) {
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
		if (n->runner && since && now - since > n->conf.watchdog_ns) {
			if (atomic_load(&n->state) != NODE_HUNG) {
				struct node **h = realloc(hung, (n_hung + 1) * sizeof(*h));

				if (h) {
					hung = h;
					hung[n_hung++] = n;
				}
			}
		} else if (!n->runner && n->inited && n->heap_index != SIZE_MAX &&
			   atomic_load(&n->circuit) == CIRCUIT_CLOSED && !n->skip_next &&
			   now - atomic_load(&n->last_complete_ns) > n->conf.watchdog_ns) {
			node_starved(s, n, now);
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
	pthread_mutex_unlock(&s->lock);
}

static void stop_all_cb(void *userdata, int result)
{
	(void)userdata;
	(void)result;
}

void sched_destroy(struct sched *s, uint64_t fini_timeout_ns)
{
	struct sched_thread *t;
	uint64_t deadline = now_ns() + fini_timeout_ns;

	if (!s) {
		return;
	}
	(void)stop_all_cb;
	/* Stop ticking, then fini every node on the active thread, one command per node. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_nodes; i++) {
		heap_remove(s->nodes[i]);
	}
	for (size_t i = 0; i < s->n_nodes; i++) {
		struct cmd *c = calloc(1, sizeof(*c));

		if (c && (c->name = strdup(s->nodes[i]->name))) {
			c->kind = CMD_NODE;
			c->op = SCHED_NODE_STOP;
			queue_cmd(s, c);
		} else {
			free(c);
		}
	}
	pthread_mutex_unlock(&s->lock);

	/* Wait for the commands to drain; a fini that hangs is handed over like a tick. */
	for (;;) {
		bool drained;

		pthread_mutex_lock(&s->lock);
		drained = !s->cmd_head && !s->active->call_since_ns;
		pthread_mutex_unlock(&s->lock);
		if (drained || now_ns() > deadline) {
			if (!drained) {
				log_err("shutdown: a node's fini did not return in time; leaving it");
			}
			break;
		}
		(void)sched_watch(s);
		usleep(1000);
	}

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	t = s->active;
	thread_wake(t);
	for (struct sched_thread *l = s->retired; l; l = l->next) {
		thread_wake(l);
	}
	pthread_mutex_unlock(&s->lock);
	pthread_join(t->tid, NULL);
	thread_free(t);
	/* Dedicated lanes end at once unless stuck in plugin code; those are left to die with
	 * the process, and what they may still touch is not freed. */
	for (;;) {
		bool idle = true;

		pthread_mutex_lock(&s->lock);
		reap_threads(s);
		for (struct sched_thread *l = s->retired; l; l = l->next) {
			idle &= l->call_since_ns != 0;
		}
		pthread_mutex_unlock(&s->lock);
		if (idle || now_ns() > deadline) {
			break;
		}
		usleep(1000);
	}

	for (size_t i = 0; i < s->n_nodes; i++) {
		if (!s->nodes[i]->runner) {
			node_destroy(s->nodes[i]);
		}
	}
	free(s->nodes);
	for (size_t i = 0; i < s->n_plugins; i++) {
		if (s->plugins[i]->refs == 0 && s->n_retired == 0) {
			plugin_unload(s->plugins[i]);
		}
	}
	free(s->plugins);
	if (s->have_cfg) {
		config_free(&s->cfg);
	}
	node_set_topics(NULL);
	for (size_t i = 0; i < s->n_pools; i++) {
		pool_destroy(s->pools[i], 1000ull * 1000 * 1000);
	}
	free(s->pools);
	free(s->io_ready);
	/* The lock and retired threads stay valid if a stuck thread still runs: leak them. */
	if (s->n_retired == 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
}
