/* SPDX-License-Identifier: MIT */
/*
 * log_writer in a real horusd, fed by a separate publisher process through libhorus: every
 * message published is in the file, as a line, or accounted for as lost by the bus, across a
 * SIGTERM and across a SIGHUP reload that removes the node; and a subscriber that falls behind
 * writes "# lost" markers that add up with the lines to what was published.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shipped.h"

#define PER_TOPIC 1000

/*
 * A publisher process: n messages on each topic, text ("msg N") on the first and binary (the
 * uint64 N and a 0xff byte) on the second, pause_us apart. Exits 0 when all were published.
 */
static pid_t publish_start(struct sd *h, const char *t1, const char *t2, int n, int pause_us)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	SD_CHECK(h, pid >= 0, "fork");
	if (pid == 0) {
		struct horus_pub *a = NULL, *b = NULL;

		if (horus_pub_open(h->ns, t1, NULL, &a) < 0 ||
		    (t2 && horus_pub_open(h->ns, t2, NULL, &b) < 0)) {
			_exit(2);
		}
		for (int i = 0; i < n; i++) {
			char text[32];
			unsigned char bin[9];
			uint64_t v = (uint64_t)i;

			snprintf(text, sizeof(text), "msg %d", i);
			if (horus_pub_publish(a, text, strlen(text)) < 0) {
				_exit(3);
			}
			if (b) {
				memcpy(bin, &v, 8);
				bin[8] = 0xff;
				if (horus_pub_publish(b, bin, sizeof(bin)) < 0) {
					_exit(4);
				}
			}
			if (pause_us) {
				usleep(
				    (useconds_t)pause_us); /* pacing the publisher, not a barrier */
			}
		}
		horus_pub_close(a);
		horus_pub_close(b);
		_exit(0);
	}
	return pid;
}

static void publish_wait(struct sd *h, pid_t pid)
{
	int st = -1;

	SD_CHECK(h, waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "the publisher failed (status 0x%x)", st);
}

static void publish(struct sd *h, const char *t1, const char *t2, int n)
{
	publish_wait(h, publish_start(h, t1, t2, n, 0));
}

struct tally {
	uint64_t lines, lost, bad;
	uint64_t per_topic[2];
	unsigned char *seen[2]; /* seq -> seen count */
};

/*
 * Reads the log file: message lines "TIME TOPIC SEQ LEN PAYLOAD" and "# lost TOPIC N" markers.
 * Checks every payload against what the publisher sent for that sequence number.
 */
static void tally_data(struct sd *h, char *data, const char *t1, const char *t2, int n,
		       struct tally *t)
{
	char *line, *save = NULL;

	memset(t, 0, sizeof(*t));
	t->seen[0] = calloc((size_t)n, 1);
	t->seen[1] = calloc((size_t)n, 1);
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long seq, len, lost;
		char topic[128], want[64];
		const char *payload;
		double when;
		int k, at = -1;

		if (sscanf(line, "# lost %127s %llu", topic, &lost) == 2) {
			t->lost += lost;
			continue;
		}
		if (sscanf(line, "%lf %127s %llu %llu %n", &when, topic, &seq, &len, &at) != 4 ||
		    at < 0) {
			fprintf(stderr, "bad line: %s\n", line);
			t->bad++;
			continue;
		}
		payload = line + at;
		k = !strcmp(topic, t1) ? 0 : (t2 && !strcmp(topic, t2)) ? 1 : -1;
		if (k < 0 || seq >= (unsigned long long)n || when < 1e9) {
			fprintf(stderr, "bad line: %s\n", line);
			t->bad++;
			continue;
		}
		/* What the publisher sent as message number seq of that topic. */
		if (k == 0) {
			snprintf(want, sizeof(want), "\"msg %llu\"", seq);
		} else {
			snprintf(want, sizeof(want), "0x%016" PRIx64 "ff",
				 __builtin_bswap64((uint64_t)seq));
		}
		if (strcmp(payload, want) != 0 || len != (k == 0 ? strlen(want) - 2 : 9)) {
			fprintf(stderr, "bad payload: %s (want %s)\n", line, want);
			t->bad++;
		}
		t->seen[k][seq]++;
		t->per_topic[k]++;
		t->lines++;
	}
}

static void tally_file(struct sd *h, const char *path, const char *t1, const char *t2, int n,
		       struct tally *t)
{
	char *data = sd_read_file(path, NULL);

	SD_CHECK(h, data != NULL, "no file %s", path);
	tally_data(h, data, t1, t2, n, t);
	free(data);
}

static void tally_free(struct tally *t)
{
	free(t->seen[0]);
	free(t->seen[1]);
}

/* Every sequence number of both topics exactly once. */
static void check_all_once(struct sd *h, struct tally *t, int n, int topics)
{
	for (int k = 0; k < topics; k++) {
		for (int i = 0; i < n; i++) {
			SD_CHECK(h, t->seen[k][i] == 1, "topic %d seq %d is in the file %d times",
				 k, i, t->seen[k][i]);
		}
	}
}

static void setup_writer(struct sd *h, char *path, size_t size, const char *extra)
{
	sd_path(h, "out.log", path, size);
	sd_plugin(h, "log_writer");
	sd_config(h,
		  "[topic.lt/a]\ncapacity = 4096\nmax_msg = 64\n\n"
		  "[topic.lt/b]\ncapacity = 4096\nmax_msg = 64\n\n"
		  "[node.logw]\nplugin = log_writer\nrate_hz = 100\ntopics = lt/a, lt/b\n"
		  "path = %s\nbatch = 64\nflush_ms = 200\n%s",
		  path, extra ? extra : "");
	sd_start(h);
	/* Its subscriptions exist once it ticks; messages published from then on are its. */
	SD_WAIT(h, sd_node_ticks(h, "logw") > 0, 10000, "log_writer never ticked");
}

START_TEST(sigterm_loses_nothing)
{
	struct sd *h = &sd_h;
	char path[SD_PATH + 16];
	struct tally t;
	int st;

	setup_writer(h, path, sizeof(path), NULL);
	publish(h, "lt/a", "lt/b", PER_TOPIC);
	/* At once: much of it is still in the bus or in memory. */
	st = sd_stop(h, SIGTERM, 20000);
	SD_CHECK(h, st == 0, "horusd exit status 0x%x", st);
	tally_file(h, path, "lt/a", "lt/b", PER_TOPIC, &t);
	fprintf(stderr, "log_writer SIGTERM: %llu lines, %llu lost, %llu bad\n",
		(unsigned long long)t.lines, (unsigned long long)t.lost, (unsigned long long)t.bad);
	SD_CHECK(h, t.bad == 0, "%llu bad lines", (unsigned long long)t.bad);
	SD_CHECK(h, t.lines + t.lost == 2 * PER_TOPIC, "%llu lines + %llu lost != %d published",
		 (unsigned long long)t.lines, (unsigned long long)t.lost, 2 * PER_TOPIC);
	/* The topics hold 4096 messages: the bus had no reason to drop any. */
	SD_CHECK(h, t.lost == 0, "%llu lost", (unsigned long long)t.lost);
	check_all_once(h, &t, PER_TOPIC, 2);
	SD_CHECK(h, sd_log_count(h, "2000 messages received, 2000 written") == 1,
		 "no matching stop summary");
	tally_free(&t);
}
END_TEST

START_TEST(reload_removal_loses_nothing)
{
	struct sd *h = &sd_h;
	char path[SD_PATH + 16];
	struct sd_node n;
	struct tally t;
	uint64_t ticks;

	/* A big batch and a long interval: everything is still in memory at the reload. */
	setup_writer(h, path, sizeof(path),
		     "batch = 100000\nmax_buffered = 100000\nflush_ms = 60s\n");
	publish(h, "lt/a", "lt/b", PER_TOPIC);
	/* A few ticks later it holds them all in memory, so that the reload has to write them. */
	ticks = sd_node_ticks(h, "logw");
	SD_WAIT(h, sd_node_ticks(h, "logw") > ticks + 5, 10000, "log_writer stopped ticking");
	{
		size_t len = 0;
		char *data = sd_read_file(path, &len);

		SD_CHECK(h, data && len == 0, "the file has %zu bytes before the reload", len);
		free(data);
	}
	/* The reload removes it: no section, no plugin. */
	sd_unplug(h, "log_writer");
	sd_config(h, "[topic.lt/a]\ncapacity = 4096\nmax_msg = 64\n\n"
		     "[topic.lt/b]\ncapacity = 4096\nmax_msg = 64\n");
	sd_signal(h, SIGHUP);
	SD_WAIT(h, !sd_node_info(h, "logw", &n), 10000, "the node is still there after reload");
	tally_file(h, path, "lt/a", "lt/b", PER_TOPIC, &t);
	fprintf(stderr, "log_writer reload: %llu lines, %llu lost, %llu bad\n",
		(unsigned long long)t.lines, (unsigned long long)t.lost, (unsigned long long)t.bad);
	SD_CHECK(h, t.bad == 0, "%llu bad lines", (unsigned long long)t.bad);
	SD_CHECK(h, t.lines + t.lost == 2 * PER_TOPIC && t.lost == 0,
		 "%llu lines + %llu lost != %d published", (unsigned long long)t.lines,
		 (unsigned long long)t.lost, 2 * PER_TOPIC);
	check_all_once(h, &t, PER_TOPIC, 2);
	/* The daemon lives on. */
	SD_CHECK(h, sd_stop(h, SIGTERM, 10000) == 0, "horusd did not exit cleanly");
	tally_free(&t);
}
END_TEST

START_TEST(batches_and_lost_markers)
{
	struct sd *h = &sd_h;
	char path[SD_PATH + 16];
	struct tally t;
	size_t len = 0;
	char *data;

	/* A slow reader (5 Hz) on a 16-slot topic, and a burst of 500: most are lost. */
	sd_path(h, "slow.log", path, sizeof(path));
	sd_plugin(h, "log_writer");
	sd_config(h,
		  "[topic.lt/slow]\ncapacity = 16\nmax_msg = 64\n\n"
		  "[node.slow]\nplugin = log_writer\nrate_hz = 5\ntopics = lt/slow\npath = %s\n"
		  "batch = 4\nflush_ms = 50\n",
		  path);
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "slow") > 0, 10000, "never ticked");
	publish(h, "lt/slow", NULL, 500);
	/* Written by the worker in batches while running: wait for the file to settle. */
	SD_WAIT(h, (data = sd_read_file(path, &len)) && (free(data), len > 0), 10000,
		"nothing written");
	SD_CHECK(h, sd_stop(h, SIGTERM, 10000) == 0, "horusd did not exit cleanly");
	tally_file(h, path, "lt/slow", NULL, 500, &t);
	fprintf(stderr, "log_writer slow reader: %llu lines, %llu lost\n",
		(unsigned long long)t.lines, (unsigned long long)t.lost);
	SD_CHECK(h, t.bad == 0, "%llu bad lines", (unsigned long long)t.bad);
	SD_CHECK(h, t.lost > 0, "nothing lost: the test did not overrun the reader");
	SD_CHECK(h, t.lines + t.lost == 500, "%llu lines + %llu lost != 500",
		 (unsigned long long)t.lines, (unsigned long long)t.lost);
	for (int i = 0; i < 500; i++) {
		SD_CHECK(h, t.seen[0][i] <= 1, "seq %d twice", i);
	}
	tally_free(&t);
}
END_TEST

/* Reads a pipe until EOF into a buffer. */
struct drain {
	int fd;
	pthread_t tid;
	char *buf;
	size_t len, cap;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;

	for (;;) {
		ssize_t n;

		if (d->cap - d->len < 65536) {
			d->cap = d->cap ? 2 * d->cap : 1 << 20;
			d->buf = realloc(d->buf, d->cap);
			if (!d->buf) {
				return NULL;
			}
		}
		n = read(d->fd, d->buf + d->len, d->cap - d->len - 1);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break; /* EOF: the daemon closed its end */
		}
		d->len += (size_t)n;
	}
	d->buf[d->len] = '\0';
	return NULL;
}

START_TEST(slow_disk_bounded)
{
	struct sd *h = &sd_h;
	char path[SD_PATH + 16];
	struct horus_topic_info info;
	struct drain d = {0};
	uint64_t full_at;
	struct tally t;
	pid_t pub;

	/*
	 * The "disk" is a pipe of one page that the test does not read at first: a write job
	 * blocks on it. Meanwhile the node buffers up to max_buffered, then leaves messages in
	 * the bus, which drops the oldest: they must come out as "# lost" lines.
	 */
	sd_path(h, "fifo", path, sizeof(path));
	SD_CHECK(h, mkfifo(path, 0644) == 0, "mkfifo: %s", strerror(errno));
	d.fd =
	    open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* so the node's open does not block */
	SD_CHECK(h, d.fd >= 0, "open fifo: %s", strerror(errno));
	SD_CHECK(h, fcntl(d.fd, F_SETPIPE_SZ, 4096) >= 0, "F_SETPIPE_SZ: %s", strerror(errno));
	sd_plugin(h, "log_writer");
	sd_config(h,
		  "[topic.lt/f]\ncapacity = 64\nmax_msg = 64\n\n"
		  "[node.logw]\nplugin = log_writer\nrate_hz = 100\ntopics = lt/f\npath = %s\n"
		  "batch = 8\nflush_ms = 10\nmax_buffered = 32\nio_timeout_ms = 20s\n",
		  path);
	sd_start(h);
	SD_WAIT(h, sd_node_ticks(h, "logw") > 0, 10000, "log_writer never ticked");
	/* The node holds its write end now: reads may block, and EOF means it closed it. */
	SD_CHECK(h, fcntl(d.fd, F_SETFL, 0) == 0, "fcntl");

	pub = publish_start(h, "lt/f", NULL, 2000, 1000); /* about 1 kHz for 2 s */
	SD_WAIT(h, sd_log_count(h, "buffer full") > 0, 20000, "the bound was never hit");
	/* The node reads no more; once the ring (64) has gone round past it, some are lost. */
	SD_CHECK(h, horus_topic_info(h->ns, "lt/f", HORUS_KIND_HUB, &info) == 0, "topic info");
	full_at = info.messages;
	SD_WAIT(h,
		horus_topic_info(h->ns, "lt/f", HORUS_KIND_HUB, &info) == 0 &&
		    info.messages > full_at + 64 + 8,
		20000, "the publisher stopped at %llu messages", (unsigned long long)info.messages);
	/* The disk comes back. */
	SD_CHECK(h, pthread_create(&d.tid, NULL, drain_main, &d) == 0, "pthread_create");
	publish_wait(h, pub);
	SD_CHECK(h, sd_stop(h, SIGTERM, 20000) == 0, "horusd did not exit cleanly");
	pthread_join(d.tid, NULL);
	close(d.fd);
	SD_CHECK(h, d.buf != NULL, "out of memory");
	tally_data(h, d.buf, "lt/f", NULL, 2000, &t);
	fprintf(stderr, "log_writer slow disk: %llu lines, %llu lost\n",
		(unsigned long long)t.lines, (unsigned long long)t.lost);
	SD_CHECK(h, t.bad == 0, "%llu bad lines", (unsigned long long)t.bad);
	SD_CHECK(h, t.lost > 0, "nothing lost although the writer was stuck");
	SD_CHECK(h, t.lines + t.lost == 2000, "%llu lines + %llu lost != 2000",
		 (unsigned long long)t.lines, (unsigned long long)t.lost);
	for (int i = 0; i < 2000; i++) {
		SD_CHECK(h, t.seen[0][i] <= 1, "seq %d twice", i);
	}
	free(d.buf);
	tally_free(&t);
}
END_TEST

START_TEST(bad_params)
{
	struct sd *h = &sd_h;

	sd_plugin(h, "log_writer");
	sd_config(h, "[node.l1]\nplugin = log_writer\npath = /tmp/x.log\n\n"
		     "[node.l2]\nplugin = log_writer\ntopics = a\n\n"
		     "[node.l3]\nplugin = log_writer\ntopics = a, b//c\npath = /tmp/x.log\n\n"
		     "[node.l4]\nplugin = log_writer\ntopics = a\npath = /nonexistent/dir/x.log\n\n"
		     "[node.l5]\nplugin = log_writer\ntopics = a\npath = /tmp/x\nbatch = 0\n");
	sd_start(h);
	SD_WAIT(h, sd_node_state_is(h, "l5", "failed"), 10000, "l5 did not fail");
	for (int i = 1; i <= 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "l%d", i);
		SD_CHECK(h, sd_node_state_is(h, name, "failed"), "node %s is not failed", name);
	}
	SD_CHECK(h, sd_log_count(h, "parameter 'topics' is required") >= 1, "topics");
	SD_CHECK(h, sd_log_count(h, "parameter 'path' is required") == 1, "path");
	SD_CHECK(h, sd_log_count(h, "parameter 'topics': 'b//c' is not a valid topic") == 1,
		 "b//c");
	SD_CHECK(h, sd_log_count(h, "Failed to open '/nonexistent/dir/x.log'") == 1, "open");
	SD_CHECK(h, sd_log_count(h, "parameter 'batch': 0 is out of range") == 1, "batch");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log_writer");
	TCase *tc = sd_tcase("nothing-lost");

	tcase_add_test(tc, sigterm_loses_nothing);
	tcase_add_test(tc, reload_removal_loses_nothing);
	tcase_add_test(tc, batches_and_lost_markers);
	tcase_add_test(tc, slow_disk_bounded);
	suite_add_tcase(s, tc);
	tc = sd_tcase("params");
	tcase_add_test(tc, bad_params);
	suite_add_tcase(s, tc);
	return sd_run(s);
}
