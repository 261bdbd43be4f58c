/* SPDX-License-Identifier: MIT */
/*
 * systemd notification from a real horusd: NOTIFY_SOCKET points at our own datagram socket.
 * READY=1 comes once the nodes are up, with STATUS= lines; a reload is framed by RELOADING=1
 * and READY=1 (also when the new config is refused); SIGTERM brings STOPPING=1.
 */

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
	hd_notify_open(&H);
}

static void teardown(void)
{
	hd_cleanup(&H);
}

/* Does a datagram (of possibly several lines) carry the assignment `line`? */
static bool has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0')) {
			return true;
		}
	}
	return false;
}

static bool has_prefix_line(const char *msg, const char *prefix)
{
	for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, prefix, strlen(prefix))) {
			return true;
		}
	}
	return false;
}

/* Waits up to timeout_ms for a datagram with `line`; collects STATUS= into *status. */
static bool wait_for(const char *line, int timeout_ms, char *seen, size_t seen_size, int *n_status)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	char msg[4096];

	while (mono_ms() < end) {
		if (!hd_notify_recv(&H, msg, sizeof(msg), 50)) {
			continue;
		}
		if (seen && strlen(seen) + strlen(msg) + 4 < seen_size) {
			strcat(seen, msg);
			strcat(seen, " | ");
		}
		if (n_status && has_prefix_line(msg, "STATUS=")) {
			(*n_status)++;
		}
		if (has_line(msg, line)) {
			return true;
		}
	}
	return false;
}

#define CONF_AB                                                                                    \
	"[node.a]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n"                             \
	"[node.b]\nplugin = testnode\nrate_hz = 50\nrecord = @REC@\n"

START_TEST(test_notify_lifecycle)
{
	static char seen[65536];
	int n_status = 0, st;
	struct ni n;

	hd_config(&H, CONF_AB);
	hd_spawn(&H);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), &n_status),
		 "no READY=1 within 10 s; got: %s", seen);
	/* Ready means the nodes are up: both initialised and running right now. */
	HD_CHECK(&H, hd_rec_count(&H, "init", "a") == 1 && hd_rec_count(&H, "init", "b") == 1,
		 "READY=1 before the nodes' init");
	HD_CHECK(&H, hd_node(&H, "a", &n) && !strcmp(n.state, "running"), "a %s at READY", n.state);
	HD_CHECK(&H, hd_node(&H, "b", &n) && !strcmp(n.state, "running"), "b %s at READY", n.state);
	HD_CHECK(&H, !strstr(seen, "STOPPING=1") && !strstr(seen, "RELOADING=1"), "unexpected: %s",
		 seen);
	/* A STATUS= line follows (or comes with) READY. */
	if (n_status == 0) {
		(void)wait_for("STATUS=__never__", 2000, seen, sizeof(seen), &n_status);
		HD_CHECK(&H, n_status > 0, "no STATUS= line; got: %s", seen);
	}
	fprintf(stderr, "start-up notifications: %s\n", seen);

	/* Reload: RELOADING=1 first, then READY=1 once applied. */
	seen[0] = '\0';
	hd_config(&H, CONF_AB "[node.c]\nplugin = testnode\nrate_hz = 20\nrecord = @REC@\n");
	hd_signal(&H, SIGHUP);
	HD_CHECK(&H, wait_for("RELOADING=1", 10000, seen, sizeof(seen), NULL),
		 "no RELOADING=1 after SIGHUP; got: %s", seen);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL),
		 "no READY=1 after RELOADING=1; got: %s", seen);
	HD_CHECK(&H, hd_rec_count(&H, "init", "c") == 1, "READY=1 after the reload applied");
	fprintf(stderr, "reload notifications: %s\n", seen);

	/* A refused reload still ends with READY=1 (systemd would otherwise wait forever). */
	seen[0] = '\0';
	hd_config2(&H, "bogus = 1\n", CONF_AB);
	hd_signal(&H, SIGHUP);
	HD_CHECK(&H, wait_for("RELOADING=1", 10000, seen, sizeof(seen), NULL),
		 "no RELOADING=1; got: %s", seen);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL),
		 "no READY=1 after a refused reload; got: %s", seen);
	fprintf(stderr, "refused reload notifications: %s\n", seen);

	/* Over the socket, the same. */
	seen[0] = '\0';
	hd_config(&H, CONF_AB);
	HD_CHECK(&H, hd_request(&H, "1 reload", (char[HD_REPLY_MAX]){0}, HD_REPLY_MAX),
		 "reload reply");
	HD_CHECK(&H,
		 wait_for("RELOADING=1", 10000, seen, sizeof(seen), NULL) &&
		     wait_for("READY=1", 10000, seen, sizeof(seen), NULL),
		 "socket reload: %s", seen);

	seen[0] = '\0';
	hd_signal(&H, SIGTERM);
	HD_CHECK(&H, wait_for("STOPPING=1", 10000, seen, sizeof(seen), NULL),
		 "no STOPPING=1 after SIGTERM; got: %s", seen);
	st = hd_stop(&H, 0, 15000);
	HD_CHECK(&H, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit 0x%x", st);
	fprintf(stderr, "shutdown notifications: %s\n", seen);
}
END_TEST

/* No READY=1 before a slow node's init is over. */
START_TEST(test_ready_after_slow_start)
{
	char seen[8192] = "";

	/* b's init fails, which is no reason to hold READY back; a's ticks take 100 ms. */
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 5\nsleep_us = 100000\n"
		      "record = @REC@\n"
		      "[node.b]\nplugin = testnode\nrate_hz = 5\ninit_fail = 5\nrecord = @REC@\n"
		      "[node.c]\nplugin = testnode\nrate_hz = 5\nrecord = @REC@\n");
	hd_spawn(&H);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL), "no READY=1: %s", seen);
	HD_CHECK(&H, hd_rec_count(&H, "init", "a") == 1 && hd_rec_count(&H, "init", "c") == 1,
		 "READY=1 before init of every good node");
	HD_CHECK(&H, hd_state_is(&H, "b", "failed"), "b failed");
}
END_TEST

/*
 * A node whose init never returns must not keep READY=1 from systemd: under Type=notify the
 * unit would time out and be killed, taking every healthy node with it.
 */
START_TEST(test_ready_despite_hung_init)
{
	char seen[8192] = "";

	hd_config(&H, "[node.stuck]\nplugin = testnode\nhang_init = 1\nwatchdog_ms = 300\n"
		      "on_watchdog = stop\n"
		      "[node.good]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n");
	hd_spawn(&H);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL),
		 "no READY=1 within 10 s while one node's init hangs; got: %s", seen);
	HD_CHECK(&H, hd_rec_count(&H, "init", "good") == 1, "good inited at READY");
}
END_TEST

/* Counts WATCHDOG=1 datagrams over ms milliseconds. */
static int count_pings(int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;
	char msg[4096];
	int n = 0;

	while (mono_ms() < end) {
		int left = (int)(end - mono_ms());

		if (hd_notify_recv(&H, msg, sizeof(msg), left > 0 ? left : 0) &&
		    has_line(msg, "WATCHDOG=1")) {
			n++;
		}
	}
	return n;
}

/*
 * WatchdogSec: with WATCHDOG_USEC = 200 ms the daemon pings about every 100 ms while healthy,
 * also while one node's tick hangs (that is contained); once the scheduler cannot hand over
 * any more (every spare thread stuck), the pings stop so that systemd restarts it.
 */
START_TEST(test_watchdog_pings)
{
	char seen[8192] = "";
	int pings;

	H.watchdog_usec = 200000;
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\n"
		      "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 50\n"
		      "watchdog_ms = 300\non_watchdog = warn\n");
	hd_spawn(&H);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL), "READY: %s", seen);
	pings = count_pings(1000);
	fprintf(stderr, "healthy: %d WATCHDOG=1 in 1 s (WATCHDOG_USEC 200 ms)\n", pings);
	HD_CHECK(&H, pings >= 5 && pings <= 20, "%d pings in 1 s", pings);
	HD_WAIT(&H, hd_state_is(&H, "h", "hung"), 10000, "h hung");
	pings = count_pings(1000);
	fprintf(stderr, "one tick hung: %d WATCHDOG=1 in 1 s\n", pings);
	HD_CHECK(&H, pings >= 5, "a contained hang stopped the pings (%d in 1 s)", pings);
}
END_TEST

/*
 * The systemd watchdog is the last resort: 70 nodes hang at once (on_watchdog = warn), more
 * than the 64 threads the daemon hands over to. Once nothing ticks any more, the pings stop, so
 * that systemd restarts the daemon.
 */
START_TEST(test_watchdog_pings_stop_when_stalled)
{
	char seen[8192] = "", *body = malloc(70 * 128 + 128);
	size_t len = 0;
	bool stalled = false;
	int pings = -1;
	uint64_t end;

	H.watchdog_usec = 200000;
	len += (size_t)sprintf(body + len, "[node.a]\nplugin = testnode\nrate_hz = 100\n");
	for (int i = 0; i < 70; i++) {
		len +=
		    (size_t)sprintf(body + len,
				    "[node.h%02d]\nplugin = testnode\nrate_hz = 50\nhang_at = %d\n"
				    "watchdog_ms = 100\non_watchdog = warn\n",
				    i, 20 + i);
	}
	hd_config(&H, body);
	free(body);
	hd_spawn(&H);
	HD_CHECK(&H, wait_for("READY=1", 10000, seen, sizeof(seen), NULL), "READY: %s", seen);
	end = mono_ms() + 20000;
	while (mono_ms() < end && !stalled) {
		uint64_t t0 = hd_ticks(&H, "a");

		(void)count_pings(300);
		stalled = hd_ticks(&H, "a") == t0;
	}
	HD_CHECK(&H, stalled, "70 hung nodes and still ticking: %g stuck threads",
		 hd_status_num(&H, "stuck"));
	pings = count_pings(1000);
	fprintf(stderr, "scheduler stalled (%g stuck threads): %d WATCHDOG=1 in 1 s\n",
		hd_status_num(&H, "stuck"), pings);
	HD_CHECK(&H, pings == 0, "%d pings in 1 s while no node ticks", pings);
}
END_TEST

static Suite *notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("lifecycle", test_notify_lifecycle);
	ADD("ready_after_slow_start", test_ready_after_slow_start);
	ADD("ready_despite_hung_init", test_ready_despite_hung_init);
	ADD("watchdog_pings", test_watchdog_pings);
	ADD("watchdog_pings_stop_when_stalled", test_watchdog_pings_stop_when_stalled);
#undef ADD
	return s;
}

int main(void)
{
	return hd_run_suite(notify_suite());
}
