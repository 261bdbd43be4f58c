/* SPDX-License-Identifier: MIT */
/*
 * A configurable node for the daemon's tests. Parameters (all optional, from its INI section):
 *   init_fail = ERRNO        init returns -ERRNO
 *   fail_first = N           the first N ticks return -EIO
 *   fail_from = N            every tick from the N-th on returns -EIO (1-based)
 *   fail_until = N           ... up to and including the N-th
 *   sleep_us = US            every tick sleeps this long (overruns a short deadline)
 *   hang_at = N              the N-th tick never returns (pause() forever)
 *   hang_init = 1            init never returns
 *   topic = NAME             each tick publishes its tick count (uint64) on this hub topic
 *   record = PATH            appends "init NAME", "fini NAME TICKS" lines to PATH
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <horus/node.h>
#include <horus/pubsub.h>

struct testnode {
	const struct horus_host *host;
	struct horus_pub *pub;
	uint64_t ticks;
	long fail_first, fail_from, fail_until, sleep_us, hang_at;
	const char *record;
};

static long param_long(const struct horus_host *host, const char *key, long def)
{
	const char *v = host->param(host, key);

	return v ? strtol(v, NULL, 10) : def;
}

static void record(const struct testnode *t, const char *what)
{
	char line[256];
	int fd, n;

	if (!t->record) {
		return;
	}
	n = snprintf(line, sizeof(line), "%s %s %llu\n", what, t->host->node_name,
		     (unsigned long long)t->ticks);
	fd = open(t->record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)!write(fd, line, (size_t)n);
		close(fd);
	}
}

static int testnode_init(const struct horus_host *host, void **ret_ctx)
{
	struct testnode *t;
	const char *topic = host->param(host, "topic");
	long init_fail = param_long(host, "init_fail", 0);
	int r;

	if (param_long(host, "hang_init", 0)) {
		for (;;) {
			pause();
		}
	}
	if (init_fail) {
		return -(int)init_fail;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		return -ENOMEM;
	}
	t->host = host;
	t->fail_first = param_long(host, "fail_first", 0);
	t->fail_from = param_long(host, "fail_from", 0);
	t->fail_until = param_long(host, "fail_until", 0);
	t->sleep_us = param_long(host, "sleep_us", 0);
	t->hang_at = param_long(host, "hang_at", 0);
	t->record = host->param(host, "record");
	if (topic) {
		r = host->pub_open(host, topic, sizeof(uint64_t), &t->pub);
		if (r < 0) {
			free(t);
			return r;
		}
	}
	record(t, "init");
	*ret_ctx = t;
	return 0;
}

static int testnode_tick(void *ctx)
{
	struct testnode *t = ctx;
	long k = (long)++t->ticks;

	if (t->pub) {
		horus_pub_publish(t->pub, &t->ticks, sizeof(t->ticks));
	}
	if (t->hang_at && k == t->hang_at) {
		for (;;) {
			pause();
		}
	}
	if (t->sleep_us) {
		usleep((useconds_t)t->sleep_us);
	}
	if (k <= t->fail_first) {
		return -EIO;
	}
	if (t->fail_from && k >= t->fail_from && (!t->fail_until || k <= t->fail_until)) {
		return -EIO;
	}
	return 0;
}

static void testnode_fini(void *ctx)
{
	struct testnode *t = ctx;

	record(t, "fini");
	free(t);
}

HORUS_NODE_DEFINE(.name = "testnode", .default_rate_hz = 100.0, .init = testnode_init,
		  .tick = testnode_tick, .fini = testnode_fini);
