/* SPDX-License-Identifier: MIT */
/*
 * A configurable node for the daemon's tests. Parameters (all optional, from its INI section):
 *   init_fail = ERRNO        init returns -ERRNO
 *   fail_first = N           the first N ticks return -EIO
 *   fail_from = N            every tick from the N-th on returns -EIO (1-based)
 *   fail_until = N           ... up to and including the N-th
 *   sleep_us = US            every tick sleeps this long (overruns a short deadline)
 *   hang_at = N              the N-th tick never returns (pause() forever)
 *   hang_init = 1            init never returns
 *   topic = NAME             each tick publishes its tick count (uint64) on this hub topic
 *   tick_time_topic = NAME   each tick publishes host->tick_time_ns (uint64) on this topic
 *   record = PATH            appends "init NAME", "fini NAME TICKS" lines to PATH
 * I/O (one job in flight at a time, submitted from tick when none is pending):
 *   io = 1                   submit a job every tick (or from init with io_in_init = 1)
 *   io_sleep_us = US         the job blocks this long (usleep on the worker)
 *   io_fail = 1              the job fails with -EIO and a message
 *   io_hang_at = N           the N-th job never returns
 *   io_callback = 1          learn of completions through on_done instead of polling
 *   io_topic = NAME          publish each outcome (int64: result or -errno) on this topic
 *   io_init_fail = ERRNO     init submits a job, then returns -ERRNO (the job outlives it)
 */

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/node.h>
#include <horus/pubsub.h>

struct io_job {
	long sleep_us;
	bool fail;
	bool hang;
};

struct testnode {
	const struct horus_host *host;
	struct horus_pub *pub;
	struct horus_pub *tick_time_pub;
	uint64_t ticks;
	long fail_first, fail_from, fail_until, sleep_us, hang_at;
	const char *record;
	bool io, io_callback;
	long io_sleep_us, io_hang_at, io_jobs;
	bool io_fail;
	struct horus_future *pending;
	struct horus_pub *io_pub;
};

static long param_long(const struct horus_host *host, const char *key, long def)
{
	const char *v = host->param(host, key);

	return v ? strtol(v, NULL, 10) : def;
}

static void record(const struct testnode *t, const char *what)
{
	char line[256];
	int fd, n;

	if (!t->record) {
		return;
	}
	n = snprintf(line, sizeof(line), "%s %s %llu\n", what, t->host->node_name,
		     (unsigned long long)t->ticks);
	fd = open(t->record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
}

static int io_work(void *arg, char *msg, size_t msg_size)
{
	struct io_job *job = arg;

	if (job->hang) {
		for (;;) {
			pause();
		}
	}
	if (job->sleep_us) {
		usleep((useconds_t)job->sleep_us);
	}
	if (job->fail) {
		snprintf(msg, msg_size, "simulated failure");
		return -EIO;
	}
	return 42;
}

/* Takes the outcome of the pending job, publishes it, and frees the future. */
static void io_collect(struct testnode *t, struct horus_future *f)
{
	const struct horus_host *h = t->host;
	int64_t r = h->future_take(h, f);

	if (t->io_pub) {
		horus_pub_publish(t->io_pub, &r, sizeof(r));
	}
	h->future_release(h, f);
	if (t->pending == f) {
		t->pending = NULL;
	}
}

static void io_done(void *ctx, struct horus_future *f)
{
	io_collect(ctx, f);
}

static void io_submit(struct testnode *t)
{
	const struct horus_host *h = t->host;
	struct io_job *job = calloc(1, sizeof(*job));
	struct horus_io_request req = { .fn = io_work, .arg = job, .arg_free = free };

	if (!job) {
		return;
	}
	t->io_jobs++;
	job->sleep_us = t->io_sleep_us;
	job->fail = t->io_fail;
	job->hang = t->io_hang_at && t->io_jobs == t->io_hang_at;
	if (t->io_callback) {
		req.on_done = io_done;
	}
	if (h->submit(h, &req, &t->pending) < 0) {
		t->pending = NULL;
		free(job);
	}
}

static void io_poll(struct testnode *t)
{
	if (!t->io) {
		return;
	}
	if (!t->pending) {
		io_submit(t);
	} else if (!t->io_callback &&
		   t->host->future_state(t->host, t->pending) != HORUS_FUTURE_PENDING) {
		io_collect(t, t->pending);
	}
}

static int testnode_init(const struct horus_host *host, void **ret_ctx)
{
	struct testnode *t;
	const char *topic = host->param(host, "topic");
	long init_fail = param_long(host, "init_fail", 0);
	int r;

	if (param_long(host, "hang_init", 0)) {
		for (;;) {
			pause();
		}
	}
	if (init_fail) {
		return -(int)init_fail;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		return -ENOMEM;
	}
	t->host = host;
	t->fail_first = param_long(host, "fail_first", 0);
	t->fail_from = param_long(host, "fail_from", 0);
	t->fail_until = param_long(host, "fail_until", 0);
	t->sleep_us = param_long(host, "sleep_us", 0);
	t->hang_at = param_long(host, "hang_at", 0);
	t->record = host->param(host, "record");
	t->io = param_long(host, "io", 0) != 0;
	t->io_callback = param_long(host, "io_callback", 0) != 0;
	t->io_sleep_us = param_long(host, "io_sleep_us", 0);
	t->io_fail = param_long(host, "io_fail", 0) != 0;
	t->io_hang_at = param_long(host, "io_hang_at", 0);
	if (host->param(host, "io_topic")) {
		r = host->pub_open(host, host->param(host, "io_topic"), sizeof(int64_t), &t->io_pub);
		if (r < 0) {
			free(t);
			return r;
		}
	}
	if (t->io && param_long(host, "io_in_init", 0)) {
		io_submit(t); /* the seed's "don't block in the constructor" fix */
	}
	if (param_long(host, "io_init_fail", 0)) {
		io_submit(t); /* the job's arg is its own: nothing of t is left to it */
		r = -(int)param_long(host, "io_init_fail", 0);
		free(t); /* io_pub, if any, is closed by the daemon with the node's handles */
		return r;
	}
	if (topic) {
		r = host->pub_open(host, topic, sizeof(uint64_t), &t->pub);
		if (r < 0) {
			free(t);
			return r;
		}
	}
	if (host->param(host, "tick_time_topic")) {
		r = host->pub_open(host, host->param(host, "tick_time_topic"), sizeof(uint64_t),
				   &t->tick_time_pub);
		if (r < 0) {
			free(t);
			return r;
		}
	}
	record(t, "init");
	*ret_ctx = t;
	return 0;
}

static int testnode_tick(void *ctx)
{
	struct testnode *t = ctx;
	long k = (long)++t->ticks;

	if (t->pub) {
		horus_pub_publish(t->pub, &t->ticks, sizeof(t->ticks));
	}
	if (t->tick_time_pub) {
		uint64_t due = t->host->tick_time_ns(t->host);

		horus_pub_publish(t->tick_time_pub, &due, sizeof(due));
	}
	io_poll(t);
	if (t->hang_at && k == t->hang_at) {
		for (;;) {
			pause();
		}
	}
	if (t->sleep_us) {
		usleep((useconds_t)t->sleep_us);
	}
	if (k <= t->fail_first) {
		return -EIO;
	}
	if (t->fail_from && k >= t->fail_from && (!t->fail_until || k <= t->fail_until)) {
		return -EIO;
	}
	return 0;
}

static void testnode_fini(void *ctx)
{
	struct testnode *t = ctx;

	record(t, "fini");
	if (t->pending) {
		t->host->future_release(t->host, t->pending);
	}
	free(t);
}

HORUS_NODE_DEFINE(.name = "testnode", .default_rate_hz = 100.0, .init = testnode_init,
		  .tick = testnode_tick, .fini = testnode_fini);
