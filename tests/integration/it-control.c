/* SPDX-License-Identifier: MIT */
/*
 * The control socket of a real horusd, protocol v1: node stop/start/restart, unknown nodes,
 * malformed and oversized requests, many clients at once, idle clients, and answers while a
 * tick hangs. Every reply must be one JSON object with "schema": 1.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

#define TWO_NODES                                                                                  \
	"[node.a]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n"                             \
	"[node.b]\nplugin = testnode\nrate_hz = 100\nrecord = @REC@\n"

static void start_two(void)
{
	hd_config(&H, TWO_NODES);
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "a", "running") && hd_state_is(&H, "b", "running"), 10000,
		"running");
}

static void expect_ok(const char *req)
{
	char reply[HD_REPLY_MAX];

	HD_CHECK(&H, hd_request(&H, req, reply, sizeof(reply)), "no reply to '%s'", req);
	HD_CHECK(&H, strstr(reply, "\"ok\": true") && !strstr(reply, "\"error\""), "'%s' -> %s",
		 req, reply);
}

static void expect_error(const char *req, const char *text)
{
	char reply[HD_REPLY_MAX], msg[512];

	HD_CHECK(&H, hd_request(&H, req, reply, sizeof(reply)), "no reply to '%s'", req);
	HD_CHECK(&H, json_str_field(reply, "error", msg, sizeof(msg)), "'%s' -> %s (no error)", req,
		 reply);
	HD_CHECK(&H, !text || strstr(msg, text), "'%s' -> error '%s', expected '%s'", req, msg,
		 text);
}

START_TEST(test_node_stop_start_restart)
{
	struct ni n, m;
	uint64_t t0;

	start_two();
	expect_ok("1 node stop a");
	HD_CHECK(&H, hd_node(&H, "a", &n) && !strcmp(n.state, "stopped"), "a %s", n.state);
	HD_CHECK(&H, hd_rec_count(&H, "fini", "a") == 1, "fini at stop");
	/* Stopped means not ticking, and no watchdog fires on it. */
	t0 = hd_ticks(&H, "b");
	HD_WAIT(&H, hd_ticks(&H, "b") > t0 + 150, 5000, "b ticks on");
	HD_CHECK(&H,
		 hd_node(&H, "a", &m) && m.ticks == n.ticks && m.watchdog_trips == 0 &&
		     !strcmp(m.state, "stopped"),
		 "a: ticks %llu -> %llu, trips %llu, %s", (unsigned long long)n.ticks,
		 (unsigned long long)m.ticks, (unsigned long long)m.watchdog_trips, m.state);
	expect_ok("1 node stop a"); /* stopping a stopped node is harmless */
	HD_CHECK(&H, hd_rec_count(&H, "fini", "a") == 1, "no second fini");

	expect_ok("1 node start a");
	HD_CHECK(&H, hd_state_is(&H, "a", "running"), "a running after start");
	HD_CHECK(&H, hd_rec_count(&H, "init", "a") == 2, "init at start");
	HD_WAIT(&H, hd_ticks(&H, "a") > n.ticks + 10, 5000, "a ticks again");
	expect_error("1 node start a", NULL); /* already running */

	HD_CHECK(&H, hd_node(&H, "a", &n), "a");
	expect_ok("1 node restart a");
	HD_CHECK(
	    &H, hd_node(&H, "a", &m) && !strcmp(m.state, "running") && m.restarts == n.restarts + 1,
	    "restart: %s, restarts %llu -> %llu", m.state, (unsigned long long)n.restarts,
	    (unsigned long long)m.restarts);
	HD_CHECK(&H, hd_rec_count(&H, "init", "a") == 3 && hd_rec_count(&H, "fini", "a") == 2,
		 "restart = fini + init");
	HD_CHECK(&H, hd_rec_count(&H, "init", "b") == 1 && hd_rec_count(&H, "fini", "b") == 0,
		 "b untouched");
	/* An operator's stop lasts across a reload that does not change the node. */
	expect_ok("1 node stop b");
	expect_ok("1 reload");
	HD_WAIT(&H, hd_status_num(&H, "reloads") == 1, 5000, "reloaded");
	HD_CHECK(&H, hd_node(&H, "b", &n), "b");
	fprintf(stderr, "after 'node stop b' and a reload, b is %s\n", n.state);
}
END_TEST

START_TEST(test_unknown_node)
{
	start_two();
	expect_error("1 node info nosuch", "nosuch");
	expect_error("1 node stop nosuch", "no such node");
	expect_error("1 node start nosuch", "no such node");
	expect_error("1 node restart nosuch", "no such node");
	/* Names are echoed back escaped: the reply stays valid JSON. */
	expect_error("1 node info a\"b\\c\x01", NULL);
	HD_CHECK(&H, hd_state_is(&H, "a", "running"), "a unaffected");
}
END_TEST

START_TEST(test_malformed_requests)
{
	static const char *const bad[] = {
	    "",
	    "   ",
	    "1",
	    "2 status",
	    "status",
	    "1 bogus",
	    "1 node",
	    "1 node list extra",
	    "1 node info",
	    "1 node frobnicate a",
	    "1 status please now or never",
	    "1 node stop a b",
	    "\x01\x02\x03",
	    "1\tnode\tlist\textra",
	    "{\"schema\": 1}",
	};

	start_two();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_error(bad[i], NULL);
	}
	expect_ok("1 node stop a");
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "still answering");

	/* Several requests on one connection are answered in order. */
	{
		int fd = hd_connect(&H);
		char reply[HD_REPLY_MAX];
		const char *reqs = "1 status\n1 bogus\n1 node info b\n";

		HD_CHECK(&H, fd >= 0, "connect");
		HD_CHECK(&H, write(fd, reqs, strlen(reqs)) == (ssize_t)strlen(reqs), "write");
		HD_CHECK(&H,
			 hd_read_line(fd, reply, sizeof(reply), 5000) > 0 &&
			     strstr(reply, "\"pid\""),
			 "1st: %s", reply);
		HD_CHECK(&H,
			 hd_read_line(fd, reply, sizeof(reply), 5000) > 0 &&
			     strstr(reply, "\"error\""),
			 "2nd: %s", reply);
		HD_CHECK(&H,
			 hd_read_line(fd, reply, sizeof(reply), 5000) > 0 &&
			     strstr(reply, "\"name\": \"b\""),
			 "3rd: %s", reply);
		close(fd);
	}
}
END_TEST

/* Sends len bytes of junk (optionally with a newline); the reply, if any, must be an error. */
static void oversized(size_t len, bool newline, const char *what)
{
	char *buf = malloc(len + 1), reply[HD_REPLY_MAX];
	size_t off = 0;
	ssize_t n;
	int fd = hd_connect(&H);

	HD_CHECK(&H, buf && fd >= 0, "connect");
	memcpy(buf, "1 node info ", 12);
	memset(buf + 12, 'x', len - 12);
	if (newline) {
		buf[len - 1] = '\n';
	}
	/* The daemon may close on us half-way: that is a fine answer too. */
	while (off < len && (n = send(fd, buf + off, len - off, MSG_NOSIGNAL)) > 0) {
		off += (size_t)n;
	}
	n = hd_read_line(fd, reply, sizeof(reply), 2000);
	if (n > 0) {
		HD_CHECK(&H, json_valid(reply) && strstr(reply, "\"error\""), "%s: reply %.200s",
			 what, reply);
	}
	fprintf(stderr, "%s (%zu bytes): %s\n", what, len,
		n > 0 ? reply : "no reply (dropped or closed)");
	close(fd);
	free(buf);
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "%s: the daemon still answers", what);
}

START_TEST(test_oversized_requests)
{
	start_two();
	oversized(5000, false, "5000 bytes, no newline");
	oversized(5000, true, "5000 bytes with a newline");
	oversized(4098, true, "a 4097-byte line");
	oversized(100000, false, "100000 bytes, no newline");
	oversized(1 << 20, true, "1 MiB with a newline");
	/* Just under the limit is a normal request (for an unknown, long name). */
	oversized(4000, true, "4000 bytes with a newline");
	HD_CHECK(&H, hd_state_is(&H, "a", "running"), "a unaffected");
}
END_TEST

/*
 * An oversized line followed by a normal request on the same connection: the client must not
 * be left hanging. Either the normal request is answered (the long line dropped or refused) or
 * the daemon closes the connection after an error; silence until the idle timeout is a bug.
 */
START_TEST(test_oversized_then_request_same_connection)
{
	char *buf, reply[HD_REPLY_MAX];
	size_t len = 6000;
	bool status_answered = false, closed = false;
	uint64_t end;
	int fd;

	start_two();
	fd = hd_connect(&H);
	HD_CHECK(&H, fd >= 0, "connect");
	buf = malloc(len + 16);
	memcpy(buf, "1 node info ", 12);
	memset(buf + 12, 'y', len - 12);
	memcpy(buf + len, "\n1 status\n", 10);
	HD_CHECK(&H, write(fd, buf, len + 10) == (ssize_t)(len + 10), "write");
	free(buf);
	end = mono_ms() + 3000;
	while (mono_ms() < end && !status_answered && !closed) {
		ssize_t n = hd_read_line(fd, reply, sizeof(reply), (int)(end - mono_ms()));

		if (n < 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			char c;

			/* EOF (closed) or just nothing within the time left. */
			closed = poll(&p, 1, 0) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) == 0;
			break;
		}
		fprintf(stderr, "oversized line then '1 status': got %.120s\n", reply);
		HD_CHECK(&H, json_valid(reply), "reply %s", reply);
		status_answered = strstr(reply, "\"pid\"") != NULL;
	}
	close(fd);
	HD_CHECK(&H, status_answered || closed,
		 "after a %zu-byte line, '1 status' on the same connection got no answer in 3 s "
		 "and the connection stayed open",
		 len);
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "still answering");
}
END_TEST

#define MANY 100

/* Waits up to timeout_ms for the daemon to close fd; its last line (if any) goes to last. */
static bool closed_by_daemon(int fd, char *last, size_t size, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	char byte;

	last[0] = '\0';
	while (mono_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 100) == 1) {
			if (recv(fd, &byte, 1, MSG_PEEK) <= 0) {
				return true;
			}
			(void)hd_read_line(fd, last, size, 1000);
		}
	}
	return false;
}

/*
 * A client that begins a request and never ends it, or trickles it byte by byte, loses its
 * connection within a few seconds (CONTROL_PARTIAL_S = 2), so that 128 such clients cannot
 * lock operators out for the 30 s idle time; an idle client with nothing unfinished stays.
 */
START_TEST(test_unfinished_line_dropped)
{
	int silent, trickle, idle;
	uint64_t t0, silent_ms = 0, trickle_ms = 0;
	char last[256];
	bool silent_gone = false, trickle_gone = false;

	start_two();
	silent = hd_connect(&H);
	trickle = hd_connect(&H);
	idle = hd_connect(&H);
	HD_CHECK(&H, silent >= 0 && trickle >= 0 && idle >= 0, "connect");
	HD_CHECK(&H, write(silent, "1 sta", 5) == 5, "write");
	t0 = mono_ms();
	/* The trickler sends a byte every 250 ms (its behaviour, not a wait for the daemon). */
	while (mono_ms() - t0 < 10000 && !(silent_gone && trickle_gone)) {
		if (!trickle_gone && (write(trickle, "x", 1) != 1 ||
				      closed_by_daemon(trickle, last, sizeof(last), 250))) {
			trickle_gone = true;
			trickle_ms = mono_ms() - t0;
		}
		if (!silent_gone && closed_by_daemon(silent, last, sizeof(last), 1)) {
			silent_gone = true;
			silent_ms = mono_ms() - t0;
		}
	}
	HD_CHECK(&H, silent_gone, "a client silent after half a line still connected after 10 s");
	HD_CHECK(&H, trickle_gone, "a trickling client still connected after 10 s");
	fprintf(stderr, "half line dropped after %llu ms, trickled line after %llu ms\n",
		(unsigned long long)silent_ms, (unsigned long long)trickle_ms);
	HD_CHECK(&H, silent_ms >= 1500 && trickle_ms >= 1500, "dropped too early: %llu, %llu ms",
		 (unsigned long long)silent_ms, (unsigned long long)trickle_ms);
	/* The idle client, with nothing unfinished, is still served. */
	HD_CHECK(&H, write(idle, "1 status\n", 9) == 9, "write");
	HD_CHECK(&H, hd_read_line(idle, last, sizeof(last), 5000) > 0 && strstr(last, "\"pid\""),
		 "idle client: %s", last);
	close(silent);
	close(trickle);
	close(idle);
}
END_TEST

START_TEST(test_many_clients)
{
	int fds[MANY], answered = 0;
	pid_t kids[4];
	char reply[HD_REPLY_MAX];

	start_two();
	/* MANY connections open at once, plus an idle one that never speaks. */
	int idle = hd_connect(&H);

	HD_CHECK(&H, idle >= 0, "idle connect");
	for (int i = 0; i < MANY; i++) {
		fds[i] = hd_connect(&H);
		HD_CHECK(&H, fds[i] >= 0, "connect %d: %s", i, strerror(errno));
	}
	for (int i = 0; i < MANY; i++) {
		const char *req = i % 2 ? "1 node list\n" : "1 status\n";

		HD_CHECK(&H, write(fds[i], req, strlen(req)) == (ssize_t)strlen(req), "write %d",
			 i);
	}
	for (int i = MANY - 1; i >= 0; i--) {
		if (hd_read_line(fds[i], reply, sizeof(reply), 5000) > 0 && json_valid(reply) &&
		    strstr(reply, "\"schema\": 1")) {
			answered++;
		}
		close(fds[i]);
	}
	HD_CHECK(&H, answered == MANY, "%d of %d concurrent clients answered", answered, MANY);

	/* Four processes hammering at once. */
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		HD_CHECK(&H, kids[k] >= 0, "fork");
		if (kids[k] == 0) {
			for (int i = 0; i < 200; i++) {
				char r[HD_REPLY_MAX];
				int fd = hd_connect(&H);

				if (fd < 0 || write(fd, "1 node info a\n", 14) != 14 ||
				    hd_read_line(fd, r, sizeof(r), 5000) <= 0 || !json_valid(r) ||
				    !strstr(r, "\"name\": \"a\"")) {
					_exit(1);
				}
				close(fd);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int st;

		HD_CHECK(&H,
			 waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) &&
			     WEXITSTATUS(st) == 0,
			 "client process %d failed (0x%x)", k, st);
	}
	close(idle);
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "same daemon");
	HD_CHECK(&H, hd_state_is(&H, "a", "running"), "nodes unaffected");
}
END_TEST

/* More clients than the daemon keeps: the extra are refused, the daemon keeps answering. */
START_TEST(test_client_flood)
{
	enum { FLOOD = 300 };
	int *fds = calloc(FLOOD, sizeof(int)), opened = 0;

	start_two();
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = hd_connect(&H);
		opened += fds[i] >= 0;
	}
	fprintf(stderr, "flood: %d of %d connects succeeded\n", opened, FLOOD);
	/* With the flood open, a new client is answered or refused (closed) at once, not left
	 * waiting. */
	{
		uint64_t t0 = mono_ms();
		char reply[HD_REPLY_MAX];
		bool answered = hd_request(&H, "1 status", reply, sizeof(reply));

		fprintf(stderr, "flood: a client beyond them was %s after %llu ms\n",
			answered ? "answered" : "refused", (unsigned long long)(mono_ms() - t0));
		HD_CHECK(&H, mono_ms() - t0 < 4000, "a client beyond the limit waited %llu ms",
			 (unsigned long long)(mono_ms() - t0));
	}
	for (int i = 0; i < FLOOD; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
		}
	}
	free(fds);
	{
		char reply[HD_REPLY_MAX];

		HD_WAIT(&H, hd_request(&H, "1 status", reply, sizeof(reply)), 10000,
			"answers after the flood");
	}
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "same daemon");
}
END_TEST

START_TEST(test_answers_while_tick_hangs)
{
	uint64_t worst = 0;
	struct ni n;

	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 20\n"
		      "watchdog_ms = 300\non_watchdog = warn\n"
		      "[node.b]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "h", "hung"), 10000, "h hung");
	for (int i = 0; i < 50; i++) {
		uint64_t t0 = mono_us(), dt;

		HD_CHECK(&H, hd_node(&H, i % 2 ? "h" : "b", &n), "node info during the hang");
		dt = mono_us() - t0;
		worst = dt > worst ? dt : worst;
	}
	fprintf(stderr, "while a tick hangs: worst reply in %.2f ms\n", worst / 1000.0);
	HD_CHECK(&H, worst < 1000000, "a reply took %.1f ms", worst / 1000.0);
	/* Operator commands on other nodes still work; on the hung one they answer promptly. */
	expect_ok("1 node restart b");
	{
		char reply[HD_REPLY_MAX];
		uint64_t t0 = mono_us();

		HD_CHECK(&H, hd_request(&H, "1 node restart h", reply, sizeof(reply)),
			 "an answer about the hung node");
		fprintf(stderr, "'node restart h' while hung: %s (%.1f ms)\n", reply,
			(mono_us() - t0) / 1000.0);
	}
	HD_CHECK(&H, hd_status_pid(&H) == H.pid, "same daemon");
}
END_TEST

/*
 * The operator's way out of a hang: with on_watchdog = warn the daemon only reports a hung
 * node; "node restart" must then do what on_watchdog = restart would have done (abandon the
 * stuck instance, start a fresh one). Refusing with EBUSY leaves the operator no tool but a
 * reload or a daemon restart.
 */
START_TEST(test_operator_restarts_hung_node)
{
	char reply[HD_REPLY_MAX];
	struct ni n;

	hd_config(&H, "[node.h]\nplugin = testnode\nrate_hz = 100\nhang_at = 20\n"
		      "watchdog_ms = 200\non_watchdog = warn\nrecord = @REC@\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "h", "hung"), 10000, "h hung");
	HD_CHECK(&H, hd_request(&H, "1 node restart h", reply, sizeof(reply)), "reply");
	fprintf(stderr, "'node restart h' on a hung node: %s\n", reply);
	HD_CHECK(&H, strstr(reply, "\"ok\": true") != NULL,
		 "an operator cannot restart a hung node: %s", reply);
	HD_WAIT(&H, hd_node(&H, "h", &n) && !strcmp(n.state, "running") && n.restarts == 1, 5000,
		"a fresh h runs");
	HD_CHECK(&H, hd_rec_count(&H, "init", "h") == 2, "a fresh instance");
}
END_TEST

static Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc;

#define ADD(name, fn)                                                                              \
	tc = tcase_create(name);                                                                   \
	tcase_add_checked_fixture(tc, setup, teardown);                                            \
	tcase_set_timeout(tc, 60);                                                                 \
	tcase_add_test(tc, fn);                                                                    \
	suite_add_tcase(s, tc)

	ADD("node_ops", test_node_stop_start_restart);
	ADD("unknown_node", test_unknown_node);
	ADD("malformed", test_malformed_requests);
	ADD("oversized", test_oversized_requests);
	ADD("oversized_then_request", test_oversized_then_request_same_connection);
	ADD("unfinished_line", test_unfinished_line_dropped);
	ADD("many_clients", test_many_clients);
	ADD("client_flood", test_client_flood);
	ADD("answers_while_tick_hangs", test_answers_while_tick_hangs);
	ADD("operator_restarts_hung_node", test_operator_restarts_hung_node);
#undef ADD
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return hd_run_suite(control_suite());
}
