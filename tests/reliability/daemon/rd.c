/* SPDX-License-Identifier: MIT */
/* Helpers of the daemon reliability suites. See rd.h. */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rd.h"

/* "1 node list" of 200 nodes is about 130 KB. */
#define RD_LIST_MAX (4u << 20)

unsigned rd_count(unsigned base, unsigned min)
{
	unsigned n = rel_count(base);

	return n < min ? min : n;
}

unsigned rd_count_unscaled_by_asan(unsigned base, unsigned min)
{
	const char *env = getenv("HORUS_RELIABILITY_SCALE");

	return env && *env ? rd_count(base, min) : base;
}

void rd_init(struct hd *h)
{
	hd_init(h);
	hd_plugin(h, "testnode", "testnode");
}

int rd_run_one(const char *name, void (*setup)(void), void (*teardown)(void), const TTest *test,
	       int timeout_s)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, timeout_s);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
	return hd_run_suite(s);
}

/* ---- node list snapshots ------------------------------------------------------------------ */

/*
 * "1 node list" with one large read buffer (hd_request reads a byte at a time, which for 200
 * nodes takes long enough to blur the moment of the snapshot). The moment is the middle of
 * sending the request and the first byte of the reply: the daemon built the list in between.
 */
static void list_request(struct hd *h, char *reply, size_t size, uint64_t *ret_t_us)
{
	size_t len = 0;
	uint64_t t0, t1 = 0;
	int fd = hd_connect(h);

	HD_CHECK(h, fd >= 0, "cannot connect to %s", h->sock);
	t0 = mono_us();
	HD_CHECK(h, write(fd, "1 node list\n", 12) == 12, "cannot send node list");
	for (;;) {
		ssize_t n = read(fd, reply + len, size - 1 - len); /* SO_RCVTIMEO: 5 s */

		HD_CHECK(h, n > 0, "node list: %s after %zu bytes", n < 0 ? strerror(errno) : "EOF",
			 len);
		if (!t1) {
			t1 = mono_us();
		}
		len += (size_t)n;
		if (reply[len - 1] == '\n') {
			break;
		}
		HD_CHECK(h, len < size - 1, "node list longer than %zu bytes", size);
	}
	close(fd);
	reply[len - 1] = '\0';
	*ret_t_us = (t0 + t1) / 2;
	HD_CHECK(h, json_valid(reply), "node list is not one JSON object: %.300s", reply);
}

void rd_snapshot(struct hd *h, struct rd_snapshot *ret)
{
	char *reply = malloc(RD_LIST_MAX);
	size_t cap = 0;

	HD_CHECK(h, reply != NULL, "out of memory");
	memset(ret, 0, sizeof(*ret));
	list_request(h, reply, RD_LIST_MAX, &ret->t_us);
	HD_CHECK(h, strstr(reply, "\"nodes\": [") != NULL, "bad node list: %.300s", reply);
	for (const char *p = strstr(reply, "{\"name\": \""); p;) {
		const char *s = p + 10, *e = strchr(s, '"'), *next, *r, *t;
		struct rd_node *nd;

		HD_CHECK(h, e != NULL, "unterminated name in node list");
		next = strstr(e, "{\"name\": \"");
		r = strstr(e, "\"rate_hz\": ");
		t = strstr(e, "\"ticks\": ");
		HD_CHECK(h, r && t && (!next || (r < next && t < next)),
			 "node entry without rate_hz/ticks: %.200s", p);
		if (ret->n == cap) {
			struct rd_node *nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(ret->nodes, cap * sizeof(*nn));
			HD_CHECK(h, nn != NULL, "out of memory");
			ret->nodes = nn;
		}
		nd = &ret->nodes[ret->n++];
		snprintf(nd->name, sizeof(nd->name), "%.*s", (int)(e - s), s);
		nd->rate_hz = strtod(r + 11, NULL);
		nd->ticks = strtoull(t + 9, NULL, 10);
		p = next;
	}
	free(reply);
}

void rd_snapshot_free(struct rd_snapshot *s)
{
	free(s->nodes);
	memset(s, 0, sizeof(*s));
}

const struct rd_node *rd_snapshot_find(const struct rd_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->nodes[i].name, name) == 0) {
			return &s->nodes[i];
		}
	}
	return NULL;
}

double rd_ratio(struct hd *h, const struct rd_snapshot *a, const struct rd_snapshot *b,
		const char *name, uint64_t *ret_ticks, double *ret_expected)
{
	const struct rd_node *x = rd_snapshot_find(a, name), *y = rd_snapshot_find(b, name);
	double expected;

	HD_CHECK(h, x && y, "node %s missing from a snapshot", name);
	HD_CHECK(h, y->ticks >= x->ticks, "node %s: ticks went back from %llu to %llu", name,
		 (unsigned long long)x->ticks, (unsigned long long)y->ticks);
	expected = y->rate_hz * (double)(b->t_us - a->t_us) / 1e6;
	if (ret_ticks) {
		*ret_ticks = y->ticks - x->ticks;
	}
	if (ret_expected) {
		*ret_expected = expected;
	}
	return (double)(y->ticks - x->ticks) / expected;
}

void rd_judge(struct hd *h, const char *what, double ratio, double reference, double bar)
{
	if (ratio < bar && reference < 0.999 && ratio >= reference - 0.03 && ratio <= 1.01) {
		fprintf(stderr,
			"NOTE: %s: %.4f of its ticks, below %.2f, but the machine is busy (the "
			"reference kept %.4f): judged against it, the cost is %.4f\n",
			what, ratio, bar, reference, reference - ratio);
		return;
	}
	HD_CHECK(h, ratio >= bar && ratio <= 1.01,
		 "%s kept %.4f of its ticks (bar %.2f); the reference kept %.4f", what, ratio, bar,
		 reference);
}

/* ---- the daemon's footprint --------------------------------------------------------------- */

long rd_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	return kib;
}

int rd_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d) {
		return -1;
	}
	while ((de = readdir(d))) {
		n += de->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* ---- children ----------------------------------------------------------------------------- */

pid_t rd_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		_exit(fn(arg));
	}
	return pid;
}
