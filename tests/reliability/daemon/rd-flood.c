/* SPDX-License-Identifier: MIT */
/*
 * 200 nodes ticking at 100 Hz (50 under ASan) in one horusd while FLOODERS client processes (at
 * the daemon's own priority) flood its control socket as fast as it answers, each cycling
 * through: a well-formed request (its reply must be that request's JSON), a malformed line (the
 * reply must be an error), an oversized line (an error or a closed connection), half a line then
 * silence (the connection is kept open, up to SILENT_PER_FLOODER at a time), and a connection
 * closed at once. Before the flood, a line with a NUL byte and one with a 256-byte node name
 * are refused with errors that say so. Meanwhile:
 *  - this process asks "1 status" every 50 ms: every request is answered (a fresh connection,
 *    well-formed), and the slowest answer is reported;
 *  - every node keeps >= 99% of its ticks over the flood (ticks counters of "1 node list").
 *    A reference daemon with the same nodes and no flood is measured over the same window:
 *    when the machine is so busy with other work that its nodes lose ticks too, the flooded
 *    ones may lose at most 3% more, reported as a NOTE (rd_judge(), it-hang's rule);
 *  - the daemon neither crashes nor restarts a node, and no flooder saw a reply that was not
 *    one JSON object with "schema": 1 or an error where a result was due.
 * The flooders together stay below the daemon's 128-client limit (FLOODERS * (1 +
 * SILENT_PER_FLOODER) + 1 < 128); holding all 128 slots silent for the 30 s idle timeout would
 * lock out other clients, which is that limit working as designed.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rd.h"

#define NODES 200
#define FLOODERS 4
#define SILENT_PER_FLOODER 16
#define FLOOD_MS 8000

struct flood_stats {
	_Atomic uint64_t requests, answered, errors_ok, closed, silent, quick, bad, connect_failed;
	unsigned nodes; /* n0 .. n<nodes - 1> */
	char bad_reply[256];
	_Atomic int stop;
};

static struct hd H;
static struct hd R; /* the reference: the same nodes, no flood */
static struct flood_stats *F;

static void setup(void)
{
	rd_init(&H);
	rd_init(&R);
	F = mmap(NULL, sizeof(*F), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(F != MAP_FAILED);
	memset(F, 0, sizeof(*F));
}

static void teardown(void)
{
	hd_cleanup(&R);
	hd_cleanup(&H);
	munmap(F, sizeof(*F));
}

static void note_bad(const char *what, const char *reply)
{
	if (atomic_fetch_add(&F->bad, 1) == 0) {
		snprintf(F->bad_reply, sizeof(F->bad_reply), "%s: %.200s", what, reply);
	}
}

/* Sends line (no newline added) on a fresh connection; the reply line, or "" if closed. */
static int ask(const char *line, size_t len, char *reply, size_t size)
{
	size_t off = 0;
	int fd = hd_connect(&H);

	if (fd < 0) {
		atomic_fetch_add(&F->connect_failed, 1);
		return -1;
	}
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			break; /* the daemon closed on an oversized line: a fine answer */
		}
		off += (size_t)n;
	}
	atomic_fetch_add(&F->requests, 1);
	if (hd_read_line(fd, reply, size, 5000) < 0) {
		reply[0] = '\0';
	}
	close(fd);
	return 0;
}

static bool is_reply(const char *reply)
{
	double schema;

	return json_valid(reply) && json_num_field(reply, "schema", &schema) && schema == 1;
}

static int flooder(void *arg)
{
	static const char *const malformed[] = {
	    "1 bogus\n",
	    "2 status\n",
	    "\n",
	    "1 node\n",
	    "1 node info a b c\n",
	    "\x01\x02\xff\xfe\n",
	    "1 node stop\n",
	    "status\n",
	    "1\tnode\tlist\textra\n",
	};
	int silent[SILENT_PER_FLOODER], n_silent = 0, self = (int)(intptr_t)arg;
	char *big = malloc(6000), reply[8192];

	if (!big) {
		return 1;
	}
	memset(big, 'x', 6000);
	memcpy(big, "1 node info ", 12);
	big[5999] = '\n';
	for (unsigned i = (unsigned)self; !atomic_load(&F->stop); i++) {
		switch (i % 6) {
		case 0: /* well-formed */
		case 5: {
			char req[64];

			snprintf(req, sizeof(req), i % 6 ? "1 node info n%u\n" : "1 status\n",
				 i % F->nodes);
			if (ask(req, strlen(req), reply, sizeof(reply)) < 0) {
				break;
			}
			if (!is_reply(reply) || strstr(reply, "\"error\"")) {
				note_bad(req, reply);
			} else {
				atomic_fetch_add(&F->answered, 1);
			}
			break;
		}
		case 1: { /* malformed */
			const char *m =
			    malformed[i / 6 % (sizeof(malformed) / sizeof(malformed[0]))];

			if (ask(m, strlen(m), reply, sizeof(reply)) < 0) {
				break;
			}
			if (!is_reply(reply) || !strstr(reply, "\"error\"")) {
				note_bad("a malformed line", reply);
			} else {
				atomic_fetch_add(&F->errors_ok, 1);
			}
			break;
		}
		case 2: /* oversized: an error, or the connection closed */
			if (ask(big, 6000, reply, sizeof(reply)) < 0) {
				break;
			}
			if (!reply[0]) {
				atomic_fetch_add(&F->closed, 1);
			} else if (!is_reply(reply) || !strstr(reply, "\"error\"")) {
				note_bad("an oversized line", reply);
			} else {
				atomic_fetch_add(&F->errors_ok, 1);
			}
			break;
		case 3: { /* half a line, then silence */
			int fd = hd_connect(&H);

			if (fd < 0) {
				atomic_fetch_add(&F->connect_failed, 1);
				break;
			}
			if (send(fd, "1 node li", 9, MSG_NOSIGNAL) != 9) {
				close(fd);
				break;
			}
			if (n_silent == SILENT_PER_FLOODER) {
				close(silent[i / 6 % SILENT_PER_FLOODER]);
				silent[i / 6 % SILENT_PER_FLOODER] = fd;
			} else {
				silent[n_silent++] = fd;
			}
			atomic_fetch_add(&F->silent, 1);
			break;
		}
		case 4: { /* connect and close at once */
			int fd = hd_connect(&H);

			if (fd < 0) {
				atomic_fetch_add(&F->connect_failed, 1);
			} else {
				close(fd);
				atomic_fetch_add(&F->quick, 1);
			}
			break;
		}
		}
	}
	for (int k = 0; k < n_silent; k++) {
		close(silent[k]);
	}
	free(big);
	return 0;
}

/* The lowest tick ratio of any node between two snapshots, and which node. */
static double worst_ratio(const struct rd_snapshot *x, const struct rd_snapshot *y,
			  const char **ret_name)
{
	double worst = 2;

	for (size_t i = 0; i < y->n; i++) {
		double r = rd_ratio(&H, x, y, y->nodes[i].name, NULL, NULL);

		if (r < worst) {
			worst = r;
			if (ret_name) {
				*ret_name = y->nodes[i].name;
			}
		}
	}
	return worst;
}

/*
 * Lines the parser must refuse although a prefix reads well: a NUL byte (a C-string parser would
 * answer "1 status"), and a node name past CONTROL_NAME_MAX (255 bytes).
 */
static void refused_lines(void)
{
	static const char nul[] = "1 status\0 and more\n";
	char reply[HD_REPLY_MAX], longname[320];

	HD_CHECK(&H, ask(nul, sizeof(nul) - 1, reply, sizeof(reply)) == 0, "connect");
	HD_CHECK(&H, is_reply(reply) && strstr(reply, "NUL byte"), "a NUL byte: %s", reply);
	memset(longname, 'n', sizeof(longname));
	memcpy(longname, "1 node info ", 12);
	longname[12 + 256] = '\n';
	HD_CHECK(&H, ask(longname, 12 + 257, reply, sizeof(reply)) == 0, "connect");
	HD_CHECK(&H, is_reply(reply) && strstr(reply, "longer than 255"), "a long name: %s", reply);
}

START_TEST(test_flood)
{
	unsigned nodes = rd_count(NODES, 20);
	size_t cap = (size_t)nodes * 96 + 64, len = 0;
	char *body = malloc(cap), reply[HD_REPLY_MAX];
	pid_t pids[FLOODERS];
	struct rd_snapshot a, b;
	uint64_t end, asked = 0, max_us = 0, sum_us = 0;
	double worst = 2, worst_ref = 2, secs;
	struct rd_snapshot ra, rb;
	const char *worst_name = "?";

	HD_CHECK(&H, body != NULL, "out of memory");
	F->nodes = nodes;
	/* watchdog_ms: 5 s, so that only a real hang trips it, not a machine busy elsewhere. */
	for (unsigned i = 0; i < nodes; i++) {
		len += (size_t)snprintf(body + len, cap - len,
					"[node.n%u]\nplugin = testnode\nrate_hz = 100\n"
					"watchdog_ms = 5000\n",
					i);
	}
	hd_config(&H, body);
	hd_config(&R, body);
	free(body);
	hd_start(&R);
	hd_start(&H);
	{
		char last[32];

		snprintf(last, sizeof(last), "n%u", nodes - 1);
		HD_WAIT(&H, hd_state_is(&H, last, "running") && hd_state_is(&H, "n0", "running"),
			20000, "all %u nodes running", nodes);
		HD_WAIT(&R, hd_state_is(&R, last, "running") && hd_state_is(&R, "n0", "running"),
			20000, "all %u reference nodes running", nodes);
	}

	refused_lines();
	rd_snapshot(&H, &a);
	rd_snapshot(&R, &ra);
	HD_CHECK(&H, a.n == nodes, "%zu nodes listed, want %u", a.n, nodes);
	for (int k = 0; k < FLOODERS; k++) {
		pids[k] = rd_spawn(flooder, (void *)(intptr_t)k);
		HD_CHECK(&H, pids[k] > 0, "fork: %s", strerror(errno));
	}
	end = mono_ms() + FLOOD_MS;
	while (mono_ms() < end) {
		uint64_t t0 = mono_us(), dt;

		HD_CHECK(&H, hd_request(&H, "1 status", reply, sizeof(reply)),
			 "'1 status' unanswered during the flood (request %llu)",
			 (unsigned long long)asked);
		HD_CHECK(&H, strstr(reply, "\"pid\"") != NULL, "status reply: %s", reply);
		dt = mono_us() - t0;
		max_us = dt > max_us ? dt : max_us;
		sum_us += dt;
		asked++;
		usleep(50000); /* the pace of this client's requests, not a synchronisation */
	}
	rd_snapshot(&H, &b);
	rd_snapshot(&R, &rb);
	atomic_store(&F->stop, 1);
	for (int k = 0; k < FLOODERS; k++) {
		HD_CHECK(&H, t_child_wait(pids[k], 10000) == 0, "flooder %d exited badly", k);
	}
	HD_CHECK(&H, hd_alive(&H) && hd_status_pid(&H) == H.pid, "the daemon survived the flood");

	worst = worst_ratio(&a, &b, &worst_name);
	worst_ref = worst_ratio(&ra, &rb, NULL);
	secs = (double)(b.t_us - a.t_us) / 1e6;
	fprintf(stderr,
		"flood: %llu requests (%llu answered, %llu errors as due, %llu closed on oversized "
		"lines), %llu silent half lines, %llu connects refused; bad: %llu %s\n",
		(unsigned long long)F->requests, (unsigned long long)F->answered,
		(unsigned long long)F->errors_ok, (unsigned long long)F->closed,
		(unsigned long long)F->silent, (unsigned long long)F->connect_failed,
		(unsigned long long)F->bad, F->bad_reply);
	HD_CHECK(&H, F->bad == 0, "%llu wrong replies to flooders, first: %s",
		 (unsigned long long)F->bad, F->bad_reply);
	HD_CHECK(&H, F->answered > 0 && F->errors_ok > 0, "the flood did not get through");
	fprintf(stderr, "worst node: %.4f (%s) during the flood; the reference daemon's: %.4f\n",
		worst, worst_name, worst_ref);
	rd_judge(&H, worst_name, worst, worst_ref, 0.99);
	for (unsigned i = 0; i < nodes; i += nodes / 4) {
		struct ni n;
		char name[32];

		snprintf(name, sizeof(name), "n%u", i);
		HD_CHECK(&H, hd_node(&H, name, &n) && n.restarts == 0, "%s restarted", name);
	}
	/* Every status request was answered: an unanswered one fails the test where it happens. */
	rel_figure(
	    "many nodes and a control-socket flood",
	    "%u nodes at 100 Hz, %d flooding clients for %.1f s (%llu requests: "
	    "well-formed, malformed, oversized; %llu silent half lines; %llu "
	    "connect-and-close): worst node kept %.2f%% of its ticks (a reference daemon, "
	    "no flood: %.2f%%); all %llu status requests answered, mean %.1f ms, max %.1f ms",
	    nodes, FLOODERS, secs, (unsigned long long)F->requests, (unsigned long long)F->silent,
	    (unsigned long long)F->quick, worst * 100, worst_ref * 100, (unsigned long long)asked,
	    (double)sum_us / (double)asked / 1000.0, (double)max_us / 1000.0);
	rd_snapshot_free(&ra);
	rd_snapshot_free(&rb);
	rd_snapshot_free(&a);
	rd_snapshot_free(&b);
}
END_TEST

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return rd_run_one("rd-flood", setup, teardown, test_flood, 180);
}
