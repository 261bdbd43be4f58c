/* SPDX-License-Identifier: MIT */
/*
 * I/O completions: how a resolved job reaches its node's tick thread.
 *
 * A pool announces a node (sched_io_notify) from a worker or the watcher, with none of its own
 * locks held, once until the node has drained its resolved jobs (see pool.h). Announcements go
 * into the scheduler's mailbox, which has a lock of its own, held for one append or one swap:
 * a worker never waits for the scheduler's lock, which a tick thread holds for all but its
 * plugin calls. The first announcement since the last look wakes the active lane, which moves
 * the mailbox into io_ready (each node checked against the live ones first). Each node's own
 * thread then hands its resolved jobs over, between ticks (sched_run_io): counters, the breaker,
 * on_done callbacks.
 */

#include <stdlib.h>

#include "sched-internal.h"

/* ---- the mailbox (its own lock) ----------------------------------------------------------- */

void sched_mail_init(struct sched *s)
{
	pthread_mutexattr_t ma;

	/* Held for an append or a swap: contenders spin briefly rather than sleep. */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&s->mail.lock, &ma);
	pthread_mutexattr_destroy(&ma);
}

void sched_mail_fini(struct sched *s)
{
	pthread_mutex_destroy(&s->mail.lock);
	free(s->mail.v);
	free(s->mail.spare);
}

void sched_mail_set_lane(struct sched *s, struct sched_thread *t)
{
	struct io_mailbox *m = &s->mail;

	pthread_mutex_lock(&m->lock);
	m->lane = t;
	if (t && m->woken) {
		sched_thread_wake(t); /* the old lane may be stuck before it looked */
	}
	pthread_mutex_unlock(&m->lock);
}

/* From a worker or the watcher, no lock held: node n has resolved jobs. */
void sched_io_notify(void *userdata, struct node *n)
{
	struct io_mailbox *m = &((struct sched *)userdata)->mail;

	pthread_mutex_lock(&m->lock);
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 32;
		struct node **v = realloc(m->v, cap * sizeof(*v));

		if (v) {
			m->v = v;
			m->cap = cap;
		}
	}
	if (m->n < m->cap) {
		m->v[m->n++] = n;
	} else {
		m->lost = true; /* every node with a pool is looked at instead */
	}
	atomic_store_explicit(&m->full, true, memory_order_relaxed);
	if (!m->woken && m->lane) {
		m->woken = true;
		sched_thread_wake(m->lane);
	}
	pthread_mutex_unlock(&m->lock);
}

/* The lane that runs n's calls: its dedicated lane if it has one, else the active lane. */
static struct sched_thread *lane_of(struct sched *s, struct node *n)
{
	return n->lane && n->lane->owner == n ? n->lane : s->active;
}

/*
 * Puts n on io_ready and wakes the thread that runs it, unless that is `self`, which is about
 * to look. Lock held.
 */
static void io_ready_add(struct sched *s, struct node *n, struct sched_thread *self)
{
	struct sched_thread *lane;

	if (n->io_ready) {
		return;
	}
	if (s->n_io_ready == s->io_ready_cap) {
		size_t cap = s->io_ready_cap ? 2 * s->io_ready_cap : 32;
		struct node **a = realloc(s->io_ready, cap * sizeof(*a));

		if (!a) {
			/* The pool announces a node once until it drained its jobs: rather than
			 * lose the announcement, the watcher tries again (sched_io_retry). */
			s->io_retry = true;
			return;
		}
		s->io_ready = a;
		s->io_ready_cap = cap;
	}
	n->io_ready = true;
	s->io_ready[s->n_io_ready++] = n;
	lane = lane_of(s, n);
	if (lane != self) {
		sched_thread_wake(lane);
	}
}

static void add_every_pool_node(struct sched *s, struct sched_thread *self)
{
	for (size_t i = 0; i < s->n_nodes; i++) {
		if (s->nodes[i]->pool) {
			io_ready_add(s, s->nodes[i], self);
		}
	}
}

/* The announcements since the last look, into io_ready. Lock held. */
static void take_mail(struct sched_thread *t)
{
	struct sched *s = t->s;
	struct io_mailbox *m = &s->mail;
	struct node **v;
	size_t n, cap;
	bool lost;

	if (!atomic_load_explicit(&m->full, memory_order_relaxed)) {
		return;
	}
	pthread_mutex_lock(&m->lock);
	v = m->v;
	n = m->n;
	cap = m->cap;
	lost = m->lost;
	m->v = m->spare;
	m->cap = m->spare_cap;
	m->n = 0;
	m->spare = v;
	m->spare_cap = cap;
	m->lost = false;
	m->woken = false;
	atomic_store_explicit(&m->full, false, memory_order_relaxed);
	pthread_mutex_unlock(&m->lock);

	for (size_t i = 0; i < n; i++) {
		/* Stopped and freed since it was announced? Compare before touching it. */
		if (sched_find_node_ptr(s, v[i])) {
			io_ready_add(s, v[i], t);
		}
	}
	if (lost) {
		add_every_pool_node(s, t);
	}
}

/* From the watcher, lock held: every node is looked at after an announcement was lost. */
void sched_io_retry(struct sched *s)
{
	if (s->io_retry) {
		s->io_retry = false;
		add_every_pool_node(s, NULL);
	}
}

/* ---- handing jobs over, on the node's thread ------------------------------------------------ */

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
		sched_breaker_failure(n, now, true);
	} else if (st == HORUS_FUTURE_DONE) {
		n->consecutive_io_failures = 0;
		if (n->breaker_io && atomic_load(&n->circuit) == CIRCUIT_HALF_OPEN) {
			atomic_store(&n->circuit, CIRCUIT_CLOSED);
			n->breaker_io = false;
			n->cooldown_ns = n->conf.circuit_cooldown_ns;
			log_info("node %s: trial I/O succeeded; circuit closed", n->name);
		}
	}
	sched_update_state_now(n, now);
}

/*
 * At most this many resolved jobs are handed over in one pass: a node whose callback submits
 * its next job, which a worker finishes before the callback returns, would otherwise keep the
 * thread here and its timers waiting.
 */
#define RUN_IO_BUDGET 256u

/*
 * After handing jobs over, the active lane waits this long for the next announcement before it
 * goes back to its event loop, unless a tick is due within it: with short jobs in flight the
 * next one resolves within microseconds, and a sleep costs both sides a wake-up (a futex or an
 * eventfd write, a context switch) longer than the job. Announcements meanwhile wake nobody.
 */
#define IO_LINGER_NS (20ull * 1000)

/* Hands over what io_ready holds for t. Returns how many jobs, or -1 when out of budget. */
static long hand_over(struct sched_thread *t, unsigned *budget)
{
	struct sched *s = t->s;
	long handed = 0;

	for (size_t i = 0; i < s->n_io_ready;) {
		struct node *n = s->io_ready[i];
		struct horus_future *f;
		void (*cb)(void *, struct horus_future *);
		uint32_t st;

		if (lane_of(s, n) != t || n->runner) {
			i++;
			continue; /* another thread's node, or inside a call: later */
		}
		s->io_ready[i] = s->io_ready[--s->n_io_ready];
		n->io_ready = false;
		while (n->inited && n->pool && pool_next_done(n->pool, &n->io, &f, &st, &cb)) {
			handed++;
			io_outcome(n, st);
			if (cb) {
				sched_call_enter(t, n);
				cb(n->ctx, f);
				sched_call_leave(t, n);
				if (n->zombie) {
					sched_settle_zombie(t, n);
					break;
				}
			}
			if (--*budget == 0) {
				if (n->inited) {
					/* The rest after the timers had their turn. */
					io_ready_add(s, n, t);
					sched_thread_wake(t);
				}
				return -1;
			}
		}
		i = 0; /* the list may have changed while unlocked */
	}
	return handed;
}

/*
 * Waits up to IO_LINGER_NS for an announcement, with the scheduler's lock dropped. True if one
 * came. Lock held on entry and exit.
 */
static bool linger(struct sched_thread *t)
{
	struct sched *s = t->s;
	struct io_mailbox *m = &s->mail;
	uint64_t now = now_ns(), until = now + IO_LINGER_NS;
	bool got;

	if (t != s->active || s->stopping || s->cmd_head) {
		return false;
	}
	if (t->heap_len) {
		const struct node *top = t->heap[0];

		if (top->due_ns < until + top->conf.spin_ns) {
			return false; /* a tick comes first */
		}
	}
	pthread_mutex_lock(&m->lock);
	got = atomic_load_explicit(&m->full, memory_order_relaxed);
	m->woken = true; /* awake and looking: announcements need not wake this thread */
	pthread_mutex_unlock(&m->lock);
	if (got) {
		return true;
	}
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 1; !atomic_load_explicit(&m->full, memory_order_relaxed); i++) {
		cpu_relax();
		if (i % 32 == 0 && now_ns() > until) {
			break;
		}
	}
	pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&m->lock);
	got = atomic_load_explicit(&m->full, memory_order_relaxed);
	if (!got) {
		m->woken = false; /* back to sleep: the next announcement wakes it */
	}
	pthread_mutex_unlock(&m->lock);
	return got;
}

void sched_run_io(struct sched_thread *t)
{
	unsigned budget = RUN_IO_BUDGET;
	uint64_t from;
	long handed;

	if (!atomic_load_explicit(&t->s->mail.full, memory_order_relaxed) && !t->s->n_io_ready) {
		return; /* nothing announced: the check is part of every tick's dispatch */
	}
	from = now_ns();
	do {
		take_mail(t);
		handed = t->s->n_io_ready ? hand_over(t, &budget) : 0;
	} while (handed > 0 && linger(t));
	t->aside_ns += now_ns() - from; /* I/O completions, not tick dispatch */
}
