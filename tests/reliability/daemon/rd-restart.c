/* SPDX-License-Identifier: MIT */
/*
 * SIGKILL horusd and start it again at once, 100 times, while a client process
 * holds a subscription to a topic that a node of the daemon publishes, and a publisher of its
 * own. After every restart, within bounds:
 *  - the daemon is up: its control socket answers (the dead one's socket file does not block
 *    the new one) and the publishing node is running;
 *  - the client's subscription, opened once before the first kill and never reopened, receives
 *    the new daemon's messages: the daemon's node re-attached to the segment the client holds
 *    (neither removed as stale by the new daemon nor blocked by the dead daemon's participant
 *    entry: 100 dead publishers are more than the 64 slots a segment has);
 *  - the client's own topic keeps flowing to a subscriber in this process;
 *  - /dev/shm holds exactly the namespace's two segments: nothing the dead daemons left grows it.
 * At the end the client saw no torn message (every one is the 8-byte tick count) and no error.
 */

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <horus/pubsub.h>

#include "rd.h"

#define NODE_TOPIC "rd.ticks"
#define CLIENT_TOPIC "rd.client"
#define RESTARTS 100
#define CAP_S 120 /* the loop's wall-clock cap: about 10 s on this machine */

/* Shared with the client process. */
struct client_state {
	char ns[40];
	_Atomic uint64_t received; /* messages read from NODE_TOPIC */
	_Atomic uint64_t torn;	   /* ... whose length was not 8 */
	_Atomic uint64_t published;
	_Atomic int error; /* the first -errno of a failed call */
	_Atomic int ready; /* subscribed and publishing */
	/*
	 * The test asks (drain_req) once the old daemon is dead; the client then reads what that
	 * daemon left in the ring, notes received in `base` and answers (drain_ack): every message
	 * past `base` comes from the next daemon.
	 */
	_Atomic unsigned drain_req, drain_ack;
	_Atomic uint64_t base;
	_Atomic int stop;
};

static struct hd H;
static struct client_state *C;

static void setup(void)
{
	rd_init(&H);
	C = mmap(NULL, sizeof(*C), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(C != MAP_FAILED);
	memset(C, 0, sizeof(*C));
	snprintf(C->ns, sizeof(C->ns), "%s", H.ns);
}

static void teardown(void)
{
	hd_cleanup(&H);
	munmap(C, sizeof(*C));
}

static void client_error(int r)
{
	int none = 0;

	atomic_compare_exchange_strong(&C->error, &none, r);
}

/* The client: reads every message of the node's topic and publishes a counter of its own. */
static int client(void *arg)
{
	struct horus_sub *sub;
	struct horus_pub *pub;
	uint64_t count = 0;
	int r;

	(void)arg;
	r = horus_sub_open(C->ns, NODE_TOPIC, NULL, 0, &sub);
	if (r < 0) {
		client_error(r);
		return 1;
	}
	r = horus_pub_open(C->ns, CLIENT_TOPIC, NULL, &pub);
	if (r < 0) {
		client_error(r);
		return 1;
	}
	atomic_store(&C->ready, 1);
	while (!atomic_load(&C->stop)) {
		unsigned req = atomic_load(&C->drain_req);
		uint64_t v;

		r = horus_sub_wait(sub, 5 * 1000 * 1000);
		if (r < 0 && r != -ETIMEDOUT && r != -EINTR) {
			client_error(r);
		}
		while ((r = horus_sub_read(sub, &v, sizeof(v), NULL)) != -EAGAIN) {
			if (r < 0) {
				client_error(r);
				break;
			}
			if (r != sizeof(v)) {
				atomic_fetch_add(&C->torn, 1);
			}
			atomic_fetch_add(&C->received, 1);
		}
		if (req != atomic_load(&C->drain_ack)) {
			atomic_store(&C->base, atomic_load(&C->received));
			atomic_store(&C->drain_ack, req);
		}
		count++;
		r = horus_pub_publish(pub, &count, sizeof(count));
		if (r < 0) {
			client_error(r);
		} else {
			atomic_fetch_add(&C->published, 1);
		}
	}
	horus_pub_close(pub);
	horus_sub_close(sub);
	return 0;
}

/* Reads what is there; the number of messages. Values must only grow. */
static unsigned drain(struct horus_sub *sub, uint64_t *last)
{
	unsigned n = 0;
	uint64_t v;
	int r;

	while ((r = horus_sub_read(sub, &v, sizeof(v), NULL)) > 0) {
		HD_CHECK(&H, r == sizeof(v) && v > *last,
			 "client message %d bytes, %llu after %llu", r, (unsigned long long)v,
			 (unsigned long long)*last);
		*last = v;
		n++;
	}
	HD_CHECK(&H, r == -EAGAIN, "reading the client's topic: %s", strerror(-r));
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

START_TEST(test_kill_restart)
{
	/* A start-up costs little more under ASan: 100 there too. */
	unsigned restarts = rd_count_unscaled_by_asan(RESTARTS, 10);
	uint64_t *up_ms = calloc(restarts, sizeof(*up_ms)), last = 0, t_begin;
	struct horus_sub *mine;
	int baseline, shm_max = 0;
	pid_t cpid;

	HD_CHECK(&H, up_ms != NULL, "out of memory");
	hd_config(&H, "[node.src]\nplugin = testnode\nrate_hz = 200\ntopic = " NODE_TOPIC "\n"
		      "[node.other]\nplugin = testnode\nrate_hz = 100\n");
	hd_start(&H);
	HD_WAIT(&H, hd_state_is(&H, "src", "running"), 10000, "src running");
	cpid = rd_spawn(client, NULL);
	HD_CHECK(&H, cpid > 0, "fork: %s", strerror(errno));
	HD_WAIT(&H, atomic_load(&C->ready) || atomic_load(&C->error), 10000, "client attached");
	HD_CHECK(&H, atomic_load(&C->error) == 0, "client: %s", strerror(-atomic_load(&C->error)));
	HD_CHECK(&H, horus_sub_open(H.ns, CLIENT_TOPIC, NULL, 0, &mine) == 0, "subscribe");
	HD_WAIT(&H, atomic_load(&C->received) > 10 && drain(mine, &last) > 0, 5000,
		"client receives and publishes");
	baseline = hd_shm_count(&H);
	HD_CHECK(&H, baseline == 2, "%d segments in the namespace, want 2", baseline);

	t_begin = mono_ms();
	for (unsigned i = 0; i < restarts; i++) {
		if (mono_ms() - t_begin > CAP_S * 1000u) {
			rel_loop_ended(i, restarts, CAP_S);
			restarts = i;
			break;
		}
		uint64_t t0;
		int status, shm;
		struct ni n;

		status = hd_stop(&H, SIGKILL, 5000);
		HD_CHECK(&H, status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "restart %u: horusd did not die of SIGKILL (status 0x%x)", i, status);
		/* Whatever the client reads past `base` was published by the next daemon. */
		atomic_store(&C->drain_req, i + 1);
		HD_WAIT(&H, atomic_load(&C->drain_ack) == i + 1, 5000, "restart %u: client drained",
			i);
		t0 = mono_ms();
		hd_start(&H);
		up_ms[i] = mono_ms() - t0;
		HD_WAIT(&H, atomic_load(&C->received) >= atomic_load(&C->base) + 3, 5000,
			"restart %u: the client's subscription gets the new daemon's ticks", i);
		/*
		 * Ticking: src's first tick after a start may overrun its deadline (it publishes
		 * for the first time), which shows as "degraded" for 2 s; both states tick.
		 */
		HD_CHECK(&H,
			 hd_node(&H, "src", &n) && n.ticks >= 3 &&
			     (!strcmp(n.state, "running") || !strcmp(n.state, "degraded")),
			 "restart %u: src %s after %llu ticks", i, n.state,
			 (unsigned long long)n.ticks);
		HD_WAIT(&H, drain(mine, &last) > 0, 5000, "restart %u: the client keeps publishing",
			i);
		shm = hd_shm_count(&H);
		shm_max = shm > shm_max ? shm : shm_max;
		HD_CHECK(&H, shm == baseline, "restart %u: %d segments in the namespace, want %d",
			 i, shm, baseline);
	}

	atomic_store(&C->stop, 1);
	HD_CHECK(&H, t_child_wait(cpid, 5000) == 0, "the client exited badly");
	HD_CHECK(&H, atomic_load(&C->error) == 0, "client: %s", strerror(-atomic_load(&C->error)));
	HD_CHECK(&H, atomic_load(&C->torn) == 0, "client: %llu torn messages",
		 (unsigned long long)atomic_load(&C->torn));
	HD_CHECK(&H, hd_ticks(&H, "other") > 0, "other ticks");
	qsort(up_ms, restarts, sizeof(*up_ms), cmp_u64);
	rel_figure("horusd SIGKILL and restart",
		   "%u/%u restarts came up (control socket answering), start-up p50 %llu ms, max "
		   "%llu ms; %u kills in %.1f s",
		   restarts, restarts, (unsigned long long)up_ms[restarts / 2],
		   (unsigned long long)up_ms[restarts - 1], restarts,
		   (double)(mono_ms() - t_begin) / 1000.0);
	rel_figure(
	    "horusd SIGKILL and restart, clients",
	    "a client's subscription held across all %u restarts got the new daemon's "
	    "messages every time (%llu received, 0 torn); its own publisher (%llu published) "
	    "never stopped",
	    restarts, (unsigned long long)atomic_load(&C->received),
	    (unsigned long long)atomic_load(&C->published));
	rel_figure("horusd SIGKILL and restart, /dev/shm",
		   "%d segments in the namespace before, at most %d after each of %u restarts",
		   baseline, shm_max, restarts);
	horus_sub_close(mine);
	free(up_ms);
}
END_TEST

int main(void)
{
	return rd_run_one("rd-restart", setup, teardown, test_kill_restart, 240);
}
