/* SPDX-License-Identifier: MIT */
/*
 * One tick grid per rate (docs/daemon.md, "One grid per rate"), in a real horusd: a node's ticks
 * are due on the multiples of its period counted from one epoch, so nodes of one rate, and of
 * rates whose periods divide one another, are due at the same instants whenever each started.
 * Seen through each node's scheduled tick times (host->tick_time_ns), which testnode publishes:
 * they differ by whole periods between nodes, also for nodes added later by a reload, and each
 * node's own ticks are whole periods apart.
 */

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>

#include "harness.h"
#include "hd-topic.h"

#define MS 1000000ull
#define TIMES_MAX 256

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

/* A node's published tick times. */
struct times {
	struct hd_topic topic;
	size_t n;
	uint64_t v[TIMES_MAX];
};

/* Subscribes before the node exists, so that its first tick is seen too. */
static void times_open(struct times *t, const char *topic)
{
	t->n = 0;
	hd_topic_open(&H, &t->topic, topic);
}

static size_t times_poll(struct times *t)
{
	uint64_t v;

	while (hd_topic_read(&H, &t->topic, &v)) {
		if (t->n < TIMES_MAX) {
			t->v[t->n++] = v;
		}
	}
	HD_CHECK(&H, t->topic.lost == 0, "%" PRIu64 " tick times lost", t->topic.lost);
	return t->n;
}

/* Every time in t is `ref` plus a whole number of `period`s. */
static void on_grid(const struct times *t, const char *name, uint64_t ref, uint64_t period)
{
	for (size_t i = 0; i < t->n; i++) {
		uint64_t d = t->v[i] > ref ? t->v[i] - ref : ref - t->v[i];

		HD_CHECK(&H, d % period == 0,
			 "node %s tick %zu due at %" PRIu64 " ns: %" PRIu64 " ns off the grid of %"
			 PRIu64 " ms periods through %" PRIu64,
			 name, i, t->v[i], d % period, (uint64_t)(period / MS), ref);
	}
}

START_TEST(one_grid_per_rate)
{
	struct times *a = calloc(3, sizeof(*a)), *b = a + 1, *c = a + 2;

	HD_CHECK(&H, a != NULL, "out of memory");
	times_open(a, "grid.a");
	times_open(b, "grid.b");
	times_open(c, "grid.c");
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\ntick_time_topic = grid.a\n");
	hd_start(&H);
	HD_WAIT(&H, times_poll(a) >= 5, 10000, "a's first tick times");

	/* b (100 Hz) and c (50 Hz) start later, at no particular phase. */
	hd_config(&H, "[node.a]\nplugin = testnode\nrate_hz = 100\ntick_time_topic = grid.a\n"
		      "[node.b]\nplugin = testnode\nrate_hz = 100\ntick_time_topic = grid.b\n"
		      "[node.c]\nplugin = testnode\nrate_hz = 50\ntick_time_topic = grid.c\n");
	hd_signal(&H, SIGHUP);
	HD_WAIT(&H, times_poll(b) >= 20 && times_poll(c) >= 10, 10000,
		"b's and c's tick times (%zu, %zu)", b->n, c->n);
	times_poll(a);

	on_grid(a, "a", a->v[0], 10 * MS);
	on_grid(b, "b", a->v[0], 10 * MS); /* b's ticks are due with a's */
	on_grid(c, "c", a->v[0], 10 * MS); /* ... and so are c's, every other one */
	on_grid(c, "c", c->v[0], 20 * MS); /* c's own ticks are its 20 ms apart */
	for (int i = 0; i < 3; i++) {
		hd_topic_close(&a[i].topic);
	}
	free(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("it-grid");
	TCase *tc = tcase_create("grid");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, one_grid_per_rate);
	suite_add_tcase(s, tc);
	return hd_run_suite(s);
}
