/* SPDX-License-Identifier: MIT */
/*
 * The worker pool and its futures, driven directly (daemon/pool.h): futures in every state,
 * take/cancel/release semantics and misuse (releases of futures still waiting to be handed
 * over, and of futures whose worker is still inside the call), -EBUSY at max_inflight and at a
 * full queue, timeouts of queued and of hung jobs (the stuck worker is replaced, up to its cap,
 * and leaves when its call returns), the plugin pin, detaching a node, resizing, destroying,
 * blocking jobs fanning out over every worker, the notify callback, latency counters, and many
 * threads submitting at once with exact totals. Also in the 'tsan' suite.
 *
 * The notify callback announces a node's resolved jobs once until they are drained: it runs when
 * a job of the node resolves and none of the node's resolved jobs was already waiting to be
 * seen; pool_next_done returning false (the node drained them all) or pool_detach_node re-arms
 * it. So a test that counts announcements drains the node (pool_next_done until false) before
 * the next resolution it wants announced, or expects one announcement for several resolutions.
 *
 * Node tokens are addresses in a static array: the pool treats a struct node * as opaque and
 * only hands it back to the notify callback. Jobs count their calls and their arg_free calls;
 * every node_io ends detached, as a stopped node's does (pool_detach_node frees what the pool
 * keeps in it), and every pool ends with all pins given back.
 * Every wait polls a condition (a future's state, a counter) with a generous bound; the few
 * time bounds asserted are on what the pool promises (a timeout resolves on time).
 */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dtest.h"
#include "pool.h"
#include "under-tsan.h"

/* Generous: a loaded machine, a TSan build. */
#define WAIT_MS 10000
#define MS 1000000ull

/* ---- node tokens and the notify callback -------------------------------------------------- */

#define N_TOKENS 16
static char tokens[N_TOKENS];
#define TOKEN(i) ((struct node *)(void *)&tokens[(i)])

struct rec {
	_Atomic(struct pool *) pool; /* the pool whose lock the callback re-takes; NULL: don't */
	_Atomic uint64_t calls;
	_Atomic uint64_t per[N_TOKENS];
	_Atomic uint64_t foreign;	 /* called with something that is no token */
	_Atomic unsigned pins[N_TOKENS]; /* each token's plugin pin (pool_submit's *pin) */
};

static struct rec R;

static void on_notify(void *userdata, struct node *n)
{
	struct rec *r = userdata;
	struct pool *p = atomic_load(&r->pool);
	uintptr_t i = (uintptr_t)(void *)n - (uintptr_t)(void *)tokens;

	/* No pool lock may be held here: taking it again must not deadlock. */
	if (p) {
		struct pool_info info;

		pool_get_info(p, &info);
	}
	if (i < N_TOKENS) {
		atomic_fetch_add(&r->per[i], 1);
	} else {
		atomic_fetch_add(&r->foreign, 1);
	}
	atomic_fetch_add(&r->calls, 1);
}

/* ---- jobs --------------------------------------------------------------------------------- */

struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool open;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->m, NULL);
	pthread_cond_init(&g->c, NULL);
	g->open = false;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = true;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	while (!g->open) {
		pthread_cond_wait(&g->c, &g->m);
	}
	pthread_mutex_unlock(&g->m);
}

static void gate_fini(struct gate *g)
{
	pthread_cond_destroy(&g->c);
	pthread_mutex_destroy(&g->m);
}

struct job {
	int result;	   /* what fn returns */
	const char *msg;   /* written to msg when set */
	struct gate *gate; /* fn blocks until it opens, when set */
	unsigned sleep_us; /* the work itself, when set */
	_Atomic int started;
	_Atomic int returned;
	_Atomic int freed;	      /* arg_free calls */
	_Atomic unsigned *pin;	      /* its token's pin, set by submit() */
	_Atomic unsigned pin_at_free; /* the pin's value while arg_free ran */
};

static int job_fn(void *arg, char *msg, size_t size)
{
	struct job *j = arg;

	atomic_fetch_add(&j->started, 1);
	if (j->gate) {
		gate_wait(j->gate);
	}
	if (j->sleep_us) {
		usleep(j->sleep_us);
	}
	if (j->msg) {
		snprintf(msg, size, "%s", j->msg);
	}
	atomic_fetch_add(&j->returned, 1);
	return j->result;
}

static void job_free(void *arg)
{
	struct job *j = arg;

	/* arg_free is plugin code too: the pin must still be held while it runs. */
	atomic_store(&j->pin_at_free, j->pin ? atomic_load(j->pin) : 0);
	atomic_fetch_add(&j->freed, 1);
}

static void on_done_marker(void *ctx, struct horus_future *f)
{
	(void)ctx;
	(void)f;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Polls cond for up to ms milliseconds. */
#define WAIT_FOR(cond, ms)                                                                         \
	do {                                                                                       \
		uint64_t end_ = mono_ns() + (uint64_t)(ms)*MS;                                     \
		while (!(cond)) {                                                                  \
			ck_assert_msg(mono_ns() < end_, "no %d ms wait: %s", (int)(ms), #cond);    \
			usleep(200);                                                               \
		}                                                                                  \
	} while (0)

/* The same, as the daemon's watcher would: pool_watch(p, now) on every round. */
#define WAIT_WATCH(p, cond, ms)                                                                    \
	do {                                                                                       \
		uint64_t end_ = mono_ns() + (uint64_t)(ms)*MS;                                     \
		while (pool_watch((p), mono_ns()), !(cond)) {                                      \
			ck_assert_msg(mono_ns() < end_, "no %d ms wait: %s", (int)(ms), #cond);    \
			usleep(200);                                                               \
		}                                                                                  \
	} while (0)

static struct pool *mk_pool(uint32_t workers, uint32_t queue)
{
	struct pool *p = NULL;

	memset(&R, 0, sizeof(R));
	ck_assert_int_eq(pool_create("test", workers, queue, on_notify, &R, &p), 0);
	ck_assert_ptr_nonnull(p);
	atomic_store(&R.pool, p);
	return p;
}

/*
 * Destroys p once every worker is back from its job (nothing leaks, nothing runs later). By
 * then every job is over, so every pin taken has been given back.
 */
static void end_pool(struct pool *p)
{
	atomic_store(&R.pool, NULL);
	pool_destroy(p, 5000 * MS);
	for (int i = 0; i < N_TOKENS; i++) {
		ck_assert_msg(atomic_load(&R.pins[i]) == 0, "token %d: pin %u after destroy", i,
			      atomic_load(&R.pins[i]));
	}
}

static struct pool_info info_of(struct pool *p)
{
	struct pool_info i;

	pool_get_info(p, &i);
	return i;
}

/* Every submission of this file goes through here: token i pins R.pins[i]. */
static int submit_req(struct pool *p, int token, struct node_io *io, uint32_t max_inflight,
		      const struct horus_io_request *req, uint64_t timeout_ns,
		      struct horus_future **ret)
{
	return pool_submit(p, TOKEN(token), io, max_inflight, req, timeout_ns, &R.pins[token], ret);
}

static int submit(struct pool *p, int token, struct node_io *io, uint32_t max_inflight,
		  struct job *j, uint32_t timeout_ms, uint64_t timeout_ns,
		  struct horus_future **ret)
{
	struct horus_io_request req = {
	    .fn = job_fn,
	    .arg = j,
	    .arg_free = job_free,
	    .timeout_ms = timeout_ms,
	};

	j->pin = &R.pins[token];
	return submit_req(p, token, io, max_inflight, &req, timeout_ns, ret);
}

static int state(struct pool *p, struct node_io *io, struct horus_future *f)
{
	return pool_future_state(p, io, f);
}

static bool resolved(struct pool *p, struct node_io *io, struct horus_future *f)
{
	return state(p, io, f) != HORUS_FUTURE_PENDING;
}

/* Submits a quick job, waits for it, checks it was done, takes and releases it. */
static void quick_job(struct pool *p, struct node_io *io, int result)
{
	struct job j = {.result = result};
	struct horus_future *f;

	ck_assert_int_eq(submit(p, 0, io, 64, &j, 0, 0, &f), 0);
	WAIT_FOR(resolved(p, io, f), WAIT_MS);
	ck_assert_int_eq(state(p, io, f), HORUS_FUTURE_DONE);
	ck_assert_int_eq(pool_future_take(p, io, f), result);
	ck_assert_int_eq(pool_future_release(p, io, f), 0);
	WAIT_FOR(atomic_load(&j.freed) == 1, WAIT_MS); /* j lives on this stack */
}

/* Hands over the next resolved future of io; checks it is f with state st. */
static void expect_next_done(struct pool *p, struct node_io *io, struct horus_future *f,
			     uint32_t st, void (*cb)(void *, struct horus_future *))
{
	struct horus_future *got = NULL;
	void (*got_cb)(void *, struct horus_future *) = NULL;
	uint32_t got_st = 99;

	ck_assert_msg(pool_next_done(p, io, &got, &got_st, &got_cb), "no resolved future");
	ck_assert_ptr_eq(got, f);
	ck_assert_uint_eq(got_st, st);
	ck_assert_ptr_eq((void *)got_cb, (void *)cb);
}

static void expect_no_done(struct pool *p, struct node_io *io)
{
	struct horus_future *got = NULL;
	void (*got_cb)(void *, struct horus_future *) = NULL;
	uint32_t got_st;

	ck_assert_msg(!pool_next_done(p, io, &got, &got_st, &got_cb), "unexpected future %p",
		      (void *)got);
}

/*
 * quick_job() as a drained node's thread sees it: the job is announced exactly once (io had
 * nothing waiting to be seen), pool_next_done hands it over and then finds nothing more (which
 * re-arms the announcement); it is taken and released after being handed over.
 */
static void quick_job_announced(struct pool *p, struct node_io *io, int result)
{
	struct job j = {.result = result};
	struct horus_future *f;
	uint64_t calls = atomic_load(&R.calls);

	ck_assert_int_eq(submit(p, 0, io, 64, &j, 0, 0, &f), 0);
	WAIT_FOR(resolved(p, io, f), WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == calls + 1, WAIT_MS);
	expect_next_done(p, io, f, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, io);
	ck_assert_int_eq(pool_future_take(p, io, f), result);
	ck_assert_int_eq(pool_future_release(p, io, f), 0);
	WAIT_FOR(atomic_load(&j.freed) == 1, WAIT_MS); /* j lives on this stack */
}

/* ---- futures in every state --------------------------------------------------------------- */

START_TEST(done_and_failed)
{
	struct pool *p = mk_pool(2, 8);
	struct node_io io = {0};
	struct gate g;
	struct job a = {.result = 7}, b = {.result = -ENOENT, .msg = "no such sensor"};
	struct job c = {.result = -100000}; /* not an errno */
	struct horus_io_request req = {
	    .fn = job_fn, .arg = &a, .arg_free = job_free, .on_done = on_done_marker};
	struct horus_future *fa, *fb, *fc;

	gate_init(&g);
	a.gate = &g;
	a.pin = &R.pins[0];
	ck_assert_int_eq(submit_req(p, 0, &io, 8, &req, 0, &fa), 0);
	WAIT_FOR(atomic_load(&a.started) == 1, WAIT_MS);
	ck_assert_int_eq(state(p, &io, fa), HORUS_FUTURE_PENDING);
	ck_assert_int_eq(pool_future_take(p, &io, fa), -EAGAIN);
	ck_assert_int_eq(pool_future_take(p, &io, fa), -EAGAIN); /* nothing was taken */
	ck_assert_str_eq(pool_future_error(p, &io, fa), "");
	ck_assert_uint_eq(atomic_load(&io.pending), 1);
	expect_no_done(p, &io);

	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fa), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fa), HORUS_FUTURE_DONE);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.per[0]), 1);
	/* The node's thread hears of each as it resolves, with its callback, and drains. */
	expect_next_done(p, &io, fa, HORUS_FUTURE_DONE, on_done_marker);
	expect_no_done(p, &io);
	ck_assert_str_eq(pool_future_error(p, &io, fa), "");
	ck_assert_int_eq(pool_future_take(p, &io, fa), 7);
	ck_assert_int_eq(pool_future_take(p, &io, fa), -EALREADY);
	ck_assert_int_eq(state(p, &io, fa), HORUS_FUTURE_DONE); /* taking does not change it */

	ck_assert_int_eq(submit(p, 0, &io, 8, &b, 0, 0, &fb), 0);
	WAIT_FOR(resolved(p, &io, fb), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fb), HORUS_FUTURE_FAILED);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS);
	expect_next_done(p, &io, fb, HORUS_FUTURE_FAILED, NULL);
	expect_no_done(p, &io);
	ck_assert_str_eq(pool_future_error(p, &io, fb), "no such sensor");
	ck_assert_int_eq(pool_future_take(p, &io, fb), -ENOENT);
	ck_assert_int_eq(pool_future_take(p, &io, fb), -EALREADY);
	ck_assert_str_eq(pool_future_error(p, &io, fb), "no such sensor"); /* until released */

	/* A negative result that is no errno fails as -EIO. */
	ck_assert_int_eq(submit(p, 0, &io, 8, &c, 0, 0, &fc), 0);
	WAIT_FOR(resolved(p, &io, fc), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fc), HORUS_FUTURE_FAILED);
	WAIT_FOR(atomic_load(&R.calls) == 3, WAIT_MS);
	expect_next_done(p, &io, fc, HORUS_FUTURE_FAILED, NULL);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_take(p, &io, fc), -EIO);

	/* Counters, per node and per pool. */
	ck_assert_uint_eq(atomic_load(&io.submitted), 3);
	ck_assert_uint_eq(atomic_load(&io.completed), 1);
	ck_assert_uint_eq(atomic_load(&io.failed), 2);
	ck_assert_uint_eq(atomic_load(&io.timed_out), 0);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, 3);
		ck_assert_uint_eq(i.completed, 1);
		ck_assert_uint_eq(i.failed, 2);
		ck_assert_uint_eq(i.timed_out + i.cancelled + i.refused + i.replaced, 0);
		ck_assert_uint_eq(i.queued + i.running, 0);
	}

	/* Handed over once: taken and still held, they are not handed over again. */
	expect_no_done(p, &io);

	ck_assert_int_eq(pool_future_release(p, &io, fa), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fb), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fc), 0);
	WAIT_FOR(atomic_load(&c.freed) == 1, WAIT_MS);
	ck_assert_int_eq(atomic_load(&a.freed), 1);
	ck_assert_int_eq(atomic_load(&b.freed), 1);
	ck_assert_int_eq(
	    atomic_load(&a.started) + atomic_load(&b.started) + atomic_load(&c.started), 3);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 3);
	ck_assert_uint_eq(atomic_load(&R.foreign), 0);
	ck_assert_int_eq(atomic_load(&a.freed) + atomic_load(&b.freed) + atomic_load(&c.freed), 3);
	gate_fini(&g);
}
END_TEST

/* Misuse is an error code: a future of another node_io, take twice, release twice, bad args. */
START_TEST(misuse)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0}, other = {0};
	struct job a = {.result = 3};
	struct horus_io_request req = {.fn = job_fn, .arg = &a};
	struct horus_io_request nofn = {.arg = &a};
	struct horus_future *f = NULL;

	ck_assert_int_eq(submit_req(p, 0, &io, 8, NULL, 0, &f), -EINVAL);
	ck_assert_int_eq(submit_req(p, 0, &io, 8, &nofn, 0, &f), -EINVAL);
	ck_assert_int_eq(submit_req(p, 0, &io, 8, &req, 0, NULL), -EINVAL);
	ck_assert_ptr_null(f);
	ck_assert_uint_eq(info_of(p).submitted + info_of(p).refused, 0);
	ck_assert_uint_eq(atomic_load(&io.submitted), 0);

	ck_assert_int_eq(submit(p, 0, &io, 8, &a, 0, 0, &f), 0);
	WAIT_FOR(resolved(p, &io, f), WAIT_MS);

	/* Another node's view of it. */
	ck_assert_int_eq(pool_future_state(p, &other, f), -EINVAL);
	ck_assert_int_eq(pool_future_take(p, &other, f), -EINVAL);
	ck_assert_int_eq(pool_future_cancel(p, &other, f), -EINVAL);
	ck_assert_int_eq(pool_future_release(p, &other, f), -EINVAL);
	ck_assert_str_eq(pool_future_error(p, &other, f), "");
	expect_no_done(p, &other);
	/* ... left it untouched. */
	ck_assert_int_eq(pool_future_take(p, &io, f), 3);
	ck_assert_int_eq(pool_future_take(p, &io, f), -EALREADY);
	ck_assert_int_eq(pool_future_release(p, &io, f), 0);
	ck_assert_int_eq(pool_future_release(p, &io, f), -EINVAL);
	ck_assert_int_eq(pool_future_state(p, &io, f), -EINVAL);
	ck_assert_int_eq(pool_future_take(p, &io, f), -EINVAL);
	ck_assert_int_eq(pool_future_cancel(p, &io, f), -EINVAL);
	ck_assert_str_eq(pool_future_error(p, &io, f), "");
	expect_no_done(p, &io); /* released before the node's thread looked: gone from its list */
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(atomic_load(&a.started), 1);
}
END_TEST

/*
 * node.h: take returns -EAGAIN for "still pending: nothing taken", -EALREADY for "taken before",
 * -EINVAL for "not a future of this node", and "other <0: the job failed with that -errno". A job
 * that fails with one of the first three (a non-blocking read's -EAGAIN, a syscall's -EINVAL)
 * must not read as them: a node that polls take() as node.h allows would wait for ever on a
 * job that ended, or think its future was never its own.
 */
START_TEST(take_failure_codes_unambiguous)
{
	static const int codes[] = {-EAGAIN, -EALREADY, -EINVAL};
	static const char *const names[] = {"EAGAIN", "EALREADY", "EINVAL"};
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0};
	char report[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct job j = {.result = codes[i], .msg = "job failed"};
		struct horus_future *f;
		int r1, r2;

		ck_assert_int_eq(submit(p, 0, &io, 8, &j, 0, 0, &f), 0);
		WAIT_FOR(resolved(p, &io, f), WAIT_MS);
		ck_assert_int_eq(state(p, &io, f), HORUS_FUTURE_FAILED);
		r1 = pool_future_take(p, &io, f);
		r2 = pool_future_take(p, &io, f);
		if (r1 == -EAGAIN || r1 == -EALREADY || r1 == -EINVAL) {
			len += (size_t)snprintf(report + len, sizeof(report) - len,
						"%sjob failed with -%s: take %d, then %d",
						len ? "; " : "", names[i], r1, r2);
		}
		ck_assert_int_eq(pool_future_release(p, &io, f), 0);
		WAIT_FOR(atomic_load(&j.freed) == 1, WAIT_MS); /* j lives in this loop */
	}
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_msg(len == 0, "a failed job's take reads as one of take's own codes: %s", report);
}
END_TEST

/* Released while running: it finishes unobserved, arg_free runs once, nobody is told. */
START_TEST(release_running)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0};
	struct gate g;
	struct job a = {.result = 1}, b = {.result = 2};
	struct horus_future *fa, *fb;

	gate_init(&g);
	a.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 1, &a, 0, 0, &fa), 0);
	WAIT_FOR(atomic_load(&a.started) == 1, WAIT_MS);
	ck_assert_int_eq(pool_future_release(p, &io, fa), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fa), -EINVAL);
	ck_assert_int_eq(state(p, &io, fa), -EINVAL);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	ck_assert_int_eq(atomic_load(&a.freed), 0); /* still running: arg still in use */
	ck_assert_uint_eq(info_of(p).running, 1);

	/* Its slot is free again (max_inflight 1): b queues behind it. */
	ck_assert_int_eq(submit(p, 0, &io, 1, &b, 0, 0, &fb), 0);
	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fb), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fb), HORUS_FUTURE_DONE);
	ck_assert_int_eq(atomic_load(&a.returned), 1); /* one worker: a ran first */
	WAIT_FOR(atomic_load(&a.freed) == 1, WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	expect_next_done(p, &io, fb, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io);
	ck_assert_uint_eq(atomic_load(&io.completed), 1);
	ck_assert_int_eq(pool_future_take(p, &io, fb), 2);
	ck_assert_int_eq(pool_future_release(p, &io, fb), 0);
	WAIT_FOR(atomic_load(&b.freed) == 1, WAIT_MS);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(atomic_load(&a.freed), 1);
	ck_assert_int_eq(atomic_load(&b.freed), 1);
	ck_assert_uint_eq(atomic_load(&R.calls), 1); /* b only */
	gate_fini(&g);
}
END_TEST

/* ---- -EBUSY ------------------------------------------------------------------------------- */

START_TEST(busy_at_max_inflight)
{
	struct pool *p = mk_pool(2, 8);
	struct node_io io = {0}, io2 = {0};
	struct gate g;
	struct job j[5] = {{0}};
	struct horus_future *f[5];

	gate_init(&g);
	for (int i = 0; i < 5; i++) {
		j[i].gate = &g;
		j[i].result = i;
	}
	ck_assert_int_eq(submit(p, 0, &io, 2, &j[0], 0, 0, &f[0]), 0);
	ck_assert_int_eq(submit(p, 0, &io, 2, &j[1], 0, 0, &f[1]), 0);
	f[2] = NULL;
	ck_assert_int_eq(submit(p, 0, &io, 2, &j[2], 0, 0, &f[2]), -EBUSY);
	ck_assert_ptr_null(f[2]);
	ck_assert_uint_eq(atomic_load(&io.pending), 2);
	ck_assert_uint_eq(atomic_load(&io.submitted), 2);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, 2);
		ck_assert_uint_eq(i.refused, 1);
		ck_assert_uint_eq(i.queued + i.running, 2);
	}
	/* The limit is the node's: another node still gets in. */
	ck_assert_int_eq(submit(p, 1, &io2, 2, &j[3], 0, 0, &f[3]), 0);

	gate_open(&g);
	WAIT_FOR(resolved(p, &io, f[0]) && resolved(p, &io, f[1]) && resolved(p, &io2, f[3]),
		 WAIT_MS);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	ck_assert_int_eq(submit(p, 0, &io, 2, &j[4], 0, 0, &f[4]), 0); /* room again */
	WAIT_FOR(resolved(p, &io, f[4]), WAIT_MS);
	ck_assert_int_eq(pool_future_release(p, &io, f[0]), 0);
	ck_assert_int_eq(pool_future_release(p, &io, f[1]), 0);
	ck_assert_int_eq(pool_future_release(p, &io2, f[3]), 0);
	ck_assert_int_eq(pool_future_release(p, &io, f[4]), 0);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, 4);
		ck_assert_uint_eq(i.completed, 4);
		ck_assert_uint_eq(i.refused, 1);
	}
	pool_detach_node(p, &io);
	pool_detach_node(p, &io2);
	end_pool(p);
	/* Nothing of the refused request was kept: its arg is still the caller's. */
	ck_assert_int_eq(atomic_load(&j[2].started) + atomic_load(&j[2].freed), 0);
	gate_fini(&g);
}
END_TEST

START_TEST(busy_when_queue_full)
{
	struct pool *p = mk_pool(1, 2);
	struct node_io io = {0}, io2 = {0};
	struct gate g;
	struct job run = {.result = 0}, q[2] = {{.result = 1}, {.result = 2}};
	struct job extra = {0}, other = {0}, later = {.result = 9};
	struct horus_future *fr, *fq[2], *fx = NULL, *fo = NULL, *fl;

	gate_init(&g);
	run.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 100, &run, 0, 0, &fr), 0);
	WAIT_FOR(atomic_load(&run.started) == 1, WAIT_MS); /* the one worker is busy */
	ck_assert_int_eq(submit(p, 0, &io, 100, &q[0], 0, 0, &fq[0]), 0);
	ck_assert_int_eq(submit(p, 0, &io, 100, &q[1], 0, 0, &fq[1]), 0);
	ck_assert_int_eq(submit(p, 0, &io, 100, &extra, 0, 0, &fx), -EBUSY);
	ck_assert_int_eq(submit(p, 1, &io2, 100, &other, 0, 0, &fo), -EBUSY); /* pool-wide */
	ck_assert_ptr_null(fx);
	ck_assert_ptr_null(fo);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.queue, 2);
		ck_assert_uint_eq(i.queued, 2);
		ck_assert_uint_eq(i.running, 1);
		ck_assert_uint_eq(i.submitted, 3);
		ck_assert_uint_eq(i.refused, 2);
	}
	ck_assert_uint_eq(atomic_load(&io.submitted), 3);
	ck_assert_uint_eq(atomic_load(&io.pending), 3);
	ck_assert_uint_eq(atomic_load(&io2.submitted) + atomic_load(&io2.pending), 0);

	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fq[0]) && resolved(p, &io, fq[1]) && resolved(p, &io, fr),
		 WAIT_MS);
	ck_assert_int_eq(submit(p, 0, &io, 100, &later, 0, 0, &fl), 0);
	WAIT_FOR(resolved(p, &io, fl), WAIT_MS);
	ck_assert_int_eq(pool_future_take(p, &io, fl), 9);
	ck_assert_int_eq(pool_future_take(p, &io, fq[1]), 2);
	ck_assert_int_eq(pool_future_release(p, &io, fr), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fq[0]), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fq[1]), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fl), 0);
	ck_assert_uint_eq(info_of(p).completed, 4);
	pool_detach_node(p, &io);
	pool_detach_node(p, &io2); /* its refused submit made room for a job */
	end_pool(p);
	ck_assert_int_eq(atomic_load(&extra.started) + atomic_load(&extra.freed), 0);
	ck_assert_int_eq(atomic_load(&other.started) + atomic_load(&other.freed), 0);
	gate_fini(&g);
}
END_TEST

/* ---- timeouts ----------------------------------------------------------------------------- */

/*
 * A job hangs (blocks on a gate the test opens at the end) in a pool of one worker, with a quick
 * job queued behind it. At its 100 ms timeout it resolves TIMED_OUT, never before, and within a
 * bound after; the stuck worker is replaced, so the quick job and 20 more complete while the
 * hung call is still blocked. When it returns, its late result is discarded, arg_free runs once,
 * nobody is told, and the surplus worker leaves. The timeout and the queued job resolve before
 * the node looks (one announcement); each later job is announced once, the node draining it.
 */
START_TEST(timeout_hung_job)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0};
	struct gate g;
	struct job h = {.result = 99}, q = {.result = 5};
	struct horus_future *fh, *fq;
	uint64_t t0, t_res = 0;
	uint64_t calls;

	gate_init(&g);
	h.gate = &g;
	t0 = mono_ns();
	ck_assert_int_eq(submit(p, 0, &io, 8, &h, 100, 0, &fh), 0);
	ck_assert_int_eq(submit(p, 0, &io, 8, &q, 0, 0, &fq), 0);
	WAIT_FOR(atomic_load(&h.started) == 1, WAIT_MS);
	/* The watcher's rounds: every 0.2 ms, much finer than the daemon's 5 ms. */
	for (;;) {
		uint64_t now = mono_ns();

		pool_watch(p, now);
		if (resolved(p, &io, fh)) {
			t_res = mono_ns();
			break;
		}
		ck_assert_msg(now - t0 < WAIT_MS * MS, "the hung job never timed out");
		ck_assert_msg(resolved(p, &io, fq) == false,
			      "the queued job ran beside the hung one");
		usleep(200);
	}
	ck_assert_int_eq(state(p, &io, fh), HORUS_FUTURE_TIMED_OUT);
	ck_assert_msg(t_res - t0 >= 100 * MS, "timed out after %.1f ms, before its 100 ms",
		      (t_res - t0) / 1e6);
	ck_assert_msg(t_res - t0 <= 100 * MS + 150 * MS,
		      "timed out after %.1f ms with a 100 ms timeout (watched every 0.2 ms)",
		      (t_res - t0) / 1e6);
	ck_assert_int_eq(pool_future_take(p, &io, fh), -ETIMEDOUT);
	ck_assert_int_eq(pool_future_take(p, &io, fh), -EALREADY);
	ck_assert_str_eq(pool_future_error(p, &io, fh), "");
	ck_assert_uint_eq(atomic_load(&io.timed_out), 1);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS); /* told from pool_watch */
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.timed_out, 1);
		ck_assert_uint_eq(i.replaced, 1);
		ck_assert_uint_eq(i.workers, 1);
		ck_assert_uint_eq(i.stuck, 1);
		ck_assert_uint_eq(i.live, 2);
	}

	/*
	 * No starvation: the replacement runs the queued job and more while h is still stuck. q
	 * resolves while h waits to be seen: no second announcement; the node gets both at once.
	 */
	WAIT_FOR(resolved(p, &io, fq), WAIT_MS);
	WAIT_FOR(atomic_load(&q.freed) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.calls), 1);
	expect_next_done(p, &io, fh, HORUS_FUTURE_TIMED_OUT, NULL);
	expect_next_done(p, &io, fq, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_take(p, &io, fq), 5);
	ck_assert_int_eq(pool_future_release(p, &io, fq), 0);
	for (int i = 0; i < 20; i++) {
		quick_job_announced(p, &io, 100 + i); /* each: exactly one more announcement */
	}
	ck_assert_int_eq(atomic_load(&h.returned), 0);
	ck_assert_int_eq(atomic_load(&h.freed), 0);
	ck_assert_uint_eq(info_of(p).replaced, 1); /* once, not on every watch */
	ck_assert_uint_eq(atomic_load(&io.completed), 21);
	ck_assert_uint_eq(atomic_load(&R.calls), 21);
	calls = atomic_load(&R.calls);

	/* The hung call returns: its 99 is dropped, and the extra worker goes. */
	gate_open(&g);
	WAIT_FOR(atomic_load(&h.freed) == 1, WAIT_MS);
	WAIT_FOR(info_of(p).live == 1 && info_of(p).stuck == 0 && info_of(p).running == 0, WAIT_MS);
	ck_assert_int_eq(state(p, &io, fh), HORUS_FUTURE_TIMED_OUT);
	ck_assert_int_eq(pool_future_take(p, &io, fh), -EALREADY);
	ck_assert_uint_eq(atomic_load(&io.completed), 21);
	ck_assert_uint_eq(atomic_load(&io.timed_out), 1);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.completed, 21);
		ck_assert_uint_eq(i.timed_out, 1);
		ck_assert_uint_eq(i.replaced, 1);
	}
	/* The late 99 is not handed over either. */
	expect_no_done(p, &io);
	quick_job_announced(p, &io, 77); /* the one worker left works */
	ck_assert_int_eq(pool_future_release(p, &io, fh), 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), calls + 1); /* the 77, nothing for the late 99 */
	ck_assert_int_eq(atomic_load(&h.freed), 1);
	ck_assert_int_eq(atomic_load(&q.freed), 1);
	gate_fini(&g);
}
END_TEST

/* Released while stuck past its timeout: freed (and arg_free'd) only when the call returns. */
START_TEST(timeout_then_release)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0};
	struct gate g;
	struct job h = {.result = 1};
	struct horus_future *fh;

	gate_init(&g);
	h.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 8, &h, 0, 30 * MS, &fh), 0); /* the node's timeout */
	WAIT_WATCH(p, resolved(p, &io, fh), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fh), HORUS_FUTURE_TIMED_OUT);
	expect_next_done(p, &io, fh, HORUS_FUTURE_TIMED_OUT, NULL);
	ck_assert_int_eq(pool_future_release(p, &io, fh), 0);
	ck_assert_int_eq(atomic_load(&h.freed), 0);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	gate_open(&g);
	WAIT_FOR(atomic_load(&h.freed) == 1, WAIT_MS);
	WAIT_FOR(info_of(p).live == 1 && info_of(p).stuck == 0, WAIT_MS);
	ck_assert_uint_eq(info_of(p).completed, 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(atomic_load(&h.freed), 1);
	gate_fini(&g);
}
END_TEST

/*
 * A hung job times out while its worker is still inside fn, and the node takes and releases
 * the future before the call returns: once after pool_next_done handed it over (the release that
 * takes no lock), once while it still waits on the done list (never handed over after that).
 * Each time the future outlives the release until its worker is out: arg_free runs exactly once,
 * with the pin still held, when the call returns, and the worker frees the future (only the
 * pin's return and arg_free can be seen here; ASan in ./test.sh sees a leak or a double free).
 */
START_TEST(release_while_worker_inside)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0};
	struct gate g;
	struct job h1 = {.result = 1}, h2 = {.result = 2};
	struct horus_future *f1, *f2;

	gate_init(&g);
	h1.gate = &g;
	h2.gate = &g;

	/* Handed over, taken, released: no lock, the worker is still inside. */
	ck_assert_int_eq(submit(p, 0, &io, 8, &h1, 30, 0, &f1), 0);
	WAIT_FOR(atomic_load(&h1.started) == 1, WAIT_MS);
	WAIT_WATCH(p, resolved(p, &io, f1), WAIT_MS);
	ck_assert_int_eq(state(p, &io, f1), HORUS_FUTURE_TIMED_OUT);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	expect_next_done(p, &io, f1, HORUS_FUTURE_TIMED_OUT, NULL);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_take(p, &io, f1), -ETIMEDOUT);
	ck_assert_int_eq(pool_future_release(p, &io, f1), 0);
	ck_assert_int_eq(state(p, &io, f1), -EINVAL);
	ck_assert_int_eq(atomic_load(&h1.returned), 0);
	ck_assert_int_eq(atomic_load(&h1.freed), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1); /* still inside the plugin's code */

	/* On the done list, released before the node looked: the worker is still inside too. */
	ck_assert_int_eq(submit(p, 0, &io, 8, &h2, 30, 0, &f2), 0);
	WAIT_FOR(atomic_load(&h2.started) == 1, WAIT_MS); /* on h1's replacement */
	WAIT_WATCH(p, resolved(p, &io, f2), WAIT_MS);
	ck_assert_int_eq(state(p, &io, f2), HORUS_FUTURE_TIMED_OUT);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS);
	ck_assert_int_eq(pool_future_take(p, &io, f2), -ETIMEDOUT);
	ck_assert_int_eq(pool_future_release(p, &io, f2), 0);
	expect_no_done(p, &io); /* released: not handed over */
	ck_assert_int_eq(atomic_load(&h2.freed), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 2);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.stuck, 2);
		ck_assert_uint_eq(i.live, 3);
		ck_assert_uint_eq(i.running, 2);
	}

	/* The calls return: each worker frees what nobody holds any more. */
	gate_open(&g);
	WAIT_FOR(atomic_load(&h1.freed) == 1 && atomic_load(&h2.freed) == 1, WAIT_MS);
	WAIT_FOR(atomic_load(&R.pins[0]) == 0, WAIT_MS);
	ck_assert_uint_ge(atomic_load(&h1.pin_at_free), 1);
	ck_assert_uint_ge(atomic_load(&h2.pin_at_free), 1);
	WAIT_FOR(info_of(p).live == 1 && info_of(p).stuck == 0 && info_of(p).running == 0, WAIT_MS);
	expect_no_done(p, &io); /* the late results are dropped */
	ck_assert_uint_eq(io.n_owned, 0);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	quick_job_announced(p, &io, 3);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.timed_out, 2);
		ck_assert_uint_eq(i.completed, 1); /* the quick job: the late results don't count */
		ck_assert_uint_eq(i.replaced, 2);
	}
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(atomic_load(&h1.freed), 1);
	ck_assert_int_eq(atomic_load(&h2.freed), 1);
	ck_assert_int_eq(atomic_load(&h1.returned) + atomic_load(&h2.returned), 2);
	ck_assert_uint_eq(atomic_load(&R.calls), 3); /* h1, h2, the quick job: no late ones */
	gate_fini(&g);
}
END_TEST

/*
 * pool_next_done takes every resolved future in one go (its batch) and hands them over one at a
 * time. A future released while in the batch is never handed over: released last in the batch
 * (the next call reports drained), at its head and in its middle (the next call skips them).
 * Nothing leaks (ASan), and the drain re-arms the announcement.
 */
START_TEST(release_in_batch)
{
	struct pool *p = mk_pool(1, 16);
	struct node_io io = {0};
	struct gate g;
	struct job a[2], b[4];
	struct horus_future *fa[2], *fb[4], *got;
	void (*cb)(void *, struct horus_future *);
	uint32_t st;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	gate_init(&g);

	/* Two resolve; the first is handed over, the second released from the batch. */
	for (int i = 0; i < 2; i++) {
		a[i].result = 1 + i;
		ck_assert_int_eq(submit(p, 0, &io, 16, &a[i], 0, 0, &fa[i]), 0);
	}
	WAIT_FOR(resolved(p, &io, fa[0]) && resolved(p, &io, fa[1]), WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	expect_next_done(p, &io, fa[0], HORUS_FUTURE_DONE, NULL);
	ck_assert_int_eq(pool_future_take(p, &io, fa[1]), 2); /* may be taken before handed over */
	ck_assert_int_eq(pool_future_release(p, &io, fa[1]), 0);
	ck_assert_int_eq(state(p, &io, fa[1]), -EINVAL);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_take(p, &io, fa[0]), 1);
	ck_assert_int_eq(pool_future_release(p, &io, fa[0]), 0);
	ck_assert_uint_eq(io.n_owned, 0);
	WAIT_FOR(atomic_load(&a[0].freed) == 1 && atomic_load(&a[1].freed) == 1, WAIT_MS);

	/* Four resolve (the first holds the worker until all are queued): release b1, b2. */
	b[0].gate = &g;
	for (int i = 0; i < 4; i++) {
		b[i].result = 10 + i;
		ck_assert_int_eq(submit(p, 0, &io, 16, &b[i], 0, 0, &fb[i]), 0);
	}
	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fb[3]), WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS); /* drained above: announced again */
	expect_next_done(p, &io, fb[0], HORUS_FUTURE_DONE, NULL);
	ck_assert_int_eq(pool_future_release(p, &io, fb[2]), 0); /* in the middle */
	ck_assert_int_eq(pool_future_release(p, &io, fb[1]), 0); /* at the head */
	ck_assert(pool_next_done(p, &io, &got, &st, &cb));
	ck_assert_ptr_eq(got, fb[3]);
	ck_assert_uint_eq(st, HORUS_FUTURE_DONE);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_take(p, &io, fb[0]), 10);
	ck_assert_int_eq(pool_future_take(p, &io, fb[3]), 13);
	ck_assert_int_eq(pool_future_release(p, &io, fb[0]), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fb[3]), 0);
	ck_assert_uint_eq(io.n_owned, 0);
	for (int i = 0; i < 4; i++) {
		WAIT_FOR(atomic_load(&b[i].freed) == 1, WAIT_MS);
	}
	quick_job_announced(p, &io, 5); /* the batch left nothing behind */
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 3);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(atomic_load(&b[i].freed), 1);
	}
	ck_assert_int_eq(atomic_load(&a[0].freed) + atomic_load(&a[1].freed), 2);
	gate_fini(&g);
}
END_TEST

/*
 * Queued jobs past their timeout resolve TIMED_OUT without running. The node's timeout
 * (timeout_ns) applies when the request sets none; the request's timeout_ms wins over it. A job
 * without a timeout never times out, and its worker is not taken for stuck. Each timeout is
 * announced (from pool_watch) and drained; the three jobs that run then resolve unseen, and are
 * announced once.
 */
START_TEST(timeout_queued)
{
	struct pool *p = mk_pool(1, 16);
	struct node_io io = {0};
	struct gate g;
	struct job a = {.result = 1}, b = {.result = 2}, c = {.result = 3};
	struct job e = {.result = 5}, d = {.result = 4};
	struct horus_future *fa, *fb, *fc, *fe, *fd;
	uint64_t tb, te;

	gate_init(&g);
	a.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 16, &a, 0, 0, &fa), 0);
	WAIT_FOR(atomic_load(&a.started) == 1, WAIT_MS);
	tb = mono_ns();
	ck_assert_int_eq(submit(p, 0, &io, 16, &b, 0, 50 * MS, &fb), 0); /* node's 50 ms */
	ck_assert_int_eq(submit(p, 0, &io, 16, &c, 0, 0, &fc), 0);	 /* none */
	te = mono_ns();
	ck_assert_int_eq(submit(p, 0, &io, 16, &e, 60000, 50 * MS, &fe), 0); /* request's 60 s */
	WAIT_WATCH(p, resolved(p, &io, fb), WAIT_MS);
	ck_assert_msg(mono_ns() - tb >= 50 * MS, "timed out early");
	ck_assert_int_eq(state(p, &io, fb), HORUS_FUTURE_TIMED_OUT);
	ck_assert_int_eq(atomic_load(&b.started), 0);
	ck_assert_int_eq(atomic_load(&b.freed), 1); /* at once: it will never run */
	ck_assert_int_eq(pool_future_take(p, &io, fb), -ETIMEDOUT);
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS); /* from pool_watch */
	expect_next_done(p, &io, fb, HORUS_FUTURE_TIMED_OUT, NULL);
	expect_no_done(p, &io);
	/* e's node timeout has passed too, but its own 60 s apply. */
	WAIT_WATCH(p, mono_ns() - te > 80 * MS, WAIT_MS);
	ck_assert_int_eq(state(p, &io, fe), HORUS_FUTURE_PENDING);
	ck_assert_int_eq(state(p, &io, fc), HORUS_FUTURE_PENDING);
	ck_assert_int_eq(state(p, &io, fa), HORUS_FUTURE_PENDING);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.timed_out, 1);
		ck_assert_uint_eq(i.replaced, 0);
		ck_assert_uint_eq(i.stuck, 0);
		ck_assert_uint_eq(i.queued, 2);
	}
	ck_assert_uint_eq(atomic_load(&io.pending), 3);

	/* A watcher that fell far behind a queued job's deadline reports the pool unhealthy. */
	ck_assert(pool_watch(p, mono_ns()));
	ck_assert_int_eq(submit(p, 0, &io, 16, &d, 10, 0, &fd), 0);
	ck_assert(!pool_watch(p, mono_ns() + 2000 * MS));
	ck_assert_int_eq(state(p, &io, fd), HORUS_FUTURE_TIMED_OUT);
	ck_assert_int_eq(atomic_load(&d.freed), 1);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS); /* from pool_watch */
	expect_next_done(p, &io, fd, HORUS_FUTURE_TIMED_OUT, NULL);
	expect_no_done(p, &io);
	ck_assert(pool_watch(p, mono_ns()));
	/* Even 2 s late, the other queued jobs keep their own deadlines. */
	ck_assert_int_eq(state(p, &io, fe), HORUS_FUTURE_PENDING);

	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fa) && resolved(p, &io, fc) && resolved(p, &io, fe), WAIT_MS);
	ck_assert_int_eq(pool_future_take(p, &io, fa), 1);
	ck_assert_int_eq(pool_future_take(p, &io, fc), 3);
	ck_assert_int_eq(pool_future_take(p, &io, fe), 5);
	ck_assert_int_eq(atomic_load(&b.started) + atomic_load(&d.started), 0);
	ck_assert_uint_eq(atomic_load(&io.timed_out), 2);
	ck_assert_uint_eq(atomic_load(&io.completed), 3);
	WAIT_FOR(atomic_load(&R.calls) == 3, WAIT_MS); /* b, d; then once for a, c and e */
	expect_next_done(p, &io, fa, HORUS_FUTURE_DONE, NULL);
	expect_next_done(p, &io, fc, HORUS_FUTURE_DONE, NULL);
	expect_next_done(p, &io, fe, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io);
	ck_assert_int_eq(pool_future_release(p, &io, fa), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fb), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fc), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fd), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fe), 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 3);
	ck_assert_int_eq(atomic_load(&a.freed) + atomic_load(&b.freed) + atomic_load(&c.freed) +
			     atomic_load(&d.freed) + atomic_load(&e.freed),
			 5);
	gate_fini(&g);
}
END_TEST

/*
 * Stuck workers are replaced up to POOL_MAX_REPLACEMENTS at a time: hung jobs that time out one
 * after another each get a replacement until the cap; past it the pool has no free worker
 * (queued jobs time out unrun). When the calls return, the pool is back to its size.
 */
START_TEST(replacement_cap)
{
	enum { N = POOL_MAX_REPLACEMENTS + 2 };
	struct pool *p = mk_pool(1, 64);
	struct node_io io = {0};
	struct gate g;
	struct job *j = calloc(N, sizeof(*j));
	struct horus_future *f[N];

	ck_assert_ptr_nonnull(j);
	gate_init(&g);
	for (int i = 0; i < N; i++) {
		j[i].gate = &g;
		j[i].result = i;
		/*
		 * One at a time: each starts on the worker that replaced the last stuck one. No
		 * watch until it has started (only pool_watch times a queued job out), so that a
		 * slow thread start cannot make it time out in the queue.
		 */
		ck_assert_int_eq(submit(p, 0, &io, 64, &j[i], 20, 0, &f[i]), 0);
		if (i <= POOL_MAX_REPLACEMENTS) {
			WAIT_FOR(atomic_load(&j[i].started) == 1, WAIT_MS);
		} else {
			struct pool_info in = info_of(p);

			ck_assert_msg(in.live == in.stuck, "past the cap: %u live, %u stuck",
				      in.live, in.stuck);
		}
		WAIT_WATCH(p, resolved(p, &io, f[i]), WAIT_MS);
		ck_assert_int_eq(state(p, &io, f[i]), HORUS_FUTURE_TIMED_OUT);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_msg(atomic_load(&j[i].started) == (i <= POOL_MAX_REPLACEMENTS),
			      "job %d started %d", i, atomic_load(&j[i].started));
	}
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.replaced, POOL_MAX_REPLACEMENTS);
		ck_assert_uint_eq(i.stuck, POOL_MAX_REPLACEMENTS + 1);
		ck_assert_uint_eq(i.live, POOL_MAX_REPLACEMENTS + 1);
		ck_assert_uint_eq(i.timed_out, N);
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(pool_future_release(p, &io, f[i]), 0);
	}
	gate_open(&g);
	WAIT_FOR(info_of(p).live == 1 && info_of(p).stuck == 0 && info_of(p).running == 0, WAIT_MS);
	quick_job(p, &io, 1);
	for (int i = 0; i < N; i++) {
		WAIT_FOR(atomic_load(&j[i].freed) == 1, WAIT_MS);
	}
	pool_detach_node(p, &io);
	end_pool(p);
	gate_fini(&g);
	free(j);
}
END_TEST

/* ---- the plugin pin ----------------------------------------------------------------------- */

/*
 * A job pins its plugin's code (pool_submit's *pin) from submit until it is over for good: a
 * hung job through its timeout and its release, until the stuck call has returned and its
 * arg_free has run (arg_free is plugin code: it runs with the pin still held). Refused
 * submissions take none; jobs cancelled, released or timed out in the queue give theirs back at
 * once. A NULL pin is allowed.
 */
START_TEST(pin)
{
	struct pool *p = mk_pool(1, 2);
	struct node_io io = {0};
	struct gate g;
	struct job h = {.result = 1}, c = {0}, q1 = {0}, q2 = {0}, x = {0}, y = {0};
	struct horus_future *fh, *fc, *fq1, *fq2, *fx = NULL, *fy, *fn;
	struct horus_io_request nopin = {.fn = job_fn, .arg = &x};

	gate_init(&g);
	h.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 8, &h, 200, 0, &fh), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1);
	WAIT_FOR(atomic_load(&h.started) == 1, WAIT_MS);

	ck_assert_int_eq(submit(p, 0, &io, 8, &c, 0, 0, &fc), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 2);
	ck_assert_int_eq(pool_future_cancel(p, &io, fc), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1);
	ck_assert_uint_eq(atomic_load(&c.pin_at_free), 2);

	ck_assert_int_eq(submit(p, 0, &io, 8, &q1, 0, 0, &fq1), 0);
	ck_assert_int_eq(submit(p, 0, &io, 8, &q2, 0, 0, &fq2), 0);
	ck_assert_int_eq(submit(p, 0, &io, 8, &x, 0, 0, &fx), -EBUSY); /* the queue is full */
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 3);
	ck_assert_int_eq(pool_future_release(p, &io, fq1), 0);
	ck_assert_int_eq(pool_future_cancel(p, &io, fq2), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1);

	/* Timed out in the queue (10 ms, while h holds the one worker for up to 200 ms). */
	ck_assert_int_eq(submit(p, 0, &io, 8, &y, 10, 0, &fy), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 2);
	WAIT_WATCH(p, resolved(p, &io, fy), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fy), HORUS_FUTURE_TIMED_OUT);
	ck_assert_int_eq(atomic_load(&y.started), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1);
	ck_assert_uint_eq(atomic_load(&y.pin_at_free), 2);

	/* h times out, is taken and released: its call is still stuck in plugin code. */
	WAIT_WATCH(p, resolved(p, &io, fh), WAIT_MS);
	ck_assert_int_eq(state(p, &io, fh), HORUS_FUTURE_TIMED_OUT);
	ck_assert_int_eq(pool_future_take(p, &io, fh), -ETIMEDOUT);
	ck_assert_int_eq(pool_future_release(p, &io, fh), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1);
	ck_assert_int_eq(atomic_load(&h.freed), 0);
	gate_open(&g);
	WAIT_FOR(atomic_load(&R.pins[0]) == 0, WAIT_MS);
	ck_assert_int_eq(atomic_load(&h.freed), 1);
	ck_assert_uint_eq(atomic_load(&h.pin_at_free), 1);

	/* No pin at all. */
	ck_assert_int_eq(pool_submit(p, TOKEN(0), &io, 8, &nopin, 0, NULL, &fn), 0);
	WAIT_FOR(resolved(p, &io, fn), WAIT_MS);
	ck_assert_int_eq(pool_future_take(p, &io, fn), 0);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(
	    atomic_load(&q1.started) + atomic_load(&q2.started) + atomic_load(&c.started), 0);
	ck_assert_int_eq(atomic_load(&q1.freed) + atomic_load(&q2.freed) + atomic_load(&c.freed) +
			     atomic_load(&y.freed),
			 4);
	gate_fini(&g);
}
END_TEST

/* ---- cancel, detach ----------------------------------------------------------------------- */

START_TEST(cancel)
{
	struct pool *p = mk_pool(1, 8);
	struct node_io io = {0}, other = {0};
	struct gate g;
	struct job a = {.result = 1}, b = {.result = 2}, c = {.result = 3};
	struct horus_future *fa, *fb, *fc;

	gate_init(&g);
	a.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 8, &a, 0, 0, &fa), 0);
	WAIT_FOR(atomic_load(&a.started) == 1, WAIT_MS);
	ck_assert_int_eq(submit(p, 0, &io, 8, &b, 0, 0, &fb), 0);
	ck_assert_int_eq(submit(p, 0, &io, 8, &c, 0, 0, &fc), 0);

	ck_assert_int_eq(pool_future_cancel(p, &other, fb), -EINVAL);
	ck_assert_int_eq(pool_future_cancel(p, &io, fb), 0);
	ck_assert_int_eq(state(p, &io, fb), HORUS_FUTURE_CANCELLED);
	ck_assert_int_eq(atomic_load(&b.freed), 1); /* at once */
	ck_assert_int_eq(pool_future_cancel(p, &io, fb), -EALREADY);
	ck_assert_int_eq(pool_future_take(p, &io, fb), -ECANCELED);
	ck_assert_int_eq(pool_future_take(p, &io, fb), -EALREADY);
	ck_assert_uint_eq(atomic_load(&io.pending), 2);
	/* A cancelled future is announced and handed over like any resolved one. */
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	expect_next_done(p, &io, fb, HORUS_FUTURE_CANCELLED, NULL);
	expect_no_done(p, &io);

	ck_assert_int_eq(pool_future_cancel(p, &io, fa), -EBUSY); /* running */
	ck_assert_int_eq(state(p, &io, fa), HORUS_FUTURE_PENDING);

	/* Released while queued: nobody will look, so it never runs either. */
	ck_assert_int_eq(pool_future_release(p, &io, fc), 0);
	ck_assert_int_eq(atomic_load(&c.freed), 1);
	ck_assert_uint_eq(atomic_load(&io.pending), 1);
	ck_assert_uint_eq(atomic_load(&R.calls), 1); /* nor is anybody told */
	expect_no_done(p, &io);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.cancelled, 2);
		ck_assert_uint_eq(i.queued, 0);
	}

	gate_open(&g);
	WAIT_FOR(resolved(p, &io, fa), WAIT_MS);
	ck_assert_int_eq(pool_future_cancel(p, &io, fa), -EALREADY);
	ck_assert_int_eq(pool_future_take(p, &io, fa), 1);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS);
	/* Resolves while a waits to be seen: not told again. */
	quick_job(p, &io, 4); /* the worker is free: b and c would have run by now */
	ck_assert_int_eq(atomic_load(&b.started) + atomic_load(&c.started), 0);
	expect_next_done(p, &io, fa, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io); /* quick_job released its own */
	ck_assert_int_eq(pool_future_release(p, &io, fa), 0);
	ck_assert_int_eq(pool_future_release(p, &io, fb), 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_int_eq(atomic_load(&a.freed), 1);
	ck_assert_int_eq(atomic_load(&b.freed), 1);
	ck_assert_int_eq(atomic_load(&c.freed), 1);
	ck_assert_uint_eq(atomic_load(&R.calls), 2); /* b; a, the quick job unannounced behind it */
	gate_fini(&g);
}
END_TEST

/*
 * The node stops: its queued jobs are cancelled (arg_free now, never run), the running one
 * finishes unobserved (arg_free when it returns), resolved ones are freed; its node_io is
 * empty and usable again. Nobody is told about the detached node's jobs afterwards.
 */
START_TEST(detach)
{
	struct pool *p = mk_pool(1, 16);
	struct node_io io = {0};
	struct gate g;
	struct job done = {.result = 1}, run = {.result = 2}, q[3] = {{0}}, again = {0};
	struct horus_future *fd, *fr, *fq[3], *fa;
	uint64_t calls;

	gate_init(&g);
	run.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 16, &done, 0, 0, &fd), 0);
	WAIT_FOR(resolved(p, &io, fd), WAIT_MS); /* resolved, not yet seen: on the done list */
	ck_assert_int_eq(submit(p, 0, &io, 16, &run, 0, 0, &fr), 0);
	WAIT_FOR(atomic_load(&run.started) == 1, WAIT_MS);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(submit(p, 0, &io, 16, &q[i], 0, 0, &fq[i]), 0);
	}
	WAIT_FOR(atomic_load(&R.calls) == 1, WAIT_MS);
	calls = atomic_load(&R.calls);

	ck_assert_uint_eq(atomic_load(&R.pins[0]), 4); /* run and the three queued */
	pool_detach_node(p, &io);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(atomic_load(&q[i].freed), 1);
		ck_assert_uint_ge(atomic_load(&q[i].pin_at_free), 1);
	}
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1); /* the running job may still run code */
	ck_assert_int_eq(atomic_load(&done.freed), 1);
	ck_assert_int_eq(atomic_load(&run.freed), 0);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	ck_assert_uint_eq(io.n_owned, 0);
	ck_assert_uint_eq(atomic_load(&io.done), 0);
	expect_no_done(p, &io);
	ck_assert_int_eq(state(p, &io, fr), -EINVAL);
	ck_assert_int_eq(pool_future_release(p, &io, fr), -EINVAL);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.cancelled, 3);
		ck_assert_uint_eq(i.queued, 0);
		ck_assert_uint_eq(i.running, 1);
	}

	gate_open(&g);
	WAIT_FOR(atomic_load(&run.freed) == 1, WAIT_MS);
	WAIT_FOR(atomic_load(&R.pins[0]) == 0, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&run.pin_at_free), 1);
	WAIT_FOR(info_of(p).running == 0, WAIT_MS);
	expect_no_done(p, &io);

	/* The node_io starts afresh (a restarted node). */
	ck_assert_int_eq(submit(p, 0, &io, 16, &again, 0, 0, &fa), 0);
	WAIT_FOR(resolved(p, &io, fa), WAIT_MS);
	expect_next_done(p, &io, fa, HORUS_FUTURE_DONE, NULL);
	ck_assert_int_eq(pool_future_release(p, &io, fa), 0);
	pool_detach_node(p, &io);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), calls + 1); /* again; nothing for run */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(atomic_load(&q[i].started), 0);
		ck_assert_int_eq(atomic_load(&q[i].freed), 1);
	}
	ck_assert_int_eq(atomic_load(&run.freed), 1);
	ck_assert_int_eq(atomic_load(&again.freed), 1);
	gate_fini(&g);
}
END_TEST

/* Detaching a node with more jobs than the pool handles per batch: every arg_free, once. */
START_TEST(detach_many)
{
	enum { N = 40 };
	struct pool *p = mk_pool(1, 64);
	struct node_io io = {0};
	struct gate g;
	struct job run = {0}, q[N];
	struct horus_future *f;

	memset(q, 0, sizeof(q));
	gate_init(&g);
	run.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 64, &run, 0, 0, &f), 0);
	WAIT_FOR(atomic_load(&run.started) == 1, WAIT_MS);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(submit(p, 0, &io, 64, &q[i], 0, 0, &f), 0);
	}
	pool_detach_node(p, &io);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(atomic_load(&q[i].freed) == 1, "job %d: arg_free %d times", i,
			      atomic_load(&q[i].freed));
	}
	gate_open(&g);
	WAIT_FOR(atomic_load(&run.freed) == 1, WAIT_MS);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 0);
	gate_fini(&g);
}
END_TEST

static uint64_t timed_out_of(struct node_io *io, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++) {
		sum += atomic_load(&io[i].timed_out);
	}
	return sum;
}

/*
 * Many queued jobs, of four nodes, time out at once (more than the pool handles in one watch,
 * so over a few watches): each resolves, every arg_free runs once, and every node is told
 * exactly once for all of its jobs. After its drain, a node's next resolution is told again.
 */
START_TEST(timeout_many_queued)
{
	enum { N = 40, NODES = 4 };
	struct pool *p = mk_pool(1, 64);
	struct node_io io[NODES];
	struct gate g;
	struct job run = {0}, q[N];
	struct horus_future *fr, *f[N];

	memset(io, 0, sizeof(io));
	memset(q, 0, sizeof(q));
	gate_init(&g);
	run.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io[0], 64, &run, 0, 0, &fr), 0);
	WAIT_FOR(atomic_load(&run.started) == 1, WAIT_MS);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(submit(p, i % NODES, &io[i % NODES], 64, &q[i], 10, 0, &f[i]), 0);
	}
	WAIT_WATCH(p, timed_out_of(io, NODES) == N, WAIT_MS);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(state(p, &io[i % NODES], f[i]), HORUS_FUTURE_TIMED_OUT);
		ck_assert_int_eq(atomic_load(&q[i].freed), 1);
		ck_assert_int_eq(atomic_load(&q[i].started), 0);
	}
	/* Every node whose jobs resolved was told, once: none of them has looked yet. */
	WAIT_FOR(atomic_load(&R.calls) == NODES, WAIT_MS);
	for (int t = 0; t < NODES; t++) {
		ck_assert_uint_eq(atomic_load(&R.per[t]), 1);
		ck_assert_uint_eq(atomic_load(&io[t].timed_out), N / NODES);
	}
	for (int t = 0; t < NODES; t++) {
		int seen = 0;

		for (;;) {
			struct horus_future *got;
			void (*cb)(void *, struct horus_future *);
			uint32_t st;

			if (!pool_next_done(p, &io[t], &got, &st, &cb)) {
				break;
			}
			ck_assert_int_lt(seen, N / NODES);
			/* In the order they resolved: queue order. */
			ck_assert_ptr_eq(got, f[seen * NODES + t]);
			ck_assert_uint_eq(st, HORUS_FUTURE_TIMED_OUT);
			seen++;
		}
		ck_assert_int_eq(seen, N / NODES);
	}
	/* Drained: the running job's resolution is told, to its node alone. */
	gate_open(&g);
	WAIT_FOR(resolved(p, &io[0], fr), WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == NODES + 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.per[0]), 2);
	expect_next_done(p, &io[0], fr, HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io[0]);
	for (int t = 0; t < NODES; t++) {
		pool_detach_node(p, &io[t]);
	}
	WAIT_FOR(atomic_load(&run.freed) == 1, WAIT_MS);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), NODES + 1);
	gate_fini(&g);
}
END_TEST

/* ---- workers ------------------------------------------------------------------------------ */

/*
 * n jobs that block on one gate, on a pool of 4 workers: the first 4 run at once (each waited
 * for), the rest wait in the queue; then the gate opens and every one completes and is handed
 * over, in one announcement.
 */
static void fan_out_round(struct pool *p, struct node_io *io, int n)
{
	struct gate g;
	struct job j[8];
	struct horus_future *f[8];
	uint64_t calls = atomic_load(&R.calls);

	ck_assert_int_le(n, 8);
	memset(j, 0, sizeof(j));
	gate_init(&g);
	for (int i = 0; i < n; i++) {
		j[i].gate = &g;
		j[i].result = i;
		ck_assert_int_eq(submit(p, 0, io, 8, &j[i], 0, 0, &f[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		WAIT_FOR(atomic_load(&j[i].started) == 1, WAIT_MS);
	}
	{
		struct pool_info in = info_of(p);

		ck_assert_uint_eq(in.running, 4);
		ck_assert_uint_eq(in.queued, (uint32_t)n - 4);
	}
	for (int i = 4; i < n; i++) {
		ck_assert_int_eq(atomic_load(&j[i].started), 0); /* no worker free for them */
	}
	ck_assert_uint_eq(atomic_load(&io->completed), 0);
	gate_open(&g);
	for (int i = 0; i < n; i++) {
		WAIT_FOR(resolved(p, io, f[i]), WAIT_MS);
		WAIT_FOR(atomic_load(&j[i].freed) == 1, WAIT_MS);
	}
	WAIT_FOR(atomic_load(&R.calls) == calls + 1, WAIT_MS);
	for (int i = 0; i < n; i++) {
		struct horus_future *got;
		void (*cb)(void *, struct horus_future *);
		uint32_t st;

		/* Four workers: the first four may resolve in any order. */
		ck_assert(pool_next_done(p, io, &got, &st, &cb));
		ck_assert_uint_eq(st, HORUS_FUTURE_DONE);
		ck_assert_int_ge(pool_future_take(p, io, got), 0);
		ck_assert_int_eq(pool_future_release(p, io, got), 0);
	}
	expect_no_done(p, io);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(atomic_load(&j[i].started), 1);
		ck_assert_int_eq(atomic_load(&j[i].returned), 1);
	}
	ck_assert_uint_eq(atomic_load(&io->completed), (uint64_t)n);
	ck_assert_uint_eq(atomic_load(&io->pending), 0);
	ck_assert_uint_eq(io->n_owned, 0);
	pool_detach_node(p, io);
	memset(io, 0, sizeof(*io)); /* io->completed counts this round only */
	gate_fini(&g);
}

/*
 * A submit wakes at most one worker and a worker wakes the next only as it takes a job, yet
 * blocking jobs still fan out over every worker: a fresh pool, a pool whose workers have gone
 * to sleep, and twice as many jobs as workers (4 run, 4 wait, then all complete).
 */
START_TEST(fan_out_blocking)
{
	struct pool *p = mk_pool(4, 16);
	struct node_io io = {0};

	fan_out_round(p, &io, 4);
	/*
	 * Not a synchronisation: whatever the workers are doing, the round must pass. Idle this
	 * long (400 times POOL_SPIN_NS), they have most likely stopped spinning and gone to sleep,
	 * which is the case to cover.
	 */
	usleep(20000);
	fan_out_round(p, &io, 4);
	usleep(20000);
	fan_out_round(p, &io, 8);
	fan_out_round(p, &io, 8); /* at once: some workers awake, some asleep */
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, 24);
		ck_assert_uint_eq(i.completed, 24);
		ck_assert_uint_eq(i.live, 4);
		ck_assert_uint_eq(i.running + i.queued, 0);
	}
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 4);
}
END_TEST

/*
 * The race a lock-free submit opens: a job pushed while the only free worker is taking the one
 * before it. Two workers, two blocking jobs submitted back to back, many times over: both must
 * be running at once every time (a lost wake-up leaves the second queued until the first ends,
 * which never happens before the gate opens).
 */
START_TEST(fan_out_races)
{
	const int rounds = 3000; /* seconds; it caught a lost wake-up in 1 of 3 TSan runs */
	struct pool *p = mk_pool(2, 16);
	struct node_io io = {0};

	for (int k = 0; k < rounds; k++) {
		struct gate g;
		struct job j[2];
		struct horus_future *f[2];

		memset(j, 0, sizeof(j));
		gate_init(&g);
		for (int i = 0; i < 2; i++) {
			j[i].gate = &g;
			ck_assert_int_eq(submit(p, 0, &io, 8, &j[i], 0, 0, &f[i]), 0);
		}
		WAIT_FOR(atomic_load(&j[0].started) == 1 && atomic_load(&j[1].started) == 1,
			 WAIT_MS);
		gate_open(&g);
		for (int i = 0; i < 2; i++) {
			WAIT_FOR(resolved(p, &io, f[i]) && atomic_load(&j[i].freed) == 1, WAIT_MS);
			ck_assert_int_eq(pool_future_release(p, &io, f[i]), 0);
		}
		gate_fini(&g);
		while (pool_next_done(p, &io, &f[0], &(uint32_t){0},
				      &(void (*)(void *, struct horus_future *)){NULL})) {
		}
	}
	ck_assert_uint_eq(info_of(p).completed, (uint64_t)rounds * 2);
	pool_detach_node(p, &io);
	end_pool(p);
}
END_TEST

/* ---- resize ------------------------------------------------------------------------------- */

START_TEST(resize)
{
	struct pool *p = mk_pool(2, 4);
	struct node_io io = {0};
	struct gate g1, g2, g3;
	struct job a[5], b[3], c = {0}, q[9];
	struct horus_future *f;
	struct pool_info i = info_of(p);

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(q, 0, sizeof(q));
	ck_assert_str_eq(i.name, "test");
	ck_assert_str_eq(pool_name(p), "test");
	ck_assert_uint_eq(i.workers, 2);
	ck_assert_uint_eq(i.live, 2);
	ck_assert_uint_eq(i.queue, 4);

	/* Up: the new workers start now, and all run at once. */
	pool_resize(p, 5, 32);
	i = info_of(p);
	ck_assert_uint_eq(i.workers, 5);
	ck_assert_uint_eq(i.live, 5);
	ck_assert_uint_eq(i.queue, 32);
	gate_init(&g1);
	for (int k = 0; k < 5; k++) {
		a[k].gate = &g1;
		ck_assert_int_eq(submit(p, 0, &io, 64, &a[k], 0, 0, &f), 0);
	}
	WAIT_FOR(info_of(p).running == 5, WAIT_MS);
	gate_open(&g1);
	WAIT_FOR(atomic_load(&io.completed) == 5, WAIT_MS);

	/* Down while idle: the surplus leaves. */
	pool_resize(p, 1, 2);
	WAIT_FOR(info_of(p).live == 1, WAIT_MS);
	i = info_of(p);
	ck_assert_uint_eq(i.workers, 1);
	ck_assert_uint_eq(i.queue, 2);

	/* Down while busy: no call is cut short; the surplus leaves when its job returns. */
	pool_resize(p, 3, 8);
	gate_init(&g2);
	for (int k = 0; k < 3; k++) {
		b[k].gate = &g2;
		ck_assert_int_eq(submit(p, 0, &io, 64, &b[k], 0, 0, &f), 0);
	}
	WAIT_FOR(info_of(p).running == 3, WAIT_MS);
	pool_resize(p, 1, 8);
	i = info_of(p);
	ck_assert_uint_eq(i.workers, 1);
	ck_assert_uint_eq(i.live, 3);
	ck_assert_int_eq(submit(p, 0, &io, 64, &c, 0, 0, &f), 0); /* queued behind them */
	gate_open(&g2);
	WAIT_FOR(atomic_load(&io.completed) == 9, WAIT_MS);
	WAIT_FOR(info_of(p).live == 1, WAIT_MS);
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(atomic_load(&b[k].returned), 1);
	}

	/* The new queue capacity holds. */
	gate_init(&g3);
	q[0].gate = &g3;
	ck_assert_int_eq(submit(p, 0, &io, 64, &q[0], 0, 0, &f), 0);
	WAIT_FOR(atomic_load(&q[0].started) == 1, WAIT_MS);
	for (int k = 1; k <= 8; k++) {
		ck_assert_int_eq(submit(p, 0, &io, 64, &q[k], 0, 0, &f), 0);
	}
	{
		struct job x = {0};

		ck_assert_int_eq(submit(p, 0, &io, 64, &x, 0, 0, &f), -EBUSY);
	}
	gate_open(&g3);
	WAIT_FOR(atomic_load(&io.completed) == 18, WAIT_MS);
	pool_detach_node(p, &io);
	end_pool(p);
	gate_fini(&g1);
	gate_fini(&g2);
	gate_fini(&g3);
}
END_TEST

/* ---- notify, latency ---------------------------------------------------------------------- */

/*
 * A resolution is announced when none of its node's resolved jobs is waiting to be seen: by a
 * notify naming the node of the job, with no pool lock held (the callback takes it again); by
 * then the future is on that node's done list. Here each node drains (pool_next_done until
 * false) before its next job, so every one of the 30 resolutions is announced, exactly once, to
 * its own node.
 */
START_TEST(notify_per_node)
{
	struct pool *p = mk_pool(3, 32);
	struct node_io io[3];
	struct job j[3][10];
	struct horus_future *f[3][10];

	memset(io, 0, sizeof(io));
	memset(j, 0, sizeof(j));
	for (int k = 0; k < 10; k++) {
		for (int n = 0; n < 3; n++) {
			uint64_t before = atomic_load(&R.per[n + 1]);

			j[n][k].result = n * 100 + k;
			j[n][k].msg = "x";
			if (k % 3 == 2) {
				j[n][k].result = -EIO;
			}
			ck_assert_int_eq(submit(p, n + 1, &io[n], 32, &j[n][k], 0, 0, &f[n][k]), 0);
			WAIT_FOR(resolved(p, &io[n], f[n][k]), WAIT_MS);
			WAIT_FOR(atomic_load(&R.per[n + 1]) == before + 1, WAIT_MS);
			expect_next_done(p, &io[n], f[n][k],
					 k % 3 == 2 ? HORUS_FUTURE_FAILED : HORUS_FUTURE_DONE,
					 NULL);
			expect_no_done(p, &io[n]);
		}
	}
	ck_assert_uint_eq(atomic_load(&R.calls), 30);
	ck_assert_uint_eq(atomic_load(&R.per[0]), 0);
	ck_assert_uint_eq(atomic_load(&R.foreign), 0);
	for (int n = 0; n < 3; n++) {
		ck_assert_uint_eq(atomic_load(&R.per[n + 1]), 10);
		for (int k = 0; k < 10; k++) {
			ck_assert_int_eq(pool_future_take(p, &io[n], f[n][k]),
					 k % 3 == 2 ? -EIO : n * 100 + k);
			ck_assert_int_eq(pool_future_release(p, &io[n], f[n][k]), 0);
		}
		expect_no_done(p, &io[n]);
		ck_assert_uint_eq(atomic_load(&io[n].completed), 7);
		ck_assert_uint_eq(atomic_load(&io[n].failed), 3);
	}
	for (int n = 0; n < 3; n++) {
		pool_detach_node(p, &io[n]);
	}
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.calls), 30);
}
END_TEST

/* Hands over every resolved future of io, as its thread would: each is want[i] with state st. */
static void expect_drain(struct pool *p, struct node_io *io, struct horus_future *const *want,
			 int n, uint32_t st)
{
	for (int i = 0; i < n; i++) {
		expect_next_done(p, io, want[i], st, NULL);
	}
	expect_no_done(p, io);
}

/*
 * The announcement is once until drained: jobs of a node resolving while one of its jobs waits
 * to be seen are not announced again, whether the node has not looked yet or is in the middle
 * of its pass; pool_next_done hands them all over in the order they resolved, and once it
 * has returned false the next resolution is announced, once. Nodes are told independently.
 * One worker: jobs resolve in queue order.
 */
START_TEST(announce_once_until_drained)
{
	enum { N = 5 };
	struct pool *p = mk_pool(1, 32);
	struct node_io io = {0}, ia = {0}, ib = {0};
	struct gate g, g2;
	struct job j[N + 2], a[3], b[3];
	struct horus_future *f[N + 2], *fa[3], *fb[3];

	memset(j, 0, sizeof(j));
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	gate_init(&g);
	gate_init(&g2);

	/* N jobs resolve back to back, nobody looking: one announcement. */
	j[0].gate = &g;
	for (int i = 0; i < N; i++) {
		j[i].result = 10 + i;
		ck_assert_int_eq(submit(p, 0, &io, 32, &j[i], 0, 0, &f[i]), 0);
	}
	WAIT_FOR(atomic_load(&j[0].started) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.calls), 0);
	gate_open(&g);
	WAIT_FOR(resolved(p, &io, f[N - 1]), WAIT_MS);
	WAIT_FOR(atomic_load(&j[N - 1].freed) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.calls), 1);
	ck_assert_uint_eq(atomic_load(&R.per[0]), 1);
	expect_drain(p, &io, f, N, HORUS_FUTURE_DONE);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(pool_future_take(p, &io, f[i]), 10 + i);
		ck_assert_int_eq(pool_future_release(p, &io, f[i]), 0);
	}

	/* Drained: the next resolution is announced, once. */
	j[N].result = 10 + N;
	ck_assert_int_eq(submit(p, 0, &io, 32, &j[N], 0, 0, &f[N]), 0);
	WAIT_FOR(resolved(p, &io, f[N]), WAIT_MS);
	WAIT_FOR(atomic_load(&R.calls) == 2, WAIT_MS);

	/*
	 * Mid-pass (pool_next_done has handed a future over, not yet returned false) is not
	 * drained: a job resolving now is not announced...
	 */
	expect_next_done(p, &io, f[N], HORUS_FUTURE_DONE, NULL);
	j[N + 1].result = 11 + N;
	ck_assert_int_eq(submit(p, 0, &io, 32, &j[N + 1], 0, 0, &f[N + 1]), 0);
	WAIT_FOR(resolved(p, &io, f[N + 1]), WAIT_MS);
	WAIT_FOR(atomic_load(&j[N + 1].freed) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.calls), 2);
	/* ... but handed over in the same pass, before it reports drained. */
	expect_next_done(p, &io, f[N + 1], HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &io);
	for (int i = N; i < N + 2; i++) {
		ck_assert_int_eq(pool_future_take(p, &io, f[i]), 10 + i);
		ck_assert_int_eq(pool_future_release(p, &io, f[i]), 0);
	}
	ck_assert_uint_eq(atomic_load(&R.per[0]), 2);

	/* Two nodes (tokens 1 and 2), jobs interleaved: each is told once, of its own. */
	a[0].gate = &g2;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(submit(p, 1, &ia, 32, &a[i], 0, 0, &fa[i]), 0);
		ck_assert_int_eq(submit(p, 2, &ib, 32, &b[i], 0, 0, &fb[i]), 0);
	}
	WAIT_FOR(atomic_load(&a[0].started) == 1, WAIT_MS);
	gate_open(&g2);
	WAIT_FOR(resolved(p, &ib, fb[1]), WAIT_MS);
	WAIT_FOR(atomic_load(&b[1].freed) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.per[1]), 1);
	ck_assert_uint_eq(atomic_load(&R.per[2]), 1);
	ck_assert_uint_eq(atomic_load(&R.calls), 4);

	/* Only b drains: a's next job is not announced, b's is. */
	expect_drain(p, &ib, fb, 2, HORUS_FUTURE_DONE);
	ck_assert_int_eq(submit(p, 1, &ia, 32, &a[2], 0, 0, &fa[2]), 0);
	WAIT_FOR(resolved(p, &ia, fa[2]), WAIT_MS);
	ck_assert_int_eq(submit(p, 2, &ib, 32, &b[2], 0, 0, &fb[2]), 0);
	WAIT_FOR(resolved(p, &ib, fb[2]), WAIT_MS);
	WAIT_FOR(atomic_load(&R.per[2]) == 2, WAIT_MS);
	WAIT_FOR(atomic_load(&b[2].freed) == 1, WAIT_MS);
	ck_assert_uint_eq(atomic_load(&R.per[1]), 1);
	expect_drain(p, &ia, fa, 3, HORUS_FUTURE_DONE);
	expect_next_done(p, &ib, fb[2], HORUS_FUTURE_DONE, NULL);
	expect_no_done(p, &ib);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pool_future_release(p, &ia, fa[i]), 0);
		ck_assert_int_eq(pool_future_release(p, &ib, fb[i]), 0);
	}
	pool_detach_node(p, &io);
	pool_detach_node(p, &ia);
	pool_detach_node(p, &ib);
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&R.per[0]), 2);
	ck_assert_uint_eq(atomic_load(&R.per[1]), 1);
	ck_assert_uint_eq(atomic_load(&R.per[2]), 2);
	ck_assert_uint_eq(atomic_load(&R.calls), 5);
	ck_assert_uint_eq(atomic_load(&R.foreign), 0);
	gate_fini(&g);
	gate_fini(&g2);
}
END_TEST

START_TEST(latency)
{
	struct pool *p = mk_pool(2, 64);
	struct node_io io = {0};
	struct job j[20];
	struct horus_future *f[20];
	struct pool_info i = info_of(p);

	ck_assert_uint_eq(i.latency_p50_ns + i.latency_p99_ns + i.latency_max_ns, 0);
	memset(j, 0, sizeof(j));
	/* 20 jobs of 2 ms on 2 workers, submitted at once: the last resolves >= 20 ms later. */
	for (int k = 0; k < 20; k++) {
		j[k].sleep_us = 2000;
		ck_assert_int_eq(submit(p, 0, &io, 64, &j[k], 0, 0, &f[k]), 0);
	}
	WAIT_FOR(atomic_load(&io.completed) == 20, WAIT_MS);
	i = info_of(p);
	ck_assert_msg(i.latency_p50_ns >= 2 * MS, "p50 %.3f ms", i.latency_p50_ns / 1e6);
	ck_assert_msg(i.latency_p99_ns >= i.latency_p50_ns, "p99 %.3f ms < p50 %.3f ms",
		      i.latency_p99_ns / 1e6, i.latency_p50_ns / 1e6);
	ck_assert_msg(i.latency_max_ns >= i.latency_p99_ns, "max < p99");
	ck_assert_msg(i.latency_max_ns >= 20 * MS, "max %.3f ms", i.latency_max_ns / 1e6);
	ck_assert_msg(i.latency_max_ns < 5000 * MS, "max %.3f ms", i.latency_max_ns / 1e6);
	pool_detach_node(p, &io);
	end_pool(p);
}
END_TEST

/* ---- many threads ------------------------------------------------------------------------- */

#define CT_THREADS 8
#define CT_JOBS 1500

struct ct {
	struct pool *p;
	int token;
	struct node_io io;
	uint64_t busy, done, failed, sum, errors;
	char error[160];
};

static _Atomic uint64_t ct_freed;

static int ct_fn(void *arg, char *msg, size_t size)
{
	uintptr_t v = (uintptr_t)arg;

	if (v % 5 == 0) {
		snprintf(msg, size, "job %lu fails", (unsigned long)v);
		return -EIO;
	}
	return (int)v;
}

static void ct_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ct_freed, 1);
}

static void ct_error(struct ct *c, const char *what, int r)
{
	if (!c->errors++) {
		snprintf(c->error, sizeof(c->error), "thread %d: %s: %d", c->token, what, r);
	}
}

static void *ct_main(void *arg)
{
	struct ct *c = arg;
	uint64_t submitted = 0;

	while (c->done + c->failed < CT_JOBS && c->errors == 0) {
		struct horus_future *f;
		void (*cb)(void *, struct horus_future *);
		uint32_t st;
		bool progress = false;

		if (submitted < CT_JOBS) {
			struct horus_io_request req = {
			    .fn = ct_fn,
			    .arg = (void *)(uintptr_t)(submitted + 1),
			    .arg_free = ct_free,
			};
			int r = submit_req(c->p, c->token, &c->io, 4, &req, 0, &f);

			if (r == 0) {
				submitted++;
				progress = true;
			} else if (r == -EBUSY) {
				c->busy++;
			} else {
				ct_error(c, "submit", r);
			}
		}
		while (pool_next_done(c->p, &c->io, &f, &st, &cb)) {
			int r = pool_future_take(c->p, &c->io, f);

			if (st == HORUS_FUTURE_DONE && r > 0) {
				c->done++;
				c->sum += (uint64_t)r;
			} else if (st == HORUS_FUTURE_FAILED && r == -EIO &&
				   strstr(pool_future_error(c->p, &c->io, f), "fails")) {
				c->failed++;
			} else {
				ct_error(c, "take", r);
			}
			r = pool_future_release(c->p, &c->io, f);
			if (r != 0) {
				ct_error(c, "release", r);
			}
			progress = true;
		}
		if (!progress) {
			sched_yield();
		}
	}
	return NULL;
}

struct side {
	struct pool *p;
	_Atomic bool stop;
	uint64_t rounds;
};

/* The watcher and a control-socket reader, beside the submitters. */
static void *side_main(void *arg)
{
	struct side *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pool_info i;

		pool_watch(s->p, mono_ns());
		pool_get_info(s->p, &i);
		s->rounds++;
		usleep(100);
	}
	return NULL;
}

START_TEST(many_threads)
{
	struct pool *p = mk_pool(4, 12);
	struct ct *c = calloc(CT_THREADS, sizeof(*c));
	pthread_t tid[CT_THREADS], side_tid;
	struct side side = {.p = p};
	uint64_t busy = 0, done = 0, failed = 0, sum = 0, want_done = 0, want_sum = 0;

	ck_assert_ptr_nonnull(c);
	atomic_store(&ct_freed, 0);
	for (uint64_t v = 1; v <= CT_JOBS; v++) {
		if (v % 5) {
			want_done++;
			want_sum += v;
		}
	}
	ck_assert_int_eq(pthread_create(&side_tid, NULL, side_main, &side), 0);
	for (int t = 0; t < CT_THREADS; t++) {
		c[t].p = p;
		c[t].token = t;
		ck_assert_int_eq(pthread_create(&tid[t], NULL, ct_main, &c[t]), 0);
	}
	for (int t = 0; t < CT_THREADS; t++) {
		pthread_join(tid[t], NULL);
	}
	atomic_store(&side.stop, true);
	pthread_join(side_tid, NULL);
	for (int t = 0; t < CT_THREADS; t++) {
		ck_assert_msg(c[t].errors == 0, "%s", c[t].error);
		ck_assert_uint_eq(c[t].done, want_done);
		ck_assert_uint_eq(c[t].failed, CT_JOBS - want_done);
		ck_assert_uint_eq(c[t].sum, want_sum);
		ck_assert_uint_eq(atomic_load(&c[t].io.submitted), CT_JOBS);
		ck_assert_uint_eq(atomic_load(&c[t].io.completed), want_done);
		ck_assert_uint_eq(atomic_load(&c[t].io.failed), CT_JOBS - want_done);
		ck_assert_uint_eq(atomic_load(&c[t].io.timed_out), 0);
		ck_assert_uint_eq(atomic_load(&c[t].io.pending), 0);
		ck_assert_uint_eq(c[t].io.n_owned, 0);
		ck_assert_uint_ge(atomic_load(&R.per[t]), 1);
		busy += c[t].busy;
		done += c[t].done;
		failed += c[t].failed;
		sum += c[t].sum;
	}
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, (uint64_t)CT_THREADS * CT_JOBS);
		ck_assert_uint_eq(i.completed, done);
		ck_assert_uint_eq(i.failed, failed);
		ck_assert_uint_eq(i.refused, busy);
		ck_assert_uint_eq(i.timed_out + i.cancelled + i.replaced, 0);
		ck_assert_uint_eq(i.queued + i.running, 0);
		ck_assert_uint_eq(i.live, 4);
	}
	ck_assert_uint_le(atomic_load(&R.calls), (uint64_t)CT_THREADS * CT_JOBS);
	ck_assert_uint_eq(atomic_load(&R.foreign), 0);
	for (int t = 0; t < CT_THREADS; t++) {
		pool_detach_node(p, &c[t].io);
	}
	end_pool(p);
	ck_assert_uint_eq(atomic_load(&ct_freed), (uint64_t)CT_THREADS * CT_JOBS);
	ck_assert_uint_gt(side.rounds, 0);
	(void)sum;
	free(c);
}
END_TEST

/*
 * One node's thread as horusd runs it, hard: it keeps ST_INFLIGHT empty jobs in flight on a pool
 * of 4 workers and looks at them only when told (the notify callback wakes it), then drains:
 * takes and releases every future handed over (take and release take no lock; the future is
 * freed by whichever of its worker and the node comes last). A watcher and an info reader run
 * beside. Exact totals: every job submitted, resolved, handed over and arg_free'd once, every
 * result value seen once; no announcement is lost (the node would wait for ever), and there is
 * at most one per drain.
 */
#ifdef UNDER_TSAN
#define ST_JOBS 50000
#else
#define ST_JOBS 200000
#endif
#define ST_INFLIGHT 16

struct st_wake {
	pthread_mutex_t m;
	pthread_cond_t c; /* on CLOCK_MONOTONIC */
	bool told;
	_Atomic uint64_t announced;
	_Atomic uint64_t foreign;
};

static _Atomic uint64_t st_freed;

static void st_notify(void *userdata, struct node *n)
{
	struct st_wake *w = userdata;

	if (n != TOKEN(0)) {
		atomic_fetch_add(&w->foreign, 1);
	}
	atomic_fetch_add(&w->announced, 1);
	pthread_mutex_lock(&w->m);
	w->told = true;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

static int st_fn(void *arg, char *msg, size_t size)
{
	(void)msg;
	(void)size;
	return (int)(uintptr_t)arg;
}

static void st_free(void *arg)
{
	(void)arg;
	atomic_fetch_add(&st_freed, 1);
}

/* Waits for an announcement (up to WAIT_MS); false if none came. */
static bool st_wait_told(struct st_wake *w)
{
	struct timespec ts;
	bool told;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&w->m);
	while (!w->told) {
		if (pthread_cond_timedwait(&w->c, &w->m, &ts) == ETIMEDOUT) {
			break;
		}
	}
	told = w->told;
	w->told = false;
	pthread_mutex_unlock(&w->m);
	return told;
}

START_TEST(one_node_stress)
{
	struct st_wake w = {.told = false};
	pthread_condattr_t ca;
	struct pool *p = NULL;
	struct node_io io = {0};
	unsigned char *seen = calloc(ST_JOBS + 1, 1);
	uint64_t submitted = 0, handed = 0, drains = 0;
	uint32_t inflight = 0; /* submitted, not yet handed over */
	struct side side = {0};
	pthread_t side_tid;

	ck_assert_ptr_nonnull(seen);
	memset(&R, 0, sizeof(R)); /* for the pins and end_pool */
	atomic_store(&st_freed, 0);
	pthread_mutex_init(&w.m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.c, &ca);
	pthread_condattr_destroy(&ca);
	ck_assert_int_eq(pool_create("stress", 4, 64, st_notify, &w, &p), 0);
	side.p = p;
	ck_assert_int_eq(pthread_create(&side_tid, NULL, side_main, &side), 0);

	while (handed < ST_JOBS) {
		struct horus_future *f;
		void (*cb)(void *, struct horus_future *);
		uint32_t st;

		/* Fewer than max_inflight not handed over, so fewer pending: never -EBUSY. */
		while (inflight < ST_INFLIGHT && submitted < ST_JOBS) {
			struct horus_io_request req = {
			    .fn = st_fn,
			    .arg = (void *)(uintptr_t)(submitted + 1),
			    .arg_free = st_free,
			};

			ck_assert_int_eq(submit_req(p, 0, &io, ST_INFLIGHT, &req, 0, &f), 0);
			submitted++;
			inflight++;
		}
		ck_assert_msg(st_wait_told(&w),
			      "no announcement in %d ms: %u jobs in flight, %llu handed over",
			      WAIT_MS, inflight, (unsigned long long)handed);
		while (pool_next_done(p, &io, &f, &st, &cb)) {
			int r = pool_future_take(p, &io, f);

			ck_assert_uint_eq(st, HORUS_FUTURE_DONE);
			ck_assert_ptr_null((void *)cb);
			ck_assert_msg(r >= 1 && r <= ST_JOBS && !seen[r], "result %d (seen %d)", r,
				      r >= 1 && r <= ST_JOBS ? seen[r] : -1);
			seen[r] = 1;
			ck_assert_int_eq(pool_future_release(p, &io, f), 0);
			ck_assert_uint_gt(inflight, 0);
			inflight--;
			handed++;
		}
		drains++;
	}
	atomic_store(&side.stop, true);
	pthread_join(side_tid, NULL);

	ck_assert_uint_eq(submitted, ST_JOBS);
	ck_assert_uint_eq(inflight, 0);
	for (uint64_t v = 1; v <= ST_JOBS; v++) {
		ck_assert_msg(seen[v] == 1, "result %llu never seen", (unsigned long long)v);
	}
	ck_assert_uint_eq(atomic_load(&io.submitted), ST_JOBS);
	ck_assert_uint_eq(atomic_load(&io.completed), ST_JOBS);
	ck_assert_uint_eq(atomic_load(&io.failed) + atomic_load(&io.timed_out), 0);
	ck_assert_uint_eq(atomic_load(&io.pending), 0);
	ck_assert_uint_eq(io.n_owned, 0);
	expect_no_done(p, &io);
	{
		struct pool_info i = info_of(p);

		ck_assert_uint_eq(i.submitted, ST_JOBS);
		ck_assert_uint_eq(i.completed, ST_JOBS);
		ck_assert_uint_eq(i.failed + i.timed_out + i.cancelled + i.refused + i.replaced, 0);
		ck_assert_uint_eq(i.queued + i.running, 0);
		ck_assert_uint_eq(i.live, 4);
	}
	pool_detach_node(p, &io);
	end_pool(p); /* every worker out: every arg_free and announcement made */
	ck_assert_uint_eq(atomic_load(&st_freed), ST_JOBS);
	ck_assert_uint_eq(atomic_load(&w.foreign), 0);
	ck_assert_uint_ge(atomic_load(&w.announced), 1);
	/* Once until drained: one at the start, then at most one after each drain. */
	ck_assert_msg(atomic_load(&w.announced) <= drains + 1, "%llu announcements, %llu drains",
		      (unsigned long long)atomic_load(&w.announced), (unsigned long long)drains);
	ck_assert_uint_gt(side.rounds, 0);
	pthread_cond_destroy(&w.c);
	pthread_mutex_destroy(&w.m);
	free(seen);
}
END_TEST

/* ---- destroy ------------------------------------------------------------------------------ */

/* LeakSanitizer, when present: the pool keeps what a destroy leaves behind, by design. */
void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

START_TEST(destroy)
{
	struct pool *p;
	struct node_io io = {0};

	pool_destroy(NULL, 0); /* NULL-safe */
	p = mk_pool(3, 8);
	quick_job(p, &io, 1);
	pool_detach_node(p, &io);
	{
		uint64_t t0 = mono_ns();

		end_pool(p); /* idle workers leave at once */
		ck_assert_msg(mono_ns() - t0 < 2000 * MS, "destroy of an idle pool took %.1f ms",
			      (mono_ns() - t0) / 1e6);
	}
}
END_TEST

/*
 * A pool destroyed with jobs still queued (of a node that was never detached) and one running:
 * each queued job's arg_free runs at once, exactly once, however many there are (more than the
 * pool hands over per batch), and the running job's pin outlives the destroy until it returns.
 */
START_TEST(destroy_frees_every_queued_arg)
{
	enum { N = 12 };
	static struct node_io io; /* the pool may still touch it after destroy: not on the stack */
	static struct job run, q[N];
	static struct gate g;
	struct pool *p;
	struct horus_future *f;
	int freed = 0;

	if (__lsan_disable) {
		__lsan_disable(); /* futures of a destroyed pool cannot be released */
	}
	p = mk_pool(1, 64);
	gate_init(&g);
	run.gate = &g;
	ck_assert_int_eq(submit(p, 0, &io, 64, &run, 0, 0, &f), 0);
	WAIT_FOR(atomic_load(&run.started) == 1, WAIT_MS);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(submit(p, 0, &io, 64, &q[i], 0, 0, &f), 0);
	}
	atomic_store(&R.pool, NULL);
	pool_destroy(p, 10 * MS); /* the running worker is not waited for */
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(atomic_load(&q[i].started), 0);
		freed += atomic_load(&q[i].freed);
	}
	ck_assert_msg(freed == N, "pool_destroy with %d queued jobs called arg_free for %d", N,
		      freed);
	ck_assert_uint_eq(atomic_load(&R.pins[0]), 1); /* the running job's */
	gate_open(&g);
	WAIT_FOR(atomic_load(&run.freed) == 1, WAIT_MS);
	WAIT_FOR(atomic_load(&R.pins[0]) == 0, WAIT_MS);
	if (__lsan_enable) {
		__lsan_enable();
	}
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

#define ADD(name, fn, timeout)                                                                     \
	tc = dt_tcase(s, name, timeout, NULL, NULL);                                               \
	tcase_add_test(tc, fn)

	ADD("done_and_failed", done_and_failed, 30);
	ADD("misuse", misuse, 30);
	ADD("take_failure_codes_unambiguous", take_failure_codes_unambiguous, 30);
	ADD("release_running", release_running, 30);
	ADD("busy_at_max_inflight", busy_at_max_inflight, 30);
	ADD("busy_when_queue_full", busy_when_queue_full, 30);
	ADD("timeout_hung_job", timeout_hung_job, 30);
	ADD("timeout_then_release", timeout_then_release, 30);
	ADD("release_while_worker_inside", release_while_worker_inside, 30);
	ADD("release_in_batch", release_in_batch, 30);
	ADD("timeout_queued", timeout_queued, 30);
	ADD("timeout_many_queued", timeout_many_queued, 30);
	ADD("replacement_cap", replacement_cap, 60);
	ADD("pin", pin, 30);
	ADD("cancel", cancel, 30);
	ADD("detach", detach, 30);
	ADD("detach_many", detach_many, 30);
	ADD("fan_out_blocking", fan_out_blocking, 30);
	ADD("fan_out_races", fan_out_races, 60);
	ADD("resize", resize, 30);
	ADD("notify_per_node", notify_per_node, 30);
	ADD("announce_once_until_drained", announce_once_until_drained, 30);
	ADD("latency", latency, 30);
	ADD("many_threads", many_threads, 60);
	ADD("one_node_stress", one_node_stress, 60);
	ADD("destroy", destroy, 30);
	ADD("destroy_frees_every_queued_arg", destroy_frees_every_queued_arg, 30);
#undef ADD
	return s;
}

int main(void)
{
	return dt_run(pool_suite());
}
