/* SPDX-License-Identifier: MIT */
/*
 * The circuit breaker in a real horusd: circuit_threshold consecutive failures open it (state
 * tripped, ticks skipped); after circuit_cooldown_ms one trial tick runs half-open and closes
 * it on success or re-opens it with the cooldown doubled (capped); a success resets it all.
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

/* Is needle[0], then needle[1], ... found in that order in the log? */
static bool log_in_order(const char *const *needles, size_t n)
{
	FILE *f = fopen(H.log, "re");
	static char buf[1 << 20];
	size_t len;
	const char *p = buf;

	if (!f) {
		return false;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	for (size_t i = 0; i < n; i++) {
		p = strstr(p, needles[i]);
		if (!p) {
			return false;
		}
		p += strlen(needles[i]);
	}
	return true;
}

START_TEST(test_open_half_open_close)
{
	bool seen_open = false, seen_half = false, closed_after = false;
	uint64_t end = mono_ms() + 10000, t_open = 0, t_half = 0;
	struct ni n;

	/* Ticks take 50 ms so that the half-open trial can be seen from outside. */
	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 10\nsleep_us = 50000\n"
		      "fail_first = 3\ncircuit_threshold = 3\ncircuit_cooldown_ms = 200\n");
	hd_start(&H);
	while (mono_ms() < end && !closed_after) {
		HD_CHECK(&H, hd_node(&H, "c", &n), "c");
		if (!strcmp(n.circuit, "open")) {
			HD_CHECK(&H, !strcmp(n.state, "tripped"), "open circuit, state %s",
				 n.state);
			HD_CHECK(&H, n.failures == 3, "opened after %llu failures",
				 (unsigned long long)n.failures);
			if (!seen_open) {
				t_open = mono_ms();
			}
			seen_open = true;
		} else if (!strcmp(n.circuit, "half_open")) {
			HD_CHECK(&H, seen_open, "half_open before open");
			HD_CHECK(&H, !strcmp(n.state, "tripped"), "half-open, state %s", n.state);
			if (!seen_half) {
				t_half = mono_ms();
			}
			seen_half = true;
		} else if (seen_open) {
			HD_CHECK(&H, !strcmp(n.circuit, "closed"), "circuit %s", n.circuit);
			closed_after = true;
		}
		usleep(3000);
	}
	HD_CHECK(&H, seen_open, "the circuit never showed open");
	HD_CHECK(&H, seen_half, "the circuit never showed half_open (a 50 ms trial tick)");
	HD_CHECK(&H, closed_after, "the circuit did not close after the trial");
	fprintf(stderr, "open seen for %llu ms before the trial\n",
		(unsigned long long)(t_half - t_open));
	HD_CHECK(&H, t_half - t_open >= 100 && t_half - t_open <= 600,
		 "open for %llu ms with a 200 ms cooldown", (unsigned long long)(t_half - t_open));
	HD_CHECK(&H, hd_node(&H, "c", &n) && n.failures == 3 && n.skipped >= 1,
		 "failures %llu skipped %llu", (unsigned long long)n.failures,
		 (unsigned long long)n.skipped);
	/* Ticks go on, and the degraded mark wears off. */
	{
		uint64_t t0 = n.ticks;

		HD_WAIT(&H, hd_ticks(&H, "c") >= t0 + 3, 5000, "ticks after closing");
	}
	HD_WAIT(&H, hd_state_is(&H, "c", "running"), 10000, "back to running");
	{
		const char *seq[] = {"node c: 3 tick failures in a row; circuit opened for 200 ms",
				     "node c: trial tick succeeded; circuit closed"};

		HD_CHECK(&H, log_in_order(seq, 2), "open/close logged in order");
	}
}
END_TEST

#define TRIALS 5

START_TEST(test_cooldown_doubles)
{
	uint64_t t_fail[3 + TRIALS] = {0}, skipped_at[3 + TRIALS] = {0};
	uint64_t end = mono_ms() + 15000, prev_failures = 0;
	struct ni n;
	double g[TRIALS - 1];

	/* Every tick fails: threshold 3, then trials at 200, 400, 800, 1600 ms. */
	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 100\nfail_from = 1\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 200\n");
	hd_start(&H);
	while (mono_ms() < end && prev_failures < 3 + TRIALS - 1) {
		HD_CHECK(&H, hd_node(&H, "c", &n), "c");
		if (n.failures != prev_failures) {
			uint64_t now = mono_ms();

			/* One failure per trial: no failure can slip through while open. */
			HD_CHECK(&H, n.failures == prev_failures + 1 || n.failures <= 3,
				 "failures jumped %llu -> %llu", (unsigned long long)prev_failures,
				 (unsigned long long)n.failures);
			for (uint64_t k = prev_failures + 1; k <= n.failures && k <= 2 + TRIALS;
			     k++) {
				t_fail[k] = now;
				skipped_at[k] = n.skipped;
			}
			prev_failures = n.failures;
		}
		if (n.failures >= 3) {
			HD_CHECK(&H,
				 strcmp(n.circuit, "closed") != 0 && !strcmp(n.state, "tripped"),
				 "after 3 failures: circuit %s state %s", n.circuit, n.state);
		}
		usleep(3000);
	}
	HD_CHECK(&H, prev_failures >= 3 + TRIALS - 1, "only %llu failures in 15 s",
		 (unsigned long long)prev_failures);
	/* Gaps between failure 3 (open) and each trial's failure. */
	fprintf(stderr, "open periods:");
	for (int i = 0; i < TRIALS - 1; i++) {
		g[i] = (double)(t_fail[4 + i] - t_fail[3 + i]);
		fprintf(stderr, " %.0f ms (%llu skipped)", g[i],
			(unsigned long long)(skipped_at[4 + i] - skipped_at[3 + i]));
	}
	fprintf(stderr, "\n");
	HD_CHECK(&H, g[0] >= 150 && g[0] <= 350, "first open period %.0f ms, cooldown 200", g[0]);
	for (int i = 1; i < TRIALS - 1; i++) {
		double r = g[i] / g[i - 1];
		double sr = (double)(skipped_at[4 + i] - skipped_at[3 + i]) /
			    (double)(skipped_at[3 + i] - skipped_at[2 + i]);

		HD_CHECK(&H, r > 1.6 && r < 2.5, "open period %d: %.0f ms after %.0f ms (x%.2f)",
			 i + 1, g[i], g[i - 1], r);
		/* Skipped ticks are the rougher measure: a busy machine loses some. */
		HD_CHECK(&H, sr > 1.4 && sr < 2.8, "skipped ticks while open grew x%.2f", sr);
	}
	{
		const char *seq[] = {"circuit opened for 200 ms", "re-opened for 400 ms",
				     "re-opened for 800 ms", "re-opened for 1600 ms"};

		HD_CHECK(&H, log_in_order(seq, 4), "doubling logged");
	}
}
END_TEST

START_TEST(test_cooldown_capped)
{
	/* 10 ms doubling: 20 40 80 160 320, then capped at 32 x 10 ms. */
	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 500\nfail_from = 1\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 10\n");
	hd_start(&H);
	HD_WAIT(&H, hd_log_count(&H, "re-opened for 320 ms") >= 3, 15000, "capped at 320 ms");
	HD_CHECK(&H, !hd_log_has(&H, "re-opened for 640 ms"), "doubled past the cap");
}
END_TEST

START_TEST(test_success_resets)
{
	struct ni n;

	/*
	 * Ticks 1-3 fail (open 200 ms), trials 4 and 5 fail (400, 800 ms), trial 6 succeeds;
	 * later ticks 40-42 fail: the breaker opens again with the base cooldown, and trial 43
	 * closes it.
	 */
	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 100\nfail_first = 5\n"
		      "fail_from = 40\nfail_until = 42\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 200\n");
	hd_start(&H);
	HD_WAIT(&H, hd_log_count(&H, "node c: trial tick succeeded; circuit closed") >= 2, 15000,
		"closed twice");
	{
		const char *seq[] = {
		    "node c: 3 tick failures in a row; circuit opened for 200 ms",
		    "node c: trial tick failed; circuit re-opened for 400 ms",
		    "node c: trial tick failed; circuit re-opened for 800 ms",
		    "node c: trial tick succeeded; circuit closed",
		    "node c: 3 tick failures in a row; circuit opened for 200 ms",
		    "node c: trial tick succeeded; circuit closed",
		};

		HD_CHECK(&H, log_in_order(seq, 6), "the second opening uses the base cooldown");
	}
	HD_CHECK(&H, hd_node(&H, "c", &n) && n.failures == 8 && !strcmp(n.circuit, "closed"),
		 "failures %llu circuit %s", (unsigned long long)n.failures, n.circuit);
}
END_TEST

START_TEST(test_below_threshold_stays_closed)
{
	struct ni n;

	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 100\nfail_first = 2\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 200\n"
		      "[node.d]\nplugin = testnode\nrate_hz = 100\nfail_from = 5\nfail_until = 6\n"
		      "circuit_threshold = 3\n");
	hd_start(&H);
	HD_WAIT(&H, hd_ticks(&H, "c") >= 30 && hd_ticks(&H, "d") >= 30, 10000, "ticking");
	HD_CHECK(&H,
		 hd_node(&H, "c", &n) && n.failures == 2 && !strcmp(n.circuit, "closed") &&
		     n.skipped == 0,
		 "c: failures %llu circuit %s skipped %llu", (unsigned long long)n.failures,
		 n.circuit, (unsigned long long)n.skipped);
	HD_CHECK(&H,
		 hd_node(&H, "d", &n) && n.failures == 2 && !strcmp(n.circuit, "closed") &&
		     n.skipped == 0,
		 "d: failures %llu circuit %s", (unsigned long long)n.failures, n.circuit);
	HD_CHECK(&H, !hd_log_has(&H, "circuit opened"), "never opened");
}
END_TEST

static Suite *circuit_suite(void)
{
	Suite *s = suite_create("circuit");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("open_half_open_close", test_open_half_open_close);
	ADD("cooldown_doubles", test_cooldown_doubles);
	ADD("cooldown_capped", test_cooldown_capped);
	ADD("success_resets", test_success_resets);
	ADD("below_threshold", test_below_threshold_stays_closed);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(circuit_suite());
}
