/* SPDX-License-Identifier: MIT */
/*
 * Deadlines in a real horusd: a tick longer than deadline_ms counts as a miss, and each
 * on_deadline_miss policy acts: warn keeps the rate, skip drops the next tick, stop stops it.
 * And the scheduler's own time a tick ("dispatch_ns" of status) leaves the ticks' time and the
 * waits for a deadline out.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

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

START_TEST(test_miss_warn)
{
	struct ni n;
	uint64_t ticks;
	double ratio, expected;

	hd_config(&H, "[node.slow]\nplugin = testnode\nrate_hz = 20\ndeadline_ms = 5\n"
		      "sleep_us = 15000\non_deadline_miss = warn\n");
	hd_start(&H);
	HD_WAIT(&H, hd_node(&H, "slow", &n) && n.deadline_misses >= 5, 10000,
		"deadline misses counted");
	HD_CHECK(&H, n.deadline_ms == 5, "deadline_ms %g", n.deadline_ms);
	HD_CHECK(&H, !strcmp(n.state, "degraded"), "state %s, expected degraded", n.state);
	HD_CHECK(&H, n.deadline_misses + 1 >= n.ticks && n.deadline_misses <= n.ticks,
		 "every tick misses: %llu misses of %llu ticks",
		 (unsigned long long)n.deadline_misses, (unsigned long long)n.ticks);
	/* warn: nothing skipped, the rate stays. */
	ratio = hd_tick_ratio(&H, "slow", 2000, &ticks, &expected);
	fprintf(stderr, "warn: %llu ticks of %.1f expected (%.3f)\n", (unsigned long long)ticks,
		expected, ratio);
	HD_CHECK(&H, ratio > 0.9 && ratio < 1.1, "warn ratio %.3f", ratio);
	HD_CHECK(&H, hd_node(&H, "slow", &n) && n.skipped == 0, "skipped %llu",
		 (unsigned long long)n.skipped);
	HD_WAIT(&H, hd_log_has(&H, "node slow: tick took"), 5000, "miss logged");
	/* Rate-limited: far fewer log lines than misses. */
	HD_CHECK(&H, hd_log_count(&H, "node slow: tick took") < (int)n.deadline_misses / 2 + 2,
		 "%d miss lines for %llu misses", hd_log_count(&H, "node slow: tick took"),
		 (unsigned long long)n.deadline_misses);
}
END_TEST

START_TEST(test_miss_skip)
{
	struct ni a, b;
	uint64_t t0, t1;
	double secs, ratio;

	/* Every tick (8 ms) misses its 4 ms deadline, so every other one is skipped. */
	hd_config(&H, "[node.s]\nplugin = testnode\nrate_hz = 50\ndeadline_ms = 4\n"
		      "sleep_us = 8000\non_deadline_miss = skip\n");
	hd_start(&H);
	HD_WAIT(&H, hd_node(&H, "s", &a) && a.skipped >= 3, 10000, "skips counted");
	t0 = mono_us();
	HD_CHECK(&H, hd_node(&H, "s", &a), "s");
	while (mono_us() < t0 + 3000000) {
		usleep(20000);
	}
	t1 = mono_us();
	HD_CHECK(&H, hd_node(&H, "s", &b), "s");
	secs = (double)(t1 - t0) / 1e6;
	ratio = (double)(b.ticks - a.ticks) / (50 * secs);
	fprintf(stderr, "skip: %llu ticks, %llu skipped in %.2f s (ratio %.3f of 50 Hz)\n",
		(unsigned long long)(b.ticks - a.ticks),
		(unsigned long long)(b.skipped - a.skipped), secs, ratio);
	HD_CHECK(&H, ratio > 0.42 && ratio < 0.58, "ticks at %.3f of the rate, expected ~0.5",
		 ratio);
	HD_CHECK(&H,
		 b.skipped - a.skipped + 3 >= b.ticks - a.ticks &&
		     b.skipped - a.skipped <= b.ticks - a.ticks + 3,
		 "one skip per tick: %llu skipped, %llu ticks",
		 (unsigned long long)(b.skipped - a.skipped),
		 (unsigned long long)(b.ticks - a.ticks));
	HD_CHECK(&H, b.deadline_misses >= b.ticks - 1, "misses %llu ticks %llu",
		 (unsigned long long)b.deadline_misses, (unsigned long long)b.ticks);
}
END_TEST

START_TEST(test_miss_stop)
{
	struct ni n;

	hd_config(&H, "[node.st]\nplugin = testnode\nrate_hz = 50\ndeadline_ms = 5\n"
		      "sleep_us = 15000\non_deadline_miss = stop\nrecord = @REC@\n"
		      "[node.ok]\nplugin = testnode\nrate_hz = 50\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "st", "stopped"), 10000, "st stopped");
	HD_WAIT(&H, hd_rec_count(&H, "fini", "st") == 1, 5000, "fini recorded");
	HD_CHECK(&H, hd_node(&H, "st", &n) && n.ticks == 1 && n.deadline_misses == 1,
		 "stopped after its first tick: %llu ticks, %llu misses",
		 (unsigned long long)n.ticks, (unsigned long long)n.deadline_misses);
	HD_WAIT(&H, hd_log_has(&H, "node st: stopped after a deadline miss"), 5000, "logged");
	/* It stays stopped while the other node goes on. */
	{
		uint64_t ok0 = hd_ticks(&H, "ok");

		HD_WAIT(&H, hd_ticks(&H, "ok") > ok0 + 25, 5000, "ok ticks on");
	}
	HD_CHECK(&H,
		 hd_node(&H, "st", &n) && n.ticks == 1 && !strcmp(n.state, "stopped") &&
		     n.watchdog_trips == 0,
		 "st: %llu ticks, state %s, %llu watchdog trips", (unsigned long long)n.ticks,
		 n.state, (unsigned long long)n.watchdog_trips);
	HD_CHECK(&H, hd_rec_count(&H, "init", "st") == 1, "not restarted");
}
END_TEST

/* status's "dispatch_ns" {p50, p99, max} and "wakeups", "dispatches". */
struct dispatch {
	double p50, p99, max, wakeups, dispatches;
};

static struct dispatch dispatch_now(void)
{
	char reply[HD_REPLY_MAX];
	struct dispatch d = {0};
	const char *obj;

	HD_CHECK(&H, hd_request(&H, "1 status", reply, sizeof(reply)), "no reply to status");
	obj = strstr(reply, "\"dispatch_ns\": {");
	HD_CHECK(&H,
		 obj && json_num_field(obj, "p50", &d.p50) && json_num_field(obj, "p99", &d.p99) &&
		     json_num_field(obj, "max", &d.max) &&
		     json_num_field(reply, "wakeups", &d.wakeups) &&
		     json_num_field(reply, "dispatches", &d.dispatches),
		 "status lacks dispatch_ns, wakeups or dispatches: %s", reply);
	return d;
}

START_TEST(test_dispatch_leaves_out_ticks_and_waits)
{
	struct dispatch d;

	/*
	 * Both due at the same instants: one wake-up, 2 ms early for `spins`, runs its 2 ms wait
	 * and both ticks, `sleeps`'s taking 2 ms. Counted as dispatch, those 4 ms would put p50
	 * at 2 ms a tick; the lane's own work is microseconds even under sanitizers.
	 */
	hd_config(&H, "[node.sleeps]\nplugin = testnode\nrate_hz = 100\nsleep_us = 2000\n"
		      "[node.spins]\nplugin = testnode\nrate_hz = 100\nspin_us = 2000\n");
	hd_start(&H);
	HD_WAIT(&H, (d = dispatch_now()).wakeups >= 100, 20000, "100 wake-ups (%.0f)", d.wakeups);
	HD_CHECK(&H, d.dispatches >= d.wakeups, "%.0f ticks dispatched in %.0f wake-ups",
		 d.dispatches, d.wakeups);
	HD_CHECK(&H, d.p50 > 0 && d.p50 <= d.p99 && d.p99 <= d.max,
		 "dispatch_ns p50 %.0f, p99 %.0f, max %.0f: not in order", d.p50, d.p99, d.max);
	HD_CHECK(&H, d.p50 < 500000,
		 "dispatch p50 %.0f ns a tick: the ticks' 2 ms or the 2 ms waits counted in it",
		 d.p50);
}
END_TEST

static Suite *deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("miss_warn", test_miss_warn);
	ADD("miss_skip", test_miss_skip);
	ADD("miss_stop", test_miss_stop);
	ADD("dispatch", test_dispatch_leaves_out_ticks_and_waits);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(deadline_suite());
}
