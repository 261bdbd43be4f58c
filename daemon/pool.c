/* SPDX-License-Identifier: MIT */
/* Worker pools and futures. See pool.h. One mutex per pool guards its queue, workers and jobs. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node.h"
#include "pool.h"

struct horus_future {
	struct horus_io_request req;
	struct node *node;      /* NULL once the node let go of its jobs (stopped) */
	struct node_io *io;
	_Atomic uint32_t state; /* enum horus_future_state */
	bool queued;
	bool running;
	bool finished;          /* fn returned, or will never run */
	bool taken;
	bool released;          /* the node gave it back (or was detached) */
	bool in_done;
	int result;
	char msg[POOL_MSG_MAX];
	uint64_t submit_ns;
	uint64_t deadline_ns;   /* 0: no timeout */
	_Atomic unsigned *pin;  /* held on the plugin's code until the job is over */
	struct horus_future *qnext; /* pool queue */
	struct horus_future *jnext; /* node's jobs */
	struct horus_future *dnext; /* node's done list */
};

struct worker {
	struct pool *pool;
	pthread_t tid;
	struct horus_future *job;
	bool stuck;
	struct worker *next;
};

struct pool {
	char name[64];
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or workers should re-check their fate */
	pthread_cond_t gone; /* a worker left */
	uint32_t target;
	uint32_t queue_cap;
	uint32_t live;
	uint32_t stuck;
	uint32_t queued;
	uint32_t running;
	bool stopping;
	struct horus_future *qhead, *qtail;
	struct worker *workers;
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
	if (!f->req.arg_free && !f->pin) {
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

/* ---- helpers (lock held) ----------------------------------------------------------------- */

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
			p->queued--;
			return;
		}
	}
}

static bool owns(const struct node_io *io, const struct horus_future *f)
{
	for (const struct horus_future *j = io->jobs; j; j = j->jnext) {
		if (j == f) {
			return true;
		}
	}
	return false;
}

static void unlink_job(struct node_io *io, struct horus_future *f)
{
	for (struct horus_future **pp = &io->jobs; *pp; pp = &(*pp)->jnext) {
		if (*pp == f) {
			*pp = f->jnext;
			break;
		}
	}
	if (f->in_done) {
		for (struct horus_future **pp = &io->done; *pp; pp = &(*pp)->dnext) {
			if (*pp == f) {
				*pp = f->dnext;
				break;
			}
		}
		f->in_done = false;
	}
}

static void maybe_free(struct horus_future *f)
{
	if (f->released && f->finished) {
		free(f);
	}
}

/* Gives f its outcome; the node hears of it through the done list and a notification. */
static void resolve(struct pool *p, struct horus_future *f, uint32_t state, int result,
		    uint64_t now, struct after *a)
{
	struct node_io *io = f->io;

	f->result = result;
	atomic_store_explicit(&f->state, state, memory_order_release);
	hist_record(&p->latency, now - f->submit_ns);
	switch (state) {
	case HORUS_FUTURE_DONE:
		atomic_fetch_add(&p->c.completed, 1);
		break;
	case HORUS_FUTURE_FAILED:
		atomic_fetch_add(&p->c.failed, 1);
		break;
	case HORUS_FUTURE_TIMED_OUT:
		atomic_fetch_add(&p->c.timed_out, 1);
		break;
	default:
		atomic_fetch_add(&p->c.cancelled, 1);
		break;
	}
	if (!io) {
		return; /* its node is gone */
	}
	io->pending--;
	if (state == HORUS_FUTURE_DONE) {
		atomic_fetch_add(&io->completed, 1);
	} else if (state == HORUS_FUTURE_FAILED) {
		atomic_fetch_add(&io->failed, 1);
	} else if (state == HORUS_FUTURE_TIMED_OUT) {
		atomic_fetch_add(&io->timed_out, 1);
	}
	f->dnext = NULL;
	f->in_done = true;
	/* Append: callbacks run in the order jobs resolved. */
	{
		struct horus_future **pp = &io->done;

		while (*pp) {
			pp = &(*pp)->dnext;
		}
		*pp = f;
	}
	after_notify(a, f->node);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
		snprintf(f->msg, sizeof(f->msg), "the job failed with %s", r >= -4095 ? strerror(-r)
								    : "an invalid error code");
	}
	return -EIO;
}

/* ---- workers ----------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *p = w->pool;
	struct after a = { 0 };

	pthread_setname_np(pthread_self(), "horus-pool");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct horus_future *f;
		int r;

		while (!p->qhead && !p->stopping && !surplus(p)) {
			pthread_cond_wait(&p->work, &p->lock);
		}
		if (p->stopping || surplus(p)) {
			break;
		}
		f = p->qhead;
		queue_remove(p, f);
		f->running = true;
		w->job = f;
		p->running++;
		pthread_mutex_unlock(&p->lock);

		/* The one place where node code runs on a worker: its blocking job. */
		f->msg[0] = '\0';
		r = f->req.fn(f->req.arg, f->msg, sizeof(f->msg));
		f->msg[sizeof(f->msg) - 1] = '\0';

		pthread_mutex_lock(&p->lock);
		p->running--;
		w->job = NULL;
		if (w->stuck) {
			w->stuck = false; /* back from a call it was given up on */
			p->stuck--;
		}
		f->running = false;
		f->finished = true;
		if (atomic_load(&f->state) == HORUS_FUTURE_PENDING) {
			if (r < 0) {
				resolve(p, f, HORUS_FUTURE_FAILED, job_error(f, r), mono_ns(), &a);
			} else {
				resolve(p, f, HORUS_FUTURE_DONE, r, mono_ns(), &a);
			}
		}
		after_free(&a, f); /* a late result after a timeout is simply dropped */
		maybe_free(f);
		pthread_mutex_unlock(&p->lock);
		after_run(p, &a);
		pthread_mutex_lock(&p->lock);
	}
	/* Leave: unlink ourselves. */
	for (struct worker **pp = &p->workers; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	p->live--;
	pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
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
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&w->tid, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	if (r) {
		free(w);
		return -r;
	}
	w->next = p->workers;
	p->workers = w;
	p->live++;
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
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->gone, NULL);
	p->notify = notify;
	p->userdata = userdata;
	*ret = p;
	pool_resize(p, workers, queue);
	return 0;
}

void pool_resize(struct pool *p, uint32_t workers, uint32_t queue)
{
	pthread_mutex_lock(&p->lock);
	p->target = workers ? workers : 1;
	p->queue_cap = queue ? queue : 1;
	while (p->live - p->stuck < p->target) {
		if (spawn_worker(p) < 0) {
			break;
		}
	}
	pthread_cond_broadcast(&p->work); /* surplus workers leave */
	pthread_mutex_unlock(&p->lock);
}

void pool_destroy(struct pool *p, uint64_t timeout_ns)
{
	uint64_t deadline = mono_ns() + timeout_ns;
	struct after a = { 0 };

	if (!p) {
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	while (p->qhead) {
		struct horus_future *f = p->qhead;

		queue_remove(p, f);
		f->finished = true;
		after_free(&a, f);
		maybe_free(f);
		if (after_full(&a)) {
			pthread_mutex_unlock(&p->lock);
			after_run(p, &a);
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_cond_broadcast(&p->work);
	while (p->live > p->stuck + (p->running - p->stuck)) {
		struct timespec ts;
		uint64_t left = deadline > mono_ns() ? deadline - mono_ns() : 0;

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
		pthread_cond_destroy(&p->work);
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

	if (!req || !req->fn || !ret) {
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		return -ENOMEM;
	}
	now = mono_ns();
	pthread_mutex_lock(&p->lock);
	if (io->pending >= max_inflight || p->queued >= p->queue_cap || p->stopping) {
		atomic_fetch_add(&p->c.refused, 1);
		pthread_mutex_unlock(&p->lock);
		free(f);
		return -EBUSY;
	}
	f->req = *req;
	f->pin = pin;
	if (pin) {
		atomic_fetch_add_explicit(pin, 1, memory_order_relaxed);
	}
	f->node = n;
	f->io = io;
	f->submit_ns = now;
	if (req->timeout_ms) {
		timeout_ns = (uint64_t)req->timeout_ms * 1000000ull;
	}
	f->deadline_ns = timeout_ns ? now + timeout_ns : 0;
	f->queued = true;
	if (p->qtail) {
		p->qtail->qnext = f;
	} else {
		p->qhead = f;
	}
	p->qtail = f;
	p->queued++;
	io->pending++;
	f->jnext = io->jobs;
	io->jobs = f;
	atomic_fetch_add(&io->submitted, 1);
	atomic_fetch_add(&p->c.submitted, 1);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	*ret = f;
	return 0;
}

int pool_future_state(struct pool *p, struct node_io *io, const struct horus_future *f)
{
	int r;

	pthread_mutex_lock(&p->lock);
	r = owns(io, f) ? (int)atomic_load(&f->state) : -EINVAL;
	pthread_mutex_unlock(&p->lock);
	return r;
}

int pool_future_take(struct pool *p, struct node_io *io, struct horus_future *f)
{
	int r;

	pthread_mutex_lock(&p->lock);
	if (!owns(io, f)) {
		r = -EINVAL;
	} else if (f->taken) {
		r = -EALREADY;
	} else {
		switch (atomic_load(&f->state)) {
		case HORUS_FUTURE_PENDING:
			r = -EAGAIN;
			break;
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
		if (r != -EAGAIN) {
			f->taken = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

const char *pool_future_error(struct pool *p, struct node_io *io, const struct horus_future *f)
{
	const char *msg;

	pthread_mutex_lock(&p->lock);
	msg = owns(io, f) && atomic_load(&f->state) == HORUS_FUTURE_FAILED ? f->msg : "";
	pthread_mutex_unlock(&p->lock);
	return msg;
}

int pool_future_cancel(struct pool *p, struct node_io *io, struct horus_future *f)
{
	struct after a = { 0 };
	int r;

	pthread_mutex_lock(&p->lock);
	if (!owns(io, f)) {
		r = -EINVAL;
	} else if (atomic_load(&f->state) != HORUS_FUTURE_PENDING) {
		r = -EALREADY;
	} else if (f->running) {
		r = -EBUSY;
	} else {
		queue_remove(p, f);
		f->finished = true;
		resolve(p, f, HORUS_FUTURE_CANCELLED, -ECANCELED, mono_ns(), &a);
		after_free(&a, f);
		r = 0;
	}
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return r;
}

int pool_future_release(struct pool *p, struct node_io *io, struct horus_future *f)
{
	struct after a = { 0 };

	pthread_mutex_lock(&p->lock);
	if (!owns(io, f)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	unlink_job(io, f);
	if (f->queued) {
		/* Nobody will look at it: it need not run at all. */
		queue_remove(p, f);
		io->pending--;
		atomic_store(&f->state, HORUS_FUTURE_CANCELLED);
		atomic_fetch_add(&p->c.cancelled, 1);
		f->finished = true;
		after_free(&a, f);
	} else if (atomic_load(&f->state) == HORUS_FUTURE_PENDING) {
		io->pending--; /* running: it finishes unobserved */
	}
	f->node = NULL;
	f->io = NULL;
	f->released = true;
	maybe_free(f);
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return 0;
}

bool pool_next_done(struct pool *p, struct node_io *io, struct horus_future **ret,
		    uint32_t *ret_state, void (**ret_cb)(void *, struct horus_future *))
{
	struct horus_future *f;

	pthread_mutex_lock(&p->lock);
	f = io->done;
	if (f) {
		io->done = f->dnext;
		f->in_done = false;
		*ret = f;
		*ret_state = atomic_load(&f->state);
		*ret_cb = f->req.on_done;
	}
	pthread_mutex_unlock(&p->lock);
	return f != NULL;
}

void pool_detach_node(struct pool *p, struct node_io *io)
{
	struct after a = { 0 };

	pthread_mutex_lock(&p->lock);
	while (io->jobs) {
		struct horus_future *f = io->jobs;

		io->jobs = f->jnext;
		if (f->queued) {
			queue_remove(p, f);
			atomic_store(&f->state, HORUS_FUTURE_CANCELLED);
			atomic_fetch_add(&p->c.cancelled, 1);
			f->finished = true;
			after_free(&a, f);
		}
		f->node = NULL;
		f->io = NULL;
		f->in_done = false;
		f->released = true;
		maybe_free(f);
		if (after_full(&a)) {
			pthread_mutex_unlock(&p->lock);
			after_run(p, &a);
			pthread_mutex_lock(&p->lock);
		}
	}
	io->done = NULL;
	io->pending = 0;
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
}

bool pool_watch(struct pool *p, uint64_t now)
{
	struct after a = { 0 };
	bool healthy = true;

	pthread_mutex_lock(&p->lock);
	for (struct horus_future *f = p->qhead, *next; f; f = next) {
		next = f->qnext;
		if (f->deadline_ns && now > f->deadline_ns) {
			/* Waited in the queue past its timeout: it will not run at all. */
			if (now > f->deadline_ns + 1000000000ull) {
				healthy = false; /* the watcher itself fell far behind */
			}
			queue_remove(p, f);
			f->finished = true;
			resolve(p, f, HORUS_FUTURE_TIMED_OUT, -ETIMEDOUT, now, &a);
			after_free(&a, f);
			maybe_free(f);
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
		resolve(p, f, HORUS_FUTURE_TIMED_OUT, -ETIMEDOUT, now, &a);
		w->stuck = true;
		p->stuck++;
		if (p->stuck <= POOL_MAX_REPLACEMENTS && spawn_worker(p) == 0) {
			atomic_fetch_add(&p->c.replaced, 1);
		}
	}
	pthread_mutex_unlock(&p->lock);
	after_run(p, &a);
	return healthy;
}

void pool_get_info(struct pool *p, struct pool_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&p->lock);
	snprintf(ret->name, sizeof(ret->name), "%s", p->name);
	ret->workers = p->target;
	ret->live = p->live;
	ret->stuck = p->stuck;
	ret->queue = p->queue_cap;
	ret->queued = p->queued;
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
