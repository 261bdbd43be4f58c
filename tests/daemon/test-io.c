/* SPDX-License-Identifier: MIT */
/*
 * Blocking I/O of nodes in a real horusd (the testnode plugin's io params): a node whose job
 * blocks 50 ms at 100 Hz keeps its tick rate, and so does its neighbour; completion callbacks
 * deliver every result on the node's own thread, never beside its tick; a hung job times out on
 * time, its worker is replaced and the node goes on, and shutdown survives the stuck call;
 * failing jobs open the circuit breaker; jobs submitted from init complete before the first
 * tick, and a failed init lets go of its jobs; max_inflight bounds what is pending.
 *
 * Outcomes are read from each node's io_topic (int64: the job's result or -errno) through a hub
 * subscriber that this test creates before the daemon starts, so that nothing is missed; the
 * counters come from "1 node info" and "1 pools". Each test runs its own daemon (the
 * integration harness). The suite runs alone (is_parallel: false) because it measures rates.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "harness.h"
#include "hd-topic.h"
#include "under-tsan.h"

#define IO_RESULT 42 /* what testnode's job returns */

static struct hd H;

static void setup(void)
{
	hd_init(&H);
	hd_plugin(&H, "testnode", "testnode");
}

static void teardown(void)
{
	hd_cleanup(&H);
}

/* ---- what the daemon reports ------------------------------------------------------------- */

struct nio {
	char state[16];
	char circuit[16];
	uint64_t ticks, skipped, failures, deadline_misses;
	uint64_t pending, submitted, completed, failed, timed_out;
};

static uint64_t num(const char *json, const char *key)
{
	double v;

	HD_CHECK(&H, json_num_field(json, key, &v), "no \"%s\" in %s", key, json);
	return (uint64_t)v;
}

/* "1 node info NAME", with its "io" object. */
static void node_io(const char *name, struct nio *ret)
{
	char req[128], reply[HD_REPLY_MAX];
	const char *io;

	snprintf(req, sizeof(req), "1 node info %s", name);
	HD_CHECK(&H, hd_request(&H, req, reply, sizeof(reply)), "no reply to '%s'", req);
	io = strstr(reply, "\"io\": {");
	HD_CHECK(&H, io != NULL, "no io object in %s", reply);
	memset(ret, 0, sizeof(*ret));
	HD_CHECK(&H,
		 json_str_field(reply, "state", ret->state, sizeof(ret->state)) &&
		     json_str_field(reply, "circuit", ret->circuit, sizeof(ret->circuit)),
		 "no state/circuit in %s", reply);
	ret->ticks = num(reply, "ticks");
	ret->skipped = num(reply, "skipped");
	ret->failures = num(reply, "failures");
	ret->deadline_misses = num(reply, "deadline_misses");
	ret->pending = num(io, "pending");
	ret->submitted = num(io, "submitted");
	ret->completed = num(io, "completed");
	ret->failed = num(io, "failed");
	ret->timed_out = num(io, "timed_out");
}

static bool node_listed(const char *name)
{
	char req[128], reply[HD_REPLY_MAX];

	snprintf(req, sizeof(req), "1 node info %s", name);
	return hd_request(&H, req, reply, sizeof(reply)) && !strstr(reply, "\"error\"");
}

/* Starts the daemon and waits until the nodes (a NULL-terminated list) are listed. */
static void start(const char *const *names)
{
	hd_start(&H);
	for (size_t i = 0; names[i]; i++) {
		HD_WAIT(&H, node_listed(names[i]), 10000, "node %s listed", names[i]);
	}
}

#define START(...) start((const char *const[]){__VA_ARGS__, NULL})

static uint64_t io_completed(const char *name)
{
	struct nio n;

	node_io(name, &n);
	return n.completed;
}

struct pio {
	uint64_t workers, threads, stuck, running, submitted, completed, failed, timed_out;
	uint64_t refused, replaced;
};

/* Pool NAME from "1 pools". */
static void pool_io(const char *name, struct pio *ret)
{
	char reply[HD_REPLY_MAX], key[96];
	const char *p;

	HD_CHECK(&H, hd_request(&H, "1 pools", reply, sizeof(reply)), "no reply to '1 pools'");
	snprintf(key, sizeof(key), "{\"name\": \"%s\"", name);
	p = strstr(reply, key);
	HD_CHECK(&H, p != NULL, "no pool %s in %s", name, reply);
	ret->workers = num(p, "workers");
	ret->threads = num(p, "threads");
	ret->stuck = num(p, "stuck");
	ret->running = num(p, "running");
	ret->submitted = num(p, "submitted");
	ret->completed = num(p, "completed");
	ret->failed = num(p, "failed");
	ret->timed_out = num(p, "timed_out");
	ret->refused = num(p, "refused");
	ret->replaced = num(p, "replaced");
}

/* ---- a node's io_topic ------------------------------------------------------------------- */

#define OUT_MAX 4096

struct outcomes {
	struct hd_topic topic;
	size_t n;
	int64_t v[OUT_MAX];
	uint64_t t_ms[OUT_MAX]; /* when this test read it */
};

/* Subscribes before the daemon starts (it keeps the segment: we hold it). */
static void outcomes_open(struct outcomes *o, const char *topic)
{
	o->n = 0;
	hd_topic_open(&H, &o->topic, topic);
}

/* Reads what arrived; returns the total count. */
static size_t outcomes_poll(struct outcomes *o)
{
	uint64_t v;

	while (hd_topic_read(&H, &o->topic, &v)) {
		if (o->n < OUT_MAX) {
			o->v[o->n] = (int64_t)v;
			o->t_ms[o->n] = mono_ms();
			o->n++;
		}
	}
	return o->n;
}

static void outcomes_close(struct outcomes *o)
{
	hd_topic_close(&o->topic);
}

/* ---- the tests --------------------------------------------------------------------------- */

/*
 * The seed's table: a 100 Hz node whose read takes 50 ms, through the pool, and a 100 Hz
 * neighbour. Both keep >= 99% of their expected ticks over a window of several seconds, no
 * tick of the reader overruns its deadline, and the reads complete all along.
 */
START_TEST(blocking_job_keeps_rate)
{
	struct outcomes *o = calloc(1, sizeof(*o));
	struct nio r0, r1, o0, o1;
	uint64_t t0, t1, end;
	double exp_ticks, ratio_r, ratio_o;

	HD_CHECK(&H, o != NULL, "out of memory");
	outcomes_open(o, "reader.io");
	/* A tick that waited for the 50 ms read would take 50 ms: a 40 ms deadline catches that
	 * and leaves room for a loaded machine's preemptions. */
	hd_config(&H, "[node.reader]\nplugin = testnode\nrate_hz = 100\nio = 1\n"
		      "io_sleep_us = 50000\nio_topic = reader.io\ndeadline_ms = 40\n"
		      "[node.other]\nplugin = testnode\nrate_hz = 100\n");
	START("reader", "other");
	HD_WAIT(&H, io_completed("reader") >= 2, 5000, "the reader's first reads");

	t0 = mono_us();
	node_io("reader", &r0);
	node_io("other", &o0);
	t0 = (t0 + mono_us()) / 2;
	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		outcomes_poll(o);
		usleep(20000); /* measuring a window, not synchronising */
	}
	t1 = mono_us();
	node_io("reader", &r1);
	node_io("other", &o1);
	t1 = (t1 + mono_us()) / 2;
	outcomes_poll(o);

	exp_ticks = 100.0 * (double)(t1 - t0) / 1e6;
	ratio_r = (double)(r1.ticks - r0.ticks) / exp_ticks;
	ratio_o = (double)(o1.ticks - o0.ticks) / exp_ticks;
	fprintf(stderr,
		"reader %" PRIu64 " ticks, other %" PRIu64 " ticks of %.1f expected; "
		"%" PRIu64 " reads of 50 ms\n",
		r1.ticks - r0.ticks, o1.ticks - o0.ticks, exp_ticks, r1.completed - r0.completed);
	HD_CHECK(&H, ratio_r >= 0.99, "the reader kept %.2f%% of its ticks", 100 * ratio_r);
	HD_CHECK(&H, ratio_o >= 0.99, "its neighbour kept %.2f%% of its ticks", 100 * ratio_o);
	HD_CHECK(&H, r1.deadline_misses == 0, "the reader missed %" PRIu64 " deadlines",
		 r1.deadline_misses);
	/* A read takes 50 ms and is collected within a tick or two: ~15/s, at least 10/s. */
	HD_CHECK(&H, r1.completed - r0.completed >= 30, "%" PRIu64 " reads in 3 s",
		 r1.completed - r0.completed);
	HD_CHECK(&H, r1.failed + r1.timed_out == 0, "failed %" PRIu64 " timed out %" PRIu64,
		 r1.failed, r1.timed_out);
	HD_CHECK(&H, r1.pending <= 1, "pending %" PRIu64, r1.pending);
	HD_CHECK(&H, !strcmp(r1.state, "running"), "reader %s", r1.state);
	HD_CHECK(&H, o->n >= r1.completed - r0.completed && o->topic.lost == 0,
		 "%zu outcomes published, %" PRIu64 " lost", o->n, o->topic.lost);
	for (size_t i = 0; i < o->n; i++) {
		HD_CHECK(&H, o->v[i] == IO_RESULT, "outcome %zu is %" PRId64, i, o->v[i]);
	}
	outcomes_close(o);
	free(o);
}
END_TEST

/*
 * io_callback: results arrive through on_done, which takes and releases the future and
 * publishes the outcome. It runs on the node's tick thread between ticks; were it ever run
 * beside a tick, the tick's submit and the callback's release of the same pending future would
 * collide (a take or release of a future that is not the node's: -EINVAL, -EALREADY published).
 * So: every outcome published is the job's result, as many as the daemon counted completed,
 * none lost, and the ticks go on at their rate. (Under TSan, the instrumented daemon also
 * reports any such overlap as a race: see the log check.)
 */
START_TEST(callback_results)
{
	struct outcomes *o = calloc(1, sizeof(*o));
	struct nio a, b;
	char reply[HD_REPLY_MAX];

	HD_CHECK(&H, o != NULL, "out of memory");
	outcomes_open(o, "cb.io");
	hd_config(&H, "[node.cb]\nplugin = testnode\nrate_hz = 100\nio = 1\nio_callback = 1\n"
		      "io_sleep_us = 2000\nio_topic = cb.io\n"
		      "[node.cb2]\nplugin = testnode\nrate_hz = 200\nio = 1\nio_callback = 1\n");
	START("cb", "cb2");
	HD_WAIT(&H, outcomes_poll(o) >= 10, 5000, "callbacks");
	node_io("cb", &a);
	HD_WAIT(&H, (outcomes_poll(o), io_completed("cb") >= a.completed + 50), 10000,
		"completions go on");
	HD_WAIT(&H, io_completed("cb2") >= 100, 10000, "the second node's completions");

	/* Stop it: what was published, stops; compare with what the daemon counted. */
	HD_CHECK(&H, hd_request(&H, "1 node stop cb", reply, sizeof(reply)), "no reply");
	HD_CHECK(&H, !strstr(reply, "\"error\""), "node stop: %s", reply);
	HD_WAIT(&H, (node_io("cb", &b), !strcmp(b.state, "stopped")), 5000, "stopped");
	outcomes_poll(o);
	/* A job resolved but not yet handed over when the node stopped is counted, not called. */
	HD_CHECK(&H, o->n <= b.completed && o->n + 1 >= b.completed,
		 "%zu outcomes published by on_done, %" PRIu64 " completed", o->n, b.completed);
	HD_CHECK(&H, o->topic.lost == 0, "%" PRIu64 " outcomes lost", o->topic.lost);
	for (size_t i = 0; i < o->n; i++) {
		HD_CHECK(&H, o->v[i] == IO_RESULT, "outcome %zu is %" PRId64 " (%s)", i, o->v[i],
			 o->v[i] < 0 ? strerror((int)-o->v[i]) : "?");
	}
	HD_CHECK(&H, b.failed + b.timed_out == 0 && b.failures == 0,
		 "failed %" PRIu64 " timed out %" PRIu64 " failures %" PRIu64, b.failed,
		 b.timed_out, b.failures);
	HD_CHECK(&H, a.ticks > 0 && b.ticks > a.ticks, "ticks %" PRIu64 " -> %" PRIu64, a.ticks,
		 b.ticks);
	node_io("cb2", &b);
	HD_CHECK(&H, b.failures == 0 && !strcmp(b.circuit, "closed"),
		 "cb2: circuit %s, %" PRIu64 " failures", b.circuit, b.failures);
	HD_CHECK(&H, !hd_log_has(&H, "ThreadSanitizer"), "TSan reported a race in horusd");
	outcomes_close(o);
	free(o);
}
END_TEST

/*
 * A job that never returns (io_hang_at = 5), io_timeout_ms = 200, in a pool of one worker: it
 * resolves timed out about 200 ms after it was submitted (the outcome after the 4th), the
 * stuck worker is replaced ("1 pools": replaced, stuck), and the node keeps submitting and
 * completing on the replacement. One timeout is one I/O failure: the breaker stays closed.
 */
START_TEST(hung_job_times_out)
{
	struct outcomes *o = calloc(1, sizeof(*o));
	struct nio n;
	struct pio p;
	size_t k = 0;
	uint64_t gap, c0;

	HD_CHECK(&H, o != NULL, "out of memory");
	outcomes_open(o, "h.io");
	hd_config(&H, "[pool.io]\nworkers = 1\nqueue = 4\n"
		      "[node.h]\nplugin = testnode\nrate_hz = 100\npool = io\nio = 1\n"
		      "io_sleep_us = 5000\nio_hang_at = 5\nio_timeout_ms = 200\nio_topic = h.io\n");
	START("h");
	/* Read outcomes as they come (every ms), up to 10 after the timeout. */
	{
		uint64_t end = mono_ms() + 10000;

		while (outcomes_poll(o) < 15) {
			HD_CHECK(&H, mono_ms() < end, "%zu outcomes in 10 s", o->n);
			usleep(1000);
		}
	}
	for (k = 0; k < o->n && o->v[k] != -ETIMEDOUT; k++) {
		HD_CHECK(&H, o->v[k] == IO_RESULT, "outcome %zu is %" PRId64, k, o->v[k]);
	}
	HD_CHECK(&H, k == 4, "the timeout was outcome %zu, not the 5th job's", k + 1);
	for (size_t i = k + 1; i < o->n; i++) {
		HD_CHECK(&H, o->v[i] == IO_RESULT, "outcome %zu is %" PRId64, i, o->v[i]);
	}
	/* Job 5 is submitted the tick after outcome 4 is published (poll mode), then 200 ms. */
	gap = o->t_ms[k] - o->t_ms[k - 1];
	fprintf(stderr, "the hung job resolved %" PRIu64 " ms after the previous outcome\n", gap);
	HD_CHECK(&H, gap >= 195 && gap <= 450,
		 "timed out %" PRIu64 " ms after the outcome before it (io_timeout_ms = 200)", gap);

	pool_io("io", &p);
	HD_CHECK(&H, p.replaced == 1 && p.stuck == 1 && p.threads == 2 && p.workers == 1,
		 "pool io: replaced %" PRIu64 " stuck %" PRIu64 " threads %" PRIu64, p.replaced,
		 p.stuck, p.threads);
	HD_CHECK(&H, p.timed_out == 1, "pool timed_out %" PRIu64, p.timed_out);
	node_io("h", &n);
	HD_CHECK(&H, n.timed_out == 1 && n.failed == 0, "node timed_out %" PRIu64, n.timed_out);
	HD_CHECK(&H, n.failures == 1, "one I/O failure counted, not %" PRIu64, n.failures);
	HD_CHECK(&H, !strcmp(n.circuit, "closed"), "circuit %s", n.circuit);
	c0 = n.completed;
	HD_WAIT(&H, io_completed("h") >= c0 + 20, 5000, "completions after the timeout");
	pool_io("io", &p);
	HD_CHECK(&H, p.replaced == 1 && p.stuck == 1, "replaced %" PRIu64 " stuck %" PRIu64,
		 p.replaced, p.stuck);
	outcomes_close(o);
	free(o);
}
END_TEST

#ifndef UNDER_TSAN /* see io_suite() */
/* The daemon's threads named comm ("horus-pool"): their tids, up to max. */
static int threads_named(pid_t pid, const char *comm, pid_t *tids, int max)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (de = readdir(d)) && n < max) {
		char p2[320], name[32] = "";
		FILE *f;

		if (de->d_name[0] == '.') {
			continue;
		}
		snprintf(p2, sizeof(p2), "/proc/%d/task/%s/comm", (int)pid, de->d_name);
		f = fopen(p2, "re");
		if (f) {
			if (fgets(name, sizeof(name), f)) {
				name[strcspn(name, "\n")] = '\0';
			}
			fclose(f);
		}
		if (!strcmp(name, comm)) {
			tids[n++] = (pid_t)atoi(de->d_name);
		}
	}
	if (d) {
		closedir(d);
	}
	return n;
}

/*
 * One daemon with a worker stuck in pause(): SIGTERM, then SIGTERMs to its pool threads until it
 * has exited. Returns the wait status.
 */
static int stop_with_stuck_worker(void)
{
	struct pio p;
	pid_t tids[64];
	int st = -1, n;
	uint64_t end;

	signal(SIGTERM, SIG_IGN); /* inherited by horusd */
	START("h");
	signal(SIGTERM, SIG_DFL);
	HD_WAIT(&H, (pool_io("io", &p), p.stuck == 1 && p.replaced == 1), 5000, "a stuck worker");
	n = threads_named(H.pid, "horus-pool", tids, 64);
	HD_CHECK(&H, n >= 2, "%d pool threads", n); /* the default pool's too */
	hd_signal(&H, SIGTERM);
	end = mono_ms() + 10000;
	while (mono_ms() < end) {
		if (waitpid(H.pid, &st, WNOHANG) == H.pid) {
			H.reaped = true;
			H.status = st;
			break;
		}
		for (int k = 0; k < 100; k++) {
			for (int i = 0; i < n; i++) {
				syscall(SYS_tgkill, H.pid, tids[i], SIGTERM);
			}
		}
	}
	HD_CHECK(&H, H.reaped, "horusd did not exit within 10 s of SIGTERM");
	return st;
}

/*
 * Shutdown with a worker stuck in a timed-out job: the job's code belongs to the plugin, so the
 * plugin must stay loaded for as long as that call may return (or the daemon must not unload
 * it at all). The stuck call here is pause(), which returns whenever a signal is handled on its
 * thread: from the SIGTERM on, more SIGTERMs go to the pool's threads, standing for a blocking
 * call that returns during shutdown. SIGTERM is inherited as ignored, so that once horusd has
 * removed its own handler they are ignored again. Whether the stuck thread runs in the short
 * time between the unloading and the exit is up to the CPU scheduler, so the daemon is started
 * and stopped several times. Expected: exit status 0 every time.
 */
START_TEST(shutdown_with_stuck_worker)
{
	hd_config(&H, "[pool.io]\nworkers = 1\nqueue = 4\n"
		      "[node.h]\nplugin = testnode\nrate_hz = 100\npool = io\nio = 1\n"
		      "io_hang_at = 2\nio_timeout_ms = 100\n");
	for (int round = 1; round <= 6; round++) {
		int st = stop_with_stuck_worker();
		bool logged = hd_log_count(&H, "stopped (") == round;

		HD_CHECK(&H, WIFEXITED(st) && WEXITSTATUS(st) == 0 && logged,
			 "round %d: horusd ended with %s %d (%s), %s", round,
			 WIFSIGNALED(st) ? "signal" : "exit status",
			 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			 WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "",
			 logged ? "after its last log line" : "before logging 'stopped'");
	}
}
END_TEST
#endif

/* Every job fails: circuit_threshold = 3 I/O failures in a row open the breaker. */
START_TEST(io_failures_open_breaker)
{
	struct outcomes *o = calloc(1, sizeof(*o));
	struct nio n;

	HD_CHECK(&H, o != NULL, "out of memory");
	outcomes_open(o, "f.io");
	hd_config(&H, "[node.f]\nplugin = testnode\nrate_hz = 100\nio = 1\nio_fail = 1\n"
		      "io_topic = f.io\ncircuit_threshold = 3\ncircuit_cooldown_ms = 5000\n"
		      "[node.ok]\nplugin = testnode\nrate_hz = 100\nio = 1\n");
	START("f", "ok");
	HD_WAIT(&H, (node_io("f", &n), !strcmp(n.circuit, "open")), 5000, "the circuit opens");
	HD_CHECK(&H, !strcmp(n.state, "tripped"), "state %s", n.state);
	HD_CHECK(&H, n.failed == 3 && n.failures == 3,
		 "opened at %" PRIu64 " failed jobs, %" PRIu64 " failures", n.failed, n.failures);
	HD_CHECK(&H, n.completed == 0, "completed %" PRIu64, n.completed);
	HD_WAIT(&H, (node_io("f", &n), n.skipped >= 5), 5000, "ticks skipped while open");
	HD_CHECK(&H, !strcmp(n.circuit, "open") && n.failed == 3, "circuit %s failed %" PRIu64,
		 n.circuit, n.failed);
	HD_CHECK(&H, hd_log_has(&H, "node f: 3 I/O failures in a row; circuit opened"),
		 "the opening is logged");
	outcomes_poll(o);
	for (size_t i = 0; i < o->n; i++) {
		HD_CHECK(&H, o->v[i] == -EIO, "outcome %zu is %" PRId64, i, o->v[i]);
	}
	HD_CHECK(&H, o->n >= 2, "%zu failures published", o->n);
	/* Its neighbour is untouched. */
	node_io("ok", &n);
	HD_CHECK(&H, !strcmp(n.circuit, "closed") && n.failures == 0 && n.completed > 0,
		 "ok: circuit %s failures %" PRIu64, n.circuit, n.failures);
	outcomes_close(o);
	free(o);
}
END_TEST

/*
 * After the cooldown the breaker lets a trial through, half-open; the node's next job fails
 * too, which re-opens it for twice the cooldown. Every failure counted is an I/O one.
 */
START_TEST(io_failure_reopens_breaker)
{
	const char *opened = "node g: 3 I/O failures in a row; circuit opened for 300 ms";
	const char *reopened = "node g: trial I/O failed; circuit re-opened for 600 ms";
	struct nio n;

	hd_config(&H, "[node.g]\nplugin = testnode\nrate_hz = 100\nio = 1\nio_fail = 1\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 300\n");
	START("g");
	HD_WAIT(&H, hd_log_has(&H, reopened), 5000, "a failed trial re-opens the circuit");
	HD_CHECK(&H, hd_log_count(&H, opened) == 1, "opened once before");
	node_io("g", &n);
	HD_CHECK(&H, !strcmp(n.circuit, "open") || !strcmp(n.circuit, "half_open"), "circuit %s",
		 n.circuit);
	HD_CHECK(&H, !strcmp(n.state, "tripped"), "state %s", n.state);
	HD_CHECK(&H, n.failed >= 4 && n.failures == n.failed && n.completed == 0,
		 "failed %" PRIu64 " failures %" PRIu64, n.failed, n.failures);
}
END_TEST

/*
 * Submitting from init: with a callback, the result is delivered before the first tick (0.2 Hz:
 * 5 s away); polling, the first tick finds it done and collects it instead of submitting.
 */
START_TEST(submit_in_init)
{
	struct outcomes *o = calloc(1, sizeof(*o)), *q = calloc(1, sizeof(*q));
	struct nio n;

	HD_CHECK(&H, o && q, "out of memory");
	outcomes_open(o, "i.io");
	outcomes_open(q, "j.io");
	hd_config(&H, "[node.i]\nplugin = testnode\nrate_hz = 0.2\nio = 1\nio_in_init = 1\n"
		      "io_callback = 1\nio_topic = i.io\n"
		      "[node.j]\nplugin = testnode\nrate_hz = 2\nio = 1\nio_in_init = 1\n"
		      "io_sleep_us = 100000\nio_topic = j.io\n");
	START("i", "j");
	HD_WAIT(&H, outcomes_poll(o) >= 1, 3000, "the result of the job submitted in init");
	node_io("i", &n);
	HD_CHECK(&H, n.ticks == 0, "%" PRIu64 " ticks before the first one was due", n.ticks);
	HD_CHECK(&H, n.submitted == 1 && n.completed == 1 && n.pending == 0,
		 "submitted %" PRIu64 " completed %" PRIu64 " pending %" PRIu64, n.submitted,
		 n.completed, n.pending);
	HD_CHECK(&H, o->v[0] == IO_RESULT, "outcome %" PRId64, o->v[0]);

	/* Polling node: its first tick (500 ms) collects the init job. */
	HD_WAIT(&H, outcomes_poll(q) >= 1, 3000, "the polling node's first outcome");
	node_io("j", &n);
	HD_CHECK(&H, q->v[0] == IO_RESULT, "outcome %" PRId64, q->v[0]);
	HD_CHECK(&H, n.ticks >= 1 && n.completed >= 1, "ticks %" PRIu64 " completed %" PRIu64,
		 n.ticks, n.completed);
	/* One job per tick after the first: the init job was the first submitted. */
	HD_CHECK(&H, n.submitted <= n.ticks, "submitted %" PRIu64 " in %" PRIu64 " ticks",
		 n.submitted, n.ticks);
	outcomes_close(o);
	outcomes_close(q);
	free(o);
	free(q);
}
END_TEST

/*
 * An init that submits a job and then fails: the node is failed and lets go of its job at once
 * (nothing pending), and a reload that removes the node while the job still runs is safe (the
 * ASan build would see a worker resolving into the freed node); the job then ends unobserved.
 */
START_TEST(init_fails_with_job)
{
	struct pio p;
	struct nio n;
	uint64_t t0;

	hd_config(&H, "[node.f]\nplugin = testnode\nio_init_fail = 5\nio_sleep_us = 300000\n"
		      "[node.ok]\nplugin = testnode\nrate_hz = 100\n");
	START("f", "ok");
	HD_WAIT(&H, hd_state_is(&H, "f", "failed"), 5000, "node f failed");
	pool_io("default", &p);
	HD_CHECK(&H, p.submitted == 1, "pool: %" PRIu64 " submitted, want the init's 1", p.submitted);
	node_io("f", &n);
	HD_CHECK(&H, n.submitted == 1 && n.pending == 0,
		 "failed node: submitted %" PRIu64 ", still %" PRIu64 " pending", n.submitted,
		 n.pending);
	hd_config(&H, "[node.ok]\nplugin = testnode\nrate_hz = 100\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, !node_listed("f"), 5000, "node f removed by the reload");
	HD_WAIT(&H, (pool_io("default", &p), p.running == 0), 5000, "the orphaned job ended");
	t0 = hd_ticks(&H, "ok");
	HD_WAIT(&H, hd_ticks(&H, "ok") >= t0 + 10, 5000, "node ok ticking after the reload");
	HD_CHECK(&H, hd_alive(&H), "horusd died");
}
END_TEST

/* max_inflight = 1: in every sample, at most one job pending; jobs keep completing. */
START_TEST(max_inflight_one)
{
	struct nio n;
	uint64_t end, samples = 0, seen_one = 0, c0;

	hd_config(&H, "[node.m]\nplugin = testnode\nrate_hz = 100\nmax_inflight = 1\nio = 1\n"
		      "io_callback = 1\nio_sleep_us = 20000\n"
		      "[node.p]\nplugin = testnode\nrate_hz = 100\nmax_inflight = 1\nio = 1\n"
		      "io_sleep_us = 20000\n");
	START("m", "p");
	HD_WAIT(&H, io_completed("m") >= 1 && io_completed("p") >= 1, 5000, "first jobs");
	c0 = io_completed("m");
	end = mono_ms() + 1500;
	while (mono_ms() < end) {
		node_io("m", &n);
		HD_CHECK(&H, n.pending <= 1, "m: %" PRIu64 " pending with max_inflight 1",
			 n.pending);
		seen_one += n.pending == 1;
		node_io("p", &n);
		HD_CHECK(&H, n.pending <= 1, "p: %" PRIu64 " pending with max_inflight 1",
			 n.pending);
		seen_one += n.pending == 1;
		samples++;
		usleep(2000);
	}
	HD_CHECK(&H, samples >= 100 && seen_one > 0,
		 "%" PRIu64 " samples, %" PRIu64 " with a job pending", samples, seen_one);
	HD_CHECK(&H, io_completed("m") >= c0 + 20, "m: %" PRIu64 " completions in 1.5 s",
		 io_completed("m") - c0);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 40);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("blocking_job_keeps_rate", blocking_job_keeps_rate);
	ADD("callback_results", callback_results);
	ADD("hung_job_times_out", hung_job_times_out);
#ifndef UNDER_TSAN
	/* Under TSan, the SIGTERMs aimed at a worker thread make libevent's own signal handler
	 * race with its teardown in horusd's main thread (evsig_dealloc_): a report about the
	 * method, not about what this test looks at. */
	ADD("shutdown_with_stuck_worker", shutdown_with_stuck_worker);
#endif
	ADD("io_failures_open_breaker", io_failures_open_breaker);
	ADD("io_failure_reopens_breaker", io_failure_reopens_breaker);
	ADD("submit_in_init", submit_in_init);
	ADD("init_fails_with_job", init_fails_with_job);
	ADD("max_inflight_one", max_inflight_one);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(io_suite());
}
