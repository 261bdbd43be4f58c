/* SPDX-License-Identifier: MIT */
/*
 * Start-up of a real horusd: nodes come up running and tick at their rate; bad plugins in the
 * plugin directory are refused with the rule they broke while the good nodes run; a node whose
 * init fails (or never returns) does not hold the others back; a bad first config is refused.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct hd H;

static void setup(void)
{
	hd_init(&H);
}

static void teardown(void)
{
	hd_cleanup(&H);
}

START_TEST(test_nodes_run_at_rate)
{
	char names[256];
	struct ni n;
	double ratio_fast, ratio_slow, expected;
	uint64_t ticks, t0;

	hd_plugin(&H, "testnode", "testnode");
	hd_config(&H, "[node.fast]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n"
		      "[node.slow]\nplugin = testnode\nrate_hz = 20\nrecord = @REC@\n");
	hd_start(&H);

	HD_WAIT(&H, hd_state_is(&H, "fast", "running") && hd_state_is(&H, "slow", "running"), 10000,
		"both nodes running");
	/* The plugin is claimed by the sections: no extra node named after the file. */
	HD_CHECK(&H, hd_node_names(&H, names, sizeof(names)) == 2 && !strcmp(names, "fast,slow"),
		 "nodes listed: %s", names);
	HD_CHECK(&H, hd_node(&H, "fast", &n), "fast");
	HD_CHECK(&H,
		 n.rate_hz == 100 && !strcmp(n.plugin, "testnode") && !strcmp(n.circuit, "closed"),
		 "fast: rate %g plugin %s circuit %s", n.rate_hz, n.plugin, n.circuit);

	t0 = hd_ticks(&H, "fast");
	HD_WAIT(&H, hd_ticks(&H, "fast") > t0 + 5, 5000, "ticks increase");

	ratio_fast = hd_tick_ratio(&H, "fast", 2000, &ticks, &expected);
	fprintf(stderr, "fast: %llu ticks of %.1f expected (%.4f)\n", (unsigned long long)ticks,
		expected, ratio_fast);
	/* Never above the rate (no bursts); below it only as much as a busy machine costs. */
	HD_CHECK(&H, ratio_fast > 0.85 && ratio_fast < 1.02, "fast node ratio %.4f (%llu/%.1f)",
		 ratio_fast, (unsigned long long)ticks, expected);
	ratio_slow = hd_tick_ratio(&H, "slow", 2000, &ticks, &expected);
	fprintf(stderr, "slow: %llu ticks of %.1f expected (%.4f)\n", (unsigned long long)ticks,
		expected, ratio_slow);
	HD_CHECK(&H, ratio_slow > 0.85 && ratio_slow < 1.07, "slow node ratio %.4f (%llu/%.1f)",
		 ratio_slow, (unsigned long long)ticks, expected);

	/* actual_hz is the daemon's own figure over its last window. */
	HD_WAIT(&H, hd_node(&H, "fast", &n) && fabs(n.actual_hz - 100) < 10, 5000,
		"fast actual_hz %g", n.actual_hz);
	HD_WAIT(&H, hd_node(&H, "slow", &n) && fabs(n.actual_hz - 20) < 2, 5000,
		"slow actual_hz %g", n.actual_hz);
	HD_CHECK(&H, hd_rec_count(&H, "init", "fast") == 1 && hd_rec_count(&H, "init", "slow") == 1,
		 "each node inited once");
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "status pid");
}
END_TEST

/* A plugin file in plugin_dir with no section runs as a node named after the file. */
START_TEST(test_unclaimed_plugin_runs_with_defaults)
{
	struct ni n;

	hd_plugin(&H, "testnode", "lonely");
	hd_config(&H, "");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "lonely", "running"), 10000, "lonely running");
	HD_CHECK(&H, hd_node(&H, "lonely", &n), "lonely");
	/* The plugin's declared default rate (testnode: 100 Hz). */
	HD_CHECK(&H, n.rate_hz == 100, "default rate %g, the plugin declares 100", n.rate_hz);
	HD_WAIT(&H, hd_ticks(&H, "lonely") >= 20, 5000, "lonely ticks");
}
END_TEST

static void expect_refused(const char *file, const char *rule)
{
	char needle[HD_PATH * 2];
	struct ni n;
	char name[64];

	snprintf(needle, sizeof(needle), "%s/%s.so: %s", H.plugdir, file, rule);
	HD_WAIT(&H, hd_log_has(&H, needle), 5000, "log names %s.so and the rule '%s'", file, rule);
	/* Listed (if at all) as failed, never ticking. */
	snprintf(name, sizeof(name), "%s", file);
	if (hd_node(&H, name, &n)) {
		HD_CHECK(&H, !strcmp(n.state, "failed") && n.ticks == 0,
			 "refused plugin %s listed as %s with %llu ticks", file, n.state,
			 (unsigned long long)n.ticks);
	}
}

START_TEST(test_bad_plugins_refused_good_run)
{
	char link_path[HD_PATH + 16], target[HD_PATH + 16];

	hd_plugin(&H, "testnode", "testnode");
	hd_plugin(&H, "wrong_abi", "wrong_abi");
	hd_plugin(&H, "no_entry", "no_entry");
	hd_plugin_mode(&H, "testnode", "groupw", 0775);
	hd_plugin(&H, "testnode", "other");
	hd_plugin(&H, "testnode", "target");
	snprintf(link_path, sizeof(link_path), "%s/symlinked.so", H.plugdir);
	snprintf(target, sizeof(target), "%s/target.so", H.plugdir);
	HD_CHECK(&H, symlink(target, link_path) == 0, "symlink");
	if (geteuid() == 0) {
		char foreign[HD_PATH + 16];

		hd_plugin(&H, "testnode", "foreign");
		snprintf(foreign, sizeof(foreign), "%s/foreign.so", H.plugdir);
		HD_CHECK(&H, chown(foreign, 12345, 12345) == 0, "chown");
	}
	hd_config(&H, "[node.good]\nplugin = testnode\nrate_hz = 100\n"
		      "[node.good2]\nplugin = testnode\nrate_hz = 50\n");
	hd_start(&H);

	HD_WAIT(&H, hd_state_is(&H, "good", "running") && hd_state_is(&H, "good2", "running"),
		10000, "good nodes running");
	/* The file rules first, then the descriptor rules (which need dlopen). */
	expect_refused("groupw", "refused: the file is writable by group or others");
	expect_refused("symlinked", "refused: is a symbolic link");
	if (geteuid() == 0) {
		expect_refused("foreign", "refused: the file is owned by uid 12345");
	}
	expect_refused("wrong_abi", "refused: plugin ABI");
	expect_refused("no_entry", "refused: exports no");
	/* A good drop-in beside the bad ones runs too (named after its file). */
	HD_WAIT(&H, hd_state_is(&H, "other", "running"), 5000, "other running");
	HD_WAIT(&H, hd_ticks(&H, "good") > 50 && hd_ticks(&H, "good2") > 25, 5000,
		"good nodes tick");
	HD_CHECK(&H, hd_alive(&H), "daemon alive");
}
END_TEST

/* The same bad plugins with no good plugin loaded before them. */
START_TEST(test_bad_plugins_alone)
{
	hd_plugin(&H, "wrong_abi", "wrong_abi");
	hd_plugin(&H, "no_entry", "no_entry");
	hd_config(&H, "");
	hd_start(&H);
	expect_refused("wrong_abi", "refused: plugin ABI");
	expect_refused("no_entry", "refused: exports no");
	HD_CHECK(&H, hd_alive(&H), "daemon alive");
}
END_TEST

/*
 * Two different good plugins: each node runs its own plugin's code. sevennode declares 7 Hz
 * and fails every tick with ENOTSUP; testnode declares 100 Hz and succeeds.
 */
START_TEST(test_each_plugin_runs_its_own_code)
{
	struct ni t, s7;

	hd_plugin(&H, "testnode", "testnode");
	hd_plugin(&H, "sevennode", "sevennode");
	hd_config(&H, "[node.t]\nplugin = testnode\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "t", "running") && hd_node(&H, "sevennode", &s7), 10000,
		"both nodes listed");
	HD_WAIT(&H, hd_node(&H, "sevennode", &s7) && s7.ticks + s7.skipped >= 5, 10000,
		"sevennode ticked");
	HD_CHECK(&H, hd_node(&H, "t", &t), "t");
	HD_CHECK(&H, t.rate_hz == 100 && t.failures == 0, "t: rate %g failures %llu", t.rate_hz,
		 (unsigned long long)t.failures);
	HD_CHECK(&H, s7.rate_hz == 7 && s7.failures > 0,
		 "node sevennode runs another plugin's code: rate %g (its plugin declares 7), "
		 "%llu failures (its every tick fails)",
		 s7.rate_hz, (unsigned long long)s7.failures);
}
END_TEST

START_TEST(test_init_fail_is_failed)
{
	struct ni n;

	hd_plugin(&H, "testnode", "testnode");
	hd_config(&H, "[node.bad]\nplugin = testnode\ninit_fail = 5\nrecord = @REC@\n"
		      "[node.good]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "good", "running"), 10000, "good running");
	HD_WAIT(&H, hd_state_is(&H, "bad", "failed"), 5000, "bad failed");
	HD_WAIT(&H, hd_log_has(&H, "node bad: init failed"), 5000, "init failure logged");
	HD_WAIT(&H, hd_ticks(&H, "good") > 50, 5000, "good ticks");
	HD_CHECK(&H, hd_node(&H, "bad", &n) && n.ticks == 0, "bad never ticks");
	HD_CHECK(&H, hd_rec_count(&H, "init", "bad") == 0 && hd_rec_count(&H, "init", "good") == 1,
		 "records");
	/* Still failed a while later: no watchdog restarts a node that never started. */
	HD_WAIT(&H, hd_node(&H, "bad", &n) && n.watchdog_trips == 0 && !strcmp(n.state, "failed"),
		100, "bad stays failed");
}
END_TEST

/* An init that never returns holds nothing back: the nodes after it start and tick. */
START_TEST(test_hung_init_contained)
{
	struct ni n;

	hd_plugin(&H, "testnode", "testnode");
	hd_config(&H, "[node.stuck]\nplugin = testnode\nhang_init = 1\nwatchdog_ms = 300\n"
		      "on_watchdog = stop\n"
		      "[node.after]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n");
	hd_start(&H);
	HD_WAIT(&H, hd_node(&H, "stuck", &n) && n.watchdog_trips >= 1, 10000,
		"stuck's watchdog trips");
	HD_WAIT(&H, hd_state_is(&H, "after", "running"), 10000,
		"the node configured after the hung one runs");
	HD_WAIT(&H, hd_ticks(&H, "after") > 50, 5000, "after ticks");
}
END_TEST

START_TEST(test_bad_first_config_exit_78)
{
	int st;

	hd_plugin(&H, "testnode", "testnode");
	hd_config2(&H, "bogus = 1\n", "[node.a]\nplugin = testnode\nrate_hz = fast\n");
	hd_spawn(&H);
	st = hd_stop(&H, 0, 10000); /* signal 0: just wait for it to exit */
	HD_CHECK(&H, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 78,
		 "exit status 0x%x, expected 78", st);
	/* Both errors, each as FILE:LINE: [section] key: problem. */
	{
		char needle[HD_PATH + 64];

		snprintf(needle, sizeof(needle), "%s:6: [daemon] bogus: unknown key", H.conf);
		HD_CHECK(&H, hd_log_has(&H, needle), "log has '%s'", needle);
		snprintf(needle, sizeof(needle), "%s:10: [node.a] rate_hz: 'fast'", H.conf);
		HD_CHECK(&H, hd_log_has(&H, needle), "log has '%s'", needle);
	}
	HD_CHECK(&H, access(H.sock, F_OK) != 0, "no control socket left behind");
}
END_TEST

/* Under journald (JOURNAL_STREAM names stderr) every line carries a <N> priority prefix. */
START_TEST(test_journal_prefixes)
{
	char *log, *save = NULL;
	FILE *f;
	size_t len;
	int lines = 0;
	bool err_seen = false, info_seen = false;

	H.journal = true;
	hd_plugin(&H, "testnode", "testnode");
	hd_plugin_mode(&H, "testnode", "groupw", 0775);
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "a", "running"), 10000, "a running");
	HD_WAIT(&H, hd_log_has(&H, "groupw.so"), 5000, "refusal logged");
	f = fopen(H.log, "re");
	HD_CHECK(&H, f != NULL, "log");
	log = calloc(1, 1 << 20);
	len = fread(log, 1, (1 << 20) - 1, f);
	fclose(f);
	log[len] = '\0';
	for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		HD_CHECK(&H, l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>',
			 "line without a <N> prefix: %s", l);
		err_seen |= !strncmp(l, "<3>", 3) && strstr(l, "groupw.so");
		info_seen |= !strncmp(l, "<6>", 3) && strstr(l, "node a: started");
		lines++;
	}
	free(log);
	HD_CHECK(&H, err_seen && info_seen, "<3> for the refusal, <6> for the start (%d lines)",
		 lines);
}
END_TEST

static Suite *startup_suite(void)
{
	Suite *s = suite_create("startup");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("nodes_run_at_rate", test_nodes_run_at_rate);
	ADD("unclaimed_plugin", test_unclaimed_plugin_runs_with_defaults);
	ADD("bad_plugins", test_bad_plugins_refused_good_run);
	ADD("bad_plugins_alone", test_bad_plugins_alone);
	ADD("own_code", test_each_plugin_runs_its_own_code);
	ADD("init_fail", test_init_fail_is_failed);
	ADD("hung_init", test_hung_init_contained);
	ADD("bad_first_config", test_bad_first_config_exit_78);
	ADD("journal_prefixes", test_journal_prefixes);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(startup_suite());
}
