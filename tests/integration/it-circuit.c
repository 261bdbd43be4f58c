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

/*
 * Every tick fails: threshold 3, then the breaker stays open 200, 400, 800, 1600 ... ms between
 * trial ticks. Each trial adds one failure, so the moments at which the failure count steps
 * from k to k + 1 (k >= 3) are cooldown(k) = 200 ms * 2^(k - 3) apart.
 */
START_TEST(test_cooldown_doubles)
{
	struct step {
		uint64_t t_ms, failures, skipped;
	} st[64];
	int n_st = 0, valid = 0;
	uint64_t end = mono_ms() + 15000, prev = 0;
	struct ni n;

	hd_config(&H, "[node.c]\nplugin = testnode\nrate_hz = 100\nfail_from = 1\n"
		      "circuit_threshold = 3\ncircuit_cooldown_ms = 200\n");
	hd_start(&H);
	while (mono_ms() < end && valid < 3 && n_st < 64) {
		HD_CHECK(&H, hd_node(&H, "c", &n), "c");
		if (n.failures >= 3) {
			/* Open between trials, half-open during one: never closed again. */
			HD_CHECK(&H,
				 strcmp(n.circuit, "closed") != 0 && !strcmp(n.state, "tripped"),
				 "after %llu failures: circuit %s state %s",
				 (unsigned long long)n.failures, n.circuit, n.state);
		}
		if (n.failures != prev) {
			st[n_st++] = (struct step){mono_ms(), n.failures, n.skipped};
			prev = n.failures;
			/* A gap counts when both of its ends were seen as single steps. */
			valid = 0;
			for (int i = 1; i + 1 < n_st; i++) {
				valid += st[i].failures >= 3 &&
					 st[i - 1].failures + 1 == st[i].failures &&
					 st[i].failures + 1 == st[i + 1].failures;
			}
		}
		usleep(2000);
	}
	HD_CHECK(&H, valid >= 3, "only %d open periods seen in 15 s (failures %llu)", valid,
		 (unsigned long long)prev);
	fprintf(stderr, "open periods:");
	for (int i = 1; i + 1 < n_st; i++) {
		double expected, gap;

		if (!(st[i].failures >= 3 && st[i - 1].failures + 1 == st[i].failures &&
		      st[i].failures + 1 == st[i + 1].failures)) {
			continue;
		}
		expected = 200.0 * (double)(1u << (st[i].failures - 3));
		gap = (double)(st[i + 1].t_ms - st[i].t_ms);
		fprintf(stderr, " after failure %llu: %.0f ms (cooldown %.0f, %llu ticks skipped)",
			(unsigned long long)st[i].failures, gap, expected,
			(unsigned long long)(st[i + 1].skipped - st[i].skipped));
		HD_CHECK(&H, gap > 0.8 * expected && gap < 1.5 * expected + 50,
			 "open %.0f ms after failure %llu, expected %.0f (doubling from 200)", gap,
			 (unsigned long long)st[i].failures, expected);
		/* At 100 Hz a tick is due every 10 ms: those of the open period are skipped
		 * (fewer if a busy machine delays the tick thread; the time is the measure). */
		HD_CHECK(&H, st[i + 1].skipped > st[i].skipped,
			 "%llu ticks skipped in a %.0f ms open period",
			 (unsigned long long)(st[i + 1].skipped - st[i].skipped), expected);
	}
	fprintf(stderr, "\n");
	{
		const char *seq[] = {"circuit opened for 200 ms", "re-opened for 400 ms",
				     "re-opened for 800 ms"};

		HD_CHECK(&H, log_in_order(seq, 3), "doubling logged");
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
