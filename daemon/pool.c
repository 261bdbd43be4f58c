/* SPDX-License-Identifier: MIT */
/*
 * Worker pools and futures. See pool.h.
 *
 * Who touches what:
 *   - a submit takes no lock: it reserves a place (queued, atomic) and pushes the job onto the
 *     pool's inbox, a lock-free stack; whoever holds the lock moves the inbox to the queue;
 *   - the pool's mutex guards its queue, its workers, every job's place in the queue and its
 *     resolution (state, result); a resolved job goes onto its node's done stack, lock-free,
 *     which the node's thread takes whole;
 *   - a node's own jobs (io->owned, an array of pointers that a look-up compares and never
 *     follows, so a stale or foreign pointer is refused without being touched) and the batch of
 *     resolved jobs it is handing over (io->batch) are touched only by the node's calls (init,
 *     tick, on_done, fini), which never run at once: so take, state, error and the release of
 *     a resolved job need no lock;
 *   - a job is freed by whichever comes last of its worker finishing (F_FINISHED) and its node
 *     releasing it (F_RELEASED): one atomic OR decides.
 *
 * Wake-ups are the cost of a pool (a futex wake and a context switch are microseconds on a VM,
 * an empty job is nanoseconds), so the pool wakes as few threads as keep every job moving:
 *   - an idle worker sleeps on its own condition variable, on a stack (the most recently idle,
 *     and so warmest, worker is woken first), and is woken by name: no thundering herd;
 *   - a job submitted while some worker is awake and free (spinning, just woken, or between
 *     two jobs) wakes nobody: that worker looks at the inbox and the queue before it sleeps or
 *     takes a job (free_publish says why none is missed);
 *   - a worker that takes a job while more are queued and no other worker is free wakes one
 *     more; so a burst of blocking jobs fans out over the workers one wake-up at a time, and a
 *     burst of short jobs is drained by the first worker before the next one is even up;
 *   - a worker out of work spins for POOL_SPIN_NS before it sleeps, one worker per pool at a
 *     time, so a node that submits its next job from the previous one's callback finds it awake;
 *   - the node's thread is told of a resolved job only when none of its jobs was already
 *     waiting to be seen (it drains them all in one pass).
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu-relax.h"
#include "node.h"
#include "pool.h"

struct horus_future {
	struct horus_io_request req;
	struct node *node; /* NULL once the node let go of its jobs (stopped) */
	struct node_io *io;
	_Atomic uint32_t state; /* enum horus_future_state */
	bool queued;
	bool running;
	_Atomic uint32_t flags; /* F_FINISHED, F_RELEASED */
	_Atomic bool in_done;	/* on its node's done stack or batch: set before state is */
	bool taken;		/* the node's calls only */
	bool dropped;		/* released while on the done stack: let go of when it comes out */
	int result;
	char msg[POOL_MSG_MAX];
	uint64_t submit_ns;
	uint64_t deadline_ns;	    /* 0: no timeout */
	_Atomic unsigned *pin;	    /* held on the plugin's code until the job is over */
	struct horus_future *qnext; /* pool queue */
	struct horus_future *dnext; /* node's done list */
};

enum {
	F_FINISHED = 1u << 0, /* fn returned, or will never run: no worker touches it again */
	F_RELEASED = 1u << 1, /* the node gave it back (or let go of all its jobs) */
	F_GONE = F_FINISHED | F_RELEASED,
};

/* Marks f finished or released. True for the mark that completes both: f is the caller's to
 * dispose of. */
static bool mark(struct horus_future *f, uint32_t bit)
{
	uint32_t old = atomic_fetch_or_explicit(&f->flags, bit, memory_order_acq_rel);

	return !(old & bit) && (old | bit) == F_GONE;
}

/* A worker's or the watcher's mark. */
static void mark_free(struct horus_future *f, uint32_t bit)
{
	if (mark(f, bit)) {
		free(f);
	}
}

/*
 * The node's calls only: a future done with goes on the node's short list of spares, for its
 * next submit (no malloc, no free, no zeroing of fresh memory each job).
 */
#define SPARES_MAX 16

static void mark_recycle(struct node_io *io, struct horus_future *f, uint32_t bit)
{
	if (!mark(f, bit)) {
		return;
	}
	if (io->n_spare < SPARES_MAX) {
		f->dnext = io->spare;
		io->spare = f;
		io->n_spare++;
	} else {
		free(f);
	}
}

static struct horus_future *future_new(struct node_io *io)
{
	struct horus_future *f = io->spare;

	if (!f) {
		return calloc(1, sizeof(*f));
	}
	io->spare = f->dnext;
	io->n_spare--;
	memset(f, 0, sizeof(*f));
	return f;
}

struct worker {
	struct pool *pool;
	pthread_t tid;
	struct horus_future *job;
	bool stuck;
	bool woken; /* taken off the idle stack by wake_one()/wake_all() */
	pthread_cond_t wake;
	struct worker *idle_next;
	struct worker *next;
	/* The job it finished last, whose accounting and release wait for the lock to be
	 * dropped (worker_flush): the lock is held only for what the queue needs. */
	struct horus_future *fin;
	uint32_t fin_state; /* HORUS_FUTURE_PENDING: resolved before, by the watcher */
	uint64_t fin_latency;
};

struct pool {
	char name[64];
	pthread_mutex_t lock;
	pthread_cond_t gone; /* a worker left */
	uint32_t target;
	uint32_t queue_cap;
	uint32_t live;
	uint32_t stuck;
	_Atomic uint32_t queued; /* jobs submitted and not yet taken by a worker (inbox + queue) */
	_Atomic uint32_t free_hint; /* free_awake(), for a submit that does not take the lock */
	uint32_t running;
	uint32_t n_idle; /* workers asleep on the idle stack */
	bool spinning;	 /* one worker is spinning for work */
	_Atomic bool stopping;
	/* Submitted jobs, newest first: a submit pushes without the lock; whoever holds the lock
	 * moves them to the queue (absorb). */
	_Atomic(struct horus_future *) inbox;
	struct horus_future *qhead, *qtail;
	struct worker *workers;
	struct worker *idle; /* the idle stack */
	pool_notify_fn notify;
	void *userdata;
	struct pool_counters c;
	struct hist latency;
};

/* Things to do once the lock is dropped: user callbacks never run under it. */
#define AFTER_MAX 16

struct after {
	struct node *notify[AFTER_MAX];
	unsigned n_notify;
	void (*arg_free[AFTER_MAX])(void *);
	void *arg[AFTER_MAX];
	_Atomic unsigned *pin[AFTER_MAX];
	unsigned n_free;
};

static bool after_full(const struct after *a)
{
	return a->n_notify == AFTER_MAX || a->n_free == AFTER_MAX;
}

static void after_notify(struct after *a, struct node *n)
{
	for (unsigned i = 0; i < a->n_notify; i++) {
		if (a->notify[i] == n) {
			return;
		}
	}
	a->notify[a->n_notify++] = n; /* callers flush before it can be full */
}

/*
 * The job is over for good: its arg_free runs, then its pin on the plugin's code is dropped.
 * Exactly once per job. Callers flush before `a` is full.
 */
static void after_free(struct after *a, struct horus_future *f)
{
	if (!f->req.arg_free) {
		if (f->pin) {
			/* No plugin code left to run for this job: drop the pin now. */
			atomic_fetch_sub_explicit(f->pin, 1, memory_order_release);
			f->pin = NULL;
		}
		return;
	}
	a->arg_free[a->n_free] = f->req.arg_free;
	a->arg[a->n_free] = f->req.arg;
	a->pin[a->n_free++] = f->pin;
	f->req.arg_free = NULL;
	f->pin = NULL;
}

static void after_run(struct pool *p, struct after *a)
{
	for (unsigned i = 0; i < a->n_free; i++) {
		if (a->arg_free[i]) {
			a->arg_free[i](a->arg[i]);
		}
		if (a->pin[i]) {
			/* Last: the plugin's code may be unloaded once this reaches zero. */
			atomic_fetch_sub_explicit(a->pin[i], 1, memory_order_release);
		}
	}
	for (unsigned i = 0; i < a->n_notify; i++) {
		p->notify(p->userdata, a->notify[i]);
	}
	memset(a, 0, sizeof(*a));
}

/*
 * The pool's lock is held for tens of nanoseconds at a time, by a node's thread submitting and
 * a worker taking or finishing a job. Sleeping in the kernel on it costs a wake-up on both
 * sides (microseconds), so a contender spins up to POOL_LOCK_SPIN_NS first.
 */
#define POOL_LOCK_SPIN_NS 5000ull

static void pool_lock(struct pool *p)
{
	uint64_t until = 0;

	/* Backing off between tries: every failed try takes the lock's cache line from its
	 * holder, who needs it to unlock. */
	for (unsigned i = 1, pause = 1; pthread_mutex_trylock(&p->lock) != 0; i++) {
		for (unsigned k = 0; k < pause; k++) {
			cpu_relax();
		}
		if (pause < 64) {
			pause *= 2;
		}
		if (i % 8 == 0) {
			uint64_t now = now_ns();

			if (!until) {
				until = now + POOL_LOCK_SPIN_NS;
			} else if (now > until) {
				pthread_mutex_lock(&p->lock);
				return;
			}
		}
	}
}

/* ---- helpers (lock held) ----------------------------------------------------------------- */

/*
 * A counter with one writer at a time (under the pool's lock, or the node's own calls), read
 * without a lock (pool_get_info, node info): a relaxed load and store, no locked add. Counters
 * that several threads bump at once use atomic adds.
 */
static void count(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* The node's submits add without the lock; resolutions take away under it. */
static void pending_add(struct node_io *io, int delta)
{
	atomic_fetch_add_explicit(&io->pending, (uint32_t)delta, memory_order_relaxed);
}

/* Submits add without the lock, lock holders take away. */
static void queued_add(struct pool *p, int delta)
{
	atomic_fetch_add_explicit(&p->queued, (uint32_t)delta, memory_order_relaxed);
}

/*
 * Moves the inbox to the end of the queue, oldest first. Lock held. The look is sequentially
 * consistent: see free_publish.
 */
static void absorb(struct pool *p)
{
	struct horus_future *f, *tail, *rev = NULL;

	if (!atomic_load(&p->inbox)) {
		return;
	}
	f = atomic_exchange_explicit(&p->inbox, NULL, memory_order_acquire);
	tail = f; /* the newest: last once reversed */
	while (f) {
		struct horus_future *next = f->qnext;

		f->qnext = rev;
		rev = f;
		f = next;
	}
	if (!rev) {
		return;
	}
	if (p->qtail) {
		p->qtail->qnext = rev;
	} else {
		p->qhead = rev;
	}
	p->qtail = tail;
}

static bool surplus(const struct pool *p)
{
	return p->live - p->stuck > p->target;
}

static void queue_remove(struct pool *p, struct horus_future *f)
{
	for (struct horus_future **pp = &p->qhead; *pp; pp = &(*pp)->qnext) {
		if (*pp == f) {
			*pp = f->qnext;
			if (p->qtail == f) {
				p->qtail = NULL;
				for (struct horus_future *q = p->qhead; q; q = q->qnext) {
					p->qtail = q;
				}
			}
			f->qnext = NULL;
			f->queued = false;
			queued_add(p, -1);
			return;
		}
	}
}

/* Where f is in the node's jobs, or -1. The node's calls only; f is never dereferenced. */
static ssize_t owned_index(const struct node_io *io, const struct horus_future *f)
{
	for (size_t i = 0; i < io->n_owned; i++) {
		if (io->owned[i] == f) {
			return (ssize_t)i;
		}
	}
	return -1;
}

static bool owns(const struct node_io *io, const struct horus_future *f)
{
	return owned_index(io, f) >= 0;
}

/* Takes f out of the node's jobs. The node's calls only. */
static void unlink_job(struct node_io *io, struct horus_future *f)
{
	ssize_t i = owned_index(io, f);

	if (i >= 0) {
		io->owned[i] = io->owned[--io->n_owned];
	}
}

/* Room for one more job in the node's array. The node's calls only. */
static int owned_reserve(struct node_io *io)
{
	if (io->n_owned == io->cap_owned) {
		size_t cap = io->cap_owned ? 2 * io->cap_owned : 16;
		struct horus_future **a = realloc(io->owned, cap * sizeof(*a));

		if (!a) {
			return -ENOMEM;
		}
		io->owned = a;
		io->cap_owned = cap;
	}
	return 0;
}

/*
 * Takes f off the node's batch. True if it was there, or not waiting at all; false if it is
 * still on the done stack, from which nothing can be taken but the whole: it is then marked
 * dropped, and let go of when it comes out (pool_next_done). The node's calls only.
 */
static bool unlink_done(struct node_io *io, struct horus_future *f)
{
	if (!atomic_load_explicit(&f->in_done, memory_order_relaxed)) {
		return true;
	}
	for (struct horus_future **pp = &io->batch; *pp; pp = &(*pp)->dnext) {
		if (*pp == f) {
			*pp = f->dnext;
			atomic_store_explicit(&f->in_done, false, memory_order_relaxed);
			return true;
		}
	}
	f->dropped = true;
	return false;
}

/* The pool's counters and latency for a job resolved `latency` ns after its submit. Any lock. */
static void account(struct pool *p, uint32_t state, uint64_t latency)
{
	_Atomic uint64_t *c = state == HORUS_FUTURE_DONE	? &p->c.completed
			      : state == HORUS_FUTURE_FAILED	? &p->c.failed
			      : state == HORUS_FUTURE_TIMED_OUT ? &p->c.timed_out
								: &p->c.cancelled;

	hist_record_shared(&p->latency, latency);
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/*
 * Gives f its outcome; the node hears of it through the done list and a notification. The
 * caller accounts for it (account). Lock held.
 */
static void resolve(struct horus_future *f, uint32_t state, int result, struct after *a)
{
	struct node_io *io = f->io;
	struct node *node = f->node;
	uintptr_t old;

	f->result = result;
	if (io) {
		/* Before the state: the node reads state first, and then knows where f is. */
		atomic_store_explicit(&f->in_done, true, memory_order_relaxed);
	}
	atomic_store_explicit(&f->state, state, memory_order_release);
	if (!io) {
		return; /* its node is gone */
	}
	pending_add(io, -1);
	if (state == HORUS_FUTURE_DONE) {
		count(&io->completed);
	} else if (state == HORUS_FUTURE_FAILED) {
		count(&io->failed);
	} else if (state == HORUS_FUTURE_TIMED_OUT) {
		count(&io->timed_out);
	}
	/*
	 * Onto the node's done stack, without its thread's lock, marked told: pool_next_done takes
	 * it whole. f is the node's the moment it is on: only `old` is read after.
	 */
	old = atomic_load_explicit(&io->done, memory_order_relaxed);
	do {
		f->dnext = (struct horus_future *)(old & ~DONE_TOLD);
	} while (!atomic_compare_exchange_weak(&io->done, &old, (uintptr_t)f | DONE_TOLD));
	if (!(old & DONE_TOLD)) {
		after_notify(a, node); /* the first since the node drained */
	}
}

/*
 * The error a failed job reports through future_take. Codes that take uses for its own answers
 * (-EAGAIN pending, -EALREADY taken, -EINVAL not ours) and values that are no errno become -EIO,
 * with the original named in the message, so that a failure never reads as something else.
 */
static int job_error(struct horus_future *f, int r)
{
	if (r >= -4095 && r != -EAGAIN && r != -EALREADY && r != -EINVAL) {
		return r;
	}
	if (!f->msg[0]) {
		snprintf(f->msg, sizeof(f->msg), "the job failed with %s",
			 r >= -4095 ? strerror(-r) : "an invalid error code");
	}
	return -EIO;
}

/* ---- workers ----------------------------------------------------------------------------- */

/* Workers awake and not inside a job: each looks at the queue before it sleeps. Lock held. */
static uint32_t free_awake(const struct pool *p)
{
	return p->live - p->running - p->n_idle;
}

/*
 * Publishes free_awake() for submits, after any change of live, running or n_idle. A submit
 * pushes onto the inbox, then reads this, and wakes a worker only if it reads 0. So a worker that
 * stops being free (takes a job, goes idle, leaves) publishes first and then looks at the inbox,
 * both sequentially consistent, as the submit's push and read are: if the submit read the stale
 * count, the worker sees its job, and the other way round.
 */
static void free_publish(struct pool *p)
{
	atomic_store(&p->free_hint, free_awake(p));
}

/*
 * The same when a worker became free: a submit that reads the older, lower count only wakes one
 * it need not have, so no fence is needed (the store is seen within nanoseconds).
 */
static void free_publish_more(struct pool *p)
{
	atomic_store_explicit(&p->free_hint, free_awake(p), memory_order_release);
}

/* Wakes the most recently idle worker, if any. Lock held. */
static void wake_one(struct pool *p)
{
	struct worker *w = p->idle;

	if (!w) {
		return;
	}
	p->idle = w->idle_next;
	p->n_idle--;
	free_publish_more(p);
	w->idle_next = NULL;
	w->woken = true;
	pthread_cond_signal(&w->wake);
}

/* Every idle worker looks again: to leave (stopping, fewer workers) or not. Lock held. */
static void wake_all(struct pool *p)
{
	while (p->idle) {
		wake_one(p);
	}
}

static bool must_leave(const struct pool *p)
{
	return atomic_load_explicit(&p->stopping, memory_order_relaxed) || surplus(p);
}

/*
 * What is left of the job w finished last, with no lock held: the pool's counters, its arg_free
 * and pin, the mark that lets it be freed, and the notifications.
 */
static void worker_flush(struct pool *p, struct worker *w, struct after *a)
{
	struct horus_future *f = w->fin;

	if (f) {
		w->fin = NULL;
		if (w->fin_state != HORUS_FUTURE_PENDING) {
			account(p, w->fin_state, w->fin_latency);
		}
		after_free(a, f);
		mark_free(f, F_FINISHED); /* the last touch: the node may free it from here on */
	}
	after_run(p, a);
}

/*
 * Out of work: spin a while if no other worker spins, then sleep on the idle stack until
 * woken. Returns with the lock held; the caller looks at the queue again.
 */
static void idle_wait(struct pool *p, struct worker *w)
{
	if (!p->spinning) {
		uint64_t until = now_ns() + POOL_SPIN_NS;
		unsigned i = 0;

		p->spinning = true;
		pthread_mutex_unlock(&p->lock);
		while (atomic_load_explicit(&p->queued, memory_order_relaxed) == 0) {
			cpu_relax();
			if (++i % 64 == 0) {
				if (now_ns() > until) {
					break;
				}
				/* Never spin in the way of a tick thread waiting for this CPU. */
				sched_yield();
			}
		}
		pool_lock(p);
		p->spinning = false;
		absorb(p);
		if (p->qhead || must_leave(p)) {
			return;
		}
	}
	w->woken = false;
	w->idle_next = p->idle;
	p->idle = w;
	p->n_idle++;
	free_publish(p);
	if (atomic_load(&p->inbox)) {
		/* Pushed by a submit that read free_hint before this worker went idle. */
		p->idle = w->idle_next;
		p->n_idle--;
		free_publish_more(p);
		return;
	}
	while (!w->woken) {
		pthread_cond_wait(&w->wake, &p->lock);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct after a = {0};

	pthread_setname_np(pthread_self(), "horus-pool");
	{
		/*
		 * SCHED_BATCH: a worker woken by a submit, or by a lock it waited for, does not
		 * preempt the thread that woke it. Tick threads are the ones on a clock.
		 */
		struct sched_param sp = {.sched_priority = 0};

		(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	}
	pool_lock(p);
	for (;;) {
		struct horus_future *f;
		uint64_t done_ns;
		int r;

		absorb(p);
		if (!p->qhead || must_leave(p)) {
			if (w->fin || a.n_free || a.n_notify) {
				pthread_mutex_unlock(&p->lock);
				worker_flush(p, w, &a);
				pool_lock(p);
				continue; /* and look again */
			}
			if (must_leave(p)) {
				break;
			}
			idle_wait(p, w);
			continue;
		}
		f = p->qhead;
		queue_remove(p, f);
		f->running = true;
		w->job = f;
		p->running++;
		free_publish(p);
		absorb(p);
		if (p->qhead && free_awake(p) == 0) {
			wake_one(p); /* more to do and nobody free to do it */
		}
		pthread_mutex_unlock(&p->lock);
		worker_flush(p, w, &a); /* the previous job's, outside the lock */

		/* The one place where node code runs on a worker: its blocking job. */
		f->msg[0] = '\0';
		r = f->req.fn(f->req.arg, f->msg, sizeof(f->msg));
		f->msg[sizeof(f->msg) - 1] = '\0';
		done_ns = now_ns();

		pool_lock(p);
		p->running--;
		free_publish_more(p);
		w->job = NULL;
		if (w->stuck) {
			w->stuck = false; /* back from a call it was given up on */
			p->stuck--;
		}
		f->running = false;
		w->fin = f;
		w->fin_state = HORUS_FUTURE_PENDING;
		w->fin_latency = done_ns - f->submit_ns;
		if (atomic_load(&f->state) == HORUS_FUTURE_PENDING) {
			/* A late result after a timeout is simply dropped. */
			w->fin_state = r < 0 ? HORUS_FUTURE_FAILED : HORUS_FUTURE_DONE;
			resolve(f, w->fin_state, r < 0 ? job_error(f, r) : r, &a);
		}
	}
	/* Leave: unlink ourselves. */
	for (struct worker **pp = &p->workers; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	p->live--;
	free_publish(p);
	absorb(p);
	if (p->qhead && free_awake(p) == 0) {
		wake_one(p); /* a submit counted on this worker while it was free */
	}
	pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
	return NULL;
}

/* Lock held. */
static int spawn_worker(struct pool *p)
{
	struct worker *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	int r;

	if (!w) {
		return -ENOMEM;
	}
	w->pool = p;
	pthread_cond_init(&w->wake, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&w->tid, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (r) {
		pthread_cond_destroy(&w->wake);
		free(w);
		return -r;
	}
	w->next = p->workers;
	p->workers = w;
	p->live++;
	free_publish_more(p);
	return 0;
}

/* ---- life -------------------------------------------------------------------------------- */

int pool_create(const char *name, uint32_t workers, uint32_t queue, pool_notify_fn notify,
		void *userdata, struct pool **ret)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p) {
		return -ENOMEM;
	}
	snprintf(p->name, sizeof(p->name), "%s", name);
	{
		/* Adaptive: the lock is held for nanoseconds, so a contender spins briefly
		 * instead of sleeping in the kernel. */
		pthread_mutexattr_t ma;

		pthread_mutexattr_init(&ma);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&p->lock, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	pthread_cond_init(&p->gone, NULL);
	p->notify = notify;
	p->userdata = userdata;
	*ret = p;
	pool_resize(p, workers, queue);
	return 0;
}

void pool_resize(struct pool *p, uint32_t workers, uint32_t queue)
{
	pool_lock(p);
	p->target = workers ? workers : 1;
	p->queue_cap = queue ? queue : 1;
	while (p->live - p->stuck < p->target) {
		if (spawn_worker(p) < 0) {
			break;
		}
	}
	wake_all(p); /* surplus workers leave */
	pthread_mutex_unlock(&p->lock);
}

void pool_destroy(struct pool *p, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;
	struct after a = {0};

	if (!p) {
		return;
	}
	pool_lock(p);
	atomic_store(&p->stopping, true);
	absorb(p);
	while (p->qhead) {
		struct horus_future *f = p->qhead;

		queue_remove(p, f);
		after_free(&a, f);
		mark_free(f, F_FINISHED);
		if (after_full(&a)) {
			pthread_mutex_unlock(&p->lock);
			after_run(p, &a);
			pool_lock(p);
		}
	}
	wake_all(p);
	while (p->live > p->stuck + (p->running - p->stuck)) {
		struct timespec ts;
		uint64_t left = deadline > now_ns() ? deadline - now_ns() : 0;

		if (!left) {
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(left / 1000000000ull);
		ts.tv_nsec += (long)(left % 1000000000ull);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->gone, &p->lock, &ts);
	}
	/* Workers still inside a job are left to finish it and exit on their own; the pool
	 * stays allocated for them. */
	bool busy = p->live > 0;
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	if (!busy) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->gone);
		free(p);
	}
}

const char *pool_name(const struct pool *p)
{
	return p->name;
}

/* ---- futures ----------------------------------------------------------------------------- */

int pool_submit(struct pool *p, struct node *n, struct node_io *io, uint32_t max_inflight,
		const struct horus_io_request *req, uint64_t timeout_ns, _Atomic unsigned *pin,
		struct horus_future **ret)
{
	struct horus_future *f;
	uint64_t now;
	bool busy;

	if (!req || !req->fn || !ret) {
		return -EINVAL;
	}
	f = future_new(io);
	if (!f || owned_reserve(io) < 0) {
		free(f);
		return -ENOMEM;
	}
	/* f is nobody else's yet: filled in before the lock, which guards only the queue. */
	now = now_ns();
	f->req = *req;
	f->node = n;
	f->io = io;
	f->submit_ns = now;
	if (req->timeout_ms) {
		timeout_ns = (uint64_t)req->timeout_ms * 1000000ull;
	}
	f->deadline_ns = timeout_ns ? now + timeout_ns : 0;
	f->queued = true;
	busy = atomic_load_explicit(&io->pending, memory_order_relaxed) >= max_inflight;
	if (!busy) {
		/* Take a place in the queue, and give it back if there was none. */
		busy = atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed) >=
			   p->queue_cap ||
		       atomic_load_explicit(&p->stopping, memory_order_relaxed);
		if (busy) {
			queued_add(p, -1);
		}
	}
	if (busy) {
		atomic_fetch_add_explicit(&p->c.refused, 1, memory_order_relaxed);
		atomic_store_explicit(&f->flags, F_FINISHED, memory_order_relaxed);
		mark_recycle(io, f, F_RELEASED);
		return -EBUSY;
	}
	f->pin = pin;
	if (pin) {
		atomic_fetch_add_explicit(pin, 1, memory_order_relaxed);
	}
	pending_add(io, 1);
	io->owned[io->n_owned++] = f;
	count(&io->submitted); /* the node's submits only */
	atomic_fetch_add_explicit(&p->c.submitted, 1, memory_order_relaxed);
	/* No lock: onto the inbox, which a worker (or any holder of the lock) moves to the queue.
	 */
	f->qnext = atomic_load_explicit(&p->inbox, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(&p->inbox, &f->qnext, f)) {
	}
	if (atomic_load(&p->free_hint) == 0) {
		/* Nobody awake and free to look: wake one (the lock only now). */
		pool_lock(p);
		absorb(p);
		if (p->qhead && free_awake(p) == 0) {
			wake_one(p);
		}
		pthread_mutex_unlock(&p->lock);
	}
	*ret = f;
	return 0;
}

int pool_future_state(struct pool *p, struct node_io *io, const struct horus_future *f)
{
	(void)p;
	return owns(io, f) ? (int)atomic_load_explicit(&f->state, memory_order_acquire) : -EINVAL;
}

int pool_future_take(struct pool *p, struct node_io *io, struct horus_future *f)
{
	int r;

	(void)p;
	if (!owns(io, f)) {
		return -EINVAL;
	}
	if (f->taken) {
		return -EALREADY;
	}
	switch (atomic_load_explicit(&f->state, memory_order_acquire)) {
	case HORUS_FUTURE_PENDING:
		return -EAGAIN;
	case HORUS_FUTURE_DONE:
	case HORUS_FUTURE_FAILED:
		r = f->result;
		break;
	case HORUS_FUTURE_TIMED_OUT:
		r = -ETIMEDOUT;
		break;
	default:
		r = -ECANCELED;
		break;
	}
	f->taken = true;
	return r;
}

const char *pool_future_error(struct pool *p, struct node_io *io, const struct horus_future *f)
{
	(void)p;
	return owns(io, f) &&
		       atomic_load_explicit(&f->state, memory_order_acquire) == HORUS_FUTURE_FAILED
		   ? f->msg
		   : "";
}

int pool_future_cancel(struct pool *p, struct node_io *io, struct horus_future *f)
{
	struct after a = {0};
	int r;

	if (!owns(io, f)) {
		return -EINVAL;
	}
	pool_lock(p);
	absorb(p); /* f may still be in the inbox */
	if (atomic_load(&f->state) != HORUS_FUTURE_PENDING) {
		r = -EALREADY;
	} else if (f->running) {
		r = -EBUSY;
	} else {
		queue_remove(p, f);
		resolve(f, HORUS_FUTURE_CANCELLED, -ECANCELED, &a);
		account(p, HORUS_FUTURE_CANCELLED, now_ns() - f->submit_ns);
		after_free(&a, f);
		mark_free(f, F_FINISHED); /* the node still holds it */
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return r;
}

int pool_future_release(struct pool *p, struct node_io *io, struct horus_future *f)
{
	struct after a = {0};

	if (!owns(io, f)) {
		return -EINVAL;
	}
	unlink_job(io, f);
	if (atomic_load_explicit(&f->state, memory_order_acquire) != HORUS_FUTURE_PENDING &&
	    !atomic_load_explicit(&f->in_done, memory_order_relaxed)) {
		/* Resolved and handed over (the common case): nothing else refers to it. A
		 * worker may still be inside it after a timeout; the later mark frees it. */
		mark_recycle(io, f, F_RELEASED);
		return 0;
	}
	pool_lock(p);
	absorb(p);
	if (!unlink_done(io, f)) {
		/* Resolved and still on the done stack: let go of when it comes out. */
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	if (f->queued) {
		/* Nobody will look at it: it need not run at all. */
		queue_remove(p, f);
		pending_add(io, -1);
		atomic_store(&f->state, HORUS_FUTURE_CANCELLED);
		atomic_fetch_add_explicit(&p->c.cancelled, 1, memory_order_relaxed);
		after_free(&a, f);
		mark_free(f, F_FINISHED);
	} else if (atomic_load(&f->state) == HORUS_FUTURE_PENDING) {
		pending_add(io, -1); /* running: it finishes unobserved */
	}
	f->node = NULL;
	f->io = NULL;
	mark_recycle(io, f, F_RELEASED);
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return 0;
}

/* The done stack, taken whole, oldest first; the node stays told. The node's calls only. */
static struct horus_future *take_done(struct node_io *io)
{
	uintptr_t w = atomic_load(&io->done);
	struct horus_future *f, *fifo = NULL;

	if (!(w & ~DONE_TOLD)) {
		return NULL;
	}
	w = atomic_exchange(&io->done, DONE_TOLD);
	for (f = (struct horus_future *)(w & ~DONE_TOLD); f;) {
		struct horus_future *next = f->dnext;

		f->dnext = fifo;
		fifo = f;
		f = next;
	}
	return fifo;
}

bool pool_next_done(struct pool *p, struct node_io *io, struct horus_future **ret,
		    uint32_t *ret_state, void (**ret_cb)(void *, struct horus_future *))
{
	struct horus_future *f;

	(void)p;
	for (;;) {
		if (!io->batch) {
			io->batch = take_done(io);
		}
		if (!io->batch) {
			/* Drained: untold, unless a job came meanwhile (then take it too). */
			uintptr_t told = DONE_TOLD;

			if (atomic_compare_exchange_strong(&io->done, &told, 0) || !told) {
				return false;
			}
			continue;
		}
		f = io->batch;
		io->batch = f->dnext;
		atomic_store_explicit(&f->in_done, false, memory_order_relaxed);
		if (!f->dropped) {
			break;
		}
		mark_recycle(io, f, F_RELEASED); /* released while it waited on the stack */
	}
	*ret = f;
	*ret_state = atomic_load_explicit(&f->state, memory_order_acquire);
	*ret_cb = f->req.on_done;
	return true;
}

void pool_node_io_free(struct node_io *io)
{
	free(io->owned);
	io->owned = NULL;
	io->n_owned = io->cap_owned = 0;
	while (io->spare) {
		struct horus_future *f = io->spare;

		io->spare = f->dnext;
		free(f);
	}
	io->n_spare = 0;
}

void pool_detach_node(struct pool *p, struct node_io *io)
{
	struct after a = {0};

	pool_lock(p);
	absorb(p);
	{
		/* Futures released while they waited on the done stack are no longer in owned:
		 * let go of them here. The others go with owned, below. */
		struct horus_future *waiting[2] = {io->batch, take_done(io)};

		io->batch = NULL;
		for (int k = 0; k < 2; k++) {
			for (struct horus_future *f = waiting[k], *next; f; f = next) {
				next = f->dnext;
				if (f->dropped) {
					mark_free(f, F_RELEASED);
				}
			}
		}
	}
	while (io->n_owned) {
		struct horus_future *f = io->owned[--io->n_owned];

		if (f->queued) {
			queue_remove(p, f);
			atomic_store(&f->state, HORUS_FUTURE_CANCELLED);
			atomic_fetch_add_explicit(&p->c.cancelled, 1, memory_order_relaxed);
			after_free(&a, f);
			mark_free(f, F_FINISHED);
		}
		f->node = NULL;
		f->io = NULL;
		atomic_store_explicit(&f->in_done, false, memory_order_relaxed);
		mark_free(f, F_RELEASED);
		if (after_full(&a)) {
			pthread_mutex_unlock(&p->lock);
			after_run(p, &a);
			pool_lock(p);
		}
	}
	atomic_store(&io->done, 0); /* untold: nothing of it is left */
	atomic_store_explicit(&io->pending, 0, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	pool_node_io_free(io);
}

bool pool_watch(struct pool *p, uint64_t now)
{
	struct after a = {0};
	bool healthy = true;

	pool_lock(p);
	absorb(p);
	for (struct horus_future *f = p->qhead, *next; f; f = next) {
		next = f->qnext;
		if (f->deadline_ns && now > f->deadline_ns) {
			/* Waited in the queue past its timeout: it will not run at all. */
			if (now > f->deadline_ns + 1000000000ull) {
				healthy = false; /* the watcher itself fell far behind */
			}
			queue_remove(p, f);
			resolve(f, HORUS_FUTURE_TIMED_OUT, -ETIMEDOUT, &a);
			account(p, HORUS_FUTURE_TIMED_OUT, now - f->submit_ns);
			after_free(&a, f);
			mark_free(f, F_FINISHED); /* its node still holds it */
		}
		if (after_full(&a)) {
			break; /* the rest on the next watch */
		}
	}
	for (struct worker *w = p->workers; w; w = w->next) {
		struct horus_future *f = w->job;

		if (!f || w->stuck || !f->deadline_ns || now <= f->deadline_ns ||
		    atomic_load(&f->state) != HORUS_FUTURE_PENDING) {
			continue;
		}
		if (after_full(&a)) {
			break;
		}
		/* Overdue while running: resolve it now, and stop counting on this worker. */
		resolve(f, HORUS_FUTURE_TIMED_OUT, -ETIMEDOUT, &a);
		account(p, HORUS_FUTURE_TIMED_OUT, now - f->submit_ns);
		w->stuck = true;
		p->stuck++;
		if (p->stuck <= POOL_MAX_REPLACEMENTS && spawn_worker(p) == 0) {
			count(&p->c.replaced);
		}
	}
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return healthy;
}

void pool_get_info(struct pool *p, struct pool_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	pool_lock(p);
	snprintf(ret->name, sizeof(ret->name), "%s", p->name);
	ret->workers = p->target;
	ret->live = p->live;
	ret->stuck = p->stuck;
	ret->queue = p->queue_cap;
	ret->queued = atomic_load_explicit(&p->queued, memory_order_relaxed);
	ret->running = p->running;
	pthread_mutex_unlock(&p->lock);
	ret->submitted = atomic_load(&p->c.submitted);
	ret->completed = atomic_load(&p->c.completed);
	ret->failed = atomic_load(&p->c.failed);
	ret->timed_out = atomic_load(&p->c.timed_out);
	ret->cancelled = atomic_load(&p->c.cancelled);
	ret->refused = atomic_load(&p->c.refused);
	ret->replaced = atomic_load(&p->c.replaced);
	ret->latency_p50_ns = hist_quantile(&p->latency, 0.5);
	ret->latency_p99_ns = hist_quantile(&p->latency, 0.99);
	ret->latency_max_ns = atomic_load(&p->latency.max);
}
