/* SPDX-License-Identifier: MIT */
/* Lanes: tick threads, their heaps and timerfds, one tick, I/O completions. See scheduler.h. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "sched-internal.h"

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

int sched_heap_push(struct sched_thread *l, struct node *n)
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

void sched_heap_remove(struct node *n)
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

void sched_push_from(struct sched_thread *t, struct node *n)
{
	struct sched_thread *l = lane_for(t, n);

	sched_heap_push(l, n);
	if (l != t) {
		sched_thread_wake(l);
	}
}

/* ---- node registry ----------------------------------------------------------------------- */

struct node *sched_find_node(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (strcmp(s->nodes[i]->name, name) == 0) {
			return s->nodes[i];
		}
	}
	return NULL;
}

bool sched_find_node_ptr(struct sched *s, const struct node *n)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i] == n) {
			return true;
		}
	}
	return false;
}

int sched_add_node(struct sched *s, struct node *n)
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
void sched_release_lane(struct node *n)
{
	struct sched_thread *l = n->lane;

	if (l && l->owner == n) {
		l->owner = NULL;
		sched_thread_wake(l);
	}
}

void sched_forget_io(struct sched *s, struct node *n)
{
	for (size_t i = 0; n->io_ready && i < s->n_io_ready; i++) {
		if (s->io_ready[i] == n) {
			s->io_ready[i] = s->io_ready[--s->n_io_ready];
			break;
		}
	}
	n->io_ready = false;
}

void sched_drop_node(struct sched *s, struct node *n)
{
	sched_heap_remove(n);
	sched_release_lane(n);
	sched_forget_io(s, n);
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i] == n) {
			s->nodes[i] = s->nodes[--s->n_nodes];
			return;
		}
	}
}

/*
 * Every node ticks on the grid of its period counted from one epoch (the start of the
 * scheduler's first node): multiples of the period from there. Nodes of one rate, and of rates
 * whose periods divide one another, are then due at the same instants and share a wake-up,
 * instead of each costing one (or a busy-wait between them, see LANE_COALESCE_NS).
 */
static uint64_t grid_after(uint64_t epoch, uint64_t period, uint64_t t)
{
	if (t < epoch) {
		return epoch;
	}
	return epoch + ((t - epoch) / period + 1) * period;
}

/*
 * The next tick: the first point of n's grid strictly after both its due time and `after`, so
 * that a late tick brings no burst of catch-up ticks. A due time off the grid (a rate changed by
 * a reload) joins the grid at the next tick.
 */
void sched_reschedule(struct sched_thread *t, struct node *n, uint64_t after)
{
	n->due_ns = grid_after(t->s->epoch_ns, n->period_ns, n->due_ns > after ? n->due_ns : after);
}

/* A node that starts first ticks at the next point of its grid: within one period. */
void sched_schedule_from_now(struct sched_thread *t, struct node *n)
{
	uint64_t now = now_ns();

	if (!t->s->epoch_ns) {
		t->s->epoch_ns = now;
	}
	n->due_ns = grid_after(t->s->epoch_ns, n->period_ns, now);
	sched_push_from(t, n);
}

/* ---- plugin calls (the lock is dropped around them) -------------------------------------- */

void sched_call_enter(struct sched_thread *t, struct node *n)
{
	sched_call_enter_at(t, n, now_ns());
}

void sched_call_enter_at(struct sched_thread *t, struct node *n, uint64_t now)
{
	t->call_since_ns = now;
	if (n) {
		n->runner = t;
	}
	pthread_mutex_unlock(&t->s->lock);
}

void sched_call_leave(struct sched_thread *t, struct node *n)
{
	pthread_mutex_lock(&t->s->lock);
	t->call_since_ns = 0;
	if (n) {
		n->runner = NULL;
	}
}

/* init on thread t; the node is scheduled if it succeeds. Lock held on entry and exit. */
int sched_start_node(struct sched_thread *t, struct node *n)
{
	int r;

	sched_call_enter(t, n);
	r = node_init(n);
	sched_call_leave(t, n);
	if (r < 0) {
		log_err("node %s: init failed: %s; not ticking it", n->name, strerror(-r));
		return r;
	}
	if (n->zombie) {
		sched_settle_zombie(t, n); /* hung in init and replaced meanwhile */
		return -ETIMEDOUT;
	}
	if (n->stop_on_return) {
		n->stop_on_return = false;
		sched_stop_node(t, n, NODE_STOPPED);
		return -ECANCELED;
	}
	log_info("node %s: started (plugin %s, %.3g Hz, deadline %.3g ms, watchdog %.3g ms)",
		 n->name, n->plugin->name, n->conf.rate_hz, n->conf.deadline_ns / 1e6,
		 n->conf.watchdog_ns / 1e6);
	sched_schedule_from_now(t, n);
	return 0;
}

void sched_stop_node(struct sched_thread *t, struct node *n, uint32_t final_state)
{
	sched_heap_remove(n);
	sched_release_lane(n);
	sched_forget_io(t->s, n);
	if (n->inited || n->n_pubs || n->n_subs) {
		sched_call_enter(t, n);
		node_fini(n);
		sched_call_leave(t, n);
	}
	atomic_store(&n->state, final_state);
}

/* A hung node that was replaced or removed has returned from its call: finish it off. */
void sched_settle_zombie(struct sched_thread *t, struct node *n)
{
	struct sched *s = t->s;

	log_info("node %s: the hung call returned after %.1f ms; finishing the old instance",
		 n->name, (now_ns() - atomic_load(&n->call_since_ns)) / 1e6);
	atomic_store(&n->call_since_ns, 0);
	sched_call_enter(t, NULL);
	node_fini(n);
	sched_call_leave(t, NULL);
	{
		struct node *live = sched_find_node(s, n->name);

		if (live && live->stuck_instances) {
			live->stuck_instances--; /* its successor may be restarted again */
		}
	}
	for (size_t i = 0; i < s->n_zombies; i++) {
		if (s->zombies[i] == n) {
			s->zombies[i] = s->zombies[--s->n_zombies];
			break;
		}
	}
	node_destroy(n);
}

/* ---- one tick ---------------------------------------------------------------------------- */

void sched_update_state_now(struct node *n, uint64_t now)
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
	if (atomic_load_explicit(&n->state, memory_order_relaxed) != st) {
		atomic_store(&n->state, st); /* a locked instruction: only when it changes */
	}
}

void sched_breaker_failure(struct node *n, uint64_t now, bool io)
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

/*
 * Runs one due tick of n (already popped from the heap). Lock held on entry and exit. Returns a
 * time read during the call (its end when it ran), no later than now: run_due's next "is the
 * top due?" needs no clock read of its own when the answer is yes.
 */
static uint64_t tick_one(struct sched_thread *t, struct node *n)
{
	uint64_t start = now_ns(), end, dur, suppressed;
	int r;

	if (atomic_load(&n->circuit) == CIRCUIT_OPEN) {
		if (start < n->open_until_ns) {
			atomic_fetch_add(&n->c.skipped, 1);
			sched_reschedule(t, n, start);
			sched_push_from(t, n);
			return start;
		}
		atomic_store(&n->circuit, CIRCUIT_HALF_OPEN); /* this tick is the trial */
	}
	if (n->skip_next) {
		n->skip_next = false;
		atomic_fetch_add(&n->c.skipped, 1);
		sched_reschedule(t, n, start);
		sched_push_from(t, n);
		return start;
	}
	n->tick_time_ns = n->due_ns;
	atomic_store_explicit(&n->call_since_ns, start, memory_order_relaxed);
	sched_call_enter_at(t, n, start);
	r = n->plugin->ops.tick(n->ctx);
	end = now_ns();
	t->aside_ns += end - start; /* the tick's own time (tick_us), not the lane's */
	t->run_ticks++;
	sched_call_leave(t, n);
	if (n->zombie) {
		sched_settle_zombie(t, n);
		return end;
	}
	atomic_store_explicit(&n->call_since_ns, 0, memory_order_relaxed);
	if (n->stop_on_return) {
		/* on_watchdog = stop after a hang, or a shutdown that came during the call. */
		n->stop_on_return = false;
		log_info("node %s: its call returned; stopping it as asked", n->name);
		sched_stop_node(t, n, NODE_STOPPED);
		return end;
	}
	dur = end - start;
	hist_record(&n->tick_hist, dur);
	hist_record(&n->late_hist, start > n->due_ns ? start - n->due_ns : 0);
	atomic_store_explicit(&n->c.ticks,
			      atomic_load_explicit(&n->c.ticks, memory_order_relaxed) + 1,
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
			sched_stop_node(t, n, NODE_STOPPED);
			return end;
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
		sched_breaker_failure(n, end, false);
	} else {
		breaker_success(n);
	}
	sched_update_state_now(n, end);
	sched_reschedule(t, n, end);
	sched_push_from(t, n);
	return end;
}

/* ---- tick threads ------------------------------------------------------------------------ */

/*
 * Sets the timerfd for the heap's top. It is armed periodic, with the top's period: when the
 * next wake-up is one period after this one (nodes on one grid), the kernel re-arms it as it
 * fires and no timerfd_settime is needed, which on a virtual machine costs 5-25 us a call
 * (reprogramming the local timer exits to the hypervisor). Any other deadline re-arms it.
 */
static void arm(struct sched_thread *t)
{
	struct itimerspec its = {0};
	uint64_t at = 0, interval = 0;

	if (t->heap_len) {
		struct node *top = t->heap[0];

		at = top->due_ns > top->conf.spin_ns ? top->due_ns - top->conf.spin_ns : 1;
		interval = top->period_ns;
	}
	if (at == t->armed_ns) {
		return; /* already set for it, by us or by the period */
	}
	t->armed_ns = at;
	t->interval_ns = interval;
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	its.it_interval.tv_sec = (time_t)(interval / 1000000000ull);
	its.it_interval.tv_nsec = (long)(interval % 1000000000ull);
	timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

#define LANE_COALESCE_NS (50ull * 1000)

static bool due_by(const struct node *n, uint64_t now)
{
	return n->due_ns <= now + n->conf.spin_ns || n->due_ns <= now + LANE_COALESCE_NS;
}

/* Runs the commands queued for the active lane; their time is not the lane's dispatch. */
static void run_commands(struct sched_thread *t)
{
	uint64_t from;

	if (t != t->s->active || !t->s->cmd_head) {
		return;
	}
	from = now_ns();
	sched_run_commands(t);
	t->aside_ns += now_ns() - from;
}

/*
 * Takes the timer's expiry. Reading a periodic timerfd is where the kernel re-arms it, at the
 * first point of its period after now (`expirations` periods on); a one-shot timer is spent.
 * The re-arm programs the timer hardware, which on a virtual machine is a hypervisor exit
 * (8 us at p50 on the development VM): so it comes after the ticks, not before them, and it is
 * the wake-up's cost, not dispatch (the floor of horus-bench scheduler pays the same in its
 * timerfd_settime).
 */
static void take_expiry(struct sched_thread *t)
{
	uint64_t expirations = 0;

	if (read(t->tfd, &expirations, sizeof(expirations)) == (ssize_t)sizeof(expirations) &&
	    expirations) {
		t->armed_ns = t->interval_ns ? t->armed_ns + expirations * t->interval_ns : 0;
	}
}

/*
 * Runs what is due, and times the lane's own part of it for dispatch_hist: from here to the
 * timer's part (take_expiry, arm), which is the wake-up's. fired: called for the timerfd, whose
 * expiry is taken before it is re-armed.
 */
static void run_due(struct sched_thread *t, bool fired)
{
	struct sched *s = t->s;
	uint64_t woke = now_ns(), now;

	pthread_mutex_lock(&s->lock);
	t->aside_ns = 0;
	t->run_ticks = 0;
	run_commands(t);
	sched_run_io(t);
	now = now_ns();
	while (!s->stopping && t->heap_len) {
		struct node *n = t->heap[0];

		/*
		 * Due within LANE_COALESCE_NS: wait for it here rather than re-arm the timer and
		 * sleep. Programming a deadline a few microseconds away costs 10-25 us on a virtual
		 * machine, more than the wait itself. `now` may be the end of the last tick: if the
		 * top is not due by then, look at the clock again before deciding.
		 */
		if (!due_by(n, now) && !due_by(n, now = now_ns())) {
			break;
		}
		sched_heap_remove(n);
		if (n->due_ns > now) {
			/*
			 * spin_us: busy-wait the last stretch for a tighter start than a wake-up.
			 * Waiting for a deadline is the timer's part, like a sleep: set aside.
			 */
			uint64_t from = now;

			pthread_mutex_unlock(&s->lock);
			while ((now = now_ns()) < n->due_ns) {
				cpu_relax();
			}
			t->aside_ns += now - from;
			pthread_mutex_lock(&s->lock);
		}
		now = tick_one(t, n);
		run_commands(t);
		sched_run_io(t);
	}
	if (t->run_ticks) {
		uint64_t spent = now_ns() - woke;

		spent = spent > t->aside_ns ? spent - t->aside_ns : 0;
		hist_record(&s->dispatch_hist, spent / t->run_ticks);
		atomic_fetch_add_explicit(&s->dispatches, t->run_ticks, memory_order_relaxed);
	}
	if (s->stopping || (t->retired && !t->owner)) {
		/* Stopping, or a dedicated lane whose node is gone: end the thread. */
		event_base_loopbreak(t->base);
	} else {
		if (fired) {
			take_expiry(t);
		}
		arm(t);
	}
	pthread_mutex_unlock(&s->lock);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_due(arg, true);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_due(arg, false);
}

void sched_thread_wake(struct sched_thread *t)
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

void sched_thread_free(struct sched_thread *t)
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

int sched_thread_start(struct sched *s, struct sched_thread **ret)
{
	struct sched_thread *t = calloc(1, sizeof(*t));
	int r = -ENOMEM;

	if (!t) {
		goto fail;
	}
	t->s = s;
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0) {
		r = -errno;
		goto fail;
	}
	/*
	 * No EVENT_BASE_FLAG_PRECISE_TIMER: the lane's deadlines are its own timerfd, and the flag
	 * would make libevent disarm a timerfd of its own on every turn of the loop, a syscall a
	 * wake-up for nothing.
	 */
	t->base = event_base_new();
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
	*ret = t;
	return 0;
fail:
	if (t) {
		t->tfd = t->tfd > 0 ? t->tfd : -1;
		sched_thread_free(t);
	}
	return r;
}

/* Joins and frees retired threads that have exited. Lock held. */
void sched_reap_threads(struct sched *s)
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
		sched_thread_free(t);
	}
}
