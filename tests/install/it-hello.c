/* SPDX-License-Identifier: MIT */
/*
 * The out-of-tree example plugin (examples/hello_node, built by hello-node.sh against the
 * installed SDK) in a real horusd: it takes its parameters from the INI, reads its name on the
 * worker pool and takes the future, ticks at its rate, publishes on its topic (read here with
 * libhorus), logs, and stops cleanly. hello-node.sh sets HORUSD and HORUS_TEST_NODES (the
 * directory holding hello_node.so).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "harness.h"

#define MSG_MAX 256

static struct hd H;

static void setup(void)
{
	hd_init(&H);
	hd_plugin(&H, "hello_node", "hello_node");
}

static void teardown(void)
{
	hd_cleanup(&H);
}

/* Writes the config: node `name` greeting `greeting`, its name read from name_file. */
static void config_node(const char *name, const char *greeting, const char *name_file)
{
	char body[2048];

	snprintf(body, sizeof(body),
		 "[node.%s]\nplugin = hello_node\nrate_hz = 20\ngreeting = %s\n"
		 "name_file = %s\ntopic = hello/%s\n",
		 name, greeting, name_file, name);
	hd_config(&H, body);
}

/*
 * Reads messages from sub until one starts with `prefix` (up to timeout_ms); returns its
 * number after '#', or 0 if none came. Every message must be "<something>! #N". *ret_lost
 * (may be NULL): messages lost just before the one returned.
 */
static unsigned long long wait_message(struct horus_sub *sub, const char *prefix, int timeout_ms,
				       uint64_t *ret_lost)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;
	char msg[MSG_MAX + 1];

	while (mono_ms() < end) {
		struct horus_msg_info info;
		int n = horus_sub_read(sub, msg, MSG_MAX, &info);
		const char *hash;

		if (n == -EAGAIN) {
			(void)horus_sub_wait(sub, 100 * 1000 * 1000ll);
			continue;
		}
		HD_CHECK(&H, n > 0, "horus_sub_read: %s", strerror(-n));
		msg[n] = '\0';
		hash = strstr(msg, "! #");
		HD_CHECK(&H, hash != NULL,
			 "a message not of the form '<greeting>, <name>! #N': '%s'", msg);
		if (!strncmp(msg, prefix, strlen(prefix))) {
			if (ret_lost) {
				*ret_lost = info.lost;
			}
			return strtoull(hash + 3, NULL, 10);
		}
	}
	return 0;
}

START_TEST(test_hello_publishes)
{
	char name_file[HD_PATH + 16];
	unsigned long long first, prev, next;
	uint64_t lost;
	struct horus_sub *sub = NULL;
	struct horus_topic_info ti;
	struct ni n;
	FILE *f;
	int st;

	/* The name the node reads on its worker: the first line of a file. */
	snprintf(name_file, sizeof(name_file), "%s/name", H.dir);
	f = fopen(name_file, "w");
	HD_CHECK(&H, f && fputs("tester\nsecond line\n", f) >= 0 && fclose(f) == 0, "writing %s",
		 name_file);
	config_node("greeter", "hi", name_file);
	hd_start(&H);
	HD_CHECK(&H, horus_sub_open(H.ns, "hello/greeter", NULL, 0, &sub) == 0, "subscribe");

	/* Greets with the name the I/O job read: the future was taken. */
	first = wait_message(sub, "hi, tester! #", 10000, NULL);
	HD_CHECK(&H, first > 0, "no 'hi, tester! #N' on hello/greeter within 10 s");
	fprintf(stderr, "received: hi, tester! #%llu\n", first);
	HD_WAIT(&H, hd_log_has(&H, "greeting 'tester' from"), 5000, "the take is logged");
	HD_CHECK(&H, hd_log_has(&H, "publishing 'hi, ...' on 'hello/greeter'"), "init logged");

	/* It keeps ticking: one message a tick, numbered without a gap that the bus did not
	 * report as lost (a subscriber that falls behind loses the oldest). */
	prev = first;
	for (int i = 0; i < 20; i++) {
		next = wait_message(sub, "hi, tester! #", 5000, &lost);
		HD_CHECK(&H, next == prev + 1 + lost, "#%llu after #%llu with %llu lost", next,
			 prev, (unsigned long long)lost);
		prev = next;
	}
	fprintf(stderr, "received: hi, tester! #%llu .. #%llu in sequence (%llu lost)\n", first,
		prev, (unsigned long long)horus_sub_lost(sub));
	HD_CHECK(&H, hd_node(&H, "greeter", &n), "node info greeter");
	fprintf(stderr, "greeter: %s, %llu ticks, %.1f Hz of %.0f, %llu failures\n", n.state,
		(unsigned long long)n.ticks, n.actual_hz, n.rate_hz,
		(unsigned long long)n.failures);
	HD_CHECK(&H, !strcmp(n.state, "running") && n.ticks >= 20 && n.failures == 0,
		 "greeter %s, %llu ticks, %llu failures", n.state, (unsigned long long)n.ticks,
		 (unsigned long long)n.failures);
	HD_CHECK(&H, !strcmp(n.plugin, "hello_node"), "plugin %s", n.plugin);
	HD_CHECK(&H,
		 horus_topic_info(H.ns, "hello/greeter", HORUS_KIND_HUB, &ti) == 0 &&
		     ti.publishers == 1 && ti.max_msg >= MSG_MAX,
		 "topic hello/greeter: %u publishers, max_msg %u", ti.publishers, ti.max_msg);
	horus_sub_close(sub);

	/* SIGTERM: fini runs and logs; the daemon exits 0. */
	st = hd_stop(&H, SIGTERM, 15000);
	HD_CHECK(&H, st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
	HD_CHECK(&H, hd_log_has(&H, "stopped after"), "fini logged");
}
END_TEST

/* A failed read resolves the future as failed: logged with its message, "world" greeted. */
START_TEST(test_hello_failed_read)
{
	char name_file[HD_PATH + 16];
	struct horus_sub *sub = NULL;
	struct ni n;

	snprintf(name_file, sizeof(name_file), "%s/no-such-file", H.dir);
	config_node("lost", "hello", name_file);
	hd_start(&H);
	HD_CHECK(&H, horus_sub_open(H.ns, "hello/lost", NULL, 0, &sub) == 0, "subscribe");
	HD_CHECK(&H, wait_message(sub, "hello, world! #", 10000, NULL) > 0,
		 "no 'hello, world! #N' on hello/lost within 10 s");
	HD_WAIT(&H, hd_log_has(&H, "Failed to read the name: cannot open"), 5000,
		"the failed future is logged with the job's message");
	/* The failed job counts once toward the breaker (a degraded node); it keeps ticking. */
	HD_WAIT(&H, hd_ticks(&H, "lost") >= 10, 10000, "lost keeps ticking");
	HD_CHECK(&H, hd_node(&H, "lost", &n), "node info lost");
	fprintf(stderr, "lost: %s, %llu ticks, %llu failures, circuit %s\n", n.state,
		(unsigned long long)n.ticks, (unsigned long long)n.failures, n.circuit);
	HD_CHECK(&H,
		 (!strcmp(n.state, "running") || !strcmp(n.state, "degraded")) && n.failures == 1 &&
		     !strcmp(n.circuit, "closed"),
		 "lost: %s, %llu failures, circuit %s", n.state, (unsigned long long)n.failures,
		 n.circuit);
	horus_sub_close(sub);
}
END_TEST

static Suite *hello_suite(void)
{
	Suite *s = suite_create("hello_node");
	TCase *tc = tcase_create("out_of_tree");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hello_publishes);
	tcase_add_test(tc, test_hello_failed_read);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hd_run_suite(hello_suite());
}
