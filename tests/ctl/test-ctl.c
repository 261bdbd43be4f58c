/* SPDX-License-Identifier: MIT */
/*
 * horusctl against a real horusd (tests/integration/harness.h) and real segments: every verb in
 * table and --json form, the exit codes (3 no daemon, 2 usage, 1 failure), node operations seen
 * in node info, reload, the topic verbs across processes, hz and bw against a publisher of known
 * rate, and clean of a segment left by a SIGKILLed process.
 */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "../integration/harness.h"
#include "ctl-run.h"

static struct hd H;
static struct run R; /* large: static, one per test process */

/* Deadlines far beyond any stall of a loaded machine: the nodes stay "running". */
#define NODES                                                                                      \
	"[node.a]\nplugin = testnode\nrate_hz = 100\ndeadline_ms = 2000\ntopic = t/ticks\n"        \
	"[node.b]\nplugin = testnode\nrate_hz = 50\ndeadline_ms = 2000\n"

static void setup(void)
{
	unsetenv("HORUS_NAMESPACE"); /* each test says which namespace it means */
	unsetenv("HORUS_SOCKET");
	hd_init(&H);
	hd_plugin(&H, "testnode", "testnode");
	hd_config(&H, NODES);
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "a", "running") && hd_state_is(&H, "b", "running"), 10000,
		"nodes running");
}

static void teardown(void)
{
	hd_cleanup(&H);
}

/* Runs horusctl --socket SOCK ARGS...; checks the exit code; returns stdout. */
#define CTL(want, ...) ctl_expect(__LINE__, (want), (const char *const[]){__VA_ARGS__, NULL})

static const char *ctl_expect(int line, int want, const char *const args[])
{
	const char *full[40] = {"--socket", H.sock};
	int n = 2;

	for (int i = 0; args[i] && n < 39; i++) {
		full[n++] = args[i];
	}
	full[n] = NULL;
	run_ctl(&R, full);
	HD_CHECK(&H, R.status == want, "line %d: horusctl %s %s...: exit %d, expected %d\n%s\n%s",
		 line, args[0], args[1] ? args[1] : "", R.status, want, R.out, R.err);
	return R.out;
}

static double num(const char *json, const char *key)
{
	double v = -1;

	HD_CHECK(&H, json_num_field(json, key, &v), "no \"%s\" in %s", key, json);
	return v;
}

static void str(const char *json, const char *key, char *out, size_t size)
{
	HD_CHECK(&H, json_str_field(json, key, out, size), "no \"%s\" in %s", key, json);
}

/* ---- usage and no daemon: no fixture daemon needed ------------------------------------------ */

static void usage_case(const char *const args[], const char *needle)
{
	run_ctl(&R, args);
	ck_assert_msg(R.status == 2, "%s: exit %d (%s)", args[0], R.status, R.err);
	ck_assert_msg(strstr(R.err, needle), "%s: stderr lacks '%s': %s", args[0], needle, R.err);
	ck_assert_msg(strstr(R.err, "Try 'horusctl -h'"), "no hint: %s", R.err);
	ck_assert_msg(R.out_len == 0, "usage error printed on stdout: %s", R.out);
}

START_TEST(test_usage_errors)
{
	usage_case((const char *const[]){"frobnicate", NULL}, "unknown command 'frobnicate'");
	usage_case((const char *const[]){"--bogus", "status", NULL}, "unknown option '--bogus'");
	usage_case((const char *const[]){"node", "info", NULL}, "'node info' needs NAME");
	usage_case((const char *const[]){"node", NULL}, "'node' needs a subcommand");
	usage_case((const char *const[]){"topic", "pub", "t", NULL}, "needs TOPIC DATA");
	usage_case((const char *const[]){"topic", "echo", "t", "-n", "zero", NULL},
		   "option '-n': 'zero'");
	usage_case((const char *const[]){"topic", "hz", "t", "-r", "5", NULL},
		   "option '-r' does not apply to 'topic hz'");
	usage_case((const char *const[]){"status", "extra", NULL}, "unexpected argument 'extra'");
	usage_case((const char *const[]){"--json", "top", NULL}, "'top' has no JSON form");
	usage_case((const char *const[]){"--socket", NULL}, "option '--socket' needs a value");
	usage_case((const char *const[]){"top", "--sort", "colour", NULL}, "'colour' is not one");
	/* Names the protocol cannot carry are refused before any socket is touched. */
	usage_case((const char *const[]){"node", "stop", "a b", NULL}, "contains a blank");
	/* A bad topic name is a usage error too (found by the topic verbs). */
	run_ctl(&R, (const char *const[]){"--namespace", "x", "topic", "info", "a//b", NULL});
	ck_assert_msg(R.status == 2 && strstr(R.err, "topic 'a//b': invalid name"), "%d %s",
		      R.status, R.err);
	run_ctl(&R, (const char *const[]){"--namespace", "bad ns!", "topic", "list", NULL});
	ck_assert_msg(R.status == 2 && strstr(R.err, "namespace 'bad ns!'"), "%d %s", R.status,
		      R.err);
}
END_TEST

START_TEST(test_help_lists_every_verb)
{
	static const char *const verbs[] = {
	    "status",
	    "node list",
	    "node info NAME",
	    "node restart|stop|start NAME",
	    "topic list",
	    "topic info",
	    "topic echo",
	    "topic hz",
	    "topic bw",
	    "topic pub",
	    "top",
	    "reload",
	    "clean",
	    "HORUS_SOCKET",
	    "HORUS_NAMESPACE",
	};

	ck_assert_int_eq(run_ctl(&R, (const char *const[]){"-h", NULL}), 0);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		ck_assert_msg(strstr(R.out, verbs[i]), "-h lacks '%s'", verbs[i]);
	}
	ck_assert_int_eq(run_ctl(&R, (const char *const[]){"--version", NULL}), 0);
	ck_assert_msg(!strncmp(R.out, "horusctl ", 9), "%s", R.out);
}
END_TEST

START_TEST(test_no_daemon_exit_3)
{
	static const char *const verbs[][4] = {
	    {"status"},
	    {"node", "list"},
	    {"node", "info", "a"},
	    {"node", "stop", "a"},
	    {"node", "restart", "a"},
	    {"reload"},
	    {"top"},
	};
	char sock[64];

	snprintf(sock, sizeof(sock), "/tmp/horusctl-none-%d.sock", (int)getpid());
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const char *args[8] = {"--socket", sock};

		for (int k = 0; k < 4 && verbs[i][k]; k++) {
			args[2 + k] = verbs[i][k];
		}
		run_ctl(&R, args);
		ck_assert_msg(R.status == 3, "%s: exit %d", verbs[i][0], R.status);
		ck_assert_msg(strstr(R.err, "no daemon answers on") && strstr(R.err, sock), "%s",
			      R.err);
	}
	/* The environment's socket, when no --socket is given. */
	setenv("HORUS_SOCKET", sock, 1);
	run_ctl(&R, (const char *const[]){"status", NULL});
	unsetenv("HORUS_SOCKET");
	ck_assert_msg(R.status == 3 && strstr(R.err, sock), "%d %s", R.status, R.err);
}
END_TEST

/* ---- daemon verbs --------------------------------------------------------------------------- */

START_TEST(test_socket_precedence)
{
	/* $HORUS_SOCKET is used without --socket ... */
	setenv("HORUS_SOCKET", H.sock, 1);
	run_ctl(&R, (const char *const[]){"status", NULL});
	HD_CHECK(&H, R.status == 0 && strstr(R.out, H.ns), "env socket: %d %s", R.status, R.err);
	/* ... and --socket overrides it. */
	run_ctl(&R, (const char *const[]){"--socket", "/nonexistent/horusd.sock", "status", NULL});
	unsetenv("HORUS_SOCKET");
	HD_CHECK(&H, R.status == 3 && strstr(R.err, "/nonexistent/horusd.sock"), "%d %s", R.status,
		 R.err);
}
END_TEST

START_TEST(test_status)
{
	char ns[64], pool[64];
	const char *out = CTL(0, "status");

	HD_CHECK(&H, lines_with(out, (const char *const[]){"namespace", H.ns, NULL}) == 1, "%s",
		 out);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"uptime", NULL}) == 1, "%s", out);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"pools", "default", "workers", NULL}),
		 "%s", out);
	out = CTL(0, "--json", "status");
	HD_CHECK(&H, json_valid(out) && num(out, "schema") == 1, "%s", out);
	str(out, "namespace", ns, sizeof(ns));
	HD_CHECK(&H, !strcmp(ns, H.ns), "namespace %s", ns);
	HD_CHECK(&H, num(out, "nodes") == 2 && num(out, "pid") == H.pid, "%s", out);
	HD_CHECK(&H, strstr(out, "\"pools\": [{"), "no pools: %s", out);
	str(strstr(out, "\"pools\""), "name", pool, sizeof(pool));
	HD_CHECK(&H, !strcmp(pool, "default"), "pool %s", pool);
}
END_TEST

START_TEST(test_node_list)
{
	static const char *const fields[] = {
	    "name",	   "plugin",
	    "state",	   "rate_hz",
	    "actual_hz",   "ticks",
	    "tick_us",	   "p50",
	    "p99",	   "max",
	    "deadline_ms", "deadline_misses",
	    "watchdog_ms", "watchdog_trips",
	    "circuit",	   "failures",
	    "restarts",	   "io",
	    "pending",	   "submitted",
	    "completed",   "failed",
	    "timed_out",
	};
	char key[40];
	const char *out = CTL(0, "node", "list");

	HD_CHECK(&H,
		 lines_with(out, (const char *const[]){"NAME", "STATE", "RATE", "TICK P99",
						       "MISSES", "BREAKER", NULL}) == 1,
		 "%s", out);
	HD_CHECK(
	    &H,
	    lines_with(out, (const char *const[]){"a ", "running", "100 Hz", "closed", NULL}) == 1,
	    "%s", out);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"b ", "running", "50 Hz", NULL}) == 1,
		 "%s", out);
	out = CTL(0, "--json", "node", "list");
	HD_CHECK(&H, json_valid(out) && num(out, "schema") == 1 && strstr(out, "\"nodes\": [{"),
		 "%s", out);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(key, sizeof(key), "\"%s\":", fields[i]);
		HD_CHECK(&H, strstr(out, key), "node list lacks %s: %s", key, out);
	}
}
END_TEST

START_TEST(test_node_info_and_unknown)
{
	char state[16];
	const char *out = CTL(0, "node", "info", "a");

	HD_CHECK(&H, lines_with(out, (const char *const[]){"state", "running", NULL}) == 1, "%s",
		 out);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"rate", "100 Hz configured", NULL}),
		 "%s", out);
	out = CTL(0, "--json", "node", "info", "a");
	HD_CHECK(&H, json_valid(out) && num(out, "schema") == 1 && strstr(out, "\"node\": {"), "%s",
		 out);
	str(out, "state", state, sizeof(state));
	HD_CHECK(&H, !strcmp(state, "running"), "%s", state);

	static const char *const verbs[] = {"info", "stop", "start", "restart"};
	for (size_t i = 0; i < 4; i++) {
		out = CTL(1, "node", verbs[i], "nosuch");
		HD_CHECK(&H, strstr(R.err, "horusctl: node 'nosuch': no such node"), "%s: %s",
			 verbs[i], R.err);
		HD_CHECK(&H, R.out_len == 0, "stdout on error: %s", R.out);
	}
}
END_TEST

static void node_state(const char *name, char *state, size_t size)
{
	const char *out = CTL(0, "--json", "node", "info", name);

	str(out, "state", state, size);
}

START_TEST(test_node_stop_start_restart)
{
	char state[16];
	double restarts;
	const char *out = CTL(0, "node", "stop", "a");

	HD_CHECK(&H, strstr(out, "node 'a' stopped"), "%s", out);
	node_state("a", state, sizeof(state));
	HD_CHECK(&H, !strcmp(state, "stopped"), "after stop: %s", state);
	node_state("b", state, sizeof(state));
	HD_CHECK(&H, !strcmp(state, "running"), "b after stop a: %s", state);

	out = CTL(0, "--json", "node", "start", "a");
	HD_CHECK(&H, json_valid(out) && strstr(out, "\"ok\": true"), "%s", out);
	node_state("a", state, sizeof(state));
	HD_CHECK(&H, !strcmp(state, "running"), "after start: %s", state);

	out = CTL(0, "--json", "node", "info", "b");
	restarts = num(out, "restarts");
	out = CTL(0, "node", "restart", "b");
	HD_CHECK(&H, strstr(out, "node 'b' restarted"), "%s", out);
	out = CTL(0, "--json", "node", "info", "b");
	str(out, "state", state, sizeof(state));
	HD_CHECK(&H, !strcmp(state, "running") && num(out, "restarts") == restarts + 1,
		 "after restart: %s", out);
}
END_TEST

START_TEST(test_reload)
{
	const char *out;

	hd_config(&H, NODES "[node.c]\nplugin = testnode\nrate_hz = 20\n");
	out = CTL(0, "reload");
	HD_CHECK(&H, strstr(out, "reloaded"), "%s", out);
	/* The reply says the configuration was accepted; the tick thread applies it right after. */
	HD_WAIT(&H, strstr(CTL(0, "node", "list"), "\nc "), 10000, "node c started: %s", R.out);
	HD_CHECK(&H, lines_with(R.out, (const char *const[]){"c ", "20 Hz", NULL}) == 1, "%s",
		 R.out);

	/* A bad config is refused, the running one stays: exit 1 with the daemon's reason. */
	hd_config(&H, NODES "[node.d]\nplugin = testnode\nrate_hz = fast\n");
	CTL(1, "--json", "reload");
	HD_CHECK(&H, strstr(R.err, "horusctl: reload refused") && strstr(R.err, "rate_hz"), "%s",
		 R.err);
	out = CTL(0, "node", "list");
	HD_CHECK(&H, strstr(out, "\nc ") && !strstr(out, "\nd "), "%s", out);
}
END_TEST

START_TEST(test_top_off_a_terminal)
{
	/* stdout is a pipe here: one snapshot, sorted as asked, then exit 0. */
	const char *out = CTL(0, "top", "--sort", "rate");
	const char *a = strstr(out, "\na "), *b = strstr(out, "\nb ");

	HD_CHECK(&H, strstr(out, "NAME") && a && b && a < b, "%s", out);
}
END_TEST

/* ---- topic verbs ---------------------------------------------------------------------------- */

START_TEST(test_topic_list_info_from_daemon_namespace)
{
	char ns[64], kind[16];
	const char *out;

	/* No --namespace, no HORUS_NAMESPACE: the daemon says which namespace is meant. */
	HD_WAIT(&H,
		strstr(CTL(0, "--json", "topic", "list"), "t/ticks") && num(R.out, "messages") > 0,
		5000, "t/ticks listed with messages");
	out = CTL(0, "topic", "list");
	HD_CHECK(&H, lines_with(out, (const char *const[]){"NAME", "KIND", "PUBS", "SUBS", NULL}),
		 "%s", out);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"t/ticks", "hub", NULL}) == 1, "%s",
		 out);
	out = CTL(0, "--json", "topic", "list");
	HD_CHECK(&H, json_valid(out), "%s", out);
	str(out, "namespace", ns, sizeof(ns));
	str(out, "kind", kind, sizeof(kind));
	HD_CHECK(&H, !strcmp(ns, H.ns) && !strcmp(kind, "hub"), "%s", out);
	HD_CHECK(&H,
		 num(out, "publishers") == 1 && num(out, "capacity") > 0 &&
		     num(out, "max_msg") >= 8 && num(out, "messages") > 0 &&
		     num(out, "bytes") == 8 * num(out, "messages") && num(out, "lost") == 0 &&
		     num(out, "subscribers") >= 0,
		 "%s", out);

	/* node a publishes 8 bytes at 100 Hz: the info's rate over 0.5 s says so, loosely (a
	 * loaded machine slows the daemon), and the bandwidth is 8 bytes a message. */
	out = CTL(0, "--json", "topic", "info", "t/ticks");
	HD_CHECK(&H, json_valid(out) && num(out, "rate_hz") > 10 && num(out, "rate_hz") < 150, "%s",
		 out);
	HD_CHECK(&H,
		 fabs(num(out, "bytes_per_s") - 8 * num(out, "rate_hz")) <
		     0.01 * num(out, "bytes_per_s"),
		 "%s", out);
	out = CTL(0, "topic", "info", "t/ticks");
	HD_CHECK(&H, lines_with(out, (const char *const[]){"publishers", "1", NULL}) == 1, "%s",
		 out);

	CTL(1, "topic", "info", "no/such");
	HD_CHECK(&H, strstr(R.err, "topic 'no/such': no such topic in namespace"), "%s", R.err);

	/* $HORUS_NAMESPACE comes before the daemon's, and --namespace before both. */
	setenv("HORUS_NAMESPACE", "elsewhere", 1);
	out = CTL(0, "topic", "list");
	HD_CHECK(&H, !strstr(out, "t/ticks") && strstr(out, "namespace 'elsewhere'"), "%s", out);
	out = CTL(0, "--namespace", H.ns, "topic", "list");
	unsetenv("HORUS_NAMESPACE");
	HD_CHECK(&H, strstr(out, "t/ticks"), "%s", out);
}
END_TEST

START_TEST(test_link_topics)
{
	struct horus_link *link;
	char kind[16];
	const char *out;

	HD_CHECK(&H, horus_link_open(H.ns, "cmd/q", HORUS_LINK_PRODUCER, NULL, &link) == 0,
		 "link open");
	HD_CHECK(&H, horus_link_send(link, "ab", 2) == 0 && horus_link_send(link, "cd", 2) == 0,
		 "link send");
	out = CTL(0, "--namespace", H.ns, "topic", "list");
	HD_CHECK(&H, lines_with(out, (const char *const[]){"cmd/q", "link", NULL}) == 1, "%s", out);
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "info", "cmd/q", "-w", "0.05");
	str(out, "kind", kind, sizeof(kind));
	HD_CHECK(&H,
		 !strcmp(kind, "link") && num(out, "pending") == 2 && num(out, "messages") == 2 &&
		     num(out, "publishers") == 1 && num(out, "subscribers") == 0,
		 "%s", out);
	/* echo would steal the consumer's messages, pub would be a second producer: refused. */
	CTL(1, "--namespace", H.ns, "topic", "echo", "cmd/q", "-n", "1");
	HD_CHECK(&H, strstr(R.err, "topic 'cmd/q' is a link"), "%s", R.err);
	CTL(1, "--namespace", H.ns, "topic", "pub", "cmd/q", "x");
	HD_CHECK(&H, strstr(R.err, "topic 'cmd/q' is a link"), "%s", R.err);
	horus_link_close(link);
}
END_TEST

START_TEST(test_echo_binary_from_node)
{
	double seq1, seq2;
	const char *out = CTL(0, "--namespace", H.ns, "topic", "echo", "t/ticks", "-n", "2");

	HD_CHECK(&H, lines_with(out, (const char *const[]){"[8 bytes] ", NULL}) == 2, "%s", out);
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "echo", "t/ticks", "-n", "2");
	HD_CHECK(&H, lines_with(out, (const char *const[]){"\"hex\": \"", "\"len\": 8", NULL}) == 2,
		 "%s", out);
	seq1 = num(out, "seq");
	seq2 = num(strchr(out, '\n') + 1, "seq");
	HD_CHECK(&H, seq2 > seq1 && num(out, "lost") == 0, "%s", out);
	CTL(0, "--namespace", H.ns, "topic", "echo", "t/ticks", "-n", "3", "--raw");
	HD_CHECK(&H, R.out_len == 24, "raw: %zu bytes", R.out_len);
	/* The node made the topic for 8-byte messages: a longer DATA is refused, saying so. */
	CTL(1, "--namespace", H.ns, "topic", "pub", "t/ticks", "123456789");
	HD_CHECK(&H, strstr(R.err, "DATA is 9 bytes, more than the topic's max_msg of 8"), "%s",
		 R.err);
}
END_TEST

static uint32_t subscribers(const char *topic)
{
	struct horus_topic_info t;

	return horus_topic_info(H.ns, topic, HORUS_KIND_HUB, &t) == 0 ? t.subscribers : 0;
}

START_TEST(test_pub_echo_round_trip)
{
	const char *args[] = {"--namespace", H.ns, "--json", "topic", "echo",
			      "chat",	     "-n", "3",	     NULL};
	struct run echo;
	const char *out;
	int fd;
	pid_t pid = spawn_ctl(args, &fd);

	HD_CHECK(&H, pid > 0, "spawn echo");
	HD_WAIT(&H, subscribers("chat") == 1, 10000, "echo subscribed");
	out = CTL(0, "--namespace", H.ns, "topic", "pub", "chat", "hello \"world\"", "-n", "3",
		  "-r", "100");
	HD_CHECK(&H, strstr(out, "published 3 messages of 13 bytes to 'chat'"), "%s", out);
	HD_CHECK(&H, finish_ctl(&echo, pid, fd, 20000) == 0, "echo exit %d: %s", echo.status,
		 echo.out);
	HD_CHECK(&H,
		 lines_with(echo.out, (const char *const[]){"\"text\": \"hello \\\"world\\\"\"",
							    "\"lost\": 0", "\"len\": 13", NULL}) ==
		     3,
		 "%s", echo.out);

	/* Text on a terminal-style stream: the message itself, one per line. */
	pid = spawn_ctl(
	    (const char *const[]){"--namespace", H.ns, "topic", "echo", "chat", "-n", "1", NULL},
	    &fd);
	HD_CHECK(&H, pid > 0, "spawn echo");
	HD_WAIT(&H, subscribers("chat") == 1, 10000, "echo subscribed");
	CTL(0, "--namespace", H.ns, "topic", "pub", "chat", "plain text\n");
	HD_CHECK(&H, finish_ctl(&echo, pid, fd, 20000) == 0 && !strcmp(echo.out, "plain text\n"),
		 "echo: %d '%s'", echo.status, echo.out);

	/* Once, in JSON; and the topic's counters show all five messages. */
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "pub", "chat", "--", "-x");
	HD_CHECK(&H, json_valid(out) && num(out, "published") == 1 && num(out, "bytes") == 2, "%s",
		 out);
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "info", "chat", "-w", "0.05");
	HD_CHECK(&H, num(out, "messages") == 5 && num(out, "bytes") == 52, "%s", out);
}
END_TEST

/* A publisher of known rate: PUB_HZ messages of PUB_SIZE bytes on an absolute schedule. */
#define PUB_HZ 200
#define PUB_SIZE 100

struct pacer {
	const char *topic;
	atomic_bool stop;
	int err;
};

static void *pace(void *arg)
{
	struct pacer *p = arg;
	struct horus_pub *pub;
	char msg[PUB_SIZE];
	struct timespec next;

	memset(msg, 'x', sizeof(msg));
	p->err = horus_pub_open(H.ns, p->topic, NULL, &pub);
	if (p->err < 0) {
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&p->stop)) {
		next.tv_nsec += 1000000000 / PUB_HZ;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		horus_pub_publish(pub, msg, sizeof(msg));
	}
	horus_pub_close(pub);
	return NULL;
}

static void pacer_start(struct pacer *p, pthread_t *th, const char *topic)
{
	struct horus_topic_info t;

	p->topic = topic;
	atomic_store(&p->stop, false);
	p->err = 0;
	HD_CHECK(&H, pthread_create(th, NULL, pace, p) == 0, "pthread_create");
	HD_WAIT(&H, horus_topic_info(H.ns, topic, HORUS_KIND_HUB, &t) == 0 && t.messages > 0, 10000,
		"publisher running (%d)", p->err);
}

static void pacer_stop(struct pacer *p, pthread_t th)
{
	atomic_store(&p->stop, true);
	pthread_join(th, NULL);
}

START_TEST(test_hz)
{
	struct pacer p;
	pthread_t th;
	const char *out, *last;
	double rate, mean, min, max, sd;

	pacer_start(&p, &th, "paced");
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "hz", "paced", "-w", "1", "-n", "2");
	pacer_stop(&p, th);
	HD_CHECK(&H, lines_with(out, (const char *const[]){"\"rate_hz\"", NULL}) == 2, "%s", out);
	last = strchr(out, '\n') + 1;
	rate = num(last, "rate_hz");
	mean = num(last, "mean");
	min = num(last, "min");
	max = num(last, "max");
	sd = num(last, "stddev");
	/* Generous: a loaded 2-core machine under ASan. The rate is exact from the counter. */
	HD_CHECK(&H, rate > 150 && rate < 250, "rate %g: %s", rate, last);
	HD_CHECK(&H, mean > 4.0 && mean < 6.7, "mean period %g ms: %s", mean, last);
	HD_CHECK(&H, min > 0 && min <= mean && max >= mean && sd >= 0, "%s", last);
	HD_CHECK(&H, num(last, "resolution_ms") == 1, "%s", last);
	/* The table form says the same in words. */
	pacer_start(&p, &th, "paced");
	out = CTL(0, "--namespace", H.ns, "topic", "hz", "paced", "-w", "0.5", "-n", "1");
	pacer_stop(&p, th);
	HD_CHECK(&H,
		 lines_with(out, (const char *const[]){"rate ", " Hz", "period mean", "stddev",
						       NULL}) == 1,
		 "%s", out);
	/* Nothing subscribed to measure it. */
	HD_CHECK(&H, subscribers("paced") == 0, "hz subscribed");
}
END_TEST

START_TEST(test_bw)
{
	struct pacer p;
	pthread_t th;
	const char *out;
	double bps;

	pacer_start(&p, &th, "sized");
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "bw", "sized", "-w", "1", "-n", "1");
	pacer_stop(&p, th);
	bps = num(out, "bytes_per_s");
	HD_CHECK(&H, bps > 150 * PUB_SIZE && bps < 250 * PUB_SIZE, "bytes/s %g: %s", bps, out);
	HD_CHECK(&H,
		 num(out, "mean") == PUB_SIZE && num(out, "min") == PUB_SIZE &&
		     num(out, "max") == PUB_SIZE &&
		     num(out, "bytes") == PUB_SIZE * num(out, "messages"),
		 "%s", out);
	out = CTL(0, "--namespace", H.ns, "topic", "bw", "sized", "-w", "0.2", "-n", "1");
	HD_CHECK(&H, strstr(out, "no messages"), "publisher gone: %s", out);
}
END_TEST

/* Segments of the test's namespace whose name contains part. */
static int shm_entries(const char *part)
{
	char prefix[64];
	struct dirent *de;
	DIR *d = opendir("/dev/shm");
	int n = 0;

	HD_CHECK(&H, d != NULL, "opendir /dev/shm: %s", strerror(errno));
	snprintf(prefix, sizeof(prefix), "horus.%s.", H.ns);
	while ((de = readdir(d))) {
		n += !strncmp(de->d_name, prefix, strlen(prefix)) && strstr(de->d_name, part);
	}
	closedir(d);
	return n;
}

START_TEST(test_clean)
{
	char junk[128];
	const char *out;
	FILE *f;
	int st;
	pid_t pid = fork();

	HD_CHECK(&H, pid >= 0, "fork");
	if (pid == 0) {
		struct horus_pub *pub;

		if (horus_pub_open(H.ns, "stale", NULL, &pub) < 0) {
			_exit(1);
		}
		horus_pub_publish(pub, "x", 1);
		raise(SIGKILL); /* dies holding it: the segment stays behind */
	}
	HD_CHECK(&H, waitpid(pid, &st, 0) == pid && WIFSIGNALED(st), "child was not killed");
	HD_CHECK(&H, shm_entries("stale") == 1, "stale segment not there");
	/* And a foreign file under the namespace's prefix: listed as unreadable, then cleaned. */
	snprintf(junk, sizeof(junk), "/dev/shm/horus.%s.hub.junk", H.ns);
	f = fopen(junk, "w");
	HD_CHECK(&H, f && fputs("not a segment", f) >= 0 && fclose(f) == 0, "write %s", junk);
	out = CTL(0, "--namespace", H.ns, "topic", "list");
	HD_CHECK(&H, lines_with(out, (const char *const[]){"unreadable segment", "junk", NULL}),
		 "%s", out);
	out = CTL(0, "--namespace", H.ns, "--json", "topic", "list");
	HD_CHECK(&H, json_valid(out) && strstr(out, "\"unreadable\": [\"horus."), "%s", out);

	out = CTL(0, "--namespace", H.ns, "--json", "clean");
	HD_CHECK(&H, json_valid(out) && num(out, "removed") == 2, "%s", out);
	HD_CHECK(&H, shm_entries("stale") == 0 && shm_entries("junk") == 0, "segments left");
	/* The daemon's live topic stays; a second clean has nothing to do. */
	HD_CHECK(&H, strstr(CTL(0, "--namespace", H.ns, "topic", "list"), "t/ticks"), "%s", R.out);
	out = CTL(0, "--namespace", H.ns, "clean");
	HD_CHECK(&H, strstr(out, "removed 0 stale segments"), "%s", out);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *plain = tcase_create("usage");
	TCase *daemon = tcase_create("daemon");
	TCase *topic = tcase_create("topic");

	tcase_add_test(plain, test_usage_errors);
	tcase_add_test(plain, test_help_lists_every_verb);
	tcase_add_test(plain, test_no_daemon_exit_3);
	suite_add_tcase(s, plain);

	tcase_add_checked_fixture(daemon, setup, teardown);
	tcase_set_timeout(daemon, 60);
	tcase_add_test(daemon, test_socket_precedence);
	tcase_add_test(daemon, test_status);
	tcase_add_test(daemon, test_node_list);
	tcase_add_test(daemon, test_node_info_and_unknown);
	tcase_add_test(daemon, test_node_stop_start_restart);
	tcase_add_test(daemon, test_reload);
	tcase_add_test(daemon, test_top_off_a_terminal);
	suite_add_tcase(s, daemon);

	tcase_add_checked_fixture(topic, setup, teardown);
	tcase_set_timeout(topic, 60);
	tcase_add_test(topic, test_topic_list_info_from_daemon_namespace);
	tcase_add_test(topic, test_echo_binary_from_node);
	tcase_add_test(topic, test_link_topics);
	tcase_add_test(topic, test_pub_echo_round_trip);
	tcase_add_test(topic, test_hz);
	tcase_add_test(topic, test_bw);
	tcase_add_test(topic, test_clean);
	suite_add_tcase(s, topic);
	return s;
}

int main(void)
{
	return hd_run_suite(ctl_suite());
}
