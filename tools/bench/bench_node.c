/* SPDX-License-Identifier: MIT */
/*
 * bench_node: the node plugin that horus-bench loads into a real horusd (scheduler, asyncio,
 * pool). Built like any third-party plugin: SDK header only, -z defs, state behind ctx.
 *
 * Parameters ([node.NAME] keys):
 *   mode = empty         empty: tick returns at once (horus-bench scheduler)
 *        | read          read: the seed's camera, a read that blocks read_ms (horus-bench asyncio)
 *        | pool          pool: submit-to-on_done latency of empty jobs (horus-bench pool)
 * read:
 *   read_ms = 50         how long one read blocks (a sleep)
 *   blocking = false     true: the read runs inside tick; false: it is submitted to the node's
 *                        pool, one in flight, and tick only polls its future (the seed's pattern)
 * pool (runs once, from the first tick; the results go to `out`):
 *   jobs = 100000        jobs in the latency phase
 *   rate_jobs = JOBS     jobs in the rate phase (default: jobs)
 *   warmup = 1000        jobs before the latency phase that are not counted
 *   inflight = 16        jobs kept in flight in the rate phase (<= the node's max_inflight)
 *   out = PATH           results file, written (by a job, atomically) when both phases are over
 *
 * Pool phases. Latency: one job in flight; the time from just before host->submit to the start
 * of its on_done on the node's tick thread, per job; on_done submits the next job. Rate:
 * `inflight` jobs in flight, each on_done submits one more until `rate_jobs` were submitted; the
 * time from the first submit to the last on_done. Both use empty jobs (fn returns 0).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <horus/node.h>

enum mode {
	MODE_EMPTY,
	MODE_READ,
	MODE_POOL,
};

enum pool_phase {
	PHASE_IDLE,
	PHASE_LATENCY,
	PHASE_RATE,
	PHASE_DONE,
};

struct results {
	char path[4096];
	uint64_t *lat; /* ns, one per counted latency job */
	uint32_t n_lat;
	uint32_t rate_jobs;
	uint32_t inflight;
	uint64_t rate_ns;
	uint64_t refused;
	int error;
};

struct bnode {
	const struct horus_host *host;
	enum mode mode;
	/* read */
	uint32_t read_ms;
	bool blocking;
	struct horus_future *pending;
	/* pool */
	enum pool_phase phase;
	uint32_t jobs, rate_jobs, warmup, inflight;
	const char *out;    /* the daemon's string, valid until fini */
	uint64_t submit_ns; /* latency phase: of the one job in flight */
	uint32_t seen;	    /* completions in this phase */
	uint32_t submitted; /* rate phase */
	uint32_t in_flight; /* rate phase */
	uint64_t rate_start_ns;
	struct results *res; /* handed to the writing job at the end */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static int param_u32(const struct horus_host *h, const char *key, uint32_t def, uint32_t min,
		     uint32_t max, uint32_t *ret)
{
	const char *v = h->param(h, key);
	unsigned long x;
	char *end;

	if (!v) {
		*ret = def;
		return 0;
	}
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		h->log(h, HORUS_LOG_ERR, "parameter '%s': '%s' is not a whole number from %u to %u",
		       key, v, min, max);
		return -EINVAL;
	}
	*ret = (uint32_t)x;
	return 0;
}

/* ---- read -------------------------------------------------------------------------------- */

/* On a worker: the blocking read. arg is the read time in ms, by value. */
static int read_job(void *arg, char *msg, size_t msg_size)
{
	(void)msg;
	(void)msg_size;
	sleep_ms((uint32_t)(uintptr_t)arg);
	return 0;
}

static int read_tick(struct bnode *b)
{
	const struct horus_host *h = b->host;

	if (b->blocking) {
		sleep_ms(b->read_ms); /* the deliberately bad pattern */
		return 0;
	}
	if (b->pending && h->future_state(h, b->pending) != HORUS_FUTURE_PENDING) {
		(void)h->future_take(h, b->pending); /* counted by the daemon (io.completed) */
		h->future_release(h, b->pending);
		b->pending = NULL;
	}
	if (!b->pending) {
		struct horus_io_request req = {
		    .fn = read_job,
		    .arg = (void *)(uintptr_t)b->read_ms,
		};

		if (h->submit(h, &req, &b->pending) < 0) {
			b->pending = NULL; /* -EBUSY: next tick */
		}
	}
	return 0;
}

/* ---- pool -------------------------------------------------------------------------------- */

static int empty_job(void *arg, char *msg, size_t msg_size)
{
	(void)arg;
	(void)msg;
	(void)msg_size;
	return 0;
}

/* On a worker: writes the results file (text, then renamed into place). */
static int write_job(void *arg, char *msg, size_t msg_size)
{
	struct results *res = arg;
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", res->path);
	f = fopen(tmp, "we");
	if (!f) {
		snprintf(msg, msg_size, "cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	fprintf(f,
		"horus-bench-pool 1\nerror %d\nrefused %llu\ninflight %u\nrate_jobs %u\n"
		"rate_ns %llu\nlatency_jobs %u\n",
		res->error, (unsigned long long)res->refused, res->inflight, res->rate_jobs,
		(unsigned long long)res->rate_ns, res->n_lat);
	for (uint32_t i = 0; i < res->n_lat; i++) {
		fprintf(f, "%llu\n", (unsigned long long)res->lat[i]);
	}
	if (fclose(f) != 0 || rename(tmp, res->path) < 0) {
		snprintf(msg, msg_size, "cannot write %s", res->path);
		return -EIO;
	}
	return 0;
}

static void results_free(void *arg)
{
	struct results *res = arg;

	free(res->lat);
	free(res);
}

static void pool_on_done(void *ctx, struct horus_future *f);

static int pool_submit_one(struct bnode *b)
{
	const struct horus_host *h = b->host;
	struct horus_io_request req = {.fn = empty_job, .on_done = pool_on_done};
	struct horus_future *f;
	int r;

	b->submit_ns = now_ns();
	r = h->submit(h, &req, &f);
	if (r < 0) {
		b->res->refused++;
	}
	return r;
}

/* Both phases over, or an error: hand the results to a job that writes them. */
static void pool_finish(struct bnode *b, int error)
{
	const struct horus_host *h = b->host;
	struct horus_io_request req = {.fn = write_job, .arg = b->res, .arg_free = results_free};
	struct horus_future *f;

	b->phase = PHASE_DONE;
	b->res->error = error;
	if (h->submit(h, &req, &f) < 0) {
		h->log(h, HORUS_LOG_ERR, "Failed to submit the results write");
		results_free(b->res);
	}
	b->res = NULL; /* the job's now */
}

static void rate_fill(struct bnode *b)
{
	while (b->phase == PHASE_RATE && b->in_flight < b->inflight &&
	       b->submitted < b->rate_jobs) {
		if (pool_submit_one(b) < 0) {
			return; /* -EBUSY: the next on_done or tick tries again */
		}
		b->in_flight++;
		b->submitted++;
	}
}

static void pool_on_done(void *ctx, struct horus_future *f)
{
	struct bnode *b = ctx;
	const struct horus_host *h = b->host;
	uint64_t seen_ns = now_ns();
	int r = h->future_take(h, f);

	h->future_release(h, f);
	if (r < 0) {
		h->log(h, HORUS_LOG_ERR, "an empty job failed: %s", strerror(-r));
		pool_finish(b, r);
		return;
	}
	if (b->phase == PHASE_LATENCY) {
		if (++b->seen > b->warmup) {
			b->res->lat[b->res->n_lat++] = seen_ns - b->submit_ns;
		}
		if (b->seen < b->warmup + b->jobs) {
			if ((r = pool_submit_one(b)) < 0) {
				pool_finish(b, r);
			}
			return;
		}
		/* Latency phase over: the rate phase starts at once. */
		b->phase = PHASE_RATE;
		b->seen = 0;
		b->rate_start_ns = now_ns();
		rate_fill(b);
		return;
	}
	if (b->phase == PHASE_RATE) {
		b->in_flight--;
		if (++b->seen == b->rate_jobs) {
			b->res->rate_ns = seen_ns - b->rate_start_ns;
			b->res->rate_jobs = b->rate_jobs;
			pool_finish(b, 0);
			return;
		}
		rate_fill(b);
	}
}

static int pool_tick(struct bnode *b)
{
	int r;

	if (b->phase == PHASE_IDLE) {
		b->phase = PHASE_LATENCY;
		if ((r = pool_submit_one(b)) < 0) {
			pool_finish(b, r);
		}
	} else if (b->phase == PHASE_RATE) {
		rate_fill(b); /* after a refusal */
	}
	return 0;
}

/* ---- node -------------------------------------------------------------------------------- */

static int bnode_init(const struct horus_host *host, void **ret_ctx)
{
	struct bnode *b = calloc(1, sizeof(*b));
	const char *mode = host->param(host, "mode");
	const char *blocking = host->param(host, "blocking");
	int r;

	if (!b) {
		return -ENOMEM;
	}
	b->host = host;
	if (!mode || strcmp(mode, "empty") == 0) {
		b->mode = MODE_EMPTY;
	} else if (strcmp(mode, "read") == 0) {
		b->mode = MODE_READ;
	} else if (strcmp(mode, "pool") == 0) {
		b->mode = MODE_POOL;
	} else {
		host->log(host, HORUS_LOG_ERR, "parameter 'mode': '%s' is not empty, read or pool",
			  mode);
		r = -EINVAL;
		goto fail;
	}
	if ((r = param_u32(host, "read_ms", 50, 0, 60000, &b->read_ms)) < 0 ||
	    (r = param_u32(host, "jobs", 100000, 1, 100000000, &b->jobs)) < 0 ||
	    (r = param_u32(host, "rate_jobs", b->jobs, 1, 100000000, &b->rate_jobs)) < 0 ||
	    (r = param_u32(host, "warmup", 1000, 0, 100000000, &b->warmup)) < 0 ||
	    (r = param_u32(host, "inflight", 16, 1, 4096, &b->inflight)) < 0) {
		goto fail;
	}
	if (blocking && strcmp(blocking, "true") != 0 && strcmp(blocking, "false") != 0) {
		host->log(host, HORUS_LOG_ERR, "parameter 'blocking': '%s' is not true or false",
			  blocking);
		r = -EINVAL;
		goto fail;
	}
	b->blocking = blocking && strcmp(blocking, "true") == 0;
	if (b->mode == MODE_POOL) {
		b->out = host->param(host, "out");
		b->res = calloc(1, sizeof(*b->res));
		if (!b->out || !b->res || strlen(b->out) >= sizeof(b->res->path)) {
			host->log(host, HORUS_LOG_ERR, "mode = pool needs out = PATH");
			r = -EINVAL;
			goto fail;
		}
		snprintf(b->res->path, sizeof(b->res->path), "%s", b->out);
		b->res->inflight = b->inflight;
		b->res->lat = calloc(b->jobs, sizeof(uint64_t));
		if (!b->res->lat) {
			r = -ENOMEM;
			goto fail;
		}
	}
	*ret_ctx = b;
	return 0;
fail:
	if (b->res) {
		results_free(b->res);
	}
	free(b);
	return r;
}

static int bnode_tick(void *ctx)
{
	struct bnode *b = ctx;

	switch (b->mode) {
	case MODE_READ:
		return read_tick(b);
	case MODE_POOL:
		return pool_tick(b);
	default:
		return 0;
	}
}

static void bnode_fini(void *ctx)
{
	struct bnode *b = ctx;

	if (b->pending) {
		b->host->future_release(b->host, b->pending); /* a running read ends unobserved */
	}
	if (b->res) {
		results_free(b->res);
	}
	free(b);
}

HORUS_NODE_DEFINE(.name = "bench_node", .default_rate_hz = 100.0, .init = bnode_init,
		  .tick = bnode_tick, .fini = bnode_fini);
