/* SPDX-License-Identifier: MIT */
/*
 * Shutdown of a real horusd: SIGTERM and SIGINT stop ticking, fini every node, remove the
 * namespace's shared-memory segments and the control socket, and exit 0 — also while a tick
 * hangs. Stale segments of the namespace are cleaned at start-up.
 */

#include <fcntl.h>
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

#define THREE                                                                                      \
	"[node.a]\nplugin = testnode\nrate_hz = 100\ntopic = it/a\nrecord = @REC@\n"               \
	"[node.b]\nplugin = testnode\nrate_hz = 50\ntopic = it/b\nrecord = @REC@\n"                \
	"[node.c]\nplugin = testnode\nrate_hz = 10\nrecord = @REC@\n"

static void stop_and_check(int sig, const char *signame)
{
	int st;

	hd_config(&H, THREE);
	hd_start(&H);
	HD_WAIT(&H,
		hd_state_is(&H, "a", "running") && hd_state_is(&H, "b", "running") &&
		    hd_state_is(&H, "c", "running"),
		10000, "running");
	HD_WAIT(&H, hd_shm_count(&H) >= 2, 5000, "the topics' segments exist (%d)",
		hd_shm_count(&H));
	HD_CHECK(&H, access(H.sock, F_OK) == 0, "socket exists");

	st = hd_stop(&H, sig, 15000);
	HD_CHECK(&H, st != -1, "horusd did not exit within 15 s of %s", signame);
	HD_CHECK(&H, WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status 0x%x", signame, st);
	HD_CHECK(&H,
		 hd_rec_count(&H, "fini", "a") == 1 && hd_rec_count(&H, "fini", "b") == 1 &&
		     hd_rec_count(&H, "fini", "c") == 1,
		 "fini recorded for every node once");
	HD_CHECK(&H, hd_shm_count(&H) == 0, "%d segments of namespace %s left in /dev/shm",
		 hd_shm_count(&H), H.ns);
	HD_CHECK(&H, access(H.sock, F_OK) != 0, "control socket %s left behind", H.sock);
}

START_TEST(test_sigterm)
{
	stop_and_check(SIGTERM, "SIGTERM");
}
END_TEST

START_TEST(test_sigint)
{
	stop_and_check(SIGINT, "SIGINT");
}
END_TEST

START_TEST(test_sigterm_while_hung)
{
	uint64_t t0;
	int st;

	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 10\n"
		      "watchdog_ms = 300\non_watchdog = warn\ntopic = it/h\nrecord = @REC@\n"
		      "[node.a]\nplugin = testnode\nrate_hz = 100\ntopic = it/a\nrecord = @REC@\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "h", "hung"), 10000, "h hung");
	t0 = mono_ms();
	st = hd_stop(&H, SIGTERM, 20000);
	HD_CHECK(&H, st != -1, "horusd did not exit within 20 s of SIGTERM with a hung tick");
	fprintf(stderr, "SIGTERM with a hung tick: exit after %llu ms, status 0x%x\n",
		(unsigned long long)(mono_ms() - t0), st);
	HD_CHECK(&H, WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
	HD_CHECK(&H, hd_rec_count(&H, "fini", "a") == 1, "a's fini");
	HD_CHECK(&H, access(H.sock, F_OK) != 0, "socket removed");
	/* a's segment goes; h's is still held by the stuck instance until the process ends. */
	HD_CHECK(&H, hd_shm_count(&H) == 0, "%d segments left", hd_shm_count(&H));
}
END_TEST

/*
 * on_watchdog = restart with a tick that hangs again: two instances of h end up stuck, both
 * holding h's topic. At SIGTERM neither can close its handle; the topic is still only the
 * daemon's and must not outlive it.
 */
START_TEST(test_sigterm_two_stuck_instances)
{
	struct ni n;
	int st;

	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 10\n"
		      "watchdog_ms = 200\non_watchdog = restart\ntopic = it/h\nrecord = @REC@\n"
		      "[node.a]\nplugin = testnode\nrate_hz = 100\ntopic = it/a\n");
	hd_start(&H);
	/* First instance hangs, is restarted; the second hangs too and is left hung. */
	HD_WAIT(&H, hd_node(&H, "h", &n) && n.restarts >= 1 && n.watchdog_trips >= 2, 10000,
		"two instances of h hung");
	HD_WAIT(&H, hd_status_num(&H, "stuck") >= 2, 5000, "two stuck threads");
	st = hd_stop(&H, SIGTERM, 20000);
	HD_CHECK(&H, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
	HD_CHECK(&H, hd_shm_count(&H) == 0,
		 "%d segments of namespace %s left (h's topic, held only by its two stuck "
		 "instances)",
		 hd_shm_count(&H), H.ns);
}
END_TEST

/*
 * A reload replaces a hung node (here: new parameters, a new topic); the abandoned instance
 * stays stuck holding its old topic. At SIGTERM that topic must go too.
 */
START_TEST(test_sigterm_after_reload_replaced_hung_node)
{
	int st;

	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 10\n"
		      "watchdog_ms = 200\non_watchdog = warn\ntopic = it/old\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "h", "hung"), 10000, "h hung");
	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\ntopic = it/new\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, hd_state_is(&H, "h", "running") && hd_ticks(&H, "h") > 20, 10000,
		"the new h runs");
	HD_CHECK(&H, hd_shm_count(&H) == 2, "old and new topic: %d segments", hd_shm_count(&H));
	st = hd_stop(&H, SIGTERM, 20000);
	HD_CHECK(&H, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
	HD_CHECK(&H, hd_shm_count(&H) == 0,
		 "%d segments of namespace %s left (the old topic, held only by the instance "
		 "the reload abandoned)",
		 hd_shm_count(&H), H.ns);
}
END_TEST

/* Segments of the namespace that no live process holds are removed at start-up. */
START_TEST(test_stale_segments_cleaned)
{
	char path[256];
	int fd;

	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\ntopic = it/a\n");
	hd_start(&H);
	HD_WAIT(&H, hd_shm_count(&H) >= 1, 10000, "segment exists");
	/* A crash: SIGKILL leaves the segment behind. */
	kill(H.pid, SIGKILL);
	waitpid(H.pid, &H.status, 0);
	H.reaped = true;
	HD_CHECK(&H, hd_shm_count(&H) >= 1, "segment left by the crash");
	/* Plus a piece of junk under the namespace's prefix. */
	snprintf(path, sizeof(path), "/dev/shm/horus.%s.hub.junk", H.ns);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	HD_CHECK(&H, fd >= 0, "create junk");
	close(fd);

	hd_config(&H, "[node.z]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "z", "running"), 10000, "restarted daemon running");
	HD_CHECK(&H, hd_shm_count(&H) == 0, "%d stale segments left after start-up",
		 hd_shm_count(&H));
	HD_CHECK(&H, hd_log_has(&H, "stale segments"), "cleaning logged");
}
END_TEST

static Suite *shutdown_suite(void)
{
	Suite *s = suite_create("shutdown");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("sigterm", test_sigterm);
	ADD("sigint", test_sigint);
	ADD("sigterm_while_hung", test_sigterm_while_hung);
	ADD("stale_segments", test_stale_segments_cleaned);
	ADD("sigterm_two_stuck_instances", test_sigterm_two_stuck_instances);
	ADD("sigterm_after_reload_replaced_hung", test_sigterm_after_reload_replaced_hung_node);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(shutdown_suite());
}
