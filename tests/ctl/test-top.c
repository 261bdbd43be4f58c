/* SPDX-License-Identifier: MIT */
/*
 * horusctl top in a real terminal: tmux (a private server, -L) runs it at 160x40 against a real
 * horusd; the screen is read with capture-pane and polled, with a bound, until what is expected
 * shows. Checks the node rows, a stopped node shown as stopped, a sort key, the daemon going
 * away ("daemon not answering") and coming back, and that 'q' quits with exit status 0.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../integration/harness.h"
#include "ctl-run.h"

static struct hd H;
static struct run R;
static char server[64]; /* tmux -L name */
static char exit_file[HD_PATH + 16];

static void tmux(const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *argv[] = {"tmux", "-L", server, a1, a2, a3, a4, NULL};

	run_argv(&R, argv);
}

static void setup(void)
{
	unsetenv("HORUS_NAMESPACE");
	hd_init(&H);
	hd_plugin(&H, "testnode", "testnode");
	/* Deadlines far beyond any stall of a loaded machine: the nodes stay "running". */
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\ndeadline_ms = 2000\n"
		      "[node.b]\nplugin = testnode\nrate_hz = 50\ndeadline_ms = 2000\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "a", "running") && hd_state_is(&H, "b", "running"), 10000,
		"nodes running");
	snprintf(server, sizeof(server), "horusctl-top-%d", (int)getpid());
	snprintf(exit_file, sizeof(exit_file), "%s/top.exit", H.dir);
}

static void teardown(void)
{
	const char *argv[] = {"tmux", "-L", server, "kill-server", NULL};

	run_argv(&R, argv);
	hd_cleanup(&H);
}

/* The screen now. */
static const char *screen(void)
{
	tmux("capture-pane", "-p", "-t", "top");
	return R.out;
}

static bool shows(const char *const needles[])
{
	return lines_with(screen(), needles) > 0;
}

static bool exited_ok(void)
{
	FILE *f = fopen(exit_file, "r");
	char line[32] = "";

	if (f) {
		if (!fgets(line, sizeof(line), f)) {
			line[0] = '\0';
		}
		fclose(f);
	}
	return !strcmp(line, "EXIT=0\n");
}

#define SHOWS(...) shows((const char *const[]){__VA_ARGS__, NULL})
#define WAIT_SCREEN(what, ...)                                                                     \
	HD_WAIT(&H, SHOWS(__VA_ARGS__), 20000, "screen never showed %s:\n%s", what, R.out)

START_TEST(test_top_in_tmux)
{
	char cmd[3 * HD_PATH];
	const char *ctl = getenv("HORUSCTL");
	char reply[HD_REPLY_MAX];

	ck_assert_msg(ctl != NULL, "HORUSCTL not set (run through meson test)");
	snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' top -d 0.2; echo EXIT=$? > '%s'", ctl,
		 H.sock, exit_file);
	{
		const char *argv[] = {"tmux", "-L", server, "-f", "/dev/null", "new-session",
				      "-d",   "-s", "top",  "-x", "160",       "-y",
				      "40",   "sh", "-c",   cmd,  NULL};

		run_argv(&R, argv);
		HD_CHECK(&H, R.status == 0, "tmux new-session: %d %s", R.status, R.err);
	}
	WAIT_SCREEN("the header", "NAME", "STATE", "TICK P99", "MISSES", "BREAKER");
	WAIT_SCREEN("node a running", "a ", "running", "100 Hz", "closed");
	WAIT_SCREEN("node b running", "b ", "running", "50 Hz");
	HD_CHECK(&H, SHOWS("sort: name"), "%s", R.out);

	/* A stopped node shows as stopped. */
	HD_CHECK(&H,
		 hd_request(&H, "1 node stop b", reply, sizeof(reply)) &&
		     strstr(reply, "\"ok\": true"),
		 "stop b: %s", reply);
	WAIT_SCREEN("node b stopped", "b ", "stopped");
	/* ... in red (SGR 31), while the running node a is not. */
	{
		const char *argv[] = {"tmux", "-L",  server, "capture-pane", "-p", "-e",
				      "-t",   "top", NULL};

		run_argv(&R, argv);
		HD_CHECK(&H,
			 lines_with(R.out, (const char *const[]){"\033[31m", "stopped", NULL}) == 1,
			 "stopped row not red:\n%s", R.out);
		HD_CHECK(&H,
			 lines_with(R.out, (const char *const[]){"\033[31m", "100 Hz", NULL}) == 0,
			 "running row red:\n%s", R.out);
	}

	/* A sort key is answered. */
	tmux("send-keys", "-t", "top", "p");
	WAIT_SCREEN("sort by p99", "sort: p99");

	/* The daemon goes away, and comes back. */
	HD_CHECK(&H, hd_stop(&H, SIGTERM, 20000) >= 0, "horusd did not stop");
	WAIT_SCREEN("no daemon", "daemon not answering on", H.sock);
	hd_start(&H);
	WAIT_SCREEN("node a back", "a ", "running", "100 Hz");

	tmux("send-keys", "-t", "top", "q");
	HD_WAIT(&H, exited_ok(), 20000, "top did not exit 0 after 'q' (%s)", exit_file);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl-top");
	TCase *tc = tcase_create("top");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_top_in_tmux);
	suite_add_tcase(s, tc);
	return hd_run_suite(s);
}
