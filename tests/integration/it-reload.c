/* SPDX-License-Identifier: MIT */
/*
 * Reload of a real horusd (SIGHUP and "1 reload"): new sections start nodes, removed sections
 * stop them, changed rates and deadlines apply without a restart, a bad config is refused while
 * the running one stays, and a plugin dropped into plugin_dir starts as a node.
 */

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

#define NODE_A "[node.a]\nplugin = testnode\nrate_hz = 50\nrecord = @REC@\n"
#define NODE_B "[node.b]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n"

static void start_a(void)
{
	hd_config(&H, NODE_A);
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "a", "running"), 10000, "a running");
}

static void a_untouched(void)
{
	struct ni n;
	uint64_t t0;

	HD_CHECK(&H, hd_node(&H, "a", &n) && n.restarts == 0 && !strcmp(n.state, "running"),
		 "a: restarts %llu state %s", (unsigned long long)n.restarts, n.state);
	HD_CHECK(&H, hd_rec_count(&H, "init", "a") == 1 && hd_rec_count(&H, "fini", "a") == 0,
		 "a inited once, never finied");
	t0 = n.ticks;
	HD_WAIT(&H, hd_ticks(&H, "a") > t0 + 10, 5000, "a keeps ticking");
}

START_TEST(test_sighup_adds_and_removes)
{
	char names[256];

	start_a();
	hd_config(&H, NODE_A NODE_B);
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "b", "running"), 10000, "b started by the reload");
	HD_WAIT(&H, hd_ticks(&H, "b") > 10, 5000, "b ticks");
	HD_CHECK(&H, hd_rec_count(&H, "init", "b") == 1, "b inited once");
	HD_WAIT(&H, hd_status_num(&H, "reloads") == 1, 5000, "one reload counted");
	a_untouched();

	hd_config(&H, NODE_A);
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_node_names(&H, names, sizeof(names)) == 1 && !strcmp(names, "a"), 10000,
		"b removed (list: %s)", names);
	HD_CHECK(&H, hd_rec_count(&H, "fini", "b") == 1, "b's fini recorded");
	a_untouched();
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "same daemon");
}
END_TEST

START_TEST(test_rate_change_live)
{
	struct ni n;
	uint64_t ticks;
	double ratio, expected;

	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 20\ndeadline_ms = 40\n"
		      "watchdog_ms = 2000\nrecord = @REC@\n");
	hd_start(&H);
	HD_WAIT(&H, hd_node(&H, "a", &n) && fabs(n.actual_hz - 20) < 2, 10000,
		"a at 20 Hz (actual %g)", n.actual_hz);

	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\ndeadline_ms = 7\n"
		      "watchdog_ms = 500\nrecord = @REC@\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_node(&H, "a", &n) && n.rate_hz == 100, 10000, "rate applied");
	HD_CHECK(&H, n.deadline_ms == 7 && n.watchdog_ms == 500,
		 "deadline %g watchdog %g after reload", n.deadline_ms, n.watchdog_ms);
	ratio = hd_tick_ratio(&H, "a", 2000, &ticks, &expected);
	fprintf(stderr, "after 20 -> 100 Hz: %llu ticks of %.1f expected (%.3f)\n",
		(unsigned long long)ticks, expected, ratio);
	HD_CHECK(&H, ratio > 0.85 && ratio < 1.02, "new rate kept: %.3f", ratio);
	HD_WAIT(&H, hd_node(&H, "a", &n) && fabs(n.actual_hz - 100) < 10, 5000,
		"actual_hz follows (%g)", n.actual_hz);
	HD_CHECK(&H,
		 n.restarts == 0 && hd_rec_count(&H, "init", "a") == 1 &&
		     hd_rec_count(&H, "fini", "a") == 0,
		 "no restart: restarts %llu, %d inits", (unsigned long long)n.restarts,
		 hd_rec_count(&H, "init", "a"));

	/* And down again: a slower rate takes effect too. */
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 10\nrecord = @REC@\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_node(&H, "a", &n) && n.rate_hz == 10, 10000, "rate applied");
	HD_WAIT(&H, hd_node(&H, "a", &n) && fabs(n.actual_hz - 10) < 1.5, 10000,
		"actual_hz follows down (%g)", n.actual_hz);
	/* Keys dropped from the section go back to their defaults. */
	HD_CHECK(&H, n.deadline_ms == 100 && n.watchdog_ms == 1000,
		 "unset deadline %g (expected the period, 100) watchdog %g (expected 1000)",
		 n.deadline_ms, n.watchdog_ms);
	HD_CHECK(&H, n.restarts == 0 && hd_rec_count(&H, "init", "a") == 1, "still no restart");
}
END_TEST

/* Returns just after node `name` completed a tick (polled every 2 ms). */
static void just_after_tick(const char *name)
{
	uint64_t t0 = hd_ticks(&H, name), end = mono_ms() + 5000;

	while (hd_ticks(&H, name) == t0) {
		HD_CHECK(&H, mono_ms() < end, "%s does not tick", name);
		usleep(2000);
	}
}

/*
 * A node whose ticks are long (30 ms, past the 10 ms hand-over) ends up on a lane of its own;
 * a new rate must reach it there as well, and the others keep theirs.
 */
START_TEST(test_rate_change_on_own_lane)
{
	struct ni n;

	hd_config(&H, "[node.slow]\nplugin = testnode\nrate_hz = 5\nsleep_us = 30000\n"
		      "deadline_ms = 100\nrecord = @REC@\n"
		      "[node.fast]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_node(&H, "slow", &n) && fabs(n.actual_hz - 5) < 1, 10000,
		"slow at 5 Hz (%g)", n.actual_hz);
	HD_WAIT(&H, hd_log_has(&H, "node slow: a call has not returned"), 5000,
		"slow handed over to its own lane");
	hd_config(&H, "[node.slow]\nplugin = testnode\nrate_hz = 20\nsleep_us = 30000\n"
		      "deadline_ms = 100\nrecord = @REC@\n"
		      "[node.fast]\nplugin = testnode\nrate_hz = 100\n");
	/* Between two ticks (170 ms idle): this case is about the rate, not a tick in progress. */
	just_after_tick("slow");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_node(&H, "slow", &n) && n.rate_hz == 20, 10000, "rate applied");
	HD_WAIT(&H, hd_node(&H, "slow", &n) && fabs(n.actual_hz - 20) < 2.5, 10000,
		"slow follows to 20 Hz on its own lane (actual %g)", n.actual_hz);
	HD_WAIT(&H, hd_node(&H, "fast", &n) && fabs(n.actual_hz - 100) < 10, 5000,
		"fast unaffected (%g)", n.actual_hz);
	HD_CHECK(
	    &H, hd_node(&H, "slow", &n) && n.restarts == 0 && hd_rec_count(&H, "init", "slow") == 1,
	    "no restart");
}
END_TEST

/*
 * A reload that changes nothing leaves a node alone even when the reload finds it in the middle
 * of a (long, but not hung) tick on its own lane: a tick in progress is not a hang.
 */
START_TEST(test_reload_mid_tick_no_restart)
{
	char reply[HD_REPLY_MAX];
	struct ni n;

	hd_config(&H, "[node.slow]\nplugin = testnode\nrate_hz = 5\nsleep_us = 150000\n"
		      "deadline_ms = 190\nrecord = @REC@\n"
		      "[node.fast]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_ticks(&H, "slow") >= 3, 10000, "slow ticks");
	for (int i = 0; i < 4; i++) {
		/* slow's ticks run from 50 to 200 ms after the previous one ended: reload in there.
		 */
		just_after_tick("slow");
		usleep(100000);
		HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload");
		HD_WAIT(&H, hd_status_num(&H, "reloads") == i + 1, 5000, "reload %d", i + 1);
	}
	HD_WAIT(&H, hd_log_count(&H, "configuration applied") >= 5, 5000, "reloads applied");
	HD_CHECK(&H, hd_node(&H, "slow", &n), "slow");
	fprintf(stderr, "4 unchanged reloads: slow restarts %llu, inits %d\n",
		(unsigned long long)n.restarts, hd_rec_count(&H, "init", "slow"));
	HD_CHECK(&H, n.restarts == 0 && hd_rec_count(&H, "init", "slow") == 1,
		 "an unchanged reload restarted slow %llu times (%d inits): a tick in progress "
		 "was taken for a hang",
		 (unsigned long long)n.restarts, hd_rec_count(&H, "init", "slow"));
}
END_TEST

START_TEST(test_bad_config_keeps_running)
{
	char reply[HD_REPLY_MAX], needle[HD_PATH + 64];

	start_a();
	hd_config2(&H, "bogus = 1\n", NODE_A NODE_B);
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_log_has(&H, "reload refused"), 10000, "refusal logged");
	snprintf(needle, sizeof(needle), "%s:6: [daemon] bogus: unknown key", H.conf);
	HD_CHECK(&H, hd_log_has(&H, needle), "error with file:line: %s", needle);
	HD_CHECK(&H, !hd_node(&H, "b", &(struct ni){0}), "nothing of the bad config applied");
	HD_CHECK(&H, hd_status_num(&H, "reloads") == 0, "refused reload not counted");
	a_untouched();

	/* Over the socket: the errors come back in the reply. */
	HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload reply");
	HD_CHECK(&H, strstr(reply, "\"error\"") && strstr(reply, "bogus: unknown key"), "reply: %s",
		 reply);

	/* A bad value in a node section is refused the same way. */
	hd_config(&H, NODE_A "[node.b]\nplugin = testnode\nrate_hz = 0\n");
	HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload reply");
	HD_CHECK(&H, strstr(reply, "\"error\"") && strstr(reply, "[node.b] rate_hz"), "reply: %s",
		 reply);
	a_untouched();
	HD_CHECK(&H, !hd_node(&H, "b", &(struct ni){0}), "b not started");

	/* A good config after the bad ones applies. */
	hd_config(&H, NODE_A NODE_B);
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "b", "running"), 10000, "b after a good reload");
	a_untouched();
}
END_TEST

START_TEST(test_plugin_dropped_in)
{
	struct ni n;

	start_a();
	hd_plugin(&H, "testnode", "extra");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "extra", "running"), 10000, "extra started");
	HD_CHECK(&H, hd_node(&H, "extra", &n) && !strcmp(n.plugin, "extra"), "plugin %s", n.plugin);
	HD_WAIT(&H, hd_ticks(&H, "extra") > 10, 5000, "extra ticks");
	a_untouched();

	/* Removing the file removes its node. */
	{
		char path[HD_PATH + 16];

		snprintf(path, sizeof(path), "%s/extra.so", H.plugdir);
		HD_CHECK(&H, unlink(path) == 0, "unlink");
	}
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, !hd_node(&H, "extra", &n), 10000, "extra gone");
	a_untouched();
}
END_TEST

/*
 * A plugin file replaced on disk (a package upgrade: the new file renamed over the old) is
 * reloaded, and its node then runs the new code; so does a node whose section names another
 * plugin. sevennode declares 7 Hz and fails every tick, so its code is recognisable.
 */
START_TEST(test_plugin_replaced_on_disk)
{
	struct ni n;

	hd_plugin(&H, "testnode", "x");
	hd_plugin(&H, "sevennode", "sevennode");
	hd_config(&H, "[node.y]\nplugin = testnode\n[node.z]\nplugin = sevennode\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "x", "running") && hd_state_is(&H, "y", "running"), 10000,
		"x and y running");
	HD_CHECK(&H, hd_node(&H, "x", &n) && n.rate_hz == 100 && n.failures == 0, "x is testnode");

	hd_plugin(&H, "sevennode", "x"); /* renamed over x.so */
	hd_config(&H, "[node.y]\nplugin = sevennode\n[node.z]\nplugin = sevennode\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_log_has(&H, "configuration applied: 3") && hd_status_num(&H, "reloads") == 1,
		10000, "reloaded");
	HD_WAIT(&H, hd_node(&H, "x", &n) && n.rate_hz == 7 && n.failures > 0, 10000,
		"x runs the new file's code (rate %g, failures %llu)", n.rate_hz,
		(unsigned long long)n.failures);
	HD_WAIT(&H, hd_node(&H, "y", &n) && n.rate_hz == 7 && n.failures > 0, 10000,
		"y runs sevennode now (rate %g, failures %llu)", n.rate_hz,
		(unsigned long long)n.failures);
	HD_CHECK(&H, hd_log_has(&H, "changed on disk"), "the swap was noticed");
}
END_TEST

/*
 * Many reloads at once, over the socket and by signal: all answered, the new node b started
 * once, nothing restarted (and no restart counted that did not happen).
 */
START_TEST(test_reload_storm)
{
	pid_t kids[4];
	struct ni n;

	start_a();
	hd_config(&H, NODE_A NODE_B);
	/* Ten reloads in one write: they are queued back to back. */
	{
		char burst[128] = "", r[HD_REPLY_MAX];
		int fd = hd_connect(&H);

		for (int i = 0; i < 10; i++) {
			strcat(burst, "1 reload\n");
		}
		HD_CHECK(&H, fd >= 0 && write(fd, burst, strlen(burst)) == (ssize_t)strlen(burst),
			 "burst");
		for (int i = 0; i < 10; i++) {
			HD_CHECK(&H,
				 hd_read_line(fd, r, sizeof(r), 10000) > 0 &&
				     strstr(r, "\"ok\": true"),
				 "reply %d to the burst: %s", i, r);
		}
		close(fd);
	}
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		HD_CHECK(&H, kids[k] >= 0, "fork");
		if (kids[k] == 0) {
			for (int i = 0; i < 10; i++) {
				char r[HD_REPLY_MAX];
				int fd = hd_connect(&H);

				if (fd < 0 || write(fd, "1 reload\n", 9) != 9 ||
				    hd_read_line(fd, r, sizeof(r), 10000) <= 0 ||
				    !strstr(r, "\"ok\": true")) {
					_exit(1);
				}
				close(fd);
				if (k == 0) {
					kill(H.pid, SIGHUP);
				}
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st;

		HD_CHECK(&H,
			 waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) &&
			     WEXITSTATUS(st) == 0,
			 "reload client %d failed (0x%x)", k, st);
	}
	HD_WAIT(&H, hd_state_is(&H, "b", "running"), 10000, "b started");
	a_untouched();
	HD_CHECK(&H, hd_node(&H, "b", &n) && n.restarts == 0 && hd_rec_count(&H, "init", "b") == 1,
		 "b started once by 60 reloads, yet restarts %llu (%d inits): reloads queued "
		 "before b's init replaced it again",
		 (unsigned long long)n.restarts, hd_rec_count(&H, "init", "b"));
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "same daemon");
}
END_TEST

START_TEST(test_socket_reload)
{
	char reply[HD_REPLY_MAX], names[256];

	start_a();
	hd_config(&H, NODE_A NODE_B);
	HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload reply");
	HD_CHECK(&H, strstr(reply, "\"ok\": true") != NULL, "reply: %s", reply);
	/* The reply may come before the new config is applied (it is applied on the tick thread).
	 */
	fprintf(stderr, "right after the reload reply, b is %s\n",
		hd_node(&H, "b", &(struct ni){0}) ? "listed" : "not listed yet");
	HD_WAIT(&H, hd_state_is(&H, "b", "running"), 10000, "b started");
	a_untouched();
	hd_config(&H, NODE_A);
	HD_CHECK(&H, hd_request(&H, "1 reload", reply, sizeof(reply)), "reload reply");
	HD_WAIT(&H, hd_node_names(&H, names, sizeof(names)) == 1, 10000, "b removed: %s", names);
	HD_CHECK(&H, hd_rec_count(&H, "fini", "b") == 1, "b's fini");
	HD_CHECK(&H, hd_status_num(&H, "reloads") == 2, "two reloads");
}
END_TEST

START_TEST(test_dropin_ini)
{
	struct ni n;

	start_a();
	/* A drop-in adds a node and overrides a's rate; later files win. */
	hd_dropin(&H, "10-c.ini",
		  "[node.c]\nplugin = testnode\nrate_hz = 25\nrecord = @REC@\n"
		  "[node.a]\nrate_hz = 10\n");
	hd_dropin(&H, "20-c.ini", "[node.c]\nrate_hz = 40\n");
	hd_dropin(&H, "ignored.txt", "[node.x]\nplugin = testnode\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "c", "running"), 10000, "c from the drop-in");
	HD_CHECK(&H, hd_node(&H, "c", &n) && n.rate_hz == 40, "later drop-in wins: %g", n.rate_hz);
	HD_WAIT(&H, hd_node(&H, "a", &n) && n.rate_hz == 10, 5000, "a overridden: %g", n.rate_hz);
	HD_CHECK(&H, !hd_node(&H, "x", &n), "only *.ini files are read");
	a_untouched();
}
END_TEST

START_TEST(test_disable_enable)
{
	start_a();
	hd_config(&H, NODE_A "enabled = false\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "a", "stopped"), 10000, "a disabled");
	HD_WAIT(&H, hd_rec_count(&H, "fini", "a") == 1, 5000, "a's fini");
	hd_config(&H, NODE_A "enabled = true\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "a", "running"), 10000, "a enabled");
	HD_WAIT(&H, hd_rec_count(&H, "init", "a") == 2, 5000, "a inited again");
	{
		uint64_t t0 = hd_ticks(&H, "a");

		HD_WAIT(&H, hd_ticks(&H, "a") > t0 + 10, 5000, "a ticks again");
	}
}
END_TEST

/* Changing a node's own parameters restarts it: fini, then init with the new values. */
START_TEST(test_param_change_restarts)
{
	struct ni n;

	start_a();
	hd_config(&H, NODE_A "fail_first = 1\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_rec_count(&H, "init", "a") == 2, 10000, "a re-inited");
	HD_CHECK(&H, hd_rec_count(&H, "fini", "a") == 1, "old instance finied");
	HD_WAIT(&H, hd_node(&H, "a", &n) && n.restarts == 1 && n.failures == 1, 5000,
		"new params used: restarts %llu failures %llu", (unsigned long long)n.restarts,
		(unsigned long long)n.failures);
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("sighup_adds_and_removes", test_sighup_adds_and_removes);
	ADD("rate_change_live", test_rate_change_live);
	ADD("rate_change_on_own_lane", test_rate_change_on_own_lane);
	ADD("reload_mid_tick_no_restart", test_reload_mid_tick_no_restart);
	ADD("bad_config", test_bad_config_keeps_running);
	ADD("plugin_dropped_in", test_plugin_dropped_in);
	ADD("socket_reload", test_socket_reload);
	ADD("plugin_replaced_on_disk", test_plugin_replaced_on_disk);
	ADD("reload_storm", test_reload_storm);
	ADD("dropin_ini", test_dropin_ini);
	ADD("disable_enable", test_disable_enable);
	ADD("param_change_restarts", test_param_change_restarts);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(reload_suite());
}
